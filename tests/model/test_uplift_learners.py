"""The uplift learners, the doubly robust Qini and the choice between learners (synthetic data, no simulator)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from models.outreach_params import UpliftParams
from models.uplift import CALLED, RISK, qini
from models.uplift_learners import Design, fit_interaction
from models.uplift_offset import fit_offset
from models.uplift_selection import (
    Blend,
    BlendedLearner,
    Candidate,
    account_folds,
    choose_uplift,
    cross_validated_qini,
    refit,
    transformed_outcome,
)


class KnownRisk:
    """A churn model that knows the baseline risk exactly (the ``risk`` column)."""

    columns = ["risk", "trouble", "renewal", "segment"]

    def raw_score(self, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(logit(frame["risk"].to_numpy(dtype=float)))

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        return frame["risk"].to_numpy(dtype=float)

    def prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame[self.columns].assign(segment=frame["segment"].astype("category"), renewal=frame["renewal"] * 1.0)


def synthetic(n: int, seed: int, called_share: float = 0.3) -> tuple[pd.DataFrame, np.ndarray]:
    """A call lowers churn's log-odds with ``trouble`` and raises them in a renewal window; risk sets the scale."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "account_id": [f"A{i:07d}" for i in range(n)], "risk": rng.uniform(0.02, 0.4, n),
        "trouble": rng.uniform(0, 1, n), "renewal": rng.random(n) < 0.3,
        "segment": rng.choice(["commercial", "residential"], n), "monthly_revenue": 100.0,
    })  # fmt: skip
    shift = np.where(frame["renewal"], 1.0, -1.5 * frame["trouble"].to_numpy())
    base = logit(frame["risk"].to_numpy())
    effect = expit(base) - expit(base + shift)  # > 0: the call keeps the account
    called = rng.random(n) < called_share
    churn = rng.random(n) < expit(base + called * shift)
    return frame.assign(**{CALLED: called, "churn": churn.astype(int)}), effect


def test_the_interaction_learner_finds_whom_a_call_moves() -> None:
    train, _ = synthetic(40_000, seed=1)
    test, effect = synthetic(10_000, seed=2)
    churn = KnownRisk()
    design = Design.fit(train, churn.columns, ["segment"])
    model = fit_interaction(train, train[CALLED].to_numpy(), train["churn"].to_numpy(), churn, design, 1e-4, 1e-4)
    predicted = model.effect(test)
    assert np.corrcoef(predicted, effect)[0, 1] > 0.8
    renewal = test["renewal"].to_numpy()
    assert predicted[renewal].mean() < 0 < predicted[~renewal].mean()
    assert qini(predicted, effect) > 0.8 * qini(effect, effect) > 0


def test_a_large_penalty_shrinks_every_account_towards_one_effect() -> None:
    train, _ = synthetic(20_000, seed=3)
    churn = KnownRisk()
    design = Design.fit(train, churn.columns, ["segment"])
    fits = [fit_interaction(train, train[CALLED].to_numpy(), train["churn"].to_numpy(), churn, design, p, 1e-4)
            for p in (1e-4, 1.0)]  # fmt: skip
    assert np.abs(fits[1].interaction).sum() < 0.1 * np.abs(fits[0].interaction).sum()


def test_the_transformed_outcome_averages_to_the_true_effect_whatever_the_propensity() -> None:
    rng = np.random.default_rng(4)
    n = 400_000
    risk = rng.uniform(0.05, 0.5, n)
    e = np.where(risk > 0.3, 0.6, 0.1)  # the desk calls the risky more often
    effect = 0.3 * risk  # the call removes 30 % of the risk
    called = rng.random(n) < e
    churned = rng.random(n) < np.where(called, risk - effect, risk)
    psi = transformed_outcome(np.full(n, 10.0), called, churned, risk, e)
    for part in (risk > 0.3, risk <= 0.3):
        assert abs(psi[part].mean() - 10.0 * effect[part].mean()) < 0.1


def test_the_choice_is_made_on_training_rows_and_names_every_candidate() -> None:
    train, _ = synthetic(12_000, seed=5)
    test, effect = synthetic(5_000, seed=6)
    params = UpliftParams(n_estimators=60, min_child_samples=100, penalties=(1e-4, 1.0), folds=2, offset_trees=100)
    model = choose_uplift(train, KnownRisk(), ["segment"], params)
    assert set(model.scores) == {
        "churn risk", "interaction (penalty 0.0001)", "interaction (penalty 1)", "offset boosting", "x-learner",
        "blend (offset boosting + interaction (penalty 0.0001))", "blend (offset boosting + interaction (penalty 1))",
    }  # fmt: skip
    assert model.chosen == max(model.scores, key=lambda name: model.scores[name])
    assert model.outcomes == {"called": int(train[CALLED].sum()), "control": int((~train[CALLED]).sum())}
    assert qini(model.effect(test), effect) > 0.5 * qini(effect, effect)


