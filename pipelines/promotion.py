"""What the gate is shown about a challenger beside the champion: the paired interval and the list changes.

The training steps (``pipelines.training``, ``pipelines.save_training``) call
these with the models and the rows they already hold; the gate
(``models.gate.decide``) judges the interval and carries the list changes into
its decision, which the registry records.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from features.build import build_features
from features.view import Tables
from models.churn import ChurnModel
from models.comparison import AucInterval, paired_auc_interval
from models.gate import GateRules
from models.list_changes import ListChanges, churn_list_changes, offer_changes
from serving.roster import Roster


def churn_interval(
    champion: ChurnModel,
    challenger: ChurnModel,
    test: pd.DataFrame,
    rules: GateRules,
    weights: np.ndarray | None = None,
) -> AucInterval:
    """The paired interval of the challenger's AUC gain over the champion on the test rows (accounts drawn).

    With ``weights`` (a case-control sample's test month) the AUCs are the weighted ones the gate compares.
    """
    return paired_auc_interval(
        test["churn"].astype(int).to_numpy(),
        champion.predict_proba(test),
        challenger.predict_proba(test),
        test["account_id"].to_numpy(),
        rounds=rules.bootstrap_rounds,
        level=rules.interval_level,
        seed=rules.bootstrap_seed,
        weights=weights,
    )


def save_interval(
    test: pd.DataFrame, champion_scores: np.ndarray, challenger_scores: np.ndarray, rules: GateRules
) -> AucInterval:
    """The paired interval of a save model's AUC gain on the test requests (an account's requests drawn together)."""
    return paired_auc_interval(
        test["durable_save"].astype(int).to_numpy(),
        champion_scores,
        challenger_scores,
        test["account_id"].to_numpy(),
        rounds=rules.bootstrap_rounds,
        level=rules.interval_level,
        seed=rules.bootstrap_seed,
    )


def capacity(roster: Roster, territories: list[str], per_rep: int) -> dict[str, int]:
    """Proactive calls each territory's reps make a day (a territory without reps has one unassigned list)."""
    return {t: per_rep * max(1, len(roster.inside(t))) for t in territories}


def latest_book(tables: Tables, as_of: date) -> pd.DataFrame:
    """The book the nightly would score on ``as_of``: every account in service with its features."""
    return build_features(tables, as_of).to_pandas()


def churn_changes(
    champion: ChurnModel, challenger: ChurnModel, book: pd.DataFrame, roster: Roster, per_rep: int, as_of: date
) -> ListChanges:
    """Who enters and leaves the top of the risk ranking and of each territory's proactive list on ``book``."""
    territories = sorted(book["territory"].dropna().astype(str).unique())
    return churn_list_changes(
        book,
        champion.predict_proba(book),
        challenger.predict_proba(book),
        capacity(roster, territories, per_rep),
        as_of.isoformat(),
    )


def save_changes(champion_plans: pd.DataFrame, challenger_plans: pd.DataFrame, period: str) -> ListChanges:
    """Which test requests each offer would lead with under the challenger save model."""
    return offer_changes(champion_plans, challenger_plans, period)


def latest_churn_changes(
    tables: Tables, as_of: date, champion: ChurnModel, challenger: ChurnModel, per_rep: int
) -> ListChanges:
    """``churn_changes`` on the book of ``as_of`` (the extract's last day), with the desk's roster of that day."""
    from pipelines.nightly import desk_roster

    roster, _ = desk_roster(tables, as_of)
    return churn_changes(champion, challenger, latest_book(tables, as_of), roster, per_rep, as_of)
