"""The opening line of a call: two or three sentences a rep can say first, built by templates (no language model).

The first sentence thanks the customer for the relationship ("I can see you've been with us since March 2019")
and names the freshest grievance among the call's top points with an apology ("and that you've had 2 missed
pickups in the last 30 days — I'm sorry about that"); the last says what the recommended offer does, with its
terms when the decision carries them (``models.deal``: the proposed rate, term and service), else without numbers.
Every number comes from the account's own feature row or the decision's terms; nothing compares the customer with
another. An offer kind not in ``OFFER_OPENINGS`` closes with a general sentence rather than a wrong promise.
"""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from features.registry import BY_NAME, MONTH_FIELD
from models.point_wording import OPENS, FeatureColumns, calendar_fields, render

TENURE_FEATURE = "tenure_days"
SAID_TENURE_DAYS = 365
"""A relationship of at least a year is worth thanking for; a newer one is not named."""

APOLOGIES = {"rate increase": "I understand that's frustrating"}
"""What follows a grievance of a concept, by concept (``features.registry``); any other: ``APOLOGY``."""
APOLOGY = "I'm sorry about that"

OFFER_OPENINGS: dict[str, tuple[str, str]] = {
    # offer kind:        (with the deal's numbers,                     without them)
    "renewal_rate_lock": ("I can lock your rate at {rate} a month on a {term}-month agreement.",
                          "I can lock in your rate on a new agreement."),
    "rollback":          ("I can bring your rate down {pct}%, to {rate} a month.",
                          "I can bring your rate down {pct}%."),
    "right_size":        ("I can fit your service to what you really use ({service}), which brings your rate to"
                          " {rate} a month.",
                          "I can fit your service to what you really use, so you stop paying for capacity you"
                          " don't need."),
    "service_recovery":  ("I'll have our operations team put your route right, and I can add a credit to your"
                          " account.",) * 2,
    "contract_education": ("Let me walk you through where your agreement stands and what it gives you.",) * 2,
    "flip":              ("I'd like one of our specialists to come and see you in person, to get this right.",) * 2,
    "convert":           ("I can carry the service over to the new owner at {rate} a month, with no gap in pickups.",
                          "I can carry the service over to the new owner, with no gap in pickups."),
    "convert_moved":     ("If your new address is in our area, I can move the service there at {rate} a month, with"
                          " no gap in pickups.",
                          "If your new address is in our area, I can move the service there, with no gap in"
                          " pickups."),
    "add_stream":        ("I can set up the service you're missing ({service}), {rate} a month in all.",
                          "I can set up the recycling or organics service you're missing."),
    "right_size_renewal": ("I can fit your service to what you really use ({service}), which brings your rate to"
                           " {rate} a month on a {term}-month agreement.",
                           "I can fit your service to what you really use on a new agreement, so you stop paying"
                           " for capacity you don't need."),
    "compactor_lease":   ("A compactor would cut your pickups ({service}), which brings your rate to {rate} a"
                          " month, the lease included.",
                          "A compactor would cut how often we need to come, so you pay for fewer pickups."),
}  # fmt: skip
"""What the rep offers, by kind of offer: with the terms' numbers (``{rate}``, ``{term}``, ``{pct}``,
``{service}``) and without them (when the decision lacks a term the sentence needs)."""
OFFER_OPENING = "Let me see what I can do to keep your service right for you."
CONVERT, CONVERT_MOVED, MOVED = "convert", "convert_moved", "moved_out_of_area"
CONVERT_WELCOME: dict[Any, str] = {
    "sold": "Thank you for letting us know about the sale.",
    MOVED: "Thank you for letting us know about the move.",
    None: "Thank you for letting us know about the change.",
}
"""The first sentence of a convert call, by the request's reason (``None``: any other, or no request)."""
"""The close for an offer kind ``OFFER_OPENINGS`` does not know."""


