"""What the simulated hauler bills each month: anniversary increases, territory surcharges and the invoice."""

from __future__ import annotations

import numpy as np

from sources.simulator.book import SEGMENT
from sources.simulator.calendar import day_number
from sources.simulator.state import HaulerState


def change_rates(hauler: HaulerState, m: int, first: int, last: int, open_: np.ndarray) -> None:
    """Anniversary increases (CPI plus a markup) and territory-wide surcharges.

    Args:
        hauler: The running hauler; its lines' rates change and the changes are logged.
        m: The month.
        first: Its first day.
        last: Its last day.
        open_: Accounts open at some point in the month.
    """
    a, cfg = hauler.accounts, hauler.config
    due = (
        open_
        & (hauler.start_month_of_year == hauler.month_of_year[m])
        & (a.start < first - 300)
        & (hauler.lock_until < first)
        & (hauler.closed == -1)
    )
    lines = hauler.live_lines(due)
    owner = hauler.lines.account[lines]
    markup = np.array([t.price_markup_pct for t in cfg.territories])[a.territory[owner]]
    seg = a.segment[owner]
    pct = np.where(
        seg == SEGMENT["municipal"],
        cfg.cpi_pct,
        np.where(seg == SEGMENT["residential"], cfg.cpi_pct + 1.0, cfg.cpi_pct + markup + a.extra_increase_pct[owner]),
    ) + hauler.rng.normal(0.0, 0.4, size=len(lines))
    if cfg.price_shift_from is not None and first >= day_number(cfg.price_shift_from):
        pct = pct + cfg.price_shift_pct  # no random draw: the regime change leaves every other event as it was
    day = np.minimum(first + (a.start[owner] - first) % 28, last)
    hauler.set_rates(lines, hauler.lines.rate[lines] * (1 + np.maximum(pct, 0.5) / 100), day, "annual_increase")

    if not cfg.surcharges:
        return
    for kind, chance, low, high in (("fuel_surcharge", 0.05, 3.0, 6.0), ("environmental_fee", 0.03, 1.5, 3.0)):
        hit = np.flatnonzero(hauler.rng.random(len(cfg.territories)) < chance)
        pct_by_territory = np.zeros(len(cfg.territories))
        pct_by_territory[hit] = hauler.rng.uniform(low, high, size=len(hit))
        business = open_ & (a.segment != SEGMENT["residential"]) & (hauler.closed == -1)
        lines = hauler.live_lines(business & (pct_by_territory[a.territory] > 0))
        pct = pct_by_territory[a.territory[hauler.lines.account[lines]]]
        hauler.set_rates(lines, hauler.lines.rate[lines] * (1 + pct / 100), np.full(len(lines), first), kind)


def invoices(hauler: HaulerState, m: int, first: int, open_: np.ndarray) -> None:
    """One invoice per open account on the first of the month; distress pays late.

    Args:
        hauler: The running hauler; the invoices are logged and late ones counted.
        m: The month.
        first: Its first day.
        open_: Accounts open at some point in the month.
    """
    a, rng = hauler.accounts, hauler.rng
    billed = np.flatnonzero(open_ & (a.start <= first) & ((hauler.closed == -1) | (hauler.closed >= first)))
    amount = hauler.history.revenue[m, billed].astype(np.float64)
    if m > 0:
        amount = amount + hauler.history.charges[m - 1, billed]
    late = rng.random(len(billed)) < 0.02 + 1.0 * a.distress[billed]
    days_late = rng.exponential(12 + 60 * a.distress[billed]).astype(np.int64) + 1
    due = first + 30
    paid = np.where(late, due + days_late, due - rng.integers(0, 25, size=len(billed)))
    paid = np.where(paid > hauler.calendar.end, -1, paid)
    hauler.log["invoices"].add(account=billed, day=first, due=due, amount=np.round(amount, 2), paid=paid)
    hauler.history.late_invoices[m, billed] += late.astype(np.int16)
