"""How the save model's settings were chosen: variants compared by a criterion that never reads the truth.

Usage: .venv/bin/python bench/save_policy.py --data data/ws50 data/ws50s11 [--variants base,none] [--folds 2]

For each workspace the requests are built once (``pipelines.save_training``:
``request_split``, ``load_requests``) and cached under ``bench/out/``. Each
variant (a set of ``SaveParams`` overrides) is then judged twice:

- **selection** (no truth): inside the training requests, accounts are split by
  the stable hash into five buckets. Bucket 0 early-stops and calibrates, as in
  training; for each of ``--folds`` folds, one other bucket is left out, the
  model is fitted on the rest and scored on it: log-loss, IPW-weighted
  log-loss, AUC and the doubly robust estimate of the policy's value per
  request (``models.policy_value.doubly_robust_value``, with the fold's own
  offer propensity). The DR value is what the policy is for, estimated from
  history alone; it is the criterion, the log-losses break near-ties.
- **truth**: ``fit_save_model`` as ``savedesk train`` runs it, judged on the
  test period against the simulator's truth (``value_ratio``, uplifts, spend
  ratio, DR error). Printed for the record; it does not choose.

Figures of the first runs (2 folds; seeds 7 / 11 / 13; sel.dr_value in $ per
request, summed over the three seeds; truth value_ratio per seed). The DR value
was declared the criterion before the runs; its fold noise (standard error
~$300 per request) is larger than most differences between variants:

    variant                        sum sel.dr_value   value_ratio 7 / 11 / 13
    base (defaults)                  7542            0.945 / 0.888 / 0.955
    weighting none                   7192            0.914 / 0.917 / 0.939
    learning_rate 0.05               8146            0.911 / 0.904 / 0.954
    7 leaves, depth 4                7809            0.937 / 0.897 / 0.956
    31 leaves, min_child 20          7477            0.929 / 0.880 / 0.955
    bags 5                           7766            0.940 / 0.894 / 0.957
    bags 5, weighting none           7560            0.910 / 0.916 / 0.946

``max_weight`` 10 / 50 ran before the selection's clip was fixed at 20, so
their DR values do not compare (truth: 0.940 / 0.909 / 0.959 and
0.924 / 0.877 / 0.936). No variant met value_ratio >= 0.92 on every seed; the
defaults were left as they are.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import log_loss, roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.dataset import HOLDOUT_BUCKETS  # noqa: E402
from models.offer_propensity import ipw_weights  # noqa: E402
from models.params import SaveParams  # noqa: E402
from models.policy import plan_offers  # noqa: E402
from models.policy_value import doubly_robust_value  # noqa: E402
from models.save import train_save_model  # noqa: E402
from pipelines.save_training import (  # noqa: E402
    feature_columns,
    fit_save_model,
    flat_figures,
    load_requests,
    parts,
    request_split,
)
from pipelines.settings import Settings, load_settings  # noqa: E402
from pipelines.workspace import open_workspace  # noqa: E402
from sources.keys import stable_bucket  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
JUDGE_MAX_WEIGHT = SaveParams().max_weight
"""The weight clip of the selection's IPW log-loss and DR value: the same for every variant, so they compare."""

VARIANTS: dict[str, dict[str, Any]] = {
    "base": {},
    "unweighted": {"weighting": "none"},
    "maxw10": {"max_weight": 10.0},
    "maxw50": {"max_weight": 50.0},
    "lr05": {"learning_rate": 0.05},
    "leaves7": {"num_leaves": 7, "max_depth": 4},
    "leaves31": {"num_leaves": 31, "max_depth": -1, "min_child_samples": 20},
    "mcs20": {"min_child_samples": 20},
    "mcs80": {"min_child_samples": 80},
    "col05": {"colsample_bytree": 0.5},
    "lambda20": {"reg_lambda": 20.0},
    "bag5": {"bags": 5},
    "bag5_unweighted": {"bags": 5, "weighting": "none"},
}
"""Named ``SaveParams`` overrides; ``base`` is the defaults."""

