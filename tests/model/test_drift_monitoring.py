"""Drift monitoring end to end: a hauler whose price increases grow after the training period is reported.

Two haulers share everything up to 2026-04-01 (the regime change draws no
random numbers, so their histories are identical until then): one keeps its
pricing, the other adds 10 points to every anniversary increase from that day
on. The churn model is trained once, with ``savedesk train --as-of`` on the
shifted hauler's early period (every feature month before the change); the
control workspace judges the same champion by pointing at the same registry.
The monitoring report as of the extract's last day must flag the price
features of the shifted hauler, in ``warnings()``, in the HTML page and in
MLflow, and must not flag them for the control.
"""

from __future__ import annotations

import html
from dataclasses import replace
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from models.monitoring import AFTER_TRAINING, IN_TRAINING, MonitorReport, warnings
from pipelines.cli import app
from pipelines.monitor import build_report
from pipelines.monitor_page import write_report
from pipelines.services import open_tracker
from pipelines.settings import load_settings
from sources.simulator import SimulationConfig, simulate_hauler, write_hauler

pytestmark = pytest.mark.slow

SHIFT = date(2026, 4, 1)
TRAIN_AS_OF = "2026-03-31"
"""The training run's test month: its features, and every training month's, predate the shift."""
HAULER = SimulationConfig(accounts=3_000, months=26, seed=17, surcharges=False)
"""From September 2024: a year of history before the first training month (2025-08-31), so yearly price
features (last increase, change over 365 days) are complete in the training profile. Territory surcharges,
drawn at random, are real price drift of their own (a month of large fuel surcharges moves every surcharged
account's last increase); they are off so that the regime change is the only price movement."""
RELAXED = "[churn]\ntrain_months = 3\n\n[churn.gate]\nmin_auc = 0.55\n\n[save.gate]\nmin_auc = 0.5\nmax_ece = 0.5\n"
INCREASE_FEATURES = ("last_increase_pct", "rate_change_pct_365d")
"""The price features that measure the size of increases: the ones the regime change must move."""


def _psi(report: MonitorReport) -> dict[str, float]:
    return dict(zip(report.drift["column"], report.drift["psi"], strict=True))


