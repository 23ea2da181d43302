"""Secrets live in Airflow Connections only: never in logs, XCom, trigger kwargs, exception text or URLs.

Every hook class in ``hooks.registry.HOOK_CLASSES`` (read at collection time, so a provider added later is
covered, or fails here, without an edit) gets a connection holding a distinctive key, unique per test
(Airflow's secrets masker is process-wide, so a reused key would make the masker checks vacuous). AWS-style
hooks get the same secret as ``AWS_SECRET_ACCESS_KEY``. Google OAuth hooks (Vertex AI) get a new
service-account key instead: what travels is the access token the provider mints for it, which is the
distinctive key, while the private key and its id never leave the connection; all three are secrets here.
The provider is ``ProviderServer``: one ``httpx.MockTransport`` handler that answers each provider's
Files/Batch routes (its payloads carry the fields of every provider's wire shape at once; Vertex AI and
Cloud Storage have their own, since their names clash), mints the OAuth token, and can echo every credential
it receives, and every secret it knows, back in its errors.

Every check is paired with a positive one (the key did reach a header; log records were captured; files
were written) so that none can pass by capturing nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import traceback
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs

import httpx
import jinja2
import pytest
from airflow.sdk.definitions._internal.logging_mixin import LoggingMixin
from airflow.sdk.exceptions import TaskDeferred
from airflow.sdk.log import redact as airflow_redact
from airflow.utils.log.logging_mixin import LoggingMixin as CoreLoggingMixin  # triggers' base class

from airflow_provider_genai_batch import links as links_module
from airflow_provider_genai_batch.errors import GenAIBatchError, ProviderAPIError
from airflow_provider_genai_batch.hooks import base as base_module
from airflow_provider_genai_batch.hooks import google_auth as google_auth_module
from airflow_provider_genai_batch.hooks.base import BatchHook
from airflow_provider_genai_batch.hooks.google_auth import BearerAuth
from airflow_provider_genai_batch.hooks.http import AsyncClientPool, PooledAsyncClient, origin_of
from airflow_provider_genai_batch.hooks.registry import HOOK_CLASSES
from airflow_provider_genai_batch.job_ref import BatchJobRef
from airflow_provider_genai_batch.links import GenAIBatchJobLink
from airflow_provider_genai_batch.models import BatchJob
from airflow_provider_genai_batch.operators.submit import GenAIBatchSubmitOperator
from airflow_provider_genai_batch.sensors.batch_results import GenAIBatchSensor
from airflow_provider_genai_batch.spec import BatchSpec, FileSource, InlineSource
from airflow_provider_genai_batch.testing.gcp_auth import TEST_PROJECT, service_account_info
from airflow_provider_genai_batch.triggers.batch_job import GenAIBatchJobTrigger
from tests.unit.pipeline.fakes import FakeTI, canonical_line, make_context, write_jsonl

BASE_URL = "http://provider.test"
# Where a redirect may lead: away from the connection's origin (scheme, host and port), or back to it.
FOREIGN_ORIGINS = {
    "other-host": "http://elsewhere.test",
    "other-port": "http://provider.test:8080",
    "other-scheme": "https://provider.test",
    "other-host-same-port": "http://elsewhere.test:80",
}
SAME_ORIGINS = {"uppercase-host": "http://PROVIDER.TEST", "explicit-default-port": "http://provider.test:80"}
ACCESS_KEY_ID = "AKIAGENAIBATCHTEST01"
CONN_ID = "genai_secrets"
MODEL = "anthropic.claude-test-v1"  # Bedrock translates canonical lines for Claude models only
LOGGER = "genai_batch.tests.secrets"
INPUT_KEYS = tuple(f"k{i:03d}" for i in range(100))  # Bedrock takes no fewer than 100 records
BUCKET = "genai-secrets-bucket"
JOB_ARN = "arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/abcd1234efgh"
VERTEX_JOB = f"projects/{TEST_PROJECT}/locations/us-central1/batchPredictionJobs/4242"
VERTEX_OUTPUT = f"gs://{BUCKET}/out/prediction-model-1"
TOKEN_PATH = "/token"
# Extras every connection gets; each hook reads only the fields its settings declare.
CONNECTION_EXTRAS = {
    "max_retries": 2,
    "retry_max_wait": 0,
    "region": "us-east-1",
    "role_arn": "arn:aws:iam::123456789012:role/genai-batch",
    "input_s3_uri": f"s3://{BUCKET}/in/",
    "output_s3_uri": f"s3://{BUCKET}/out/",
    "staging_gcs_uri": f"gs://{BUCKET}/in",
    "output_gcs_uri": f"gs://{BUCKET}/out",
}


def hook_params() -> list[Any]:
    assert HOOK_CLASSES, "the registry lists no hook"
    return [pytest.param(cls, id=cls.__name__) for cls in HOOK_CLASSES]


def takes_service_account(hook_class: type[BatchHook]) -> bool:
    """Whether the hook's connection holds a Google service-account key (its token is minted, not stored)."""
    return "keyfile_dict" in hook_class.settings_model.model_fields


def windows(secret: str, size: int = 8) -> set[str]:
    """Every ``size``-character piece of the secret, line by line (a PEM key without its armour lines): a
    partial key is a leak too."""
    lines = [line for line in secret.splitlines() if line and not line.startswith("-----")]
    return {line[i : i + size] for line in lines for i in range(len(line) - size + 1)}


def assert_clean(text: str, hidden: tuple[str, ...], what: str) -> None:
    """None of the secrets in ``hidden``, nor any piece of one, is in ``text``."""
    assert hidden, "no secret to look for"
    pieces = {text[i : i + 8] for i in range(len(text) - 7)}
    for secret in hidden:
        assert secret not in text, f"a secret leaked into {what}: {text[:2000]!r}"
        found = sorted(windows(secret) & pieces)
        assert not found, f"part of a secret leaked into {what}: {found} in {text[:2000]!r}"


def exception_texts(err: BaseException) -> str:
    """Everything an exception can show: message, repr, args, attributes, the traceback, its whole chain."""
    parts = ["".join(traceback.format_exception(err))]
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts += [str(current), repr(current), repr(current.args), repr(vars(current))]
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


