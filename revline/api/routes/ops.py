"""Unauthenticated operational endpoints: health for load balancers, metrics for Prometheus."""

from __future__ import annotations

from typing import cast

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from revline.api.errors import DatabaseUnavailable, ErrorBody, IngestUnavailable
from revline.api.ingest import IngestWriter
from revline.api.schemas import Health
from revline.api.security import runtime_of
from revline.core import controls

router = APIRouter(tags=["operations"])


@router.get(
    "/healthz",
    response_model=Health,
    responses={503: {"model": ErrorBody, "description": "database or ingest unavailable"}},
)
def healthz(request: Request) -> Health:
    """200 when the database answers and webhooks can be stored; reports the emergency stop."""
    runtime = runtime_of(request)
    try:
        with runtime.db.read() as session:
            session.execute(text("SELECT 1"))
            stopped = controls.stop_state(session).stopped
    except SQLAlchemyError as exc:
        raise DatabaseUnavailable("the database is not reachable") from exc
    if not cast(IngestWriter, request.app.state.ingest).running:
        # An instance that cannot store webhooks should be taken out of rotation.
        raise IngestUnavailable("the ingest writer is not running")
    return Health(stopped=stopped)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"}},
)
def metrics() -> Response:
    """Prometheus metrics of this process."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
