"""Talking points: why an account on a list is at risk, what holds it, and why the recommended offer.

For every listed decision, ``talking_points`` turns exact SHAP contributions
(LightGBM's own ``pred_contrib``, in log-odds, computed only for the listed rows)
into sentences from the feature registry's templates, filled in with the
account's own numbers (worded by ``models.point_wording``). Each point keeps its
feature, its contribution and its direction next to the sentence. Four kinds
(``KINDS``), in this order on a page:

- ``risk_driver``: the features raising the churn risk most (positive
  contributions), at most ``risk_points`` of them. Only features a rep can act
  on (``actionable``) and that are not ``sensitive`` are candidates: the others
  are dropped, not kept aside, so the frame is the rep's page and nothing on it
  needs filtering downstream. Nor is a value that says nothing happened (a
  count of 0, a change that rounds to 0 %): true, but no reason to give on the
  phone. The next candidate takes a dropped driver's place.
- ``protective``: one factor, the most negative contribution under the same
  rule (actionable, not sensitive; tenure counts as actionable: a long
  relationship is something to say on the call); none when nothing lowers the
  risk.
- ``offer_driver``: the two features raising the save probability of the
  recommended offer most, from the save model's contributions, under the same
  rule as risk drivers (actionable, not sensitive), plus the decision itself in
  plain words (the reason the customer called, the kind of offer and the pair,
  the rollback size). A proactive account has not stated a reason: its
  contributions are taken at the reason it most likely has (the save model's
  reason model) and the reason itself is never cited.
- ``guardrail``: the note of the guardrail that kept a more valuable offer off
  the table, when there is one; it has no feature or contribution.

``direction`` follows the sign of the contribution: ``raises_risk`` /
``lowers_risk`` for churn points, ``raises_save`` / ``lowers_save`` for offer
points (only raising ones are chosen). A point whose sentence would need a
missing value is skipped and the next candidate takes its place.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from functools import lru_cache
from typing import Any, cast

import numpy as np
import pandas as pd

from features.registry import BY_NAME, Feature
from models.churn import ChurnModel
from models.offer_design import offer_kind, rollback_pct
from models.point_wording import (
    DESIGN_POINTS,
    GUARDRAIL,
    KINDS,
    OFFER_DRIVER,
    PROTECTIVE,
    RISK_DRIVER,
    FeatureColumns,
    decision_sentences,
    render,
    renderable,
    template_fields,
)
from models.save import SaveModel

RAISES_RISK, LOWERS_RISK, RAISES_SAVE, LOWERS_SAVE = "raises_risk", "lowers_risk", "raises_save", "lowers_save"
POINT_COLUMNS = ("kind", "rank", "feature", "contribution", "direction", "sentence")
"""The columns of a talking point after the decision's key."""
OFFER_POINTS = 2


def rep_driver(feature: Feature | None) -> bool:
    """Whether a feature may be shown as a driver on a rep's page: registered, actionable, not sensitive."""
    return feature is not None and feature.actionable and not feature.sensitive


