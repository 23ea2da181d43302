"""The gateway's wire format: its provider-neutral view of files and batches, rendered in Gemini's shape.

Batches look as Bifrost renders them: ``@type ...v1beta.BatchPredictionJob``, counts as strings,
``dest.fileName``, the bare provider id as ``name``, and a state mapped in two steps (provider status to
Bifrost status, then to ``BATCH_STATE_*``): never PENDING, CANCELLING passed on. Errors use Google's
envelope with the provider's message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from airflow_provider_genai_batch.testing.emulator.common import rfc3339
from airflow_provider_genai_batch.testing.emulator.gemini.wire import GeminiError

BATCH_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1beta.BatchPredictionJob"
HTTP_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
}
WIRE_STATES = {
    "validating": "BATCH_STATE_RUNNING",
    "in_progress": "BATCH_STATE_RUNNING",
    "finalizing": "BATCH_STATE_RUNNING",
    "completed": "BATCH_STATE_SUCCEEDED",
    "ended": "BATCH_STATE_SUCCEEDED",
    "failed": "BATCH_STATE_FAILED",
    "cancelling": "BATCH_STATE_CANCELLING",
    "cancelled": "BATCH_STATE_CANCELLED",
    "expired": "BATCH_STATE_EXPIRED",
}
"""Step two of the state mapping (Bifrost status to wire state); anything else is BATCH_STATE_UNSPECIFIED."""
DONE_STATUSES = frozenset({"completed", "ended", "failed", "expired", "cancelled"})


def gateway_error(code: int, message: str) -> GeminiError:
    """An error as the gateway renders one: Google's envelope, the provider's message."""
    return GeminiError(code, HTTP_STATUS_NAMES.get(code, "INTERNAL" if code >= 500 else "FAILED_PRECONDITION"), message)


@dataclass(frozen=True)
class GatewayFile:
    """A provider file as the gateway describes it."""

    name: str
    display_name: str | None
    size_bytes: int
    created: float


@dataclass(frozen=True)
class GatewayBatch:
    """A provider batch as the gateway describes it: Bifrost's status and counts, before rendering."""

    id: str
    status: str
    created: float
    ended: float | None = None
    total: int = 0
    succeeded: int = 0
    failed: int = 0
    pending: int = 0
    input_file: str | None = None
    output_file: str | None = None


@dataclass(frozen=True)
class Listing:
    """One page of a listing and the token of the next page, if any."""

    items: list[Any]
    next_token: str | None


def timestamp(moment: float | None) -> str:
    """Epoch seconds as RFC 3339 at second precision (Bifrost keeps unix seconds); "" when unknown."""
    if not moment:
        return ""
    return rfc3339(int(moment), "seconds")


def render_file(record: GatewayFile) -> dict[str, Any]:
    """A provider file as the facade renders it (always an octet-stream, ACTIVE, its uri its name)."""
    file: dict[str, Any] = {"name": record.name}
    if record.display_name:
        file["displayName"] = record.display_name
    file.update(
        {
            "mimeType": "application/octet-stream",
            "sizeBytes": str(record.size_bytes),
            "createTime": timestamp(record.created),
            "updateTime": timestamp(record.created),
            "state": "ACTIVE",
            "uri": record.name,
        }
    )
    return file


def render_batch(batch: GatewayBatch) -> dict[str, Any]:
    """A batch as the facade renders it; pending is derived when the provider does not report it."""
    pending = batch.pending or max(0, batch.total - batch.succeeded - batch.failed)
    metadata: dict[str, Any] = {
        "name": batch.id,
        "@type": BATCH_TYPE,
        "createTime": timestamp(batch.created),
        "updateTime": timestamp(batch.created),
        "state": WIRE_STATES.get(batch.status, "BATCH_STATE_UNSPECIFIED"),
        "batchStats": {
            "requestCount": str(batch.total),
            "pendingRequestCount": str(pending),
            "successfulRequestCount": str(batch.succeeded),
        },
    }
    if batch.input_file:
        metadata["inputConfig"] = {"fileName": batch.input_file}
    if batch.output_file:
        metadata["output"] = {"responsesFile": batch.output_file}
    if batch.ended:
        metadata["endTime"] = timestamp(batch.ended)
    operation: dict[str, Any] = {"name": batch.id, "metadata": metadata}
    if batch.output_file:
        operation["dest"] = {"fileName": batch.output_file}
    operation["done"] = batch.status in DONE_STATUSES
    return operation
