"""The deferrable wait: polls one batch job through its hook's async API until it ends or a deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_genai_batch.errors import ProviderAPIError
from airflow_provider_genai_batch.hooks.base import BatchHook
from airflow_provider_genai_batch.hooks.registry import hook_class_for_provider
from airflow_provider_genai_batch.models import BatchJob, BatchJobRef

TRANSIENT_HTTP = frozenset({408, 429, 500, 502, 503, 504})


class GenAIBatchJobTrigger(BaseTrigger):
    """Yields exactly one event: the job's terminal state, a timeout at ``deadline``, or a fatal error.

    Its kwargs are JSON-safe and secret-free: the job reference, the poll interval, an absolute
    deadline (unix seconds) and the ``cancel_on_kill`` switch. Transient poll errors are logged and
    polling goes on; ``on_kill`` (Airflow 3.3+) cancels the remote job when a user kills the task.
    """

    def __init__(
        self,
        job_ref: dict[str, Any],
        poll_interval: float = 60.0,
        deadline: float | None = None,
        cancel_on_kill: bool = True,
    ) -> None:
        super().__init__()
        self.job_ref = BatchJobRef.model_validate(job_ref)
        self.poll_interval = poll_interval
        self.deadline = deadline
        self.cancel_on_kill = cancel_on_kill

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "job_ref": self.job_ref.to_xcom(),
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "cancel_on_kill": self.cancel_on_kill,
            },
        )

    def _hook(self) -> BatchHook:
        return hook_class_for_provider(self.job_ref.provider)(conn_id=self.job_ref.conn_id)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = self._hook()
        name = self.job_ref.job_name
        last_progress: tuple[str, int, int, int] | None = None
        while True:
            try:
                job = await hook.aget_batch(name)
            except ProviderAPIError as err:
                if err.http_status not in TRANSIENT_HTTP:
                    yield TriggerEvent(self._event("error", message=str(err)))
                    return
                self.log.warning("transient error polling %s, will poll again: %s", name, err)
            except httpx.TransportError as err:
                self.log.warning("network error polling %s, will poll again: %s", name, type(err).__name__)
            else:
                progress = (job.state.value, job.stats.succeeded, job.stats.failed, job.stats.pending)
                if progress != last_progress:
                    self.log.info(
                        "%s is %s: %d/%d succeeded, %d failed, %d pending",
                        name,
                        job.provider_state or job.state.value,
                        job.stats.succeeded,
                        job.stats.total,
                        job.stats.failed,
                        job.stats.pending,
                    )
                    last_progress = progress
                if job.state.is_terminal:
                    yield TriggerEvent(self._event("terminal", job=job))
                    return
            remaining = None if self.deadline is None else self.deadline - time.time()
            if remaining is not None and remaining <= 0:
                yield TriggerEvent(self._event("timeout", message=f"{name} did not finish before its deadline"))
                return
            await asyncio.sleep(self.poll_interval if remaining is None else min(self.poll_interval, remaining))

    async def on_kill(self) -> None:
        """A user killed the deferred task (mark failed/success, clear): cancel the remote job if asked to."""
        if not self.cancel_on_kill:
            return
        self.log.info("task killed: cancelling %s", self.job_ref.job_name)
        await self._hook().acancel_batch(self.job_ref.job_name)

    def _event(self, status: str, *, job: BatchJob | None = None, message: str | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {"status": status, "job_ref": self.job_ref.to_xcom(), "message": message}
        if job is not None:
            payload["state"] = job.state.value
            payload["stats"] = job.stats.model_dump()
        return payload
