"""Router emulating a GenAI gateway (Bifrost and its forks): the GenAI facade at ``/genai`` and native results.

It follows shared/reference/bedrock_gateway.md §3. Clients use the base URL ``<emulator>/genai`` and name
the target provider in ``x-model-provider`` (gemini when empty; openai, anthropic, bedrock); every call is
routed to the emulator's own provider (see :mod:`.gateway_targets`). What the gateway does:

* uploads are a session: a start answered with ``X-Goog-Upload-URL: .../genai/upload/v1beta/files?
  upload_id=genai_upload_session:<rand>`` (kept one minute), then one POST of the raw bytes, answered with
  ``{"file": {...}}`` and ``X-Goog-Upload-Status: final``; the file's purpose is always batch;
* batch create translates the envelope, not the bodies: each inline ``request`` goes to the provider as it
  came, without ``tools``, ``toolConfig`` and ``cachedContent``, which the converter drops; ``metadata.key``
  becomes the custom id; a ``fileName`` is passed on unchanged; no display name is kept;
* answers use the Gemini shape of ``ToGeminiBatchJobResponse``: ``@type ...v1beta.BatchPredictionJob``,
  counts as strings, ``dest.fileName``, the bare provider id as ``name``, and a state mapped in two steps
  (provider status to Bifrost status, then to ``BATCH_STATE_*``): never PENDING, CANCELLING passed on;
* results are only at the gateway root: ``GET /v1/batches/{id}/results?provider=`` (Bifrost result items)
  and ``GET /v1/files/{id}/content?provider=``; the facade has no ``:download`` route.

Known divergence from Bifrost's source: its converter decodes each inline request into a typed Gemini
request and keeps only ``contents``, ``generationConfig``, ``safetySettings`` and ``systemInstruction``, so
a body in another provider's format would arrive empty there; this emulator passes it on as the reference
describes ("bodies are not translated"). See also ``ASSUMED_OPENAI_ENDPOINT``.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from airflow_provider_genai_batch.testing.emulator.gateway_targets import (
    TARGETS,
    Forwarder,
    GatewayBatch,
    GatewayFile,
    Target,
    gateway_error,
)
from airflow_provider_genai_batch.testing.emulator.gemini import get_field, read_json_object
from airflow_provider_genai_batch.testing.emulator.store import EmulatorState, new_id

PREFIX = "/genai"
PROVIDER_HEADER = "x-model-provider"
SESSION_PREFIX = "genai_upload_session:"
SESSION_TTL_SECONDS = 60.0
BATCH_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1beta.BatchPredictionJob"
DROPPED_FIELDS = frozenset({"tools", "toolConfig", "tool_config", "cachedContent", "cached_content"})
"""Request fields the inline converter does not carry."""
DEFAULT_PAGE_SIZE = 10
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
"""Step two of the state mapping (``ToGeminiBatchStatus``); anything else is BATCH_STATE_UNSPECIFIED."""
DONE_STATUSES = frozenset({"completed", "ended", "failed", "expired", "cancelled"})

router = APIRouter(tags=["genai gateway"])


@dataclass(frozen=True)
class UploadSession:
    """What an upload start remembered for the POST of the bytes (which carries no key of its own)."""

    target: str
    key: str
    display_name: str | None
    mime_type: str
    expires: float


# --- request plumbing --------------------------------------------------------------------------------


def caller_key(request: Request, state: EmulatorState) -> str:
    """The caller's key (``x-goog-api-key`` or Bearer); checked only when the emulator is given one."""
    key = request.headers.get("x-goog-api-key") or request.headers.get("authorization", "").removeprefix("Bearer ")
    expected = state.config.api_key
    if expected is not None and key != expected:
        raise gateway_error(401, "invalid or missing API key")
    return key or "gateway-key"


def target_name(request: Request) -> str:
    """The ``x-model-provider`` header (or a ``provider`` query parameter); empty means gemini."""
    name = (request.headers.get(PROVIDER_HEADER) or request.query_params.get("provider") or "gemini").lower()
    if name not in TARGETS:
        raise gateway_error(400, f"unsupported provider {name!r}; this gateway routes to {', '.join(TARGETS)}")
    return name


@asynccontextmanager
async def target_for(request: Request, name: str | None = None, key: str | None = None) -> AsyncIterator[Target]:
    """The target provider of this call, with an in-process client that forwards the caller's key."""
    state: EmulatorState = request.app.state.emulator
    forward = Forwarder(request.app, key or caller_key(request, state))
    try:
        yield TARGETS[name or target_name(request)](forward)
    finally:
        await forward.close()


