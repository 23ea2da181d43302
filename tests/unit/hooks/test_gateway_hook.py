"""GatewayBatchHook on the wire: the x-model-provider header, bodies in the target's format, bare ids,
the gateway's states, results from its native routes, and up-front errors for what it cannot carry.

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

from airflow_provider_genai_batch.errors import GenAIBatchError, InputValidationError
from airflow_provider_genai_batch.formats.anthropic import AnthropicDialect
from airflow_provider_genai_batch.formats.detect import InputFormat
from airflow_provider_genai_batch.formats.gateway import BEDROCK_UNSUPPORTED, GatewayDialect
from airflow_provider_genai_batch.formats.gemini import GeminiDialect
from airflow_provider_genai_batch.formats.openai import OpenAIDialect
from airflow_provider_genai_batch.formats.results import RowStatus, Usage
from airflow_provider_genai_batch.hooks.gateway import GatewayBatchHook
from airflow_provider_genai_batch.hooks.registry import hook_class_for_conn_type, hook_class_for_provider
from airflow_provider_genai_batch.inputs import prepare_input
from airflow_provider_genai_batch.models import BatchJob, JobState
from airflow_provider_genai_batch.spec import BatchKind, BatchSpec, FileSource, InlineSource

from ._wire import API_KEY, Handler, Wire, body, mock_hooks, set_connection

GATEWAY_URL = "http://gateway.test/genai"
UPLOAD_URL = "http://gateway.test/genai/upload/v1beta/files?upload_id=genai_upload_session:Zx81"
CONN_ID = "gateway_unit"
ARN = "arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/k2v9abc"
KEY = "gbk-0123456789abcdef0123"
CANONICAL = [
    {"key": "sky", "request": {"contents": [{"role": "user", "parts": [{"text": "Why is the sky blue?"}]}]}},
    {"key": "tides", "request": {"contents": [{"role": "user", "parts": [{"text": "What causes tides?"}]}]}},
]


def operation(name: str, state: str = "BATCH_STATE_RUNNING", **metadata: Any) -> dict[str, Any]:
    """A batch as the gateway renders it (``ToGeminiBatchJobResponse``): bare id, counts as strings."""
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


def gateway_file(name: str = "file-abc123", size: int = 20) -> dict[str, Any]:
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


def inline(model: str, requests: Any, **fields: Any) -> BatchSpec:
    """A batch of ``requests`` sent inline, in the target's format."""
    return BatchSpec(model=model, display_name="d", source=InlineSource(requests), **fields)


def from_file(model: str, file_name: str, display_name: str = "d", **fields: Any) -> BatchSpec:
    """A batch of a file uploaded through the gateway."""
    return BatchSpec(model=model, display_name=display_name, source=FileSource(file_name), **fields)


def ok(payload: object = None, **kwargs: Any) -> httpx.Response:
    return httpx.Response(200, json={} if payload is None else payload, **kwargs)


def answering(routes: dict[tuple[str, str], Any]) -> Handler:
    """Answer (method, raw path) with a payload (or a callable taking the request); anything else is 404."""

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.params.get("upload_id"):
            return ok({"file": gateway_file()}, headers={"x-goog-upload-status": "final"})
        answer = routes.get((request.method, request.url.raw_path.decode().split("?")[0]))
        if answer is None:
            return httpx.Response(404, json={"error": {"code": 404, "message": "no route", "status": "NOT_FOUND"}})
        return answer(request) if callable(answer) else ok(answer)

    return handler


def upload_start(request: httpx.Request) -> httpx.Response:
    return ok(headers={"x-goog-upload-url": UPLOAD_URL, "x-goog-upload-status": "active"})


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., tuple[GatewayBatchHook, Wire]]]:
    """``gateway(handler, model_provider=...)`` -> a hook whose sync and async clients talk to ``handler``."""
    with mock_hooks(
        monkeypatch, GatewayBatchHook, conn_id=CONN_ID, conn_type="genai_gateway", base_url=GATEWAY_URL
    ) as make:
        yield make


def never_called(request: httpx.Request) -> httpx.Response:
    raise AssertionError(f"no request may be sent, got {request.method} {request.url}")


# --- connection and registry ---------------------------------------------------------------------------