def talking_points(
    churn: ChurnModel,
    save: SaveModel | None,
    listed: pd.DataFrame,
    as_of: date,
    key: str = "list_key",
    risk_points: int = 3,
) -> pd.DataFrame:
    """The talking points of every listed decision, one row per point.

    Args:
        churn: The churn model; its contributions are computed for ``listed`` only.
        save: The save model, for the offer drivers (None: no offer drivers).
        listed: One row per listed decision: ``key``, every feature column the
            models read, ``reason`` (missing for a proactive account), the
            recommended ``offer`` and ``guardrail_note`` (may be empty or absent).
        as_of: The features' as-of date (a ``days`` feature's ``{date}``).
        key: The column naming a decision.
        risk_points: The most risk drivers per decision.

    Returns:
        ``key`` then ``POINT_COLUMNS``: ``kind`` (``KINDS``), ``rank`` (1 = the
        strongest within its kind), ``feature`` (a registered feature or a
        ``DESIGN_POINTS`` column; missing for a guardrail), ``contribution``
        (log-odds; missing for a guardrail), ``direction`` and ``sentence``;
        sorted by the decisions' order in ``listed``, then kind, then rank.
    """
    listed = listed.reset_index(drop=True)
    churn_parts, columns = _churn_points(churn, listed, as_of, risk_points)
    parts = [*churn_parts, _guardrail_points(listed)]
    if save is not None:
        said = {(int(r), str(f)) for part in churn_parts for r, f in zip(part["row"], part["feature"], strict=True)}
        parts.append(_offer_points(save, listed, as_of, said, columns))
    points = {c: np.concatenate([part[c] for part in parts]) for c in ("row", *POINT_COLUMNS)}
    kind_order = np.select([points["kind"] == k for k in KINDS], list(range(len(KINDS))), len(KINDS))
    order = np.lexsort((points["rank"], kind_order, points["row"]))
    out = {key: listed[key].to_numpy()[points["row"][order]]}
    out.update({c: points[c][order] for c in POINT_COLUMNS})
    return pd.DataFrame(out).astype({"rank": "int64", "contribution": "float64"})


Points = dict[str, np.ndarray]
"""Talking points as columns: ``row`` (the decision's position in ``listed``) and ``POINT_COLUMNS``."""


def _points(
    rows: np.ndarray,
    kind: str,
    ranks: np.ndarray,
    feature: np.ndarray,
    contribution: np.ndarray,
    direction: np.ndarray,
    sentence: np.ndarray,
) -> Points:
    n = len(rows)
    return {
        "row": np.asarray(rows, dtype=np.int64),
        "kind": np.full(n, kind, dtype=object),
        "rank": np.asarray(ranks, dtype=np.int64),
        "feature": np.asarray(feature, dtype=object),
        "contribution": np.asarray(contribution, dtype="float64"),
        "direction": np.asarray(direction, dtype=object),
        "sentence": np.asarray(sentence, dtype=object),
    }


def _churn_points(
    churn: ChurnModel, listed: pd.DataFrame, as_of: date, risk_points: int
) -> tuple[list[Points], FeatureColumns]:
    """Risk drivers and the protective factor of each row of ``listed``, and the columns of ``listed`` read."""
    columns = np.asarray(churn.columns, dtype=object)
    values = churn.contribution_values(listed)[:, : len(columns)]  # the bias is no talking point
    features = [BY_NAME.get(c) for c in columns]
    shown, cache = _shown(listed, features)
    news = ~_nothing_happened(features, cache)
    risk = _top(np.where(shown & news & (values > 0), values, -np.inf), risk_points)
    # The protective factor obeys the same rule as the drivers: nothing a rep cannot use reaches the page.
    protective = _top(np.where(shown & (values < 0), -values, -np.inf), 1)
    out = []
    for kind, (rows, cols, ranks) in ((RISK_DRIVER, risk), (PROTECTIVE, protective)):
        contribution = values[rows, cols]
        direction = np.where(contribution > 0, RAISES_RISK, LOWERS_RISK)
        sentence = render(listed, [features[c] for c in cols], rows, as_of, cache)
        out.append(_points(rows, kind, ranks, columns[cols], contribution, direction, sentence))
    return out, cache


