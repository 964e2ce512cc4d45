"""The deal a rep puts to the customer: what the account pays and gets now, what the offer changes, and the limits.

For planned offer rows (``models.policy.plan_offers``) and their decisions' account context, ``deal_terms`` lays
out, row for row: the current monthly rate and service (the biggest line's container, size and pickups a week,
and how many lines), the proposed rate, service and term, the monthly change in dollars (proposed − current), the
rep's authority in % and in dollars, the price floor in dollars, whether a manager's approval or a flip is needed,
the agreement's end date, and the compliance notes of the account's jurisdiction.

Nothing is invented: a number the account's data lacks (no service line, no agreement end, no as-of date) is
missing (NaN, NaT or None), and so is a proposed service the offer's terms do not give. A flip's terms are the
specialist's to set, so its proposed rate, service and change are missing too.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from models.guardrails import GuardrailRules, floor_rate
from models.mandates import Mandate, compliance_notes
from sources import vocabulary as v

FLIP_OFFER = "flip"

DEAL_COLUMNS = (
    "current_monthly_rate", "current_lines", "service_stream", "current_container", "current_yards",
    "current_pickups", "current_service", "proposed_monthly_rate", "proposed_container", "proposed_yards",
    "proposed_pickups", "proposed_service", "proposed_change", "proposed_term_months", "monthly_change",
    "authority_pct", "authority_monthly", "floor_monthly_rate", "approval", "agreement_end",
    "agreement_month_to_month", "compliance_notes",
)  # fmt: skip
"""The columns ``deal_terms`` computes, in order (none is a feature's or an offer term's name)."""

APPROVALS = {
    "": "within your authority: no approval needed",
    "manager": "needs a manager's approval (beyond your authority or below the price floor)",
    "flip": "flip to an Outside Save Specialist, who sets the terms on a visit",
}
"""Each ``approval`` value in a rep's words."""


def deal_terms(offers: pd.DataFrame, context: pd.DataFrame, rules: GuardrailRules) -> pd.DataFrame:
    """The deal of each offer row: ``DEAL_COLUMNS``, on ``offers``' index.

    Args:
        offers: Planned offer rows (``models.offers.offer_terms`` columns, with ``state``, ``segment`` and
            ``city`` when the context had them).
        context: The decision of each offer row, row for row (same length, same order): the account's features
            (``lines``, ``days_to_contract_end``, ``month_to_month``), its biggest line
            (``features.requests.BIGGEST_LINE_COLUMNS``) and ``as_of``, as far as present.
        rules: The guardrails (the rep's authority, the minimum margin, the mandates).

    Raises:
        ValueError: ``offers`` and ``context`` differ in length.
    """
    if len(offers) != len(context):
        raise ValueError(f"deal_terms needs one context row per offer row, got {len(offers)} and {len(context)}.")
    n = len(offers)
    flip = _text(offers, "offer") == FLIP_OFFER
    current = _number(offers, "monthly_revenue")
    container, stream = _text(context, "biggest_container"), _text(context, "biggest_stream")
    yards, pickups, lines = (_number(context, c) for c in ("biggest_yards", "biggest_pickups", "lines"))
    new_yards, new_pickups = _service_after(offers, yards, pickups)
    new_yards[flip], new_pickups[flip] = np.nan, np.nan
    proposed = np.where(flip, np.nan, _number(offers, "new_monthly_rate"))
    floor = floor_rate(_number(offers, "monthly_cost_to_serve"), rules)
    has_line = container != ""
    proposed_container = np.where(has_line & ~np.isnan(new_yards) & ~flip, container, "")
    change = _text(offers, "proposed_change")
    return pd.DataFrame(
        {
            "current_monthly_rate": current,
            "current_lines": lines,
            "service_stream": _or_none(stream),
            "current_container": _or_none(container),
            "current_yards": yards,
            "current_pickups": pickups,
            "current_service": _or_none(_services(container, yards, pickups)),
            "proposed_monthly_rate": proposed,
            "proposed_container": _or_none(proposed_container),
            "proposed_yards": new_yards,
            "proposed_pickups": new_pickups,
            "proposed_service": _or_none(_services(proposed_container, new_yards, new_pickups)),
            "proposed_change": _or_none(np.where(flip, "", change)),
            "proposed_term_months": np.where(flip, np.nan, _number(offers, "new_term_months")),
            "monthly_change": proposed - current,
            "authority_pct": np.full(n, rules.rep_max_rollback_pct),
            "authority_monthly": current * rules.rep_max_rollback_pct / 100,
            "floor_monthly_rate": floor,
            "approval": _approval(offers, flip, proposed, current, floor, rules),
            "agreement_end": _agreement_end(context),
            "agreement_month_to_month": _flag(context, "month_to_month"),
            "compliance_notes": jurisdiction_notes(_jurisdiction(offers, context), rules).to_numpy(),
        },
        index=offers.index,
    )


def service_text(container: str, yards: float, pickups: float) -> str:
    """A line's service in a rep's words, e.g. ``front-load 6 yd, 3×/week``; empty when a part is unknown."""
    if not container or np.isnan(yards) or np.isnan(pickups):
        return ""
    return f"{container.replace('_', '-')} {round(yards, 1):g} yd, {round(pickups, 2):g}×/week"