# --- the provider side ------------------------------------------------------------------------------------


def _job_body(state: str, secret: str | None) -> dict[str, Any]:
    """A batch as every provider shapes it at once (each parser reads only its own fields)."""
    done = state in ("succeeded", "failed")
    ok = state == "succeeded"
    n = len(INPUT_KEYS)
    gemini_state = {
        "pending": "BATCH_STATE_PENDING",
        "running": "BATCH_STATE_RUNNING",
        "succeeded": "BATCH_STATE_SUCCEEDED",
        "failed": "BATCH_STATE_FAILED",
    }[state]
    metadata: dict[str, Any] = {
        "name": "batches/job-1",
        "state": gemini_state,
        "batchStats": {"requestCount": str(n), "successfulRequestCount": str(n if ok else 0)},
    }
    body: dict[str, Any] = {
        "name": "batches/job-1",
        "id": "job-1",
        "metadata": metadata,
        # OpenAI
        "object": "batch",
        "status": {"pending": "validating", "running": "in_progress", "succeeded": "completed", "failed": "failed"}[
            state
        ],
        "input_file_id": "file-in-1",
        "request_counts": {
            "total": n,
            "completed": n if ok else 0,
            "failed": n if state == "failed" else 0,
            # Anthropic
            "processing": 0 if done else n,
            "succeeded": n if ok else 0,
            "errored": n if state == "failed" else 0,
            "canceled": 0,
            "expired": 0,
        },
        "processing_status": "ended" if done else "in_progress",
    }
    if done:
        body["done"] = True
        metadata["output"] = {"responsesFile": "files/out-1"}
        body["output_file_id"] = "file-out-1"
        body["results_url"] = f"{BASE_URL}/v1/messages/batches/job-1/results"
    if state == "failed" and secret:
        message = f"the job failed: key {secret} is not allowed"
        body["error"] = {"code": 3, "message": message}
        body["errors"] = {"data": [{"code": "invalid_request", "message": message}]}
    return body


def _bedrock_job(state: str, secret: str | None) -> dict[str, Any]:
    """A GetModelInvocationJob answer (Bedrock's own shape: its ``status`` values clash with OpenAI's)."""
    n = len(INPUT_KEYS)
    status = {"pending": "Submitted", "running": "InProgress", "succeeded": "Completed", "failed": "Failed"}[state]
    body: dict[str, Any] = {
        "jobArn": JOB_ARN,
        "jobName": "genai-dag-submit",
        "modelId": MODEL,
        "status": status,
        "inputDataConfig": {"s3InputDataConfig": {"s3Uri": f"s3://{BUCKET}/in/in.jsonl"}},
        "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": f"s3://{BUCKET}/out/"}},
        "totalRecordCount": n,
        "processedRecordCount": n if state in ("succeeded", "failed") else 0,
        "successRecordCount": n if state == "succeeded" else 0,
        "errorRecordCount": n if state == "failed" else 0,
    }
    if state == "failed" and secret:
        body["message"] = f"the job failed: key {secret} is not allowed"
    return body


def _result_line(key: str, secret: str | None) -> dict[str, Any]:
    """One result line as every provider shapes it at once; with ``secret``, an error echoing it."""
    if secret:
        message = f"request rejected: key {secret} is not allowed"
        return {
            "key": key,
            "custom_id": key,
            "recordId": key,
            "error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT", "errorMessage": message},
            "result": {"type": "errored", "error": {"type": "error", "error": {"type": "x", "message": message}}},
        }
    return {
        "key": key,
        "custom_id": key,
        "recordId": key,
        "modelOutput": {"content": [{"type": "text", "text": "ok"}], "usage": {"input_tokens": 1, "output_tokens": 1}},
        "response": {
            "candidates": [{"content": {"role": "model", "parts": [{"text": "ok"}]}}],
            "status_code": 200,
            # OpenAI's body, and a gateway's Gemini result as the gateway flattens it (text and finish reason)
            "body": {
                "choices": [{"message": {"role": "assistant", "content": "ok"}}],
                "text": "ok",
                "finish_reason": "STOP",
            },
        },
        "result": {"type": "succeeded", "message": {"content": [{"type": "text", "text": "ok"}]}},
    }


def _vertex_job(state: str, secret: str | None, labels: dict[str, str]) -> dict[str, Any]:
    """A Vertex AI BatchPredictionJob resource (its own shape: its ``name`` and ``state`` clash with Gemini's)."""
    n = len(INPUT_KEYS)
    body: dict[str, Any] = {
        "name": VERTEX_JOB,
        "displayName": "genai-dag-submit",
        "model": f"publishers/google/models/{MODEL}",
        "state": {
            "pending": "JOB_STATE_PENDING",
            "running": "JOB_STATE_RUNNING",
            "succeeded": "JOB_STATE_SUCCEEDED",
            "failed": "JOB_STATE_FAILED",
        }[state],
        "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": [f"gs://{BUCKET}/in/in.jsonl"]}},
        "outputConfig": {"predictionsFormat": "jsonl", "gcsDestination": {"outputUriPrefix": f"gs://{BUCKET}/out"}},
        "labels": labels,
        "createTime": "2026-01-02T03:04:05Z",
    }
    if state in ("succeeded", "failed"):
        body["outputInfo"] = {"gcsOutputDirectory": VERTEX_OUTPUT}
        ok = state == "succeeded"
        body["completionStats"] = {"successfulCount": str(n if ok else 0), "failedCount": str(0 if ok else n)}
    if state == "failed" and secret:
        body["error"] = {"code": 3, "message": f"the job failed: key {secret} is not allowed"}
    return body


def _vertex_result_line(key: str, secret: str | None) -> dict[str, Any]:
    """One line of a Vertex AI ``predictions.jsonl``; with ``secret``, a failed row whose status echoes it."""
    line: dict[str, Any] = {
        "key": key,
        "request": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
        "processed_time": "2026-01-02T03:04:05.678Z",
    }
    if secret:
        return {**line, "status": f"request rejected: key {secret} is not allowed"}
    return {
        **line,
        "status": "",
        "response": {"candidates": [{"content": {"role": "model", "parts": [{"text": "ok"}]}}]},
    }


