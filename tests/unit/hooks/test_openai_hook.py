"""OpenAIBatchHook on the wire: every assertion is on the HTTP request the hook really sent.

The hook's clients are ``httpx.MockTransport`` clients (see conftest.py ``openai``) on the connection's
base URL, ``http://openai.test/v1``; the connection comes from an ``AIRFLOW_CONN_*`` environment variable.
"""

from __future__ import annotations

import io
import json
from typing import Any

import httpx
import pytest

from airflow_provider_genai_batch.errors import GenAIBatchError, NotFoundError, ProviderAPIError, UnreadableAnswerError
from airflow_provider_genai_batch.formats.keys import portable_id
from airflow_provider_genai_batch.formats.openai import MAX_LABELS, MAX_METADATA_PAIRS, parse_batch
from airflow_provider_genai_batch.formats.results import RowStatus
from airflow_provider_genai_batch.hooks.openai import DEFAULT_BASE_URL, OpenAIBatchHook
from airflow_provider_genai_batch.idempotency import JobIdentity, idempotency_key
from airflow_provider_genai_batch.models import JobState
from airflow_provider_genai_batch.polling import PollState, Verdict
from airflow_provider_genai_batch.spec import BatchKind, BatchSpec, FileSource, InlineSource

from ._wire import API_KEY, body, set_connection
from .conftest import OPENAI_BASE_URL, OPENAI_CONN_ID

KEY = idempotency_key("nightly_dag", "submit", "scheduled__2026-08-20T00:00:00+00:00", None)
OTHER_KEY = idempotency_key("nightly_dag", "other_submit", "scheduled__2026-08-20T00:00:00+00:00", None)
FINGERPRINT = "c0ffee" + "1" * 58
EDITED_FINGERPRINT = "c0ffee" + "2" * 58
MODEL = "gpt-4o-mini"


def ok(payload: object = None, **kwargs: Any) -> httpx.Response:
    return httpx.Response(200, json={} if payload is None else payload, **kwargs)


def batch(batch_id: str = "batch_abc", status: str = "validating", **fields: Any) -> dict[str, Any]:
    """A Batch object as the OpenAI API returns it."""
    return {
        "id": batch_id,
        "object": "batch",
        "endpoint": "/v1/chat/completions",
        "errors": None,
        "input_file_id": "file-in",
        "completion_window": "24h",
        "status": status,
        "output_file_id": None,
        "error_file_id": None,
        "created_at": 1711471533,
        "request_counts": {"total": 2, "completed": 0, "failed": 0},
        "metadata": None,
        **fields,
    }


def file_object(file_id: str = "file-abc", size: int = 12, filename: str = "in.jsonl") -> dict[str, Any]:
    return {
        "id": file_id,
        "object": "file",
        "bytes": size,
        "created_at": 1711471533,
        "expires_at": 1714063533,
        "filename": filename,
        "purpose": "batch",
        "status": "processed",
    }


