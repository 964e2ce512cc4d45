"""The save model and the policy on a small simulated hauler: behaviour, guardrails, registry, off-policy value."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.requests import request_decisions
from features.view import from_frames
from models.dataset import held_out
from models.guardrails import GUARDRAILS, GuardrailRules
from models.names import SAVE_MODEL
from models.offer_propensity import ipw_weights
from models.offers import OfferCatalog
from models.params import SaveParams
from models.policy import FALLBACK, RECOMMENDATION_WORDS, RECOMMENDED, plan_offers, recommendations
from models.policy_value import doubly_robust_value, evaluate_policy
from models.reason_model import LIKELY_REASON
from models.save import BoosterBag, SaveModel, rollback_pct, train_save_model, with_offer_design
from models.tracking import Tracker
from pipelines.save_training import feature_columns
from sources import vocabulary as v
from sources.simulator import SimulationConfig, simulate_hauler

END = date(2026, 10, 31)
TEST_FROM = pd.Timestamp("2026-05-01")
CATALOG, RULES = OfferCatalog(), GuardrailRules()
PARAMS = SaveParams(n_estimators=400, early_stopping_rounds=40, threads=1)


@dataclass(frozen=True)
class Desk:
    """A hauler's answered requests, a save model trained on the earlier ones and its plans for all of them."""

    requests: pd.DataFrame
    train: pd.DataFrame
    test: pd.DataFrame
    model: SaveModel
    plans: pd.DataFrame
    truth: pd.DataFrame


@pytest.fixture(scope="session")
def desk() -> Desk:
    hauler = simulate_hauler(SimulationConfig(accounts=6_000, months=24, seed=5))
    tables = from_frames(dict(hauler.raw))
    requests = request_decisions(tables, END, date(2024, 12, 1), END)
    labelled = requests[requests["durable_save"].notna()].assign(durable_save=lambda f: f["durable_save"].astype(bool))
    train = labelled[labelled["request_date"] < TEST_FROM - pd.Timedelta(days=90)]
    test = labelled[labelled["request_date"] >= TEST_FROM].reset_index(drop=True)
    hold = held_out(train["account_id"])
    columns, categorical = feature_columns(train)
    model = train_save_model(train[~hold], train[hold], columns, categorical, PARAMS)
    plans = plan_offers(requests, CATALOG, RULES, model.predict_proba)
    truth = hauler.truth["save_response"].to_pandas()
    return Desk(requests, train, test, model, plans, truth)


def test_a_larger_rollback_never_lowers_the_save_probability_of_a_price_call(desk: Desk) -> None:
    calls = desk.requests.assign(reason="price")
    sizes = [f"rollback_{p}" for p in v.ROLLBACK_PCTS]
    p = np.column_stack([desk.model.predict_proba(calls.assign(offer=o)) for o in sizes])
    assert (np.diff(p, axis=1) >= -1e-12).all()
    assert (p[:, -1] > p[:, 0]).mean() > 0.5  # the constraint is not met by a flat line


def test_an_uncontrollable_reason_gets_a_concession_only_when_its_value_beats_every_other_offer(desk: Desk) -> None:
    plans = desk.plans
    concession = (plans["rollback_pct"] > 0) | plans["offer"].isin(RULES.concession_offers)
    other = plans[~concession & plans["applicable"]].groupby("request_id")["expected_net_value"].max()
    chosen = plans[plans["choice"] != ""]
    leaving = chosen[chosen["reason"].isin(v.UNCONTROLLABLE_REASONS)]
    assert len(leaving) > 50
    conceded = leaving[concession[leaving.index]]
    assert (conceded["expected_net_value"] > other.reindex(conceded["request_id"]).to_numpy()).all()
    best = leaving[leaving["choice"] == RECOMMENDED]
    said = best["reason_codes"].str.contains("uncontrollable_no_concession")
    assert (said == ~concession[best.index]).all()
    assert best.loc[~said, "reason_codes"].str.contains("uncontrollable_concession_pays").all()


def test_a_sold_business_is_offered_convert_when_it_pays(desk: Desk) -> None:
    plans = desk.plans
    assert "convert" in desk.model.offers_seen  # the simulated desk made converts
    sold = plans[(plans["reason"] == "sold")]
    # Where a convert is worth more than any other offer, allowed or not, no guardrail stands in its way.
    best = sold.sort_values("expected_net_value", kind="stable").groupby("request_id").tail(1)
    pays = best[best["offer"] == "convert"]
    assert len(pays) > 0
    recommended = sold[sold["choice"] == RECOMMENDED].set_index("request_id")["offer"]
    assert (recommended.reindex(pays["request_id"]) == "convert").all()
    codes = sold.loc[(sold["choice"] == RECOMMENDED) & (sold["offer"] == "convert"), "reason_codes"]
    assert codes.str.contains("convert_pays").all() and codes.str.contains("uncontrollable_no_concession").all()
    # a convert is never made where the business is not sold or moving
    other = plans[~plans["reason"].isin(v.CONVERTIBLE_REASONS) & (plans["offer"] == "convert")]
    assert not other["allowed"].any() and not other["applicable"].any()