def _gcs_object(name: str, size: int) -> dict[str, Any]:
    return {"bucket": BUCKET, "name": name, "size": str(size), "contentType": "application/jsonl"}


def _error_json(status: int, message: str) -> httpx.Response:
    error = {"code": status, "message": message, "status": "INVALID_ARGUMENT", "type": "invalid_request_error"}
    return httpx.Response(status, json={"error": error})


def _straddle_500(message: str) -> str:
    """A long text body in which the key ends 2 characters after character 500, so a 500-character cut splits it."""
    key_length = len("sk-SECRET-") + 8
    return "x" * max(0, 500 - key_length + 2 - message.index("sk-SECRET-")) + message


ERROR_BODIES: dict[str, Callable[[int, str], httpx.Response]] = {
    "json_error_object": _error_json,
    "json_top_level_message": lambda status, message: httpx.Response(status, json={"message": message}),
    "json_error_string": lambda status, message: httpx.Response(status, json={"error": message}),
    "plain_text": lambda status, message: httpx.Response(status, text=message),
    "html": lambda status, message: httpx.Response(
        status, html=f"<html><body><h1>{status}</h1><p>{message}</p></body></html>"
    ),
    "long_text_key_at_500": lambda status, message: httpx.Response(status, text=_straddle_500(message)),
}


def _form_file(request: httpx.Request) -> bytes:
    """The bytes of the ``file`` field of a multipart/form-data body."""
    boundary = request.headers["content-type"].split("boundary=", 1)[1].encode()
    for raw in request.content.split(b"--" + boundary)[1:-1]:
        head, _, data = raw.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if b'name="file"' in head:
            return data.removesuffix(b"\r\n")
    raise AssertionError("no file field in the form")


class ProviderServer:
    """The provider on the far side of ``httpx.MockTransport``: records every request, answers or echoes."""

    def __init__(self, secret: str, known: tuple[str, ...] = ()) -> None:
        self.secret = secret  # the key, or the access token minted for a service account
        self.known = known  # further secrets a careless server might echo (a service account's key and its id)
        self.requests: list[httpx.Request] = []
        self.labels: dict[str, str] = {}  # of the last Vertex AI job created
        self.upload_name = ""  # of the last Cloud Storage upload session
        self.refuse_tokens = False  # the token endpoint refuses, echoing the service account's key and its id
        self.job_state = "succeeded"
        self.echo: Callable[[int, str], httpx.Response] | None = None  # answer every call with an echoing error
        self.flaky_gets = 0  # this many GETs first get a 503 (echoing the key) before the real answer
        self.echo_in_results = False  # a failed job and error rows, their messages echoing the key
        self.redirect_to: str | None = None  # an origin every call is redirected to, once, keeping its path
        self.stored = 0  # bytes of the last S3 object written

    @property
    def echoed(self) -> str:
        """Every secret the server knows, as a careless one puts them in a message."""
        return " ".join((self.secret, *self.known))

    def echo_message(self, request: httpx.Request) -> str:
        """What a careless server says: every credential it was sent, and the keys it knows."""
        received = "; ".join(f"{name}={value}" for name, value in request.headers.items())
        return f"invalid credentials for {request.url.path}: {self.echoed} (received {received})"

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        if request.url.path == TOKEN_PATH:  # Google's OAuth endpoint: neither redirected nor echoing by default
            return self.mint(request)
        if self.redirect_to is not None and "redirected" not in request.url.params:
            return httpx.Response(302, headers={"location": f"{self.redirect_to}{request.url.path}?redirected=1"})
        if self.echo is not None:
            return self.echo(400, self.echo_message(request))
        if request.method == "GET" and self.flaky_gets > 0:
            self.flaky_gets -= 1
            return _error_json(503, self.echo_message(request))
        return self.answer(request)

    def mint(self, request: httpx.Request) -> httpx.Response:
        """The OAuth2 token endpoint: a signed JWT assertion in, the access token (the test's key) out."""
        form = parse_qs(request.content.decode())
        grant = form.get("grant_type") == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
        assertion = form.get("assertion", [""])[0]
        if self.refuse_tokens or not grant or assertion.count(".") != 2:
            description = f"invalid JWT signature for {' '.join(self.known)}"  # no token was minted to echo
            return httpx.Response(400, json={"error": "invalid_grant", "error_description": description})
        return httpx.Response(200, json={"access_token": self.secret, "expires_in": 3600, "token_type": "Bearer"})

    def answer_google(self, request: httpx.Request) -> httpx.Response | None:
        """Vertex AI jobs and Cloud Storage objects; None for any other route."""
        method, path, params = request.method, request.url.path, request.url.params
        secret = self.echoed if self.echo_in_results else None
        if path.startswith("/upload/storage/v1/b/"):
            if method == "POST":
                self.upload_name = params["name"]
                session = request.url.copy_with(params={"uploadType": "resumable", "upload_id": "u-1"})
                return httpx.Response(200, headers={"location": str(session)}, json={})
            return httpx.Response(200, json=_gcs_object(self.upload_name, len(request.content)))
        if path.startswith("/storage/v1/b/"):
            predictions = VERTEX_OUTPUT.removeprefix(f"gs://{BUCKET}/") + "/predictions.jsonl"
            if path.endswith("/o"):
                return httpx.Response(200, json={"items": [_gcs_object(predictions, 10)]})
            if params.get("alt") == "media":
                lines = "".join(json.dumps(_vertex_result_line(key, secret)) + "\n" for key in INPUT_KEYS)
                return httpx.Response(200, content=lines.encode())
            return httpx.Response(200, json=_gcs_object(path.split("/o/", 1)[1], 10))
        if "/batchPredictionJobs" not in path:
            return None
        if method == "GET" and path.endswith("/batchPredictionJobs"):
            return httpx.Response(200, json={"batchPredictionJobs": []})
        if method == "POST" and path.endswith("/batchPredictionJobs"):
            self.labels = json.loads(request.content).get("labels", {})
            return httpx.Response(200, json=_vertex_job("pending", None, self.labels))
        if method == "POST" and path.endswith(":cancel"):
            return httpx.Response(200, json={})
        if method == "DELETE":
            return httpx.Response(200, json={"name": f"{VERTEX_JOB}/operations/1", "done": True})
        state = "failed" if self.echo_in_results else self.job_state
        return httpx.Response(200, json=_vertex_job(state, secret, self.labels))

    def answer(self, request: httpx.Request) -> httpx.Response:
        google = self.answer_google(request)
        if google is not None:
            return google
        method, path = request.method, request.url.path
        command = request.headers.get("x-goog-upload-command")
        if command == "start":
            session = f"{BASE_URL}/upload-session/1?upload_id=u-1"
            return httpx.Response(200, headers={"x-goog-upload-url": session}, json={})
        if command:
            size = str(int(request.headers.get("x-goog-upload-offset", "0")) + len(request.content))
            file = {"name": "files/in-1", "displayName": "in.jsonl", "sizeBytes": size, "state": "ACTIVE"}
            return httpx.Response(200, headers={"x-goog-upload-status": "final"}, json={"file": file})
        if method == "GET" and path.endswith(("/batches", "/files", "/model-invocation-jobs")):
            listing = {"operations": [], "files": [], "data": [], "has_more": False, "invocationJobSummaries": []}
            return httpx.Response(200, json=listing)
        if method == "PUT":  # an S3 object
            self.stored = len(request.content)
            return httpx.Response(200, headers={"etag": '"0123456789abcdef"'})
        if method == "HEAD":
            return httpx.Response(200, headers={"etag": '"0123456789abcdef"', "content-length": str(self.stored)})
        if method == "POST" and path.endswith("/model-invocation-job"):
            return httpx.Response(200, json={"jobArn": JOB_ARN})
        if method == "GET" and "/model-invocation-job/" in path:
            state = "failed" if self.echo_in_results else self.job_state
            return httpx.Response(200, json=_bedrock_job(state, self.echoed if self.echo_in_results else None))
        if method == "POST" and path.endswith("/files"):
            size = len(_form_file(request))
            file = {"id": "file-in-1", "object": "file", "bytes": size, "filename": "in.jsonl", "status": "processed"}
            return httpx.Response(200, json=file)
        if method == "POST" and path.endswith(("/cancel", ":cancel", "/stop")):
            return httpx.Response(200, json=_job_body("running", None))
        if method == "POST" and (path.endswith("/batches") or ":batch" in path or ":asyncBatch" in path):
            return httpx.Response(200, json=_job_body("pending", None))
        if method == "DELETE":
            return httpx.Response(200, json={})
        if method == "GET" and path.endswith("/results") and "provider" in request.url.params:
            secret = self.echoed if self.echo_in_results else None  # a gateway's results route: one JSON document
            return httpx.Response(200, json={"results": [_result_line(key, secret) for key in INPUT_KEYS]})
        if method == "GET" and path.endswith((":download", "/content", "/results", ".out")):
            secret = self.echoed if self.echo_in_results else None
            lines = "".join(json.dumps(_result_line(key, secret)) + "\n" for key in INPUT_KEYS)
            return httpx.Response(200, content=lines.encode())
        if method == "GET" and "/batches/" in path:
            state = "failed" if self.echo_in_results else self.job_state
            return httpx.Response(200, json=_job_body(state, self.echoed if self.echo_in_results else None))
        if method == "GET" and "/files/" in path:
            return httpx.Response(200, json={"id": "file-out-1", "name": "files/out-1", "bytes": 10})
        return _error_json(404, f"no route for {method} {path}")


