"""MailAdapter against a real SMTP server on loopback: exact headers, idempotent Message-IDs,
SMTP refusals translated, STARTTLS and AUTH."""

from __future__ import annotations

import socket
from dataclasses import replace
from email.utils import format_datetime

import pytest

from revline.clock import SimulatedClock
from revline.config import Mail
from revline.errors import ConfigError
from revline.providers.base import ProviderError
from revline.providers.mail.client import MailAdapter, Mailbox, message_id_for
from revline.providers.mail.sim import MailSimulator
from tests.providers.mail.conftest import DANA, DUNNING, FELIX


def test_the_dunning_email_arrives_as_a_person_wrote_it(
    mail: MailSimulator, adapter: MailAdapter, clock: SimulatedClock
) -> None:
    sent = adapter.send(DUNNING, "dunning:email.send:in_acme_1:1")

    [received] = mail.messages
    assert received.sender == "Maya Lindqvist <maya@ourco.example>"
    assert received.to == ("Dana Reyes <dana.reyes@acme.example>",)
    assert received.cc == ("Felix Nordstrom <felix@ourco.example>",)
    assert received.subject == "Acme Corp: invoice INV-2026-1201"
    assert received.body == DUNNING.body
    assert received.envelope_from == "maya@ourco.example"
    assert received.envelope_to == ("dana.reyes@acme.example", "felix@ourco.example")
    assert received.message_id == sent.message_id
    assert received.message_id.endswith("@ourco.example>")
    assert received.date == format_datetime(clock.now())
    assert received.idempotency_key == "dunning:email.send:in_acme_1:1"
    assert received.header("Bcc") is None
    assert (sent.sent_at, sent.to, sent.cc) == (clock.now(), (DANA,), (FELIX,))


def test_names_outside_ascii_survive_the_trip(mail: MailSimulator, adapter: MailAdapter) -> None:
    email = replace(DUNNING, sender=Mailbox("zoe@ourco.example", "Zoë Müller"), cc=())
    adapter.send(replace(email, subject="Rechnung für Acme, Zahlung fällig: INV-7"))
    [received] = mail.messages
    assert received.sender == "Zoë Müller <zoe@ourco.example>"
    assert received.subject == "Rechnung für Acme, Zahlung fällig: INV-7"


def test_one_idempotency_key_one_message_id(mail: MailSimulator, adapter: MailAdapter) -> None:
    first = adapter.send(DUNNING, "key-1")
    again = adapter.send(DUNNING, "key-1")  # a resend after a crash
    other = adapter.send(DUNNING, "key-2")
    unkeyed = [adapter.send(DUNNING).message_id for _ in range(2)]

    assert first.message_id == again.message_id == message_id_for("key-1", "ourco.example")
    assert other.message_id != first.message_id
    assert unkeyed[0] != unkeyed[1]
    assert all(m.endswith("@ourco.example>") for m in unkeyed)
    assert [m.message_id for m in mail.messages[:2]] == [first.message_id] * 2


def test_a_permanent_refusal_is_not_retried(mail: MailSimulator, adapter: MailAdapter) -> None:
    mail.reject("dana.reyes@acme.example", 550, "5.1.1 No such user")
    with pytest.raises(ProviderError) as refused:
        adapter.send(replace(DUNNING, cc=()), "k")
    error = refused.value
    assert (error.retryable, error.provider, error.provider_code) == (
        False,
        "mail",
        "recipients_refused",
    )
    assert "550 5.1.1 No such user" in error.message
    assert mail.messages == []


def test_a_temporary_refusal_is_retried(mail: MailSimulator, adapter: MailAdapter) -> None:
    mail.reject("dana.reyes@acme.example", 451, "4.3.0 Try again later")
    with pytest.raises(ProviderError) as refused:
        adapter.send(replace(DUNNING, cc=()), "k")
    assert refused.value.retryable is True


def test_a_partial_refusal_is_reported_not_resent(
    mail: MailSimulator, adapter: MailAdapter
) -> None:
    mail.reject("felix@ourco.example", 550)
    with pytest.raises(ProviderError) as partial:
        adapter.send(DUNNING, "k")
    error = partial.value
    assert (error.retryable, error.provider_code) == (False, "partially_refused")
    assert "sent to dana.reyes@acme.example" in error.message
    [received] = mail.messages
    assert received.envelope_to == ("dana.reyes@acme.example",)


