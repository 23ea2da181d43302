"""Anthropic's wire format: error envelopes, ids, and MessageBatch bodies with RFC 3339 timestamps.

A batch's counts stay in `processing` until it ends; then they split by how each request ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.responses import JSONResponse, Response

from airflow_provider_genai_batch.testing.emulator import progress
from airflow_provider_genai_batch.testing.emulator.common import (
    EmulatorError,
    anthropic_error_body,
    edge_ids,
    optional_rfc3339,
    random_token,
    rfc3339,
)
from airflow_provider_genai_batch.testing.emulator.store import JobRecord, JobResults, Phase

PROVIDER = "anthropic"
BATCH_WINDOW_SECONDS = 24 * 3600
ID_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
"""Base58: the alphabet of Anthropic's ids after their `01` prefix."""


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
        body = {**anthropic_error_body(self.error_type, self.message), "request_id": request_id}
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
    return prefix + "01" + random_token(22, ID_ALPHABET)


def new_request_id() -> str:
    """A random `req_…` id."""
    return random_id("req_")


@dataclass
class AnthropicResults(JobResults):
    """A finished batch's results file and its per-type counts (succeeded/failed are in JobResults)."""

    canceled: int = 0
    expired: int = 0


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
        "ended_at": optional_rfc3339(ended_at(job, phase)) if is_ended else None,
        "created_at": rfc3339(job.created),
        "expires_at": rfc3339(job.created + BATCH_WINDOW_SECONDS),
        "cancel_initiated_at": optional_rfc3339(job.cancelled_at),
        "archived_at": None,
        "results_url": f"{base_url}anthropic/v1/messages/batches/{job.job_id}/results" if is_ended else None,
    }


def page_body(data: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    """The list envelope."""
    return {"data": data, "has_more": has_more, **edge_ids(data)}
