"""The monitoring report's page: one self-contained HTML file, plots inline, in ``DIR/reports``.

``render`` fills ``templates/monitor.html`` with the report's tables and plots
(``monitor_plots``); ``write_report`` writes it atomically as ``monitor-<as_of>.html``.
"""

from __future__ import annotations

from pathlib import Path

import jinja2
import pandas as pd

from models.monitoring import AFTER_TRAINING, MonitorReport, flagged_gaps, warnings
from pipelines.monitor_plots import plots

TEMPLATES = Path(__file__).parent / "templates"


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
