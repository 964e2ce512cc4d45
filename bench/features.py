"""Benchmark: savedesk's feature build beside DuckDB and polars-streaming references.

Usage::

    .venv/bin/python bench/features.py [--data bench/out/simulate] [--accounts 1000000]
        [--as-of 2026-06-30] [--repeat 3] [--sample 2000]
    .venv/bin/python bench/features.py --snapshots [--data bench/out/simulate-100k] [--accounts 100000] [--repeat 3]

Not a test. Each engine runs in its own process (so its peak RSS is its own),
``--repeat`` times, engines taking turns so that a noisy neighbour hurts all of
them alike; the figures are the median wall time and the largest peak RSS.
The references (``bench/feature_references.py``) compute the heavy per-account
aggregates straight from the clean Parquet files; on a sample of accounts the
three engines must agree on every column they share.

``--snapshots`` times the 12 latest month-end training snapshots whose churn
window lies inside the extract (``features.snapshots.snapshot``), beside the
references building the same 12 feature frames (without the labels).

A missing workspace is made first: ``savedesk simulate`` then ``savedesk validate``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

# The repository first, so that ``features`` is the package, not this script; bench/ stays on the path for
# ``feature_references``.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ENGINES = {
    "savedesk": "savedesk build_features",
    "duckdb": "DuckDB SQL (reference)",
    "polars": "polars streaming (reference)",
}
CHILD_ENV = {"OMP_WAIT_POLICY": "passive", "POLARS_MAX_THREADS": "2"}
GOAL_TIME_RATIO = 1.5
GOAL_PEAK_GIB = 1.5
SNAPSHOTS = 12
SEED = 13


def _peak_gib() -> float:
    """This process's peak RSS: VmHWM, which exec resets (ru_maxrss keeps the parent's peak across fork+exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024**2  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB on Linux


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _builder(engine: str, clean: Path) -> Any:
    """The engine's build for one as-of day, with its libraries imported before any clock starts."""
    if engine == "savedesk":
        from features.build import build_features
        from features.view import scan_tables

        return lambda as_of: build_features(scan_tables(clean), as_of)
    from feature_references import duckdb_features, polars_features

    if engine == "duckdb":
        import duckdb  # noqa: F401
        import pyarrow  # noqa: F401  (the result is fetched as Arrow)
    else:
        import polars  # noqa: F401
    build = duckdb_features if engine == "duckdb" else polars_features
    return lambda as_of: build(clean, as_of)


def _shape(frame: Any) -> tuple[int, int]:
    return (frame.num_rows, frame.num_columns) if hasattr(frame, "num_rows") else frame.shape


def _write(frame: Any, path: Path) -> None:
    if hasattr(frame, "write_parquet"):
        frame.write_parquet(path)
    else:
        import pyarrow.parquet as pq

        pq.write_table(frame, path)


def _snapshots(args: argparse.Namespace, clean: Path) -> dict[str, Any]:
    dates = [date.fromisoformat(d) for d in args.dates.split(",")]
    if args.engine == "savedesk":
        from features.snapshots import snapshot
        from features.view import scan_tables

        end = date.fromisoformat(args.extract_end)
        base, cpu, started = _peak_gib(), _cpu_seconds(), time.perf_counter()
        tables = scan_tables(clean)  # once, as pipelines.snapshots.write_snapshots does
        build = lambda as_of: snapshot(tables, as_of, end)  # noqa: E731
    else:
        build = _builder(args.engine, clean)
        base, cpu, started = _peak_gib(), _cpu_seconds(), time.perf_counter()
    seconds, shapes = [], []
    for as_of in dates:
        tick = time.perf_counter()
        shapes.append(_shape(build(as_of)))
        seconds.append(time.perf_counter() - tick)
    total, cpu = time.perf_counter() - started, _cpu_seconds() - cpu
    rows, columns = sum(r for r, _ in shapes), shapes[0][1]
    return {"seconds": total, "cpu": cpu, "per_snapshot": seconds, "base_gib": base, "rows": rows, "columns": columns}


def child(args: argparse.Namespace) -> None:
    """One engine, one process: build, then print its figures as one JSON line."""
    clean = args.data / "clean"
    if args.snapshots:
        print(json.dumps(_snapshots(args, clean) | {"peak_gib": _peak_gib()}))
        return
    build = _builder(args.engine, clean)
    base, cpu, started = _peak_gib(), _cpu_seconds(), time.perf_counter()
    frame = build(date.fromisoformat(args.as_of))
    seconds, cpu, peak = time.perf_counter() - started, _cpu_seconds() - cpu, _peak_gib()
    if args.out:
        _write(frame, args.out)  # after the peak is read: writing is not part of the build
    rows, columns = _shape(frame)
    figures = {"seconds": seconds, "cpu": cpu, "peak_gib": peak, "base_gib": base, "rows": rows, "columns": columns}
    print(json.dumps(figures))


