"""The earned promotion gate: a paired interval of the AUC gain, list changes, and every decision audited.

The interval and the list changes are checked as functions first (properties that hold on any data); then the
gate runs on registered models of the small test hauler: the champion retrained with another seed (a gain by
noise only) is refused, the full model against a champion crippled to three features is promoted, and both
decisions reach the audit log and the MLflow run with their interval and list changes.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from features.registry import categorical_columns, model_columns
from models.churn import ChurnModel, train_churn_model
from models.comparison import paired_auc_interval
from models.gate import GateRules, decide
from models.list_changes import ListChanges, churn_list_changes, compare, top_keys
from models.names import CHURN_MODEL
from models.params import ChurnParams, EmpcParams
from models.tracking import Tracker, read_audit_log
from pipelines.promotion import churn_changes
from pipelines.training import gate_churn
from serving.roster import Roster

if TYPE_CHECKING:
    from conftest import MakeTracker, Months

# The test hauler is small (about 100 churners in the test month): absolute thresholds as in test_tracking.py.
RULES = GateRules(min_auc=0.52, max_ece=0.05, max_ece_increase=0.02, segment_auc_margin=0.1, min_segment_rows=200)
PER_REP = 20


def synthetic(rows: int = 4000, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels and two scores: a weak one and a better one, both noisy."""
    rng = np.random.default_rng(seed)
    y = (rng.random(rows) < 0.1).astype(int)
    return y, y * 0.3 + rng.random(rows), y * 0.8 + rng.random(rows)


# --- the paired interval ------------------------------------------------------------------------------------------


def test_the_interval_holds_the_observed_gain_and_is_seeded() -> None:
    y, weak, strong = synthetic()
    interval = paired_auc_interval(y, weak, strong, np.arange(len(y)), rounds=300, seed=3)
    observed = roc_auc_score(y, strong) - roc_auc_score(y, weak)
    assert interval.difference == pytest.approx(observed, abs=1e-12)
    assert interval.low < interval.difference < interval.high
    assert interval == paired_auc_interval(y, weak, strong, np.arange(len(y)), rounds=300, seed=3)
    # Swapping the models mirrors the interval.
    mirrored = paired_auc_interval(y, strong, weak, np.arange(len(y)), rounds=300, seed=3)
    assert mirrored.low == pytest.approx(-interval.high) and mirrored.high == pytest.approx(-interval.low)


def test_a_model_against_itself_has_a_zero_interval_and_is_not_promoted() -> None:
    y, weak, _ = synthetic()
    interval = paired_auc_interval(y, weak, weak, np.arange(len(y)), rounds=100)
    assert (interval.difference, interval.low, interval.high) == (0.0, 0.0, 0.0)
    decision = decide({"auc": 0.7, "ece": 0.01}, {"auc": 0.7, "ece": 0.01}, RULES, interval=interval)
    assert not decision.promote


def test_an_accounts_rows_are_drawn_together() -> None:
    y, weak, strong = synthetic(rows=1500)
    by_row = paired_auc_interval(y, weak, strong, np.arange(len(y)), rounds=300, seed=5)
    # Every account judged on three months with the same scores: drawn as accounts, the interval is the one of
    # the single month; drawn as rows, it would look three times as sure.
    tripled = [np.tile(a, 3) for a in (y, weak, strong)]
    accounts = np.tile(np.arange(len(y)), 3)
    by_account = paired_auc_interval(*tripled, accounts, rounds=300, seed=5)
    assert by_account.low == pytest.approx(by_row.low) and by_account.high == pytest.approx(by_row.high)
    as_rows = paired_auc_interval(*tripled, np.arange(len(accounts)), rounds=300, seed=5)
    assert as_rows.high - as_rows.low < 0.8 * (by_account.high - by_account.low)


def test_the_interval_refuses_mismatched_or_one_class_rows() -> None:
    y, weak, strong = synthetic(rows=50)
    with pytest.raises(ValueError, match="one value per row"):
        paired_auc_interval(y, weak, strong[:-1], np.arange(len(y)))
    with pytest.raises(ValueError, match="one class"):
        paired_auc_interval(np.zeros(50), weak, strong, np.arange(50))


