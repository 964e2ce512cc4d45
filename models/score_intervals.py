"""One model on its test rows: how sure its AUC and calibration error are, sized by the sample.

The gate's absolute thresholds (``GateRules.min_auc``, ``max_ece``) are judged
on one test period. On a small desk that is a few hundred requests, where an
ECE of 0.14 is what a perfectly calibrated model shows by chance: ten bins of a
dozen requests each miss their rate by a few points each. So the gate is shown
an interval of each figure, drawn by a **bootstrap over accounts** (an
account's rows come along together, as in ``models.comparison``; seeded), and
refuses only what is clearly worse.

- **AUC**: the percentile interval of the draws' AUC.
- **ECE**: the *basic* bootstrap interval, ``2 × ECE − the draws' upper and
  lower percentiles``, floored at zero. Noise inflates an ECE (a gap's absolute
  value is never below zero), and a draw of the sample is noisier still: the
  percentile interval would sit above the measured figure, while the basic
  interval takes away the inflation the draws show. The bins stay those of the
  measured figure (``models.metrics.expected_calibration_error``: equal-count
  bins by score), so a draw's ECE is one matrix product. (That module is not
  imported: the settings read ``models.gate``, which names these intervals, and
  must not load scikit-learn.)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from models.comparison import Ranking, account_draws, account_weights  # one AUC, one draw and weights for both

BINS = 10
"""Calibration bins, as ``expected_calibration_error`` counts them."""


@dataclass(frozen=True)
class MetricInterval:
    """One figure of a model on its test rows, with its bootstrap interval."""

    metric: str
    """``auc`` or ``ece``."""
    value: float
    low: float
    high: float
    level: float
    rounds: int
    seed: int
    accounts: int
    rows: int
    method: str

    def describe(self) -> str:
        """The figure in words, e.g. ``ECE 0.144 (95% interval 0.051 to 0.220, 127 rows)``."""
        return (
            f"{self.metric.upper()} {self.value:.3f} ({self.level:.0%} interval {self.low:.3f} to {self.high:.3f},"
            f" {self.rows:,} rows)"
        )

    def as_dict(self) -> dict[str, Any]:
        """The interval as plain values (the audit log, the run's report)."""
        return asdict(self)


def score_intervals(
    labels: np.ndarray | pd.Series,
    scores: np.ndarray | pd.Series,
    accounts: np.ndarray | pd.Series,
    *,
    rounds: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    weights: np.ndarray | pd.Series | None = None,
) -> dict[str, MetricInterval]:
    """The bootstrap intervals of a model's AUC and ECE on its test rows (accounts drawn).

    Args:
        labels: 1 for the event (a churner, a durable save), 0 otherwise, one per row.
        scores: The model's probability of each row.
        accounts: The account of each row: draws are of accounts, not rows.
        rounds: Bootstrap draws.
        level: Coverage of each interval.
        seed: Seed of the draws.
        weights: Each row's weight, one per account (a case-control sample's: ``models.training_sample``), or
            None: every row weighs 1. With weights the figures are the weighted ones ``models.evaluation``
            reports (the ECE over bins of equal weight), and each draw weighs an account by its weight times
            how often it was drawn.

    Returns:
        ``{"auc": ..., "ece": ...}``.

    Raises:
        ValueError: Lengths differ, the rows hold only one class (no AUC), or an account's rows weigh differently.
    """
    y, p = np.asarray(labels, dtype=float), np.asarray(scores, dtype=float)
    if not len(y) == len(p) == len(accounts):
        raise ValueError("labels, scores and accounts must have one value per row")
    if y.min(initial=1.0) == y.max(initial=0.0):
        raise ValueError("the rows hold only one class: no AUC to judge")
    codes, uniques = pd.factorize(pd.Series(np.asarray(accounts)), sort=False)
    account_weight = account_weights(codes, len(uniques), weights)
    w = account_weight[codes]
    ranking = Ranking.of(y, p, codes)
    gaps = _bin_gaps(y, p, None if weights is None else w)
    aucs, eces = [], []
    for counts in account_draws(len(uniques), len(y), rounds, seed):
        aucs.append(ranking.auc(counts * account_weight))
        drawn_weights = counts[:, codes] * w
        eces.append(np.abs(drawn_weights @ gaps).sum(axis=1) / drawn_weights.sum(axis=1))
    tail = (1.0 - level) / 2.0
    auc_draws = np.concatenate(aucs)
    auc_draws = auc_draws[np.isfinite(auc_draws)]  # a draw with one class only has no AUC
    auc = float(ranking.auc(account_weight[None, :])[0])
    ece = float(np.abs(w @ gaps).sum() / w.sum())  # as the metrics count it
    auc_low, auc_high = np.quantile(auc_draws, [tail, 1.0 - tail])
    ece_low, ece_high = np.quantile(np.concatenate(eces), [tail, 1.0 - tail])
    drawn = (level, rounds, seed, len(uniques), len(y))
    percentile = "bootstrap over accounts, percentile"
    basic = "bootstrap over accounts, basic (less the inflation noise adds)"
    ece_low, ece_high = max(0.0, 2 * ece - float(ece_high)), max(0.0, 2 * ece - float(ece_low))
    return {
        "auc": MetricInterval("auc", auc, float(auc_low), float(auc_high), *drawn, method=percentile),
        "ece": MetricInterval("ece", ece, ece_low, ece_high, *drawn, method=basic),
    }


def _bin_gaps(y: np.ndarray, p: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Rows × bins: each row's ``p − y`` in the column of its calibration bin (zeros elsewhere).

    Bins of equal count by score, or with ``weights`` of equal weight (``models.evaluation``'s weighted ECE).
    """
    order = np.argsort(p, kind="stable")
    gaps = np.zeros((len(p), BINS))
    if weights is None:
        for b, chunk in enumerate(np.array_split(order, BINS)):
            gaps[chunk, b] = p[chunk] - y[chunk]
        return gaps
    ordered = weights[order]
    before = np.cumsum(ordered) - ordered
    which = np.minimum((before / ordered.sum() * BINS).astype(int), BINS - 1)
    gaps[order, which] = p[order] - y[order]
    return gaps
