"""A running SMTP simulator and an adapter pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from revline.clock import SimulatedClock
from revline.providers.mail.client import MailAdapter, Mailbox, OutgoingEmail
from revline.providers.mail.sim import MailSimulator

MAYA = Mailbox("maya@ourco.example", "Maya Lindqvist")
DANA = Mailbox("dana.reyes@acme.example", "Dana Reyes")
FELIX = Mailbox("felix@ourco.example", "Felix Nordstrom")

DUNNING = OutgoingEmail(
    sender=MAYA,
    to=(DANA,),
    cc=(FELIX,),
    subject="Acme Corp: invoice INV-2026-1201",
    body=(
        "Hi Dana,\n\n"
        "I noticed the card on file was declined for invoice INV-2026-1201 ($12,500.00).\n"
        "You can update the payment method here: https://billing.stripe.example/p/session/x\n\n"
        "Happy to jump on a quick call if anything has changed on your side.\n\n"
        "Maya\n"
    ),
)


@pytest.fixture
def mail() -> Iterator[MailSimulator]:
    with MailSimulator() as simulator:
        yield simulator


@pytest.fixture
def adapter(mail: MailSimulator, clock: SimulatedClock) -> MailAdapter:
    return MailAdapter(mail.host, mail.port, clock=clock, starttls=False, timeout=5.0)