def test_a_case_control_samples_interval_is_of_the_weighted_gain() -> None:
    y, weak, strong = synthetic(rows=3000, seed=4)
    weights = np.where(y == 1, 1.0, 4.0)  # stayed accounts drawn one in four, weighing four
    interval = paired_auc_interval(y, weak, strong, np.arange(len(y)), rounds=300, seed=3, weights=weights)
    weighted = roc_auc_score(y, strong, sample_weight=weights) - roc_auc_score(y, weak, sample_weight=weights)
    assert interval.difference == pytest.approx(weighted, abs=1e-12)
    assert interval.low < interval.difference < interval.high
    with pytest.raises(ValueError, match="same for every row of an account"):
        paired_auc_interval(y, weak, strong, np.arange(len(y)) // 2, rounds=10, weights=np.arange(len(y)) % 2 + 1.0)


# --- the gate's rule --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("low", "reason", "promoted"),
    [
        (0.004, None, True),  # a significant gain needs no reason
        (-0.002, None, False),  # non-inferior only: refused without a reason
        (-0.002, "drops the survey table we no longer receive", True),
        (-0.02, "drops the survey table we no longer receive", False),  # worse than the margin: no reason helps
        (-0.002, "   ", False),  # a blank reason is no reason
    ],
)
def test_a_gain_must_be_significant_or_non_inferior_with_a_reason(
    low: float, reason: str | None, promoted: bool
) -> None:
    y, weak, strong = synthetic(rows=200)
    interval = replace(paired_auc_interval(y, weak, strong, np.arange(200), rounds=20), low=low, high=low + 0.03)
    metrics = {"auc": 0.70, "ece": 0.01}
    decision = decide(metrics, metrics, RULES, champion_label="v1", interval=interval, reason=reason)
    assert decision.promote is promoted
    assert decision.interval is interval and decision.record()["interval"]["low"] == low
    assert f"{interval.low:+.4f} to {interval.high:+.4f}" in decision.summary()
    if not promoted and low > -RULES.noninferiority_margin:
        assert "declared reason" in decision.summary()


def test_without_a_champion_the_absolute_thresholds_decide() -> None:
    assert decide({"auc": 0.60, "ece": 0.02}, None, RULES).promote
    refused = decide({"auc": 0.51, "ece": 0.02}, None, RULES)
    assert (
        not refused.promote
        and refused.interval is None
        and refused.reasons == ["auc >= min_auc: 0.5100 vs 0.5200 (FAILED)"]
    )


# --- list changes -----------------------------------------------------------------------------------------------------


def test_list_changes_balance_and_do_not_depend_on_row_order() -> None:
    rng = np.random.default_rng(2)
    book = pd.DataFrame({
        "account_id": [f"A{i:05d}" for i in range(600)],
        "territory": rng.choice(["North", "South", "East"], 600),
        "monthly_revenue": rng.gamma(2.0, 300.0, 600),
    })  # fmt: skip
    before, after = rng.random(600), rng.random(600)
    capacity = {"North": 40, "South": 20, "East": 60}
    changes = churn_list_changes(book, before, after, capacity, "2026-10-31")
    shuffled = rng.permutation(600)
    again = churn_list_changes(book.iloc[shuffled], before[shuffled], after[shuffled], capacity, "2026-10-31")
    assert again == changes
    assert [c.size for c in changes.lists] == [120, 60, 40, 20]  # the desk's day, then each territory's
    for change in changes.lists:
        assert len(change.entering) == len(change.leaving) and not set(change.entering) & set(change.leaving)
    same = churn_list_changes(book, before, before, capacity, "2026-10-31")
    assert same.entering == same.leaving == 0
    assert top_keys(book, before, 3) == book.assign(p=before).nlargest(3, "p")["account_id"].tolist()
    assert compare("x", ["a", "b"], ["b", "c"]).sentence() == "x: 1 enter, 1 leave (of 2)"


# --- the gate on registered models ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def reseeded_model(months: Months, churn_params: ChurnParams) -> ChurnModel:
    """The real model retrained with another seed: other row and column draws, the same information."""
    params = replace(churn_params, seed=churn_params.seed + 1)
    return train_churn_model(
        months.train, months.valid, months.calibrate, model_columns(), categorical_columns(), params=params
    )


