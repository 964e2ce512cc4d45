"""Monitoring by promise: an offer is judged by what the save model promised on the same requests, not by a bar.

The desk below makes four offers on 200 matured requests each. ``broken``
was promised 40 % and saved 25 %; ``modest`` was promised 10 % and saved 10 %
(less than any bar would allow, exactly as promised); ``kept`` was promised
50 % and saved 51 %; ``rare`` saved none of 12 (too few to judge).
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from models.desk_outcomes import ABOVE, BELOW, TOO_FEW, desk_outcomes
from models.monitoring import MonitorReport, figures, warning_records, warnings
from models.promise import AS_PROMISED, PROMISED, chance_range, promise_table, saves_distribution
from pipelines.monitor_page import render
from pipelines.settings import MonitorSettings

THRESHOLDS = MonitorSettings()


def offer_requests(offer: str, requests: int, saved: int, promised: float | list[float]) -> pd.DataFrame:
    """``requests`` matured requests given ``offer``, the first ``saved`` of them saved, each with its promise."""
    return pd.DataFrame({
        "offer": offer, "rep_id": f"rep_{offer}", "territory": f"t_{offer}",
        "durable_save": np.arange(requests) < saved,
        PROMISED: np.broadcast_to(np.asarray(promised, dtype=float), (requests,)),
    })  # fmt: skip


DESK = pd.concat(
    [
        offer_requests("broken", 200, 50, 0.40),
        offer_requests("modest", 200, 20, 0.10),
        offer_requests("kept", 200, 102, 0.50),
        offer_requests("rare", 12, 0, 0.30),
    ],
    ignore_index=True,
)


@pytest.fixture(scope="module")
def by_offer() -> pd.DataFrame:
    return promise_table(DESK, "offer", min_requests=THRESHOLDS.min_requests).set_index("offer")


def test_the_distribution_of_saves_is_the_exact_poisson_binomial() -> None:
    promised = np.array([0.1, 0.5, 0.9, 0.3])
    pmf = saves_distribution(promised)
    assert pmf.sum() == pytest.approx(1.0) and len(pmf) == 5
    assert pmf[0] == pytest.approx(np.prod(1 - promised)) and pmf[4] == pytest.approx(np.prod(promised))
    assert (np.arange(5) * pmf).sum() == pytest.approx(promised.sum())
    same = saves_distribution(np.full(40, 0.2))  # equal promises: the binomial
    assert same == pytest.approx(stats.binom.pmf(np.arange(41), 40, 0.2))


def test_an_offer_saving_below_its_promise_is_warned(by_offer: pd.DataFrame) -> None:
    broken = by_offer.loc["broken"]
    assert broken["verdict"] == BELOW and broken["saved"] < broken["low"]
    assert broken["promised_rate"] == pytest.approx(0.40) and broken["save_rate"] == pytest.approx(0.25)
    assert broken["gap"] == pytest.approx(-0.15) and broken["gap"] < broken["gap_low"] < 0 < broken["gap_high"]
    report = report_of(DESK)
    said = [w for w in warning_records(report, THRESHOLDS) if w.cause == "offer below promise broken"]
    assert len(said) == 1
    assert "durable save rate 25.0%" in said[0].text and "200 matured requests 40.0%" in said[0].text


def test_an_offer_saving_little_but_as_promised_is_not_warned(by_offer: pd.DataFrame) -> None:
    modest = by_offer.loc["modest"]
    assert modest["save_rate"] == pytest.approx(0.10) and modest["save_rate"] < 0.25  # the old bar would have warned
    assert modest["verdict"] == AS_PROMISED and modest["low"] <= modest["saved"] <= modest["high"]
    assert modest["gap_low"] <= modest["gap"] <= modest["gap_high"]
    assert by_offer.loc["kept", "verdict"] == AS_PROMISED
    assert by_offer.loc["rare", "verdict"] == TOO_FEW  # none of 12 saved, but 12 are too few to judge
    causes = [w.cause for w in warning_records(report_of(DESK), THRESHOLDS)]
    assert causes == ["offer below promise broken", "rep below promise rep_broken", "territory below promise t_broken"]


def test_mixed_promises_are_judged_on_their_own_requests() -> None:
    """A rep whose requests were promised 90 % and 10 % in equal numbers is judged against 50 %, not a bar."""
    mixed = offer_requests("split", 200, 0, [0.9, 0.1] * 100)
    mixed["durable_save"] = np.tile([True, False], 100)  # every 90 % request saved, no 10 % one: 50 % overall
    table = promise_table(mixed, "offer", min_requests=30).iloc[0]
    assert table["promised_rate"] == pytest.approx(0.5) and table["verdict"] == AS_PROMISED
    over = offer_requests("over", 200, 120, 0.30)
    assert promise_table(over, "offer", min_requests=30).iloc[0]["verdict"] == ABOVE  # never warned
    assert not warnings(report_of(over), THRESHOLDS)


def test_the_chance_ranges_hold_together_for_an_honest_model() -> None:
    """Offers saving exactly as promised: none is called below in more than about 2.5 % of simulated desks."""
    rng = np.random.default_rng(5)
    promises = [0.1, 0.3, 0.5, 0.7, 0.2, 0.4]
    below = 0
    for _ in range(300):
        rows = [offer_requests(f"o{i}", 60, 0, p) for i, p in enumerate(promises)]
        desk = pd.concat(rows, ignore_index=True)
        desk["durable_save"] = rng.random(len(desk)) < desk[PROMISED]
        below += bool((promise_table(desk, "offer", min_requests=30)["verdict"] == BELOW).any())
    assert below / 300 <= 0.05
    low, high = chance_range(saves_distribution(np.full(100, 0.5)), 0.025)
    assert low < 50 < high


def test_the_report_shows_promises_and_logs_them(by_offer: pd.DataFrame) -> None:
    report = report_of(DESK)
    logged = figures(report, warnings(report, THRESHOLDS))
    assert logged["promise.offer.broken.promised_rate"] == pytest.approx(0.40)
    assert logged["promise.offer.below"] == 1 and "promise.offer.rare.save_rate" not in logged
    page = render(report)
    assert "saves against the model's promise" in page and "40.0 %" in page and "−15.0 points" in page


def report_of(requests: pd.DataFrame) -> MonitorReport:
    """A monitoring report with nothing but the promise tables to judge."""
    decisions = requests.assign(
        request_id=[f"Q{i}" for i in range(len(requests))], account_id="A1", reason="price", segment="commercial",
        request_date=pd.Timestamp("2026-03-02"),
    )  # fmt: skip
    attempts = pd.DataFrame({
        "attempt_id": pd.Series(dtype=str), "request_id": pd.Series(dtype=str),
        "attempt_date": pd.Series(dtype="datetime64[ns]"), "rollback_pct": pd.Series(dtype=float),
        "credit_amount": pd.Series(dtype=float), "new_monthly_rate": pd.Series(dtype=float),
        "accepted": pd.Series(dtype=bool),
    })  # fmt: skip
    guards = {"min_requests": THRESHOLDS.min_requests, "min_rollbacks": THRESHOLDS.min_rollbacks}
    return MonitorReport(
        as_of=date(2026, 8, 31),
        models={"name": "churn", "version": "1", "run_id": "run", "split": {}},
        drift=pd.DataFrame({"column": ["tenure_days"], "group": ["account"], "psi": [0.01]}),
        drift_by_month=pd.DataFrame(),
        performance=pd.DataFrame(columns=["as_of", "role", "period", "rows", "base_rate", "mean_score", "auc", "ece"]),
        outcomes=desk_outcomes(decisions, attempts, **guards),
        outcome_window=(date(2025, 6, 1), date(2026, 6, 1)),
        thresholds=THRESHOLDS,
        promise={
            key: promise_table(requests, key, min_requests=THRESHOLDS.min_requests)
            for key in ("offer", "rep_id", "territory")
        },  # fmt: skip
    )
