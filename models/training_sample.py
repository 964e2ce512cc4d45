"""A declared sample of accounts for training the churn model on a book too large for one process.

Training holds every training month's rows at once (``churn.train_months`` snapshots of the whole book), which
grows with the book until no single machine holds it. With ``churn.training = "sample"`` the churn model is
trained, early-stopped, calibrated and judged on a sample of *accounts* instead: a case-control sample.

- Every account that churned in a training month is kept (churn is rare; most of what there is to learn about
  it is in the accounts that left), and the rest of the row budget (``churn.max_training_rows``) is filled with
  the accounts that stayed, in the order of a seeded draw, until their training rows would pass it.
- When the churned accounts' rows pass half the budget (a national book), the churned accounts are drawn too,
  in the same seeded order, until their rows fill half of it; the stayed ones fill the other half.
- Each kept stayed account's rows weigh ``stayed_weight`` = the churned share over the stayed share (with every
  churned account kept: the book's stayed training rows over the kept ones), a churned account's rows weigh 1,
  so the weighted rows have the book's proportions: the model's fit, its early stopping, its Platt calibration
  and the test month's figures see the book, not the sample (``AccountSample.weights``; the weighted stayed
  training rows over the churned ones are the book's). A book whose rows fit is not sampled.
- An account is in or out with all its months (consecutive snapshots share most of their label window, so
  rows of one account on both sides would flatter the model, as ``models.dataset`` explains).
- The draw is seeded and stable: an account's place in it is a mix of the CRC-32 of its id with the seed (the
  same on every machine and run), so retraining on a longer history keeps the same accounts, a larger budget
  only adds accounts, and a champion and a challenger are judged on the same rows.
- It is independent of the held-out fifth of ``models.dataset.held_out`` (the mix scatters the CRC-32), so the
  validation and calibration months keep a fifth of the sample.

How close the sampled model comes to the full one is measured by ``bench/train.py --compare``.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def draw_keys(account_ids: Iterable[object], seed: int) -> np.ndarray:
    """Each account's place in the seeded draw: SplitMix64 of its id's CRC-32 and the seed (uniform, stable)."""
    crc = np.fromiter((zlib.crc32(str(a).encode()) for a in account_ids), dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = crc + np.uint64(seed + 1) * _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


WHOLE_BOOK, CASE_CONTROL = "whole book", "case-control"
"""How a sample was drawn: nothing left out; the churned accounts (all of them while their rows fill at most
half the budget) and a weighted share of the stayed ones."""


@dataclass(frozen=True)
class AccountSample:
    """The accounts kept for training, how they were drawn, and what each kept account's rows weigh."""

    accounts: np.ndarray
    """The kept account ids, sorted."""
    share: float
    """The share of the book's training rows kept (1.0: every account, nothing was sampled)."""
    book_rows: int
    """Training rows the whole book gives (the held-in accounts' rows of the training months)."""
    strata: dict[str, tuple[int, int]]
    """Accounts kept and accounts in each stratum ("churned" in a training month, "stayed")."""
    seed: int
    churned: np.ndarray = field(default_factory=lambda: np.array([], dtype=object))
    """The kept accounts of the churned stratum, sorted (their rows weigh 1)."""
    stayed_share: float = 1.0
    """The share of the stayed stratum's training rows kept."""
    stayed_weight: float = 1.0
    """What each row of a kept stayed account weighs: the churned share of training rows kept over the stayed
    share (with every churned account kept: the book's stayed training rows over the kept ones)."""
    scheme: str = WHOLE_BOOK
    """``CASE_CONTROL`` or ``WHOLE_BOOK``."""
    churned_share: float = 1.0
    """The share of the churned stratum's training rows kept (1.0 while they fill at most half the budget)."""
    rows: int = 0
    """Training rows kept (the held-in kept accounts' rows of the training months)."""

    @property
    def sampled(self) -> bool:
        """Whether any account was left out."""
        return any(kept < total for kept, total in self.strata.values())

    @property
    def weighted(self) -> bool:
        """Whether the rows weigh differently (a case-control sample that left stayed accounts out)."""
        return self.stayed_weight != 1.0

    def weights(self, account_ids: Iterable[object]) -> np.ndarray:
        """Each row's weight, by its account: 1 for a churned account, ``stayed_weight`` for a stayed one."""
        ids = np.asarray(account_ids, dtype=object)
        if not self.weighted:
            return np.ones(len(ids))
        return np.where(np.isin(ids.astype(str), np.asarray(self.churned, dtype=str)), 1.0, self.stayed_weight)

    def book_like(self, account_ids: Iterable[object]) -> np.ndarray:
        """Which rows to keep so that unweighted rows have the book's proportions (all of them when unweighted).

        The churned accounts are thinned to one over ``stayed_weight`` (the stayed share over the churned share)
        by their place in the draw (a stayed account is always kept), for figures that take no weights, such as
        the drift reference.
        """
        ids = np.asarray(account_ids, dtype=object)
        if not self.weighted:
            return np.ones(len(ids), dtype=bool)
        drawn_early = draw_keys(ids, self.seed + 1) < np.uint64(int(float(2**64 - 1) / self.stayed_weight))
        return ~np.isin(ids.astype(str), np.asarray(self.churned, dtype=str)) | drawn_early

    def describe(self) -> dict[str, float | int | str]:
        """The sample as run parameters (``training.*``)."""
        kept = {f"training.sample_{name}_accounts": kept for name, (kept, _) in self.strata.items()}
        total = {f"training.book_{name}_accounts": total for name, (_, total) in self.strata.items()}
        return {"training.sample_scheme": self.scheme, "training.sample_share": round(self.share, 6),
                "training.sample_rows": self.rows, "training.book_rows": self.book_rows,
                "training.sample_stayed_share": round(self.stayed_share, 6),
                "training.sample_churned_share": round(self.churned_share, 6),
                "training.sample_stayed_weight": round(self.stayed_weight, 6),
                "training.sample_seed": self.seed, **kept, **total}  # fmt: skip


