"""Benchmark a cold live plan (not a test): one account at a time, nothing cached, beside LightGBM's own calls.

Usage:
    .venv/bin/python bench/live_plan.py [--data data/demo] [--accounts 40] [--seed 7] [--profile 20]

A rep opens an account the server has not planned yet: ``serving.live_plan.plan_accounts`` runs for that one
account (the cache of ``LivePlanner`` is not involved, so every plan is cold). The sample is ``--accounts``
accounts without an open request (proactive plans) and up to ``--accounts`` accounts with one (request plans),
drawn with ``--seed`` from the latest published version of ``--data``.

Reference, measured in the same run: the bare LightGBM calls the plan cannot avoid for that account — churn
score, reason shares (proactive), the save model's outcome rows (every offer, every reason for a proactive
account), the churn and save ``pred_contrib`` of the talking points — replayed with the very inputs the plan
handed ``Booster.predict`` (recorded on a first plan of the account, outside the timing). Each account's plan
and its reference run back to back, so a busy machine slows both sides of a pair alike; the ratio is the median
of the per-pair ratios.

Stages: the same plan again with ``time.perf_counter`` around each call ``plan_accounts`` makes (churn score,
reason shares, plan_offers, recommendations, talking points; assembly is the rest: slicing the night's rows,
merging, the plan's objects). ``--profile N`` prints cProfile's N most expensive functions over the proactive
plans.
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import pstats
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import models.planner as planner  # noqa: E402
import serving.live_plan as live  # noqa: E402
from models.churn import ChurnModel  # noqa: E402
from models.save import SaveModel  # noqa: E402
from pipelines.services import desk_config, open_tracker  # noqa: E402
from pipelines.settings import load_settings  # noqa: E402
from serving.night import read_night  # noqa: E402
from serving.plan_body import Plan  # noqa: E402

STAGES = ("churn score", "reason shares", "plan_offers", "recommendations", "talking_points")


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank), in ms."""
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


