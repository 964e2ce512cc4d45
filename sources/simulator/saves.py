"""The retention desk of the simulated hauler: reps answer requests with biased offers.

A rep picks an offer by habit (``offers.rep_offer_propensity``), or, when the
desk publishes its choices (``SaveDesk.policy``: the closed loop of
``bench/closed_loop.py``), follows the published offer with the declared
``compliance`` and logs the propensity published with it; the customer
accepts by the hidden truth (``offers.durable_save_probability``); a flip goes
to the territory's outside specialist a day or two later. Accepted offers
change the account (rates, lines, contract); some saves relapse within 90 days,
and every request's truth for every catalog offer is kept for evaluation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from sources import vocabulary as v
from sources.simulator.book import CONTAINER, Accounts, Lines
from sources.simulator.calendar import Calendar
from sources.simulator.config import SimulationConfig
from sources.simulator.consultative import COMPACTION, add_stream, lease_compactor, service_profile
from sources.simulator.events import Logbook
from sources.simulator.history import History
from sources.simulator.offers import (
    OFFER,
    ROLLBACK_PCT,
    SPECIALIST_OFFERS,
    SPECIALIST_SHARES,
    RequestContext,
    choose,
    durable_save_probability,
    relapse_probability,
    rep_offer_propensity,
)

# The contract's offer of each catalog offer (rollback sizes fold into "rollback").
CONTRACT_OFFER = np.array([v.OFFERS.index(o.split("_")[0] if o.startswith("rollback") else o)
                           for o in v.CATALOG_OFFERS])  # fmt: skip
RENEWAL_TERM_MONTHS = 36
TERM_OFFERS = np.array([OFFER["renewal_rate_lock"], OFFER["right_size_renewal"], OFFER["convert"]])
"""The offers signed for a new term."""
RATE_LOCK_DAYS = 730


class RunningHauler(Protocol):
    """The running hauler as its save desk sees it (``dynamics.Hauler``): the state a save reads and changes."""

    config: SimulationConfig
    calendar: Calendar
    accounts: Accounts
    lines: Lines
    rng: np.random.Generator
    log: Logbook
    history: History
    lock_until: np.ndarray
    recovered_until: np.ndarray
    saved_on: np.ndarray
    saved_by_rollback: np.ndarray

    def live_lines(self, accounts_mask: np.ndarray) -> np.ndarray:
        """Indices of lines in service today of the accounts in the mask."""
        ...

    def set_rates(self, lines: np.ndarray, new_rates: np.ndarray, day: np.ndarray, kind: str) -> None:
        """Change lines' rates and log the change."""
        ...

    def close(self, who: np.ndarray, day: np.ndarray, reason: np.ndarray) -> None:
        """Close accounts on a day."""
        ...


@dataclass(frozen=True)
class Requests:
    """A batch of requests as the desk's published policy sees them (simulator numbering)."""

    number: np.ndarray
    """Request numbers (unique in the run; the raw tables give them ``request_id`` later)."""
    account: np.ndarray
    reason: np.ndarray
    day: np.ndarray
    month: int


@dataclass(frozen=True)
class Published:
    """What the desk published for a batch of requests."""

    offer: np.ndarray
    """Catalog offer index (``offers.OFFER``) per request; -1 where nothing was published (the rep chooses)."""
    propensity: np.ndarray
    """P(the published offer) under the desk's randomization; 1 where it publishes its best offer only."""


DeskPolicy = Callable[[Requests], Published]
"""The published choice for a batch of requests (the closed loop's trained policy)."""


