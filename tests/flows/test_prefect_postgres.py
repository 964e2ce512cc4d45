"""The production path of the schedules: a real ``prefect server start`` on PostgreSQL, ``savedesk deploy``.

A throwaway database on the local PostgreSQL server (the one of
``SAVEDESK_TEST_POSTGRES_URL``, default trust auth on 127.0.0.1:5432, database
``test``, user ``postgres`` or ``root``; created per session, dropped
``WITH (FORCE)`` afterwards) backs a ``prefect server start`` on a free port
with its own ``PREFECT_HOME``. Every Prefect process runs as a subprocess with
an environment built here from scratch (no ``PREFECT_*`` or ``SAVEDESK_*``
inherited), so the session's ``prefect_test_harness`` neither reaches them nor
is touched by them; this module does not start the harness at all (it
overrides ``prefect_server`` with a no-op for its own tests only).

The test registers the three deployments (``savedesk deploy --register-only``),
reads them back through the REST API, then runs ``savedesk deploy`` as an
operator would (it stays up and executes the deployments), asks the server for
one run of ``savedesk-nightly/nightly`` on a copy of the trained workspace and
checks in PostgreSQL itself that the run, its state history and its task runs
are stored there, COMPLETED. A server that silently fell back to SQLite fails:
no ``prefect.db`` may appear, and the database must hold Prefect's tables.

As with the serving tests, the production path is tested, not assumed: when no
PostgreSQL server answers the test fails, saying why, unless
``SAVEDESK_SKIP_POSTGRES=1`` says this machine has none (then it is skipped).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from sqlalchemy.engine import URL

from tests.postgres import postgres_admin_url

BIN = Path(sys.executable).parent  # the repository's .venv/bin when run as .venv/bin/pytest
SERVER_STARTUP_SECONDS = 180  # 20-40 s on a busy machine, 10-15 s on a quiet one
RUN_SECONDS = 300
EXPECTED = {  # deployment -> (flow, cron) with the default settings, in America/Chicago
    "nightly": ("savedesk-nightly", "0 2 * * *"),
    "weekly": ("savedesk-train", "0 4 * * 0"),
    "business-hours": ("savedesk-intraday", "0 9-17 * * 1-5"),
}
PREFECT_TABLES = {"alembic_version", "flow", "flow_run", "flow_run_state", "task_run", "deployment",
                  "deployment_schedule"}  # fmt: skip
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    """No test harness here: this module's Prefect clients and server are subprocesses with their own settings."""
    yield


