"""The simulated desk's truth for convert and the consultative offers: they work where a desk would make them."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from sources import vocabulary as v
from sources.simulator.offers import (
    COMPACTOR_MIN_WEEKLY_YARDS,
    OFFER,
    REASON,
    RequestContext,
    durable_save_probability,
    rep_offer_propensity,
)


def requests(reason: str, n: int = 400, **overrides: Any) -> RequestContext:
    """``n`` commercial requests of one reason, ordinary accounts, each with its own hidden noise."""
    rng = np.random.default_rng(3)
    fields = {
        "reason": np.full(n, REASON[reason]), "segment": np.full(n, 1), "revenue": np.full(n, 600.0),
        "tenure_years": np.full(n, 4.0), "price_sensitivity": np.full(n, 1.0), "utilization": np.full(n, 0.8),
        "missed_90d": np.zeros(n), "complaints_90d": np.zeros(n), "weekly_yards": np.full(n, 6.0),
        "has_lease": np.zeros(n, bool), "missing_stream": np.zeros(n, int), "noise": rng.normal(0, 0.3, n),
    }  # fmt: skip
    return RequestContext(**(fields | {k: np.full(n, value) for k, value in overrides.items()}))


def mean_truth(ctx: RequestContext, offer: str) -> float:
    return float(durable_save_probability(ctx)[:, OFFER[offer]].mean())


@pytest.mark.parametrize("reason", v.CONVERTIBLE_REASONS)
def test_a_sold_or_moving_business_is_kept_far_more_often_by_a_convert(reason: str) -> None:
    ctx = requests(reason)
    others = [o for o in v.CATALOG_OFFERS if o != "convert"]
    assert all(mean_truth(ctx, "convert") > 2 * mean_truth(ctx, o) for o in others)


@pytest.mark.parametrize("reason", v.CONTROLLABLE_REASONS)
def test_a_convert_keeps_almost_no_one_leaving_for_a_controllable_reason(reason: str) -> None:
    assert mean_truth(requests(reason), "convert") < 0.05


def test_adding_a_stream_works_best_where_it_is_mandated_and_missing() -> None:
    by_missing = [mean_truth(requests("over_servicing", missing_stream=m), "add_stream") for m in (0, 1, 2)]
    assert by_missing[0] < by_missing[1] < by_missing[2]


def test_a_compactor_works_only_for_a_large_account_without_one() -> None:
    large = COMPACTOR_MIN_WEEKLY_YARDS * 2
    fits = mean_truth(requests("over_servicing", weekly_yards=large), "compactor_lease")
    assert fits > mean_truth(requests("over_servicing", weekly_yards=large, has_lease=True), "compactor_lease")
    assert fits > mean_truth(requests("over_servicing", weekly_yards=large, segment=0), "compactor_lease")
    assert fits > 2 * mean_truth(requests("over_servicing", weekly_yards=COMPACTOR_MIN_WEEKLY_YARDS / 2),
                                 "compactor_lease")  # fmt: skip


def test_a_right_size_on_a_new_term_works_like_a_right_size_on_an_over_serviced_account() -> None:
    idle = requests("over_servicing", utilization=0.4)
    busy = requests("over_servicing", utilization=1.0)
    assert mean_truth(idle, "right_size_renewal") > mean_truth(busy, "right_size_renewal")


def test_reps_make_a_convert_mostly_to_a_sold_or_moving_business() -> None:
    habit = np.zeros(400)
    sold = rep_offer_propensity(requests("sold"), habit)[:, OFFER["convert"]].mean()
    price = rep_offer_propensity(requests("price"), habit)[:, OFFER["convert"]].mean()
    assert sold > 0.1 > 0.01 > price
