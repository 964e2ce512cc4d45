"""Judging a churn model on its test month: metrics, baselines, segments, and the simulator's ceiling.

A test month of a case-control sample (``models.training_sample``) is judged with its rows' weights, so the
figures are the book's, not the sample's: AUC, precision-recall AUC, Brier score, calibration error, churn
rate, mean score, lift, capture and EMPC, overall and by segment and territory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from models.baselines import logistic_scores, rule_scores, train_logistic_baseline
from models.churn import ChurnModel
from models.metrics import TOP_FRACTIONS, metrics_by, score_metrics
from models.params import EmpcParams

DAYS_PER_MONTH = 30.44


@dataclass
class ChurnEvaluation:
    """A model's figures on one test month."""

    metrics: dict[str, float]
    scored: pd.DataFrame
    """``account_id``, ``churn``, ``score``, ``segment``, ``territory`` of every test account."""
    by_segment: pd.DataFrame
    by_territory: pd.DataFrame
    extras: dict[str, float] = field(default_factory=dict)

    def flat(self, prefix: str = "churn") -> dict[str, float]:
        """Every figure as ``prefix.name`` (segments as ``prefix.segment.<name>.auc``)."""
        out = {f"{prefix}.{k}": v for k, v in {**self.metrics, **self.extras}.items()}
        for row in self.by_segment.to_dict("records"):
            out[f"{prefix}.segment.{row['segment']}.auc"] = float(row["auc"])
            out[f"{prefix}.segment.{row['segment']}.ece"] = float(row["ece"])
        return out

    def segment_aucs(self) -> dict[str, tuple[float, int]]:
        """Segment -> (AUC, rows), as the gate compares them."""
        return {str(r["segment"]): (float(r["auc"]), int(r["rows"])) for r in self.by_segment.to_dict("records")}


def evaluate_scores(
    test: pd.DataFrame,
    scores: np.ndarray,
    empc: EmpcParams,
    label: str = "churn",
    weights: np.ndarray | None = None,
) -> ChurnEvaluation:
    """Metrics of any score on the test month, overall and by segment and territory (weighted with ``weights``)."""
    scored = test[["account_id", label, "segment", "territory"]].rename(columns={label: "churn"}).copy()
    scored["churn"] = scored["churn"].astype(int)
    scored["score"] = scores
    y = scored["churn"].to_numpy()
    if weights is None:
        return ChurnEvaluation(
            metrics=score_metrics(y, scores, empc),
            scored=scored,
            by_segment=metrics_by(scored, "segment"),
            by_territory=metrics_by(scored, "territory"),
        )
    scored["weight"] = np.asarray(weights, dtype=float)
    return ChurnEvaluation(
        metrics=weighted_metrics(y, np.asarray(scores, dtype=float), scored["weight"].to_numpy(), empc),
        scored=scored,
        by_segment=weighted_metrics_by(scored, "segment"),
        by_territory=weighted_metrics_by(scored, "territory"),
    )


def weighted_auc(y: np.ndarray, p: np.ndarray, w: np.ndarray | None) -> float:
    """The AUC of ``p`` with each row weighing ``w`` (None: 1); NaN with one class."""
    return float(roc_auc_score(y, p, sample_weight=w)) if len(np.unique(y)) == 2 else float("nan")


def weighted_metrics(y: np.ndarray, p: np.ndarray, w: np.ndarray, empc_params: EmpcParams) -> dict[str, float]:
    """``models.metrics.score_metrics`` with each row weighing ``w`` (``rows`` stays the rows counted)."""
    y = np.asarray(y, dtype=float)
    both = len(np.unique(y)) == 2
    out = {
        "auc": weighted_auc(y, p, w),
        "pr_auc": float(average_precision_score(y, p, sample_weight=w)) if both else float("nan"),
        "brier": float(brier_score_loss(y, np.clip(p, 0, 1), sample_weight=w)),
        "ece": weighted_calibration_error(y, p, w),
        "base_rate": float(np.average(y, weights=w)),
        "mean_score": float(np.average(p, weights=w)),
        "rows": float(len(y)),
    }
    order = np.argsort(-p, kind="stable")
    reach = np.cumsum(w[order]) / w.sum()  # the book's share of accounts at or above each row
    caught = np.cumsum((w * y)[order])
    for fraction in TOP_FRACTIONS:
        top = max(1, int(np.searchsorted(reach, fraction, side="left")) + 1)
        rate = caught[top - 1] / np.sum(w[order][:top])
        base = out["base_rate"]
        out[f"lift_at_{round(fraction * 100)}"] = float(rate / base) if base > 0 else float("nan")
        out[f"capture_at_{round(fraction * 100)}"] = float(caught[top - 1] / max(caught[-1], 1e-12))
    out["empc"], out["empc_targeted_share"] = weighted_empc(y[order], w[order], empc_params)
    return out


def weighted_calibration_error(y: np.ndarray, p: np.ndarray, w: np.ndarray, bins: int = 10) -> float:
    """``models.metrics.expected_calibration_error`` over bins of equal weight, each row weighing ``w``."""
    order = np.argsort(p, kind="stable")
    y, p, weight = y[order], p[order], w[order]
    before = np.cumsum(weight) - weight
    which = np.minimum((before / weight.sum() * bins).astype(int), bins - 1)
    gap = 0.0
    for b in range(bins):
        part = which == b
        mass = weight[part].sum()
        if mass > 0:
            gap += mass * abs(np.average(p[part], weights=weight[part]) - np.average(y[part], weights=weight[part]))
    return float(gap / weight.sum())


