"""GatewayBatchHook on the wire, as the gateway's documentation shows it: the x-model-provider header,
``batches/<id>`` and ``files/<id>`` names, inline Gemini requests for every target, every state it may
report, results from its native routes per target, and up-front errors for what it cannot carry.

Every assertion is on the HTTP request the hook really sent (``httpx.MockTransport``); the connection comes
from an ``AIRFLOW_CONN_*`` environment variable, as in a deployment.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from airflow_provider_genai_batch.errors import (
    GenAIBatchError,
    InputValidationError,
    ProviderAPIError,
    UnreadableAnswerError,
)
from airflow_provider_genai_batch.formats.gateway import BEDROCK_UNSUPPORTED
from airflow_provider_genai_batch.formats.results import RowStatus, Usage
from airflow_provider_genai_batch.hooks.gateway import GatewayBatchHook
from airflow_provider_genai_batch.hooks.registry import hook_class_for_conn_type, hook_class_for_provider
from airflow_provider_genai_batch.inputs import prepare_input
from airflow_provider_genai_batch.models import BatchJob, BatchStats, JobState
from airflow_provider_genai_batch.polling import PollState, Verdict
from airflow_provider_genai_batch.spec import BatchKind, BatchSpec, FileSource, InlineSource

from ._wire import API_KEY, Handler, Wire, body, mock_hooks, set_connection

GATEWAY_URL = "http://gateway.test/genai"
UPLOAD_URL = "http://gateway.test/genai/upload/v1beta/files?upload_id=genai_upload_session:Zx81"
CONN_ID = "gateway_unit"
ARN = "arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/k2v9abc"
KEY = "gbk-0123456789abcdef0123"
SKY = {"contents": [{"role": "user", "parts": [{"text": "Why is the sky blue?"}]}]}
TIDES = {"contents": [{"role": "user", "parts": [{"text": "What causes tides?"}]}]}
CANONICAL = [{"key": "sky", "request": SKY}, {"key": "tides", "request": TIDES}]


def operation(name: str, state: str = "BATCH_STATE_RUNNING", **metadata: Any) -> dict[str, Any]:
    """A batch as the gateway renders it: named ``batches/<id>``, counts as strings."""
    return {
        "name": name,
        "metadata": {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.BatchPredictionJob",
            "name": name,
            "createTime": "2026-11-20T10:00:00Z",
            "updateTime": "2026-11-20T10:00:00Z",
            "state": state,
            "batchStats": {"requestCount": "2", "pendingRequestCount": "2", "successfulRequestCount": "0"},
            **metadata,
        },
        "done": state not in ("BATCH_STATE_RUNNING", "BATCH_STATE_CANCELLING"),
    }


def gateway_file(name: str = "files/file-abc123", size: int = 20) -> dict[str, Any]:
    return {
        "name": name,
        "displayName": "in.jsonl",
        "mimeType": "application/octet-stream",
        "sizeBytes": str(size),
        "createTime": "2026-11-20T10:00:00Z",
        "updateTime": "2026-11-20T10:00:00Z",
        "state": "ACTIVE",
        "uri": name,
    }


def native_batch(batch_id: str, output: str | None, errors: str | None, completed: int | None = None) -> dict[str, Any]:
    """Bifrost's batch retrieve at the gateway root (``GET /v1/batches/<id>?provider=openai``); ``completed``
    requests counted (default: one when there is an output file, else none)."""
    completed = (1 if output else 0) if completed is None else completed
    return {
        "id": batch_id,
        "object": "batch",
        "status": "completed",
        "input_file_id": "file-in",
        **({"output_file_id": output} if output else {}),
        **({"error_file_id": errors} if errors else {}),
        "request_counts": {"total": 2, "completed": completed, "failed": 2 - completed},
        "created_at": 1763632800,
        "extra_fields": {"request_type": "batch_retrieve", "provider": "openai"},
    }


def from_file(model: str, file_name: str, display_name: str = "d", **fields: Any) -> BatchSpec:
    """A batch of a file uploaded through the gateway."""
    return BatchSpec(model=model, display_name=display_name, source=FileSource(file_name), **fields)


def ok(payload: object = None, **kwargs: Any) -> httpx.Response:
    return httpx.Response(200, json={} if payload is None else payload, **kwargs)


def answering(routes: dict[tuple[str, str], Any]) -> Handler:
    """Answer (method, raw path) with a payload, bytes, or a callable taking the request; anything else is 404. An
    upload's bytes are stored whole."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("upload_id"):
            stored = gateway_file(size=len(request.content))
            return ok({"file": stored}, headers={"x-goog-upload-status": "final"})
        answer = routes.get((request.method, request.url.raw_path.decode().split("?")[0]))
        if answer is None:
            return httpx.Response(404, json={"error": {"code": 404, "message": "no route", "status": "NOT_FOUND"}})
        if isinstance(answer, bytes):
            return httpx.Response(200, content=answer)
        return answer(request) if callable(answer) else ok(answer)

    return handler


