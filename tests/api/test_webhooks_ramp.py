"""Ramp ingest: hex HMAC-SHA256 of the raw body, either configured secret, stored once."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from revline.api import create_app
from revline.config import load_settings
from revline.core.runtime import Runtime
from revline.db.models import Event
from revline.providers.ramp.webhooks import verify
from tests.api.helpers import (
    JSON,
    event_count,
    post_ramp,
    post_stripe,
    ramp_body,
    ramp_signature,
    stored_ids,
    stripe_body,
)
from tests.conftest import RAMP_SECRET, make_settings


def test_a_signed_event_is_stored_once(client: TestClient, runtime: Runtime) -> None:
    body = ramp_body("rmp_1", created_at="2026-12-01T09:30:00-05:00")

    first = post_ramp(client, body)
    again = post_ramp(client, body)

    assert (first.status_code, first.json()) == (202, {"received": True, "duplicate": False})
    assert (again.status_code, again.json()) == (200, {"received": True, "duplicate": True})
    with runtime.db.read() as session:
        row = session.execute(select(Event)).scalar_one()
    assert (row.source, row.external_id, row.type) == ("ramp", "rmp_1", "transactions.cleared")
    assert row.occurred_at == datetime(2026, 12, 1, 14, 30, tzinfo=UTC)
    assert row.payload == json.loads(body)


def test_upper_case_hex_is_the_same_signature(client: TestClient, runtime: Runtime) -> None:
    body = ramp_body("rmp_upper")
    headers = {**JSON, "X-Ramp-Webhook-Signature": ramp_signature(body).upper()}
    assert client.post("/webhooks/ramp", content=body, headers=headers).status_code == 202


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_signature"),
        ({"X-Ramp-Webhook-Signature": "00" * 32}, "invalid_signature"),
        ({"X-Ramp-Webhook-Signature": ramp_signature(b"another body")}, "invalid_signature"),
        (
            {"X-Ramp-Webhook-Signature": ramp_signature(ramp_body("rmp_bad"), "wrong")},
            "invalid_signature",
        ),
    ],
)
def test_bad_signatures_are_refused_and_nothing_is_stored(
    client: TestClient, runtime: Runtime, headers: dict[str, str], code: str
) -> None:
    response = client.post(
        "/webhooks/ramp", content=ramp_body("rmp_bad"), headers={**JSON, **headers}
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert event_count(runtime) == 0


def test_a_non_ascii_signature_header_is_refused_not_crashed(
    client: TestClient, runtime: Runtime
) -> None:
    headers = [(b"content-type", b"application/json"), (b"x-ramp-webhook-signature", b"\xe9\xff")]
    response = client.post("/webhooks/ramp", content=ramp_body("rmp_x"), headers=headers)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_signature"


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", "malformed_json"),
        (ramp_body("rmp_v", id=None), "invalid_event"),
        (ramp_body("rmp_v", id=""), "invalid_event"),
        (ramp_body("rmp_v", type=None), "invalid_event"),
        (ramp_body("rmp_v", created_at="last tuesday"), "invalid_event"),
        (ramp_body("rmp_v", created_at=None), "invalid_event"),
        # No UTC time for either: out of range, not a 500.
        (ramp_body("rmp_v", created_at="0001-01-01T00:00:00+01:00"), "invalid_event"),
        (ramp_body("rmp_v", created_at="9999-12-31T23:59:59-01:00"), "invalid_event"),
        (ramp_body("rmp_v", business_id=None), "invalid_event"),
        (ramp_body("rmp_v", object={}), "invalid_event"),
        (ramp_body("rmp_v", object="txn_1"), "invalid_event"),
    ],
)
def test_signed_bodies_that_are_not_ramp_events_are_refused(
    client: TestClient, runtime: Runtime, body: bytes, code: str
) -> None:
    response = post_ramp(client, body)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert event_count(runtime) == 0


def test_wrong_content_type_and_oversize_get_415_and_413(
    client: TestClient, runtime: Runtime
) -> None:
    body = ramp_body("rmp_ct")
    signature = {"X-Ramp-Webhook-Signature": ramp_signature(body)}
    form = client.post(
        "/webhooks/ramp",
        content=body,
        headers={**signature, "Content-Type": "application/x-www-form-urlencoded"},
    )
    big = ramp_body("rmp_big", padding="x" * (1024 * 1024))

    assert form.status_code == 415
    assert post_ramp(client, big).status_code == 413
    assert event_count(runtime) == 0


def test_rotation_accepts_current_and_previous_but_not_an_unknown_secret(
    runtime: Runtime,
) -> None:
    rotating = Runtime(
        settings=make_settings(
            runtime.settings.database_url,
            ramp_webhook_secret="ramp_new_secret",
            ramp_webhook_secret_previous=RAMP_SECRET,
        ),
        db=runtime.db,
        clock=runtime.clock,
        playbooks=runtime.playbooks,
    )
    with TestClient(create_app(rotating)) as client:
        new = post_ramp(client, ramp_body("rmp_new"), secret="ramp_new_secret")
        old = post_ramp(client, ramp_body("rmp_old"), secret=RAMP_SECRET)
        unknown = post_ramp(client, ramp_body("rmp_unknown"), secret="ramp_unknown")

    assert (new.status_code, old.status_code, unknown.status_code) == (202, 202, 400)
    assert stored_ids(runtime, "ramp") == {"rmp_new", "rmp_old"}


def test_without_a_ramp_secret_deliveries_get_503(runtime: Runtime) -> None:
    unsigned = Runtime(
        settings=make_settings(runtime.settings.database_url, ramp_webhook_secret=None),
        db=runtime.db,
        clock=runtime.clock,
        playbooks=runtime.playbooks,
    )
    with TestClient(create_app(unsigned)) as client:
        response = post_ramp(client, ramp_body("rmp_1"))

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "webhook_not_configured"
    assert event_count(runtime) == 0


@pytest.mark.parametrize("blank", ["", "   "])
def test_a_blank_secret_is_no_secret(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch, blank: str
) -> None:
    """The previous secret left blank once a rotation is over (or the current one): an empty
    HMAC key anyone can sign with is never a key. Blank from the environment is unset; with the
    current one blank too, nothing is configured and deliveries get 503."""
    monkeypatch.setenv("REVLINE_RAMP_WEBHOOK_SECRET", RAMP_SECRET)
    monkeypatch.setenv("REVLINE_RAMP_WEBHOOK_SECRET_PREVIOUS", blank)
    loaded = load_settings(database_url=runtime.settings.database_url)
    assert loaded.webhook_secrets("ramp") == [RAMP_SECRET]
    rotated = Runtime(
        settings=loaded, db=runtime.db, clock=runtime.clock, playbooks=runtime.playbooks
    )
    forged_body = ramp_body("rmp_forged")
    forged = hmac.new(b"", forged_body, hashlib.sha256).hexdigest()
    with TestClient(create_app(rotated)) as client:
        refused = client.post(
            "/webhooks/ramp",
            content=forged_body,
            headers={**JSON, "X-Ramp-Webhook-Signature": forged},
        )
    assert refused.status_code == 400
    monkeypatch.setenv("REVLINE_RAMP_WEBHOOK_SECRET", blank)
    unset = load_settings(database_url=runtime.settings.database_url)
    assert unset.webhook_secrets("ramp") == []
    assert not verify(forged_body, forged, [""])  # an empty key never verifies
    assert event_count(runtime) == 0


def test_stripe_and_ramp_ids_do_not_collide(client: TestClient, runtime: Runtime) -> None:
    """The inbox is unique per (source, id): the same id from two providers is two events."""
    assert post_ramp(client, ramp_body("evt_shared")).status_code == 202
    assert post_stripe(client, stripe_body("evt_shared")).status_code == 202
    assert event_count(runtime) == 2
