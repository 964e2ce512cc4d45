"""The simulated desk follows published offers and logs their propensity; without them it is the history's desk."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from sources import vocabulary as v
from sources.simulator import SimulationConfig
from sources.simulator.book import draw_accounts, draw_lines
from sources.simulator.calendar import Calendar
from sources.simulator.dynamics import Hauler
from sources.simulator.offers import OFFER
from sources.simulator.saves import Published, Requests
from sources.simulator.tables import raw_tables

CONFIG = SimulationConfig(accounts=1_500, months=6, seed=5)
FOLLOW_FROM = 3


def simulated(published: bool) -> dict[str, pa.Table]:
    """The hauler's raw tables; with ``published``, from month ``FOLLOW_FROM`` on the desk publishes its offers."""
    rng = np.random.default_rng(CONFIG.seed)
    calendar = Calendar.ending(CONFIG.end, CONFIG.months)
    accounts = draw_accounts(CONFIG, calendar, rng)
    hauler = Hauler(CONFIG, calendar, accounts, draw_lines(accounts, CONFIG, calendar, rng), rng)
    hauler.desk.compliance = 0.7

    def publish(batch: Requests) -> Published:
        # Service recovery with propensity 0.8 for even request numbers; nothing published for odd ones.
        even = batch.number % 2 == 0
        offer = np.where(even, OFFER["service_recovery"], -1)
        return Published(offer, np.where(even, 0.8, np.nan))

    for m in range(CONFIG.months):
        if published and m == FOLLOW_FROM:
            hauler.desk.policy = publish
        hauler.play_month(m)
    return raw_tables(hauler)[0]


def inside(raw: dict[str, pa.Table]) -> pd.DataFrame:
    attempts = raw["save_attempts"].to_pandas()
    return attempts[attempts["rep_channel"] == "inside_sales"]


def test_reps_follow_published_offers_with_the_declared_compliance_and_log_their_propensity() -> None:
    habit, following = inside(simulated(False)), inside(simulated(True))
    start = pd.Timestamp(Calendar.ending(CONFIG.end, CONFIG.months).month_starts[FOLLOW_FROM], unit="D")
    before = following[pd.to_datetime(following["attempt_date"]) < start]
    assert before["propensity"].isna().all(), "no propensity before the desk published"
    logged = following[following["propensity"].notna()]
    assert len(logged) > 0 and (logged["propensity"] == 0.8).all()
    assert (logged["offer"] == "service_recovery").all(), "a logged propensity belongs to the published offer"
    after = following[pd.to_datetime(following["attempt_date"]) >= start]
    share = after["propensity"].notna().mean()
    # Half the requests had a published offer, and reps followed 70 % of those.
    assert 0.25 < share < 0.45
    assert habit["propensity"].isna().all(), "without published offers the column is empty"
    assert set(habit["offer"]) <= set(v.OFFERS)


def test_the_months_before_the_desk_publishes_are_the_historys() -> None:
    """Setting a published policy changes nothing before it acts: the same attempts, offers and outcomes."""
    habit, following = inside(simulated(False)), inside(simulated(True))
    start = pd.Timestamp(Calendar.ending(CONFIG.end, CONFIG.months).month_starts[FOLLOW_FROM], unit="D")
    # Identifiers are numbered over the whole extract, so the rows are compared by what they say.
    columns = ["account_id", "attempt_date", "rep_id", "offer", "rollback_pct", "accepted"]
    early = [frame[pd.to_datetime(frame["attempt_date"]) < start][columns].sort_values(columns, ignore_index=True)
             for frame in (habit, following)]  # fmt: skip
    assert len(early[0]) > 0
    pd.testing.assert_frame_equal(early[0], early[1])


def test_a_recorded_outcome_keeps_the_published_propensity_of_the_offer_it_made() -> None:
    from serving.outcomes_feed import outcome_tables

    base = {"account_id": "A1", "offer": "service_recovery", "rollback_pct": 0.0, "credit_amount": 0.0,
            "accepted": False, "new_monthly_rate": 100.0, "new_term_months": None, "flipped": False,
            "call_date": pd.Timestamp("2026-10-01"), "user_name": "ann", "rep_id": "R1"}  # fmt: skip
    rows = [
        base | {"outcome_id": 1, "request_id": "Q1", "offer_propensity": 0.85},
        base | {"outcome_id": 2, "request_id": "Q2", "offer_propensity": None},
        base | {"outcome_id": 3, "request_id": "Q3", "offer": "flip", "flipped": True, "offer_propensity": 0.1},
        base | {"outcome_id": 4, "request_id": "Q3", "call_date": pd.Timestamp("2026-10-03"),
                "offer_propensity": 0.1},  # the specialist's own offer: not the published one
    ]  # fmt: skip
    attempts = outcome_tables(pd.DataFrame(rows))["save_attempts"].set_index("attempt_id")
    assert attempts["propensity"].tolist()[:3] == [0.85, pytest.approx(float("nan"), nan_ok=True), 0.1]
    assert np.isnan(attempts["propensity"].iloc[3])
    without = outcome_tables(pd.DataFrame([{k: v for k, v in rows[0].items() if k != "offer_propensity"}]))
    assert "propensity" not in without["save_attempts"]
