"""The feature registry: every feature savedesk computes, declared once.

Each declaration says what the feature is (name, type, source table, window),
what it means to a person (description), whether a rep can do something about
it (``actionable``), whether it must stay off a rep's page (``sensitive``), and
how a talking point says it, with the account's own numbers filled in from the
feature row (``{value}`` is the feature itself; any other field is another
registered feature):

- ``concept``: what the feature is about ("tenure", "missed pickups"); a set of
  talking points says each concept once, however many features measure it.
- ``audience``: ``"customer"`` when the sentence may be said to the customer,
  ``"rep"`` when it is for the rep only (a comparison with other customers, a
  model internal, a sensitive fact).
- ``template`` (and ``template_negative``): the sentence when the feature raises
  the risk. A flag's ``template`` speaks of it being true and its
  ``template_negative`` of it being false; a number that can fall below zero has
  a ``template_negative`` that reads ``{value}`` as the size of the fall, so no
  sentence says "rate up -5%".
- ``holds``: the sentence when the feature holds the customer (lowers the
  risk), true only for values in ``holds_range`` ("no missed pickups in the last
  90 days" only for a count of 0). Empty: the feature cannot be worded
  protectively, so it is never a "holds them" point.
- ``fact_age``: how old the fact a sentence states may be, for the freshness
  window of offer reasons (``models.point_wording.FRESH_DAYS``): ``"window"``
  (its ``window_days``), ``"value"`` (the value counts days back), ``"ahead"``
  (the value counts days ahead: fresh when it comes within the window),
  ``"now"`` (a state on the as-of date), ``"unknown"``, or another feature's
  name (that feature counts the days back).

In a ``days`` feature's template ``{date}`` is the calendar day it counts
(as-of minus the days; plus them for ``days_to_*``), written like "Aug 2";
``{month}`` is its month, like "March 2019", and ``{years}`` the whole years it
spans; in another feature's template they are those of the feature its
``fact_age`` names. A point whose template would need a missing value is not shown. The
model's column list, ``docs/features.md`` and the talking points
(``models.talking_points``) are all derived from this list.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from string import Formatter
from typing import Literal

Kind = Literal["number", "count", "days", "ratio", "category", "flag"]
Audience = Literal["customer", "rep"]
CUSTOMER: Audience = "customer"
REP: Audience = "rep"
DATE_FIELD = "date"
"""The template field that writes a ``days`` feature as the calendar day it counts."""
MONTH_FIELD = "month"
"""The template field that writes a ``days`` feature as the month and year it counts, like "March 2019"."""
YEARS_FIELD = "years"
"""The template field that writes a ``days`` feature as the whole years it spans."""
CALENDAR_FIELDS = frozenset({DATE_FIELD, MONTH_FIELD, YEARS_FIELD})
EVERY_VALUE = (-math.inf, math.inf)


@dataclass(frozen=True)
class Feature:
    """One feature's declaration."""

    name: str
    kind: Kind
    table: str
    group: str
    description: str
    template: str
    window_days: int | None = None
    actionable: bool = False
    sensitive: bool = False
    template_negative: str = ""
    """The sentence for a false flag, or for a number below zero (``{value}`` is then its size); empty: none."""
    drift_warning: bool = True
    """Whether a shift of its distribution since training is worth a warning. Territory-level rates take one
    value per territory and move with the market every month by design, so their PSI is large with nothing
    wrong; the monitoring report still shows it."""
    concept: str = ""
    """What the feature is about; empty: its own name. A set of talking points says each concept once."""
    audience: Audience = CUSTOMER
    """Who may hear its sentences: the customer, or the rep only."""
    holds: str = ""
    """The sentence when it holds the customer (true and protective for values in ``holds_range``); empty: none."""
    holds_range: tuple[float, float] = EVERY_VALUE
    """The values (inclusive) for which ``holds`` is true and protective."""
    needs: tuple[str, ...] = ()
    """Optional columns of its table it is computed from: without them it is left out (never zeros)."""
    fact_age: str = ""
    """How old its fact may be (see the module's docstring); empty: ``"window"`` with a window, ``"value"`` for
    a ``days`` feature counting back, ``"ahead"`` for one counting forward, else ``"now"``."""

    def __post_init__(self) -> None:
        if not self.concept:
            object.__setattr__(self, "concept", self.name)
        if not self.fact_age:
            age = "window" if self.window_days else "now"
            if self.kind == "days":
                age = "ahead" if self.name.startswith("days_to_") else "value"
            object.__setattr__(self, "fact_age", age)

    @property
    def categorical(self) -> bool:
        """Whether the model treats it as a category."""
        return self.kind == "category"

    @property
    def template_fields(self) -> set[str]:
        """Feature names the sentence templates read (``value`` is this feature)."""
        fields: set[str] = set()
        for template in (self.template, self.template_negative, self.holds):
            fields |= {f for _, f, _, _ in Formatter().parse(template) if f}
        if fields & CALENDAR_FIELDS and self.kind != "days":  # the day of another feature that dates the fact
            fields.add(self.fact_age)
        return fields - {"value", *CALENDAR_FIELDS}


