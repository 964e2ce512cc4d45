"""What an outcome must agree with beyond its own fields: its account's requests and what the account pays now.

``OutcomeIn`` checks an outcome alone. Recorded at the desk, it must also agree
with the workspace:

- a ``request_id`` the desk knows must be one of the account's own requests,
  open (the published night's inbound and flip rows, intraday additions
  included) or closed (the workspace's cancellation requests, ``DeskConfig.clean``,
  read once per published version). A request the desk does not know yet (newer
  than the extract) is kept: the training feed places it once an extract holds it.
- money in proportion to the account's current monthly rate (the night's
  ``monthly_revenue``): a new rate at most ``DeskConfig.max_rate_multiple`` times
  it, a credit at most ``DeskConfig.max_credit_months`` months of it.

Each disagreement is a field and a sentence a rep understands; nothing here names another account.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import polars as pl

from features.view import scan_tables
from serving.config import DeskConfig
from serving.formatting import dollars
from serving.night import Night
from serving.outcomes import OutcomeIn

log = logging.getLogger(__name__)


def request_owners(night: Night, clean: Path | None) -> dict[str, str]:
    """Every request the desk knows, open or closed, and the account it belongs to."""
    owners: dict[str, str] = {}
    if clean is not None:
        try:
            table = scan_tables(clean).get("cancellation_requests")
            if table is not None:
                found = table.select("request_id", "account_id").collect()
                owners.update(
                    zip(found["request_id"].cast(pl.String), found["account_id"].cast(pl.String), strict=True)
                )
        except (OSError, pl.exceptions.PolarsError) as error:
            log.warning(
                "Closed requests unreadable in %s (%s): checking open requests only", clean, type(error).__name__
            )
    open_requests = night.requests
    owners.update(zip(open_requests["request_id"].astype(str), open_requests.index.astype(str), strict=True))
    return owners


def disagreements(
    outcome: OutcomeIn, owner: str | None, monthly_revenue: float | None, config: DeskConfig
) -> list[tuple[str, str]]:
    """How ``outcome`` disagrees with its account, as (field, sentence) pairs; empty when it agrees.

    Args:
        outcome: The outcome to record.
        owner: The account its request belongs to; None when the desk does not know the request.
        monthly_revenue: The account's current monthly rate; None (or not positive) skips the money checks.
        config: The declared limits.
    """
    found = []
    if outcome.request_id is not None and owner is not None and owner != outcome.account_id:
        found.append(("request_id", "this request belongs to another account: record the call on the account that "
                                    "asked to cancel, or leave the request empty for a proactive call"))  # fmt: skip
    if monthly_revenue is None or not math.isfinite(monthly_revenue) or monthly_revenue <= 0:
        return found
    rate = dollars(monthly_revenue)
    if outcome.new_monthly_rate is not None and outcome.new_monthly_rate > config.max_rate_multiple * monthly_revenue:
        found.append(("new_monthly_rate", f"the new rate ({dollars(outcome.new_monthly_rate)} a month) is more than "
                                          f"{config.max_rate_multiple:g} times what the account pays now ({rate} a "
                                          "month): check the amount"))  # fmt: skip
    if outcome.credit_amount > config.max_credit_months * monthly_revenue:
        found.append(("credit_amount", f"the credit ({dollars(outcome.credit_amount)}) is more than "
                                       f"{config.max_credit_months:g} months of what the account pays ({rate} a "
                                       "month): check the amount"))  # fmt: skip
    return found
