"""Monitoring's pure functions on hand-made frames whose answers are known."""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd
import pytest

from models.dataset import TimeSplit
from models.desk_outcomes import concession_gaps, desk_outcomes, request_money
from models.monitoring import (
    AFTER_TRAINING,
    IN_TRAINING,
    MonitorReport,
    drift_warnings,
    flagged_gaps,
    list_performance,
    matured_months,
    realized_performance,
    split_from_params,
    warnings,
)
from pipelines.settings import MonitorSettings

# Six answered requests: two price requests from commercial accounts given 10 % and 20 % rollbacks, two from
# residential accounts (5 % refused, contract education), a flip saved by the specialist's 10 % rollback and a
# service recovery with a $30 credit.
DECISIONS = pd.DataFrame({
    "request_id": ["R1", "R2", "R3", "R4", "R5", "R6"],
    "account_id": ["A1", "A2", "A3", "A4", "A5", "A6"],
    "request_date": pd.to_datetime(["2026-01-05", "2026-01-10", "2026-02-01", "2026-02-03", "2026-02-10",
                                    "2026-02-11"]),
    "reason": ["price", "price", "price", "price", "service_failure", "service_failure"],
    "rep_id": ["r1", "r1", "r2", "r2", "r1", "r2"],
    "offer": ["rollback_10", "rollback_20", "rollback_5", "contract_education", "flip", "service_recovery"],
    "durable_save": [True, True, False, False, True, True],
    "territory": ["North", "North", "South", "South", "North", "South"],
    "segment": ["commercial", "commercial", "residential", "residential", "commercial", "residential"],
})  # fmt: skip
ATTEMPTS = pd.DataFrame({
    "attempt_id": ["T1", "T2", "T3", "T4", "T5", "T6", "T7"],
    "request_id": ["R1", "R2", "R3", "R4", "R5", "R5", "R6"],
    "attempt_date": pd.to_datetime(["2026-01-05", "2026-01-10", "2026-02-01", "2026-02-03", "2026-02-10",
                                    "2026-02-12", "2026-02-11"]),
    "rep_channel": ["inside_sales"] * 5 + ["outside_specialist", "inside_sales"],
    "offer": ["rollback", "rollback", "rollback", "contract_education", "flip", "rollback", "service_recovery"],
    "rollback_pct": [10.0, 20.0, 5.0, 0.0, 0.0, 10.0, 0.0],
    "credit_amount": [0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 30.0],
    "new_monthly_rate": [90.0, 80.0, 95.0, 50.0, 200.0, 180.0, 60.0],
    "accepted": [True, True, False, False, False, True, True],
})  # fmt: skip
THRESHOLDS = MonitorSettings()
GUARDS = {"min_requests": THRESHOLDS.min_requests, "min_rollbacks": THRESHOLDS.min_rollbacks}


def test_revenue_kept_and_rollback_spend_per_request() -> None:
    money = request_money(DECISIONS, ATTEMPTS).set_index("request_id")
    # Twelve months of the rate after the accepted offer, less credits; nothing for a request not saved.
    assert money["revenue_kept"].to_dict() == pytest.approx(
        {"R1": 1080.0, "R2": 960.0, "R3": 0.0, "R4": 0.0, "R5": 2160.0, "R6": 690.0}
    )
    # Twelve months of what an accepted rollback took off the rate; a refused rollback costs nothing.
    assert money["rollback_spend"].to_dict() == pytest.approx(
        {"R1": 120.0, "R2": 240.0, "R3": 0.0, "R4": 0.0, "R5": 240.0, "R6": 0.0}
    )


def test_save_rates_by_offer_rep_and_territory() -> None:
    outcomes = desk_outcomes(DECISIONS, ATTEMPTS, **GUARDS)
    by_rep = outcomes.by_rep.set_index("rep_id")
    assert by_rep.loc["r1", "save_rate"] == 1.0 and by_rep.loc["r1", "requests"] == 3
    assert by_rep.loc["r2", "save_rate"] == pytest.approx(1 / 3)
    by_territory = outcomes.by_territory.set_index("territory")
    assert by_territory.loc["South", "revenue_kept"] == pytest.approx(690.0)
    assert by_territory.loc["North", "rollback_spend"] == pytest.approx(600.0)
    by_offer = outcomes.by_offer.set_index("offer")
    assert by_offer.loc["contract_education", "save_rate"] == 0.0
    assert by_offer.loc["flip", "revenue_kept"] == pytest.approx(2160.0)
    assert outcomes.totals["save_rate"] == pytest.approx(4 / 6)
    assert outcomes.totals["flips"] == 1 and outcomes.totals["flip_save_rate"] == 1.0
    assert outcomes.totals["rollback_spend"] == pytest.approx(600.0)
    flips = outcomes.flips.set_index("territory")
    assert flips.loc["North", "flip_share"] == pytest.approx(1 / 3) and flips.loc["South", "flips"] == 0


def test_concession_size_by_segment_for_the_same_reason_and_its_flag() -> None:
    outcomes = desk_outcomes(DECISIONS, ATTEMPTS, **GUARDS)
    sizes = outcomes.concessions.set_index(["reason", "segment"])
    assert sizes.loc[("price", "commercial"), "mean_rollback_pct"] == 15.0
    assert sizes.loc[("price", "residential"), "mean_rollback_pct"] == 5.0
    assert sizes.loc[("price", "residential"), "rollback_share"] == 0.5
    assert np.isnan(sizes.loc[("service_failure", "residential"), "mean_rollback_pct"])
    # Two and one rollbacks are too few to compare by default: no gap is reported.
    assert outcomes.gaps.empty
    gaps = concession_gaps(outcomes.concessions, 1)
    assert gaps.to_dict("records") == [{
        "reason": "price", "high_segment": "commercial", "high_pct": 15.0,
        "low_segment": "residential", "low_pct": 5.0, "gap_pct": 10.0,
    }]  # fmt: skip
    assert flagged_gaps(gaps, 3.0)["reason"].tolist() == ["price"]
    assert flagged_gaps(gaps, 10.0).empty  # a gap must exceed the threshold


