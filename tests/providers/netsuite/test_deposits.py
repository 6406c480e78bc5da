"""A payout's deposit: payments out of Undeposited Funds, the fee on its own line to 6700-8."""

from __future__ import annotations

from decimal import Decimal

import pytest

from revline.clock import SimulatedClock
from revline.providers.base import ActionRequest, Handlers, ProviderError
from revline.providers.netsuite import NetSuiteAdapter, register
from revline.providers.netsuite.deposits import DepositLineRequest, DepositRequest
from revline.providers.netsuite.sim import BooksError, NetSuiteSimulator
from tests.providers.netsuite.conftest import FAST_RETRY, Acme, handler_of

GROSS = 1_250_000
FEE = 36_280  # 2.9 % + 30¢


@pytest.fixture
def paid(sim: NetSuiteSimulator, acme: Acme) -> str:
    return sim.books.record_customer_payment(acme.invoice, stripe_charge_id="ch_acme_1")


@pytest.fixture
def deposit_handler(adapter: NetSuiteAdapter) -> Handlers:
    handlers = Handlers()
    register(handlers, adapter)
    return handlers


def _request(
    params: dict[str, object], key: str = "cash:netsuite.deposit.create:po_1:1"
) -> ActionRequest:
    return ActionRequest("act_1", "netsuite.deposit.create", "po_1", params, key, 1)


def _payout(lines: list[dict[str, object]], amount: int = GROSS - FEE) -> dict[str, object]:
    return {"payout": "po_1", "amount": amount, "currency": "usd", "lines": lines}


PAYOUT_LINES: list[dict[str, object]] = [
    {"type": "payment", "amount": GROSS, "reference": "ch_acme_1"},
    {"type": "fee", "amount": -FEE, "reference": "txn_fee_1"},
]


def test_the_fee_is_its_own_line_to_6700_8_never_netted(
    sim: NetSuiteSimulator, deposit_handler: Handlers, paid: str
) -> None:
    handler = deposit_handler.get("netsuite.deposit.create")
    assert handler is not None
    assert sim.books.undeposited_funds_balance() == GROSS
    result = handler(_request(_payout(PAYOUT_LINES)))
    assert result["total"] == GROSS - FEE and result["replayed"] is False
    assert result["lines"] == [
        {"sublist": "payment", "amount": GROSS, "account": None, "payment": paid},
        {"sublist": "cashback", "amount": -FEE, "account": "6700-8", "payment": None},
    ]
    [deposit] = sim.books.deposits()
    assert deposit.id == result["deposit"] and deposit.stripe_payout_id == "po_1"
    assert sum(line.amount for line in deposit.lines) == deposit.total == GROSS - FEE
    assert sim.books.undeposited_funds_balance() == 0
    assert sim.books.balance("Bank") == GROSS - FEE
    assert sim.books.balance("Expense") == FEE
    assert [p.undeposited for p in sim.books.customer_payments()] == [False]


def test_one_deposit_per_payout_whatever_the_key(
    sim: NetSuiteSimulator, deposit_handler: Handlers, paid: str
) -> None:
    handler = deposit_handler.get("netsuite.deposit.create")
    assert handler is not None
    first = handler(_request(_payout(PAYOUT_LINES)))
    again = handler(_request(_payout(PAYOUT_LINES)))
    other_key = handler(_request(_payout(PAYOUT_LINES), key="someone:else:po_1:2"))
    assert again["deposit"] == other_key["deposit"] == first["deposit"]
    assert (again["replayed"], other_key["replayed"]) == (True, True)
    assert len(sim.books.deposits()) == 1
    assert [r.method for r in sim.requests if r.path.endswith("/record/v1/deposit")] == ["POST"]


