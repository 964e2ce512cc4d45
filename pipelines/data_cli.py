"""The data commands of ``savedesk``: simulate, validate, features and snapshots, registered by ``register``."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from pipelines.cli_options import DataOption, checked_workspace, command_settings, console, errors, parse_date


def simulate(
    accounts: Annotated[int, typer.Option(help="Number of accounts.", min=1)] = 5_000,
    months: Annotated[int, typer.Option(help="Months of history to simulate.", min=1)] = 24,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same bytes.")] = 7,
    end: Annotated[
        str | None, typer.Option(help="Last day of the extract (YYYY-MM-DD). Default: a fixed date.")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Workspace to write into. Default: --data.")] = None,
    silent_leavers: Annotated[
        float,
        typer.Option(
            help="Monthly chance that an account with nothing wrong leaves without calling (its invoices stop;"
            " truth/silent_leavers.parquet says when). Default 0: nobody does.",
            min=0.0,
            max=0.5,
        ),
    ] = 0.0,
    batch_accounts: Annotated[
        int,
        typer.Option(
            help="The most accounts simulated at once (about 8.5 GB of memory per million); a larger book is"
            " simulated in independent batches of accounts and written as one.",
            min=1,
        ),
    ] = 1_000_000,
    data: DataOption = None,
) -> None:
    """Simulate a hauler with known ground truth into OUT/raw and OUT/truth."""
    from pipelines.display import render_simulation_summary
    from sources.simulator import SimulationConfig, simulate_hauler, write_hauler
    from sources.simulator.batches import batch_sizes, simulate_in_batches

    settings = command_settings(out or data)
    silent = math.log(silent_leavers / (1 - silent_leavers)) if silent_leavers > 0 else None
    config = SimulationConfig(accounts=accounts, months=months, seed=seed, silent_leave_logit=silent)
    end_date = parse_date(end, "--end")
    if end_date is not None:
        config = config.with_end(end_date)
    if len(batch_sizes(accounts, batch_accounts)) > 1:
        with console.status(f"Simulating {accounts:,} accounts over {months} months in batches…") as status:

            def progress(batch: int, batches: int) -> None:
                status.update(f"Simulating {accounts:,} accounts over {months} months: batch {batch + 1} of {batches}…")

            summary = simulate_in_batches(config, settings.data, batch_accounts, progress)
    else:
        with console.status(f"Simulating {accounts:,} accounts over {months} months…"):
            hauler = simulate_hauler(config)
        with console.status(f"Writing tables to {settings.data}…"):
            summary = write_hauler(hauler, settings.data)
    render_simulation_summary(summary, console)


def validate(
    data: DataOption = None,
    extract_end: Annotated[
        str | None,
        typer.Option(help="Last day of the extract, when DIR/raw/extract.json does not say."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    mapping: Annotated[
        Path | None,
        typer.Option("--mapping", help="The extract's mapping (YAML). Default: DIR/raw/mapping.yaml, if any."),
    ] = None,
) -> None:
    """Check every raw table against the contract; quarantine bad rows in DIR/rejects.

    With ``validation_run.shards`` > 1 the clean tables are written one file per account shard
    (DIR/clean/<table>/<shard>.parquet), the shards checked on threads or Dask workers (``validation_run``).
    """
    from pipelines.workspace import validate_with_settings
    from sources.event_mapping_file import find_event_mapping
    from sources.extract_mapping import MappingError

    settings = command_settings(data)
    try:
        event_mapping = find_event_mapping(settings.raw_dir, mapping)
    except MappingError as error:
        errors.print(str(error), style="red", markup=False, highlight=False)
        raise typer.Exit(2) from None
    report = validate_with_settings(
        settings, extract_end=parse_date(extract_end, "--extract-end"), mapping=event_mapping
    )
    if as_json:
        from pipelines.display import print_json

        print_json(report.to_dict())
    else:
        report.render(console)
    if report.fatal:
        raise typer.Exit(1)


def features(
    as_of: Annotated[str, typer.Option("--as-of", help="Day the features describe (YYYY-MM-DD).")],
    out: Annotated[Path, typer.Option("--out", help="Parquet file to write.")],
    data: DataOption = None,
    shards: Annotated[
        int,
        typer.Option(
            help="Build in this many account shards, on nightly.task_runner (threads, or the Dask cluster), and"
            " stream them into --out shard after shard: this process holds one shard, not the book.",
            min=1,
        ),
    ] = 1,
) -> None:
    """Build features as of a date: one row per account in service, written as Parquet."""
    from features.build import build_features
    from pipelines.book import BookSource, write_features
    from pipelines.snapshots import write_parquet_atomically
    from pipelines.workspace import WorkspaceError, shard_executor

    settings = command_settings(data)
    day = parse_date(as_of, "--as-of")
    assert day is not None  # noqa: S101 - required option
    workspace = checked_workspace(settings)
    try:
        workspace.check_as_of(day)
    except WorkspaceError as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    if shards > 1:
        desk = settings.nightly
        source = BookSource.of(workspace, settings.clean_dir)
        with (
            console.status(f"Building features as of {day} in {shards} shards…"),
            shard_executor(settings, desk.task_runner, desk.threads) as executor,
        ):
            rows = write_features(source, day, shards, out, executor)
        console.print(f"{rows:,} accounts as of {day}, {shards} shards → {out}")
        return
    with console.status(f"Building features as of {day}…"):
        frame = build_features(workspace.tables, day)
    write_parquet_atomically(frame, out)
    console.print(f"{frame.height:,} accounts × {frame.width - 1} features as of {day} → {out}")


def snapshots(
    start: Annotated[str, typer.Option(help="First as-of date (YYYY-MM-DD); month ends from here.")],
    end: Annotated[str, typer.Option(help="Last as-of date (YYYY-MM-DD).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for as_of=YYYY-MM-DD/ partitions.")],
    data: DataOption = None,
    horizon_days: Annotated[int, typer.Option(help="Churn label window, in days.")] = 90,
    lead_days: Annotated[int, typer.Option(help="Days between the as-of date and the window.")] = 0,
) -> None:
    """Write monthly training snapshots (features + churn label), partitioned by as-of date."""
    from rich.progress import Progress

    from features.labels import LabelSpec
    from pipelines.book import BookSource
    from pipelines.snapshots import snapshot_dates, write_snapshots
    from pipelines.workspace import WorkspaceError

    settings = command_settings(data)
    first, last = parse_date(start, "--start"), parse_date(end, "--end")
    assert first is not None and last is not None  # noqa: S101 - required options
    churn = settings.churn  # what churn means follows the settings (churn.definition)
    spec = LabelSpec(horizon_days=horizon_days, lead_days=lead_days, definition=churn.definition,
                     no_billing_days=churn.no_billing_days)  # fmt: skip
    workspace = checked_workspace(settings)
    try:
        dates = snapshot_dates(workspace, first, last, spec)
    except WorkspaceError as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    with Progress(console=console) as progress:
        task = progress.add_task("Snapshots", total=len(dates))
        source = BookSource.of(workspace, settings.clean_dir)  # one file per account shard (nightly.shards)
        rows = write_snapshots(workspace, dates, out, spec, lambda _: progress.advance(task), settings.nightly.shards,
                               source)  # fmt: skip
    console.print(f"{len(rows)} snapshots, {sum(rows.values()):,} rows → {out}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    for command in (simulate, validate, features, snapshots):
        app.command()(command)
