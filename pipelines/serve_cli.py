"""The ``savedesk serve`` command: the API and the rep page over one workspace, with uvicorn."""

from __future__ import annotations

import logging
from contextlib import suppress
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from pipelines.settings import load_settings

console = Console()
errors = Console(stderr=True, soft_wrap=True)


def serve(
    data: Annotated[
        Path | None, typer.Option("--data", help="Workspace folder (published lists, models, outcomes store).")
    ] = None,
    host: Annotated[str | None, typer.Option("--host", help="Address to listen on (default: serving.host).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port to listen on (default: serving.port).")] = None,
) -> None:
    """Serve the API (/api/v1, docs at /api/v1/docs) and the rep page (/) until stopped."""
    import uvicorn

    from pipelines.services import desk_app
    from serving.plan_models import footer

    settings = load_settings(data)
    host, port = host or settings.serving.host, port or settings.serving.port
    try:
        app = desk_app(settings)
    except LookupError as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(1) from None
    # Our own access log (route templates, no paths or query strings); uvicorn's would print every URL.
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    shown = f"[{host}]" if ":" in host else host
    console.print(f"savedesk serving {settings.data} on http://{shown}:{port}/  (API docs: /api/v1/docs)")
    with suppress(OSError, ValueError):  # an unreadable publication is the API's to report, per request
        console.print(footer(app.state.desk.planner.models_in_use()))
    console.print(
        "Add a user (prints their token once): savedesk users add NAME --role rep --territory TERRITORY "
        f"--rep-id REP --data {settings.data}   (or --role manager)"
    )
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="info", proxy_headers=False)


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    app.command("serve")(serve)
