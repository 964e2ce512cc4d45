"""Which models the live plan uses: the pair a publication names, loaded by number, kept, or refused without a crash.

Fast: the models are stand-ins (the planner never sees them here); what is judged is which pair is chosen, how
often the registry is asked, and what ``/api/v1/models`` would say.
"""

from __future__ import annotations

from datetime import date
from typing import Any, cast

import pytest

from models.champions import Champions, same_models, version_numbers
from serving.plan_models import PlanModels, footer

DAY = date(2026, 10, 31)


def stamp(churn: int, save: int, alias: str | None = "champion") -> dict[str, dict[str, Any]]:
    return {"churn": {"name": "savedesk-churn", "version": churn, "alias": alias},
            "save": {"name": "savedesk-save", "version": save, "alias": alias}}  # fmt: skip


def pair(churn: int, save: int, alias: str | None = "champion") -> Champions:
    """Stand-in models that say which version they are."""
    return Champions(cast(Any, f"churn v{churn}"), cast(Any, f"save v{save}"), stamp(churn, save, alias))


class Registry:
    """A loader that counts its calls and fails for the versions it does not have."""

    def __init__(self, *have: tuple[int, int]) -> None:
        self.have: set[tuple[int, int]] = set(have)
        self.asked: list[dict[str, int]] = []

    def __call__(self, versions: dict[str, int]) -> Champions:
        self.asked.append(dict(versions))
        if (versions["churn"], versions["save"]) not in self.have:
            raise LookupError(f"models:/savedesk-churn/{versions['churn']}: not found")
        return pair(versions["churn"], versions["save"], alias=None)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_pair_a_publication_names_is_loaded_once_by_number_and_stamped_as_published() -> None:
    registry = Registry((1, 1), (2, 1))
    models = PlanModels(pair(1, 1), registry)
    first = models.for_publication(stamp(1, 1), pair(1, 1), DAY)
    assert registry.asked == [] and first.churn == "churn v1"
    second = models.for_publication(stamp(2, 1), first, DAY)
    assert registry.asked == [{"churn": 2, "save": 1}]
    assert second.churn == "churn v2" and second.versions == stamp(2, 1)  # the manifest's stamp, alias included
    back = models.for_publication(stamp(1, 1), second, DAY)
    again = models.for_publication(stamp(2, 1), back, DAY)
    assert back.churn == "churn v1" and again.churn == "churn v2"
    assert len(registry.asked) == 1  # both pairs kept: switching back and forth loads nothing
    status = models.status(DAY, again, stamp(2, 1))
    assert status.agree is True and status.problem is None and status.in_use == stamp(2, 1)


def test_a_pair_that_cannot_be_loaded_leaves_the_models_in_use_and_says_why() -> None:
    registry, clock = Registry((1, 1)), Clock()
    models = PlanModels(pair(1, 1), registry, retry_every=60.0, clock=clock)
    kept = models.for_publication(stamp(3, 1), pair(1, 1), DAY)
    assert kept.churn == "churn v1"
    status = models.status(DAY, kept, stamp(3, 1))
    assert status.agree is False and status.problem is not None
    assert "savedesk-churn v3" in status.problem and "savedesk-churn v1" in status.problem
    assert "v3" in footer(status) and "v1" in footer(status)
    assert not models.retry_due(stamp(3, 1))
    models.for_publication(stamp(3, 1), kept, DAY)
    assert len(registry.asked) == 1  # not asked again before the retry interval
    clock.now = 61.0
    assert models.retry_due(stamp(3, 1))
    registry.have.add((3, 1))
    loaded = models.for_publication(stamp(3, 1), kept, DAY)
    assert loaded.churn == "churn v3" and models.problem is None
    assert models.status(DAY, loaded, stamp(3, 1)).agree is True


def test_a_loader_that_fails_in_any_way_never_stops_the_desk() -> None:
    def broken(versions: dict[str, int]) -> Champions:
        raise RuntimeError("database is locked")

    models = PlanModels(pair(1, 1), broken)
    assert models.for_publication(stamp(2, 2), pair(1, 1), DAY).churn == "churn v1"
    assert models.problem is not None and "RuntimeError" in models.problem
    assert "database is locked" not in models.problem  # the error's text stays in the log


def test_a_loader_that_returns_other_versions_is_not_believed() -> None:
    models = PlanModels(pair(1, 1), lambda versions: pair(1, 1, alias=None))
    assert models.for_publication(stamp(2, 1), pair(1, 1), DAY).churn == "churn v1"
    assert models.problem is not None and "gave savedesk-churn v1" in models.problem


def test_without_a_loader_or_named_models_the_models_in_use_stay() -> None:
    models = PlanModels(pair(1, 1))
    assert models.for_publication(None, pair(1, 1), DAY).churn == "churn v1"
    assert models.status(DAY, pair(1, 1), None).agree is None
    assert models.for_publication(stamp(2, 1), pair(1, 1), DAY).churn == "churn v1"
    assert models.status(DAY, pair(1, 1), stamp(2, 1)).agree is False


def test_at_most_keep_pairs_stay_loaded() -> None:
    registry = Registry(*((v, 1) for v in range(1, 6)))
    models = PlanModels(pair(1, 1), registry, keep=2)
    current = pair(1, 1)
    for version in (2, 3, 2, 1):
        current = models.for_publication(stamp(version, 1), current, DAY)
    assert [a["churn"] for a in registry.asked] == [2, 3, 1]  # v2 kept, v1 dropped once two newer pairs came


@pytest.mark.parametrize(
    "named",
    [None, {}, {"churn": {"name": "savedesk-churn", "version": 1}}, {"churn": "v1", "save": "v1"},
     {"churn": {"name": "savedesk-churn", "version": True}, "save": {"name": "savedesk-save", "version": 1}}],
)  # fmt: skip
def test_a_stamp_that_does_not_name_both_models_whole_names_none(named: Any) -> None:
    assert version_numbers(named) is None
    assert not same_models(named, named)
