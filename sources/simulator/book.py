"""The hauler's book at the start of the extract: accounts, their lines and latent traits.

Everything is drawn as whole arrays from one generator. Account-level latent
traits (price sensitivity, how much service failures bother them, financial
distress, how full their containers really are, a hidden frailty) drive the
behaviour in ``dynamics``; most of them show through the raw tables (rate
history, complaints, late payments, fill audits, overages), one does not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sources import vocabulary as v
from sources.simulator.calendar import Calendar
from sources.simulator.config import SimulationConfig

SEGMENT = {name: i for i, name in enumerate(v.SEGMENTS)}
STREAM = {name: i for i, name in enumerate(v.STREAMS)}
CONTAINER = {name: i for i, name in enumerate(v.CONTAINER_TYPES)}
INDUSTRY = {name: i for i, name in enumerate(v.INDUSTRIES)}

# Industries by segment, with their shares.
INDUSTRY_MIX = {
    "residential": {"household": 1.0},
    "commercial": {
        "restaurant": 0.22,
        "retail": 0.25,
        "office": 0.22,
        "healthcare": 0.10,
        "hospitality": 0.11,
        "education": 0.10,
    },
    "industrial": {"manufacturing": 0.45, "construction": 0.30, "warehouse": 0.25},
    "municipal": {"government": 0.75, "education": 0.25},
}

# Contract terms (months) by segment with their shares; 0 = month to month.
TERMS = {
    "residential": {0: 0.75, 12: 0.25},
    "commercial": {12: 0.15, 36: 0.60, 60: 0.25},
    "industrial": {12: 0.35, 24: 0.25, 36: 0.40},
    "municipal": {36: 0.4, 60: 0.6},
}
AUTO_RENEW_SHARE = {"residential": 0.2, "commercial": 0.8, "industrial": 0.6, "municipal": 0.3}

# Log price and service sensitivity by industry: what a rep knows from experience
# (restaurants shop on price and hate missed pickups; hospitals and schools less so).
_PRICE = {"restaurant": 0.35, "retail": 0.2, "hospitality": 0.15, "healthcare": -0.2, "education": -0.25,
          "government": -0.45, "manufacturing": 0.1, "construction": 0.3, "warehouse": 0.05}  # fmt: skip
_SERVICE = {"restaurant": 0.3, "healthcare": 0.3, "hospitality": 0.2, "household": -0.1, "government": -0.2}
PRICE_SENSITIVITY = np.array([_PRICE.get(i, 0.0) for i in v.INDUSTRIES])
SERVICE_SENSITIVITY = np.array([_SERVICE.get(i, 0.0) for i in v.INDUSTRIES])

FRONT_LOAD_YARDS = np.array([2.0, 3.0, 4.0, 6.0, 8.0])
ROLL_OFF_YARDS = np.array([20.0, 30.0, 40.0])
COMPACTOR_YARDS = np.array([20.0, 30.0, 34.0])
DAYS_PER_MONTH = 30.44


@dataclass
class Accounts:
    """Account-level arrays, one entry per account (index = account number)."""

    territory: np.ndarray
    segment: np.ndarray
    industry: np.ndarray
    start: np.ndarray
    term_months: np.ndarray
    auto_renew: np.ndarray
    contract_end: np.ndarray
    """Day the current agreement ends; -1 when month to month."""
    price_sensitivity: np.ndarray
    service_sensitivity: np.ndarray
    distress: np.ndarray
    utilization: np.ndarray
    """True fill of the containers as a share of capacity (under 0.6 = over-serviced)."""
    frailty: np.ndarray
    """Hidden log-odds shift of the request hazard: seen in no table."""
    extra_increase_pct: np.ndarray
    """Points above CPI this account gets at each anniversary."""

    @property
    def size(self) -> int:
        """Number of accounts."""
        return len(self.segment)


@dataclass
class Lines:
    """Service-line arrays, one entry per line (index = line number)."""

    account: np.ndarray
    stream: np.ndarray
    container: np.ndarray
    yards: np.ndarray
    pickups: np.ndarray
    rate: np.ndarray
    """Current monthly rate."""
    start_rate: np.ndarray
    """Rate when the line started, or on the extract's first day if it started earlier."""
    cost: np.ndarray
    """True monthly cost to serve."""
    is_lease: np.ndarray
    start: np.ndarray
    end: np.ndarray
    """Last day of service; -1 while active."""

    def append(self, other: Lines) -> Lines:
        """The lines of both, ``self`` first."""
        return Lines(**{k: np.concatenate([getattr(self, k), getattr(other, k)]) for k in vars(self)})


