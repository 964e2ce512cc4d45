"""Training the churn model: snapshots → fit → evaluate → record → gate.

The gate compares the new model with the champion on the same test month: the
paired interval of the AUC gain, and how the lists would change on the latest
book (``pipelines.promotion``).

The functions here are the steps the ``train`` command and the Prefect training
flow run; each calls package functions and passes data along, nothing more.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import polars as pl

from features.labels import LabelSpec, churn_labels
from features.registry import BY_NAME
from features.snapshots import snapshot
from models.churn import ChurnModel, train_churn_model
from models.dataset import TimeSplit, held_out
from models.drift import profile
from models.evaluation import ChurnEvaluation, evaluate_churn_model, evaluate_scores, oracle_month, oracle_scores
from models.gate import GateDecision, decide
from models.list_changes import ListChanges
from models.names import CHURN_MODEL
from models.search import SearchReport, search_by_time
from models.training_sample import AccountSample, sample_accounts
from pipelines.book import BookSource
from pipelines.settings import Settings
from pipelines.snapshots import cut_snapshot
from pipelines.workspace import Workspace

if TYPE_CHECKING:
    from models.gate import GateRules
    from models.params import EmpcParams
    from models.score_intervals import MetricInterval
    from models.tracking import RegisteredVersion, Tracker


@dataclass
class ChurnTraining:
    """A trained churn model with the data it saw and its evaluation."""

    model: ChurnModel
    split: TimeSplit
    train: pd.DataFrame
    test: pd.DataFrame
    evaluation: ChurnEvaluation
    columns: list[str]
    categorical: list[str]
    search: SearchReport | None = None
    """The settings search inside the training months (None: not run)."""
    sample: AccountSample | None = None
    """The accounts trained and judged on under ``churn.training = "sample"`` (None: the whole book)."""


def label_spec(settings: Settings) -> LabelSpec:
    """The churn label window the settings declare."""
    churn = settings.churn
    return LabelSpec(
        horizon_days=churn.horizon_days,
        lead_days=churn.lead_days,
        definition=churn.definition,
        no_billing_days=churn.no_billing_days,
    )


def time_split(settings: Settings, workspace: Workspace, as_of: date | None) -> TimeSplit:
    """The split whose test month is ``as_of`` (default: the latest with a complete label window)."""
    from models.dataset import SplitError
    from pipelines.workspace import WorkspaceError

    spec = label_spec(settings)
    if as_of is not None:
        workspace.check_as_of(as_of)
    test = as_of or spec.last_labelled_as_of(workspace.end)
    try:
        return TimeSplit.fitting(test, settings.churn.train_months, spec.lead_days + spec.horizon_days, workspace.start)
    except SplitError as error:
        raise WorkspaceError(str(error)) from None


class Snapshots(dict[date, pd.DataFrame]):
    """The split's snapshots by as-of date, and the account sample they were cut to (None: the whole book)."""

    sample: AccountSample | None = None


def load_snapshots(settings: Settings, workspace: Workspace, split: TimeSplit) -> Snapshots:
    """Features and labels of every as-of date of the split (of the sampled accounts under ``churn.training``).

    Under "sample" each month's snapshot is built one account shard at a time (``nightly.shards``) and cut to
    the sample as each shard is built, so the process holds one shard of the book and the sampled rows, never a
    month of the whole book.
    """
    spec = label_spec(settings)
    sample = training_sample(settings, workspace, split) if settings.churn.training == "sample" else None
    frames = Snapshots()
    frames.sample = sample
    kept = sample.accounts if sample is not None else np.array([], dtype=object)
    accounts = pl.DataFrame({"account_id": kept}, schema={"account_id": pl.String})
    for day in split.all_dates:
        if sample is not None and sample.sampled:
            frame = book_snapshot(settings, workspace, day, lambda f: f.join(accounts, on="account_id", how="semi"))
        else:
            frame = snapshot(workspace.tables, day, workspace.end, spec)
        frames[day] = frame.to_pandas()
    return frames


