"""The churn model: LightGBM on the registered features, calibrated on a later month.

``train_churn_model`` fits the booster one of two ways: early-stopped on a
later validation month (the simulated hauler's path), or, given no validation
set, with a fixed number of trees (``ChurnParams.n_estimators``), which
``choose_tree_count`` picks by cross-validation inside the training rows (the
path for a small one-row-per-customer extract, whose model is then refitted on
more rows with that count).

``ChurnModel`` carries everything that turns a feature frame into a calibrated
probability: the column list, the categories seen in training, the booster and
the calibrator. Training and serving both go through ``ChurnModel.prepare``, so
inputs are cast identically everywhere (strings become the training's
categories; a category never seen in training becomes missing). A category
column with many levels may instead reach LightGBM as its level's rank
(``ChurnParams.categorical_encoding``: by frequency or smoothed churn rate in the
training rows), split as a number; the rank is the position in the model's
categories, so the same ``prepare`` and ``matrix`` serve it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from models.params import ChurnParams


@dataclass
class ChurnModel:
    """A fitted churn model: columns, categories, booster, calibrator."""

    columns: list[str]
    categories: dict[str, list[str]]
    booster: lgb.Booster
    calibrator: IsotonicRegression | LogisticRegression | None = None
    best_iteration: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)
    ordinal: tuple[str, ...] = ()
    """Category columns given to LightGBM as their level's position in ``categories`` (a number), not as categories."""

    def prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The model's input: its columns, categoricals cast to the training's categories, the rest float."""
        return prepare_frame(frame, self.columns, self.categories, getattr(self, "ordinal", ()))

    def model_input(self, frame: pd.DataFrame) -> pd.DataFrame | np.ndarray:
        """What LightGBM reads: ``prepare``'s frame, or for a few rows the same values as one float matrix.

        A frame costs pandas a fixed toll per column (about 20 ms for 60 columns) that a rep waiting on a
        live plan notices; the matrix holds exactly what LightGBM makes of the frame (categorical codes,
        missing as NaN), so the scores are the same (tested). Large frames keep the frame path, which
        copies less.
        """
        return matrix(frame, self.columns, self.categories) if len(frame) <= SMALL_FRAME else self.prepare(frame)

    def raw_score(self, frame: pd.DataFrame) -> np.ndarray:
        """LightGBM's log-odds, before calibration (an empty frame gives an empty array)."""
        if len(frame) == 0:
            return np.empty(0)
        return self.raw_score_of(self.model_input(frame))

    def raw_score_of(self, data: pd.DataFrame | np.ndarray) -> np.ndarray:
        """``raw_score`` of the model's input (``model_input``'s frame or matrix)."""
        return np.asarray(self.booster.predict(data, raw_score=True))

    def uncalibrated(self, frame: pd.DataFrame) -> np.ndarray:
        """LightGBM's probability, before calibration."""
        return 1.0 / (1.0 + np.exp(-self.raw_score(frame)))

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Calibrated probability of churn in the label window."""
        if len(frame) == 0:
            return np.empty(0)
        return self.calibrate(self.raw_score(frame))

    def calibrate(self, raw: np.ndarray) -> np.ndarray:
        """The calibrated probabilities of LightGBM's log-odds (``raw_score``)."""
        if isinstance(self.calibrator, LogisticRegression):  # Platt: a logistic curve on the log-odds
            return platt_probability(self.calibrator, raw)
        p = 1.0 / (1.0 + np.exp(-raw))
        return p if self.calibrator is None else np.clip(self.calibrator.predict(p), 0.0, 1.0)

    def contributions(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Exact SHAP contributions to the log-odds (``pred_contrib``), one column per feature plus ``bias``."""
        if len(frame) == 0:
            return pd.DataFrame(columns=[*self.columns, "bias"], index=frame.index, dtype=float)
        return pd.DataFrame(self.contribution_values(frame), columns=[*self.columns, "bias"], index=frame.index)

    def contribution_values(self, frame: pd.DataFrame) -> np.ndarray:
        """``contributions`` as a float matrix: rows × (``columns``, then the bias)."""
        if len(frame) == 0:
            return np.empty((0, len(self.columns) + 1))
        return self.contribution_values_of(self.model_input(frame))

    def contribution_values_of(self, data: pd.DataFrame | np.ndarray) -> np.ndarray:
        """``contribution_values`` of the model's input (``model_input``'s frame or matrix)."""
        return np.asarray(self.booster.predict(data, pred_contrib=True), dtype="float64")


def platt_probability(platt: LogisticRegression, raw: np.ndarray) -> np.ndarray:
    """``platt.predict_proba(raw)[:, 1]`` computed as scikit-learn computes it, without its checks of the input.

    The logistic of coefficient × log-odds + intercept (``decision_function``, then ``expit``): the same
    floating-point operations, so the same bits (tested), for a tenth of a millisecond less a call, which a
    live plan pays twice. A calibrator that is not a fitted one-input binary regression goes through scikit-learn.
    """
    coef, intercept = getattr(platt, "coef_", None), getattr(platt, "intercept_", None)
    if coef is None or intercept is None or coef.shape != (1, 1) or len(getattr(platt, "classes_", ())) != 2:
        return platt.predict_proba(raw.reshape(-1, 1))[:, 1]
    decision = np.asarray(raw, dtype="float64").reshape(-1, 1) @ coef.T + intercept
    return np.asarray(expit(decision.reshape(-1)))


SMALL_FRAME = 5_000
"""Frames up to this many rows reach LightGBM as a float matrix (``ChurnModel.model_input``)."""


def matrix(frame: pd.DataFrame, columns: list[str], categories: dict[str, list[str]]) -> np.ndarray:
    """``prepare_frame`` as the float matrix LightGBM makes of it: categorical codes, missing as NaN.

    The plain numpy numbers are read in one selection (a cast to float64, as LightGBM makes), not column by
    column: pandas charges each column read about 10 µs, most of a one-account plan's input.
    """
    names = frame.columns.tolist()  # a list: looking names up in pandas' index of text costs more
    dtypes = dict(zip(names, frame.dtypes.tolist(), strict=True))
    missing = [c for c in columns if c not in dtypes]
    if missing:
        raise KeyError(f"the feature frame lacks the model's columns: {missing}")
    out = np.empty((len(frame), len(columns)), dtype=np.float64)
    plain = [j for j, c in enumerate(columns) if c not in categories and _plain_number(dtypes[c])]
    if plain:
        out[:, plain] = frame[[columns[j] for j in plain]].to_numpy(dtype="float64")
    for j in sorted(set(range(len(columns))) - set(plain)):
        column = columns[j]
        values = frame[column]
        if column in categories:
            codes = category_codes(values, categories[column])
            out[:, j] = np.where(codes < 0, np.nan, codes)
        else:
            out[:, j] = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    return out


def _plain_number(dtype: Any) -> bool:
    return isinstance(dtype, np.dtype) and dtype.kind in "fiub"


def prepare_frame(
    frame: pd.DataFrame, columns: list[str], categories: dict[str, list[str]], ordinal: tuple[str, ...] = ()
) -> pd.DataFrame:
    """A LightGBM model's input: ``columns``, those in ``categories`` cast to them, the rest float.

    A column in ``ordinal`` becomes its position in its categories as a float (missing or unseen: NaN), the
    numbers ``matrix`` gives every category column.
    """
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise KeyError(f"the feature frame lacks the model's columns: {missing}")
    out: dict[str, Any] = {}
    for column in columns:
        values = frame[column]
        if column in ordinal:
            codes = category_codes(values, categories[column])
            out[column] = np.where(codes < 0, np.nan, codes.astype("float64"))
        elif column in categories:
            out[column] = as_categories(values, categories[column])
        elif values.dtype == np.float64:
            out[column] = values
        elif values.dtype.kind in "iub" and isinstance(values.dtype, np.dtype):  # plain numpy: exact cast
            out[column] = values.astype("float64")
        else:  # nullable integers and booleans, strings of numbers
            out[column] = pd.to_numeric(values, errors="coerce").astype("float64")
    return pd.DataFrame(out, index=frame.index, copy=False)


def as_categories(values: pd.Series, categories: list[str]) -> pd.Categorical:
    """``values`` as a categorical over ``categories``; missing and unseen values become missing.

    The codes come from a hash lookup of each value in the categories (what ``pd.Categorical`` does, without
    its per-call inference), which matters when a few hundred rows are explained while a rep waits.
    """
    if isinstance(values.dtype, pd.CategoricalDtype) and list(values.cat.categories) == categories:
        return pd.Categorical(values)
    dtype = pd.CategoricalDtype(categories)
    return pd.Categorical.from_codes(category_codes(values, categories), dtype=dtype)


def category_codes(values: pd.Series, categories: list[str]) -> np.ndarray:
    """Each value's position in ``categories``; -1 for a missing or unseen value.

    The distinct values are looked up, not every row: a million rows of a dozen territories cost one
    factorisation and twelve hash probes. A few rows (a live plan) are looked up one by one in a dict of
    the categories, which gives the same positions without the factorisation's fixed cost (tested).
    """
    if len(values) <= FEW_VALUES:
        position = _category_positions(tuple(categories))
        return np.fromiter((position.get(v, -1) for v in values.tolist()), dtype=np.intp, count=len(values))
    codes, distinct = pd.factorize(values)
    found = _category_index(tuple(categories)).get_indexer(pd.Index(distinct))
    return np.where(codes < 0, -1, found[codes] if len(found) else -1)


FEW_VALUES = 256
"""Up to this many values, ``category_codes`` looks each up in a dict rather than factorising."""


@lru_cache(maxsize=256)
def _category_positions(categories: tuple[str, ...]) -> dict[Any, int]:
    """Each category's position, keyed as ``_category_index`` holds it (so a lookup matches ``get_indexer``)."""
    return {value: k for k, value in enumerate(_category_index(categories).tolist())}


