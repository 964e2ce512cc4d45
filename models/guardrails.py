"""Guardrails: the business rules an offer must pass before a rep sees it.

Each guardrail is a small function over the candidate frame (one row per
account × offer, the columns of ``models.offers.offer_terms`` plus the request's
``reason`` and, once the save model has run, ``expected_net_value``). It returns
a ``Verdict``: whether each row is allowed, and the rule's reason code where it
is not. A rule that cannot check a row (a missing number) blocks it.
``apply_guardrails`` runs them all, and for a blocked rollback names the largest
rollback the rep may still give.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import NamedTuple

import numpy as np
import pandas as pd

from models.mandates import DEFAULT_MANDATES, Mandate, compliance_notes, mandated_streams
from sources import vocabulary as v

__all__ = ["DEFAULT_MANDATES", "GUARDRAILS", "GUARDRAIL_WORDS", "LIKELY_REASON", "GuardrailRules", "Mandate", "Verdict",
           "apply_guardrails", "compliance_notes", "mandated_streams"]  # fmt: skip


@dataclass(frozen=True)
class GuardrailRules:
    """The limits every recommended offer stays within.

    Attributes:
        rep_max_rollback_pct: Largest rollback, in %, a rep may give without a manager.
        min_margin_pct: Least margin over cost to serve a concession may leave, in %.
        mandates: Streams each jurisdiction requires.
        service_change_offers: Offers that change the service, which must stay compliant.
        repeat_penalty_months: Months of a repeat rollback's concession charged against it
            for teaching the customer to call.
        concession_offers: Offers that give the customer money or rate, besides every rollback.
        uncontrollable_min_gain: For a business leaving for a reason no concession changes (closed,
            moved, bankrupt, sold), a concession must beat every other applicable offer's expected net
            value by more than this, in dollars.
    """

    rep_max_rollback_pct: float = 10.0
    min_margin_pct: float = 10.0
    mandates: tuple[Mandate, ...] = field(default_factory=lambda: DEFAULT_MANDATES)
    service_change_offers: tuple[str, ...] = ("right_size", "right_size_renewal", "compactor_lease", "add_stream")
    repeat_penalty_months: float = 2.0
    concession_offers: tuple[str, ...] = ("service_recovery", "renewal_rate_lock")
    uncontrollable_min_gain: float = 0.0


LIKELY_REASON = "likely_reason"
"""The column of the reason an account without a request would most likely give (``models.reason_model``)."""


class Verdict(NamedTuple):
    """A guardrail's answer for each candidate row."""

    allowed: pd.Series
    reason: pd.Series
    """The rule's code where the row is blocked, empty where it is allowed."""


Guardrail = Callable[[pd.DataFrame, GuardrailRules], Verdict]

GUARDRAIL_WORDS = {
    "not_applicable": "does not apply to this account",
    "no_history": "no record yet of how this offer saves",
    "uncontrollable_reason": "the customer is leaving for a reason no concession changes",
    "rep_authority": "your authority (a manager can approve more)",
    "price_floor": "the price floor",
    "compliance": "a stream the jurisdiction mandates",
    "repeat_concession": "already given a rollback in the last 12 months",
}
"""Each guardrail's code (a blocked row's reason) in a rep's words."""


def _verdict(allowed: pd.Series | np.ndarray, code: str, index: pd.Index) -> Verdict:
    ok = pd.Series(np.asarray(allowed, dtype=bool), index=index)
    return Verdict(ok, pd.Series(np.where(ok, "", code), index=index, dtype=object))


def _numbers(candidates: pd.DataFrame, column: str, default: float = np.nan) -> np.ndarray:
    """A numeric column as floats: unparseable values NaN, a missing column ``default`` (numpy numbers are cast)."""
    if column not in candidates:
        return np.full(len(candidates), default)
    values = candidates[column]
    if isinstance(values.dtype, np.dtype) and values.dtype.kind in "fiub":
        return values.to_numpy(dtype="float64")
    return pd.to_numeric(values, errors="coerce").astype(float).to_numpy()


def _needs(candidates: pd.DataFrame, rule: str, *columns: str) -> None:
    missing = [c for c in columns if c not in candidates]
    if missing:
        raise ValueError(f"The {rule} guardrail needs candidate columns {missing} (from offer_terms).")


