"""What the API, the rep page and the live plan are configured with: plain values of the serving layer.

``pipelines.services.desk_config`` builds one from the settings; nothing in ``serving`` reads the settings object.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from models.guardrails import GuardrailRules
from models.offers import OfferCatalog
from serving.publication.catalog import PublishedCatalog

API = "/api/v1"
"""Where the HTTP API lives (the rep page links to its docs)."""


@dataclass(frozen=True)
class DeskConfig:
    """One workspace's desk: where its lists are, where outcomes go, the offers and their limits."""

    catalog: PublishedCatalog
    """The published days and the nights' account contexts."""
    outcomes_url: str
    """SQLAlchemy URL of the outcomes store."""
    time_zone: str
    """The desk's time zone: the business date of a call recorded without one."""
    offers: OfferCatalog
    """The offer catalog the live plan prices."""
    guardrails: GuardrailRules
    """The guardrails the live plan applies."""
    requests_per_minute: int = 600
    """Rate limit per token; a request over it gets 429 with Retry-After."""
    max_body_bytes: int = 16_384
    """Larger request bodies are refused with 413 before they are parsed."""
    secure_cookies: bool = False
    """Mark the rep page's session cookie Secure (set behind HTTPS)."""
    clean: Path | None = None
    """The workspace's validated tables (``DIR/clean``): its cancellation requests, open and closed, are the ones an
    outcome may answer, each on its own account. None: only the published night's open requests are known."""
    max_rate_multiple: float = 3.0
    """An outcome's ``new_monthly_rate`` may be at most this many times the account's current monthly rate."""
    max_credit_months: float = 3.0
    """An outcome's ``credit_amount`` may be at most this many months of the account's current monthly rate."""
