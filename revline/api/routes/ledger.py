"""The ledger: reading rows by correlation or case, and verifying the hash chain."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select

from revline.api.errors import ErrorBody
from revline.api.schemas import LedgerOut, LedgerPage, LedgerVerification
from revline.api.security import READ_ROLES, require, runtime_of
from revline.core import ledger
from revline.core.auth import Principal
from revline.core.runtime import Runtime
from revline.db.models import LedgerRow
from revline.errors import InvalidRequest

router = APIRouter(
    prefix="/api/ledger",
    tags=["ledger"],
    responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}},
)
Reader = Annotated[Principal, Depends(require(READ_ROLES, "read the ledger"))]
RuntimeDep = Annotated[Runtime, Depends(runtime_of)]


@router.get("", response_model=LedgerPage)
def list_ledger(
    runtime: RuntimeDep,
    _: Reader,
    correlation_id: str | None = None,
    case_id: str | None = None,
    after_seq: Annotated[int, Query(ge=0, description="rows with a greater seq")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> LedgerPage:
    """Ledger rows in chain order, optionally for one correlation id or case."""
    query = select(LedgerRow).where(LedgerRow.seq > after_seq).order_by(LedgerRow.seq)
    if correlation_id is not None:
        query = query.where(LedgerRow.correlation_id == correlation_id)
    if case_id is not None:
        query = query.where(LedgerRow.case_id == case_id)
    with runtime.db.read() as session:
        rows = list(session.execute(query.limit(limit)).scalars())
    items = [LedgerOut.model_validate(row) for row in rows]
    return LedgerPage(items=items, next_after_seq=rows[-1].seq if len(rows) == limit else None)


@router.get("/verify", response_model=LedgerVerification, responses={400: {"model": ErrorBody}})
def verify_ledger(runtime: RuntimeDep, _: Reader, anchor: str | None = None) -> LedgerVerification:
    """Replay the hash chain from the first row; report the first row that does not hold, or
    that the chain ends before ``anchor`` (``SEQ:HASH``, a head written down earlier)."""
    try:
        expected = ledger.Anchor.parse(anchor) if anchor is not None else None
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from exc
    with runtime.db.read() as session:
        result = ledger.verify(session, anchor=expected)
    return LedgerVerification(
        ok=result.ok,
        rows=result.rows,
        first_bad_seq=result.first_bad_seq,
        reason=result.reason,
        head=str(result.head) if result.head else None,
    )
