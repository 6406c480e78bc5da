"""The close report's renderings, on reports built here: the Markdown and the workbook carry the
same facts, money is never added across currencies, and no text breaks a table or a sheet."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from io import BytesIO
from typing import Any

import pytest
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet

from revline.playbooks.cash.close import RecordedExplanation
from revline.playbooks.cash.close_holds import DunningCase, HeldCustomer
from revline.playbooks.cash.close_report import CloseReport, VarianceCase, markdown, workbook
from revline.playbooks.cash.tieout import ItemKind, OtherCurrency, ReconcilingItem, TieOut

NEW_YORK = "America/New_York"
SIGNED_AT = datetime(2027, 1, 7, 15, 30, tzinfo=UTC)  # 10:30 in New York


def tieout(**fields: Any) -> TieOut:
    """December as its check found it: one item, and a variance of $12.40."""
    return TieOut(
        month="2026-12",
        currency="USD",
        as_of=date(2026, 12, 31),
        balance_not_paid_out=9_680,
        payouts_in_transit=[],
        items=[
            ReconcilingItem(
                kind=ItemKind.PAYMENT_NOT_RECORDED,
                reference="ch_orphan",
                description="Stripe payment of 2026-12-30: no NetSuite customer payment",
                amount=-1_000,
                on=date(2026, 12, 30),
            )
        ],
        undeposited_funds=9_920,
        threshold=500,
        held=[],
        **fields,
    )


def held(customer: str, amount: int, currency: str, *cases: DunningCase) -> HeldCustomer:
    return HeldCustomer(
        customer=customer,
        netsuite_customer_id=f"ns_{customer}",
        stripe_customer_id=None,
        plans=[f"RP-{customer}"],
        held_amount=amount,
        currency=currency,
        held_since=datetime(2026, 12, 10, 15, tzinfo=UTC) if cases else None,
        dunning=list(cases),
    )


def dunning(invoice: str, state: str = "retrying") -> DunningCase:
    return DunningCase(
        case_id=f"case_{invoice}",
        invoice=invoice,
        tier="high_value",
        state=state,
        manual_attempts=1,
        max_manual_attempts=3,
        held_since=datetime(2026, 12, 10, 15, tzinfo=UTC),
    )


def report(**fields: Any) -> CloseReport:
    return CloseReport.model_validate(
        {
            "month": "2026-12",
            "case_id": "case_close",
            "state": "variance",
            "checked_at": datetime(2027, 1, 5, 14, tzinfo=UTC),
            "tieout": tieout(),
            "signed_off_by": None,
            "signed_off_at": None,
            "variance_case": None,
            "explanations": [],
            "held_recognition": [],
            **fields,
        }
    )


def sheets(document: CloseReport) -> dict[str, list[tuple[Any, ...]]]:
    """Every sheet of the workbook as its rows of values."""
    book = load_workbook(BytesIO(workbook(document, NEW_YORK)))
    return {name: list(book[name].iter_rows(values_only=True)) for name in book.sheetnames}


def summary(document: CloseReport) -> dict[Any, tuple[Any, ...]]:
    """The Summary sheet by label: what follows the label on its row."""
    return {row[0]: row[1:] for row in sheets(document)["Summary"] if row and row[0]}


def table(text: str, heading: str) -> list[list[str]]:
    """The rows of the table under ``heading``, split the way a GFM renderer splits them: on
    each pipe not escaped by a backslash."""
    lines = text.split(f"## {heading}\n\n", 1)[1].split("\n\n", 1)[0].splitlines()
    rows = []
    for line in lines[2:]:
        cells, cell, escaped = [], "", False
        for char in line.strip()[1:-1]:
            if char == "|" and not escaped:
                cells.append(cell.strip())
                cell = ""
            else:
                cell += char
            escaped = char == "\\" and not escaped
        rows.append([*cells, cell.strip()])
    return rows


# -- the same facts in both ----------------------------------------------------------------


def test_the_workbook_names_who_signed_off_and_when_in_company_time() -> None:
    signed = report(state="signed_off", signed_off_by="user:jonas", signed_off_at=SIGNED_AT)
    assert "Signed off by user:jonas at 2027-01-07 10:30 EST" in markdown(signed, "en_US", NEW_YORK)
    found = summary(signed)
    assert found["Signed off by"][0] == "user:jonas"
    assert found[f"Signed off at ({NEW_YORK})"][0] == datetime(2027, 1, 7, 10, 30)


@pytest.mark.parametrize(
    ("variance_case", "said", "rows"),
    [
        (
            VarianceCase(case_id="case_var", state="open", queue="fpa_analyst", resolution=None),
            "open, in the fpa_analyst queue",
            {"Variance case": ("case_var", "open"), "Variance case queue": ("fpa_analyst",)},
        ),
        (
            VarianceCase(
                case_id="case_var",
                state="corrected",
                queue=None,
                resolution={"month": "2026-12", "currency": "USD", "variance": 40},
            ),
            "corrected (the books tie: variance $0.40)",
            {"Variance case": ("case_var", "corrected"), "Variance when corrected": (0.40, "USD")},
        ),
    ],
)
def test_both_show_the_variance_case_its_state_and_how_it_was_resolved(
    variance_case: VarianceCase, said: str, rows: dict[str, tuple[Any, ...]]
) -> None:
    document = report(variance_case=variance_case)
    assert f"Variance case case_var: {said}" in markdown(document, "en_US", NEW_YORK)
    found = summary(document)
    assert {label: found[label][: len(row)] for label, row in rows.items()} == rows
    # Only the rows that say something: no queue once corrected, no resolution while open.
    absent = {"Variance case queue", "Variance when corrected"} - set(rows)
    assert not absent & set(found)


def test_the_holds_sheet_names_the_currency_of_each_amount() -> None:
    document = report(
        held_recognition=[
            held("Acme Corp", 1_250_000, "USD", dunning("in_acme_7")),
            held("Berlin GmbH", 300_000, "EUR", dunning("in_berlin_2")),
        ]
    )
    header, *rows = sheets(document)["Dunning holds"]
    assert header[2:4] == ("Amount", "Currency")
    assert [(row[0], row[2], row[3]) for row in rows] == [
        ("Acme Corp", 12_500, "USD"),
        ("Berlin GmbH", 3_000, "EUR"),
    ]


def test_a_customer_held_without_a_dunning_case_says_so_in_both() -> None:
    document = report(held_recognition=[held("Acme Corp", 1_250_000, "USD")])
    held_rows = table(markdown(document), "Customers in dunning with recognition held")
    assert held_rows[0][4] == "no dunning case"
    _, row = sheets(document)["Dunning holds"]
    assert row[5] == "no dunning case"


# -- money per currency --------------------------------------------------------------------


def test_recognition_held_is_totalled_per_currency_never_across_them() -> None:
    document = report(
        held_recognition=[
            held("Acme Corp", 1_250_000, "USD", dunning("in_acme_7"), dunning("in_acme_9")),
            held("Berlin GmbH", 300_000, "EUR", dunning("in_berlin_2")),
            held("Cairn Ltd", 50_000, "usd"),
        ]
    )
    text = markdown(document, "en_US", NEW_YORK)
    totals = table(text, "Recognition held, per currency")
    assert totals == [["EUR", "1", "€3,000.00"], ["USD", "2", "$13,000.00"]]
    assert "15,500" not in text
    found = summary(document)
    assert found["EUR"][:2] == (Decimal("3000"), 1)
    assert found["USD"][:2] == (Decimal("13000"), 2)


# -- text that would break a table or a sheet ----------------------------------------------


def test_a_pipe_or_a_line_break_in_any_cell_keeps_the_tables_whole() -> None:
    item = ReconcilingItem(
        kind=ItemKind.FEES_NOT_BOOKED,
        reference="po|2",
        description="fees | withheld\nbooked on\r\nthe deposit \\| later",
        amount=5_250,
    )
    document = report(
        tieout=tieout().model_copy(update={"items": [item]}),
        explanations=[
            RecordedExplanation(
                variance=1_240,
                note="receipt | keyed\ntwice",
                by="user:jonas",
                at=datetime(2027, 1, 5, 15, tzinfo=UTC),
            )
        ],
        held_recognition=[held("Acme | Co\nEast", 1_250_000, "USD", dunning("in|7"))],
    )
    text = markdown(document, "en_US", NEW_YORK)
    (items,) = table(text, "Reconciling items")
    assert items == [
        "fees_not_booked",
        "po\\|2",
        "",
        "$52.50",
        "fees \\| withheld booked on the deposit \\\\\\| later",
    ]
    (explained,) = table(text, "Explanations on record (they do not unblock the sign-off)")
    assert explained[1:] == ["user:jonas", "$12.40", "receipt \\| keyed twice"]
    (acme,) = table(text, "Customers in dunning with recognition held")
    assert (acme[0], acme[5]) == ("Acme \\| Co East", "in\\|7")
    assert len(acme) == 9
    # The workbook keeps the text as it is: a cell holds a pipe and a line break (XML reads
    # CR LF back as LF).
    (row,) = sheets(document)["Reconciling items"][1:]
    assert row[4] == "fees | withheld\nbooked on\nthe deposit \\| later"


def test_text_that_looks_like_a_formula_stays_text_in_the_workbook() -> None:
    item = ReconcilingItem(
        kind=ItemKind.FEES_NOT_BOOKED,
        reference='=HYPERLINK("http://x")',
        description="=1+2",
        amount=5_250,
    )
    document = report(
        tieout=tieout().model_copy(update={"items": [item]}),
        held_recognition=[held("=SUM(A1:A9)", 1_250_000, "USD")],
    )
    book = load_workbook(BytesIO(workbook(document, NEW_YORK)))
    reference, note = book["Reconciling items"]["B2"], book["Reconciling items"]["E2"]
    customer = book["Dunning holds"]["A2"]
    assert [(c.value, c.data_type) for c in (reference, note, customer)] == [
        ('=HYPERLINK("http://x")', "s"),
        ("=1+2", "s"),
        ("=SUM(A1:A9)", "s"),
    ]


def test_a_control_character_in_a_name_does_not_stop_the_workbook() -> None:
    document = report(held_recognition=[held("Acme\x0bCorp", 1_250_000, "USD")])
    book = load_workbook(BytesIO(workbook(document, NEW_YORK)))
    sheet: Worksheet = book["Dunning holds"]
    assert sheet["A2"].value == "Acme Corp"


def test_the_workbook_shows_every_amount_to_its_currency_s_minor_unit() -> None:
    """$96.80 reads $96.80 in a spreadsheet, not 96.8; yen have no minor unit."""
    document = report(
        held_recognition=[held("Tanaka KK", 12_500, "JPY", dunning("in_jp"))],
    )
    book = load_workbook(BytesIO(workbook(document, NEW_YORK)))
    amounts = {
        row[0].value: row[1]
        for row in book["Summary"].iter_rows()
        if len(row) > 1 and isinstance(row[1].value, (int, float))
    }
    shown = {label: (cell.value, cell.number_format) for label, cell in amounts.items()}
    assert shown["Stripe balance not yet paid out"] == (96.8, "#,##0.00")
    assert shown["Variance"][1] == "#,##0.00"
    assert shown["Threshold"] == (5, "#,##0.00")
    yen = [
        cell
        for row in book["Dunning holds"].iter_rows(min_row=2)
        for cell in row
        if cell.value == 12_500
    ]
    assert [cell.number_format for cell in yen] == ["#,##0"]


def test_money_in_other_currencies_has_its_own_section_and_sheet() -> None:
    other = OtherCurrency(
        reference="po_eur",
        currency="EUR",
        amount=100_000,
        amount_currency="EUR",
        description="Stripe payout in EUR, in transit at month end (arrives 2027-01-01)",
    )
    document = report(tieout=tieout(other_currencies=[other]))
    text = markdown(document, "en_US", NEW_YORK)
    assert table(
        text, "Other currencies, not walked (no exchange rate ties them: a person does)"
    ) == [["po_eur", "EUR", "€1,000.00", other.description]]
    assert sheets(document)["Other currencies"] == [
        ("Reference", "Currency", "Amount", "Amount in", "Note"),
        ("po_eur", "EUR", 1000, "EUR", other.description),
    ]
    # Without any, neither appears.
    assert "Other currencies" not in markdown(report(), "en_US", NEW_YORK)
    assert "Other currencies" not in sheets(report())
