"""A closed loop: twelve simulated months in which the desk follows savedesk's offers and savedesk retrains on them.

Usage: .venv/bin/python bench/closed_loop.py [--accounts 12000] [--history 24] [--months 12] [--seed 7]
       [--compliance 1.0] [--arms on,off]

A hauler is simulated for ``--history`` months with reps choosing offers by habit (the history every workspace
has). Then, for each arm, a copy of it plays ``--months`` more months in which, at the start of every month:

1. the raw tables so far are read back (``sources.simulator.tables.raw_tables``, the run's random stream put back
   as it was), the save model is retrained on every request whose durable-save window has closed (small budget),
   with the logged propensities where the desk published them (``pipelines.save_training.with_logged_propensity``);
2. the month's cancellation requests are planned as the nightly plans them (features as of the month end before,
   ``models.policy.plan_offers``), with exploration on or off; reps make the published offer with probability
   ``--compliance`` (``sources.simulator.saves.SaveDesk.policy``) and the propensity is logged with the attempt;
3. the simulator's proactive desk runs with its randomized holdout on (the arm ``on``) or off (``off``).

Three more months follow with the last model, so the last loop months' requests have their durable labels. Then
the policy is trained and judged as ``savedesk train`` judges it (the latest 3 months of labelled requests,
training on those complete before them): ``policy.value_ratio`` against the simulator's oracle and the doubly
robust error, beside the desk's true save rate over the loop and exploration's expected cost against its bound.

Arms: ``on`` = exploration (``save.exploration`` when its rate is set, else ``Exploration()``: rate 0.2, margin
$100 or 25 %) and the simulator's holdout (``OutreachConfig``
defaults); ``off`` = neither; ``explore`` = exploration only; ``holdout`` = holdout only.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from features.labels import LabelSpec  # noqa: E402
from features.requests import account_context, request_decisions  # noqa: E402
from features.view import Tables, from_frames  # noqa: E402
from models.dataset import held_out  # noqa: E402
from models.exploration import PROPENSITY_COLUMN, Exploration, expected_cost  # noqa: E402
from models.params import SaveParams  # noqa: E402
from models.policy import RECOMMENDED, plan_offers  # noqa: E402
from models.policy_value import evaluate_policy  # noqa: E402
from models.save import SaveModel, train_save_model  # noqa: E402
from pipelines.save_training import RequestSplit, feature_columns, parts, with_logged_propensity  # noqa: E402
from pipelines.settings import Settings  # noqa: E402
from sources import vocabulary as v  # noqa: E402
from sources.simulator import SimulationConfig  # noqa: E402
from sources.simulator.book import draw_accounts, draw_lines  # noqa: E402
from sources.simulator.calendar import Calendar  # noqa: E402
from sources.simulator.dynamics import Hauler  # noqa: E402
from sources.simulator.events import Logbook, TableLog  # noqa: E402
from sources.simulator.offers import OFFER  # noqa: E402
from sources.simulator.saves import Published, Requests  # noqa: E402
from sources.simulator.tables import raw_tables  # noqa: E402
from sources.simulator.truth import truth_tables  # noqa: E402

SETTINGS = Settings()
SPEC = LabelSpec(durable_days=SETTINGS.save.durable_days)
TAIL_MONTHS = 3
"""Months played after the loop with its last model, so the loop's last requests get their labels."""
SMALL = SaveParams(n_estimators=400, learning_rate=0.06, early_stopping_rounds=30)
"""The monthly retraining's budget (the final judgement uses the settings' own)."""


def day(number: int) -> date:
    """A simulator day number as a date."""
    return date(1970, 1, 1) + timedelta(days=int(number))


def snapshot(hauler: Hauler) -> tuple[Tables, object]:
    """The hauler's raw tables so far, without disturbing the run (its log and random stream stay as they were)."""
    log, state = hauler.log, hauler.rng.bit_generator.state
    copied = Logbook()
    for name, table in log.tables.items():
        mine = TableLog()
        mine._batches.update({k: list(parts_) for k, parts_ in table._batches.items()})  # noqa: SLF001
        copied.tables[name] = mine
    hauler.log = copied
    try:
        raw, keys = raw_tables(hauler)
    finally:
        hauler.log = log
        hauler.rng.bit_generator.state = state
    return from_frames(dict(raw)), keys


def labelled(tables: Tables, start: date, extract_end: date, last: date) -> pd.DataFrame:
    """Labelled requests up to ``last``, with their logged propensities."""
    decisions = request_decisions(tables, extract_end, start, last, SPEC)
    decisions = decisions[decisions["durable_save"].notna()].copy()
    decisions["durable_save"] = decisions["durable_save"].astype(bool)
    return with_logged_propensity(decisions, tables)


