"""Issue 17, inactivity churn: on a bare billing export (accounts and invoices only) of a small hauler whose
customers also leave without calling, the churn model trained with ``churn.definition = no_billing`` ranks the
test month better than billing recency alone, and ``train`` and ``evaluate`` report both AUCs (and tenure's).

The extract is the one that used to fail (3,000 accounts, seed 11: model 0.546 against billing recency 0.631,
its direction reversed): month-end training snapshots never held an account whose bill was overdue yet not
gone, the test day did, and 300-row leaves could not have held them apart. Snapshots on the test's day of the
month (``models.dataset.TimeSplit``) and leaves sized to the book (``ChurnParams.for_rows``) fix both;
``bench/inactivity_churn.py`` measures the same across seeds and sizes.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pipelines.cli import app
from sources.simulator import SimulationConfig, simulate_hauler, write_hauler
from sources.simulator.extracts import minimal_extract

pytestmark = pytest.mark.slow

SETTINGS = '[churn]\ndefinition = "no_billing"\nno_billing_days = 45\n\n[churn.gate]\nmin_auc = 0.0\n'
SILENT_LEAVERS = 0.003
"""Monthly chance of leaving without calling for an account with nothing wrong (``simulate --silent-leavers``)."""


def test_the_churn_model_beats_billing_recency_out_of_time(tmp_path: Path) -> None:
    logit = math.log(SILENT_LEAVERS / (1 - SILENT_LEAVERS))
    write_hauler(
        simulate_hauler(SimulationConfig(accounts=3_000, months=24, seed=11, silent_leave_logit=logit)), tmp_path
    )
    minimal_extract(tmp_path)
    (tmp_path / "savedesk.toml").write_text(SETTINGS)
    trained = CliRunner().invoke(app, ["train", "--data", str(tmp_path)])
    assert trained.exit_code == 0, trained.output[-3000:]
    said = " ".join(trained.output.split())
    assert "test.baseline_billing_recency_auc" in said and "test.baseline_tenure_auc" in said
    assert "no better than" not in said  # the model is not called out as no better than a one-feature ranking
    evaluated = CliRunner().invoke(app, ["evaluate", "--data", str(tmp_path), "--json"])
    assert evaluated.exit_code == 0, evaluated.output[-3000:]
    figures = json.loads(evaluated.stdout[evaluated.stdout.index("{") : evaluated.stdout.rindex("}") + 1])
    recency, tenure = figures["churn.baseline_billing_recency_auc"], figures["churn.baseline_tenure_auc"]
    # Out of time: the test month lies a full label window after every month the model saw. Either direction of
    # a one-feature ranking counts as that ranking.
    assert figures["churn.auc"] > max(recency, 1 - recency, tenure, 1 - tenure), figures
