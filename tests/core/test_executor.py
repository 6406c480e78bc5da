"""The executor: applied only on confirmation, retries with backoff, the manual queue, the stop."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from revline.core import actions, controls
from revline.core.executor import backoff_delay
from revline.core.ledger import verify
from revline.core.playbook import ActionSpec, Withdrawal
from revline.core.runtime import Runtime, Worker
from revline.db.models import Action, ActionStatus, Attempt, AttemptOutcome, LedgerRow
from revline.providers.base import Handlers, ProviderError
from tests.support.outbox import propose
from tests.support.recorder import EffectRecorder

KIND = "fake.invoice.pay"


@pytest.fixture
def provider(handlers: Handlers) -> EffectRecorder:
    recorder = EffectRecorder()
    handlers.register(KIND, recorder)
    return recorder


def _action(runtime: Runtime, action_id: str) -> Action:
    with runtime.db.read() as session:
        action = session.get(Action, action_id)
        assert action is not None
        return action


def _attempts(runtime: Runtime, action_id: str) -> list[Attempt]:
    with runtime.db.read() as session:
        return list(
            session.execute(
                select(Attempt).where(Attempt.action_id == action_id).order_by(Attempt.number)
            ).scalars()
        )


def test_applied_only_on_confirmation(runtime: Runtime, provider: EffectRecorder) -> None:
    action_id = propose(runtime, ActionSpec(KIND, "in_1", {"amount": 1250000}))
    assert runtime.executor("w").run_once() == 1
    action = _action(runtime, action_id)
    assert action.status == ActionStatus.APPLIED
    assert action.result == {"id": "fx_1", "replayed": False}
    assert provider.effects == {"test_chase:fake.invoice.pay:in_1:1": {"amount": 1250000}}
    [attempt] = _attempts(runtime, action_id)
    assert attempt.outcome == AttemptOutcome.CONFIRMED
    assert runtime.executor("w").run_once() == 0


def test_not_before_is_respected(runtime: Runtime, provider: EffectRecorder) -> None:
    later = runtime.clock.now() + timedelta(days=3)
    action_id = propose(runtime, ActionSpec(KIND, "in_1", not_before=later))
    assert runtime.executor("w").run_once() == 0
    runtime.clock.set(later)  # type: ignore[attr-defined]
    assert runtime.executor("w").run_once() == 1
    assert _action(runtime, action_id).status == ActionStatus.APPLIED


def test_retryable_errors_back_off_then_apply(runtime: Runtime, provider: EffectRecorder) -> None:
    provider.fail_next(
        ProviderError("rate limited", retryable=True, status=429),
        ProviderError("bad gateway", retryable=True, status=502),
    )
    action_id = propose(runtime, ActionSpec(KIND, "in_1"))
    executor = runtime.executor("w")
    executor.run_once()
    action = _action(runtime, action_id)
    assert action.status == ActionStatus.PROPOSED
    assert action.not_before > runtime.clock.now()
    assert action.last_error == "rate limited"
    for _ in range(2):
        runtime.clock.advance(timedelta(minutes=10))  # type: ignore[attr-defined]
        executor.run_once()
    assert _action(runtime, action_id).status == ActionStatus.APPLIED
    outcomes = [a.outcome for a in _attempts(runtime, action_id)]
    assert outcomes == ["retryable_error", "retryable_error", "confirmed"]
    assert len(provider.effects) == 1


def test_client_errors_go_to_the_manual_queue(runtime: Runtime, provider: EffectRecorder) -> None:
    provider.fail_next(ProviderError("No such invoice: in_1", retryable=False, status=404))
    action_id = propose(runtime, ActionSpec(KIND, "in_1"))
    runtime.executor("w").run_once()
    action = _action(runtime, action_id)
    assert (action.status, action.last_error) == (ActionStatus.FAILED, "No such invoice: in_1")
    with runtime.db.read() as session:
        row = session.execute(
            select(LedgerRow).where(LedgerRow.kind == "action.failed")
        ).scalar_one()
    assert row.detail["queue"] == "manual" and row.detail["provider_status"] == 404


def test_retries_stop_at_the_limit(runtime: Runtime, provider: EffectRecorder) -> None:
    limit = runtime.settings.executor.max_attempts
    provider.fail_next(*[ProviderError("down", retryable=True, status=503)] * limit)
    action_id = propose(runtime, ActionSpec(KIND, "in_1"))
    executor = runtime.executor("w")
    for _ in range(limit):
        executor.run_once()
        runtime.clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
    action = _action(runtime, action_id)
    assert (action.status, action.attempts) == (ActionStatus.FAILED, limit)


def test_unknown_kind_fails_clearly(runtime: Runtime) -> None:
    action_id = propose(runtime, ActionSpec("nobody.does.this", "x"))
    runtime.executor("w").run_once()
    action = _action(runtime, action_id)
    assert action.status == ActionStatus.FAILED
    assert action.last_error == "no adapter is registered for nobody.does.this"


def test_an_adapter_bug_is_recorded_not_lost(runtime: Runtime, handlers: Handlers) -> None:
    def buggy(_request: object) -> dict[str, object]:
        raise KeyError("amount")

    handlers.register("fake.buggy", buggy)
    action_id = propose(runtime, ActionSpec("fake.buggy", "x"))
    runtime.executor("w").run_once()
    assert _action(runtime, action_id).last_error == "KeyError: 'amount'"


def test_an_expired_lease_is_taken_over_with_the_same_key(
    runtime: Runtime, provider: EffectRecorder
) -> None:
    action_id = propose(runtime, ActionSpec(KIND, "in_1"))
    executor = runtime.executor("w1")
    # Claim as if a worker died right after calling the provider.
    with runtime.db.write() as session:
        [claim] = executor._claim(session, runtime.clock.now())
    provider(claim.request)
    runtime.clock.advance(timedelta(seconds=runtime.settings.executor.lease_seconds + 1))  # type: ignore[attr-defined]
    assert runtime.executor("w2").run_once() == 1
    assert _action(runtime, action_id).status == ActionStatus.APPLIED
    first, second = _attempts(runtime, action_id)
    assert (first.worker, first.outcome) == ("w1", AttemptOutcome.ABANDONED)
    assert (second.worker, second.outcome) == ("w2", AttemptOutcome.CONFIRMED)
    assert provider.calls[claim.request.idempotency_key] == 2
    assert len(provider.effects) == 1
    # The first worker waking up late records its own attempt but cannot touch the action.
    with runtime.db.write() as session:
        executor._record(session, claim, {"id": "late"}, None)
    action = _action(runtime, action_id)
    assert action.status == ActionStatus.APPLIED and action.result == {
        "id": "fx_1",
        "replayed": True,
    }


def test_stop_holds_due_actions_and_resume_requeues_them(
    runtime: Runtime, provider: EffectRecorder
) -> None:
    action_id = propose(runtime, ActionSpec(KIND, "in_1"))
    now = runtime.clock.now()
    with runtime.db.write() as session:
        controls.stop(
            session, runtime.ledger, actor="user:maya", reason="mass billing incident", now=now
        )
    executor = runtime.executor("w")
    executor.run_once()
    assert _action(runtime, action_id).status == ActionStatus.HELD
    assert provider.calls == {}
    executor.run_once()
    assert provider.calls == {}
    with runtime.db.write() as session:
        assert controls.resume(session, runtime.ledger, actor="user:maya", now=now) == 1
    assert _action(runtime, action_id).status == ActionStatus.PROPOSED
    executor.run_once()
    assert _action(runtime, action_id).status == ActionStatus.APPLIED
    with runtime.db.read() as session:
        kinds = session.execute(select(LedgerRow.kind).order_by(LedgerRow.seq)).scalars().all()
        assert kinds == [
            "action.proposed",
            "control.stop",
            "action.held",
            "control.resume",
            "action.requeued",
            "action.applied",
        ]
        assert verify(session).ok


def test_a_stop_pressed_after_the_claim_still_wins(
    runtime: Runtime, provider: EffectRecorder
) -> None:
    action_id = propose(runtime, ActionSpec(KIND, "in_1"))
    executor = runtime.executor("w")
    with runtime.db.write() as session:
        [claim] = executor._claim(session, runtime.clock.now())
    with runtime.db.write() as session:
        controls.stop(
            session, runtime.ledger, actor="user:maya", reason="stop", now=runtime.clock.now()
        )
    executor._execute(claim)
    assert provider.calls == {}
    assert _action(runtime, action_id).status == ActionStatus.HELD


def test_approved_actions_return_to_approved_after_a_retry(
    runtime: Runtime, handlers: Handlers
) -> None:
    recorder = EffectRecorder()
    handlers.register("stripe.refund.create", recorder)
    recorder.fail_next(ProviderError("timeout", retryable=True))
    spec = ActionSpec("stripe.refund.create", "ch_1", {"amount": 500_000, "currency": "usd"})
    action_id = propose(runtime, spec)
    from revline.core import actions

    with runtime.db.write() as session:
        actions.approve(
            session,
            runtime.ledger,
            action_id=action_id,
            approver="user:maya",
            approver_role="revops_manager",
            policy=runtime.settings.policy,
            now=runtime.clock.now(),
        )
    runtime.executor("w").run_once()
    assert _action(runtime, action_id).status == ActionStatus.APPROVED


@pytest.mark.parametrize("mode", ["shadow", "off"])
def test_switching_mode_after_proposal_is_respected(
    runtime: Runtime, provider: EffectRecorder, mode: str
) -> None:
    action_id = propose(runtime, ActionSpec(KIND, "in_1"))
    with runtime.db.write() as session:
        controls.set_mode(
            session,
            runtime.ledger,
            playbook="test_chase",
            mode=mode,
            actor="user:maya",
            now=runtime.clock.now(),
            settings=runtime.settings,
        )
    runtime.executor("w").run_once()
    # Kept, never carried out: a live decision proposing it again takes it live.
    assert _action(runtime, action_id).status == ActionStatus.SHADOWED
    assert provider.calls == {}


def test_backoff_grows_with_jitter_and_a_cap() -> None:
    import random

    rng = random.Random(7)
    delays = [backoff_delay(n, 2.0, 60.0, rng) for n in range(1, 10)]
    assert 1.0 <= delays[0] <= 2.0
    assert 8.0 <= delays[3] <= 16.0
    assert all(30.0 <= d <= 60.0 for d in delays[5:])


def test_worker_drains_everything(runtime: Runtime, provider: EffectRecorder) -> None:
    for i in range(120):
        propose(runtime, ActionSpec(KIND, f"in_{i}"))
    Worker(runtime).drain()
    assert len(provider.effects) == 120


def _die_mid_call(runtime: Runtime, worker: str) -> None:
    """A worker claims everything due and dies before recording anything."""
    executor = runtime.executor(worker)
    with runtime.db.write() as session:
        executor._claim(session, runtime.clock.now())
    runtime.clock.advance(timedelta(seconds=runtime.settings.executor.lease_seconds + 1))  # type: ignore[attr-defined]


def test_an_action_that_keeps_killing_workers_goes_to_a_person(
    runtime: Runtime, provider: EffectRecorder
) -> None:
    action_id = propose(runtime, ActionSpec(KIND, "in_1"))
    for n in range(runtime.settings.executor.max_abandoned):
        _die_mid_call(runtime, f"w{n}")
    runtime.executor("survivor").run_once()
    action = _action(runtime, action_id)
    assert action.status == ActionStatus.FAILED
    assert action.last_error == "the worker carrying it out stopped 5 times"
    assert provider.calls == {}


def test_dead_workers_do_not_spend_the_retry_budget(
    runtime: Runtime, provider: EffectRecorder
) -> None:
    action_id = propose(runtime, ActionSpec(KIND, "in_1"))
    for n in range(4):
        _die_mid_call(runtime, f"w{n}")
    limit = runtime.settings.executor.max_attempts
    provider.fail_next(*[ProviderError("down", retryable=True, status=503)] * (limit - 1))
    executor = runtime.executor("w")
    for _ in range(limit):
        executor.run_once()
        runtime.clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
    action = _action(runtime, action_id)
    # 4 abandoned claims + 7 provider errors + 1 success: the budget counted only the provider.
    assert (action.status, action.attempts) == (ActionStatus.APPLIED, 4 + limit)


def test_no_call_once_the_batchs_lease_has_run_out(runtime: Runtime, handlers: Handlers) -> None:
    lease = runtime.settings.executor.lease_seconds
    calls: list[str] = []

    def slow(request: object) -> dict[str, str]:
        calls.append(request.subject)  # type: ignore[attr-defined]
        runtime.clock.advance(timedelta(seconds=lease * 0.6))  # type: ignore[attr-defined]
        return {"ok": "yes"}

    handlers.register("fake.slow", slow)
    for n in range(3):
        propose(runtime, ActionSpec("fake.slow", f"s{n}"))
    runtime.executor("w").run_once()
    assert len(calls) == 2  # the third one's lease ran out while the first two were called
    statuses = {a.subject: a.status for a in _all(runtime)}
    [left] = {"s0", "s1", "s2"} - set(calls)
    assert statuses == {**dict.fromkeys(calls, "applied"), left: "executing"}
    runtime.executor("w2").run_once()
    assert sorted(calls) == ["s0", "s1", "s2"]


def _all(runtime: Runtime) -> list[Action]:
    with runtime.db.read() as session:
        return list(session.execute(select(Action)).scalars())


def test_an_effect_waits_while_another_of_its_kind_is_carried_out_on_its_subject(
    runtime: Runtime, provider: EffectRecorder
) -> None:
    """Two workers never carry out two effects of one kind on one subject at once: each would
    find nothing done yet at the provider. The second waits for the first's outcome."""
    first = propose(runtime, ActionSpec(KIND, "po_1", {"lines": "a"}, attempt="a"))
    with runtime.db.write() as session:
        [claim] = runtime.executor("w1")._claim(session, runtime.clock.now())
    second = propose(runtime, ActionSpec(KIND, "po_1", {"lines": "b"}, attempt="b"))
    elsewhere = propose(runtime, ActionSpec(KIND, "po_2"))
    # w1 is still at the provider with the first: w2 takes only the other subject's.
    assert runtime.executor("w2").run_once() == 1
    assert _action(runtime, second).status == ActionStatus.PROPOSED
    assert _action(runtime, elsewhere).status == ActionStatus.APPLIED
    runtime.executor("w1")._execute(claim)
    assert _action(runtime, first).status == ActionStatus.APPLIED
    assert runtime.executor("w2").run_once() == 1
    assert _action(runtime, second).status == ActionStatus.APPLIED


