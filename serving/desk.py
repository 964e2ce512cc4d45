"""The desk's state shared by the API and the rep page: who is calling, where an account is, the published lists.

``Desk`` holds the desk's configuration, the outcomes store, the live planner, the rate
limiter and the lists read so far (one per published version). Territory rules
live here once for both doors: a rep reads and writes only their territories
(403 elsewhere), and asks only for their own list.
"""

from __future__ import annotations

import builtins
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
from fastapi import HTTPException, Request
from pydantic import BaseModel, ConfigDict

from serving.auth import RateLimiter, Role, User, hash_token
from serving.config import DeskConfig
from serving.live_plan import LivePlanner
from serving.night import Night
from serving.outcomes import OutcomeIn
from serving.publication.catalog import LIST_FILES, TALKING_POINTS_FILE
from serving.store import IdempotencyConflict, OutcomesStore, Recorded

AUTH_SECONDS = 2.0
"""How long an authenticated token is trusted before the store is asked again (the delay of a revocation)."""
BEARER = 'Bearer realm="savedesk"'
Clock = Callable[[], float]
ROW_FIELDS = (
    "list", "list_key", "rep_id", "rank", "due_date", "batch", "request_id", "account_id", "territory", "segment",
    "reason", "request_date", "churn_probability", "offer", "p_save", "expected_net_value", "saveable_value",
    "rollback_pct", "fallback_offer", "reason_codes", "guardrail_note",
)  # fmt: skip
"""The columns of a listed row the API sends (an allow-list: nothing else of the published frames leaves)."""


class ListedPoint(BaseModel):
    """A talking point of a listed row."""

    kind: str
    rank: int
    feature: str | None = None
    direction: str = ""
    sentence: str


class ListedRow(BaseModel):
    """One row of a published list."""

    model_config = ConfigDict(extra="ignore")

    list: str
    list_key: str
    rep_id: str
    rank: int
    due_date: date | None = None
    batch: str | None = None
    request_id: str | None = None
    account_id: str
    territory: str
    segment: str | None = None
    reason: str | None = None
    request_date: date | None = None
    churn_probability: float | None = None
    offer: str | None = None
    p_save: float | None = None
    expected_net_value: float | None = None
    saveable_value: float | None = None
    rollback_pct: float | None = None
    fallback_offer: str | None = None
    reason_codes: str | None = None
    guardrail_note: str | None = None
    talking_points: builtins.list[ListedPoint] = []


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


class Lists(BaseModel):
    """A business date's published lists, as far as the caller may read them."""

    business_date: date
    inbound: builtins.list[ListedRow]
    proactive: builtins.list[ListedRow]
    flips: builtins.list[ListedRow]


@dataclass(frozen=True)
class Published:
    """One published version of a date's lists, ready to filter, and the filtered views sent so far (as JSON)."""

    business_date: date
    version: str
    rows: dict[str, list[ListedRow]]
    views: dict[tuple[Any, ...], bytes] = field(default_factory=dict)


@dataclass
class Desk:
    """What every request works with: its configuration, store, planner, rate limiter and the lists read so far."""

    config: DeskConfig
    store: OutcomesStore
    planner: LivePlanner
    limiter: RateLimiter
    tokens: TokenCache
    _published: dict[date, Published] = field(default_factory=dict)
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

    def territory(self, account_id: str) -> str:
        """The account's territory on the latest published date.

        Raises:
            HTTPException: 404 for an account not in service then; 503 when nothing is published.
        """
        territory = self.night().territory(account_id)
        if territory is None:
            raise HTTPException(404, f"Account {account_id} is not in service on the latest published date.")
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
        key = (scope, territory, rep)
        view = published.views.get(key)
        if view is None and not cached_only:
            rows = {name: readable_rows(rows, user, territory, rep) for name, rows in published.rows.items()}
            view = Lists(business_date=day, **rows).model_dump_json().encode()
            if len(published.views) > 10_000:
                published.views.clear()
            published.views[key] = view
        return view

    def record(self, user: User, outcome: OutcomeIn, idempotency_key: str) -> Recorded:
        """Record an outcome after checking the caller may write the account's territory.

        Raises:
            HTTPException: 404 unknown account, 403 another territory, 422 a request of another account,
                409 the key was used for a different outcome.
        """
        territory = self.territory(outcome.account_id)
        if not user.can_write(territory):
            raise HTTPException(403, f"{user.name} may not record outcomes for territory {territory}.")
        requests = self.night().requests
        if outcome.request_id is not None and outcome.request_id in set(requests["request_id"]):
            owner = requests.index[requests["request_id"] == outcome.request_id][0]
            if owner != outcome.account_id:
                raise HTTPException(
                    422, [_invalid_field("body", "request_id", "the request belongs to another account")]
                )
        try:
            return self.store.record_outcome(outcome, user, territory, idempotency_key)
        except IdempotencyConflict as error:
            raise HTTPException(409, str(error)) from error
        except ValueError as error:
            raise HTTPException(422, [_invalid_field("header", "idempotency-key", str(error))]) from error


def _invalid_field(where: str, name: str, message: str) -> dict[str, Any]:
    return {"loc": [where, name], "field": name, "msg": message, "type": "value_error"}


def read_lists(folder: Path, day: date) -> Published:
    """A published folder's three lists, each row with its talking points, in list order."""
    points = pd.read_parquet(folder / TALKING_POINTS_FILE)
    said: dict[str, list[ListedPoint]] = {}
    for record in _records(points):
        said.setdefault(str(record["list_key"]), []).append(ListedPoint.model_validate(_clean(record)))
    rows = {}
    for name, file in LIST_FILES.items():
        frame = pd.read_parquet(folder / file) if (folder / file).is_file() else pd.DataFrame()
        frame = frame[[c for c in ROW_FIELDS if c in frame]]
        rows[name] = [
            ListedRow.model_validate({**_clean(r), "talking_points": said.get(str(r["list_key"]), [])})
            for r in _records(frame)
        ]
    return Published(day, folder.name, rows)


def readable_rows(rows: list[ListedRow], user: User, territory: str | None, rep: str | None) -> list[ListedRow]:
    """The rows ``user`` may read, of ``territory`` and ``rep`` when given."""
    return [
        r for r in rows if user.can_read(r.territory) and territory in (None, r.territory) and rep in (None, r.rep_id)
    ]


def check_filters(user: User, territory: str | None, rep: str | None) -> None:
    """403 when a rep asks for a territory that is not theirs or for another rep's list."""
    if territory is not None and not user.can_read(territory):
        raise HTTPException(403, f"{user.name} may not read territory {territory}.")
    if rep is not None and user.role == Role.REP and rep != user.rep_id:
        raise HTTPException(403, f"{user.name} may read only their own list.")


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    columns = {str(c): frame[c].tolist() for c in frame.columns}
    return [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def _clean(record: dict[str, Any]) -> dict[str, Any]:
    """A record with missing values as None and timestamps as days."""
    out: dict[str, Any] = {}
    for key, value in record.items():
        if value is None or (not isinstance(value, str | list | dict) and pd.isna(value)):
            out[key] = None
        elif isinstance(value, pd.Timestamp):
            out[key] = value.date()
        else:
            out[key] = value
    return out


async def desk_of(request: Request) -> Desk:
    """The app's desk."""
    desk: Desk = request.app.state.desk
    return desk
