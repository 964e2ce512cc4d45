"""The monitoring report's plots: drift, realized performance and desk outcomes, drawn as inline PNGs.

``plots`` draws each figure with matplotlib's object API (no pyplot, so no backend
to configure) and returns it base64-encoded, for ``monitor_page`` to inline.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from models.drift import SCORE, moves_by_design
from models.monitoring import AFTER_TRAINING, MonitorReport


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
    designed = report.drift["column"].map(moves_by_design).astype(bool)
    top = report.drift[~designed].head(15).iloc[::-1]  # features that move by design have their own table

    def drift(ax: Axes) -> None:
        colors = ["tab:red" if v > psi_warning else "tab:blue" for v in top["psi"]]
        ax.barh(top["column"], top["psi"], color=colors)
        ax.axvline(psi_warning, color="grey", linestyle=":", label=f"warning above {psi_warning:.2f}")
        ax.set(xlabel="PSI against the training data",
               title=f"Drift as of {report.as_of}: the 15 largest (features moving by design apart)")  # fmt: skip
        ax.legend(loc="lower right")

    out["drift"] = _png(drift, (8, 5))
    monthly = report.drift_by_month
    if len(monthly):
        watched = {SCORE, *monthly.loc[monthly["group"] == "price", "column"], *top.iloc[::-1].head(3)["column"]}
        watched = {c for c in watched if not moves_by_design(c)}

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

    promised = report.promise.get("offer")

    def by_offer(ax: Axes) -> None:
        table = outcomes.by_offer
        ax.bar(table["offer"], table["save_rate"], label="durable save rate")
        if promised is not None and len(promised):
            shown = promised.set_index("offer").reindex(table["offer"])
            low, high = shown["low"] / shown["requests"], shown["high"] / shown["requests"]
            ax.errorbar(table["offer"], shown["promised_rate"], fmt="o", color="black", label="promised, chance range",
                        yerr=[shown["promised_rate"] - low, high - shown["promised_rate"]], capsize=3)  # fmt: skip
            ax.legend(loc="upper right")
        ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        ax.set(ylabel="durable save rate", title="Save rate by first offer, against the model's promise")
        ax.tick_params(axis="x", rotation=45)

    if len(outcomes.by_offer):
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
