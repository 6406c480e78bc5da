"""Offset paging shared by the list endpoints."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlalchemy import Select
from sqlalchemy.orm import Session

from revline.api.schemas import Page

M = TypeVar("M", bound=BaseModel)

Limit = Annotated[int, Query(ge=1, le=500, description="page size")]
Offset = Annotated[int, Query(ge=0, description="rows to skip")]


def page(session: Session, query: Select[Any], model: type[M], limit: int, offset: int) -> Page[M]:
    """Run ``query`` for one page; one extra row tells whether another page follows."""
    rows = list(session.execute(query.limit(limit + 1).offset(offset)).scalars())
    more = len(rows) > limit
    items = [model.model_validate(row) for row in rows[:limit]]
    return Page[M](
        items=items, limit=limit, offset=offset, next_offset=offset + limit if more else None
    )
