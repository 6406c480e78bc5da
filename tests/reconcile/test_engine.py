"""The matching engine's tiers, reasons and invariants."""

from __future__ import annotations

import csv
import itertools
from collections import Counter
from datetime import date
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from revline.reconcile import Entry, Matcher, MatchRules, MatchStatus, Tier, match
from revline.reconcile.engine import settled_records

DAY = date(2026, 12, 1)


def test_each_tier_with_its_reason() -> None:
    left = [
        Entry("t1", 1000, "usd", DAY, charge_id="ch_1"),
        Entry("t2", 2000, "usd", DAY, customer="cus_a"),
        Entry("t3", 500, "usd", DAY, charge_id="ch_3"),
        Entry("t4", 3000, "usd", DAY, customer="cus_b"),
        Entry("t5", 777, "usd", DAY, email="Pat+x@foo.example", name="Pat Smith"),
        Entry("t6", 999, "usd", DAY),
        Entry("t7", 123, "usd", DAY, invoice_id="in_7"),
        Entry("t8", 400, "usd", DAY, charge_id="ch_8"),
    ]
    right = [
        Entry("p1", 1000, "usd", DAY, charge_id="ch_1"),
        Entry("p2", 2000, "usd", date(2026, 12, 3), customer="cus_a"),
        Entry("p3", 500, "eur", DAY, charge_id="ch_3"),
        Entry("p4a", 1000, "usd", DAY, customer="cus_b"),
        Entry("p4b", 2000, "usd", DAY, customer="cus_b"),
        Entry("p5", 777, "usd", DAY, email="pat@foo.example", name="Smith Pat"),
        Entry("p7", 123, "usd", DAY, invoice_id="in_7"),
        Entry("p8a", 400, "usd", DAY, charge_id="ch_8"),
        Entry("p8b", 400, "usd", DAY, charge_id="ch_8"),
        Entry("p9", 5, "usd", DAY),
    ]
    report = match(left, right, MatchRules())
    expected = {
        "t1": (MatchStatus.MATCHED, Tier.EXACT_CHARGE, ("p1",)),
        "t2": (MatchStatus.MATCHED, Tier.TOLERANCE, ("p2",)),
        "t3": (MatchStatus.BLOCKED, Tier.EXACT_CHARGE, ("p3",)),
        "t4": (MatchStatus.PROPOSED, Tier.ONE_TO_MANY, ("p4a", "p4b")),
        "t5": (MatchStatus.MATCHED, Tier.SCORED, ("p5",)),
        "t6": (MatchStatus.UNMATCHED, None, ()),
        "t7": (MatchStatus.MATCHED, Tier.EXACT_INVOICE, ("p7",)),
        "t8": (MatchStatus.PROPOSED, Tier.EXACT_CHARGE, ("p8a", "p8b")),
    }
    for left_id, (status, tier, rights) in expected.items():
        found = report.of(left_id)
        assert (found.status, found.tier, found.rights) == (status, tier, rights), found
    assert report.of("t3").reason == "currency mismatch: Stripe USD, NetSuite EUR"
    assert report.of("t8").reason == "2 NetSuite records carry the same charge id"
    assert "dates 2 days apart" in report.of("t2").reason
    assert report.unmatched_right == ("p9",)


def test_one_payment_for_some_of_a_customers_open_records_is_proposed_with_just_those() -> None:
    left = [
        Entry("t1", 3000, "usd", DAY, customer="cus_b"),
        Entry("t2", 200, "usd", DAY, customer="cus_c"),
    ]
    right = [
        Entry("p1", 1000, "usd", DAY, customer="cus_b"),
        Entry("p2", 2000, "usd", DAY, customer="cus_b"),
        Entry("p3", 450, "usd", DAY, customer="cus_b"),  # open, but not what t1 settled
        # Three records of 100: which two t2 settled, nobody can tell from the amounts.
        Entry("p4", 100, "usd", DAY, customer="cus_c"),
        Entry("p5", 100, "usd", DAY, customer="cus_c"),
        Entry("p6", 100, "usd", DAY, customer="cus_c"),
    ]
    report = match(left, right, MatchRules())
    settled = report.of("t1")
    assert (settled.status, settled.tier, settled.rights) == (
        MatchStatus.PROPOSED,
        Tier.ONE_TO_MANY,
        ("p1", "p2"),
    )
    assert settled.reason.startswith("one payment equals 2 open records")
    assert report.of("t2").tier is not Tier.ONE_TO_MANY
    assert "p3" in report.unmatched_right


@settings(max_examples=200, deadline=None)
@given(
    amounts=st.lists(st.integers(1, 50), min_size=0, max_size=8),
    target=st.integers(1, 200),
)
def test_a_settlement_is_proposed_only_when_one_combination_adds_up(
    amounts: list[int], target: int
) -> None:
    combinations = [
        c
        for size in range(2, len(amounts) + 1)
        for c in itertools.combinations(range(len(amounts)), size)
        if sum(amounts[i] for i in c) == target
    ]
    expected = combinations[0] if len(combinations) == 1 else None
    assert settled_records(target, amounts) == expected


