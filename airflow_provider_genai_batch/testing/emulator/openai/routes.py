"""The OpenAI Files and Batch endpoints, mounted at /openai (clients use `<emulator>/openai/v1`)."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any, BinaryIO

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, Response

from airflow_provider_genai_batch.testing.emulator import progress
from airflow_provider_genai_batch.testing.emulator.common import past_cursor, take_page
from airflow_provider_genai_batch.testing.emulator.faults import bytes_lost
from airflow_provider_genai_batch.testing.emulator.openai import transient
from airflow_provider_genai_batch.testing.emulator.openai.lifecycle import (
    control_state_name,
    observe,
    observe_now,
    register_ready_results,
)
from airflow_provider_genai_batch.testing.emulator.openai.results import materialise
from airflow_provider_genai_batch.testing.emulator.openai.validation import (
    BATCH_LIMIT,
    EMULATED_ENDPOINTS,
    FILE_LIMIT,
    UNDOWNLOADABLE_PURPOSES,
    parse_batch_create,
    parse_order,
    parse_upload_form,
    read_body,
    require_bearer,
    validate_input,
)
from airflow_provider_genai_batch.testing.emulator.openai.wire import (
    PROVIDER,
    OpenAIError,
    OpenAIFile,
    bad_request,
    batch_not_found,
    file_not_found,
    file_purpose,
    new_batch_id,
    new_file_id,
    page_body,
    render_batch,
    render_file,
)
from airflow_provider_genai_batch.testing.emulator.store import (
    EmulatorState,
    JobRecord,
    Phase,
    StateDep,
    Store,
    StoredFile,
    T,
    cut_short,
    job_clock,
)

MAX_FILE_BYTES = 512 * 1024 * 1024
MAX_BATCH_FILE_BYTES = 200 * 1024 * 1024
COPY_CHUNK = 1024 * 1024
EMULATED_FAILURE = {
    "code": "emulated_failure",
    "line": None,
    "message": "The batch failed (emulated failure: job_outcome is 'fail').",
    "param": None,
}


def tombstones(request: Request) -> dict[str, int]:
    """Sequence numbers of deleted files, so that a listing can still resume after one of them."""
    stones: dict[str, int] | None = getattr(request.app.state, "openai_file_tombstones", None)
    if stones is None:
        stones = {}
        request.app.state.openai_file_tombstones = stones
    return stones


def cursor_page(
    items: list[T], after: str | None, limit: int, seq_of: dict[str, int], *, descending: bool
) -> tuple[list[T], bool]:
    """A cursor page of records (already sorted), resuming after the object whose id is `after`."""
    if after:
        if after not in seq_of:
            raise bad_request(f"Invalid 'after': no object with id '{after}'.", param="after")
        items = past_cursor(items, seq_of[after], older=descending)
    return take_page(items, limit)


def store_upload(source: BinaryIO, path: Path) -> tuple[int, bytes]:
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


def lookup_batch(store: Store, batch_id: str) -> JobRecord:
    """A batch by id, or 404."""
    job = store.get_job(batch_id, PROVIDER)
    if job is None:
        raise batch_not_found(batch_id)
    return job


def cancel_sync(state: EmulatorState, batch_id: str) -> dict[str, Any]:
    """The blocking part of a cancel."""
    store = state.store
    job = lookup_batch(store, batch_id)
    phase, status = observe(store, job)
    if status == "cancelling":
        return render_batch(job, phase, status)
    if status not in ("validating", "in_progress", "finalizing"):
        raise bad_request(f"Cannot cancel a batch with status '{status}'.")
    if not progress.start_cancel(job, store, state.config):
        phase, status = observe(store, job)
        raise bad_request(f"Cannot cancel a batch with status '{status}'.")
    phase, status = observe(store, job)
    return render_batch(job, phase, status)


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
        fields = parse_upload_form(form)
        file_id = new_file_id()
        path = state.store.file_path(PROVIDER, file_id)
        size, digest = await run_in_threadpool(store_upload, fields.upload.file, path)
        lost = bytes_lost(request, size)
        if lost:
            size, hasher = cut_short(path, lost)
            digest = hasher.digest()
    finally:
        await form.close()
    limit = MAX_BATCH_FILE_BYTES if fields.purpose == "batch" else MAX_FILE_BYTES
    if size > limit:
        path.unlink(missing_ok=True)
        raise bad_request(
            f"File is too large: {size} bytes; the limit for purpose '{fields.purpose}' is {limit} bytes."
        )
    created = time.time()
    record = OpenAIFile(
        provider=PROVIDER,
        file_id=file_id,
        display_name=fields.filename,
        mime_type=fields.upload.content_type or "application/octet-stream",
        size_bytes=size,
        sha256=digest,
        created=created,
        source="UPLOADED",
        path=path,
        purpose=fields.purpose,
        expires_at=None if fields.ttl is None else created + fields.ttl,
    )
    state.store.add_file(record)
    return render_file(record)


@router.get("/v1/files", dependencies=authenticated)
async def list_files(request: Request, state: StateDep) -> dict[str, Any]:
    """List files (newest first unless order=asc), optionally of one purpose, a cursor page at a time."""
    register_ready_results(state.store)
    order = parse_order(request)
    limit = FILE_LIMIT.parse(request.query_params.get("limit"))
    records = state.store.list_files(PROVIDER)
    purpose = request.query_params.get("purpose")
    if purpose:
        records = [r for r in records if file_purpose(r) == purpose]
    if order == "asc":
        records.reverse()
    seq_of = {r.file_id: r.seq for r in state.store.list_files(PROVIDER)} | tombstones(request)
    chunk, has_more = cursor_page(records, request.query_params.get("after"), limit, seq_of, descending=order == "desc")
    return page_body([render_file(r) for r in chunk], has_more)


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
    purpose = file_purpose(record)
    if purpose in UNDOWNLOADABLE_PURPOSES:
        raise bad_request(f"Not allowed to download files of purpose: {purpose}")
    return FileResponse(record.path, media_type="application/octet-stream")


@router.post("/v1/batches", dependencies=authenticated)
async def create_batch(request: Request, state: StateDep) -> dict[str, Any]:
    """Create a batch over an uploaded `batch` file; its input is validated while it is `validating`."""
    create = parse_batch_create(await read_body(request))
    input_file_id = create.input_file_id
    store = state.store
    source = store.get_file(PROVIDER, str(input_file_id))
    if source is None:
        raise bad_request(f"No such File object: {input_file_id}", param="input_file_id")
    purpose = file_purpose(source)
    if purpose != "batch":
        raise bad_request(
            f"The input file {input_file_id} has purpose '{purpose}'; a batch input file must have purpose 'batch'.",
            param="input_file_id",
        )
    kind = EMULATED_ENDPOINTS[create.endpoint]
    batch_id = new_batch_id()
    input_path = await run_in_threadpool(store.snapshot_input, source, batch_id)
    validation = await run_in_threadpool(validate_input, input_path, create.endpoint, kind)
    config = state.config
    errors = validation.reported_errors()
    if not errors and config.job_outcome == "fail":
        errors = [dict(EMULATED_FAILURE)]
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
        **job_clock(config, invalid=bool(errors)),
        materialiser=materialise,
        state_name=control_state_name,
        extra={
            "endpoint": create.endpoint,
            "completion_window": "24h",
            "metadata": create.metadata,
            "validation_errors": errors,
            "output_expires_after": create.output_ttl,
            "store": store,
            transient.SHARE_KEY: config.openai_retryable_row_share,
        },
    )
    store.add_job(job)
    return render_batch(job, Phase.PENDING, "validating")


@router.get("/v1/batches", dependencies=authenticated)
async def list_batches(request: Request, state: StateDep) -> dict[str, Any]:
    """List batches, newest first, a cursor page at a time."""
    limit = BATCH_LIMIT.parse(request.query_params.get("limit"))
    jobs = state.store.list_jobs(PROVIDER)
    seq_of = {job.job_id: job.seq for job in jobs}
    chunk, has_more = cursor_page(jobs, request.query_params.get("after"), limit, seq_of, descending=True)
    data = []
    for job in chunk:
        phase, status = await run_in_threadpool(observe, state.store, job)
        data.append(render_batch(job, phase, status))
    return page_body(data, has_more)


@router.get("/v1/batches/{batch_id}", dependencies=authenticated)
async def retrieve_batch(batch_id: str, state: StateDep) -> dict[str, Any]:
    """A batch; its status advances with time."""
    job = lookup_batch(state.store, batch_id)
    phase, status = await observe_now(state.store, job)
    return render_batch(job, phase, status)


@router.post("/v1/batches/{batch_id}/cancel", dependencies=authenticated)
async def cancel_batch(batch_id: str, state: StateDep) -> dict[str, Any]:
    """Cancel a batch: `cancelling` now, `cancelled` (with partial results) after the cancel delay."""
    return await run_in_threadpool(cancel_sync, state, batch_id)


@router.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
async def unknown_route(request: Request) -> Response:
    """Anything else under /openai: the API's invalid-URL error."""
    path = request.url.path.removeprefix("/openai")
    raise OpenAIError(404, f"Invalid URL ({request.method} {path})")
