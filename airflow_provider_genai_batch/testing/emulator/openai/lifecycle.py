"""An OpenAI batch's status over time: validating, in_progress, finalizing, then how it ended.

A cancelled or expired batch keeps the results of what it did before it stopped; a batch's output and
error files join the Files API once its results exist.
"""

from __future__ import annotations

import time
from functools import partial

from starlette.concurrency import run_in_threadpool

from airflow_provider_genai_batch.testing.emulator import progress
from airflow_provider_genai_batch.testing.emulator.openai.results import materialise
from airflow_provider_genai_batch.testing.emulator.openai.wire import PROVIDER, OpenAIResults, finalizing_start
from airflow_provider_genai_batch.testing.emulator.store import JobRecord, Phase, Store


def register_results(job: JobRecord, store: Store) -> None:
    """Make a finished batch's output and error files visible in the Files API (once)."""
    with job.lock:
        results = job.results
        if not isinstance(results, OpenAIResults) or results.registered:
            return
        for record in (results.output, results.errors):
            if record is not None:
                store.add_file(record)
        results.registered = True


def register_ready_results(store: Store) -> None:
    """Register the files of every batch whose results exist, so file calls see them."""
    for job in store.list_jobs(PROVIDER, include_deleted=True):
        if job.results is not None:
            register_results(job, store)


def stopped_results(job: JobRecord, store: Store, phase: Phase, now: float, *, wait: bool) -> bool:
    """Start (or wait for) the partial results of a cancelled or expired batch; True once they exist."""
    if phase is Phase.CANCELLED:
        done = 0 if job.extra.get("validation_errors") else progress.stopped_done(job, phase, now)
        produce = partial(materialise, job, store, done=done, stop_code="batch_cancelled")
    else:
        produce = partial(
            materialise, job, store, done=progress.stopped_done(job, phase, now), stop_code="batch_expired"
        )
    ready = progress.finish_stopped(job, store, produce, wait=wait)
    if ready:
        register_results(job, store)
    return ready


def batch_status(job: JobRecord, phase: Phase, now: float, *, wait: bool = False) -> str:
    """The batch's status now, given the store's phase; starts the partial results of a stopped batch."""
    if phase is Phase.PENDING:
        return "validating"
    if phase is Phase.RUNNING:
        if job.outcome != "expire" and now >= finalizing_start(job):
            return "finalizing"
        return "in_progress"
    if phase is Phase.SUCCEEDED:
        return "completed"
    if phase is Phase.FAILED:
        return "failed"
    if job.failure is not None:
        return "failed"
    store: Store = job.extra["store"]
    if phase is Phase.CANCELLED:
        end = progress.cancel_end(job)
        if end is not None and now < end:
            return "cancelling"
        return "cancelled" if stopped_results(job, store, phase, now, wait=wait) else "cancelling"
    return "expired" if stopped_results(job, store, phase, now, wait=wait) else "in_progress"


def observe(store: Store, job: JobRecord) -> tuple[Phase, str]:
    """The store's phase and the batch status now (blocking: run it in a thread)."""
    phase = store.observe(job)
    status = batch_status(job, phase, time.time(), wait=True)
    if status == "completed":
        register_results(job, store)
    return phase, status


async def observe_now(store: Store, job: JobRecord) -> tuple[Phase, str]:
    """:func:`observe`, in the event loop while the batch's clock says validating or in progress (its status then
    comes from the clock alone, with no results to produce or wait for), in a worker thread otherwise."""
    now = time.time()
    phase = job.timer_phase(now)
    if phase is Phase.PENDING or phase is Phase.RUNNING:
        return phase, batch_status(job, phase, now)
    return await run_in_threadpool(observe, store, job)


def control_state_name(job: JobRecord, phase: Phase) -> str:
    """The status shown by /_emulator/jobs (never waits; may start a stopped batch's results)."""
    return batch_status(job, phase, time.time())
