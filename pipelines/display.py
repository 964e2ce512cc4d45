"""Rendering command results: rich tables on the terminal for people, strict JSON for tools.

Every ``--json`` output of ``savedesk`` goes through ``print_json`` (``strict_json``): RFC 8259 JSON, keys sorted,
a missing or non-finite figure (NaN, ±Infinity) as ``null``, never ``NaN``; its keys are documented in
``docs/json-outputs.md``.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping
from datetime import date, datetime
from numbers import Integral, Real
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from models.names import CHURN_MODEL, SAVE_MODEL
from models.point_wording import KIND_INTRODUCTIONS

if TYPE_CHECKING:
    from pipelines.settings import Settings


def plain(value: Any) -> Any:
    """``value`` as what strict JSON can hold: NaN and ±Infinity become None, numpy numbers and dates plain values.

    Raises:
        TypeError: A value with no JSON form (an object the command should not be printing).
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Real):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, datetime | date):
        return None if value != value else value.isoformat()  # pd.NaT is a datetime unequal to itself
    if isinstance(value, PurePath):
        return str(value)
    if hasattr(value, "tolist"):  # a numpy scalar (np.bool_, np.float32, …) or array
        return plain(value.tolist())
    import pandas as pd

    if pd.isna(value):  # pd.NA, pd.NaT
        return None
    raise TypeError(f"{type(value).__name__} has no JSON form: {value!r}")


def strict_json(value: Any) -> str:
    """``value`` as strict JSON text (``plain``, keys sorted, indented): ``json.loads`` and ``jq`` read it."""
    return json.dumps(plain(value), indent=2, sort_keys=True, allow_nan=False)


def print_json(value: Any) -> None:
    """Print ``value`` as strict JSON on standard output, alone: what every ``--json`` option prints."""
    sys.stdout.write(strict_json(value) + "\n")
    sys.stdout.flush()


def render_simulation_summary(summary: dict[str, Any], console: Console) -> None:
    """Print a simulated hauler's summary: its size and its headline rates."""
    console.print(
        f"[bold]Simulated hauler[/bold]: {summary['accounts']:,} accounts, "
        f"{summary['start_date']} to {summary['end_date']} (seed {summary['seed']})"
    )
    rows = Table("table", "rows", title="Raw tables")
    for name, count in summary["rows"].items():
        rows.add_row(name, f"{count:,}")
    console.print(rows)
    rates = Table("figure", "value", "plausible range", title="Headline rates")
    rates.add_row("annual churn, commercial", f"{summary['annual_churn_rate_commercial']:.1%}", "8-12 %")
    rates.add_row("controllable share of requests", f"{summary['controllable_share']:.1%}", "55-75 %")
    rates.add_row("durable save rate of answered requests", f"{summary['save_rate']:.1%}", "25-50 %")
    console.print(rates)
    offers = Table("offer the rep made", "share of calls", "durable save rate", title="Saves by offer")
    for offer, rate in summary["save_rate_by_offer"].items():
        offers.add_row(offer, f"{summary['offer_share'][offer]:.1%}", f"{rate:.1%}")
    console.print(offers)


def render_figures(figures: dict[str, Any], console: Console) -> None:
    """Print a flat dict of evaluation figures as a two-column table."""
    table = Table("figure", "value", title="Evaluation")
    for name, value in sorted(figures.items()):
        table.add_row(name, f"{value:.4f}" if isinstance(value, float) else str(value))
    console.print(table)


def render_flow_training(summary: dict[str, Any], console: Console) -> None:
    """Print what the savedesk-train flow's tasks reported: each model's version, gate and headline figures."""
    churn, save = summary["churn"], summary["save"]
    rows = f"{churn['rows']:,} training rows"
    if "sample_share" in churn:
        churned = churn.get("sample_churned_share", 1.0)
        kept = "every churned account" if churned >= 1.0 else f"{churned:.0%} of the churned accounts' rows"
        rows += f" (a case-control sample: {churn['sample_share']:.0%} of the training rows, {kept}, weighted)"
    console.print(f"Churn model: AUC {churn['auc']:.4f} on the test month, trained on {rows}.")
    _render_verdict(CHURN_MODEL, churn, console)
    console.print(churn["uplift"])
    if save["version"] is None:
        console.print(f"[yellow]{save.get('skipped', 'No save model trained.')}[/yellow]")
        return
    value = save.get("policy_value_ratio")
    policy = f", policy value {value:.3f} of the oracle's" if value is not None else ""
    trained = _save_rows(save["training_requests"], save["training_share"])
    console.print(f"Save model: AUC {save['auc']:.4f} on the test requests{policy}, trained on {trained}.")
    _render_verdict(SAVE_MODEL, save, console)


def _save_rows(requests: int, share: float) -> str:
    """How many requests the save model was trained on and, under a row budget, whose."""
    rows = f"{requests:,} requests"
    return rows if share >= 1.0 else f"{rows} (those of a seeded {share:.0%} of the accounts)"


def _render_verdict(name: str, reported: dict[str, Any], console: Console) -> None:
    verdict = "[green]promoted to champion[/green]" if reported["promoted"] else "[yellow]not promoted[/yellow]"
    console.print(f"Registered {name} v{reported['version']} ({reported['model_uri']}): {verdict}")
    console.print(f"Gate: {reported['gate']}")


