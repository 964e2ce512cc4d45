"""What a rep records when a call ends: the offer made, its size, and what the customer did.

``OutcomeIn`` is the API's request body and the outcomes store's input. Its
rules are the contract's rules for a save attempt (``sources.contract.SAVE_ATTEMPTS``),
checked when the rep records the call rather than when the next training run
reads it: a rollback is one of the catalog's sizes (the save model and the
policy know no other), any other offer carries no rollback.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sources.vocabulary import ROLLBACK_PCTS, Offer


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

    account_id: Annotated[str, Field(min_length=1, max_length=64)]
    request_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    offer: Offer
    rollback_pct: Annotated[float, Field(ge=0.0, le=100.0)] = 0.0
    credit_amount: Annotated[float, Field(ge=0.0, le=100_000.0)] = 0.0
    accepted: bool
    new_monthly_rate: Annotated[float, Field(ge=0.0, le=1_000_000.0)] | None = None
    new_term_months: Annotated[int, Field(ge=0, le=120)] | None = None
    flipped: bool = False
    notes: Annotated[str, Field(max_length=2000)] = ""
    call_date: datetime.date | None = None

    @model_validator(mode="after")
    def _rollback_sized_by_catalog(self) -> OutcomeIn:
        if self.offer == "rollback" and self.rollback_pct not in ROLLBACK_PCTS:
            sizes = ", ".join(str(p) for p in ROLLBACK_PCTS)
            raise ValueError(f"rollback_pct of a rollback must be one of the catalog's sizes: {sizes}")
        if self.offer != "rollback" and self.rollback_pct != 0:
            raise ValueError(f"rollback_pct must be 0 when the offer is {self.offer}, not a rollback")
        return self

    def dated(self, time_zone: str) -> OutcomeIn:
        """This outcome with its ``call_date`` filled in: today in ``time_zone`` when the rep left it empty."""
        if self.call_date is not None:
            return self
        return self.model_copy(update={"call_date": desk_today(time_zone)})

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


def desk_today(time_zone: str) -> datetime.date:
    """Today's date at the desk (the business date reps work in), not the server's."""
    return datetime.datetime.now(ZoneInfo(time_zone)).date()