def fit(requests: pd.DataFrame, params: SaveParams) -> SaveModel:
    """The save model on these requests (held-out accounts early-stop and calibrate)."""
    hold = held_out(requests["account_id"])
    columns, categorical = feature_columns(requests)
    return train_save_model(requests[~hold], requests[hold], columns, categorical, params)


@dataclass
class Arm:
    """One arm's configuration and what it measured."""

    name: str
    exploration: Exploration | None
    holdout: bool
    published: int = 0
    explored: int = 0
    cost: float = 0.0
    bound: float = 0.0
    worst_share_of_bound: float = 0.0
    offers_made: list[str] = field(default_factory=list)
    seconds: float = 0.0
    figures: dict[str, float] = field(default_factory=dict)


class DeskPolicy:
    """The published offers of one month: the current save model, the guardrails, exploration as configured."""

    def __init__(self, arm: Arm, model: SaveModel, context: pd.DataFrame, counted: bool = True) -> None:
        """Plan with ``model`` on ``context`` (features as of the month end before); ``counted``: a loop month."""
        self.arm, self.model, self.context = arm, model, context.set_index("account_id", drop=False)
        self.counted = counted

    def __call__(self, batch: Requests) -> Published:
        """The offer and propensity published for each request (-1: the account is not in the context)."""
        n = len(batch.number)
        offer, propensity = np.full(n, -1), np.full(n, np.nan)
        ids = np.array([f"A{a:07d}" for a in batch.account])
        known = np.isin(ids, self.context.index)
        if not known.any():
            return Published(offer, propensity)
        rows = self.context.loc[ids[known]].reset_index(drop=True).assign(
            request_id=[f"N{x}" for x in batch.number[known]],
            request_date=pd.to_datetime([day(d) for d in batch.day[known]]),
            reason=[v.CANCELLATION_REASONS[r] for r in batch.reason[known]],
        )  # fmt: skip
        save = SETTINGS.save
        explore = self.arm.exploration
        plans = plan_offers(rows, save.offers, save.guardrails, self.model.predict_proba, exploration=explore)
        chosen = plans[plans["choice"] == RECOMMENDED].set_index("request_id").reindex(rows["request_id"])
        has = chosen["offer"].notna().to_numpy()
        where = np.flatnonzero(known)[has]
        offer[where] = [OFFER[o] for o in chosen["offer"][has]]
        propensity[where] = chosen[PROPENSITY_COLUMN].to_numpy(dtype=float)[has]
        if not self.counted:  # a tail month: published, not counted
            return Published(offer, propensity)
        self.arm.published += int(has.sum())
        self.arm.explored += int((chosen["rank"].to_numpy()[has] != 1).sum())
        self.arm.offers_made += chosen["offer"][has].tolist()
        if self.arm.exploration is not None and self.arm.exploration.active:
            cost = expected_cost(plans, self.arm.exploration)
            self.arm.cost += float(cost["cost"].sum())
            self.arm.bound += float(cost["bound"].sum())
            share = (cost["cost"] / cost["bound"].where(cost["bound"] > 0)).max()
            self.arm.worst_share_of_bound = max(self.arm.worst_share_of_bound, float(np.nan_to_num(share)))
        return Published(offer, propensity)


def play(base: Hauler, arm: Arm, history: int, months: int, compliance: float) -> Hauler:
    """Play the loop's months (and the tail) on a copy of ``base`` under ``arm``."""
    began = time.perf_counter()
    hauler = copy.deepcopy(base)
    if hauler.calls is not None and not arm.holdout:
        hauler.calls.config = replace(hauler.calls.config, holdout_share=0.0)
    hauler.desk.compliance = compliance
    start = day(hauler.calendar.start)
    model: SaveModel | None = None
    for m in range(history, history + months + TAIL_MONTHS):
        today = day(int(hauler.calendar.month_starts[m]))
        if m < history + months:  # the loop: retrain on what the desk has recorded, then publish
            tables, _ = snapshot(hauler)
            extract_end = today - timedelta(days=1)
            requests = labelled(tables, start, extract_end, extract_end - timedelta(days=SPEC.durable_days))
            model = fit(requests, SMALL)
            context = account_context(tables, extract_end)
            hauler.desk.policy = DeskPolicy(arm, model, context)
            print(f"  {arm.name}: month {m - history + 1}/{months} ({today}), trained on {len(requests):,} requests,"
                  f" {time.perf_counter() - began:.0f} s", flush=True)  # fmt: skip
        elif m == history + months and isinstance(hauler.desk.policy, DeskPolicy):
            hauler.desk.policy.counted = False
        hauler.play_month(m)
    arm.seconds = time.perf_counter() - began
    return hauler


