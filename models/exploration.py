"""Offers that keep learning: a seeded, bounded-cost randomization among the offers worth nearly the best.

Once reps follow the single best offer, the desk stops varying its offers and the save model loses what it
learned offer effects from. ``Exploration`` keeps a little variation, at a declared price:

- among the offers every guardrail allows, those whose expected net value is within the margin of the best
  (``margin`` dollars, or ``margin_share`` of the best's value, whichever is wider) are *near best*;
- with ``rate`` ε and k near-best offers, each near-best offer is chosen with probability ε / k, and the best
  gets the rest, 1 − ε + ε / k: the best always has the highest propensity, every other offer has 0;
- the expected value given up on a request is Σ P(offer) × (best value − its value) ≤ ε × (k − 1) / k × margin,
  below the declared bound ε × margin (``cost_bound``);
- the draw is a hash of the seed, the request's id and its date (``draw_key``), so a request gets the same offer
  on every run, in the nightly list and in its plan, and the propensity of what was published is known.

The propensity of the published offer (``offer_propensity``) travels with the row into ``save_attempts``, and the
save model and the doubly robust valuation weight by it where it exists (``models.offer_propensity``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

PROPENSITY_COLUMN = "offer_propensity"
"""The published column: P(the desk's randomization chose this row's offer)."""


@dataclass(frozen=True)
class Exploration:
    """How the desk randomizes among near-best offers (settings ``save.exploration``).

    Attributes:
        rate: ε, the chance a request's offer is drawn among the near-best ones rather than the best (0: off).
        margin: How far below the best expected net value an offer may be and still be drawn, in dollars.
        margin_share: The same as a share of the best's expected net value; the wider of the two applies.
        seed: Seeds the per-request draw.
    """

    rate: float = 0.2
    margin: float = 100.0
    margin_share: float = 0.25
    seed: int = 0

    def __post_init__(self) -> None:
        """Refuse a rate outside [0, 1) or a negative margin (the best must keep the highest propensity)."""
        if not 0.0 <= self.rate < 1.0:
            raise ValueError(f"save.exploration.rate must be in [0, 1), not {self.rate}")
        if self.margin < 0 or self.margin_share < 0:
            raise ValueError("save.exploration.margin and margin_share must not be negative")

    @property
    def active(self) -> bool:
        """Whether any request can be given another offer than its best."""
        return self.rate > 0 and (self.margin > 0 or self.margin_share > 0)

    def tolerance(self, best: np.ndarray) -> np.ndarray:
        """The margin below each decision's best expected net value, in dollars."""
        return np.maximum(self.margin, self.margin_share * np.abs(np.asarray(best, dtype=float)))

    def cost_bound(self, best: np.ndarray) -> np.ndarray:
        """The declared most expected value a decision gives up to exploration: rate × its margin, in dollars."""
        return self.rate * self.tolerance(best)

    def describe(self) -> str:
        """The declaration, as printed beside the measured cost."""
        return (
            f"exploration: rate {self.rate:g}, margin ${self.margin:,.0f} or {self.margin_share:.0%} of the best"
            f" offer's value; expected value given up per request at most rate × margin"
        )


def draw_key(request_id: object, day: object) -> str:
    """What a request's draw is seeded by besides the seed: its id and its date (``YYYY-MM-DD``; empty if none)."""
    stamp = pd.Timestamp(str(day)) if day is not None and str(day) not in ("NaT", "nan", "None", "") else None
    return f"{request_id}|{stamp.date().isoformat() if stamp is not None else ''}"


def uniform(seed: int, keys: np.ndarray) -> np.ndarray:
    """A reproducible draw in [0, 1) per key: a hash of the seed and the key (no generator state)."""
    out = np.empty(len(keys))
    for i, key in enumerate(keys.tolist()):
        digest = hashlib.blake2b(f"{seed}|{key}".encode(), digest_size=8).digest()
        out[i] = int.from_bytes(digest, "big") / 2.0**64
    return out


