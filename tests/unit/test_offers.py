"""The offer catalog's economics: invariants a finance team would check, and honesty on simulated data."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.cost_to_serve import SIMULATED_COST_INDEX, CostToServe
from models.offers import (
    SIMULATED_FLIP_MIX,
    OfferCatalog,
    RightSizeRules,
    biggest_lines,
    expected_net_value,
    offer_terms,
)
from sources import vocabulary as v

CATALOG = OfferCatalog()
ROLLBACKS = [f"rollback_{p}" for p in v.ROLLBACK_PCTS]


def account(**overrides: Any) -> dict[str, Any]:
    """A commercial account in Austin (cost index 1.0): one front-load 6 yd line collected 3×/week."""
    row = {
        "account_id": "A1", "territory": "Austin", "segment": "commercial", "state": "TX",
        "monthly_revenue": 600.0, "lines": 1, "weekly_capacity_yards": 18.0, "has_lease": False,
        "fill_pct_mean_365d": 50.0, "fill_pct_last": 55.0, "has_recycling": True, "has_organics": False,
        "biggest_stream": "trash", "biggest_container": "front_load", "biggest_yards": 6.0,
        "biggest_pickups": 3.0, "biggest_is_lease": False,
    }  # fmt: skip
    return row | overrides


def terms_of(catalog: OfferCatalog = CATALOG, **overrides: Any) -> pd.DataFrame:
    return offer_terms(pd.DataFrame([account(**overrides)]), catalog).set_index("offer")


accounts_strategy = st.builds(
    lambda revenue, yards, pickups, fill, container, lines: account(
        monthly_revenue=revenue,
        biggest_yards=0.5 if container == "cart" else yards,
        biggest_pickups=pickups,
        biggest_container=container,
        fill_pct_mean_365d=fill,
        lines=lines,
        weekly_capacity_yards=(0.5 if container == "cart" else yards) * pickups + (lines - 1) * 2.0,
    ),
    revenue=st.floats(20.0, 20_000.0),
    yards=st.sampled_from([2.0, 3.0, 4.0, 6.0, 8.0, 20.0, 30.0]),
    pickups=st.sampled_from([0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 6.0]),
    fill=st.one_of(st.none(), st.floats(5.0, 200.0)),
    container=st.sampled_from(["cart", "front_load", "rear_load", "roll_off", "compactor"]),
    lines=st.integers(1, 4),
)


@st.composite
def account_frames(draw: st.DrawFn) -> pd.DataFrame:
    rows = draw(st.lists(accounts_strategy, min_size=1, max_size=8))
    return pd.DataFrame([row | {"account_id": f"A{i}"} for i, row in enumerate(rows)])


def test_one_row_per_account_and_offer_in_catalog_order() -> None:
    accounts = pd.DataFrame([account(account_id="A1"), account(account_id="A2", monthly_revenue=90.0)])
    terms = offer_terms(accounts, CATALOG)
    assert CATALOG.offers == v.CATALOG_OFFERS
    k = len(v.CATALOG_OFFERS)
    assert list(terms["account_id"]) == ["A1"] * k + ["A2"] * k
    assert list(terms["offer"]) == list(v.CATALOG_OFFERS) * 2


def test_cost_to_serve_follows_the_territory_formula() -> None:
    terms = terms_of(territory="Bay Area", lines=2, weekly_capacity_yards=20.0, has_lease=True)
    expected = 1.35 * (14.0 * 2 + 5.2 * 20.0 * 4.33 + 180.0)
    assert terms.loc["contract_education", "monthly_cost_to_serve"] == pytest.approx(expected)


def test_contract_education_keeps_the_current_rate_and_costs_only_the_call() -> None:
    terms = terms_of(monthly_revenue=733.5)
    education = terms.loc["contract_education"]
    assert education["new_monthly_rate"] == 733.5
    assert education["concession_monthly"] == 0.0
    assert education["one_off_cost"] == CATALOG.contact_cost
    assert education["margin_kept_monthly"] == pytest.approx(733.5 - education["monthly_cost_to_serve"])


@settings(max_examples=40, deadline=None)
@given(account_frames())
def test_a_bigger_rollback_never_raises_the_rate_or_the_margin_kept(accounts: pd.DataFrame) -> None:
    terms = offer_terms(accounts, CATALOG)
    rollbacks = terms[terms["offer"].isin(ROLLBACKS)].sort_values(["account_id", "rollback_pct"])
    for _, group in rollbacks.groupby("account_id"):
        assert (group["new_monthly_rate"].diff().dropna() < 0).all()
        assert (group["margin_kept"].diff().dropna() < 0).all()
        assert (group["concession_monthly"].diff().dropna() > 0).all()


@settings(max_examples=40, deadline=None)
@given(account_frames())
def test_margin_kept_is_never_positive_at_or_below_cost(accounts: pd.DataFrame) -> None:
    terms = offer_terms(accounts, CATALOG)
    below = terms[terms["new_monthly_rate"] <= terms["monthly_cost_to_serve"]]
    assert (below["margin_kept_monthly"] <= 0).all()
    assert (below["margin_kept"] <= 1e-9).all()


def test_an_account_under_water_keeps_no_margin_whatever_the_offer() -> None:
    terms = terms_of(monthly_revenue=100.0)  # costs about 419 a month to serve
    assert (terms["margin_kept"] < 0).all()


@settings(max_examples=40, deadline=None)
@given(account_frames(), st.integers(1, 4))
def test_right_size_never_increases_capacity(accounts: pd.DataFrame, steps: int) -> None:
    catalog = replace(CATALOG, right_size=RightSizeRules(max_steps=steps))
    terms = offer_terms(accounts, catalog)
    kept = terms[terms["offer"] != "add_stream"]  # the one offer that adds service
    assert (kept["weekly_capacity_after"] <= kept["weekly_capacity_yards"] + 1e-9).all()
    sized = terms[(terms["offer"] == "right_size") & terms["applicable"]].set_index("account_id")
    assert (sized["weekly_capacity_after"] < sized["weekly_capacity_yards"]).all()
    before = terms[terms["offer"] == "contract_education"].set_index("account_id")["monthly_cost_to_serve"]
    assert (sized["monthly_cost_to_serve"] < before.reindex(sized.index)).all()


@pytest.mark.parametrize("offer", ["contract_education", "rollback_10", "renewal_rate_lock", "right_size", "flip"])
def test_margin_kept_grows_with_the_horizon_when_the_offer_keeps_a_margin(offer: str) -> None:
    kept = [terms_of(replace(CATALOG, horizon_months=h)).loc[offer, "margin_kept"] for h in (1, 12, 24, 36, 60)]
    assert all(later > earlier for earlier, later in zip(kept, kept[1:], strict=False))
    undiscounted = terms_of(replace(CATALOG, horizon_months=36, monthly_discount_rate=0.0)).loc[offer, "margin_kept"]
    assert kept[3] < undiscounted


def test_right_size_drops_a_pickup_when_the_fill_allows() -> None:
    terms = terms_of(fill_pct_mean_365d=50.0)  # 3×/week → 2×/week runs at 75 %
    sized, education = terms.loc["right_size"], terms.loc["contract_education"]
    assert sized["applicable"]
    assert sized["proposed_change"] == "trash: front-load 6 yd 3×/week → 2×/week"
    assert sized["weekly_capacity_after"] == pytest.approx(12.0)
    assert sized["new_monthly_rate"] == pytest.approx(600.0 * (2 / 3) ** 0.85)
    assert sized["monthly_cost_to_serve"] == pytest.approx(education["monthly_cost_to_serve"] * (2 / 3) ** 0.9)
    assert sized["one_off_cost"] == CATALOG.contact_cost  # a frequency change needs no truck


def test_right_size_shrinks_the_container_of_a_weekly_line_and_pays_for_the_swap() -> None:
    terms = terms_of(biggest_pickups=1.0, weekly_capacity_yards=6.0, fill_pct_mean_365d=40.0)
    sized = terms.loc["right_size"]
    assert sized["proposed_change"] == "trash: front-load 6 yd 1×/week → 4 yd"
    assert sized["weekly_capacity_after"] == pytest.approx(6.0 * 0.67)
    assert sized["one_off_cost"] == CATALOG.contact_cost + CATALOG.right_size.swap_cost


def test_right_size_takes_the_smallest_capacity_that_keeps_the_fill_under_target() -> None:
    catalog = replace(CATALOG, right_size=RightSizeRules(max_steps=3))
    # 30 % full at 4×/week: 3× runs at 40 %, 2× at 60 %, 1× at 120 %.
    terms = terms_of(catalog, biggest_pickups=4.0, weekly_capacity_yards=24.0, fill_pct_mean_365d=30.0)
    assert terms.loc["right_size", "proposed_change"] == "trash: front-load 6 yd 4×/week → 2×/week"


@pytest.mark.parametrize(
    ("overrides", "why"),
    [
        ({"fill_pct_mean_365d": 60.0}, "containers already 60% full"),  # 2×/week would run at 90 %
        ({"fill_pct_mean_365d": np.nan, "fill_pct_last": np.nan}, "no fill audit to size from"),
        ({"biggest_container": "cart", "biggest_yards": 0.35, "biggest_pickups": 1.0}, "already the smallest size"),
        ({"biggest_yards": np.nan, "biggest_pickups": np.nan}, "no service line to resize"),
    ],
)
def test_right_size_proposes_nothing_when_usage_does_not_support_it(overrides: dict[str, Any], why: str) -> None:
    terms = terms_of(**overrides)
    sized, education = terms.loc["right_size"], terms.loc["contract_education"]
    assert not sized["applicable"]
    assert sized["not_applicable_reason"] == why
    assert sized["proposed_change"] == ""
    assert sized["new_monthly_rate"] == education["new_monthly_rate"]
    assert sized["weekly_capacity_after"] == sized["weekly_capacity_yards"]


def test_right_size_falls_back_on_the_last_audit() -> None:
    terms = terms_of(fill_pct_mean_365d=np.nan, fill_pct_last=40.0)
    assert terms.loc["right_size", "applicable"]


def test_service_recovery_pays_a_credit_and_operations() -> None:
    recovery = terms_of(monthly_revenue=800.0).loc["service_recovery"]
    assert recovery["new_monthly_rate"] == 800.0
    assert recovery["one_off_cost"] == pytest.approx(CATALOG.contact_cost + 0.5 * 800.0 + 40.0)


def test_a_rate_lock_costs_more_than_its_discount_alone() -> None:
    renewal = terms_of().loc["renewal_rate_lock"]
    assert renewal["new_monthly_rate"] == pytest.approx(600.0 * 0.98)
    assert renewal["new_term_months"] == 36
    assert renewal["margin_kept"] < renewal["margin_kept_monthly"] * CATALOG.annuity()
    no_lock = terms_of(replace(CATALOG, renewal_lock_months=0)).loc["renewal_rate_lock"]
    assert no_lock["margin_kept"] == pytest.approx(no_lock["margin_kept_monthly"] * CATALOG.annuity())


@pytest.mark.parametrize("fill", [50.0, 95.0])
def test_a_flip_is_the_specialists_mix_plus_the_visit(fill: float) -> None:
    terms = terms_of(fill_pct_mean_365d=fill)
    mix = dict(SIMULATED_FLIP_MIX)
    if not terms.loc["right_size", "applicable"]:
        del mix["right_size"]  # the specialist does not right-size what does not fit
    weights = pd.Series(mix) / sum(mix.values())
    flip = terms.loc["flip"]
    for column in ("new_monthly_rate", "monthly_cost_to_serve", "margin_kept"):
        assert flip[column] == pytest.approx((terms.loc[weights.index, column] * weights).sum())
    extra = (terms.loc[weights.index, "one_off_cost"] * weights).sum()
    assert flip["one_off_cost"] == pytest.approx(extra + CATALOG.flip_visit_cost)
    assert flip["rollback_pct"] == 0  # the specialist's authority, not the rep's


def test_context_and_streams_are_carried_onto_every_offer() -> None:
    terms = offer_terms(pd.DataFrame([account(reason="price", rollbacks_365d=1)]), CATALOG)
    assert (terms["reason"] == "price").all() and (terms["rollbacks_365d"] == 1).all()
    assert terms["has_recycling_after"].all() and not terms["has_organics_after"].any()


def test_an_unknown_territory_is_an_error_unless_a_default_index_is_set() -> None:
    with pytest.raises(ValueError, match=r"No cost index for territories \['Nowhere'\]"):
        terms_of(territory="Nowhere")
    catalog = replace(CATALOG, cost_to_serve=CostToServe(default_index=1.0))
    assert terms_of(catalog, territory="Nowhere").loc["contract_education", "monthly_cost_to_serve"] > 0


def test_missing_line_detail_says_how_to_get_it() -> None:
    frame = pd.DataFrame([account()]).drop(columns=["biggest_yards"])
    with pytest.raises(ValueError, match=r"biggest_lines\(service_lines\)"):
        offer_terms(frame, CATALOG)


def test_a_catalog_with_an_impossible_flip_mix_is_refused() -> None:
    with pytest.raises(ValueError, match="flip_mix"):
        OfferCatalog(flip_mix=(("rollback_50", 1.0),))


def test_expected_net_value_is_probability_times_margin_minus_cost() -> None:
    terms = terms_of().reset_index()
    p = pd.Series(np.linspace(0.0, 0.8, len(terms)), index=terms.index)
    value = expected_net_value(terms, p)
    assert value.to_numpy() == pytest.approx(p * terms["margin_kept"] - terms["one_off_cost"])
    assert (expected_net_value(terms, 0.9) > expected_net_value(terms, 0.5)).all()
    assert (expected_net_value(terms, 0.0) == -terms["one_off_cost"]).all()


def test_expected_net_value_refuses_misaligned_or_impossible_probabilities() -> None:
    terms = terms_of().reset_index()
    with pytest.raises(ValueError, match="same index"):
        expected_net_value(terms, pd.Series(0.5, index=terms.index + 1))
    with pytest.raises(ValueError, match="between 0 and 1"):
        expected_net_value(terms, 1.2)


def test_biggest_lines_picks_the_largest_line_in_service() -> None:
    lines = pd.DataFrame({
        "line_id": ["L1", "L2", "L3", "L4"], "account_id": ["A1", "A1", "A1", "A2"],
        "stream": ["trash", "recycling", "trash", "trash"],
        "container_type": ["front_load", "front_load", "front_load", "cart"],
        "container_yards": [6.0, 4.0, 8.0, 0.5], "pickups_per_week": [2.0, 5.0, 3.0, 1.0],
        "end_date": [None, None, date(2026, 1, 1), None],
    })  # fmt: skip
    biggest = biggest_lines(lines).set_index("account_id")
    assert biggest.loc["A1", "biggest_stream"] == "recycling"  # 20 yd a week; the 24-yd line has ended
    assert biggest.loc["A2", "biggest_container"] == "cart"
    assert not biggest["biggest_is_lease"].any()


def test_defaults_are_the_simulated_haulers() -> None:
    from sources.simulator.config import TERRITORIES
    from sources.simulator.offers import SPECIALIST_OFFERS, SPECIALIST_SHARES

    assert SIMULATED_COST_INDEX == tuple((t.name, t.cost_index) for t in TERRITORIES)
    simulated_mix = tuple(
        (v.CATALOG_OFFERS[o], float(s)) for o, s in zip(SPECIALIST_OFFERS, SPECIALIST_SHARES, strict=True)
    )
    assert SIMULATED_FLIP_MIX == simulated_mix


def test_cost_to_serve_is_the_simulators_truth() -> None:
    from features.build import build_features
    from features.view import from_frames
    from sources.simulator import SimulationConfig, simulate_hauler

    hauler = simulate_hauler(SimulationConfig(accounts=1_000, months=18, seed=3))
    features = build_features(from_frames(dict(hauler.raw)), date.fromisoformat(hauler.summary["end_date"]))
    lines = hauler.raw["service_lines"].to_pandas()
    accounts = features.to_pandas().merge(biggest_lines(lines), on="account_id", how="left")
    terms = offer_terms(accounts, CATALOG)
    ours = terms[terms["offer"] == "contract_education"].set_index("account_id")["monthly_cost_to_serve"]
    in_service = lines.loc[lines["end_date"].isna(), ["line_id", "account_id"]]
    truth = hauler.truth["lines"].to_pandas().merge(in_service, on="line_id")
    true_cost = truth.groupby("account_id")["monthly_cost_to_serve"].sum().reindex(ours.index)
    error = (ours / true_cost - 1).abs()
    # Lines a right-size replaced carry a scaled cost rather than the formula's; every other line is exact.
    assert (error < 0.005).mean() > 0.98
    assert error.median() < 1e-3


# the consultative offers and convert


def test_a_stream_added_is_the_mandated_one_the_account_lacks_else_recycling() -> None:
    california = terms_of(state="CA", city="Los Angeles", territory="LA Metro", has_recycling=True, has_organics=False)
    assert california.loc["add_stream", "proposed_change"].startswith("add organics")
    assert california.loc["add_stream", "has_organics_after"]
    assert not california.drop(index="add_stream")["has_organics_after"].any()  # no other offer adds it
    texas = terms_of(has_recycling=False, has_organics=False)
    assert texas.loc["add_stream", "proposed_change"].startswith("add recycling")
    assert texas.loc["add_stream", "has_recycling_after"] and not texas.loc["add_stream", "has_organics_after"]
    both = terms_of(has_recycling=True, has_organics=True)
    assert not both.loc["add_stream", "applicable"]
    assert both.loc["add_stream", "not_applicable_reason"] == "already has recycling and every mandated stream"
    unmandated = offer_terms(pd.DataFrame([account(state="CA", territory="LA Metro", has_organics=False)]), CATALOG, ())
    assert not unmandated.set_index("offer").loc["add_stream", "applicable"]  # no mandate table: organics optional
    unknown = offer_terms(pd.DataFrame([account()]).drop(columns=["has_recycling", "has_organics"]), CATALOG)
    assert not unknown.set_index("offer").loc["add_stream", "applicable"]


def test_an_added_stream_adds_margin_at_the_cost_of_a_delivery() -> None:
    terms = terms_of(has_recycling=False)
    added, education = terms.loc["add_stream"], terms.loc["contract_education"]
    line_cost = 1.0 * (14.0 + 5.2 * 2.0 * 4.33)  # Austin, 2 yd once a week
    assert added["monthly_cost_to_serve"] - education["monthly_cost_to_serve"] == pytest.approx(line_cost)
    assert added["new_monthly_rate"] - 600.0 == pytest.approx(line_cost * 1.35)
    assert added["margin_kept_monthly"] > education["margin_kept_monthly"]
    assert added["one_off_cost"] == CATALOG.contact_cost + CATALOG.consultative.added_line_delivery_cost
    assert added["concession_monthly"] < 0  # the customer pays more, for more service


def test_a_compactor_is_offered_only_to_large_commercial_and_industrial_accounts_without_one() -> None:
    big = terms_of(biggest_yards=8.0, biggest_pickups=3.0, weekly_capacity_yards=24.0, monthly_revenue=900.0)
    compactor = big.loc["compactor_lease"]
    assert compactor["applicable"] and "leased compactor, 1.5×/week" in compactor["proposed_change"]
    assert compactor["new_monthly_rate"] < 900.0  # fewer lifts save the customer money, the lease included
    assert compactor["weekly_capacity_after"] == pytest.approx(24.0 - 12.0)
    cases = {
        "offered to commercial and industrial accounts": {"segment": "residential"},
        "already leases a compactor": {"has_lease": True},
        "under 12 yd a week": {"weekly_capacity_yards": 6.0, "biggest_pickups": 1.0},
        "no container a compactor replaces": {"biggest_container": "cart"},
    }
    for why, overrides in cases.items():
        row = terms_of(**overrides).loc["compactor_lease"]
        assert not row["applicable"] and row["not_applicable_reason"] == why, why
        assert row["new_monthly_rate"] == row["monthly_revenue"]


@pytest.mark.parametrize("reason", [*v.CANCELLATION_REASONS, None])
def test_convert_applies_to_a_sold_or_moving_business_at_todays_rate_for_a_new_term(reason: str | None) -> None:
    convert = terms_of(reason=reason).loc["convert"]
    assert convert["applicable"] == (reason in v.CONVERTIBLE_REASONS)
    assert convert["new_monthly_rate"] == 600.0 and convert["concession_monthly"] == 0.0
    assert convert["one_off_cost"] == CATALOG.contact_cost + CATALOG.consultative.convert_setup_cost
    assert convert["new_term_months"] == CATALOG.renewal_term_months


def test_a_right_size_with_a_term_extension_is_a_right_size_signed_for_a_term() -> None:
    terms = terms_of()
    sized, renewed = terms.loc["right_size"], terms.loc["right_size_renewal"]
    for column in ("new_monthly_rate", "monthly_cost_to_serve", "margin_kept", "applicable"):
        assert renewed[column] == sized[column], column
    assert renewed["proposed_change"] == sized["proposed_change"] + " on a new 36-month agreement"
    assert np.isnan(sized["new_term_months"]) and renewed["new_term_months"] == 36


def test_consultative_defaults_are_the_simulated_haulers() -> None:
    from sources.simulator import consultative as sim
    from sources.simulator.offers import COMPACTOR_MIN_WEEKLY_YARDS

    rules = CATALOG.consultative
    assert rules.added_line_yards == sim.ADDED_LINE_YARDS["front_load"]
    assert rules.added_cart_yards == sim.ADDED_LINE_YARDS["cart"]
    assert 1 + rules.added_line_markup_pct / 100 == pytest.approx(sim.ADDED_LINE_MARKUP)
    assert rules.compaction_ratio == sim.COMPACTION
    assert 1 + rules.compactor_lease_markup_pct / 100 == pytest.approx(sim.LEASE_MARKUP)
    assert CATALOG.cost_to_serve.compactor == sim.LEASE_COST
    assert rules.compactor_min_weekly_yards == COMPACTOR_MIN_WEEKLY_YARDS
    assert set(v.OFFER_PURPOSES) == set(v.OFFERS)


@pytest.mark.parametrize(("revenue", "pays"), [(600.0, True), (90.0, False)])
def test_a_sold_business_is_offered_convert_when_it_pays(revenue: float, pays: bool) -> None:
    from models.guardrails import GuardrailRules
    from models.policy import RECOMMENDED, decide

    request = pd.DataFrame([account(account_id="A1", request_id="R1", reason="sold", monthly_revenue=revenue,
                                    city="Austin", has_recycling=True)])  # fmt: skip
    terms = offer_terms(request, CATALOG)
    # The truth's centre for a sale: a new owner is kept on a convert far more often than by any other offer.
    p_save = np.where(terms["offer"] == "convert", 0.46, np.where(terms["offer"] == "flip", 0.14, 0.08))
    plans = decide(terms, p_save, GuardrailRules())
    chosen = plans[plans["choice"] == RECOMMENDED].iloc[0]
    convert = plans.set_index("offer").loc["convert"]
    assert convert["allowed"]
    assert (chosen["offer"] == "convert") == pays == (convert["expected_net_value"] > 0)
    if pays:
        assert set(chosen["reason_codes"].split(",")) >= {"convert_pays", "uncontrollable_no_concession"}
    else:  # a convert that costs more than it keeps: nor is anything given away instead
        assert "uncontrollable_no_concession" in chosen["reason_codes"].split(",")