def _offer_points(
    save: SaveModel,
    listed: pd.DataFrame,
    as_of: date,
    said: Collection[tuple[int, str]] = (),
    read: FeatureColumns | None = None,
) -> Points:
    """The drivers of the recommended offer's save probability, per row of ``listed`` that has an offer.

    ``said`` holds the (row of ``listed``, feature) pairs already on the page as risk drivers or the
    protective factor: the same sentence is not said twice, and the next candidate takes its place.
    ``read`` holds ``listed``'s feature columns already read (a feature's values do not depend on the offer).
    """
    offered = np.flatnonzero(listed["offer"].notna().to_numpy()) if "offer" in listed else np.array([], dtype=int)
    if not len(offered):
        return _no_points()
    frame = listed if len(offered) == len(listed) else listed.iloc[offered].reset_index(drop=True)
    reason = frame["reason"] if "reason" in frame else pd.Series(None, index=frame.index, dtype=object)
    stated = reason.notna().to_numpy()
    reason = reason.astype(object)
    if not stated.all() and save.reasons is not None:
        likely = save.likely_reasons(frame if not stated.any() else frame[~stated])
        reason = reason.where(stated, likely.reindex(frame.index))
    frame = frame.assign(reason=reason)
    columns = np.asarray(save.outcome.columns, dtype=object)
    values = save.contribution_values(frame)[:, : len(columns)]  # the bias is no talking point
    features = [BY_NAME.get(c) for c in columns]
    shown, cache = _shown(frame, features, read if read is not None and len(offered) == len(listed) else None)
    position = {int(row): k for k, row in enumerate(offered)}
    column = {str(c): j for j, c in enumerate(columns)}
    for row, feature in said:
        if row in position and feature in column:
            shown[position[row], column[feature]] = False
    design = _design_sentences(frame, stated)
    for j, column in enumerate(columns):
        if column in design:
            shown[:, j] = pd.notna(design[column])
    # The kind of offer and the (reason, kind) pair say the same thing: cite only the stronger.
    if "offer_kind" in design and "reason_offer" in design and {"offer_kind", "reason_offer"} <= set(columns):
        kind, pair = list(columns).index("offer_kind"), list(columns).index("reason_offer")
        weaker = np.where(values[:, kind] >= values[:, pair], pair, kind)
        shown[np.arange(len(frame)), weaker] = False
    rows, cols, ranks = _top(np.where(shown & ~_nothing_happened(features, cache) & (values > 0), values, -np.inf),
                             OFFER_POINTS)  # fmt: skip
    contribution = values[rows, cols]
    sentence = np.empty(len(rows), dtype=object)
    registered = np.array([features[c] is not None for c in cols], dtype=bool)
    sentence[registered] = render(frame, [features[c] for c in cols[registered]], rows[registered], as_of, cache)
    for j in np.unique(cols[~registered]):
        at = np.flatnonzero(cols == j)
        sentence[at] = design[str(columns[j])][rows[at]]
    direction = np.where(contribution > 0, RAISES_SAVE, LOWERS_SAVE)
    return _points(offered[rows], OFFER_DRIVER, ranks, columns[cols], contribution, direction, sentence)


def _shown(
    frame: pd.DataFrame, features: list[Feature | None], read: FeatureColumns | None = None
) -> tuple[np.ndarray, FeatureColumns]:
    """Rows × features: which points may reach the page (a rep driver, renderable), and the columns read for it.

    Only rep drivers are checked for renderability, so the columns of features that never reach a page are
    never converted; the returned columns serve the sentences of the same frame. ``read`` holds columns of
    a frame with the same rows and feature values, read already.
    """
    cache = read if read is not None else FeatureColumns(frame)
    visible = [f if rep_driver(f) else None for f in features]
    cache.prefetch([name for f in visible if f is not None for name in (f.name, *sorted(template_fields(f)))])
    return renderable(frame, visible, cache), cache


def _nothing_happened(features: list[Feature | None], columns: FeatureColumns) -> np.ndarray:
    """Rows × features: the value says nothing happened — a count of 0, a change that rounds to 0 %.

    True, and the model may lean on it, but "0 late pickups" or "rate up 0 %" is no reason to give a
    customer on the phone, so such a value never becomes a driver (it may still be the protective factor).
    """
    out = np.zeros((len(columns.frame), len(features)), dtype=bool)
    names = set(columns.frame.columns.tolist())
    for j, feature in enumerate(features):
        if feature is None or not rep_driver(feature) or feature.name not in names:
            continue
        if feature.kind == "count":
            out[:, j] = columns[feature.name] == 0
        elif feature.kind == "ratio":
            half_unit = 0.005 if ".0%" in feature.template else 0.0005  # what the template rounds to zero
            out[:, j] = np.abs(columns[feature.name]) < half_unit
    return out


