"""Where the flows' mapped tasks run: threads, a local Dask cluster with capped workers, or a running cluster.

A local cluster is one worker process per ``nightly.dask_workers``, one thread each, each capped at
``nightly.worker_memory``. A worker that dies (killed, or restarted by its nanny past its cap) is replaced, and the
scheduler runs its tasks again elsewhere (Dask's ``distributed.scheduler.allowed-failures``): the night's tasks are
pure functions of their shard, so a rerun gives the same result.
"""

from __future__ import annotations

import ctypes
import gc
import logging
from collections.abc import Iterator
from contextlib import contextmanager
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


@contextmanager
def memory_returned() -> Iterator[None]:
    """Around a task that holds a large working set on a long-lived worker: what it freed goes back to the system.

    Freed memory otherwise stays with the worker process: Arrow's allocator keeps its pages for reuse and glibc
    its heap (what Dask calls unmanaged memory). At 5 M accounts the worker that had fitted the save model kept
    3.4 GiB after the task, and the nightly's shard tasks then took it past 95 % of its 4 GB cap (restarted by
    its nanny). Judging the save model alone on that book kept 1.24 GiB; returned, 0.62 GiB.
    """
    try:
        yield
    finally:
        gc.collect()
        import pyarrow

        pyarrow.default_memory_pool().release_unused()
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # not glibc: nothing kept that trimming would return
            pass
