"""Where the flows' mapped tasks run: threads, a local Dask cluster with capped workers, or a running cluster.

A local cluster is one worker process per ``nightly.dask_workers``, one thread each, each capped at
``nightly.worker_memory``. A worker that dies (killed, or restarted by its nanny past its cap) is replaced, and the
scheduler runs its tasks again elsewhere (Dask's ``distributed.scheduler.allowed-failures``): the night's tasks are
pure functions of their shard, so a rerun gives the same result.
"""

from __future__ import annotations

import logging
from typing import Any

from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from pipelines.settings import NightlySettings


def local_cluster(desk: NightlySettings) -> dict[str, Any]:
    """The keyword arguments of the local cluster: worker processes, one thread each, each within its memory cap."""
    return {"n_workers": desk.dask_workers, "threads_per_worker": 1, "processes": True,
            "memory_limit": desk.worker_memory}  # fmt: skip


def task_runner(desk: NightlySettings) -> TaskRunner[Any]:
    """The task runner the settings choose: threads, or Dask (a cluster's address, or a local cluster)."""
    if desk.task_runner == "dask":
        from prefect_dask import DaskTaskRunner

        logging.getLogger("distributed").setLevel(logging.WARNING)  # its INFO lines drown the flow's own
        if desk.dask_address:
            return DaskTaskRunner(address=desk.dask_address)
        return DaskTaskRunner(cluster_kwargs=local_cluster(desk))
    return ThreadPoolTaskRunner(max_workers=desk.threads)
