"""Logged propensities: where the desk drew the offer, the valuation and the save model weight by what it logged."""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from models.exploration import PROPENSITY_COLUMN
from models.guardrails import GuardrailRules
from models.offer_propensity import behaviour_propensity
from models.offers import OfferCatalog
from models.policy import RECOMMENDED, plan_offers
from models.policy_value import doubly_robust_value, evaluate_policy, realized_value

CATALOG = OfferCatalog()
RULES = GuardrailRules()


def requests(n: int, seed: int) -> pd.DataFrame:
    """Open requests of commercial accounts in Austin on price or service calls, with varied revenue and fill."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "request_id": [f"R{i:05d}" for i in range(n)], "request_date": pd.Timestamp("2026-09-01"),
        "account_id": [f"A{i:05d}" for i in range(n)], "territory": "Austin", "segment": "commercial",
        "state": "TX", "reason": np.where(np.arange(n) % 2 == 0, "price", "service_failure"),
        "monthly_revenue": rng.uniform(200, 2000, n), "lines": 1, "weekly_capacity_yards": 18.0,
        "has_lease": False, "fill_pct_mean_365d": rng.uniform(30, 95, n), "fill_pct_last": 55.0,
        "has_recycling": True, "has_organics": False, "biggest_stream": "trash", "biggest_container": "front_load",
        "biggest_yards": 6.0, "biggest_pickups": 3.0, "biggest_is_lease": False, "rollbacks_365d": 0,
        "days_since_save": np.nan, "last_rollback_pct": np.nan,
    })  # fmt: skip


def stable(frame: pd.DataFrame, salt: str, low: float, high: float) -> np.ndarray:
    """A fixed pseudo-random number per (request, offer) row, in [low, high)."""
    text = (salt + frame["request_id"].astype(str) + frame["offer"].astype(str)).tolist()
    return np.array([low + (high - low) * (zlib.crc32(t.encode()) % 10_000) / 10_000 for t in text])


def test_the_doubly_robust_value_uses_the_logged_propensity_where_there_is_one() -> None:
    """The desk logged the true propensities of its randomized offers; the estimate is wrong. DR must use the log."""
    n = 4_000
    plans = plan_offers(requests(n, 1), CATALOG, RULES, lambda f: stable(f, "model", 0.1, 0.5))
    true_p = stable(plans, "truth", 0.05, 0.7)
    truth = plans[["request_id", "offer"]].assign(durable_save_probability=true_p)
    rng = np.random.default_rng(2)
    # The logging desk: the recommended offer with probability 0.6, else one of the other allowed offers at random.
    allowed = plans[plans["allowed"]]
    k = allowed.groupby("request_id")["offer"].transform("size").to_numpy()
    is_best = (allowed["choice"] == RECOMMENDED).to_numpy()
    p_logged = np.where(k == 1, 1.0, np.where(is_best, 0.6, 0.4 / np.maximum(k - 1, 1)))
    pick = allowed.assign(p=p_logged, u=rng.random(len(allowed)))
    pick["cum"] = pick.groupby("request_id")["p"].cumsum()
    pick["u"] = pick.groupby("request_id")["u"].transform("first")
    made = pick[pick["cum"] >= pick["u"]].groupby("request_id").head(1).set_index("request_id")
    at = pd.MultiIndex.from_arrays([made.index, made["offer"]])
    saved = rng.random(len(made)) < truth.set_index(["request_id", "offer"]).loc[at, "durable_save_probability"]
    logged = pd.DataFrame({
        "request_id": made.index, "offer": made["offer"].to_numpy(), "durable_save": saved.to_numpy(),
        PROPENSITY_COLUMN: made["p"].to_numpy(),
    })  # fmt: skip
    estimated = pd.Series(0.95, index=logged["request_id"].to_numpy())  # a badly wrong estimate

    values = evaluate_policy(plans, truth, logged, estimated, RULES, CATALOG.annuity())
    by_id = logged.set_index("request_id")
    with_log = doubly_robust_value(plans, by_id["offer"], by_id["durable_save"], by_id[PROPENSITY_COLUMN])
    with_estimate = doubly_robust_value(plans, by_id["offer"], by_id["durable_save"], estimated)
    assert values.dr_estimate == with_log[0] != with_estimate[0]
    true_value = realized_value(true_p, plans)[(plans["choice"] == RECOMMENDED).to_numpy()].sum()
    assert abs(values.dr_estimate - true_value) < 3 * values.dr_stderr
    assert abs(values.dr_estimate - true_value) < abs(with_estimate[0] - true_value)

    # Without a logged column the estimate is what DR uses.
    unlogged = evaluate_policy(plans, truth, logged.drop(columns=PROPENSITY_COLUMN), estimated, RULES,
                               CATALOG.annuity())  # fmt: skip
    assert unlogged.dr_estimate == with_estimate[0]


def test_behaviour_propensity_takes_the_log_where_it_exists_and_the_estimate_elsewhere() -> None:
    frame = pd.DataFrame({PROPENSITY_COLUMN: [0.25, np.nan, 1.0, 0.0, None]})
    estimated = np.array([0.5, 0.4, 0.3, 0.2, 0.1])
    assert behaviour_propensity(frame, estimated).tolist() == [0.25, 0.4, 1.0, 0.2, 0.1]
    assert behaviour_propensity(frame.drop(columns=PROPENSITY_COLUMN), estimated).tolist() == estimated.tolist()
