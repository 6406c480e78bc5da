"""The emergency stop and playbook modes from the command line, recorded in the ledger."""

from __future__ import annotations

from sqlalchemy import select

from revline.core.playbook import ActionSpec, PlaybookRegistry
from revline.core.runtime import Runtime
from revline.db.models import LedgerRow
from tests.cli.conftest import Cli
from tests.support.events import deliver
from tests.support.outbox import propose


def _ledger(runtime: Runtime) -> list[LedgerRow]:
    with runtime.db.read() as session:
        return list(session.execute(select(LedgerRow).order_by(LedgerRow.seq)).scalars())


def test_stop_and_resume_write_ledger_rows_and_show_in_status(cli: Cli, runtime: Runtime) -> None:
    action_id = propose(runtime, ActionSpec("fake.invoice.pay", "in_1", {"invoice": "in_1"}))
    assert cli.json("status")["stop"]["stopped"] is False

    stopped = cli.ok("stop", "--reason", "card processor outage [ticket 42]", "--actor", "ops:jane")
    assert "emergency stop ON" in stopped.stdout
    status = cli.json("status")
    assert status["stop"] == {
        "stopped": True,
        "reason": "card processor outage [ticket 42]",
        "by": "ops:jane",
        "at": status["stop"]["at"],
    }
    assert "EMERGENCY STOP ON" in cli.ok("status").stdout
    assert "[ticket 42]" in cli.ok("status").stdout  # shown as written, not read as markup
    assert "already on" in cli.fails("stop", "--reason", "again").stderr

    # The executor holds what is due while the stop is on; resume puts it back.
    assert runtime.executor("test").run_once() == 1
    assert cli.json("status")["actions"] == {"held": 1}

    resumed = cli.ok("resume")
    assert "1 held action(s) requeued" in resumed.stdout
    [requeued] = cli.json("actions", "list")
    assert (requeued["id"], requeued["status"]) == (action_id, "proposed")
    assert "not on" in cli.fails("resume").stderr

    rows = _ledger(runtime)
    stop_row, resume_row = (r for r in rows if r.kind.startswith("control."))
    assert (stop_row.kind, stop_row.actor, stop_row.detail) == (
        "control.stop",
        "ops:jane",
        {"reason": "card processor outage [ticket 42]"},
    )
    assert resume_row.kind == "control.resume"
    assert resume_row.actor.startswith("cli:") and len(resume_row.actor) > len("cli:")
    assert [r.kind for r in rows].count("action.requeued") == 1
    final = cli.json("status")
    assert final["stop"]["stopped"] is False
    assert final["ledger_rows"] == len(rows)


def test_stop_needs_a_reason(cli: Cli, runtime: Runtime) -> None:
    assert "needs a reason" in cli.fails("stop", "--reason", "  ").stderr
    assert _ledger(runtime) == []


def test_mode_sets_a_registered_playbook_and_status_shows_it(
    cli: Cli, runtime: Runtime, cli_registry: PlaybookRegistry
) -> None:
    assert cli.json("status")["modes"] == {"test_chase": "shadow", "test_refund": "shadow"}
    assert "test_chase: shadow -> canary:10" in cli.ok("mode", "test_chase", "canary:10").stdout
    cli.ok("mode", "test_refund", "live", "--actor", "ops:jane")
    assert cli.json("status")["modes"] == {"test_chase": "canary:10", "test_refund": "live"}

    assert "invalid playbook mode" in cli.fails("mode", "test_chase", "sometimes").stderr
    unknown = cli.fails("mode", "test_chsae", "live")
    assert "registered: test_chase, test_refund" in unknown.stderr

    modes = [r for r in _ledger(runtime) if r.kind == "control.mode"]
    assert [(r.detail["playbook"], r.prior_state, r.post_state) for r in modes] == [
        ("test_chase", "shadow", "canary:10"),
        ("test_refund", "shadow", "live"),
    ]
    assert modes[1].actor == "ops:jane"


def test_status_counts_events_cases_actions_and_ledger(
    cli: Cli, runtime: Runtime, cli_registry: PlaybookRegistry
) -> None:
    deliver(runtime, "evt_1", "invoice.payment_failed", {"id": "in_1", "customer": "cus_1"})
    deliver(runtime, "evt_2", "customer.created", {"id": "cus_2"})
    deliver(runtime, "evt_3", "invoice.payment_failed", {"id": "in_2", "customer": "cus_2"})
    runtime.router().route_pending()
    status = cli.json("status")
    assert status["events"] == {"processed": 2, "ignored": 1}
    assert status["cases"] == {"test_chase": {"retrying": 2}}
    assert status["actions"] == {"proposed": 2}
    assert status["ledger_rows"] == len(_ledger(runtime))
    shown = cli.ok("status").stdout
    assert (
        "test_chase" in shown
        and "retrying" in shown
        and f"ledger: {len(_ledger(runtime))} rows" in shown
    )
