"""Seeding actions, driving worker processes, and the checks every process test ends with."""

from __future__ import annotations

import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from revline.clock import SystemClock
from revline.core.actions import propose
from revline.core.gates import Gate
from revline.core.ledger import Ledger, verify
from revline.core.playbook import ActionSpec
from revline.db.engine import Database
from revline.db.models import (
    RUNNABLE_ACTION_STATUSES,
    Action,
    ActionStatus,
    Attempt,
    LedgerRow,
)
from tests.support.effect_server import EFFECT_KIND

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = "process_test"


# Still to run: due now, backing off, or executing (possibly under a dead worker's lease).
UNFINISHED = (*RUNNABLE_ACTION_STATUSES, ActionStatus.EXECUTING)


def unfinished(db: Database) -> int:
    with db.read() as session:
        return session.execute(
            select(func.count()).select_from(Action).where(Action.status.in_(UNFINISHED))
        ).scalar_one()


def seed_actions(db: Database, count: int, first: int = 0, per_transaction: int = 500) -> list[str]:
    """Propose ``count`` due actions with distinct keys, numbered from ``first``, as a playbook
    would; returns their idempotency keys."""
    ledger = Ledger(db)
    now = SystemClock().now()
    gate = Gate(required_role=None, reason=None, not_before=now, irreversible=False)
    keys: list[str] = []
    for start in range(first, first + count, per_transaction):
        with db.write() as session:
            for n in range(start, min(first + count, start + per_transaction)):
                spec = ActionSpec(EFFECT_KIND, f"subject-{n:05d}", {"n": n, "amount": 100 + n})
                proposed = propose(
                    session,
                    ledger,
                    case=None,
                    playbook=PLAYBOOK,
                    spec=spec,
                    gate=gate,
                    live=True,
                    proposed_by="process-test",
                    now=now,
                )
                assert proposed.created
                keys.append(proposed.action.idempotency_key)
    return keys


@dataclass
class WorkerProcess:
    """One ``tests.process.worker_main`` process, started held until ``go``."""

    name: str
    process: subprocess.Popen[str]

    @classmethod
    def start(
        cls,
        db_url: str,
        effects_url: str,
        name: str,
        *,
        batch_size: int,
        lease_seconds: float,
        max_attempts: int = 8,
        max_abandoned: int = 5,
    ) -> WorkerProcess:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.process.worker_main",
                f"--db={db_url}",
                f"--effects={effects_url}",
                f"--name={name}",
                f"--batch-size={batch_size}",
                f"--lease-seconds={lease_seconds}",
                f"--max-attempts={max_attempts}",
                f"--max-abandoned={max_abandoned}",
                "--hold",
            ],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        return cls(name, process)

    def wait_ready(self) -> None:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if line.strip() != "ready":
            raise AssertionError(f"worker {self.name} did not start:\n{self.finish(10)}")

    def go(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()

    def kill(self) -> bool:
        """SIGKILL, no chance to clean up; False if the worker had already exited by itself."""
        if self.process.poll() is not None:
            return False
        self.process.kill()
        self.process.wait()
        self._close()
        return True

    def finish(self, timeout: float) -> str:
        """Wait for a normal exit; returns stderr, raising if the worker failed."""
        _, stderr = self.process.communicate(timeout=timeout)
        if self.process.returncode != 0:
            raise AssertionError(
                f"worker {self.name} exited {self.process.returncode}:\n{stderr[-4000:]}"
            )
        return stderr

    def _close(self) -> None:
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


@contextmanager
def reaped() -> Iterator[list[WorkerProcess]]:
    """A list to put started workers in; any still running when the block ends are killed, so a
    failing test leaves no worker behind."""
    started: list[WorkerProcess] = []
    try:
        yield started
    finally:
        for worker in started:
            worker.kill()


@dataclass(frozen=True)
class Outcome:
    """What happened, for the test's report."""

    attempts_by_outcome: Counter[str]
    attempts_by_worker: Counter[str]
    confirmed_by_worker: Counter[str]
    provider_calls: int
    replays: int
    most_attempts: int

    @property
    def confirmed(self) -> int:
        return self.attempts_by_outcome["confirmed"]


def assert_each_applied_once(
    db: Database, keys: list[str], effects: dict[str, dict[str, Any]]
) -> Outcome:
    """Every action applied exactly once at the provider, recorded applied once, ledger intact."""
    assert set(effects) == set(keys), "the provider saw keys it was never meant to"
    not_applied = {key: e for key, e in effects.items() if e["applied"] != 1}
    assert not not_applied, f"{len(not_applied)} keys without their effect"

    with db.read() as session:
        actions = session.execute(select(Action)).scalars().all()
        attempts = session.execute(select(Attempt).order_by(Attempt.id)).scalars().all()
        history: dict[str, list[str]] = {}
        for attempt in attempts:
            history.setdefault(attempt.action_id, []).append(f"{attempt.worker}:{attempt.outcome}")
        stuck = {
            a.id: (a.status, a.last_error, history.get(a.id))
            for a in actions
            if a.status != ActionStatus.APPLIED
        }
        assert len(actions) == len(keys)
        assert not stuck, f"{len(stuck)} actions not applied: {list(stuck.items())[:5]}"
        for action in actions:
            # The recorded confirmation is the provider's one effect, whichever call returned it.
            assert action.result is not None
            assert action.result["id"] == effects[action.idempotency_key]["id"], action.id

        numbers: dict[str, list[int]] = {}
        for attempt in attempts:
            numbers.setdefault(attempt.action_id, []).append(attempt.number)
        for action in actions:
            assert sorted(numbers[action.id]) == list(range(1, action.attempts + 1)), action.id
        unresolved = [a.id for a in attempts if a.outcome is None]
        assert not unresolved, f"attempts left without an outcome: {unresolved[:5]}"

        applied_rows = session.execute(
            select(LedgerRow.action_id, func.count())
            .where(LedgerRow.kind == "action.applied")
            .group_by(LedgerRow.action_id)
        ).all()
        assert len(applied_rows) == len(keys)
        assert all(count == 1 for _, count in applied_rows), "an action was recorded applied twice"
        verification = verify(session)
        assert verification.ok, verification

    return Outcome(
        attempts_by_outcome=Counter(str(a.outcome) for a in attempts),
        attempts_by_worker=Counter(a.worker for a in attempts),
        confirmed_by_worker=Counter(a.worker for a in attempts if a.outcome == "confirmed"),
        provider_calls=sum(e["calls"] for e in effects.values()),
        replays=sum(e["replays"] for e in effects.values()),
        most_attempts=max(a.attempts for a in actions),
    )
