"""The hidden save response and the reps' biased choice of offers.

For a cancellation request, ``durable_save_probability`` is the truth: the
chance that each catalog offer keeps the account active and billed 90 days
later. It depends on the reason, the offer, the size of the concession and the
account. Reps do not choose by it: ``rep_offer_propensity`` reaches for
rollbacks on price calls, more so for valuable accounts and for some reps more
than others, which is what makes a naive save model confounded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit, logit, softmax

from sources import vocabulary as v

OFFER = {name: i for i, name in enumerate(v.CATALOG_OFFERS)}
REASON = {name: i for i, name in enumerate(v.CANCELLATION_REASONS)}
ROLLBACK_OFFERS = np.array([OFFER[f"rollback_{p}"] for p in v.ROLLBACK_PCTS])
ROLLBACK_PCT = np.zeros(len(v.CATALOG_OFFERS))
ROLLBACK_PCT[ROLLBACK_OFFERS] = v.ROLLBACK_PCTS

# Durable save probability of each offer (columns, catalog order) by reason (rows)
# for an ordinary account: the centre of the truth before account effects.
#                                                                          consultative: convert, add a stream,
#                 educ  recov right  rb5  rb10  rb15  rb20  renew  flip   conv  strm  rs+term compactor
_BASE = {
    "price":            [0.15, 0.10, 0.28, 0.27, 0.40, 0.50, 0.56, 0.42, 0.48, 0.01, 0.14, 0.30, 0.34],
    "service_failure":  [0.10, 0.58, 0.14, 0.18, 0.25, 0.30, 0.33, 0.22, 0.45, 0.01, 0.08, 0.14, 0.14],
    "billing":          [0.32, 0.42, 0.14, 0.24, 0.31, 0.36, 0.40, 0.30, 0.40, 0.01, 0.12, 0.14, 0.14],
    "competitor_offer": [0.08, 0.08, 0.20, 0.22, 0.36, 0.48, 0.56, 0.44, 0.50, 0.01, 0.10, 0.22, 0.28],
    "contract_terms":   [0.42, 0.10, 0.20, 0.20, 0.26, 0.30, 0.33, 0.58, 0.45, 0.01, 0.24, 0.12, 0.20],
    "over_servicing":   [0.12, 0.10, 0.66, 0.20, 0.28, 0.33, 0.36, 0.24, 0.45, 0.01, 0.28, 0.72, 0.55],
    "business_closed":  [0.02, 0.01, 0.03, 0.02, 0.03, 0.03, 0.04, 0.02, 0.05, 0.04, 0.02, 0.03, 0.02],
    "moved_out_of_area": [0.01, 0.01, 0.01, 0.01, 0.01, 0.02, 0.02, 0.01, 0.02, 0.24, 0.01, 0.01, 0.01],
    "bankruptcy":       [0.03, 0.02, 0.06, 0.04, 0.06, 0.07, 0.08, 0.03, 0.06, 0.03, 0.03, 0.05, 0.04],
    "sold":             [0.08, 0.04, 0.05, 0.06, 0.08, 0.09, 0.10, 0.12, 0.14, 0.46, 0.06, 0.05, 0.06],
}  # fmt: skip
BASE_LOGIT = logit(np.array([_BASE[r] for r in v.CANCELLATION_REASONS]))

# Reps' habits: log-odds of choosing each offer, before the call's context. The consultative offers are
# newer to the desk and made less often; a convert is made almost only to a sold or moving business.
_REP_BASE = np.array([0.5, -0.5, -1.0, -0.3, 0.2, -0.2, -0.8, 0.0, -1.2, -4.0, -2.5, -1.5, -3.0])
_REP_BY_REASON = {
    "price": {"rollback": 1.2},
    "competitor_offer": {"rollback": 1.2, "flip": 0.4},
    "service_failure": {"service_recovery": 2.0},
    "billing": {"service_recovery": 0.8, "contract_education": 0.5},
    "contract_terms": {"contract_education": 1.0, "renewal_rate_lock": 1.2, "add_stream": 0.4},
    "over_servicing": {"right_size": 1.0, "rollback": 0.5, "right_size_renewal": 1.5, "compactor_lease": 1.0},
    "business_closed": {"contract_education": 2.0, "rollback": -1.0, "convert": 2.0},
    "moved_out_of_area": {"contract_education": 2.5, "rollback": -1.5, "convert": 4.5},
    "bankruptcy": {"contract_education": 2.0, "rollback": -1.0, "convert": 1.0},
    "sold": {"contract_education": 1.5, "renewal_rate_lock": 0.5, "convert": 5.5},
}

COMPACTOR_MIN_WEEKLY_YARDS = 12.0
"""The least weekly capacity a compactor pays for (``models.offers.OfferCatalog.compactor_min_weekly_yards``)."""


@dataclass(frozen=True)
class RequestContext:
    """What shapes the save response of a batch of cancellation requests (one row each)."""

    reason: np.ndarray
    segment: np.ndarray
    revenue: np.ndarray
    tenure_years: np.ndarray
    price_sensitivity: np.ndarray
    utilization: np.ndarray
    missed_90d: np.ndarray
    complaints_90d: np.ndarray
    weekly_yards: np.ndarray
    """Weekly capacity of the account's lines in service, in cubic yards."""
    has_lease: np.ndarray
    """Whether the account already leases a compactor."""
    missing_stream: np.ndarray
    """0: the account has recycling and every stream its jurisdiction mandates; 1: it lacks recycling;
    2: it lacks a mandated stream."""
    noise: np.ndarray
    """Hidden per-request shift of the save log-odds."""


