"""BedrockBatchHook on the wire: SigV4-signed control-plane and S3 requests, checked as the hook sent them.

The hook's clients use ``httpx.MockTransport`` with the hook's own SigV4 auth, so every signature is real
and is re-derived here from the AWS specification (not with botocore) to prove it is right.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import io
import json
import logging
import random
import re
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl, quote

import httpx
import pytest

from airflow_provider_genai_batch.errors import (
    CredentialsUnavailableError,
    GenAIBatchError,
    NotFoundError,
    ProviderAPIError,
    UnreadableAnswerError,
)
from airflow_provider_genai_batch.formats.bedrock import JOB_NAME, record_id
from airflow_provider_genai_batch.formats.results import RowStatus
from airflow_provider_genai_batch.hooks import base as base_module
from airflow_provider_genai_batch.hooks import bedrock as bedrock_hook_module
from airflow_provider_genai_batch.hooks.aws import SIGN_AS_HEADER
from airflow_provider_genai_batch.hooks.bedrock import BedrockBatchHook
from airflow_provider_genai_batch.hooks.http import AsyncClientPool
from airflow_provider_genai_batch.idempotency import JobIdentity, idempotency_key
from airflow_provider_genai_batch.models import JobState
from airflow_provider_genai_batch.polling import PollState, Verdict
from airflow_provider_genai_batch.spec import BatchKind, BatchSpec, FileSource, InlineSource

from ._wire import Wire, serve_hook

REGION = "us-west-2"
ACCESS_KEY = "AKIDEXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
CONTROL = f"https://bedrock.{REGION}.amazonaws.com"
S3_HOST = f"bkt.s3.{REGION}.amazonaws.com"
CONN_ID = "bedrock_unit"
CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
JOB_ID = "abcdefghijkl"
ARN = f"arn:aws:bedrock:{REGION}:123456789012:model-invocation-job/{JOB_ID}"
ENCODED_ARN = "arn%3Aaws%3Abedrock%3Aus-west-2%3A123456789012%3Amodel-invocation-job%2Fabcdefghijkl"
KEY = idempotency_key("nightly", "submit", "scheduled__2026-11-20T00:00:00+00:00", None)
OTHER_KEY = idempotency_key("nightly", "other_submit", "scheduled__2026-11-20T00:00:00+00:00", None)
FINGERPRINT = "be" * 32
EDITED_FINGERPRINT = "ef" * 32
TOKEN = f"{KEY}-{FINGERPRINT}"
MIB = 1024 * 1024
S3_NS = "http://s3.amazonaws.com/doc/2006-03-01/"
AUTH = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request, "
    r"SignedHeaders=(?P<signed>[^,]+), Signature=(?P<signature>[0-9a-f]{64})"
)
EXTRA = {
    "region": REGION,
    "role_arn": "arn:aws:iam::123456789012:role/BedrockBatch",
    "input_s3_uri": "s3://bkt/in",
    "output_s3_uri": "s3://bkt/out/",
    "upload_part_size": 5 * MIB,
    "retry_max_wait": 0,
}


def file_spec(display_name: str = "nightly", **fields: Any) -> BatchSpec:
    """A Claude batch of the uploaded ``s3://bkt/in/x.jsonl``."""
    return BatchSpec(model=CLAUDE, display_name=display_name, source=FileSource("s3://bkt/in/x.jsonl"), **fields)


def set_connection(monkeypatch: pytest.MonkeyPatch, **fields: Any) -> None:
    conn = {"conn_type": "genaibedrock", "login": ACCESS_KEY, "password": SECRET, "extra": EXTRA, **fields}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))


@pytest.fixture
def bedrock(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., tuple[BedrockBatchHook, Wire]]]:
    """``bedrock(handler, **conn)`` -> a hook whose sync and async clients are signed MockTransport clients."""
    clients: list[httpx.Client] = []

    def make(handler: Callable[[httpx.Request], httpx.Response], **conn: Any) -> tuple[BedrockBatchHook, Wire]:
        set_connection(monkeypatch, **conn)
        wire = Wire(handler)
        hook = BedrockBatchHook(conn_id=CONN_ID)
        clients.append(serve_hook(monkeypatch, hook, wire))
        return hook, wire

    yield make
    for client in clients:
        client.close()


# --- fake AWS ------------------------------------------------------------------------------------------


def job(status: str = "Submitted", **fields: Any) -> dict[str, Any]:
    return {
        "jobArn": ARN,
        "jobName": f"nightly-{KEY}",
        "modelId": CLAUDE,
        "clientRequestToken": TOKEN,
        "roleArn": EXTRA["role_arn"],
        "status": status,
        "submitTime": "2026-11-20T10:00:00Z",
        "inputDataConfig": {"s3InputDataConfig": {"s3Uri": "s3://bkt/in/nightly-1a2b.jsonl"}},
        "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://bkt/out/"}},
        **fields,
    }


def control_plane(request: httpx.Request) -> httpx.Response:
    """CreateModelInvocationJob / Get / List / Stop, answered as Bedrock answers them."""
    path = request.url.path
    if request.method == "POST" and path == "/model-invocation-job":
        return httpx.Response(200, json={"jobArn": ARN})
    if request.method == "POST" and path.endswith("/stop"):
        return httpx.Response(200, json={})
    if path.startswith("/model-invocation-job/"):
        return httpx.Response(200, json=job())
    if path == "/model-invocation-jobs":
        return httpx.Response(200, json={"invocationJobSummaries": [job()]})
    raise AssertionError(f"unexpected {request.method} {request.url}")


