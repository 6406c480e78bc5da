"""Webhook ingest against the real server stack; prints one JSON document.

Starts, each in its own process on 127.0.0.1:

- the Revline app (``create_app`` served by ``revline.cli.service.run_server``, exactly as
  ``revline serve --no-worker`` does: uvicorn with uvloop and httptools, the startup heap frozen
  out of the garbage collector) on a SQLite file in a temporary directory (WAL,
  ``synchronous=FULL``), with a Stripe webhook secret;
- a bare FastAPI app with one POST route that reads the body and answers 202, served by the same
  ``run_server``.

and measures, from separate load-generator processes:

1. the bare endpoint's maximum throughput (wrk, N keep-alive connections);
2. the maximum throughput of signed Stripe webhooks acknowledged durably, each a distinct event
   (wrk cycling through pre-signed request bodies); afterwards the inbox must hold at least as many
   rows as there were 2xx answers. Phases 1 and 2 run as ``--repeat`` pairs, their order flipped
   each time; the pair with the median ratio is reported, every pair beside it;
3. p50/p99/max latency at a fixed rate (open loop: each request is due at its slot and its latency
   is counted from that slot, so a stall is not hidden by the generator waiting for it), for the
   ingest endpoint and for the bare one;
4. the ceiling of a Python asyncio load generator against the bare endpoint, which shows why the
   maximum-throughput phases use wrk on a two-core machine.

When there are at least two CPUs, the servers are pinned to CPU 0 and the load generators to CPU 1,
so the generator does not steal the server's core. Without wrk the throughput phases fall back to
the Python generator and the output says so.

Usage: .venv/bin/python bench/webhook_ingest.py [--duration 10] [--repeat 3] [--connections 64]
                                                 [--rate 500]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

# Module level: FastAPI resolves the bare route's annotations from this module's globals.
from fastapi import FastAPI, Request, Response

SECRET = "whsec_bench_0123456789abcdef"
PATH = "/webhooks/stripe"
SERVER_CPU = 0
LOAD_CPU = 1

# wrk: cycle through pre-signed requests, one "<Stripe-Signature>\t<body>" line each, in order,
# so no event repeats until the file runs out. One wrk thread keeps the order simple and is far
# from being the bottleneck (see python_generator_ceiling_on_bare for the contrast).
WRK_SCRIPT = r"""
local signatures, bodies = {}, {}
local counter = 0

