"""The mail adapter: plain-text email from a named person, over SMTP (stdlib ``smtplib``).

The procedures send email as people, never from a shared mailbox: the high-value dunning
email goes **from** the senior RevOps manager, **to** the customer's named accounts-payable
contact, with the relationship owner **in copy**. ``OutgoingEmail`` carries exactly that.

**Idempotency.** An action's idempotency key goes out as ``X-Revline-Idempotency-Key``, and the
``Message-ID`` is derived from it (a hash of the key at the sender's domain). SMTP itself has no
idempotency: if a worker dies after the server accepted the message but before Revline recorded
it, the retry sends the message again — with the same ``Message-ID``, so mail clients thread it
as one message and de-duplicating gateways drop it. Without a key, ``email.utils.make_msgid``
makes a fresh one at the same domain.

**Errors.** SMTP 4xx replies and connection failures are retryable; 5xx replies, a server that
cannot do STARTTLS or AUTH as configured, a certificate that does not verify, and an invalid
address are not (the action goes to the manual queue). If the server accepts some recipients
and refuses others, the message has gone out to the accepted ones: that is reported, not
retried, because a retry would send it to them twice.
"""

from __future__ import annotations

import hashlib
import logging
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

from revline import config
from revline.clock import Clock
from revline.errors import ConfigError
from revline.providers.base import ProviderError

log = logging.getLogger(__name__)

PROVIDER = "mail"
IDEMPOTENCY_HEADER = "X-Revline-Idempotency-Key"


@dataclass(frozen=True)
class Mailbox:
    """A person's address: ``Maya Lindqvist <maya@ourco.example>``."""

    email: str
    name: str | None = None

    @classmethod
    def of(cls, value: str | Mapping[str, Any]) -> Mailbox:
        """From ``"maya@ourco.example"`` or ``{"name": "Maya Lindqvist", "email": "..."}``."""
        if isinstance(value, str):
            return cls(value)
        email = value.get("email")
        name = value.get("name")
        if not isinstance(email, str) or (name is not None and not isinstance(name, str)):
            raise ValueError(f"an address needs an email and an optional name, got {value!r}")
        return cls(email, name or None)

    def address(self) -> Address:
        """The header form; refuses anything that is not one plain ASCII address."""
        if not self.email.isascii() or self.email.count("@") != 1:
            raise ValueError(f"{self.email!r} is not a single ASCII email address")
        try:
            return Address(display_name=self.name or "", addr_spec=self.email)
        except (ValueError, HeaderParseError) as exc:
            raise ValueError(f"{self.email!r} is not a valid email address: {exc}") from exc

    def __str__(self) -> str:
        return str(self.address())

    @property
    def domain(self) -> str:
        return self.email.rpartition("@")[2].lower()


@dataclass(frozen=True)
class OutgoingEmail:
    sender: Mailbox
    to: tuple[Mailbox, ...]
    subject: str
    body: str
    cc: tuple[Mailbox, ...] = ()


@dataclass(frozen=True)
class SentEmail:
    """What the SMTP server accepted, and when."""

    message_id: str
    sent_at: datetime
    sender: Mailbox
    to: tuple[Mailbox, ...]
    cc: tuple[Mailbox, ...]
    subject: str


def message_id_for(idempotency_key: str, domain: str) -> str:
    """The Message-ID every send under one idempotency key carries."""
    digest = hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]
    return f"<revline.{digest}@{domain}>"


