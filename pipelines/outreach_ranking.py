"""Ranking tonight's proactive outreach by what a call changes, when the kept uplift model is ready.

``savedesk train`` keeps the uplift model (``pipelines.outreach.train_and_keep_uplift``) in
``DIR/features/uplift/``; the nightly (``pipelines.nightly.score_shard``) reads it here and adds
``expected_effect`` and ``incremental_margin`` to the proactive rows, dropping accounts a call is expected
to push away; the manifest's ``outreach`` says which ranking the list used and why.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pandas as pd

from models.outreach_params import UpliftParams
from models.uplift import UpliftModel
from pipelines.settings import Settings

UPLIFT_FILE = "uplift.pkl"
"""The kept uplift model (in ``DIR/features/uplift/``), with the outcome counts it was judged ready on."""


def uplift_path(settings: Settings) -> Path:
    """Where ``savedesk train`` keeps the uplift model for the nightly."""
    return settings.features_dir / "uplift" / UPLIFT_FILE


def ranking_note(model: UpliftModel | None, counts: dict[str, int], params: UpliftParams) -> str:
    """What ranks proactive outreach tonight, in a manager's words.

    Args:
        model: The kept uplift model (None: too few outcomes to fit one).
        counts: Its matured outcomes per arm.
        params: The uplift settings.
    """
    outcomes = f"{counts['called']:,} called and {counts['control']:,} uncalled outcomes"
    if model is not None and model.ranks:
        return (
            f"Proactive outreach is ranked by what a call changes (uplift model on {outcomes}); accounts a call is"
            " expected to push away are not listed."
        )
    if model is not None:
        return (
            f"Proactive outreach stays ranked by saveable value: tried on past months ({outcomes}), no uplift model"
            " picked the accounts a call keeps better than churn risk did."
        )
    return (
        f"Proactive outreach stays ranked by saveable value: the uplift model needs {params.min_called_outcomes:,}"
        f" called and {params.min_control_outcomes:,} uncalled matured outcomes (has {counts['called']:,} and"
        f" {counts['control']:,})."
    )


def load_uplift(settings: Settings) -> tuple[UpliftModel | None, dict[str, int]]:
    """The kept uplift model when it ranks (None: there is none, it is not ready, or risk ranked better)."""
    model, counts = kept_uplift(settings)
    return (model if model is not None and model.ranks else None), counts


def kept_uplift(settings: Settings) -> tuple[UpliftModel | None, dict[str, int]]:
    """The kept uplift model (None when there is none or it is not ready) and its outcome counts."""
    path = uplift_path(settings)
    if not path.is_file():
        return None, {"called": 0, "control": 0}
    with path.open("rb") as handle:
        kept = pickle.load(handle)  # noqa: S301 (written by savedesk train into the workspace)
    model = kept["model"]
    if model is not None and not hasattr(model, "learner"):  # kept by an older savedesk: ranks once retrained
        model = None
    return model, dict(kept["counts"])


def outreach_manifest(settings: Settings) -> dict[str, object]:
    """The manifest's ``outreach``: how tonight's proactive list is ranked, and why."""
    model, counts = kept_uplift(settings)
    return {
        "ranking": "uplift" if model is not None and model.ranks else "saveable_value",
        "called_outcomes": counts["called"],
        "control_outcomes": counts["control"],
        "sentence": ranking_note(model, counts, settings.outreach.uplift),
    }


def candidate_pool(settings: Settings, limit: int) -> int:
    """How many of the riskiest accounts (risk × revenue) the proactive list is chosen from.

    With a ready uplift model, ``pool_factor`` times the list's ``limit``: accounts a call moves but the risk
    ranking puts just below the list can enter it. Without one, the list is the riskiest ``limit``.
    """
    model, _ = load_uplift(settings)
    return limit if model is None else int(limit * settings.outreach.uplift.pool_factor)


def rank_by_uplift(
    settings: Settings, proactive: pd.DataFrame, candidates: pd.DataFrame, limit: int | None = None
) -> pd.DataFrame:
    """Proactive rows with ``expected_effect`` and ``incremental_margin`` when the uplift model is ready.

    Rows the model expects a call to push away (churn effect at or above ``push_away``) are dropped, and of the
    rest the ``limit`` with the largest incremental margin are kept (all when None). Without a ready model the
    rows are returned unchanged and the ranking stays by saveable value.
    """
    model, _ = load_uplift(settings)
    if model is None or proactive.empty:
        return proactive
    params = settings.outreach.uplift
    features = candidates.drop_duplicates("account_id").set_index("account_id").loc[proactive["account_id"]]
    effect = model.effect(features.reset_index())
    revenue = pd.to_numeric(features["monthly_revenue"], errors="coerce").fillna(0.0).to_numpy()
    out = proactive.assign(expected_effect=effect, incremental_margin=effect * revenue * params.value_months)
    out = out[-out["expected_effect"] < params.push_away]
    if limit is not None:
        out = out.sort_values("incremental_margin", ascending=False, kind="stable").head(limit)
    return out.reset_index(drop=True)
