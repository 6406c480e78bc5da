"""The fake provider the process tests count effects with: it must itself be trustworthy."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import httpx
import pytest

from revline.providers.base import ActionRequest, ProviderError
from tests.support.effect_server import EffectStore, http_effect_handler, make_server


@pytest.fixture
def store() -> EffectStore:
    return EffectStore()


@pytest.fixture
def url(store: EffectStore) -> Iterator[str]:
    server = make_server(store)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    yield f"http://{host!s}:{port}"
    server.shutdown()
    server.server_close()


def request(key: str, **params: object) -> ActionRequest:
    return ActionRequest("act_1", "fake.effect.apply", "subject", params, key, 1)


def test_a_repeated_key_replays_the_first_effect(url: str, store: EffectStore) -> None:
    handler = http_effect_handler(url)
    first = handler(request("k1", n=1))
    again = handler(request("k1", n=1))
    other = handler(request("k2", n=1))

    assert again == first
    assert other["id"] != first["id"]
    assert httpx.get(f"{url}/effects").json() == {
        "k1": {"calls": 2, "applied": 1, "replays": 1, "id": first["id"]},
        "k2": {"calls": 1, "applied": 1, "replays": 0, "id": other["id"]},
    }
    replayed = httpx.post(f"{url}/effects", json={"n": 1}, headers={"Idempotency-Key": "k1"})
    assert replayed.headers["Idempotent-Replayed"] == "true"


def test_a_key_reused_with_other_parameters_is_refused_for_good(url: str) -> None:
    handler = http_effect_handler(url)
    handler(request("k1", n=1))
    with pytest.raises(ProviderError) as raised:
        handler(request("k1", n=2))
    assert (raised.value.status, raised.value.retryable) == (400, False)
    assert raised.value.provider_code == "idempotency_error"


def test_a_request_cut_off_before_its_body_applies_nothing(url: str, store: EffectStore) -> None:
    # What a caller killed between writing its headers and its body leaves on the wire.
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(
            b"POST /effects HTTP/1.1\r\nHost: x\r\nIdempotency-Key: k1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 9\r\n\r\n{"
        )
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(1024) == b""  # no answer: the server closed the connection
    assert http_effect_handler(url)(request("k1", n=1))["params"] == {"n": 1}
    assert store.snapshot()["k1"]["replays"] == 0


def test_unavailable_answers_are_retryable_and_apply_nothing(url: str, store: EffectStore) -> None:
    store.fail_rate = 1.0
    with pytest.raises(ProviderError) as raised:
        http_effect_handler(url)(request("k1", n=1))
    assert (raised.value.status, raised.value.retryable) == (503, True)
    assert store.snapshot()["k1"]["applied"] == 0


def test_an_unreachable_provider_is_retryable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        with pytest.raises(ProviderError) as raised:
            http_effect_handler(f"http://127.0.0.1:{port}", timeout=2)(request("k1", n=1))
    assert raised.value.retryable
    assert raised.value.status is None
