"""email.send through Revline's executor, to a real SMTP server."""

from __future__ import annotations

from datetime import timedelta

import pytest

from revline.core.playbook import ActionSpec
from revline.core.runtime import Runtime, Worker
from revline.db.models import Action, ActionStatus
from revline.providers.base import ActionRequest, Handlers
from revline.providers.mail.actions import register
from revline.providers.mail.client import MailAdapter, message_id_for
from revline.providers.mail.sim import MailSimulator
from tests.providers.mail.conftest import DUNNING
from tests.support.outbox import propose

PARAMS = {
    "from": {"name": "Maya Lindqvist", "email": "maya@ourco.example"},
    "to": [{"name": "Dana Reyes", "email": "dana.reyes@acme.example"}],
    "cc": [{"name": "Felix Nordstrom", "email": "felix@ourco.example"}],
    "subject": DUNNING.subject,
    "body": DUNNING.body,
    "customer": "acme",
}


@pytest.fixture
def mail_handlers(handlers: Handlers, adapter: MailAdapter) -> Handlers:
    register(handlers, adapter)
    return handlers


def _action(runtime: Runtime, action_id: str) -> Action:
    with runtime.db.read() as session:
        action = session.get(Action, action_id)
        assert action is not None
        return action


def test_the_dunning_email_is_sent_and_confirmed(
    runtime: Runtime, mail: MailSimulator, mail_handlers: Handlers
) -> None:
    action_id = propose(runtime, ActionSpec("email.send", "in_acme_1", PARAMS))
    Worker(runtime).drain()

    action = _action(runtime, action_id)
    [received] = mail.messages
    assert action.status == ActionStatus.APPLIED
    assert action.result == {
        "message_id": message_id_for(action.idempotency_key, "ourco.example"),
        "sent_at": runtime.clock.now().isoformat(),
        "from": "Maya Lindqvist <maya@ourco.example>",
        "to": ["Dana Reyes <dana.reyes@acme.example>"],
        "cc": ["Felix Nordstrom <felix@ourco.example>"],
        "subject": DUNNING.subject,
        "customer": "acme",
    }
    assert received.message_id == action.result["message_id"]
    assert (received.sender, received.to, received.cc) == (
        action.result["from"],
        tuple(action.result["to"]),
        tuple(action.result["cc"]),
    )
    assert received.idempotency_key == action.idempotency_key


def test_a_resend_after_a_crash_carries_the_same_message_id(
    runtime: Runtime, mail: MailSimulator, mail_handlers: Handlers
) -> None:
    action_id = propose(runtime, ActionSpec("email.send", "in_acme_1", PARAMS))
    key = _action(runtime, action_id).idempotency_key
    handler = mail_handlers.get("email.send")
    assert handler is not None
    # A worker that handed the message to the server and died before recording it.
    handler(ActionRequest(action_id, "email.send", "in_acme_1", PARAMS, key, 1))

    Worker(runtime).drain()

    assert _action(runtime, action_id).status == ActionStatus.APPLIED
    first, resent = mail.messages
    assert first.message_id == resent.message_id  # receivers thread and de-duplicate on it


def test_a_refused_address_goes_to_the_manual_queue(
    runtime: Runtime, mail: MailSimulator, mail_handlers: Handlers
) -> None:
    mail.reject("dana.reyes@acme.example", 550, "5.1.1 No such user")
    action_id = propose(runtime, ActionSpec("email.send", "in_acme_1", {**PARAMS, "cc": []}))
    Worker(runtime).drain()
    action = _action(runtime, action_id)
    assert action.status == ActionStatus.FAILED
    assert "550 5.1.1 No such user" in (action.last_error or "")
    assert mail.messages == []


def test_a_temporary_refusal_is_retried_later(
    runtime: Runtime, mail: MailSimulator, mail_handlers: Handlers
) -> None:
    mail.reject("dana.reyes@acme.example", 451, "4.7.1 Greylisted, try again")
    action_id = propose(runtime, ActionSpec("email.send", "in_acme_1", {**PARAMS, "cc": []}))
    worker = Worker(runtime)
    worker.drain()
    assert _action(runtime, action_id).status == ActionStatus.PROPOSED
    assert mail.messages == []
    mail.accept("dana.reyes@acme.example")
    runtime.clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
    worker.drain()
    assert _action(runtime, action_id).status == ActionStatus.APPLIED
    assert len(mail.messages) == 1


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({**PARAMS, "from": None}, "params.from"),
        ({**PARAMS, "to": []}, "params.to"),
        ({**PARAMS, "to": [{"name": "Dana"}]}, "params.to"),
        ({**PARAMS, "subject": " "}, "params.subject"),
        ({**PARAMS, "cc": "felix@ourco.example"}, "params.cc"),
    ],
)
def test_invalid_params_are_not_retried(
    runtime: Runtime,
    mail: MailSimulator,
    mail_handlers: Handlers,
    params: dict[str, object],
    problem: str,
) -> None:
    action_id = propose(runtime, ActionSpec("email.send", "in_acme_1", params))
    Worker(runtime).drain()
    action = _action(runtime, action_id)
    assert action.status == ActionStatus.FAILED
    assert problem in (action.last_error or "")
    assert mail.messages == []


def test_only_email_send_is_registered(mail_handlers: Handlers) -> None:
    assert mail_handlers.kinds() == ["email.send"]


def test_injected_temporary_refusals_are_retried_and_each_email_arrives_once(
    runtime: Runtime, handlers: Handlers
) -> None:
    from revline.providers.simulator import Faults

    with MailSimulator(faults=Faults(api_error_rate=0.4, seed=5)) as faulty:
        register(
            handlers, MailAdapter(faulty.host, faulty.port, clock=runtime.clock, starttls=False)
        )
        ids = [
            propose(runtime, ActionSpec("email.send", f"in_{n}", {**PARAMS, "subject": f"#{n}"}))
            for n in range(12)
        ]
        worker = Worker(runtime)
        for _ in range(20):
            worker.drain()
            runtime.clock.advance(timedelta(minutes=15))  # type: ignore[attr-defined]
        assert faulty._recorder.injected > 0
        assert sorted(m.subject for m in faulty.messages) == sorted(f"#{n}" for n in range(12))
    assert {_action(runtime, i).status for i in ids} == {ActionStatus.APPLIED}
