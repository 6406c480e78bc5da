"""``revline doctor``: is each provider configured, reachable and accepting Revline's credentials?

For every provider the checks answer three questions, in this order: are its settings there
(``configured``), does one cheap authenticated read through Revline's own adapter succeed
(``connection``), and are its webhooks verifiable (``webhook secret``). The database is checked
too: reachable, and migrated to the schema this Revline expects.

A failed connection says which of three things went wrong, because each has a different fix:
the service could not be reached at all (``unreachable``: refused, timed out, no such host), it
answered but refused the credentials (``rejected credentials``: 401, ``INVALID_LOGIN``, 403), or
it answered with some other error. Settings are named as an operator writes them:
``REVLINE_STRIPE_API_KEY`` for top-level ones, ``[netsuite] account_id`` for those in a section
(environment: ``REVLINE_NETSUITE__ACCOUNT_ID``).

Nothing is written anywhere: the reads are a customer list filtered on an address that cannot
exist, one SuiteQL row, one page of Ramp transactions, and an SMTP session that ends at ``QUIT``.
A provider with none of its settings is reported as a warning, not a failure: Revline runs
without it. Secrets never appear in a detail or a fix, even when a provider echoes part of one.
"""

from __future__ import annotations

import logging
import re
import smtplib
import ssl
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import stripe
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from pydantic import BaseModel, SecretStr
from sqlalchemy import make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from revline.clock import Clock
from revline.config import Mail, NetSuite, Ramp, Settings
from revline.db import migrate
from revline.db.engine import Database, normalise_url
from revline.providers.base import ProviderError

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 5.0
STRIPE_DEFAULT_BASE = "https://api.stripe.com"
# An exact-match email filter on an address under a reserved top-level domain (RFC 2606): one
# request, a 200 with an empty list, and proof the key may read customers.
PROBE_EMAIL = "revline-doctor@example.invalid"
PROBE_SUITEQL = "SELECT id FROM customer ORDER BY id"
INDEX_DOC = "docs/providers.md"
NO_PROVIDER_ITEM = "providers"  # the finding that no provider is configured at all
# What stripe-python says about every connection failure, before the cause that matters.
STRIPE_SDK_NOISE = (
    "Unexpected error communicating with Stripe. If this problem persists, let us know at "
    "support@stripe.com."
)

UNREACHABLE = "unreachable"
REJECTED = "rejected credentials"
NOT_CONFIGURED = "not configured"
ERROR = "error"

# Stripe shows part of a key it refuses ("sk_test_****abcd"); such fragments are removed too.
_STRIPE_KEY_SHAPE = re.compile(r"\b(?:(?:sk|rk|pk)_(?:live|test)|whsec)_[A-Za-z0-9*]{4,}")
# Shorter values would be replaced inside ordinary words; no real credential is this short.
_MIN_REDACTED_LENGTH = 4
REDACTED = "[redacted]"


@dataclass(frozen=True)
class Check:
    """One finding: ``ok`` or not, what was seen, and what to do about it.

    ``warning`` marks a finding that does not fail the run (a provider with no settings at all:
    Revline simply runs without it). ``fix`` is None when there is nothing to do.
    """

    provider: str
    item: str
    ok: bool
    detail: str
    fix: str | None = None
    warning: bool = False

    @property
    def passed(self) -> bool:
        """Whether this finding lets ``revline doctor`` succeed."""
        return self.ok or self.warning


def passed(checks: Sequence[Check]) -> bool:
    """Every finding is fine or only a warning (which includes: at least one provider is set)."""
    return all(finding.passed for finding in checks)


def nothing_configured(checks: Sequence[Check]) -> bool:
    """Whether the findings say that no provider is configured at all."""
    return any(f.provider == "revline" and f.item == NO_PROVIDER_ITEM for f in checks)


