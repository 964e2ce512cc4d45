"""``savedesk train`` and ``savedesk evaluate`` end to end on a small simulated hauler."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from sources.simulator import SimulationConfig, simulate_hauler, write_hauler

runner = CliRunner()
REQUIRED = [
    "churn.auc", "churn.oracle_auc", "churn.auc_ratio", "churn.ece", "churn.brier", "churn.pr_auc",
    "churn.lift_at_10", "churn.empc", "churn.baseline_lr_auc", "churn.baseline_rule_auc", "churn.model_version",
]  # fmt: skip


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("train")
    write_hauler(simulate_hauler(SimulationConfig(accounts=4_000, months=24, seed=21)), path)
    return path


def test_evaluate_before_any_training_says_what_to_do(workspace: Path) -> None:
    result = runner.invoke(app, ["evaluate", "--data", str(workspace), "--json"])
    assert result.exit_code == 2
    assert "run savedesk train first" in result.output


def test_train_registers_gates_and_evaluate_reports_the_champion(workspace: Path) -> None:
    trained = runner.invoke(app, ["train", "--data", str(workspace)])
    assert trained.exit_code == 0, trained.output
    assert "Registered savedesk-churn v1" in trained.output
    assert (workspace / "mlflow" / "mlflow.db").is_file()  # everything stays inside the workspace
    audit = [json.loads(line) for line in (workspace / "mlflow" / "registry-audit.jsonl").read_text().splitlines()]
    assert [entry["action"] for entry in audit][0] == "alias_set"
    assert audit[-1]["action"] in {"promoted", "refused"}

    result = runner.invoke(app, ["evaluate", "--data", str(workspace), "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert set(REQUIRED) <= set(figures)
    assert figures["churn.model_version"] == 1
    assert figures["churn.auc_ratio"] == pytest.approx(figures["churn.auc"] / figures["churn.oracle_auc"])
    assert 0.5 < figures["churn.auc"] <= 1.0 and 0.0 <= figures["churn.ece"] <= 1.0


def test_a_second_training_is_judged_against_the_champion(workspace: Path) -> None:
    result = runner.invoke(app, ["train", "--data", str(workspace)])
    assert result.exit_code == 0, result.output
    assert "against savedesk-churn v1" in " ".join(result.output.split())
