"""The desk's state shared by the API and the rep page: who is calling, where an account is, the published lists.

``Desk`` holds the desk's configuration, the outcomes store, the live planner, the rate
limiter and the lists read so far (one per published version). Territory rules
live here once for both doors: a rep reads and writes only their territories,
and asks only for their own list. An account outside them answers exactly as an
unknown one (404), so the answer tells no one it exists or where.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from fastapi import HTTPException, Request

from serving.agreement import agreement_of
from serving.auth import RateLimiter, Role, User, hash_token
from serving.config import DeskConfig
from serving.formatting import number
from serving.lists import Lists, Published, read_lists, readable_rows
from serving.live_plan import LivePlanner
from serving.night import Night
from serving.notices import day_notices
from serving.outcome_checks import HARD_RULES, account_row, disagreements, request_owners, rule_check
from serving.outcomes import OutcomeIn, OutcomeRefused, desk_today
from serving.store import IdempotencyConflict, OutcomesStore, Recorded

AUTH_SECONDS = 2.0
"""How long an authenticated token is trusted before the store is asked again (the delay of a revocation)."""
BEARER = 'Bearer realm="savedesk"'
Clock = Callable[[], float]


class TokenCache:
    """Users by token for ``seconds``: the store is asked once per token per interval, not on every request.

    Only found users are kept (an unknown token always asks the store), and a
    revoked token stops working at most ``seconds`` after ``savedesk users revoke``.
    """

    def __init__(self, store: OutcomesStore, seconds: float = AUTH_SECONDS, clock: Clock = time.monotonic) -> None:
        """Ask ``store``; keep each answer ``seconds`` by ``clock``."""
        self.store, self.seconds, self.clock = store, seconds, clock
        self._users: dict[str, tuple[User, float]] = {}
        self._lock = threading.Lock()

    def user(self, token: str) -> User | None:
        """The active user holding ``token``, or None."""
        key, now = hash_token(token), self.clock()
        with self._lock:
            known = self._users.get(key)
        if known is not None and now - known[1] < self.seconds:
            return known[0]
        user = self.store.authenticate(token)
        with self._lock:
            if user is None:
                self._users.pop(key, None)
            else:
                if len(self._users) > 10_000:
                    self._users = {k: v for k, v in self._users.items() if now - v[1] < self.seconds}
                self._users[key] = (user, now)
        return user


@dataclass
class Desk:
    """What every request works with: its configuration, store, planner, rate limiter and the lists read so far."""

    config: DeskConfig
    store: OutcomesStore
    planner: LivePlanner
    limiter: RateLimiter
    tokens: TokenCache
    _published: dict[date, Published] = field(default_factory=dict)
    _owners: tuple[tuple[date, str], dict[str, str]] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def authenticate(self, token: str | None) -> User:
        """The user holding ``token``, within their rate limit.

        Raises:
            HTTPException: 401 for a missing, unknown or revoked token; 429 over the rate limit.
        """
        user = self.tokens.user(token) if token else None
        if user is None:
            raise HTTPException(
                401, "A valid bearer token is required.", {"WWW-Authenticate": 'Bearer realm="savedesk"'}
            )
        wait = self.limiter.allow(hash_token(token or ""))
        if wait > 0:
            raise HTTPException(429, "Too many requests: slow down.", {"Retry-After": str(math.ceil(wait))})
        return user

    def territory(self, account_id: str, user: User) -> str:
        """The territory of an account ``user`` may see on the latest published date.

        Raises:
            HTTPException: 404 for an account not in service then or outside the user's territories (the same
                answer: it tells nothing of an account the user may not see); 503 when nothing is published.
        """
        territory = self.night().territory(account_id)
        if territory is None or not user.can_read(territory):
            raise HTTPException(404, unseen(account_id))
        return territory

    def night(self) -> Night:
        """The planner's latest published version (503 when there is none)."""
        try:
            return self.planner.night()
        except LookupError as error:
            raise HTTPException(503, str(error)) from error

    def lists(self, day: date) -> Published:
        """The lists published for ``day`` with their talking points (404 when nothing is published)."""
        try:
            folder = self.config.catalog.resolved(day)
        except FileNotFoundError as error:
            raise HTTPException(404, f"Nothing published for {day}.") from error
        with self._lock:
            known = self._published.get(day)
            if known is not None and known.version == folder.name:
                return known
        loaded = read_lists(folder, day)
        with self._lock:
            self._published[day] = loaded
        return loaded

    def list_json(
        self, day: date, user: User, territory: str | None, rep: str | None, *, cached_only: bool = False
    ) -> bytes | None:
        """The lists of ``day`` as ``user`` may read them, narrowed to ``territory`` and ``rep``, as JSON.

        Each view is built once per published version (None when ``cached_only`` and not built yet).
        """
        if cached_only:
            with self._lock:
                known = self._published.get(day)
            if known is None or known.version != self.config.catalog.version(day):
                return None
            published = known
        else:
            published = self.lists(day)
        scope = tuple(sorted(user.territories)) if user.role == Role.REP else ("*",)
        notices = day_notices(self.config.catalog, day)
        key = (scope, territory, rep, notices)
        view = published.views.get(key)
        if view is None and not cached_only:
            rows = {name: readable_rows(rows, user, territory, rep) for name, rows in published.rows.items()}
            lists = Lists(business_date=day, notice=notices.notice, valuation_notice=notices.valuation_notice, **rows)
            view = lists.model_dump_json().encode()
            if len(published.views) > 10_000:
                published.views.clear()
            published.views[key] = view
        return view

    def record(self, user: User, outcome: OutcomeIn, idempotency_key: str) -> Recorded:
        """Record an outcome of an account the caller may write, once it agrees with the workspace.

        An accepted offer beyond the rep's authority or below the price floor is stored pending a manager's
        approval (``Recorded.approval``); the updated agreement of an accepted offer is kept with it.

        Raises:
            HTTPException: 404 unknown account or another territory; 422 an outcome that disagrees with its
                account (``serving.outcome_checks``), breaks a hard rule (the detail names it: ``rule``), a call
                date after today at the desk or a bad key; 409 the key was used for a different outcome.
        """
        territory = self.territory(outcome.account_id, user)
        if not user.can_write(territory):
            raise HTTPException(404, unseen(outcome.account_id))
        night = self.night()
        owner = self.request_owners(night).get(outcome.request_id) if outcome.request_id is not None else None
        context = night.context
        revenue = context.at[outcome.account_id, "monthly_revenue"] if "monthly_revenue" in context else None
        found = disagreements(outcome, owner, number(revenue), self.config)
        if found:
            raise HTTPException(422, [_invalid_field("body", name, message) for name, message in found])
        account = account_row(context, outcome.account_id)
        rules = rule_check(outcome, account, self.config)  # within the guardrails: held, or refused by a hard rule
        if rules.broken:
            raise HTTPException(422, [_invalid_field("body", f, m) | {"rule": r, "rule_words": HARD_RULES[r]}
                                      for r, f, m in rules.broken])  # fmt: skip
        day = outcome.call_date or desk_today(self.config.time_zone)
        agreement = None if rules.terms is None else agreement_of(outcome, rules.terms, account,
                                                                  self.config.guardrails, day)  # fmt: skip
        try:
            return self.store.record_outcome(
                outcome, user, territory, idempotency_key, held_for=rules.held_for, agreement=agreement
            )
        except IdempotencyConflict as error:
            raise HTTPException(409, str(error)) from error
        except OutcomeRefused as error:
            raise HTTPException(422, [_invalid_field("body", error.field, str(error))]) from error
        except ValueError as error:
            raise HTTPException(422, [_invalid_field("header", "idempotency-key", str(error))]) from error

    def request_owners(self, night: Night) -> dict[str, str]:
        """Every request the desk knows (open or closed) → its account, read once per published version."""
        key = (night.business_date, night.version)
        known = self._owners
        if known is not None and known[0] == key:
            return known[1]
        owners = request_owners(night, self.config.clean)
        self._owners = (key, owners)
        return owners


def unseen(account_id: str) -> str:
    """What a user hears of an account that is not in service or not theirs to see: one sentence for both."""
    return f"No account {account_id} in service in your territories on the latest published date."


def _invalid_field(where: str, name: str, message: str) -> dict[str, Any]:
    return {"loc": [where, name], "field": name, "msg": message, "type": "value_error"}


def check_filters(user: User, territory: str | None, rep: str | None) -> None:
    """403 when a rep asks for a territory that is not theirs or for another rep's list."""
    if territory is not None and not user.can_read(territory):
        raise HTTPException(403, f"{user.name} may not read territory {territory}.")
    if rep is not None and user.role == Role.REP and rep != user.rep_id:
        raise HTTPException(403, f"{user.name} may read only their own list.")


async def desk_of(request: Request) -> Desk:
    """The app's desk."""
    desk: Desk = request.app.state.desk
    return desk
