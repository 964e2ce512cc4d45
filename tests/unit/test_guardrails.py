"""Guardrails: each rule blocks what it must and allows what it may; together they never let a blocked offer through."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.guardrails import (
    GUARDRAILS,
    GuardrailRules,
    Mandate,
    applicable_offer,
    apply_guardrails,
    compliance,
    compliance_notes,
    price_floor,
    rep_authority,
    repeat_concession,
    repeat_penalty,
    uncontrollable_reason,
)
from models.offers import OfferCatalog, expected_net_value, offer_terms
from sources import vocabulary as v

RULES = GuardrailRules()
PCT = {o: float(o.split("_")[1]) if o.startswith("rollback_") else 0.0 for o in v.CATALOG_OFFERS}


def candidate(offer: str = "rollback_10", **overrides: Any) -> dict[str, Any]:
    """A price-call candidate for a Texas commercial account paying 600 a month and costing 400 to serve."""
    pct = PCT[offer]
    row = {
        "account_id": "A1", "offer": offer, "rollback_pct": pct, "monthly_revenue": 600.0,
        "new_monthly_rate": 600.0 * (1 - pct / 100), "monthly_cost_to_serve": 400.0,
        "concession_monthly": 600.0 * pct / 100, "applicable": True, "reason": "price",
        "segment": "commercial", "state": "TX", "has_recycling_after": True, "has_organics_after": True,
        "rollbacks_365d": 0, "days_since_save": np.nan, "last_rollback_pct": np.nan, "expected_net_value": 1000.0,
    }  # fmt: skip
    return row | overrides


def frame(*rows: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(list(rows))


def allowed(rule: Any, *rows: dict[str, Any], rules: GuardrailRules = RULES) -> list[bool]:
    return rule(frame(*rows), rules).allowed.tolist()


# rep authority


def test_rep_authority_blocks_rollbacks_above_the_reps_limit() -> None:
    rows = [candidate(o) for o in ("rollback_5", "rollback_10", "rollback_15", "rollback_20", "flip")]
    verdict = rep_authority(frame(*rows), RULES)
    assert verdict.allowed.tolist() == [True, True, False, False, True]
    assert verdict.reason.tolist() == ["", "", "rep_authority", "rep_authority", ""]
    assert allowed(rep_authority, *rows, rules=GuardrailRules(rep_max_rollback_pct=20.0)) == [True] * 5


def test_rep_authority_blocks_a_rollback_of_unknown_size() -> None:
    assert allowed(rep_authority, candidate(rollback_pct=np.nan)) == [False]


# price floor


@pytest.mark.parametrize(("cost", "rate", "ok"), [(400.0, 439.99, False), (400.0, 440.0, True), (400.0, 539.0, True),
                                                   (500.0, 549.99, False), (500.0, 550.0, True)])  # fmt: skip
def test_price_floor_is_cost_to_serve_plus_the_minimum_margin(cost: float, rate: float, ok: bool) -> None:
    row = candidate(monthly_cost_to_serve=cost, new_monthly_rate=rate, concession_monthly=600.0 - rate)
    assert allowed(price_floor, row) == [ok]


def test_price_floor_follows_the_minimum_margin() -> None:
    row = candidate(new_monthly_rate=540.0, monthly_cost_to_serve=500.0)
    assert allowed(price_floor, row) == [False]
    assert allowed(price_floor, row, rules=GuardrailRules(min_margin_pct=5.0)) == [True]


def test_price_floor_never_blocks_an_offer_that_gives_nothing_up() -> None:
    # An account already under the floor can still be educated on its contract.
    row = candidate("contract_education", new_monthly_rate=300.0, monthly_revenue=300.0)
    assert allowed(price_floor, row) == [True]
    assert allowed(price_floor, candidate("rollback_5", new_monthly_rate=285.0, monthly_revenue=300.0)) == [False]


def test_price_floor_blocks_when_cost_is_unknown() -> None:
    assert allowed(price_floor, candidate(monthly_cost_to_serve=np.nan)) == [False]


# compliance


def test_compliance_blocks_a_right_size_that_lacks_a_stream_california_mandates() -> None:
    ca = {"state": "CA", "segment": "commercial"}
    assert allowed(compliance, candidate("right_size", **ca)) == [True]
    assert allowed(compliance, candidate("right_size", has_organics_after=False, **ca)) == [False]
    assert allowed(compliance, candidate("right_size", has_recycling_after=False, **ca)) == [False]
    assert compliance(frame(candidate("right_size", has_organics_after=False, **ca)), RULES).reason[0] == "compliance"


def test_compliance_only_judges_offers_that_change_the_service() -> None:
    row = candidate("rollback_10", state="CA", has_organics_after=False)
    assert allowed(compliance, row) == [True]


def test_compliance_reads_segment_and_state() -> None:
    lacking = {"has_organics_after": False, "has_recycling_after": False}
    assert allowed(compliance, candidate("right_size", state="CA", segment="residential", **lacking)) == [True]
    assert allowed(compliance, candidate("right_size", state="TX", **lacking)) == [True]


def test_compliance_reads_the_city_and_assumes_the_worst_without_one() -> None:
    seattle = candidate("right_size", state="WA", city="Seattle", has_organics_after=False)
    tacoma = candidate("right_size", state="WA", city="Tacoma", has_organics_after=False)
    assert allowed(compliance, seattle, tacoma) == [False, True]
    unknown_city = candidate("right_size", state="WA", has_organics_after=False)
    assert allowed(compliance, unknown_city) == [False]


def test_compliance_blocks_when_the_proposal_does_not_show_a_mandated_stream() -> None:
    rows = frame(candidate("right_size", state="CA")).drop(columns="has_organics_after")
    assert compliance(rows, RULES).allowed.tolist() == [False]


def test_compliance_follows_the_rules_table() -> None:
    rules = GuardrailRules(mandates=(Mandate("TX", "Austin", "*", ("recycling",)),))
    rows = [
        candidate("right_size", city="Austin", segment="residential", has_recycling_after=False),
        candidate("right_size", city="Austin", state="CA", has_organics_after=False),
    ]
    assert allowed(compliance, *rows, rules=rules) == [False, True]


# concession history


def repeat_case(ev_rollback: float, ev_other: float, **history: Any) -> pd.DataFrame:
    """An account offered education (value ``ev_other``) or a 10 % rollback (value ``ev_rollback``)."""
    history = {"rollbacks_365d": 1} | history
    return frame(
        candidate("contract_education", expected_net_value=ev_other, **history),
        candidate("rollback_10", expected_net_value=ev_rollback, **history),
    )


def test_repeat_concession_allows_a_first_rollback() -> None:
    assert repeat_concession(repeat_case(500.0, 900.0, rollbacks_365d=0), RULES).allowed.tolist() == [True, True]


def test_repeat_concession_blocks_a_repeat_rollback_that_does_not_win_after_the_penalty() -> None:
    # The rollback gives up 60 a month: the penalty is 120.
    verdict = repeat_concession(repeat_case(1000.0, 900.0), RULES)
    assert verdict.allowed.tolist() == [True, False]
    assert verdict.reason.tolist() == ["", "repeat_concession"]
    assert repeat_concession(repeat_case(1021.0, 900.0), RULES).allowed.tolist() == [True, True]
    assert (
        repeat_concession(repeat_case(1021.0, 900.0), GuardrailRules(repeat_penalty_months=3)).allowed[1] is np.False_
    )


def test_repeat_concession_counts_a_recent_save_by_rollback() -> None:
    recent = {"rollbacks_365d": 0, "days_since_save": 100.0, "last_rollback_pct": 10.0}
    assert repeat_concession(repeat_case(1000.0, 900.0, **recent), RULES).allowed.tolist() == [True, False]
    other_save = recent | {"last_rollback_pct": np.nan}
    assert repeat_concession(repeat_case(1000.0, 900.0, **other_save), RULES).allowed.tolist() == [True, True]
    long_ago = recent | {"days_since_save": 400.0}
    assert repeat_concession(repeat_case(1000.0, 900.0, **long_ago), RULES).allowed.tolist() == [True, True]


def test_repeat_concession_ignores_offers_that_do_not_apply() -> None:
    rows = repeat_case(1000.0, 900.0)
    rows.loc[0, "applicable"] = False  # the only alternative does not apply: nothing to beat
    assert repeat_concession(rows, RULES).allowed.tolist() == [True, False]


def test_repeat_concession_compares_within_an_account() -> None:
    rows = pd.concat([repeat_case(1000.0, 100.0), repeat_case(1000.0, 5000.0).assign(account_id="A2")])
    assert repeat_concession(rows.reset_index(drop=True), RULES).allowed.tolist() == [True, True, True, False]


def test_repeat_concession_blocks_every_repeat_before_values_are_known() -> None:
    rows = repeat_case(5000.0, 100.0).drop(columns="expected_net_value")
    assert repeat_concession(rows, RULES).allowed.tolist() == [True, False]


def test_repeat_penalty_is_months_of_the_concession() -> None:
    assert repeat_penalty(repeat_case(0.0, 0.0), RULES).tolist() == [0.0, 120.0]
    assert repeat_penalty(repeat_case(0.0, 0.0, rollbacks_365d=0), RULES).tolist() == [0.0, 0.0]


# uncontrollable reasons


CONCESSIONS = {o for o in v.CATALOG_OFFERS if o.startswith("rollback_")} | set(RULES.concession_offers)


@pytest.mark.parametrize("reason", v.UNCONTROLLABLE_REASONS)
def test_an_uncontrollable_reason_gets_no_concession_when_another_offer_is_worth_as_much(reason: str) -> None:
    rows = [candidate(o, reason=reason) for o in v.CATALOG_OFFERS]  # every offer worth the same
    verdict = uncontrollable_reason(frame(*rows), RULES)
    open_offers = {o for o, ok in zip(v.CATALOG_OFFERS, verdict.allowed, strict=True) if ok}
    assert open_offers == set(v.CATALOG_OFFERS) - CONCESSIONS
    assert set(verdict.reason) == {"", "uncontrollable_reason"}


@pytest.mark.parametrize("reason", v.UNCONTROLLABLE_REASONS)
def test_an_uncontrollable_reason_gets_a_concession_only_when_its_value_beats_every_other_offer(reason: str) -> None:
    worth = {"rollback_10": 900.0, "rollback_5": 650.0}
    rows = [candidate(o, reason=reason, expected_net_value=worth.get(o, 600.0)) for o in v.CATALOG_OFFERS]
    verdict = uncontrollable_reason(frame(*rows), RULES)
    open_offers = {o for o, ok in zip(v.CATALOG_OFFERS, verdict.allowed, strict=True) if ok}
    assert open_offers == (set(v.CATALOG_OFFERS) - CONCESSIONS) | {"rollback_10", "rollback_5"}
    # a required gain larger than the lead closes them again; without values none can pay
    assert not any(allowed(uncontrollable_reason, rows[3], rows[4], *rows[:1], rules=GuardrailRules(
        uncontrollable_min_gain=400.0))[:2])  # fmt: skip
    no_values = frame(*rows).drop(columns="expected_net_value")
    assert not uncontrollable_reason(no_values, RULES).allowed[frame(*rows)["offer"].isin(CONCESSIONS)].any()


@pytest.mark.parametrize("likely", v.UNCONTROLLABLE_REASONS)
def test_an_account_likely_leaving_for_an_uncontrollable_reason_gets_no_concession(likely: str) -> None:
    worth = {"rollback_5": 5_000.0}  # however much the mixture over reasons says it is worth
    rows = [candidate(o, reason=None, likely_reason=likely, expected_net_value=worth.get(o, 10.0))
            for o in v.CATALOG_OFFERS]  # fmt: skip
    verdict = uncontrollable_reason(frame(*rows), RULES)
    open_offers = {o for o, ok in zip(v.CATALOG_OFFERS, verdict.allowed, strict=True) if ok}
    assert open_offers == set(v.CATALOG_OFFERS) - CONCESSIONS
    controllable = [r | {"likely_reason": "price"} for r in rows]
    assert all(allowed(uncontrollable_reason, *controllable))


def test_an_offer_never_made_in_the_save_models_history_is_blocked() -> None:
    rows = frame(candidate("convert", has_history=False), candidate("contract_education", has_history=True))
    out = apply_guardrails(rows, RULES)
    assert out["allowed"].tolist() == [False, True]
    assert out["blocked_by"].tolist() == ["no_history", ""]
    assert apply_guardrails(rows.drop(columns="has_history"), RULES)["allowed"].all()


@pytest.mark.parametrize("offer", ["right_size", "right_size_renewal", "compactor_lease"])
def test_a_service_change_in_a_mandated_jurisdiction_keeps_the_mandated_streams(offer: str) -> None:
    ca = {"state": "CA", "city": "Los Angeles"}
    rows = [candidate(offer, **ca), candidate(offer, **ca, has_organics_after=False),
            candidate(offer, **ca, segment="residential", has_organics_after=False)]  # fmt: skip
    assert allowed(compliance, *rows) == [True, False, True]


def test_compliance_notes_name_the_law_and_a_missing_mandated_stream() -> None:
    ca = {"state": "CA", "city": "San Jose", "segment": "commercial", "has_recycling": True, "has_organics": False}
    (note,) = compliance_notes(ca)
    assert "California" in note and "AB 341" in note and "recycling and organics" in note
    assert "no organics service" in note and "no recycling" not in note
    (kept,) = compliance_notes(ca | {"has_organics": True})
    assert "offer to add" not in kept
    assert compliance_notes({"state": "WA", "city": "Seattle", "segment": "commercial"})[0].startswith("Seattle")
    assert compliance_notes({"state": "WA", "city": "Spokane", "segment": "commercial"}) == []
    assert compliance_notes({"state": "CA", "city": "Fresno", "segment": "residential"}) == []
    assert compliance_notes({"state": "TX", "city": "Houston", "segment": "commercial"}) == []
    custom = (Mandate("TX", "Austin", "*", ("recycling",), "Austin", "URO"),)
    assert compliance_notes({"state": "TX", "city": "Austin", "segment": "industrial"}, custom) != []


@pytest.mark.parametrize("reason", [*v.CONTROLLABLE_REASONS, None])
def test_a_controllable_reason_or_no_request_may_get_any_offer(reason: str | None) -> None:
    rows = [candidate(o, reason=reason) for o in v.CATALOG_OFFERS]
    assert all(allowed(uncontrollable_reason, *rows))
    assert all(uncontrollable_reason(frame(*rows).drop(columns="reason"), RULES).allowed)


# applicability


def test_an_offer_that_does_not_apply_is_blocked() -> None:
    assert allowed(applicable_offer, candidate("right_size", applicable=False), candidate("right_size")) == [
        False,
        True,
    ]


# all together


def test_a_rollback_over_authority_is_capped_at_the_reps_limit() -> None:
    rows = frame(*(candidate(o) for o in v.CATALOG_OFFERS))
    out = apply_guardrails(rows, RULES).set_index("offer")
    assert out.loc["rollback_20", "blocked_by"] == "rep_authority"
    assert out.loc["rollback_20", "needs_manager"]
    assert out.loc["rollback_20", "capped_to"] == "rollback_10"
    assert out.loc["rollback_20", "note"] == "rollback capped at 10 %: your authority (a manager can approve more)"
    assert out.loc["rollback_10", "allowed"] and out.loc["rollback_10", "note"] == ""


def test_a_rollback_under_the_floor_is_capped_at_the_largest_that_clears_it() -> None:
    # cost 500: the floor is 550, so only the 5 % rollback (570) clears it.
    rows = frame(*(candidate(o, monthly_cost_to_serve=500.0) for o in v.CATALOG_OFFERS))
    out = apply_guardrails(rows, RULES).set_index("offer")
    assert out.loc["rollback_10", "blocked_by"] == "price_floor"
    assert out.loc["rollback_20", "blocked_by"] == "rep_authority,price_floor"
    assert not out.loc["rollback_20", "needs_manager"]  # a manager cannot lift the floor
    assert set(out.loc[["rollback_10", "rollback_15", "rollback_20"], "capped_to"]) == {"rollback_5"}
    assert out.loc["rollback_10", "note"] == "rollback capped at 5 %: the price floor"


def test_no_cap_when_no_smaller_rollback_is_open() -> None:
    rows = frame(*(candidate(o, reason="sold") for o in v.CATALOG_OFFERS))
    out = apply_guardrails(rows, RULES).set_index("offer")
    assert (out.loc[[f"rollback_{p}" for p in v.ROLLBACK_PCTS], "capped_to"] == "").all()
    assert out.loc["rollback_5", "note"].startswith("no rollback: the customer is leaving")


def test_a_right_size_that_does_not_apply_says_why() -> None:
    row = candidate("right_size", applicable=False, not_applicable_reason="containers already 92% full")
    assert apply_guardrails(frame(row), RULES)["note"].tolist() == ["not offered: containers already 92% full"]


def test_apply_guardrails_leaves_the_candidates_untouched() -> None:
    rows = frame(*(candidate(o) for o in v.CATALOG_OFFERS))
    before = rows.copy()
    apply_guardrails(rows, RULES)
    pd.testing.assert_frame_equal(rows, before)


maybe_nan = st.one_of(st.just(np.nan), st.floats(0.0, 2_000.0))


@st.composite
def candidate_rows(draw: st.DrawFn) -> dict[str, Any]:
    offer = draw(st.sampled_from(v.CATALOG_OFFERS))
    return candidate(
        offer,
        account_id=draw(st.sampled_from(["A1", "A2", "A3"])),
        new_monthly_rate=draw(maybe_nan),
        monthly_cost_to_serve=draw(maybe_nan),
        concession_monthly=draw(st.one_of(st.just(0.0), maybe_nan)),
        applicable=draw(st.booleans()),
        reason=draw(st.sampled_from([*v.CANCELLATION_REASONS, None])),
        state=draw(st.sampled_from(["CA", "WA", "TX"])),
        city=draw(st.sampled_from(["Seattle", "Tacoma", "Los Angeles"])),
        segment=draw(st.sampled_from(v.SEGMENTS)),
        has_recycling_after=draw(st.booleans()),
        has_organics_after=draw(st.booleans()),
        rollbacks_365d=draw(st.integers(0, 2)),
        days_since_save=draw(st.one_of(st.just(np.nan), st.floats(0.0, 800.0))),
        last_rollback_pct=draw(st.sampled_from([np.nan, 5.0, 20.0])),
        expected_net_value=draw(st.one_of(st.just(np.nan), st.floats(-500.0, 5_000.0))),
    )


@settings(max_examples=60, deadline=None)
@given(st.lists(candidate_rows(), min_size=1, max_size=25, unique_by=lambda row: (row["account_id"], row["offer"])))
def test_apply_guardrails_never_lets_a_blocked_offer_through(rows: list[dict[str, Any]]) -> None:
    candidates = frame(*rows)
    out = apply_guardrails(candidates, RULES)
    for check in GUARDRAILS:
        verdict = check(candidates, RULES)
        blocked = ~verdict.allowed
        assert not out["allowed"][blocked].any(), check.__name__
        codes = out["blocked_by"][blocked].str.split(",")
        assert all(code in listed for code, listed in zip(verdict.reason[blocked], codes, strict=True))
    assert (out["blocked_by"][out["allowed"]] == "").all()
    assert (out["blocked_by"][~out["allowed"]] != "").all()
    capped = out[out["capped_to"] != ""]
    for _, row in capped.iterrows():
        target = out[(out["account_id"] == row["account_id"]) & (out["offer"] == row["capped_to"])]
        assert target["allowed"].all() and (target["rollback_pct"] < row["rollback_pct"]).all()


accounts_strategy = st.fixed_dictionaries({
    "territory": st.sampled_from(["LA Metro", "Seattle Metro", "Austin"]),
    "state": st.sampled_from(["CA", "WA", "TX"]), "city": st.sampled_from(["Seattle", "Los Angeles", "Austin"]),
    "segment": st.sampled_from(v.SEGMENTS), "reason": st.sampled_from(v.CANCELLATION_REASONS),
    "monthly_revenue": st.floats(50.0, 5_000.0), "lines": st.integers(1, 3),
    "weekly_capacity_yards": st.floats(2.0, 60.0), "has_lease": st.booleans(),
    "fill_pct_mean_365d": st.one_of(st.just(np.nan), st.floats(10.0, 150.0)),
    "has_recycling": st.booleans(), "has_organics": st.booleans(),
    "biggest_stream": st.just("trash"), "biggest_container": st.sampled_from(["front_load", "cart", "roll_off"]),
    "biggest_yards": st.sampled_from([2.0, 6.0, 30.0]), "biggest_pickups": st.sampled_from([0.5, 1.0, 3.0]),
    "biggest_is_lease": st.booleans(), "rollbacks_365d": st.integers(0, 1),
    "days_since_save": st.one_of(st.just(np.nan), st.floats(0.0, 700.0)),
    "last_rollback_pct": st.sampled_from([np.nan, 10.0]),
})  # fmt: skip


@settings(max_examples=40, deadline=None)
@given(st.lists(accounts_strategy, min_size=1, max_size=6), st.integers(0, 2**32 - 1))
def test_every_allowed_offer_keeps_every_business_rule(accounts: list[dict[str, Any]], seed: int) -> None:
    frame_ = pd.DataFrame([a | {"account_id": f"A{i}"} for i, a in enumerate(accounts)])
    terms = offer_terms(frame_, OfferCatalog())
    p_save = np.random.default_rng(seed).uniform(0.0, 0.7, len(terms))
    terms["expected_net_value"] = expected_net_value(terms, p_save)
    out = apply_guardrails(terms, RULES)
    ok = out[out["allowed"]]
    # Read straight from the business rules, not from the guardrail functions.
    assert (ok["rollback_pct"] <= 10).all()
    conceded = ok[ok["concession_monthly"] > 0]
    assert (conceded["new_monthly_rate"] >= 1.1 * conceded["monthly_cost_to_serve"] - 1e-6).all()
    concession = (out["rollback_pct"] > 0) | out["offer"].isin(["service_recovery", "renewal_rate_lock"])
    no_concession = out[~concession & out["applicable"]].groupby("account_id")["expected_net_value"].max()
    leaving = ok[ok["reason"].isin(v.UNCONTROLLABLE_REASONS) & concession[ok.index]]
    assert (leaving["expected_net_value"] > no_concession.reindex(leaving["account_id"]).to_numpy()).all()
    sized = ok[ok["offer"].isin(["right_size", "right_size_renewal", "compactor_lease", "add_stream"])]
    assert sized["applicable"].all()
    california = sized[(sized["state"] == "CA") & (sized["segment"] == "commercial")]
    assert (california["has_recycling_after"] & california["has_organics_after"]).all()
    seattle = sized[(sized["state"] == "WA") & (sized["city"] == "Seattle") & (sized["segment"] == "commercial")]
    assert seattle["has_organics_after"].all()
    best_other = out[(out["rollback_pct"] == 0) & out["applicable"]].groupby("account_id")["expected_net_value"].max()
    repeats = ok[(ok["rollback_pct"] > 0) & (ok["rollbacks_365d"] > 0)]
    won = repeats["expected_net_value"] - 2 * repeats["concession_monthly"]
    assert (won > best_other.reindex(repeats["account_id"]).to_numpy()).all()
