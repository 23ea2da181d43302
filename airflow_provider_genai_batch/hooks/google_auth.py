"""Google OAuth2 access tokens for httpx: a service-account key, a key file, or Application Default Credentials.

google-auth mints and refreshes the tokens; its HTTP calls (the token endpoint, the metadata server) go
through a small httpx adapter, so no other HTTP library is needed. google-auth is imported only when
credentials are first resolved, so the provider works without it until a Vertex connection is used; then
a missing google-auth names the ``vertex`` extra.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncGenerator, Callable, Generator, Mapping
from functools import partial
from typing import TYPE_CHECKING, Any

import httpx

from airflow_provider_genai_batch.errors import CredentialsUnavailableError, GenAIBatchError
from airflow_provider_genai_batch.hooks.http import Redactor

if TYPE_CHECKING:
    from google.auth.credentials import Credentials
    from google.auth.transport import Request

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
GOOGLE_AUTH_MISSING = "Vertex AI support needs google-auth: pip install 'airflow-provider-genai-batch[vertex]'"


def require_google_auth() -> None:
    """Raise a clear error naming the ``vertex`` extra when google-auth is not installed."""
    try:
        import google.auth  # noqa: F401
    except ImportError as err:
        raise GenAIBatchError(GOOGLE_AUTH_MISSING) from err


def parse_key_json(value: str | Mapping[str, Any], where: str) -> dict[str, Any]:
    """A service-account key given as a JSON object or its text; GenAIBatchError (never echoing the key) otherwise."""
    if isinstance(value, Mapping):
        info = dict(value)
    else:
        try:
            info = json.loads(value)
        except ValueError:
            raise GenAIBatchError(
                f"{where} is not a service-account key JSON (Vertex batch prediction takes OAuth credentials, "
                "not an API key)"
            ) from None
        if not isinstance(info, dict):
            raise GenAIBatchError(f"{where} is not a JSON object (a service-account key)")
    if info.get("type") != "service_account":
        raise GenAIBatchError(
            f"{where} is not a service-account key (its 'type' is {info.get('type')!r}); other credential types "
            "are read through Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS)"
        )
    missing = [name for name in ("client_email", "private_key", "token_uri") if not info.get(name)]
    if missing:
        raise GenAIBatchError(f"{where} lacks {', '.join(missing)}")
    return info


CredentialSource = Callable[["Request"], "Credentials"]
"""Loads the credentials (unrefreshed); called once, on the first request that needs a token."""


def service_account_source(info: Mapping[str, Any]) -> CredentialSource:
    """Credentials from a service-account key JSON, scoped to cloud-platform."""

    def load(request: Request) -> Credentials:
        from google.oauth2 import service_account

        load_info = service_account.Credentials.from_service_account_info
        credentials: Credentials = load_info(dict(info), scopes=[CLOUD_PLATFORM_SCOPE])  # type: ignore[no-untyped-call]
        return credentials

    return load


def key_file_source(path: str) -> CredentialSource:
    """Credentials from a service-account key file, scoped to cloud-platform."""

    def load(request: Request) -> Credentials:
        try:
            with open(path, encoding="utf-8") as key_file:
                text = key_file.read()
        except OSError as err:
            raise GenAIBatchError(f"cannot read the key file {path!r}: {err.strerror}") from None
        return service_account_source(parse_key_json(text, f"the key file {path!r}"))(request)

    return load


def default_source() -> CredentialSource:
    """Application Default Credentials: GOOGLE_APPLICATION_CREDENTIALS, gcloud's, or the metadata server
    (workload identity included)."""

    def load(request: Request) -> Credentials:
        import google.auth
        from google.auth.exceptions import DefaultCredentialsError

        try:
            credentials, _ = google.auth.default(scopes=[CLOUD_PLATFORM_SCOPE], request=request)
        except DefaultCredentialsError as err:
            raise GenAIBatchError(
                f"no Google credentials: put a service-account key in the connection (keyfile_dict or the "
                f"password), set key_path, or configure Application Default Credentials ({err})"
            ) from None
        return credentials

    return load


class GoogleTokens:
    """The current access token of one set of credentials, refreshed shortly before it expires (thread-safe)."""

    def __init__(
        self,
        source: CredentialSource,
        timeout: float,
        secrets: tuple[str, ...] = (),
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._source = source
        self._timeout = timeout
        self._secrets = secrets
        self._transport = transport
        self._credentials: Credentials | None = None
        self._lock = threading.Lock()

    @property
    def current(self) -> str | None:
        """The token held now, if any (for the redactor; may be stale)."""
        credentials = self._credentials
        token = credentials.token if credentials is not None else None
        return token if isinstance(token, str) else None

    def fresh(self) -> str | None:
        """The held token when it is still valid well before expiry, without any I/O; else None."""
        credentials = self._credentials
        if credentials is None or not credentials.valid:
            return None
        token = credentials.token
        return token if isinstance(token, str) else None

    def token(self, *, stale: str | None = None) -> str:
        """A valid access token, refreshed first when it is missing, about to expire, or is ``stale`` (one the
        API refused); blocking I/O.

        A failure google-auth calls passing (its token server or metadata server unreachable, or answering that it
        is busy) raises :class:`CredentialsUnavailableError`, which a wait polls through; any other, a plain error.
        """
        with self._lock:
            require_google_auth()
            from google.auth.exceptions import GoogleAuthError, TransportError

            request = httpx_request(self._timeout, self._transport)
            try:
                if self._credentials is None:
                    self._credentials = self._source(request)
                credentials = self._credentials
                if not credentials.valid or (stale is not None and credentials.token == stale):
                    credentials.refresh(request)  # type: ignore[no-untyped-call]
            except GoogleAuthError as err:
                redact = Redactor(*self._secrets, self.current)
                message = f"could not get a Google access token: {redact(str(err))}"
                if err.retryable or isinstance(err, TransportError) or isinstance(err.__cause__, TransportError):
                    raise CredentialsUnavailableError(message) from None
                raise GenAIBatchError(message) from None
            token = credentials.token
            if not isinstance(token, str) or not token:
                raise GenAIBatchError("the Google credentials gave no access token")
            return token


class BearerAuth(httpx.Auth):
    """``Authorization: Bearer <token>`` on every request; the token is refreshed off the event loop for async
    clients (a refresh is a blocking HTTP call inside google-auth). A request refused with 401 is sent once
    more with a new token when its body can be sent again (not a streamed upload chunk)."""

    def __init__(self, tokens: GoogleTokens) -> None:
        self.tokens = tokens

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token = self.tokens.fresh() or self.tokens.token()
        request.headers["Authorization"] = f"Bearer {token}"
        replayable = _replayable(request)  # known before sending: a sent stream may look whole afterwards
        response = yield request
        if response.status_code == UNAUTHORIZED and replayable:
            request.headers["Authorization"] = f"Bearer {self.tokens.token(stale=token)}"
            yield request

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = self.tokens.fresh() or await asyncio.to_thread(self.tokens.token)
        request.headers["Authorization"] = f"Bearer {token}"
        replayable = _replayable(request)
        response = yield request
        if response.status_code == UNAUTHORIZED and replayable:
            renewed = await asyncio.to_thread(partial(self.tokens.token, stale=token))
            request.headers["Authorization"] = f"Bearer {renewed}"
            yield request


UNAUTHORIZED = 401


def _replayable(request: httpx.Request) -> bool:
    """Whether the request's body is held whole (JSON, bytes, none), so it can be sent again."""
    return isinstance(request.stream, httpx.ByteStream)


