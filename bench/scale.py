"""Benchmark: savedesk's stages on books of growing size, on a local Dask cluster of capped workers.

Usage:
    .venv/bin/python bench/scale.py [--books data/scale/m1,data/scale/m2,data/scale/m5]
        [--stages validate,features,train,nightly] [--workers 2] [--memory-limit 4GB] [--work data/h20t/scale]
        [--max-training-rows 1000000] [--models TRAINED_WORKSPACE] [--reuse] [--record FIGURES.jsonl]

For each book (a simulated workspace; its ``raw`` and ``truth`` folders are linked into a fresh workspace under
``--work``, so the book itself is never written) it runs the real commands one after another, each in its own
process: ``savedesk validate``, ``savedesk features`` (the book's last day), ``savedesk train`` and
``savedesk nightly``, pointed at a cluster this script starts (``SAVEDESK_NIGHTLY__TASK_RUNNER=dask``,
``SAVEDESK_NIGHTLY__DASK_ADDRESS``: savedesk uses it as it would any running cluster), with
``churn.training = "sample"`` and ``nightly.shards`` of about ``--accounts-per-shard`` accounts. While a stage
runs, psutil samples every 0.2 s the resident memory of the command's process (the flow), of its own child
processes, and of each worker, and the workers' CPU time, so each row says where the stage's work ran. A worker
over its cap shows as a peak above it or as a restart (Dask's nanny replaces a worker past 95 % of its limit;
a new process id).

Without a train stage, ``--models`` lends the nightly a trained workspace's registry and uplift model (models
trained on a smaller book of the same simulator).

Prints one row per book and stage, then the growth of each stage's time and peak memory per doubling of the
book ((t₂ / t₁) ^ (log 2 / log(n₂ / n₁)): 2.0 is linear). ``--record F`` adds the rows to the JSON-lines file F
and prints the table and the growth over F's latest row of each book and stage: books measured in separate runs
(a stage rerun after a fix) share one table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psutil
from dask.distributed import Client, LocalCluster
from dask.utils import parse_bytes

# The repository first: the workers this script starts inherit its path, and bench/features.py must not
# stand in for the features package there.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

GIB = 1024**3
SAMPLE_SECONDS = 0.2
STAGES = ["validate", "features", "train", "nightly"]


@dataclass
class StageFigures:
    """What one stage of one book cost."""

    book: str
    accounts: int
    stage: str
    wall_s: float = 0.0
    flow_peak: int = 0
    children_peak: int = 0
    worker_peaks: dict[int, int] = field(default_factory=dict)
    worker_cpu_s: float = 0.0
    restarts: int = 0
    exit_code: int = 0


class Sampler(threading.Thread):
    """Samples the stage's process tree and the workers until told to stop."""

    def __init__(self, process: psutil.Process, client: Client, figures: StageFigures) -> None:
        super().__init__(daemon=True)
        self.process, self.client, self.figures = process, client, figures
        self.done = threading.Event()
        self.cpu_seen: dict[int, float] = {}
        """Each worker's CPU seconds at its latest sample: a worker replaced mid-stage keeps what it had used."""

    def run(self) -> None:
        """Sample every ``SAMPLE_SECONDS`` until ``done``."""
        while not self.done.is_set():
            self.sample()
            self.done.wait(SAMPLE_SECONDS)

    def sample(self) -> None:
        """One sample: the flow's RSS, its children's summed RSS, each worker's RSS."""
        figures = self.figures
        try:
            figures.flow_peak = max(figures.flow_peak, self.process.memory_info().rss)
            children = sum(_rss(child) for child in self.process.children(recursive=True))
            figures.children_peak = max(figures.children_peak, children)
        except psutil.NoSuchProcess:
            pass
        for pid in worker_pids(self.client):
            figures.worker_peaks[pid] = max(figures.worker_peaks.get(pid, 0), _rss(psutil.Process(pid)))
            self.cpu_seen[pid] = max(self.cpu_seen.get(pid, 0.0), worker_cpu([pid]))


def _rss(process: psutil.Process) -> int:
    try:
        return int(process.memory_info().rss)
    except psutil.NoSuchProcess:
        return 0


def worker_pids(client: Client) -> list[int]:
    """The process ids of the cluster's workers now."""
    try:
        return sorted(int(pid) for pid in client.run(os.getpid, wait=True).values())
    except (OSError, TimeoutError):  # a worker that is restarting answers on the next sample
        return []


def worker_cpu(pids: list[int]) -> float:
    """The CPU seconds the workers have used so far."""
    total = 0.0
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            continue
    return total


