"""A declared sample of accounts for training the churn model on a book too large for one process.

Training holds every training month's rows at once (``churn.train_months`` snapshots of the whole book), which
grows with the book until no single machine holds it. With ``churn.training = "sample"`` the churn model is
trained, early-stopped, calibrated and judged on a sample of *accounts* instead, drawn so that:

- an account is in or out with all its months (consecutive snapshots share most of their label window, so
  rows of one account on both sides would flatter the model, as ``models.dataset`` explains);
- it is stratified by whether the account churned in any training month: each stratum keeps the same share,
  so the sample's churn rate is the book's, to the account;
- it is seeded and stable: an account's place in the draw is a mix of the CRC-32 of its id with the seed
  (the same on every machine and run), so retraining on a longer history keeps the same accounts, and a
  champion and a challenger are judged on the same rows;
- it is independent of the held-out fifth of ``models.dataset.held_out`` (the mix scatters the CRC-32), so the
  validation and calibration months keep a fifth of the sample.

The share kept is ``max_rows`` over the training rows the whole book would give (all of it when they fit).
How close the sampled model comes to the full one is measured by ``bench/train.py --sample``.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from dataclasses import dataclass

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


@dataclass(frozen=True)
class AccountSample:
    """The accounts kept for training, and how they were drawn."""

    accounts: np.ndarray
    """The kept account ids, sorted."""
    share: float
    """The share of each stratum kept (1.0: every account, nothing was sampled)."""
    book_rows: int
    """Training rows the whole book gives (the held-in accounts' rows of the training months)."""
    strata: dict[str, tuple[int, int]]
    """Accounts kept and accounts in each stratum ("churned" in a training month, "stayed")."""
    seed: int

    @property
    def sampled(self) -> bool:
        """Whether any account was left out."""
        return self.share < 1.0

    def describe(self) -> dict[str, float | int]:
        """The sample as run parameters (``training.*``)."""
        kept = {f"training.sample_{name}_accounts": kept for name, (kept, _) in self.strata.items()}
        total = {f"training.book_{name}_accounts": total for name, (_, total) in self.strata.items()}
        return {"training.sample_share": round(self.share, 6), "training.book_rows": self.book_rows,
                "training.sample_seed": self.seed, **kept, **total}  # fmt: skip


def sample_accounts(
    account_ids: np.ndarray, churned: np.ndarray, book_rows: int, max_rows: int, seed: int
) -> AccountSample:
    """The stratified, seeded sample of accounts whose training rows come to at most about ``max_rows``.

    Args:
        account_ids: Every account that may be trained or judged on (each once).
        churned: Whether each account churned in any training month (the stratum).
        book_rows: The training rows the whole book gives.
        max_rows: The most training rows wanted (``churn.max_training_rows``).
        seed: The draw's seed (``churn.sample_seed``).

    Returns:
        Every account when ``book_rows <= max_rows``; otherwise ``round(share × n)`` accounts of each stratum of
        ``n``, those first in the seeded draw, with ``share = max_rows / book_rows``.
    """
    ids = np.asarray(account_ids)
    stratum = np.asarray(churned, dtype=bool)
    share = 1.0 if book_rows <= max_rows else max_rows / book_rows
    keys = draw_keys(ids, seed)
    kept: list[np.ndarray] = []
    strata: dict[str, tuple[int, int]] = {}
    for name, members in (("churned", stratum), ("stayed", ~stratum)):
        index = np.flatnonzero(members)
        count = len(index) if share >= 1.0 else int(round(share * len(index)))
        chosen = index[np.argsort(keys[index], kind="stable")[:count]]
        kept.append(ids[chosen])
        strata[name] = (count, len(index))
    return AccountSample(np.sort(np.concatenate(kept)), share, book_rows, strata, seed)