def book_snapshot(
    settings: Settings, workspace: Workspace, day: date, keep: Callable[[pl.DataFrame], pl.DataFrame]
) -> pl.DataFrame:
    """The rows ``keep`` keeps of ``day``'s snapshot, built for the kept accounts alone (``cut_snapshot``)."""
    source = BookSource.of(workspace, settings.clean_dir)
    return cut_snapshot(workspace, day, label_spec(settings), keep, settings.nightly.shards, source)


def training_sample(settings: Settings, workspace: Workspace, split: TimeSplit) -> AccountSample:
    """The seeded case-control account sample of ``churn.max_training_rows`` (``models.training_sample``).

    Drawn from the labels alone (no features are built for it): every account labelled in a month of the
    split, its stratum whether it churned in a training month, and its held-in training rows. The labels are
    read month by month and account shard by shard (``nightly.shards``), each shard's accounts kept apart: the
    process holds one shard's labels of one month, never the whole book's (5 M accounts took a 4 GB worker
    past its cap).
    """
    spec, shards = label_spec(settings), settings.nightly.shards
    source = BookSource.of(workspace, settings.clean_dir)
    schema = {"account_id": pl.String, "rows": pl.Int64, "churned": pl.Boolean}
    seen = [pl.DataFrame(schema=schema) for _ in range(shards)]  # each shard's accounts: one shard's labels at a time
    for day in split.all_dates:
        training = day in split.train
        for k in range(shards):
            labels = churn_labels(source.shard(k, shards), day, workspace.end, spec)
            ids = labels["account_id"].cast(pl.String)
            held_in = ~np.asarray(held_out(ids.to_pandas()), dtype=bool) & training
            rows = held_in.astype(np.int64)
            month = pl.DataFrame(
                {"account_id": ids, "rows": rows, "churned": labels["churn"] & training}, schema=schema
            )
            both = pl.concat([seen[k], month])
            seen[k] = both.group_by("account_id").agg(pl.col("rows").sum(), pl.col("churned").any())
    ordered = pl.concat(seen).sort("account_id")
    ids_np = ordered["account_id"].to_numpy()
    churn = settings.churn
    return sample_accounts(
        ids_np, ordered["churned"].to_numpy(), ordered["rows"].to_numpy(), churn.max_training_rows, churn.sample_seed
    )


def read_oracle(settings: Settings, as_of: date) -> pd.DataFrame | None:
    """The simulator's best possible ranking of the test month, when the workspace holds the truth."""
    path = settings.truth_dir / "hazard.parquet"
    if not path.is_file():
        return None
    churn = settings.churn
    # The window's month alone: the whole truth is every account's every month (100 M rows at 5 M accounts).
    hazard = pd.read_parquet(path, filters=[("month", "==", oracle_month(as_of, churn.lead_days))])
    return oracle_scores(hazard, as_of, churn.horizon_days, churn.lead_days)


def training_rows(frames: dict[date, pd.DataFrame], split: TimeSplit) -> pd.DataFrame:
    """The training months' rows of the accounts that are not held out."""
    return pd.concat([frames[d][~held_out(frames[d]["account_id"])] for d in split.train], ignore_index=True)


def fit_and_evaluate(settings: Settings, split: TimeSplit, frames: dict[date, pd.DataFrame]) -> ChurnTraining:
    """Fit the churn model on the split's snapshots and judge it on the test month.

    Under a case-control sample (``models.training_sample``) every step weighs each row by its account: the
    settings search, the fit, the early stopping, the Platt calibration and the test month's figures.
    """
    sample: AccountSample | None = getattr(frames, "sample", None)
    weight = row_weights(sample)
    train = training_rows(frames, split)
    valid, calibrate = (frames[d][held_out(frames[d]["account_id"])] for d in (split.valid, split.calibrate))
    check_classes(settings, split, train, frames[split.test])
    columns = [c for c in train.columns if c in BY_NAME]
    categorical = [c for c in columns if BY_NAME[c].categorical]
    params, search = search_by_time(
        train, columns, categorical, settings.churn.params, settings.churn.search,
        weights=weight(train) if weight else None,
    )  # fmt: skip
    model = train_churn_model(train, valid, calibrate, columns, categorical, params=params, weight=weight)
    # What the model was trained on, kept inside it: the nightly run measures drift against it (in the book's
    # proportions: a case-control sample's churned accounts thinned to the stayed share).
    reference = train[sample.book_like(train["account_id"])] if sample is not None else train
    reference = reference[columns].assign(churn_probability=model.predict_proba(reference))
    model.metadata["reference"] = profile(reference, [*columns, "churn_probability"], categorical)
    test = frames[split.test]
    evaluation = evaluate_churn_model(
        model, train, test, categorical, settings.churn.empc, oracle=read_oracle(settings, split.test),
        weights=weight(test) if weight else None,
    )  # fmt: skip
    evaluation.extras.update(trivial_figures(train, test))
    return ChurnTraining(model, split, train, test, evaluation, columns, categorical, search, sample)