@contextmanager
def recorded_predictions() -> Iterator[list[tuple[lgb.Booster, Any, dict[str, Any]]]]:
    """Every ``Booster.predict`` call made inside the block: (booster, data, keyword arguments)."""
    calls: list[tuple[lgb.Booster, Any, dict[str, Any]]] = []
    original = lgb.Booster.predict

    @functools.wraps(original)
    def predict(self: lgb.Booster, data: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append((self, data, kwargs))
        return original(self, data, *args, **kwargs)

    lgb.Booster.predict = predict  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        lgb.Booster.predict = original  # type: ignore[method-assign]


@contextmanager
def stage_clock() -> Iterator[dict[str, float]]:
    """Seconds spent in each stage of ``plan_accounts`` inside the block (the functions it calls, wrapped)."""
    spent: dict[str, float] = defaultdict(float)

    def clocked(stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[stage] += time.perf_counter() - start

        return run

    saved: dict[tuple[Any, str], Callable[..., Any]] = {
        (ChurnModel, "predict_proba"): ChurnModel.predict_proba,
        (SaveModel, "with_reason_shares"): SaveModel.with_reason_shares,
        (planner, "plan_offers"): planner.plan_offers,
        (planner, "recommendations"): planner.recommendations,
        (live, "talking_points"): live.talking_points,
        (live, "rep_visible"): live.rep_visible,
    }
    stage_of = {
        "predict_proba": "churn score",
        "with_reason_shares": "reason shares",
        "plan_offers": "plan_offers",
        "recommendations": "recommendations",
        "talking_points": "talking_points",
        "rep_visible": "talking_points",
    }
    # The churn score is the one ChurnModel.predict_proba called by plan_accounts itself: the save model's
    # outcome is a ChurnModel too, so its calls (inside plan_offers) are taken back out of the churn stage.
    outer: list[str] = []

    def churn_score(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            if outer:
                return fn(*args, **kwargs)
            outer.append("churn")
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent["churn score"] += time.perf_counter() - start
                outer.pop()

        return run

    def nested(stage: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        timed = clocked(stage, fn)

        @functools.wraps(fn)
        def run(*args: Any, **kwargs: Any) -> Any:
            outer.append(stage)
            try:
                return timed(*args, **kwargs)
            finally:
                outer.pop()

        return run

    for (owner, name), fn in saved.items():
        wrapped = churn_score(fn) if name == "predict_proba" else nested(stage_of[name], fn)
        setattr(owner, name, wrapped)
    try:
        yield spent
    finally:
        for (owner, name), fn in saved.items():
            setattr(owner, name, fn)


def main() -> None:
    """Time cold plans and their reference, then the stages; print the figures side by side."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "demo")
    parser.add_argument("--accounts", type=int, default=40, help="accounts of each kind (requests: up to this many)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", type=int, default=0, help="print cProfile's N most expensive functions")
    args = parser.parse_args()

    settings = load_settings(args.data)
    champions = open_tracker(settings).load_champions()
    config = desk_config(settings)
    day = settings.catalog.latest()
    if day is None:
        raise SystemExit(f"Nothing published in {settings.catalog.folder}: run savedesk nightly first.")
    night = read_night(settings.catalog, day)
    asking = night.context.index.isin(night.requests.index)
    rng = np.random.default_rng(args.seed)
    pools = {"proactive": night.context.index[~asking], "request": night.context.index[asking]}
    sample = {k: [str(a) for a in rng.permutation(np.asarray(p))[: args.accounts]] for k, p in pools.items()}

    def plan(account: str) -> Plan:
        return live.plan_accounts(config, champions, night, [account])[0]

    for account in rng.permutation(np.asarray(pools["proactive"]))[-3:]:  # imports, lazy caches: not a rep's wait
        plan(str(account))

    print(f"{settings.data}  published {day}  {len(night.context):,} accounts, {len(night.requests):,} open requests")
    print(f"cold plan of one account, nothing cached ({time.strftime('%H:%M:%S')}, load {load()})\n")
    print(f"{'kind':<10}{'n':>4}{'plan p50':>10}{'p95':>8}{'bare LightGBM p50':>19}{'p95':>8}{'ratio':>7}  calls")
    for kind, accounts in sample.items():
        if not accounts:
            continue
        ours, bare, ratios, calls = [], [], [], 0
        for account in accounts:
            with recorded_predictions() as recorded:
                plan(account)
            calls = len(recorded)
            start = time.perf_counter()
            plan(account)
            ours.append(time.perf_counter() - start)
            start = time.perf_counter()
            for booster, data, kwargs in recorded:
                booster.predict(data, **kwargs)
            bare.append(time.perf_counter() - start)
            ratios.append(ours[-1] / bare[-1])
        print(
            f"{kind:<10}{len(accounts):>4}{percentile(ours, 50):>8.1f}ms{percentile(ours, 95):>6.1f}ms"
            f"{percentile(bare, 50):>17.1f}ms{percentile(bare, 95):>6.1f}ms{statistics.median(ratios):>7.2f}  {calls}"
        )

    print(f"\nby stage, median ms{'':<6}" + "".join(f"{s:>17}" for s in (*STAGES, "assembly", "total")))
    for kind, accounts in sample.items():
        if not accounts:
            continue
        rows: dict[str, list[float]] = defaultdict(list)
        for account in accounts:
            with stage_clock() as spent:
                start = time.perf_counter()
                plan(account)
                total = time.perf_counter() - start
            for stage in STAGES:
                rows[stage].append(spent.get(stage, 0.0))
            rows["assembly"].append(total - sum(spent.values()))
            rows["total"].append(total)
        print(f"{kind:<25}" + "".join(f"{percentile(rows[s], 50):>17.1f}" for s in (*STAGES, "assembly", "total")))

    if args.profile:
        profile = cProfile.Profile()
        profile.enable()
        for account in sample["proactive"]:
            plan(account)
        profile.disable()
        print(f"\ncProfile over {len(sample['proactive'])} proactive plans (cumulative):")
        pstats.Stats(profile, stream=sys.stdout).sort_stats("cumulative").print_stats(args.profile)
    print(f"load {load()}")


def load() -> str:
    """The 1-minute load average of the machine."""
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


if __name__ == "__main__":
    main()
