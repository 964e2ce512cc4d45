"""The Prefect flows: ``nightly`` (lists for the desk), ``intraday`` (new requests) and ``train`` (models).

Each task is a thin wrapper over a package function (``pipelines.nightly``,
``pipelines.training``, ``pipelines.save_training``, ``serving.call_lists``,
``pipelines.publish``), so the logic is tested without Prefect. Only tasks that
touch storage retry, and only on I/O errors; everything is idempotent per
business date (a re-run publishes the same lists). Scoring, planning and
talking points map over account shards; the task runner (threads by default,
Dask through prefect-dask when configured) decides where shards run.
"""

from __future__ import annotations

import json
import logging
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.client.schemas.objects import TaskRun
from prefect.states import State
from prefect.task_runners import ThreadPoolTaskRunner

from pipelines.nightly import context_path
from pipelines.settings import Settings, load_settings

if TYPE_CHECKING:
    from pipelines.workspace import Workspace

IO_ERRORS = (OSError, TimeoutError, ConnectionError)


def only_io(task_: Any, task_run: TaskRun, state: State) -> bool:
    """Retry a failed task only when it failed on I/O (a full disk, a dropped connection), never on a bug."""
    try:
        state.result()
    except IO_ERRORS:
        return True
    except Exception:  # noqa: BLE001 - any other failure is final
        return False
    return False


io_task = task(retries=2, retry_delay_seconds=2, retry_condition_fn=only_io)


def task_runner(settings: Settings) -> Any:
    """The task runner the settings choose: threads, or Dask (a cluster's address, or a local cluster)."""
    desk = settings.nightly
    if desk.task_runner == "dask":
        from prefect_dask import DaskTaskRunner

        if desk.dask_address:
            return DaskTaskRunner(address=desk.dask_address)
        return DaskTaskRunner(cluster_kwargs={"n_workers": desk.dask_workers, "threads_per_worker": 1,
                                              "processes": True})  # fmt: skip
    return ThreadPoolTaskRunner(max_workers=desk.threads)


@io_task
def open_workspace_task(settings: Settings) -> Any:
    """Validate (when the raw tables changed) and open the workspace."""
    from pipelines.workspace import open_workspace

    return open_workspace(settings)


@io_task
def load_models_task(settings: Settings) -> tuple[Any, Any, dict[str, Any]]:
    """The champion churn and save models and what they are."""
    from models.tracking import Tracker
    from pipelines.save_training import SAVE_MODEL_NAME

    tracker = Tracker.from_settings(settings)
    churn_version = tracker.champion_version("savedesk-churn")
    save_version = tracker.champion_version(SAVE_MODEL_NAME)
    if churn_version is None or save_version is None:
        missing = [n for n, v in (("savedesk-churn", churn_version), (SAVE_MODEL_NAME, save_version)) if v is None]
        raise LookupError(f"No champion of {missing} in {tracker.display_uri}: run savedesk train first.")
    models = {
        "churn": {"name": churn_version.name, "version": churn_version.version, "alias": "champion"},
        "save": {"name": save_version.name, "version": save_version.version, "alias": "champion"},
    }
    return tracker.load_churn_model(churn_version.model_uri), tracker.load_save_model(save_version.model_uri), models


@task
def context_task(workspace: Any, as_of: date, shards: int) -> pd.DataFrame:
    """Features, city and biggest line of every account in service."""
    from pipelines.nightly import build_context

    return build_context(workspace.tables, as_of, shards)


@task
def requests_task(workspace: Any, as_of: date, days: int) -> pd.DataFrame:
    """The open cancellation requests."""
    from pipelines.nightly import open_requests

    return open_requests(workspace.tables, as_of, days)


@task
def score_task(
    settings: Settings, context: pd.DataFrame, requests: pd.DataFrame, churn: Any, save: Any, limit: int
) -> Any:
    """One shard: risk, plans for open requests and for its most valuable at-risk accounts."""
    from pipelines.nightly import score_shard

    return score_shard(settings, context, requests, churn, save, limit)


