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