def sample_accounts(
    account_ids: np.ndarray, churned: np.ndarray, rows: np.ndarray, max_rows: int, seed: int
) -> AccountSample:
    """The seeded case-control sample of accounts whose training rows come to at most ``max_rows``.

    Args:
        account_ids: Every account that may be trained or judged on (each once).
        churned: Whether each account churned in any training month (the stratum).
        rows: Each account's training rows (its held-in rows of the training months; 0 for a held-out one).
        max_rows: The most training rows wanted (``churn.max_training_rows``).
        seed: The draw's seed (``churn.sample_seed``).

    Returns:
        Every account when the book's training rows fit ``max_rows``. Otherwise the churned accounts (every one
        while their rows come to at most half of ``max_rows``, else those first in the seeded draw whose rows
        fill half), and the stayed accounts first in the draw whose rows fill the rest, weighted by the churned
        share over the stayed share.
    """
    ids = np.asarray(account_ids)
    stratum = np.asarray(churned, dtype=bool)
    counts = np.asarray(rows, dtype=np.int64)
    keys = draw_keys(ids, seed)
    book_rows = int(counts.sum())
    churned_rows = int(counts[stratum].sum())
    stayed_rows = book_rows - churned_rows
    if book_rows <= max_rows:
        scheme, budgets = WHOLE_BOOK, (churned_rows, stayed_rows)
    else:
        churned_budget = min(churned_rows, max_rows // 2)
        scheme, budgets = CASE_CONTROL, (churned_budget, max_rows - churned_budget)
    kept: dict[str, np.ndarray] = {}
    kept_rows: dict[str, int] = {}
    strata: dict[str, tuple[int, int]] = {}
    for (name, members), budget in zip((("churned", stratum), ("stayed", ~stratum)), budgets, strict=True):
        index = np.flatnonzero(members)
        order = index[np.argsort(keys[index], kind="stable")]
        count = int(np.searchsorted(np.cumsum(counts[order]), budget, side="right"))
        kept[name] = np.sort(ids[order[:count]])
        kept_rows[name] = int(counts[order[:count]].sum())
        strata[name] = (count, len(index))
    stayed_share = kept_rows["stayed"] / stayed_rows if stayed_rows else 1.0
    churned_share = kept_rows["churned"] / churned_rows if churned_rows else 1.0
    weight = churned_share / stayed_share if scheme == CASE_CONTROL and kept_rows["stayed"] else 1.0
    total = kept_rows["churned"] + kept_rows["stayed"]
    return AccountSample(
        accounts=np.sort(np.concatenate([kept["churned"], kept["stayed"]])),
        share=total / book_rows if book_rows else 1.0,
        book_rows=book_rows,
        strata=strata,
        seed=seed,
        churned=kept["churned"],
        stayed_share=stayed_share,
        stayed_weight=weight,
        scheme=scheme,
        churned_share=churned_share,
        rows=total,
    )