def test_bins_let_the_interaction_learner_find_a_window_a_straight_line_misses() -> None:
    """A call pushes away accounts 0–90 days from their contract's end and calms the rest: a band, not a slope."""
    rng = np.random.default_rng(8)

    def window(n: int) -> tuple[pd.DataFrame, np.ndarray]:
        days = rng.uniform(-200, 700, n)
        frame = pd.DataFrame({
            "account_id": [f"W{i:07d}" for i in range(n)], "risk": rng.uniform(0.05, 0.4, n),
            "trouble": rng.uniform(0, 1, n), "renewal": days, "segment": "commercial", "monthly_revenue": 100.0,
        })  # fmt: skip
        base = logit(frame["risk"].to_numpy())
        shift = np.where((days >= 0) & (days <= 90), 1.2, -0.6)
        called = rng.random(n) < 0.3
        churn = rng.random(n) < expit(base + called * shift)
        return frame.assign(**{CALLED: called, "churn": churn.astype(int)}), expit(base) - expit(base + shift)

    train, _ = window(60_000)
    test, effect = window(10_000)
    churn = KnownRisk()
    fitted = {
        bins: fit_interaction(train, train[CALLED].to_numpy(), train["churn"].to_numpy(), churn,
                              Design.fit(train, churn.columns, ["segment"], bins), 1e-3, 1e-4)
        for bins in (0, 10)
    }  # fmt: skip
    straight, binned = (qini(fitted[b].effect(test), effect) for b in (0, 10))
    assert binned > 0.8 * qini(effect, effect)
    assert binned > straight + 0.1 * qini(effect, effect)


def test_the_offset_learner_finds_whom_a_call_moves() -> None:
    train, _ = synthetic(40_000, seed=9)
    test, effect = synthetic(10_000, seed=10)
    called, churned = train[CALLED].to_numpy(), train["churn"].to_numpy()
    model = fit_offset(train, called, churned, KnownRisk(), UpliftParams(offset_leaf_share=0.01, offset_trees=400))
    predicted = model.effect(test)
    renewal = test["renewal"].to_numpy()
    assert predicted[renewal].mean() < 0 < predicted[~renewal].mean()
    assert qini(predicted, effect) > 0.7 * qini(effect, effect) > 0


class Fixed:
    """A learner whose effect is a fixed function of the frame (no fitting)."""

    def __init__(self, column: str, sign: float) -> None:
        self.column, self.sign = column, sign

    def effect(self, frame: pd.DataFrame) -> np.ndarray:
        return self.sign * frame[self.column].to_numpy(dtype=float)


def test_a_blend_is_scored_by_the_average_of_its_learners_held_out_effects() -> None:
    rng = np.random.default_rng(11)
    rows = pd.DataFrame({"account_id": [f"B{i:05d}" for i in range(3_000)], "a": rng.normal(size=3_000),
                         "b": rng.normal(size=3_000)})  # fmt: skip
    psi = rows["a"].to_numpy() + rows["b"].to_numpy() + rng.normal(size=3_000)
    value = np.ones(len(rows))
    learners = [Candidate("a", lambda _: Fixed("a", 1.0)), Candidate("b", lambda _: Fixed("b", 1.0)),
                Blend("a + b", ("a", "b")), Blend("a + a", ("a", "a"))]  # fmt: skip
    selection = cross_validated_qini(rows, learners, psi, value, folds=3)
    fold = account_folds(rows["account_id"], 3)
    both = rows["a"].to_numpy() + rows["b"].to_numpy()
    expected = sum(qini(both[fold == k] / 2, psi[fold == k]) for k in range(3)) / 3
    assert selection.scores["a + b"] == round(expected, 4)
    assert selection.scores["a + a"] == selection.scores["a"]
    assert selection.chosen == "a + b"
    blended = refit("a + b", learners, rows)
    assert isinstance(blended, BlendedLearner)
    assert np.allclose(blended.effect(rows), both / 2)


def test_when_a_call_removes_a_fixed_share_of_the_risk_ranking_by_risk_is_kept() -> None:
    """Every call removes 30 % of the account's risk: the riskiest are exactly whom a call moves most."""
    rng = np.random.default_rng(12)
    n = 24_000
    frame = pd.DataFrame({
        "account_id": [f"R{i:07d}" for i in range(n)], "risk": rng.uniform(0.02, 0.5, n),
        "trouble": rng.uniform(0, 1, n), "renewal": rng.random(n) < 0.3,
        "segment": rng.choice(["commercial", "residential"], n), "monthly_revenue": 100.0,
    })  # fmt: skip
    called = rng.random(n) < 0.3
    churn = rng.random(n) < np.where(called, 0.7, 1.0) * frame["risk"].to_numpy()
    rows = frame.assign(**{CALLED: called, "churn": churn.astype(int)})
    params = UpliftParams(n_estimators=60, min_child_samples=100, penalties=(1e-3,), folds=3, offset_trees=100)
    model = choose_uplift(rows, KnownRisk(), ["segment"], params)
    assert model.chosen == RISK and not model.ranks
    assert model.scores[RISK] == max(model.scores.values())
