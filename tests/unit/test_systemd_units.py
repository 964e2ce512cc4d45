"""The service units of ``deploy/systemd`` (issue 19, build 6): each one's command, arguments and environment file
resolve in this checkout, ``systemd-analyze verify`` accepts them, and the API server started exactly as its unit
starts it answers /health and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from pipelines.settings import Settings

ROOT = Path(__file__).parents[2]
UNITS = ROOT / "deploy" / "systemd"
INSTALLED = {"/opt/savedesk": ROOT, "/etc/savedesk": UNITS}
"""Where the README installs the checkout and the environment files → where they are in this checkout."""
SERVICES = ("savedesk-api", "savedesk-prefect-server", "savedesk-worker")


def unit(name: str) -> dict[str, dict[str, list[str]]]:
    """A unit file's sections, each key's values in order (systemd allows a key more than once)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for line in (UNITS / f"{name}.service").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None and "=" in line, line
        key, value = line.split("=", 1)
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def here(path: str) -> Path:
    """An installed path as it is in this checkout."""
    for installed, local in INSTALLED.items():
        if path == installed:
            return local
        if path.startswith(installed + "/"):
            return local / path[len(installed) + 1 :]
    raise AssertionError(f"{path} is outside the documented install locations {sorted(INSTALLED)}")


def environment(path: Path, *, examples: bool = False) -> dict[str, str]:
    """An environment file's variables (with ``examples``, also those in comments of the form ``# KEY=value``)."""
    found = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if examples and line.startswith("# ") and "=" in line and line[2:].split("=", 1)[0].isupper():
            line = line[2:]
        if line and not line.startswith("#"):
            key, value = line.split("=", 1)
            found[key] = value
    return found


def command(name: str) -> list[str]:
    """The unit's ExecStart as this checkout runs it."""
    (start,) = unit(name)["Service"]["ExecStart"]
    program, *args = start.split()
    return [str(here(program)), *args]


@pytest.mark.parametrize("name", SERVICES)
def test_a_unit_runs_a_command_of_this_checkout_with_an_environment_file_it_ships(name: str) -> None:
    sections = unit(name)
    assert {"Unit", "Service", "Install"} <= set(sections)
    service = sections["Service"]
    program = Path(command(name)[0])
    assert program.is_file() and os.access(program, os.X_OK), program
    (env_file,) = service["EnvironmentFile"]
    assert here(env_file).is_file() and here(env_file).name == f"{name}.env"
    assert here(service["WorkingDirectory"][0]) == ROOT
    assert service["Restart"] == ["on-failure"] and sections["Install"]["WantedBy"] == ["multi-user.target"]


@pytest.mark.slow
@pytest.mark.parametrize("name", SERVICES)
def test_a_units_arguments_are_ones_its_command_takes(name: str) -> None:
    # --help after them shows the command's help, not an error (about 10 s each: the command loads Prefect).
    shown = subprocess.run([*command(name), "--help"], capture_output=True, text=True, timeout=120, cwd=ROOT)  # noqa: S603
    assert shown.returncode == 0, shown.stderr[-2000:]
    assert "Usage" in shown.stdout or "usage" in shown.stdout


@pytest.mark.parametrize("name", SERVICES)
def test_every_variable_an_environment_file_names_is_a_setting(name: str) -> None:
    import prefect.settings

    for key in environment(UNITS / f"{name}.env", examples=True):
        if key.startswith("SAVEDESK_"):
            part, *inner = key.removeprefix("SAVEDESK_").lower().split("__")
            assert part in Settings.model_fields, key
            if inner:
                nested = Settings.model_fields[part].annotation
                assert nested is not None and inner[0] in nested.model_fields, key  # type: ignore[union-attr]
        elif key.startswith("PREFECT_"):
            assert hasattr(prefect.settings, key), key
        else:
            assert key in ("OMP_WAIT_POLICY", "MLFLOW_DISABLE_TELEMETRY", "DO_NOT_TRACK"), key


