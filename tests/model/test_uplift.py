"""The uplift model and the Qini it is judged by (synthetic data with a known effect; no simulator)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.outreach_params import UpliftParams
from models.uplift import CALLED, fit_uplift, outcome_counts, qini, ready


def synthetic(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Churn rises with ``risk``; a call halves it where ``trouble`` is high and doubles it where ``renewal`` is."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"risk": rng.uniform(0, 1, n), "trouble": rng.uniform(0, 1, n),
                          "renewal": rng.random(n) < 0.3, "monthly_revenue": 100.0})  # fmt: skip
    base = 0.05 + 0.25 * frame["risk"].to_numpy()
    factor = np.where(frame["renewal"], 1.8, 1.0 - 0.7 * frame["trouble"].to_numpy())
    effect = base - np.clip(base * factor, 0, 1)  # > 0: the call keeps the account
    called = rng.random(n) < 0.5
    churn = rng.random(n) < np.where(called, base - effect, base)
    return frame.assign(**{CALLED: called, "churn": churn.astype(int)}), effect


def test_qini_is_zero_for_random_order_and_largest_for_the_true_order() -> None:
    rng = np.random.default_rng(0)
    value = rng.normal(0.01, 0.05, 5_000)
    best = qini(value, value)
    assert best > 0
    assert qini(-value, value) < 0 < best
    randoms = [qini(rng.random(len(value)), value) for _ in range(20)]
    assert max(randoms) < 0.25 * best and all(r <= best for r in randoms)


def test_the_t_learner_ranks_by_what_a_call_changes_better_than_risk() -> None:
    train, _ = synthetic(60_000, seed=1)
    test, effect = synthetic(20_000, seed=2)
    params = UpliftParams(n_estimators=150, min_child_samples=200, min_called_outcomes=100, min_control_outcomes=100)
    assert ready(outcome_counts(train), params)
    model = fit_uplift(train, ["risk", "trouble", "renewal"], [], params)
    predicted = model.effect(test)
    assert np.corrcoef(predicted, effect)[0, 1] > 0.6
    assert predicted[test["renewal"].to_numpy()].mean() < 0 < predicted[~test["renewal"].to_numpy()].mean()
    value = effect * 100.0
    assert qini(model.incremental_margin(test, params), value) > 1.5 * qini(test["risk"].to_numpy(), value)


def test_too_few_outcomes_in_an_arm_is_not_ready() -> None:
    params = UpliftParams(min_called_outcomes=50, min_control_outcomes=50)
    rows = pd.DataFrame({CALLED: [True] * 49 + [False] * 500})
    assert not ready(outcome_counts(rows), params)
    assert ready(outcome_counts(pd.DataFrame({CALLED: [True] * 50 + [False] * 50})), params)
