"""The payer's email against the addresses on file: what a search for its variants finds."""

from __future__ import annotations

import pytest

from revline.reconcile.emails import classify, find, search_key, variants

ON_FILE = [
    ("dana.reyes@acme.example", "7", "Acme"),
    ("jo@gmail.com", "8", "Jo"),
    ("billing@acme.example", "7", "Acme"),
    ("pat+stripe@corvid.example", "9", "Corvid"),
    ("sean.o'brien@bluefin.example", "10", "Bluefin"),
    ("lee@hotmial.com", "11", "Lee"),  # the typo is NetSuite's
]

TYPED = {
    "dana.reyes@acme.example": "exact",
    "Dana.Reyes@Acme.example": "exact",  # case aside, the same address
    " dana.reyes@acme.example ": "exact",
    "danareyes+ap@acme.example": "dots_or_tag",
    "dana.reyes+ap@acme.example": "dots_or_tag",
    "dnaa.reyes@acme.example": "typo",  # swapped
    "dan.reyes@acme.example": "typo",  # missing
    "dana.reyess@acme.example": "typo",  # extra
    "dana.reyez@acme.example": "typo",  # wrong
    "jo@gmial.com": "domain_typo",
    "jo@gmal.com": "typo",  # a domain typo nobody listed: one letter off
    "jo@gmail.con": "typo",
    "pat@corvid.example": "dots_or_tag",  # on file with its own tag
    "pat+billing@corvid.example": "dots_or_tag",
    "sean.obrien@bluefin.example": "typo",  # the apostrophe left out
    "lee@hotmail.com": "domain_typo",
}


def test_a_domain_typo_on_both_sides_is_named_a_domain_typo() -> None:
    assert classify("john@gmial.com", "john@gamil.com") == ("domain_typo", 0)


@pytest.mark.parametrize(("typed", "kind"), TYPED.items())
def test_every_mistake_is_named_and_a_search_for_the_variants_finds_it(
    typed: str, kind: str
) -> None:
    found = find(typed, ON_FILE)
    assert [m.kind for m in found] == [kind], typed
    # The address on file is among what NetSuite is searched for.
    assert search_key(found[0].address) in variants(typed)


def test_an_address_exactly_on_file_is_the_strongest_evidence() -> None:
    """Found, and ahead of a near miss: ``billing@acme.example`` is on file, and so is an
    address one letter from what the payer typed."""
    on_file = [("bi1ling@acme.example", "9", "Other"), *ON_FILE]
    found = find("Billing@Acme.example", on_file)
    assert [(m.address, m.customer_id, m.kind, m.edits) for m in found] == [
        ("billing@acme.example", "7", "exact", 0),
        ("bi1ling@acme.example", "9", "typo", 1),
    ]


def test_someone_else_is_not_found() -> None:
    assert find("someone@else.example", ON_FILE) == []
    assert search_key("dana.reyes@acme.example") not in variants("someone@else.example")
    # Two letters off is someone else too, and not searched for.
    assert find("dnaa.reyse@acme.example", ON_FILE) == []
    assert search_key("dana.reyes@acme.example") not in variants("dnaa.reyse@acme.example")


def test_the_variants_are_search_keys_a_few_hundred_to_a_few_thousand() -> None:
    keys = variants("Dana.Reyes+ap@Gmial.com")
    assert all(key == search_key(key) for key in keys)  # lower case, no dots, no tag
    assert not any("+" in key for key in keys)
    assert {"danareyes@gmailcom", "danareyes@gmialcom", "danreyes@gmailcom"} <= keys
    assert 500 < len(keys) < 5_000