def jurisdiction_notes(frame: pd.DataFrame, rules: GuardrailRules) -> pd.Series:
    """Each row's compliance notes (``models.mandates.compliance_notes``: a list of sentences).

    Read from the row's ``state``, ``city``, ``segment`` and mandated streams' ``has_<stream>`` flags, each
    distinct jurisdiction worded once. A row without a state or a segment gets None (its jurisdiction is
    unknown), never an empty list.
    """
    if "state" not in frame or "segment" not in frame:
        return pd.Series([None] * len(frame), index=frame.index, dtype=object)
    flags = tuple(sorted({f"has_{s}" for m in rules.mandates for s in m.streams} & set(frame.columns)))
    flag_values = [np.where(np.isnan(x), -1, x > 0).tolist() for x in (_number(frame, f) for f in flags)]
    places = [_text(frame, c).tolist() for c in ("state", "city", "segment")]
    keys = list(zip(*places, *flag_values, strict=True))
    worded = {key: _notes(key, flags, rules.mandates) for key in set(keys)}
    return pd.Series([worded[key] for key in keys], index=frame.index, dtype=object)


@lru_cache(maxsize=1024)
def _worded(key: tuple[Any, ...], flags: tuple[str, ...], mandates: tuple[Mandate, ...]) -> tuple[str, ...] | None:
    state, city, segment, *has = key
    if not state or not segment:
        return None
    account: dict[str, object] = {"state": state, "segment": segment} | ({"city": city} if city else {})
    account |= {f: bool(h) for f, h in zip(flags, has, strict=True) if h != -1}
    return tuple(compliance_notes(account, mandates))


def _notes(key: tuple[Any, ...], flags: tuple[str, ...], mandates: tuple[Mandate, ...]) -> list[str] | None:
    """One jurisdiction's notes (a fresh list per distinct jurisdiction), worded once per process."""
    found = _worded(key, flags, mandates)
    return None if found is None else list(found)


def _jurisdiction(offers: pd.DataFrame, context: pd.DataFrame) -> pd.DataFrame:
    """Each row's jurisdiction and streams: the context's columns, else the offer row's (same row order)."""
    names = ["state", "city", "segment", *(f"has_{s}" for s in v.STREAMS)]
    found = {n: (context[n] if n in context else offers[n]).tolist() for n in names if n in context or n in offers}
    return pd.DataFrame(found, index=range(len(offers)), dtype=object)


def _service_after(offers: pd.DataFrame, yards: np.ndarray, pickups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The biggest line's size and pickups after the offer.

    The offer's own ``biggest_yards_after`` and ``biggest_pickups_after`` when its terms carry them; otherwise
    the service is known only where the offer leaves the weekly capacity as it is (the same line), else missing.
    """
    if "biggest_yards_after" in offers and "biggest_pickups_after" in offers:
        return _number(offers, "biggest_yards_after"), _number(offers, "biggest_pickups_after")
    before, after = _number(offers, "weekly_capacity_yards"), _number(offers, "weekly_capacity_after")
    same = np.isclose(before, after, rtol=0, atol=1e-9)
    return np.where(same, yards, np.nan), np.where(same, pickups, np.nan)


def _approval(
    offers: pd.DataFrame,
    flip: np.ndarray,
    proposed: np.ndarray,
    current: np.ndarray,
    floor: np.ndarray,
    rules: GuardrailRules,
) -> np.ndarray:
    """``flip`` for a flip; ``manager`` beyond the rep's authority or under the floor with a concession; else ``""``."""
    with np.errstate(invalid="ignore"):
        beyond = _number(offers, "rollback_pct", 0.0) > rules.rep_max_rollback_pct
        under = (proposed < floor * (1 - 1e-12)) & (proposed < current)
    return np.where(flip, "flip", np.where(beyond | under, "manager", "")).astype(object)


def _agreement_end(context: pd.DataFrame) -> np.ndarray:
    """The day the agreement in force ends: the as-of date plus ``days_to_contract_end`` (NaT when unknown)."""
    days = _number(context, "days_to_contract_end")
    if "as_of" not in context:
        return np.full(len(context), np.datetime64("NaT"), dtype="datetime64[ns]")
    as_of = pd.to_datetime(context["as_of"], errors="coerce").dt.normalize().to_numpy(dtype="datetime64[ns]")
    return np.asarray(as_of + pd.to_timedelta(days, unit="D").to_numpy())


def _services(container: np.ndarray, yards: np.ndarray, pickups: np.ndarray) -> np.ndarray:
    """``service_text`` of each row, each distinct service worded once (a book has few)."""
    keys = list(zip(container.tolist(), yards.tolist(), pickups.tolist(), strict=True))
    worded = {key: service_text(*key) for key in set(keys)}
    return np.array([worded[key] for key in keys] or [], dtype=object)


def _number(frame: pd.DataFrame, column: str, default: float = np.nan) -> np.ndarray:
    """A numeric column as floats: unparseable values NaN, a missing column ``default`` (numpy numbers are cast)."""
    if column not in frame:
        return np.full(len(frame), default)
    values = frame[column]
    if isinstance(values.dtype, np.dtype) and values.dtype.kind in "fiub":
        return values.to_numpy(dtype=float)
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _text(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A text column as strings, missing values empty (a missing column: all empty)."""
    if column not in frame:
        return np.full(len(frame), "", dtype=object)
    values = frame[column].tolist()
    return np.array([v if isinstance(v, str) else "" if pd.isna(v) else str(v) for v in values] or [], dtype=object)


def _flag(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A flag column as True, False or None (missing)."""
    if column not in frame:
        return np.full(len(frame), None, dtype=object)
    values = frame[column].astype(object)
    return np.array([None if pd.isna(v) else bool(v) for v in values.tolist()], dtype=object)


def _or_none(values: np.ndarray) -> np.ndarray:
    """Empty text as None."""
    out = np.asarray(values, dtype=object).copy()
    out[out == ""] = None
    return out
