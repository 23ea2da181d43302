"""The Message Batches endpoints, mounted at /anthropic (clients use `<emulator>/anthropic`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, Response

from airflow_provider_genai_batch.testing.emulator import progress
from airflow_provider_genai_batch.testing.emulator.anthropic.lifecycle import control_state_name, observe, observe_now
from airflow_provider_genai_batch.testing.emulator.anthropic.results import RESULTS_MIME_TYPE, materialise
from airflow_provider_genai_batch.testing.emulator.anthropic.validation import (
    LIMIT,
    MAX_BODY_BYTES,
    STRICT_BATCH_VERSION,
    read_requests,
    require_auth,
)
from airflow_provider_genai_batch.testing.emulator.anthropic.wire import (
    PROVIDER,
    AnthropicError,
    invalid_request,
    not_found,
    page_body,
    random_id,
    render_batch,
    too_large,
)
from airflow_provider_genai_batch.testing.emulator.common import past_cursor, take_page
from airflow_provider_genai_batch.testing.emulator.store import JobRecord, Phase, StateDep, Store, job_clock


def lookup_batch(store: Store, batch_id: str) -> JobRecord:
    """A live batch by id, or 404."""
    job = store.get_job(batch_id, PROVIDER)
    if job is None:
        raise not_found(batch_id)
    return job


router = APIRouter(tags=["anthropic"])
authenticated = [Depends(require_auth)]


@router.post("/v1/messages/batches", dependencies=authenticated)
async def create_batch(request: Request, state: StateDep) -> dict[str, Any]:
    """Create a batch from inline requests; the body is streamed to disk and parsed one request at a time."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise too_large()
    store = state.store
    batch_id = random_id("msgbatch_")
    body_path = store.job_path(batch_id, "body")
    input_path = store.job_path(batch_id, "input")
    size = 0
    try:
        with body_path.open("wb") as handle:
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise too_large()
                handle.write(chunk)
        summary = await run_in_threadpool(read_requests, body_path, input_path)
    except BaseException:
        input_path.unlink(missing_ok=True)
        raise
    finally:
        body_path.unlink(missing_ok=True)
    version = request.headers.get("anthropic-version", STRICT_BATCH_VERSION)
    job = JobRecord(
        provider=PROVIDER,
        job_id=batch_id,
        name=batch_id,
        kind="generate",
        model=summary.model,
        display_name=None,
        input_file=None,
        input_path=input_path,
        inline_requests=None,
        request_count=summary.count,
        **job_clock(state.config),
        materialiser=materialise,
        state_name=control_state_name,
        extra={"store": store, "version": version},
    )
    store.add_job(job)
    return render_batch(job, Phase.PENDING, "in_progress", str(request.base_url))


@router.get("/v1/messages/batches", dependencies=authenticated)
async def list_batches(request: Request, state: StateDep) -> dict[str, Any]:
    """List batches newest first; after_id pages to older batches, before_id to newer ones."""
    limit = LIMIT.parse(request.query_params.get("limit"))
    after_id = request.query_params.get("after_id")
    before_id = request.query_params.get("before_id")
    if after_id and before_id:
        raise invalid_request("Only one of after_id and before_id may be given.")
    store = state.store
    seq_of = {job.job_id: job.seq for job in store.list_jobs(PROVIDER, include_deleted=True)}
    jobs = store.list_jobs(PROVIDER)
    cursor = after_id or before_id
    if cursor and cursor not in seq_of:
        raise invalid_request(f"{'after_id' if after_id else 'before_id'}: no message batch with id '{cursor}'")
    if after_id:
        chunk, has_more = take_page(past_cursor(jobs, seq_of[after_id], older=True), limit)
    elif before_id:
        chunk, has_more = take_page(past_cursor(jobs, seq_of[before_id], older=False), limit, from_end=True)
    else:
        chunk, has_more = take_page(jobs, limit)
    base = str(request.base_url)
    data = []
    for job in chunk:
        phase, status = await run_in_threadpool(observe, store, job)
        data.append(render_batch(job, phase, status, base))
    return page_body(data, has_more)


@router.get("/v1/messages/batches/{batch_id}", dependencies=authenticated)
async def retrieve_batch(request: Request, batch_id: str, state: StateDep) -> dict[str, Any]:
    """A batch; it advances with time."""
    job = lookup_batch(state.store, batch_id)
    phase, status = await observe_now(state.store, job)
    return render_batch(job, phase, status, str(request.base_url))


@router.post("/v1/messages/batches/{batch_id}/cancel", dependencies=authenticated)
async def cancel_batch(request: Request, batch_id: str, state: StateDep) -> dict[str, Any]:
    """Start cancelling a batch: `canceling` now, `ended` with unprocessed requests canceled shortly after."""
    store = state.store
    job = lookup_batch(store, batch_id)
    phase, status = await run_in_threadpool(observe, store, job)
    if status == "in_progress":
        await run_in_threadpool(progress.start_cancel, job, store, state.config)
        phase, status = await run_in_threadpool(observe, store, job)
    if status == "ended" and job.cancelled_at is None:
        raise invalid_request(f"Message batch {batch_id} has already ended and cannot be canceled.")
    return render_batch(job, phase, status, str(request.base_url))


@router.delete("/v1/messages/batches/{batch_id}", dependencies=authenticated)
async def delete_batch(batch_id: str, state: StateDep) -> dict[str, Any]:
    """Delete an ended batch and its results (a batch still processing must be canceled first)."""
    store = state.store
    job = lookup_batch(store, batch_id)
    _, status = await run_in_threadpool(observe, store, job)
    if status != "ended":
        raise invalid_request(f"Message batch {batch_id} is still processing and cannot be deleted; cancel it first.")
    store.delete_job(job)
    if job.results is not None and job.results.file is not None:
        store.delete_file(PROVIDER, job.results.file.file_id)
    return {"id": batch_id, "type": "message_batch_deleted"}


@router.get("/v1/messages/batches/{batch_id}/results", dependencies=authenticated)
async def batch_results(batch_id: str, state: StateDep) -> Response:
    """Stream the results JSONL of an ended batch."""
    store = state.store
    job = lookup_batch(store, batch_id)
    _, status = await run_in_threadpool(observe, store, job)
    if status != "ended" or job.results is None or job.results.file is None:
        raise invalid_request(f"Message batch {batch_id} has not ended yet; its results are not available.")
    return FileResponse(job.results.file.path, media_type=RESULTS_MIME_TYPE)


@router.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
async def unknown_route() -> Response:
    """Anything else under /anthropic."""
    raise AnthropicError(404, "not_found_error", "Not Found")
