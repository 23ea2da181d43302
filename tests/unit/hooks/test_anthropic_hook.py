"""AnthropicBatchHook on the wire: every assertion is on the HTTP request the hook really sent.

The hook's clients are ``httpx.MockTransport`` clients (see conftest.py ``anthropic``) on the
connection's base URL, ``http://anthropic.test``; the connection comes from an ``AIRFLOW_CONN_*`` env var.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from airflow_provider_genai_batch.errors import GenAIBatchError, NotFoundError, ProviderAPIError
from airflow_provider_genai_batch.formats.anthropic import parse_batch
from airflow_provider_genai_batch.formats.results import RowStatus
from airflow_provider_genai_batch.hooks.anthropic import DEFAULT_BASE_URL, AnthropicBatchHook
from airflow_provider_genai_batch.idempotency import idempotency_key
from airflow_provider_genai_batch.inputs import JsonlSpool
from airflow_provider_genai_batch.models import JobState
from airflow_provider_genai_batch.spec import BatchKind, BatchSpec, FileSource, InlineSource

from ._wire import API_KEY, Wire, mock_hooks, set_connection
from .conftest import ANTHROPIC_BASE_URL, ANTHROPIC_CONN_ID

MODEL = "claude-sonnet-4-5"
KEY = idempotency_key("nightly_dag", "submit", "scheduled__2026-08-20T00:00:00+00:00", None)
RESULTS_URL = f"{ANTHROPIC_BASE_URL}/v1/messages/batches/msgbatch_01/results"


def ok(payload: object = None, **kwargs: Any) -> httpx.Response:
    return httpx.Response(200, json={} if payload is None else payload, **kwargs)


def message_batch(batch_id: str = "msgbatch_01", status: str = "in_progress", **fields: Any) -> dict[str, Any]:
    """A MessageBatch as the Anthropic API returns it."""
    return {
        "id": batch_id,
        "type": "message_batch",
        "processing_status": status,
        "request_counts": {"processing": 2, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0},
        "created_at": "2026-08-20T18:37:24.100435Z",
        "expires_at": "2026-08-21T18:37:24.100435Z",
        "ended_at": None,
        "archived_at": None,
        "cancel_initiated_at": None,
        "results_url": None,
        **fields,
    }


def page(items: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    return {
        "data": items,
        "has_more": has_more,
        "first_id": items[0]["id"] if items else None,
        "last_id": items[-1]["id"] if items else None,
    }


def native_request(custom_id: str, text: str = "hello", **params: Any) -> dict[str, Any]:
    return {
        "custom_id": custom_id,
        "params": {"model": MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": text}], **params},
    }


def inline_spec(requests: Any, display_name: str = "d", **fields: Any) -> BatchSpec:
    """A batch of ``requests`` (native lines) sent in the create call."""
    return BatchSpec(model=MODEL, display_name=display_name, source=InlineSource(requests), **fields)


def gemini_line(key: str = "a", **generation: Any) -> dict[str, Any]:
    request: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    if generation:
        request["generationConfig"] = generation
    return {"key": key, "request": request}


# --- connection settings -------------------------------------------------------------------------------


def test_settings_come_from_the_connection(monkeypatch):
    set_connection(
        monkeypatch,
        ANTHROPIC_CONN_ID,
        conn_type="genaianthropic",
        host=ANTHROPIC_BASE_URL,
        extra={"anthropic_version": "2026-10-21", "default_output_limit": 1024, "max_retries": 1},
    )
    settings = AnthropicBatchHook(conn_id=ANTHROPIC_CONN_ID).settings
    assert settings.api_key.get_secret_value() == API_KEY
    assert (settings.base_url, settings.anthropic_version, settings.default_output_limit, settings.max_retries) == (
        ANTHROPIC_BASE_URL,
        "2026-10-21",
        1024,
        1,
    )
    assert API_KEY not in repr(settings)


def test_defaults_pin_2023_06_01_and_the_public_endpoint(monkeypatch):
    set_connection(monkeypatch, ANTHROPIC_CONN_ID, conn_type="genaianthropic", host=None, extra={})
    hook = AnthropicBatchHook(conn_id=ANTHROPIC_CONN_ID)
    assert (hook.settings.base_url, hook.settings.anthropic_version) == (DEFAULT_BASE_URL, "2023-06-01")
    assert hook.settings.default_output_limit == 4096
    client = hook.get_conn()
    try:
        assert str(client.build_request("GET", "v1/messages/batches").url) == (
            "https://api.anthropic.com/v1/messages/batches"
        )
    finally:
        hook.close()


def test_connection_without_api_key_is_refused(monkeypatch):
    set_connection(monkeypatch, ANTHROPIC_CONN_ID, conn_type="genaianthropic", password=None)
    with pytest.raises(GenAIBatchError, match=f"'{ANTHROPIC_CONN_ID}' has no API key"):
        _ = AnthropicBatchHook(conn_id=ANTHROPIC_CONN_ID).settings


def test_capabilities_and_limits(anthropic):
    hook, _ = anthropic(lambda request: ok({}))
    caps, limits = hook.capabilities, hook.dialect.limits
    assert (caps.file_input, caps.inline_input, caps.embeddings, caps.find_by_key, caps.labels) == (
        False,
        True,
        False,
        False,
        False,
    )
    assert (limits.max_requests, limits.max_inline_bytes) == (100_000, 256_000_000)


# --- auth ----------------------------------------------------------------------------------------------


def _any_call(request: httpx.Request) -> httpx.Response:
    if request.url.path.endswith("/results"):
        return httpx.Response(200, content=b"")
    if request.url.path == "/v1/messages/batches" and request.method == "GET":
        return ok(page([], False))
    if request.method == "DELETE":
        return ok({"id": "msgbatch_01", "type": "message_batch_deleted"})
    return ok(message_batch())


def _every_call(hook: AnthropicBatchHook) -> None:
    hook.create_batch(inline_spec([native_request("a")]))
    hook.get_batch("msgbatch_01")
    list(hook.list_batches())
    hook.cancel_batch("msgbatch_01")
    hook.delete_batch("msgbatch_01")
    list(hook.iter_results(parse_batch(message_batch(status="ended", results_url=RESULTS_URL))))


def test_every_call_sends_x_api_key_and_the_pinned_version_and_never_the_key_in_a_url(anthropic):
    hook, wire = anthropic(_any_call)
    _every_call(hook)

    assert len(wire.requests) == 6
    for request in wire.requests:
        assert request.headers["x-api-key"] == API_KEY
        assert request.headers["anthropic-version"] == "2023-06-01"
        assert "authorization" not in request.headers
        assert API_KEY not in str(request.url)


def test_the_connections_anthropic_version_is_the_header_sent(anthropic):
    hook, wire = anthropic(_any_call, anthropic_version="2026-10-21")
    _every_call(hook)
    assert {r.headers["anthropic-version"] for r in wire.requests} == {"2026-10-21"}


# --- batch creation ------------------------------------------------------------------------------------


class StreamSpy(httpx.MockTransport):
    """A MockTransport that notes, before the body is read, what kind of stream each request carries."""

    def __init__(self, handler: Any) -> None:
        super().__init__(handler)
        self.streams: list[Any] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.streams.append(request.stream)
        return super().handle_request(request)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.streams.append(request.stream)
        return await super().handle_async_request(request)


def _spool(tmp_path: Path, requests: list[dict[str, Any]]) -> JsonlSpool:
    path = tmp_path / "spool.jsonl"
    path.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in requests))
    return JsonlSpool(path)


def test_create_streams_the_requests_of_a_spool_as_one_json_body(anthropic, tmp_path, monkeypatch):
    requests = [native_request("a", "hello"), native_request("b", "ünïcode ✓", temperature=0.2), native_request("c")]
    spool = _spool(tmp_path, requests)
    hook, wire = anthropic(lambda request: ok(message_batch("msgbatch_new")))
    spy = StreamSpy(wire)
    client = httpx.Client(transport=spy, base_url=ANTHROPIC_BASE_URL)
    monkeypatch.setattr(hook, "get_conn", lambda: client)

    job = hook.create_batch(inline_spec(spool, "nightly", idempotency_key=KEY))

    assert wire.paths() == [("POST", "/v1/messages/batches")]
    request = wire.last
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {"requests": requests}
    # Sent as a stream of chunks, not one pre-joined body: no Content-Length, chunked transfer.
    assert request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in request.headers
    assert isinstance(spy.streams[0], httpx.SyncByteStream)
    assert not isinstance(spy.streams[0], httpx.ByteStream)
    # The idempotency key has nowhere to go on a message batch; it must not leak into the body.
    assert KEY not in request.content.decode()
    assert (job.name, job.state) == ("msgbatch_new", JobState.RUNNING)
    client.close()


def test_create_of_a_single_request_is_valid_json(anthropic):
    hook, wire = anthropic(lambda request: ok(message_batch()))
    hook.create_batch(inline_spec([native_request("only")]))
    assert json.loads(wire.last.content) == {"requests": [native_request("only")]}


async def test_the_async_driver_streams_the_same_create_body(anthropic, tmp_path):
    requests = [native_request("a"), native_request("b")]
    hook, wire = anthropic(lambda request: ok(message_batch("msgbatch_async")))
    job = await hook.arun(hook._op_create_batch(inline_spec(_spool(tmp_path, requests))))
    assert wire.paths() == [("POST", "/v1/messages/batches")]
    assert json.loads(wire.last.content) == {"requests": requests}
    assert wire.last.headers.get("transfer-encoding") == "chunked"
    assert job.name == "msgbatch_async"


def test_file_input_is_refused_and_nothing_is_sent(anthropic):
    hook, wire = anthropic(lambda request: ok(message_batch()))
    with pytest.raises(GenAIBatchError, match=r"anthropic does not support file batch input \(requests go inline\)"):
        hook.create_batch(BatchSpec(model=MODEL, display_name="d", source=FileSource("file_011")))
    with pytest.raises(GenAIBatchError, match="anthropic does not support file upload"):
        hook.upload_file(io.BytesIO(b"{}"))
    assert wire.requests == []


def test_an_embeddings_batch_is_refused_before_any_request(anthropic):
    hook, wire = anthropic(lambda request: ok(message_batch()))
    with pytest.raises(GenAIBatchError, match="anthropic does not support embeddings batches"):
        hook.create_batch(inline_spec([native_request("a")], kind=BatchKind.EMBED))
    assert wire.requests == []


def test_labels_are_refused_before_any_request_since_a_message_batch_has_nowhere_to_keep_them(anthropic):
    hook, wire = anthropic(lambda request: ok(message_batch()))
    with pytest.raises(GenAIBatchError, match="anthropic does not support job labels"):
        hook.create_batch(inline_spec([native_request("a")], labels={"team": "search"}))
    assert wire.requests == []


def test_create_is_not_retried_by_the_driver(anthropic):
    hook, wire = anthropic(
        lambda request: httpx.Response(529, json={"type": "error", "error": {"type": "overloaded_error"}})
    )
    with pytest.raises(ProviderAPIError):
        hook.create_batch(inline_spec([native_request("a")]))
    assert len(wire.requests) == 1


# --- batch get / list / cancel / delete ----------------------------------------------------------------


def test_get_batch_reads_the_message_batch(anthropic):
    payload = message_batch(
        "msgbatch_01",
        "ended",
        request_counts={"processing": 0, "succeeded": 3, "errored": 1, "canceled": 0, "expired": 0},
        ended_at="2026-08-20T19:02:11.518201Z",
        results_url=RESULTS_URL,
    )
    hook, wire = anthropic(lambda request: ok(payload))
    job = hook.get_batch("msgbatch_01")
    assert wire.paths() == [("GET", "/v1/messages/batches/msgbatch_01")]
    assert (job.state, job.provider_state, job.output_file) == (JobState.SUCCEEDED, "ended", RESULTS_URL)
    assert (job.stats.total, job.stats.succeeded, job.stats.failed) == (4, 3, 1)
    assert hook.identity_of(job) is None


def test_list_batches_follows_after_id_while_has_more(anthropic):
    pages = {
        None: page([message_batch("msgbatch_3"), message_batch("msgbatch_2")], True),
        "msgbatch_2": page([message_batch("msgbatch_1")], False),
    }
    hook, wire = anthropic(lambda request: ok(pages[request.url.params.get("after_id")]))
    assert [j.name for j in hook.list_batches()] == ["msgbatch_3", "msgbatch_2", "msgbatch_1"]
    assert [(r.url.path, dict(r.url.params)) for r in wire.requests] == [
        ("/v1/messages/batches", {"limit": "100"}),
        ("/v1/messages/batches", {"limit": "100", "after_id": "msgbatch_2"}),
    ]


def test_cancel_posts_to_the_cancel_path(anthropic):
    hook, wire = anthropic(lambda request: ok(message_batch(status="canceling")))
    hook.cancel_batch("msgbatch_01")
    assert wire.paths() == [("POST", "/v1/messages/batches/msgbatch_01/cancel")]


def test_delete_sends_delete_to_the_batch(anthropic):
    hook, wire = anthropic(lambda request: ok({"id": "msgbatch_01", "type": "message_batch_deleted"}))
    hook.delete_batch("msgbatch_01")
    assert wire.paths() == [("DELETE", "/v1/messages/batches/msgbatch_01")]


async def test_async_get_and_cancel_use_the_same_paths(anthropic):
    hook, wire = anthropic(lambda request: ok(message_batch(status="canceling")))
    job = await hook.aget_batch("msgbatch_01")
    await hook.acancel_batch("msgbatch_01")
    assert job.state is JobState.CANCELLING
    assert not job.state.is_terminal
    assert wire.paths() == [
        ("GET", "/v1/messages/batches/msgbatch_01"),
        ("POST", "/v1/messages/batches/msgbatch_01/cancel"),
    ]


# --- results -------------------------------------------------------------------------------------------


def test_results_stream_from_the_batchs_absolute_results_url(anthropic):
    lines = [
        {
            "custom_id": "b",
            "result": {
                "type": "succeeded",
                "message": {
                    "id": "msg_1",
                    "type": "message",
                    "role": "assistant",
                    "model": MODEL,
                    "content": [{"type": "text", "text": "Hi!"}],
                    "stop_reason": "end_turn",
                    "stop_sequence": None,
                    "usage": {"input_tokens": 10, "output_tokens": 3},
                },
            },
        },
        {
            "custom_id": "a",
            "result": {
                "type": "errored",
                "error": {"type": "error", "error": {"type": "invalid_request_error", "message": "bad"}},
            },
        },
        {"custom_id": "c", "result": {"type": "canceled"}},
        {"custom_id": "d", "result": {"type": "expired"}},
    ]
    content = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    hook, wire = anthropic(lambda request: httpx.Response(200, content=content))
    job = parse_batch(message_batch(status="ended", results_url=RESULTS_URL))

    rows = list(hook.iter_results(job))

    assert len(wire.requests) == 1
    assert (wire.last.method, str(wire.last.url)) == ("GET", RESULTS_URL)
    assert wire.last.headers["x-api-key"] == API_KEY
    assert [(r.key, r.status) for r in rows] == [
        ("b", RowStatus.SUCCEEDED),
        ("a", RowStatus.FAILED),
        ("c", RowStatus.CANCELLED),
        ("d", RowStatus.EXPIRED),
    ]
    assert rows[0].text == "Hi!"
    assert (rows[1].error.message, rows[1].error.code) == ("bad", "invalid_request_error")


def test_results_are_streamed_not_read_whole(anthropic):
    pad = "x" * 700_000  # each line is ~0.7 MB; the hook reads in 1 MiB chunks

    class Lines(httpx.SyncByteStream):
        def __init__(self) -> None:
            self.served = 0

        def __iter__(self):
            for i in range(6):
                self.served += 1
                line = {"custom_id": f"k{i}", "result": {"type": "expired"}, "pad": pad}
                yield json.dumps(line).encode() + b"\n"

    stream = Lines()
    hook, _ = anthropic(lambda request: httpx.Response(200, stream=stream))
    rows = hook.iter_results(parse_batch(message_batch(status="ended", results_url=RESULTS_URL)))
    assert next(rows).key == "k0"
    assert stream.served <= 2  # the rest is still on the wire
    assert [r.key for r in rows] == ["k1", "k2", "k3", "k4", "k5"]
    assert stream.served == 6


RESULTS_PATH = "/v1/messages/batches/msgbatch_01/results"
RESULT_LINE = b'{"custom_id":"a","result":{"type":"expired"}}\n'


@pytest.mark.parametrize(
    "results_url",
    [
        f"http://ANTHROPIC.TEST{RESULTS_PATH}",
        f"http://anthropic.test:80{RESULTS_PATH}",
        f"HTTP://anthropic.test{RESULTS_PATH}",
        RESULTS_PATH,
    ],
    ids=["uppercase-host", "explicit-default-port", "uppercase-scheme", "relative"],
)
def test_results_on_the_connections_origin_are_read_with_the_key(anthropic, results_url):
    hook, wire = anthropic(lambda request: httpx.Response(200, content=RESULT_LINE))
    rows = list(hook.iter_results(parse_batch(message_batch(status="ended", results_url=results_url))))
    assert [r.key for r in rows] == ["a"]
    assert (wire.last.url.host, wire.last.url.port, wire.last.url.path) == ("anthropic.test", None, RESULTS_PATH)
    assert wire.last.headers["x-api-key"] == API_KEY


@pytest.mark.parametrize(
    "results_url",
    [
        f"http://anthropic.test:8080{RESULTS_PATH}",
        f"https://anthropic.test{RESULTS_PATH}",
        f"https://anthropic.test:80{RESULTS_PATH}",
        f"http://elsewhere.test{RESULTS_PATH}",
        f"http://anthropic.test.elsewhere.test{RESULTS_PATH}",
        f"//elsewhere.test{RESULTS_PATH}",
        f"http://anthropic.test@elsewhere.test{RESULTS_PATH}",
    ],
    ids=[
        "other-port",
        "other-scheme",
        "other-scheme-same-port",
        "other-host",
        "host-suffix",
        "scheme-relative",
        "userinfo",
    ],
)
def test_results_outside_the_connections_origin_are_refused_and_nothing_is_sent(anthropic, results_url):
    hook, wire = anthropic(lambda request: httpx.Response(200, content=RESULT_LINE))
    job = parse_batch(message_batch(status="ended", results_url=results_url))
    with pytest.raises(GenAIBatchError, match="is not on the connection's origin"):
        list(hook.iter_results(job))
    assert wire.requests == []


GATEWAY_BASE_URL = "https://llm-gateway.corp.test/anthropic"
PUBLIC_RESULTS_URL = f"{DEFAULT_BASE_URL}{RESULTS_PATH}"


@pytest.fixture
def behind_a_gateway(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., tuple[Any, Wire]]]:
    """``behind_a_gateway(handler)`` -> an Anthropic hook whose connection points at a gateway in front of the API."""
    with mock_hooks(
        monkeypatch,
        AnthropicBatchHook,
        conn_id="anthropic_gateway",
        conn_type="genaianthropic",
        base_url=GATEWAY_BASE_URL,
    ) as make:
        yield make


def test_the_public_apis_results_url_of_the_batch_is_read_through_the_connections_gateway(behind_a_gateway):
    hook, wire = behind_a_gateway(lambda request: httpx.Response(200, content=RESULT_LINE))
    job = parse_batch(message_batch(status="ended", results_url=PUBLIC_RESULTS_URL))

    rows = list(hook.iter_results(job))

    assert [r.key for r in rows] == ["a"]
    assert [str(request.url) for request in wire.requests] == [f"{GATEWAY_BASE_URL}{RESULTS_PATH}"]
    assert wire.last.headers["x-api-key"] == API_KEY


def test_a_results_line_read_through_the_gateway_is_located_in_the_results_url_the_api_gave(behind_a_gateway):
    hook, _ = behind_a_gateway(lambda request: httpx.Response(200, content=b"not json\n"))
    job = parse_batch(message_batch(status="ended", results_url=PUBLIC_RESULTS_URL))
    [row] = hook.iter_results(job)
    assert row.error.message.startswith(f"unparseable result ({PUBLIC_RESULTS_URL}, line 1): ")


@pytest.mark.parametrize(
    "results_url",
    [
        f"{DEFAULT_BASE_URL}/v1/messages/batches/msgbatch_02/results",
        f"{DEFAULT_BASE_URL}/v1/messages/batches/msgbatch_01",
        f"{DEFAULT_BASE_URL}/v1/messages/batches/msgbatch_01/results/more",
        f"{DEFAULT_BASE_URL}/v1/files/file_01/content",
        f"{DEFAULT_BASE_URL}{RESULTS_PATH}?redirect=https://elsewhere.test",
        f"{DEFAULT_BASE_URL}{RESULTS_PATH}#fragment",
        f"https://user@api.anthropic.com{RESULTS_PATH}",
        f"http://api.anthropic.com{RESULTS_PATH}",
        f"https://api.anthropic.com:8443{RESULTS_PATH}",
        f"https://elsewhere.test{RESULTS_PATH}",
    ],
    ids=[
        "another-batch",
        "the-batch-itself",
        "below-the-results",
        "another-path",
        "query",
        "fragment",
        "userinfo",
        "plain-http",
        "other-port",
        "other-host",
    ],
)
def test_a_results_url_that_is_not_the_public_apis_results_of_this_batch_is_refused_behind_a_gateway(
    behind_a_gateway, results_url
):
    hook, wire = behind_a_gateway(lambda request: httpx.Response(200, content=RESULT_LINE))
    job = parse_batch(message_batch(status="ended", results_url=results_url))
    with pytest.raises(GenAIBatchError, match="is not on the connection's origin"):
        list(hook.iter_results(job))
    assert wire.requests == []


def test_a_batch_whose_id_is_not_a_plain_id_is_not_read_through_the_gateway(behind_a_gateway):
    hook, wire = behind_a_gateway(lambda request: httpx.Response(200, content=RESULT_LINE))
    url = f"{DEFAULT_BASE_URL}/v1/messages/batches/../../v1/files/f/results"
    job = parse_batch(message_batch("../../v1/files/f", status="ended", results_url=url))
    with pytest.raises(GenAIBatchError, match="is not on the connection's origin"):
        list(hook.iter_results(job))
    assert wire.requests == []


def test_a_batch_without_results_url_has_no_results_and_sends_nothing(anthropic):
    hook, wire = anthropic(lambda request: ok({}))
    assert list(hook.iter_results(parse_batch(message_batch()))) == []
    assert wire.requests == []


# --- re-attach -----------------------------------------------------------------------------------------


def test_find_batch_is_always_none_because_message_batches_carry_no_key(anthropic):
    pages = {None: page([message_batch("msgbatch_1"), message_batch("msgbatch_2")], False)}
    hook, _ = anthropic(lambda request: ok(pages[request.url.params.get("after_id")]))
    assert hook.find_batch(KEY) is None
    assert hook.capabilities.find_by_key is False


def test_find_batch_sends_no_request_when_the_provider_cannot_find_by_key(anthropic):
    pages = {
        None: page([message_batch("msgbatch_1")], True),
        "msgbatch_1": page([message_batch("msgbatch_0")], False),
    }
    hook, wire = anthropic(lambda request: ok(pages[request.url.params.get("after_id")]))
    assert hook.find_batch(KEY) is None
    assert wire.requests == []


# --- translation: version and max_tokens ---------------------------------------------------------------


def test_sampling_params_are_refused_under_2026_10_21_naming_them(anthropic):
    hook, wire = anthropic(lambda request: ok({}), anthropic_version="2026-10-21")
    with pytest.raises(ValueError, match=r"anthropic-version 2026-10-21 rejects temperature, top_k in batch") as info:
        hook.dialect.to_native(gemini_line(temperature=0.3, topK=5), model=MODEL, embeddings=False)
    assert "pin 2023-06-01" in str(info.value)
    with pytest.raises(ValueError, match=r"rejects top_p"):
        hook.dialect.check_native(native_request("a", top_p=0.9), model=MODEL)
    assert wire.requests == []


def test_lines_without_sampling_params_pass_under_2026_10_21(anthropic):
    hook, _ = anthropic(lambda request: ok({}), anthropic_version="2026-10-21")
    assert (
        hook.dialect.to_native(gemini_line(maxOutputTokens=10), model=MODEL, embeddings=False)["params"]["max_tokens"]
        == 10
    )
    assert hook.dialect.check_native(native_request("a"), model=MODEL) is None


def test_sampling_params_are_accepted_under_2023_06_01(anthropic):
    hook, _ = anthropic(lambda request: ok({}))
    params = hook.dialect.to_native(gemini_line(temperature=0.3, topP=0.8, topK=5), model=MODEL, embeddings=False)[
        "params"
    ]
    assert (params["temperature"], params["top_p"], params["top_k"]) == (0.3, 0.8, 5)
    assert hook.dialect.check_native(native_request("a", temperature=0.1, top_k=3), model=MODEL) is None


def test_the_default_output_limit_from_the_connection_fills_lines_without_max_output_tokens(anthropic):
    hook, _ = anthropic(lambda request: ok({}), default_output_limit=1234)
    line = hook.dialect.to_native(gemini_line("k"), model=MODEL, embeddings=False)
    assert line == {
        "custom_id": "k",
        "params": {"model": MODEL, "max_tokens": 1234, "messages": [{"role": "user", "content": "hi"}]},
    }
    assert (
        hook.dialect.to_native(gemini_line(maxOutputTokens=77), model=MODEL, embeddings=False)["params"]["max_tokens"]
        == 77
    )


def test_without_the_extra_max_tokens_defaults_to_4096(anthropic):
    hook, _ = anthropic(lambda request: ok({}))
    assert hook.dialect.to_native(gemini_line(), model=MODEL, embeddings=False)["params"]["max_tokens"] == 4096


def test_embeddings_lines_are_refused(anthropic):
    hook, _ = anthropic(lambda request: ok({}))
    with pytest.raises(ValueError, match="anthropic has no embeddings batch API"):
        hook.dialect.to_native(
            {"key": "a", "request": {"content": {"parts": [{"text": "x"}]}}}, model=MODEL, embeddings=True
        )


def test_a_long_key_becomes_a_portable_custom_id(anthropic):
    hook, _ = anthropic(lambda request: ok({}))
    custom_id = hook.dialect.to_native(gemini_line("k" * 80), model=MODEL, embeddings=False)["custom_id"]
    assert custom_id == hook.dialect.provider_key("k" * 80)
    assert custom_id.startswith("k-") and len(custom_id) == 42


# --- errors --------------------------------------------------------------------------------------------


def test_401_maps_to_provider_api_error_with_type_and_redacted_message(anthropic):
    envelope = {
        "type": "error",
        "error": {"type": "authentication_error", "message": f"invalid x-api-key {API_KEY}"},
        "request_id": "req_011",
    }
    hook, wire = anthropic(lambda request: httpx.Response(401, json=envelope))
    with pytest.raises(ProviderAPIError) as info:
        hook.get_batch("msgbatch_01")
    assert (info.value.http_status, info.value.provider_status, info.value.provider) == (
        401,
        "authentication_error",
        "anthropic",
    )
    assert info.value.message == "invalid x-api-key ***"
    assert API_KEY not in str(info.value)
    assert len(wire.requests) == 1


def test_404_maps_to_not_found(anthropic):
    envelope = {"type": "error", "error": {"type": "not_found_error", "message": "not found"}}
    hook, _ = anthropic(lambda request: httpx.Response(404, json=envelope))
    with pytest.raises(NotFoundError):
        hook.get_batch("msgbatch_missing")


def test_test_connection_lists_batches(anthropic):
    hook, wire = anthropic(lambda request: ok(page([], False)))
    assert hook.test_connection() == (True, "Connection successfully tested")
    assert wire.paths() == [("GET", "/v1/messages/batches")]
