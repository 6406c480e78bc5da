"""The personal dunning email to a high-value customer (seed 002, steps 4 and 5).

From the senior RevOps manager's own address, never a shared billing mailbox; to the named
accounts-payable contact from the customer record; the relationship owner copied. The body
carries the invoice number, the amount formatted for people, the failure in plain language, the
contact's first name, an offer of a quick call and one payment-update link from a billing-portal
session, pasted verbatim. No urgency words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from revline.money import Money

# Words the High-Value Dunning template never uses (seed 002, step 5).
BANNED_WORDS = ("overdue", "urgent", "final notice")
# Local parts that name a team mailbox rather than a person.
SHARED_MAILBOXES = frozenset({"billing", "accounts", "ar", "finance", "noreply", "no-reply"})


class EmailNotAllowed(ValueError):
    """The email would break one of the template's rules; it is not sent."""


@dataclass(frozen=True)
class Mailbox:
    name: str
    email: str

    def as_param(self) -> dict[str, str]:
        return {"name": self.name, "email": self.email}


@dataclass(frozen=True)
class PersonalEmail:
    sender: Mailbox
    to: Mailbox
    cc: tuple[Mailbox, ...]
    subject: str
    body: str


def first_name(contact_name: str, given: str | None = None) -> str:
    """The name the contact is greeted by: the record's first name, else the first word."""
    if given and given.strip():
        return given.strip()
    return contact_name.strip().split()[0] if contact_name.strip() else contact_name


def compose(
    *,
    sender: Mailbox,
    contact: Mailbox,
    contact_first_name: str,
    relationship_owner: Mailbox | None,
    customer_name: str,
    invoice_number: str,
    amount: Money,
    reason: str,
    portal_url: str,
    locale: str = "en_US",
) -> PersonalEmail:
    """The email, or ``EmailNotAllowed`` naming the rule it would break."""
    if sender.email.split("@", 1)[0].lower() in SHARED_MAILBOXES:
        raise EmailNotAllowed(f"{sender.email} is a shared mailbox; the email goes from a person")
    parts = urlsplit(portal_url)
    if parts.scheme != "https" or "checkout" in parts.netloc or "/c/pay/" in parts.path:
        raise EmailNotAllowed(f"{portal_url} is not a billing-portal link")
    cc = (
        (relationship_owner,)
        if relationship_owner and relationship_owner.email != sender.email
        else ()
    )
    # Seed 002: the template seeds the subject with the customer entity and invoice number.
    subject = f"{customer_name}, invoice {invoice_number}: a quick note about your payment"
    body = "\n".join(
        [
            f"Hi {contact_first_name},",
            "",
            f"I noticed that the payment of {amount.format(locale)} for invoice {invoice_number} "
            f"did not go through: {reason}.",
            "",
            "You can update the payment method for "
            f"{customer_name} here, and we will take care of the rest:",
            portal_url,
            "",
            "If anything has changed at your end, I am happy to jump on a quick call; just reply "
            "with a time that suits you.",
            "",
            "Thank you,",
            sender.name,
        ]
    )
    for text in (_template_text(subject, customer_name), _template_text(body, customer_name)):
        found = [w for w in BANNED_WORDS if re.search(rf"\b{w}\b", text, re.IGNORECASE)]
        if found:
            raise EmailNotAllowed(f"the email would say {', '.join(found)}")
    return PersonalEmail(sender=sender, to=contact, cc=cc, subject=subject, body=body)


def _template_text(text: str, customer_name: str) -> str:
    """The text without the customer's own name, which may contain any word (Urgent Care Inc)."""
    return text.replace(customer_name, "")