def test_an_offer_the_save_model_never_saw_made_is_never_recommended(desk: Desk) -> None:
    seen = desk.model.offers_seen - {"compactor_lease"}
    plans = plan_offers(desk.test, CATALOG, RULES, desk.model.predict_proba, known_offers=seen)
    compactor = plans[plans["offer"] == "compactor_lease"]
    assert not compactor["allowed"].any() and (compactor["choice"] == "").all()
    assert compactor["blocked_by"].str.contains("no_history").all()


def test_no_guardrail_is_violated_by_any_recommendation_or_fallback(desk: Desk) -> None:
    chosen = desk.plans[desk.plans["choice"] != ""]
    assert chosen["allowed"].all()
    # Each rule again, on its own, over the whole candidate frame: a chosen row passes every one.
    for rule in GUARDRAILS:
        verdict = rule(desk.plans, RULES)
        assert verdict.allowed[chosen.index].all(), rule.__name__
    assert (chosen["rollback_pct"] <= RULES.rep_max_rollback_pct).all()
    floor = chosen["monthly_cost_to_serve"] * (1 + RULES.min_margin_pct / 100)
    assert ((chosen["new_monthly_rate"] >= floor * (1 - 1e-12)) | (chosen["concession_monthly"] <= 0)).all()


def test_every_request_gets_one_recommendation_the_best_allowed_and_a_worse_fallback(desk: Desk) -> None:
    plans = desk.plans
    counts = plans.groupby("request_id")["choice"].agg(lambda c: (c == RECOMMENDED).sum())
    assert (counts == 1).all() and len(counts) == desk.requests["request_id"].nunique()
    best_allowed = plans[plans["allowed"]].groupby("request_id")["expected_net_value"].max()
    table = recommendations(plans).set_index("request_id")
    assert np.allclose(table["expected_net_value"], best_allowed.reindex(table.index))
    both = table["fallback_offer"].notna()
    assert (table.loc[both, "fallback_expected_net_value"] <= table.loc[both, "expected_net_value"]).all()
    assert (plans.loc[plans["choice"] == FALLBACK, "rank"] == 2).all()
    codes = {c for text in plans["reason_codes"] for c in text.split(",") if c}
    assert codes <= set(RECOMMENDATION_WORDS)


def test_the_policy_beats_the_reps_and_rollback_10_by_the_truth(desk: Desk) -> None:
    test = desk.test
    plans = plan_offers(test, CATALOG, RULES, desk.model.predict_proba)
    propensity = pd.Series(desk.model.propensity.chosen(test), index=test["request_id"].to_numpy())
    values = evaluate_policy(plans, desk.truth, test, propensity, RULES, CATALOG.annuity())
    assert values.value <= values.oracle_value * (1 + 1e-9)  # nothing beats the best allowed offer by the truth
    assert values.value > values.reps_value and values.value > values.rollback10_value
    assert values.rollback_spend < values.reps_rollback_spend


def test_the_propensity_model_is_a_distribution_over_the_catalog(desk: Desk) -> None:
    table = desk.model.propensity.predict(desk.test)
    assert list(table.columns) == list(v.CATALOG_OFFERS)
    assert np.allclose(table.sum(axis=1), 1.0) and (table.to_numpy() >= 0).all()
    weights = ipw_weights(desk.model.propensity.chosen(desk.train), PARAMS.max_weight)
    assert weights.mean() == pytest.approx(1.0) and weights.max() <= PARAMS.max_weight * len(weights) / weights.size


def test_rollback_size_is_read_from_the_offer_name() -> None:
    offers = pd.Series(["rollback_5", "rollback_12.5", "flip", "contract_education"])
    assert rollback_pct(offers).tolist() == [5.0, 12.5, 0.0, 0.0]


def test_doubly_robust_is_unbiased_when_the_model_is_wrong_but_propensities_are_right() -> None:
    """Two offers logged at random (P = 0.3 / 0.7); the model's values are off by a constant; DR corrects it."""
    rng = np.random.default_rng(0)
    n = 20_000
    ids = np.array([f"R{i}" for i in range(n)])
    true_p = {"a": 0.6, "b": 0.3}
    plans = pd.DataFrame({
        "request_id": np.repeat(ids, 2), "offer": np.tile(["a", "b"], n),
        "margin_kept": 100.0, "one_off_cost": 10.0, "p_save": np.tile([0.4, 0.5], n),
    })  # fmt: skip
    plans["expected_net_value"] = plans["p_save"] * 100 - 10
    plans["choice"] = np.where(plans["offer"] == "a", RECOMMENDED, "")  # the model is wrong, the choice right
    logged = pd.Series(np.where(rng.random(n) < 0.3, "a", "b"), index=ids)
    outcome = pd.Series(rng.random(n) < logged.map(true_p).to_numpy(), index=ids)
    propensity = pd.Series(np.where(logged == "a", 0.3, 0.7), index=ids)
    estimate, stderr = doubly_robust_value(plans, logged, outcome, propensity)
    truth = n * (0.6 * 100 - 10)
    direct = n * (0.4 * 100 - 10)
    assert abs(estimate - truth) < 3 * stderr < abs(direct - truth)


