"""What a rep records when a call ends: the offer made, its size, and what the customer did.

``OutcomeIn`` is the API's request body and the outcomes store's input. Its
rules are the contract's rules for a save attempt (``sources.contract.SAVE_ATTEMPTS``),
checked when the rep records the call rather than when the next training run
reads it: a rollback is one of the catalog's sizes (the save model and the
policy know no other), any other offer carries no rollback.

Where data enters, it is also checked for what would break a later reader: a call
date in the desk's range (``EARLIEST_CALL_DATE`` to today at the desk plus
``CALL_DATE_TOLERANCE``; a date pandas cannot hold once stopped every nightly
run), and text without control characters (a NUL byte cannot be stored in
PostgreSQL; an escape sequence in an id or a note only deceives whoever reads it).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import unicodedata
from enum import StrEnum
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from sources.vocabulary import ROLLBACK_PCTS, Offer

EARLIEST_CALL_DATE = datetime.date(2000, 1, 1)
"""No call is recorded before this day (an older date is a typing error, or a placeholder such as 0001-01-01)."""
CALL_DATE_TOLERANCE = datetime.timedelta(days=1)
"""How far past today at the desk a call date may be (a CRM's clock, a call at midnight); later is refused."""
_LATEST_OFFSET = datetime.timedelta(hours=14)
"""UTC+14, the earliest time zone: today there is the latest today anywhere (the check that needs no zone)."""
_NOTE_CONTROLS_ALLOWED = frozenset("\t\n\r")
_NO_TEXT = frozenset({"Cc", "Cs"})
"""Unicode categories no stored text may hold: control characters and lone surrogates (neither can be stored)."""
_NO_ID = _NO_TEXT | {"Cf", "Zl", "Zp"}
"""An id also holds no invisible formatting (bidi overrides, zero-width) and no line breaks."""


class Approval(StrEnum):
    """Where an outcome stands with the guardrails: a save counts only once it stands.

    An accepted outcome beyond the rep's authority or below the price floor is
    held for a manager (``PENDING``) until one approves or rejects it; an
    outcome within the rules, or recorded by a manager, needs no one else.
    """

    NOT_NEEDED = "not_needed"
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


STANDING = (Approval.NOT_NEEDED.value, Approval.APPROVED.value)
"""The approvals of outcomes that count (training, the desk's figures); pending and rejected ones do not."""


class OutcomeRefused(ValueError):
    """An outcome the desk will not store; ``field`` names what to correct, the message says why."""

    def __init__(self, field: str, message: str) -> None:
        """Refuse ``field`` with ``message`` (a sentence a rep understands)."""
        super().__init__(message)
        self.field = field


def _unwanted(value: str, categories: frozenset[str], allowed: frozenset[str] = frozenset()) -> str | None:
    """The first character of ``value`` of one of ``categories`` (and not ``allowed``), as U+XXXX; None if none."""
    for char in value:
        if char not in allowed and unicodedata.category(char) in categories:
            return f"U+{ord(char):04X}"
    return None


def _identifier(value: str) -> str:
    found = _unwanted(value, _NO_ID)
    if found:
        raise ValueError(f"an id must not contain control or invisible characters (found {found})")
    return value


def _note(value: str) -> str:
    found = _unwanted(value, _NO_TEXT, _NOTE_CONTROLS_ALLOWED)
    if found:
        raise ValueError(f"notes must not contain control characters other than tabs and line breaks (found {found})")
    return value


def printable_key(key: str) -> bool:
    """Whether an idempotency key holds no control, invisible or unstorable character."""
    return _unwanted(key, _NO_ID) is None


Identifier = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_identifier)]
Note = Annotated[str, Field(max_length=2000), AfterValidator(_note)]
"""Free text for the desk (an outcome's notes, a manager's note on a decision): tabs and line breaks, no controls."""


