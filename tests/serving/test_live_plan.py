"""The live save plan: the same plan the nightly run published, re-read when a new version is published."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from published_workspace import published_workspace

from features.registry import BY_NAME
from models.champions import Champions
from models.point_wording import DESIGN_POINTS
from models.talking_points import rep_driver
from pipelines.services import desk_config, open_tracker
from pipelines.settings import Settings, load_settings
from serving.live_plan import LivePlanner, Unplannable

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    return published_workspace(tmp_path_factory, worker_id)


@pytest.fixture(scope="module")
def champions(workspace: Path) -> Champions:
    return open_tracker(load_settings(workspace)).load_champions()


def published(settings: Settings) -> tuple[str, pd.DataFrame, pd.DataFrame]:
    day = max(p.name for p in settings.published_dir.iterdir() if not p.name.startswith("."))
    folder = settings.published_dir / day
    rows = pd.concat([pd.read_parquet(folder / f) for f in ("inbound.parquet", "flips.parquet", "proactive.parquet")])
    return day, rows, pd.read_parquet(folder / "talking_points.parquet")


def test_the_live_plan_of_a_listed_account_is_the_published_plan(workspace: Path, champions: Champions) -> None:
    settings = load_settings(workspace)
    _, rows, points = published(settings)
    planner = LivePlanner(desk_config(settings), champions)
    asked = rows[rows["request_id"].notna()]
    quiet = rows[rows["request_id"].isna()].head(40)
    assert len(asked) and len(quiet)
    for row in pd.concat([asked, quiet]).itertuples():
        plan = planner.plan(str(row.account_id))
        assert plan is not None
        assert plan.territory == row.territory
        assert plan.churn_probability == pytest.approx(row.churn_probability, abs=1e-12)
        assert plan.recommendation.offer == row.offer
        assert plan.recommendation.p_save == pytest.approx(row.p_save, abs=1e-12)
        assert plan.recommendation.expected_net_value == pytest.approx(row.expected_net_value, rel=1e-9)
        assert (plan.fallback.offer if plan.fallback else None) == (
            row.fallback_offer if pd.notna(row.fallback_offer) else None
        )
        assert plan.guardrail_note == (row.guardrail_note or "")
        assert (plan.p_save_source, plan.p_save_notice) == (row.p_save_source, None)
        if pd.notna(row.request_id):
            assert plan.request is not None and plan.request.request_id == row.request_id
        else:
            assert plan.request is None
        said = points[points["list_key"] == row.list_key]
        assert [(p.kind, p.rank, p.sentence) for p in plan.talking_points] == list(
            zip(said["kind"], said["rank"], said["sentence"], strict=True)
        )
        assert [o.offer for o in plan.offers if o.choice == "recommended"] == [row.offer]
        assert all(o.rank == 0 for o in plan.offers if not o.allowed)
        assert {g.guardrail for g in plan.guardrails} == {c for o in plan.offers for c in o.blocked_by}


def test_a_plan_shows_only_talking_points_a_rep_may_see(workspace: Path, champions: Champions) -> None:
    settings = load_settings(workspace)
    planner = LivePlanner(desk_config(settings), champions)
    accounts = list(planner.night().context.index[:150])
    assert planner.warm(accounts, batch=64) == len(accounts)
    for account in accounts:
        plan = planner.plan(account)
        assert plan is not None and plan.talking_points
        for point in plan.talking_points:
            assert point.feature is None or point.feature in DESIGN_POINTS or rep_driver(BY_NAME.get(point.feature))


def test_a_plan_computed_alone_equals_the_same_plan_computed_in_a_batch(workspace: Path, champions: Champions) -> None:
    settings = load_settings(workspace)
    accounts = list(LivePlanner(desk_config(settings), champions).night().context.index[200:230])
    batch = LivePlanner(desk_config(settings), champions)
    batch.warm(accounts)
    alone = LivePlanner(desk_config(settings), champions)
    for account in accounts:
        assert alone.plan_json(account) == batch.plan_json(account)


def test_a_new_publication_is_planned_from_its_own_requests(
    workspace: Path, champions: Champions, tmp_path: Path
) -> None:
    """Publish a copy of the day whose only change is a new open request: the planner sees it at once."""
    source = load_settings(workspace)
    day, rows, _ = published(source)
    settings = source.model_copy(update={"data": tmp_path})
    context = source.catalog.context(date.fromisoformat(day))
    night = settings.catalog.context(date.fromisoformat(day))
    night.parent.mkdir(parents=True)
    night.symlink_to(context)
    account = str(rows[rows["request_id"].isna()]["account_id"].iloc[0])

    def publish(version: str, inbound: pd.DataFrame) -> None:
        folder = settings.published_dir / version
        folder.mkdir(parents=True)
        inbound.to_parquet(folder / "inbound.parquet")
        (folder / "manifest.json").write_text(json.dumps({"business_date": day}))
        link = settings.published_dir / f".link-{version}"
        os.symlink(version, link)
        os.replace(link, settings.published_dir / day)

    columns = ["request_id", "account_id", "reason", "request_date"]
    publish(".v-1", pd.DataFrame(columns=columns))
    planner = LivePlanner(desk_config(settings), champions, look_every=0.0)
    before = planner.plan(account)
    assert before is not None and before.request is None
    request = pd.DataFrame([["CR-NEW", account, "price", pd.Timestamp(day)]], columns=columns)
    publish(".v-2", request)
    after = planner.plan(account)
    assert after is not None and after.request is not None
    assert (after.request.request_id, after.request.reason) == ("CR-NEW", "price")
    assert after.recommendation.offer in {o.offer for o in after.offers if o.allowed}


def test_the_nightly_run_keeps_the_context_the_live_plan_reads(workspace: Path) -> None:
    settings = load_settings(workspace)
    day = date.fromisoformat(published(settings)[0])
    assert settings.catalog.context(day).is_file()


def test_a_territory_without_a_cost_index_is_left_out_and_every_other_account_is_planned(
    workspace: Path, champions: Champions
) -> None:
    """Issue 21, point 9 at the live plan: one territory the catalog cannot price never stops the others."""
    config = desk_config(load_settings(workspace))
    night = LivePlanner(config, champions).night()
    territories = night.context["territory"].astype(str)
    lost = territories.value_counts().index[0]
    cost = config.offers.cost_to_serve
    partial = replace(cost, territory_index=tuple(p for p in cost.territory_index if p[0] != lost), default_index=None)
    planner = LivePlanner(replace(config, offers=replace(config.offers, cost_to_serve=partial)), champions)
    sample = [*night.context.index[territories == lost][:5], *night.context.index[territories != lost][:20]]
    assert planner.warm(list(sample)) == 20  # the warm-up plans the others and skips the territory's accounts
    for account in sample[5:]:
        plan = planner.plan(str(account))
        assert plan is not None and plan.territory != lost
    with pytest.raises(Unplannable, match=f"territory {lost} has no cost to serve"):
        planner.plan(str(sample[0]))
