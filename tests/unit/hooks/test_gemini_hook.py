"""GeminiBatchHook on the wire: every assertion is on the HTTP request the hook really sent.

The hook's sync and async clients are ``httpx.MockTransport`` clients (see conftest.py); the connection
comes from an ``AIRFLOW_CONN_*`` environment variable, as in a deployment.
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable

import httpx
import pytest

from airflow_provider_genai_batch.errors import GenAIBatchError, NotFoundError, ProviderAPIError
from airflow_provider_genai_batch.formats.gemini import parse_operation
from airflow_provider_genai_batch.formats.results import RowStatus, Usage
from airflow_provider_genai_batch.hooks.gemini import DEFAULT_BASE_URL, GeminiBatchHook
from airflow_provider_genai_batch.idempotency import idempotency_key
from airflow_provider_genai_batch.models import BatchJob, JobState
from airflow_provider_genai_batch.spec import BatchKind, BatchSpec, FileSource, InlineSource

from ._wire import API_KEY, BASE_URL, body, file_resource, operation, set_connection

CHUNK = 262144
UPLOAD_URL = "http://uploads.gemini.test/upload/v1beta/files?upload_id=AbC-123&upload_protocol=resumable"
KEY = idempotency_key("nightly_dag", "submit", "scheduled__2026-08-20T00:00:00+00:00", None)
OTHER_KEY = idempotency_key("nightly_dag", "other_submit", "scheduled__2026-08-20T00:00:00+00:00", None)
FINGERPRINT = "a1b2c3d4e5f60718" + "9" * 48
EDITED_FINGERPRINT = "0" * 64
NOT_FOUND = {"error": {"code": 404, "message": "Requested entity was not found.", "status": "NOT_FOUND"}}
REAL_SUCCESS_LINE = (
    b'{"response":{"candidates":[{"content":{"parts":[{"text":"ACME Corp"},'
    b'{"thoughtSignature":"El4KXAHIiAlV9bq1g7d0jT3xZt"}],"role":"model"},"finishReason":"STOP","index":0}],'
    b'"usageMetadata":{"promptTokenCount":1427,"candidatesTokenCount":144,"totalTokenCount":1571},'
    b'"modelVersion":"gemini-2.5-flash","responseId":"Y2sRaO3hL5qNz7IPu9"},"key":"00_COM.png"}'
)


def file_spec(file_name: str, display_name: str = "d", model: str = "gemini-2.5-flash", **fields) -> BatchSpec:
    """A batch of an uploaded file."""
    return BatchSpec(model=model, display_name=display_name, source=FileSource(file_name), **fields)


def ok(payload: object = None, **kwargs) -> httpx.Response:
    return httpx.Response(200, json={} if payload is None else payload, **kwargs)


def upload_server(final_file: dict | None = None, start_headers: dict | None = None, granularity: int = CHUNK):
    """A resumable-upload endpoint: hands out UPLOAD_URL and a chunk granularity on start, answers chunks like
    the real one (a chunk before the last that is not a multiple of the granularity gets its plain-text 400), and
    the last with a file of the size the upload reached (or ``final_file``)."""

    def handler(request: httpx.Request) -> httpx.Response:
        command = request.headers.get("x-goog-upload-command")
        if command == "start":
            headers = {
                "x-goog-upload-url": UPLOAD_URL,
                "x-goog-upload-status": "active",
                "x-goog-upload-chunk-granularity": str(granularity),
            }
            return ok(headers=start_headers if start_headers is not None else headers)
        assert str(request.url) == UPLOAD_URL
        if command == "upload, finalize":
            stored = file_resource(size=int(request.headers["x-goog-upload-offset"]) + len(request.content))
            return ok({"file": final_file or stored}, headers={"x-goog-upload-status": "final"})
        if len(request.content) % granularity:
            message = f"The client sent {len(request.content)} bytes, which is not a multiple of the {granularity} "
            return httpx.Response(400, text=message + "byte chunk granularity.")
        return ok(headers={"x-goog-upload-status": "active"})

    return handler


def upload_commands(wire) -> list[tuple[str | None, str | None]]:
    """Every request's upload command and offset, in the order sent (the session's start included)."""
    return [(r.headers.get("x-goog-upload-command"), r.headers.get("x-goog-upload-offset")) for r in wire.requests]


def chunks_sent(wire) -> list[tuple[int, str, int]]:
    return [
        (int(r.headers["x-goog-upload-offset"]), r.headers["x-goog-upload-command"], len(r.content))
        for r in wire.requests[1:]
    ]


# --- connection settings -----------------------------------------------------------------------------


def test_settings_come_from_the_connection(monkeypatch):
    set_connection(monkeypatch, extra={"api_version": "v1", "upload_chunk_size": 4 * CHUNK, "timeout": 30})
    settings = GeminiBatchHook(conn_id="gemini_unit").settings
    assert settings.api_key.get_secret_value() == API_KEY
    assert (settings.base_url, settings.api_version, settings.upload_chunk_size, settings.timeout) == (
        BASE_URL,
        "v1",
        4 * CHUNK,
        30.0,
    )


def test_defaults_pin_v1beta_8mib_chunks_and_the_public_endpoint(monkeypatch):
    set_connection(monkeypatch, host=None, extra={})
    settings = GeminiBatchHook(conn_id="gemini_unit").settings
    assert (settings.base_url, settings.api_version, settings.upload_chunk_size) == (
        DEFAULT_BASE_URL,
        "v1beta",
        8 * 1024 * 1024,
    )


def test_host_without_scheme_gets_https_and_the_port(monkeypatch):
    set_connection(monkeypatch, host="gateway.internal", port=8443)
    assert GeminiBatchHook(conn_id="gemini_unit").settings.base_url == "https://gateway.internal:8443"


def test_connection_without_api_key_is_refused(monkeypatch):
    set_connection(monkeypatch, password=None)
    with pytest.raises(GenAIBatchError, match="'gemini_unit' has no API key"):
        _ = GeminiBatchHook(conn_id="gemini_unit").settings


def test_upload_chunk_size_must_be_positive(monkeypatch):
    set_connection(monkeypatch, extra={"upload_chunk_size": 0})
    with pytest.raises(GenAIBatchError, match=r"not a valid gemini connection: upload_chunk_size: .*greater than or"):
        _ = GeminiBatchHook(conn_id="gemini_unit").settings


def test_upload_chunk_size_is_a_preference_of_any_size(monkeypatch):
    set_connection(monkeypatch, extra={"upload_chunk_size": CHUNK + 1})
    assert GeminiBatchHook(conn_id="gemini_unit").settings.upload_chunk_size == CHUNK + 1


def test_settings_repr_never_shows_the_api_key(monkeypatch):
    set_connection(monkeypatch)
    assert API_KEY not in repr(GeminiBatchHook(conn_id="gemini_unit").settings)


def test_null_connection_form_fields_fall_back_to_the_defaults(monkeypatch):
    set_connection(monkeypatch, extra={"api_version": None, "upload_chunk_size": None, "timeout": None})
    settings = GeminiBatchHook(conn_id="gemini_unit").settings
    assert (settings.api_version, settings.upload_chunk_size, settings.timeout) == ("v1beta", 8 * 1024 * 1024, 60.0)


def test_base_url_in_extra_does_not_break_the_connection(monkeypatch):
    set_connection(monkeypatch, extra={"base_url": "http://elsewhere.test"})
    assert GeminiBatchHook(conn_id="gemini_unit").settings.base_url == BASE_URL


# --- auth ----------------------------------------------------------------------------------------------


def test_api_key_travels_in_the_header_and_never_in_a_url(gemini, tmp_path):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/upload") or request.url.host == "uploads.gemini.test":
            return upload_server()(request)
        if request.url.path.endswith(":download"):
            return httpx.Response(200, content=REAL_SUCCESS_LINE)
        if request.url.path.endswith(":batchGenerateContent") or request.url.path.startswith("/v1beta/batches/"):
            return ok(operation("batches/b1"))
        if request.method == "GET" and request.url.path.startswith("/v1beta/files/"):
            return ok(file_resource())
        return ok({})

    hook, wire = gemini(handler)
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"x" * (CHUNK + 1))
    hook.upload_file(path)
    hook.get_file("files/abc-123")
    list(hook.list_files())
    hook.download_file("files/batch-b1", io.BytesIO())
    hook.create_batch(file_spec("files/abc-123"))
    hook.get_batch("batches/b1")
    list(hook.list_batches())
    hook.cancel_batch("batches/b1")
    hook.delete_batch("batches/b1")
    hook.delete_file("files/abc-123")

    assert len(wire.requests) == 12
    for request in wire.requests:
        assert API_KEY not in str(request.url)
        assert "key" not in request.url.params
    api_calls = [r for r in wire.requests if r.url.host == "gemini.test"]
    assert len(api_calls) == 10
    assert all(r.headers["x-goog-api-key"] == API_KEY for r in api_calls)


# --- resumable upload --------------------------------------------------------------------------------


def test_upload_starts_a_resumable_session_with_size_and_type(gemini, tmp_path):
    hook, wire = gemini(upload_server())
    path = tmp_path / "requests.jsonl"
    path.write_bytes(b'{"key": "a"}\n' * 10)
    hook.upload_file(path)

    start = wire.requests[0]
    assert (start.method, str(start.url)) == ("POST", f"{BASE_URL}/upload/v1beta/files")
    assert start.headers["x-goog-api-key"] == API_KEY
    assert start.headers["x-goog-upload-protocol"] == "resumable"
    assert start.headers["x-goog-upload-command"] == "start"
    assert start.headers["x-goog-upload-header-content-length"] == "130"
    assert start.headers["x-goog-upload-header-content-type"] == "application/jsonl"
    assert body(start) == {"file": {"displayName": "requests.jsonl"}}


def test_upload_sends_chunks_to_the_session_url_with_offsets_and_finalizes_the_last(gemini, tmp_path):
    data = bytes(range(256)) * (CHUNK * 5 // 2 // 256)
    path = tmp_path / "in.jsonl"
    path.write_bytes(data)
    hook, wire = gemini(upload_server())
    hook.upload_file(path)

    assert chunks_sent(wire) == [
        (0, "upload", CHUNK),
        (CHUNK, "upload", CHUNK),
        (2 * CHUNK, "upload, finalize", CHUNK // 2),
    ]
    assert all(str(r.url) == UPLOAD_URL and r.method == "POST" for r in wire.requests[1:])
    assert b"".join(r.content for r in wire.requests[1:]) == data


def test_upload_chunks_are_the_preferred_size_cut_down_to_a_multiple_of_the_announced_granularity(gemini):
    hook, wire = gemini(upload_server(granularity=2 * CHUNK), upload_chunk_size=5 * CHUNK)
    hook.upload_file(io.BytesIO(b"g" * (9 * CHUNK)))
    assert chunks_sent(wire) == [
        (0, "upload", 4 * CHUNK),
        (4 * CHUNK, "upload", 4 * CHUNK),
        (8 * CHUNK, "upload, finalize", CHUNK),
    ]


def test_upload_chunks_are_one_granule_when_the_preferred_size_is_smaller(gemini):
    hook, wire = gemini(upload_server(granularity=2 * CHUNK), upload_chunk_size=CHUNK // 2)
    hook.upload_file(io.BytesIO(b"g" * (3 * CHUNK)))
    assert chunks_sent(wire) == [(0, "upload", 2 * CHUNK), (2 * CHUNK, "upload, finalize", CHUNK)]


def test_upload_chunks_are_the_preferred_size_when_the_server_announces_no_granularity(gemini):
    start = {"x-goog-upload-url": UPLOAD_URL, "x-goog-upload-status": "active"}
    hook, wire = gemini(upload_server(start_headers=start, granularity=1), upload_chunk_size=1000)
    hook.upload_file(io.BytesIO(b"n" * 2500))
    assert chunks_sent(wire) == [(0, "upload", 1000), (1000, "upload", 1000), (2000, "upload, finalize", 500)]


@pytest.mark.parametrize("announced", ["0", "8 MiB", "-1"])
def test_upload_with_an_invalid_announced_granularity_stops_before_sending_data(gemini, announced):
    start = {"x-goog-upload-url": UPLOAD_URL, "x-goog-upload-chunk-granularity": announced}
    hook, wire = gemini(upload_server(start_headers=start))
    with pytest.raises(GenAIBatchError, match=f"invalid x-goog-upload-chunk-granularity: '{announced}'"):
        hook.upload_file(io.BytesIO(b"abc"))
    assert len(wire.requests) == 1


def test_upload_chunks_carry_no_api_key(gemini, tmp_path):
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"y" * (CHUNK + 10))
    hook, wire = gemini(upload_server())
    hook.upload_file(path)
    assert [("x-goog-api-key" in r.headers) for r in wire.requests] == [True, False, False]


def test_upload_of_an_exact_multiple_of_the_chunk_size_sends_no_empty_chunk(gemini):
    hook, wire = gemini(upload_server())
    hook.upload_file(io.BytesIO(b"z" * (2 * CHUNK)))
    assert chunks_sent(wire) == [(0, "upload", CHUNK), (CHUNK, "upload, finalize", CHUNK)]


class TrickleStream(io.RawIOBase):
    """A raw stream (socket, pipe, decompressor) whose ``read(n)`` may return fewer than ``n`` bytes."""

    def __init__(self, data: bytes, most: int) -> None:
        self._data, self._most, self._pos = data, most, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        self._pos = {0: offset, 1: self._pos + offset, 2: len(self._data) + offset}[whence]
        return self._pos

    def read(self, size: int = -1) -> bytes:
        size = len(self._data) - self._pos if size < 0 else size
        chunk = self._data[self._pos : self._pos + min(size, self._most)]
        self._pos += len(chunk)
        return chunk


def test_upload_of_a_stream_with_short_reads_still_sends_whole_chunks(gemini):
    hook, wire = gemini(upload_server())
    hook.upload_file(TrickleStream(b"t" * (CHUNK + 100), most=64 * 1024))
    assert chunks_sent(wire) == [(0, "upload", CHUNK), (CHUNK, "upload, finalize", 100)]


def test_upload_of_an_empty_file_is_one_finalize_at_offset_zero(gemini, tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    hook, wire = gemini(upload_server())
    hook.upload_file(path)
    assert wire.requests[0].headers["x-goog-upload-header-content-length"] == "0"
    assert chunks_sent(wire) == [(0, "upload, finalize", 0)]


def test_small_upload_is_a_single_finalize_request(gemini):
    hook, wire = gemini(upload_server())
    hook.upload_file(io.BytesIO(b'{"key":"a"}\n'))
    assert chunks_sent(wire) == [(0, "upload, finalize", 12)]


def test_upload_cuts_a_display_name_to_the_512_characters_a_file_takes(gemini, caplog):
    hook, wire = gemini(upload_server())
    hook._log = logging.getLogger("genai_batch.tests.gemini")  # the hook logs through structlog to stdout
    name = "ä" * 500 + ".part.12-of-15.jsonl"
    with caplog.at_level(logging.WARNING, logger="genai_batch.tests.gemini"):
        hook.upload_file(io.BytesIO(b"abc"), display_name=name)
    assert body(wire.requests[0]) == {"file": {"displayName": name[:512]}}
    assert "cut to" in caplog.text


def test_upload_of_a_stream_uses_the_given_name_and_mime_type(gemini):
    hook, wire = gemini(upload_server())
    hook.upload_file(io.BytesIO(b"abc"), display_name="from-stream", mime_type="text/plain")
    assert body(wire.requests[0]) == {"file": {"displayName": "from-stream"}}
    assert wire.requests[0].headers["x-goog-upload-header-content-type"] == "text/plain"


def test_upload_of_an_unnamed_stream_sends_an_empty_file_object(gemini):
    hook, wire = gemini(upload_server())
    hook.upload_file(io.BytesIO(b"abc"))
    assert body(wire.requests[0]) == {"file": {}}


def test_upload_returns_the_finalized_file(gemini):
    hook, _ = gemini(upload_server(final_file=file_resource("files/my-upload", size=3)))
    info = hook.upload_file(io.BytesIO(b"abc"))
    assert (info.name, info.size_bytes, info.state) == ("files/my-upload", 3, "ACTIVE")


def test_an_upload_stored_short_is_deleted_and_refused_naming_both_sizes_and_the_file(gemini):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE":
            return ok({})
        return upload_server(final_file=file_resource("files/cut-1", size=9))(request)

    hook, wire = gemini(handler)
    with pytest.raises(GenAIBatchError) as refused:
        hook.upload_file(io.BytesIO(b"q" * 10), display_name="nightly.jsonl")

    assert str(refused.value).startswith(
        "the upload of nightly.jsonl was stored as files/cut-1 with 9 bytes, but 10 bytes were sent"
    )
    assert str(refused.value).endswith("it was deleted, and no job was created from it")
    assert wire.paths()[-1] == ("DELETE", "/v1beta/files/cut-1")


def test_an_upload_stored_as_a_file_naming_no_size_holds_no_byte_and_is_refused(gemini):
    empty = {key: value for key, value in file_resource("files/cut-2").items() if key != "sizeBytes"}
    hook, _ = gemini(lambda request: ok({}) if request.method == "DELETE" else upload_server(final_file=empty)(request))
    with pytest.raises(GenAIBatchError, match="stored as files/cut-2 with 0 bytes, but 3 bytes were sent"):
        hook.upload_file(io.BytesIO(b"abc"))


def test_an_upload_stored_short_whose_delete_fails_says_to_delete_it_by_hand(gemini):
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE":
            return httpx.Response(
                403, json={"error": {"code": 403, "message": "denied", "status": "PERMISSION_DENIED"}}
            )
        return upload_server(final_file=file_resource("files/cut-3", size=2))(request)

    hook, _ = gemini(handler)
    with pytest.raises(
        GenAIBatchError, match=r"with 2 bytes, but 3 bytes were sent .*: deleting it failed too \(.*denied"
    ):
        hook.upload_file(io.BytesIO(b"abc"))


def test_an_empty_upload_stored_as_a_file_naming_no_size_is_whole(gemini):
    empty = {key: value for key, value in file_resource("files/empty").items() if key != "sizeBytes"}
    hook, wire = gemini(upload_server(final_file=empty))
    assert hook.upload_file(io.BytesIO(b"")).name == "files/empty"
    assert [r.method for r in wire.requests] == ["POST", "POST"]


def test_upload_start_without_a_session_url_raises_before_sending_data(gemini):
    hook, wire = gemini(upload_server(start_headers={"x-goog-upload-status": "active"}))
    with pytest.raises(GenAIBatchError, match="x-goog-upload-url"):
        hook.upload_file(io.BytesIO(b"abc"))
    assert len(wire.requests) == 1


def test_a_failed_chunk_resumes_from_the_offset_the_session_committed(gemini):
    server = upload_server()
    failures = iter([True])

    def handler(request: httpx.Request) -> httpx.Response:
        command = request.headers.get("x-goog-upload-command")
        if command == "query":
            return ok(headers={"x-goog-upload-status": "active", "x-goog-upload-size-received": str(CHUNK)})
        if request.headers.get("x-goog-upload-offset") == str(CHUNK) and next(failures, False):
            return httpx.Response(503, json={"error": {"code": 503, "message": "busy", "status": "UNAVAILABLE"}})
        return server(request)

    hook, wire = gemini(handler)
    hook.upload_file(io.BytesIO(b"q" * (3 * CHUNK)))

    commands = upload_commands(wire)
    assert commands == [
        ("start", None),
        ("upload", "0"),
        ("upload", str(CHUNK)),
        ("query", None),
        ("upload", str(CHUNK)),
        ("upload, finalize", str(2 * CHUNK)),
    ]
    assert all("x-goog-api-key" not in r.headers for r in wire.requests[1:])


def test_a_retried_session_query_logs_no_session_url_which_lets_anyone_upload_into_it(gemini, caplog):
    server = upload_server()
    failures = iter([True, True])

    def handler(request: httpx.Request) -> httpx.Response:
        command = request.headers.get("x-goog-upload-command")
        if command == "query" and next(failures, False):
            return httpx.Response(503, json={"error": {"code": 503, "message": "busy", "status": "UNAVAILABLE"}})
        if command == "query":
            return ok(headers={"x-goog-upload-status": "active", "x-goog-upload-size-received": "0"})
        if command == "upload":
            return httpx.Response(503, json={"error": {"code": 503, "message": "busy", "status": "UNAVAILABLE"}})
        return server(request)

    hook, _ = gemini(handler, retry_max_wait=0)
    hook._log = logging.getLogger("genai_batch.tests.gemini")  # the hook logs through structlog to stdout
    with caplog.at_level(logging.WARNING, logger="genai_batch.tests.gemini"), pytest.raises(GenAIBatchError):
        hook.upload_file(io.BytesIO(b"q" * (2 * CHUNK)))

    assert "failed (HTTP 503); retrying" in caplog.text
    assert "upload_id" not in caplog.text and "AbC-123" not in caplog.text


def test_a_resumed_upload_keeps_sending_whole_granules_from_a_committed_offset_between_them(gemini):
    server = upload_server()
    failures = iter([True])
    committed = CHUNK + 1000

    def handler(request: httpx.Request) -> httpx.Response:
        command = request.headers.get("x-goog-upload-command")
        if command == "query":
            return ok(headers={"x-goog-upload-status": "active", "x-goog-upload-size-received": str(committed)})
        if request.headers.get("x-goog-upload-offset") == str(CHUNK) and next(failures, False):
            return httpx.Response(503, json={"error": {"code": 503, "message": "busy", "status": "UNAVAILABLE"}})
        return server(request)

    hook, wire = gemini(handler)
    data = bytes(range(256)) * (3 * CHUNK // 256)
    hook.upload_file(io.BytesIO(data))

    after_query = [
        (r.headers["x-goog-upload-offset"], r.headers["x-goog-upload-command"], len(r.content))
        for r in wire.requests[4:]
    ]
    assert after_query == [
        (str(committed), "upload", CHUNK),
        (str(committed + CHUNK), "upload, finalize", CHUNK - 1000),
    ]
    assert wire.requests[-1].content == data[committed + CHUNK :]


def test_a_chunk_that_keeps_failing_stops_the_upload_with_a_typed_error(gemini):
    server = upload_server()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers.get("x-goog-upload-command") == "query":
            return ok(headers={"x-goog-upload-status": "active", "x-goog-upload-size-received": str(CHUNK)})
        if request.headers.get("x-goog-upload-offset") == str(CHUNK):
            return httpx.Response(503, json={"error": {"code": 503, "message": "busy", "status": "UNAVAILABLE"}})
        return server(request)

    hook, wire = gemini(handler, max_retries=2, retry_max_wait=0)
    with pytest.raises(GenAIBatchError, match=f"upload failed at byte {CHUNK}"):
        hook.upload_file(io.BytesIO(b"q" * (3 * CHUNK)))
    assert [r.headers.get("x-goog-upload-command") for r in wire.requests].count("query") == 2


def test_a_chunk_answered_without_the_upload_status_resumes_from_what_the_session_committed(gemini):
    # A proxy's 200 for a chunk the session never took: the google-genai SDK sends such a chunk again.
    server = upload_server()
    proxied = iter([True])

    def handler(request: httpx.Request) -> httpx.Response:
        command = request.headers.get("x-goog-upload-command")
        if command == "query":
            return ok(headers={"x-goog-upload-status": "active", "x-goog-upload-size-received": str(CHUNK)})
        if request.headers.get("x-goog-upload-offset") == str(CHUNK) and next(proxied, False):
            return ok()
        return server(request)

    hook, wire = gemini(handler)
    data = bytes(range(256)) * (3 * CHUNK // 256)
    hook.upload_file(io.BytesIO(data))

    commands = upload_commands(wire)
    assert commands == [
        ("start", None),
        ("upload", "0"),
        ("upload", str(CHUNK)),
        ("query", None),
        ("upload", str(CHUNK)),
        ("upload, finalize", str(2 * CHUNK)),
    ]
    assert wire.requests[4].content == data[CHUNK : 2 * CHUNK]


def test_a_last_chunk_answered_final_without_its_file_takes_the_file_from_the_session(gemini):
    server = upload_server()

    def handler(request: httpx.Request) -> httpx.Response:
        command = request.headers.get("x-goog-upload-command")
        if command == "query":
            return ok({"file": file_resource(size=10)}, headers={"x-goog-upload-status": "final"})
        if command == "upload, finalize":
            return ok({}, headers={"x-goog-upload-status": "final"})
        return server(request)

    hook, wire = gemini(handler)
    info = hook.upload_file(io.BytesIO(b"q" * 10))

    assert info.name == file_resource()["name"]
    assert [r.headers.get("x-goog-upload-command") for r in wire.requests] == ["start", "upload, finalize", "query"]


def test_an_upload_through_more_faults_than_max_retries_ends_while_each_is_followed_by_progress(gemini):
    server = upload_server()
    failed: set[str] = set()
    committed = [0]

    def handler(request: httpx.Request) -> httpx.Response:
        command = request.headers.get("x-goog-upload-command")
        if command == "query":
            return ok(headers={"x-goog-upload-status": "active", "x-goog-upload-size-received": str(committed[0])})
        offset = request.headers.get("x-goog-upload-offset")
        if offset is not None and offset not in failed:
            failed.add(offset)
            return httpx.Response(503, json={"error": {"code": 503, "message": "busy", "status": "UNAVAILABLE"}})
        answer = server(request)
        if command == "upload":
            committed[0] += len(request.content)
        return answer

    hook, wire = gemini(handler, max_retries=1, retry_max_wait=0)
    hook.upload_file(io.BytesIO(b"q" * (4 * CHUNK)))

    assert [r.headers.get("x-goog-upload-command") for r in wire.requests].count("query") == 4


def test_a_chunk_refused_for_now_is_resumed_after_the_retry_after_the_server_asked_for(gemini, monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr(time, "sleep", waits.append)
    server = upload_server()
    throttled = iter([True])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers.get("x-goog-upload-command") == "query":
            return ok(headers={"x-goog-upload-status": "active", "x-goog-upload-size-received": str(CHUNK)})
        if request.headers.get("x-goog-upload-offset") == str(CHUNK) and next(throttled, False):
            body = {"error": {"code": 429, "message": "slow down", "status": "RESOURCE_EXHAUSTED"}}
            return httpx.Response(429, json=body, headers={"Retry-After": "7"})
        return server(request)

    hook, _ = gemini(handler)
    hook.upload_file(io.BytesIO(b"q" * (3 * CHUNK)))

    assert waits == [7.0]


def test_an_upload_session_that_expired_starts_over_from_the_first_byte_in_a_new_one(gemini):
    server = upload_server()
    expired = iter([True])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers.get("x-goog-upload-offset") == str(CHUNK) and next(expired, False):
            return httpx.Response(404, json={"error": {"code": 404, "message": "Upload session not found."}})
        return server(request)

    hook, wire = gemini(handler)
    data = bytes(range(256)) * (3 * CHUNK // 256)
    hook.upload_file(io.BytesIO(data))

    commands = upload_commands(wire)
    assert commands == [
        ("start", None),
        ("upload", "0"),
        ("upload", str(CHUNK)),
        ("start", None),
        ("upload", "0"),
        ("upload", str(CHUNK)),
        ("upload, finalize", str(2 * CHUNK)),
    ]
    assert b"".join(r.content for r in wire.requests[4:]) == data


def test_an_upload_whose_sessions_keep_expiring_stops_naming_it(gemini):
    server = upload_server()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers.get("x-goog-upload-command") == "start":
            return server(request)
        return httpx.Response(404, json={"error": {"code": 404, "message": "Upload session not found."}})

    hook, wire = gemini(handler, max_retries=2)
    with pytest.raises(GenAIBatchError, match=f"its session ended \\(HTTP 404\\) after 0 of {3 * CHUNK} bytes"):
        hook.upload_file(io.BytesIO(b"q" * (3 * CHUNK)))
    assert [r.headers.get("x-goog-upload-command") for r in wire.requests].count("start") == 3


def test_a_session_that_says_it_holds_bytes_never_sent_stops_the_upload(gemini):
    server = upload_server()
    failures = iter([True])

    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers.get("x-goog-upload-command") == "query":
            return ok(headers={"x-goog-upload-status": "active", "x-goog-upload-size-received": str(2 * CHUNK + 5)})
        if request.headers.get("x-goog-upload-offset") == str(CHUNK) and next(failures, False):
            return httpx.Response(503, json={"error": {"code": 503, "message": "busy", "status": "UNAVAILABLE"}})
        return server(request)

    hook, wire = gemini(handler)
    with pytest.raises(GenAIBatchError, match=f"holds {2 * CHUNK + 5} bytes, but only {2 * CHUNK} of {3 * CHUNK}"):
        hook.upload_file(io.BytesIO(b"q" * (3 * CHUNK)))
    assert wire.last.headers["x-goog-upload-command"] == "query"


# --- files ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["files/abc-123", "abc-123"])
def test_get_file_reads_the_file_resource(gemini, name):
    hook, wire = gemini(lambda request: ok(file_resource("files/abc-123", size=20)))
    info = hook.get_file(name)
    assert (wire.last.method, wire.last.url.path) == ("GET", "/v1beta/files/abc-123")
    assert (info.name, info.size_bytes) == ("files/abc-123", 20)


def test_list_files_walks_every_page(gemini):
    pages = {
        None: {"files": [file_resource("files/a"), file_resource("files/b")], "nextPageToken": "t1"},
        "t1": {"files": [file_resource("files/c")]},
    }
    hook, wire = gemini(lambda request: ok(pages[request.url.params.get("pageToken")]))
    assert [f.name for f in hook.list_files()] == ["files/a", "files/b", "files/c"]
    assert [dict(r.url.params) for r in wire.requests] == [{"pageSize": "100"}, {"pageSize": "100", "pageToken": "t1"}]
    assert {r.url.path for r in wire.requests} == {"/v1beta/files"}


def test_an_empty_later_page_ends_the_file_listing_despite_a_token(gemini):
    pages = {
        None: {"files": [file_resource("files/a")], "nextPageToken": "t1"},
        "t1": {"files": [], "nextPageToken": "t2"},
        "t2": {"files": [file_resource("files/never")]},
    }
    hook, wire = gemini(lambda request: ok(pages[request.url.params.get("pageToken")]))
    assert [f.name for f in hook.list_files()] == ["files/a"]
    assert len(wire.requests) == 2


def test_delete_file(gemini):
    hook, wire = gemini(lambda request: ok({}))
    hook.delete_file("abc-123")
    assert wire.paths() == [("DELETE", "/v1beta/files/abc-123")]


def test_download_reads_media_through_the_download_endpoint(gemini):
    hook, wire = gemini(lambda request: httpx.Response(200, content=b"line1\nline2\n"))
    sink = io.BytesIO()
    written = hook.download_file("files/batch-3a96ht58d9rd3fci7tg3qlrhlfawe5ykp6ge", sink)
    assert (written, sink.getvalue()) == (12, b"line1\nline2\n")
    request = wire.last
    assert request.method == "GET"
    assert request.url.path == "/v1beta/files/batch-3a96ht58d9rd3fci7tg3qlrhlfawe5ykp6ge:download"
    assert dict(request.url.params) == {"alt": "media"}
    assert request.headers["x-goog-api-key"] == API_KEY


def test_download_streams_in_chunks(gemini):
    hook, _ = gemini(lambda request: httpx.Response(200, content=b"0123456789"))
    assert list(hook.iter_file_bytes("files/x", chunk_size=4)) == [b"0123", b"4567", b"89"]


def test_download_of_a_missing_file_raises_not_found(gemini):
    hook, _ = gemini(lambda request: httpx.Response(404, json=NOT_FOUND))
    with pytest.raises(NotFoundError):
        hook.download_file("files/gone", io.BytesIO())


# --- batch creation ------------------------------------------------------------------------------------


def test_create_batch_from_a_file_posts_the_batch_with_the_tagged_display_name(gemini):
    hook, wire = gemini(lambda request: ok(operation("batches/new1")))
    job = hook.create_batch(file_spec("files/x", "nightly", idempotency_key=KEY, input_fingerprint=FINGERPRINT))
    assert (wire.last.method, wire.last.url.path) == ("POST", "/v1beta/models/gemini-2.5-flash:batchGenerateContent")
    assert body(wire.last) == {
        "batch": {"displayName": f"nightly [{KEY}/a1b2c3d4e5f60718]", "inputConfig": {"fileName": "files/x"}}
    }
    assert (job.name, job.state) == ("batches/new1", JobState.PENDING)


def test_create_batch_without_a_fingerprint_tags_the_display_name_with_the_key_alone(gemini):
    hook, wire = gemini(lambda request: ok(operation("batches/new1")))
    hook.create_batch(file_spec("files/x", "nightly", idempotency_key=KEY))
    assert body(wire.last)["batch"]["displayName"] == f"nightly [{KEY}]"


def test_create_batch_keeps_a_users_gbk_token_in_the_name_and_appends_the_suffix_after_it(gemini):
    hook, wire = gemini(lambda request: ok(operation("batches/new1")))
    user_name = f"rerun of {OTHER_KEY} (gbk-{'f' * 20})"
    hook.create_batch(file_spec("files/x", user_name, idempotency_key=KEY, input_fingerprint=FINGERPRINT))
    assert body(wire.last)["batch"]["displayName"] == f"{user_name} [{KEY}/a1b2c3d4e5f60718]"


def test_create_batch_cuts_a_long_display_name_so_the_suffix_ends_a_128_character_name(gemini, caplog):
    hook, wire = gemini(lambda request: ok(operation("batches/new1")))
    hook._log = logging.getLogger("genai_batch.tests.gemini")  # the hook logs through structlog to stdout
    with caplog.at_level(logging.WARNING, logger="genai_batch.tests.gemini"):
        hook.create_batch(file_spec("files/x", "n" * 300, idempotency_key=KEY, input_fingerprint=FINGERPRINT))
    display_name = body(wire.last)["batch"]["displayName"]
    suffix = f" [{KEY}/a1b2c3d4e5f60718]"
    assert display_name == "n" * (128 - len(suffix)) + suffix
    assert "cut to" in caplog.text


@pytest.mark.parametrize(
    ("key", "fingerprint"), [("gbk-1", None), (KEY, "not-hex"), (KEY, FINGERPRINT.upper())], ids=["key", "fp", "case"]
)
def test_create_batch_with_a_key_or_fingerprint_it_could_not_read_back_sends_nothing(gemini, key, fingerprint):
    hook, wire = gemini(lambda request: ok(operation("batches/new1")))
    with pytest.raises(GenAIBatchError, match=r"idempotency key|input fingerprint"):
        hook.create_batch(file_spec("files/x", "nightly", idempotency_key=key, input_fingerprint=fingerprint))
    assert wire.requests == []


def test_create_batch_adds_the_files_prefix_and_keeps_a_models_prefix(gemini):
    hook, wire = gemini(lambda request: ok(operation("batches/new1")))
    hook.create_batch(file_spec("x", "plain", model="models/gemini-2.5-pro"))
    assert wire.last.url.path == "/v1beta/models/gemini-2.5-pro:batchGenerateContent"
    assert body(wire.last) == {"batch": {"displayName": "plain", "inputConfig": {"fileName": "files/x"}}}


def test_create_batch_inline_carries_each_key_in_metadata(gemini):
    lines = [
        {"key": "k1", "request": {"contents": [{"parts": [{"text": "hello"}], "role": "user"}]}},
        {
            "key": "k2",
            "request": {
                "contents": [{"parts": [{"text": "bye"}], "role": "user"}],
                "generationConfig": {"temperature": 0},
            },
        },
    ]
    hook, wire = gemini(lambda request: ok(operation("batches/new2")))
    hook.create_batch(BatchSpec(model="gemini-2.5-flash", display_name="inline", source=InlineSource(lines)))
    assert body(wire.last)["batch"]["inputConfig"] == {
        "requests": {
            "requests": [
                {"request": lines[0]["request"], "metadata": {"key": "k1"}},
                {"request": lines[1]["request"], "metadata": {"key": "k2"}},
            ]
        }
    }


def test_create_embeddings_batch_uses_async_batch_embed_content(gemini):
    hook, wire = gemini(lambda request: ok(operation("batches/emb1")))
    hook.create_batch(file_spec("files/in", "emb", model="gemini-embedding-001", kind=BatchKind.EMBED))
    assert (wire.last.method, wire.last.url.path) == (
        "POST",
        "/v1beta/models/gemini-embedding-001:asyncBatchEmbedContent",
    )
    assert body(wire.last) == {"batch": {"displayName": "emb", "inputConfig": {"fileName": "files/in"}}}


def test_capabilities_and_limits(gemini):
    hook, _ = gemini(lambda request: ok({}))
    caps, limits = hook.capabilities, hook.dialect.limits
    assert (caps.file_input, caps.inline_input, caps.embeddings, caps.find_by_key, caps.labels) == (
        True,
        True,
        True,
        True,
        False,
    )
    assert (limits.max_file_bytes, limits.max_inline_bytes) == (2 * 1024**3, 20 * 1024**2)


def test_labels_are_refused_before_any_request(gemini):
    hook, wire = gemini(lambda request: ok(operation("batches/x")))
    with pytest.raises(GenAIBatchError, match="gemini does not support job labels"):
        hook.create_batch(file_spec("files/x", labels={"team": "search"}))
    assert wire.requests == []


# --- batch get / list / cancel / delete ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["batches/b1", "b1"])
def test_get_batch_reads_the_operation(gemini, name):
    op = operation(
        "batches/b1",
        "BATCH_STATE_RUNNING",
        batchStats={"requestCount": "4", "pendingRequestCount": "1", "successfulRequestCount": "3"},
    )
    hook, wire = gemini(lambda request: ok(op))
    job = hook.get_batch(name)
    assert wire.paths() == [("GET", "/v1beta/batches/b1")]
    assert (job.state, job.stats.total, job.stats.succeeded, job.stats.pending) == (JobState.RUNNING, 4, 3, 1)


def test_list_batches_walks_every_page(gemini):
    pages = {
        None: {"operations": [operation("batches/a"), operation("batches/b")], "nextPageToken": "n1"},
        "n1": {"operations": [operation("batches/c")]},
    }
    hook, wire = gemini(lambda request: ok(pages[request.url.params.get("pageToken")]))
    assert [j.name for j in hook.list_batches()] == ["batches/a", "batches/b", "batches/c"]
    assert [(r.url.path, r.url.params.get("pageToken")) for r in wire.requests] == [
        ("/v1beta/batches", None),
        ("/v1beta/batches", "n1"),
    ]


def test_an_empty_later_page_ends_the_batch_listing_despite_a_token(gemini):
    pages = {
        None: {"operations": [operation("batches/a")], "nextPageToken": "n1"},
        "n1": {"operations": [], "nextPageToken": "n2"},
    }
    hook, wire = gemini(lambda request: ok(pages[request.url.params.get("pageToken")]))
    assert [j.name for j in hook.list_batches()] == ["batches/a"]
    assert len(wire.requests) == 2


def test_cancel_batch_posts_to_the_cancel_method(gemini):
    hook, wire = gemini(lambda request: ok({}))
    hook.cancel_batch("b1")
    assert wire.paths() == [("POST", "/v1beta/batches/b1:cancel")]


def test_delete_batch(gemini):
    hook, wire = gemini(lambda request: ok({}))
    hook.delete_batch("batches/b1")
    assert wire.paths() == [("DELETE", "/v1beta/batches/b1")]


def test_api_version_v1_changes_every_path(gemini):
    def handler(request: httpx.Request) -> httpx.Response:
        if "upload" in request.url.path or request.url.host == "uploads.gemini.test":
            return upload_server()(request)
        return ok(operation("batches/b1"))

    hook, wire = gemini(handler, api_version="v1")
    hook.upload_file(io.BytesIO(b"abc"))
    hook.create_batch(file_spec("files/x"))
    hook.get_batch("batches/b1")
    hook.cancel_batch("batches/b1")
    hook.get_file("files/x")
    assert [r.url.path for r in wire.requests if r.url.host == "gemini.test"] == [
        "/upload/v1/files",
        "/v1/models/gemini-2.5-flash:batchGenerateContent",
        "/v1/batches/b1",
        "/v1/batches/b1:cancel",
        "/v1/files/x",
    ]


# --- errors ----------------------------------------------------------------------------------------------


def test_404_maps_to_not_found_with_status_and_message(gemini):
    hook, _ = gemini(lambda request: httpx.Response(404, json=NOT_FOUND))
    with pytest.raises(NotFoundError) as info:
        hook.get_batch("batches/missing")
    error = info.value
    assert (error.http_status, error.provider_status, error.provider) == (404, "NOT_FOUND", "gemini")
    assert error.message == "Requested entity was not found."
    assert str(error) == "gemini API error (404 NOT_FOUND): Requested entity was not found."


def test_other_error_status_maps_to_provider_api_error(gemini):
    payload = {"error": {"code": 400, "message": "File ID too long", "status": "INVALID_ARGUMENT"}}
    hook, _ = gemini(lambda request: httpx.Response(400, json=payload))
    with pytest.raises(ProviderAPIError) as info:
        hook.get_file("files/batch-3a96ht58d9rd3fci7tg3qlrhlfawe5ykp6ge")
    assert type(info.value) is ProviderAPIError
    assert (info.value.http_status, info.value.provider_status) == (400, "INVALID_ARGUMENT")


def test_error_message_echoing_the_api_key_is_redacted(gemini):
    payload = {
        "error": {
            "code": 400,
            "message": f"API key not valid: {API_KEY}. Please pass a valid API key.",
            "status": "INVALID_ARGUMENT",
        }
    }
    hook, _ = gemini(lambda request: httpx.Response(400, json=payload))
    with pytest.raises(ProviderAPIError) as info:
        hook.list_batches().__next__()
    assert API_KEY not in str(info.value)
    assert API_KEY not in info.value.message
    assert "API key not valid: ***." in str(info.value)


def test_non_json_error_body_is_kept_as_text_and_redacted(gemini):
    hook, _ = gemini(lambda request: httpx.Response(502, text=f"<html>Bad gateway for {API_KEY}</html>"), max_retries=0)
    with pytest.raises(ProviderAPIError) as info:
        hook.get_batch("batches/b1")
    assert (info.value.http_status, info.value.provider_status) == (502, None)
    assert info.value.message == "<html>Bad gateway for ***</html>"


def test_test_connection_reports_failure_without_the_key(gemini):
    payload = {"error": {"code": 403, "message": f"key {API_KEY} lacks permission", "status": "PERMISSION_DENIED"}}
    hook, wire = gemini(lambda request: httpx.Response(403, json=payload))
    success, message = hook.test_connection()
    assert success is False
    assert "PERMISSION_DENIED" in message
    assert API_KEY not in message
    assert wire.paths() == [("GET", "/v1beta/batches")]


def test_test_connection_succeeds_on_a_listing(gemini):
    hook, _ = gemini(lambda request: ok({"operations": []}))
    assert hook.test_connection() == (True, "Connection successfully tested")


# --- re-attach -------------------------------------------------------------------------------------------


def test_find_batch_matches_key_and_fingerprint_in_the_display_name_suffix_across_pages(gemini):
    other = idempotency_key("nightly_dag", "submit", "scheduled__2026-08-19T00:00:00+00:00", None)
    pages = {
        None: {
            "operations": [
                operation("batches/old", displayName=f"nightly [{other}/a1b2c3d4e5f60718]"),
                operation("batches/untagged", displayName="manual run"),
            ],
            "nextPageToken": "n1",
        },
        "n1": {
            "operations": [
                operation("batches/mine", "BATCH_STATE_RUNNING", displayName=f"nightly [{KEY}/a1b2c3d4e5f60718]")
            ],
            "nextPageToken": "n2",
        },
        "n2": {"operations": [operation("batches/never", displayName=f"x [{KEY}/a1b2c3d4e5f60718]")]},
    }
    hook, wire = gemini(lambda request: ok(pages[request.url.params.get("pageToken")]))
    job = hook.find_batch(KEY, input_fingerprint=FINGERPRINT)
    assert job is not None
    assert (job.name, job.state) == ("batches/mine", JobState.RUNNING)
    assert len(wire.requests) == 2


def test_find_batch_returns_none_when_no_job_carries_the_key(gemini):
    hook, _ = gemini(lambda request: ok({"operations": [operation("batches/a", displayName="nightly")]}))
    assert hook.find_batch(KEY) is None


def listing(*operations: dict) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: ok({"operations": list(operations)})


def test_find_batch_skips_a_job_of_the_same_task_made_for_an_edited_input(gemini):
    hook, _ = gemini(listing(operation("batches/old-input", displayName=f"nightly [{KEY}/{EDITED_FINGERPRINT[:16]}]")))
    assert hook.find_batch(KEY, input_fingerprint=FINGERPRINT) is None
    assert hook.find_batch(KEY) is not None  # the same job, when no fingerprint is asked for


def test_find_batch_with_a_fingerprint_skips_a_job_that_carries_only_the_key(gemini):
    hook, _ = gemini(listing(operation("batches/keyed", displayName=f"nightly [{KEY}]")))
    assert hook.find_batch(KEY, input_fingerprint=FINGERPRINT) is None
    assert hook.find_batch(KEY).name == "batches/keyed"


def test_a_task_whose_display_name_holds_another_tasks_key_never_takes_its_job(gemini):
    """Task X's display name contains task Y's key: each lookup finds only its own task's job."""
    y_job = operation("batches/y", "BATCH_STATE_RUNNING", displayName=f"scoring [{OTHER_KEY}/a1b2c3d4e5f60718]")
    x_job = operation("batches/x", displayName=f"copy of {OTHER_KEY} [{OTHER_KEY}] [{KEY}/a1b2c3d4e5f60718]")
    hook, _ = gemini(listing(x_job, y_job))
    assert hook.find_batch(KEY, input_fingerprint=FINGERPRINT).name == "batches/x"
    assert hook.find_batch(OTHER_KEY, input_fingerprint=FINGERPRINT).name == "batches/y"