def listing(items: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    return {
        "object": "list",
        "data": items,
        "first_id": items[0]["id"] if items else None,
        "last_id": items[-1]["id"] if items else None,
        "has_more": has_more,
    }


def multipart_fields(request: httpx.Request) -> dict[str, tuple[dict[str, str], bytes]]:
    """The parts of a multipart/form-data body: name -> (part headers, part bytes)."""
    content_type = request.headers["content-type"]
    assert content_type.startswith("multipart/form-data; boundary=")
    boundary = content_type.split("boundary=", 1)[1].encode()
    parts: dict[str, tuple[dict[str, str], bytes]] = {}
    for raw in request.content.split(b"--" + boundary)[1:-1]:
        head, _, data = raw.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        headers = dict(line.split(": ", 1) for line in head.decode().split("\r\n"))
        name = headers["Content-Disposition"].split('name="', 1)[1].split('"', 1)[0]
        parts[name] = (headers, data.removesuffix(b"\r\n"))
    return parts


# --- connection settings -------------------------------------------------------------------------------


def test_settings_come_from_the_connection(monkeypatch):
    set_connection(
        monkeypatch,
        OPENAI_CONN_ID,
        conn_type="genaiopenai",
        host=OPENAI_BASE_URL,
        extra={"organization": "org-1", "project": "proj_2", "max_retries": 2, "timeout": 15},
    )
    settings = OpenAIBatchHook(conn_id=OPENAI_CONN_ID).settings
    assert settings.api_key.get_secret_value() == API_KEY
    assert (settings.base_url, settings.organization, settings.project) == (OPENAI_BASE_URL, "org-1", "proj_2")
    assert (settings.max_retries, settings.timeout, settings.completion_window) == (2, 15.0, "24h")
    assert API_KEY not in repr(settings)


def test_defaults_to_the_public_endpoint_with_the_v1_prefix(monkeypatch):
    set_connection(monkeypatch, OPENAI_CONN_ID, conn_type="genaiopenai", host=None, extra={})
    hook = OpenAIBatchHook(conn_id=OPENAI_CONN_ID)
    assert hook.settings.base_url == DEFAULT_BASE_URL == "https://api.openai.com/v1"
    client = hook.get_conn()
    try:
        assert str(client.build_request("GET", "batches/b1").url) == "https://api.openai.com/v1/batches/b1"
    finally:
        hook.close()


def test_connection_without_api_key_is_refused(monkeypatch):
    set_connection(monkeypatch, OPENAI_CONN_ID, conn_type="genaiopenai", password=None)
    with pytest.raises(GenAIBatchError, match=f"'{OPENAI_CONN_ID}' has no API key"):
        _ = OpenAIBatchHook(conn_id=OPENAI_CONN_ID).settings


def test_capabilities_and_limits(openai):
    hook, _ = openai(lambda request: ok())
    caps, limits = hook.capabilities, hook.dialect.limits
    assert (caps.file_input, caps.inline_input, caps.embeddings, caps.find_by_key, caps.delete, caps.labels) == (
        True,
        False,
        True,
        True,
        False,
        True,
    )
    assert (limits.max_requests, limits.max_file_bytes) == (50_000, 200_000_000)


# --- auth ----------------------------------------------------------------------------------------------


def _any_call(request: httpx.Request) -> httpx.Response:
    path = request.url.path
    if path.endswith("/content"):
        return httpx.Response(200, content=b"")
    if path.startswith("/v1/files"):
        return ok(listing([], False) if request.method == "GET" and path == "/v1/files" else file_object(size=8))
    if path == "/v1/batches" and request.method == "GET":
        return ok(listing([], False))
    return ok(batch())


def _every_call(hook: OpenAIBatchHook) -> None:
    hook.upload_file(io.BytesIO(b'{"a":1}\n'), display_name="in.jsonl")
    hook.get_file("file-abc")
    list(hook.list_files())
    hook.delete_file("file-abc")
    hook.download_file("file-abc", io.BytesIO())
    hook.create_batch(BatchSpec(model=MODEL, display_name="d", source=FileSource("file-abc"), idempotency_key=KEY))
    hook.get_batch("batch_abc")
    list(hook.list_batches())
    hook.cancel_batch("batch_abc")


def test_every_call_sends_a_bearer_key_and_never_puts_it_in_the_url(openai):
    hook, wire = openai(_any_call)
    _every_call(hook)

    assert len(wire.requests) == 9
    for request in wire.requests:
        assert request.headers["authorization"] == f"Bearer {API_KEY}"
        assert API_KEY not in str(request.url)
        assert request.url.host == "openai.test"
        assert request.url.path.startswith("/v1/")
        assert "openai-organization" not in request.headers
        assert "openai-project" not in request.headers


def test_organization_and_project_headers_are_sent_when_configured(openai):
    hook, wire = openai(_any_call, organization="org-XYZ", project="proj_123")
    _every_call(hook)
    assert len(wire.requests) == 9
    for request in wire.requests:
        assert request.headers["openai-organization"] == "org-XYZ"
        assert request.headers["openai-project"] == "proj_123"
        assert request.headers["authorization"] == f"Bearer {API_KEY}"


# --- files ---------------------------------------------------------------------------------------------


def test_upload_is_one_multipart_post_with_purpose_batch_and_the_file_bytes(openai, tmp_path):
    data = b'{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"m"}}\n' * 3
    path = tmp_path / "requests.jsonl"
    path.write_bytes(data)
    hook, wire = openai(lambda request: ok(file_object("file-new", size=len(data), filename="requests.jsonl")))

    info = hook.upload_file(path)

    assert wire.paths() == [("POST", "/v1/files")]
    parts = multipart_fields(wire.last)
    assert set(parts) == {"purpose", "file"}
    assert parts["purpose"][1] == b"batch"
    file_headers, file_bytes = parts["file"]
    assert file_bytes == data
    assert 'filename="requests.jsonl"' in file_headers["Content-Disposition"]
    assert file_headers["Content-Type"] == "application/jsonl"
    assert (info.name, info.size_bytes, info.display_name) == ("file-new", len(data), "requests.jsonl")


def test_upload_of_a_stream_uses_the_given_name_and_a_default_otherwise(openai):
    hook, wire = openai(lambda request: ok(file_object(size=1)))
    hook.upload_file(io.BytesIO(b"x"), display_name="nightly.jsonl")
    hook.upload_file(io.BytesIO(b"x"))
    names = [multipart_fields(r)["file"][0]["Content-Disposition"] for r in wire.requests]
    assert 'filename="nightly.jsonl"' in names[0]
    assert 'filename="batch-input.jsonl"' in names[1]


def test_upload_over_the_batch_input_file_limit_is_refused_before_any_request(openai, tmp_path):
    path = tmp_path / "big.jsonl"
    with path.open("wb") as sparse:
        sparse.truncate(200_000_001)
    hook, wire = openai(lambda request: ok(file_object(size=200_000_001)))
    with pytest.raises(
        GenAIBatchError, match=r"big\.jsonl is 200000001 bytes, over the 200000000 bytes .* nothing was"
    ):
        hook.upload_file(path)
    assert wire.requests == []


def test_upload_of_a_file_not_named_jsonl_is_refused_before_any_request(openai, tmp_path):
    path = tmp_path / "requests.json"
    path.write_bytes(b'{"custom_id":"a"}\n')
    hook, wire = openai(lambda request: ok(file_object()))
    with pytest.raises(GenAIBatchError, match=r"\.jsonl name .*'requests\.json'"):
        hook.upload_file(path)
    with pytest.raises(GenAIBatchError, match="'nightly'"):
        hook.upload_file(io.BytesIO(b"x"), display_name="nightly")
    assert wire.requests == []


def test_upload_of_a_stream_sends_its_bytes_from_where_it_stands(openai):
    # The input pipeline hands over a file read from after its byte-order mark.
    data = b'{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"m"}}\n'
    stream = io.BytesIO(b"\xef\xbb\xbf" + data)
    stream.seek(3)
    hook, wire = openai(lambda request: ok(file_object(size=len(data))))

    hook.upload_file(stream, display_name="nightly.jsonl")

    assert multipart_fields(wire.last)["file"][1] == data


def test_an_upload_sent_again_after_a_transient_failure_sends_the_same_bytes(openai):
    data = b'{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"m"}}\n' * 50
    stream = io.BytesIO(b"\xef\xbb\xbf" + data)
    stream.seek(3)
    answers = iter([httpx.Response(502), ok(file_object(size=len(data)))])
    hook, wire = openai(lambda request: next(answers))

    hook.upload_file(stream, display_name="nightly.jsonl")

    assert [multipart_fields(r)["file"][1] for r in wire.requests] == [data, data]


def test_an_upload_of_a_stream_that_cannot_rewind_is_not_sent_again_cut_short(openai):
    class OneWay(io.BytesIO):
        def seekable(self) -> bool:
            return False

    data = b'{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"m"}}\n' * 50
    answers = iter([httpx.Response(502), ok(file_object(size=len(data)))])
    hook, wire = openai(lambda request: next(answers))

    with pytest.raises(ProviderAPIError) as failed:
        hook.upload_file(OneWay(data), display_name="nightly.jsonl")

    assert failed.value.http_status == 502
    assert len(wire.requests) == 1


class CountingStream(io.RawIOBase):
    """A seekable stream of ``size`` bytes that records the size of every read it serves."""

    def __init__(self, size: int) -> None:
        self._size, self._pos = size, 0
        self.reads: list[int] = []

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        self._pos = {0: offset, 1: self._pos + offset, 2: self._size + offset}[whence]
        return self._pos

    def read(self, size: int = -1) -> bytes:
        size = self._size - self._pos if size is None or size < 0 else min(size, self._size - self._pos)
        self.reads.append(size)
        self._pos += size
        return b"z" * size

    def readall(self) -> bytes:
        raise AssertionError("the whole stream was read at once")


def test_a_large_upload_is_read_in_bounded_chunks_not_whole(openai):
    size = 5 * 1024 * 1024
    stream = CountingStream(size)
    hook, wire = openai(lambda request: ok(file_object(size=size)))

    hook.upload_file(stream, display_name="big.jsonl")

    assert len(wire.requests) == 1
    assert multipart_fields(wire.last)["file"][1] == b"z" * size
    assert sum(stream.reads) == size
    assert max(stream.reads) <= 64 * 1024
    assert len(stream.reads) >= size // (64 * 1024)


def test_get_file_reads_the_file_object(openai):
    hook, wire = openai(lambda request: ok(file_object("file-abc", size=20)))
    info = hook.get_file("file-abc")
    assert wire.paths() == [("GET", "/v1/files/file-abc")]
    assert (info.name, info.size_bytes, info.state) == ("file-abc", 20, "processed")
    assert info.create_time is not None and info.create_time.year == 2024


def test_list_files_follows_the_after_cursor_while_has_more(openai):
    pages = {
        None: listing([file_object("file-a"), file_object("file-b")], True),
        "file-b": listing([file_object("file-c")], False),
    }
    hook, wire = openai(lambda request: ok(pages[request.url.params.get("after")]))
    assert [f.name for f in hook.list_files()] == ["file-a", "file-b", "file-c"]
    assert [(r.url.path, dict(r.url.params)) for r in wire.requests] == [
        ("/v1/files", {"limit": "1000"}),
        ("/v1/files", {"limit": "1000", "after": "file-b"}),
    ]


def test_delete_file(openai):
    hook, wire = openai(lambda request: ok({"id": "file-abc", "object": "file", "deleted": True}))
    hook.delete_file("file-abc")
    assert wire.paths() == [("DELETE", "/v1/files/file-abc")]


def test_download_streams_the_file_content_endpoint(openai):
    hook, wire = openai(lambda request: httpx.Response(200, content=b"line1\nline2\n"))
    sink = io.BytesIO()
    assert hook.download_file("file-out", sink) == 12
    assert sink.getvalue() == b"line1\nline2\n"
    assert wire.paths() == [("GET", "/v1/files/file-out/content")]
    assert list(hook.iter_file_bytes("file-out", chunk_size=5)) == [b"line1", b"\nline", b"2\n"]


# --- batch creation ------------------------------------------------------------------------------------


def file_spec(display_name: str = "d", **fields: Any) -> BatchSpec:
    """A chat batch of the uploaded file ``file-in``."""
    return BatchSpec(model=MODEL, display_name=display_name, source=FileSource("file-in"), **fields)


def test_create_batch_posts_file_chat_endpoint_window_and_metadata(openai):
    hook, wire = openai(lambda request: ok(batch("batch_new", metadata={"display_name": "nightly"})))
    job = hook.create_batch(file_spec("nightly", idempotency_key=KEY, input_fingerprint=FINGERPRINT))

    assert wire.paths() == [("POST", "/v1/batches")]
    assert wire.last.headers["content-type"] == "application/json"
    assert body(wire.last) == {
        "input_file_id": "file-in",
        "endpoint": "/v1/chat/completions",
        "completion_window": "24h",
        "metadata": {"display_name": "nightly", "idempotency_key": KEY, "input_fingerprint": FINGERPRINT},
    }
    assert (job.name, job.provider, job.state, job.display_name) == ("batch_new", "openai", JobState.PENDING, "nightly")


def test_create_embeddings_batch_targets_the_embeddings_endpoint(openai):
    hook, wire = openai(lambda request: ok(batch("batch_emb")))
    hook.create_batch(
        BatchSpec(
            model="text-embedding-3-small", display_name="emb", source=FileSource("file-in"), kind=BatchKind.EMBED
        )
    )
    assert body(wire.last)["endpoint"] == "/v1/embeddings"
    assert body(wire.last)["metadata"] == {"display_name": "emb"}


def test_create_batch_targets_the_endpoint_the_native_lines_name(openai):
    hook, wire = openai(lambda request: ok(batch("batch_resp")))
    hook.create_batch(file_spec("r", endpoint="/v1/responses"))
    assert body(wire.last)["endpoint"] == "/v1/responses"


def test_create_batch_cuts_the_display_name_to_the_metadata_value_limit(openai):
    hook, wire = openai(lambda request: ok(batch()))
    hook.create_batch(file_spec("n" * 600, idempotency_key=KEY, input_fingerprint=FINGERPRINT))
    metadata = body(wire.last)["metadata"]
    assert metadata == {"display_name": "n" * 512, "idempotency_key": KEY, "input_fingerprint": FINGERPRINT}


def test_a_display_name_holding_other_keys_leaves_the_key_and_fingerprint_values_whole(openai):
    hook, wire = openai(lambda request: ok(batch()))
    hook.create_batch(file_spec(f"copy of {OTHER_KEY}", idempotency_key=KEY, input_fingerprint=FINGERPRINT))
    assert body(wire.last)["metadata"] == {
        "display_name": f"copy of {OTHER_KEY}",
        "idempotency_key": KEY,
        "input_fingerprint": FINGERPRINT,
    }


def test_create_batch_sends_the_24h_completion_window_the_connection_allows(openai):
    hook, wire = openai(lambda request: ok(batch()), completion_window="24h")
    hook.create_batch(file_spec())
    assert body(wire.last)["completion_window"] == "24h"


def test_a_connection_asking_for_another_completion_window_is_refused(monkeypatch):
    set_connection(
        monkeypatch, OPENAI_CONN_ID, conn_type="genaiopenai", host=OPENAI_BASE_URL, extra={"completion_window": "48h"}
    )
    with pytest.raises(
        GenAIBatchError, match="not a valid openai connection: completion_window: Input should be '24h'"
    ):
        _ = OpenAIBatchHook(conn_id=OPENAI_CONN_ID).settings


def test_inline_requests_are_refused_and_nothing_is_sent(openai):
    hook, wire = openai(lambda request: ok(batch()))
    spec = BatchSpec(model=MODEL, display_name="d", source=InlineSource([{"custom_id": "a"}]))
    with pytest.raises(GenAIBatchError, match=r"openai does not support inline batch input \(upload a file\)"):
        hook.create_batch(spec)
    assert wire.requests == []


def test_create_is_not_retried_by_the_driver(openai):
    hook, wire = openai(lambda request: httpx.Response(503, json={"error": {"message": "busy", "type": "server"}}))
    with pytest.raises(ProviderAPIError) as info:
        hook.create_batch(file_spec())
    assert info.value.http_status == 503
    assert len(wire.requests) == 1


# --- labels: user metadata next to the display name and the key ----------------------------------------


def test_labels_travel_in_the_batch_metadata_next_to_the_display_name_key_and_fingerprint(openai):
    hook, wire = openai(lambda request: ok(batch("batch_new")))
    labels = {"team": "search", "cost_center": "cc-42"}
    hook.create_batch(file_spec("nightly", idempotency_key=KEY, input_fingerprint=FINGERPRINT, labels=labels))

    assert wire.paths() == [("POST", "/v1/batches")]
    assert body(wire.last) == {
        "input_file_id": "file-in",
        "endpoint": "/v1/chat/completions",
        "completion_window": "24h",
        "metadata": {
            "display_name": "nightly",
            "idempotency_key": KEY,
            "input_fingerprint": FINGERPRINT,
            "team": "search",
            "cost_center": "cc-42",
        },
    }


def test_labels_found_again_do_not_hide_the_idempotency_key(openai):
    metadata = {"display_name": "nightly", "idempotency_key": KEY, "input_fingerprint": FINGERPRINT, "team": "search"}
    hook, _ = openai(lambda request: ok(listing([batch("batch_mine", metadata=metadata)], False)))
    job = hook.find_batch(KEY, input_fingerprint=FINGERPRINT)
    assert job is not None and job.name == "batch_mine"


@pytest.mark.parametrize("reserved", ["display_name", "idempotency_key", "input_fingerprint"])
def test_a_label_named_like_a_key_the_hook_keeps_is_refused_before_any_request(openai, reserved):
    hook, wire = openai(lambda request: ok(batch()))
    with pytest.raises(GenAIBatchError, match=f"label\\(s\\) {reserved} are reserved"):
        hook.create_batch(file_spec(idempotency_key=KEY, labels={reserved: "mine", "team": "search"}))
    assert wire.requests == []


def test_thirteen_labels_fit_next_to_the_display_name_key_and_fingerprint(openai):
    labels = {f"label_{i:02d}": str(i) for i in range(MAX_LABELS)}
    hook, wire = openai(lambda request: ok(batch()))
    hook.create_batch(file_spec(idempotency_key=KEY, input_fingerprint=FINGERPRINT, labels=labels))
    metadata = body(wire.last)["metadata"]
    assert MAX_LABELS == 13
    assert len(metadata) == MAX_METADATA_PAIRS == 16
    assert metadata == {"display_name": "d", "idempotency_key": KEY, "input_fingerprint": FINGERPRINT, **labels}


def test_more_than_thirteen_labels_are_refused_before_any_request(openai):
    labels = {f"label_{i:02d}": str(i) for i in range(MAX_LABELS + 1)}
    hook, wire = openai(lambda request: ok(batch()))
    message = "14 labels: openai keeps 13 at most next to the display name, key and fingerprint"
    with pytest.raises(GenAIBatchError, match=message):
        hook.create_batch(file_spec(idempotency_key=KEY, input_fingerprint=FINGERPRINT, labels=labels))
    assert wire.requests == []


def test_fourteen_labels_are_refused_even_for_a_batch_without_a_key(openai):
    hook, wire = openai(lambda request: ok(batch()))
    with pytest.raises(GenAIBatchError, match="14 labels"):
        hook.check_labels({f"label_{i:02d}": str(i) for i in range(MAX_LABELS + 1)})
    assert wire.requests == []


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ({"k" * 65: "v"}, "keys are at most 64 characters and values 512"),
        ({"team": "v" * 513}, "keys are at most 64 characters and values 512"),
        ({"team": 7}, "labels are strings to strings"),
    ],
)
def test_a_label_outside_the_metadata_limits_is_refused_before_any_request(openai, labels, message):
    hook, wire = openai(lambda request: ok(batch()))
    with pytest.raises(GenAIBatchError, match=message):
        hook.create_batch(file_spec(labels=labels))
    assert wire.requests == []


