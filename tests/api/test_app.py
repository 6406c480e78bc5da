"""The app as a whole: startup checks, the in-process worker, error shapes, health, metrics,
and the OpenAPI document."""

from __future__ import annotations

import threading
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from revline.api import create_app
from revline.api.errors import DatabaseNotReady
from revline.core import controls, ledger
from revline.core.runtime import Runtime
from revline.db.engine import Database
from revline.db.models import Decision, Event, EventStatus
from tests.api.helpers import bearer, deliver
from tests.conftest import make_settings

PATHS = {
    "/webhooks/stripe",
    "/webhooks/ramp",
    "/api/events",
    "/api/events/{event_id}",
    "/api/cases",
    "/api/cases/{case_id}",
    "/api/cases/{case_id}/actions",
    "/api/actions",
    "/api/actions/{action_id}/approve",
    "/api/actions/{action_id}/reject",
    "/api/ledger",
    "/api/ledger/verify",
    "/api/controls",
    "/healthz",
    "/metrics",
}


def test_the_app_refuses_a_database_without_schema(database_url: str) -> None:
    empty = Database(database_url)
    try:
        with pytest.raises(DatabaseNotReady, match="revline db upgrade"):
            create_app(Runtime(settings=make_settings(database_url), db=empty))
    finally:
        empty.dispose()


def test_with_run_worker_the_lifespan_routes_events_and_stops_the_thread(
    runtime: Runtime,
) -> None:
    with TestClient(create_app(runtime, run_worker=True)) as client:
        assert any(t.name == "revline-worker" for t in threading.enumerate())
        deliver(client, "evt_bg", "invoice.payment_failed", {"id": "in_bg", "customer": "c"})
        deadline = time.monotonic() + 20
        status = None
        while time.monotonic() < deadline:
            with runtime.db.read() as session:
                status = session.execute(select(Event.status)).scalar_one()
            if status == EventStatus.PROCESSED:
                break
            time.sleep(0.05)
    assert status == EventStatus.PROCESSED
    with runtime.db.read() as session:
        assert len(session.execute(select(Decision)).scalars().all()) == 1
    assert not any(t.name == "revline-worker" for t in threading.enumerate())


def test_unknown_routes_and_methods_use_the_error_shape(client: TestClient) -> None:
    missing = client.get("/api/nothing-here")
    wrong_method = client.delete("/api/events")

    assert missing.status_code == 404
    assert missing.json() == {
        "error": {"code": "not_found", "message": "no resource at GET /api/nothing-here"}
    }
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"


def test_validation_errors_are_422_invalid_request_naming_the_field(
    client: TestClient, tokens: dict[str, str]
) -> None:
    response = client.get("/api/events", params={"limit": 0}, headers=bearer(tokens["viewer"]))
    path = client.get("/api/events/not-a-number", headers=bearer(tokens["viewer"]))

    assert response.status_code == 422
    assert set(response.json()) == {"error"}
    assert response.json()["error"]["code"] == "invalid_request"
    assert "limit" in response.json()["error"]["message"]
    assert (path.status_code, path.json()["error"]["code"]) == (422, "invalid_request")


def test_an_unexpected_error_is_a_bare_500_and_is_logged(
    client: TestClient,
    tokens: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def explode(
        session: Session, batch: int = 5000, anchor: ledger.Anchor | None = None
    ) -> ledger.Verification:
        raise RuntimeError("kaboom in /srv/revline/secret_path.py")

    monkeypatch.setattr(ledger, "verify", explode)
    response = client.get("/api/ledger/verify", headers=bearer(tokens["admin"]))

    assert response.status_code == 500
    assert response.json() == {
        "error": {
            "code": "internal_error",
            "message": "an internal error occurred; it has been logged",
        }
    }
    for leak in ("Traceback", "kaboom", "RuntimeError", "secret_path"):
        assert leak not in response.text
    assert "kaboom" in caplog.text and "Traceback" in caplog.text


def test_health_reports_the_stop_and_fails_without_a_database(
    client: TestClient, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    healthy = client.get("/healthz")
    client.post(
        "/api/controls",
        json={"action": "stop", "reason": "drill"},
        headers=bearer(tokens["admin"]),
    )
    stopped = client.get("/healthz")

    def unreachable(session: Session) -> controls.StopState:
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError("connection refused"))

    monkeypatch.setattr(controls, "stop_state", unreachable)
    down = client.get("/healthz")

    assert healthy.json() == {
        "status": "ok",
        "database": "ok",
        "stopped": False,
        "ingest": "running",
    }
    assert (stopped.status_code, stopped.json()["stopped"]) == (200, True)
    assert down.status_code == 503
    assert down.json()["error"]["code"] == "database_unavailable"
    assert "refused" not in down.text


def test_metrics_are_exposed_without_a_token(client: TestClient) -> None:
    deliver(client, "evt_m", "invoice.paid", {"id": "in_m"})

    response = client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "revline_webhooks_total" in response.text
    assert "revline_ingest_seconds" in response.text


def test_openapi_documents_every_path_the_error_shape_and_the_token(client: TestClient) -> None:
    document = client.get("/openapi.json").json()

    assert set(document["paths"]) >= PATHS
    schemas = document["components"]["schemas"]
    assert {"ErrorBody", "CaseDetail", "ActionOut", "ControlsOut", "WebhookAck"} <= set(schemas)
    assert document["components"]["securitySchemes"]["token"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token (rvl_…) created with `revline token create`.",
    }
    stripe_hook = document["paths"]["/webhooks/stripe"]["post"]
    assert "application/json" in stripe_hook["requestBody"]["content"]
    assert {"202", "200", "400", "413", "415", "503"} <= set(stripe_hook["responses"])
    assert any(p["name"] == "Stripe-Signature" for p in stripe_hook["parameters"])
    assert document["paths"]["/api/events"]["get"]["security"] == [{"token": []}]
    assert "security" not in document["paths"]["/healthz"]["get"]
