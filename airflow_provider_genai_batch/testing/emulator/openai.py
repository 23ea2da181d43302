"""Router emulating the OpenAI Files + Batch REST API, mounted at /openai (clients use `<emulator>/openai/v1`).

The wire format follows shared/reference/openai_anthropic.md §1: FileObject and Batch objects with
unix-int timestamps, cursor pages (`after` = an object id), `{"error": {message, type, param, code}}`
envelopes, multipart uploads streamed to disk, and JSONL input validated while the batch is
`validating` (a bad file ends `failed` with `errors.data`). Results come as two files, output and
error, each line a BatchRequestOutput, in a shuffled order: clients must join on custom_id.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import struct
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any, BinaryIO

import msgspec
from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, JSONResponse, Response

from airflow_provider_genai_batch.testing.emulator import progress, responses
from airflow_provider_genai_batch.testing.emulator.store import (
    EmulatorError,
    EmulatorState,
    JobKind,
    JobRecord,
    JobResults,
    LineWriter,
    Phase,
    StateDep,
    Store,
    StoredFile,
)

PROVIDER = "openai"
FILE_ID_LENGTH = 22
BATCH_ID_LENGTH = 32
BATCH_WINDOW_SECONDS = 24 * 3600
BATCH_FILE_TTL_SECONDS = 30 * 24 * 3600
MIN_EXPIRY_SECONDS = 3600
MAX_EXPIRY_SECONDS = 30 * 24 * 3600
MAX_FILE_BYTES = 512 * 1024 * 1024
MAX_BATCH_FILE_BYTES = 200 * 1024 * 1024
MAX_BATCH_REQUESTS = 50_000
MAX_EMBEDDING_INPUTS = 50_000
MAX_METADATA_PAIRS = 16
MAX_METADATA_KEY = 64
MAX_METADATA_VALUE = 512
MAX_REPORTED_ERRORS = 100
"""Validation errors listed on a failed batch; the rest are counted in a last entry."""
FINALIZING_SHARE = 0.5
"""A batch that will complete is `finalizing` for the last half of its running time."""
DEFAULT_FILE_PAGE = 10_000
MAX_FILE_PAGE = 10_000
DEFAULT_BATCH_PAGE = 20
MAX_BATCH_PAGE = 100
COPY_CHUNK = 1024 * 1024
ALPHANUMERIC = responses.BASE62_ALPHABET

UPLOAD_PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
"""`FilePurpose`: what an upload may declare."""
BATCH_ENDPOINTS = (
    "/v1/responses",
    "/v1/chat/completions",
    "/v1/embeddings",
    "/v1/completions",
    "/v1/moderations",
    "/v1/images/generations",
    "/v1/images/edits",
    "/v1/videos",
)
"""Every endpoint the API accepts for a batch."""
EMULATED_ENDPOINTS: dict[str, JobKind] = {"/v1/chat/completions": "generate", "/v1/embeddings": "embed"}
"""The endpoints whose requests the emulator can answer."""
BATCH_CREATE_FIELDS = frozenset({"input_file_id", "endpoint", "completion_window", "metadata", "output_expires_after"})
UNDOWNLOADABLE_PURPOSES = frozenset({"assistants"})

EXPIRED_ROW_MESSAGE = "This request could not be executed before the completion window expired."
CANCELLED_ROW_MESSAGE = "This request was not executed because the batch was cancelled."
EMULATED_FAILURE = {
    "code": "emulated_failure",
    "line": None,
    "message": "The batch failed (emulated failure: job_outcome is 'fail').",
    "param": None,
}
MISSING_KEY_MESSAGE = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header using "
    "Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if "
    "you're accessing the API from your browser and are prompted for a username. You can obtain an API key "
    "from https://platform.openai.com/account/api-keys."
)


class OpenAIError(EmulatorError):
    """An error in OpenAI's envelope: {"error": {"message", "type", "param", "code"}}."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        error_type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        """Remember the HTTP status and the error fields."""
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type
        self.param = param
        self.code = code

    def response(self) -> Response:
        """The JSON error response."""
        error = {"message": self.message, "type": self.error_type, "param": self.param, "code": self.code}
        return JSONResponse({"error": error}, status_code=self.status)


def bad_request(message: str, *, param: str | None = None, code: str | None = None) -> OpenAIError:
    """A 400 invalid_request_error."""
    return OpenAIError(400, message, param=param, code=code)


def missing_parameter(name: str) -> OpenAIError:
    """The error for a required parameter that was not sent."""
    return bad_request(f"Missing required parameter: '{name}'.", param=name, code="missing_required_parameter")


def invalid_value(name: str, value: Any, allowed: tuple[str, ...]) -> OpenAIError:
    """The error for a value outside an enumeration."""
    supported = ", ".join(f"'{item}'" for item in allowed)
    return bad_request(
        f"Invalid value: '{value}'. Supported values are: {supported}.", param=name, code="invalid_value"
    )


def file_not_found(file_id: str) -> OpenAIError:
    """What the API answers for an unknown file id."""
    return OpenAIError(404, f"No such File object: {file_id}", param="id")


