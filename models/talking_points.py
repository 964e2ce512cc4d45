"""Talking points: what to say to an account on a list, what holds it, why the recommended offer, and how to open.

For every listed decision, ``talking_points`` turns exact SHAP contributions
(LightGBM's own ``pred_contrib``, in log-odds, computed only for the listed rows)
into sentences from the feature registry's templates, filled in with the
account's own numbers (worded by ``models.point_wording``). Each point keeps its
feature, its contribution, its direction and its audience (``customer``: say it
on the call; ``rep``: for the rep only) next to the sentence. A decision's
points name each concept once (``Feature.concept``: tenure in days and in
years are one concept) and never repeat a sentence. The kinds (``KINDS``), in
this order on a page:

- ``opening``: two or three sentences to open the call (``models.opening_line``):
  the relationship, the freshest grievance among the points below, the offer's
  terms.
- ``risk_driver``: the features raising the churn risk most (positive
  contributions), at most ``risk_points`` of them. Only features a rep can act
  on (``actionable``) and that are not ``sensitive`` are candidates: the others
  are dropped, not kept aside, so the frame is the rep's page and nothing on it
  needs filtering downstream. Nor is a value that says nothing happened (a
  count of 0, a change that rounds to 0 %): true, but no reason to give on the
  phone. The next candidate takes a dropped driver's place.
- ``protective``: one fact that holds them: the most negative contribution
  among features whose ``holds`` sentence is true of the account ("no missed
  pickups in the last 90 days"); a feature that cannot be worded protectively is
  never one; none when nothing qualifies.
- ``offer_driver``: at most two facts that argue for the recommended offer
  (``models.point_wording.OFFER_FACTS``; the stated reason when
  ``OFFER_CALLS`` says it argues for it), fresh (``FRESH_DAYS``), raising its
  save probability (the save model's contributions). An offer with no declared
  facts gets none. A proactive account has not stated a reason: its
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

from collections.abc import Iterable
from datetime import date
from functools import lru_cache
from typing import Any, cast

import numpy as np
import pandas as pd

from features.registry import BY_NAME, CUSTOMER, REP, Feature
from models.churn import ChurnModel
from models.offer_design import offer_kind, rollback_pct
from models.opening_line import opening_lines
from models.point_wording import (
    DESIGN_AUDIENCE,
    DESIGN_POINTS,
    GUARDRAIL,
    HOLDS,
    KINDS,
    OFFER_CALLS,
    OFFER_DRIVER,
    OFFER_FACTS,
    OPENING,
    OPENING_PHRASES,
    OPENS,
    PROTECTIVE,
    RISK,
    RISK_DRIVER,
    FeatureColumns,
    decision_sentences,
    fresh,
    render,
    renderable,
    template_fields,
)
from models.save import SaveModel

RAISES_RISK, LOWERS_RISK, RAISES_SAVE, LOWERS_SAVE = "raises_risk", "lowers_risk", "raises_save", "lowers_save"
POINT_COLUMNS = ("kind", "rank", "feature", "contribution", "direction", "audience", "sentence")
"""The columns of a talking point after the decision's key."""
OFFER_POINTS = 2
REASON = "reason"
"""The decision column of the reason the customer stated (a ``DESIGN_POINTS`` column, the one an offer cites)."""


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
            recommended ``offer`` and ``guardrail_note`` (may be empty or absent),
            and the deal's ``proposed_monthly_rate``, ``proposed_term_months`` and
            ``proposed_service`` when present (for the opening line).
        as_of: The features' as-of date (a ``days`` feature's ``{date}``).
        key: The column naming a decision.
        risk_points: The most risk drivers per decision.

    Returns:
        ``key`` then ``POINT_COLUMNS``: ``kind`` (``KINDS``), ``rank`` (1 = the
        strongest within its kind), ``feature`` (a registered feature or a
        ``DESIGN_POINTS`` column; for the opening line the grievance it names;
        missing for a guardrail), ``contribution`` (log-odds; missing for an
        opening line or a guardrail), ``direction``, ``audience`` (``customer``
        or ``rep``) and ``sentence``; sorted by the decisions' order in
        ``listed``, then kind, then rank. No decision has two points of one
        concept or two equal sentences.
    """
    listed = listed.reset_index(drop=True)
    concepts = _Concepts()
    churn_parts, columns, taken = _churn_points(churn, listed, as_of, risk_points, concepts)
    parts = [*churn_parts, _guardrail_points(listed)]
    if save is not None:
        parts.append(_offer_points(save, listed, as_of, taken, columns, concepts))
    parts.append(_opening_points(listed, as_of, parts, columns))
    points = {c: np.concatenate([part[c] for part in parts]) for c in ("row", *POINT_COLUMNS)}
    kind_order = np.select([points["kind"] == k for k in KINDS], list(range(len(KINDS))), len(KINDS))
    order = np.lexsort((points["rank"], kind_order, points["row"]))
    said = pd.DataFrame({"row": points["row"][order], "sentence": points["sentence"][order]})
    order = order[~said.duplicated().to_numpy()]  # the same sentence is never said twice to one customer
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
        "audience": np.array([audience_of(f, kind) for f in np.asarray(feature, dtype=object).tolist()], dtype=object),
        "sentence": np.asarray(sentence, dtype=object),
    }


def audience_of(feature: object, kind: str) -> str:
    """Who may hear a point of ``kind`` on ``feature``: its declaration's audience; a guardrail is the rep's."""
    if kind == GUARDRAIL:
        return REP
    if kind == OPENING:
        return CUSTOMER
    name = str(feature)
    if name in DESIGN_AUDIENCE:
        return DESIGN_AUDIENCE[name]
    registered = BY_NAME.get(name)
    return registered.audience if registered is not None else REP


class _Concepts:
    """A code per concept (a registered feature's ``concept``, else the column's name), for the taken-concepts table."""

    def __init__(self) -> None:
        self.code: dict[str, int] = {}

    def of(self, columns: Iterable[object]) -> np.ndarray:
        out = []
        for column in columns:
            feature = BY_NAME.get(str(column))
            concept = feature.concept if feature is not None else str(column)
            out.append(self.code.setdefault(concept, len(self.code)))
        return np.asarray(out, dtype=np.int64)

    def table(self, rows: int) -> np.ndarray:
        """An empty rows × concepts table (room for every concept a model could add)."""
        return np.zeros((rows, len(self.code) + 256), dtype=bool)


def _churn_points(
    churn: ChurnModel, listed: pd.DataFrame, as_of: date, risk_points: int, concepts: _Concepts
) -> tuple[list[Points], FeatureColumns, np.ndarray]:
    """Risk drivers and the protective factor of each row of ``listed``, the columns read, the concepts said.

    The concepts said are a table of rows × concept codes (``_Concepts``).
    """
    columns = np.asarray(churn.columns, dtype=object)
    values = churn.contribution_values(listed)[:, : len(columns)]  # the bias is no talking point
    features = [BY_NAME.get(c) for c in columns]
    codes = concepts.of(columns)
    taken = concepts.table(len(listed))
    shown, cache = _shown(listed, features)
    news = ~_nothing_happened(features, cache)
    # The size of a past event ("a 4.9 % rate increase on Mar 19") is a reason only while the event is fresh.
    dated = np.array([f is not None and f.fact_age in BY_NAME for f in features], dtype=bool)
    news &= ~dated | fresh(listed, features, cache)
    risk = _top_distinct(np.where(shown & news & (values > 0), values, -np.inf), risk_points, codes, taken)
    # A fact holds them when it lowers the risk and its "holds" sentence is true of the account: a feature that
    # cannot be worded protectively ("rate up 6 %") is no reason they stay, whatever its contribution.
    holds, _ = _shown(listed, features, cache, HOLDS)
    protective = _top_distinct(np.where(holds & (values < 0), -values, -np.inf), 1, codes, taken)
    out = []
    for kind, (rows, cols, ranks), wording in ((RISK_DRIVER, risk, RISK), (PROTECTIVE, protective, HOLDS)):
        contribution = values[rows, cols]
        direction = np.where(contribution > 0, RAISES_RISK, LOWERS_RISK)
        sentence = render(listed, [features[c] for c in cols], rows, as_of, cache, wording)
        out.append(_points(rows, kind, ranks, columns[cols], contribution, direction, sentence))
    return out, cache, taken


def _offer_points(
    save: SaveModel,
    listed: pd.DataFrame,
    as_of: date,
    taken: np.ndarray,
    read: FeatureColumns,
    concepts: _Concepts,
) -> Points:
    """Why the recommended offer, per row of ``listed`` that has an offer.

    Its declared facts (``OFFER_FACTS``, fresh) and the reason the customer stated when it argues for it
    (``OFFER_CALLS``), ranked by how much they raise its save probability (the save model's contributions; only
    raising ones).

    ``taken`` holds the concepts already on the page (rows of ``listed`` × concept codes): a concept is said once,
    and the next candidate takes its place. ``read`` holds ``listed``'s feature columns already read.
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
    shown, cache = _shown(frame, features, read if len(offered) == len(listed) else None)
    shown &= fresh(frame, features, cache) & ~_nothing_happened(features, cache)
    kinds = offer_kind(frame["offer"]).to_numpy(dtype=object)
    codes = concepts.of(columns)
    declared = _declared(kinds, columns, frame["reason"].to_numpy(dtype=object), stated)
    design = _design_sentences(frame, stated)
    mine = taken[offered]
    rows, cols, ranks = _top_distinct(np.where(shown & declared & (values > 0), values, -np.inf), OFFER_POINTS,
                                      codes, mine)  # fmt: skip
    taken[offered] = mine
    contribution = values[rows, cols]
    sentence = np.empty(len(rows), dtype=object)
    registered = np.array([features[c] is not None for c in cols], dtype=bool)
    sentence[registered] = render(frame, [features[c] for c in cols[registered]], rows[registered], as_of, cache)
    for j in np.unique(cols[~registered]):
        at = np.flatnonzero(cols == j)
        sentence[at] = design[str(columns[j])][rows[at]]
    direction = np.where(contribution > 0, RAISES_SAVE, LOWERS_SAVE)
    return _points(offered[rows], OFFER_DRIVER, ranks, columns[cols], contribution, direction, sentence)