def test_a_task_whose_display_name_holds_another_tasks_key_finds_nothing_before_it_creates(gemini):
    hook, _ = gemini(listing(operation("batches/y", displayName=f"{KEY} [{OTHER_KEY}/a1b2c3d4e5f60718]")))
    assert hook.find_batch(KEY, input_fingerprint=FINGERPRINT) is None
    assert hook.find_batch(KEY) is None


@pytest.mark.parametrize(
    "display_name",
    [
        f"nightly [{KEY}/a1b2c3d4e5f60718] (copy)",
        f"nightly {KEY}/a1b2c3d4e5f60718",
        f"nightly [{KEY}/a1b2c3d4e5f60718]\n",
        f"nightly [{KEY}x/a1b2c3d4e5f60718]",
        f"nightly [{KEY.upper()}/A1B2C3D4E5F60718]",
    ],
    ids=["text-after-suffix", "no-brackets", "trailing-newline", "longer-key", "uppercase"],
)
def test_find_batch_ignores_a_key_that_is_not_the_exact_suffix(gemini, display_name):
    hook, _ = gemini(listing(operation("batches/near-miss", displayName=display_name)))
    assert hook.find_batch(KEY) is None


# --- results ---------------------------------------------------------------------------------------------


def test_iter_results_streams_the_responses_file(gemini):
    error_line = b'{"key":"bad-1","error":{"code":3,"message":"Invalid argument","status":"INVALID_ARGUMENT"}}'
    content = REAL_SUCCESS_LINE + b"\r\n" + error_line + b"\n"
    hook, wire = gemini(lambda request: httpx.Response(200, content=content))
    job = BatchJob(name="batches/b1", provider="gemini", output_file="files/batch-b1")
    rows = list(hook.iter_results(job))
    assert wire.paths() == [("GET", "/v1beta/files/batch-b1:download")]
    assert [(r.key, r.status) for r in rows] == [("00_COM.png", RowStatus.SUCCEEDED), ("bad-1", RowStatus.FAILED)]
    assert rows[0].text == "ACME Corp"
    assert rows[0].usage == Usage(input_tokens=1427, output_tokens=144, total_tokens=1571)
    assert rows[1].error.status == "INVALID_ARGUMENT"