def batch_not_found(batch_id: str) -> OpenAIError:
    """What the emulator answers for an unknown batch id."""
    return OpenAIError(404, f"No batch found with id '{batch_id}'.", param="id")


# Records


@dataclass
class OpenAIFile(StoredFile):
    """A stored file with the fields only OpenAI has: its purpose and expiry."""

    purpose: str = "batch"
    expires_at: float | None = None


@dataclass
class OpenAIResults(JobResults):
    """A finished batch's output and error files (registered with the store once observed) and usage."""

    output: OpenAIFile | None = None
    errors: OpenAIFile | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    registered: bool = False


@dataclass
class Validation:
    """What reading a batch's input file found: its request count, model, and errors if it is invalid."""

    count: int = 0
    model: str | None = None
    embedding_inputs: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    error_count: int = 0

    def add(self, code: str, message: str, line: int | None, param: str | None = None) -> None:
        """Record one validation error (only the first ones are kept)."""
        self.error_count += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            self.errors.append({"code": code, "line": line, "message": message, "param": param})


def random_token(length: int, alphabet: str) -> str:
    """`length` random characters from `alphabet`."""
    return "".join(secrets.choice(alphabet) for _ in range(length))


def new_file_id() -> str:
    """`file-` and 22 random letters and digits."""
    return "file-" + random_token(FILE_ID_LENGTH, ALPHANUMERIC)


def new_batch_id() -> str:
    """`batch_` and 32 random hex digits."""
    return "batch_" + random_token(BATCH_ID_LENGTH, responses.HEX_ALPHABET)


def tombstones(request: Request) -> dict[str, int]:
    """Sequence numbers of deleted files, so that a listing can still resume after one of them."""
    stones: dict[str, int] | None = getattr(request.app.state, "openai_file_tombstones", None)
    if stones is None:
        stones = {}
        request.app.state.openai_file_tombstones = stones
    return stones


# Auth


def masked(key: str) -> str:
    """A key as the API echoes it in errors: its start and end, the rest starred."""
    if len(key) <= 8:
        return "*" * len(key)
    return key[:3] + "*" * (len(key) - 7) + key[-4:]


def require_bearer(request: Request, state: StateDep) -> None:
    """`Authorization: Bearer <key>`: missing → 401; a key other than the configured one → 401 invalid_api_key."""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    key = key.strip()
    if scheme.lower() != "bearer" or not key:
        raise OpenAIError(401, MISSING_KEY_MESSAGE)
    expected = state.config.api_key
    if expected is not None and key != expected:
        raise OpenAIError(
            401,
            f"Incorrect API key provided: {masked(key)}. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            code="invalid_api_key",
        )


# Rendering


def render_file(record: StoredFile) -> dict[str, Any]:
    """A FileObject on the wire."""
    purpose = record.purpose if isinstance(record, OpenAIFile) else "batch"
    expires = record.expires_at if isinstance(record, OpenAIFile) else None
    return {
        "id": record.file_id,
        "bytes": record.size_bytes,
        "created_at": int(record.created),
        "filename": record.display_name or "",
        "object": "file",
        "purpose": purpose,
        "status": "processed",
        "expires_at": None if expires is None else int(expires),
        "status_details": None,
    }


def cursor_page(
    items: list[Any], after: str | None, limit: int, seq_of: dict[str, int], *, descending: bool
) -> dict[str, Any]:
    """A cursor page of records (already sorted), resuming after the object whose id is `after`."""
    if after:
        if after not in seq_of:
            raise bad_request(f"Invalid 'after': no object with id '{after}'.", param="after")
        cursor = seq_of[after]
        items = [item for item in items if (item.seq < cursor if descending else item.seq > cursor)]
    chunk = items[:limit]
    return {"chunk": chunk, "has_more": len(items) > limit}


def page_body(data: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    """The list envelope."""
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }


def parse_limit(request: Request, default: int, maximum: int) -> int:
    """`limit`: an integer in 1..maximum."""
    raw = request.query_params.get("limit")
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise bad_request(
            f"Invalid 'limit': expected an integer, but got '{raw}' instead.", param="limit", code="invalid_type"
        ) from exc
    if value < 1:
        raise bad_request(
            f"Invalid 'limit': integer below minimum value. Expected a value >= 1, but got {value} instead.",
            param="limit",
            code="integer_below_min_value",
        )
    if value > maximum:
        raise bad_request(
            f"Invalid 'limit': integer above maximum value. Expected a value <= {maximum}, but got {value} instead.",
            param="limit",
            code="integer_above_max_value",
        )
    return value


# Files


