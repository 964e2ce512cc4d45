"""Shadow nights: a refused challenger scored beside the champion, then promoted on review.

One story on one workspace of its own (a small hauler, both models trained, then a churn challenger the gate
refuses): three nights run without and with shadow scoring publish byte-identical lists and write the
challenger's lists to ``DIR/shadow/<date>/``; the challenger's nights are then done; ``savedesk promote`` moves
the champion alias (audited) and the next nightly publishes the challenger's lists with its version in the
manifest.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from models.names import CHURN_MODEL
from models.tracking import read_audit_log
from pipelines.cli import app
from pipelines.flows import configured, nightly
from pipelines.services import open_tracker
from pipelines.settings import load_settings
from pipelines.shadow import nights_shadowed, shadow_night, shadow_versions
from pipelines.training import fit_and_evaluate, load_snapshots, record_and_gate, time_split
from pipelines.workspace import open_workspace
from serving.call_lists import CallLists
from serving.roster import Roster
from sources.simulator import SimulationConfig, simulate_hauler, write_hauler

pytestmark = pytest.mark.slow

# The save model is not under test: on this small hauler it is judged on a few dozen requests, so its gate is
# open (the shadow manifest names the save champion beside the churn challenger).
GATES = "[churn.gate]\nmin_auc = 0.55\n\n[save.gate]\nmin_auc = 0.0\nmax_ece = 1.0\n"
NIGHTS = [date(2026, 10, 29), date(2026, 10, 30), date(2026, 10, 31)]
LISTS = ("inbound", "proactive", "flips")


def configure(data: Path, shadow_nights: int) -> None:
    (data / "savedesk.toml").write_text(GATES + f"\n[nightly]\nshadow_nights = {shadow_nights}\nshards = 2\n")


def run_night(data: Path, day: date) -> dict[str, Any]:
    return configured(nightly, load_settings(data))(str(data), day.isoformat())


def published_files(data: Path, day: date) -> dict[str, str]:
    """sha256 of every published file of ``day`` but the manifest (whose ``created_at`` moves)."""
    return dict(json.loads((data / "published" / day.isoformat() / "manifest.json").read_text())["files"])


def manifest(folder: Path) -> dict[str, Any]:
    return dict(json.loads((folder / "manifest.json").read_text()))


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Both models trained and promoted; then a churn model retrained with another seed, refused by the gate."""
    data = tmp_path_factory.mktemp("shadow")
    write_hauler(simulate_hauler(SimulationConfig(accounts=1_500, months=24, seed=21)), data)
    configure(data, 0)
    trained = CliRunner().invoke(app, ["train", "--data", str(data)])
    assert trained.exit_code == 0, trained.output
    assert "savedesk-save v1 (models:/savedesk-save/1): promoted" in " ".join(trained.output.split())
    base = load_settings(data)
    churn = base.churn.model_copy(
        update={"params": replace(base.churn.params, seed=base.churn.params.seed + 1),
                "gate": replace(base.churn.gate, min_auc_gain=1.0)}  # refused, whatever the interval says
    )  # fmt: skip
    settings = load_settings(data, churn=churn)
    work = open_workspace(settings)
    split = time_split(settings, work, None)
    outcome = record_and_gate(settings, fit_and_evaluate(settings, split, load_snapshots(settings, work, split)))
    assert (outcome.version, outcome.promoted) == (2, False)
    return data


@pytest.fixture(scope="module")
def shadowed(workspace: Path) -> dict[date, tuple[dict[str, str], dict[str, str], dict[str, Any]]]:
    """Each night run without shadow, then with: the published files of each run and the shadowed run's summary."""
    runs = {}
    for day in NIGHTS:
        configure(workspace, 0)
        plain = run_night(workspace, day)
        assert "shadow" not in plain
        before = published_files(workspace, day)
        configure(workspace, 3)
        summary = run_night(workspace, day)
        runs[day] = (before, published_files(workspace, day), summary)
    return runs


def test_shadow_nights_leave_the_published_lists_byte_identical(
    shadowed: dict[date, tuple[dict[str, str], dict[str, str], dict[str, Any]]],
) -> None:
    for day, (without, with_shadow, summary) in shadowed.items():
        assert with_shadow == without, day
        assert summary["models"]["churn"]["version"] == 1 and "error" not in summary["shadow"]


