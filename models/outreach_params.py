"""Parameters of proactive outreach the settings hold: the holdout, the uplift model and when it may rank.

No model library here (``pipelines.settings`` imports it); the models that use these are
``models.holdout`` (the holdout's draw), ``models.uplift`` (the T-learner) and
``models.outreach_effect`` (the desk's measured effect).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class UpliftParams(BaseModel):
    """The uplift model's LightGBM settings (one per arm: called and uncalled) and its ranking rules.

    Attributes:
        learning_rate: Shrinkage of each tree.
        num_leaves: Most leaves of a tree.
        min_child_samples: Fewest rows in a leaf (large: churn is rare and effects are small).
        n_estimators: Trees per arm.
        subsample: Share of rows each tree is fitted on.
        colsample_bytree: Share of columns each tree may split on.
        reg_lambda: L2 penalty on leaf values.
        seed: Seed of the row and column draws.
        threads: Threads LightGBM uses.
        min_called_outcomes: Matured outcomes of called accounts the model needs before it may rank.
        min_control_outcomes: Matured outcomes of uncalled (held-out) accounts it needs before it may rank.
        value_months: Months of revenue a kept account is worth (incremental margin = effect × revenue × months).
        push_away: Expected effect on churn (probability points) at or above which a call is expected to push
            the account away: such accounts are dropped from the list.
    """

    model_config = ConfigDict(frozen=True)

    learning_rate: float = 0.03
    num_leaves: int = 15
    min_child_samples: int = 400
    n_estimators: int = 300
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    reg_lambda: float = 10.0
    seed: int = 7
    threads: int = 2
    min_called_outcomes: int = Field(default=2_000, ge=1)
    min_control_outcomes: int = Field(default=2_000, ge=1)
    value_months: int = 12
    push_away: float = 0.0
