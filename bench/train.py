"""Benchmark: train the churn model on 12 monthly snapshots of a 100,000-account hauler.

Usage: .venv/bin/python bench/train.py [--data bench/out/simulate-100k] [--accounts 100000]

Prints the time to build the snapshots and to fit (LightGBM with early stopping
on held-out accounts, then Platt calibration), beside a reference measured in
the same run: LightGBM's own ``lgb.train`` on the same matrix for the same
number of trees, without early stopping, calibration or data preparation.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import lightgbm as lgb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from features.registry import BY_NAME  # noqa: E402
from features.snapshots import snapshot  # noqa: E402
from models.churn import train_churn_model  # noqa: E402
from models.dataset import TimeSplit, held_out  # noqa: E402
from models.params import ChurnParams  # noqa: E402
from pipelines.settings import load_settings  # noqa: E402
from pipelines.training import training_rows  # noqa: E402
from pipelines.workspace import open_workspace  # noqa: E402


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("bench/out/simulate-100k"))
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--test-as-of", type=date.fromisoformat, default=date(2026, 8, 2))
    args = parser.parse_args()
    savedesk = Path(sys.executable).with_name("savedesk")
    if not (args.data / "raw" / "extract.json").is_file():
        subprocess.run([savedesk, "simulate", "--data", args.data, "--accounts", str(args.accounts)], check=True)  # noqa: S603

    settings = load_settings(args.data)
    workspace = open_workspace(settings)
    split = TimeSplit.ending(args.test_as_of, train_months=10, label_days=90)
    started = time.perf_counter()
    frames = {d: snapshot(workspace.tables, d, workspace.end).to_pandas() for d in split.all_dates[:-1]}
    built = time.perf_counter()
    train = training_rows(frames, split)
    valid, calibrate = (frames[d][held_out(frames[d]["account_id"])] for d in (split.valid, split.calibrate))
    columns = [c for c in train.columns if c in BY_NAME]
    categorical = [c for c in columns if BY_NAME[c].categorical]
    params = ChurnParams()
    fit_started = time.perf_counter()
    model = train_churn_model(train, valid, calibrate, columns, categorical, params=params)
    fitted = time.perf_counter()
    matrix = model.prepare(train)
    reference_started = time.perf_counter()
    lgb.train(
        {**params.lightgbm(), "objective": "binary", "n_estimators": model.best_iteration},
        lgb.Dataset(matrix, train["churn"].astype(int), categorical_feature=categorical),
    )
    reference_s = time.perf_counter() - reference_started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2

    print(f"snapshots: {len(frames)} monthly as-of dates ({split.train[0]} .. {split.calibrate}), "
          f"{sum(len(f) for f in frames.values()):,} rows")  # fmt: skip
    print(f"training rows {len(train):,} x {len(columns)} features; best iteration {model.best_iteration}")
    print(f"build snapshots  {built - started:7.1f} s")
    print(f"fit + calibrate  {fitted - fit_started:7.1f} s   (reference: lgb.train, same rows and trees "
          f"{reference_s:.1f} s)")  # fmt: skip
    print(f"total            {fitted - started:7.1f} s   (goal: 300 s)")
    print(f"peak RSS         {peak:7.2f} GiB")


if __name__ == "__main__":
    main()
