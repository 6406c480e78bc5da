"""Tokens are shown once, stored as digests, and checked against the user they belong to."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update

from revline.core.auth import authenticate, create_token
from revline.core.runtime import Runtime
from revline.db.models import ApiToken, User
from revline.errors import InvalidRequest, Unauthorized


def test_token_round_trip_and_storage(runtime: Runtime) -> None:
    with runtime.db.write() as session:
        principal, token = create_token(
            session, name="maya", role="revops_manager", now=runtime.clock.now()
        )
    assert token.startswith("rvl_") and len(token) > 40
    with runtime.db.read() as session:
        assert authenticate(session, token).principal == principal
        stored = session.execute(select(ApiToken)).scalar_one()
        assert token not in (stored.token_hash, stored.prefix, stored.name)
        assert stored.prefix == token[:8]
    assert principal.actor == "user:maya"


def test_unknown_revoked_or_disabled_tokens_are_refused(runtime: Runtime) -> None:
    with runtime.db.write() as session:
        _, token = create_token(
            session, name="omar", role="billing_analyst", now=runtime.clock.now()
        )
    with pytest.raises(Unauthorized), runtime.db.read() as session:
        authenticate(session, token + "x")
    with runtime.db.write() as session:
        session.execute(update(User).values(disabled=True))
    with pytest.raises(Unauthorized), runtime.db.read() as session:
        authenticate(session, token)


def test_roles_are_checked_and_users_keep_theirs(runtime: Runtime) -> None:
    with pytest.raises(InvalidRequest, match="unknown role 'boss'"), runtime.db.write() as s:
        create_token(s, name="x", role="boss", now=runtime.clock.now())
    with runtime.db.write() as session:
        create_token(session, name="jonas", role="fpa_analyst", now=runtime.clock.now())
        _, second = create_token(session, name="jonas", role="fpa_analyst", now=runtime.clock.now())
    with runtime.db.read() as session:
        assert authenticate(session, second).principal.role == "fpa_analyst"
    with pytest.raises(InvalidRequest, match="already exists"), runtime.db.write() as s:
        create_token(s, name="jonas", role="admin", now=runtime.clock.now())
