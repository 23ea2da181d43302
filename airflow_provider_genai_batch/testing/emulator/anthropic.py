"""Router emulating Anthropic's Message Batches API, mounted at /anthropic (clients use `<emulator>/anthropic`).

The wire format follows shared/reference/openai_anthropic.md §2: requests travel inline in the create
body (read from a stream, never whole), MessageBatch objects carry RFC 3339 timestamps and counts that
stay in `processing` until the batch ends, errors use `{"type": "error", "error": {type, message}}`,
listings page with after_id/before_id, and results are one JSONL stream at `results_url`, in a
shuffled order: clients must join on custom_id. There is no job-level failure: request params are
validated per request while the batch runs and bad ones end `errored`.
"""

from __future__ import annotations

import codecs
import json
import re
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

import msgspec
from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, JSONResponse, Response

from airflow_provider_genai_batch.testing.emulator import progress, responses
from airflow_provider_genai_batch.testing.emulator.store import (
    EmulatorError,
    JobRecord,
    JobResults,
    LineWriter,
    Phase,
    StateDep,
    Store,
    StoredFile,
)

PROVIDER = "anthropic"
BATCH_WINDOW_SECONDS = 24 * 3600
MAX_REQUESTS = 100_000
MAX_BODY_BYTES = 256 * 1024 * 1024
DEFAULT_PAGE = 20
MAX_PAGE = 1000
READ_CHUNK = 1024 * 1024
ID_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
"""Base58: the alphabet of Anthropic's ids after their `01` prefix."""
CUSTOM_ID_PATTERN = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
KNOWN_VERSIONS = frozenset({"2023-01-01", "2023-06-01", "2026-10-21"})
STRICT_BATCH_VERSION = "2026-10-21"
"""From this version on, requests inside a batch may not set sampling parameters."""
SAMPLING_PARAMS = ("temperature", "top_p", "top_k")
WHITESPACE = " \t\r\n"
EMULATED_FAILURE_MESSAGE = "Internal server error (emulated failure: job_outcome is 'fail')."


