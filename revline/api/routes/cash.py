"""Cash: a day's payouts as the morning reconciliation left them, and a person's rerun."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from revline.api.errors import ErrorBody
from revline.api.security import READ_ROLES, require, runtime_of
from revline.core.auth import Principal
from revline.core.runtime import Runtime
from revline.errors import InvalidRequest
from revline.playbooks.cash.payout_day import PayoutDay, business_date, payouts_of
from revline.playbooks.cash.rerun import RERUN_ROLES, rerun_payout_day

router = APIRouter(tags=["cash"], responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}})
Reader = Annotated[Principal, Depends(require(READ_ROLES, "read payouts"))]
Rerunner = Annotated[Principal, Depends(require(RERUN_ROLES, "rerun a payout reconciliation"))]
RuntimeDep = Annotated[Runtime, Depends(runtime_of)]


@router.get(
    "/api/cash/payouts",
    response_model=PayoutDay,
    responses={400: {"model": ErrorBody}, 404: {"model": ErrorBody}},
)
def payouts(
    runtime: RuntimeDep,
    _: Reader,
    request: Request,
    # Parsed here rather than by FastAPI, so a bad date is a 400 naming the parameter.
    date: Annotated[str | None, Query(description="the business date, YYYY-MM-DD")] = None,
) -> PayoutDay:
    """The payout reconciliation of one business date: each payout's status, deposit, fees,
    variance, and each payment's match with any orphan investigation opened for it."""
    given = request.query_params.getlist("date")
    if len(given) > 1:
        # Which of two dates was meant is not for Revline to guess (the last would be shown).
        raise InvalidRequest(f"date is given {len(given)} times ({', '.join(given)}); give one")
    day = business_date(date)
    with runtime.db.read() as session:
        return payouts_of(session, day)


@router.post(
    "/api/cash/payouts/{date}/rerun",
    response_model=PayoutDay,
    responses={400: {"model": ErrorBody}, 404: {"model": ErrorBody}},
)
def rerun(runtime: RuntimeDep, principal: Rerunner, date: str) -> PayoutDay:
    """Run the morning's payout reconciliation of ``date`` again now (after NetSuite was
    corrected): what ties is deposited, a payout already deposited is never posted twice."""
    day = business_date(date)
    rerun_payout_day(runtime, day, principal.actor)
    with runtime.db.read() as session:
        return payouts_of(session, day)
