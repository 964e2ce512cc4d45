"""Load the API like a busy desk (not a test): 50 clients for 30 s on loopback, then check what was written.

Usage:
    .venv/bin/python bench/api_load.py [--data data/demo] [--clients 50] [--seconds 30] [--rate 8]
        [--store sqlite|postgres] [--postgres URL] [--kill-once] [--kill-at SECONDS]

The server runs as ``savedesk serve`` in a child process on a free port, over
the workspace's models and published lists but a fresh outcomes store: a SQLite
file in a temporary folder, or with ``--store postgres`` a throwaway database
made on the PostgreSQL server at ``--postgres`` and dropped afterwards (the
workspace's own ``outcomes.db`` is not touched). Each
client is a rep with their own token (``savedesk users add`` through the
store), dealt to the reps of the published lists, and sends up to ``--rate``
requests a second (under the server's rate limit per token, like a busy
screen): 80 % live plans of accounts of the rep's territory, 8 % reads of the
rep's list, 7 % outcome POSTs (each with a fresh idempotency key; 10 % of them
sent twice with the same key) and 5 % ``/api/v1/health`` (no work: the
reference for what the server and this client cost per request, measured in
the same run). The run starts once the server has planned its book ahead
(``plans_ready`` in the health answer).

``--kill-once`` kills the server with SIGKILL ``--kill-at`` seconds into the run
(default: a third of it) and starts it again on the same port at once. A client
whose request fails on the connection (reset, refused, cut short) sends the
same request again, the same idempotency key included, until it gets an answer
(backing off up to 1 s; giving up 120 s after the run's end); an outcome sent
again after a lost answer may get 201 or 200 (its first attempt may have been
committed). The latencies are those of the attempt that was answered.

Checks: no unexpected status (plans and lists 200, outcomes 201 then 200 on the
retry, health 200); no connection error unless the server was killed; every
outcome the server acknowledged (2xx) in the store exactly once, and nothing in
the store that was not acknowledged; and without ``--kill-once`` the p95 of the
live plan against 100 ms (after a kill the restarted server plans on demand
until it has planned ahead again, so that p95 is printed, not judged). Prints
p50/p95/p99 of every endpoint, the throughput, the outage and the store counts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pandas as pd
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.settings import load_settings  # noqa: E402
from serving.auth import Role  # noqa: E402
from serving.publication.catalog import LIST_FILES  # noqa: E402
from serving.store import OutcomesStore  # noqa: E402

MIX = (("plan", 0.80), ("list", 0.08), ("outcome", 0.07), ("health", 0.05))
OFFERS = ("contract_education", "service_recovery", "right_size", "renewal_rate_lock", "flip")
CONNECTION_ERRORS = (OSError, asyncio.IncompleteReadError, ValueError, IndexError, TimeoutError)
"""What a request gets when the server dies under it (reset, refused, a response cut short) or hangs."""
REQUEST_TIMEOUT = 30.0
"""Seconds an attempt may wait for its answer before it counts as lost and is sent again."""
GIVE_UP = 120.0
"""Seconds after the run's end a client stops re-sending a request that gets no answer."""


def free_port() -> int:
    """A port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) in ms."""
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))] if ordered else float("nan")


