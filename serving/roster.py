"""The desk's reps by territory: inside-sales reps work inbound and proactive, outside specialists work flips.

A roster comes from an explicit list of reps (``roster_from_frame``, e.g. from
HR) or from recent save attempts (``roster_from_history``). A territory with no
rep of the needed kind gets the pseudo-rep ``UNASSIGNED-<territory>``
(``unassigned_rep``), so its rows are still listed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

import pandas as pd

INSIDE_SALES, OUTSIDE_SPECIALIST = "inside_sales", "outside_specialist"
UNASSIGNED_PREFIX = "UNASSIGNED-"


@dataclass(frozen=True)
class Roster:
    """The reps of each territory: inside-sales reps work inbound and proactive, specialists work flips.

    Attributes:
        inside_by_territory: Territory → its inside-sales rep ids, sorted.
        specialists_by_territory: Territory → its outside specialists' rep ids, sorted.
    """

    inside_by_territory: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    specialists_by_territory: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def inside_reps(self) -> int:
        """How many inside-sales reps the roster has, over all territories."""
        return sum(len(r) for r in self.inside_by_territory.values())

    @property
    def specialists(self) -> int:
        """How many outside specialists the roster has, over all territories."""
        return sum(len(r) for r in self.specialists_by_territory.values())

    @property
    def territories(self) -> tuple[str, ...]:
        """Every territory with at least one rep, sorted."""
        return tuple(sorted(set(self.inside_by_territory) | set(self.specialists_by_territory)))

    @property
    def rep_ids(self) -> tuple[str, ...]:
        """Every rep id of the roster, sorted."""
        reps = [
            r for group in (self.inside_by_territory, self.specialists_by_territory) for t in group for r in group[t]
        ]
        return tuple(sorted(set(reps)))

    def inside(self, territory: str) -> tuple[str, ...]:
        """The inside-sales reps of a territory (empty when it has none)."""
        return tuple(self.inside_by_territory.get(territory, ()))

    def specialists_in(self, territory: str) -> tuple[str, ...]:
        """The outside specialists of a territory (empty when it has none)."""
        return tuple(self.specialists_by_territory.get(territory, ()))

    def to_frame(self) -> pd.DataFrame:
        """One row per rep: ``rep_id``, ``rep_channel``, ``territory``, sorted by territory, channel and rep."""
        rows = [
            (t, channel, rep)
            for channel, group in (
                (INSIDE_SALES, self.inside_by_territory),
                (OUTSIDE_SPECIALIST, self.specialists_by_territory),
            )
            for t, reps in group.items()
            for rep in reps
        ]
        frame = pd.DataFrame(rows, columns=["territory", "rep_channel", "rep_id"])
        return frame.sort_values(["territory", "rep_channel", "rep_id"], ignore_index=True)[
            ["rep_id", "rep_channel", "territory"]
        ]


def roster_from_frame(reps: pd.DataFrame) -> Roster:
    """A roster from an explicit list of reps (``rep_id``, ``rep_channel``, ``territory``), e.g. from HR.

    Raises:
        ValueError: On a missing column, an unknown channel or a rep listed twice.
    """
    missing = [c for c in ("rep_id", "rep_channel", "territory") if c not in reps]
    if missing:
        raise ValueError(f"roster frame lacks columns {missing}")
    unknown = sorted(set(reps["rep_channel"]) - {INSIDE_SALES, OUTSIDE_SPECIALIST})
    if unknown:
        raise ValueError(f"unknown rep_channel values {unknown}")
    twice = sorted(reps.loc[reps["rep_id"].duplicated(), "rep_id"].astype(str).unique())
    if twice:
        raise ValueError(f"reps listed more than once: {twice[:10]}")
    groups: dict[str, dict[str, tuple[str, ...]]] = {INSIDE_SALES: {}, OUTSIDE_SPECIALIST: {}}
    for (channel, territory), part in reps.groupby(["rep_channel", "territory"], sort=True):
        groups[str(channel)][str(territory)] = tuple(sorted(part["rep_id"].astype(str)))
    return Roster(groups[INSIDE_SALES], groups[OUTSIDE_SPECIALIST])


def roster_from_history(save_attempts: pd.DataFrame, accounts: pd.DataFrame, as_of: date, days: int = 180) -> Roster:
    """The inside-sales reps and outside specialists who made save attempts in each territory lately.

    A rep is active when they made an attempt in ``(as_of - days, as_of]``. Their
    territory is that of the accounts they worked in the window; a rep who worked
    several belongs to the one with the most attempts (ties: the first territory
    by name), and likewise for a rep seen under both channels. Attempts on
    accounts missing from ``accounts`` are ignored.

    Args:
        save_attempts: The ``save_attempts`` table (``rep_id``, ``rep_channel``,
            ``account_id``, ``attempt_date``).
        accounts: ``account_id`` and ``territory`` of every account.
        as_of: The last day of history to look at.
        days: The window's length in days.

    Returns:
        The roster, reps sorted by id within each territory.
    """
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    need = ["rep_id", "rep_channel", "account_id", "attempt_date"]
    missing = [c for c in need if c not in save_attempts]
    if missing:
        raise ValueError(f"save_attempts lacks columns {missing}")
    when = pd.to_datetime(save_attempts["attempt_date"])
    end = pd.Timestamp(as_of)
    recent = save_attempts.loc[(when > end - timedelta(days=days)) & (when <= end), need[:3]]
    where = accounts[["account_id", "territory"]].drop_duplicates("account_id")
    worked = recent.merge(where, on="account_id", how="inner")
    counts = worked.groupby(["rep_id", "rep_channel", "territory"], as_index=False, sort=True).size()
    counts = counts.sort_values(
        ["rep_id", "size", "rep_channel", "territory"], ascending=[True, False, True, True], kind="stable"
    )
    return roster_from_frame(counts.drop_duplicates("rep_id")[["rep_id", "rep_channel", "territory"]])


def unassigned_rep(territory: str) -> str:
    """The pseudo-rep of a territory that has no rep of the needed kind."""
    return f"{UNASSIGNED_PREFIX}{territory}"
