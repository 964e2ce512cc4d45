"""The state of the simulated hauler as it runs, and the few primitives every month's step uses on it.

Which accounts are closed (and why), rate locks, recovered routes, saves, route
quality and strain, the monthly counters and the log of raw rows; reading the
lines in service and the revenue they bring, changing rates and closing
accounts. The steps of a month (``billing``, ``service``, ``contacts``,
``hazard``) read and change this state; ``dynamics.Hauler`` plays them.
"""

from __future__ import annotations

import numpy as np

from sources.simulator.book import Accounts, Lines
from sources.simulator.calendar import Calendar
from sources.simulator.config import SimulationConfig
from sources.simulator.events import Logbook
from sources.simulator.history import History


class HaulerState:
    """The book of a running hauler: its accounts and lines, what has happened to them, and today."""

    def __init__(
        self,
        config: SimulationConfig,
        calendar: Calendar,
        accounts: Accounts,
        lines: Lines,
        rng: np.random.Generator,
    ) -> None:
        """Set up the state of the book on the extract's first day."""
        self.config, self.calendar, self.accounts, self.lines, self.rng = (
            config, calendar, accounts, lines, rng,
        )  # fmt: skip
        n, t = accounts.size, len(config.territories)
        self.log = Logbook()
        self.history = History.empty(calendar.months, n)
        self.closed = np.full(n, -1, dtype=np.int64)
        self.close_reason = np.full(n, -1, dtype=np.int8)
        self.silent = np.zeros(n, dtype=bool)
        """Accounts that left without a word: closed in the simulation, open in the extract's records."""
        self.lock_until = np.full(n, -1, dtype=np.int64)
        self.recovered_until = np.full(n, -1, dtype=np.int64)
        self.saved_on = np.full(n, -1, dtype=np.int64)
        self.saved_by_rollback = np.zeros(n, dtype=bool)
        self.route_quality = rng.lognormal(0.0, 0.6, size=n)
        self.route_strain = np.ones(t)
        self.today = calendar.start
        months = calendar.month_starts.astype("datetime64[D]").astype("datetime64[M]")
        self.month_of_year = (months.astype(np.int64) % 12).astype(np.int64)
        self.start_month_of_year = accounts.start.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) % 12

    def revenue(self) -> np.ndarray:
        """Monthly revenue of each account from its active lines."""
        live = self.live_lines(np.ones(self.accounts.size, dtype=bool))
        return np.bincount(
            self.lines.account[live], weights=self.lines.rate[live], minlength=self.accounts.size
        ).astype(np.float32)

    def live_lines(self, accounts_mask: np.ndarray) -> np.ndarray:
        """Indices of lines in service on ``today`` of the accounts in the mask."""
        end = self.lines.end
        return np.flatnonzero(((end == -1) | (end >= self.today)) & accounts_mask[self.lines.account])

    def set_rates(self, lines: np.ndarray, new_rates: np.ndarray, day: np.ndarray, kind: str) -> None:
        """Change lines' rates and log the change."""
        new_rates = np.round(new_rates, 2)
        self.log["rate_changes"].add(
            line=lines, account=self.lines.account[lines], day=day, change_type=kind,
            old_rate=self.lines.rate[lines].copy(), new_rate=new_rates,
        )  # fmt: skip
        self.lines.rate[lines] = new_rates

    def close(self, who: np.ndarray, day: np.ndarray, reason: np.ndarray) -> None:
        """Close accounts on a day: their lines end and billing stops after it."""
        self.closed[who] = day
        self.close_reason[who] = reason
        closing = np.zeros(self.accounts.size, dtype=bool)
        closing[who] = True
        ends = np.flatnonzero(closing[self.lines.account] & (self.lines.end == -1))
        self.lines.end[ends] = self.closed[self.lines.account[ends]]
