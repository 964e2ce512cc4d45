"""Issue 16's review of talking points on a small simulated hauler, and the review's own power to find faults.

The review (``point_review``) recomputes every number from the raw tables without ``features``; the points come
from ``test_talking_points``'s fixture (two small models, 250 listed decisions, about 1,200 points).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from point_review import Review, concept_of, review, tokens  # noqa: E402
from test_talking_points import AS_OF, Listed, listed  # noqa: E402, F401 (the module's fixture)


@pytest.fixture(scope="module")
def reviewed(listed: Listed) -> tuple[Listed, Review]:  # noqa: F811
    decisions = listed.listed.assign(account_id=listed.listed["list_key"])
    return listed, review(listed.points, decisions, listed.tables, AS_OF, sample=len(listed.points))


def test_every_published_set_passes_the_review(reviewed: tuple[Listed, Review]) -> None:
    _, found = reviewed
    assert found.sets == 250
    assert found.repeated_concept == 0 and found.repeated_sentence == 0, found.examples
    assert found.protective > 200 and found.protective_risky == 0, found.examples
    assert found.stale_offer_reasons == 0, found.examples
    assert found.customer_points > 0 and found.customer_comparisons == 0, found.examples
    assert found.openings == found.sets
    assert found.sampled_points >= 500
    assert found.numbers_checked >= found.sampled_points
    assert found.numbers_equal == found.numbers_checked, found.examples


def test_the_review_finds_planted_faults(reviewed: tuple[Listed, Review]) -> None:
    listed_, _ = reviewed
    points = listed_.points.copy()
    decisions = listed_.listed.assign(account_id=listed_.listed["list_key"])
    risk = points.index[(points["kind"] == "risk_driver") & points["sentence"].str.match(r"^\d+ ")][:5]
    points.loc[risk, "sentence"] = points.loc[risk, "sentence"].str.replace(r"^(\d+)", lambda m: str(int(m[1]) + 1),
                                                                          regex=True)  # fmt: skip
    protective = points.index[points["kind"] == "protective"][:3]
    points.loc[protective, "sentence"] = "rate up 9% in the last year"
    customer = points.index[points["kind"] == "opening"][:4]
    points.loc[customer, "sentence"] = "you pay 6% above the territory's median"
    twice = points[points["kind"] == "risk_driver"].drop_duplicates("list_key").head(2).assign(rank=9)
    points = pd.concat([points, twice], ignore_index=True)
    found = review(points, decisions, listed_.tables, AS_OF, sample=len(points))
    assert found.protective_risky == 3
    assert found.customer_comparisons == 4
    assert found.repeated_concept == 2 and found.repeated_sentence == 2
    assert found.numbers_checked - found.numbers_equal >= len(risk) > 0


def test_tokens_and_concepts() -> None:
    assert tokens("a customer for 10 years, since June 2016") == ["10", "June 2016"]
    assert tokens("a 4.9% rate increase on Sep 18, 2025 — to $2,211 a month") == ["4.9%", "Sep 18, 2025", "$2,211"]
    assert concept_of("tenure_days") == concept_of("tenure_years")
    assert concept_of("days_since_missed_pickup") == concept_of("missed_pickups_90d") != concept_of("late_pickups_90d")