def test_exact_keys_that_cannot_be_applied_go_to_a_person_with_the_reason() -> None:
    left = [
        Entry("t1", 1000, "usd", DAY, charge_id="ch_1"),
        Entry("t2", 200, "usd", DAY, charge_id="ch_2"),
        Entry("t3", 200, "usd", DAY, invoice_id="in_3"),
        Entry("t4", 400, "usd", DAY, charge_id="ch_4"),
    ]
    right = [
        Entry("p1", 990, "usd", DAY, charge_id="ch_1"),
        Entry("p2", 200, "usd", DAY, charge_id="ch_2", invoice_id="in_3"),
        Entry("p4a", 400, "usd", DAY, charge_id="ch_4"),
        Entry("p4b", 400, "eur", DAY, charge_id="ch_4"),
    ]
    report = match(left, right, MatchRules())
    expected = {
        "t1": (
            MatchStatus.PROPOSED,
            Tier.EXACT_CHARGE,
            ("p1",),
            "charge id matches but the amount differs by 10 minor units",
        ),
        "t2": (
            MatchStatus.PROPOSED,
            Tier.EXACT_CHARGE,
            ("p2",),
            "the NetSuite record is claimed by several Stripe entries",
        ),
        "t3": (
            MatchStatus.PROPOSED,
            Tier.EXACT_INVOICE,
            ("p2",),
            "the NetSuite record is claimed by several Stripe entries",
        ),
        "t4": (
            MatchStatus.BLOCKED,
            Tier.EXACT_CHARGE,
            ("p4a", "p4b"),
            "currency mismatch: Stripe USD, NetSuite EUR",
        ),
    }
    for left_id, outcome in expected.items():
        found = report.of(left_id)
        assert (found.status, found.tier, found.rights, found.reason) == outcome, found
    assert report.unmatched_right == ()


def test_a_large_run_counts_every_entry_once() -> None:
    """Thousands of rows, the exact tier's plain matches counted in NumPy and its exceptions
    in SQL: every entry is counted once, as the report lists it."""
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE l AS SELECT 'txn_' || i AS id, 100 + i AS amount, 'usd' AS currency, "
        "DATE '2026-12-01' AS day, 'ch_' || i AS charge_id, NULL::VARCHAR AS invoice_id, "
        "NULL::VARCHAR AS customer, NULL::VARCHAR AS email, NULL::VARCHAR AS name, "
        "NULL::VARCHAR AS reference FROM range(6000) t(i)"
    )
    # Every tenth record lost its charge id, every hundredth is in another currency.
    con.execute(
        "CREATE TABLE r AS SELECT 'ns_' || substr(id, 5) AS id, amount, "
        "CASE WHEN amount % 100 = 0 THEN 'eur' ELSE currency END AS currency, day, "
        "CASE WHEN amount % 10 <> 5 THEN charge_id END AS charge_id, invoice_id, customer, "
        "email, name, reference FROM l"
    )
    matcher = Matcher(con)
    matcher.run(MatchRules())
    counts = matcher.counts()
    assert counts == Counter(m.status.value for m in matcher.report().matches)
    assert counts == {"matched": 5340, "blocked": 60, "unmatched": 600}


def test_a_scored_match_without_exact_evidence_is_only_proposed() -> None:
    left = [Entry("t1", 777, "usd", DAY, email="pat.smith@foo.example", name="Pat Smith")]
    right = [Entry("p1", 777, "usd", DAY, email="pat.smyth@foo.example", name="Pat Smyth")]
    found = match(left, right, MatchRules()).of("t1")
    assert found.status is MatchStatus.PROPOSED
    assert found.tier is Tier.SCORED
    assert "a person confirms" in found.reason


def test_two_equally_good_candidates_go_to_a_person() -> None:
    left = [Entry("t1", 777, "usd", DAY, email="pat@foo.example", reference="INV-1")]
    right = [
        Entry("p1", 777, "usd", DAY, email="pat@foo.example"),
        Entry("p2", 777, "usd", DAY, reference="INV-1"),
    ]
    assert match(left, right, MatchRules()).of("t1").status is MatchStatus.PROPOSED


def test_a_refund_is_never_paired_with_the_payment_it_returns() -> None:
    """Stripe's itemized report puts the refunded charge's id on the refund's row: the payment
    keeps its match, and the refund pairs only with a NetSuite refund carrying the same id."""
    left = [
        Entry("t1", 125000, "usd", DAY, charge_id="ch_1", invoice_id="in_1"),
        Entry("t2", -2000, "usd", DAY, charge_id="ch_1", invoice_id="in_1"),  # partly refunded
        Entry("t3", 5000, "usd", DAY, charge_id="ch_3"),
        Entry("t4", -5000, "usd", DAY, charge_id="ch_3"),  # refunded in full
    ]
    right = [
        Entry("p1", 125000, "usd", DAY, charge_id="ch_1", invoice_id="in_1"),
        Entry("p3", 5000, "usd", DAY, charge_id="ch_3"),
        Entry("r3", -5000, "usd", DAY, charge_id="ch_3"),  # NetSuite's customer refund
    ]
    report = match(left, right, MatchRules())
    for payment, records in (("t1", ("p1",)), ("t3", ("p3",)), ("t4", ("r3",))):
        found = report.of(payment)
        assert (found.status, found.tier, found.rights) == (
            MatchStatus.MATCHED,
            Tier.EXACT_CHARGE,
            records,
        )
    refund = report.of("t2")
    assert (refund.status, refund.rights) == (MatchStatus.UNMATCHED, ())
    assert refund.reason.startswith("a refund or other debit: no NetSuite record of one")


