"""The offer catalog and its economics: what each offer costs and what margin it keeps.

For every account and every catalog offer, ``offer_terms`` says what the account
would pay after the offer, what it would cost to serve, what the desk gives up
each month and once, and the margin kept over the value horizon;
``expected_net_value`` turns those terms and a save probability into money:
P(save | offer) × margin kept − one-off cost.

Money is in today's dollars. An unlocked account's rate and its cost to serve
are taken to move together (annual increases pass cost inflation on), so both
are held flat; a rate lock lets the rate fall behind by the annual increase it
forgoes, for good.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from features.requests import biggest_lines
from models.consultative import ConsultativeRules, add_stream, compactor_lease, convertible
from models.cost_to_serve import CostToServe
from models.mandates import DEFAULT_MANDATES, Mandate
from models.right_size import RightSizeRules, right_size
from sources import vocabulary as v

__all__ = ["ConsultativeRules", "OfferCatalog", "RightSizeRules", "biggest_lines", "expected_net_value", "offer_terms"]

# What the simulated outside specialist ends up offering on a flip (sources/simulator/offers.py).
SIMULATED_FLIP_MIX: tuple[tuple[str, float], ...] = (
    ("rollback_10", 0.25), ("rollback_15", 0.25), ("rollback_20", 0.15), ("renewal_rate_lock", 0.25),
    ("right_size", 0.10),
)  # fmt: skip

PRIOR_SAVE_RATES: tuple[tuple[str, float], ...] = (
    ("contract_education", 0.10), ("service_recovery", 0.12), ("right_size", 0.25), ("rollback_5", 0.20),
    ("rollback_10", 0.25), ("rollback_15", 0.29), ("rollback_20", 0.32), ("flip", 0.30), ("renewal_rate_lock", 0.22),
    ("convert", 0.20), ("add_stream", 0.15), ("right_size_renewal", 0.22), ("compactor_lease", 0.18),
)  # fmt: skip
"""Durable save rate of an answered request by offer, assumed before any save model exists (see the source note)."""

PRIOR_SAVE_RATES_SOURCE = (
    "Planning assumptions, not measured on this book: a retention desk's rule of thumb for the share of answered"
    " cancellation requests each offer keeps 90 days later (a bigger rollback keeps more; contract education"
    " least; a service recovery saves only where service failed, and without a save model to say where, it is"
    " valued little above contract education). One rate per offer, whatever the account: used only while no save"
    " model is champion; replace them with the desk's own rates in savedesk.toml (save.offers.prior_save_rates)."
)
"""Where ``PRIOR_SAVE_RATES`` come from, as the manifest repeats it."""

CONTEXT_COLUMNS = ("request_id", "reason", "segment", "state", "city", "territory",
                   "rollbacks_365d", "days_since_save", "last_rollback_pct")  # fmt: skip
"""Account columns copied onto each offer row when present: what the guardrails read."""

TERM_COLUMNS = ("rollback_pct", "monthly_revenue", "new_monthly_rate", "monthly_cost_to_serve", "concession_monthly",
                "one_off_cost", "margin_kept_monthly", "margin_kept", "weekly_capacity_yards", "weekly_capacity_after",
                "new_term_months", "proposed_change", "applicable", "not_applicable_reason")  # fmt: skip
"""The columns ``offer_terms`` computes, after ``account_id`` and ``offer``."""


@dataclass(frozen=True)
class OfferCatalog:
    """Every offer a rep can make, what it costs, and how its margin is valued.

    Attributes:
        contact_cost: A rep's call: about 20 minutes of a loaded $45/h. Every offer pays it.
        flip_visit_cost: An outside specialist's visit: travel and about two hours on site.
        flip_mix: (offer, share) of what the specialist ends up offering on a flip;
            shares of offers that do not apply to an account are spread over the rest.
        service_recovery_credit_months: Credit on a service recovery, in months of revenue.
        service_recovery_ops_cost: Operations' cost of fixing the failure (route audit,
            supervisor follow-up), in dollars.
        rollback_pcts: Rollback sizes, in %; each is an offer ``rollback_<pct>``.
        renewal_discount_pct: Discount of a renewal with a rate lock, in %.
        renewal_term_months: Term the customer re-signs for.
        renewal_lock_months: Months without an annual increase.
        cpi_pct: Annual CPI-linked part of an increase, in %.
        increase_markup_pct: Typical increase above CPI, in %; with CPI, what a lock forgoes each year.
        horizon_months: Value horizon: the expected remaining life of a saved account.
        monthly_discount_rate: Discount rate per month (0.008 ≈ 10 % a year).
        right_size: How a right-size is proposed and what it does to rate and cost.
        consultative: How a stream, a compactor and a convert are sized and priced.
        cost_to_serve: The cost-to-serve model.
        prior_save_rates: (offer, durable save rate) used instead of a save model while none is champion; an
            offer without one is never recommended on a guess (``no_history``).
        prior_save_rates_source: Where those rates come from, in words (the manifest repeats it).
    """

    contact_cost: float = 15.0
    flip_visit_cost: float = 150.0
    flip_mix: tuple[tuple[str, float], ...] = SIMULATED_FLIP_MIX
    service_recovery_credit_months: float = 0.5
    service_recovery_ops_cost: float = 40.0
    rollback_pcts: tuple[float, ...] = tuple(float(p) for p in v.ROLLBACK_PCTS)
    renewal_discount_pct: float = 2.0
    renewal_term_months: int = 36
    renewal_lock_months: int = 24
    cpi_pct: float = 3.2
    increase_markup_pct: float = 1.5
    horizon_months: int = 36
    monthly_discount_rate: float = 0.008
    right_size: RightSizeRules = field(default_factory=RightSizeRules)
    consultative: ConsultativeRules = field(default_factory=ConsultativeRules)
    cost_to_serve: CostToServe = field(default_factory=CostToServe)
    prior_save_rates: tuple[tuple[str, float], ...] = PRIOR_SAVE_RATES
    prior_save_rates_source: str = PRIOR_SAVE_RATES_SOURCE

    def __post_init__(self) -> None:
        """Refuse a catalog whose numbers cannot be right."""
        problems = []
        if self.horizon_months < 1:
            problems.append("horizon_months must be at least 1")
        if self.monthly_discount_rate < 0:
            problems.append("monthly_discount_rate must not be negative")
        if not all(0 < p < 100 for p in self.rollback_pcts):
            problems.append("rollback_pcts must be between 0 and 100 (exclusive)")
        unknown = {o for o, _ in self.flip_mix} - (set(self.offers) - {"flip", "contract_education"})
        if unknown:
            problems.append(f"flip_mix names offers the specialist cannot make: {sorted(unknown)}")
        if any(s < 0 for _, s in self.flip_mix) or sum(s for o, s in self.flip_mix if o != "right_size") <= 0:
            problems.append("flip_mix shares must be non-negative, with some share on an offer other than right_size")
        if not all(0.0 <= rate <= 1.0 for _, rate in self.prior_save_rates):
            problems.append("prior_save_rates must be between 0 and 1")
        named = {o for o, _ in self.prior_save_rates} - set(self.offers) - set(v.CATALOG_OFFERS)
        if named:
            problems.append(f"prior_save_rates names offers the catalog does not have: {sorted(named)}")
        if problems:
            raise ValueError("Offer catalog: " + "; ".join(problems) + ".")

    @property
    def offers(self) -> tuple[str, ...]:
        """The offers in catalog order."""
        rollbacks = tuple(f"rollback_{p:g}" for p in self.rollback_pcts)
        return tuple(offer for kind in v.OFFERS for offer in (rollbacks if kind == "rollback" else (kind,)))

    def prior_rates(self) -> dict[str, float]:
        """The declared prior save rate of each catalog offer that has one."""
        offers = set(self.offers)
        return {offer: float(rate) for offer, rate in self.prior_save_rates if offer in offers}

    @property
    def annual_increase_pct(self) -> float:
        """The annual increase a rate lock forgoes: CPI plus the typical markup."""
        return self.cpi_pct + self.increase_markup_pct

    def annuity(self) -> float:
        """Present value of one dollar a month over the horizon."""
        months = np.arange(1, self.horizon_months + 1)
        return float(((1 + self.monthly_discount_rate) ** -months).sum())

    def locked_annuity(self) -> float:
        """Present value of a locked dollar a month: it falls behind by the forgone increase."""
        months = np.arange(1, self.horizon_months + 1)
        behind = (1 + self.annual_increase_pct / 100) ** (-np.minimum(months, self.renewal_lock_months) / 12)
        return float(((1 + self.monthly_discount_rate) ** -months * behind).sum())


def _number(frame: pd.DataFrame, column: str, default: float = np.nan) -> np.ndarray:
    if column not in frame:
        return np.full(len(frame), default)
    values = frame[column]
    if isinstance(values.dtype, np.dtype) and values.dtype.kind in "fiub":  # plain numpy: an exact cast
        return values.to_numpy(dtype=float)
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def offer_terms(
    accounts: pd.DataFrame, catalog: OfferCatalog, mandates: tuple[Mandate, ...] = DEFAULT_MANDATES
) -> pd.DataFrame:
    """The terms of every catalog offer for every account: one row per (account, offer).

    Args:
        accounts: One row per account (or per open request) with ``account_id``,
            ``territory``, ``monthly_revenue``, ``lines``, ``weekly_capacity_yards``,
            ``has_lease``, the fill features and the biggest line's columns from
            ``biggest_lines`` (joined on ``account_id``). ``CONTEXT_COLUMNS`` and
            ``has_<stream>`` columns are carried onto every offer row (as ``has_<stream>_after``:
            an added stream is set on its ``add_stream`` row).
        catalog: The offer catalog.
        mandates: The jurisdictions' mandated streams (the stream ``add_stream`` adds first).

    Returns:
        Rows in account order, offers in catalog order, with ``new_monthly_rate``,
        ``monthly_cost_to_serve`` (after the offer), ``concession_monthly``
        (revenue given up a month), ``one_off_cost``, ``margin_kept_monthly``,
        ``margin_kept`` (discounted over the horizon), ``weekly_capacity_after``,
        ``new_term_months``, ``proposed_change``, ``applicable`` and
        ``not_applicable_reason``.
    """
    missing = [c for c in ("account_id", "territory", "monthly_revenue", "lines", "weekly_capacity_yards")
               if c not in accounts]  # fmt: skip
    if missing:
        raise ValueError(f"offer_terms needs account columns {missing}; they are features of the account.")
    accounts = accounts.reset_index(drop=True)
    cts = catalog.cost_to_serve
    revenue = _number(accounts, "monthly_revenue")
    capacity = _number(accounts, "weekly_capacity_yards")
    lease = _number(accounts, "has_lease", 0.0)
    index = cts.index_of(accounts["territory"])
    cost = cts.account_cost(index, _number(accounts, "lines"), capacity, lease)
    # Lines not in the extract (no service_lines): the declared operating ratio of the revenue; right-sizes and
    # added streams then do not apply (their capacity is unknown).
    cost = np.where(np.isnan(cost), revenue * cts.unknown_size_cost_ratio, cost)
    annuity, contact = catalog.annuity(), catalog.contact_cost
    n = len(accounts)

    def terms(rate: np.ndarray, cost_after: np.ndarray = cost, one_off: float | np.ndarray = 0.0,
              pct: float = 0.0, locked: bool = False) -> dict[str, np.ndarray]:  # fmt: skip
        kept = rate * catalog.locked_annuity() - cost_after * annuity if locked else (rate - cost_after) * annuity
        return {
            "rollback_pct": np.full(n, pct), "new_monthly_rate": rate, "monthly_cost_to_serve": cost_after,
            "concession_monthly": revenue - rate, "one_off_cost": contact + np.broadcast_to(one_off, (n,)),
            "margin_kept_monthly": rate - cost_after, "margin_kept": kept, "weekly_capacity_after": capacity,
            "new_term_months": np.full(n, float(catalog.renewal_term_months) if locked else np.nan),
        }  # fmt: skip

    rs = right_size(accounts, catalog.right_size, cts, index, revenue, cost)
    consult = catalog.consultative
    stream = add_stream(accounts, consult, cts, index, revenue, cost, mandates)
    compactor = compactor_lease(accounts, consult, cts, index, revenue, cost)
    converts, why_no_convert = convertible(accounts)
    term = float(catalog.renewal_term_months)

    def changed(change: dict[str, np.ndarray], new_term: float = np.nan) -> dict[str, np.ndarray]:
        return terms(change["new_monthly_rate"], change["monthly_cost_to_serve"], change["one_off_cost"]) | {
            "weekly_capacity_after": change["weekly_capacity_after"],
            "new_term_months": np.full(n, new_term),
        }

    by_offer = {
        "contract_education": terms(revenue),
        "service_recovery": terms(
            revenue, one_off=catalog.service_recovery_credit_months * revenue + catalog.service_recovery_ops_cost
        ),
        "right_size": terms(rs["new_monthly_rate"], rs["monthly_cost_to_serve"], rs["one_off_cost"])
        | {"weekly_capacity_after": rs["weekly_capacity_after"]},
        **{f"rollback_{p:g}": terms(revenue * (1 - p / 100), pct=p) for p in catalog.rollback_pcts},
        "renewal_rate_lock": terms(revenue * (1 - catalog.renewal_discount_pct / 100), locked=True),
        "convert": terms(revenue, one_off=consult.convert_setup_cost) | {"new_term_months": np.full(n, term)},
        "add_stream": changed(stream),
        "right_size_renewal": changed(rs, term),
        "compactor_lease": changed(compactor),
    }
    by_offer["flip"] = _flip(by_offer, catalog, rs["applicable"], n)
    renewed = np.where(rs["applicable"], rs["proposed_change"].astype(str) + f" on a new {term:g}-month agreement", "")
    convert_change = np.where(converts, "the new owner or address signs at today's rate", "").astype(object)
    # (proposed change, why not applicable, applicable) of the offers that may not apply
    special = {
        "right_size": (rs["proposed_change"], rs["not_applicable_reason"], rs["applicable"]),
        "right_size_renewal": (renewed.astype(object), rs["not_applicable_reason"], rs["applicable"]),
        "add_stream": (stream["proposed_change"], stream["not_applicable_reason"], stream["applicable"]),
        "compactor_lease": (compactor["proposed_change"], compactor["not_applicable_reason"], compactor["applicable"]),
        "convert": (convert_change, why_no_convert, converts),
    }

    offers = catalog.offers
    k = len(offers)
    columns = {name: np.column_stack([by_offer[o][name] for o in offers]).ravel() for name in by_offer["flip"]}
    blank = (np.full(n, "", dtype=object), np.full(n, "", dtype=object), np.ones(n, bool))
    for j, name in enumerate(("proposed_change", "not_applicable_reason", "applicable")):
        columns[name] = np.column_stack([special.get(o, blank)[j] for o in offers]).ravel()
    columns["applicable"] = columns["applicable"].astype(bool)
    streams = [f"has_{s}" for s in v.STREAMS if f"has_{s}" in accounts]
    context = [c for c in CONTEXT_COLUMNS if c in accounts]
    kept = accounts.columns.get_indexer(pd.Index(["account_id", *context, *streams]))
    carried = accounts.iloc[np.repeat(np.arange(n), k), kept].reset_index(drop=True)
    # Right-size and a compactor only change the biggest line and no offer drops a line: every stream is kept;
    # an added stream is there after its offer.
    carried.columns = pd.Index(["account_id", *context, *(f"{s}_after" for s in streams)])
    if "add_stream" in offers:
        at = np.arange(n) * k + offers.index("add_stream")
        for column in streams:
            added = stream["added_stream"] == column.removeprefix("has_")
            carried.loc[at[added], f"{column}_after"] = True
    columns |= {"monthly_revenue": np.repeat(revenue, k), "weekly_capacity_yards": np.repeat(capacity, k)}
    computed = pd.DataFrame(
        {"offer": np.tile(np.array(offers, dtype=object), n), **{c: columns[c] for c in TERM_COLUMNS}}
    )
    return pd.concat([carried.iloc[:, :1], computed, carried.iloc[:, 1:]], axis=1)


def _flip(
    by_offer: dict[str, dict[str, np.ndarray]], catalog: OfferCatalog, right_size_applies: np.ndarray, n: int
) -> dict[str, np.ndarray]:
    """A flip's terms: the specialist's offers weighted by how often each is made, plus the visit."""
    weights = {o: np.full(n, s) * (right_size_applies if o == "right_size" else 1.0) for o, s in catalog.flip_mix}
    total = sum(weights.values())
    out: dict[str, np.ndarray] = {}
    for name in by_offer["contract_education"]:
        out[name] = sum(weights[o] * by_offer[o][name] for o in weights) / total
    out["rollback_pct"] = np.zeros(n)  # the specialist's authority, not the rep's
    out["new_term_months"] = np.full(n, np.nan)
    out["one_off_cost"] = out["one_off_cost"] + catalog.flip_visit_cost
    return out


def expected_net_value(terms: pd.DataFrame, p_save: pd.Series | np.ndarray | float) -> pd.Series:
    """P(save | offer) × margin kept − one-off cost, per offer row.

    The one-off cost is charged whether or not the save holds: the call and the
    visit happen either way, and a credit given on an accepted offer is not clawed
    back if the customer leaves later.

    Args:
        terms: Rows of ``offer_terms``.
        p_save: Probability of a durable save of each row: a Series on the same
            index, an array in row order, or one number.

    Returns:
        The expected net value of each row, in dollars.
    """
    if isinstance(p_save, pd.Series) and not p_save.index.equals(terms.index):
        raise ValueError("p_save must have the same index as the offer terms, row for row.")
    p = np.broadcast_to(np.asarray(p_save, dtype=float), (len(terms),))
    if np.any((p < 0) | (p > 1)):
        raise ValueError("p_save must be probabilities between 0 and 1.")
    value = p * terms["margin_kept"].to_numpy(dtype=float) - terms["one_off_cost"].to_numpy(dtype=float)
    return pd.Series(value, index=terms.index, name="expected_net_value")
