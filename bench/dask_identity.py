"""The nightly on a local Dask cluster against the same night in one process (not a test): byte-identical output.

Usage:
    .venv/bin/python bench/dask_identity.py --data data/h20f/b200k --accounts 200000 --models data/h20f/small \
        [--shards 8] [--workers 2] [--worker-memory 4GB] [--kill]

``--data`` is a workspace (simulated with ``--accounts`` when it has no raw tables); ``--models`` a workspace
whose registry holds champion churn and save models (``savedesk train``), which the nightly is pointed at. The
bench runs, on the same data and business date:

1. the features in one process (``build_features``, unsharded) and the account context built from them;
2. ``savedesk nightly`` with threads (the flow's process builds every shard);
3. ``savedesk nightly`` on a local cluster of ``--workers`` worker processes capped at ``--worker-memory``
   (started here, so that ``--kill`` can install ``tests/flows/worker_kill.KillOnce``: the worker building a
   shard's features is killed once, mid-task, and replaced).

It prints whether the published files (every file's sha256 in the manifest) and the kept account context (every
row and type, in ``account_id`` order) are identical, with each run's wall time and the flow process's peak
memory (sampled every 0.2 s). The workers' peak memory is sampled by the scheduler each second. Every run reports
to one temporary Prefect server started here.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "flows"))

ENV = {"OMP_WAIT_POLICY": "passive", "MLFLOW_DISABLE_TELEMETRY": "true", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
       "DO_NOT_TRACK": "1", "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180"}  # fmt: skip


def savedesk(*args: str, env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """One ``savedesk`` command in a child process: wall seconds, its peak RSS in GiB (sampled), its output."""
    import psutil

    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out:
        child = subprocess.Popen(  # noqa: S603 - our own command, arguments from this script
            [str(ROOT / ".venv/bin/savedesk"), *args], env={**os.environ, **ENV, **(env or {})},
            stdout=out, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        process, peak = psutil.Process(child.pid), 0
        while child.poll() is None:
            try:
                peak = max(peak, process.memory_info().rss)
            except psutil.Error:
                pass
            time.sleep(0.2)
        out.seek(0)
        output = out.read()
    seconds = time.perf_counter() - start
    if child.returncode != 0:
        raise SystemExit(f"savedesk {' '.join(args)} failed:\n{output[-3000:]}")
    return seconds, peak / 2**30, output


def published(data: Path) -> tuple[dict[str, str], Any]:
    """The published day's files (sha256 by name) and its kept account context, rows in ``account_id`` order."""
    import pandas as pd

    from pipelines.settings import load_settings

    settings = load_settings(data)
    day = max(date.fromisoformat(p.name) for p in settings.published_dir.iterdir() if p.name[:1].isdigit())
    manifest = json.loads((settings.catalog.link(day) / "manifest.json").read_text())
    context = pd.read_parquet(settings.catalog.context(day)).sort_values("account_id", ignore_index=True)
    return dict(manifest["files"]), context


class PeakSampler:
    """Each worker's peak resident memory, sampled from the scheduler every second."""

    def __init__(self, client: Any) -> None:
        self.client, self.done = client, threading.Event()
        self.peaks: dict[str, int] = {}
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        while not self.done.wait(1.0):
            for address, worker in self.client.scheduler_info()["workers"].items():
                memory = worker.get("metrics", {}).get("memory", 0)
                self.peaks[address] = max(self.peaks.get(address, 0), memory)