@lru_cache(maxsize=256)
def _category_index(categories: tuple[str, ...]) -> pd.Index:
    """The categories as pandas would type them, kept: looking values up is then one hash probe each."""
    return pd.CategoricalDtype(list(categories)).categories


def _categories(frame: pd.DataFrame, categorical: list[str]) -> dict[str, list[str]]:
    return {c: sorted(str(v) for v in frame[c].dropna().unique()) for c in categorical}


def untrained_model(
    train: pd.DataFrame, columns: list[str], categorical: list[str], params: ChurnParams, label: str = "churn"
) -> ChurnModel:
    """A model without its booster: columns, the categories of ``train`` and which of them are ranks.

    A category column with more than ``params.high_cardinality`` levels is ranked when
    ``params.categorical_encoding`` is "frequency" (most frequent first) or "target" (lowest smoothed churn
    rate first: the level's churners plus ``cat_smooth`` rows at the overall rate, over its rows plus
    ``cat_smooth``); ties keep the levels' alphabetical order.
    """
    categories = _categories(train, categorical)
    ordinal: list[str] = []
    if params.categorical_encoding in ("frequency", "target"):
        y = train[label].astype(float)
        for column, levels in categories.items():
            if len(levels) <= params.high_cardinality:
                continue
            values = train[column].astype("string")
            if params.categorical_encoding == "frequency":
                key = -values.value_counts()
            else:
                grouped = y.groupby(values).agg(["sum", "count"])
                key = (grouped["sum"] + params.cat_smooth * y.mean()) / (grouped["count"] + params.cat_smooth)
            rank = {str(level): float(value) for level, value in key.items()}
            categories[column] = sorted(levels, key=lambda level: (rank.get(level, 0.0), level))
            ordinal.append(column)
    model = ChurnModel(columns=list(columns), categories=categories, booster=None)  # type: ignore[arg-type]
    model.ordinal = tuple(ordinal)
    return model


