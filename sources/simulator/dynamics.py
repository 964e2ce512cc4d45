"""Month by month: prices move, routes fail, bills go out, customers call to cancel.

Each month every open account gets its rate changes, service exceptions, fill
audits, contacts and invoice; then its true hazard of asking to cancel is
computed from what happened (most of it visible in those tables, a hidden
frailty not), requests are drawn, reps answer them with their biased offers,
and the true save response decides who stays. Everything is vectorised over
accounts; only the months are a loop.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from sources import vocabulary as v
from sources.simulator.book import CONTAINER, SEGMENT, STREAM, Accounts, Lines
from sources.simulator.calendar import Calendar, day_number
from sources.simulator.config import SimulationConfig
from sources.simulator.events import Logbook
from sources.simulator.history import History
from sources.simulator.saves import SaveDesk

REASON = {name: i for i, name in enumerate(v.CANCELLATION_REASONS)}
CONTROLLABLE = [REASON[r] for r in v.CONTROLLABLE_REASONS]
DURABLE_SAVE_DAYS = 90
"""Days a save must hold to be durable (the labels' ``durable_days``)."""


class Hauler:
    """The simulated hauler as it runs; ``run()`` plays every month."""

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
        self.lock_until = np.full(n, -1, dtype=np.int64)
        self.recovered_until = np.full(n, -1, dtype=np.int64)
        self.saved_on = np.full(n, -1, dtype=np.int64)
        self.saved_by_rollback = np.zeros(n, dtype=bool)
        self.route_quality = rng.lognormal(0.0, 0.6, size=n)
        self.route_strain = np.ones(t)
        self.today = calendar.start
        self.hazard_rows: list[dict[str, np.ndarray]] = []
        self.desk = SaveDesk(self)
        months = calendar.month_starts.astype("datetime64[D]").astype("datetime64[M]")
        self.month_of_year = (months.astype(np.int64) % 12).astype(np.int64)
        self.start_month_of_year = accounts.start.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) % 12

    def run(self) -> None:
        """Play every month of the extract."""
        for month in range(self.calendar.months):
            self.play_month(month)

    # ---- one month -------------------------------------------------------------

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
        self.change_rates(m, first, last, open_)
        self.service_events(m, first, last, open_)
        self.contacts(m, first, last, open_)
        self.invoices(m, first, open_)
        self.cancellations(m, first, last, open_)
        self.today = int(self.calendar.month_starts[m + 1])
        self.history.revenue[m + 1] = self.revenue()

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

    def change_rates(self, m: int, first: int, last: int, open_: np.ndarray) -> None:
        """Anniversary increases (CPI plus a markup) and territory-wide surcharges."""
        a, cfg = self.accounts, self.config
        due = (
            open_
            & (self.start_month_of_year == self.month_of_year[m])
            & (a.start < first - 300)
            & (self.lock_until < first)
            & (self.closed == -1)
        )
        lines = self.live_lines(due)
        owner = self.lines.account[lines]
        markup = np.array([t.price_markup_pct for t in cfg.territories])[a.territory[owner]]
        seg = a.segment[owner]
        pct = np.where(
            seg == SEGMENT["municipal"],
            cfg.cpi_pct,
            np.where(
                seg == SEGMENT["residential"], cfg.cpi_pct + 1.0, cfg.cpi_pct + markup + a.extra_increase_pct[owner]
            ),
        ) + self.rng.normal(0.0, 0.4, size=len(lines))
        if cfg.price_shift_from is not None and first >= day_number(cfg.price_shift_from):
            pct = pct + cfg.price_shift_pct  # no random draw: the regime change leaves every other event as it was
        day = np.minimum(first + (a.start[owner] - first) % 28, last)
        self.set_rates(lines, self.lines.rate[lines] * (1 + np.maximum(pct, 0.5) / 100), day, "annual_increase")

        for kind, chance, low, high in (("fuel_surcharge", 0.05, 3.0, 6.0), ("environmental_fee", 0.03, 1.5, 3.0)):
            hit = np.flatnonzero(self.rng.random(len(cfg.territories)) < chance)
            pct_by_territory = np.zeros(len(cfg.territories))
            pct_by_territory[hit] = self.rng.uniform(low, high, size=len(hit))
            business = open_ & (a.segment != SEGMENT["residential"]) & (self.closed == -1)
            lines = self.live_lines(business & (pct_by_territory[a.territory] > 0))
            pct = pct_by_territory[a.territory[self.lines.account[lines]]]
            self.set_rates(lines, self.lines.rate[lines] * (1 + pct / 100), np.full(len(lines), first), kind)

    def service_events(self, m: int, first: int, last: int, open_: np.ndarray) -> None:
        """Missed and late pickups, overages, contamination, damage and fill audits."""
        a, ln, rng = self.accounts, self.lines, self.rng
        lines = self.live_lines(open_)
        owner = ln.account[lines]
        lifts = ln.pickups[lines] * 4.33
        strain = self.route_strain[a.territory[owner]]
        territory_rate = np.array([t.route_failure_rate for t in self.config.territories])[a.territory[owner]]
        recovered = np.where(self.recovered_until[owner] >= first, 0.4, 1.0)
        miss_rate = lifts * territory_rate / 10 * strain * self.route_quality[owner] * recovered
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
            day = self.calendar.random_days(rng, m, len(line))
            low, high = charges.get(kind, (0.0, 0.0))
            charge = np.round(rng.uniform(low, high, size=len(line)), 2) if high else np.nan
            self._log_service(m, kind, line, day, charge=charge)
        audited = (
            (ln.container[lines] != CONTAINER["cart"])
            & (a.segment[owner] != SEGMENT["residential"])
            & ((lines + m) % 3 == 0)
        )
        line = lines[audited]
        fill = np.clip(100 * util[audited] + rng.normal(0, 9, size=len(line)), 0, 300).round(0)
        self._log_service(m, "fill_audit", line, self.calendar.random_days(rng, m, len(line)), fill_pct=fill)

    def _log_service(
        self, m: int, kind: str, line: np.ndarray, day: np.ndarray, charge: np.ndarray | float = np.nan,
        fill_pct: np.ndarray | float = np.nan,
    ) -> None:  # fmt: skip
        owner = self.lines.account[line]
        keep = (day >= self.accounts.start[owner]) & ((self.closed[owner] == -1) | (day <= self.closed[owner]))
        line, owner, day = line[keep], owner[keep], day[keep]
        charge = charge[keep] if isinstance(charge, np.ndarray) else charge
        fill_pct = fill_pct[keep] if isinstance(fill_pct, np.ndarray) else fill_pct
        self.log["service_events"].add(
            line=line, account=owner, day=day, event_type=kind, charge=charge, fill_pct=fill_pct
        )
        counter = {"missed_pickup": "missed", "late_pickup": "late_pickups", "overage": "overages"}.get(kind)
        if counter:
            getattr(self.history, counter)[m] += np.bincount(owner, minlength=self.accounts.size).astype(np.int16)
        if isinstance(charge, np.ndarray):
            self.history.charges[m] += np.bincount(owner, weights=charge, minlength=self.accounts.size).astype(
                np.float32
            )

    def contacts(self, m: int, first: int, last: int, open_: np.ndarray) -> None:
        """Complaints after failures, disputes after increases and charges, routine requests."""
        a, h, rng = self.accounts, self.history, self.rng
        n = a.size
        increase = (h.revenue[m] > 0) & (self.revenue() > h.revenue[m] * 1.02)
        chances = {
            ("complaint", "service"): 1 - np.exp(-0.45 * h.missed[m] - 0.15 * h.late_pickups[m]) + 0.004,
            ("billing_dispute", "price"): 0.07 * a.price_sensitivity * increase + 0.002,
            ("billing_dispute", "billing"): 0.1 * (h.overages[m] > 0) + 0.003,
            ("service_request", "container"): np.full(n, 0.01),
            ("inquiry", "other"): np.full(n, 0.008),
        }
        for (kind, topic), chance in chances.items():
            who = np.flatnonzero(open_ & (self.closed == -1) & (rng.random(n) < chance))
            day = np.maximum(self.calendar.random_days(rng, m, len(who)), a.start[who])
            escalated = (kind == "complaint") & (h.missed[m, who] >= 2) & (rng.random(len(who)) < 0.5)
            resolved = day + rng.exponential(4.0, size=len(who)).astype(np.int64)
            resolved = np.where((resolved > self.calendar.end) | (rng.random(len(who)) < 0.06), -1, resolved)
            channel = rng.choice(len(v.CONTACT_CHANNELS), p=[0.55, 0.25, 0.15, 0.05], size=len(who))
            self.log["contacts"].add(
                account=who, day=day, channel=channel, contact_type=kind, topic=topic,
                escalated=escalated, resolved=resolved,
            )  # fmt: skip
            if kind == "complaint":
                h.complaints[m, who] += 1
                h.escalations[m, who] += escalated.astype(np.int16)

    def invoices(self, m: int, first: int, open_: np.ndarray) -> None:
        """One invoice per open account on the first of the month; distress pays late."""
        a, rng = self.accounts, self.rng
        billed = np.flatnonzero(open_ & (a.start <= first) & ((self.closed == -1) | (self.closed >= first)))
        amount = self.history.revenue[m, billed].astype(np.float64)
        if m > 0:
            amount = amount + self.history.charges[m - 1, billed]
        late = rng.random(len(billed)) < 0.02 + 1.0 * a.distress[billed]
        days_late = rng.exponential(12 + 60 * a.distress[billed]).astype(np.int64) + 1
        due = first + 30
        paid = np.where(late, due + days_late, due - rng.integers(0, 25, size=len(billed)))
        paid = np.where(paid > self.calendar.end, -1, paid)
        self.log["invoices"].add(account=billed, day=first, due=due, amount=np.round(amount, 2), paid=paid)
        self.history.late_invoices[m, billed] += late.astype(np.int16)

    def cancellations(self, m: int, first: int, last: int, open_: np.ndarray) -> None:
        """Draw requests and closures from the true hazard, then answer the requests."""
        eligible = np.flatnonzero(open_ & (self.closed == -1) & (self.accounts.start < last - 14))
        drivers = self.hazard_drivers(m, first, eligible)
        # A save holds for its durable window unless it relapses (the desk's truth counts relapses), so an
        # account saved less than DURABLE_SAVE_DAYS before the month starts neither asks again nor closes.
        settled = (self.saved_on[eligible] >= 0) & (first - self.saved_on[eligible] < DURABLE_SAVE_DAYS)
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
        reason = self.draw_reasons(drivers, draw < controllable, eligible)
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

    def hazard_drivers(self, m: int, first: int, who: np.ndarray) -> dict[str, np.ndarray]:
        """The log-odds contributions behind each account's monthly hazard."""
        a, h, cfg = self.accounts, self.history, self.config
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
        saved_recently = (self.saved_on[who] >= 0) & (first - self.saved_on[who] < 365)

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
        relapse = 0.6 * saved_recently + 0.6 * saved_recently * self.saved_by_rollback[who] * ps
        drivers["logit"] = base + tenure + relapse + a.frailty[who] + sum(drivers.values())
        distress = a.distress[who]
        drivers["uncontrollable"] = expit(np.where(seg == SEGMENT["residential"], -6.1, -6.2) + 4.0 * distress)
        drivers["closure"] = expit(cfg.closure_base_logit + 5.0 * distress) * business
        return drivers

    def draw_reasons(self, drivers: dict[str, np.ndarray], controllable: np.ndarray, who: np.ndarray) -> np.ndarray:
        """Stated reason of each request: controllable ones in proportion to their drivers."""
        weights = np.stack([0.12 + drivers[r] for r in v.CONTROLLABLE_REASONS], axis=1)
        weights /= weights.sum(axis=1, keepdims=True)
        draws = self.rng.random(len(who))[:, None]
        pick = np.minimum((draws > weights.cumsum(axis=1)).sum(axis=1), weights.shape[1] - 1)
        seg = self.accounts.segment[who]
        distress = self.accounts.distress[who]
        u = self.rng.random(len(who))
        other = np.where(
            seg == SEGMENT["residential"],
            np.where(u < 0.85, REASON["moved_out_of_area"], REASON["sold"]),
            np.where(distress > 0.2, np.where(u < 0.5, REASON["bankruptcy"], REASON["business_closed"]),
                     np.where(u < 0.55, REASON["business_closed"], np.where(u < 0.8, REASON["sold"],
                                                                             REASON["moved_out_of_area"]))),
        )  # fmt: skip
        return np.where(controllable, np.asarray(CONTROLLABLE)[pick], other)

    def close(self, who: np.ndarray, day: np.ndarray, reason: np.ndarray) -> None:
        """Close accounts on a day: their lines end and billing stops after it."""
        self.closed[who] = day
        self.close_reason[who] = reason
        closing = np.zeros(self.accounts.size, dtype=bool)
        closing[who] = True
        ends = np.flatnonzero(closing[self.lines.account] & (self.lines.end == -1))
        self.lines.end[ends] = self.closed[self.lines.account[ends]]
