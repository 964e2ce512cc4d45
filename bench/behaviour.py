"""What savedesk does, as a fingerprint: the published day, ``savedesk evaluate --json`` and the API's answers.

A refactor must leave all three identical. Run it on a workspace that ``make demo`` published::

    .venv/bin/python bench/behaviour.py --data data/demo --write bench/behaviour-demo.json   # before
    .venv/bin/python bench/behaviour.py --data data/demo --check bench/behaviour-demo.json   # after

It only goes through the ``savedesk`` command and HTTP (``savedesk serve`` on a free port, users made with
``savedesk users add`` in a throw-away outcomes store), so it runs unchanged on any version of the code.

- **Published**: the sha256 of every file of the latest published date; ``manifest.json`` without ``created_at``.
- **Evaluate**: ``savedesk evaluate --data DIR --json``, parsed (run ids and timings are dropped).
- **API**: a fixed set of requests (health, models, lists as a manager and as a rep, filtered lists, live plans
  of listed and unlisted accounts, the rep pages, refusals: 401, 403, 404, 422, an outcome and its replay),
  each answer's status and body.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

BIN = Path(sys.executable).parent
VOLATILE = {"created_at", "run_id", "seconds", "elapsed", "duration_seconds", "plans_ready"}
"""Keys whose values change run to run: a timestamp, a run id, a timing, how far the server's warm-up has got."""


