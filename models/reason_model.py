"""The reason model: P(the reason a customer would give | the account), for accounts that have not called yet.

``SaveModel`` scores such an account as the mixture over these reasons. Planning
scores every offer for the same account, so the shares ride on the account's row
as ``reason_share__*`` columns, beside the ``likely_reason`` the talking points
explain at (``ReasonModel.with_shares``).
"""

from __future__ import annotations

from dataclasses import dataclass

import lightgbm as lgb
import numpy as np
import pandas as pd

from models.churn import SMALL_FRAME, matrix, prepare_frame
from models.params import BoostingParams

LIKELY_REASON = "likely_reason"
"""The reason an account that has not called would most likely give (``SaveModel.with_reason_shares``)."""
REASON_SHARE_PREFIX = "reason_share__"
"""Prefix of the P(reason) columns ``SaveModel.with_reason_shares`` adds, one per reason."""


@dataclass
class ReasonModel:
    """P(the reason a customer would give | the account), learned from the requests: for accounts not calling yet.

    A proactive call has no stated reason. Its save probability is the mixture
    Σ_reason P(reason | account) × P(save | account, reason, offer), which keeps
    every property of the per-reason probabilities (a larger rollback still
    never lowers it).
    """

    booster: lgb.Booster
    columns: list[str]
    categories: dict[str, list[str]]
    reasons: list[str]

    @classmethod
    def fit(
        cls, frame: pd.DataFrame, columns: list[str], categorical: list[str], params: BoostingParams
    ) -> ReasonModel:
        """Fit a small multiclass LightGBM on the requests' features and stated reasons (``params``: seed, threads)."""
        categories = {c: sorted(str(x) for x in frame[c].dropna().unique()) for c in categorical}
        reasons = sorted(str(r) for r in frame["reason"].dropna().unique())
        model = cls(None, list(columns), categories, reasons)  # type: ignore[arg-type]
        classifier = lgb.LGBMClassifier(
            objective="multiclass", n_estimators=150, learning_rate=0.05, num_leaves=7, min_child_samples=40,
            colsample_bytree=0.8, reg_lambda=5.0, random_state=params.seed, n_jobs=params.threads, verbose=-1,
        )  # fmt: skip
        classifier.fit(model.prepare(frame), pd.Categorical(frame["reason"].astype(str), categories=reasons).codes)
        model.booster = classifier.booster_
        return model

    def prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The columns, categoricals cast to the training's categories."""
        return prepare_frame(frame, self.columns, self.categories)

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """P(each reason) per row."""
        data = matrix(frame, self.columns, self.categories) if len(frame) <= SMALL_FRAME else self.prepare(frame)
        return pd.DataFrame(self.booster.predict(data), columns=self.reasons, index=frame.index)

    def with_shares(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with P(reason) columns and ``LIKELY_REASON`` for its rows without a stated ``reason``."""
        stated = frame["reason"].notna().to_numpy() if "reason" in frame else np.zeros(len(frame), dtype=bool)
        reasons = self.reasons
        shares = np.full((len(frame), len(reasons)), np.nan)
        likely = np.full(len(frame), None, dtype=object)
        if (~stated).any():
            predicted = self.predict(frame if not stated.any() else frame[~stated]).to_numpy()
            shares[~stated] = predicted
            likely[~stated] = np.asarray(reasons, dtype=object)[predicted.argmax(axis=1)]  # the first of equal maxima
        columns: dict[str, np.ndarray | pd.Series] = {
            f"{REASON_SHARE_PREFIX}{r}": shares[:, k] for k, r in enumerate(reasons)
        }
        columns[LIKELY_REASON] = pd.Series(likely, index=frame.index, dtype=object)
        added = pd.DataFrame(columns, index=frame.index)
        if set(added.columns.tolist()) & set(frame.columns.tolist()) or not frame.index.is_unique:
            return frame.assign(**{c: added[c] for c in added.columns})
        return pd.concat([frame, added], axis=1)

    def shares(self, quiet: pd.DataFrame) -> pd.DataFrame:
        """P(reason) of rows without a reason: their ``with_shares`` columns, else this model's."""
        columns = [f"{REASON_SHARE_PREFIX}{r}" for r in self.reasons]
        if set(columns) <= set(quiet.columns.tolist()):
            shares = quiet[columns].to_numpy(dtype="float64")
            if not np.isnan(shares).any():
                return pd.DataFrame(shares, index=quiet.index, columns=self.reasons)
        return self.predict(quiet)

    def likely_reasons(self, frame: pd.DataFrame) -> pd.Series:
        """The most likely reason of each row (from ``with_shares`` columns when the row has them)."""
        if LIKELY_REASON in frame and frame[LIKELY_REASON].notna().all():
            return frame[LIKELY_REASON].astype(object)
        return self.shares(frame).idxmax(axis=1).astype(object)
