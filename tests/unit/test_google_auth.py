"""Google access tokens: a service-account key signs a JWT-bearer grant, tokens are reused until shortly before
they expire, async refreshes run off the event loop, and no key material reaches an error."""

from __future__ import annotations

import base64
import json
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import google.auth
import google.auth._exponential_backoff
import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth.exceptions import DefaultCredentialsError
from google.oauth2.credentials import Credentials as TokenCredentials

from airflow_provider_genai_batch.errors import CredentialsUnavailableError, GenAIBatchError
from airflow_provider_genai_batch.hooks.google_auth import (
    CLOUD_PLATFORM_SCOPE,
    BearerAuth,
    GoogleTokens,
    default_source,
    key_file_source,
    parse_key_json,
    require_google_auth,
    service_account_source,
)
from airflow_provider_genai_batch.polling import PollState, Verdict

TOKEN_URI = "http://oauth.test/token"


@pytest.fixture(scope="module")
def key_info() -> dict[str, Any]:
    """A service-account key JSON with a fresh RSA key whose token endpoint is ``TOKEN_URI``."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return {
        "type": "service_account",
        "project_id": "proj-1",
        "private_key_id": "kid-5f2d9c",
        "private_key": pem,
        "client_email": "batch@proj-1.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "token_uri": TOKEN_URI,
    }


class TokenServer:
    """A fake OAuth2 token endpoint: mints ``tok-1``, ``tok-2``, ... living ``ttl`` seconds each."""

    def __init__(self, ttl: int = 3600, answer: Callable[[httpx.Request], httpx.Response] | None = None) -> None:
        self.ttl = ttl
        self.answer = answer
        self.forms: list[dict[str, list[str]]] = []
        self.threads: list[int] = []
        self.urls: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.threads.append(threading.get_ident())
        self.urls.append(str(request.url))
        self.forms.append(parse_qs(request.content.decode()))
        if self.answer is not None:
            return self.answer(request)
        token = f"tok-{len(self.forms)}"
        return httpx.Response(200, json={"access_token": token, "expires_in": self.ttl, "token_type": "Bearer"})


def tokens_for(info: dict[str, Any], server: TokenServer) -> GoogleTokens:
    return GoogleTokens(
        service_account_source(info), 10.0, (info["private_key"], info["private_key_id"]), httpx.MockTransport(server)
    )


def jwt_part(token: str, index: int) -> dict[str, Any]:
    part = token.split(".")[index]
    return dict(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))))


def test_a_service_account_key_signs_a_jwt_bearer_grant_for_the_cloud_platform_scope(key_info: dict[str, Any]) -> None:
    server = TokenServer()
    assert tokens_for(key_info, server).token() == "tok-1"
    form = server.forms[0]
    assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    header, claims = jwt_part(form["assertion"][0], 0), jwt_part(form["assertion"][0], 1)
    assert (header["alg"], header["kid"]) == ("RS256", "kid-5f2d9c")
    assert claims["iss"] == "batch@proj-1.iam.gserviceaccount.com"
    assert server.urls == [TOKEN_URI]
    assert (claims["aud"], claims["scope"]) == ("https://oauth2.googleapis.com/token", CLOUD_PLATFORM_SCOPE)


def test_a_valid_token_is_reused_without_asking_again(key_info: dict[str, Any]) -> None:
    server = TokenServer(ttl=3600)
    tokens = tokens_for(key_info, server)
    assert [tokens.token(), tokens.token(), tokens.fresh()] == ["tok-1", "tok-1", "tok-1"]
    assert len(server.forms) == 1


def test_a_token_about_to_expire_is_refreshed_before_it_is_used(key_info: dict[str, Any]) -> None:
    server = TokenServer(ttl=60)  # inside google-auth's refresh margin: stale as soon as it is minted
    tokens = tokens_for(key_info, server)
    assert tokens.token() == "tok-1"
    assert tokens.fresh() is None
    assert tokens.token() == "tok-2"


def test_the_bearer_auth_sets_the_authorization_header(key_info: dict[str, Any]) -> None:
    seen: list[str] = []

    def api(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        return httpx.Response(200, json={})

    with httpx.Client(transport=httpx.MockTransport(api), auth=BearerAuth(tokens_for(key_info, TokenServer()))) as c:
        c.get("http://vertex.test/v1/x")
        c.get("http://vertex.test/v1/y")
    assert seen == ["Bearer tok-1", "Bearer tok-1"]


def refusing_first(seen: list[str]) -> Callable[[httpx.Request], httpx.Response]:
    """An API that refuses the first token it sees with 401 and takes any other."""

    def api(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        if request.headers["authorization"] == seen[0]:
            return httpx.Response(401, json={"error": {"code": 401, "status": "UNAUTHENTICATED"}})
        return httpx.Response(200, json={"ok": True})

    return api


def test_a_token_the_api_refuses_is_replaced_and_the_request_sent_once_more(key_info: dict[str, Any]) -> None:
    seen: list[str] = []
    server = TokenServer(ttl=3600)
    auth = BearerAuth(tokens_for(key_info, server))
    with httpx.Client(transport=httpx.MockTransport(refusing_first(seen)), auth=auth) as client:
        response = client.post("http://vertex.test/v1/jobs", json={"displayName": "x"})
    assert response.status_code == 200
    assert seen == ["Bearer tok-1", "Bearer tok-2"]


def test_a_refused_streamed_upload_chunk_is_not_sent_again(key_info: dict[str, Any]) -> None:
    seen: list[str] = []
    auth = BearerAuth(tokens_for(key_info, TokenServer(ttl=3600)))
    with httpx.Client(transport=httpx.MockTransport(refusing_first(seen)), auth=auth) as client:
        response = client.put("http://gcs.test/upload", content=iter([b"chunk"]))
    assert response.status_code == 401
    assert seen == ["Bearer tok-1"]


async def test_an_async_client_replaces_a_refused_token_too(key_info: dict[str, Any]) -> None:
    seen: list[str] = []
    sync_api = refusing_first(seen)

    async def api(request: httpx.Request) -> httpx.Response:
        return sync_api(request)

    auth = BearerAuth(tokens_for(key_info, TokenServer(ttl=3600)))
    async with httpx.AsyncClient(transport=httpx.MockTransport(api), auth=auth) as client:
        assert (await client.get("http://vertex.test/v1/jobs/1")).status_code == 200
    assert seen == ["Bearer tok-1", "Bearer tok-2"]


async def test_an_async_client_refreshes_in_a_worker_thread_not_on_the_event_loop(key_info: dict[str, Any]) -> None:
    server = TokenServer(ttl=60)
    seen: list[str] = []

    async def api(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["authorization"])
        return httpx.Response(200, json={})

    auth = BearerAuth(tokens_for(key_info, server))
    async with httpx.AsyncClient(transport=httpx.MockTransport(api), auth=auth) as client:
        await client.get("http://vertex.test/v1/x")
        await client.get("http://vertex.test/v1/y")
    loop_thread = threading.get_ident()
    assert seen == ["Bearer tok-1", "Bearer tok-2"]
    assert server.threads and loop_thread not in server.threads


def test_a_refused_grant_is_an_error_without_the_key_material(key_info: dict[str, Any]) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        body = {"error": "invalid_grant", "error_description": f"bad key {key_info['private_key_id']}"}
        return httpx.Response(400, json=body)

    with pytest.raises(GenAIBatchError, match="could not get a Google access token") as caught:
        tokens_for(key_info, TokenServer(answer=refuse)).token()
    assert key_info["private_key_id"] not in str(caught.value)
    assert "invalid_grant" in str(caught.value)


def test_an_unreachable_token_endpoint_is_an_error_naming_the_host(key_info: dict[str, Any]) -> None:
    def drop(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(GenAIBatchError, match=r"ConnectError calling oauth\.test"):
        tokens_for(key_info, TokenServer(answer=drop)).token()


def test_an_unreachable_token_endpoint_is_a_passing_failure_that_a_wait_polls_through(key_info: dict[str, Any]) -> None:
    def drop(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("no answer", request=request)

    with pytest.raises(CredentialsUnavailableError) as caught:
        tokens_for(key_info, TokenServer(answer=drop)).token()

    assert PollState("projects/p/locations/l/batchPredictionJobs/1", interval=60).failed(caught.value, 0).verdict is (
        Verdict.WAIT
    )


def test_a_token_endpoint_that_stays_busy_is_a_passing_failure(
    key_info: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(google.auth._exponential_backoff.time, "sleep", lambda seconds: None)  # its own retries
    server = TokenServer(answer=lambda request: httpx.Response(503, json={"error": "internal_failure"}))

    with pytest.raises(CredentialsUnavailableError, match="could not get a Google access token"):
        tokens_for(key_info, server).token()

    assert len(server.forms) > 1  # google-auth retried it first


def test_a_refused_grant_ends_a_wait_at_once(key_info: dict[str, Any]) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": "invalid_grant", "error_description": "Invalid JWT Signature."})

    with pytest.raises(GenAIBatchError) as caught:
        tokens_for(key_info, TokenServer(answer=refuse)).token()

    assert not isinstance(caught.value, CredentialsUnavailableError)
    assert PollState("projects/p/locations/l/batchPredictionJobs/1", interval=60).failed(caught.value, 0).verdict is (
        Verdict.ERROR
    )


def test_a_key_file_is_read_as_a_service_account_key(key_info: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "key.json"
    path.write_text(json.dumps(key_info))
    tokens = GoogleTokens(key_file_source(str(path)), 10.0, transport=httpx.MockTransport(TokenServer()))
    assert tokens.token() == "tok-1"


def test_a_missing_key_file_is_an_error_naming_it(tmp_path: Path) -> None:
    tokens = GoogleTokens(key_file_source(str(tmp_path / "absent.json")), 10.0)
    with pytest.raises(GenAIBatchError, match=r"cannot read the key file '.*absent\.json'"):
        tokens.token()


def test_application_default_credentials_are_used_when_no_key_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    scopes_seen: list[Any] = []

    def adc(scopes: Any = None, request: Any = None, **kwargs: Any) -> tuple[TokenCredentials, str]:
        scopes_seen.append(scopes)
        return TokenCredentials(token="adc-token"), "proj-adc"

    monkeypatch.setattr(google.auth, "default", adc)
    assert GoogleTokens(default_source(), 10.0).token() == "adc-token"
    assert scopes_seen == [[CLOUD_PLATFORM_SCOPE]]


def test_no_application_default_credentials_is_an_error_saying_where_credentials_go(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def missing(**kwargs: Any) -> None:
        raise DefaultCredentialsError("Your default credentials were not found.")

    monkeypatch.setattr(google.auth, "default", missing)
    with pytest.raises(
        GenAIBatchError, match=r"\(keyfile_dict or the password\), set key_path, or configure Application"
    ):
        GoogleTokens(default_source(), 10.0).token()


def test_an_api_key_in_the_password_is_refused_as_not_a_service_account_key() -> None:
    with pytest.raises(GenAIBatchError, match="not an API key") as caught:
        parse_key_json("AIzaSyExampleExampleExample", "the password field")
    assert "AIzaSy" not in str(caught.value)


def test_a_key_of_another_credential_type_is_refused_pointing_at_adc() -> None:
    with pytest.raises(GenAIBatchError, match=r"'authorized_user'.*Application Default Credentials"):
        parse_key_json({"type": "authorized_user", "refresh_token": "r"}, "the key")


def test_a_key_missing_its_private_key_is_refused(key_info: dict[str, Any]) -> None:
    with pytest.raises(GenAIBatchError, match="lacks private_key"):
        parse_key_json({**key_info, "private_key": ""}, "the key")


def test_a_missing_google_auth_names_the_vertex_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "google.auth", None)
    with pytest.raises(GenAIBatchError, match=r"pip install 'airflow-provider-genai-batch\[vertex\]'"):
        require_google_auth()