# --- fixtures ---------------------------------------------------------------------------------------------


@pytest.fixture
def secret() -> str:
    return f"sk-SECRET-{uuid.uuid4().hex[:8]}"


@pytest.fixture(params=hook_params())
def hook_class(request: pytest.FixtureRequest) -> type[BatchHook]:
    return request.param


@pytest.fixture
def service_account(hook_class: type[BatchHook]) -> dict[str, Any] | None:
    """A new service-account key (its own private key and id) where the hook takes one; else None."""
    return service_account_info(BASE_URL + TOKEN_PATH) if takes_service_account(hook_class) else None


@pytest.fixture
def stored(secret: str, service_account: dict[str, Any] | None) -> tuple[str, ...]:
    """The secrets the connection holds: the key, or a service account's private key and its id."""
    if service_account is None:
        return (secret,)
    return service_account["private_key"], service_account["private_key_id"]


@pytest.fixture
def hidden(secret: str, stored: tuple[str, ...]) -> tuple[str, ...]:
    """Every secret of the test: those the connection holds and the access token minted from them."""
    return tuple(dict.fromkeys((secret, *stored)))


@pytest.fixture
def connection(
    monkeypatch: pytest.MonkeyPatch, hook_class: type[BatchHook], secret: str, service_account: dict[str, Any] | None
) -> Callable[..., str]:
    """``connection(host=BASE_URL, **extra)`` -> the id of a connection of ``hook_class``'s type holding the key
    (a service account's key, whose tokens come from ``host``)."""

    def make(host: str = BASE_URL, **extra: Any) -> str:
        password = secret
        if service_account is not None:
            password = json.dumps({**service_account, "token_uri": host + TOKEN_PATH})
        endpoints = {
            name: host for name in ("endpoint_url", "s3_endpoint_url", "gcs_endpoint_url", "bigquery_endpoint_url")
        }
        conn = {
            "conn_type": hook_class.conn_type,
            "host": host,
            "login": ACCESS_KEY_ID,
            "password": password,
            "extra": {**CONNECTION_EXTRAS, **endpoints, **extra},
        }
        monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
        return CONN_ID

    return make