def upload_start(request: httpx.Request) -> httpx.Response:
    """The gateway's answer to a session start: a session URL under the version the start was sent to."""
    version = request.url.path.split("/")[3]
    session = UPLOAD_URL.replace("/v1beta/", f"/{version}/")
    return ok(headers={"x-goog-upload-url": session, "x-goog-upload-status": "active"})


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., tuple[GatewayBatchHook, Wire]]]:
    """``gateway(handler, model_provider=...)`` -> a hook whose sync and async clients talk to ``handler``."""
    with mock_hooks(
        monkeypatch, GatewayBatchHook, conn_id=CONN_ID, conn_type="genaigateway", base_url=GATEWAY_URL
    ) as make:
        yield make


def never_called(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"no request may be sent, got {request.method} {request.url}")


def prepared_inline(hook: GatewayBatchHook, requests: list[dict[str, Any]], model: str) -> InlineSource:
    """``requests`` validated and translated for the hook's target, as the submit operator prepares them."""
    prepared = prepare_input(requests, hook.dialect, model=model, embeddings=False)
    assert prepared.inline is not None
    lines = list(prepared.inline)
    prepared.cleanup()
    return InlineSource(lines)


def inline_sent(wire: Wire) -> list[dict[str, Any]]:
    requests: list[dict[str, Any]] = body(wire.last)["batch"]["inputConfig"]["requests"]["requests"]
    return requests


def creating(name: str) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path.endswith(":batchGenerateContent")
        return ok(operation(name))

    return handler


# --- connection and registry ---------------------------------------------------------------------------


def test_settings_name_the_target_the_gateway_root_and_v1beta_by_default(gateway):
    hook, _ = gateway(never_called, model_provider="anthropic")
    settings = hook.settings
    assert (settings.base_url, settings.root_url, settings.api_version) == (
        GATEWAY_URL,
        "http://gateway.test",
        "v1beta",
    )
    assert hook.target == "anthropic"


def test_the_default_target_is_gemini_as_at_the_gateway(gateway):
    hook, _ = gateway(never_called)
    assert hook.target == "gemini"


def test_the_target_may_be_given_under_the_header_name_the_gateway_reads(monkeypatch):
    extra = {"x-model-provider": "openai"}
    set_connection(monkeypatch, CONN_ID, conn_type="genaigateway", host=GATEWAY_URL, extra=extra)
    assert GatewayBatchHook(conn_id=CONN_ID).target == "openai"


def test_a_target_given_under_both_names_is_refused_naming_them(monkeypatch):
    extra = {"model_provider": "openai", "x-model-provider": "anthropic"}
    set_connection(monkeypatch, CONN_ID, conn_type="genaigateway", host=GATEWAY_URL, extra=extra)
    with pytest.raises(GenAIBatchError, match="sets 'model_provider' and 'x-model-provider', which name the same"):
        _ = GatewayBatchHook(conn_id=CONN_ID).settings


def test_a_connection_without_a_key_is_refused(monkeypatch):
    set_connection(monkeypatch, CONN_ID, conn_type="genaigateway", host=GATEWAY_URL, password=None)
    with pytest.raises(GenAIBatchError, match="no API key"):
        _ = GatewayBatchHook(conn_id=CONN_ID).settings


def test_the_registry_resolves_gateway_refs_and_connections_to_the_gateway_hook():
    assert hook_class_for_provider("gateway") is GatewayBatchHook
    assert hook_class_for_conn_type("genaigateway") is GatewayBatchHook
    assert hook_class_for_provider("gemini") is not GatewayBatchHook


def test_api_version_v1_serves_every_facade_call_under_v1(gateway):
    routes = {
        ("POST", "/genai/upload/v1/files"): upload_start,
        ("POST", "/genai/v1/models/gemini-2.5-flash:batchGenerateContent"): operation("batches/abc"),
        ("GET", "/genai/v1/batches/abc"): operation("batches/abc"),
        ("GET", "/genai/v1/files/file-abc123"): gateway_file(),
    }
    hook, wire = gateway(answering(routes), api_version="v1")

    uploaded = hook.upload_file(io.BytesIO(b'{"key": "a"}\n'))
    hook.create_batch(from_file("gemini-2.5-flash", uploaded.name))
    hook.get_batch("batches/abc")
    hook.get_file(uploaded.name)

    assert [path for _, path in wire.paths()] == [
        "/genai/upload/v1/files",
        "/genai/upload/v1/files",
        "/genai/v1/models/gemini-2.5-flash:batchGenerateContent",
        "/genai/v1/batches/abc",
        "/genai/v1/files/file-abc123",
    ]


# --- the x-model-provider header ----------------------------------------------------------------------


