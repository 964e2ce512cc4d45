"""Choosing the uplift learner by cross-validated Qini on the training rows (never on the test month or a truth).

No account's true effect is known outside the simulator, so each held-out row's contribution to
the Qini is an unbiased stand-in for its incremental value, the *doubly robust transformed
outcome* centred on the churn model's prediction::

    ψ = value × [ T·(kept − q) / e − (1 − T)·(kept − q) / (1 − e) ]

with T the call, kept = 1 − churn, q = 1 − the churn model's probability, e the propensity of a
call given the features (a small LightGBM classifier: the desk listed by risk, so e is far from
constant) and value = monthly revenue × ``value_months``. Its expectation given x is the call's
true effect on retention × value, whatever q is; centring on q only lowers its variance.

The rule: the rows are split into ``folds`` by account (an account's months stay together); each
candidate learner is fitted on the other folds and ranks the held-out fold by its incremental
margin; its score is the mean over folds of the Qini of that ranking against ψ
(``models.uplift.qini``). A *blend* candidate averages the effects of named candidates (scored from
their held-out effects, no refit). The candidate with the highest score is refitted on all rows and ranks.

The candidates: churn risk alone (``RiskRanking``, first, so it wins a tie: a learner must beat the ranking
the list already has), the interaction learner at each penalty (``models.uplift_learners``), the offset
learner (``models.uplift_offset``), the X-learner (``models.uplift``) and, with ``blend``, each
interaction learner averaged with the offset learner.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pandas as pd
from lightgbm import LGBMClassifier

from models.outreach_params import UpliftParams
from models.uplift import RISK, UpliftModel, fit_uplift, incremental_margin, outcome_counts, qini
from models.uplift_learners import Design, RiskModel, fit_interaction
from models.uplift_offset import fit_offset
from sources.keys import stable_bucket

OFFSET = "offset boosting"
"""The offset learner's name among the candidates (``models.uplift_offset``)."""
PROPENSITY_BOUNDS = (0.01, 0.99)
"""A propensity is clipped to these bounds: a handful of near-certain rows must not own the Qini."""


class EffectModel(Protocol):
    """What a fitted uplift learner offers: the expected reduction in churn probability from a call."""

    def effect(self, frame: pd.DataFrame) -> np.ndarray:
        """Expected reduction in churn probability if each account is called."""
        ...


Fitter = Callable[[pd.DataFrame], EffectModel]
"""Fits a learner on training rows (features, ``churn`` and ``called``)."""


@dataclass(frozen=True)
class Candidate:
    """One learner the selection may choose: its name and how to fit it."""

    name: str
    fit: Fitter


@dataclass(frozen=True)
class RiskRanking:
    """Not a learner: the churn probability as the "effect", so calls go to the riskiest (by value)."""

    churn: RiskModel

    def effect(self, frame: pd.DataFrame) -> np.ndarray:
        """Each account's churn probability."""
        return np.asarray(self.churn.predict_proba(frame))


@dataclass(frozen=True)
class Blend:
    """A candidate that averages the effects of other candidates (named): their errors partly cancel."""

    name: str
    parts: tuple[str, ...]


@dataclass(frozen=True)
class BlendedLearner:
    """Fitted learners whose effects are averaged."""

    learners: tuple[EffectModel, ...]

    def effect(self, frame: pd.DataFrame) -> np.ndarray:
        """The mean of the learners' expected reductions in churn probability."""
        return np.asarray(np.mean([learner.effect(frame) for learner in self.learners], axis=0))


@dataclass(frozen=True)
class Selection:
    """The choice: each candidate's cross-validated Qini and the name of the winner."""

    scores: dict[str, float]
    chosen: str


def fit_propensity(
    rows: pd.DataFrame, churn: RiskModel, params: UpliftParams, called: str = "called"
) -> LGBMClassifier:
    """The desk's propensity to call an account given its features (the churn model's columns)."""
    model = LGBMClassifier(n_estimators=100, learning_rate=0.05, num_leaves=15, min_child_samples=200,
                           random_state=params.seed, n_jobs=params.threads, verbose=-1)  # fmt: skip
    return model.fit(churn.prepare(rows), rows[called].astype(int).to_numpy())


def propensity(model: LGBMClassifier, churn: RiskModel, frame: pd.DataFrame) -> np.ndarray:
    """Each row's probability of being called (clipped to ``PROPENSITY_BOUNDS``)."""
    return np.clip(np.asarray(model.predict_proba(churn.prepare(frame)))[:, 1], *PROPENSITY_BOUNDS)


def transformed_outcome(
    value: np.ndarray, called: np.ndarray, churned: np.ndarray, churn_probability: np.ndarray, e: np.ndarray
) -> np.ndarray:
    """ψ of each row (see the module docstring): an unbiased stand-in for its call's incremental value."""
    t = np.asarray(called, dtype=float)
    residual = (1.0 - np.asarray(churned, dtype=float)) - (1.0 - np.asarray(churn_probability, dtype=float))
    return np.asarray(value, dtype=float) * residual * (t / e - (1.0 - t) / (1.0 - e))


def account_folds(account_ids: pd.Series, folds: int) -> np.ndarray:
    """Fold of each row: a stable hash of its account, so an account's months stay in one fold."""
    return np.asarray(stable_bucket(account_ids.astype(str).tolist(), folds))


