"""Why customers call each month: complaints after failures, disputes after increases and charges, routine asks."""

from __future__ import annotations

import numpy as np

from sources import vocabulary as v
from sources.simulator.state import HaulerState


def contacts(hauler: HaulerState, m: int, open_: np.ndarray) -> None:
    """Complaints after failures, disputes after increases and charges, routine requests.

    Args:
        hauler: The running hauler; the contacts are logged and complaints counted in its history.
        m: The month.
        open_: Accounts open at some point in the month.
    """
    a, h, rng = hauler.accounts, hauler.history, hauler.rng
    n = a.size
    increase = (h.revenue[m] > 0) & (hauler.revenue() > h.revenue[m] * 1.02)
    chances = {
        ("complaint", "service"): 1 - np.exp(-0.45 * h.missed[m] - 0.15 * h.late_pickups[m]) + 0.004,
        ("billing_dispute", "price"): 0.07 * a.price_sensitivity * increase + 0.002,
        ("billing_dispute", "billing"): 0.1 * (h.overages[m] > 0) + 0.003,
        ("service_request", "container"): np.full(n, 0.01),
        ("inquiry", "other"): np.full(n, 0.008),
    }
    for (kind, topic), chance in chances.items():
        who = np.flatnonzero(open_ & (hauler.closed == -1) & (rng.random(n) < chance))
        day = np.maximum(hauler.calendar.random_days(rng, m, len(who)), a.start[who])
        escalated = (kind == "complaint") & (h.missed[m, who] >= 2) & (rng.random(len(who)) < 0.5)
        resolved = day + rng.exponential(4.0, size=len(who)).astype(np.int64)
        resolved = np.where((resolved > hauler.calendar.end) | (rng.random(len(who)) < 0.06), -1, resolved)
        channel = rng.choice(len(v.CONTACT_CHANNELS), p=[0.55, 0.25, 0.15, 0.05], size=len(who))
        hauler.log["contacts"].add(
            account=who, day=day, channel=channel, contact_type=kind, topic=topic,
            escalated=escalated, resolved=resolved,
        )  # fmt: skip
        if kind == "complaint":
            h.complaints[m, who] += 1
            h.escalations[m, who] += escalated.astype(np.int16)
