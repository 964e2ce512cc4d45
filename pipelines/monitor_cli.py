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
ALERTED = ("drift ", "offer below promise ")
"""The causes of ``models.monitoring.MonitorWarning`` sent as alerts: drift on a warned feature and an offer saving
below its promise (the others are read on the report)."""


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
    from models.monitoring import warning_records
    from pipelines.alerts import alert, mlflow_link
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
    for skipped in report.skipped:
        console.print(f"Left out: {skipped}")
    warned = warning_records(report, settings.monitor)
    link = mlflow_link(settings.mlflow_tracking_uri, run_id)
    for warning in warned:  # a person hears of these today: each cause once a day, on the configured channels
        if warning.cause.startswith(ALERTED):
            alert(settings, warning.cause, warning.text, link)
    if not warned:
        console.print("[green]No threshold crossed.[/green]")
    for warning in warned:
        console.print(f"[yellow]Warning: {warning.text}[/yellow]")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command()(monitor)