def test_the_challengers_lists_are_written_beside_them(
    workspace: Path, shadowed: dict[date, tuple[dict[str, str], dict[str, str], dict[str, Any]]]
) -> None:
    changed = 0
    for night, (day, (_, _, summary)) in enumerate(shadowed.items(), start=1):
        folder = workspace / "shadow" / day.isoformat()
        assert summary["shadow"]["folder"] == str(folder) and summary["shadow"]["night"] == night
        shown = manifest(folder)
        assert shown["models"]["churn"] == {"name": CHURN_MODEL, "version": 2, "alias": "challenger"}
        assert shown["models"]["save"]["alias"] == "champion" and shown["shadow_of"]["churn"]["version"] == 1
        published = workspace / "published" / day.isoformat()
        for name in LISTS:
            mine, theirs = pd.read_parquet(folder / f"{name}.parquet"), pd.read_parquet(published / f"{name}.parquet")
            assert shown["rows"][name] == len(mine)
            difference = shown["compared_with_published"][name]
            entering = set(mine["list_key"]) - set(theirs["list_key"])
            assert difference["entering"] == len(entering)
            assert difference["leaving"] == len(set(theirs["list_key"]) - set(mine["list_key"]))
            changed += len(entering)
    assert changed > 0  # another seed ranks some accounts differently: the shadow lists are the challenger's own


def test_a_challengers_shadow_nights_end_after_the_declared_number(
    workspace: Path, shadowed: dict[date, tuple[dict[str, str], dict[str, str], dict[str, Any]]]
) -> None:
    settings = load_settings(workspace)
    tracker = open_tracker(settings)
    versions = shadow_versions(tracker)
    assert versions is not None
    assert nights_shadowed(settings.shadow_dir, versions, date(2026, 11, 1)) == 3
    assert nights_shadowed(settings.shadow_dir, versions, NIGHTS[-1]) == 2  # a re-run of a shadowed date counts once
    # A fourth date finds the challenger's nights done: nothing is planned (no context needed) and nothing written.
    nothing = pd.DataFrame()
    empty = CallLists(date(2026, 11, 1), nothing, nothing, nothing, ())
    assert shadow_night(settings, tracker, date(2026, 11, 1), nothing, nothing, Roster(), empty, {}) is None
    # With fewer nights declared than shadowed, a re-run of the last date writes none either.
    fewer = settings.model_copy(update={"nightly": settings.nightly.model_copy(update={"shadow_nights": 2})})
    assert shadow_night(fewer, tracker, NIGHTS[-1], nothing, nothing, Roster(), empty, {}) is None
    assert not (settings.shadow_dir / "2026-11-01").exists()


def test_promote_moves_the_champion_and_the_next_night_publishes_the_challengers_lists(
    workspace: Path, shadowed: dict[date, tuple[dict[str, str], dict[str, str], dict[str, Any]]]
) -> None:
    runner = CliRunner()
    refused = runner.invoke(app, ["promote", "--data", str(workspace), "--by", "dana"])
    assert refused.exit_code == 2 and "--reason" in refused.output
    result = runner.invoke(
        app, ["promote", "--data", str(workspace), "--reason", "three shadow nights reviewed", "--by", "dana"]
    )
    assert result.exit_code == 0, result.output
    entry = read_audit_log(workspace / "mlflow" / "registry-audit.jsonl")[-1]
    assert {k: entry[k] for k in ("action", "alias", "model", "version", "previous", "by", "reason")} == {
        "action": "promoted", "alias": "champion", "model": CHURN_MODEL, "version": 2, "previous": 1,
        "by": "dana", "reason": "three shadow nights reviewed",
    }  # fmt: skip
    assert entry["at"] and "refuse" in entry["gate_summary"]
    again = runner.invoke(app, ["promote", "--data", str(workspace), "--reason", "twice", "--by", "dana"])
    assert again.exit_code == 2 and "champion already" in again.output

    day = NIGHTS[-1]
    summary = run_night(workspace, day)
    assert "shadow" not in summary  # the challenger is the champion: nothing left to shadow
    published = workspace / "published" / day.isoformat()
    assert manifest(published)["models"]["churn"] == {"name": CHURN_MODEL, "version": 2, "alias": "champion"}
    for name in LISTS:  # the lists the desk gets now are those the shadow night showed for review
        shown = pd.read_parquet(workspace / "shadow" / day.isoformat() / f"{name}.parquet")
        pd.testing.assert_frame_equal(pd.read_parquet(published / f"{name}.parquet"), shown)
