"""The failed-payment decisions as tables: a case, a signal, the account, and what follows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from revline.clock import WorkingCalendar
from revline.config import Policy
from revline.core.cases import ActionView, CaseView
from revline.core.inbox import EventView
from revline.core.playbook import KEEP, Decision, Facts, Trigger
from revline.playbooks.billing.facts import Account, Person, Signal
from revline.playbooks.billing.failed_payment import FailedPaymentRecovery, State
from tests.support.cases import case_view

NY = ZoneInfo("America/New_York")
CALENDAR = WorkingCalendar("America/New_York", "US")
POLICY = Policy()
WEDNESDAY = datetime(2026, 3, 4, 11, 0, tzinfo=NY)
PEOPLE = {
    "senior_revops_manager": Person("Maya Lindqvist", "maya@ourco.example"),
    "billing_analyst": Person("Omar Haddad", "omar@ourco.example"),
}
HIGH = Account(
    invoice="in_acme_1",
    invoice_number="INV-2026-1201",
    invoice_status="open",
    amount_due=1_250_000,
    currency="usd",
    attempt_count=1,
    subscription="sub_acme",
    stripe_customer="cus_acme",
    last_failure_code="card_declined",
    last_decline_code="generic_decline",
    dunning_suppressed=True,
    card_on_file="pm_old",
    netsuite_customer="101",
    customer_name="Acme Corp",
    mrr=1_250_000,
    ap_contact=Person("Dana Reyes", "dana.reyes@acme.example", "Dana"),
    relationship_owner=Person("Felix Nordstrom", "felix@ourco.example"),
)
LOW = replace(HIGH, mrr=180_000, dunning_suppressed=False)
HOLD_AND_EXCLUDE = ["netsuite.revenue.hold", "netsuite.customer.exclude_from_pipeline"]


def _case(
    state: State = State.AWAITING_SMART_RETRY, *, actions: tuple[ActionView, ...] = (), **data: Any
) -> CaseView:
    return case_view(
        "failed_payment",
        "in_acme_1",
        state,
        WEDNESDAY,
        customer="cus_acme",
        state_version=3,
        data=data,
        actions=actions,
    )


def _action(kind: str, status: str = "applied", subject: str = "cus_acme") -> ActionView:
    return ActionView(
        id=f"act_{kind}",
        kind=kind,
        subject=subject,
        idempotency_key=f"k:{kind}",
        status=status,
        params={},
        result=None,
        error=None,
        created_at=WEDNESDAY,
        applied_at=WEDNESDAY if status == "applied" else None,
    )


def _decide(
    case: CaseView,
    signal: Signal,
    account: Account | None,
    policy: Policy = POLICY,
    now: datetime = WEDNESDAY,
) -> Decision:
    values: dict[str, Any] = {
        "signal": signal,
        "calendar": CALENDAR,
        "people": PEOPLE,
        "company_currency": "usd",
    }
    if account is not None:
        values["account"] = account
    decision = FailedPaymentRecovery().decide(
        case, Facts(Trigger("event", now), values), policy, now
    )
    # Nothing irreversible on a transient event (rule 8).
    assert not {a.kind for a in decision.actions} & set(policy.irreversible_actions)
    assert not any(a.irreversible for a in decision.actions)
    return decision


def _failed(attempts: int, at: datetime = WEDNESDAY) -> Signal:
    return Signal("payment_failed", at, attempt_count=attempts)


def _outcome(
    kind: str,
    status: str = "applied",
    at: datetime = WEDNESDAY,
    result: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
) -> Signal:
    return Signal(
        "outcome",
        at,
        action_kind=kind,
        action_status=status,
        result=result or {},
        params=params or {},
    )


def _kinds(decision: Decision) -> list[str]:
    return [a.kind for a in decision.actions]


def _local(when: datetime | Any) -> tuple[date, str]:
    assert isinstance(when, datetime)
    local = when.astimezone(NY)
    return local.date(), local.strftime("%H:%M")


# -- who enters, and Smart Retries first ----------------------------------------------------


def test_the_first_failure_leaves_stripes_automatic_retry_to_fire() -> None:
    decision = _decide(_case(), _failed(1), replace(HIGH, subscription_failures=1))
    assert decision.state is None and decision.actions == ()
    assert decision.next_action_at is not None  # a fallback should Stripe never report


@pytest.mark.parametrize(
    ("subscription_failures", "kinds"),
    [
        (1, []),  # this invoice's own failure only
        (2, HOLD_AND_EXCLUDE),  # last month's invoice on the subscription failed too
        (4, HOLD_AND_EXCLUDE),
    ],
)
def test_failures_are_counted_across_the_subscription(
    subscription_failures: int, kinds: list[str]
) -> None:
    """Rule 4: "after the second failed charge on the same subscription", whichever invoice."""
    account = replace(LOW, subscription_failures=subscription_failures)
    decision = _decide(_case(), _failed(1), account)
    assert _kinds(decision) == kinds
    assert decision.state is None  # Stripe's automatic retry is still left to fire


def test_a_hold_already_decided_is_not_decided_again() -> None:
    case = _case(failures=1, actions=(_action("netsuite.revenue.hold", "proposed"),))
    decision = _decide(case, _failed(2), replace(LOW, attempt_count=2, subscription_failures=3))
    assert _kinds(decision) == ["stripe.invoice.stop_auto_retry"]


@pytest.mark.parametrize(
    ("account", "kinds"),
    [
        (HIGH, ["stripe.invoice.stop_auto_retry", *HOLD_AND_EXCLUDE]),
        (LOW, ["stripe.invoice.stop_auto_retry", *HOLD_AND_EXCLUDE]),
    ],
)
def test_when_the_automatic_retry_fails_revline_takes_manual_control(
    account: Account, kinds: list[str]
) -> None:
    decision = _decide(_case(failures=1), _failed(2), replace(account, attempt_count=2))
    assert decision.state == State.RETRYING
    assert _kinds(decision) == kinds
    # Wednesday failure: the following Tuesday, 09:00 company time.
    assert _local(decision.next_action_at) == (date(2026, 3, 10), "09:00")
    assert decision.data["tier"] == ("high_value" if account is HIGH else "standard")
    # Held recognition and the pipeline exclusion go together, on the NetSuite customer.
    for action in decision.actions[1:]:
        assert action.params == {"customer": "101", "reason": "dunning"}
        assert action.subject == "cus_acme"


@pytest.mark.parametrize(
    ("account", "kinds"), [(HIGH, ["stripe.customer.suppress_dunning"]), (LOW, [])]
)
def test_dunning_is_suppressed_once_manual_control_is_confirmed(
    account: Account, kinds: list[str]
) -> None:
    case = _case(State.RETRYING, tier="high_value" if account is HIGH else "standard")
    decision = _decide(case, _outcome("stripe.invoice.stop_auto_retry"), account)
    assert _kinds(decision) == kinds
    assert decision.state is None


def test_the_email_waits_while_a_suppression_is_under_way() -> None:
    case = _case(
        State.PREPARING_EMAIL,
        tier="high_value",
        actions=(_action("stripe.customer.suppress_dunning", "executing"),),
    )
    decision = _decide(
        case,
        _outcome("stripe.portal_link.create", result={"url": "https://billing.stripe.com/p/x"}),
        replace(HIGH, dunning_suppressed=False),
    )
    assert decision.actions == ()


def test_mrr_exactly_at_the_threshold_is_not_high_value() -> None:
    decision = _decide(_case(failures=1), _failed(2), replace(HIGH, mrr=500_000, attempt_count=2))
    assert "stripe.customer.suppress_dunning" not in _kinds(decision)


def test_the_threshold_is_read_in_the_mrrs_currency() -> None:
    """Seed 000's $5,000 is dollars: a customer billed ¥600,000 a month (about $4,000) is not
    above 500,000 — yen have no cents. The policy names the threshold in yen, or a person
    decides; no rate is guessed."""
    yen = replace(HIGH, mrr=600_000, mrr_currency="JPY", attempt_count=2)
    named = Policy(high_value_mrr_threshold_in={"JPY": 750_000})
    decided = _decide(_case(failures=1), _failed(2), yen, policy=named)
    assert (decided.state, decided.data["tier"]) == (State.RETRYING, "standard")
    above = _decide(_case(failures=1), _failed(2), replace(yen, mrr=800_000), policy=named)
    assert above.data["tier"] == "high_value"
    unnamed = _decide(_case(failures=1), _failed(2), yen)
    assert (unnamed.state, unnamed.queue, unnamed.actions) == (
        State.ESCALATED,
        "billing_analyst",
        (),
    )
    assert "its MRR is in JPY and the policy names no high-value threshold" in (unnamed.explanation)


@pytest.mark.parametrize(
    "unknown",
    [
        "no NetSuite customer carries Stripe customer cus_acme",
        "customer 101 was invoiced in several currencies (EUR, USD)",
    ],
)
def test_a_customer_whose_tier_cannot_be_told_goes_to_the_billing_analyst(unknown: str) -> None:
    """No NetSuite record (nor its MRR, nor a customer to hold recognition on), or invoices in
    two currencies: nothing is guessed — not the standard path, not a hold keyed by the Stripe
    id. Once a case has its tier, a later failure is decided as before."""
    account = replace(HIGH, mrr=0, mrr_unknown=unknown, netsuite_customer=None, attempt_count=2)
    for failures in (1, 2):
        decision = _decide(_case(), _failed(failures), account)
        assert (decision.state, decision.queue, decision.actions) == (
            State.ESCALATED,
            "billing_analyst",
            (),
        )
        assert f"the customer's tier cannot be told ({unknown})" in decision.explanation
    told = _decide(_case(State.RETRYING, tier="standard"), _failed(3), account)
    assert told.state != State.ESCALATED


@pytest.mark.parametrize(
    ("account", "state", "kinds"),
    [
        (
            replace(LOW, last_failure_code="expired_card", last_decline_code="expired_card"),
            State.NEEDS_CARD_UPDATE,
            [],
        ),
        (
            replace(HIGH, last_decline_code="lost_card", dunning_suppressed=False),
            State.PREPARING_EMAIL,
            ["stripe.invoice.stop_auto_retry", "stripe.portal_link.create"],
        ),
    ],
)
def test_a_hard_decline_gets_no_retries(account: Account, state: State, kinds: list[str]) -> None:
    decision = _decide(_case(), _failed(1), account)
    assert decision.state == state
    assert _kinds(decision) == kinds
    assert "stripe.invoice.pay" not in _kinds(decision)
    assert decision.data["hard_decline"] is True


def test_fraud_goes_to_a_person_with_no_contact() -> None:
    decision = _decide(_case(), _failed(1), replace(HIGH, last_decline_code="fraudulent"))
    assert decision.state == State.ESCALATED
    assert decision.queue == "senior_revops_manager"
    assert decision.actions == ()
    assert decision.flags == {"fraud_suspected": True}


def test_an_open_dispute_goes_to_a_person_and_cancels_what_is_pending() -> None:
    decision = _decide(
        _case(State.RETRYING), Signal("timer", WEDNESDAY), replace(HIGH, dispute_open=True)
    )
    assert decision.state == State.ESCALATED and decision.queue == "senior_revops_manager"
    assert decision.cancel_pending and decision.actions == ()


def test_an_unlisted_code_goes_to_the_billing_analyst() -> None:
    decision = _decide(
        _case(),
        _failed(1),
        replace(HIGH, last_failure_code="processing_error", last_decline_code=None),
    )
    assert decision.state == State.ESCALATED and decision.queue == "billing_analyst"


# -- the retry loop ---------------------------------------------------------------------------


def test_the_timer_makes_the_next_manual_retry_and_deciding_twice_makes_the_same_one() -> None:
    case = _case(State.RETRYING, tier="high_value", manual_attempts=1, failures=3)
    first = _decide(case, Signal("timer", WEDNESDAY), HIGH)
    again = _decide(case, Signal("timer", WEDNESDAY), HIGH)
    assert [(a.kind, a.attempt) for a in first.actions] == [("stripe.invoice.pay", 2)]
    assert first.actions == again.actions
    assert first.data["manual_attempts"] == 2


def test_no_second_retry_while_one_is_under_way() -> None:
    case = _case(
        State.RETRYING,
        manual_attempts=1,
        actions=(_action("stripe.invoice.pay", "executing", "in_acme_1"),),
    )
    assert _decide(case, Signal("timer", WEDNESDAY), HIGH).actions == ()


def test_a_declined_retry_of_a_high_value_customer_prepares_the_email() -> None:
    case = _case(
        State.RETRYING,
        tier="high_value",
        manual_attempts=1,
        failures=2,
        actions=(_action("netsuite.revenue.hold"),),
    )
    decision = _decide(
        case,
        _outcome(
            "stripe.invoice.pay",
            result={
                "outcome": "declined",
                "code": "card_declined",
                "decline_code": "generic_decline",
            },
        ),
        HIGH,
    )
    assert decision.state == State.PREPARING_EMAIL
    assert _kinds(decision) == ["stripe.portal_link.create"]  # suppression already confirmed


def test_a_declined_retry_below_the_threshold_schedules_the_next() -> None:
    case = _case(State.RETRYING, tier="standard", manual_attempts=1, failures=2)
    decision = _decide(
        case,
        _outcome("stripe.invoice.pay", result={"outcome": "declined", "code": "card_declined"}),
        LOW,
    )
    assert decision.state == State.RETRYING
    # The second failed charge: recognition is held now, if it was not already; and Stripe,
    # which no longer emails about an invoice under manual control, is asked to (rule 6).
    assert _kinds(decision) == [*HOLD_AND_EXCLUDE, "stripe.invoice.send"]
    send = decision.actions[-1]
    assert (send.subject, send.params, send.attempt) == ("in_acme_1", {"invoice": "in_acme_1"}, 1)
    assert _local(decision.next_action_at) == (date(2026, 3, 10), "09:00")


def test_a_refused_stripe_email_leaves_the_cadence_as_it_was() -> None:
    """Stripe may refuse to send an invoice it charges automatically: the email was a courtesy,
    so the case keeps its state, its timer and its desk, and the next retry goes ahead."""
    case = _case(State.RETRYING, tier="standard", manual_attempts=1, failures=2)
    refused = Signal(
        "outcome",
        WEDNESDAY,
        action_kind="stripe.invoice.send",
        action_status="failed",
        error="stripe 400: You can only manually send an invoice if its collection method is "
        "'send_invoice'",
    )
    decision = _decide(case, refused, LOW)
    assert decision.state is None and decision.actions == ()
    assert decision.next_action_at is KEEP and decision.queue is KEEP
    assert "send_invoice" in decision.data["stripe_email_failed"]


@pytest.mark.parametrize(
    ("tier", "account", "attempts", "stripe_emails"),
    [
        ("standard", LOW, 2, True),
        ("standard", LOW, 3, True),  # the last attempt too: retries stop, Stripe's dunning not
        ("high_value", HIGH, 2, False),  # suppressed: the personal email speaks instead
        ("high_value", HIGH, 3, False),
    ],
)
def test_stripe_emails_the_customer_after_a_declined_retry_only_below_the_threshold(
    tier: str, account: Account, attempts: int, stripe_emails: bool
) -> None:
    case = _case(
        State.RETRYING,
        tier=tier,
        manual_attempts=attempts,
        failures=attempts + 2,
        email_prepared_at="x",
        actions=(_action("netsuite.revenue.hold"),),
    )
    decision = _decide(
        case,
        _outcome("stripe.invoice.pay", result={"outcome": "declined", "code": "card_declined"}),
        account,
    )
    sends = [a.attempt for a in decision.actions if a.kind == "stripe.invoice.send"]
    assert sends == ([attempts] if stripe_emails else [])


@pytest.mark.parametrize(
    ("tier", "account", "state", "queue"),
    [
        ("high_value", HIGH, State.ESCALATED, "senior_revops_manager"),
        ("standard", LOW, State.EXHAUSTED, "billing_analyst"),
    ],
)
def test_after_the_third_failed_attempt(
    tier: str, account: Account, state: State, queue: str
) -> None:
    case = _case(
        State.RETRYING,
        tier=tier,
        manual_attempts=3,
        failures=5,
        email_prepared_at="x",
        actions=(_action("netsuite.revenue.hold"),),
    )
    decision = _decide(
        case,
        _outcome("stripe.invoice.pay", result={"outcome": "declined", "code": "card_declined"}),
        account,
    )
    assert decision.state == state and decision.queue == queue
    assert decision.next_action_at is None
    assert "netsuite.revenue.resume" not in _kinds(decision)  # recognition stays held


# -- the personal email -------------------------------------------------------------------------


@pytest.mark.parametrize(("gated", "role"), [(True, "revops_manager"), (False, None)])
def test_the_email_is_composed_once_the_portal_link_exists(gated: bool, role: str | None) -> None:
    case = _case(State.PREPARING_EMAIL, tier="high_value", reason="the card on file was declined")
    policy = Policy(high_value_email_requires_approval=gated)
    decision = _decide(
        case,
        _outcome(
            "stripe.portal_link.create", result={"url": "https://billing.stripe.com/p/session/x"}
        ),
        HIGH,
        policy,
    )
    [email] = decision.actions
    assert email.kind == "email.send" and email.requires_role == role
    assert email.params["from"] == {"name": "Maya Lindqvist", "email": "maya@ourco.example"}
    assert email.params["to"] == [{"name": "Dana Reyes", "email": "dana.reyes@acme.example"}]
    assert email.params["cc"] == [{"name": "Felix Nordstrom", "email": "felix@ourco.example"}]
    assert "https://billing.stripe.com/p/session/x" in email.params["body"]
    assert decision.state == (State.AWAITING_APPROVAL if gated else State.PREPARING_EMAIL)


def test_suppression_is_rechecked_right_before_the_email() -> None:
    case = _case(State.PREPARING_EMAIL, tier="high_value")
    decision = _decide(
        case,
        _outcome(
            "stripe.portal_link.create", result={"url": "https://billing.stripe.com/p/session/x"}
        ),
        replace(HIGH, dunning_suppressed=False),
    )
    assert _kinds(decision) == ["stripe.customer.suppress_dunning"]
    assert decision.data == {"portal_url": "https://billing.stripe.com/p/session/x"}


@pytest.mark.parametrize(
    ("account", "missing"),
    [
        (replace(HIGH, ap_contact=None), "accounts-payable contact"),
        # Seed 002: "the relationship owner copied" — not an email without the copy.
        (replace(HIGH, relationship_owner=None), "relationship owner"),
    ],
)
def test_no_ap_contact_or_owner_no_email_a_person_takes_over(
    account: Account, missing: str
) -> None:
    case = _case(
        State.PREPARING_EMAIL, tier="high_value", portal_url="https://billing.stripe.com/p/x"
    )
    decision = _decide(case, _outcome("stripe.customer.suppress_dunning"), account)
    assert decision.state == State.ESCALATED and decision.actions == ()
    assert decision.explanation == f"no {missing} on record: the personal email cannot go out"


def test_the_sent_email_is_logged_and_the_next_retry_is_three_days_after_it() -> None:
    sent = "2026-03-05T15:00:00+00:00"  # Thursday
    params = {
        "from": {"email": "maya@ourco.example"},
        "to": [{"email": "dana.reyes@acme.example"}],
        "cc": [{"email": "felix@ourco.example"}],
        "subject": "s",
        "body": "b",
    }
    decision = _decide(
        _case(State.AWAITING_APPROVAL, tier="high_value"),
        _outcome("email.send", result={"sent_at": sent}, params=params),
        HIGH,
    )
    [log] = decision.actions
    assert log.kind == "netsuite.customer.log_message"
    assert log.params["sent_at"] == sent
    assert (log.params["author"], log.params["recipient"]) == (
        "maya@ourco.example",
        "dana.reyes@acme.example",
    )
    assert decision.state == State.RETRYING
    assert _local(decision.next_action_at) == (date(2026, 3, 11), "09:00")  # Mon, Tue, Wed


def test_a_promise_moves_the_next_retry_to_the_morning_after() -> None:
    decision = _decide(
        _case(State.RETRYING, manual_attempts=1),
        Signal("promise", WEDNESDAY, promised_date=date(2026, 3, 12)),
        HIGH,
    )
    assert decision.state == State.PROMISED
    assert _local(decision.next_action_at) == (date(2026, 3, 16), "09:00")  # Fri paused


# -- recovery and contradictions ----------------------------------------------------------------


def test_a_payment_recovers_restores_dunning_and_resumes_on_the_settlement_date() -> None:
    case = _case(
        State.RETRYING,
        tier="high_value",
        manual_attempts=1,
        actions=(_action("netsuite.revenue.hold"), _action("stripe.customer.suppress_dunning")),
    )
    paid = replace(HIGH, invoice_status="paid", settled_on=date(2026, 3, 6))
    decision = _decide(case, Signal("invoice_paid", WEDNESDAY), paid)
    assert decision.state == State.RECOVERED and decision.cancel_pending
    assert _kinds(decision) == ["stripe.customer.restore_dunning", "netsuite.revenue.resume"]
    resume = decision.actions[1]
    assert _local(resume.not_before) == (date(2026, 3, 6), "00:00")
    assert resume.params == {"customer": "101", "reason": "dunning"}


def test_the_customer_returns_to_the_pipeline_reports_with_recognition() -> None:
    case = _case(
        State.RETRYING,
        actions=(
            _action("netsuite.revenue.hold"),
            _action("netsuite.customer.exclude_from_pipeline"),
        ),
    )
    paid = replace(LOW, invoice_status="paid", settled_on=date(2026, 3, 6))
    decision = _decide(case, Signal("invoice_paid", WEDNESDAY), paid)
    assert _kinds(decision) == ["netsuite.revenue.resume", "netsuite.customer.include_in_pipeline"]
    assert decision.actions[0].not_before == decision.actions[1].not_before
    # Still excluded while another invoice of the customer is in dunning.
    other = replace(paid, other_failed_invoices=("in_acme_2",))
    assert _decide(case, Signal("invoice_paid", WEDNESDAY), other).actions == ()


def test_a_hold_never_applied_needs_no_resume() -> None:
    case = _case(State.RETRYING, actions=(_action("netsuite.revenue.hold", "proposed"),))
    decision = _decide(case, Signal("invoice_paid", WEDNESDAY), replace(LOW, invoice_status="paid"))
    assert decision.actions == () and decision.cancel_pending  # the pending hold is cancelled


def test_recognition_stays_held_while_another_invoice_is_in_dunning() -> None:
    case = _case(State.RETRYING, actions=(_action("netsuite.revenue.hold"),))
    paid = replace(LOW, invoice_status="paid", other_failed_invoices=("in_acme_2",))
    assert "netsuite.revenue.resume" not in _kinds(
        _decide(case, Signal("invoice_paid", WEDNESDAY), paid)
    )


def test_the_last_invoice_out_of_dunning_lifts_the_hold_another_case_left_it() -> None:
    """The case that held recognition recovered while this invoice (another subscription) was
    still failing, and left the hold for it. This one never held (the hold was in place):
    paid, it lifts the hold and brings the customer back to the pipeline reports — without it,
    recognition would stay held for good."""
    case = _case(State.RETRYING)
    paid = replace(LOW, invoice_status="paid", settled_on=date(2026, 3, 6), recognition_held=True)
    decision = _decide(case, Signal("invoice_paid", WEDNESDAY), paid)
    assert _kinds(decision) == ["netsuite.revenue.resume", "netsuite.customer.include_in_pipeline"]
    assert "recognition resumes" in decision.explanation
    still = replace(paid, other_failed_invoices=("in_acme_3",))
    assert _kinds(_decide(case, Signal("invoice_paid", WEDNESDAY), still)) == []
    not_held = replace(paid, recognition_held=False)
    assert _kinds(_decide(case, Signal("invoice_paid", WEDNESDAY), not_held)) == []


def test_an_invoice_voided_while_recognition_is_held_says_the_hold_stays() -> None:
    case = _case(State.RETRYING, actions=(_action("netsuite.revenue.hold"),))
    decision = _decide(case, Signal("other", WEDNESDAY), replace(LOW, invoice_status="void"))
    assert (decision.state, decision.queue) == (State.ESCALATED, "billing_analyst")
    assert decision.explanation.endswith(
        "recognition stays held for dunning (and the customer out of the pipeline reports) "
        "until the billing analyst releases it"
    )


def test_a_failure_after_recovery_is_a_counted_contradiction() -> None:
    decision = _decide(_case(State.RECOVERED, contradictions=1), _failed(2), None)
    assert decision.state is None and decision.actions == ()
    assert decision.data == {"contradictions": 2}
    assert decision.contradiction  # and counted in revline_contradictions_total


def test_a_failure_reported_for_an_invoice_already_paid_resolves_to_recovered() -> None:
    decision = _decide(_case(), _failed(1), replace(HIGH, invoice_status="paid"))
    assert decision.state == State.RECOVERED
    assert decision.data["contradictions"] == 1 and decision.contradiction


def test_a_payment_after_exhaustion_still_recovers() -> None:
    case = _case(State.EXHAUSTED, actions=(_action("netsuite.revenue.hold"),))
    decision = _decide(
        case,
        Signal("invoice_paid", WEDNESDAY),
        replace(LOW, invoice_status="paid", settled_on=date(2026, 3, 20)),
    )
    assert decision.state == State.RECOVERED
    assert _kinds(decision) == ["netsuite.revenue.resume"]


def test_a_new_card_after_a_hard_decline_gets_one_retry() -> None:
    case = _case(State.NEEDS_CARD_UPDATE, card_at_failure="pm_old")
    decision = _decide(case, Signal("timer", WEDNESDAY), replace(LOW, card_on_file="pm_new"))
    assert [(a.kind, a.attempt) for a in decision.actions] == [
        ("stripe.invoice.pay", "card-pm_new")
    ]
    unchanged = _decide(case, Signal("timer", WEDNESDAY), LOW)
    assert unchanged.actions == () and unchanged.next_action_at is not None


def test_the_case_kind_allows_recovery_from_every_open_state() -> None:
    kind = FailedPaymentRecovery.case_kind
    for state in State:
        if state is not State.RECOVERED:
            kind.check(state, State.RECOVERED)
    assert kind.terminal == {State.RECOVERED, State.EXHAUSTED}


# -- a person rejects the personal email ---------------------------------------------------------


def _rejected() -> Signal:
    return Signal(
        "outcome",
        WEDNESDAY,
        action_kind="email.send",
        action_status="cancelled",
        error="rejected by user:maya: I will call Dana myself",
    )


@pytest.mark.parametrize(
    ("case", "state", "due"),
    [
        # Retries go on, three cadence days from the rejection (Wed → Thu, Mon, Tue).
        (
            _case(State.AWAITING_APPROVAL, tier="high_value", manual_attempts=1),
            State.RETRYING,
            (date(2026, 3, 10), "09:00"),
        ),
        # A hard decline goes back to waiting for a new card, looked for the next morning.
        (
            _case(State.AWAITING_APPROVAL, tier="high_value", hard_decline=True),
            State.NEEDS_CARD_UPDATE,
            (date(2026, 3, 5), "09:00"),
        ),
    ],
)
def test_a_rejected_email_goes_to_her_queue_and_the_case_moves_on(
    case: CaseView, state: State, due: tuple[date, str]
) -> None:
    decision = _decide(case, _rejected(), HIGH)
    assert (decision.state, decision.queue) == (state, "senior_revops_manager")
    assert _local(decision.next_action_at) == due
    assert decision.data["email_rejected"] == "rejected by user:maya: I will call Dana myself"
    assert decision.actions == ()  # nothing is sent, and Stripe's dunning stays suppressed


def test_a_rejected_email_after_the_last_retry_leaves_the_retry_loop() -> None:
    case = _case(State.AWAITING_APPROVAL, tier="high_value", manual_attempts=3)
    decision = _decide(case, _rejected(), HIGH)
    assert (decision.state, decision.queue) == (State.ESCALATED, "senior_revops_manager")
    assert decision.next_action_at is None


def test_a_rejected_email_keeps_a_promised_date() -> None:
    case = _case(State.PROMISED, tier="high_value", manual_attempts=1)
    decision = _decide(case, _rejected(), HIGH)
    assert decision.state is None and decision.queue == "senior_revops_manager"
    assert decision.next_action_at is KEEP


# -- a new card, reported by Stripe ---------------------------------------------------------------


def _customer_updated(previous: Mapping[str, Any]) -> EventView:
    return EventView(
        id=7,
        source="stripe",
        external_id="evt_1",
        type="customer.updated",
        occurred_at=WEDNESDAY,
        received_at=WEDNESDAY,
        payload={
            "type": "customer.updated",
            "data": {"object": {"id": "cus_acme"}, "previous_attributes": previous},
        },
    )


def test_a_new_default_card_wakes_the_customers_cases_waiting_for_one() -> None:
    ref = FailedPaymentRecovery().case_for(
        _customer_updated({"invoice_settings": {"default_payment_method": "pm_old"}})
    )
    assert ref is not None and not ref.opens
    assert (ref.customer, ref.wakes) == ("cus_acme", {State.NEEDS_CARD_UPDATE})
    # Another change to the customer (its email, its metadata) concerns no case.
    assert FailedPaymentRecovery().case_for(_customer_updated({"email": "old@x"})) is None