def row_weights(sample: AccountSample | None) -> Callable[[pd.DataFrame], np.ndarray] | None:
    """Each row's weight by its account under a case-control sample (None: every row weighs 1)."""
    if sample is None or not sample.weighted:
        return None
    return lambda frame: sample.weights(frame["account_id"])


def check_classes(settings: Settings, split: TimeSplit, train: pd.DataFrame, test: pd.DataFrame) -> None:
    """Refuse labels of one class (nothing to learn or judge) with what to change.

    Raises:
        WorkspaceError: The training or the test month's churn labels hold only one class.
    """
    from pipelines.workspace import WorkspaceError

    churn = settings.churn
    for what, frame, days in (("training months", train, split.train), ("test month", test, (split.test,))):
        if frame.empty or frame["churn"].nunique() < 2:
            outcome = "churned" if not frame.empty and frame["churn"].all() else "stayed"
            held = "no account" if frame.empty else f"{len(frame):,} rows, all {outcome}"
            raise WorkspaceError(
                f"The churn labels of the {what} ({', '.join(d.isoformat() for d in days)}) hold only one class"
                f" ({held}) under churn.definition = {churn.definition}: set churn.definition = no_billing"
                " (customers whose billing stops) or request_or_close (needs cancellation_requests or"
                " accounts.close_date), or give a longer extract."
            )


def trivial_figures(train: pd.DataFrame, test: pd.DataFrame) -> dict[str, float]:
    """The test AUC of each one-feature baseline (``models.baselines.TRIVIAL_BASELINES``) as evaluation extras."""
    from models.baselines import trivial_baseline_aucs

    return {f"baseline_{name.replace(' ', '_')}_auc": auc for name, auc in trivial_baseline_aucs(train, test).items()}


def trivial_callout(evaluation: ChurnEvaluation) -> str:
    """The sentence that calls out a model no better than a one-feature baseline (empty when it is better)."""
    from models.baselines import TRIVIAL_BASELINES, no_better_than_trivial

    trivial = {
        name: float(evaluation.extras[key])
        for name in TRIVIAL_BASELINES
        if (key := f"baseline_{name.replace(' ', '_')}_auc") in evaluation.extras
    }
    return no_better_than_trivial(float(evaluation.metrics["auc"]), trivial)


def plot_files(training: ChurnTraining, folder: Path) -> list[Path]:
    """The evaluation plots of a training, written into ``folder``."""
    from models.baselines import rule_scores
    from models.plots import calibration_plot, gain_plot, roc_plot, shap_summary_plot

    scored = training.evaluation.scored
    y, p = scored["churn"].to_numpy(), scored["score"].to_numpy()
    sample = training.test.sample(n=min(2000, len(training.test)), random_state=0)
    return [
        roc_plot(y, {"churn model": p, "rule": rule_scores(training.test)}, folder / "roc.png"),
        gain_plot(y, p, folder / "gain.png"),
        calibration_plot(y, p, folder / "calibration.png"),
        shap_summary_plot(training.model.contributions(sample), folder / "shap_summary.png"),
    ]


@dataclass
class GateOutcome:
    """What the training run registered and what the gate did with it."""

    version: int
    model_uri: str
    promoted: bool
    summary: str
    champion_version: int | None
    decision: GateDecision | None = None
    """The decision: its checks, the paired interval and the list changes."""


