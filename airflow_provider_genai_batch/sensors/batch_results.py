"""Waiting for a submitted job and landing its results on storage."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import PurePath
from typing import Any, NoReturn

from airflow.sdk import BaseSensorOperator, ObjectStoragePath, PokeReturnValue
from airflow.sdk.exceptions import (
    AirflowFailException,
    AirflowSensorTimeout,
    AirflowSkipException,
    AirflowTaskTimeout,
)

from airflow_provider_genai_batch.completion import (
    BatchCompletionMixin,
    as_bool,
    as_count,
    as_interval,
    as_location,
    as_ratio,
    as_timedelta,
)
from airflow_provider_genai_batch.errors import GenAIBatchError, JobTimeoutError
from airflow_provider_genai_batch.job_ref import JOB_REF_XCOM_KEY, BatchJobRef
from airflow_provider_genai_batch.links import GenAIBatchJobLink
from airflow_provider_genai_batch.mapped_outputs import claim_output_dir
from airflow_provider_genai_batch.polling import (
    DEFAULT_MAX_POLL_FAILURES,
    GroupPollState,
    PollState,
    Verdict,
    group_label,
)
from airflow_provider_genai_batch.prices import price_table
from airflow_provider_genai_batch.rendered import rendered_mapping

DEFAULT_POLL_INTERVAL = 60.0
"""Seconds between polls when neither ``poll_interval`` nor ``poke_interval`` is given."""

POLL_FAILURES_KEY = "genai_batch_poll_failures"
"""The task state store key a ``reschedule`` sensor keeps its failed polls in a row under, from one poke to the next."""

SOFT_FAILURES = (AirflowSensorTimeout, AirflowTaskTimeout, AirflowFailException, JobTimeoutError)
"""What ``soft_fail`` turns into a skip: what a poking sensor skips on (its timeouts), and the deferred wait's own
timeout; a job that failed, or results that could not land, fail the task in every mode."""


class GenAIBatchSensor(BatchCompletionMixin, BaseSensorOperator):
    """Wait for the job in ``job_ref`` (the submit operator's XCom), then write its results to ``output_uri``.

    Results are ``results.jsonl`` (one normalised row per input key) and ``manifest.json``; the manifest
    is returned as XCom and set as the extra of every Asset in ``outlets``; landing the same job's results
    again (a cleared sensor) emits no second event for an Asset that announced them already. A failed,
    expired or cancelled job fails the task with the provider's message, and so does a succeeded one
    whose share of unsuccessful rows exceeds ``max_failed_ratio``.

    A reference with parts (a split input submitted without ``wait_for_completion``) is waited on as one
    group and lands as one ``results.jsonl`` and manifest for the whole input; every part must have been
    created (only the submit operator creates parts waiting for a ``max_concurrent_jobs`` slot).

    :param job_ref: the job reference (dict, XComArg, or its rendered JSON/literal text).
    :param output_uri: results directory (a path or URI, as text, a ``Path`` or an ``ObjectStoragePath``);
        defaults to the one given at submit.
    :param deferrable: wait in the triggerer (default) instead of poking from a worker.
    :param poll_interval: seconds (or a ``timedelta``) between status polls, poked or deferred; Airflow's
        ``poke_interval`` given alone sets it.
    :param job_timeout: how long to wait before giving up (a ``timedelta`` or seconds); defaults to the sensor
        ``timeout``, and a shorter ``timeout`` or ``execution_timeout`` ends the wait sooner (in ``reschedule`` mode
        ``execution_timeout`` bounds each poke, and a poke over it fails its try without cancelling the job). With
        ``soft_fail``, only a timeout skips the task.
    :param cancel_on_kill: cancel the remote job when this waiting task is marked failed or success (a cleared
        task keeps it: its next try waits on it).
    :param cancel_on_timeout: cancel the remote job when the wait times out.
    :param max_failed_ratio: the share of rows that may fail before the task fails.
    :param max_poll_failures: consecutive failed status polls (each retried by the hook) before giving up.
    :param land_table_results: for a job that wrote its output to a table (a ``bq://`` destination), read
        the rows back and land them in ``results.jsonl`` as for any job; by default only the manifest is
        written, with ``results_uri`` None, the table in ``output_location`` and the provider's counts
        (templated: a rendered ``"true"``/``"false"`` works).
    :param batch_prices: USD per million tokens by model (``{model: {input, output, cached_input?, cache_write?}}``
        or its JSON), over the connection's ``batch_prices`` and the shipped table, for the manifest's cost
        (templated).
    """

    template_fields = ("job_ref", "output_uri", "land_table_results", "batch_prices")
    operator_extra_links = (GenAIBatchJobLink(),)
    ui_color = "#e8f0fe"

    def __init__(
        self,
        *,
        job_ref: Any,
        output_uri: str | PurePath | ObjectStoragePath | None = None,
        deferrable: bool = True,
        poll_interval: float | timedelta = DEFAULT_POLL_INTERVAL,
        job_timeout: timedelta | float | None = None,
        cancel_on_kill: bool = True,
        cancel_on_timeout: bool = True,
        max_failed_ratio: float = 0.0,
        max_poll_failures: int = DEFAULT_MAX_POLL_FAILURES,
        land_table_results: bool | str = False,
        batch_prices: Any = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("poke_interval", poll_interval)
        super().__init__(**kwargs)
        self.job_ref = job_ref
        self.output_uri = as_location(output_uri)
        self.deferrable = deferrable
        self.poll_interval = self._poll_every(poll_interval)
        self.job_timeout = as_timedelta(
            "job_timeout", timedelta(seconds=self.timeout) if job_timeout is None else job_timeout
        )
        self.timeout = min(self.timeout, self.job_timeout.total_seconds())  # bounds the wait, poked or deferred
        self.cancel_on_kill = cancel_on_kill
        self.cancel_on_timeout = cancel_on_timeout
        self.max_failed_ratio = as_ratio("max_failed_ratio", max_failed_ratio)
        self.max_poll_failures = as_count("max_poll_failures", max_poll_failures)
        self.land_table_results = land_table_results
        self.batch_prices = batch_prices
        self._poke_poll: PollState | GroupPollState | None = None
        self._poke_deadline: float | None = None
        """When a poking sensor's ``timeout`` ends its wait (unix seconds), set as it starts poking."""
        self._next_poll_in = 0.0
        """How long the last poll asked to wait before the next: the provider's ``Retry-After`` when longer than the
        interval."""

    def _poll_every(self, poll_interval: float | timedelta) -> float:
        """Seconds between polls, poked or deferred: ``poll_interval``, or Airflow's ``poke_interval`` when only that
        was given (the deferred wait polled every default ``poll_interval`` instead); both, differing, are refused."""
        given = as_interval("poll_interval", poll_interval)
        if given == self.poke_interval:
            return given
        if given == DEFAULT_POLL_INTERVAL:
            return as_interval("poke_interval", self.poke_interval)
        raise ValueError(
            f"poll_interval ({given:g} s) and poke_interval ({self.poke_interval:g} s) differ: give one of them (the "
            "sensor polls every poll_interval whether it pokes or waits deferred)"
        )

    def execute(self, context: Any) -> Any:
        if isinstance(self.job_ref, Sequence) and not isinstance(self.job_ref, str | bytes):
            raise GenAIBatchError(
                f"job_ref holds {len(self.job_ref)} job references (a mapped task's output), and one sensor waits on "
                "one job reference: map the sensor over them, GenAIBatchSensor.partial(...).expand(job_ref="
                "submit.output)"
            )
        _check_not_an_output_without_a_job(self.job_ref)
        ref = BatchJobRef.parse(self.job_ref)
        waiting = [part.index for part in ref.parts or () if part.waiting]
        if waiting:
            raise GenAIBatchError(
                f"{group_label(ref)}: parts {waiting} were never created, and a sensor cannot create them; "
                "wait in the submit operator (wait_for_completion=True) when max_concurrent_jobs holds parts back"
            )
        as_bool("land_table_results", self.land_table_results)  # a bad switch fails now, not once the job ends
        price_table(ref.provider, self.batch_prices)  # bad prices fail now, not once the job ends
        # and so does an output_uri that is missing, names no place every worker reaches or another map index's
        claim_output_dir(context, self.results_uri(ref))
        context["ti"].xcom_push(key=JOB_REF_XCOM_KEY, value=ref.to_xcom())
        return self._wait(context, ref)

    def _wait(self, context: Any, ref: BatchJobRef) -> Any:
        """Wait on ``ref``, deferred or poking, and land it once it has ended."""
        if self.deferrable:
            return self.wait_for(context, ref)
        if not (self.reschedule and context.get("task_reschedule_count", 0)):  # once, not at every rescheduled poke
            self.log_pages(ref, self._hook_for(ref))
        started = time.monotonic()
        self._poke_deadline = time.time() + self.timeout - self._waited(context, started)
        # a rescheduled sensor's execution_timeout bounds each poke, not the wait: one poke over it fails that try only
        ends_wait = nullcontext() if self.reschedule else self._cancelled_on_execution_timeout(ref)
        try:
            with ends_wait:
                return self.or_landed_before(context, ref, partial(super().execute, context))
        except AirflowSensorTimeout:
            last = self._poke_poll.last_failure if self._poke_poll is not None else None
            detail = f"the last poll failed: {last}" if last else None
            return self._timed_out(context, ref, self._hook_for(ref), detail)  # lands a job the cancel found ended
        except AirflowSkipException as skip:
            # soft_fail skips on the sensor's timeout, and on an execution_timeout that went off within a poke
            timed_out = (
                isinstance(skip.__cause__, AirflowTaskTimeout | AirflowSensorTimeout)
                or self._waited(context, started) >= self.timeout
            )
            if timed_out and self.cancel_on_timeout:
                self.log.info("sensor timed out (soft_fail): cancelling %s", group_label(ref))
                self.cancel(ref, on_failure="the task is still skipped (soft_fail)")
            raise

    def gone_advice(self) -> str:
        """What to do once the job is gone at the provider with nothing of it landed: clear the submit with this task
        (a sensor cannot submit)."""
        return (
            "Clear the submit task with this one: it submits the input again (or reads back the answers it finds "
            "landed), and this task waits on what it hands over"
        )

    def resubmit_advice(self) -> str:
        """What to do once an ended job's results are gone at the provider with none of them landed: a new job from
        the submit (a sensor cannot submit)."""
        return (
            "set force_resubmit=True on the submit task and clear it with this one: it runs the input again as a new "
            "job (billed again), and this task waits on it"
        )

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Any) -> Any:
        """Resume after the trigger; with ``soft_fail``, skip only on a timeout, as a poking sensor does.

        Airflow's deferred sensor skips on any error once ``soft_fail`` is set, so a failed job (or a landing that
        failed) was skipped when deferred where poking failed the task; it is turned off for the resume here.
        """
        if not self.soft_fail:
            return super().resume_execution(next_method, next_kwargs, context)
        self.soft_fail = False
        try:
            return super().resume_execution(next_method, next_kwargs, context)
        except SOFT_FAILURES as timeout:
            raise AirflowSkipException("Skipping due to soft_fail is set to True.") from timeout
        finally:
            self.soft_fail = True

    def _wait_limits(self) -> dict[str, timedelta]:
        """The sensor's own ``timeout`` bounds a deferred wait too, as it bounds the poke loop; a rescheduled sensor's
        ``execution_timeout`` bounds each poke (each a run of its own), not the wait."""
        limits = {**super()._wait_limits(), "timeout": timedelta(seconds=self.timeout)}
        if self.reschedule and not self.deferrable:
            limits.pop("execution_timeout", None)
        return limits

    def _waited(self, context: Any, started: float) -> float:
        """Seconds this sensor has waited, as ``BaseSensorOperator`` counts them against ``timeout``: since its
        first poke when rescheduled (each try of a ``reschedule`` sensor starts anew), else since ``started``
        (``time.monotonic``)."""
        if self.reschedule:
            first: datetime | None = context["ti"].get_first_reschedule_date(context)
            if first is not None:
                return (datetime.now(timezone.utc) - first).total_seconds()
        return time.monotonic() - started

    def poke(self, context: Any) -> bool | PokeReturnValue:
        """One status check (non-deferrable mode); lands the results once the job has ended.

        Failed polls in a row are counted across pokes; the sensor's own ``timeout`` bounds the wait, and so the
        retries of a failing poll; the next poke comes no sooner than a throttled poll was asked to wait.
        """
        ref = BatchJobRef.parse(self.job_ref)
        self.watch(context, ref)
        hook = self._hook_for(ref)
        if ref.is_group:
            if not isinstance(self._poke_poll, GroupPollState) or self._poke_poll.ref != ref:
                self._poke_poll = self.group_poll(ref, hook, self._poke_deadline)
                self._recall_failures(context, self._poke_poll.polls)
            group = self.poll_group_once(hook, self._poke_poll)
            self._keep_failures(context, self._poke_poll.polls)
            if group.verdict is Verdict.WAIT:
                self._next_poll_in = group.delay
                return False
            if group.verdict is Verdict.TIMEOUT:
                self._poke_timed_out(group.message)
            return PokeReturnValue(is_done=True, xcom_value=self.conclude_group(context, ref, hook, group))
        if not isinstance(self._poke_poll, PollState) or self._poke_poll.job_name != ref.job_name:
            self._poke_poll = PollState(
                ref.job_name,
                interval=self.poke_interval,
                deadline=self._poke_deadline,
                max_failures=self.max_poll_failures,
            )
            self._recall_failures(context, {ref.job_name: self._poke_poll})
        decision = self.poll_once(hook, self._poke_poll)
        self._keep_failures(context, {ref.job_name: self._poke_poll})
        if decision.verdict is Verdict.WAIT:
            self._next_poll_in = decision.delay
            return False
        if decision.verdict is Verdict.TIMEOUT:
            self._poke_timed_out(decision.message)
        return PokeReturnValue(is_done=True, xcom_value=self.conclude(context, ref, hook, decision))

    def _poke_timed_out(self, message: str | None) -> NoReturn:
        """End a wait whose poll found the sensor's ``timeout`` passed, as Airflow's own check after the poke would:
        a sensor timeout, or with ``soft_fail`` a skip (caused by that timeout)."""
        timeout = AirflowSensorTimeout(f"Sensor has timed out: {message}")
        if self.soft_fail:
            raise AirflowSkipException(str(timeout)) from timeout
        raise timeout

    def _get_next_poke_interval(
        self, started_at: datetime | float, run_duration: Callable[[], float], poke_count: int
    ) -> float:
        """Airflow's wait before the next poke, or what the last poll was asked to wait when longer (a throttled
        poll's ``Retry-After``: a poke sooner is refused again, and counted as a failed poll); never past the sensor's
        ``timeout``, whose poke then ends the wait."""
        wait = max(super()._get_next_poke_interval(started_at, run_duration, poke_count), self._next_poll_in)
        return wait if self._poke_deadline is None else max(0.0, min(wait, self._poke_deadline - time.time()))

    def _recall_failures(self, context: Any, polls: Mapping[str, PollState]) -> None:
        """In ``reschedule`` mode, each poke is a new task instance run: the failed polls in a row that the earlier
        pokes counted, kept in the task state store (Airflow 3.3+), go on counting (else none ever reached
        ``max_poll_failures``)."""
        store = context.get("task_state_store") if self.reschedule else None
        kept = store.get(POLL_FAILURES_KEY) if store is not None else None
        for name, (failures, last) in (kept or {}).items():
            if name in polls:
                polls[name].failures, polls[name].last_failure = failures, last

    def _keep_failures(self, context: Any, polls: Mapping[str, PollState]) -> None:
        """Keep, for the next ``reschedule`` poke, each job's failed polls in a row (only when they changed)."""
        store = context.get("task_state_store") if self.reschedule else None
        if store is None:
            return
        failures = {name: [poll.failures, poll.last_failure] for name, poll in polls.items() if poll.failures}
        if failures != (store.get(POLL_FAILURES_KEY) or {}):
            store.set(POLL_FAILURES_KEY, failures)


def _check_not_an_output_without_a_job(value: Any) -> None:
    """Refuse, saying what it is, a submit's output that names no job to wait on: nothing (the submit returned none),
    the results manifest of a submit that waited, or a dry run's plan (either was read as a job reference from a newer
    version, with fields it lacks)."""
    if value is None or (isinstance(value, str) and value.strip() in ("", "None")):
        raise GenAIBatchError(
            f"job_ref is {value!r}: the task it comes from returned no job reference (it was marked success before it "
            "returned one, or it returns none). If it is the submit, clear that task: it re-attaches to the jobs it "
            "created and hands their reference over; then this one waits on them"
        )
    output = rendered_mapping(value)
    if output is None or "job_name" in output:
        return
    if "job_ref" in output and "manifest_uri" in output:
        job = rendered_mapping(output["job_ref"]) or {}
        raise GenAIBatchError(
            f"job_ref is the results manifest of {job.get('job_name')}, whose results already landed at "
            f"{output.get('results_uri') or output.get('output_location')}: the task that returned it waited for the "
            "job and landed it (a submit with wait_for_completion=True). Give the sensor the output of a submit with "
            "wait_for_completion=False, or read the results where they landed"
        )
    if "errors_total" in output and "requests" in output:
        raise GenAIBatchError(
            "job_ref is the plan of a dry run (a submit with dry_run=True), which created no job to wait on: turn "
            "dry_run off to submit the input"
        )
