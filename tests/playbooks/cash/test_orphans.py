"""The orphan investigation's search and proposal, with providers faked in the test."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta

import pytest

from revline.clock import SimulatedClock
from revline.config import Company, Person, Policy
from revline.core.inbox import EventView
from revline.core.playbook import Decision, Enrichment, Facts, Trigger
from revline.playbooks.cash.flags import ORPHAN_FLAGGED
from revline.playbooks.cash.orphans import APPLY_MATCH, OrphanPaymentInvestigation
from revline.providers.netsuite import NetSuiteAdapter
from revline.providers.netsuite.records import (
    Customer,
    CustomerEmail,
    CustomerPayment,
    Invoice,
    InvoiceStatus,
)
from revline.providers.netsuite.sim import NetSuiteSimulator
from revline.providers.stripe.errors import StripeRequestError
from revline.providers.stripe.records import Charge
from revline.providers.stripe.records import Customer as StripeCustomer
from revline.reconcile.emails import search_key
from tests.providers.netsuite.conftest import FAST_RETRY
from tests.support.cases import case_view
from tests.support.events import finding
from tests.support.stripe_records import succeeded_charge

AT = datetime(2026, 12, 4, 13, tzinfo=UTC)
ON_FILE = [
    CustomerEmail("7", "Acme Corp", "billing@acme.example", "customer"),
    CustomerEmail("7", "Acme Corp", "Dana.Reyes@acme.example", "contact"),
    CustomerEmail("8", "Bluefin Labs", "ap@bluefin.example", "customer"),
]


def _charge(email: str) -> Charge:
    return succeeded_charge("ch_orphan", 42_000, AT, billing_email=email)


@dataclass
class FakeStripe:
    charge: Charge
    customers: dict[str, StripeCustomer] = field(default_factory=dict)

    def get_charge(self, charge_id: str) -> Charge:
        assert charge_id == self.charge.id
        return self.charge

    def get_customer(self, customer_id: str) -> StripeCustomer:
        if customer_id not in self.customers:  # as the adapter answers a deleted customer
            raise StripeRequestError(
                f"Stripe customer {customer_id} was deleted",
                retryable=False,
                status=404,
                provider_code="resource_missing",
            )
        return self.customers[customer_id]


def open_invoice(amount: int = 42_000, remaining: int = 42_000, customer: str = "7") -> Invoice:
    return Invoice(
        id="12",
        number="INV-2026-1350",
        customer_id=customer,
        amount=amount,
        amount_remaining=remaining,
        currency="USD",
        status=InvoiceStatus.OPEN,
        date=date(2026, 11, 20),
        stripe_invoice_id=None,
        stripe_charge_id=None,
        stripe_subscription_id=None,
        memo=None,
    )


@dataclass
class FakeNetSuite:
    """Answers a search as NetSuite does: the addresses whose key is among those asked for."""

    on_file: list[CustomerEmail] = field(default_factory=lambda: ON_FILE)
    by_stripe_id: dict[str, Customer] = field(default_factory=dict)  # the stable-ID mapping
    invoices: list[Invoice] = field(default_factory=lambda: [open_invoice()])
    recorded: list[CustomerPayment] = field(default_factory=list)  # with the charge's id
    searched: list[set[str]] = field(default_factory=list)

    def customer_payments_by_charge(self, charge_id: str) -> list[CustomerPayment]:
        return [p for p in self.recorded if p.stripe_charge_id == charge_id]

    def customer_emails(self, keys: Iterable[str]) -> list[CustomerEmail]:
        asked = set(keys)
        self.searched.append(asked)
        return [e for e in self.on_file if search_key(e.email) in asked]

    def customer_by_stripe_id(self, stripe_customer_id: str) -> Customer | None:
        return self.by_stripe_id.get(stripe_customer_id)

    def open_invoices(self, customer_id: str) -> list[Invoice]:
        return [invoice for invoice in self.invoices if invoice.customer_id == customer_id]


def _investigate(
    payer: str,
    trigger: Trigger | None = None,
    charge: Charge | None = None,
    netsuite: FakeNetSuite | None = None,
    state: str = "investigating",
    stripe_customers: dict[str, StripeCustomer] | None = None,
) -> tuple[Decision, FakeNetSuite]:
    """The decision on a payment by ``payer`` (or on ``charge``), when its flag arrives or on
    ``trigger``, with NetSuite holding ``ON_FILE`` and one open $420.00 invoice of Acme's
    unless ``netsuite`` says otherwise."""
    trigger = trigger or Trigger("event", AT)
    netsuite = netsuite or FakeNetSuite()
    enrichment = Enrichment(
        clock=SimulatedClock(trigger.at),
        calendar=Company().calendar(),
        company=Company(people={"ar_specialist": Person(name="Priya Nair", email="p@o.example")}),
        adapters={
            "stripe": FakeStripe(charge or _charge(payer), stripe_customers or {}),
            "netsuite": netsuite,
        },
    )
    case = case_view("orphan_payment", "ch_orphan", state, AT, id="cas_3")
    playbook = OrphanPaymentInvestigation()
    facts = playbook.enrich(case, trigger, enrichment)
    return playbook.decide(case, facts, Policy(), trigger.at), netsuite


def test_an_email_exactly_on_file_is_found_and_its_match_proposed() -> None:
    # Paid on Tuesday evening in New York (Wednesday in UTC); investigated on Friday.
    paid = datetime(2026, 12, 2, 3, 30, tzinfo=UTC)
    tuesday = succeeded_charge("ch_orphan", 42_000, paid, billing_email="dana.reyes@acme.example")
    decision, netsuite = _investigate("dana.reyes@acme.example", charge=tuesday)
    # NetSuite was searched for the variants of the payer's email, not read whole.
    (keys,) = netsuite.searched
    assert search_key("dana.reyes@acme.example") in keys
    assert (decision.state, decision.queue) == ("match_proposed", "ar_specialist")
    assert decision.data["evidence"] == [
        "payer email dana.reyes@acme.example is on file as Dana.Reyes@acme.example "
        "(Acme Corp, NetSuite customer 7)"
    ]
    assert decision.data["proposed_customer"] == "7"
    (apply,) = decision.actions
    assert (apply.kind, apply.params) == (
        APPLY_MATCH,
        # Dated the day Dana paid, not the day the match is applied.
        {
            "invoice": "12",
            "charge": "ch_orphan",
            "amount": 42_000,
            "currency": "USD",
            "date": "2026-12-01",
        },
    )
    # Applied as every orphan match is: once the AR specialist approves it.
    assert apply.requires_role == "ar_specialist"
    assert apply.approval_reason is not None and "is on file as" in apply.approval_reason


def test_a_mistyped_email_is_found_by_the_search_for_its_variants() -> None:
    decision, _ = _investigate("dnaa.reyes@acme.example")
    assert decision.state == "match_proposed"
    assert decision.data["evidence"] == [
        "payer email dnaa.reyes@acme.example is a typo of Dana.Reyes@acme.example "
        "(Acme Corp, NetSuite customer 7)"
    ]


@pytest.mark.parametrize(
    ("amount", "remaining", "proposed"),
    [
        (42_000, 10_000, False),  # $420.00 invoiced, $100.00 left: it cannot take the payment
        (84_000, 42_000, True),  # $840.00 invoiced, half paid: the $420.00 left is the payment
    ],
)
def test_the_invoice_proposed_is_one_that_still_owes_the_payment(
    amount: int, remaining: int, proposed: bool
) -> None:
    netsuite = FakeNetSuite(invoices=[open_invoice(amount, remaining)])
    decision, _ = _investigate("dana.reyes@acme.example", netsuite=netsuite)
    assert decision.state == "match_proposed"
    assert bool(decision.data["proposed_invoices"]) is proposed
    assert [a.kind for a in decision.actions] == ([APPLY_MATCH] if proposed else [])


@pytest.mark.parametrize(
    ("payer", "on_file"),
    [
        # One outsourced AP mailbox on file for two customers.
        ("ap@payables.example", ["ap@payables.example", "ap@payables.example"]),
        # One letter from two customers' addresses.
        ("jon@acme.example", ["joan@acme.example", "john@acme.example"]),
    ],
)
def test_a_payer_as_like_two_customers_is_a_persons_choice(payer: str, on_file: list[str]) -> None:
    netsuite = FakeNetSuite(
        on_file=[
            CustomerEmail("7", "Acme Corp", on_file[0], "contact"),
            CustomerEmail("9", "Zephyr Ltd", on_file[1], "contact"),
        ],
        invoices=[open_invoice(customer="7"), open_invoice(customer="9")],
    )
    decision, _ = _investigate(payer, netsuite=netsuite)
    assert decision.state == "match_proposed"
    assert len(decision.data["evidence"]) == 2
    assert decision.data["proposed_customer"] is None
    assert decision.actions == ()
    assert decision.explanation.endswith(
        "the payer's email fits several customers as well: the AR specialist chooses"
    )


def test_an_address_nobody_has_explains_nothing() -> None:
    decision, _ = _investigate("someone@unknown.example")
    assert decision.state is None
    assert decision.actions == ()
    assert decision.next_action_at == datetime(2026, 12, 4, 13, 10, tzinfo=UTC)


def test_the_cardholder_is_asked_about_the_payment_on_the_day_the_company_saw_it() -> None:
    """Paid at 22:30 in New York on Tuesday 1 December, 03:30 UTC on the 2nd: the email quotes
    the 1st, the date the company's books give the payment."""
    paid = datetime(2026, 12, 2, 3, 30, tzinfo=UTC)
    evening = succeeded_charge("ch_orphan", 42_000, paid, billing_email="someone@unknown.example")
    asked = Trigger("timer", paid + timedelta(minutes=10))
    decision, _ = _investigate("someone@unknown.example", asked, evening)
    (email,) = decision.actions
    assert email.params["subject"] == "Your payment of $420.00 on 2026-12-01"
    assert "We received your card payment of $420.00 on 2026-12-01 " in email.params["body"]


