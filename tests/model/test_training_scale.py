"""Training on a sample of accounts (``churn.training = "sample"``): the draw's invariants, and a sampled model
that keeps the model's interface, passes the same gate and comes close to the one trained on the whole book."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import PARAMS, MakeTracker
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from models.dataset import held_out
from models.evaluation import evaluate_scores
from models.gate import decide
from models.names import CHURN_MODEL
from models.training_sample import sample_accounts
from models.uplift import CALLED, outcome_counts
from pipelines.outreach import sampled_uplift_rows, training_dates, uplift_rows
from pipelines.settings import ChurnModelSettings, Settings, load_settings
from pipelines.training import fit_and_evaluate, load_snapshots, record_and_gate, time_split
from pipelines.workspace import open_workspace
from sources.simulator import SimulationConfig, simulate_hauler, write_hauler

IDS = np.array([f"A{k:07d}" for k in range(20_000)])
CHURNED = np.arange(20_000) % 10 == 0  # a tenth churned


def test_each_stratum_keeps_the_same_share_and_the_whole_book_fits_untouched() -> None:
    sample = sample_accounts(IDS, CHURNED, book_rows=100_000, max_rows=25_000, seed=7)
    assert sample.share == pytest.approx(0.25)
    assert sample.strata == {"churned": (500, 2_000), "stayed": (4_500, 18_000)}
    kept = np.isin(IDS, sample.accounts)
    assert kept[CHURNED].sum() == 500 and kept[~CHURNED].sum() == 4_500
    whole = sample_accounts(IDS, CHURNED, book_rows=100_000, max_rows=100_000, seed=7)
    assert not whole.sampled and len(whole.accounts) == len(IDS)


def test_the_draw_is_seeded_stable_and_independent_of_the_held_out_fifth() -> None:
    first = sample_accounts(IDS, CHURNED, 100_000, 25_000, seed=7).accounts
    again = sample_accounts(IDS[::-1].copy(), CHURNED[::-1].copy(), 100_000, 25_000, seed=7).accounts
    other = sample_accounts(IDS, CHURNED, 100_000, 25_000, seed=8).accounts
    assert np.array_equal(first, again)  # the order the accounts come in does not matter
    assert len(np.intersect1d(first, other)) < 0.4 * len(first)  # another seed, another draw (0.25 by chance)
    assert held_out(pd.Series(first)).mean() == pytest.approx(held_out(pd.Series(IDS)).mean(), abs=0.02)
    # A larger share keeps every account of a smaller one: retraining with more rows only adds accounts.
    larger = sample_accounts(IDS, CHURNED, 100_000, 50_000, seed=7).accounts
    assert np.isin(first, larger).all()


@pytest.fixture(scope="module")
def book(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sampled")
    write_hauler(simulate_hauler(SimulationConfig(accounts=8_000, months=24, seed=21)), path)
    return path


def _settings(book: Path, training: str, max_rows: int = 10_000) -> Settings:
    churn = ChurnModelSettings(params=PARAMS, train_months=3, training=training, max_training_rows=max_rows)  # type: ignore[arg-type]
    return load_settings(book, churn=churn)


def test_a_sampled_model_keeps_each_account_whole_passes_the_gate_and_is_close_to_the_full_one(
    book: Path, make_tracker: MakeTracker
) -> None:
    tracker = make_tracker(book)
    full_settings, sampled_settings = _settings(book, "local"), _settings(book, "sample")
    workspace = open_workspace(full_settings)
    split = time_split(full_settings, workspace, None)
    full = load_snapshots(full_settings, workspace, split)
    sampled = load_snapshots(sampled_settings, workspace, split)

    sample = sampled.sample
    assert full.sample is None and sample is not None and sample.sampled
    kept = set(sample.accounts)
    for day, frame in sampled.items():
        assert set(frame["account_id"]) <= kept
        # An account in the sample is there with its row of every month, as in the whole book.
        whole = full[day]
        assert set(frame["account_id"]) == set(whole.loc[whole["account_id"].isin(kept), "account_id"])
        # Built one account shard at a time and cut as it goes, the rows are the whole month's, cut afterwards.
        cut_afterwards = whole[whole["account_id"].isin(kept)].reset_index(drop=True)
        pd.testing.assert_frame_equal(frame, cut_afterwards, check_dtype=False)  # a shard may have no gaps
    train_rows = sum((~held_out(sampled[d]["account_id"])).sum() for d in split.train)
    assert train_rows == pytest.approx(sampled_settings.churn.max_training_rows, rel=0.05)
    assert sampled[split.train[0]]["churn"].mean() == pytest.approx(full[split.train[0]]["churn"].mean(), abs=0.01)

    local, small = fit_and_evaluate(full_settings, split, full), fit_and_evaluate(sampled_settings, split, sampled)
    assert isinstance(small.model.calibrator, LogisticRegression)  # Platt, fitted on the sample's calibration month
    test = full[split.test]  # both judged on the whole test month
    aucs = [roc_auc_score(test["churn"], m.predict_proba(test)) for m in (local.model, small.model)]
    assert aucs[1] == pytest.approx(aucs[0], abs=0.03)  # a book this small is noisy; bench/train.py measures 0.002
    judged = evaluate_scores(test, small.model.predict_proba(test), sampled_settings.churn.empc)
    assert decide(judged.metrics, None, sampled_settings.churn.gate, judged.segment_aucs()).promote

    outcome = record_and_gate(sampled_settings, small)  # logged, registered and gated as any churn model
    (run,) = tracker.client.search_runs([tracker.experiment_id(CHURN_MODEL)])
    assert run.data.params["training.mode"] == "sample"
    assert float(run.data.params["training.sample_share"]) == pytest.approx(sample.share, rel=1e-5)
    assert outcome.version == 1


def test_sampled_uplift_rows_are_the_whole_books_rows_cut_by_account_within_the_bound(book: Path) -> None:
    full_settings = _settings(book, "local")
    workspace = open_workspace(full_settings)
    dates = training_dates(full_settings, workspace, workspace.end)
    whole = uplift_rows(full_settings, workspace, dates)
    key = ["account_id", "as_of"]
    for max_rows in (10_000_000, 20_000):
        rows, outcomes = sampled_uplift_rows(_settings(book, "sample", max_rows), workspace, dates)
        assert outcomes == outcome_counts(whole)  # the book's outcomes, not the sample's
        assert len(rows) <= 1.05 * max_rows
        # Every kept row is the whole book's row, features, label and arm alike.
        joined = rows.merge(whole, on=key, suffixes=("", "_whole"), validate="one_to_one")
        assert len(joined) == len(rows)
        for column in ("churn", CALLED, "monthly_revenue", "tenure_days"):
            pd.testing.assert_series_equal(joined[column], joined[f"{column}_whole"], check_names=False,
                                           check_dtype=False)  # fmt: skip
        # An account is a control in every month it is uncalled, or in none.
        uncalled = whole[~whole[CALLED]]
        drawn = set(rows.loc[~rows[CALLED], "account_id"])
        assert (~rows[CALLED]).sum() == uncalled["account_id"].isin(drawn).sum()
    called_rows, _ = sampled_uplift_rows(_settings(book, "sample", 10_000_000), workspace, dates)
    assert called_rows[CALLED].sum() == whole[CALLED].sum()  # within the bound every call is kept
    uncalled_share = (~called_rows[CALLED]).sum() / (~whole[CALLED]).sum()
    expected = min(1.0, 2 * 3.0 * whole[CALLED].sum() / (~whole[CALLED]).sum())
    assert uncalled_share == pytest.approx(expected, rel=0.15)
