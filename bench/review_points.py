"""Review a workspace's published talking points against issue 16's bar (``tests/unit/point_review.py``).

    .venv/bin/python bench/review_points.py --data data/demo [--date 2026-10-31] [--sample 1000] [--json]

Reads the published day (its talking points, lists and manifest's ``as_of``) and the workspace's clean tables,
and prints, over every published set: sets with two points of one concept or one sentence twice, "holds them"
points that raise the risk or read as one, offer reasons older than the freshness window, points for the
customer that compare them with others, and how many sampled numbers equal the raw tables' (recomputed without
``features``). A day published before points had an audience counts every point as said to the customer.
Exit code 1 when any count the bar wants at 0 is not, or a sampled number differs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "unit")]

from point_review import as_date, read_tables, review  # noqa: E402

ZERO = ("repeated_concept", "repeated_sentence", "protective_risky", "stale_offer_reasons", "customer_comparisons")


def main() -> int:
    """Review one published day and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--date", help="the published business date (default: the latest)")
    parser.add_argument("--sample", type=int, default=1000, help="points whose numbers are checked")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    published = args.data / "published"
    days = sorted(p.name for p in published.iterdir() if p.name[:1].isdigit())
    folder = published / (args.date or days[-1])
    manifest = json.loads((folder / "manifest.json").read_text())
    points = pd.read_parquet(folder / "talking_points.parquet")
    if "audience" not in points:
        points["audience"] = "customer"
    lists = [pd.read_parquet(p) for p in sorted(folder.glob("*.parquet")) if p.name != "talking_points.parquet"]
    decisions = pd.concat([f for f in lists if "list_key" in f], ignore_index=True).drop_duplicates("list_key")
    tables = read_tables(args.data / "clean")
    found = review(points, decisions, tables, as_date(manifest["as_of"]), args.sample, args.seed)
    figures = {"published": str(folder), "as_of": manifest["as_of"], **found.figures()}
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        for name, value in figures.items():
            print(f"{name:24} {value}")
        for example in found.examples[:15]:
            print("  e.g.", example)
    failed = any(figures[k] for k in ZERO) or found.numbers_equal != found.numbers_checked
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
