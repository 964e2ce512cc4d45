"""The day's call lists: the inbound queue, proactive outreach and the flip list, assigned by territory and rep.

Three lists for a business date, each a DataFrame with one row per listed item:

- **inbound**: every open cancellation request (keyed by ``request_id``), due the
  same business date, ranked by expected net value and dealt to the inside-sales
  reps of the account's territory. Inbound has no daily cap: every open request
  is listed.
- **flips**: the open requests whose recommended offer is ``flip``, dealt to the
  territory's outside save specialists instead, due the same day.
- **proactive**: accounts without an open request (keyed by ``account_id``),
  ranked by ``saveable_value`` (taken as given: risk × P(save | best offer) ×
  margin kept) and dealt to the territory's inside reps up to
  ``DeskRules.proactive_per_rep`` each; accounts beyond the territory's capacity
  are not listed.

**Dealing.** Within a territory, rows are sorted by value (highest first; ties
by key, so the lists are deterministic) and dealt to the territory's reps in
snake order (1, 2, 3, 3, 2, 1, 1, 2, …): every rep gets the same number of rows
give or take one, and the value each rep holds is balanced. ``rank`` numbers a
rep's rows of one list from 1 in value order.

**No rep.** A territory with no rep of the needed kind in the roster is not
dropped: its rows go to the pseudo-rep ``UNASSIGNED-<territory>`` (one per
territory, with the capacity of one rep for proactive rows) and are counted in
``CallLists.unassigned()``.

**Intraday.** ``add_intraday`` appends requests that arrived during the day;
rows already listed never change (see its docstring).

Only an allow-list of columns reaches the output (``INBOUND_COLUMNS``,
``PROACTIVE_COLUMNS`` and ``OPTIONAL_COLUMNS``), so no feature or contact column
(name, phone, email, street address) from the scoring frame is ever listed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

INBOUND, PROACTIVE, FLIP = "inbound", "proactive", "flip"
LIST_NAMES = (INBOUND, PROACTIVE, FLIP)
"""The three lists, in the order they are shown."""

NIGHTLY, INTRADAY = "nightly", "intraday"
"""Values of the ``batch`` column: listed by the nightly run or added during the day."""

INSIDE_SALES, OUTSIDE_SPECIALIST = "inside_sales", "outside_specialist"
UNASSIGNED_PREFIX = "UNASSIGNED-"

LIST_COLUMNS = ["list", "list_key", "rep_id", "rank", "due_date", "batch"]
"""Columns every listed row starts with."""

INBOUND_COLUMNS = [
    "request_id",
    "account_id",
    "territory",
    "segment",
    "reason",
    "request_date",
    "churn_probability",
    "offer",
    "p_save",
    "expected_net_value",
    "fallback_offer",
    "reason_codes",
    "guardrail_note",
]
"""Columns an inbound row must have (flips are inbound rows whose offer is ``flip``)."""

PROACTIVE_COLUMNS = [
    "account_id",
    "territory",
    "segment",
    "churn_probability",
    "offer",
    "p_save",
    "expected_net_value",
    "saveable_value",
    "reason_codes",
    "guardrail_note",
]
"""Columns a proactive row must have."""

OPTIONAL_COLUMNS = [
    "channel",
    "likely_reason",
    "monthly_revenue",
    "rollback_pct",
    "note",
    "fallback_offer",
    "fallback_p_save",
    "fallback_expected_net_value",
    "fallback_reason_codes",
    "fallback_note",
]
"""Columns kept when the input has them; every other input column is left out."""

PII_COLUMNS = frozenset({"account_name", "contact_name", "phone", "email", "street_address"})
"""Contact columns of the data contract (``pii`` in ``sources.contract``; a test keeps the two in step): never listed.

