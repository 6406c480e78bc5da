"""The machinery simulators share: loopback serving, faults, at-least-once webhook delivery."""

from __future__ import annotations

import json

import httpx
from fastapi import FastAPI, Request

from revline.providers.simulator import FaultInjector, Faults, LoopbackServer, WebhookDispatcher


def _error(status: int) -> tuple[dict[str, str], bytes]:
    return {"content-type": "application/json"}, json.dumps({"status": status}).encode()


def _receiver() -> tuple[FastAPI, list[dict[str, object]]]:
    app = FastAPI()
    received: list[dict[str, object]] = []
    answers = {"fail_first": 1}

    @app.post("/hook")
    async def hook(request: Request) -> dict[str, bool]:
        received.append({"body": await request.body(), "sig": request.headers.get("x-sig")})
        return {"ok": True}

    @app.post("/flaky")
    async def flaky(request: Request) -> dict[str, bool]:
        received.append({"body": await request.body()})
        if answers["fail_first"]:
            answers["fail_first"] -= 1
            raise RuntimeError("receiver down")
        return {"ok": True}

    @app.get("/thing")
    async def thing() -> dict[str, str]:
        return {"id": "thing_1"}

    @app.get("/_sim/state")
    async def state() -> dict[str, str]:
        return {"ok": "yes"}

    return app, received


def test_faults_hit_api_paths_only_and_follow_the_seed() -> None:
    app, _ = _receiver()
    injector = FaultInjector(app, Faults(api_error_rate=0.3, api_429_rate=0.2, seed=3), _error)
    with LoopbackServer(injector) as server, httpx.Client(base_url=server.url) as client:
        statuses = [client.get("/thing").status_code for _ in range(200)]
        controls = {client.get("/_sim/state").status_code for _ in range(50)}
    assert controls == {200}
    assert 20 < statuses.count(429) < 70
    assert 35 < statuses.count(500) < 95
    assert statuses.count(429) + statuses.count(500) + statuses.count(200) == 200
    assert injector.injected == {429: statuses.count(429), 500: statuses.count(500)}


def test_delivery_is_signed_retried_and_at_least_once() -> None:
    app, received = _receiver()
    with LoopbackServer(app) as server:
        dispatcher = WebhookDispatcher(endpoint=f"{server.url}/flaky")
        dispatcher.enqueue("evt_1", b'{"id": "evt_1"}', lambda body: {"x-sig": "s"})
        assert dispatcher.flush() == 0  # the receiver failed: kept for the next flush
        assert dispatcher.flush() == 1
        assert dispatcher.delivered == ["evt_1"] and dispatcher.pending == []
    assert len(received) == 2


def test_duplicates_reorder_and_drops_follow_the_faults() -> None:
    app, received = _receiver()
    faults = Faults(
        webhook_duplicate_rate=0.5, webhook_drop_rate=0.2, webhook_reorder=True, seed=11
    )
    with LoopbackServer(app) as server:
        dispatcher = WebhookDispatcher(endpoint=f"{server.url}/hook", faults=faults)
        for i in range(60):
            dispatcher.enqueue(f"evt_{i}", f'{{"n": {i}}}'.encode(), lambda b: {"x-sig": "s"})
        dispatcher.flush()
    sent = [json.loads(r["body"])["n"] for r in received]  # type: ignore[arg-type]
    dropped = {int(e.removeprefix("evt_")) for e in dispatcher.dropped}
    assert 3 < len(dropped) < 25
    assert set(sent) == set(range(60)) - dropped
    assert len(sent) > len(set(sent))  # some were delivered twice
    assert sent != sorted(sent)  # and not in order
    assert all(r["sig"] == "s" for r in received)


def test_429s_come_in_bursts_when_asked() -> None:
    app, _ = _receiver()
    injector = FaultInjector(app, Faults(api_429_rate=0.1, api_429_burst=4, seed=2), _error)
    with LoopbackServer(injector) as server, httpx.Client(base_url=server.url) as client:
        statuses = [client.get("/thing").status_code for _ in range(200)]
    runs = "".join("x" if s == 429 else "." for s in statuses).split(".")
    bursts = [len(r) for r in runs if r]
    assert bursts and all(b >= 4 for b in bursts[:-1])  # the last may be cut off by the end