def _withdraw(runtime: Runtime, subject: str) -> list[str]:
    with runtime.db.write() as session:
        return actions.withdraw(
            session,
            runtime.ledger,
            playbook="test_chase",
            withdrawal=Withdrawal(KIND, subject, f"{subject} was returned"),
            actor="playbook:test_chase",
            now=runtime.clock.now(),
        )


def test_an_effect_withdrawn_after_the_claim_is_not_carried_out(
    runtime: Runtime, provider: EffectRecorder
) -> None:
    """Withdrawn between the claim and the call (the claim read before the withdrawal
    committed): the call is not made, and with no attempt made before, it is cancelled."""
    action_id = propose(runtime, ActionSpec(KIND, "in_1"))
    executor = runtime.executor("w1")
    with runtime.db.write() as session:
        claims = executor._claim(session, runtime.clock.now())
    assert _withdraw(runtime, "in_1") == []  # claimed: nothing pending to cancel
    executor._execute_batch(claims)
    action = _action(runtime, action_id)
    assert (action.status, action.last_error) == (
        ActionStatus.CANCELLED,
        "withdrawn: in_1 was returned",
    )
    assert provider.calls == {}
    [attempt] = _attempts(runtime, action_id)
    assert (attempt.outcome, attempt.error) == (
        AttemptOutcome.ABANDONED,
        "withdrawn before the call",
    )


