"""The nightly on a local Dask cluster of worker processes, each within a memory cap, one of them killed mid-run.

The cluster is the one ``nightly.task_runner = "dask"`` starts (``pipelines.cluster.local_cluster``), started here
so that the test can install a worker plugin (``worker_kill.KillOnce``) that kills the worker building a shard's
features. Dask replaces the worker and runs the lost task again; the night publishes the same lists as threads.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from dask.utils import parse_bytes
from distributed import Client, LocalCluster
from worker_kill import install

from pipelines.cluster import local_cluster
from pipelines.flows import configured, nightly
from pipelines.settings import NightlySettings, load_settings

CAP = "1.5GiB"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Client]:
    desk = NightlySettings(dask_workers=2, worker_memory=CAP)
    with LocalCluster(**local_cluster(desk), dashboard_address=":0") as local, Client(local) as client:
        yield client


def lists_of(data: Path, **desk: object) -> dict[str, str]:
    settings = load_settings(data, nightly=NightlySettings(**desk))  # type: ignore[arg-type]
    summary = configured(nightly, settings)(str(data))
    return dict(json.loads((Path(str(summary["published"])) / "manifest.json").read_text())["files"])


def test_every_worker_is_capped(cluster: Client) -> None:
    workers = cluster.scheduler_info()["workers"].values()
    assert len(workers) == 2 and all(w["memory_limit"] == parse_bytes(CAP) for w in workers)


def test_a_worker_killed_mid_night_is_replaced_and_the_night_publishes_the_same_lists(
    trained: Path, cluster: Client, tmp_path: Path
) -> None:
    threads = lists_of(trained)
    marker = tmp_path / "killed"
    install(cluster, marker, "feature_shard_task", delay=0.3)
    address = cluster.scheduler_info()["address"]
    killed = lists_of(trained, task_runner="dask", dask_address=address, shards=4)
    assert marker.is_file(), "no worker was killed"
    pid = int(marker.read_text().split()[0])
    cluster.wait_for_workers(2, timeout=60)
    assert pid not in cluster.run(os.getpid).values()  # the killed worker was replaced
    assert killed == threads
