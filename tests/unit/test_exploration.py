"""Exploration: known propensities over the near-best allowed offers, a bounded cost, a reproducible draw."""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.exploration import PROPENSITY_COLUMN, Exploration, draw, expected_cost, propensities
from models.guardrails import GuardrailRules
from models.offers import OfferCatalog
from models.policy import FALLBACK, RECOMMENDED, plan_offers, recommendations

CATALOG = OfferCatalog()
RULES = GuardrailRules()
REASONS = ("price", "service_failure", "competitor_offer", "over_servicing", "contract_terms", "billing")


def requests(n: int, seed: int) -> pd.DataFrame:
    """``n`` open requests of commercial accounts in Austin, with varied revenue, fill and reason."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    for i in range(n):
        revenue = float(rng.uniform(150, 2500))
        rows.append({
            "request_id": f"R{seed}-{i}", "request_date": pd.Timestamp("2026-10-01") + pd.Timedelta(days=i % 28),
            "account_id": f"A{seed}-{i}", "territory": "Austin", "segment": "commercial", "state": "TX",
            "reason": REASONS[i % len(REASONS)], "monthly_revenue": revenue, "lines": 1,
            "weekly_capacity_yards": 18.0, "has_lease": False, "fill_pct_mean_365d": float(rng.uniform(30, 95)),
            "fill_pct_last": 55.0, "has_recycling": True, "has_organics": False, "biggest_stream": "trash",
            "biggest_container": "front_load", "biggest_yards": 6.0, "biggest_pickups": 3.0,
            "biggest_is_lease": False, "rollbacks_365d": 0, "days_since_save": np.nan, "last_rollback_pct": np.nan,
        })  # fmt: skip
    return pd.DataFrame(rows)


def p_save(seed: int):  # noqa: ANN201 - a scoring function for plan_offers
    """A save 'model' whose probabilities are a fixed function of the request and the offer."""

    def score(frame: pd.DataFrame) -> np.ndarray:
        key = frame["request_id"] if "request_id" in frame else frame["account_id"]
        text = (key.astype(str) + frame["offer"].astype(str)).tolist()
        return np.array([(zlib.crc32(f"{seed}{t}".encode()) % 1000) / 1000.0 * 0.6 + 0.05 for t in text])

    return score


def planned(n: int, seed: int, exploration: Exploration | None) -> pd.DataFrame:
    return plan_offers(requests(n, seed), CATALOG, RULES, p_save(seed), exploration=exploration)


WIDE = Exploration(rate=0.3, margin=400.0, margin_share=0.2, seed=11)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), rate=st.floats(0.01, 0.9), margin=st.floats(0.0, 2_000.0))
def test_propensities_are_a_distribution_over_the_near_best_allowed_offers(
    seed: int, rate: float, margin: float
) -> None:
    exploration = Exploration(rate=rate, margin=margin, margin_share=0.0, seed=seed)
    plans = planned(12, seed, exploration)
    key = plans["request_id"]
    p = plans[PROPENSITY_COLUMN].to_numpy()
    allowed = plans["allowed"].to_numpy(dtype=bool)
    has_offer = plans.groupby(key)["allowed"].transform("any").to_numpy(dtype=bool)
    assert np.allclose(pd.Series(p).groupby(key.to_numpy()).sum()[key[has_offer]].to_numpy(), 1.0)
    assert (p[~allowed] == 0).all(), "an offer the guardrails block is never drawn"
    best = plans.loc[plans["rank"] == 1].set_index("request_id")["expected_net_value"]
    gap = best.reindex(key).to_numpy() - plans["expected_net_value"].to_numpy()
    assert (p[allowed & (gap > margin + 1e-9)] == 0).all(), "an offer outside the margin is never drawn"
    top = plans.loc[plans["rank"] == 1, PROPENSITY_COLUMN].to_numpy()
    most = pd.Series(p).groupby(key.to_numpy()).max()[plans.loc[plans["rank"] == 1, "request_id"]].to_numpy()
    assert np.allclose(top, most), "the best offer has the highest propensity"
    assert (top >= 1 - rate).all()


def test_the_recommendation_is_drawn_the_best_is_its_fallback_and_the_row_carries_its_propensity() -> None:
    plans = planned(200, 3, WIDE)
    chosen = plans[plans["choice"] == RECOMMENDED]
    assert chosen["request_id"].is_unique and (chosen[PROPENSITY_COLUMN] > 0).all()
    explored = chosen[chosen["rank"] != 1]
    assert len(explored) > 0, "a wide margin and a 30 % rate explore some of 200 requests"
    assert explored["reason_codes"].str.startswith("near_best_expected_value").all()
    fallback = plans[(plans["choice"] == FALLBACK) & plans["request_id"].isin(explored["request_id"])]
    assert (fallback["rank"] == 1).all() and len(fallback) == len(explored)
    table = recommendations(plans).set_index("request_id")
    assert np.allclose(table.loc[chosen["request_id"], PROPENSITY_COLUMN], chosen[PROPENSITY_COLUMN])


def test_without_exploration_the_best_offer_is_recommended_with_propensity_one() -> None:
    for exploration in (None, Exploration(rate=0.0)):
        plans = planned(60, 5, exploration)
        chosen = plans[plans["choice"] == RECOMMENDED]
        assert (chosen["rank"] == 1).all() and (chosen[PROPENSITY_COLUMN] == 1.0).all()


def test_accounts_without_a_request_are_not_explored() -> None:
    quiet = requests(40, 9).drop(columns=["request_id", "request_date"])
    plans = plan_offers(quiet, CATALOG, RULES, p_save(9), exploration=WIDE)
    chosen = plans[plans["choice"] == RECOMMENDED]
    assert (chosen["rank"] == 1).all()


@pytest.mark.parametrize("exploration", [WIDE, Exploration(rate=0.1, margin=50.0, margin_share=0.1, seed=2)])
def test_the_expected_cost_of_exploring_stays_within_its_declared_bound(exploration: Exploration) -> None:
    plans = planned(300, 7, exploration)
    cost = expected_cost(plans, exploration)
    assert (cost["cost"] >= -1e-9).all()
    assert (cost["cost"] <= cost["bound"] + 1e-9).all()
    assert cost["cost"].sum() > 0, "some request has a near-best alternative"


def test_the_draw_is_reproducible_and_depends_on_the_seed() -> None:
    first, again = planned(200, 4, WIDE), planned(200, 4, WIDE)
    pick = first.loc[first["choice"] == RECOMMENDED, ["request_id", "offer"]].reset_index(drop=True)
    assert pick.equals(again.loc[again["choice"] == RECOMMENDED, ["request_id", "offer"]].reset_index(drop=True))
    other = planned(200, 4, Exploration(rate=WIDE.rate, margin=WIDE.margin, margin_share=WIDE.margin_share, seed=12))
    moved = other.loc[other["choice"] == RECOMMENDED, "offer"].to_numpy() != pick["offer"].to_numpy()
    assert moved.any(), "another seed draws other offers for some requests"
    # A request's draw does not depend on which other requests are planned with it.
    some = requests(200, 4).iloc[::7]
    alone = plan_offers(some, CATALOG, RULES, p_save(4), exploration=WIDE)
    alone_pick = alone.loc[alone["choice"] == RECOMMENDED].set_index("request_id")["offer"]
    assert alone_pick.equals(pick.set_index("request_id")["offer"].loc[alone_pick.index])


def test_draws_follow_the_propensities() -> None:
    """Over many equal decisions, each offer is drawn about as often as its propensity says."""
    n, k = 6_000, 3
    group = np.repeat(np.arange(n), k)
    rank = np.tile(np.arange(1, k + 1), n)
    value = np.tile([100.0, 90.0, 70.0], n)
    exploration = Exploration(rate=0.3, margin=25.0, margin_share=0.0, seed=1)
    p = propensities(exploration, group, value, rank)
    assert np.allclose(p[:k], [0.85, 0.15, 0.0])
    keys = np.repeat(np.array([f"R{i}|2026-10-01" for i in range(n)], dtype=object), k)
    chosen = draw(exploration.seed, group, rank, p, keys)
    assert (np.bincount(group[chosen], minlength=n) == 1).all()
    share = np.bincount(rank[chosen] - 1, minlength=k) / n
    assert abs(share[0] - 0.85) < 4 * np.sqrt(0.85 * 0.15 / n) and share[2] == 0


def test_a_rate_of_one_or_a_negative_margin_is_refused() -> None:
    with pytest.raises(ValueError, match="rate"):
        Exploration(rate=1.0)
    with pytest.raises(ValueError, match="margin"):
        Exploration(margin=-1.0)
