"""Cash commands: ``revline reconcile match`` over export files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from revline.cli.output import emit_json, say
from revline.reconcile import MatchRules
from revline.reconcile.files import load_mapping, matcher_for

reconcile_app = typer.Typer(no_args_is_help=True, help="Match Stripe against NetSuite.")


@reconcile_app.command("match")
def match(
    left: Annotated[
        Path, typer.Option("--left", help="Stripe itemized payout-reconciliation CSV.")
    ],
    right: Annotated[Path, typer.Option("--right", help="NetSuite saved-search CSV.")],
    columns: Annotated[
        Path | None,
        typer.Option("--columns", help="TOML column mapping ([left], [right]); default built in."),
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", help="Directory for matched/ambiguous/unmatched CSVs.")
    ] = Path("reconciliation"),
    amount_drift: Annotated[int, typer.Option(help="Tolerance tier: minor units.")] = 0,
    date_window: Annotated[int, typer.Option(help="Tolerance tier: days.")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")] = False,
) -> None:
    """Match the two exports and write matched, ambiguous and unmatched rows with reasons."""
    matcher = matcher_for(left, right, load_mapping(columns))
    try:
        matcher.run(MatchRules(amount_drift=amount_drift, date_window_days=date_window))
        paths = matcher.write(out)
        counts = matcher.counts()
    finally:
        matcher.con.close()
    if as_json:
        emit_json({"counts": counts, "files": {k: str(v) for k, v in paths.items()}})
        return
    for status in ("matched", "proposed", "blocked", "unmatched"):
        say(f"{status:>10}: {counts.get(status, 0)}")
    for name, path in paths.items():
        say(f"{name:>10}: {path}")
