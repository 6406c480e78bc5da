"""Cases move only along declared transitions, and never overwrite a state they did not see."""

from __future__ import annotations

import pytest

from revline.clock import SimulatedClock
from revline.core import cases
from revline.core.cases import CaseKind, InvalidTransition
from revline.db.engine import Database
from tests.support.playbooks import CHASE


def _open(db: Database, clock: SimulatedClock, subject: str = "in_1") -> cases.CaseView:
    with db.write() as session:
        view, _ = cases.open_or_get(
            session,
            kind=CHASE,
            playbook="test_chase",
            subject=subject,
            customer="cus_1",
            correlation_id=None,
            now=clock.now(),
        )
    return view


def _move(db: Database, clock: SimulatedClock, seen: cases.CaseView, state: str) -> bool:
    with db.write() as session:
        return cases.transition(
            session,
            kind=CHASE,
            seen=seen,
            state=state,
            next_action_at=None,
            data=seen.data,
            flags=seen.flags,
            queue=None,
            now=clock.now(),
        )


def test_open_is_idempotent_per_kind_and_subject(db: Database, clock: SimulatedClock) -> None:
    first = _open(db, clock)
    again = _open(db, clock)
    assert first.id == again.id
    assert first.state == "open" and first.state_version == 1
    assert first.correlation_id == first.id  # no external correlation given: the case's own id
    assert _open(db, clock, "in_2").id != first.id


def test_allowed_transition_bumps_the_version_and_closes_terminal(
    db: Database, clock: SimulatedClock
) -> None:
    seen = _open(db, clock)
    assert _move(db, clock, seen, "retrying")
    with db.read() as session:
        now = cases.get(session, seen.id)
    assert now is not None and (now.state, now.state_version, now.closed_at) == (
        "retrying",
        2,
        None,
    )
    assert _move(db, clock, now, "recovered")
    with db.read() as session:
        closed = cases.get(session, seen.id)
    assert closed is not None and closed.closed_at == clock.now()


def test_undeclared_transition_is_refused(db: Database, clock: SimulatedClock) -> None:
    seen = _open(db, clock)
    assert _move(db, clock, seen, "recovered")
    with db.read() as session:
        closed = cases.get(session, seen.id)
    assert closed is not None
    with pytest.raises(InvalidTransition, match="recovered → retrying"):
        _move(db, clock, closed, "retrying")


def test_a_stale_writer_loses_instead_of_overwriting(db: Database, clock: SimulatedClock) -> None:
    seen = _open(db, clock)
    assert _move(db, clock, seen, "retrying")
    assert not _move(db, clock, seen, "exhausted")  # still holds version 1
    with db.read() as session:
        current = cases.get(session, seen.id)
    assert current is not None and current.state == "retrying"


def test_a_kind_must_declare_its_states() -> None:
    with pytest.raises(ValueError, match="not in the graph"):
        CaseKind("broken", "start", {"start": frozenset({"end"})}, frozenset({"finished"}))
