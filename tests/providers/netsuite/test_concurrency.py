"""The account's concurrency limit: an adapter capped at it is never refused; one that is not
is refused, retries, and still gets everything done exactly once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

from revline.clock import SimulatedClock
from revline.providers.netsuite import NetSuiteAdapter
from revline.providers.netsuite.client import TimelineEntry
from revline.providers.netsuite.sim import NetSuiteSimulator
from revline.providers.netsuite.transport import RetryPolicy

LIMIT = 3
PATIENT = RetryPolicy(attempts=30, base_seconds=0.01, cap_seconds=0.15)
QUERY = "SELECT a.id, a.acctnumber FROM account a ORDER BY a.id"


def _in_parallel(adapter: NetSuiteAdapter, calls: int) -> list[int]:
    with ThreadPoolExecutor(max_workers=12) as pool:
        return list(pool.map(lambda _: len(adapter.suiteql(QUERY)), range(calls)))


def test_capped_at_the_accounts_limit_nothing_is_refused(clock: SimulatedClock) -> None:
    with NetSuiteSimulator(clock, concurrency_limit=LIMIT, processing_ms=20) as sim:
        with NetSuiteAdapter(sim.settings(), clock=clock, retry=PATIENT) as adapter:
            assert adapter.transport.concurrency_limit == LIMIT
            counts = _in_parallel(adapter, 36)
        assert counts == [7] * 36
        assert sim.refused_for_concurrency == 0
        assert sim.peak_concurrency == LIMIT  # the cap was reached, never passed


def test_above_the_limit_refusals_are_retried_until_done(clock: SimulatedClock) -> None:
    with NetSuiteSimulator(clock, concurrency_limit=LIMIT, processing_ms=20) as sim:
        settings = sim.settings(concurrency_limit=12)
        with NetSuiteAdapter(settings, clock=clock, retry=PATIENT) as adapter:
            counts = _in_parallel(adapter, 36)
        assert counts == [7] * 36
        assert sim.refused_for_concurrency > 0
        refused = [r for r in sim.requests if r.status == 429]
        assert len(refused) == sim.refused_for_concurrency


def test_restlet_refusals_are_retried_and_each_entry_is_logged_once(clock: SimulatedClock) -> None:
    with NetSuiteSimulator(clock, concurrency_limit=LIMIT, processing_ms=20) as sim:
        customer = sim.books.add_customer("Acme Corp", "billing@acme.example")
        settings = sim.settings(concurrency_limit=10)
        sent = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)

        def log(n: int) -> str:
            entry = TimelineEntry(
                customer_id=customer,
                sent_at=sent + timedelta(minutes=n),
                author="maya@ourco.example",
                recipient="dana@acme.example",
                subject=f"note {n}",
                summary="logged",
            )
            return adapter.log_message(entry, idempotency_key=f"log-{n}")[0]

        with (
            NetSuiteAdapter(settings, clock=clock, retry=PATIENT) as adapter,
            ThreadPoolExecutor(max_workers=10) as pool,
        ):
            ids = list(pool.map(log, range(20)))
        assert len(set(ids)) == 20
        assert len(sim.books.messages(customer)) == 20
        limited = [r for r in sim.requests if r.status == 400 and "restlet" in r.path]
        assert limited and len(limited) == sim.refused_for_concurrency
