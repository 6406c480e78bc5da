"""Four worker processes drain one PostgreSQL outbox together, each action claimed exactly once."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from revline.db.engine import Database
from revline.db.migrate import upgrade
from tests.conftest import postgres_database
from tests.process.harness import WorkerProcess, assert_each_applied_once, reaped, seed_actions
from tests.support.effect_server import effect_server_process

ACTIONS = 2000
WORKERS = 4
BATCH_SIZE = 10
# Nobody is killed here, so no lease should ever run out: any second call for a key would mean two
# workers claimed the same action.
LEASE_SECONDS = 60.0
# A little provider latency, so workers overlap their waits as they would against a real API.
LATENCY_MS = 10


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from postgres_database()


@pytest.mark.slow
@pytest.mark.postgres
def test_four_workers_share_the_outbox_without_claiming_anything_twice(
    pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    db = Database(pg_url)
    upgrade(db)
    keys = seed_actions(db, ACTIONS)

    with effect_server_process(latency_ms=LATENCY_MS) as server, reaped() as started:
        for n in range(WORKERS):
            started.append(
                WorkerProcess.start(
                    pg_url,
                    server.url,
                    f"w{n}",
                    batch_size=BATCH_SIZE,
                    lease_seconds=LEASE_SECONDS,
                )
            )
        for worker in started:
            worker.wait_ready()
        began = time.monotonic()
        for worker in started:
            worker.go()
        for worker in started:
            worker.finish(timeout=240)
        seconds = time.monotonic() - began
        effects = server.effects()

    outcome = assert_each_applied_once(db, keys, effects)
    db.dispose()
    assert {key: e["calls"] for key, e in effects.items() if e["calls"] != 1} == {}
    assert outcome.attempts_by_outcome == {"confirmed": ACTIONS}
    assert set(outcome.confirmed_by_worker) == {w.name for w in started}, "a worker did nothing"
    per_worker = dict(sorted(outcome.confirmed_by_worker.items()))
    with capsys.disabled():
        print(
            f"\n[postgresql] {ACTIONS} actions, {WORKERS} workers: {seconds:.1f}s "
            f"({ACTIONS / seconds:.0f}/s), applied per worker {per_worker}"
        )
