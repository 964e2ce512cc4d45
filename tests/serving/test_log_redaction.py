"""No PII, token or note reaches a log on any error path, on SQLite and PostgreSQL, in process and in a real server.

Every refusal the API and the page can give is provoked (401, 403, 404, 409, 413, 422 with a NUL byte, a store
error whose database message quotes the whole row, 503), each with a note naming the account's real contact, and
then the captured records (``caplog``) and the server's own log (``savedesk serve``'s output) are searched for
every PII value of the accounts table, every token and the note.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
import sqlalchemy as sa
from published_workspace import published_workspace
from served_app import Served, form_token, outcome, serve
from store_locks import sqlite_write_lock

import serving.store
from models.run_scan import find_strings
from sources.contract import PII_COLUMNS

pytestmark = pytest.mark.slow
Busy = Callable[[], contextlib.AbstractContextManager[Any]]
REFUSE, BUSY = "refuse-me", "busy-me"
"""Markers in a note that make the test database fail the insert: with a constraint error, or as a locked table."""


def arm(url: str) -> None:
    """Make the store fail inserts of marked notes, the way a real database error would (quoting the row)."""
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    with engine.begin() as connection:
        if url.startswith("sqlite"):
            connection.execute(
                sa.text(
                    f"CREATE TRIGGER refuse_marked BEFORE INSERT ON outcomes WHEN NEW.notes LIKE '%{REFUSE}%' "
                    "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
                )
            )
        else:
            connection.execute(
                sa.text(f"ALTER TABLE outcomes ADD CONSTRAINT refuse_marked CHECK (notes NOT LIKE '%{REFUSE}%')")
            )
            connection.execute(
                sa.text(
                    "CREATE FUNCTION busy_marked() RETURNS trigger AS $$ BEGIN "
                    f"IF NEW.notes LIKE '%{BUSY}%' THEN "
                    "RAISE EXCEPTION 'locked: %', NEW.notes USING ERRCODE = '55P03'; "
                    "END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
                )
            )
            connection.exec_driver_sql(
                "CREATE TRIGGER busy_marked BEFORE INSERT ON outcomes FOR EACH ROW EXECUTE FUNCTION busy_marked()"
            )
    engine.dispose()


def contact(served: Served) -> dict[str, str]:
    """The PII of the rep's account as the raw extract has it: what a rep might type into a note."""
    accounts = pd.read_parquet(served.workspace / "raw" / "accounts.parquet").set_index("account_id")
    row = accounts.loc[served.account]
    return {c: str(row[c]) for c in sorted(PII_COLUMNS) if c in accounts}


def needles(served: Served) -> list[str]:
    accounts = pd.read_parquet(served.workspace / "raw" / "accounts.parquet")
    pii = [str(v) for c in sorted(PII_COLUMNS) if c in accounts for v in accounts[c].dropna().unique()]
    return [v for v in pii if len(v) >= 6] + list(served.tokens.values())


