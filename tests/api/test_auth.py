"""Bearer tokens and roles: 401 without a valid token, 403 for a role that may not."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from revline.clock import SimulatedClock
from revline.config import ROLES
from revline.core.runtime import Runtime
from revline.db.models import ApiToken, User
from tests.api.helpers import bearer


def test_a_tokens_last_use_is_kept_to_the_minute(
    client: TestClient, runtime: Runtime, clock: SimulatedClock, tokens: dict[str, str]
) -> None:
    def last_used() -> dict[str, Any]:
        with runtime.db.read() as session:
            rows = session.execute(select(ApiToken.name, ApiToken.last_used_at)).tuples()
            return dict(rows.all())

    assert last_used()["viewer"] is None
    first = clock.now()
    assert client.get("/api/events", headers=bearer(tokens["viewer"])).status_code == 200
    assert last_used()["viewer"] == first

    clock.advance(timedelta(seconds=59))
    assert client.get("/api/events", headers=bearer(tokens["viewer"])).status_code == 200
    assert last_used()["viewer"] == first  # not a write per request

    later = clock.advance(timedelta(seconds=1))
    assert client.get("/api/events", headers=bearer(tokens["viewer"])).status_code == 200
    assert last_used() == {**{name: None for name in tokens}, "viewer": later}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer rvl_not_a_real_token"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
    ],
)
def test_missing_or_bad_tokens_get_401(
    client: TestClient, tokens: dict[str, str], headers: dict[str, str]
) -> None:
    response = client.get("/api/events", headers=headers)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"


def test_a_revoked_token_and_a_disabled_user_get_401(
    client: TestClient, runtime: Runtime, tokens: dict[str, str]
) -> None:
    assert client.get("/api/events", headers=bearer(tokens["viewer"])).status_code == 200
    with runtime.db.write() as session:
        session.execute(
            update(ApiToken).where(ApiToken.name == "viewer").values(revoked_at=runtime.clock.now())
        )
        session.execute(update(User).where(User.name == "agent").values(disabled=True))

    assert client.get("/api/events", headers=bearer(tokens["viewer"])).status_code == 401
    assert client.get("/api/events", headers=bearer(tokens["agent"])).status_code == 401


@pytest.mark.parametrize(
    "path", ["/api/events", "/api/cases", "/api/actions", "/api/ledger", "/api/controls"]
)
def test_every_role_may_read(client: TestClient, tokens: dict[str, str], path: str) -> None:
    for role in ROLES:
        assert client.get(path, headers=bearer(tokens[role])).status_code == 200, role


FORBIDDEN: list[tuple[str, str, str, dict[str, Any]]] = [
    ("viewer", "POST", "/api/cases/cas_x/actions", {"kind": "email.send", "subject": "x"}),
    ("viewer", "POST", "/api/actions/act_x/approve", {}),
    ("agent", "POST", "/api/actions/act_x/approve", {}),
    ("agent", "POST", "/api/actions/act_x/reject", {"reason": "no"}),
    ("viewer", "POST", "/api/controls", {"action": "stop", "reason": "r"}),
    ("team_owner", "POST", "/api/controls", {"action": "stop", "reason": "r"}),
    ("agent", "POST", "/api/controls", {"action": "stop", "reason": "r"}),
    ("billing_analyst", "POST", "/api/controls", {"action": "resume"}),
    ("spend_ops_lead", "POST", "/api/controls", {"action": "resume"}),
    ("fpa_analyst", "POST", "/api/controls", {"action": "mode", "playbook": "p", "mode": "live"}),
]


@pytest.mark.parametrize(("role", "method", "path", "body"), FORBIDDEN)
def test_roles_that_may_not_get_403(
    client: TestClient,
    tokens: dict[str, str],
    role: str,
    method: str,
    path: str,
    body: dict[str, Any],
) -> None:
    response = client.request(method, path, json=body, headers=bearer(tokens[role]))

    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "forbidden"
    assert role in response.json()["error"]["message"]


def test_tokens_never_reach_logs_or_error_bodies(
    client: TestClient, tokens: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    wrong = tokens["admin"][:-4] + "AAAA"

    bad = client.get("/api/events", headers=bearer(wrong))
    forbidden = client.post(
        "/api/controls", json={"action": "resume"}, headers=bearer(tokens["viewer"])
    )

    assert bad.status_code == 401 and forbidden.status_code == 403
    for token in (wrong, tokens["viewer"]):
        assert token not in bad.text + forbidden.text
        assert token not in caplog.text
