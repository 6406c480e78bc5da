"""Configuration errors exit 2 naming the key; the schema is created by `db upgrade` (or serve)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import inspect, select

from revline.cli.context import display_url
from revline.core.runtime import Runtime
from revline.db import migrate
from revline.db.engine import Database
from revline.db.models import Case
from tests.cli.conftest import Cli

BAD_POLICY = '[policy]\nhigh_value_mrr_threshold = "lots"\n'


def test_invalid_config_file_exits_2_naming_the_key(workdir: Path) -> None:
    (workdir / "bad.toml").write_text(BAD_POLICY)
    result = Cli().fails("--config", "bad.toml", "status", code=2)
    assert "policy.high_value_mrr_threshold" in result.stderr
    assert result.stdout == ""


def test_invalid_config_from_the_environment_exits_2(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (workdir / "bad.toml").write_text(BAD_POLICY)
    monkeypatch.setenv("REVLINE_CONFIG", str(workdir / "bad.toml"))
    result = Cli().fails("ledger", "verify", "--json", code=2)
    assert "policy.high_value_mrr_threshold" in result.stderr
    assert result.stdout == ""


def test_missing_config_file_and_unknown_timezone_exit_2(workdir: Path) -> None:
    assert "does not exist" in Cli().fails("--config", "nope.toml", "status", code=2).stderr
    (workdir / "tz.toml").write_text('[company]\ntimezone = "Mars/Olympus"\n')
    assert "Mars/Olympus" in Cli().fails("--config", "tz.toml", "status", code=2).stderr


def test_a_valid_config_file_is_used(workdir: Path, database_url: str) -> None:
    (workdir / "revline.toml").write_text(
        f'database_url = "{database_url}"\n[company]\ntimezone = "Europe/Berlin"\n'
    )
    Cli().ok("db", "upgrade")
    assert Cli().json("status")["ledger_rows"] == 0


def test_db_upgrade_creates_the_schema_and_is_repeatable(cli: Cli, database_url: str) -> None:
    refused = cli.fails("status")
    assert "revline db upgrade" in refused.stderr
    first = cli.ok("db", "upgrade")
    assert "revision 0004" in first.stdout
    cli.ok("db", "upgrade")
    database = Database(database_url)
    try:
        assert migrate.has_schema(database)
    finally:
        database.dispose()
    assert cli.json("status")["ledger_rows"] == 0


def test_a_database_at_the_first_schema_is_brought_to_the_newest(database_url: str) -> None:
    """A database made before withdrawals were kept gains their table, and nothing else moves."""
    database = Database(database_url)
    try:
        migrate.upgrade(database, "0001")
        assert not inspect(database.engine).has_table("withdrawn_effects")
        migrate.upgrade(database)
        assert inspect(database.engine).has_table("withdrawn_effects")
    finally:
        database.dispose()


def test_an_orphan_case_left_waiting_without_a_timer_is_given_one(database_url: str) -> None:
    """Before orphan cases looked at the books, one waiting with the AR specialist had no timer:
    upgrading makes it due at once, so the next sweep looks; other cases keep theirs."""
    database = Database(database_url)
    at = datetime(2026, 12, 4, 13, tzinfo=UTC)
    try:
        migrate.upgrade(database, "0002")
        with database.write() as session:
            for n, (kind, state) in enumerate(
                [
                    ("orphan_payment", "match_proposed"),
                    ("orphan_payment", "awaiting_cardholder"),
                    ("orphan_payment", "investigating"),
                    ("payout_variance", "open"),
                ]
            ):
                session.add(
                    Case(
                        id=f"cas_{n}",
                        kind=kind,
                        playbook=kind,
                        subject=f"ch_{n}",
                        customer=None,
                        state=state,
                        correlation_id=f"cas_{n}",
                        next_action_at=None,
                        data={},
                        flags={},
                        queue="ar_specialist",
                        opened_at=at,
                        updated_at=at + timedelta(minutes=n),
                        closed_at=None,
                    )
                )
        migrate.upgrade(database)
        with database.read() as session:
            timers = dict(session.execute(select(Case.id, Case.next_action_at)).tuples().all())
    finally:
        database.dispose()
    assert timers == {
        "cas_0": at,
        "cas_1": at + timedelta(minutes=1),
        "cas_2": None,
        "cas_3": None,
    }


def test_serve_migrates_a_fresh_database_then_runs_the_app(
    cli: Cli, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: dict[str, Any] = {}

    def create_app(runtime: Runtime, *, run_worker: bool = False) -> object:
        made.update(runtime=runtime, run_worker=run_worker)
        return "the app"

    def run(app: object, *, host: str, port: int) -> None:
        made.update(app=app, host=host, port=port)

    # The real app is tested with the API; here only what `serve` hands it matters.
    monkeypatch.setitem(sys.modules, "revline.api.app", SimpleNamespace(create_app=create_app))
    monkeypatch.setattr("uvicorn.run", run)

    result = cli.ok("serve", "--port", "8123", "--no-worker")
    assert "no schema yet" in result.stderr
    assert made["app"] == "the app"
    assert (made["host"], made["port"], made["run_worker"]) == ("127.0.0.1", 8123, False)
    assert migrate.has_schema(made["runtime"].db)

    cli.ok("serve")
    assert made["run_worker"] is True


def test_database_urls_are_shown_without_their_password() -> None:
    shown = display_url("postgresql+psycopg://revline:s3cret@db.internal:5432/revline")
    assert "s3cret" not in shown
    assert shown == "postgresql+psycopg://revline:***@db.internal:5432/revline"


def test_usage_errors_exit_2(cli: Cli) -> None:
    assert cli("events", "list", "--status", "bogus").exit_code == 2
    assert cli("stop").exit_code == 2  # --reason is required