def test_iter_results_reads_inline_output_without_any_request(gemini):
    op = operation(
        "batches/i1",
        "BATCH_STATE_SUCCEEDED",
        output={
            "inlinedResponses": {
                "inlinedResponses": [
                    {
                        "response": {"embedding": {"values": [0.5, 0.25]}, "usageMetadata": {"promptTokenCount": 81}},
                        "metadata": {"key": "e1"},
                    },
                    {"error": {"code": 3, "message": "empty content"}, "metadata": {"key": "e2"}},
                ]
            }
        },
    )
    hook, wire = gemini(lambda request: pytest.fail(f"unexpected request {request.url}"))
    rows = list(hook.iter_results(parse_operation(op)))
    assert [(r.key, r.status, r.embedding) for r in rows] == [
        ("e1", RowStatus.SUCCEEDED, [0.5, 0.25]),
        ("e2", RowStatus.FAILED, None),
    ]
    assert wire.requests == []


def test_iter_results_reads_inline_embeddings_under_the_field_google_genai_also_reads(gemini):
    op = operation(
        "batches/e1",
        "BATCH_STATE_SUCCEEDED",
        output={
            "inlinedEmbedContentResponses": {
                "inlinedResponses": [{"response": {"embedding": {"values": [0.125]}}, "metadata": {"key": "d1"}}]
            }
        },
    )
    hook, _ = gemini(lambda request: pytest.fail(f"unexpected request {request.url}"))
    job = parse_operation(op)
    assert job.has_inline_output
    assert [(r.key, r.embedding) for r in hook.iter_results(job)] == [("d1", [0.125])]


