"""A trained small hauler with its lists published: the workspace the API and browser tests serve.

Built once per test run, whatever the number of xdist workers: the first
worker to get the lock simulates 4,000 accounts, trains both models (gates
relaxed: these tests judge the serving layer, not the models) and runs the
nightly flow, each as the ``savedesk`` command in a child process (Prefect and
MLflow keep their global state there); the others wait and reuse it. Tests
must treat it as read-only: each points its outcomes store elsewhere. ``SAVEDESK_TEST_WORKSPACE`` names one
built by an earlier run (its ``served-workspace`` folder) to skip the build while working on the tests.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import pytest

RELAXED_GATES = "[churn.gate]\nmin_auc = 0.55\n\n[save.gate]\nmin_auc = 0.6\nmax_ece = 0.25\n"
SAVEDESK = str(Path(sys.executable).with_name("savedesk"))


def _run(*args: str, env: dict[str, str]) -> None:
    done = subprocess.run([SAVEDESK, *args], env=env, capture_output=True, text=True, timeout=1200)  # noqa: S603
    assert done.returncode == 0, f"savedesk {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def published_workspace(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """The workspace (built on first use in this test run, unless ``SAVEDESK_TEST_WORKSPACE`` names one)."""
    prebuilt = os.environ.get("SAVEDESK_TEST_WORKSPACE")
    if prebuilt:
        return Path(prebuilt)
    base = tmp_path_factory.getbasetemp()
    root = base if worker_id == "master" else base.parent  # xdist workers share their parent
    path, ready = root / "served-workspace", root / "served-workspace.ready"
    with (root / "served-workspace.lock").open("a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        if not ready.exists():
            env = {**os.environ, "OMP_WAIT_POLICY": "passive", "MLFLOW_DISABLE_TELEMETRY": "true",
                   "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1",
                   "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
                   "PREFECT_HOME": str(root / "served-prefect")}  # fmt: skip
            _run("simulate", "--data", str(path), "--accounts", "4000", "--months", "24", "--seed", "21", env=env)
            (path / "savedesk.toml").write_text(RELAXED_GATES)
            _run("train", "--data", str(path), env=env)
            _run("nightly", "--data", str(path), env=env)
            ready.touch()
    return path
