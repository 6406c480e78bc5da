"""What every provider simulator shares: serving on loopback, fault injection, webhook delivery.

Simulators are real HTTP applications. Each provider's ``sim/`` package builds an ASGI app over
its own seedable state; this module serves it on 127.0.0.1, injects the faults a scenario asks
for, and delivers its signed webhooks at least once, with retries, the way the real services do.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from pydantic import BaseModel, ConfigDict, Field

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class Faults(BaseModel):
    """Faults a simulator applies to a whole run (the ``faults`` of a scenario)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    api_error_rate: float = Field(0.0, ge=0, le=0.9)
    api_429_rate: float = Field(0.0, ge=0, le=0.9)
    # Once a 429 is drawn, this many requests in a row get one: rate limits come in bursts.
    api_429_burst: int = Field(1, ge=1, le=100)
    latency_ms: int = Field(0, ge=0, le=10_000)
    webhook_duplicate_rate: float = Field(0.0, ge=0, le=1)
    webhook_reorder: bool = False
    webhook_drop_rate: float = Field(0.0, ge=0, le=1)
    seed: int = 0


ErrorBody = Callable[[int], tuple[dict[str, str], bytes]]


class FaultInjector:
    """ASGI middleware: added latency, server errors and 429s on API paths.

    Faults strike before the request reaches the simulator, so an injected error never has an
    effect: like a load balancer failing, not like a half-applied request. Paths under ``/_sim``
    (the sandbox's own controls) are never faulted.
    """

    def __init__(self, app: ASGIApp, faults: Faults, error_body: ErrorBody) -> None:
        self.app = app
        self.faults = faults
        self.error_body = error_body
        self._rng = random.Random(faults.seed)
        self._lock = threading.Lock()
        self._burst_left = 0
        self.injected: dict[int, int] = {}

    def _draw(self) -> int | None:
        with self._lock:
            if self._burst_left:
                self._burst_left -= 1
                return 429
            roll = self._rng.random()
            if roll < self.faults.api_429_rate:
                self._burst_left = self.faults.api_429_burst - 1
                return 429
        if roll < self.faults.api_429_rate + self.faults.api_error_rate:
            return 500
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or str(scope.get("path", "")).startswith("/_sim"):
            await self.app(scope, receive, send)
            return
        if self.faults.latency_ms:
            await asyncio.sleep(self.faults.latency_ms / 1000)
        status = self._draw()
        if status is None:
            await self.app(scope, receive, send)
            return
        with self._lock:
            self.injected[status] = self.injected.get(status, 0) + 1
        headers, body = self.error_body(status)
        raw_headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        raw_headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": raw_headers})
        await send({"type": "http.response.body", "body": body})


class LoopbackServer:
    """Serves an ASGI app with uvicorn on 127.0.0.1 in a background thread."""

    def __init__(self, app: ASGIApp, port: int = 0) -> None:
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="auto", access_log=False
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def start(self, timeout: float = 10.0) -> LoopbackServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("simulator server did not start")
            time.sleep(0.01)
        return self

    @property
    def port(self) -> int:
        sockets = self._server.servers[0].sockets
        return int(sockets[0].getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> LoopbackServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


@dataclass
class Delivery:
    """One webhook to deliver: the event id (for reporting), the body, and its signer."""

    event_id: str
    body: bytes
    sign: Callable[[bytes], dict[str, str]]
    attempts: int = 0


@dataclass
class WebhookDispatcher:
    """At-least-once webhook delivery with retries, and the scenario's delivery faults.

    ``flush`` delivers everything pending, synchronously: the sandbox calls it as its simulated
    clock advances, so runs are reproducible. A delivery answered with anything but 2xx, or not
    answered at all, is retried on a later flush (up to ``max_attempts``), as providers retry.
    A dropped delivery is never sent: the event is only in the provider's events list, where the
    catch-up poll has to find it.
    """

    endpoint: str | None = None
    faults: Faults = field(default_factory=Faults)
    max_attempts: int = 10
    pending: list[Delivery] = field(default_factory=list)
    delivered: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.faults.seed + 1)
        self._lock = threading.Lock()

    def enqueue(self, event_id: str, body: bytes, sign: Callable[[bytes], dict[str, str]]) -> None:
        with self._lock:
            if self._rng.random() < self.faults.webhook_drop_rate:
                self.dropped.append(event_id)
                return
            self.pending.append(Delivery(event_id, body, sign))
            if self._rng.random() < self.faults.webhook_duplicate_rate:
                self.pending.append(Delivery(event_id, body, sign))

    def flush(self, client: httpx.Client | None = None) -> int:
        """Deliver what is pending now; returns how many deliveries were acknowledged."""
        if self.endpoint is None:
            return 0
        with self._lock:
            batch, self.pending = self.pending, []
            if self.faults.webhook_reorder:
                self._rng.shuffle(batch)
        owns = client is None
        http = client or httpx.Client(timeout=10.0)
        acknowledged = 0
        retry: list[Delivery] = []
        try:
            for delivery in batch:
                delivery.attempts += 1
                headers = {"Content-Type": "application/json", **delivery.sign(delivery.body)}
                try:
                    response = http.post(self.endpoint, content=delivery.body, headers=headers)
                    ok = 200 <= response.status_code < 300
                except httpx.HTTPError:
                    ok = False
                if ok:
                    acknowledged += 1
                    self.delivered.append(delivery.event_id)
                elif delivery.attempts < self.max_attempts:
                    retry.append(delivery)
                else:
                    self.failed.append(delivery.event_id)
        finally:
            if owns:
                http.close()
        with self._lock:
            self.pending = retry + self.pending
        return acknowledged