def applicable_offer(candidates: pd.DataFrame, rules: GuardrailRules) -> Verdict:
    """An offer that does not apply (a right-size with nothing to shrink) is never recommended."""
    applies = candidates["applicable"].fillna(False) if "applicable" in candidates else True
    return _verdict(np.broadcast_to(applies, (len(candidates),)), "not_applicable", candidates.index)


def offer_history(candidates: pd.DataFrame, rules: GuardrailRules) -> Verdict:
    """An offer the save model never saw made (``has_history`` false) has no save probability to trust."""
    known = candidates["has_history"].fillna(False) if "has_history" in candidates else True
    return _verdict(np.broadcast_to(known, (len(candidates),)), "no_history", candidates.index)


def is_concession(candidates: pd.DataFrame, rules: GuardrailRules) -> np.ndarray:
    """Whether each row gives the customer money or rate: every rollback and ``rules.concession_offers``."""
    with np.errstate(invalid="ignore"):
        rollback = _numbers(candidates, "rollback_pct", 0.0) > 0
    return rollback | candidates["offer"].isin(rules.concession_offers).to_numpy()


def leaving_for_good(candidates: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Rows whose stated reason is uncontrollable, and rows without one whose ``likely_reason`` is."""
    stated = candidates["reason"] if "reason" in candidates else pd.Series(np.nan, index=candidates.index)
    said = stated.isin(v.UNCONTROLLABLE_REASONS).to_numpy()
    likely = candidates[LIKELY_REASON] if LIKELY_REASON in candidates else None
    guessed = np.zeros(len(candidates), bool) if likely is None else (
        stated.isna().to_numpy() & likely.isin(v.UNCONTROLLABLE_REASONS).to_numpy()
    )  # fmt: skip
    return said, guessed


def uncontrollable_reason(candidates: pd.DataFrame, rules: GuardrailRules) -> Verdict:
    """No concession for a closed, moved, bankrupt or sold business unless its expected value says so.

    For a stated uncontrollable reason a concession is allowed only when its expected net value beats
    every other applicable offer of the decision by more than ``rules.uncontrollable_min_gain`` (without
    ``expected_net_value``, before the save model has run, none can). An account without a request whose
    likely reason is uncontrollable gets none: its value was priced over reasons it most likely does not have.
    Offers that give nothing (walking through the agreement, a convert, a change of service, a flip) stay open.
    """
    _needs(candidates, "uncontrollable reason", "offer")
    said, guessed = leaving_for_good(candidates)
    concession = is_concession(candidates, rules)
    if not (said | guessed).any():
        return _verdict(np.ones(len(candidates), bool), "uncontrollable_reason", candidates.index)
    value = _numbers(candidates, "expected_net_value")
    key = candidates["request_id"] if "request_id" in candidates else candidates["account_id"]
    applies = candidates["applicable"].fillna(False).astype(bool).to_numpy() if "applicable" in candidates else True
    with np.errstate(invalid="ignore"):
        best_other = _group_max(pd.factorize(key)[0], np.where(~concession & applies, value, np.nan))
        pays = value - rules.uncontrollable_min_gain > np.where(np.isnan(best_other), -np.inf, best_other)
    allowed = ~concession | ~(said | guessed) | (said & pays)
    return _verdict(allowed, "uncontrollable_reason", candidates.index)


def rep_authority(candidates: pd.DataFrame, rules: GuardrailRules) -> Verdict:
    """A rollback larger than the rep's authority needs a manager."""
    _needs(candidates, "rep authority", "rollback_pct")
    within = _numbers(candidates, "rollback_pct") <= rules.rep_max_rollback_pct
    return _verdict(within, "rep_authority", candidates.index)


def floor_rate(monthly_cost_to_serve: np.ndarray, rules: GuardrailRules) -> np.ndarray:
    """The lowest monthly rate a concession may leave: cost to serve plus the minimum margin."""
    return monthly_cost_to_serve * (1 + rules.min_margin_pct / 100)


def price_floor(candidates: pd.DataFrame, rules: GuardrailRules) -> Verdict:
    """A concession never takes the rate below cost to serve plus the minimum margin.

    An offer that gives nothing up is not blocked, so an account already under
    the floor can still be educated on its contract.
    """
    _needs(candidates, "price floor", "new_monthly_rate", "monthly_cost_to_serve", "concession_monthly")
    floor = floor_rate(_numbers(candidates, "monthly_cost_to_serve"), rules)
    # A rate exactly at the floor passes, whatever the float rounding of cost × (1 + margin).
    with np.errstate(invalid="ignore"):
        above = _numbers(candidates, "new_monthly_rate") >= floor * (1 - 1e-12)
        gives_nothing = _numbers(candidates, "concession_monthly") <= 0
    return _verdict(above | gives_nothing, "price_floor", candidates.index)


def compliance(candidates: pd.DataFrame, rules: GuardrailRules) -> Verdict:
    """A service change keeps every stream the account's state or city mandates.

    Read on the proposal's resulting streams (``has_<stream>_after``): a stream
    the jurisdiction requires and the proposal lacks blocks it, and so does a
    required stream with no column to show it. Without a ``city`` column every
    city rule of the state is taken to apply.
    """
    _needs(candidates, "compliance", "offer", "state", "segment")
    changes = candidates["offer"].isin(rules.service_change_offers).to_numpy()
    ok = np.ones(len(candidates), dtype=bool)
    for stream, required in mandated_streams(candidates, rules.mandates).items():
        column = f"has_{stream}_after"
        kept = candidates[column].fillna(False).astype(bool).to_numpy() if column in candidates else False
        ok &= ~required | kept
    return _verdict(~changes | ok, "compliance", candidates.index)


def repeat_penalty(candidates: pd.DataFrame, rules: GuardrailRules) -> pd.Series:
    """The charge against a repeat rollback: ``repeat_penalty_months`` of its concession; 0 otherwise."""
    history = {c: _numbers(candidates, c) for c in ("rollbacks_365d", "days_since_save", "last_rollback_pct")}
    with np.errstate(invalid="ignore"):
        # The 365-day count is exact; a save within 365 days after a rollback counts too, to be safe.
        recent = (history["rollbacks_365d"] > 0) | (
            (history["days_since_save"] < 365) & (history["last_rollback_pct"] > 0)
        )
        repeat = (_numbers(candidates, "rollback_pct") > 0) & recent
    charge = rules.repeat_penalty_months * _numbers(candidates, "concession_monthly")
    return pd.Series(np.where(repeat, charge, 0.0), index=candidates.index)


def repeat_concession(candidates: pd.DataFrame, rules: GuardrailRules) -> Verdict:
    """No rollback within 12 months of the last one unless, after the penalty, it still beats every other offer.

    "Other offers" are the same account's applicable offers that are not
    rollbacks. Without ``expected_net_value`` (before the save model has run) no
    repeat rollback can win, so all are blocked.
    """
    _needs(candidates, "repeat concession", "account_id", "rollback_pct", "concession_monthly")
    penalty = repeat_penalty(candidates, rules).to_numpy()
    value = _numbers(candidates, "expected_net_value")
    key = candidates["request_id"] if "request_id" in candidates else candidates["account_id"]
    applies = candidates["applicable"].fillna(False).astype(bool).to_numpy() if "applicable" in candidates else True
    with np.errstate(invalid="ignore"):
        alternative = (_numbers(candidates, "rollback_pct") <= 0) & applies
        best_other = _group_max(pd.factorize(key)[0], np.where(alternative, value, np.nan))
        beats = value - penalty > best_other
        return _verdict((penalty <= 0) | beats, "repeat_concession", candidates.index)


def _group_max(group: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Each row's group's largest value, missing values skipped (NaN for a group without one, or no group: -1).

    What ``groupby(...).transform("max")`` gives, from one sort instead of a groupby.
    """
    out = np.full(len(values), np.nan)
    rows = np.flatnonzero(group >= 0)
    if not len(rows):
        return out
    order = rows[np.argsort(group[rows], kind="stable")]
    grouped = group[order]
    starts = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]])
    with np.errstate(invalid="ignore"):
        largest = np.fmax.reduceat(values[order], starts)  # fmax skips NaN; an all-NaN group stays NaN
    out[order] = np.repeat(largest, np.diff(np.r_[starts, len(order)]))
    return out


GUARDRAILS: tuple[Guardrail, ...] = (
    applicable_offer,
    offer_history,
    uncontrollable_reason,
    rep_authority,
    price_floor,
    compliance,
    repeat_concession,
)
"""Every guardrail, in the order their reasons are listed."""


def apply_guardrails(
    candidates: pd.DataFrame, rules: GuardrailRules, checks: tuple[Guardrail, ...] = GUARDRAILS
) -> pd.DataFrame:
    """Run every guardrail over the candidates.

    Args:
        candidates: One row per account (or request) × offer.
        rules: The limits.
        checks: The guardrails to run.

    Returns:
        The candidates with ``allowed`` (passes every guardrail), ``blocked_by``
        (the codes of the guardrails it fails, comma-separated, in ``checks``
        order), ``needs_manager`` (blocked by the rep's authority alone),
        ``capped_to`` (for a blocked rollback, the largest allowed smaller
        rollback of the same account, or empty) and ``note`` (why, in a rep's
        words).
    """
    allowed = np.ones(len(candidates), dtype=bool)
    blocked_by = np.full(len(candidates), "", dtype=object)
    for check in checks:
        verdict = check(candidates, rules)
        allowed &= verdict.allowed.to_numpy(dtype=bool)
        code = verdict.reason.to_numpy(dtype=object)
        blocked_by = np.where(code == "", blocked_by, np.where(blocked_by == "", code, blocked_by + "," + code))
    return candidates.assign(
        allowed=allowed,
        blocked_by=pd.Series(blocked_by, index=candidates.index, dtype=object),
        needs_manager=blocked_by == "rep_authority",
        **_caps(candidates, allowed, blocked_by),
    )


def _caps(out: pd.DataFrame, ok: np.ndarray, blocked_by: np.ndarray) -> dict[str, pd.Series]:
    """For each blocked rollback, the largest allowed smaller rollback of the same account; and every note."""
    key = out["request_id"] if "request_id" in out else out["account_id"]
    group = pd.factorize(key)[0].astype(float)
    pct = _numbers(out, "rollback_pct")
    # Open rollbacks sorted by (account, size); a blocked one looks up the last open one before it.
    open_rows = np.flatnonzero((pct > 0) & ok)
    open_rows = open_rows[np.lexsort((pct[open_rows], group[open_rows]))]
    blocked = np.flatnonzero((pct > 0) & ~ok)
    scale = np.nanmax(pct, initial=0.0) + 1.0
    place = np.searchsorted(group[open_rows] * scale + pct[open_rows], group[blocked] * scale + pct[blocked]) - 1
    found = np.zeros(len(blocked), dtype=bool)
    if len(open_rows):
        found = (place >= 0) & (group[open_rows[np.maximum(place, 0)]] == group[blocked])
    source = open_rows[place[found]]
    capped_to = np.full(len(out), "", dtype=object)
    capped_to[blocked[found]] = out["offer"].to_numpy(dtype=object)[source]
    cap = np.full(len(out), -1.0)
    cap[blocked[found]] = pct[source]

    # Few distinct cases: word each once.
    why_not = out["not_applicable_reason"] if "not_applicable_reason" in out else pd.Series("", index=out.index)
    case = (blocked_by, pct > 0, cap, why_not.fillna("").astype(str).to_numpy(dtype=object))
    if len(out) <= FEW_CANDIDATES:  # a live plan: a dict of the cases costs less than indexing them
        notes = [_worded(*c) for c in zip(*(a.tolist() for a in case), strict=True)]
        note = pd.Series(notes, index=out.index, dtype=object)
    else:
        codes, distinct = pd.MultiIndex.from_arrays(case).factorize()
        note = pd.Series(np.array([_note(*c) for c in distinct], dtype=object)[codes], index=out.index, dtype=object)
    return {"capped_to": pd.Series(capped_to, index=out.index, dtype=object), "note": note}


FEW_CANDIDATES = 1_000
"""Up to this many candidate rows, ``apply_guardrails`` words each row's case through a cache."""


@lru_cache(maxsize=4096)
def _worded(codes: str, rollback: bool, cap: float, why_not: str) -> str:
    return _note(codes, rollback, cap, why_not)


def _note(codes: str, rollback: bool, cap: float, why_not: str) -> str:
    """Why an offer is blocked, in a rep's words (empty when it is allowed); ``cap`` is -1 when there is none."""
    if not codes:
        return ""
    words = {**GUARDRAIL_WORDS, "not_applicable": why_not or GUARDRAIL_WORDS["not_applicable"]}
    why = " and ".join(words.get(c, c) for c in codes.split(","))
    if rollback and cap > 0:
        return f"rollback capped at {cap:g} %: {why}"
    return f"no rollback: {why}" if rollback else f"not offered: {why}"
