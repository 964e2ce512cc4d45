"""The raw data contract: every table savedesk reads, declared once.

Each table is a pandera ``DataFrameSchema``. Column-level facts (type, allowed
values, nullability, whether the column may be absent, whether it holds PII)
live on the pandera columns; table-level facts live in the schema's metadata:

- ``required``: whether the table must be present in an extract;
- ``key``: the column that identifies a row;
- ``foreign_keys``: column -> (parent table, parent column);
- ``event_time``: the date at which the row became known (what point-in-time
  features filter on, and what must not lie after the extract's end);
- ``known_later``: columns filled in after the row was first stamped (a
  payment date, a close date and reason); features must treat them as unknown
  when they lie after ``as_of``;
- ``revealed_by``: for a known-later column that is not itself a date, the date
  column that says when it became known;
- ``date_order``: pairs ``(later, earlier)`` of dates of one row where the first
  may not come before the second (a line cannot end before it starts).

Every value an extract can carry has a sane range, declared here and checked
once, in validation (outside it, the row is quarantined with the range as its
reason): dates lie between ``EARLIEST_DAY`` and the extract's end (or
``LATEST_DAY`` when the end is unknown), money between 0 and ``MONEY_CEILING``,
sizes, frequencies, terms and percentages within their own checks. A timestamp
with a UTC offset is read as ``TIMESTAMPS`` says.

The data dictionary in ``docs/data-dictionary.md`` is generated from these
declarations (``make docs``) and a test keeps it in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandera.pandas as pa

from sources import vocabulary as v

DATE = "datetime64[ns]"

EARLIEST_DAY = date(1900, 1, 1)
"""No record of a hauler's is older: an earlier date is a typo (a year 0001, 1066 for 2066)."""
LATEST_DAY = date(2099, 12, 31)
"""No extract reaches later; the extract's own end, when known, is the bound that counts."""
MONEY_CEILING = 1_000_000
"""Dollars: no single amount of one account (a month's rate, an invoice, a charge, a credit) comes near it."""
MAX_CONTAINER_YARDS = 100
"""Cubic yards: the largest roll-off is 40; a bigger container is a typo (or gallons)."""
MAX_PICKUPS_PER_WEEK = 21
"""Three pickups a day, every day of the week."""
TIMESTAMPS = (
    "A time with a UTC offset (2024-03-01T23:30:00-06:00, ...Z) keeps its local day and time as written and"
    " loses the offset: the desk works in local days, and one zone's summer and winter offsets differ."
)
"""How a timestamp with a UTC offset is read, in CSV and Parquet alike (a zoned Parquet column keeps its wall time)."""


UNKNOWN = "unknown"
"""The value of a defaulted descriptive column (city, state, segment) when the extract does not carry it."""
ONE_TERRITORY = "all"
"""The territory of every account when the extract has no territories: the desk works one book."""


def _id(description: str) -> pa.Column:
    return pa.Column(str, pa.Check.str_length(min_value=1), nullable=False, description=description)


def _date(description: str, *, nullable: bool = False, required: bool = True) -> pa.Column:
    return pa.Column(DATE, nullable=nullable, required=required, coerce=True, description=description)


def _code(values: tuple[str, ...], description: str, *, nullable: bool = False, required: bool = True) -> pa.Column:
    return pa.Column(str, pa.Check.isin(values), nullable=nullable, required=required, description=description)


def _money(description: str, *, nullable: bool = False, required: bool = True) -> pa.Column:
    return pa.Column(
        "float64",
        [pa.Check.ge(0), pa.Check.le(MONEY_CEILING)],
        nullable=nullable,
        required=required,
        coerce=True,
        description=description,
    )


def _flag(description: str, *, required: bool = True) -> pa.Column:
    return pa.Column("boolean", nullable=False, required=required, coerce=True, description=description)


def _pii(description: str) -> pa.Column:
    return pa.Column(str, nullable=True, required=False, description=description, metadata={"pii": True})


