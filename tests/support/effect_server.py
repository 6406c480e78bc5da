"""A fake provider over real HTTP that applies each idempotency key's effect at most once.

It behaves like Stripe's ``Idempotency-Key`` handling: the first request with a key applies the
effect; a repeat with the same parameters replays the first response (``Idempotent-Replayed``);
a repeat with other parameters is a 400.
Optional latency (after the effect is applied, before the response leaves) widens the window in
which a caller dies between the provider's confirmation and its own record of it, and an optional
failure rate answers 503 without applying anything.

Run it as its own process, so callers can be killed without taking it down::

    python -m tests.support.effect_server --latency-ms 20 --fail-rate 0.05

It prints ``listening <url>`` once it accepts connections. ``GET /effects`` returns
``{key: {"calls": n, "applied": 0|1, "replays": r, "id": effect id or null}}``.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from revline.providers.base import ActionRequest, Handler, ProviderError

PROVIDER = "effect_server"
EFFECT_KIND = "fake.effect.apply"


@dataclass
class _Key:
    calls: int = 0
    replays: int = 0
    params: Any = None
    response: dict[str, Any] | None = None


@dataclass
class EffectStore:
    """Effects per idempotency key, shared by the server's request threads."""

    latency_seconds: float = 0.0
    fail_rate: float = 0.0
    rng: random.Random = field(default_factory=random.Random)
    _keys: dict[str, _Key] = field(default_factory=dict)
    _applied: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def apply(self, key: str, params: Any) -> tuple[int, dict[str, Any], bool]:
        """Returns (HTTP status, body, replayed)."""
        with self._lock:
            entry = self._keys.setdefault(key, _Key())
            entry.calls += 1
            if entry.response is not None:
                if entry.params != params:
                    return 400, _error("idempotency_error", "other parameters"), False
                entry.replays += 1
                return 200, entry.response, True
            if self.rng.random() < self.fail_rate:
                return 503, _error("unavailable", "try again later"), False
            self._applied += 1
            entry.params = params
            entry.response = {"id": f"fx_{self._applied}", "object": "effect", "params": params}
            delay = self.rng.uniform(0, self.latency_seconds)
        # The effect is durable before the response leaves, as at a real provider: a caller killed
        # during this sleep finds the effect already there when it retries with the same key.
        time.sleep(delay)
        return 200, entry.response, False

    def snapshot(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {
                key: {
                    "calls": entry.calls,
                    "applied": int(entry.response is not None),
                    "replays": entry.replays,
                    "id": entry.response["id"] if entry.response else None,
                }
                for key, entry in self._keys.items()
            }


def _error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def make_server(store: EffectStore, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes; with Nagle's algorithm on, the second waits for
        # the client's delayed ACK, adding ~40 ms to every keep-alive request.
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            if self.path != "/effects":
                self._send(404, _error("not_found", self.path))
                return
            length = int(self.headers.get("Content-Length") or 0)
            key = self.headers.get("Idempotency-Key")
            data = self.rfile.read(length)
            if len(data) < length:
                # The caller died between sending its headers and its body: a truncated request
                # must not apply anything (read as "{}", it would claim the key with no params).
                self.close_connection = True
                return
            try:
                params = json.loads(data or b"{}")
            except json.JSONDecodeError:
                self._send(400, _error("invalid_json", "the body is not JSON"))
                return
            if not key:
                self._send(400, _error("missing_idempotency_key", "send an Idempotency-Key"))
                return
            status, body, replayed = store.apply(key, params)
            self._send(status, body, {"Idempotent-Replayed": "true"} if replayed else {})

        def do_GET(self) -> None:
            if self.path != "/effects":
                self._send(404, _error("not_found", self.path))
                return
            self._send(200, store.snapshot())

        def _send(
            self, status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
        ) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Thousands of requests per test: the access log would only be noise."""

    server = _Server((host, port), Handler)
    server.daemon_threads = True
    return server


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # Callers killed mid-request reset the connection: expected here, not worth a traceback.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def http_effect_handler(base_url: str, timeout: float = 10.0) -> Handler:
    """The executor's adapter for the effect server: translates its answers into ProviderError."""
    client = httpx.Client(base_url=base_url, timeout=timeout)

    def handle(request: ActionRequest) -> Mapping[str, Any]:
        try:
            response = client.post(
                "/effects",
                json=dict(request.params),
                headers={"Idempotency-Key": request.idempotency_key},
            )
        except httpx.TransportError as exc:
            # Connection refused, reset or timed out: the effect may or may not have happened, so
            # only a retry with the same key can tell.
            raise ProviderError(
                f"{type(exc).__name__}: {exc}", retryable=True, provider=PROVIDER
            ) from exc
        body = response.json()
        if response.status_code >= 400:
            error = body.get("error", {})
            raise ProviderError.from_status(
                PROVIDER, response.status_code, error.get("message", ""), error.get("code")
            )
        assert isinstance(body, dict)
        return body

    return handle


@dataclass(frozen=True)
class RunningServer:
    url: str
    process: subprocess.Popen[str]

    def effects(self) -> dict[str, dict[str, Any]]:
        response = httpx.get(f"{self.url}/effects", timeout=10)
        response.raise_for_status()
        result: dict[str, dict[str, Any]] = response.json()
        return result


@contextmanager
def effect_server_process(latency_ms: float = 0, fail_rate: float = 0) -> Iterator[RunningServer]:
    """Start the server in its own process and stop it afterwards."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.effect_server",
            f"--latency-ms={latency_ms}",
            f"--fail-rate={fail_rate}",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.startswith("listening "):
            raise RuntimeError(f"effect server did not start (exit {process.wait()}): {line!r}")
        yield RunningServer(line.split()[1], process)
    finally:
        process.terminate()
        process.wait(timeout=10)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="upper bound, uniform")
    parser.add_argument("--fail-rate", type=float, default=0.0, help="share of 503 answers")
    args = parser.parse_args(argv)
    store = EffectStore(latency_seconds=args.latency_ms / 1000, fail_rate=args.fail_rate)
    server = make_server(store, port=args.port)
    host, port = server.server_address[:2]
    print(f"listening http://{host!s}:{port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
