"""``revline doctor``'s checks against the four simulators over real loopback connections."""

from __future__ import annotations

import socket
import sqlite3
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from revline.clock import Clock, SimulatedClock, SystemClock
from revline.config import Mail, Ramp, load_settings
from revline.db.engine import Database
from revline.providers.doctor import REDACTED, Check, check, nothing_configured, passed
from revline.providers.mail.sim import MailSimulator
from revline.providers.netsuite.sim import NetSuiteSimulator
from revline.providers.ramp.sim import RampSimulator
from revline.providers.stripe.sim import StripeSimulator

# Distinctive values, so that finding one in the output can only mean it leaked.
STRIPE_KEY = "sk_test_doctor_4b7e19c2a8d35f60e1"
STRIPE_WEBHOOK_SECRET = "whsec_doctor_9c1d2e3f4a5b6c7d8e"
NS_CONSUMER_KEY = "ns-consumer-key-5e0c7a91d2b3"
NS_CONSUMER_SECRET = "ns-consumer-secret-8f2d6b4a1c9e"
NS_TOKEN_ID = "ns-token-id-3a7f1e5c9b2d"
NS_TOKEN_SECRET = "ns-token-secret-6d4b8e2a0f1c"
RAMP_CLIENT_ID = "ramp-doctor-client-2c8e4a6f"
RAMP_CLIENT_SECRET = "ramp-doctor-secret-7b1d3f5e9a"
RAMP_WEBHOOK_SECRET = "ramp-doctor-webhook-0e2c4a6b8d"
MAIL_USER = "revline-doctor-sender"
MAIL_PASSWORD = "mail-doctor-password-4f6a8c"
SECRETS = (
    STRIPE_KEY,
    STRIPE_WEBHOOK_SECRET,
    NS_CONSUMER_KEY,
    NS_CONSUMER_SECRET,
    NS_TOKEN_ID,
    NS_TOKEN_SECRET,
    RAMP_CLIENT_ID,
    RAMP_CLIENT_SECRET,
    RAMP_WEBHOOK_SECRET,
    MAIL_USER,
    MAIL_PASSWORD,
)
# The wrong values the failure tests configure: they must not leak either.
WRONG_STRIPE_KEY = "sk_test_doctor_wrong_0a1b2c3d4e5f"
WRONG_TOKEN_SECRET = "ns-token-secret-wrong-9e8d7c"
WRONG_RAMP_SECRET = "ramp-doctor-secret-wrong-5a4b3c"
WRONG_MAIL_PASSWORD = "mail-doctor-password-wrong-1f2e"


