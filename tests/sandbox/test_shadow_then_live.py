"""A cash playbook trusted in shadow, then switched live: what it proposed in shadow and still
stands is done once live — the duplicate voided and refunded, the close's variance flagged to
the FP&A analyst, the cardholder asked — not left shadowed while the case reads as under way."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from revline.db.models import Action, Case
from revline.sandbox.runner import Run
from revline.sandbox.scenario import Scenario, parse
from revline.sandbox.world import Later, World
from tests.support.controls import emergency_stop, set_mode

CASH = Path(__file__).resolve().parents[2] / "examples" / "cash"
NEW_YORK = ZoneInfo("America/New_York")


def _example(name: str, **changes: Any) -> Scenario:
    return parse({**json.loads((CASH / f"{name}.json").read_text()), **changes})


def _switch_at(world: World, playbook: str, mode: str, at: datetime) -> None:
    world.later.append(
        Later(at, f"{playbook} {mode}", lambda: set_mode(world.runtime, playbook, mode))
    )


def _shadow_then_live(world: World, playbook: str, live_at: datetime) -> None:
    """The playbook runs in shadow from the start, and Maya switches it live at ``live_at``."""
    set_mode(world.runtime, playbook, "shadow")
    _switch_at(world, playbook, "live", live_at)


def _statuses(world: World, playbook: str) -> dict[str, str]:
    with world.runtime.db.read() as session:
        rows = session.execute(
            select(Action.kind, Action.status).where(Action.playbook == playbook)
        ).all()
    return {str(kind): str(status) for kind, status in rows}


def _state(world: World, kind: str) -> list[str]:
    with world.runtime.db.read() as session:
        return [
            str(s) for s in session.execute(select(Case.state).where(Case.kind == kind)).scalars()
        ]


def test_a_duplicate_found_in_shadow_is_voided_and_refunded_once_live(tmp_path: Path) -> None:
    scenario = _example("duplicate_invoice_refunded", until="2026-12-09T18:00:00-05:00")
    with World(scenario, tmp_path) as world:
        _shadow_then_live(world, "duplicate_invoice", datetime(2026, 12, 4, 10, tzinfo=NEW_YORK))
        report = Run(world).play()
        statuses = _statuses(world, "duplicate_invoice")
        refunds = world.stripe.state.newest_first("refund")
        assert _state(world, "duplicate_invoice") == ["resolved"]
    assert statuses["stripe.refund.create"] == "applied"
    assert statuses["netsuite.invoice.void"] == "applied"
    assert len(refunds) == 1  # once, though it was proposed in shadow first
    assert len(report["emails"]) == 1


def test_a_variance_found_in_shadow_opens_its_case_once_the_close_is_live(tmp_path: Path) -> None:
    document = json.loads((CASH / "month_with_variance.json").read_text())
    # Nobody corrects the books: the $12.40 variance stands.
    document["happenings"] = [
        h for h in document["happenings"] if h["type"] != "undeposited_funds_correction"
    ]
    with World(parse(document), tmp_path) as world:
        _shadow_then_live(world, "month_end_close", datetime(2027, 1, 5, 12, tzinfo=NEW_YORK))
        Run(world).play()
        assert _state(world, "close_variance") == ["open"]
        assert _statuses(world, "month_end_close")["revline.close.flag_variance"] == "applied"


def test_the_cardholder_asked_in_shadow_is_asked_once_live(tmp_path: Path) -> None:
    scenario = _example("orphan_no_cause", until="2026-12-09T18:00:00-05:00")
    with World(scenario, tmp_path) as world:
        _shadow_then_live(world, "orphan_payment", datetime(2026, 12, 4, 12, tzinfo=NEW_YORK))
        report = Run(world).play()
    (email,) = report["emails"]
    assert email["to"] == ["someone@unknown.example"]
    # At its next look, an hour after the next working morning's run.
    assert email["at"] == "2026-12-07T09:00:00-05:00"


def test_a_deposit_stopped_by_switching_the_playbook_off_is_posted_once_it_is_live_again(
    tmp_path: Path,
) -> None:
    """Friday's deposit waits behind the emergency stop; the reconciliation is switched off at
    09:00, the stop lifted, and the playbook live again at 10:00. Monday's run deposits it."""
    scenario = _example("clean_payout", until="2026-12-08T18:00:00-05:00")
    with World(scenario, tmp_path) as world:
        emergency_stop(world, datetime(2026, 12, 4, 7, tzinfo=NEW_YORK), stop=True)
        _switch_at(world, "payout_reconciliation", "off", datetime(2026, 12, 4, 9, tzinfo=NEW_YORK))
        emergency_stop(world, datetime(2026, 12, 4, 9, 30, tzinfo=NEW_YORK), stop=False)
        _switch_at(
            world, "payout_reconciliation", "live", datetime(2026, 12, 4, 10, tzinfo=NEW_YORK)
        )
        Run(world).play()
        assert len(world.netsuite.books.deposits()) == 1
        assert _statuses(world, "payout_reconciliation")["netsuite.deposit.create"] == "applied"