def test_settings_name_the_target_and_the_gateway_root(gateway):
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


def test_a_connection_without_a_key_is_refused(monkeypatch):
    set_connection(monkeypatch, CONN_ID, conn_type="genai_gateway", host=GATEWAY_URL, password=None)
    with pytest.raises(GenAIBatchError, match="no API key"):
        _ = GatewayBatchHook(conn_id=CONN_ID).settings


def test_the_registry_resolves_gateway_refs_and_connections_to_the_gateway_hook():
    assert hook_class_for_provider("gateway") is GatewayBatchHook
    assert hook_class_for_conn_type("genai_gateway") is GatewayBatchHook
    assert hook_class_for_provider("gemini") is not GatewayBatchHook


# --- the x-model-provider header ----------------------------------------------------------------------


async def test_every_request_carries_the_model_provider_header(gateway, tmp_path):
    routes = {
        ("POST", "/genai/upload/v1beta/files"): upload_start,
        ("POST", "/genai/v1beta/models/gpt-4o-mini:batchGenerateContent"): operation("batch_abc"),
        ("GET", "/genai/v1beta/batches/batch_abc"): operation("batch_abc", "BATCH_STATE_SUCCEEDED"),
        ("GET", "/genai/v1beta/batches"): {"operations": [operation("batch_abc")]},
        ("POST", "/genai/v1beta/batches/batch_abc:cancel"): {},
        ("DELETE", "/genai/v1beta/batches/batch_abc"): {},
        ("GET", "/genai/v1beta/files/file-abc123"): gateway_file(),
        ("GET", "/genai/v1beta/files"): {"files": [gateway_file()]},
        ("DELETE", "/genai/v1beta/files/file-abc123"): {},
        ("GET", "/v1/batches/batch_abc/results"): {"batch_id": "batch_abc", "results": []},
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

    assert len(wire.requests) == 12
    assert all(r.headers["x-model-provider"] == "openai" for r in wire.requests)
    assert all(r.headers["x-goog-api-key"] == API_KEY for r in wire.requests if "upload_id" not in str(r.url))


# --- uploads ------------------------------------------------------------------------------------------


def test_an_upload_opens_a_session_then_posts_the_whole_stream_once(gateway):
    hook, wire = gateway(answering({("POST", "/genai/upload/v1beta/files"): upload_start}), model_provider="openai")
    data = b'{"custom_id": "a", "method": "POST"}\n' * 5000

    info = hook.upload_file(io.BytesIO(data), display_name="in.jsonl")

    start, send = wire.requests
    assert start.headers["x-goog-upload-command"] == "start"
    assert start.headers["x-goog-upload-header-content-length"] == str(len(data))
    assert start.headers["x-goog-upload-header-content-type"] == "application/jsonl"
    assert body(start) == {"file": {"displayName": "in.jsonl"}}
    assert send.url == httpx.URL(UPLOAD_URL)
    assert send.headers["x-goog-upload-command"] == "upload, finalize"
    assert send.headers["content-length"] == str(len(data))
    assert send.content == data
    assert "x-goog-api-key" not in send.headers
    assert info.name == "file-abc123"


def test_anthropic_and_bedrock_targets_upload_nothing(gateway):
    for target, message in (("anthropic", "file input for anthropic"), ("bedrock", "role_arn and output_s3_uri")):
        hook, wire = gateway(never_called, model_provider=target)
        with pytest.raises(GenAIBatchError, match=message):
            hook.upload_file(io.BytesIO(b"{}\n"))
        assert wire.requests == []


# --- create: bodies in the target's format, inside the Gemini envelope ---------------------------------


def creating(name: str) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path.endswith(":batchGenerateContent")
        return ok(operation(name))

    return handler


def test_a_file_batch_names_the_file_by_the_bare_id_the_gateway_returned(gateway):
    hook, wire = gateway(creating("batch_abc"), model_provider="openai")

    spec = from_file("gpt-4o-mini", "file-abc123", "nightly", idempotency_key=KEY, input_fingerprint="ab" * 32)
    job = hook.create_batch(spec)

    assert wire.last.url.path == "/genai/v1beta/models/gpt-4o-mini:batchGenerateContent"
    sent = body(wire.last)["batch"]
    assert sent["inputConfig"] == {"fileName": "file-abc123"}
    assert sent["displayName"] == f"nightly [{KEY}/abababababababab]"
    assert job.name == "batch_abc"
    assert job.provider == "gateway"


def test_openai_inline_lines_travel_as_chat_bodies_in_the_gemini_envelope(gateway):
    hook, wire = gateway(creating("batch_abc"), model_provider="openai")
    lines = [hook.dialect.to_native(line, model="gpt-4o-mini", embeddings=False) for line in CANONICAL]

    hook.create_batch(inline("gpt-4o-mini", lines))

    [first, second] = body(wire.last)["batch"]["inputConfig"]["requests"]["requests"]
    assert first == {
        "request": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Why is the sky blue?"}]},
        "metadata": {"key": "sky"},
    }
    assert second["metadata"] == {"key": "tides"}


def test_anthropic_inline_lines_travel_as_params_with_max_tokens(gateway):
    hook, wire = gateway(
        creating("msgbatch_01HkcTjaV5uDC8jWR4ZsDV8d"), model_provider="anthropic", default_max_tokens=256
    )
    lines = [hook.dialect.to_native(line, model="claude-sonnet-4-5", embeddings=False) for line in CANONICAL]

    job = hook.create_batch(inline("claude-sonnet-4-5", lines))

    first = body(wire.last)["batch"]["inputConfig"]["requests"]["requests"][0]
    assert first == {
        "request": {
            "model": "claude-sonnet-4-5",
            "max_tokens": 256,
            "messages": [{"role": "user", "content": "Why is the sky blue?"}],
        },
        "metadata": {"key": "sky"},
    }
    assert job.name == "msgbatch_01HkcTjaV5uDC8jWR4ZsDV8d"


def test_gemini_inline_lines_go_as_they_are(gateway):
    hook, wire = gateway(creating("batches/abc"), model_provider="gemini")

    hook.create_batch(inline("gemini-2.5-flash", CANONICAL))

    first = body(wire.last)["batch"]["inputConfig"]["requests"]["requests"][0]
    assert first == {"request": CANONICAL[0]["request"], "metadata": {"key": "sky"}}


@pytest.mark.parametrize(
    ("target", "field"),
    [("gemini", "tools"), ("gemini", "toolConfig"), ("gemini", "cachedContent"), ("openai", "tools")],
)
def test_inline_fields_the_gateway_would_drop_are_refused_before_anything_is_sent(gateway, target, field):
    hook, wire = gateway(never_called, model_provider=target)
    request = {**CANONICAL[1]["request"]}
    if target == "gemini":
        request[field] = [{"googleSearch": {}}] if field == "tools" else "cachedContents/x"
        lines = [CANONICAL[0], {"key": "tides", "request": request}]
    else:
        tool = {"functionDeclarations": [{"name": "lookup", "description": "Look a word up."}]}
        request["tools"] = [tool]
        lines = [hook.dialect.to_native({"key": "t", "request": request}, model="gpt-4o-mini", embeddings=False)]

    with pytest.raises(InputValidationError, match=f"request.{field} would be dropped by the gateway") as raised:
        hook.create_batch(inline("m", lines))
    assert raised.value.line == (2 if target == "gemini" else 1)
    assert wire.requests == []


def test_anthropic_file_input_is_refused_before_anything_is_sent(gateway):
    hook, wire = gateway(never_called, model_provider="anthropic")
    with pytest.raises(GenAIBatchError, match=r"gateway does not support file batch input \(requests go inline\)"):
        hook.create_batch(from_file("claude-sonnet-4-5", "file-x"))
    assert wire.requests == []


@pytest.mark.parametrize("target", ["gemini", "openai", "anthropic"])
def test_embeddings_are_refused_for_every_target_before_anything_is_sent(gateway, target):
    hook, wire = gateway(never_called, model_provider=target)
    with pytest.raises(GenAIBatchError, match="gateway does not support embeddings batches"):
        hook.create_batch(inline("gemini-embedding-001", CANONICAL, kind=BatchKind.EMBED))
    assert wire.requests == []


@pytest.mark.parametrize("target", ["gemini", "openai", "anthropic"])
def test_labels_are_refused_for_every_target_before_anything_is_sent(gateway, target):
    hook, wire = gateway(never_called, model_provider=target)
    with pytest.raises(GenAIBatchError, match="gateway does not support job labels"):
        hook.create_batch(inline("m", CANONICAL, labels={"team": "search"}))
    assert wire.requests == []


def test_bedrock_is_refused_with_the_reason_before_anything_is_sent(gateway):
    hook, wire = gateway(never_called, model_provider="bedrock")
    with pytest.raises(GenAIBatchError, match="role_arn and output_s3_uri"):
        hook.create_batch(inline("anthropic.claude-3-haiku", CANONICAL))
    with pytest.raises(GenAIBatchError, match="role_arn and output_s3_uri"):
        prepare_input(CANONICAL, hook.dialect, model="anthropic.claude-3-haiku", embeddings=False)
    assert wire.requests == []


# --- the dialect: the target's, as the facade carries it ----------------------------------------------


@pytest.mark.parametrize(
    ("target", "dialect", "native_format"),
    [
        ("gemini", GeminiDialect(), InputFormat.GEMINI),
        ("openai", OpenAIDialect(), InputFormat.OPENAI),
        ("anthropic", AnthropicDialect(), InputFormat.ANTHROPIC),
    ],
)
def test_the_dialect_is_the_targets_format_and_limits(gateway, target, dialect, native_format):
    hook, _ = gateway(never_called, model_provider=target)
    assert isinstance(hook.dialect, GatewayDialect)
    assert hook.dialect.provider == "gateway"
    assert hook.dialect.native_format is native_format is dialect.native_format
    assert hook.dialect.limits == dialect.limits
    assert hook.capabilities.embeddings is False
    assert hook.capabilities.find_by_key is False


def test_an_anthropic_targets_dialect_takes_the_connections_default_max_tokens(gateway):
    hook, _ = gateway(never_called, model_provider="anthropic", default_max_tokens=321)
    line = hook.dialect.to_native(CANONICAL[0], model="claude-sonnet-4-5", embeddings=False)
    assert line["params"]["max_tokens"] == 321


def test_a_bedrock_target_raises_the_documented_error_only_when_a_dialect_is_needed(gateway):
    routes = {
        ("GET", "/genai/v1beta/batches"): {"operations": [operation("batch_abc")]},
        ("GET", "/genai/v1beta/batches/batch_abc"): operation("batch_abc", "BATCH_STATE_SUCCEEDED"),
        ("POST", "/genai/v1beta/batches/batch_abc:cancel"): {},
    }
    hook, wire = gateway(answering(routes), model_provider="bedrock")

    assert [job.name for job in hook.list_batches()] == ["batch_abc"]
    assert hook.get_batch("batch_abc").state is JobState.SUCCEEDED
    hook.cancel_batch("batch_abc")
    assert [r.headers["x-model-provider"] for r in wire.requests] == ["bedrock"] * 3

    for needs_a_dialect in (lambda: hook.dialect, lambda: hook.capabilities):
        with pytest.raises(GenAIBatchError) as refused:
            needs_a_dialect()
        assert str(refused.value) == BEDROCK_UNSUPPORTED
    assert len(wire.requests) == 3


# --- preparing input for each target -----------------------------------------------------------------


def test_input_is_prepared_in_the_targets_format(gateway):
    hook, _ = gateway(never_called, model_provider="anthropic")
    prepared = prepare_input(CANONICAL, hook.dialect, model="claude-sonnet-4-5", embeddings=False)
    try:
        assert hook.dialect.native_format is InputFormat.ANTHROPIC
        assert prepared.inline is not None
        assert [line["custom_id"] for line in prepared.inline] == ["sky", "tides"]
        assert all("params" in line for line in prepared.inline)
    finally:
        prepared.cleanup()


def test_an_openai_jsonl_file_is_translated_and_uploaded(gateway, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in CANONICAL))
    hook, _ = gateway(never_called, model_provider="openai")
    prepared = prepare_input(str(source), hook.dialect, model="gpt-4o-mini", embeddings=False)
    try:
        assert prepared.inline is None
        with prepared.open_upload() as stream:
            lines = [json.loads(line) for line in stream]
        assert [(line["custom_id"], line["url"]) for line in lines] == [
            ("sky", "/v1/chat/completions"),
            ("tides", "/v1/chat/completions"),
        ]
    finally:
        prepared.cleanup()


