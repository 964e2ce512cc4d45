"""Fuzz the reader and validation longer than ``make test`` does: at least 500 random extracts.

Each extract is drawn by ``tests/data/fuzz_extracts.py`` (random column types, encodings, date formats, UTC
offsets, empty and header-only tables, missing optional tables, junk values) and must end in a report, never an
exception, with rows read = rows kept + rows rejected per table. Prints how many extracts ran, how long they took,
and how they ended (fatal, with quarantined rows, clean), beside the test's default count.

Usage::

    .venv/bin/python bench/reader_fuzz.py [--examples 500] [--seed N]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, seed, settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "data"))

from fuzz_extracts import Extract, extracts, run_extract  # noqa: E402
from test_reader_fuzz import FUZZ_EXAMPLES  # noqa: E402


def main() -> None:
    """Run the property on ``--examples`` extracts and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=500)
    parser.add_argument("--seed", type=int, default=None, help="Hypothesis seed (default: random).")
    args = parser.parse_args()
    outcomes: Counter[str] = Counter()
    shapes: set[tuple[Any, ...]] = set()

    @settings(
        max_examples=args.examples,
        deadline=None,
        database=None,
        phases=[Phase.generate],  # report a failure as drawn: shrinking these extracts takes minutes
        suppress_health_check=list(HealthCheck),
    )
    @given(extract=extracts())
    def run(extract: Extract) -> None:
        report = run_extract(extract)
        outcomes["extracts"] += 1
        shapes.add(tuple((t.name, t.kind, tuple(t.columns), len(t.rows), t.encoding) for t in extract.tables.values()))
        rejected = any(summary.rows_rejected for summary in report.tables)
        outcomes["fatal" if report.fatal else "quarantined rows" if rejected else "clean"] += 1
        outcomes["tables with rows kept"] += sum(summary.rows_kept > 0 for summary in report.tables)

    test = seed(args.seed)(run) if args.seed is not None else run
    started = time.perf_counter()
    test()
    elapsed = time.perf_counter() - started
    count = outcomes["extracts"]
    print(  # noqa: T201
        f"{count} extracts ({len(shapes)} distinct shapes of files, columns and rows) in {elapsed:.1f} s"
        f" ({1000 * elapsed / max(count, 1):.0f} ms each), no exception;"
    )
    print("  " + ", ".join(f"{k}: {v}" for k, v in outcomes.items() if k != "extracts"))  # noqa: T201
    print(f"  reference: tests/data/test_reader_fuzz.py runs {FUZZ_EXAMPLES} in make test")  # noqa: T201


if __name__ == "__main__":
    main()
