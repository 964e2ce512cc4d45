"""The simulator's proactive calls and their truth: who was called, the effect's sign by trouble, the extract."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sources.simulator import SimulationConfig, simulate_hauler
from sources.simulator.call_config import OutreachConfig


@pytest.fixture(scope="module")
def hauler():  # type: ignore[no-untyped-def]
    return simulate_hauler(SimulationConfig(accounts=3_000, months=12, seed=5))


def test_calls_reach_only_listed_accounts_and_the_holdout_is_never_called(hauler) -> None:  # type: ignore[no-untyped-def]
    effects = hauler.truth["call_effects"].to_pandas()
    assert not (effects["called"] & ~effects["listed"]).any()
    assert not (effects["held_out"] & (effects["listed"] | effects["called"])).any()
    assert effects["held_out"].any() and effects["called"].any()
    called = effects[effects["listed"]]["called"].mean()
    assert abs(called - OutreachConfig().compliance) < 0.05
    calls = hauler.raw["proactive_calls"].to_pandas()
    per_month = effects[effects["called"]].groupby("account_id").size().sum()
    assert len(calls) == per_month  # one extract row per call, every one in the truth


def test_effects_vary_in_sign_and_vanish_for_the_settled(hauler) -> None:  # type: ignore[no-untyped-def]
    effects = hauler.truth["call_effects"].to_pandas()
    kept = effects["retention_effect"]
    assert (kept > 0.001).mean() > 0.3 and (kept < -0.001).mean() > 0.02
    settled = effects[~effects["callable"] & (effects["request_hazard_uncalled"] == 0)]
    assert len(settled) and (settled["retention_effect"] == 0).all()
    consistent = 1 - (1 - effects["request_hazard_called"]) ** 3 - (1 - (1 - effects["request_hazard_uncalled"]) ** 3)
    np.testing.assert_allclose(effects["churn_effect"], consistent.where(effects["callable"], effects["churn_effect"]),
                               atol=1e-5)  # fmt: skip


def test_the_desk_can_be_switched_off() -> None:
    off = simulate_hauler(SimulationConfig(accounts=500, months=6, seed=5, outreach=OutreachConfig(enabled=False)))
    assert "proactive_calls" not in off.raw and "call_effects" not in off.truth
    assert isinstance(off.raw["accounts"].to_pandas(), pd.DataFrame)
