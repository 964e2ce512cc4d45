"""The settings search: seeded, inside its budget, defaults at a zero budget, and blind to val and test."""

from __future__ import annotations

from dataclasses import asdict, replace
from itertools import count

import numpy as np
import pandas as pd
import pytest

import models.search as search_module
from models.churn import train_churn_model
from models.params import ChurnParams, SearchParams
from models.search import cross_validate, random_folds, search_settings, time_folds
from models.tabular import evaluate_extract, model_inputs

DECLARED = ChurnParams(learning_rate=0.1, num_leaves=4, min_child_samples=20, n_estimators=200, threads=1)
QUICK = SearchParams(budget_seconds=600.0, max_trials=4, folds=3, early_stopping_rounds=15, max_trees=150)


def _table(rows: int = 900, seed: int = 5) -> pd.DataFrame:
    """One row per customer: churn from an interaction, a 30-level category and noise; a seeded split."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=rows), rng.normal(size=rows)
    region = rng.integers(0, 30, rows)
    risk = 1.2 * a * b + 0.04 * region + rng.normal(size=rows)
    return pd.DataFrame(
        {
            "account_id": [f"C{i:05d}" for i in range(rows)],
            "usage": a,
            "complaints": b,
            "region": [f"r{r:02d}" for r in region],
            "churn": risk > np.quantile(risk, 0.7),
            "split": np.resize(["train", "train", "train", "val", "test"], rows),
        }
    )


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return _table()


def _search(frame: pd.DataFrame, search: SearchParams = QUICK, **kwargs: object) -> search_module.SearchReport:
    train = frame[frame["split"] == "train"]
    columns, categorical = model_inputs(frame)
    folds = random_folds(train["churn"], search.folds, search.seed)
    return search_settings(train, columns, categorical, DECLARED, search, folds, "test folds", **kwargs)  # type: ignore[arg-type]


def test_the_same_seed_chooses_the_same_settings_and_another_seed_tries_others(table: pd.DataFrame) -> None:
    first, again = _search(table), _search(table)
    assert len(first.trials) == QUICK.max_trials  # the trial cap, not the clock, ended these searches
    assert first.chosen == again.chosen
    assert [t.settings for t in first.trials] == [t.settings for t in again.trials]
    assert [t.cv_auc for t in first.trials] == [t.cv_auc for t in again.trials]
    other = _search(table, replace(QUICK, seed=8))
    # The first trial is LightGBM's defaults whatever the seed; the sampler's draws after it follow the seed.
    assert [t.settings for t in other.trials[1:]] != [t.settings for t in first.trials[1:]]


def test_a_zero_budget_keeps_the_declared_settings_and_scores_nothing(
    table: pd.DataFrame, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("a zero budget must not cross-validate anything")

    monkeypatch.setattr(search_module, "cross_validate", fail)
    report = _search(table, replace(QUICK, budget_seconds=0.0))
    assert report.chosen is DECLARED and report.trials == [] and not report.searched
    assert "budget is 0" in report.summary()
    declared = evaluate_extract(table, params=DECLARED, search=SearchParams())
    assert declared["params"] == asdict(DECLARED)
    assert declared["settings_search"]["trials"] == []


def test_no_trial_begins_after_the_budget(table: pd.DataFrame) -> None:
    ticks = count()
    report = _search(table, replace(QUICK, budget_seconds=10.0, max_trials=0), clock=lambda: float(next(ticks)))
    assert report.trials, "a 10-tick budget leaves room for some trials"
    assert all(t.started < 10.0 for t in report.trials)
    assert report.seconds >= 10.0  # it stopped because the budget was spent, not before


def test_the_chosen_settings_never_score_worse_in_cross_validation_than_the_declared(table: pd.DataFrame) -> None:
    report = _search(table)
    assert report.cv_auc is not None and report.declared_cv_auc is not None
    assert report.cv_auc >= report.declared_cv_auc
    assert report.cv_auc == max([report.declared_cv_auc, *(t.cv_auc for t in report.trials)])


def test_the_search_never_sees_val_or_test(table: pd.DataFrame, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: set[str] = set()
    real = search_module.cross_validate

    def spy(train: pd.DataFrame, *args: object, **kwargs: object) -> tuple[int, float]:
        seen.update(train["account_id"])
        return real(train, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(search_module, "cross_validate", spy)
    report = evaluate_extract(table, params=DECLARED, search=QUICK)
    assert seen == set(table.loc[table["split"] == "train", "account_id"])

    # Poisoned val and test rows (labels flipped, features scrambled) leave every trial as it was.
    monkeypatch.setattr(search_module, "cross_validate", real)
    held = table["split"] != "train"
    rng = np.random.default_rng(0)
    poisoned = table.copy()
    poisoned.loc[held, "churn"] = ~poisoned.loc[held, "churn"]
    poisoned.loc[held, "usage"] = rng.normal(50, 10, held.sum())
    poisoned.loc[held, "region"] = "r99"
    again = evaluate_extract(poisoned, params=DECLARED, search=QUICK)
    assert _untimed(again["settings_search"]["trials"]) == _untimed(report["settings_search"]["trials"])
    assert again["params"] == report["params"]


def _untimed(trials: list[dict]) -> list[dict]:
    return [{k: v for k, v in trial.items() if k not in ("started", "seconds")} for trial in trials]


def test_time_folds_judge_later_months_on_accounts_their_model_never_saw() -> None:
    months = pd.to_datetime(["2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30", "2026-05-31"])
    ids = [f"A{i:04d}" for i in range(200)]
    train = pd.DataFrame(
        {"account_id": np.tile(ids, len(months)), "as_of": np.repeat(months, len(ids)), "churn": False}
    )
    folds = time_folds(train, folds=3, seed=7)
    assert len(folds) == 3
    judged_months = set()
    for fit, judge in folds:
        assert len(fit) and len(judge)
        fitting, judging = train.iloc[fit], train.iloc[judge]
        assert fitting["as_of"].max() < judging["as_of"].min()
        assert judging["as_of"].nunique() == 1
        assert not set(fitting["account_id"]) & set(judging["account_id"])
        judged_months.add(judging["as_of"].iloc[0])
    assert judged_months == set(months[2:])  # the latest three months judge; the earliest only fits


def test_cross_validation_ranks_categories_inside_each_fold(table: pd.DataFrame) -> None:
    train = table[table["split"] == "train"]
    columns, categorical = model_inputs(table)
    folds = random_folds(train["churn"], 3, 7)
    for encoding in ("native", "frequency", "target"):
        params = replace(DECLARED, categorical_encoding=encoding, high_cardinality=12)
        trees, auc = cross_validate(train, columns, categorical, params, folds)
        assert 1 <= trees <= DECLARED.n_estimators and 0.5 < auc <= 1.0, encoding


@pytest.mark.parametrize("encoding", ["frequency", "target"])
def test_a_ranked_category_scores_the_same_by_frame_and_by_matrix(table: pd.DataFrame, encoding: str) -> None:
    train = table[table["split"] == "train"]
    columns, categorical = model_inputs(table)
    params = replace(DECLARED, categorical_encoding=encoding, high_cardinality=12)
    model = train_churn_model(train, None, None, columns, categorical, params=params)
    assert model.ordinal == ("region",)
    unseen = table.head(50).assign(region=["r77", *table["region"].head(49)])  # a level training never saw
    by_frame = np.asarray(model.booster.predict(model.prepare(unseen), raw_score=True))
    assert np.array_equal(model.raw_score(unseen), by_frame)  # a few rows take the matrix path
    assert np.isnan(model.prepare(unseen)["region"].iloc[0])  # unseen: missing, as for a native category
