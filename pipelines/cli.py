"""The ``savedesk`` command: a thin shell over the packages.

Every command takes ``--data DIR``, the workspace. Commands parse arguments,
call one package function and print its result; logic lives in the packages.
"""

from __future__ import annotations

import json
import logging
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import Progress

from pipelines.display import (
    render_figures,
    render_nightly,
    render_policy_values,
    render_save_training,
    render_training,
)
from pipelines.monitor_cli import register as register_monitor
from pipelines.serve_cli import register as register_serve
from pipelines.settings import Settings, load_settings
from pipelines.tabular_cli import tabular_app
from pipelines.users_cli import register as register_users
from pipelines.workspace import Workspace, WorkspaceError, open_workspace

app = typer.Typer(
    name="savedesk",
    help="Churn prediction and save strategy for a waste hauler's retention desk.",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(tabular_app, name="tabular", help="One-row-per-customer extracts mapped into the contract.")
console = Console()
errors = Console(stderr=True, soft_wrap=True)

DataOption = Annotated[
    Path | None,
    typer.Option("--data", help="Workspace folder (raw tables in DIR/raw). Default: SAVEDESK_DATA or data/demo."),
]


def _settings(data: Path | None) -> Settings:
    logging.getLogger("mlflow").setLevel(logging.WARNING)  # its INFO lines drown the command's own output
    return load_settings(data)


def _parse_date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors.print(f"[red]{option} expects a date as YYYY-MM-DD, got {value!r}.[/red]")
        raise typer.Exit(2) from None


@app.command()
def simulate(
    accounts: Annotated[int, typer.Option(help="Number of accounts.", min=1)] = 5_000,
    months: Annotated[int, typer.Option(help="Months of history to simulate.", min=1)] = 24,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same bytes.")] = 7,
    end: Annotated[
        str | None, typer.Option(help="Last day of the extract (YYYY-MM-DD). Default: a fixed date.")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Workspace to write into. Default: --data.")] = None,
    data: DataOption = None,
) -> None:
    """Simulate a hauler with known ground truth into OUT/raw and OUT/truth."""
    from pipelines.display import render_simulation_summary
    from sources.simulator import SimulationConfig, simulate_hauler, write_hauler

    settings = _settings(out or data)
    config = SimulationConfig(accounts=accounts, months=months, seed=seed)
    end_date = _parse_date(end, "--end")
    if end_date is not None:
        config = config.with_end(end_date)
    with console.status(f"Simulating {accounts:,} accounts over {months} months…"):
        hauler = simulate_hauler(config)
    with console.status(f"Writing tables to {settings.data}…"):
        summary = write_hauler(hauler, settings.data)
    render_simulation_summary(summary, console)


@app.command()
def validate(
    data: DataOption = None,
    extract_end: Annotated[
        str | None,
        typer.Option(help="Last day of the extract, when DIR/raw/extract.json does not say."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Check every raw table against the contract; quarantine bad rows in DIR/rejects."""
    from sources.folders import WorkspaceFolders
    from sources.validation import validate_workspace

    settings = _settings(data)
    folders = WorkspaceFolders(raw=settings.raw_dir, clean=settings.clean_dir, rejects=settings.rejects_dir)
    report = validate_workspace(folders, extract_end=_parse_date(extract_end, "--extract-end"))
    if as_json:
        console.print_json(json.dumps(report.to_dict()))
    else:
        report.render(console)
    if report.fatal:
        raise typer.Exit(1)


def _workspace(settings: Settings) -> Workspace:
    try:
        with errors.status(f"Checking {settings.raw_dir}…"):
            return open_workspace(settings)
    except WorkspaceError as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None


@app.command()
def features(
    as_of: Annotated[str, typer.Option("--as-of", help="Day the features describe (YYYY-MM-DD).")],
    out: Annotated[Path, typer.Option("--out", help="Parquet file to write.")],
    data: DataOption = None,
    shards: Annotated[int, typer.Option(help="Build in this many account shards (bounded memory).", min=1)] = 1,
) -> None:
    """Build features as of a date: one row per account in service, written as Parquet."""
    from features.build import build_features
    from pipelines.snapshots import write_parquet_atomically

    settings = _settings(data)
    day = _parse_date(as_of, "--as-of")
    assert day is not None  # noqa: S101 - required option
    workspace = _workspace(settings)
    try:
        workspace.check_as_of(day)
    except WorkspaceError as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    with console.status(f"Building features as of {day}…"):
        frame = build_features(workspace.tables, day, shards=shards)
    write_parquet_atomically(frame, out)
    console.print(f"{frame.height:,} accounts × {frame.width - 1} features as of {day} → {out}")


@app.command()
def snapshots(
    start: Annotated[str, typer.Option(help="First as-of date (YYYY-MM-DD); month ends from here.")],
    end: Annotated[str, typer.Option(help="Last as-of date (YYYY-MM-DD).")],
    out: Annotated[Path, typer.Option("--out", help="Folder for as_of=YYYY-MM-DD/ partitions.")],
    data: DataOption = None,
    horizon_days: Annotated[int, typer.Option(help="Churn label window, in days.")] = 90,
    lead_days: Annotated[int, typer.Option(help="Days between the as-of date and the window.")] = 0,
) -> None:
    """Write monthly training snapshots (features + churn label), partitioned by as-of date."""
    from features.labels import LabelSpec
    from pipelines.snapshots import snapshot_dates, write_snapshots

    settings = _settings(data)
    first, last = _parse_date(start, "--start"), _parse_date(end, "--end")
    assert first is not None and last is not None  # noqa: S101 - required options
    spec = LabelSpec(horizon_days=horizon_days, lead_days=lead_days)
    workspace = _workspace(settings)
    try:
        dates = snapshot_dates(workspace, first, last, spec)
    except WorkspaceError as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    with Progress(console=console) as progress:
        task = progress.add_task("Snapshots", total=len(dates))
        rows = write_snapshots(workspace, dates, out, spec, progress=lambda _: progress.advance(task))
    console.print(f"{len(rows)} snapshots, {sum(rows.values()):,} rows → {out}")


@app.command()
def train(
    data: DataOption = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Test month's as-of date. Default: the latest with a full label.")
    ] = None,
    unless_champion: Annotated[
        bool, typer.Option("--unless-champion", help="Do nothing when both models already have a champion.")
    ] = False,
) -> None:
    """Train the churn and the save models, register each as challenger and run their promotion gates."""
    from models.names import CHURN_MODEL, SAVE_MODEL
    from pipelines.save_training import (
        fit_save_model,
        load_requests,
        record_and_gate_save,
        request_split,
    )
    from pipelines.training import fit_and_evaluate, load_snapshots, record_and_gate, time_split

    settings = _settings(data)
    if unless_champion:
        from pipelines.services import open_tracker

        tracker = open_tracker(settings)
        held = [tracker.champion_version(n) for n in (CHURN_MODEL, SAVE_MODEL)]
        if all(held):
            console.print("Both models have a champion already: " + ", ".join(v.label for v in held if v))
            return
    workspace = _workspace(settings)
    fed = workspace.outcomes
    if fed.attempts or fed.resolutions or fed.skipped:
        skipped = ", ".join(f"{n} {why}" for why, n in sorted(fed.skipped.items())) or "none"
        console.print(
            f"Outcomes recorded at the desk: {fed.attempts} save attempts and {fed.resolutions} resolutions joined"
            f" the training data; skipped: {skipped}"
        )
    try:
        split = time_split(settings, workspace, _parse_date(as_of, "--as-of"))
        requests = request_split(settings, workspace)
    except WorkspaceError as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    with console.status(f"Building {len(split.all_dates)} monthly snapshots…"):
        frames = load_snapshots(settings, workspace, split)
    with console.status("Training the churn model…"):
        training = fit_and_evaluate(settings, split, frames)
    with console.status("Recording the run and applying the gate…"):
        outcome = record_and_gate(settings, training)
    render_training(training, outcome, console)
    with console.status("Building the cancellation requests with what each was decided on…"):
        decisions = load_requests(settings, workspace, requests)
    with console.status("Training the save model and judging the policy…"):
        save = fit_save_model(settings, decisions, requests)
    with console.status("Recording the save model's run and applying its gate…"):
        save_outcome = record_and_gate_save(settings, save)
    render_save_training(save, save_outcome, console)


@app.command()
def evaluate(
    data: DataOption = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Test month's as-of date. Default: the latest with a full label.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    alias: Annotated[
        str, typer.Option(help="Registry alias of the model to judge: champion or challenger.")
    ] = "champion",
) -> None:
    """Judge the registered models: churn on a test month, save and policy on the latest labelled requests.

    On simulated data the figures include the oracle's (churn ranking, policy value) from the truth.
    """
    from pipelines.save_training import evaluate_save_model
    from pipelines.training import evaluate_champion

    settings = _settings(data)
    workspace = _workspace(settings)
    try:
        with errors.status(f"Evaluating the {alias}…"):
            figures = evaluate_champion(settings, workspace, _parse_date(as_of, "--as-of"), alias=alias)
    except WorkspaceError as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    try:
        with errors.status(f"Evaluating the save model's {alias} and the policy…"):
            figures |= evaluate_save_model(settings, workspace, alias=alias)
    except WorkspaceError as error:  # a save model that never passed its gate has no champion yet
        errors.print(f"[yellow]{error} The save and policy figures are left out.[/yellow]")
    if as_json:
        print(json.dumps(figures, indent=2, sort_keys=True))  # noqa: T201 - the JSON is the output
    else:
        render_figures(figures, console)
        render_policy_values(figures, console)


@app.command()
def nightly(
    data: DataOption = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Business date's as-of. Default: the last day of the data.")
    ] = None,
) -> None:
    """Run the nightly flow: score, plan, talking points, call lists, publish (under Prefect)."""
    import os

    from pipelines.settings import prefect_environment

    settings = _settings(data)
    _parse_date(as_of, "--as-of")
    os.environ.update({k: v for k, v in prefect_environment(settings).items() if k not in os.environ})
    settings.prefect_home.mkdir(parents=True, exist_ok=True)
    from pipelines.flows import configured
    from pipelines.flows import nightly as nightly_flow

    try:
        summary = configured(nightly_flow, settings)(str(settings.data), as_of)
    except (WorkspaceError, LookupError) as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    render_nightly(summary, settings, console)


@app.command()
def deploy(
    data: DataOption = None,
    serve: Annotated[
        bool, typer.Option("--serve/--register-only", help="Keep running and execute the scheduled runs.")
    ] = True,
) -> None:
    """Register the nightly, weekly training and intraday deployments (cron, in the desk's time zone).

    Needs a running Prefect server (``prefect server start``) and its API URL in
    ``PREFECT_API_URL``, ``SAVEDESK_PREFECT__API_URL`` or Prefect's profile. With
    ``--serve`` (the default) this process stays up and runs each deployment on its schedule.
    """
    import os

    from pipelines.settings import prefect_environment

    settings = _settings(data)
    os.environ.update({k: v for k, v in prefect_environment(settings).items() if k not in os.environ})
    from pipelines.prefect_server import api_url, server_answers

    url = api_url()
    if not url:
        errors.print(
            "[red]No Prefect server to register with: start one (PREFECT_HOME=... prefect server start) and set "
            "PREFECT_API_URL=http://127.0.0.1:4200/api (or SAVEDESK_PREFECT__API_URL).[/red]"
        )
        raise typer.Exit(2)
    if not server_answers(url):
        errors.print(f"[red]No Prefect server answers at {url}: is `prefect server start` running there?[/red]")
        raise typer.Exit(2)
    from prefect import serve as prefect_serve

    from pipelines.flows import deployments

    planned = deployments(settings)
    if serve:
        console.print(f"Serving {len(planned)} deployments against {url} (Ctrl-C to stop)")
        prefect_serve(*planned)
        return
    for deployment in planned:
        deployment.apply()
        schedule = deployment.schedules[0].schedule
        console.print(f"Registered {deployment.flow_name}/{deployment.name}: {schedule.cron} ({schedule.timezone})")


for _register in (register_serve, register_users, register_monitor):
    _register(app)


if __name__ == "__main__":
    app()