def subprocess_env(**values: str) -> dict[str, str]:
    """This process's environment without any Prefect or savedesk setting, plus ``values``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SAVEDESK_"))}
    env |= {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1", "MLFLOW_DISABLE_TELEMETRY": "true"}
    return env | values


@dataclass
class Background:
    """A subprocess in its own process group, its output in a log file."""

    process: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def start(cls, command: list[str], env: dict[str, str], log: Path, cwd: Path) -> Background:
        with log.open("wb") as out:
            process = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                       start_new_session=True)  # fmt: skip
        return cls(process, log)

    def tail(self, lines: int = 40) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """SIGTERM to the whole group (the server's and the runner's children too), SIGKILL if it lingers."""
        for sig, wait in ((signal.SIGTERM, 30), (signal.SIGKILL, 10)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.process.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        try:  # children that outlived the leader
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@dataclass
class PrefectOnPostgres:
    """A ``prefect server start`` on a throwaway PostgreSQL database."""

    server: Background
    home: Path
    api_url: str
    database: str
    """psycopg conninfo of the throwaway database."""

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + SERVER_STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.server.process.poll() is not None:
                pytest.fail(f"prefect server start exited with {self.server.process.returncode}:\n{self.server.tail()}")
            try:
                if httpx.get(f"{self.api_url}/health", timeout=2).json() is True:
                    return
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.5)
        pytest.fail(f"no answer from {self.api_url}/health in {SERVER_STARTUP_SECONDS} s:\n{self.server.tail()}")

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = httpx.request(method, f"{self.api_url}{path}", json=body, timeout=30)
        response.raise_for_status()
        return response.json()

    def query(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database, connect_timeout=5) as connection:
            return connection.execute(sql, params).fetchall()


@pytest.fixture(scope="session")
def prefect_database() -> Iterator[URL]:
    """A new, empty PostgreSQL database for this session's Prefect server (its SQLAlchemy URL), dropped afterwards."""
    admin = postgres_admin_url().set(drivername="postgresql")  # plain postgresql:// for psycopg.connect
    name = f"savedesk_prefect_{uuid.uuid4().hex}"
    conninfo = admin.render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.set(database=name)
    finally:
        with psycopg.connect(conninfo, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def prefect_on_postgres(prefect_database: URL, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectOnPostgres]:
    """``prefect server start`` on the throwaway database; started, not awaited (it starts while models train)."""
    home = tmp_path_factory.mktemp("prefect-server-home")
    port = _free_port()
    asyncpg = prefect_database.set(drivername="postgresql+asyncpg", query={}).render_as_string(hide_password=False)
    env = subprocess_env(PREFECT_HOME=str(home), PREFECT_API_DATABASE_CONNECTION_URL=asyncpg, TMPDIR=str(home))
    command = [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    server = Background.start(command, env, home / "server.log", cwd=home)
    database = prefect_database.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        yield PrefectOnPostgres(server, home, f"http://127.0.0.1:{port}/api", database)
    finally:
        server.stop()


def _run_to_the_end(prefect: PrefectOnPostgres, flow_run_id: str, runner: Background) -> str:
    deadline = time.monotonic() + RUN_SECONDS
    state = "?"
    while time.monotonic() < deadline:
        state = str(prefect.api("GET", f"/flow_runs/{flow_run_id}")["state_type"])
        if state in TERMINAL:
            return state
        if runner.process.poll() is not None:
            pytest.fail(f"savedesk deploy exited with {runner.process.returncode}:\n{runner.tail()}")
        time.sleep(1)
    pytest.fail(f"flow run {flow_run_id} still {state} after {RUN_SECONDS} s:\n{runner.tail()}")


def _assert_stored_as_completed(prefect: PrefectOnPostgres, flow_run_id: str, deployment: str, data: Path) -> None:
    """In PostgreSQL itself: the run, of the nightly deployment, on ``data``, Running then Completed, its tasks too."""
    ((state_type, state_name, deployment_id, parameters, flow_name),) = prefect.query(
        "SELECT r.state_type::text, r.state_name, r.deployment_id::text, r.parameters, f.name "
        "FROM flow_run r JOIN flow f ON f.id = r.flow_id WHERE r.id = %s",
        flow_run_id,
    )
    assert (state_type, state_name, flow_name) == ("COMPLETED", "Completed", "savedesk-nightly")
    assert (deployment_id, parameters) == (deployment, {"data": str(data)})
    history = [t for (t,) in prefect.query(
        "SELECT type::text FROM flow_run_state WHERE flow_run_id = %s ORDER BY timestamp", flow_run_id
    )]  # fmt: skip
    assert history[-1] == "COMPLETED" and "RUNNING" in history, history
    tasks = dict(prefect.query("SELECT state_type::text, count(*) FROM task_run WHERE flow_run_id = %s "
                               "GROUP BY 1", flow_run_id))  # fmt: skip
    assert set(tasks) == {"COMPLETED"} and tasks["COMPLETED"] >= 10, tasks


@pytest.mark.slow
def test_savedesk_schedules_run_on_a_prefect_server_backed_by_postgresql(
    prefect_on_postgres: PrefectOnPostgres, trained: Path, tmp_path: Path
) -> None:
    prefect = prefect_on_postgres
    data = tmp_path / "hauler"
    shutil.copytree(trained, data, ignore=shutil.ignore_patterns("published", "prefect"))
    client_env = subprocess_env(PREFECT_API_URL=prefect.api_url, TMPDIR=str(tmp_path))  # PREFECT_HOME: savedesk's
    savedesk = str(BIN / "savedesk")
    prefect.wait_healthy()

    # Registration: the three deployments, read back from the server, are rows of the PostgreSQL database.
    registered = subprocess.run([savedesk, "deploy", "--data", str(data), "--register-only"], env=client_env,
                                cwd=tmp_path, capture_output=True, text=True, timeout=180)  # fmt: skip
    assert registered.returncode == 0, registered.stdout + registered.stderr
    flows = {f["id"]: f["name"] for f in prefect.api("POST", "/flows/filter", {})}
    deployments = {d["name"]: d for d in prefect.api("POST", "/deployments/filter", {})}
    assert set(deployments) == set(EXPECTED)
    for name, (flow_name, cron) in EXPECTED.items():
        deployment = deployments[name]
        assert flows[deployment["flow_id"]] == flow_name
        assert deployment["parameters"] == {"data": str(data.resolve())}
        (schedule,) = deployment["schedules"]
        assert schedule["active"] is True
        assert (schedule["schedule"]["cron"], schedule["schedule"]["timezone"]) == (cron, "America/Chicago")
    stored = prefect.query("SELECT d.id::text, d.name, s.schedule FROM deployment d "
                           "JOIN deployment_schedule s ON s.deployment_id = d.id")  # fmt: skip
    assert {(i, n, s["cron"], s["timezone"]) for i, n, s in stored} == {
        (d["id"], n, EXPECTED[n][1], "America/Chicago") for n, d in deployments.items()
    }

    # Execution: `savedesk deploy` stays up and runs what the server asks of the nightly deployment.
    nightly = deployments["nightly"]["id"]
    runner = Background.start([savedesk, "deploy", "--data", str(data)],
                              client_env | {"PREFECT_RUNNER_POLL_FREQUENCY": "1"},  # pick the run up within 1 s
                              tmp_path / "deploy.log", cwd=tmp_path)  # fmt: skip
    try:
        deadline = time.monotonic() + SERVER_STARTUP_SECONDS
        while prefect.api("GET", f"/deployments/{nightly}")["status"] != "READY":  # the runner polls for it
            assert runner.process.poll() is None, f"savedesk deploy exited:\n{runner.tail()}"
            assert time.monotonic() < deadline, f"the nightly deployment never became READY:\n{runner.tail()}"
            time.sleep(0.5)
        flow_run_id = str(prefect.api("POST", f"/deployments/{nightly}/create_flow_run", {})["id"])
        assert _run_to_the_end(prefect, flow_run_id, runner) == "COMPLETED", runner.tail()
        # Read while the runner is up: Prefect 3.9's runner, stopped while a finished run's process is still
        # exiting, force-cancels that run (seen here: COMPLETED overwritten by CANCELLED 3 s after the SIGTERM).
        _assert_stored_as_completed(prefect, flow_run_id, nightly, data.resolve())
    finally:
        runner.stop()
    # A stopped `savedesk deploy` pauses its deployments (no runs pile up as Late; registering again resumes them).
    assert all(d["paused"] for d in prefect.api("POST", "/deployments/filter", {}))
    (day,) = [p for p in (data / "published").iterdir() if not p.name.startswith(".")]  # the version's link
    assert json.loads((day / "manifest.json").read_text())["models"]["churn"]["alias"] == "champion"

    # Not SQLite in disguise: Prefect's tables are in this database, and no prefect.db appeared anywhere.
    tables = {t for (t,) in prefect.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    assert tables >= PREFECT_TABLES, PREFECT_TABLES - tables
    assert len(prefect.query("SELECT version_num FROM alembic_version")) == 1
    for home in (prefect.home, data / "prefect"):
        assert not list(home.rglob("prefect.db*")), sorted(home.rglob("*"))