def parse_expires_after(anchor: Any, seconds: Any, prefix: str) -> int | None:
    """Validate an `{anchor: "created_at", seconds}` expiry policy and return its seconds."""
    if anchor is None and seconds is None:
        return None
    if anchor != "created_at":
        raise invalid_value(f"{prefix}.anchor", anchor, ("created_at",))
    try:
        value = int(seconds)
    except (TypeError, ValueError) as exc:
        raise bad_request(f"Invalid '{prefix}.seconds': expected an integer.", param=f"{prefix}.seconds") from exc
    if not MIN_EXPIRY_SECONDS <= value <= MAX_EXPIRY_SECONDS:
        raise bad_request(
            f"Invalid '{prefix}.seconds': must be between {MIN_EXPIRY_SECONDS} and {MAX_EXPIRY_SECONDS}.",
            param=f"{prefix}.seconds",
            code="invalid_value",
        )
    return value


def store_upload(source: BinaryIO, path: Any) -> tuple[int, bytes]:
    """Copy an uploaded part (already spooled by the multipart parser) to its place, hashing it on the way."""
    hasher = hashlib.sha256()
    size = 0
    source.seek(0)
    with path.open("wb") as target:
        while chunk := source.read(COPY_CHUNK):
            target.write(chunk)
            hasher.update(chunk)
            size += len(chunk)
    return size, hasher.digest()


def lookup_file(store: Store, file_id: str) -> StoredFile:
    """A live OpenAI file, or 404."""
    register_ready_results(store)
    record = store.get_file(PROVIDER, file_id)
    if record is None:
        raise file_not_found(file_id)
    return record


# Batch input validation and answering


def validate_input(path: Any, endpoint: str, kind: JobKind) -> Validation:
    """Read a batch input file line by line and report what would make the batch fail validation."""
    result = Validation()
    seen: set[str] = set()
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            result.count += 1
            check_input_line(raw, number, endpoint, kind, seen, result)
    if result.count == 0:
        result.add("empty_file", "The batch input file is empty.", None)
    elif result.count > MAX_BATCH_REQUESTS:
        result.add(
            "too_many_tasks",
            f"The batch input file contains {result.count} requests; a batch may contain at most {MAX_BATCH_REQUESTS}.",
            None,
        )
    if result.embedding_inputs > MAX_EMBEDDING_INPUTS:
        result.add(
            "too_many_tasks",
            f"The batch contains {result.embedding_inputs} embedding inputs; an embeddings batch may contain "
            f"at most {MAX_EMBEDDING_INPUTS}.",
            None,
        )
    return result


def check_input_line(raw: bytes, number: int, endpoint: str, kind: JobKind, seen: set[str], out: Validation) -> None:
    """Validate one input line (a BatchRequestInput) and record its errors."""
    try:
        entry = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        out.add("invalid_json_line", "This line is not parseable as valid JSON.", number)
        return
    if not isinstance(entry, dict):
        out.add("invalid_json_line", "This line is not a JSON object.", number)
        return
    custom_id = entry.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        out.add("missing_required_parameter", "Missing required parameter: 'custom_id'.", number, "custom_id")
    elif custom_id in seen:
        out.add(
            "duplicate_custom_id",
            "The custom_id for this request is a duplicate of another request. "
            "The custom_id parameter must be unique for each request in a batch.",
            number,
            "custom_id",
        )
    else:
        seen.add(custom_id)
    method = entry.get("method")
    if method is None:
        out.add("missing_required_parameter", "Missing required parameter: 'method'.", number, "method")
    elif method != "POST":
        out.add("invalid_value", f"Invalid value: '{method}'. Supported values are: 'POST'.", number, "method")
    url = entry.get("url")
    if url is None:
        out.add("missing_required_parameter", "Missing required parameter: 'url'.", number, "url")
    elif url != endpoint:
        out.add(
            "url_mismatch",
            f"The URL provided for this request ('{url}') does not match the batch endpoint ('{endpoint}').",
            number,
            "url",
        )
    body = entry.get("body")
    if not isinstance(body, dict):
        out.add("missing_required_parameter", "Missing required parameter: 'body'.", number, "body")
        return
    model = body.get("model")
    if isinstance(model, str) and model:
        if out.model is None:
            out.model = model
        elif model != out.model:
            out.add(
                "model_mismatch",
                f"The model '{model}' of this request differs from the model '{out.model}' of the batch's "
                "other requests; a batch may use only one model.",
                number,
                "body.model",
            )
    if kind == "embed":
        out.embedding_inputs += len(embedding_texts(body.get("input")) or [None])


def embedding_texts(value: Any) -> list[str] | None:
    """The texts to embed from `input`: a string, a list of strings, tokens, or lists of tokens."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value:
        if all(isinstance(item, str) for item in value):
            return list(value)
        if all(isinstance(item, int) for item in value):
            return [" ".join(str(token) for token in value)]
        if all(isinstance(item, list) and all(isinstance(t, int) for t in item) for item in value):
            return [" ".join(str(token) for token in item) for item in value]
    return None


def error_body(
    message: str, param: str | None = None, code: str | None = None, error_type: str = "invalid_request_error"
) -> dict[str, Any]:
    """The body of a failed request, as the endpoint would have answered it."""
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


@dataclass(frozen=True)
class Answer:
    """One request's outcome: the HTTP status and body the endpoint answered, and the tokens it used."""

    status_code: int
    body: dict[str, Any]
    input_tokens: int = 0
    output_tokens: int = 0