ACCOUNTS = pa.DataFrameSchema(
    name="accounts",
    description="One row per customer account, with its first agreement and, once it ends, its close.",
    metadata={
        "required": True,
        "key": "account_id",
        "foreign_keys": {},
        "event_time": "start_date",
        "known_later": ["close_date", "close_reason"],
        "revealed_by": {"close_reason": "close_date"},
        "date_order": [("close_date", "start_date")],
    },
    columns={
        "account_id": _id("Account number."),
        "account_name": _pii("Customer's business or household name."),
        "contact_name": _pii("Name of the customer's contact person."),
        "phone": _pii("Contact phone number."),
        "email": _pii("Contact email address."),
        "street_address": _pii("Service address."),
        "city": pa.Column(
            str, nullable=False, required=False, description="Service city.", metadata={"default": UNKNOWN}
        ),
        "state": pa.Column(
            str,
            pa.Check.str_matches(r"^[A-Z]{2}$"),
            nullable=False,
            required=False,
            description="Two-letter state or province code of the service address.",
            metadata={"default": UNKNOWN},
        ),
        "territory": pa.Column(
            str,
            pa.Check.str_length(min_value=1),
            nullable=False,
            required=False,
            description="Sales territory.",
            metadata={"default": ONE_TERRITORY},
        ),
        "segment": pa.Column(
            str,
            pa.Check.isin(v.SEGMENTS),
            nullable=False,
            required=False,
            description="Line of business.",
            metadata={"default": UNKNOWN},
        ),
        "industry": _code(v.INDUSTRIES, "Customer's industry.", nullable=True, required=False),
        "start_date": _date("First day of service."),
        "contract_term_months": pa.Column(
            "Int64",
            pa.Check.in_range(0, 120),
            nullable=True,
            required=False,
            coerce=True,
            description="Term of the first agreement in months; 0 = month to month.",
        ),
        "auto_renew": _flag(
            "Whether the agreement renews for the same term at its end (evergreen clause).",
            required=False,
        ),
        "close_date": _date("Last day of service, once the account has closed.", nullable=True),
        "close_reason": _code(v.CANCELLATION_REASONS, "Why the account closed.", nullable=True, required=False),
    },
)

SERVICE_LINES = pa.DataFrameSchema(
    name="service_lines",
    description=(
        "One row per container service on an account. A right-size ends a line and starts"
        " a new one; rate changes after the start are in rate_changes."
    ),
    metadata={
        "required": False,
        "key": "line_id",
        "foreign_keys": {"account_id": ("accounts", "account_id")},
        "event_time": "start_date",
        "known_later": ["end_date"],
        "date_order": [("end_date", "start_date")],
    },
    columns={
        "line_id": _id("Service line number."),
        "account_id": _id("Account the line belongs to."),
        "stream": _code(v.STREAMS, "Material collected."),
        "container_type": _code(v.CONTAINER_TYPES, "Container type."),
        "container_yards": pa.Column(
            "float64",
            [pa.Check.gt(0), pa.Check.le(MAX_CONTAINER_YARDS)],
            coerce=True,
            description="Container size in cubic yards.",
        ),
        "pickups_per_week": pa.Column(
            "float64",
            [pa.Check.gt(0), pa.Check.le(MAX_PICKUPS_PER_WEEK)],
            coerce=True,
            description="Scheduled pickups per week (roll-off: average hauls per week).",
        ),
        "monthly_rate": _money("Monthly rate when the line started, in dollars."),
        "is_lease": _flag("Whether the line includes leased equipment (compactor).", required=False),
        "start_date": _date("First day of the line."),
        "end_date": _date("Last day of the line, once it has ended.", nullable=True),
    },
)

RATE_CHANGES = pa.DataFrameSchema(
    name="rate_changes",
    description="Every change to a line's monthly rate: increases, surcharges, rollbacks, renewals.",
    metadata={
        "required": False,
        "key": "change_id",
        "foreign_keys": {
            "account_id": ("accounts", "account_id"),
            "line_id": ("service_lines", "line_id"),
        },
        "event_time": "effective_date",
        "known_later": [],
    },
    columns={
        "change_id": _id("Rate change number."),
        "account_id": _id("Account."),
        "line_id": _id("Service line whose rate changed."),
        "effective_date": _date("First day of the new rate."),
        "change_type": _code(v.RATE_CHANGE_TYPES, "Kind of change."),
        "old_rate": _money("Monthly rate before, in dollars."),
        "new_rate": _money("Monthly rate after, in dollars."),
    },
)

