"""The retry policy end to end: a hook's public methods over MockTransport, with the waits recorded, not slept.

Which failures are retried (connection errors, 408/429/5xx), which requests (idempotent ones, or those
marked ``retry=True`` like cancel; never a create), how long the driver waits (``Retry-After``, capped
full-jitter backoff) and when it stops (``max_retries``, ``retry_deadline``); and a download broken
mid-stream resuming with ``Range`` without delivering a byte twice.
"""

from __future__ import annotations

import asyncio
import email.utils
import gzip
import io
import json
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from airflow_provider_genai_batch.errors import GenAIBatchError, ProviderAPIError
from airflow_provider_genai_batch.formats.openai import parse_batch
from airflow_provider_genai_batch.formats.results import RowStatus
from airflow_provider_genai_batch.hooks import retry as retry_module
from airflow_provider_genai_batch.hooks.openai import OpenAIBatchHook
from airflow_provider_genai_batch.models import JobState
from airflow_provider_genai_batch.polling import PollState, Verdict
from airflow_provider_genai_batch.spec import BatchSpec, FileSource, InlineSource

MODEL = "gpt-4o-mini"
BUSY = {"error": {"message": "The server is overloaded", "type": "server_error"}}
CREATE = BatchSpec(model=MODEL, display_name="d", source=FileSource("file-in"))


def batch(batch_id: str = "batch_1", status: str = "in_progress") -> dict[str, Any]:
    return {"id": batch_id, "object": "batch", "status": status, "created_at": 1711471533, "input_file_id": "f"}


def ok(payload: Any = None) -> httpx.Response:
    return httpx.Response(200, json=batch() if payload is None else payload)


def busy(status: int = 503, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=BUSY, headers=headers)