def row_error_answer(error: responses.RowError) -> Answer:
    """The fake model's row error as the endpoint's answer (a 5xx is a server_error)."""
    error_type = "server_error" if error.code >= 500 else "invalid_request_error"
    return Answer(error.code, error_body(error.message, error_type=error_type))


def answer_chat(body: dict[str, Any], seed: str, created: int) -> Answer:
    """Answer a chat completion request with the fake model."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return Answer(400, error_body("you must provide a model parameter"))
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return Answer(
            400, error_body("Missing required parameter: 'messages'.", "messages", "missing_required_parameter")
        )
    turns = [
        (str(message.get("role", "")), responses.content_text(message.get("content")))
        for message in messages
        if isinstance(message, dict)
    ]
    outcome = responses.generate_from_turns(turns)
    if isinstance(outcome, responses.RowError):
        return row_error_answer(outcome)
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    outcome, cut = responses.limit_tokens(outcome, limit if isinstance(limit, int) else None)
    completion = {
        "id": "chatcmpl-" + responses.stable_token("chatcmpl:" + seed, 29, ALPHANUMERIC),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": outcome.text, "refusal": None, "annotations": []},
                "logprobs": None,
                "finish_reason": "length" if cut else "stop",
            }
        ],
        "usage": {
            "prompt_tokens": outcome.prompt_tokens,
            "completion_tokens": outcome.completion_tokens,
            "total_tokens": outcome.total_tokens,
        },
        "service_tier": "default",
        "system_fingerprint": None,
    }
    return Answer(200, completion, outcome.prompt_tokens, outcome.completion_tokens)


def pack_embedding(values: list[float]) -> str:
    """A vector as the API's base64 encoding: little-endian float32."""
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()


def answer_embeddings(body: dict[str, Any]) -> Answer:
    """Answer an embeddings request with the fake model (`dimensions` and `encoding_format` honoured)."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return Answer(400, error_body("you must provide a model parameter"))
    if "input" not in body:
        return Answer(400, error_body("Missing required parameter: 'input'.", "input", "missing_required_parameter"))
    texts = embedding_texts(body["input"])
    if texts is None:
        return Answer(400, error_body("'$.input' is invalid. Please check the API reference.", "input"))
    dimensions = body.get("dimensions")
    if dimensions is not None and (not isinstance(dimensions, int) or isinstance(dimensions, bool) or dimensions < 1):
        return Answer(400, error_body("Invalid 'dimensions': expected a positive integer.", "dimensions"))
    encoding = body.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        return Answer(
            400,
            error_body(f"Invalid value: '{encoding}'. Supported values are: 'float' and 'base64'.", "encoding_format"),
        )
    data = []
    tokens = 0
    for index, text in enumerate(texts):
        outcome = responses.embed(text, dimensions)
        if isinstance(outcome, responses.RowError):
            return row_error_answer(outcome)
        tokens += outcome.prompt_tokens
        vector: Any = pack_embedding(outcome.values) if encoding == "base64" else outcome.values
        data.append({"object": "embedding", "index": index, "embedding": vector})
    body_out = {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    return Answer(200, body_out, tokens, 0)


def answer_line(job: JobRecord, custom_id: Any, body: Any, created: int) -> Answer:
    """The endpoint's answer to one request of a batch."""
    if not isinstance(body, dict):
        return Answer(400, error_body("Missing required parameter: 'body'.", "body", "missing_required_parameter"))
    if job.kind == "embed":
        return answer_embeddings(body)
    return answer_chat(body, f"{job.job_id}:{custom_id}", created)


def decode_entry(line: bytes) -> dict[str, Any]:
    """An input line as an object ({} when it is not one: only a batch that never ran can have such lines)."""
    try:
        entry = msgspec.json.decode(line)
    except msgspec.DecodeError:
        return {}
    return entry if isinstance(entry, dict) else {}


def request_output(job: JobRecord, custom_id: Any, answer: Answer | None, error: dict[str, Any] | None) -> bytes:
    """One BatchRequestOutput line."""
    seed = f"{job.job_id}:{custom_id}"
    response = None
    if answer is not None:
        response = {
            "status_code": answer.status_code,
            "request_id": "req_" + responses.stable_token("req:" + seed, 32),
            "body": answer.body,
        }
    row = {
        "id": "batch_req_" + responses.stable_token("batch_req:" + seed, 32),
        "custom_id": custom_id,
        "response": response,
        "error": error,
    }
    return msgspec.json.encode(row)


def result_file(store: Store, job: JobRecord, suffix: str) -> OpenAIFile:
    """An (unregistered) output or error file record for a job, its bytes still to be written."""
    file_id = new_file_id()
    return OpenAIFile(
        provider=PROVIDER,
        file_id=file_id,
        display_name=f"{job.job_id}_{suffix}.jsonl",
        mime_type="application/jsonl",
        size_bytes=0,
        sha256=b"",
        created=0.0,
        source="GENERATED",
        path=store.file_path(PROVIDER, file_id),
        purpose="batch_output",
    )


