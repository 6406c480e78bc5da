"""Billing: who is in dunning."""

from __future__ import annotations

import typer

from revline.cli.context import state
from revline.cli.output import Col, JsonOption, Times, add_row, emit_json, print_table, table
from revline.playbooks.billing.dunning import in_dunning

billing_app = typer.Typer(help="Failed payments and dunning.", no_args_is_help=True)


@billing_app.command()
def dunning(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Customers in dunning, with their tier, attempts and next retry.

    Also since when each one's recognition has been held and the customer kept out of the
    pipeline reports, and how many approvals wait on the case."""
    runtime = state(ctx).runtime()
    with runtime.db.read() as session:
        entries = in_dunning(session, runtime.settings.policy.max_manual_retries)
    if as_json:
        emit_json([entry.model_dump(mode="json") for entry in entries])
        return
    times = Times(runtime.settings.company.timezone)
    t = table(
        "in dunning",
        [
            ("case", Col.ID),
            ("invoice", Col.ID),
            ("customer", Col.ID),
            ("tier", Col.TEXT),
            ("state", Col.TEXT),
            ("attempts", Col.NUMBER),
            ("next retry", Col.TIME),
            ("held since", Col.TIME),
            ("off pipeline since", Col.TIME),
            ("approvals", Col.NUMBER),
            ("queue", Col.TEXT),
        ],
        times.caption,
    )
    for e in entries:
        add_row(
            t,
            e.case_id,
            e.invoice,
            e.customer,
            e.tier,
            e.state,
            f"{e.manual_attempts}/{e.max_manual_attempts}",
            times(e.next_retry_at),
            times(e.recognition_held_since),
            times(e.pipeline_excluded_since),
            len(e.pending_approvals),
            e.queue,
        )
    print_table(t)