def scripted(*steps: Any) -> Any:
    """A handler answering with ``steps`` in order: a Response, or an exception to raise; the last repeats."""
    queue = list(steps)

    def handler(request: httpx.Request) -> httpx.Response:
        step = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(step, BaseException):
            raise step
        return step

    return handler


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every wait the sync and async drivers ask for, recorded instead of slept."""
    recorded: list[float] = []

    async def asleep(seconds: float) -> None:
        recorded.append(seconds)

    monkeypatch.setattr(time, "sleep", recorded.append)
    monkeypatch.setattr(asyncio, "sleep", asleep)
    return recorded


# --- transient HTTP statuses ---------------------------------------------------------------------------


def test_a_get_answered_503_503_200_succeeds_after_two_retries(openai, waits):
    hook, wire = openai(scripted(busy(), busy(), ok(batch("batch_1", "completed"))))
    job = hook.get_batch("batch_1")
    assert job.state is JobState.SUCCEEDED
    assert hook.retries == 2
    assert wire.paths() == [("GET", "/v1/batches/batch_1")] * 3
    assert len(waits) == 2
    assert all(0 <= wait <= 30.0 for wait in waits)


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_every_transient_status_is_retried(openai, waits, status):
    hook, wire = openai(scripted(busy(status), ok()))
    hook.get_batch("batch_1")
    assert (len(wire.requests), hook.retries) == (2, 1)


def test_429_with_retry_after_0_is_retried_at_once(openai, waits):
    hook, wire = openai(scripted(busy(429, **{"Retry-After": "0"}), ok()))
    hook.get_batch("batch_1")
    assert waits == [0.0]
    assert len(wire.requests) == 2


def test_retry_after_in_seconds_is_honoured(openai, waits):
    hook, _ = openai(scripted(busy(429, **{"Retry-After": "7"}), busy(503, **{"Retry-After": "1.5"}), ok()))
    hook.get_batch("batch_1")
    assert waits == [7.0, 1.5]


def test_retry_after_as_an_http_date_is_honoured(openai, waits):
    when = email.utils.formatdate(time.time() + 10, usegmt=True)
    hook, wire = openai(scripted(busy(503, **{"Retry-After": when}), ok()))
    hook.get_batch("batch_1")
    assert len(wire.requests) == 2
    assert len(waits) == 1
    assert 8.0 < waits[0] <= 10.0


def test_retry_after_as_an_http_date_in_the_past_means_now(openai, waits):
    hook, _ = openai(scripted(busy(503, **{"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}), ok()))
    hook.get_batch("batch_1")
    assert waits == [0.0]


def test_retry_after_is_capped_at_retry_max_wait(openai, waits):
    hook, _ = openai(scripted(busy(429, **{"Retry-After": "3600"}), ok()), retry_max_wait=4)
    hook.get_batch("batch_1")
    assert waits == [4.0]


def test_an_unparseable_retry_after_falls_back_to_backoff(openai, waits):
    hook, wire = openai(scripted(busy(503, **{"Retry-After": "soon"}), ok()))
    hook.get_batch("batch_1")
    assert len(wire.requests) == 2
    assert len(waits) == 1 and 0 <= waits[0] <= 30.0


@pytest.mark.parametrize("value", ["-1", "-86400", "nan", "-inf"])
def test_a_negative_or_not_a_number_retry_after_falls_back_to_backoff_not_a_retry_at_once(
    openai, waits, monkeypatch, value
):
    monkeypatch.setattr(retry_module.random, "uniform", lambda low, high: high)  # the backoff's ceiling, not 0
    hook, wire = openai(scripted(busy(429, **{"Retry-After": value}), busy(429, **{"Retry-After": value}), ok()))
    hook.get_batch("batch_1")
    assert len(wire.requests) == 3
    assert waits == [0.5, 1.0]


def test_backoff_grows_exponentially_and_never_exceeds_retry_max_wait(openai, waits, monkeypatch):
    monkeypatch.setattr(retry_module.random, "uniform", lambda low, high: high)  # the worst jitter every time
    hook, wire = openai(scripted(*[busy()] * 7, ok()), max_retries=7, retry_max_wait=3)
    hook.get_batch("batch_1")
    assert waits == [0.5, 1.0, 2.0, 3.0, 3.0, 3.0, 3.0]
    assert (len(wire.requests), hook.retries) == (8, 7)


def test_jittered_backoff_stays_within_retry_max_wait(openai, waits):
    hook, _ = openai(scripted(*[busy()] * 10, ok()), max_retries=10, retry_max_wait=0.25)
    hook.get_batch("batch_1")
    assert len(waits) == 10
    assert all(0 <= wait <= 0.25 for wait in waits)


# --- what is not retried ------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
def test_a_non_transient_status_is_not_retried(openai, waits, status):
    hook, wire = openai(scripted(httpx.Response(status, json={"error": {"message": "no", "type": "t"}}), ok()))
    with pytest.raises(ProviderAPIError) as info:
        hook.get_batch("batch_1")
    assert info.value.http_status == status
    assert (len(wire.requests), hook.retries, waits) == (1, 0, [])


def test_max_retries_0_disables_retries(openai, waits):
    hook, wire = openai(scripted(busy(), ok()), max_retries=0)
    with pytest.raises(ProviderAPIError) as info:
        hook.get_batch("batch_1")
    assert info.value.http_status == 503
    assert (len(wire.requests), hook.retries, waits) == (1, 0, [])


def test_max_retries_bounds_the_tries_and_the_last_error_is_raised(openai, waits):
    hook, wire = openai(scripted(busy()), max_retries=2)
    with pytest.raises(ProviderAPIError) as info:
        hook.get_batch("batch_1")
    assert (info.value.http_status, info.value.message) == (503, "The server is overloaded")
    assert (len(wire.requests), hook.retries, len(waits)) == (3, 2, 2)


def test_retry_deadline_bounds_the_elapsed_time(openai, monkeypatch):
    clock = [0.0]  # not the real clock's reading: the request's start must be read from the patched clock too
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(time, "sleep", sleep)
    hook, wire = openai(scripted(busy(503, **{"Retry-After": "2"})), max_retries=50, retry_deadline=5)
    with pytest.raises(ProviderAPIError):
        hook.get_batch("batch_1")
    # Tries at t=0, 2, 4; a third wait would end at t=6, past the 5 s deadline.
    assert slept == [2.0, 2.0]
    assert len(wire.requests) == 3


def test_a_wait_that_would_pass_the_deadline_is_not_started(openai, waits):
    hook, wire = openai(scripted(busy(429, **{"Retry-After": "20"}), ok()), retry_deadline=10)
    with pytest.raises(ProviderAPIError):
        hook.get_batch("batch_1")
    assert (len(wire.requests), waits) == (1, [])


# --- connection errors --------------------------------------------------------------------------------


def test_a_connection_error_is_retried_for_a_get(openai, waits):
    hook, wire = openai(scripted(httpx.ConnectError("connection refused"), httpx.ReadTimeout("slow"), ok()))
    job = hook.get_batch("batch_1")
    assert job.name == "batch_1"
    assert (len(wire.requests), hook.retries, len(waits)) == (3, 2, 2)


def test_a_connection_error_that_persists_is_raised_as_is(openai, waits):
    hook, wire = openai(scripted(httpx.ConnectError("connection refused")), max_retries=1)
    with pytest.raises(httpx.ConnectError):
        hook.get_batch("batch_1")
    assert len(wire.requests) == 2


# --- non-idempotent creates vs retry-marked cancels -----------------------------------------------------


def test_a_create_answered_503_is_not_retried_by_the_driver(openai, waits):
    hook, wire = openai(scripted(busy(), ok()))
    with pytest.raises(ProviderAPIError) as info:
        hook.create_batch(CREATE)
    assert info.value.http_status == 503
    assert wire.paths() == [("POST", "/v1/batches")]
    assert (hook.retries, waits) == (0, [])


def test_a_create_whose_connection_fails_is_not_retried_by_the_driver(openai, waits):
    hook, wire = openai(scripted(httpx.ConnectError("reset"), ok()))
    with pytest.raises(httpx.ConnectError):
        hook.create_batch(CREATE)
    assert (len(wire.requests), hook.retries) == (1, 0)


def test_an_openai_upload_is_retried_and_resends_the_whole_file(openai, waits):
    hook, wire = openai(scripted(busy(), ok({"id": "file-1", "object": "file", "bytes": 3})))
    hook.upload_file(io.BytesIO(b"{}\n"))
    assert wire.paths() == [("POST", "/v1/files")] * 2
    assert all(b"{}\n" in request.content for request in wire.requests)
    assert hook.retries == 1


def test_cancel_is_a_post_marked_safe_to_retry_and_is_retried(openai, waits):
    hook, wire = openai(scripted(busy(), httpx.ConnectError("reset"), ok(batch("batch_1", "cancelling"))))
    hook.cancel_batch("batch_1")
    assert wire.paths() == [("POST", "/v1/batches/batch_1/cancel")] * 3
    assert hook.retries == 2


def _anthropic_batch() -> dict[str, Any]:
    return {"id": "msgbatch_1", "type": "message_batch", "processing_status": "canceling", "request_counts": {}}


def test_an_anthropic_poll_answered_529_overloaded_is_retried(anthropic, waits):
    overloaded = httpx.Response(529, json={"type": "error", "error": {"type": "overloaded_error", "message": "x"}})
    hook, wire = anthropic(scripted(overloaded, httpx.Response(200, json=_anthropic_batch())))

    assert hook.get_batch("msgbatch_1").name == "msgbatch_1"
    assert (len(wire.requests), hook.retries) == (2, 1)


def test_an_anthropic_overload_that_outlasts_the_retries_is_a_failure_a_wait_polls_through(anthropic, waits):
    overloaded = httpx.Response(529, json={"type": "error", "error": {"type": "overloaded_error", "message": "x"}})
    hook, _ = anthropic(scripted(overloaded), max_retries=1)

    with pytest.raises(ProviderAPIError) as caught:
        hook.get_batch("msgbatch_1")

    assert PollState("msgbatch_1", interval=60).failed(caught.value, 0).verdict is Verdict.WAIT


def test_anthropic_cancel_is_retried_and_its_create_is_not(anthropic, waits):
    overloaded = httpx.Response(529, json={"type": "error", "error": {"type": "overloaded_error", "message": "x"}})
    hook, wire = anthropic(scripted(busy(), httpx.Response(200, json=_anthropic_batch())))
    hook.cancel_batch("msgbatch_1")
    assert wire.paths() == [("POST", "/v1/messages/batches/msgbatch_1/cancel")] * 2

    hook, wire = anthropic(scripted(overloaded, httpx.Response(200, json=_anthropic_batch())))
    with pytest.raises(ProviderAPIError):
        hook.create_batch(
            BatchSpec(model="claude", display_name="d", source=InlineSource([{"custom_id": "a", "params": {}}]))
        )
    assert len(wire.requests) == 1


# --- the async driver ---------------------------------------------------------------------------------


async def test_async_get_retries_transient_statuses_the_same_way(openai, waits):
    hook, wire = openai(scripted(busy(), busy(429, **{"Retry-After": "0"}), ok(batch("batch_1", "finalizing"))))
    job = await hook.aget_batch("batch_1")
    assert job.state is JobState.RUNNING
    assert hook.retries == 2
    assert len(wire.requests) == 3
    assert len(waits) == 2 and waits[1] == 0.0


async def test_async_get_retries_a_connection_error(openai, waits):
    hook, wire = openai(scripted(httpx.ConnectError("refused"), ok()))
    await hook.aget_batch("batch_1")
    assert (len(wire.requests), hook.retries) == (2, 1)


async def test_async_non_transient_status_and_create_are_not_retried(openai, waits):
    hook, wire = openai(scripted(httpx.Response(400, json={"error": {"message": "bad", "type": "t"}})))
    with pytest.raises(ProviderAPIError):
        await hook.aget_batch("batch_1")
    hook2, wire2 = openai(scripted(busy(), ok()))
    with pytest.raises(ProviderAPIError):
        await hook2.arun(hook2._op_create_batch(CREATE))
    assert (len(wire.requests), len(wire2.requests), waits) == (1, 1, [])


async def test_async_max_retries_0_disables_retries(openai, waits):
    hook, wire = openai(scripted(busy(), ok()), max_retries=0)
    with pytest.raises(ProviderAPIError):
        await hook.aget_batch("batch_1")
    assert (len(wire.requests), waits) == (1, [])


async def test_async_cancel_is_retried(openai, waits):
    hook, wire = openai(scripted(busy(502), ok()))
    await hook.acancel_batch("batch_1")
    assert (len(wire.requests), hook.retries) == (2, 1)


async def test_async_backoff_never_exceeds_retry_max_wait(openai, waits, monkeypatch):
    monkeypatch.setattr(retry_module.random, "uniform", lambda low, high: high)
    hook, _ = openai(scripted(*[busy()] * 4, ok()), max_retries=4, retry_max_wait=1)
    await hook.aget_batch("batch_1")
    assert waits == [0.5, 1.0, 1.0, 1.0]


# --- a download broken mid-stream -----------------------------------------------------------------------

CONTENT = bytes(range(256)) * 4  # 1024 bytes


class BreakingStream(httpx.SyncByteStream):
    """A response body that serves ``data`` in ``chunk``-byte pieces and breaks after ``break_after`` bytes."""

    def __init__(self, data: bytes, break_after: int | None, chunk: int = 16) -> None:
        self.data, self.break_after, self.chunk = data, break_after, chunk

    def __iter__(self) -> Iterator[bytes]:
        sent = 0
        while sent < len(self.data):
            if self.break_after is not None and sent >= self.break_after:
                raise httpx.ReadError("connection reset by peer")
            piece = self.data[sent : sent + self.chunk]
            sent += len(piece)
            yield piece
        if self.break_after is not None and sent <= self.break_after:
            raise httpx.ReadError("connection reset by peer")


def ranged_server(breaks: list[int | None], honour_range: bool) -> Any:
    """A file-content endpoint: each answer breaks after the next count in ``breaks`` (None: does not)."""

    def handler(request: httpx.Request) -> httpx.Response:
        brk = breaks.pop(0) if breaks else None
        header = request.headers.get("range")
        if header and honour_range:
            start = int(header.removeprefix("bytes=").removesuffix("-"))
            rest = CONTENT[start:]
            headers = {"content-range": f"bytes {start}-{len(CONTENT) - 1}/{len(CONTENT)}"}
            return httpx.Response(206, stream=BreakingStream(rest, brk), headers=headers)
        return httpx.Response(200, stream=BreakingStream(CONTENT, brk))

    return handler


@pytest.mark.parametrize("honour_range", [True, False], ids=["206-partial", "200-range-ignored"])
def test_a_download_broken_mid_stream_resumes_with_range_and_delivers_every_byte_once(openai, waits, honour_range):
    hook, wire = openai(ranged_server([320, None], honour_range))
    sink = io.BytesIO()
    written = hook.download_file("file-out", sink, chunk_size=16)

    assert sink.getvalue() == CONTENT
    assert written == len(CONTENT)
    assert wire.paths() == [("GET", "/v1/files/file-out/content")] * 2
    assert "range" not in wire.requests[0].headers
    assert wire.requests[1].headers["range"] == "bytes=320-"
    assert all(r.headers["authorization"].startswith("Bearer ") for r in wire.requests)
    assert hook.retries == 1
    assert waits == []


@pytest.mark.parametrize("honour_range", [True, False], ids=["206-partial", "200-range-ignored"])
def test_a_download_broken_several_times_asks_for_what_is_still_missing_each_time(openai, waits, honour_range):
    # With Range honoured the later breaks count from the resumed offset; without, from the start.
    breaks = [100, 200, None] if honour_range else [100, 300, None]
    hook, wire = openai(ranged_server(breaks, honour_range))
    chunks = list(hook.iter_file_bytes("file-out", chunk_size=16))

    assert b"".join(chunks) == CONTENT
    expected = ["bytes=112-", "bytes=320-"] if honour_range else ["bytes=112-", "bytes=304-"]
    assert [r.headers.get("range") for r in wire.requests] == [None, *expected]
    assert hook.retries == 2


LINES = b"".join(b'{"custom_id": "k%d", "response": {"status_code": 200}}\n' % i for i in range(400))
"""A results file that compresses well: its gzip body is a small fraction of its own length."""


def gzip_server(breaks: list[int | None], *, honours_identity: bool = True, plain_first: bool = False) -> Any:
    """A file-content endpoint that sends ``LINES`` gzip-coded unless asked for ``Accept-Encoding: identity`` (or,
    with ``plain_first``, on the first request), a ``Range`` counting the bytes of the body it sends (as HTTP ranges
    do); each answer breaks after the next count in ``breaks`` of those bytes (None: does not)."""
    answered: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        brk = breaks.pop(0) if breaks else None
        asked_identity = request.headers.get("accept-encoding") == "identity"
        identity = (plain_first and not answered) or (honours_identity and asked_identity)
        answered.append(request)
        body, headers = (LINES, {}) if identity else (gzip.compress(LINES), {"content-encoding": "gzip"})
        header = request.headers.get("range")
        if header:
            start = int(header.removeprefix("bytes=").removesuffix("-"))
            if start >= len(body):
                return httpx.Response(416, headers={"content-range": f"bytes */{len(body)}"})
            headers["content-range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
            return httpx.Response(206, stream=BreakingStream(body[start:], brk), headers=headers)
        return httpx.Response(200, stream=BreakingStream(body, brk), headers=headers)

    return handler


def test_a_compressed_download_broken_mid_stream_is_read_again_whole_and_delivers_every_byte_once(openai, waits):
    coded = len(gzip.compress(LINES))
    hook, wire = openai(gzip_server([coded // 2, None]))

    chunks = list(hook.iter_file_bytes("file-out", chunk_size=16))

    assert b"".join(chunks) == LINES
    assert [r.headers.get("range") for r in wire.requests] == [None, None]  # bytes delivered are no offset in gzip
    assert hook.retries == 1


def test_a_resume_answered_with_a_compressed_slice_reads_the_whole_file_again(openai, waits):
    hook, wire = openai(gzip_server([320, None, None], honours_identity=False, plain_first=True))

    assert b"".join(hook.iter_file_bytes("file-out", chunk_size=16)) == LINES
    assert [r.headers.get("range") for r in wire.requests] == [None, "bytes=320-", None]


def test_a_resume_asks_for_the_file_as_it_is_so_its_range_counts_the_files_own_bytes(openai, waits):
    hook, wire = openai(gzip_server([320, None], plain_first=True))

    assert b"".join(hook.iter_file_bytes("file-out", chunk_size=16)) == LINES
    assert wire.requests[1].headers["range"] == "bytes=320-"
    assert wire.requests[1].headers["accept-encoding"] == "identity"


@pytest.mark.parametrize("coding", ["br", "zstd", "gzip, br", "x-custom"])
def test_a_download_in_a_coding_the_client_does_not_decode_fails_rather_than_land_its_bytes(openai, waits, coding):
    coded = httpx.ByteStream(b"\x1b\x8f\x00coded")  # a stream: a Response given content decodes it at once
    hook, wire = openai(lambda request: httpx.Response(200, stream=coded, headers={"content-encoding": coding}))

    with pytest.raises(GenAIBatchError, match=rf"file-out was answered with Content-Encoding '{coding}', which this"):
        b"".join(hook.iter_file_bytes("file-out"))

    assert wire.requests[0].headers["accept-encoding"] == "gzip, deflate"


@pytest.mark.parametrize("coding", ["gzip", "GZIP", "deflate", "identity", ""])
def test_a_download_in_a_coding_the_client_asked_for_is_decoded(openai, waits, coding):
    coded = {"gzip": gzip.compress, "GZIP": gzip.compress, "deflate": zlib.compress}.get(coding, bytes)(LINES)
    hook, _ = openai(lambda request: httpx.Response(200, content=coded, headers={"content-encoding": coding}))

    assert b"".join(hook.iter_file_bytes("file-out")) == LINES


def test_a_break_inside_a_results_line_yields_each_row_exactly_once(openai, waits):
    # 20 lines of ~110 kB: iter_results reads 1 MiB chunks, so the break after ~1.3 MB falls after one
    # whole chunk was delivered and in the middle of a line.
    lines = b"".join(
        json.dumps(
            {"custom_id": f"k{i}", "response": None, "error": {"code": "batch_expired", "message": "x" * 110_000}}
        ).encode()
        + b"\n"
        for i in range(20)
    )

    def handler(request: httpx.Request) -> httpx.Response:
        if "range" not in request.headers:
            return httpx.Response(200, stream=BreakingStream(lines, break_after=1_300_000, chunk=65536))
        start = int(request.headers["range"].removeprefix("bytes=").removesuffix("-"))
        return httpx.Response(206, content=lines[start:])

    hook, wire = openai(handler)
    job = parse_batch({**batch("b", "expired"), "error_file_id": "file-err"})
    rows = list(hook.iter_results(job))

    assert [r.key for r in rows] == [f"k{i}" for i in range(20)]
    assert {r.status for r in rows} == {RowStatus.EXPIRED}
    assert [r.headers.get("range") for r in wire.requests] == [None, f"bytes={1 << 20}-"]


def slice_server(first_break: int, start_of: Any, headers: Any = lambda n: {}) -> Any:
    """A file-content endpoint whose first answer (whole, with ``headers(0)``) breaks after ``first_break`` bytes
    and whose resumes answer 206 from ``start_of(asked)`` with ``headers(n)`` for the n-th request."""
    answered: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        answered.append(request)
        if "range" not in request.headers:
            return httpx.Response(200, stream=BreakingStream(CONTENT, first_break), headers=headers(0))
        start = start_of(int(request.headers["range"].removeprefix("bytes=").removesuffix("-")))
        content_range = {"content-range": f"bytes {start}-{len(CONTENT) - 1}/{len(CONTENT)}"}
        return httpx.Response(206, content=CONTENT[start:], headers={**content_range, **headers(len(answered) - 1)})

    return handler


def test_a_resume_answered_from_before_the_offset_asked_delivers_every_byte_once(openai, waits):
    hook, wire = openai(slice_server(320, lambda asked: asked - 100))
    assert b"".join(hook.iter_file_bytes("file-out", chunk_size=16)) == CONTENT
    assert wire.requests[1].headers["range"] == "bytes=320-"


def test_a_resume_answered_from_after_the_offset_asked_fails_rather_than_leave_a_hole(openai, waits):
    hook, _ = openai(slice_server(320, lambda asked: asked + 100))
    with pytest.raises(GenAIBatchError, match="asked for its bytes from 320 and answered bytes from 420"):
        b"".join(hook.iter_file_bytes("file-out", chunk_size=16))


def test_a_file_whose_etag_changed_between_answers_fails_as_changed(openai, waits):
    hook, _ = openai(slice_server(320, lambda asked: asked, lambda n: {"etag": f'"v{n}"'}))
    with pytest.raises(GenAIBatchError, match='changed while it was read: its version was "v0" and is "v1" after 320'):
        b"".join(hook.iter_file_bytes("file-out", chunk_size=16))


def test_a_file_whose_size_changed_between_answers_fails_as_changed(openai, waits):
    def handler(request: httpx.Request) -> httpx.Response:
        if "range" not in request.headers:
            return httpx.Response(200, stream=BreakingStream(CONTENT, 320), headers={"content-length": "1024"})
        return httpx.Response(206, content=CONTENT[320:900], headers={"content-range": "bytes 320-899/900"})

    hook, _ = openai(handler)
    with pytest.raises(GenAIBatchError, match="its size was 1024 and is 900 after 320 bytes"):
        b"".join(hook.iter_file_bytes("file-out", chunk_size=16))


def test_a_file_whose_etag_stays_the_same_resumes(openai, waits):
    hook, _ = openai(slice_server(320, lambda asked: asked, lambda n: {"etag": '"v0"'}))
    assert b"".join(hook.iter_file_bytes("file-out", chunk_size=16)) == CONTENT


def test_a_download_through_more_breaks_than_max_retries_ends_while_each_delivers_bytes(openai, waits):
    def handler(request: httpx.Request) -> httpx.Response:
        start = int(request.headers.get("range", "bytes=0-").removeprefix("bytes=").removesuffix("-"))
        content_range = {"content-range": f"bytes {start}-{len(CONTENT) - 1}/{len(CONTENT)}"} if start else {}
        rest = CONTENT[start:]
        breaking = BreakingStream(rest, 128 if len(rest) > 128 else None)
        return httpx.Response(206 if start else 200, stream=breaking, headers=content_range)

    hook, wire = openai(handler, max_retries=2)
    assert b"".join(hook.iter_file_bytes("file-out", chunk_size=16)) == CONTENT
    assert len(wire.requests) == len(CONTENT) // 128  # seven breaks, two retries allowed


def test_a_download_that_keeps_breaking_gives_up_after_max_retries(openai, waits):
    hook, wire = openai(lambda request: httpx.Response(200, stream=BreakingStream(CONTENT, 64)), max_retries=2)
    with pytest.raises(httpx.ReadError):
        hook.download_file("file-out", io.BytesIO(), chunk_size=16)
    assert len(wire.requests) == 3


def test_a_download_answered_503_first_is_retried_before_streaming(openai, waits):
    responses = [busy(), httpx.Response(200, content=CONTENT)]
    hook, wire = openai(lambda request: responses.pop(0))
    assert b"".join(hook.iter_file_bytes("file-out")) == CONTENT
    assert len(wire.requests) == 2
    assert "range" not in wire.requests[1].headers


def test_a_break_after_the_last_byte_ends_the_download_on_416(openai, waits):
    def handler(request: httpx.Request) -> httpx.Response:
        if "range" in request.headers:
            return httpx.Response(416, headers={"content-range": f"bytes */{len(CONTENT)}"})
        return httpx.Response(200, stream=BreakingStream(CONTENT, len(CONTENT)))

    hook, wire = openai(handler)
    assert b"".join(hook.iter_file_bytes("file-out", chunk_size=16)) == CONTENT
    assert wire.requests[1].headers["range"] == f"bytes={len(CONTENT)}-"


def test_a_slice_that_ends_before_its_content_range_end_is_resumed_not_taken_as_the_end(openai, waits):
    def handler(request: httpx.Request) -> httpx.Response:
        start = int(request.headers.get("range", "bytes=0-").removeprefix("bytes=").removesuffix("-"))
        if not start:
            return httpx.Response(200, stream=BreakingStream(CONTENT, 320), headers={"content-length": "1024"})
        stop = 600 if start == 320 else len(CONTENT)  # a Content-Length shorter than the range it names
        content_range = {"content-range": f"bytes {start}-{len(CONTENT) - 1}/{len(CONTENT)}"}
        return httpx.Response(206, content=CONTENT[start:stop], headers=content_range)

    hook, wire = openai(handler)
    assert b"".join(hook.iter_file_bytes("file-out", chunk_size=16)) == CONTENT
    assert [r.headers.get("range") for r in wire.requests] == [None, "bytes=320-", "bytes=600-"]


def test_a_slice_that_keeps_ending_short_fails_after_max_retries(openai, waits):
    def handler(request: httpx.Request) -> httpx.Response:
        if "range" not in request.headers:
            return httpx.Response(200, stream=BreakingStream(CONTENT, 320), headers={"content-length": "1024"})
        return httpx.Response(206, content=b"", headers={"content-range": f"bytes 320-1023/{len(CONTENT)}"})

    hook, wire = openai(handler, max_retries=2)
    with pytest.raises(httpx.RemoteProtocolError, match="slice ended at byte 320 of the 1024 its Content-Range names"):
        b"".join(hook.iter_file_bytes("file-out", chunk_size=16))
    assert len(wire.requests) == 3


HTTP_1_1 = {"http_version": b"HTTP/1.1"}
"""What a response read off an HTTP/1.1 connection says of itself."""


def test_a_body_only_a_close_ends_is_followed_by_a_range_request_that_finds_the_rest(openai, waits):
    def handler(request: httpx.Request) -> httpx.Response:
        if "range" not in request.headers:  # no Content-Length, not chunked: cut at 320, it looks whole
            return httpx.Response(200, stream=httpx.ByteStream(CONTENT[:320]), extensions=HTTP_1_1)
        content_range = {"content-range": f"bytes 320-{len(CONTENT) - 1}/{len(CONTENT)}"}
        return httpx.Response(206, content=CONTENT[320:], headers=content_range, extensions=HTTP_1_1)

    hook, wire = openai(handler)
    assert b"".join(hook.iter_file_bytes("file-out", chunk_size=16)) == CONTENT
    assert [r.headers.get("range") for r in wire.requests] == [None, "bytes=320-"]


def test_a_body_only_a_close_ends_is_whole_when_what_follows_it_is_nothing(openai, waits):
    def handler(request: httpx.Request) -> httpx.Response:
        if "range" in request.headers:
            return httpx.Response(416, headers={"content-range": f"bytes */{len(CONTENT)}"}, extensions=HTTP_1_1)
        return httpx.Response(200, stream=httpx.ByteStream(CONTENT), extensions=HTTP_1_1)

    hook, wire = openai(handler)
    assert b"".join(hook.iter_file_bytes("file-out", chunk_size=16)) == CONTENT
    assert [r.headers.get("range") for r in wire.requests] == [None, f"bytes={len(CONTENT)}-"]


def test_a_body_only_a_close_ends_from_a_server_ignoring_ranges_ends_when_a_second_read_adds_nothing(openai, waits):
    hook, wire = openai(lambda request: httpx.Response(200, stream=httpx.ByteStream(CONTENT), extensions=HTTP_1_1))
    assert b"".join(hook.iter_file_bytes("file-out", chunk_size=16)) == CONTENT
    assert len(wire.requests) == 2


def test_a_framed_body_is_not_asked_for_again(openai, waits):
    hook, wire = openai(lambda request: httpx.Response(200, content=CONTENT, extensions=HTTP_1_1))
    assert b"".join(hook.iter_file_bytes("file-out", chunk_size=16)) == CONTENT
    assert len(wire.requests) == 1


def test_a_body_only_a_close_ends_cut_on_a_real_connection_is_completed_with_a_range_request(monkeypatch, waits):
    """httpx reads a body without Content-Length or chunking to the connection's close: a cut one looks whole."""
    heads: list[bytes] = []
    answers = [
        b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n" + CONTENT[:320],
        b"HTTP/1.1 206 Partial Content\r\ncontent-range: bytes 320-1023/1024\r\ncontent-length: 704\r\n\r\n"
        + CONTENT[320:],
    ]
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        for answer in answers:
            peer, _ = server.accept()
            with peer:
                heads.append(peer.recv(65536))
                peer.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{server.getsockname()[1]}/v1"
    monkeypatch.setenv(
        "AIRFLOW_CONN_CLOSE_DELIMITED", json.dumps({"conn_type": "genaiopenai", "host": base_url, "password": "k"})
    )
    with server:
        data = b"".join(OpenAIBatchHook(conn_id="close_delimited").iter_file_bytes("file-out"))
    thread.join(5)

    assert data == CONTENT
    assert [b"range: bytes=320-" in head.lower() for head in heads] == [False, True]


