"""The FP&A analyst approves December's sign-off at the moment a re-check of the month, run
after the books moved, withdraws it (PostgreSQL, where writers take locks as they go).

The approval locks the sign-off and then appends to the ledger; the re-check used to take the
ledger's lock first (its decision row) and then wait for the sign-off to cancel it: each waited
for the other, PostgreSQL aborted one, and the re-check answered 500 with its decision lost.
Now the re-check locks the actions it changes before its first ledger row: the two take turns."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from revline.core import actions
from revline.core.ledger import verify
from revline.db.engine import Database
from revline.db.models import Action, ActionStatus, Case, LedgerRow
from revline.playbooks.cash.close_actions import SIGN_OFF
from revline.sandbox.runner import Run
from revline.sandbox.scenario import UndepositedFundsEntry, load
from revline.sandbox.world import World
from tests.conftest import postgres_database

CASH = Path(__file__).resolve().parents[2] / "examples" / "cash"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    yield from postgres_database()


def test_an_approval_and_a_recheck_withdrawing_it_take_turns(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = load(CASH / "month_that_ties.json").model_copy(update={"approve": "none"})
    world = World(scenario, tmp_path)
    world.settings = world.settings.model_copy(update={"database_url": postgres_url})
    with world:
        runtime = world.runtime
        assert runtime.db.is_postgres
        Run(world).play()
        with runtime.db.read() as session:
            sign_off = session.execute(
                select(Action).where(
                    Action.kind == SIGN_OFF, Action.status == ActionStatus.AWAITING_APPROVAL
                )
            ).scalar_one()
            close = session.get(Case, sign_off.case_id)
            assert close is not None
        # $12.40 keyed against Undeposited Funds: the re-check finds a variance and withdraws
        # the sign-off waiting for the analyst.
        world.enact(
            UndepositedFundsEntry(
                type="undeposited_funds_entry",
                at=world.clock.now(),
                id="late",
                amount=1_240,
                on=date(2026, 12, 31),
            )
        )

        # The order that deadlocked: the approval holds the sign-off before the re-check
        # reaches the ledger, and the re-check holds the ledger before the approval does.
        sign_off_held, ledger_held = threading.Event(), threading.Event()
        rechecking: list[threading.Thread] = []
        load_action = actions._load
        lock_ledger = Database.lock_ledger

        def load_and_wait(session: Session, action_id: str) -> Action:
            action = load_action(session, action_id)
            sign_off_held.set()
            ledger_held.wait(timeout=2)
            return action

        def lock_after_the_approval(self: Database, session: Session) -> None:
            if threading.current_thread() in rechecking and not ledger_held.is_set():
                sign_off_held.wait(timeout=5)
                lock_ledger(self, session)
                ledger_held.set()
                return
            lock_ledger(self, session)

        monkeypatch.setattr(actions, "_load", load_and_wait)
        monkeypatch.setattr(Database, "lock_ledger", lock_after_the_approval)
        failures: list[BaseException] = []

        def caught(run: Callable[[], Any]) -> Callable[[], None]:
            def body() -> None:
                try:
                    run()
                except BaseException as exc:  # noqa: BLE001 - what the other thread raised
                    failures.append(exc)

            return body

        def approve() -> None:
            with runtime.db.write() as session:
                actions.approve(
                    session,
                    runtime.ledger,
                    action_id=sign_off.id,
                    approver="user:jonas",
                    approver_role="fpa_analyst",
                    policy=runtime.settings.policy,
                    now=world.clock.now(),
                )

        def recheck() -> None:
            runtime.router().decide_now(close.id, "user:jonas", {"reason": "recheck"})

        approving = threading.Thread(target=caught(approve))
        rechecking.append(threading.Thread(target=caught(recheck)))
        approving.start()
        rechecking[0].start()
        approving.join(timeout=30)
        rechecking[0].join(timeout=30)
        assert failures == []
        with runtime.db.read() as session:
            withdrawn = session.get(Action, sign_off.id)
            assert withdrawn is not None
            decided = session.execute(
                select(LedgerRow.detail)
                .where(LedgerRow.case_id == close.id, LedgerRow.kind == "decision")
                .order_by(LedgerRow.seq.desc())
                .limit(1)
            ).scalar_one()
        # Approved first, then withdrawn by the re-check that found the variance.
        assert (withdrawn.status, withdrawn.approved_by) == (ActionStatus.CANCELLED, "user:jonas")
        assert decided["cancel_pending"]
        with runtime.db.read() as session:
            assert verify(session).ok
