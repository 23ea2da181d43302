"""Router emulating the Gemini Developer API Files + Batch REST surface, for v1beta and v1.

The wire format follows shared/reference/gemini.md: camelCase out, camelCase or snake_case in (as
proto-JSON accepts), int64 as strings, zero values omitted, Google error envelopes, the resumable
upload protocol, long-running Operations for batches, and the known defect that result files
(`files/batch-<id>`, over 40 characters) cannot be fetched or deleted, only downloaded.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

import msgspec
from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import ClientDisconnect
from starlette.responses import FileResponse, JSONResponse, Response

from airflow_provider_genai_batch.testing.emulator import responses
from airflow_provider_genai_batch.testing.emulator.store import (
    EmulatorError,
    EmulatorState,
    JobKind,
    JobRecord,
    JobResults,
    Phase,
    StateDep,
    Store,
    StoredFile,
    UploadSession,
    count_lines,
    decode_page_token,
    materialise_lines,
    new_id,
    paginate,
)

logger = logging.getLogger(__name__)

PROVIDER = "gemini"
UPLOAD_CHUNK_GRANULARITY = 8 * 1024 * 1024
MAX_FILE_ID_LENGTH = 40
FILE_ID_LENGTH = 12
BATCH_ID_LENGTH = 36
DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 100
RESULT_FILE_PREFIX = "batch-"
RESULT_MIME_TYPE = "application/jsonl"
TYPE_PREFIX = "type.googleapis.com/google.ai.generativelanguage.v1main."
FILE_ID_PATTERN = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")

MISSING_KEY_MESSAGE = (
    "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API."
)
INVALID_KEY_MESSAGE = "API key not valid. Please pass a valid API key."
FILE_ID_TOO_LONG_MESSAGE = "File ID (name excluding 'files/') cannot be more than 40 characters"

GENERATE_REQUEST_FIELDS = frozenset(
    {
        "model",
        "contents",
        "systemInstruction",
        "tools",
        "toolConfig",
        "safetySettings",
        "generationConfig",
        "cachedContent",
        "labels",
        "serviceTier",
        "store",
        "continuationToken",
    }
)
GENERATION_CONFIG_FIELDS = frozenset(
    {
        "stopSequences",
        "responseMimeType",
        "responseSchema",
        "responseJsonSchema",
        "responseModalities",
        "candidateCount",
        "maxOutputTokens",
        "temperature",
        "topP",
        "topK",
        "seed",
        "presencePenalty",
        "frequencyPenalty",
        "responseLogprobs",
        "logprobs",
        "enableEnhancedCivicAnswers",
        "speechConfig",
        "thinkingConfig",
        "imageConfig",
        "mediaResolution",
        "audioTranscriptionConfig",
    }
)
EMBED_REQUEST_FIELDS = frozenset({"model", "content", "taskType", "title", "outputDimensionality"})
INLINED_REQUEST_FIELDS = frozenset({"request", "metadata"})
BATCH_FIELDS = frozenset(
    {
        "displayName",
        "inputConfig",
        "priority",
        "webhookConfig",
        "name",
        "model",
        "output",
        "createTime",
        "endTime",
        "updateTime",
        "batchStats",
        "state",
    }
)
INPUT_CONFIG_FIELDS = frozenset({"fileName", "requests"})
FILE_FIELDS = frozenset(
    {
        "name",
        "displayName",
        "mimeType",
        "sizeBytes",
        "createTime",
        "updateTime",
        "expirationTime",
        "sha256Hash",
        "uri",
        "downloadUri",
        "state",
        "source",
        "error",
        "videoMetadata",
    }
)

BATCH_TYPES: dict[JobKind, str] = {"generate": "GenerateContentBatch", "embed": "EmbedContentBatch"}
BATCH_ACTIONS: dict[str, JobKind] = {"batchGenerateContent": "generate", "asyncBatchEmbedContent": "embed"}
TERMINAL_ERRORS: dict[Phase, tuple[int, str]] = {
    Phase.FAILED: (13, "The batch failed (emulated failure)."),
    Phase.CANCELLED: (1, "The batch was cancelled."),
    Phase.EXPIRED: (4, "The batch expired: it was pending or running for more than 48 hours."),
}


class GeminiVersionConvertor(Convertor[str]):
    """Matches only the API versions the emulator serves, so Gemini routes never shadow other routers."""

    regex = "v1beta|v1"

    def convert(self, value: str) -> str:
        """Path text to value (unchanged)."""
        return value

    def to_string(self, value: str) -> str:
        """Value to path text (unchanged)."""
        return value


register_url_convertor("gemini_version", GeminiVersionConvertor())


class GeminiError(EmulatorError):
    """An error rendered in Google's envelope: {"error": {"code", "message", "status"[, "details"]}}."""

    def __init__(self, code: int, status: str, message: str, details: list[dict[str, Any]] | None = None) -> None:
        """Remember the HTTP code, the canonical status name, the message and optional details."""
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message
        self.details = details

    def response(self) -> Response:
        """The JSON error response, as Google's front end sends it."""
        error: dict[str, Any] = {"code": self.code, "message": self.message, "status": self.status}
        if self.details:
            error["details"] = self.details
        return JSONResponse({"error": error}, status_code=self.code)


