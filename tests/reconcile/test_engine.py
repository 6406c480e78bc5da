"""The matching engine's tiers, reasons and invariants."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import date

import duckdb
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


def test_a_large_run_counts_every_entry_once_and_leaves_the_connection_as_it_was() -> None:
    """Past 4,096 rows the exact tier groups with DuckDB's perfect hash table; the setting it
    raises for that is put back."""
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
    before = con.execute("SELECT current_setting('perfect_ht_threshold')").fetchall()
    matcher = Matcher(con)
    matcher.run(MatchRules())
    assert con.execute("SELECT current_setting('perfect_ht_threshold')").fetchall() == before
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


_entries = st.lists(
    st.builds(
        Entry,
        id=st.uuids().map(str),
        amount=st.integers(1, 5000),
        currency=st.sampled_from(["usd", "eur"]),
        day=st.dates(date(2026, 12, 1), date(2026, 12, 5)),
        charge_id=st.none() | st.sampled_from([f"ch_{i}" for i in range(8)]),
        invoice_id=st.none() | st.sampled_from([f"in_{i}" for i in range(6)]),
        customer=st.none() | st.sampled_from(["cus_a", "cus_b"]),
        email=st.none() | st.sampled_from(["a@x.example", "A@x.example", "b@y.example"]),
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
    matched_rights = [r for m in report.by_status(MatchStatus.MATCHED) for r in m.rights]
    assert len(matched_rights) == len(set(matched_rights))
    entry = {e.id: e for e in [*left, *right]}
    for found in report.matches:
        stripe = entry[found.left]
        if found.status is MatchStatus.UNMATCHED:
            assert found.rights == ()
        if found.status is MatchStatus.MATCHED:
            assert all(entry[r].currency == stripe.currency for r in found.rights)
        # An exact tier names only records that carry the entry's key.
        if found.tier is Tier.EXACT_CHARGE:
            assert {entry[r].charge_id for r in found.rights} == {stripe.charge_id}
        if found.tier is Tier.EXACT_INVOICE:
            assert stripe.charge_id not in {e.charge_id for e in right} - {None}
            assert {entry[r].invoice_id for r in found.rights} == {stripe.invoice_id}
    claimed = {r for m in report.matches for r in m.rights}
    assert set(report.unmatched_right) == {e.id for e in right} - claimed
