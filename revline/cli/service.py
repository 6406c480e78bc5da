"""Running Revline: the HTTP service, the worker, and schema migrations."""

from __future__ import annotations

import gc
import logging
import signal
import threading
from types import FrameType
from typing import Annotated, Any

import typer
from alembic.migration import MigrationContext

from revline.cli.context import display_url, state
from revline.cli.output import note, say
from revline.core.runtime import Worker
from revline.db import migrate
from revline.db.engine import Database

db_app = typer.Typer(help="The database schema.", no_args_is_help=True)


def _configure_logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    worker: Annotated[
        bool, typer.Option("--worker/--no-worker", help="Also run a worker in this process.")
    ] = True,
) -> None:
    """Serve the webhooks, the REST API and the console over HTTP.

    A database without schema (a fresh SQLite file, say) is migrated first.
    """
    runtime = state(ctx).runtime(require_schema=False)
    if not migrate.has_schema(runtime.db):
        note(f"{display_url(runtime.db.url)} has no schema yet: migrating it to the newest")
        migrate.upgrade(runtime.db)
    # Imported here: the web stack is only needed by this command.
    from revline.api.app import create_app

    run_server(create_app(runtime, run_worker=worker), host, port)


def run_server(app: Any, host: str, port: int) -> None:
    """Serve an ASGI ``app`` with uvicorn until SIGINT or SIGTERM: uvloop and httptools, which
    ``uvicorn[standard]`` installs and uvicorn picks when present.

    The heap built so far (modules, the app, SQLAlchemy's and FastAPI's machinery) lives as long
    as the process, so it is frozen out of the cyclic garbage collector first: otherwise every
    full collection walks all of it again, which under webhook load cost ~60 µs per request.
    """
    import uvicorn

    gc.collect()
    gc.freeze()
    uvicorn.run(app, host=host, port=port)


def worker(
    ctx: typer.Context,
    name: Annotated[
        str | None, typer.Option(help="Worker name in attempt rows (default host:pid).")
    ] = None,
    once: Annotated[
        bool, typer.Option("--once", help="Do everything that is due now, then exit.")
    ] = False,
) -> None:
    """Route events, fire case timers and execute actions until SIGINT or SIGTERM."""
    runtime = state(ctx).runtime()
    process = Worker(runtime, name)
    if once:
        done = process.drain()
        say(f"worker pass done: {done} units of work (events routed, timers fired, actions run)")
        return

    _configure_logging()
    stop = threading.Event()

    def _request_stop(signum: int, _frame: FrameType | None) -> None:
        # Only sets the flag: the pass in progress finishes and records its outcomes.
        note(f"{signal.Signals(signum).name}: stopping after the current pass")
        stop.set()

    previous = {sig: signal.signal(sig, _request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        note(f"worker {process.executor.worker} running; Ctrl-C stops it")
        process.run(stop)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    note("worker stopped")


@db_app.command()
def upgrade(ctx: typer.Context) -> None:
    """Bring the database to the newest schema (Alembic upgrade head)."""
    db = state(ctx).runtime(require_schema=False).db
    migrate.upgrade(db)
    say(f"{display_url(db.url)} is at the newest schema (revision {_revision(db)})")


def _revision(db: Database) -> str:
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision() or "none"