def invalid_argument(message: str) -> GeminiError:
    """A 400 INVALID_ARGUMENT error."""
    return GeminiError(400, "INVALID_ARGUMENT", message)


def not_found(message: str = "Requested entity was not found.") -> GeminiError:
    """A 404 NOT_FOUND error."""
    return GeminiError(404, "NOT_FOUND", message)


def file_not_found(file_id: str) -> GeminiError:
    """What the Files API answers for a file that does not exist (a 403, not a 404)."""
    return GeminiError(
        403,
        "PERMISSION_DENIED",
        f"You do not have permission to access the File {file_id} or it may not exist.",
    )


# Field access and rendering helpers


def snake_case(name: str) -> str:
    """camelCase to snake_case, the other spelling proto-JSON accepts for a field."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def camel_case(name: str) -> str:
    """snake_case to camelCase (camelCase input is returned unchanged)."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def get_field(obj: Mapping[str, Any], camel: str) -> Any:
    """Read a field under its camelCase or snake_case name, as proto-JSON parsing does."""
    if camel in obj:
        return obj[camel]
    return obj.get(snake_case(camel))


def unknown_field(obj: Mapping[str, Any], allowed: frozenset[str]) -> str | None:
    """The first key that is not a known field under either spelling, or None."""
    for key in obj:
        if key not in allowed and camel_case(key) not in allowed:
            return key
    return None


def rfc3339(timestamp: float) -> str:
    """Format an epoch time as RFC 3339 UTC with a Z suffix, as Google timestamps look."""
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def int64(value: int) -> str:
    """int64 values travel as JSON strings."""
    return str(value)


def without_zeros(values: Mapping[str, int]) -> dict[str, int]:
    """Drop zero counts, as proto3 JSON does."""
    return {key: value for key, value in values.items() if value}


def base_url(request: Request) -> str:
    """The server's own base URL (with a trailing slash) as the client reached it."""
    return str(request.base_url)


def parse_page_size(request: Request) -> int:
    """pageSize (or page_size): default 10, capped at 100; negative values are rejected."""
    raw = request.query_params.get("pageSize", request.query_params.get("page_size"))
    if raw is None or raw == "":
        return DEFAULT_PAGE_SIZE
    try:
        size = int(raw)
    except ValueError as exc:
        raise invalid_argument(f"Invalid value at 'page_size' (TYPE_INT32), \"{raw}\"") from exc
    if size < 0:
        raise invalid_argument("page_size must not be negative.")
    return min(size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)


def page_token(request: Request) -> str | None:
    """pageToken (or page_token) from the query string."""
    return request.query_params.get("pageToken", request.query_params.get("page_token")) or None


async def read_json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object; an empty body counts as {}."""
    body = await request.body()
    if not body.strip():
        return {}
    try:
        value = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise invalid_argument(f"Invalid JSON payload received. {exc}") from exc
    if not isinstance(value, dict):
        raise invalid_argument("Invalid JSON payload received. Expected a JSON object.")
    return value


def unknown_name_error(name: str, path: str) -> GeminiError:
    """The proto-JSON parser's complaint about a field that does not exist."""
    return invalid_argument(f"Invalid JSON payload received. Unknown name \"{name}\" at '{path}': Cannot find field.")


def check_fields(obj: Mapping[str, Any], allowed: frozenset[str], path: str) -> None:
    """Reject an object with a field proto-JSON would not know, as the API does for request bodies."""
    name = unknown_field(obj, allowed)
    if name is not None:
        raise unknown_name_error(name, path)


# Auth


def require_api_key(request: Request, state: StateDep) -> None:
    """Check `x-goog-api-key` (or `?key=`, accepted but logged): missing → 403, wrong → 400."""
    key = request.headers.get("x-goog-api-key")
    if not key and request.query_params.get("key"):
        key = request.query_params["key"]
        logger.warning("API key passed as ?key= in the URL of %s %s", request.method, request.url.path)
    if not key:
        raise GeminiError(403, "PERMISSION_DENIED", MISSING_KEY_MESSAGE)
    expected = state.config.api_key
    if expected is not None and key != expected:
        raise GeminiError(
            400,
            "INVALID_ARGUMENT",
            INVALID_KEY_MESSAGE,
            details=[
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": "API_KEY_INVALID",
                    "domain": "googleapis.com",
                    "metadata": {"service": "generativelanguage.googleapis.com"},
                }
            ],
        )


# Files