async def test_every_request_carries_the_model_provider_header(gateway):
    routes = {
        ("POST", "/genai/upload/v1beta/files"): upload_start,
        ("POST", "/genai/v1beta/models/gpt-4o-mini:batchGenerateContent"): operation("batches/batch_abc"),
        ("GET", "/genai/v1beta/batches/batch_abc"): operation("batches/batch_abc", "BATCH_STATE_SUCCEEDED"),
        ("GET", "/genai/v1beta/batches"): {"operations": [operation("batches/batch_abc")]},
        ("POST", "/genai/v1beta/batches/batch_abc:cancel"): {},
        ("DELETE", "/genai/v1beta/batches/batch_abc"): {},
        ("GET", "/genai/v1beta/files/file-abc123"): gateway_file(),
        ("GET", "/genai/v1beta/files"): {"files": [gateway_file()]},
        ("DELETE", "/genai/v1beta/files/file-abc123"): {},
        ("GET", "/v1/batches/batch_abc"): native_batch("batch_abc", "file-out", None),
        ("GET", "/v1/files/file-out/content"): b"",
    }
    hook, wire = gateway(answering(routes), model_provider="openai")
    uploaded = hook.upload_file(io.BytesIO(b'{"custom_id": "a"}\n'), display_name="in.jsonl")
    job = hook.create_batch(from_file("gpt-4o-mini", uploaded.name))
    hook.get_batch(job.name)
    await hook.aget_batch(job.name)
    list(hook.list_batches())
    hook.cancel_batch(job.name)
    hook.delete_batch(job.name)
    hook.get_file(uploaded.name)
    list(hook.list_files())
    hook.delete_file(uploaded.name)
    list(hook.iter_results(job))

    assert len(wire.requests) == 13
    assert all(r.headers["x-model-provider"] == "openai" for r in wire.requests)
    assert all(r.headers["x-goog-api-key"] == API_KEY for r in wire.requests if "upload_id" not in str(r.url))


# --- uploads ------------------------------------------------------------------------------------------


def test_an_upload_opens_a_session_then_posts_the_whole_stream_once(gateway):
    hook, wire = gateway(answering({("POST", "/genai/upload/v1beta/files"): upload_start}), model_provider="openai")
    data = b'{"custom_id": "a", "method": "POST"}\n' * 5000

    info = hook.upload_file(io.BytesIO(data), display_name="in.jsonl")

    start, send = wire.requests
    assert start.headers["x-goog-upload-protocol"] == "resumable"
    assert start.headers["x-goog-upload-command"] == "start"
    assert start.headers["x-goog-upload-header-content-length"] == str(len(data))
    assert start.headers["x-goog-upload-header-content-type"] == "application/jsonl"
    assert body(start) == {"file": {"displayName": "in.jsonl"}}
    assert send.url == httpx.URL(UPLOAD_URL)
    assert send.headers["x-goog-upload-command"] == "upload, finalize"
    assert send.headers["x-goog-upload-offset"] == "0"
    assert send.headers["content-length"] == str(len(data))
    assert send.content == data
    assert "x-goog-api-key" not in send.headers
    assert info.name == "files/file-abc123"


@pytest.mark.parametrize("target", ["gemini", "openai"])
def test_an_upload_over_the_gateways_request_body_is_refused_before_any_request(gateway, target, tmp_path):
    path = tmp_path / "big.jsonl"
    with path.open("wb") as sparse:
        sparse.truncate(100 * 1024**2 + 1)
    hook, wire = gateway(never_called, model_provider=target)
    with pytest.raises(
        GenAIBatchError, match=rf"big\.jsonl is {100 * 1024**2 + 1} bytes, over the {100 * 1024**2} bytes"
    ):
        hook.upload_file(path)
    assert wire.requests == []


def test_anthropic_and_bedrock_targets_upload_nothing(gateway):
    for target, message in (("anthropic", "file input for anthropic"), ("bedrock", "role_arn and output_s3_uri")):
        hook, wire = gateway(never_called, model_provider=target)
        with pytest.raises(GenAIBatchError, match=message):
            hook.upload_file(io.BytesIO(b"{}\n"))
        assert wire.requests == []


# --- create: files by name, inline requests in the Gemini format for every target ----------------------


@pytest.mark.parametrize("file_name", ["files/file-abc123", "file-abc123"])
def test_a_file_batch_names_the_file_files_slash_id(gateway, file_name):
    hook, wire = gateway(creating("batches/batch_abc"), model_provider="openai")

    spec = from_file("gpt-4o-mini", file_name, "nightly", idempotency_key=KEY, input_fingerprint="ab" * 32)
    job = hook.create_batch(spec)

    assert wire.last.url.path == "/genai/v1beta/models/gpt-4o-mini:batchGenerateContent"
    assert body(wire.last)["batch"]["inputConfig"] == {"fileName": "files/file-abc123"}
    assert (job.name, job.provider) == ("batches/batch_abc", "gateway")


@pytest.mark.parametrize("target", ["gemini", "openai", "anthropic"])
def test_inline_requests_travel_in_the_gemini_format_with_the_key_in_metadata(gateway, target):
    hook, wire = gateway(creating("batches/b1"), model_provider=target)

    hook.create_batch(BatchSpec(model="m", display_name="d", source=prepared_inline(hook, CANONICAL, "m")))

    first, second = inline_sent(wire)
    assert first["metadata"] == {"key": "sky"}
    assert second["metadata"] == {"key": "tides"}
    assert first["request"]["contents"] == SKY["contents"]


def test_an_anthropic_request_without_max_output_tokens_gets_the_connections_default(gateway):
    hook, wire = gateway(creating("batches/msgbatch_01"), model_provider="anthropic", default_output_limit=256)
    capped = {"key": "tides", "request": {**TIDES, "generationConfig": {"maxOutputTokens": 64}}}

    hook.create_batch(
        BatchSpec(
            model="claude-sonnet-4-5",
            display_name="d",
            source=prepared_inline(hook, [CANONICAL[0], capped], "claude-sonnet-4-5"),
        )
    )

    first, second = inline_sent(wire)
    assert first == {"request": {**SKY, "generationConfig": {"maxOutputTokens": 256}}, "metadata": {"key": "sky"}}
    assert second["request"]["generationConfig"] == {"maxOutputTokens": 64}


