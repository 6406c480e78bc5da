"""A simulated NetSuite account on loopback, speaking SuiteTalk REST, SuiteQL and the RESTlet.

::

    with NetSuiteSimulator(clock, seed=7) as sim:
        acme = sim.books.add_customer("Acme Corp", "billing@acme.example",
                                      stripe_customer_id="cus_acme",
                                      ap_contact=("Dana Reyes", "dana.reyes@acme.example"))
        adapter = NetSuiteAdapter(sim.settings(), clock=clock)

``books`` is the account's data (``NetSuiteBooks``: seed, enact, inspect); ``settings()`` gives
the ``[netsuite]`` settings that point Revline at this account, with token-based auth or OAuth
2.0 client credentials. What it imitates, and what it does not, is in
docs/providers/netsuite.md.
"""

from __future__ import annotations

import random

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pydantic import SecretStr

from revline.clock import Clock
from revline.config import NetSuite
from revline.providers.netsuite.sim.app import (
    RESTLET_PATH,
    AccountApp,
    ConcurrencyGate,
    SeenRequest,
    fault_body,
)
from revline.providers.netsuite.sim.books import BooksError, NetSuiteBooks
from revline.providers.netsuite.sim.oauth import Gatekeeper, Integration
from revline.providers.netsuite.sim.restlet import DEPLOY_ID, SCRIPT_ID
from revline.providers.simulator import FaultInjector, Faults, LoopbackServer

__all__ = ["BooksError", "NetSuiteBooks", "NetSuiteSimulator", "SeenRequest"]


class NetSuiteSimulator:
    """One NetSuite account: books, credentials, the concurrency limit, faults, a server."""

    def __init__(
        self,
        clock: Clock,
        *,
        seed: int = 0,
        account_id: str = "1234567_SB1",
        concurrency_limit: int = 5,
        faults: Faults | None = None,
        processing_ms: int = 0,
        consumer_key: str | None = None,
        consumer_secret: str | None = None,
        token_id: str | None = None,
        token_secret: str | None = None,
        client_id: str | None = None,
        certificate_id: str | None = None,
        certificate_public_key_pem: str | None = None,
        timezone: str = "UTC",
    ) -> None:
        """Credentials not given are made up from ``seed``. Without a certificate's public
        key, the simulator makes a key pair and offers the private half as
        ``private_key_pem`` (for ``settings(auth="oauth2")``). ``timezone`` is the account's
        (its company preference): the day a transaction entered without a date is dated."""
        rng = random.Random(seed)

        def made_up(length: int = 64) -> str:
            return "".join(rng.choice("0123456789abcdef") for _ in range(length))

        self.private_key_pem: str | None = None
        if certificate_public_key_pem is None:
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self.private_key_pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode()
            certificate_public_key_pem = (
                key.public_key()
                .public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                )
                .decode()
            )
        self.integration = Integration(
            account_id=account_id,
            consumer_key=consumer_key or made_up(),
            consumer_secret=consumer_secret or made_up(),
            token_id=token_id or made_up(),
            token_secret=token_secret or made_up(),
            client_id=client_id or made_up(),
            certificate_id=certificate_id or made_up(43),
            certificate_public_key_pem=certificate_public_key_pem,
        )
        self.clock = clock
        self.books = NetSuiteBooks(clock, timezone)
        self.gatekeeper = Gatekeeper(self.integration, clock, seed)
        self.gate = ConcurrencyGate(
            AccountApp(self.books, self.gatekeeper), concurrency_limit, processing_ms / 1000
        )
        self.faults = FaultInjector(self.gate, faults or Faults(), fault_body)
        self._server = LoopbackServer(self.faults)

    # -- serving ----------------------------------------------------------------------------------

    def start(self) -> NetSuiteSimulator:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> NetSuiteSimulator:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """What ``netsuite.base_url`` is set to (the real one is the account's SuiteTalk host)."""
        return self._server.url

    @property
    def restlet_url(self) -> str:
        """The deployed RESTlet's external URL (``netsuite.restlet_url``)."""
        return f"{self._server.url}{RESTLET_PATH}?script={SCRIPT_ID}&deploy={DEPLOY_ID}"

    def settings(self, auth: str = "tba", *, concurrency_limit: int | None = None) -> NetSuite:
        """Revline's ``[netsuite]`` settings for this account; ``concurrency_limit`` defaults to
        the account's own limit."""
        integration = self.integration
        base = NetSuite(
            account_id=integration.account_id,
            base_url=self.base_url,
            restlet_url=self.restlet_url,
            concurrency_limit=concurrency_limit or self.gate.limit,
        )
        if auth == "tba":
            return base.model_copy(
                update={
                    "auth": "tba",
                    "consumer_key": SecretStr(integration.consumer_key),
                    "consumer_secret": SecretStr(integration.consumer_secret),
                    "token_id": SecretStr(integration.token_id),
                    "token_secret": SecretStr(integration.token_secret),
                }
            )
        if auth != "oauth2":
            raise ValueError(f"auth must be tba or oauth2, not {auth!r}")
        if self.private_key_pem is None:
            raise ValueError("the certificate's private key was not made here; supply it yourself")
        return base.model_copy(
            update={
                "auth": "oauth2",
                "client_id": SecretStr(integration.client_id),
                "certificate_id": integration.certificate_id,
                "private_key_pem": SecretStr(self.private_key_pem),
            }
        )

    # -- what the account saw ---------------------------------------------------------------------

    @property
    def requests(self) -> list[SeenRequest]:
        """Every request that reached the account (faults injected in front are not here)."""
        return list(self.gate.seen)

    @property
    def refused_for_concurrency(self) -> int:
        """Requests refused because the concurrency limit was reached."""
        return self.gate.refused

    @property
    def peak_concurrency(self) -> int:
        return self.gate.peak