# Monday 7 December, an hour after the 08:00 run in New York.
AFTER_MONDAYS_RUN = datetime(2026, 12, 7, 14, tzinfo=UTC)


@pytest.mark.parametrize("state", ["investigating", "match_proposed", "awaiting_cardholder"])
@pytest.mark.parametrize("kind", ["timer", "manual"])
def test_a_payment_netsuite_records_otherwise_closes_the_case(state: str, kind: str) -> None:
    """Recorded from its invoice by a later morning, or by the AR specialist with the charge
    id: nothing is left to find, and the match still waiting for approval is withdrawn."""
    recorded = CustomerPayment(
        id="5010",
        number=None,
        customer_id="7",
        amount=42_000,
        currency="USD",
        undeposited=True,
        date=date(2026, 12, 4),
        applied_invoices=("12",),
        stripe_charge_id="ch_orphan",
    )
    netsuite = FakeNetSuite(recorded=[recorded])
    looked = Trigger(kind, AFTER_MONDAYS_RUN)
    decision, _ = _investigate("dana.reyes@acme.example", looked, netsuite=netsuite, state=state)
    assert (decision.state, decision.queue, decision.next_action_at, decision.actions) == (
        "resolved",
        None,
        None,
        (),
    )
    assert decision.cancel_pending == "NetSuite records the payment (customer payment 5010)"


