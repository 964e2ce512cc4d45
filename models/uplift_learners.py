"""A low-variance uplift learner: the churn model's log-odds plus treatment × feature interaction terms.

Lo (2002, "The true lift model", the *interaction approach*) fits one logistic model of the
outcome on the features, the treatment and their products. Here the churn model's log-odds
``f(x)`` enter as a column (its slope and the intercept re-calibrate it on the training rows),
so the learner only has to find what a call adds::

    logit P(churn | x, no call) = a + c·f(x) + β·z(x)
    logit P(churn | x, call)    = a + c·f(x) + β·z(x) + b + γ·z(x)
    effect(x) = P(churn | x, no call) − P(churn | x, call)       (> 0: the call keeps the account)

``z(x)`` is the features made linear-model ready (``Design``): numbers clipped to their 1st and
99th percentiles and standardised, a missing value as the median plus a missing flag, categories
one-hot, and (with ``bins``) each number's quantile bin one-hot beside its straight line, so a call's
effect may step (a renewal window is a band of days to the contract's end, not a slope).
The L2 penalties on β and γ are the learner's regularisation: a large γ penalty shrinks
every account towards the same effect ``b``; the choice between penalties (and learners) is made
by cross-validated Qini on the training rows (``models.uplift_selection``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd
from lightgbm import LGBMClassifier
from scipy.optimize import minimize
from scipy.special import expit


class RiskModel(Protocol):
    """What the learners read of the churn model (``models.churn.ChurnModel``)."""

    columns: list[str]

    def raw_score(self, frame: pd.DataFrame) -> np.ndarray:
        """Churn log-odds of each row."""
        ...

    def prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The model's columns of ``frame``, as LightGBM reads them."""
        ...

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Churn probability of each row."""
        ...


MIN_LEVEL_ROWS = 50
"""Fewest training rows a category level needs to get its own column (rarer levels share none)."""


@dataclass(frozen=True)
class Design:
    """How features become the interaction model's columns (fitted on the training rows only)."""

    numeric: list[str]
    low: np.ndarray
    high: np.ndarray
    centre: np.ndarray
    scale: np.ndarray
    median: np.ndarray
    flagged: list[str]
    """Numbers with missing values in training: each gets a missing flag."""
    levels: dict[str, list[str]]
    edges: tuple[np.ndarray, ...] = ()
    """Inner quantile edges of each number's bins (empty: no bins)."""

    @classmethod
    def fit(cls, rows: pd.DataFrame, columns: list[str], categorical: list[str], bins: int = 0) -> Design:
        """Clip bounds, centres, scales and medians of the numbers, levels of the categories, ``bins`` bin edges."""
        numeric = [c for c in columns if c not in categorical]
        values = _numbers(rows, numeric)
        low, high = np.nanpercentile(values, 1, axis=0), np.nanpercentile(values, 99, axis=0)
        median = np.nanmedian(values, axis=0)
        median = np.where(np.isnan(median), 0.0, median)
        clipped = np.clip(np.where(np.isnan(values), median, values), low, high)
        centre, scale = clipped.mean(axis=0), clipped.std(axis=0)
        flagged = [c for j, c in enumerate(numeric) if np.isnan(values[:, j]).any()]
        levels = {}
        for column in categorical:
            counts = rows[column].astype("string").value_counts()
            levels[column] = sorted(str(v) for v in counts[counts >= MIN_LEVEL_ROWS].index)
        low, high = np.where(np.isnan(low), 0.0, low), np.where(np.isnan(high), 0.0, high)
        quantiles = np.linspace(0, 1, bins + 1)[1:-1]
        edges = tuple(_bin_edges(clipped[:, j], quantiles) for j in range(len(numeric))) if bins > 1 else ()
        return cls(numeric, low, high, centre, np.where(scale > 0, scale, 1.0), median, flagged, levels, edges)

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """The model's columns for ``frame`` (float32: the rows of many months are held at once)."""
        values = _numbers(frame, self.numeric)
        missing = np.isnan(values)
        clipped = np.clip(np.where(missing, self.median, values), self.low, self.high)
        parts = [((clipped - self.centre) / self.scale).astype(np.float32)]
        index = {c: j for j, c in enumerate(self.numeric)}
        if self.flagged:
            parts.append(missing[:, [index[c] for c in self.flagged]].astype(np.float32))
        for column, levels in self.levels.items():
            text = frame[column].astype("string").to_numpy(dtype=object, na_value="")
            parts.append((text[:, None] == np.asarray(levels, dtype=object)[None, :]).astype(np.float32))
        for j, edges in enumerate(self.edges):
            if len(edges):
                bin_ = np.searchsorted(edges, clipped[:, j], side="right")
                parts.append((bin_[:, None] == np.arange(1, len(edges) + 1)[None, :]).astype(np.float32))
        return np.hstack(parts)


