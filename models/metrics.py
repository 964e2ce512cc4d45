"""Evaluation metrics of a churn score: ranking, calibration, lift and expected profit.

All functions take the true labels (0/1) and the scores and return plain floats
or dicts, so they can be logged, printed and compared without MLflow.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from models.params import EmpcParams

TOP_FRACTIONS = (0.05, 0.10, 0.20)
DEFAULT_EMPC = EmpcParams()


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """ECE over equal-count bins: the mean gap between predicted and observed rates, weighted by bin size.

    Equal-count bins (not equal-width) keep the measure honest for a rare event,
    where equal-width bins would put almost every account in the first bin.
    """
    order = np.argsort(p, kind="stable")
    gap = 0.0
    for chunk in np.array_split(order, bins):
        if len(chunk):
            gap += len(chunk) * abs(float(p[chunk].mean()) - float(y[chunk].mean()))
    return gap / len(p)


def lift_and_capture(y: np.ndarray, p: np.ndarray, fraction: float) -> tuple[float, float]:
    """Lift (churn rate in the top fraction / overall) and capture (share of churners there)."""
    k = max(1, int(round(fraction * len(p))))
    top = np.argsort(-p, kind="stable")[:k]
    base = y.mean()
    rate = y[top].mean()
    return (float(rate / base) if base > 0 else float("nan"), float(y[top].sum() / max(y.sum(), 1)))


def empc(y: np.ndarray, p: np.ndarray, params: EmpcParams = DEFAULT_EMPC, grid: int = 200) -> tuple[float, float]:
    """Expected maximum profit per customer for churn (EMPC) and the share of customers it targets.

    Profit of targeting the top ``k`` customers when a targeted churner accepts
    with probability ``gamma``: ``(gamma (CLV - d) - f) TP(k) - (d + f) FP(k)``
    per customer; EMPC is the expectation over ``gamma ~ Beta(alpha, beta)`` of
    the best profit over ``k`` (Verbraken, Verbeke and Baesens, IEEE TKDE 2013).

    Returns:
        (EMPC in money per customer, expected fraction of customers targeted).
    """
    n = len(p)
    order = np.argsort(-p, kind="stable")
    tp = np.concatenate([[0], np.cumsum(y[order])])
    fp = np.concatenate([[0], np.cumsum(1 - y[order])])
    gammas = stats.beta.ppf((np.arange(grid) + 0.5) / grid, params.accept_alpha, params.accept_beta)
    clv, d, f = params.customer_value, params.offer_cost, params.contact_cost
    profit = (gammas[:, None] * (clv - d) - f) * tp[None, :] - (d + f) * fp[None, :]
    best = profit.argmax(axis=1)
    return float(profit[np.arange(grid), best].mean() / n), float((best / n).mean())


def score_metrics(y: np.ndarray, p: np.ndarray, empc_params: EmpcParams = DEFAULT_EMPC) -> dict[str, float]:
    """Every headline metric of a score on one set of accounts."""
    y = np.asarray(y, dtype=float)
    p = np.asarray(p, dtype=float)
    both = len(np.unique(y)) == 2
    out = {
        "auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if both else float("nan"),
        "brier": float(brier_score_loss(y, np.clip(p, 0, 1))),
        "ece": expected_calibration_error(y, p),
        "base_rate": float(y.mean()),
        "mean_score": float(p.mean()),
        "rows": float(len(y)),
    }
    for fraction in TOP_FRACTIONS:
        lift, capture = lift_and_capture(y, p, fraction)
        out[f"lift_at_{round(fraction * 100)}"] = lift
        out[f"capture_at_{round(fraction * 100)}"] = capture
    out["empc"], out["empc_targeted_share"] = empc(y, p, empc_params)
    return out


def metrics_by(frame: pd.DataFrame, group: str, y: str = "churn", p: str = "score") -> pd.DataFrame:
    """AUC, ECE, base rate and rows per value of ``group`` (for example segment or territory)."""
    rows = []
    for value, part in frame.groupby(group, observed=True):
        labels, scores = part[y].to_numpy(dtype=float), part[p].to_numpy(dtype=float)
        both = len(np.unique(labels)) == 2
        rows.append(
            {
                group: value,
                "rows": len(part),
                "base_rate": labels.mean(),
                "auc": roc_auc_score(labels, scores) if both else np.nan,
                "ece": expected_calibration_error(labels, scores),
            }
        )
    return pd.DataFrame(rows)