def check(
    settings: Settings,
    clock: Clock,
    *,
    timeout: float = TIMEOUT_SECONDS,
    mail_ssl_context: ssl.SSLContext | None = None,
) -> list[Check]:
    """Every finding about ``settings``: the four providers, the database, and whether any
    provider is configured at all.

    ``clock`` signs NetSuite's token-based requests (NetSuite refuses timestamps far from its
    own). ``mail_ssl_context`` replaces the system trust store for STARTTLS (tests trust the
    mail simulator's certificate with it). The providers are checked at the same time, so an
    unreachable one costs ``timeout`` once, not once per provider.
    """
    probes: list[Callable[[], list[Check]]] = [
        lambda: _stripe(settings, clock, timeout),
        lambda: _netsuite(settings.netsuite, settings.company.currency, clock, timeout),
        lambda: _ramp(settings, timeout),
        lambda: _mail(settings.mail, timeout, mail_ssl_context),
        lambda: _database(settings.database_url, timeout),
    ]
    with ThreadPoolExecutor(max_workers=len(probes), thread_name_prefix="doctor") as pool:
        futures = [pool.submit(probe) for probe in probes]
        findings = [finding for future in futures for finding in future.result()]
    configured = [f for f in findings if f.item == "configured" and not f.warning]
    if not configured:
        findings.append(
            Check(
                "revline",
                NO_PROVIDER_ITEM,
                False,
                "no provider is configured: Revline can neither read from nor act in any service",
                "configure at least one: REVLINE_STRIPE_API_KEY for Stripe, [netsuite] "
                "account_id and its credentials, [ramp] client_id and client_secret, or [mail] "
                f"host; {INDEX_DOC} says how to connect each",
            )
        )
    redact = Redactor(settings)
    return [
        replace(f, detail=redact(f.detail), fix=None if f.fix is None else redact(f.fix))
        for f in findings
    ]


# -- secrets ----------------------------------------------------------------------------------


def _secret_values(model: BaseModel) -> Iterator[str]:
    for name in type(model).model_fields:
        value = getattr(model, name)
        if isinstance(value, SecretStr):
            yield value.get_secret_value()
        elif isinstance(value, BaseModel):
            yield from _secret_values(value)


class Redactor:
    """Removes every configured secret (and Stripe-shaped key fragments) from a text."""

    def __init__(self, settings: Settings) -> None:
        values = set(_secret_values(settings))
        try:
            password = make_url(settings.database_url).password
        except ArgumentError:
            password = None  # not a URL at all: the database check says so, without it
        if password:
            values.add(str(password))
        # Longest first, so a secret containing another is removed whole.
        self._values = sorted(
            (v for v in values if len(v) >= _MIN_REDACTED_LENGTH), key=len, reverse=True
        )

    def __call__(self, message: str) -> str:
        for value in self._values:
            message = message.replace(value, REDACTED)
        return _STRIPE_KEY_SHAPE.sub(REDACTED, message)


# -- shared shapes ----------------------------------------------------------------------------


def _configured(
    provider: str, *, missing: list[str], touched: bool, fix: str, present: str
) -> Check:
    """The ``configured`` finding: a warning when none of the provider's settings is there, a
    failure when only some are (wiring would skip the provider, or refuse to start with it).

    ``missing`` starts with the setting that switches the provider on; an untouched provider
    names only that one.
    """
    if not touched:
        return Check(
            provider,
            "configured",
            False,
            f"{NOT_CONFIGURED}: {missing[0]} not set; Revline runs without {provider}",
            fix,
            warning=True,
        )
    if missing:
        return Check(
            provider,
            "configured",
            False,
            f"{NOT_CONFIGURED}: partly set, missing {', '.join(missing)}",
            fix,
        )
    return Check(provider, "configured", True, present)


def _failure_kind(error: ProviderError) -> str:
    """Unreachable (no answer), rejected credentials (401/403), or another error."""
    if error.status is None and error.retryable:
        return UNREACHABLE  # adapters report connection failures and timeouts this way
    if error.status in (401, 403):
        return REJECTED
    return ERROR


def _failed_connection(
    provider: str, error: ProviderError, fixes: dict[str, str], noise: str = ""
) -> Check:
    """The ``connection`` finding for an adapter's error; ``noise`` is boilerplate the provider's
    SDK puts in its messages that would only distract here."""
    kind = _failure_kind(error)
    message = " ".join(error.message.split())
    if noise:
        message = message.replace(noise, "").strip()
    return Check(provider, "connection", False, f"{kind}: {message}", fixes[kind])