class FakeS3:
    """Just enough S3 for the hook: PutObject, the multipart trio, HEAD, GET, DELETE, ListObjectsV2."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.parts: dict[int, bytes] = {}
        self.fail_part_once: set[int] = set()
        self.refuse_part: dict[int, int] = {}
        self.complete_error = False
        self.complete_errors_before_success = 0
        self.complete_status = 200
        self.lost_bytes = 0  # cut from the end of every object stored (a proxy that cuts bodies)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        assert request.url.host == S3_HOST, request.url
        key = request.url.path.lstrip("/")
        query = dict(parse_qsl(request.url.query.decode(), keep_blank_values=True))
        if request.method == "POST" and "uploads" in query:
            tag = "InitiateMultipartUploadResult"
            return xml(f"<{tag} xmlns='{S3_NS}'><UploadId>up-1</UploadId></{tag}>")
        if request.method == "PUT" and "partNumber" in query:
            number = int(query["partNumber"])
            body = request.read()
            if number in self.fail_part_once:
                self.fail_part_once.discard(number)
                return httpx.Response(503)
            if number in self.refuse_part:
                body = "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
                return httpx.Response(self.refuse_part[number], content=body.encode())
            self.parts[number] = body
            return httpx.Response(200, headers={"ETag": f'"etag-{number}"'})
        if request.method == "POST" and "uploadId" in query:
            if self.complete_status != 200:
                return httpx.Response(self.complete_status)
            if self.complete_errors_before_success:
                self.complete_errors_before_success -= 1
                return xml(
                    "<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>"
                )
            if self.complete_error:
                return xml(
                    "<Error><Code>InternalError</Code><Message>We encountered an internal error.</Message></Error>"
                )
            whole = b"".join(self.parts[n] for n in sorted(self.parts))
            self.objects[key] = whole[: len(whole) - self.lost_bytes]
            return xml(
                f"<CompleteMultipartUploadResult xmlns='{S3_NS}'><Key>{key}</Key></CompleteMultipartUploadResult>"
            )
        if request.method == "DELETE" and "uploadId" in query:
            self.parts.clear()
            return httpx.Response(204)
        if request.method == "PUT":
            body = request.read()
            self.objects[key] = body[: len(body) - self.lost_bytes]
            return httpx.Response(200, headers={"ETag": '"single"'})
        if request.method == "GET" and query.get("list-type") == "2":
            return self.listing(query)
        if key not in self.objects:
            body = "<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message></Error>"
            return httpx.Response(404, content=b"" if request.method == "HEAD" else body.encode())
        if request.method == "HEAD":
            return httpx.Response(
                200,
                headers={
                    "Content-Length": str(len(self.objects[key])),
                    "Content-Type": "application/jsonl",
                    "Last-Modified": "Fri, 20 Nov 2026 10:00:00 GMT",
                },
            )
        if request.method == "DELETE":
            del self.objects[key]
            return httpx.Response(204)
        return httpx.Response(200, content=self.objects[key])

    def listing(self, query: dict[str, str]) -> httpx.Response:
        keys = sorted(k for k in self.objects if k.startswith(query.get("prefix", "")))
        start = int(query.get("continuation-token", "0"))
        page = keys[start : start + 2]
        more = start + 2 < len(keys)
        contents = "".join(
            f"<Contents><Key>{k}</Key><Size>{len(self.objects[k])}</Size>"
            f"<LastModified>2026-11-20T10:00:00.000Z</LastModified></Contents>"
            for k in page
        )
        token = f"<NextContinuationToken>{start + 2}</NextContinuationToken>" if more else ""
        return xml(
            f"<ListBucketResult xmlns='{S3_NS}'>{contents}<IsTruncated>{str(more).lower()}</IsTruncated>{token}"
            "</ListBucketResult>"
        )


def xml(text: str) -> httpx.Response:
    return httpx.Response(200, content=text.encode(), headers={"Content-Type": "application/xml"})


def aws(s3: FakeS3) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: s3(request) if request.url.host == S3_HOST else control_plane(request)


# --- an independent SigV4 check (AWS's algorithm, written out) ----------------------------------------------


def sigv4_scope(request: httpx.Request) -> dict[str, str]:
    match = AUTH.fullmatch(request.headers["authorization"])
    assert match, request.headers["authorization"]
    return match.groupdict()


def assert_signed(request: httpx.Request, service: str) -> None:
    """The request carries a valid SigV4 signature for ``service`` in REGION, by the secret key."""
    scope = sigv4_scope(request)
    assert (scope["key"], scope["region"], scope["service"]) == (ACCESS_KEY, REGION, service)
    assert SIGN_AS_HEADER not in request.headers
    amz_date = request.headers["x-amz-date"]
    assert amz_date.startswith(scope["date"])
    path = request.url.raw_path.split(b"?")[0].decode()
    canonical_uri = path if service == "s3" else quote(path, safe="/~")  # S3 alone is not encoded twice
    pairs = sorted(tuple(pair.partition("=")[::2]) for pair in request.url.query.decode().split("&") if pair)
    canonical_query = "&".join(f"{k}={v}" for k, v in pairs)
    signed = scope["signed"].split(";")
    assert "host" in signed
    canonical_headers = "".join(f"{name}:{' '.join(request.headers[name].split())}\n" for name in signed)
    payload = request.headers.get("x-amz-content-sha256") or hashlib.sha256(request.content).hexdigest()
    canonical = "\n".join([request.method, canonical_uri, canonical_query, canonical_headers, scope["signed"], payload])
    credential_scope = f"{scope['date']}/{REGION}/{service}/aws4_request"
    to_sign = "\n".join(
        ["AWS4-HMAC-SHA256", amz_date, credential_scope, hashlib.sha256(canonical.encode()).hexdigest()]
    )
    key = f"AWS4{SECRET}".encode()
    for part in (scope["date"], REGION, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    assert scope["signature"] == hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


# --- settings ------------------------------------------------------------------------------------------


def test_settings_come_from_the_connection_with_bedrock_defaults(monkeypatch):
    set_connection(monkeypatch)
    settings = BedrockBatchHook(conn_id=CONN_ID).settings
    assert settings.base_url == CONTROL
    assert (settings.region, settings.role_arn, settings.input_s3_uri) == (REGION, EXTRA["role_arn"], "s3://bkt/in")
    assert (settings.timeout_hours, settings.model_invocation_type) == (24, "InvokeModel")
    assert settings.aws_access_key_id == ACCESS_KEY
    assert settings.aws_secret_access_key.get_secret_value() == SECRET
    assert settings.s3_endpoint_url is None


def test_endpoints_and_the_region_can_come_from_elsewhere(monkeypatch):
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    extra = {k: v for k, v in EXTRA.items() if k != "region"}
    set_connection(monkeypatch, extra={**extra, "endpoint_url": "http://127.0.0.1:9/bedrock"})
    settings = BedrockBatchHook(conn_id=CONN_ID).settings
    assert (settings.region, settings.base_url) == ("eu-west-1", "http://127.0.0.1:9/bedrock")
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    with pytest.raises(GenAIBatchError, match="no region"):
        _ = BedrockBatchHook(conn_id=CONN_ID).settings


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"timeout_hours": 23}, "timeout_hours"),
        ({"timeout_hours": 169}, "timeout_hours"),
        ({"role_arn": "arn:aws:iam::123456789012:user/me"}, "role_arn"),
        ({"input_s3_uri": "https://bkt/in"}, "input_s3_uri"),
        ({"model_invocation_type": "Chat"}, "model_invocation_type"),
        ({"upload_part_size": 1024}, "upload_part_size"),
        ({"upload_part_size": 5 * 1024**3 + 1}, "upload_part_size"),
        ({"output_kms_key_id": "my key"}, "output_kms_key_id"),
        ({"vpc_config": {"subnet_ids": [], "security_group_ids": ["sg-1"]}}, "vpc_config"),
        ({"vpc_config": {"subnet_ids": ["subnet_1"], "security_group_ids": ["sg-1"]}}, "vpc_config"),
        ({"vpc_config": {"subnet_ids": ["subnet-1"], "security_group_ids": ["sg-1"] * 6}}, "vpc_config"),
    ],
)
def test_a_bad_connection_fails_clearly(monkeypatch, change, field):
    set_connection(monkeypatch, extra={**EXTRA, **change})
    with pytest.raises(GenAIBatchError, match=field):
        _ = BedrockBatchHook(conn_id=CONN_ID).settings


def test_without_botocore_the_error_names_the_bedrock_extra(monkeypatch):
    set_connection(monkeypatch)
    hook = BedrockBatchHook(conn_id=CONN_ID)
    monkeypatch.setitem(sys.modules, "botocore", None)
    with pytest.raises(GenAIBatchError, match=r"airflow-provider-genai-batch\[bedrock\]"):
        hook.http_auth(hook.settings)


# --- SigV4 -----------------------------------------------------------------------------------------------


def test_control_plane_calls_are_signed_for_bedrock_in_the_connection_region(bedrock):
    hook, wire = bedrock(control_plane)
    hook.create_batch(file_spec(idempotency_key=KEY))
    list(hook.list_batches())
    hook.cancel_batch(ARN)
    assert [r.method for r in wire.requests] == ["POST", "GET", "GET", "POST"]
    for request in wire.requests:
        assert request.url.host == f"bedrock.{REGION}.amazonaws.com"
        assert_signed(request, "bedrock")


def test_s3_calls_on_the_same_client_are_signed_for_s3(bedrock):
    s3 = FakeS3()
    hook, wire = bedrock(aws(s3))
    info = hook.upload_file(io.BytesIO(b'{"recordId":"a"}\n'), display_name="in.jsonl")
    hook.get_file(info.name)
    list(hook.list_files())
    b"".join(hook.iter_file_bytes(info.name))
    hook.delete_file(info.name)
    assert [r.method for r in wire.requests] == ["PUT", "HEAD", "HEAD", "GET", "GET", "DELETE"]
    for request in wire.requests:
        assert_signed(request, "s3")
    put = wire.requests[0]
    assert put.headers["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD"  # the body streams: never held to hash it
    assert wire.requests[1].headers["x-amz-content-sha256"] == hashlib.sha256(b"").hexdigest()


async def test_async_calls_are_signed_too(bedrock):
    hook, wire = bedrock(control_plane)
    job_ = await hook.aget_batch(ARN)
    assert job_.name == ARN
    assert_signed(wire.last, "bedrock")


async def test_a_poll_after_the_connections_keys_were_rotated_is_signed_with_the_new_keys(monkeypatch):
    """Each trigger makes its own hook, but every hook of a triggerer shares the pooled client of its connection."""
    seen: list[str] = []

    async def bedrock_api(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        seen.append(next(line for line in head.split("\r\n") if line.lower().startswith("authorization:")))
        body = json.dumps(job("InProgress")).encode()
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(body))
        writer.write(body)
        await writer.drain()
        writer.close()

    monkeypatch.setattr(base_module, "ASYNC_CLIENTS", AsyncClientPool())
    server = await asyncio.start_server(bedrock_api, "127.0.0.1", 0)
    endpoint = {**EXTRA, "endpoint_url": f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"}
    async with server:
        set_connection(monkeypatch, extra=endpoint)
        await BedrockBatchHook(conn_id=CONN_ID).aget_batch(ARN)
        set_connection(monkeypatch, extra=endpoint, login="AKIDROTATED", password="rotated-secret")
        await BedrockBatchHook(conn_id=CONN_ID).aget_batch(ARN)

    assert [AUTH.search(line)["key"] for line in seen] == [ACCESS_KEY, "AKIDROTATED"]


def expired_credentials(refresh: Callable[[], Any]) -> Any:
    """Assumed-role credentials past their expiry: the next signature refreshes them through ``refresh``."""
    from botocore.credentials import RefreshableCredentials

    expired = datetime.now(timezone.utc) - timedelta(minutes=1)
    return RefreshableCredentials(ACCESS_KEY, SECRET, "session-token", expired, refresh, "assume-role")


async def test_a_poll_whose_credentials_cannot_be_refreshed_for_now_is_a_failure_a_wait_polls_through(
    bedrock, monkeypatch
):
    from botocore.exceptions import EndpointConnectionError

    def sts_unreachable() -> dict[str, str]:
        raise EndpointConnectionError(endpoint_url=f"https://sts.{REGION}.amazonaws.com")

    monkeypatch.setattr(bedrock_hook_module, "resolve_credentials", lambda **_: expired_credentials(sts_unreachable))
    hook, wire = bedrock(control_plane, login=None, password=None, extra={**EXTRA, "aws_conn_id": "aws_default"})

    with pytest.raises(CredentialsUnavailableError, match="could not get AWS credentials") as caught:
        await hook.aget_batch(ARN)

    assert wire.requests == []
    assert PollState(ARN, interval=60).failed(caught.value, 0).verdict is Verdict.WAIT


def test_credentials_refused_for_good_end_a_wait_at_once(bedrock, monkeypatch):
    from botocore.exceptions import ClientError

    def sts_refuses() -> dict[str, str]:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "not authorized"}}, "AssumeRole")

    monkeypatch.setattr(bedrock_hook_module, "resolve_credentials", lambda **_: expired_credentials(sts_refuses))
    hook, _ = bedrock(control_plane, login=None, password=None, extra={**EXTRA, "aws_conn_id": "aws_default"})

    with pytest.raises(GenAIBatchError, match=r"could not get AWS credentials: .*\(AccessDenied\)") as caught:
        hook.get_batch(ARN)

    assert PollState(ARN, interval=60).failed(caught.value, 0).verdict is Verdict.ERROR


def test_credentials_fall_back_to_botocores_default_chain(bedrock, monkeypatch, caplog):
    without_amazon_provider = None  # an import of a module set to None fails, as when the package is absent
    monkeypatch.setitem(sys.modules, "airflow.providers.amazon.aws.hooks.base_aws", without_amazon_provider)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "ENVKEY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "envsecret")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "envtoken")
    hook, wire = bedrock(control_plane, login=None, password=None, extra={**EXTRA, "aws_conn_id": "aws_default"})
    with caplog.at_level(logging.WARNING):
        hook.get_batch(JOB_ID)
    scope = sigv4_scope(wire.last)
    assert scope["key"] == "ENVKEY"
    assert wire.last.headers["x-amz-security-token"] == "envtoken"
    assert "apache-airflow-providers-amazon is not installed" in caplog.text


def test_no_credentials_anywhere_is_a_clear_error(bedrock, monkeypatch, tmp_path):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    hook, _ = bedrock(control_plane, login=None, password=None)
    with pytest.raises(GenAIBatchError, match="no AWS credentials"):
        hook.get_batch(JOB_ID)


@pytest.fixture
def session_credentials(monkeypatch: pytest.MonkeyPatch) -> str:
    """Temporary credentials (an assumed role's, an instance profile's) from the environment: their session token."""
    monkeypatch.setitem(sys.modules, "airflow.providers.amazon.aws.hooks.base_aws", None)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token-of-the-role")
    return "session-token-of-the-role"


def own_clients(monkeypatch: pytest.MonkeyPatch, handler: Callable[[httpx.Request], httpx.Response]) -> Wire:
    """The hook's own sync and pooled async clients (redirects, the origin guard), answered by ``handler``."""
    wire = Wire(handler)

    class Httpx:
        def __getattr__(self, name: str) -> Any:
            return getattr(httpx, name)

        @staticmethod
        def Client(**kwargs: Any) -> httpx.Client:
            return httpx.Client(**{**kwargs, "transport": httpx.MockTransport(wire)})

    pooled = base_module.PooledAsyncClient
    monkeypatch.setattr(base_module, "httpx", Httpx())
    monkeypatch.setattr(
        base_module, "PooledAsyncClient", lambda **kwargs: pooled(**{**kwargs, "transport": httpx.MockTransport(wire)})
    )
    monkeypatch.setattr(base_module, "ASYNC_CLIENTS", AsyncClientPool())
    return wire


