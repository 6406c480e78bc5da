"""The transport's retry rules and error mapping, against canned NetSuite answers."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr

from revline.clock import SimulatedClock
from revline.config import NetSuite
from revline.errors import ConfigError
from revline.providers.base import ProviderError
from revline.providers.netsuite.transport import RetryPolicy, Transport, default_base_url

SETTINGS = NetSuite(
    account_id="1234567_SB1",
    consumer_key=SecretStr("ck"),
    consumer_secret=SecretStr("cs"),
    token_id=SecretStr("tk"),
    token_secret=SecretStr("ts"),
    restlet_url=(
        "https://1234567-sb1.restlets.api.netsuite.com/app/site/hosting/restlet.nl"
        "?script=1729&deploy=1"
    ),
)
REST_ERROR = {
    "type": "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.1",
    "title": "Bad Request",
    "status": 400,
    "o:errorDetails": [
        {"detail": "Invalid value.", "o:errorCode": "INVALID_FLD_VALUE", "o:errorPath": "memo"}
    ],
}


def _transport(
    answers: list[httpx.Response | Exception], sleeps: list[float]
) -> tuple[Transport, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    transport = Transport(
        SETTINGS,
        clock=SimulatedClock(datetime(2026, 12, 1, tzinfo=UTC)),
        http=httpx.Client(transport=httpx.MockTransport(handle)),
        retry=RetryPolicy(attempts=4, base_seconds=1.0, cap_seconds=8.0),
        sleep=sleeps.append,
    )
    return transport, seen


def _json(status: int, body: object) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(body).encode())


def test_the_default_host_follows_the_account_id() -> None:
    assert default_base_url("1234567_SB1") == "https://1234567-sb1.suitetalk.api.netsuite.com"


def test_concurrency_refusals_are_retried_with_growing_pauses_then_given_up() -> None:
    sleeps: list[float] = []
    refused = _json(
        429, {"status": 429, "o:errorDetails": [{"detail": "busy", "o:errorCode": "X"}]}
    )
    transport, seen = _transport([refused] * 4, sleeps)
    with pytest.raises(ProviderError) as caught:
        transport.rest("POST", "record/v1/deposit", body={}, idempotency_key="k")
    assert (caught.value.status, caught.value.retryable) == (429, True)
    assert len(seen) == 4 and len(sleeps) == 3
    assert 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0 and 2.0 <= sleeps[2] <= 4.0
    assert {request.headers["X-Revline-Idempotency-Key"] for request in seen} == {"k"}
    assert len({request.headers["Authorization"] for request in seen}) == 4  # fresh nonces


def test_the_restlet_limit_error_is_retried_like_a_429() -> None:
    sleeps: list[float] = []
    limited = _json(400, {"error": {"code": "SSS_REQUEST_LIMIT_EXCEEDED", "message": "busy"}})
    done = _json(200, {"ok": True, "replayed": False, "result": {"id": "9"}})
    transport, seen = _transport([limited, done], sleeps)
    answer = transport.restlet("log_message", {"customer": "1"}, "k-1")
    assert answer["result"] == {"id": "9"} and len(sleeps) == 1
    assert json.loads(seen[0].content)["idempotency_key"] == "k-1"


def test_reads_are_retried_after_a_server_error_writes_are_not() -> None:
    sleeps: list[float] = []
    broken = _json(503, {"status": 503})
    transport, seen = _transport([broken, _json(200, {"id": "1"}), broken], sleeps)
    assert transport.rest("GET", "record/v1/customer/1").json() == {"id": "1"}
    with pytest.raises(ProviderError) as caught:
        transport.rest("PATCH", "record/v1/customer/1", body={"email": "x"}, idempotency_key="k")
    assert (caught.value.status, caught.value.retryable) == (503, True)
    assert [request.method for request in seen] == ["GET", "GET", "PATCH"]


def test_a_lost_connection_on_a_write_is_retryable_but_not_repeated() -> None:
    transport, seen = _transport([httpx.ReadTimeout("lost")], [])
    with pytest.raises(ProviderError) as caught:
        transport.rest("POST", "record/v1/deposit", body={}, idempotency_key="k")
    assert caught.value.retryable and len(seen) == 1


@pytest.mark.parametrize(
    ("response", "status", "code", "retryable"),
    [
        (_json(400, REST_ERROR), 400, "INVALID_FLD_VALUE", False),
        (
            _json(
                401,
                {
                    "status": 401,
                    "o:errorDetails": [{"detail": "no", "o:errorCode": "INVALID_LOGIN"}],
                },
            ),
            401,
            "INVALID_LOGIN",
            False,
        ),
        (_json(409, {"status": 409}), 409, None, True),
        (httpx.Response(502, content=b"<html>bad gateway</html>"), 502, None, True),
    ],
)
def test_error_bodies_become_provider_errors(
    response: httpx.Response, status: int, code: str | None, retryable: bool
) -> None:
    transport, _ = _transport([response], [])
    with pytest.raises(ProviderError) as caught:
        transport.rest("PATCH", "record/v1/invoice/5", body={"memo": 1}, idempotency_key="k")
    error = caught.value
    assert (error.provider, error.status, error.provider_code, error.retryable) == (
        "netsuite",
        status,
        code,
        retryable,
    )
    if code == "INVALID_FLD_VALUE":
        assert error.message.endswith("Invalid value. (at memo)")


def test_writes_ask_netsuite_to_refuse_unknown_fields() -> None:
    transport, seen = _transport([httpx.Response(204, headers={"Location": "x/7"})], [])
    transport.rest("POST", "record/v1/customer", body={"companyName": "A"}, idempotency_key="k")
    assert seen[0].headers["X-NetSuite-PropertyNameValidation"] == "Error"


def test_suiteql_pages_until_nothing_more() -> None:
    def page(offset: int, more: bool) -> httpx.Response:
        items = [{"links": [], "id": str(offset + n)} for n in range(2)]
        return _json(200, {"items": items, "hasMore": more, "offset": offset, "count": 2})

    transport, seen = _transport([page(0, True), page(2, True), page(4, False)], [])
    rows = transport.suiteql("SELECT id FROM customer ORDER BY id", page_size=2)
    assert [row["id"] for row in rows] == ["0", "1", "2", "3", "4", "5"]
    assert [request.url.params["offset"] for request in seen] == ["0", "2", "4"]
    assert {request.headers["Prefer"] for request in seen} == {"transient"}
    assert rows[0] == {"id": "0"}  # the per-row links are dropped


@pytest.mark.parametrize(
    "settings",
    [
        NetSuite(),
        SETTINGS.model_copy(update={"token_secret": None}),
        SETTINGS.model_copy(update={"auth": "oauth2"}),
    ],
    ids=["no-account", "no-token-secret", "oauth2-without-certificate"],
)
def test_missing_settings_fail_at_start(settings: NetSuite) -> None:
    with pytest.raises(ConfigError, match=r"netsuite\."):
        Transport(settings, clock=SimulatedClock(datetime(2026, 12, 1, tzinfo=UTC)))
