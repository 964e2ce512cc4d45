"""Where a plan's save probabilities came from: the save model, or the offer catalog's declared prior rates.

A desk without a save champion (a small branch whose first save model the gate refused, or one that never trained
it) still gets its lists: offers are valued from the catalog's prior save rates
(``models.offers.OfferCatalog.prior_save_rates``). Every planned row says which (``p_save_source``), and the
manifest and the rep's page carry ``PRIOR_NOTICE``. Plain values only: publishing a day reads this module without
loading a model library.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

P_SAVE_SOURCE = "p_save_source"
"""The column of a planned row that says where its ``p_save`` came from."""

MODEL, PRIOR = "model", "prior"
"""``p_save_source`` values: the save model's estimate, or the catalog's prior save rate of the offer."""

MANIFEST_KEY = "offer_valuation"
"""The manifest's key of how the day's offers were valued."""

PRIOR_NOTICE = "Offers are chosen from each offer's typical save rate: this desk has no save model yet."
"""What the manifest, the nightly's summary and the rep's page say when offers were valued from the priors."""


def valuation(source: str, catalog_note: str | None = None) -> dict[str, Any]:
    """How a night's offers were valued, as the manifest keeps it (``MANIFEST_KEY``).

    Args:
        source: ``MODEL`` or ``PRIOR``.
        catalog_note: Where the catalog's prior rates come from (kept when they were used).
    """
    if source == PRIOR:
        return {P_SAVE_SOURCE: PRIOR, "notice": PRIOR_NOTICE, "prior_rates_source": catalog_note}
    return {P_SAVE_SOURCE: MODEL}


def notice_of(sources: Iterable[object]) -> str | None:
    """``PRIOR_NOTICE`` when any of ``sources`` (rows' ``p_save_source``, or a manifest's) is ``PRIOR``, else None."""
    return PRIOR_NOTICE if any(s == PRIOR for s in sources) else None
