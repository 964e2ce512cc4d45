"""The rep web page: sign in with a token, the day's list, the live plan of an account, and the outcome form.

Server-rendered (Jinja2 templates in ``serving/templates``, one stylesheet with
a print layout in ``serving/static``), no JavaScript. The token lives in an
HttpOnly, SameSite=Lax cookie, every form is checked for its origin and its
session's form token (``serving.session``). The outcome form carries an
idempotency key generated when the page is rendered: a double submit records
the outcome once, and the page then shows what was recorded. Every account id
a page puts in a link is percent-encoded (``url_part``), so any id opens.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import pandas as pd
from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from models.point_wording import GUARDRAIL, KIND_LABELS
from models.policy import RECOMMENDATION_WORDS
from serving.approvals import held_words
from serving.auth import Role, User
from serving.config import API
from serving.desk import Desk, check_filters, desk_of, unseen
from serving.formatting import dollars, percent, words
from serving.lists import ListedPoint, readable_rows
from serving.live_plan import Unplannable
from serving.notices import day_notices
from serving.outcomes import OutcomeIn
from serving.plan_body import TalkingPoint, deal_for
from serving.plan_models import footer
from serving.session import COOKIE, CSRF_FIELD, check_form_token, check_origin, forget, keep, page_form_token
from sources.vocabulary import OFFERS, ROLLBACK_PCTS

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"


def live_points(points: Iterable[ListedPoint | TalkingPoint]) -> list[dict[str, str]]:
    """A listed row's or a plan's talking points as the live pages show them (``_talking_points.html``).

    Every point but the guardrail's (the note is shown with the offer), labelled by kind, its direction as its class;
    its kind and audience go along (the opening is quoted, a rep-only point is marked).
    """
    return [
        {
            "label": KIND_LABELS.get(p.kind, ""),
            "css": p.direction,
            "sentence": p.sentence,
            "kind": p.kind,
            "audience": p.audience or "",
        }
        for p in points
        if p.kind != GUARDRAIL
    ]


def url_part(value: Any) -> str:
    """``value`` as one segment of a URL path: every character but letters, digits and ``_.-~`` percent-encoded."""
    return quote(str(value), safe="")


def day(value: Any) -> str:
    """A stored day as ``YYYY-MM-DD``; a day that could not be read shows as such."""
    return "unreadable" if value is None or pd.isna(value) else str(pd.Timestamp(value).date())


def monthly(value: Any) -> str:
    """A monthly amount as ``$812 a month``; a missing one says so (never $0)."""
    found = dollars(value)
    return f"{found} a month" if found else "not in the data"


templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters["pct"] = percent
templates.env.filters["dollars"] = dollars
templates.env.filters["words"] = words
templates.env.filters["live_points"] = live_points
templates.env.filters["url_part"] = url_part
templates.env.filters["day"] = day
templates.env.filters["standing"] = held_words
templates.env.filters["monthly"] = monthly
router = APIRouter(include_in_schema=False)
TheDesk = Annotated[Desk, Depends(desk_of)]


class SignIn(Exception):
    """The page needs a signed-in user: send the browser to the sign-in page."""


def page_user(request: Request, desk: TheDesk) -> User:
    """The signed-in user, from the cookie (``SignIn`` when there is none or it no longer works)."""
    try:
        user = desk.authenticate(request.cookies.get(COOKIE))
    except HTTPException as error:
        if error.status_code == 401:
            raise SignIn from error
        raise
    request.state.user = user.name
    return user


PageUser = Annotated[User, Depends(page_user)]


def render(
    request: Request, name: str, context: dict[str, Any], status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """A page, its forms carrying the session's form token (and, signed in, the model versions in its footer)."""
    context = {"csrf_field": CSRF_FIELD, "csrf_token": page_form_token(request), **context}
    if context.get("user") is not None:
        context["models_line"] = footer(request.app.state.desk.planner.models_in_use())
    return templates.TemplateResponse(request, name, context, status_code=status, headers=headers)


async def to_sign_in(request: Request, error: Exception) -> Response:
    """Redirect to the sign-in page, forgetting a cookie that was sent and no longer works (never an absent one)."""
    response = RedirectResponse("/", status_code=303)
    forget(request, response)
    return response


async def page_error(request: Request, error: Exception) -> Response:
    """An HTTP error as a page for the browser, as JSON (FastAPI's default) for the API."""
    assert isinstance(error, StarletteHTTPException)  # noqa: S101 - registered for this type only
    if request.url.path.startswith(API):
        return await http_exception_handler(request, error)
    titles = {403: "Refused", 404: "Not found", 413: "Too large", 429: "Too many requests", 500: "Something went wrong",
              503: "Busy: try again"}  # fmt: skip
    context = {"user": None, "status": error.status_code, "title": titles.get(error.status_code, "Something is wrong"),
               "detail": error.detail}  # fmt: skip
    return render(request, "error.html", context, error.status_code, getattr(error, "headers", None))


@router.get("/", response_class=HTMLResponse)
def sign_in_page(request: Request) -> Response:
    """The sign-in form."""
    return render(request, "sign_in.html", {"error": ""})


@router.post("/sign-in")
def sign_in(request: Request, desk: TheDesk, token: Annotated[str, Form()] = "") -> Response:
    """Check the token, keep it in the session cookie and open the list (only a form of this server's own page)."""
    check_origin(request)
    try:
        user = desk.authenticate(token.strip())
    except HTTPException as error:
        message = "That token is not valid (unknown or revoked)." if error.status_code == 401 else error.detail
        return render(request, "sign_in.html", {"error": message}, error.status_code)
    request.state.user = user.name
    response = RedirectResponse("/list", status_code=303)
    keep(response, token.strip(), secure=desk.config.secure_cookies)
    return response


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    """Forget the session cookie (only a form of this server's own page, with the session's form token)."""
    check_origin(request)
    if COOKIE in request.cookies:
        form = await request.form()
        check_form_token(request, str(form.get(CSRF_FIELD, "")))
    response = RedirectResponse("/", status_code=303)
    forget(request, response)
    return response


