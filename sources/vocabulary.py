"""The desk's controlled vocabularies: every allowed value of a coded column.

The data contract, the simulator and (later) the offer catalog all read these
tuples, so a new reason or offer is added in exactly one place.
"""

from __future__ import annotations

from typing import Literal, get_args

SEGMENTS = ("residential", "commercial", "industrial", "municipal")

INDUSTRIES = (
    "household",
    "restaurant",
    "retail",
    "office",
    "healthcare",
    "hospitality",
    "education",
    "manufacturing",
    "construction",
    "warehouse",
    "government",
)

STREAMS = ("trash", "recycling", "organics", "roll_off")

CONTAINER_TYPES = ("cart", "front_load", "rear_load", "roll_off", "compactor")

RATE_CHANGE_TYPES = (
    "annual_increase",
    "fuel_surcharge",
    "environmental_fee",
    "rollback",
    "rate_lock_renewal",
)

SERVICE_EVENT_TYPES = (
    "missed_pickup",
    "late_pickup",
    "overage",
    "contamination",
    "damaged_container",
    "fill_audit",
)

CONTACT_CHANNELS = ("phone", "email", "web", "chat")

CONTACT_TYPES = ("complaint", "billing_dispute", "service_request", "inquiry")

CONTACT_TOPICS = ("price", "service", "billing", "container", "other")

CONTROLLABLE_REASONS = (
    "price",
    "service_failure",
    "billing",
    "competitor_offer",
    "contract_terms",
    "over_servicing",
)

UNCONTROLLABLE_REASONS = ("business_closed", "moved_out_of_area", "bankruptcy", "sold")

CANCELLATION_REASONS = CONTROLLABLE_REASONS + UNCONTROLLABLE_REASONS

REQUEST_CHANNELS = ("phone", "email", "web")

REQUEST_RESOLUTIONS = ("saved", "cancelled", "open")

REP_CHANNELS = ("inside_sales", "outside_specialist")

Offer = Literal["contract_education", "service_recovery", "right_size", "rollback", "renewal_rate_lock", "flip"]
"""The kinds of offer a rep can make (the save attempt's ``offer``): the one spelling of the offer list."""

OFFERS: tuple[Offer, ...] = get_args(Offer)

ROLLBACK_PCTS = (5, 10, 15, 20)

CATALOG_OFFERS = tuple(
    offer
    for kind in OFFERS
    for offer in ((f"rollback_{pct}" for pct in ROLLBACK_PCTS) if kind == "rollback" else (kind,))
)
"""Every offer a rep can make, with each rollback size as its own offer."""
