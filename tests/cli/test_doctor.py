"""``revline doctor``: the table, ``--json``, exit codes, and no secret in anything it prints.

The simulators run on loopback with the settings given as ``REVLINE_*`` environment variables,
the way an operator configures Revline.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest
from typer.testing import Result

from revline.clock import SystemClock
from revline.db.engine import Database
from revline.providers.mail.sim import MailSimulator
from tests.cli.conftest import Cli
from tests.providers.test_doctor import (
    SECRETS,
    WRONG_MAIL_PASSWORD,
    WRONG_RAMP_SECRET,
    WRONG_STRIPE_KEY,
    WRONG_TOKEN_SECRET,
    Services,
)

KEYS = {"provider", "item", "ok", "detail", "fix", "warning"}
# Every provider's settings, so that tests start from none of them whatever the shell has set.
KEPT = {"REVLINE_DATABASE_URL", "REVLINE_TEST_POSTGRES_URL"}


@pytest.fixture(scope="module")
def services() -> Iterator[Services]:
    # The CLI signs NetSuite requests with the system clock; the simulators keep the same time.
    with Services(SystemClock()) as running:
        yield running


@pytest.fixture
def doctor(cli: Cli, db: Database, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """The CLI on a migrated database with no provider configured."""
    for name in list(os.environ):
        if name.startswith("REVLINE_") and name not in KEPT:
            monkeypatch.delenv(name)
    return cli


@pytest.fixture
def configured(doctor: Cli, services: Services, monkeypatch: pytest.MonkeyPatch) -> Cli:
    for name, value in services.environment().items():
        monkeypatch.setenv(name, value)
    return doctor


def assert_no_secret(result: Result, *extra: str) -> None:
    for secret in (*SECRETS, *extra):
        assert secret not in result.stdout
        assert secret not in result.stderr


def test_every_provider_passes(configured: Cli) -> None:
    result = configured.ok("doctor")

    for provider in ("stripe", "netsuite", "ramp", "mail", "database"):
        assert provider in result.stdout
    assert "✓" in result.stdout
    assert "✗" not in result.stdout and "!" not in result.stdout
    assert "ready: every configured provider and the database passed" in result.stdout
    assert_no_secret(result)


def test_json_shape(configured: Cli) -> None:
    result = configured.ok("doctor", "--json")
    document = json.loads(result.stdout)

    assert set(document) == {"checks", "ok"}
    assert document["ok"] is True
    assert {(c["provider"], c["item"]) for c in document["checks"]} >= {
        ("stripe", "connection"),
        ("netsuite", "connection"),
        ("ramp", "connection"),
        ("mail", "connection"),
        ("database", "schema"),
    }
    for found in document["checks"]:
        assert set(found) == KEYS
        assert isinstance(found["ok"], bool) and isinstance(found["warning"], bool)
        assert isinstance(found["detail"], str)
        assert found["fix"] is None or isinstance(found["fix"], str)
    assert result.stderr == ""
    assert_no_secret(result)


def test_a_wrong_stripe_key_exits_1_with_the_fix(
    configured: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REVLINE_STRIPE_API_KEY", WRONG_STRIPE_KEY)

    result = configured.fails("doctor")

    assert "error: not ready: stripe connection" in result.stderr
    assert "rejected credentials" in result.stdout and "✗" in result.stdout
    assert_no_secret(result, WRONG_STRIPE_KEY)


@pytest.mark.parametrize("as_json", [False, True], ids=["table", "json"])
def test_no_secret_in_any_output(
    configured: Cli, monkeypatch: pytest.MonkeyPatch, as_json: bool
) -> None:
    """Every provider failing at once, each with a message of its own: none echoes a secret."""
    monkeypatch.setenv("REVLINE_STRIPE_API_KEY", WRONG_STRIPE_KEY)
    monkeypatch.setenv("REVLINE_NETSUITE__TOKEN_SECRET", WRONG_TOKEN_SECRET)
    monkeypatch.setenv("REVLINE_RAMP__CLIENT_SECRET", WRONG_RAMP_SECRET)
    monkeypatch.setenv("REVLINE_MAIL__PASSWORD", WRONG_MAIL_PASSWORD)

    result = configured("doctor", *(["--json"] if as_json else []))

    assert result.exit_code == 1, result.output
    if as_json:
        document = json.loads(result.stdout)
        assert document["ok"] is False
        failed = {(c["provider"], c["item"]) for c in document["checks"] if not c["ok"]}
        assert failed == {(p, "connection") for p in ("stripe", "netsuite", "ramp", "mail")}
    assert_no_secret(
        result, WRONG_STRIPE_KEY, WRONG_TOKEN_SECRET, WRONG_RAMP_SECRET, WRONG_MAIL_PASSWORD
    )


def test_nothing_configured_exits_1_saying_how_to_configure_one(doctor: Cli) -> None:
    result = doctor.fails("doctor")

    assert "no provider is configured" in result.stderr
    assert "REVLINE_STRIPE_API_KEY" in result.stderr
    assert "docs/providers.md" in result.stderr
    assert result.stdout.count("not configured") == 4


def test_nothing_configured_in_json(doctor: Cli) -> None:
    result = doctor("doctor", "--json")

    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["ok"] is False
    assert [c["provider"] for c in document["checks"] if c["warning"]] == [
        "stripe",
        "netsuite",
        "ramp",
        "mail",
    ]
    assert result.stderr.startswith("error: no provider is configured")


def test_unconfigured_providers_are_warnings(
    doctor: Cli, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in services.environment().items():
        if name.startswith("REVLINE_STRIPE_"):
            monkeypatch.setenv(name, value)

    result = doctor.ok("doctor")

    assert "!" in result.stdout and "✗" not in result.stdout
    assert "not configured: netsuite, ramp, mail" in result.stdout


def test_a_stopped_mail_server_exits_1(configured: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    with MailSimulator() as stopped:
        port = stopped.port
    monkeypatch.setenv("REVLINE_MAIL__PORT", str(port))
    monkeypatch.delenv("REVLINE_MAIL__USERNAME")
    monkeypatch.delenv("REVLINE_MAIL__PASSWORD")

    document = json.loads(configured("doctor", "--json").stdout)

    [mail] = [c for c in document["checks"] if c["provider"] == "mail" and not c["ok"]]
    assert mail["detail"].startswith("unreachable: ")
    assert document["ok"] is False