def test_keys_travel_as_the_targets_custom_ids(gateway):
    hook, wire = gateway(creating("batches/batch_abc"), model_provider="openai")

    hook.create_batch(
        BatchSpec(
            model="m",
            display_name="d",
            source=prepared_inline(hook, [{"key": "a key/with spaces", "request": SKY}], "m"),
        )
    )

    [sent] = inline_sent(wire)
    assert sent["metadata"]["key"] == hook.dialect.provider_key("a key/with spaces")
    assert sent["metadata"]["key"].startswith("k-")


def test_an_unprepared_inline_line_holding_a_field_the_gateway_drops_is_refused_before_sending(gateway):
    hook, wire = gateway(never_called, model_provider="gemini")
    tooled = {"key": "tides", "request": {**TIDES, "tools": [{"googleSearch": {}}]}}

    with pytest.raises(InputValidationError, match=r"request\.tools cannot go inline through the gateway") as raised:
        hook.create_batch(BatchSpec(model="m", display_name="d", source=InlineSource([CANONICAL[0], tooled])))
    assert raised.value.line == 2
    assert wire.requests == []


def test_anthropic_file_input_is_refused_before_anything_is_sent(gateway):
    hook, wire = gateway(never_called, model_provider="anthropic")
    with pytest.raises(GenAIBatchError, match=r"gateway does not support file batch input \(requests go inline\)"):
        hook.create_batch(from_file("claude-sonnet-4-5", "files/file-x"))
    assert wire.requests == []


@pytest.mark.parametrize("target", ["gemini", "openai", "anthropic"])
def test_embeddings_are_refused_for_every_target_before_anything_is_sent(gateway, target):
    hook, wire = gateway(never_called, model_provider=target)
    spec = BatchSpec(model="e", display_name="d", source=InlineSource(CANONICAL), kind=BatchKind.EMBED)
    with pytest.raises(GenAIBatchError, match="gateway does not support embeddings batches"):
        hook.create_batch(spec)
    assert wire.requests == []


@pytest.mark.parametrize("target", ["gemini", "openai", "anthropic"])
def test_labels_are_refused_for_every_target_before_anything_is_sent(gateway, target):
    hook, wire = gateway(never_called, model_provider=target)
    spec = BatchSpec(model="m", display_name="d", source=InlineSource(CANONICAL), labels={"team": "search"})
    with pytest.raises(GenAIBatchError, match="gateway does not support job labels"):
        hook.create_batch(spec)
    assert wire.requests == []


def test_bedrock_is_refused_with_the_reason_before_anything_is_sent(gateway):
    hook, wire = gateway(never_called, model_provider="bedrock")
    with pytest.raises(GenAIBatchError, match="role_arn and output_s3_uri"):
        hook.create_batch(BatchSpec(model="anthropic.claude-3-haiku", display_name="d", source=InlineSource(CANONICAL)))
    with pytest.raises(GenAIBatchError, match="use the Bedrock SDK"):
        prepare_input(CANONICAL, hook.dialect, model="anthropic.claude-3-haiku", embeddings=False)
    assert wire.requests == []


def test_a_bedrock_target_raises_the_documented_error_only_when_a_dialect_is_needed(gateway):
    routes = {
        ("GET", "/genai/v1beta/batches"): {"operations": [operation("batches/job1")]},
        ("GET", "/genai/v1beta/batches/job1"): operation("batches/job1", "BATCH_STATE_SUCCEEDED"),
        ("POST", "/genai/v1beta/batches/job1:cancel"): {},
    }
    hook, wire = gateway(answering(routes), model_provider="bedrock")

    assert [job.name for job in hook.list_batches()] == ["batches/job1"]
    assert hook.get_batch("batches/job1").state is JobState.SUCCEEDED
    hook.cancel_batch("batches/job1")
    assert [r.headers["x-model-provider"] for r in wire.requests] == ["bedrock"] * 3

    for needs_a_dialect in (lambda: hook.dialect, lambda: hook.capabilities):
        with pytest.raises(GenAIBatchError) as refused:
            needs_a_dialect()
        assert str(refused.value) == BEDROCK_UNSUPPORTED


# --- names: batches/<id>, files/<id>, a bare id from an older reference taken as it is -----------------


@pytest.mark.parametrize(
    ("name", "raw_path"),
    [
        ("batches/batch_abc", "/genai/v1beta/batches/batch_abc"),
        ("batches/msgbatch_01Hk", "/genai/v1beta/batches/msgbatch_01Hk"),
        ("batch_abc", "/genai/v1beta/batches/batch_abc"),
        (
            f"batches/{ARN}",
            "/genai/v1beta/batches/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Amodel-invocation-job%2Fk2v9abc",
        ),
    ],
)
def test_batch_names_address_batches_slash_id_with_the_id_percent_encoded_once(gateway, name, raw_path):
    hook, wire = gateway(lambda request: ok(operation(name)), model_provider="openai")

    hook.get_batch(name)
    hook.cancel_batch(name)
    hook.delete_batch(name)

    assert [r.url.raw_path.decode() for r in wire.requests] == [raw_path, raw_path + ":cancel", raw_path]
    assert [r.method for r in wire.requests] == ["GET", "POST", "DELETE"]


