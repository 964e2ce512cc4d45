"""The monitoring report's page: one self-contained HTML file, plots inline, in ``DIR/reports``.

``render`` fills ``templates/monitor.html`` with the report's tables and plots
(``monitor_plots``); ``write_report`` writes it atomically as ``monitor-<as_of>.html``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd

from models.drift import moves_by_design
from models.monitoring import AFTER_TRAINING, MonitorReport, flagged_gaps, warnings
from pipelines.monitor_plots import plots
from serving.formatting import dollars, number

TEMPLATES = Path(__file__).parent / "templates"


def rate(value: Any) -> str:
    """A rate for people, to a tenth of a percent: ``0.0978`` → ``9.8 %`` (empty when missing)."""
    found = number(value)
    return "" if found is None else f"{100 * found:.1f} %"


def points(value: Any) -> str:
    """A difference of two rates in percentage points, signed: ``-0.021`` → ``−2.1 points``."""
    found = number(value)
    return "" if found is None else f"{100 * found:+.1f} points".replace("-", "−")


def count(value: Any) -> str:
    """A count with thousands separators: ``12345.0`` → ``12,345``."""
    found = number(value)
    return "" if found is None else f"{found:,.0f}"


def _fixed(digits: int) -> Callable[[Any], str]:
    def show(value: Any) -> str:
        found = number(value)
        return "" if found is None else f"{found:,.{digits}f}"

    return show


COLUMN_FORMATS: dict[str, Callable[[Any], str]] = {
    **dict.fromkeys(("revenue_kept", "rollback_spend", "expected_value"), dollars),
    **dict.fromkeys(
        (
            "save_rate",
            "base_rate",
            "mean_score",
            "predicted",
            "observed",
            "book_rate",
            "flip_share",
            "rollback_share",
            "expected_rate",
            "promised_rate",
        ),
        rate,
    ),  # fmt: skip
    **dict.fromkeys(("gap", "gap_low", "gap_high"), points),
    **dict.fromkeys(("requests", "saved", "rows", "listed", "flips", "flips_saved", "rollbacks", "low", "high"), count),
    **dict.fromkeys(("mean_rollback_pct", "high_pct", "low_pct"), lambda v: f"{v:.1f} %" if pd.notna(v) else ""),
    "gap_pct": lambda v: f"{v:.1f} points" if pd.notna(v) else "",
    **dict.fromkeys(("lift", "ratio", "promised_saves", "expected"), _fixed(2)),
    **dict.fromkeys(("psi", "auc", "ece"), _fixed(3)),
    "p_below": lambda v: f"{v:.2%}" if pd.notna(v) else "",
}
"""How the report's tables show each column: money in dollars, rates in %, counts whole; others to 3 places."""


def _table(frame: pd.DataFrame) -> str:
    shown = frame.copy()
    for column in shown.columns:
        if column in COLUMN_FORMATS:
            shown[column] = frame[column].map(COLUMN_FORMATS[column]).astype(object)
    shown.columns = [str(c).replace("_", " ") for c in shown.columns]
    return shown.to_html(index=False, border=0, classes="grid", float_format=lambda v: f"{v:,.3f}", na_rep="")


def mix_rows(table: pd.DataFrame, key: str) -> list[dict[str, str]]:
    """A ``mix_adjusted`` table's rows as the page shows them: rates in %, the chance range as low–high saves."""
    return [
        {"name": str(r[key]), "requests": f"{r['requests']:,}", "saved": f"{r['saved']:,}",
         "save_rate": rate(r["save_rate"]), "expected": f"{r['expected']:.1f}",
         "expected_rate": rate(r["expected_rate"]), "ratio": f"{r['ratio']:.2f}" if pd.notna(r["ratio"]) else "",
         "range": f"{r['low']:,}–{r['high']:,}", "verdict": r["verdict"]}
        for r in table.to_dict("records")
    ]  # fmt: skip


def promise_rows(table: pd.DataFrame | None, key: str) -> list[dict[str, str]]:
    """A ``promise_table``'s rows as the page shows them: realised against promised rate, the gap and its band."""
    return [
        {"name": str(r[key]), "requests": f"{r['requests']:,}", "saved": f"{r['saved']:,}",
         "save_rate": rate(r["save_rate"]), "promised_rate": rate(r["promised_rate"]), "gap": points(r["gap"]),
         "band": f"{points(r['gap_low'])} to {points(r['gap_high'])}", "range": f"{r['low']:,}–{r['high']:,}",
         "verdict": r["verdict"]}
        for r in ([] if table is None else table.to_dict("records"))
    ]  # fmt: skip


def render(report: MonitorReport) -> str:
    """The report as one self-contained HTML page."""
    thresholds = report.thresholds
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
    )
    environment.filters |= {"rate": rate, "dollars": dollars, "count": count}
    outcomes = report.outcomes
    designed = report.drift["column"].map(moves_by_design).astype(bool)
    performance = report.performance.assign(as_of=report.performance["as_of"].astype(str).str[:10])
    return environment.get_template("monitor.html").render(
        report=report,
        thresholds=thresholds,
        warnings=warnings(report, thresholds),
        plots=plots(report, thresholds.psi_warning),
        drift=_table(report.drift[(report.drift["psi"] > 0.1) & ~designed].head(30)),
        by_design=_table(report.drift[designed]) if designed.any() else "",
        promise_offers=promise_rows(report.promise.get("offer"), "offer"),
        promise_reps=promise_rows(report.promise.get("rep_id"), "rep_id"),
        promise_territories=promise_rows(report.promise.get("territory"), "territory"),
        promise_sources=report.promise_sources,
        skipped=report.skipped,
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