def materialise(
    job: JobRecord, store: Store, *, done: int | None = None, stop_code: str | None = None
) -> OpenAIResults:
    """Answer a batch's requests in processing order into an output and an error file.

    The first `done` requests (all when None) are answered; the others end in the error file with
    `stop_code` (batch_cancelled or batch_expired). Empty files are not kept.
    """
    if job.input_path is None:
        raise ValueError(f"batch {job.job_id} has no input")
    output = result_file(store, job, "output")
    errors = result_file(store, job, "error")
    out_writer = LineWriter(output.path)
    err_writer = LineWriter(errors.path)
    succeeded = failed = 0
    input_tokens = output_tokens = 0
    created = int(time.time())
    stop_message = CANCELLED_ROW_MESSAGE if stop_code == "batch_cancelled" else EXPIRED_ROW_MESSAGE
    try:
        for position, (_, line) in enumerate(progress.shuffled_lines(job.input_path, job.job_id)):
            entry = decode_entry(line)
            custom_id = entry.get("custom_id")
            if done is not None and position >= done:
                err_writer.write(request_output(job, custom_id, None, {"code": stop_code, "message": stop_message}))
                continue
            answer = answer_line(job, custom_id, entry.get("body"), created)
            if answer.status_code == 200:
                out_writer.write(request_output(job, custom_id, answer, None))
                succeeded += 1
                input_tokens += answer.input_tokens
                output_tokens += answer.output_tokens
            else:
                err_writer.write(request_output(job, custom_id, answer, None))
                failed += 1
    finally:
        out_digest = out_writer.close()
        err_digest = err_writer.close()
    now = time.time()
    ttl = job.extra.get("output_expires_after") or BATCH_FILE_TTL_SECONDS
    kept: list[OpenAIFile | None] = []
    for record, writer, digest in ((output, out_writer, out_digest), (errors, err_writer, err_digest)):
        if writer.size == 0:
            record.path.unlink(missing_ok=True)
            kept.append(None)
            continue
        record.size_bytes = writer.size
        record.sha256 = digest
        record.created = now
        record.expires_at = now + ttl
        kept.append(record)
    return OpenAIResults(
        succeeded=succeeded,
        failed=failed,
        output=kept[0],
        errors=kept[1],
        input_tokens=input_tokens,
        output_tokens=output_tokens,
    )


def register_results(job: JobRecord, store: Store) -> None:
    """Make a finished batch's output and error files visible in the Files API (once)."""
    with job.lock:
        results = job.results
        if not isinstance(results, OpenAIResults) or results.registered:
            return
        for record in (results.output, results.errors):
            if record is not None:
                store.add_file(record)
        results.registered = True


def register_ready_results(store: Store) -> None:
    """Register the files of every batch whose results exist, so file calls see them."""
    for job in store.list_jobs(PROVIDER, include_deleted=True):
        if job.results is not None:
            register_results(job, store)


# Batch lifecycle


def stopped_results(job: JobRecord, store: Store, phase: Phase, *, wait: bool) -> bool:
    """Start (or wait for) the partial results of a cancelled or expired batch; True once they exist."""
    if phase is Phase.CANCELLED:
        end = progress.cancel_end(job) or time.time()
        done = 0 if job.extra.get("validation_errors") else progress.processed_by(job, end)
        produce = partial(materialise, job, store, done=done, stop_code="batch_cancelled")
    else:
        produce = partial(materialise, job, store, done=progress.expired_done(job), stop_code="batch_expired")
    ready = progress.finish_stopped(job, store, produce, wait=wait)
    if ready:
        register_results(job, store)
    return ready


def batch_status(job: JobRecord, phase: Phase, now: float, *, wait: bool = False) -> str:
    """The batch's status now, given the store's phase; starts the partial results of a stopped batch."""
    if phase is Phase.PENDING:
        return "validating"
    if phase is Phase.RUNNING:
        if job.outcome != "expire" and now >= finalizing_start(job):
            return "finalizing"
        return "in_progress"
    if phase is Phase.SUCCEEDED:
        return "completed"
    if phase is Phase.FAILED:
        return "failed"
    if job.failure is not None:
        return "failed"
    store: Store = job.extra["store"]
    if phase is Phase.CANCELLED:
        end = progress.cancel_end(job)
        if end is not None and now < end:
            return "cancelling"
        return "cancelled" if stopped_results(job, store, phase, wait=wait) else "cancelling"
    return "expired" if stopped_results(job, store, phase, wait=wait) else "in_progress"


def finalizing_start(job: JobRecord) -> float:
    """When a batch that will complete starts finalizing."""
    return job.running_at + job.running_seconds * (1 - FINALIZING_SHARE)


def observe(store: Store, job: JobRecord) -> tuple[Phase, str]:
    """The store's phase and the batch status now (blocking: run it in a thread)."""
    phase = store.observe(job)
    status = batch_status(job, phase, time.time(), wait=True)
    if status == "completed":
        register_results(job, store)
    return phase, status


def unix(moment: float | None) -> int | None:
    """Epoch seconds as the API's integer timestamps."""
    return None if moment is None else int(moment)