@pytest.mark.parametrize(
    ("category", "amount", "named"),
    [
        ("dispute_reversal", 5000, "Stripe reporting category dispute_reversal:"),
        ("refund_failure", 5000, "Stripe reporting category refund_failure:"),
        ("dispute", -5000, "Stripe reporting category dispute:"),
        ("refund", 5000, "Stripe reporting category refund with a positive amount:"),
        ("charge", -5000, "Stripe reporting category charge with a negative amount:"),
    ],
)
def test_only_a_payment_settles_a_customer_payment_and_only_a_refund_a_customer_refund(
    category: str, amount: int, named: str
) -> None:
    """Stripe's itemized report puts the charge id on a dispute, a dispute reversal or a failed
    refund as on the charge: none of them is the customer paying (or being refunded), so none
    takes the charge's NetSuite payment (or refund), by any tier, and each says why."""
    left = [
        Entry("t1", 5000, "usd", DAY, charge_id="ch_1", customer="cus_1", category="charge"),
        Entry(
            "t2",
            amount,
            "usd",
            DAY,
            charge_id="ch_1",
            invoice_id="in_1",
            customer="cus_1",
            email="pat@foo.example",
            reference="INV-1",
            category=category,
        ),
    ]
    right = [
        Entry("p1", 5000, "usd", DAY, charge_id="ch_1", customer="cus_1"),
        # Records the entry would find by its invoice id, its customer or its email.
        Entry("p2", amount, "usd", DAY, invoice_id="in_1", customer="cus_1", reference="INV-1"),
        Entry("p3", amount, "usd", DAY, email="pat@foo.example"),
    ]
    report = match(left, right, MatchRules())
    payment = report.of("t1")
    assert (payment.status, payment.tier, payment.rights) == (
        MatchStatus.MATCHED,
        Tier.EXACT_CHARGE,
        ("p1",),
    )
    other = report.of("t2")
    assert (other.status, other.tier, other.rights) == (MatchStatus.UNMATCHED, None, ())
    assert other.reason.startswith(named)
    assert other.reason.endswith(
        "only a charge or payment settles a NetSuite customer payment, and only a refund a "
        "customer refund"
    )
    assert set(report.unmatched_right) == {"p2", "p3"}


def test_a_refund_row_pairs_with_the_customer_refund_as_without_a_category() -> None:
    left = [
        Entry("t1", 5000, "usd", DAY, charge_id="ch_1", category="charge"),
        Entry("t2", -5000, "usd", DAY, charge_id="ch_1", category="refund"),
        Entry("t3", 700, "usd", DAY, charge_id="ch_3", category="payment"),
    ]
    right = [
        Entry("p1", 5000, "usd", DAY, charge_id="ch_1"),
        Entry("r1", -5000, "usd", DAY, charge_id="ch_1"),
        Entry("p3", 700, "usd", DAY, charge_id="ch_3"),
    ]
    report = match(left, right, MatchRules())
    assert [(m.left, m.status, m.rights) for m in report.matches] == [
        ("t1", MatchStatus.MATCHED, ("p1",)),
        ("t2", MatchStatus.MATCHED, ("r1",)),
        ("t3", MatchStatus.MATCHED, ("p3",)),
    ]


@pytest.mark.parametrize(
    ("stripe", "netsuite", "carried"),
    [
        ({"charge_id": "ch_2"}, {"charge_id": "ch_9"}, "another Stripe charge id (ch_9)"),
        ({"invoice_id": "in_2"}, {"invoice_id": "in_9"}, "another Stripe invoice id (in_9)"),
    ],
)
def test_a_tolerance_pair_whose_exact_keys_disagree_is_only_proposed(
    stripe: dict[str, str], netsuite: dict[str, str], carried: str
) -> None:
    """Same customer, amount and day, but the NetSuite record names another charge (or
    invoice): that is evidence against the pair, not a match."""
    left = [Entry("t1", 5000, "usd", DAY, customer="cus_1", **stripe)]
    right = [Entry("p1", 5000, "usd", DAY, customer="cus_1", **netsuite)]
    found = match(left, right, MatchRules()).of("t1")
    assert (found.status, found.tier, found.rights) == (
        MatchStatus.PROPOSED,
        Tier.TOLERANCE,
        ("p1",),
    )
    assert found.reason == (
        f"same customer and within tolerance, but the NetSuite record carries {carried}: "
        "a person confirms"
    )


