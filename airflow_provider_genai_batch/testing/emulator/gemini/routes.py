"""The Gemini Developer API's Files and Batch endpoints, for v1beta and v1, at the emulator's root."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, JSONResponse, Response

from airflow_provider_genai_batch.testing.emulator.common import random_token
from airflow_provider_genai_batch.testing.emulator.gemini.models import check_model
from airflow_provider_genai_batch.testing.emulator.gemini.results import materialise_file_job, materialise_inline_job
from airflow_provider_genai_batch.testing.emulator.gemini.uploads import receive_chunk, start_upload
from airflow_provider_genai_batch.testing.emulator.gemini.validation import (
    DELETE_FILE_ID_TOO_LONG_MESSAGE,
    FILES_LISTING,
    GET_FILE_ID_TOO_LONG_MESSAGE,
    LIST_BATCHES_PARAMETERS,
    LIST_FILES_PARAMETERS,
    batches_listing,
    check_file_id_length,
    check_input_file_name,
    check_query,
    page_token_checked,
    parse_batch_create,
    parse_inline_requests,
    parse_page_size,
    read_body,
    require_api_key,
    split_action,
)
from airflow_provider_genai_batch.testing.emulator.gemini.wire import (
    BATCH_ID_LENGTH,
    PROVIDER,
    GeminiError,
    control_state_name,
    file_not_found,
    get_field,
    invalid_argument,
    not_found,
    render_file,
    render_operation,
    render_page,
)
from airflow_provider_genai_batch.testing.emulator.store import (
    EmulatorState,
    JobKind,
    JobRecord,
    Phase,
    StateDep,
    Store,
    StoredFile,
    count_lines,
    current_phase,
    job_clock,
    paginate,
)

BATCH_ACTIONS: dict[str, JobKind] = {"batchGenerateContent": "generate", "asyncBatchEmbedContent": "embed"}


# Lookups


def lookup_file(store: Store, file_id: str) -> StoredFile:
    """Find a file by id, or raise the Files API's not-found error."""
    record = store.get_file(PROVIDER, file_id)
    if record is None:
        raise file_not_found(file_id)
    return record


def lookup_job(store: Store, batch_id: str) -> JobRecord:
    """Find a live Gemini batch by id, or raise NOT_FOUND."""
    job = store.get_job(f"batches/{batch_id}", PROVIDER)
    if job is None:
        raise not_found()
    return job


def download_response(request: Request, record: StoredFile) -> Response:
    """Stream a generated file's bytes from disk (`alt=media` is required, uploads are not downloadable)."""
    if request.query_params.get("alt") != "media":
        raise invalid_argument("Downloading a file requires the query parameter alt=media.")
    if record.source != "GENERATED":
        raise invalid_argument("Only generated files can be downloaded; files created by upload cannot.")
    media_type = record.mime_type if "/" in record.mime_type else "application/octet-stream"
    return FileResponse(record.path, media_type=media_type)


async def create_batch(request: Request, model: str, kind: JobKind, state: EmulatorState) -> dict[str, Any]:
    """Validate a batch create body, register the job and return its PENDING Operation."""
    create = parse_batch_create(await read_body(request))
    job_id = random_token(BATCH_ID_LENGTH)
    store = state.store
    input_path = None
    inline_requests = None
    if create.file_name is not None:
        source = store.get_file(PROVIDER, check_input_file_name(create.file_name))
        if source is None:
            raise not_found(f"File {create.file_name} was not found.")
        input_path = await run_in_threadpool(store.snapshot_input, source, job_id)
        request_count = await run_in_threadpool(count_lines, input_path)
    else:
        inline_requests = parse_inline_requests(create.inline, kind)
        request_count = len(inline_requests)
    job = JobRecord(
        provider=PROVIDER,
        job_id=job_id,
        name=f"batches/{job_id}",
        kind=kind,
        model=model,
        display_name=create.display_name,
        input_file=create.file_name,
        input_path=input_path,
        inline_requests=inline_requests,
        request_count=request_count,
        **job_clock(state.config),
        materialiser=materialise_file_job if create.file_name is not None else materialise_inline_job,
        state_name=control_state_name,
        extra={
            "priority": create.priority,
            "webhookConfig": get_field(create.batch, "webhookConfig"),
            "drop_inline_metadata": state.config.gemini_drop_inline_metadata,
        },
    )
    store.add_job(job)
    return render_operation(job, Phase.PENDING)


async def create_for_action(
    request: Request, collection: str, model_action: str, version: str, state: EmulatorState
) -> dict[str, Any]:
    """Dispatch `<model>:<action>` to the batch kind it names, for a model that runs it (a tuned model is the
    user's own, and is not checked)."""
    model_id, action = split_action(model_action)
    kind = BATCH_ACTIONS.get(action or "")
    if kind is None or not model_id:
        raise not_found(f"Method {model_action!r} is not supported by the emulator.")
    if collection == "models":
        check_model(model_id, version, str(action))
    return await create_batch(request, f"{collection}/{model_id}", kind, state)


# Routes

router = APIRouter(tags=["gemini"])
authenticated = [Depends(require_api_key)]


@router.post("/upload/{version:google_api_version}/files")
async def upload_endpoint(request: Request, version: str, state: StateDep) -> Response:
    """Start a resumable upload (API key required) or receive a chunk on a session URL (no key)."""
    if "upload_id" in request.query_params:
        return await receive_chunk(request, version, state)
    await require_api_key(request, state)
    return await start_upload(request, version, state)


