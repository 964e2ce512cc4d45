"""A case-control sample's weights reach every step that learns from or judges its rows: the fit, the early
stopping, the calibration and the test month's figures (``models.training_sample``)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import log_loss

from models.churn import train_churn_model
from models.evaluation import evaluate_scores, weighted_metrics
from models.metrics import score_metrics
from models.params import ChurnParams, EmpcParams

PARAMS = ChurnParams(n_estimators=60, early_stopping_rounds=10, min_child_samples=20, min_child_share=0.0)


def _month(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows)
    churn = rng.random(rows) < 1 / (1 + np.exp(-(x * 1.5 - 3.5)))  # about 6 % churn
    ids = [f"A{seed}-{k}" for k in range(rows)]
    return pd.DataFrame({"account_id": ids, "x": x, "noise": rng.normal(size=rows), "churn": churn,
                         "segment": np.where(x > 0, "large", "small"), "territory": "north"})  # fmt: skip


def _case_control(frame: pd.DataFrame, stayed_share: float, seed: int) -> tuple[pd.DataFrame, float]:
    """Every churner and ``stayed_share`` of the rest, and what a stayed row then weighs."""
    keep = frame["churn"].to_numpy() | (np.random.default_rng(seed).random(len(frame)) < stayed_share)
    kept = frame[keep].reset_index(drop=True)
    return kept, (~frame["churn"]).sum() / (~kept["churn"]).sum()


def test_weighted_fit_and_calibration_give_the_books_churn_rate_from_a_case_control_sample() -> None:
    book = [_month(40_000, seed) for seed in (1, 2, 3)]
    (train, weight), (valid, _), (calibrate, _) = (_case_control(m, 0.1, s) for s, m in enumerate(book))
    assert train["churn"].mean() > 3 * book[0]["churn"].mean()  # the sample is rich in churners
    stayed_weight = float(weight)
    seen: list[int] = []

    def weigh(frame: pd.DataFrame) -> np.ndarray:
        seen.append(len(frame))
        return np.where(frame["churn"], 1.0, stayed_weight)

    columns = ["x", "noise"]
    weighted = train_churn_model(train, valid, calibrate, columns, [], params=PARAMS, weight=weigh)
    plain = train_churn_model(train, valid, calibrate, columns, [], params=PARAMS)
    w = weigh(train)
    book_rate = book[0]["churn"].mean()
    # LightGBM's own probability and the calibrated one, weighted, are the book's churn rate...
    assert np.average(weighted.uncalibrated(train), weights=w) == pytest.approx(book_rate, rel=0.1)
    assert np.average(weighted.predict_proba(train), weights=w) == pytest.approx(book_rate, rel=0.1)
    assert weighted.predict_proba(book[0]).mean() == pytest.approx(book_rate, rel=0.1)
    # ... which the unweighted model, fitted and calibrated on the sample, overstates several times.
    assert plain.predict_proba(book[0]).mean() > 2 * book_rate
    assert sorted(seen[:3]) == sorted([len(train), len(valid), len(calibrate)])  # fit, stopping, calibration
    # Early stopping watched the weighted validation month (its log-loss there is the weighted one).
    p_valid = weighted.booster.predict(weighted.prepare(valid), num_iteration=weighted.best_iteration)
    watched = weighted.booster.best_score["valid_0"]["binary_logloss"]
    assert watched == pytest.approx(log_loss(valid["churn"], p_valid, sample_weight=weigh(valid)), rel=1e-6)
    assert watched != pytest.approx(log_loss(valid["churn"], p_valid), rel=1e-3)


def test_weighted_figures_are_the_figures_of_the_rows_repeated() -> None:
    month = _month(6_000, 9)
    scores = 1 / (1 + np.exp(-(month["x"].to_numpy() * 1.2 - 3.0))) + 0.01 * month["noise"].to_numpy() ** 2
    times = np.random.default_rng(4).integers(1, 4, len(month))  # each row weighs 1, 2 or 3
    repeated = month.loc[month.index.repeat(times)].reset_index(drop=True)
    empc = EmpcParams()
    weighted = evaluate_scores(month, scores, empc, weights=times.astype(float))
    plain = evaluate_scores(repeated, np.repeat(scores, times), empc)
    for name in ("auc", "pr_auc", "brier", "base_rate", "mean_score", "empc"):
        assert weighted.metrics[name] == pytest.approx(plain.metrics[name], rel=1e-9), name
    for name in ("ece", "lift_at_10", "capture_at_10", "empc_targeted_share"):  # bins and cut-offs fall alike
        assert weighted.metrics[name] == pytest.approx(plain.metrics[name], rel=0.02, abs=1e-3), name
    segments = weighted.by_segment.set_index("segment")["auc"]
    assert segments.to_dict() == pytest.approx(plain.by_segment.set_index("segment")["auc"].to_dict(), rel=1e-9)
    # Weights of one are the unweighted figures.
    ones = weighted_metrics(month["churn"].to_numpy(), scores, np.ones(len(month)), empc)
    unweighted = score_metrics(month["churn"].to_numpy(), scores, empc)
    for name in ("auc", "pr_auc", "brier", "base_rate", "mean_score", "lift_at_5", "capture_at_20", "empc"):
        assert ones[name] == pytest.approx(unweighted[name], rel=1e-9), name
