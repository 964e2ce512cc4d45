"""Every ``--json`` output is strict JSON (RFC 8259): a strict parser reads it, with ``null`` where a figure is missing.

Run on each workspace the tests build with models in it: the published one the
API and browser tests serve (trained, one night published), and the same
workspace without its optional ``save_attempts`` table (validation only: its
models were trained on features of that table, so they cannot be judged there). ``NaN`` and ``Infinity`` are what
Python's ``json`` writes by default; the strict parser refuses them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from published_workspace import published_workspace

SAVEDESK = str(Path(sys.executable).with_name("savedesk"))
COMMANDS = {"published": (("validate", "--json"), ("evaluate", "--json")),
            "without save_attempts": (("validate", "--json"),)}  # fmt: skip


def refuse(constant: str) -> None:
    raise ValueError(f"not strict JSON: {constant}")


def strict(text: str) -> object:
    """``text`` parsed by a strict JSON parser (no NaN, no Infinity)."""
    return json.loads(text, parse_constant=refuse)


@pytest.mark.slow
@pytest.mark.parametrize("kind", COMMANDS)
def test_every_json_output_parses_strictly_on_every_workspace(
    kind: str, tmp_path_factory: pytest.TempPathFactory, worker_id: str
) -> None:
    workspace = published_workspace(tmp_path_factory, worker_id)
    if kind == "without save_attempts":
        copy = tmp_path_factory.mktemp("no-attempts") / "workspace"
        shutil.copytree(workspace, copy, ignore=shutil.ignore_patterns("published", "reports", "clean", "rejects"))
        for path in (copy / "raw").glob("save_attempts.*"):
            path.unlink()
        workspace = copy
    env = {**os.environ, "OMP_WAIT_POLICY": "passive", "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "1"}
    for command in COMMANDS[kind]:
        done = subprocess.run([SAVEDESK, command[0], "--data", str(workspace), *command[1:]],  # noqa: S603
                              capture_output=True, text=True, timeout=600, env=env)  # fmt: skip
        assert done.returncode == 0, f"{command}: {done.stderr[-2000:]}"
        parsed = strict(done.stdout)
        assert isinstance(parsed, dict) and parsed, command
        assert "NaN" not in done.stdout and "Infinity" not in done.stdout
        if command[0] == "evaluate":
            assert isinstance(parsed["churn.auc"], float) and 0.5 < parsed["churn.auc"] <= 1.0
            assert all(isinstance(v, int | float | str) or v is None for v in parsed.values())


def test_the_strict_parser_refuses_what_python_writes_by_default() -> None:
    """Guard: the parser above can fail."""
    with pytest.raises(ValueError, match="NaN"):
        strict(json.dumps({"auc": float("nan")}))