@pytest.mark.parametrize(
    ("lines", "amount", "code"),
    [
        (PAYOUT_LINES, GROSS - FEE + 1, "lines_do_not_sum"),
        (
            [{"type": "payment", "amount": GROSS, "reference": "ch_acme_1"}],
            GROSS - FEE,
            "lines_do_not_sum",
        ),
        (
            [{"type": "payment", "amount": 12_500.0, "reference": "ch_acme_1"}],
            12_500,
            "invalid_deposit",
        ),
        ([{"type": "refund", "amount": -FEE}, *PAYOUT_LINES[:1]], GROSS - FEE, "invalid_deposit"),
        ([{"type": "tip", "amount": 1}], 1, "invalid_deposit"),
    ],
    ids=["off-by-a-cent", "fee-left-out", "float-amount", "refund-without-account", "unknown-type"],
)
def test_lines_that_cannot_be_right_are_refused_before_anything_is_sent(
    sim: NetSuiteSimulator,
    deposit_handler: Handlers,
    paid: str,
    lines: list[dict[str, object]],
    amount: int,
    code: str,
) -> None:
    handler = deposit_handler.get("netsuite.deposit.create")
    assert handler is not None
    before = len(sim.requests)
    with pytest.raises(ProviderError) as caught:
        handler(_request(_payout(lines, amount)))
    assert (caught.value.retryable, caught.value.provider_code) == (False, code)
    assert len(sim.requests) == before
    assert sim.books.deposits() == []


def test_a_payment_line_must_match_the_payment_in_netsuite(
    sim: NetSuiteSimulator, deposit_handler: Handlers, paid: str
) -> None:
    handler = deposit_handler.get("netsuite.deposit.create")
    assert handler is not None
    lines = [
        {"type": "payment", "amount": GROSS - 100, "reference": "ch_acme_1"},
        {"type": "fee", "amount": -FEE, "reference": "txn_fee_1"},
    ]
    with pytest.raises(ProviderError) as caught:
        handler(_request(_payout(lines, GROSS - 100 - FEE)))
    assert caught.value.provider_code == "payment_mismatch" and not caught.value.retryable
    unknown = [{"type": "payment", "amount": GROSS - FEE, "reference": "ch_nobody"}]
    with pytest.raises(ProviderError) as caught:
        handler(_request(_payout(unknown)))
    assert caught.value.provider_code == "no_payment"
    assert sim.books.deposits() == []


def test_refunds_and_adjustments_are_lines_of_their_own(
    sim: NetSuiteSimulator, adapter: NetSuiteAdapter, acme: Acme, paid: str
) -> None:
    handlers = Handlers()
    register(handlers, adapter)
    handler = handlers.get("netsuite.deposit.create")
    assert handler is not None
    lines = [
        *PAYOUT_LINES,
        {"type": "refund", "amount": -20_000, "account": "4090", "reference": "re_1"},
        {"type": "adjustment", "amount": 1_500, "account": "6710", "reference": "txn_adj"},
    ]
    result = handler(_request(_payout(lines, GROSS - FEE - 20_000 + 1_500)))
    assert [(line["sublist"], line["account"]) for line in result["lines"]] == [
        ("payment", None),
        ("other", "6710"),
        ("cashback", "6700-8"),
        ("cashback", "4090"),
    ]
    assert adapter.deposit(str(result["deposit"])) == sim.books.deposits()[0]


def test_a_payout_in_another_currency_is_deposited_to_that_currencys_bank_account(
    sim: NetSuiteSimulator, clock: SimulatedClock
) -> None:
    """Stripe settles euros into the company's euro account: a EUR payout's deposit goes to the
    bank account named for EUR, a USD payout's to the default, whatever order they come in."""
    books = sim.books
    books.add_account("1010", "Operating Bank EUR", "Bank", currency="EUR")
    customer = books.add_customer("Fjord Analytics", "ap@fjord.example", currency="EUR")
    invoice = books.add_invoice(customer, 90_000, number="INV-2026-1500", stripe_charge_id="ch_eu")
    books.record_customer_payment(invoice, stripe_charge_id="ch_eu")
    usd = books.add_customer("Acme Corp", "billing@acme.example")
    books.record_customer_payment(
        books.add_invoice(usd, 50_000, number="INV-2026-1501", stripe_charge_id="ch_us"),
        stripe_charge_id="ch_us",
    )
    with NetSuiteAdapter(
        sim.settings(),
        clock=clock,
        retry=FAST_RETRY,
        bank_account="1000",
        bank_accounts={"eur": "1010"},
    ) as adapter:
        handler = handler_of(adapter, "netsuite.deposit.create")
        for payout, currency, charge, amount in (
            ("po_eu", "eur", "ch_eu", 90_000),
            ("po_us", "usd", "ch_us", 50_000),
        ):
            lines = [{"type": "payment", "amount": amount, "reference": charge}]
            params = {"payout": payout, "amount": amount, "currency": currency, "lines": lines}
            key = f"cash:netsuite.deposit.create:{payout}:1"
            handler(
                ActionRequest(f"act_{payout}", "netsuite.deposit.create", payout, params, key, 1)
            )
        booked = {d.stripe_payout_id: d.bank_account_number for d in books.deposits()}
    assert booked == {"po_eu": "1010", "po_us": "1000"}