@pytest.fixture(scope="module")
def haulers(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(shifted, control) workspaces; the champion is trained on the shifted one and shared by both."""
    shifted, control = tmp_path_factory.mktemp("shifted"), tmp_path_factory.mktemp("control")
    write_hauler(simulate_hauler(replace(HAULER, price_shift_from=SHIFT, price_shift_pct=10.0)), shifted)
    write_hauler(simulate_hauler(HAULER), control)
    (shifted / "savedesk.toml").write_text(RELAXED)
    settings = load_settings(shifted)
    registry = f'[mlflow]\ntracking_uri = "{settings.mlflow_tracking_uri}"\n'
    registry += f'artifact_root = "{settings.mlflow_artifact_root}"\n'
    (control / "savedesk.toml").write_text(RELAXED + registry)
    result = CliRunner().invoke(app, ["train", "--data", str(shifted), "--as-of", TRAIN_AS_OF])
    assert result.exit_code == 0, result.output
    assert "savedesk-churn v1 (models:/savedesk-churn/1): promoted" in " ".join(result.output.split())
    return shifted, control


def test_the_regime_change_leaves_the_history_before_it_untouched(haulers: tuple[Path, Path]) -> None:
    shifted, control = (pd.read_parquet(p / "raw" / "rate_changes.parquet") for p in haulers)
    before = pd.Timestamp(SHIFT)
    columns = ["account_id", "effective_date", "change_type", "old_rate", "new_rate"]  # change and line ids renumber
    early = [
        f.loc[pd.to_datetime(f["effective_date"]) < before, columns].sort_values(columns, ignore_index=True)
        for f in (shifted, control)
    ]
    pd.testing.assert_frame_equal(early[0], early[1])
    late = [f[pd.to_datetime(f["effective_date"]) >= before] for f in (shifted, control)]
    increase = [(f["new_rate"] / f["old_rate"])[f["change_type"] == "annual_increase"].mean() for f in late]
    assert increase[0] > increase[1] + 0.08


def test_price_drift_after_training_is_reported(haulers: tuple[Path, Path]) -> None:
    shifted, _ = haulers
    settings = load_settings(shifted)
    # Two published proactive lists: one whose churn window has closed by the report's day, one still open.
    accounts = pd.read_parquet(shifted / "raw" / "accounts.parquet", columns=["account_id"]).head(300)
    for day in ("2026-04-30", "2026-10-31"):
        (settings.published_dir / day).mkdir(parents=True)
        accounts.assign(churn_probability=0.05).to_parquet(settings.published_dir / day / "proactive.parquet")
    report = build_report(settings)
    lists = report.lists.to_dict("records")
    assert [str(r["business_date"])[:10] for r in lists] == ["2026-04-30"]
    assert 0 < lists[0]["listed"] <= 300 and lists[0]["predicted"] == pytest.approx(0.05)
    assert 0.0 <= lists[0]["observed"] <= 1.0 and lists[0]["book_rate"] > 0
    threshold = settings.monitor.psi_warning
    psi = _psi(report)
    for feature in INCREASE_FEATURES:
        assert psi[feature] > threshold, (feature, psi[feature])
    warned = warnings(report, settings.monitor)
    sentence = f"last_increase_pct has drifted: PSI {psi['last_increase_pct']:.2f} > {threshold:.2f} since training"
    assert sentence in warned
    page = write_report(report, settings.reports_dir).read_text()
    assert html.escape(sentence) in page
    # Reps are judged against their mix of calls: on the whole desk, expected saves are the saves made.
    reps = report.outcomes.rep_mix
    assert reps["expected"].sum() == pytest.approx(reps["saved"].sum()) and reps["saved"].sum() > 0
    below = set(reps.loc[reps["verdict"] == "below", "rep_id"])
    assert {s.split()[1] for s in warned if s.startswith("rep ")} == below
    assert "By rep: saves against their mix of calls" in page
    # Months the run used and months it never saw are told apart.
    assert {IN_TRAINING, AFTER_TRAINING} <= set(report.performance["period"])
    assert (report.performance.loc[report.performance["period"] == AFTER_TRAINING, "as_of"] > TRAIN_AS_OF).all()


def test_the_command_prints_the_warning_and_logs_the_drift_to_mlflow(haulers: tuple[Path, Path]) -> None:
    shifted, _ = haulers
    result = CliRunner().invoke(app, ["monitor", "--data", str(shifted)])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "last_increase_pct has drifted: PSI" in said
    page = shifted / "reports" / "monitor-2026-10-31.html"
    assert f"→ {page}" in said
    run_id = said.split("MLflow run ")[1].split()[0]
    run = open_tracker(load_settings(shifted)).client.get_run(run_id)
    assert run.data.metrics["drift.last_increase_pct"] > load_settings(shifted).monitor.psi_warning
    assert run.data.metrics["desk.reps_below"] == said.count("saves fewer than their mix of calls predicts")
    assert all(run.data.metrics[k] >= 0 for k in run.data.metrics if k.endswith(".save_ratio"))
    assert run.data.params["as_of"] == "2026-10-31"


def test_the_same_hauler_without_the_shift_keeps_its_price_features_stable(haulers: tuple[Path, Path]) -> None:
    _, control = haulers
    settings = load_settings(control)
    report = build_report(settings)
    psi = _psi(report)
    price = [c for c in report.drift.loc[report.drift["group"] == "price", "column"]]
    assert set(INCREASE_FEATURES) <= set(price)
    assert all(psi[c] <= settings.monitor.psi_warning for c in price), {c: psi[c] for c in price}
    assert not [s for s in warnings(report, settings.monitor) if any(c in s for c in price)]