class Services:
    """Stripe, NetSuite, Ramp and an SMTP server on loopback, with the credentials above."""

    def __init__(self, clock: Clock, *, mail_starttls: bool = False) -> None:
        self.stripe = StripeSimulator(
            clock, api_key=STRIPE_KEY, webhook_secret=STRIPE_WEBHOOK_SECRET
        )
        self.netsuite = NetSuiteSimulator(
            clock,
            consumer_key=NS_CONSUMER_KEY,
            consumer_secret=NS_CONSUMER_SECRET,
            token_id=NS_TOKEN_ID,
            token_secret=NS_TOKEN_SECRET,
        )
        self.ramp = RampSimulator(
            clock,
            client_id=RAMP_CLIENT_ID,
            client_secret=RAMP_CLIENT_SECRET,
            webhook_secret=RAMP_WEBHOOK_SECRET,
        )
        self.mail_starttls = mail_starttls
        self.mail = MailSimulator(starttls=mail_starttls, users={MAIL_USER: MAIL_PASSWORD})
        self._stack = ExitStack()

    def __enter__(self) -> Services:
        for simulator in (self.stripe, self.netsuite, self.ramp, self.mail):
            self._stack.enter_context(simulator)
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stack.close()

    def values(self, database_url: str) -> dict[str, Any]:
        """``load_settings`` overrides that point Revline at every simulator."""
        return {
            "database_url": database_url,
            "stripe_api_key": STRIPE_KEY,
            "stripe_api_base": self.stripe.url,
            "stripe_webhook_secret": STRIPE_WEBHOOK_SECRET,
            "netsuite": self.netsuite.settings(),
            "ramp": Ramp(
                api_base=self.ramp.url,
                client_id=SecretStr(RAMP_CLIENT_ID),
                client_secret=SecretStr(RAMP_CLIENT_SECRET),
            ),
            "ramp_webhook_secret": RAMP_WEBHOOK_SECRET,
            "mail": Mail(
                host=self.mail.host,
                port=self.mail.port,
                starttls=self.mail_starttls,
                username=SecretStr(MAIL_USER),
                password=SecretStr(MAIL_PASSWORD),
            ),
        }

    def environment(self) -> dict[str, str]:
        """The same settings as ``REVLINE_*`` environment variables, the way operators set them."""
        return {
            "REVLINE_STRIPE_API_KEY": STRIPE_KEY,
            "REVLINE_STRIPE_API_BASE": self.stripe.url,
            "REVLINE_STRIPE_WEBHOOK_SECRET": STRIPE_WEBHOOK_SECRET,
            "REVLINE_NETSUITE__ACCOUNT_ID": self.netsuite.integration.account_id,
            "REVLINE_NETSUITE__BASE_URL": self.netsuite.base_url,
            "REVLINE_NETSUITE__RESTLET_URL": self.netsuite.restlet_url,
            "REVLINE_NETSUITE__CONSUMER_KEY": NS_CONSUMER_KEY,
            "REVLINE_NETSUITE__CONSUMER_SECRET": NS_CONSUMER_SECRET,
            "REVLINE_NETSUITE__TOKEN_ID": NS_TOKEN_ID,
            "REVLINE_NETSUITE__TOKEN_SECRET": NS_TOKEN_SECRET,
            "REVLINE_RAMP__API_BASE": self.ramp.url,
            "REVLINE_RAMP__CLIENT_ID": RAMP_CLIENT_ID,
            "REVLINE_RAMP__CLIENT_SECRET": RAMP_CLIENT_SECRET,
            "REVLINE_RAMP_WEBHOOK_SECRET": RAMP_WEBHOOK_SECRET,
            "REVLINE_MAIL__HOST": self.mail.host,
            "REVLINE_MAIL__PORT": str(self.mail.port),
            "REVLINE_MAIL__STARTTLS": "true" if self.mail_starttls else "false",
            "REVLINE_MAIL__USERNAME": MAIL_USER,
            "REVLINE_MAIL__PASSWORD": MAIL_PASSWORD,
        }


def assert_no_secret(findings: list[Check], *extra: str) -> None:
    text = "\n".join(f"{f.detail}\n{f.fix or ''}" for f in findings)
    for secret in (*SECRETS, *extra):
        assert secret not in text


def finding(findings: list[Check], provider: str, item: str) -> Check:
    [found] = [f for f in findings if f.provider == provider and f.item == item]
    return found


CLOCK = SystemClock()


@pytest.fixture(scope="module")
def services() -> Iterator[Services]:
    """One set for the module: the checks only read, so tests cannot disturb each other; the
    few that open accounts use :func:`bank_account`, since the module runs once per database.

    On the system clock, as ``revline doctor`` runs: NetSuite refuses signatures whose
    timestamp is minutes away from its own time.
    """
    with Services(CLOCK) as running:
        yield running


@pytest.fixture
def configured(services: Services, db: Database) -> dict[str, Any]:
    return services.values(db.url)


def bank_account(services: Services, number: str, name: str, currency: str) -> None:
    """Open a bank account in the simulated books unless an earlier run of the test did."""
    books = services.netsuite.books
    if books.row("SELECT id FROM account WHERE acctnumber = ?", (number,)) is None:
        books.add_account(number, name, "Bank", currency=currency)


def run(values: dict[str, Any], **options: Any) -> list[Check]:
    return check(load_settings(**values), CLOCK, **options)


# -- all is well ------------------------------------------------------------------------------