@pytest.fixture
def server(
    monkeypatch: pytest.MonkeyPatch, secret: str, hidden: tuple[str, ...], connection: Callable[..., str]
) -> ProviderServer:
    """The provider: every client a hook builds (sync or pooled async, and google-auth's to the token
    endpoint) talks to it over MockTransport."""
    provider = ProviderServer(secret, hidden[1:])

    class MockedHttpx:
        def __getattr__(self, name: str) -> Any:
            return getattr(httpx, name)

        @staticmethod
        def Client(**kwargs: Any) -> httpx.Client:
            return httpx.Client(**{**kwargs, "transport": httpx.MockTransport(provider)})

    def pooled_async_client(**kwargs: Any) -> PooledAsyncClient:
        return PooledAsyncClient(**{**kwargs, "transport": httpx.MockTransport(provider)})

    monkeypatch.setattr(base_module, "httpx", MockedHttpx())
    monkeypatch.setattr(google_auth_module, "httpx", MockedHttpx())
    monkeypatch.setattr(base_module, "PooledAsyncClient", pooled_async_client)
    monkeypatch.setattr(base_module, "ASYNC_CLIENTS", AsyncClientPool())
    connection()
    return provider


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> pytest.LogCaptureFixture:
    """Every log record at DEBUG: stdlib loggers (httpx, httpcore, airflow) and the hooks', operators' and
    triggers' own (Airflow routes those through structlog to stdout; here they go to one stdlib logger)."""
    for mixin in (LoggingMixin, CoreLoggingMixin):
        monkeypatch.setattr(mixin, "_log", logging.getLogger(LOGGER))
    for name in (None, "httpx", "httpcore", "airflow", LOGGER):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def make_hook(hook_class: type[BatchHook]) -> BatchHook:
    return hook_class(conn_id=CONN_ID)


def input_file(tmp_path: Path) -> str:
    return str(write_jsonl(tmp_path / "in.jsonl", [canonical_line(key) for key in INPUT_KEYS]))


def submit_op(tmp_path: Path, **kwargs: Any) -> GenAIBatchSubmitOperator:
    kwargs.setdefault("task_id", "submit")
    kwargs.setdefault("conn_id", CONN_ID)
    kwargs.setdefault("model", MODEL)
    kwargs.setdefault("input", input_file(tmp_path))
    kwargs.setdefault("output_uri", str(tmp_path / "out"))
    kwargs.setdefault("poll_interval", 0.01)
    return GenAIBatchSubmitOperator(**kwargs)


def every_file_under(directory: Path) -> Iterator[tuple[Path, str]]:
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            yield path, path.read_bytes().decode("utf-8", errors="replace")


def names_for(provider: str) -> tuple[str, str, str]:
    """A job, an input file and an output file as ``provider`` names them (Bedrock: an ARN, s3:// objects;
    Vertex AI: a resource name, gs:// objects)."""
    if provider == "bedrock":
        return JOB_ARN, f"s3://{BUCKET}/in/in.jsonl", f"s3://{BUCKET}/out/abcd1234efgh/in.jsonl.out"
    if provider == "vertex":
        return VERTEX_JOB, f"gs://{BUCKET}/in/in.jsonl", f"{VERTEX_OUTPUT}/predictions.jsonl"
    return "batches/job-1", "files/in-1", "files/out-1"


def api_requests(server: ProviderServer) -> list[httpx.Request]:
    """The requests to the provider's API: all but those to the OAuth token endpoint."""
    return [request for request in server.requests if request.url.path != TOKEN_PATH]


def key_travels(hook: BatchHook) -> bool:
    """Whether the key itself travels in a header (an API key, a bearer token), rather than a signature."""
    auth = hook.http_auth(hook.settings)
    return auth is None or isinstance(auth, BearerAuth)


def hook_operations(hook: BatchHook, tmp_path: Path) -> list[tuple[str, Callable[[], Any]]]:
    """One call of each kind a hook makes, sync; what a provider does not support raises GenAIBatchError."""
    upload = write_jsonl(tmp_path / "upload.jsonl", [canonical_line(key) for key in INPUT_KEYS])
    job_name, input_name, output_name = names_for(hook.provider)
    location = output_name.rsplit("/", 1)[0] if output_name.startswith("gs://") else None
    job = BatchJob(name=job_name, provider=hook.provider, output_file=output_name, output_location=location)
    if hook.capabilities.file_input:
        source: FileSource | InlineSource = FileSource(input_name)
    else:
        source = InlineSource([{"custom_id": "a", "params": {"model": MODEL, "max_tokens": 8, "messages": []}}])
    spec = BatchSpec(model=MODEL, display_name="d", source=source, idempotency_key="gbk-0123456789abcdef0123")
    return [
        ("list_batches", lambda: list(hook.list_batches())),
        ("get_batch", lambda: hook.get_batch(job_name)),
        ("cancel_batch", lambda: hook.cancel_batch(job_name)),
        ("create_batch", lambda: hook.create_batch(spec)),
        ("upload_file", lambda: hook.upload_file(upload)),
        ("download", lambda: b"".join(hook.iter_file_bytes(output_name))),
        ("iter_results", lambda: list(hook.iter_results(job))),
    ]


def run_operations(hook: BatchHook, tmp_path: Path) -> list[BaseException]:
    errors = []
    for _, call in hook_operations(hook, tmp_path):
        try:
            call()
        except Exception as err:  # the failures are what some tests look at
            errors.append(err)
    return errors


# --- the connection and the masker ------------------------------------------------------------------------


def test_every_hook_reads_its_key_from_the_connection_and_knows_to_redact_it(hook_class, connection, stored, hidden):
    connection()
    hook = make_hook(hook_class)

    settings = hook.settings

    for secret in stored:
        assert secret in hook.secrets()
        assert hook.redact(f"before {secret} after") == "before *** after"
        # Read through Airflow's connection API, so Airflow's own log masking knows the key too.
        assert_clean(airflow_redact(f"a log line with {secret}"), hidden, "Airflow's redaction")
    for shown in (repr(settings), str(settings), settings.model_dump_json(), repr(hook)):
        assert_clean(shown, hidden, "the printed settings")


@pytest.mark.parametrize("hook_class", [p for p in hook_params() if takes_service_account(p.values[0])])
def test_an_access_token_is_redacted_by_the_hook_and_by_airflow_once_minted(hook_class, server, secret, hidden):
    hook = make_hook(hook_class)

    hook.get_batch(names_for(hook.provider)[0])

    assert [r.url.path for r in server.requests] == [TOKEN_PATH, f"/v1/{VERTEX_JOB}"]
    assert secret in hook.secrets()
    assert hook.redact(f"before {secret} after") == "before *** after"
    assert_clean(airflow_redact(f"a log line with {secret}"), hidden, "Airflow's redaction")


