"""Fixtures for the model tests: a small simulated hauler, its monthly snapshots and trained churn models.

Everything expensive is built once per session: the hauler (3,000 accounts,
16 months), snapshots for five month-ends (train on March and April 2026,
stop early on May, calibrate on June, judge on July), three models (the real
one, a weak one on three features, one trained on shuffled labels) and an
empty, migrated MLflow database that each workspace copies instead of
migrating its own.
"""

from __future__ import annotations

import os

# Before mlflow or lightgbm is imported anywhere in the session.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import shutil  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from datetime import date  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from features.registry import categorical_columns, model_columns  # noqa: E402
from features.snapshots import snapshot  # noqa: E402
from features.view import from_frames  # noqa: E402
from models.churn import ChurnModel, ChurnParams, train_churn_model  # noqa: E402
from models.tracking import Tracker  # noqa: E402
from pipelines.settings import load_settings  # noqa: E402
from sources.simulator import SimulationConfig, simulate_hauler  # noqa: E402

EXTRACT_END = date(2026, 10, 31)
TRAIN_AS_OF = (date(2026, 3, 31), date(2026, 4, 30))
VALID_AS_OF, CALIBRATE_AS_OF, TEST_AS_OF = date(2026, 5, 31), date(2026, 6, 30), date(2026, 7, 31)
PII_COLUMNS = ("account_name", "contact_name", "phone", "email", "street_address")
WEAK_COLUMNS = ["tenure_days", "segment", "monthly_revenue"]
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


@pytest.fixture(scope="session")
def months() -> Months:
    """Simulate once; snapshot the five month-ends; keep the accounts' names, phones, emails and addresses."""
    hauler = simulate_hauler(SimulationConfig(accounts=3_000, months=16, seed=3))
    tables = from_frames(dict(hauler.raw))
    frames = {d: snapshot(tables, d, EXTRACT_END).to_pandas() for d in (*TRAIN_AS_OF, VALID_AS_OF)}
    frames |= {d: snapshot(tables, d, EXTRACT_END).to_pandas() for d in (CALIBRATE_AS_OF, TEST_AS_OF)}
    accounts = hauler.raw["accounts"].to_pandas()
    pii = sorted({str(v) for c in PII_COLUMNS for v in accounts[c].dropna()})
    train = pd.concat([frames[d] for d in TRAIN_AS_OF], ignore_index=True)
    return Months(train, frames[VALID_AS_OF], frames[CALIBRATE_AS_OF], frames[TEST_AS_OF], pii)


@pytest.fixture(scope="session")
def churn_model(months: Months) -> ChurnModel:
    """The real model: every registered feature."""
    return train_churn_model(
        months.train, months.valid, months.calibrate, model_columns(), categorical_columns(), params=PARAMS
    )


@pytest.fixture(scope="session")
def weak_model(months: Months) -> ChurnModel:
    """A worse but honest model: three features only."""
    categorical = [c for c in WEAK_COLUMNS if c in categorical_columns()]
    return train_churn_model(months.train, months.valid, months.calibrate, WEAK_COLUMNS, categorical, params=PARAMS)


@pytest.fixture(scope="session")
def shuffled_model(months: Months) -> ChurnModel:
    """A model that learned nothing: trained and stopped on shuffled labels."""
    rng = np.random.default_rng(11)

    def shuffle(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(churn=rng.permutation(frame["churn"].to_numpy()))

    return train_churn_model(
        shuffle(months.train), shuffle(months.valid), months.calibrate, model_columns(), categorical_columns(), params=PARAMS
    )


@pytest.fixture(scope="session")
def empty_mlflow_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MLflow SQLite store migrated once (migrating takes seconds); workspaces copy it."""
    workspace = tmp_path_factory.mktemp("template")
    tracker = Tracker.from_settings(load_settings(workspace))
    tracker.client.search_experiments()  # creates and migrates the database
    return workspace / "mlflow" / "mlflow.db"


@pytest.fixture
def make_tracker(empty_mlflow_db: Path) -> MakeTracker:
    """A function giving the tracker of a fresh workspace folder on its embedded defaults."""

    def make(workspace: Path) -> Tracker:
        (workspace / "mlflow").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(empty_mlflow_db, workspace / "mlflow" / "mlflow.db")
        return Tracker.from_settings(load_settings(workspace))

    return make