SERVICE_EVENTS = pa.DataFrameSchema(
    name="service_events",
    description="Service exceptions and fill audits recorded by drivers and dispatch.",
    metadata={
        "required": False,
        "key": "event_id",
        "foreign_keys": {
            "account_id": ("accounts", "account_id"),
            "line_id": ("service_lines", "line_id"),
        },
        "event_time": "event_date",
        "known_later": [],
    },
    columns={
        "event_id": _id("Event number."),
        "account_id": _id("Account."),
        "line_id": _id("Service line."),
        "event_date": _date("Day of the event."),
        "event_type": _code(v.SERVICE_EVENT_TYPES, "Kind of event."),
        "charge": _money("Amount charged for the event (overage, contamination), in dollars.", nullable=True),
        "fill_pct": pa.Column(
            "float64",
            pa.Check.in_range(0, 300),
            nullable=True,
            required=False,
            coerce=True,
            description="Measured fill of the container at a fill audit, in % of capacity.",
        ),
    },
)

INVOICES = pa.DataFrameSchema(
    name="invoices",
    description="Monthly invoices and their payment.",
    metadata={
        "required": False,
        "key": "invoice_id",
        "foreign_keys": {"account_id": ("accounts", "account_id")},
        "event_time": "invoice_date",
        "known_later": ["paid_date"],
        "date_order": [("due_date", "invoice_date")],
    },
    columns={
        "invoice_id": _id("Invoice number."),
        "account_id": _id("Account."),
        "invoice_date": _date("Day the invoice was issued."),
        "due_date": _date("Day payment is due.", required=False),
        "amount": _money("Invoice total, in dollars."),
        "paid_date": _date("Day the invoice was paid in full, once paid.", nullable=True, required=False),
    },
)

CONTACTS = pa.DataFrameSchema(
    name="contacts",
    description="Customer contacts with the hauler: complaints, disputes, requests, questions.",
    metadata={
        "required": False,
        "key": "contact_id",
        "foreign_keys": {"account_id": ("accounts", "account_id")},
        "event_time": "contact_date",
        "known_later": ["resolved_date"],
    },
    columns={
        "contact_id": _id("Contact number."),
        "account_id": _id("Account."),
        "contact_date": _date("Day of the contact."),
        "channel": _code(v.CONTACT_CHANNELS, "How the customer reached the hauler."),
        "contact_type": _code(v.CONTACT_TYPES, "Kind of contact."),
        "topic": _code(v.CONTACT_TOPICS, "What it was about."),
        "escalated": _flag("Whether it was escalated to a supervisor."),
        "resolved_date": _date("Day it was resolved, once resolved.", nullable=True),
    },
)

CANCELLATION_REQUESTS = pa.DataFrameSchema(
    name="cancellation_requests",
    description="Every request by a customer to end service, with its stated reason.",
    metadata={
        "required": False,
        "key": "request_id",
        "foreign_keys": {"account_id": ("accounts", "account_id")},
        "event_time": "request_date",
        "known_later": ["resolution", "resolved_date"],
        "revealed_by": {"resolution": "resolved_date"},
    },
    columns={
        "request_id": _id("Request number."),
        "account_id": _id("Account."),
        "request_date": _date("Day the customer asked to cancel."),
        "reason": _code(v.CANCELLATION_REASONS, "Stated reason."),
        "channel": _code(v.REQUEST_CHANNELS, "How the request came in."),
        "resolution": _code(v.REQUEST_RESOLUTIONS, "How the call ended: saved, cancelled or still open."),
        "resolved_date": _date("Day the request was resolved.", nullable=True),
    },
)

SAVE_ATTEMPTS = pa.DataFrameSchema(
    name="save_attempts",
    description=(
        "The offer a rep made on a cancellation request and whether the customer accepted it."
        " A flip is followed by the outside specialist's own attempt."
    ),
    metadata={
        "required": False,
        "key": "attempt_id",
        "foreign_keys": {
            "request_id": ("cancellation_requests", "request_id"),
            "account_id": ("accounts", "account_id"),
        },
        "event_time": "attempt_date",
        "known_later": [],
    },
    columns={
        "attempt_id": _id("Attempt number."),
        "request_id": _id("Cancellation request answered."),
        "account_id": _id("Account."),
        "attempt_date": _date("Day of the attempt."),
        "rep_id": _id("Rep who made the offer."),
        "rep_channel": _code(v.REP_CHANNELS, "Inside sales rep or outside save specialist."),
        "offer": _code(v.OFFERS, "Offer made."),
        "rollback_pct": pa.Column(
            "float64",
            pa.Check.in_range(0, 100),
            coerce=True,
            description="Rate rollback in % of the monthly rate (0 when the offer is not a rollback).",
        ),
        "credit_amount": _money("One-off credit given, in dollars."),
        "new_monthly_rate": _money("Account's monthly rate if the offer is accepted, in dollars."),
        "new_term_months": pa.Column(
            "Int64",
            pa.Check.in_range(0, 120),
            nullable=True,
            coerce=True,
            description="Term of the new agreement, when the offer re-signs one.",
        ),
        "accepted": _flag("Whether the customer accepted the offer on the call."),
        "propensity": pa.Column(
            "float64",
            pa.Check.in_range(0, 1, include_min=False),
            nullable=True,
            required=False,
            coerce=True,
            description="Probability with which the desk's randomization chose this offer, as published with the"
            " call list row the rep followed; empty where the rep chose the offer.",
        ),
    },
)