@pytest.mark.parametrize("hook_class", [p for p in hook_params() if takes_service_account(p.values[0])])
def test_a_redactor_taken_before_the_token_was_minted_removes_it(hook_class, server, secret):
    hook = make_hook(hook_class)
    redact = hook.redact  # as a landing takes it, before the reads that mint or refresh the token

    hook.get_batch(names_for(hook.provider)[0])

    assert secret in hook.secrets()
    assert redact(f"before {secret} after") == "before *** after"


@pytest.mark.parametrize("hook_class", [p for p in hook_params() if takes_service_account(p.values[0])])
def test_a_token_endpoint_that_echoes_the_service_account_key_shows_it_nowhere(hook_class, server, hidden, logs, capfd):
    server.refuse_tokens = True
    hook = make_hook(hook_class)

    with pytest.raises(GenAIBatchError, match="could not get a Google access token") as raised:
        hook.get_batch(names_for(hook.provider)[0])

    assert [r.url.path for r in server.requests] == [TOKEN_PATH]
    assert "***" in str(raised.value)
    assert_clean(exception_texts(raised.value), hidden, "the token error")
    assert_logs_clean(logs, capfd, hidden, own=False)


# --- (c) URLs: the key travels only in headers -------------------------------------------------------------


def test_the_key_travels_in_headers_and_never_in_a_url_or_body(hook_class, server, secret, stored, hidden, tmp_path):
    hook = make_hook(hook_class)
    run_operations(hook, tmp_path)
    server.job_state = "succeeded"
    submit_op(tmp_path, wait_for_completion=True, deferrable=False).execute(make_context(FakeTI()))

    assert len(api_requests(server)) >= 5
    for request in server.requests:
        assert_clean(str(request.url), hidden, f"the URL of {request.method} {request.url.path}")
        assert_clean(request.content.decode("utf-8", "replace"), hidden, f"the body of {request.method} {request.url}")
        if secret not in stored:  # a minted token travels; the key it was minted from never does
            assert_clean(json.dumps(dict(request.headers)), stored, f"the headers of {request.method} {request.url}")
    in_headers = [r for r in server.requests if any(secret in value for value in r.headers.values())]
    if key_travels(hook):
        assert in_headers, "header auth: the key must reach the provider in a header"
    else:
        assert in_headers == [], "signed requests carry a signature, never the secret itself"


async def test_the_async_client_sends_the_key_in_headers_only(hook_class, server, secret, hidden):
    server.job_state = "running"
    hook = make_hook(hook_class)

    await hook.aget_batch(names_for(hook.provider)[0])
    await hook.acancel_batch(names_for(hook.provider)[0])

    assert len(api_requests(server)) == 2
    for request in server.requests:
        assert_clean(str(request.url), hidden, "an async request URL")
        assert_clean(request.content.decode("utf-8", "replace"), hidden, "an async request body")
    if key_travels(hook):
        assert all(any(secret in value for value in r.headers.values()) for r in api_requests(server))


def redirected(server: ProviderServer) -> list[httpx.Request]:
    """The requests sent after a redirect; at least one, or the redirect was not followed at all."""
    followed = [r for r in server.requests if "redirected" in r.url.params]
    assert followed, "the redirect was followed"
    return followed


def key_headers(hook: BatchHook, secret: str) -> dict[str, str]:
    """The headers that carry this hook's key, by lower-case name (a bearer token minted for its credentials
    included): what must never leave the connection's origin."""
    headers = {name.lower(): value for name, value in hook.auth_headers(hook.settings).items()}
    if isinstance(hook.http_auth(hook.settings), BearerAuth):
        headers["authorization"] = f"Bearer {secret}"
    return headers


@pytest.mark.parametrize("target", list(FOREIGN_ORIGINS.values()), ids=list(FOREIGN_ORIGINS))
def test_a_redirect_away_from_the_connections_origin_never_carries_the_key(hook_class, server, secret, hidden, target):
    server.redirect_to = target
    hook = make_hook(hook_class)

    hook.get_batch(names_for(hook.provider)[0])

    first = api_requests(server)[0]
    assert all(first.headers.get(name) == value for name, value in key_headers(hook, secret).items())
    for request in redirected(server):
        assert origin_of(request.url) == origin_of(target)
        assert_clean(json.dumps(dict(request.headers)), hidden, f"the headers sent to {request.url}")
        assert not set(key_headers(hook, secret)) & {name.lower() for name in request.headers}, request.headers


@pytest.mark.parametrize("target", list(FOREIGN_ORIGINS.values()), ids=list(FOREIGN_ORIGINS))
async def test_a_redirect_of_an_async_call_away_from_the_origin_never_carries_the_key(
    hook_class, server, secret, hidden, target
):
    server.redirect_to = target
    hook = make_hook(hook_class)

    await hook.aget_batch(names_for(hook.provider)[0])

    for request in redirected(server):
        assert_clean(json.dumps(dict(request.headers)), hidden, f"the headers sent to {request.url}")
        assert not set(key_headers(hook, secret)) & {name.lower() for name in request.headers}, request.headers


def header_auth_params() -> list[Any]:
    """Hooks whose key is a header: an API key, or a bearer token minted for a service account (SigV4 signs
    each request instead: no header to keep)."""
    return [
        pytest.param(cls, id=cls.__name__)
        for cls in HOOK_CLASSES
        if cls.http_auth is BatchHook.http_auth or takes_service_account(cls)
    ]


@pytest.mark.parametrize("hook_class", header_auth_params())
@pytest.mark.parametrize("target", list(SAME_ORIGINS.values()), ids=list(SAME_ORIGINS))
def test_a_redirect_within_the_connections_origin_keeps_the_key(hook_class, server, secret, target):
    server.redirect_to = target
    hook = make_hook(hook_class)

    hook.get_batch(names_for(hook.provider)[0])

    headers = key_headers(hook, secret)
    assert any(secret in value for value in headers.values())
    for request in redirected(server):
        assert {name: request.headers.get(name) for name in headers} == headers


