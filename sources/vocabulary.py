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

CALL_OUTCOMES = ("reached", "voicemail", "no_answer")
"""How a proactive call ended (``proactive_calls.outcome``): only a reached customer heard the offer."""

Offer = Literal[
    "contract_education",
    "service_recovery",
    "right_size",
    "rollback",
    "renewal_rate_lock",
    "flip",
    "convert",
    "add_stream",
    "right_size_renewal",
    "compactor_lease",
]
"""The kinds of offer a rep can make (the save attempt's ``offer``): the one spelling of the offer list.

``convert`` secures a sold business's new owner, or a moving business's new
address, as an account; ``add_stream`` adds a recycling or organics line the
account lacks (first one its jurisdiction mandates); ``right_size_renewal`` is a
right-size signed with a new term; ``compactor_lease`` leases a compactor to a
large commercial or industrial account so its biggest line is lifted less often.
"""

OFFER_PURPOSES: dict[str, str] = {
    "contract_education": "save",
    "service_recovery": "save",
    "right_size": "save",
    "rollback": "save",
    "flip": "save",
    "renewal_rate_lock": "secure",
    "add_stream": "secure",
    "right_size_renewal": "secure",
    "compactor_lease": "secure",
    "convert": "convert",
}
"""What each kind of offer does for the desk: *save* the account as it is, *secure* it (a new term or a
consultative change of service), or *convert* a leaving business into the account of its new owner or address."""

CONVERTIBLE_REASONS = ("sold", "moved_out_of_area")
"""The uncontrollable reasons a ``convert`` answers: the business has a new owner, or a new address."""

OFFERS: tuple[Offer, ...] = get_args(Offer)

ROLLBACK_PCTS = (5, 10, 15, 20)

CATALOG_OFFERS = tuple(
    offer
    for kind in OFFERS
    for offer in ((f"rollback_{pct}" for pct in ROLLBACK_PCTS) if kind == "rollback" else (kind,))
)
"""Every offer a rep can make, with each rollback size as its own offer."""