class Connection:
    """One keep-alive HTTP/1.1 connection on asyncio streams.

    Far lighter than a full HTTP client, so the machine's cores go to the server under test.
    """

    def __init__(self, host: str, port: int, token: str) -> None:
        self.host, self.port, self.token = host, port, token
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> int:
        """Send one request and read the whole response; returns its status."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Authorization: Bearer {self.token}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body:
            lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        assert self.reader is not None  # noqa: S101 - opened above
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length, closing = 0, False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
            elif name.strip().lower() == b"connection" and value.strip().lower() == b"close":
                closing = True
        await self.reader.readexactly(length)
        if closing:
            await self.close()
        return status

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None


class Client:
    """One rep's screen: a token, a territory's accounts, its own connection."""

    def __init__(self, port: int, token: str, rep: str, accounts: list[str], day: date, rate: float) -> None:
        self.connection = Connection("127.0.0.1", port, token)
        self.rep, self.accounts, self.day, self.rate = rep, accounts, day, rate
        self.latency: dict[str, list[tuple[float, float]]] = defaultdict(list)
        """(when answered, seconds) of each answered attempt, by endpoint."""
        self.unexpected: Counter[str] = Counter()
        self.statuses: Counter[str] = Counter()
        self.lost: Counter[str] = Counter()
        """Attempts that failed on the connection and were sent again, by endpoint and error."""
        self.keys: list[str] = []
        self.acknowledged: list[str] = []
        """Idempotency keys the server answered 2xx."""
        self.retried = 0
        self.give_up = math.inf

    async def call(self, op: str, method: str, path: str, expect: int, body: bytes = b"", **headers: str) -> int | None:
        """Send one request until it is answered (the same bytes each time); returns its status (None: gave up)."""
        lost = 0
        while True:
            start = time.perf_counter()
            try:
                request = self.connection.request(method, path, body, headers)
                status = await asyncio.wait_for(request, REQUEST_TIMEOUT)
            except CONNECTION_ERRORS as error:
                await self.connection.close()
                self.lost[f"{op}: {type(error).__name__}"] += 1
                if time.perf_counter() > self.give_up:
                    self.unexpected[f"{op}: no answer"] += 1
                    return None
                await asyncio.sleep(min(1.0, 0.05 * 2**lost))
                lost += 1
                continue
            answered = time.perf_counter()
            self.latency[op].append((answered, answered - start))
            self.statuses[f"{op} {status}"] += 1
            # A POST whose answer was lost may have been committed: its next attempt is then a replay.
            allowed = {expect, 200} if lost and expect == 201 else {expect}
            if status not in allowed:
                self.unexpected[f"{op}: {status}"] += 1
            return status

    async def run(self, until: float, seed: int) -> None:
        chance = random.Random(seed)  # noqa: S311 - a workload mix, not a secret
        names, weights = [n for n, _ in MIX], [w for _, w in MIX]
        next_at = time.perf_counter() + chance.random() / self.rate
        self.give_up = until + GIVE_UP
        while time.perf_counter() < until:
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            next_at = max(next_at + 1.0 / self.rate, time.perf_counter())  # no burst to catch up after an outage
            op = chance.choices(names, weights)[0]
            if op == "plan":
                await self.call(op, "GET", f"/api/v1/accounts/{chance.choice(self.accounts)}/plan", 200)
            elif op == "list":
                await self.call(op, "GET", f"/api/v1/lists/{self.day}?rep={quote(self.rep)}", 200)
            elif op == "health":
                await self.call(op, "GET", "/api/v1/health", 200)
            else:
                key = secrets.token_urlsafe(16)
                body = json.dumps({"account_id": chance.choice(self.accounts), "offer": chance.choice(OFFERS),
                                   "accepted": chance.random() < 0.5, "notes": "bench call"}).encode()  # fmt: skip
                self.keys.append(key)
                status = await self.call(op, "POST", "/api/v1/outcomes", 201, body, **{"Idempotency-Key": key})
                if status is not None and 200 <= status < 300:
                    self.acknowledged.append(key)
                if chance.random() < 0.10:
                    self.retried += 1
                    await self.call("outcome_retry", "POST", "/api/v1/outcomes", 200, body, **{"Idempotency-Key": key})
        await self.connection.close()


class Server:
    """``savedesk serve`` in a child process, which can be killed and started again on the same port."""

    def __init__(self, command: list[str], env: dict[str, str], log: Path) -> None:
        self.command, self.env, self.log = command, env, log
        self.process: subprocess.Popen[bytes] | None = None
        self.cpu_before = 0.0
        """CPU seconds of the processes killed so far."""
        self.starts = 0

    def start(self) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(self.command, env=self.env, stdout=sink, stderr=subprocess.STDOUT)  # noqa: S603
        self.starts += 1
        return self.process

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush, no goodbye to the clients."""
        assert self.process is not None  # noqa: S101 - started first
        self.cpu_before += cpu_seconds(self.process.pid)
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def cpu(self) -> float:
        """CPU seconds of every process started so far."""
        assert self.process is not None  # noqa: S101 - started first
        return self.cpu_before + cpu_seconds(self.process.pid)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


