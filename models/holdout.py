"""The randomized holdout of proactive outreach: which eligible accounts are never listed, and for how long.

A seeded control slice of the accounts eligible for a proactive call is never
listed, so the desk can measure what its calls change (``models.outreach_effect``)
and learn whom a call moves (``models.uplift``). An account is held out when a
stable hash of (seed, period, account) falls below ``share``::

    held_out(account, day) = blake2b(f"{seed}|{period(day)}|{account}") / 2**64 < share

- **Stable for its period**: the same account is held out every night of a period
  (a quarter by default: ``2026Q4``) and drawn afresh the next period, whatever its
  risk does in between; no state is kept, so the nightly, the intraday runs and a
  re-run agree.
- **Stratified by risk band and territory**: the draw is independent of both, so every
  risk band (``RISK_BANDS``) and territory holds ``share`` of its accounts in expectation;
  the publication counts the holdout by band and territory so an unlucky stratum shows.
- **Only proactive outreach is withheld.** An account's own cancellation request is
  always answered (inbound queue and flips): the holdout measures what a proactive call
  adds to a desk that answers every caller, and never turns a customer away.

Who was held out on a night is published with the lists (``HOLDOUT_COLUMNS``; the file
is named in ``serving.publication.catalog``) and counted in the manifest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Literal

import numpy as np
import pandas as pd

HoldoutPeriod = Literal["month", "quarter", "year"]

RISK_BANDS = (("low", 0.0), ("medium", 0.05), ("high", 0.15))
"""Risk bands by churn probability: each band starts at its floor (high: 15 % or more over the horizon)."""

HOLDOUT_COLUMNS = [
    "account_id",
    "territory",
    "segment",
    "risk_band",
    "churn_probability",
    "saveable_value",
    "would_list",
    "period",
]
"""Columns of the published holdout: one row per held-out account planned that night; ``would_list`` is true
when its value would have put it on its territory's list."""


@dataclass(frozen=True)
class HoldoutRules:
    """How much of the proactive outreach is held back, and for how long.

    Attributes:
        share: Share of eligible proactive accounts held out (0: no holdout).
        period: How long one draw stands (``month``, ``quarter`` or ``year``).
        seed: Seed of the draw; a new seed draws a new control group.
    """

    share: float = 0.10
    period: HoldoutPeriod = "quarter"
    seed: int = 18

    def __post_init__(self) -> None:
        if not 0.0 <= self.share < 1.0:
            raise ValueError(f"holdout share must lie in [0, 1), got {self.share}")


def period_of(day: date, period: HoldoutPeriod) -> str:
    """The label of the holdout period holding ``day``: ``2026-11``, ``2026Q4`` or ``2026``."""
    if period == "month":
        return f"{day.year}-{day.month:02d}"
    if period == "quarter":
        return f"{day.year}Q{(day.month - 1) // 3 + 1}"
    return str(day.year)


def draws(accounts: Iterable[object], label: str, seed: int) -> np.ndarray:
    """A uniform number in [0, 1) per account, fixed by (seed, period label, account)."""
    out = [
        int.from_bytes(hashlib.blake2b(f"{seed}|{label}|{a}".encode(), digest_size=8).digest(), "big") / 2.0**64
        for a in accounts
    ]
    return np.asarray(out, dtype=np.float64)


def held_out(accounts: pd.Series, day: date, rules: HoldoutRules) -> np.ndarray:
    """Whether each account is in the holdout for the period holding ``day``."""
    if rules.share <= 0 or accounts.empty:
        return np.zeros(len(accounts), dtype=bool)
    return draws(accounts.astype(str), period_of(day, rules.period), rules.seed) < rules.share


def risk_band(probability: pd.Series) -> pd.Series:
    """The risk band (``RISK_BANDS``) of each churn probability; missing ones are ``low``."""
    p = pd.to_numeric(probability, errors="coerce").fillna(0.0).to_numpy()
    labels = np.full(len(p), RISK_BANDS[0][0], dtype=object)
    for name, floor in RISK_BANDS[1:]:
        labels[p >= floor] = name
    return pd.Series(labels, index=probability.index, dtype=object)


def holdout_counts(holdout: pd.DataFrame, rules: HoldoutRules | None = None) -> dict[str, object]:
    """The manifest's ``holdout``: accounts held out, those that would have been listed, by band and territory."""
    counts: dict[str, object] = {
        "accounts": len(holdout),
        "would_list": int(holdout["would_list"].sum()) if "would_list" in holdout else 0,
        "by_risk_band": {str(k): int(n) for k, n in holdout.groupby("risk_band").size().items()}
        if len(holdout) else {},
        "by_territory": {str(k): int(n) for k, n in holdout.groupby("territory").size().items()}
        if len(holdout) else {},
    }  # fmt: skip
    if len(holdout):
        counts["period"] = str(holdout["period"].iloc[0])
    if rules is not None:
        counts.update(share=rules.share, period_kind=rules.period, seed=rules.seed)
    return counts
