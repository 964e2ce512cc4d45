"""The day's call lists: the inbound queue, proactive outreach and the flip list, assigned by territory and rep.

Three lists for a business date, each a DataFrame with one row per listed item:

- **inbound**: every open cancellation request (keyed by ``request_id``), due the
  same business date, ranked by expected net value and dealt to the inside-sales
  reps of the account's territory. Inbound has no daily cap: every open request
  is listed.
- **flips**: the open requests whose recommended offer is ``flip``, dealt to the
  territory's outside save specialists instead, due the same day.
- **proactive**: accounts without an open request (keyed by ``account_id``),
  ranked by ``incremental_margin`` when the rows carry it (what a call changes: the
  uplift model's expected effect × revenue, ``models.uplift``), else by
  ``saveable_value`` (taken as given: risk × P(save | best offer) × margin kept)
  and dealt to the territory's inside reps up to ``DeskRules.proactive_per_rep``
  each; accounts beyond the territory's capacity are not listed.

**Dealing.** Within a territory, rows are sorted by value (highest first; ties
by key, so the lists are deterministic) and dealt to the territory's reps in
snake order (1, 2, 3, 3, 2, 1, 1, 2, …): every rep gets the same number of rows
give or take one, and the value each rep holds is balanced. ``rank`` numbers a
rep's rows of one list from 1 in value order.

**No rep.** A territory with no rep of the needed kind in the roster is not
dropped: its rows go to the pseudo-rep ``UNASSIGNED-<territory>`` (one per
territory, with the capacity of one rep for proactive rows) and are counted in
``CallLists.unassigned()``.

**Holdout.** With ``DeskRules.holdout``, the proactive accounts of the period's randomized
holdout (``models.holdout``) are taken out before dealing, never listed, and kept in
``CallLists.holdout`` (published beside the lists). Inbound requests and flips are never held out.

**Intraday.** ``serving.intraday.add_intraday`` appends requests that arrived
during the day; rows already listed never change. The reps come from a
``serving.roster.Roster``.

Only an allow-list of columns reaches the output (``INBOUND_COLUMNS``,
``PROACTIVE_COLUMNS`` and ``OPTIONAL_COLUMNS``), so no feature or contact column
(name, phone, email, street address) from the scoring frame is ever listed; the
contract's PII columns (``sources.contract.PII_COLUMNS``) are dropped even if allow-listed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd

from models.deal import DEAL_COLUMNS
from models.holdout import HOLDOUT_COLUMNS, HoldoutRules, held_out, period_of, risk_band
from serving.roster import UNASSIGNED_PREFIX, Roster, unassigned_rep
from sources.contract import PII_COLUMNS

INBOUND, PROACTIVE, FLIP = "inbound", "proactive", "flip"
LIST_NAMES = (INBOUND, PROACTIVE, FLIP)
"""The three lists, in the order they are shown."""

NIGHTLY, INTRADAY = "nightly", "intraday"
"""Values of the ``batch`` column: listed by the nightly run or added during the day."""

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
    "offer_propensity",
    "p_save_source",
    "expected_effect",
    "incremental_margin",
    *DEAL_COLUMNS,
]
"""Columns kept when the input has them (the recommendation's deal among them, ``models.deal.DEAL_COLUMNS``); every
other input column is left out."""

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
        holdout: The randomized holdout of proactive outreach (None: every planned account may be listed).
    """

    proactive_per_rep: int = 20
    roster_days: int = 180
    flip_offer: str = "flip"
    due_in_days: int = 0
    holdout: HoldoutRules | None = None

    def __post_init__(self) -> None:
        if self.proactive_per_rep < 0:
            raise ValueError(f"proactive_per_rep must be >= 0, got {self.proactive_per_rep}")
        if self.roster_days < 1:
            raise ValueError(f"roster_days must be >= 1, got {self.roster_days}")
        if self.due_in_days < 0:
            raise ValueError(f"due_in_days must be >= 0, got {self.due_in_days}")


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
        holdout: The proactive accounts held out tonight (``models.holdout.HOLDOUT_COLUMNS``), never listed;
            a frame without columns when the desk keeps no holdout.

    Every frame has ``LIST_COLUMNS`` then the input columns, sorted by
    ``rep_id`` and ``rank``.
    """

    business_date: date
    inbound: pd.DataFrame
    proactive: pd.DataFrame
    flips: pd.DataFrame
    reps: tuple[str, ...] = ()
    holdout: pd.DataFrame = field(default_factory=pd.DataFrame)

    def frames(self) -> dict[str, pd.DataFrame]:
        """The three lists by name (``inbound``, ``proactive``, ``flips``)."""
        return {"inbound": self.inbound, "proactive": self.proactive, "flips": self.flips}

    def counts(self) -> dict[str, int]:
        """Rows per list."""
        return {name: len(frame) for name, frame in self.frames().items()}

    def listed(self, scored: pd.DataFrame, key: str) -> pd.DataFrame:
        """The rows of ``scored`` that went on a list (matched on ``key``), with the list's ``list_key``."""
        keys = pd.concat([self.inbound["list_key"], self.flips["list_key"], self.proactive["list_key"]])
        return scored[scored[key].isin(set(keys))].assign(list_key=lambda f: f[key])

    def unassigned(self) -> dict[str, dict[str, int]]:
        """Rows per list and territory that went to an ``UNASSIGNED-`` pseudo-rep (only lists that have some)."""
        out: dict[str, dict[str, int]] = {}
        for name, frame in self.frames().items():
            lost = frame[frame["rep_id"].astype(str).str.startswith(UNASSIGNED_PREFIX)]
            if len(lost):
                out[name] = {str(t): int(n) for t, n in lost.groupby("territory", sort=True).size().items()}
        return out


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
    held = held_out(accounts["account_id"], business_date, rules.holdout) if rules.holdout else None
    if held is not None:
        held_accounts, accounts = accounts[held], accounts[~held]
    due = business_date + timedelta(days=rules.due_in_days)
    flipped = (requests["offer"] == rules.flip_offer).to_numpy(dtype=bool)
    inbound_list = _dealt(requests[~flipped], INBOUND, "request_id", "expected_net_value", roster.inside, None, due)
    flip_list = _dealt(requests[flipped], FLIP, "request_id", "expected_net_value", roster.specialists_in, None, due)
    value = proactive_value(accounts)
    proactive_list = _dealt(accounts, PROACTIVE, "account_id", value, roster.inside, rules.proactive_per_rep, due)
    return CallLists(
        business_date=business_date,
        inbound=inbound_list,
        proactive=proactive_list,
        flips=flip_list,
        reps=_reps(roster, (inbound_list, proactive_list, flip_list)),
        **({"holdout": _holdout(held_accounts, proactive_list, business_date, rules)} if held is not None else {}),
    )


def proactive_value(accounts: pd.DataFrame) -> str:
    """The column proactive outreach is ranked by: ``incremental_margin`` when rows carry it, else ``saveable_value``.

    ``incremental_margin`` is what a call changes (the uplift model's expected effect × revenue, ``models.uplift``).
    """
    if "incremental_margin" in accounts and accounts["incremental_margin"].notna().any():
        return "incremental_margin"
    return "saveable_value"


def _holdout(held: pd.DataFrame, listed: pd.DataFrame, day: date, rules: DeskRules) -> pd.DataFrame:
    """The held-out accounts with their risk band, and whether their value would have put them on the list.

    An account would have been listed when its territory's list had room left or its value reaches the lowest
    value its territory listed.
    """
    period = period_of(day, rules.holdout.period) if rules.holdout else ""
    column = proactive_value(listed)
    value = pd.to_numeric(listed[column], errors="coerce")
    lowest = value.groupby(listed["territory"]).min()
    filled = listed.groupby("territory").size()
    out = held.assign(
        risk_band=risk_band(held["churn_probability"]),
        period=period,
        segment=held["segment"] if "segment" in held else None,
    )
    held_value = pd.to_numeric(out[column] if column in out else out["saveable_value"], errors="coerce")
    cut = pd.to_numeric(out["territory"].map(lowest), errors="coerce")  # no row listed: an empty, untyped map
    filled_now = pd.to_numeric(out["territory"].map(filled), errors="coerce").fillna(0)
    reps = pd.to_numeric(out["territory"].map(listed.groupby("territory")["rep_id"].nunique()), errors="coerce")
    room = filled_now < rules.proactive_per_rep * reps.fillna(1)
    out["would_list"] = (room | cut.isna() | (held_value >= cut)).astype(bool)
    return out[HOLDOUT_COLUMNS].sort_values("account_id", ignore_index=True)


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


def _reps(roster: Roster, frames: Iterable[pd.DataFrame]) -> tuple[str, ...]:
    listed = {str(r) for frame in frames for r in frame["rep_id"]}
    return tuple(sorted(set(roster.rep_ids) | listed))
