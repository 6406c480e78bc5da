"""The ``revline`` application: global options, error handling, and the command groups."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy.exc import OperationalError
from typer.core import TyperGroup

from revline.cli import (
    billing,
    cash,
    close,
    doctor,
    ledger,
    operate,
    records,
    sandbox,
    service,
    tokens,
)
from revline.cli.context import CliState
from revline.cli.output import note
from revline.errors import ConfigError, RevlineError

CONFIG_ERROR_EXIT = 2
FAILURE_EXIT = 1


class RevlineGroup(TyperGroup):
    """Turns Revline's own errors into a message on stderr and an exit code, not a traceback.

    Done at the root group, so every subcommand and ``CliRunner`` invocations share it.
    """

    # ``Any``: Typer now vendors Click, and its Context type lives in a private module.
    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            note(f"error: {exc.message}", style="red")
            raise typer.Exit(CONFIG_ERROR_EXIT) from exc
        except RevlineError as exc:
            note(f"error: {exc.message}", style="red")
            raise typer.Exit(FAILURE_EXIT) from exc
        except OperationalError as exc:
            # The database is unreachable or refused us: an operator's problem, not a bug.
            note(f"database error: {exc.orig or exc}", style="red")
            raise typer.Exit(FAILURE_EXIT) from exc


app = typer.Typer(
    cls=RevlineGroup,
    name="revline",
    no_args_is_help=True,
    # Locals can hold a database URL with its password; a bug report needs the stack only.
    pretty_exceptions_show_locals=False,
)


@app.callback()
def main(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            metavar="PATH",
            help="revline.toml to read (default: $REVLINE_CONFIG, else ./revline.toml if any).",
        ),
    ] = None,
) -> None:
    """Revline: revenue operations across Stripe, NetSuite and Ramp, with guardrails."""
    cli_state = CliState(config)
    ctx.obj = cli_state
    ctx.call_on_close(cli_state.close)


app.command()(service.serve)
app.command()(service.worker)
app.add_typer(service.db_app, name="db")
app.command()(operate.status)
app.command()(operate.stop)
app.command()(operate.resume)
app.command()(operate.mode)
app.add_typer(records.events_app, name="events")
app.add_typer(records.cases_app, name="cases")
app.add_typer(records.actions_app, name="actions")
app.add_typer(ledger.ledger_app, name="ledger")
app.add_typer(tokens.tokens_app, name="tokens")
app.command()(doctor.doctor)
app.command()(sandbox.simulate)
app.command()(sandbox.demo)
app.add_typer(cash.reconcile_app, name="reconcile")
app.add_typer(cash.cash_app, name="cash")
app.command()(close.close)
app.add_typer(billing.billing_app, name="billing")