def redirecting_to(origin: str) -> Callable[[httpx.Request], httpx.Response]:
    """AWS redirecting every call, once, to the same path at ``origin``, which answers as AWS does."""

    def handler(request: httpx.Request) -> httpx.Response:
        if "redirected" not in request.url.params:
            return httpx.Response(307, headers={"location": f"{origin}{request.url.path}?redirected=1"})
        return control_plane(request) if "/model-invocation-job" in request.url.path else httpx.Response(200)

    return handler


@pytest.mark.parametrize("origin", ["https://elsewhere.test", f"http://{S3_HOST}", f"https://{S3_HOST}:8443"])
@pytest.mark.parametrize("call", ["control plane", "s3"])
def test_a_redirect_away_from_a_signed_calls_origin_carries_neither_its_signature_nor_its_session_token(
    monkeypatch, session_credentials, origin, call
):
    set_connection(monkeypatch, login=None, password=None)
    wire = own_clients(monkeypatch, redirecting_to(origin))
    hook = BedrockBatchHook(conn_id=CONN_ID)

    if call == "s3":
        b"".join(hook.iter_file_bytes("s3://bkt/out/x.jsonl.out"))
    else:
        hook.get_batch(JOB_ID)

    signed, redirected = wire.requests
    assert signed.headers["x-amz-security-token"] == session_credentials
    assert "authorization" in signed.headers
    assert str(redirected.url).startswith(origin)
    assert "x-amz-security-token" not in redirected.headers
    assert "authorization" not in redirected.headers


async def test_a_redirect_of_an_async_poll_away_from_its_origin_carries_no_session_token(
    monkeypatch, session_credentials
):
    set_connection(monkeypatch, login=None, password=None)
    wire = own_clients(monkeypatch, redirecting_to("https://elsewhere.test"))
    hook = BedrockBatchHook(conn_id=CONN_ID)

    await hook.aget_batch(JOB_ID)

    signed, redirected = wire.requests
    assert signed.headers["x-amz-security-token"] == session_credentials
    assert redirected.url.host == "elsewhere.test"
    assert "x-amz-security-token" not in redirected.headers
    assert "authorization" not in redirected.headers