@contextlib.contextmanager
def throwaway_postgres(server_url: str) -> Iterator[str]:
    """A new, empty database on the PostgreSQL server at ``server_url`` (its URL), dropped afterwards."""
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    name = f"savedesk_bench_{secrets.token_hex(6)}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_ready(base: str, server: subprocess.Popen[bytes], timeout: float, log: Path) -> dict[str, Any]:
    """Wait for the server to answer and to have planned its book ahead."""
    start, health = time.monotonic(), {}
    while time.monotonic() - start < timeout:
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            health = httpx.get(f"{base}/api/v1/health", timeout=5).json()
            if health["plans_ready"] >= health["accounts"] > 0:
                return health
        except httpx.HTTPError:
            pass
        time.sleep(1)
    print(f"warning: the server had planned {health.get('plans_ready')} of {health.get('accounts')} accounts ahead")
    return health


async def load(clients: list[Client], seconds: float, server: Server, kill_at: float | None) -> tuple[float, float]:
    """Run every client for ``seconds``, killing and restarting the server ``kill_at`` seconds in.

    Returns:
        The wall time, and when the server was killed (``time.perf_counter``; NaN when it was not).
    """
    start = time.perf_counter()
    runs = [asyncio.create_task(c.run(start + seconds, i)) for i, c in enumerate(clients)]
    killed = math.nan
    if kill_at is not None:
        await asyncio.sleep(kill_at)
        killed = time.perf_counter()
        server.kill()
        server.start()
    await asyncio.gather(*runs)
    return time.perf_counter() - start, killed


def stored_keys(url: str) -> Counter[str]:
    """Outcome rows by idempotency key in the store at ``url``."""
    engine = sa.create_engine(url, poolclass=sa.NullPool)
    try:
        with engine.connect() as connection:
            keys: list[Any] = list(connection.execute(sa.text("SELECT idempotency_key FROM outcomes")).scalars())
            return Counter(str(k) for k in keys)
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "demo")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=8.0, help="requests a second per client (limit: 10)")
    parser.add_argument("--ready-timeout", type=float, default=900.0)
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    default_postgres = os.environ.get("SAVEDESK_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--postgres", default=default_postgres, help="server for --store postgres (trust auth)")
    parser.add_argument("--kill-once", action="store_true", help="SIGKILL the server once mid-run and restart it")
    parser.add_argument("--kill-at", type=float, default=None, help="seconds into the run (default: a third)")
    args = parser.parse_args()
    kill_at = (args.seconds / 3 if args.kill_at is None else args.kill_at) if args.kill_once else None

    settings = load_settings(args.data)
    catalog = settings.catalog
    day = catalog.latest()
    if day is None:
        raise SystemExit(f"nothing published in {catalog.folder}: run make demo first")
    context = pd.read_parquet(catalog.context(day), columns=["account_id", "territory"])
    by_territory = context.groupby("territory")["account_id"].apply(list).to_dict()
    folder = catalog.link(day)
    listed = pd.concat([pd.read_parquet(folder / LIST_FILES[n]) for n in ("inbound", "proactive")])
    reps = listed[["rep_id", "territory"]].drop_duplicates().sort_values(["territory", "rep_id"]).to_numpy().tolist()

    with contextlib.ExitStack() as stack:
        scratch = stack.enter_context(tempfile.TemporaryDirectory(prefix="savedesk-bench-api-"))
        if args.store == "postgres":
            url = stack.enter_context(throwaway_postgres(args.postgres))
        else:
            url = f"sqlite:///{scratch}/outcomes.db"
        store = OutcomesStore.open(url, settings.nightly.time_zone)
        tokens = []
        for i in range(args.clients):
            rep, territory = reps[i % len(reps)]
            tokens.append((store.add_user(f"bench-{i:02d}", Role.REP, [territory], rep), rep, territory))
        store.dispose()
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {**os.environ, "SAVEDESK_OUTCOMES_URL": url, "OMP_WAIT_POLICY": "passive",
               "MLFLOW_DISABLE_TELEMETRY": "true"}  # fmt: skip
        command = [str(ROOT / ".venv" / "bin" / "savedesk"), "serve", "--data", str(args.data), "--port", str(port)]
        log = Path(scratch) / "server.log"
        server = Server(command, env, log)
        try:
            started = time.monotonic()
            health = wait_ready(base, server.start(), args.ready_timeout, log)
            print(f"server ready in {time.monotonic() - started:.0f} s: {health['plans_ready']} of "
                  f"{health['accounts']} accounts planned ahead; {args.clients} clients x {args.rate:g} req/s "
                  f"for {args.seconds:g} s; store: {args.store}"
                  + (f"; SIGKILL at {kill_at:g} s, then restart" if kill_at is not None else ""))  # fmt: skip
            clients = [Client(port, t, rep, by_territory[terr], day, args.rate) for t, rep, terr in tokens]
            server_cpu, own_cpu, load_before = server.cpu(), time.process_time(), os.getloadavg()[0]
            wall, killed = asyncio.run(load(clients, args.seconds, server, kill_at))
            server_cpu, own_cpu = server.cpu() - server_cpu, time.process_time() - own_cpu
            load_after = os.getloadavg()[0]
        finally:
            server.stop()
        written = stored_keys(url)
        access = [line for line in log.read_text().splitlines() if "savedesk.access" in line]

    ok = report(clients, written, wall, killed, args.kill_once)
    print(f"CPU: server {server_cpu:.1f} s ({100 * server_cpu / wall:.0f} % of a core); load generator "
          f"{own_cpu:.1f} s; machine load average {load_before:.1f} -> {load_after:.1f} on {os.cpu_count()} cores; "
          f"access log lines: {len(access)}")  # fmt: skip
    if not ok:
        raise SystemExit(1)


