"""Cancelling a job, where a cancel refused because the job is already ending counts as done.

A cancel is often sent twice: the hook retries one whose answer was lost, a timeout follows a kill, a
user cancels a job the task already stopped. The provider then refuses it (Gemini and gateways: "already
ended"; Bedrock: "State was: Stopping"; OpenAI and Anthropic: a batch already cancelled or ended). One
status read tells such a refusal from a real failure: a job that is cancelling or has ended needs no
cancel, and the refusal is reported as what it is rather than raised.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from airflow_provider_genai_batch.errors import GenAIBatchError
from airflow_provider_genai_batch.hooks.base import BatchHook
from airflow_provider_genai_batch.models import TERMINAL_STATES, BatchJob, JobState

ENDING_STATES = frozenset({JobState.CANCELLING, *TERMINAL_STATES})
"""States in which a job needs no cancel: it is being cancelled already, or it has ended."""

CANCEL_ERRORS = (GenAIBatchError, httpx.TransportError)
"""What a refused or lost cancel raises; anything else is a bug and propagates as it is."""


@dataclass(frozen=True)
class CancelOutcome:
    """How a cancel ended: the provider took it, the job was already ``state`` (cancelling or ended), or
    (a part of a group only) it ``failed`` with the error the cancel raised."""

    job_name: str
    state: JobState | None = None
    failed: str | None = None

    @property
    def requested(self) -> bool:
        """True when the provider accepted the cancel request."""
        return self.state is None and self.failed is None

    def describe(self) -> str:
        """One line for the log."""
        if self.failed is not None:
            return f"cancelling {self.job_name} failed: {self.failed}"
        if self.state is None:
            return f"cancellation of {self.job_name} requested"
        return f"{self.job_name} is already {self.state.value}: nothing left to cancel"


def cancel_job(hook: BatchHook[Any], name: str) -> CancelOutcome:
    """Ask the provider to cancel ``name``; a refusal for a job already ending is a success, any other raises."""
    try:
        hook.cancel_batch(name)
    except CANCEL_ERRORS as refusal:
        try:
            job: BatchJob | None = hook.get_batch(name)
        except CANCEL_ERRORS:
            job = None
        return judge_refusal(name, refusal, job)
    return CancelOutcome(name)


async def acancel_job(hook: BatchHook[Any], name: str) -> CancelOutcome:
    """:func:`cancel_job` over the hook's async API (for triggers)."""
    try:
        await hook.acancel_batch(name)
    except CANCEL_ERRORS as refusal:
        try:
            job: BatchJob | None = await hook.aget_batch(name)
        except CANCEL_ERRORS:
            job = None
        return judge_refusal(name, refusal, job)
    return CancelOutcome(name)


CANCEL_CONCURRENCY = 8
"""How many parts of a group a trigger cancels at once."""


def cancel_jobs(hook: BatchHook[Any], names: Sequence[str]) -> list[CancelOutcome]:
    """Cancel every job of ``names`` (a group's created parts), in order; a refused or lost cancel of one part
    is its outcome's ``failed`` and the others are still cancelled."""
    outcomes = []
    for name in names:
        try:
            outcomes.append(cancel_job(hook, name))
        except CANCEL_ERRORS as err:
            outcomes.append(CancelOutcome(name, failed=str(err)))
    return outcomes


async def acancel_jobs(hook: BatchHook[Any], names: Sequence[str]) -> list[CancelOutcome]:
    """:func:`cancel_jobs` over the hook's async API, a few parts at a time; outcomes in the order of ``names``."""
    slots = asyncio.Semaphore(CANCEL_CONCURRENCY)

    async def one(name: str) -> CancelOutcome:
        async with slots:
            try:
                return await acancel_job(hook, name)
            except CANCEL_ERRORS as err:
                return CancelOutcome(name, failed=str(err))

    return list(await asyncio.gather(*(one(name) for name in names)))


def judge_refusal(name: str, refusal: BaseException, job: BatchJob | None) -> CancelOutcome:
    """The outcome of a cancel that raised ``refusal``, given the job as read right after (None: unreadable).

    A job cancelling or ended makes the refusal moot; otherwise the refusal is raised as it came.
    """
    if job is not None and job.state in ENDING_STATES:
        return CancelOutcome(name, job.state)
    raise refusal