class MailAdapter:
    """Sends over one SMTP connection per message (a send is rare and must stand alone).

    ``ssl_context`` defaults to the system's trust store; tests pass one that trusts the mail
    simulator's self-signed certificate.
    """

    def __init__(
        self,
        host: str,
        port: int = 587,
        *,
        clock: Clock,
        starttls: bool = True,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.starttls = starttls
        self._clock = clock
        self._username = username
        self._password = password
        self._timeout = timeout
        self._ssl_context = ssl_context or ssl.create_default_context()
        self._local_hostname = local_hostname

    @classmethod
    def from_settings(cls, settings: config.Mail, *, clock: Clock, **options: Any) -> MailAdapter:
        """An adapter for ``[mail]`` in the configuration; refuses to start without a host."""
        if not settings.host:
            raise ConfigError("mail.host is required to send email")
        return cls(
            settings.host,
            settings.port,
            clock=clock,
            starttls=settings.starttls,
            username=settings.username.get_secret_value() if settings.username else None,
            password=settings.password.get_secret_value() if settings.password else None,
            **options,
        )

    def build(self, email: OutgoingEmail, idempotency_key: str | None = None) -> EmailMessage:
        """The message as it will be sent (headers, plain-text body)."""
        if not email.to:
            raise ValueError("an email needs at least one recipient")
        message = EmailMessage()
        message["From"] = email.sender.address()
        message["To"] = [mailbox.address() for mailbox in email.to]
        if email.cc:
            message["Cc"] = [mailbox.address() for mailbox in email.cc]
        message["Subject"] = email.subject
        message["Date"] = format_datetime(self._clock.now())
        domain = email.sender.domain.encode("idna").decode("ascii")
        if idempotency_key is None:
            message["Message-ID"] = make_msgid(domain=domain)
        else:
            message["Message-ID"] = message_id_for(idempotency_key, domain)
            message[IDEMPOTENCY_HEADER] = idempotency_key
        message.set_content(email.body)
        return message

    def send(self, email: OutgoingEmail, idempotency_key: str | None = None) -> SentEmail:
        """Send one email; returns once the server has accepted it for every recipient."""
        try:
            message = self.build(email, idempotency_key)
        except (ValueError, HeaderParseError, UnicodeError) as exc:
            raise ProviderError(
                f"the email cannot be sent as given: {exc}",
                retryable=False,
                provider=PROVIDER,
                provider_code="invalid_message",
            ) from exc
        recipients = [mailbox.email for mailbox in (*email.to, *email.cc)]
        refused = self._deliver(message, email.sender.email, recipients)
        if refused:
            accepted = [r for r in recipients if r not in refused]
            raise ProviderError(
                f"sent to {', '.join(accepted)} but refused for {_describe(refused)}; "
                "not retried, since a retry would reach the accepted recipients twice",
                retryable=False,
                provider=PROVIDER,
                provider_code="partially_refused",
            )
        return SentEmail(
            message_id=str(message["Message-ID"]),
            sent_at=self._clock.now(),
            sender=email.sender,
            to=email.to,
            cc=email.cc,
            subject=email.subject,
        )

    def _deliver(
        self, message: EmailMessage, sender: str, recipients: Sequence[str]
    ) -> dict[str, tuple[int, bytes]]:
        """One SMTP session; returns the recipients the server refused (the others got it)."""
        where = f"{self.host}:{self.port}"
        try:
            smtp = smtplib.SMTP(
                self.host, self.port, local_hostname=self._local_hostname, timeout=self._timeout
            )
            try:
                smtp.ehlo()
                if self.starttls:
                    smtp.starttls(context=self._ssl_context)
                    smtp.ehlo()
                if self._username is not None:
                    smtp.login(self._username, self._password or "")
                return smtp.send_message(message, from_addr=sender, to_addrs=list(recipients))
            finally:
                _close(smtp)
        except smtplib.SMTPRecipientsRefused as exc:
            # Every recipient was refused: nothing went out, so 4xx-only is worth a retry.
            temporary = all(400 <= code < 500 for code, _ in exc.recipients.values())
            raise ProviderError(
                f"{where} refused every recipient: {_describe(exc.recipients)}",
                retryable=temporary,
                provider=PROVIDER,
                provider_code="recipients_refused",
            ) from exc
        except smtplib.SMTPResponseException as exc:
            raise ProviderError(
                f"{where} answered {exc.smtp_code} {_text(exc.smtp_error)}",
                retryable=400 <= exc.smtp_code < 500 or exc.smtp_code < 0,
                provider=PROVIDER,
                status=exc.smtp_code,
                provider_code=f"smtp_{exc.smtp_code}",
            ) from exc
        except smtplib.SMTPServerDisconnected as exc:
            raise ProviderError(
                f"{where} closed the connection: {exc}", retryable=True, provider=PROVIDER
            ) from exc
        except smtplib.SMTPException as exc:
            # STARTTLS or AUTH the server does not offer: configuration, not a passing fault.
            raise ProviderError(
                f"{where} cannot be used as configured: {exc}",
                retryable=False,
                provider=PROVIDER,
                provider_code="smtp_unsupported",
            ) from exc
        except ssl.SSLCertVerificationError as exc:
            raise ProviderError(
                f"{where} presented a certificate that does not verify: {exc.verify_message}",
                retryable=False,
                provider=PROVIDER,
                provider_code="tls_certificate",
            ) from exc
        except OSError as exc:
            raise ProviderError(
                f"{where} could not be reached: {exc!r}", retryable=True, provider=PROVIDER
            ) from exc


def _close(smtp: smtplib.SMTP) -> None:
    """Say goodbye. A failed QUIT changes nothing: the message was accepted (or the failure
    that matters is already on its way up), so it must not turn a send into a resend."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError) as exc:
        log.debug("SMTP QUIT failed (%r); closing the socket", exc)
        smtp.close()


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply


def _describe(refused: Mapping[str, tuple[int, bytes]]) -> str:
    return ", ".join(f"{rcpt} ({code} {_text(reply)})" for rcpt, (code, reply) in refused.items())
