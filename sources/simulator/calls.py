"""Proactive calls of the simulated desk, and what each call truly changes.

A proactive call (and the offer the rep makes on it) moves the account's log-odds
of asking to cancel for ``OutreachConfig.effect_months`` months. The move differs
from account to account, by what troubles it:

- a call about service failures, billing trouble or an over-sized container
  (apology, recovery, right-sizing) lowers the hazard — the more trouble, the more;
- a price shock is barely softened (a rollback helps, the reminder of the bill undoes most of it);
- an account in its renewal window or courted by a competitor is *reminded* that it
  can leave: the call raises its hazard;
- a hidden receptiveness (``affinity``, in no table) adds to all of it.

A settled account (little trouble, low hazard) is barely moved in probability,
whatever the log-odds say; an account saved in the last 90 days cannot be moved at all.

**The desk's own policy** (the history): each month it lists the riskiest eligible
accounts by what the tables show (never the hidden frailty) with a random holdout held
back, plus a random slice of the rest, and reps reach ``compliance`` of the listed.
A driver of a closed loop can hand the desk its own lists instead
(``ProactiveDesk.external``: month → listed and held-out account numbers).

**The extract** gains ``proactive_calls`` (call_id, account_id, call_date, rep_id, offer,
outcome): one row per call that reached the customer (outcome ``reached``).

**The truth** gains ``call_effects``, one row per account eligible for the hazard in a
month (the same account-months as ``hazard``)::

    account_id               the account
    month                    first day of the month (calls are made in its first week)
    callable                 whether the desk could call it (not saved in the last 90 days,
                             no earlier call still acting)
    listed                   on the month's list (the desk's own or the external one)
    held_out                 in the month's randomized holdout (risk-ranked but never called)
    called                   reached by a rep this month
    request_hazard_uncalled  true monthly request hazard without a call this month
    request_hazard_called    true monthly request hazard with a call this month
    churn_effect             P(request within effect_months | call) − P(… | no call), at this
                             month's hazard: negative when a call keeps the account
    retention_effect         −churn_effect: the call's true incremental retention

Everything here draws from its own generator (seeded from the hauler's seed), so the
desk's choices never shift the draws of the rest of the book.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from sources.simulator.state import HaulerState

CALL_SEED_SALT = 18
"""Mixed into the hauler's seed for the call desk's own generator."""

EFFECT_WEIGHTS = {
    "service_failure": -0.55,
    "billing": -0.45,
    "over_servicing": -0.6,
    "price": -0.05,
    "competitor_offer": 0.7,
    "contract_terms": 0.7,
}
"""Log-odds a call adds per unit of each hazard driver (negative: the call calms it; positive: it reminds)."""
BASE_EFFECT = 0.0
"""Log-odds a call adds to every account whatever troubles it: a courtesy call alone changes nothing."""
AFFINITY_SD = 0.15
"""Spread (log-odds) of the hidden receptiveness to a call."""

CALL_OFFERS = ("service_recovery", "contract_education", "right_size", "rollback", "renewal_rate_lock")
"""The offer a rep makes on a proactive call, by the account's biggest trouble (``_offer_of``)."""


