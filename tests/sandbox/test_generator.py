"""The generated company is believable, varied and reproducible from its seed."""

from __future__ import annotations

from collections import Counter

from revline.sandbox.generator import generate
from revline.sandbox.scenario import OrphanPayment, PaymentFails


def test_same_seed_same_world_other_seed_other_world() -> None:
    assert generate(seed=3) == generate(seed=3)
    assert generate(seed=3) != generate(seed=4)


def test_a_realistic_spread_with_planted_anomalies() -> None:
    world = generate(seed=7, customers=60, days=30)
    assert len(world.customers) == 60
    mrr = sorted(c.mrr_trailing_3m for c in world.customers)
    assert sum(m > 500_000 for m in mrr) >= 3  # some high-value customers above $5,000
    assert mrr[len(mrr) // 2] < 500_000  # most are below
    assert all(c.ap_contact and c.relationship_owner for c in world.customers)
    kinds = Counter(h.type for h in world.happenings)
    assert {
        "payment",
        "payment_fails",
        "payout",
        "orphan_payment",
        "duplicate_invoice",
        "ramp_transaction",
    } <= set(kinds)
    codes = {h.code for h in world.happenings if isinstance(h, PaymentFails)}
    assert len(codes) >= 2
    by_id = {c.id: c for c in world.customers}
    for orphan in (h for h in world.happenings if isinstance(h, OrphanPayment)):
        assert orphan.email_typo_of is not None
        real = by_id[orphan.email_typo_of].ap_contact
        assert real is not None and orphan.email != real.email
    assert [h.at for h in world.happenings] == sorted(h.at for h in world.happenings)


def test_even_a_two_day_run_has_a_world() -> None:
    world = generate(seed=5, customers=3, days=2)
    assert len(world.customers) == 3
    assert all(world.start <= h.at <= world.until for h in world.happenings)
