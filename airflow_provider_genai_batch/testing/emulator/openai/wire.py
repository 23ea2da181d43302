"""OpenAI's wire format: error envelopes, FileObject and Batch bodies with unix-int timestamps, list pages."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from typing import Any

from starlette.responses import JSONResponse, Response

from airflow_provider_genai_batch.testing.emulator import progress
from airflow_provider_genai_batch.testing.emulator.common import (
    BASE62_ALPHABET,
    HEX_ALPHABET,
    EmulatorError,
    edge_ids,
    openai_error_body,
    random_token,
    unix_seconds,
)
from airflow_provider_genai_batch.testing.emulator.store import JobRecord, JobResults, Phase, StoredFile

PROVIDER = "openai"
FILE_ID_LENGTH = 22
BATCH_ID_LENGTH = 32
BATCH_WINDOW_SECONDS = 24 * 3600
FINALIZING_SHARE = 0.5
"""A batch that will complete is `finalizing` for the last half of its running time."""
ALPHANUMERIC = BASE62_ALPHABET


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
        body = openai_error_body(self.message, self.error_type, self.param, self.code)
        return JSONResponse(body, status_code=self.status)


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


# Records and ids


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


def new_file_id() -> str:
    """`file-` and 22 random letters and digits."""
    return "file-" + random_token(FILE_ID_LENGTH, ALPHANUMERIC)


def new_batch_id() -> str:
    """`batch_` and 32 random hex digits."""
    return "batch_" + random_token(BATCH_ID_LENGTH, HEX_ALPHABET)


@cache
def _byte_table(alphabet: str) -> bytes:
    """A bytes.translate table sending every byte value to a character of `alphabet`."""
    return bytes(ord(alphabet[value % len(alphabet)]) for value in range(256))


def row_token(seed: str, length: int, alphabet: str = HEX_ALPHABET) -> str:
    """A deterministic id fragment of up to 64 characters from `alphabet`, one hash per id.

    Every answered row carries several ids, so this is on the batch's hot path: one blake2b digest,
    mapped through a table, instead of a big-integer base conversion per character.
    """
    if alphabet == HEX_ALPHABET:
        return hashlib.blake2b(seed.encode(), digest_size=(length + 1) // 2).hexdigest()[:length]
    return hashlib.blake2b(seed.encode(), digest_size=length).digest().translate(_byte_table(alphabet)).decode()


def file_purpose(record: StoredFile) -> str:
    """A file's purpose (files the store made without one are batch files)."""
    return record.purpose if isinstance(record, OpenAIFile) else "batch"


# Rendering


def render_file(record: StoredFile) -> dict[str, Any]:
    """A FileObject on the wire."""
    expires = record.expires_at if isinstance(record, OpenAIFile) else None
    return {
        "id": record.file_id,
        "bytes": record.size_bytes,
        "created_at": int(record.created),
        "filename": record.display_name or "",
        "object": "file",
        "purpose": file_purpose(record),
        "status": "processed",
        "expires_at": unix_seconds(expires),
        "status_details": None,
    }


def page_body(data: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    """The list envelope."""
    return {"object": "list", "data": data, **edge_ids(data), "has_more": has_more}


def finalizing_start(job: JobRecord) -> float:
    """When a batch that will complete starts finalizing."""
    return job.running_at + job.running_seconds * (1 - FINALIZING_SHARE)


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
        "created_at": unix_seconds(job.created),
        "in_progress_at": unix_seconds(in_progress_at),
        "expires_at": unix_seconds(job.created + BATCH_WINDOW_SECONDS),
        "finalizing_at": unix_seconds(finalizing_at),
        "completed_at": unix_seconds(completed_at),
        "failed_at": unix_seconds(failed_at),
        "expired_at": unix_seconds(expired_at),
        "cancelling_at": unix_seconds(cancelling_at),
        "cancelled_at": unix_seconds(cancelled_at),
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