@pytest.mark.parametrize(
    ("stripe", "netsuite", "carried"),
    [
        ({"charge_id": "ch_2"}, {"charge_id": "ch_9"}, "another Stripe charge id (ch_9)"),
        ({"invoice_id": "in_2"}, {"invoice_id": "in_9"}, "another Stripe invoice id (in_9)"),
        ({"customer": "cus_2"}, {"customer": "cus_9"}, "another Stripe customer id (cus_9)"),
    ],
)
def test_a_scored_candidate_whose_exact_keys_disagree_is_never_applied(
    stripe: dict[str, str], netsuite: dict[str, str], carried: str
) -> None:
    """The same email and the invoice number quoted would apply the candidate; a charge,
    invoice or customer id that disagrees sends it to a person, saying so."""
    left = [Entry("t1", 777, "usd", DAY, email="pat@foo.example", reference="INV-1", **stripe)]
    right = [Entry("p1", 777, "usd", DAY, email="pat@foo.example", reference="INV-1", **netsuite)]
    found = match(left, right, MatchRules()).of("t1")
    assert (found.status, found.tier, found.rights) == (
        MatchStatus.PROPOSED,
        Tier.SCORED,
        ("p1",),
    )
    assert f"but the NetSuite record carries {carried}" in found.reason
    assert found.reason.endswith("a person confirms")


def test_a_scored_candidate_never_pairs_a_refund_with_a_payment() -> None:
    """A refund quoting the invoice its payment settled, from the same mailbox: the invoice
    number finds the payment, but money going back is never the payment."""
    left = [Entry("t1", -777, "usd", DAY, email="pat@foo.example", reference="Refund INV-1")]
    right = [Entry("p1", 777, "usd", DAY, email="pat@foo.example", reference="INV-1")]
    report = match(left, right, MatchRules(amount_drift=2000))
    assert (report.of("t1").status, report.of("t1").rights) == (MatchStatus.UNMATCHED, ())
    assert report.unmatched_right == ("p1",)


def test_an_invoice_id_on_a_record_of_another_charge_goes_to_a_person() -> None:
    """A second charge for one invoice (a payment made twice) is not applied to the first
    charge's NetSuite payment because the invoice id agrees."""
    left = [Entry("t1", 10000, "usd", DAY, charge_id="ch_Y", invoice_id="in_1")]
    right = [Entry("p1", 10000, "usd", DAY, charge_id="ch_X", invoice_id="in_1")]
    found = match(left, right, MatchRules()).of("t1")
    assert (found.status, found.tier, found.rights, found.reason) == (
        MatchStatus.PROPOSED,
        Tier.EXACT_INVOICE,
        ("p1",),
        "the NetSuite record carries the invoice id but another Stripe charge id",
    )


def test_a_scored_candidate_far_in_amount_or_date_is_only_proposed() -> None:
    """The same email and a quoted invoice number are exact evidence of who paid, not of what:
    a record a thousand times the payment, ten months earlier, goes to a person."""
    left = [Entry("t1", 500, "usd", DAY, email="pat@foo.example", reference="Paying INV-2026-1201")]
    far = Entry(
        "p1", 500000, "usd", date(2026, 2, 1), email="pat@foo.example", reference="INV-2026-1201"
    )
    found = match(left, [far], MatchRules()).of("t1")
    assert (found.status, found.tier, found.rights) == (
        MatchStatus.PROPOSED,
        Tier.SCORED,
        ("p1",),
    )
    assert "amount differs by -499500 minor units, dates 303 days apart" in found.reason
    assert found.reason.endswith("a person confirms")
    near = Entry("p1", 500, "usd", DAY, email="pat@foo.example", reference="INV-2026-1201")
    assert match(left, [near], MatchRules()).of("t1").status is MatchStatus.MATCHED


def test_a_lead_of_exactly_the_margin_is_a_clear_margin() -> None:
    """0.75 against 0.55 leads by the default margin of 0.2, though 0.75 - 0.55 is 0.1999... in
    floating point."""
    left = [Entry("t1", 10000, "usd", DAY, email="abcd@x.io", name="Acme", reference="INV-1")]
    right = [
        Entry("p1", 10000, "usd", DAY, email="abcd@x.io", reference="INV-1"),
        Entry("p2", 10000, "usd", DAY, email="@ZZZZabcd", name="Acme", reference="PYMT-9"),
    ]
    found = match(left, right, MatchRules()).of("t1")
    assert (found.status, found.rights, found.score) == (MatchStatus.MATCHED, ("p1",), 0.75)
    assert "next candidate 0.55" in found.reason


def test_a_record_within_tolerance_of_entries_in_two_currencies_goes_to_a_person() -> None:
    """It is never matched to one entry while named in the other's blocked row."""
    left = [
        Entry("t1", 10000, "usd", DAY, customer="cus_1"),
        Entry("t2", 10000, "eur", DAY, customer="cus_1"),
    ]
    right = [Entry("p1", 10000, "eur", DAY, customer="cus_1")]
    report = match(left, right, MatchRules())
    assert (report.of("t1").status, report.of("t1").rights) == (MatchStatus.BLOCKED, ("p1",))
    assert (report.of("t2").status, report.of("t2").rights, report.of("t2").reason) == (
        MatchStatus.PROPOSED,
        ("p1",),
        "the record is within tolerance of several Stripe entries",
    )


