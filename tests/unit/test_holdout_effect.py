"""The desk's measured effect: listed against held-out accounts, by risk band, with an interval that holds."""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.outreach_effect import HELD_OUT, LISTED, desk_effect


def desk_month(rng: np.random.Generator, n: int = 2_000, share: float = 0.1) -> tuple[pd.DataFrame, float]:
    """A randomized month: churn probability and a call's true effect per account; the true saves of the calls."""
    risk = rng.uniform(0.01, 0.3, n)
    effect = np.where(rng.random(n) < 0.2, -0.3, 0.4) * risk  # some accounts are pushed away by a call
    held = rng.random(n) < share
    churn = rng.random(n) < np.where(held, risk, risk - effect)
    band = np.where(risk < 0.05, "low", np.where(risk < 0.15, "medium", "high"))
    frame = pd.DataFrame({"arm": np.where(held, HELD_OUT, LISTED), "kept": ~churn,
                          "margin": rng.uniform(100, 900, n), "risk_band": band})  # fmt: skip
    return frame, float(effect[~held].sum())


def test_the_interval_holds_the_true_saves_in_about_95_percent_of_months() -> None:
    rng = np.random.default_rng(11)
    hits = []
    for _ in range(300):
        frame, truth = desk_month(rng)
        estimate = desk_effect(frame)
        hits.append(estimate.kept_low <= truth <= estimate.kept_high)
        assert estimate.kept_low <= estimate.kept <= estimate.kept_high
        assert estimate.worth_low <= estimate.worth <= estimate.worth_high
    assert 0.9 <= np.mean(hits) <= 0.99


def test_a_desk_without_effect_is_read_as_none_and_the_sentence_reads_in_dollars() -> None:
    rng = np.random.default_rng(3)
    n = 20_000
    frame = pd.DataFrame({"arm": np.where(rng.random(n) < 0.5, HELD_OUT, LISTED), "kept": rng.random(n) < 0.9,
                          "margin": 1_200.0, "risk_band": "medium"})  # fmt: skip
    estimate = desk_effect(frame)
    assert estimate.kept_low < 0 < estimate.kept_high
    assert estimate.listed + estimate.held_out == n
    assert estimate.sentence().startswith("Calls kept ") and "$" in estimate.sentence()
    assert set(estimate.figures()) >= {"outreach.effect.kept", "outreach.effect.worth_low"}


def test_a_band_without_held_out_accounts_is_left_out_of_the_total() -> None:
    frame = pd.DataFrame({"arm": [LISTED] * 3 + [LISTED, HELD_OUT], "kept": [True, False, True, True, False],
                          "margin": 1.0, "risk_band": ["high"] * 3 + ["low"] * 2})  # fmt: skip
    estimate = desk_effect(frame)
    assert estimate.kept == 1.0  # only the low band: one listed account kept, its held-out twin lost
    assert np.isnan(estimate.by_band.set_index("risk_band").loc["high", "kept"])
