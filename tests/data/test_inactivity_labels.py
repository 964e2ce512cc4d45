"""Issue 17: churn as "no billing for N days" finds the customers who leave without calling.

The simulator's silent leavers stop being served and billed on the day the truth records, while their
records stay open (no close date, no request). A simulated account is billed on the first of every month
it is served on, so its billing stops inside a label window exactly when it left (silently, or by a close)
before the first month start of the window's last N days: the labels must say so for every account.
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import pytest

from features.labels import LabelSourceError, LabelSpec, churn_labels
from features.view import from_frames
from sources.simulator import SimulationConfig, simulate_hauler


@pytest.fixture(scope="module")
def silent_hauler() -> dict[str, object]:
    """1,500 accounts over 15 months, a few in a hundred a year leaving without a word."""
    hauler = simulate_hauler(SimulationConfig(accounts=1_500, months=15, seed=3, silent_leave_logit=-5.5))
    return {"raw": hauler.raw, "truth": hauler.truth, "end": date.fromisoformat(hauler.summary["end_date"])}


def _first_month_start_after(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def _left_on(silent_hauler: dict[str, object]) -> pd.Series:
    """The day each account left by the truth: silently, or by a recorded close."""
    raw, truth = silent_hauler["raw"], silent_hauler["truth"]
    silent = truth["silent_leavers"].to_pandas().set_index("account_id")["left_on"]  # type: ignore[index]
    closed = raw["accounts"].to_pandas().set_index("account_id")["close_date"].dropna()  # type: ignore[index]
    return pd.concat([silent, closed]).map(lambda d: pd.Timestamp(d).date())


@pytest.mark.parametrize("as_of", [date(2026, 3, 31), date(2026, 5, 31), date(2026, 7, 31)])
@pytest.mark.parametrize("days", [45, 60])
def test_no_billing_labels_match_the_simulators_truth(silent_hauler: dict[str, object], as_of: date, days: int) -> None:
    tables = from_frames(silent_hauler["raw"])  # type: ignore[arg-type]
    spec = LabelSpec(definition="no_billing", no_billing_days=days)
    labels = churn_labels(tables, as_of, silent_hauler["end"], spec).to_pandas()  # type: ignore[arg-type]
    _, window_end = spec.window(as_of)
    last_bill_due = _first_month_start_after(window_end - timedelta(days=days))  # the window's last N days' bill
    left = _left_on(silent_hauler)
    gone = set(left[left < last_bill_due].index)
    truth = labels["account_id"].isin(gone)
    assert labels["churn"].sum() > 0
    assert (labels["churn"].to_numpy() == truth.to_numpy()).all()
    # Every silent leaver of the window is a churner by this definition, none by a request or a close.
    silent = silent_hauler["truth"]["silent_leavers"].to_pandas()  # type: ignore[index]
    in_window = silent[
        (silent["left_on"].map(lambda d: d > as_of)) & silent["left_on"].map(lambda d: d < last_bill_due)
    ]
    quiet = labels[labels["account_id"].isin(in_window["account_id"])]
    assert len(quiet) > 0 and quiet["churn"].all()
    by_request = churn_labels(tables, as_of, silent_hauler["end"]).to_pandas()  # type: ignore[arg-type]
    assert not by_request[by_request["account_id"].isin(quiet["account_id"])]["churn"].any()


def test_an_account_unbilled_for_n_days_is_gone_not_at_risk(silent_hauler: dict[str, object]) -> None:
    tables = from_frames(silent_hauler["raw"])  # type: ignore[arg-type]
    as_of, days = date(2026, 6, 30), 45
    spec = LabelSpec(definition="no_billing", no_billing_days=days)
    labels = churn_labels(tables, as_of, silent_hauler["end"], spec).to_pandas()  # type: ignore[arg-type]
    silent = silent_hauler["truth"]["silent_leavers"].to_pandas()  # type: ignore[index]
    long_gone = silent[silent["left_on"].map(lambda d: d < as_of - timedelta(days=days + 31))]["account_id"]
    assert len(long_gone) > 0
    assert not labels["account_id"].isin(long_gone).any()


def test_no_billing_without_invoices_names_the_setting(silent_hauler: dict[str, object]) -> None:
    raw = {name: table for name, table in silent_hauler["raw"].items() if name != "invoices"}  # type: ignore[attr-defined]
    with pytest.raises(LabelSourceError, match="churn.definition"):
        churn_labels(from_frames(raw), date(2026, 3, 31), silent_hauler["end"], LabelSpec(definition="no_billing"))  # type: ignore[arg-type]


def test_a_silent_leaver_keeps_an_open_record_and_is_billed_no_more(silent_hauler: dict[str, object]) -> None:
    raw, truth = silent_hauler["raw"], silent_hauler["truth"]
    silent = truth["silent_leavers"].to_pandas()  # type: ignore[index]
    accounts = raw["accounts"].to_pandas().set_index("account_id")  # type: ignore[index]
    assert len(silent) > 0
    assert accounts.loc[silent["account_id"], "close_date"].isna().all()
    invoices = raw["invoices"].to_pandas().merge(silent, on="account_id")  # type: ignore[index]
    assert (invoices["invoice_date"].map(lambda d: pd.Timestamp(d).date()) <= invoices["left_on"]).all()
    requests = raw["cancellation_requests"].to_pandas().merge(silent, on="account_id")  # type: ignore[index]
    assert (requests["request_date"].map(lambda d: pd.Timestamp(d).date()) <= requests["left_on"]).all()
