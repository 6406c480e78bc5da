"""How the simulated account checks who is calling, as NetSuite does.

Token-based auth is verified for real: the signature base string is rebuilt from the request
as it arrived (RFC 5849, written here with the standard library alone, independently of the
authlib-based signer in the adapter) and signed with the registered secrets. A wrong realm,
signature, consumer or token, a reused nonce, or a timestamp more than five minutes off the
simulator's clock is refused. OAuth 2.0 assertions are verified against the public key of the
registered certificate, and the access tokens issued live sixty minutes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import random
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import parse_qsl, quote, unquote

from revline.clock import Clock
from revline.providers.netsuite.auth import (
    ASSERTION_ALGORITHMS,
    CLIENT_ASSERTION_TYPE,
    JWT_ERRORS,
    jwt_codec,
)

TIMESTAMP_TOLERANCE = timedelta(minutes=5)
ACCESS_TOKEN_LIFETIME = timedelta(minutes=60)
MAX_ASSERTION_LIFETIME = 3600
REQUIRED_SCOPES = frozenset({"rest_webservices", "restlets"})


class Refused(Exception):
    """The caller is not who it says (``INVALID_LOGIN``), or the token request is malformed."""

    def __init__(self, reason: str, oauth_error: str = "invalid_client") -> None:
        super().__init__(reason)
        self.reason = reason
        self.oauth_error = oauth_error


def _percent(value: str) -> str:
    return quote(value, safe="~")


def parse_oauth_header(header: str) -> dict[str, str]:
    """``OAuth realm="…", oauth_…="…"`` as a dict of decoded values."""
    scheme, _, rest = header.partition(" ")
    if scheme.lower() != "oauth":
        raise Refused("not an OAuth authorization header")
    params: dict[str, str] = {}
    for part in rest.split(","):
        name, sep, raw = part.strip().partition("=")
        if not sep or len(raw) < 2 or raw[0] != '"' or raw[-1] != '"':
            raise Refused(f"malformed OAuth parameter {part.strip()!r}")
        params[unquote(name)] = unquote(raw[1:-1])
    return params


def base_string(
    method: str, scheme: str, host: str, raw_path: str, raw_query: str, params: dict[str, str]
) -> str:
    """RFC 5849 section 3.4.1: method, base URI and normalised parameters, each encoded."""
    host = host.lower()
    default_port = {"http": ":80", "https": ":443"}[scheme]
    if host.endswith(default_port):
        host = host.removesuffix(default_port)
    pairs = parse_qsl(raw_query, keep_blank_values=True)
    pairs += [(k, v) for k, v in params.items() if k not in ("oauth_signature", "realm")]
    encoded = sorted((_percent(k), _percent(v)) for k, v in pairs)
    normalised = "&".join(f"{k}={v}" for k, v in encoded)
    uri = f"{scheme}://{host}{raw_path}"
    return "&".join(_percent(part) for part in (method.upper(), uri, normalised))


@dataclass
class Integration:
    """The integration record and the access token (TBA) or certificate (OAuth 2.0)."""

    account_id: str
    consumer_key: str
    consumer_secret: str
    token_id: str
    token_secret: str
    client_id: str
    certificate_id: str
    certificate_public_key_pem: str


@dataclass
class Gatekeeper:
    """Verifies TBA signatures and bearer tokens; issues OAuth 2.0 access tokens."""

    integration: Integration
    clock: Clock
    seed: int = 0
    tokens_issued: int = 0
    _nonces: dict[tuple[str, str], datetime] = field(default_factory=dict)
    _tokens: dict[str, datetime] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed + 7)

    def verify_tba(
        self, method: str, scheme: str, host: str, raw_path: str, raw_query: str, header: str
    ) -> None:
        params = parse_oauth_header(header)
        integration = self.integration
        if params.get("realm", "").upper() != integration.account_id.upper():
            raise Refused("the realm is not this account")
        if params.get("oauth_signature_method") != "HMAC-SHA256":
            raise Refused("only HMAC-SHA256 signatures are accepted")
        if params.get("oauth_version", "1.0") != "1.0":
            raise Refused("unsupported OAuth version")
        if not hmac.compare_digest(params.get("oauth_consumer_key", ""), integration.consumer_key):
            raise Refused("unknown consumer key")
        if not hmac.compare_digest(params.get("oauth_token", ""), integration.token_id):
            raise Refused("unknown token")
        try:
            stamp = int(params.get("oauth_timestamp", ""))
        except ValueError as exc:
            raise Refused("the timestamp is not a number") from exc
        now = self.clock.now()
        sent = datetime.fromtimestamp(stamp, tz=now.tzinfo)
        if abs(now - sent) > TIMESTAMP_TOLERANCE:
            raise Refused("the timestamp is too far from the current time")
        nonce = params.get("oauth_nonce", "")
        if len(nonce) < 6:
            raise Refused("the nonce is too short")
        text = base_string(method, scheme, host, raw_path, raw_query, params)
        key = f"{_percent(integration.consumer_secret)}&{_percent(integration.token_secret)}"
        expected = base64.b64encode(
            hmac.new(key.encode(), text.encode(), hashlib.sha256).digest()
        ).decode()
        if not hmac.compare_digest(expected, params.get("oauth_signature", "")):
            raise Refused("the signature does not match")
        with self._lock:
            for seen, at in list(self._nonces.items()):
                if now - at > TIMESTAMP_TOLERANCE * 2:
                    del self._nonces[seen]
            if (integration.token_id, nonce) in self._nonces:
                raise Refused("the nonce was used before")
            self._nonces[(integration.token_id, nonce)] = now

    def verify_bearer(self, token: str) -> None:
        with self._lock:
            expires = self._tokens.get(token)
        if expires is None or self.clock.now() >= expires:
            raise Refused("unknown or expired access token")

    def revoke_tokens(self) -> None:
        """Forget every access token issued (as if revoked in NetSuite)."""
        with self._lock:
            self._tokens.clear()

    def issue_token(self, form: dict[str, str], token_url: str) -> dict[str, str]:
        """The client-credentials grant: verify the assertion, answer with an access token."""
        if form.get("grant_type") != "client_credentials":
            raise Refused("grant_type must be client_credentials", "unsupported_grant_type")
        if form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE:
            raise Refused("client_assertion_type must be jwt-bearer", "invalid_request")
        assertion = form.get("client_assertion", "")
        header = _jwt_header(assertion)
        integration = self.integration
        if header.get("kid") != integration.certificate_id:
            raise Refused("unknown certificate id")
        if header.get("alg") not in ASSERTION_ALGORITHMS:
            raise Refused(f"algorithm {header.get('alg')!r} is not accepted")
        try:
            claims = jwt_codec().decode(assertion, integration.certificate_public_key_pem)
        except JWT_ERRORS as exc:
            raise Refused(f"the assertion does not verify: {type(exc).__name__}") from exc
        now = int(self.clock.now().timestamp())
        issued, expires = claims.get("iat"), claims.get("exp")
        scopes = claims.get("scope")
        scope_set = set(scopes if isinstance(scopes, list) else str(scopes or "").split(","))
        if claims.get("iss") != integration.client_id:
            raise Refused("the assertion's issuer is not the integration's client id")
        if claims.get("aud") != token_url:
            raise Refused("the assertion's audience is not this token endpoint")
        if not isinstance(issued, int) or not isinstance(expires, int):
            raise Refused("the assertion needs iat and exp")
        if expires - issued > MAX_ASSERTION_LIFETIME or issued > now + 60 or expires <= now:
            raise Refused("the assertion is expired, from the future, or lives too long")
        if not REQUIRED_SCOPES & scope_set:
            raise Refused("the assertion asks for no REST web services or RESTlet scope")
        token = "".join(self._rng.choice("abcdef0123456789") for _ in range(48))
        with self._lock:
            self._tokens[token] = self.clock.now() + ACCESS_TOKEN_LIFETIME
            self.tokens_issued += 1
        return {
            "access_token": token,
            "expires_in": str(int(ACCESS_TOKEN_LIFETIME.total_seconds())),
            "token_type": "bearer",
        }


def _jwt_header(assertion: str) -> dict[str, object]:
    try:
        segment = assertion.split(".")[0]
        decoded = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        header = json.loads(decoded)
    except (binascii.Error, ValueError, IndexError) as exc:
        raise Refused("the assertion is not a JWT", "invalid_request") from exc
    if not isinstance(header, dict):
        raise Refused("the assertion is not a JWT", "invalid_request")
    return header