@pytest.mark.parametrize("name", ["files/file-abc123", "file-abc123"])
def test_file_names_address_files_slash_id(gateway, name):
    hook, wire = gateway(lambda request: ok(gateway_file()), model_provider="openai")

    hook.get_file(name)
    hook.delete_file(name)

    assert [r.url.raw_path.decode() for r in wire.requests] == ["/genai/v1beta/files/file-abc123"] * 2


def test_counts_arrive_as_strings_and_dest_names_the_output_file(gateway):
    payload = operation("batches/batch_abc", "BATCH_STATE_SUCCEEDED", output={"responsesFile": "files/file-out"})
    payload["metadata"]["batchStats"] = {"requestCount": "5", "successfulRequestCount": "4", "pendingRequestCount": "0"}
    payload["dest"] = {"fileName": "files/file-out"}
    hook, _ = gateway(lambda request: ok(payload), model_provider="openai")

    job = hook.get_batch("batches/batch_abc")

    assert (job.stats.total, job.stats.succeeded, job.stats.pending) == (5, 4, 0)
    assert job.output_file == "files/file-out"


def test_no_display_name_comes_back_so_jobs_are_not_found_by_key(gateway):
    tagged = operation("batches/batch_abc", displayName=f"nightly [{KEY}]")
    hook, wire = gateway(lambda request: ok({"operations": [tagged]}), model_provider="openai")
    assert hook.find_batch(KEY) is None
    assert wire.requests == []
    assert hook.capabilities.find_by_key is False
    assert hook.console_url("batches/batch_abc") == ""


# --- states -------------------------------------------------------------------------------------------

STATES = [
    ("BATCH_STATE_PENDING", JobState.PENDING),
    ("BATCH_STATE_RUNNING", JobState.RUNNING),
    ("BATCH_STATE_SUCCEEDED", JobState.SUCCEEDED),
    ("BATCH_STATE_FAILED", JobState.FAILED),
    ("BATCH_STATE_CANCELLING", JobState.CANCELLING),
    ("BATCH_STATE_CANCELLED", JobState.CANCELLED),
    ("BATCH_STATE_EXPIRED", JobState.EXPIRED),
    ("JOB_STATE_QUEUED", JobState.QUEUED),
    ("JOB_STATE_PENDING", JobState.PENDING),
    ("JOB_STATE_RUNNING", JobState.RUNNING),
    ("JOB_STATE_SUCCEEDED", JobState.SUCCEEDED),
    ("JOB_STATE_FAILED", JobState.FAILED),
    ("JOB_STATE_CANCELLING", JobState.CANCELLING),
    ("JOB_STATE_CANCELLED", JobState.CANCELLED),
    ("JOB_STATE_EXPIRED", JobState.EXPIRED),
    ("validating", JobState.PENDING),
    ("in_progress", JobState.RUNNING),
    ("finalizing", JobState.RUNNING),
    ("completed", JobState.SUCCEEDED),
    ("failed", JobState.FAILED),
    ("expired", JobState.EXPIRED),
    ("cancelling", JobState.CANCELLING),
    ("cancelled", JobState.CANCELLED),
    ("canceling", JobState.CANCELLING),
    ("ended", JobState.SUCCEEDED),
]


@pytest.mark.parametrize(("wire_state", "state"), STATES, ids=[s for s, _ in STATES])
def test_every_state_the_gateway_may_report_maps_onto_a_job_state(gateway, wire_state, state):
    hook, _ = gateway(lambda request: ok(operation("batches/batch_abc", wire_state)), model_provider="openai")
    job = hook.get_batch("batches/batch_abc")
    assert (job.state, job.provider_state) == (state, wire_state)


UNDOCUMENTED = [
    "BATCH_STATE_UNSPECIFIED",
    "archived",
    "JOB_STATE_UNSPECIFIED",
    "JOB_STATE_PAUSED",
    "JOB_STATE_UPDATING",
    "JOB_STATE_PARTIALLY_SUCCEEDED",
]
"""States the gateway's documentation does not list: the gateway's word for a status it did not know, a made-up
one, and google-genai's job states that only Vertex reports (a pause, an update, a partial success)."""


@pytest.mark.parametrize("wire_state", UNDOCUMENTED)
async def test_a_state_the_gateway_does_not_document_is_an_error_naming_it_never_a_wait(gateway, wire_state):
    hook, _ = gateway(lambda request: ok(operation("batches/b1", wire_state)), model_provider="anthropic")

    with pytest.raises(ProviderAPIError) as raised:
        hook.get_batch("batches/b1")
    with pytest.raises(ProviderAPIError):
        await hook.aget_batch("batches/b1")

    assert raised.value.provider_status == wire_state
    assert f"batch batches/b1 is in state {wire_state!r}, which is not a state the gateway documents" in str(
        raised.value
    )
    decision = PollState("batches/b1", interval=1.0).failed(raised.value, now=0.0)
    assert decision.verdict is Verdict.ERROR
    assert wire_state in (decision.message or "")


