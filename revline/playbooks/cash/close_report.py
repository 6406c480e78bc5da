"""The month-end close report: one object, read from Revline's records, three renderings.

``revline close`` and ``GET /api/close/{month}`` both build a ``CloseReport`` from the month's
close case (the tie-out of its latest check, the explanations people gave, its sign-off) and the
billing cases (the dunning context of each customer NetSuite holds recognition for), then render
it as Markdown, an XLSX workbook or JSON. A signed-off month's report is what the sign-off read:
its tie-out and the dunning context as they stood then (``close_holds``). Nothing here calls a
provider: the report is what the close decided on.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from io import BytesIO
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.worksheet.worksheet import Worksheet
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from revline.db.models import Action, ActionStatus, Case
from revline.errors import NotFound
from revline.money import Money
from revline.playbooks.cash.close import MONTH_END_CLOSE, RecordedExplanation
from revline.playbooks.cash.close_actions import SIGN_OFF
from revline.playbooks.cash.close_holds import HeldCustomer, held_customers
from revline.playbooks.cash.close_variance import CLOSE_VARIANCE
from revline.playbooks.cash.tieout import ITEM_HEADINGS, ClosePeriod, TieOut, figures


class VarianceCase(BaseModel):
    case_id: str
    state: str
    queue: str | None
    resolution: dict[str, object] | None


class CloseReport(BaseModel):
    month: str
    case_id: str
    state: str
    checked_at: datetime
    tieout: TieOut
    signed_off_by: str | None
    signed_off_at: datetime | None
    variance_case: VarianceCase | None
    # What people said about a variance, for the auditor; an explanation never signs a month.
    explanations: list[RecordedExplanation]
    held_recognition: list[HeldCustomer]


def load(session: Session, month: str, max_manual_attempts: int) -> CloseReport:
    """The report of ``month``'s close; 404 naming the month when it has none yet."""
    ClosePeriod.parse(month)
    case = session.execute(
        select(Case).where(Case.kind == MONTH_END_CLOSE.name, Case.subject == month)
    ).scalar_one_or_none()
    if case is None or "tieout" not in case.data:
        raise NotFound(f"no month-end close for {month} yet")
    # The first sign-off carried out is the month's: one approved after it signs nothing, but
    # before 2026-12-08 it could be carried out too.
    signed = (
        session.execute(
            select(Action)
            .where(
                Action.case_id == case.id,
                Action.kind == SIGN_OFF,
                Action.status == ActionStatus.APPLIED,
            )
            .order_by(Action.applied_at, Action.id)
        )
        .scalars()
        .first()
    )
    variance = session.execute(
        select(Case).where(Case.kind == CLOSE_VARIANCE.name, Case.subject == month)
    ).scalar_one_or_none()
    # A sign-off kept what it read since 2026-12-07; one carried out before kept its figures
    # only, and its month reads as the close's last check left it.
    kept = signed.result if signed is not None and "tieout" in (signed.result or {}) else None
    if kept is not None:
        tieout = figures(kept["tieout"])
        held = [HeldCustomer.model_validate(h) for h in kept["held_recognition"]]
    else:
        tieout = figures(case.data["tieout"])
        held = held_customers(session, tieout.held, max_manual_attempts)
    return CloseReport(
        month=month,
        case_id=case.id,
        state=case.state,
        checked_at=case.updated_at,
        tieout=tieout,
        signed_off_by=signed.approved_by if signed else None,
        signed_off_at=signed.applied_at if signed else None,
        variance_case=VarianceCase(
            case_id=variance.id,
            state=variance.state,
            queue=variance.queue,
            resolution=variance.data.get("resolution"),
        )
        if variance
        else None,
        explanations=[
            RecordedExplanation.model_validate(e) for e in case.data.get("explanations", [])
        ],
        held_recognition=held,
    )