def test_save_scores_survive_the_registry_round_trip(desk: Desk, tmp_path: Path) -> None:
    tracker = Tracker(f"sqlite:///{tmp_path}/mlflow.db", str(tmp_path / "artifacts"), tmp_path / "audit.jsonl")
    version = tracker.log_training_run(desk.model, desk.train, name=SAVE_MODEL)
    loaded = tracker.load_save_model("models:/savedesk-save@challenger")
    frame = desk.test[desk.model.columns]
    assert np.allclose(loaded.predict_proba(frame), desk.model.predict_proba(frame))
    served = tracker.load_pyfunc(version.model_uri).predict(frame)
    assert np.allclose(np.asarray(served), desk.model.predict_proba(frame))


def test_an_account_that_has_not_called_gets_the_mixture_over_the_reasons_it_would_give(desk: Desk) -> None:
    assert desk.model.reasons is not None
    quiet = desk.test.drop(columns="reason").assign(offer="rollback_10")
    shares = desk.model.reasons.predict(quiet)
    assert np.allclose(shares.sum(axis=1), 1.0)
    expected = sum(shares[r].to_numpy() * desk.model.predict_proba(quiet.assign(reason=r)) for r in shares.columns)
    assert np.allclose(desk.model.predict_proba(quiet), expected)
    sizes = [desk.model.predict_proba(quiet.assign(offer=f"rollback_{p}")) for p in v.ROLLBACK_PCTS]
    assert (np.diff(np.column_stack(sizes), axis=1) >= -1e-12).all()


def test_at_risk_accounts_without_a_request_get_one_plan_each(desk: Desk) -> None:
    accounts = desk.test.drop(columns=["request_id", "reason"]).drop_duplicates("account_id").head(300)
    plans = plan_offers(accounts, CATALOG, RULES, desk.model.predict_proba)
    table = recommendations(plans)
    assert table["account_id"].is_unique and len(table) == len(accounts)
    assert plans.loc[plans["choice"] != "", "allowed"].all()


def test_reason_shares_computed_once_per_account_plan_exactly_like_the_reason_model(desk: Desk) -> None:
    accounts = desk.test.drop(columns=["request_id", "reason"]).drop_duplicates("account_id").head(200)
    shared = desk.model.with_reason_shares(accounts)
    assert shared[LIKELY_REASON].notna().all()
    shares = desk.model.reasons.predict(accounts) if desk.model.reasons is not None else None
    assert shares is not None
    assert (shared[LIKELY_REASON].to_numpy() == shares.idxmax(axis=1).to_numpy()).all()
    plain = plan_offers(accounts, CATALOG, RULES, desk.model.predict_proba)
    fast = plan_offers(shared, CATALOG, RULES, desk.model.predict_proba)
    assert np.array_equal(plain["p_save"].to_numpy(), fast["p_save"].to_numpy())
    stated = desk.model.with_reason_shares(desk.test.head(50))
    assert stated[LIKELY_REASON].isna().all()  # a stated reason is never second-guessed


def test_a_recommendation_bounded_by_a_guardrail_says_which(desk: Desk) -> None:
    table = recommendations(desk.plans)
    bounded = table["reason_codes"].str.contains("bounded_by_")
    assert bounded.any()
    assert (table.loc[bounded, "guardrail_note"] != "").all()
    assert (table.loc[~bounded, "guardrail_note"] == "").all()


def test_a_bag_of_outcome_models_reads_as_the_mean_of_its_members(desk: Desk) -> None:
    hold = held_out(desk.train["account_id"])
    columns, categorical = feature_columns(desk.train)
    params = replace(PARAMS, bags=3)
    model = train_save_model(desk.train[~hold], desk.train[hold], columns, categorical, params)
    bag = model.outcome.booster
    assert isinstance(bag, BoosterBag) and len(bag.boosters) == params.bags
    design = model.outcome.prepare(with_offer_design(desk.test))
    members = [b.predict(design, raw_score=True) for b in bag.boosters]
    assert np.allclose(model.outcome.raw_score(with_offer_design(desk.test)), np.mean(members, axis=0))
    assert not np.allclose(members[0], members[1])  # the seeds differ
    contributions = model.contributions(desk.test.head(50))
    assert np.allclose(contributions.sum(axis=1), model.outcome.raw_score(with_offer_design(desk.test.head(50))))
    calls = desk.test.assign(reason="price")
    p = np.column_stack([model.predict_proba(calls.assign(offer=f"rollback_{s}")) for s in v.ROLLBACK_PCTS])
    assert (np.diff(p, axis=1) >= -1e-12).all()
