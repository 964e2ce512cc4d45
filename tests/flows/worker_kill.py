"""A Dask worker plugin that kills its own worker process once, while a chosen task runs (tests and benches only).

Installed on a running cluster by the test or the bench (``install``), so the production code carries no hook:
the first worker to start a task whose key begins with ``prefix`` claims ``marker`` (created exclusively, so only
one worker ever does) and is killed with SIGKILL a moment later, mid-task. Its nanny starts a new worker, and the
scheduler runs the lost task again on a live one.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import cloudpickle
from distributed import Client, WorkerPlugin


class KillOnce(WorkerPlugin):
    """Kill the worker that first starts a task of ``prefix``, ``delay`` seconds in; only once (``marker``)."""

    name = "savedesk-kill-once"

    def __init__(self, marker: Path, prefix: str, delay: float = 0.5) -> None:
        self.marker, self.prefix, self.delay = str(marker), prefix, delay

    def transition(self, key: Any, start: str, finish: str, **kwargs: Any) -> None:
        """On a task starting to execute: claim the marker and schedule this process's death."""
        name = key[0] if isinstance(key, tuple) else key
        if finish != "executing" or not str(name).startswith(self.prefix):
            return
        try:
            handle = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return
        os.write(handle, f"{os.getpid()} {name}\n".encode())
        os.close(handle)
        threading.Timer(self.delay, os.kill, (os.getpid(), signal.SIGKILL)).start()


def install(client: Client, marker: Path, prefix: str, delay: float = 0.5) -> None:
    """Register the plugin on every worker, now and those started later (the class travels by value)."""
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    client.register_plugin(KillOnce(marker, prefix, delay))
