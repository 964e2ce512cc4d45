"""The parameter objects of the models: plain frozen values that the settings hold and the models read.

Light on purpose (no LightGBM, scikit-learn or SciPy here): reading the settings, as every command does, loads
no model library. ``BoostingParams`` declares the LightGBM settings both models share once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True, kw_only=True)
class BoostingParams:
    """LightGBM settings shared by the churn and save models; each model sets its own rate, depth and size.

    Attributes:
        learning_rate: Shrinkage of each tree.
        num_leaves: Most leaves of a tree.
        max_depth: Deepest a tree grows (-1: no limit).
        min_child_samples: Fewest rows in a leaf.
        subsample: Share of rows each tree is fitted on (a fresh draw every tree).
        colsample_bytree: Share of columns each tree may split on.
        reg_lambda: L2 penalty on leaf values.
        reg_alpha: L1 penalty on leaf values (0: LightGBM's default, none).
        n_estimators: Most trees.
        early_stopping_rounds: Trees without improvement on the validation rows before boosting stops.
        seed: Seed of the row and column draws.
        threads: Threads LightGBM uses.
    """

    learning_rate: float
    num_leaves: int = 15
    max_depth: int
    min_child_samples: int
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    reg_lambda: float = 5.0
    reg_alpha: float = 0.0
    n_estimators: int
    early_stopping_rounds: int = 100
    seed: int = 7
    threads: int = 2

    def booster_keywords(self, constraints: Mapping[str, Any] | None = None, seed_offset: int = 0) -> dict[str, Any]:
        """Keyword arguments of ``lightgbm.LGBMClassifier``.

        Args:
            constraints: Model-specific LightGBM arguments (monotone constraints), placed after the tree count.
            seed_offset: Added to ``seed``, so each bagged model draws its own rows and columns.

        Returns:
            The arguments, in the order LightGBM is given them.
        """
        return {
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "max_depth": self.max_depth,
            "min_child_samples": self.min_child_samples,
            "subsample": self.subsample,
            "subsample_freq": 1,
            "colsample_bytree": self.colsample_bytree,
            "reg_lambda": self.reg_lambda,
            "reg_alpha": self.reg_alpha,
            "n_estimators": self.n_estimators,
            **(constraints or {}),
            "random_state": self.seed + seed_offset,
            "n_jobs": self.threads,
            "verbose": -1,
        }


MIN_LEAF = 20
"""The smallest leaf a book's size brings the churn model's to (LightGBM's own default ``min_child_samples``)."""


@dataclass(frozen=True, kw_only=True)
class ChurnParams(BoostingParams):
    """LightGBM and calibration settings of the churn model."""

    learning_rate: float = 0.05
    max_depth: int = 8
    min_child_samples: int = 300
    """Fewest rows in a leaf on a large book; a smaller book's leaves shrink with it (``min_child_share``)."""
    min_child_share: float = 0.005
    """Leaf size as a share of the training rows, when that is fewer than ``min_child_samples`` (never under
    ``MIN_LEAF``): 300 rows, declared for the 20,000-account demo's 70,000 training rows (0.4 % of them), would be 3 %
    of a 3,000-account book's 10,000, too coarse to hold apart the few dozen accounts that carry a signal (those
    whose bill is already overdue), and such a model stops after a few trees. 0 keeps ``min_child_samples`` at
    every size (``for_rows``)."""
    n_estimators: int = 1000
    """The most trees when early-stopping; the exact count when fitting without a validation set."""
    calibration: str = "platt"
    """"platt" (keeps the ranking exactly) or "isotonic" (more flexible, ties scores)."""
    categorical_encoding: str = "native"
    """How a category column with more than ``high_cardinality`` levels reaches LightGBM: "native" (LightGBM's
    own category splits, regularised by ``cat_smooth``, ``min_data_per_group`` and ``max_cat_threshold``),
    "frequency" (its levels ranked by how many training rows hold them) or "target" (ranked by their smoothed
    churn rate in the training rows), the rank then split as a number."""
    high_cardinality: int = 12
    """Levels above which a category column is encoded as ``categorical_encoding`` says (at most: native)."""
    cat_smooth: float = 10.0
    """LightGBM's smoothing of a category's statistics (its default)."""
    min_data_per_group: int = 100
    """Fewest rows of a category group LightGBM splits on (its default)."""
    max_cat_threshold: int = 32
    """Most categories on one side of a category split (LightGBM's default)."""

    def for_rows(self, rows: int) -> ChurnParams:
        """These settings for ``rows`` training rows: the leaf size ``min_child_share`` of them, at most as declared.

        ``min(min_child_samples, max(MIN_LEAF, round(min_child_share × rows)))``; the rest unchanged.
        """
        if self.min_child_share <= 0:
            return self
        leaf = min(self.min_child_samples, max(MIN_LEAF, round(self.min_child_share * rows)))
        return replace(self, min_child_samples=leaf)

    def lightgbm(self) -> dict[str, Any]:
        """Keyword arguments of ``lightgbm.LGBMClassifier``."""
        return self.booster_keywords(
            {
                "cat_smooth": self.cat_smooth,
                "min_data_per_group": self.min_data_per_group,
                "max_cat_threshold": self.max_cat_threshold,
            }
        )


@dataclass(frozen=True, kw_only=True)
class SearchParams:
    """How the churn model chooses its own settings: a seeded, time-budgeted search inside the training rows.

    Attributes:
        budget_seconds: Wall-clock time the search may spend (0: no search, the declared settings stay).
        max_trials: Most settings tried (0: as many as the budget allows). A search that reaches this
            count before its budget gives the same settings on every machine.
        folds: Cross-validation folds (by time on the event route: the latest ``folds`` training months
            each judge a model fitted on the months before them).
        seed: Seed of the sampler (Optuna's TPE) and of the folds.
        early_stopping_rounds: Trees without improvement of the folds' mean AUC before a trial stops.
        max_trees: Most trees a trial grows.
    """

    budget_seconds: float = 0.0
    max_trials: int = 0
    folds: int = 3
    seed: int = 7
    early_stopping_rounds: int = 50
    max_trees: int = 2000


@dataclass(frozen=True, kw_only=True)
class SaveParams(BoostingParams):
    """Settings of the save model."""

    learning_rate: float = 0.03
    max_depth: int = 6
    min_child_samples: int = 40
    n_estimators: int = 1500
    weighting: str = "ipw"
    """"ipw" (weight each request by 1 / P(its offer)) or "none" (fit the reps' choices as they are)."""
    max_weight: float = 20.0
    """Largest inverse-propensity weight before normalising: bounds the variance rare offers bring."""
    propensity_c: float = 1.0
    """Inverse L2 strength of the offer-propensity regression."""
    bags: int = 1
    """Outcome models fitted with seeds ``seed``, ``seed + 1``, …, their log-odds averaged (bagging)."""

    def lightgbm(self, monotone: list[int], bag: int = 0) -> dict[str, Any]:
        """Keyword arguments of ``lightgbm.LGBMClassifier``."""
        return self.booster_keywords(
            {"monotone_constraints": monotone, "monotone_constraints_method": "advanced"}, seed_offset=bag
        )


@dataclass(frozen=True)
class EmpcParams:
    """Parameters of the expected maximum profit measure (Verbraken et al., 2013).

    Attributes:
        customer_value: Customer lifetime value (CLV) of a retained customer.
        offer_cost: Cost ``d`` of the retention offer made to a targeted customer.
        contact_cost: Cost ``f`` of contacting a targeted customer.
        accept_alpha: Alpha of the Beta distribution of the acceptance rate gamma.
        accept_beta: Beta of that distribution (mean gamma = alpha / (alpha + beta)).
    """

    customer_value: float = 200.0
    offer_cost: float = 10.0
    contact_cost: float = 1.0
    accept_alpha: float = 6.0
    accept_beta: float = 14.0
