"""Seed the outbox directly, for executor tests that need no playbook."""

from __future__ import annotations

from revline.core import actions, gates
from revline.core.playbook import ActionSpec
from revline.core.runtime import Runtime


def propose(
    runtime: Runtime,
    spec: ActionSpec,
    *,
    playbook: str = "test_chase",
    proposed_by: str = "playbook:test_chase",
    person: bool = False,
    live: bool = True,
) -> str:
    now = runtime.clock.now()
    gate = gates.evaluate(
        spec,
        case_flags={},
        policy=runtime.settings.policy,
        currency=runtime.settings.company.currency,
        now=now,
        proposed_by_person=person,
    )
    with runtime.db.write() as session:
        result = actions.propose(
            session,
            runtime.ledger,
            case=None,
            playbook=playbook,
            spec=spec,
            gate=gate,
            live=live,
            proposed_by=proposed_by,
            now=now,
        )
        return result.action.id
