"""Benchmark: ``savedesk validate`` beside the feature build on the same data, and sharded against one pass.

Usage::

    .venv/bin/python bench/validation_bench.py --data data/scale/m1 [--shards 8] [--threads 2] [--repeat 3]
        [--one-pass] [--out bench/out/validation]
    .venv/bin/python bench/validation_bench.py --data data/h20f/b200k --compare [--shards 8] [--spoil 0.001]

Not a test. ``--data`` is a workspace whose ``raw/`` holds an extract (``savedesk simulate --data DIR
--accounts 1000000 --months 24 --seed 7``); nothing is written into it: the outputs go to ``--out``.

Timing: each stage runs in its own process (so its peak RSS, VmHWM, is its own), ``--repeat`` times, the
stages taking turns so that a noisy neighbour hurts all of them alike; the figures are the median wall time
and the largest peak. The stages: ``validate`` (in ``--shards`` account shards on ``--threads`` threads,
``clean/<table>/<shard>.parquet``), ``features`` (``build_features`` over those clean tables as of the
extract's end, as ``bench/features.py`` times it), and with ``--one-pass`` the one-pass validation
(``shards`` 1). The goal: validate at most 1.5 x the feature build.

``--compare`` validates once in one pass and once in shards and checks that the outcomes are the same: the
report (paths aside), every rejects file row for row, every clean table's rows as a set (sorted by key).
``--spoil`` first copies the extract into ``--out/raw`` with that share of rows spoiled in ways that reach
past a shard and ways that do not (``spoil``), so that the quarantine is compared too.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

GOAL_RATIO = 1.5
CHILD_ENV = {"OMP_WAIT_POLICY": "passive", "POLARS_MAX_THREADS": "2"}


def _peak_gib() -> float:
    """This process's peak RSS: VmHWM, which exec resets (ru_maxrss keeps the parent's peak across fork+exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024**2
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def _validate(data: Path, out: Path, shards: int, threads: int) -> Any:
    from sources.folders import WorkspaceFolders
    from sources.validation import validate_workspace

    folders = WorkspaceFolders(raw=data / "raw", clean=out / "clean", rejects=out / "rejects")
    if shards == 1:
        return validate_workspace(folders)
    with ThreadPoolExecutor(threads) as runner:
        return validate_workspace(folders, shards=shards, runner=runner)


def _extract_end(data: Path) -> date:
    return date.fromisoformat(json.loads((data / "raw" / "extract.json").read_text(encoding="utf-8"))["end_date"])


def child(args: argparse.Namespace) -> None:
    """One stage, one process: run it, then print its figures as one JSON line."""
    import pandera.pandas  # noqa: F401 - imported before the clock starts, as a running service has it

    if args.child == "features":
        from features.build import build_features
        from features.view import scan_tables

        started = time.perf_counter()
        frame = build_features(scan_tables(args.out / "sharded" / "clean"), _extract_end(args.data))
        figures = {"rows": frame.height}
    else:
        shards = 1 if args.child == "one-pass" else args.shards
        started = time.perf_counter()
        report = _validate(args.data, args.out / args.child.replace("validate", "sharded"), shards, args.threads)
        figures = {"rows": sum(t.rows_read for t in report.tables), "fatal": report.fatal}
    print(json.dumps(figures | {"seconds": time.perf_counter() - started, "peak_gib": _peak_gib()}))


