"""``revline doctor``: whether every configured provider and the database are ready, and if not,
what to do about it."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

import typer
from rich.text import Text

from revline.cli.context import state
from revline.cli.output import Col, JsonOption, emit_json, note, print_table, say, table
from revline.clock import SystemClock

if TYPE_CHECKING:
    from revline.providers.doctor import Check

FAILURE_EXIT = 1
# A warning is a provider left out on purpose: shown, but not a failure.
STATUS = {"ok": ("✓", "green"), "warning": ("!", "yellow"), "failed": ("✗", "bold red")}


def _status(finding: Check) -> Text:
    symbol, style = STATUS["ok" if finding.ok else "warning" if finding.warning else "failed"]
    return Text(symbol, style=style)


def doctor(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Check each provider's settings, connection and credentials, and the database.

    Reads only: one authenticated request per provider, an SMTP session that sends nothing.

    Exits 1 when a configured provider or the database is not ready, or none is configured.
    """
    # Imported here: the providers' SDKs are only needed by this command.
    from revline.providers.doctor import check, nothing_configured, passed

    findings = check(state(ctx).settings(), SystemClock())
    ok = passed(findings)
    if as_json:
        emit_json({"checks": [asdict(finding) for finding in findings], "ok": ok})
    else:
        t = table(
            "revline doctor",
            [
                ("provider", Col.TEXT),
                ("check", Col.TEXT),
                ("status", Col.TEXT),
                ("detail", Col.TEXT),
                ("fix", Col.TEXT),
            ],
        )
        for finding in findings:
            # Text, never markup: details quote what servers answered.
            t.add_row(
                Text(finding.provider),
                Text(finding.item),
                _status(finding),
                Text(finding.detail),
                Text(finding.fix or "-", style="" if finding.fix else "dim"),
            )
        print_table(t)
    if ok:
        if not as_json:
            warned = [f.provider for f in findings if f.warning]
            tail = f"; not configured: {', '.join(warned)}" if warned else ""
            say("ready: every configured provider and the database passed" + tail, style="green")
        return
    if nothing_configured(findings):
        note(
            "error: no provider is configured. Set REVLINE_STRIPE_API_KEY for Stripe, "
            "[netsuite] account_id and its credentials, [ramp] client_id and client_secret, or "
            "[mail] host, in revline.toml or as REVLINE_* environment variables; "
            "docs/providers.md says how to connect each",
            style="red",
        )
    else:
        problems = ", ".join(f"{f.provider} {f.item}" for f in findings if not f.passed)
        note(f"error: not ready: {problems}; each has a fix", style="red")
    raise typer.Exit(FAILURE_EXIT)
