"""The app on a real uvicorn server: what the test client cannot show about HTTP itself."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from revline.api import create_app
from revline.core.runtime import Runtime
from tests.api.helpers import JSON, stored_ids, stripe_body, stripe_header


@pytest.fixture
def base_url(runtime: Runtime) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(create_app(runtime), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_a_chunked_upload_past_the_limit_is_refused_and_the_connection_goes_on(
    runtime: Runtime, base_url: str
) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(64):  # 4 MiB in 64 KiB chunks, with no Content-Length
            yield b"x" * 65536

    headers = {**JSON, "Stripe-Signature": "t=1,v1=00"}
    body = stripe_body("evt_after_big")
    with httpx.Client(base_url=base_url) as client:
        chunked = client.post("/webhooks/stripe", content=chunks(), headers=headers)
        declared = client.post("/webhooks/stripe", content=b"x" * (2 << 20), headers=headers)
        valid = client.post(
            "/webhooks/stripe",
            content=body,
            headers={**JSON, "Stripe-Signature": stripe_header(body)},
        )

    assert chunked.request.headers.get("transfer-encoding") == "chunked"
    assert (chunked.status_code, chunked.json()["error"]["code"]) == (413, "payload_too_large")
    assert (declared.status_code, declared.json()["error"]["code"]) == (413, "payload_too_large")
    assert valid.status_code == 202
    assert stored_ids(runtime) == {"evt_after_big"}


def test_concurrent_deliveries_over_real_connections_are_all_stored(
    runtime: Runtime, base_url: str
) -> None:
    bodies = [stripe_body(f"evt_real_{n}") for n in range(40)]

    def send(body: bytes) -> int:
        with httpx.Client(base_url=base_url) as client:
            headers = {**JSON, "Stripe-Signature": stripe_header(body)}
            return client.post("/webhooks/stripe", content=body, headers=headers).status_code

    results: list[int] = []
    threads = [threading.Thread(target=lambda b=b: results.append(send(b))) for b in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [202] * 40
    assert stored_ids(runtime) == {f"evt_real_{n}" for n in range(40)}
