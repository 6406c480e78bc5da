"""How Revline proves who it is to NetSuite: token-based auth or OAuth 2.0 client credentials.

Token-based auth (TBA) is OAuth 1.0a with HMAC-SHA256: every request carries a fresh nonce and
timestamp, signed with ``consumer_secret&token_secret`` over the method, the URL and every query
parameter (RFC 5849, section 3.4). authlib builds the signature base string and the header;
authlib's OAuth 1 client only signs HMAC-SHA1, which NetSuite no longer accepts, so the HMAC is
computed here. The realm is the account id exactly as NetSuite shows it (``1234567_SB1``).

OAuth 2.0 client credentials (machine to machine) trade a short JWT assertion, signed with the
private key of the certificate uploaded to the integration record (PS256, or ES256 for an EC
key), for a 60-minute access token. There is no refresh token: a new assertion fetches the next
one a few minutes before the current one runs out.

Both take time from the injected clock, so a simulated clock and the simulator agree on
timestamps.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import warnings
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

import authlib.deprecate  # noqa: F401  (imported first so the filter below can override it)
from authlib.oauth1.rfc5849.parameters import prepare_headers
from authlib.oauth1.rfc5849.signature import construct_base_string
from authlib.oauth1.rfc5849.util import escape
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from revline.clock import Clock
from revline.providers.base import ProviderError

with warnings.catch_warnings():
    # authlib 1.x warns that ``authlib.jose`` moves to the separate ``joserfc`` package in
    # authlib 2.0; until Revline depends on joserfc, the warning is noise in every run.
    warnings.simplefilter("ignore", DeprecationWarning)
    from authlib.jose import JsonWebToken
    from authlib.jose.errors import JoseError

SIGNATURE_METHOD = "HMAC-SHA256"
SCOPES = "rest_webservices,restlets"
CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
OAUTH2_ENDPOINT = "/services/rest/auth/oauth2/v1/token"
ASSERTION_ALGORITHMS = ("PS256", "ES256")
# What decoding a bad JWT raises: authlib's own errors, and ValueError for bad base64 or keys.
JWT_ERRORS: tuple[type[Exception], ...] = (JoseError, ValueError)


class Authenticator(Protocol):
    """Gives the ``Authorization`` header value for one request."""

    def authorization(self, method: str, url: str) -> str: ...

    def invalidate(self) -> bool:
        """Forget cached credentials; True when a retry with fresh ones could succeed."""
        ...


def jwt_codec() -> Any:
    """authlib's JWT encoder/decoder restricted to the algorithms NetSuite accepts."""
    return JsonWebToken(list(ASSERTION_ALGORITHMS))


def hmac_sha256_signature(base_string: str, consumer_secret: str, token_secret: str) -> str:
    """RFC 5849 section 3.4.2 with SHA-256: base64 of HMAC(key = cs&ts, base string)."""
    key = f"{escape(consumer_secret)}&{escape(token_secret)}"
    digest = hmac.new(key.encode(), base_string.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signature_base_string(method: str, url: str, oauth_params: list[tuple[str, str]]) -> str:
    """The RFC 5849 base string: method, URL without query, and every parameter sorted."""
    query = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    return str(construct_base_string(method, url, [*query, *oauth_params]))


def new_nonce() -> str:
    return secrets.token_hex(16)


class TokenBasedAuth:
    """OAuth 1.0a HMAC-SHA256 with a consumer (integration record) and an access token."""

    def __init__(
        self,
        *,
        account_id: str,
        consumer_key: str,
        consumer_secret: str,
        token_id: str,
        token_secret: str,
        clock: Clock,
        nonce: Callable[[], str] = new_nonce,
    ) -> None:
        self.realm = account_id
        self._consumer_key = consumer_key
        self._consumer_secret = consumer_secret
        self._token_id = token_id
        self._token_secret = token_secret
        self._clock = clock
        self._nonce = nonce

    def oauth_params(self) -> list[tuple[str, str]]:
        """The protocol parameters of one request: a fresh nonce and the clock's timestamp."""
        return [
            ("oauth_consumer_key", self._consumer_key),
            ("oauth_token", self._token_id),
            ("oauth_signature_method", SIGNATURE_METHOD),
            ("oauth_timestamp", str(int(self._clock.now().timestamp()))),
            ("oauth_nonce", self._nonce()),
            ("oauth_version", "1.0"),
        ]

    def authorization(self, method: str, url: str) -> str:
        params = self.oauth_params()
        base = signature_base_string(method, url, params)
        signature = hmac_sha256_signature(base, self._consumer_secret, self._token_secret)
        headers = prepare_headers([*params, ("oauth_signature", signature)], {}, realm=self.realm)
        return str(headers["Authorization"])

    def invalidate(self) -> bool:
        # A token is valid until revoked in NetSuite: nothing cached could be refreshed.
        return False


TokenFetch = Callable[[str, Mapping[str, str]], Mapping[str, Any]]


class ClientCredentials:
    """OAuth 2.0 client credentials with a JWT assertion; the access token is cached."""

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        certificate_id: str,
        private_key_pem: str,
        clock: Clock,
        fetch: TokenFetch,
        assertion_lifetime: timedelta = timedelta(minutes=5),
        renew_before: timedelta = timedelta(minutes=5),
    ) -> None:
        if assertion_lifetime > timedelta(minutes=60):
            raise ValueError("NetSuite refuses assertions that live longer than 60 minutes")
        self.token_url = token_url
        self._client_id = client_id
        self._certificate_id = certificate_id
        self._private_key_pem = private_key_pem.encode()
        key = load_pem_private_key(self._private_key_pem, password=None)
        self._algorithm = "ES256" if isinstance(key, ec.EllipticCurvePrivateKey) else "PS256"
        self._clock = clock
        self._fetch = fetch
        self._assertion_lifetime = assertion_lifetime
        self._renew_before = renew_before
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at: datetime | None = None
        self.tokens_fetched = 0

    def assertion(self) -> str:
        """A signed JWT naming this client, for the token endpoint only."""
        issued = int(self._clock.now().timestamp())
        header = {"alg": self._algorithm, "typ": "JWT", "kid": self._certificate_id}
        claims = {
            "iss": self._client_id,
            "scope": SCOPES,
            "aud": self.token_url,
            "iat": issued,
            "exp": issued + int(self._assertion_lifetime.total_seconds()),
        }
        return bytes(jwt_codec().encode(header, claims, self._private_key_pem)).decode()

    def access_token(self) -> str:
        """The cached access token, fetched anew when missing or about to expire."""
        with self._lock:
            now = self._clock.now()
            if (
                self._token is not None
                and self._expires_at is not None
                and now < self._expires_at - self._renew_before
            ):
                return self._token
            body = self._fetch(
                self.token_url,
                {
                    "grant_type": "client_credentials",
                    "client_assertion_type": CLIENT_ASSERTION_TYPE,
                    "client_assertion": self.assertion(),
                },
            )
            token = body.get("access_token")
            if not isinstance(token, str) or not token:
                raise ProviderError(
                    "the NetSuite token endpoint answered without an access token",
                    retryable=True,
                    provider="netsuite",
                )
            # NetSuite sends expires_in as a string ("3600"); accept a number too.
            lifetime = int(str(body.get("expires_in", "3600")))
            self._token = token
            self._expires_at = now + timedelta(seconds=lifetime)
            self.tokens_fetched += 1
            return token

    def authorization(self, method: str, url: str) -> str:
        return f"Bearer {self.access_token()}"

    def invalidate(self) -> bool:
        with self._lock:
            had_token = self._token is not None
            self._token = None
            self._expires_at = None
            return had_token