def test_a_listing_shows_a_job_in_an_undocumented_state_without_failing(gateway):
    hook, _ = gateway(lambda request: ok({"operations": [operation("batches/b1", "archived")]}))
    [job] = hook.list_batches()
    assert (job.state, job.provider_state) == (JobState.UNSPECIFIED, "archived")


# --- results, per target ----------------------------------------------------------------------------


def _job(name: str) -> BatchJob:
    return BatchJob(name=name, provider="gateway", state=JobState.SUCCEEDED)


def test_gemini_results_are_the_gateways_flattened_result_items(gateway):
    flat = {
        "text": "Blue light scatters.",
        "finish_reason": "STOP",
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    }
    items = [
        {"custom_id": "sky", "response": {"status_code": 200, "body": flat}},
        {"custom_id": "tides", "error": {"code": "400", "message": "rejected"}},
    ]
    hook, wire = gateway(
        answering({("GET", "/v1/batches/abc/results"): {"batch_id": "batches/abc", "results": items}}),
        model_provider="gemini",
    )

    rows = list(hook.iter_results(_job("batches/abc")))

    assert str(wire.last.url) == "http://gateway.test/v1/batches/abc/results?provider=gemini"
    assert (rows[0].key, rows[0].status, rows[0].text) == ("sky", RowStatus.SUCCEEDED, "Blue light scatters.")
    assert rows[0].response == flat
    assert rows[0].usage == Usage(input_tokens=5, output_tokens=3, total_tokens=8)
    assert (rows[1].key, rows[1].status, rows[1].error.message) == ("tides", RowStatus.FAILED, "rejected")


def test_inline_gemini_results_whose_keys_the_backend_lost_are_placed_by_their_order(gateway):
    body = {"status_code": 200, "body": {"text": "ok"}}
    items = [
        {"custom_id": "request-0", "response": body},
        {"custom_id": "tides", "response": body},
        {"custom_id": "request-2", "response": body},
    ]
    hook, _ = gateway(
        answering({("GET", "/v1/batches/abc/results"): {"batch_id": "batches/abc", "results": items}}),
        model_provider="gemini",
    )
    job = _job("batches/abc").model_copy(update={"stats": BatchStats(total=3, succeeded=3)})

    rows = list(hook.iter_results(job))

    assert [(row.key, row.position) for row in rows] == [(None, 0), ("tides", None), (None, 2)]


def test_inline_gemini_results_fewer_than_the_requests_place_none_by_their_order(gateway):
    body = {"status_code": 200, "body": {"text": "ok"}}
    items = [{"custom_id": "sky", "response": body}, {"custom_id": "request-1", "response": body}]
    hook, _ = gateway(
        answering({("GET", "/v1/batches/abc/results"): {"batch_id": "batches/abc", "results": items}}),
        model_provider="gemini",
    )
    job = _job("batches/abc").model_copy(update={"stats": BatchStats(total=3, succeeded=2)})

    rows = list(hook.iter_results(job))

    assert [(row.key, row.position) for row in rows] == [("sky", None), (None, None)]


def test_results_of_a_gemini_file_job_keep_the_gateways_stand_in_keys(gateway):
    items = [{"custom_id": "request-0", "response": {"status_code": 200, "body": {"text": "ok"}}}]
    hook, _ = gateway(
        answering({("GET", "/v1/batches/abc/results"): {"batch_id": "batches/abc", "results": items}}),
        model_provider="gemini",
    )
    job = _job("batches/abc").model_copy(update={"input_file": "files/in-1"})

    [row] = hook.iter_results(job)

    assert (row.key, row.position) == ("request-0", None)


