"""A running Ramp simulator, a seeded business in it, and an adapter that never really sleeps."""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from revline.clock import SimulatedClock
from revline.providers.ramp.client import RampAdapter
from revline.providers.ramp.records import Department, GLAccount, User
from revline.providers.ramp.sim import ALL_SCOPES, RampSimulator

CLIENT_ID = "revline-test"
CLIENT_SECRET = "ramp-test-client-secret"


class FakeTime:
    """A monotonic clock that only ``sleep`` moves: rate limits and backoffs run instantly."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.slept: list[float] = []
        self._lock = threading.Lock()

    def monotonic(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            self.now += seconds


@dataclass(frozen=True)
class Business:
    """The company in the simulator: Finance owns the SaaS budget, Sales spends on the road."""

    finance: Department
    sales: Department
    team_owner: User
    cardholder: User
    spend_ops_lead: User
    saas: GLAccount
    travel: GLAccount
    meals: GLAccount


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def start_sim(clock: SimulatedClock, fake_time: FakeTime, **options: Any) -> RampSimulator:
    options.setdefault("monotonic", fake_time.monotonic)
    return RampSimulator(
        clock, seed=7, client_id=CLIENT_ID, client_secret=CLIENT_SECRET, **options
    ).start()


def make_adapter(sim: RampSimulator, fake_time: FakeTime, **options: Any) -> RampAdapter:
    options.setdefault("scopes", ALL_SCOPES)
    options.setdefault("sleep", fake_time.sleep)
    options.setdefault("monotonic", fake_time.monotonic)
    options.setdefault("rng", random.Random(3))
    return RampAdapter(sim.url, CLIENT_ID, options.pop("client_secret", CLIENT_SECRET), **options)


@pytest.fixture
def sim(clock: SimulatedClock, fake_time: FakeTime) -> Iterator[RampSimulator]:
    simulator = start_sim(clock, fake_time)
    yield simulator
    simulator.stop()


@pytest.fixture
def adapter(sim: RampSimulator, fake_time: FakeTime) -> Iterator[RampAdapter]:
    with make_adapter(sim, fake_time) as ramp:
        yield ramp


@pytest.fixture
def business(sim: RampSimulator) -> Business:
    state = sim.state
    finance = state.add_department("Finance")
    sales = state.add_department("Sales")
    owner = state.add_user("Ingrid", "Holm", "ingrid@ourco.example", department_id=finance.id)
    cardholder = state.add_user(
        "Sam", "Okafor", "sam@ourco.example", department_id=sales.id, manager_id=owner.id
    )
    lead = state.add_user(
        "Lena", "Park", "lena@ourco.example", department_id=finance.id, role="BUSINESS_ADMIN"
    )
    return Business(
        finance=finance,
        sales=sales,
        team_owner=owner,
        cardholder=cardholder,
        spend_ops_lead=lead,
        saas=state.add_gl_account("6610", "Software & SaaS"),
        travel=state.add_gl_account("6420", "Travel"),
        meals=state.add_gl_account("6430", "Meals & Entertainment"),
    )
