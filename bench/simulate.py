"""Benchmark: simulate a large hauler and write it, reporting time, peak memory and rows.

Usage: .venv/bin/python bench/simulate.py [--accounts 1000000] [--months 24] [--out bench/out/sim]

Not a test. The reference is the time of simply writing the same tables to
Parquet, measured in the same run, so the simulator's own cost is visible.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sources.simulator import SimulationConfig, simulate_hauler, write_hauler  # noqa: E402


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path("bench/out/simulate"))
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)

    started = time.perf_counter()
    hauler = simulate_hauler(SimulationConfig(accounts=args.accounts, months=args.months, seed=args.seed))
    simulated = time.perf_counter()
    write_hauler(hauler, args.out)
    written = time.perf_counter()
    reference = args.out / "reference"
    reference.mkdir()
    for name, table in hauler.raw.items():
        pq.write_table(table, reference / f"{name}.parquet", compression="zstd")
    reference_s = time.perf_counter() - written
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2

    print(f"accounts {args.accounts:,} x {args.months} months, seed {args.seed}")
    for name, rows in hauler.summary["rows"].items():
        print(f"  {name:<24}{rows:>14,}")
    print(f"  {'total rows':<24}{sum(hauler.summary['rows'].values()):>14,}")
    print(f"simulate   {simulated - started:8.1f} s")
    print(
        f"write      {written - simulated:8.1f} s   (reference: plain Parquet write of the tables {reference_s:.1f} s)"
    )
    print(f"total      {written - started:8.1f} s   (goal: 300 s)")
    print(f"peak RSS   {peak_gib:8.2f} GiB (goal: 8 GiB)")
    shutil.rmtree(reference)


if __name__ == "__main__":
    main()
