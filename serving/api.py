"""The desk's HTTP API (``/api/v1``) and the rep web page, over one workspace.

``create_app(settings)`` loads the champion models once, opens the outcomes
store and serves:

- ``GET /api/v1/lists/{date}``: the published inbound, proactive and flip rows
  with their talking points, only of the territories the caller may read;
- ``GET /api/v1/accounts/{account_id}/plan``: the live save plan (``serving.live_plan``);
- ``POST /api/v1/outcomes``: record a call's outcome once per ``Idempotency-Key``;
- ``GET /api/v1/models``: the model versions in use; ``GET /api/v1/health`` (no token);
- the rep web page (``serving.web``) at ``/``, ``/list`` and ``/accounts/{id}``.

Every API call carries ``Authorization: Bearer <token>`` (401 without a valid
one) and is rate-limited per token (429 with ``Retry-After``). Bodies larger
than ``settings.serving.max_body_bytes`` are refused with 413 before anything
parses them. The access log (logger ``savedesk.access``) has one JSON line per
request: method, route template, status, milliseconds and user name; it never
holds a path, a query string, a body or a token, so no account name, phone,
email, address or note can reach it.
"""

from __future__ import annotations

import builtins
import json
import logging
import math
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict

from pipelines.publish import published_dir
from pipelines.settings import Settings
from serving.auth import RateLimiter, Role, User, hash_token
from serving.live_plan import LivePlanner, Plan, load_champions
from serving.outcomes import OutcomeIn
from serving.store import IdempotencyConflict, OutcomesStore, Recorded

API = "/api/v1"
AUTH_SECONDS = 2.0
"""How long an authenticated token is trusted before the store is asked again (the delay of a revocation)."""
BEARER = 'Bearer realm="savedesk"'
ACCESS_LOG = logging.getLogger("savedesk.access")
Clock = Callable[[], float]
LISTS = {"inbound": "inbound.parquet", "proactive": "proactive.parquet", "flips": "flips.parquet"}
ROW_FIELDS = (
    "list", "list_key", "rep_id", "rank", "due_date", "batch", "request_id", "account_id", "territory", "segment",
    "reason", "request_date", "churn_probability", "offer", "p_save", "expected_net_value", "saveable_value",
    "rollback_pct", "fallback_offer", "reason_codes", "guardrail_note",
)  # fmt: skip
"""The columns of a listed row the API sends (an allow-list: nothing else of the published frames leaves)."""


# --- response bodies -------------------------------------------------------------------------------------------------


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


class Lists(BaseModel):
    """A business date's published lists, as far as the caller may read them."""

    business_date: date
    inbound: list[ListedRow]
    proactive: list[ListedRow]
    flips: list[ListedRow]


class OutcomeRecorded(BaseModel):
    """Where an outcome was recorded."""

    outcome_id: int
    created: bool
    """False when this idempotency key had recorded the same outcome before (a replay)."""


class Health(BaseModel):
    """Whether the server is up and what it serves."""

    status: str
    business_date: date | None
    accounts: int
    """Accounts in service on the latest published date (each can be planned)."""
    plans_ready: int
    """Live plans computed ahead of the calls for the latest published version."""


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


# --- the desk: state shared by the API and the page -------------------------------------------------------------------


@dataclass(frozen=True)
class Published:
    """One published version of a date's lists, ready to filter."""

    business_date: date
    version: str
    rows: dict[str, list[ListedRow]]


@dataclass
class Desk:
    """What every request works with: settings, store, planner, rate limiter and the published lists read so far."""

    settings: Settings
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

    def night(self) -> Any:
        """The planner's latest published version (503 when there is none)."""
        try:
            return self.planner.night()
        except LookupError as error:
            raise HTTPException(503, str(error)) from error

    def lists(self, day: date) -> Published:
        """The lists published for ``day`` with their talking points (404 when nothing is published)."""
        try:
            folder = published_dir(self.settings.published_dir, day)
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
    points = pd.read_parquet(folder / "talking_points.parquet")
    said: dict[str, list[ListedPoint]] = {}
    for record in _records(points):
        said.setdefault(str(record["list_key"]), []).append(ListedPoint.model_validate(_clean(record)))
    rows = {}
    for name, file in LISTS.items():
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


# --- dependencies ----------------------------------------------------------------------------------------------------

_bearer = HTTPBearer(auto_error=False, description="A user's token (`savedesk users add`).")