class OutcomeIn(BaseModel):
    """One call's outcome as the rep records it.

    Attributes:
        account_id: The account called.
        request_id: The cancellation request answered; None for a proactive call.
        offer: The offer made.
        rollback_pct: Size of a rollback, in % of the monthly rate (one of the catalog's sizes); 0 otherwise.
        credit_amount: One-off credit given, in dollars.
        accepted: Whether the customer accepted the offer on the call.
        new_monthly_rate: The account's monthly rate if the offer was accepted, in dollars.
        new_term_months: Term of the new agreement, when the offer re-signs one.
        flipped: Whether the call was handed to the territory's outside save specialist.
        notes: Free text for the desk; stored, never logged.
        call_date: Day of the call; None means today in the desk's time zone (``dated``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    account_id: Identifier
    request_id: Identifier | None = None
    offer: Offer
    rollback_pct: Annotated[float, Field(ge=0.0, le=100.0)] = 0.0
    credit_amount: Annotated[float, Field(ge=0.0, le=100_000.0)] = 0.0
    accepted: bool
    new_monthly_rate: Annotated[float, Field(ge=0.0, le=1_000_000.0)] | None = None
    new_term_months: Annotated[int, Field(ge=0, le=120)] | None = None
    flipped: bool = False
    notes: Note = ""
    call_date: datetime.date | None = None

    @model_validator(mode="after")
    def _rollback_sized_by_catalog(self) -> OutcomeIn:
        if self.offer == "rollback" and self.rollback_pct not in ROLLBACK_PCTS:
            sizes = ", ".join(str(p) for p in ROLLBACK_PCTS)
            raise ValueError(f"rollback_pct of a rollback must be one of the catalog's sizes: {sizes}")
        if self.offer != "rollback" and self.rollback_pct != 0:
            raise ValueError(f"rollback_pct must be 0 when the offer is {self.offer}, not a rollback")
        return self

    @field_validator("call_date")
    @classmethod
    def _call_date_in_range(cls, day: datetime.date | None) -> datetime.date | None:
        if day is not None:
            _check_call_date(day, latest_call_date())
        return day

    def dated(self, time_zone: str) -> OutcomeIn:
        """This outcome with its ``call_date`` filled in: today in ``time_zone`` when the rep left it empty.

        Raises:
            OutcomeRefused: The call date is later than today at the desk (plus ``CALL_DATE_TOLERANCE``).
        """
        today = desk_today(time_zone)
        if self.call_date is None:
            return self.model_copy(update={"call_date": today})
        try:
            _check_call_date(self.call_date, today + CALL_DATE_TOLERANCE)
        except ValueError as error:
            raise OutcomeRefused("call_date", str(error)) from None
        return self

    def fingerprint(self, user_name: str) -> str:
        """SHA-256 of the payload as sent and who sent it: what a retry with the same idempotency key must match.

        The undated payload is hashed, so a retry sent after midnight still
        matches its first attempt.
        """
        canonical = json.dumps(
            {"user": user_name, "outcome": self.model_dump(mode="json")}, sort_keys=True, separators=(",", ":")
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


OUTCOME_FIELDS = tuple(OutcomeIn.model_fields)
"""The recorded fields, in the order of the store's columns."""


def latest_call_date() -> datetime.date:
    """The latest call date anywhere, without the desk's zone: today on Earth's earliest clock plus the tolerance.

    ``OutcomeIn.dated`` checks the stricter bound, today at the desk.
    """
    return (datetime.datetime.now(datetime.UTC) + _LATEST_OFFSET).date() + CALL_DATE_TOLERANCE


def _check_call_date(day: datetime.date, latest: datetime.date) -> None:
    if day < EARLIEST_CALL_DATE:
        raise ValueError(f"call_date {day} is before {EARLIEST_CALL_DATE}, the earliest day the desk records")
    if day > latest:
        raise ValueError(
            f"call_date {day} is in the future: record a call on the day it happened (at the latest {latest})"
        )


def desk_today(time_zone: str) -> datetime.date:
    """Today's date at the desk (the business date reps work in), not the server's."""
    return datetime.datetime.now(ZoneInfo(time_zone)).date()
