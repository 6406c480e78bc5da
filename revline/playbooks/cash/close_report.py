"""The month-end close report: one object, read from Revline's records, three renderings.

``revline close`` and ``GET /api/close/{month}`` both build a ``CloseReport`` from the month's
close case (the tie-out of its latest check, the explanations people gave, its sign-off) and the
billing cases (the dunning context of each customer NetSuite holds recognition for), then render
it as Markdown, an XLSX workbook or JSON. A signed-off month's report is what the sign-off read:
its tie-out and the dunning context as they stood then (``close_holds``). Nothing here calls a
provider: the report is what the close decided on.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from io import BytesIO
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Font
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
    signed = session.execute(
        select(Action).where(
            Action.case_id == case.id,
            Action.kind == SIGN_OFF,
            Action.status == ActionStatus.APPLIED,
        )
    ).scalar_one_or_none()
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
    lines = [
        ("Stripe balance not yet paid out", t.balance_not_paid_out),
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


def _local_time(timezone: str) -> Callable[[datetime | None], str]:
    """Stored UTC times as the FP&A analyst reads them: the company's timezone, named."""
    tz = ZoneInfo(timezone)

    def local(when: datetime | None) -> str:
        return when.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z") if when else ""

    return local


def markdown(report: CloseReport, locale: str = "en_US", timezone: str = "UTC") -> str:
    """The report for people; times in the company's ``timezone``."""
    t = report.tieout
    local = _local_time(timezone)

    def money(amount: int) -> str:
        return Money(amount, t.currency).format(locale)

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
        out.append(f"Signed off by {report.signed_off_by} at {local(report.signed_off_at)}")
    if report.variance_case:
        v = report.variance_case
        out.append(f"Variance case {v.case_id}: {v.state}")
    out += ["", "## The walk", "", "| | amount |", "|---|---:|"]
    out += [f"| {label} | {money(amount)} |" for label, amount in walk(report)]
    out += ["", "## Reconciling items", ""]
    if t.items:
        out += ["| kind | reference | date | amount | note |", "|---|---|---|---:|---|"]
        for item in t.items:
            on = item.on.isoformat() if item.on else ""
            out.append(
                f"| {item.kind.value} | {item.reference} | {on} | {money(item.amount)} "
                f"| {item.description} |"
            )
    else:
        out.append("None.")
    if report.explanations:
        out += ["", "## Explanations on record (they do not unblock the sign-off)", ""]
        out += ["| when | by | variance | note |", "|---|---|---:|---|"]
        out += [
            f"| {local(e.at)} | {e.by} | {money(e.variance)} | {e.note} |"
            for e in report.explanations
        ]
    out += ["", "## Customers in dunning with recognition held", ""]
    if report.held_recognition:
        out += [
            "| customer | plans held | amount | held since | case | invoice | tier | state "
            "| attempts |",
            "|---|---|---:|---|---|---|---|---|---|",
        ]
        for h in report.held_recognition:
            held = (
                f"| {h.customer} | {', '.join(h.plans)} "
                f"| {Money(h.held_amount, h.currency).format(locale)} | {local(h.held_since)} "
            )
            if not h.dunning:
                out.append(held + "| no dunning case | | | | |")
            # A customer in dunning on several invoices: one line a case, the hold's on the first.
            for case in h.dunning:
                out.append(
                    f"{held}| {case.case_id} | {case.invoice} | {case.tier or ''} | {case.state} "
                    f"| {case.manual_attempts}/{case.max_manual_attempts} |"
                )
                held = "| | | | "
    else:
        out.append("None.")
    return "\n".join(out) + "\n"


def workbook(report: CloseReport, timezone: str = "UTC") -> bytes:
    """An XLSX workbook: the walk, the reconciling items, the explanations on record, the
    customers held. Amounts are in major units (exact decimals) so the sheets add up as a person
    expects; times are in the company's ``timezone`` (a spreadsheet cell holds no zone, so the
    headers name it)."""
    t = report.tieout
    tz = ZoneInfo(timezone)

    def wall(when: datetime | None) -> datetime | None:
        return when.astimezone(tz).replace(tzinfo=None) if when else None

    def major(amount: int) -> object:
        return Money(amount, t.currency).decimal

    book = Workbook()
    summary = book.active
    assert summary is not None
    summary.title = "Summary"
    summary.append([f"Month-end close {report.month}", f"state: {report.state}"])
    summary.append(["Balances at", t.as_of.isoformat()])
    summary.append(["Currency", t.currency])
    summary.append([])
    summary.append(["Walk", "Amount"])
    for label, amount in walk(report):
        summary.append([label, major(amount)])
    summary.append(["Threshold", major(t.threshold)])
    summary.append(["Ties", "yes" if t.ties else "no"])
    if report.signed_off_by:
        summary.append(["Signed off by", report.signed_off_by])
    items = book.create_sheet("Reconciling items")
    items.append(["Kind", "Reference", "Date", "Amount", "Note"])
    for item in t.items:
        items.append(
            [item.kind.value, item.reference, item.on, major(item.amount), item.description]
        )
    explained = book.create_sheet("Explanations")
    explained.append([f"When ({timezone})", "By", "Variance", "Note"])
    for e in report.explanations:
        explained.append([wall(e.at), e.by, major(e.variance), e.note])
    held = book.create_sheet("Dunning holds")
    held.append(
        [
            "Customer",
            "Plans held",
            "Amount",
            f"Held since ({timezone})",
            "Case",
            "Invoice",
            "Tier",
            "State",
            "Attempts",
        ]
    )
    for h in report.held_recognition:
        hold: list[object] = [
            h.customer,
            ", ".join(h.plans),
            Money(h.held_amount, h.currency).decimal,
            wall(h.held_since),
        ]
        if not h.dunning:
            held.append(hold)
        # One row a dunning case; the hold's amount only on the first, so the column adds up.
        for case in h.dunning:
            held.append(
                [
                    *hold,
                    case.case_id,
                    case.invoice,
                    case.tier,
                    case.state,
                    f"{case.manual_attempts}/{case.max_manual_attempts}",
                ]
            )
            hold = [None] * len(hold)
    for sheet in book.worksheets:
        for cell in sheet[5 if sheet is summary else 1]:
            cell.font = Font(bold=True)
        sheet.column_dimensions["A"].width = 48
    buffer = BytesIO()
    book.save(buffer)
    return buffer.getvalue()