def _bin_edges(values: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    """The distinct inner quantile edges of a number (none for a number that is never known)."""
    known = values[~np.isnan(values)]
    return np.unique(np.quantile(known, quantiles)) if len(known) else np.empty(0)


def _numbers(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    out = np.empty((len(frame), len(columns)), dtype=np.float64)
    for j, column in enumerate(columns):
        out[:, j] = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    return out


@dataclass(frozen=True)
class InteractionLearner:
    """A fitted interaction model (see the module docstring) with the churn model whose log-odds it reads."""

    churn: RiskModel
    design: Design
    intercept: float
    slope: np.ndarray
    """Coefficients of the baseline columns (``baseline_columns``)."""
    call: float
    main: np.ndarray
    interaction: np.ndarray
    penalty: float
    """The L2 penalty γ was fitted with."""
    propensity: LGBMClassifier | None = None
    """The desk's propensity to call (its log-odds a baseline column), or None."""

    def logits(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Churn log-odds of each account without a call and with one."""
        z = self.design.transform(frame)
        base = self.intercept + baseline_columns(frame, self.churn, self.propensity) @ self.slope + z @ self.main
        return base, base + self.call + z @ self.interaction

    def effect(self, frame: pd.DataFrame) -> np.ndarray:
        """Expected reduction in churn probability if each account is called (negative: pushed away)."""
        uncalled, called = self.logits(frame)
        return np.asarray(expit(uncalled) - expit(called))


def baseline_columns(frame: pd.DataFrame, churn: RiskModel, propensity: LGBMClassifier | None) -> np.ndarray:
    """The churn model's log-odds and, with a propensity model, the log-odds of the desk calling the account.

    The desk chose whom to call by what it saw of each account's risk; the propensity's log-odds carry that
    choice, so the baseline of the called is judged like-for-like with the uncalled it resembles.
    """
    columns = [churn.raw_score(frame)]
    if propensity is not None:
        columns.append(np.asarray(propensity.predict(churn.prepare(frame), raw_score=True)))
    return np.column_stack(columns).astype(np.float64)


def fit_interaction(
    rows: pd.DataFrame,
    called: np.ndarray,
    churned: np.ndarray,
    churn: RiskModel,
    design: Design,
    penalty: float,
    main_penalty: float,
    propensity: LGBMClassifier | None = None,
) -> InteractionLearner:
    """Fit the interaction model by penalised maximum likelihood (L-BFGS).

    Args:
        rows: Training rows holding the churn model's columns.
        called: Whether each row's account was called in the month after its as-of date.
        churned: Its churn label.
        churn: The churn model whose log-odds enter as a column.
        design: The feature columns' transform (fitted on these rows or a superset).
        penalty: L2 penalty on γ (the interaction terms), per row.
        main_penalty: L2 penalty on β (the main-effect corrections), per row.
        propensity: The desk's propensity to call, whose log-odds join the baseline (None: the churn model's
            log-odds alone).
    """
    z = design.transform(rows)
    f = baseline_columns(rows, churn, propensity)
    k = f.shape[1]
    t = np.asarray(called, dtype=np.float64)
    y = np.asarray(churned, dtype=np.float64)
    n, p = z.shape

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        a, c, b, beta, gamma = w[0], w[1 : 1 + k], w[1 + k], w[2 + k : 2 + k + p], w[2 + k + p :]
        eta = a + f @ c + t * b + z @ beta.astype(np.float32) + t * (z @ gamma.astype(np.float32))
        # log(1 + e^eta) − y·eta, stably
        nll = np.mean(np.logaddexp(0.0, eta) - y * eta)
        r = (expit(eta) - y) / n
        grad = np.empty_like(w)
        grad[0], grad[1 : 1 + k], grad[1 + k] = r.sum(), f.T @ r, r @ t
        grad[2 + k : 2 + k + p] = z.T @ r.astype(np.float32) + main_penalty * beta
        grad[2 + k + p :] = z.T @ (t * r).astype(np.float32) + penalty * gamma
        value = nll + 0.5 * main_penalty * beta @ beta + 0.5 * penalty * gamma @ gamma
        return float(value), grad

    start = np.zeros(2 + k + 2 * p)
    start[1] = 1.0
    w = minimize(loss, start, jac=True, method="L-BFGS-B", options={"maxiter": 500}).x
    return InteractionLearner(churn, design, float(w[0]), w[1 : 1 + k].copy(), float(w[1 + k]),
                              w[2 + k : 2 + k + p].copy(), w[2 + k + p :].copy(), penalty, propensity)  # fmt: skip
