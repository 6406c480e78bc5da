"""The FastAPI application: webhooks, the REST API, health and metrics."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

import revline
from revline.api import errors, webhooks
from revline.api.errors import DatabaseNotReady
from revline.api.ingest import IngestWriter
from revline.api.routes import (
    actions,
    billing,
    cases,
    cash,
    close,
    controls,
    events,
    ledger,
    ops,
)
from revline.core.runtime import Runtime, Worker
from revline.db.migrate import has_schema

log = logging.getLogger(__name__)

WORKER_JOIN_SECONDS = 30.0


def create_app(runtime: Runtime, *, run_worker: bool = False) -> FastAPI:
    """The API for ``runtime``; with ``run_worker`` its lifespan also runs a ``Worker`` thread.

    Refuses a database without schema: serving on it would fail every webhook after the
    signature check, which a sender sees as an outage rather than a configuration error.
    """
    if not has_schema(runtime.db):
        raise DatabaseNotReady(
            "the database has no Revline schema; run `revline db upgrade` before serving"
        )
    writer = IngestWriter(runtime)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await writer.start()
        stop = threading.Event()
        thread = None
        if run_worker:
            thread = threading.Thread(
                target=Worker(runtime).run, args=(stop,), name="revline-worker", daemon=True
            )
            thread.start()
        try:
            yield
        finally:
            stop.set()
            await writer.close()
            if thread is not None:
                await asyncio.to_thread(thread.join, WORKER_JOIN_SECONDS)
                if thread.is_alive():
                    log.error("the worker did not stop within %ss", WORKER_JOIN_SECONDS)

    app = FastAPI(
        title="Revline",
        version=revline.__version__,
        description="Revenue operations: signed webhook ingest and the operations API.",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.ingest = writer
    errors.install(app)
    webhooks.install(app)
    for module in (events, cases, actions, ledger, controls, ops, billing, cash, close):
        app.include_router(module.router)
    return app
