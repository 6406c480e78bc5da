"""``revline simulate``: the contract of SCENARIOS.md, played through the real code path."""

from __future__ import annotations

import json
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


def test_an_invalid_scenario_exits_2_naming_the_field(tmp_path: Path) -> None:
    document = json.loads((EXAMPLES / "quickstart.json").read_text())
    document["happenings"][0]["customer"] = "nobody"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(document))
    code, out, err = _simulate(str(bad), "--json")
    assert code == 2
    assert out == ""
    assert "happenings.0.customer: unknown customer 'nobody'" in err


def test_an_invalid_policy_key_is_an_invalid_scenario(tmp_path: Path) -> None:
    document = json.loads((EXAMPLES / "quickstart.json").read_text())
    document["policy"] = {"high_value_mrr_threshold": "lots"}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(document))
    code, _, err = _simulate(str(bad))
    assert code == 2
    assert "policy.high_value_mrr_threshold" in err


def _stored_events(path: Path, workdir: Path) -> tuple[dict[str, Any], set[tuple[str, str]]]:
    from sqlalchemy import select

    from revline.db.models import Event

    with World(load(path), workdir) as world:
        report = Run(world).play()
        with world.runtime.db.read() as session:
            events = set(session.execute(select(Event.source, Event.external_id)).tuples())
        injected = world.stripe.injector.injected
        dispatch = world.stripe.webhooks
        report["_faults"] = {
            "injected": dict(injected),
            "dropped": len(dispatch.dropped),
            "duplicated": len(dispatch.delivered) - len(set(dispatch.delivered)),
        }
    return report, events


@pytest.mark.slow
def test_faults_change_nothing_that_was_decided_or_stored(tmp_path: Path) -> None:
    """Duplicated, reordered and dropped webhooks and API errors: the same events end up stored
    once each (the catch-up poll finds what was dropped) and the same decisions are made."""
    clean, clean_events = _stored_events(EXAMPLES / "quickstart.json", tmp_path / "clean")
    faulty, faulty_events = _stored_events(EXAMPLES / "quickstart-faults.json", tmp_path / "f")
    assert faulty["_faults"]["dropped"] > 0
    assert faulty["_faults"]["duplicated"] > 0
    assert faulty_events == clean_events
    decided = [(a["kind"], a["subject"], a["status"]) for a in clean["actions"]]
    assert sorted(decided) == sorted(
        (a["kind"], a["subject"], a["status"]) for a in faulty["actions"]
    )
    assert [(c["kind"], c["subject"], c["state"]) for c in clean["cases"]] == [
        (c["kind"], c["subject"], c["state"]) for c in faulty["cases"]
    ]
    assert faulty["ledger"]["verified"]