def test_records_that_settle_two_payments_are_proposed_for_both_saying_so() -> None:
    left = [
        Entry("t1", 30000, "usd", DAY, customer="cus_1"),
        Entry("t2", 30000, "usd", DAY, customer="cus_1"),
    ]
    right = [
        Entry("p1", 10000, "usd", DAY, customer="cus_1"),
        Entry("p2", 20000, "usd", DAY, customer="cus_1"),
        Entry("p3", 5000, "usd", DAY, customer="cus_1"),
    ]
    report = match(left, right, MatchRules())
    for payment in ("t1", "t2"):
        found = report.of(payment)
        assert (found.status, found.tier, found.rights) == (
            MatchStatus.PROPOSED,
            Tier.ONE_TO_MANY,
            ("p1", "p2"),
        )
        assert found.reason.endswith("; some of these records also settle another payment")


@pytest.mark.parametrize("drift", [0, 1, 5, 10_000_000])
@pytest.mark.parametrize("amount", [100_000_000, 7, -4_000])
def test_candidates_are_exactly_the_records_within_the_drift(drift: int, amount: int) -> None:
    """Candidates are found through buckets ``drift + 1`` wide, not a row per minor unit: a
    record at the drift's edge either way is a candidate, one a unit beyond it is not, for
    refunds as for payments and a drift of $100,000 as of nothing; but never a record of money
    moving the other way, however wide the drift."""
    offsets = {"below": -drift, "above": drift, "too_low": -drift - 1, "too_high": drift + 1}
    matcher = Matcher.from_entries(
        [Entry("t1", amount, "usd", DAY, email="pat@foo.example")],
        [
            Entry(name, amount + offset, "usd", DAY, email="pat@foo.example")
            for name, offset in offsets.items()
        ],
    )
    matcher.run(MatchRules(amount_drift=drift))
    candidates = matcher.con.execute(
        "SELECT r.id FROM candidates c JOIN r ON r.rowid = c.rrow ORDER BY 1"
    ).fetchall()
    same_way = [
        name
        for name, offset in offsets.items()
        if abs(offset) <= drift and (amount + offset < 0) == (amount < 0)
    ]
    assert [row[0] for row in candidates] == sorted(same_way)


@pytest.mark.parametrize(
    "rules",
    [
        {"amount_drift": -1},
        {"date_window_days": -3},
        {"auto_margin": 1.5},
        {"min_score": -0.1},
    ],
)
def test_rules_out_of_range_are_refused(rules: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"cannot be negative|between 0 and 1"):
        MatchRules(**rules)


_entries = st.lists(
    st.builds(
        Entry,
        id=st.uuids().map(str),
        amount=st.integers(-5000, 5000).filter(bool),
        currency=st.sampled_from(["usd", "eur"]),
        day=st.dates(date(2026, 12, 1), date(2026, 12, 5)),
        charge_id=st.none() | st.sampled_from([f"ch_{i}" for i in range(8)]),
        invoice_id=st.none() | st.sampled_from([f"in_{i}" for i in range(6)]),
        customer=st.none() | st.sampled_from(["cus_a", "cus_b"]),
        email=st.none() | st.sampled_from(["a@x.example", "A@x.example", "b@y.example"]),
        category=st.none() | st.sampled_from(["charge", "refund", "dispute_reversal"]),
    ),
    max_size=12,
    unique_by=lambda e: e.id,
)


@settings(max_examples=60, deadline=None)
@given(left=_entries, right=_entries)
def test_every_entry_has_one_outcome_and_nothing_is_matched_twice(
    left: list[Entry], right: list[Entry]
) -> None:
    report = match(left, right, MatchRules(amount_drift=5))
    assert sorted(m.left for m in report.matches) == sorted(e.id for e in left)
    entry = {e.id: e for e in [*left, *right]}
    claimants = Counter(r for m in report.matches for r in m.rights)
    for found in report.matches:
        stripe = entry[found.left]
        if found.status is MatchStatus.UNMATCHED:
            assert found.rights == ()
        if found.status is MatchStatus.MATCHED:
            # Applied: the same currency, money moving the same way, within the drift, and a
            # record no other entry is offered.
            for record in (entry[r] for r in found.rights):
                assert record.currency == stripe.currency
                assert (record.amount < 0) == (stripe.amount < 0)
                assert abs(record.amount - stripe.amount) <= 5
                assert claimants[record.id] == 1
                # Only a payment settles a payment, only a refund a refund.
                assert stripe.category in (None, "refund" if record.amount < 0 else "charge")
                if found.tier in (Tier.TOLERANCE, Tier.SCORED):
                    # No exact key carried by both sides disagrees.
                    for key in ("charge_id", "invoice_id", "customer"):
                        keys = {getattr(stripe, key), getattr(record, key)}
                        assert None in keys or len(keys) == 1
        if stripe.category == "dispute_reversal":
            assert (found.status, found.rights) == (MatchStatus.UNMATCHED, ())
        # An exact tier names only records that carry the entry's key, moving money its way.
        same_way = [e for e in right if (e.amount < 0) == (stripe.amount < 0)]
        if found.tier is Tier.EXACT_CHARGE:
            assert {entry[r].charge_id for r in found.rights} == {stripe.charge_id}
        if found.tier is Tier.EXACT_INVOICE:
            assert stripe.charge_id not in {e.charge_id for e in same_way} - {None}
            assert {entry[r].invoice_id for r in found.rights} == {stripe.invoice_id}
        if found.tier in (Tier.EXACT_CHARGE, Tier.EXACT_INVOICE):
            assert all((entry[r].amount < 0) == (stripe.amount < 0) for r in found.rights)
    assert set(report.unmatched_right) == {e.id for e in right} - set(claimants)


