"""The churn model chooses its own settings: a seeded, time-budgeted search by cross-validation inside train.

``search_settings`` is handed the training rows only (never a validation,
calibration or test row) and the folds to judge settings by: ``random_folds``
(stratified and shuffled, for a one-row-per-customer extract) or
``time_folds`` (monthly snapshots: each of the latest training months judges a
model fitted on the months before it, on accounts it was not fitted on). It
scores the declared settings first, then Optuna's TPE sampler, seeded,
proposes settings from ``SPACE`` until the budget is spent; every candidate's
tree count is found by early stopping on the folds' mean AUC. The declared
settings stay unless a candidate beats them in the cross-validation, and
a zero budget scores nothing at all: the declared settings stay as they are.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import lightgbm as lgb
import numpy as np
import optuna
import pandas as pd
from sklearn.model_selection import StratifiedKFold

from models.churn import untrained_model
from models.params import ChurnParams, SearchParams
from sources.keys import stable_bucket

Fold = tuple[np.ndarray, np.ndarray]
"""Positions of the rows a fold's model is fitted on, and of the rows that judge it."""

SPACE = {
    "num_leaves": "2 (stumps) to 128, log scale",
    "max_depth": "no limit, 2, 3, 4, 6, 8 or 12",
    "learning_rate": "0.005 to 0.3, log scale",
    "min_child_samples": "5 to a tenth of the rows (at most 1,000), log scale",
    "reg_alpha": "L1, 0.001 to 10, log scale",
    "reg_lambda": "L2, 0.001 to 100, log scale",
    "colsample_bytree": "0.3 to 1",
    "subsample": "0.5 to 1",
    "categorical_encoding": "native, frequency or target (only with a category column above high_cardinality levels)",
    "cat_smooth": "1 to 100, log scale (native)",
    "min_data_per_group": "5 to 200, log scale (native)",
    "max_cat_threshold": "4 to 64, log scale (native)",
}
"""The declared space of settings the search draws from, as it is logged."""

LIGHTGBM_DEFAULTS = {
    "num_leaves": 31,
    "max_depth": -1,
    "learning_rate": 0.1,
    "min_child_samples": 20,
    "reg_alpha": 0.001,
    "reg_lambda": 0.001,
    "colsample_bytree": 1.0,
    "subsample": 1.0,
}
"""LightGBM's own defaults (penalties at the space's floor), the first settings the sampler tries."""


@dataclass(frozen=True)
class Trial:
    """One candidate's cross-validation: its settings, tree count and mean AUC over the folds."""

    number: int
    settings: dict[str, Any]
    trees: int
    cv_auc: float
    started: float
    """Seconds after the search began that this trial began (always inside the budget)."""
    seconds: float


@dataclass
class SearchReport:
    """What the search tried and chose."""

    chosen: ChurnParams
    declared: ChurnParams
    budget_seconds: float
    seed: int
    folds: str
    trees: int | None = None
    """The chosen settings' tree count in the cross-validation (None: no search ran)."""
    cv_auc: float | None = None
    declared_cv_auc: float | None = None
    trials: list[Trial] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def searched(self) -> bool:
        """Whether any settings were scored (a zero budget scores none)."""
        return self.declared_cv_auc is not None

    def params(self) -> dict[str, Any]:
        """Flat figures for the run's parameters (``search.*``)."""
        return {
            "search.budget_seconds": self.budget_seconds,
            "search.seed": self.seed,
            "search.folds": self.folds,
            "search.trials": len(self.trials),
            "search.seconds": round(self.seconds, 1),
            "search.cv_auc": self.cv_auc if self.cv_auc is not None else "none",
            "search.declared_cv_auc": self.declared_cv_auc if self.declared_cv_auc is not None else "none",
            "search.trees": self.trees if self.trees is not None else "none",
            **{f"search.chosen.{k}": v for k, v in settings_of(self.chosen).items()},
        }

    def document(self) -> dict[str, Any]:
        """The search as one JSON document: the space, the declared and chosen settings, every trial."""
        return {
            "budget_seconds": self.budget_seconds,
            "seed": self.seed,
            "folds": self.folds,
            "seconds": self.seconds,
            "space": SPACE,
            "declared": asdict(self.declared),
            "declared_cv_auc": self.declared_cv_auc,
            "chosen": asdict(self.chosen),
            "chosen_cv_auc": self.cv_auc,
            "chosen_trees": self.trees,
            "trials": [asdict(t) for t in self.trials],
        }

    def summary(self) -> str:
        """One paragraph a data scientist reads after training."""
        if not self.searched:
            return "Settings: the declared ones (no search: its budget is 0 seconds)."
        kept = "kept as declared (no trial beat them)" if self.chosen == self.declared else "chosen by the search"
        chosen = ", ".join(f"{k} {v}" for k, v in settings_of(self.chosen).items())
        return (
            f"Settings {kept}: {chosen}. {len(self.trials)} trials in {self.seconds:.0f} s (budget"
            f" {self.budget_seconds:.0f} s, seed {self.seed}, {self.folds});"
            f" cross-validated AUC {self.cv_auc:.4f} at {self.trees} trees,"
            f" declared settings {self.declared_cv_auc:.4f}."
        )