def test_all_four_configured_and_passing(services: Services, configured: dict[str, Any]) -> None:
    findings = run(configured)

    assert [(f.provider, f.item) for f in findings] == [
        ("stripe", "configured"),
        ("stripe", "connection"),
        ("stripe", "webhook secret"),
        ("netsuite", "configured"),
        ("netsuite", "connection"),
        ("netsuite", "restlet"),
        ("ramp", "configured"),
        ("ramp", "connection"),
        ("ramp", "webhook secret"),
        ("mail", "configured"),
        ("mail", "connection"),
        ("database", "connection"),
        ("database", "schema"),
    ]
    assert all(f.ok and f.fix is None and not f.warning for f in findings), findings
    assert passed(findings)
    assert "AUTH" in finding(findings, "mail", "connection").detail
    assert "test-mode secret key" in finding(findings, "stripe", "configured").detail
    assert_no_secret(findings)


def test_the_checks_write_nothing(services: Services, configured: dict[str, Any]) -> None:
    netsuite_before = len(services.netsuite.requests)

    run(configured)

    assert services.mail.messages == []
    assert [(r.method, r.path) for r in services.netsuite.requests[netsuite_before:]] == [
        ("POST", "/services/rest/query/v1/suiteql")
    ]
    assert services.stripe.state.newest_first("customer") == []
    assert services.stripe.state.newest_first("event") == []
    assert services.ramp.state.events() == []


def test_netsuite_oauth2_fetches_a_token(services: Services, configured: dict[str, Any]) -> None:
    tokens_before = services.netsuite.gatekeeper.tokens_issued

    findings = run({**configured, "netsuite": services.netsuite.settings("oauth2")})

    assert finding(findings, "netsuite", "connection").ok
    assert "OAuth 2.0" in finding(findings, "netsuite", "configured").detail
    assert services.netsuite.gatekeeper.tokens_issued == tokens_before + 1
    assert passed(findings)


def test_an_unreadable_netsuite_private_key(services: Services, configured: dict[str, Any]) -> None:
    pem = "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n"
    netsuite = services.netsuite.settings("oauth2").model_copy(
        update={"private_key_pem": SecretStr(pem)}
    )

    findings = run({**configured, "netsuite": netsuite})

    found = finding(findings, "netsuite", "connection")
    assert found.detail.startswith("error: [netsuite] private_key_pem cannot be used")
    assert found.fix is not None and "unencrypted PEM" in found.fix
    assert "bm90IGEga2V5" not in found.detail


def test_a_clock_far_from_netsuite_s_is_invalid_login(configured: dict[str, Any]) -> None:
    skewed = SimulatedClock(CLOCK.now() + timedelta(hours=1))

    findings = check(load_settings(**configured), skewed)

    found = finding(findings, "netsuite", "connection")
    assert found.detail.startswith("rejected credentials: ") and "INVALID_LOGIN" in found.detail
    assert found.fix is not None and "clock" in found.fix


def test_mail_with_starttls_and_a_trusted_certificate(db: Database) -> None:
    with Services(CLOCK, mail_starttls=True) as services:
        values = services.values(db.url)
        trusted = run(values, mail_ssl_context=services.mail.client_ssl_context())
        untrusted = run(values)

    assert finding(trusted, "mail", "connection").detail.endswith(
        "accepted EHLO, STARTTLS, AUTH; nothing was sent"
    )
    failed = finding(untrusted, "mail", "connection")
    assert not failed.ok
    assert "certificate that does not verify" in failed.detail
    assert failed.fix is not None


# -- rejected credentials ---------------------------------------------------------------------


def test_a_wrong_stripe_key_is_rejected_with_a_fix(configured: dict[str, Any]) -> None:
    findings = run({**configured, "stripe_api_key": WRONG_STRIPE_KEY})

    stripe = finding(findings, "stripe", "connection")
    assert not stripe.ok and not stripe.warning
    assert stripe.detail.startswith("rejected credentials: ")
    # Stripe echoes part of the key it refused; that part is removed too.
    assert REDACTED in stripe.detail and "sk_test_" not in stripe.detail
    assert stripe.fix is not None and "REVLINE_STRIPE_API_KEY" in stripe.fix
    assert not passed(findings)
    assert_no_secret(findings, WRONG_STRIPE_KEY)