def test_realized_performance_by_month_tells_training_from_after() -> None:
    split = TimeSplit(train=(date(2026, 1, 31),), valid=date(2026, 2, 28), calibrate=date(2026, 3, 31),
                      test=date(2026, 6, 30))  # fmt: skip
    scored = pd.DataFrame({
        "as_of": pd.to_datetime(["2026-01-31"] * 4 + ["2026-07-31"] * 4),
        "churn": [0, 0, 1, 1, 0, 1, 0, 1],
        "churn_probability": [0.1, 0.2, 0.8, 0.9, 0.9, 0.1, 0.8, 0.2],
    })  # fmt: skip
    table = realized_performance(scored, split).set_index("role")
    assert table.loc["train", "auc"] == 1.0 and table.loc["train", "period"] == IN_TRAINING
    assert table.loc["after", "auc"] == 0.0 and table.loc["after", "period"] == AFTER_TRAINING
    assert table.loc["after", "base_rate"] == 0.5 and table.loc["after", "mean_score"] == pytest.approx(0.5)
    assert realized_performance(scored, None).empty


def test_matured_months_and_the_split_read_back_from_the_run() -> None:
    split = TimeSplit.ending(date(2026, 3, 31), 2, 90)
    assert split_from_params(split.describe()) == split
    assert split_from_params({"train_as_of": "2025-01-31"}) is None
    months = matured_months(split, date(2026, 8, 31), 90)
    assert months[: len(split.all_dates)] == list(split.all_dates)
    assert months[len(split.all_dates) :] == [date(2026, 4, 30), date(2026, 5, 31)]  # windows closed by Aug 31


def test_drift_sentences_name_the_feature_and_the_threshold() -> None:
    said = drift_warnings({"last_increase_pct": 0.41, "tenure_days": 0.05, "churn_probability": 0.6}, 0.25)
    assert said == [
        "churn_probability has drifted: PSI 0.60 > 0.25 since training",
        "last_increase_pct has drifted: PSI 0.41 > 0.25 since training",
    ]


def test_warnings_cover_every_threshold_once() -> None:
    outcomes = desk_outcomes(DECISIONS, ATTEMPTS, **GUARDS)
    outcomes = replace(outcomes, gaps=concession_gaps(outcomes.concessions, 1))
    performance = pd.DataFrame({
        "as_of": pd.to_datetime(["2026-01-31", "2026-07-31"]), "role": ["train", "after"],
        "period": [IN_TRAINING, AFTER_TRAINING], "rows": [100, 100], "base_rate": [0.04, 0.09],
        "mean_score": [0.04, 0.04], "auc": [0.60, 0.61], "ece": [0.01, 0.06],
    })  # fmt: skip
    report = MonitorReport(
        as_of=date(2026, 10, 31),
        models={},
        drift=pd.DataFrame(
            {"column": ["last_increase_pct", "tenure_days"], "group": ["price", "account"], "psi": [0.41, 0.02]}
        ),  # fmt: skip
        drift_by_month=pd.DataFrame(),
        performance=performance,
        outcomes=outcomes,
        outcome_window=(date(2025, 8, 3), date(2026, 8, 2)),
        thresholds=THRESHOLDS,
    )
    said = warnings(report, THRESHOLDS)
    assert said[0] == "last_increase_pct has drifted: PSI 0.41 > 0.25 since training"
    assert sum("AUC 0.61 < 0.65" in s and "2026-07-31" in s for s in said) == 1
    assert not any("2026-01-31" in s for s in said)  # a month the training run used is not judged
    assert sum("ECE 0.060 > 0.050" in s for s in said) == 1
    assert sum(s.startswith("concession gap for reason price: commercial accounts got 15.0%") for s in said) == 1
    assert not any("saves too few" in s for s in said)  # six requests are too few to judge a rep or an offer
    assert len(said) == 4


def test_published_lists_against_the_book() -> None:
    first, second = date(2026, 3, 31), date(2026, 4, 30)
    listed = pd.DataFrame({
        "business_date": pd.to_datetime([first] * 4 + [second] * 2),
        "account_id": ["A1", "A2", "A3", "A4", "A1", "A2"],
        "churn_probability": [0.2, 0.4, 0.2, 0.4, 0.1, 0.1],
        "churn": [True, False, False, True, False, False],
    })  # fmt: skip
    table = list_performance(listed, {first: 0.1, second: 0.0}).set_index("business_date")
    assert table.loc[pd.Timestamp(first), "listed"] == 4
    assert table.loc[pd.Timestamp(first), "predicted"] == pytest.approx(0.3)
    assert table.loc[pd.Timestamp(first), "observed"] == 0.5
    assert table.loc[pd.Timestamp(first), "lift"] == pytest.approx(5.0)
    assert np.isnan(table.loc[pd.Timestamp(second), "lift"])  # no churn in the book: no lift to speak of
    assert list_performance(pd.DataFrame(), {}).empty


def test_territory_rates_moving_with_the_market_are_reported_not_warned() -> None:
    drift = {"territory_request_rate_90d": 3.2, "territory_competitor_share_180d": 3.2, "last_increase_pct": 0.41}
    assert drift_warnings(drift, 0.25) == ["last_increase_pct has drifted: PSI 0.41 > 0.25 since training"]
