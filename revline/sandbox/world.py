"""A simulated company wired to a real Revline.

The simulators of Stripe, NetSuite, Ramp and a mail server run on loopback; Revline runs its
real API (webhooks arrive over HTTP, signed), its real adapters and its worker, on a simulated
clock. ``World`` seeds the company and enacts happenings through the simulators' own APIs, the
way the real services would change under a customer's or a bank's hand.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

from pydantic import SecretStr, ValidationError

from revline.api.app import create_app
from revline.clock import SimulatedClock
from revline.config import Mail, Person, Policy, Ramp, Settings, load_settings
from revline.core import auth, inbox
from revline.core.runtime import Runtime, Worker, from_settings
from revline.db.migrate import upgrade
from revline.playbooks.cash.rerun import rerun_payout_day
from revline.providers.mail.sim import MailSimulator
from revline.providers.netsuite.sim import NetSuiteSimulator
from revline.providers.netsuite.sim.books import UNDEPOSITED_FUNDS
from revline.providers.ramp.sim import RampSimulator
from revline.providers.simulator import LoopbackServer
from revline.providers.stripe.sim import StripeSimulator
from revline.providers.stripe.sim.errors import StripeApiError
from revline.providers.stripe.sim.state import CARD_SUCCEEDS, CardOutcome
from revline.sandbox.scenario import (
    CardUpdated,
    CustomerReplies,
    DuplicateInvoice,
    Happening,
    InvalidScenario,
    OrphanPayment,
    Payment,
    PaymentFails,
    PaymentSucceeds,
    Payout,
    PayoutRerun,
    RampTransaction,
    Refund,
    SaasContractApproved,
    Scenario,
    UndepositedFundsCorrection,
    UndepositedFundsEntry,
    fee_schedule,
)

APPROVER = "sandbox-approver"
RERUNNER = "sandbox-billing-analyst"  # who reruns a morning's payout reconciliation
SANDBOX_SOURCE = "sandbox"
GL_ACCOUNTS = [
    ("6610", "Software & SaaS"),
    ("6200", "Travel"),
    ("6300", "Meals"),
    ("6100", "Rent & Facilities"),
    ("6500", "Cloud Hosting"),
]


@dataclass
class Later:
    """Something the world does by itself later: Stripe's Smart Retry, a payout arriving."""

    at: datetime
    what: str
    run: Any = field(compare=False)


