"""Stripe's errors become Revline's: retryable or not, with Stripe's code and message kept."""

from __future__ import annotations

import socket

import pytest
import stripe

from revline.clock import SimulatedClock
from revline.providers.simulator import Faults
from revline.providers.stripe.client import StripeAdapter
from revline.providers.stripe.errors import StripeRequestError, is_retryable, translate
from revline.providers.stripe.sim import StripeSimulator
from tests.conftest import STRIPE_SECRET


def _stripe_error(
    status: int, body: dict[str, object], headers: dict[str, str] | None = None
) -> stripe.StripeError:
    return stripe.APIError("boom", "{}", status, {"error": body}, headers or {})


@pytest.mark.parametrize(
    ("status", "headers", "retryable"),
    [
        (400, None, False),
        (401, None, False),
        (402, None, False),
        (403, None, False),
        (404, None, False),
        (409, None, True),
        (429, None, True),
        (500, None, True),
        (503, None, True),
        (500, {"Stripe-Should-Retry": "false"}, False),
        (400, {"Stripe-Should-Retry": "true"}, True),
        (409, {"stripe-should-retry": "false"}, False),
    ],
)
def test_retryable_by_status_unless_stripe_says_otherwise(
    status: int, headers: dict[str, str] | None, retryable: bool
) -> None:
    assert is_retryable(_stripe_error(status, {"type": "api_error"}, headers)) is retryable


def test_translation_keeps_codes_and_message() -> None:
    error = translate(
        stripe.CardError(
            "Your card has insufficient funds.",
            None,
            "card_declined",
            http_status=402,
            json_body={
                "error": {
                    "type": "card_error",
                    "code": "card_declined",
                    "decline_code": "insufficient_funds",
                    "message": "Your card has insufficient funds.",
                }
            },
            headers={"request-id": "req_1"},
        )
    )
    assert (error.message, error.status, error.retryable) == (
        "Your card has insufficient funds.",
        402,
        False,
    )
    assert (error.provider, error.provider_code, error.decline_code, error.error_type) == (
        "stripe",
        "card_declined",
        "insufficient_funds",
        "card_error",
    )
    assert error.request_id == "req_1"


def test_a_connection_failure_is_retryable(clock: SimulatedClock) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    adapter = StripeAdapter("sk_test_x", api_base=f"http://127.0.0.1:{port}", max_network_retries=0)
    with pytest.raises(StripeRequestError) as caught:
        adapter.get_customer("cus_1")
    assert caught.value.retryable and caught.value.status is None


def test_not_found_and_bad_key_are_not_retryable(
    adapter: StripeAdapter, sim: StripeSimulator
) -> None:
    with pytest.raises(StripeRequestError) as missing:
        adapter.get_invoice("in_missing")
    assert (missing.value.status, missing.value.retryable, missing.value.provider_code) == (
        404,
        False,
        "resource_missing",
    )
    assert missing.value.message == "No such invoice: 'in_missing'"
    stranger = StripeAdapter("sk_test_not_ours", api_base=sim.url, max_network_retries=0)
    with pytest.raises(StripeRequestError) as refused:
        stranger.list_customers()
    assert (refused.value.status, refused.value.retryable) == (401, False)


def test_an_idempotency_conflict_is_not_retryable(
    adapter: StripeAdapter, sim: StripeSimulator
) -> None:
    customer = sim.state.create_customer("a@example.com", "A")
    adapter.update_customer_metadata(customer["id"], {"a": "1"}, "same-key")
    with pytest.raises(StripeRequestError) as conflict:
        adapter.update_customer_metadata(customer["id"], {"a": "2"}, "same-key")
    assert (conflict.value.status, conflict.value.error_type, conflict.value.retryable) == (
        400,
        "idempotency_error",
        False,
    )


@pytest.mark.parametrize(
    ("faults", "status"),
    [(Faults(api_429_rate=0.9, seed=1), 429), (Faults(api_error_rate=0.9, seed=1), 500)],
)
def test_injected_faults_are_retryable_in_stripes_shape(
    clock: SimulatedClock, faults: Faults, status: int
) -> None:
    with StripeSimulator(clock, seed=1, webhook_secret=STRIPE_SECRET, faults=faults) as sim:
        adapter = StripeAdapter(sim.api_key, api_base=sim.url, max_network_retries=0)
        errors: list[StripeRequestError] = []
        for _ in range(10):
            try:
                adapter.list_customers()
            except StripeRequestError as exc:
                errors.append(exc)
        assert errors and sim.injector.injected == {status: len(errors)}
    assert {(e.status, e.retryable) for e in errors} == {(status, True)}
    expected_type = "invalid_request_error" if status == 429 else "api_error"
    assert {e.error_type for e in errors} == {expected_type}


def test_the_sdk_retries_server_errors_itself_with_the_same_key(clock: SimulatedClock) -> None:
    faults = Faults(api_error_rate=0.5, seed=3)
    with StripeSimulator(clock, seed=1, webhook_secret=STRIPE_SECRET, faults=faults) as sim:
        customer = sim.state.create_customer("a@example.com", "A")
        adapter = StripeAdapter(sim.api_key, api_base=sim.url, max_network_retries=5)
        updated = adapter.update_customer_metadata(customer["id"], {"tier": "gold"}, "retry-key")
        assert updated.metadata == {"tier": "gold"}
        assert sim.injector.injected.get(500, 0) >= 1