def test_native_openai_lines_must_target_chat_completions(gateway):
    hook, _ = gateway(never_called, model_provider="openai")
    line = {"custom_id": "a", "method": "POST", "url": "/v1/embeddings", "body": {"model": "m", "input": "x"}}
    with pytest.raises(InputValidationError, match="its batch route names no endpoint") as raised:
        prepare_input([line], hook.dialect, model="m", embeddings=False)
    assert raised.value.line == 1


def test_keys_become_portable_ids_for_openai_and_anthropic_targets(gateway):
    hook, _ = gateway(never_called, model_provider="anthropic")
    assert hook.dialect.provider_key("a key/with spaces").startswith("k-")
    gemini_hook, _ = gateway(never_called, model_provider="gemini")
    assert gemini_hook.dialect.provider_key("a key/with spaces") == "a key/with spaces"


# --- bare ids and states ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "raw_path"),
    [
        ("batch_abc", "/genai/v1beta/batches/batch_abc"),
        ("msgbatch_01Hk", "/genai/v1beta/batches/msgbatch_01Hk"),
        ("batches/abc123", "/genai/v1beta/batches/abc123"),
        (ARN, "/genai/v1beta/batches/arn%3Aaws%3Abedrock%3Aus-east-1%3A123456789012%3Amodel-invocation-job%2Fk2v9abc"),
    ],
)
def test_bare_ids_are_used_as_they_are_and_arns_are_percent_encoded(gateway, name, raw_path):
    hook, wire = gateway(lambda request: ok(operation(name)), model_provider="openai")

    job = hook.get_batch(name)
    hook.cancel_batch(name)

    assert wire.requests[0].url.raw_path.decode() == raw_path
    assert wire.requests[1].url.raw_path.decode() == raw_path + ":cancel"
    assert job.name == name