def test_a_deposit_is_in_its_bank_accounts_currency(
    sim: NetSuiteSimulator, clock: SimulatedClock, acme: Acme
) -> None:
    """A EUR payout of a Stripe adjustment alone is a EUR deposit in the EUR account, and the
    same action again finds it; the EUR account takes no USD payment."""
    sim.books.add_account("1010", "Operating Bank EUR", "Bank", currency="EUR")
    usd_payment = sim.books.record_customer_payment(acme.invoice, stripe_charge_id="ch_acme_1")
    with NetSuiteAdapter(
        sim.settings(), clock=clock, retry=FAST_RETRY, bank_accounts={"EUR": "1010"}
    ) as adapter:
        handler = handler_of(adapter, "netsuite.deposit.create")
        lines = [{"type": "adjustment", "amount": 5_000, "account": "6710", "reference": "txn_1"}]
        params = {"payout": "po_eu", "amount": 5_000, "currency": "eur", "lines": lines}
        request = ActionRequest("act_1", "netsuite.deposit.create", "po_eu", params, "k-eu", 1)
        first = handler(request)
        assert handler(request) == {**first, "replayed": True}
        (deposit,) = adapter.deposits_for_payout("po_eu")
        assert (deposit.bank_account_number, deposit.total, deposit.currency) == (
            "1010",
            5_000,
            "EUR",
        )
        usd = [{"type": "payment", "amount": GROSS, "reference": "ch_acme_1"}]
        into_eur = {"payout": "po_x", "amount": GROSS, "currency": "usd", "lines": usd}
        with pytest.raises(ProviderError) as refused:
            handler(
                ActionRequest(
                    "act_2",
                    "netsuite.deposit.create",
                    "po_x",
                    {**into_eur, "bank_account": "1010"},
                    "k-x",
                    1,
                )
            )
    # Refused before anything is sent; NetSuite itself would refuse it too.
    assert str(refused.value).startswith("bank account 1010 holds EUR, not USD: name a USD")
    assert not refused.value.retryable
    assert usd_payment in {p.id for p in sim.books.customer_payments() if p.undeposited}
    eur_account = int(sim.books.row("SELECT id FROM account WHERE acctnumber = '1010'")["id"])
    with pytest.raises(BooksError, match="takes EUR payments only"):
        sim.books.create_deposit(
            bank_account=eur_account, payments=[(int(usd_payment), None)], other=[], cashback=[]
        )


@pytest.mark.parametrize(
    ("named", "refusal"),
    [
        ("1011", "bank account 1011, named for EUR deposits, holds GBP"),
        ("1012", "bank account 1012 is inactive in NetSuite"),
    ],
)
def test_a_deposit_account_in_another_currency_or_inactive_is_refused_before_posting(
    sim: NetSuiteSimulator, clock: SimulatedClock, named: str, refusal: str
) -> None:
    """Settings naming the sterling account for euros, or an account closed since, stop the
    deposit with the reason, for a person: nothing is posted to the wrong account."""
    sim.books.add_account("1011", "Operating Bank GBP", "Bank", currency="GBP")
    sim.books.add_account("1012", "Old Operating Bank EUR", "Bank", currency="EUR")
    sim.books.inactivate_account("1012")
    with NetSuiteAdapter(
        sim.settings(), clock=clock, retry=FAST_RETRY, bank_accounts={"EUR": named}
    ) as adapter:
        handler = handler_of(adapter, "netsuite.deposit.create")
        lines = [{"type": "adjustment", "amount": 5_000, "account": "6710", "reference": "txn_1"}]
        params = {"payout": "po_eu", "amount": 5_000, "currency": "eur", "lines": lines}
        with pytest.raises(ProviderError) as refused:
            handler(ActionRequest("act_1", "netsuite.deposit.create", "po_eu", params, "k", 1))
    assert refusal in str(refused.value)
    assert not refused.value.retryable
    assert sim.books.deposits() == []


