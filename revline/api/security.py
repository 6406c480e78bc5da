"""Bearer tokens and roles.

Tokens are looked up by digest (``revline.core.auth``). Roles gate whole endpoints here; which
role may approve a given action, and four-eyes, are decided by ``revline.core.actions``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, cast

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from revline.config import ROLES
from revline.core.auth import Principal, authenticate, record_use
from revline.core.runtime import Runtime
from revline.errors import Forbidden, Unauthorized

READ_ROLES = frozenset(ROLES)
# Proposing is what assistants are for; a viewer only looks.
PROPOSE_ROLES = READ_ROLES - {"viewer"}
# An assistant's output is a proposal, never a decision: agents and viewers never approve.
DECIDE_ROLES = READ_ROLES - {"viewer", "agent"}
# Anyone who operates money flows may press the emergency stop...
STOP_ROLES = frozenset(
    {"admin", "revops_manager", "billing_analyst", "ar_specialist", "fpa_analyst", "spend_ops_lead"}
)
# ...but only managers may lift it or change what playbooks are allowed to do.
MANAGE_ROLES = frozenset({"admin", "revops_manager"})

_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="An API token (rvl_…) created with `revline token create`.",
)


def runtime_of(request: Request) -> Runtime:
    """The process's runtime, which ``create_app`` put on the app."""
    return cast(Runtime, request.app.state.runtime)


def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Who is calling, from ``Authorization: Bearer <token>``; 401 without a valid token.

    The token's last use is written at most once a minute, in a transaction of its own.
    """
    if credentials is None:
        raise Unauthorized("a bearer token is required")
    runtime = runtime_of(request)
    with runtime.db.read() as session:
        credential = authenticate(session, credentials.credentials)
    now = runtime.clock.now()
    if credential.use_to_record(now):
        with runtime.db.write() as session:
            record_use(session, credential.token_id, now)
    return credential.principal


def require(roles: frozenset[str], doing: str) -> Callable[[Principal], Principal]:
    """A dependency that lets only ``roles`` through (403 for any other authenticated caller)."""

    def dependency(principal: Annotated[Principal, Depends(current_principal)]) -> Principal:
        check_role(principal, roles, doing)
        return principal

    return dependency


def check_role(principal: Principal, roles: frozenset[str], doing: str) -> None:
    """403 unless the caller's role is one of ``roles``."""
    if principal.role not in roles:
        raise Forbidden(f"the {principal.role} role may not {doing}")
