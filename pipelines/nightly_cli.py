"""The ``savedesk nightly`` and ``savedesk deploy`` commands: the flows under Prefect, registered by ``register``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from pipelines.cli_options import DataOption, command_settings, console, errors, parse_date

if TYPE_CHECKING:
    from pipelines.settings import Settings


def nightly(
    data: DataOption = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Business date's as-of, for a backfill (not judged for freshness). Default: the last day "
            "of the data, once the extract is fresh.",
        ),
    ] = None,
    today: Annotated[
        str | None,
        typer.Option(
            "--today",
            help="Today's business date the extract's age is judged against (YYYY-MM-DD). Default: "
            "nightly.today, else the clock in nightly.time_zone (a simulated extract: its own last day).",
        ),
    ] = None,
) -> None:
    """Run the nightly flow: score, plan, talking points, call lists, publish (under Prefect).

    An extract older than nightly.max_extract_age_days stops the run with exit code 2 and a sentence naming the
    dates, unless nightly.stale_extract is publish_with_notice (the lists then carry a notice the rep page shows).
    """
    from pipelines.display import render_nightly
    from pipelines.freshness import StaleExtract
    from pipelines.settings import use_prefect
    from pipelines.workspace import WorkspaceError

    settings = command_settings(data)
    parse_date(as_of, "--as-of")
    parse_date(today, "--today")
    missing = no_churn_champion(settings)
    if missing:
        errors.print(f"[red]{missing}[/red]")
        raise typer.Exit(2)
    use_prefect(settings)
    from pipelines.flows import configured
    from pipelines.flows import nightly as nightly_flow

    try:
        summary = configured(nightly_flow, settings)(str(settings.data), as_of, today)
    except (WorkspaceError, LookupError, StaleExtract) as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    render_nightly(summary, settings, console)


def no_churn_champion(settings: Settings) -> str | None:
    """The sentence that stops a nightly with no churn champion to score with (None when there is one).

    Checked before Prefect starts, so the operator reads what to run, not a failed task's traceback. A missing
    save champion stops nothing: the night values offers from the catalog's prior save rates.
    """
    from models.names import CHURN_MODEL
    from pipelines.services import open_tracker

    tracker = open_tracker(settings)
    if tracker.champion_version(CHURN_MODEL) is not None:
        return None
    return (
        f"No churn model is champion in {tracker.display_uri} yet, so there is nothing to score the accounts"
        f" with and no lists were published: run `savedesk train --data {settings.data}` first (its gate must"
        " promote the churn model), then `savedesk nightly` again."
    )


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
    from pipelines.settings import use_prefect

    settings = command_settings(data)
    use_prefect(settings)
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


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    for command in (nightly, deploy):
        app.command()(command)
