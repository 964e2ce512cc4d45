"""The event route's settings search: it sees only the training months, and its choice is logged to MLflow."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from conftest import CALIBRATE_AS_OF, PARAMS, TEST_AS_OF, TRAIN_AS_OF, VALID_AS_OF, MakeTracker, Months

import models.search as search_module
from models.dataset import TimeSplit, held_out
from models.names import CHURN_MODEL
from models.params import SearchParams
from pipelines.settings import ChurnModelSettings, load_settings
from pipelines.training import fit_and_evaluate, record_and_gate

SEARCH = SearchParams(budget_seconds=600.0, max_trials=3, folds=3, early_stopping_rounds=15, max_trees=150)


def _day(frame: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(frame["as_of"]).dt.date


def test_the_search_sees_only_training_months_and_its_choice_is_logged(
    months: Months, make_tracker: MakeTracker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = tmp_path / "ws"
    tracker = make_tracker(workspace)
    settings = load_settings(workspace, churn=ChurnModelSettings(params=PARAMS, search=SEARCH))
    split = TimeSplit(train=TRAIN_AS_OF, valid=VALID_AS_OF, calibrate=CALIBRATE_AS_OF, test=TEST_AS_OF)
    frames = {d: months.train[_day(months.train) == d] for d in TRAIN_AS_OF}
    frames |= {VALID_AS_OF: months.valid, CALIBRATE_AS_OF: months.calibrate, TEST_AS_OF: months.test}

    seen: list[pd.DataFrame] = []
    real = search_module.cross_validate

    def spy(train: pd.DataFrame, *args: object, **kwargs: object) -> tuple[int, float]:
        seen.append(train[["account_id", "as_of"]])
        return real(train, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(search_module, "cross_validate", spy)
    training = fit_and_evaluate(settings, split, frames)
    assert training.search is not None and len(training.search.trials) == SEARCH.max_trials
    assert len(seen) == SEARCH.max_trials + 1  # the declared settings, then each trial
    for rows in seen:
        assert set(_day(rows)) <= set(TRAIN_AS_OF)  # never the validation, calibration or test month
        assert not held_out(rows["account_id"]).any()  # never the accounts held out for stopping and calibrating

    record_and_gate(settings, training)
    experiment = tracker.experiment_id(CHURN_MODEL)
    (run,) = tracker.client.search_runs([experiment])
    chosen = training.search.chosen
    assert run.data.params["search.trials"] == str(SEARCH.max_trials)
    assert run.data.params["search.budget_seconds"] == str(SEARCH.budget_seconds)
    assert run.data.params["search.chosen.num_leaves"] == str(chosen.num_leaves)
    assert run.data.params["lgbm.learning_rate"] == str(chosen.learning_rate)
    folder = tracker.client.download_artifacts(run.info.run_id, "reports/settings_search.json", str(tmp_path))
    document = json.loads(Path(folder).read_text())
    assert len(document["trials"]) == SEARCH.max_trials
    assert document["chosen"]["num_leaves"] == chosen.num_leaves
    assert document["chosen_cv_auc"] >= document["declared_cv_auc"]
    assert date.fromisoformat(run.data.params["test_as_of"]) == TEST_AS_OF