def test_a_proposed_match_is_looked_at_again_after_each_working_morning() -> None:
    proposed, _ = _investigate("dana.reyes@acme.example")
    assert proposed.next_action_at == AFTER_MONDAYS_RUN
    # Monday's look: nothing recorded yet, nothing proposed or sent again.
    monday, _ = _investigate(
        "dana.reyes@acme.example", Trigger("timer", AFTER_MONDAYS_RUN), state="match_proposed"
    )
    assert (monday.state, monday.actions) == (None, ())
    assert monday.next_action_at == datetime(2026, 12, 8, 14, tzinfo=UTC)


def test_after_the_cardholder_is_asked_the_case_waits_for_the_books_and_asks_no_one_twice() -> None:
    asked, _ = _investigate("someone@unknown.example", Trigger("timer", AT + timedelta(minutes=10)))
    assert (asked.state, [a.kind for a in asked.actions]) == ("awaiting_cardholder", ["email.send"])
    assert asked.next_action_at == AFTER_MONDAYS_RUN
    monday, _ = _investigate(
        "someone@unknown.example", Trigger("timer", AFTER_MONDAYS_RUN), state="awaiting_cardholder"
    )
    assert (monday.state, monday.actions) == (None, ())
    assert monday.explanation.startswith("NetSuite records no payment for charge ch_orphan yet")


def _found_again(voided: list[str]) -> Trigger:
    """The morning's flag of a payment found an orphan again after ``voided`` were voided."""
    payload = {"charge": "ch_orphan", "amount": 42_000, "currency": "usd", "voided": voided}
    flag = finding(ORPHAN_FLAGGED, "orphan_payment:ch_orphan:after", AFTER_MONDAYS_RUN, payload)
    return Trigger("event", AFTER_MONDAYS_RUN, flag)


def test_an_orphan_found_again_goes_to_the_ar_specialist_and_no_one_is_asked_twice() -> None:
    """Its recorded payment was voided by a person: nothing else explains it now, so the case
    waits with the AR specialist, looking at the books after each morning; no email goes."""
    reopened, _ = _investigate("someone@unknown.example", _found_again(["5001"]), state="resolved")
    assert (reopened.state, reopened.queue, reopened.actions) == (
        "investigating",
        "ar_specialist",
        (),
    )
    assert reopened.explanation.startswith(
        "the payment is an orphan again: customer payment 5001 recorded for it was voided"
    )
    assert reopened.data["voided"] == ["5001"]
    assert reopened.next_action_at == datetime(2026, 12, 8, 14, tzinfo=UTC)


