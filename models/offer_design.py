"""The save model's view of a decision: the offer's kind and size, the (reason, kind) pair, as model input.

``with_offer_design`` derives the columns the outcome model reads of a decision (``DESIGN_COLUMNS``) from its
``reason`` and ``offer``; ``decision_matrix`` gives the same columns as LightGBM reads them, each distinct
decision worked out once, for a live plan that scores a few rows while a rep waits.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from models.churn import matrix

DESIGN_COLUMNS = ("reason", "offer_kind", "reason_offer", "rollback_pct")
"""What the outcome model sees of the decision: the offer as its kind (alone and with the reason) and its size.

``reason_offer`` lets one split separate, say, a service recovery for a missed
pickup from one for a price complaint: an offer's effect depends on why the
customer called far more than on anything else.
"""


def offer_kind(offer: pd.Series) -> pd.Series:
    """The kind of each catalog offer: every ``rollback_<pct>`` is a ``rollback``."""
    text = offer.astype(str)
    return pd.Series(np.where(text.str.startswith("rollback_"), "rollback", text), index=offer.index, dtype=object)


def rollback_pct(offer: pd.Series) -> pd.Series:
    """The rollback size of each catalog offer, in % (0 for any other offer)."""
    text = offer.astype(str)
    sized = text.str.startswith("rollback_")
    pct = pd.to_numeric(text.where(sized).str.removeprefix("rollback_"), errors="coerce")
    return pct.fillna(0.0).astype(float)


def with_offer_design(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with ``offer_kind``, ``reason_offer`` and ``rollback_pct`` derived from its ``reason`` and ``offer``.

    Each is worked out once per distinct offer and (reason, offer) pair and spread by position: a catalog has a
    dozen offers and a desk ten reasons, so a night's million rows and a live plan's nine cost little either way.
    """
    offer_codes, offers = pd.factorize(frame["offer"], use_na_sentinel=False)
    reason = frame["reason"]
    reason_codes, reasons = pd.factorize(reason.astype("object").where(reason.notna(), "none"))
    kinds, pcts = _offer_designs(pd.Series(offers))
    pairs = _reason_offers(np.asarray(reasons, dtype=object), kinds)
    return frame.assign(
        offer_kind=pd.Series(kinds[offer_codes], index=frame.index, dtype=object),
        reason_offer=pd.Series(pairs[reason_codes, offer_codes], index=frame.index, dtype=object),
        rollback_pct=pd.Series(pcts[offer_codes], index=frame.index, dtype=float),
    )


def _offer_designs(offers: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """``offer_kind`` and ``rollback_pct`` of distinct offers (kept for a catalog's offers, which are text)."""
    values = offers.tolist()
    if all(isinstance(o, str) for o in values):
        kinds, pcts = _catalog_designs(tuple(values))
        return np.asarray(kinds, dtype=object), np.asarray(pcts, dtype=float)
    return offer_kind(offers).to_numpy(dtype=object), rollback_pct(offers).to_numpy(dtype=float)


def _reason_offers(reasons: np.ndarray, kinds: np.ndarray) -> np.ndarray:
    """``reason|kind`` for every distinct reason (rows) and offer kind (columns), as pandas joins the texts."""
    if all(isinstance(x, str) for x in (*reasons.tolist(), *kinds.tolist())):
        pairs = [[r + "|" + k for k in kinds.tolist()] for r in reasons.tolist()]
        return np.array(pairs, dtype=object).reshape(len(reasons), len(kinds))
    left = pd.Series(np.repeat(reasons, len(kinds)), dtype=object)
    right = pd.Series(np.tile(kinds, len(reasons)), dtype=object)
    return (left + "|" + right).to_numpy(dtype=object).reshape(len(reasons), len(kinds))


@lru_cache(maxsize=64)
def _catalog_designs(offers: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[float, ...]]:
    text = pd.Series(offers, dtype=object)
    return tuple(offer_kind(text).tolist()), tuple(rollback_pct(text).tolist())


def decision_matrix(
    categories: tuple[tuple[str, tuple[str, ...]], ...], reason: np.ndarray, offer: np.ndarray
) -> np.ndarray:
    """``matrix`` of ``with_offer_design``'s ``DESIGN_COLUMNS`` for (reason, offer) rows, under ``categories``.

    A desk makes a few dozen distinct decisions, each worked out once through the frames (a text reason or
    none, a text offer) and kept; any other row is worked out each time.
    """
    known = _decisions(categories)
    keys = [
        (r if isinstance(r, str) else None, o) if isinstance(o, str) and (isinstance(r, str) or _missing(r)) else None
        for r, o in zip(reason.tolist(), offer.tolist(), strict=True)
    ]
    new = [i for i, k in enumerate(keys) if k is None or k not in known]
    fresh: dict[int, np.ndarray] = {}
    if new:
        decision = with_offer_design(pd.DataFrame({"reason": reason[new], "offer": offer[new]}))
        fresh = dict(zip(new, matrix(decision, list(DESIGN_COLUMNS), {c: list(v) for c, v in categories}), strict=True))
        known.update({k: fresh[i] for i in new if (k := keys[i]) is not None})
    out = np.empty((len(keys), len(DESIGN_COLUMNS)))
    for i, key in enumerate(keys):
        out[i] = fresh[i] if key is None or i in fresh else known[key]
    return out


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


@lru_cache(maxsize=8)
def _decisions(categories: tuple[tuple[str, tuple[str, ...]], ...]) -> dict[tuple[str | None, str], np.ndarray]:
    """The decision rows worked out so far under ``categories`` (filled by ``decision_matrix``)."""
    return {}