TRUTH_FIGURES = (
    "save.auc",
    "policy.value_ratio",
    "policy.uplift_vs_reps",
    "policy.uplift_vs_rollback10",
    "policy.rollback_spend_ratio_vs_reps",
    "policy.dr_error",
)


def requests(data: Path) -> tuple[Settings, Any, pd.DataFrame]:
    """The workspace's settings, request split and labelled requests (cached as Parquet)."""
    settings = load_settings(data)
    workspace = open_workspace(settings)
    split = request_split(settings, workspace)
    cache = OUT / f"save_requests_{data.name}.parquet"
    if cache.is_file():
        return settings, split, pd.read_parquet(cache)
    decisions = load_requests(settings, workspace, split)
    OUT.mkdir(parents=True, exist_ok=True)
    decisions.to_parquet(cache)
    return settings, split, decisions


def selection(settings: Settings, train: pd.DataFrame, params: SaveParams, folds: int) -> dict[str, float]:
    """Truth-free figures of ``params``: mean over folds of held-out bucket scores inside ``train``."""
    bucket = stable_bucket(train["account_id"], HOLDOUT_BUCKETS)
    columns, categorical = feature_columns(train)
    rows = []
    for k in range(1, folds + 1):
        fit, hold, left = train[(bucket != 0) & (bucket != k)], train[bucket == 0], train[bucket == k]
        model = train_save_model(fit, hold, columns, categorical, params)
        left = left.reset_index(drop=True)
        y = left["durable_save"].astype(int).to_numpy()
        p = np.clip(model.predict_proba(left), 1e-6, 1 - 1e-6)
        chosen = model.propensity.chosen(left)
        w = ipw_weights(chosen, JUDGE_MAX_WEIGHT)
        plans = plan_offers(left, settings.save.offers, settings.save.guardrails, model.predict_proba)
        ids = left["request_id"].to_numpy()
        dr, se = doubly_robust_value(
            plans,
            pd.Series(left["offer"].to_numpy(), index=ids),
            pd.Series(left["durable_save"].to_numpy(), index=ids),
            pd.Series(chosen, index=ids),
            JUDGE_MAX_WEIGHT,
        )
        rows.append({
            "sel.logloss": log_loss(y, p),
            "sel.ipw_logloss": log_loss(y, p, sample_weight=w),
            "sel.auc": roc_auc_score(y, p),
            "sel.dr_value": dr / len(left),
            "sel.dr_se": se / len(left),
            "sel.trees": model.best_iteration,
        })  # fmt: skip
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}


def main() -> None:
    """Judge every variant on every workspace and print one line each."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, nargs="+", default=[Path("data/ws50")])
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--folds", type=int, default=2)
    parser.add_argument("--no-truth", action="store_true", help="Only the truth-free selection figures.")
    args = parser.parse_args()
    names = args.variants.split(",")
    results = []
    for data in args.data:
        settings, split, decisions = requests(data)
        train, _ = parts(decisions, split)
        for name in names:
            params = replace(settings.save.params, **VARIANTS[name])
            varied = settings.model_copy(update={"save": settings.save.model_copy(update={"params": params})})
            started = time.perf_counter()
            row: dict[str, Any] = {"data": data.name, "variant": name}
            row |= selection(varied, train, params, args.folds) if args.folds else {}
            if not args.no_truth:
                fit_started = time.perf_counter()
                figures = flat_figures(fit_save_model(varied, decisions, split))
                row["fit_s"] = time.perf_counter() - fit_started
                row |= {k.split(".", 1)[1]: figures[k] for k in TRUTH_FIGURES}
            row["s"] = time.perf_counter() - started
            results.append(row)
            print(" ".join(f"{k}={v:.4f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items()), flush=True)
    table = pd.DataFrame(results)
    print(table.to_string(index=False, float_format=lambda x: f"{x:.4f}"))
    OUT.mkdir(parents=True, exist_ok=True)
    table.to_csv(OUT / f"save_policy_{int(time.time())}.csv", index=False)


if __name__ == "__main__":
    main()
