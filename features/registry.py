"""The feature registry: every feature savedesk computes, declared once.

Each declaration says what the feature is (name, type, source table, window),
what it means to a person (description), whether a rep can do something about
it (``actionable``), whether it must stay off a rep's page (``sensitive``), and
the sentence a talking point will use, with the account's own numbers filled in
from the feature row (``{value}`` is the feature itself; any other field is
another registered feature). A flag's ``template`` speaks of it being true and
its ``template_negative`` of it being false; a number that can fall below zero
has a ``template_negative`` that reads ``{value}`` as the size of the fall, so
no sentence says "rate up -5%". In a ``days`` feature's template ``{date}`` is
the calendar day it counts (as-of minus the days; plus them for ``days_to_*``),
written like "Aug 2". A point whose template would need a missing value is not
shown. The model's column list, ``docs/features.md`` and the
talking points (``models.talking_points``) are all derived from this list.
"""

from __future__ import annotations

from dataclasses import dataclass
from string import Formatter
from typing import Literal

Kind = Literal["number", "count", "days", "ratio", "category", "flag"]
DATE_FIELD = "date"
"""The template field that writes a ``days`` feature as the calendar day it counts."""


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

    @property
    def categorical(self) -> bool:
        """Whether the model treats it as a category."""
        return self.kind == "category"

    @property
    def template_fields(self) -> set[str]:
        """Feature names the sentence template reads (``value`` is this feature)."""
        fields = {f for _, f, _, _ in Formatter().parse(self.template) if f}
        fields |= {f for _, f, _, _ in Formatter().parse(self.template_negative) if f}
        return fields - {"value", DATE_FIELD}


def _f(name: str, kind: Kind, table: str, group: str, description: str, template: str, **kw: object) -> Feature:
    return Feature(name, kind, table, group, description, template, **kw)  # type: ignore[arg-type]


QUALITY_EVENTS = {
    "missed_pickup": "missed pickups",
    "late_pickup": "late pickups",
    "overage": "overage charges",
    "contamination": "contamination charges",
    "damaged_container": "damaged containers",
}
QUALITY_WINDOWS = (30, 90, 365)


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
                    f"{{value:.0f}} {words} in the last {days} days",
                    window_days=days,
                    actionable=True,
                )
            )
        out.append(
            _f(
                f"days_since_{event}",
                "days",
                "service_events",
                "service quality",
                f"Days since the most recent of the account's {words} (empty if none in the extract).",
                f"last of the {words} on {{date}}, {{value:.0f}} days ago",
                actionable=True,
            )
        )
    return out


