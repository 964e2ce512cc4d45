"""The save model: P(durable save | the account, the request's reason, the offer), corrected for rep bias.

Reps did not choose offers at random, so a model fitted on their choices as
they are learns where rollbacks were made, not what they do. Two parts fix that:

- ``OfferPropensity`` (``models.offer_propensity``): P(the rep chose each offer
  | the call). Its probabilities weight every logged request by
  ``1 / P(its offer)`` (inverse-propensity weighting), and drive the doubly
  robust off-policy estimate of a policy's value. A request whose offer the
  desk drew at random (``models.exploration``) is weighted by its logged
  propensity (``offer_propensity``) instead of the estimate.
- The outcome model: LightGBM on the account's features, the ``reason``, the
  offer's kind and ``rollback_pct`` (its size), fitted with those weights,
  early-stopped and Platt-calibrated on held-out accounts. ``rollback_pct`` has
  a monotone constraint, so a larger rollback never lowers the predicted save
  probability of the same request (a rate cut does not drive a customer away).

An account that has not called is scored as the mixture over the reasons it
would likely give (``ReasonModel``, ``models.reason_model``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression

from models.churn import SMALL_FRAME, ChurnModel, matrix
from models.offer_design import DESIGN_COLUMNS, decision_matrix, with_offer_design
from models.offer_design import offer_kind as offer_kind  # re-exported: read from here by tests and benches
from models.offer_design import rollback_pct as rollback_pct

# OfferPropensity and ReasonModel must stay importable from here: save models pickled before they moved
# (cloudpickle, by reference) name them ``models.save.OfferPropensity`` and ``models.save.ReasonModel``.
from models.offer_propensity import OfferPropensity, behaviour_propensity, ipw_weights
from models.params import SaveParams
from models.reason_model import ReasonModel
from sources import vocabulary as v

DECISION_COLUMNS = ("reason", "offer")
"""Besides the account's features, what a save model reads: the request's reason and the catalog offer."""
SCORE_COLUMN = "save_probability"


@dataclass
class BoosterBag:
    """Several boosters fitted on the same rows with different seeds, read as one: every prediction is their mean.

    Raw scores (log-odds) and SHAP contributions average exactly, so the bag
    keeps the monotone constraint of its members and explains like one booster.
    """

    boosters: list[lgb.Booster]

    def predict(self, data: pd.DataFrame, **kwargs: Any) -> np.ndarray:
        """The mean of the members' ``lightgbm.Booster.predict`` (pass ``raw_score=True`` for log-odds)."""
        return np.mean([np.asarray(b.predict(data, **kwargs)) for b in self.boosters], axis=0)


