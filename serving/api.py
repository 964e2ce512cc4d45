"""The desk's HTTP API (``/api/v1``) and the rep web page, over one workspace.

``create_app(config, champions)`` plans with the champion models it is handed, opens the outcomes
store and serves:

- ``GET /api/v1/lists/{date}``: the published inbound, proactive and flip rows
  with their talking points, only of the territories the caller may read;
- ``GET /api/v1/accounts/{account_id}/plan``: the live save plan (``serving.live_plan``);
- ``POST /api/v1/outcomes``: record a call's outcome once per ``Idempotency-Key`` (held for a manager's approval
  beyond the rep's authority or the price floor, 422 naming the rule past a hard one);
- ``POST /api/v1/outcomes/{id}/approval``: a manager approves or rejects a held outcome (``serving.approvals``);
- ``GET /api/v1/models``: the model versions the live plans use, those the published lists name, and whether they
  agree (``serving.plan_models``); ``GET /api/v1/health`` (no token);
- the rep web page (``serving.web``) at ``/``, ``/list`` and ``/accounts/{id}``.

Every API call carries ``Authorization: Bearer <token>`` (401 without a valid
one; a token is trusted for ``serving.desk.AUTH_SECONDS`` before the store is
asked again, so a revocation takes effect within that) and is rate-limited per
token (429 with ``Retry-After``). When the server starts it plans the listed
accounts, then the rest of the book, ahead of the calls (``create_app(warm=...)``):
a plan computed on demand takes a few hundred milliseconds, a planned one is a
dictionary look-up. Bodies larger
than ``DeskConfig.max_body_bytes`` are refused with 413 before anything
parses them. The access log (logger ``savedesk.access``) has one JSON line per
request: method, route template, status, milliseconds and user name; it never
holds a path, a query string, a body or a token, so no account name, phone,
email, address or note can reach it. A store that is busy or unreachable
answers 503 with ``Retry-After``, any other failure 500, each logged without its
message (``serving.failures``): a database's message can quote the notes.
An account outside the caller's territories answers 404, as an unknown one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Path, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException

from models.champions import Champions
from serving.approval_pages import router as approval_pages
from serving.approvals import ApprovalDecided, ApprovalIn, decide
from serving.auth import RateLimiter, User
from serving.config import API, DeskConfig
from serving.desk import Desk, TokenCache, check_filters, desk_of, unseen
from serving.failures import store_failure
from serving.lists import Lists
from serving.live_plan import LivePlanner, Unplannable
from serving.middleware import AccessLog, BodyLimit, ErrorShield, route_of
from serving.outcomes import OutcomeIn
from serving.plan_body import Plan
from serving.plan_models import ModelsInUse, VersionLoader
from serving.store import OutcomesStore
from serving.web import STATIC_DIR, SignIn, page_error, to_sign_in
from serving.web import router as pages

# --- response bodies -------------------------------------------------------------------------------------------------


class OutcomeRecorded(BaseModel):
    """Where an outcome was recorded."""

    outcome_id: int
    created: bool
    """False when this idempotency key had recorded the same outcome before (a replay)."""
    approval: str = "not_needed"
    """``pending``: beyond the rep's authority or the price floor, not a save until a manager approves it."""
    held_for: list[str] = []
    """The rules that held it for approval (``rep_authority``, ``price_floor``)."""


class Health(BaseModel):
    """Whether the server is up and what it serves."""

    status: str
    business_date: date | None
    accounts: int
    """Accounts in service on the latest published date (each can be planned)."""
    plans_ready: int
    """Live plans computed ahead of the calls for the latest published version."""


# --- dependencies ----------------------------------------------------------------------------------------------------

_bearer = HTTPBearer(auto_error=False, description="A user's token (`savedesk users add`).")


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
    503: {"description": "The outcomes store is busy or unreachable, or nothing is published (see Retry-After)"},
}


@router.get("/health", response_model=Health, tags=["desk"])
async def health(desk: TheDesk) -> Health:
    """Up and serving; no token needed."""
    try:
        night = desk.planner.night()
    except LookupError:
        return Health(status="ok", business_date=None, accounts=0, plans_ready=0)
    return Health(status="ok", business_date=night.business_date, accounts=len(night.context),
                  plans_ready=desk.planner.cached)  # fmt: skip


@router.get("/models", response_model=ModelsInUse, tags=["desk"], responses=_REFUSALS)
def models(user: Caller, desk: TheDesk) -> ModelsInUse:
    """The model versions the live plans use, those the published lists were made with, and whether they agree."""
    return desk.planner.models_in_use()


@router.get("/lists/{day}", response_model=Lists, tags=["lists"],
            responses={**_REFUSALS, 403: {"description": "Another territory or rep"},
                       404: {"description": "Nothing published for the date"}})  # fmt: skip
async def lists(
    day: date, user: Caller, desk: TheDesk, territory: str | None = None, rep: str | None = None
) -> Response:
    """The published inbound queue, proactive outreach and flips of a business date, with their talking points.

    Only rows of territories the caller may read; ``territory`` and ``rep`` narrow them further (a rep may ask
    only for their own territories and their own list).
    """
    check_filters(user, territory, rep)
    found = desk.list_json(day, user, territory, rep, cached_only=True)  # read before: answered on the event loop
    if found is None:
        found = await run_in_threadpool(desk.list_json, day, user, territory, rep)
    assert found is not None  # noqa: S101 - computed when not cached
    return Response(found, media_type="application/json")


@router.get("/accounts/{account_id:path}/plan", response_model=Plan, tags=["accounts"],
            responses={**_REFUSALS, 404: {"description": "Unknown on the latest date, or not yours"}})  # fmt: skip