def walk(report: CloseReport) -> list[tuple[str, int]]:
    """The walk's lines, in order, each with its amount: the summary both renderings show."""
    t = report.tieout
    lines = [("Stripe balance not yet paid out", t.balance_not_paid_out)]
    if t.not_placed:
        # Stripe's figure stands; a person finds the movements the walk could not.
        since = f" from {t.walked_from.isoformat()}" if t.walked_from else ""
        lines.append((f"of which not placed among the movements walked{since}", t.not_placed))
    lines += [
        ("Payouts in transit", t.in_transit_total),
        ("Stripe in-transit balance", t.stripe_in_transit),
    ]
    lines += [(f"{ITEM_HEADINGS[kind]} ({count})", total) for kind, count, total in t.subtotals()]
    lines += [
        ("Expected Undeposited Funds", t.expected_undeposited_funds),
        ("NetSuite Undeposited Funds", t.undeposited_funds),
        ("Variance", t.variance),
    ]
    return lines


def held_totals(report: CloseReport) -> list[tuple[str, int, int]]:
    """Recognition held, per currency (never added across them): (currency, customers, amount),
    by currency code."""
    customers: dict[str, int] = defaultdict(int)
    amounts: dict[str, int] = defaultdict(int)
    for h in report.held_recognition:
        currency = h.currency.upper()
        customers[currency] += 1
        amounts[currency] += h.held_amount
    return [(currency, customers[currency], amounts[currency]) for currency in sorted(amounts)]


def _resolved_variance(report: CloseReport) -> Money | None:
    """The variance the corrected books tied with, when the variance case was resolved."""
    v = report.variance_case
    if v is None or not v.resolution or "variance" not in v.resolution:
        return None
    currency = v.resolution.get("currency") or report.tieout.currency
    return Money(int(str(v.resolution["variance"])), str(currency))


def _cell(value: object) -> str:
    """Text for one Markdown table cell: a pipe escaped (a backslash run before it doubled, so
    the escape holds), every line break a space, so no text ends or splits the table."""
    text = " ".join(str(value).splitlines())
    return re.sub(r"(\\*)\|", lambda found: found.group(1) * 2 + "\\|", text)


def _row(*cells: object) -> str:
    """One Markdown table row, each cell escaped; an empty cell stays empty."""
    return "|" + "|".join(f" {_cell(c)} " if c != "" else " " for c in cells) + "|"


def _local_time(timezone: str) -> Callable[[datetime | None], str]:
    """Stored UTC times as the FP&A analyst reads them: the company's timezone, named."""
    tz = ZoneInfo(timezone)

    def local(when: datetime | None) -> str:
        return when.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z") if when else ""

    return local


def _variance_state(report: CloseReport, locale: str) -> str:
    """The variance case's state, its queue while open, the variance the books tied with once
    corrected."""
    v = report.variance_case
    assert v is not None
    said = v.state
    if v.queue:
        said += f", in the {v.queue} queue"
    resolved = _resolved_variance(report)
    if resolved is not None:
        said += f" (the books tie: variance {resolved.format(locale)})"
    return said


