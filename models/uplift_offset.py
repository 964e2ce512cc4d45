"""Offset boosting: a T-learner whose two arms start from the churn model and learn only what differs.

A plain T-learner fits a classifier per arm from scratch; the called arm is small (the desk calls a
few per cent of the book each month) and mostly risky, so its classifier is noisy and its difference
from the uncalled arm's is mostly noise. Here both arms start from the churn model's log-odds ``f(x)``
(LightGBM's ``init_score``) and boost small corrections on top::

    logit P(churn | x, no call) = f(x) + g0(x)          g0 fitted on the uncalled rows
    logit P(churn | x, call)    = f(x) + g0(x) + g1(x)  g1 fitted on the called rows, starting from f + g0
    effect(x) = P(churn | x, no call) − P(churn | x, call)       (> 0: the call keeps the account)

``g0`` corrects the churn model where the uncalled arm differs from the whole book; ``g1`` is what a call
adds. Both are shallow (``offset_leaves`` leaves), slow (``offset_learning_rate``) and need
``offset_leaf_share`` of their arm's rows in a leaf, so ``g1`` only moves where many called accounts agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from lightgbm import LGBMClassifier
from scipy.special import expit

from models.outreach_params import UpliftParams
from models.uplift_learners import RiskModel

MIN_OFFSET_LEAF = 50
"""Fewest rows in a leaf of an offset correction, however small the arm."""


@dataclass(frozen=True)
class OffsetLearner:
    """The fitted corrections of both arms on top of the churn model's log-odds (module docstring)."""

    churn: RiskModel
    uncalled: LGBMClassifier
    called: LGBMClassifier

    def logits(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Churn log-odds of each account without a call and with one."""
        x = self.churn.prepare(frame)
        base = self.churn.raw_score(frame) + np.asarray(self.uncalled.predict(x, raw_score=True))
        return base, base + np.asarray(self.called.predict(x, raw_score=True))

    def effect(self, frame: pd.DataFrame) -> np.ndarray:
        """Expected reduction in churn probability if each account is called (negative: pushed away)."""
        uncalled, called = self.logits(frame)
        return np.asarray(expit(uncalled) - expit(called))


def correction(rows: int, params: UpliftParams) -> LGBMClassifier:
    """An unfitted offset correction for an arm of ``rows`` rows."""
    settings: dict[str, Any] = dict(
        learning_rate=params.offset_learning_rate, num_leaves=params.offset_leaves,
        n_estimators=params.offset_trees, min_child_samples=max(MIN_OFFSET_LEAF, int(params.offset_leaf_share * rows)),
        subsample=params.subsample, subsample_freq=1, colsample_bytree=params.colsample_bytree,
        reg_lambda=params.reg_lambda, random_state=params.seed, n_jobs=params.threads, verbose=-1,
    )  # fmt: skip
    return LGBMClassifier(**settings)


def fit_offset(
    rows: pd.DataFrame, called: np.ndarray, churned: np.ndarray, churn: RiskModel, params: UpliftParams
) -> OffsetLearner:
    """Fit both arms' corrections (module docstring) on training rows holding the churn model's columns.

    Args:
        rows: Training rows.
        called: Whether each row's account was called in the month after its as-of date.
        churned: Its churn label.
        churn: The churn model whose log-odds both arms start from.
        params: The uplift settings (``offset_*``, and the shared row and column sampling).

    Raises:
        ValueError: An arm without rows, or without both outcomes.
    """
    called = np.asarray(called, dtype=bool)
    y = np.asarray(churned, dtype=int)
    for arm in (~called, called):
        if len(np.unique(y[arm])) < 2:
            raise ValueError("an arm of the uplift model has no churners or no stayers")
    x = churn.prepare(rows)
    start = np.asarray(churn.raw_score(rows), dtype=np.float64)
    uncalled = correction(int((~called).sum()), params)
    uncalled.fit(x[~called], y[~called], init_score=start[~called])
    start = start + np.asarray(uncalled.predict(x, raw_score=True))
    treated = correction(int(called.sum()), params)
    treated.fit(x[called], y[called], init_score=start[called])
    return OffsetLearner(churn, uncalled, treated)
