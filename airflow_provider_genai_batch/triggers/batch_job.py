"""The deferrable wait: polls one batch job through its hook's async API until the poll decision ends it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_genai_batch.hooks.base import BatchHook
from airflow_provider_genai_batch.hooks.registry import hook_class_for_provider
from airflow_provider_genai_batch.job_ref import BatchJobRef
from airflow_provider_genai_batch.polling import DEFAULT_MAX_POLL_FAILURES, Decision, PollState, Verdict


class GenAIBatchJobTrigger(BaseTrigger):
    """Yields exactly one event: ``terminal`` (with the job's state), ``timeout`` at ``deadline``, or ``error``.

    Its kwargs are JSON-safe and secret-free: the job reference, the poll interval, an absolute
    deadline (unix seconds), the ``cancel_on_kill`` switch and the bound on consecutive failed polls.
    What each poll means is decided by :class:`PollState`; ``on_kill`` (Airflow 3.3+) cancels the
    remote job when a user kills the task.
    """

    def __init__(
        self,
        job_ref: dict[str, Any],
        poll_interval: float = 60.0,
        deadline: float | None = None,
        cancel_on_kill: bool = True,
        max_poll_failures: int = DEFAULT_MAX_POLL_FAILURES,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # BaseTrigger.__init__ has no annotations
        self.job_ref = BatchJobRef.parse(job_ref)
        self.poll_interval = poll_interval
        self.deadline = deadline
        self.cancel_on_kill = cancel_on_kill
        self.max_poll_failures = max_poll_failures

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "job_ref": self.job_ref.to_xcom(),
                "poll_interval": self.poll_interval,
                "deadline": self.deadline,
                "cancel_on_kill": self.cancel_on_kill,
                "max_poll_failures": self.max_poll_failures,
            },
        )

    def _hook(self) -> BatchHook[Any]:
        return hook_class_for_provider(self.job_ref.provider)(conn_id=self.job_ref.conn_id)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = self._hook()
        poll = PollState(
            self.job_ref.job_name,
            interval=self.poll_interval,
            deadline=self.deadline,
            max_failures=self.max_poll_failures,
        )
        while True:
            try:
                job = await hook.aget_batch(self.job_ref.job_name)
            except Exception as err:
                decision = poll.failed(err, time.time())
            else:
                decision = poll.observed(job, time.time())
            if decision.progress:
                self.log.info("%s", decision.progress)
            if decision.verdict is not Verdict.WAIT:
                yield TriggerEvent(self._event(decision))
                return
            if decision.message:
                self.log.warning("%s; will poll again", decision.message)
            await asyncio.sleep(decision.delay)

    async def on_kill(self) -> None:
        """A user killed the deferred task (mark failed/success, clear): cancel the remote job if asked to."""
        if not self.cancel_on_kill:
            return
        self.log.info("task killed: cancelling %s", self.job_ref.job_name)
        await self._hook().acancel_batch(self.job_ref.job_name)

    def _event(self, decision: Decision) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "status": decision.verdict.value,
            "job_ref": self.job_ref.to_xcom(),
            "message": decision.message,
        }
        if decision.job is not None:
            payload["state"] = decision.job.state.value
            payload["stats"] = decision.job.stats.model_dump()
        return payload
