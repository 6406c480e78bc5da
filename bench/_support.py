"""What the executor and ledger benchmarks share: the machine's description and scratch databases.

PostgreSQL runs need ``REVLINE_BENCH_POSTGRES_URL`` (or ``REVLINE_TEST_POSTGRES_URL``): any
database on the server, used only to create and drop a scratch one.
"""

from __future__ import annotations

import os
import platform
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, make_url

from revline.db.engine import Database, normalise_url
from revline.db.migrate import upgrade


def machine() -> dict[str, Any]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average_at_start": list(os.getloadavg()),
    }


def postgres_admin_url() -> str | None:
    return os.environ.get("REVLINE_BENCH_POSTGRES_URL") or os.environ.get(
        "REVLINE_TEST_POSTGRES_URL"
    )


@contextmanager
def scratch_database(engine: str) -> Iterator[str]:
    """A migrated, empty database on ``engine`` ("sqlite" or "postgresql"); yields its URL."""
    if engine == "sqlite":
        with tempfile.TemporaryDirectory(prefix="revline-bench-") as tmp:
            url = f"sqlite:///{tmp}/revline.db"
            _migrate(url)
            yield url
        return
    admin_url = postgres_admin_url()
    if admin_url is None:
        raise RuntimeError("set REVLINE_BENCH_POSTGRES_URL to benchmark PostgreSQL")
    admin = make_url(normalise_url(admin_url))
    name = f"revline_bench_{uuid.uuid4().hex[:12]}"
    server = create_engine(admin, isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        url = admin.set(database=name).render_as_string(hide_password=False)
        _migrate(url)
        yield url
    finally:
        with server.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        server.dispose()


def engines() -> list[str]:
    return ["sqlite", "postgresql"] if postgres_admin_url() else ["sqlite"]


def _migrate(url: str) -> None:
    db = Database(url)
    upgrade(db)
    db.dispose()
