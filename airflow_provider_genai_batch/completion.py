"""Waiting for a job and finishing it, shared by the submit operator and the results sensor.

Deferrable by default (the trigger polls; the task passes an explicit ``timeout`` to ``defer``
because ``execution_timeout`` is not enforced while deferred), or a blocking poll on the worker.
Finishing lands the results (for a job that wrote to a table, only its manifest and counts unless
``land_table_results``), fails the task on a failed/expired/cancelled job or on too many failed
rows, sets Asset event extras (once per job and results: see :mod:`.asset_events`), and returns the
manifest as XCom. Every cancel goes through :mod:`.cancel`: a job already ending is a successful cancel.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR, TriggerFailureReason

from airflow_provider_genai_batch.asset_events import announce_once
from airflow_provider_genai_batch.cancel import CANCEL_ERRORS, cancel_job
from airflow_provider_genai_batch.errors import GenAIBatchError, JobFailedError, JobTimeoutError
from airflow_provider_genai_batch.hooks.base import BatchHook
from airflow_provider_genai_batch.hooks.registry import hook_class_for_provider
from airflow_provider_genai_batch.hooks.retry import is_transient_error
from airflow_provider_genai_batch.job_ref import BatchJobRef, recall
from airflow_provider_genai_batch.kill_reason import TaskInstanceKey, read_kill_reason
from airflow_provider_genai_batch.landing import (
    land_counts,
    land_results,
    output_dir,
    redacted_job,
    redacted_row,
    writes_table,
)
from airflow_provider_genai_batch.models import BatchJob, JobState, ResultsManifest
from airflow_provider_genai_batch.polling import Decision, PollState, Verdict
from airflow_provider_genai_batch.prices import price_table
from airflow_provider_genai_batch.triggers.batch_job import GenAIBatchJobTrigger
from airflow_provider_genai_batch.usage import UsageTally, summary_line, usage_and_cost

DEFER_GRACE = timedelta(minutes=5)

_TRUE, _FALSE = frozenset({"true", "1", "yes", "on"}), frozenset({"false", "0", "no", "off", ""})


def as_bool(name: str, value: Any) -> bool:
    """A switch as rendered: a bool, or its text (``true``/``false``, ``1``/``0``, ``yes``/``no``, ``on``/``off``)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise GenAIBatchError(f"{name} must be true or false, got {value!r}")


