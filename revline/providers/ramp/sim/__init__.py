"""A simulated Ramp: the developer API over real HTTP on loopback, and its signed webhooks.

Usage (the sandbox and the tests)::

    sim = RampSimulator(clock, seed=7, client_id="revline", client_secret="s3cret",
                        webhook_secret=settings_secret, webhook_endpoint=api_url + "/webhooks/ramp")
    sim.start()
    finance = sim.state.add_department("Finance")
    owner = sim.state.add_user("Ada", "Ng", "ada@ourco.example", department_id=finance.id)
    sim.state.add_gl_account("6610", "Software & SaaS")
    txn = sim.state.add_transaction(owner.id, "Figma", 4_500, receipt="illegible")
    sim.flush_webhooks()            # deliver transactions.ready_for_review, signed
    adapter = RampAdapter(sim.url, "revline", "s3cret", ALL_SCOPES)
    ...
    sim.state.reviews(txn.id)       # what Revline decided, as Ramp recorded it
    sim.stop()

``state`` is the seeding and read-back API (``RampState``); ``url`` is what ``ramp.api_base``
points at. Faults (``api_error_rate``, ``api_429_rate``, latency) strike in front of the API,
webhook faults (duplicates, reordering, drops) in the dispatcher.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import httpx

from revline.clock import Clock
from revline.providers.ramp.ratelimit import RAMP_LIMIT, RAMP_WINDOW_SECONDS
from revline.providers.ramp.sim.app import ALL_SCOPES, RampApi
from revline.providers.ramp.sim.state import (
    MISSING_RECEIPT,
    READY_FOR_REVIEW,
    RECEIPT_ILLEGIBLE,
    RampState,
    Review,
    Subscription,
)
from revline.providers.ramp.webhooks import signature_headers
from revline.providers.simulator import FaultInjector, Faults, LoopbackServer, WebhookDispatcher

__all__ = [
    "ALL_SCOPES",
    "MISSING_RECEIPT",
    "READY_FOR_REVIEW",
    "RECEIPT_ILLEGIBLE",
    "RampSimulator",
    "RampState",
    "Review",
    "Subscription",
]


class RampSimulator:
    """The simulated Ramp: state, HTTP API, fault injection and webhook delivery together.

    ``webhook_endpoint``/``webhook_secret`` stand for a webhook registered in Ramp's dashboard;
    endpoints registered through ``POST /webhooks`` get their own secret and deliveries.
    ``rate_limit``/``rate_window``/``monotonic`` set the server's rate limit (Ramp's by
    default, on the wall clock).
    """

    def __init__(
        self,
        clock: Clock,
        seed: int = 0,
        client_id: str = "revline-sim",
        client_secret: str = "ramp-sim-client-secret",  # noqa: S107 (the simulator's own)
        webhook_secret: str = "ramp-sim-webhook-secret",  # noqa: S107 (the simulator's own)
        webhook_endpoint: str | None = None,
        faults: Faults | None = None,
        *,
        scopes: Sequence[str] = ALL_SCOPES,
        currency: str = "USD",
        rate_limit: int = RAMP_LIMIT,
        rate_window: float = RAMP_WINDOW_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
        port: int = 0,
    ) -> None:
        self.faults = faults or Faults()
        self.webhook_secret = webhook_secret
        self.state = RampState(clock, seed, currency)
        self.api = RampApi(
            self.state,
            client_id,
            client_secret,
            scopes=scopes,
            seed=seed,
            rate_limit=rate_limit,
            rate_window=rate_window,
            monotonic=monotonic,
        )
        self.injector = FaultInjector(self.api, self.faults, self.api.error_body)
        self.webhooks = WebhookDispatcher(endpoint=webhook_endpoint, faults=self.faults)
        self._subscribers: dict[str, WebhookDispatcher] = {}
        self._server = LoopbackServer(self.injector, port)
        self.state.on_event(self._deliver)

    def start(self) -> RampSimulator:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> RampSimulator:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The API base (``ramp.api_base``): ``http://127.0.0.1:<port>``."""
        return self._server.url

    @property
    def token_requests(self) -> int:
        """How many times a client asked for a token."""
        return self.api.token_requests

    @property
    def throttled(self) -> int:
        """How many requests the server's rate limit refused with 429."""
        return self.api.throttled

    def flush_webhooks(self, client: httpx.Client | None = None) -> int:
        """Deliver every pending webhook (to every endpoint); returns the acknowledged count.

        Deliveries not acknowledged stay pending for the next flush, up to Ramp's retries.
        """
        dispatchers = [self.webhooks, *self._subscribers.values()]
        return sum(dispatcher.flush(client) for dispatcher in dispatchers)

    def _deliver(self, event: Mapping[str, Any]) -> None:
        body = json.dumps(event, separators=(",", ":")).encode()
        event_id = str(event["id"])
        self.webhooks.enqueue(event_id, body, self._signer(self.webhook_secret))
        for subscription in self.state.subscriptions():
            if subscription.event_types and event["type"] not in subscription.event_types:
                continue
            dispatcher = self._subscribers.get(subscription.id)
            if dispatcher is None:
                dispatcher = WebhookDispatcher(
                    endpoint=subscription.endpoint_url, faults=self.faults
                )
                self._subscribers[subscription.id] = dispatcher
            dispatcher.enqueue(event_id, body, self._signer(subscription.secret))

    @staticmethod
    def _signer(secret: str) -> Callable[[bytes], dict[str, str]]:
        return lambda body: signature_headers(body, secret)