@dataclass
class SaveModel:
    """A fitted save model: the outcome model over features and the decision, and the offer propensity."""

    outcome: ChurnModel
    propensity: OfferPropensity
    feature_columns: list[str]
    reasons: ReasonModel | None = None
    params: SaveParams = field(default_factory=SaveParams)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        """The input columns: the account's features, then ``reason`` and ``offer``."""
        return [*self.feature_columns, *DECISION_COLUMNS]

    @property
    def categories(self) -> dict[str, list[str]]:
        """Categories of the outcome model's categorical inputs, as seen in training."""
        return self.outcome.categories

    @property
    def offers_seen(self) -> frozenset[str]:
        """The catalog offers reps made in the training log: the only ones whose save probability is learned."""
        return frozenset(self.propensity.offers)

    @property
    def best_iteration(self) -> int:
        """Trees of the outcome model."""
        return self.outcome.best_iteration

    @property
    def calibrator(self) -> Any:
        """The outcome model's calibrator."""
        return self.outcome.calibrator

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated P(durable save) of each row (an account's features, a ``reason`` and an ``offer``).

        A row without a ``reason`` (an at-risk account that has not called) gets
        the mixture over the reasons it would likely give.
        """
        unstated = frame["reason"].isna().to_numpy() if "reason" in frame else np.ones(len(frame), dtype=bool)
        if not unstated.any():
            return self._stated(frame)
        if self.reasons is None:
            raise ValueError("this save model has no reason model: every row needs a reason")
        p = np.zeros(len(frame))
        if not unstated.all():
            p[~unstated] = self._stated(frame[~unstated])
        quiet = frame if unstated.all() else frame[unstated]
        p[unstated] = self._mixture(quiet, self._shares(quiet))
        return p

    def _mixture(self, quiet: pd.DataFrame, shares: pd.DataFrame, rows_per_call: int = 500_000) -> np.ndarray:
        """Σ_reason share × P(save | reason) of rows without a reason, every reason scored in one model call.

        One call over the rows stacked once per reason, not one call per reason: a live plan for one
        account on the line pays the model's fixed cost once. Large frames go in slices of about
        ``rows_per_call`` stacked rows.
        """
        reasons = list(shares.columns)
        weights = shares.to_numpy(dtype="float64")
        out = np.zeros(len(quiet))
        step = max(1, rows_per_call // max(len(reasons), 1))
        # Only what the outcome model reads is stacked, in one take: the rows once per reason, in the reasons' order.
        wanted = {*self.feature_columns, "offer"}
        read = [j for j, c in enumerate(quiet.columns.tolist()) if c in wanted]
        for start in range(0, len(quiet), step):
            rows = np.arange(start, min(start + step, len(quiet)))
            said = np.repeat(np.asarray(reasons, dtype=object), len(rows))
            if len(said) <= SMALL_FRAME and self._composable:  # the features once, beside each decision
                part = quiet.iloc[start : start + len(rows)]
                features = np.tile(matrix(part, self.feature_columns, self.categories), (len(reasons), 1))
                x = self._beside(features, said, np.tile(part["offer"].to_numpy(dtype=object), len(reasons)))
                each = self.outcome.calibrate(self.outcome.raw_score_of(x))
            else:
                stacked = quiet.iloc[np.tile(rows, len(reasons)), read].reset_index(drop=True)
                stacked["reason"] = pd.Series(said, dtype=object)
                each = self.outcome.predict_proba(with_offer_design(stacked))
            each = each.reshape(len(reasons), len(rows))
            total = np.zeros(len(rows))
            for k in range(len(reasons)):  # in the reasons' order, as the sum is defined
                total += weights[start : start + step, k] * each[k]
            out[start : start + step] = total
        return out

    @property
    def _composable(self) -> bool:
        """Whether the outcome model reads the account's features, then the decision (as ``train_save_model`` fits)."""
        return self.outcome.columns == [*self.feature_columns, *DESIGN_COLUMNS]

    def outcome_input(self, frame: pd.DataFrame) -> pd.DataFrame | np.ndarray:
        """What the outcome model reads of rows with a ``reason`` and an ``offer``.

        ``outcome.model_input(with_offer_design(frame))``; for a few rows (a live plan) the account's feature
        matrix beside the decision's, built from a frame of the two decision columns, so that the caller's
        wide frame is never copied. The values are the same (tested).
        """
        if len(frame) > SMALL_FRAME or not self._composable:
            return self.outcome.model_input(with_offer_design(frame))
        features = matrix(frame, self.feature_columns, self.categories)
        return self._beside(features, frame["reason"].to_numpy(dtype=object), frame["offer"].to_numpy(dtype=object))

    def _beside(self, features: np.ndarray, reason: np.ndarray, offer: np.ndarray) -> np.ndarray:
        """The outcome model's matrix: the features' matrix, then the decision columns of (reason, offer) rows."""
        categories = tuple((c, tuple(self.categories[c])) for c in DESIGN_COLUMNS if c in self.categories)
        return np.hstack([features, decision_matrix(categories, reason, offer)])

    def _stated(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated P(durable save) of rows that all have a reason."""
        if len(frame) == 0:
            return np.empty(0)
        return self.outcome.calibrate(self.outcome.raw_score_of(self.outcome_input(frame)))

    def with_reason_shares(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame`` with P(reason) columns and ``LIKELY_REASON`` for its rows without a stated ``reason``.

        Planning scores every offer for the same account, and the talking points explain the recommended
        one at the account's likely reason: with the shares on the account's row, the reason model runs
        once per account instead of once per offer and again for the explanation.
        """
        if self.reasons is None:
            return frame
        return self.reasons.with_shares(frame)

    def _shares(self, quiet: pd.DataFrame) -> pd.DataFrame:
        """P(reason) of rows without a reason: their ``with_reason_shares`` columns, else the reason model's."""
        assert self.reasons is not None  # noqa: S101 - callers check
        return self.reasons.shares(quiet)

    def likely_reasons(self, frame: pd.DataFrame) -> pd.Series:
        """The most likely reason of each row (from ``with_reason_shares`` columns when the row has them)."""
        if self.reasons is None:
            raise ValueError("this save model has no reason model")
        return self.reasons.likely_reasons(frame)

    def contributions(self, frame: pd.DataFrame) -> pd.DataFrame:
        """SHAP contributions to the save log-odds of each row."""
        return self.outcome.contributions(with_offer_design(frame))

    def contribution_values(self, frame: pd.DataFrame) -> np.ndarray:
        """``contributions`` as a float matrix: rows × (the outcome model's columns, then the bias)."""
        if len(frame) == 0:
            return np.empty((0, len(self.outcome.columns) + 1))
        return self.outcome.contribution_values_of(self.outcome_input(frame))


def train_save_model(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    feature_columns: list[str],
    categorical: list[str],
    params: SaveParams | None = None,
) -> SaveModel:
    """Fit the offer propensity and the weighted outcome model; early-stop and calibrate on ``valid``.

    Args:
        train: Logged requests: features, ``reason``, ``rep_id``, ``offer`` and ``durable_save``; an optional
            ``offer_propensity`` (logged where the desk drew the offer) replaces the estimated propensity.
        valid: Other accounts' requests of the same period: early stopping and Platt calibration.
        feature_columns: The account features the outcome model reads.
        categorical: Which of them are categories.
        params: Settings.

    Returns:
        The fitted save model.
    """
    params = params or SaveParams()
    if params.weighting not in ("ipw", "none"):
        raise ValueError(f"save model weighting must be 'ipw' or 'none', not {params.weighting!r}")
    propensity = OfferPropensity.fit(train, params.propensity_c)
    # Logged propensities (the desk randomized the offer) where they exist, estimated ones elsewhere.
    behaviour = behaviour_propensity(train, propensity.chosen(train))
    weights = ipw_weights(behaviour, params.max_weight) if params.weighting == "ipw" else np.ones(len(train))
    columns = [*feature_columns, *DESIGN_COLUMNS]
    design_train, design_valid = with_offer_design(train), with_offer_design(valid)
    categories = {c: sorted(str(x) for x in design_train[c].dropna().unique()) for c in [*categorical, "reason"]}
    categories["offer_kind"] = list(v.OFFERS)
    categories["reason_offer"] = [f"{r}|{k}" for r in v.CANCELLATION_REASONS for k in v.OFFERS]
    outcome = ChurnModel(columns=columns, categories=categories, booster=None)  # type: ignore[arg-type]
    monotone = [1 if c == "rollback_pct" else 0 for c in columns]
    boosters = []
    for bag in range(max(params.bags, 1)):
        classifier = lgb.LGBMClassifier(**params.lightgbm(monotone, bag))
        classifier.fit(
            outcome.prepare(design_train),
            train["durable_save"].astype(int),
            sample_weight=weights,
            eval_X=(outcome.prepare(design_valid),),
            eval_y=(valid["durable_save"].astype(int),),
            eval_metric="binary_logloss",
            callbacks=[lgb.early_stopping(params.early_stopping_rounds, verbose=False)],
        )
        booster = classifier.booster_
        booster.best_iteration = int(classifier.best_iteration_ or classifier.n_estimators)
        boosters.append(booster)
    outcome.booster = boosters[0] if len(boosters) == 1 else BoosterBag(boosters)  # type: ignore[assignment]
    outcome.best_iteration = round(float(np.mean([b.best_iteration for b in boosters])))
    platt = LogisticRegression(C=1e6)
    platt.fit(outcome.raw_score(design_valid).reshape(-1, 1), valid["durable_save"].astype(int))
    outcome.calibrator = platt
    reasons = ReasonModel.fit(train, list(feature_columns), list(categorical), params)
    return SaveModel(outcome, propensity, list(feature_columns), reasons, params)