def main() -> None:
    """Run the three against one Prefect server (the flow's and the workers' tasks report to it)."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        os.environ["PREFECT_API_URL"] = str(PREFECT_API_URL.value())  # the children and the workers inherit it
        compare()


def compare() -> None:  # noqa: PLR0915 - one bench, read top to bottom
    """Run the three and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data/h20f/b200k")
    parser.add_argument("--accounts", type=int, default=200_000)
    parser.add_argument("--models", type=Path, default=ROOT / "data/h20f/small")
    parser.add_argument("--shards", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-memory", default="4GB")
    parser.add_argument("--kill", action="store_true", help="kill one worker once, mid-task")
    args = parser.parse_args()

    if not (args.data / "raw").is_dir():
        seconds, _, _ = savedesk("simulate", "--data", str(args.data), "--accounts", str(args.accounts),
                                 "--months", "24", "--seed", "7")  # fmt: skip
        print(f"simulated {args.accounts:,} accounts in {seconds:.0f} s")  # noqa: T201
    from pipelines.settings import load_settings

    registry = load_settings(args.models)
    env = {"SAVEDESK_MLFLOW__TRACKING_URI": registry.mlflow_tracking_uri,
           "SAVEDESK_MLFLOW__ARTIFACT_ROOT": registry.mlflow_artifact_root,
           "SAVEDESK_NIGHTLY__SHARDS": str(args.shards)}  # fmt: skip
    if not (args.data / "clean" / "validation.json").is_file():
        savedesk("validate", "--data", str(args.data))

    import pandas as pd

    from features.build import build_features
    from features.requests import account_context
    from features.view import scan_tables

    settings = load_settings(args.data)
    tables = scan_tables(settings.clean_dir)
    start = time.perf_counter()
    one = account_context(tables, _end(args.data), build_features(tables, _end(args.data)))
    one_seconds = time.perf_counter() - start

    thread_s, thread_peak, _ = savedesk("nightly", "--data", str(args.data), env={**env,
                                       "SAVEDESK_NIGHTLY__TASK_RUNNER": "threads"})  # fmt: skip
    threads_files, threads_context = published(args.data)

    from distributed import Client, LocalCluster
    from worker_kill import install

    from pipelines.cluster import local_cluster
    from pipelines.settings import NightlySettings

    desk = NightlySettings(dask_workers=args.workers, worker_memory=args.worker_memory)
    with LocalCluster(**local_cluster(desk), dashboard_address=":0") as cluster, Client(cluster) as client:
        marker = Path(tempfile.mkdtemp(prefix="savedesk-kill-")) / "killed"
        if args.kill:
            install(client, marker, "feature_shard_task", delay=1.0)
        sampler = PeakSampler(client)
        sampler.thread.start()
        dask_s, dask_peak, _ = savedesk("nightly", "--data", str(args.data), env={**env,
                                        "SAVEDESK_NIGHTLY__TASK_RUNNER": "dask",
                                        "SAVEDESK_NIGHTLY__DASK_ADDRESS": cluster.scheduler_address})  # fmt: skip
        sampler.done.set()
        limits = [w["memory_limit"] for w in client.scheduler_info()["workers"].values()]
    dask_files, dask_context = published(args.data)

    same_files = dask_files == threads_files
    differing = sorted(name for name in threads_files if dask_files.get(name) != threads_files[name])
    one_sorted = one.sort_values("account_id", ignore_index=True)
    same_context = dask_context.equals(threads_context)
    try:
        pd.testing.assert_frame_equal(dask_context, one_sorted.astype(dask_context.dtypes.to_dict()))
        same_features = True
    except AssertionError:
        same_features = False
    print(
        f"accounts in service     {len(one):,}; shards {args.shards}; workers {args.workers} capped at "  # noqa: T201
        f"{args.worker_memory} ({', '.join(f'{m / 2**30:.2f} GiB' for m in limits)})"
    )
    print(f"features, one process   {one_seconds:7.1f} s")  # noqa: T201
    print(f"nightly, threads        {thread_s:7.1f} s   flow process peak {thread_peak:5.2f} GiB")  # noqa: T201
    print(
        f"nightly, Dask           {dask_s:7.1f} s   flow process peak {dask_peak:5.2f} GiB; worker peaks "  # noqa: T201
        + ", ".join(f"{p / 2**30:.2f} GiB" for p in sampler.peaks.values())
    )
    if args.kill:
        print(f"worker killed mid-task  {marker.read_text().strip() if marker.is_file() else 'NO'}")  # noqa: T201
    print(
        f"published files identical (Dask vs threads): {same_files} ({len(threads_files)} files)"  # noqa: T201
        + (f"; differing: {differing}" if differing else "")
    )
    print(f"kept context identical (Dask vs threads): {same_context}")  # noqa: T201
    print(f"kept context equals the one-process features and context: {same_features}")  # noqa: T201


def _end(data: Path) -> date:
    """The extract's last day (the nightly's business date on a simulated extract)."""
    from sources.reader import read_extract

    end = read_extract(data / "raw").end
    assert end is not None  # noqa: S101 - a simulated extract has one
    return end


if __name__ == "__main__":
    main()