def test_a_redirect_within_a_signed_calls_origin_keeps_what_the_signer_put_on_it(monkeypatch, session_credentials):
    set_connection(monkeypatch, login=None, password=None)

    def moved(request: httpx.Request) -> httpx.Response:
        if not request.url.path.startswith("/moved"):
            return httpx.Response(307, headers={"location": f"/moved{request.url.path}"})
        return httpx.Response(200, content=b"{}\n")

    wire = own_clients(monkeypatch, moved)
    hook = BedrockBatchHook(conn_id=CONN_ID)

    b"".join(hook.iter_file_bytes("s3://bkt/out/x.jsonl.out"))

    signed, redirected = wire.requests
    assert redirected.url.path == "/moved/out/x.jsonl.out"
    assert redirected.headers["x-amz-security-token"] == session_credentials
    assert redirected.headers["authorization"] == signed.headers["authorization"]


# --- jobs ----------------------------------------------------------------------------------------------


def test_create_sends_a_deterministic_token_and_job_name_across_retries(bedrock):
    bodies = []
    for _try in range(2):  # two tries of one task instance: two hooks, one key
        hook, wire = bedrock(control_plane)
        spec = file_spec("nightly_dag.submit", idempotency_key=KEY, input_fingerprint=FINGERPRINT)
        created = hook.create_batch(spec)
        assert created.name == ARN
        bodies.append(json.loads(wire.requests[0].content))
    assert bodies[0] == bodies[1]
    body = bodies[0]
    assert body["clientRequestToken"] == TOKEN == f"{KEY}-{FINGERPRINT}"
    assert body["jobName"] == f"nightly-dag.submit-{KEY}"
    assert JOB_NAME.fullmatch(body["jobName"])
    assert body == {
        "jobName": f"nightly-dag.submit-{KEY}",
        "roleArn": EXTRA["role_arn"],
        "modelId": CLAUDE,
        "inputDataConfig": {"s3InputDataConfig": {"s3Uri": "s3://bkt/in/x.jsonl", "s3InputFormat": "JSONL"}},
        "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://bkt/out/"}},
        "timeoutDurationInHours": 24,
        "modelInvocationType": "InvokeModel",
        "clientRequestToken": TOKEN,
    }


def test_create_carries_the_connections_output_kms_key_and_vpc(bedrock):
    kms_key = "arn:aws:kms:us-west-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    vpc = {"subnet_ids": ["subnet-0a1b2c3d", "subnet-4e5f6a7b"], "security_group_ids": ["sg-0123456789abcdef0"]}
    hook, wire = bedrock(control_plane, extra={**EXTRA, "output_kms_key_id": kms_key, "vpc_config": vpc})
    hook.create_batch(file_spec(idempotency_key=KEY, input_fingerprint=FINGERPRINT))
    body = json.loads(wire.requests[0].content)
    assert body["outputDataConfig"] == {"s3OutputDataConfig": {"s3Uri": "s3://bkt/out/", "s3EncryptionKeyId": kms_key}}
    assert body["vpcConfig"] == {
        "subnetIds": ["subnet-0a1b2c3d", "subnet-4e5f6a7b"],
        "securityGroupIds": ["sg-0123456789abcdef0"],
    }


def test_the_token_fits_bedrocks_idempotency_token_rules(bedrock):
    hook, wire = bedrock(control_plane)
    hook.create_batch(file_spec(idempotency_key=KEY, input_fingerprint=FINGERPRINT))
    token = json.loads(wire.requests[0].content)["clientRequestToken"]
    assert 1 <= len(token) <= 256
    assert re.fullmatch(r"[a-zA-Z0-9]{1,256}(-*[a-zA-Z0-9]){0,256}", token)


def test_an_edited_input_gets_another_token_so_bedrock_cannot_answer_with_the_old_job(bedrock):
    tokens = []
    for fingerprint in (FINGERPRINT, EDITED_FINGERPRINT):
        hook, wire = bedrock(control_plane)
        hook.create_batch(file_spec(idempotency_key=KEY, input_fingerprint=fingerprint))
        tokens.append(json.loads(wire.requests[0].content)["clientRequestToken"])
    assert tokens == [f"{KEY}-{FINGERPRINT}", f"{KEY}-{EDITED_FINGERPRINT}"]


def test_without_a_fingerprint_the_token_is_the_key(bedrock):
    hook, wire = bedrock(control_plane)
    hook.create_batch(file_spec(idempotency_key=KEY))
    assert json.loads(wire.requests[0].content)["clientRequestToken"] == KEY


def test_without_a_key_no_token_is_sent_and_a_failed_create_is_not_resent(bedrock):
    hook, wire = bedrock(lambda request: httpx.Response(503) if request.method == "POST" else control_plane(request))
    with pytest.raises(ProviderAPIError):
        hook.create_batch(file_spec())
    creates = [json.loads(r.content) for r in wire.requests if r.method == "POST"]
    assert len(creates) == 1 and "clientRequestToken" not in creates[0]


@pytest.mark.parametrize(
    ("key", "fingerprint"), [("gbk-1", None), (KEY, "abc"), (KEY, FINGERPRINT.upper())], ids=["key", "fp", "case"]
)
def test_a_key_or_fingerprint_it_could_not_read_back_is_refused_before_any_request(bedrock, key, fingerprint):
    hook, wire = bedrock(control_plane)
    with pytest.raises(GenAIBatchError, match=r"idempotency key|input fingerprint"):
        hook.create_batch(file_spec(idempotency_key=key, input_fingerprint=fingerprint))
    assert wire.requests == []


def test_a_create_lost_to_a_transient_fault_is_resent_with_the_same_token(bedrock):
    answers = iter([httpx.Response(503), httpx.Response(200, json={"jobArn": ARN})])

    def flaky(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return next(answers)
        return control_plane(request)

    hook, wire = bedrock(flaky)
    hook.create_batch(file_spec(idempotency_key=KEY, input_fingerprint=FINGERPRINT))
    creates = [json.loads(r.content) for r in wire.requests if r.method == "POST"]
    assert len(creates) == 2
    assert creates[0] == creates[1]
    assert creates[0]["clientRequestToken"] == TOKEN


def test_the_arn_is_percent_encoded_whole_into_the_path(bedrock):
    hook, wire = bedrock(control_plane)
    hook.get_batch(ARN)
    hook.cancel_batch(ARN)
    hook.get_batch(JOB_ID)
    assert [r.url.raw_path for r in wire.requests] == [
        f"/model-invocation-job/{ENCODED_ARN}".encode(),
        f"/model-invocation-job/{ENCODED_ARN}/stop".encode(),
        f"/model-invocation-job/{JOB_ID}".encode(),
    ]
    assert wire.requests[1].content == b""


def test_listing_walks_next_token_pages(bedrock):
    pages = {
        None: {"invocationJobSummaries": [job(jobArn=ARN[:-1] + "a")], "nextToken": "tok/+=1"},
        "tok/+=1": {"invocationJobSummaries": [job(jobArn=ARN[:-1] + "b")], "nextToken": "tok2"},
        "tok2": {"invocationJobSummaries": [job(jobArn=ARN[:-1] + "c")]},
    }

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=pages[request.url.params.get("nextToken")])

    hook, wire = bedrock(handler)
    assert [j.name[-1] for j in hook.list_batches()] == ["a", "b", "c"]
    assert wire.requests[1].url.query == (
        b"maxResults=100&sortBy=CreationTime&sortOrder=Descending&nextToken=tok%2F%2B%3D1"
    )
    for request in wire.requests:
        assert_signed(request, "bedrock")


def listed(*jobs: dict[str, Any]) -> Callable[[httpx.Request], httpx.Response]:
    """ListModelInvocationJobs answering ``jobs``, as asked: narrowed to the key (``nameContains``)."""

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/model-invocation-jobs"
        assert request.url.params["nameContains"] == KEY
        return httpx.Response(200, json={"invocationJobSummaries": list(jobs)})

    return handler