def _unusable_url(provider: str, url: str, setting: str) -> Check | None:
    """A failed ``connection`` finding when ``url`` cannot be an API base, else None: better
    said plainly than as whatever the HTTP client makes of it."""
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.hostname and " " not in url:
        return None
    return Check(
        provider,
        "connection",
        False,
        f"{ERROR}: {setting} is not an http(s) URL ({url!r})",
        f"set {setting} to the service's https:// address, or remove it for the default",
    )


# -- Stripe -----------------------------------------------------------------------------------


def _stripe_key_kind(key: str) -> str:
    kind = {"sk": "secret key", "rk": "restricted key"}.get(key[:2], "key of unknown kind")
    mode = "live" if "_live_" in key[:8] else "test" if "_test_" in key[:8] else None
    return f"{mode}-mode {kind}" if mode else kind


def _stripe(settings: Settings, clock: Clock, timeout: float) -> list[Check]:
    key = settings.stripe_api_key
    base = settings.stripe_api_base or STRIPE_DEFAULT_BASE
    touched = key is not None or any(
        value is not None
        for value in (
            settings.stripe_api_base,
            settings.stripe_webhook_secret,
            settings.stripe_webhook_secret_previous,
        )
    )
    set_key = (
        "create a restricted key (Dashboard → Developers → API keys) with the permissions in "
        "docs/providers/stripe.md and set REVLINE_STRIPE_API_KEY to it"
    )
    findings = [
        _configured(
            "stripe",
            missing=[] if key is not None else ["REVLINE_STRIPE_API_KEY"],
            touched=touched,
            fix=set_key,
            present=f"REVLINE_STRIPE_API_KEY set ({_stripe_key_kind(key.get_secret_value())})"
            if key is not None
            else "",
        )
    ]
    if not touched:
        return findings
    if key is not None:
        findings.append(_stripe_connection(key.get_secret_value(), settings, clock, timeout, base))
    findings.append(_stripe_webhook_secret(settings))
    return findings


def _stripe_connection(
    key: str, settings: Settings, clock: Clock, timeout: float, base: str
) -> Check:
    from revline.providers.stripe.client import StripeAdapter

    where = (
        f"{base} (REVLINE_STRIPE_API_BASE)"
        if settings.stripe_api_base
        else f"{base}; if a proxy is needed, set HTTPS_PROXY"
    )
    fixes = {
        UNREACHABLE: f"check that this host can reach {where}",
        REJECTED: "the key is wrong, rolled or revoked, or lacks the Customers permission: "
        + "create a restricted key with the permissions in docs/providers/stripe.md and set "
        + "REVLINE_STRIPE_API_KEY to it",
        ERROR: "Stripe answered with an error: try again, and if it persists see "
        "https://status.stripe.com",
    }
    if settings.stripe_api_base is not None:
        unusable = _unusable_url("stripe", settings.stripe_api_base, "REVLINE_STRIPE_API_BASE")
        if unusable is not None:
            return unusable
    http_client = stripe.new_default_http_client(timeout=timeout)
    try:
        # No retries: a doctor reports what it sees at once, within the timeout.
        adapter = StripeAdapter(
            key,
            api_base=settings.stripe_api_base,
            max_network_retries=0,
            clock=clock,
            http_client=http_client,
        )
        adapter.list_customers(email=PROBE_EMAIL)
    except ProviderError as exc:
        return _failed_connection("stripe", exc, fixes, noise=STRIPE_SDK_NOISE)
    finally:
        http_client.close()  # type: ignore[no-untyped-call]  # stripe leaves close untyped
    return Check("stripe", "connection", True, f"authenticated at {base}; customers readable")