@router.get("/list", response_class=HTMLResponse)
def list_page(
    request: Request, user: PageUser, desk: TheDesk, territory: str | None = None, rep: str | None = None
) -> Response:
    """The day's list: a rep's own rows; a manager picks a territory and a rep."""
    territory, rep = territory or None, rep or None
    if user.role == Role.REP and user.rep_id is not None:
        rep = rep or user.rep_id
    check_filters(user, territory, rep)
    today = desk.night().business_date
    published = desk.lists(today)
    every = [r for rows in published.rows.values() for r in rows if user.can_read(r.territory)]
    territories = sorted({r.territory for r in every})
    if user.role != Role.REP and territory is None and territories:
        territory = territories[0]
    reps = sorted({r.rep_id for r in every if territory in (None, r.territory)})
    sections = [
        (title, readable_rows(published.rows[name], user, territory, rep))
        for name, title in (("inbound", "Inbound queue"), ("flips", "Flips"), ("proactive", "Proactive outreach"))
    ]
    context = {"user": user, "day": today, "sections": sections, "territories": territories, "reps": reps,
               "territory": territory or "", "rep": rep or "", "manager": user.role != Role.REP,
               **vars(day_notices(desk.config.catalog, today))}  # fmt: skip
    return render(request, "list.html", context)


@router.get("/accounts/{account_id:path}", response_class=HTMLResponse)
def account_page(
    request: Request,
    account_id: str,
    user: PageUser,
    desk: TheDesk,
    recorded: int | None = None,
    offer: str | None = None,
) -> Response:
    """The live plan of an account and the form to record the call; the deal shown is ``offer``'s when given."""
    return _account(request, account_id, user, desk, recorded=recorded, offer=offer)


@router.post("/accounts/{account_id:path}/outcome")
async def record_page(request: Request, account_id: str, user: PageUser, desk: TheDesk) -> Response:
    """Record the form's outcome once per idempotency key, then show the account with what was recorded.

    Only a form of this server's own page, with the session's form token, is recorded (403 otherwise).
    """
    check_origin(request)
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    check_form_token(request, fields.pop(CSRF_FIELD, ""))
    key = fields.pop("idempotency_key", "")
    try:
        outcome = OutcomeIn.model_validate(_outcome_fields(account_id, fields))
    except ValidationError as error:
        problems = [f"{'.'.join(str(p) for p in e['loc']) or 'form'}: {e['msg']}" for e in error.errors()]
        return _account(request, account_id, user, desk, errors=problems, form=fields, status=422)
    try:
        recorded = desk.record(user, outcome, key)
    except HTTPException as error:
        if error.status_code not in (409, 422):
            raise
        return _account(request, account_id, user, desk, errors=_sentences(error.detail), form=fields,
                        status=error.status_code)  # fmt: skip
    return RedirectResponse(f"/accounts/{url_part(account_id)}?recorded={recorded.outcome_id}", status_code=303)


def _sentences(detail: Any) -> list[str]:
    """An error's detail as sentences: a string, or the fields a 422 names with what is wrong with each."""
    if isinstance(detail, list):
        return [f"{d.get('field', '')}: {d.get('msg', '')}" if isinstance(d, dict) else str(d) for d in detail]
    return [str(detail)]


def _outcome_fields(account_id: str, form: dict[str, str]) -> dict[str, Any]:
    """The form's fields as ``OutcomeIn`` reads them (empty numbers are absent, checkboxes are on or absent)."""
    out: dict[str, Any] = {"account_id": account_id, "offer": form.get("offer", "")}
    for name in ("request_id", "rollback_pct", "credit_amount", "new_monthly_rate", "new_term_months", "call_date"):
        if form.get(name, "").strip():
            out[name] = form[name].strip()
    out["accepted"] = form.get("accepted", "")
    out["flipped"] = form.get("flipped") == "on"
    out["notes"] = form.get("notes", "")
    return out


def _account(
    request: Request,
    account_id: str,
    user: User,
    desk: Desk,
    *,
    recorded: int | None = None,
    offer: str | None = None,
    errors: list[str] | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    desk.territory(account_id, user)
    try:
        plan = desk.planner.plan(account_id)
    except Unplannable as error:
        raise HTTPException(404, str(error)) from error
    if plan is None:
        raise HTTPException(404, unseen(account_id))
    history = desk.store.outcomes(account_id)
    outcomes = history.sort_values("outcome_id", ascending=False).to_dict("records")
    just = next((o for o in outcomes if recorded is not None and o["outcome_id"] == recorded), None)
    deal = deal_for(plan, offer) or plan.deal
    best = deal.offer if deal is not None else plan.recommendation.offer  # the form follows the deal shown
    suggested = form or {
        "offer": "rollback" if best.startswith("rollback_") else best,
        "rollback_pct": best.removeprefix("rollback_") if best.startswith("rollback_") else "0",
    }
    context = {
        "deal": deal,
        "user": user, "plan": plan, "outcomes": outcomes, "just": just, "errors": errors or [], "form": suggested,
        "idempotency_key": secrets.token_urlsafe(24), "offers": OFFERS, "rollback_pcts": (0, *ROLLBACK_PCTS),
        "reason_words": RECOMMENDATION_WORDS,
    }  # fmt: skip
    return render(request, "account.html", context, status)
