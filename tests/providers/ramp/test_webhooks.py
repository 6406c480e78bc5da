"""Ramp webhooks: what the simulator signs, Revline's ingest accepts, once; tampering is refused."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from revline.api import create_app
from revline.api.errors import InvalidSignature
from revline.api.webhook_formats import verify_ramp
from revline.clock import SimulatedClock
from revline.core.runtime import Runtime
from revline.db.models import Event
from revline.providers.ramp.client import RampAdapter
from revline.providers.ramp.sim import READY_FOR_REVIEW, RampSimulator
from revline.providers.ramp.webhooks import SIGNATURE_HEADER, sign, verify
from revline.providers.simulator import Faults, LoopbackServer
from tests.conftest import RAMP_SECRET
from tests.providers.ramp.conftest import Business, FakeTime, start_sim


@pytest.fixture
def api(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime)) as client:
        yield client


def _stored(runtime: Runtime) -> list[tuple[str, str, str]]:
    with runtime.db.read() as session:
        rows = session.execute(select(Event).where(Event.source == "ramp")).scalars()
        return sorted((row.external_id, row.type, row.payload["object"]["id"]) for row in rows)


def test_signed_deliveries_land_in_the_inbox_once(
    runtime: Runtime, api: TestClient, clock: SimulatedClock, fake_time: FakeTime
) -> None:
    faults = Faults(webhook_duplicate_rate=0.6, webhook_reorder=True, seed=4)
    sim = start_sim(
        clock,
        fake_time,
        webhook_secret=RAMP_SECRET,
        webhook_endpoint="http://testserver/webhooks/ramp",
        faults=faults,
    )
    try:
        user = sim.state.add_user("Sam", "Okafor", "sam@ourco.example")
        txns = [sim.state.add_transaction(user.id, f"Vendor {n}", 1_000 + n) for n in range(5)]
        acknowledged = sim.flush_webhooks(client=api)
    finally:
        sim.stop()

    events = sim.state.events()
    assert acknowledged > len(txns)  # duplicates were delivered too
    assert sim.webhooks.pending == []
    assert _stored(runtime) == sorted(
        (e["id"], READY_FOR_REVIEW, e["object"]["id"]) for e in events
    )
    assert {e["object"]["id"] for e in events} == {t.id for t in txns}
    assert all(e["business_id"] == sim.state.business_id for e in events)


def test_a_tampered_delivery_is_refused(runtime: Runtime, api: TestClient) -> None:
    body = json.dumps(
        {
            "id": "evt-1",
            "type": READY_FOR_REVIEW,
            "created_at": "2026-12-01T14:00:00+00:00",
            "business_id": "biz",
            "object": {"id": "txn-1"},
        }
    ).encode()
    signature = sign(body, RAMP_SECRET)
    tampered = body.replace(b"txn-1", b"txn-2")

    answer = api.post(
        "/webhooks/ramp",
        content=tampered,
        headers={"Content-Type": "application/json", SIGNATURE_HEADER: signature},
    )

    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "invalid_signature"
    assert verify(tampered, signature, [RAMP_SECRET]) is False
    assert _stored(runtime) == []


@pytest.mark.parametrize(
    ("header", "secrets", "accepted"),
    [
        (sign(b"{}", "new"), ["new", "old"], True),
        (sign(b"{}", "old"), ["new", "old"], True),  # during a rotation
        (sign(b"{}", "old").upper(), ["new", "old"], True),
        (f"  {sign(b'{}', 'new')} ", ["new"], True),
        (sign(b"{}", "old"), ["new"], False),
        (sign(b"{ }", "new"), ["new"], False),
        ("", ["new"], False),
        (None, ["new"], False),
        ("é" * 64, ["new"], False),
    ],
)
def test_verification_agrees_with_the_api(
    header: str | None, secrets: list[str], accepted: bool
) -> None:
    assert verify(b"{}", header, secrets) is accepted
    if accepted:
        verify_ramp(b"{}", header, secrets, 300)
    elif header:
        with pytest.raises(InvalidSignature):
            verify_ramp(b"{}", header, secrets, 300)


def test_a_registered_endpoint_gets_its_own_secret(
    sim: RampSimulator, adapter: RampAdapter, business: Business
) -> None:
    received: list[tuple[bytes, str | None]] = []

    async def hook(request: Request) -> Response:
        received.append((await request.body(), request.headers.get(SIGNATURE_HEADER)))
        return Response(status_code=204)

    receiver = LoopbackServer(Starlette(routes=[Route("/ramp", hook, methods=["POST"])]))
    with receiver:
        subscription = adapter.register_webhook(f"{receiver.url}/ramp", [READY_FOR_REVIEW])
        txn = sim.state.add_transaction(business.cardholder.id, "Linear", 8_000)
        assert sim.flush_webhooks() == 1

    [(body, signature)] = received
    assert verify(body, signature, [subscription["secret"]])
    assert not verify(body, signature, [sim.webhook_secret])
    assert json.loads(body)["object"] == {"id": txn.id}
    assert sim.webhooks.delivered == []  # no dashboard endpoint was configured