def render_training(training: Any, outcome: Any, console: Console) -> None:
    """Print what a training run produced and what the gate decided."""
    metrics = training.evaluation.flat("test")
    headline = {k: v for k, v in metrics.items() if ".segment." not in k}
    render_figures(headline, console)
    console.print(training.evaluation.by_segment.round(4).to_string(index=False))
    search = getattr(training, "search", None)
    if search is not None:
        console.print(search.summary())
    verdict = "[green]promoted to champion[/green]" if outcome.promoted else "[yellow]not promoted[/yellow]"
    console.print(f"Registered {CHURN_MODEL} v{outcome.version} ({outcome.model_uri}): {verdict}")
    console.print(f"Gate: {outcome.summary}")


POLICY_ROWS = (
    ("savedesk policy", "policy.value"),
    ("oracle (best allowed offer by the truth)", "policy.oracle_value"),
    ("reps' historical offers", "policy.reps_value"),
    ("always rollback 10 %", "policy.rollback10_value"),
    ("never concede (contract education)", "policy.never_concede_value"),
    ("doubly robust estimate of the policy (history only)", "policy.dr_estimate"),
)


def render_policy_values(figures: dict[str, Any], console: Console) -> None:
    """Print the table of policy values (expected net margin on the test requests), when the truth gave them."""
    if "policy.value" not in figures:
        console.print("No simulator truth in this workspace: the policy's true value cannot be computed.")
        return
    table = Table(
        "policy",
        "expected net margin",
        "savedesk against it",
        title=f"Policy values on {figures['policy.requests']:,} requests",
    )
    for label, key in POLICY_ROWS:
        ratio = figures["policy.value"] / figures[key] - 1 if figures[key] else float("nan")
        compared = "" if key == "policy.value" else f"{ratio:+.1%}"
        if key == "policy.dr_estimate":  # an estimate of the policy's own value: show its error instead
            compared = f"estimate off by {figures['policy.dr_error']:+.1%}"
        table.add_row(label, f"${figures[key]:,.0f}", compared)
    console.print(table)
    console.print(
        f"value / oracle {figures['policy.value_ratio']:.3f}; rollback spend / reps' "
        f"{figures['policy.rollback_spend_ratio_vs_reps']:.3f}; doubly robust error {figures['policy.dr_error']:+.1%} "
        f"(its standard error {figures['policy.dr_relative_stderr']:.1%})"
    )


def render_save_training(training: Any, outcome: Any, console: Console) -> None:
    """Print the save model's figures, the policy's values and what the gate decided."""
    from pipelines.save_training import flat_figures

    figures = flat_figures(training)
    render_figures({k: v for k, v in figures.items() if k.startswith("save.") and ".reason." not in k}, console)
    console.print(f"Save model trained on {_save_rows(len(training.train), training.split.training_share)}.")
    render_policy_values(figures, console)
    verdict = "[green]promoted to champion[/green]" if outcome.promoted else "[yellow]not promoted[/yellow]"
    console.print(f"Registered savedesk-save v{outcome.version} ({outcome.model_uri}): {verdict}")
    console.print(f"Gate: {outcome.summary}")


def render_nightly(summary: dict[str, Any], settings: Any, console: Console) -> None:
    """Print where the lists are, the top of one rep's list with its talking points, and how to look further."""
    import pandas as pd

    folder = summary["published"]
    console.print(
        f"[bold]Published[/bold] {summary['business_date']} → {folder}: {summary['inbound']:,} inbound, "
        f"{summary['proactive']:,} proactive, {summary['flips']:,} flips ({summary['accounts_scored']:,} accounts "
        f"scored; score PSI {summary['psi_score']})"
    )
    for sentence in summary["warnings"]:
        console.print(f"[yellow]Warning: {sentence}[/yellow]")
    inbound = pd.read_parquet(f"{folder}/inbound.parquet")
    points = pd.read_parquet(f"{folder}/talking_points.parquet")
    order = {kind: position for position, kind in enumerate(KIND_INTRODUCTIONS)}
    points = points.assign(page=points["kind"].map(order)).sort_values(["page", "rank"], kind="stable")
    if len(inbound):
        rep = inbound["rep_id"].value_counts().index[0]
        console.print(f"[bold]{rep}[/bold]'s inbound queue, top rows:")
        for row in inbound[inbound["rep_id"] == rep].sort_values("rank").head(3).to_dict("records"):
            console.print(
                f"  {row['rank']}. {row['request_id']} ({row['reason']}): offer [bold]{row['offer']}[/bold], "
                f"expected value ${row['expected_net_value']:,.0f}, P(save) {row['p_save']:.0%}"
            )
            mine = points.loc[points["list_key"] == row["list_key"]].drop_duplicates("sentence")
            for kind, said in zip(mine["kind"], mine["sentence"], strict=True):
                console.print(f"       - {KIND_INTRODUCTIONS.get(kind, kind)}: {said}")
        console.print(f"Rep pages: {folder}/reps/{rep}.html (one per rep, with a CSV beside it)")
    console.print(f"MLflow UI:  .venv/bin/mlflow ui --backend-store-uri {settings.mlflow_tracking_uri}")
    console.print(f"Prefect UI: {prefect_ui_hint(settings)}")


def prefect_ui_hint(settings: Settings) -> str:
    """Where to watch the runs: the running server's UI, or how to start one on this workspace's Prefect home."""
    import os

    url = os.environ.get("PREFECT_API_URL") or settings.prefect.api_url
    if url:
        return url.rstrip("/").removesuffix("/api")
    return f"PREFECT_HOME={settings.prefect_home} .venv/bin/prefect server start  (then open http://127.0.0.1:4200)"