def record_and_gate(
    settings: Settings,
    training: ChurnTraining,
    name: str = CHURN_MODEL,
    *,
    reason: str | None = None,
    workspace: Workspace | None = None,
) -> GateOutcome:
    """Log the run, register the model as challenger, compare with the champion and apply the gate.

    Args:
        settings: The gate's rules, EMPC and the desk's capacity.
        training: The trained model and its test month.
        name: The registered model's name.
        reason: Why this model was trained (with it, a non-inferior model may be promoted).
        workspace: The workspace, for the list changes on its latest book (left out without it).
    """
    import tempfile

    from pipelines.promotion import latest_churn_changes
    from pipelines.services import open_tracker

    tracker = open_tracker(settings)
    evaluation = training.evaluation
    with tempfile.TemporaryDirectory() as folder:
        version = tracker.log_training_run(
            training.model,
            training.train,
            name=name,
            params={**training.split.describe(), **_params(settings, training.search, training.sample)},
            metrics=evaluation.flat("test"),
            as_of=list(training.split.train),
            plots=plot_files(training, Path(folder)),
            tables={"by_segment": evaluation.by_segment, "by_territory": evaluation.by_territory},
            reports={"settings_search": training.search.document()} if training.search else None,
        )
    changes = None
    if workspace is not None:
        desk = settings.nightly.proactive_per_rep

        def changes(champion: ChurnModel, challenger: ChurnModel) -> ListChanges:
            return latest_churn_changes(workspace.tables, workspace.end, champion, challenger, desk)

    weight = row_weights(training.sample)
    decision, champion = gate_churn(
        tracker, version.version, training.model, training.test, settings.churn.gate, settings.churn.empc,
        name=name, reason=reason, changes=changes, weights=weight(training.test) if weight else None,
    )  # fmt: skip
    callout = trivial_callout(evaluation)
    tags = {**(workspace.shape.tags() if workspace is not None else {}), "baseline.no_better_than_trivial":
            "true" if callout else "false", "label.definition": settings.churn.definition}  # fmt: skip
    if training.split.dropped_train_months:
        tags["split.train_months_dropped"] = str(training.split.dropped_train_months)
    for key, value in tags.items():  # the run's tags: what the extract lacked and what the figures say
        tracker.client.set_tag(version.run_id, key, value)
    said = [decision.summary(), callout, _short_history(settings, training.split)]
    if workspace is not None:
        said.append(workspace.shape.sentence())
    return GateOutcome(
        version.version,
        version.model_uri,
        decision.promote,
        " ".join(part for part in said if part),
        champion.version if champion else None,
        decision,
    )


def _short_history(settings: Settings, split: TimeSplit) -> str:
    """What a history too short for ``churn.train_months`` changed (empty when it held them all)."""
    if not split.dropped_train_months:
        return ""
    return (
        f"The history holds {len(split.train)} of the {settings.churn.train_months} training months"
        f" (churn.train_months) before the validation month {split.valid}: trained on those."
    )


def gate_churn(
    tracker: Tracker,
    version: int,
    model: ChurnModel,
    test: pd.DataFrame,
    rules: GateRules,
    empc: EmpcParams,
    *,
    name: str = CHURN_MODEL,
    reason: str | None = None,
    changes: Callable[[ChurnModel, ChurnModel], ListChanges] | None = None,
    weights: np.ndarray | None = None,
) -> tuple[GateDecision, RegisteredVersion | None]:
    """Judge registered ``version`` against the champion on ``test`` and apply the gate (recorded and audited).

    The champion is loaded from the registry (as served, not as remembered) and scored on the same rows; the
    paired interval of the AUC gain is drawn over the test month's accounts (``pipelines.promotion``), and
    ``changes(champion, challenger)`` says how the lists would change. With ``weights`` (a case-control
    sample's test month) both models' figures are weighted, the book's, and so are the bootstrap intervals.

    Returns:
        The decision, and the champion it was compared with (None when there was none).
    """
    from pipelines.promotion import churn_interval

    mine = evaluate_scores(test, model.predict_proba(test), empc, weights=weights)
    champion = tracker.champion_version(name)
    champion_metrics = champion_segments = interval = listed = None
    if champion is not None and champion.version != version:
        incumbent = tracker.load_churn_model(champion.model_uri)
        judged = evaluate_scores(test, incumbent.predict_proba(test), empc, weights=weights)
        champion_metrics, champion_segments = judged.metrics, judged.segment_aucs()
        interval = churn_interval(incumbent, model, test, rules, weights)
        listed = changes(incumbent, model) if changes is not None else None
    decision = decide(
        mine.metrics,
        champion_metrics,
        rules,
        mine.segment_aucs(),
        champion_segments,
        champion_label=champion.label if champion else None,
        interval=interval,
        reason=reason,
        list_changes=listed,
        intervals=own_intervals(test["churn"], model.predict_proba(test), test["account_id"], rules, weights),
    )
    tracker.apply_gate(name, version, decision)
    return decision, champion


