"""The gate's absolute thresholds judged with intervals sized by the sample (``models.score_intervals``).

A figure measured on a few hundred rows proves little either way: a calibrated model's ECE on 127 requests is
often above the save gate's 0.08 by chance alone. The gate refuses only what is clearly past a threshold and says
so when the sample decided (a caveat, recorded on the version and in the audit log).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from models.churn import ChurnModel
from models.evaluation import weighted_auc, weighted_calibration_error
from models.gate import GateRules, decide
from models.metrics import expected_calibration_error
from models.score_intervals import MetricInterval, score_intervals
from models.tracking import read_audit_log

if TYPE_CHECKING:
    from conftest import MakeTracker, Months

SAVE_RULES = GateRules(min_auc=0.70, max_ece=0.08)


def sample(n: int, miscalibration: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels and scores of ``n`` rows whose true rate is the score plus ``miscalibration``."""
    rng = np.random.default_rng(seed)
    p = rng.beta(2, 2, n)
    y = (rng.random(n) < np.clip(p + miscalibration, 0, 1)).astype(int)
    return y, p


def test_the_intervals_hold_the_measured_figures_and_are_seeded() -> None:
    y, p = sample(600, 0.0, 1)
    accounts = np.arange(len(y))
    first = score_intervals(y, p, accounts, rounds=300, seed=3)
    assert first == score_intervals(y, p, accounts, rounds=300, seed=3)
    assert first["auc"].value == pytest.approx(roc_auc_score(y, p))
    assert first["ece"].value == pytest.approx(expected_calibration_error(y, p))
    assert first["auc"].low < first["auc"].value < first["auc"].high
    assert 0.0 <= first["ece"].low < first["ece"].high
    assert first["auc"].rows == first["auc"].accounts == 600


