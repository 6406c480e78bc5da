"""The personal dunning email: every rule of seed 002, steps 4 and 5."""

from __future__ import annotations

import re

import pytest

from revline.money import Money
from revline.playbooks.billing.email import (
    BANNED_WORDS,
    EmailNotAllowed,
    Mailbox,
    PersonalEmail,
    compose,
    first_name,
)

MAYA = Mailbox("Maya Lindqvist", "maya@ourco.example")
DANA = Mailbox("Dana Reyes", "dana.reyes@acme.example")
FELIX = Mailbox("Felix Nordstrom", "felix@ourco.example")
PORTAL = "https://billing.stripe.com/p/session/test_YWNjdF8xTmF"


def _email(**overrides: object) -> PersonalEmail:
    arguments: dict[str, object] = {
        "sender": MAYA,
        "contact": DANA,
        "contact_first_name": "Dana",
        "relationship_owner": FELIX,
        "customer_name": "Acme Corp",
        "invoice_number": "INV-2026-1201",
        "amount": Money(1_250_000, "usd"),
        "reason": "the card on file was declined",
        "portal_url": PORTAL,
    }
    arguments.update(overrides)
    return compose(**arguments)  # type: ignore[arg-type]


def test_from_the_senior_revops_manager_to_the_ap_contact_owner_copied() -> None:
    message = _email()
    assert message.sender == MAYA
    assert message.to == DANA
    assert message.cc == (FELIX,)


def test_the_body_names_invoice_amount_reason_first_name_and_a_call() -> None:
    body = _email().body
    assert body.startswith("Hi Dana,")
    assert "INV-2026-1201" in body
    # Seed 002: the subject is seeded with the customer entity and the invoice number.
    assert _email().subject == "Acme Corp, invoice INV-2026-1201: a quick note about your payment"
    assert "$12,500.00" in body
    assert "the card on file was declined" in body
    assert "card_declined" not in body
    assert "quick call" in body


def test_one_link_the_portal_link_verbatim() -> None:
    body = _email().body
    assert re.findall(r"https?://\S+", body) == [PORTAL]


@pytest.mark.parametrize("word", BANNED_WORDS)
def test_no_urgency_words(word: str) -> None:
    message = _email()
    assert word not in message.body.lower() and word not in message.subject.lower()


def test_an_urgency_word_in_the_reason_stops_the_email() -> None:
    with pytest.raises(EmailNotAllowed, match="urgent"):
        _email(reason="urgent: the card on file was declined")


def test_a_customer_named_like_an_urgency_word_is_fine() -> None:
    assert "Urgent Care Inc" in _email(customer_name="Urgent Care Inc").body


def test_never_a_checkout_link() -> None:
    with pytest.raises(EmailNotAllowed, match="billing-portal"):
        _email(portal_url="https://checkout.stripe.com/c/pay/cs_test_a1")


def test_never_from_a_shared_billing_mailbox() -> None:
    with pytest.raises(EmailNotAllowed, match="shared mailbox"):
        _email(sender=Mailbox("Billing", "billing@ourco.example"))


def test_the_owner_is_not_copied_twice_when_they_send_it() -> None:
    assert _email(relationship_owner=MAYA).cc == ()
    assert _email(relationship_owner=None).cc == ()


def test_amounts_are_formatted_for_people_in_their_currency() -> None:
    assert "€9,876.54" in _email(amount=Money(987_654, "eur")).body
    assert "12.500,00\xa0€" in _email(amount=Money(1_250_000, "eur"), locale="de_DE").body


def test_first_name() -> None:
    assert first_name("Dana Reyes", "Dana") == "Dana"
    assert first_name("Dana Reyes") == "Dana"