def judge(hauler: Hauler, arm: Arm, history: int, months: int) -> None:
    """Train and judge the policy as ``savedesk train`` would at the end; the desk's true save rate over the loop."""
    raw, keys = raw_tables(hauler)
    truth = truth_tables(hauler, keys)
    tables = from_frames(dict(raw))
    end = day(hauler.calendar.end)
    split = RequestSplit.ending(end - timedelta(days=SPEC.durable_days), SETTINGS.save.test_months, SPEC.durable_days)
    requests = labelled(tables, day(hauler.calendar.start), end, split.test_end)
    train, test = parts(requests, split)
    model = fit(train, SETTINGS.save.params)
    save = SETTINGS.save
    plans = plan_offers(test, save.offers, save.guardrails, model.predict_proba)
    estimated = pd.Series(model.propensity.chosen(test), index=test["request_id"].to_numpy())
    response = truth["save_response"].to_pandas()[["request_id", "offer", "durable_save_probability"]]
    values = evaluate_policy(plans, response, test, estimated, save.guardrails, save.offers.annuity(),
                             save.params.max_weight).flat()  # fmt: skip
    logged = test[PROPENSITY_COLUMN].notna().mean() if PROPENSITY_COLUMN in test else 0.0
    # The desk's true P(durable save) of the offers it made in the loop's months.
    rows = [t for t in hauler.desk.truth if len(t["day"])]
    first = int(hauler.calendar.month_starts[history])
    last = int(hauler.calendar.month_starts[history + months])
    durable = np.concatenate([t["durable"][np.arange(len(t["day"])), t["offer"]] for t in rows])
    days = np.concatenate([t["day"] for t in rows])
    in_loop = (days >= first) & (days < last)
    arm.figures = {
        **{
            k: values[k]
            for k in (
                "policy.requests",
                "policy.value_ratio",
                "policy.dr_error",
                "policy.dr_relative_stderr",
                "policy.uplift_vs_reps",
            )
        },  # fmt: skip
        "test.logged_share": float(logged),
        "test.distinct_offers": float(test["offer"].nunique()),
        "loop.true_save_rate": float(durable[in_loop].mean()),
        "loop.requests": float(in_loop.sum()),
    }


def main() -> None:
    """Simulate the history, play every arm, print them side by side."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=12_000)
    parser.add_argument("--history", type=int, default=24)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--compliance", type=float, default=1.0)
    parser.add_argument("--arms", default="on,off")
    args = parser.parse_args()
    began = time.perf_counter()
    total = args.history + args.months + TAIL_MONTHS
    config = SimulationConfig(accounts=args.accounts, months=total, seed=args.seed)
    rng = np.random.default_rng(config.seed)
    calendar = Calendar.ending(config.end, config.months)
    accounts = draw_accounts(config, calendar, rng)
    base = Hauler(config, calendar, accounts, draw_lines(accounts, config, calendar, rng), rng)
    for m in range(args.history):
        base.play_month(m)
    print(f"history: {args.accounts:,} accounts, {args.history} months, {time.perf_counter() - began:.0f} s")
    explore = SETTINGS.save.exploration if SETTINGS.save.exploration.active else Exploration()
    kinds = {"on": (explore, True), "off": (None, False), "explore": (explore, False), "holdout": (None, True)}
    arms = [Arm(name, *kinds[name]) for name in args.arms.split(",")]
    holdout_share = base.calls.config.holdout_share if base.calls is not None else 0.0
    for arm in arms:
        judge(play(base, arm, args.history, args.months, args.compliance), arm, args.history, args.months)
    print()
    print(explore.describe())
    where = "the simulator's proactive desk (savedesk's holdout is not in this loop)" if holdout_share else "none"
    print(f"holdout: {where}, {holdout_share:.0%} of the risk-ranked list when on; compliance {args.compliance:.0%}")
    names = [a.name for a in arms]
    print(f"{'figure':<34}" + "".join(f"{n:>14}" for n in names))
    keys = list(arms[0].figures)
    for k in keys:
        print(f"{k:<34}" + "".join(f"{a.figures.get(k, float('nan')):>14.4f}" for a in arms))
    extra = {
        "loop.published": lambda a: a.published,
        "loop.explored": lambda a: a.explored,
        "loop.distinct_offers_made": lambda a: len(set(a.offers_made)),
        "exploration.expected_cost_$": lambda a: a.cost,
        "exploration.declared_bound_$": lambda a: a.bound,
        "exploration.cost_per_request_$": lambda a: a.cost / max(a.published, 1),
        "exploration.worst_request_share": lambda a: a.worst_share_of_bound,
        "wall_seconds": lambda a: a.seconds,
    }
    for k, f in extra.items():
        print(f"{k:<34}" + "".join(f"{float(f(a)):>14.2f}" for a in arms))
    print(f"total wall time {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
