"""The synthetic hauler: determinism, plausibility and the invariants later work relies on."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sources import vocabulary as v
from sources.contract import TABLES, table_info
from sources.simulator import SimulatedHauler, SimulationConfig, simulate_hauler, write_hauler

SMALL = SimulationConfig(accounts=3_000, months=18, seed=11)


@pytest.fixture(scope="module")
def hauler() -> SimulatedHauler:
    return simulate_hauler(SMALL)


@pytest.fixture(scope="module")
def raw(hauler: SimulatedHauler) -> dict[str, pd.DataFrame]:
    return {name: table.to_pandas(date_as_object=False) for name, table in hauler.raw.items()}


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_same_seed_gives_the_same_bytes_and_another_seed_does_not(tmp_path: Path) -> None:
    config = SimulationConfig(accounts=800, months=12, seed=3)
    write_hauler(simulate_hauler(config), tmp_path / "a")
    write_hauler(simulate_hauler(config), tmp_path / "b")
    write_hauler(simulate_hauler(SimulationConfig(accounts=800, months=12, seed=4)), tmp_path / "c")
    first, second, other = (_digests(tmp_path / x / "raw") for x in "abc")
    assert first == second
    assert set(first) == {*(f"{t}.parquet" for t in TABLES), "extract.json"}
    assert all(first[name] != other[name] for name in first if name.endswith(".parquet"))


def test_default_configuration_is_plausible(tmp_path: Path) -> None:
    summary = write_hauler(simulate_hauler(SimulationConfig()), tmp_path)
    written = json.loads((tmp_path / "truth" / "summary.json").read_text())
    assert written == summary
    assert 0.08 <= summary["annual_churn_rate_commercial"] <= 0.12
    assert 0.55 <= summary["controllable_share"] <= 0.75
    assert 0.25 <= summary["save_rate"] <= 0.50
    for key in ("start_date", "end_date", "accounts", "rows", "save_rate_by_offer"):
        assert key in summary


def test_tables_follow_the_contract_columns_in_order(raw: dict[str, pd.DataFrame]) -> None:
    for name, schema in TABLES.items():
        assert list(raw[name].columns) == list(schema.columns), name


def test_keys_are_unique_and_foreign_keys_resolve(raw: dict[str, pd.DataFrame]) -> None:
    for name in TABLES:
        info = table_info(name)
        assert raw[name][info.key].is_unique, name
        for column, (parent, parent_column) in info.foreign_keys.items():
            assert raw[name][column].isin(raw[parent][parent_column]).all(), (name, column)


def test_nothing_is_stamped_after_the_extract_end(hauler: SimulatedHauler, raw: dict[str, pd.DataFrame]) -> None:
    end = pd.Timestamp(hauler.summary["end_date"])
    for name in TABLES:
        for column in table_info(name).date_columns:
            if name == "invoices" and column == "due_date":
                continue  # a due date is a promise, not an event
            assert (raw[name][column].dropna().map(pd.Timestamp) <= end).all(), (name, column)


def test_closed_accounts_stop_being_billed_and_serviced(raw: dict[str, pd.DataFrame]) -> None:
    closed = raw["accounts"].dropna(subset=["close_date"])[["account_id", "close_date"]]
    for table, column in (("invoices", "invoice_date"), ("service_events", "event_date")):
        joined = raw[table].merge(closed, on="account_id")
        assert (joined[column] <= joined["close_date"]).all(), table
    lines = raw["service_lines"].merge(closed, on="account_id")
    assert (lines["end_date"].notna()).all()
    assert (lines["end_date"] <= lines["close_date"]).all()


def test_every_answered_request_has_the_truth_of_every_offer(hauler: SimulatedHauler, raw) -> None:
    truth = hauler.truth["save_response"].to_pandas()
    per_request = truth.groupby("request_id")
    assert (per_request.size() == len(v.CATALOG_OFFERS)).all()
    assert np.allclose(per_request["rep_propensity"].sum(), 1.0, atol=1e-4)
    assert (per_request["offered"].sum() == 1).all()
    answered = raw["save_attempts"].query("rep_channel == 'inside_sales'")["request_id"]
    assert set(answered) <= set(truth["request_id"])
    assert truth["durable_save_probability"].between(0, 1).all()


def test_uncontrollable_reasons_are_rarely_saveable(hauler: SimulatedHauler, raw) -> None:
    truth = hauler.truth["save_response"].to_pandas().merge(raw["cancellation_requests"], on="request_id")
    controllable = truth["reason"].isin(v.CONTROLLABLE_REASONS)
    kept = truth[truth["offer"] != "convert"]  # a convert keeps the new owner's or address's account instead
    best = kept.groupby(["request_id", controllable[kept.index]])["durable_save_probability"].max().groupby(level=1)
    assert best.mean()[False] < 0.15 < best.mean()[True]
    convert = truth[truth["offer"] == "convert"].groupby("reason")["durable_save_probability"].mean()
    assert convert[list(v.CONVERTIBLE_REASONS)].min() > 0.15 > convert[list(v.CONTROLLABLE_REASONS)].max()


def test_reps_reach_for_rollbacks_on_price_calls(hauler: SimulatedHauler, raw) -> None:
    truth = hauler.truth["save_response"].to_pandas().merge(raw["cancellation_requests"], on="request_id")
    rollback = truth[truth["offer"].str.startswith("rollback")]
    share = rollback.groupby(["request_id", "reason"])["rep_propensity"].sum().groupby(level=1).mean()
    assert share["price"] > share["service_failure"] + 0.2


def test_hazard_rises_with_recent_service_failures(hauler: SimulatedHauler, raw) -> None:
    hazard = hauler.truth["hazard"].to_pandas(date_as_object=False)
    month = pd.Timestamp(hazard["month"].max()) - pd.DateOffset(months=1)
    missed = raw["service_events"].query("event_type == 'missed_pickup'")
    recent = missed[(missed["event_date"] < month) & (missed["event_date"] >= month - pd.Timedelta(days=90))]
    counts = recent.groupby("account_id").size()
    now = hazard[hazard["month"] == month].set_index("account_id")["request_hazard"]
    failures = counts.reindex(now.index, fill_value=0)
    assert now[failures >= 2].mean() > 1.3 * now[failures == 0].mean()


def test_right_sizing_never_drops_a_stream(raw: dict[str, pd.DataFrame]) -> None:
    lines = raw["service_lines"]
    ended = lines.dropna(subset=["end_date"])
    replaced = ended.merge(lines, on=["account_id", "stream"], suffixes=("", "_new"))
    replaced = replaced[replaced["start_date_new"] > replaced["end_date"]]
    assert len(replaced) > 0
    smaller = replaced["container_yards_new"] * replaced["pickups_per_week_new"]
    assert (smaller < replaced["container_yards"] * replaced["pickups_per_week"]).all()


def test_the_end_date_is_fixed_never_the_clock() -> None:
    assert SimulationConfig().end == date(2026, 10, 31)
    hauler = simulate_hauler(SimulationConfig(accounts=200, months=6).with_end(date(2025, 3, 15)))
    assert hauler.summary["end_date"] == "2025-03-15"
    assert hauler.summary["start_date"] == "2024-10-01"