def _f(name: str, kind: Kind, table: str, group: str, description: str, template: str, **kw: object) -> Feature:
    return Feature(name, kind, table, group, description, template, **kw)  # type: ignore[arg-type]


QUALITY_EVENTS = {
    "missed_pickup": "missed pickups",
    "late_pickup": "late pickups",
    "overage": "overage charges",
    "contamination": "contamination charges",
    "damaged_container": "damaged containers",
}
QUALITY_EVENT_ONE = {
    "missed_pickup": "a missed pickup",
    "late_pickup": "a late pickup",
    "overage": "an overage charge",
    "contamination": "a contamination charge",
    "damaged_container": "a damaged container",
}
"""One of each event, with its article."""
QUALITY_WINDOWS = (30, 90, 365)
NO_COUNT = (0.0, 0.0)
"""``holds_range`` of a count whose ``holds`` says none happened."""


def in_the_last(days: int) -> str:
    """A window in words: "in the last 30 days", "in the last year"."""
    return "in the last year" if days == 365 else f"in the last {days} days"


def _quality_features() -> list[Feature]:
    out = []
    for event, words in QUALITY_EVENTS.items():
        for days in QUALITY_WINDOWS:
            out.append(
                _f(
                    f"{event}s_{days}d",
                    "count",
                    "service_events",
                    "service quality",
                    f"Number of {words} in the {days} days up to the as-of date.",
                    f"{{value:.0f}} {words} {in_the_last(days)}",
                    window_days=days,
                    actionable=True,
                    concept=words,
                    holds=f"no {words} {in_the_last(days)}",
                    holds_range=NO_COUNT,
                )
            )
        out.append(
            _f(
                f"days_since_{event}",
                "days",
                "service_events",
                "service quality",
                f"Days since the most recent of the account's {words} (empty if none in the extract).",
                f"{QUALITY_EVENT_ONE[event]} on {{date}}",
                actionable=True,
                concept=words,
                holds=f"no {words} since {{date}}",
                holds_range=(90.0, math.inf),
            )
        )
    return out


