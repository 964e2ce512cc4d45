"""The rep web page: sign in with a token, the day's list, the live plan of an account, and the outcome form.

Server-rendered (Jinja2 templates in ``serving/templates``, one stylesheet with
a print layout in ``serving/static``), no JavaScript. The token lives in an
HttpOnly, SameSite=Strict cookie (Secure when ``DeskConfig.secure_cookies``),
so another site can neither read it nor post a form with it. The outcome form
carries an idempotency key generated when the page is rendered: a double submit
records the outcome once, and the page then shows what was recorded.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from models.point_wording import GUARDRAIL, KIND_LABELS
from models.policy import RECOMMENDATION_WORDS
from serving.auth import Role, User
from serving.config import API
from serving.desk import Desk, ListedPoint, check_filters, desk_of, readable_rows
from serving.formatting import dollars, percent, words
from serving.outcomes import OutcomeIn
from serving.plan_body import TalkingPoint
from sources.vocabulary import OFFERS, ROLLBACK_PCTS

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
COOKIE = "savedesk_token"


def live_points(points: Iterable[ListedPoint | TalkingPoint]) -> list[dict[str, str]]:
    """A listed row's or a plan's talking points as the live pages show them (``_talking_points.html``).

    Every point but the guardrail's (the note is shown with the offer), labelled by kind, its direction as its class.
    """
    return [
        {"label": KIND_LABELS.get(p.kind, ""), "css": p.direction, "sentence": p.sentence}
        for p in points
        if p.kind != GUARDRAIL
    ]


templates = Jinja2Templates(directory=HERE / "templates")
templates.env.filters["pct"] = percent
templates.env.filters["dollars"] = dollars
templates.env.filters["words"] = words
templates.env.filters["live_points"] = live_points
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


async def to_sign_in(request: Request, error: Exception) -> Response:
    """Redirect to the sign-in page, forgetting a cookie that no longer works."""
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE)
    return response


async def page_error(request: Request, error: Exception) -> Response:
    """An HTTP error as a page for the browser, as JSON (FastAPI's default) for the API."""
    assert isinstance(error, StarletteHTTPException)  # noqa: S101 - registered for this type only
    if request.url.path.startswith(API):
        return await http_exception_handler(request, error)
    titles = {403: "Not your territory", 404: "Not found", 429: "Too many requests"}
    context = {"user": None, "status": error.status_code, "title": titles.get(error.status_code, "Something is wrong"),
               "detail": error.detail}  # fmt: skip
    return templates.TemplateResponse(request, "error.html", context, status_code=error.status_code,
                                      headers=getattr(error, "headers", None))  # fmt: skip


@router.get("/", response_class=HTMLResponse)
def sign_in_page(request: Request) -> Response:
    """The sign-in form."""
    return templates.TemplateResponse(request, "sign_in.html", {"error": ""})


@router.post("/sign-in")
def sign_in(request: Request, desk: TheDesk, token: Annotated[str, Form()] = "") -> Response:
    """Check the token, keep it in the session cookie and open the list."""
    try:
        user = desk.authenticate(token.strip())
    except HTTPException as error:
        message = "That token is not valid (unknown or revoked)." if error.status_code == 401 else error.detail
        return templates.TemplateResponse(request, "sign_in.html", {"error": message}, status_code=error.status_code)
    request.state.user = user.name
    response = RedirectResponse("/list", status_code=303)
    response.set_cookie(COOKIE, token.strip(), httponly=True, samesite="strict",
                        secure=desk.config.secure_cookies, path="/")  # fmt: skip
    return response


@router.post("/sign-out")
def sign_out() -> Response:
    """Forget the session cookie."""
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE, path="/")
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
    day = desk.night().business_date
    published = desk.lists(day)
    every = [r for rows in published.rows.values() for r in rows if user.can_read(r.territory)]
    territories = sorted({r.territory for r in every})
    if user.role != Role.REP and territory is None and territories:
        territory = territories[0]
    reps = sorted({r.rep_id for r in every if territory in (None, r.territory)})
    sections = [
        (title, readable_rows(published.rows[name], user, territory, rep))
        for name, title in (("inbound", "Inbound queue"), ("flips", "Flips"), ("proactive", "Proactive outreach"))
    ]
    context = {"user": user, "day": day, "sections": sections, "territories": territories, "reps": reps,
               "territory": territory or "", "rep": rep or "", "manager": user.role != Role.REP}  # fmt: skip
    return templates.TemplateResponse(request, "list.html", context)


@router.get("/accounts/{account_id}", response_class=HTMLResponse)
def account_page(
    request: Request, account_id: str, user: PageUser, desk: TheDesk, recorded: int | None = None
) -> Response:
    """The live plan of an account and the form to record the call."""
    return _account(request, account_id, user, desk, recorded=recorded)


@router.post("/accounts/{account_id}/outcome")
async def record_page(request: Request, account_id: str, user: PageUser, desk: TheDesk) -> Response:
    """Record the form's outcome once per idempotency key, then show the account with what was recorded."""
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    key = fields.pop("idempotency_key", "")
    try:
        outcome = OutcomeIn.model_validate(_outcome_fields(account_id, fields))
    except ValidationError as error:
        problems = [f"{'.'.join(str(p) for p in e['loc']) or 'form'}: {e['msg']}" for e in error.errors()]
        return _account(request, account_id, user, desk, errors=problems, form=fields, status=422)
    try:
        recorded = desk.record(user, outcome, key)
    except HTTPException as error:
        if error.status_code in (404, 403):
            raise
        return _account(request, account_id, user, desk, errors=[str(error.detail)], form=fields,
                        status=error.status_code)  # fmt: skip
    return RedirectResponse(f"/accounts/{account_id}?recorded={recorded.outcome_id}", status_code=303)


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
    errors: list[str] | None = None,
    form: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    territory = desk.territory(account_id)
    if not user.can_read(territory):
        raise HTTPException(403, f"{user.name} may not read territory {territory}.")
    plan = desk.planner.plan(account_id)
    if plan is None:
        raise HTTPException(404, f"Account {account_id} is not in service on the latest published date.")
    history = desk.store.outcomes(account_id)
    outcomes = history.sort_values("outcome_id", ascending=False).to_dict("records")
    just = next((o for o in outcomes if recorded is not None and o["outcome_id"] == recorded), None)
    best = plan.recommendation.offer
    suggested = form or {
        "offer": "rollback" if best.startswith("rollback_") else best,
        "rollback_pct": best.removeprefix("rollback_") if best.startswith("rollback_") else "0",
    }
    context = {
        "user": user, "plan": plan, "outcomes": outcomes, "just": just, "errors": errors or [], "form": suggested,
        "idempotency_key": secrets.token_urlsafe(24), "offers": OFFERS, "rollback_pcts": (0, *ROLLBACK_PCTS),
        "reason_words": RECOMMENDATION_WORDS,
    }  # fmt: skip
    return templates.TemplateResponse(request, "account.html", context, status_code=status)
