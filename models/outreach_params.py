"""Parameters of proactive outreach the settings hold: the holdout, the uplift model and when it may rank.

No model library here (``pipelines.settings`` imports it); the models that use these are
``models.holdout`` (the holdout's draw), ``models.uplift``, ``models.uplift_learners`` and
``models.uplift_offset`` (the learners) and ``models.outreach_effect`` (the desk's measured effect).
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
        penalties: L2 penalties of the interaction learner's call terms (``models.uplift_learners``) tried
            beside the X-learner; the choice is by cross-validated Qini on the training rows
            (``models.uplift_selection``).
        main_penalty: L2 penalty of the interaction learner's main-effect corrections.
        folds: Account folds of the cross-validated Qini.
        control_per_called: Uncalled training rows kept per called row (a seeded sample; the rest add little
            but time, and a sample drawn by arm alone leaves each arm's churn given the features unchanged).
        pool_factor: The uplift ranking chooses from this many times the proactive list's size of the riskiest
            accounts, not only from those the risk ranking listed.
        interaction_bins: Quantile bins of each number the interaction learner's call terms also get (a step,
            such as a renewal window in days to the contract's end, is no straight line); 0: straight lines only.
        offset_learning_rate: Shrinkage of the offset learner's trees (``models.uplift_offset``).
        offset_leaves: Most leaves of an offset learner's tree.
        offset_trees: Trees per arm of the offset learner.
        offset_leaf_share: Fewest rows in an offset learner's leaf, as a share of its arm's rows.
        blend: Whether the selection also weighs each interaction learner averaged with the offset learner (two
            learners that err differently: the average's error is smaller than either's).
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
    penalties: tuple[float, ...] = (1e-4, 1e-3, 1e-2)
    main_penalty: float = 1e-4
    folds: int = Field(default=3, ge=2)
    control_per_called: float = Field(default=3.0, gt=0)
    pool_factor: float = Field(default=3.0, ge=1.0)
    interaction_bins: int = Field(default=8, ge=0)
    offset_learning_rate: float = Field(default=0.01, gt=0)
    offset_leaves: int = Field(default=4, ge=2)
    offset_trees: int = Field(default=800, ge=1)
    offset_leaf_share: float = Field(default=0.05, gt=0, lt=1)
    blend: bool = True