def _choose(rng: np.random.Generator, options: dict, groups: np.ndarray, names: tuple) -> np.ndarray:
    """Draw, for each row, one key of ``options[names[group]]`` by its share."""
    out = np.empty(len(groups), dtype=np.int64)
    for g, name in enumerate(names):
        rows = np.flatnonzero(groups == g)
        keys = list(options[name])
        shares = np.array([options[name][k] for k in keys], dtype=float)
        out[rows] = np.asarray(keys)[rng.choice(len(keys), size=len(rows), p=shares / shares.sum())]
    return out


def draw_accounts(config: SimulationConfig, calendar: Calendar, rng: np.random.Generator) -> Accounts:
    """Draw the accounts of the book, including those that join during the extract."""
    n = config.accounts
    weights = 0.5 + rng.random(len(config.territories))
    territory = rng.choice(len(config.territories), size=n, p=weights / weights.sum()).astype(np.int16)
    mix = np.array([config.segment_mix[s] for s in v.SEGMENTS])
    segment = rng.choice(len(v.SEGMENTS), size=n, p=mix / mix.sum()).astype(np.int8)
    industry_keys = _choose(
        rng,
        {s: {INDUSTRY[k]: p for k, p in m.items()} for s, m in INDUSTRY_MIX.items()},
        segment,
        v.SEGMENTS,
    ).astype(np.int8)

    joins_later = rng.random(n) < config.new_account_share
    tenure_days = np.minimum(rng.exponential(7.0 * 365, size=n), 35 * 365).astype(np.int64) + 30
    start = np.where(
        joins_later,
        rng.integers(calendar.start, max(calendar.start + 1, calendar.end - 45), size=n),
        calendar.start - tenure_days,
    )
    term = _choose(rng, TERMS, segment, v.SEGMENTS)
    auto_renew_share = np.array([AUTO_RENEW_SHARE[s] for s in v.SEGMENTS])[segment]
    auto_renew = (rng.random(n) < auto_renew_share) & (term > 0)
    contract_end = _first_contract_end(start, term, auto_renew, calendar.start)

    return Accounts(
        territory=territory,
        segment=segment,
        industry=industry_keys,
        start=start,
        term_months=term,
        auto_renew=auto_renew,
        contract_end=contract_end,
        price_sensitivity=np.exp(PRICE_SENSITIVITY[industry_keys] + rng.normal(0.0, 0.3, size=n)),
        service_sensitivity=np.exp(SERVICE_SENSITIVITY[industry_keys] + rng.normal(0.0, 0.25, size=n)),
        distress=rng.beta(1.2, 9.0, size=n),
        utilization=np.clip(rng.normal(0.82, 0.25, size=n), 0.2, 1.6),
        frailty=rng.normal(0.0, config.hidden_frailty_sd, size=n),
        extra_increase_pct=np.where(rng.random(n) < 0.22, rng.uniform(2.0, 6.0, size=n), 0.0),
    )


def _first_contract_end(start: np.ndarray, term: np.ndarray, auto_renew: np.ndarray, today: int) -> np.ndarray:
    """End of the agreement in force on ``today``, rolling evergreen terms forward."""
    term_days = (term * DAYS_PER_MONTH).round().astype(np.int64)
    end = start + term_days
    rolling = auto_renew & (term_days > 0) & (end < today)
    periods = np.zeros_like(end)
    periods[rolling] = (today - end[rolling]) // term_days[rolling] + 1
    end = end + periods * term_days
    # Expired agreements without auto-renewal run month to month.
    return np.where((term_days == 0) | (end < today), -1, end)