def test_iter_results_gives_an_inline_response_without_metadata_its_index(gemini):
    op = operation(
        "batches/i2",
        "BATCH_STATE_SUCCEEDED",
        batchStats={"requestCount": "3", "successfulRequestCount": "2", "failedRequestCount": "1"},
        output={
            "inlinedResponses": {
                "inlinedResponses": [
                    {"response": {"candidates": [{"content": {"parts": [{"text": "a"}], "role": "model"}}]}},
                    {"response": {"candidates": [{"content": {"parts": [{"text": "b"}]}}]}, "metadata": {"key": "k2"}},
                    {"error": {"code": 3, "message": "bad"}, "metadata": {}},
                ]
            }
        },
    )
    hook, _ = gemini(lambda request: pytest.fail(f"unexpected request {request.url}"))
    rows = list(hook.iter_results(parse_operation(op)))
    assert [(r.key, r.position, r.status) for r in rows] == [
        (None, 0, RowStatus.SUCCEEDED),
        ("k2", None, RowStatus.SUCCEEDED),
        (None, 2, RowStatus.FAILED),
    ]


def test_iter_results_places_no_inline_response_by_its_index_when_one_of_the_requests_got_none(gemini):
    answer = {"candidates": [{"content": {"parts": [{"text": "answer to k3"}], "role": "model"}}]}
    op = operation(
        "batches/i3",
        "BATCH_STATE_SUCCEEDED",
        batchStats={"requestCount": "3", "successfulRequestCount": "2"},
        output={
            "inlinedResponses": {
                "inlinedResponses": [
                    {"response": {"candidates": [{"content": {"parts": [{"text": "a"}]}}]}, "metadata": {"key": "k1"}},
                    {"response": answer},  # k2 got no response: this one, without its key, is k3's
                ]
            }
        },
    )
    hook, _ = gemini(lambda request: pytest.fail(f"unexpected request {request.url}"))

    rows = list(hook.iter_results(parse_operation(op)))

    assert [(r.key, r.position, r.text) for r in rows] == [("k1", None, "a"), (None, None, "answer to k3")]


