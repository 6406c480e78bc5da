"""People and their API tokens.

A token is shown once when created and stored only as its SHA-256 digest; lookups compare digests
in constant time. Roles decide what a token may do; approvals also check four-eyes.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from revline.config import ROLES
from revline.core.cases import new_id
from revline.db.models import ApiToken, User
from revline.errors import InvalidRequest, Unauthorized

TOKEN_PREFIX = "rvl_"  # noqa: S105 - a visible prefix, not a secret
# A token's last use is kept to the minute: stamping every request would give each API call a
# durable commit (on SQLite, the one write lock webhook ingest needs) for nothing finer to read.
LAST_USE_PRECISION = timedelta(minutes=1)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the ledger's actor string is ``user:<name>``."""

    user_id: str
    name: str
    role: str

    @property
    def actor(self) -> str:
        return f"user:{self.name}"


@dataclass(frozen=True)
class Credential:
    """A token that authenticated: whom it speaks for, and its last recorded use."""

    principal: Principal
    token_id: str
    last_used_at: datetime | None

    def use_to_record(self, now: datetime) -> bool:
        """Whether this use is worth writing down (see ``LAST_USE_PRECISION``)."""
        return self.last_used_at is None or now - self.last_used_at >= LAST_USE_PRECISION


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(
    session: Session, *, name: str, role: str, now: datetime, email: str | None = None
) -> tuple[Principal, str]:
    """A new token for the user ``name`` (created with ``role`` if new). Returns the plain token."""
    if role not in ROLES:
        raise InvalidRequest(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    if not name.strip():
        raise InvalidRequest("a user needs a name")
    user = session.execute(select(User).where(User.name == name)).scalar_one_or_none()
    if user is None:
        user = User(id=new_id("usr"), name=name, role=role, email=email, created_at=now)
        session.add(user)
        session.flush()  # no ORM relationship orders the inserts: the user must exist first
    elif user.role != role:
        raise InvalidRequest(f"user {name!r} already exists with role {user.role}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            id=new_id("tok"),
            user_id=user.id,
            name=name,
            token_hash=token_digest(token),
            prefix=token[:8],
            created_at=now,
        )
    )
    return Principal(user.id, user.name, user.role), token


def authenticate(session: Session, token: str) -> Credential:
    """The credential for a bearer ``token``; ``Unauthorized`` if unknown, revoked or disabled."""
    digest = token_digest(token)
    row = session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == digest)
    ).first()
    if row is None:
        raise Unauthorized("invalid or revoked token")
    api_token, user = row._tuple()
    if (
        not hmac.compare_digest(api_token.token_hash, digest)
        or api_token.revoked_at is not None
        or user.disabled
    ):
        raise Unauthorized("invalid or revoked token")
    return Credential(
        Principal(user.id, user.name, user.role), api_token.id, api_token.last_used_at
    )


def record_use(session: Session, token_id: str, now: datetime) -> None:
    """Stamp the token's ``last_used_at``, unless another request already did within the minute
    (API processes race for it; the condition keeps that to one write)."""
    session.execute(
        update(ApiToken)
        .where(
            ApiToken.id == token_id,
            or_(
                ApiToken.last_used_at.is_(None),
                ApiToken.last_used_at <= now - LAST_USE_PRECISION,
            ),
        )
        .values(last_used_at=now)
    )
