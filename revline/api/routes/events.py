"""``GET /api/events``: the inbox, newest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select

from revline.api.errors import ErrorBody
from revline.api.routes._paging import Limit, Offset, page
from revline.api.schemas import EventOut, EventSummary, Page
from revline.api.security import READ_ROLES, require, runtime_of
from revline.core.auth import Principal
from revline.core.runtime import Runtime
from revline.db.models import Event, EventStatus
from revline.errors import NotFound

router = APIRouter(
    prefix="/api/events",
    tags=["events"],
    responses={401: {"model": ErrorBody}, 403: {"model": ErrorBody}},
)
Reader = Annotated[Principal, Depends(require(READ_ROLES, "read events"))]
RuntimeDep = Annotated[Runtime, Depends(runtime_of)]


@router.get("", response_model=Page[EventSummary])
def list_events(
    runtime: RuntimeDep,
    _: Reader,
    status: EventStatus | None = None,
    source: str | None = None,
    event_type: Annotated[str | None, Query(alias="type")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[EventSummary]:
    """Stored events (without payloads), filtered by status, source and type."""
    query = select(Event).order_by(Event.id.desc())
    if status is not None:
        query = query.where(Event.status == status)
    if source is not None:
        query = query.where(Event.source == source)
    if event_type is not None:
        query = query.where(Event.type == event_type)
    with runtime.db.read() as session:
        return page(session, query, EventSummary, limit, offset)


@router.get("/{event_id}", response_model=EventOut, responses={404: {"model": ErrorBody}})
def get_event(runtime: RuntimeDep, _: Reader, event_id: int) -> EventOut:
    """One stored event with its payload."""
    with runtime.db.read() as session:
        row = session.get(Event, event_id)
        if row is None:
            raise NotFound(f"no event {event_id}")
        return EventOut.model_validate(row)