def test_a_bad_netsuite_token_secret_is_reported_as_invalid_login(
    services: Services, configured: dict[str, Any]
) -> None:
    netsuite = services.netsuite.settings().model_copy(
        update={"token_secret": SecretStr(WRONG_TOKEN_SECRET)}
    )
    findings = run({**configured, "netsuite": netsuite})

    found = finding(findings, "netsuite", "connection")
    assert found.detail.startswith("rejected credentials: ")
    assert "INVALID_LOGIN" in found.detail
    assert found.fix is not None and "token_secret" in found.fix
    assert not passed(findings)
    assert_no_secret(findings, WRONG_TOKEN_SECRET)


def test_a_wrong_ramp_client_secret_is_rejected(
    services: Services, configured: dict[str, Any]
) -> None:
    ramp = Ramp(
        api_base=services.ramp.url,
        client_id=SecretStr(RAMP_CLIENT_ID),
        client_secret=SecretStr(WRONG_RAMP_SECRET),
    )
    findings = run({**configured, "ramp": ramp})

    found = finding(findings, "ramp", "connection")
    assert found.detail.startswith("rejected credentials: ")
    assert "token request" in found.detail and "invalid_client" in found.detail
    assert found.fix is not None and "[ramp] client_id and client_secret" in found.fix
    assert not passed(findings)
    assert_no_secret(findings, WRONG_RAMP_SECRET)


def test_a_wrong_mail_password_is_rejected(services: Services, configured: dict[str, Any]) -> None:
    mail = configured["mail"].model_copy(update={"password": SecretStr(WRONG_MAIL_PASSWORD)})
    findings = run({**configured, "mail": mail})

    found = finding(findings, "mail", "connection")
    assert found.detail.startswith("rejected credentials: ")
    assert "535" in found.detail
    assert not passed(findings)
    assert_no_secret(findings, WRONG_MAIL_PASSWORD)


# -- unreachable ------------------------------------------------------------------------------


def test_a_stopped_mail_server_is_unreachable(configured: dict[str, Any]) -> None:
    with MailSimulator(users={MAIL_USER: MAIL_PASSWORD}) as stopped:
        port = stopped.port
    mail = configured["mail"].model_copy(update={"port": port})

    findings = run({**configured, "mail": mail})

    found = finding(findings, "mail", "connection")
    assert found.detail.startswith("unreachable: ")
    assert found.fix is not None and "[mail] host and port" in found.fix
    assert [f for f in findings if not f.ok] == [found]
    assert not passed(findings)


def test_every_provider_stopped_is_unreachable_not_rejected(db: Database) -> None:
    with Services(CLOCK) as stopped:
        values = stopped.values(db.url)

    findings = run(values)

    for provider in ("stripe", "netsuite", "ramp", "mail"):
        found = finding(findings, provider, "connection")
        assert found.detail.startswith("unreachable: "), found
        assert found.fix is not None


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (into the backlog) and never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield int(listener.getsockname()[1])


def test_a_silent_server_times_out_quickly_as_unreachable(
    configured: dict[str, Any], silent_port: int
) -> None:
    silent = f"http://127.0.0.1:{silent_port}"
    values = {
        **configured,
        "stripe_api_base": silent,
        "netsuite": configured["netsuite"].model_copy(update={"base_url": silent}),
        "ramp": configured["ramp"].model_copy(update={"api_base": silent}),
        "mail": configured["mail"].model_copy(update={"port": silent_port}),
    }
    started = time.monotonic()

    findings = run(values, timeout=0.5)

    # The providers are checked at once: one timeout, not four.
    assert time.monotonic() - started < 3
    for provider in ("stripe", "netsuite", "ramp", "mail"):
        assert finding(findings, provider, "connection").detail.startswith("unreachable: ")


def test_an_api_base_that_is_not_a_url_is_said_plainly(configured: dict[str, Any]) -> None:
    values = {
        **configured,
        "stripe_api_base": "127.0.0.1:12111",
        "netsuite": configured["netsuite"].model_copy(update={"base_url": "ftp://netsuite"}),
        "ramp": configured["ramp"].model_copy(update={"api_base": "https://"}),
    }

    findings = run(values)

    for provider, setting in (
        ("stripe", "REVLINE_STRIPE_API_BASE"),
        ("netsuite", "[netsuite] base_url"),
        ("ramp", "[ramp] api_base"),
    ):
        found = finding(findings, provider, "connection")
        assert found.detail.startswith(f"error: {setting} is not an http(s) URL"), found
        assert found.fix is not None and setting in found.fix


