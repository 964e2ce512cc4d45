"""Baselines the churn model must beat, trained and judged exactly like it.

- A logistic regression (a scikit-learn pipeline: median imputation and scaling
  of numbers, one-hot categories) on the same features.
- A rule a manager could write on a whiteboard: a recent price increase plus
  service failures and complaints.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


def _as_model_input(frame: pd.DataFrame, columns: list[str], categorical: list[str]) -> pd.DataFrame:
    out = frame[columns].copy()
    for column in columns:
        if column in categorical:
            out[column] = out[column].astype("object").where(out[column].notna(), "missing").astype(str)
        else:
            out[column] = pd.to_numeric(out[column], errors="coerce").astype("float64")
    return out


def train_logistic_baseline(
    train: pd.DataFrame, columns: list[str], categorical: list[str], label: str = "churn", c: float = 1.0
) -> Pipeline:
    """Fit the logistic-regression baseline on the training snapshots."""
    numeric = [col for col in columns if col not in categorical]
    prepare = ColumnTransformer(
        [
            (
                "numbers",
                make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler()),
                numeric,
            ),
            ("categories", OneHotEncoder(handle_unknown="ignore", min_frequency=20), categorical),
        ]
    )
    model = Pipeline([("prepare", prepare), ("classify", LogisticRegression(C=c, max_iter=2000))])
    model.fit(_as_model_input(train, columns, categorical), train[label].astype(int))
    return model


def logistic_scores(model: Pipeline, frame: pd.DataFrame, columns: list[str], categorical: list[str]) -> np.ndarray:
    """P(churn) from the logistic baseline."""
    return model.predict_proba(_as_model_input(frame, columns, categorical))[:, 1]


def rule_scores(frame: pd.DataFrame) -> np.ndarray:
    """A whiteboard rule: points for a recent increase, missed pickups and complaints."""

    def column(name: str) -> pd.Series:
        return pd.to_numeric(frame.get(name, pd.Series(0.0, index=frame.index)), errors="coerce").fillna(0.0)

    points = (
        (column("rate_change_pct_90d") >= 0.03).astype(float)
        + (column("missed_pickups_90d") >= 1).astype(float)
        + (column("complaints_90d") >= 1).astype(float)
    )
    return points.to_numpy()


TRIVIAL_BASELINES = {"tenure": "tenure_days", "billing recency": "days_since_invoice"}
"""One-feature rankings a churn model must beat to be worth its complexity: how long the customer has been
with us, and how long since they were last billed."""
CHANCE = "chance"
TRIVIAL_MARGIN = 0.02
"""AUC points a model must lead the best one-feature ranking by; less is "no better"."""


def single_feature_auc(train: pd.DataFrame, test: pd.DataFrame, column: str, label: str = "churn") -> float | None:
    """The test AUC of ranking by one feature, its direction chosen on the training rows (None without it).

    A missing value ranks as the training median; a feature constant on the training rows ranks nothing (0.5).
    """
    from sklearn.metrics import roc_auc_score

    if column not in train.columns or column not in test.columns or test[label].nunique() < 2:
        return None
    fitted = pd.to_numeric(train[column], errors="coerce").astype("float64")
    median = float(fitted.median()) if fitted.notna().any() else 0.0
    sign = 1.0
    if train[label].nunique() == 2 and fitted.nunique() > 1:
        sign = 1.0 if roc_auc_score(train[label].astype(int), fitted.fillna(median)) >= 0.5 else -1.0
    scores = sign * pd.to_numeric(test[column], errors="coerce").astype("float64").fillna(median)
    return float(roc_auc_score(test[label].astype(int), scores))


def trivial_baseline_aucs(train: pd.DataFrame, test: pd.DataFrame) -> dict[str, float]:
    """The test AUC of each trivial baseline the frames can give (``TRIVIAL_BASELINES``), by its name."""
    out = {}
    for name, column in TRIVIAL_BASELINES.items():
        auc = single_feature_auc(train, test, column)
        if auc is not None:
            out[name] = auc
    return out


def no_better_than_trivial(model_auc: float, trivial: dict[str, float], margin: float = TRIVIAL_MARGIN) -> str:
    """A sentence when the model does not lead chance and every trivial baseline by ``margin`` AUC points.

    Returns:
        The sentence, or an empty one when the model leads them all.
    """
    name, best = max({**trivial, CHANCE: 0.5}.items(), key=lambda item: item[1])
    if model_auc >= best + margin:
        return ""
    than = "a random order (AUC 0.500)" if name == CHANCE else f"ranking by {name} alone (AUC {best:.3f})"
    return (
        f"The churn model (test AUC {model_auc:.3f}) is no better than {than}: its lists add nothing that"
        " order would not give. Give a richer extract (service, contacts, requests) or a longer history, or set"
        " churn.definition to what churn means here, before relying on its ranking."
    )