def _guardrail_points(listed: pd.DataFrame) -> Points:
    """The guardrail note of each row of ``listed`` that has one."""
    if "guardrail_note" not in listed:
        return _no_points()
    column = listed["guardrail_note"]
    note = column.astype(object).where(column.notna(), "").astype(str).str.strip().to_numpy(dtype=object)
    rows = np.flatnonzero(note != "")
    n = len(rows)
    return _points(rows, GUARDRAIL, np.ones(n), np.full(n, None), np.full(n, np.nan), np.full(n, ""), note[rows])


def _no_points() -> Points:
    empty = np.array([], dtype=np.int64)
    return _points(empty, "", empty, empty, empty, empty, empty)


def _distinct(arrays: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The distinct combinations of equal-length arrays: (first position of each, each position's combination)."""
    combined = np.zeros(len(arrays[0]), dtype=np.int64)
    for values in arrays:
        codes, distinct = pd.factorize(values, use_na_sentinel=False)
        combined = combined * (len(distinct) + 1) + codes
        combined = np.unique(combined, return_inverse=True)[1].reshape(-1)  # keep the codes small
    _, first, inverse = np.unique(combined, return_index=True, return_inverse=True)
    return first, inverse.reshape(-1)


def _design_sentences(frame: pd.DataFrame, stated: np.ndarray) -> dict[str, np.ndarray]:
    """The decision columns of the save model as sentences (missing where they cannot be cited)."""
    reason, offer = frame["reason"].to_numpy(dtype=object), frame["offer"].to_numpy(dtype=object)
    if len(frame) <= FEW_DECISIONS:  # each decision's sentences are kept: no need to find the distinct ones
        first, inverse = np.arange(len(frame)), np.arange(len(frame))
    else:
        first, inverse = _distinct([reason, offer, stated])
    distinct = [_decision_sentence(reason[i], offer[i], bool(stated[i])) for i in first.tolist()]
    table = np.array([row for row, _ in distinct], dtype=object).reshape(len(first), len(DESIGN_POINTS))
    names = distinct[0][1] if distinct else DESIGN_POINTS
    return {c: table[inverse, j] for j, c in enumerate(names)}


FEW_DECISIONS = 64
"""Up to this many listed decisions, ``_design_sentences`` words each row (from the kept sentences)."""


def _decision_sentence(reason: object, offer: object, stated: bool) -> tuple[tuple[object, ...], tuple[str, ...]]:
    """``decision_sentences`` of one decision (kept for text decisions: a desk has few) and their columns."""
    if isinstance(offer, str) and (isinstance(reason, str) or bool(pd.isna(cast(Any, reason)))):
        return _worded_decision(reason if isinstance(reason, str) else None, offer, stated)
    return _decision_row(reason, offer, stated)


@lru_cache(maxsize=1024)
def _worded_decision(reason: str | None, offer: str, stated: bool) -> tuple[tuple[object, ...], tuple[str, ...]]:
    return _decision_row(reason, offer, stated)


def _decision_row(reason: object, offer: object, stated: bool) -> tuple[tuple[object, ...], tuple[str, ...]]:
    one = pd.DataFrame({"reason": np.array([reason], dtype=object), "offer": np.array([offer], dtype=object)})
    offers = one["offer"]
    sentences = decision_sentences(one["reason"], offer_kind(offers), rollback_pct(offers), np.array([stated]))
    return tuple(s.to_numpy(dtype=object)[0] for s in sentences.values()), tuple(sentences)


def _top(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``k`` largest finite scores of each row: (rows, columns, ranks from 1); ties go to the earlier column."""
    if not scores.size or k <= 0:
        empty = np.array([], dtype=int)
        return empty, empty, empty
    k = min(k, scores.shape[1])
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    picked = np.take_along_axis(scores, order, axis=1)
    rows, position = np.nonzero(np.isfinite(picked))
    return rows, order[rows, position], position + 1
