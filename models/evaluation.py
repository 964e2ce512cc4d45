"""Judging a churn model on its test month: metrics, baselines, segments, and the simulator's ceiling."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from models.baselines import logistic_scores, rule_scores, train_logistic_baseline
from models.churn import ChurnModel
from models.metrics import metrics_by, score_metrics
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


def evaluate_scores(test: pd.DataFrame, scores: np.ndarray, empc: EmpcParams, label: str = "churn") -> ChurnEvaluation:
    """Metrics of any score on the test month, overall and by segment and territory."""
    scored = test[["account_id", label, "segment", "territory"]].rename(columns={label: "churn"}).copy()
    scored["churn"] = scored["churn"].astype(int)
    scored["score"] = scores
    y = scored["churn"].to_numpy()
    return ChurnEvaluation(
        metrics=score_metrics(y, scores, empc),
        scored=scored,
        by_segment=metrics_by(scored, "segment"),
        by_territory=metrics_by(scored, "territory"),
    )


def evaluate_churn_model(
    model: ChurnModel,
    train: pd.DataFrame,
    test: pd.DataFrame,
    categorical: list[str],
    empc: EmpcParams,
    oracle: pd.DataFrame | None = None,
) -> ChurnEvaluation:
    """The model's metrics plus the baselines' AUC and, when the truth is known, the oracle's.

    Args:
        model: The fitted churn model.
        train: Its training snapshots (the logistic baseline trains on the same rows).
        test: The test month.
        categorical: Categorical feature columns.
        empc: Profit parameters.
        oracle: ``account_id`` and ``oracle`` score from the simulator's truth, or None.
    """
    evaluation = evaluate_scores(test, model.predict_proba(test), empc)
    y = evaluation.scored["churn"].to_numpy()
    logistic = train_logistic_baseline(train, model.columns, categorical)
    evaluation.extras["baseline_lr_auc"] = float(
        roc_auc_score(y, logistic_scores(logistic, test, model.columns, categorical))
    )
    evaluation.extras["baseline_rule_auc"] = float(roc_auc_score(y, rule_scores(test)))
    if oracle is not None:
        truth = evaluation.scored[["account_id", "churn"]].merge(oracle, on="account_id", how="left")
        truth["oracle"] = truth["oracle"].fillna(truth["oracle"].median())
        oracle_auc = float(roc_auc_score(truth["churn"], truth["oracle"]))
        evaluation.extras["oracle_auc"] = oracle_auc
        evaluation.extras["auc_ratio"] = evaluation.metrics["auc"] / oracle_auc
    return evaluation


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
    first = as_of + timedelta(days=lead_days + 1)
    month = pd.Timestamp(first.year, first.month, 1)
    rows = hazard[pd.to_datetime(hazard["month"]) == month]
    stay = (1 - rows["request_hazard"].astype(float)) * (1 - rows["closure_hazard"].astype(float))
    hazard_score = 1 - stay ** (horizon_days / DAYS_PER_MONTH)
    score = np.where(rows["exit_decided"].to_numpy(), 1.0, hazard_score.to_numpy())
    return pd.DataFrame({"account_id": rows["account_id"].to_numpy(), "oracle": score})