# --- batch get / list / cancel / delete ----------------------------------------------------------------


def test_get_batch_reads_the_batch(openai):
    payload = batch(
        "batch_abc",
        "in_progress",
        model="gpt-4o-mini-2024-07-18",
        request_counts={"total": 10, "completed": 6, "failed": 1},
        metadata={"display_name": "nightly", "idempotency_key": KEY, "input_fingerprint": FINGERPRINT},
    )
    hook, wire = openai(lambda request: ok(payload))
    job = hook.get_batch("batch_abc")
    assert wire.paths() == [("GET", "/v1/batches/batch_abc")]
    assert (job.state, job.provider_state, job.model) == (JobState.RUNNING, "in_progress", "gpt-4o-mini-2024-07-18")
    assert (job.stats.total, job.stats.succeeded, job.stats.failed, job.stats.pending) == (10, 6, 1, 3)
    assert hook.identity_of(job) == JobIdentity(KEY, FINGERPRINT)


@pytest.mark.parametrize(
    ("status", "state", "terminal"),
    [
        ("validating", JobState.PENDING, False),
        ("in_progress", JobState.RUNNING, False),
        ("finalizing", JobState.RUNNING, False),
        ("cancelling", JobState.CANCELLING, False),
        ("completed", JobState.SUCCEEDED, True),
        ("failed", JobState.FAILED, True),
        ("expired", JobState.EXPIRED, True),
        ("cancelled", JobState.CANCELLED, True),
    ],
)
def test_every_status_maps_to_a_job_state_and_cancelling_is_not_terminal(openai, status, state, terminal):
    hook, _ = openai(lambda request: ok(batch("b", status)))
    job = hook.get_batch("b")
    assert (job.state, job.state.is_terminal) == (state, terminal)