def render_file(record: StoredFile, base: str, version: str) -> dict[str, Any]:
    """A File resource on the wire."""
    rendered: dict[str, Any] = {"name": f"files/{record.file_id}"}
    if record.display_name:
        rendered["displayName"] = record.display_name
    rendered["mimeType"] = record.mime_type
    if record.size_bytes:
        rendered["sizeBytes"] = int64(record.size_bytes)
    rendered.update(
        {
            "createTime": rfc3339(record.created),
            "updateTime": rfc3339(record.created),
            "expirationTime": rfc3339(record.expires),
            "sha256Hash": base64.b64encode(record.sha256).decode(),
            "uri": f"{base}{version}/files/{record.file_id}",
        }
    )
    if record.source == "GENERATED":
        rendered["downloadUri"] = f"{base}download/{version}/files/{record.file_id}:download?alt=media"
    rendered["state"] = "ACTIVE"
    rendered["source"] = record.source
    return rendered


def split_action(ref: str) -> tuple[str, str | None]:
    """Split a path segment like `abc:download` into ("abc", "download")."""
    resource, sep, action = ref.partition(":")
    return resource, (action if sep else None)


def lookup_file(store: Store, file_id: str, *, check_length: bool) -> StoredFile:
    """Find a file; with check_length, ids over 40 characters fail as the real API fails them."""
    if check_length and len(file_id) > MAX_FILE_ID_LENGTH:
        raise invalid_argument(FILE_ID_TOO_LONG_MESSAGE)
    record = store.get_file(PROVIDER, file_id)
    if record is None:
        raise file_not_found(file_id)
    return record


def download_response(request: Request, record: StoredFile) -> Response:
    """Stream a generated file's bytes from disk (`alt=media` is required, uploads are not downloadable)."""
    if request.query_params.get("alt") != "media":
        raise invalid_argument("Downloading a file requires the query parameter alt=media.")
    if record.source != "GENERATED":
        raise invalid_argument("Only generated files can be downloaded; files created by upload cannot.")
    media_type = record.mime_type if "/" in record.mime_type else "application/octet-stream"
    return FileResponse(record.path, media_type=media_type)


def parse_new_file_id(name: str | None) -> str | None:
    """Validate a client-chosen file name (`files/<id>`) and return its id."""
    if not name:
        return None
    file_id = name.removeprefix("files/")
    if len(file_id) > MAX_FILE_ID_LENGTH:
        raise invalid_argument(FILE_ID_TOO_LONG_MESSAGE)
    if not FILE_ID_PATTERN.match(file_id):
        raise invalid_argument(
            f"Invalid file name {name!r}: the id may contain only lowercase letters, digits and dashes, "
            "and may not start or end with a dash."
        )
    return file_id


async def start_upload(request: Request, version: str, state: EmulatorState) -> Response:
    """Open a resumable upload session and answer with its session URL in `x-goog-upload-url`."""
    if request.headers.get("x-goog-upload-protocol", "").lower() != "resumable":
        raise invalid_argument("The emulator implements only the resumable upload protocol.")
    if request.headers.get("x-goog-upload-command", "").strip().lower() != "start":
        raise invalid_argument("A resumable upload must begin with X-Goog-Upload-Command: start.")
    body = await read_json_object(request)
    check_fields(body, frozenset({"file"}), "")
    file_obj = body.get("file") or {}
    if not isinstance(file_obj, dict):
        raise invalid_argument("Invalid JSON payload received. 'file' must be an object.")
    check_fields(file_obj, FILE_FIELDS, "file")
    file_id = parse_new_file_id(get_field(file_obj, "name"))
    if file_id is not None and state.store.file_exists(PROVIDER, file_id):
        raise GeminiError(409, "ALREADY_EXISTS", f"File files/{file_id} already exists.")
    raw_size = request.headers.get("x-goog-upload-header-content-length")
    declared: int | None = None
    if raw_size is not None:
        if not raw_size.strip().isdigit():
            raise invalid_argument(f"Invalid X-Goog-Upload-Header-Content-Length: {raw_size!r}.")
        declared = int(raw_size)
    mime_type = (
        request.headers.get("x-goog-upload-header-content-type")
        or get_field(file_obj, "mimeType")
        or "application/octet-stream"
    )
    session = state.store.open_upload(PROVIDER, file_id, get_field(file_obj, "displayName"), mime_type, declared)
    upload_url = f"{base_url(request)}upload/{version}/files?upload_id={session.upload_id}&upload_protocol=resumable"
    return Response(
        status_code=200,
        headers={
            "x-goog-upload-url": upload_url,
            "x-goog-upload-status": "active",
            "x-goog-upload-chunk-granularity": str(UPLOAD_CHUNK_GRANULARITY),
        },
    )


def parse_upload_command(raw: str) -> frozenset[str]:
    """`upload, finalize` → {"upload", "finalize"}; rejects anything but upload/finalize/query."""
    parts = frozenset(part.strip().lower() for part in raw.split(",") if part.strip())
    if parts in ({"upload"}, {"upload", "finalize"}, {"finalize"}, {"query"}):
        return parts
    raise invalid_argument(f"Unsupported X-Goog-Upload-Command: {raw!r}.")