# --- (b) exception text: a server that echoes the key -----------------------------------------------------


def echo_params() -> list[Any]:
    return [
        pytest.param(
            name,
            id=name,
        )
        for name in ERROR_BODIES
    ]


@pytest.mark.parametrize("body", echo_params())
def test_a_key_echoed_by_the_server_is_redacted_from_every_exception(hook_class, server, hidden, body, tmp_path):
    server.echo = ERROR_BODIES[body]
    hook = make_hook(hook_class)

    errors = run_operations(hook, tmp_path)
    ok, message = hook.test_connection()

    assert len(errors) == len(hook_operations(hook, tmp_path))
    assert any(isinstance(err, ProviderAPIError) and err.http_status == 400 for err in errors)
    for err in errors:
        assert isinstance(err, GenAIBatchError), f"{type(err).__name__}: {err}"
        assert_clean(exception_texts(err), hidden, f"a {type(err).__name__}")
    assert not ok
    assert_clean(message, hidden, "the test_connection message")


async def test_a_key_echoed_to_the_async_client_is_redacted(hook_class, server, hidden):
    server.echo = ERROR_BODIES["json_error_object"]
    hook = make_hook(hook_class)

    with pytest.raises(ProviderAPIError) as raised:
        await hook.aget_batch(names_for(hook.provider)[0])

    assert raised.value.http_status == 400
    assert "***" in str(raised.value)
    assert_clean(exception_texts(raised.value), hidden, "an async ProviderAPIError")


def test_a_failed_submit_shows_no_key(hook_class, server, hidden, tmp_path):
    server.echo = ERROR_BODIES["json_error_object"]

    with pytest.raises(GenAIBatchError) as raised:
        submit_op(tmp_path).execute(make_context(FakeTI()))

    assert_clean(exception_texts(raised.value), hidden, "the submit operator's exception")


# --- (a) logs ---------------------------------------------------------------------------------------------


def assert_logs_clean(
    logs: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str], hidden: tuple[str, ...], *, own: bool = True
) -> None:
    records = logs.records
    assert any(r.name == "httpx" and "HTTP Request" in r.getMessage() for r in records), "httpx logs captured"
    assert not own or any(r.name == LOGGER for r in records), "the hooks', operators' and triggers' own logs captured"
    for record in records:
        text = f"{record.getMessage()} {record.args!r} {record.exc_text or ''}"
        if record.exc_info:
            text += "".join(traceback.format_exception(*record.exc_info))
        assert_clean(text, hidden, f"a log record of {record.name} at {record.levelname}")
    out, err = capfd.readouterr()
    assert_clean(out + err, hidden, "stdout/stderr")


def test_logs_of_calls_that_succeed_retry_and_fail_carry_no_key(hook_class, server, hidden, logs, capfd, tmp_path):
    server.flaky_gets = 2  # two 503s that echo the key, retried (and logged) before the answer
    submit_op(tmp_path, wait_for_completion=True, deferrable=False).execute(make_context(FakeTI()))
    hook = make_hook(hook_class)
    hook.get_batch(names_for(hook.provider)[0])
    server.echo = ERROR_BODIES["plain_text"]
    run_operations(hook, tmp_path)
    hook.test_connection()

    assert any("retrying" in r.getMessage() for r in logs.records), "a retry was logged"
    assert_logs_clean(logs, capfd, hidden)


async def test_trigger_logs_and_events_carry_no_key(hook_class, server, hidden, logs, capfd):
    job_name = names_for(hook_class.provider)[0]
    ref = BatchJobRef(provider=hook_class.provider, conn_id=CONN_ID, job_name=job_name, request_count=len(INPUT_KEYS))
    server.flaky_gets = 3  # 503s echoing the key: retried by the transport, then logged and polled again
    server.job_state = "succeeded"

    events = [event async for event in GenAIBatchJobTrigger(job_ref=ref.to_xcom(), poll_interval=0.01).run()]
    server.echo = ERROR_BODIES["json_error_object"]
    failed = [event async for event in GenAIBatchJobTrigger(job_ref=ref.to_xcom(), poll_interval=0.01).run()]

    assert [e.payload["status"] for e in events] == ["terminal"]
    assert [e.payload["status"] for e in failed] == ["error"]
    assert "***" in failed[0].payload["message"]
    for event in (*events, *failed):
        assert_clean(json.dumps(event.payload), hidden, "a trigger event")
    assert any("will poll again" in r.getMessage() for r in logs.records)
    assert_logs_clean(logs, capfd, hidden)


class _LoopbackHandler(BaseHTTPRequestHandler):
    provider: ProviderServer
    base: str

    def _serve(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        request = httpx.Request(
            self.command,
            f"{self.base}{self.path}",
            headers=list(self.headers.items()),
            content=self.rfile.read(length) if length else b"",
        )
        response = self.provider(request)
        body = response.content
        self.send_response(response.status_code)
        for name, value in response.headers.items():
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, value)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def loopback(secret: str, hidden: tuple[str, ...]) -> Iterator[tuple[str, ProviderServer]]:
    """The provider on a real loopback socket, so the whole httpx/httpcore stack (and its logging) runs."""
    provider = ProviderServer(secret, hidden[1:])
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _LoopbackHandler)
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.RequestHandlerClass = type("Handler", (_LoopbackHandler,), {"provider": provider, "base": base})
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield base, provider
    httpd.shutdown()
    httpd.server_close()
    thread.join()


def test_httpcore_debug_logs_on_a_real_socket_carry_no_key(
    hook_class, connection, loopback, secret, hidden, logs, capfd
):
    base, provider = loopback
    connection(host=base)
    hook = make_hook(hook_class)
    try:
        list(hook.list_batches())
        hook.get_batch(names_for(hook.provider)[0])
        provider.echo = ERROR_BODIES["json_error_object"]
        with pytest.raises(ProviderAPIError):
            hook.get_batch(names_for(hook.provider)[0])
    finally:
        hook.close()

    assert any(r.name.startswith("httpcore") for r in logs.records), "httpcore's DEBUG logs captured"
    in_headers = any(secret in v for r in provider.requests for v in r.headers.values())
    assert in_headers if key_travels(hook) else not in_headers
    assert_logs_clean(logs, capfd, hidden, own=False)