def test_an_accounts_rows_are_drawn_together() -> None:
    """60 accounts judged on 10 months each (the same row each month) are 60 draws, not 600: a wider interval."""
    y, p = sample(60, 0.0, 2)
    y, p = np.repeat(y, 10), np.repeat(p, 10)
    alone = score_intervals(y, p, np.arange(600), rounds=300, seed=1)["auc"]
    grouped = score_intervals(y, p, np.arange(600) // 10, rounds=300, seed=1)["auc"]
    assert grouped.accounts == 60
    assert grouped.high - grouped.low > alone.high - alone.low


def test_the_intervals_narrow_as_the_sample_grows() -> None:
    widths = []
    for n in (150, 1_500, 15_000):
        y, p = sample(n, 0.0, 4)
        found = score_intervals(y, p, np.arange(n), rounds=200, seed=0)
        widths.append((found["auc"].high - found["auc"].low, found["ece"].high - found["ece"].low))
    assert widths[0][0] > widths[1][0] > widths[2][0]
    assert widths[0][1] > widths[1][1] > widths[2][1]


def test_a_calibrated_model_on_127_requests_is_not_refused_for_noise() -> None:
    """Noise alone pushes the point ECE past 0.08 on some samples; never the interval's lower bound."""
    points, refused = [], []
    for seed in range(30):
        y, p = sample(127, 0.0, seed)
        found = score_intervals(y, p, np.arange(127), rounds=400, seed=seed)
        points.append(found["ece"].value)
        refused.append(not decide({"auc": found["auc"].value, "ece": found["ece"].value}, None, SAVE_RULES,
                                  intervals=found).promote)  # fmt: skip
    assert max(points) > SAVE_RULES.max_ece  # the noise the interval must see through
    assert sum(refused) <= 1  # at most the odd sample whose AUC is clearly poor by chance


def test_clearly_miscalibrated_and_clearly_weak_models_are_refused() -> None:
    y, p = sample(20_000, 0.06, 5)
    found = score_intervals(y, p, np.arange(len(y)), rounds=200, seed=0)
    decision = decide({"auc": found["auc"].value, "ece": found["ece"].value}, None, GateRules(max_ece=0.03),
                      intervals=found)  # fmt: skip
    assert not decision.promote and found["ece"].low > 0.03
    assert "ece lower bound <= max_ece" in {c.rule for c in decision.checks if not c.passed}

    rng = np.random.default_rng(6)
    noise = rng.random(len(y))  # a model that learned nothing
    blind = score_intervals(y, noise, np.arange(len(y)), rounds=200, seed=0)
    refused = decide({"auc": blind["auc"].value, "ece": 0.0}, None, GateRules(min_auc=0.65), intervals=blind)
    assert not refused.promote and blind["auc"].high < 0.65


def test_a_case_control_samples_intervals_are_of_its_weighted_figures() -> None:
    """A calibrated model judged on every churner and a quarter of the stayed accounts, each stayed row weighing 4.

    Unweighted, the sample's churn rate is four times the book's and the model looks badly miscalibrated; the
    weighted intervals hold ``models.evaluation``'s weighted figures and pass the gate as the whole book would.
    """
    rng = np.random.default_rng(8)
    p = rng.beta(1, 12, 40_000)
    y = (rng.random(len(p)) < p).astype(int)
    kept = (y == 1) | (rng.random(len(p)) < 0.25)
    y, p = y[kept], p[kept]
    weights, accounts = np.where(y == 1, 1.0, 4.0), np.arange(len(y))
    found = score_intervals(y, p, accounts, rounds=200, seed=0, weights=weights)
    blind = score_intervals(y, p, accounts, rounds=200, seed=0)

    assert found["auc"].value == pytest.approx(weighted_auc(y, p, weights))
    assert found["ece"].value == pytest.approx(weighted_calibration_error(y, p, weights))
    assert found["auc"].low < found["auc"].value < found["auc"].high
    assert found["ece"].low <= found["ece"].value <= found["ece"].high
    rules = GateRules(min_auc=0.6, max_ece=0.03)
    assert decide({"auc": found["auc"].value, "ece": found["ece"].value}, None, rules, intervals=found).promote
    assert blind["ece"].low > rules.max_ece  # what the gate saw when the intervals ignored the weights


def test_weights_must_be_one_per_account() -> None:
    y, p = sample(100, 0.0, 9)
    with pytest.raises(ValueError, match="same for every row of an account"):
        score_intervals(y, p, np.arange(100) // 2, rounds=10, weights=np.arange(100, dtype=float))
    even = score_intervals(y, p, np.arange(100) // 2, rounds=50, seed=2, weights=np.ones(100))
    assert even["auc"] == score_intervals(y, p, np.arange(100) // 2, rounds=50, seed=2)["auc"]


def interval(metric: str, value: float, low: float, high: float, rows: int = 127) -> MetricInterval:
    return MetricInterval(metric, value, low, high, 0.95, 1000, 7, rows, rows, "test")


def test_a_figure_not_clearly_past_its_threshold_passes_with_a_caveat_in_the_record() -> None:
    intervals = {"auc": interval("auc", 0.76, 0.68, 0.84), "ece": interval("ece", 0.144, 0.051, 0.220)}
    decision = decide({"auc": 0.76, "ece": 0.144}, None, SAVE_RULES, intervals=intervals, rows_word="requests")
    assert decision.promote
    assert decision.caveats == [
        "promoted on 127 requests: ECE 0.144 (noise-corrected interval 0.051 to 0.220) is not clearly above 0.080"
    ]
    assert "caveat: promoted on 127 requests" in decision.summary()
    record = decision.record()
    assert record["caveats"] == decision.caveats and record["intervals"]["ece"]["low"] == 0.051
    # Without intervals the point figures decide, as before.
    assert not decide({"auc": 0.76, "ece": 0.144}, None, SAVE_RULES).promote
    # A clearly good model carries no caveat, and nothing is recorded for one.
    sure = {"auc": interval("auc", 0.8, 0.75, 0.85), "ece": interval("ece", 0.03, 0.01, 0.05)}
    calm = decide({"auc": 0.8, "ece": 0.03}, None, SAVE_RULES, intervals=sure)
    assert calm.promote and calm.caveats == [] and calm.record()["caveats"] is None


def test_an_auc_below_the_floor_whose_interval_reaches_it_passes_with_a_caveat() -> None:
    intervals = {"auc": interval("auc", 0.66, 0.58, 0.74), "ece": interval("ece", 0.05, 0.02, 0.09)}
    decision = decide({"auc": 0.66, "ece": 0.05}, None, SAVE_RULES, intervals=intervals)
    assert decision.promote and "AUC 0.660 (interval 0.580 to 0.740) is not clearly below 0.700" in decision.caveats[0]
    clearly = {"auc": interval("auc", 0.60, 0.52, 0.68), "ece": interval("ece", 0.05, 0.02, 0.09)}
    assert not decide({"auc": 0.60, "ece": 0.05}, None, SAVE_RULES, intervals=clearly).promote


def test_the_caveat_reaches_the_version_tags_and_the_audit_log(
    make_tracker: MakeTracker, tmp_path: Path, months: Months, weak_model: ChurnModel
) -> None:
    tracker = make_tracker(tmp_path)
    version = tracker.log_training_run(weak_model, months.train, metrics={"test.auc": 0.6})
    intervals = {"auc": interval("auc", 0.76, 0.68, 0.84), "ece": interval("ece", 0.144, 0.051, 0.220)}
    decision = decide({"auc": 0.76, "ece": 0.144}, None, SAVE_RULES, intervals=intervals, rows_word="requests")
    tracker.apply_gate("savedesk-churn", version.version, decision)
    entry = read_audit_log(tracker.audit_log)[-1]
    assert entry["action"] == "promoted" and entry["caveats"] == decision.caveats
    assert entry["intervals"]["ece"]["value"] == 0.144
    tags = tracker.client.get_model_version("savedesk-churn", str(version.version)).tags
    assert "not clearly above 0.080" in tags["gate.summary"]
