"""What the ``savedesk`` commands share: the consoles, the ``--data`` option, settings, the workspace and dates.

The command modules (``data_cli``, ``model_cli``, ``nightly_cli``) import these; a refusal is printed on
``errors`` and ends the command with its exit code.
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:
    from pipelines.settings import Settings
    from pipelines.workspace import Workspace

console = Console()
errors = Console(stderr=True, soft_wrap=True)

DataOption = Annotated[
    Path | None,
    typer.Option("--data", help="Workspace folder (raw tables in DIR/raw). Default: SAVEDESK_DATA or data/demo."),
]


def command_settings(data: Path | None) -> Settings:
    """The settings of the workspace ``data`` (default: SAVEDESK_DATA or data/demo), with MLflow's INFO lines off.

    Args:
        data: The ``--data`` option's folder, or None.

    Returns:
        The loaded settings.
    """
    from pipelines.settings import load_settings

    logging.getLogger("mlflow").setLevel(logging.WARNING)  # its INFO lines drown the command's own output
    return load_settings(data)


def parse_date(value: str | None, option: str) -> date | None:
    """The date an option was given as YYYY-MM-DD, or None when it was not given.

    Args:
        value: The option's text, or None.
        option: The option's name, for the refusal (``--as-of``).

    Returns:
        The date, or None.

    Raises:
        typer.Exit: With code 2, when ``value`` is not a YYYY-MM-DD date.
    """
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors.print(f"[red]{option} expects a date as YYYY-MM-DD, got {value!r}.[/red]")
        raise typer.Exit(2) from None


def checked_workspace(settings: Settings) -> Workspace:
    """The workspace of ``settings``, once its raw tables pass validation.

    Args:
        settings: The command's settings.

    Returns:
        The opened workspace.

    Raises:
        typer.Exit: With code 1, when the workspace fails validation.
    """
    from pipelines.workspace import WorkspaceError, open_workspace

    try:
        with errors.status(f"Checking {settings.raw_dir}…"):
            return open_workspace(settings)
    except WorkspaceError as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
