"""A simulated Stripe account that Revline's real adapter talks to over loopback HTTP.

``StripeSimulator`` bundles the account (``state``, driven by the sandbox), its HTTP API (with
the scenario's faults injected in front), and at-least-once delivery of its events as webhooks
signed with ``Stripe-Signature``::

    hook = "http://127.0.0.1:8000/webhooks/stripe"
    with StripeSimulator(clock, seed=7, webhook_endpoint=hook) as sim:
        acme = sim.state.create_customer("billing@acme.example", "Acme Corp")
        sim.state.set_card(acme["id"], CardOutcome.fails("card_declined"))
        invoice = sim.state.create_invoice(acme["id"], 1_250_000, invoice_id="in_acme_1")
        sim.state.attempt_payment(invoice["id"])
        sim.flush_webhooks()
        adapter = StripeAdapter(sim.api_key, api_base=sim.url)
"""

from __future__ import annotations

import json

import httpx

from revline.clock import Clock
from revline.providers.simulator import FaultInjector, Faults, LoopbackServer, WebhookDispatcher
from revline.providers.stripe.signing import signer
from revline.providers.stripe.sim.app import create_app
from revline.providers.stripe.sim.errors import fault_body
from revline.providers.stripe.sim.state import (
    CARD_SUCCEEDS,
    CardOutcome,
    DunningEmail,
    FeeSchedule,
    OrphanPayment,
    PaymentAttempt,
    SimulationError,
    StripeState,
)

__all__ = [
    "CARD_SUCCEEDS",
    "CardOutcome",
    "DunningEmail",
    "FeeSchedule",
    "OrphanPayment",
    "PaymentAttempt",
    "SimulationError",
    "StripeSimulator",
    "StripeState",
]


class StripeSimulator:
    """The account, its API on 127.0.0.1 and its webhooks.

    Every event the account raises is queued for ``webhook_endpoint`` (subject to the faults'
    drops, duplicates and reordering); ``flush_webhooks`` delivers what is queued, each attempt
    signed afresh with ``webhook_secret`` at the real time of sending.
    """

    def __init__(
        self,
        clock: Clock,
        seed: int = 0,
        api_key: str = "sk_test_revline_simulator",
        webhook_secret: str = "whsec_revline_simulator",  # noqa: S107  (a simulator's own)
        webhook_endpoint: str | None = None,
        faults: Faults | None = None,
    ) -> None:
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        self.faults = faults or Faults(seed=seed)
        self.webhooks = WebhookDispatcher(endpoint=webhook_endpoint, faults=self.faults)
        self._sign = signer(webhook_secret)
        self.state = StripeState(clock, seed, on_event=self._queue)
        self.injector = FaultInjector(create_app(self.state, api_key), self.faults, fault_body)
        self._server = LoopbackServer(self.injector)

    def _queue(self, event: dict[str, object]) -> None:
        body = json.dumps(event).encode()
        self.webhooks.enqueue(str(event["id"]), body, self._sign)

    def flush_webhooks(self, client: httpx.Client | None = None) -> int:
        """Deliver the queued webhooks now (through ``client`` if given); returns how many the
        endpoint acknowledged."""
        return self.webhooks.flush(client)

    def start(self) -> StripeSimulator:
        self._server.start()
        return self

    @property
    def url(self) -> str:
        """The API base (``REVLINE_STRIPE_API_BASE``)."""
        return self._server.url

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> StripeSimulator:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
