"""``revline billing dunning``: the same read as ``GET /api/billing/dunning``."""

from __future__ import annotations

from revline.core.runtime import Runtime
from tests.api.test_billing import _case_in_dunning
from tests.cli.conftest import Cli


def test_dunning_json_on_an_empty_book(cli: Cli) -> None:
    cli.ok("db", "upgrade")
    assert cli.json("billing", "dunning", "--json") == []
    assert "in dunning" in cli.ok("billing", "dunning").stdout


def test_a_customer_in_dunning_with_tier_attempts_hold_and_approvals(
    cli: Cli, runtime: Runtime
) -> None:
    case_id = _case_in_dunning(runtime)
    [entry] = cli.json("billing", "dunning", "--json")
    assert (entry["case_id"], entry["invoice"], entry["tier"]) == (
        case_id,
        "in_acme_1",
        "high_value",
    )
    assert (entry["manual_attempts"], entry["max_manual_attempts"]) == (1, 3)
    assert entry["recognition_held_since"] is not None
    assert [a["kind"] for a in entry["pending_approvals"]] == ["email.send"]

    shown = cli.ok("billing", "dunning").stdout
    assert "in_acme_1" in shown and "high_value" in shown
    assert "1/3" in shown  # manual attempts made, of the policy's three
