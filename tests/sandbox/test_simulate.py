"""``revline simulate``: the contract of SCENARIOS.md, played through the real code path."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from revline.cli import app
from revline.sandbox.runner import Run
from revline.sandbox.scenario import load
from revline.sandbox.world import World

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _simulate(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["simulate", *args])
    return result.exit_code, result.stdout, result.stderr


def test_a_scenario_runs_and_reports_as_json() -> None:
    code, out, _ = _simulate(str(EXAMPLES / "quickstart.json"), "--json")
    assert code == 0
    report = json.loads(out)
    assert report["scenario"] == "quickstart"
    assert report["started_at"] == "2026-12-01T08:00:00-05:00"
    assert report["ended_at"] == "2026-12-15T18:00:00-05:00"
    assert set(report) >= {"actions", "emails", "cases", "ledger"}
    assert report["ledger"]["verified"] is True
    # Stripe's webhooks reached Revline over HTTP, signed, and were stored.
    assert sum(report["events"].values()) >= 10


def test_two_runs_of_a_scenario_list_the_same_things_in_the_same_order() -> None:
    """Ids are new each run; what happened, and its order, is not. The January check proposes
    the clearance and the sign-off at one instant: listed in one order every time."""

    def listed(out: str) -> list[tuple[Any, ...]]:
        report = json.loads(out)
        return [
            *((a["kind"], a["subject"], a["status"], a["at"]) for a in report["actions"]),
            *((c["kind"], c["subject"], c["state"]) for c in report["cases"]),
        ]

    path = str(EXAMPLES / "cash" / "month_with_variance.json")
    runs = [_simulate(path, "--json") for _ in range(2)]
    assert [code for code, _, _ in runs] == [0, 0]
    first, second = (listed(out) for _, out, _ in runs)
    assert first == second


def test_an_invalid_scenario_exits_2_naming_the_field(tmp_path: Path) -> None:
    document = json.loads((EXAMPLES / "quickstart.json").read_text())
    document["happenings"][0]["customer"] = "nobody"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(document))
    code, out, err = _simulate(str(bad), "--json")
    assert code == 2
    assert out == ""
    assert "happenings.0.customer: unknown customer 'nobody'" in err


@pytest.mark.parametrize(
    ("happening", "named"),
    [
        # Refused as the scenario is read.
        (
            {"type": "payout", "fee_rate": "abc"},
            "happenings.2.payout.fee_rate: 'abc' is not like '2.9%+30'",
        ),
        # Found only when the run gets to it: still the scenario's fault, not Revline's.
        (
            {"type": "payout", "manual_amount": 99_999_999},
            "happenings.2 (payout): a manual payout of 99999999 usd from an available balance "
            "of 1388470",
        ),
        (
            {"type": "payout_rerun", "date": "2026-12-05"},
            "happenings.2 (payout_rerun): no payout reconciliation for 2026-12-05 to run again",
        ),
    ],
)
def test_a_happening_the_company_cannot_enact_exits_2_naming_it(
    tmp_path: Path, happening: dict[str, Any], named: str
) -> None:
    document = json.loads((EXAMPLES / "cash" / "clean_payout.json").read_text())
    document["happenings"] = [
        *document["happenings"][:2],
        {"at": "2026-12-02T06:00:00-05:00", **happening},
    ]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(document))
    code, out, err = _simulate(str(bad), "--json")
    assert (code, out) == (2, "")
    assert f"error: invalid scenario: {named}" in " ".join(err.split())
    assert "Traceback" not in err


def test_an_invalid_policy_key_is_an_invalid_scenario(tmp_path: Path) -> None:
    document = json.loads((EXAMPLES / "quickstart.json").read_text())
    document["policy"] = {"high_value_mrr_threshold": "lots"}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(document))
    code, _, err = _simulate(str(bad))
    assert code == 2
    assert "policy.high_value_mrr_threshold" in err


def _stored_events(path: Path, workdir: Path) -> tuple[dict[str, Any], Counter[tuple[str, str]]]:
    """Play a scenario; return its report and what its stored events are about.

    Object ids are drawn as objects are created, so a retried call can shift them: events are
    compared by what they say (Stripe's event types, the Ramp transaction a notification points
    at — by webhook or, when the webhook was dropped, by the catch-up poll — and the kind of
    Revline's own action events), each counted once per distinct event.
    """
    from sqlalchemy import select

    from revline.db.models import Event

    with World(load(path), workdir) as world:
        report = Run(world).play()
        with world.runtime.db.read() as session:
            rows = session.execute(select(Event.source, Event.type, Event.payload)).tuples().all()
        ramp_seen = {payload["object"]["id"] for source, _, payload in rows if source == "ramp"}
        events: Counter[tuple[str, str]] = Counter(
            (source, type_ if source != "revline" else f"{type_}:{payload.get('kind')}")
            for source, type_, payload in rows
            if source != "ramp"
        )
        events.update(("ramp", f"transaction {t}") for t in ramp_seen)
        dispatchers = (world.stripe.webhooks, world.ramp.webhooks)
        report["_faults"] = {
            "injected": dict(world.stripe.injector.injected),
            "dropped": sum(len(d.dropped) for d in dispatchers),
            "duplicated": sum(len(d.delivered) - len(set(d.delivered)) for d in dispatchers),
            "ramp_transactions": len(ramp_seen),
        }
    return report, events


def _effects(report: dict[str, Any]) -> Counter[tuple[str, str, str | None]]:
    """Actions by kind, final status and scenario customer."""
    return Counter((a["kind"], a["status"], a["customer"]) for a in report["actions"])


@pytest.mark.slow
def test_faults_change_nothing_that_was_decided_or_stored(tmp_path: Path) -> None:
    """Duplicated, reordered and dropped webhooks and API errors: the same events end up stored
    once each (the catch-up poll finds what was dropped) and the same decisions are made."""
    clean, clean_events = _stored_events(EXAMPLES / "quickstart.json", tmp_path / "clean")
    faulty, faulty_events = _stored_events(EXAMPLES / "quickstart-faults.json", tmp_path / "f")
    assert faulty["_faults"]["dropped"] > 0
    assert faulty["_faults"]["duplicated"] > 0
    assert faulty["_faults"]["ramp_transactions"] == clean["_faults"]["ramp_transactions"] == 2
    # Dropped events were found again, duplicates kept once: the same events, counted the same.
    assert faulty_events == clean_events
    assert _effects(faulty) == _effects(clean)
    assert Counter((c["kind"], c["customer"], c["state"]) for c in faulty["cases"]) == Counter(
        (c["kind"], c["customer"], c["state"]) for c in clean["cases"]
    )
    assert [e["subject"] for e in faulty["emails"]] == [e["subject"] for e in clean["emails"]]
    assert faulty["ledger"]["verified"]