def test_an_orphan_found_again_proposes_its_match_anew() -> None:
    reopened, _ = _investigate("dana.reyes@acme.example", _found_again(["5001"]), state="resolved")
    assert reopened.state == "match_proposed"
    (apply,) = reopened.actions
    assert (apply.kind, apply.attempt) == (APPLY_MATCH, "after-voided-5001")


def test_a_look_before_the_morning_run_keeps_that_mornings_recheck() -> None:
    """A proposed match waits for the look after Monday's run (09:00). The AR specialist asks
    at 07:00 on Monday, before the run: the case still looks again on Monday at 09:00, not on
    Tuesday."""
    early = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)  # 07:00 in New York
    decision, _ = _investigate(
        "dana.reyes@acme.example", Trigger("manual", early), state="match_proposed"
    )
    assert decision.next_action_at == datetime(2026, 12, 7, 14, 0, tzinfo=UTC)


def test_a_charge_without_an_email_is_searched_by_its_stripe_customers_email() -> None:
    """A saved card paying in the portal: the charge carries no billing or receipt email. The
    customer's email is pulled from Stripe, its variants searched in NetSuite, and the
    cardholder written to there."""
    portal = succeeded_charge("ch_orphan", 42_000, AT, customer="cus_9")
    on_stripe = {"cus_9": StripeCustomer("cus_9", "dana.reyes@acme.example", "Acme", AT)}
    decision, netsuite = _investigate("", charge=portal, stripe_customers=on_stripe)
    (keys,) = netsuite.searched
    assert search_key("dana.reyes@acme.example") in keys
    assert (decision.state, decision.data["proposed_customer"]) == ("match_proposed", "7")
    none_on_file = FakeNetSuite(on_file=[])
    later = datetime(2026, 12, 4, 13, 11, tzinfo=UTC)
    asked, _ = _investigate(
        "", Trigger("timer", later), portal, none_on_file, stripe_customers=on_stripe
    )
    (email,) = asked.actions
    assert email.params["to"] == ["dana.reyes@acme.example"]


def test_a_charge_of_a_stripe_customer_mapped_in_netsuite_proposes_that_customer() -> None:
    """The charge's Stripe customer is on a NetSuite customer (``custentity_stripe_customer_id``,
    the stable-ID mapping): that customer is the cause, whatever the payer's email says, and its
    one open invoice owing the amount is the match proposed."""
    portal = succeeded_charge(
        "ch_orphan", 42_000, AT, customer="cus_bluefin", billing_email="someone@gmail.example"
    )
    bluefin = Customer(
        id="8",
        entity_id="CUST-8",
        company_name="Bluefin Labs",
        email="ap@bluefin.example",
        stripe_customer_id="cus_bluefin",
        currency="USD",
        relationship_owner=None,
    )
    netsuite = FakeNetSuite(
        by_stripe_id={"cus_bluefin": bluefin}, invoices=[open_invoice(customer="8")]
    )
    decision, _ = _investigate("someone@gmail.example", charge=portal, netsuite=netsuite)
    assert (decision.state, decision.data["proposed_customer"]) == ("match_proposed", "8")
    assert decision.data["evidence"] == [
        "the charge's Stripe customer cus_bluefin is NetSuite customer 8 (Bluefin Labs), by the "
        "Stripe customer id on file"
    ]
    (match,) = decision.actions
    assert (match.kind, match.params["invoice"]) == (APPLY_MATCH, "12")


def test_two_invoices_raised_for_the_charge_the_copy_is_voided_not_credited() -> None:
    """Acme was invoiced twice for one thing (same amount and description, two days apart) and
    paid once: the payment settles the invoice that stands, and the copy is voided — a void,
    never a credit memo — and taken out of the recognition schedule, each once the AR
    specialist approves. Two open invoices of different things stay hers to choose between."""
    kept = replace(open_invoice(), id="12", number="INV-2026-1350", memo="Onboarding")
    copy = replace(kept, id="13", number="INV-2026-1351", date=date(2026, 11, 22))
    decision, _ = _investigate(
        "dana.reyes@acme.example", netsuite=FakeNetSuite(invoices=[copy, kept])
    )
    assert decision.state == "match_proposed"
    assert [(a.kind, a.subject, a.params.get("invoice")) for a in decision.actions] == [
        (APPLY_MATCH, "ch_orphan", "12"),
        ("netsuite.invoice.void", "13", "13"),
        ("netsuite.revenue.exit", "13", "13"),
    ]
    void, exit_ = decision.actions[1:]
    assert void.params == {"invoice": "13", "unapply_payments": False}
    assert exit_.params == {"invoice": "13", "reason": "duplicate"}
    assert {a.requires_role for a in decision.actions} == {"ar_specialist"}
    assert decision.data["evidence"][-1] == (
        "INV-2026-1351 copies INV-2026-1350 (dated 2026-11-20): one obligation invoiced more "
        "than once; the payment settles INV-2026-1350, and INV-2026-1351 is voided and taken "
        "out of the recognition schedule"
    )
    other = replace(copy, memo="Training")
    undecided, _ = _investigate(
        "dana.reyes@acme.example", netsuite=FakeNetSuite(invoices=[other, kept])
    )
    assert (undecided.state, undecided.actions) == ("match_proposed", ())
    assert [i["number"] for i in undecided.data["proposed_invoices"]] == [
        "INV-2026-1351",
        "INV-2026-1350",
    ]


