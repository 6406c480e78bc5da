"""Looking at the work: events, cases (with their timeline) and actions, and deciding approvals."""

from __future__ import annotations

from typing import Annotated

import typer

from revline.cli.context import state
from revline.cli.ledger import print_ledger
from revline.cli.output import (
    NONE,
    Col,
    JsonOption,
    LimitOption,
    Times,
    add_row,
    emit_json,
    print_table,
    say,
    table,
)
from revline.core import actions as outbox
from revline.core import queries
from revline.db.models import ActionStatus, EventStatus

events_app = typer.Typer(help="The inbox: every event received, once.", no_args_is_help=True)
cases_app = typer.Typer(help="Cases: the units of business work.", no_args_is_help=True)
actions_app = typer.Typer(
    help="The outbox: intended side effects, and approving them.", no_args_is_help=True
)

ActionId = Annotated[str, typer.Argument(metavar="ACTION_ID", help="As `actions list` shows it.")]
AsUser = Annotated[
    str, typer.Option("--as", metavar="USER", help="The deciding user (see `tokens create`).")
]


@events_app.command("list")
def list_events(
    ctx: typer.Context,
    status: Annotated[EventStatus | None, typer.Option(help="Only events in this status.")] = None,
    source: Annotated[
        str | None, typer.Option(help="Only from this source (stripe, ramp).")
    ] = None,
    limit: LimitOption = 50,
    as_json: JsonOption = False,
) -> None:
    """The newest events first (payloads are left out)."""
    runtime = state(ctx).runtime()
    with runtime.db.read() as session:
        rows = queries.list_events(session, status=status, source=source, limit=limit)
    if as_json:
        emit_json(rows)
        return
    times = Times(runtime.settings.company.timezone)
    t = table(
        "events",
        [
            ("id", Col.NUMBER),
            ("source", Col.TEXT),
            ("type", Col.TEXT),
            ("external id", Col.ID),
            ("status", Col.TEXT),
            ("tries", Col.NUMBER),
            ("received", Col.TIME),
            ("error", Col.TEXT),
        ],
        times.caption,
    )
    for e in rows:
        add_row(
            t,
            e.id,
            e.source,
            e.type,
            e.external_id,
            e.status,
            e.attempts,
            times(e.received_at),
            e.last_error,
        )
    print_table(t)


@cases_app.command("list")
def list_cases(
    ctx: typer.Context,
    kind: Annotated[str | None, typer.Option(help="Only cases of this kind.")] = None,
    case_state: Annotated[str | None, typer.Option("--state", help="Only in this state.")] = None,
    limit: LimitOption = 50,
    as_json: JsonOption = False,
) -> None:
    """The most recently changed cases first."""
    runtime = state(ctx).runtime()
    with runtime.db.read() as session:
        rows = queries.list_cases(session, kind=kind, state=case_state, limit=limit)
    if as_json:
        emit_json(rows)
        return
    times = Times(runtime.settings.company.timezone)
    t = table(
        "cases",
        [
            ("id", Col.ID),
            ("kind", Col.TEXT),
            ("state", Col.TEXT),
            ("subject", Col.ID),
            ("customer", Col.ID),
            ("next action", Col.TIME),
            ("updated", Col.TIME),
            ("flags", Col.DOCUMENT),
        ],
        times.caption,
    )
    for c in rows:
        raised = {flag: value for flag, value in c.flags.items() if value}
        add_row(
            t,
            c.id,
            c.kind,
            c.state,
            c.subject,
            c.customer,
            times(c.next_action_at),
            times(c.updated_at),
            raised,
        )
    print_table(t)


