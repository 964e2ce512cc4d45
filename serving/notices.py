"""What a day's lists must say above them, on the rep page and in the API: not today's, or valued without a model.

Two notices, both read from the published catalog: ``serving.freshness.page_notice`` (the lists are from a previous
day: last night's extract had not arrived) and ``valuation_notice`` (the offers were valued from the catalog's prior
save rates: the desk has no save model yet).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from models.valuation import MANIFEST_KEY as VALUATION_KEY
from models.valuation import P_SAVE_SOURCE, notice_of
from serving.freshness import page_notice
from serving.publication.catalog import PublishedCatalog


def valuation_notice(catalog: PublishedCatalog, day: date) -> str | None:
    """The notice when the day's offers were valued from the catalog's prior save rates (no save model)."""
    try:
        kept = catalog.manifest(day).get(VALUATION_KEY)
    except (OSError, ValueError):
        return None
    return notice_of([kept.get(P_SAVE_SOURCE)]) if isinstance(kept, Mapping) else None


@dataclass(frozen=True)
class DayNotices:
    """The notices of one day's lists (None: nothing to say)."""

    notice: str | None
    """The lists are not today's, and why (``serving.freshness.page_notice``)."""
    valuation_notice: str | None
    """The offers were valued from the catalog's prior save rates (``valuation_notice``)."""


def day_notices(catalog: PublishedCatalog, day: date) -> DayNotices:
    """What the lists of ``day`` must say above them, read now (a stale check can arrive without new lists)."""
    return DayNotices(page_notice(catalog, day), valuation_notice(catalog, day))