@pytest.mark.parametrize("count", ["many", 2.5, True], ids=["a-string", "a-fraction", "a-boolean"])
def test_a_status_whose_request_count_is_not_an_integer_is_an_unreadable_answer_polled_through(openai, count):
    hook, _ = openai(lambda request: ok(batch("b", "in_progress", request_counts={"total": count, "completed": 0})))

    with pytest.raises(UnreadableAnswerError) as raised:
        hook.get_batch("b")

    assert f"TypeError: the count 'total' is {count!r}, not an integer" in str(raised.value)
    assert PollState("b", interval=1.0).failed(raised.value, now=0.0).verdict is Verdict.WAIT


def test_list_batches_follows_the_after_cursor_while_has_more(openai):
    pages = {
        None: listing([batch("batch_1"), batch("batch_2")], True),
        "batch_2": listing([batch("batch_3")], True),
        "batch_3": listing([batch("batch_4")], False),
    }
    hook, wire = openai(lambda request: ok(pages[request.url.params.get("after")]))
    assert [j.name for j in hook.list_batches()] == ["batch_1", "batch_2", "batch_3", "batch_4"]
    assert [(r.url.path, dict(r.url.params)) for r in wire.requests] == [
        ("/v1/batches", {"limit": "100"}),
        ("/v1/batches", {"limit": "100", "after": "batch_2"}),
        ("/v1/batches", {"limit": "100", "after": "batch_3"}),
    ]