# --- the server's Retry-After, once a poll gives up ------------------------------------------------------------------


def test_a_poll_given_up_on_a_retry_after_longer_than_its_interval_waits_as_long_as_asked(openai, waits):
    hook, _ = openai(scripted(busy(429, **{"Retry-After": "600"})), retry_deadline=10)
    with pytest.raises(ProviderAPIError) as caught:
        hook.get_batch("batch_1")

    decision = PollState("batch_1", interval=60).failed(caught.value, 0)

    assert (decision.verdict, decision.delay) == (Verdict.WAIT, 600.0)


def test_a_retry_after_shorter_than_the_poll_interval_keeps_the_interval(openai, waits):
    hook, _ = openai(scripted(busy(503, **{"Retry-After": "20"})), retry_deadline=10)
    with pytest.raises(ProviderAPIError) as caught:
        hook.get_batch("batch_1")

    assert PollState("batch_1", interval=60).failed(caught.value, 0).delay == 60.0


def test_a_retry_after_past_the_deadline_waits_only_until_the_deadline(openai, waits):
    hook, _ = openai(scripted(busy(429, **{"Retry-After": "600"})), retry_deadline=10)
    with pytest.raises(ProviderAPIError) as caught:
        hook.get_batch("batch_1")

    assert PollState("batch_1", interval=60, deadline=100).failed(caught.value, 0).delay == 100.0