def _eur_adjustment(payout: str, account: str = "6710") -> DepositRequest:
    line = DepositLineRequest("adjustment", 5_000, account=account, reference="txn_1")
    return DepositRequest(payout=payout, amount=5_000, currency="EUR", lines=(line,))


def test_an_account_made_inactive_while_revline_runs_is_refused_with_that_reason(
    sim: NetSuiteSimulator, clock: SimulatedClock
) -> None:
    """The worker's adapter lives for days; the chart is read again for every deposit."""
    sim.books.add_account("1015", "Operating Bank EUR", "Bank", currency="EUR")
    with NetSuiteAdapter(
        sim.settings(), clock=clock, retry=FAST_RETRY, bank_accounts={"EUR": "1015"}
    ) as adapter:
        adapter.create_deposit(_eur_adjustment("po_monday"), idempotency_key="k1")
        sim.books.inactivate_account("1015")  # Tuesday: the controller retires the account
        with pytest.raises(ProviderError) as refused:
            adapter.create_deposit(_eur_adjustment("po_tuesday"), idempotency_key="k2")
    assert str(refused.value) == "bank account 1015 is inactive in NetSuite"
    assert [d.stripe_payout_id for d in sim.books.deposits()] == ["po_monday"]


def test_an_inactive_gl_account_on_a_line_is_refused_by_revline_and_by_netsuite(
    sim: NetSuiteSimulator, adapter: NetSuiteAdapter
) -> None:
    sim.books.inactivate_account("6710")
    with pytest.raises(ProviderError) as refused:
        adapter.create_deposit(
            DepositRequest(
                payout="po_1",
                amount=5_000,
                currency="USD",
                lines=(DepositLineRequest("adjustment", 5_000, account="6710", reference="t"),),
            ),
            idempotency_key="k",
        )
    assert str(refused.value) == "GL account 6710 is inactive in NetSuite"
    inactive = int(sim.books.row("SELECT id FROM account WHERE acctnumber = '6710'")["id"])
    with pytest.raises(BooksError, match="Invalid account reference"):
        sim.books.create_deposit(
            bank_account=1, payments=[], other=[(inactive, Decimal("50.00"), None)], cashback=[]
        )
    assert sim.books.deposits() == []


@pytest.mark.parametrize(
    ("default", "held"), [("1011", "GBP"), ("1000", "USD")], ids=["third", "base"]
)
def test_a_payout_in_a_currency_with_no_account_of_its_own_is_refused(
    sim: NetSuiteSimulator, clock: SimulatedClock, default: str, held: str
) -> None:
    """No EUR account is named: the euros are not booked into the sterling default account, nor
    into the dollar one (the base currency), where NetSuite would convert them at the day's
    rate into money that never reached that account — Stripe paid them into a euro account."""
    sim.books.add_account("1011", "Operating Bank GBP", "Bank", currency="GBP")
    with (
        NetSuiteAdapter(
            sim.settings(), clock=clock, retry=FAST_RETRY, bank_account=default
        ) as adapter,
        pytest.raises(ProviderError) as refused,
    ):
        adapter.create_deposit(_eur_adjustment("po_eu"), idempotency_key="k")
    assert str(refused.value) == (
        f"bank account {default} holds {held}, not EUR: name a EUR account in deposit_bank_accounts"
    )
    assert sim.books.deposits() == []
