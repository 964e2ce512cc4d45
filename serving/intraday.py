"""Intraday additions to the day's call lists: requests that arrived after the nightly run.

Rows already listed never change; new requests are appended after each rep's
rows and marked ``batch = "intraday"`` (see ``add_intraday``).
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from serving.call_lists import (
    FLIP,
    INBOUND,
    INBOUND_COLUMNS,
    INTRADAY,
    CallLists,
    DeskRules,
    _finished,
    _prepared,
    _reps,
    _RepsOf,
    _sorted_by_value,
)
from serving.roster import Roster, unassigned_rep


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
        holdout=lists.holdout,
    )


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
