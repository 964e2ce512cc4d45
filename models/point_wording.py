"""Talking points in a rep's words: kinds, sentences, the facts that argue for each offer, opening phrases.

``models.talking_points`` chooses which points to say from the models' contributions; this module only words
them, and imports no model library, so a page that labels or words points does not load LightGBM.

- A feature's sentence is its registry template filled in with the account's own numbers (``render``): a
  false flag or a number below zero takes ``template_negative`` with the size of the value, the noun after a
  number that reads as 1 is singular, and a ``days`` feature's ``{date}``, ``{month}`` and ``{years}`` are the
  calendar day, the month and the whole years it counts. A "holds them" point takes the feature's ``holds``
  sentence (``HOLDS``), true only in its ``holds_range``. ``renderable`` tells which points can be written.
- ``OFFER_FACTS`` declares, per kind of offer, the concepts whose facts argue for it, and ``OFFER_CALLS`` the
  stated reasons that do; a fact older than ``FRESH_DAYS`` (``fresh``) is never an offer reason. An offer not
  declared gets no reason rather than a wrong one.
- ``OPENING_PHRASES`` says a grievance inside the opening line of a call (``models.opening_line``).
- A decision's sentences (``decision_sentences``) say the save model's decision columns (``DESIGN_POINTS``):
  the reason the customer called, the kind of offer and the pair, the rollback size.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, timedelta
from functools import lru_cache

import numpy as np
import pandas as pd

from features.registry import (
    BY_NAME,
    CUSTOMER,
    DATE_FIELD,
    MONTH_FIELD,
    QUALITY_EVENT_ONE,
    QUALITY_EVENTS,
    REP,
    YEARS_FIELD,
    Feature,
)

OPENING, RISK_DRIVER, PROTECTIVE, OFFER_DRIVER, GUARDRAIL = (
    "opening", "risk_driver", "protective", "offer_driver", "guardrail"
)  # fmt: skip
KINDS = (OPENING, RISK_DRIVER, PROTECTIVE, OFFER_DRIVER, GUARDRAIL)
"""Talking-point kinds, in page order."""
KIND_LABELS = dict(zip(KINDS, ("Open with", "Risk", "Holds", "Offer", "Limit"), strict=True))
"""Each kind's label on a rep's page."""
KIND_INTRODUCTIONS = dict(
    zip(KINDS, ("open with", "at risk because", "holds them", "why this offer", "guardrail"), strict=True)
)
"""How a sentence of each kind is introduced in running text (the demo's terminal summary)."""

AUDIENCES = (CUSTOMER, REP)
"""Who may hear a point: ``customer`` (say it on the call) or ``rep`` (for the rep only: a comparison with other
customers, a model internal, a guardrail)."""

RISK, HOLDS, OPENS = "risk", "holds", "opens"
"""The wordings of a feature: as a reason for the risk (its template), as a fact that holds the customer (its
``holds`` sentence), and inside the opening line (``OPENING_PHRASES``)."""

FRESH_DAYS = 180
"""The freshness window: a fact older than this many days is never an offer reason nor in an opening line."""

OFFER_FACTS: dict[str, tuple[str, ...]] = {
    # offer kind          the concepts (features.registry) whose facts argue for it
    "renewal_rate_lock":  ("rate increase", "surcharges", "agreement"),
    "rollback":           ("rate increase", "surcharges", "price against the market"),
    "right_size":         ("fill", "service size", "overage charges"),
    "service_recovery":   ("missed pickups", "late pickups", "damaged containers", "complaints", "escalations",
                           "open issues"),
    "contract_education": ("agreement", "agreement terms"),
    "right_size_renewal": ("fill", "service size", "overage charges", "agreement"),
    "compactor_lease":    ("service size", "fill", "overage charges"),
    "add_stream":         ("has_recycling", "has_organics"),
    "convert":            (),
}  # fmt: skip
"""The facts that argue for each kind of offer. An offer kind not here gets no offer reason."""

OFFER_CALLS: dict[str, tuple[str, ...]] = {
    # offer kind          the stated cancellation reasons that argue for it
    "renewal_rate_lock":  ("price", "contract_terms", "competitor_offer"),
    "rollback":           ("price", "competitor_offer"),
    "right_size":         ("over_servicing", "price"),
    "service_recovery":   ("service_failure",),
    "contract_education": ("contract_terms",),
    "right_size_renewal": ("over_servicing", "price"),
    "compactor_lease":    ("over_servicing", "price"),
    "convert":            ("sold", "moved_out_of_area"),
}  # fmt: skip
"""The reasons a customer gives that argue for each kind of offer ("called about price" for a rollback)."""

OPENING_PHRASES: dict[str, str] = {
    "rate_change_pct_90d": "your rate went up {value:.0%} in the last 90 days",
    "days_since_increase": "your rate went up on {date}",
    "last_increase_pct": "your rate went up {value:.1%} on {date}",
    "complaints_90d": "you've raised {value:.0f} complaints with us in the last 90 days",
    **{
        name: phrase
        for event in ("missed_pickup", "late_pickup", "damaged_container")
        for name, phrase in (
            (f"{event}s_30d", f"you've had {{value:.0f}} {QUALITY_EVENTS[event]} in the last 30 days"),
            (f"{event}s_90d", f"you've had {{value:.0f}} {QUALITY_EVENTS[event]} in the last 90 days"),
            (f"days_since_{event}", f"you had {QUALITY_EVENT_ONE[event]} on {{date}}"),
        )
    },
}
"""A grievance as the opening line says it ("I can see you've had 2 missed pickups in the last 30 days"): only
what the desk owes an apology for, in the features' own fields; a feature not here never opens a call."""

DESIGN_AUDIENCE = {"reason": CUSTOMER, "offer_kind": REP, "reason_offer": REP, "rollback_pct": REP}
"""Who may hear each decision sentence: the reason the customer gave is theirs; the rest is the model's."""

CANCELLATION_REASON_WORDS = {
    "price": "price",
    "service_failure": "a service failure",
    "billing": "billing",
    "competitor_offer": "a competitor's offer",
    "contract_terms": "the contract's terms",
    "over_servicing": "paying for more service than they use",
    "business_closed": "closing the business",
    "moved_out_of_area": "moving out of the area",
    "bankruptcy": "bankruptcy",
    "sold": "selling the business",
}
"""A cancellation reason as a rep would say it after "called about"."""

OFFER_WORDS = {
    "contract_education": "walking through the agreement",
    "service_recovery": "a service recovery",
    "right_size": "right-sizing the service",
    "rollback": "a rate rollback",
    "renewal_rate_lock": "a rate lock on renewal",
    "flip": "a specialist's visit",
    "convert": "carrying the service over to the new owner or address",
    "add_stream": "adding the recycling or organics service they lack",
    "right_size_renewal": "right-sizing the service on a new agreement",
    "compactor_lease": "a compactor lease",
}
"""An offer's kind in a rep's words."""

DESIGN_POINTS = ("reason", "offer_kind", "reason_offer", "rollback_pct")
"""The save model's decision columns that can explain an offer (they are not registered features)."""


def render(
    frame: pd.DataFrame,
    features: Sequence[Feature | None],
    rows: np.ndarray,
    as_of: date,
    columns: FeatureColumns | None = None,
    wording: str = RISK,
) -> np.ndarray:
    """The sentence of each (row, feature) point: the feature's template with the row's values.

    Points are grouped by feature, so each column is read and converted once.
    Every point must be renderable (``renderable`` with the same ``wording``); as a risk, a false flag or a
    number below zero takes the feature's ``template_negative`` with the size of the value.

    Args:
        frame: The feature rows.
        features: The feature of each point.
        rows: The position in ``frame`` of each point.
        as_of: The as-of date, for ``{date}``, ``{month}`` and ``{years}``.
        columns: ``frame``'s columns already read by ``renderable``, to read each once.
        wording: ``RISK`` (the template), ``HOLDS`` (the ``holds`` sentence) or ``OPENS`` (``OPENING_PHRASES``).

    Returns:
        One sentence per point, in point order.
    """
    out = np.empty(len(rows), dtype=object)
    names = np.array([f.name if f is not None else "" for f in features], dtype=object)
    columns = columns if columns is not None else FeatureColumns(frame)
    for name in pd.unique(names):
        feature = BY_NAME[str(name)]
        at = np.flatnonzero(names == name)
        picked = rows[at]
        value = columns[feature.name][picked]
        fields = {f: columns[f][picked] for f in sorted(template_fields(feature))}
        if feature.kind == "days":
            fields.update(calendar_fields(feature, value, as_of))
        elif feature.fact_age in BY_NAME:  # a fact dated by another feature ("a 4.9 % rate increase on Oct 26")
            dated = BY_NAME[feature.fact_age]
            fields.update(calendar_fields(dated, columns[dated.name][picked], as_of))
        templates: list[tuple[str, np.ndarray]]
        if wording == RISK:
            negative = _negative(feature, value)
            if not feature.categorical:
                value = np.where(negative, np.abs(value), value)
            templates = [(feature.template, ~negative), (feature.template_negative, negative)]
        else:
            said = feature.holds if wording == HOLDS else OPENING_PHRASES[feature.name]
            templates = [(said, np.ones(len(value), dtype=bool))]
        for template, which in templates:
            one = _singular(template)
            ones = _reads_as_one(template, value) if one != template else np.zeros(len(value), dtype=bool)
            for text, mask in ((template, which & ~ones), (one, which & ones)):
                chosen = np.flatnonzero(mask)
                if len(chosen):
                    arrays = {"value": value[chosen], **{f: a[chosen] for f, a in fields.items()}}
                    out[at[chosen]] = _format(text, arrays)
    return out


_PLURAL = re.compile(r"(\{value:(?:\.0f|g)\} (?:[a-z-]*[^s\W] )?)([a-z-]+?)(ies|s)\b")
"""The plural noun after a number in a template: "{value:.0f} billing disputes", "in {value:.0f} days"."""


@lru_cache(maxsize=512)
def _singular(template: str) -> str:
    """``template`` with the noun after its number in the singular ("1 billing dispute", "in 1 day")."""
    return _PLURAL.sub(lambda m: m[1] + m[2] + ("y" if m[3] == "ies" else ""), template, count=1)


def _reads_as_one(template: str, value: np.ndarray) -> np.ndarray:
    """Which values the template prints as "1" (rounded for ``.0f``, exactly for ``g``)."""
    if value.dtype == object:
        return np.zeros(len(value), dtype=bool)
    return (np.abs(value - 1) < 0.5) if "{value:.0f}" in template else (value == 1)


def _format(template: str, arrays: dict[str, np.ndarray]) -> np.ndarray:
    """``template`` filled in from each position of ``arrays`` (as Python values: numpy scalars format slower)."""
    names = list(arrays)
    rows = zip(*(arrays[n].tolist() for n in names), strict=True)
    return np.asarray([template.format_map(dict(zip(names, row, strict=True))) for row in rows], dtype=object)


class FeatureColumns:
    """Feature columns as templates read them (``_values``), each converted once."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.cache: dict[str, np.ndarray] = {}

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self.cache:
            self.cache[name] = _values(self.frame, BY_NAME[name])
        return self.cache[name]

    def prefetch(self, names: Sequence[str]) -> None:
        """Read the plain numeric columns among ``names`` in one selection, as ``_values`` would one by one.

        pandas charges about 10 µs per column read, most of what explaining one account on the line costs.
        """
        dtypes = dict(zip(self.frame.columns.tolist(), self.frame.dtypes.tolist(), strict=True))
        plain = [
            n
            for n in dict.fromkeys(names)
            if n not in self.cache
            and n in dtypes
            and n in BY_NAME
            and not BY_NAME[n].categorical
            and _plain_number(dtypes[n])
        ]
        if len(plain) > 1:
            block = self.frame[plain].to_numpy(dtype="float64")
            self.cache.update({n: block[:, j] for j, n in enumerate(plain)})


def _plain_number(dtype: object) -> bool:
    return isinstance(dtype, np.dtype) and dtype.kind in "fiub"


def _values(frame: pd.DataFrame, feature: Feature) -> np.ndarray:
    """A feature's column as a template reads it: text for a category (None when missing), else float."""
    column = frame[feature.name]
    if feature.categorical:
        present = column.notna().to_numpy()
        text = column.astype(str).to_numpy(dtype=object)
        text[~present] = None
        return text
    if isinstance(column.dtype, np.dtype) and column.dtype.kind in "fiub":  # plain numpy: an exact cast
        return column.to_numpy(dtype="float64")
    return pd.to_numeric(column, errors="coerce").astype("float64").to_numpy()


def _present(values: np.ndarray) -> np.ndarray:
    if values.dtype == object:
        return pd.notna(values) & (values != "")
    return np.isfinite(values)


def _negative(feature: Feature, value: np.ndarray) -> np.ndarray:
    """Which values take ``template_negative``: a false flag; a number below zero when the feature has one."""
    if feature.kind == "flag":
        return value == 0
    if feature.categorical or not feature.template_negative:
        return np.zeros(len(value), dtype=bool)
    return value < 0


def renderable(
    frame: pd.DataFrame,
    features: Sequence[Feature | None],
    columns: FeatureColumns | None = None,
    wording: str = RISK,
) -> np.ndarray:
    """Rows × features: whether the point can be written in ``wording``.

    It can when the feature is registered, every field is present and there is a sentence for the value: as a
    risk, a template for its sign; as a fact that holds them, a ``holds`` sentence and a value in its
    ``holds_range``; in an opening line, an ``OPENING_PHRASES`` phrase for a value that is not negative.

    ``columns`` keeps the columns read here for ``render`` on the same frame.
    """
    out = np.zeros((len(frame), len(features)), dtype=bool)
    columns = columns if columns is not None else FeatureColumns(frame)
    names = set(frame.columns.tolist())
    present: dict[str, np.ndarray] = {}
    for j, feature in enumerate(features):
        if feature is None or feature.name not in names:
            continue
        if any(f not in names for f in template_fields(feature)):
            continue
        if (wording == HOLDS and not feature.holds) or (wording == OPENS and feature.name not in OPENING_PHRASES):
            continue
        value = columns[feature.name]
        for name in (feature.name, *template_fields(feature)):
            if name not in present:
                present[name] = _present(columns[name])
        ok = present[feature.name].copy()
        for field in template_fields(feature):
            ok &= present[field]
        if wording == HOLDS:
            low, high = feature.holds_range
            with np.errstate(invalid="ignore"):
                ok &= (value >= low) & (value <= high)
        elif wording == OPENS or not feature.template_negative:
            ok &= ~_negative(feature, value)
        out[:, j] = ok
    return out


def fresh(frame: pd.DataFrame, features: Sequence[Feature | None], columns: FeatureColumns | None = None) -> np.ndarray:
    """Rows × features: whether the fact a point states is at most ``FRESH_DAYS`` old (``Feature.fact_age``)."""
    out = np.zeros((len(frame), len(features)), dtype=bool)
    columns = columns if columns is not None else FeatureColumns(frame)
    names = set(frame.columns.tolist())
    for j, feature in enumerate(features):
        if feature is None or feature.name not in names:
            continue
        age = feature.fact_age
        if age == "now":
            out[:, j] = True
        elif age == "window":
            out[:, j] = (feature.window_days or 0) <= FRESH_DAYS
        else:  # the days back (or ahead) that this or another feature counts; "unknown": never fresh
            counted = feature.name if age in ("value", "ahead") else age
            if counted in BY_NAME and counted in names:
                days = columns[counted]
                with np.errstate(invalid="ignore"):
                    out[:, j] = (days >= 0) & (days <= FRESH_DAYS)
    return out


@lru_cache(maxsize=1024)
def template_fields(feature: Feature) -> frozenset[str]:
    """``feature.template_fields``, parsed once per feature."""
    return frozenset(feature.template_fields)


def calendar_fields(feature: Feature, days: np.ndarray, as_of: date) -> dict[str, np.ndarray]:
    """A ``days`` feature's ``{date}`` ("Aug 2"), ``{month}`` ("March 2019") and ``{years}`` (whole years)."""
    ahead = 1 if feature.name.startswith("days_to_") else -1
    distinct, codes = np.unique(np.round(days), return_inverse=True)
    codes = codes.reshape(-1)
    finite = [int(d) if np.isfinite(d) else None for d in distinct.tolist()]
    day = [_day(as_of, ahead * d) if d is not None else None for d in finite]
    month = [_month(as_of, ahead * d) if d is not None else None for d in finite]
    years = [int(d // 365.25) if d is not None else None for d in finite]
    return {
        DATE_FIELD: np.asarray(day, dtype=object)[codes],
        MONTH_FIELD: np.asarray(month, dtype=object)[codes],
        YEARS_FIELD: np.asarray(years, dtype=object)[codes],
    }


@lru_cache(maxsize=8192)
def _day(as_of: date, offset: int) -> str:
    """``as_of`` moved by ``offset`` days, as a rep says it: "Aug 2", or "Aug 2, 2025" in another year."""
    day = as_of + timedelta(days=offset)
    return f"{day:%b} {day.day}" + ("" if day.year == as_of.year else f", {day.year}")


@lru_cache(maxsize=8192)
def _month(as_of: date, offset: int) -> str:
    """The month of ``as_of`` moved by ``offset`` days, as a rep says it: "March 2019"."""
    return f"{as_of + timedelta(days=offset):%B %Y}"


def decision_sentences(reason: pd.Series, kind: pd.Series, pct: pd.Series, stated: np.ndarray) -> dict[str, pd.Series]:
    """The ``DESIGN_POINTS`` of decisions as sentences (missing where they cannot be cited).

    Args:
        reason: Each decision's cancellation reason (a ``CANCELLATION_REASON_WORDS`` code).
        kind: The kind of each decision's offer (an ``OFFER_WORDS`` code).
        pct: The rollback size of each decision's offer, in % (0 for any other offer).
        stated: Whether the customer stated the reason: a reason only guessed is never cited.

    Returns:
        ``DESIGN_POINTS`` → one sentence per decision, on ``reason``'s index.
    """
    reason_words = reason.map(CANCELLATION_REASON_WORDS)
    kind_words = kind.map(OFFER_WORDS)
    called = ("called about " + reason_words).where(stated)
    offer = kind_words.str.slice(0, 1).str.upper() + kind_words.str.slice(1) + " suits accounts like this"
    pair = (kind_words + " answers a call about " + reason_words).where(stated)
    pair = pair.str.slice(0, 1).str.upper() + pair.str.slice(1)
    size = ("a " + pct.map(lambda p: f"{p:g}") + " % rollback").where(pct > 0)
    return dict(zip(DESIGN_POINTS, (called, offer, pair, size), strict=True))
