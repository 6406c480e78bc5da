"""The installed `revline` console script, run as operators run it: a real process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from revline.core.runtime import Runtime
from revline.db.engine import Database
from revline.db.models import Event, EventStatus
from tests.support.events import deliver

REVLINE = Path(sys.executable).with_name("revline")


def _env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "REVLINE_CONFIG"}
    env["REVLINE_DATABASE_URL"] = database_url
    return env


def _revline(workdir: Path, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REVLINE), *args],
        cwd=workdir,
        env=_env(database_url),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_console_script_end_to_end(workdir: Path, database_url: str) -> None:
    assert REVLINE.is_file(), "the revline console script is installed with the package"
    upgraded = _revline(workdir, database_url, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr

    created = _revline(
        workdir, database_url, "tokens", "create", "--role", "admin", "--name", "ada", "--json"
    )
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["name"] == "ada"

    status = _revline(workdir, database_url, "status", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["ledger_rows"] == 0

    refused = _revline(workdir, database_url, "actions", "approve", "act_x", "--as", "ada")
    assert refused.returncode == 1
    assert refused.stderr.strip() == "error: no action act_x"
    assert refused.stdout == ""


def test_invalid_config_exits_2_naming_the_key(workdir: Path) -> None:
    (workdir / "revline.toml").write_text('[policy]\nhigh_value_mrr_threshold = "lots"\n')
    result = _revline(workdir, "sqlite:///unused.db", "status")
    assert result.returncode == 2
    assert "policy.high_value_mrr_threshold" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_worker_runs_until_signalled_then_exits_cleanly(
    workdir: Path, database_url: str, runtime: Runtime, signum: signal.Signals
) -> None:
    deliver(runtime, "evt_1", "customer.created", {"id": "cus_1"})
    worker = subprocess.Popen(
        [str(REVLINE), "worker", "--name", "proc-worker"],
        cwd=workdir,
        env=_env(database_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_until_routed(runtime.db, "evt_1")
        worker.send_signal(signum)
        _, stderr = worker.communicate(timeout=30)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    assert worker.returncode == 0, stderr
    assert f"{signum.name}: stopping after the current pass" in stderr
    assert stderr.rstrip().endswith("worker stopped")


def _wait_until_routed(db: Database, external_id: str, timeout: float = 30.0) -> None:
    """The worker is up once it has routed the waiting event (nobody wants it: ignored)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.read() as session:
            status = session.execute(
                select(Event.status).where(Event.external_id == external_id)
            ).scalar_one()
        if status == EventStatus.IGNORED:
            return
        time.sleep(0.1)
    raise AssertionError(f"the worker did not route {external_id} within {timeout}s")