def test_find_batch_narrows_the_listing_to_the_key(bedrock):
    other = job(jobArn=ARN[:-1] + "z", clientRequestToken=f"{OTHER_KEY}-{FINGERPRINT}", jobName="other")
    hook, wire = bedrock(listed(other, job("InProgress")))
    found = hook.find_batch(KEY, input_fingerprint=FINGERPRINT)
    assert found is not None and found.name == ARN and found.state is JobState.RUNNING
    assert hook.identity_of(found) == JobIdentity(KEY, FINGERPRINT)
    assert wire.last.url.query.startswith(b"maxResults=100&sortBy=CreationTime&sortOrder=Descending&nameContains=")


def test_find_batch_skips_a_job_of_the_same_task_made_for_an_edited_input(bedrock):
    hook, _ = bedrock(listed(job(clientRequestToken=f"{KEY}-{EDITED_FINGERPRINT}")))
    assert hook.find_batch(KEY, input_fingerprint=FINGERPRINT) is None
    assert hook.find_batch(KEY) is not None  # the same job, when no fingerprint is asked for


def test_find_batch_with_a_fingerprint_skips_a_job_whose_token_is_the_key_alone(bedrock):
    hook, _ = bedrock(listed(job(clientRequestToken=KEY)))
    assert hook.find_batch(KEY, input_fingerprint=FINGERPRINT) is None
    assert hook.find_batch(KEY).name == ARN


@pytest.mark.parametrize(
    "token",
    [
        f"x{KEY}-{FINGERPRINT}",
        f"{KEY}-{FINGERPRINT}x",
        f"{KEY}-{FINGERPRINT[:-1]}",
        f"{KEY}{FINGERPRINT}",
        f"{KEY}-{FINGERPRINT}-{FINGERPRINT}",
        f"{KEY.upper()}-{FINGERPRINT}",
        f"retry-of-{KEY}",
        None,
    ],
    ids=["prefix", "suffix", "short-fingerprint", "no-dash", "two-fingerprints", "uppercase", "inside", "no-token"],
)
def test_find_batch_takes_only_a_token_that_is_exactly_key_and_fingerprint(bedrock, token):
    """A job whose name holds the key (so ``nameContains`` lists it) is ours only if its token is exactly ours."""
    hook, _ = bedrock(listed(job(clientRequestToken=token, jobName=f"nightly-{KEY}")))
    assert hook.find_batch(KEY, input_fingerprint=FINGERPRINT) is None
    assert hook.find_batch(KEY) is None


def test_a_task_whose_name_holds_another_tasks_key_never_takes_its_job(bedrock):
    """``nameContains=<X's key>`` also lists Y's job when Y's name holds X's key; the token tells them apart."""
    y_job = job(
        jobArn=ARN[:-1] + "y", jobName=f"copy-of-{KEY}-{OTHER_KEY}", clientRequestToken=f"{OTHER_KEY}-{FINGERPRINT}"
    )
    x_job = job(jobArn=ARN[:-1] + "x", jobName=f"nightly-{KEY}", clientRequestToken=TOKEN)
    hook, _ = bedrock(listed(y_job, x_job))
    found = hook.find_batch(KEY, input_fingerprint=FINGERPRINT)
    assert found is not None and found.name == ARN[:-1] + "x"


def test_aws_errors_keep_their_type_and_message(bedrock):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(
                400,
                json={"message": "Unable to stop. State was: Completed"},
                headers={"x-amzn-ErrorType": "ValidationException:http://internal.amazon.com/coral/"},
            )
        return httpx.Response(
            404, json={"message": "not found"}, headers={"x-amzn-ErrorType": "ResourceNotFoundException"}
        )

    hook, _ = bedrock(handler)
    with pytest.raises(ProviderAPIError) as stopped:
        hook.cancel_batch(ARN)
    assert stopped.value.provider_status == "ValidationException"
    assert "State was: Completed" in stopped.value.message
    with pytest.raises(NotFoundError) as missing:
        hook.get_batch(ARN)
    assert missing.value.provider_status == "ResourceNotFoundException"


def test_s3_xml_errors_and_secrets_are_redacted(bedrock):
    def handler(request: httpx.Request) -> httpx.Response:
        body = f"<Error><Code>AccessDenied</Code><Message>denied for {SECRET}</Message></Error>"
        return httpx.Response(403, content=body.encode(), headers={"Content-Type": "application/xml"})

    hook, _ = bedrock(handler)
    with pytest.raises(ProviderAPIError) as denied:
        hook.get_file("s3://bkt/in/x.jsonl")
    assert denied.value.provider_status == "AccessDenied"
    assert SECRET not in str(denied.value) and "***" in str(denied.value)


# --- S3 uploads --------------------------------------------------------------------------------------------