function init(args)
  for line in io.lines(args[1]) do
    local tab = line:find("\t", 1, true)
    signatures[#signatures + 1] = line:sub(1, tab - 1)
    bodies[#bodies + 1] = line:sub(tab + 1)
  end
end

function request()
  local i = counter % #bodies + 1
  counter = counter + 1
  return wrk.format("POST", nil, {
    ["Content-Type"] = "application/json",
    ["Stripe-Signature"] = signatures[i],
  }, bodies[i])
end
"""


# -- events ----------------------------------------------------------------------------------


def invoice_event(n: int, created: int) -> dict[str, Any]:
    """An ``invoice.payment_failed`` event shaped like Stripe's published fixtures (~4.5 KB)."""
    invoice_id = f"in_bench{n:010d}"
    line = {
        "id": f"il_bench{n:010d}",
        "object": "line_item",
        "amount": 250000,
        "currency": "usd",
        "description": "1 x Revline Growth (at $2,500.00 / month)",
        "discount_amounts": [],
        "discountable": True,
        "discounts": [],
        "invoice": invoice_id,
        "livemode": False,
        "metadata": {},
        "parent": {
            "type": "subscription_item_details",
            "subscription_item_details": {
                "invoice_item": None,
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": "sub_bench",
                "subscription_item": "si_bench",
            },
        },
        "period": {"end": created + 2_592_000, "start": created},
        "pretax_credit_amounts": [],
        "pricing": {
            "price_details": {"price": "price_growth", "product": "prod_growth"},
            "type": "price_details",
            "unit_amount_decimal": "250000",
        },
        "quantity": 1,
        "taxes": [],
    }
    invoice = {
        "id": invoice_id,
        "object": "invoice",
        "account_country": "US",
        "account_name": "Revline Bench Inc.",
        "amount_due": 250000,
        "amount_paid": 0,
        "amount_remaining": 250000,
        "amount_shipping": 0,
        "attempt_count": 2,
        "attempted": True,
        "auto_advance": True,
        "automatic_tax": {"enabled": False, "liability": None, "status": None},
        "billing_reason": "subscription_cycle",
        "collection_method": "charge_automatically",
        "created": created,
        "currency": "usd",
        "customer": f"cus_bench{n % 5000:06d}",
        "customer_email": f"ap+{n % 5000}@example.com",
        "customer_name": f"Customer {n % 5000}",
        "customer_tax_exempt": "none",
        "default_payment_method": None,
        "description": None,
        "discounts": [],
        "due_date": None,
        "ending_balance": 0,
        "hosted_invoice_url": f"https://invoice.stripe.com/i/acct_bench/test_{invoice_id}",
        "invoice_pdf": f"https://pay.stripe.com/invoice/acct_bench/test_{invoice_id}/pdf",
        "last_finalization_error": None,
        "lines": {
            "object": "list",
            "data": [line, {**line, "id": f"il_bench{n:010d}b", "amount": 0}],
            "has_more": False,
            "total_count": 2,
            "url": f"/v1/invoices/{invoice_id}/lines",
        },
        "livemode": False,
        "metadata": {},
        "next_payment_attempt": created + 259_200,
        "number": f"BENCH-{n:06d}",
        "parent": {
            "quote_details": None,
            "subscription_details": {"metadata": {}, "subscription": "sub_bench"},
            "type": "subscription_details",
        },
        "period_end": created,
        "period_start": created - 2_592_000,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "starting_balance": 0,
        "status": "open",
        "status_transitions": {
            "finalized_at": created,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        "subtotal": 250000,
        "total": 250000,
        "total_discount_amounts": [],
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": created,
    }
    return {
        "id": f"evt_bench{n:010d}",
        "object": "event",
        "api_version": "2026-10-28.endive",
        "created": created,
        "data": {"object": invoice},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": "invoice.payment_failed",
    }


def write_signed(path: Path, first: int, count: int) -> int:
    """Sign ``count`` distinct events now (the signature's clock starts ticking); returns the
    size of one body in bytes."""
    import stripe

    timestamp = int(time.time())
    size = 0
    with path.open("w") as out:
        for n in range(first, first + count):
            body = json.dumps(invoice_event(n, timestamp))
            header = stripe.WebhookSignature.generate_signature_header(body, SECRET, timestamp)
            out.write(f"{header}\t{body}\n")
            size = len(body.encode())
    return size


def read_requests(path: Path, port: int) -> list[bytes]:
    """Raw HTTP/1.1 keep-alive requests for the Python generator."""
    requests = []
    for line in path.read_text().splitlines():
        header, body = line.split("\t", 1)
        data = body.encode()
        requests.append(
            (
                f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Content-Type: application/json\r\nStripe-Signature: {header}\r\n"
                f"Content-Length: {len(data)}\r\n\r\n"
            ).encode()
            + data
        )
    return requests


# -- servers ---------------------------------------------------------------------------------


def serve_revline(database_url: str, port: int) -> None:
    """The Revline app as ``revline serve --no-worker`` runs it."""
    from revline.api import create_app
    from revline.cli.service import run_server
    from revline.config import load_settings
    from revline.core.runtime import from_settings

    settings = load_settings(database_url=database_url, stripe_webhook_secret=SECRET)
    run_server(create_app(from_settings(settings), run_worker=False), "127.0.0.1", port)


def serve_bare(port: int) -> None:
    """The same stack with nothing behind the route: reads the body, answers 202."""
    from revline.cli.service import run_server

    app = FastAPI()

    @app.post(PATH, status_code=202)
    async def receive(request: Request) -> Response:
        await request.body()
        return Response(b'{"received":true}', status_code=202, media_type="application/json")

    run_server(app, "127.0.0.1", port)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def pinned(cpu: int | None) -> Any:
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


@contextlib.contextmanager
def server(kind: str, port: int, cpu: int | None, *extra: str) -> Iterator[int]:
    """A server process listening on ``port``; yields its pid."""
    command = [sys.executable, __file__, f"_serve-{kind}", "--port", str(port), *extra]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=pinned(cpu)
    )
    try:
        wait_listening(port, process)
        yield process.pid
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, all threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_listening(port: int, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            stderr = process.stderr.read().decode() if process.stderr else ""
            raise SystemExit(f"server on port {port} exited: {stderr[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.1)
    raise SystemExit(f"server on port {port} did not start within {timeout}s")


# -- load: wrk -------------------------------------------------------------------------------


def run_wrk(
    port: int, script: Path, requests: Path, connections: int, duration: int, cpu: int | None
) -> dict[str, Any]:
    command = [
        "wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "10s",
        "-s", str(script), f"http://127.0.0.1:{port}{PATH}", "--", str(requests),
    ]  # fmt: skip
    output = subprocess.run(
        command, capture_output=True, text=True, check=True, preexec_fn=pinned(cpu)
    ).stdout
    return parse_wrk(output)


def parse_wrk(output: str) -> dict[str, Any]:
    def number(pattern: str) -> float:
        found = re.search(pattern, output)
        return float(found.group(1)) if found else 0.0

    completed = int(number(r"(\d+) requests in"))
    elapsed = number(r"requests in ([\d.]+)s")
    non_2xx = int(number(r"Non-2xx or 3xx responses: (\d+)"))
    socket_errors = re.search(r"Socket errors: (.*)", output)
    distribution = re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
    latency = {f"p{p}_ms": to_ms(value, unit) for p, value, unit in distribution}
    return {
        "completed": completed,
        "non_2xx": non_2xx,
        "seconds": elapsed,
        "ok_per_second": round((completed - non_2xx) / elapsed, 1) if elapsed else 0.0,
        "latency_ms": latency,
        "socket_errors": socket_errors.group(1) if socket_errors else "none",
    }


def to_ms(value: str, unit: str) -> float:
    return round(float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit], 3)


# -- load: a Python generator (separate process) ---------------------------------------------


class Connection:
    """One keep-alive HTTP/1.1 connection that sends pre-built requests."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send(self, request: bytes) -> int:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
        await self.reader.readexactly(int(length.group(1)) if length else 0)
        return int(head[9:12])


async def closed_loop(
    port: int, requests: Sequence[bytes], connections: int, duration: float
) -> dict[str, Any]:
    """Every connection sends its next request as soon as the last one is answered."""
    pool = [await Connection.open(port) for _ in range(connections)]
    statuses: dict[int, int] = {}
    cursor = iter(range(10**12))
    deadline = time.perf_counter() + duration

    async def drive(connection: Connection) -> None:
        while time.perf_counter() < deadline:
            status = await connection.send(requests[next(cursor) % len(requests)])
            statuses[status] = statuses.get(status, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(drive(c) for c in pool))
    elapsed = time.perf_counter() - started
    ok = sum(n for status, n in statuses.items() if 200 <= status < 300)
    return {
        "completed": sum(statuses.values()),
        "non_2xx": sum(statuses.values()) - ok,
        "seconds": round(elapsed, 3),
        "ok_per_second": round(ok / elapsed, 1),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
    }


async def open_loop(
    port: int, requests: Sequence[bytes], connections: int, rate: float, warmup: float
) -> dict[str, Any]:
    """Request i is due at ``start + i / rate``; its latency runs from then to its answer, so
    waiting for a free connection counts. The first ``warmup`` seconds are not recorded."""
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):
        idle.put_nowait(await Connection.open(port))
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    start = time.perf_counter() + 0.05
    recorded_from = int(warmup * rate)

    async def one(i: int, due: float) -> None:
        connection = await idle.get()
        status = await connection.send(requests[i])
        done = time.perf_counter()
        idle.put_nowait(connection)
        if i >= recorded_from:
            latencies.append(done - due)
            statuses[status] = statuses.get(status, 0) + 1

    tasks = []
    for i in range(len(requests)):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, due)))
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - (start + warmup)
    latencies.sort()

    def pct(p: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))] * 1000, 3)

    ok = sum(n for status, n in statuses.items() if 200 <= status < 300)
    return {
        "target_per_second": rate,
        "achieved_per_second": round(len(latencies) / elapsed, 1),
        "recorded": len(latencies),
        "non_2xx": len(latencies) - ok,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "latency_ms": {"p50": pct(50), "p90": pct(90), "p99": pct(99), "max": pct(100)},
    }


def run_python_load(mode: str, port: int, requests: Path, cpu: int | None, **options: Any) -> Any:
    command = [sys.executable, __file__, "_load", mode, "--port", str(port), str(requests)]
    for name, value in options.items():
        command += [f"--{name.replace('_', '-')}", str(value)]
    output = subprocess.run(
        command, capture_output=True, text=True, check=True, preexec_fn=pinned(cpu)
    ).stdout
    return json.loads(output)


# -- the run ---------------------------------------------------------------------------------


def stored_events(database: Path) -> int:
    with contextlib.closing(sqlite3.connect(database)) as connection:
        return int(connection.execute("SELECT count(*) FROM events").fetchone()[0])


def revline_metric(port: int, name: str) -> float:
    import httpx

    text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    found = re.search(rf"^{re.escape(name)} ([\d.e+]+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def machine() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(memory, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "packages": {
            p: version(p)
            for p in ("fastapi", "starlette", "uvicorn", "uvloop", "httptools", "sqlalchemy")
        },
    }


def sqlite_durability(database_url: str) -> dict[str, str]:
    """Read back the pragmas Revline's engine sets, to show the run was durable."""
    from sqlalchemy import text

    from revline.db.engine import Database

    db = Database(database_url)
    try:
        with db.engine.connect() as connection:
            journal = connection.execute(text("PRAGMA journal_mode")).scalar_one()
            synchronous = connection.execute(text("PRAGMA synchronous")).scalar_one()
    finally:
        db.dispose()
    names = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
    return {"journal_mode": str(journal), "synchronous": names.get(int(synchronous), "?")}


class Runner:
    """The load phases against the two running servers."""

    def __init__(self, args: argparse.Namespace, work: Path, load_cpu: int | None) -> None:
        self.args = args
        self.work = work
        self.load_cpu = load_cpu
        self.wrk = shutil.which("wrk") if args.generator != "python" else None
        if args.generator == "wrk" and self.wrk is None:
            raise SystemExit("wrk is not installed (apt-get install -y wrk); or --generator python")
        self.script = work / "cycle.lua"
        self.script.write_text(WRK_SCRIPT)
        self.next_event = 0
        self.event_bytes = 0

    def signed(self, name: str, count: int) -> Path:
        """``count`` events never sent before, signed now."""
        path = self.work / f"{name}.tsv"
        self.event_bytes = write_signed(path, self.next_event, count)
        self.next_event += count
        return path

    def warm(self, port: int, requests: Path) -> None:
        """Imports, statement caches, the database file's first pages."""
        run_python_load("closed", port, requests, self.load_cpu, connections=8, duration=2)

    def max_throughput(self, port: int, pid: int, requests: Path) -> dict[str, Any]:
        """Closed-loop maximum, plus the server's CPU time per answered request: unlike
        throughput, that barely depends on what else the machine is running."""
        args = self.args
        before = cpu_seconds(pid)
        if self.wrk:
            result = run_wrk(port, self.script, requests, args.connections, args.duration,
                             self.load_cpu)  # fmt: skip
        else:
            result = self.python_max(port, requests)
        used = cpu_seconds(pid) - before
        result["server_cpu_seconds"] = round(used, 2)
        result["server_cpu_us_per_request"] = round(used / max(result["completed"], 1) * 1e6)
        return result

    def python_max(self, port: int, requests: Path) -> dict[str, Any]:
        return dict(
            run_python_load(
                "closed", port, requests, self.load_cpu,
                connections=self.args.connections, duration=self.args.duration,
            )
        )  # fmt: skip

    def fixed_rate(self, port: int, requests: Path) -> dict[str, Any]:
        args = self.args
        return dict(
            run_python_load(
                "rate", port, requests, self.load_cpu,
                connections=args.rate_connections, rate=args.rate, warmup=args.warmup,
            )
        )  # fmt: skip

    def ingest_max(
        self, port: int, pid: int, database: Path, bare_per_second: float
    ) -> dict[str, Any]:
        """Maximum ingest throughput, then check every acknowledged event is in the inbox."""
        # Enough distinct events that the run never cycles back to one already sent.
        budget = int(max(bare_per_second, 2000) * self.args.duration * 1.2)
        requests = self.signed("ingest", budget)
        before = stored_events(database)
        batches = revline_metric(port, "revline_ingest_batch_size_count")
        rows = revline_metric(port, "revline_ingest_batch_size_sum")
        result = self.max_throughput(port, pid, requests)
        time.sleep(1)  # requests in flight when the generator stopped finish
        stored = stored_events(database) - before
        batches = revline_metric(port, "revline_ingest_batch_size_count") - batches
        rows = revline_metric(port, "revline_ingest_batch_size_sum") - rows
        acknowledged = result["completed"] - result["non_2xx"]
        result.update(
            acknowledged=acknowledged,
            stored=stored,
            every_acknowledged_event_stored=stored >= acknowledged,
            distinct_events_signed=budget,
            mean_batch_size=round(rows / batches, 1) if batches else None,
        )
        return result


def bench(args: argparse.Namespace) -> dict[str, Any]:
    from revline.db.engine import Database
    from revline.db.migrate import upgrade

    load_before = os.getloadavg()[0]
    two_cpus = (os.cpu_count() or 1) >= 2 and hasattr(os, "sched_setaffinity")
    server_cpu, load_cpu = (SERVER_CPU, LOAD_CPU) if two_cpus else (None, None)
    with tempfile.TemporaryDirectory(prefix="revline-bench-") as tmp:
        work = Path(tmp)
        runner = Runner(args, work, load_cpu)
        database = work / "revline.db"
        database_url = f"sqlite:///{database}"
        db = Database(database_url)
        upgrade(db)
        db.dispose()
        revline_port, bare_port = free_port(), free_port()
        with (
            server("revline", revline_port, server_cpu, "--database-url", database_url) as revline,
            server("bare", bare_port, server_cpu) as bare,
        ):
            warm = runner.signed("warm", 2000)
            runner.warm(revline_port, warm)
            runner.warm(bare_port, warm)
            # Alternate the two maximum-throughput phases, and flip their order each time: on a
            # shared virtual machine a core's speed drifts over a minute (the same code measured
            # 234 to 352 µs of CPU per webhook in back-to-back runs), so the ratio is taken
            # within each pair and the median pair reported.
            pairs = []
            for n in range(args.repeat):
                if n % 2 == 0:
                    bare_run = runner.max_throughput(bare_port, bare, warm)
                    ingest_run = runner.ingest_max(
                        revline_port, revline, database, bare_run["ok_per_second"]
                    )
                else:
                    ingest_run = runner.ingest_max(
                        revline_port, revline, database, pairs[-1][0]["ok_per_second"]
                    )
                    bare_run = runner.max_throughput(bare_port, bare, warm)
                pairs.append((bare_run, ingest_run))
            pairs.sort(key=lambda pair: pair[1]["ok_per_second"] / pair[0]["ok_per_second"])
            bare_max, ingest_max = pairs[len(pairs) // 2]
            at_rate = runner.signed("rate", int(args.rate * (args.warmup + args.duration)))
            ingest_rate = runner.fixed_rate(revline_port, at_rate)
            bare_rate = runner.fixed_rate(bare_port, at_rate)
            generator_ceiling = runner.python_max(bare_port, warm)
        durability = sqlite_durability(database_url)

    ratio = ingest_max["ok_per_second"] / bare_max["ok_per_second"]
    p99 = ingest_rate["latency_ms"]["p99"]
    return {
        "benchmark": "webhook_ingest",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "setup": {
            "server": "revline.cli.service.run_server (uvicorn, uvloop, httptools), one process, "
            "as `revline serve --no-worker`; the bare endpoint the same way",
            "database": {"engine": "sqlite file in a temp dir", **durability},
            "event": f"Stripe invoice.payment_failed, {runner.event_bytes} bytes, signed, "
            "each id distinct",
            "throughput_generator": (
                f"wrk ({runner.wrk})" if runner.wrk else "python asyncio (wrk not found)"
            ),
            "rate_generator": "python asyncio, open loop, latency from each request's due time",
            "connections": args.connections,
            "rate_connections": args.rate_connections,
            "duration_seconds": args.duration,
            "cpu_pinning": (
                f"servers on CPU {SERVER_CPU}, load generators on CPU {LOAD_CPU}"
                if two_cpus
                else "none (fewer than two CPUs)"
            ),
            # Other processes on the machine skew every figure: the 1-minute load shows it.
            "load_average_before_after": [load_before, os.getloadavg()[0]],
        },
        "pairs": [
            {
                "bare_per_second": b["ok_per_second"],
                "ingest_per_second": i["ok_per_second"],
                "ratio": round(i["ok_per_second"] / b["ok_per_second"], 3),
                "bare_cpu_us": b["server_cpu_us_per_request"],
                "ingest_cpu_us": i["server_cpu_us_per_request"],
                "every_acknowledged_event_stored": i["every_acknowledged_event_stored"],
            }
            for b, i in pairs
        ],
        "bare_max": bare_max,
        "ingest_max": ingest_max,
        "ingest_at_fixed_rate": ingest_rate,
        "bare_at_fixed_rate": bare_rate,
        "python_generator_ceiling_on_bare": generator_ceiling,
        "ingest_to_bare_ratio": round(ratio, 3),
        # What the throughput ratio tends to on an otherwise idle core, both being CPU-bound.
        "ingest_to_bare_cpu_cost_ratio": round(
            bare_max["server_cpu_us_per_request"] / ingest_max["server_cpu_us_per_request"], 3
        ),
        "targets": {
            "ingest_at_least_1000_per_second": ingest_max["ok_per_second"] >= 1000,
            "p99_below_50ms_at_500_per_second": p99 < 50 and ingest_rate["non_2xx"] == 0,
            "ingest_at_least_half_of_bare": ratio >= 0.5,
            "every_acknowledged_event_stored": all(
                i["every_acknowledged_event_stored"] for _, i in pairs
            ),
        },
    }


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "_serve-revline":
        parser = argparse.ArgumentParser()
        parser.add_argument("--port", type=int, required=True)
        parser.add_argument("--database-url", required=True)
        options = parser.parse_args(argv[1:])
        serve_revline(options.database_url, options.port)
        return
    if argv and argv[0] == "_serve-bare":
        serve_bare(int(argv[argv.index("--port") + 1]))
        return
    if argv and argv[0] == "_load":
        load_main(argv[1:])
        return

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured phase")
    parser.add_argument(
        "--repeat", type=int, default=3, help="bare/ingest maximum-throughput pairs (median)"
    )
    parser.add_argument("--connections", type=int, default=64, help="for maximum throughput")
    parser.add_argument("--rate", type=float, default=500, help="requests/s for latency")
    parser.add_argument("--rate-connections", type=int, default=32)
    parser.add_argument("--warmup", type=float, default=2, help="unrecorded seconds at the rate")
    parser.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto")
    print(json.dumps(bench(parser.parse_args(argv)), indent=2))


def load_main(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=("closed", "rate"))
    parser.add_argument("requests", type=Path)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--rate", type=float, default=500)
    parser.add_argument("--warmup", type=float, default=2)
    options = parser.parse_args(argv)
    requests = read_requests(options.requests, options.port)
    if options.mode == "closed":
        result = asyncio.run(
            closed_loop(options.port, requests, options.connections, options.duration)
        )
    else:
        result = asyncio.run(
            open_loop(options.port, requests, options.connections, options.rate, options.warmup)
        )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