class ProactiveDesk:
    """The simulated desk's proactive calls: its lists, the calls made and the truth of every call's effect."""

    def __init__(self, hauler: HaulerState) -> None:
        """Draw each account's hidden receptiveness; no call is acting yet."""
        self.hauler = hauler
        self.config = hauler.config.outreach
        n = hauler.accounts.size
        self.rng = np.random.default_rng([hauler.config.seed, CALL_SEED_SALT])
        self.affinity = self.rng.normal(0.0, AFFINITY_SD, size=n)
        self.shift = np.zeros(n)
        self.until = np.full(n, -1, dtype=np.int64)
        self.truth: list[dict[str, np.ndarray]] = []
        self.external: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        """Lists handed in by a closed loop: month → (listed accounts, held-out accounts), as account numbers."""

    def acting(self, m: int, who: np.ndarray) -> np.ndarray:
        """Log-odds that earlier calls still add to the accounts' hazard in month ``m`` (0 where none acts)."""
        return np.where(self.until[who] >= m, self.shift[who], 0.0)

    def effect(self, drivers: dict[str, np.ndarray], who: np.ndarray) -> np.ndarray:
        """Log-odds a call now would add to each account's request hazard."""
        total = BASE_EFFECT + self.affinity[who]
        for driver, weight in EFFECT_WEIGHTS.items():
            total = total + weight * drivers[driver]
        return np.asarray(total, dtype=np.float64)

    def month(
        self,
        m: int,
        first: int,
        who: np.ndarray,
        drivers: dict[str, np.ndarray],
        uncontrollable: np.ndarray,
        settled: np.ndarray,
    ) -> np.ndarray:
        """List, call and record month ``m``; the log-odds the month's calls add to each account's hazard.

        Args:
            m: The month.
            first: Its first day.
            who: The accounts eligible for the hazard this month.
            drivers: Their ``hazard.hazard_drivers`` (``logit`` includes earlier calls still acting).
            uncontrollable: Their probability of a request no call prevents.
            settled: Whether each was saved in the last 90 days (hazard zero, nothing to move).

        Returns:
            The log-odds to add to ``drivers["logit"]``: the effect for accounts called now, 0 for the rest.
        """
        cfg = self.config
        acting = self.acting(m, who)
        effect = self.effect(drivers, who)
        callable_ = (self.until[who] < m) & ~settled
        listed, held_out = self._lists(m, who, drivers["logit"] - acting, callable_)
        called = listed & (self.rng.random(len(who)) < cfg.compliance)
        base = drivers["logit"] - acting
        h0 = np.where(settled, 0.0, expit(base) + uncontrollable)
        h1 = np.where(settled, 0.0, np.where(callable_, expit(base + effect), expit(drivers["logit"])) + uncontrollable)
        months = cfg.effect_months
        churn_effect = (1 - (1 - np.clip(h1, 0, 1)) ** months) - (1 - (1 - np.clip(h0, 0, 1)) ** months)
        self.truth.append({
            "account": who.astype(np.int32), "month": np.full(len(who), m, dtype=np.int16),
            "callable": callable_, "listed": listed, "held_out": held_out, "called": called,
            "uncalled": h0.astype(np.float32), "called_hazard": h1.astype(np.float32),
            "churn_effect": churn_effect.astype(np.float32),
        })  # fmt: skip
        reached = who[called]
        self.shift[reached] = effect[called]
        self.until[reached] = m + months - 1
        self._log(reached, first, drivers, called)
        return np.where(called, effect, 0.0)

    def _lists(
        self, m: int, who: np.ndarray, logit: np.ndarray, callable_: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Who is listed and who is held out this month: the external lists when given, else the desk's own."""
        if m in self.external:
            listed, held = self.external[m]
            return np.isin(who, listed) & callable_, np.isin(who, held)
        cfg = self.config
        frailty = self.hauler.accounts.frailty[who]
        score = np.where(callable_, logit - frailty + self.rng.normal(0.0, cfg.risk_noise_sd, len(who)), -np.inf)
        top = int(np.ceil(cfg.risk_share * callable_.sum()))
        ranked = np.zeros(len(who), dtype=bool)
        ranked[np.argsort(-score, kind="stable")[:top]] = True
        ranked &= callable_
        held_out = ranked & (self.rng.random(len(who)) < cfg.holdout_share)
        at_random = callable_ & ~ranked & (self.rng.random(len(who)) < cfg.random_share)
        return (ranked & ~held_out) | at_random, held_out

    def _log(self, reached: np.ndarray, first: int, drivers: dict[str, np.ndarray], called: np.ndarray) -> None:
        """One ``proactive_calls`` row per call made: in the month's first week, by a rep of the territory."""
        if not len(reached):
            return
        day = np.maximum(first + self.rng.integers(0, 7, size=len(reached)), self.hauler.accounts.start[reached] + 1)
        rep = self.rng.integers(0, self.hauler.config.reps_per_territory, size=len(reached))
        offer = _offer_of({k: v[called] for k, v in drivers.items() if k in EFFECT_WEIGHTS})
        self.hauler.log["proactive_calls"].add(account=reached, day=day.astype(np.int64), rep=rep, offer=offer)


def _offer_of(drivers: dict[str, np.ndarray]) -> np.ndarray:
    """Index into ``CALL_OFFERS`` of the offer a rep makes: by the account's biggest trouble."""
    troubles = np.stack([
        drivers["service_failure"] + drivers["billing"],
        0.2 + 0 * drivers["price"],
        drivers["over_servicing"],
        drivers["price"],
        drivers["contract_terms"] + drivers["competitor_offer"],
    ], axis=1)  # fmt: skip
    return np.argmax(troubles, axis=1).astype(np.int8)
