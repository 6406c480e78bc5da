"""The matching engine's tiers, reasons and invariants."""

from __future__ import annotations

from datetime import date

from hypothesis import given, settings
from hypothesis import strategies as st

from revline.reconcile import Entry, MatchRules, MatchStatus, Tier, match
from revline.reconcile.emails import find

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


def test_the_mistyped_emails_a_payer_makes() -> None:
    on_file = [("dana.reyes@acme.example", "7", "Acme"), ("jo@gmail.com", "8", "Jo")]
    cases = {
        "Dana.Reyes@Acme.example": "case",
        "danareyes+ap@acme.example": "dots_or_tag",
        "dnaa.reyes@acme.example": "typo",
        "dan.reyes@acme.example": "typo",
        "jo@gmial.com": "domain_typo",
    }
    for typed, kind in cases.items():
        found = find(typed, on_file)
        assert [m.kind for m in found] == [kind], typed
    assert find("someone@else.example", on_file) == []


_entries = st.lists(
    st.builds(
        Entry,
        id=st.uuids().map(str),
        amount=st.integers(1, 5000),
        currency=st.sampled_from(["usd", "eur"]),
        day=st.dates(date(2026, 12, 1), date(2026, 12, 5)),
        charge_id=st.none() | st.sampled_from([f"ch_{i}" for i in range(8)]),
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
    currency = {e.id: e.currency for e in [*left, *right]}
    for found in report.matches:
        if found.status is MatchStatus.UNMATCHED:
            assert found.rights == ()
        if found.status is MatchStatus.MATCHED:
            assert all(currency[r] == currency[found.left] for r in found.rights)
    claimed = {r for m in report.matches for r in m.rights}
    assert set(report.unmatched_right) == {e.id for e in right} - claimed
