"""A real SMTP server on loopback (aiosmtpd) that records every message it accepts.

Usage (the sandbox and the tests)::

    with MailSimulator(starttls=True, users={"maya": "pw"}) as mail:
        adapter = MailAdapter(mail.host, mail.port, clock=clock, starttls=True,
                              username="maya", password="pw",
                              ssl_context=mail.client_ssl_context())
        ...
        [message] = mail.messages          # From, To, Cc, Subject, Message-ID, body, envelope
    mail.reject("nobody@acme.example", 550, "5.1.1 Mailbox unavailable")

It speaks real SMTP: EHLO, optional STARTTLS with a self-signed certificate made at start (for
``localhost`` and ``127.0.0.1``), optional AUTH PLAIN/LOGIN, per-recipient refusals with any
reply code. It does not relay, queue, bounce later, or check SPF/DKIM: a message it accepts is
simply recorded.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
import ssl
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from revline.providers.mail.client import IDEMPOTENCY_HEADER
from revline.providers.simulator import Faults


@dataclass(frozen=True)
class ReceivedMessage:
    """One accepted message: the SMTP envelope, the parsed headers and the plain-text body.

    Addresses are as the headers give them (``Maya Lindqvist <maya@ourco.example>``).
    """

    envelope_from: str
    envelope_to: tuple[str, ...]
    sender: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    subject: str
    message_id: str
    date: str
    idempotency_key: str | None
    body: str
    headers: tuple[tuple[str, str], ...]
    raw: bytes
    tls: bool
    authenticated_as: str | None

    def header(self, name: str) -> str | None:
        """The first header called ``name`` (case-insensitive), or None."""
        wanted = name.lower()
        return next((value for key, value in self.headers if key.lower() == wanted), None)


class _Recorder:
    """The aiosmtpd handler: refuses configured recipients, records the rest."""

    def __init__(self, faults: Faults) -> None:
        self.lock = threading.Lock()
        self.messages: list[ReceivedMessage] = []
        self.rejections: dict[str, str] = {}
        self.faults = faults
        self.injected = 0
        self._rng = random.Random(faults.seed + 2)

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        with self.lock:
            refusal = self.rejections.get(address.lower())
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.faults.latency_ms:
            await asyncio.sleep(self.faults.latency_ms / 1000)
        with self.lock:
            refuse = self._rng.random() < self.faults.api_error_rate
            self.injected += refuse
        if refuse:
            # A temporary refusal before the message is accepted: nothing was delivered, and a
            # sender is expected to try again later, as with a busy real server.
            return "451 4.3.0 Temporary local problem (injected), try again later"
        raw = envelope.original_content or b""
        message = BytesParser(policy=policy.default).parsebytes(raw)
        body = message.get_body(preferencelist=("plain",))
        received = ReceivedMessage(
            envelope_from=envelope.mail_from or "",
            envelope_to=tuple(envelope.rcpt_tos),
            sender=str(message["From"] or ""),
            to=_addresses(message, "To"),
            cc=_addresses(message, "Cc"),
            subject=str(message["Subject"] or ""),
            message_id=str(message["Message-ID"] or ""),
            date=str(message["Date"] or ""),
            idempotency_key=_optional(message[IDEMPOTENCY_HEADER]),
            # SMTP carries CRLF; report the body with the newlines it was written with.
            body=str(body.get_content()).replace("\r\n", "\n") if body is not None else "",
            headers=tuple((key, str(value)) for key, value in message.items()),
            raw=raw,
            tls=session.ssl is not None,
            authenticated_as=session.auth_data if session.authenticated else None,
        )
        with self.lock:
            self.messages.append(received)
        return "250 Message accepted for delivery"


class _LoopbackController(Controller):
    """aiosmtpd's controller, on a port the OS picks (it only knows fixed ports)."""

    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]  # aiosmtpd leaves it untyped


class MailSimulator:
    """An SMTP server on 127.0.0.1.

    ``starttls`` offers STARTTLS with a fresh self-signed certificate (``require_starttls``
    refuses mail without it); ``users`` (login → password) enables AUTH, which ``auth_required``
    makes mandatory. Over plain connections AUTH is allowed only when STARTTLS is off, so tests
    of AUTH alone need no certificate.
    """

    def __init__(
        self,
        *,
        starttls: bool = False,
        require_starttls: bool = False,
        users: Mapping[str, str] | None = None,
        auth_required: bool = False,
        faults: Faults | None = None,
    ) -> None:
        self._recorder = _Recorder(faults or Faults())
        self._users = dict(users or {})
        self._certificates: tempfile.TemporaryDirectory[str] | None = None
        self.cert_pem: bytes | None = None
        options: dict[str, Any] = {}
        if starttls:
            options["tls_context"] = self._server_tls()
            options["require_starttls"] = require_starttls
        if self._users:
            options["authenticator"] = self._authenticate
            options["auth_required"] = auth_required
            options["auth_require_tls"] = starttls
        self._controller = _LoopbackController(
            self._recorder, hostname="127.0.0.1", port=0, server_hostname="localhost", **options
        )

    def start(self) -> MailSimulator:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()
        if self._certificates is not None:
            self._certificates.cleanup()

    def __enter__(self) -> MailSimulator:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        return int(self._controller.port)

    @property
    def messages(self) -> list[ReceivedMessage]:
        """Every accepted message, in the order they arrived."""
        with self._recorder.lock:
            return list(self._recorder.messages)

    def reject(
        self, address: str, code: int = 550, reason: str = "5.1.1 Mailbox unavailable"
    ) -> None:
        """Refuse ``address`` at RCPT TO with ``code`` (4xx: try later, 5xx: never)."""
        with self._recorder.lock:
            self._recorder.rejections[address.lower()] = f"{code} {reason}"

    def accept(self, address: str) -> None:
        """Stop refusing ``address`` (a greylisting that has passed)."""
        with self._recorder.lock:
            self._recorder.rejections.pop(address.lower(), None)

    def client_ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts this server's certificate (and nothing else)."""
        if self.cert_pem is None:
            raise RuntimeError("this simulator was started without STARTTLS")
        return ssl.create_default_context(cadata=self.cert_pem.decode())

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = data.login.decode()
        expected = self._users.get(login)
        if expected is None or expected.encode() != data.password:
            return AuthResult(success=False, handled=False)
        return AuthResult(success=True, auth_data=login)

    def _server_tls(self) -> ssl.SSLContext:
        """A server context with a self-signed certificate for localhost and 127.0.0.1."""
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
        now = datetime.now(UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName(
                    [
                        x509.DNSName("localhost"),
                        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    ]
                ),
                critical=False,
            )
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        self.cert_pem = certificate.public_bytes(serialization.Encoding.PEM)
        # ssl loads certificates from files only; they live as long as the server.
        self._certificates = tempfile.TemporaryDirectory(prefix="revline-mail-sim-")
        cert_file = Path(self._certificates.name) / "cert.pem"
        key_file = Path(self._certificates.name) / "key.pem"
        cert_file.write_bytes(self.cert_pem)
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        return context


def _addresses(message: EmailMessage, name: str) -> tuple[str, ...]:
    header = message[name]
    if header is None:
        return ()
    return tuple(str(address) for address in header.addresses)


def _optional(value: object) -> str | None:
    return None if value is None else str(value)