def markdown(report: CloseReport, locale: str = "en_US", timezone: str = "UTC") -> str:
    """The report for people; times in the company's ``timezone``. Every table cell is escaped,
    so a name or a note with a pipe or a line break stays in its cell."""
    t = report.tieout
    local = _local_time(timezone)

    def money(amount: int, currency: str = t.currency) -> str:
        return Money(amount, currency).format(locale)

    verdict = (
        f"ties within {money(t.threshold)}"
        if t.ties
        else f"does NOT tie (threshold {money(t.threshold)})"
    )
    out = [
        f"# Month-end close {report.month}",
        "",
        f"State: **{report.state}** · balances at {t.as_of.isoformat()} · the tie-out {verdict}",
    ]
    if report.signed_off_by:
        out += ["", f"Signed off by {report.signed_off_by} at {local(report.signed_off_at)}"]
    if report.variance_case:
        v = report.variance_case
        out += ["", f"Variance case {v.case_id}: {_variance_state(report, locale)}"]
    out += ["", "## The walk", "", "| | amount |", "|---|---:|"]
    out += [_row(label, money(amount)) for label, amount in walk(report)]
    out += ["", "## Reconciling items", ""]
    if t.items:
        out += ["| kind | reference | date | amount | note |", "|---|---|---|---:|---|"]
        out += [
            _row(
                item.kind.value,
                item.reference,
                item.on.isoformat() if item.on else "",
                money(item.amount),
                item.description,
            )
            for item in t.items
        ]
    else:
        out.append("None.")
    if t.other_currencies:
        out += ["", "## Other currencies, not walked (no exchange rate ties them: a person does)"]
        out += ["", "| reference | currency | amount | note |", "|---|---|---:|---|"]
        out += [
            _row(o.reference, o.currency, money(o.amount, o.amount_currency), o.description)
            for o in t.other_currencies
        ]
    if report.explanations:
        out += ["", "## Explanations on record (they do not unblock the sign-off)", ""]
        out += ["| when | by | variance | note |", "|---|---|---:|---|"]
        out += [_row(local(e.at), e.by, money(e.variance), e.note) for e in report.explanations]
    out += ["", "## Customers in dunning with recognition held", ""]
    if report.held_recognition:
        out += [
            "| customer | plans held | amount | held since | case | invoice | tier | state "
            "| attempts |",
            "|---|---|---:|---|---|---|---|---|---|",
        ]
        for h in report.held_recognition:
            held: list[object] = [
                h.customer,
                ", ".join(h.plans),
                money(h.held_amount, h.currency),
                local(h.held_since),
            ]
            if not h.dunning:
                out.append(_row(*held, "no dunning case", "", "", "", ""))
            # A customer in dunning on several invoices: one line a case, the hold's on the first.
            for case in h.dunning:
                out.append(
                    _row(
                        *held,
                        case.case_id,
                        case.invoice,
                        case.tier or "",
                        case.state,
                        f"{case.manual_attempts}/{case.max_manual_attempts}",
                    )
                )
                held = [""] * len(held)
        out += ["", "## Recognition held, per currency", ""]
        out += ["| currency | customers | held |", "|---|---:|---:|"]
        out += [
            _row(currency, customers, money(amount, currency))
            for currency, customers, amount in held_totals(report)
        ]
    else:
        out.append("None.")
    return "\n".join(out) + "\n"


def _append(sheet: Worksheet, row: Iterable[object], *, heading: bool = False) -> None:
    """One row of a sheet, text kept as text: a control character a cell cannot hold becomes a
    space, and text that reads as a formula (a customer named ``=HYPERLINK(...)``) or an error
    value stays a string, so opening the workbook never runs what a record says."""
    values = [ILLEGAL_CHARACTERS_RE.sub(" ", v) if isinstance(v, str) else v for v in row]
    sheet.append(values)
    for column, value in enumerate(values, start=1):
        cell = sheet.cell(sheet.max_row, column)
        if isinstance(value, Decimal):
            # An amount, in major units to its currency's minor digits: shown to the cent
            # ($96.80, not 96.8), or with none for a currency that has none (¥12,500).
            cell.number_format = _amount_format(value)
        if cell.data_type in ("f", "e"):
            cell.data_type = "s"
            cell.quotePrefix = True
        if heading:
            cell.font = Font(bold=True)


def _amount_format(amount: Decimal) -> str:
    exponent = amount.as_tuple().exponent
    digits = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    return "#,##0" + ("." + "0" * digits if digits else "")


