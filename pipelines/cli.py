"""The ``savedesk`` command: a thin shell over the packages.

Every command takes ``--data DIR``, the workspace. Commands parse arguments,
call one package function and print its result; logic lives in the packages.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from pipelines.settings import Settings, load_settings

app = typer.Typer(
    name="savedesk",
    help="Churn prediction and save strategy for a waste hauler's retention desk.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
errors = Console(stderr=True)

DataOption = Annotated[
    Path | None,
    typer.Option("--data", help="Workspace folder (raw tables in DIR/raw). Default: SAVEDESK_DATA or data/demo."),
]


def _settings(data: Path | None) -> Settings:
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
    from sources.validation import validate_workspace

    settings = _settings(data)
    report = validate_workspace(settings, extract_end=_parse_date(extract_end, "--extract-end"))
    if as_json:
        console.print_json(json.dumps(report.to_dict()))
    else:
        report.render(console)
    if report.fatal:
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