def report(clients: list[Client], written: Counter[str], wall: float, killed: float, kill_once: bool) -> bool:
    """Print the figures; True when every check passed."""
    latency: dict[str, list[tuple[float, float]]] = defaultdict(list)
    unexpected: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    lost: Counter[str] = Counter()
    for c in clients:
        for op, values in c.latency.items():
            latency[op].extend(values)
        unexpected.update(c.unexpected)
        statuses.update(c.statuses)
        lost.update(c.lost)
    total = sum(len(v) for v in latency.values())
    print(f"\nrequests answered: {total} in {wall:.1f} s = {total / wall:.0f} req/s; "
          f"attempts lost on the connection and sent again: {sum(lost.values())}")  # fmt: skip
    print(f"statuses: {dict(sorted(statuses.items()))}")
    if lost:
        print(f"lost attempts: {dict(sorted(lost.items()))}")
    if not math.isnan(killed):
        # The first attempt sent after the kill and answered: the new server's (the old one answered none of them).
        after = [t for values in latency.values() for t, took in values if t - took > killed]
        print(f"killed (SIGKILL) and restarted; first answer from the new server {min(after) - killed:.1f} s later"
              if after else "killed; the restarted server never answered")  # fmt: skip
    print(f"{'endpoint':<16}{'n':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}")
    for op in ("plan", "health", "list", "outcome", "outcome_retry"):
        took = [s for _, s in latency.get(op, [])]
        print(f"{op:<16}{len(took):>7}{percentile(took, 50):>9.1f}{percentile(took, 95):>9.1f}"
              f"{percentile(took, 99):>9.1f}")  # fmt: skip
    print(f"\nunexpected statuses: {dict(unexpected) or 'none'}")
    keys = [k for c in clients for k in c.keys]
    acknowledged = {k for c in clients for k in c.acknowledged}
    missing = sorted(k for k in acknowledged if written[k] == 0)
    twice = sorted(k for k in acknowledged if written[k] > 1)
    unacknowledged = sorted(set(written) - acknowledged)
    print(f"outcomes: {len(keys)} keys sent ({sum(c.retried for c in clients)} sent twice on purpose), "
          f"{len(acknowledged)} acknowledged (2xx), {sum(written.values())} rows stored; acknowledged and stored "
          f"exactly once: {len(acknowledged) - len(missing) - len(twice)}; missing: {len(missing)}; stored twice or "
          f"more: {len(twice)}; stored but never acknowledged: {len(unacknowledged)}")  # fmt: skip
    ok = not unexpected and not missing and not twice and not unacknowledged and len(acknowledged) == len(keys)
    if lost and not kill_once:
        print("connection errors without a kill")
        ok = False
    plan = [s for _, s in latency["plan"]]
    p95 = percentile(plan, 95)
    ratio = statistics.median(plan) / statistics.median([s for _, s in latency["health"]])
    before = [s for t, s in latency["plan"] if math.isnan(killed) or t < killed]
    verdict = ("ok" if p95 <= 100 else "MISSED") if not kill_once else "not judged after a kill"
    killed_too = f"; before the kill {percentile(before, 95):.1f} ms" if kill_once else ""
    print(f"live plan p95 {p95:.1f} ms (target <= 100 ms): {verdict}{killed_too}; "
          f"median plan / median health = {ratio:.2f}")  # fmt: skip
    return ok and (kill_once or p95 <= 100)


if __name__ == "__main__":
    main()