def run_child(engine: str, args: argparse.Namespace, extra: list[str]) -> dict[str, Any]:
    """Run one engine in a fresh process and return its figures."""
    command = [sys.executable, __file__, "--child", engine, "--data", str(args.data), *extra]
    done = subprocess.run(command, env=os.environ | CHILD_ENV, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        sys.exit(f"{ENGINES[engine]} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def ensure_workspace(data: Path, accounts: int) -> None:
    """Simulate and validate ``data`` unless its clean tables are there already."""
    if (data / "clean" / "validation.json").is_file():
        return
    savedesk = str(Path(sys.executable).with_name("savedesk"))
    if not (data / "raw" / "extract.json").is_file():
        print(f"simulating {accounts:,} accounts into {data} …", flush=True)
        subprocess.run([savedesk, "simulate", "--data", str(data), "--accounts", str(accounts)], check=True)  # noqa: S603
    print(f"validating {data} …", flush=True)
    subprocess.run([savedesk, "validate", "--data", str(data)], check=True)  # noqa: S603


def describe(args: argparse.Namespace) -> None:
    """What is measured, on what, with which settings."""
    import pyarrow.parquet as pq
    from feature_references import duckdb_settings

    clean = args.data / "clean"
    rows = {p.stem: pq.ParquetFile(p).metadata.num_rows for p in sorted(clean.glob("*.parquet"))}
    print(f"workspace {clean}: " + ", ".join(f"{name} {n:,}" for name, n in rows.items()))
    print(f"machine: {len(os.sched_getaffinity(0))} cores, load average {os.getloadavg()[0]:.1f} at start")
    print(f"children: {' '.join(f'{k}={v}' for k, v in CHILD_ENV.items())}; DuckDB {duckdb_settings()}")


def measure(args: argparse.Namespace, extra: list[str], out: Path | None = None) -> dict[str, list[dict[str, Any]]]:
    """Every engine ``--repeat`` times, taking turns; the first run of each writes its frame to ``out``."""
    runs: dict[str, list[dict[str, Any]]] = {engine: [] for engine in ENGINES}
    for repeat in range(args.repeat):
        for engine in ENGINES:
            write = ["--out", str(out / f"{engine}.parquet")] if out is not None and repeat == 0 else []
            figures = run_child(engine, args, extra + write)
            runs[engine].append(figures)
            seconds, peak = figures["seconds"], figures["peak_gib"]
            print(f"  run {repeat + 1}/{args.repeat} {engine:<9}{seconds:8.1f} s {peak:6.2f} GiB", flush=True)
    return runs


def report(runs: dict[str, list[dict[str, Any]]], snapshots: bool = False) -> None:
    """The side-by-side table and savedesk against the faster reference and the goals."""
    median = {engine: statistics.median(r["seconds"] for r in rs) for engine, rs in runs.items()}
    cpu = {engine: statistics.median(r["cpu"] for r in rs) for engine, rs in runs.items()}
    peak = {engine: max(r["peak_gib"] for r in rs) for engine, rs in runs.items()}
    header = ["engine", "median s", "runs s", "CPU s", "peak RSS GiB", "of it imports", "rows", "columns"]
    widths = [30, 9, 22, 7, 13, 14, 11, 8]
    if snapshots:
        header, widths = [*header, "per-snapshot median s"], [*widths, 22]
    cells = (
        ("  " * (i == 2) + h).ljust(w) if i in (0, 2) else h.rjust(w)
        for i, (h, w) in enumerate(zip(header, widths, strict=True))
    )
    print("\n" + "".join(cells))
    for engine, rs in runs.items():
        cells = [
            ENGINES[engine].ljust(30),
            f"{median[engine]:9.1f}",
            "  " + " / ".join(f"{r['seconds']:.1f}" for r in rs).ljust(20),
            f"{cpu[engine]:7.1f}",
            f"{peak[engine]:13.2f}",
            f"{max(r['base_gib'] for r in rs):14.2f}",
            f"{rs[0]['rows']:11,}",
            f"{rs[0]['columns']:8}",
        ]
        if snapshots:
            cells.append(f"{statistics.median(s for r in rs for s in r['per_snapshot']):22.2f}")
        print("".join(cells))
    faster = min(("duckdb", "polars"), key=median.__getitem__)
    ratio, cpu_ratio = median["savedesk"] / median[faster], cpu["savedesk"] / cpu[faster]
    verdict = {True: "met", False: "MISSED"}
    print(
        f"savedesk time / faster reference ({ENGINES[faster]}): {ratio:.2f}x wall,"
        f" {cpu_ratio:.2f}x CPU (goal <= {GOAL_TIME_RATIO}x wall: {verdict[ratio <= GOAL_TIME_RATIO]})"
    )
    print(
        f"savedesk peak RSS: {peak['savedesk']:.2f} GiB"
        f" (goal <= {GOAL_PEAK_GIB} GiB: {verdict[peak['savedesk'] <= GOAL_PEAK_GIB]})"
    )


def agreement(out: Path, sample: int) -> None:
    """Compare the engines on a random sample of accounts: exact, or 1e-6 relative for floats."""
    import polars as pl

    frames = {engine: pl.read_parquet(out / f"{engine}.parquet") for engine in ENGINES}
    ids = {engine: set(frame["account_id"]) for engine, frame in frames.items()}
    for engine, own in ids.items():
        if own != ids["savedesk"]:
            print(
                f"ROWS DIFFER: {ENGINES[engine]} has {len(own - ids['savedesk']):,} accounts savedesk lacks,"
                f" lacks {len(ids['savedesk'] - own):,} it has"
            )
    shared = [c for c in frames["duckdb"].columns if c != "account_id" and all(c in f.columns for f in frames.values())]
    accounts = frames["savedesk"].select("account_id").sample(min(sample, frames["savedesk"].height), seed=SEED)
    joined = accounts
    for engine, frame in frames.items():
        joined = joined.join(
            frame.select("account_id", *(pl.col(c).alias(f"{c}@{engine}") for c in shared)), on="account_id", how="left"
        )
    problems = []
    for column in shared:
        values = [pl.col(f"{column}@{engine}") for engine in ENGINES]
        if frames["savedesk"][column].dtype.is_float():
            a, b = values[0], values[1:]
            same = [
                (a.is_null() & x.is_null()) | ((a - x).abs() <= 1e-6 * pl.max_horizontal(a.abs(), x.abs())) for x in b
            ]
        else:
            same = [values[0].cast(pl.String).eq_missing(x.cast(pl.String)) for x in values[1:]]
        bad = joined.filter(~pl.all_horizontal(s.fill_null(False) for s in same))
        if bad.height:
            problems.append((column, bad.select("account_id", *values)))
    if not problems:
        print(f"agreement: the three engines agree on {len(shared)} columns x {accounts.height:,} accounts")
        return
    print(f"agreement: {len(problems)} of {len(shared)} columns disagree on {accounts.height:,} sampled accounts")
    for column, bad in problems:
        print(
            f"  {column}: {bad.height} accounts (savedesk / duckdb / polars), first: "
            + "; ".join(f"{row[0]}: {row[1]} / {row[2]} / {row[3]}" for row in bad.head(3).iter_rows())
        )


def snapshot_dates(data: Path) -> tuple[list[date], date]:
    """The latest month ends whose churn window lies inside the extract, and its end."""
    from features.labels import DEFAULT_LABELS
    from features.snapshots import month_ends
    from sources.reader import read_extract

    extract = read_extract(data / "raw")
    if extract.end is None:
        sys.exit(f"{data / 'raw' / 'extract.json'} gives no end_date: the label windows need the extract's last day.")
    last = DEFAULT_LABELS.last_labelled_as_of(extract.end)
    dates = month_ends(extract.start or date(last.year - 2, 1, 1), last)[-SNAPSHOTS:]
    return dates, extract.end


def main() -> None:
    """Parse the arguments, then run as the benchmark or as one engine's child process."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="Workspace (default bench/out/simulate, or -100k with --snapshots).")
    parser.add_argument("--accounts", type=int, help="Accounts to simulate if the workspace is missing.")
    parser.add_argument("--as-of", default="2026-06-30")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sample", type=int, default=2_000, help="Accounts compared across engines.")
    parser.add_argument("--snapshots", action="store_true", help="Time 12 monthly training snapshots instead.")
    parser.add_argument("--child", dest="engine", choices=ENGINES, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--dates", help=argparse.SUPPRESS)
    parser.add_argument("--extract-end", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.engine:
        child(args)
        return
    default = ("bench/out/simulate-100k", 100_000) if args.snapshots else ("bench/out/simulate", 1_000_000)
    args.data = args.data or Path(default[0])
    ensure_workspace(args.data, args.accounts or default[1])
    describe(args)
    if args.snapshots:
        dates, end = snapshot_dates(args.data)
        print(
            f"{len(dates)} snapshots as of {dates[0]} … {dates[-1]} (extract end {end}), {args.repeat} runs each;"
            " references build the same feature frames without labels"
        )
        extra = ["--snapshots", "--dates", ",".join(d.isoformat() for d in dates), "--extract-end", end.isoformat()]
        report(measure(args, extra), snapshots=True)
    else:
        print(f"features as of {args.as_of}, {args.repeat} runs per engine")
        with tempfile.TemporaryDirectory(prefix="savedesk-bench-") as folder:
            report(measure(args, ["--as-of", args.as_of], Path(folder)))
            agreement(Path(folder), args.sample)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