def own_intervals(
    labels: pd.Series, scores: np.ndarray, accounts: pd.Series, rules: GateRules, weights: np.ndarray | None = None
) -> dict[str, MetricInterval] | None:
    """The bootstrap intervals of a model's AUC and ECE on its test rows, drawn as ``rules`` say (None: one class).

    With ``weights`` (a case-control sample's test month) the intervals are of the weighted figures the gate
    compares them with.
    """
    from models.score_intervals import score_intervals

    if labels.nunique() < 2:
        return None
    return score_intervals(labels.astype(int).to_numpy(), scores, accounts.to_numpy(), rounds=rules.bootstrap_rounds,
                           level=rules.interval_level, seed=rules.bootstrap_seed, weights=weights)  # fmt: skip


def _params(
    settings: Settings, search: SearchReport | None = None, sample: AccountSample | None = None
) -> dict[str, object]:
    from dataclasses import asdict

    churn = settings.churn
    params = search.chosen if search is not None else churn.params
    return {
        "training.mode": churn.training,
        **({"training.max_rows": churn.max_training_rows, **sample.describe()} if sample is not None else {}),
        **{f"lgbm.{k}": v for k, v in asdict(params).items()},
        **(search.params() if search is not None else {}),
        "label.horizon_days": churn.horizon_days,
        "label.lead_days": churn.lead_days,
        "label.definition": churn.definition,
        "label.no_billing_days": churn.no_billing_days,
        **{f"gate.{k}": v for k, v in asdict(churn.gate).items()},
        **{f"empc.{k}": v for k, v in asdict(churn.empc).items()},
    }


def evaluate_champion(
    settings: Settings,
    workspace: Workspace,
    as_of: date | None,
    name: str = CHURN_MODEL,
    alias: str = "champion",
) -> dict[str, float | int | str]:
    """The figures of the model holding ``alias`` on the test month of ``as_of``, with baselines and the oracle.

    Raises:
        WorkspaceError: No model holds the alias yet.
    """
    from pipelines.services import open_tracker
    from pipelines.workspace import WorkspaceError

    tracker = open_tracker(settings)
    champion = tracker.alias_version(name, alias)
    if champion is None:
        hint = (
            "run savedesk train first" if alias == "challenger" else "run savedesk train first, or --alias challenger"
        )
        raise WorkspaceError(f"No {name} {alias} in {settings.mlflow_tracking_uri}: {hint}.")
    model = tracker.load_churn_model(champion.model_uri)
    split = time_split(settings, workspace, as_of)
    frames = load_snapshots(settings, workspace, split)
    train = training_rows(frames, split)
    categorical = [c for c in model.columns if BY_NAME[c].categorical]
    weight = row_weights(frames.sample)
    evaluation = evaluate_churn_model(
        model, train, frames[split.test], categorical, settings.churn.empc, read_oracle(settings, split.test),
        weights=weight(frames[split.test]) if weight else None,
    )  # fmt: skip
    evaluation.extras.update(trivial_figures(train, frames[split.test]))
    return {
        **evaluation.flat("churn"),
        "churn.model_version": champion.version,
        "churn.test_as_of": split.test.isoformat(),
    }
