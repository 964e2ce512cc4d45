"""The nightly and intraday flows on a trained small hauler, under one Prefect test harness."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from features.registry import BY_NAME
from pipelines.flows import configured, intraday, nightly
from pipelines.settings import NightlySettings, load_settings

LISTS = ("inbound", "proactive", "flips")


def run_nightly(data: Path, **nightly_settings: object) -> dict[str, object]:
    settings = load_settings(data, nightly=NightlySettings(**nightly_settings))  # type: ignore[arg-type]
    return configured(nightly, settings)(str(data))


def checksums(folder: Path) -> dict[str, str]:
    manifest = json.loads((folder / "manifest.json").read_text())
    return dict(manifest["files"])


@pytest.fixture(scope="module")
def published(trained: Path) -> tuple[Path, dict[str, object]]:
    summary = run_nightly(trained)
    return Path(str(summary["published"])), summary


def test_every_open_request_is_listed_once_and_counts_match_the_manifest(
    published: tuple[Path, dict[str, object]],
) -> None:
    folder, summary = published
    frames = {name: pd.read_parquet(folder / f"{name}.parquet") for name in LISTS}
    manifest = json.loads((folder / "manifest.json").read_text())
    for name, frame in frames.items():
        assert manifest["rows"][name] == len(frame) == summary[name]
    asked = pd.concat([frames["inbound"]["request_id"], frames["flips"]["request_id"]])
    assert asked.is_unique and len(asked) == summary["open_requests"]
    assert set(frames["flips"]["offer"]) <= {"flip"}
    assert manifest["models"]["churn"]["alias"] == "champion"


def test_talking_points_agree_with_their_contributions_and_stay_actionable(
    published: tuple[Path, dict[str, object]],
) -> None:
    folder, _ = published
    points = pd.read_parquet(folder / "talking_points.parquet")
    risk = points[points["direction"].isin(["raises_risk", "lowers_risk"])]
    assert len(risk) > 0
    agrees = ((risk["direction"] == "raises_risk") & (risk["contribution"] > 0)) | (
        (risk["direction"] == "lowers_risk") & (risk["contribution"] < 0)
    )
    assert agrees.all()
    # Every registered feature on a rep's page, whatever its kind, is one a rep can act on and not sensitive
    # (the offer's own terms, such as the rollback size, are not registered features).
    on_page = {f for f in points["feature"].dropna() if f in BY_NAME}
    assert on_page and all(BY_NAME[f].actionable and not BY_NAME[f].sensitive for f in on_page)
    for sentence in points["sentence"]:
        assert "nan" not in sentence.split() and "{" not in sentence


def test_a_rerun_of_the_same_date_publishes_the_same_content(
    trained: Path, published: tuple[Path, dict[str, object]]
) -> None:
    folder, _ = published
    before = checksums(folder)
    run_nightly(trained)
    assert checksums(folder) == before


def test_a_local_dask_cluster_gives_the_same_lists_as_threads(
    trained: Path, published: tuple[Path, dict[str, object]]
) -> None:
    folder, _ = published
    before = checksums(folder)
    run_nightly(trained, task_runner="dask", dask_workers=2)
    assert checksums(folder) == before


def test_intraday_adds_the_days_new_requests_and_keeps_the_rest(trained: Path, tmp_path: Path) -> None:
    data = tmp_path / "intraday"
    shutil.copytree(trained, data, ignore=shutil.ignore_patterns("published", "prefect"))
    raw = data / "raw" / "cancellation_requests.parquet"
    full = pd.read_parquet(raw)
    day = full["request_date"].max()
    late = full[(full["request_date"] == day) & full["resolved_date"].isna()]  # still open at the day's end
    assert len(late) >= 1
    full.drop(index=late.index).to_parquet(raw, index=False)  # the night's extract had not seen them yet
    summary = run_nightly(data)
    folder = Path(str(summary["published"]))
    night = {name: pd.read_parquet(folder / f"{name}.parquet") for name in LISTS}

    full.to_parquet(raw, index=False)  # the day's requests arrive
    settings = load_settings(data)
    added = configured(intraday, settings)(str(data))
    assert added["new_requests"] == len(late)
    day_lists = {name: pd.read_parquet(folder / f"{name}.parquet") for name in LISTS}
    asked = pd.concat([day_lists["inbound"]["request_id"], day_lists["flips"]["request_id"]])
    assert asked.is_unique and set(late["request_id"]) <= set(asked)
    kept = pd.concat([night["inbound"], night["flips"]])["request_id"]
    assert set(kept) <= set(asked)
    pd.testing.assert_frame_equal(day_lists["proactive"], night["proactive"])
    again = configured(intraday, settings)(str(data))
    assert again["new_requests"] == 0
