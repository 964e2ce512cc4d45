"""The true monthly hazard of asking to cancel, and the reason a request states.

The hazard's log-odds add up drivers the tables show (price shocks, service
failures, billing trouble, competitors, contract terms, over-servicing) and one
they do not (a hidden frailty); distress drives the requests and closures no
offer can prevent.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from sources import vocabulary as v
from sources.simulator.book import SEGMENT
from sources.simulator.state import HaulerState

REASON = {name: i for i, name in enumerate(v.CANCELLATION_REASONS)}
CONTROLLABLE = [REASON[r] for r in v.CONTROLLABLE_REASONS]


def hazard_drivers(hauler: HaulerState, m: int, first: int, who: np.ndarray) -> dict[str, np.ndarray]:
    """The log-odds contributions behind each account's monthly hazard.

    Args:
        hauler: The running hauler, read only.
        m: The month.
        first: Its first day.
        who: The accounts.

    Returns:
        One array per controllable reason, plus ``logit`` (the controllable request log-odds),
        ``uncontrollable`` (the probability of a request no offer prevents) and ``closure``
        (the probability of closing without asking).
    """
    a, h, cfg = hauler.accounts, hauler.history, hauler.config
    seg = a.segment[who]
    ps = a.price_sensitivity[who]
    rev_now = h.revenue[m, who].astype(np.float64)
    rev_3 = h.revenue[max(0, m - 3), who].astype(np.float64)
    rev_12 = h.revenue[max(0, m - 12), who].astype(np.float64)
    shock_90 = np.where(rev_3 > 0, rev_now / np.maximum(rev_3, 1e-9) - 1, 0.0)
    shock_365 = np.where(rev_12 > 0, rev_now / np.maximum(rev_12, 1e-9) - 1, 0.0)
    business = seg != SEGMENT["residential"]
    to_end = a.contract_end[who] - first
    renewal_window = (a.contract_end[who] > 0) & (to_end >= 0) & (to_end <= 90) & a.auto_renew[who]
    month_to_month = (a.contract_end[who] == -1) & business
    entry = np.array([t.competitor_entry_month if t.competitor_entry_month is not None else 10**6
                      for t in cfg.territories])  # fmt: skip
    competitor = (entry[a.territory[who]] <= m) & business
    tenure_years = (first - a.start[who]) / 365.25
    saved_recently = (hauler.saved_on[who] >= 0) & (first - hauler.saved_on[who] < 365)

    def recent(counter: str, cap: int, months: int = 6) -> np.ndarray:
        return np.minimum(h.last(counter, m, months)[who], cap)

    # Customers hold grudges for months: drivers are counted over half a year, and a year's
    # increases weigh more than the latest one, so most of the hazard is in the account's
    # state on any given day rather than in next month's luck.
    failures = 0.3 * recent("missed", 8) + 0.12 * recent("late_pickups", 8)
    drivers = {
        "price": 4.0 * ps * np.maximum(shock_90, 0) + 7.0 * ps * np.maximum(shock_365 - 0.03, 0),
        "service_failure": a.service_sensitivity[who] * failures
        + 0.25 * recent("complaints", 3)
        + 0.35 * recent("escalations", 2),
        "billing": 0.25 * recent("late_invoices", 4) + 0.15 * recent("overages", 4),
        "competitor_offer": 0.9 * np.sqrt(ps) * competitor,
        "contract_terms": 1.1 * renewal_window + 0.35 * month_to_month,
        "over_servicing": 2.5 * np.maximum(0.6 - a.utilization[who], 0) * business,
    }  # fmt: skip
    base = np.array([cfg.request_base_logit[s] for s in v.SEGMENTS])[seg]
    tenure = 0.45 - 0.3 * np.log1p(tenure_years)
    relapse = 0.6 * saved_recently + 0.6 * saved_recently * hauler.saved_by_rollback[who] * ps
    drivers["logit"] = base + tenure + relapse + a.frailty[who] + sum(drivers.values())
    distress = a.distress[who]
    drivers["uncontrollable"] = expit(np.where(seg == SEGMENT["residential"], -6.1, -6.2) + 4.0 * distress)
    drivers["closure"] = expit(cfg.closure_base_logit + 5.0 * distress) * business
    return drivers


def silent_leaves(hauler: HaulerState, m: int, who: np.ndarray, drivers: dict[str, np.ndarray]) -> None:
    """Customers who leave without calling: their service and billing stop, their records stay open.

    Args:
        hauler: The running hauler; the leavers are closed in the simulation and marked ``silent``.
        m: The month.
        who: Accounts that neither asked nor closed this month.
        drivers: Their ``hazard_drivers`` (aligned with ``who``): price and billing trouble and the hidden
            frailty raise the silent hazard.
    """
    base = hauler.config.silent_leave_logit
    if base is None:  # nobody leaves silently
        return
    logit = base + drivers["price"] + 1.5 * drivers["billing"] + hauler.accounts.frailty[who]
    leaves = hauler.rng.random(len(who)) < expit(logit)
    gone = who[leaves]
    day = np.maximum(hauler.calendar.random_days(hauler.rng, m, len(gone)), hauler.accounts.start[gone] + 1)
    hauler.close(gone, day, np.full(len(gone), REASON["moved_out_of_area"]))
    hauler.silent[gone] = True


def draw_reasons(
    hauler: HaulerState, drivers: dict[str, np.ndarray], controllable: np.ndarray, who: np.ndarray
) -> np.ndarray:
    """Stated reason of each request: controllable ones in proportion to their drivers.

    Args:
        hauler: The running hauler; its random generator draws the reasons.
        drivers: ``hazard_drivers`` of the accounts, one array per controllable reason.
        controllable: Whether each account's request is a controllable one.
        who: The accounts.

    Returns:
        The code (``REASON``) of each account's stated reason.
    """
    weights = np.stack([0.12 + drivers[r] for r in v.CONTROLLABLE_REASONS], axis=1)
    weights /= weights.sum(axis=1, keepdims=True)
    draws = hauler.rng.random(len(who))[:, None]
    pick = np.minimum((draws > weights.cumsum(axis=1)).sum(axis=1), weights.shape[1] - 1)
    seg = hauler.accounts.segment[who]
    distress = hauler.accounts.distress[who]
    u = hauler.rng.random(len(who))
    other = np.where(
        seg == SEGMENT["residential"],
        np.where(u < 0.85, REASON["moved_out_of_area"], REASON["sold"]),
        np.where(distress > 0.2, np.where(u < 0.5, REASON["bankruptcy"], REASON["business_closed"]),
                 np.where(u < 0.55, REASON["business_closed"], np.where(u < 0.8, REASON["sold"],
                                                                         REASON["moved_out_of_area"]))),
    )  # fmt: skip
    return np.where(controllable, np.asarray(CONTROLLABLE)[pick], other)