Spelled out rather than read from the contract so that serving does not import pandera."""

_RepsOf = Callable[[str], tuple[str, ...]]
"""A territory → reps lookup (``Roster.inside`` or ``Roster.specialists_in``)."""


@dataclass(frozen=True)
class DeskRules:
    """How the desk works a day. To be wired into ``pipelines.settings`` later; the defaults are the desk's today.

    Inbound requests have no daily cap: every open request is due the same
    business date, so a rep takes as many as the territory's queue deals them.

    Attributes:
        proactive_per_rep: Proactive calls one inside rep makes a day (also the
            cap of a territory's ``UNASSIGNED-`` pseudo-rep).
        roster_days: Days of save attempts that make a rep active in a
            territory (pass to ``roster_from_history``).
        flip_offer: The offer that sends a request to the outside specialist.
        due_in_days: Days after the business date the lists are due (0 = the same day).
    """

    proactive_per_rep: int = 20
    roster_days: int = 180
    flip_offer: str = "flip"
    due_in_days: int = 0

    def __post_init__(self) -> None:
        if self.proactive_per_rep < 0:
            raise ValueError(f"proactive_per_rep must be >= 0, got {self.proactive_per_rep}")
        if self.roster_days < 1:
            raise ValueError(f"roster_days must be >= 1, got {self.roster_days}")
        if self.due_in_days < 0:
            raise ValueError(f"due_in_days must be >= 0, got {self.due_in_days}")


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


@dataclass(frozen=True, eq=False)
class CallLists:
    """The lists of one business date.

    Attributes:
        business_date: The day the lists are for.
        inbound: The inbound queue, one row per open request (not flipped).
        proactive: Proactive outreach, one row per account.
        flips: The flip list, one row per request recommended for a specialist's visit.
        reps: Every rep the day's lists are for: the roster's reps and any
            ``UNASSIGNED-`` pseudo-rep, sorted (a rep with nothing listed still
            gets an empty page).

    Every frame has ``LIST_COLUMNS`` then the input columns, sorted by
    ``rep_id`` and ``rank``.
    """

    business_date: date
    inbound: pd.DataFrame
    proactive: pd.DataFrame
    flips: pd.DataFrame
    reps: tuple[str, ...] = ()

    def frames(self) -> dict[str, pd.DataFrame]:
        """The three lists by name (``inbound``, ``proactive``, ``flips``)."""
        return {"inbound": self.inbound, "proactive": self.proactive, "flips": self.flips}

    def counts(self) -> dict[str, int]:
        """Rows per list."""
        return {name: len(frame) for name, frame in self.frames().items()}

    def unassigned(self) -> dict[str, dict[str, int]]:
        """Rows per list and territory that went to an ``UNASSIGNED-`` pseudo-rep (only lists that have some)."""
        out: dict[str, dict[str, int]] = {}
        for name, frame in self.frames().items():
            lost = frame[frame["rep_id"].astype(str).str.startswith(UNASSIGNED_PREFIX)]
            if len(lost):
                out[name] = {str(t): int(n) for t, n in lost.groupby("territory", sort=True).size().items()}
        return out


def unassigned_rep(territory: str) -> str:
    """The pseudo-rep of a territory that has no rep of the needed kind."""
    return f"{UNASSIGNED_PREFIX}{territory}"


def build_call_lists(
    inbound: pd.DataFrame,
    proactive: pd.DataFrame,
    roster: Roster,
    rules: DeskRules,
    business_date: date,
) -> CallLists:
    """Rank and assign the day's inbound queue, flip list and proactive outreach.

    Args:
        inbound: One row per open cancellation request with its recommendation
            (``INBOUND_COLUMNS``; ``OPTIONAL_COLUMNS`` kept when present).
        proactive: One row per account worth a proactive call
            (``PROACTIVE_COLUMNS``). Accounts that also have an open request are
            left out: they are on the inbound queue.
        roster: The reps of each territory.
        rules: Capacity and the flip offer.
        business_date: The day the lists are for.

    Returns:
        The lists (see ``CallLists``).

    Raises:
        ValueError: On a missing column, a missing key or a key listed twice.
    """
    requests = _prepared(inbound, INBOUND_COLUMNS, "request_id")
    accounts = _prepared(proactive, PROACTIVE_COLUMNS, "account_id")
    accounts = accounts[~accounts["account_id"].isin(set(requests["account_id"]))]
    due = business_date + timedelta(days=rules.due_in_days)
    flipped = (requests["offer"] == rules.flip_offer).to_numpy(dtype=bool)
    inbound_list = _dealt(requests[~flipped], INBOUND, "request_id", "expected_net_value", roster.inside, None, due)
    flip_list = _dealt(requests[flipped], FLIP, "request_id", "expected_net_value", roster.specialists_in, None, due)
    proactive_list = _dealt(
        accounts, PROACTIVE, "account_id", "saveable_value", roster.inside, rules.proactive_per_rep, due
    )
    return CallLists(
        business_date=business_date,
        inbound=inbound_list,
        proactive=proactive_list,
        flips=flip_list,
        reps=_reps(roster, (inbound_list, proactive_list, flip_list)),
    )


def add_intraday(lists: CallLists, new_inbound: pd.DataFrame, roster: Roster, rules: DeskRules) -> CallLists:
    """Add requests that arrived during the day to the inbound queue and the flip list.

    Rows already listed are never changed, moved or re-ranked: a rep who has
    started down the list keeps it. A new request is appended *after* the rep's
    existing rows of that list (``rank`` continues from the rep's last rank) and
    marked ``batch = "intraday"``. New requests are taken in value order (ties by
    ``request_id``) and each goes to the territory's rep (or specialist, for a
    flip) who holds the fewest rows of that list, then the least expected net
    value, then the first by id, so the day's load stays balanced.

    A request already on the inbound queue or the flip list is skipped (its
    listed row stands, even if the new frame prices it differently), so calling
    this twice with the same requests gives the same lists. Proactive outreach is
    left as it is, even for an account that has now called in.

    Args:
        lists: The day's lists so far.
        new_inbound: Requests with their recommendation (``INBOUND_COLUMNS``),
            possibly including requests already listed.
        roster: The reps of each territory.
        rules: The flip offer.

    Returns:
        New lists; ``lists`` is not modified.
    """
    requests = _prepared(new_inbound, INBOUND_COLUMNS, "request_id")
    listed = set(lists.inbound["list_key"]) | set(lists.flips["list_key"])
    requests = requests[~requests["request_id"].isin(listed)]
    if requests.empty:
        return lists
    due = lists.business_date + timedelta(days=rules.due_in_days)
    flipped = (requests["offer"] == rules.flip_offer).to_numpy(dtype=bool)
    inbound_list = _appended(lists.inbound, requests[~flipped], INBOUND, roster.inside, due)
    flip_list = _appended(lists.flips, requests[flipped], FLIP, roster.specialists_in, due)
    return CallLists(
        business_date=lists.business_date,
        inbound=inbound_list,
        proactive=lists.proactive,
        flips=flip_list,
        reps=tuple(sorted(set(lists.reps) | set(_reps(roster, (inbound_list, flip_list))))),
    )


def _columns(required: list[str]) -> list[str]:
    return required + [c for c in OPTIONAL_COLUMNS if c not in required]


def _prepared(frame: pd.DataFrame, required: list[str], key: str) -> pd.DataFrame:
    """The allow-listed columns of an input frame, checked: required columns, keys present and unique."""
    if frame.empty and not set(required) <= set(frame.columns):
        frame = pd.DataFrame({c: pd.Series(dtype=object) for c in required})
    missing = [c for c in required if c not in frame]
    if missing:
        raise ValueError(f"input frame lacks columns {missing}")
    keep = [c for c in _columns(required) if c in frame and c not in PII_COLUMNS]
    out = frame[keep].reset_index(drop=True)
    if out[key].isna().any():
        raise ValueError(f"{int(out[key].isna().sum())} rows have no {key}")
    twice = out.loc[out[key].duplicated(), key].astype(str).unique()
    if len(twice):
        raise ValueError(f"{key} listed more than once: {sorted(twice)[:10]}")
    out["territory"] = out["territory"].astype(object).where(out["territory"].notna(), "UNKNOWN").astype(str)
    return out


def _sorted_by_value(frame: pd.DataFrame, value: str, key: str, by_territory: bool = True) -> pd.DataFrame:
    """Highest value first (missing values last), ties by key; grouped by territory first when asked."""
    work = frame.assign(
        _value=pd.to_numeric(frame[value], errors="coerce").fillna(-np.inf), _key=frame[key].astype(str)
    )
    by = (["territory"] if by_territory else []) + ["_value", "_key"]
    ascending = ([True] if by_territory else []) + [False, True]
    return work.sort_values(by, ascending=ascending, kind="stable").drop(columns=["_value", "_key"])


def _snake(position: np.ndarray, n: int) -> np.ndarray:
    """The rep index of each position when dealing to ``n`` reps in snake order."""
    lap, seat = np.divmod(position, n)
    return np.where(lap % 2 == 0, seat, n - 1 - seat)


def _finished(frame: pd.DataFrame, name: str, key: str, due: date, batch: str) -> pd.DataFrame:
    """Add the list columns in front and sort by rep and rank."""
    out = frame.copy()
    out.insert(0, "list", name)
    out.insert(1, "list_key", out[key].astype(str))
    out.insert(4, "due_date", pd.Series([due] * len(out), index=out.index, dtype=object))
    out.insert(5, "batch", batch)
    out["rank"] = out["rank"].astype("int64")
    out["rep_id"] = out["rep_id"].astype(str)
    return out.sort_values(["rep_id", "rank"], kind="stable", ignore_index=True)


def _dealt(
    frame: pd.DataFrame,
    name: str,
    key: str,
    value: str,
    reps_of: _RepsOf,
    per_rep: int | None,
    due: date,
) -> pd.DataFrame:
    """Deal a list territory by territory in snake order; cap each rep at ``per_rep`` rows when given."""
    ordered = _sorted_by_value(frame, value, key)
    parts = []
    for territory, part in ordered.groupby("territory", sort=True):
        reps = reps_of(str(territory)) or (unassigned_rep(str(territory)),)
        if per_rep is not None:
            part = part.iloc[: per_rep * len(reps)]
        seat = _snake(np.arange(len(part)), len(reps))
        part = part.assign(rep_id=np.asarray(reps, dtype=object)[seat])
        parts.append(part.assign(rank=part.groupby("rep_id", sort=False).cumcount() + 1))
    dealt = pd.concat(parts) if parts else ordered.assign(rep_id=pd.Series(dtype=object), rank=pd.Series(dtype="int64"))
    dealt = dealt[["rep_id", "rank", *frame.columns]]
    return _finished(dealt, name, key, due, NIGHTLY)


def _appended(existing: pd.DataFrame, new: pd.DataFrame, name: str, reps_of: _RepsOf, due: date) -> pd.DataFrame:
    """Append new requests after each rep's existing rows, each to the least-loaded rep of its territory."""
    if new.empty:
        return existing
    ordered = _sorted_by_value(new, "expected_net_value", "request_id", by_territory=False)
    value = pd.to_numeric(existing["expected_net_value"], errors="coerce").fillna(0.0)
    rows = existing.assign(_value=value).groupby("rep_id")
    load: dict[str, list[float]] = {
        str(rep): [float(len(part)), float(part["_value"].sum()), float(part["rank"].max())] for rep, part in rows
    }
    rep_ids, ranks = [], []
    for territory, amount in zip(ordered["territory"], ordered["expected_net_value"], strict=True):
        reps = reps_of(str(territory)) or (unassigned_rep(str(territory)),)
        rep = min(reps, key=lambda r: (load.get(r, [0.0, 0.0, 0.0])[0], load.get(r, [0.0, 0.0, 0.0])[1], r))
        count, total, last = load.get(rep, [0.0, 0.0, 0.0])
        amount_ = float(amount) if pd.notna(amount) else 0.0
        load[rep] = [count + 1, total + amount_, last + 1]
        rep_ids.append(rep)
        ranks.append(int(last) + 1)
    added = ordered.assign(rep_id=rep_ids, rank=ranks)[["rep_id", "rank", *new.columns]]
    added = _finished(added, name, "request_id", due, INTRADAY)
    if existing.empty:
        return added
    combined = pd.concat([existing, added.reindex(columns=existing.columns)], ignore_index=True)
    return combined.sort_values(["rep_id", "rank"], kind="stable", ignore_index=True)


def _reps(roster: Roster, frames: Iterable[pd.DataFrame]) -> tuple[str, ...]:
    listed = {str(r) for frame in frames for r in frame["rep_id"]}
    return tuple(sorted(set(roster.rep_ids) | listed))
