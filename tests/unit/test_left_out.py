"""One failing part never stops the rest: what the nightly leaves out, and what it still plans (issue 21, point 9)."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from models.cost_to_serve import CostToServe
from pipelines.left_out import LeftOut, carried, file_safe, merged, plan_apart, priced
from pipelines.nightly import check_book
from pipelines.workspace import WorkspaceError
from serving.roster import Roster

DAY = date(2026, 10, 31)


def decisions(territories: dict[str, int]) -> pd.DataFrame:
    rows = [(f"{t[:1]}{i:02d}", t) for t, n in territories.items() for i in range(n)]
    return pd.DataFrame(rows, columns=["account_id", "territory"]).assign(churn_probability=0.1)


def failing_on(test: object) -> object:
    """A planner that plans every row, but fails on any frame holding a row ``test`` picks."""

    def planner(frame: pd.DataFrame) -> pd.DataFrame:
        if frame.apply(test, axis=1).any():  # type: ignore[arg-type]
            raise ValueError("no price for this one")
        return frame.assign(offer="rollback_10")

    return planner


def test_a_failing_account_is_left_out_and_every_other_one_is_planned() -> None:
    book = decisions({"Austin": 40, "Boston": 25})

    plans, left = plan_apart(book, failing_on(lambda row: row["account_id"] == "A17"))  # type: ignore[arg-type]

    assert sorted(plans["account_id"]) == sorted(set(book["account_id"]) - {"A17"})
    assert left == [LeftOut("account", "A17", 1, "planning failed (ValueError: no price for this one)")]


def test_a_territory_failing_however_it_is_split_is_left_out_whole() -> None:
    book = decisions({"Austin": 30, "Boston": 25, "Chicago": 3})

    plans, left = plan_apart(book, failing_on(lambda row: row["territory"] == "Boston"))  # type: ignore[arg-type]

    assert set(plans["territory"]) == {"Austin", "Chicago"} and len(plans) == 33
    assert [(part.kind, part.name, part.accounts) for part in left] == [("territory", "Boston", 25)]


def test_a_planner_that_fails_on_everything_still_fails_the_night() -> None:
    def broken(frame: pd.DataFrame) -> pd.DataFrame:
        raise RuntimeError("the save model is broken")

    with pytest.raises(RuntimeError, match="the save model is broken"):
        plan_apart(decisions({"Austin": 4}), broken)


def test_territories_without_a_cost_index_are_left_out_with_their_count() -> None:
    book = decisions({"Austin": 5, "Boston": 3, "Chicago": 2})
    cost = CostToServe(territory_index=(("Austin", 1.0),))

    kept, left = priced(book, cost)

    assert set(kept["territory"]) == {"Austin"}
    assert [(part.name, part.accounts) for part in left] == [("Boston", 3), ("Chicago", 2)]
    assert all("cost index" in part.reason for part in left)
    assert priced(book, CostToServe(territory_index=(), default_index=1.0)) == (book, [])


def test_reps_whose_pages_would_share_a_file_keep_only_the_first() -> None:
    roster = Roster({"Austin": ("R1", "R_2", "r1"), "Boston": ("R 2", "R3")}, {"Austin": ("S1",)})

    safe, left = file_safe(roster)

    assert safe.rep_ids == ("R 2", "R1", "R3", "S1")
    assert [(part.kind, part.name) for part in left] == [("rep", "R_2"), ("rep", "r1")]
    assert "R 2" in left[0].reason and "R1" in left[1].reason
    assert file_safe(safe) == (safe, [])


def test_the_same_part_left_out_by_several_shards_is_counted_once() -> None:
    reason = "no cost index"
    parts = [
        LeftOut("territory", "Austin", 3, reason),
        LeftOut("rep", "r1", 0, "x"),
        LeftOut("territory", "Austin", 4, reason),
    ]

    assert merged(parts) == [LeftOut("rep", "r1", 0, "x"), LeftOut("territory", "Austin", 7, reason)]
    assert merged(parts)[1].sentence() == (
        "territory Austin was left out of tonight's lists (7 accounts without a plan): no cost index"
    )


def test_an_intraday_run_keeps_the_nights_records_and_adds_only_new_ones() -> None:
    night = [LeftOut("territory", "Austin", 40, "no cost index").as_dict()]
    later = [LeftOut("territory", "Austin", 2, "no cost index"), LeftOut("account", "B07", 1, "planning failed")]

    assert carried(night, later) == [LeftOut("territory", "Austin", 40, "no cost index"), later[1]]


def test_a_night_without_accounts_or_with_every_one_left_out_is_refused() -> None:
    with pytest.raises(WorkspaceError, match="No account in service on 2026-10-31"):
        check_book(decisions({}), DAY)
    book = decisions({"Austin": 3})
    with pytest.raises(WorkspaceError, match="Every account in service on 2026-10-31 was left out"):
        check_book(book, DAY, [LeftOut("territory", "Austin", 3, "no cost index")])
    check_book(book, DAY, [LeftOut("territory", "Austin", 2, "no cost index"), LeftOut("rep", "r1", 0, "x")])
