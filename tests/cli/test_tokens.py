"""`tokens create`: the token is printed once, works, and only its digest is stored."""

from __future__ import annotations

import json

from sqlalchemy import select

from revline.core.auth import authenticate, token_digest
from revline.db.engine import Database
from revline.db.models import ApiToken, Base
from tests.cli.conftest import Cli


def _every_stored_value(db: Database) -> str:
    """Every row of every table, as text: where a leaked token would show up."""
    with db.read() as session:
        return "\n".join(
            repr(tuple(row))
            for table in Base.metadata.sorted_tables
            for row in session.execute(select(table))
        )


def test_create_prints_json_and_the_token_authenticates(cli: Cli, db: Database) -> None:
    result = cli.ok("tokens", "create", "--role", "revops_manager", "--name", "maya", "--json")
    created = json.loads(result.stdout)
    assert set(created) == {"token", "name", "role"}
    assert (created["name"], created["role"]) == ("maya", "revops_manager")
    assert "will not be shown again" in result.stderr

    with db.read() as session:
        principal = authenticate(session, created["token"]).principal
        stored = session.execute(select(ApiToken)).scalar_one()
    assert (principal.name, principal.role, principal.actor) == (
        "maya",
        "revops_manager",
        "user:maya",
    )
    assert stored.token_hash == token_digest(created["token"])
    assert created["token"] not in _every_stored_value(db)


def test_create_without_json_prints_only_the_token_on_stdout(cli: Cli, db: Database) -> None:
    result = cli.ok("tokens", "create", "--role", "viewer", "--name", "vic")
    token = result.stdout.strip()
    assert token.startswith("rvl_") and "\n" not in token
    assert "will not be shown again" in result.stderr
    with db.read() as session:
        assert authenticate(session, token).principal.role == "viewer"
    assert token not in _every_stored_value(db)


def test_unknown_role_and_role_change_are_refused(cli: Cli, db: Database) -> None:
    refused = cli.fails("tokens", "create", "--role", "boss", "--name", "x", "--json")
    assert "unknown role 'boss'" in refused.stderr
    assert refused.stdout == ""
    cli.ok("tokens", "create", "--role", "viewer", "--name", "vic")
    assert (
        "already exists" in cli.fails("tokens", "create", "--role", "admin", "--name", "vic").stderr
    )