def propensities(exploration: Exploration | None, group: np.ndarray, value: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """P(each candidate row is the published offer).

    Args:
        exploration: The declared randomization (None or inactive: the best offer with probability 1).
        group: Each row's decision (``models.policy.decision_groups``).
        value: Expected net value of each row (−inf, or anything, where not allowed: ``rank`` says which are).
        rank: 1 = the best allowed offer of its decision, 0 = not allowed.

    Returns:
        One probability per row: over each decision's allowed offers they sum to 1; a row not allowed, or
        allowed but outside the margin, gets 0; the best gets the most.
    """
    best_row = rank == 1
    if exploration is None or not exploration.active or len(group) == 0:
        return best_row.astype(float)
    n = group.max() + 1
    best = np.full(n, np.nan)
    best[group[best_row]] = value[best_row]
    tolerance = exploration.tolerance(np.nan_to_num(best))
    near = (rank > 0) & (value >= best[group] - tolerance[group])
    k = np.bincount(group[near], minlength=n).astype(float)
    share = np.where(near, exploration.rate / np.maximum(k[group], 1.0), 0.0)
    return share + np.where(best_row, 1.0 - exploration.rate, 0.0)


def draw(seed: int, group: np.ndarray, rank: np.ndarray, propensity: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Which row each decision publishes: a seeded draw by ``propensity``, the offers taken in rank order.

    Args:
        seed: The exploration's seed.
        group: Each row's decision.
        rank: Each row's rank (1 = best); rows of rank 0 have propensity 0.
        propensity: ``propensities``.
        keys: Each row's ``draw_key`` (the same on every row of a decision).

    Returns:
        A boolean mask: one row per decision that has an allowed offer.
    """
    chosen = np.zeros(len(group), dtype=bool)
    if len(group) == 0:
        return chosen
    order = np.lexsort((np.where(rank > 0, rank, np.iinfo(np.int64).max), group))
    grouped = group[order]
    first = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]])
    u = uniform(seed, keys[order][first])
    cumulative = np.cumsum(propensity[order])
    start = np.repeat(cumulative[first] - propensity[order][first], np.diff(np.r_[first, len(order)]))
    within = cumulative - start  # the cumulative propensity inside each decision, in rank order
    below = np.repeat(u, np.diff(np.r_[first, len(order)]))
    # The first row whose cumulative propensity passes the draw (the last positive one, against rounding).
    passed = (within > below) & (propensity[order] > 0)
    last_positive = propensity[order] > 0
    for lo, hi in zip(first.tolist(), np.r_[first[1:], len(order)].tolist(), strict=True):
        hits = np.flatnonzero(passed[lo:hi])
        if len(hits):
            chosen[order[lo + hits[0]]] = True
        else:
            positive = np.flatnonzero(last_positive[lo:hi])
            if len(positive):
                chosen[order[lo + positive[-1]]] = True
    return chosen


def expected_cost(plans: pd.DataFrame, exploration: Exploration) -> pd.DataFrame:
    """Per decision, the expected value exploration gives up and its declared bound, in dollars.

    Args:
        plans: ``models.policy.decide`` rows with ``offer_propensity`` (the decision key, ``rank``,
            ``expected_net_value``).
        exploration: The declaration the plans were drawn under.

    Returns:
        One row per decision with an allowed offer: ``best_value``, ``cost`` (Σ P(offer) × (best − value)) and
        ``bound`` (rate × margin).
    """
    key = "request_id" if "request_id" in plans else "account_id"
    allowed = plans[plans["rank"].to_numpy() > 0]
    value = allowed["expected_net_value"].to_numpy(dtype=float)
    best = allowed.loc[allowed["rank"] == 1].set_index(key)["expected_net_value"]
    best_of_row = best.reindex(allowed[key]).to_numpy(dtype=float)
    given_up = allowed[PROPENSITY_COLUMN].to_numpy(dtype=float) * (best_of_row - value)
    cost = pd.Series(given_up, index=allowed[key].to_numpy()).groupby(level=0, sort=False).sum()
    out = pd.DataFrame({key: best.index, "best_value": best.to_numpy(dtype=float)})
    out["cost"] = cost.reindex(out[key]).to_numpy(dtype=float)
    out["bound"] = exploration.cost_bound(out["best_value"].to_numpy())
    return out