# -- not configured, partly configured --------------------------------------------------------


def test_nothing_configured_is_a_failure_with_guidance(db: Database) -> None:
    findings = run({"database_url": db.url})

    configured = [f for f in findings if f.item == "configured"]
    assert [f.provider for f in configured] == ["stripe", "netsuite", "ramp", "mail"]
    assert all(
        f.warning and not f.ok and f.detail.startswith("not configured: ") for f in configured
    )
    assert "REVLINE_STRIPE_API_KEY" in configured[0].detail
    assert "[netsuite] account_id" in configured[1].detail
    assert nothing_configured(findings)
    assert not passed(findings)
    none = finding(findings, "revline", "providers")
    assert none.fix is not None and "docs/providers.md" in none.fix


def test_one_provider_is_enough_the_others_are_warnings(
    configured: dict[str, Any], db: Database
) -> None:
    stripe_only = {
        key: configured[key]
        for key in ("database_url", "stripe_api_key", "stripe_api_base", "stripe_webhook_secret")
    }

    findings = run(stripe_only)

    assert passed(findings)
    assert not nothing_configured(findings)
    assert [f.provider for f in findings if f.warning] == ["netsuite", "ramp", "mail"]


def test_a_partly_configured_provider_fails_naming_what_is_missing(
    configured: dict[str, Any],
) -> None:
    values = {
        **configured,
        "ramp": configured["ramp"].model_copy(update={"client_secret": None}),
        "netsuite": configured["netsuite"].model_copy(update={"token_id": None}),
        "mail": configured["mail"].model_copy(update={"password": None}),
    }

    findings = run(values)

    expected = {
        "ramp": "[ramp] client_secret",
        "netsuite": "[netsuite] token_id",
        "mail": "[mail] password",
    }
    for provider, missing in expected.items():
        found = finding(findings, provider, "configured")
        assert not found.ok and not found.warning
        assert found.detail == f"not configured: partly set, missing {missing}"
        # Nothing to connect with: no connection check is attempted.
        assert [f for f in findings if f.provider == provider and f.item == "connection"] == []
    assert not passed(findings)


def test_missing_webhook_secrets_and_restlet_fail(configured: dict[str, Any]) -> None:
    values = {
        **configured,
        "stripe_webhook_secret": None,
        "ramp_webhook_secret": None,
        "netsuite": configured["netsuite"].model_copy(update={"restlet_url": None}),
    }

    findings = run(values)

    stripe = finding(findings, "stripe", "webhook secret")
    assert not stripe.ok and stripe.fix is not None
    assert "/webhooks/stripe" in stripe.fix and "REVLINE_STRIPE_WEBHOOK_SECRET" in stripe.fix
    ramp = finding(findings, "ramp", "webhook secret")
    assert not ramp.ok and ramp.fix is not None
    assert "/webhooks/ramp" in ramp.fix and "REVLINE_RAMP_WEBHOOK_SECRET" in ramp.fix
    restlet = finding(findings, "netsuite", "restlet")
    assert not restlet.ok and restlet.fix is not None and "restlet_url" in restlet.fix
    assert not passed(findings)


def test_an_api_key_given_as_the_stripe_webhook_secret_is_caught(
    configured: dict[str, Any],
) -> None:
    findings = run({**configured, "stripe_webhook_secret": STRIPE_KEY})

    found = finding(findings, "stripe", "webhook secret")
    assert not found.ok and "whsec_" in found.detail
    assert_no_secret(findings)


# -- the database -----------------------------------------------------------------------------