def settings_of(params: ChurnParams) -> dict[str, Any]:
    """The settings the search chooses, as they are logged."""
    names = [*SPACE, "high_cardinality"]
    return {k: v for k, v in asdict(params).items() if k in names}


def random_folds(labels: pd.Series, folds: int, seed: int) -> list[Fold]:
    """Stratified, shuffled folds of one row per customer."""
    y = labels.astype(int).to_numpy()
    return [(fit, judge) for fit, judge in StratifiedKFold(folds, shuffle=True, random_state=seed).split(y, y)]


def time_folds(train: pd.DataFrame, folds: int, seed: int) -> list[Fold]:
    """Folds by time over monthly snapshots: later months judge, on accounts the fold's model never saw.

    Each of the latest ``folds`` as-of dates (never all of them: the earliest stays for fitting) judges a
    model fitted on the earlier months; the accounts are split into ``folds + 1`` stable buckets (CRC-32 of
    the id, offset by ``seed``), a fold judging on one bucket and fitting on the others, because consecutive
    snapshots share most of their label windows and a model would otherwise be rewarded for remembering
    accounts.
    """
    as_of = pd.to_datetime(train["as_of"]).to_numpy()
    months = np.unique(as_of)
    judged = months[max(1, len(months) - folds) :]
    buckets = (stable_bucket(train["account_id"], folds + 1) + seed) % (folds + 1)
    out = []
    for k, month in enumerate(judged):
        fit = np.flatnonzero((as_of < month) & (buckets != k))
        judge = np.flatnonzero((as_of == month) & (buckets == k))
        out.append((fit, judge))
    return out


def cross_validate(
    train: pd.DataFrame,
    columns: list[str],
    categorical: list[str],
    params: ChurnParams,
    folds: Sequence[Fold],
    label: str = "churn",
    weights: np.ndarray | None = None,
) -> tuple[int, float]:
    """The tree count that maximises the folds' mean AUC, and that AUC.

    Each fold's model is fitted on its own rows only (its categories and any ranking of them included) and
    early-stopped on its judging rows after ``params.early_stopping_rounds`` trees without improvement, at
    most ``params.n_estimators``; a fold that stopped early keeps its last AUC for the longer counts. With
    ``weights`` (one per row of ``train``: a case-control sample's) each fold is fitted and judged weighted.
    """
    curves = []
    for fit, judge in folds:
        rows, held = train.iloc[fit], train.iloc[judge]
        if rows[label].nunique() < 2 or held[label].nunique() < 2:
            continue
        model = untrained_model(rows, columns, categorical, params, label)
        classifier = lgb.LGBMClassifier(**params.lightgbm())
        classifier.fit(
            model.prepare(rows),
            rows[label].astype(int),
            sample_weight=None if weights is None else weights[fit],
            eval_X=(model.prepare(held),),
            eval_y=(held[label].astype(int),),
            eval_sample_weight=None if weights is None else [weights[judge]],
            eval_metric="auc",
            callbacks=[lgb.early_stopping(params.early_stopping_rounds, verbose=False)],
        )
        curves.append(np.asarray(classifier.evals_result_["valid_0"]["auc"], dtype="float64"))
    if not curves:
        raise ValueError("no fold holds churners and customers who stayed on both sides")
    longest = max(len(c) for c in curves)
    mean = np.mean([np.pad(c, (0, longest - len(c)), mode="edge") for c in curves], axis=0)
    best = int(np.argmax(mean))
    return best + 1, float(mean[best])


