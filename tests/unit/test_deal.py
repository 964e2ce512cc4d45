"""The deal on a rep's page: true to the offer's terms, within the guardrails, and silent where the data is."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from models.deal import DEAL_COLUMNS, deal_terms, jurisdiction_notes
from models.guardrails import GuardrailRules, Mandate
from models.policy import candidates, decide
from sources import vocabulary as v

RULES = GuardrailRules()


def account(**overrides: Any) -> dict[str, Any]:
    """A commercial account in Los Angeles: one front-load 6 yd trash line collected 3×/week, half full."""
    row = {
        "account_id": "A1", "territory": "LA Metro", "segment": "commercial", "state": "CA", "city": "Los Angeles",
        "monthly_revenue": 900.0, "lines": 3, "weekly_capacity_yards": 22.0, "has_lease": False,
        "fill_pct_mean_365d": 45.0, "fill_pct_last": 50.0, "has_recycling": True, "has_organics": True,
        "biggest_stream": "trash", "biggest_container": "front_load", "biggest_yards": 6.0,
        "biggest_pickups": 3.0, "biggest_is_lease": False, "days_to_contract_end": 200.0, "month_to_month": False,
        "as_of": pd.Timestamp("2026-10-31"), "reason": "price", "request_id": "R1",
    }  # fmt: skip
    return row | overrides


def decided(accounts: pd.DataFrame, rules: GuardrailRules = RULES, p: float = 0.4) -> pd.DataFrame:
    """Every offer of each account, priced at one save probability and judged by the guardrails."""
    from models.offers import OfferCatalog

    terms = candidates(accounts, OfferCatalog())
    return decide(terms, np.full(len(terms), p), rules)


def deals(accounts: pd.DataFrame, rules: GuardrailRules = RULES) -> tuple[pd.DataFrame, pd.DataFrame]:
    offers = decided(accounts, rules)
    k = len(offers) // len(accounts)
    context = accounts.iloc[np.repeat(np.arange(len(accounts)), k)].reset_index(drop=True)
    return offers, deal_terms(offers, context, rules)


def test_a_right_size_in_california_shows_the_change_the_limits_and_the_mandate() -> None:
    offers, deal = deals(pd.DataFrame([account()]))
    assert list(deal.columns) == list(DEAL_COLUMNS)
    row = deal[offers["offer"].to_numpy() == "right_size"].iloc[0]
    terms = offers[offers["offer"] == "right_size"].iloc[0]
    assert row["current_monthly_rate"] == 900.0 and row["current_service"] == "front-load 6 yd, 3×/week"
    assert row["proposed_monthly_rate"] == terms["new_monthly_rate"] < 900.0
    assert row["monthly_change"] == row["proposed_monthly_rate"] - row["current_monthly_rate"]
    assert row["proposed_change"] == terms["proposed_change"] != ""
    assert row["authority_pct"] == RULES.rep_max_rollback_pct and row["authority_monthly"] == 90.0
    assert row["floor_monthly_rate"] == terms["monthly_cost_to_serve"] * (1 + RULES.min_margin_pct / 100)
    assert row["agreement_end"] == pd.Timestamp("2027-05-19")
    assert row["agreement_month_to_month"] is False
    assert len(row["compliance_notes"]) == 1 and "California" in row["compliance_notes"][0]
    assert "recycling and organics" in row["compliance_notes"][0]


def test_a_flip_needs_the_specialist_and_proposes_no_terms() -> None:
    offers, deal = deals(pd.DataFrame([account()]))
    row = deal[offers["offer"].to_numpy() == "flip"].iloc[0]
    assert row["approval"] == "flip"
    assert np.isnan(row["proposed_monthly_rate"]) and np.isnan(row["monthly_change"])
    assert pd.isna(row["proposed_service"]) and pd.isna(row["proposed_change"])


def test_a_rollback_beyond_authority_needs_a_manager_and_one_within_it_does_not() -> None:
    offers, deal = deals(pd.DataFrame([account()]))
    approval = dict(zip(offers["offer"], deal["approval"], strict=True))
    assert approval["rollback_5"] == "" and approval["rollback_10"] == ""
    assert approval["rollback_15"] == "manager" and approval["rollback_20"] == "manager"


def test_missing_data_is_missing_in_the_deal_not_invented() -> None:
    full = pd.DataFrame([account()])
    offers = decided(full)
    bare = full.drop(columns=["days_to_contract_end", "month_to_month", "as_of", "lines", "biggest_container"])
    context = bare.iloc[np.zeros(len(offers), dtype=int)].reset_index(drop=True)
    deal = deal_terms(offers, context, RULES)
    assert deal["agreement_end"].isna().all() and deal["current_lines"].isna().all()
    assert all(m is None for m in deal["agreement_month_to_month"])
    assert deal["current_service"].isna().all() and deal["proposed_service"].isna().all()
    assert deal["current_monthly_rate"].notna().all()
    _, deal = deals(pd.DataFrame([account(days_to_contract_end=np.nan, month_to_month=True)]))
    assert deal["agreement_end"].isna().all() and all(deal["agreement_month_to_month"])


def notes(rules: GuardrailRules = RULES, **where: Any) -> list[str] | None:
    return jurisdiction_notes(pd.DataFrame([where]), rules).iloc[0]


def test_a_jurisdiction_without_a_mandate_has_no_notes_and_an_unknown_one_has_none() -> None:
    assert notes(state="TX", city="Austin", segment="commercial") == []
    assert notes(state="CA", city="Fresno", segment="residential") == []
    assert notes(state="WA", city="Seattle", segment="commercial") != []
    assert notes(state="WA", city="Spokane", segment="commercial") == []
    rules = GuardrailRules(mandates=(Mandate("OR", "*", "*", ("recycling",)),))
    assert notes(rules, state="OR", segment="industrial") != []
    assert notes(state=None, city="Los Angeles", segment="commercial") is None
    lacking = notes(state="CA", city="Fresno", segment="commercial", has_recycling=1.0, has_organics=0.0)
    having = notes(state="CA", city="Fresno", segment="commercial", has_recycling=True, has_organics=True)
    assert lacking is not None and having is not None and len(lacking) == len(having) == 1
    assert "organics" in lacking[0].removeprefix(having[0]) and lacking[0] != having[0]
    _, deal = deals(pd.DataFrame([account(state=None)]))
    assert all(n is None for n in deal["compliance_notes"])


accounts_strategy = st.builds(
    lambda revenue, yards, pickups, fill, lines, state, segment, rollbacks: account(
        monthly_revenue=revenue,
        biggest_yards=yards,
        biggest_pickups=pickups,
        fill_pct_mean_365d=fill,
        lines=lines,
        weekly_capacity_yards=yards * pickups + (lines - 1) * 2.0,
        state=state,
        segment=segment,
        rollbacks_365d=rollbacks,
    ),  # fmt: skip
    revenue=st.floats(20.0, 20_000.0),
    yards=st.sampled_from([2.0, 4.0, 6.0, 8.0, 20.0]),
    pickups=st.sampled_from([0.5, 1.0, 2.0, 3.0, 6.0]),
    fill=st.one_of(st.none(), st.floats(5.0, 200.0)),
    lines=st.integers(1, 4),
    state=st.sampled_from(["CA", "WA", "TX"]),
    segment=st.sampled_from(list(v.SEGMENTS)),
    rollbacks=st.integers(0, 2),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(accounts_strategy, min_size=1, max_size=6))
def test_every_allowed_deal_keeps_the_floor_and_its_change_adds_up(rows: list[dict[str, Any]]) -> None:
    accounts = pd.DataFrame([row | {"account_id": f"A{i}", "request_id": f"R{i}"} for i, row in enumerate(rows)])
    offers, deal = deals(accounts)
    priced = deal["proposed_monthly_rate"].notna()
    assert np.allclose(
        deal.loc[priced, "monthly_change"],
        deal.loc[priced, "proposed_monthly_rate"] - deal.loc[priced, "current_monthly_rate"],
    )
    gives = offers["concession_monthly"].to_numpy() > 0
    allowed = offers["allowed"].to_numpy(dtype=bool)
    keep = (gives & allowed & priced).to_numpy()
    assert (deal["proposed_monthly_rate"][keep] >= deal["floor_monthly_rate"][keep] * (1 - 1e-9)).all()
    assert (deal["approval"][allowed & (offers["offer"] != "flip").to_numpy()] == "").all()
    unchanged = (offers["weekly_capacity_after"] == offers["weekly_capacity_yards"]).to_numpy() & (
        offers["offer"] != "flip"
    ).to_numpy()
    assert (
        deal.loc[unchanged, "proposed_service"].fillna("") == deal.loc[unchanged, "current_service"].fillna("")
    ).all()