def test_reports_are_written_all_three_or_none(tmp_path: Path) -> None:
    """Each report is written beside its name and renamed once all three are complete: a run
    that cannot finish leaves neither a part of a report nor some reports without the others."""
    matcher = Matcher.from_entries(
        [Entry("=t1", 1000, "usd", DAY, charge_id="ch_1")],
        [Entry("p1", 1000, "usd", DAY, charge_id="ch_1")],
    )
    matcher.run(MatchRules())
    (tmp_path / "unmatched.csv").mkdir()  # the last rename fails
    with pytest.raises(OSError):
        matcher.write(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["unmatched.csv"]
    (tmp_path / "unmatched.csv").rmdir()
    paths = matcher.write(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ambiguous.csv",
        "matched.csv",
        "unmatched.csv",
    ]
    (matched,) = csv.DictReader(paths["matched"].open(newline=""))
    assert (matched["stripe_id"], matched["netsuite_ids"]) == ("'=t1", "p1")


def test_a_write_that_fails_leaves_no_earlier_report_beside_nothing(tmp_path: Path) -> None:
    """An earlier run's reports are in the directory and the second rename fails: the new
    matched.csv is removed, and so is the earlier unmatched.csv it would have replaced, so no
    report of another run is left alone."""
    matcher = Matcher.from_entries(
        [Entry("t1", 1000, "usd", DAY, charge_id="ch_1")],
        [Entry("p1", 1000, "usd", DAY, charge_id="ch_1")],
    )
    matcher.run(MatchRules())
    matcher.write(tmp_path)  # the earlier run
    (tmp_path / "ambiguous.csv").unlink()
    (tmp_path / "ambiguous.csv").mkdir()  # the second rename fails
    with pytest.raises(OSError):
        matcher.write(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["ambiguous.csv"]
    (tmp_path / "ambiguous.csv").rmdir()
    matcher.write(tmp_path)
    # A failure before any rename leaves the earlier run's three, in step with each other.
    matcher.con.execute("DROP VIEW unclaimed_right")
    with pytest.raises(duckdb.Error):
        matcher.write(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ambiguous.csv",
        "matched.csv",
        "unmatched.csv",
    ]


def test_two_partial_refunds_of_one_charge_pair_by_amount() -> None:
    """Stripe's itemized report puts the charge id on every refund row: two partial refunds of
    ch_1 and NetSuite's two customer refunds of them share it, and pair one to one by amount.
    When the amounts cannot pair them (or pair them more than one way) a person does, told
    that several entries and records share the charge id, not that NetSuite holds a duplicate.
    """
    refunds = [
        Entry("t1", 10000, "usd", DAY, charge_id="ch_1", category="charge"),
        Entry("t2", -3000, "usd", DAY, charge_id="ch_1", category="refund"),
        Entry("t3", -2000, "usd", DAY, charge_id="ch_1", category="refund"),
    ]
    records = [
        Entry("p1", 10000, "usd", DAY, charge_id="ch_1"),
        Entry("r1", -3000, "usd", DAY, charge_id="ch_1"),
        Entry("r2", -2000, "usd", DAY, charge_id="ch_1"),
    ]
    report = match(refunds, records, MatchRules())
    found = {m.left: (m.status, m.tier, m.rights) for m in report.matches}
    assert found == {
        "t1": (MatchStatus.MATCHED, Tier.EXACT_CHARGE, ("p1",)),
        "t2": (MatchStatus.MATCHED, Tier.EXACT_CHARGE, ("r1",)),
        "t3": (MatchStatus.MATCHED, Tier.EXACT_CHARGE, ("r2",)),
    }
    assert "paired one to one by equal amount" in str(report.of("t2").reason)
    assert report.unmatched_right == ()

    # Amounts that pair them no way (-2000 against -2500), or two ways (-2000 twice each side).
    refund = [
        Entry(f"t{i}", -2000, "usd", DAY, charge_id="ch_1", category="refund") for i in (4, 5)
    ]
    record = [
        Entry(f"r{i}", amount, "usd", DAY, charge_id="ch_1")
        for i, amount in ((3, -2500), (4, -2000), (5, -2000))
    ]
    for left, right in (
        ([refunds[1], refund[0]], [records[1], record[0]]),
        (refund, record[1:]),
    ):
        report = match(left, right, MatchRules())
        for entry in left:
            found_entry = report.of(entry.id)
            assert (found_entry.status, len(found_entry.rights)) == (MatchStatus.PROPOSED, 2)
            assert str(found_entry.reason).startswith(
                "2 Stripe entries and 2 NetSuite records share the same charge id"
            ), found_entry.reason
    # One refund and two NetSuite records of it is still a duplicate in NetSuite.
    duplicate = Entry("r3", -3000, "usd", DAY, charge_id="ch_1")
    report = match(refunds[:2], [*records[:2], duplicate], MatchRules())
    assert report.of("t2").reason == "2 NetSuite records carry the same charge id"


def test_a_partially_captured_charge_matches_its_payment_net_of_the_reversal() -> None:
    """Stripe's itemized report lists a charge captured in part as authorised (+100) and a
    ``partial_capture_reversal`` (-30) carrying its charge id; NetSuite records the 70
    captured. The charge pairs net of its reversal, and the reversal names its charge."""
    left = [
        Entry("t1", 10000, "usd", DAY, charge_id="ch_1", category="charge"),
        Entry("t2", -3000, "usd", DAY, charge_id="ch_1", category="partial_capture_reversal"),
    ]
    outcomes = {}
    for recorded in (7000, 10000):
        report = match(left, [Entry("p1", recorded, "usd", DAY, charge_id="ch_1")], MatchRules())
        outcomes[recorded] = {m.left: (m.status, m.rights, m.reason) for m in report.matches}
    assert outcomes[7000]["t1"] == (
        MatchStatus.MATCHED,
        ("p1",),
        "Stripe charge id carried on the NetSuite record, which records the 7000 minor units "
        "captured: the charge net of its partial capture reversal",
    )
    assert outcomes[7000]["t2"] == (
        MatchStatus.UNMATCHED,
        (),
        "a partial capture reversal of charge ch_1, not a payment: with it the charge captured "
        "7000 minor units",
    )
    # NetSuite recording what was authorised, not what was captured, goes to a person.
    assert outcomes[10000]["t1"] == (
        MatchStatus.PROPOSED,
        ("p1",),
        "charge id matches, but the NetSuite record carries 10000 minor units and the charge "
        "captured 7000, net of its partial capture reversal",
    )


def test_a_partially_captured_charge_keyed_by_its_invoice_matches_net_of_the_reversal() -> None:
    """The same charge, its NetSuite payment keyed by hand with the Stripe invoice id and no
    charge id: the invoice id pairs it, read net of the reversal as the charge id would."""
    left = [
        Entry("t1", 10000, "usd", DAY, charge_id="ch_1", invoice_id="in_1", category="charge"),
        Entry("t2", -3000, "usd", DAY, charge_id="ch_1", category="partial_capture_reversal"),
    ]

    def outcome(record: Entry) -> tuple[MatchStatus, str | None, str | None]:
        found = match(left, [record], MatchRules()).of("t1")
        return found.status, found.tier.value if found.tier else None, found.reason

    assert outcome(Entry("p1", 7000, "usd", DAY, invoice_id="in_1")) == (
        MatchStatus.MATCHED,
        "exact_invoice_id",
        "Stripe invoice id carried on the NetSuite record, which records the 7000 minor units "
        "captured: the charge net of its partial capture reversal",
    )
    assert outcome(Entry("p1", 10000, "usd", DAY, invoice_id="in_1")) == (
        MatchStatus.PROPOSED,
        "exact_invoice_id",
        "invoice id matches, but the NetSuite record carries 10000 minor units and the charge "
        "captured 7000, net of its partial capture reversal",
    )
    # A record carrying the invoice id and another charge's id is a person's to confirm, even
    # when it carries what was captured.
    assert outcome(Entry("p1", 7000, "usd", DAY, charge_id="ch_9", invoice_id="in_1")) == (
        MatchStatus.PROPOSED,
        "exact_invoice_id",
        "the NetSuite record carries the invoice id but another Stripe charge id",
    )


def test_the_later_tiers_compare_a_partially_captured_charge_by_what_it_captured() -> None:
    """NetSuite's payment of the charge carries no Stripe id at all, only the customer and the
    70 captured: the tolerance tier finds it by the captured amount, and says so."""
    left = [
        Entry("t1", 10000, "usd", DAY, charge_id="ch_1", customer="cus_1", category="charge"),
        Entry("t2", -3000, "usd", DAY, charge_id="ch_1", category="partial_capture_reversal"),
    ]
    report = match(left, [Entry("p1", 7000, "usd", DAY, customer="cus_1")], MatchRules())
    found = report.of("t1")
    assert (found.status, found.tier, found.rights, found.reason) == (
        MatchStatus.MATCHED,
        Tier.TOLERANCE,
        ("p1",),
        "same customer, amount differs by 0 minor units, dates 0 days apart; the charge compared "
        "as captured, net of its partial capture reversal",
    )


# -- input a caller hands the engine as it is ------------------------------------------------


@pytest.mark.parametrize("blank", ["", "  "])
@pytest.mark.parametrize("key", ["charge_id", "invoice_id", "customer"])
def test_a_blank_key_is_no_key(key: str, blank: str) -> None:
    """Two records with an empty charge id (invoice id, customer) and the same amount are not
    the same payment: a blank is no evidence, as it is in a loaded export."""
    left = [Entry("t1", 1000, "usd", DAY, **{key: blank})]
    right = [Entry("p1", 1000, "usd", DAY, **{key: blank})]
    found = match(left, right, MatchRules()).of("t1")
    assert found.status is MatchStatus.UNMATCHED, found.reason


def test_a_currency_typed_with_spaces_is_the_same_currency() -> None:
    left = [Entry("t1", 1000, "USD ", DAY, charge_id="ch_1")]
    right = [Entry("p1", 1000, "usd", DAY, charge_id="ch_1")]
    assert match(left, right, MatchRules()).of("t1").status is MatchStatus.MATCHED


def test_a_placeholder_in_the_email_field_is_no_evidence() -> None:
    """'n/a' on both sides is not the same mailbox: two different people stay apart."""
    left = [Entry("t1", 1000, "usd", DAY, email="n/a", name="Jon Smith")]
    right = [Entry("p1", 1000, "usd", DAY, email="N/A", name="John Smithers")]
    found = match(left, right, MatchRules()).of("t1")
    assert found.status is not MatchStatus.MATCHED
    assert "same email" not in (found.reason or "")


def test_a_candidate_with_exact_evidence_is_not_dropped_for_a_likelier_one() -> None:
    """The payer's exact mailbox is on a record a cent off (within the drift); a record with
    the exact amount and a near address scores higher. The one with the evidence goes to a
    person, not the entry to the unmatched."""
    left = [Entry("t1", 1000, "usd", DAY, email="jonathan@acme.io")]
    right = [
        Entry("p1", 1000, "usd", DAY, email="jonathon@acme.io"),
        Entry("p2", 1001, "usd", DAY, email="jonathan@acme.io"),
    ]
    found = match(left, right, MatchRules(amount_drift=5)).of("t1")
    assert (found.status, found.rights) == (MatchStatus.PROPOSED, ("p2",))
    assert found.reason is not None and "same email" in found.reason


def test_amounts_past_a_double_s_precision_within_the_drift_are_candidates() -> None:
    amount = 2**54 + 2  # 17 digits: an export may carry them
    left = [Entry("t1", amount, "usd", DAY, email="pat@x.io", name="Pat Lee")]
    right = [Entry("p1", amount + 1, "usd", DAY, email="pat@x.io", name="Pat Lee")]
    found = match(left, right, MatchRules(amount_drift=1)).of("t1")
    assert (found.status, found.rights) == (MatchStatus.MATCHED, ("p1",))


def test_a_refund_of_nothing_is_not_said_to_be_positive() -> None:
    left = [Entry("t1", 0, "usd", DAY, charge_id="ch_1", category="refund")]
    reason = match(left, [], MatchRules()).of("t1").reason or ""
    assert "with a zero amount" in reason


@pytest.mark.parametrize(
    "rules",
    [
        {"amount_drift": 0.5},
        {"amount_drift": True},
        {"date_window_days": "3"},
        {"min_score": "0.6"},
    ],
)
def test_rules_of_the_wrong_type_are_refused_before_anything_runs(rules: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=next(iter(rules))):
        MatchRules(**rules)  # type: ignore[arg-type]


def test_a_record_in_another_currency_does_not_hide_the_entry_s_own() -> None:
    """The customer's record within tolerance is in euros, so that pairing is blocked; the
    payer's own dollar record, found by mailbox and name, is still found for the entry."""
    left = [Entry("t1", 10000, "usd", DAY, customer="cus_1", email="pat@x.io", name="Pat Lee")]
    right = [
        Entry("p1", 10000, "eur", DAY, customer="cus_1"),
        Entry("p2", 10000, "usd", DAY, email="pat@x.io", name="Pat Lee"),
    ]
    report = match(left, right, MatchRules())
    assert (report.of("t1").tier, report.of("t1").rights) == (Tier.SCORED, ("p2",))
    assert report.unmatched_right == ("p1",)


def test_an_entry_blocked_on_a_record_does_not_keep_it_from_its_own_entry() -> None:
    """A dollar payment of the customer is blocked against a euro record; the euro payment that
    quotes that record's invoice number and carries its mailbox is matched to it, and the dollar
    one, its only candidate gone, is unmatched rather than blocked on someone else's record."""
    left = [
        Entry("t1", 10000, "usd", DAY, customer="cus_1"),
        Entry("t2", 10000, "eur", DAY, email="pat@x.io", name="Pat Lee", reference="INV-5"),
    ]
    right = [
        Entry(
            "p1",
            10000,
            "eur",
            DAY,
            customer="cus_1",
            email="pat@x.io",
            name="Pat Lee",
            reference="INV-5",
        )
    ]
    report = match(left, right, MatchRules())
    assert (report.of("t2").status, report.of("t2").rights) == (MatchStatus.MATCHED, ("p1",))
    assert (report.of("t1").status, report.of("t1").rights) == (MatchStatus.UNMATCHED, ())


def test_a_candidate_found_on_a_name_alone_for_another_entry_keeps_nothing_from_this_one() -> None:
    """t1 is blocked (its customer's record is in euros) and its best scored candidate, found on
    the name alone, is never offered; t2's own record, with the same mailbox and a clear margin,
    is matched all the same."""
    left = [
        Entry("t1", 10000, "usd", DAY, customer="cus_1", name="Pat Lee"),
        Entry("t2", 10000, "usd", DAY, customer="cus_2", email="pat@x.io", name="Pat Lee"),
    ]
    right = [
        Entry("p1", 10000, "eur", DAY, customer="cus_1"),
        Entry("p2", 10000, "usd", DAY, email="pat@x.io", name="Pat Lee"),
    ]
    report = match(left, right, MatchRules())
    assert (report.of("t2").status, report.of("t2").rights) == (MatchStatus.MATCHED, ("p2",))
    assert (report.of("t1").status, report.of("t1").rights) == (MatchStatus.BLOCKED, ("p1",))