def test_an_empty_page_ends_the_listing_even_with_has_more(openai):
    pages = {None: listing([batch("batch_1")], True), "batch_1": listing([], True)}
    hook, wire = openai(lambda request: ok(pages[request.url.params.get("after")]))
    assert [j.name for j in hook.list_batches()] == ["batch_1"]
    assert len(wire.requests) == 2


def test_cancel_posts_to_the_cancel_path_without_a_body(openai):
    hook, wire = openai(lambda request: ok(batch("batch_abc", "cancelling")))
    hook.cancel_batch("batch_abc")
    assert wire.paths() == [("POST", "/v1/batches/batch_abc/cancel")]
    assert wire.last.content == b""


def test_batches_cannot_be_deleted_and_nothing_is_sent(openai):
    hook, wire = openai(lambda request: ok({}))
    with pytest.raises(GenAIBatchError, match="openai does not support batch delete"):
        hook.delete_batch("batch_abc")
    assert wire.requests == []


async def test_async_get_and_cancel_use_the_same_paths(openai):
    hook, wire = openai(lambda request: ok(batch("batch_abc", "finalizing")))
    job = await hook.aget_batch("batch_abc")
    await hook.acancel_batch("batch_abc")
    assert job.state is JobState.RUNNING
    assert wire.paths() == [
        ("GET", "/v1/batches/batch_abc"),
        ("POST", "/v1/batches/batch_abc/cancel"),
    ]
    assert all(r.headers["authorization"] == f"Bearer {API_KEY}" for r in wire.requests)


