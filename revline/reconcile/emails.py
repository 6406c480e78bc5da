"""Finding the customer behind a mistyped email. Pure.

A payer types their email by hand on a Checkout page; NetSuite holds the address the customer
was set up with. The two differ in ways people make: case, dots and ``+tags`` in the local part,
a transposed, missing, extra or wrong letter in the local part or the domain, a common domain
typo (``gmial.com``) — or not at all. ``variants`` spells out every address the payer may have
meant, for NetSuite to be searched for them; ``find`` names how each address found differs from
what the payer typed.
"""

from __future__ import annotations

import string
from collections.abc import Iterable, Sequence
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
# The most edits a typo may take (a transposition counts as one): ``variants`` spells out every
# address one edit away, so a larger number would need it to go deeper.
MAX_EDITS = 1
# What a letter typed wrong, missed or added in a local part may be (dots never matter; an
# apostrophe, as in o'brien, is the one a payer most often leaves out).
_LOCAL_CHARACTERS = string.ascii_lowercase + string.digits + "_-'"


@dataclass(frozen=True)
class EmailMatch:
    """An address on file that is probably the payer's, and why."""

    address: str
    customer_id: str
    customer_name: str
    kind: str  # exact | dots_or_tag | domain_typo | typo
    edits: int


def _split(email: str) -> tuple[str, str]:
    local, _, domain = email.strip().lower().rpartition("@")
    return local, domain


def canonical(email: str) -> str:
    """Lower case, no dots and no ``+tag`` in the local part, the domain typo corrected."""
    local, domain = _split(email)
    local = local.split("+", 1)[0].replace(".", "")
    return f"{local}@{DOMAIN_TYPOS.get(domain, domain)}"


def _one_edit(word: str) -> set[str]:
    """Every string one letter away: one deleted, two swapped, one replaced, one inserted."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    deleted = {head + tail[1:] for head, tail in splits if tail}
    swapped = {head + tail[1] + tail[0] + tail[2:] for head, tail in splits if len(tail) > 1}
    replaced = {head + ch + tail[1:] for head, tail in splits if tail for ch in _LOCAL_CHARACTERS}
    inserted = {head + ch + tail for head, tail in splits for ch in _LOCAL_CHARACTERS}
    return deleted | swapped | replaced | inserted


def search_key(email: str) -> str:
    """An address as ``variants`` spells it: lower case, without the ``+tag`` of its local part,
    every dot taken out (domain too). NetSuite is searched by the same key of the addresses on
    file (``netsuite.queries``), so an address filed with its own tag is found too."""
    local, domain = _split(email)
    untagged = f"{local.split('+', 1)[0]}@{domain}" if "@" in email else email.strip().lower()
    return untagged.replace(".", "")


def variants(email: str) -> set[str]:
    """What to search NetSuite for, as search keys (``search_key``, so dots and tags never
    matter): the address the payer typed, with a known domain typo fixed, and one mistake away
    from it — a letter of the local part, or of a domain ``DOMAIN_TYPOS`` does not know
    (``gmal.com``), wrong, missing, extra or swapped. A few hundred to a few thousand keys,
    compared with the keys of the addresses on file."""
    local, domain = _split(email)
    bare = local.split("+", 1)[0].replace(".", "")
    domains = {domain, DOMAIN_TYPOS.get(domain, domain)}
    addresses = {f"{part}@{d}" for part in {bare} | _one_edit(bare) if part for d in domains}
    addresses |= {f"{bare}@{near}" for near in _one_edit(domain) if near}
    return {search_key(address) for address in addresses}


def classify(payer: str, on_file: str) -> tuple[str, int] | None:
    """How ``on_file`` differs from what the payer typed, or None if it is someone else. The
    same address in another case is ``exact``: the strongest evidence there is."""
    payer_local, payer_domain = _split(payer)
    if (payer_local, payer_domain) == _split(on_file):
        return "exact", 0
    if canonical(payer) == canonical(on_file):
        # Alike once canonical, the domains differ only by a known typo: the payer's, the one
        # NetSuite was given, or both (gmial.com typed, gamil.com on file).
        fixed = payer_domain != _split(on_file)[1]
        return ("domain_typo" if fixed else "dots_or_tag"), 0
    edits = OSA.distance(canonical(payer), canonical(on_file))
    if edits <= MAX_EDITS:
        return "typo", edits
    return None


def find(payer: str, addresses: Iterable[tuple[str, str, str]]) -> list[EmailMatch]:
    """Addresses on file (``(address, customer_id, customer_name)``) the payer probably meant,
    the exact ones first, then the closest."""
    found = []
    for address, customer_id, name in addresses:
        kind = classify(payer, address)
        if kind is not None:
            found.append(EmailMatch(address, customer_id, name, kind[0], kind[1]))
    return sorted(found, key=lambda m: (m.kind != "exact", m.edits, m.address, m.customer_id))


def best(found: Sequence[EmailMatch]) -> list[EmailMatch]:
    """The matches ``find`` ranked first, all as likely as each other: the exact ones, else
    those the fewest edits away."""
    rank = [(m.kind != "exact", m.edits) for m in found]
    return [m for m, r in zip(found, rank, strict=True) if r == min(rank)]
