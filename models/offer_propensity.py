"""Which offer a rep would have chosen: the historical policy, and the inverse-propensity weights it gives.

Reps did not choose offers at random: they reach for rollbacks on price calls
and for big accounts, and some reps more than others. ``OfferPropensity`` learns
P(the rep chose each offer | reason, segment, revenue, tenure, rep), a
multinomial logistic regression. Its probabilities give every logged request
the weight ``1 / P(its offer)`` (``ipw_weights``: clipped, normalised), so the
weighted history looks like one where offers were assigned at random given what
reps saw (inverse-propensity weighting). They also drive the doubly robust
off-policy estimate of a policy's value.

Where the desk randomized its offer (``models.exploration``), the propensity is
known, not estimated: it was published with the row and logged with the
attempt (``offer_propensity``). ``behaviour_propensity`` takes the logged one
where it exists and the estimate elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from models.exploration import PROPENSITY_COLUMN as LOGGED_PROPENSITY
from sources import vocabulary as v

PROPENSITY_CATEGORIES = ("reason", "segment", "rep_id")
PROPENSITY_NUMBERS = ("log_revenue", "tenure_years")


@dataclass
class OfferPropensity:
    """P(a rep chose each catalog offer | the call): the historical policy, learned from the log."""

    pipeline: Pipeline
    offers: list[str]

    @staticmethod
    def inputs(frame: pd.DataFrame) -> pd.DataFrame:
        """The regression's inputs: reason, segment, rep, log revenue, tenure."""
        revenue = pd.to_numeric(frame["monthly_revenue"], errors="coerce").fillna(0.0).clip(lower=1.0)
        out = {c: frame[c].astype("object").where(frame[c].notna(), "missing") for c in PROPENSITY_CATEGORIES}
        tenure = pd.to_numeric(frame["tenure_years"], errors="coerce").fillna(0.0)
        return pd.DataFrame({**out, "log_revenue": np.log(revenue), "tenure_years": tenure}, index=frame.index)

    @classmethod
    def fit(cls, frame: pd.DataFrame, c: float = 1.0) -> OfferPropensity:
        """Fit on logged requests (``offer`` is what the rep chose)."""
        encode = ColumnTransformer([
            ("categories", OneHotEncoder(handle_unknown="ignore"), list(PROPENSITY_CATEGORIES)),
            ("numbers", StandardScaler(), list(PROPENSITY_NUMBERS)),
        ])  # fmt: skip
        pipeline = Pipeline([("encode", encode), ("regression", LogisticRegression(C=c, max_iter=2000))])
        pipeline.fit(cls.inputs(frame), frame["offer"].astype(str))
        return cls(pipeline, [str(o) for o in pipeline.classes_])

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """P(each catalog offer) per row; offers never seen in the log get 0."""
        known = pd.DataFrame(self.pipeline.predict_proba(self.inputs(frame)), columns=self.offers, index=frame.index)
        return known.reindex(columns=list(v.CATALOG_OFFERS), fill_value=0.0)

    def chosen(self, frame: pd.DataFrame) -> np.ndarray:
        """P(the logged ``offer``) of each row."""
        table = self.predict(frame)
        columns = table.columns.get_indexer(pd.Index(frame["offer"].astype(str)))
        return np.where(columns >= 0, table.to_numpy()[np.arange(len(frame)), np.maximum(columns, 0)], 0.0)


def ipw_weights(propensity: np.ndarray, max_weight: float) -> np.ndarray:
    """Inverse-propensity weights, clipped at ``max_weight`` and scaled to average 1."""
    weights = np.minimum(1.0 / np.maximum(propensity, 1.0 / max_weight), max_weight)
    return weights / weights.mean()


def behaviour_propensity(frame: pd.DataFrame, estimated: np.ndarray) -> np.ndarray:
    """P(the offer made) of each logged request: the logged propensity where there is one, else ``estimated``.

    Args:
        frame: Logged requests; an ``offer_propensity`` column (optional) holds the propensity the desk published
            for the offer it made, missing where the rep chose.
        estimated: ``OfferPropensity.chosen`` of the same rows.

    Returns:
        One propensity per row.
    """
    estimated = np.asarray(estimated, dtype=float)
    if LOGGED_PROPENSITY not in frame:
        return estimated
    logged = pd.to_numeric(frame[LOGGED_PROPENSITY], errors="coerce").to_numpy(dtype=float)
    usable = np.isfinite(logged) & (logged > 0) & (logged <= 1)
    return np.where(usable, logged, estimated)
