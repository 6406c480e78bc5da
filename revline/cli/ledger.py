"""The audit ledger: verifying its hash chain and reading it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import Annotated

import typer

from revline.cli.context import state
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
from revline.core import ledger, queries

ledger_app = typer.Typer(help="The append-only, hash-chained audit ledger.", no_args_is_help=True)


@ledger_app.command()
def verify(
    ctx: typer.Context,
    anchor: Annotated[
        str | None,
        typer.Option(
            help="SEQ:HASH, a head written down earlier: the ledger must still hold that row.",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Replay the hash chain; exit 1 naming the first row that is missing, moved or altered.

    With ``--anchor``, also that the ledger still holds the row a head written down earlier
    names. Prints the head: write it down, outside the database, as the next check's anchor.
    """
    try:
        expected = ledger.Anchor.parse(anchor) if anchor is not None else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--anchor") from exc
    runtime = state(ctx).runtime()
    with runtime.db.read() as session:
        result = ledger.verify(session, anchor=expected)
    if as_json:
        # The head as ``--anchor`` takes it (and the API gives it): SEQ:HASH.
        emit_json({**asdict(result), "head": str(result.head) if result.head else None})
    elif result.ok:
        head = f"; head {result.head}" if result.head else ""
        say(f"ledger intact: {result.rows} rows{head}", style="green")
    else:
        say(f"ledger BROKEN at seq {result.first_bad_seq}: {result.reason}", style="bold red")
    if not result.ok:
        raise typer.Exit(1)


@ledger_app.command("list")
def list_rows(
    ctx: typer.Context,
    case_id: Annotated[str | None, typer.Option("--case", help="Only this case's rows.")] = None,
    correlation_id: Annotated[
        str | None, typer.Option(help="Only rows of this story across providers.")
    ] = None,
    limit: LimitOption = 50,
    as_json: JsonOption = False,
) -> None:
    """The last rows (oldest of them first), optionally for one case or correlation id."""
    runtime = state(ctx).runtime()
    with runtime.db.read() as session:
        rows = queries.list_ledger(
            session, case_id=case_id, correlation_id=correlation_id, limit=limit
        )
    if as_json:
        emit_json(rows)
        return
    print_ledger(rows, Times(runtime.settings.company.timezone))


def print_ledger(rows: Sequence[queries.LedgerEntry], times: Times) -> None:
    t = table(
        "ledger",
        [
            ("seq", Col.NUMBER),
            ("at", Col.TIME),
            ("actor", Col.TEXT),
            ("kind", Col.TEXT),
            ("case", Col.ID),
            ("action", Col.ID),
            ("state", Col.TEXT),
            ("detail", Col.DOCUMENT),
        ],
        times.caption,
    )
    for r in rows:
        change = f"{r.prior_state or NONE} -> {r.post_state}" if r.post_state else None
        add_row(t, r.seq, times(r.at), r.actor, r.kind, r.case_id, r.action_id, change, r.detail)
    print_table(t)
