"""The deferrable wait: polls one batch job, or every part of a group, through its hook's async API until the
poll decision ends it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_genai_batch.cancel import acancel_job, acancel_jobs
from airflow_provider_genai_batch.errors import ProviderAPIError
from airflow_provider_genai_batch.hooks.base import BatchHook
from airflow_provider_genai_batch.hooks.registry import hook_class_for_provider
from airflow_provider_genai_batch.hooks.status_poll import apoll_job
from airflow_provider_genai_batch.job_ref import BatchJobRef
from airflow_provider_genai_batch.kill_reason import TaskInstanceKey, read_kill_reason
from airflow_provider_genai_batch.models import BatchJob
from airflow_provider_genai_batch.polling import (
    DEFAULT_MAX_POLL_FAILURES,
    Decision,
    GroupDecision,
    GroupPollState,
    PollState,
    Verdict,
    group_label,
)
from airflow_provider_genai_batch.prices import PriceTable, price_table

_ON_KILL_WORK: set[asyncio.Task[None]] = set()
"""Running ``on_kill`` check-and-cancel tasks, held so they finish after the triggerer gives up on ``on_kill``."""

D = TypeVar("D", Decision, GroupDecision)

GROUP_POLL_CONCURRENCY = 8
"""How many parts of a group one trigger polls at once."""


class GenAIBatchJobTrigger(BaseTrigger):
    """Yields exactly one event: ``terminal`` (with the job's state), ``timeout`` at ``deadline``, or ``error`` (with
    ``http_status`` when a provider's answer ended the wait, and ``job_name``, the job whose read it answered).

    Its kwargs are JSON-safe and secret-free: the job reference, the poll interval, an absolute
    deadline (unix seconds), the ``cancel_on_kill`` switch and the bound on consecutive failed polls.
    What each poll means is decided by :class:`PollState`.

    A reference with parts (a split input, follow-up rounds) is waited on as a group by this one trigger:
    each interval it polls every created part that has not ended (a few at once), judged by
    :class:`GroupPollState`, and logs one progress line for the group (with the running cost where the
    provider reports tokens on the batch, priced with ``batch_prices`` over the connection's); its one event
    adds ``states`` (each created part's state) and ``deadline``, and may be ``ready``: parts wait to be
    created and a slot is free for them, which the task does before deferring again.

    ``on_kill`` (Airflow 3.3+): the triggerer calls it when the trigger leaves its list, which happens
    when a user marks the task failed or success, but also when the task is cleared or the trigger moves
    to another triggerer (shutdown and the trigger timeout do not call it). So it first reads the task
    instance's state through the Task SDK (``kill_reason``): ended (failed, success, skipped,
    upstream_failed, removed) or gone cancels the job; anything else, or a state that cannot be read,
    keeps it for the task's next try. The triggerer gives ``on_kill`` about a second before cancelling it
    again, so the check and the cancel run as a shielded task of their own that finishes regardless; a
    cancel refused because the job is already ending counts as done.
    """

    def __init__(
        self,
        job_ref: dict[str, Any],
        poll_interval: float = 60.0,
        deadline: float | None = None,
        cancel_on_kill: bool = True,
        max_poll_failures: int = DEFAULT_MAX_POLL_FAILURES,
        batch_prices: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # BaseTrigger.__init__ has no annotations
        self.job_ref = BatchJobRef.parse(job_ref)
        self.poll_interval = poll_interval
        self.deadline = deadline
        self.cancel_on_kill = cancel_on_kill
        self.max_poll_failures = max_poll_failures
        self.batch_prices = batch_prices

    def serialize(self) -> tuple[str, dict[str, Any]]:
        kwargs: dict[str, Any] = {
            "job_ref": self.job_ref.to_xcom(),
            "poll_interval": self.poll_interval,
            "deadline": self.deadline,
            "cancel_on_kill": self.cancel_on_kill,
            "max_poll_failures": self.max_poll_failures,
        }
        if self.batch_prices is not None:
            kwargs["batch_prices"] = self.batch_prices
        return f"{type(self).__module__}.{type(self).__qualname__}", kwargs

    def _hook(self) -> BatchHook[Any]:
        return hook_class_for_provider(self.job_ref.provider)(conn_id=self.job_ref.conn_id)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = self._hook()
        if self.job_ref.is_group:
            yield await self._wait_for_group(hook)
            return
        poll = PollState(
            self.job_ref.job_name,
            interval=self.poll_interval,
            deadline=self.deadline,
            max_failures=self.max_poll_failures,
            prices=await self._prices(hook),
        )
        while True:
            outcome = await self._poll(hook, poll)
            if isinstance(outcome, TriggerEvent):
                yield outcome
                return
            await asyncio.sleep(outcome)

    async def _poll(self, hook: BatchHook[Any], poll: PollState) -> TriggerEvent | float:
        """One poll: the event that ends the wait, or the seconds until the next poll.

        The job read and the decision end with this call, so a thousand waiting triggers hold none of them
        across their sleep: objects that outlive a sleep reach the garbage collector's oldest generation,
        and the more of them arrive, the more often it runs a full collection, which stalls the loop.
        """
        try:
            job = await apoll_job(hook, self.job_ref.job_name, poll.deadline)
        except Exception as err:
            decision = poll.failed(err, time.time())
        else:
            decision = poll.observed(job, time.time())
        return self._next(decision, self._event)

    async def _wait_for_group(self, hook: BatchHook[Any]) -> TriggerEvent:
        """Poll the group's unfinished parts each interval until :class:`GroupPollState` ends the wait."""
        poll = GroupPollState(
            self.job_ref,
            interval=self.poll_interval,
            deadline=self.deadline,
            max_failures=self.max_poll_failures,
            prices=await self._prices(hook),
        )
        slots = asyncio.Semaphore(GROUP_POLL_CONCURRENCY)
        while True:
            outcome = await self._poll_group(hook, poll, slots)
            if isinstance(outcome, TriggerEvent):
                return outcome
            await asyncio.sleep(outcome)

    async def _poll_group(
        self, hook: BatchHook[Any], poll: GroupPollState, slots: asyncio.Semaphore
    ) -> TriggerEvent | float:
        """One round over the group's unfinished parts (``slots`` of them at once): the event that ends the wait,
        or the seconds until the next round. As with :meth:`_poll`, nothing read is held across the sleep."""

        async def fetch(name: str) -> BatchJob | BaseException:
            async with slots:
                try:
                    return await apoll_job(hook, name, poll.deadline)
                except Exception as err:
                    return err

        names = poll.to_poll()
        outcomes = await asyncio.gather(*(fetch(name) for name in names))
        decision = poll.observed(dict(zip(names, outcomes, strict=True)), time.time())
        return self._next(decision, self._group_event)

    def _next(self, decision: D, payload: Callable[[D], dict[str, Any]]) -> TriggerEvent | float:
        """Log what ``decision`` says; then the event that ends the wait, or the seconds until the next poll."""
        if decision.progress:
            self.log.info("%s", decision.progress)
        if decision.verdict is not Verdict.WAIT:
            return TriggerEvent(payload(decision))
        if decision.message:
            self.log.warning("%s; will poll again", decision.message)
        return decision.delay

    async def _prices(self, hook: BatchHook[Any]) -> PriceTable | None:
        """The prices the running cost is estimated at: ``batch_prices`` over the connection's over the shipped.

        The cost only adds to the progress line, so prices that cannot be read leave it out (with a warning)
        rather than stop the wait.
        """
        try:
            settings = await hook.asettings()
            return price_table(self.job_ref.provider, self.batch_prices, settings.batch_prices)
        except Exception as err:
            self.log.warning("no running cost in the progress log: %s", err)
            return None

    async def on_kill(self) -> None:
        """The triggerer dropped this trigger: cancel the job if the task was ended by a user and ``cancel_on_kill``."""
        if not self.cancel_on_kill:
            return
        work = asyncio.create_task(self._cancel_unless_awaited(), name=f"on_kill {self.job_ref.job_name}")
        _ON_KILL_WORK.add(work)
        work.add_done_callback(_ON_KILL_WORK.discard)
        await asyncio.shield(work)

    async def _cancel_unless_awaited(self) -> None:
        """Cancel the job (every created part of a group) unless the task instance still waits on it; logs what
        it decided and did, never raises."""
        label = group_label(self.job_ref)
        try:
            verdict = await asyncio.to_thread(read_kill_reason, TaskInstanceKey.of(self.task_instance))
            if not verdict.cancel:
                self.log.info("trigger stopped but %s: keeping %s", verdict.reason, label)
                return
            self.log.info("task killed (%s): cancelling %s", verdict.reason, label)
            if not self.job_ref.is_group:
                outcome = await acancel_job(self._hook(), self.job_ref.job_name)
                self.log.info("%s", outcome.describe())
                return
            for outcome in await acancel_jobs(self._hook(), self.job_ref.job_names()):
                if outcome.failed is not None:
                    self.log.error("%s", outcome.describe())
                else:
                    self.log.info("%s", outcome.describe())
        except Exception:
            self.log.exception("cancelling %s on kill failed", label)

    def _event(self, decision: Decision) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "status": decision.verdict.value,
            "job_ref": self.job_ref.to_xcom(),
            "message": decision.message,
            "deadline": self.deadline,
        }
        if decision.job is not None:
            payload["state"] = decision.job.state.value
            payload["stats"] = decision.job.stats.model_dump()
        return payload | _error_status(decision.error)

    def _group_event(self, decision: GroupDecision) -> dict[str, Any]:
        return {
            "status": decision.verdict.value,
            "job_ref": self.job_ref.to_xcom(),
            "message": decision.message,
            "states": decision.states,
            "deadline": self.deadline,
        } | _error_status(decision.error)


def _error_status(error: BaseException | None) -> dict[str, Any]:
    """The HTTP status of the provider's answer that ended the wait (``http_status``: a 404 tells the task its job is
    gone at the provider) and the job whose read it answered (``job_name``: the part of a group to ask first whether it
    is gone), where one did; else nothing."""
    if not isinstance(error, ProviderAPIError) or error.http_status is None:
        return {}
    named = {} if error.job_name is None else {"job_name": error.job_name}
    return {"http_status": error.http_status} | named
