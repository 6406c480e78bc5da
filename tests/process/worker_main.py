"""A real worker process for the process tests: ``revline worker`` with the effect server's adapter.

    python -m tests.process.worker_main --db URL --effects URL --name N [--hold]

It prints ``ready`` once its runtime is built and its database reachable; with ``--hold`` it then
waits for a line on stdin before working, so a test can line several workers up or time a kill
from the moment work starts. It ticks until no action is left to run (exit 0), or until killed.
An exception ends it with a traceback and a non-zero exit, which the tests treat as a failure.
"""

from __future__ import annotations

import argparse
import sys
import time

from revline.config import load_settings
from revline.core.runtime import Runtime, Worker
from revline.db.engine import Database
from revline.providers.base import Handlers
from tests.process.harness import unfinished
from tests.support.effect_server import EFFECT_KIND, http_effect_handler


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="database URL")
    parser.add_argument("--effects", required=True, help="effect server base URL")
    parser.add_argument("--name", required=True, help="worker name, recorded on attempts")
    parser.add_argument("--batch-size", type=int, default=5)
    parser.add_argument("--lease-seconds", type=float, default=1.0)
    parser.add_argument("--max-attempts", type=int, default=8)
    parser.add_argument("--max-abandoned", type=int, default=5)
    parser.add_argument("--hold", action="store_true", help="wait for a stdin line before work")
    args = parser.parse_args(argv)

    # Not tests.conftest.make_settings: importing conftest pulls in pytest and alembic, a quarter
    # of a second on each of the hundred-odd restarts a crash test makes. No webhook secrets are
    # needed here.
    settings = load_settings(
        database_url=args.db,
        default_playbook_mode="live",
        executor={
            "lease_seconds": args.lease_seconds,
            "poll_interval_seconds": 0.01,
            "batch_size": args.batch_size,
            "max_attempts": args.max_attempts,
            "max_abandoned": args.max_abandoned,
            # Injected 503s retry within the test's time budget.
            "backoff_base_seconds": 0.05,
            "backoff_cap_seconds": 0.5,
        },
    )
    handlers = Handlers()
    handlers.register(EFFECT_KIND, http_effect_handler(args.effects))
    runtime = Runtime(settings=settings, db=Database(args.db), handlers=handlers)
    worker = Worker(runtime, args.name)
    unfinished(runtime.db)  # connect now, so "ready" means the database answers
    print("ready", flush=True)
    if args.hold and not sys.stdin.readline():
        return  # whoever held us is gone: nobody is waiting for this work

    while True:
        if worker.tick() == 0:
            if unfinished(runtime.db) == 0:
                return
            # Only leased or backing-off actions remain: wait for a lease or a retry to come due.
            time.sleep(settings.executor.poll_interval_seconds)


if __name__ == "__main__":
    main()
