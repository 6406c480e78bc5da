"""Operating Revline: what state it is in, the emergency stop, and each playbook's mode."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from revline.cli.context import default_actor, state
from revline.cli.output import Col, JsonOption, Times, add_row, emit_json, print_table, say, table
from revline.core import controls, queries
from revline.errors import InvalidRequest

ActorOption = Annotated[
    str | None,
    typer.Option(help="Who is acting, for the ledger (default cli:<os user>)."),
]


def status(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """The emergency stop, each playbook's mode, and counts of events, cases, actions, ledger."""
    runtime = state(ctx).runtime()
    with runtime.db.read() as session:
        view = queries.overview(session, runtime.settings, runtime.playbooks.names())
    if as_json:
        emit_json(view)
        return

    times = Times(runtime.settings.company.timezone)
    if view.stop.stopped:
        since = times(datetime.fromisoformat(view.stop.at)) if view.stop.at else "?"
        say(
            f"EMERGENCY STOP ON since {since} ({times.timezone}) by {view.stop.by}: "
            f"{view.stop.reason}",
            style="bold red",
        )
    else:
        say("running: the emergency stop is off", style="green")

    modes = table("playbooks", [("playbook", Col.TEXT), ("mode", Col.TEXT)])
    for name, mode_name in view.modes.items():
        add_row(modes, name, mode_name)
    print_table(modes)

    for title, counts in (("events", view.events), ("actions", view.actions)):
        counted = table(title, [("status", Col.TEXT), ("count", Col.NUMBER)])
        for key, count in sorted(counts.items()):
            add_row(counted, key, count)
        print_table(counted)

    cases = table("cases", [("kind", Col.TEXT), ("state", Col.TEXT), ("count", Col.NUMBER)])
    for kind, states in view.cases.items():
        for case_state, count in states.items():
            add_row(cases, kind, case_state, count)
    print_table(cases)
    say(f"ledger: {view.ledger_rows} rows")


def stop(
    ctx: typer.Context,
    reason: Annotated[str, typer.Option(help="Why: recorded in the ledger.")],
    actor: ActorOption = None,
) -> None:
    """Press the emergency stop: nothing is applied, due actions are held until resume."""
    runtime = state(ctx).runtime()
    with runtime.db.write() as session:
        controls.stop(
            session,
            runtime.ledger,
            actor=actor or default_actor(),
            reason=reason,
            now=runtime.clock.now(),
        )
    say(
        "emergency stop ON: the executor applies nothing; due actions are held until "
        "`revline resume`",
        style="bold red",
    )


def resume(ctx: typer.Context, actor: ActorOption = None) -> None:
    """Lift the emergency stop and requeue every held action."""
    runtime = state(ctx).runtime()
    with runtime.db.write() as session:
        requeued = controls.resume(
            session, runtime.ledger, actor=actor or default_actor(), now=runtime.clock.now()
        )
    say(f"emergency stop lifted: {requeued} held action(s) requeued", style="green")


def mode(
    ctx: typer.Context,
    playbook: Annotated[str, typer.Argument(metavar="PLAYBOOK", help="A registered playbook.")],
    mode_name: Annotated[
        str, typer.Argument(metavar="MODE", help="off, shadow, canary:N (1-99) or live.")
    ],
    actor: ActorOption = None,
) -> None:
    """Set a playbook's mode: off, shadow (decide, never execute), canary:N or live."""
    runtime = state(ctx).runtime()
    known = runtime.playbooks.names()
    if playbook not in known:
        raise InvalidRequest(
            f"no playbook named {playbook!r}; registered: {', '.join(known) or 'none'}"
        )
    with runtime.db.write() as session:
        prior = controls.mode_of(session, runtime.settings, playbook)
        parsed = controls.set_mode(
            session,
            runtime.ledger,
            playbook=playbook,
            mode=mode_name,
            actor=actor or default_actor(),
            now=runtime.clock.now(),
            settings=runtime.settings,
        )
    say(f"{playbook}: {prior} -> {parsed}")
