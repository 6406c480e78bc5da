"""NetSuite actions through Revline's executor: faults and lost answers, no duplicated effect."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta

import httpx
import pytest
from sqlalchemy import select

from revline.clock import SimulatedClock
from revline.config import Settings
from revline.core.executor import Executor
from revline.core.playbook import ActionSpec
from revline.core.runtime import Runtime, Worker
from revline.db.models import Action, ActionStatus, Attempt, AttemptOutcome
from revline.providers.base import Handlers
from revline.providers.netsuite import NetSuiteAdapter, register
from revline.providers.netsuite.records import InvoiceStatus
from revline.providers.netsuite.sim import NetSuiteSimulator
from revline.providers.simulator import Faults
from tests.providers.netsuite.conftest import FAST_RETRY
from tests.support.outbox import propose

GROSS, FEE = 1_250_000, 36_280


def _seed(sim: NetSuiteSimulator) -> dict[str, str]:
    books = sim.books
    books.add_employee("Maya Lindqvist", "maya@ourco.example")
    acme = books.add_customer(
        "Acme Corp",
        "billing@acme.example",
        stripe_customer_id="cus_acme",
        relationship_owner=("Felix Nordstrom", "felix@ourco.example"),
        ap_contact=("Dana Reyes", "dana.reyes@acme.example"),
    )
    books.add_invoice_history(acme, GROSS, as_of=date(2026, 12, 1))
    kept = books.add_invoice(acme, GROSS, number="INV-2026-1201", stripe_charge_id="ch_1")
    books.record_customer_payment(kept, stripe_charge_id="ch_1")
    duplicate = books.add_invoice(acme, GROSS, number="INV-2026-1201-D")
    open_invoice = books.add_invoice(acme, 400_000, number="INV-2026-1210")
    return {"acme": acme, "duplicate": duplicate, "open": open_invoice}


def _actions() -> list[ActionSpec]:
    return [
        ActionSpec(
            "netsuite.revenue.hold", "cus_acme", {"customer": "cus_acme", "reason": "dunning"}
        ),
        ActionSpec(
            "netsuite.deposit.create",
            "po_1",
            {
                "payout": "po_1",
                "amount": GROSS - FEE,
                "currency": "usd",
                "lines": [
                    {"type": "payment", "amount": GROSS, "reference": "ch_1"},
                    {"type": "fee", "amount": -FEE, "account": "6700-8", "reference": "txn_1"},
                ],
            },
        ),
        ActionSpec(
            "netsuite.customer.log_message",
            "cus_acme",
            {
                "customer": "cus_acme",
                "sent_at": "2026-12-01T09:05:00-05:00",
                "author": "maya@ourco.example",
                "recipient": "dana.reyes@acme.example",
                "cc": ["felix@ourco.example"],
                "subject": "Acme Corp: invoice INV-2026-1210",
                "summary": "The card on file was declined.",
                "invoice": "INV-2026-1210",
            },
        ),
        ActionSpec("netsuite.invoice.void", "INV-2026-1201-D", {"invoice": "INV-2026-1201-D"}),
        ActionSpec(
            "netsuite.customer_payment.create",
            "ch_2",
            {"invoice": "INV-2026-1210", "charge": "ch_2", "amount": 400_000},
        ),
    ]


def _run_until_settled(runtime: Runtime, clock: SimulatedClock) -> None:
    worker = Worker(runtime)
    for _ in range(60):
        worker.drain()
        with runtime.db.read() as session:
            statuses = set(session.execute(select(Action.status)).scalars())
        if statuses <= {ActionStatus.APPLIED, ActionStatus.FAILED}:
            return
        clock.advance(timedelta(minutes=15))
    raise AssertionError(f"actions still pending: {statuses}")


def _assert_each_effect_once(sim: NetSuiteSimulator, ids: dict[str, str]) -> None:
    books = sim.books
    [deposit] = books.deposits()
    assert (deposit.stripe_payout_id, deposit.total) == ("po_1", GROSS - FEE)
    assert [(line.sublist, line.account_number) for line in deposit.lines] == [
        ("payment", None),
        ("cashback", "6700-8"),
    ]
    [message] = books.messages(ids["acme"])
    assert (message.author, message.recipient) == ("maya@ourco.example", "dana.reyes@acme.example")
    assert {(p.on_hold, p.hold_reason) for p in books.revenue_plans(ids["acme"])} == {
        (True, "dunning")
    }
    assert books.invoice(ids["duplicate"]).status is InvoiceStatus.VOIDED
    charges = sorted(p.stripe_charge_id or "" for p in books.customer_payments())
    assert charges == ["ch_1", "ch_2"]
    assert books.undeposited_funds_balance() == 400_000  # only the new payment waits


@pytest.fixture
def faulty_sim(clock: SimulatedClock) -> Iterator[NetSuiteSimulator]:
    faults = Faults(api_error_rate=0.25, api_429_rate=0.15, seed=9)
    with NetSuiteSimulator(clock, seed=5, faults=faults) as simulator:
        yield simulator


def test_faults_are_survived_without_a_duplicated_effect(
    runtime: Runtime, handlers: Handlers, clock: SimulatedClock, faulty_sim: NetSuiteSimulator
) -> None:
    ids = _seed(faulty_sim)
    with NetSuiteAdapter(faulty_sim.settings(), clock=clock, retry=FAST_RETRY) as adapter:
        register(handlers, adapter)
        action_ids = [propose(runtime, spec) for spec in _actions()]
        _run_until_settled(runtime, clock)
    with runtime.db.read() as session:
        actions = [session.get(Action, action_id) for action_id in action_ids]
    assert [a.status for a in actions if a] == [ActionStatus.APPLIED] * 5
    # Which request draws which fault depends on the order actions are claimed in; that
    # faults were drawn is certain, that a write drew one is shown by the next test.
    assert faulty_sim.faults.injected.get(429) and faulty_sim.faults.injected.get(500)
    _assert_each_effect_once(faulty_sim, ids)


class LosesFirstAnswers(httpx.HTTPTransport):
    """NetSuite does the work, then the answer never arrives: once per kind of write."""

    def __init__(self) -> None:
        super().__init__()
        self.lost: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        write = request.method != "GET" and "suiteql" not in request.url.path
        label = f"{request.method} {request.url.path}"
        if write and response.status_code < 300 and label not in self.lost:
            self.lost.append(label)
            response.close()
            raise httpx.ReadTimeout("the answer was lost", request=request)
        return response


def test_a_lost_answer_is_retried_and_finds_the_earlier_effect(
    runtime: Runtime, handlers: Handlers, clock: SimulatedClock, sim: NetSuiteSimulator
) -> None:
    ids = _seed(sim)
    transport = LosesFirstAnswers()
    http = httpx.Client(transport=transport)
    with NetSuiteAdapter(sim.settings(), clock=clock, retry=FAST_RETRY, http=http) as adapter:
        register(handlers, adapter)
        action_ids = [propose(runtime, spec) for spec in _actions()]
        _run_until_settled(runtime, clock)
    http.close()
    assert len(transport.lost) == 3  # the deposit POST, the transform and the RESTlet
    with runtime.db.read() as session:
        actions = [session.get(Action, action_id) for action_id in action_ids]
        lost = session.execute(
            select(Attempt.outcome).where(Attempt.outcome == AttemptOutcome.RETRYABLE_ERROR)
        ).all()
    assert [a.status for a in actions if a] == [ActionStatus.APPLIED] * 5
    assert len(lost) == 3  # each lost answer was one retryable attempt, then a replay
    replayed = {a.kind: a.result["replayed"] for a in actions if a and a.result}
    assert replayed["netsuite.deposit.create"] is True
    assert replayed["netsuite.customer_payment.create"] is True
    _assert_each_effect_once(sim, ids)


def _netsuite_worker(
    runtime: Runtime,
    sim: NetSuiteSimulator,
    settings: Settings,
    name: str,
    adapters: list[NetSuiteAdapter],
    http: httpx.Client | None = None,
) -> Executor:
    """A worker of its own, carrying out NetSuite actions through its own adapter (added to
    ``adapters``, for the test to close)."""
    handlers = Handlers()
    adapters.append(
        NetSuiteAdapter(sim.settings(), clock=runtime.clock, retry=FAST_RETRY, http=http)
    )
    register(handlers, adapters[-1])
    return Executor(
        db=runtime.db,
        clock=runtime.clock,
        settings=settings,
        handlers=handlers,
        ledger=runtime.ledger,
        worker=name,
    )


class _SlowToTakeThePayment(httpx.HTTPTransport):
    """NetSuite is slow to take the first customer payment: ``meanwhile`` runs while it waits."""

    def __init__(self, meanwhile: Callable[[], None]) -> None:
        super().__init__()
        self.meanwhile: Callable[[], None] | None = meanwhile

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self.meanwhile is not None and "!transform" in request.url.path:
            meanwhile, self.meanwhile = self.meanwhile, None
            meanwhile()
        return super().handle_request(request)


def test_a_call_slower_than_the_lease_is_not_carried_out_again_beside_it(
    runtime: Runtime, clock: SimulatedClock, sim: NetSuiteSimulator
) -> None:
    """Worker A records a $4,000.00 instalment against a $12,500.00 invoice; NetSuite takes
    longer than A's lease. A keeps renewing its lease while the call runs, so worker B, looking
    for work meanwhile, finds nothing to take: one payment in NetSuite, not two."""
    invoice = sim.books.add_invoice(_seed(sim)["acme"], GROSS, number="INV-2026-1220")
    executor = runtime.settings.executor.model_copy(update={"lease_renew_seconds": 0.05})
    settings = runtime.settings.model_copy(update={"executor": executor})

    adapters: list[NetSuiteAdapter] = []

    def worker(name: str, http: httpx.Client | None = None) -> Executor:
        return _netsuite_worker(runtime, sim, settings, name, adapters, http)

    b = worker("B")
    found_by_b: list[int] = []

    def meanwhile() -> None:
        clock.advance(timedelta(seconds=executor.lease_seconds + 1))
        time.sleep(0.5)  # A's lease keeper renews the lease from the new time
        found_by_b.append(b.run_once())

    a = worker("A", httpx.Client(transport=_SlowToTakeThePayment(meanwhile)))
    action_id = propose(
        runtime,
        ActionSpec(
            "netsuite.customer_payment.create",
            "ch_part",
            {"invoice": invoice, "charge": "ch_part", "amount": 400_000, "date": "2026-12-01"},
        ),
    )
    assert a.run_once() == 1
    for adapter in adapters:
        adapter.close()
    assert found_by_b == [0]
    with runtime.db.read() as session:
        action = session.get(Action, action_id)
        assert action is not None
        assert (action.status, action.attempts) == (ActionStatus.APPLIED, 1)
    paid = [p for p in sim.books.customer_payments() if p.stripe_charge_id == "ch_part"]
    assert [p.amount for p in paid] == [400_000]


def _deposit_of(payout: str, lines: list[dict[str, object]], attempt: str) -> ActionSpec:
    amount = sum(int(str(line["amount"])) for line in lines)
    params = {"payout": payout, "amount": amount, "currency": "usd", "lines": lines}
    return ActionSpec("netsuite.deposit.create", payout, params, attempt=attempt, supersedes=True)


def _with_payment(attempt: str) -> ActionSpec:
    return _deposit_of(
        "po_1",
        [
            {"type": "payment", "amount": GROSS, "reference": "ch_1"},
            {"type": "fee", "amount": -FEE, "account": "6700-8", "reference": attempt},
        ],
        attempt,
    )


def _adjustment_only(attempt: str) -> ActionSpec:
    """A won dispute's money paid out alone: no payment line NetSuite could refuse twice."""
    line = {"type": "adjustment", "amount": 250_000, "account": "6710", "reference": attempt}
    return _deposit_of("po_2", [line], attempt)


