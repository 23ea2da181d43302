"""The gateway's endpoints: the GenAI facade at ``/genai`` (``v1beta`` and ``v1``) and the native routes at the root.

Clients use the base URL ``<emulator>/genai`` and name the target provider in ``x-model-provider``
(gemini when empty; openai, anthropic, bedrock). The native routes take it as ``?provider=``; they
match only a request that has one, so that Gemini's own ``/v1/batches/<id>`` stays Gemini's.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Match
from starlette.types import Scope

from airflow_provider_genai_batch.testing.emulator.common import random_token
from airflow_provider_genai_batch.testing.emulator.faults import bytes_lost
from airflow_provider_genai_batch.testing.emulator.gateway.forwarding import Forwarder, Target
from airflow_provider_genai_batch.testing.emulator.gateway.targets import TARGETS
from airflow_provider_genai_batch.testing.emulator.gateway.validation import (
    caller_key,
    create_input,
    facade_target,
    native_target,
    page_request,
    resource_id,
)
from airflow_provider_genai_batch.testing.emulator.gateway.wire import (
    GatewayError,
    NativeError,
    check_declared_size,
    check_read_size,
    extra_fields,
    gateway_error,
    read_body,
    render_batch,
    render_file,
    render_page,
    render_retrieve,
)
from airflow_provider_genai_batch.testing.emulator.store import EmulatorState, cut_short

PROVIDER = "gateway"
"""The name this router goes by; it keeps no records of its own (its targets' routers do)."""
PREFIX = "/genai"
SESSION_PREFIX = "genai_upload_session:"
SESSION_TTL_SECONDS = 60.0
FINAL_COMMAND = frozenset({"upload", "finalize"})
UPLOAD_TARGETS = frozenset({"gemini", "openai"})


class NativeRoute(APIRoute):
    """A native route: matches only when the query names a ``provider``."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        """The path match, withdrawn when the query has no ``provider``."""
        match, child = super().matches(scope)
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        if match is not Match.NONE and "provider" not in query:
            return Match.NONE, {}
        return match, child


router = APIRouter(tags=["genai gateway"])
native = APIRouter(tags=["genai gateway"], route_class=NativeRoute)


@dataclass(frozen=True)
class UploadSession:
    """What an upload start remembered for the POST of the bytes (which carries no key of its own)."""

    target: str
    key: str
    version: str
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


def emulator_state(request: Request) -> EmulatorState:
    """The emulator's state (its config is read on every request)."""
    state: EmulatorState = request.app.state.emulator
    return state


def forwarder(request: Request, key: str | None = None) -> Forwarder:
    """An in-process client to the providers that carries the caller's key."""
    return Forwarder(request.app, key or caller_key(request, emulator_state(request).config.api_key))


@asynccontextmanager
async def target_for(request: Request, name: str, key: str | None = None) -> AsyncIterator[Target]:
    """The target provider ``name``, with an in-process client that forwards the caller's key."""
    forward = forwarder(request, key)
    try:
        yield TARGETS[name](forward)
    finally:
        await forward.close()


def raw_states(request: Request) -> bool:
    """Whether the facade passes the providers' raw statuses through."""
    return emulator_state(request).config.gateway_raw_states


# Uploads: a session start, then one POST of all the bytes


@router.post(PREFIX + "/upload/{version:google_api_version}/files")
async def upload(request: Request, version: str) -> Response:
    """Start an upload session, or (``?upload_id=``) receive its bytes in one POST and store them."""
    check_declared_size(request)
    upload_id = request.query_params.get("upload_id")
    if upload_id:
        return await receive_upload(request, upload_id)
    key = caller_key(request, emulator_state(request).config.api_key)
    target = facade_target(request)
    if target not in UPLOAD_TARGETS:
        async with target_for(request, target, key) as refusing:
            raise refusing.unsupported("file upload")
    body = await read_body(request)
    file_obj = body.get("file")
    display_name = (file_obj.get("displayName") or file_obj.get("display_name")) if isinstance(file_obj, dict) else None
    session_id = SESSION_PREFIX + random_token(24)
    sessions = uploads(request)
    now = time.time()
    for stale in [sid for sid, session in sessions.items() if session.expires <= now]:
        del sessions[stale]
    sessions[session_id] = UploadSession(
        target=target,
        key=key,
        version=version,
        display_name=display_name if isinstance(display_name, str) else None,
        mime_type=request.headers.get("x-goog-upload-header-content-type", ""),
        expires=now + SESSION_TTL_SECONDS,
    )
    scheme = "https" if request.headers.get("x-forwarded-proto") == "https" else request.url.scheme
    host = request.headers.get("host", request.url.netloc)
    upload_url = f"{scheme}://{host}{PREFIX}/upload/{version}/files?upload_id={session_id}"
    return JSONResponse({}, headers={"X-Goog-Upload-URL": upload_url, "X-Goog-Upload-Status": "active"})


def check_single_post(request: Request) -> None:
    """The bytes must come in one final POST at offset 0: the gateway has no chunked protocol."""
    raw = request.headers.get("x-goog-upload-command", "")
    command = frozenset(part.strip().lower() for part in raw.split(",") if part.strip())
    if command != FINAL_COMMAND:
        raise gateway_error(
            400, f"X-Goog-Upload-Command must be 'upload, finalize' (got {raw!r}): send the whole file in one request"
        )
    offset = request.headers.get("x-goog-upload-offset")
    if offset != "0":
        raise gateway_error(400, f"X-Goog-Upload-Offset must be 0 (got {offset!r}): send the whole file in one request")


async def receive_upload(request: Request, upload_id: str) -> Response:
    """Take the session (it is single-use), spool the bytes, and store them at the session's provider."""
    session = uploads(request).pop(upload_id, None)
    if session is None or session.expires <= time.time():
        raise gateway_error(400, f'upload session not found for id "{upload_id}"')
    check_single_post(request)
    path = emulator_state(request).store.root / "uploads" / f"gateway-{secrets.token_hex(8)}"
    size = 0
    try:
        with path.open("wb") as spool:
            async for chunk in request.stream():
                size += len(chunk)
                check_read_size(size)
                spool.write(chunk)
        if lost := bytes_lost(request, size):
            cut_short(path, lost)
        async with target_for(request, session.target, session.key) as target:
            record = await target.upload(path, session.display_name, session.mime_type)
    finally:
        path.unlink(missing_ok=True)
    return JSONResponse({"file": render_file(record)}, headers={"X-Goog-Upload-Status": "final"})


# Files


@router.get(PREFIX + "/{version:google_api_version}/files")
async def list_files(request: Request, version: str) -> dict[str, Any]:
    """One page of the target's files."""
    async with target_for(request, facade_target(request)) as target:
        page = await target.list_files(*page_request(request))
    return render_page("files", [render_file(f) for f in page.items], page.next_token)


@router.get(PREFIX + "/{version:google_api_version}/files/{file_ref:path}")
async def get_file(request: Request, version: str, file_ref: str) -> dict[str, Any]:
    """One of the target's files (``<id>:download`` is no route here: the facade cannot download)."""
    if ":" in file_ref:
        raise gateway_error(404, f"no route for files/{file_ref}: the GenAI facade has no :download route")
    async with target_for(request, facade_target(request)) as target:
        return render_file(await target.get_file(resource_id(file_ref, "files")))


@router.delete(PREFIX + "/{version:google_api_version}/files/{file_ref:path}")
async def delete_file(request: Request, version: str, file_ref: str) -> dict[str, Any]:
    """Delete one of the target's files."""
    async with target_for(request, facade_target(request)) as target:
        await target.delete_file(resource_id(file_ref, "files"))
    return {}


# Batches


@router.post(PREFIX + "/{version:google_api_version}/models/{model_action:path}")
async def create_batch(request: Request, version: str, model_action: str) -> dict[str, Any]:
    """``models/<m>:batchGenerateContent``: the envelope becomes the target's create call."""
    check_declared_size(request)
    model, _, action = model_action.rpartition(":")
    if action != "batchGenerateContent" or not model:
        raise gateway_error(404, f"the emulated gateway serves only batch creation, not {model_action!r}")
    spec = create_input(await read_body(request))
    async with target_for(request, facade_target(request)) as target:
        batch = await target.create(model, spec.file_id, spec.items)
    return render_batch(batch, raw_states(request))


@router.get(PREFIX + "/{version:google_api_version}/batches")
async def list_batches(request: Request, version: str) -> dict[str, Any]:
    """One page of the target's batches as operations."""
    async with target_for(request, facade_target(request)) as target:
        page = await target.list_batches(*page_request(request))
    operations = [render_batch(batch, raw_states(request)) for batch in page.items]
    return render_page("operations", operations, page.next_token)


@router.get(PREFIX + "/{version:google_api_version}/batches/{batch_ref:path}")
async def get_batch(request: Request, version: str, batch_ref: str) -> dict[str, Any]:
    """One batch, by the ``batches/<id>`` name the facade gave it."""
    async with target_for(request, facade_target(request)) as target:
        batch = await target.get(resource_id(batch_ref, "batches"))
    return render_batch(batch, raw_states(request))


@router.post(PREFIX + "/{version:google_api_version}/batches/{batch_ref:path}")
async def cancel_batch(request: Request, version: str, batch_ref: str) -> dict[str, Any]:
    """``batches/<id>:cancel`` (the suffix is trimmed, as Bifrost does); answers ``{}``."""
    if not batch_ref.endswith(":cancel"):
        raise gateway_error(404, f"unknown batch method on batches/{batch_ref}")
    async with target_for(request, facade_target(request)) as target:
        await target.cancel(resource_id(batch_ref.removesuffix(":cancel"), "batches"))
    return {}


@router.delete(PREFIX + "/{version:google_api_version}/batches/{batch_ref:path}")
async def delete_batch(request: Request, version: str, batch_ref: str) -> dict[str, Any]:
    """Delete a batch at the target; answers ``{}``."""
    async with target_for(request, facade_target(request)) as target:
        await target.delete(resource_id(batch_ref, "batches"))
    return {}


# Native routes at the gateway root (bare provider ids, ``?provider=``, Bifrost's JSON and errors)


@contextmanager
def native_errors() -> Iterator[None]:
    """Render the gateway's errors in Bifrost's envelope."""
    try:
        yield
    except NativeError:
        raise
    except GatewayError as error:
        raise NativeError(error.code, error.message) from error


@native.get("/v1/batches/{batch_ref:path}/results")
async def batch_results(request: Request, batch_ref: str) -> dict[str, Any]:
    """A finished batch's results as Bifrost result items."""
    with native_errors():
        name = native_target(request)
        async with target_for(request, name) as target:
            items = await target.results(resource_id(batch_ref, "batches"))
    return {
        "batch_id": batch_ref,
        "results": items,
        "has_more": False,
        "extra_fields": extra_fields("batch_results", name),
    }


@native.get("/v1/batches/{batch_ref:path}")
async def retrieve_batch(request: Request, batch_ref: str) -> dict[str, Any]:
    """Bifrost's batch retrieve response (its status, not the facade's wire state)."""
    with native_errors():
        name = native_target(request)
        async with target_for(request, name) as target:
            batch = await target.get(resource_id(batch_ref, "batches"))
    return render_retrieve(batch, name)


@native.get("/v1/files/{file_ref:path}/content")
async def file_content(request: Request, file_ref: str) -> Response:
    """A file's raw bytes, streamed with the provider's length (OpenAI only: the gateway does not download Gemini
    files). No ``Range``: a broken download starts over."""
    with native_errors():
        target = TARGETS[native_target(request)](forwarder(request))
        try:
            body = await target.file_content(resource_id(file_ref, "files"))
        except BaseException:
            await target.forward.close()
            raise
    headers = {"content-length": body.content_length} if body.content_length else None
    return StreamingResponse(
        closing(body.chunks, target.forward.close), media_type="application/octet-stream", headers=headers
    )


async def closing(chunks: AsyncIterator[bytes], close: Callable[[], Any]) -> AsyncIterator[bytes]:
    """Pass ``chunks`` on, then release the in-process client."""
    try:
        async for chunk in chunks:
            yield chunk
    finally:
        await close()


router.include_router(native)