def choose_tree_count(
    train: pd.DataFrame,
    columns: list[str],
    categorical: list[str],
    label: str = "churn",
    params: ChurnParams | None = None,
    folds: int = 5,
) -> tuple[int, float]:
    """The number of trees that maximises the mean AUC of a stratified k-fold CV inside ``train``.

    Every fold is boosted with ``params`` for at most ``params.n_estimators``
    trees; the folds stop together once their mean AUC has not improved for
    ``params.early_stopping_rounds`` trees. The folds are shuffled with
    ``params.seed``, so the choice is reproducible.

    Returns:
        (trees, the mean CV AUC at that count).
    """
    params = params or ChurnParams()
    model = untrained_model(train, columns, categorical, params, label)
    y = train[label].astype(int).to_numpy()
    splits = list(StratifiedKFold(folds, shuffle=True, random_state=params.seed).split(np.zeros(len(y)), y))
    native = {k: v for k, v in params.lightgbm().items() if k != "n_estimators"}
    history = lgb.cv(
        {**native, "objective": "binary", "metric": "auc"},
        lgb.Dataset(model.prepare(train), y),
        num_boost_round=params.n_estimators,
        folds=splits,
        callbacks=[lgb.early_stopping(params.early_stopping_rounds, verbose=False)],
    )
    aucs = np.asarray(history["valid auc-mean"])
    best = int(np.argmax(aucs))
    return best + 1, float(aucs[best])