@pytest.mark.parametrize(
    ("wire_state", "state"),
    [
        ("BATCH_STATE_RUNNING", JobState.RUNNING),
        ("BATCH_STATE_SUCCEEDED", JobState.SUCCEEDED),
        ("BATCH_STATE_FAILED", JobState.FAILED),
        ("BATCH_STATE_CANCELLING", JobState.CANCELLING),
        ("BATCH_STATE_CANCELLED", JobState.CANCELLED),
        ("BATCH_STATE_EXPIRED", JobState.EXPIRED),
        ("BATCH_STATE_UNSPECIFIED", JobState.UNSPECIFIED),
        ("BATCH_STATE_PENDING", JobState.PENDING),
    ],
)
def test_gateway_states_map_onto_job_states(gateway, wire_state, state):
    hook, _ = gateway(lambda request: ok(operation("batch_abc", wire_state)), model_provider="openai")
    job = hook.get_batch("batch_abc")
    assert (job.state, job.provider_state) == (state, wire_state)
    assert not JobState.CANCELLING.is_terminal


def test_counts_arrive_as_strings_and_dest_names_the_output_file(gateway):
    payload = operation("batch_abc", "BATCH_STATE_SUCCEEDED", output={"responsesFile": "file-out"})
    payload["metadata"]["batchStats"] = {"requestCount": "5", "successfulRequestCount": "4", "pendingRequestCount": "0"}
    payload["dest"] = {"fileName": "file-out"}
    hook, _ = gateway(lambda request: ok(payload), model_provider="openai")

    job = hook.get_batch("batch_abc")

    assert (job.stats.total, job.stats.succeeded, job.stats.pending) == (5, 4, 0)
    assert job.output_file == "file-out"