def render_batch(job: JobRecord, phase: Phase, status: str) -> dict[str, Any]:
    """A Batch object on the wire."""
    results = job.results if isinstance(job.results, OpenAIResults) else None
    errors = job.extra.get("validation_errors") or []
    never_ran = bool(errors)
    cancelling_at = job.cancelled_at
    stopped_before_running = cancelling_at is not None and cancelling_at < job.running_at
    in_progress_at = None
    if status != "validating" and not never_ran and not stopped_before_running:
        in_progress_at = job.running_at
    finalizing_at = None
    if status in ("finalizing", "completed"):
        finalizing_at = finalizing_start(job)
    completed_at = None
    if status == "completed" and results is not None:
        completed_at = max(job.timer_end, results.ready_at)
    cancelled_at = progress.cancel_end(job) if status == "cancelled" else None
    if status == "failed":
        failed_at: float | None = job.timer_end
        if job.failure is not None and not errors:
            errors = [{"code": "emulator_error", "line": None, "message": job.failure, "param": None}]
    else:
        failed_at = None
    expired_at = job.timer_end if status == "expired" else None
    counts = {"total": 0, "completed": 0, "failed": 0}
    if status not in ("validating", "failed"):
        counts["total"] = job.request_count
    if results is not None and status in ("completed", "cancelled", "expired"):
        counts["completed"] = results.succeeded
        counts["failed"] = results.failed
    input_tokens = results.input_tokens if results is not None else 0
    output_tokens = results.output_tokens if results is not None else 0
    return {
        "id": job.job_id,
        "object": "batch",
        "endpoint": job.extra["endpoint"],
        "errors": {"object": "list", "data": errors} if status == "failed" else None,
        "input_file_id": job.input_file,
        "completion_window": job.extra["completion_window"],
        "status": status,
        "output_file_id": results.output.file_id if results is not None and results.output is not None else None,
        "error_file_id": results.errors.file_id if results is not None and results.errors is not None else None,
        "created_at": unix(job.created),
        "in_progress_at": unix(in_progress_at),
        "expires_at": unix(job.created + BATCH_WINDOW_SECONDS),
        "finalizing_at": unix(finalizing_at),
        "completed_at": unix(completed_at),
        "failed_at": unix(failed_at),
        "expired_at": unix(expired_at),
        "cancelling_at": unix(cancelling_at),
        "cancelled_at": unix(cancelled_at),
        "request_counts": counts,
        "metadata": job.extra.get("metadata"),
        "model": job.model or None,
        "usage": {
            "input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": input_tokens + output_tokens,
        },
    }


def control_state_name(job: JobRecord, phase: Phase) -> str:
    """The status shown by /_emulator/jobs (never waits; may start a stopped batch's results)."""
    return batch_status(job, phase, time.time())