UNKNOWN = (
    "withdrawn (in_1 was returned) after 1 attempt(s) that may have reached the provider: not "
    "tried again; check at the provider whether it was done"
)


def test_an_attempt_under_way_when_its_effect_is_withdrawn_is_not_tried_again(
    runtime: Runtime, provider: EffectRecorder
) -> None:
    """The effect is withdrawn while an attempt is at the provider, which answers 503. That
    may come from a proxy after the provider did it: the action is not tried again (a call may
    do it) and goes to a person to check, in the manual queue."""
    provider.fail_next(ProviderError("unavailable", retryable=True, status=503))
    action_id = propose(runtime, ActionSpec(KIND, "in_1"))
    executor = runtime.executor("w1")
    with runtime.db.write() as session:
        [claim] = executor._claim(session, runtime.clock.now())
    assert _withdraw(runtime, "in_1") == []  # under way: nothing pending to cancel
    with runtime.db.write() as session:
        executor._lock_batch(session, [claim])
        executor._record(session, claim, *executor._call(claim.request))
    assert _action(runtime, action_id).status == ActionStatus.PROPOSED  # requeued, as ever
    runtime.clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
    assert runtime.executor("w2").run_once() == 0
    action = _action(runtime, action_id)
    assert (action.status, action.last_error) == (ActionStatus.FAILED, UNKNOWN)
    assert provider.effects == {}
    assert [a.outcome for a in _attempts(runtime, action_id)] == ["retryable_error"]


def test_a_stopped_workers_action_is_not_taken_over_once_withdrawn(
    runtime: Runtime, provider: EffectRecorder
) -> None:
    """The worker stopped after calling the provider, which did it: the action is not called
    again and is not said to be cancelled; a person checks what the provider did."""
    action_id = propose(runtime, ActionSpec(KIND, "in_1"))
    with runtime.db.write() as session:
        [claim] = runtime.executor("w1")._claim(session, runtime.clock.now())
    provider(claim.request)
    _withdraw(runtime, "in_1")
    runtime.clock.advance(timedelta(seconds=runtime.settings.executor.lease_seconds + 1))  # type: ignore[attr-defined]
    assert runtime.executor("w2").run_once() == 0
    action = _action(runtime, action_id)
    assert (action.status, action.last_error) == (ActionStatus.FAILED, UNKNOWN)
    [attempt] = _attempts(runtime, action_id)
    assert attempt.outcome == AttemptOutcome.ABANDONED
    assert provider.calls == {claim.request.idempotency_key: 1}
    with runtime.db.read() as session:
        assert verify(session).ok