def stage_command(stage: str, workspace: Path, end: str, shards: int) -> list[str]:
    """The savedesk command of a stage."""
    savedesk = str(Path(sys.executable).with_name("savedesk"))
    data = ["--data", str(workspace)]
    features = ["--as-of", end, "--out", str(workspace / "bench-features.parquet"), "--shards", str(shards)]
    return {
        "validate": [savedesk, "validate", *data],
        "features": [savedesk, "features", *data, *features],
        "train": [savedesk, "train", *data],
        "nightly": [savedesk, "nightly", *data],
    }[stage]


def run_stage(stage: str, workspace: Path, end: str, client: Client, env: dict[str, str], book: str) -> StageFigures:
    """Run one stage's command and measure it."""
    figures = StageFigures(book, accounts_of(workspace), stage)
    before_pids = worker_pids(client)
    cpu_before = {pid: worker_cpu([pid]) for pid in before_pids}
    log = (workspace / f"bench-{stage}.log").open("w")
    started = time.perf_counter()
    command = stage_command(stage, workspace, end, int(env["SAVEDESK_NIGHTLY__SHARDS"]))
    child = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
    sampler = Sampler(psutil.Process(child.pid), client, figures)
    sampler.start()
    figures.exit_code = child.wait()
    figures.wall_s = time.perf_counter() - started
    sampler.done.set()
    sampler.join()
    log.close()
    for pid in worker_pids(client):
        sampler.cpu_seen[pid] = max(sampler.cpu_seen.get(pid, 0.0), worker_cpu([pid]))
    figures.worker_cpu_s = sum(cpu - cpu_before.get(pid, 0.0) for pid, cpu in sampler.cpu_seen.items())
    figures.restarts = len(set(figures.worker_peaks) - set(before_pids))
    return figures


def accounts_of(workspace: Path) -> int:
    """The book's accounts (the simulator's summary)."""
    summary = json.loads((workspace / "truth" / "summary.json").read_text())
    return int(summary["rows"]["accounts"]) if "rows" in summary else int(summary["accounts"])


def borrowed_models(models: Path, workspace: Path) -> dict[str, str]:
    """Point the workspace at a trained workspace's registry and copy its uplift model: the settings to add."""
    from pipelines.outreach_ranking import uplift_path
    from pipelines.settings import load_settings

    trained, here = load_settings(models), load_settings(workspace)
    if uplift_path(trained).is_file():
        uplift_path(here).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(uplift_path(trained), uplift_path(here))
    return {"SAVEDESK_MLFLOW__TRACKING_URI": trained.mlflow_tracking_uri,
            "SAVEDESK_MLFLOW__ARTIFACT_ROOT": trained.mlflow_artifact_root}  # fmt: skip


def workspace_for(book: Path, work: Path, reuse: bool = False) -> Path:
    """A fresh workspace reading the book's raw tables and truth through links (``reuse``: the one validated
    already under ``work``, its clean tables kept and its models and features removed)."""
    workspace = work / book.name
    if reuse and (workspace / "clean").is_dir():
        for made in ("mlflow", "features", "prefect", "lists", "models"):
            shutil.rmtree(workspace / made, ignore_errors=True)
        return workspace
    shutil.rmtree(workspace, ignore_errors=True)
    workspace.mkdir(parents=True)
    for folder in ("raw", "truth"):
        (workspace / folder).symlink_to((book / folder).resolve(), target_is_directory=True)
    return workspace


def extract_end(workspace: Path) -> str:
    """The extract's last day."""
    return str(json.loads((workspace / "raw" / "extract.json").read_text())["end_date"])


def row(f: StageFigures, cap: int) -> str:
    """One stage's line of the table."""
    workers = " ".join(f"{peak / GIB:4.2f}" for _, peak in sorted(f.worker_peaks.items()))
    over = f.restarts > 0 or any(peak > cap for peak in f.worker_peaks.values())
    where = "workers" if f.worker_cpu_s > 0.1 * f.wall_s else "flow"
    status = "" if f.exit_code == 0 else f" EXIT {f.exit_code}"
    return (f"| {f.accounts:>9,} | {f.stage:<8} | {f.wall_s:8.1f} | {f.flow_peak / GIB:5.2f} | "
            f"{f.children_peak / GIB:5.2f} | {workers:<14} | {f.worker_cpu_s:7.1f} | {where:<7} | "
            f"{'YES' if over else 'no':<4} |{status}")  # fmt: skip