def opening_lines(
    frame: pd.DataFrame,
    grievance: np.ndarray,
    as_of: date,
    columns: FeatureColumns | None = None,
) -> np.ndarray:
    """The opening line of each decision of ``frame``.

    Args:
        frame: One decision per row: the account's features (``tenure_days`` and the grievances' features), the
            recommended ``offer`` and, when present, ``reason`` (missing: the rep is calling the customer),
            ``proposed_monthly_rate``, ``proposed_term_months`` and ``proposed_service``.
        grievance: Per row, the registered feature (an ``OPENING_PHRASES`` key, renderable and fresh) of the
            grievance to name, or None.
        as_of: The features' as-of date.
        columns: ``frame``'s feature columns already read.

    Returns:
        One opening line per row.
    """
    columns = columns if columns is not None else FeatureColumns(frame)
    n = len(frame)
    said = np.flatnonzero(np.array([g is not None for g in grievance], dtype=bool))
    phrases = np.full(n, None, dtype=object)
    if len(said):
        phrases[said] = render(frame, [BY_NAME[str(g)] for g in grievance[said]], said, as_of, columns, OPENS)
    since = _since(frame, as_of, columns)
    calling = frame["reason"].notna().to_numpy() if "reason" in frame else np.zeros(n, dtype=bool)
    offers = frame["offer"].to_numpy(dtype=object) if "offer" in frame else np.full(n, None, dtype=object)
    terms = {c: _column(frame, c) for c in ("proposed_monthly_rate", "proposed_term_months", "proposed_service")}
    reasons = frame["reason"].to_numpy(dtype=object) if "reason" in frame else np.full(n, None, dtype=object)
    out = np.empty(n, dtype=object)
    for i in range(n):
        offer = offers[i]
        if offer == CONVERT:
            # A sold or moving business is not calling about a grievance: no apology, the move itself is the topic.
            first = CONVERT_WELCOME.get(reasons[i], CONVERT_WELCOME[None])
            offer = CONVERT_MOVED if reasons[i] == MOVED else CONVERT
        else:
            concept = BY_NAME[str(grievance[i])].concept if grievance[i] is not None else ""
            first = _welcome(since[i], phrases[i], APOLOGIES.get(concept, APOLOGY), bool(calling[i]))
        out[i] = f"{first} {offer_sentence(offer, {c: v[i] for c, v in terms.items()})}"
    return out


def _welcome(since: str | None, grievance: str | None, apology: str, calling: bool) -> str:
    """The first sentence: the relationship and the grievance, or a thank-you for the call."""
    if since and grievance:
        return f"I can see you've been with us since {since}, and that {grievance} — {apology}."
    if grievance:
        return f"I can see {grievance} — {apology}."
    if since:
        return f"Thank you for being with us since {since}."
    if calling:
        return "Thank you for calling, and for giving me the chance to help."
    return "Thank you for taking my call."


def offer_sentence(offer: Any, terms: dict[str, Any]) -> str:
    """What the rep offers: the offer's ``OFFER_OPENINGS`` sentence with the deal's numbers when it has them all."""
    if not isinstance(offer, str) or not offer:
        return OFFER_OPENING
    kind, pct = ("rollback", offer.removeprefix("rollback_")) if offer.startswith("rollback_") else (offer, "")
    if kind not in OFFER_OPENINGS:
        return OFFER_OPENING
    rate, term = _finite(terms.get("proposed_monthly_rate")), _finite(terms.get("proposed_term_months"))
    service = terms.get("proposed_service")
    fields = {
        "rate": f"${rate:,.0f}" if rate is not None else None,
        "term": f"{term:.0f}" if term is not None and term > 0 else None,
        "pct": pct or None,
        "service": service if isinstance(service, str) and service else None,
    }
    with_numbers, without = OFFER_OPENINGS[kind]
    needed = {f for f in fields if "{" + f + "}" in with_numbers}
    if all(fields[f] is not None for f in needed):
        return with_numbers.format_map(fields)
    return without.format_map(fields)


def _since(frame: pd.DataFrame, as_of: date, columns: FeatureColumns) -> np.ndarray:
    """Each row's "March 2019" when the account has been with the hauler at least ``SAID_TENURE_DAYS``."""
    out = np.full(len(frame), None, dtype=object)
    if TENURE_FEATURE not in frame:
        return out
    feature = BY_NAME[TENURE_FEATURE]
    days = columns[TENURE_FEATURE]
    with np.errstate(invalid="ignore"):
        long = np.flatnonzero(np.isfinite(days) & (days >= SAID_TENURE_DAYS))
    if len(long):
        out[long] = calendar_fields(feature, days[long], as_of)[MONTH_FIELD]
    return out


def _column(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame:
        return np.full(len(frame), None, dtype=object)
    return frame[name].to_numpy(dtype=object)


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None