def test_large_inputs_go_up_in_constant_size_multipart_parts(bedrock):
    s3 = FakeS3()
    hook, wire = bedrock(aws(s3))
    data = bytes(range(256)) * (12 * MIB // 256) + b"tail!"
    info = hook.upload_file(io.BytesIO(data), display_name="nightly.jsonl")

    assert re.fullmatch(r"s3://bkt/in/nightly-[0-9a-f]{12}\.jsonl", info.name)
    assert info.size_bytes == len(data)
    key = info.name.removeprefix("s3://bkt/")
    calls = [
        (r.method, r.url.path, r.url.query.decode(), int(r.headers.get("content-length", 0))) for r in wire.requests
    ]
    assert calls == [
        ("POST", f"/{key}", "uploads=", 0),
        ("PUT", f"/{key}", "partNumber=1&uploadId=up-1", 5 * MIB),
        ("PUT", f"/{key}", "partNumber=2&uploadId=up-1", 5 * MIB),
        ("PUT", f"/{key}", "partNumber=3&uploadId=up-1", 2 * MIB + 5),
        ("POST", f"/{key}", "uploadId=up-1", calls[-2][3]),
        ("HEAD", f"/{key}", "", 0),
    ]
    complete = wire.requests[-2].content.decode()
    assert re.findall(r'<PartNumber>(\d)</PartNumber><ETag>"etag-\d"</ETag>', complete) == ["1", "2", "3"]
    assert s3.objects[key] == data


def test_a_part_lost_to_a_transient_fault_is_sent_again_from_its_start(bedrock):
    s3 = FakeS3()
    s3.fail_part_once = {2}
    hook, wire = bedrock(aws(s3))
    data = b"a" * (5 * MIB) + b"b" * (5 * MIB) + b"c" * 10
    info = hook.upload_file(io.BytesIO(data), display_name="x")
    assert s3.objects[info.name.removeprefix("s3://bkt/")] == data
    part_twos = [r for r in wire.requests if b"partNumber=2" in r.url.query]
    assert len(part_twos) == 2


def test_a_part_refused_with_slowdown_is_sent_again_after_a_growing_backoff(bedrock, monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr(time, "sleep", waits.append)
    monkeypatch.setattr(random, "uniform", lambda low, high: high)
    s3 = FakeS3()
    refusals = iter([True, True])

    def handler(request: httpx.Request) -> httpx.Response:
        if b"partNumber=2" in request.url.query and next(refusals, False):
            body = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
            return httpx.Response(503, content=body)
        return aws(s3)(request)

    hook, _ = bedrock(handler, extra={**EXTRA, "retry_max_wait": 30})
    data = b"a" * (5 * MIB) + b"b" * (5 * MIB) + b"c" * 10
    info = hook.upload_file(io.BytesIO(data), display_name="x")

    assert s3.objects[info.name.removeprefix("s3://bkt/")] == data
    assert waits == [0.5, 1.0]


def test_a_part_that_keeps_failing_aborts_the_multipart_upload(bedrock, monkeypatch):
    s3 = FakeS3()
    always = {2}
    monkeypatch.setattr(s3, "fail_part_once", type("Always", (set,), {"discard": lambda self, item: None})(always))
    hook, wire = bedrock(aws(s3), extra={**EXTRA, "max_retries": 2})
    with pytest.raises(GenAIBatchError, match="upload failed at byte 5242880"):
        hook.upload_file(io.BytesIO(b"z" * (6 * MIB)), display_name="x")
    assert len([r for r in wire.requests if b"partNumber=2" in r.url.query]) == 3  # the try and two resends
    abort = wire.last
    assert (abort.method, abort.url.query) == ("DELETE", b"uploadId=up-1")
    assert_signed(abort, "s3")


def test_a_completion_whose_answer_was_lost_and_is_then_not_known_keeps_the_object_it_made(bedrock):
    # MinIO answers a repeated CompleteMultipartUpload NoSuchUpload: the first one, whose answer was lost, made it.
    s3 = FakeS3()
    completions = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and b"uploadId" in request.url.query:
            completions.append(request)
            if len(completions) > 1:
                body = (
                    b"<Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist.</Message></Error>"
                )
                return httpx.Response(404, content=body)
            aws(s3)(request)
            raise httpx.ReadError("connection reset", request=request)
        return aws(s3)(request)

    hook, wire = bedrock(handler)
    data = b"z" * (6 * MIB)
    info = hook.upload_file(io.BytesIO(data), display_name="x")

    assert len(completions) == 2
    assert (info.size_bytes, s3.objects[info.name.removeprefix("s3://bkt/")]) == (len(data), data)
    assert [r.method for r in wire.requests][-2:] == ["HEAD", "HEAD"]  # found made, then its size checked
    assert "DELETE" not in [r.method for r in wire.requests]


def test_a_completion_not_known_for_an_upload_that_made_no_object_fails_and_aborts(bedrock):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and b"uploadId" in request.url.query:
            body = b"<Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist.</Message></Error>"
            return httpx.Response(404, content=body)
        return aws(FakeS3())(request) if request.method != "HEAD" else httpx.Response(404)

    hook, wire = bedrock(handler)
    with pytest.raises(NotFoundError, match="specified upload does not exist"):
        hook.upload_file(io.BytesIO(b"z" * (6 * MIB)), display_name="x")
    assert (wire.last.method, wire.last.url.query) == ("DELETE", b"uploadId=up-1")


def test_a_completion_refused_in_a_200_is_an_error_and_aborts_the_upload(bedrock):
    s3 = FakeS3()
    s3.complete_error = True
    hook, wire = bedrock(aws(s3))
    with pytest.raises(ProviderAPIError, match="internal error") as refused:
        hook.upload_file(io.BytesIO(b"z" * (6 * MIB)), display_name="x")
    assert refused.value.provider_status == "InternalError"
    assert (wire.last.method, wire.last.url.query) == ("DELETE", b"uploadId=up-1")


def test_a_completion_failed_in_a_200_with_an_internal_error_is_sent_again(bedrock):
    s3 = FakeS3()
    s3.complete_errors_before_success = 2
    hook, wire = bedrock(aws(s3))
    data = b"z" * (6 * MIB)
    info = hook.upload_file(io.BytesIO(data), display_name="x")
    assert s3.objects[info.name.removeprefix("s3://bkt/")] == data
    completions = [r for r in wire.requests if r.method == "POST" and r.url.query == b"uploadId=up-1"]
    assert len(completions) == 3
    assert not any(r.method == "DELETE" for r in wire.requests)


def test_a_part_refused_by_s3_aborts_the_multipart_upload(bedrock):
    s3 = FakeS3()
    s3.refuse_part = {2: 403}
    hook, wire = bedrock(aws(s3))
    with pytest.raises(ProviderAPIError, match="Access Denied"):
        hook.upload_file(io.BytesIO(b"z" * (6 * MIB)), display_name="x")
    abort = wire.last
    assert (abort.method, abort.url.query) == ("DELETE", b"uploadId=up-1")
    assert_signed(abort, "s3")
    assert s3.parts == {}


def test_a_completion_that_keeps_failing_with_a_500_aborts_the_multipart_upload(bedrock):
    s3 = FakeS3()
    s3.complete_status = 500
    hook, wire = bedrock(aws(s3), extra={**EXTRA, "max_retries": 2})
    with pytest.raises(ProviderAPIError) as failed:
        hook.upload_file(io.BytesIO(b"z" * (6 * MIB)), display_name="x")
    assert failed.value.http_status == 500
    assert (wire.last.method, wire.last.url.query) == ("DELETE", b"uploadId=up-1")
    assert s3.parts == {}


def test_an_abort_that_fails_too_leaves_the_upload_s_own_failure_raised(bedrock):
    s3 = FakeS3()
    s3.refuse_part = {2: 403}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE":
            return httpx.Response(403, content=b"<Error><Code>AccessDenied</Code><Message>no abort</Message></Error>")
        return aws(s3)(request)

    hook, wire = bedrock(handler)
    with pytest.raises(ProviderAPIError, match="Access Denied"):
        hook.upload_file(io.BytesIO(b"z" * (6 * MIB)), display_name="x")
    assert wire.last.method == "DELETE"


def test_small_inputs_go_up_in_one_put(bedrock):
    s3 = FakeS3()
    hook, wire = bedrock(aws(s3))
    info = hook.upload_file(io.BytesIO(b"x" * 100), display_name="genai_dag.submit.jsonl")
    assert [(r.method, r.url.query) for r in wire.requests] == [("PUT", b""), ("HEAD", b"")]
    assert re.fullmatch(r"s3://bkt/in/genai_dag\.submit-[0-9a-f]{12}\.jsonl", info.name)


@pytest.mark.parametrize("size", [100, 6 * MIB], ids=["put", "multipart"])
def test_an_object_stored_short_is_deleted_and_the_upload_refused_naming_both_sizes(bedrock, size):
    s3 = FakeS3()
    s3.lost_bytes = 4
    hook, wire = bedrock(aws(s3))
    with pytest.raises(
        GenAIBatchError, match=rf"stored as s3://bkt/in/x-\w+\.jsonl with {size - 4} bytes, but {size} bytes"
    ):
        hook.upload_file(io.BytesIO(b"x" * size), display_name="x")
    assert s3.objects == {}
    assert [r.method for r in wire.requests][-2:] == ["HEAD", "DELETE"]


def test_an_upload_whose_object_the_credentials_may_not_read_is_kept_unchecked(bedrock):
    s3 = FakeS3()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "HEAD":
            return httpx.Response(403)
        return aws(s3)(request)

    hook, _ = bedrock(handler)
    info = hook.upload_file(io.BytesIO(b"x" * 100), display_name="x")
    assert info.size_bytes is None
    assert list(s3.objects.values()) == [b"x" * 100]


def refusing_output_reads(s3: FakeS3, status: int = 403) -> Callable[[httpx.Request], httpx.Response]:
    """AWS whose S3 answers ``status`` to every read under ``out/`` (credentials that may write but not read there)."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == S3_HOST and request.method in ("GET", "HEAD") and "/out/" in request.url.path:
            return httpx.Response(status)
        return aws(s3)(request)

    return handler


def test_a_new_job_whose_results_the_credentials_may_not_read_back_is_refused_naming_the_output_prefix(bedrock):
    hook, wire = bedrock(refusing_output_reads(FakeS3()))

    problem = hook.new_output_problem(None)

    assert problem == (
        f"connection {CONN_ID!r} cannot read the job's results back from output_s3_uri s3://bkt/out/: S3 answered 403 "
        "to a HEAD of s3://bkt/out/genai-batch-read-check; its credentials need s3:GetObject and s3:ListBucket "
        "there (the job's role writes the results, this connection reads them)"
    )
    assert [(request.method, request.url.path) for request in wire.requests] == [
        ("HEAD", "/out/genai-batch-read-check")
    ]


def test_a_new_job_whose_results_the_credentials_may_read_back_is_not_refused(bedrock):
    hook, wire = bedrock(aws(FakeS3()))  # a HEAD of the missing object is answered 404: reading is allowed

    assert hook.new_output_problem(None) is None
    assert [request.method for request in wire.requests] == ["HEAD"]


def test_an_output_prefix_answering_another_error_leaves_the_question_to_the_landing(bedrock):
    hook, _ = bedrock(refusing_output_reads(FakeS3(), 400), extra={**EXTRA, "max_retries": 0})

    assert hook.new_output_problem(None) is None


def test_an_upload_whose_object_s3_does_not_have_is_an_error(bedrock):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "PUT":
            return httpx.Response(200, headers={"ETag": '"single"'})
        return httpx.Response(404)

    hook, _ = bedrock(handler)
    with pytest.raises(GenAIBatchError, match=r"S3 has no object at s3://bkt/in/x-\w+\.jsonl after its upload"):
        hook.upload_file(io.BytesIO(b"x" * 100), display_name="x")


class HugeStream(io.RawIOBase):
    """A seekable stream of ``size`` bytes that may not be read (a test that reads it failed already)."""

    def __init__(self, size: int) -> None:
        self.size, self.position = size, 0

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self.position = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence] + offset
        return self.position

    def tell(self) -> int:
        return self.position

    def readinto(self, buffer) -> int:
        raise AssertionError("no byte may be read")


def test_an_upload_of_more_parts_than_s3_allows_is_refused_before_any_request(bedrock):
    hook, wire = bedrock(aws(FakeS3()))
    with pytest.raises(
        GenAIBatchError, match=r"more than the 10000 parts S3 allows .* raise the connection's upload_part"
    ):
        hook.upload_file(HugeStream(10_000 * 5 * MIB + 1), display_name="big.jsonl")
    assert wire.requests == []


def test_nothing_is_written_when_the_connection_cannot_submit(bedrock):
    hook, wire = bedrock(aws(FakeS3()), extra={k: v for k, v in EXTRA.items() if k != "role_arn"})
    with pytest.raises(GenAIBatchError, match="role_arn"):
        hook.upload_file(io.BytesIO(b"x"), display_name="x")
    assert wire.requests == []


def test_files_are_listed_across_pages_and_named_by_s3_uris(bedrock):
    s3 = FakeS3()
    s3.objects = {f"in/f{i}.jsonl": b"x" * i for i in range(5)} | {"out/other": b""}
    hook, wire = bedrock(aws(s3))
    files = list(hook.list_files())
    assert [f.name for f in files] == [f"s3://bkt/in/f{i}.jsonl" for i in range(5)]
    assert [f.size_bytes for f in files] == [0, 1, 2, 3, 4]
    assert len(wire.requests) == 3
    assert wire.requests[1].url.params["continuation-token"] == "2"
    head = hook.get_file("s3://bkt/in/f3.jsonl")
    assert (head.size_bytes, head.mime_type, head.create_time.year) == (3, "application/jsonl", 2026)
    with pytest.raises(GenAIBatchError, match="s3://"):
        hook.get_file("files/abc")


PERMANENT_REDIRECT = (
    b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>PermanentRedirect</Code><Message>The bucket you are '
    b"attempting to access must be addressed using the specified endpoint. Please send all future requests to this "
    b"endpoint.</Message><Endpoint>bkt.s3.eu-west-1.amazonaws.com</Endpoint><Bucket>bkt</Bucket></Error>"
)


def moved_bucket(request: httpx.Request) -> httpx.Response:
    """S3 for a bucket of another region: a 301 with no Location, naming the endpoint in its body."""
    headers = {"x-amz-bucket-region": "eu-west-1", "content-type": "application/xml"}
    return httpx.Response(301, content=b"" if request.method == "HEAD" else PERMANENT_REDIRECT, headers=headers)


@pytest.mark.parametrize(
    "call",
    [
        lambda hook: list(hook.list_files()),
        lambda hook: hook.get_file("s3://bkt/in/x.jsonl"),
        lambda hook: b"".join(hook.iter_file_bytes("s3://bkt/out/x.jsonl.out")),
    ],
    ids=["list", "head", "download"],
)
def test_a_bucket_of_another_region_is_an_error_naming_it_not_an_empty_listing_or_its_error_page(bedrock, call):
    hook, _ = bedrock(moved_bucket)

    with pytest.raises(ProviderAPIError) as err:
        call(hook)

    assert err.value.http_status == 301
    assert "a redirect with no Location to follow" in str(err.value)


def test_a_listing_of_a_bucket_of_another_region_says_what_s3_said(bedrock):
    hook, _ = bedrock(moved_bucket)

    with pytest.raises(ProviderAPIError, match="must be addressed using the specified endpoint") as err:
        list(hook.list_files())

    assert err.value.provider_status == "PermanentRedirect"


PROXY_PAGE = b"<html><head><title>Sign in</title></head><body>Corporate proxy: sign in to continue</body></html>"


def proxy_page_for_s3(s3: FakeS3, query_mark: str) -> Callable[[httpx.Request], httpx.Response]:
    """AWS behind a proxy that answers S3 calls whose query holds ``query_mark`` with a 200 HTML page."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == S3_HOST and query_mark in request.url.query.decode():
            return httpx.Response(200, content=PROXY_PAGE, headers={"content-type": "text/html"})
        return aws(s3)(request)

    return handler


def test_a_listing_answered_with_a_proxys_page_is_an_unreadable_answer_not_an_empty_listing(bedrock):
    s3 = FakeS3()
    s3.objects = {"in/a.jsonl": b"x"}
    hook, _ = bedrock(proxy_page_for_s3(s3, "list-type"))

    with pytest.raises(UnreadableAnswerError, match=r"not S3's <ListBucketResult>.*it is text/html"):
        list(hook.list_files())


def test_a_multipart_start_answered_with_a_proxys_page_is_an_unreadable_answer(bedrock):
    hook, wire = bedrock(proxy_page_for_s3(FakeS3(), "uploads"))

    with pytest.raises(UnreadableAnswerError, match=r"not S3's <InitiateMultipartUploadResult>"):
        hook.upload_file(io.BytesIO(b"z" * (6 * MIB)), display_name="x")

    assert [r.method for r in wire.requests] == ["POST"]


def test_a_completion_answered_with_a_proxys_page_is_not_taken_for_done_and_the_upload_is_aborted(bedrock):
    s3 = FakeS3()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and "uploadId" in request.url.params:
            return httpx.Response(200, content=PROXY_PAGE, headers={"content-type": "text/html"})
        return aws(s3)(request)

    hook, wire = bedrock(handler)

    with pytest.raises(UnreadableAnswerError, match=r"CompleteMultipartUpload answered HTTP 200 .* <html>"):
        hook.upload_file(io.BytesIO(b"z" * (6 * MIB)), display_name="x")

    assert (wire.last.method, wire.last.url.query) == ("DELETE", b"uploadId=up-1")
    assert s3.objects == {}


# --- results -----------------------------------------------------------------------------------------------


def output_lines() -> bytes:
    ok = {
        "recordId": "req1",
        "modelInput": {},
        "modelOutput": {"type": "message", "content": [{"type": "text", "text": "hi"}], "usage": {}},
    }
    failed = {"recordId": record_id("doc-2"), "modelInput": {}, "error": {"errorCode": 400, "errorMessage": "bad"}}
    return (json.dumps(ok) + "\n" + json.dumps(failed) + "\n").encode()


def test_results_are_read_from_the_job_output_file(bedrock):
    s3 = FakeS3()
    s3.objects["out/abcdefghijkl/nightly-1a2b.jsonl.out"] = output_lines()
    s3.objects["out/abcdefghijkl/manifest.json.out"] = b'{"totalRecordCount": 2, "successRecordCount": 1}'
    hook, wire = bedrock(aws(s3))
    completed = hook.get_batch(ARN).model_copy(update={"state": JobState.SUCCEEDED})
    rows = list(hook.iter_results(completed))
    assert [(r.key, r.status) for r in rows] == [("req1", RowStatus.SUCCEEDED), (record_id("doc-2"), RowStatus.FAILED)]
    assert rows[0].text == "hi"
    assert wire.last.url.path == "/out/abcdefghijkl/nightly-1a2b.jsonl.out"


def test_a_folder_input_reads_every_out_file_but_the_manifest(bedrock):
    s3 = FakeS3()
    s3.objects["out/abcdefghijkl/a.jsonl.out"] = output_lines()
    s3.objects["out/abcdefghijkl/manifest.json.out"] = b"{}"

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == S3_HOST:
            return s3(request)
        return httpx.Response(
            200, json=job("Completed", inputDataConfig={"s3InputDataConfig": {"s3Uri": "s3://bkt/in/"}})
        )

    hook, _ = bedrock(handler)
    completed = hook.get_batch(ARN)
    assert completed.output_file is None
    assert len(list(hook.iter_results(completed))) == 2


def test_a_failed_job_without_output_has_no_rows_but_a_completed_one_must_have_them(bedrock):
    hook, _ = bedrock(aws(FakeS3()))
    failed = hook.get_batch(ARN).model_copy(update={"state": JobState.FAILED})
    assert list(hook.iter_results(failed)) == []
    with pytest.raises(NotFoundError):
        list(hook.iter_results(failed.model_copy(update={"state": JobState.SUCCEEDED})))


def test_a_status_whose_record_count_is_not_an_integer_is_an_unreadable_answer_polled_through(bedrock):
    hook, _ = bedrock(lambda request: httpx.Response(200, json=job("InProgress", totalRecordCount="120")))

    with pytest.raises(UnreadableAnswerError) as raised:
        hook.get_batch(ARN)

    assert "TypeError: the count 'totalRecordCount' is '120', not an integer" in str(raised.value)
    assert PollState(ARN, interval=1.0).failed(raised.value, now=0.0).verdict is Verdict.WAIT


def test_a_partially_completed_job_whose_output_is_missing_is_an_error_not_every_row_missing(bedrock):
    s3 = FakeS3()

    def handler(request: httpx.Request) -> httpx.Response:
        return s3(request) if request.url.host == S3_HOST else httpx.Response(200, json=job("PartiallyCompleted"))

    hook, _ = bedrock(handler)
    partial = hook.get_batch(ARN)
    assert partial.state is JobState.PARTIALLY_SUCCEEDED
    with pytest.raises(NotFoundError):
        list(hook.iter_results(partial))


# --- the rest of the interface --------------------------------------------------------------------------------


def test_translation_follows_the_connections_invocation_type(monkeypatch):
    line = {"key": "k1", "request": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}}
    set_connection(monkeypatch)
    invoke = BedrockBatchHook(conn_id=CONN_ID).dialect.to_native(line, model=CLAUDE, embeddings=False)
    assert invoke["modelInput"]["anthropic_version"] == "bedrock-2023-05-31"
    set_connection(monkeypatch, extra={**EXTRA, "model_invocation_type": "Converse", "default_output_limit": 7})
    converse = BedrockBatchHook(conn_id=CONN_ID).dialect.to_native(line, model=CLAUDE, embeddings=False)
    assert converse["modelInput"] == {
        "messages": [{"role": "user", "content": [{"text": "hi"}]}],
        "inferenceConfig": {"maxTokens": 7},
    }


def test_translation_no_longer_needs_what_only_a_submission_needs(monkeypatch):
    line = {"key": "k1", "request": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}}
    set_connection(monkeypatch, extra={k: v for k, v in EXTRA.items() if k != "role_arn"})
    translated = BedrockBatchHook(conn_id=CONN_ID).dialect.to_native(line, model=CLAUDE, embeddings=False)
    assert translated["recordId"] == "k1"