FEATURES: tuple[Feature, ...] = (
    # account
    # Tenure is actionable in the rep's sense: a long relationship is something to say on the call. It is said
    # by its month ("since March 2019"); the years are the same concept, so they are never a second point.
    _f("tenure_days", "days", "accounts", "account", "Days since service started.",
       "a customer since {month}", actionable=True, concept="tenure",
       holds="a customer for {years} years, since {month}", holds_range=(731.0, math.inf)),
    _f("tenure_years", "number", "accounts", "account", "Years since service started.",
       "a customer for {value:.0f} years", concept="tenure"),
    _f("segment", "category", "accounts", "account", "Line of business.", "a {value} account"),
    _f("industry", "category", "accounts", "account", "Customer's industry.", "in {value}"),
    _f("territory", "category", "accounts", "account", "Sales territory.", "in the {value} territory",
       sensitive=True, audience=REP),
    _f("state", "category", "accounts", "account", "State or province of the service address.",
       "in {value}", sensitive=True, audience=REP),
    # contract
    _f("contract_term_months", "number", "accounts", "contract", "Term of the agreement in force, in months.",
       "on a {value:.0f}-month agreement", concept="agreement terms"),
    _f("auto_renew", "flag", "accounts", "contract", "Whether the agreement renews itself at its end.",
       "agreement renews automatically", concept="agreement terms",
       template_negative="agreement does not renew automatically"),
    _f("month_to_month", "flag", "accounts", "contract", "No agreement in force: service runs month to month.",
       "out of contract, month to month", actionable=True, concept="agreement",
       holds="under an agreement with us", holds_range=(0.0, 0.0)),
    _f("days_to_contract_end", "days", "accounts", "contract",
       "Days until the agreement in force ends (empty when month to month).",
       "agreement ends on {date}", actionable=True, concept="agreement",
       holds="agreement runs until {date}", holds_range=(180.0, math.inf)),
    _f("days_since_renewal", "days", "save_attempts", "contract",
       "Days since the agreement was last re-signed on a save call (empty if never in the extract).",
       "re-signed on {date}", concept="agreement terms"),
    # service
    _f("lines", "count", "service_lines", "service", "Service lines in service.", "{value:.0f} service lines"),
    _f("streams", "count", "service_lines", "service", "Distinct streams collected.", "{value:.0f} streams"),
    _f("has_recycling", "flag", "service_lines", "service", "Has a recycling line.", "has recycling service",
       template_negative="no recycling service"),
    _f("has_organics", "flag", "service_lines", "service", "Has an organics line.", "has organics service",
       template_negative="no organics service"),
    _f("max_container_yards", "number", "service_lines", "service", "Largest container, in cubic yards.",
       "largest container {value:g} yards", concept="service size"),
    _f("pickups_per_week", "number", "service_lines", "service", "Scheduled pickups per week, all lines.",
       "{value:g} pickups a week", concept="service size"),
    _f("weekly_capacity_yards", "number", "service_lines", "service",
       "Container yards collected per week (size times pickups, all lines).",
       "{value:g} yards of capacity a week", actionable=True, concept="service size"),
    _f("has_lease", "flag", "service_lines", "service", "Leases equipment (compactor).", "leases a compactor",
       template_negative="does not lease a compactor"),
    # The latest audit's day is not a feature, so its age is unknown: never an offer reason (fresh facts only).
    _f("fill_pct_last", "number", "service_events", "service",
       "Measured fill at the latest fill audit, in % of capacity.",
       "containers {value:.0f}% full at the last fill check", actionable=True, concept="fill", fact_age="unknown"),
    _f("fill_pct_mean_365d", "number", "service_events", "service",
       "Mean measured fill at fill audits in the last 365 days, in % of capacity: low means over-serviced.",
       "containers {value:.0f}% full on average in the last year", window_days=365, actionable=True,
       concept="fill"),
    # price
    _f("monthly_revenue", "number", "rate_changes", "price", "Monthly rate of all lines in service, in dollars.",
       "pays ${value:,.0f} a month"),
    _f("rate_change_pct_90d", "ratio", "rate_changes", "price",
       "Change of the monthly rate of the lines in service over the last 90 days.",
       "rate up {value:.0%} in the last 90 days", window_days=90, actionable=True, concept="rate increase",
       template_negative="rate down {value:.0%} in the last 90 days",
       holds="no net rate increase in the last 90 days", holds_range=(-math.inf, 0.0)),
    _f("rate_change_pct_365d", "ratio", "rate_changes", "price",
       "Change of the monthly rate of the lines in service over the last 365 days.",
       "rate up {value:.0%} in the last year", window_days=365, actionable=True, concept="rate increase",
       template_negative="rate down {value:.0%} in the last year",
       holds="no net rate increase in the last year", holds_range=(-math.inf, 0.0)),
    _f("days_since_increase", "days", "rate_changes", "price",
       "Days since the most recent rate increase or surcharge (empty if none in the extract).",
       "rate went up on {date}", actionable=True, concept="rate increase",
       holds="no rate increase since {date}", holds_range=(365.0, math.inf)),
    _f("last_increase_pct", "ratio", "rate_changes", "price", "Size of the most recent increase.",
       "a {value:.1%} rate increase on {date}", actionable=True,
       concept="rate increase", fact_age="days_since_increase"),
    # A comparison with other customers: for the rep, never said to a customer and never a reason they stay.
    _f("increase_vs_territory_365d", "ratio", "rate_changes", "price",
       "Rate change over 365 days minus the territory's median change over the same days.",
       "rate rose {value:.1%} more than the territory's median in the last year", window_days=365,
       actionable=True, concept="price against the market", audience=REP,
       template_negative="rate rose {value:.1%} less than the territory's median in the last year"),
    _f("surcharges_365d", "count", "rate_changes", "price", "Fuel and environmental surcharges added in 365 days.",
       "{value:.0f} surcharges added in the last year", window_days=365, actionable=True, concept="surcharges",
       holds="no surcharges added in the last year", holds_range=NO_COUNT),
    # service quality
    *_quality_features(),
    # billing
    _f("days_since_invoice", "days", "invoices", "billing",
       "Days since the most recent invoice (billing stops some weeks before a customer who leaves is gone). Moves"
       " by design: at a month-end snapshot nearly every billed account shows the month's length, so its drift"
       " follows the calendar; unbilled_months_365d warns of billing that stops.",
       "last billed on {date}", concept="billing recency", audience=REP, drift_warning=False),
    _f("unbilled_months_365d", "count", "invoices", "billing",
       "Months of the last 12 without an invoice, after the account's first month and the extract's first"
       " billed month.", "{value:.0f} months without a bill in the last year", window_days=365,
       concept="billing recency", audience=REP),
    _f("invoice_amount_last", "number", "invoices", "billing", "Amount of the most recent invoice, in dollars.",
       "last bill ${value:,.0f}", concept="bill size"),
    _f("bill_change_pct_365d", "ratio", "invoices", "billing",
       "Mean invoice of the last 90 days against the mean of the 275 days before them.",
       "bills up {value:.0%} on earlier in the year", window_days=365, actionable=True, concept="bill size",
       template_negative="bills down {value:.0%} on earlier in the year",
       holds="no higher bills than earlier in the year", holds_range=(-math.inf, 0.0)),
    _f("bill_reductions_365d", "count", "invoices", "billing",
       "Invoices of the last 365 days at least 10 % below the one before (credits, adjustments, rollbacks).",
       "{value:.0f} reduced bills in the last year", window_days=365, concept="credits and adjustments",
       audience=REP),
    _f("late_invoices_90d", "count", "invoices", "billing", "Invoices paid after their due date (or still unpaid"
       " past it), issued in the last 90 days.", "{value:.0f} late payments in the last 90 days", window_days=90,
       sensitive=True, concept="late payments", audience=REP, needs=("due_date", "paid_date")),
    _f("late_invoices_365d", "count", "invoices", "billing", "Late invoices issued in the last 365 days.",
       "{value:.0f} late payments in the last year", window_days=365, sensitive=True, concept="late payments",
       audience=REP, needs=("due_date", "paid_date")),
    _f("days_past_due", "days", "invoices", "billing",
       "Days the oldest unpaid invoice is past due (0 if none; empty if never invoiced).",
       "{value:.0f} days past due", sensitive=True, concept="late payments", audience=REP,
       needs=("due_date", "paid_date")),
    _f("billing_disputes_365d", "count", "contacts", "billing", "Billing disputes raised in the last 365 days.",
       "{value:.0f} billing disputes in the last year", window_days=365, actionable=True,
       concept="billing disputes", holds="no billing disputes in the last year", holds_range=NO_COUNT),
    # contacts
    _f("complaints_90d", "count", "contacts", "contacts", "Complaints in the last 90 days.",
       "{value:.0f} complaints in the last 90 days", window_days=90, actionable=True, concept="complaints",
       holds="no complaints in the last 90 days", holds_range=NO_COUNT),
    _f("complaints_365d", "count", "contacts", "contacts", "Complaints in the last 365 days.",
       "{value:.0f} complaints in the last year", window_days=365, actionable=True, concept="complaints",
       holds="no complaints in the last year", holds_range=NO_COUNT),
    _f("escalations_365d", "count", "contacts", "contacts", "Contacts escalated to a supervisor in 365 days.",
       "{value:.0f} escalations to a supervisor in the last year", window_days=365, actionable=True,
       concept="escalations", holds="no escalations to a supervisor in the last year", holds_range=NO_COUNT),
    # Open issues may be old: an open contact's age is not a feature.
    _f("unresolved_contacts", "count", "contacts", "contacts", "Contacts not resolved by the as-of date.",
       "{value:.0f} open issues not yet resolved", actionable=True, concept="open issues", fact_age="unknown",
       holds="no open issues", holds_range=NO_COUNT),
    # history
    _f("prior_requests_365d", "count", "cancellation_requests", "history",
       "Cancellation requests in the last 365 days.", "asked to cancel {value:.0f} times in the last year",
       window_days=365, concept="cancellation requests"),
    _f("prior_requests", "count", "cancellation_requests", "history",
       "Cancellation requests in the extract before the as-of date.", "asked to cancel {value:.0f} times before",
       concept="cancellation requests"),
    _f("days_since_save", "days", "save_attempts", "history",
       "Days since the account was last saved on a cancellation call (empty if never).",
       "saved on {date}", concept="saves"),
    _f("rollbacks_365d", "count", "save_attempts", "history", "Rate rollbacks accepted in the last 365 days.",
       "given {value:.0f} rollbacks in the last year", window_days=365, concept="rollbacks", audience=REP),
    _f("last_rollback_pct", "number", "save_attempts", "history",
       "Size of the most recent accepted rollback, in % (empty if none).", "last rollback was {value:.0f}%",
       concept="rollbacks", audience=REP, fact_age="unknown"),
    # territory: comparisons with other customers, for the rep only
    _f("territory_request_rate_90d", "ratio", "cancellation_requests", "territory",
       "Cancellation requests in the territory in 90 days per account active in it.",
       "{value:.1%} of the territory asked to cancel in 90 days", window_days=90, drift_warning=False,
       audience=REP),
    _f("territory_competitor_share_180d", "ratio", "cancellation_requests", "territory",
       "Share of the territory's requests in 180 days that named a competitor's offer.",
       "{value:.0%} of recent cancellations in the territory cite a competitor", window_days=180,
       drift_warning=False, audience=REP),
)  # fmt: skip

BY_NAME: dict[str, Feature] = {f.name: f for f in FEATURES}


def model_columns() -> list[str]:
    """The feature columns a model reads, in registry order."""
    return [f.name for f in FEATURES]


def categorical_columns() -> list[str]:
    """The feature columns a model treats as categories."""
    return [f.name for f in FEATURES if f.categorical]


def features_from(tables: set[str] | dict[str, set[str]]) -> list[str]:
    """The features computable from the available tables (given alone, or each with its columns)."""
    if isinstance(tables, set):
        return [f.name for f in FEATURES if f.table in tables]
    return [f.name for f in FEATURES if f.table in tables and set(f.needs) <= tables[f.table]]
