"""Load the API like a busy desk (not a test): 50 clients for 30 s on loopback, then check what was written.

Usage:
    .venv/bin/python bench/api_load.py [--data data/demo] [--clients 50] [--seconds 30] [--rate 8]

The server runs as ``savedesk serve`` in a child process on a free port, over
the workspace's models and published lists but a fresh outcomes store in a
temporary folder (the workspace's own ``outcomes.db`` is not touched). Each
client is a rep with their own token (``savedesk users add`` through the
store), dealt to the reps of the published lists, and sends up to ``--rate``
requests a second (under the server's rate limit per token, like a busy
screen): 80 % live plans of accounts of the rep's territory, 8 % reads of the
rep's list, 7 % outcome POSTs (each with a fresh idempotency key; 10 % of them
sent twice with the same key) and 5 % ``/api/v1/health`` (no work: the
reference for what the server and this client cost per request, measured in
the same run). The run starts once the server has planned its book ahead
(``plans_ready`` in the health answer).

Checks: no unexpected status (plans and lists 200, outcomes 201 then 200 on the
retry, health 200), every outcome key written exactly once (counted in the
store), and the p95 of the live plan against 100 ms. Prints p50/p95/p99 of the
plan beside health's, and the throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.settings import load_settings  # noqa: E402
from serving.auth import Role  # noqa: E402
from serving.publication.catalog import LIST_FILES  # noqa: E402
from serving.store import OutcomesStore  # noqa: E402

MIX = (("plan", 0.80), ("list", 0.08), ("outcome", 0.07), ("health", 0.05))
OFFERS = ("contract_education", "service_recovery", "right_size", "renewal_rate_lock", "flip")


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
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.unexpected: Counter[str] = Counter()
        self.keys: list[str] = []
        self.retried = 0

    async def call(self, op: str, method: str, path: str, expect: int, body: bytes = b"", **headers: str) -> None:
        start = time.perf_counter()
        try:
            status = await self.connection.request(method, path, body, headers)
        except (OSError, asyncio.IncompleteReadError, ValueError) as error:
            await self.connection.close()
            self.unexpected[f"{op}: {type(error).__name__}"] += 1
            return
        self.latency[op].append(time.perf_counter() - start)
        if status != expect:
            self.unexpected[f"{op}: {status}"] += 1

    async def run(self, until: float, seed: int) -> None:
        chance = random.Random(seed)  # noqa: S311 - a workload mix, not a secret
        names, weights = zip(*MIX, strict=True)
        next_at = time.perf_counter() + chance.random() / self.rate
        while time.perf_counter() < until:
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            next_at += 1.0 / self.rate
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
                await self.call(op, "POST", "/api/v1/outcomes", 201, body, **{"Idempotency-Key": key})
                if chance.random() < 0.10:
                    self.retried += 1
                    await self.call("outcome_retry", "POST", "/api/v1/outcomes", 200, body, **{"Idempotency-Key": key})
        await self.connection.close()


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


async def load(clients: list[Client], seconds: float) -> float:
    """Run every client for ``seconds``; returns the wall time."""
    start = time.perf_counter()
    await asyncio.gather(*(c.run(start + seconds, i) for i, c in enumerate(clients)))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "demo")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=8.0, help="requests a second per client (limit: 10)")
    parser.add_argument("--ready-timeout", type=float, default=900.0)
    args = parser.parse_args()

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

    with tempfile.TemporaryDirectory(prefix="savedesk-bench-api-") as scratch:
        url = f"sqlite:///{scratch}/outcomes.db"
        store = OutcomesStore.open(url, settings.nightly.time_zone)
        tokens = []
        for i in range(args.clients):
            rep, territory = reps[i % len(reps)]
            tokens.append((store.add_user(f"bench-{i:02d}", Role.REP, [territory], rep), rep, territory))
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {**os.environ, "SAVEDESK_OUTCOMES_URL": url, "OMP_WAIT_POLICY": "passive",
               "MLFLOW_DISABLE_TELEMETRY": "true"}  # fmt: skip
        command = [str(ROOT / ".venv" / "bin" / "savedesk"), "serve", "--data", str(args.data), "--port", str(port)]
        log = Path(scratch) / "server.log"
        with log.open("wb") as sink:
            server = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)  # noqa: S603
        try:
            started = time.monotonic()
            health = wait_ready(base, server, args.ready_timeout, log)
            print(f"server ready in {time.monotonic() - started:.0f} s: {health['plans_ready']} of "
                  f"{health['accounts']} accounts planned ahead; {args.clients} clients x {args.rate:g} req/s "
                  f"for {args.seconds:g} s")  # fmt: skip
            clients = [Client(port, t, rep, by_territory[terr], day, args.rate) for t, rep, terr in tokens]
            server_cpu, own_cpu, load_before = cpu_seconds(server.pid), time.process_time(), os.getloadavg()[0]
            wall = asyncio.run(load(clients, args.seconds))
            server_cpu, own_cpu = cpu_seconds(server.pid) - server_cpu, time.process_time() - own_cpu
            load_after = os.getloadavg()[0]
        finally:
            server.terminate()
            server.wait(timeout=30)
        written = store.outcomes()
        store.dispose()
        access = [line for line in log.read_text().splitlines() if "savedesk.access" in line]

    latency: dict[str, list[float]] = defaultdict(list)
    unexpected: Counter[str] = Counter()
    for c in clients:
        for op, values in c.latency.items():
            latency[op].extend(values)
        unexpected.update(c.unexpected)
    total = sum(len(v) for v in latency.values())
    keys = [k for c in clients for k in c.keys]
    per_key = written["idempotency_key"].value_counts()
    once = len(keys) == len(written) and set(keys) == set(per_key.index) and bool((per_key == 1).all())

    print(f"\nrequests: {total} in {wall:.1f} s = {total / wall:.0f} req/s (access log lines: {len(access)})")
    print(f"CPU: server {server_cpu:.1f} s = {1000 * server_cpu / total:.2f} ms a request "
          f"({100 * server_cpu / wall:.0f} % of a core); load generator {own_cpu:.1f} s; "
          f"machine load average {load_before:.1f} -> {load_after:.1f} on {os.cpu_count()} cores")  # fmt: skip
    print(f"{'endpoint':<16}{'n':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}")
    for op in ("plan", "health", "list", "outcome", "outcome_retry"):
        values = latency.get(op, [])
        print(f"{op:<16}{len(values):>7}{percentile(values, 50):>9.1f}{percentile(values, 95):>9.1f}"
              f"{percentile(values, 99):>9.1f}")  # fmt: skip
    print(f"\nunexpected statuses: {dict(unexpected) or 'none'}")
    print(f"outcomes: {len(keys)} keys sent ({sum(c.retried for c in clients)} retried), {len(written)} rows written;"
          f" every key exactly once: {once}")  # fmt: skip
    p95 = percentile(latency["plan"], 95)
    ratio = statistics.median(latency["plan"]) / statistics.median(latency["health"])
    print(
        f"live plan p95 {p95:.1f} ms (target <= 100 ms): {'ok' if p95 <= 100 else 'MISSED'}; "
        f"median plan / median health = {ratio:.2f}"
    )
    if unexpected or not once or p95 > 100:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