def httpx_request(timeout: float, via: httpx.BaseTransport | None = None) -> Request:
    """A google-auth transport ``Request`` that sends through httpx (one short-lived client per call, over
    ``via`` when given)."""
    from google.auth import exceptions, transport

    class _Response(transport.Response):
        def __init__(self, response: httpx.Response) -> None:
            self._response = response

        @property
        def status(self) -> int:
            return self._response.status_code

        @property
        def headers(self) -> Mapping[str, str]:
            return self._response.headers

        @property
        def data(self) -> bytes:
            return self._response.content

    class _Request(transport.Request):
        def __init__(self, default_timeout: float) -> None:
            self.default_timeout = default_timeout
            self.via = via

        def __call__(
            self,
            url: str,
            method: str = "GET",
            body: bytes | None = None,
            headers: Mapping[str, str] | None = None,
            timeout: float | None = None,
            **kwargs: Any,
        ) -> transport.Response:
            try:
                with httpx.Client(timeout=timeout or self.default_timeout, transport=self.via) as client:
                    return _Response(client.request(method, url, content=body, headers=headers))
            except httpx.HTTPError as err:
                failure = f"{type(err).__name__} calling {httpx.URL(url).host}"
                raise exceptions.TransportError(failure) from None  # type: ignore[no-untyped-call]

    return _Request(timeout)