class AnthropicError(EmulatorError):
    """An error in Anthropic's envelope: {"type": "error", "error": {"type", "message"}, "request_id"}."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        """Remember the HTTP status, the error type and the message."""
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message

    def response(self) -> Response:
        """The JSON error response, with its request id in the body and the `request-id` header."""
        request_id = new_request_id()
        body = {
            "type": "error",
            "error": {"type": self.error_type, "message": self.message},
            "request_id": request_id,
        }
        return JSONResponse(body, status_code=self.status, headers={"request-id": request_id})


def invalid_request(message: str) -> AnthropicError:
    """A 400 invalid_request_error."""
    return AnthropicError(400, "invalid_request_error", message)


def not_found(batch_id: str) -> AnthropicError:
    """What the emulator answers for an unknown (or deleted) batch."""
    return AnthropicError(404, "not_found_error", f"Message batch {batch_id} not found.")


def too_large() -> AnthropicError:
    """What the API answers for a body over 256 MB."""
    return AnthropicError(413, "request_too_large", "Request exceeds the maximum allowed number of bytes.")


def random_id(prefix: str) -> str:
    """An id such as `msgbatch_01` followed by 22 random base58 characters."""
    return prefix + "01" + "".join(secrets.choice(ID_ALPHABET) for _ in range(22))


def new_request_id() -> str:
    """A random `req_…` id."""
    return random_id("req_")


def rfc3339(moment: float | None) -> str | None:
    """Epoch seconds as an RFC 3339 UTC timestamp with microseconds, or None."""
    if moment is None:
        return None
    return datetime.fromtimestamp(moment, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# Auth and version


def require_auth(request: Request, state: StateDep) -> None:
    """`x-api-key` or `Authorization: Bearer` (SDK 2.x) must carry the key; `anthropic-version` is required."""
    key = request.headers.get("x-api-key")
    via_bearer = False
    if not key:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            key = token.strip()
            via_bearer = True
    if not key:
        raise AnthropicError(401, "authentication_error", "x-api-key header is required")
    expected = state.config.api_key
    if expected is not None and key != expected:
        message = "invalid bearer token" if via_bearer else "invalid x-api-key"
        raise AnthropicError(401, "authentication_error", message)
    version = request.headers.get("anthropic-version")
    if not version:
        raise invalid_request("anthropic-version: header is required")
    if version not in KNOWN_VERSIONS:
        raise invalid_request(f"anthropic-version: unknown version '{version}'")


# Streaming read of the create body


class JsonStream:
    """Reads JSON values one at a time from a UTF-8 file, holding only the current value in memory."""

    def __init__(self, handle: BinaryIO, chunk_size: int = READ_CHUNK) -> None:
        """Read from an open binary file."""
        self.handle = handle
        self.chunk_size = chunk_size
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.parser = json.JSONDecoder()
        self.buffer = ""
        self.pos = 0
        self.eof = False

    def _fill(self, size: int) -> bool:
        """Append up to `size` more bytes (decoded) to the buffer, dropping what was consumed; False at EOF."""
        if self.eof:
            return False
        data = self.handle.read(size)
        if self.pos:
            self.buffer = self.buffer[self.pos :]
            self.pos = 0
        if not data:
            self.buffer += self.decoder.decode(b"", final=True)
            self.eof = True
            return False
        self.buffer += self.decoder.decode(data)
        return True

    def peek(self) -> str:
        """The next non-blank character, not consumed ("" at the end of the input)."""
        while True:
            while self.pos < len(self.buffer) and self.buffer[self.pos] in WHITESPACE:
                self.pos += 1
            if self.pos < len(self.buffer):
                return self.buffer[self.pos]
            if not self._fill(self.chunk_size):
                return ""

    def take(self, expected: str) -> None:
        """Consume the next non-blank character, which must be `expected`."""
        found = self.peek()
        if found != expected:
            raise ValueError(f"expected {expected!r} but found {found or 'the end of the body'!r}")
        self.pos += 1

    def value(self) -> Any:
        """Decode the next JSON value, reading more of the file as long as it is incomplete."""
        self.peek()
        size = self.chunk_size
        while True:
            try:
                value, end = self.parser.raw_decode(self.buffer, self.pos)
            except json.JSONDecodeError:
                if not self._fill(size):
                    raise
                size *= 2
                continue
            # A number at the very end of the buffer may continue in the next chunk.
            at_edge = end == len(self.buffer) and not self.eof and isinstance(value, (int, float))
            if at_edge and self._fill(size):
                continue
            self.pos = end
            return value


@dataclass
class RequestsSummary:
    """What the create body held: how many requests, and their model (the first one's, "" for none)."""

    count: int = 0
    model: str = ""


def read_requests(body_path: Path, input_path: Path) -> RequestsSummary:
    """Validate a create body `{"requests": [...]}` streamed from disk; write its requests as JSONL.

    Raises AnthropicError (400) for the problems the API rejects at creation: a malformed body,
    unknown fields, an empty or oversized list, a bad or repeated custom_id, params not an object.
    """
    summary = RequestsSummary()
    seen: set[str] = set()
    found_requests = False
    try:
        with body_path.open("rb") as handle, LineWriterClosing(input_path) as writer:
            stream = JsonStream(handle)
            stream.take("{")
            if stream.peek() == "}":
                stream.take("}")
            else:
                while True:
                    key = stream.value()
                    stream.take(":")
                    if key != "requests":
                        raise invalid_request(f"{key}: Extra inputs are not permitted")
                    if found_requests:
                        raise invalid_request("requests: the field is given more than once")
                    found_requests = True
                    read_request_list(stream, writer, seen, summary)
                    if stream.peek() != ",":
                        stream.take("}")
                        break
                    stream.take(",")
            if stream.peek() != "":
                raise ValueError("unexpected data after the JSON body")
    except (ValueError, UnicodeDecodeError) as exc:
        raise invalid_request(f"There was an error parsing the body of your request: {exc}") from exc
    if not found_requests:
        raise invalid_request("requests: Field required")
    if summary.count == 0:
        raise invalid_request("requests: List should have at least 1 item after validation, not 0")
    return summary


class LineWriterClosing(LineWriter):
    """A LineWriter usable as a context manager."""

    def __enter__(self) -> LineWriterClosing:
        """Return the open writer."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Close the file."""
        self.close()


def read_request_list(stream: JsonStream, writer: LineWriter, seen: set[str], summary: RequestsSummary) -> None:
    """Read the `requests` array one item at a time, validating and writing each."""
    if stream.peek() != "[":
        raise invalid_request("requests: Input should be a valid list")
    stream.take("[")
    if stream.peek() == "]":
        stream.take("]")
        return
    while True:
        item = stream.value()
        if summary.count >= MAX_REQUESTS:
            raise invalid_request(f"requests: List should have at most {MAX_REQUESTS} items after validation")
        request = check_request(item, summary.count, seen)
        writer.write(msgspec.json.encode(request))
        summary.count += 1
        model = request["params"].get("model")
        if not summary.model and isinstance(model, str):
            summary.model = model
        separator = stream.peek()
        if separator == "]":
            stream.take("]")
            return
        stream.take(",")


def check_request(item: Any, index: int, seen: set[str]) -> dict[str, Any]:
    """Validate one `{custom_id, params}` item at creation time."""
    path = f"requests.{index}"
    if not isinstance(item, dict):
        raise invalid_request(f"{path}: Input should be a valid dictionary")
    for key in item:
        if key not in ("custom_id", "params"):
            raise invalid_request(f"{path}.{key}: Extra inputs are not permitted")
    custom_id = item.get("custom_id")
    if custom_id is None:
        raise invalid_request(f"{path}.custom_id: Field required")
    if not isinstance(custom_id, str) or not CUSTOM_ID_PATTERN.match(custom_id):
        raise invalid_request(f"{path}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'")
    if custom_id in seen:
        raise invalid_request(
            f"{path}.custom_id: Duplicate custom_id '{custom_id}'; each request in a batch needs a unique custom_id."
        )
    seen.add(custom_id)
    params = item.get("params")
    if params is None:
        raise invalid_request(f"{path}.params: Field required")
    if not isinstance(params, dict):
        raise invalid_request(f"{path}.params: Input should be a valid dictionary")
    return {"custom_id": custom_id, "params": params}


# Answering requests


@dataclass
class AnthropicResults(JobResults):
    """A finished batch's results file and its per-type counts (succeeded/failed are in JobResults)."""

    canceled: int = 0
    expired: int = 0


def params_problem(params: dict[str, Any], version: str) -> str | None:
    """Why the Messages API would reject these params (checked while the batch runs), or None."""
    model = params.get("model")
    if model is None:
        return "model: Field required"
    if not isinstance(model, str) or not model:
        return "model: Input should be a valid string"
    max_tokens = params.get("max_tokens")
    if max_tokens is None:
        return "max_tokens: Field required"
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        return "max_tokens: Input should be a positive integer"
    messages = params.get("messages")
    if messages is None:
        return "messages: Field required"
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            return f"messages.{index}.role: Input should be 'user' or 'assistant'"
    if params.get("stream"):
        return "stream: Streaming is not supported in Message Batches"
    if version >= STRICT_BATCH_VERSION:
        for name in SAMPLING_PARAMS:
            if name in params:
                return f"{name}: Extra inputs are not permitted for requests in a Message Batch"
    return None


def errored(custom_id: str, seed: str, error_type: str, message: str) -> dict[str, Any]:
    """An `errored` result line."""
    return {
        "custom_id": custom_id,
        "result": {
            "type": "errored",
            "error": {
                "type": "error",
                "error": {"type": error_type, "message": message},
                "request_id": "req_01" + responses.stable_token("req:" + seed, 22, ID_ALPHABET),
            },
        },
    }


def answer(custom_id: str, params: dict[str, Any], seed: str, version: str) -> dict[str, Any]:
    """One request's result line: `succeeded` with a Message, or `errored`."""
    problem = params_problem(params, version)
    if problem is not None:
        return errored(custom_id, seed, "invalid_request_error", problem)
    turns = [(str(m.get("role")), responses.content_text(m.get("content"))) for m in params["messages"]]
    outcome = responses.generate_from_turns(turns, context=[responses.content_text(params.get("system"))])
    if isinstance(outcome, responses.RowError):
        error_type = "api_error" if outcome.code >= 500 else "invalid_request_error"
        return errored(custom_id, seed, error_type, outcome.message)
    outcome, cut = responses.limit_tokens(outcome, params["max_tokens"])
    message = {
        "id": "msg_01" + responses.stable_token("msg:" + seed, 22, ID_ALPHABET),
        "type": "message",
        "role": "assistant",
        "model": params["model"],
        "content": [{"type": "text", "text": outcome.text}],
        "stop_reason": "max_tokens" if cut else "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": outcome.prompt_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": outcome.completion_tokens,
            "service_tier": "batch",
        },
    }
    return {"custom_id": custom_id, "result": {"type": "succeeded", "message": message}}


