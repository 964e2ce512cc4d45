"""A task's freed memory goes back to the system when it ends (``pipelines.cluster.memory_returned``)."""

from __future__ import annotations

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.cluster import memory_returned

MIB = 2**20


def _held_by_arrow() -> None:
    """Work of about 400 MiB in Arrow's allocator, all of it freed on return."""
    values = pa.array(np.arange(25_000_000, dtype=np.int64))
    for _ in range(2):
        values = pc.add(values, 1)
    del values


def test_what_a_task_freed_is_returned_to_the_system_when_it_ends() -> None:
    process = psutil.Process()
    _held_by_arrow()
    kept = process.memory_info().rss  # freed, but kept by the allocator for reuse
    with memory_returned():
        pass
    returned = kept - process.memory_info().rss
    assert returned > 100 * MIB, f"{returned / MIB:.0f} MiB returned"