def _stripe_webhook_secret(settings: Settings) -> Check:
    secret = settings.stripe_webhook_secret
    register = (
        "add the endpoint https://<your-revline-host>/webhooks/stripe (Dashboard → Developers "
        "→ Webhooks) and set REVLINE_STRIPE_WEBHOOK_SECRET to its signing secret (whsec_…)"
    )
    if secret is None:
        return Check(
            "stripe",
            "webhook secret",
            False,
            f"{NOT_CONFIGURED}: REVLINE_STRIPE_WEBHOOK_SECRET not set; /webhooks/stripe answers "
            "503 to every delivery (the catch-up poll still reads events, minutes late)",
            register,
        )
    if not secret.get_secret_value().startswith("whsec_"):
        return Check(
            "stripe",
            "webhook secret",
            False,
            "REVLINE_STRIPE_WEBHOOK_SECRET is set but is not a Stripe signing secret (those "
            "start with whsec_)",
            "copy the signing secret from the endpoint's page in the Dashboard, not an API key",
        )
    detail = "REVLINE_STRIPE_WEBHOOK_SECRET set"
    if settings.stripe_webhook_secret_previous is not None:
        detail += (
            "; REVLINE_STRIPE_WEBHOOK_SECRET_PREVIOUS is accepted too (a rotation): remove it "
            "once the old secret has expired"
        )
    return Check("stripe", "webhook secret", True, detail)


# -- NetSuite ---------------------------------------------------------------------------------

_NETSUITE_IDENTIFYING = (
    "account_id",
    "base_url",
    "consumer_key",
    "consumer_secret",
    "token_id",
    "token_secret",
    "client_id",
    "certificate_id",
    "private_key_pem",
    "restlet_url",
    "deposit_bank_account",
)


def _netsuite_required(ns: NetSuite) -> list[str]:
    if ns.auth == "tba":
        return ["account_id", "consumer_key", "consumer_secret", "token_id", "token_secret"]
    return ["account_id", "client_id", "certificate_id", "private_key_pem"]


def _netsuite(ns: NetSuite, currency: str, clock: Clock, timeout: float) -> list[Check]:
    touched = any(getattr(ns, name) is not None for name in _NETSUITE_IDENTIFYING)
    missing = [f"[netsuite] {name}" for name in _netsuite_required(ns) if not getattr(ns, name)]
    auth = "token-based auth" if ns.auth == "tba" else "OAuth 2.0 client credentials"
    findings = [
        _configured(
            "netsuite",
            missing=missing,
            touched=touched,
            fix="set [netsuite] account_id and the credentials of its auth (tba: consumer_key, "
            "consumer_secret, token_id, token_secret; oauth2: client_id, certificate_id, "
            "private_key_pem); docs/providers/netsuite.md shows where each comes from",
            present=f"account {ns.account_id}, {auth}",
        )
    ]
    if not touched:
        return findings
    if not missing:
        connection = _netsuite_connection(ns, clock, timeout)
        findings.append(connection)
        if connection.ok and (ns.deposit_bank_account or ns.deposit_bank_accounts):
            findings.append(_netsuite_deposit_accounts(ns, currency, clock, timeout))
    findings.append(_netsuite_restlet(ns))
    return findings


def _netsuite_deposit_accounts(ns: NetSuite, currency: str, clock: Clock, timeout: float) -> Check:
    """Each bank account the settings name for payouts' deposits is an active Bank account in
    NetSuite holding the currency it is named for (the default one: the company's, the
    currency its payouts come in): a wrong number is found now, not by the first morning's
    deposit."""
    from revline.providers.netsuite.client import NetSuiteAdapter
    from revline.providers.netsuite.transport import RetryPolicy

    named = {"default": ns.deposit_bank_account} if ns.deposit_bank_account else {}
    named.update(ns.deposit_bank_accounts)
    http = httpx.Client(timeout=timeout)
    try:
        adapter = NetSuiteAdapter(ns, clock=clock, http=http, retry=RetryPolicy(attempts=1))
        banks = {a.number: a for a in adapter.accounts() if a.type == "Bank" and a.number}
        held = {number: adapter.account_currency(account) for number, account in banks.items()}
    except ProviderError as exc:
        return Check(
            "netsuite",
            "deposit accounts",
            False,
            f"the chart of accounts could not be read: {' '.join(exc.message.split())}",
            "give the integration role Lists → Accounts (view), then run the doctor again",
        )
    finally:
        http.close()
    active = sorted(number for number, account in banks.items() if not account.inactive)
    # What each named account may hold: its currency; the default, the company's (a deposit
    # goes only into an account in its payout's currency, not the base one at NetSuite's rate).
    takes = {which: {which} if which != "default" else {currency.upper()} for which in named}
    wrong = [
        f"{number} ({which}) is not a bank account"
        if number not in banks
        else f"{number} ({which}) is inactive"
        if banks[number].inactive
        else f"{number} ({which}) holds {held[number]}, not {' or '.join(sorted(takes[which]))}"
        for which, number in named.items()
        if number not in banks
        or banks[number].inactive
        or (held[number] is not None and held[number] not in takes[which])
    ]
    if wrong:
        return Check(
            "netsuite",
            "deposit accounts",
            False,
            "; ".join(wrong),
            "set [netsuite] deposit_bank_account / deposit_bank_accounts to active NetSuite Bank "
            "accounts, each in the currency it is named for (there: "
            + (", ".join(f"{number} {held[number] or ''}".strip() for number in active) or "none")
            + ")",
        )
    shown = ", ".join(
        f"{which} {number} ({held[number]})" if held[number] else f"{which} {number}"
        for which, number in named.items()
    )
    return Check("netsuite", "deposit accounts", True, f"Bank accounts in NetSuite: {shown}")


