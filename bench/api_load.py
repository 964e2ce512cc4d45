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

import httpx
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipelines.settings import load_settings  # noqa: E402
from serving.auth import Role  # noqa: E402
from serving.live_plan import latest_published, night_context_file  # noqa: E402
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


class Client:
    """One rep's screen: a token, a territory's accounts, its own connection."""

    def __init__(self, base: str, token: str, rep: str, accounts: list[str], day: date, rate: float) -> None:
        self.base, self.rep, self.accounts, self.day, self.rate = base, rep, accounts, day, rate
        self.headers = {"Authorization": f"Bearer {token}"}
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.unexpected: Counter[str] = Counter()
        self.keys: list[str] = []
        self.retried = 0

    async def call(self, http: httpx.AsyncClient, op: str, method: str, url: str, expect: int, **kw: Any) -> None:
        start = time.perf_counter()
        try:
            response = await http.request(method, url, **kw)
            status = response.status_code
        except httpx.HTTPError as error:
            status = -1
            self.unexpected[f"{op}: {type(error).__name__}"] += 1
        self.latency[op].append(time.perf_counter() - start)
        if status != expect and status != -1:
            self.unexpected[f"{op}: {status}"] += 1

    async def run(self, until: float, seed: int) -> None:
        chance = random.Random(seed)  # noqa: S311 - a workload mix, not a secret
        names, weights = zip(*MIX, strict=True)
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=self.base, headers=self.headers, limits=limits, timeout=30) as http:
            next_at = time.perf_counter() + chance.random() / self.rate
            while time.perf_counter() < until:
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
                next_at += 1.0 / self.rate
                op = chance.choices(names, weights)[0]
                if op == "plan":
                    account = chance.choice(self.accounts)
                    await self.call(http, op, "GET", f"/api/v1/accounts/{account}/plan", 200)
                elif op == "list":
                    await self.call(http, op, "GET", f"/api/v1/lists/{self.day}", 200, params={"rep": self.rep})
                elif op == "health":
                    await self.call(http, op, "GET", "/api/v1/health", 200)
                else:
                    key = secrets.token_urlsafe(16)
                    body = {"account_id": chance.choice(self.accounts), "offer": chance.choice(OFFERS),
                            "accepted": chance.random() < 0.5, "notes": "bench call"}  # fmt: skip
                    self.keys.append(key)
                    await self.call(http, op, "POST", "/api/v1/outcomes", 201, json=body,
                                    headers={"Idempotency-Key": key})  # fmt: skip
                    if chance.random() < 0.10:
                        self.retried += 1
                        await self.call(http, "outcome_retry", "POST", "/api/v1/outcomes", 200, json=body,
                                        headers={"Idempotency-Key": key})  # fmt: skip


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
    day = latest_published(settings.published_dir)
    if day is None:
        raise SystemExit(f"nothing published in {settings.published_dir}: run make demo first")
    context = pd.read_parquet(night_context_file(settings, day), columns=["account_id", "territory"])
    by_territory = context.groupby("territory")["account_id"].apply(list).to_dict()
    folder = settings.published_dir / day.isoformat()
    listed = pd.concat([pd.read_parquet(folder / f) for f in ("inbound.parquet", "proactive.parquet")])
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
            clients = [Client(base, t, rep, by_territory[terr], day, args.rate) for t, rep, terr in tokens]
            wall = asyncio.run(load(clients, args.seconds))
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

    print(f"\nrequests: {total} in {wall:.1f} s = {total / wall:.0f} req/s "
          f"(access log lines: {len(access)})")  # fmt: skip
    print(f"{'endpoint':<16}{'n':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}")
    for op in ("plan", "health", "list", "outcome", "outcome_retry"):
        values = latency.get(op, [])
        print(f"{op:<16}{len(values):>7}{percentile(values, 50):>9.1f}{percentile(values, 95):>9.1f}"
              f"{percentile(values, 99):>9.1f}")  # fmt: skip
    print(f"\nunexpected statuses: {dict(unexpected) or 'none'}")
    print(f"outcomes: {len(keys)} keys sent ({sum(c.retried for c in clients)} retried), {len(written)} rows written;"
          f" every key exactly once: {once}")  # fmt: skip
    p95 = percentile(latency["plan"], 95)
    print(
        f"live plan p95 {p95:.1f} ms (target <= 100 ms): {'ok' if p95 <= 100 else 'MISSED'}; "
        f"median plan / median health = {statistics.median(latency['plan']) / statistics.median(latency['health']):.2f}"
    )
    if unexpected or not once or p95 > 100:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
