"""Cash commands: ``revline reconcile match`` over export files, ``revline cash payouts`` and
``revline cash rerun``."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated

import duckdb
import typer

from revline.cli.context import state
from revline.cli.output import Col, JsonOption, Times, add_row, emit_json, print_table, say, table
from revline.core import queries
from revline.errors import Forbidden, RevlineError
from revline.money import Money
from revline.playbooks.cash.payout_day import PayoutDay, business_date, payouts_of
from revline.playbooks.cash.rerun import RERUN_ROLES, rerun_payout_day
from revline.reconcile import MatchRules, MatchStatus
from revline.reconcile.engine import partial_path, report_paths
from revline.reconcile.entries import MOST_DRIFT, MOST_WINDOW_DAYS
from revline.reconcile.files import load_mapping, matcher_for

reconcile_app = typer.Typer(no_args_is_help=True, help="Match Stripe against NetSuite.")
cash_app = typer.Typer(no_args_is_help=True, help="Payouts and their deposits.")


@reconcile_app.command("match")
def match(
    left: Annotated[
        Path, typer.Option("--left", help="Stripe itemized payout-reconciliation CSV.")
    ],
    right: Annotated[Path, typer.Option("--right", help="NetSuite saved-search CSV.")],
    columns: Annotated[
        Path | None,
        typer.Option(
            "--columns", help="TOML column mapping: a left and a right table; default built in."
        ),
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", help="Directory for matched/ambiguous/unmatched CSVs.")
    ] = Path("reconciliation"),
    amount_drift: Annotated[
        int,
        typer.Option(
            min=0, max=MOST_DRIFT, help="Tolerance tier: minor units an amount may differ by."
        ),
    ] = 0,
    date_window: Annotated[
        int,
        typer.Option(
            min=0, max=MOST_WINDOW_DAYS, help="Tolerance tier: days two dates may be apart."
        ),
    ] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")] = False,
) -> None:
    """Match the two exports and write matched, ambiguous and unmatched rows with reasons.

    A refused run writes no report and removes the reports of an earlier run in ``--out``: they
    would be read as this run's. An input is never removed: a run whose ``--left``, ``--right``
    or ``--columns`` is one of the reports it would write is refused before anything is read."""
    inputs = {"--left": left, "--right": right}
    if columns is not None:
        inputs["--columns"] = columns
    _refuse_unwritable(out, inputs)
    try:
        matcher = matcher_for(left, right, load_mapping(columns))
        try:
            matcher.run(MatchRules(amount_drift=amount_drift, date_window_days=date_window))
            found = matcher.counts()
            unclaimed = matcher.unclaimed()
            try:
                paths = matcher.write(out)
            except (OSError, duckdb.IOException) as exc:
                reason = exc.strerror if isinstance(exc, OSError) else None
                raise RevlineError(f"cannot write the reports into {out}: {reason or exc}") from exc
        finally:
            matcher.con.close()
    except RevlineError as exc:
        raise type(exc)(exc.message + _without_reports(out, inputs.values())) from exc
    except BaseException:
        _without_reports(out, inputs.values())
        raise
    # Every status, none left out for being zero; the NetSuite records nothing claimed beside
    # them, as unmatched.csv lists both.
    counts = {status.value: found.get(status.value, 0) for status in MatchStatus}
    if as_json:
        emit_json(
            {
                "counts": counts,
                "netsuite_unclaimed": unclaimed,
                "files": {k: str(v) for k, v in paths.items()},
            }
        )
        return
    for status, count in counts.items():
        say(f"{status:>10}: {count} Stripe entries")
    say(f"{'unclaimed':>10}: {unclaimed} NetSuite records")
    for name, path in paths.items():
        say(f"{name:>10}: {path}")


def _written(out: Path) -> dict[str, Path]:
    """Every path a run writes or removes in ``out``: each report, and the file it is written
    as before its rename (``Matcher.write``)."""
    paths = report_paths(out)
    return {
        **{path.name: path for path in paths.values()},
        **{partial_path(path).name: partial_path(path) for path in paths.values()},
    }


def _same_file(a: Path, b: Path) -> bool:
    """``a`` and ``b`` name one file: the same path once resolved (``..``, symbolic links), or
    the same file on disk (a hard link, a case-insensitive file system)."""
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))
    except (OSError, RuntimeError):  # a loop of symbolic links: not a file a run writes
        return False


def _refuse_unwritable(out: Path, inputs: Mapping[str, Path]) -> None:
    """Refused before anything is read: an ``--out`` that is a file, and an input that is one
    of the reports the run would write (or remove, were it refused)."""
    if out.exists() and not out.is_dir():
        raise RevlineError(
            f"--out {out} is a file, not a directory: give the directory to write matched.csv, "
            "ambiguous.csv and unmatched.csv into\nno report was written"
        )
    for option, path in inputs.items():
        for name, report in _written(out).items():
            if _same_file(path, report):
                raise RevlineError(
                    f"{option} {path} is the {name} this run would write into {out}: "
                    "copy it elsewhere, or give another --out\nno report was written, and "
                    "nothing was removed"
                )


def _without_reports(out: Path, inputs: Iterable[Path] = ()) -> str:
    """Removes the reports an earlier run left in ``out``, never an input; says what a refusal
    wrote."""
    removed = []
    for path in report_paths(out).values():
        if path.is_file() and not any(_same_file(path, given) for given in inputs):
            path.unlink()
            removed.append(path.name)
    if not removed:
        return "\nno report was written"
    return (
        f"\nno report was written, and the earlier run's {', '.join(removed)} in {out} "
        "were removed (they are not this run's)"
    )


@cash_app.command()
def payouts(
    ctx: typer.Context,
    day: Annotated[str, typer.Option("--date", help="The business date, YYYY-MM-DD.")],
    as_json: JsonOption = False,
) -> None:
    """A day's payout reconciliation: each payout's status and deposit.

    Each payment's match, and the orphan investigations opened for the payments nothing in
    NetSuite explains."""
    runtime = state(ctx).runtime()
    with runtime.db.read() as session:
        found = payouts_of(session, business_date(day, "--date"))
    if as_json:
        emit_json(found.model_dump(mode="json"))
        return
    _print_payouts(found, runtime.settings.company.locale, Times(runtime.settings.company.timezone))


@cash_app.command()
def rerun(
    ctx: typer.Context,
    day: Annotated[str, typer.Option("--date", help="The business date, YYYY-MM-DD.")],
    as_user: Annotated[str, typer.Option("--as", help="Who asks (a user with a token).")],
    as_json: JsonOption = False,
) -> None:
    """Run a morning's payout reconciliation again now, after NetSuite was corrected.

    A payout already deposited is never posted twice."""
    runtime = state(ctx).runtime()
    business_day = business_date(day, "--date")
    with runtime.db.read() as session:
        who = queries.principal_named(session, as_user)
    if who.role not in RERUN_ROLES:
        raise Forbidden(f"{as_user} is {who.role}: a rerun needs one of {sorted(RERUN_ROLES)}")
    rerun_payout_day(runtime, business_day, who.actor)
    with runtime.db.read() as session:
        found = payouts_of(session, business_day)
    if as_json:
        emit_json(found.model_dump(mode="json"))
        return
    _print_payouts(found, runtime.settings.company.locale, Times(runtime.settings.company.timezone))


def _print_payouts(day: PayoutDay, locale: str, times: Times) -> None:
    def money(amount: int | None, currency: str | None) -> str | None:
        return (
            None if amount is None or currency is None else Money(amount, currency).format(locale)
        )

    caption = f"case {day.case_id}, {day.state}, queue {day.queue or '-'}; {times.caption}"
    summary = table(
        f"payouts of {day.business_date.isoformat()}",
        [
            ("payout", Col.ID),
            ("arrival", Col.TEXT),
            ("amount", Col.NUMBER),
            ("status", Col.TEXT),
            ("fees", Col.NUMBER),
            ("variance", Col.NUMBER),
            ("variance case", Col.ID),
            ("deposit", Col.TEXT),
            ("applied", Col.TIME),
            ("netsuite deposit", Col.ID),
        ],
        caption,
    )
    lines = table(
        "deposit lines",
        [
            ("payout", Col.ID),
            ("type", Col.TEXT),
            ("amount", Col.NUMBER),
            ("account", Col.TEXT),
            ("reference", Col.ID),
        ],
    )
    payments = table(
        "payments",
        [
            ("payout", Col.ID),
            ("transaction", Col.ID),
            ("match", Col.TEXT),
            ("tier", Col.TEXT),
            ("netsuite", Col.ID),
            ("orphan case", Col.ID),
            ("reason", Col.TEXT),
        ],
    )
    returned = table(
        "returned payouts paid out again",
        [
            ("payout", Col.ID),
            ("returned payout", Col.ID),
            ("amount", Col.NUMBER),
            ("its netsuite deposits", Col.ID),
        ],
    )
    for p in day.payouts:
        deposit = p.deposit
        for back in p.returned:
            # No deposit: its payments are lines of this payout's; one: a person books it.
            add_row(
                returned,
                p.payout,
                back.payout,
                money(back.amount, p.currency),
                ", ".join(back.deposits) or "none: carried in this deposit",
            )
        add_row(
            summary,
            p.payout,
            p.arrival,
            money(p.amount, p.currency),
            p.status,
            money(p.fees, p.currency),
            money(p.variance, p.currency),
            f"{p.variance_case.case_id} ({p.variance_case.state})" if p.variance_case else None,
            deposit.status if deposit else None,
            times(deposit.applied_at) if deposit else None,
            deposit.netsuite_deposit if deposit else None,
        )
        for line in deposit.lines if deposit else []:
            add_row(
                lines,
                p.payout,
                line.type,
                money(line.amount, p.currency),
                line.account,
                line.reference,
            )
        for m in p.transactions:
            orphan = m.orphan_case
            add_row(
                payments,
                p.payout,
                m.transaction,
                m.status,
                m.tier,
                ", ".join(m.netsuite) or None,
                f"{orphan.case_id} ({orphan.state})" if orphan else None,
                m.reason,
            )
    for t in (summary, lines, payments):
        print_table(t)
    if any(p.returned for p in day.payouts):
        print_table(returned)
