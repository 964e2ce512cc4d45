"""Training the churn model: snapshots → fit → evaluate → record → gate.

The functions here are the steps the ``train`` command and the Prefect training
flow run; each calls package functions and passes data along, nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd

from features.labels import LabelSpec
from features.registry import BY_NAME
from features.snapshots import snapshot
from models.churn import ChurnModel, train_churn_model
from models.dataset import TimeSplit, held_out
from models.evaluation import ChurnEvaluation, evaluate_churn_model, oracle_scores
from pipelines.settings import Settings
from pipelines.workspace import Workspace


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


def fit_and_evaluate(settings: Settings, split: TimeSplit, frames: dict[date, pd.DataFrame]) -> ChurnTraining:
    """Fit the churn model on the split's snapshots and judge it on the test month."""
    train = pd.concat([f[~held_out(f["account_id"])] for f in (frames[d] for d in split.train)], ignore_index=True)
    valid, calibrate = (frames[d][held_out(frames[d]["account_id"])] for d in (split.valid, split.calibrate))
    columns = [c for c in train.columns if c in BY_NAME]
    categorical = [c for c in columns if BY_NAME[c].categorical]
    model = train_churn_model(train, valid, calibrate, columns, categorical, params=settings.churn.params)
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
