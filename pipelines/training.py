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

import pandas as pd

from features.labels import LabelSpec
from features.registry import BY_NAME
from features.snapshots import snapshot
from models.churn import ChurnModel, train_churn_model
from models.dataset import TimeSplit, held_out
from models.drift import profile
from models.evaluation import ChurnEvaluation, evaluate_churn_model, evaluate_scores, oracle_scores
from models.gate import GateDecision, decide
from models.list_changes import ListChanges
from models.names import CHURN_MODEL
from pipelines.settings import Settings
from pipelines.workspace import Workspace

if TYPE_CHECKING:
    from models.gate import GateRules
    from models.params import EmpcParams
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


def label_spec(settings: Settings) -> LabelSpec:
    """The churn label window the settings declare."""
    return LabelSpec(horizon_days=settings.churn.horizon_days, lead_days=settings.churn.lead_days)


def time_split(settings: Settings, workspace: Workspace, as_of: date | None) -> TimeSplit:
    """The split whose test month is ``as_of`` (default: the latest with a complete label window)."""
    spec = label_spec(settings)
    test = as_of or spec.last_labelled_as_of(workspace.end)
    split = TimeSplit.ending(test, settings.churn.train_months, spec.lead_days + spec.horizon_days)
    workspace.check_as_of(split.train[0])
    workspace.check_as_of(test)
    return split


def load_snapshots(settings: Settings, workspace: Workspace, split: TimeSplit) -> dict[date, pd.DataFrame]:
    """Features and labels of every as-of date of the split."""
    spec = label_spec(settings)
    return {day: snapshot(workspace.tables, day, workspace.end, spec).to_pandas() for day in split.all_dates}


def read_oracle(settings: Settings, as_of: date) -> pd.DataFrame | None:
    """The simulator's best possible ranking of the test month, when the workspace holds the truth."""
    path = settings.truth_dir / "hazard.parquet"
    if not path.is_file():
        return None
    hazard = pd.read_parquet(path)
    return oracle_scores(hazard, as_of, settings.churn.horizon_days, settings.churn.lead_days)


def training_rows(frames: dict[date, pd.DataFrame], split: TimeSplit) -> pd.DataFrame:
    """The training months' rows of the accounts that are not held out."""
    return pd.concat([frames[d][~held_out(frames[d]["account_id"])] for d in split.train], ignore_index=True)


def fit_and_evaluate(settings: Settings, split: TimeSplit, frames: dict[date, pd.DataFrame]) -> ChurnTraining:
    """Fit the churn model on the split's snapshots and judge it on the test month."""
    train = training_rows(frames, split)
    valid, calibrate = (frames[d][held_out(frames[d]["account_id"])] for d in (split.valid, split.calibrate))
    columns = [c for c in train.columns if c in BY_NAME]
    categorical = [c for c in columns if BY_NAME[c].categorical]
    model = train_churn_model(train, valid, calibrate, columns, categorical, params=settings.churn.params)
    # What the model was trained on, kept inside it: the nightly run measures drift against it.
    reference = train[columns].assign(churn_probability=model.predict_proba(train))
    model.metadata["reference"] = profile(reference, [*columns, "churn_probability"], categorical)
    test = frames[split.test]
    evaluation = evaluate_churn_model(
        model, train, test, categorical, settings.churn.empc, oracle=read_oracle(settings, split.test)
    )
    return ChurnTraining(model, split, train, test, evaluation, columns, categorical)


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
            params={**training.split.describe(), **_params(settings)},
            metrics=evaluation.flat("test"),
            as_of=list(training.split.train),
            plots=plot_files(training, Path(folder)),
            tables={"by_segment": evaluation.by_segment, "by_territory": evaluation.by_territory},
        )
    changes = None
    if workspace is not None:
        desk = settings.nightly.proactive_per_rep

        def changes(champion: ChurnModel, challenger: ChurnModel) -> ListChanges:
            return latest_churn_changes(workspace.tables, workspace.end, champion, challenger, desk)

    decision, champion = gate_churn(
        tracker, version.version, training.model, training.test, settings.churn.gate, settings.churn.empc,
        name=name, reason=reason, changes=changes,
    )  # fmt: skip
    return GateOutcome(
        version.version,
        version.model_uri,
        decision.promote,
        decision.summary(),
        champion.version if champion else None,
        decision,
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
) -> tuple[GateDecision, RegisteredVersion | None]:
    """Judge registered ``version`` against the champion on ``test`` and apply the gate (recorded and audited).

    The champion is loaded from the registry (as served, not as remembered) and scored on the same rows; the
    paired interval of the AUC gain is drawn over the test month's accounts (``pipelines.promotion``), and
    ``changes(champion, challenger)`` says how the lists would change.

    Returns:
        The decision, and the champion it was compared with (None when there was none).
    """
    from pipelines.promotion import churn_interval

    mine = evaluate_scores(test, model.predict_proba(test), empc)
    champion = tracker.champion_version(name)
    champion_metrics = champion_segments = interval = listed = None
    if champion is not None and champion.version != version:
        incumbent = tracker.load_churn_model(champion.model_uri)
        judged = evaluate_scores(test, incumbent.predict_proba(test), empc)
        champion_metrics, champion_segments = judged.metrics, judged.segment_aucs()
        interval = churn_interval(incumbent, model, test, rules)
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
    )
    tracker.apply_gate(name, version, decision)
    return decision, champion


def _params(settings: Settings) -> dict[str, object]:
    from dataclasses import asdict

    churn = settings.churn
    return {
        **{f"lgbm.{k}": v for k, v in asdict(churn.params).items()},
        "label.horizon_days": churn.horizon_days,
        "label.lead_days": churn.lead_days,
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
    evaluation = evaluate_churn_model(
        model, train, frames[split.test], categorical, settings.churn.empc, read_oracle(settings, split.test)
    )
    return {
        **evaluation.flat("churn"),
        "churn.model_version": champion.version,
        "churn.test_as_of": split.test.isoformat(),
    }
