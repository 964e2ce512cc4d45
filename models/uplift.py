"""What a proactive call changes: the chosen uplift model, the X-learner, and the Qini of a ranking.

``UpliftModel`` holds the learner chosen by cross-validated Qini; ``qini`` judges a ranking against a known
value per account.

The candidates are this module's X-learner and the interaction learner of ``models.uplift_learners``; the
choice between them (and their regularisation) is made on the training rows only (``models.uplift_selection``).

First (the T-learner's step) two gradient-boosted classifiers learn the probability of
churn (the churn label: a request or a close within the horizon) from the account's
features — μ0 on accounts not called in the month after the as-of date (the holdout and
everyone the desk did not reach), μ1 on accounts called. Then (Künzel et al. 2019) each
arm's imputed effects are regressed on the features — τ1 on the called, from
μ0(x) − churn, and τ0 on the uncalled, from churn − μ1(x) — and blended by the share
called, g: the arm with few accounts borrows the other arm's well-fitted baseline::

    effect(x)             = g·τ0(x) + (1 − g)·τ1(x)   ≈ P(churn | x, no call) − P(churn | x, call)
                                                      (> 0: the call keeps the account)
    incremental_margin(x) = effect(x) × monthly revenue × value_months

Ranking proactive outreach by ``incremental_margin`` calls the accounts a call moves, not
the ones most likely to leave (Ascarza 2018, "Retention futility"); an account with
``-effect`` at or above ``UpliftParams.push_away`` is one the model expects a call to
push away, and is never listed.

Until the history holds ``min_called_outcomes`` and ``min_control_outcomes`` matured
outcomes (``ready``), the model does not rank and the current ranking stays; nor does it when ranking
by churn risk alone scores better on held-out months than every learner (``UpliftModel.ranks``).

``qini`` judges a ranking by a known value per account (the simulator's true effects):
the mean gap between the cumulative value of the top k and k / n of the total.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from lightgbm import LGBMClassifier, LGBMRegressor

from models.churn import matrix
from models.outreach_params import UpliftParams

CALLED = "called"
"""The treatment column: called in the month after the as-of date."""
RISK = "churn risk"
"""The candidate that ranks by churn risk alone (``models.uplift_selection.RiskRanking``): the bar a learner clears."""


def incremental_margin(effect: np.ndarray, frame: pd.DataFrame, params: UpliftParams) -> np.ndarray:
    """Expected effect × monthly revenue × ``value_months``: what a call to each account is worth."""
    revenue = pd.to_numeric(frame["monthly_revenue"], errors="coerce").fillna(0.0).to_numpy()
    return np.asarray(effect) * revenue * params.value_months


@dataclass(frozen=True)
class UpliftModel:
    """The chosen learner, fitted on all training rows, with the cross-validated Qini of every candidate."""

    learner: Any
    """A fitted learner with ``effect(frame)`` (``models.uplift_selection.EffectModel``)."""
    chosen: str
    scores: dict[str, float]
    """Cross-validated Qini of each candidate (``models.uplift_selection``)."""
    outcomes: dict[str, int]
    """Matured outcomes it was fitted on: ``called`` and ``control``."""

    @property
    def ranks(self) -> bool:
        """Whether a learner beat ranking by churn risk on held-out months, so the model may rank the list."""
        return self.chosen != RISK

    def effect(self, frame: pd.DataFrame) -> np.ndarray:
        """Expected reduction in churn probability if each account is called (negative: the call pushes it away)."""
        return np.asarray(self.learner.effect(frame))

    def incremental_margin(self, frame: pd.DataFrame, params: UpliftParams) -> np.ndarray:
        """Expected effect × monthly revenue × ``value_months``: what a call to each account is worth."""
        return incremental_margin(self.effect(frame), frame, params)


@dataclass(frozen=True)
class XLearner:
    """A fitted X-learner: one classifier per arm, one effect regressor per arm, and the share called."""

    columns: list[str]
    categories: dict[str, list[str]]
    control: LGBMClassifier
    treated: LGBMClassifier
    effect_control: LGBMRegressor
    effect_treated: LGBMRegressor
    called_share: float
    outcomes: dict[str, int]
    """Matured outcomes it was fitted on: ``called`` and ``control``."""

    def effect(self, frame: pd.DataFrame) -> np.ndarray:
        """Expected reduction in churn probability if each account is called (negative: the call pushes it away)."""
        x = matrix(frame, self.columns, self.categories)
        tau0, tau1 = np.asarray(self.effect_control.predict(x)), np.asarray(self.effect_treated.predict(x))
        return self.called_share * tau0 + (1 - self.called_share) * tau1

    def incremental_margin(self, frame: pd.DataFrame, params: UpliftParams) -> np.ndarray:
        """Expected effect × monthly revenue × ``value_months``: what a call to each account is worth."""
        return incremental_margin(self.effect(frame), frame, params)


def outcome_counts(rows: pd.DataFrame) -> dict[str, int]:
    """Matured outcomes per arm of training rows holding ``CALLED``."""
    called = rows[CALLED].astype(bool)
    return {"called": int(called.sum()), "control": int((~called).sum())}


def ready(outcomes: dict[str, int], params: UpliftParams) -> bool:
    """Whether there are enough matured outcomes in both arms for the model to rank."""
    return outcomes["called"] >= params.min_called_outcomes and outcomes["control"] >= params.min_control_outcomes


def fit_uplift(
    rows: pd.DataFrame, columns: list[str], categorical: list[str], params: UpliftParams, label: str = "churn"
) -> XLearner:
    """Fit the X-learner on training rows (features, ``label`` and ``CALLED``).

    Raises:
        ValueError: An arm without rows, or without both outcomes.
    """
    categories = {c: sorted(str(v) for v in rows[c].dropna().unique()) for c in categorical}
    called = rows[CALLED].astype(bool).to_numpy()
    settings: dict[str, Any] = dict(
        learning_rate=params.learning_rate, num_leaves=params.num_leaves, n_estimators=params.n_estimators,
        min_child_samples=params.min_child_samples, subsample=params.subsample, subsample_freq=1,
        colsample_bytree=params.colsample_bytree, reg_lambda=params.reg_lambda, random_state=params.seed,
        n_jobs=params.threads, verbose=-1,
    )  # fmt: skip
    indexed = [j for j, c in enumerate(columns) if c in categories]
    positions: list[int] | Literal["auto"] = indexed or "auto"
    x = matrix(rows, columns, categories)
    y = rows[label].astype(int).to_numpy()
    arms = []
    for arm in (~called, called):
        if len(np.unique(y[arm])) < 2:
            raise ValueError("an arm of the uplift model has no churners or no stayers")
        arms.append(LGBMClassifier(**settings).fit(x[arm], y[arm], categorical_feature=positions))
    control, treated = arms
    imputed_treated = np.asarray(control.predict_proba(x[called]))[:, 1] - y[called]
    imputed_control = y[~called] - np.asarray(treated.predict_proba(x[~called]))[:, 1]
    effect_treated = LGBMRegressor(**settings).fit(x[called], imputed_treated, categorical_feature=positions)
    effect_control = LGBMRegressor(**settings).fit(x[~called], imputed_control, categorical_feature=positions)
    share = float(called.mean())
    return XLearner(list(columns), categories, control, treated, effect_control, effect_treated, share,
                       outcome_counts(rows))  # fmt: skip


def qini(score: np.ndarray, value: np.ndarray) -> float:
    """Area between a ranking's cumulative true value and random targeting's, per account ranked.

    Args:
        score: The ranking (highest first; ties keep the input order).
        value: The true value of calling each account (e.g. true effect × revenue).

    Returns:
        The mean over k of (value of the top k − k / n × total value); 0 for random targeting.
    """
    order = np.argsort(-np.asarray(score, dtype=float), kind="stable")
    cumulative = np.cumsum(np.asarray(value, dtype=float)[order])
    if not len(cumulative):
        return 0.0
    n = len(cumulative)
    return float(np.mean(cumulative - np.arange(1, n + 1) / n * cumulative[-1]))