# --- results -------------------------------------------------------------------------------------------


def _output_line(custom_id: str, text: str) -> dict[str, Any]:
    return {
        "id": f"batch_req_{custom_id}",
        "custom_id": custom_id,
        "response": {
            "status_code": 200,
            "request_id": f"req_{custom_id}",
            "body": {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "model": MODEL,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
            },
        },
        "error": None,
    }


def _error_line(custom_id: str, code: str, message: str) -> dict[str, Any]:
    return {
        "id": f"batch_req_{custom_id}",
        "custom_id": custom_id,
        "response": None,
        "error": {"code": code, "message": message},
    }


def _jsonl(*lines: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def test_iter_results_reads_the_output_file_then_the_error_file(openai):
    files = {
        "/v1/files/file-out/content": _jsonl(_output_line("b", "second"), _output_line("a", "first")),
        "/v1/files/file-err/content": _jsonl(
            _error_line("c", "batch_expired", "This request could not be executed before the completion window"),
            _error_line("d", "batch_cancelled", "cancelled"),
            {
                "id": "batch_req_e",
                "custom_id": "e",
                "response": {
                    "status_code": 400,
                    "request_id": "req_e",
                    "body": {"error": {"message": "Invalid 'messages'", "type": "invalid_request_error", "code": None}},
                },
                "error": None,
            },
        ),
    }
    hook, wire = openai(lambda request: httpx.Response(200, content=files[request.url.path]))
    job = parse_batch(batch("batch_abc", "expired", output_file_id="file-out", error_file_id="file-err"))
    rows = list(hook.iter_results(job))

    assert wire.paths() == [("GET", "/v1/files/file-out/content"), ("GET", "/v1/files/file-err/content")]
    assert [(r.key, r.status) for r in rows] == [
        ("b", RowStatus.SUCCEEDED),
        ("a", RowStatus.SUCCEEDED),
        ("c", RowStatus.EXPIRED),
        ("d", RowStatus.CANCELLED),
        ("e", RowStatus.FAILED),
    ]
    assert [r.text for r in rows[:2]] == ["second", "first"]
    assert (rows[0].usage.input_tokens, rows[0].usage.output_tokens) == (5, 2)
    assert (rows[2].error.code, rows[3].error.code) == ("batch_expired", "batch_cancelled")
    assert (rows[4].error.message, rows[4].error.code) == ("Invalid 'messages'", "invalid_request_error")


def test_iter_results_without_an_error_file_reads_only_the_output(openai):
    hook, wire = openai(lambda request: httpx.Response(200, content=_jsonl(_output_line("a", "x"))))
    rows = list(hook.iter_results(parse_batch(batch("b", "completed", output_file_id="file-out"))))
    assert [r.key for r in rows] == ["a"]
    assert wire.paths() == [("GET", "/v1/files/file-out/content")]


def test_iter_results_with_only_an_error_file_reads_it(openai):
    hook, wire = openai(lambda request: httpx.Response(200, content=_jsonl(_error_line("a", "batch_expired", "late"))))
    rows = list(hook.iter_results(parse_batch(batch("b", "expired", error_file_id="file-err"))))
    assert [(r.key, r.status) for r in rows] == [("a", RowStatus.EXPIRED)]
    assert wire.paths() == [("GET", "/v1/files/file-err/content")]


@pytest.mark.parametrize("status", ["completed", "expired", "cancelled"])
def test_a_batch_counting_completed_requests_without_an_output_file_is_refused_not_landed_missing(openai, status):
    counts = {"total": 3, "completed": 2, "failed": 1}
    hook, wire = openai(lambda request: httpx.Response(200, content=_jsonl(_error_line("c", "server_error", "boom"))))
    job = parse_batch(batch("b", status, error_file_id="file-err", request_counts=counts))

    with pytest.raises(GenAIBatchError) as refused:
        list(hook.iter_results(job))

    assert f"batch b ({status}) counts 2 completed requests but names no output file" in str(refused.value)
    assert wire.requests == []


def test_a_batch_whose_every_request_failed_reads_its_error_file_alone(openai):
    counts = {"total": 2, "completed": 0, "failed": 2}
    lines = _jsonl(_error_line("a", "server_error", "boom"), _error_line("b", "server_error", "boom"))
    hook, _ = openai(lambda request: httpx.Response(200, content=lines))
    job = parse_batch(batch("b", "completed", error_file_id="file-err", request_counts=counts))
    assert [(r.key, r.status) for r in hook.iter_results(job)] == [("a", RowStatus.FAILED), ("b", RowStatus.FAILED)]


# --- re-attach and keys -------------------------------------------------------------------------------


def test_find_batch_matches_metadata_key_and_fingerprint_across_pages(openai):
    other = idempotency_key("nightly_dag", "submit", "scheduled__2026-08-19T00:00:00+00:00", None)
    mine = {"display_name": "nightly", "idempotency_key": KEY, "input_fingerprint": FINGERPRINT}
    pages = {
        None: listing(
            [
                batch("batch_old", metadata={**mine, "idempotency_key": other}),
                batch("batch_untagged", metadata=None),
                batch("batch_named", metadata={"display_name": f"nightly [{KEY}/{FINGERPRINT[:16]}]"}),
                batch("batch_edited", metadata={**mine, "input_fingerprint": EDITED_FINGERPRINT}),
            ],
            True,
        ),
        "batch_edited": listing([batch("batch_mine", "in_progress", metadata=mine)], True),
        "batch_mine": listing([batch("batch_never", metadata=mine)], False),
    }
    hook, wire = openai(lambda request: ok(pages[request.url.params.get("after")]))
    job = hook.find_batch(KEY, input_fingerprint=FINGERPRINT)
    assert job is not None
    assert (job.name, job.state) == ("batch_mine", JobState.RUNNING)
    assert len(wire.requests) == 2


def test_find_batch_skips_a_job_of_the_same_task_made_for_an_edited_input(openai):
    edited = batch("batch_edited", metadata={"idempotency_key": KEY, "input_fingerprint": EDITED_FINGERPRINT})
    hook, _ = openai(lambda request: ok(listing([edited], False)))
    assert hook.find_batch(KEY, input_fingerprint=FINGERPRINT) is None
    assert hook.find_batch(KEY).name == "batch_edited"  # the same job, when no fingerprint is asked for


def test_find_batch_with_a_fingerprint_skips_a_job_that_carries_only_the_key(openai):
    hook, _ = openai(lambda request: ok(listing([batch("batch_keyed", metadata={"idempotency_key": KEY})], False)))
    assert hook.find_batch(KEY, input_fingerprint=FINGERPRINT) is None
    assert hook.find_batch(KEY).name == "batch_keyed"


@pytest.mark.parametrize(
    "metadata",
    [
        {"idempotency_key": f"{KEY} "},
        {"idempotency_key": f"[{KEY}]"},
        {"idempotency_key": f"copy of {KEY}"},
        {"idempotency_key": KEY.upper()},
        {"display_name": f"nightly [{KEY}]"},
        {"team": KEY},
        {"idempotency_key": [KEY]},
    ],
    ids=["trailing-space", "brackets", "inside-text", "uppercase", "in-display-name", "in-a-label", "not-a-string"],
)
def test_find_batch_takes_only_the_exact_metadata_key(openai, metadata):
    hook, _ = openai(lambda request: ok(listing([batch("batch_near_miss", metadata=metadata)], False)))
    assert hook.find_batch(KEY) is None


def test_a_task_whose_display_name_holds_another_tasks_key_never_takes_its_job(openai):
    x_job = batch("batch_x", metadata={"display_name": f"copy of {OTHER_KEY}", "idempotency_key": KEY})
    y_job = batch("batch_y", metadata={"display_name": "scoring", "idempotency_key": OTHER_KEY})
    hook, _ = openai(lambda request: ok(listing([x_job, y_job], False)))
    assert hook.find_batch(OTHER_KEY).name == "batch_y"
    assert hook.find_batch(KEY).name == "batch_x"


def test_find_batch_returns_none_after_the_last_page(openai):
    pages = {
        None: listing([batch("batch_1", metadata={"idempotency_key": "gbk-other"})], True),
        "batch_1": listing([batch("batch_2")], False),
    }
    hook, wire = openai(lambda request: ok(pages[request.url.params.get("after")]))
    assert hook.find_batch(KEY) is None
    assert len(wire.requests) == 2


@pytest.mark.parametrize("key", ["simple-key_1", "a" * 64])
def test_provider_key_keeps_a_portable_key(openai, key):
    hook, _ = openai(lambda request: ok())
    assert hook.dialect.provider_key(key) == key


@pytest.mark.parametrize("key", ["a" * 65, "doc/1.png", "ключ", "has space"])
def test_provider_key_maps_other_keys_to_a_deterministic_portable_id(openai, key):
    hook, _ = openai(lambda request: ok())
    mapped = hook.dialect.provider_key(key)
    assert mapped == portable_id(key) == hook.dialect.provider_key(key)
    assert mapped.startswith("k-")
    assert len(mapped) == 42
    assert mapped.replace("-", "").replace("_", "").isalnum() and mapped.isascii()


# --- errors --------------------------------------------------------------------------------------------


def test_401_invalid_api_key_maps_to_provider_api_error_with_the_key_redacted(openai):
    envelope = {
        "error": {
            "message": f"Incorrect API key provided: {API_KEY}. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_api_key",
        }
    }
    hook, wire = openai(lambda request: httpx.Response(401, json=envelope))
    with pytest.raises(ProviderAPIError) as info:
        hook.get_batch("batch_abc")
    error = info.value
    assert type(error) is ProviderAPIError
    assert (error.http_status, error.provider, error.provider_status) == (401, "openai", "invalid_request_error")
    assert error.message.startswith("Incorrect API key provided: ***.")
    assert API_KEY not in str(error)
    assert API_KEY not in error.message
    assert len(wire.requests) == 1  # a 401 is not retried


def test_404_maps_to_not_found(openai):
    envelope = {"error": {"message": "No batch found with id 'batch_x'.", "type": "invalid_request_error"}}
    hook, _ = openai(lambda request: httpx.Response(404, json=envelope))
    with pytest.raises(NotFoundError) as info:
        hook.get_batch("batch_x")
    assert info.value.message == "No batch found with id 'batch_x'."


def test_test_connection_lists_batches_and_reports_failure_without_the_key(openai):
    envelope = {"error": {"message": f"bad key {API_KEY}", "type": "invalid_request_error", "code": "invalid_api_key"}}
    hook, wire = openai(lambda request: httpx.Response(401, json=envelope))
    success, message = hook.test_connection()
    assert success is False
    assert API_KEY not in message
    assert wire.paths() == [("GET", "/v1/batches")]


def test_console_url_points_at_the_batch():
    assert OpenAIBatchHook.console_url("batch_abc") == "https://platform.openai.com/batches/batch_abc"