def test_the_worker_starts_after_the_prefect_server_and_points_at_it() -> None:
    worker = unit("savedesk-worker")
    assert "savedesk-prefect-server.service" in " ".join(worker["Unit"]["After"])
    server_args = command("savedesk-prefect-server")
    port = server_args[server_args.index("--port") + 1]
    assert environment(UNITS / "savedesk-worker.env")["PREFECT_API_URL"] == f"http://127.0.0.1:{port}/api"
    assert environment(UNITS / "savedesk-prefect-server.env")["PREFECT_API_DATABASE_CONNECTION_URL"].startswith(
        "postgresql+asyncpg://"
    )


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_systemd_analyze_verifies_the_units(tmp_path: Path) -> None:
    for name in SERVICES:
        text = (UNITS / f"{name}.service").read_text()
        for installed, local in INSTALLED.items():
            text = text.replace(installed + "/", f"{local}/")
        (tmp_path / f"{name}.service").write_text(text)
    checked = subprocess.run(  # noqa: S603
        ["systemd-analyze", "verify", "--man=no", *(str(tmp_path / f"{n}.service") for n in SERVICES)],  # noqa: S607
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    assert "Unknown" not in checked.stderr and "not executable" not in checked.stderr, checked.stderr


def _systemd_runs_here() -> bool:
    try:
        return Path("/proc/1/comm").read_text().strip() == "systemd" and shutil.which("systemctl") is not None
    except OSError:
        return False


@pytest.mark.skipif(
    not _systemd_runs_here(),
    reason="systemd is not PID 1 on this machine (a container): units cannot be started with systemctl here; "
    "test_the_api_server_starts_as_its_unit_starts_it_and_stops_on_sigterm runs its command instead",
)
def test_systemctl_starts_and_stops_the_api_unit(tmp_path: Path) -> None:
    name = "savedesk-api-test"
    target = Path("/run/systemd/system") / f"{name}.service"
    text = (UNITS / "savedesk-api.service").read_text()
    for installed, local in INSTALLED.items():
        text = text.replace(installed + "/", f"{local}/")
    target.write_text(text.replace("User=savedesk\n", "").replace("Group=savedesk\n", ""))
    try:
        subprocess.run(["systemctl", "daemon-reload"], check=True, timeout=60)  # noqa: S607
        subprocess.run(["systemctl", "start", name], check=True, timeout=120)  # noqa: S607
        assert subprocess.run(["systemctl", "is-active", name], timeout=30).returncode == 0  # noqa: S607
        subprocess.run(["systemctl", "stop", name], check=True, timeout=120)  # noqa: S607
    finally:
        target.unlink(missing_ok=True)
        subprocess.run(["systemctl", "daemon-reload"], timeout=60)  # noqa: S607


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.slow
def test_the_api_server_starts_as_its_unit_starts_it_and_stops_on_sigterm(
    tmp_path_factory: pytest.TempPathFactory, worker_id: str
) -> None:
    sys.path.insert(0, str(ROOT / "tests" / "serving"))
    from published_workspace import published_workspace  # the API tests' workspace (built once per run)

    workspace = published_workspace(tmp_path_factory, worker_id)
    scratch = tmp_path_factory.mktemp("unit-api")
    port = _free_port()
    # The unit's environment file, pointed at the test's workspace, a free port and an outcomes store of its own.
    store = f"sqlite:///{scratch / 'outcomes.db'}"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(scratch),
           **environment(UNITS / "savedesk-api.env"), "SAVEDESK_DATA": str(workspace),
           "SAVEDESK_SERVING__PORT": str(port), "SAVEDESK_OUTCOMES_URL": store}  # fmt: skip
    server = subprocess.Popen(  # noqa: S603
        command("savedesk-api"), cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline, answer = time.monotonic() + 120, None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=5) as reply:  # noqa: S310
                    answer = json.loads(reply.read())
                    break
            except OSError:
                time.sleep(0.5)
        assert answer is not None, f"no answer on /api/v1/health (exit code {server.poll()})"
        published = max(p.name for p in (workspace / "published").iterdir() if not p.name.startswith("."))
        assert answer["status"] == "ok" and answer["business_date"] == published
        server.send_signal(signal.SIGTERM)
        said, _ = server.communicate(timeout=30)
        # uvicorn shuts down (requests in flight finish), then ends by the signal it caught: systemd counts an exit
        # by SIGTERM as a clean stop (SuccessExitStatus), as it does exit code 0.
        assert server.returncode in (0, -signal.SIGTERM), said[-3000:]
        assert "Application shutdown complete" in said and "Finished server process" in said, said[-3000:]
        assert "Traceback" not in said and "ERROR" not in said, said[-3000:]
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate(timeout=30)
