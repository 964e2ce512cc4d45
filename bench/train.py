"""Benchmark: train the churn model on 12 monthly snapshots, on the whole book or on a sample of its accounts.

Usage:
    .venv/bin/python bench/train.py [--data bench/out/simulate-100k] [--accounts 100000]
        [--training local|sample] [--max-rows 600000] [--seed 7]
    .venv/bin/python bench/train.py --data D --compare 300000,600000 [--seeds 7,8,9] [--booster-seeds 8,9]

One run prints the time to build the snapshots (``pipelines.training.load_snapshots``: under "sample" the
labels pass that draws the accounts included) and to fit and judge (``fit_and_evaluate``: LightGBM with early
stopping on held-out accounts, Platt calibration, the baselines), the test AUC on the *whole* test month, the
gate's decision without a champion (``models.gate.decide``) and the process's peak memory, beside a
reference measured in the same run: LightGBM's own ``lgb.train`` on the same matrix for the same number of
trees, without early stopping, calibration or data preparation.

``--compare`` trains the whole book's model ("local") and one per ``--compare`` row cap × ``--seeds`` sample
of the same snapshots (``models.training_sample``: every churned account, stayed accounts weighted), and prints
each sampled model's AUC and gap beside the full one's on the same whole test month, then the median and worst
gap per row cap: the figure behind ``churn.training = "sample"`` (the issue asks within 0.002 AUC of the full
model). Each line also shows the model's calibration on the whole test month (ECE, mean score against the churn
rate) and its weighted AUC on the sample's own test month (what the gate judges). ``--booster-seeds`` also
trains the whole book's model again with other LightGBM seeds (``churn.params.seed``; rows and columns are
drawn per tree), the noise floor a sample's gap is read against. Peak memory is a process's: run ``--training
local`` and ``--training sample`` alone for each's own.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from statistics import median

import lightgbm as lgb
from sklearn.metrics import roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from features.snapshots import snapshot  # noqa: E402
from models.evaluation import evaluate_scores  # noqa: E402
from models.gate import decide  # noqa: E402
from pipelines.settings import Settings, load_settings  # noqa: E402
from pipelines.training import (  # noqa: E402
    Snapshots,
    fit_and_evaluate,
    label_spec,
    load_snapshots,
    time_split,
    training_sample,
)
from pipelines.workspace import open_workspace  # noqa: E402


def run_once(data: Path, training: str, max_rows: int, seed: int, train_months: int) -> dict[str, object]:
    """Build, fit and judge one model; its figures."""
    settings = _settings(data, training, max_rows, seed, train_months)
    workspace = open_workspace(settings)
    split = time_split(settings, workspace, None)
    started = time.perf_counter()
    frames = load_snapshots(settings, workspace, split)
    built = time.perf_counter()
    result = fit_and_evaluate(settings, split, frames)
    fitted = time.perf_counter()
    test = result.test
    if frames.sample is not None and frames.sample.sampled:  # judge on the whole test month, as the full model
        test = snapshot(workspace.tables, split.test, workspace.end, label_spec(settings)).to_pandas()
    scores = result.model.predict_proba(test)
    judged = evaluate_scores(test, scores, settings.churn.empc)
    gate = decide(judged.metrics, None, settings.churn.gate, judged.segment_aucs())
    matrix = result.model.prepare(result.train)
    reference_started = time.perf_counter()
    lgb.train(
        {**settings.churn.params.lightgbm(), "objective": "binary", "n_estimators": result.model.best_iteration},
        lgb.Dataset(matrix, result.train["churn"].astype(int), categorical_feature=result.categorical),
    )
    reference_s = time.perf_counter() - reference_started
    return {
        "training": training,
        "max_rows": max_rows if training == "sample" else None,
        "seed": seed,
        "snapshots": len(frames),
        "train_rows": len(result.train),
        "train_accounts": int(result.train["account_id"].nunique()),
        "share": frames.sample.share if frames.sample is not None else 1.0,
        "features": len(result.columns),
        "best_iteration": result.model.best_iteration,
        "auc": float(roc_auc_score(test["churn"].astype(int), scores)),
        "ece": float(judged.metrics["ece"]),
        "test_rows": len(test),
        "gate": "pass" if gate.promote else "refused: " + gate.summary(),
        "build_s": built - started,
        "fit_s": fitted - built,
        "reference_s": reference_s,
        "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2,
    }


def compare(args: argparse.Namespace) -> None:
    """The whole book's model, then each ``--max-rows`` × ``--seeds`` sample of the same snapshots, side by side.

    The snapshots are built once: a sample cuts them to its accounts exactly as ``load_snapshots`` does under
    "sample" (which cuts each month as it is built), so the models differ only by the accounts they saw.
    """
    settings = _settings(args.data, "local", 0, 7, args.train_months)
    workspace = open_workspace(settings)
    split = time_split(settings, workspace, None)
    frames = load_snapshots(settings, workspace, split)
    test = frames[split.test]
    full = fit_and_evaluate(settings, split, frames)
    full_scores = full.model.predict_proba(test)
    full_auc = float(roc_auc_score(test["churn"].astype(int), full_scores))
    full_judged = evaluate_scores(test, full_scores, settings.churn.empc)
    print(f"local   all rows: {len(full.train):,} rows; trees {full.model.best_iteration}; AUC {full_auc:.4f};"
          f" ECE {full_judged.metrics['ece']:.4f}, mean score {full_judged.metrics['mean_score']:.4f} against"
          f" churn rate {full_judged.metrics['base_rate']:.4f} on {len(test):,} rows", flush=True)  # fmt: skip
    for booster_seed in (int(s) for s in args.booster_seeds.split(",") if s):
        reseeded = replace(settings.churn.params, seed=booster_seed)
        again = settings.model_copy(update={"churn": settings.churn.model_copy(update={"params": reseeded})})
        other = fit_and_evaluate(again, split, frames)
        auc = float(roc_auc_score(test["churn"].astype(int), other.model.predict_proba(test)))
        print(f"local   all rows, LightGBM seed {booster_seed}: trees {other.model.best_iteration}; AUC {auc:.4f}"
              f" (differs from the full model by {full_auc - auc:+.4f})", flush=True)  # fmt: skip
    for max_rows in (int(n) for n in args.compare.split(",")):
        gaps = []
        for seed in (int(s) for s in args.seeds.split(",")):
            sampled_settings = _settings(args.data, "sample", max_rows, seed, args.train_months)
            sample = training_sample(sampled_settings, workspace, split)
            cut = Snapshots({day: frame[frame["account_id"].isin(sample.accounts)] for day, frame in frames.items()})
            cut.sample = sample
            started = time.perf_counter()
            result = fit_and_evaluate(sampled_settings, split, cut)
            fit_s = time.perf_counter() - started
            scores = result.model.predict_proba(test)
            auc = float(roc_auc_score(test["churn"].astype(int), scores))
            judged = evaluate_scores(test, scores, settings.churn.empc)
            gate = decide(judged.metrics, None, settings.churn.gate, judged.segment_aucs())
            gaps.append(full_auc - auc)
            kept = ", ".join(f"{name} {k:,}/{n:,}" for name, (k, n) in sample.strata.items())
            print(f"sample  max {max_rows:>10,} seed {seed}: {len(result.train):>10,} rows ({sample.scheme}, share"
                  f" {sample.share:.3f}; accounts {kept}; stayed weight {sample.stayed_weight:.3f});"
                  f" trees {result.model.best_iteration:>4}; AUC {auc:.4f} (gap {full_auc - auc:+.4f});"
                  f" ECE {judged.metrics['ece']:.4f}, mean score {judged.metrics['mean_score']:.4f};"
                  f" on its own test month (weighted) AUC {result.evaluation.metrics['auc']:.4f}, churn rate"
                  f" {result.evaluation.metrics['base_rate']:.4f}; fit {fit_s:.1f} s;"
                  f" gate {'pass' if gate.promote else 'refused'}", flush=True)  # fmt: skip
        print(f"max_rows {max_rows:>10,}: AUC gap to the full model per seed "
              f"{', '.join(f'{g:+.4f}' for g in gaps)}; median {median(gaps):+.4f}, "
              f"worst {max(gaps):+.4f} over {len(gaps)} seeds", flush=True)  # fmt: skip


def _settings(data: Path, training: str, max_rows: int, seed: int, train_months: int) -> Settings:
    base = load_settings(data)
    update = {"training": training, "max_training_rows": max(max_rows, 10_000), "sample_seed": seed,
              "train_months": train_months}  # fmt: skip
    return base.model_copy(update={"churn": base.churn.model_copy(update=update)})


def _line(r: dict[str, object], full_auc: object) -> str:
    gap = float(full_auc) - float(r["auc"])  # type: ignore[arg-type]
    rows = f"{r['max_rows']:,}" if r["max_rows"] else "all"
    return (f"{r['training']:<7} max {rows:>10} seed {r['seed']}: {r['train_rows']:>10,} rows "
            f"({r['train_accounts']:,} accounts, share {r['share']:.3f}); trees {r['best_iteration']:>4}; "
            f"AUC {r['auc']:.4f} (gap {gap:+.4f}) ECE {r['ece']:.4f} on {r['test_rows']:,}; "
            f"build {r['build_s']:.1f} s fit {r['fit_s']:.1f} s (lgb.train {r['reference_s']:.1f} s); "
            f"peak {r['peak_gib']:.2f} GiB; gate {r['gate']}")  # fmt: skip


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("bench/out/simulate-100k"))
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--training", choices=("local", "sample"), default="local")
    parser.add_argument("--max-rows", type=int, default=600_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--train-months", type=int, default=10, help="10 training + validation + calibration = 12")
    parser.add_argument("--compare", default="", help="comma-separated --max-rows to run against the full model")
    parser.add_argument("--seeds", default="7", help="comma-separated sample seeds for --compare")
    parser.add_argument("--booster-seeds", default="", help="other LightGBM seeds to train the full model with")
    args = parser.parse_args()
    savedesk = Path(sys.executable).with_name("savedesk")
    if not (args.data / "raw" / "extract.json").is_file():
        subprocess.run([savedesk, "simulate", "--data", args.data, "--accounts", str(args.accounts)], check=True)  # noqa: S603
    if args.compare:
        compare(args)
        return
    result = run_once(args.data, args.training, args.max_rows, args.seed, args.train_months)
    print(_line(result, result["auc"]))


if __name__ == "__main__":
    main()
