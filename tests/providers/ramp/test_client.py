"""RampAdapter against the simulator over loopback HTTP: auth, limits, pages, errors, money."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import httpx
import pytest

from revline.clock import SimulatedClock
from revline.providers.base import ProviderError
from revline.providers.ramp import wire
from revline.providers.ramp.client import RampAdapter
from revline.providers.ramp.ratelimit import RateLimiter
from revline.providers.ramp.records import CardTaskStatus, ReviewDecision
from revline.providers.ramp.sim import ALL_SCOPES, MISSING_RECEIPT, RECEIPT_ILLEGIBLE, RampSimulator
from tests.providers.ramp.conftest import Business, FakeTime, make_adapter, start_sim


def test_one_token_serves_many_calls(
    sim: RampSimulator, adapter: RampAdapter, business: Business
) -> None:
    for _ in range(25):
        adapter.get_user(business.cardholder.id)
    adapter.list_departments()
    assert sim.token_requests == 1


def test_an_expired_token_is_replaced_once(
    sim: RampSimulator, adapter: RampAdapter, business: Business, clock: SimulatedClock
) -> None:
    adapter.get_user(business.cardholder.id)
    clock.advance(timedelta(days=11))  # Ramp's tokens last ten days
    assert adapter.get_user(business.cardholder.id).email == "sam@ourco.example"
    assert sim.token_requests == 2


def test_a_wrong_secret_is_refused_without_retrying(
    sim: RampSimulator, fake_time: FakeTime
) -> None:
    with (
        make_adapter(sim, fake_time, client_secret="not-it") as ramp,
        pytest.raises(ProviderError) as refused,
    ):
        ramp.list_departments()
    error = refused.value
    assert (error.status, error.provider_code, error.retryable) == (401, "invalid_client", False)
    assert sim.token_requests == 1


def test_a_call_outside_the_tokens_scopes_is_forbidden(
    sim: RampSimulator, fake_time: FakeTime, business: Business
) -> None:
    scopes = [s for s in ALL_SCOPES if s != "accounting:read"]
    with make_adapter(sim, fake_time, scopes=scopes) as ramp:
        assert [d.name for d in ramp.list_departments()] == ["Finance", "Sales"]
        with pytest.raises(ProviderError) as forbidden:
            ramp.list_gl_accounts()
    error = forbidden.value
    assert (error.status, error.provider_code, error.retryable) == (
        403,
        "INSUFFICIENT_SCOPE",
        False,
    )


def test_scopes_the_app_was_not_granted_are_refused(
    clock: SimulatedClock, fake_time: FakeTime
) -> None:
    sim = start_sim(clock, fake_time, scopes=["transactions:read"])
    try:
        with make_adapter(sim, fake_time) as ramp, pytest.raises(ProviderError) as refused:
            ramp.list_departments()
    finally:
        sim.stop()
    assert (refused.value.status, refused.value.provider_code) == (400, "invalid_scope")


def test_keyset_pagination_walks_every_page_once(
    sim: RampSimulator, adapter: RampAdapter, business: Business, clock: SimulatedClock
) -> None:
    created = []
    for n in range(23):
        created.append(
            sim.state.add_transaction(business.cardholder.id, f"Merchant {n}", 1_000 + n)
        )
        clock.advance(timedelta(minutes=5))
    other = sim.state.add_transaction(business.team_owner.id, "Elsewhere", 999)

    listed = list(adapter.list_transactions(user_id=business.cardholder.id, page_size=5))

    assert [t.id for t in listed] == [t.id for t in reversed(created)]  # newest first
    assert other.id not in {t.id for t in listed}
    assert [t.amount for t in listed[:2]] == [1_022, 1_021]


def test_pagination_filters_by_date_and_review_status(
    sim: RampSimulator, adapter: RampAdapter, business: Business, clock: SimulatedClock
) -> None:
    early = sim.state.add_transaction(business.cardholder.id, "Early", 100)
    clock.advance(timedelta(days=2))
    late = sim.state.add_transaction(business.cardholder.id, "Late", 200)
    adapter.review_transaction(
        late.id, ReviewDecision.REJECT, None, "missing_itemised_receipt", "k"
    )

    since = early.user_transaction_time + timedelta(days=1)
    assert [t.id for t in adapter.list_transactions(from_date=since)] == [late.id]
    awaiting = adapter.list_transactions(approval_status="AWAITING_REVIEWER", page_size=2)
    assert [t.id for t in awaiting] == [early.id]


def test_page_size_outside_ramps_bounds(sim: RampSimulator, adapter: RampAdapter) -> None:
    with pytest.raises(ValueError, match="between 2 and 100"):
        list(adapter.list_transactions(page_size=101))
    token = httpx.post(
        f"{sim.url}/developer/v1/token",
        data={"grant_type": "client_credentials"},
        auth=("revline-test", "ramp-test-client-secret"),
    ).json()["access_token"]
    answer = httpx.get(
        f"{sim.url}/developer/v1/transactions?page_size=1",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 400
    assert answer.json()["error_v2"]["error_code"] == "INVALID_REQUEST"


def test_a_burst_of_450_calls_stays_under_the_servers_limit(
    sim: RampSimulator, adapter: RampAdapter, business: Business, fake_time: FakeTime
) -> None:
    started = fake_time.monotonic()
    for _ in range(450):
        adapter.get_user(business.cardholder.id)
    assert sim.throttled == 0
    # 200 at once, 200 ten seconds later, the last 50 ten seconds after that.
    assert fake_time.monotonic() - started == pytest.approx(20.0)


def test_a_429_from_ramp_is_retried(clock: SimulatedClock, fake_time: FakeTime) -> None:
    # Another process shares the app: the server allows 3 per window, the adapter thinks 200.
    sim = start_sim(clock, fake_time, rate_limit=3)
    try:
        owner = sim.state.add_user("Ida", "Berg", "ida@ourco.example")
        with make_adapter(sim, fake_time) as ramp:
            emails = {ramp.get_user(owner.id).email for _ in range(10)}
    finally:
        sim.stop()
    assert emails == {"ida@ourco.example"}
    assert sim.throttled > 0
    assert fake_time.slept  # waited out Retry-After instead of failing


def test_429s_past_the_retry_budget_are_a_retryable_error(
    clock: SimulatedClock, fake_time: FakeTime
) -> None:
    sim = start_sim(clock, fake_time, rate_limit=2)
    try:
        # A sleep that does not move time: the window never frees up.
        with make_adapter(sim, fake_time, sleep=lambda _s: None, max_retries=2) as ramp:
            ramp.list_departments()
            ramp.list_departments()
            with pytest.raises(ProviderError) as throttled:
                ramp.list_departments()
    finally:
        sim.stop()
    error = throttled.value
    assert (error.status, error.provider_code, error.retryable) == (429, "RATE_LIMITED", True)
    assert sim.throttled == 3


def test_error_v2_becomes_a_provider_error_with_the_trace_id(
    adapter: RampAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING), pytest.raises(ProviderError) as missing:
        adapter.get_transaction("no-such-transaction")
    error = missing.value
    assert (error.provider, error.status, error.provider_code) == ("ramp", 404, "NOT_FOUND")
    assert error.retryable is False
    trace = error.message.rsplit("x-trace-id ", 1)[1].rstrip(")")
    assert len(trace) == 32
    assert trace in caplog.text


def test_transactions_carry_exact_money_receipts_and_flags(
    sim: RampSimulator, adapter: RampAdapter, business: Business
) -> None:
    lunch = sim.state.add_transaction(
        business.cardholder.id,
        "Noma",
        12_345,
        receipt="legible",
        line_items=[{"amount": 10_000, "memo": "lunch"}, {"amount": 2_345, "memo": "tip"}],
        memo="Client lunch",
        category="Restaurants",
    )
    blurry = sim.state.add_transaction(business.cardholder.id, "Uber", 2_801, receipt="illegible")
    lost = sim.state.add_transaction(business.cardholder.id, "Hotel", 45_000, receipt="none")

    got = adapter.get_transaction(lunch.id)
    assert (got.amount, got.currency, got.money.format()) == (12_345, "USD", "$123.45")
    assert [(i.amount.amount, i.memo) for i in got.line_items] == [
        (10_000, "lunch"),
        (2_345, "tip"),
    ]
    assert got.card_holder.department_name == "Sales"
    assert got.sk_category_name == "Restaurants"
    assert [r.id for r in adapter.list_receipts(lunch.id)] == list(got.receipts)
    assert got.policy_violations == ()
    assert [v.type for v in adapter.get_transaction(blurry.id).policy_violations] == [
        RECEIPT_ILLEGIBLE
    ]
    assert len(adapter.list_receipts(blurry.id)) == 1
    assert [v.type for v in adapter.get_transaction(lost.id).policy_violations] == [MISSING_RECEIPT]
    assert adapter.list_receipts(lost.id) == []
    sim.state.attach_receipt(lost.id)
    assert adapter.get_transaction(lost.id).policy_violations == ()


def test_amounts_never_pass_through_a_float() -> None:
    document = wire.decode(b'{"amount": 0.1, "n": 3}')
    assert wire.to_minor(document["amount"], "USD") == 10
    assert wire.encode({"amount": wire.to_major(137_501, "USD")}) == b'{"amount":1375.01}'
    assert wire.to_minor(wire.to_major(1_200, "JPY"), "JPY") == 1_200
    with pytest.raises(ValueError, match="minor units"):
        wire.to_minor(wire.decode(b"1.005"), "USD")
    with pytest.raises(TypeError):
        wire.encode({"amount": 0.1})


def test_approval_codes_the_gl_account_and_is_recorded_once(
    sim: RampSimulator, adapter: RampAdapter, business: Business
) -> None:
    txn = sim.state.add_transaction(business.cardholder.id, "Figma", 4_500)

    approved = adapter.review_transaction(txn.id, ReviewDecision.APPROVE, "6610", None, "act-1")
    replayed = adapter.review_transaction(txn.id, "APPROVE", "6610", None, "act-1")

    assert (approved.approval_status, approved.gl_code) == ("FULLY_APPROVED", "6610")
    assert replayed == approved
    [review] = sim.state.reviews(txn.id)
    assert (review.decision, review.gl_code, review.client_id) == (
        ReviewDecision.APPROVE,
        "6610",
        "revline-test",
    )
    with pytest.raises(ProviderError) as conflict:
        adapter.review_transaction(txn.id, "REJECT", None, "missing_itemised_receipt", "act-2")
    assert (conflict.value.status, conflict.value.provider_code) == (
        422,
        "TRANSACTION_ALREADY_REVIEWED",
    )
    assert conflict.value.retryable is False


def test_rejection_is_recorded_with_its_reason(
    sim: RampSimulator, adapter: RampAdapter, business: Business
) -> None:
    txn = sim.state.add_transaction(business.cardholder.id, "Uber", 2_801, receipt="illegible")
    rejected = adapter.review_transaction(
        txn.id, ReviewDecision.REJECT, None, "missing_itemised_receipt", "act-9"
    )
    assert rejected.approval_status == "REJECTED"
    [review] = sim.state.reviews(txn.id)
    assert (review.decision, review.reason) == (ReviewDecision.REJECT, "missing_itemised_receipt")


def test_an_unknown_gl_code_is_not_retried(
    sim: RampSimulator, adapter: RampAdapter, business: Business
) -> None:
    txn = sim.state.add_transaction(business.cardholder.id, "Figma", 4_500)
    with pytest.raises(ProviderError) as unknown:
        adapter.review_transaction(txn.id, ReviewDecision.APPROVE, "9999", None, "act-1")
    assert (unknown.value.provider_code, unknown.value.retryable) == ("gl_account_not_found", False)
    assert sim.state.reviews() == []


def test_a_memo_replayed_with_its_key_is_written_once(
    sim: RampSimulator, adapter: RampAdapter, business: Business
) -> None:
    txn = sim.state.add_transaction(business.cardholder.id, "Uber", 2_801)
    for _ in range(3):
        memo = adapter.create_memo(txn.id, "Please retake the photo", "memo-1")
    assert memo.memo == "Please retake the photo"
    assert sim.state.memos(txn.id) == ["Please retake the photo"]
    with pytest.raises(ProviderError) as reused:
        adapter.create_memo(txn.id, "Something else", "memo-1")
    assert (reused.value.status, reused.value.provider_code) == (400, "IDEMPOTENCY_KEY_REUSED")


def test_deferred_card_creation_polls_to_success(
    sim: RampSimulator, adapter: RampAdapter, business: Business, fake_time: FakeTime
) -> None:
    vendor = sim.state.add_vendor("Figma, Inc.")
    options = {
        "user_id": business.spend_ops_lead.id,
        "display_name": "Figma, Inc.",
        "limit": 137_501,  # 110 % of $1,250.01, to the cent
        "interval": "MONTHLY",
        "vendor_ids": [vendor.id],
        "gl_account_id": business.saas.id,
        "idempotency_key": "saas:ramp.card.create:figma:1",
    }
    task_id = adapter.create_virtual_card(**options)  # type: ignore[arg-type]

    assert adapter.create_virtual_card(**options) == task_id  # type: ignore[arg-type]
    statuses = [adapter.get_card_task(task_id).status for _ in range(3)]
    done = adapter.wait_for_card_task(task_id)

    assert statuses == [CardTaskStatus.STARTED, CardTaskStatus.IN_PROGRESS, CardTaskStatus.SUCCESS]
    assert done.status is CardTaskStatus.SUCCESS and done.card_id is not None
    card = adapter.get_card(done.card_id)
    assert (card.limit, card.currency, card.interval) == (137_501, "USD", "MONTHLY")
    assert card.vendor_whitelist == (vendor.id,)
    assert card.cardholder_id == business.spend_ops_lead.id
    assert sim.state.gl_code_of(card.gl_account_id or "") == "6610"
    assert sim.state.cards() == [card]
    with pytest.raises(ProviderError) as reused:
        adapter.create_virtual_card(**{**options, "limit": 1})  # type: ignore[arg-type]
    assert reused.value.provider_code == "IDEMPOTENCY_KEY_REUSED"


def test_wait_for_card_polls_with_the_injected_sleep(
    sim: RampSimulator, adapter: RampAdapter, business: Business, fake_time: FakeTime
) -> None:
    task_id = adapter.create_virtual_card(
        user_id=business.spend_ops_lead.id,
        display_name="Notion",
        limit=11_000,
        interval="MONTHLY",
        idempotency_key="card-2",
    )
    assert adapter.wait_for_card_task(task_id).status is CardTaskStatus.SUCCESS
    assert fake_time.slept == [1.0, 1.0]  # after STARTED and after IN_PROGRESS


def test_a_failed_card_task_is_final(
    sim: RampSimulator, adapter: RampAdapter, business: Business
) -> None:
    sim.state.deactivate_user(business.cardholder.id)
    task_id = adapter.create_virtual_card(
        user_id=business.cardholder.id,
        display_name="Slack",
        limit=11_000,
        interval="MONTHLY",
        idempotency_key="card-3",
    )
    with pytest.raises(ProviderError) as failed:
        adapter.wait_for_card_task(task_id)
    assert (failed.value.provider_code, failed.value.retryable) == ("card_task_error", False)
    assert "cannot hold a card" in failed.value.message
    assert sim.state.cards() == []


def test_people_and_accounting_reads(adapter: RampAdapter, business: Business) -> None:
    users = {u.email: u for u in adapter.list_users(department_id=business.finance.id)}
    assert set(users) == {"ingrid@ourco.example", "lena@ourco.example"}
    assert users["ingrid@ourco.example"].is_manager
    assert adapter.get_user(business.cardholder.id).manager_id == business.team_owner.id
    accounts = {a.code: a.name for a in adapter.list_gl_accounts()}
    assert accounts == {
        "6610": "Software & SaaS",
        "6420": "Travel",
        "6430": "Meals & Entertainment",
    }
    assert adapter.gl_account_by_code("6420").id == business.travel.id


def test_vendors_are_found_by_name(sim: RampSimulator, adapter: RampAdapter) -> None:
    figma = sim.state.add_vendor("Figma, Inc.")
    assert adapter.find_vendor("  figma, inc. ") == figma
    assert adapter.find_vendor("Canva") is None


def test_settings_without_credentials_refuse_to_start() -> None:
    from revline.config import Ramp
    from revline.errors import ConfigError

    with pytest.raises(ConfigError, match="client_id"):
        RampAdapter.from_settings(Ramp())


def test_the_rate_limiter_never_over_grants_across_threads() -> None:
    class WouldWait(Exception):
        pass

    def refuse(_seconds: float) -> None:
        raise WouldWait

    # Time stands still: exactly 200 of 400 concurrent acquisitions may pass.
    limiter = RateLimiter(200, 10.0, sleep=refuse, monotonic=lambda: 0.0)
    outcomes: list[bool] = []
    lock = threading.Lock()

    def burst() -> None:
        for _ in range(50):
            try:
                limiter.acquire()
                passed = True
            except WouldWait:
                passed = False
            with lock:
                outcomes.append(passed)

    threads = [threading.Thread(target=burst) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert (outcomes.count(True), outcomes.count(False)) == (200, 200)
