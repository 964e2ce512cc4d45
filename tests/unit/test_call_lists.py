"""Call lists: roster from history, ranking and assignment invariants, intraday additions."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from serving.call_lists import (
    INBOUND_COLUMNS,
    LIST_COLUMNS,
    PROACTIVE_COLUMNS,
    CallLists,
    DeskRules,
    build_call_lists,
)
from serving.intraday import add_intraday
from serving.roster import Roster, roster_from_frame, roster_from_history
from sources.contract import PII_COLUMNS, TABLES

DAY = date(2026, 10, 30)
ROSTER = roster_from_frame(
    pd.DataFrame(
        [
            ("R013", "inside_sales", "North"),
            ("R011", "inside_sales", "North"),
            ("R012", "inside_sales", "North"),
            ("S010", "outside_specialist", "North"),
            ("R021", "inside_sales", "South"),
            ("R022", "inside_sales", "South"),
        ],
        columns=["rep_id", "rep_channel", "territory"],
    )
)
"""North has three reps and a specialist, South two reps and no specialist, East nobody."""
OFFERS = ["contract_education", "service_recovery", "rollback_10", "right_size", "flip"]


def requests(n: int, seed: int, start: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "request_id": [f"CR{start + i:06d}" for i in range(n)],
            "account_id": [f"A{start + i:07d}" for i in range(n)],
            "territory": rng.choice(["North", "South", "East"], size=n, p=[0.5, 0.3, 0.2]),
            "segment": rng.choice(["commercial", "residential"], size=n),
            "reason": rng.choice(["price", "service"], size=n),
            "request_date": pd.Timestamp(DAY) - pd.to_timedelta(rng.integers(0, 7, size=n), unit="D"),
            "churn_probability": rng.uniform(0.1, 0.9, size=n),
            "offer": rng.choice(OFFERS, size=n, p=[0.3, 0.2, 0.2, 0.1, 0.2]),
            "p_save": rng.uniform(0.1, 0.8, size=n),
            # Rounded so that ties happen and the key must break them.
            "expected_net_value": np.round(rng.uniform(-50, 900, size=n), -2),
            "fallback_offer": "contract_education",
            "reason_codes": "best_expected_value",
            "guardrail_note": "",
            # Columns that must never reach a list.
            "contact_name": "Jane Doe",
            "phone": "555-0100",
            "email": "jane@example.com",
            "street_address": "1 Main St",
            "account_name": "Doe Bakery",
            "feature_missed_pickups_90d": rng.integers(0, 5, size=n),
        }
    )


def accounts(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "account_id": [f"A{900000 + i:07d}" for i in range(n)],
            "territory": rng.choice(["North", "South", "East"], size=n),
            "segment": rng.choice(["commercial", "residential"], size=n),
            "churn_probability": rng.uniform(0.05, 0.6, size=n),
            "offer": rng.choice(OFFERS[:4], size=n),
            "p_save": rng.uniform(0.1, 0.8, size=n),
            "expected_net_value": rng.uniform(0, 500, size=n),
            "saveable_value": np.round(rng.uniform(0, 300, size=n), -1),
            "reason_codes": "best_expected_value",
            "guardrail_note": "",
            "email": "x@example.com",
        }
    )


@pytest.fixture(scope="module")
def inbound() -> pd.DataFrame:
    return requests(120, seed=1)


@pytest.fixture(scope="module")
def proactive(inbound: pd.DataFrame) -> pd.DataFrame:
    frame = accounts(400, seed=2)
    # Two accounts that also have an open request: they belong on the inbound queue only.
    also = inbound.iloc[:2][[c for c in PROACTIVE_COLUMNS if c in inbound]].assign(saveable_value=10_000.0)
    return pd.concat([frame, also], ignore_index=True)


@pytest.fixture(scope="module")
def lists(inbound: pd.DataFrame, proactive: pd.DataFrame) -> CallLists:
    return build_call_lists(inbound, proactive, ROSTER, DeskRules(proactive_per_rep=5), DAY)


def test_roster_from_history_takes_recent_reps_in_the_territory_they_mostly_worked() -> None:
    accounts_ = pd.DataFrame({"account_id": ["A1", "A2", "A3", "A4"], "territory": ["North", "North", "South", "West"]})
    attempts = pd.DataFrame(
        [
            ("R012", "inside_sales", "A1", "2026-10-01"),
            ("R011", "inside_sales", "A2", "2026-09-01"),
            ("R011", "inside_sales", "A3", "2026-09-02"),  # R011: one each in North and South → North (by name)
            ("R021", "inside_sales", "A3", "2026-08-01"),
            ("R021", "inside_sales", "A3", "2026-08-02"),
            ("R021", "inside_sales", "A1", "2026-08-03"),  # R021: mostly South
            ("S010", "outside_specialist", "A1", "2026-10-02"),
            ("R099", "inside_sales", "A1", "2025-01-01"),  # left long ago
            ("R098", "inside_sales", "A1", "2026-11-05"),  # after as_of
            ("R097", "inside_sales", "A9", "2026-10-01"),  # account unknown
        ],
        columns=["rep_id", "rep_channel", "account_id", "attempt_date"],
    ).assign(attempt_date=lambda f: pd.to_datetime(f["attempt_date"]))
    roster = roster_from_history(attempts, accounts_, date(2026, 10, 31), days=180)
    assert dict(roster.inside_by_territory) == {"North": ("R011", "R012"), "South": ("R021",)}
    assert dict(roster.specialists_by_territory) == {"North": ("S010",)}
    assert roster.inside_reps == 3 and roster.specialists == 1
    assert roster.rep_ids == ("R011", "R012", "R021", "S010")
    shuffled = roster_from_history(attempts.sample(frac=1, random_state=3), accounts_, date(2026, 10, 31), days=180)
    assert shuffled == roster
    # The window is (as_of - days, as_of]: 31 days reach back to 2026-10-01, 30 do not.
    assert roster_from_history(attempts, accounts_, date(2026, 10, 31), days=31).rep_ids == ("R012", "S010")
    assert roster_from_history(attempts, accounts_, date(2026, 10, 31), days=30).rep_ids == ("S010",)
    assert list(roster.to_frame()["rep_id"]) == ["R011", "R012", "S010", "R021"]


def test_every_open_request_is_listed_exactly_once(lists: CallLists, inbound: pd.DataFrame) -> None:
    listed = pd.concat([lists.inbound["list_key"], lists.flips["list_key"]])
    assert listed.is_unique
    assert set(listed) == set(inbound["request_id"])
    assert (lists.inbound["list"] == "inbound").all() and (lists.flips["list"] == "flip").all()
    assert (lists.inbound["list_key"] == lists.inbound["request_id"]).all()
    assert (lists.proactive["list_key"] == lists.proactive["account_id"]).all()
    for frame in lists.frames().values():
        assert (frame["due_date"] == DAY).all()
        assert list(frame.columns[: len(LIST_COLUMNS)]) == LIST_COLUMNS


def test_flips_are_exactly_the_recommended_flips_and_go_to_specialists(lists: CallLists, inbound: pd.DataFrame) -> None:
    flips = set(inbound.loc[inbound["offer"] == "flip", "request_id"])
    assert set(lists.flips["request_id"]) == flips
    assert (lists.flips["offer"] == "flip").all() and not (lists.inbound["offer"] == "flip").any()
    expected = {"North": "S010", "South": "UNASSIGNED-South", "East": "UNASSIGNED-East"}
    assert (lists.flips["rep_id"] == lists.flips["territory"].map(expected)).all()


def test_inbound_is_ranked_by_expected_value_within_each_rep_and_dealt_evenly(lists: CallLists) -> None:
    for rep, rows in lists.inbound.groupby("rep_id"):
        assert list(rows["rank"]) == list(range(1, len(rows) + 1)), rep
        order = rows.sort_values(["expected_net_value", "request_id"], ascending=[False, True])
        assert list(order["request_id"]) == list(rows["request_id"]), rep
    assert set(lists.inbound["rep_id"]) == {"R011", "R012", "R013", "R021", "R022", "UNASSIGNED-East"}
    reps_of = {"North": {"R011", "R012", "R013"}, "South": {"R021", "R022"}, "East": {"UNASSIGNED-East"}}
    for territory, rows in lists.inbound.groupby("territory"):
        assert set(rows["rep_id"]) <= reps_of[str(territory)]
        per_rep = rows["rep_id"].value_counts()
        assert per_rep.max() - per_rep.min() <= 1
        # Snake dealing: no rep holds more than the best row's value above any other rep.
        value = rows.groupby("rep_id")["expected_net_value"].sum()
        assert value.max() - value.min() <= rows["expected_net_value"].max() - rows["expected_net_value"].min()


def test_proactive_stays_within_capacity_and_takes_the_most_saveable(lists: CallLists, proactive: pd.DataFrame) -> None:
    per_rep = lists.proactive["rep_id"].value_counts()
    assert per_rep.max() <= 5
    assert set(per_rep.index) == {"R011", "R012", "R013", "R021", "R022", "UNASSIGNED-East"}
    assert not lists.proactive["account_id"].isin(lists.inbound["account_id"]).any()
    assert not lists.proactive["account_id"].isin(lists.flips["account_id"]).any()
    quiet = proactive[~proactive["account_id"].isin(["A0000000", "A0000001"])]
    for territory, capacity in {"North": 15, "South": 10, "East": 5}.items():
        mine = quiet[quiet["territory"] == territory].sort_values(
            ["saveable_value", "account_id"], ascending=[False, True]
        )
        listed = lists.proactive[lists.proactive["territory"] == territory]
        assert set(listed["account_id"]) == set(mine["account_id"].head(capacity))
    for rep, rows in lists.proactive.groupby("rep_id"):
        assert rows["saveable_value"].is_monotonic_decreasing, rep
        assert list(rows["rank"]) == list(range(1, len(rows) + 1))


def test_unassigned_rows_are_counted_not_dropped(lists: CallLists, inbound: pd.DataFrame) -> None:
    unassigned = lists.unassigned()
    east = inbound[inbound["territory"] == "East"]
    assert unassigned["inbound"]["East"] == int((east["offer"] != "flip").sum())
    assert unassigned["flips"] == {
        t: int(((inbound["territory"] == t) & (inbound["offer"] == "flip")).sum()) for t in ("East", "South")
    }
    assert unassigned["proactive"] == {"East": 5}
    assert "UNASSIGNED-East" in lists.reps and "S010" in lists.reps


def test_lists_are_deterministic_whatever_the_input_order(
    lists: CallLists, inbound: pd.DataFrame, proactive: pd.DataFrame
) -> None:
    again = build_call_lists(
        inbound.sample(frac=1, random_state=5), proactive.sample(frac=1, random_state=6), ROSTER, DeskRules(5), DAY
    )
    for name, frame in lists.frames().items():
        pd.testing.assert_frame_equal(frame, again.frames()[name], obj=name)
    assert lists.reps == again.reps


def test_only_allow_listed_columns_and_no_pii(lists: CallLists) -> None:
    contract_pii = {c for s in TABLES.values() for c, col in s.columns.items() if (col.metadata or {}).get("pii")}
    assert {"contact_name", "phone", "email", "street_address", "account_name"} <= contract_pii == PII_COLUMNS
    for frame in lists.frames().values():
        assert not set(frame.columns) & PII_COLUMNS
        assert "feature_missed_pickups_90d" not in frame
    assert set(INBOUND_COLUMNS) <= set(lists.inbound.columns)
    assert set(PROACTIVE_COLUMNS) <= set(lists.proactive.columns)


def test_bad_inputs_are_refused_and_empty_inputs_give_empty_lists(inbound: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="more than once"):
        build_call_lists(pd.concat([inbound, inbound.iloc[:1]]), pd.DataFrame(), ROSTER, DeskRules(), DAY)
    with pytest.raises(ValueError, match="lacks columns"):
        build_call_lists(inbound.drop(columns="offer"), pd.DataFrame(), ROSTER, DeskRules(), DAY)
    with pytest.raises(ValueError):
        DeskRules(proactive_per_rep=-1)
    empty = build_call_lists(pd.DataFrame(), pd.DataFrame(), Roster(), DeskRules(), DAY)
    assert empty.counts() == {"inbound": 0, "proactive": 0, "flips": 0}
    assert empty.unassigned() == {} and empty.reps == ()
    assert {"list", "list_key", "rep_id", "rank", "due_date"} <= set(empty.inbound.columns)


def test_intraday_adds_new_requests_after_the_existing_rows(lists: CallLists, inbound: pd.DataFrame) -> None:
    new = requests(30, seed=9, start=5000)
    # Already-listed requests come again, one with a different price: their listed rows stand.
    again = inbound.iloc[:6].assign(expected_net_value=99_999.0)
    arrived = pd.concat([new, again], ignore_index=True)
    added = add_intraday(lists, arrived, ROSTER, DeskRules(proactive_per_rep=5))

    listed = pd.concat([added.inbound["list_key"], added.flips["list_key"]])
    assert listed.is_unique
    assert set(listed) == set(inbound["request_id"]) | set(new["request_id"])
    pd.testing.assert_frame_equal(added.proactive, lists.proactive)
    for name in ("inbound", "flips"):
        before, after = lists.frames()[name], added.frames()[name]
        kept = after[after["batch"] == "nightly"].reset_index(drop=True)
        pd.testing.assert_frame_equal(kept, before.reset_index(drop=True), obj=name)
        fresh = after[after["batch"] == "intraday"]
        assert set(fresh["list_key"]) == set(new.loc[(new["offer"] == "flip") == (name == "flips"), "request_id"])
        for rep, rows in after.groupby("rep_id"):
            assert list(rows["rank"]) == list(range(1, len(rows) + 1)), rep
            assert list(rows["batch"]) == sorted(rows["batch"], key=lambda b: b == "intraday"), rep
    # New requests go to the territory's reps, kept balanced.
    north = added.inbound[added.inbound["territory"] == "North"]["rep_id"].value_counts()
    assert set(north.index) == {"R011", "R012", "R013"} and north.max() - north.min() <= 1
    assert (added.inbound.loc[added.inbound["territory"] == "East", "rep_id"] == "UNASSIGNED-East").all()

    twice = add_intraday(added, arrived, ROSTER, DeskRules(proactive_per_rep=5))
    for name, frame in added.frames().items():
        pd.testing.assert_frame_equal(twice.frames()[name], frame, obj=name)
    assert add_intraday(lists, inbound, ROSTER, DeskRules()) is lists


def test_intraday_on_an_empty_morning(inbound: pd.DataFrame) -> None:
    empty = build_call_lists(pd.DataFrame(), pd.DataFrame(), ROSTER, DeskRules(), DAY)
    added = add_intraday(empty, inbound.iloc[:10], ROSTER, DeskRules())
    assert len(added.inbound) + len(added.flips) == 10
    assert (added.inbound["batch"] == "intraday").all()
    assert set(added.inbound["due_date"]) <= {DAY}