@io_task
def keep_context_task(settings: Settings, context: pd.DataFrame, day: date) -> Path:
    """Write the night's account context (atomically) so intraday runs plan new requests without rebuilding it."""
    path = context_path(settings, day)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    context.to_parquet(partial, index=False)
    partial.replace(path)
    return path


@task
def talking_points_task(churn: Any, save: Any, listed: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Talking points of one shard's listed rows (SHAP only for rows that go on a list)."""
    from models.talking_points import POINT_COLUMNS, talking_points

    if listed.empty:
        return pd.DataFrame(columns=["list_key", *POINT_COLUMNS])
    return talking_points(churn, save, listed, as_of, key="list_key")


@io_task
def roster_task(workspace: Any, as_of: date) -> Any:
    """The reps and specialists of each territory, from who worked the desk recently."""
    from serving.call_lists import roster_from_history

    attempts = workspace.tables["save_attempts"].collect().to_pandas(date_as_object=False)
    accounts = workspace.tables["accounts"].select("account_id", "territory").collect().to_pandas()
    return roster_from_history(attempts, accounts, as_of)


@io_task
def publish_task(
    settings: Settings, business_date: date, lists: Any, points: pd.DataFrame, extra: dict[str, Any]
) -> Path:
    """Write the lists atomically under ``DIR/published/<date>/``."""
    from pipelines.publish import publish

    return publish(settings.published_dir, business_date, lists, points, extra)


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The frames one after another; empty ones only lend their columns."""
    full = [f for f in frames if len(f)]
    if full:
        return pd.concat(full, ignore_index=True)
    return frames[0].iloc[0:0].reset_index(drop=True) if frames else pd.DataFrame()


@task
def lists_task(scored: list[Any], roster: Any, rules: Any, day: date) -> tuple[Any, pd.DataFrame]:
    """The day's call lists from every shard's plans, and the scored rows that went on them."""
    from serving.call_lists import build_call_lists

    inbound = _concat([s.inbound for s in scored])
    proactive = _concat([s.proactive for s in scored])
    lists = build_call_lists(inbound, proactive, roster, rules, day)
    listed = _concat([listed_rows(lists, inbound, "request_id"), listed_rows(lists, proactive, "account_id")])
    return lists, listed


@task
def monitoring_task(churn: Any, context: pd.DataFrame, scored: list[Any]) -> dict[str, float]:
    """PSI of the features and of the scores the shards already computed, against the training data."""
    from pipelines.nightly import monitoring_summary

    scores = pd.concat([s.scores for s in scored]).reindex(context.index)
    return monitoring_summary(churn, context, scores.to_numpy())


def listed_rows(lists: Any, scored: pd.DataFrame, key: str) -> pd.DataFrame:
    """The scored rows that went on a list, with the list's key."""
    keys = pd.concat([lists.inbound["list_key"], lists.flips["list_key"], lists.proactive["list_key"]])
    return scored[scored[key].isin(set(keys))].assign(list_key=lambda f: f[key])


def input_fingerprint(settings: Settings) -> str:
    """A sha256 over the clean tables' bytes: the same inputs give the same fingerprint."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(settings.clean_dir.rglob("*.parquet")):
        digest.update(str(path.relative_to(settings.clean_dir)).encode())
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


@flow(name="savedesk-nightly", log_prints=False)
def nightly(data: str, as_of: str | None = None) -> dict[str, Any]:
    """Validate → features → score → plans → talking points → lists → publish → monitoring summary.

    Args:
        data: The workspace folder.
        as_of: The business date's as-of (ISO date); default: the last day of the data.

    Returns:
        The run's summary: dates, counts, where the lists are, drifted columns and the warning sentences.
    """
    from models.monitoring import drift_warnings
    from models.monitoring import shifted as drift_shifted
    from pipelines.nightly import shard
    from serving.call_lists import DeskRules

    logger = get_run_logger()
    settings = load_settings(Path(data))
    workspace = cast("Workspace", open_workspace_task(settings))
    day = date.fromisoformat(as_of) if as_of else workspace.end
    workspace.check_as_of(day)
    churn, save, models = load_models_task(settings)
    desk = settings.nightly
    context = context_task(workspace, day, 1)
    keep_context_task(settings, context, day)
    requests = requests_task(workspace, day, desk.open_request_days)
    roster = cast("Any", roster_task(workspace, day))
    rules = DeskRules(proactive_per_rep=desk.proactive_per_rep)
    capacity = max(1, rules.proactive_per_rep * roster.inside_reps)
    limit = int(desk.proactive_candidates * capacity / desk.shards) + 1
    futures = [score_task.submit(settings, part, requests, churn, save, limit) for part in shard(context, desk.shards)]
    lists, listed = cast("tuple[Any, pd.DataFrame]", lists_task([f.result() for f in futures], roster, rules, day))
    point_futures = [talking_points_task.submit(churn, save, part, day) for part in shard(listed, desk.shards)]
    points = _concat([f.result() for f in point_futures])
    drift = cast("dict[str, float]", monitoring_task(churn, context, [f.result() for f in futures]))
    # The same threshold and sentences as the monitoring report (models.monitoring), so both say the same.
    threshold = settings.monitor.psi_warning
    shifted, warned = drift_shifted(drift, threshold), drift_warnings(drift, threshold)
    for sentence in warned:
        logger.warning("%s", sentence)
    extra = {"as_of": day.isoformat(), "models": models, "input_fingerprint": input_fingerprint(settings)}
    folder = publish_task(settings, day, lists, points, extra)
    summary = {
        "business_date": day.isoformat(),
        "published": str(folder),
        "accounts_scored": len(context),
        "open_requests": len(requests),
        "inbound": len(lists.inbound),
        "proactive": len(lists.proactive),
        "flips": len(lists.flips),
        "talking_points": len(points),
        "psi_score": round(drift.get("churn_probability", float("nan")), 4),
        "drift_warnings": shifted,
        "warnings": warned,
        "models": models,
    }
    logger.info("Published %s: %d inbound, %d proactive, %d flips", folder, summary["inbound"],
                summary["proactive"], summary["flips"])  # fmt: skip
    return summary


logging.getLogger("distributed").setLevel(logging.WARNING)


@task
def train_churn_task(settings: Settings, workspace: Any, as_of: date | None) -> dict[str, Any]:
    """Snapshots → churn model → record → gate."""
    from pipelines.training import fit_and_evaluate, load_snapshots, record_and_gate, time_split

    split = time_split(settings, workspace, as_of)
    training = fit_and_evaluate(settings, split, load_snapshots(settings, workspace, split))
    outcome = record_and_gate(settings, training)
    return {"version": outcome.version, "promoted": outcome.promoted, "auc": training.evaluation.metrics["auc"]}


@task
def train_save_task(settings: Settings, workspace: Any) -> dict[str, Any]:
    """Requests → save model → policy values → record → gate."""
    from pipelines.save_training import fit_save_model, load_requests, record_and_gate_save, request_split

    split = request_split(settings, workspace)
    training = fit_save_model(settings, load_requests(settings, workspace, split), split)
    outcome = record_and_gate_save(settings, training)
    value = training.policy.flat()["policy.value_ratio"] if training.policy is not None else None
    return {"version": outcome.version, "promoted": outcome.promoted, "auc": training.metrics["auc"],
            "policy_value_ratio": value}  # fmt: skip


@flow(name="savedesk-train")
def train(data: str, as_of: str | None = None) -> dict[str, Any]:
    """Snapshots → churn model, requests → save model; each registered as challenger and gated."""
    logger = get_run_logger()
    settings = load_settings(Path(data))
    workspace = cast("Workspace", open_workspace_task(settings))
    churn = cast("dict[str, Any]", train_churn_task(settings, workspace, date.fromisoformat(as_of) if as_of else None))
    save = cast("dict[str, Any]", train_save_task(settings, workspace))
    logger.info("Churn model v%s (promoted: %s); save model v%s (promoted: %s)",
                churn["version"], churn["promoted"], save["version"], save["promoted"])  # fmt: skip
    return {"churn": churn, "save": save}


def configured(flow_: Any, settings: Settings) -> Any:
    """``flow_`` with the task runner the settings choose."""
    return flow_.with_options(task_runner=task_runner(settings))


def deployments(settings: Settings) -> list[Any]:
    """The scheduled deployments of the three flows, in the desk's time zone."""
    from prefect.schedules import Cron

    desk, data = settings.nightly, str(settings.data.resolve())
    zone = desk.time_zone
    schedule = {"nightly": desk.nightly_cron, "weekly": desk.training_cron, "business-hours": desk.intraday_cron}
    flows = {"nightly": nightly, "weekly": train, "business-hours": intraday}
    return [
        configured(flows[name], settings).to_deployment(
            name, schedules=[Cron(cron, timezone=zone)], parameters={"data": data}
        )
        for name, cron in schedule.items()
    ]


def read_published(folder: Path, day: date) -> tuple[Any, pd.DataFrame]:
    """The call lists and talking points published in ``folder`` for ``day``."""
    from serving.call_lists import CallLists

    frames = {name: pd.read_parquet(folder / f"{name}.parquet") for name in ("inbound", "proactive", "flips")}
    lists = CallLists(day, frames["inbound"], frames["proactive"], frames["flips"])
    return lists, pd.read_parquet(folder / "talking_points.parquet")


@flow(name="savedesk-intraday")
def intraday(data: str, as_of: str | None = None) -> dict[str, Any]:
    """Add the requests that arrived since the nightly run to today's inbound queue and flips, and re-publish.

    Only the new requests are planned (from the night's account context); the lists already published keep
    their rows and order.
    """
    from pipelines.nightly import open_requests, score_shard
    from serving.call_lists import DeskRules, add_intraday

    logger = get_run_logger()
    settings = load_settings(Path(data))
    workspace = cast("Workspace", open_workspace_task(settings))
    day = date.fromisoformat(as_of) if as_of else workspace.end
    folder, context_file = settings.published_dir / day.isoformat(), context_path(settings, day)
    if not (folder / "manifest.json").is_file() or not context_file.is_file():
        raise LookupError(f"No nightly run published for {day}: run savedesk nightly first.")
    lists, points = read_published(folder, day)
    listed = set(lists.inbound["list_key"]) | set(lists.flips["list_key"])
    requests = open_requests(workspace.tables, day, settings.nightly.open_request_days)
    new = requests[~requests["request_id"].isin(listed)]
    if new.empty:
        logger.info("No new requests for %s", day)
        return {"business_date": day.isoformat(), "new_requests": 0, "published": str(folder)}
    churn, save, models = cast("tuple[Any, Any, dict[str, Any]]", load_models_task(settings))
    context = pd.read_parquet(context_file)
    context = context[context["account_id"].isin(new["account_id"])]
    scored = score_shard(settings, context, new, churn, save, proactive_limit=0)
    roster = cast("Any", roster_task(workspace, day))
    lists = add_intraday(lists, scored.inbound, roster, DeskRules(proactive_per_rep=settings.nightly.proactive_per_rep))
    fresh = listed_rows(lists, scored.inbound, "request_id")
    points = _concat([points, cast("pd.DataFrame", talking_points_task(churn, save, fresh, day))])
    manifest = json.loads((folder / "manifest.json").read_text())
    extra = {"as_of": day.isoformat(), "models": models, "input_fingerprint": input_fingerprint(settings),
             "intraday_runs": int(manifest.get("intraday_runs", 0)) + 1}  # fmt: skip
    folder = cast("Path", publish_task(settings, day, lists, points, extra))
    logger.info("Added %d new requests to %s", len(scored.inbound), folder)
    return {"business_date": day.isoformat(), "new_requests": len(scored.inbound), "published": str(folder)}
