"""The consultative offers of the simulated desk: what an account's service is, and what an accepted offer changes.

``service_profile`` is what the truth of ``add_stream`` and ``compactor_lease`` reads of an account (its
weekly capacity, a leased compactor, the recycling or mandated stream it lacks); ``add_stream`` and
``lease_compactor`` change the lines of accounts that accepted them. The economics mirror the offer catalog's
(``models.offers.OfferCatalog``): a new line is priced at its cost times ``ADDED_LINE_MARKUP``; a compactor
halves the lifts of the biggest line and adds a lease at its cost times ``LEASE_MARKUP``.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from sources.simulator.book import CONTAINER, SEGMENT, STREAM, Lines
from sources.simulator.config import SimulationConfig

MANDATED = {"CA": ("recycling", "organics"), "WA": ("organics",)}
"""Streams a commercial account must have, by state (the simulated hauler's WA territory is Seattle)."""

ADDED_LINE_YARDS = {"cart": 0.5, "front_load": 2.0}
ADDED_LINE_MARKUP = 1.35
COMPACTION = 2.0
"""A compactor packs the biggest line's waste into half the lifts."""
LEASE_COST = 180.0
LEASE_MARKUP = 1.2


class ServedHauler(Protocol):
    """What a consultative offer reads and changes of the running hauler."""

    config: SimulationConfig
    lines: Lines

    def live_lines(self, accounts_mask: np.ndarray) -> np.ndarray:
        """Indices of lines in service today of the accounts in the mask."""
        ...


def _index(hauler: ServedHauler, territory: np.ndarray) -> np.ndarray:
    return np.array([t.cost_index for t in hauler.config.territories])[territory]


def service_profile(
    hauler: ServedHauler, who: np.ndarray, segment: np.ndarray, territory: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each account's weekly capacity, whether it leases a compactor, and the stream it lacks.

    Returns:
        ``weekly_yards``, ``has_lease`` and ``missing_stream`` (0: none; 1: recycling; 2: a mandated stream),
        in the order of ``who``.
    """
    lines = hauler.lines
    mask = np.zeros(int(lines.account.max(initial=0)) + 1 if len(lines.account) else 1, dtype=bool)
    mask[who] = True
    live = hauler.live_lines(mask)
    owner = lines.account[live]
    size = mask.size
    yards = np.bincount(owner, weights=lines.yards[live] * lines.pickups[live], minlength=size)
    lease = np.bincount(owner, weights=lines.is_lease[live].astype(float), minlength=size) > 0
    has = {s: np.bincount(owner, weights=(lines.stream[live] == STREAM[s]).astype(float), minlength=size) > 0
           for s in ("recycling", "organics")}  # fmt: skip
    state = np.array([t.state for t in hauler.config.territories])[territory]
    commercial = segment == SEGMENT["commercial"]
    lacks_mandated = np.zeros(len(who), dtype=bool)
    for where, streams in MANDATED.items():
        for stream in streams:
            lacks_mandated |= commercial & (state == where) & ~has[stream][who]
    missing = np.where(lacks_mandated, 2, np.where(~has["recycling"][who], 1, 0))
    return yards[who], lease[who], missing


def add_stream(
    hauler: ServedHauler, who: np.ndarray, segment: np.ndarray, territory: np.ndarray, day: np.ndarray
) -> Lines:
    """New lines for accounts that accepted a stream: the mandated stream they lack, else recycling.

    Returns:
        The new lines (starting the day after), to append to the hauler's lines.
    """
    _, _, missing = service_profile(hauler, who, segment, territory)
    lines = hauler.lines
    mask = np.zeros(int(lines.account.max(initial=0)) + 1, dtype=bool)
    mask[who] = True
    live = hauler.live_lines(mask)
    has_recycling = np.zeros(mask.size, dtype=bool)
    has_recycling[lines.account[live][lines.stream[live] == STREAM["recycling"]]] = True
    organics = (missing == 2) & has_recycling[who]
    cart = segment == SEGMENT["residential"]
    yards = np.where(cart, ADDED_LINE_YARDS["cart"], ADDED_LINE_YARDS["front_load"])
    cost = _index(hauler, territory) * (14.0 + 5.2 * yards * 4.33)
    n = len(who)
    return Lines(
        account=who.astype(np.int64),
        stream=np.where(organics, STREAM["organics"], STREAM["recycling"]).astype(np.int8),
        container=np.where(cart, CONTAINER["cart"], CONTAINER["front_load"]).astype(np.int8),
        yards=yards,
        pickups=np.ones(n),
        rate=np.round(cost * ADDED_LINE_MARKUP, 2),
        start_rate=np.round(cost * ADDED_LINE_MARKUP, 2),
        cost=np.round(cost, 2),
        is_lease=np.zeros(n, dtype=bool),
        start=day + 1,
        end=np.full(n, -1, dtype=np.int64),
    )


def lease_compactor(new: Lines, index: np.ndarray) -> None:
    """Turn copies of the biggest lines into leased compactors: half the lifts, plus the lease (a leased one stays)."""
    change = ~new.is_lease
    fixed = index * 14.0
    lease = index * LEASE_COST
    new.pickups = np.where(change, new.pickups / COMPACTION, new.pickups)
    new.cost = np.where(change, np.round(fixed + (new.cost - fixed) / COMPACTION + lease, 2), new.cost)
    new.rate = np.where(change, np.round(new.rate * (1 / COMPACTION) ** 0.85 + lease * LEASE_MARKUP, 2), new.rate)
    new.container = np.where(change, CONTAINER["compactor"], new.container).astype(np.int8)
    new.is_lease = np.ones(len(new.pickups), dtype=bool)
