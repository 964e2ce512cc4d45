"""The rep page's approvals view and the printable proposal of an accepted offer.

- ``GET /approvals``: the outcomes awaiting a manager's approval in the
  caller's territories; a manager or admin approves or rejects each with a
  note (``POST /approvals/{id}``, a form of this server's own page with the
  session's form token); a rep sees their territories' held outcomes, read only.
- ``GET /outcomes/{id}/proposal``: the updated service agreement of an
  accepted offer (``serving.agreement``, kept with the outcome), one page for
  the customer, with a print stylesheet (``static/proposal.css``). An offer still
  awaiting approval, or rejected, has no proposal to hand out (409).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from serving.approvals import ApprovalIn, decide, held_words, pending_for, readable_outcome
from serving.auth import User
from serving.desk import Desk, desk_of
from serving.outcomes import Approval
from serving.session import CSRF_FIELD, check_form_token, check_origin
from serving.store_decisions import DECIDERS
from serving.web import page_user, render

router = APIRouter(include_in_schema=False)
PageUser = Annotated[User, Depends(page_user)]
TheDesk = Annotated[Desk, Depends(desk_of)]


@router.get("/approvals", response_class=HTMLResponse)
def approvals_page(request: Request, user: PageUser, desk: TheDesk, decided: int | None = None) -> Response:
    """The outcomes awaiting approval that the user may read; a manager's forms to decide them."""
    return _approvals(request, user, desk, decided=decided)


@router.post("/approvals/{outcome_id}")
async def decide_page(request: Request, outcome_id: int, user: PageUser, desk: TheDesk) -> Response:
    """Approve or reject one held outcome from the approvals view, then show the view again."""
    check_origin(request)
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    check_form_token(request, fields.get(CSRF_FIELD, ""))
    decision, note = fields.get("decision", ""), fields.get("note", "")
    problem = _note_problem(note) if decision in ("approve", "reject") else "Choose approve or reject."
    if problem:
        return _approvals(request, user, desk, errors=[problem], status=422)
    try:
        decide(desk, user, outcome_id, decision == "approve", note)
    except HTTPException as error:
        if error.status_code != 409:
            raise
        return _approvals(request, user, desk, errors=[str(error.detail)], status=409)
    return RedirectResponse(f"/approvals?decided={outcome_id}", status_code=303)


@router.get("/outcomes/{outcome_id}/proposal", response_class=HTMLResponse)
def proposal_page(request: Request, outcome_id: int, user: PageUser, desk: TheDesk) -> Response:
    """The printable proposal of an accepted offer: the updated service agreement kept with the outcome."""
    row = readable_outcome(desk, user, outcome_id)
    agreement = row.get("agreement")
    if not agreement:
        raise HTTPException(404, f"Outcome #{outcome_id} has no proposal: only an accepted offer (not a flip) has one.")
    if row["approval"] in (Approval.PENDING, Approval.REJECTED):
        raise HTTPException(409, f"Outcome #{outcome_id} is {held_words(row['approval'], row['held_for'])}: "
                                 "a proposal is printed once a manager approves it.")  # fmt: skip
    return render(request, "proposal.html", {"user": user, "outcome": row, "deal": agreement})


def _approvals(
    request: Request,
    user: User,
    desk: Desk,
    *,
    decided: int | None = None,
    errors: list[str] | None = None,
    status: int = 200,
) -> Response:
    just = None
    if decided is not None:
        try:
            just = readable_outcome(desk, user, decided)
        except HTTPException:
            just = None
    context = {"user": user, "pending": pending_for(desk, user), "decider": user.role in DECIDERS, "just": just,
               "errors": errors or []}  # fmt: skip
    return render(request, "approvals.html", context, status)


def _note_problem(note: str) -> str:
    """Why a decision's note cannot be stored, by the API's own rules (empty when it can)."""
    try:
        ApprovalIn(decision="approve", note=note)
    except ValidationError as error:
        return f"note: {error.errors()[0]['msg']}"
    return ""
