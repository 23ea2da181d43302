"""A Message Batch's processing status over time: in_progress, canceling, then ended with its results.

A batch ends only once its results exist: a cancelled or expired one keeps what it did before it
stopped, and a failed one (forced by the config) ends with every request errored.
"""

from __future__ import annotations

import time
from functools import partial

from starlette.concurrency import run_in_threadpool

from airflow_provider_genai_batch.testing.emulator import progress
from airflow_provider_genai_batch.testing.emulator.anthropic.results import materialise
from airflow_provider_genai_batch.testing.emulator.anthropic.wire import AnthropicError
from airflow_provider_genai_batch.testing.emulator.store import JobRecord, Phase, Store

EMULATED_FAILURE_MESSAGE = "Internal server error (emulated failure: job_outcome is 'fail')."


def ended(job: JobRecord, phase: Phase, now: float, *, wait: bool) -> bool:
    """Whether the batch has ended (its results exist); starts the results of a stopped batch."""
    if phase is Phase.SUCCEEDED:
        return job.results is not None
    if phase in (Phase.PENDING, Phase.RUNNING):
        return False
    store: Store = job.extra["store"]
    if phase is Phase.CANCELLED:
        end = progress.cancel_end(job) or now
        if now < end:
            return False
        produce = partial(materialise, job, store, done=progress.stopped_done(job, phase, now), stop_type="canceled")
    elif phase is Phase.EXPIRED:
        produce = partial(materialise, job, store, done=progress.stopped_done(job, phase, now), stop_type="expired")
    else:
        produce = partial(materialise, job, store, fail_message=job.failure or EMULATED_FAILURE_MESSAGE)
    return progress.finish_stopped(job, store, produce, wait=wait)


def processing_status(job: JobRecord, phase: Phase, now: float, *, wait: bool = False) -> str:
    """in_progress, canceling or ended."""
    if ended(job, phase, now, wait=wait):
        return "ended"
    return "canceling" if job.cancelled_at is not None else "in_progress"


def observe(store: Store, job: JobRecord) -> tuple[Phase, str]:
    """The store's phase and the processing status now (blocking: run it in a thread)."""
    phase = store.observe(job)
    status = processing_status(job, phase, time.time(), wait=True)
    if status != "ended" and progress.stop_worker_failed(job):
        raise AnthropicError(500, "api_error", job.failure or "The emulator failed to produce results.")
    return phase, status


async def observe_now(store: Store, job: JobRecord) -> tuple[Phase, str]:
    """:func:`observe`, in the event loop while the batch's clock says pending or running (its status then comes
    from the clock alone, with no results to produce or wait for), in a worker thread otherwise."""
    now = time.time()
    phase = job.timer_phase(now)
    if phase is not Phase.PENDING and phase is not Phase.RUNNING:
        return await run_in_threadpool(observe, store, job)
    status = processing_status(job, phase, now)
    if status != "ended" and progress.stop_worker_failed(job):
        raise AnthropicError(500, "api_error", job.failure or "The emulator failed to produce results.")
    return phase, status


def control_state_name(job: JobRecord, phase: Phase) -> str:
    """The status shown by /_emulator/jobs (never waits; may start a stopped batch's results)."""
    return processing_status(job, phase, time.time())