def durable_save_probability(ctx: RequestContext) -> np.ndarray:
    """True P(durable save) of every catalog offer, shape (requests, offers)."""
    z = BASE_LOGIT[ctx.reason].copy()
    ps = ctx.price_sensitivity[:, None]
    z[:, ROLLBACK_OFFERS] += 0.9 * (ps - 1.0) * ROLLBACK_PCT[ROLLBACK_OFFERS] / 10.0
    z[:, OFFER["renewal_rate_lock"]] += 0.5 * (ctx.price_sensitivity - 1.0)
    failures = np.minimum(ctx.missed_90d, 4)
    z[:, OFFER["service_recovery"]] += 0.45 * failures - 0.4 * (failures == 0)
    z[:, OFFER["right_size"]] += 3.0 * np.maximum(0.0, 0.7 - ctx.utilization) - 2.0 * np.maximum(
        0.0, ctx.utilization - 0.9
    )
    big = np.log(np.maximum(ctx.revenue, 30.0) / 300.0)
    z[:, OFFER["flip"]] += 0.5 * big - 1.6 * (ctx.segment == 0)
    z[:, OFFER["right_size_renewal"]] += 3.0 * np.maximum(0.0, 0.7 - ctx.utilization) - 2.0 * np.maximum(
        0.0, ctx.utilization - 0.9
    )
    # Adding a stream helps most where the jurisdiction requires it (the customer avoids a fine);
    # offering one the account already has changes nothing.
    z[:, OFFER["add_stream"]] += np.select([ctx.missing_stream == 2, ctx.missing_stream == 1], [0.9, 0.2], -2.0)
    # A compactor saves a large account real money; a small one, a lease or a cart account gains nothing.
    fits = (ctx.weekly_yards >= COMPACTOR_MIN_WEEKLY_YARDS) & ~ctx.has_lease & (ctx.segment != 0)
    yards = np.log(np.maximum(ctx.weekly_yards, 1.0) / COMPACTOR_MIN_WEEKLY_YARDS)
    z[:, OFFER["compactor_lease"]] += np.where(fits, 0.5 * np.minimum(yards, 2.0), -2.5)
    z += (0.25 * np.log1p(ctx.tenure_years) + 0.15 - 0.25 * np.minimum(ctx.complaints_90d, 3))[:, None]
    z += ctx.noise[:, None]
    # A closed or sold business is gone whatever the offer: account effects barely move it.
    base = BASE_LOGIT[ctx.reason]
    damp = np.where(ctx.reason < len(v.CONTROLLABLE_REASONS), 1.0, 0.3)[:, None]
    return expit(base + damp * (z - base))


def relapse_probability(ctx: RequestContext) -> np.ndarray:
    """P(an accepted save cancels again within 90 days), shape (requests, offers).

    Price shoppers bought back with a rollback are the likeliest to call again.
    """
    out = np.full((len(ctx.reason), len(v.CATALOG_OFFERS)), 0.05)
    shopper = np.minimum(ctx.price_sensitivity, 3.0)[:, None] / 3.0
    out[:, ROLLBACK_OFFERS] = 0.06 + 0.12 * shopper * ROLLBACK_PCT[ROLLBACK_OFFERS] / 20.0
    # A new term, a new owner's new agreement and leased equipment tie the customer in.
    out[:, [OFFER["right_size_renewal"], OFFER["convert"], OFFER["compactor_lease"]]] = 0.02
    return out


def rep_offer_propensity(ctx: RequestContext, rollback_habit: np.ndarray) -> np.ndarray:
    """P(a rep chooses each offer) for each request: the historical, biased policy.

    Args:
        ctx: The requests.
        rollback_habit: Each request's rep's extra log-odds of reaching for a rollback.

    Returns:
        Offer probabilities, shape (requests, offers), rows summing to one.
    """
    z = np.tile(_REP_BASE, (len(ctx.reason), 1))
    for reason, shifts in _REP_BY_REASON.items():
        rows = ctx.reason == REASON[reason]
        for offer, shift in shifts.items():
            cols = ROLLBACK_OFFERS if offer == "rollback" else [OFFER[offer]]
            z[np.ix_(rows, cols)] += shift
    value = np.log(np.maximum(ctx.revenue, 30.0) / 300.0)
    z[:, OFFER["flip"]] += 0.8 * value - 3.0 * (ctx.segment == 0)
    z[:, [OFFER["rollback_15"], OFFER["rollback_20"]]] += 0.4 * value[:, None]
    z[:, ROLLBACK_OFFERS] += rollback_habit[:, None]
    # The consultative offers are made where they fit: a compactor to a large account, a stream it lacks.
    fits = (ctx.weekly_yards >= COMPACTOR_MIN_WEEKLY_YARDS) & ~ctx.has_lease & (ctx.segment != 0)
    z[:, OFFER["compactor_lease"]] += 0.6 * value + np.where(fits, 2.5, -1.0)
    z[:, OFFER["add_stream"]] += np.select([ctx.missing_stream == 2, ctx.missing_stream == 1], [3.0, 1.5], -1.5)
    return softmax(z, axis=1)


SPECIALIST_OFFERS = np.array(
    [OFFER["rollback_10"], OFFER["rollback_15"], OFFER["rollback_20"], OFFER["renewal_rate_lock"],
     OFFER["right_size"]]
)  # fmt: skip
SPECIALIST_SHARES = np.array([0.25, 0.25, 0.15, 0.25, 0.10])


def choose(rng: np.random.Generator, probabilities: np.ndarray) -> np.ndarray:
    """Draw one column per row of a row-stochastic matrix."""
    cumulative = probabilities.cumsum(axis=1)
    draws = rng.random(len(probabilities))[:, None]
    return np.minimum((draws > cumulative).sum(axis=1), probabilities.shape[1] - 1)
