"""Shared fixtures: every database test runs on SQLite and, when configured, on PostgreSQL.

PostgreSQL tests create a database with a random name from ``REVLINE_TEST_POSTGRES_URL`` (any
database on the server; it is used only to create and drop the test one) and drop it afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, make_url

from revline.clock import SimulatedClock
from revline.config import Settings, load_settings
from revline.core.runtime import Runtime
from revline.db.engine import Database, normalise_url
from revline.db.migrate import upgrade
from revline.providers.base import Handlers
from tests.support.playbooks import test_registry

POSTGRES_URL = os.environ.get("REVLINE_TEST_POSTGRES_URL")
STRIPE_SECRET = "whsec_test_current"
STRIPE_SECRET_OLD = "whsec_test_previous"
RAMP_SECRET = "ramp_test_secret"


def postgres_database() -> Iterator[str]:
    """Create a randomly named PostgreSQL database, yield its URL, drop it."""
    if not POSTGRES_URL:
        pytest.skip("REVLINE_TEST_POSTGRES_URL is not set: PostgreSQL tests skipped")
    admin_url = make_url(normalise_url(POSTGRES_URL))
    name = f"revline_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/revline.db"
    else:
        yield from postgres_database()


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    upgrade(database)
    yield database
    database.dispose()


@pytest.fixture
def clock() -> SimulatedClock:
    # A Tuesday morning in New York.
    return SimulatedClock(datetime(2026, 12, 1, 14, 0, tzinfo=UTC))


def make_settings(database_url: str = "sqlite://", **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "stripe_webhook_secret": STRIPE_SECRET,
        "stripe_webhook_secret_previous": STRIPE_SECRET_OLD,
        "ramp_webhook_secret": RAMP_SECRET,
        "default_playbook_mode": "live",
    }
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return make_settings(database_url)


@pytest.fixture
def handlers() -> Handlers:
    return Handlers()


@pytest.fixture
def runtime(db: Database, clock: SimulatedClock, settings: Settings, handlers: Handlers) -> Runtime:
    return Runtime(
        settings=settings, db=db, clock=clock, playbooks=test_registry(), handlers=handlers
    )