def published(data: Path) -> dict[str, Any]:
    """sha256 of every file of the latest published date (the manifest without ``created_at``)."""
    root = data / "published"
    day = max(p.name for p in root.iterdir() if not p.name.startswith("."))
    folder = (root / day).resolve()
    out: dict[str, Any] = {"business_date": day}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        rel = path.relative_to(folder).as_posix()
        if rel == "manifest.json":
            manifest = json.loads(path.read_text())
            manifest.pop("created_at", None)
            out[rel] = manifest
        else:
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _scrub(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def evaluate(data: Path) -> Any:
    """``savedesk evaluate --json``, parsed, without run ids and timings."""
    done = subprocess.run(  # noqa: S603 - our own command
        [str(BIN / "savedesk"), "evaluate", "--data", str(data), "--json"], capture_output=True, text=True, check=True
    )
    text = done.stdout[done.stdout.index("{") :]
    return _scrub(json.loads(text.replace("NaN", "null")))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _add_user(data: Path, env: dict[str, str], name: str, *args: str) -> str:
    done = subprocess.run(  # noqa: S603 - our own command
        [str(BIN / "savedesk"), "users", "add", name, "--data", str(data), *args],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return done.stdout.strip().split()[-1]


def api(data: Path) -> dict[str, Any]:
    """The answers of a fixed set of requests to ``savedesk serve`` over the workspace."""
    folder = (data / "published" / published(data)["business_date"]).resolve()
    day = folder.name.split(".v-")[0].lstrip(".")
    listed = pd.concat(
        [pd.read_parquet(folder / f) for f in ("inbound.parquet", "flips.parquet", "proactive.parquet")],
        ignore_index=True,
    )
    territories = listed.groupby("territory").size().sort_values(ascending=False, kind="stable").index.tolist()
    territory, other = str(territories[0]), str(territories[1])
    mine = listed[listed["territory"] == territory]
    rep = str(mine["rep_id"].iloc[0])
    context = pd.read_parquet(data / "features" / "nightly" / f"as_of={day}.parquet")
    unlisted = sorted(set(context["account_id"]) - set(listed["account_id"]))
    asked = listed[listed["request_id"].notna()].sort_values("list_key")
    accounts = sorted(set(asked["account_id"].head(10)) | set(listed.sort_values("list_key")["account_id"].head(10)))
    accounts += unlisted[:: max(1, len(unlisted) // 10)][:10]
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "SAVEDESK_OUTCOMES_URL": f"sqlite:///{tmp}/outcomes.db"}
        tokens = {
            "manager": _add_user(data, env, "maya", "--role", "manager"),
            "rep": _add_user(data, env, "rita", "--role", "rep", "--territory", territory, "--rep-id", rep),
        }
        port = _free_port()
        server = subprocess.Popen(  # noqa: S603 - our own command
            [str(BIN / "savedesk"), "serve", "--data", str(data), "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            return _ask(f"http://127.0.0.1:{port}", tokens, day, territory, other, rep, accounts, mine)
        finally:
            server.terminate()
            server.wait(timeout=30)


def _ask(
    base: str,
    tokens: dict[str, str],
    day: str,
    territory: str,
    other: str,
    rep: str,
    accounts: list[str],
    mine: pd.DataFrame,
) -> dict[str, Any]:
    client = httpx.Client(base_url=base, timeout=60)
    deadline = time.monotonic() + 180
    while True:
        try:
            if client.get("/api/v1/health").status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("savedesk serve did not answer in 180 s")
        time.sleep(0.5)
    auth = {who: {"Authorization": f"Bearer {token}"} for who, token in tokens.items()}
    asks: list[tuple[str, str, str, dict[str, Any] | None, dict[str, str]]] = [
        ("health", "GET", "/api/v1/health", None, {}),
        ("no token", "GET", f"/api/v1/lists/{day}", None, {}),
        ("models", "GET", "/api/v1/models", None, auth["manager"]),
        ("lists manager", "GET", f"/api/v1/lists/{day}", None, auth["manager"]),
        ("lists rep", "GET", f"/api/v1/lists/{day}", None, auth["rep"]),
        ("lists rep own", "GET", f"/api/v1/lists/{day}?rep={rep}", None, auth["rep"]),
        ("lists territory", "GET", f"/api/v1/lists/{day}?territory={territory}", None, auth["manager"]),
        ("lists other territory", "GET", f"/api/v1/lists/{day}?territory={other}", None, auth["rep"]),
        ("lists no day", "GET", "/api/v1/lists/2001-01-01", None, auth["manager"]),
        ("unknown account", "GET", "/api/v1/accounts/NO-SUCH-ACCOUNT/plan", None, auth["manager"]),
    ]
    asks += [(f"plan {a}", "GET", f"/api/v1/accounts/{a}/plan", None, auth["manager"]) for a in accounts]
    account = str(mine["account_id"].iloc[0])
    request_id = mine["request_id"].dropna()
    outcome = {
        "account_id": account,
        "request_id": None if request_id.empty else str(request_id.iloc[0]),
        "call_date": day,
        "offer": "contract_education",
        "accepted": True,
    }
    key = {"Idempotency-Key": "behaviour-0001"}
    asks += [
        ("outcome", "POST", "/api/v1/outcomes", outcome, {**auth["rep"], **key}),
        ("outcome replay", "POST", "/api/v1/outcomes", outcome, {**auth["rep"], **key}),
        ("outcome invalid", "POST", "/api/v1/outcomes", {"account_id": account}, {**auth["rep"], **key}),
    ]
    answers: dict[str, Any] = {}
    for name, method, path, body, headers in asks:
        response = client.request(method, path, json=body, headers=headers)
        answers[name] = _answer(response)
    pages = httpx.Client(base_url=base, timeout=60, follow_redirects=True)
    pages.post("/sign-in", data={"token": tokens["rep"]})
    answers["page list"] = _answer(pages.get("/list"))
    answers["page account"] = _answer(pages.get(f"/accounts/{account}"))
    return answers


def _answer(response: httpx.Response) -> dict[str, Any]:
    kind = response.headers.get("content-type", "")
    if "json" in kind:
        body: Any = _scrub(response.json())
    else:  # a form's idempotency key is new on every render
        page = re.sub(rb'name="idempotency_key" value="[^"]*"', b'name="idempotency_key"', response.content)
        body = hashlib.sha256(page).hexdigest()
    return {"status": response.status_code, "body": body}


def fingerprint(data: Path) -> dict[str, Any]:
    """The three parts, as one JSON-ready dict."""
    return {"published": published(data), "evaluate": evaluate(data), "api": api(data)}


def _differences(before: Any, after: Any, where: str = "") -> list[str]:
    if isinstance(before, dict) and isinstance(after, dict):
        out = []
        for key in sorted(set(before) | set(after)):
            if key not in after:
                out.append(f"{where}/{key}: missing now")
            elif key not in before:
                out.append(f"{where}/{key}: new")
            else:
                out += _differences(before[key], after[key], f"{where}/{key}")
        return out
    if before != after:
        return [f"{where}: {str(before)[:120]} -> {str(after)[:120]}"]
    return []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("data/demo"))
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--write", type=Path, help="record the fingerprint in this file")
    group.add_argument("--check", type=Path, help="compare with the fingerprint recorded in this file")
    args = parser.parse_args()
    now = json.loads(json.dumps(fingerprint(args.data), sort_keys=True, default=str))
    if args.write:
        args.write.write_text(json.dumps(now, indent=1, sort_keys=True) + "\n")
        print(f"recorded {args.write}: {len(now['published'])} published entries, {len(now['api'])} API answers")
        return 0
    before = _scrub(json.loads(args.check.read_text()))
    differences = _differences(before, now)
    for part in ("published", "evaluate", "api"):
        mine = [d for d in differences if d.startswith(f"/{part}")]
        print(f"{part:10s} {'identical' if not mine else f'{len(mine)} differences'}")
    for line in differences[:40]:
        print("  ", line)
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