class SaveDesk:
    """Answers each month's cancellation requests for a running hauler.

    Attributes:
        policy: The published choices reps follow (None: every rep chooses by habit, as the history did).
        compliance: The chance a rep makes the published offer rather than their habit's.
    """

    def __init__(self, hauler: RunningHauler) -> None:
        """Staff each territory with reps whose rollback habits differ."""
        self.hauler = hauler
        cfg = hauler.config
        self.reps = cfg.reps_per_territory
        self.rollback_habit = hauler.rng.normal(0.3, 0.6, size=(len(cfg.territories), self.reps))
        self.next_request = 0
        self.truth: list[dict[str, np.ndarray]] = []
        self.policy: DeskPolicy | None = None
        self.compliance = 1.0

    def context(self, who: np.ndarray, reason: np.ndarray, m: int, day: np.ndarray) -> RequestContext:
        """What the save response of these requests depends on."""
        h, a = self.hauler.history, self.hauler.accounts
        weekly_yards, has_lease, missing_stream = service_profile(self.hauler, who, a.segment[who], a.territory[who])
        return RequestContext(
            reason=reason,
            segment=a.segment[who],
            revenue=h.revenue[m, who].astype(np.float64),
            tenure_years=(day - a.start[who]) / 365.25,
            price_sensitivity=a.price_sensitivity[who],
            utilization=a.utilization[who],
            missed_90d=h.last("missed", m, 3)[who],
            complaints_90d=h.last("complaints", m, 3)[who],
            weekly_yards=weekly_yards,
            has_lease=has_lease,
            missing_stream=missing_stream,
            noise=self.hauler.rng.normal(0.0, 0.3, size=len(who)),
        )

    def answer(self, who: np.ndarray, reason: np.ndarray, day: np.ndarray, m: int) -> None:
        """Log the requests, the reps' attempts and their outcomes; apply accepted offers."""
        hauler, rng, end = self.hauler, self.hauler.rng, self.hauler.calendar.end
        n = len(who)
        if n == 0:
            return
        number = np.arange(self.next_request, self.next_request + n)
        self.next_request += n
        ctx = self.context(who, reason, m, day)
        durable = durable_save_probability(ctx)
        relapse = relapse_probability(ctx)
        accept = np.minimum(0.97, durable / (1.0 - relapse))
        territory = hauler.accounts.territory[who]
        rep = rng.integers(0, self.reps, size=n)
        propensity = rep_offer_propensity(ctx, self.rollback_habit[territory, rep])
        offer = choose(rng, propensity)
        logged = np.full(n, np.nan)
        if self.policy is not None:  # reps follow the published offer (the habit draw above keeps the stream)
            published = self.policy(Requests(number, who, reason, day, m))
            follow = (published.offer >= 0) & (rng.random(n) < self.compliance)
            offer = np.where(follow, published.offer, offer)
            logged = np.where(follow, published.propensity, np.nan)

        flip = offer == OFFER["flip"]
        specialist_day = day + rng.integers(1, 4, size=n)
        answered = np.where(flip, specialist_day, day) <= end
        answered &= day < end  # requests of the extract's last day are still open
        effective = np.where(flip, SPECIALIST_OFFERS[choose(rng, np.tile(SPECIALIST_SHARES, (n, 1)))], offer)
        rows = np.arange(n)
        accepted = answered & (rng.random(n) < accept[rows, offer])
        relapses = accepted & (rng.random(n) < relapse[rows, offer])
        resolved = np.where(flip, specialist_day, day)
        self.truth.append({
            "request": number, "account": who, "day": day, "durable": durable, "propensity": propensity,
            "offer": offer, "answered": answered, "accepted": accepted,
        })  # fmt: skip

        self.log_request(number, who, day, reason, np.where(answered, np.where(accepted, 0, 1), 2), resolved,
                         answered)  # fmt: skip
        inside = day < end
        rep_id = np.char.add(np.char.add("R", np.char.zfill(territory.astype(str), 2)), rep.astype(str))
        self.log_attempt(number, who, day, rep_id, "inside_sales", offer, accepted & ~flip, inside, m, logged)
        specialist_id = np.char.add(np.char.add("S", np.char.zfill(territory.astype(str), 2)), "0")
        self.log_attempt(number, who, specialist_day, specialist_id, "outside_specialist", effective,
                         accepted & flip, flip & answered, m, np.full(n, np.nan))  # fmt: skip

        saved = np.flatnonzero(accepted)
        self.apply(who[saved], effective[saved], resolved[saved], m)
        hauler.saved_on[who[saved]] = resolved[saved]
        hauler.saved_by_rollback[who[saved]] = ROLLBACK_PCT[effective[saved]] > 0

        lost = np.flatnonzero(answered & ~accepted)
        hauler.close(who[lost], resolved[lost] + rng.integers(14, 31, size=len(lost)), reason[lost])
        back = np.flatnonzero(relapses)
        again = resolved[back] + rng.integers(20, 71, size=len(back))
        relapse_number = np.arange(self.next_request, self.next_request + len(back))
        self.next_request += len(back)
        self.log_request(relapse_number, who[back], again, reason[back], np.ones(len(back), dtype=int), again,
                         again <= end, channel=1)  # fmt: skip
        hauler.close(who[back], again + 14, reason[back])

    def log_request(
        self, number: np.ndarray, who: np.ndarray, day: np.ndarray, reason: np.ndarray,
        resolution: np.ndarray, resolved: np.ndarray, resolved_known: np.ndarray, channel: int | None = None,
    ) -> None:  # fmt: skip
        """Log requests stamped on or before the extract's end."""
        rng = self.hauler.rng
        keep = day <= self.hauler.calendar.end
        channels = rng.choice(len(v.REQUEST_CHANNELS), p=[0.7, 0.2, 0.1], size=len(who)) if channel is None \
            else np.full(len(who), channel)  # fmt: skip
        self.hauler.log["cancellation_requests"].add(
            request=number[keep], account=who[keep], day=day[keep], reason=reason[keep], channel=channels[keep],
            resolution=resolution[keep], resolved=np.where(resolved_known, resolved, -1)[keep],
        )  # fmt: skip

    def log_attempt(
        self, number: np.ndarray, who: np.ndarray, day: np.ndarray, rep_id: np.ndarray, channel: str,
        offer: np.ndarray, accepted: np.ndarray, keep: np.ndarray, m: int, propensity: np.ndarray,
    ) -> None:  # fmt: skip
        """Log the attempts in ``keep`` with what the offer would have meant for the account.

        ``propensity`` is the published offer's, where the rep followed it (NaN where the rep chose).
        """
        h = self.hauler.history
        revenue = h.revenue[m, who].astype(np.float64)
        pct = ROLLBACK_PCT[offer]
        new_rate = np.where(offer == OFFER["renewal_rate_lock"], revenue * 0.98, revenue * (1 - pct / 100))
        credit = np.where(offer == OFFER["service_recovery"], np.round(0.5 * revenue, 2), 0.0)
        term = np.where(np.isin(offer, TERM_OFFERS), RENEWAL_TERM_MONTHS, -1)
        self.hauler.log["save_attempts"].add(
            request=number[keep], account=who[keep], day=day[keep], rep=rep_id[keep], rep_channel=channel,
            offer=CONTRACT_OFFER[offer][keep], rollback_pct=pct[keep], credit=credit[keep],
            new_rate=np.round(new_rate, 2)[keep], term=term[keep], accepted=accepted[keep],
            propensity=propensity[keep],
        )  # fmt: skip

    def apply(self, who: np.ndarray, offer: np.ndarray, day: np.ndarray, m: int) -> None:
        """Change the saved accounts as their accepted offer says."""
        hauler = self.hauler
        for catalog_offer in np.unique(offer):
            lines = hauler.lines
            chosen = offer == catalog_offer
            accounts, days = who[chosen], day[chosen]
            mask = np.zeros(hauler.accounts.size, dtype=bool)
            mask[accounts] = True
            when = np.zeros(hauler.accounts.size, dtype=np.int64)
            when[accounts] = days
            live = hauler.live_lines(mask)
            live = live[lines.end[live] == -1]
            if ROLLBACK_PCT[catalog_offer] > 0:
                factor = 1 - ROLLBACK_PCT[catalog_offer] / 100
                hauler.set_rates(live, lines.rate[live] * factor, when[lines.account[live]], "rollback")
            elif catalog_offer == OFFER["renewal_rate_lock"]:
                hauler.set_rates(live, lines.rate[live] * 0.98, when[lines.account[live]], "rate_lock_renewal")
                hauler.accounts.contract_end[accounts] = days + int(RENEWAL_TERM_MONTHS * 30.44)
                hauler.lock_until[accounts] = days + RATE_LOCK_DAYS
            elif catalog_offer == OFFER["service_recovery"]:
                hauler.recovered_until[accounts] = days + 180
            elif catalog_offer in (OFFER["right_size"], OFFER["right_size_renewal"]):
                self.replace_biggest(live, when, self.smaller)
            elif catalog_offer == OFFER["compactor_lease"]:
                self.replace_biggest(live, when, self.compactor)
            elif catalog_offer == OFFER["add_stream"]:
                a = hauler.accounts
                hauler.lines = lines.append(add_stream(hauler, accounts, a.segment[accounts], a.territory[accounts],
                                                       days))  # fmt: skip
            if catalog_offer in (OFFER["right_size_renewal"], OFFER["convert"]):
                # A new term: the right-size signed for one, or the new owner's (new address's) agreement.
                hauler.accounts.contract_end[accounts] = days + int(RENEWAL_TERM_MONTHS * 30.44)

    @staticmethod
    def smaller(new: Lines, index: np.ndarray) -> None:
        """A right-size of copies of the biggest lines: fewer pickups, or a smaller container."""
        old_capacity = new.yards * new.pickups
        fewer = (new.pickups > 1.0) & (new.container != CONTAINER["cart"])
        new.pickups = np.where(fewer, new.pickups - 1.0, new.pickups)
        new.yards = np.where(fewer, new.yards, np.where(new.container == CONTAINER["cart"], 0.35, new.yards * 0.67))
        ratio = (new.yards * new.pickups) / old_capacity
        new.cost = np.round(new.cost * ratio**0.9, 2)
        new.rate = np.round(new.rate * ratio**0.85, 2)

    def compactor(self, new: Lines, index: np.ndarray) -> None:
        """A compactor on copies of the biggest lines (``consultative.lease_compactor``)."""
        lease_compactor(new, index)

    def replace_biggest(self, live: np.ndarray, when: np.ndarray, change: Callable[[Lines, np.ndarray], None]) -> None:
        """Replace each account's biggest line by a changed copy (``change`` edits the copies in place)."""
        hauler, lines = self.hauler, self.hauler.lines
        capacity = lines.yards[live] * lines.pickups[live]
        order = np.lexsort((-capacity, lines.account[live]))
        first = np.ones(len(order), dtype=bool)
        first[1:] = lines.account[live][order][1:] != lines.account[live][order][:-1]
        old = live[order][first]
        new = Lines(**{k: getattr(lines, k)[old].copy() for k in vars(lines)})
        territory = hauler.accounts.territory[lines.account[old]]
        index = np.array([t.cost_index for t in hauler.config.territories])[territory]
        change(new, index)
        # The containers' fill follows the capacity lifted (a compactor packs twice as much into each lift).
        capacity_after = new.yards * new.pickups * np.where(new.is_lease & ~lines.is_lease[old], COMPACTION, 1.0)
        ratio = capacity_after / (lines.yards[old] * lines.pickups[old])
        new.start_rate = new.rate.copy()
        day = when[lines.account[old]]
        new.start = day + 1
        new.end = np.full(len(old), -1, dtype=np.int64)
        lines.end[old] = day
        hauler.lines = lines.append(new)
        owners = lines.account[old]
        hauler.accounts.utilization[owners] = np.minimum(1.05, hauler.accounts.utilization[owners] / ratio)
