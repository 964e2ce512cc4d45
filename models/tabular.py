"""The churn model on a one-row-per-customer extract, judged against the published baseline.

``evaluate_extract`` takes a mapped extract (``sources.tabular``) with its
``split`` column and trains the project's churn model (``train_churn_model``:
LightGBM early-stopped on the val part, Platt-calibrated) on the train part.
As the published protocol refits its logistic regression on train + val, the
model is then refitted on train + val with the number of trees chosen on val,
and that refit is scored on test (by AUC, which needs no calibration: nothing
is left to calibrate the refit on). The baseline is the published one: one-hot
categories, numbers as they are, ``LogisticRegression(solver="liblinear")``.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from features.registry import FEATURES
from models.churn import ChurnModel, ChurnParams, train_churn_model

PARTS = ("train", "val", "test")
NOT_FEATURES = ("account_id", "churn", "split", "tenure_days")
"""Columns the model does not read (``tenure_days`` repeats ``tenure_years``)."""


class ExtractEvaluationError(ValueError):
    """The extract's split cannot be evaluated (a part without customers, or without churners)."""


SMALL_TABLE_PARAMS = ChurnParams(
    learning_rate=0.01,
    num_leaves=4,
    max_depth=-1,
    min_child_samples=50,
    subsample=0.7,
    colsample_bytree=0.5,
    reg_lambda=1.0,
    n_estimators=5000,
    early_stopping_rounds=200,
    calibration="platt",
    seed=7,
    threads=2,
)
"""Settings for a table of a few thousand customers: shallow trees, slow learning, chosen on the val part only."""


def model_inputs(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """The model's columns and which of them are categories.

    Registered features come first, in registry order, with the registry's kind;
    the extract's own attributes follow, text columns as categories.

    Returns:
        (columns, categorical columns).
    """
    registered = {f.name: f for f in FEATURES}
    present = [name for name in registered if name in frame.columns and name not in NOT_FEATURES]
    own = [c for c in frame.columns if c not in registered and c not in NOT_FEATURES]
    categorical = [c for c in present if registered[c].categorical]
    categorical += [c for c in own if not pd.api.types.is_numeric_dtype(frame[c])]
    return present + own, categorical


def baseline_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The published baseline's inputs: the extract's columns as the book encodes them.

    Text attributes and the contract are categories (one-hot); tenure is in
    months; the monthly rate and numeric attributes stay numbers. Derived
    columns (``lines``, ``month_to_month``, the tenure in other units) are left out.
    """
    inputs = pd.DataFrame(index=frame.index)
    if "tenure_years" in frame:
        inputs["tenure"] = frame["tenure_years"] * 12.0
    if "contract_term_months" in frame:
        inputs["contract"] = frame["contract_term_months"].map(lambda m: "" if pd.isna(m) else f"{m:.0f}")
    columns, categorical = model_inputs(frame)
    for column in columns:
        if column in categorical:
            inputs[column] = frame[column].fillna("").astype("str")
        elif column not in {"tenure_years", "contract_term_months", "month_to_month", "lines"}:
            inputs[column] = frame[column].astype("float64").fillna(0.0)
    return inputs.to_dict(orient="records")  # type: ignore[return-value]


def baseline_lr_auc(train: pd.DataFrame, test: pd.DataFrame, c: float) -> float:
    """Test AUC of the published baseline: DictVectorizer one-hot + liblinear logistic regression."""
    vectorizer = DictVectorizer(sparse=False)
    x_train = vectorizer.fit_transform(baseline_records(train))
    model = LogisticRegression(solver="liblinear", C=c, max_iter=1000, random_state=1)
    model.fit(x_train, train["churn"].astype(int))
    return _auc(test, model.predict_proba(vectorizer.transform(baseline_records(test)))[:, 1])


def refit_churn_model(
    full_train: pd.DataFrame, columns: list[str], categorical: list[str], params: ChurnParams, trees: int
) -> ChurnModel:
    """The churn model refitted on train + val with the number of trees chosen earlier on val.

    ``train_churn_model`` always early-stops on a validation set, and LightGBM
    then keeps the trees up to that set's best round, even when patience never
    runs out. Watching the training rows themselves, whose loss falls round
    after round, keeps all ``trees`` in practice; ``booster.num_trees()`` says
    how many were kept.
    """
    fixed = replace(params, n_estimators=trees, early_stopping_rounds=trees)
    model = train_churn_model(full_train, full_train, None, columns, categorical, params=fixed)
    model.best_iteration = model.booster.num_trees()
    model.booster.best_iteration = model.best_iteration
    return model


def evaluate_extract(
    frame: pd.DataFrame, params: ChurnParams = SMALL_TABLE_PARAMS, refit: bool = True
) -> dict[str, Any]:
    """Train the churn model on an extract's train part and score it on val and test, with the baseline.

    Args:
        frame: A mapped extract with ``churn`` and ``split`` (train, val, test).
        params: The churn model's settings.
        refit: Refit on train + val with the trees chosen on val before scoring
            test, as the published protocol does for its baseline.

    Returns:
        ``test_auc`` (the refit, or the train-part model when ``refit`` is
        false), ``test_auc_train_only``, ``val_auc``, the baseline's
        ``baseline_lr_test_auc`` (C=0.5, trained on train + val) and
        ``baseline_lr_val_auc`` (C=1.0, trained on train), rows and churn rate
        per part, the trees chosen on val and kept by the refit, the model's settings.

    Raises:
        ExtractEvaluationError: A part lacks churners or customers who stayed.
    """
    parts = {part: frame[frame["split"] == part] for part in PARTS}
    for part, rows in parts.items():
        if rows["churn"].nunique() < 2:
            raise ExtractEvaluationError(
                f"the {part} part has {len(rows)} customers and {int(rows['churn'].sum())} churners;"
                " every part needs churners and customers who stayed"
            )
    train, val, test = parts["train"], parts["val"], parts["test"]
    full_train = pd.concat([train, val])
    columns, categorical = model_inputs(frame)
    model = train_churn_model(train, val, val, columns, categorical, params=params)
    final = refit_churn_model(full_train, columns, categorical, params, model.best_iteration) if refit else model
    return {
        "test_auc": _auc(test, final.predict_proba(test)),
        "val_auc": _auc(val, model.predict_proba(val)),
        "test_auc_train_only": _auc(test, model.predict_proba(test)),
        "baseline_lr_test_auc": baseline_lr_auc(full_train, test, c=0.5),
        "baseline_lr_val_auc": baseline_lr_auc(train, val, c=1.0),
        "rows": {part: len(rows) for part, rows in parts.items()},
        "churn_rate": {part: float(rows["churn"].mean()) for part, rows in parts.items()},
        "trees": model.best_iteration,
        "refit_on": "train+val" if refit else "train",
        "refit_trees": final.best_iteration,
        "columns": columns,
        "categorical": categorical,
        "params": asdict(params),
    }


def _auc(part: pd.DataFrame, scores: np.ndarray) -> float:
    return float(roc_auc_score(part["churn"].astype(int), scores))
