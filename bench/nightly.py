"""Benchmark the nightly run (not a test): wall time and peak memory, scoring and talking points beside LightGBM.

Usage:
    .venv/bin/python bench/nightly.py --data bench/out/simulate --models data/ws50 [--repeat 3]

``--data`` is a validated workspace (for example 1,000,000 simulated accounts
from ``bench/simulate.py``); ``--models`` a workspace whose registry holds
champion churn and save models (``savedesk train``). The nightly flow runs as
``savedesk nightly`` in a child process pointed at that registry; its wall
time and peak resident memory are printed with the targets (6 minutes, 3 GB).
Then, in this process, on the same rows:

- scoring: ``ChurnModel.predict_proba`` on every account against a bare
  ``Booster.predict`` on the already-prepared matrix;
- talking points: ``models.talking_points.talking_points`` on the listed rows
  against LightGBM's own ``pred_contrib`` of the churn and save models on the
  same rows.

Wall time: the median over ``--repeat`` runs. The two ratios are the medians of
``--pairs`` interleaved pairs (ours, then LightGBM's, back to back), so a busy
machine slows both sides of each pair alike. ``--ratios-only`` skips the
nightly runs and reads the lists they published last.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median wall seconds of ``fn`` and its last result."""
    seconds, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), result


def paired(ours: Callable[[], Any], reference: Callable[[], Any], pairs: int) -> tuple[float, float, float]:
    """Median seconds of each side and the median of the per-pair ratios, over interleaved pairs."""
    a, b = [], []
    for _ in range(pairs):
        a.append(timed(ours, 1)[0])
        b.append(timed(reference, 1)[0])
    ratios = [x / y for x, y in zip(a, b, strict=True)]
    return statistics.median(a), statistics.median(b), statistics.median(ratios)


def nightly_run(data: Path, models: Path) -> tuple[float, float, str]:
    """One ``savedesk nightly`` in a child process: wall seconds, peak RSS in GiB, its output's last lines."""
    from pipelines.settings import load_settings

    registry = load_settings(models)
    env = {
        **os.environ,
        "SAVEDESK_MLFLOW__TRACKING_URI": registry.mlflow_tracking_uri,
        "SAVEDESK_MLFLOW__ARTIFACT_ROOT": registry.mlflow_artifact_root,
        "OMP_WAIT_POLICY": "passive",
        "MLFLOW_DISABLE_TELEMETRY": "true",
    }
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - our own command, arguments from this script
        [str(ROOT / ".venv/bin/savedesk"), "nightly", "--data", str(data)],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"savedesk nightly failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    peak = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 2**20
    return seconds, peak, "\n".join(done.stdout.splitlines()[:2])


def main() -> None:
    """Run the benchmark and print the figures side by side."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "bench/out/simulate")
    parser.add_argument("--models", type=Path, default=ROOT / "data/ws50")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pairs", type=int, default=9)
    parser.add_argument("--ratios-only", action="store_true")
    args = parser.parse_args()

    if not args.ratios_only:
        runs = [nightly_run(args.data, args.models) for _ in range(args.repeat)]
        wall = statistics.median(r[0] for r in runs)
        peak = max(r[1] for r in runs)
        print(runs[-1][2])  # noqa: T201
        print(f"nightly run      {wall:8.1f} s  (target 360 s)   peak {peak:5.2f} GiB (target 3 GiB)")  # noqa: T201

    import pandas as pd

    from features.view import scan_tables
    from models.save import with_offer_design
    from models.talking_points import talking_points
    from pipelines.nightly import build_context
    from pipelines.services import open_tracker
    from pipelines.settings import load_settings
    from pipelines.workspace import open_workspace
    from serving.publication.catalog import LIST_FILES, REQUEST_LISTS

    settings = load_settings(args.data)
    tracker = open_tracker(load_settings(args.models))
    churn = tracker.load_churn_model("models:/savedesk-churn@champion")
    save = tracker.load_save_model("models:/savedesk-save@champion")
    workspace = open_workspace(settings)
    day: date = workspace.end
    context = build_context(scan_tables(settings.clean_dir), day)
    matrix = churn.model_input(context)  # what predict_proba hands LightGBM (a frame at this size)
    ours, bare, ratio = paired(lambda: churn.predict_proba(context), lambda: churn.booster.predict(matrix), args.pairs)
    print(  # noqa: T201
        f"scoring          {ours:8.2f} s  bare Booster.predict {bare:6.2f} s  ratio {ratio:5.2f} (target 1.2)"
        f"  [{len(context):,} accounts]"
    )

    folder = settings.catalog.resolved(day)
    wanted = ["list_key", "account_id", "offer", "likely_reason"]  # likely_reason: proactive rows only
    keys = pd.concat([pd.read_parquet(folder / file).reindex(columns=wanted) for file in LIST_FILES.values()])
    requests = pd.concat(
        [pd.read_parquet(folder / LIST_FILES[n], columns=["list_key", "reason"]) for n in REQUEST_LISTS]
    )
    listed = context.merge(keys, on="account_id").merge(requests, on="list_key", how="left")
    listed["guardrail_note"] = ""
    # The inputs LightGBM reads for these rows (a float matrix at this size), built once outside the timing.
    churn_x, save_x = churn.model_input(listed), save.outcome.model_input(with_offer_design(listed))

    def contrib() -> None:
        churn.booster.predict(churn_x, pred_contrib=True)
        save.outcome.booster.predict(save_x, pred_contrib=True)

    explain = lambda: talking_points(churn, save, listed, day, key="list_key")  # noqa: E731
    points, raw, ratio = paired(explain, contrib, args.pairs)
    print(  # noqa: T201
        f"talking points   {points:8.2f} s  bare pred_contrib    {raw:6.2f} s  ratio {ratio:5.2f} (target 1.2)"
        f"  [{len(listed):,} listed rows]"
    )


if __name__ == "__main__":
    main()
