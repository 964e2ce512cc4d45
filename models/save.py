"""The save model: P(durable save | the account, the request's reason, the offer), corrected for rep bias.

Reps did not choose offers at random: they reach for rollbacks on price calls
and for big accounts, and some reps more than others. A model fitted on their
choices as they are learns where rollbacks were made, not what they do. Two
parts fix that:

- ``OfferPropensity``: P(the rep chose each offer | reason, segment, revenue,
  tenure, rep), a multinomial logistic regression. Its probabilities give every
  logged request the weight ``1 / P(its offer)`` (clipped, normalised), so the
  weighted history looks like one where offers were assigned at random given
  what reps saw (inverse-propensity weighting). They also drive the doubly
  robust off-policy estimate of a policy's value.
- The outcome model: LightGBM on the account's features, the ``reason``, the
  offer's kind and ``rollback_pct`` (its size), fitted with those weights,
  early-stopped and Platt-calibrated on held-out accounts. ``rollback_pct`` has
  a monotone constraint, so a larger rollback never lowers the predicted save
  probability of the same request (a rate cut does not drive a customer away).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from models.boosting import BoostingParams
from models.churn import SMALL_FRAME, ChurnModel, matrix, prepare_frame
from models.offer_design import DESIGN_COLUMNS, decision_matrix, with_offer_design
from models.offer_design import offer_kind as offer_kind  # re-exported: read from here by tests and benches
from models.offer_design import rollback_pct as rollback_pct
from sources import vocabulary as v

DECISION_COLUMNS = ("reason", "offer")
"""Besides the account's features, what a save model reads: the request's reason and the catalog offer."""
PROPENSITY_CATEGORIES = ("reason", "segment", "rep_id")
PROPENSITY_NUMBERS = ("log_revenue", "tenure_years")
SCORE_COLUMN = "save_probability"
LIKELY_REASON = "likely_reason"
"""The reason an account that has not called would most likely give (``SaveModel.with_reason_shares``)."""
REASON_SHARE_PREFIX = "reason_share__"
"""Prefix of the P(reason) columns ``SaveModel.with_reason_shares`` adds, one per reason."""


@dataclass(frozen=True, kw_only=True)
class SaveParams(BoostingParams):
    """Settings of the save model."""

    learning_rate: float = 0.03
    max_depth: int = 6
    min_child_samples: int = 40
    n_estimators: int = 1500
    weighting: str = "ipw"
    """"ipw" (weight each request by 1 / P(its offer)) or "none" (fit the reps' choices as they are)."""
    max_weight: float = 20.0
    """Largest inverse-propensity weight before normalising: bounds the variance rare offers bring."""
    propensity_c: float = 1.0
    """Inverse L2 strength of the offer-propensity regression."""
    bags: int = 1
    """Outcome models fitted with seeds ``seed``, ``seed + 1``, …, their log-odds averaged (bagging)."""

    def lightgbm(self, monotone: list[int], bag: int = 0) -> dict[str, Any]:
        """Keyword arguments of ``lightgbm.LGBMClassifier``."""
        return self.booster_keywords(
            {"monotone_constraints": monotone, "monotone_constraints_method": "advanced"}, seed_offset=bag
        )


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
    def fit(cls, frame: pd.DataFrame, columns: list[str], categorical: list[str], params: SaveParams) -> ReasonModel:
        """Fit a small multiclass LightGBM on the requests' features and stated reasons."""
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
        stated = frame["reason"].notna().to_numpy() if "reason" in frame else np.zeros(len(frame), dtype=bool)
        reasons = self.reasons.reasons
        shares = np.full((len(frame), len(reasons)), np.nan)
        likely = np.full(len(frame), None, dtype=object)
        if (~stated).any():
            predicted = self.reasons.predict(frame if not stated.any() else frame[~stated]).to_numpy()
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

    def _shares(self, quiet: pd.DataFrame) -> pd.DataFrame:
        """P(reason) of rows without a reason: their ``with_reason_shares`` columns, else the reason model's."""
        assert self.reasons is not None  # noqa: S101 - callers check
        columns = [f"{REASON_SHARE_PREFIX}{r}" for r in self.reasons.reasons]
        if set(columns) <= set(quiet.columns.tolist()):
            shares = quiet[columns].to_numpy(dtype="float64")
            if not np.isnan(shares).any():
                return pd.DataFrame(shares, index=quiet.index, columns=self.reasons.reasons)
        return self.reasons.predict(quiet)

    def likely_reasons(self, frame: pd.DataFrame) -> pd.Series:
        """The most likely reason of each row (from ``with_reason_shares`` columns when the row has them)."""
        if self.reasons is None:
            raise ValueError("this save model has no reason model")
        if LIKELY_REASON in frame and frame[LIKELY_REASON].notna().all():
            return frame[LIKELY_REASON].astype(object)
        return self._shares(frame).idxmax(axis=1).astype(object)

    def contributions(self, frame: pd.DataFrame) -> pd.DataFrame:
        """SHAP contributions to the save log-odds of each row."""
        return self.outcome.contributions(with_offer_design(frame))

    def contribution_values(self, frame: pd.DataFrame) -> np.ndarray:
        """``contributions`` as a float matrix: rows × (the outcome model's columns, then the bias)."""
        if len(frame) == 0:
            return np.empty((0, len(self.outcome.columns) + 1))
        return self.outcome.contribution_values_of(self.outcome_input(frame))


def ipw_weights(propensity: np.ndarray, max_weight: float) -> np.ndarray:
    """Inverse-propensity weights, clipped at ``max_weight`` and scaled to average 1."""
    weights = np.minimum(1.0 / np.maximum(propensity, 1.0 / max_weight), max_weight)
    return weights / weights.mean()


def train_save_model(
    train: pd.DataFrame,
    valid: pd.DataFrame,
    feature_columns: list[str],
    categorical: list[str],
    params: SaveParams | None = None,
) -> SaveModel:
    """Fit the offer propensity and the weighted outcome model; early-stop and calibrate on ``valid``.

    Args:
        train: Logged requests: features, ``reason``, ``rep_id``, ``offer`` and ``durable_save``.
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
    weights = (
        ipw_weights(propensity.chosen(train), params.max_weight) if params.weighting == "ipw" else np.ones(len(train))
    )
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
