"""API tokens, and the users they belong to."""

from __future__ import annotations

from typing import Annotated

import typer

from revline.cli.context import state
from revline.cli.output import emit_json, note
from revline.config import ROLES
from revline.core import auth

tokens_app = typer.Typer(help="API tokens and their users.", no_args_is_help=True)


@tokens_app.command()
def create(
    ctx: typer.Context,
    role: Annotated[str, typer.Option(help=f"The user's role: {', '.join(ROLES)}.")],
    name: Annotated[str, typer.Option(help="The user (created with ROLE if new).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON document.")] = False,
) -> None:
    """Create a token for user NAME. The token is shown once: only its digest is stored."""
    runtime = state(ctx).runtime()
    with runtime.db.write() as session:
        principal, token = auth.create_token(session, name=name, role=role, now=runtime.clock.now())
    note(
        f"token for {principal.name} ({principal.role}) created. Store it now: "
        "it will not be shown again.",
        style="yellow",
    )
    if as_json:
        emit_json({"token": token, "name": principal.name, "role": principal.role})
    else:
        # The token alone on stdout, so `TOKEN=$(revline tokens create ...)` captures just it.
        typer.echo(token)
