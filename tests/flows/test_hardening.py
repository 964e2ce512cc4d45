"""The nightly and train commands on broken extracts: a refusal with a sentence, or lists for everything that is
not broken (issue 21, points 3, 8 and 9)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from models.cost_to_serve import SIMULATED_COST_INDEX
from pipelines.cli import app
from pipelines.flows import configured, nightly
from pipelines.settings import Settings, load_settings

runner = CliRunner()
LISTS = ("inbound", "proactive", "flips")


def copy_of(trained: Path, tmp_path: Path) -> Path:
    data = tmp_path / "ws"
    shutil.copytree(trained, data, ignore=shutil.ignore_patterns("published", "prefect"))
    return data


def rewrite(data: Path, table: str, frame: pd.DataFrame) -> None:
    frame.to_parquet(data / "raw" / f"{table}.parquet", index=False)


def words(output: str) -> str:
    return " ".join(output.split())


def test_the_nightly_refuses_to_publish_when_no_account_is_in_service(trained: Path, tmp_path: Path) -> None:
    data = copy_of(trained, tmp_path)
    accounts = pd.read_parquet(data / "raw" / "accounts.parquet")
    rewrite(data, "accounts", accounts.assign(close_date=accounts["start_date"], close_reason="price"))

    result = runner.invoke(app, ["nightly", "--data", str(data)])

    assert result.exit_code == 2, result.output
    assert "no account in service on 2026-10-31" in words(result.output).lower()
    assert not (data / "published").exists() or not list((data / "published").iterdir())


def test_the_nightly_refuses_an_extract_whose_dates_it_cannot_read(trained: Path, tmp_path: Path) -> None:
    data = copy_of(trained, tmp_path)
    accounts = pd.read_parquet(data / "raw" / "accounts.parquet")
    rewrite(
        data, "accounts", accounts.assign(start_date=pd.to_datetime(accounts["start_date"]).dt.strftime("%m/%d/%Y"))
    )

    result = runner.invoke(app, ["nightly", "--data", str(data)])

    assert result.exit_code != 0
    assert "accounts" in words(result.output) and "fails validation" in words(result.output)
    assert not (data / "published").exists() or not list((data / "published").iterdir())


def test_a_header_only_optional_table_is_absent_to_the_nightly_never_zeros(trained: Path, tmp_path: Path) -> None:
    data = copy_of(trained, tmp_path)
    events = pd.read_parquet(data / "raw" / "service_events.parquet")
    rewrite(data, "service_events", events.iloc[0:0])

    result = runner.invoke(app, ["nightly", "--data", str(data)])

    said = words(result.output)
    assert result.exit_code == 2, said
    assert "trained with features this extract cannot give" in said and "from service_events" in said
    assert "late_pickups_30d" in said
    assert not (data / "published").exists() or not list((data / "published").iterdir())


def run_nightly(data: Path, settings: Settings) -> dict[str, object]:
    return configured(nightly, settings)(str(data))


def test_a_territory_without_a_cost_index_is_left_out_and_every_other_gets_its_lists(
    trained: Path, tmp_path: Path
) -> None:
    data = copy_of(trained, tmp_path)
    index = [[territory, cost] for territory, cost in SIMULATED_COST_INDEX if territory != "Austin"]
    with (data / "savedesk.toml").open("a", encoding="utf-8") as toml:  # the flow reads the workspace's settings
        toml.write(f"\n[save.offers.cost_to_serve]\nterritory_index = {json.dumps(index)}\n")
    settings = load_settings(data)
    assert "Austin" not in dict(settings.save.offers.cost_to_serve.territory_index)

    summary = run_nightly(data, settings)

    folder = Path(str(summary["published"]))
    lists = {name: pd.read_parquet(folder / f"{name}.parquet") for name in LISTS}
    territories = set(pd.concat(lists.values())["territory"])
    assert "Austin" not in territories and len(territories) == len(index)
    [left] = summary["left_out"]  # type: ignore[misc]
    assert left["kind"] == "territory" and left["name"] == "Austin" and left["accounts"] > 100
    assert "cost index" in left["reason"] and "Austin" in " ".join(summary["warnings"])  # type: ignore[arg-type]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["left_out"] == summary["left_out"]
    assert summary["inbound"] + summary["proactive"] > 0  # type: ignore[operator]


def test_two_reps_whose_pages_would_share_a_file_leave_one_out_not_the_desk(trained: Path, tmp_path: Path) -> None:
    data = copy_of(trained, tmp_path)
    attempts = pd.read_parquet(data / "raw" / "save_attempts.parquet")
    inside = attempts[attempts["rep_channel"] == "inside_sales"]
    rep = inside.loc[inside["attempt_date"] == inside["attempt_date"].max(), "rep_id"].iloc[0]
    mine = attempts.index[attempts["rep_id"] == rep]
    attempts.loc[mine[::2], "rep_id"] = rep.lower()  # R022 and r022: one file name on a case-blind disk
    rewrite(data, "save_attempts", attempts)

    summary = run_nightly(data, load_settings(data))

    folder = Path(str(summary["published"]))
    left = [entry for entry in summary["left_out"] if entry["kind"] == "rep"]  # type: ignore[attr-defined]
    assert [entry["name"] for entry in left] == [rep.lower()]
    assert "file" in left[0]["reason"]
    reps = set(pd.concat([pd.read_parquet(folder / f"{name}.parquet") for name in LISTS])["rep_id"])
    assert rep in reps and rep.lower() not in reps


@pytest.mark.slow
def test_train_without_save_attempts_trains_the_churn_model_and_says_why_not_the_save_model(
    trained: Path, tmp_path: Path
) -> None:
    data = tmp_path / "fresh"  # the extract and its settings, without the models trained with save attempts
    shutil.copytree(trained, data, ignore=shutil.ignore_patterns("published", "prefect", "mlflow", "clean", "rejects"))
    attempts = pd.read_parquet(data / "raw" / "save_attempts.parquet")
    rewrite(data, "save_attempts", attempts.iloc[0:0])

    result = runner.invoke(app, ["train", "--data", str(data)])

    assert result.exit_code == 0, result.output
    said = words(result.output)
    assert "savedesk-churn v1" in said
    assert "The save model was not trained" in said and "save_attempts" in said