def _declared(kinds: np.ndarray, columns: np.ndarray, reason: np.ndarray, stated: np.ndarray) -> np.ndarray:
    """Rows × columns: whether the column may argue for the row's kind of offer.

    It may when it is a fact declared for that kind (``OFFER_FACTS``), or the reason the customer stated when it
    argues for that kind (``OFFER_CALLS``); no other decision column does.
    """
    out = np.zeros((len(kinds), len(columns)), dtype=bool)
    concept = np.array([BY_NAME[c].concept if c in BY_NAME else "" for c in columns.tolist()], dtype=object)
    for kind in pd.unique(kinds):
        rows = kinds == kind
        out[np.ix_(rows, np.isin(concept, OFFER_FACTS.get(str(kind), ())))] = True
    if REASON in columns.tolist():
        calls = np.array([r in OFFER_CALLS.get(str(k), ()) for k, r in zip(kinds, reason, strict=True)], dtype=bool)
        out[:, columns.tolist().index(REASON)] = calls & stated
    return out


def _opening_points(listed: pd.DataFrame, as_of: date, parts: list[Points], read: FeatureColumns) -> Points:
    """The opening line of every row of ``listed``, naming the freshest grievance among its top points.

    The grievance is the first of the row's risk drivers, then offer reasons, that the customer may hear, that
    has an opening phrase (``OPENING_PHRASES``) true of the account, whose fact is fresh and, when the offer
    declares the facts that argue for it (``OFFER_FACTS``), is one of them: a rate increase never opens a call
    whose offer is to put the route right.
    """
    n = len(listed)
    if not n:
        return _no_points()
    names = [f for f in OPENING_PHRASES if f in listed]
    features: list[Feature | None] = [BY_NAME[f] for f in names]
    can = renderable(listed, features, read, OPENS) & fresh(listed, features, read)
    if "offer" in listed and names:
        kinds = offer_kind(listed["offer"].fillna("")).to_numpy(dtype=object)
        argued = _declared(kinds, np.array(names, dtype=object), np.full(n, None), np.zeros(n, dtype=bool))
        argues_nothing = np.array([not OFFER_FACTS.get(str(k)) for k in kinds], dtype=bool)
        can &= argued | argues_nothing[:, None]
    position = {f: j for j, f in enumerate(names)}
    grievance = np.full(n, None, dtype=object)
    for kind in (RISK_DRIVER, OFFER_DRIVER):
        for part in parts:
            if not len(part["row"]) or part["kind"][0] != kind:
                continue
            for at in np.argsort(part["rank"], kind="stable").tolist():
                row, feature = int(part["row"][at]), str(part["feature"][at])
                if grievance[row] is None and feature in position and can[row, position[feature]]:
                    grievance[row] = feature
    sentence = opening_lines(listed, grievance, as_of, read)
    rows = np.arange(n)
    return _points(rows, OPENING, np.ones(n), grievance, np.full(n, np.nan), np.full(n, ""), sentence)


