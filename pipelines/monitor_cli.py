"""The ``savedesk monitor`` command, registered on the main command by ``register``."""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

console = Console(soft_wrap=True)  # paths and warning sentences stay whole, to copy
errors = Console(stderr=True, soft_wrap=True)


def monitor(
    data: Annotated[
        Path | None,
        typer.Option("--data", help="Workspace folder (raw tables in DIR/raw). Default: SAVEDESK_DATA or data/demo."),
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Day the report describes (YYYY-MM-DD). Default: the last day.")
    ] = None,
) -> None:
    """Write the monitoring report (drift, realized performance, desk outcomes) and log its figures to MLflow.

    The page goes to DIR/reports/monitor-<as_of>.html; the figures to the MLflow
    experiment savedesk-monitoring. Warnings are printed and exit code stays 0:
    a warning is news for the retention manager, not a failure of the command.
    """
    from models.monitoring import warnings
    from pipelines.monitor import build_report, record_report
    from pipelines.monitor_page import write_report
    from pipelines.settings import load_settings
    from pipelines.workspace import WorkspaceError

    logging.getLogger("mlflow").setLevel(logging.WARNING)
    settings = load_settings(data)
    try:
        day = date.fromisoformat(as_of) if as_of else None
    except ValueError:
        errors.print(f"[red]--as-of expects a date as YYYY-MM-DD, got {as_of!r}.[/red]")
        raise typer.Exit(2) from None
    try:
        with errors.status("Measuring drift, scoring matured months and counting the desk's outcomes…"):
            report = build_report(settings, day)
    except WorkspaceError as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    page = write_report(report, settings.reports_dir)
    with errors.status("Logging the figures to MLflow…"):
        run_id = record_report(settings, report, page)
    console.print(f"[bold]Monitoring report[/bold] as of {report.as_of} → {page}")
    console.print(f"MLflow run {run_id} (experiment savedesk-monitoring) at {settings.mlflow_tracking_uri}")
    warned = warnings(report, settings.monitor)
    if not warned:
        console.print("[green]No threshold crossed.[/green]")
    for sentence in warned:
        console.print(f"[yellow]Warning: {sentence}[/yellow]")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command()(monitor)
