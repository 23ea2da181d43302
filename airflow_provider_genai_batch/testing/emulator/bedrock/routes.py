"""The four model-invocation-job operations of Bedrock's control plane, mounted at /bedrock.

The same `clientRequestToken` returns the same job; a job whose input fails validation fails right
after Validating.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from airflow_provider_genai_batch.testing.emulator import progress
from airflow_provider_genai_batch.testing.emulator.bedrock.results import materialise
from airflow_provider_genai_batch.testing.emulator.bedrock.storage import snapshot_input
from airflow_provider_genai_batch.testing.emulator.bedrock.validation import (
    LISTING,
    check_create,
    check_job_identifier,
    listing_start,
    parse_list_query,
    read_body,
    require_sigv4,
)
from airflow_provider_genai_batch.testing.emulator.bedrock.wire import (
    JOB_ID_LENGTH,
    PROVIDER,
    REQUEST_KEY,
    S3_KEY,
    TOKEN_KEY,
    VALIDATION_ERROR_KEY,
    BedrockError,
    control_state_name,
    job_arn,
    render_job,
    validation_error,
    wire_status,
)
from airflow_provider_genai_batch.testing.emulator.common import random_token
from airflow_provider_genai_batch.testing.emulator.store import (
    EmulatorState,
    JobRecord,
    StateDep,
    Store,
    encode_page_token,
    job_clock,
)


def find_by_token(store: Store, token: str) -> JobRecord | None:
    """The job created earlier with this clientRequestToken, if any."""
    return next((job for job in store.list_jobs(PROVIDER) if job.extra.get(TOKEN_KEY) == token), None)


def lookup_job(store: Store, identifier: str) -> JobRecord:
    """A job by ARN or 12-character id; ValidationException for a malformed one, else ResourceNotFound."""
    job_id = check_job_identifier(identifier)
    for job in store.list_jobs(PROVIDER):
        if job.job_id == job_id and (identifier == job_id or identifier == job.name):
            return job
    raise BedrockError(404, "ResourceNotFoundException", f"The model invocation job {identifier} does not exist.")


def register_job(
    state: EmulatorState,
    body: dict[str, Any],
    job_id: str,
    input_path: Path,
    count: int,
    problem: str | None,
    s3: dict[str, str],
) -> JobRecord:
    """Add a job to the store; a job whose input failed validation fails right after Validating."""
    config = state.config
    job = JobRecord(
        provider=PROVIDER,
        job_id=job_id,
        name=job_arn(config.aws_region, job_id),
        kind="generate",
        model=body["modelId"],
        display_name=body["jobName"],
        input_file=body["inputDataConfig"]["s3InputDataConfig"]["s3Uri"],
        input_path=input_path,
        inline_requests=None,
        request_count=count,
        **job_clock(config, invalid=bool(problem)),
        materialiser=materialise,
        state_name=control_state_name,
        extra={
            TOKEN_KEY: body.get("clientRequestToken"),
            REQUEST_KEY: body,
            VALIDATION_ERROR_KEY: problem,
            S3_KEY: s3,
            progress.CANCEL_SECONDS_KEY: progress.cancel_seconds(config),
        },
    )
    return state.store.add_job(job)


router = APIRouter(tags=["bedrock"], dependencies=[Depends(require_sigv4)])


@router.post("/model-invocation-job")
async def create_job(request: Request, state: StateDep) -> dict[str, Any]:
    """CreateModelInvocationJob: validate, return the existing job for a known token, else register a new one."""
    body = check_create(await read_body(request))
    token = body.get("clientRequestToken")
    if token and (existing := find_by_token(state.store, token)) is not None:
        return {"jobArn": existing.name}
    config = state.config
    if not config.s3_endpoint_url:
        raise BedrockError(500, "InternalServerException", "The emulator has no S3 endpoint (--s3-endpoint-url).")
    job_id = random_token(JOB_ID_LENGTH)
    s3 = {"endpoint_url": config.s3_endpoint_url, "region": config.aws_region}
    input_path = state.store.job_path(job_id, "input")
    input_uri = body["inputDataConfig"]["s3InputDataConfig"]["s3Uri"]
    count, problem = await run_in_threadpool(snapshot_input, s3, input_uri, input_path)
    if token and (existing := find_by_token(state.store, token)) is not None:
        input_path.unlink(missing_ok=True)  # a twin request registered the job while this one read S3
        return {"jobArn": existing.name}
    job = register_job(state, body, job_id, input_path, count, problem, s3)
    return {"jobArn": job.name}


@router.get("/model-invocation-jobs")
async def list_jobs(request: Request, state: StateDep) -> dict[str, Any]:
    """ListModelInvocationJobs: filters, CreationTime order, nextToken pages."""
    query = parse_list_query(request.query_params)
    after, before = query.submitted_after, query.submitted_before
    jobs = state.store.list_jobs(PROVIDER)
    if query.ascending:
        jobs.reverse()
    summaries: list[dict[str, Any]] = []
    last_seq: int | None = None
    more = False
    for job in jobs[listing_start(jobs, query.next_token) :]:
        if query.name_contains and query.name_contains not in (job.display_name or ""):
            continue
        if (after is not None and job.created <= after) or (before is not None and job.created >= before):
            continue
        phase = await run_in_threadpool(state.store.observe, job)
        rendered = render_job(job, phase)
        if query.status_equals and rendered["status"] != query.status_equals:
            continue
        if len(summaries) == query.max_results:
            more = True
            break
        summaries.append(rendered)
        last_seq = job.seq
    result: dict[str, Any] = {"invocationJobSummaries": summaries}
    if more and last_seq is not None:
        result["nextToken"] = encode_page_token(last_seq, LISTING)
    return result


@router.get("/model-invocation-job/{job_identifier:path}")
async def get_job(job_identifier: str, state: StateDep) -> dict[str, Any]:
    """GetModelInvocationJob by ARN (percent-encoded in the path) or id."""
    job = lookup_job(state.store, job_identifier)
    phase = await run_in_threadpool(state.store.observe, job)
    return render_job(job, phase)


@router.post("/model-invocation-job/{job_identifier:path}/stop")
async def stop_job(job_identifier: str, state: StateDep) -> dict[str, Any]:
    """StopModelInvocationJob: Stopping, then Stopped; a job that has ended says which state it was in."""
    job = lookup_job(state.store, job_identifier)
    if not await run_in_threadpool(state.store.cancel_job, job):
        status = wire_status(job, await run_in_threadpool(state.store.observe, job))
        raise validation_error(f"Unable to stop the model invocation job {job.name}. State was: {status}")
    return {}
