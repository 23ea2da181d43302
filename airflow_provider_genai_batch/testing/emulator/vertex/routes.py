"""The batchPredictionJobs methods of Vertex AI (v1 and v1beta1), their delete operations, and the OAuth
token endpoint, mounted at /vertex."""

from __future__ import annotations

import math
import re
import time
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.convertors import Convertor, register_url_convertor
from starlette.responses import JSONResponse

from airflow_provider_genai_batch.testing.emulator import progress
from airflow_provider_genai_batch.testing.emulator.common import random_token, rfc3339
from airflow_provider_genai_batch.testing.emulator.store import (
    EmulatorState,
    JobRecord,
    Phase,
    StateDep,
    encode_page_token,
    job_clock,
)
from airflow_provider_genai_batch.testing.emulator.vertex import results, sources
from airflow_provider_genai_batch.testing.emulator.vertex.auth import require_bearer, token_endpoint
from airflow_provider_genai_batch.testing.emulator.vertex.listing import parse_list_query
from airflow_provider_genai_batch.testing.emulator.vertex.validation import (
    CreatePlan,
    check_create,
    read_body,
    rendered_request,
)
from airflow_provider_genai_batch.testing.emulator.vertex.wire import (
    FAILED_ROWS_KEY,
    HOLD_KEY,
    JOB_ID_DIGITS,
    OPERATION_KEY,
    OUTPUT_KEY,
    PROVIDER,
    REQUEST_KEY,
    VertexError,
    control_state_name,
    failed_precondition,
    invalid_argument,
    job_name,
    not_found,
    project_number,
    render_delete_operation,
    render_job,
    wire_state,
)

LOCATION_PATTERN = "global|us|eu|[a-z]+-[a-z]+[0-9]+"


class VertexApiVersionConvertor(Convertor[str]):
    """A path segment naming a Vertex AI REST version: v1 or v1beta1 (google-genai's default)."""

    regex = "v1beta1|v1"

    def convert(self, value: str) -> str:
        """Path text to value (unchanged)."""
        return value

    def to_string(self, value: str) -> str:
        """Value to path text (unchanged)."""
        return value


register_url_convertor("vertex_api_version", VertexApiVersionConvertor())

COLLECTION = "/{version:vertex_api_version}/projects/{project}/locations/{location}/batchPredictionJobs"


def check_parent(project: str, location: str) -> None:
    """The project and location of a request path."""
    if not project or not location or not re.fullmatch(LOCATION_PATTERN, location):
        raise invalid_argument(f"Invalid location: projects/{project}/locations/{location}.")


def lookup(state: EmulatorState, project: str, location: str, job_ref: str) -> JobRecord:
    """A live job by id, under the project (id or number) and location of the path."""
    check_parent(project, location)
    if not job_ref.isdigit():
        raise invalid_argument(f"Invalid BatchPredictionJob resource name: {job_ref} is not a job id.")
    name = job_name(project, location, job_ref)
    job = state.store.get_job(name, PROVIDER)
    if job is None:
        raise not_found(f"The BatchPredictionJob {name} does not exist.")
    return job


def output_place(plan: CreatePlan, created: float) -> dict[str, str]:
    """Where this job's predictions go: the GCS directory it creates, or its BigQuery table."""
    destination = plan.destination
    if destination.kind == "gcs":
        directory = "/".join(part for part in (destination.bucket, destination.path) if part)
        directory = f"gs://{directory}/prediction-model-{rfc3339(created, 'microseconds')}"
        relative = directory.removeprefix(f"gs://{destination.bucket}/")
        return {
            "kind": "gcs",
            "directory": directory,
            "bucket": destination.bucket,
            "object": f"{relative}/predictions.jsonl",
        }
    stamp = rfc3339(created, "milliseconds").replace("-", "_").replace(":", "_").replace(".", "_")
    model = "".join(c if c.isalnum() else "_" for c in plan.model.model_id)
    return {
        "kind": "bq",
        "project": destination.project,
        "dataset": destination.dataset or f"prediction_{model}_{stamp}",
        "table": destination.table or f"predictions_{stamp}",
    }


def require_backends(state: EmulatorState, plan: CreatePlan) -> None:
    """The emulator must know the GCS server when the job uses Cloud Storage."""
    uses_gcs = plan.source.kind == "gcs" or plan.destination.kind == "gcs"
    if uses_gcs and not state.config.gcs_endpoint_url:
        raise VertexError(500, "INTERNAL", "The emulator has no Cloud Storage endpoint (gcs_endpoint_url).")


def new_job_id(state: EmulatorState, project: str, location: str) -> str:
    """A fresh numeric job id (19 digits, as Vertex's)."""
    while True:
        job_id = random_token(1, "123456789") + random_token(JOB_ID_DIGITS - 1, "0123456789")
        if state.store.get_job(job_name(project, location, job_id)) is None:
            return job_id


def create(state: EmulatorState, plan: CreatePlan, project: str, location: str) -> JobRecord:
    """Register the job; it reads its input when it runs (one whose input cannot be read fails then)."""
    require_backends(state, plan)
    config = state.config
    job_id = new_job_id(state, project, location)
    extra: dict[str, Any] = {
        REQUEST_KEY: rendered_request(plan),
        "model_id": plan.model.model_id,
        results.LINE_KIND_KEY: plan.model.kind,
        results.GCS_ENDPOINT_KEY: config.gcs_endpoint_url,
        results.TABLES_KEY: sources.bigquery_store(state),
        results.SOURCE_KEY: plan.source,
        results.DESTINATION_KEY: plan.destination,
        FAILED_ROWS_KEY: config.vertex_failed_rows,
        HOLD_KEY: config.vertex_hold_state,
        progress.CANCEL_SECONDS_KEY: progress.cancel_seconds(config),
    }
    clock = job_clock(config)
    if config.vertex_hold_state is not None:
        clock["running_seconds"] = math.inf
    extra[OUTPUT_KEY] = output_place(plan, clock["created"])
    job = JobRecord(
        provider=PROVIDER,
        job_id=job_id,
        name=job_name(project, location, job_id),
        kind="embed" if plan.model.kind != "generate" else "generate",
        model=plan.model.name,
        display_name=plan.display_name,
        input_file=None,
        input_path=None,
        inline_requests=None,
        request_count=0,
        **clock,
        materialiser=results.materialise,
        state_name=control_state_name,
        extra=extra,
    )
    return state.store.add_job(job)


