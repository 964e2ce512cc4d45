"""Training and judging the save model and the offer policy: requests → fit → policy → values → gate.

The split is by request date. The test period is the ``save.test_months``
months of requests up to the latest whose durable-save window is complete;
training uses requests whose windows were complete before the test period
began (what a training run on its first day could have known). The policy is
judged on the test requests: against the simulator's truth when the workspace
holds it, and by the doubly robust estimate from the history alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, timedelta
from functools import cache, partial

import numpy as np
import pandas as pd
import polars as pl
from sklearn.metrics import roc_auc_score

from features.build import book_start
from features.labels import LabelSpec
from features.registry import BY_NAME
from features.requests import request_decisions
from features.view import Tables
from models.dataset import held_out
from models.metrics import expected_calibration_error
from models.names import SAVE_MODEL
from models.offer_propensity import LOGGED_PROPENSITY
from models.policy import plan_offers
from models.policy_value import PolicyValues, evaluate_policy
from models.save import SaveModel, train_save_model
from models.training_sample import draw_keys
from pipelines.book import BookSource
from pipelines.settings import Settings
from pipelines.snapshots import month_territory, territories_kept
from pipelines.training import GateOutcome, own_intervals
from pipelines.workspace import Workspace


@dataclass(frozen=True)
class RequestSplit:
    """Request dates of each step: training requests up to ``train_end``, test in ``(test_start, test_end]``.

    ``training_share`` below 1: the training requests are those of a seeded draw of accounts, that share of them
    (``training_requests``); the test period's are all kept, the requests between the periods none.
    """

    train_end: date
    test_start: date
    test_end: date
    training_share: float = 1.0

    @classmethod
    def ending(cls, test_end: date, test_months: int, durable_days: int) -> RequestSplit:
        """The split whose test period of ``test_months`` months ends on ``test_end``."""
        index = test_end.year * 12 + test_end.month - 1 - test_months
        start = date(index // 12, index % 12 + 1, min(test_end.day, 28))
        return cls(start - timedelta(days=durable_days), start, test_end)

    def describe(self) -> dict[str, str]:
        """The split as run parameters."""
        dates = {f"requests.{k}": getattr(self, k).isoformat() for k in ("train_end", "test_start", "test_end")}
        return {**dates, "requests.training_share": f"{self.training_share:.6g}"}


def request_split(settings: Settings, workspace: Workspace) -> RequestSplit:
    """The split of the workspace's requests: the test period ends where durable labels stop.

    Under ``churn.training = "sample"`` (a book too large for one process) the training requests are those of a
    seeded share of the accounts, the share that brings the book's training requests within
    ``save.max_training_requests`` (1 when they fit).
    """
    test_end = workspace.end - timedelta(days=settings.save.durable_days)
    split = RequestSplit.ending(test_end, settings.save.test_months, settings.save.durable_days)
    workspace.check_as_of(split.train_end)
    if settings.churn.training != "sample":
        return split
    source = BookSource.of(workspace, settings.clean_dir)
    if "cancellation_requests" not in source.tables:
        return split
    asked = (
        source.tables["cancellation_requests"]
        .filter(pl.col("request_date") <= split.train_end)
        .select(pl.len())
        .collect()
        .item()
    )
    share = min(1.0, settings.save.max_training_requests / max(1, asked))
    return replace(split, training_share=share)


def training_requests(decisions: pd.DataFrame, split: RequestSplit, seed: int) -> pd.DataFrame:
    """The decisions kept: every test request, and the training requests of a seeded share of the accounts.

    The share is the split's ``training_share`` of the accounts, by their place in the seeded draw
    (``models.training_sample.draw_keys``): an account is trained on with all its requests or none, on every
    machine and run. The requests between the two periods (their outcomes not known when the test period began)
    serve neither and are left out.
    """
    if split.training_share >= 1.0 or decisions.empty:
        return decisions
    day = decisions["request_date"]
    place = draw_keys(decisions["account_id"].tolist(), seed) / float(2**64)
    drawn = (day <= pd.Timestamp(split.train_end)).to_numpy() & (place < split.training_share)
    return decisions[drawn | (day > pd.Timestamp(split.test_start)).to_numpy()].reset_index(drop=True)


def load_requests(
    settings: Settings, workspace: Workspace, split: RequestSplit, test_only: bool = False
) -> pd.DataFrame:
    """Every labelled request up to the end of the test period (or only the test period's), with its context.

    With ``nightly.shards`` > 1 the requests are decided one account shard at a time, each from its shard's own
    rows, with the book's territory figures and first invoice of each month computed once: the process holds
    one shard's rows, never the book's (a 5 M book's invoices joined to its requests took a 4 GB worker past its
    cap). The rows are those of the one-process build (``tests/unit/test_shard_features.py``). With a
    ``training_share`` below 1 each shard keeps its drawn accounts' training requests (``training_requests``).
    """
    spec = LabelSpec(durable_days=settings.save.durable_days)
    start = split.test_start + timedelta(days=1) if test_only else workspace.start
    source = BookSource.of(workspace, settings.clean_dir)
    shards = settings.nightly.shards
    keep = partial(training_requests, split=split, seed=settings.churn.sample_seed)
    decisions = sharded_decisions(source, shards, workspace.end, start, split.test_end, spec, keep)
    decisions = decisions[decisions["durable_save"].notna()].copy()
    decisions["durable_save"] = decisions["durable_save"].astype(bool)
    return with_logged_propensity(decisions, workspace.tables)


def sharded_decisions(
    source: BookSource,
    shards: int,
    extract_end: date,
    start: date,
    end: date,
    spec: LabelSpec,
    keep: Callable[[pd.DataFrame], pd.DataFrame] | None = None,
) -> pd.DataFrame:
    """``request_decisions`` of the book, one account shard after another (the whole tables at once for one).

    Each month's territory figures and first invoice are the book's, computed once for every shard; ``keep``
    (default: every decision) is applied to each shard's decisions before the next shard is decided.
    """

    def territory(day: date) -> pl.DataFrame | None:
        return month_territory(source, day, shards)

    kept = keep or (lambda decisions: decisions)
    if shards == 1:
        return kept(request_decisions(source.tables, extract_end, start, end, spec, territory=territory))
    first_invoice = cache(partial(book_start, source.tables))
    with territories_kept():
        parts = [
            kept(request_decisions(
                source.shard(k, shards), extract_end, start, end, spec, territory=territory, first_invoice=first_invoice
            ))
            for k in range(shards)
        ]  # fmt: skip
    decided = [part for part in parts if len(part)] or parts[:1]  # a shard without a decision has no context columns
    return pd.concat(decided, ignore_index=True).sort_values("request_id", ignore_index=True)


def with_logged_propensity(decisions: pd.DataFrame, tables: Tables) -> pd.DataFrame:
    """The requests with ``offer_propensity``: the propensity logged with the first inside-sales attempt, if any.

    Present only when ``save_attempts`` has a ``propensity`` column (the desk published randomized offers);
    missing on requests where the rep chose. The save model and the policy's valuation use it there.
    """
    if "save_attempts" not in tables or "propensity" not in tables["save_attempts"].collect_schema().names():
        return decisions
    logged = (
        tables["save_attempts"]
        .filter(pl.col("rep_channel") == "inside_sales")
        .sort("attempt_date", "attempt_id")
        .group_by("request_id", maintain_order=True)
        .first()
        .select("request_id", pl.col("propensity").cast(pl.Float64).alias(LOGGED_PROPENSITY))
        .collect()
        .to_pandas()
    )
    return decisions.drop(columns=LOGGED_PROPENSITY, errors="ignore").merge(logged, on="request_id", how="left")


def parts(decisions: pd.DataFrame, split: RequestSplit) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The training and the test requests."""
    day = decisions["request_date"]
    train = decisions[day <= pd.Timestamp(split.train_end)]
    test = decisions[(day > pd.Timestamp(split.test_start)) & (day <= pd.Timestamp(split.test_end))]
    return train.reset_index(drop=True), test.reset_index(drop=True)


@dataclass
class SaveTraining:
    """A trained save model with its data and figures."""

    model: SaveModel
    split: RequestSplit
    train: pd.DataFrame
    test: pd.DataFrame
    metrics: dict[str, float]
    by_reason: pd.DataFrame
    policy: PolicyValues | None
    plans: pd.DataFrame


def feature_columns(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """The registered features in ``frame`` and the categorical ones among them."""
    columns = [c for c in frame.columns if c in BY_NAME]
    return columns, [c for c in columns if BY_NAME[c].categorical]


def fit_save_model(settings: Settings, decisions: pd.DataFrame, split: RequestSplit) -> SaveTraining:
    """Fit on the training requests (held-out accounts early-stop and calibrate); judge on the test period."""
    train, test = parts(decisions, split)
    hold = held_out(train["account_id"])
    columns, categorical = feature_columns(train)
    model = train_save_model(train[~hold], train[hold], columns, categorical, settings.save.params)
    return judge(settings, model, split, train, test)


def judge(
    settings: Settings, model: SaveModel, split: RequestSplit, train: pd.DataFrame, test: pd.DataFrame
) -> SaveTraining:
    """The save model's figures on the test requests and, with the truth, the policy's values."""
    p = model.predict_proba(test)
    y = test["durable_save"].astype(int).to_numpy()
    metrics = {
        "auc": float(roc_auc_score(y, p)),
        "ece": expected_calibration_error(y, p),
        "brier": float(np.mean((p - y) ** 2)),
        "save_rate": float(y.mean()),
        "mean_p": float(p.mean()),
        "requests": float(len(test)),
    }
    by_reason = _by_reason(test, p)
    save = settings.save
    plans = plan_offers(test, save.offers, save.guardrails, model.predict_proba)
    policy = None
    truth = settings.truth_dir / "save_response.parquet"
    if truth.is_file():
        propensity = pd.Series(model.propensity.chosen(test), index=test["request_id"].to_numpy())
        policy = evaluate_policy(
            plans,
            pd.read_parquet(
                truth,
                columns=["request_id", "offer", "durable_save_probability"],
                filters=[("request_id", "in", test["request_id"].tolist())],  # the test requests', not the book's
            ),
            test,
            propensity,
            save.guardrails,
            save.offers.annuity(),
            save.params.max_weight,
        )
    return SaveTraining(model, split, train, test, metrics, by_reason, policy, plans)


def _by_reason(test: pd.DataFrame, p: np.ndarray) -> pd.DataFrame:
    rows = []
    for reason, group in pd.DataFrame({"reason": test["reason"], "y": test["durable_save"], "p": p}).groupby("reason"):
        both = group["y"].nunique() == 2
        auc = float(roc_auc_score(group["y"].astype(int), group["p"])) if both else float("nan")
        rows.append({"segment": reason, "auc": auc, "rows": len(group), "save_rate": float(group["y"].mean())})
    return pd.DataFrame(rows)


def flat_figures(training: SaveTraining) -> dict[str, float]:
    """``save.*`` and ``policy.*`` figures, as ``evaluate --json`` prints and the run logs them."""
    out: dict[str, float] = {f"save.{k}": v for k, v in training.metrics.items()}
    for row in training.by_reason.to_dict("records"):
        out[f"save.reason.{row['segment']}.auc"] = float(row["auc"])
    if training.policy is not None:
        out.update(training.policy.flat("policy"))
    return out


def record_and_gate_save(
    settings: Settings, training: SaveTraining, name: str = SAVE_MODEL, *, reason: str | None = None
) -> GateOutcome:
    """Log the save model's run, register it as challenger, compare with the champion and apply the gate.

    Against a champion, the gate sees the paired interval of the AUC gain on the test requests and which
    requests each offer would lead with instead (``pipelines.promotion``); ``reason`` is why it was trained.
    """
    from dataclasses import asdict

    from models.gate import decide
    from pipelines.promotion import save_changes, save_interval
    from pipelines.services import open_tracker

    tracker = open_tracker(settings)
    rules = settings.save.gate
    figures = flat_figures(training)
    version = tracker.log_training_run(
        training.model,
        training.train,
        name=name,
        params={**training.split.describe(), **{f"save.{k}": v for k, v in asdict(settings.save.params).items()}},
        metrics={k: float(v) for k, v in figures.items() if np.isfinite(v)},
        as_of=sorted(pd.to_datetime(training.train["decided_as_of"]).dt.date.unique()),
        tables={"by_reason": training.by_reason, "recommendations": _offer_mix(training.plans)},
    )
    champion = tracker.champion_version(name)
    champion_metrics = champion_segments = interval = changes = None
    if champion is not None and champion.version != version.version:
        incumbent = tracker.load_save_model(champion.model_uri)
        judged = judge(settings, incumbent, training.split, training.train, training.test)
        champion_metrics = judged.metrics
        champion_segments = _segments(judged.by_reason)
        test = training.test
        interval = save_interval(test, incumbent.predict_proba(test), training.model.predict_proba(test), rules)
        period = f"{training.split.test_start.isoformat()} to {training.split.test_end.isoformat()}"
        changes = save_changes(judged.plans, training.plans, period)
    decision = decide(
        training.metrics,
        champion_metrics,
        rules,
        _segments(training.by_reason),
        champion_segments,
        champion_label=champion.label if champion else None,
        interval=interval,
        reason=reason,
        list_changes=changes,
        intervals=own_intervals(training.test["durable_save"], training.model.predict_proba(training.test),
                                training.test["account_id"], rules),
        rows_word="requests",
    )  # fmt: skip
    tracker.apply_gate(name, version.version, decision)
    held = champion.version if champion else None
    return GateOutcome(version.version, version.model_uri, decision.promote, decision.summary(), held, decision)


def _segments(by_reason: pd.DataFrame) -> dict[str, tuple[float, int]]:
    return {str(r["segment"]): (float(r["auc"]), int(r["rows"])) for r in by_reason.to_dict("records")}


def _offer_mix(plans: pd.DataFrame) -> pd.DataFrame:
    chosen = plans[plans["choice"] == "recommended"]
    return chosen.groupby("offer").agg(requests=("offer", "size"), expected_value=("expected_net_value", "sum"))\
        .reset_index()  # fmt: skip


def evaluate_save_model(
    settings: Settings, workspace: Workspace, alias: str = "champion", name: str = SAVE_MODEL
) -> dict[str, float | int | str]:
    """The ``save.*`` and ``policy.*`` figures of the save model holding ``alias`` on the test requests.

    Raises:
        WorkspaceError: No save model holds the alias yet.
    """
    from pipelines.services import open_tracker
    from pipelines.workspace import WorkspaceError

    tracker = open_tracker(settings)
    holder = tracker.alias_version(name, alias)
    if holder is None:
        raise WorkspaceError(f"No {name} {alias} in {settings.mlflow_tracking_uri}: run savedesk train first.")
    model = tracker.load_save_model(holder.model_uri)
    split = request_split(settings, workspace)
    train, test = parts(load_requests(settings, workspace, split, test_only=True), split)
    training = judge(settings, model, split, train, test)
    return {
        **flat_figures(training),
        "save.model_version": holder.version,
        "save.test_start": split.test_start.isoformat(),
        "save.test_end": split.test_end.isoformat(),
    }