def parse_metadata(value: Any) -> dict[str, str] | None:
    """Validate batch metadata: at most 16 string pairs, keys ≤ 64 and values ≤ 512 characters."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad_request("Invalid type for 'metadata': expected an object.", param="metadata", code="invalid_type")
    if len(value) > MAX_METADATA_PAIRS:
        raise bad_request(
            f"Invalid 'metadata': too many properties. Expected an object with at most {MAX_METADATA_PAIRS} "
            f"properties, but got an object with {len(value)} properties instead.",
            param="metadata",
            code="object_above_max_properties",
        )
    for key, item in value.items():
        if len(key) > MAX_METADATA_KEY:
            raise bad_request(
                f"Invalid 'metadata': key '{key[:20]}…' is too long. Expected a key with at most "
                f"{MAX_METADATA_KEY} characters, but got {len(key)} characters instead.",
                param="metadata",
                code="string_above_max_length",
            )
        if not isinstance(item, str):
            raise bad_request(
                f"Invalid type for 'metadata.{key}': expected a string.",
                param=f"metadata.{key}",
                code="invalid_type",
            )
        if len(item) > MAX_METADATA_VALUE:
            raise bad_request(
                f"Invalid 'metadata.{key}': string too long. Expected a string with maximum length "
                f"{MAX_METADATA_VALUE}, but got a string with length {len(item)} instead.",
                param=f"metadata.{key}",
                code="string_above_max_length",
            )
    return dict(value)


async def read_json_object(request: Request) -> dict[str, Any]:
    """The JSON object body of a request."""
    body = await request.body()
    try:
        value = json.loads(body) if body.strip() else None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise bad_request(
            "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your "
            "HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)"
        ) from exc
    if not isinstance(value, dict):
        raise bad_request("The body of your request must be a JSON object.")
    return value


def lookup_batch(store: Store, batch_id: str) -> JobRecord:
    """A batch by id, or 404."""
    job = store.get_job(batch_id)
    if job is None or job.provider != PROVIDER:
        raise batch_not_found(batch_id)
    return job


# Routes

router = APIRouter(tags=["openai"])
authenticated = [Depends(require_bearer)]


@router.post("/v1/files", dependencies=authenticated)
async def upload_file(request: Request, state: StateDep) -> dict[str, Any]:
    """Upload a file (multipart `file` + `purpose`, optional `expires_after[...]`), streamed to disk."""
    try:
        form = await request.form(max_files=1, max_fields=16)
    except HTTPException as exc:
        raise bad_request(f"Invalid multipart body: {exc.detail}") from exc
    try:
        upload = form.get("file")
        purpose = form.get("purpose")
        if purpose is None:
            raise missing_parameter("purpose")
        if purpose not in UPLOAD_PURPOSES:
            raise invalid_value("purpose", purpose, UPLOAD_PURPOSES)
        if not isinstance(upload, UploadFile):
            raise missing_parameter("file")
        filename = upload.filename or "upload"
        if purpose == "batch" and not filename.endswith(".jsonl"):
            raise bad_request("Invalid file format for Batch API. Must be .jsonl")
        ttl = parse_expires_after(
            form.get("expires_after[anchor]"), form.get("expires_after[seconds]"), "expires_after"
        )
        if ttl is None and purpose == "batch":
            ttl = BATCH_FILE_TTL_SECONDS
        file_id = new_file_id()
        path = state.store.file_path(PROVIDER, file_id)
        size, digest = await run_in_threadpool(store_upload, upload.file, path)
    finally:
        await form.close()
    limit = MAX_BATCH_FILE_BYTES if purpose == "batch" else MAX_FILE_BYTES
    if size > limit:
        path.unlink(missing_ok=True)
        raise bad_request(f"File is too large: {size} bytes; the limit for purpose '{purpose}' is {limit} bytes.")
    created = time.time()
    record = OpenAIFile(
        provider=PROVIDER,
        file_id=file_id,
        display_name=filename,
        mime_type=upload.content_type or "application/octet-stream",
        size_bytes=size,
        sha256=digest,
        created=created,
        source="UPLOADED",
        path=path,
        purpose=purpose,
        expires_at=None if ttl is None else created + ttl,
    )
    state.store.add_file(record)
    return render_file(record)


@router.get("/v1/files", dependencies=authenticated)
async def list_files(request: Request, state: StateDep) -> dict[str, Any]:
    """List files (newest first unless order=asc), optionally of one purpose, a cursor page at a time."""
    register_ready_results(state.store)
    order = request.query_params.get("order", "desc")
    if order not in ("asc", "desc"):
        raise invalid_value("order", order, ("asc", "desc"))
    limit = parse_limit(request, DEFAULT_FILE_PAGE, MAX_FILE_PAGE)
    records = state.store.list_files(PROVIDER)
    purpose = request.query_params.get("purpose")
    if purpose:
        records = [r for r in records if render_file(r)["purpose"] == purpose]
    if order == "asc":
        records.reverse()
    seq_of = {r.file_id: r.seq for r in state.store.list_files(PROVIDER)} | tombstones(request)
    page = cursor_page(records, request.query_params.get("after"), limit, seq_of, descending=order == "desc")
    return page_body([render_file(r) for r in page["chunk"]], page["has_more"])


@router.get("/v1/files/{file_id}", dependencies=authenticated)
async def retrieve_file(file_id: str, state: StateDep) -> dict[str, Any]:
    """A file's FileObject."""
    return render_file(lookup_file(state.store, file_id))


@router.delete("/v1/files/{file_id}", dependencies=authenticated)
async def delete_file(request: Request, file_id: str, state: StateDep) -> dict[str, Any]:
    """Delete a file and its bytes (batches that read it keep their own snapshot)."""
    record = lookup_file(state.store, file_id)
    tombstones(request)[file_id] = record.seq
    state.store.delete_file(PROVIDER, file_id)
    return {"id": file_id, "object": "file", "deleted": True}


@router.get("/v1/files/{file_id}/content", dependencies=authenticated)
async def file_content(file_id: str, state: StateDep) -> Response:
    """Stream a file's raw bytes from disk."""
    record = lookup_file(state.store, file_id)
    purpose = render_file(record)["purpose"]
    if purpose in UNDOWNLOADABLE_PURPOSES:
        raise bad_request(f"Not allowed to download files of purpose: {purpose}")
    return FileResponse(record.path, media_type="application/octet-stream")


