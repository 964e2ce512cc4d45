"""The churn model on a one-row-per-customer extract, judged against the published baseline.

``evaluate_extract`` takes a mapped extract (``sources.tabular``) with its
``split`` column and trains the project's churn model (``train_churn_model``,
LightGBM) without looking at the test part:

1. With a search budget (``search``, ``models.search``), the settings are
   chosen by a seeded, time-budgeted search scored by a stratified 5-fold
   cross-validation inside the train part (``TABULAR_SEARCH``: 45 s; the
   command's default), each candidate's tree count by early stopping on the
   folds' mean AUC; the declared ``SMALL_TABLE_PARAMS`` stay unless a candidate
   beats them there. Without a budget the number of trees of
   ``SMALL_TABLE_PARAMS`` is chosen by a seeded 5-fold cross-validation inside
   the train part (``choose_tree_count``).
2. The model with that many trees is fitted on train, Platt-calibrated on val,
   and scored on val (``val_auc``).
3. As the published protocol refits its logistic regression on train + val,
   the model is refitted on train + val with the same fixed number of trees
   (``train_churn_model`` with no validation set) and that refit is scored on
   test by AUC, which needs no calibration (nothing is left to calibrate the
   refit on).

The declared settings, ``SMALL_TABLE_PARAMS``, were chosen for the Telco sample on its
val part and by cross-validation inside its train part only (``bench/telco.py``
prints that comparison; it never scores test): boosted stumps (two leaves, an
additive model) with slow learning, row and column subsampling. Deeper trees,
extra-trees, linear trees, engineered charge ratios (total / tenure) and a blend
with a logistic regression on log tenure all scored within noise of it (±0.001
on val and in CV), so the simplest was kept. Scored once on the published
Telco split: test AUC 0.8590 against the published logistic regression's
0.8580, short of the 0.86 that issue 4 asks for. ``bench/telco_splits.py``
runs the same procedure on 40 other seeded splits of the same sizes: the model
leads the baseline on 38 of them (mean lead +0.0057, standard error 0.0004),
the published split is one of its smallest leads (+0.0010), and the model's
AUC clears 0.86 on 5 of the 40 (its sd across splits is 0.010). The baseline
is the published one: one-hot categories, numbers as they are,
``LogisticRegression(solver="liblinear")``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from sklearn.feature_extraction import DictVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from features.registry import FEATURES
from models.churn import ChurnModel, choose_tree_count, train_churn_model
from models.params import ChurnParams, SearchParams
from models.search import SearchReport, random_folds, search_settings

PARTS = ("train", "val", "test")
NOT_FEATURES = ("account_id", "churn", "split", "tenure_days")
"""Columns the model does not read (``tenure_days`` repeats ``tenure_years``)."""


class ExtractEvaluationError(ValueError):
    """The extract's split cannot be evaluated (a part without customers, or without churners)."""


SMALL_TABLE_PARAMS = ChurnParams(
    learning_rate=0.01,
    num_leaves=2,
    max_depth=-1,
    min_child_samples=20,
    subsample=0.7,
    colsample_bytree=0.8,
    reg_lambda=1.0,
    n_estimators=8000,
    early_stopping_rounds=300,
    calibration="platt",
    seed=7,
    threads=1,
)
"""Settings for a table of a few thousand customers, chosen on the Telco val part and CV inside its train part.

Boosted stumps (``num_leaves=2``) learning slowly; ``n_estimators`` and
``early_stopping_rounds`` bound the cross-validation that picks the tree count.
One thread: a table this small gains nothing from more, and one thread keeps
the fit identical from run to run.
"""
CV_FOLDS = 5
TABULAR_SEARCH = SearchParams(budget_seconds=45.0, folds=CV_FOLDS)
"""The search ``savedesk tabular evaluate`` runs by default: 45 s keeps it under 90 s on 5,000 rows."""


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


def baseline_lr_scores(train: pd.DataFrame, test: pd.DataFrame, c: float) -> np.ndarray:
    """The published baseline (DictVectorizer one-hot + liblinear logistic regression) fitted on train, on test."""
    vectorizer = DictVectorizer(sparse=False)
    x_train = vectorizer.fit_transform(baseline_records(train))
    model = LogisticRegression(solver="liblinear", C=c, max_iter=1000, random_state=1)
    model.fit(x_train, train["churn"].astype(int))
    return model.predict_proba(vectorizer.transform(baseline_records(test)))[:, 1]


def baseline_lr_auc(train: pd.DataFrame, test: pd.DataFrame, c: float) -> float:
    """Test AUC of the published baseline fitted on train."""
    return _auc(test, baseline_lr_scores(train, test, c))


