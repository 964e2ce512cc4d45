"""The Prefect tasks of savedesk's flows: each one call of a package function, typed as that function is.

The logic lives in ``pipelines.nightly``, ``pipelines.training``, ``pipelines.save_training``, ``serving`` and
``models``, tested without Prefect; a task only names a step, so Prefect can record, retry and map it. Only tasks
that touch storage retry, with backoff, and only on transient faults (``pipelines.faults``: a database busy, a file
lock, a server that does not answer); a data fault or a bug fails at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import get_run_logger, task
from prefect.tasks import exponential_backoff

from features.labels import LabelSpec
from features.requests import why_no_decisions
from models.champions import Champions, version_numbers
from models.monitoring import drift_warnings, shifted
from models.names import CHURN_MODEL, SAVE_MODEL
from models.talking_points import POINT_COLUMNS, talking_points
from pipelines import nightly
from pipelines.alerts import STALE_EXTRACT, alert, gate_refused, run_link
from pipelines.book import NightBook
from pipelines.cluster import memory_returned
from pipelines.faults import retry_transient
from pipelines.freshness import check_extract
from pipelines.left_out import LeftOut, merged
from pipelines.nightly import Scored, ShardNight
from pipelines.outreach import train_and_keep_uplift
from pipelines.save_training import fit_save_model, load_requests, record_and_gate_save, request_split
from pipelines.services import open_tracker
from pipelines.settings import Settings
from pipelines.snapshots import territories_kept
from pipelines.training import fit_and_evaluate, load_snapshots, record_and_gate, time_split
from pipelines.workspace import Workspace, open_workspace
from serving.call_lists import CallLists, DeskRules
from serving.intraday import add_intraday
from serving.publication.catalog import read_published
from serving.publication.publish import publish
from serving.roster import Roster

io_task = task(
    retries=3, retry_delay_seconds=exponential_backoff(backoff_factor=2), retry_jitter_factor=0.5,
    retry_condition_fn=retry_transient,
)  # fmt: skip
"""A task that touches storage: three retries after about 2, 4 and 8 s, on transient faults only."""


# --- reading ---------------------------------------------------------------------------------------------------------


@io_task
def open_workspace_task(settings: Settings) -> Workspace:
    """Validate (when the raw tables changed) and open the workspace."""
    return open_workspace(settings)


@task
def business_day_task(workspace: Workspace, as_of: str | None) -> date:
    """The business date to run for: ``as_of`` (ISO), or the last day of the data; refused outside the data."""
    day = date.fromisoformat(as_of) if as_of else workspace.end
    workspace.check_as_of(day)
    return day


@task
def freshness_task(settings: Settings, workspace: Workspace) -> dict[str, Any] | None:
    """Judge the extract's age against today's business date (``pipelines.freshness``); stop on a stale one.

    Returns the check for the manifest when the lists are published from a stale extract (alerted), else None.
    """
    check = check_extract(settings, workspace.end)
    if not check.stale:
        return None
    get_run_logger().warning("%s", check.sentence())
    alert(settings, STALE_EXTRACT, f"The nightly run on {settings.data} publishes with a notice. {check.sentence()}",
          run_link())  # fmt: skip
    return check.as_dict()


@io_task
def load_champions_task(settings: Settings, stamp: Mapping[str, Any] | None = None) -> Champions:
    """The champion churn and save models and what they are; with ``stamp`` (a manifest's ``models``), those versions.

    An intraday run plans with the versions its day was published with, so a promotion between the nightly and an
    intraday run never mixes two models in one day's lists.
    """
    versions = version_numbers(stamp)
    tracker = open_tracker(settings)
    return tracker.load_champions() if versions is None else tracker.load_versions(versions)


@io_task
def roster_task(workspace: Workspace, as_of: date) -> tuple[Roster, list[LeftOut]]:
    """The reps and specialists of each territory, from who worked the desk recently, and the reps left out."""
    return nightly.desk_roster(workspace.tables, as_of)


@task
def requests_task(workspace: Workspace, as_of: date, days: int) -> pd.DataFrame:
    """The open cancellation requests."""
    return nightly.open_requests(workspace.tables, as_of, days)


@io_task
def published_task(settings: Settings, day: date) -> tuple[CallLists, pd.DataFrame, dict[str, Any]]:
    """The lists, talking points and manifest so far published for ``day`` (refused before the nightly)."""
    catalog = settings.catalog
    if not catalog.is_published(day) or not catalog.context(day).is_file():
        raise LookupError(f"No nightly run published for {day}: run savedesk nightly first.")
    lists, points = read_published(catalog.link(day), day)
    return lists, points, dict(catalog.manifest(day))


@io_task
def kept_context_task(settings: Settings, day: date, requests: pd.DataFrame) -> pd.DataFrame:
    """The night's kept account context of the accounts that made ``requests``."""
    return nightly.context_of(settings.catalog.context(day), requests)


# --- the night's work ------------------------------------------------------------------------------------------------


@task
def score_task(
    settings: Settings, context: pd.DataFrame, requests: pd.DataFrame, champions: Champions, limit: int
) -> Scored:
    """One shard: risk, plans for open requests and for its most valuable at-risk accounts."""
    return nightly.score_shard(settings, context, requests, champions, limit)


@task
def left_out_task(parts: list[LeftOut]) -> list[LeftOut]:
    """What the night left out, each territory, rep or set of accounts once, each logged as a warning."""
    left = merged(parts)
    logger = get_run_logger()
    for part in left:
        logger.warning("%s", part.sentence())
    return left


@task
def lists_task(scored: list[Scored], roster: Roster, rules: DeskRules, day: date) -> tuple[CallLists, pd.DataFrame]:
    """The day's call lists from every shard's plans, and the scored rows that went on them."""
    return nightly.gather_lists(scored, roster, rules, day)


@task
def new_requests_task(lists: CallLists, requests: pd.DataFrame) -> pd.DataFrame:
    """The open requests that arrived since the lists were published."""
    return nightly.new_requests(lists, requests)


@task
def add_requests_task(
    lists: CallLists, scored: Scored, roster: Roster, rules: DeskRules
) -> tuple[CallLists, pd.DataFrame]:
    """The published lists with newly planned requests dealt to the inbound queue and the flips, and those rows."""
    added = add_intraday(lists, scored.inbound, roster, rules)
    return added, added.listed(scored.inbound, "request_id")


@task
def concat_task(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Frames of the same columns (shards' results, or published and new points) one after another."""
    return nightly.concat(frames)


@task
def talking_points_task(champions: Champions, listed: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Talking points of one shard's listed rows (SHAP only for rows that go on a list)."""
    if listed.empty:
        return pd.DataFrame(columns=["list_key", *POINT_COLUMNS])
    return talking_points(champions.churn, champions.save, listed, as_of, key="list_key")


@task
def drift_task(champions: Champions, nights: list[ShardNight], threshold: float) -> dict[str, Any]:
    """PSI of the features and of the night's scores against the training data, and what shifted (logged)."""
    drift = nightly.monitoring_summary(champions.churn, nights)
    # The same threshold and sentences as the monitoring report (models.monitoring), so both say the same.
    warned = drift_warnings(drift, threshold)
    logger = get_run_logger()
    for sentence in warned:
        logger.warning("%s", sentence)
    return {"psi": drift, "shifted": shifted(drift, threshold), "warnings": warned}


@task
def shadow_task(
    settings: Settings,
    day: date,
    book: NightBook,
    requests: pd.DataFrame,
    roster: Roster,
    published: CallLists,
    champion_versions: dict[str, Any],
) -> dict[str, Any] | None:
    """Plan the night again with a challenger into ``DIR/shadow`` (``pipelines.shadow``), after publishing.

    The published lists are out already and never change: a shadow that fails is logged and reported in the
    summary, not a failed night. The book's context is read only when shadow nights are on.
    """
    from pipelines.shadow import shadow_night

    if settings.nightly.shadow_nights <= 0:
        return None
    try:
        return shadow_night(settings, open_tracker(settings), day, book.read_all(), requests, roster, published,
                            champion_versions)  # fmt: skip
    except Exception as error:  # noqa: BLE001 - the desk's lists stand whatever the challenger does
        sentence = f"The challenger's shadow lists for {day} were not written ({type(error).__name__}: {error})."
        get_run_logger().warning("%s", sentence)
        return {"error": sentence}


@io_task
def fingerprint_task(settings: Settings) -> str:
    """A sha256 over the clean tables' bytes, for the manifest."""
    return nightly.input_fingerprint(settings.clean_dir)


@io_task
def publish_task(
    settings: Settings, business_date: date, lists: CallLists, points: pd.DataFrame, extra: dict[str, Any]
) -> Path:
    """Write the lists atomically under ``DIR/published/<date>/``."""
    return publish(settings.catalog.folder, business_date, lists, points, extra)


# --- training --------------------------------------------------------------------------------------------------------


@task
def train_churn_task(
    settings: Settings, workspace: Workspace, as_of: str | None, reason: str | None = None
) -> dict[str, Any]:
    """Snapshots → churn model → record → gate, then the uplift model on the new churn model, kept for the nightly.

    Returns what the flow reports, small (the rows and the model stay where the task ran; the uplift model is
    written to the workspace). What the task held goes back to the system when it ends (``memory_returned``).
    """
    with memory_returned():
        return _churn_and_uplift(settings, workspace, as_of, reason)


def _churn_and_uplift(
    settings: Settings, workspace: Workspace, as_of: str | None, reason: str | None
) -> dict[str, Any]:
    split = time_split(settings, workspace, date.fromisoformat(as_of) if as_of else None)
    with territories_kept():  # the uplift rows' months are mostly the churn model's
        training = fit_and_evaluate(settings, split, load_snapshots(settings, workspace, split))
        outcome = record_and_gate(settings, training, reason=reason, workspace=workspace)
        if not outcome.promoted:
            gate_refused(settings, CHURN_MODEL, outcome.version, outcome.summary, run_link())
        result = {"version": outcome.version, "promoted": outcome.promoted, "auc": training.evaluation.metrics["auc"],
                  "gate": outcome.summary, "model_uri": outcome.model_uri, "rows": len(training.train)}  # fmt: skip
        if training.sample is not None and training.sample.sampled:
            result["sample_share"] = training.sample.share
            result["sample_churned_share"] = training.sample.churned_share
        model = training.model
        del training  # the snapshots: the uplift rows are built next
        result["uplift"] = train_and_keep_uplift(settings, workspace, model)
    return result


@task
def train_save_task(settings: Settings, workspace: Workspace, reason: str | None = None) -> dict[str, Any]:
    """Requests → save model → policy values → record → gate; what the task held goes back to the system."""
    with memory_returned():
        return _save_model(settings, workspace, reason)


def _save_model(settings: Settings, workspace: Workspace, reason: str | None) -> dict[str, Any]:
    split = request_split(settings, workspace)
    decisions = load_requests(settings, workspace, split)
    if decisions.empty:
        spec = LabelSpec(durable_days=settings.save.durable_days)
        why = why_no_decisions(workspace.tables, workspace.end, workspace.start, split.test_end, spec)
        get_run_logger().warning("%s", why)
        return {"version": None, "promoted": False, "auc": None, "policy_value_ratio": None, "skipped": why}
    training = fit_save_model(settings, decisions, split)
    outcome = record_and_gate_save(settings, training, reason=reason)
    if not outcome.promoted:
        gate_refused(settings, SAVE_MODEL, outcome.version, outcome.summary, run_link())
    value = training.policy.flat()["policy.value_ratio"] if training.policy is not None else None
    return {"version": outcome.version, "promoted": outcome.promoted, "auc": training.metrics["auc"],
            "policy_value_ratio": value, "gate": outcome.summary, "model_uri": outcome.model_uri,
            "training_requests": len(training.train), "training_share": split.training_share}  # fmt: skip