class World:
    """Simulators plus Revline, seeded with the scenario's company."""

    def __init__(
        self, scenario: Scenario, workdir: Path, *, seed: int = 0, config: Path | None = None
    ) -> None:
        self.scenario = scenario
        self.clock = SimulatedClock(scenario.start)
        currency = scenario.company.currency
        self.currency = currency.lower()
        self.stripe = StripeSimulator(self.clock, seed, faults=scenario.faults)
        self.netsuite = NetSuiteSimulator(
            self.clock, seed=seed, faults=scenario.faults, timezone=scenario.company.timezone
        )
        self.ramp_credentials = ("revline-sandbox", f"ramp-sandbox-secret-{seed}")
        self.ramp = RampSimulator(
            self.clock,
            seed,
            *self.ramp_credentials,
            faults=scenario.faults,
            currency=currency.upper(),
        )
        self.mail = MailSimulator(faults=scenario.faults)
        self.later: list[Later] = []
        self.customers: dict[str, dict[str, str]] = {}  # scenario id → provider ids
        self.invoices: dict[str, str] = {}  # Stripe invoice id → NetSuite invoice id
        self.unrecorded: set[str] = set()  # Stripe invoices the connector misses when paid
        self.cardholders: dict[str, str] = {}  # scenario cardholder → Ramp user id
        # scenario entry id → its journal lines (account number, signed minor units)
        self.journal_entries: dict[str, list[tuple[str, int]]] = {}
        self._started = False
        workdir.mkdir(parents=True, exist_ok=True)
        self.database = workdir / "revline.db"
        for stale in workdir.glob("revline.db*"):
            stale.unlink()
        self.settings = self._settings(workdir, config)

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> World:
        for sim in (self.stripe, self.netsuite, self.ramp, self.mail):
            sim.start()
        self.settings = self.settings.model_copy(update=self._provider_settings())
        self.runtime: Runtime = from_settings(self.settings, clock=self.clock)
        upgrade(self.runtime.db)
        self.api = LoopbackServer(create_app(self.runtime)).start()
        self.stripe.webhooks.endpoint = f"{self.api.url}/webhooks/stripe"
        self.ramp.webhooks.endpoint = f"{self.api.url}/webhooks/ramp"
        self.worker = Worker(self.runtime, "sandbox")
        with self.runtime.db.write() as session:
            auth.create_token(session, name=APPROVER, role="admin", now=self.clock.now())
        self._mirror_payments_into_netsuite()
        self._seed()
        self._started = True
        return self

    def stop(self) -> None:
        if not self._started:
            return
        self.api.stop()
        for sim in (self.stripe, self.netsuite, self.ramp, self.mail):
            sim.stop()
        self.runtime.db.dispose()
        self._started = False

    def __enter__(self) -> World:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- settings -------------------------------------------------------------------------

    def _settings(self, workdir: Path, config: Path | None) -> Settings:
        company = self.scenario.company
        base = load_settings(config, database_url=f"sqlite:///{self.database}")
        try:
            policy = Policy.model_validate({**base.policy.model_dump(), **self.scenario.policy})
        except ValidationError as exc:
            where = "; ".join(
                f"policy.{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
            )
            raise InvalidScenario(f"invalid scenario: {where}") from exc
        return base.model_copy(
            update={
                "company": base.company.model_copy(
                    update={
                        "name": company.name,
                        "timezone": company.timezone,
                        "holiday_country": company.holiday_country,
                        "holiday_subdivision": company.holiday_subdivision,
                        "currency": self.currency,
                        # model_copy does not validate: build the Person records here.
                        "people": {
                            k: Person.model_validate(v.model_dump())
                            for k, v in company.people.items()
                        },
                    }
                ),
                "policy": policy,
                "default_playbook_mode": self.scenario.mode,
                "playbook_modes": {},
            }
        )

    def _provider_settings(self) -> dict[str, Any]:
        netsuite = self.netsuite.settings()
        return {
            "stripe_api_key": SecretStr(self.stripe.api_key),
            "stripe_api_base": self.stripe.url,
            "stripe_webhook_secret": SecretStr(self.stripe.webhook_secret),
            "ramp_webhook_secret": SecretStr(self.ramp.webhook_secret),
            "netsuite": netsuite,
            "ramp": Ramp(
                api_base=self.ramp.url,
                client_id=SecretStr(self.ramp_credentials[0]),
                client_secret=SecretStr(self.ramp_credentials[1]),
            ),
            "mail": Mail(host=self.mail.host, port=self.mail.port, starttls=False),
        }

    # -- the company ----------------------------------------------------------------------

    def _seed(self) -> None:
        as_of = self.runtime.calendar.business_date(self.scenario.start)
        books = self.netsuite.books
        for customer in self.scenario.customers:
            stripe_customer = self.stripe.state.create_customer(
                customer.email, customer.name, metadata={"revline_scenario_id": customer.id}
            )
            owner = customer.relationship_owner
            ap = customer.ap_contact
            ns_customer = books.add_customer(
                customer.name,
                customer.email,
                stripe_customer_id=stripe_customer["id"],
                currency=self.currency.upper(),
                relationship_owner=(owner.name, owner.email) if owner else None,
                ap_contact=(ap.name, ap.email) if ap else None,
            )
            if customer.mrr_trailing_3m:
                books.add_invoice_history(
                    ns_customer,
                    customer.mrr_trailing_3m,
                    as_of=as_of,
                    stripe_subscription_id=customer.subscription.id
                    if customer.subscription
                    else None,
                )
            self.customers[customer.id] = {"stripe": stripe_customer["id"], "netsuite": ns_customer}
        state = self.ramp.state
        for code, name in GL_ACCOUNTS:
            state.add_gl_account(code, name)
        department = state.add_department("Operations")
        team_owner = state.add_user(
            "Team",
            "Owner",
            "team.owner@ourco.example",
            department_id=department.id,
            role="BUSINESS_ADMIN",
        )
        for happening in self.scenario.happenings:
            if (
                isinstance(happening, RampTransaction)
                and happening.cardholder not in self.cardholders
            ):
                name = happening.cardholder
                user = state.add_user(
                    name.title(),
                    "Cardholder",
                    f"{name}@ourco.example",
                    department_id=department.id,
                    manager_id=team_owner.id,
                )
                self.cardholders[name] = user.id

    def _mirror_payments_into_netsuite(self) -> None:
        """What the company's Stripe→NetSuite connector does: a paid invoice becomes a customer
        payment in Undeposited Funds, carrying the Stripe charge id."""
        queue = self.stripe.state.on_event

        def on_event(event: dict[str, Any]) -> None:
            if queue is not None:
                queue(event)
            if event["type"] != "invoice.paid":
                return
            invoice = event["data"]["object"]
            ns_invoice = self.invoices.get(invoice["id"])
            if (
                ns_invoice is None
                or invoice["amount_paid"] == 0
                or invoice["id"] in self.unrecorded
            ):
                return
            self.netsuite.books.record_customer_payment(
                ns_invoice,
                amount=invoice["amount_paid"],
                stripe_charge_id=self._charge_of(invoice["id"]),
                on=self.runtime.calendar.business_date(self.clock.now()),
            )

        self.stripe.state.on_event = on_event

    def _charge_of(self, invoice_id: str) -> str | None:
        state = self.stripe.state
        for payment in state.newest_first("invoice_payment"):
            if payment["invoice"] == invoice_id and payment["status"] == "paid":
                intent = payment["payment"].get("payment_intent")
                if intent:
                    return str(state.get("payment_intent", intent)["latest_charge"])
        return None

    def _invoice(
        self,
        customer: str,
        stripe_id: str | None,
        number: str | None,
        amount: int,
        subscription: bool = True,
    ) -> str:
        ids = self.customers[customer]
        found = self.scenario_customer(customer).subscription
        invoice = self.stripe.state.create_invoice(
            ids["stripe"],
            amount,
            self.currency,
            invoice_id=stripe_id,
            number=number,
            subscription=found.id if subscription and found else None,
        )
        self.invoices[invoice["id"]] = self.netsuite.books.add_invoice(
            ids["netsuite"],
            amount,
            number=number or invoice["number"],
            stripe_invoice_id=invoice["id"],
            stripe_subscription_id=found.id if subscription and found else None,
        )
        return str(invoice["id"])

    def scenario_customer(self, customer: str) -> Any:
        return next(c for c in self.scenario.customers if c.id == customer)

    # -- happenings -----------------------------------------------------------------------

    def enact(self, happening: Happening) -> str:
        """Make a happening true in the simulators; returns a line for the run's log."""
        state = self.stripe.state
        at = happening.at
        if isinstance(happening, PaymentFails):
            ids = self.customers[happening.customer]
            state.set_card(ids["stripe"], CardOutcome.fails(happening.code, happening.decline_code))
            invoice = self._invoice(
                happening.customer, happening.invoice, happening.invoice_number, happening.amount
            )
            state.attempt_payment(invoice)
            recovers = happening.smart_retry_recovers
            self.later.append(
                Later(
                    at + happening.smart_retry_after,
                    f"Smart Retry of {invoice}",
                    lambda: state.smart_retry(invoice, CARD_SUCCEEDS if recovers else None),
                )
            )
            return f"{invoice}: the charge failed ({happening.code})"
        if isinstance(happening, CardUpdated):
            state.card_updated(self.customers[happening.customer]["stripe"])
            return f"{happening.customer} updated the card on file"
        if isinstance(happening, PaymentSucceeds):
            return self._payment_succeeds(happening)
        if isinstance(happening, CustomerReplies):
            return self._customer_replies(happening)
        if isinstance(happening, Payment):
            invoice = self._invoice(
                happening.customer, happening.invoice, happening.invoice_number, happening.amount
            )
            if not happening.recorded_in_netsuite:
                self.unrecorded.add(invoice)
            state.attempt_payment(invoice, CARD_SUCCEEDS)
            return f"{invoice}: paid by card"
        if isinstance(happening, Payout):
            payout: dict[str, Any] | None
            if happening.manual_amount is not None:
                payout = state.create_manual_payout(
                    happening.manual_amount, happening.arrival, self.currency
                )
            else:
                fees = fee_schedule(happening.fee_rate)
                payout = state.create_payout(happening.arrival, fees, self.currency)
            if payout is None:
                return "payout: nothing available to pay out"
            arrival = datetime.fromtimestamp(payout["arrival_date"], tz=at.tzinfo)
            self.later.append(
                Later(max(arrival, at), f"payout {payout['id']} arrives", state.settle_payouts)
            )
            return f"payout {payout['id']} of {payout['amount']} created"
        if isinstance(happening, PayoutRerun):
            rerun_payout_day(self.runtime, happening.date, f"user:{RERUNNER}")
            return f"the payout reconciliation of {happening.date} run again"
        if isinstance(happening, OrphanPayment):
            if happening.meant_for_invoice and happening.email_typo_of:
                self.netsuite.books.add_invoice(
                    self.customers[happening.email_typo_of]["netsuite"],
                    happening.amount,
                    number=happening.meant_for_invoice,
                )
            payment = state.orphan_payment(
                happening.email, happening.amount, self.currency, via=happening.via
            )
            return f"orphan payment {payment.charge['id']} from {happening.email}"
        if isinstance(happening, Refund):
            return self._refund(happening)
        if isinstance(happening, DuplicateInvoice):
            return self._duplicate_invoice(happening)
        if isinstance(happening, RampTransaction):
            transaction = self.ramp.state.add_transaction(
                self.cardholders[happening.cardholder],
                happening.merchant,
                happening.amount,
                receipt=happening.receipt,
                line_items=[
                    {"amount": i.amount, "memo": i.description} for i in happening.line_items
                ],
                at=at,
            )
            return f"Ramp transaction {transaction.id} at {happening.merchant}"
        if isinstance(happening, SaasContractApproved):
            return self._sandbox_event("saas_contract.approved", happening)
        if isinstance(happening, UndepositedFundsEntry | UndepositedFundsCorrection):
            return self._journal_entry(happening)
        raise AssertionError(f"unhandled happening {happening!r}")

    def _payment_succeeds(self, happening: PaymentSucceeds) -> str:
        """The customer pays by bank transfer (out of band) or by card on the invoice's hosted
        page: now, or — ``during_retry`` — as Revline's next manual retry reaches Stripe."""
        state = self.stripe.state
        invoice_id = happening.invoice or self._open_invoice(happening.customer)
        pay: Callable[[str], object] = (
            state.pay_out_of_band if happening.via == "bank_transfer" else state.pay_on_invoice_page
        )
        route = happening.via.replace("_", " ")
        if happening.during_retry:
            state.before_next_pay(invoice_id, partial(pay, invoice_id))
            return f"{invoice_id}: to be paid by {route} as Revline's next manual retry arrives"
        pay(invoice_id)
        return f"{invoice_id}: paid by {route}"

    def _open_invoice(self, customer: str) -> str:
        stripe_customer = self.customers[customer]["stripe"]
        for invoice in self.stripe.state.newest_first("invoice"):
            if invoice["customer"] == stripe_customer and invoice["status"] == "open":
                return str(invoice["id"])
        raise InvalidScenario(f"payment_succeeds: {customer} has no open invoice")

    def _refund(self, happening: Refund) -> str:
        """Someone refunds the charge that paid an invoice, in the Stripe dashboard: the refund
        leaves the balance and reaches the next payout as a line of its own."""
        state = self.stripe.state
        paid_by = self.customers[happening.customer]["stripe"]
        charge = self._charge_of(happening.invoice)
        if charge is None or state.get("charge", charge)["customer"] != paid_by:
            raise InvalidScenario(
                f"refund: {happening.invoice} is not an invoice {happening.customer} paid by card"
            )
        try:
            refund = state.create_refund(charge, amount=happening.amount, reason=happening.reason)
        except StripeApiError as exc:
            raise InvalidScenario(f"refund of {happening.invoice}: {exc.message}") from exc
        return f"{happening.invoice}: {refund['amount']} refunded ({happening.reason})"

    def _duplicate_invoice(self, happening: DuplicateInvoice) -> str:
        """Two NetSuite invoices for one obligation, and the customer paid both through Stripe."""
        state = self.stripe.state
        kept = self._invoice(
            happening.customer,
            None,
            happening.kept_invoice_number,
            happening.amount,
            subscription=False,
        )
        duplicate = self._invoice(
            happening.customer,
            None,
            happening.duplicate_invoice_number,
            happening.amount,
            subscription=False,
        )
        told = (
            f"{happening.customer}: {happening.duplicate_invoice_number} duplicates "
            f"{happening.kept_invoice_number}"
        )
        if happening.kept_paid_at is not None:
            state.attempt_payment(duplicate, CARD_SUCCEEDS)
            self.later.append(
                Later(
                    happening.kept_paid_at,
                    f"{happening.kept_invoice_number} paid after its copy",
                    lambda: state.attempt_payment(kept, CARD_SUCCEEDS),
                )
            )
            return f"{told}; the copy paid first"
        state.attempt_payment(kept, CARD_SUCCEEDS)
        state.attempt_payment(duplicate, CARD_SUCCEEDS)
        return f"{told}; both paid"

    def _journal_entry(self, happening: UndepositedFundsEntry | UndepositedFundsCorrection) -> str:
        """Someone in finance keys a journal entry against Undeposited Funds, or reverses one
        with a correcting entry (dated in the month it corrects, when ``on`` says so)."""
        books = self.netsuite.books
        on = happening.on or self.runtime.calendar.business_date(happening.at)
        if isinstance(happening, UndepositedFundsEntry):
            account = books.row(
                "SELECT acctnumber FROM account WHERE id = ?",
                (books.account_id(UNDEPOSITED_FUNDS),),
            )
            assert account is not None
            lines = [
                (str(account["acctnumber"]), happening.amount),
                (happening.offset_account, -happening.amount),
            ]
            self.journal_entries[happening.id] = lines
            memo = happening.memo or f"hand-keyed entry {happening.id}"
        else:
            lines = [(number, -amount) for number, amount in self.journal_entries[happening.entry]]
            memo = happening.memo or f"correction of {happening.entry}"
        entry = books.add_journal_entry(lines, on=on, memo=memo, currency=self.currency.upper())
        return f"journal entry {entry} on {on.isoformat()}: {memo}"

    def _customer_replies(self, happening: CustomerReplies) -> str:
        """A reply in the customer's own words reaches the team as a sandbox event, which the
        billing playbook turns into a promise-to-pay (the API's promise endpoint does the same
        for a person typing it in)."""
        return self._sandbox_event(
            "customer.replied",
            happening,
            extra={
                "stripe_customer": self.customers[happening.customer]["stripe"],
                # The reply is about the invoice in dunning: the case is found by it.
                "invoice": happening.invoice or self._open_invoice(happening.customer),
                "promised_date": happening.promised_date.isoformat(),
            },
        )

    def _sandbox_event(
        self, type_: str, happening: Happening, extra: dict[str, Any] | None = None
    ) -> str:
        payload = {"type": type_, **happening.model_dump(mode="json"), **(extra or {})}
        external_id = f"{type_}:{happening.at.isoformat()}:{len(self.later)}"
        with self.runtime.db.write() as session:
            inbox.record(
                session,
                [
                    inbox.IncomingEvent(
                        SANDBOX_SOURCE, external_id, type_, happening.at, copy.deepcopy(payload)
                    )
                ],
                self.clock.now(),
            )
        return f"{type_} recorded"

    # -- lookups for the report -----------------------------------------------------------

    def scenario_id_of(self, provider_id: str | None) -> str | None:
        """Scenario-local customer name for a Stripe or NetSuite customer id (or itself)."""
        if provider_id is None:
            return None
        for scenario_id, ids in self.customers.items():
            if provider_id in ids.values() or provider_id == scenario_id:
                return scenario_id
        return provider_id

    def customer_of_email(self, address: str) -> str | None:
        address = address.lower()
        for customer in self.scenario.customers:
            emails = {customer.email.lower()}
            if customer.ap_contact:
                emails.add(customer.ap_contact.email.lower())
            if address in emails:
                return customer.id
        return None