@router.get("/{version:google_api_version}/files", dependencies=authenticated)
async def list_files(request: Request, version: str, state: StateDep) -> dict[str, Any]:
    """List files, newest first, one page at a time."""
    check_query(request, LIST_FILES_PARAMETERS)
    token = page_token_checked(request, FILES_LISTING)
    page = paginate(state.store.list_files(PROVIDER), parse_page_size(request), token, FILES_LISTING)
    base = str(request.base_url)
    return render_page("files", [render_file(f, base, version) for f in page.items], page.next_token)


@router.get("/{version:google_api_version}/files/{file_ref}", dependencies=authenticated)
async def get_file(request: Request, version: str, file_ref: str, state: StateDep) -> Response:
    """Get a file's metadata (ids over 40 characters, result files among them, fail), or
    (`<id>:download?alt=media`) stream its bytes (any id)."""
    check_query(request)
    file_id, action = split_action(file_ref)
    if action == "download":
        return download_response(request, lookup_file(state.store, file_id))
    if action is not None:
        raise not_found()
    check_file_id_length(file_id, GET_FILE_ID_TOO_LONG_MESSAGE)
    record = lookup_file(state.store, file_id)
    return JSONResponse(render_file(record, str(request.base_url), version))


@router.get("/download/{version:google_api_version}/files/{file_ref}", dependencies=authenticated)
async def download_file(request: Request, file_ref: str, state: StateDep) -> Response:
    """The documented download URL: `/download/{ver}/files/<id>:download?alt=media`."""
    check_query(request)
    file_id, action = split_action(file_ref)
    if action != "download":
        raise not_found()
    return download_response(request, lookup_file(state.store, file_id))


@router.delete("/{version:google_api_version}/files/{file_ref}", dependencies=authenticated)
async def delete_file(request: Request, file_ref: str, state: StateDep) -> dict[str, Any]:
    """Delete a file; ids over 40 characters (result files among them) fail, as for a get."""
    check_query(request)
    file_id, action = split_action(file_ref)
    if action is not None:
        raise not_found()
    check_file_id_length(file_id, DELETE_FILE_ID_TOO_LONG_MESSAGE)
    lookup_file(state.store, file_id)
    state.store.delete_file(PROVIDER, file_id)
    return {}


@router.post("/{version:google_api_version}/models/{model_action}", dependencies=authenticated)
async def create_model_batch(request: Request, version: str, model_action: str, state: StateDep) -> dict[str, Any]:
    """`models/<m>:batchGenerateContent` and `models/<m>:asyncBatchEmbedContent`."""
    check_query(request)
    return await create_for_action(request, "models", model_action, version, state)


@router.post("/{version:google_api_version}/tunedModels/{model_action}", dependencies=authenticated)
async def create_tuned_model_batch(
    request: Request, version: str, model_action: str, state: StateDep
) -> dict[str, Any]:
    """The same batch methods on a tuned model."""
    check_query(request)
    return await create_for_action(request, "tunedModels", model_action, version, state)


@router.get("/{version:google_api_version}/batches", dependencies=authenticated)
async def list_batches(request: Request, state: StateDep) -> dict[str, Any]:
    """List batches newest first; entries leave out outputs (get a batch to see them)."""
    check_query(request, LIST_BATCHES_PARAMETERS)
    listing = batches_listing(request)
    page = paginate(
        state.store.list_jobs(PROVIDER), parse_page_size(request), page_token_checked(request, listing), listing
    )
    operations = []
    for job in page.items:
        phase = await run_in_threadpool(state.store.observe, job)
        operations.append(render_operation(job, phase, listing=True))
    return render_page("operations", operations, page.next_token)


@router.get("/{version:google_api_version}/batches/{batch_ref}", dependencies=authenticated)
async def get_batch(request: Request, batch_ref: str, state: StateDep) -> dict[str, Any]:
    """Get a batch as an Operation; its state advances with time."""
    check_query(request)
    batch_id, action = split_action(batch_ref)
    if action is not None:
        raise not_found()
    job = lookup_job(state.store, batch_id)
    phase = await current_phase(state.store, job)
    return render_operation(job, phase)


@router.post("/{version:google_api_version}/batches/{batch_ref}", dependencies=authenticated)
async def cancel_batch(request: Request, batch_ref: str, state: StateDep) -> dict[str, Any]:
    """`batches/<id>:cancel`: pending or running → CANCELLED; an ended batch → FAILED_PRECONDITION."""
    check_query(request)
    batch_id, action = split_action(batch_ref)
    if action != "cancel":
        raise not_found()
    job = lookup_job(state.store, batch_id)
    cancelled = await run_in_threadpool(state.store.cancel_job, job)
    if not cancelled:
        raise GeminiError(400, "FAILED_PRECONDITION", f"Batch {job.name} has already ended and cannot be cancelled.")
    return {}


@router.delete("/{version:google_api_version}/batches/{batch_ref}", dependencies=authenticated)
async def delete_batch(request: Request, batch_ref: str, state: StateDep) -> dict[str, Any]:
    """Delete a batch without cancelling it first, as the real API does."""
    check_query(request)
    batch_id, action = split_action(batch_ref)
    if action is not None:
        raise not_found()
    state.store.delete_job(lookup_job(state.store, batch_id))
    return {}
