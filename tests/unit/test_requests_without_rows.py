"""Requests as decisions when there are none: empty frames keep their types (issue 21, point 8)."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pyarrow as pa
import pytest

from features.requests import LOGGED_COLUMNS, REQUEST_COLUMNS, catalog_offer, logged_offers, request_decisions
from features.view import Tables, from_frames
from sources.simulator import SimulationConfig, simulate_hauler

END = date(2026, 10, 31)


@pytest.fixture(scope="module")
def raw() -> dict[str, pa.Table]:
    return dict(simulate_hauler(SimulationConfig(accounts=300, months=8, seed=5)).raw)


def without_rows(raw: dict[str, pa.Table], *names: str) -> Tables:
    return from_frames({name: table.slice(0, 0) if name in names else table for name, table in raw.items()})


def test_the_catalog_offer_of_no_attempts_is_an_empty_text_column() -> None:
    offers = catalog_offer(pd.Series([], dtype="str"), pd.Series([], dtype="float64"))

    assert offers.empty and offers.dtype == object


def test_the_catalog_offer_names_rollbacks_by_their_size() -> None:
    offers = catalog_offer(pd.Series(["rollback", "flip", "rollback"]), pd.Series([10.0, 0.0, None]))

    assert offers.tolist() == ["rollback_10", "flip", "rollback_0"]


@pytest.mark.parametrize(
    "empty", [("cancellation_requests",), ("save_attempts",), ("cancellation_requests", "save_attempts")]
)
def test_requests_without_rows_give_no_decisions_in_their_types(
    raw: dict[str, pa.Table], empty: tuple[str, ...]
) -> None:
    tables = without_rows(raw, *empty)

    decisions = request_decisions(tables, END, date(2026, 3, 1), END)

    assert decisions.empty
    assert list(decisions.columns[: len(REQUEST_COLUMNS) + len(LOGGED_COLUMNS)]) == [*REQUEST_COLUMNS, *LOGGED_COLUMNS]
    types = decisions.dtypes.astype(str).to_dict()
    assert types["request_date"].startswith("datetime64") and types["decided_as_of"].startswith("datetime64")
    assert types["durable_save"] == "boolean"


def test_an_extract_without_save_attempts_has_no_logged_offers(raw: dict[str, pa.Table]) -> None:
    tables = from_frames({name: table for name, table in raw.items() if name != "save_attempts"})

    offers = logged_offers(tables)

    assert offers.empty and list(offers.columns) == ["request_id", "rep_id", "offer"]
    assert request_decisions(tables, END, date(2026, 3, 1), END).empty