def test_no_display_name_comes_back_so_jobs_are_not_found_by_key(gateway):
    tagged = operation("batch_abc", displayName=f"nightly [{KEY}]")
    hook, wire = gateway(lambda request: ok({"operations": [tagged]}), model_provider="openai")
    assert hook.find_batch(KEY) is None
    assert wire.requests == []
    assert hook.capabilities.find_by_key is False
    assert hook.console_url("batch_abc") == ""


# --- results through the native routes ----------------------------------------------------------------


def results(*items: dict[str, Any]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path.startswith("/v1/batches/")
        return ok({"batch_id": "x", "results": list(items), "extra_fields": {}})

    return handler


def test_openai_results_come_from_the_native_results_route(gateway):
    chat = {"choices": [{"message": {"role": "assistant", "content": "Rayleigh."}}], "usage": {"prompt_tokens": 3}}
    hook, wire = gateway(
        results(
            {"custom_id": "sky", "response": {"status_code": 200, "request_id": "r1", "body": chat}},
            {"custom_id": "tides", "error": {"code": "batch_expired", "message": "expired"}},
        ),
        model_provider="openai",
    )
    rows = list(hook.iter_results(_job("batch_abc")))

    assert str(wire.last.url) == "http://gateway.test/v1/batches/batch_abc/results?provider=openai"
    assert [(r.key, r.status, r.text) for r in rows] == [
        ("sky", RowStatus.SUCCEEDED, "Rayleigh."),
        ("tides", RowStatus.EXPIRED, None),
    ]


def test_anthropic_results_fold_the_gateway_error_into_the_row(gateway):
    message = {"content": [{"type": "text", "text": "Gravity."}], "usage": {"input_tokens": 4, "output_tokens": 2}}
    hook, _ = gateway(
        results(
            {"custom_id": "tides", "result": {"type": "succeeded", "message": message}},
            {
                "custom_id": "sky",
                "result": {"type": "errored"},
                "error": {"code": "invalid_request_error", "message": "bad"},
            },
            {"custom_id": "moon", "result": {"type": "expired"}},
        ),
        model_provider="anthropic",
    )

    rows = list(hook.iter_results(_job("msgbatch_01")))

    assert [(r.key, r.status) for r in rows] == [
        ("tides", RowStatus.SUCCEEDED),
        ("sky", RowStatus.FAILED),
        ("moon", RowStatus.EXPIRED),
    ]
    assert rows[0].text == "Gravity."
    assert (rows[1].error.message, rows[1].error.code) == ("bad", "invalid_request_error")


def test_gemini_inline_results_come_flattened_by_the_gateway(gateway):
    flat = {
        "text": "Blue light scatters.",
        "finish_reason": "STOP",
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
    }
    hook, wire = gateway(
        results(
            {"custom_id": "sky", "response": {"status_code": 200, "body": flat}},
            {"custom_id": "tides", "error": {"code": "400", "message": "rejected"}},
        ),
        model_provider="gemini",
    )

    rows = list(hook.iter_results(_job("batches/abc")))

    assert wire.last.url.raw_path.decode() == "/v1/batches/batches%2Fabc/results?provider=gemini"
    assert (rows[0].key, rows[0].status, rows[0].text) == ("sky", RowStatus.SUCCEEDED, "Blue light scatters.")
    assert rows[0].usage == Usage(input_tokens=5, output_tokens=3, total_tokens=8)
    assert (rows[1].status, rows[1].error.message) == (RowStatus.FAILED, "rejected")


def test_gemini_result_files_stream_through_the_native_files_route(gateway):
    line = b'{"key": "sky", "response": {"candidates": [{"content": {"parts": [{"text": "Blue."}]}}]}}\n'
    hook, wire = gateway(lambda request: httpx.Response(200, content=line), model_provider="gemini")

    rows = list(hook.iter_results(_job("batches/abc", output_file="files/batch-abc")))

    assert str(wire.last.url) == "http://gateway.test/v1/files/batch-abc/content?provider=gemini"
    assert [(r.key, r.text) for r in rows] == [("sky", "Blue.")]


def test_paginated_results_are_refused_rather_than_cut_short(gateway):
    hook, _ = gateway(lambda request: ok({"results": [], "has_more": True}), model_provider="openai")
    with pytest.raises(GenAIBatchError, match="paginated"):
        list(hook.iter_results(_job("batch_abc")))


def _job(name: str, output_file: str | None = None) -> BatchJob:
    return BatchJob(name=name, provider="gateway", state=JobState.SUCCEEDED, output_file=output_file)
