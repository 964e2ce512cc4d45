"""Fixtures for the model tests: a small simulated hauler, its monthly snapshots and trained churn models.

Everything expensive is built once per session: the hauler (3,000 accounts,
16 months), snapshots for five month-ends (train on March and April 2026,
stop early on May, calibrate on June, judge on July), three models (the real
one, a weak one on three features, one trained on shuffled labels) and an
empty, migrated MLflow database that each workspace copies instead of
migrating its own.
"""

# ruff: noqa: E402  (the environment is set before anything imports mlflow)

from __future__ import annotations

import os

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.registry import categorical_columns, model_columns
from features.snapshots import snapshot
from features.view import from_frames
from models.churn import ChurnModel, train_churn_model
from models.params import ChurnParams
from models.tracking import Tracker
from pipelines.services import open_tracker
from pipelines.settings import load_settings
from sources.contract import PII_COLUMNS
from sources.simulator import SimulationConfig, simulate_hauler

EXTRACT_END = date(2026, 10, 31)
TRAIN_AS_OF = (date(2026, 3, 31), date(2026, 4, 30))
VALID_AS_OF, CALIBRATE_AS_OF, TEST_AS_OF = date(2026, 5, 31), date(2026, 6, 30), date(2026, 7, 31)
# Three true drivers of the simulated hazard (tenure, segment, missed pickups): some signal on any seed, less than all.
WEAK_COLUMNS = ["tenure_days", "segment", "missed_pickups_365d"]
# Small and quick, one thread: the tests judge the tracking, not the model.
PARAMS = ChurnParams(learning_rate=0.05, n_estimators=300, early_stopping_rounds=30, min_child_samples=50, threads=1)

MakeTracker = Callable[[Path], Tracker]


@dataclass(frozen=True)
class Months:
    """The snapshots of one simulated hauler, split by time, and its account PII."""

    train: pd.DataFrame
    valid: pd.DataFrame
    calibrate: pd.DataFrame
    test: pd.DataFrame
    pii: list[str]
    train_as_of: tuple[date, ...] = TRAIN_AS_OF


@pytest.fixture(scope="session")
def months() -> Months:
    """Simulate once; snapshot the five month-ends; keep the accounts' names, phones, emails and addresses."""
    hauler = simulate_hauler(SimulationConfig(accounts=3_000, months=16, seed=3))
    tables = from_frames(dict(hauler.raw))
    as_of = (*TRAIN_AS_OF, VALID_AS_OF, CALIBRATE_AS_OF, TEST_AS_OF)
    frames = {d: snapshot(tables, d, EXTRACT_END).to_pandas() for d in as_of}
    accounts = hauler.raw["accounts"].to_pandas()
    pii = sorted({str(v) for c in PII_COLUMNS for v in accounts[c].dropna()})
    train = pd.concat([frames[d] for d in TRAIN_AS_OF], ignore_index=True)
    return Months(train, frames[VALID_AS_OF], frames[CALIBRATE_AS_OF], frames[TEST_AS_OF], pii)


@pytest.fixture(scope="session")
def churn_params() -> ChurnParams:
    """The hyper-parameters every test model is trained with."""
    return PARAMS


@pytest.fixture(scope="session")
def churn_model(months: Months) -> ChurnModel:
    """The real model: every registered feature."""
    return train_churn_model(
        months.train, months.valid, months.calibrate, model_columns(), categorical_columns(), params=PARAMS
    )


@pytest.fixture(scope="session")
def weak_model(months: Months) -> ChurnModel:
    """A worse but honest model: three features only, each a driver of the simulated hazard."""
    categorical = [c for c in WEAK_COLUMNS if c in categorical_columns()]
    return train_churn_model(months.train, months.valid, months.calibrate, WEAK_COLUMNS, categorical, params=PARAMS)


@pytest.fixture(scope="session")
def shuffled_model(months: Months) -> ChurnModel:
    """A model that learned nothing: trained and stopped on shuffled labels."""
    rng = np.random.default_rng(11)

    def shuffle(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(churn=rng.permutation(frame["churn"].to_numpy()))

    train, valid = shuffle(months.train), shuffle(months.valid)
    return train_churn_model(train, valid, months.calibrate, model_columns(), categorical_columns(), params=PARAMS)


@pytest.fixture(scope="session")
def empty_mlflow_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLflow SQLite store migrated once (migrating takes seconds); workspaces copy it."""
    workspace = tmp_path_factory.mktemp("template")
    tracker = open_tracker(load_settings(workspace))
    tracker.client.search_experiments()  # creates and migrates the database
    return workspace / "mlflow" / "mlflow.db"


@pytest.fixture(scope="session")
def make_tracker(empty_mlflow_db: Path) -> MakeTracker:
    """A function giving the tracker of a fresh workspace folder on its embedded defaults."""

    def make(workspace: Path) -> Tracker:
        (workspace / "mlflow").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(empty_mlflow_db, workspace / "mlflow" / "mlflow.db")
        return open_tracker(load_settings(workspace))

    return make
