"""The LightGBM settings every savedesk model is boosted with."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
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
            "n_estimators": self.n_estimators,
            **(constraints or {}),
            "random_state": self.seed + seed_offset,
            "n_jobs": self.threads,
            "verbose": -1,
        }
