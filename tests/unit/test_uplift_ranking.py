"""The proactive list chosen by the uplift model: a wider pool, the push-away dropped, the list's size kept."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd

from models.uplift import RISK, UpliftModel
from pipelines.outreach_ranking import candidate_pool, load_uplift, outreach_manifest, rank_by_uplift, uplift_path
from pipelines.settings import Settings, load_settings


class KnownEffect:
    """A learner whose effect is the frame's ``effect`` column."""

    def effect(self, frame: pd.DataFrame) -> np.ndarray:
        return frame["effect"].to_numpy(dtype=float)


def keep(settings: Settings, model: object) -> None:
    path = uplift_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps({"model": model, "counts": {"called": 5000, "control": 5000}}))


def test_without_a_model_the_list_is_the_riskiest_and_unchanged(tmp_path: Path) -> None:
    settings = load_settings(tmp_path)
    rows = pd.DataFrame({"account_id": ["A1", "A2"], "monthly_revenue": [100.0, 50.0]})
    assert candidate_pool(settings, 40) == 40
    assert rank_by_uplift(settings, rows, rows.assign(effect=[0.1, -0.1]), 1).equals(rows)


def test_the_uplift_ranking_chooses_from_a_wider_pool_and_keeps_the_list_size(tmp_path: Path) -> None:
    settings = load_settings(tmp_path)
    keep(settings, UpliftModel(KnownEffect(), "interaction", {"interaction": 1.0}, {"called": 5000, "control": 5000}))
    factor = settings.outreach.uplift.pool_factor
    assert candidate_pool(settings, 40) == int(40 * factor) > 40
    pool = pd.DataFrame({"account_id": [f"A{i}" for i in range(6)], "monthly_revenue": 100.0,
                         "effect": [0.01, -0.02, 0.05, 0.0, 0.03, 0.02]})  # fmt: skip
    listed = rank_by_uplift(settings, pool[["account_id", "monthly_revenue"]], pool, 3)
    assert listed["account_id"].tolist() == ["A2", "A4", "A5"]  # largest incremental margin first
    assert (listed["expected_effect"] > 0).all() and len(listed) == 3
    assert "A1" not in rank_by_uplift(settings, pool[["account_id", "monthly_revenue"]], pool)["account_id"].tolist()


def test_a_model_kept_by_an_older_savedesk_does_not_rank(tmp_path: Path) -> None:
    settings = load_settings(tmp_path)
    keep(settings, KnownEffect())  # no learner: the pickle of an older release
    assert load_uplift(settings)[0] is None


def test_when_risk_ranked_better_on_past_months_the_list_stays_and_says_why(tmp_path: Path) -> None:
    settings = load_settings(tmp_path)
    scores = {RISK: 2.0, "offset boosting": 1.0}
    keep(settings, UpliftModel(KnownEffect(), RISK, scores, {"called": 5000, "control": 5000}))
    rows = pd.DataFrame({"account_id": ["A1", "A2"], "monthly_revenue": [100.0, 50.0]})
    assert load_uplift(settings)[0] is None
    assert candidate_pool(settings, 40) == 40
    assert rank_by_uplift(settings, rows, rows.assign(effect=[0.1, -0.1]), 1).equals(rows)
    manifest = outreach_manifest(settings)
    assert manifest["ranking"] == "saveable_value"
    assert "stays ranked by saveable value" in str(manifest["sentence"]) and "churn risk" in str(manifest["sentence"])
    keep(settings, UpliftModel(KnownEffect(), "offset boosting", scores, {"called": 5000, "control": 5000}))
    assert outreach_manifest(settings)["ranking"] == "uplift"