def workbook(report: CloseReport, timezone: str = "UTC") -> bytes:
    """An XLSX workbook with the facts of the Markdown report: the walk, the sign-off, the
    variance case and recognition held per currency (Summary), the reconciling items, the
    explanations on record, the customers held, each amount with its currency. Amounts are in
    major units (exact decimals) so the sheets add up as a person expects; times are in the
    company's ``timezone`` (a spreadsheet cell holds no zone, so the labels name it)."""
    t = report.tieout
    tz = ZoneInfo(timezone)

    def wall(when: datetime | None) -> datetime | None:
        return when.astimezone(tz).replace(tzinfo=None) if when else None

    def major(amount: int, currency: str = t.currency) -> object:
        return Money(amount, currency).decimal

    book = Workbook()
    summary = book.active
    assert summary is not None
    summary.title = "Summary"
    _append(summary, [f"Month-end close {report.month}", f"state: {report.state}"])
    _append(summary, ["Balances at", t.as_of.isoformat()])
    _append(summary, ["Currency", t.currency])
    _append(summary, [])
    _append(summary, ["Walk", "Amount"], heading=True)
    for label, amount in walk(report):
        _append(summary, [label, major(amount)])
    _append(summary, ["Threshold", major(t.threshold)])
    _append(summary, ["Ties", "yes" if t.ties else "no"])
    if report.signed_off_by:
        _append(summary, ["Signed off by", report.signed_off_by])
        _append(summary, [f"Signed off at ({timezone})", wall(report.signed_off_at)])
    if report.variance_case:
        v = report.variance_case
        _append(summary, ["Variance case", v.case_id, v.state])
        if v.queue:
            _append(summary, ["Variance case queue", v.queue])
        resolved = _resolved_variance(report)
        if resolved is not None:
            _append(summary, ["Variance when corrected", resolved.decimal, resolved.currency])
    if report.held_recognition:
        # Per currency, never added across them; the Dunning holds sheet has each customer.
        _append(summary, [])
        _append(summary, ["Recognition held", "Amount", "Customers"], heading=True)
        for currency, customers, amount in held_totals(report):
            _append(summary, [currency, major(amount, currency), customers])
    items = book.create_sheet("Reconciling items")
    _append(items, ["Kind", "Reference", "Date", "Amount", "Note"], heading=True)
    for item in t.items:
        _append(
            items, [item.kind.value, item.reference, item.on, major(item.amount), item.description]
        )
    if t.other_currencies:
        others = book.create_sheet("Other currencies")
        _append(others, ["Reference", "Currency", "Amount", "Amount in", "Note"], heading=True)
        for o in t.other_currencies:
            _append(
                others,
                [
                    o.reference,
                    o.currency,
                    major(o.amount, o.amount_currency),
                    o.amount_currency,
                    o.description,
                ],
            )
    explained = book.create_sheet("Explanations")
    _append(explained, [f"When ({timezone})", "By", "Variance", "Note"], heading=True)
    for e in report.explanations:
        _append(explained, [wall(e.at), e.by, major(e.variance), e.note])
    held = book.create_sheet("Dunning holds")
    _append(
        held,
        [
            "Customer",
            "Plans held",
            "Amount",
            "Currency",
            f"Held since ({timezone})",
            "Case",
            "Invoice",
            "Tier",
            "State",
            "Attempts",
        ],
        heading=True,
    )
    for h in report.held_recognition:
        hold: list[object] = [
            h.customer,
            ", ".join(h.plans),
            major(h.held_amount, h.currency),
            h.currency.upper(),
            wall(h.held_since),
        ]
        if not h.dunning:
            _append(held, [*hold, "no dunning case"])
        # One row a dunning case; the hold's amount only on the first, so the column adds up
        # (per currency: filter on Currency before summing Amount).
        for case in h.dunning:
            _append(
                held,
                [
                    *hold,
                    case.case_id,
                    case.invoice,
                    case.tier,
                    case.state,
                    f"{case.manual_attempts}/{case.max_manual_attempts}",
                ],
            )
            hold = [None] * len(hold)
    for sheet in book.worksheets:
        sheet.column_dimensions["A"].width = 48
    buffer = BytesIO()
    book.save(buffer)
    return buffer.getvalue()
