"""December's sign-off changed by two people at once, while a re-check of the month, run after
the books moved, withdraws it (PostgreSQL, where writers take locks as they go).

Every writer locks the actions it changes before it appends to the ledger: an approval (the
sign-off, then its row), the emergency stop lifted (the held actions, then its row), a decision
(``actions.lock_for_decision``). One that took the ledger's lock first and then waited for an
action would wait for a writer waiting for it: PostgreSQL aborted one of them, and the re-check
answered 500 with its decision lost. Each test forces the order that deadlocked."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from revline.core import actions, controls
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


@contextmanager
def _december(tmp_path: Path, postgres_url: str) -> Iterator[tuple[World, Action, Case]]:
    """The month that ties, on PostgreSQL: its sign-off waiting for the FP&A analyst."""
    scenario = load(CASH / "month_that_ties.json").model_copy(update={"approve": "none"})
    world = World(scenario, tmp_path)
    world.settings = world.settings.model_copy(update={"database_url": postgres_url})
    with world:
        assert world.runtime.db.is_postgres
        Run(world).play()
        with world.runtime.db.read() as session:
            sign_off = session.execute(
                select(Action).where(
                    Action.kind == SIGN_OFF, Action.status == ActionStatus.AWAITING_APPROVAL
                )
            ).scalar_one()
            close = session.get(Case, sign_off.case_id)
            assert close is not None
        yield world, sign_off, close


def _the_books_move(world: World) -> None:
    """$12.40 keyed against Undeposited Funds: a re-check finds a variance and withdraws the
    sign-off."""
    world.enact(
        UndepositedFundsEntry(
            type="undeposited_funds_entry",
            at=world.clock.now(),
            id="late",
            amount=1_240,
            on=date(2026, 12, 31),
        )
    )


def _jonas_approves(world: World, sign_off: Action) -> None:
    """The FP&A analyst approves the sign-off."""
    runtime = world.runtime
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


def _recheck(world: World, close: Case) -> None:
    world.runtime.router().decide_now(close.id, "user:jonas", {"reason": "recheck"})


def _at_once(*jobs: Callable[[], object]) -> tuple[list[threading.Thread], list[BaseException]]:
    """The jobs' threads (to tell them apart while they run), and, once started and joined,
    what they raised."""
    failures: list[BaseException] = []

    def run(job: Callable[[], object]) -> None:
        try:
            job()
        except BaseException as exc:  # noqa: BLE001 - what the job raised, for the test
            failures.append(exc)

    return [threading.Thread(target=run, args=(job,)) for job in jobs], failures


def _start_and_join(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)


def _withdrawn_by_the_recheck(world: World, sign_off: Action, close: Case) -> Action:
    with world.runtime.db.read() as session:
        withdrawn = session.get(Action, sign_off.id)
        assert withdrawn is not None
        decided = session.execute(
            select(LedgerRow.detail)
            .where(LedgerRow.case_id == close.id, LedgerRow.kind == "decision")
            .order_by(LedgerRow.seq.desc())
            .limit(1)
        ).scalar_one()
        assert verify(session).ok
    assert decided["cancel_pending"]
    return withdrawn


def test_an_approval_and_a_recheck_withdrawing_it_take_turns(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The approval holds the sign-off before the re-check reaches the ledger, and the re-check
    would hold the ledger before the approval did."""
    with _december(tmp_path, postgres_url) as (world, sign_off, close):
        _the_books_move(world)
        sign_off_held, ledger_held = threading.Event(), threading.Event()
        load_action, lock_ledger = actions._load, Database.lock_ledger

        threads, failures = _at_once(
            lambda: _jonas_approves(world, sign_off), lambda: _recheck(world, close)
        )
        rechecking = threads[1]

        def load_and_wait(session: Session, action_id: str) -> Action:
            action = load_action(session, action_id)
            sign_off_held.set()
            ledger_held.wait(timeout=2)
            return action

        def lock_after_the_approval(self: Database, session: Session) -> None:
            if threading.current_thread() is rechecking and not ledger_held.is_set():
                sign_off_held.wait(timeout=5)
                lock_ledger(self, session)
                ledger_held.set()
                return
            lock_ledger(self, session)

        monkeypatch.setattr(actions, "_load", load_and_wait)
        monkeypatch.setattr(Database, "lock_ledger", lock_after_the_approval)
        _start_and_join(threads)
        assert failures == []
        withdrawn = _withdrawn_by_the_recheck(world, sign_off, close)
    # Approved first, then withdrawn by the re-check that found the variance.
    assert (withdrawn.status, withdrawn.approved_by) == (ActionStatus.CANCELLED, "user:jonas")


def test_lifting_the_stop_and_a_recheck_withdrawing_a_held_sign_off_take_turns(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The analyst approved the sign-off, the emergency stop held it; the stop is lifted while
    a re-check withdraws it. The re-check holds the sign-off before resuming reaches the ledger,
    and resuming would hold the ledger before the re-check did."""
    with _december(tmp_path, postgres_url) as (world, sign_off, close):
        runtime = world.runtime
        _jonas_approves(world, sign_off)
        with runtime.db.write() as session:
            controls.stop(
                session,
                runtime.ledger,
                actor="user:ops",
                reason="incident",
                now=world.clock.now(),
            )
            # What the executor does to a due action under the stop.
            session.execute(
                update(Action).where(Action.id == sign_off.id).values(status=ActionStatus.HELD)
            )
        _the_books_move(world)
        sign_off_held, ledger_held = threading.Event(), threading.Event()
        lock_ledger = Database.lock_ledger

        def resume() -> None:
            with runtime.db.write() as session:
                controls.resume(session, runtime.ledger, actor="user:ops", now=world.clock.now())

        threads, failures = _at_once(lambda: _recheck(world, close), resume)
        rechecking, resuming = threads

        def lock_after_the_recheck(self: Database, session: Session) -> None:
            if threading.current_thread() is rechecking and not sign_off_held.is_set():
                sign_off_held.set()  # it holds the sign-off (lock_for_decision) by now
                ledger_held.wait(timeout=2)
            elif threading.current_thread() is resuming and not ledger_held.is_set():
                sign_off_held.wait(timeout=5)
                lock_ledger(self, session)
                ledger_held.set()
                return
            lock_ledger(self, session)

        monkeypatch.setattr(Database, "lock_ledger", lock_after_the_recheck)
        _start_and_join(threads)
        assert failures == []
        withdrawn = _withdrawn_by_the_recheck(world, sign_off, close)
    assert withdrawn.status == ActionStatus.CANCELLED