def page_request(request: Request) -> tuple[int, str | None]:
    """``pageSize`` and ``pageToken`` from the query string."""
    raw = request.query_params.get("pageSize") or request.query_params.get("page_size")
    size = int(raw) if raw and raw.isdigit() and int(raw) > 0 else DEFAULT_PAGE_SIZE
    return size, request.query_params.get("pageToken") or request.query_params.get("page_token") or None


def uploads(request: Request) -> dict[str, UploadSession]:
    """The app's live upload sessions (expired ones are dropped as new sessions start)."""
    app_state = request.app.state
    if not hasattr(app_state, "gateway_uploads"):
        app_state.gateway_uploads = {}
    return app_state.gateway_uploads


# --- rendering ---------------------------------------------------------------------------------------


def timestamp(moment: float | None) -> str:
    """Epoch seconds as RFC 3339 at second precision (Bifrost keeps unix seconds)."""
    if not moment:
        return ""
    return datetime.fromtimestamp(int(moment), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def render_file(record: GatewayFile) -> dict[str, Any]:
    """A provider file as the facade renders it (``ToGeminiFileUploadResponse``)."""
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
    """A batch as ``ToGeminiBatchRetrieveResponse`` renders it; pending is derived when not reported."""
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


def batch_id(ref: str, target: str) -> str:
    """The provider id of a path's batch id; Gemini's names keep their ``batches/`` collection."""
    return f"batches/{ref}" if target == "gemini" and not ref.startswith("batches/") else ref


# --- uploads -----------------------------------------------------------------------------------------


@router.post(PREFIX + "/upload/v1beta/files")
async def upload(request: Request) -> Response:
    """Start an upload session, or (``?upload_id=``) receive its bytes in one POST and store them."""
    state: EmulatorState = request.app.state.emulator
    upload_id = request.query_params.get("upload_id")
    if upload_id:
        return await receive_upload(request, state, upload_id)
    key = caller_key(request, state)
    body = await read_json_object(request)
    file_obj = body.get("file") or {}
    session_id = SESSION_PREFIX + new_id(24)
    sessions = uploads(request)
    now = time.time()
    for stale in [key for key, session in sessions.items() if session.expires <= now]:
        del sessions[stale]
    sessions[session_id] = UploadSession(
        target=target_name(request),
        key=key,
        display_name=get_field(file_obj, "displayName") if isinstance(file_obj, dict) else None,
        mime_type=request.headers.get("x-goog-upload-header-content-type", ""),
        expires=now + SESSION_TTL_SECONDS,
    )
    scheme = "https" if request.headers.get("x-forwarded-proto") == "https" else request.url.scheme
    upload_url = f"{scheme}://{request.headers.get('host', request.url.netloc)}{PREFIX}/upload/v1beta/files"
    return JSONResponse(
        {},
        headers={"X-Goog-Upload-URL": f"{upload_url}?upload_id={session_id}", "X-Goog-Upload-Status": "active"},
    )


async def receive_upload(request: Request, state: EmulatorState, upload_id: str) -> Response:
    """Take the session (it is single-use), spool the bytes, and store them at the session's provider."""
    session = uploads(request).pop(upload_id, None)
    if session is None or session.expires <= time.time():
        raise gateway_error(400, f'upload session not found for id "{upload_id}"')
    path = state.store.root / "uploads" / f"gateway-{secrets.token_hex(8)}"
    try:
        with path.open("wb") as spool:
            async for chunk in request.stream():
                spool.write(chunk)
        async with target_for(request, session.target, session.key) as target:
            record = await target.upload(path, session.display_name or "upload", session.mime_type)
    finally:
        path.unlink(missing_ok=True)
    return JSONResponse({"file": render_file(record)}, headers={"X-Goog-Upload-Status": "final"})


# --- files -------------------------------------------------------------------------------------------


@router.get(PREFIX + "/v1beta/files")
async def list_files(request: Request) -> dict[str, Any]:
    """One page of the target's files."""
    async with target_for(request) as target:
        page = await target.list_files(*page_request(request))
    result: dict[str, Any] = {"files": [render_file(f) for f in page.items]}
    if page.next_token:
        result["nextPageToken"] = page.next_token
    return result


@router.get(PREFIX + "/v1beta/files/{file_id}")
async def get_file(request: Request, file_id: str) -> dict[str, Any]:
    """One of the target's files (``<id>:download`` is no route here: the facade cannot download)."""
    if ":" in file_id:
        raise gateway_error(404, f"no route for file {file_id!r}: the GenAI facade has no :download route")
    async with target_for(request) as target:
        return render_file(await target.get_file(file_id))


@router.delete(PREFIX + "/v1beta/files/{file_id}")
async def delete_file(request: Request, file_id: str) -> dict[str, Any]:
    """Delete one of the target's files."""
    async with target_for(request) as target:
        await target.delete_file(file_id)
    return {}


# --- batches -----------------------------------------------------------------------------------------


@router.post(PREFIX + "/v1beta/models/{model_action:path}")
async def create_batch(request: Request, model_action: str) -> dict[str, Any]:
    """``models/<m>:batchGenerateContent``: the envelope becomes the target's create call."""
    model, _, action = model_action.rpartition(":")
    if action != "batchGenerateContent" or not model:
        raise gateway_error(404, f"the emulated gateway serves only batch creation, not {model_action!r}")
    body = await read_json_object(request)
    batch = body.get("batch")
    input_config = get_field(batch, "inputConfig") if isinstance(batch, dict) else None
    if not isinstance(input_config, dict):
        raise gateway_error(400, "batch.inputConfig is required")
    async with target_for(request) as target:
        return render_batch(await target.create(model, get_field(input_config, "fileName"), inline_items(input_config)))


def inline_items(input_config: dict[str, Any]) -> list[dict[str, Any]]:
    """Inline requests as Bifrost items: ``metadata.key`` as the custom id, the request minus what is dropped."""
    requests = get_field(input_config, "requests")
    if requests is None:
        return []
    entries = requests.get("requests") if isinstance(requests, dict) else None
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise gateway_error(400, 'batch.inputConfig.requests must be {"requests": [{"request", "metadata"}]}')
    return [
        {
            "custom_id": (entry.get("metadata") or {}).get("key", ""),
            "body": {k: v for k, v in (entry.get("request") or {}).items() if k not in DROPPED_FIELDS},
        }
        for entry in entries
    ]


@router.get(PREFIX + "/v1beta/batches")
async def list_batches(request: Request) -> dict[str, Any]:
    """One page of the target's batches as operations."""
    async with target_for(request) as target:
        page = await target.list(*page_request(request))
    result: dict[str, Any] = {"operations": [render_batch(b) for b in page.items]}
    if page.next_token:
        result["nextPageToken"] = page.next_token
    return result


@router.get(PREFIX + "/v1beta/batches/{batch_ref:path}")
async def get_batch(request: Request, batch_ref: str) -> dict[str, Any]:
    """One batch (a Bedrock ARN arrives percent-decoded, slashes and all)."""
    async with target_for(request) as target:
        return render_batch(await target.get(batch_id(batch_ref, target.name)))


@router.post(PREFIX + "/v1beta/batches/{batch_ref:path}")
async def cancel_batch(request: Request, batch_ref: str) -> dict[str, Any]:
    """``<id>:cancel`` (the suffix is trimmed, as Bifrost does); answers ``{}``."""
    if not batch_ref.endswith(":cancel"):
        raise gateway_error(404, f"unknown batch method on {batch_ref!r}")
    async with target_for(request) as target:
        await target.cancel(batch_id(batch_ref.removesuffix(":cancel"), target.name))
    return {}


@router.delete(PREFIX + "/v1beta/batches/{batch_ref:path}")
async def delete_batch(request: Request, batch_ref: str) -> dict[str, Any]:
    """Delete a batch at the target; answers ``{}``."""
    async with target_for(request) as target:
        await target.delete(batch_id(batch_ref, target.name))
    return {}


# --- native routes at the gateway root ---------------------------------------------------------------


@router.get("/v1/batches/{batch_ref:path}/results")
async def batch_results(request: Request, batch_ref: str) -> dict[str, Any]:
    """``GET /v1/batches/{id}/results?provider=``: a finished batch's results as Bifrost result items."""
    name = target_name(request)
    async with target_for(request, name) as target:
        items = await target.results(batch_id(batch_ref, name))
    return {
        "batch_id": batch_ref,
        "results": items,
        "extra_fields": {"request_type": "batch_results", "provider": name},
    }


@router.get("/v1/files/{file_ref:path}/content")
async def file_content(request: Request, file_ref: str) -> Response:
    """``GET /v1/files/{id}/content?provider=``: a file's raw bytes."""
    async with target_for(request) as target:
        content = await target.file_content(file_ref)
    return Response(content, media_type="application/octet-stream")