def _netsuite_connection(ns: NetSuite, clock: Clock, timeout: float) -> Check:
    from revline.providers.netsuite.auth import JWT_ERRORS
    from revline.providers.netsuite.client import NetSuiteAdapter
    from revline.providers.netsuite.transport import RetryPolicy, default_base_url

    assert ns.account_id is not None  # checked by the caller: nothing is missing
    # What loading or signing with the OAuth 2.0 private key raises (an encrypted key: TypeError).
    # Token-based auth has no key: there, such an error is a bug and must not be explained away.
    key_errors: tuple[type[Exception], ...] = (
        (*JWT_ERRORS, TypeError) if ns.auth == "oauth2" else ()
    )
    base = ns.base_url or default_base_url(ns.account_id)
    if ns.auth == "tba":
        rejected = (
            "check [netsuite] consumer_key, consumer_secret, token_id and token_secret (each "
            "secret is shown once: make a new access token when in doubt), that the token's "
            "role may log in with access tokens, and that this machine's clock is right"
        )
    else:
        rejected = (
            "check [netsuite] client_id, certificate_id and private_key_pem, that the "
            "certificate has not expired, and that the M2M mapping's role may log in with "
            "OAuth 2.0 access tokens and view customers (docs/providers/netsuite.md, The role)"
        )
    fixes = {
        UNREACHABLE: f"check that this host can reach {base} ([netsuite] base_url, or the host "
        "derived from [netsuite] account_id)",
        REJECTED: rejected,
        ERROR: "NetSuite answered with an error: check that REST Web Services is enabled "
        "(Setup → Company → Enable Features → SuiteCloud) and try again",
    }
    unusable = _unusable_url("netsuite", base, "[netsuite] base_url")
    if unusable is not None:
        return unusable
    http = httpx.Client(timeout=timeout)
    try:
        adapter = NetSuiteAdapter(ns, clock=clock, http=http, retry=RetryPolicy(attempts=1))
        transport = adapter.transport
        # One page of one row, sent directly: the adapter's own SuiteQL reads every page.
        transport.send(
            "POST",
            f"{transport.rest_url}/query/v1/suiteql?limit=1&offset=0",
            body={"q": PROBE_SUITEQL},
            headers={"Prefer": "transient"},
            write=False,
            context="SuiteQL",
        )
    except ProviderError as exc:
        return _failed_connection("netsuite", exc, fixes)
    except key_errors as exc:
        return Check(
            "netsuite",
            "connection",
            False,
            f"{ERROR}: [netsuite] private_key_pem cannot be used to sign: {exc}",
            "set [netsuite] private_key_pem to the unencrypted PEM private key (RSA or EC P-256) "
            "of the certificate uploaded to NetSuite",
        )
    finally:
        http.close()
    return Check(
        "netsuite", "connection", True, f"authenticated at {base}; SuiteQL reads customers"
    )