# --- (d) trigger kwargs, (e) XCom, (h) output files ---------------------------------------------------------


def test_deferral_trigger_kwargs_xcom_and_the_manifest_carry_no_key(hook_class, server, hidden, tmp_path):
    server.job_state = "running"
    ti = FakeTI()
    op = submit_op(tmp_path, wait_for_completion=True, deferrable=True)

    with pytest.raises(TaskDeferred) as deferred:
        op.execute(make_context(ti))

    _, kwargs = deferred.value.trigger.serialize()
    assert_clean(json.dumps(kwargs), hidden, "the trigger kwargs")
    assert_clean(f"{deferred.value!r} {deferred.value.kwargs!r} {deferred.value.method_name}", hidden, "TaskDeferred")
    server.job_state = "succeeded"

    async def events() -> list[Any]:
        trigger = GenAIBatchJobTrigger(**kwargs)
        return [event async for event in trigger.run()]

    (event,) = asyncio.run(events())
    manifest = op.execute_complete(make_context(ti), event.payload)

    assert manifest["counts"]["succeeded"] == len(INPUT_KEYS)
    assert_clean(json.dumps(event.payload), hidden, "the trigger event")
    assert_clean(json.dumps(ti.pushes), hidden, "the XCom pushes")
    assert_clean(json.dumps(manifest), hidden, "the returned manifest")
    written = dict(every_file_under(tmp_path / "out"))
    assert {p.name for p in written} >= {"results.jsonl", "manifest.json", "input_keys.jsonl"}
    for path, text in written.items():
        assert_clean(text, hidden, f"the written file {path.name}")


def test_xcom_manifest_and_files_of_a_blocking_submit_and_sensor_carry_no_key(hook_class, server, hidden, tmp_path):
    ti = FakeTI()
    manifest = submit_op(tmp_path, wait_for_completion=True, deferrable=False).execute(make_context(ti))
    ref = ti.pushes[0][1]
    sensor_ti = FakeTI(task_id="wait")
    sensor = GenAIBatchSensor(task_id="wait", job_ref=ref, output_uri=str(tmp_path / "sensor"), deferrable=False)
    poked = sensor.poke(make_context(sensor_ti))

    assert manifest["counts"]["succeeded"] == len(INPUT_KEYS)
    assert poked.is_done
    for value, what in ((manifest, "manifest"), (ti.pushes, "XCom"), (poked.xcom_value, "sensor manifest")):
        assert_clean(json.dumps(value), hidden, f"the {what}")
    written = dict(every_file_under(tmp_path / "out")) | dict(every_file_under(tmp_path / "sensor"))
    assert {p.name for p in written} >= {"results.jsonl", "manifest.json"}
    for path, text in written.items():
        assert_clean(text, hidden, f"the written file {path}")


def test_a_key_echoed_in_job_and_row_errors_stays_out_of_results_manifest_and_exceptions(
    hook_class, server, hidden, tmp_path
):
    server.echo_in_results = True
    ti = FakeTI()

    with pytest.raises(GenAIBatchError) as raised:
        submit_op(tmp_path, wait_for_completion=True, deferrable=False).execute(make_context(ti))

    assert_clean(exception_texts(raised.value), hidden, "the JobFailedError")
    written = dict(every_file_under(tmp_path / "out"))
    assert {p.name for p in written} >= {"results.jsonl", "manifest.json"}
    for path, text in written.items():
        assert_clean(text, hidden, f"the written file {path.name}")


# --- (f) rendered template fields, (g) the extra link ------------------------------------------------------


def test_rendered_template_fields_hold_the_conn_id_never_the_key(hook_class, server, hidden, tmp_path):
    input_file(tmp_path)
    ti = FakeTI()
    context = {
        "params": {"conn": CONN_ID, "dir": str(tmp_path), "model": MODEL},
        "ds": "2026-01-02",
        "run_id": ti.run_id,
        "ti": ti,
    }
    op = submit_op(
        tmp_path,
        conn_id="{{ params.conn }}",
        model="{{ params.model }}",
        input="{{ params.dir }}/in.jsonl",
        display_name="nightly {{ ds }}",
        output_uri="{{ params.dir }}/out/{{ ds }}",
    )
    op.render_template_fields(context, jinja2.Environment())
    rendered = {field: getattr(op, field) for field in op.template_fields}
    op.execute(make_context(ti))

    sensor = GenAIBatchSensor(
        task_id="wait",
        job_ref="{{ ti.xcom_pull(task_ids='submit', key='job_ref') }}",
        output_uri="{{ params.dir }}/sensor/{{ ds }}",
        deferrable=False,
    )
    sensor.render_template_fields({**context, "ti": FakeTI(task_id="wait", xcom=ti.xcom)}, jinja2.Environment())
    rendered_sensor = {field: getattr(sensor, field) for field in sensor.template_fields}

    assert rendered["conn_id"] == CONN_ID
    assert BatchJobRef.parse(rendered_sensor["job_ref"]).conn_id == CONN_ID
    assert_clean(repr(rendered), hidden, "the submit operator's rendered fields")
    assert_clean(repr(rendered_sensor), hidden, "the sensor's rendered fields")
    assert not any(word in f for f in (*op.template_fields, *sensor.template_fields) for word in ("password", "key"))


def test_the_extra_link_carries_no_key(hook_class, server, hidden, tmp_path, monkeypatch):
    ti = FakeTI()
    op = submit_op(tmp_path)
    op.execute(make_context(ti))
    pushed = dict(ti.pushes)["job_ref"]
    monkeypatch.setattr(links_module, "XCom", SimpleNamespace(get_value=lambda *, ti_key, key: pushed))

    url = GenAIBatchJobLink().get_link(op, ti_key=SimpleNamespace(task_id="submit"))

    assert url == pushed["console_url"]  # the connection points at its own host: the job's address there
    assert url.startswith(f"{BASE_URL}/") and url.endswith(pushed["job_name"].rsplit("/", 1)[-1])
    assert_clean(url, hidden, "the extra link")
