"""``savedesk deploy`` before it registers anything: which server it talks to, and a clear refusal when none answers.

Each case runs the command in a fresh process with its own ``PREFECT_HOME``, since
the flow tests' Prefect harness sets an API URL for this whole test process.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from pipelines.display import prefect_ui_hint
from pipelines.settings import PrefectSettings, load_settings


def closed_port() -> int:
    """A local port nobody listens on (bound then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def deploy(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SAVEDESK_"))}
    clean |= {"PREFECT_HOME": str(tmp_path / "prefect"), "COLUMNS": "200", **env}
    command = [sys.executable, "-m", "pipelines.cli", "deploy", "--register-only", "--data", str(tmp_path / "ws")]
    return subprocess.run(command, env=clean, capture_output=True, text=True, timeout=120, check=False)


def test_without_any_api_url_it_says_how_to_start_a_server(tmp_path: Path) -> None:
    result = deploy(tmp_path)
    assert result.returncode == 2
    assert "No Prefect server to register with" in result.stderr


def test_a_url_in_prefects_profile_is_used_and_a_silent_server_is_named(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/api"
    (tmp_path / "prefect").mkdir()
    profile = f'active = "desk"\n[profiles.desk]\nPREFECT_API_URL = "{url}"\n'
    (tmp_path / "prefect" / "profiles.toml").write_text(profile)
    result = deploy(tmp_path)
    assert result.returncode == 2
    assert f"No Prefect server answers at {url}" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_savedesk_setting_names_the_server_too(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{closed_port()}/api"
    result = deploy(tmp_path, SAVEDESK_PREFECT__API_URL=url)
    assert result.returncode == 2
    assert f"No Prefect server answers at {url}" in result.stderr


def test_the_nightly_points_at_the_running_servers_ui(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    served = load_settings(tmp_path, prefect=PrefectSettings(api_url="http://prefect.internal:4200/api"))
    assert prefect_ui_hint(served) == "http://prefect.internal:4200"
    temporary = load_settings(tmp_path)
    assert "prefect server start" in prefect_ui_hint(temporary)