def cross_validated_qini(
    rows: pd.DataFrame,
    candidates: Sequence[Candidate | Blend],
    psi: np.ndarray,
    value: np.ndarray,
    folds: int,
    qini: Callable[[np.ndarray, np.ndarray], float] = qini,
) -> Selection:
    """Score each candidate by its mean held-out Qini against ψ and choose the best (ties: the first listed).

    Args:
        rows: Training rows (features, ``churn``, ``called``, ``account_id``).
        candidates: The learners and blends of them, in order of preference on a tie; a blend names learners
            listed before it.
        psi: ``transformed_outcome`` of each row.
        value: What keeping each row's account is worth (ranks by effect × value).
        folds: Number of account folds.
        qini: The Qini of a ranking against a value per row.
    """
    fold = account_folds(rows["account_id"], folds)
    scores = {c.name: 0.0 for c in candidates}
    for k in range(folds):
        train, held = rows[fold != k], rows[fold == k]
        effects: dict[str, np.ndarray] = {}
        for candidate in candidates:
            if isinstance(candidate, Blend):
                effects[candidate.name] = np.mean([effects[part] for part in candidate.parts], axis=0)
            else:
                effects[candidate.name] = np.asarray(candidate.fit(train).effect(held))
            scores[candidate.name] += qini(effects[candidate.name] * value[fold == k], psi[fold == k]) / folds
    chosen = max(candidates, key=lambda c: scores[c.name]).name
    return Selection({name: round(score, 4) for name, score in scores.items()}, chosen)


def refit(chosen: str, candidates: Sequence[Candidate | Blend], rows: pd.DataFrame) -> EffectModel:
    """The chosen candidate fitted on all ``rows`` (a blend: each of its learners)."""
    by_name = {c.name: c for c in candidates}
    candidate = by_name[chosen]
    if isinstance(candidate, Blend):
        return BlendedLearner(tuple(refit(part, candidates, rows) for part in candidate.parts))
    return candidate.fit(rows)


def training_sample(rows: pd.DataFrame, params: UpliftParams, called: str = "called") -> pd.DataFrame:
    """Every called row and a seeded sample of ``control_per_called`` uncalled rows per called one."""
    is_called = rows[called].astype(bool).to_numpy()
    keep = min(1.0, params.control_per_called * is_called.sum() / max(1, (~is_called).sum()))
    draw = np.random.default_rng(params.seed).random(len(rows)) < keep
    return rows[is_called | draw].reset_index(drop=True)


def candidates(
    churn: RiskModel, design: Design, propensity_model: LGBMClassifier, categorical: list[str], params: UpliftParams
) -> list[Candidate | Blend]:
    """The learners the selection weighs (module docstring), in order of preference on a tie."""

    def interaction(penalty: float) -> Fitter:
        def fit(rows: pd.DataFrame) -> EffectModel:
            called, churned = rows["called"].to_numpy(dtype=bool), rows["churn"].to_numpy(dtype=int)
            return fit_interaction(rows, called, churned, churn, design, penalty, params.main_penalty,
                                   propensity_model)  # fmt: skip

        return fit

    def offset(rows: pd.DataFrame) -> EffectModel:
        return fit_offset(rows, rows["called"].to_numpy(dtype=bool), rows["churn"].to_numpy(dtype=int), churn, params)

    out: list[Candidate | Blend] = [Candidate(RISK, lambda rows: RiskRanking(churn))]
    out += [Candidate(f"interaction (penalty {penalty:g})", interaction(penalty)) for penalty in params.penalties]
    out.append(Candidate(OFFSET, offset))
    out.append(Candidate("x-learner", lambda rows: fit_uplift(rows, list(churn.columns), categorical, params)))
    if params.blend:
        interactions = [c.name for c in out if c.name.startswith("interaction")]
        out += [Blend(f"blend ({OFFSET} + {name})", (OFFSET, name)) for name in interactions]
    return out


def choose_uplift(rows: pd.DataFrame, churn: RiskModel, categorical: list[str], params: UpliftParams) -> UpliftModel:
    """The uplift learner with the best cross-validated Qini (module docstring), refitted on the training rows.

    Args:
        rows: Training rows (the churn model's columns, ``churn``, ``called``, ``account_id``, revenue).
        churn: The churn model: its columns are the learners' features, its log-odds the baseline.
        categorical: Its category columns.
        params: The uplift settings.
    """
    counts = outcome_counts(rows)
    sample = training_sample(rows, params)
    columns = list(churn.columns)
    design = Design.fit(sample, columns, categorical, params.interaction_bins)
    desk = fit_propensity(sample, churn, params)
    value = incremental_margin(np.ones(len(sample)), sample, params)
    psi = transformed_outcome(value, sample["called"].to_numpy(dtype=bool), sample["churn"].to_numpy(dtype=int),
                              churn.predict_proba(sample), propensity(desk, churn, sample))  # fmt: skip
    learners = candidates(churn, design, desk, categorical, params)
    selection = cross_validated_qini(sample, learners, psi, value, params.folds, qini)
    return UpliftModel(refit(selection.chosen, learners, sample), selection.chosen, selection.scores, counts)