def upload_status_headers(session: UploadSession) -> dict[str, str]:
    """Status headers describing a session's progress."""
    return {
        "x-goog-upload-status": "final" if session.final_file is not None else "active",
        "x-goog-upload-size-received": str(session.received),
    }


async def receive_chunk(request: Request, version: str, state: EmulatorState) -> Response:
    """Handle a POST to a session URL: append bytes at the right offset, query progress, or finalize."""
    session = state.store.get_upload(request.query_params["upload_id"])
    if session is None or session.provider != PROVIDER:
        raise not_found("Upload session not found.")
    command = parse_upload_command(request.headers.get("x-goog-upload-command", ""))
    if command == {"query"}:
        if session.final_file is not None:
            return JSONResponse(
                {"file": render_file(session.final_file, base_url(request), version)},
                headers=upload_status_headers(session),
            )
        return Response(status_code=200, headers=upload_status_headers(session))
    if session.final_file is not None:
        raise GeminiError(400, "FAILED_PRECONDITION", "The upload has already been finalized.")
    if session.in_flight:
        raise GeminiError(409, "ABORTED", "Another chunk of this upload is still being received.")
    raw_offset = request.headers.get("x-goog-upload-offset")
    if raw_offset is None or not raw_offset.strip().isdigit():
        raise invalid_argument("X-Goog-Upload-Offset is required and must be a non-negative integer.")
    offset = int(raw_offset)
    if offset != session.received:
        raise invalid_argument(
            f"Invalid X-Goog-Upload-Offset {offset}: {session.received} bytes have been received so far."
        )
    finalize = "finalize" in command
    declared = session.declared_size
    length_header = request.headers.get("content-length")
    if declared is not None and length_header is not None and length_header.isdigit():
        end = offset + int(length_header)
        if end > declared or (finalize and end != declared):
            raise invalid_argument(
                f"Upload size mismatch: the upload would end at byte {end}, but {declared} bytes were declared."
            )
    session.in_flight = True
    try:
        await append_body(request, session, finalize)
    finally:
        session.in_flight = False
    if not finalize:
        return Response(status_code=200, headers={"x-goog-upload-status": "active"})
    file_id = session.file_id or new_id(FILE_ID_LENGTH)
    try:
        record = state.store.finish_upload(session, file_id)
    except KeyError as exc:
        raise GeminiError(409, "ALREADY_EXISTS", f"File files/{file_id} already exists.") from exc
    return JSONResponse(
        {"file": render_file(record, base_url(request), version)},
        headers={"x-goog-upload-status": "final"},
    )


async def append_body(request: Request, session: UploadSession, finalize: bool) -> None:
    """Stream the request body onto the session's file; on any size error, roll the chunk back.

    A connection lost mid-chunk keeps the bytes that arrived, as the real protocol does: the client asks
    for the committed size (`query`) and resumes from there.
    """
    start = session.received
    hasher = session.hasher.copy()
    declared = session.declared_size
    received = 0
    with session.path.open("r+b") as handle:
        handle.seek(start)
        try:
            async for piece in request.stream():
                received += len(piece)
                if declared is not None and start + received > declared:
                    raise invalid_argument(f"Upload size mismatch: more than the declared {declared} bytes were sent.")
                handle.write(piece)
                hasher.update(piece)
            if finalize and declared is not None and start + received != declared:
                raise invalid_argument(
                    f"Upload size mismatch: {start + received} bytes were received but {declared} bytes were declared."
                )
        except ClientDisconnect:
            session.received = start + received
            session.hasher = hasher
            raise
        except BaseException:
            handle.truncate(start)
            raise
    session.received = start + received
    session.hasher = hasher


# Fake model rendering


def part_texts(content: Any) -> list[str]:
    """The text parts of a Content object (anything else yields nothing)."""
    if not isinstance(content, dict):
        return []
    parts = content.get("parts")
    if not isinstance(parts, list):
        return []
    return [part["text"] for part in parts if isinstance(part, dict) and isinstance(part.get("text"), str)]


def row_error(message: str, code: int = 400, status: str = "INVALID_ARGUMENT") -> dict[str, Any]:
    """A per-row error object."""
    return {"code": code, "message": message, "status": status}


def to_row_error(error: responses.RowError) -> dict[str, Any]:
    """The fake model's row error on the wire."""
    return row_error(error.message, error.code, error.status)


