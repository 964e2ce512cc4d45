"""Issue 17, acceptance 3 across seeds and sizes: does the churn model beat billing recency alone out of time?

For each (seed, accounts) a hauler is simulated with customers who leave without calling, cut down to the
minimal extract (accounts with id, start and close, and invoices) or kept whole, validated, and the churn model is
trained with ``churn.definition = "no_billing"`` exactly as ``savedesk train`` trains it (``fit_and_evaluate``:
the same split, search and settings). Printed per extract: the model's test AUC beside the one-feature rankings
(billing recency, tenure; their direction chosen on the training rows, and the model must beat either direction
of each, as ``tests/flows/test_minimal_extract_inactivity.py`` asks), the leaf size and trees the model kept and
the row counts. No MLflow run, no gate: only the figures.

    .venv/bin/python bench/inactivity_churn.py --seeds 7,11,13 --accounts 3000,5000,8000 --silent-leavers 0.003
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the packages, not bench/features.py

from pipelines.settings import load_settings  # noqa: E402
from pipelines.training import fit_and_evaluate, load_snapshots, time_split  # noqa: E402
from pipelines.workspace import open_workspace  # noqa: E402
from sources.simulator import SimulationConfig, simulate_hauler, write_hauler
from sources.simulator.extracts import minimal_extract  # noqa: E402

SETTINGS = '[churn]\ndefinition = "no_billing"\nno_billing_days = {days}\n'


def measure(folder: Path, seed: int, accounts: int, args: argparse.Namespace) -> dict[str, object]:
    """Simulate, cut, validate and train one extract; its figures."""
    if folder.exists():
        shutil.rmtree(folder)
    logit = math.log(args.silent_leavers / (1 - args.silent_leavers))
    config = SimulationConfig(accounts=accounts, months=args.months, seed=seed, silent_leave_logit=logit)
    write_hauler(simulate_hauler(config), folder)
    if args.extract == "minimal":
        minimal_extract(folder)
    (folder / "savedesk.toml").write_text(SETTINGS.format(days=args.no_billing_days) + args.extra_settings)
    settings = load_settings(folder)
    workspace = open_workspace(settings)
    began = time.perf_counter()
    split = time_split(settings, workspace, None)
    training = fit_and_evaluate(settings, split, load_snapshots(settings, workspace, split))
    extras = training.evaluation.extras
    recency = float(extras.get("baseline_billing_recency_auc", float("nan")))
    tenure = float(extras.get("baseline_tenure_auc", float("nan")))
    model = float(training.evaluation.metrics["auc"])
    return {
        "seed": seed,
        "accounts": accounts,
        "train_rows": len(training.train),
        "train_churn": int(training.train["churn"].sum()),
        "test_churn": int(training.test["churn"].sum()),
        "min_child": training.search.chosen.min_child_samples if training.search else "",
        "trees": training.model.best_iteration,
        "model_auc": round(model, 4),
        "recency_auc": round(recency, 4),
        "tenure_auc": round(tenure, 4),
        "beats": model > max(recency, 1 - recency, tenure, 1 - tenure),
        "seconds": round(time.perf_counter() - began, 1),
    }


def main() -> None:
    """Measure every (seed, accounts) and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="7,11,13")
    parser.add_argument("--accounts", default="3000,5000,8000")
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--silent-leavers", type=float, default=0.003)
    parser.add_argument("--no-billing-days", type=int, default=45)
    parser.add_argument("--extract", choices=["minimal", "full"], default="minimal")
    parser.add_argument("--extra-settings", default="", help="TOML appended to the workspace's settings.")
    parser.add_argument("--work", type=Path, default=Path("data/h17/bench"))
    args = parser.parse_args()
    rows = []
    for accounts in (int(a) for a in args.accounts.split(",")):
        for seed in (int(s) for s in args.seeds.split(",")):
            row = measure(args.work / f"{args.extract}-{accounts}-{seed}", seed, accounts, args)
            print(row, flush=True)  # noqa: T201 - a bench prints its figures
            rows.append(row)
    table = pd.DataFrame(rows)
    print(table.to_string(index=False))  # noqa: T201
    print(f"model beats both baselines on {int(table['beats'].sum())} of {len(table)} extracts")  # noqa: T201


if __name__ == "__main__":
    main()
