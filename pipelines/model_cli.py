"""The model commands of ``savedesk``: train, evaluate and promote the churn and save models (``register``)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from pipelines.cli_options import DataOption, checked_workspace, command_settings, console, errors, parse_date


def train(
    data: DataOption = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Test month's as-of date. Default: the latest with a full label.")
    ] = None,
    unless_champion: Annotated[
        bool, typer.Option("--unless-champion", help="Do nothing when both models already have a champion.")
    ] = False,
    reason: Annotated[
        str | None,
        typer.Option(
            "--reason",
            help="Why these models were trained; with it the gate also promotes a challenger no worse than the "
            "champion (within the non-inferiority margin), without it only a significant gain.",
        ),
    ] = None,
) -> None:
    """Train the churn and the save models, register each as challenger and run their promotion gates.

    Each gate compares the challenger with the champion on the same test rows (a paired interval of the AUC
    gain) and prints how the lists would change if it were promoted.
    """
    from features.labels import LabelSpec
    from features.requests import why_no_decisions
    from models.names import CHURN_MODEL, SAVE_MODEL
    from pipelines.display import render_save_training, render_training
    from pipelines.save_training import (
        fit_save_model,
        load_requests,
        record_and_gate_save,
        request_split,
    )
    from pipelines.snapshots import territories_kept
    from pipelines.training import fit_and_evaluate, load_snapshots, record_and_gate, time_split
    from pipelines.workspace import WorkspaceError

    settings = command_settings(data)
    if unless_champion:
        from pipelines.services import open_tracker

        tracker = open_tracker(settings)
        held = [tracker.champion_version(n) for n in (CHURN_MODEL, SAVE_MODEL)]
        if all(held):
            console.print("Both models have a champion already: " + ", ".join(v.label for v in held if v))
            return
    if settings.nightly.task_runner == "dask":
        _train_on_cluster(settings, as_of, reason)
        return
    workspace = checked_workspace(settings)
    _render_outcomes(workspace)
    try:
        split = time_split(settings, workspace, parse_date(as_of, "--as-of"))
        requests = request_split(settings, workspace)
    except WorkspaceError as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    with territories_kept():  # the uplift rows' months are mostly the churn model's
        with console.status(f"Building {len(split.all_dates)} monthly snapshots…"):
            frames = load_snapshots(settings, workspace, split)
        with console.status("Training the churn model…"):
            training = fit_and_evaluate(settings, split, frames)
        with console.status("Recording the run and applying the gate…"):
            outcome = record_and_gate(settings, training, reason=reason, workspace=workspace)
        render_training(training, outcome, console)
        _render_list_changes(outcome)
        _alert_if_refused(settings, CHURN_MODEL, outcome)
        with console.status("Training the uplift model (what a proactive call changes)…"):
            from pipelines.outreach import train_and_keep_uplift

            console.print(train_and_keep_uplift(settings, workspace, training.model))
    with console.status("Building the cancellation requests with what each was decided on…"):
        decisions = load_requests(settings, workspace, requests)
    if decisions.empty:
        spec = LabelSpec(durable_days=settings.save.durable_days)
        why = why_no_decisions(workspace.tables, workspace.end, workspace.start, requests.test_end, spec)
        errors.print(f"[yellow]{why}[/yellow]")
        return
    with console.status("Training the save model and judging the policy…"):
        save = fit_save_model(settings, decisions, requests)
    with console.status("Recording the save model's run and applying its gate…"):
        save_outcome = record_and_gate_save(settings, save, reason=reason)
    render_save_training(save, save_outcome, console)
    _render_list_changes(save_outcome)
    _alert_if_refused(settings, SAVE_MODEL, save_outcome)


def _train_on_cluster(settings: Any, as_of: str | None, reason: str | None) -> None:
    """Train through the savedesk-train flow: each model is fitted by a task on a Dask worker, not in this process.

    With ``nightly.task_runner = "dask"`` the book may be too large for this process (``churn.training =
    "sample"`` bounds what each task holds); what comes back is each model's version, gate and figures.
    """
    from pipelines.display import render_flow_training
    from pipelines.settings import use_prefect
    from pipelines.workspace import WorkspaceError

    parse_date(as_of, "--as-of")
    _render_outcomes(checked_workspace(settings))
    use_prefect(settings)
    from pipelines.flows import configured
    from pipelines.flows import train as train_flow

    try:
        summary = configured(train_flow, settings)(str(settings.data), as_of, reason)
    except (WorkspaceError, LookupError) as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    render_flow_training(summary, console)


def _render_outcomes(workspace: Any) -> None:
    """Say which outcomes recorded at the desk joined the training data, when there are any."""
    fed = workspace.outcomes
    if fed.attempts or fed.resolutions or fed.skipped:
        skipped = ", ".join(f"{n} {why}" for why, n in sorted(fed.skipped.items())) or "none"
        console.print(
            f"Outcomes recorded at the desk: {fed.attempts} save attempts and {fed.resolutions} resolutions joined"
            f" the training data; skipped: {skipped}"
        )


def _alert_if_refused(settings: Any, model: str, outcome: Any) -> None:
    """A gate refusal reaches the alert channels (once per model per day), as from the scheduled training."""
    from pipelines.alerts import gate_refused

    if not outcome.promoted:
        gate_refused(settings, model, outcome.version, outcome.summary, outcome.model_uri)


def _render_list_changes(outcome: Any) -> None:
    """How the lists would change if the challenger were promoted (nothing without a champion to compare)."""
    changes = outcome.decision.list_changes if outcome.decision is not None else None
    if changes is None:
        return
    console.print(changes.summary())


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
    from pipelines.display import render_figures, render_policy_values
    from pipelines.save_training import evaluate_save_model
    from pipelines.training import evaluate_champion
    from pipelines.workspace import WorkspaceError

    settings = command_settings(data)
    workspace = checked_workspace(settings)
    try:
        with errors.status(f"Evaluating the {alias}…"):
            figures = evaluate_champion(settings, workspace, parse_date(as_of, "--as-of"), alias=alias)
    except WorkspaceError as error:
        errors.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from None
    try:
        with errors.status(f"Evaluating the save model's {alias} and the policy…"):
            figures |= evaluate_save_model(settings, workspace, alias=alias)
    except WorkspaceError as error:  # a save model that never passed its gate has no champion yet
        errors.print(f"[yellow]{error} The save and policy figures are left out.[/yellow]")
    with errors.status("Judging proactive outreach (uplift against the truth's call effects)…"):
        from pipelines.outreach import evaluate_champion_outreach

        figures |= evaluate_champion_outreach(settings, workspace, str(figures["churn.test_as_of"]), alias)
    if as_json:
        from pipelines.display import print_json

        print_json(figures)
    else:
        render_figures(figures, console)
        render_policy_values(figures, console)


def promote(
    data: DataOption = None,
    reason: Annotated[str, typer.Option("--reason", help="Why the challenger replaces the champion (audited).")] = "",
    model: Annotated[str, typer.Option("--model", help="Which model: churn or save.")] = "churn",
    version: Annotated[
        int | None, typer.Option("--version", help="The version to promote. Default: the challenger.")
    ] = None,
    by: Annotated[str | None, typer.Option("--by", help="Who reviewed it (audited). Default: the login name.")] = None,
) -> None:
    """Make a reviewed challenger the champion: the next nightly publishes with it.

    The move is written to the registry's audit log with who, when, why and which version it replaced.
    """
    import getpass

    from models.names import CHURN_MODEL, SAVE_MODEL
    from pipelines.services import open_tracker

    names = {"churn": CHURN_MODEL, "save": SAVE_MODEL}
    if model not in names:
        errors.print(f"[red]--model must be churn or save, not {model!r}.[/red]")
        raise typer.Exit(2)
    if not reason.strip():
        errors.print("[red]Say why with --reason: the promotion is audited.[/red]")
        raise typer.Exit(2)
    settings = command_settings(data)
    tracker = open_tracker(settings)
    try:
        entry = tracker.promote(names[model], version, reason, by or getpass.getuser())
    except (ValueError, LookupError) as error:
        errors.print(f"[red]{error}.[/red]")
        raise typer.Exit(2) from None
    was = f"v{entry['previous']}" if entry["previous"] is not None else "no champion"
    console.print(f"{entry['model']} v{entry['version']} is champion (was {was}), by {entry['by']}: {entry['reason']}")
    if entry.get("gate_summary"):
        console.print(f"The gate had said: {entry['gate_summary']}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to ``app``."""
    for command in (train, evaluate, promote):
        app.command()(command)
