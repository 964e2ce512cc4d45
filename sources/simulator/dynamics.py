"""Month by month: prices move, routes fail, bills go out, customers call to cancel.

Each month every open account gets its rate changes and invoice (``billing``),
service exceptions and fill audits (``service``) and contacts (``contacts``);
then its true hazard of asking to cancel is computed from what happened
(``hazard``: most of it visible in those tables, a hidden frailty not),
requests are drawn, reps answer them with their biased offers (``saves``), and
the true save response decides who stays. Everything is vectorised over
accounts; only the months are a loop.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from sources.simulator.billing import change_rates, invoices
from sources.simulator.book import Accounts, Lines
from sources.simulator.calendar import Calendar
from sources.simulator.calls import ProactiveDesk
from sources.simulator.config import SimulationConfig
from sources.simulator.contacts import contacts
from sources.simulator.hazard import REASON, draw_reasons, hazard_drivers, silent_leaves
from sources.simulator.saves import SaveDesk
from sources.simulator.service import service_events
from sources.simulator.state import HaulerState

DURABLE_SAVE_DAYS = 90
"""Days a save must hold to be durable (the labels' ``durable_days``)."""


class Hauler(HaulerState):
    """The simulated hauler as it runs; ``run()`` plays every month."""

    def __init__(
        self,
        config: SimulationConfig,
        calendar: Calendar,
        accounts: Accounts,
        lines: Lines,
        rng: np.random.Generator,
    ) -> None:
        """Set up the state of the book on the extract's first day, and its save desk."""
        super().__init__(config, calendar, accounts, lines, rng)
        self.hazard_rows: list[dict[str, np.ndarray]] = []
        self.desk = SaveDesk(self)
        self.calls = ProactiveDesk(self) if config.outreach.enabled else None

    def run(self) -> None:
        """Play every month of the extract."""
        for month in range(self.calendar.months):
            self.play_month(month)

    def play_month(self, m: int) -> None:
        """Everything that happens in month ``m``, in the order it matters."""
        first, last = int(self.calendar.month_starts[m]), self.calendar.last_day(m)
        self.today = first
        open_ = (self.accounts.start <= last) & ((self.closed == -1) | (self.closed >= first))
        self.history.revenue[m] = self.revenue()
        self.route_strain = np.clip(
            self.route_strain ** 0.7 * self.rng.lognormal(0.0, 0.35, size=len(self.route_strain)),
            0.4, 4.0,
        )  # fmt: skip
        change_rates(self, m, first, last, open_)
        service_events(self, m, first, open_)
        contacts(self, m, open_)
        invoices(self, m, first, open_)
        self.cancellations(m, first, last, open_)
        self.today = int(self.calendar.month_starts[m + 1])
        self.history.revenue[m + 1] = self.revenue()

    def cancellations(self, m: int, first: int, last: int, open_: np.ndarray) -> None:
        """Draw requests and closures from the true hazard, then answer the requests."""
        eligible = np.flatnonzero(open_ & (self.closed == -1) & (self.accounts.start < last - 14))
        drivers = hazard_drivers(self, m, first, eligible)
        # A save holds for its durable window unless it relapses (the desk's truth counts relapses), so an
        # account saved less than DURABLE_SAVE_DAYS before the month starts neither asks again nor closes.
        settled = (self.saved_on[eligible] >= 0) & (first - self.saved_on[eligible] < DURABLE_SAVE_DAYS)
        if self.calls is not None:  # earlier calls still acting, then this month's calls (sources.simulator.calls)
            drivers["logit"] = drivers["logit"] + self.calls.acting(m, eligible)
            drivers["logit"] = drivers["logit"] + self.calls.month(
                m, first, eligible, drivers, drivers["uncontrollable"], settled
            )
        controllable = np.where(settled, 0.0, expit(drivers.pop("logit")))
        uncontrollable = np.where(settled, 0.0, drivers.pop("uncontrollable"))
        closure = np.where(settled, 0.0, drivers.pop("closure"))
        # Accounts whose close is already decided (lost, or a save that relapses) leave for sure:
        # the truth says so in the month the close takes effect.
        leaving = np.flatnonzero(open_ & (self.closed >= first))
        self.hazard_rows.append(
            {
                "account": np.concatenate([eligible, leaving]).astype(np.int32),
                "month": np.full(len(eligible) + len(leaving), m, dtype=np.int8),
                "request": np.concatenate([controllable + uncontrollable, np.zeros(len(leaving))]).astype(np.float32),
                "closure": np.concatenate([closure, self.closed[leaving] <= last]).astype(np.float32),
                "exit_decided": np.concatenate([np.zeros(len(eligible), bool), np.ones(len(leaving), bool)]),
            }
        )
        draw = self.rng.random(len(eligible))
        asks = draw < controllable + uncontrollable
        reason = draw_reasons(self, drivers, draw < controllable, eligible)
        who, reason = eligible[asks], reason[asks]
        day = np.maximum(self.calendar.random_days(self.rng, m, len(who)), self.accounts.start[who] + 1)
        self.desk.answer(who, reason, day, m)

        quits = np.flatnonzero(~asks & (self.rng.random(len(eligible)) < closure))
        who = eligible[quits]
        distress = self.accounts.distress[who]
        kind = np.where(distress > 0.2, REASON["bankruptcy"], np.where(
            self.rng.random(len(who)) < 0.5, REASON["business_closed"], REASON["sold"]))  # fmt: skip
        day = np.maximum(self.calendar.random_days(self.rng, m, len(who)), self.accounts.start[who] + 1)
        self.close(who, day, kind)
        if self.config.silent_leave_logit is not None:  # customers who stop paying without a word
            stays = ~asks & ~settled
            stays[quits] = False
            silent_leaves(self, m, eligible[stays], {name: values[stays] for name, values in drivers.items()})
