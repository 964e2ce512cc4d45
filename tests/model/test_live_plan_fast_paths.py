"""A live plan's few rows and a night's many take different paths through the models and the policy: same answers.

Each shortcut taken for a cold live plan (one account on the line) is checked against the path large frames take,
or against the pandas formulation it replaces, on inputs chosen to break it: missing and unseen categories,
nullable numbers, ties, decisions with nothing allowed above the recommendation.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import Months
from test_save_policy import CATALOG, RULES, Desk, desk  # noqa: F401  (the session's trained save model)

import models.churn as churn_module
import models.policy as policy_module
import models.reason_model as reason_module
import models.save as save_module
from models.churn import FEW_VALUES, ChurnModel, category_codes, matrix, platt_probability, prepare_frame
from models.guardrails import FEW_CANDIDATES, _group_max, apply_guardrails
from models.offer_design import offer_kind, rollback_pct, with_offer_design
from models.offers import expected_net_value
from models.policy import RECOMMENDATION_WORDS, _rank_within, candidates, decide, plan_offers, recommendations


@pytest.mark.parametrize("dtype", ["object", "str", "category"])
def test_category_codes_of_a_few_values_are_those_of_many(dtype: str) -> None:
    values = pd.Series(["LA Metro", None, "Atlantis", "Houston", np.nan, "LA Metro", "houston"], dtype=dtype)
    categories = ["Austin", "Houston", "LA Metro"]
    few = category_codes(values, categories)
    many = category_codes(pd.concat([values] * (FEW_VALUES // len(values) + 1), ignore_index=True), categories)
    assert len(values) <= FEW_VALUES < len(values) * (FEW_VALUES // len(values) + 1)
    np.testing.assert_array_equal(few, many[: len(values)])
    np.testing.assert_array_equal(few, [2, -1, -1, 1, -1, 2, -1])


def test_the_matrix_holds_what_lightgbm_makes_of_the_prepared_frame() -> None:
    frame = pd.DataFrame({
        "count": np.array([3, 0, 7], dtype="int64"),
        "rate": [1.5, np.nan, -2.0],
        "flag": [True, False, True],
        "nullable": pd.array([1, None, 4], dtype="Int64"),
        "text_number": pd.Series(["2.5", "x", None], dtype=object),
        "territory": pd.Series(["Houston", "Atlantis", None], dtype="str"),
        "unused": ["a", "b", "c"],
    })  # fmt: skip
    columns = ["territory", "rate", "count", "nullable", "flag", "text_number"]
    categories = {"territory": ["Austin", "Houston"]}
    prepared = prepare_frame(frame, columns, categories)
    expected = np.column_stack([
        np.where(prepared[c].cat.codes < 0, np.nan, prepared[c].cat.codes) if c in categories
        else prepared[c].to_numpy(dtype="float64")
        for c in columns
    ])  # fmt: skip
    np.testing.assert_array_equal(matrix(frame, columns, categories), expected)


def test_platt_probability_is_scikit_learns_to_the_bit(churn_model: ChurnModel, months: Months) -> None:
    raw = churn_model.raw_score(months.test)
    calibrator = churn_model.calibrator
    assert calibrator is not None and hasattr(calibrator, "coef_")
    np.testing.assert_array_equal(
        platt_probability(calibrator, raw), calibrator.predict_proba(raw.reshape(-1, 1))[:, 1]
    )


def test_the_offer_design_is_the_elementwise_formula_whatever_the_dtypes() -> None:
    offers = ["contract_education", "rollback_5", "rollback_12.5", "flip", "rollback_x", None]
    for reason_dtype in ("object", "str"):
        for offer_dtype in ("object", "str", "category"):
            frame = pd.DataFrame(
                {
                    "reason": pd.Series(["price", None, "billing", np.nan] * 3, dtype=reason_dtype),
                    "offer": pd.Series(offers * 2, dtype=offer_dtype),
                },
                index=np.arange(12)[::-1],
            )
            kind = offer_kind(frame["offer"])
            reason = frame["reason"].astype("object").where(frame["reason"].notna(), "none")
            expected = frame.assign(
                offer_kind=kind, reason_offer=reason + "|" + kind, rollback_pct=rollback_pct(frame["offer"])
            )
            pd.testing.assert_frame_equal(with_offer_design(frame), expected)


def test_ranks_and_group_maxima_are_pandas_groupby_ones() -> None:
    rng = np.random.default_rng(3)
    group = rng.integers(0, 40, 600)
    value = rng.choice([1.0, 2.0, 2.0, 5.0, -np.inf, 0.0, -0.0], 600)  # ties everywhere
    expected = pd.Series(value).groupby(group).rank(method="first", ascending=False).to_numpy(dtype=int)
    np.testing.assert_array_equal(_rank_within(group, value), expected)

    sparse = np.where(rng.random(600) < 0.5, np.nan, value)
    sparse[group == 7] = np.nan  # a group with nothing to compare
    keyed = np.where(group == 3, -1, group)  # rows without a decision
    expected_max = pd.Series(sparse).groupby(np.where(keyed < 0, np.nan, keyed)).transform("max").to_numpy()
    np.testing.assert_array_equal(_group_max(keyed, sparse), expected_max)


def test_a_few_candidates_are_worded_as_many_are(desk: Desk) -> None:  # noqa: F811
    terms = candidates(desk.requests.head(400), CATALOG)
    priced = terms.assign(p_save=0.3, expected_net_value=expected_net_value(terms, 0.3))
    assert len(priced) > FEW_CANDIDATES
    many = apply_guardrails(priced, RULES)
    step = len(CATALOG.offers) * 50  # whole decisions: a cap and a repeat concession look across a decision's offers
    for start in range(0, len(priced), step):
        part = priced.iloc[start : start + step]
        pd.testing.assert_frame_equal(apply_guardrails(part, RULES), many.iloc[start : start + step])
    assert many["note"].str.startswith("rollback capped at").any()


def test_reason_codes_and_guardrail_notes_are_the_pandas_formulation(desk: Desk) -> None:  # noqa: F811
    plans, key = desk.plans, "request_id"
    # The guardrails that blocked an offer worth more than the recommendation, per decision (pandas' way).
    best = plans["expected_net_value"].where(plans["choice"] == "recommended").groupby(plans[key]).transform("max")
    above = plans[~plans["allowed"] & (plans["expected_net_value"] > best)]
    bounds = (
        above["blocked_by"].str.split(",").map(lambda c: [x for x in c if f"bounded_by_{x}" in RECOMMENDATION_WORDS])
    )
    expected_codes = bounds.groupby(above[key]).agg(lambda lists: sorted({c for x in lists for c in x}))
    chosen = plans[plans["choice"] == "recommended"].set_index(key)["reason_codes"]
    said = chosen.str.split(",").map(lambda c: sorted(x.removeprefix("bounded_by_") for x in c if "bounded_by_" in x))
    assert (
        said.to_dict() == expected_codes.reindex(chosen.index).map(lambda c: c if isinstance(c, list) else []).to_dict()
    )
    assert said.map(len).gt(0).any()  # some recommendation is bounded

    top = above[bounds.map(len) > 0].sort_values("expected_net_value", ascending=False).drop_duplicates(key)
    table = recommendations(plans).set_index(key)
    expected_note = top.set_index(key)["note"].reindex(table.index).fillna("")
    pd.testing.assert_series_equal(table["guardrail_note"], expected_note, check_names=False)
    fallback = plans[plans["choice"] == "fallback"].set_index(key)["offer"]
    pd.testing.assert_series_equal(table["fallback_offer"], fallback.reindex(table.index), check_names=False)


def test_a_few_rows_score_and_explain_as_many_do(desk: Desk, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    model = desk.model
    asked = desk.test.head(40)
    quiet = model.with_reason_shares(asked.drop(columns=["request_id", "reason"]).drop_duplicates("account_id"))
    quiet = quiet.assign(offer="rollback_10")
    odd = asked.assign(reason=asked["reason"].where(np.arange(len(asked)) % 3 > 0), offer="not_an_offer")
    few = [model.predict_proba(asked), model.predict_proba(quiet), model.contribution_values(asked)]
    few.append(model.contribution_values(odd))
    monkeypatch.setattr(save_module, "SMALL_FRAME", 0)  # every frame now takes the large frames' path
    monkeypatch.setattr(reason_module, "SMALL_FRAME", 0)
    monkeypatch.setattr(churn_module, "SMALL_FRAME", 0)
    many = [model.predict_proba(asked), model.predict_proba(quiet), model.contribution_values(asked)]
    many.append(model.contribution_values(odd))
    for a, b in zip(few, many, strict=True):
        np.testing.assert_array_equal(a, b)
    contributions = model.contributions(asked)
    np.testing.assert_array_equal(contributions.to_numpy(), few[2])
    assert list(contributions.columns) == [*model.outcome.columns, "bias"]


def test_a_plan_of_a_few_decisions_is_that_of_the_same_decisions_among_many(
    desk: Desk,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    k = len(CATALOG.offers)
    requests = desk.requests.head(700)
    accounts = desk.requests.drop(columns=["request_id", "reason"]).drop_duplicates("account_id").head(600)
    for decisions in (requests, desk.model.with_reason_shares(accounts)):
        many = plan_offers(decisions, CATALOG, RULES, desk.model.predict_proba)
        assert len(many) > max(FEW_CANDIDATES, save_module.SMALL_FRAME)  # the night's paths
        for start in (0, 13, 341):
            few = plan_offers(decisions.iloc[start : start + 3], CATALOG, RULES, desk.model.predict_proba)
            pd.testing.assert_frame_equal(few, many.iloc[start * k : (start + 3) * k].reset_index(drop=True))
        # A frame past PLAN_DECISIONS is planned in parts of that many decisions: the same plans.
        monkeypatch.setattr(policy_module, "PLAN_DECISIONS", 97)
        pd.testing.assert_frame_equal(plan_offers(decisions, CATALOG, RULES, desk.model.predict_proba), many)
        monkeypatch.undo()
    chosen = decide(candidates(requests.head(5), CATALOG), np.full(5 * k, 0.4), RULES)  # every offer equal: ties
    assert (chosen.groupby("request_id")["choice"].agg(lambda c: (c == "recommended").sum()) == 1).all()
    assert set(chosen.loc[chosen["choice"] == "recommended", "offer"]) <= set(CATALOG.offers)
