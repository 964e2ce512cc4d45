"""Issue 17, inactivity churn: on a simulated extract with customers who leave without calling, the churn model
trained with ``churn.definition = no_billing`` ranks the test month better than billing recency alone, and
``train`` and ``evaluate`` report both AUCs (and the tenure baseline's)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from sources.simulator import SimulationConfig, simulate_hauler, write_hauler

pytestmark = pytest.mark.slow

SETTINGS = '[churn]\ndefinition = "no_billing"\nno_billing_days = 45\n\n[churn.gate]\nmin_auc = 0.0\n'


def test_the_churn_model_beats_billing_recency_out_of_time(tmp_path: Path) -> None:
    config = SimulationConfig(accounts=4_000, months=20, seed=12, silent_leave_logit=-5.8)
    write_hauler(simulate_hauler(config), tmp_path)
    (tmp_path / "savedesk.toml").write_text(SETTINGS)
    trained = CliRunner().invoke(app, ["train", "--data", str(tmp_path)])
    assert trained.exit_code == 0, trained.output[-3000:]
    said = " ".join(trained.output.split())
    assert "test.baseline_billing_recency_auc" in said and "test.baseline_tenure_auc" in said
    evaluated = CliRunner().invoke(app, ["evaluate", "--data", str(tmp_path), "--json"])
    assert evaluated.exit_code == 0, evaluated.output[-3000:]
    figures = json.loads(evaluated.output[evaluated.output.index("{") :])
    recency = figures["churn.baseline_billing_recency_auc"]
    # Out of time: the test month lies a full label window after every month the model saw.
    assert figures["churn.auc"] > max(recency, 1 - recency, figures["churn.baseline_tenure_auc"]), figures
