"""A simulated Stripe on loopback and the real adapter pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from revline.clock import SimulatedClock
from revline.providers.stripe.client import StripeAdapter
from revline.providers.stripe.sim import StripeSimulator, StripeState
from tests.conftest import STRIPE_SECRET


@pytest.fixture
def sim(clock: SimulatedClock) -> Iterator[StripeSimulator]:
    with StripeSimulator(clock, seed=7, webhook_secret=STRIPE_SECRET) as simulator:
        yield simulator


@pytest.fixture
def stripe_state(sim: StripeSimulator) -> StripeState:
    return sim.state


@pytest.fixture
def adapter(sim: StripeSimulator, clock: SimulatedClock) -> StripeAdapter:
    # No SDK retries: the tests see each answer, and the executor's retries are the ones tested.
    return StripeAdapter(sim.api_key, api_base=sim.url, max_network_retries=0, clock=clock)
