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

An accepted offer must also stay within the guardrails (``models.guardrails``),
judged on its own terms (``outcome_terms``: the catalog's terms of the offer
made, with the rate and rollback the rep recorded):

- beyond the rep's authority (``rep_authority``) or below the price floor
  (``price_floor``: cost to serve plus the minimum margin, or a cost the desk
  cannot work out) it is *held* for a manager's approval (``RuleCheck.held_for``);
- a rate below the cost to serve the account (``below_cost``) or a service
  change that drops a stream the jurisdiction mandates (``compliance``) is a
  *hard* rule no one may approve: the outcome is refused, naming the rule.

An offer that gives nothing up is never held or refused for its price, and a
declined offer binds nothing, so it is recorded as it is.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

from features.view import scan_tables
from models.guardrails import GUARDRAIL_WORDS, compliance, price_floor, rep_authority
from models.offers import offer_terms
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


HARD_RULES = {
    "below_cost": "a rate below what it costs to serve the account",
    "compliance": GUARDRAIL_WORDS["compliance"],
}
"""The rules no one may approve past, each in a rep's words: an outcome breaking one is refused (422)."""
HOLDING_RULES = {"rep_authority": "the rep's rollback authority", "price_floor": "the price floor"}
"""The rules a manager may approve past: an outcome beyond one is held for approval."""
_BROKEN_FIELD = {"below_cost": "new_monthly_rate", "compliance": "offer"}


@dataclass(frozen=True)
class RuleCheck:
    """What the guardrails say of an outcome: the rules that hold it, the hard rules it breaks, its terms."""

    held_for: tuple[str, ...] = ()
    """``HOLDING_RULES`` codes the outcome is beyond: it waits for a manager's approval."""
    broken: tuple[tuple[str, str, str], ...] = ()
    """(rule, field, sentence) of each ``HARD_RULES`` code it breaks: it is refused."""
    terms: pd.DataFrame | None = None
    """The offer's terms as recorded (one ``offer_terms`` row); None when the desk could not work them out."""


def account_row(context: pd.DataFrame, account_id: str) -> pd.DataFrame:
    """The account's row of the night's context as a one-row frame, its text columns as plain objects.

    A slice of Arrow-backed text columns costs pandas a copy of the whole column at every step of
    ``offer_terms``; plain objects keep the check of one outcome near 20 ms instead of 70.
    """
    row = context.loc[[account_id]]
    return row.astype({c: object for c, d in row.dtypes.items() if getattr(d, "kind", "O") not in "fiubmM"})


def outcome_terms(outcome: OutcomeIn, account: pd.DataFrame, config: DeskConfig) -> pd.DataFrame:
    """The catalog's terms of the offer made, with the rate and rollback the rep recorded: one ``offer_terms`` row.

    Args:
        outcome: The outcome recorded.
        account: The account's row of the night's context (one row).
        config: The offer catalog.

    Raises:
        ValueError: The account's terms cannot be worked out (a column missing, a territory without a cost).
    """
    terms = offer_terms(account, config.offers)
    name = f"rollback_{outcome.rollback_pct:g}" if outcome.offer == "rollback" else outcome.offer
    row = terms[terms["offer"] == name]
    if row.empty:  # a rollback size this catalog does not price: the account's unchanged terms, rolled back
        row = terms[terms["offer"] == "contract_education"]
    row = row.iloc[[0]].reset_index(drop=True)
    revenue = float(row["monthly_revenue"].iloc[0])
    priced = revenue * (1 - outcome.rollback_pct / 100) if name not in set(terms["offer"]) else None
    rate = outcome.new_monthly_rate
    if rate is None:
        rate = priced if priced is not None else float(row["new_monthly_rate"].iloc[0])
    term = outcome.new_term_months if outcome.new_term_months is not None else row["new_term_months"].iloc[0]
    return row.assign(offer=name, rollback_pct=outcome.rollback_pct, new_monthly_rate=rate,
                      concession_monthly=revenue - rate, new_term_months=term)  # fmt: skip


def rule_check(outcome: OutcomeIn, account: pd.DataFrame, config: DeskConfig) -> RuleCheck:
    """The guardrails' word on an accepted outcome (a declined one binds nothing: an empty check).

    A cost the desk cannot work out holds the outcome at the price floor (a rule that cannot check blocks, as
    the guardrails do), and breaks no hard rule.
    """
    if not outcome.accepted or outcome.offer == "flip":
        return RuleCheck()
    rules = config.guardrails
    try:
        terms = outcome_terms(outcome, account, config)
    except (ValueError, KeyError) as error:
        log.warning("Outcome terms not worked out (%s): held at the price floor", type(error).__name__)
        beyond: tuple[str, ...] = ("rep_authority",) if outcome.rollback_pct > rules.rep_max_rollback_pct else ()
        return RuleCheck(held_for=(*beyond, "price_floor"))
    held = tuple(code for code, check in (("rep_authority", rep_authority), ("price_floor", price_floor))
                 if not bool(check(terms, rules).allowed.iloc[0]))  # fmt: skip
    broken = []
    rate, cost = (float(terms[c].iloc[0]) for c in ("new_monthly_rate", "monthly_cost_to_serve"))
    if float(terms["concession_monthly"].iloc[0]) > 0 and np.isfinite(cost) and rate < cost:
        broken.append(("below_cost", f"{dollars(rate)} a month is below what it costs to serve the account "
                                     f"({dollars(cost)} a month): no one can approve it; record the rate agreed "
                                     "or offer something else"))  # fmt: skip
    if outcome.offer in rules.service_change_offers and not bool(compliance(terms, rules).allowed.iloc[0]):
        broken.append(("compliance", "this service change leaves out a stream the account's jurisdiction mandates "
                                     "(for example recycling or organics): it cannot be agreed"))  # fmt: skip
    found = tuple((rule, _BROKEN_FIELD[rule], sentence) for rule, sentence in broken)
    return RuleCheck(held_for=held, broken=found, terms=terms)
