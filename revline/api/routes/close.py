"""Month-end close: the tie-out report, a person's explanation of its variance (kept for the
auditor; it does not unblock the sign-off) and a re-check after the books were corrected."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy import select

from revline.api.errors import ErrorBody
from revline.api.security import READ_ROLES, require, runtime_of
from revline.core.auth import Principal
from revline.core.runtime import Runtime
from revline.db.models import Case
from revline.errors import Conflict, NotFound
from revline.playbooks.cash.close import CHECK_ROLES, MONTH_END_CLOSE, State
from revline.playbooks.cash.close_report import CloseReport, load
from revline.playbooks.cash.tieout import ClosePeriod

router = APIRouter(tags=["close"], responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}})
Reader = Annotated[Principal, Depends(require(READ_ROLES, "read the close"))]
Analyst = Annotated[Principal, Depends(require(CHECK_ROLES, "explain or re-check a close"))]
RuntimeDep = Annotated[Runtime, Depends(runtime_of)]
_ERRORS: dict[int | str, dict[str, object]] = {
    400: {"model": ErrorBody},
    404: {"model": ErrorBody},
    409: {"model": ErrorBody},
}


class Explanation(BaseModel):
    variance: int = Field(description="the variance explained, in minor units, as the report shows")
    note: str = Field(min_length=3, description="why the books differ by that amount")


@router.get("/api/close/{month}", response_model=CloseReport, responses=_ERRORS)
def close_report(runtime: RuntimeDep, _: Reader, month: str) -> CloseReport:
    """The month's tie-out as of its latest check: the walk, the reconciling items, the
    variance, the sign-off, and the customers in dunning whose recognition is held."""
    with runtime.db.read() as session:
        return load(session, month, runtime.settings.policy.max_manual_retries)


@router.post("/api/close/{month}/explain", response_model=CloseReport, responses=_ERRORS)
def explain(runtime: RuntimeDep, principal: Analyst, month: str, body: Explanation) -> CloseReport:
    """Explain the variance that blocks the close, for the auditor: recorded only for the exact
    amount the close finds when it checks again at once. It does not unblock the sign-off,
    which needs the balances to tie: correct the books, then ask for a re-check."""
    _decide_on(runtime, month, principal, {"explanation": body.note, "variance": body.variance})
    with runtime.db.read() as session:
        return load(session, month, runtime.settings.policy.max_manual_retries)


@router.post("/api/close/{month}/recheck", response_model=CloseReport, responses=_ERRORS)
def recheck(runtime: RuntimeDep, principal: Analyst, month: str) -> CloseReport:
    """Check the tie-out again now (after the books were corrected), not at the next working
    day's run; if it ties, the sign-off is proposed."""
    _decide_on(runtime, month, principal, {"reason": "recheck"})
    with runtime.db.read() as session:
        return load(session, month, runtime.settings.policy.max_manual_retries)


def _decide_on(
    runtime: Runtime, month: str, principal: Principal, detail: dict[str, object]
) -> None:
    ClosePeriod.parse(month)
    with runtime.db.read() as session:
        case = session.execute(
            select(Case).where(Case.kind == MONTH_END_CLOSE.name, Case.subject == month)
        ).scalar_one_or_none()
    if case is None:
        raise NotFound(f"no month-end close for {month} yet")
    if case.state == State.SIGNED_OFF:
        raise Conflict(f"the {month} close is already signed off")
    runtime.router().decide_now(case.id, principal.actor, detail)