def register_and_gate(
    tracker: Tracker, model: ChurnModel, months: Months, reason: str | None = None
) -> tuple[int, Any]:
    """Register ``model`` as challenger and let the gate judge it against the champion on the test month."""
    version = tracker.log_training_run(model, months.train)
    decision, _ = gate_churn(
        tracker, version.version, model, months.test, RULES, EmpcParams(), reason=reason,
        changes=lambda champion, challenger: churn_changes(champion, challenger, months.test, Roster(), PER_REP,
                                                           months.test["as_of"].max().date()),
    )  # fmt: skip
    return version.version, decision


def audited(tracker: Tracker, version: int) -> dict[str, Any]:
    """The gate's audit entry of ``version``."""
    entries = [e for e in read_audit_log(tracker.audit_log) if e["version"] == version and e["alias"] == "champion"]
    assert len(entries) == 1
    return entries[0]


def gate_report(tracker: Tracker, version: int) -> tuple[dict[str, Any], dict[str, float]]:
    """The decision kept on the version's run: the JSON report and the run's metrics."""
    run_id = tracker.client.get_model_version(CHURN_MODEL, str(version)).run_id
    folder = Path(tracker.client.download_artifacts(run_id, "reports"))
    return json.loads((folder / "gate_decision.json").read_text()), tracker.client.get_run(run_id).data.metrics


def check_recorded(tracker: Tracker, version: int, decision: Any, action: str, months: Months) -> None:
    """The decision is in the audit log and on the run, with its interval and list changes."""
    entry = audited(tracker, version)
    assert entry["action"] == action and "by" not in entry and entry["previous"] == 1  # no "by": the gate's
    assert entry["interval"] == decision.interval.as_dict()
    assert entry["interval"]["low"] <= entry["interval"]["difference"] <= entry["interval"]["high"]
    changes = entry["list_changes"]
    assert changes == decision.list_changes.as_dict() and changes["entering"] == changes["leaving"]
    names = [c["name"] for c in changes["lists"]]
    territories = sorted(months.test["territory"].astype(str).unique())
    assert names[0].endswith("by risk") and names[1:] == [f"proactive {t}" for t in territories]
    report, metrics = gate_report(tracker, version)
    assert report["interval"] == entry["interval"] and report["list_changes"] == changes
    assert metrics["gate.auc_gain_low"] == pytest.approx(entry["interval"]["low"])
    assert metrics["list_changes.entering"] == changes["entering"]


def test_a_retrain_with_another_seed_is_not_promoted(
    make_tracker: MakeTracker, tmp_path: Path, months: Months, churn_model: ChurnModel, reseeded_model: ChurnModel
) -> None:
    tracker = make_tracker(tmp_path)
    first, decision = register_and_gate(tracker, churn_model, months)
    assert decision.promote and decision.interval is None  # no champion: the absolute thresholds decided
    second, decision = register_and_gate(tracker, reseeded_model, months)
    assert not decision.promote, decision.summary()
    assert decision.interval.low <= RULES.min_auc_gain < decision.interval.high
    # The one failed rule is the gain's (worded as non-inferior when the bound is within the margin).
    failed = [c.rule for c in decision.checks if not c.passed]
    assert len(failed) == 1 and failed[0].startswith("auc gain lower bound > min_auc_gain"), failed
    assert tracker.champion_version(CHURN_MODEL).version == first
    check_recorded(tracker, second, decision, "refused", months)
    assert isinstance(decision.list_changes, ListChanges) and decision.list_changes.entering > 0


def test_a_real_gain_is_promoted(
    make_tracker: MakeTracker, tmp_path: Path, months: Months, churn_model: ChurnModel, weak_model: ChurnModel
) -> None:
    tracker = make_tracker(tmp_path)
    register_and_gate(tracker, weak_model, months)  # the champion, crippled to three features
    second, decision = register_and_gate(tracker, churn_model, months)
    assert decision.promote, decision.summary()
    assert decision.interval.low > RULES.min_auc_gain
    assert tracker.champion_version(CHURN_MODEL).version == second
    check_recorded(tracker, second, decision, "promoted", months)
    assert decision.list_changes.entering > 0
