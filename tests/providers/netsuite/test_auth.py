"""Token-based auth and OAuth 2.0 client credentials, against the simulator's verification."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, unquote

import httpx
import pytest
from pydantic import SecretStr

from revline.clock import SimulatedClock
from revline.providers.base import ProviderError
from revline.providers.netsuite import NetSuiteAdapter
from revline.providers.netsuite.auth import TokenBasedAuth, jwt_codec
from revline.providers.netsuite.sim import NetSuiteSimulator
from tests.providers.netsuite.conftest import FAST_RETRY

FIXED = datetime.fromtimestamp(1_767_225_600, UTC)  # 2026-01-01T00:00:00Z


def _header_params(header: str) -> dict[str, str]:
    scheme, _, rest = header.partition(" ")
    assert scheme == "OAuth"
    pairs = (part.strip().split("=", 1) for part in rest.split(","))
    return {name: unquote(value.strip('"')) for name, value in pairs}


def test_tba_signature_is_the_rfc5849_hmac_sha256_of_the_base_string() -> None:
    # The expected base string is written out by hand from RFC 5849 section 3.4.1: method,
    # encoded base URI without the query, then every query and oauth_ parameter, each
    # percent-encoded, sorted, joined with & and encoded again. Query values are decoded
    # first (a%20b → "a b" → a%2520b once encoded twice).
    auth = TokenBasedAuth(
        account_id="1234567_SB1",
        consumer_key="ck-abc",
        consumer_secret="cs/secret+1",
        token_id="tok-xyz",
        token_secret="ts=secret",
        clock=SimulatedClock(FIXED),
        nonce=lambda: "n0nce42xyz",
    )
    url = (
        "https://1234567-sb1.restlets.api.netsuite.com/app/site/hosting/restlet.nl"
        "?script=1729&deploy=1&note=a%20b"
    )
    expected_base = (
        "POST&https%3A%2F%2F1234567-sb1.restlets.api.netsuite.com%2Fapp%2Fsite%2Fhosting"
        "%2Frestlet.nl&deploy%3D1%26note%3Da%2520b%26oauth_consumer_key%3Dck-abc"
        "%26oauth_nonce%3Dn0nce42xyz%26oauth_signature_method%3DHMAC-SHA256"
        "%26oauth_timestamp%3D1767225600%26oauth_token%3Dtok-xyz%26oauth_version%3D1.0"
        "%26script%3D1729"
    )
    key = f"{quote('cs/secret+1', safe='~')}&{quote('ts=secret', safe='~')}"
    assert key == "cs%2Fsecret%2B1&ts%3Dsecret"
    expected = base64.b64encode(
        hmac.new(key.encode(), expected_base.encode(), hashlib.sha256).digest()
    ).decode()

    params = _header_params(auth.authorization("POST", url))

    assert params == {
        "realm": "1234567_SB1",
        "oauth_consumer_key": "ck-abc",
        "oauth_token": "tok-xyz",
        "oauth_signature_method": "HMAC-SHA256",
        "oauth_timestamp": "1767225600",
        "oauth_nonce": "n0nce42xyz",
        "oauth_version": "1.0",
        "oauth_signature": expected,
    }


def test_the_simulator_accepts_the_adapters_signature(adapter: NetSuiteAdapter) -> None:
    assert [account.number for account in adapter.accounts()][:3] == ["1000", "1100", "1190"]


def _adapter(sim: NetSuiteSimulator, clock: SimulatedClock, **changes: object) -> NetSuiteAdapter:
    settings = sim.settings().model_copy(update=changes)
    return NetSuiteAdapter(settings, clock=clock, retry=FAST_RETRY)


@pytest.mark.parametrize(
    "changes",
    [
        {"token_secret": "wrong"},
        {"consumer_key": "somebody-else"},
        {"account_id": "7654321"},
    ],
    ids=["bad-signature", "unknown-consumer", "wrong-realm"],
)
def test_bad_credentials_are_invalid_login_and_not_retried(
    sim: NetSuiteSimulator, clock: SimulatedClock, changes: dict[str, str]
) -> None:
    update = {k: SecretStr(v) if k != "account_id" else v for k, v in changes.items()}
    with _adapter(sim, clock, **update) as netsuite, pytest.raises(ProviderError) as caught:
        netsuite.accounts()
    error = caught.value
    assert (error.status, error.provider_code, error.retryable) == (401, "INVALID_LOGIN", False)
    assert len(sim.requests) == 1  # refused once, never repeated


def test_a_stale_timestamp_is_refused(sim: NetSuiteSimulator, clock: SimulatedClock) -> None:
    behind = SimulatedClock(clock.now() - timedelta(minutes=6))
    with (
        NetSuiteAdapter(sim.settings(), clock=behind) as netsuite,
        pytest.raises(ProviderError) as caught,
    ):
        netsuite.accounts()
    assert caught.value.provider_code == "INVALID_LOGIN"


def test_a_replayed_nonce_is_refused(sim: NetSuiteSimulator, clock: SimulatedClock) -> None:
    settings = sim.settings()
    assert settings.consumer_key and settings.consumer_secret
    assert settings.token_id and settings.token_secret
    auth = TokenBasedAuth(
        account_id="1234567_SB1",
        consumer_key=settings.consumer_key.get_secret_value(),
        consumer_secret=settings.consumer_secret.get_secret_value(),
        token_id=settings.token_id.get_secret_value(),
        token_secret=settings.token_secret.get_secret_value(),
        clock=clock,
        nonce=lambda: "same-nonce-every-time",
    )
    url = f"{sim.base_url}/services/rest/record/v1/customer/1"
    with httpx.Client() as http:
        first = http.get(url, headers={"Authorization": auth.authorization("GET", url)})
        second = http.get(url, headers={"Authorization": auth.authorization("GET", url)})
    assert first.status_code == 404  # authenticated; there is simply no customer 1
    assert second.status_code == 401
    assert second.json()["o:errorDetails"][0]["o:errorCode"] == "INVALID_LOGIN"


def test_oauth2_client_credentials_with_a_cached_token(
    sim: NetSuiteSimulator, clock: SimulatedClock
) -> None:
    with NetSuiteAdapter(sim.settings("oauth2"), clock=clock, retry=FAST_RETRY) as netsuite:
        for _ in range(3):
            netsuite.accounts(refresh=True)
        assert sim.gatekeeper.tokens_issued == 1
        clock.advance(timedelta(minutes=54))
        netsuite.accounts(refresh=True)
        assert sim.gatekeeper.tokens_issued == 1  # still six minutes to go
        clock.advance(timedelta(minutes=2))
        netsuite.accounts(refresh=True)
        assert sim.gatekeeper.tokens_issued == 2  # renewed five minutes before expiry
        sim.gatekeeper.revoke_tokens()
        netsuite.accounts(refresh=True)
        assert sim.gatekeeper.tokens_issued == 3  # 401, a new token, the call succeeds


def test_the_assertion_names_the_certificate_and_lives_briefly(
    sim: NetSuiteSimulator, clock: SimulatedClock
) -> None:
    with NetSuiteAdapter(sim.settings("oauth2"), clock=clock) as netsuite:
        credentials = netsuite.transport.auth
        assertion = credentials.assertion()  # type: ignore[attr-defined]
    claims = jwt_codec().decode(assertion, sim.integration.certificate_public_key_pem)
    assert claims.header == {"alg": "PS256", "typ": "JWT", "kid": sim.integration.certificate_id}
    assert claims["iss"] == sim.integration.client_id
    assert claims["scope"] == "rest_webservices,restlets"
    assert claims["aud"] == f"{sim.base_url}/services/rest/auth/oauth2/v1/token"
    assert 0 < claims["exp"] - claims["iat"] <= 3600


def test_an_assertion_signed_with_another_key_gets_no_token(clock: SimulatedClock) -> None:
    with NetSuiteSimulator(clock, seed=1) as ours, NetSuiteSimulator(clock, seed=2) as theirs:
        stolen = ours.settings("oauth2").model_copy(
            update={
                "private_key_pem": theirs.settings("oauth2").private_key_pem,
                "certificate_id": ours.integration.certificate_id,
            }
        )
        with NetSuiteAdapter(stolen, clock=clock) as netsuite, pytest.raises(ProviderError) as e:
            netsuite.accounts()
    assert (e.value.status, e.value.provider_code, e.value.retryable) == (
        401,
        "invalid_client",
        False,
    )