router = APIRouter(tags=["vertex"])
authenticated = [Depends(require_bearer)]
router.add_api_route("/token", token_endpoint, methods=["POST"], response_model=None)


@router.post(COLLECTION, dependencies=authenticated)
async def create_job(request: Request, project: str, location: str, state: StateDep) -> dict[str, Any]:
    """Create a job: every check first; it starts PENDING and reads its input once it runs."""
    check_parent(project, location)
    plan = check_create(await read_body(request), project, location)
    job = create(state, plan, project, location)
    return render_job(job, Phase.PENDING)


@router.get(COLLECTION, dependencies=authenticated)
async def list_jobs(request: Request, project: str, location: str, state: StateDep) -> dict[str, Any]:
    """List the location's jobs, newest first, filtered, one page at a time (no key when nothing is left)."""
    check_parent(project, location)
    parent = f"projects/{project_number(project)}/locations/{location}/"
    query = parse_list_query(request.query_params, parent + "batchPredictionJobs")
    jobs = [job for job in state.store.list_jobs(PROVIDER) if job.name.startswith(parent)]
    if query.after_seq is not None:
        jobs = [job for job in jobs if job.seq < query.after_seq]
    page: list[dict[str, Any]] = []
    more = False
    last_seq = 0
    for job in jobs:
        phase = await run_in_threadpool(state.store.observe, job)
        state_name = wire_state(job, phase)
        if not all(test(job, state_name) for test in query.tests):
            continue
        if len(page) == query.page_size:
            more = True
            break
        page.append(render_job(job, phase))
        last_seq = job.seq
    body: dict[str, Any] = {}
    if page:
        body["batchPredictionJobs"] = page
    if more:
        body["nextPageToken"] = encode_page_token(last_seq, query.listing)
    return body


@router.get(COLLECTION + "/{job_ref}", dependencies=authenticated)
async def get_job(project: str, location: str, job_ref: str, state: StateDep) -> dict[str, Any]:
    """Get a job; its state advances with time."""
    job = lookup(state, project, location, job_ref)
    return render_job(job, await run_in_threadpool(state.store.observe, job))


@router.post(COLLECTION + "/{job_ref}", dependencies=authenticated)
async def cancel_job(project: str, location: str, job_ref: str, state: StateDep) -> dict[str, Any]:
    """`{id}:cancel`: CANCELLING, then CANCELLED; a job that has ended cannot be cancelled."""
    job_id, _, action = job_ref.partition(":")
    if action != "cancel":
        raise not_found(f"Method {job_ref!r} is not found.")
    job = lookup(state, project, location, job_id)
    if not await run_in_threadpool(progress.start_cancel, job, state.store, state.config):
        state_name = wire_state(job, await run_in_threadpool(state.store.observe, job))
        raise failed_precondition(f"Cannot cancel BatchPredictionJob {job.name} in state {state_name}.")
    return {}


@router.delete(COLLECTION + "/{job_ref}", dependencies=authenticated)
async def delete_job(version: str, project: str, location: str, job_ref: str, state: StateDep) -> dict[str, Any]:
    """Delete a finished job; returns its (already done) long-running operation."""
    job = lookup(state, project, location, job_ref)
    phase = await run_in_threadpool(state.store.observe, job)
    state_name = wire_state(job, phase)
    if not phase.is_terminal or state_name == "JOB_STATE_CANCELLING":
        raise failed_precondition(
            f"The BatchPredictionJob {job.name} is in state {state_name} and cannot be deleted; cancel it first."
        )
    operation_id = random_token(1, "123456789") + random_token(JOB_ID_DIGITS - 1, "0123456789")
    job.extra[OPERATION_KEY] = (operation_id, version, time.time())
    state.store.delete_job(job)
    return render_delete_operation(job, operation_id, version, job.extra[OPERATION_KEY][2])


@router.get(
    "/{version:vertex_api_version}/projects/{project}/locations/{location}/operations/{operation_id}",
    dependencies=authenticated,
    response_model=None,
)
async def get_operation(project: str, location: str, operation_id: str, state: StateDep) -> JSONResponse:
    """A delete operation by id, under the project and location it was made in."""
    check_parent(project, location)
    prefix = f"projects/{project_number(project)}/locations/{location}/"
    for job in state.store.list_jobs(PROVIDER, include_deleted=True):
        operation = job.extra.get(OPERATION_KEY)
        if operation is not None and operation[0] == operation_id and job.name.startswith(prefix):
            return JSONResponse(render_delete_operation(job, operation_id, operation[1], operation[2]))
    raise not_found(f"Operation {prefix}operations/{operation_id} does not exist.")


@router.api_route("/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
async def unknown_method(path: str) -> None:
    """Any other path under /vertex, such as express mode's project-less `{ver}/batchPredictionJobs`: Google's
    404 (registered last, so it only catches what no route above matched)."""
    raise not_found(f"The requested URL /{path} was not found on this server.")