def _netsuite_restlet(ns: NetSuite) -> Check:
    if ns.restlet_url is None:
        return Check(
            "netsuite",
            "restlet",
            False,
            f"{NOT_CONFIGURED}: [netsuite] restlet_url not set; voids, revenue recognition "
            "holds and timeline entries would go to the manual queue",
            "deploy Revline's RESTlet (docs/providers/netsuite.md, The RESTlet) and set "
            "[netsuite] restlet_url to the deployment's External URL",
        )
    # Not called: every RESTlet action is a write, and the doctor writes nothing.
    return Check("netsuite", "restlet", True, f"[netsuite] restlet_url set ({ns.restlet_url})")


# -- Ramp -------------------------------------------------------------------------------------


def _ramp(settings: Settings, timeout: float) -> list[Check]:
    ramp = settings.ramp
    touched = (
        any(
            value is not None
            for value in (
                ramp.client_id,
                ramp.client_secret,
                settings.ramp_webhook_secret,
                settings.ramp_webhook_secret_previous,
            )
        )
        or ramp.api_base != Ramp.model_fields["api_base"].default
    )
    missing = [
        f"[ramp] {name}" for name in ("client_id", "client_secret") if getattr(ramp, name) is None
    ]
    findings = [
        _configured(
            "ramp",
            missing=missing,
            touched=touched,
            fix="create a developer app with the client credentials grant and the scopes in "
            "docs/providers/ramp.md, and set [ramp] client_id and client_secret "
            "(REVLINE_RAMP__CLIENT_ID, REVLINE_RAMP__CLIENT_SECRET)",
            present=f"client credentials for {ramp.api_base}",
        )
    ]
    if not touched:
        return findings
    if not missing:
        findings.append(_ramp_connection(ramp, timeout))
    findings.append(_ramp_webhook_secret(settings))
    return findings


def _ramp_connection(ramp: Ramp, timeout: float) -> Check:
    from revline.providers.ramp.client import RampAdapter

    fixes = {
        UNREACHABLE: f"check that this host can reach {ramp.api_base} ([ramp] api_base)",
        REJECTED: "check [ramp] client_id and client_secret (copy them again from Ramp's "
        "developer settings), that the app has the client credentials grant, and that it was "
        "granted transactions:read",
        ERROR: "Ramp answered with an error: try again; quote the x-trace-id to Ramp support "
        "if it persists",
    }
    assert ramp.client_id is not None and ramp.client_secret is not None  # checked by caller
    unusable = _unusable_url("ramp", ramp.api_base, "[ramp] api_base")
    if unusable is not None:
        return unusable
    adapter = RampAdapter(
        ramp.api_base,
        ramp.client_id.get_secret_value(),
        ramp.client_secret.get_secret_value(),
        ramp.scopes,
        timeout=timeout,
        max_retries=0,
    )
    try:
        # The first request fetches the token; a page of two is Ramp's smallest.
        next(iter(adapter.list_transactions(page_size=2)), None)
    except ProviderError as exc:
        finding = _failed_connection("ramp", exc, fixes)
        if exc.provider_code == "invalid_scope":
            finding = replace(
                finding,
                fix="the app was not granted every scope in [ramp] scopes: grant them in Ramp "
                "(docs/providers/ramp.md lists them) or remove the extra ones from the list",
            )
        return finding
    finally:
        adapter.close()
    return Check(
        "ramp",
        "connection",
        True,
        f"token issued at {ramp.api_base}; transactions readable",
    )


def _ramp_webhook_secret(settings: Settings) -> Check:
    if settings.ramp_webhook_secret is None:
        return Check(
            "ramp",
            "webhook secret",
            False,
            f"{NOT_CONFIGURED}: REVLINE_RAMP_WEBHOOK_SECRET not set; /webhooks/ramp answers 503 "
            "to every delivery",
            "subscribe https://<your-revline-host>/webhooks/ramp to transactions.ready_for_review "
            "(Ramp's dashboard, or RampAdapter.register_webhook) and set "
            "REVLINE_RAMP_WEBHOOK_SECRET to the secret Ramp gives",
        )
    detail = "REVLINE_RAMP_WEBHOOK_SECRET set"
    if settings.ramp_webhook_secret_previous is not None:
        detail += "; REVLINE_RAMP_WEBHOOK_SECRET_PREVIOUS is accepted too (a rotation)"
    return Check("ramp", "webhook secret", True, detail)


