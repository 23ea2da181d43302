"""OAuth 2 for the Vertex emulator: the JWT-bearer token endpoint, minted access tokens and the bearer check.

Tokens are self-verifying (`ya29.emu-<expiry ms>-<nonce>-<HMAC>`), signed with a secret of this process,
so any component of the emulator (Vertex, the BigQuery stand-in) accepts exactly the tokens it minted and
refuses forged, unknown and expired ones. The token endpoint checks a service-account assertion's shape and
claims (RS256 header, issuer, Google's token audience, a lifetime of at most an hour, a scope); it cannot
check the signature, as it does not know the test key's public half.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from fastapi import Request
from starlette.responses import JSONResponse

from airflow_provider_genai_batch.testing.emulator.common import bearer_token
from airflow_provider_genai_batch.testing.emulator.store import StateDep
from airflow_provider_genai_batch.testing.emulator.vertex.wire import unauthenticated

TOKEN_PREFIX = "ya29.emu-"
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
MAX_ASSERTION_LIFETIME = 3600
CLOCK_SKEW = 300
GOOGLE_TOKEN_AUDIENCES = frozenset(
    {
        "https://oauth2.googleapis.com/token",
        "https://www.googleapis.com/oauth2/v4/token",
        "https://accounts.google.com/o/oauth2/token",
    }
)
"""The audiences Google's token endpoint accepts (google-auth always sends the first); this endpoint's own URL
is accepted as well."""
_SECRET = secrets.token_bytes(32)

MISSING_CREDENTIALS_MESSAGE = (
    "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie "
    "or other valid authentication credential."
)
INVALID_CREDENTIALS_MESSAGE = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
    "or other valid authentication credential."
)
API_KEY_MESSAGE = (
    "API keys are not supported by this API. Expected OAuth2 access token or other authentication "
    "credentials that assert a principal."
)


def _signature(body: str) -> str:
    return hmac.new(_SECRET, body.encode(), hashlib.sha256).hexdigest()[:32]


def mint_token(ttl: float, now: float | None = None) -> str:
    """A new access token valid for `ttl` seconds."""
    expiry_ms = int(((time.time() if now is None else now) + ttl) * 1000)
    body = f"{expiry_ms}-{secrets.token_hex(8)}"
    return f"{TOKEN_PREFIX}{body}-{_signature(body)}"


def token_valid(token: str, now: float | None = None) -> bool:
    """Whether this process minted the token and it has not expired."""
    if not token.startswith(TOKEN_PREFIX):
        return False
    body, _, signature = token.removeprefix(TOKEN_PREFIX).rpartition("-")
    if not hmac.compare_digest(signature, _signature(body)):
        return False
    expiry_ms = body.split("-", 1)[0]
    return expiry_ms.isdigit() and int(expiry_ms) / 1000 > (time.time() if now is None else now)


def require_bearer(request: Request) -> None:
    """Vertex's auth check: a live minted bearer token, else 401 UNAUTHENTICATED (API keys are refused too)."""
    token = bearer_token(request)
    if token is None:
        if request.headers.get("x-goog-api-key") or request.query_params.get("key"):
            raise unauthenticated(API_KEY_MESSAGE)
        raise unauthenticated(MISSING_CREDENTIALS_MESSAGE)
    if not token_valid(token):
        raise unauthenticated(INVALID_CREDENTIALS_MESSAGE)


# The token endpoint


def oauth_error(error: str, description: str) -> JSONResponse:
    """Google's OAuth 2 error body."""
    return JSONResponse({"error": error, "error_description": description}, status_code=400)


def _segment(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def assertion_problem(assertion: str, audience: str, now: float) -> str | None:
    """Why a service-account JWT assertion is refused, or None when its shape and claims are acceptable."""
    parts = assertion.split(".")
    if len(parts) != 3 or not all(parts):
        return "Invalid JWT: the assertion must have a header, a payload and a signature."
    try:
        header: Any = json.loads(_segment(parts[0]))
        claims: Any = json.loads(_segment(parts[1]))
        _segment(parts[2])
    except (binascii.Error, ValueError):
        return "Invalid JWT: a segment is not base64url-encoded JSON."
    if not isinstance(header, dict) or header.get("alg") != "RS256":
        return "Invalid JWT Signature."
    if not isinstance(claims, dict):
        return "Invalid JWT: the payload is not a JSON object."
    issuer = claims.get("iss")
    if not isinstance(issuer, str) or "@" not in issuer:
        return "Invalid JWT: the iss claim must be a service account email."
    if claims.get("aud") != audience and claims.get("aud") not in GOOGLE_TOKEN_AUDIENCES:
        return "Invalid JWT: Failed audience check. The right audience is https://oauth2.googleapis.com/token"
    issued, expires = claims.get("iat"), claims.get("exp")
    if not isinstance(issued, int) or not isinstance(expires, int):
        return "Invalid JWT: iat and exp must be integers."
    if expires <= now - CLOCK_SKEW or issued > now + CLOCK_SKEW:
        return "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe."
    if expires - issued > MAX_ASSERTION_LIFETIME:
        return "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe."
    if not isinstance(claims.get("scope"), str) and not isinstance(claims.get("target_audience"), str):
        return "Invalid JWT: the assertion has no scope."
    return None


async def token_endpoint(request: Request, state: StateDep) -> JSONResponse:
    """POST /vertex/token: exchange a service-account JWT assertion for an access token."""
    form = await request.form()
    grant_type = form.get("grant_type")
    if grant_type != JWT_BEARER_GRANT:
        return oauth_error("unsupported_grant_type", f"Invalid grant_type: {grant_type or ''}")
    assertion = form.get("assertion")
    if not isinstance(assertion, str) or not assertion:
        return oauth_error("invalid_request", "Missing required parameter: assertion")
    audience = str(request.url.replace(query=""))
    problem = assertion_problem(assertion, audience, time.time())
    if problem is not None:
        return oauth_error("invalid_grant", problem)
    ttl = state.config.vertex_token_ttl
    return JSONResponse({"access_token": mint_token(ttl), "expires_in": int(ttl), "token_type": "Bearer"})
