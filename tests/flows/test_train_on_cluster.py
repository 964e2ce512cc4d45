"""``savedesk train`` on a Dask cluster: the churn, uplift and save models are fitted by tasks on the workers.

With ``nightly.task_runner = "dask"`` the command runs the savedesk-train flow, whose tasks run on the cluster's
workers; the command's own process only prints what they report. Trained on a sample of accounts either way,
the models are the ones the command trains in its own process: the same test AUCs, the same gate decisions.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import RELAXED_GATES
from distributed import Client, LocalCluster, get_task_stream
from typer.testing import CliRunner

from pipelines.cli import app
from pipelines.cluster import local_cluster
from pipelines.outreach_ranking import uplift_path
from pipelines.services import open_tracker
from pipelines.settings import NightlySettings, load_settings
from sources.simulator import SimulationConfig, simulate_hauler, write_hauler

SAMPLED = (
    '\n[churn]\ntraining = "sample"\nmax_training_rows = 10000\n\n[save]\nmax_training_requests = 300\n'
    "\n[nightly]\nshards = 3\n"
)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Client]:
    desk = NightlySettings(dask_workers=2, worker_memory="2GiB")
    with LocalCluster(**local_cluster(desk), dashboard_address=":0") as local, Client(local) as client:
        yield client


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cluster-train") / "book"
    write_hauler(simulate_hauler(SimulationConfig(accounts=4_500, months=24, seed=21, surcharges=False)), path)
    (path / "savedesk.toml").write_text(RELAXED_GATES + SAMPLED)
    return path


def _train(data: Path, env: dict[str, str]) -> str:
    result = CliRunner().invoke(app, ["train", "--data", str(data)], env=env)
    assert result.exit_code == 0, result.output
    return " ".join(result.output.split())


def _test_aucs(data: Path) -> dict[str, float]:
    """Every AUC each model's run logged (the test month's, overall and by segment)."""
    tracker = open_tracker(load_settings(data))
    aucs = {}
    for name in ("savedesk-churn", "savedesk-save"):
        (run,) = tracker.client.search_runs([tracker.experiment_id(name)])
        aucs |= {f"{name} {k}": round(v, 10) for k, v in run.data.metrics.items() if k.endswith("auc")}
    return aucs


def test_the_models_are_fitted_on_the_workers_and_equal_those_fitted_in_the_command(
    book: Path, cluster: Client, tmp_path: Path
) -> None:
    here, there = tmp_path / "here", tmp_path / "there"
    for copy in (here, there):
        shutil.copytree(book, copy)
    in_process = _train(here, {"SAVEDESK_NIGHTLY__TASK_RUNNER": "threads"})
    address = cluster.scheduler_info()["address"]
    with get_task_stream(cluster) as stream:
        on_cluster = _train(there, {"SAVEDESK_NIGHTLY__TASK_RUNNER": "dask", "SAVEDESK_NIGHTLY__DASK_ADDRESS": address})
    ran = {str(task["key"]).split("-")[0] for task in stream.data}
    assert {"train_churn_task", "train_save_task"} <= ran, ran

    for output in (in_process, on_cluster):
        assert "savedesk-churn v1 (models:/savedesk-churn/1): promoted" in output
        assert "savedesk-save v1 (models:/savedesk-save/1): promoted" in output
        assert "requests (those of a seeded " in output and "% of the accounts)" in output
    assert "a case-control sample: " in on_cluster and "of the training rows, " in on_cluster
    aucs = _test_aucs(here)
    assert {key.split()[0] for key in aucs} == {"savedesk-churn", "savedesk-save"}
    assert _test_aucs(there) == aucs
    for copy in (here, there):
        tracker = open_tracker(load_settings(copy))
        (save_run,) = tracker.client.search_runs([tracker.experiment_id("savedesk-save")])
        assert 0.3 < float(save_run.data.params["requests.training_share"]) < 1  # a share of the accounts' requests
        assert uplift_path(load_settings(copy)).is_file()  # the uplift model is kept for the nightly either way
