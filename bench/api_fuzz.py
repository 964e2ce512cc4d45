"""Fuzz the API from its OpenAPI document (not a test): 10,000+ Schemathesis requests, three callers, one store.

Usage:
    .venv/bin/python bench/api_fuzz.py --data DIR [--examples 300] [--store sqlite|postgres] [--seed 21]

The app is built in-process over the published workspace DIR (read only; outcomes go to a fresh store: a SQLite
file in a temporary folder or a throwaway PostgreSQL database) and called over ASGI. For every operation of
``/api/v1/openapi.json``, ``--examples`` valid and as many invalid cases are generated (seeded), positive ones
steered to real ids, and each is sent by a manager, a rep and nobody (``tests/api/schema_fuzz.py``). Checked: no
5xx, no undeclared status, bodies and headers that fit the schema, invalid data refused, valid data not refused with
422, an outcome replayed under its key answered 200 with the same id, and every outcome answered 201 stored exactly
once. Prints the requests, the statuses by operation and every failure, known serving bugs apart; exits 1 on a new
failure or a store mismatch.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode
from schemathesis.core.result import Ok

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests" / "api")]

from api_load import throwaway_postgres  # noqa: E402
from schema_fuzz import Found, Target, build_target, config, exercise, known_bug, load_schema, stored_once  # noqa: E402


def fuzz(target: Target, examples: int, chosen_seed: int) -> tuple[list[Found], list[str]]:
    """Every operation, valid then invalid cases; returns the failures and the operations/modes run."""
    schema = load_schema(target, config(seed=chosen_seed, max_examples=examples))
    found: list[Found] = []
    ran = []
    for result in schema.get_all_operations():
        if not isinstance(result, Ok):
            raise SystemExit(f"the OpenAPI document has an invalid operation: {result.err()}")
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(operation.as_strategy(generation_mode=mode))
            @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
                      suppress_health_check=list(HealthCheck))  # fmt: skip
            @seed(chosen_seed)
            def run(case: Case) -> None:
                found.extend(exercise(case, target))

            start = time.perf_counter()
            try:
                run()
            except Unsatisfiable:  # no parameter to break (GET /health): there is no invalid request to make
                continue
            ran.append(f"{operation.label} {mode.value}: {time.perf_counter() - start:.1f} s")
    return found, ran


def report(target: Target, found: list[Found], ran: list[str], wall: float) -> bool:
    """Print the figures; True when nothing new failed and the store holds every acknowledged outcome once."""
    print("\n".join(ran))
    print(f"\nrequests: {target.app.requests} in {wall:.0f} s ({target.app.requests / wall:.0f} req/s)")
    print(f"statuses: {target.app.by_status()}")
    by_route: dict[str, Counter[int]] = defaultdict(Counter)
    for (method, route, status), n in target.app.seen.items():
        by_route[f"{method} {route}"][status] += n
    for route, statuses in sorted(by_route.items()):
        print(f"  {route:<42} {dict(sorted(statuses.items()))}")
    known: Counter[str] = Counter()
    new: dict[tuple[str, ...], Found] = {}
    for failure in found:
        bug = known_bug(failure)
        if bug is not None:
            known[bug] += 1
        else:
            new.setdefault((failure.request.split("?")[0][:60], str(failure.status), *failure.failures), failure)
    print(f"\nfailures: {len(found)} ({sum(known.values())} of known serving bugs: {dict(known) or 'none'})")
    for failure in new.values():
        print(f"\n{failure}")
    wrong = stored_once(target)
    print(f"\noutcomes acknowledged (201): {len(target.acknowledged)}; stored exactly once: {not wrong}")
    for line in wrong[:20]:
        print(f"  {line}")
    return not new and not wrong


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="a trained workspace with a published day")
    parser.add_argument("--examples", type=int, default=300, help="cases per operation and mode (valid, invalid)")
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test",
                        help="a PostgreSQL server (trust auth) where a throwaway database is made")  # fmt: skip
    parser.add_argument("--seed", type=int, default=21)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="savedesk-bench-fuzz-") as scratch:
        sqlite = contextlib.nullcontext(f"sqlite:///{scratch}/outcomes.db")
        with throwaway_postgres(args.postgres) if args.store == "postgres" else sqlite as url:
            target = build_target(args.data, url)
            start = time.perf_counter()
            found, ran = fuzz(target, args.examples, args.seed)
            ok = report(target, found, ran, time.perf_counter() - start)
            target.store.dispose()
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
