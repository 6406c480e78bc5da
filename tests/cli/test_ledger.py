"""`ledger verify` exits 0 on an intact chain and 1 naming the first altered row."""

from __future__ import annotations

import json

from sqlalchemy import delete, select, text, update

from revline.core import controls
from revline.core.ledger import row_hash
from revline.core.runtime import Runtime
from revline.db.models import LedgerRow
from tests.cli.conftest import Cli


def _three_rows(runtime: Runtime) -> None:
    for reason in ("first", "second", "third"):
        with runtime.db.write() as session:
            if controls.stop_state(session).stopped:
                controls.resume(session, runtime.ledger, actor="ops:jane", now=runtime.clock.now())
            else:
                controls.stop(
                    session,
                    runtime.ledger,
                    actor="ops:jane",
                    reason=reason,
                    now=runtime.clock.now(),
                )


def _without_triggers(runtime: Runtime) -> None:
    """What an attacker with database access does first."""
    with runtime.db.write() as session:
        if runtime.db.is_postgres:
            session.execute(text("ALTER TABLE ledger DISABLE TRIGGER ledger_append_only"))
        else:
            session.execute(text("DROP TRIGGER ledger_append_only_delete"))
            session.execute(text("DROP TRIGGER ledger_append_only_update"))


def _tamper(runtime: Runtime, seq: int) -> None:
    """Rewrite a row's detail the way an attacker with database access could."""
    _without_triggers(runtime)
    with runtime.db.write() as session:
        session.execute(
            update(LedgerRow).where(LedgerRow.seq == seq).values(detail={"reason": "nothing"})
        )


def _head(runtime: Runtime) -> str:
    with runtime.db.read() as session:
        last = session.execute(select(LedgerRow).order_by(LedgerRow.seq.desc())).scalars().first()
    assert last is not None
    return f"{last.seq}:{last.hash}"


def test_verify_an_intact_ledger(cli: Cli, runtime: Runtime) -> None:
    assert cli.ok("ledger", "verify").stdout.strip() == "ledger intact: 0 rows"
    _three_rows(runtime)
    head = _head(runtime)
    # The head, to write down outside the database as a later check's anchor.
    assert cli.ok("ledger", "verify").stdout.strip() == f"ledger intact: 3 rows; head {head}"
    assert cli.json("ledger", "verify") == {
        "ok": True,
        "rows": 3,
        "first_bad_seq": None,
        "reason": None,
        "head": head,
    }
    assert cli.ok("ledger", "verify", "--anchor", head).stdout.startswith("ledger intact")


def test_an_anchor_finds_rows_cut_off_the_end(cli: Cli, runtime: Runtime) -> None:
    """The chain alone cannot tell a ledger cut short from a shorter one: the head written
    down at an earlier check can."""
    _three_rows(runtime)
    head = _head(runtime)
    _without_triggers(runtime)
    with runtime.db.write() as session:
        session.execute(delete(LedgerRow).where(LedgerRow.seq == 3))
    assert cli.ok("ledger", "verify").stdout.startswith("ledger intact: 2 rows")
    cut = cli("ledger", "verify", "--anchor", head)
    assert cut.exit_code == 1
    assert (
        "ledger BROKEN at seq 3: the ledger ends at seq 2, before the anchor's seq 3: rows "
        "were removed from its end" in cut.stdout
    )


def test_an_anchor_finds_a_tail_rewritten_with_its_hashes(cli: Cli, runtime: Runtime) -> None:
    """Someone rewrites the last row and recomputes its hash: the chain holds, the anchor
    does not."""
    _three_rows(runtime)
    head = _head(runtime)
    _without_triggers(runtime)
    with runtime.db.write() as session:
        last = session.execute(select(LedgerRow).where(LedgerRow.seq == 3)).scalar_one()
        forged = {
            column: getattr(last, column)
            for column in (
                "seq",
                "at",
                "actor",
                "kind",
                "case_id",
                "event_id",
                "action_id",
                "correlation_id",
                "prior_state",
                "post_state",
                "prev_hash",
            )
        } | {"detail": {"reason": "nothing"}}
        last.detail, last.hash = forged["detail"], row_hash(**forged)
    assert cli.ok("ledger", "verify").stdout.startswith("ledger intact: 3 rows")
    rewritten = cli("ledger", "verify", "--anchor", head)
    assert rewritten.exit_code == 1
    assert "ledger BROKEN at seq 3: not the row the anchor names" in rewritten.stdout
    assert cli("ledger", "verify", "--anchor", "3:abc").exit_code == 2


def test_verify_names_the_first_altered_row_and_exits_1(cli: Cli, runtime: Runtime) -> None:
    _three_rows(runtime)
    _tamper(runtime, 2)

    result = cli("ledger", "verify")
    assert result.exit_code == 1
    assert "ledger BROKEN at seq 2: hash does not match the row's contents" in result.stdout

    as_json = cli("ledger", "verify", "--json")
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout) == {
        "ok": False,
        "rows": 2,
        "first_bad_seq": 2,
        "reason": "hash does not match the row's contents",
        "head": None,
    }


def test_list_filters_and_keeps_chain_order(cli: Cli, runtime: Runtime) -> None:
    _three_rows(runtime)
    rows = cli.json("ledger", "list")
    assert [r["seq"] for r in rows] == [1, 2, 3]
    assert [r["kind"] for r in rows] == ["control.stop", "control.resume", "control.stop"]
    assert set(rows[0]) == {
        "seq",
        "at",
        "actor",
        "kind",
        "case_id",
        "event_id",
        "action_id",
        "correlation_id",
        "prior_state",
        "post_state",
        "detail",
        "prev_hash",
        "hash",
    }
    assert rows[1]["prev_hash"] == rows[0]["hash"]
    assert [r["seq"] for r in cli.json("ledger", "list", "--limit", "2")] == [2, 3]
    assert cli.json("ledger", "list", "--case", "cas_none") == []
    table = cli.ok("ledger", "list").stdout
    assert "control.resume" in table and "stopped -> running" in table