def request_field_problem(request: Any, kind: JobKind) -> str | None:
    """Name a field the request must not have (as proto-JSON parsing would), or describe a bad shape."""
    if not isinstance(request, dict):
        return "the request must be a JSON object"
    allowed = GENERATE_REQUEST_FIELDS if kind == "generate" else EMBED_REQUEST_FIELDS
    name = unknown_field(request, allowed)
    if name is not None:
        return f"no such field: '{name}'"
    config = get_field(request, "generationConfig") if kind == "generate" else None
    if isinstance(config, dict):
        name = unknown_field(config, GENERATION_CONFIG_FIELDS)
        if name is not None:
            return f"no such field: '{name}'"
    return None


def response_id(seed: str) -> str:
    """A stable, realistic-looking responseId."""
    return base64.urlsafe_b64encode(hashlib.sha256(seed.encode()).digest()[:16]).decode().rstrip("=")


def generate_response(request: dict[str, Any], model: str, seed: str) -> dict[str, Any]:
    """Answer a GenerateContentRequest: {"response": GenerateContentResponse} or {"error": ...}."""
    contents = get_field(request, "contents")
    if not isinstance(contents, list) or not contents:
        return {"error": row_error("* GenerateContentRequest.contents: contents is not specified")}
    user_contents = [c for c in contents if isinstance(c, dict) and c.get("role", "user") == "user"]
    prompt = "".join(part_texts(user_contents[-1])) if user_contents else ""
    context = [text for content in contents for text in part_texts(content)]
    context += part_texts(get_field(request, "systemInstruction"))
    outcome = responses.generate(prompt, context)
    if isinstance(outcome, responses.RowError):
        return {"error": to_row_error(outcome)}
    usage = without_zeros(
        {
            "promptTokenCount": outcome.prompt_tokens,
            "candidatesTokenCount": outcome.completion_tokens,
            "totalTokenCount": outcome.total_tokens,
        }
    )
    return {
        "response": {
            "candidates": [
                {
                    "content": {"parts": [{"text": outcome.text}], "role": "model"},
                    "finishReason": "STOP",
                    "index": 0,
                }
            ],
            "usageMetadata": usage,
            "modelVersion": model.removeprefix("models/").removeprefix("tunedModels/"),
            "responseId": response_id(seed),
        }
    }


def embed_response(request: dict[str, Any]) -> dict[str, Any]:
    """Answer an EmbedContentRequest: {"response": {"embedding": {"values"}}} or {"error": ...}."""
    content = get_field(request, "content")
    if not isinstance(content, dict):
        return {"error": row_error("* EmbedContentRequest.content: content is not specified")}
    dimensions = get_field(request, "outputDimensionality")
    if dimensions is not None and not isinstance(dimensions, int):
        return {"error": row_error("outputDimensionality must be an integer.")}
    outcome = responses.embed("".join(part_texts(content)), dimensions)
    if isinstance(outcome, responses.RowError):
        return {"error": to_row_error(outcome)}
    response: dict[str, Any] = {"embedding": {"values": outcome.values}}
    usage = without_zeros({"promptTokenCount": outcome.prompt_tokens})
    if usage:
        response["usageMetadata"] = usage
    return {"response": response}


def answer(request: dict[str, Any], job: JobRecord, position: int) -> dict[str, Any]:
    """One well-formed request's outcome from the fake model, in the job's kind."""
    if job.kind == "embed":
        return embed_response(request)
    return generate_response(request, job.model, f"{job.job_id}:{position}")


def result_line(job: JobRecord, number: int, line: bytes) -> tuple[bytes, bool]:
    """Turn one input JSONL line into its result line; unparseable lines become error rows."""
    try:
        entry = msgspec.json.decode(line)
    except msgspec.DecodeError as exc:
        error = row_error(f"Error on line {number}: invalid JSON: {exc}")
        return msgspec.json.encode({"key": None, "error": error}), False
    if not isinstance(entry, dict):
        error = row_error(f"Error on line {number}: a line must be a JSON object.")
        return msgspec.json.encode({"key": None, "error": error}), False
    key = entry.get("key")
    if "request" in entry:
        request = entry["request"]
    elif "key" not in entry and ("contents" in entry or "content" in entry):
        request = entry
    else:
        error = row_error(f"Error on line {number}: 'request' is not specified.")
        return msgspec.json.encode({"key": key, "error": error}), False
    problem = request_field_problem(request, job.kind)
    if problem is not None:
        error = row_error(f"Error on line {number}: invalid JSON: {problem}")
        return msgspec.json.encode({"key": key, "error": error}), False
    outcome = answer(request, job, number)
    return msgspec.json.encode({"key": key, **outcome}), "response" in outcome


def materialise_file_job(job: JobRecord, store: Store) -> JobResults:
    """Stream a file-input job's lines into its results file `files/batch-<id>`."""
    file_id = RESULT_FILE_PREFIX + job.job_id
    path = store.file_path(PROVIDER, file_id)
    succeeded, failed, size, digest = materialise_lines(job, path, lambda number, line: result_line(job, number, line))
    record = StoredFile(
        provider=PROVIDER,
        file_id=file_id,
        display_name=None,
        mime_type=RESULT_MIME_TYPE,
        size_bytes=size,
        sha256=digest,
        created=time.time(),
        source="GENERATED",
        path=path,
    )
    return JobResults(succeeded=succeeded, failed=failed, file=record)