class _MeetBeforePosting(httpx.HTTPTransport):
    """Holds a deposit's POST until another worker's reaches it too (or a second passes): two
    workers that both looked for the payout's deposit and found none would both post one."""

    def __init__(self, barrier: threading.Barrier) -> None:
        super().__init__()
        self.barrier = barrier

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/record/v1/deposit"):
            with contextlib.suppress(threading.BrokenBarrierError):
                self.barrier.wait(timeout=1)
        return super().handle_request(request)


@pytest.mark.parametrize("deposit", [_with_payment, _adjustment_only])
def test_two_workers_never_carry_out_two_deposits_of_one_payout(
    runtime: Runtime,
    clock: SimulatedClock,
    sim: NetSuiteSimulator,
    deposit: Callable[[str], ActionSpec],
) -> None:
    """The morning's deposit was claimed by a worker that stopped; the day was run again since
    and proposed a deposit with other lines under a new key (the first, executing, could not be
    cancelled). Worker 1 takes the stopped worker's deposit over while worker 2 looks for work
    at the same moment: worker 2 does not take the newer deposit beside it (on PostgreSQL its
    claim does not see worker 1's, not yet committed). One deposit in NetSuite; the newer one,
    carried out after, finds it."""
    _seed(sim)
    executor = runtime.settings.executor.model_copy(update={"batch_size": 1})
    settings = runtime.settings.model_copy(update={"executor": executor})
    barrier = threading.Barrier(2)
    adapters: list[NetSuiteAdapter] = []

    def worker(name: str) -> Executor:
        http = httpx.Client(transport=_MeetBeforePosting(barrier))
        return _netsuite_worker(runtime, sim, settings, name, adapters, http)

    stopped, first, second = worker("stopped"), worker("1"), worker("2")
    morning = propose(runtime, deposit("txn_morning"))
    with runtime.db.write() as session:
        assert len(stopped._claim(session, clock.now())) == 1
    clock.advance(timedelta(seconds=executor.lease_seconds + 1))
    rerun = propose(runtime, deposit("txn_rerun"))
    meanwhile = threading.Thread(target=second.run_once)
    with runtime.db.write() as session:
        claims = first._claim(session, clock.now())
        assert [claim.request.action_id for claim in claims] == [morning]
        meanwhile.start()
        meanwhile.join(timeout=1.0)
    first._execute_batch(claims)
    meanwhile.join(timeout=30)
    for _ in range(3):
        first.run_once()
    for adapter in adapters:
        adapter.close()
    payout = deposit("").subject
    assert len([d for d in sim.books.deposits() if d.stripe_payout_id == payout]) == 1
    with runtime.db.read() as session:
        statuses = {
            action.id: action.status
            for action in session.execute(
                select(Action).where(Action.id.in_([morning, rerun]))
            ).scalars()
        }
    assert statuses[morning] == ActionStatus.APPLIED
    assert statuses[rerun] != ActionStatus.FAILED