def _shown(
    frame: pd.DataFrame, features: list[Feature | None], read: FeatureColumns | None = None, wording: str = RISK
) -> tuple[np.ndarray, FeatureColumns]:
    """Rows × features: which points may reach the page in ``wording`` (a rep driver, renderable), and the columns.

    Only rep drivers are checked for renderability, so the columns of features that never reach a page are
    never converted; the returned columns serve the sentences of the same frame. ``read`` holds columns of
    a frame with the same rows and feature values, read already.
    """
    cache = read if read is not None else FeatureColumns(frame)
    visible = [f if rep_driver(f) else None for f in features]
    cache.prefetch([name for f in visible if f is not None for name in (f.name, *sorted(template_fields(f)))])
    return renderable(frame, visible, cache, wording), cache


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


def _top_distinct(
    scores: np.ndarray, k: int, concepts: np.ndarray, taken: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The ``k`` largest finite scores of each row, one per concept: (rows, columns, ranks from 1).

    A column whose concept (``concepts``, a code per column) is already ``taken`` in its row (rows × codes) is
    passed over for the next; the chosen concepts are marked taken. Ties go to the earlier column.
    """
    empty = np.array([], dtype=int)
    if not scores.size or k <= 0:
        return empty, empty, empty
    order = np.argsort(-scores, axis=1, kind="stable")
    every = np.arange(scores.shape[0])
    count = np.zeros(scores.shape[0], dtype=np.int64)
    picked: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for j in range(scores.shape[1]):
        column = order[:, j]
        finite = np.isfinite(scores[every, column])
        if not finite.any():
            break
        concept = concepts[column]
        ok = finite & (count < k) & ~taken[every, concept]
        if ok.any():
            picked.append((every[ok], column[ok], count[ok] + 1))
            count[ok] += 1
            taken[every[ok], concept[ok]] = True
    if not picked:
        return empty, empty, empty
    return tuple(np.concatenate([p[i] for p in picked]) for i in range(3))  # type: ignore[return-value]
