"""The monitoring report: drift, realized performance and desk outcomes as of a day, as HTML and in MLflow.

``build_report`` opens the workspace, loads the champion churn model and feeds
the pure functions of ``models.monitoring`` and ``models.desk_outcomes``;
``write_report`` renders one self-contained page (plots inline) into
``DIR/reports/monitor-<as_of>.html``;
``record_report`` logs its figures and the page to MLflow (experiment
``savedesk-monitoring``).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd  # noqa: E402
import polars as pl  # noqa: E402
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from features.build import build_features  # noqa: E402
from features.labels import LabelSpec, churn_labels, durable_save_labels  # noqa: E402
from features.requests import logged_offers  # noqa: E402
from features.snapshots import snapshot  # noqa: E402
from features.view import Tables  # noqa: E402
from models.desk_outcomes import desk_outcomes  # noqa: E402
from models.monitoring import (  # noqa: E402
    AFTER_TRAINING,
    SCORE,
    MonitorReport,
    drift_by_month,
    drift_table,
    figures,
    flagged_gaps,
    list_performance,
    matured_months,
    realized_performance,
    split_from_params,
    warnings,
)
from models.names import CHURN_MODEL  # noqa: E402
from pipelines.settings import Settings  # noqa: E402
from pipelines.training import label_spec  # noqa: E402
from pipelines.workspace import WorkspaceError, open_workspace  # noqa: E402
from serving.publication.catalog import LIST_FILES, PublishedCatalog  # noqa: E402

OUTCOME_DAYS = 365
"""The desk outcomes count the matured requests of this many days (those whose durable window has closed)."""
TEMPLATES = Path(__file__).parent / "templates"


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
    )


def _scored(model: Any, frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(**{SCORE: model.predict_proba(frame)})


def desk_history(
    tables: Tables, as_of: date, durable_days: int
) -> tuple[pd.DataFrame, pd.DataFrame, tuple[date, date]]:
    """The answered requests of the ``OUTCOME_DAYS`` whose durable-save window closed by ``as_of``, and their attempts.

    Returns:
        (one row per request with its first inside-sales offer, rep, durable-save label, territory and segment;
        every attempt on those requests made by ``as_of``; the first and last request date counted).
    """
    last = as_of - timedelta(days=durable_days)
    first = last - timedelta(days=OUTCOME_DAYS - 1)
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


# ---- the page --------------------------------------------------------------------------------------------------


def _png(draw: Callable[[Axes], None], size: tuple[float, float] = (8, 4)) -> str:
    """A figure drawn by ``draw`` as a base64 PNG, to inline in the page (no pyplot: it needs no backend)."""
    fig = Figure(figsize=size)
    ax = fig.subplots()
    draw(ax)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def plots(report: MonitorReport, psi_warning: float) -> dict[str, str]:
    """The report's plots as base64 PNGs, by name."""
    out: dict[str, str] = {}
    top = report.drift.head(15).iloc[::-1]

    def drift(ax: Axes) -> None:
        colors = ["tab:red" if v > psi_warning else "tab:blue" for v in top["psi"]]
        ax.barh(top["column"], top["psi"], color=colors)
        ax.axvline(psi_warning, color="grey", linestyle=":", label=f"warning above {psi_warning:.2f}")
        ax.set(xlabel="PSI against the training data", title=f"Drift as of {report.as_of}: the 15 largest")
        ax.legend(loc="lower right")

    out["drift"] = _png(drift, (8, 5))
    monthly = report.drift_by_month
    if len(monthly):
        watched = {SCORE, *monthly.loc[monthly["group"] == "price", "column"], *report.drift.head(3)["column"]}

        def over_time(ax: Axes) -> None:
            for column, part in monthly[monthly["column"].isin(watched)].groupby("column"):
                width = 2 if column == SCORE else 1
                ax.plot(part["as_of"], part["psi"], marker="o", label=str(column), linewidth=width)
            ax.axhline(psi_warning, color="grey", linestyle=":")
            ax.set(ylabel="PSI", title="Drift by month end: the score, the price features and the largest shifts")
            ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))

        out["drift_by_month"] = _png(over_time, (9, 4))
    performance = report.performance
    if len(performance):

        def realized(ax: Axes) -> None:
            ax.plot(performance["as_of"], performance["auc"], marker="o", label="AUC")
            right = ax.twinx()
            right.plot(performance["as_of"], performance["ece"], marker="s", color="tab:orange", label="ECE")
            right.set_ylabel("calibration error (ECE)")
            after = performance[performance["period"] == AFTER_TRAINING]
            if len(after):
                ax.axvspan(after["as_of"].min(), after["as_of"].max(), color="tab:green", alpha=0.1,
                           label="after training")  # fmt: skip
            ax.set(ylabel="AUC", title="Realized performance by month end (labels matured)")
            ax.tick_params(axis="x", rotation=30)
            lines, labels = ax.get_legend_handles_labels()
            more, more_labels = right.get_legend_handles_labels()
            ax.legend(lines + more, labels + more_labels, loc="lower left")

        out["performance"] = _png(realized)
    outcomes = report.outcomes

    def by_offer(ax: Axes) -> None:
        table = outcomes.by_offer
        ax.bar(table["offer"], table["save_rate"])
        ax.set(ylabel="durable save rate", title="Save rate by first offer")
        ax.tick_params(axis="x", rotation=45)

    out["by_offer"] = _png(by_offer)

    min_rollbacks = report.thresholds.min_rollbacks
    compared = outcomes.concessions[outcomes.concessions["rollbacks"] >= min_rollbacks]

    def concessions(ax: Axes) -> None:
        compared.pivot(index="reason", columns="segment", values="mean_rollback_pct").plot.bar(ax=ax)
        ax.set(ylabel="mean rollback %", title=f"Rollback size by reason and segment (≥ {min_rollbacks} rollbacks)")
        ax.tick_params(axis="x", rotation=30)
        ax.legend(title="segment", loc="upper left", bbox_to_anchor=(1.0, 1.0))

    if len(compared):
        out["concessions"] = _png(concessions)
    return out