def test_openai_results_stream_the_output_file_then_the_error_file_through_the_native_files_route(gateway):
    chat = {
        "id": "chatcmpl-1",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Rayleigh."}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }
    output = {"id": "batch_req_1", "custom_id": "sky", "response": {"status_code": 200, "body": chat}, "error": None}
    failed = {
        "id": "batch_req_2",
        "custom_id": "tides",
        "response": {"status_code": 400, "body": {"error": {"message": "bad", "type": "invalid_request_error"}}},
        "error": None,
    }
    routes = {
        ("GET", "/v1/batches/batch_abc"): native_batch("batch_abc", "file-out", "file-err"),
        ("GET", "/v1/files/file-out/content"): json.dumps(output).encode() + b"\n",
        ("GET", "/v1/files/file-err/content"): json.dumps(failed).encode() + b"\n",
    }
    hook, wire = gateway(answering(routes), model_provider="openai")

    rows = list(hook.iter_results(_job("batches/batch_abc")))

    assert [str(r.url) for r in wire.requests] == [
        "http://gateway.test/v1/batches/batch_abc?provider=openai",
        "http://gateway.test/v1/files/file-out/content?provider=openai",
        "http://gateway.test/v1/files/file-err/content?provider=openai",
    ]
    assert [(r.key, r.status, r.text) for r in rows] == [
        ("sky", RowStatus.SUCCEEDED, "Rayleigh."),
        ("tides", RowStatus.FAILED, None),
    ]
    assert rows[0].response == chat
    assert rows[0].usage == Usage(input_tokens=3, output_tokens=2, total_tokens=5)
    assert (rows[1].error.message, rows[1].error.code) == ("bad", "invalid_request_error")


def test_openai_results_of_a_batch_whose_every_row_failed_come_from_the_error_file_alone(gateway):
    expired = {"custom_id": "sky", "response": None, "error": {"code": "batch_expired", "message": "expired"}}
    routes = {
        ("GET", "/v1/batches/batch_abc"): native_batch("batch_abc", None, "file-err"),
        ("GET", "/v1/files/file-err/content"): json.dumps(expired).encode() + b"\n",
    }
    hook, wire = gateway(answering(routes), model_provider="openai")

    rows = list(hook.iter_results(_job("batches/batch_abc")))

    assert [(r.key, r.status) for r in rows] == [("sky", RowStatus.EXPIRED)]
    assert [r.url.path for r in wire.requests] == ["/v1/batches/batch_abc", "/v1/files/file-err/content"]


def test_openai_results_of_a_batch_counting_completed_rows_without_an_output_file_are_refused(gateway):
    routes = {("GET", "/v1/batches/batch_abc"): native_batch("batch_abc", None, "file-err", completed=1)}
    hook, wire = gateway(answering(routes), model_provider="openai")

    with pytest.raises(
        GenAIBatchError, match="batch batch_abc \\(completed\\) counts 1 completed requests but names no"
    ):
        list(hook.iter_results(_job("batches/batch_abc")))

    assert [r.url.path for r in wire.requests] == ["/v1/batches/batch_abc"]


@pytest.mark.parametrize("target", ["gemini", "anthropic"])
def test_no_result_items_for_a_batch_counting_successful_requests_is_refused_not_every_row_missing(gateway, target):
    hook, _ = gateway(
        answering({("GET", "/v1/batches/abc/results"): {"batch_id": "batches/abc", "results": []}}),
        model_provider=target,
    )
    counted = _job("batches/abc").model_copy(update={"stats": BatchStats(total=2, succeeded=2)})

    with pytest.raises(GenAIBatchError, match="the gateway returned no result for batches/abc, which counts 2 succ"):
        list(hook.iter_results(counted))
    assert list(hook.iter_results(_job("batches/abc"))) == []


def test_anthropic_results_are_result_items_with_the_gateways_error_folded_into_the_row(gateway):
    message = {"content": [{"type": "text", "text": "Gravity."}], "usage": {"input_tokens": 4, "output_tokens": 2}}
    items = [
        {"custom_id": "tides", "result": {"type": "succeeded", "message": message}},
        {
            "custom_id": "sky",
            "result": {"type": "errored"},
            "error": {"code": "invalid_request_error", "message": "bad"},
        },
        {"custom_id": "moon", "result": {"type": "expired"}},
    ]
    hook, wire = gateway(
        answering({("GET", "/v1/batches/msgbatch_01/results"): {"results": items, "has_more": False}}),
        model_provider="anthropic",
    )

    rows = list(hook.iter_results(_job("batches/msgbatch_01")))

    assert str(wire.last.url) == "http://gateway.test/v1/batches/msgbatch_01/results?provider=anthropic"
    assert [(r.key, r.status) for r in rows] == [
        ("tides", RowStatus.SUCCEEDED),
        ("sky", RowStatus.FAILED),
        ("moon", RowStatus.EXPIRED),
    ]
    assert rows[0].text == "Gravity."
    assert (rows[1].error.message, rows[1].error.code) == ("bad", "invalid_request_error")


def test_a_gemini_file_is_not_downloaded_through_the_gateway_which_refuses_it(gateway):
    hook, wire = gateway(never_called, model_provider="gemini")
    with pytest.raises(GenAIBatchError, match="the gateway does not download Gemini files"):
        hook.download_file("files/batch-abc", io.BytesIO())
    assert wire.requests == []


@pytest.mark.parametrize("results", ["upstream timed out", {"sky": {"custom_id": "sky"}}], ids=["text", "object"])
def test_results_that_are_not_a_list_are_an_unreadable_answer_not_rows(gateway, results):
    hook, _ = gateway(lambda request: ok({"results": results, "has_more": False}), model_provider="anthropic")

    with pytest.raises(UnreadableAnswerError, match=r"\(TypeError: 'results' is a (str|dict), not a list of result"):
        list(hook.iter_results(_job("batches/msgbatch_01")))


def test_paginated_results_are_refused_rather_than_cut_short(gateway):
    hook, _ = gateway(lambda request: ok({"results": [], "has_more": True}), model_provider="anthropic")
    with pytest.raises(GenAIBatchError, match="paginated"):
        list(hook.iter_results(_job("batches/msgbatch_01")))


# --- answers that are not the gateway's ---------------------------------------------------------------------

UPSTREAM_ERROR = {"error": {"code": 500, "message": "upstream provider not configured"}}
"""A gateway's error, answered with HTTP 200."""


def test_a_create_answered_200_with_an_error_body_is_an_unreadable_answer_not_a_job_without_a_name(gateway):
    hook, _ = gateway(lambda request: ok(UPSTREAM_ERROR), model_provider="anthropic")
    source = prepared_inline(hook, CANONICAL, "claude-sonnet-4-5")

    with pytest.raises(UnreadableAnswerError, match="upstream provider not configured") as err:
        hook.create_batch(BatchSpec(model="claude-sonnet-4-5", display_name="d", source=source))

    assert "names no batch" in str(err.value)


@pytest.mark.parametrize(
    "answer",
    [UPSTREAM_ERROR, {"id": "batch_abc", "object": "batch", "status": "completed"}],
    ids=["error-body", "openai-batch-object"],
)
def test_a_status_answer_that_names_no_batch_is_unreadable_not_a_nameless_job(gateway, answer):
    hook, _ = gateway(lambda request: ok(answer), model_provider="openai")

    with pytest.raises(UnreadableAnswerError, match="names no batch"):
        hook.get_batch("batches/batch_abc")


@pytest.mark.parametrize("target", ["gemini", "anthropic"])
def test_results_answered_200_with_an_error_body_are_an_error_not_every_row_missing(gateway, target):
    hook, _ = gateway(lambda request: ok(UPSTREAM_ERROR), model_provider=target)
    job = _job("batches/abc").model_copy(update={"stats": BatchStats(total=2, failed=2)})  # none to count as lost

    with pytest.raises(ProviderAPIError, match="upstream provider not configured"):
        list(hook.iter_results(job))


def test_a_gemini_result_passed_through_unflattened_lands_as_its_answer(gateway):
    native = {
        "candidates": [{"content": {"role": "model", "parts": [{"text": "Rayleigh."}]}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2, "totalTokenCount": 7},
    }
    items = [{"custom_id": "sky", "response": {"status_code": 200, "body": native}}]
    hook, _ = gateway(lambda request: ok({"results": items, "has_more": False}), model_provider="gemini")

    [row] = hook.iter_results(_job("batches/abc").model_copy(update={"input_file": "files/in"}))

    assert (row.key, row.status, row.text) == ("sky", RowStatus.SUCCEEDED, "Rayleigh.")
    assert row.response == native
    assert row.usage == Usage(input_tokens=5, output_tokens=2, total_tokens=7)


# --- a gateway behind a reverse proxy ---------------------------------------------------------------------

PROXIED_URL = "https://proxy.test/llm/genai"
"""The facade as a reverse proxy serves it: TLS ended at the proxy, the gateway mounted under ``/llm``."""


@pytest.fixture
def proxied(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., tuple[GatewayBatchHook, Wire]]]:
    with mock_hooks(
        monkeypatch, GatewayBatchHook, conn_id=CONN_ID, conn_type="genaigateway", base_url=PROXIED_URL
    ) as make:
        yield make


def test_an_upload_behind_a_proxy_sends_its_bytes_through_the_connections_url_not_the_gateways_own(proxied):
    # The gateway builds the session URL from what it sees: plain http, its own /genai, no proxy prefix.
    seen_by_gateway = "http://proxy.test/genai/upload/v1beta/files?upload_id=genai_upload_session:Zx81"
    start = ok(headers={"x-goog-upload-url": seen_by_gateway, "x-goog-upload-status": "active"})
    routes = {("POST", "/llm/genai/upload/v1beta/files"): lambda request: start}
    hook, wire = proxied(answering(routes), model_provider="openai")

    hook.upload_file(io.BytesIO(b'{"custom_id": "a"}\n'), display_name="in.jsonl")

    _, send = wire.requests
    assert send.url == httpx.URL(f"{PROXIED_URL}/upload/v1beta/files?upload_id=genai_upload_session:Zx81")
    assert send.content == b'{"custom_id": "a"}\n'


def test_an_upload_session_elsewhere_than_the_facades_upload_route_is_used_as_given(proxied):
    elsewhere = "https://uploads.proxy.test/session/Zx81"
    start = ok(headers={"x-goog-upload-url": elsewhere, "x-goog-upload-status": "active"})
    stored = ok({"file": gateway_file(size=19)}, headers={"x-goog-upload-status": "final"})
    routes = {
        ("POST", "/llm/genai/upload/v1beta/files"): lambda request: start,
        ("POST", "/session/Zx81"): lambda request: stored,
    }
    hook, wire = proxied(answering(routes), model_provider="openai")

    hook.upload_file(io.BytesIO(b'{"custom_id": "a"}\n'), display_name="in.jsonl")

    assert wire.requests[1].url == httpx.URL(elsewhere)


def test_an_output_file_answered_with_an_html_page_is_refused_not_landed_as_unreadable_rows(gateway):
    page = b"<!DOCTYPE html>\n<html>\n<body>Sign in to continue</body>\n</html>\n"
    routes = {
        ("GET", "/v1/batches/batch_abc"): native_batch("batch_abc", "file-out", None),
        ("GET", "/v1/files/file-out/content"): lambda request: httpx.Response(
            200, content=page, headers={"content-type": "text/html; charset=utf-8"}
        ),
    }
    hook, _ = gateway(answering(routes), model_provider="openai")

    with pytest.raises(GenAIBatchError, match=r"file-out was answered with an HTML page .*'<!DOCTYPE html>"):
        list(hook.iter_results(_job("batches/batch_abc")))
