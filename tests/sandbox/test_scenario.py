"""Scenario parsing: the SCENARIOS.md example is valid; every mistake names its field."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from revline.sandbox.scenario import InvalidScenario, PaymentFails, load, parse

EXAMPLE: dict[str, Any] = {
    "company": {
        "timezone": "America/New_York",
        "holiday_country": "US",
        "currency": "usd",
        "people": {
            "senior_revops_manager": {"name": "Maya Lindqvist", "email": "maya@ourco.example"},
            "billing_analyst": {"name": "Omar Haddad", "email": "omar@ourco.example"},
        },
    },
    "start": "2026-12-01T08:00:00-05:00",
    "until": "2027-01-15T18:00:00-05:00",
    "policy": {"high_value_mrr_threshold": 500000},
    "customers": [
        {
            "id": "acme",
            "name": "Acme Corp",
            "email": "billing@acme.example",
            "mrr_trailing_3m": 1250000,
            "ap_contact": {"name": "Dana Reyes", "email": "dana.reyes@acme.example"},
            "relationship_owner": {"name": "Felix Nordstrom", "email": "felix@ourco.example"},
            "subscription": {"id": "sub_acme", "amount": 1250000, "interval": "month"},
        }
    ],
    "happenings": [
        {
            "at": "2026-12-02T10:00:00-05:00",
            "type": "payment_fails",
            "customer": "acme",
            "invoice": "in_acme_1",
            "invoice_number": "INV-2026-1201",
            "amount": 1250000,
            "code": "card_declined",
        },
        {"at": "2026-12-09T09:00:00-05:00", "type": "card_updated", "customer": "acme"},
    ],
}


def test_the_documented_example_is_valid() -> None:
    scenario = parse(EXAMPLE, name="example")
    assert scenario.name == "example"
    assert (scenario.mode, scenario.approve) == ("live", "none")
    first = scenario.happenings[0]
    assert isinstance(first, PaymentFails)
    assert first.smart_retry_after == timedelta(hours=1)
    assert first.at.utcoffset() == timedelta(hours=-5)


def _broken(path: list[str | int], value: object) -> dict[str, Any]:
    document = copy.deepcopy(EXAMPLE)
    target: Any = document
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return document


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (["happenings", 1, "customer"], "acmee", "happenings.1.customer: unknown customer 'acmee'"),
        (["happenings", 0, "type"], "payment_explodes", "happenings.0"),
        (["happenings", 0, "amount"], -5, "happenings.0.payment_fails.amount"),
        (["happenings", 0, "amount"], "12.50", "happenings.0.payment_fails.amount"),
        (["happenings", 0, "at"], "2026-12-02T10:00:00", "happenings.0.payment_fails.at"),
        (["happenings", 0, "at"], "2027-02-02T10:00:00-05:00", "happenings.0.at: is outside"),
        (["happenings", 0, "smart_retry_after"], "an hour", "smart_retry_after"),
        (["customers", 0, "email"], "not-an-email", "customers.0.email"),
        (["start"], _DELETE, "start: Field required"),
        (["until"], "2026-11-01T00:00:00Z", "until must be after start"),
        (["mode"], "yolo", "mode"),
        (["faults"], {"webhook_drop_rate": 2}, "faults.webhook_drop_rate"),
        (["surprise"], 1, "surprise: Extra inputs are not permitted"),
    ],
)
def test_each_mistake_names_its_field(path: list[str | int], value: object, message: str) -> None:
    with pytest.raises(InvalidScenario) as caught:
        parse(_broken(path, value))
    assert message in caught.value.message


def test_yaml_and_json_files(tmp_path: Path) -> None:
    import yaml

    (tmp_path / "a.json").write_text(json.dumps(EXAMPLE))
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(EXAMPLE))
    assert load(tmp_path / "a.json").customers == load(tmp_path / "b.yaml").customers
    (tmp_path / "bad.json").write_text("{ not json")
    with pytest.raises(InvalidScenario, match="not valid json"):
        load(tmp_path / "bad.json")
    with pytest.raises(InvalidScenario, match="cannot read"):
        load(tmp_path / "missing.json")


def test_the_original_of_a_copy_paid_first_is_paid_after_it() -> None:
    happening = {
        "at": "2026-12-01T10:00:00-05:00",
        "type": "duplicate_invoice",
        "customer": "acme",
        "amount": 42_000,
        "kept_invoice_number": "INV-2026-1301",
        "duplicate_invoice_number": "INV-2026-1302",
        "kept_paid_at": "2026-12-01T09:00:00-05:00",
    }
    with pytest.raises(InvalidScenario) as caught:
        parse({**EXAMPLE, "happenings": [happening]})
    assert "kept_paid_at must be after at" in caught.value.message
    later = {**happening, "kept_paid_at": "2026-12-02T09:00:00-05:00"}
    assert parse({**EXAMPLE, "happenings": [later]}).happenings[0].kept_paid_at is not None  # type: ignore[union-attr]


def test_a_payout_cannot_reach_the_bank_before_it_is_made() -> None:
    document = json.loads(
        (Path(__file__).resolve().parents[2] / "examples/cash/clean_payout.json").read_text()
    )
    (index, payout) = next(
        (i, h) for i, h in enumerate(document["happenings"]) if h["type"] == "payout"
    )
    payout["arrival"] = "2026-11-25"
    with pytest.raises(InvalidScenario) as caught:
        parse(document)
    assert f"happenings.{index}.payout" in caught.value.message
    assert (
        "arrival 2026-11-25 is before the payout is made (2026-12-02, UTC)" in caught.value.message
    )
    # Made at 21:00 in New York on 3 December is 02:00 UTC on the 4th: the 3rd is before it.
    payout["at"], payout["arrival"] = "2026-12-03T21:00:00-05:00", "2026-12-03"
    with pytest.raises(InvalidScenario, match=r"before the payout is made \(2026-12-04, UTC\)"):
        parse(document)
