"""The scored tier's similarity, over columns as the engine fetches them from DuckDB."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from revline.reconcile import Entry, MatchRules, MatchStatus, Tier, match
from revline.reconcile.engine import Matcher
from revline.reconcile.scoring import scores

DAY = date(2026, 12, 1)


def _texts(*values: str) -> np.ndarray:  # type: ignore[type-arg]
    return np.array(values, dtype=object)


def test_each_pair_is_scored_on_its_own_row() -> None:
    found = scores(
        _texts("pat@foo.example", "pat@foo.example", ""),
        _texts("pat@foo.example", "kim@bar.example", ""),
        _texts("pat smith", "pat smith", ""),
        _texts("smith pat", "kim lee", ""),
        np.array([True, False, False]),
        np.array([True, False, True]),
    )
    # Same mailbox and name in another order, a quoted invoice number, the same amount: all.
    assert found[0] == pytest.approx(1.0)
    # Two empty mailboxes and names are not alike: only the same amount counts.
    assert found[2] == pytest.approx(0.1)
    assert 0 < found[1] < 0.45
    assert found.tolist() == [round(value, 4) for value in found.tolist()]


@pytest.mark.parametrize(
    "stripe_email",
    [" Pat+Invoices@Foo.Example ", "PAT@foo.example", "pat+a+b@foo.example"],
)
def test_the_same_mailbox_however_typed_is_exact_evidence(stripe_email: str) -> None:
    left = [Entry("t1", 777, "usd", DAY, email=stripe_email, name="Pat Smith")]
    right = [Entry("p1", 777, "usd", DAY, email="pat@foo.example", name="Pat Smith")]
    found = match(left, right, MatchRules()).of("t1")
    assert (found.status, found.tier, found.rights) == (MatchStatus.MATCHED, Tier.SCORED, ("p1",))
    assert "same email" in found.reason


def test_a_tag_in_the_domain_is_not_cut() -> None:
    left = [Entry("t1", 777, "usd", DAY, email="pat@foo+x.example", name="Pat Smith")]
    right = [Entry("p1", 777, "usd", DAY, email="pat@foo.example", name="Pat Smith")]
    found = match(left, right, MatchRules()).of("t1")
    assert "same email" not in found.reason


@pytest.mark.parametrize(
    ("address", "mailbox"),
    [
        (" Pat+Invoices@Foo.Example ", "pat@foo.example"),
        ("pat+a+b@foo.example", "pat@foo.example"),
        ("pat@foo+x.example", "pat@foo+x.example"),
        ("pat+x@foo@bar.example", "pat@bar.example"),
        ("jürgen+rechnung@exämple.de", "jürgen@exämple.de"),
        ("e\u0301lise+x@foo.example", "e\u0301lise@foo.example"),
        ("+x@foo.example", "@foo.example"),
        ("pat+x@", "pat@"),
        ("pat+x", ""),  # not an address: no mailbox
        ("n/a", ""),
        ("", ""),
        (None, ""),
    ],
)
def test_a_mailbox_is_the_address_in_lower_case_without_its_tag(
    address: str | None, mailbox: str
) -> None:
    # The macro the candidate blocking uses, as a run leaves it on its connection.
    matcher = Matcher.from_entries([], [])
    matcher.run(MatchRules())
    assert matcher.con.execute("SELECT mailbox(?)", [address]).fetchone() == (mailbox,)
