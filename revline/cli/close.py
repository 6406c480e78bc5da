"""``revline close``: the month-end tie-out report, a person's explanation of its variance (kept
for the auditor; it does not unblock the sign-off) and a re-check after the books were
corrected."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import select

from revline.cli.context import state
from revline.cli.output import JsonOption, emit_json, note
from revline.core import queries
from revline.db.models import Case
from revline.errors import Conflict, NotFound, RevlineError
from revline.playbooks.cash.close import CHECK_ROLES, MONTH_END_CLOSE, State
from revline.playbooks.cash.close_report import CloseReport, load, markdown, workbook
from revline.playbooks.cash.tieout import ClosePeriod


def close(
    ctx: typer.Context,
    month: Annotated[str, typer.Option("--month", metavar="YYYY-MM", help="The month closed.")],
    as_json: JsonOption = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            metavar="DIR",
            help="Also write close-YYYY-MM.md, .xlsx and .json into DIR (created if need be; "
            "an earlier run's files are replaced).",
        ),
    ] = None,
    explain: Annotated[
        str | None,
        typer.Option(
            help="Explain the variance, for the auditor (needs --variance, --as); it does not "
            "unblock the sign-off: only books that tie do."
        ),
    ] = None,
    variance: Annotated[
        int | None, typer.Option(help="The variance explained, in minor units, as reported.")
    ] = None,
    recheck: Annotated[
        bool,
        typer.Option(
            "--recheck", help="Check the tie-out again now, after correcting the books (--as)."
        ),
    ] = False,
    as_user: Annotated[
        str | None,
        typer.Option("--as", metavar="USER", help="Who explains or asks (an fpa_analyst)."),
    ] = None,
) -> None:
    """The month-end tie-out of MONTH, as Markdown or JSON.

    The walk from Stripe's in-transit balance to NetSuite's Undeposited Funds, the reconciling
    items, the variance, the explanations on record, the sign-off, and the customers in dunning
    whose recognition is held. Markdown on stdout, or JSON with --json."""
    ClosePeriod.parse(month)
    runtime = state(ctx).runtime()
    if explain is not None:
        if variance is None or as_user is None:
            raise RevlineError("--explain needs --variance (minor units) and --as USER")
        _ask(ctx, month, as_user, {"explanation": explain, "variance": variance})
    if recheck:
        if as_user is None:
            raise RevlineError("--recheck needs --as USER")
        _ask(ctx, month, as_user, {"reason": "recheck"})
    with runtime.db.read() as session:
        report = load(session, month, runtime.settings.policy.max_manual_retries)
    locale, timezone = runtime.settings.company.locale, runtime.settings.company.timezone
    document = report.model_dump(mode="json")
    if out is not None:
        _write(out, report, locale, timezone)
    if as_json:
        emit_json(document)
    else:
        typer.echo(markdown(report, locale, timezone), nl=False)


def _write(out: Path, report: CloseReport, locale: str, timezone: str) -> None:
    """The three files into ``out``, as ``reconcile match --out`` writes its own: a directory,
    created if need be, whose files of the same month are replaced."""
    if out.exists() and not out.is_dir():
        raise RevlineError(
            f"--out {out} is a file, not a directory: give the directory to write "
            f"close-{report.month}.md, .xlsx and .json into"
        )
    stem = out / f"close-{report.month}"
    try:
        out.mkdir(parents=True, exist_ok=True)
        stem.with_suffix(".md").write_text(markdown(report, locale, timezone), encoding="utf-8")
        stem.with_suffix(".xlsx").write_bytes(workbook(report, timezone))
        stem.with_suffix(".json").write_text(
            report.model_dump_json(indent=2) + "\n", encoding="utf-8"
        )
    except OSError as exc:
        raise RevlineError(
            f"cannot write the close report into {out}: {exc.strerror or exc}"
        ) from exc
    note(f"wrote {stem}.md, {stem}.xlsx and {stem}.json")


def _ask(ctx: typer.Context, month: str, as_user: str, detail: dict[str, object]) -> None:
    """A person's request on the close (an explanation, a re-check): it checks again at once."""
    runtime = state(ctx).runtime()
    with runtime.db.read() as session:
        who = queries.principal_named(session, as_user)
        case = session.execute(
            select(Case).where(Case.kind == MONTH_END_CLOSE.name, Case.subject == month)
        ).scalar_one_or_none()
    if who.role not in CHECK_ROLES:
        raise RevlineError(
            f"{as_user} is {who.role}: only an fpa_analyst (or an admin) explains or "
            "re-checks a close"
        )
    if case is None:
        raise NotFound(f"no month-end close for {month} yet")
    if case.state == State.SIGNED_OFF:
        raise Conflict(f"the {month} close is already signed off")
    runtime.router().decide_now(case.id, who.actor, detail)
