"""Finding the customer behind a mistyped email. Pure.

A payer types their email by hand on a Checkout page; NetSuite holds the address the customer
was set up with. The two differ in ways people make: case, dots and ``+tags`` in the local part,
a transposed or missing letter, a common domain typo (``gmial.com``). ``find`` compares one
address with every address on file and names the kind of difference it found.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from rapidfuzz.distance import OSA

# Domain typos seen in practice, each to the domain meant.
DOMAIN_TYPOS: dict[str, str] = {
    "gmial.com": "gmail.com",
    "gmai.com": "gmail.com",
    "gmail.co": "gmail.com",
    "gnail.com": "gmail.com",
    "gamil.com": "gmail.com",
    "hotmial.com": "hotmail.com",
    "hotmail.co": "hotmail.com",
    "yahooo.com": "yahoo.com",
    "yaho.com": "yahoo.com",
    "outlok.com": "outlook.com",
    "iclod.com": "icloud.com",
}
# The most edits a typo may take (a transposition counts as one).
MAX_EDITS = 1


@dataclass(frozen=True)
class EmailMatch:
    """An address on file that is probably the payer's, and why."""

    address: str
    customer_id: str
    customer_name: str
    kind: str  # case | dots_or_tag | domain_typo | typo
    edits: int


def _split(email: str) -> tuple[str, str]:
    local, _, domain = email.strip().lower().rpartition("@")
    return local, domain


def canonical(email: str) -> str:
    """Lower case, no dots and no ``+tag`` in the local part, the domain typo corrected."""
    local, domain = _split(email)
    local = local.split("+", 1)[0].replace(".", "")
    return f"{local}@{DOMAIN_TYPOS.get(domain, domain)}"


def variants(email: str) -> set[str]:
    """The ways this address may have been meant: case, dots, tag and domain fixed (what a
    NetSuite search by email is tried with)."""
    local, domain = _split(email)
    bare = local.split("+", 1)[0]
    domains = {domain, DOMAIN_TYPOS.get(domain, domain)}
    locals_ = {local, bare, bare.replace(".", "")}
    return {f"{part}@{d}" for part in locals_ for d in domains}


def classify(payer: str, on_file: str) -> tuple[str, int] | None:
    """How ``on_file`` differs from what the payer typed, or None if it is someone else."""
    if payer.strip() == on_file.strip():
        return None
    payer_local, payer_domain = _split(payer)
    file_local, file_domain = _split(on_file)
    if (payer_local, payer_domain) == (file_local, file_domain):
        return "case", 0
    if canonical(payer) == canonical(on_file):
        fixed = DOMAIN_TYPOS.get(payer_domain) == file_domain
        return ("domain_typo" if fixed else "dots_or_tag"), 0
    edits = OSA.distance(canonical(payer), canonical(on_file))
    if edits <= MAX_EDITS:
        return "typo", edits
    return None


def find(payer: str, addresses: Iterable[tuple[str, str, str]]) -> list[EmailMatch]:
    """Addresses on file (``(address, customer_id, customer_name)``) the payer probably meant,
    closest first."""
    found = []
    for address, customer_id, name in addresses:
        kind = classify(payer, address)
        if kind is not None:
            found.append(EmailMatch(address, customer_id, name, kind[0], kind[1]))
    return sorted(found, key=lambda m: (m.edits, m.kind != "case", m.address, m.customer_id))
