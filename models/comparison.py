"""Two models on the same rows: the paired interval of their AUC difference.

A gain measured on one test month is partly luck: the same rows favour one
ranking a little by chance. The gate asks instead how sure the gain is, with a
**paired bootstrap over accounts**: draw the accounts of the test rows with
replacement (every row of a drawn account comes along, so an account judged on
several months counts once per draw), compute both models' AUC on the draw
(the same draw for both: the pair is what is judged) and take the percentile
interval of the differences. Seeded, so a decision can be repeated exactly.

The AUC of a draw is computed from account weights (how often each account
was drawn) over rows sorted once per model: per draw, one cumulative sum over
the non-churners and a look-up per churner, so a thousand draws of twenty
thousand accounts take a few seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

CELLS = 4_000_000
"""Draws × rows computed together at most (about 32 MB a weight matrix): a large book draws a few at a time."""


@dataclass(frozen=True)
class AucInterval:
    """The challenger's AUC minus the champion's on the same rows, with its paired bootstrap interval."""

    difference: float
    low: float
    high: float
    level: float
    rounds: int
    seed: int
    accounts: int
    rows: int
    method: str = "paired bootstrap over accounts"

    def describe(self) -> str:
        """The interval in words, e.g. ``AUC gain +0.0021 (95% paired interval -0.0040 to +0.0083)``."""
        share = f"{self.level:.0%}"
        return f"AUC gain {self.difference:+.4f} ({share} paired interval {self.low:+.4f} to {self.high:+.4f})"

    def as_dict(self) -> dict[str, Any]:
        """The interval as plain values (the audit log, the run's report)."""
        return asdict(self)


def paired_auc_interval(
    labels: np.ndarray | pd.Series,
    champion_scores: np.ndarray | pd.Series,
    challenger_scores: np.ndarray | pd.Series,
    accounts: np.ndarray | pd.Series,
    *,
    rounds: int = 1000,
    level: float = 0.95,
    seed: int = 0,
    weights: np.ndarray | pd.Series | None = None,
) -> AucInterval:
    """The paired bootstrap interval of AUC(challenger) − AUC(champion) over the same rows.

    Args:
        labels: 1 for a churner, 0 otherwise, one per row.
        champion_scores: The champion's score of each row.
        challenger_scores: The challenger's score of each row.
        accounts: The account of each row: draws are of accounts, not rows.
        rounds: Bootstrap draws.
        level: Coverage of the interval (0.95: the 2.5th to the 97.5th percentile).
        seed: Seed of the draws.
        weights: Each row's weight, the same for every row of an account (a case-control sample's), or None:
            the AUCs are then the weighted ones, each draw weighing an account by its weight times its count.

    Raises:
        ValueError: Lengths differ, the rows hold only one class (no AUC), or an account's rows weigh differently.
    """
    y = np.asarray(labels, dtype=float)
    first, second = np.asarray(champion_scores, dtype=float), np.asarray(challenger_scores, dtype=float)
    if not len(y) == len(first) == len(second) == len(accounts):
        raise ValueError("labels, both models' scores and accounts must have one value per row")
    if y.min(initial=1.0) == y.max(initial=0.0):
        raise ValueError("the rows hold only one class: no AUC to compare")
    codes, uniques = pd.factorize(pd.Series(np.asarray(accounts)), sort=False)
    weight = account_weights(codes, len(uniques), weights)
    champion, challenger = Ranking.of(y, first, codes), Ranking.of(y, second, codes)
    draws = [
        challenger.auc(counts * weight) - champion.auc(counts * weight)
        for counts in account_draws(len(uniques), len(y), rounds, seed)
    ]
    gains = np.concatenate(draws)
    gains = gains[np.isfinite(gains)]  # a draw with one class only has no AUC
    tail = (1.0 - level) / 2.0
    low, high = np.quantile(gains, [tail, 1.0 - tail])
    once = weight[None, :]
    difference = float(challenger.auc(once)[0] - champion.auc(once)[0])
    return AucInterval(difference, float(low), float(high), level, rounds, seed, len(uniques), len(y))


def account_weights(codes: np.ndarray, accounts: int, weights: np.ndarray | pd.Series | None) -> np.ndarray:
    """Each account's weight from its rows' (``codes`` number each row's account); all ones without weights.

    Raises:
        ValueError: Not one weight per row, or an account's rows weigh differently.
    """
    if weights is None:
        return np.ones(accounts)
    w = np.asarray(weights, dtype=float)
    weight = np.zeros(accounts)
    weight[codes] = w if len(w) == len(codes) else np.nan
    if not np.array_equal(weight[codes], w):
        raise ValueError("weights must give one weight per row, the same for every row of an account")
    return weight


def account_draws(accounts: int, rows: int, rounds: int, seed: int) -> Iterator[np.ndarray]:
    """The bootstrap's draws of accounts, a few at a time: draws × accounts, how often each account was drawn.

    Seeded; at most ``CELLS`` draws × rows are weighed together, so a large book draws a few at a time.
    """
    rng = np.random.default_rng(seed)
    chunk = max(1, min(64, CELLS // max(rows, 1)))
    for start in range(0, rounds, chunk):
        picked = rng.integers(0, accounts, size=(min(chunk, rounds - start), accounts))
        yield np.stack([np.bincount(row, minlength=accounts) for row in picked]).astype(float)


@dataclass(frozen=True)
class Ranking:
    """One model's rows in score order, reduced to what a weighted AUC needs."""

    negative_accounts: np.ndarray
    """The account of each non-churner row, in score order."""
    positive_accounts: np.ndarray
    """The account of each churner row."""
    below: np.ndarray
    """For each churner row: how many non-churner rows score strictly lower."""
    up_to: np.ndarray
    """For each churner row: how many non-churner rows score lower or the same (ties count one half)."""

    @classmethod
    def of(cls, y: np.ndarray, scores: np.ndarray, codes: np.ndarray) -> Ranking:
        """The ranking of rows with labels ``y`` by ``scores``; ``codes`` numbers each row's account."""
        order = np.argsort(scores, kind="stable")
        ordered, positive = scores[order], y[order] == 1
        first = np.r_[True, ordered[1:] != ordered[:-1]]  # the first row of each run of equal scores
        group = np.cumsum(first) - 1
        starts = np.flatnonzero(first)
        ends = np.r_[starts[1:], len(ordered)]
        negatives = np.flatnonzero(~positive)
        mine = group[positive]
        below = np.searchsorted(negatives, starts[mine])
        up_to = np.searchsorted(negatives, ends[mine])
        return cls(codes[order][~positive], codes[order][positive], below, up_to)

    def auc(self, counts: np.ndarray) -> np.ndarray:
        """The AUC under each row of ``counts`` (draws × accounts: how often each account was drawn)."""
        negative = counts[:, self.negative_accounts]
        seen = np.zeros((len(counts), negative.shape[1] + 1))
        np.cumsum(negative, axis=1, out=seen[:, 1:])
        positive = counts[:, self.positive_accounts]
        lower, tied = seen[:, self.below], seen[:, self.up_to] - seen[:, self.below]
        total = positive.sum(axis=1) * seen[:, -1]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(total > 0, (positive * (lower + 0.5 * tied)).sum(axis=1) / total, np.nan)
