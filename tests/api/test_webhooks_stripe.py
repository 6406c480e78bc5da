"""Stripe ingest: verified at the edge, stored once, acknowledged only after the commit."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY
from sqlalchemy import Text, cast, select

from revline.api import create_app
from revline.core.runtime import Runtime, Worker
from revline.db.models import Decision, Event
from tests.api.helpers import (
    JSON,
    asgi_post,
    event_count,
    post_stripe,
    stored_ids,
    stripe_body,
    stripe_header,
    stripe_header_raw,
)
from tests.conftest import STRIPE_SECRET, STRIPE_SECRET_OLD, make_settings
from tests.support.playbooks import stripe_event


def test_a_new_event_is_stored_and_acknowledged_with_202(
    client: TestClient, runtime: Runtime
) -> None:
    body = stripe_body("evt_new", obj={"id": "in_7", "customer": "cus_7"})
    response = post_stripe(client, body)

    assert response.status_code == 202
    assert response.json() == {"received": True, "duplicate": False}
    with runtime.db.read() as session:
        row = session.execute(select(Event)).scalar_one()
    assert (row.source, row.external_id, row.type) == (
        "stripe",
        "evt_new",
        "invoice.payment_failed",
    )
    assert row.occurred_at == datetime.fromtimestamp(1_764_597_600, UTC)
    assert row.received_at == runtime.clock.now()
    assert row.payload == json.loads(body)


def test_the_body_is_stored_byte_for_byte_as_it_was_signed(
    client: TestClient, runtime: Runtime
) -> None:
    # Stripe's spacing and key order, and an integer beyond 64 bits that a re-encoding parser
    # would round: the stored text is what was signed, so the signature can be checked again.
    event = stripe_event("evt_exact", "invoice.payment_failed", {"id": "in_1", "customer": "c"})
    event["data"]["object"]["amount_due"] = 12345678901234567890123
    body = json.dumps(event, indent=2, sort_keys=True).encode()

    assert post_stripe(client, body).status_code == 202

    with runtime.db.read() as session:
        text = session.execute(select(cast(Event.payload, Text))).scalar_one()
        row = session.execute(select(Event)).scalar_one()
    assert text.encode() == body
    assert row.payload["data"]["object"]["amount_due"] == 12345678901234567890123


def test_five_deliveries_of_one_event_store_one_row_and_decide_once(
    client: TestClient, runtime: Runtime
) -> None:
    body = stripe_body("evt_repeat", obj={"id": "in_1", "customer": "cus_1"})

    statuses = [post_stripe(client, body).status_code for _ in range(5)]

    assert statuses == [202, 200, 200, 200, 200]
    assert event_count(runtime) == 1
    Worker(runtime).drain()
    post_stripe(client, body)  # a redelivery after routing changes nothing either
    Worker(runtime).drain()
    with runtime.db.read() as session:
        decisions = session.execute(select(Decision)).scalars().all()
    assert len(decisions) == 1
    assert decisions[0].playbook == "test_chase"
    assert event_count(runtime) == 1


def test_concurrent_redeliveries_get_exactly_one_202(client: TestClient, runtime: Runtime) -> None:
    body = stripe_body("evt_race")
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(lambda _: post_stripe(client, body), range(16)))

    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 15 + [202]
    assert all(r.json()["duplicate"] for r in responses if r.status_code == 200)
    assert event_count(runtime) == 1


def test_previous_secret_is_accepted_during_rotation(client: TestClient, runtime: Runtime) -> None:
    assert post_stripe(client, stripe_body("evt_current"), secret=STRIPE_SECRET).status_code == 202
    assert post_stripe(client, stripe_body("evt_old"), secret=STRIPE_SECRET_OLD).status_code == 202
    unknown = post_stripe(client, stripe_body("evt_unknown"), secret="whsec_someone_else")

    assert unknown.status_code == 400
    assert unknown.json()["error"]["code"] == "invalid_signature"
    assert stored_ids(runtime) == {"evt_current", "evt_old"}


def test_the_sdk_helper_and_a_hand_built_header_agree(client: TestClient) -> None:
    body = stripe_body("evt_same")
    assert stripe_header(body, timestamp=1_800_000_000) == stripe_header_raw(
        body, timestamp=1_800_000_000
    )
    headers = {**JSON, "Stripe-Signature": stripe_header_raw(body)}
    assert client.post("/webhooks/stripe", content=body, headers=headers).status_code == 202


def test_a_header_with_several_v1_signatures_verifies_if_any_matches(
    client: TestClient, runtime: Runtime
) -> None:
    body = stripe_body("evt_multi")
    good = stripe_header(body)
    timestamp, signature = good.split(",")
    header = f"{timestamp},v1={'0' * 64},{signature}"

    response = client.post(
        "/webhooks/stripe", content=body, headers={**JSON, "Stripe-Signature": header}
    )

    assert response.status_code == 202
    assert stored_ids(runtime) == {"evt_multi"}


@dataclass(frozen=True)
class Bad:
    """A refused delivery: how to send it, and the status and error code it must get."""

    name: str
    send: Callable[[TestClient, str], Any]
    status: int
    code: str


def _signed(body: bytes, **headers: str) -> Callable[[TestClient, str], Any]:
    def send(client: TestClient, _event_id: str) -> Any:
        sent = {**JSON, "Stripe-Signature": stripe_header(body), **headers}
        return client.post("/webhooks/stripe", content=body, headers=sent)

    return send


def _raw_signed(body: bytes) -> Callable[[TestClient, str], Any]:
    def send(client: TestClient, _event_id: str) -> Any:
        headers = {**JSON, "Stripe-Signature": stripe_header_raw(body)}
        return client.post("/webhooks/stripe", content=body, headers=headers)

    return send


def _event(**changes: Any) -> bytes:
    document = stripe_event("evt_bad", "invoice.payment_failed", {"id": "in_bad"})
    document.update(changes)
    return json.dumps({k: v for k, v in document.items() if v is not None}).encode()


def _unsigned(client: TestClient, event_id: str) -> Any:
    return client.post("/webhooks/stripe", content=stripe_body(event_id), headers=JSON)


def _tampered(client: TestClient, event_id: str) -> Any:
    header = stripe_header(stripe_body(event_id))
    tampered = stripe_body(event_id).replace(b"in_", b"in_x")
    return client.post(
        "/webhooks/stripe", content=tampered, headers={**JSON, "Stripe-Signature": header}
    )


def _garbage_header(client: TestClient, event_id: str) -> Any:
    headers = {**JSON, "Stripe-Signature": "not a signature"}
    return client.post("/webhooks/stripe", content=stripe_body(event_id), headers=headers)


def _latin1_header(client: TestClient, event_id: str) -> Any:
    headers = [(b"content-type", b"application/json"), (b"stripe-signature", b"t=1,v1=\xe9")]
    return client.post("/webhooks/stripe", content=stripe_body(event_id), headers=headers)


def _stale(client: TestClient, event_id: str) -> Any:
    body = stripe_body(event_id)
    header = stripe_header(body, timestamp=int(time.time()) - 301)
    return client.post(
        "/webhooks/stripe", content=body, headers={**JSON, "Stripe-Signature": header}
    )


def _content_type(value: str | None) -> Callable[[TestClient, str], Any]:
    def send(client: TestClient, event_id: str) -> Any:
        body = stripe_body(event_id)
        headers = {"Stripe-Signature": stripe_header(body)}
        if value is not None:
            headers["Content-Type"] = value
        return client.post("/webhooks/stripe", content=body, headers=headers)

    return send


def _oversize(client: TestClient, event_id: str) -> Any:
    body = _padded(event_id, 1024 * 1024 + 1)
    return client.post(
        "/webhooks/stripe", content=body, headers={**JSON, "Stripe-Signature": stripe_header(body)}
    )


def _oversize_chunked(client: TestClient, event_id: str) -> Any:
    body = _padded(event_id, 1024 * 1024 + 1)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    headers = {**JSON, "Stripe-Signature": stripe_header(body)}
    response = client.post("/webhooks/stripe", content=chunks(), headers=headers)
    # No declared length: only the limit enforced while streaming can refuse it.
    assert "content-length" not in response.request.headers
    assert response.request.headers["transfer-encoding"] == "chunked"
    return response


def _padded(event_id: str, size: int) -> bytes:
    document = stripe_event(event_id, "invoice.payment_failed", {"id": "in_big", "memo": ""})
    base = len(json.dumps(document).encode())
    document["data"] = {"object": {"id": "in_big", "memo": "x" * (size - base)}}
    body = json.dumps(document).encode()
    assert len(body) == size
    return body


BAD = [
    Bad("unsigned", _unsigned, 400, "missing_signature"),
    Bad("tampered body", _tampered, 400, "invalid_signature"),
    Bad("garbage signature header", _garbage_header, 400, "invalid_signature"),
    Bad("non-ASCII signature header", _latin1_header, 400, "invalid_signature"),
    Bad("stale timestamp", _stale, 400, "stale_signature"),
    Bad("malformed JSON", _signed(b'{"id": "evt_bad", "object": "event",'), 400, "malformed_json"),
    Bad("not UTF-8", _raw_signed(b'{"id": "evt_\xff"}'), 400, "malformed_json"),
    Bad("NaN", _signed(b'{"id": "evt_bad", "x": NaN}'), 400, "malformed_json"),
    Bad("infinite number", _signed(b'{"id": "evt_bad", "x": 1e400}'), 400, "malformed_json"),
    Bad("lone surrogate", _signed(b'{"id": "evt_bad", "x": "\\ud800"}'), 400, "malformed_json"),
    Bad("JSON array", _signed(b"[1, 2]"), 400, "invalid_event"),
    Bad("not an event", _signed(_event(object="invoice")), 400, "invalid_event"),
    Bad("missing id", _signed(_event(id=None)), 400, "invalid_event"),
    Bad("id without evt_", _signed(_event(id="in_123")), 400, "invalid_event"),
    Bad("id with NUL", _signed(_event(id="evt_\u0000x")), 400, "invalid_event"),
    Bad("id too long", _signed(_event(id="evt_" + "x" * 300)), 400, "invalid_event"),
    Bad("missing type", _signed(_event(type=None)), 400, "invalid_event"),
    Bad("missing data.object", _signed(_event(data={"previous": {}})), 400, "invalid_event"),
    Bad("created not an integer", _signed(_event(created="yesterday")), 400, "invalid_event"),
    Bad("created out of range", _signed(_event(created=10**20)), 400, "invalid_event"),
    Bad(
        "nested 200 levels",
        _signed(_event(data={"object": json.loads("[" * 200 + "]" * 200)})),
        400,
        "invalid_event",
    ),
    Bad("text/plain", _content_type("text/plain"), 415, "unsupported_media_type"),
    Bad("no content type", _content_type(None), 415, "unsupported_media_type"),
    Bad(
        "latin-1 JSON",
        _content_type("application/json; charset=latin-1"),
        415,
        "unsupported_media_type",
    ),
    Bad("oversize", _oversize, 413, "payload_too_large"),
    Bad("oversize chunked", _oversize_chunked, 413, "payload_too_large"),
]


def test_every_bad_delivery_is_refused_and_stores_nothing_while_good_ones_in_between_are_stored(
    client: TestClient, runtime: Runtime
) -> None:
    good: set[str] = set()
    for number, case in enumerate(BAD):
        response = case.send(client, f"evt_bad_{number}")
        assert response.status_code == case.status, case.name
        assert response.json()["error"]["code"] == case.code, case.name
        assert "message" in response.json()["error"], case.name

        valid_id = f"evt_good_{number}"
        assert post_stripe(client, stripe_body(valid_id)).status_code == 202, case.name
        good.add(valid_id)

    assert stored_ids(runtime) == good


def test_missing_id_names_the_field(client: TestClient) -> None:
    response = _signed(_event(id=None))(client, "evt_x")
    assert response.status_code == 400
    assert '"id"' in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "Application/JSON;charset=UTF-8"],
)
def test_json_content_types_with_a_utf8_charset_are_accepted(
    client: TestClient, runtime: Runtime, content_type: str
) -> None:
    body = stripe_body("evt_ct")
    headers = {"Content-Type": content_type, "Stripe-Signature": stripe_header(body)}
    assert client.post("/webhooks/stripe", content=body, headers=headers).status_code == 202


def test_a_body_of_exactly_the_limit_is_accepted(client: TestClient, runtime: Runtime) -> None:
    body = _padded("evt_limit", 1024 * 1024)
    assert post_stripe(client, body).status_code == 202
    assert stored_ids(runtime) == {"evt_limit"}


def test_oversize_content_length_is_refused_before_the_body_is_read(runtime: Runtime) -> None:
    """The declared length alone answers 413: the body is never received."""

    async def receive() -> dict[str, Any]:
        raise AssertionError("the body was read despite an oversize Content-Length")

    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(50 * 1024 * 1024).encode()),
        (b"stripe-signature", b"t=1,v1=00"),
    ]
    sent = asgi_post(create_app(runtime), "/webhooks/stripe", headers, receive)

    assert sent[0]["status"] == 413
    assert json.loads(sent[1]["body"])["error"]["code"] == "payload_too_large"
    assert event_count(runtime) == 0


def test_a_sender_hanging_up_mid_body_is_not_an_internal_error(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    body = stripe_body("evt_hangup")
    messages = iter(
        [
            {"type": "http.request", "body": body[:100], "more_body": True},
            {"type": "http.disconnect"},
        ]
    )

    async def receive() -> dict[str, Any]:
        return next(messages)

    headers = [
        (b"content-type", b"application/json"),
        (b"stripe-signature", stripe_header(body).encode()),
    ]
    sent = asgi_post(create_app(runtime), "/webhooks/stripe", headers, receive)

    assert sent[0]["status"] == 400
    assert json.loads(sent[1]["body"])["error"]["code"] == "client_disconnected"
    assert "Traceback" not in caplog.text
    assert event_count(runtime) == 0


def test_without_a_configured_secret_every_delivery_gets_503(runtime: Runtime) -> None:
    unsigned = Runtime(
        settings=make_settings(
            runtime.settings.database_url,
            stripe_webhook_secret=None,
            stripe_webhook_secret_previous=None,
        ),
        db=runtime.db,
        clock=runtime.clock,
        playbooks=runtime.playbooks,
    )
    with TestClient(create_app(unsigned)) as client:
        signed = post_stripe(client, stripe_body("evt_a"))
        bare = client.post("/webhooks/stripe", content=stripe_body("evt_b"), headers=JSON)

    for response in (signed, bare):
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "webhook_not_configured"
    assert event_count(runtime) == 0


def test_deliveries_are_counted_in_metrics(client: TestClient) -> None:
    def count(outcome: str) -> float:
        labels = {"source": "stripe", "outcome": outcome}
        return REGISTRY.get_sample_value("revline_webhooks_total", labels) or 0.0

    before = {o: count(o) for o in ("accepted", "duplicate", "invalid_signature")}
    body = stripe_body("evt_metrics")
    post_stripe(client, body)
    post_stripe(client, body)
    post_stripe(client, stripe_body("evt_metrics_2"), secret="whsec_wrong")

    assert count("accepted") == before["accepted"] + 1
    assert count("duplicate") == before["duplicate"] + 1
    assert count("invalid_signature") == before["invalid_signature"] + 1
    exposition = client.get("/metrics").text
    assert 'revline_webhooks_total{outcome="accepted",source="stripe"}' in exposition
    assert "revline_ingest_seconds_bucket" in exposition
    assert "revline_ingest_batch_size_bucket" in exposition


def test_signature_errors_never_echo_the_secret(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    response = post_stripe(client, stripe_body("evt_s"), secret="whsec_wrong")
    for secret in (STRIPE_SECRET, STRIPE_SECRET_OLD, "whsec_wrong"):
        assert secret not in response.text
        assert secret not in caplog.text