def propose(trial: optuna.Trial, declared: ChurnParams, rows: int, many_levels: bool) -> ChurnParams:
    """Settings drawn from ``SPACE`` for one trial (the declared settings fill in the rest)."""
    draws: dict[str, Any] = {
        "num_leaves": trial.suggest_int("num_leaves", 2, 128, log=True),
        "max_depth": trial.suggest_categorical("max_depth", [-1, 2, 3, 4, 6, 8, 12]),
        "learning_rate": trial.suggest_float("learning_rate", 0.005, 0.3, log=True),
        "min_child_samples": trial.suggest_int("min_child_samples", 5, max(6, min(1000, rows // 10)), log=True),
        "reg_alpha": trial.suggest_float("reg_alpha", 1e-3, 10.0, log=True),
        "reg_lambda": trial.suggest_float("reg_lambda", 1e-3, 100.0, log=True),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.3, 1.0),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
    }
    if many_levels:
        encoding = trial.suggest_categorical("categorical_encoding", ["native", "frequency", "target"])
        draws["categorical_encoding"] = encoding
        if encoding == "native":
            draws["cat_smooth"] = trial.suggest_float("cat_smooth", 1.0, 100.0, log=True)
            draws["min_data_per_group"] = trial.suggest_int("min_data_per_group", 5, 200, log=True)
            draws["max_cat_threshold"] = trial.suggest_int("max_cat_threshold", 4, 64, log=True)
    return replace(declared, **draws)


def search_settings(
    train: pd.DataFrame,
    columns: list[str],
    categorical: list[str],
    declared: ChurnParams,
    search: SearchParams,
    folds: Sequence[Fold],
    fold_kind: str,
    label: str = "churn",
    clock: Callable[[], float] = time.monotonic,
    weights: np.ndarray | None = None,
) -> SearchReport:
    """The settings that cross-validate best inside ``train``: the declared ones unless a trial beats them.

    Args:
        train: The training rows, and nothing else: the search never sees a validation, calibration or
            test row, because it is never handed one.
        columns: Feature columns.
        categorical: Which of them are categories.
        declared: The settings that stand without a search; a trial keeps their calibration and seed.
        search: Budget, trial cap, seed, early stopping and most trees of a trial.
        folds: Positions in ``train`` of each fold's fitting and judging rows.
        fold_kind: How the folds were made, for the report.
        label: The label column.
        clock: Seconds, for the budget (a test may stop the clock).
        weights: Each training row's weight (a case-control sample's), or None: every row weighs 1.

    Returns:
        The report; with a zero budget, the declared settings and no trials.
    """
    report = SearchReport(declared, declared, search.budget_seconds, search.seed, fold_kind)
    if search.budget_seconds <= 0:
        return report
    start = clock()
    report.trees, report.cv_auc = cross_validate(train, columns, categorical, declared, folds, label, weights)
    report.declared_cv_auc = report.cv_auc
    levels = max((train[c].nunique() for c in categorical), default=0)
    many_levels = levels > declared.high_cardinality
    base = replace(declared, n_estimators=search.max_trees, early_stopping_rounds=search.early_stopping_rounds)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=search.seed, n_startup_trials=8)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    native = {"categorical_encoding": "native", "cat_smooth": 10.0, "min_data_per_group": 100, "max_cat_threshold": 32}
    study.enqueue_trial({**LIGHTGBM_DEFAULTS, **(native if many_levels else {})})
    while clock() - start < search.budget_seconds and not (0 < search.max_trials <= len(report.trials)):
        trial = study.ask()
        candidate = propose(trial, base, len(train), many_levels)
        began = clock()
        trees, auc = cross_validate(train, columns, categorical, candidate, folds, label, weights)
        study.tell(trial, auc)
        report.trials.append(Trial(trial.number, settings_of(candidate), trees, auc, began - start, clock() - began))
        if auc > (report.cv_auc or 0.0):
            report.chosen, report.trees, report.cv_auc = candidate, trees, auc
    report.seconds = clock() - start
    return report


def search_by_time(
    train: pd.DataFrame,
    columns: list[str],
    categorical: list[str],
    declared: ChurnParams,
    search: SearchParams,
    label: str = "churn",
    weights: np.ndarray | None = None,
) -> tuple[ChurnParams, SearchReport]:
    """The event route's search over monthly training snapshots (``time_folds``), and the settings to train.

    The declared settings are first sized to the training rows (``ChurnParams.for_rows``: a small book's leaves
    are smaller). The settings to train keep the declared tree cap and early stopping (the model is early-stopped
    on its own validation month), raised to the search's ``max_trees`` when a slower learning rate was chosen.
    ``weights`` (one per training row, a case-control sample's) weigh every fold's fit and judgement.

    Returns:
        (the settings to train with, the report).
    """
    declared = declared.for_rows(len(train))
    folds = time_folds(train, search.folds, search.seed) if search.budget_seconds > 0 else []
    kind = f"{len(folds) or search.folds} folds by time over the training months (later months judge, other accounts)"
    report = search_settings(train, columns, categorical, declared, search, folds, kind, label, weights=weights)
    if report.chosen == declared:
        return declared, report
    trained = replace(
        report.chosen,
        n_estimators=max(declared.n_estimators, search.max_trees),
        early_stopping_rounds=declared.early_stopping_rounds,
    )
    return trained, report
