"""Gemini's wire format: Google error envelopes, proto-JSON field spellings, and File / batch Operation bodies.

camelCase goes out, camelCase or snake_case comes in (as proto-JSON accepts), int64 values travel as
strings and zero values are left out.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any

from starlette.responses import JSONResponse, Response

from airflow_provider_genai_batch.testing.emulator.common import EmulatorError, google_error_body, rfc3339
from airflow_provider_genai_batch.testing.emulator.store import JobKind, JobRecord, Phase, StoredFile

PROVIDER = "gemini"
FILE_ID_LENGTH = 12
BATCH_ID_LENGTH = 36
MAX_FILE_ID_LENGTH = 40
RESULT_FILE_PREFIX = "batch-"
RESULT_MIME_TYPE = "application/jsonl"
TYPE_PREFIX = "type.googleapis.com/google.ai.generativelanguage.v1main."
BATCH_TYPES: dict[JobKind, str] = {"generate": "GenerateContentBatch", "embed": "EmbedContentBatch"}
TERMINAL_ERRORS: dict[Phase, tuple[int, str]] = {
    Phase.FAILED: (13, "The batch failed (emulated failure)."),
    Phase.CANCELLED: (1, "The batch was cancelled."),
    Phase.EXPIRED: (4, "The batch expired: it was pending or running for more than 48 hours."),
}


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
        return JSONResponse(
            google_error_body(self.code, self.status, self.message, self.details), status_code=self.code
        )


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


# Field spellings


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


def int64(value: int) -> str:
    """int64 values travel as JSON strings."""
    return str(value)


def without_zeros(values: Mapping[str, int]) -> dict[str, int]:
    """Drop zero counts, as proto3 JSON does."""
    return {key: value for key, value in values.items() if value}


def render_page(
    key: str, items: list[dict[str, Any]], next_token: str | None, *, keep_empty: bool = False
) -> dict[str, Any]:
    """A list response: the items under `key` (left out when empty, as proto3 JSON does) and nextPageToken."""
    result: dict[str, Any] = {}
    if items or keep_empty:
        result[key] = items
    if next_token:
        result["nextPageToken"] = next_token
    return result


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


# Batches


def batch_state(phase: Phase) -> str:
    """The wire name of a phase: BATCH_STATE_*."""
    return f"BATCH_STATE_{phase.value}"


def control_state_name(job: JobRecord, phase: Phase) -> str:
    """The state shown by /_emulator/jobs."""
    return batch_state(phase)


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