# -- mail -------------------------------------------------------------------------------------


def _mail(mail: Mail, timeout: float, context: ssl.SSLContext | None) -> list[Check]:
    touched = any(value is not None for value in (mail.host, mail.username, mail.password))
    missing = [] if mail.host else ["[mail] host"]
    if mail.username is not None and mail.password is None:
        missing.append("[mail] password")
    if mail.password is not None and mail.username is None:
        missing.append("[mail] username")
    steps = "STARTTLS" if mail.starttls else "no STARTTLS"
    findings = [
        _configured(
            "mail",
            missing=missing,
            touched=touched,
            fix="set [mail] host (and port, username; the password as REVLINE_MAIL__PASSWORD) to "
            "your provider's submission service; docs/providers/mail.md",
            present=f"{mail.host}:{mail.port}, {steps}, "
            + ("AUTH as configured" if mail.username is not None else "no AUTH"),
        )
    ]
    if touched and not missing:
        findings.append(_mail_connection(mail, timeout, context or ssl.create_default_context()))
    return findings


def _mail_connection(mail: Mail, timeout: float, context: ssl.SSLContext) -> Check:
    """Connect, EHLO, STARTTLS and AUTH as configured, QUIT: the session a send opens, minus
    the message.

    The mail adapter has no such probe of its own (its only session sends), so this one follows
    ``MailAdapter._deliver`` step for step.
    """
    assert mail.host is not None  # checked by the caller
    where = f"{mail.host}:{mail.port}"
    unreachable_fix = f"check [mail] host and port ({where}) and that this host may connect to it"
    if mail.port == 465:
        unreachable_fix += "; port 465 (implicit TLS) is not supported: use 587 with STARTTLS"
    stage = "connect"
    done: list[str] = []

    def failed(kind: str, what: str, fix: str) -> Check:
        return Check("mail", "connection", False, f"{kind}: {where} {what} at {stage}", fix)

    try:
        smtp = smtplib.SMTP(mail.host, mail.port, timeout=timeout)  # connects, reads greeting
        try:
            stage = "EHLO"
            smtp.ehlo_or_helo_if_needed()
            done.append("EHLO")
            if mail.starttls:
                stage = "STARTTLS"
                smtp.starttls(context=context)
                smtp.ehlo()
                done.append("STARTTLS")
            if mail.username is not None:
                stage = "AUTH"
                password = mail.password.get_secret_value() if mail.password else ""
                smtp.login(mail.username.get_secret_value(), password)
                done.append("AUTH")
        finally:
            _quit(smtp)
    except smtplib.SMTPAuthenticationError as exc:
        return failed(
            REJECTED,
            f"answered {exc.smtp_code} {_text(exc.smtp_error)}",
            "check [mail] username and password (REVLINE_MAIL__PASSWORD); many providers want "
            "an app password or SMTP AUTH enabled for the account",
        )
    except smtplib.SMTPNotSupportedError:
        if stage == "STARTTLS":
            return failed(
                ERROR,
                "does not offer STARTTLS",
                "use the provider's submission port (587), which offers STARTTLS; set [mail] "
                "starttls = false only for a relay on a trusted network",
            )
        return failed(
            ERROR,
            "does not offer AUTH",
            "remove [mail] username if the server accepts mail without it"
            + (
                ""
                if mail.starttls
                else ", or turn on [mail] starttls: many servers offer AUTH only over TLS"
            ),
        )
    except smtplib.SMTPResponseException as exc:
        return failed(
            ERROR,
            f"answered {exc.smtp_code} {_text(exc.smtp_error)}",
            "see the server's reply; 4xx is temporary, try again later",
        )
    except smtplib.SMTPServerDisconnected as exc:
        return failed(UNREACHABLE, f"closed the connection ({exc})", unreachable_fix)
    except smtplib.SMTPException as exc:
        return failed(
            ERROR,
            f"cannot be used as configured ({exc})",
            "the server offers no AUTH mechanism Revline speaks (CRAM-MD5, PLAIN, LOGIN)",
        )
    except ssl.SSLCertVerificationError as exc:
        return failed(
            ERROR,
            f"presented a certificate that does not verify ({exc.verify_message})",
            "set [mail] host to the name on the server's certificate, or have the server use a "
            "certificate the system trusts",
        )
    except ssl.SSLError as exc:
        return failed(ERROR, f"failed the TLS handshake ({exc.reason})", unreachable_fix)
    except OSError as exc:  # refused, timed out, no such host
        return failed(UNREACHABLE, f"could not be reached ({exc!r})", unreachable_fix)
    return Check(
        "mail", "connection", True, f"{where} accepted {', '.join(done)}; nothing was sent"
    )


