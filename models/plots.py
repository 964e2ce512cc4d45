"""Evaluation plots of a churn model, written as PNG files for the run's record.

Figures are built as ``matplotlib.figure.Figure`` objects, which render to PNG
without pyplot, so drawing needs no global backend and leaves none behind.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.metrics import roc_curve


def roc_plot(y: np.ndarray, scores: dict[str, np.ndarray], path: Path) -> Path:
    """ROC curves of several scores on the same accounts."""
    fig = Figure(figsize=(5, 5))
    ax = fig.subplots()
    for name, p in scores.items():
        fpr, tpr, _ = roc_curve(y, p)
        ax.plot(fpr, tpr, label=name)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC, test month")
    ax.legend(loc="lower right")
    return _save(fig, path)


def gain_plot(y: np.ndarray, p: np.ndarray, path: Path) -> Path:
    """Cumulative gain and lift: share of churners reached by calling the top x % first."""
    order = np.argsort(-p, kind="stable")
    share = np.arange(1, len(p) + 1) / len(p)
    captured = np.cumsum(y[order]) / max(y.sum(), 1)
    fig = Figure(figsize=(10, 4))
    left, right = fig.subplots(1, 2)
    left.plot(share, captured, label="model")
    left.plot([0, 1], [0, 1], color="grey", linestyle=":", label="random")
    left.set(xlabel="share of accounts called", ylabel="share of churners reached", title="Cumulative gain")
    left.legend()
    right.plot(share[9:], captured[9:] / share[9:])
    right.axhline(1, color="grey", linestyle=":")
    right.set(xlabel="share of accounts called", ylabel="lift", title="Lift")
    return _save(fig, path)


def calibration_plot(y: np.ndarray, p: np.ndarray, path: Path, bins: int = 10) -> Path:
    """Predicted against observed churn rate in equal-count bins."""
    order = np.argsort(p, kind="stable")
    chunks = [c for c in np.array_split(order, bins) if len(c)]
    predicted = [p[c].mean() for c in chunks]
    observed = [y[c].mean() for c in chunks]
    fig = Figure(figsize=(5, 5))
    ax = fig.subplots()
    top = max(max(predicted), max(observed)) * 1.1
    ax.plot([0, top], [0, top], color="grey", linestyle=":")
    ax.plot(predicted, observed, marker="o")
    ax.set(xlabel="predicted churn rate", ylabel="observed churn rate", title="Calibration (equal-count bins)")
    return _save(fig, path)


def shap_summary_plot(contributions: pd.DataFrame, path: Path, top: int = 20) -> Path:
    """Mean absolute SHAP contribution (log-odds) of the top features, with the direction of their mean effect."""
    values = contributions.drop(columns=["bias"], errors="ignore")
    strength = values.abs().mean().sort_values(ascending=True).tail(top)
    fig = Figure(figsize=(7, 0.3 * len(strength) + 1))
    ax = fig.subplots()
    ax.barh(strength.index, strength.to_numpy())
    ax.set(xlabel="mean |SHAP contribution| to the log-odds of churn", title="What drives churn risk (test month)")
    return _save(fig, path)


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path