def _weights(weight: Callable[[pd.DataFrame], np.ndarray] | None, frame: pd.DataFrame) -> np.ndarray | None:
    return None if weight is None else weight(frame)


def train_churn_model(
    train: pd.DataFrame,
    valid: pd.DataFrame | None,
    calibrate: pd.DataFrame | None,
    columns: list[str],
    categorical: list[str],
    label: str = "churn",
    params: ChurnParams | None = None,
    weight: Callable[[pd.DataFrame], np.ndarray] | None = None,
) -> ChurnModel:
    """Fit LightGBM on ``train`` with early stopping on ``valid``; calibrate on ``calibrate``.

    Args:
        train: Earlier snapshots (features and label).
        valid: A later month, for early stopping only; None fits exactly
            ``params.n_estimators`` trees (choose them with ``choose_tree_count``).
        calibrate: A later month still, for the calibrator only (None: no calibration).
        columns: Feature columns, in order.
        categorical: Which of them are categories.
        label: The label column (bool or 0/1).
        params: Hyper-parameters.
        weight: Each frame's row weights, the same rule for the fit, the early stopping's AUC and the
            calibrator (a case-control sample's, ``models.training_sample``); None: every row weighs 1.

    Returns:
        The fitted model.
    """
    params = params or ChurnParams()
    model = untrained_model(train, columns, categorical, params, label)
    classifier = lgb.LGBMClassifier(**params.lightgbm())
    if valid is None:
        classifier.fit(model.prepare(train), train[label].astype(int), sample_weight=_weights(weight, train))
    else:
        valid_weight = _weights(weight, valid)
        classifier.fit(
            model.prepare(train),
            train[label].astype(int),
            sample_weight=_weights(weight, train),
            eval_X=(model.prepare(valid),),
            eval_y=(valid[label].astype(int),),
            eval_sample_weight=None if valid_weight is None else [valid_weight],
            eval_metric="auc",
            callbacks=[lgb.early_stopping(params.early_stopping_rounds, verbose=False)],
        )
    model.booster = classifier.booster_
    model.best_iteration = int(classifier.best_iteration_ or classifier.booster_.num_trees())
    model.booster.best_iteration = model.best_iteration
    if calibrate is not None and params.calibration == "isotonic":
        isotonic = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
        isotonic.fit(
            model.uncalibrated(calibrate), calibrate[label].astype(int), sample_weight=_weights(weight, calibrate)
        )
        model.calibrator = isotonic
    elif calibrate is not None and params.calibration == "platt":
        platt = LogisticRegression(C=1e6)
        platt.fit(
            model.raw_score(calibrate).reshape(-1, 1),
            calibrate[label].astype(int),
            sample_weight=_weights(weight, calibrate),
        )
        model.calibrator = platt
    return model
