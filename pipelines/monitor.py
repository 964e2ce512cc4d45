"""The monitoring report: drift, realized performance and desk outcomes as of a day, gathered and logged to MLflow.

``build_report`` opens the workspace, loads the champion churn model and feeds
the pure functions of ``models.monitoring`` and ``models.desk_outcomes``;
``record_report`` logs its figures and the page to MLflow (experiment
``savedesk-monitoring``). The page itself is ``pipelines.monitor_page``'s
(``write_report``), its plots ``pipelines.monitor_plots``'. The save model's
promises on the same requests come from ``pipelines.monitor_promise``. An
optional table the extract lacks (``save_attempts``) leaves out what needs it,
said in ``MonitorReport.skipped``; the rest is reported.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl

from features.build import build_features
from features.labels import LabelSpec, churn_labels, durable_save_labels
from features.requests import logged_offers
from features.snapshots import snapshot
from features.view import Tables
from models.desk_outcomes import desk_outcomes
from models.drift import SCORE, drift_by_month, drift_table
from models.monitoring import (
    MonitorReport,
    figures,
    list_performance,
    matured_months,
    realized_performance,
    split_from_params,
    warnings,
)
from models.names import CHURN_MODEL
from models.promise import promise_table
from pipelines.monitor_promise import promised_requests
from pipelines.outreach import effect_figures, measured_effects
from pipelines.settings import Settings
from pipelines.training import label_spec
from pipelines.workspace import WorkspaceError, open_workspace
from serving.publication.catalog import LIST_FILES, PublishedCatalog

OUTCOME_DAYS = 365
"""The desk outcomes count the matured requests of this many days (those whose durable window has closed)."""
PROMISE_KEYS = ("offer", "rep_id", "territory")
"""What the saves are judged against the model's promise by."""
NO_ATTEMPTS = (
    "desk outcomes and promises: the extract has no save_attempts table, so no offer, rep or outcome of a call"
    " is known; drift and realized performance are reported without them"
)
ATTEMPT_COLUMNS: dict[str, Any] = {
    "attempt_id": object, "request_id": object, "account_id": object, "attempt_date": "datetime64[ns]",
    "rep_id": object, "rep_channel": object, "offer": object, "rollback_pct": float,
    "credit_amount": float, "new_monthly_rate": float, "accepted": bool,
}  # fmt: skip
"""The ``save_attempts`` columns the desk outcomes read: an extract without the table gives none of its rows."""


def build_report(settings: Settings, as_of: date | None = None) -> MonitorReport:
    """Drift, realized performance and desk outcomes of the workspace as of ``as_of`` (default: its last day).

    Raises:
        WorkspaceError: The workspace fails validation, ``as_of`` lies outside it, or no churn model is champion.
    """
    from pipelines.services import open_tracker

    workspace = open_workspace(settings)
    day = as_of or workspace.end
    workspace.check_as_of(day)
    tracker = open_tracker(settings)
    champion = tracker.champion_version(CHURN_MODEL)
    if champion is None:
        raise WorkspaceError(f"No {CHURN_MODEL} champion in {tracker.display_uri}: run savedesk train first.")
    model = tracker.load_churn_model(champion.model_uri)
    reference = model.metadata.get("reference") or {}
    split = split_from_params(tracker.client.get_run(champion.run_id).data.params)
    tables = workspace.tables

    tonight = build_features(tables, day).to_pandas()
    drift = drift_table(reference, tonight.assign(**{SCORE: model.predict_proba(tonight)}))
    spec = label_spec(settings)
    months = matured_months(split, day, spec.lead_days + spec.horizon_days) if split else []
    frames = {d: _scored(model, snapshot(tables, d, day, spec).to_pandas()) for d in months}
    parts = [f[["as_of", "churn", SCORE]] for f in frames.values()]
    scored = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["as_of", "churn", SCORE])
    decisions, attempts, window = desk_history(tables, day, settings.save.durable_days)
    skipped = [] if "save_attempts" in tables else [NO_ATTEMPTS]
    promised, why = promised_requests(settings, workspace, decisions, window)
    guard = settings.monitor.min_requests
    lists = published_lists(settings.catalog, tables, day, spec)
    models = {"name": champion.name, "version": champion.version, "run_id": champion.run_id,
              "split": split.describe() if split else {}}  # fmt: skip
    return MonitorReport(
        as_of=day,
        models=models,
        drift=drift,
        drift_by_month=drift_by_month(reference, frames),
        performance=realized_performance(scored.dropna(subset=["churn"]), split),
        outcomes=desk_outcomes(
            decisions,
            attempts,
            min_requests=settings.monitor.min_requests,
            min_rollbacks=settings.monitor.min_rollbacks,
        ),
        outcome_window=window,
        thresholds=settings.monitor,
        lists=lists,
        promise={key: promise_table(promised, key, min_requests=guard) for key in PROMISE_KEYS},
        promise_sources={str(k): int(n) for k, n in promised["promise_source"].value_counts().items()},
        skipped=skipped + why,
    )