async def plan(account_id: str, user: Caller, desk: TheDesk) -> Response:
    """The live save plan of an account.

    Churn risk, every offer with its value, the recommendation and fallback, the guardrails that applied and the
    talking points. The id may hold any character (percent-encoded in the path, ``/`` as ``%2F``).
    """
    desk.territory(account_id, user)
    found = desk.planner.cached_json(account_id)  # planned ahead: answered on the event loop
    if found is None:
        try:
            found = await run_in_threadpool(desk.planner.plan_json, account_id)
        except Unplannable as error:
            raise HTTPException(404, str(error)) from error
    if found is None:
        raise HTTPException(404, unseen(account_id))
    return Response(found, media_type="application/json")


@router.post("/outcomes", response_model=OutcomeRecorded, status_code=201, tags=["outcomes"],
             responses={**_REFUSALS, 200: {"description": "Replay: this key recorded the same outcome before",
                                           "model": OutcomeRecorded},
                        404: {"description": "Unknown account, or not the caller's"},
                        409: {"description": "The key was used for a different outcome"},
                        413: {"description": "Body too large"},
                        422: {"description": "Invalid field, or one that disagrees with the account"},
                        500: {"description": "The outcomes store failed: nothing was recorded"}})  # fmt: skip
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
    return OutcomeRecorded(outcome_id=recorded.outcome_id, created=recorded.created, approval=recorded.approval,
                           held_for=list(recorded.held_for))  # fmt: skip


@router.post("/outcomes/{outcome_id}/approval", response_model=ApprovalDecided, tags=["outcomes"],
             responses={**_REFUSALS, 403: {"description": "A rep: only a manager approves"},
                        404: {"description": "Unknown outcome, or not the caller's territory"},
                        409: {"description": "Not awaiting approval (decided before, or never held)"},
                        413: {"description": "Body too large"},
                        500: {"description": "The outcomes store failed: nothing was decided"}})  # fmt: skip
def approve_outcome(
    outcome_id: Annotated[int, Path(ge=1, le=2**31 - 1)], body: ApprovalIn, user: Caller, desk: TheDesk
) -> ApprovalDecided:
    """Approve or reject an outcome held for a manager's approval (a manager or admin only); audited."""
    decided = decide(desk, user, outcome_id, body.decision == "approve", body.note)
    return ApprovalDecided(outcome_id=decided.outcome_id, approval=decided.approval, decided_by=decided.decided_by,
                           decided_at=decided.decided_at)  # fmt: skip


# --- the app ---------------------------------------------------------------------------------------------------------


async def _http_error(request: Request, error: Exception) -> Response:
    """An HTTP error: a body the API could not read answers like any invalid body (422); pages get a page."""
    assert isinstance(error, StarletteHTTPException)  # noqa: S101 - registered for this type only
    if error.status_code == 400 and request.url.path.startswith(API):  # FastAPI's "error parsing the body"
        unreadable = {"loc": ["body"], "field": "body", "msg": "The body could not be read: send JSON text in UTF-8.",
                      "type": "json_invalid"}  # fmt: skip
        return JSONResponse({"detail": [unreadable]}, status_code=422)
    return await page_error(request, error)


async def _invalid(request: Request, error: Exception) -> JSONResponse:
    """422 naming each invalid field, without echoing the values sent (they may be notes or names)."""
    assert isinstance(error, RequestValidationError)  # noqa: S101 - registered for this type only
    detail = [
        {"loc": list(e["loc"]), "field": _field(e["loc"], e["msg"]), "msg": e["msg"], "type": e["type"]}
        for e in error.errors()
    ]
    return JSONResponse({"detail": detail}, status_code=422)


def _field(loc: tuple[Any, ...], message: str) -> str:
    """The field an error is about: the end of its location, or for a rule across fields the first one it names."""
    if len(loc) > 1:
        return str(loc[-1])
    named = sorted((message.find(f), f) for f in OutcomeIn.model_fields if f in message)
    return named[0][1] if named else str(loc[-1]) if loc else ""


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


def create_app(
    config: DeskConfig, champions: Champions, *, warm: str = "book", load_versions: VersionLoader | None = None
) -> FastAPI:
    """The API and the rep page over one workspace's desk, planning with ``champions`` until a publication names others.

    Args:
        config: Where the lists and outcomes are, the offers, guardrails and limits.
        champions: The models the live plan starts with (the versions the latest publication names).
        load_versions: Loads the versions a new publication names (``models.tracking.Tracker.load_versions``);
            None: plan with ``champions`` whatever is published (``/api/v1/models`` says when they disagree).
        warm: What to plan ahead when the server starts: ``"book"`` (listed accounts, then every account),
            ``"listed"`` or ``"none"``.
    """
    store = OutcomesStore.open(config.outcomes_url, time_zone=config.time_zone)
    planner = LivePlanner(config, champions, load_versions=load_versions)
    limiter = RateLimiter(config.requests_per_minute)
    desk = Desk(config, store, planner, limiter, TokenCache(store))
    stop = threading.Event()

    async def store_failed(request: Request, error: Exception) -> Response:
        """A store error: 503 (busy or unreachable) or 500, as JSON or a page, logged without its message."""
        assert isinstance(error, SQLAlchemyError)  # noqa: S101 - registered for this type only
        return await page_error(request, store_failure(error, request.method, route_of(request.scope)))

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
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(SignIn, to_sign_in)
    app.add_exception_handler(SQLAlchemyError, store_failed)
    app.include_router(router)
    app.include_router(pages)
    app.include_router(approval_pages)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.add_middleware(ErrorShield)
    app.add_middleware(BodyLimit, max_bytes=config.max_body_bytes)
    app.add_middleware(AccessLog)
    return app