class BatchCompletionMixin:
    """For operators that wait on a :class:`BatchJobRef` and land its results."""

    output_uri: str | None
    deferrable: bool
    poll_interval: float
    job_timeout: timedelta
    cancel_on_kill: bool
    cancel_on_timeout: bool
    max_failed_ratio: float
    max_poll_failures: int
    land_table_results: bool | str
    batch_prices: Any = None
    """The user's batch prices per model (``{model: {input, output, ...}}`` or its JSON), over the shipped table."""
    _polling_ref: BatchJobRef | None = None
    """The job this task polls on its worker right now (what ``on_kill`` acts on), and its task instance."""
    _polling_ti: TaskInstanceKey | None = None

    def _hook_for(self, ref: BatchJobRef) -> BatchHook[Any]:
        return hook_class_for_provider(ref.provider)(conn_id=ref.conn_id)

    def _deadline(self) -> float:
        """Absolute deadline: ``job_timeout`` from now, or sooner if ``execution_timeout`` says so."""
        budget = self.job_timeout
        execution_timeout = getattr(self, "execution_timeout", None)
        if execution_timeout is not None:
            budget = min(budget, execution_timeout)
        return time.time() + budget.total_seconds()

    def wait_for(self, context: Any, ref: BatchJobRef) -> dict[str, Any]:
        """Defer, or poll on this worker, until the job ends; then finish it."""
        hook = self._hook_for(ref)
        deadline = self._deadline()
        poll = PollState(
            ref.job_name, interval=self.poll_interval, deadline=deadline, max_failures=self.max_poll_failures
        )
        decision = self.poll_once(hook, poll)
        if decision.verdict is Verdict.WAIT and self.deferrable:
            self.defer(  # type: ignore[attr-defined]
                trigger=GenAIBatchJobTrigger(
                    job_ref=ref.to_xcom(),
                    poll_interval=self.poll_interval,
                    deadline=deadline,
                    cancel_on_kill=self.cancel_on_kill,
                    max_poll_failures=self.max_poll_failures,
                ),
                method_name="execute_complete",
                timeout=timedelta(seconds=deadline - time.time()) + DEFER_GRACE,
            )
        self.watch(context, ref)
        while decision.verdict is Verdict.WAIT:
            time.sleep(decision.delay)
            decision = self.poll_once(hook, poll)
        self._polling_ref = None
        return self.conclude(context, ref, hook, decision)

    def watch(self, context: Any, ref: BatchJobRef) -> None:
        """Polling ``ref`` on this worker for this task instance, from now on: what ``on_kill`` acts on."""
        self._polling_ref = ref
        self._polling_ti = TaskInstanceKey.of(context["ti"])

    def poll_once(self, hook: BatchHook[Any], poll: PollState) -> Decision:
        """One status poll on this worker, judged by :class:`PollState`; a permanent error is raised as it is."""
        try:
            job = hook.get_batch(poll.job_name)
        except Exception as err:
            decision = poll.failed(err, time.time())
            if decision.verdict is Verdict.ERROR and not is_transient_error(err):
                raise
            self.log.warning("%s", decision.message)  # type: ignore[attr-defined]
            return decision
        decision = poll.observed(job, time.time())
        if decision.progress:
            self.log.info("%s", decision.progress)  # type: ignore[attr-defined]
        return decision

    def conclude(self, context: Any, ref: BatchJobRef, hook: BatchHook[Any], decision: Decision) -> dict[str, Any]:
        """Act on a final decision: land a terminal job, time out (cancelling if asked), or fail."""
        if decision.verdict is Verdict.TERMINAL and decision.job is not None:
            return self.finish(context, ref, decision.job, hook)
        if decision.verdict is Verdict.TIMEOUT:
            self._timed_out(ref, hook, decision.message)
        raise GenAIBatchError(f"waiting for {ref.job_name} failed: {decision.message}")

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger's one event."""
        ref = BatchJobRef.parse(event["job_ref"])
        hook = self._hook_for(ref)
        if event["status"] == Verdict.TIMEOUT.value:
            self._timed_out(ref, hook, event.get("message"))
        if event["status"] != Verdict.TERMINAL.value:
            raise GenAIBatchError(f"waiting for {ref.job_name} failed: {event.get('message')}")
        return self.finish(context, ref, hook.get_batch(ref.job_name), hook)

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Any) -> Any:
        """Cancel the job when Airflow's own deferral timeout fires (a backstop behind the trigger deadline).

        Decided from the resume signal itself, before the base class turns it into whichever exception
        the task's settings call for (sensors: a sensor timeout, or a skip with ``soft_fail``).
        """
        timed_out = next_method == TRIGGER_FAIL_REPR and (next_kwargs or {}).get("error") == (
            TriggerFailureReason.TRIGGER_TIMEOUT
        )
        if timed_out and self.cancel_on_timeout:
            ref = recall(context)
            if ref is not None:
                self.log.info("deferral timed out: cancelling %s", ref.job_name)  # type: ignore[attr-defined]
                self.cancel(ref, on_failure="the task still fails as timed out")
        return super().resume_execution(next_method, next_kwargs, context)  # type: ignore[misc]

    def on_kill(self) -> None:
        """Killed while polling on the worker (non-deferrable): cancel the job if a user ended the task.

        A worker also kills a task that was cleared while it ran, or that it shuts down; its next try
        still waits on the job, so the task instance's state decides (see ``kill_reason``).
        """
        ref = self._polling_ref
        if ref is None or not self.cancel_on_kill:
            return
        verdict = read_kill_reason(self._polling_ti)
        if not verdict.cancel:
            self.log.info("killed but %s: keeping %s", verdict.reason, ref.job_name)  # type: ignore[attr-defined]
            return
        self.log.info("task killed (%s): cancelling %s", verdict.reason, ref.job_name)  # type: ignore[attr-defined]
        self.cancel(ref)

    def cancel(self, ref: BatchJobRef, on_failure: str | None = None) -> None:
        """Cancel the job, logging what happened; a job already cancelling or ended is not an error.

        A cancel that fails is raised, or, with ``on_failure`` (what the task does instead), logged as a warning.
        """
        try:
            outcome = cancel_job(self._hook_for(ref), ref.job_name)
        except CANCEL_ERRORS as err:
            if on_failure is None:
                raise
            self.log.warning("cancelling %s failed (%s); %s", ref.job_name, err, on_failure)  # type: ignore[attr-defined]
            return
        self.log.info("%s", outcome.describe())  # type: ignore[attr-defined]

    def _timed_out(self, ref: BatchJobRef, hook: BatchHook[Any], detail: str | None = None) -> None:
        """Raise JobTimeoutError naming the job, after cancelling it if asked to (a job already ending is fine)."""
        cancelled = ""
        if self.cancel_on_timeout:
            try:
                outcome = cancel_job(hook, ref.job_name)
            except CANCEL_ERRORS as err:
                cancelled = f"; cancelling it failed: {err}"
            else:
                if outcome.requested:
                    cancelled = "; the job was cancelled (cancel_on_timeout=True)"
                elif outcome.state in (JobState.CANCELLING, JobState.CANCELLED):  # an earlier cancel arrived
                    cancelled = f"; the job was cancelled (cancel_on_timeout=True; it is {outcome.state.value})"
                else:
                    cancelled = f"; {outcome.describe()}"
        reason = f" ({detail})" if detail else ""
        raise JobTimeoutError(
            f"{ref.provider} job {ref.job_name} did not finish within {self.job_timeout}{reason}{cancelled}"
        )

    def finish(self, context: Any, ref: BatchJobRef, job: BatchJob, hook: BatchHook[Any]) -> dict[str, Any]:
        """Land the results, judge the job, emit Asset extras, and return the manifest."""
        uri = self.output_uri or ref.output_uri
        if not uri:
            raise GenAIBatchError("no output_uri: set it on the sensor or on the submit operator")
        job = redacted_job(job, hook.redact)
        prices = price_table(ref.provider, self.batch_prices, hook.settings.batch_prices)
        if writes_table(job, ref) and not as_bool("land_table_results", self.land_table_results):
            manifest = land_counts(job, ref, output_dir(uri))
        else:
            tally = UsageTally(ref.provider)
            rows = (redacted_row(row, hook.redact) for row in hook.iter_results(job))
            manifest = land_results(
                rows,
                job,
                ref,
                output_dir(uri),
                hook.dialect.provider_key,
                observe=tally.add_row,
                account=lambda: usage_and_cost(job, tally, prices, hook.reported_usage(job)),
            )
        self.log.info(  # type: ignore[attr-defined]
            "%s %s: %s -> %s", ref.provider, ref.job_name, manifest.counts.model_dump(), _results_at(manifest)
        )
        spent = summary_line(manifest.usage, manifest.cost)
        if spent:
            self.log.info("%s %s: %s", ref.provider, ref.job_name, spent)  # type: ignore[attr-defined]
        _judge(manifest, self.max_failed_ratio)
        announce_once(self, context, manifest, job.create_time, self.log)  # type: ignore[attr-defined]
        return manifest.model_dump(mode="json")


def _judge(manifest: ResultsManifest, max_failed_ratio: float) -> None:
    counts = manifest.counts
    ref = manifest.job_ref
    if not manifest.state.is_success:
        reason = manifest.error_message or manifest.provider_state or manifest.state.value
        raise JobFailedError(
            f"{ref.provider} job {ref.job_name} ended {manifest.state.value}: {reason} "
            f"(results so far: {_results_at(manifest)})"
        )
    if counts.failed_ratio > max_failed_ratio:
        raise JobFailedError(
            f"{ref.provider} job {ref.job_name}: {counts.total - counts.succeeded} of {counts.total} rows did not "
            f"succeed ({counts.failed} failed, {counts.missing} missing, {counts.expired} expired, "
            f"{counts.cancelled} cancelled), over max_failed_ratio={max_failed_ratio}; see {_results_at(manifest)}"
        )


def _results_at(manifest: ResultsManifest) -> str | None:
    """Where the results are: the landed file, else where the provider wrote them (a table)."""
    return manifest.results_uri or manifest.output_location or manifest.job_ref.destination