def test_a_missing_sqlite_file_is_reported_not_created(
    configured: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "nowhere" / "revline.db"

    findings = run({**configured, "database_url": f"sqlite:///{path}"})

    found = finding(findings, "database", "connection")
    assert not found.ok and found.fix is not None and "revline db upgrade" in found.fix
    assert not path.parent.exists()
    assert not passed(findings)


def test_a_database_without_schema(configured: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    sqlite3.connect(path).close()

    findings = run({**configured, "database_url": f"sqlite:///{path}"})

    assert finding(findings, "database", "connection").ok
    schema = finding(findings, "database", "schema")
    assert not schema.ok and schema.fix == "run `revline db upgrade`"
    assert not passed(findings)


def test_a_database_password_is_not_shown() -> None:
    url = "postgresql://revline:db-doctor-password-3c5e@127.0.0.1:1/revline"

    findings = run({"database_url": url}, timeout=1)

    found = finding(findings, "database", "connection")
    assert not found.ok and found.detail.startswith("unreachable: ")
    assert "db-doctor-password-3c5e" not in found.detail
    assert "***" in found.detail


def test_the_deposit_accounts_named_are_netsuites_bank_accounts(
    services: Services, configured: dict[str, Any]
) -> None:
    netsuite = configured["netsuite"]
    right = netsuite.model_copy(update={"deposit_bank_account": "1000"})
    found = finding(run({**configured, "netsuite": right}), "netsuite", "deposit accounts")
    assert (found.ok, found.detail) == (True, "Bank accounts in NetSuite: default 1000 (USD)")

    wrong = netsuite.model_copy(
        update={"deposit_bank_account": "1000", "deposit_bank_accounts": {"EUR": "4000"}}
    )
    findings = run({**configured, "netsuite": wrong})
    found = finding(findings, "netsuite", "deposit accounts")
    assert (found.ok, found.detail) == (False, "4000 (EUR) is not a bank account")
    assert found.fix is not None and "(there: 1000 USD" in found.fix
    assert not passed(findings)
    assert_no_secret(findings)


def test_a_deposit_account_must_be_active_and_hold_the_currency_it_is_named_for(
    services: Services, configured: dict[str, Any]
) -> None:
    bank_account(services, "1015", "Operating Bank EUR", "EUR")
    bank_account(services, "1016", "Operating Bank GBP", "GBP")
    bank_account(services, "1017", "Old Operating Bank EUR", "EUR")
    services.netsuite.books.inactivate_account("1017")
    netsuite = configured["netsuite"]

    def deposit_accounts(named: dict[str, str]) -> Check:
        update = {"deposit_bank_account": "1000", "deposit_bank_accounts": named}
        found = run({**configured, "netsuite": netsuite.model_copy(update=update)})
        return finding(found, "netsuite", "deposit accounts")

    found = deposit_accounts({"EUR": "1015", "GBP": "1016"})
    assert (found.ok, found.detail) == (
        True,
        "Bank accounts in NetSuite: default 1000 (USD), EUR 1015 (EUR), GBP 1016 (GBP)",
    )
    found = deposit_accounts({"EUR": "1016", "GBP": "1017"})
    assert (found.ok, found.detail) == (
        False,
        "1016 (EUR) holds GBP, not EUR; 1017 (GBP) is inactive",
    )
    assert found.fix is not None and "1015 EUR" in found.fix and "1017" not in found.fix


def test_the_default_deposit_account_holds_the_company_s_currency(
    services: Services, configured: dict[str, Any]
) -> None:
    """Every USD payout with no account of its own lands in the default account: one in
    sterling would have each of them refused by NetSuite."""
    bank_account(services, "1018", "Operating Bank GBP 2", "GBP")
    netsuite = configured["netsuite"].model_copy(update={"deposit_bank_account": "1018"})
    found = finding(run({**configured, "netsuite": netsuite}), "netsuite", "deposit accounts")
    assert (found.ok, found.detail) == (False, "1018 (default) holds GBP, not USD")


def test_a_default_account_in_the_base_currency_is_not_one_for_the_company_s_payouts(
    services: Services, configured: dict[str, Any]
) -> None:
    """A sterling company whose NetSuite base is the dollar: its pounds are paid into a pound
    account, and a deposit into the dollar one would be refused, so the doctor says so now."""
    company = {**configured.get("company", {}), "currency": "gbp"}
    netsuite = configured["netsuite"].model_copy(update={"deposit_bank_account": "1000"})
    found = finding(
        run({**configured, "company": company, "netsuite": netsuite}),
        "netsuite",
        "deposit accounts",
    )
    assert (found.ok, found.detail) == (False, "1000 (default) holds USD, not GBP")