def materialise_inline_job(job: JobRecord, store: Store) -> JobResults:
    """Answer an inline job's requests in order, echoing each request's metadata."""
    rows: list[dict[str, Any]] = []
    succeeded = failed = 0
    for position, entry in enumerate(job.inline_requests or []):
        # Creation already rejected malformed inline requests, as the proto parser would.
        outcome = answer(get_field(entry, "request"), job, position)
        row = dict(outcome)
        if "metadata" in entry:
            row["metadata"] = entry["metadata"]
        rows.append(row)
        if "response" in outcome:
            succeeded += 1
        else:
            failed += 1
    return JobResults(succeeded=succeeded, failed=failed, inline=rows)


# Batches


def batch_state(phase: Phase) -> str:
    """The wire name of a phase: BATCH_STATE_*."""
    return f"BATCH_STATE_{phase.value}"


def render_output(job: JobRecord) -> dict[str, Any]:
    """The output oneof of a finished job: responsesFile or the doubly nested inlinedResponses."""
    results = job.results
    if results is None:
        return {}
    if results.file is not None:
        return {"responsesFile": f"files/{results.file.file_id}"}
    return {"inlinedResponses": {"inlinedResponses": results.inline or []}}


def render_batch_stats(job: JobRecord, phase: Phase) -> dict[str, str]:
    """batchStats as int64 strings, zero counts omitted."""
    counts = {"requestCount": job.request_count}
    if phase in (Phase.PENDING, Phase.RUNNING):
        counts["pendingRequestCount"] = job.request_count
    elif phase is Phase.SUCCEEDED and job.results is not None:
        counts["successfulRequestCount"] = job.results.succeeded
        counts["failedRequestCount"] = job.results.failed
    return {key: int64(value) for key, value in without_zeros(counts).items()}


def render_input_config(job: JobRecord, *, listing: bool) -> dict[str, Any] | None:
    """The job's inputConfig; listings leave out inline requests, which can be large."""
    if job.input_file is not None:
        return {"fileName": job.input_file}
    if listing:
        return None
    return {"requests": {"requests": job.inline_requests or []}}


def render_operation(job: JobRecord, phase: Phase, *, listing: bool = False) -> dict[str, Any]:
    """A batch as the long-running Operation the API returns (listings omit output and response)."""
    batch_type = TYPE_PREFIX + BATCH_TYPES[job.kind]
    metadata: dict[str, Any] = {"@type": batch_type, "model": job.model}
    if job.display_name:
        metadata["displayName"] = job.display_name
    metadata["name"] = job.name
    input_config = render_input_config(job, listing=listing)
    if input_config is not None:
        metadata["inputConfig"] = input_config
    succeeded = phase is Phase.SUCCEEDED and job.results is not None
    if succeeded and not listing:
        metadata["output"] = render_output(job)
    metadata["createTime"] = rfc3339(job.created)
    metadata["updateTime"] = rfc3339(job.update_time(phase))
    end = job.end_time(phase)
    if end is not None:
        metadata["endTime"] = rfc3339(end)
    metadata["batchStats"] = render_batch_stats(job, phase)
    metadata["state"] = batch_state(phase)
    priority = job.extra.get("priority", 0)
    if priority:
        metadata["priority"] = int64(priority)
    operation: dict[str, Any] = {"name": job.name, "metadata": metadata}
    if phase.is_terminal:
        operation["done"] = True
    if succeeded and not listing:
        operation["response"] = {"@type": batch_type + "Output", **render_output(job)}
    elif phase in TERMINAL_ERRORS:
        code, message = TERMINAL_ERRORS[phase]
        if phase is Phase.FAILED and job.failure:
            message = job.failure
        operation["error"] = {"code": code, "message": message}
    return operation


def parse_priority(value: Any) -> int:
    """priority is an int64: a JSON number or a numeric string."""
    if value is None:
        return 0
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise invalid_argument(f"Invalid value at 'batch.priority' (TYPE_INT64), {value!r}") from exc


