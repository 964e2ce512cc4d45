"""How much of the Telco test AUC is the model and how much is the split: the same procedure on many splits.

Usage: .venv/bin/python bench/telco_splits.py [--mapping mappings/telco.yaml] [--splits 40] [--budget-seconds 45]

``savedesk tabular evaluate`` scores one published split (test 20 % with seed
1, val 33 % of the rest with seed 11). Its 1,409 test customers give an AUC
with a standard error of about 0.01, so a bar 0.002 above the published
logistic regression says more about that split than about a model. This
script changes nothing that was chosen: it runs the procedure of
``evaluate_extract`` (the project's model with the settings its search chooses
inside train, ``--budget-seconds`` as ``savedesk tabular evaluate`` spends by
default, 0 for the declared ``SMALL_TABLE_PARAMS``; tree count by CV on train;
refit on train + val) and the published baseline (one-hot + liblinear,
C=0.5, on train + val) on ``--splits`` other seeded splits of the same sizes,
and prints for each its test AUC, then the spread of both and of their
paired difference. It also prints, for the published split, a paired
bootstrap of the test customers (1,000 resamples): the model's AUC interval
and that of its lead over the baseline.

Reading it: if the model beats the baseline on most splits, it is the better
model; the share of splits on which it clears 0.86 is the chance that a bar
of 0.86 on one split is met by this model.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from models.params import SearchParams  # noqa: E402
from models.tabular import TABULAR_SEARCH, baseline_lr_scores, fit_extract  # noqa: E402
from sources.extract_mapping import ExtractMapping, SeededRandomSplit  # noqa: E402
from sources.mapping_file import load_mapping  # noqa: E402
from sources.tabular import read_customer_extract  # noqa: E402

BAR = 0.86
BOOTSTRAP = 1_000


def scores(frame: pd.DataFrame, search: SearchParams) -> tuple[pd.Series, np.ndarray, np.ndarray]:
    """Test labels, the project's model's test scores and the published baseline's, fitted as evaluate does."""
    train, val, test = (frame[frame["split"] == part] for part in ("train", "val", "test"))
    full_train = pd.concat([train, val])
    model = fit_extract(frame, search=search).final
    return test["churn"].astype(int), model.predict_proba(test), baseline_lr_scores(full_train, test, c=0.5)


def resplit(mapping: ExtractMapping, seed: int) -> ExtractMapping:
    """The mapping with the same split sizes and other seeds."""
    split = mapping.split
    if not isinstance(split, SeededRandomSplit):
        raise SystemExit(f"{mapping.path}: re-splitting needs a seeded_random split")
    return replace(mapping, split=replace(split, test_seed=1_000 + seed, val_seed=2_000 + seed))


def bootstrap(y: np.ndarray, ours: np.ndarray, lr: np.ndarray, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Paired bootstrap of the test customers: the model's AUC and its lead over the baseline, per resample."""
    rng = np.random.default_rng(seed)
    aucs: list[float] = []
    leads: list[float] = []
    while len(aucs) < BOOTSTRAP:
        rows = rng.integers(0, len(y), len(y))
        if y[rows].min() == y[rows].max():
            continue
        a = roc_auc_score(y[rows], ours[rows])
        aucs.append(a)
        leads.append(a - roc_auc_score(y[rows], lr[rows]))
    return np.array(aucs), np.array(leads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mapping", type=Path, default=Path("mappings/telco.yaml"))
    parser.add_argument("--splits", type=int, default=40)
    parser.add_argument("--budget-seconds", type=float, default=TABULAR_SEARCH.budget_seconds)
    args = parser.parse_args()
    mapping = load_mapping(args.mapping)
    search = replace(TABULAR_SEARCH, budget_seconds=args.budget_seconds)
    print(f"settings search: {search.budget_seconds:.0f} s a split (0: the declared settings)")

    y, ours, lr = scores(read_customer_extract(mapping), search)
    auc, auc_lr = roc_auc_score(y, ours), roc_auc_score(y, lr)
    aucs, leads = bootstrap(y.to_numpy(), ours, lr)
    print(f"published split: model {auc:.4f}, baseline {auc_lr:.4f}, lead {auc - auc_lr:+.4f}")
    print(
        f"  bootstrap of its {len(y):,} test customers: model 95 % interval"
        f" {np.quantile(aucs, 0.025):.4f}-{np.quantile(aucs, 0.975):.4f} (sd {aucs.std():.4f});"
        f" lead {np.quantile(leads, 0.025):+.4f} to {np.quantile(leads, 0.975):+.4f} (sd {leads.std():.4f})"
    )

    rows = []
    print(f"\n{'split':>5} {'model':>7} {'baseline':>9} {'lead':>8}")
    for seed in range(args.splits):
        y, ours, lr = scores(read_customer_extract(resplit(mapping, seed)), search)
        rows.append((roc_auc_score(y, ours), roc_auc_score(y, lr)))
        print(f"{seed:>5} {rows[-1][0]:>7.4f} {rows[-1][1]:>9.4f} {rows[-1][0] - rows[-1][1]:>+8.4f}", flush=True)
    model, baseline = np.array(rows).T
    lead = model - baseline
    print(f"\nover {len(rows)} other splits of the same sizes (test seeds 1000+, val seeds 2000+):")
    print(f"  model    median {statistics.median(model):.4f}, mean {model.mean():.4f}, sd {model.std(ddof=1):.4f}")
    print(f"  baseline median {statistics.median(baseline):.4f}, mean {baseline.mean():.4f}")
    print(
        f"  lead     median {statistics.median(lead):+.4f}, mean {lead.mean():+.4f}"
        f" (standard error {lead.std(ddof=1) / np.sqrt(len(lead)):.4f}); model ahead on"
        f" {(lead > 0).sum()} of {len(lead)}"
    )
    print(
        f"  model >= {BAR} on {(model >= BAR).sum()} of {len(model)} splits;"
        f" baseline >= {BAR} on {(baseline >= BAR).sum()}"
    )


if __name__ == "__main__":
    main()
