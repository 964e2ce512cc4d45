"""The Prefect flows: ``nightly`` (lists for the desk), ``intraday`` (new requests) and ``train`` (models).

A flow body only wires tasks (``pipelines.tasks``), each a call of a package function tested without Prefect.
Only tasks that touch storage retry, and only on I/O errors; everything is idempotent per business date (a re-run
publishes the same lists). The features, the account context, scoring, planning and talking points map over
account shards (``pipelines.shard_tasks``); the task runner (threads by default, Dask through prefect-dask when
configured, ``pipelines.cluster``) decides where shards run, and the flow holds only what they hand back (paths,
counts, listed rows).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from prefect import Flow, flow, get_run_logger
from prefect.task_runners import TaskRunner

from pipelines.alerts import drift_sentences, flow_failed, monitoring_alerts, run_link
from pipelines.book import BookSource, NightBook, shard_folder
from pipelines.cluster import task_runner as runner_of
from pipelines.freshness import on_day
from pipelines.left_out import carried
from pipelines.nightly import (
    check_book,
    check_features,
    desk_rules,
    offer_valuation,
    proactive_limit,
    shard,
)
from pipelines.outreach_ranking import outreach_manifest
from pipelines.prefect_server import load_server_modules
from pipelines.settings import Settings, load_settings
from pipelines.shard_tasks import (
    book_start_task,
    context_shard_task,
    feature_shard_task,
    keep_book_task,
    night_shard_task,
    territory_task,
)
from pipelines.tasks import (
    add_requests_task,
    business_day_task,
    concat_task,
    drift_task,
    fingerprint_task,
    freshness_task,
    kept_context_task,
    left_out_task,
    lists_task,
    load_champions_task,
    new_requests_task,
    open_workspace_task,
    publish_task,
    published_task,
    requests_task,
    roster_task,
    score_task,
    shadow_task,
    talking_points_task,
    train_churn_task,
    train_save_task,
)

P = ParamSpec("P")
R = TypeVar("R")


def task_runner(settings: Settings) -> TaskRunner[Any]:
    """The task runner the settings choose: threads, or Dask (a cluster's address, or a local cluster)."""
    return runner_of(settings.nightly)


def night_book(settings: Settings, source: BookSource, day: date) -> NightBook:
    """Features and account context shard by shard on the task runner; the territory's figures once, broadcast."""
    count, out = settings.nightly.shards, shard_folder(settings.catalog.contexts, day)
    first_invoice = book_start_task.submit(source.tables, day).result()
    parts = [feature_shard_task.submit(source, day, k, count, first_invoice, out) for k in range(count)]
    features = [part.result() for part in parts]
    territory = territory_task.submit(features, source.tables).result()
    contexts = [context_shard_task.submit(source, day, k, count, features[k], territory) for k in range(count)]
    return NightBook([context.result() for context in contexts])


@flow(name="savedesk-nightly", log_prints=False, on_failure=[flow_failed], on_crashed=[flow_failed])
def nightly(data: str, as_of: str | None = None, today: str | None = None) -> dict[str, Any]:
    """Validate → features → score → plans → talking points → lists → publish → monitoring summary.

    A territory, rep or account that cannot be planned is left out with a warning; every other one gets its
    lists. A night with no account in service (or none left) publishes nothing and fails with the reason.

    Args:
        data: The workspace folder.
        as_of: The business date's as-of (ISO date); default: the last day of the data, once the extract is
            judged fresh (``pipelines.freshness``; an explicit as-of is a backfill and is not judged).
        today: Today's business date (ISO), for a replay; default: ``nightly.today`` or the desk's clock.

    Returns:
        The run's summary: dates, counts, where the lists are, drifted columns, what was left out and why,
        and the warning sentences.
    """
    settings = on_day(load_settings(Path(data)), today)
    desk = settings.nightly
    workspace = open_workspace_task(settings)
    stale = freshness_task(settings, workspace) if as_of is None else None
    day = business_day_task(workspace, as_of)
    champions = load_champions_task(settings)
    book = night_book(settings, BookSource.of(workspace, settings.clean_dir), day)
    check_book(book, day)
    check_features(book.columns, champions)
    kept = keep_book_task.submit(settings, book, day)
    # The book's requests and desk history are read on a worker too; what comes back is the open requests and reps.
    requests = requests_task.submit(workspace, day, desk.open_request_days).result()
    roster, reps_left = roster_task.submit(workspace, day).result()
    limit = proactive_limit(desk, roster)
    futures = [night_shard_task.submit(settings, book, k, requests, champions, limit) for k in range(desk.shards)]
    nights = [f.result() for f in futures]
    scored = [night.scored for night in nights]
    left = left_out_task([*reps_left, *(part for s in scored for part in s.left_out)])
    check_book(book, day, left)
    lists, listed = lists_task(scored, roster, desk_rules(desk, settings.outreach), day)
    point_futures = [talking_points_task.submit(champions, part, day) for part in shard(listed, desk.shards)]
    points = concat_task([f.result() for f in point_futures])
    drift = drift_task(champions, nights, settings.monitor.psi_warning)
    monitoring_alerts(settings, drift_sentences(drift["psi"], settings.monitor.psi_warning), {}, run_link())
    valued = offer_valuation(champions, settings.save.offers)
    extra = {"as_of": day.isoformat(), "models": champions.versions, "input_fingerprint": fingerprint_task(settings),
             "left_out": [part.as_dict() for part in left], **({"freshness": stale} if stale else {}),
             "offer_valuation": valued, "outreach": outreach_manifest(settings),
             # What the extract lacked and what stood in (one territory "all", segment "unknown"): the lists say so.
             "extract_shape": workspace.shape.to_dict() | {"sentence": workspace.shape.sentence()}}  # fmt: skip
    kept.result()  # the day's context is kept before its lists are out: the intraday runs and the live plan read it
    folder = publish_task(settings, day, lists, points, extra)
    shadow = shadow_task.submit(settings, day, book, requests, roster, lists, champions.versions).result()
    summary = {
        "business_date": day.isoformat(),
        "published": str(folder),
        "accounts_scored": len(book),
        "open_requests": len(requests),
        **lists.counts(),
        "talking_points": len(points),
        "psi_score": round(drift["psi"].get("churn_probability", float("nan")), 4),
        "drift_warnings": drift["shifted"],
        "left_out": extra["left_out"],
        "warnings": [
            *([stale["sentence"]] if stale else []),
            *(part.sentence() for part in left),
            *drift["warnings"],
            *([valued["notice"]] if valued.get("notice") else []),
            *([workspace.shape.sentence()] if workspace.shape.sentence() else []),
        ],
        "models": champions.versions,
        "offer_valuation": valued,
        **({"shadow": shadow} if shadow else {}),
    }
    get_run_logger().info("Published %s: %d inbound, %d proactive, %d flips", folder, summary["inbound"],
                          summary["proactive"], summary["flips"])  # fmt: skip
    return summary


@flow(name="savedesk-intraday", on_failure=[flow_failed], on_crashed=[flow_failed])
def intraday(data: str, as_of: str | None = None) -> dict[str, Any]:
    """Add the requests that arrived since the nightly run to today's inbound queue and flips, and re-publish.

    Only the new requests are planned (from the night's account context); the lists already published keep
    their rows and order.
    """
    settings = load_settings(Path(data))
    workspace = open_workspace_task(settings)
    day = business_day_task(workspace, as_of)
    lists, points, manifest = published_task(settings, day)
    new = new_requests_task(lists, requests_task(workspace, day, settings.nightly.open_request_days))
    if new.empty:
        get_run_logger().info("No new requests for %s", day)
        return {"business_date": day.isoformat(), "new_requests": 0, "published": str(settings.catalog.link(day))}
    champions = load_champions_task(settings, manifest.get("models"))
    scored = score_task(settings, kept_context_task(settings, day, new), new, champions, 0)
    roster, reps_left = roster_task(workspace, day)
    left = left_out_task([*reps_left, *scored.left_out])
    lists, fresh = add_requests_task(lists, scored, roster, desk_rules(settings.nightly, settings.outreach))
    points = concat_task([points, talking_points_task(champions, fresh, day)])
    extra = {"as_of": day.isoformat(), "models": champions.versions, "input_fingerprint": fingerprint_task(settings),
             "offer_valuation": offer_valuation(champions, settings.save.offers),
             "intraday_runs": int(manifest.get("intraday_runs", 0)) + 1,
             **({"outreach": manifest["outreach"]} if "outreach" in manifest else {}),
             "left_out": [part.as_dict() for part in carried(manifest.get("left_out", []), left)]}  # fmt: skip
    folder = publish_task(settings, day, lists, points, extra)
    get_run_logger().info("Added %d new requests to %s", len(scored.inbound), folder)
    return {"business_date": day.isoformat(), "new_requests": len(scored.inbound), "published": str(folder),
            "left_out": [part.as_dict() for part in left]}  # fmt: skip


@flow(name="savedesk-train", on_failure=[flow_failed], on_crashed=[flow_failed])
def train(data: str, as_of: str | None = None, reason: str | None = None) -> dict[str, Any]:
    """Snapshots → churn model and the uplift model on it; requests → save model; each gated as challenger.

    Each model is trained by one task on the task runner: on a Dask cluster, on a worker, so the flow's process
    holds only what the tasks report.
    """
    settings = load_settings(Path(data))
    workspace = open_workspace_task(settings)
    churn = train_churn_task.submit(settings, workspace, as_of, reason).result()
    save = train_save_task.submit(settings, workspace, reason).result()
    get_run_logger().info("Churn model v%s (promoted: %s); save model v%s (promoted: %s)",
                          churn["version"], churn["promoted"], save["version"], save["promoted"])  # fmt: skip
    return {"churn": churn, "save": save}


def configured(flow_: Flow[P, R], settings: Settings) -> Flow[P, R]:
    """``flow_`` with the task runner the settings choose (Prefect's server modules loaded first)."""
    load_server_modules()
    return flow_.with_options(task_runner=task_runner(settings))


def deployments(settings: Settings) -> list[Any]:
    """The scheduled deployments of the three flows, in the desk's time zone."""
    from prefect.schedules import Cron

    desk, data = settings.nightly, str(settings.data.resolve())
    zone = desk.time_zone
    schedule = {"nightly": desk.nightly_cron, "weekly": desk.training_cron, "business-hours": desk.intraday_cron}
    flows: dict[str, Flow[..., dict[str, Any]]] = {"nightly": nightly, "weekly": train, "business-hours": intraday}
    return [
        configured(flows[name], settings).to_deployment(
            name, schedules=[Cron(cron, timezone=zone)], parameters={"data": data}
        )
        for name, cron in schedule.items()
    ]