PROACTIVE_CALLS = pa.DataFrameSchema(
    name="proactive_calls",
    description=(
        "Proactive calls the desk made to accounts that had not asked to cancel: who called whom, when, with"
        " which offer. Optional: without it savedesk cannot learn what a call changes (the outreach ranking stays"
        " by saveable value)."
    ),
    metadata={
        "required": False,
        "key": "call_id",
        "foreign_keys": {"account_id": ("accounts", "account_id")},
        "event_time": "call_date",
        "known_later": [],
    },
    columns={
        "call_id": _id("Call number."),
        "account_id": _id("Account called."),
        "call_date": _date("Day of the call."),
        "rep_id": _id("Rep who made the call."),
        "offer": _code(v.OFFERS, "Offer made on the call.", nullable=True, required=False),
        "outcome": _code(
            v.CALL_OUTCOMES,
            "How the call ended (absent: every row reached the customer).",
            nullable=True,
            required=False,
        ),
    },
)

TABLES: dict[str, pa.DataFrameSchema] = {
    schema.name: schema
    for schema in (
        ACCOUNTS,
        SERVICE_LINES,
        RATE_CHANGES,
        SERVICE_EVENTS,
        INVOICES,
        CONTACTS,
        CANCELLATION_REQUESTS,
        SAVE_ATTEMPTS,
        PROACTIVE_CALLS,
    )
}
"""Every table of the contract, parents before children."""


@dataclass(frozen=True)
class TableInfo:
    """The table-level facts of one contract table, read from its metadata."""

    name: str
    required: bool
    key: str
    foreign_keys: dict[str, tuple[str, str]]
    event_time: str
    known_later: tuple[str, ...]
    revealed_by: dict[str, str]
    """Known-later columns that are not dates, each with the date that reveals it."""
    date_order: tuple[tuple[str, str], ...]
    """Pairs (later, earlier) of dates of one row: the first may not precede the second."""

    @property
    def date_columns(self) -> tuple[str, ...]:
        """Every date column of the table."""
        return tuple(c for c, col in TABLES[self.name].columns.items() if str(col.dtype) == DATE)

    @property
    def required_columns(self) -> tuple[str, ...]:
        """Columns that must be present."""
        return tuple(c for c, col in TABLES[self.name].columns.items() if col.required)

    @property
    def defaults(self) -> dict[str, str]:
        """Optional columns the clean table always has, each with the value it takes when the extract lacks it."""
        return {
            c: str(col.metadata["default"])
            for c, col in TABLES[self.name].columns.items()
            if (col.metadata or {}).get("default") is not None
        }

    @property
    def pii_columns(self) -> tuple[str, ...]:
        """Columns that hold personal data and must never leave the raw layer."""
        return tuple(c for c, col in TABLES[self.name].columns.items() if (col.metadata or {}).get("pii"))


def table_info(name: str) -> TableInfo:
    """The table-level facts of a contract table.

    Args:
        name: A table name from ``TABLES``.

    Returns:
        Its key, foreign keys, event time and whether it is required.
    """
    meta = TABLES[name].metadata or {}
    return TableInfo(
        name=name,
        required=bool(meta["required"]),
        key=str(meta["key"]),
        foreign_keys=dict(meta["foreign_keys"]),
        event_time=str(meta["event_time"]),
        known_later=tuple(meta["known_later"]),
        revealed_by=dict(meta.get("revealed_by", {})),
        date_order=tuple((later, earlier) for later, earlier in meta.get("date_order", ())),
    )


PII_COLUMNS: frozenset[str] = frozenset(column for name in TABLES for column in table_info(name).pii_columns)
"""Columns of any table that hold personal data (``pii`` metadata): they must never leave the raw layer."""


def controllable(reason: str) -> bool:
    """Whether a cancellation reason is one the desk can act on."""
    return reason in v.CONTROLLABLE_REASONS