@router.post("/v1/batches", dependencies=authenticated)
async def create_batch(request: Request, state: StateDep) -> dict[str, Any]:
    """Create a batch over an uploaded `batch` file; its input is validated while it is `validating`."""
    body = await read_json_object(request)
    for key in body:
        if key not in BATCH_CREATE_FIELDS:
            raise bad_request(f"Unrecognized request argument supplied: {key}")
    for name in ("input_file_id", "endpoint", "completion_window"):
        if body.get(name) is None:
            raise missing_parameter(name)
    endpoint = body["endpoint"]
    if endpoint not in BATCH_ENDPOINTS:
        raise invalid_value("endpoint", endpoint, BATCH_ENDPOINTS)
    if endpoint not in EMULATED_ENDPOINTS:
        raise bad_request(
            f"The emulator does not implement batches for endpoint '{endpoint}'; it emulates "
            f"{', '.join(EMULATED_ENDPOINTS)}.",
            param="endpoint",
        )
    if body["completion_window"] != "24h":
        raise invalid_value("completion_window", body["completion_window"], ("24h",))
    metadata = parse_metadata(body.get("metadata"))
    expiry = body.get("output_expires_after")
    output_ttl = None
    if expiry is not None:
        if not isinstance(expiry, dict):
            raise bad_request("Invalid type for 'output_expires_after': expected an object.")
        output_ttl = parse_expires_after(expiry.get("anchor"), expiry.get("seconds"), "output_expires_after")
    input_file_id = body["input_file_id"]
    store = state.store
    source = store.get_file(PROVIDER, str(input_file_id))
    if source is None:
        raise bad_request(f"No such File object: {input_file_id}", param="input_file_id")
    purpose = render_file(source)["purpose"]
    if purpose != "batch":
        raise bad_request(
            f"The input file {input_file_id} has purpose '{purpose}'; a batch input file must have purpose 'batch'.",
            param="input_file_id",
        )
    kind = EMULATED_ENDPOINTS[endpoint]
    batch_id = new_batch_id()
    input_path = await run_in_threadpool(store.snapshot_input, source, batch_id)
    validation = await run_in_threadpool(validate_input, input_path, endpoint, kind)
    config = state.config
    errors = list(validation.errors)
    if validation.error_count > len(errors):
        errors.append(
            {
                "code": "too_many_errors",
                "line": None,
                "message": f"{validation.error_count - len(errors)} more errors were found and not listed.",
                "param": None,
            }
        )
    if not errors and config.job_outcome == "fail":
        errors = [dict(EMULATED_FAILURE)]
    failing = bool(errors)
    job = JobRecord(
        provider=PROVIDER,
        job_id=batch_id,
        name=batch_id,
        kind=kind,
        model=validation.model or "",
        display_name=None,
        input_file=str(input_file_id),
        input_path=input_path,
        inline_requests=None,
        request_count=validation.count,
        created=time.time(),
        pending_seconds=config.pending_seconds,
        running_seconds=0.0 if failing else config.running_seconds,
        outcome="fail" if failing else config.job_outcome,
        materialiser=lambda job, store: materialise(job, store),
        state_name=lambda phase: phase.value,
        extra={
            "endpoint": endpoint,
            "completion_window": "24h",
            "metadata": metadata,
            "validation_errors": errors,
            "output_expires_after": output_ttl,
            "store": store,
        },
    )
    job.state_name = partial(control_state_name, job)
    store.add_job(job)
    return render_batch(job, Phase.PENDING, "validating")


@router.get("/v1/batches", dependencies=authenticated)
async def list_batches(request: Request, state: StateDep) -> dict[str, Any]:
    """List batches, newest first, a cursor page at a time."""
    limit = parse_limit(request, DEFAULT_BATCH_PAGE, MAX_BATCH_PAGE)
    jobs = state.store.list_jobs(PROVIDER)
    seq_of = {job.job_id: job.seq for job in jobs}
    page = cursor_page(jobs, request.query_params.get("after"), limit, seq_of, descending=True)
    data = []
    for job in page["chunk"]:
        phase, status = await run_in_threadpool(observe, state.store, job)
        data.append(render_batch(job, phase, status))
    return page_body(data, page["has_more"])


@router.get("/v1/batches/{batch_id}", dependencies=authenticated)
async def retrieve_batch(batch_id: str, state: StateDep) -> dict[str, Any]:
    """A batch; its status advances with time."""
    job = lookup_batch(state.store, batch_id)
    phase, status = await run_in_threadpool(observe, state.store, job)
    return render_batch(job, phase, status)


@router.post("/v1/batches/{batch_id}/cancel", dependencies=authenticated)
async def cancel_batch(batch_id: str, state: StateDep) -> dict[str, Any]:
    """Cancel a batch: `cancelling` now, `cancelled` (with partial results) after the cancel delay."""
    return await run_in_threadpool(cancel_sync, state, batch_id)


def cancel_sync(state: EmulatorState, batch_id: str) -> dict[str, Any]:
    """The blocking part of a cancel."""
    store = state.store
    job = lookup_batch(store, batch_id)
    phase, status = observe(store, job)
    if status == "cancelling":
        return render_batch(job, phase, status)
    if status not in ("validating", "in_progress", "finalizing"):
        raise bad_request(f"Cannot cancel a batch with status '{status}'.")
    job.extra.setdefault(progress.CANCEL_SECONDS_KEY, progress.cancel_seconds(state.config))
    if not store.cancel_job(job):
        phase, status = observe(store, job)
        raise bad_request(f"Cannot cancel a batch with status '{status}'.")
    phase, status = observe(store, job)
    return render_batch(job, phase, status)


@router.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
async def unknown_route(request: Request) -> Response:
    """Anything else under /openai: the API's invalid-URL error."""
    path = request.url.path.removeprefix("/openai")
    raise OpenAIError(404, f"Invalid URL ({request.method} {path})")