FEATURES: tuple[Feature, ...] = (
    # account
    # Tenure is actionable in the rep's sense: a long relationship is something to say on the call.
    _f("tenure_days", "days", "accounts", "account", "Days since service started.",
       "a customer for {tenure_years:.1f} years", actionable=True),
    _f("tenure_years", "number", "accounts", "account", "Years since service started.",
       "a customer for {value:.1f} years", actionable=True),
    _f("segment", "category", "accounts", "account", "Line of business.", "a {value} account"),
    _f("industry", "category", "accounts", "account", "Customer's industry.", "in {value}"),
    _f("territory", "category", "accounts", "account", "Sales territory.", "in the {value} territory",
       sensitive=True),
    _f("state", "category", "accounts", "account", "State or province of the service address.",
       "in {value}", sensitive=True),
    # contract
    _f("contract_term_months", "number", "accounts", "contract", "Term of the agreement in force, in months.",
       "on a {value:.0f}-month agreement"),
    _f("auto_renew", "flag", "accounts", "contract", "Whether the agreement renews itself at its end.",
       "agreement renews automatically",
       template_negative="agreement does not renew automatically"),
    _f("month_to_month", "flag", "accounts", "contract", "No agreement in force: service runs month to month.",
       "out of contract, month to month", actionable=True,
       template_negative="under an agreement, not month to month"),
    _f("days_to_contract_end", "days", "accounts", "contract",
       "Days until the agreement in force ends (empty when month to month).",
       "agreement ends on {date}, in {value:.0f} days", actionable=True),
    _f("days_since_renewal", "days", "save_attempts", "contract",
       "Days since the agreement was last re-signed on a save call (empty if never in the extract).",
       "re-signed {value:.0f} days ago"),
    # service
    _f("lines", "count", "service_lines", "service", "Service lines in service.", "{value:.0f} service lines"),
    _f("streams", "count", "service_lines", "service", "Distinct streams collected.", "{value:.0f} streams"),
    _f("has_recycling", "flag", "service_lines", "service", "Has a recycling line.", "has recycling service",
       template_negative="no recycling service"),
    _f("has_organics", "flag", "service_lines", "service", "Has an organics line.", "has organics service",
       template_negative="no organics service"),
    _f("max_container_yards", "number", "service_lines", "service", "Largest container, in cubic yards.",
       "largest container {value:g} yards"),
    _f("pickups_per_week", "number", "service_lines", "service", "Scheduled pickups per week, all lines.",
       "{value:g} pickups a week"),
    _f("weekly_capacity_yards", "number", "service_lines", "service",
       "Container yards collected per week (size times pickups, all lines).",
       "{value:g} yards of capacity a week", actionable=True),
    _f("has_lease", "flag", "service_lines", "service", "Leases equipment (compactor).", "leases a compactor",
       template_negative="does not lease a compactor"),
    _f("fill_pct_last", "number", "service_events", "service",
       "Measured fill at the latest fill audit, in % of capacity.",
       "containers {value:.0f}% full at the last audit", actionable=True),
    _f("fill_pct_mean_365d", "number", "service_events", "service",
       "Mean measured fill at fill audits in the last 365 days, in % of capacity: low means over-serviced.",
       "containers only {value:.0f}% full on average: paying for capacity they don't use",
       window_days=365, actionable=True),
    # price
    _f("monthly_revenue", "number", "rate_changes", "price", "Monthly rate of all lines in service, in dollars.",
       "pays ${value:,.0f} a month"),
    _f("rate_change_pct_90d", "ratio", "rate_changes", "price",
       "Change of the monthly rate of the lines in service over the last 90 days.",
       "rate up {value:.0%} in the last 90 days", window_days=90, actionable=True,
       template_negative="rate down {value:.0%} in the last 90 days"),
    _f("rate_change_pct_365d", "ratio", "rate_changes", "price",
       "Change of the monthly rate of the lines in service over the last 365 days.",
       "rate up {value:.0%} in the last year, {increase_vs_territory_365d:+.1%} against the territory's median",
       window_days=365, actionable=True,
       template_negative="rate down {value:.0%} in the last year, {increase_vs_territory_365d:+.1%} against the"
       " territory's median"),
    _f("days_since_increase", "days", "rate_changes", "price",
       "Days since the most recent rate increase or surcharge (empty if none in the extract).",
       "last increase on {date}, {value:.0f} days ago", actionable=True),
    _f("last_increase_pct", "ratio", "rate_changes", "price", "Size of the most recent increase.",
       "last increase was {value:.1%}", actionable=True),
    _f("increase_vs_territory_365d", "ratio", "rate_changes", "price",
       "Rate change over 365 days minus the territory's median change over the same days.",
       "rate change {value:.1%} above the territory's median this year", window_days=365, actionable=True,
       template_negative="rate change {value:.1%} below the territory's median this year"),
    _f("surcharges_365d", "count", "rate_changes", "price", "Fuel and environmental surcharges added in 365 days.",
       "{value:.0f} surcharges added this year", window_days=365, actionable=True),
    # service quality
    *_quality_features(),
    # billing
    _f("late_invoices_90d", "count", "invoices", "billing", "Invoices paid after their due date (or still unpaid"
       " past it), issued in the last 90 days.", "{value:.0f} late payments in the last 90 days", window_days=90,
       sensitive=True),
    _f("late_invoices_365d", "count", "invoices", "billing", "Late invoices issued in the last 365 days.",
       "{value:.0f} late payments this year", window_days=365, sensitive=True),
    _f("days_past_due", "days", "invoices", "billing",
       "Days the oldest unpaid invoice is past due (0 if none; empty if never invoiced).",
       "{value:.0f} days past due", sensitive=True),
    _f("billing_disputes_365d", "count", "contacts", "billing", "Billing disputes raised in the last 365 days.",
       "{value:.0f} billing disputes this year", window_days=365, actionable=True),
    # contacts
    _f("complaints_90d", "count", "contacts", "contacts", "Complaints in the last 90 days.",
       "{value:.0f} complaints in the last 90 days", window_days=90, actionable=True),
    _f("complaints_365d", "count", "contacts", "contacts", "Complaints in the last 365 days.",
       "{value:.0f} complaints this year", window_days=365, actionable=True),
    _f("escalations_365d", "count", "contacts", "contacts", "Contacts escalated to a supervisor in 365 days.",
       "{value:.0f} escalations this year", window_days=365, actionable=True),
    _f("unresolved_contacts", "count", "contacts", "contacts", "Contacts not resolved by the as-of date.",
       "{value:.0f} open issues not yet resolved", actionable=True),
    # history
    _f("prior_requests_365d", "count", "cancellation_requests", "history",
       "Cancellation requests in the last 365 days.", "asked to cancel {value:.0f} times this year",
       window_days=365),
    _f("prior_requests", "count", "cancellation_requests", "history",
       "Cancellation requests in the extract before the as-of date.", "asked to cancel {value:.0f} times before"),
    _f("days_since_save", "days", "save_attempts", "history",
       "Days since the account was last saved on a cancellation call (empty if never).",
       "saved {value:.0f} days ago"),
    _f("rollbacks_365d", "count", "save_attempts", "history", "Rate rollbacks accepted in the last 365 days.",
       "given {value:.0f} rollbacks this year", window_days=365),
    _f("last_rollback_pct", "number", "save_attempts", "history",
       "Size of the most recent accepted rollback, in % (empty if none).", "last rollback was {value:.0f}%"),
    # territory
    _f("territory_request_rate_90d", "ratio", "cancellation_requests", "territory",
       "Cancellation requests in the territory in 90 days per account active in it.",
       "{value:.1%} of the territory asked to cancel in 90 days", window_days=90, drift_warning=False),
    _f("territory_competitor_share_180d", "ratio", "cancellation_requests", "territory",
       "Share of the territory's requests in 180 days that named a competitor's offer.",
       "{value:.0%} of recent cancellations in the territory cite a competitor", window_days=180,
       drift_warning=False),
)  # fmt: skip

BY_NAME: dict[str, Feature] = {f.name: f for f in FEATURES}


def model_columns() -> list[str]:
    """The feature columns a model reads, in registry order."""
    return [f.name for f in FEATURES]


def categorical_columns() -> list[str]:
    """The feature columns a model treats as categories."""
    return [f.name for f in FEATURES if f.categorical]


def features_from(tables: set[str]) -> list[str]:
    """The features computable from a set of available tables."""
    return [f.name for f in FEATURES if f.table in tables]