def test_a_portal_charge_of_a_deleted_stripe_customer_has_no_one_to_write_to() -> None:
    portal = succeeded_charge("ch_orphan", 42_000, AT, customer="cus_gone")
    later = datetime(2026, 12, 4, 13, 11, tzinfo=UTC)
    decision, netsuite = _investigate("", Trigger("timer", later), portal)
    assert netsuite.searched == []
    assert (decision.state, decision.actions) == ("awaiting_cardholder", ())
    assert decision.explanation.startswith("no cause found and no address to write to")


def test_a_stripe_customer_on_two_netsuite_customers_leaves_the_email_to_decide() -> None:
    """Two NetSuite customers carry the charge's Stripe customer id (an old record never
    cleaned up): the mapping names no one, the email search goes ahead, and the case says
    why the id on file was not taken."""
    clock = SimulatedClock(AT)
    with NetSuiteSimulator(clock, seed=3) as sim:
        acme = sim.books.add_customer("Acme Corp", "ap@acme.example", stripe_customer_id="cus_a")
        sim.books.add_customer("Acme Corp (old)", "old@acme.example", stripe_customer_id="cus_a")
        sim.books.add_invoice(acme, 42_000, number="INV-2026-1350")
        charge = succeeded_charge(
            "ch_orphan", 42_000, AT, customer="cus_a", billing_email="ap@acme.example"
        )
        with NetSuiteAdapter(sim.settings(), clock=clock, retry=FAST_RETRY) as netsuite:
            enrichment = Enrichment(
                clock=clock,
                calendar=Company().calendar(),
                company=Company(people={"ar_specialist": Person(name="P", email="p@o.example")}),
                adapters={"stripe": FakeStripe(charge), "netsuite": netsuite},
            )
            case = case_view("orphan_payment", "ch_orphan", "investigating", AT, id="cas_3")
            playbook = OrphanPaymentInvestigation()
            facts = playbook.enrich(case, Trigger("event", AT), enrichment)
            decision = playbook.decide(case, facts, Policy(), AT)
    assert (decision.state, decision.data["proposed_customer"]) == ("match_proposed", acme)
    assert decision.data["evidence"][0].startswith("payer email ap@acme.example is on file")
    assert decision.data["stripe_customer_on_file"].startswith(
        "several NetSuite customers (1000, 1001) carry Stripe customer cus_a"
    )


def test_a_copys_void_failing_after_the_match_is_the_ar_specialists() -> None:
    """The match applied and resolved the case; the copy's void then failed (NetSuite refused
    it): the copy stays open in receivables, and the case goes back to the AR specialist's
    queue. A copy step done changes nothing."""
    playbook = OrphanPaymentInvestigation()
    for state in ("resolved", "match_proposed"):
        case = case_view("orphan_payment", "ch_orphan", state, AT, id="cas_3")
        failed = EventView(
            1,
            "revline",
            "outcome:act_void",
            "action.failed",
            AT,
            AT,
            {
                "kind": "netsuite.invoice.void",
                "subject": "13",
                "status": "failed",
                "error": "the invoice has a payment applied",
            },
        )
        trigger = Trigger("action", AT, event=failed)
        decision = playbook.decide(case, Facts(trigger), Policy(), AT)
        assert decision.queue == "ar_specialist", state
        assert decision.explanation == (
            "netsuite.invoice.void of 13 failed (the invoice has a payment applied): the copy is "
            "the AR specialist's to settle"
        )
        applied = replace(failed, payload={**failed.payload, "status": "applied"})
        done = playbook.decide(case, Facts(Trigger("action", AT, event=applied)), Policy(), AT)
        assert (done.state, done.actions) == (None, ())