@cases_app.command("show")
def show_case(
    ctx: typer.Context,
    case_id: Annotated[str, typer.Argument(metavar="CASE_ID", help="As `cases list` shows it.")],
    as_json: JsonOption = False,
) -> None:
    """A case and its timeline: decisions, actions with their attempts, ledger rows."""
    runtime = state(ctx).runtime()
    with runtime.db.read() as session:
        timeline = queries.case_timeline(session, case_id)
    if as_json:
        emit_json(timeline)
        return
    times = Times(runtime.settings.company.timezone)
    case = timeline.case
    fields = table(f"case {case.id}", [("field", Col.TEXT), ("value", Col.ID)], times.caption)
    for label, value in (
        ("kind", case.kind),
        ("playbook", case.playbook),
        ("subject", case.subject),
        ("customer", case.customer),
        ("state", f"{case.state} (version {case.state_version})"),
        ("correlation id", case.correlation_id),
        ("queue", case.queue),
        ("next action", times(case.next_action_at)),
        ("opened", times(case.opened_at)),
        ("updated", times(case.updated_at)),
        ("closed", times(case.closed_at)),
        ("flags", case.flags),
        ("data", timeline.data),
    ):
        add_row(fields, label, value)
    print_table(fields)

    decisions = table(
        "decisions",
        [
            ("at", Col.TIME),
            ("trigger", Col.TEXT),
            ("state", Col.TEXT),
            ("mode", Col.TEXT),
            ("explanation", Col.TEXT),
        ],
    )
    for d in timeline.decisions:
        change = f"{d.prior_state or NONE} -> {d.post_state}"
        add_row(decisions, times(d.at), d.trigger, change, d.mode, d.explanation)
    print_table(decisions)

    acts = table(
        "actions",
        [
            ("id", Col.ID),
            ("kind", Col.TEXT),
            ("status", Col.TEXT),
            ("not before", Col.TIME),
            ("params", Col.DOCUMENT),
            ("attempts", Col.TEXT),
        ],
    )
    for history in timeline.actions:
        a = history.action
        tries = "; ".join(
            f"#{t.number} {t.outcome or 'running'}" + (f": {t.error}" if t.error else "")
            for t in history.attempts
        )
        add_row(acts, a.id, a.kind, a.status, times(a.not_before), a.params, tries or None)
    print_table(acts)

    print_ledger(timeline.ledger, times)


@actions_app.command("list")
def list_actions(
    ctx: typer.Context,
    status: Annotated[
        ActionStatus | None, typer.Option(help="Only actions in this status.")
    ] = None,
    case_id: Annotated[str | None, typer.Option("--case", help="Only this case's actions.")] = None,
    limit: LimitOption = 50,
    as_json: JsonOption = False,
) -> None:
    """The newest actions first; amounts are minor units, exactly as the provider gets them."""
    runtime = state(ctx).runtime()
    with runtime.db.read() as session:
        rows = queries.list_actions(session, status=status, case_id=case_id, limit=limit)
    if as_json:
        emit_json(rows)
        return
    times = Times(runtime.settings.company.timezone)
    t = table(
        "actions",
        [
            ("id", Col.ID),
            ("case", Col.ID),
            ("kind", Col.TEXT),
            ("subject", Col.ID),
            ("status", Col.TEXT),
            ("not before", Col.TIME),
            ("needs", Col.TEXT),
            ("tries", Col.NUMBER),
            ("params", Col.DOCUMENT),
        ],
        times.caption,
    )
    for a in rows:
        add_row(
            t,
            a.id,
            a.case_id,
            a.kind,
            a.subject,
            a.status,
            times(a.not_before),
            a.required_role,
            a.attempts,
            a.params,
        )
    print_table(t)


@actions_app.command("approve")
def approve(
    ctx: typer.Context,
    action_id: ActionId,
    as_user: AsUser,
    note: Annotated[str | None, typer.Option(help="Recorded with the approval.")] = None,
) -> None:
    """Approve an action awaiting approval, as USER.

    Their role must allow it, and nobody approves their own proposal."""
    runtime = state(ctx).runtime()
    with runtime.db.write() as session:
        who = queries.principal_named(session, as_user)
        action = queries.ActionSummary.of(
            outbox.approve(
                session,
                runtime.ledger,
                action_id=action_id,
                approver=who.actor,
                approver_role=who.role,
                policy=runtime.settings.policy,
                now=runtime.clock.now(),
                note=note,
            )
        )
    times = Times(runtime.settings.company.timezone)
    say(
        f"approved {action.id} ({action.kind} {action.subject}) as {who.actor}; "
        f"it may run from {times(action.not_before)} {times.timezone}",
        style="green",
    )


@actions_app.command("reject")
def reject(
    ctx: typer.Context,
    action_id: ActionId,
    as_user: AsUser,
    reason: Annotated[str, typer.Option(help="Why: recorded in the ledger.")],
) -> None:
    """Reject an action awaiting approval, as USER: it is cancelled and never runs."""
    runtime = state(ctx).runtime()
    with runtime.db.write() as session:
        who = queries.principal_named(session, as_user)
        action = queries.ActionSummary.of(
            outbox.reject(
                session,
                runtime.ledger,
                action_id=action_id,
                approver=who.actor,
                approver_role=who.role,
                policy=runtime.settings.policy,
                now=runtime.clock.now(),
                reason=reason,
            )
        )
    say(f"rejected {action.id} ({action.kind} {action.subject}) as {who.actor}: {reason}")