def materialise(
    job: JobRecord,
    store: Store,
    *,
    done: int | None = None,
    stop_type: str | None = None,
    fail_message: str | None = None,
) -> AnthropicResults:
    """Write a batch's results in processing order.

    The first `done` requests (all when None) are answered, the others end `stop_type` (canceled or
    expired); with `fail_message`, every request ends errored with an api_error.
    """
    if job.input_path is None:
        raise ValueError(f"batch {job.job_id} has no input")
    # A fresh name per run: a success run discarded by a late cancel deletes only its own file.
    file_id = f"{job.job_id}-results-{secrets.token_hex(4)}"
    path = store.file_path(PROVIDER, file_id)
    writer = LineWriter(path)
    counts = {"succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
    version = str(job.extra.get("version", STRICT_BATCH_VERSION))
    try:
        for position, (_, line) in enumerate(progress.shuffled_lines(job.input_path, job.job_id)):
            entry = msgspec.json.decode(line)
            custom_id = entry["custom_id"]
            seed = f"{job.job_id}:{custom_id}"
            if fail_message is not None:
                row = errored(custom_id, seed, "api_error", fail_message)
            elif done is not None and position >= done and stop_type is not None:
                row = {"custom_id": custom_id, "result": {"type": stop_type}}
            else:
                row = answer(custom_id, entry["params"], seed, version)
            counts[row["result"]["type"]] += 1
            writer.write(msgspec.json.encode(row))
    finally:
        digest = writer.close()
    record = StoredFile(
        provider=PROVIDER,
        file_id=file_id,
        display_name=None,
        mime_type="application/x-jsonl",
        size_bytes=writer.size,
        sha256=digest,
        created=time.time(),
        source="GENERATED",
        path=path,
    )
    return AnthropicResults(
        succeeded=counts["succeeded"],
        failed=counts["errored"],
        file=record,
        canceled=counts["canceled"],
        expired=counts["expired"],
    )


# Batch lifecycle


def ended(job: JobRecord, phase: Phase, now: float, *, wait: bool) -> bool:
    """Whether the batch has ended (its results exist); starts the results of a stopped batch."""
    if phase is Phase.SUCCEEDED:
        return job.results is not None
    if phase in (Phase.PENDING, Phase.RUNNING):
        return False
    store: Store = job.extra["store"]
    if phase is Phase.CANCELLED:
        end = progress.cancel_end(job) or now
        if now < end:
            return False
        produce = partial(materialise, job, store, done=progress.processed_by(job, end), stop_type="canceled")
    elif phase is Phase.EXPIRED:
        produce = partial(materialise, job, store, done=progress.expired_done(job), stop_type="expired")
    else:
        produce = partial(materialise, job, store, fail_message=job.failure or EMULATED_FAILURE_MESSAGE)
    return progress.finish_stopped(job, store, produce, wait=wait)


def processing_status(job: JobRecord, phase: Phase, now: float, *, wait: bool = False) -> str:
    """in_progress, canceling or ended."""
    if ended(job, phase, now, wait=wait):
        return "ended"
    return "canceling" if job.cancelled_at is not None else "in_progress"


def observe(store: Store, job: JobRecord) -> tuple[Phase, str]:
    """The store's phase and the processing status now (blocking: run it in a thread)."""
    phase = store.observe(job)
    status = processing_status(job, phase, time.time(), wait=True)
    if status != "ended" and progress.stop_worker_failed(job):
        raise AnthropicError(500, "api_error", job.failure or "The emulator failed to produce results.")
    return phase, status


def ended_at(job: JobRecord, phase: Phase) -> float | None:
    """When processing ended."""
    if phase is Phase.CANCELLED:
        return progress.cancel_end(job)
    if phase is Phase.SUCCEEDED and job.results is not None:
        return max(job.timer_end, job.results.ready_at)
    return job.timer_end


def render_batch(job: JobRecord, phase: Phase, status: str, base_url: str) -> dict[str, Any]:
    """A MessageBatch on the wire."""
    counts = {"processing": job.request_count, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
    results = job.results if isinstance(job.results, AnthropicResults) else None
    is_ended = status == "ended" and results is not None
    if is_ended and results is not None:
        counts = {
            "processing": 0,
            "succeeded": results.succeeded,
            "errored": results.failed,
            "canceled": results.canceled,
            "expired": results.expired,
        }
    return {
        "id": job.job_id,
        "type": "message_batch",
        "processing_status": status,
        "request_counts": counts,
        "ended_at": rfc3339(ended_at(job, phase)) if is_ended else None,
        "created_at": rfc3339(job.created),
        "expires_at": rfc3339(job.created + BATCH_WINDOW_SECONDS),
        "cancel_initiated_at": rfc3339(job.cancelled_at),
        "archived_at": None,
        "results_url": f"{base_url}anthropic/v1/messages/batches/{job.job_id}/results" if is_ended else None,
    }


def control_state_name(job: JobRecord, phase: Phase) -> str:
    """The status shown by /_emulator/jobs (never waits; may start a stopped batch's results)."""
    return processing_status(job, phase, time.time())


def lookup_batch(store: Store, batch_id: str) -> JobRecord:
    """A live batch by id, or 404."""
    job = store.get_job(batch_id)
    if job is None or job.provider != PROVIDER:
        raise not_found(batch_id)
    return job


def parse_limit(request: Request) -> int:
    """`limit`: 1..1000, default 20."""
    raw = request.query_params.get("limit")
    if raw is None or raw == "":
        return DEFAULT_PAGE
    try:
        value = int(raw)
    except ValueError as exc:
        raise invalid_request("limit: Input should be a valid integer") from exc
    if value < 1:
        raise invalid_request("limit: Input should be greater than or equal to 1")
    if value > MAX_PAGE:
        raise invalid_request(f"limit: Input should be less than or equal to {MAX_PAGE}")
    return value


# Routes

router = APIRouter(tags=["anthropic"])
authenticated = [Depends(require_auth)]


@router.post("/v1/messages/batches", dependencies=authenticated)
async def create_batch(request: Request, state: StateDep) -> dict[str, Any]:
    """Create a batch from inline requests; the body is streamed to disk and parsed one request at a time."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large()
    store = state.store
    batch_id = random_id("msgbatch_")
    body_path = store.job_path(batch_id, "body")
    input_path = store.job_path(batch_id, "input")
    size = 0
    try:
        with body_path.open("wb") as handle:
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise too_large()
                handle.write(chunk)
        summary = await run_in_threadpool(read_requests, body_path, input_path)
    except BaseException:
        input_path.unlink(missing_ok=True)
        raise
    finally:
        body_path.unlink(missing_ok=True)
    config = state.config
    version = request.headers.get("anthropic-version", STRICT_BATCH_VERSION)
    job = JobRecord(
        provider=PROVIDER,
        job_id=batch_id,
        name=batch_id,
        kind="generate",
        model=summary.model,
        display_name=None,
        input_file=None,
        input_path=input_path,
        inline_requests=None,
        request_count=summary.count,
        created=time.time(),
        pending_seconds=config.pending_seconds,
        running_seconds=config.running_seconds,
        outcome=config.job_outcome,
        materialiser=lambda job, store: materialise(job, store),
        state_name=lambda phase: phase.value,
        extra={"store": store, "version": version},
    )
    job.state_name = partial(control_state_name, job)
    store.add_job(job)
    return render_batch(job, Phase.PENDING, "in_progress", str(request.base_url))


@router.get("/v1/messages/batches", dependencies=authenticated)
async def list_batches(request: Request, state: StateDep) -> dict[str, Any]:
    """List batches newest first; after_id pages to older batches, before_id to newer ones."""
    limit = parse_limit(request)
    after_id = request.query_params.get("after_id")
    before_id = request.query_params.get("before_id")
    if after_id and before_id:
        raise invalid_request("Only one of after_id and before_id may be given.")
    store = state.store
    seq_of = {job.job_id: job.seq for job in store.list_jobs(PROVIDER, include_deleted=True)}
    jobs = store.list_jobs(PROVIDER)
    cursor = after_id or before_id
    if cursor and cursor not in seq_of:
        raise invalid_request(f"{'after_id' if after_id else 'before_id'}: no message batch with id '{cursor}'")
    if after_id:
        older = [job for job in jobs if job.seq < seq_of[after_id]]
        chunk, has_more = older[:limit], len(older) > limit
    elif before_id:
        newer = [job for job in jobs if job.seq > seq_of[before_id]]
        chunk, has_more = newer[-limit:], len(newer) > limit
    else:
        chunk, has_more = jobs[:limit], len(jobs) > limit
    base = str(request.base_url)
    data = []
    for job in chunk:
        phase, status = await run_in_threadpool(observe, store, job)
        data.append(render_batch(job, phase, status, base))
    return {
        "data": data,
        "has_more": has_more,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }


@router.get("/v1/messages/batches/{batch_id}", dependencies=authenticated)
async def retrieve_batch(request: Request, batch_id: str, state: StateDep) -> dict[str, Any]:
    """A batch; it advances with time."""
    job = lookup_batch(state.store, batch_id)
    phase, status = await run_in_threadpool(observe, state.store, job)
    return render_batch(job, phase, status, str(request.base_url))


@router.post("/v1/messages/batches/{batch_id}/cancel", dependencies=authenticated)
async def cancel_batch(request: Request, batch_id: str, state: StateDep) -> dict[str, Any]:
    """Start cancelling a batch: `canceling` now, `ended` with unprocessed requests canceled shortly after."""
    store = state.store
    job = lookup_batch(store, batch_id)
    phase, status = await run_in_threadpool(observe, store, job)
    if status == "in_progress":
        job.extra.setdefault(progress.CANCEL_SECONDS_KEY, progress.cancel_seconds(state.config))
        await run_in_threadpool(store.cancel_job, job)
        phase, status = await run_in_threadpool(observe, store, job)
    if status == "ended" and job.cancelled_at is None:
        raise invalid_request(f"Message batch {batch_id} has already ended and cannot be canceled.")
    return render_batch(job, phase, status, str(request.base_url))


@router.delete("/v1/messages/batches/{batch_id}", dependencies=authenticated)
async def delete_batch(batch_id: str, state: StateDep) -> dict[str, Any]:
    """Delete an ended batch and its results (a batch still processing must be canceled first)."""
    store = state.store
    job = lookup_batch(store, batch_id)
    _, status = await run_in_threadpool(observe, store, job)
    if status != "ended":
        raise invalid_request(f"Message batch {batch_id} is still processing and cannot be deleted; cancel it first.")
    store.delete_job(job)
    if job.results is not None and job.results.file is not None:
        store.delete_file(PROVIDER, job.results.file.file_id)
    return {"id": batch_id, "type": "message_batch_deleted"}


@router.get("/v1/messages/batches/{batch_id}/results", dependencies=authenticated)
async def batch_results(batch_id: str, state: StateDep) -> Response:
    """Stream the results JSONL of an ended batch."""
    store = state.store
    job = lookup_batch(store, batch_id)
    _, status = await run_in_threadpool(observe, store, job)
    if status != "ended" or job.results is None or job.results.file is None:
        raise invalid_request(f"Message batch {batch_id} has not ended yet; its results are not available.")
    return FileResponse(job.results.file.path, media_type="application/x-jsonl")


@router.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
async def unknown_route() -> Response:
    """Anything else under /anthropic."""
    raise AnthropicError(404, "not_found_error", "Not Found")
