"""``savedesk train`` and ``savedesk evaluate`` end to end on a small simulated hauler."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from models.names import CHURN_MODEL, SAVE_MODEL
from pipelines.cli import app
from sources.simulator import SimulationConfig, simulate_hauler, write_hauler

# The tests below are one story on one workspace (no model, then a champion, then a challenger): they need one
# worker, in order, which `make test`'s `--dist loadfile` gives every test file (xdist_group does not group under
# pytest 9.2).

runner = CliRunner()
REQUIRED = [
    "churn.auc", "churn.oracle_auc", "churn.auc_ratio", "churn.ece", "churn.brier", "churn.pr_auc",
    "churn.lift_at_10", "churn.empc", "churn.baseline_lr_auc", "churn.baseline_rule_auc", "churn.model_version",
    "save.auc", "save.model_version", "policy.value", "policy.oracle_value", "policy.value_ratio",
    "policy.uplift_vs_reps", "policy.uplift_vs_rollback10", "policy.rollback_spend_ratio_vs_reps",
    "policy.dr_estimate", "policy.dr_error",
]  # fmt: skip


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("train")
    write_hauler(simulate_hauler(SimulationConfig(accounts=4_000, months=24, seed=21)), path)
    # These tests judge the commands and the gate's mechanics, not the models: a hauler this small gives
    # noisy figures, so the absolute thresholds are relaxed for it (the workspace's own settings file).
    (path / "savedesk.toml").write_text("[churn.gate]\nmin_auc = 0.55\n\n[save.gate]\nmax_ece = 0.25\n")
    return path


def test_evaluate_before_any_training_says_what_to_do(workspace: Path) -> None:
    result = runner.invoke(app, ["evaluate", "--data", str(workspace), "--json"])
    assert result.exit_code == 2
    assert "run savedesk train first" in result.output


def test_train_registers_gates_and_evaluate_reports_the_champion(workspace: Path) -> None:
    trained = runner.invoke(app, ["train", "--data", str(workspace)])
    assert trained.exit_code == 0, trained.output
    assert "Registered savedesk-churn v1" in trained.output
    assert "Registered savedesk-save v1" in trained.output
    assert "Policy values on" in trained.output
    assert (workspace / "mlflow" / "mlflow.db").is_file()  # everything stays inside the workspace
    audit = [json.loads(line) for line in (workspace / "mlflow" / "registry-audit.jsonl").read_text().splitlines()]
    assert [entry["action"] for entry in audit][0] == "alias_set"
    for model in (CHURN_MODEL, SAVE_MODEL):
        assert [e["action"] for e in audit if e["model"] == model][-1] in {"promoted", "refused"}

    # The challenger holds both models whatever their gates decided.
    result = runner.invoke(app, ["evaluate", "--data", str(workspace), "--json", "--alias", "challenger"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert set(REQUIRED) <= set(figures)
    assert figures["churn.model_version"] == 1
    assert figures["churn.auc_ratio"] == pytest.approx(figures["churn.auc"] / figures["churn.oracle_auc"])
    assert 0.5 < figures["churn.auc"] <= 1.0 and 0.0 <= figures["churn.ece"] <= 1.0
    assert figures["save.model_version"] == 1
    assert figures["policy.value_ratio"] == pytest.approx(figures["policy.value"] / figures["policy.oracle_value"])
    assert figures["policy.value"] <= figures["policy.oracle_value"] + 1e-6


def test_a_second_training_is_judged_against_the_champion(workspace: Path) -> None:
    result = runner.invoke(app, ["train", "--data", str(workspace)])
    assert result.exit_code == 0, result.output
    words = " ".join(result.output.split())
    assert "against savedesk-churn v1" in words
    # The save model is judged against its own champion when the first one passed its gate.
    if "Registered savedesk-save v1 (models:/savedesk-save/1): promoted" in words:
        assert "against savedesk-save v1" in words
