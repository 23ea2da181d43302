"""The gateway's wire format: its provider-neutral view of files and batches, and how each is rendered.

The facade renders Gemini's shape: ``@type ...v1beta.BatchPredictionJob``, counts as strings, names
``batches/<provider id>`` and ``files/<provider id>``, and a state mapped in two steps (provider status
to Bifrost status, then to ``BATCH_STATE_*``; never PENDING, CANCELLING passed on), or the provider's
raw status in passthrough mode. The native routes at the root render Bifrost's own JSON. Facade errors
use Google's envelope, native-route errors Bifrost's; both carry the provider's message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from airflow_provider_genai_batch.testing.emulator.common import (
    EmulatorError,
    JsonBodyErrors,
    google_error_body,
    read_json_object,
    rfc3339,
)

BATCH_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1beta.BatchPredictionJob"
BATCHES = "batches/"
FILES = "files/"
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


class GatewayError(EmulatorError):
    """A facade error: Google's envelope with the provider's message."""

    def __init__(self, code: int, message: str) -> None:
        """Remember the HTTP code and the message."""
        super().__init__(message)
        self.code = code
        self.message = message

    def response(self) -> Response:
        """Google's envelope, the status name derived from the code."""
        status = HTTP_STATUS_NAMES.get(self.code, "INTERNAL" if self.code >= 500 else "FAILED_PRECONDITION")
        return JSONResponse(google_error_body(self.code, status, self.message), status_code=self.code)


class NativeError(GatewayError):
    """An error of the native routes at the root: Bifrost's own envelope."""

    def response(self) -> Response:
        """``{"is_bifrost_error": false, "status_code", "error": {"message"}}``."""
        body = {"is_bifrost_error": False, "status_code": self.code, "error": {"message": self.message}}
        return JSONResponse(body, status_code=self.code)


MAX_BODY_BYTES = 100 * 1024**2
"""The most one request body may hold (``max_request_body_size_mb``: 100 by default), for every route alike."""


class BodyTooLarge(GatewayError):
    """A body over :data:`MAX_BODY_BYTES`: refused by the HTTP server before any handler, in plain text."""

    def __init__(self) -> None:
        """Always 413."""
        super().__init__(413, "Request Entity Too Large")

    def response(self) -> Response:
        """The server's own answer, not an API envelope."""
        return PlainTextResponse(self.message, status_code=self.code)


def check_declared_size(request: Request) -> None:
    """Refuse a body whose declared length is over :data:`MAX_BODY_BYTES`, before reading it."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BodyTooLarge()


def check_read_size(size: int) -> None:
    """Refuse a body once :data:`MAX_BODY_BYTES` of it have been exceeded (one sent without a length)."""
    if size > MAX_BODY_BYTES:
        raise BodyTooLarge()


def gateway_error(code: int, message: str) -> GatewayError:
    """An error as the facade renders one."""
    return GatewayError(code, message)


JSON_BODY = JsonBodyErrors(
    unparseable=lambda exc: gateway_error(400, f"Invalid JSON payload received. {exc}"),
    not_an_object=lambda: gateway_error(400, "Invalid JSON payload received: the body must be a JSON object."),
)


async def read_body(request: Request) -> dict[str, Any]:
    """The request body as a JSON object; an empty body counts as {}; one over :data:`MAX_BODY_BYTES` is refused."""
    check_declared_size(request)
    check_read_size(len(await request.body()))
    return await read_json_object(request, JSON_BODY)


@dataclass(frozen=True)
class GatewayFile:
    """A provider file as the gateway describes it (``id`` is the bare provider id)."""

    id: str
    display_name: str | None
    size_bytes: int
    created: float


@dataclass(frozen=True)
class GatewayBatch:
    """A provider batch as the gateway describes it: Bifrost's status and counts, before rendering.

    ``id``, ``input_file`` and ``output_file`` are bare provider ids; ``raw_status`` is the provider's own;
    ``native`` holds the provider-specific fields of Bifrost's retrieve response.
    """

    id: str
    status: str
    raw_status: str
    created: float
    ended: float | None = None
    total: int = 0
    succeeded: int = 0
    failed: int = 0
    pending: int = 0
    input_file: str | None = None
    output_file: str | None = None
    native: dict[str, Any] = field(default_factory=dict)


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


def render_page(key: str, items: list[dict[str, Any]], next_token: str | None) -> dict[str, Any]:
    """A facade list: the items under ``key`` (kept when empty) and ``nextPageToken`` when there is more."""
    page: dict[str, Any] = {key: items}
    if next_token:
        page["nextPageToken"] = next_token
    return page


def render_file(record: GatewayFile) -> dict[str, Any]:
    """A provider file as the facade renders it (``files/<id>``, an octet-stream, ACTIVE, its uri its name)."""
    name = FILES + record.id
    file: dict[str, Any] = {"name": name}
    if record.display_name:
        file["displayName"] = record.display_name
    file.update(
        {
            "mimeType": "application/octet-stream",
            "sizeBytes": str(record.size_bytes),
            "createTime": timestamp(record.created),
            "updateTime": timestamp(record.created),
            "state": "ACTIVE",
            "uri": name,
        }
    )
    return file


def wire_state(batch: GatewayBatch, raw_states: bool) -> str:
    """The ``metadata.state`` of a batch: mapped in two steps, or the provider's raw status."""
    if raw_states:
        return batch.raw_status
    return WIRE_STATES.get(batch.status, "BATCH_STATE_UNSPECIFIED")


def render_batch(batch: GatewayBatch, raw_states: bool) -> dict[str, Any]:
    """A batch as the facade renders it; pending is derived when the provider does not report it."""
    name = BATCHES + batch.id
    pending = batch.pending or max(0, batch.total - batch.succeeded - batch.failed)
    metadata: dict[str, Any] = {
        "@type": BATCH_TYPE,
        "name": name,
        "createTime": timestamp(batch.created),
        "updateTime": timestamp(batch.ended or batch.created),
        "state": wire_state(batch, raw_states),
        "batchStats": {
            "requestCount": str(batch.total),
            "pendingRequestCount": str(pending),
            "successfulRequestCount": str(batch.succeeded),
        },
    }
    if batch.input_file:
        metadata["inputConfig"] = {"fileName": FILES + batch.input_file}
    if batch.output_file:
        metadata["output"] = {"responsesFile": FILES + batch.output_file}
    if batch.ended:
        metadata["endTime"] = timestamp(batch.ended)
    operation: dict[str, Any] = {"name": name, "metadata": metadata}
    if batch.output_file:
        operation["dest"] = {"fileName": FILES + batch.output_file}
    operation["done"] = batch.status in DONE_STATUSES
    return operation


def extra_fields(request_type: str, provider: str) -> dict[str, Any]:
    """Bifrost's ``extra_fields`` of a native response."""
    return {"request_type": request_type, "provider": provider, "latency": 0, "chunk_index": 0}


def render_retrieve(batch: GatewayBatch, provider: str) -> dict[str, Any]:
    """Bifrost's batch retrieve JSON: OpenAI-like, Bifrost's status, unix seconds, provider extras."""
    body: dict[str, Any] = {"id": batch.id, "object": "batch", "status": batch.status}
    body["request_counts"] = {"total": batch.total, "completed": batch.succeeded, "failed": batch.failed}
    if batch.created:
        body["created_at"] = int(batch.created)
    for key, value in batch.native.items():
        if key == "request_counts":
            body["request_counts"].update(value)
        elif value is not None:
            body[key] = value
    body["extra_fields"] = extra_fields("batch_retrieve", provider)
    return body