def parse_inline_requests(requests: Any, kind: JobKind) -> list[dict[str, Any]]:
    """Validate `inputConfig.requests` ({"requests": [InlinedRequest]}) as the proto parser would."""
    base_path = "batch.input_config.requests"
    if not isinstance(requests, dict):
        raise invalid_argument(f"Invalid JSON payload received. '{base_path}' must be an object.")
    check_fields(requests, frozenset({"requests"}), base_path)
    entries = requests.get("requests")
    if not isinstance(entries, list) or not entries:
        raise invalid_argument("* BatchGenerateContentRequest.batch.input_config.requests: requests is empty.")
    allowed = GENERATE_REQUEST_FIELDS if kind == "generate" else EMBED_REQUEST_FIELDS
    for index, entry in enumerate(entries):
        path = f"{base_path}.requests[{index}]"
        if not isinstance(entry, dict):
            raise invalid_argument(f"Invalid JSON payload received. '{path}' must be an object.")
        check_fields(entry, INLINED_REQUEST_FIELDS, path)
        request = get_field(entry, "request")
        if not isinstance(request, dict):
            raise invalid_argument(f"* {path}.request: request is not specified.")
        check_fields(request, allowed, f"{path}.request")
        config = get_field(request, "generationConfig") if kind == "generate" else None
        if isinstance(config, dict):
            check_fields(config, GENERATION_CONFIG_FIELDS, f"{path}.request.generation_config")
    return entries


async def create_batch(request: Request, model: str, kind: JobKind, state: EmulatorState) -> dict[str, Any]:
    """Validate a batch create body, register the job and return its PENDING Operation."""
    body = await read_json_object(request)
    check_fields(body, frozenset({"batch", "model"}), "")
    batch = body.get("batch")
    if not isinstance(batch, dict):
        raise invalid_argument("* BatchGenerateContentRequest.batch: batch is not specified.")
    check_fields(batch, BATCH_FIELDS, "batch")
    input_config = get_field(batch, "inputConfig")
    if not isinstance(input_config, dict):
        raise invalid_argument("* batch.input_config: input_config is not specified.")
    check_fields(input_config, INPUT_CONFIG_FIELDS, "batch.input_config")
    file_name = get_field(input_config, "fileName")
    inline = get_field(input_config, "requests")
    if file_name is not None and inline is not None:
        raise invalid_argument(
            "Invalid JSON payload received. Oneof field 'source' is already set. Cannot set 'requests'."
        )
    if file_name is None and inline is None:
        raise invalid_argument("* batch.input_config: either file_name or requests must be set.")
    priority = parse_priority(get_field(batch, "priority"))
    display_name = get_field(batch, "displayName")
    job_id = new_id(BATCH_ID_LENGTH)
    store = state.store
    input_path = None
    inline_requests = None
    if file_name is not None:
        if not isinstance(file_name, str) or not file_name.startswith("files/"):
            raise invalid_argument(f"Invalid input file name {file_name!r}: expected 'files/<id>'.")
        source = store.get_file(PROVIDER, file_name.removeprefix("files/"))
        if source is None:
            raise not_found(f"File {file_name} was not found.")
        input_path = await run_in_threadpool(store.snapshot_input, source, job_id)
        request_count = await run_in_threadpool(count_lines, input_path)
    else:
        inline_requests = parse_inline_requests(inline, kind)
        request_count = len(inline_requests)
    config = state.config
    job = JobRecord(
        provider=PROVIDER,
        job_id=job_id,
        name=f"batches/{job_id}",
        kind=kind,
        model=model,
        display_name=display_name if isinstance(display_name, str) else None,
        input_file=file_name,
        input_path=input_path,
        inline_requests=inline_requests,
        request_count=request_count,
        created=time.time(),
        pending_seconds=config.pending_seconds,
        running_seconds=config.running_seconds,
        outcome=config.job_outcome,
        materialiser=materialise_file_job if file_name is not None else materialise_inline_job,
        state_name=batch_state,
        extra={"priority": priority, "webhookConfig": get_field(batch, "webhookConfig")},
    )
    store.add_job(job)
    return render_operation(job, Phase.PENDING)


def lookup_job(store: Store, batch_id: str) -> JobRecord:
    """Find a live Gemini batch by id, or raise NOT_FOUND."""
    job = store.get_job(f"batches/{batch_id}")
    if job is None or job.provider != PROVIDER:
        raise not_found()
    return job


# Routes

router = APIRouter(tags=["gemini"])
authenticated = [Depends(require_api_key)]


@router.post("/upload/{version:gemini_version}/files")
async def upload_endpoint(request: Request, version: str, state: StateDep) -> Response:
    """Start a resumable upload (API key required) or receive a chunk on a session URL (no key)."""
    if "upload_id" in request.query_params:
        return await receive_chunk(request, version, state)
    require_api_key(request, state)
    return await start_upload(request, version, state)


@router.get("/{version:gemini_version}/files", dependencies=authenticated)
async def list_files(request: Request, version: str, state: StateDep) -> dict[str, Any]:
    """List files, newest first, one page at a time."""
    page = paginate(state.store.list_files(PROVIDER), parse_page_size(request), page_token_checked(request))
    result: dict[str, Any] = {}
    if page.items:
        result["files"] = [render_file(f, base_url(request), version) for f in page.items]
    if page.next_token:
        result["nextPageToken"] = page.next_token
    return result


def page_token_checked(request: Request) -> str | None:
    """The page token, rejected up front when it is not one the emulator issued."""
    token = page_token(request)
    if token is not None:
        try:
            decode_page_token(token)
        except ValueError as exc:
            raise invalid_argument(f"Invalid page token: {token}") from exc
    return token