def recorded(path: Path, figures: list[StageFigures]) -> list[StageFigures]:
    """Add ``figures`` to the JSON-lines file at ``path``; return its latest row of each book size and stage."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as out:
        for f in figures:
            out.write(json.dumps({**asdict(f), "worker_peaks": list(f.worker_peaks.items())}) + "\n")
    latest: dict[tuple[int, str], StageFigures] = {}
    for line in path.read_text().splitlines():
        fields = json.loads(line)
        peaks = {int(pid): int(peak) for pid, peak in fields.pop("worker_peaks")}
        f = StageFigures(**fields, worker_peaks=peaks)
        latest[(f.accounts, f.stage)] = f
    return list(latest.values())


def growth(figures: list[StageFigures]) -> None:
    """Each stage's time and flow memory growth per doubling between consecutive books."""
    stages = sorted({f.stage for f in figures}, key=STAGES.index)
    for stage in stages:
        ordered = sorted((f for f in figures if f.stage == stage and f.exit_code == 0), key=lambda f: f.accounts)
        for small, large in zip(ordered, ordered[1:], strict=False):
            doubling = math.log(2) / math.log(large.accounts / small.accounts)
            time_ratio = (large.wall_s / small.wall_s) ** doubling
            memory = max(large.flow_peak, *large.worker_peaks.values(), 0)
            memory_small = max(small.flow_peak, *small.worker_peaks.values(), 0)
            print(f"{stage:<8} {small.accounts:>9,} -> {large.accounts:>9,}: time x{time_ratio:.2f} per doubling, "
                  f"largest process x{(memory / memory_small) ** doubling:.2f} per doubling")  # fmt: skip


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--books", default="data/scale/m1,data/scale/m2,data/scale/m5")
    parser.add_argument("--stages", default="validate,features,train,nightly")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-limit", default="4GB")
    parser.add_argument("--work", type=Path, default=Path("data/h20t/scale"))
    parser.add_argument("--max-training-rows", type=int, default=2_000_000)
    parser.add_argument("--accounts-per-shard", type=int, default=250_000, help="nightly.shards: at least 4")
    parser.add_argument("--models", type=Path, default=None,
                        help="A trained workspace whose registry (and uplift model) the nightly uses when the run has "
                        "no train stage")  # fmt: skip
    parser.add_argument("--record", type=Path, default=None,
                        help="A JSON-lines file this run's rows are added to; the growth is then printed over its "
                        "latest row of each book and stage, so books run apart share one table")  # fmt: skip
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="Keep a workspace validated by an earlier run under --work (stages without validate)",
    )
    args = parser.parse_args()
    cap = parse_bytes(args.memory_limit)
    cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                           memory_limit=args.memory_limit, dashboard_address=None)  # fmt: skip
    client = Client(cluster)
    env = {**os.environ, "SAVEDESK_NIGHTLY__TASK_RUNNER": "dask",
           "SAVEDESK_NIGHTLY__DASK_ADDRESS": cluster.scheduler_address, "SAVEDESK_CHURN__TRAINING": "sample",
           "SAVEDESK_CHURN__MAX_TRAINING_ROWS": str(args.max_training_rows),
           "SAVEDESK_VALIDATION_RUN__TASK_RUNNER": "dask", "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
           "OMP_WAIT_POLICY": "passive", "MLFLOW_DISABLE_TELEMETRY": "true",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}  # fmt: skip
    print(f"cluster {cluster.scheduler_address}: {args.workers} workers x 1 thread, memory limit {args.memory_limit}")
    print(
        "| accounts | stage | wall s | flow GiB | children GiB | worker peaks GiB | worker CPU s | ran on | over cap |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    figures: list[StageFigures] = []
    for book in (Path(b) for b in args.books.split(",")):
        if not (book / "raw" / "extract.json").is_file():
            print(f"| {book} | not simulated: skipped |")
            continue
        workspace = workspace_for(book, args.work, reuse=args.reuse)
        shards = max(4, math.ceil(accounts_of(workspace) / args.accounts_per_shard))
        book_env = {**env, "SAVEDESK_NIGHTLY__SHARDS": str(shards), "SAVEDESK_VALIDATION_RUN__SHARDS": str(shards)}
        if args.models is not None and "train" not in args.stages.split(","):
            book_env |= borrowed_models(args.models, workspace)
        for stage in args.stages.split(","):
            figures.append(run_stage(stage, workspace, extract_end(workspace), client, book_env, book.name))
            print(row(figures[-1], cap), flush=True)
    if args.record is not None:
        figures = recorded(args.record, figures)
        print(f"every row in {args.record}:")
        for f in sorted(figures, key=lambda f: (f.accounts, STAGES.index(f.stage))):
            print(row(f, cap))
    growth(figures)
    client.close()
    cluster.close()


if __name__ == "__main__":
    main()