def _quit(smtp: smtplib.SMTP) -> None:
    """End the session politely; a failed QUIT changes nothing about what was found."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError) as exc:
        log.debug("SMTP QUIT failed (%r); closing the socket", exc)
        smtp.close()


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply


# -- the database -----------------------------------------------------------------------------

_UPGRADE = "run `revline db upgrade`"


def _database(url: str, timeout: float) -> list[Check]:
    fix_url = (
        "set REVLINE_DATABASE_URL (database_url) to sqlite:///path/revline.db or postgresql://…"
    )
    try:
        parsed = make_url(normalise_url(url))
    except ArgumentError:
        # Not parsed, so its password cannot be told apart: the URL is not repeated.
        return [Check("database", "connection", False, f"{ERROR}: not a database URL", fix_url)]
    shown = parsed.render_as_string(hide_password=True)
    backend = parsed.get_backend_name()
    in_file = backend == "sqlite" and parsed.database not in (None, "", ":memory:")
    # Opening a missing SQLite file would create it (and its directory): report instead.
    if in_file and not Path(str(parsed.database)).is_file():
        return [
            Check(
                "database",
                "connection",
                False,
                f"{UNREACHABLE}: no database file at {shown}",
                f"{_UPGRADE} to create it with the schema (or correct REVLINE_DATABASE_URL)",
            )
        ]
    try:
        current = _current_revision(parsed, backend, timeout)
    except ArgumentError as exc:
        return [Check("database", "connection", False, f"{ERROR}: {shown}: {exc}", fix_url)]
    except SQLAlchemyError as exc:
        return [_database_failure(shown, exc)]
    findings = [Check("database", "connection", True, f"connected to {shown}")]
    head = ScriptDirectory.from_config(migrate.alembic_config(url)).get_current_head()
    if current is None:
        findings.append(Check("database", "schema", False, f"{shown} has no schema yet", _UPGRADE))
    elif current != head:
        findings.append(
            Check(
                "database",
                "schema",
                False,
                f"at revision {current}; this Revline's newest is {head}",
                f"{_UPGRADE} (if the database is newer than this Revline, upgrade Revline)",
            )
        )
    else:
        findings.append(Check("database", "schema", True, f"at the newest revision ({head})"))
    return findings


def _current_revision(url: URL, backend: str, timeout: float) -> str | None:
    """Connect once; the Alembic revision stored, or None when the schema was never made."""
    options = {"connect_args": {"connect_timeout": max(1, int(timeout))}}
    db = Database(
        url.render_as_string(hide_password=False), **(options if backend == "postgresql" else {})
    )
    try:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        db.dispose()


def _database_failure(shown: str, exc: SQLAlchemyError) -> Check:
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    lowered = reason.lower()
    if "authentication failed" in lowered or "password" in lowered:
        return Check(
            "database",
            "connection",
            False,
            f"{REJECTED}: {shown}: {reason}",
            "check the user and password in REVLINE_DATABASE_URL",
        )
    if "does not exist" in lowered:
        return Check(
            "database",
            "connection",
            False,
            f"{ERROR}: {shown}: {reason}",
            f"create the database, then {_UPGRADE}",
        )
    return Check(
        "database",
        "connection",
        False,
        f"{UNREACHABLE}: {shown}: {reason}",
        "check that the database server is running and reachable from this host, and the host "
        "and port in REVLINE_DATABASE_URL",
    )
