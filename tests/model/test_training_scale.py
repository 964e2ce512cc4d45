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
from models.training_sample import CASE_CONTROL, WHOLE_BOOK, sample_accounts
from models.uplift import CALLED, outcome_counts
from pipelines.outreach import sampled_uplift_rows, training_dates, uplift_rows
from pipelines.settings import ChurnModelSettings, Settings, load_settings
from pipelines.training import fit_and_evaluate, load_snapshots, record_and_gate, time_split, training_rows
from pipelines.workspace import open_workspace
from sources.simulator import SimulationConfig, simulate_hauler, write_hauler

IDS = np.array([f"A{k:07d}" for k in range(20_000)])
CHURNED = np.arange(20_000) % 10 == 0  # a tenth churned
ROWS = np.full(20_000, 5)  # five training rows each: 100,000 in the book, 10,000 of them the churned accounts'


def test_every_churned_account_is_kept_and_the_stayed_ones_fill_the_budget_weighted_to_the_book() -> None:
    sample = sample_accounts(IDS, CHURNED, ROWS, max_rows=25_000, seed=7)
    assert sample.scheme == CASE_CONTROL and sample.sampled and sample.weighted
    # Every churned account (10,000 rows), then 15,000 rows of stayed accounts: 3,000 of the 18,000.
    assert sample.strata == {"churned": (2_000, 2_000), "stayed": (3_000, 18_000)}
    assert sample.rows == 25_000 and sample.share == pytest.approx(0.25)
    kept = np.isin(IDS, sample.accounts)
    assert kept[CHURNED].all() and kept[~CHURNED].sum() == 3_000
    # A stayed row weighs the book's stayed rows over the kept ones; the kept stayed rows weigh the book's.
    assert sample.stayed_weight == pytest.approx(90_000 / 15_000)
    weights = sample.weights(IDS[kept])
    assert (weights[CHURNED[kept]] == 1.0).all()
    assert (ROWS[kept] * weights)[~CHURNED[kept]].sum() == pytest.approx(ROWS[~CHURNED].sum())
    whole = sample_accounts(IDS, CHURNED, ROWS, max_rows=100_000, seed=7)
    assert not whole.sampled and not whole.weighted and len(whole.accounts) == len(IDS)
    assert whole.scheme == WHOLE_BOOK and (whole.weights(IDS) == 1.0).all()


def test_churned_accounts_past_half_the_budget_are_drawn_too_weighted_to_the_books_proportions() -> None:
    # A national book: the churned accounts' rows alone (10,000) pass the budget. Each stratum fills half of it,
    # and the stayed rows weigh the churned share over the stayed share.
    for max_rows in (5_000, 15_000):
        sample = sample_accounts(IDS, CHURNED, ROWS, max_rows=max_rows, seed=7)
        assert sample.scheme == CASE_CONTROL and sample.sampled and sample.weighted
        half = max_rows // 2 // 5
        assert sample.strata == {"churned": (half, 2_000), "stayed": (half, 18_000)}
        assert sample.rows <= max_rows and sample.churned_share == pytest.approx(half / 2_000)
        kept = np.isin(IDS, sample.accounts)
        weighted = ROWS[kept] * sample.weights(IDS[kept])
        assert (weighted[CHURNED[kept]] == 5.0).all()
        stayed_per_churned = weighted[~CHURNED[kept]].sum() / weighted[CHURNED[kept]].sum()
        assert stayed_per_churned == pytest.approx(ROWS[~CHURNED].sum() / ROWS[CHURNED].sum())
        # Unweighted, the rows book_like keeps have the book's churned share of rows.
        like = sample.book_like(IDS[kept])
        churned_share = ROWS[kept & CHURNED][like[CHURNED[kept]]].sum() / ROWS[kept][like].sum()
        assert churned_share == pytest.approx(0.1, rel=0.2)


def test_uneven_rows_stay_within_the_budget_and_weigh_exactly_the_books_stayed_rows() -> None:
    rows = np.random.default_rng(3).integers(0, 11, len(IDS))  # 0: a held-out or new account
    for max_rows in (20_000, 40_000, 80_000):
        sample = sample_accounts(IDS, CHURNED, rows, max_rows, seed=7)
        kept = np.isin(IDS, sample.accounts)
        assert sample.scheme == CASE_CONTROL and kept[CHURNED].all()
        assert sample.rows == rows[kept].sum() <= max_rows
        assert sample.rows >= max_rows - 10  # filled to within one account's rows
        stayed = kept & ~CHURNED
        assert (rows[stayed] * sample.weights(IDS[stayed])).sum() == pytest.approx(rows[~CHURNED].sum())
        # Thinning the churned accounts to the stayed share gives the book's churned share of rows.
        like = sample.book_like(IDS[kept])
        churned_share = rows[kept & CHURNED][like[CHURNED[kept]]].sum() / rows[kept][like].sum()
        assert churned_share == pytest.approx(rows[CHURNED].sum() / rows.sum(), rel=0.2)