def run_child(stage: str, args: argparse.Namespace) -> dict[str, Any]:
    """Run one stage in a fresh process and return its figures."""
    command = [sys.executable, __file__, "--child", stage, "--data", str(args.data), "--out", str(args.out),
               "--shards", str(args.shards), "--threads", str(args.threads)]  # fmt: skip
    done = subprocess.run(command, env=os.environ | CHILD_ENV, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        sys.exit(f"{stage} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def timing(args: argparse.Namespace) -> None:
    """Every stage ``--repeat`` times, taking turns; medians side by side."""
    stages = ["validate", "features", *(["one-pass"] if args.one_pass else [])]
    runs: dict[str, list[dict[str, Any]]] = {stage: [] for stage in stages}
    print(f"machine: {len(os.sched_getaffinity(0))} cores, load average {os.getloadavg()[0]:.1f} at start")
    for repeat in range(args.repeat):
        for stage in stages:
            runs[stage].append(run_child(stage, args))
            seconds, peak = runs[stage][-1]["seconds"], runs[stage][-1]["peak_gib"]
            print(f"  run {repeat + 1} {stage:<9} {seconds:7.1f} s  {peak:5.2f} GiB", flush=True)
    median = {stage: statistics.median(run["seconds"] for run in found) for stage, found in runs.items()}
    peak = {stage: max(run["peak_gib"] for run in found) for stage, found in runs.items()}
    rows = runs["validate"][0]["rows"]
    print(f"\n{rows:,} raw rows; validate in {args.shards} account shards on {args.threads} threads;"
          f" medians of {args.repeat}; load average {os.getloadavg()[0]:.1f} at the end")  # fmt: skip
    print(f"{'stage':<34}{'wall s':>8}{'peak GiB':>10}")
    names = {"validate": f"validate ({args.shards} shards)", "features": "feature build (same clean data)",
             "one-pass": "validate (one pass, shards 1)"}  # fmt: skip
    for stage in stages:
        print(f"{names[stage]:<34}{median[stage]:>8.1f}{peak[stage]:>10.2f}")
    ratio = median["validate"] / median["features"]
    verdict = "meets" if ratio <= GOAL_RATIO else "misses"
    print(f"validate / features: {ratio:.2f} x ({verdict} the goal of at most {GOAL_RATIO} x)")


def spoil(raw: Path, out: Path, share: float, seed: int = 3) -> dict[str, int]:
    """Copy an extract with ``share`` of some tables' rows spoiled; returns the rows spoiled per kind.

    Within an account: negative invoice amounts, unknown streams, contact dates after the extract's end, event
    lines that do not exist. Across accounts: invoice ids reused by another account, rate changes on another
    account's line, save attempts on another account's request.
    """
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    out.mkdir(parents=True)
    for path in raw.iterdir():
        if path.suffix != ".parquet":
            shutil.copy(path, out / path.name)
    tables = {path.stem: pd.read_parquet(path) for path in raw.glob("*.parquet")}
    done: dict[str, int] = {}

    def rows(table: str) -> Any:
        count = max(1, int(len(tables[table]) * share))
        done[table] = done.get(table, 0) + count
        return rng.choice(len(tables[table]), count, replace=False)

    invoices, lines, changes = tables["invoices"], tables["service_lines"], tables["rate_changes"]
    invoices.loc[rows("invoices"), "amount"] = -5.0
    invoices.loc[rows("invoices"), "invoice_id"] = invoices["invoice_id"].to_numpy()[rows("invoices")]
    lines.loc[rows("service_lines"), "stream"] = "glass"
    moved = rows("rate_changes")
    changes.loc[moved, "line_id"] = lines["line_id"].to_numpy()[rng.integers(0, len(lines), len(moved))]
    tables["contacts"].loc[rows("contacts"), "contact_date"] = pd.Timestamp("2099-01-01")
    tables["service_events"].loc[rows("service_events"), "line_id"] = "L-nowhere"
    attempts, requests = tables["save_attempts"], tables["cancellation_requests"]
    moved = rows("save_attempts")
    attempts.loc[moved, "request_id"] = requests["request_id"].to_numpy()[rng.integers(0, len(requests), len(moved))]
    for name, frame in tables.items():
        frame.to_parquet(out / f"{name}.parquet", index=False)
    return done


def compare(args: argparse.Namespace) -> None:
    """Validate in one pass and in shards; print whether report, rejects and clean rows are the same."""
    import pandas as pd

    from sources.contract import TABLES, table_info

    one, sharded = args.out / "one-pass", args.out / "sharded"
    data = args.data
    if args.spoil:
        data = args.out / "spoiled"
        spoiled = spoil(args.data / "raw", data / "raw", args.spoil)
        print("spoiled rows: " + ", ".join(f"{name} {count:,}" for name, count in spoiled.items()))
    timings = {}
    for folder, shards in ((one, 1), (sharded, args.shards)):
        started = time.perf_counter()
        outcome = _validate(data, folder, shards, args.threads)
        print(f"  {folder.name}: {sum(t.rows_rejected for t in outcome.tables):,} rows quarantined", flush=True)
        timings[folder.name] = time.perf_counter() - started
    print(f"one pass {timings['one-pass']:.1f} s; {args.shards} shards on {args.threads} threads"
          f" {timings['sharded']:.1f} s")  # fmt: skip

    def report(folder: Path) -> dict[str, Any]:
        text = (folder / "clean" / "validation.json").read_text(encoding="utf-8")
        return json.loads(text.replace(str(folder), "OUT"))

    def clean(folder: Path, table: str) -> pd.DataFrame | None:
        files = [folder / "clean" / f"{table}.parquet"] + sorted((folder / "clean" / table).glob("*.parquet"))
        frames = [pd.read_parquet(path) for path in files if path.is_file()]
        if not frames:
            return None
        return pd.concat(frames, ignore_index=True).sort_values(table_info(table).key, ignore_index=True)

    differences = [] if report(one) == report(sharded) else ["validation.json"]
    for table in TABLES:
        paths = [folder / "rejects" / f"{table}.parquet" for folder in (one, sharded)]
        found = [pd.read_parquet(path) if path.is_file() else None for path in paths]
        if not _same(*found):
            differences.append(f"rejects/{table}.parquet")
        if not _same(clean(one, table), clean(sharded, table)):
            differences.append(f"clean/{table}")
        print(f"  {table:<24} checked", flush=True)
    print("identical: report, rejects, clean rows" if not differences else f"DIFFERENT: {', '.join(differences)}")
    if differences:
        sys.exit(1)


def _same(left: Any, right: Any) -> bool:
    import pandas as pd

    if left is None or right is None:
        return left is None and right is None
    try:
        pd.testing.assert_frame_equal(left, right)
    except AssertionError:
        return False
    return True


def main() -> None:
    """Parse the options and run the timing or the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="A workspace with raw/ (only read).")
    parser.add_argument("--out", type=Path, default=Path("bench/out/validation"))
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--one-pass", action="store_true", help="Also time the one-pass validation.")
    parser.add_argument("--compare", action="store_true", help="Check one pass and shards give the same outcome.")
    parser.add_argument("--spoil", type=float, default=0.0, help="With --compare: share of rows to spoil first.")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    compare(args) if args.compare else timing(args)


if __name__ == "__main__":
    main()