def provoke(
    served: Served, client: httpx.Client, origin: str, busy: Busy | None, run: str
) -> tuple[str, dict[str, int]]:
    """Every error path of the API and the page, each carrying the account's PII.

    ``busy`` makes the store wait past its patience (None: no 503 is provoked); ``run`` prefixes the idempotency
    keys. Returns the note sent and each path's status (0 when the connection broke) under a label that starts
    with the status expected.
    """
    who = contact(served)
    note = "spoke to " + ", ".join(who.values())
    rep = served.headers("rep")
    seen: dict[str, int] = {}

    def call(label: str, method: str, url: str, **kw: Any) -> None:
        try:
            seen[label] = client.request(method, url, **kw).status_code
        except httpx.TransportError:
            seen[label] = 0

    def post(label: str, key: str, **fields: Any) -> None:
        body = outcome(fields.pop("account", served.account), **{"notes": note, **fields})
        call(label, "POST", "/api/v1/outcomes", json=body, headers={**rep, "Idempotency-Key": f"{run}-{key}"})

    call("401 none", "GET", "/api/v1/models")
    call("401 pii", "GET", "/api/v1/models", headers={"Authorization": f"Bearer {who['email']}"})
    call("404 other", "GET", f"/api/v1/accounts/{served.other_account}/plan", headers=rep)
    call("404 pii", "GET", f"/api/v1/accounts/{who['phone']}/plan", headers=rep)
    post("404 post", "r-404", account=served.other_account)
    post("201", "r-409")
    post("409", "r-409", accepted=False)
    call("413", "POST", "/api/v1/outcomes", content=note.encode() * 500, headers={**rep, "Idempotency-Key": "r-413"})
    post("422 nul", "r-nul", notes=note + "\x00")
    post("422 field", "r-422", credit_amount=-1)
    post("422 date", "r-date", call_date="0001-01-01")
    post("500 store", "r-500", notes=f"{note} {REFUSE}")
    if busy is not None:
        with busy():
            post("503 store", "r-503", notes=f"{note} {BUSY}")

    client.cookies.clear()
    call("401 page", "POST", "/sign-in", data={"token": who["contact_name"]})
    client.post("/sign-in", data={"token": served.tokens["rep"]}, headers={"Origin": origin})
    call("404 page", "GET", f"/accounts/{who['email']}")
    token = form_token(client.get(f"/accounts/{served.account}").text)
    form = {"offer": "flip", "rollback_pct": "0", "accepted": "false", "csrf_token": token, "notes": note}

    def submit(label: str, key: str, headers: dict[str, str] | None = None, **change: str) -> None:
        data, sent = {**form, "idempotency_key": f"{run}-{key}", **change}, {"Origin": origin, **(headers or {})}
        call(label, "POST", f"/accounts/{served.account}/outcome", data=data, headers=sent)

    submit("403 page", "p-403", {"Origin": "http://127.0.0.1:1"})
    submit("422 page nul", "p-nul", notes=note + "\x00")
    submit("413 page", "p-413", notes=note * 500)
    submit("500 page", "p-500", notes=f"{note} {REFUSE}")
    if busy is not None:
        with busy():
            submit("503 page", "p-503", notes=f"{note} {BUSY}")
    return note, seen


def expected(seen: dict[str, int]) -> dict[str, int]:
    return {label: int(label.split()[0]) for label in seen}


@pytest.fixture(scope="module")
def served(module_store_url: str, tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Iterator[Served]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(serving.store, "STORE_WAIT_SECONDS", 0.5)
        with serve(published_workspace(tmp_path_factory, worker_id), module_store_url,
                   raise_server_exceptions=False) as served:  # fmt: skip
            arm(module_store_url)
            yield served


def busy_for(url: str) -> Busy:
    """What makes a write wait past the store's patience: SQLite's lock; PostgreSQL's trigger needs nothing."""
    return partial(sqlite_write_lock, url) if url.startswith("sqlite") else contextlib.nullcontext


def test_no_error_path_logs_pii_a_token_or_a_note_in_process(served: Served, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    note, seen = provoke(served, served.client, "http://testserver", busy_for(served.outcomes_url), "in-process")
    server = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    logged = "\n".join(logging.Formatter("%(name)s %(levelname)s %(message)s").format(r) for r in server)
    assert find_strings([*needles(served), note], logged) == []
    assert seen == expected(seen)
    assert "outcomes store" in logged, "a store error is still logged, without its payload"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def real_server(workspace: Path, url: str, log: Path) -> Iterator[str]:
    """``savedesk serve`` over ``workspace`` and the store at ``url``, its output in ``log``; yields its base URL."""
    port = free_port()
    env = {**os.environ, "SAVEDESK_OUTCOMES_URL": url, "OMP_WAIT_POLICY": "passive", "MLFLOW_DISABLE_TELEMETRY": "true"}
    savedesk = str(Path(sys.executable).with_name("savedesk"))
    with log.open("wb") as out:
        process = subprocess.Popen([savedesk, "serve", "--data", str(workspace), "--port", str(port)],  # noqa: S603
                                   env=env, stdout=out, stderr=out)  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 180
            while True:
                assert process.poll() is None, log.read_text()[-3000:]
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                        break
                assert time.monotonic() < deadline, "savedesk serve did not answer within 180 s"
                time.sleep(0.3)
            yield base
        finally:
            process.terminate()
            process.wait(timeout=30)


def test_no_error_path_logs_pii_a_token_or_a_note_in_the_servers_own_log(served: Served, tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    # A real server's SQLite waits 30 s for a lock: there, the 503 is provoked in process only.
    busy = None if served.outcomes_url.startswith("sqlite") else contextlib.nullcontext
    with real_server(served.workspace, served.outcomes_url, log) as base, httpx.Client(base_url=base) as client:
        note, seen = provoke(served, client, base, busy, "server")
    logged = log.read_text(errors="replace")
    assert find_strings([*needles(served), note], logged) == [], logged[-3000:]
    assert seen == expected(seen)