def test_an_unreachable_server_is_retryable(clock: SimulatedClock) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    adapter = MailAdapter("127.0.0.1", port, clock=clock, starttls=False, timeout=2.0)
    with pytest.raises(ProviderError) as down:
        adapter.send(DUNNING, "k")
    assert down.value.retryable is True


def test_header_injection_is_refused_before_connecting(
    mail: MailSimulator, adapter: MailAdapter
) -> None:
    for email in (
        replace(DUNNING, subject="Hello\r\nBcc: someone@evil.example"),
        replace(DUNNING, to=(Mailbox("dana@acme.example\r\nBcc: x@evil.example"),)),
        replace(DUNNING, to=(Mailbox("not-an-address"),)),
        replace(DUNNING, to=()),
    ):
        with pytest.raises(ProviderError) as invalid:
            adapter.send(email, "k")
        assert (invalid.value.retryable, invalid.value.provider_code) == (
            False,
            "invalid_message",
        )
    assert mail.messages == []


def test_starttls_and_auth(clock: SimulatedClock) -> None:
    secure = MailSimulator(
        starttls=True, require_starttls=True, users={"maya": "s3cret"}, auth_required=True
    )
    with secure:
        adapter = MailAdapter(
            secure.host,
            secure.port,
            clock=clock,
            username="maya",
            password="s3cret",
            ssl_context=secure.client_ssl_context(),
        )
        adapter.send(DUNNING, "k")
        [received] = secure.messages
    assert (received.tls, received.authenticated_as) == (True, "maya")
    assert received.sender == "Maya Lindqvist <maya@ourco.example>"


# aiosmtpd warns about AUTH without TLS; on loopback, in a test, that is the point.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_a_wrong_password_is_not_retried(clock: SimulatedClock) -> None:
    with MailSimulator(users={"maya": "s3cret"}, auth_required=True) as locked:
        adapter = MailAdapter(
            locked.host, locked.port, clock=clock, starttls=False, username="maya", password="no"
        )
        with pytest.raises(ProviderError) as refused:
            adapter.send(DUNNING, "k")
        assert (refused.value.status, refused.value.retryable) == (535, False)
        assert locked.messages == []


# aiosmtpd warns about AUTH without TLS; on loopback, in a test, that is the point.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_auth_over_a_plain_connection_when_tls_is_off(clock: SimulatedClock) -> None:
    with MailSimulator(users={"maya": "s3cret"}, auth_required=True) as plain:
        adapter = MailAdapter(
            plain.host, plain.port, clock=clock, starttls=False, username="maya", password="s3cret"
        )
        adapter.send(DUNNING, "k")
        [received] = plain.messages
    assert (received.tls, received.authenticated_as) == (False, "maya")


def test_an_untrusted_certificate_is_not_retried(clock: SimulatedClock) -> None:
    with MailSimulator(starttls=True) as secure:
        adapter = MailAdapter(secure.host, secure.port, clock=clock)  # the system trust store
        with pytest.raises(ProviderError) as untrusted:
            adapter.send(DUNNING, "k")
    assert (untrusted.value.provider_code, untrusted.value.retryable) == ("tls_certificate", False)


def test_starttls_configured_but_not_offered_is_not_retried(
    mail: MailSimulator, clock: SimulatedClock
) -> None:
    adapter = MailAdapter(mail.host, mail.port, clock=clock, starttls=True)
    with pytest.raises(ProviderError) as unsupported:
        adapter.send(DUNNING, "k")
    assert (unsupported.value.provider_code, unsupported.value.retryable) == (
        "smtp_unsupported",
        False,
    )
    assert mail.messages == []


def test_settings(clock: SimulatedClock) -> None:
    with pytest.raises(ConfigError, match=r"mail\.host"):
        MailAdapter.from_settings(Mail(), clock=clock)
    adapter = MailAdapter.from_settings(
        Mail(host="smtp.ourco.example", port=2525, username="maya", password="pw"), clock=clock
    )
    assert (adapter.host, adapter.port, adapter.starttls) == ("smtp.ourco.example", 2525, True)