def weighted_empc(
    y_ranked: np.ndarray, w_ranked: np.ndarray, params: EmpcParams, grid: int = 200
) -> tuple[float, float]:
    """``models.metrics.empc`` of rows already ranked by score (highest first), each weighing ``w_ranked``."""
    n = w_ranked.sum()
    tp = np.concatenate([[0.0], np.cumsum(w_ranked * y_ranked)])
    fp = np.concatenate([[0.0], np.cumsum(w_ranked * (1 - y_ranked))])
    reach = np.concatenate([[0.0], np.cumsum(w_ranked)])
    gammas = stats.beta.ppf((np.arange(grid) + 0.5) / grid, params.accept_alpha, params.accept_beta)
    clv, d, f = params.customer_value, params.offer_cost, params.contact_cost
    profit = (gammas[:, None] * (clv - d) - f) * tp[None, :] - (d + f) * fp[None, :]
    best = profit.argmax(axis=1)
    return float(profit[np.arange(grid), best].mean() / n), float((reach[best] / n).mean())


def weighted_metrics_by(frame: pd.DataFrame, group: str) -> pd.DataFrame:
    """``models.metrics.metrics_by`` with each row weighing ``frame["weight"]`` (``rows`` stays counted)."""
    rows = []
    for value, part in frame.groupby(group, observed=True):
        y, p, w = (part[c].to_numpy(dtype=float) for c in ("churn", "score", "weight"))
        rows.append({group: value, "rows": len(part), "base_rate": float(np.average(y, weights=w)),
                     "auc": weighted_auc(y, p, w), "ece": weighted_calibration_error(y, p, w)})  # fmt: skip
    return pd.DataFrame(rows)


def evaluate_churn_model(
    model: ChurnModel,
    train: pd.DataFrame,
    test: pd.DataFrame,
    categorical: list[str],
    empc: EmpcParams,
    oracle: pd.DataFrame | None = None,
    weights: np.ndarray | None = None,
) -> ChurnEvaluation:
    """The model's metrics plus the baselines' AUC and, when the truth is known, the oracle's.

    Args:
        model: The fitted churn model.
        train: Its training snapshots (the logistic baseline trains on the same rows).
        test: The test month.
        categorical: Categorical feature columns.
        empc: Profit parameters.
        oracle: ``account_id`` and ``oracle`` score from the simulator's truth, or None.
        weights: Each test row's weight (a case-control sample's), or None: every row weighs 1. The logistic
            baseline is fitted on ``train`` unweighted (its ranking is judged weighted).
    """
    evaluation = evaluate_scores(test, model.predict_proba(test), empc, weights=weights)
    y = evaluation.scored["churn"].to_numpy()
    logistic = train_logistic_baseline(train, model.columns, categorical)
    evaluation.extras["baseline_lr_auc"] = weighted_auc(
        y, logistic_scores(logistic, test, model.columns, categorical), weights
    )
    evaluation.extras["baseline_rule_auc"] = weighted_auc(y, rule_scores(test), weights)
    if oracle is not None:
        truth = evaluation.scored[["account_id", "churn"]].merge(oracle, on="account_id", how="left")
        truth["oracle"] = truth["oracle"].fillna(truth["oracle"].median())
        oracle_auc = weighted_auc(truth["churn"].to_numpy(), truth["oracle"].to_numpy(), weights)
        evaluation.extras["oracle_auc"] = oracle_auc
        evaluation.extras["auc_ratio"] = evaluation.metrics["auc"] / oracle_auc
    return evaluation


def oracle_month(as_of: date, lead_days: int = 0) -> date:
    """The month whose true hazard ``oracle_scores`` reads: the one the churn window starts in."""
    first = as_of + timedelta(days=lead_days + 1)
    return date(first.year, first.month, 1)


def oracle_scores(hazard: pd.DataFrame, as_of: date, horizon_days: int, lead_days: int = 0) -> pd.DataFrame:
    """The best possible ranking of the churn window, from the simulator's true hazard.

    Each account is scored by its true monthly hazard of a request or a close in
    the month the window starts (its state on the as-of date, hidden frailty
    included), compounded over the window's length; an account whose exit was
    already decided scores 1. Shocks that happen inside the window are not
    known on the as-of date, so no model could use them and the oracle does not.

    Args:
        hazard: ``truth/hazard.parquet``: account_id, month, request_hazard,
            closure_hazard, exit_decided.
        as_of: As-of date of the features.
        horizon_days: Length of the label window.
        lead_days: Days between the as-of date and the window.

    Returns:
        ``account_id`` and ``oracle``.
    """
    rows = hazard[pd.to_datetime(hazard["month"]) == pd.Timestamp(oracle_month(as_of, lead_days))]
    stay = (1 - rows["request_hazard"].astype(float)) * (1 - rows["closure_hazard"].astype(float))
    hazard_score = 1 - stay ** (horizon_days / DAYS_PER_MONTH)
    score = np.where(rows["exit_decided"].to_numpy(), 1.0, hazard_score.to_numpy())
    return pd.DataFrame({"account_id": rows["account_id"].to_numpy(), "oracle": score})