def fixed_tree_model(
    rows: pd.DataFrame,
    calibrate: pd.DataFrame | None,
    columns: list[str],
    categorical: list[str],
    params: ChurnParams,
    trees: int,
) -> ChurnModel:
    """The churn model fitted on ``rows`` with exactly ``trees`` trees (no early stopping)."""
    return train_churn_model(rows, None, calibrate, columns, categorical, params=replace(params, n_estimators=trees))


@dataclass
class ExtractFit:
    """The models of an extract: fitted on train (calibrated on val) and refitted on train + val."""

    model: ChurnModel
    final: ChurnModel
    params: ChurnParams
    trees: int
    cv_auc: float
    trees_chosen_by: str
    search: SearchReport


def fit_extract(
    frame: pd.DataFrame,
    params: ChurnParams = SMALL_TABLE_PARAMS,
    refit: bool = True,
    search: SearchParams | None = None,
) -> ExtractFit:
    """The settings (searched inside train, or ``params``), their tree count, and the models that score val and test.

    Reads the train part for the settings and the tree count and the val part only to calibrate and refit,
    never the test part.
    """
    train, val = frame[frame["split"] == "train"], frame[frame["split"] == "val"]
    columns, categorical = model_inputs(frame)
    search = search or SearchParams()
    folds = random_folds(train["churn"], search.folds, search.seed)
    kind = f"{search.folds} stratified folds inside the train part"
    report = search_settings(train, columns, categorical, params, search, folds, kind)
    if report.searched and report.trees is not None and report.cv_auc is not None:
        params, trees, cv_auc = report.chosen, report.trees, report.cv_auc
        chosen_by = f"early stopping in the settings search's {kind}"
    else:
        trees, cv_auc = choose_tree_count(train, columns, categorical, params=params, folds=CV_FOLDS)
        chosen_by = f"{CV_FOLDS}-fold cross-validation inside the train part"
    model = fixed_tree_model(train, val, columns, categorical, params, trees)
    final = fixed_tree_model(pd.concat([train, val]), None, columns, categorical, params, trees) if refit else model
    return ExtractFit(model, final, params, trees, cv_auc, chosen_by, report)


def evaluate_extract(
    frame: pd.DataFrame,
    params: ChurnParams = SMALL_TABLE_PARAMS,
    refit: bool = True,
    search: SearchParams | None = None,
) -> dict[str, Any]:
    """Train the churn model on an extract's train part and score it on val and test, with the baseline.

    Args:
        frame: A mapped extract with ``churn`` and ``split`` (train, val, test).
        params: The churn model's settings; ``n_estimators`` and
            ``early_stopping_rounds`` bound the cross-validation that picks the tree count.
        refit: Refit on train + val with the trees chosen by cross-validation on
            train before scoring test, as the published protocol does for its baseline.
        search: The settings search inside the train part (None or a zero budget: ``params`` as declared).

    Returns:
        ``test_auc`` (the refit, or the train-part model when ``refit`` is
        false), ``test_auc_train_only``, ``val_auc``, the baseline's
        ``baseline_lr_test_auc`` (C=0.5, trained on train + val) and
        ``baseline_lr_val_auc`` (C=1.0, trained on train), rows and churn rate
        per part, the trees chosen by cross-validation on train (``trees``,
        with its ``cv_auc``) and kept by the refit, the model's settings, and
        the search (``settings_search``: the space, every trial; ``settings_summary``).

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
    fit = fit_extract(frame, params, refit, search)
    model, final, params, trees = fit.model, fit.final, fit.params, fit.trees
    columns, categorical = model_inputs(frame)
    return {
        "test_auc": _auc(test, final.predict_proba(test)),
        "val_auc": _auc(val, model.predict_proba(val)),
        "test_auc_train_only": _auc(test, model.predict_proba(test)),
        "baseline_lr_test_auc": baseline_lr_auc(full_train, test, c=0.5),
        "baseline_lr_val_auc": baseline_lr_auc(train, val, c=1.0),
        "rows": {part: len(rows) for part, rows in parts.items()},
        "churn_rate": {part: float(rows["churn"].mean()) for part, rows in parts.items()},
        "trees": trees,
        "trees_chosen_by": fit.trees_chosen_by,
        "cv_auc": fit.cv_auc,
        "refit_on": "train+val" if refit else "train",
        "refit_trees": final.best_iteration,
        "columns": columns,
        "categorical": categorical,
        "params": asdict(params),
        "settings_search": fit.search.document(),
        "settings_summary": fit.search.summary(),
    }


def _auc(part: pd.DataFrame, scores: np.ndarray) -> float:
    return float(roc_auc_score(part["churn"].astype(int), scores))