def draw_lines(accounts: Accounts, config: SimulationConfig, calendar: Calendar, rng: np.random.Generator) -> Lines:
    """Draw each account's service lines: container, size, frequency, stream and rate."""
    seg = accounts.segment
    state = np.array([t.state for t in config.territories])[accounts.territory]
    mandated = np.isin(state, ["CA", "WA"]) & (seg == SEGMENT["commercial"])
    food = np.isin(accounts.industry, [INDUSTRY["restaurant"], INDUSTRY["hospitality"]])
    n = accounts.size

    wants = {
        "trash": np.ones(n, dtype=bool),
        "recycling": np.where(mandated, rng.random(n) < 0.95, rng.random(n) < np.where(seg == 0, 0.7, 0.55)),
        "organics": np.where(
            mandated,
            rng.random(n) < 0.9,
            (seg == SEGMENT["commercial"]) & food & (rng.random(n) < 0.45),
        ),
        "roll_off": (seg == SEGMENT["industrial"]) & (rng.random(n) < 0.8),
    }
    wants["trash"] = ~wants["roll_off"] | (rng.random(n) < 0.3)
    owner = np.concatenate([np.flatnonzero(wants[s]) for s in v.STREAMS])
    stream = np.concatenate([np.full(wants[s].sum(), STREAM[s]) for s in v.STREAMS]).astype(np.int8)
    order = np.lexsort((stream, owner))
    owner, stream = owner[order], stream[order]
    m = len(owner)
    line_seg = seg[owner]

    container = np.full(m, CONTAINER["front_load"], dtype=np.int8)
    container[line_seg == SEGMENT["residential"]] = CONTAINER["cart"]
    container[line_seg == SEGMENT["municipal"]] = CONTAINER["rear_load"]
    roll = stream == STREAM["roll_off"]
    compactor = roll & (rng.random(m) < 0.3)
    container[roll] = CONTAINER["roll_off"]
    container[compactor] = CONTAINER["compactor"]

    yards = rng.choice(FRONT_LOAD_YARDS, size=m)
    yards[container == CONTAINER["cart"]] = 0.5
    yards[container == CONTAINER["roll_off"]] = rng.choice(
        ROLL_OFF_YARDS, size=int((container == CONTAINER["roll_off"]).sum())
    )
    yards[compactor] = rng.choice(COMPACTOR_YARDS, size=int(compactor.sum()))
    pickups = rng.choice([1.0, 2.0, 3.0, 5.0], p=[0.45, 0.3, 0.15, 0.1], size=m)
    pickups[container == CONTAINER["cart"]] = 1.0
    pickups[roll] = rng.choice([0.25, 0.5, 1.0], size=int(roll.sum()))
    # Over-serviced accounts were sold more capacity than they use.
    oversold = accounts.utilization[owner] < 0.6
    pickups[oversold & ~roll & (container != CONTAINER["cart"])] += 1.0

    cost_index = np.array([t.cost_index for t in config.territories])[accounts.territory[owner]]
    markup = np.array([t.price_markup_pct for t in config.territories])[accounts.territory[owner]]
    lifts = yards * pickups * 4.33
    cost = cost_index * (14.0 + 5.2 * lifts + np.where(compactor, 180.0, 0.0))
    price_level = rng.lognormal(0.30, 0.15, size=m) * (1 + markup / 100)
    rate = np.round(cost * price_level, 2)
    line_start = accounts.start[owner]
    start_rate = rate.copy()

    return Lines(
        account=owner.astype(np.int64),
        stream=stream,
        container=container,
        yards=yards,
        pickups=pickups,
        rate=rate,
        start_rate=start_rate,
        cost=np.round(cost, 2),
        is_lease=compactor,
        start=line_start,
        end=np.full(m, -1, dtype=np.int64),
    )