def _table(frame: pd.DataFrame) -> str:
    return frame.to_html(index=False, border=0, classes="grid", float_format=lambda v: f"{v:,.3f}", na_rep="")


def mix_rows(table: pd.DataFrame, key: str) -> list[dict[str, str]]:
    """A ``mix_adjusted`` table's rows as the page shows them: rates in %, the chance range as low–high saves."""
    return [
        {"name": str(r[key]), "requests": f"{r['requests']:,}", "saved": f"{r['saved']:,}",
         "save_rate": f"{r['save_rate']:.1%}", "expected": f"{r['expected']:.1f}",
         "expected_rate": f"{r['expected_rate']:.1%}", "ratio": f"{r['ratio']:.2f}" if pd.notna(r["ratio"]) else "",
         "range": f"{r['low']}–{r['high']}", "verdict": r["verdict"]}
        for r in table.to_dict("records")
    ]  # fmt: skip


def render(report: MonitorReport) -> str:
    """The report as one self-contained HTML page."""
    thresholds = report.thresholds
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
    )
    outcomes = report.outcomes
    performance = report.performance.assign(as_of=report.performance["as_of"].astype(str).str[:10])
    return environment.get_template("monitor.html").render(
        report=report,
        thresholds=thresholds,
        warnings=warnings(report, thresholds),
        plots=plots(report, thresholds.psi_warning),
        drift=_table(report.drift[report.drift["psi"] > 0.1].head(30)),
        performance=_table(performance),
        lists=_table(report.lists.assign(business_date=report.lists["business_date"].astype(str).str[:10])),
        listed=len(report.lists),
        totals=outcomes.totals,
        by_offer=_table(outcomes.by_offer),
        by_territory=_table(outcomes.by_territory),
        by_rep=_table(outcomes.by_rep),
        rep_mix=mix_rows(outcomes.rep_mix, "rep_id"),
        territory_mix=mix_rows(outcomes.territory_mix, "territory"),
        mix_rates=_table(outcomes.mix_rates),
        by_month=_table(outcomes.by_month),
        flips=_table(outcomes.flips),
        concessions=_table(outcomes.concessions),
        gaps=_table(outcomes.gaps),
        flagged=flagged_gaps(outcomes.gaps, thresholds.concession_gap_pct)["reason"].tolist(),
        after_training=bool((report.performance["period"] == AFTER_TRAINING).any()),
        durable_days=(report.as_of - report.outcome_window[1]).days,  # the window ends that many days before
    )


def write_report(report: MonitorReport, folder: Path) -> Path:
    """Write the report's page as ``folder/monitor-<as_of>.html`` (atomically) and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"monitor-{report.as_of.isoformat()}.html"
    partial = path.with_suffix(".partial")
    partial.write_text(render(report), encoding="utf-8")
    partial.replace(path)
    return path


def record_report(settings: Settings, report: MonitorReport, page: Path) -> str:
    """Log the report's figures and its page to MLflow (experiment ``savedesk-monitoring``); return the run id."""
    from pipelines.services import open_tracker

    warned = warnings(report, settings.monitor)
    params = {"as_of": report.as_of.isoformat(), "churn.model": f"{report.models['name']} v{report.models['version']}",
              "outcomes.requests_from": report.outcome_window[0].isoformat(),
              "outcomes.requests_to": report.outcome_window[1].isoformat(),
              **{f"monitor.{k}": v for k, v in settings.monitor.model_dump().items()}}  # fmt: skip
    return open_tracker(settings).log_monitoring_run(
        figures(report, warned), [page], params=params, run_name=f"monitor-{report.as_of.isoformat()}"
    )