@router.get("/{version:gemini_version}/files/{file_ref}", dependencies=authenticated)
async def get_file(request: Request, version: str, file_ref: str, state: StateDep) -> Response:
    """Get a file's metadata, or (`<id>:download?alt=media`) stream its bytes."""
    file_id, action = split_action(file_ref)
    if action == "download":
        return download_response(request, lookup_file(state.store, file_id, check_length=False))
    if action is not None:
        raise not_found()
    record = lookup_file(state.store, file_id, check_length=True)
    return JSONResponse(render_file(record, base_url(request), version))


@router.get("/download/{version:gemini_version}/files/{file_ref}", dependencies=authenticated)
async def download_file(request: Request, file_ref: str, state: StateDep) -> Response:
    """The documented download URL: `/download/{ver}/files/<id>:download?alt=media`."""
    file_id, action = split_action(file_ref)
    if action != "download":
        raise not_found()
    return download_response(request, lookup_file(state.store, file_id, check_length=False))


@router.delete("/{version:gemini_version}/files/{file_ref}", dependencies=authenticated)
async def delete_file(file_ref: str, state: StateDep) -> dict[str, Any]:
    """Delete a file (ids over 40 characters fail, as for GET)."""
    file_id, action = split_action(file_ref)
    if action is not None:
        raise not_found()
    lookup_file(state.store, file_id, check_length=True)
    state.store.delete_file(PROVIDER, file_id)
    return {}


@router.post("/{version:gemini_version}/models/{model_action}", dependencies=authenticated)
async def create_model_batch(request: Request, model_action: str, state: StateDep) -> dict[str, Any]:
    """`models/<m>:batchGenerateContent` and `models/<m>:asyncBatchEmbedContent`."""
    return await create_for_action(request, "models", model_action, state)


@router.post("/{version:gemini_version}/tunedModels/{model_action}", dependencies=authenticated)
async def create_tuned_model_batch(request: Request, model_action: str, state: StateDep) -> dict[str, Any]:
    """The same batch methods on a tuned model."""
    return await create_for_action(request, "tunedModels", model_action, state)


async def create_for_action(
    request: Request, collection: str, model_action: str, state: EmulatorState
) -> dict[str, Any]:
    """Dispatch `<model>:<action>` to the batch kind it names."""
    model_id, action = split_action(model_action)
    kind = BATCH_ACTIONS.get(action or "")
    if kind is None or not model_id:
        raise not_found(f"Method {model_action!r} is not supported by the emulator.")
    return await create_batch(request, f"{collection}/{model_id}", kind, state)


@router.get("/{version:gemini_version}/batches", dependencies=authenticated)
async def list_batches(request: Request, state: StateDep) -> dict[str, Any]:
    """List batches newest first; entries leave out outputs (get a batch to see them)."""
    page = paginate(state.store.list_jobs(PROVIDER), parse_page_size(request), page_token_checked(request))
    operations = []
    for job in page.items:
        phase = await run_in_threadpool(state.store.observe, job)
        operations.append(render_operation(job, phase, listing=True))
    result: dict[str, Any] = {}
    if operations:
        result["operations"] = operations
    if page.next_token:
        result["nextPageToken"] = page.next_token
    return result


@router.get("/{version:gemini_version}/batches/{batch_ref}", dependencies=authenticated)
async def get_batch(batch_ref: str, state: StateDep) -> dict[str, Any]:
    """Get a batch as an Operation; its state advances with time."""
    batch_id, action = split_action(batch_ref)
    if action is not None:
        raise not_found()
    job = lookup_job(state.store, batch_id)
    phase = await run_in_threadpool(state.store.observe, job)
    return render_operation(job, phase)


@router.post("/{version:gemini_version}/batches/{batch_ref}", dependencies=authenticated)
async def cancel_batch(batch_ref: str, state: StateDep) -> dict[str, Any]:
    """`batches/<id>:cancel`: pending or running → CANCELLED; an ended batch → FAILED_PRECONDITION."""
    batch_id, action = split_action(batch_ref)
    if action != "cancel":
        raise not_found()
    job = lookup_job(state.store, batch_id)
    cancelled = await run_in_threadpool(state.store.cancel_job, job)
    if not cancelled:
        raise GeminiError(400, "FAILED_PRECONDITION", f"Batch {job.name} has already ended and cannot be cancelled.")
    return {}


@router.delete("/{version:gemini_version}/batches/{batch_ref}", dependencies=authenticated)
async def delete_batch(batch_ref: str, state: StateDep) -> dict[str, Any]:
    """Delete a batch (it is not cancelled first, as the API reference says)."""
    batch_id, action = split_action(batch_ref)
    if action is not None:
        raise not_found()
    state.store.delete_job(lookup_job(state.store, batch_id))
    return {}