def test_check_submittable_names_every_missing_setting_before_any_request(bedrock):
    extra = {k: v for k, v in EXTRA.items() if k not in ("role_arn", "output_s3_uri")}
    hook, wire = bedrock(control_plane, extra=extra)
    with pytest.raises(GenAIBatchError, match=f"'{CONN_ID}' needs role_arn, output_s3_uri to submit Bedrock jobs"):
        hook.check_submittable()
    assert wire.requests == []


def test_check_submittable_passes_a_complete_connection(bedrock):
    hook, wire = bedrock(control_plane)
    assert hook.check_submittable() is None
    assert wire.requests == []


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (file_spec(kind=BatchKind.EMBED), "bedrock does not support embeddings batches"),
        (
            BatchSpec(model=CLAUDE, display_name="d", source=InlineSource([{"recordId": "a", "modelInput": {}}])),
            r"bedrock does not support inline batch input \(upload a file\)",
        ),
        (file_spec(labels={"team": "search"}), "bedrock does not support job labels"),
    ],
    ids=["embeddings", "inline", "labels"],
)
def test_a_spec_bedrock_cannot_make_is_refused_before_any_request(bedrock, spec, message):
    hook, wire = bedrock(control_plane)
    with pytest.raises(GenAIBatchError, match=message):
        hook.create_batch(spec)
    assert wire.requests == []


