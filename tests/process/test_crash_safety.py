"""Workers killed with SIGKILL at random points never duplicate nor lose a side effect.

One worker process at a time drains the outbox against a fake provider in its own process; the
test kills it after a random delay (some within milliseconds of starting, so kills land in the
claim, mid-call, between the provider's confirmation and the record, and mid-commit), starts the
next one, and finally lets one run to the end.
"""

from __future__ import annotations

import os
import random
import time
from collections import deque

import pytest

from revline.db.engine import Database
from tests.process.harness import (
    WorkerProcess,
    assert_each_applied_once,
    reaped,
    seed_actions,
    unfinished,
)
from tests.support.effect_server import effect_server_process

ACTIONS = 300
# Topped up whenever fewer remain, so every kill lands on a worker with work, however fast it is.
TOP_UP = 200
KILLS = 50
BATCH_SIZE = 5
LEASE_SECONDS = 1.0
# Provider latency after the effect is applied: the window between its confirmation and our record.
LATENCY_MS = 30
FAIL_RATE = 0.05
# This test kills workers on purpose, so an action at the head of the queue can be claimed by
# half a dozen short-lived workers in a row. Abandoned claims do not spend the retry budget, but
# the executor sends an action whose worker died max_abandoned times (5) to a person, as a guard
# against an action that kills its worker every time. Here the deaths are ours, not the
# action's, so that guard is out of the way.
MAX_ABANDONED = 1000
WARMING = 2


def kill_delay(rng: random.Random) -> float:
    """A third of the kills within the first claim and call, the rest over the next dozen actions.

    Lives shorter than a worker's start-up (about a second) cost no wall time: the next ones are
    already starting."""
    if rng.random() < 1 / 3:
        return rng.uniform(0, 0.05)
    return rng.uniform(0.05, 0.6)


@pytest.mark.slow
def test_killed_workers_apply_every_action_exactly_once(
    db: Database, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    seed = int(os.environ.get("REVLINE_CRASH_SEED", random.randrange(2**32)))
    rng = random.Random(seed)
    with capsys.disabled():
        print(f"\n[{db.dialect}] REVLINE_CRASH_SEED={seed}")
    keys = seed_actions(db, ACTIONS)
    began = time.monotonic()

    with (
        effect_server_process(latency_ms=LATENCY_MS, fail_rate=FAIL_RATE) as server,
        reaped() as started,
    ):

        def start(n: int) -> WorkerProcess:
            worker = WorkerProcess.start(
                database_url,
                server.url,
                f"w{n:03d}",
                batch_size=BATCH_SIZE,
                lease_seconds=LEASE_SECONDS,
                max_abandoned=MAX_ABANDONED,
            )
            started.append(worker)
            return worker

        # Workers start up while earlier ones work: interpreter start-up, not the work, is what
        # takes the time, so a few warming in parallel keep the kill rate up.
        warming = deque(start(n) for n in range(WARMING))
        kills = 0
        while kills < KILLS:
            current = warming.popleft()
            warming.append(start(kills + WARMING))
            if unfinished(db) < TOP_UP:
                keys += seed_actions(db, TOP_UP, first=len(keys))
            current.wait_ready()
            current.go()
            time.sleep(kill_delay(rng))
            if not current.kill():
                pytest.fail(
                    f"{current.name} ran out of work before its kill:\n{current.finish(10)}"
                )
            kills += 1
        last = warming.popleft()
        last.wait_ready()
        last.go()
        last.finish(timeout=120)
        effects = server.effects()

    outcome = assert_each_applied_once(db, keys, effects)
    # Kills landed while calls were in flight: leases ran out and the next worker took over;
    assert outcome.attempts_by_outcome["abandoned"] > 0
    # some after the provider had applied the effect, so the retry got the first answer back;
    assert outcome.replays > 0
    # and some after the killed worker had recorded work: kills fell throughout workers' lives.
    killed_confirmed = outcome.confirmed - outcome.confirmed_by_worker[last.name]
    assert killed_confirmed > 0
    # Injected 503s went through the retry path too.
    assert outcome.attempts_by_outcome["retryable_error"] > 0
    with capsys.disabled():
        print(
            f"\n[{db.dialect}] kills={kills} actions={len(keys)} "
            f"attempts={dict(outcome.attempts_by_outcome)} "
            f"confirmed_by_killed_workers={killed_confirmed} "
            f"provider_calls={outcome.provider_calls} replays={outcome.replays} "
            f"most_attempts={outcome.most_attempts} "
            f"seconds={time.monotonic() - began:.1f}"
        )
