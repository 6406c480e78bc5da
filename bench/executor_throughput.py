"""Executor throughput; prints one JSON document.

How many actions per second the executor carries out against a no-op handler, so what is measured
is Revline's own cost per action (claim, attempt row, provider call bookkeeping, record, ledger
row, commits), not a provider's.

For each engine (SQLite, and PostgreSQL when REVLINE_BENCH_POSTGRES_URL or
REVLINE_TEST_POSTGRES_URL is set): seed ``--actions`` proposed actions through
``revline.core.actions.propose``, as a playbook would, then time worker processes draining them
with ``Executor.run_once`` until nothing is due, with the default executor settings. Once with
one worker, once with two (PostgreSQL: ``SKIP LOCKED`` claims; SQLite: one writer at a time).
Every action must end ``applied`` and the ledger must verify, or the run is reported as failed.

``--profile`` also runs one worker in-process under cProfile on SQLite and writes the top of the
profile to stderr (stdout stays one JSON document).

Usage: .venv/bin/python bench/executor_throughput.py [--actions 5000] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import multiprocessing
import pstats
import sys
import time
from collections.abc import Mapping
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from typing import Any

from _support import engines, machine, scratch_database
from sqlalchemy import func, select

from revline.clock import SystemClock
from revline.config import load_settings
from revline.core.actions import propose
from revline.core.executor import Executor
from revline.core.gates import Gate
from revline.core.ledger import Ledger, verify
from revline.core.playbook import ActionSpec
from revline.core.runtime import Runtime
from revline.db.engine import Database
from revline.db.models import Action
from revline.providers.base import ActionRequest, Handlers

KIND = "bench.noop"
TARGET_PER_SECOND = 500


def confirm(request: ActionRequest) -> Mapping[str, Any]:
    """The provider's confirmation, at no cost."""
    return {"id": f"noop_{request.action_id}"}


def executor(url: str, name: str) -> Executor:
    handlers = Handlers()
    handlers.register(KIND, confirm)
    settings = load_settings(database_url=url, default_playbook_mode="live")
    return Runtime(settings=settings, db=Database(url), handlers=handlers).executor(name)


def seed(url: str, count: int) -> float:
    """Propose ``count`` due actions, 500 per transaction; returns the seconds it took."""
    db = Database(url)
    ledger = Ledger(db)
    now = SystemClock().now()
    gate = Gate(required_role=None, reason=None, not_before=now, irreversible=False)
    began = time.perf_counter()
    for start in range(0, count, 500):
        with db.write() as session:
            for n in range(start, min(count, start + 500)):
                spec = ActionSpec(KIND, f"subject-{n}", {"n": n, "amount": 1000 + n})
                propose(
                    session,
                    ledger,
                    case=None,
                    playbook="bench",
                    spec=spec,
                    gate=gate,
                    live=True,
                    proposed_by="bench",
                    now=now,
                )
    db.dispose()
    return time.perf_counter() - began


def drain(url: str, name: str, barrier: Barrier, cpu: Queue[float]) -> None:
    worker = executor(url, name)
    worker.run_once()  # connects and warms up; nothing is due yet
    barrier.wait()
    began = time.process_time()
    while worker.run_once():
        pass
    cpu.put(time.process_time() - began)


def timed_drain(url: str, workers: int) -> tuple[float, float]:
    """Wall seconds from the start signal until every worker is done, and the workers' CPU
    seconds (the machine may be shared: CPU per action shows what a quiet one would see)."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(workers + 1)
    cpu: Queue[float] = context.Queue()
    processes = [
        context.Process(target=drain, args=(url, f"bench-{n}", barrier, cpu))
        for n in range(workers)
    ]
    for process in processes:
        process.start()
    barrier.wait()
    began = time.perf_counter()
    cpu_seconds = sum(cpu.get() for _ in processes)
    for process in processes:
        process.join()
    elapsed = time.perf_counter() - began
    failed = [p.exitcode for p in processes if p.exitcode != 0]
    if failed:
        raise RuntimeError(f"worker processes exited with {failed}")
    return elapsed, cpu_seconds


def check(url: str, count: int) -> dict[str, Any]:
    db = Database(url)
    with db.read() as session:
        rows = session.execute(select(Action.status, func.count()).group_by(Action.status))
        statuses = {status: n for status, n in rows}
        ledger = verify(session)
    db.dispose()
    return {
        "all_applied": statuses == {"applied": count},
        "statuses": statuses,
        "ledger_ok": ledger.ok,
        "ledger_rows": ledger.rows,
    }


def run(engine: str, workers: int, count: int) -> dict[str, Any]:
    with scratch_database(engine) as url:
        seed_seconds = seed(url, count)
        seconds, cpu_seconds = timed_drain(url, workers)
        return {
            "engine": engine,
            "workers": workers,
            "actions": count,
            "seconds": round(seconds, 3),
            "actions_per_second": round(count / seconds, 1),
            "worker_cpu_ms_per_action": round(cpu_seconds / count * 1000, 2),
            "propose_per_second": round(count / seed_seconds, 1),
            **check(url, count),
        }


def profile(count: int) -> None:
    with scratch_database("sqlite") as url:
        seed(url, count)
        worker = executor(url, "bench-profile")
        profiler = cProfile.Profile()
        profiler.enable()
        while worker.run_once():
            pass
        profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).sort_stats("cumulative")
    stats.print_stats(40)
    stats.sort_stats("tottime").print_stats(25)
    print(out.getvalue(), file=sys.stderr)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--actions", type=int, default=5000)
    parser.add_argument("--profile", action="store_true", help="cProfile one SQLite drain")
    args = parser.parse_args(argv)
    about = machine()
    runs = [run(engine, workers, args.actions) for engine in engines() for workers in (1, 2)]
    best_single = {r["engine"]: r["actions_per_second"] for r in runs if r["workers"] == 1}
    print(
        json.dumps(
            {
                "bench": "executor_throughput",
                "machine": about,
                "handler": "no-op, in-process",
                "executor_settings": "defaults (batch_size 50, lease 120 s)",
                "runs": runs,
                "target": {
                    "actions_per_second_one_worker": TARGET_PER_SECOND,
                    "met": {e: v >= TARGET_PER_SECOND for e, v in best_single.items()},
                },
            },
            indent=2,
        )
    )
    if args.profile:
        profile(args.actions)


if __name__ == "__main__":
    main()
