"""The gateway's endpoints: the GenAI facade at ``/genai`` and the native results routes at the root.

Clients use the base URL ``<emulator>/genai`` and name the target provider in ``x-model-provider``
(gemini when empty; openai, anthropic, bedrock).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import JSONResponse, Response

from airflow_provider_genai_batch.testing.emulator.common import random_token
from airflow_provider_genai_batch.testing.emulator.gateway.forwarding import Forwarder, Target
from airflow_provider_genai_batch.testing.emulator.gateway.targets import TARGETS
from airflow_provider_genai_batch.testing.emulator.gateway.validation import (
    batch_id,
    caller_key,
    create_input_config,
    inline_items,
    page_request,
    target_name,
)
from airflow_provider_genai_batch.testing.emulator.gateway.wire import gateway_error, render_batch, render_file
from airflow_provider_genai_batch.testing.emulator.gemini.validation import read_body
from airflow_provider_genai_batch.testing.emulator.gemini.wire import get_field, render_page
from airflow_provider_genai_batch.testing.emulator.store import EmulatorState

PROVIDER = "gateway"
"""The name this router goes by; it keeps no records of its own (its targets' routers do)."""
PREFIX = "/genai"
SESSION_PREFIX = "genai_upload_session:"
SESSION_TTL_SECONDS = 60.0

router = APIRouter(tags=["genai gateway"])


@dataclass(frozen=True)
class UploadSession:
    """What an upload start remembered for the POST of the bytes (which carries no key of its own)."""

    target: str
    key: str
    display_name: str | None
    mime_type: str
    expires: float


def uploads(request: Request) -> dict[str, UploadSession]:
    """The app's live upload sessions (expired ones are dropped as new sessions start)."""
    app_state = request.app.state
    if not hasattr(app_state, "gateway_uploads"):
        app_state.gateway_uploads = {}
    sessions: dict[str, UploadSession] = app_state.gateway_uploads
    return sessions


@asynccontextmanager
async def target_for(request: Request, name: str | None = None, key: str | None = None) -> AsyncIterator[Target]:
    """The target provider of this call, with an in-process client that forwards the caller's key."""
    state: EmulatorState = request.app.state.emulator
    forward = Forwarder(request.app, key or caller_key(request, state))
    try:
        yield TARGETS[name or target_name(request)](forward)
    finally:
        await forward.close()


# Uploads: a session start, then one POST of the raw bytes


@router.post(PREFIX + "/upload/v1beta/files")
async def upload(request: Request) -> Response:
    """Start an upload session, or (``?upload_id=``) receive its bytes in one POST and store them."""
    state: EmulatorState = request.app.state.emulator
    upload_id = request.query_params.get("upload_id")
    if upload_id:
        return await receive_upload(request, state, upload_id)
    key = caller_key(request, state)
    body = await read_body(request)
    file_obj = body.get("file") or {}
    session_id = SESSION_PREFIX + random_token(24)
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


# Files


@router.get(PREFIX + "/v1beta/files")
async def list_files(request: Request) -> dict[str, Any]:
    """One page of the target's files."""
    async with target_for(request) as target:
        page = await target.list_files(*page_request(request))
    return render_page("files", [render_file(f) for f in page.items], page.next_token, keep_empty=True)


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


# Batches


@router.post(PREFIX + "/v1beta/models/{model_action:path}")
async def create_batch(request: Request, model_action: str) -> dict[str, Any]:
    """``models/<m>:batchGenerateContent``: the envelope becomes the target's create call."""
    model, _, action = model_action.rpartition(":")
    if action != "batchGenerateContent" or not model:
        raise gateway_error(404, f"the emulated gateway serves only batch creation, not {model_action!r}")
    input_config = create_input_config(await read_body(request))
    async with target_for(request) as target:
        return render_batch(await target.create(model, get_field(input_config, "fileName"), inline_items(input_config)))


@router.get(PREFIX + "/v1beta/batches")
async def list_batches(request: Request) -> dict[str, Any]:
    """One page of the target's batches as operations."""
    async with target_for(request) as target:
        page = await target.list_batches(*page_request(request))
    return render_page("operations", [render_batch(b) for b in page.items], page.next_token, keep_empty=True)


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


# Native routes at the gateway root


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
