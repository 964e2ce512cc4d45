"""The consultative offers' terms: add a stream, lease a compactor, convert a sold or moving business.

Each function returns arrays in account order (``new_monthly_rate``, ``monthly_cost_to_serve``,
``weekly_capacity_after``, ``one_off_cost``, ``applicable``, ``proposed_change``, ``not_applicable_reason``),
the shape ``models.right_size.right_size`` gives, for ``models.offers.offer_terms`` to lay out.

- **Add a stream**: a recycling or organics line the account lacks, the first its jurisdiction mandates
  (``models.mandates.Mandate``), else recycling when it has none. The new line is priced at its cost to serve plus
  ``added_line_markup_pct``: margin added, at the cost of a container's delivery.
- **Compactor lease**: for a large commercial or industrial account with no lease, a compactor on its biggest
  line packs the waste into ``1 / compaction_ratio`` of the lifts; the line's rate falls with the capacity
  lifted (as a right-size's does) and the lease is added at its cost plus ``compactor_lease_markup_pct``.
- **Convert**: a business sold or moving (``sources.vocabulary.CONVERTIBLE_REASONS``) is secured as the new
  owner's, or the new address's, account at today's rate, for a new term.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.cost_to_serve import CostToServe
from models.guardrails import Mandate, mandated_streams
from sources import vocabulary as v

ADDABLE_STREAMS = ("recycling", "organics")
"""The streams a rep may add to an account."""


@dataclass(frozen=True)
class ConsultativeRules:
    """How the consultative offers are sized and priced.

    The defaults are what the simulated hauler does (``sources/simulator/consultative.py``).

    Attributes:
        added_line_yards: Container of an added stream, in cubic yards, lifted once a week.
        added_cart_yards: The same for a residential account (a cart).
        added_line_markup_pct: An added line's rate over its cost to serve, in %.
        added_line_delivery_cost: Delivering the new container, in dollars.
        compactor_segments: Segments a compactor is offered to.
        compactor_min_weekly_yards: Least weekly capacity a compactor pays for, in cubic yards.
        compaction_ratio: How many times more waste a compactor packs into one lift.
        compactor_lease_markup_pct: The lease's rate over its cost, in %.
        compactor_install_cost: Installing the compactor, in dollars.
        convert_setup_cost: Signing the new owner or address (credit check, paperwork, a container move), in dollars.
    """

    added_line_yards: float = 2.0
    added_cart_yards: float = 0.5
    added_line_markup_pct: float = 35.0
    added_line_delivery_cost: float = 75.0
    compactor_segments: tuple[str, ...] = ("commercial", "industrial")
    compactor_min_weekly_yards: float = 12.0
    compaction_ratio: float = 2.0
    compactor_lease_markup_pct: float = 20.0
    compactor_install_cost: float = 250.0
    convert_setup_cost: float = 60.0

    def __post_init__(self) -> None:
        """Refuse rules that could not price an offer."""
        if self.compaction_ratio <= 1 or self.added_line_yards <= 0 or self.added_cart_yards <= 0:
            raise ValueError("Consultative rules: compaction_ratio must exceed 1 and added line sizes be positive.")


def _number(frame: pd.DataFrame, column: str, default: float = np.nan) -> np.ndarray:
    if column not in frame:
        return np.full(len(frame), default)
    return pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _text(frame: pd.DataFrame, column: str) -> np.ndarray:
    if column not in frame:
        return np.full(len(frame), "", dtype=object)
    return frame[column].astype(object).where(frame[column].notna(), "").astype(str).to_numpy(dtype=object)


def _flag(frame: pd.DataFrame, column: str) -> np.ndarray:
    return frame[column].fillna(False).astype(bool).to_numpy() if column in frame else np.zeros(len(frame), bool)


def added_stream_of(accounts: pd.DataFrame, mandates: tuple[Mandate, ...]) -> np.ndarray:
    """The stream each account would add (a mandated one it lacks first, else recycling if it lacks it), or ``""``."""
    out = np.full(len(accounts), "", dtype=object)
    known = all(f"has_{s}" in accounts for s in ADDABLE_STREAMS)
    if not known:
        return out
    required = mandated_streams(accounts, mandates)
    out = np.where(~_flag(accounts, "has_recycling"), "recycling", out)  # unmandated, only recycling is offered
    for stream in reversed(ADDABLE_STREAMS):  # a mandated stream the account lacks wins over any other
        lacks = ~_flag(accounts, f"has_{stream}") & required.get(stream, np.zeros(len(accounts), bool))
        out = np.where(lacks, stream, out)
    return out


def add_stream(
    accounts: pd.DataFrame,
    rules: ConsultativeRules,
    cost_to_serve: CostToServe,
    index: np.ndarray,
    revenue: np.ndarray,
    cost: np.ndarray,
    mandates: tuple[Mandate, ...],
) -> dict[str, np.ndarray]:
    """The terms of adding the stream ``added_stream_of`` names; not applicable where there is none."""
    stream = added_stream_of(accounts, mandates)
    applicable = stream != ""
    cart = _text(accounts, "segment") == "residential"
    yards = np.where(cart, rules.added_cart_yards, rules.added_line_yards)
    line_cost = cost_to_serve.line_cost(index, yards, np.ones(len(accounts)), np.zeros(len(accounts)))
    line_rate = line_cost * (1 + rules.added_line_markup_pct / 100)
    capacity = _number(accounts, "weekly_capacity_yards")
    container = np.where(cart, "cart", "front-load")
    change = [f"add {s}: {c} {y:g} yd 1×/week" if s else "" for s, c, y in zip(stream, container, yards, strict=True)]
    streams_known = all(f"has_{s}" in accounts for s in ADDABLE_STREAMS)
    why = "already has recycling and every mandated stream" if streams_known else "no record of the account's streams"
    return {
        "new_monthly_rate": np.where(applicable, revenue + line_rate, revenue),
        "monthly_cost_to_serve": np.where(applicable, cost + line_cost, cost),
        "weekly_capacity_after": np.where(applicable, capacity + yards, capacity),
        "one_off_cost": np.where(applicable, rules.added_line_delivery_cost, 0.0),
        "applicable": applicable,
        "proposed_change": np.array(change, dtype=object),
        "not_applicable_reason": np.where(applicable, "", why).astype(object),
        "added_stream": stream,
    }


def compactor_lease(
    accounts: pd.DataFrame,
    rules: ConsultativeRules,
    cost_to_serve: CostToServe,
    index: np.ndarray,
    revenue: np.ndarray,
    cost: np.ndarray,
) -> dict[str, np.ndarray]:
    """The terms of a compactor on the biggest line of a large commercial or industrial account without one."""
    yards, pickups = _number(accounts, "biggest_yards"), _number(accounts, "biggest_pickups")
    container = _text(accounts, "biggest_container")
    capacity = _number(accounts, "weekly_capacity_yards")
    segment_fits = np.isin(_text(accounts, "segment"), rules.compactor_segments)
    leased = (_number(accounts, "has_lease", 0.0) > 0) | _flag(accounts, "biggest_is_lease")
    with np.errstate(invalid="ignore"):
        large = capacity >= rules.compactor_min_weekly_yards
    liftable = ~np.isin(container, ("cart", "compactor", "")) & ~np.isnan(yards * pickups)
    applicable = segment_fits & large & ~leased & liftable
    none = np.zeros(len(accounts))
    line_cost = cost_to_serve.line_cost(index, yards, pickups, none)
    line_rate = revenue * line_cost / cost
    ratio = 1 / rules.compaction_ratio
    after_cost = cost_to_serve.line_cost(index, yards, pickups * ratio, np.ones(len(accounts)))
    lease = index * cost_to_serve.compactor * (1 + rules.compactor_lease_markup_pct / 100)
    after_rate = line_rate * ratio**0.85 + lease
    lifted = yards * pickups
    change = [
        f"{container[i].replace('_', '-')} {yards[i]:g} yd {pickups[i]:g}×/week → leased compactor, "
        f"{pickups[i] * ratio:g}×/week"
        if applicable[i] else ""
        for i in range(len(accounts))
    ]  # fmt: skip
    why = np.select(
        [~segment_fits, leased, ~liftable, ~large],
        ["offered to commercial and industrial accounts", "already leases a compactor",
         "no container a compactor replaces", f"under {rules.compactor_min_weekly_yards:g} yd a week"],
        "",
    ).astype(object)  # fmt: skip
    return {
        "new_monthly_rate": np.where(applicable, revenue - line_rate + after_rate, revenue),
        "monthly_cost_to_serve": np.where(applicable, cost - line_cost + after_cost, cost),
        "weekly_capacity_after": np.where(applicable, capacity - lifted + lifted * ratio, capacity),
        "one_off_cost": np.where(applicable, rules.compactor_install_cost, 0.0),
        "applicable": applicable,
        "proposed_change": np.array(change, dtype=object),
        "not_applicable_reason": np.where(applicable, "", why).astype(object),
    }


def convertible(accounts: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Whether each decision can be converted (its stated reason is a sale or a move), and why not."""
    reason = _text(accounts, "reason")
    applicable = np.isin(reason, v.CONVERTIBLE_REASONS)
    why = np.where(applicable, "", "only for a business that was sold or is moving").astype(object)
    return applicable, why