def _scored(model: Any, frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(**{SCORE: model.predict_proba(frame)})


def desk_history(
    tables: Tables, as_of: date, durable_days: int
) -> tuple[pd.DataFrame, pd.DataFrame, tuple[date, date]]:
    """The answered requests of the ``OUTCOME_DAYS`` whose durable-save window closed by ``as_of``, and their attempts.

    Returns:
        (one row per request with its first inside-sales offer, rep, durable-save label, territory and segment;
        every attempt on those requests made by ``as_of``; the first and last request date counted). Without a
        ``save_attempts`` table both frames are empty.
    """
    last = as_of - timedelta(days=durable_days)
    first = last - timedelta(days=OUTCOME_DAYS - 1)
    if "cancellation_requests" not in tables:  # an optional table: no request, so nothing the desk did is counted
        columns = ("request_id", "account_id", "request_date", "reason", "territory", "segment", "rep_id", "offer")
        empty = pd.DataFrame({c: pd.Series(dtype="datetime64[ns]" if c == "request_date" else object) for c in columns})
        attempts = pd.DataFrame({c: pd.Series(dtype=kind) for c, kind in ATTEMPT_COLUMNS.items()})
        return empty.assign(durable_save=pd.Series(dtype=bool)), attempts, (first, last)
    requests = (
        tables["cancellation_requests"]
        .filter(pl.col("request_date").is_between(first, last))
        .select("request_id", "account_id", "request_date", "reason")
        .join(tables["accounts"].select("account_id", "territory", "segment"), on="account_id", how="left")
        .collect()
        .to_pandas(date_as_object=False)
    )
    labels = durable_save_labels(tables, as_of, LabelSpec(durable_days=durable_days)).to_pandas()
    decisions = requests.merge(logged_offers(tables), on="request_id", how="inner").merge(
        labels[["request_id", "durable_save"]], on="request_id", how="inner"
    )
    if "save_attempts" not in tables:  # an optional table: no offer was logged, so no request is counted
        attempts = pd.DataFrame({c: pd.Series(dtype=kind) for c, kind in ATTEMPT_COLUMNS.items()})
        return decisions, attempts, (first, last)
    attempts = (
        tables["save_attempts"]
        .filter(pl.col("request_id").is_in(decisions["request_id"].to_list()) & (pl.col("attempt_date") <= as_of))
        .collect()
        .to_pandas(date_as_object=False)
    )
    return decisions, attempts, (first, last)


def published_lists(catalog: PublishedCatalog, tables: Tables, as_of: date, spec: LabelSpec) -> pd.DataFrame:
    """``list_performance`` of every proactive list published whose churn window closed by ``as_of``."""
    listed, book = [], {}
    folder, proactive = catalog.folder, LIST_FILES["proactive"]
    for published in sorted(folder.glob("????-??-??")) if folder.is_dir() else []:
        try:
            day = date.fromisoformat(published.name)
        except ValueError:
            continue
        version = catalog.resolved(day)  # resolved once: a re-publication mid-read cannot mix two versions
        if spec.window(day)[1] > as_of or not (version / proactive).is_file():
            continue
        labels = churn_labels(tables, day, as_of, spec).to_pandas()
        book[day] = float(labels["churn"].mean()) if len(labels) else float("nan")
        accounts = pd.read_parquet(version / proactive, columns=["account_id", "churn_probability"])
        listed.append(accounts.merge(labels, on="account_id", how="inner").assign(business_date=pd.Timestamp(day)))
    return list_performance(pd.concat(listed, ignore_index=True) if listed else pd.DataFrame(), book)


def record_report(settings: Settings, report: MonitorReport, page: Path) -> str:
    """Log the report's figures and its page to MLflow (experiment ``savedesk-monitoring``); return the run id."""
    from models.tracking import run_label
    from pipelines.services import open_tracker

    warned = warnings(report, settings.monitor)
    params = {"as_of": report.as_of.isoformat(), "churn.model": f"{report.models['name']} v{report.models['version']}",
              "outcomes.requests_from": report.outcome_window[0].isoformat(),
              "outcomes.requests_to": report.outcome_window[1].isoformat(),
              **{f"monitor.{k}": v for k, v in settings.monitor.model_dump().items()}}  # fmt: skip
    effects = measured_effects(settings, open_workspace(settings).tables, report.as_of)  # the desk's calls
    return open_tracker(settings).log_monitoring_run(
        figures(report, warned) | effect_figures(effects), [page], params=params,
        run_name=run_label("monitor", report.as_of),
    )  # fmt: skip