async def desk_of(request: Request) -> Desk:
    """The app's desk."""
    desk: Desk = request.app.state.desk
    return desk


async def api_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    desk: Annotated[Desk, Depends(desk_of)],
) -> User:
    """The caller, from the bearer token (401/429 otherwise); named in the access log.

    Async, like the plan's route: a known token is a dictionary look-up, not worth a hop to a worker thread.
    """
    user = desk.authenticate(credentials.credentials if credentials else None)
    request.state.user = user.name
    return user


Caller = Annotated[User, Depends(api_user)]
TheDesk = Annotated[Desk, Depends(desk_of)]

router = APIRouter(prefix=API)
_REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No token, or an unknown or revoked one"},
    429: {"description": "Over the token's rate limit (see Retry-After)"},
}


@router.get("/health", response_model=Health, tags=["desk"])
def health(desk: TheDesk) -> Health:
    """Up and serving; no token needed."""
    try:
        night = desk.planner.night()
    except LookupError:
        return Health(status="ok", business_date=None, accounts=0, plans_ready=0)
    return Health(status="ok", business_date=night.business_date, accounts=len(night.context),
                  plans_ready=desk.planner.cached)  # fmt: skip


@router.get("/models", tags=["desk"], responses=_REFUSALS)
def models(user: Caller, desk: TheDesk) -> dict[str, dict[str, Any]]:
    """The champion models the live plans use (name, version, alias)."""
    return desk.planner.champions.versions


@router.get("/lists/{day}", response_model=Lists, tags=["lists"],
            responses={**_REFUSALS, 403: {"description": "Another territory or rep"},
                       404: {"description": "Nothing published for the date"}})  # fmt: skip
def lists(day: date, user: Caller, desk: TheDesk, territory: str | None = None, rep: str | None = None) -> Lists:
    """The published inbound queue, proactive outreach and flips of a business date, with their talking points.

    Only rows of territories the caller may read; ``territory`` and ``rep`` narrow them further (a rep may ask
    only for their own territories and their own list).
    """
    check_filters(user, territory, rep)
    published = desk.lists(day)
    return Lists(
        business_date=day, **{name: readable_rows(rows, user, territory, rep) for name, rows in published.rows.items()}
    )


@router.get("/accounts/{account_id}/plan", response_model=Plan, tags=["accounts"],
            responses={**_REFUSALS, 403: {"description": "Another territory"},
                       404: {"description": "Not in service on the latest published date"}})  # fmt: skip
async def plan(account_id: str, user: Caller, desk: TheDesk) -> Response:
    """The live save plan of an account.

    Churn risk, every offer with its value, the recommendation and fallback, the guardrails that applied and the
    talking points.
    """
    territory = desk.territory(account_id)
    if not user.can_read(territory):
        raise HTTPException(403, f"{user.name} may not read territory {territory}.")
    found = desk.planner.cached_json(account_id)  # planned ahead: answered on the event loop
    if found is None:
        found = await run_in_threadpool(desk.planner.plan_json, account_id)
    if found is None:
        raise HTTPException(404, f"Account {account_id} is not in service on the latest published date.")
    return Response(found, media_type="application/json")


@router.post("/outcomes", response_model=OutcomeRecorded, status_code=201, tags=["outcomes"],
             responses={**_REFUSALS, 200: {"description": "Replay: this key recorded the same outcome before",
                                           "model": OutcomeRecorded},
                        403: {"description": "Another territory"}, 404: {"description": "Unknown account"},
                        409: {"description": "The key was used for a different outcome"},
                        413: {"description": "Body too large"}, 422: {"description": "Invalid field"}})  # fmt: skip
def record_outcome(
    outcome: OutcomeIn,
    response: Response,
    user: Caller,
    desk: TheDesk,
    idempotency_key: Annotated[str, Header(min_length=1, max_length=128)],
) -> OutcomeRecorded:
    """Record a call's outcome; a retry with the same ``Idempotency-Key`` records nothing new (200)."""
    recorded = desk.record(user, outcome, idempotency_key)
    response.status_code = 201 if recorded.created else 200
    return OutcomeRecorded(outcome_id=recorded.outcome_id, created=recorded.created)