@pytest.mark.parametrize(
    "model",
    [
        CLAUDE,
        "us.anthropic.claude-3-5-haiku-20241022-v1:0",
        "global.anthropic.claude-sonnet-4-20250514-v1:0",
        "arn:aws:bedrock:us-west-2::foundation-model/anthropic.claude-3-haiku-20240307-v1:0",
        "arn:aws:bedrock:us-west-2:123456789012:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0",
        "arn:aws:bedrock:us-west-2:123456789012:application-inference-profile/a1b2c3d4e5f6",
        "arn:aws:bedrock:us-west-2:123456789012:custom-model/anthropic.claude-3-haiku-20240307-v1:0:200k/abcdefghijkl",
    ],
    ids=["model-id", "us-profile", "global-profile", "foundation-arn", "profile-arn", "app-profile-arn", "custom-arn"],
)
def test_model_ids_and_arns_a_batch_job_takes_pass_the_model_check(bedrock, model):
    hook, wire = bedrock(control_plane)
    assert hook.check_model(model) is None
    assert wire.requests == []


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (
            "arn:aws:bedrock:us-west-2:123456789012:provisioned-model/abcdefghijkl",
            "is a provisioned throughput model, and batch inference does not run on provisioned models",
        ),
        ("models/claude-3-haiku", "is not a modelId a batch job takes"),
        ("anthropic.claude 3 haiku", "is not a modelId a batch job takes"),
        ("arn:aws:bedrock:us-west-2:123456789012:model-invocation-job/abcdefghijkl", "is not a modelId"),
        ("a" * 2049, "is not a modelId a batch job takes"),
        (
            "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-3-5-haiku-20241022-v1:0",
            "is an ARN in region 'us-east-1', but the connection's jobs run in 'us-west-2'",
        ),
    ],
    ids=["provisioned-arn", "gemini-style", "space", "job-arn", "too-long", "other-region"],
)
def test_a_model_a_batch_job_cannot_take_is_refused_before_any_request(bedrock, model, message):
    hook, wire = bedrock(control_plane)
    with pytest.raises(GenAIBatchError, match=f"bedrock model: .*{message}"):
        hook.check_model(model)
    with pytest.raises(GenAIBatchError, match=message):
        hook.create_batch(BatchSpec(model=model, display_name="d", source=FileSource("s3://bkt/in/x.jsonl")))
    assert wire.requests == []


def test_capabilities_limits_console_and_keys(bedrock):
    hook, _ = bedrock(control_plane)
    assert hook.dialect.limits.min_requests == 100
    caps = hook.capabilities
    assert (caps.file_input, caps.inline_input, caps.embeddings, caps.cancel, caps.delete, caps.labels) == (
        True,
        False,
        False,
        True,
        False,
        False,
    )
    assert BedrockBatchHook.console_url(ARN) == (
        "https://us-west-2.console.aws.amazon.com/bedrock/home?region=us-west-2#/batch-inference"
    )
    assert hook.dialect.provider_key("req-1") == record_id("req-1")