def test_iter_results_places_no_line_of_a_responses_file_by_its_order(gemini):
    hook, _ = gemini(lambda request: httpx.Response(200, content=b'{"response":{"candidates":[]}}\n'))
    rows = list(hook.iter_results(BatchJob(name="batches/b1", provider="gemini", output_file="files/batch-b1")))
    assert [(r.key, r.position) for r in rows] == [(None, None)]


# --- async flavour ---------------------------------------------------------------------------------------


async def test_aget_batch_reads_the_operation(gemini):
    hook, wire = gemini(lambda request: ok(operation("batches/b1", "BATCH_STATE_SUCCEEDED")))
    job = await hook.aget_batch("b1")
    assert job.state is JobState.SUCCEEDED
    assert wire.paths() == [("GET", "/v1beta/batches/b1")]
    assert wire.last.headers["x-goog-api-key"] == API_KEY


async def test_async_calls_read_the_connection_without_the_blocking_api(gemini, monkeypatch):
    hook, _ = gemini(lambda request: ok(operation("batches/b1")))

    def blocking(*args, **kwargs):
        raise AssertionError("get_connection called from async code")

    monkeypatch.setattr(hook, "get_connection", blocking)
    assert (await hook.aget_batch("batches/b1")).name == "batches/b1"


async def test_async_calls_honour_the_pinned_api_version(gemini):
    hook, wire = gemini(lambda request: ok(operation("batches/b1")), api_version="v1")
    await hook.aget_batch("batches/b1")
    assert wire.last.url.path == "/v1/batches/b1"


async def test_acancel_batch_posts_to_the_cancel_method(gemini):
    hook, wire = gemini(lambda request: ok({}))
    await hook.acancel_batch("batches/b1")
    assert wire.paths() == [("POST", "/v1beta/batches/b1:cancel")]


async def test_aget_batch_maps_404_to_not_found_and_redacts(gemini):
    payload = {"error": {"code": 404, "message": f"no batch for {API_KEY}", "status": "NOT_FOUND"}}
    hook, _ = gemini(lambda request: httpx.Response(404, json=payload))
    with pytest.raises(NotFoundError) as info:
        await hook.aget_batch("batches/gone")
    assert info.value.provider_status == "NOT_FOUND"
    assert API_KEY not in str(info.value)