def test_the_draw_is_seeded_stable_and_independent_of_the_held_out_fifth() -> None:
    def stayed(max_rows: int, seed: int, ids: np.ndarray = IDS, churned: np.ndarray = CHURNED) -> np.ndarray:
        sample = sample_accounts(ids, churned, ROWS, max_rows, seed)
        return np.setdiff1d(sample.accounts, sample.churned)

    first = stayed(25_000, seed=7)
    again = stayed(25_000, 7, IDS[::-1].copy(), CHURNED[::-1].copy())
    other = stayed(25_000, seed=8)
    assert np.array_equal(first, again)  # the order the accounts come in does not matter
    assert len(np.intersect1d(first, other)) < 0.4 * len(first)  # another seed, another draw (1/6 by chance)
    assert held_out(pd.Series(first)).mean() == pytest.approx(held_out(pd.Series(IDS)).mean(), abs=0.03)
    # A larger budget keeps every account of a smaller one: retraining with more rows only adds accounts.
    assert np.isin(first, stayed(50_000, seed=7)).all()


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
    max_rows = sampled_settings.churn.max_training_rows
    train_rows = sum((~held_out(sampled[d]["account_id"])).sum() for d in split.train)
    assert train_rows == sample.rows and 0.95 * max_rows <= train_rows <= max_rows
    # Case-control: every account that churned in a training month is there, and the stayed ones weigh more.
    book_train, sampled_train = (training_rows(f, split) for f in (full, sampled))
    churners = set().union(*(full[d].loc[full[d]["churn"], "account_id"] for d in split.train))
    assert sample.scheme == CASE_CONTROL and churners <= kept and sample.stayed_weight > 1.5
    weights = sample.weights(sampled_train["account_id"])
    book_rate = book_train["churn"].mean()
    assert sampled_train["churn"].mean() > 1.4 * book_rate  # unweighted, the sample is richer in churners
    assert np.average(sampled_train["churn"], weights=weights) == pytest.approx(book_rate, rel=1e-9)
    assert weights.sum() == pytest.approx(len(book_train), rel=1e-9)

    local, small = fit_and_evaluate(full_settings, split, full), fit_and_evaluate(sampled_settings, split, sampled)
    assert isinstance(small.model.calibrator, LogisticRegression)  # Platt, fitted on the sample's calibration month
    # Weighted, the calibrated probabilities are the book's: their mean on the training rows is its churn rate.
    mean_probability = np.average(small.model.predict_proba(sampled_train), weights=weights)
    assert mean_probability == pytest.approx(book_rate, rel=0.15)  # unweighted Platt would give the sample's
    test = full[split.test]  # both judged on the whole test month
    aucs = [roc_auc_score(test["churn"], m.predict_proba(test)) for m in (local.model, small.model)]
    assert aucs[1] == pytest.approx(aucs[0], abs=0.03)  # a book this small is noisy; bench/train.py measures it
    judged = evaluate_scores(test, small.model.predict_proba(test), sampled_settings.churn.empc)
    assert decide(judged.metrics, None, sampled_settings.churn.gate, judged.segment_aucs()).promote
    # The sampled test month, weighted, is judged as the whole one: its churn rate and the model's AUC.
    # (The sampled test month holds about 4,000 rows, 140 of them positive: seeds 1-12 give a weighted churn
    # rate of 0.031-0.040 around the whole month's 0.036, seed 7 the lowest.)
    assert np.array_equal(small.evaluation.scored["weight"], sample.weights(sampled[split.test]["account_id"]))
    assert small.evaluation.metrics["base_rate"] == pytest.approx(test["churn"].mean(), rel=0.25)
    assert small.evaluation.metrics["auc"] == pytest.approx(aucs[1], abs=0.03)
    assert small.evaluation.metrics["mean_score"] == pytest.approx(judged.metrics["mean_score"], rel=0.15)

    outcome = record_and_gate(sampled_settings, small)  # logged, registered and gated as any churn model
    (run,) = tracker.client.search_runs([tracker.experiment_id(CHURN_MODEL)])
    assert run.data.params["training.mode"] == "sample"
    assert run.data.params["training.sample_scheme"] == CASE_CONTROL
    assert float(run.data.params["training.sample_share"]) == pytest.approx(sample.share, rel=1e-5)
    assert float(run.data.params["training.sample_stayed_weight"]) == pytest.approx(sample.stayed_weight, rel=1e-5)
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
