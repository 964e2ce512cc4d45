"""Talking points in a rep's words: the kinds of point, and the sentences that say a feature or a decision.

``models.talking_points`` chooses which points to say from the models' contributions; this module only words
them, and imports no model library, so a page that labels or words points does not load LightGBM.

- A feature's sentence is its registry template filled in with the account's own numbers (``render``): a
  false flag or a number below zero takes ``template_negative`` with the size of the value, the noun after a
  number that reads as 1 is singular, and a ``days`` feature's ``{date}`` is the calendar day it counts.
  ``renderable`` tells which points can be written at all (every field present, a template for the value).
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

from features.registry import BY_NAME, DATE_FIELD, Feature

RISK_DRIVER, PROTECTIVE, OFFER_DRIVER, GUARDRAIL = "risk_driver", "protective", "offer_driver", "guardrail"
KINDS = (RISK_DRIVER, PROTECTIVE, OFFER_DRIVER, GUARDRAIL)
"""Talking-point kinds, in page order."""
KIND_LABELS = dict(zip(KINDS, ("Risk", "Holds", "Offer", "Limit"), strict=True))
"""Each kind's label on a rep's page."""
KIND_INTRODUCTIONS = dict(zip(KINDS, ("at risk because", "holds them", "why this offer", "guardrail"), strict=True))
"""How a sentence of each kind is introduced in running text (the demo's terminal summary)."""

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
) -> np.ndarray:
    """The sentence of each (row, feature) point: the feature's template with the row's values.

    Points are grouped by feature, so each column is read and converted once.
    Every point must be renderable (``renderable``); a false flag or a number
    below zero takes the feature's ``template_negative`` with the size of the value.

    Args:
        frame: The feature rows.
        features: The feature of each point.
        rows: The position in ``frame`` of each point.
        as_of: The as-of date, for ``{date}``.
        columns: ``frame``'s columns already read by ``renderable``, to read each once.

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
        negative = _negative(feature, value)
        fields = {f: columns[f][picked] for f in sorted(template_fields(feature))}
        if feature.kind == "days":
            fields[DATE_FIELD] = _dates(feature, value, as_of)
        if not feature.categorical:
            value = np.where(negative, np.abs(value), value)
        for template, which in ((feature.template, ~negative), (feature.template_negative, negative)):
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
    frame: pd.DataFrame, features: Sequence[Feature | None], columns: FeatureColumns | None = None
) -> np.ndarray:
    """Rows × features: whether the point can be written (registered, every field present, a template for it).

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
        value = columns[feature.name]
        for name in (feature.name, *template_fields(feature)):
            if name not in present:
                present[name] = _present(columns[name])
        ok = present[feature.name].copy()
        for field in template_fields(feature):
            ok &= present[field]
        if not feature.template_negative:
            ok &= ~_negative(feature, value)
        out[:, j] = ok
    return out


@lru_cache(maxsize=1024)
def template_fields(feature: Feature) -> frozenset[str]:
    """``feature.template_fields``, parsed once per feature."""
    return frozenset(feature.template_fields)


def _dates(feature: Feature, days: np.ndarray, as_of: date) -> np.ndarray:
    """The calendar day a ``days`` feature counts, like "Aug 2" (with the year when it is not the as-of's)."""
    ahead = 1 if feature.name.startswith("days_to_") else -1
    distinct, codes = np.unique(np.round(days), return_inverse=True)
    text = [_day(as_of, ahead * int(d)) if np.isfinite(d) else None for d in distinct.tolist()]
    return np.asarray(text, dtype=object)[codes.reshape(-1)]


@lru_cache(maxsize=8192)
def _day(as_of: date, offset: int) -> str:
    """``as_of`` moved by ``offset`` days, as a rep says it: "Aug 2", or "Aug 2, 2025" in another year."""
    day = as_of + timedelta(days=offset)
    return f"{day:%b} {day.day}" + ("" if day.year == as_of.year else f", {day.year}")


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
