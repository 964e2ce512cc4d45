"""What goes wrong on the routes each month: missed and late pickups, overages, contamination, damage, fill audits.

Failures follow each territory's failure rate, its route strain that month and
each account's hidden route quality; a recent save that fixed service (a
recovered route) fails less for a while.
"""

from __future__ import annotations

import numpy as np

from sources.simulator.book import CONTAINER, SEGMENT, STREAM
from sources.simulator.state import HaulerState


def service_events(hauler: HaulerState, m: int, first: int, open_: np.ndarray) -> None:
    """Missed and late pickups, overages, contamination, damage and fill audits.

    Args:
        hauler: The running hauler; the events are logged and counted in its history.
        m: The month.
        first: Its first day.
        open_: Accounts open at some point in the month.
    """
    a, ln, rng = hauler.accounts, hauler.lines, hauler.rng
    lines = hauler.live_lines(open_)
    owner = ln.account[lines]
    lifts = ln.pickups[lines] * 4.33
    strain = hauler.route_strain[a.territory[owner]]
    territory_rate = np.array([t.route_failure_rate for t in hauler.config.territories])[a.territory[owner]]
    recovered = np.where(hauler.recovered_until[owner] >= first, 0.4, 1.0)
    miss_rate = lifts * territory_rate / 10 * strain * hauler.route_quality[owner] * recovered
    util = a.utilization[owner]
    recyclable = np.isin(ln.stream[lines], [STREAM["recycling"], STREAM["organics"]])
    counts = {
        "missed_pickup": rng.poisson(miss_rate),
        "late_pickup": rng.poisson(1.5 * miss_rate),
        "overage": rng.poisson(np.clip((util - 1.0) * 2.0, 0.0, 2.0) + 0.01),
        "contamination": rng.poisson(np.where(recyclable, 0.02, 0.0)),
        "damaged_container": rng.poisson(np.full(len(lines), 0.004)),
    }
    charges = {"overage": (35.0, 120.0), "contamination": (50.0, 75.0)}
    for kind, count in counts.items():
        line = np.repeat(lines, count)
        day = hauler.calendar.random_days(rng, m, len(line))
        low, high = charges.get(kind, (0.0, 0.0))
        charge = np.round(rng.uniform(low, high, size=len(line)), 2) if high else np.nan
        _log_service(hauler, m, kind, line, day, charge=charge)
    audited = (
        (ln.container[lines] != CONTAINER["cart"])
        & (a.segment[owner] != SEGMENT["residential"])
        & ((lines + m) % 3 == 0)
    )
    line = lines[audited]
    fill = np.clip(100 * util[audited] + rng.normal(0, 9, size=len(line)), 0, 300).round(0)
    _log_service(hauler, m, "fill_audit", line, hauler.calendar.random_days(rng, m, len(line)), fill_pct=fill)


def _log_service(
    hauler: HaulerState, m: int, kind: str, line: np.ndarray, day: np.ndarray, charge: np.ndarray | float = np.nan,
    fill_pct: np.ndarray | float = np.nan,
) -> None:  # fmt: skip
    owner = hauler.lines.account[line]
    keep = (day >= hauler.accounts.start[owner]) & ((hauler.closed[owner] == -1) | (day <= hauler.closed[owner]))
    line, owner, day = line[keep], owner[keep], day[keep]
    charge = charge[keep] if isinstance(charge, np.ndarray) else charge
    fill_pct = fill_pct[keep] if isinstance(fill_pct, np.ndarray) else fill_pct
    hauler.log["service_events"].add(
        line=line, account=owner, day=day, event_type=kind, charge=charge, fill_pct=fill_pct
    )
    counter = {"missed_pickup": "missed", "late_pickup": "late_pickups", "overage": "overages"}.get(kind)
    if counter:
        getattr(hauler.history, counter)[m] += np.bincount(owner, minlength=hauler.accounts.size).astype(np.int16)
    if isinstance(charge, np.ndarray):
        hauler.history.charges[m] += np.bincount(owner, weights=charge, minlength=hauler.accounts.size).astype(
            np.float32
        )