# --- middleware ------------------------------------------------------------------------------------------------------

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyLimit:
    """Refuse a body larger than ``max_bytes`` with 413 before the app sees any of it.

    A declared ``Content-Length`` over the limit is refused at once; a streamed
    body is read up to the limit (and refused past it), then handed to the app.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        """Wrap ``app``."""
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check, buffer and pass on the request."""
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await _too_large(send, self.max_bytes)
            return
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                await _too_large(send, self.max_bytes)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)


async def _too_large(send: Send, limit: int) -> None:
    body = json.dumps({"detail": f"The request body is larger than {limit} bytes."}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"connection", b"close")]  # fmt: skip
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class AccessLog:
    """One JSON line per request: method, route template, status, milliseconds, user name; nothing else."""

    def __init__(self, app: ASGIApp) -> None:
        """Wrap ``app``."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Time the request and log it when the response has gone."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            user = (scope.get("state") or {}).get("user", "-")
            line = {"method": scope["method"], "route": route, "status": status,
                    "ms": round(1000 * (time.perf_counter() - start), 2), "user": user}  # fmt: skip
            ACCESS_LOG.info(json.dumps(line, sort_keys=True))


# --- the app ---------------------------------------------------------------------------------------------------------


async def _invalid(request: Request, error: Exception) -> JSONResponse:
    """422 naming each invalid field, without echoing the values sent (they may be notes or names)."""
    assert isinstance(error, RequestValidationError)  # noqa: S101 - registered for this type only
    detail = [
        {"loc": list(e["loc"]), "field": str(e["loc"][-1]) if e["loc"] else "", "msg": e["msg"], "type": e["type"]}
        for e in error.errors()
    ]
    return JSONResponse({"detail": detail}, status_code=422)


def listed_accounts(desk: Desk) -> list[str]:
    """The accounts on the latest published lists: the ones reps will open first."""
    night = desk.planner.night()
    published = desk.lists(night.business_date)
    return [r.account_id for rows in published.rows.values() for r in rows]


def _warm(desk: Desk, stop: threading.Event, book: bool) -> None:
    """Plan the listed accounts ahead of the calls, then (``book``) the rest of the book, until stopped."""
    logger = logging.getLogger("savedesk.serve")
    try:
        listed = list(dict.fromkeys(listed_accounts(desk)))
        seen = set(listed)
        rest = [a for a in desk.planner.night().context.index if a not in seen] if book else []
        start = time.perf_counter()
        order = listed + rest
        for chunk in [order[i : i + 256] for i in range(0, len(order), 256)]:
            if stop.is_set():
                return
            desk.planner.warm(chunk)
        logger.info("Planned %d accounts ahead in %.1f s", desk.planner.cached, time.perf_counter() - start)
    except (LookupError, HTTPException, OSError) as error:
        logger.warning("Could not plan ahead: %s", getattr(error, "detail", error))


def create_app(settings: Settings, *, warm: str = "book") -> FastAPI:
    """The API and the rep page over ``settings``' workspace.

    Args:
        settings: The workspace's settings (``settings.serving`` for limits).
        warm: What to plan ahead when the server starts: ``"book"`` (listed accounts, then every account),
            ``"listed"`` or ``"none"``.
    """
    from fastapi.staticfiles import StaticFiles
    from starlette.exceptions import HTTPException as StarletteHTTPException

    from serving.web import STATIC_DIR, SignIn, page_error, to_sign_in
    from serving.web import router as pages

    champions = load_champions(settings)
    store = OutcomesStore.open(settings.outcomes_database_url, time_zone=settings.nightly.time_zone)
    planner, limiter = LivePlanner(settings, champions), RateLimiter(settings.serving.requests_per_minute)
    desk = Desk(settings, store, planner, limiter, TokenCache(store))
    stop = threading.Event()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if warm != "none":
            threading.Thread(target=_warm, args=(desk, stop, warm == "book"), daemon=True, name="plan-ahead").start()
        yield
        stop.set()
        store.dispose()

    app = FastAPI(
        title="savedesk",
        version="1",
        summary="Call lists, live save plans and call outcomes for the retention desk.",
        docs_url=f"{API}/docs",
        openapi_url=f"{API}/openapi.json",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.desk = desk
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(StarletteHTTPException, page_error)
    app.add_exception_handler(SignIn, to_sign_in)
    app.include_router(router)
    app.include_router(pages)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(BodyLimit, max_bytes=settings.serving.max_body_bytes)
    app.add_middleware(AccessLog)
    return app
