"""Wiring: one object that holds the settings, clock, database and registries of a process."""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass, field

from revline.clock import Clock, SystemClock, WorkingCalendar
from revline.config import Settings
from revline.core.executor import Executor
from revline.core.ledger import Ledger
from revline.core.playbook import Enrichment, PlaybookRegistry
from revline.core.router import Router
from revline.core.scheduler import DailyAt, Every, Scheduler
from revline.db.engine import Database
from revline.errors import NotConfigured
from revline.providers.base import Handlers

log = logging.getLogger(__name__)


# What configures each provider, for the error naming what a procedure found missing.
_PROVIDER_SETTINGS = {
    "stripe": "stripe_api_key",
    "netsuite": "netsuite.account_id and its token",
    "ramp": "ramp.client_id and ramp.client_secret",
    "mail": "mail.host",
}


class Adapters(dict[str, object]):
    """The configured providers' adapters by name. A procedure that needs one not configured
    (a rerun from a CLI or API process without Stripe's key) is told which settings it lacks,
    not a bare ``KeyError``."""

    def __missing__(self, name: str) -> object:
        setting = _PROVIDER_SETTINGS.get(name, name)
        raise NotConfigured(f"{name} is not configured in this process: set {setting}")


@dataclass
class Runtime:
    settings: Settings
    db: Database
    clock: Clock = field(default_factory=SystemClock)
    playbooks: PlaybookRegistry = field(default_factory=PlaybookRegistry)
    handlers: Handlers = field(default_factory=Handlers)
    adapters: Adapters = field(default_factory=Adapters)
    daily: list[DailyAt] = field(default_factory=list)
    jobs: list[Every] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.ledger = Ledger(self.db)
        self.calendar: WorkingCalendar = self.settings.company.calendar()
        self.enrichment = Enrichment(
            self.clock, self.calendar, self.settings.company, self.adapters
        )
        for playbook in self.playbooks.all():
            self.daily.extend(playbook.schedules(self.settings.policy))

    def router(self) -> Router:
        return Router(
            db=self.db,
            clock=self.clock,
            settings=self.settings,
            playbooks=self.playbooks,
            ledger=self.ledger,
            enrichment=self.enrichment,
        )

    def scheduler(self) -> Scheduler:
        return Scheduler(self.db, self.calendar, list(self.daily), list(self.jobs))

    def executor(self, worker: str | None = None) -> Executor:
        return Executor(
            db=self.db,
            clock=self.clock,
            settings=self.settings,
            handlers=self.handlers,
            ledger=self.ledger,
            worker=worker or default_worker_name(),
            outcome_followers=frozenset(p.name for p in self.playbooks.all() if p.follows_outcomes),
        )


def default_worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Worker:
    """Routes events, fires timers and executes actions until told to stop."""

    def __init__(self, runtime: Runtime, name: str | None = None) -> None:
        self.runtime = runtime
        self.router = runtime.router()
        self.executor = runtime.executor(name)
        self.scheduler = runtime.scheduler()

    def tick(self) -> int:
        """One pass over everything that is due; returns how much work it found."""
        return (
            self.scheduler.tick(self.runtime.clock.now())
            + self.router.route_pending()
            + self.router.fire_due_timers()
            + self.executor.run_once()
        )

    def drain(self, max_passes: int = 10_000) -> int:
        """Tick until nothing is due (tests and the sandbox); returns the total work done."""
        total = 0
        for _ in range(max_passes):
            done = self.tick()
            total += done
            if done == 0:
                return total
        raise RuntimeError(f"work still due after {max_passes} passes")

    def run(self, stop: threading.Event) -> None:
        interval = self.runtime.settings.executor.poll_interval_seconds
        while not stop.is_set():
            try:
                busy = self.tick()
            except Exception:
                # A worker outlives a bad pass (a database restart, say); the error is logged.
                log.exception("worker pass failed")
                busy = 0
            if not busy:
                stop.wait(interval)


def from_settings(settings: Settings, clock: Clock | None = None) -> Runtime:
    """The runtime ``revline serve`` and ``revline worker`` use: the registered playbooks and
    the adapters configured in ``settings``."""
    from revline.playbooks import default_registry
    from revline.providers.wiring import install

    runtime = Runtime(
        settings=settings,
        db=Database(settings.database_url),
        clock=clock or SystemClock(),
        playbooks=default_registry(),
    )
    install(runtime)
    return runtime
