"""Fixtures for the HTTP API: a running app on the ``runtime`` fixture and a token per role."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from revline.api import create_app
from revline.config import ROLES
from revline.core.auth import create_token
from revline.core.runtime import Runtime


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    """The app with its lifespan running (the ingest writer needs it)."""
    with TestClient(create_app(runtime)) as test_client:
        yield test_client


@pytest.fixture
def tokens(runtime: Runtime) -> dict[str, str]:
    """A bearer token per role, for a user named after the role; ``revops_manager_2`` is a
    second manager for four-eyes."""
    issued: dict[str, str] = {}
    with runtime.db.write() as session:
        for role in ROLES:
            _, issued[role] = create_token(session, name=role, role=role, now=runtime.clock.now())
        _, issued["revops_manager_2"] = create_token(
            session, name="revops_manager_2", role="revops_manager", now=runtime.clock.now()
        )
    return issued
