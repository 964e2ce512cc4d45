"""Features of the desk's proactive calls: counted by the as-of date, and absent without the table."""

from __future__ import annotations

from datetime import date

import pandas as pd

from features.build import feature_names
from features.calls import call_features
from features.view import as_of_view, from_frames

CALL_FEATURES = {"days_since_proactive_call", "proactive_calls_90d", "proactive_calls_365d"}


def calls(rows: list[tuple[str, str, str | None]]) -> pd.DataFrame:
    return pd.DataFrame({
        "call_id": [f"C{i}" for i in range(len(rows))], "account_id": [r[0] for r in rows],
        "call_date": pd.to_datetime([r[1] for r in rows]).date, "rep_id": "R1", "offer": "service_recovery",
        "outcome": [r[2] for r in rows],
    })  # fmt: skip


def features(rows: list[tuple[str, str, str | None]], as_of: date) -> dict[str, dict[str, object]]:
    view = as_of_view(from_frames({"proactive_calls": calls(rows)}), as_of)
    frame = call_features(view, as_of).collect().sort("account_id")
    return {row["account_id"]: row for row in frame.iter_rows(named=True)}


def test_calls_are_counted_by_window_and_a_later_call_is_not_seen() -> None:
    as_of = date(2026, 6, 30)
    out = features([("A1", "2026-06-20", "reached"), ("A1", "2026-01-10", "reached"), ("A1", "2026-07-02", "reached"),
                    ("A2", "2025-03-01", "reached"), ("A3", "2026-06-25", "no_answer")], as_of)  # fmt: skip
    assert out["A1"] == {"account_id": "A1", "days_since_proactive_call": 10, "proactive_calls_90d": 1,
                         "proactive_calls_365d": 2}  # fmt: skip
    assert out["A2"]["proactive_calls_365d"] == 0 and out["A2"]["days_since_proactive_call"] == 486
    assert "A3" not in out  # a call that never reached the customer is no call


def test_without_the_table_the_features_are_absent() -> None:
    assert not CALL_FEATURES & set(feature_names({"accounts", "invoices"}))
    assert CALL_FEATURES <= set(feature_names({"accounts", "invoices", "proactive_calls"}))
