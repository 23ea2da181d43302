"""Waiting for a job and finishing it, shared by the submit operator and the results sensor.

Deferrable by default (the trigger polls; the task passes an explicit ``timeout`` to ``defer``
because ``execution_timeout`` is not enforced while deferred), or a blocking poll on the worker.
Finishing lands the results (for a job that wrote to a table, only its manifest and counts unless
``land_table_results``), fails the task on a failed/expired/cancelled job or on too many failed
rows, sets Asset event extras (once per job and results: see :mod:`.asset_events`), and returns the
manifest as XCom. Every cancel goes through :mod:`.cancel`: a job already ending is a successful cancel.

A reference with parts (a split input, follow-up rounds) is waited on as a group: one trigger (or one
blocking poll) for all its parts. When parts wait for a free slot the task creates them
(:meth:`BatchCompletionMixin.create_waiting_parts`, which only the submit operator can do) and waits
again; when every part has ended the group lands as one ``results.jsonl`` and manifest (``land_group``),
and the submit may send a follow-up round (:meth:`BatchCompletionMixin.follow_up`), waited on in turn.
Timeout, kill and cancel act on every created part.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import partial
from pathlib import PurePath
from typing import Any, TypeVar

from airflow.sdk import ObjectStoragePath
from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR, TriggerFailureReason
from airflow.sdk.exceptions import AirflowTaskTimeout

from airflow_provider_genai_batch.asset_events import announce_once
from airflow_provider_genai_batch.cancel import CANCEL_ERRORS, CancelOutcome, cancel_job, cancel_jobs
from airflow_provider_genai_batch.consoles import job_page
from airflow_provider_genai_batch.earlier_results import holds_results_of, landed_by_another, landed_manifest, set_aside
from airflow_provider_genai_batch.errors import (
    GenAIBatchError,
    JobFailedError,
    JobTimeoutError,
    ProviderAPIError,
    ResultsGoneError,
)
from airflow_provider_genai_batch.group_landing import check_rounds_keys, land_group
from airflow_provider_genai_batch.hooks.base import BatchHook
from airflow_provider_genai_batch.hooks.registry import hook_class_for_provider
from airflow_provider_genai_batch.hooks.retry import is_transient_error
from airflow_provider_genai_batch.hooks.status_poll import gone_at, poll_job
from airflow_provider_genai_batch.job_ref import BatchJobRef, recall
from airflow_provider_genai_batch.kill_reason import TaskInstanceKey, read_kill_reason
from airflow_provider_genai_batch.landing import (
    KEYS_FILE,
    check_keys_file,
    check_output_uri,
    land_counts,
    land_results,
    output_dir,
    redacted_job,
    redacted_row,
    writes_table,
)
from airflow_provider_genai_batch.links import job_to_show
from airflow_provider_genai_batch.models import BatchJob, JobState, ResultsManifest
from airflow_provider_genai_batch.polling import (
    Decision,
    GroupDecision,
    GroupPollState,
    PollState,
    Verdict,
    group_label,
)
from airflow_provider_genai_batch.prices import PriceTable, parse_overrides, price_table
from airflow_provider_genai_batch.triggers.batch_job import GenAIBatchJobTrigger
from airflow_provider_genai_batch.usage import UsageTally, summary_line, unreadable_line, usage_and_cost

DEFER_GRACE = timedelta(minutes=5)

GONE_STATUSES = frozenset({403, 404})
"""How a provider answers for what it no longer has: 404, or Gemini's 403 for a file that may not exist (an output
file expired); a job that still reads tells the second from a key refused."""

_D = TypeVar("_D", Decision, GroupDecision)
"""A poll's decision: one job's, or a group's."""

_TRUE, _FALSE = frozenset({"true", "1", "yes", "on"}), frozenset({"false", "0", "no", "off", ""})


def as_bool(name: str, value: Any) -> bool:
    """A switch as rendered: a bool, or its text (``true``/``false``, ``1``/``0``, ``yes``/``no``, ``on``/``off``)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise GenAIBatchError(f"{name} must be true or false, got {value!r}")


def as_location(value: Any) -> Any:
    """A path given as an object (``pathlib.Path``, ``ObjectStoragePath``) as its text, which every later step
    reads (a URI keeps its protocol and connection: ``s3://conn@bucket/key``); anything else as it is."""
    if isinstance(value, PurePath | ObjectStoragePath):
        return str(value)
    return value


def as_timedelta(name: str, value: Any) -> timedelta:
    """A duration as the DAG gives it: a ``timedelta`` or a number of seconds (as a sensor's ``timeout`` is), not
    negative; anything else is refused when the task is built, not once a job was created and is waited on."""
    if isinstance(value, timedelta):
        duration = value
    elif isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        duration = timedelta(seconds=value)
    else:
        raise ValueError(f"{name} must be a timedelta or a number of seconds, got {value!r}")
    if duration < timedelta(0):
        raise ValueError(f"{name} must not be negative, got {value!r}")
    return duration


def as_interval(name: str, value: Any) -> float:
    """Seconds between polls as the DAG gives them (as :func:`as_timedelta`), more than 0: at 0 a wait would poll the
    provider in a tight loop, spending its rate limit and the triggerer's loop."""
    seconds = as_timedelta(name, value).total_seconds()
    if seconds <= 0:
        raise ValueError(f"{name} must be more than 0 seconds (0 polls the provider without a pause), got {value!r}")
    return seconds


def as_ratio(name: str, value: Any) -> float:
    """A share of rows as the DAG gives it: a number from 0 to 1 (``0.05`` is 5%); anything else is refused when
    the task is built, not once the job's results landed (a ``5`` meant as 5% would pass every job)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise ValueError(f"{name} must be a number from 0 to 1 (0.05 is 5%), got {value!r}")
    return float(value)


def as_count(name: str, value: Any) -> int:
    """A count as the DAG gives it: a whole number, 0 or more; anything else is refused when the task is built,
    not by the first failed poll."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a whole number, 0 or more, got {value!r}")
    return value


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
    shown_job_page: str | None = None
    """The console page of the part of a group this run saw worth looking at (:func:`~.links.job_to_show`), which
    the task's extra link shows after this run; None where the run saw no part (the link shows the ref's job)."""

    def _hook_for(self, ref: BatchJobRef) -> BatchHook[Any]:
        return hook_class_for_provider(ref.provider)(conn_id=ref.conn_id)

    def _wait_limits(self) -> dict[str, timedelta]:
        """What bounds a wait, by the parameter that sets it: ``job_timeout``, and ``execution_timeout`` when set."""
        limits = {"job_timeout": self.job_timeout}
        execution_timeout = getattr(self, "execution_timeout", None)
        if execution_timeout is not None:
            limits["execution_timeout"] = execution_timeout
        return limits

    def _budget(self) -> tuple[str, timedelta]:
        """The limit that ends a wait first: its parameter's name and its length."""
        return min(self._wait_limits().items(), key=lambda limit: limit[1])

    def _within(self) -> str:
        """How long the wait was given, as a timeout error says it (naming a limit shorter than ``job_timeout``)."""
        name, budget = self._budget()
        if budget < self.job_timeout:
            return f"{budget} (its {name}, shorter than job_timeout {self.job_timeout})"
        return str(self.job_timeout)

    def _deadline(self) -> float:
        """Absolute deadline: ``job_timeout`` from now, or sooner if a shorter limit (:meth:`_wait_limits`) says so."""
        return time.time() + self._budget()[1].total_seconds()

    def wait_for(
        self, context: Any, ref: BatchJobRef, deadline: float | None = None, earlier: BatchJobRef | None = None
    ) -> dict[str, Any]:
        """Defer, or poll on this worker, until the job (every part of a group) ends; then finish it.

        ``deadline`` (unix seconds) keeps a group's deadline while the task comes back to create waiting parts;
        by default it is ``job_timeout`` (or a shorter limit: :meth:`_wait_limits`) from now. ``earlier`` is the ref
        this try waited on before (a resumed task waiting again): its parts' console pages are not logged again.
        """
        return self.or_landed_before(context, ref, partial(self._wait_on, context, ref, deadline, earlier))

    def _wait_on(
        self, context: Any, ref: BatchJobRef, deadline: float | None, earlier: BatchJobRef | None
    ) -> dict[str, Any]:
        """:meth:`wait_for`, with a provider's answer that something is gone raised as it came."""
        hook = self._hook_for(ref)
        deadline = self._deadline() if deadline is None else deadline
        if ref.is_group:
            logged = {part.job_name for part in (earlier.parts or ()) if part.job_name} if earlier else set()
            return self._wait_for_group(context, ref, hook, deadline, logged)
        poll = PollState(
            ref.job_name,
            interval=self.poll_interval,
            deadline=deadline,
            max_failures=self.max_poll_failures,
            prices=self._running_prices(ref, hook),
        )
        decision = self._settle(context, ref, deadline, partial(self.poll_once, hook, poll))
        return self.conclude(context, ref, hook, decision)

    def or_landed_before(self, context: Any, ref: BatchJobRef, wait: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """``wait`` (a wait on ``ref`` and its landing), or, when the provider answers a read of a job or of its results
        that it no longer has them (:func:`_says_gone`), what :meth:`landed_before` makes of that."""
        try:
            return wait()
        except ProviderAPIError as err:
            if not _says_gone(err):
                raise
            return self.landed_before(context, ref, err, err.job_name)

    def landed_before(
        self, context: Any, ref: BatchJobRef, err: GenAIBatchError, named: str | None = None
    ) -> dict[str, Any]:
        """After a 404 (or 403) while waiting on or landing ``ref`` (``err``, what the wait ends with otherwise): the
        results this task landed for it before, judged and returned as they are, when its job (a part of a group) is
        gone at the provider (deleted, or aged out) or, the job still readable, its results can no longer be read
        there (an output file expired); else, for a job gone, an error saying what is gone and what to clear, and
        otherwise ``err`` as it came. Nothing landed is written over: a landing cut short leaves the earlier whole.

        Which job is gone is asked of ``named`` first (the job whose poll was answered 404, where known), then of
        the others in plan order, stopping at the first gone: a part deleted from a large group costs one read, not
        one per part."""
        hook = self._hook_for(ref)
        try:
            gone = _first_gone(hook, ref.job_names(), named)
        except GenAIBatchError:
            raise err from None  # the job cannot be read either (a key refused): nothing here says what is gone
        directory = self._results_dir(ref)
        landed = landed_manifest(directory)
        subject = f"{ref.provider} job {ref.job_name}" if ref.parts is None else f"{ref.provider} {group_label(ref)}"
        what = subject if ref.parts is None else f"{subject}: {gone}"
        if landed is not None and holds_results_of(landed, ref, directory):
            if gone:
                self.log.warning(  # type: ignore[attr-defined]
                    "%s is gone at the provider (deleted, or aged out), and its results landed in %s before: "
                    "returning them as they are",
                    what,
                    directory,
                )
            else:
                self.log.warning(  # type: ignore[attr-defined]
                    "%s: its results can no longer be read at the provider (%s), and those it landed in %s before are "
                    "returned as they are",
                    subject,
                    err,
                    directory,
                )
            return self._landed(context, ref, landed, None)
        if not gone and isinstance(err, ResultsGoneError):
            raise GenAIBatchError(
                f"{subject} ended, and its results can no longer be read at the provider ({err}): they expired or were "
                f"deleted there, and none of them landed in {directory}. They cannot be read again: "
                f"{self.resubmit_advice()}"
            ) from err.__cause__ or err
        if not gone:
            raise err
        raise GenAIBatchError(
            f"{what} is gone at the provider (deleted, or aged out), and no results of it landed in {directory}: "
            f"there is nothing left to wait on or land. {self.gone_advice()}"
        ) from err

    def gone_advice(self) -> str:
        """What to do once the job is gone at the provider with nothing of it landed: clear this task, which submits
        the input again."""
        return "Clear this task: it submits the input again (or reads back the answers it finds landed)"

    def resubmit_advice(self) -> str:
        """What to do once an ended job's results are gone at the provider with none of them landed: the job is found
        again on a clear and its results read again, so only a new job answers the input."""
        return "set force_resubmit=True on this task and clear it: it runs the input again as a new job (billed again)"

    def _wait_for_group(
        self, context: Any, ref: BatchJobRef, hook: BatchHook[Any], deadline: float, logged: set[str]
    ) -> dict[str, Any]:
        """Wait on every part of a group, creating waiting parts whenever a slot frees, until the group ends; each
        part's console page is logged once, unless in ``logged`` already."""
        while True:
            logged |= self.log_pages(ref, hook, logged)
            poll = self.group_poll(ref, hook, deadline)
            decision = self._settle(context, ref, deadline, partial(self.poll_group_once, hook, poll))
            if decision.verdict is not Verdict.READY:
                return self.conclude_group(context, ref, hook, decision, deadline)
            ref = self._create_waiting(context, ref)

    def _settle(self, context: Any, ref: BatchJobRef, deadline: float, poll: Callable[[], _D]) -> _D:
        """``poll`` until its verdict is no longer WAIT: deferred to the trigger after the first poll when
        ``deferrable``, else sleeping on this worker, where ``execution_timeout`` cancels as the deadline would."""
        decision = poll()
        if decision.verdict is Verdict.WAIT and self.deferrable:
            self._defer(ref, deadline, batch_prices=self._trigger_prices())
        self.watch(context, ref)
        with self._cancelled_on_execution_timeout(ref):
            while decision.verdict is Verdict.WAIT:
                time.sleep(decision.delay)
                decision = poll()
        self._polling_ref = None
        return decision

    @contextmanager
    def _cancelled_on_execution_timeout(self, ref: BatchJobRef) -> Iterator[None]:
        """While this worker polls ``ref``: Airflow's ``execution_timeout`` ends the wait as its deadline would, so the
        job (every created part) is cancelled with ``cancel_on_timeout`` before the timeout fails the task.

        Airflow raises the timeout here, then calls ``on_kill``, which reads a running task instance and keeps the job.
        """
        try:
            yield
        except AirflowTaskTimeout:
            self._polling_ref = None
            if self.cancel_on_timeout:
                self.log.warning("execution_timeout passed while waiting: cancelling %s", group_label(ref))  # type: ignore[attr-defined]
                self.cancel(ref, on_failure="the task still fails as timed out")
            raise

    def _defer(self, ref: BatchJobRef, deadline: float, batch_prices: dict[str, Any] | None = None) -> None:
        self.defer(  # type: ignore[attr-defined]
            trigger=GenAIBatchJobTrigger(
                job_ref=ref.to_xcom(),
                poll_interval=self.poll_interval,
                deadline=deadline,
                cancel_on_kill=self.cancel_on_kill,
                max_poll_failures=self.max_poll_failures,
                batch_prices=batch_prices,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=deadline - time.time()) + DEFER_GRACE,
        )

    def _trigger_prices(self) -> dict[str, Any] | None:
        """The operator's ``batch_prices`` as JSON for the trigger's running cost; None when none were given."""
        overrides = parse_overrides(self.batch_prices, "the operator's batch_prices")
        return {model: price.model_dump(mode="json", exclude_none=True) for model, price in overrides.items()} or None

    def _prices(self, ref: BatchJobRef, hook: BatchHook[Any]) -> PriceTable:
        return price_table(ref.provider, self.batch_prices, hook.settings.batch_prices)

    def _running_prices(self, ref: BatchJobRef, hook: BatchHook[Any]) -> PriceTable | None:
        """The prices the progress line's running cost is estimated at (:meth:`_prices`). The cost only adds to that
        line, so a connection that cannot be read now leaves it out (with a warning) rather than fail the wait: the
        poll counts the unreadable connection as a failed poll."""
        try:
            return self._prices(ref, hook)
        except Exception as err:
            self.log.warning("no running cost in the progress log: %s", err)  # type: ignore[attr-defined]
            return None

    def group_poll(self, ref: BatchJobRef, hook: BatchHook[Any], deadline: float | None) -> GroupPollState:
        """A new wait on the group ``ref`` from this worker."""
        return GroupPollState(
            ref,
            interval=self.poll_interval,
            deadline=deadline,
            max_failures=self.max_poll_failures,
            prices=self._running_prices(ref, hook),
        )

    def show_part(self, ref: BatchJobRef, hook: BatchHook[Any], states: Mapping[str, JobState]) -> None:
        """Point the task's extra link at the part of the group ``ref`` worth looking at given ``states`` (each part's
        last seen state); a page that cannot be worked out now (the connection unreadable) leaves the link as it was."""
        if not ref.is_group:
            return
        try:
            self.shown_job_page = job_page(hook, job_to_show(ref, states))
        except Exception as err:
            self.log.warning("the extra link is left as it was: %s", err)  # type: ignore[attr-defined]

    def log_pages(self, ref: BatchJobRef, hook: BatchHook[Any], logged: Collection[str] = ()) -> set[str]:
        """Log the console page of every created part of the group ``ref`` not in ``logged`` (the task's one extra
        link shows one of them); returns the jobs it logged. Pages that cannot be worked out now are not logged."""
        done: set[str] = set()
        for part in ref.parts or ():
            if part.job_name is None or part.job_name in logged:
                continue
            try:
                page = job_page(hook, part.job_name)
            except Exception as err:
                self.log.warning("the parts' console pages are not logged: %s", err)  # type: ignore[attr-defined]
                break
            of_round = f" of round {part.round}" if part.round else ""
            self.log.info("part %d%s, job %s: %s", part.index, of_round, part.job_name, page)  # type: ignore[attr-defined]
            done.add(part.job_name)
        return done

    def watch(self, context: Any, ref: BatchJobRef) -> None:
        """Polling ``ref`` on this worker for this task instance, from now on: what ``on_kill`` acts on."""
        self._polling_ref = ref
        self._polling_ti = TaskInstanceKey.of(context["ti"])

    def poll_once(self, hook: BatchHook[Any], poll: PollState) -> Decision:
        """One status poll on this worker, judged by :class:`PollState`; a permanent error is raised as it is."""
        try:
            job = poll_job(hook, poll.job_name, poll.deadline)
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

    def poll_group_once(self, hook: BatchHook[Any], poll: GroupPollState) -> GroupDecision:
        """One status poll of every unfinished part on this worker, judged by :class:`GroupPollState`; a
        permanent error is raised as it is."""
        outcomes: dict[str, BatchJob | BaseException] = {}
        for name in poll.to_poll():
            try:
                outcomes[name] = poll_job(hook, name, poll.deadline)
            except Exception as err:
                outcomes[name] = err
        decision = poll.observed(outcomes, time.time())
        self.show_part(poll.ref, hook, {name: job.state for name, job in decision.jobs.items()})
        if decision.error is not None:
            raise decision.error
        if decision.progress:
            self.log.info("%s", decision.progress)  # type: ignore[attr-defined]
        if decision.message and decision.verdict is Verdict.WAIT:
            self.log.warning("%s", decision.message)  # type: ignore[attr-defined]
        return decision

    def conclude(self, context: Any, ref: BatchJobRef, hook: BatchHook[Any], decision: Decision) -> dict[str, Any]:
        """Act on a final decision: land a terminal job, time out (cancelling if asked), or fail."""
        if decision.verdict is Verdict.TERMINAL and decision.job is not None:
            return self.finish(context, ref, decision.job, hook)
        if decision.verdict is Verdict.TIMEOUT:
            return self._timed_out(context, ref, hook, decision.message)
        raise GenAIBatchError(f"waiting for {ref.job_name} failed: {decision.message}")

    def conclude_group(
        self,
        context: Any,
        ref: BatchJobRef,
        hook: BatchHook[Any],
        decision: GroupDecision,
        deadline: float | None = None,
    ) -> dict[str, Any]:
        """Act on a group's final decision: create waiting parts and wait again (keeping ``deadline``), land the
        ended group, time out (cancelling every created part if asked), or fail."""
        if decision.verdict is Verdict.READY:
            return self.wait_for(context, self._create_waiting(context, ref), deadline, earlier=ref)
        if decision.verdict is Verdict.TERMINAL:
            return self.finish_group(context, ref, hook, decision.jobs or None, deadline)
        if decision.verdict is Verdict.TIMEOUT:
            return self._timed_out(context, ref, hook, decision.message)
        raise GenAIBatchError(f"waiting for {group_label(ref)} failed: {decision.message}")

    def create_waiting_parts(self, context: Any, ref: BatchJobRef) -> BatchJobRef:
        """Create the parts of the group ``ref`` that wait for a slot (as many as ``max_concurrent_jobs`` lets
        run), remember the ref, and return it. Only the submit operator, which has the input, can."""
        waiting = [part.index for part in ref.parts or () if part.waiting]
        raise GenAIBatchError(
            f"{group_label(ref)}: parts {waiting} wait to be created, and only the submit operator creates parts "
            f"({type(self).__name__} cannot)"
        )

    def follow_up(self, context: Any, ref: BatchJobRef, manifest: ResultsManifest) -> BatchJobRef | None:
        """After ``ref``'s results landed (``manifest``): the ref to wait on next (a follow-up round), or None to
        finish. Only the submit operator sends follow-up rounds."""
        return None

    def _create_waiting(self, context: Any, ref: BatchJobRef) -> BatchJobRef:
        """:meth:`create_waiting_parts`, checked to have created a part (else the wait would come back at once)."""
        created = self.create_waiting_parts(context, ref)
        if len(created.job_names()) <= len(ref.job_names()):
            raise GenAIBatchError(f"{group_label(ref)}: a slot was free for a waiting part but none was created")
        return created

    def execute_complete(self, context: Any, event: dict[str, Any]) -> dict[str, Any]:
        """Resume after the trigger's one event: a wait the provider ended by answering that the job (a part of a
        group) is gone, and a landing that finds it (or its results) gone, end as :meth:`landed_before` says."""
        ref = BatchJobRef.parse(event["job_ref"])
        if event["status"] == Verdict.ERROR.value and event.get("http_status") in GONE_STATUSES:
            failed = GenAIBatchError(f"waiting for {group_label(ref)} failed: {event.get('message')}")
            return self.landed_before(context, ref, failed, event.get("job_name"))
        return self.or_landed_before(context, ref, partial(self._complete, context, ref, event))

    def _complete(self, context: Any, ref: BatchJobRef, event: dict[str, Any]) -> dict[str, Any]:
        """:meth:`execute_complete`, with a provider's answer that something is gone raised as it came."""
        hook = self._hook_for(ref)
        if ref.is_group:
            self.show_part(ref, hook, {name: JobState(state) for name, state in (event.get("states") or {}).items()})
            decision = GroupDecision(Verdict(event["status"]), message=event.get("message"))
            return self.conclude_group(context, ref, hook, decision, event.get("deadline"))
        if event["status"] == Verdict.TIMEOUT.value:
            return self._timed_out(context, ref, hook, event.get("message"))
        if event["status"] != Verdict.TERMINAL.value:
            raise GenAIBatchError(f"waiting for {ref.job_name} failed: {event.get('message')}")
        job = hook.get_batch(ref.job_name)
        if not job.state.is_terminal:  # a state seen going back: waited on again until the deadline, not landed
            self.log.warning(  # type: ignore[attr-defined]
                "%s was seen %s and reads as %s now: waiting on it again",
                ref.job_name,
                event.get("state"),
                job.provider_state or job.state.value,
            )
            return self.wait_for(context, ref, event.get("deadline"))
        return self.finish(context, ref, job, hook)

    def resume_execution(self, next_method: str, next_kwargs: dict[str, Any] | None, context: Any) -> Any:
        """Cancel the job (every created part of a group) when Airflow's own deferral timeout fires (a backstop
        behind the trigger deadline, when no triggerer reported in time).

        Decided from the resume signal itself, before the base class turns it into whichever exception
        the task's settings call for (sensors: a sensor timeout, or a skip with ``soft_fail``). A cancel that
        finds the job (every part) ended by itself lands it instead, as :meth:`_timed_out` does.
        """
        timed_out = next_method == TRIGGER_FAIL_REPR and (next_kwargs or {}).get("error") == (
            TriggerFailureReason.TRIGGER_TIMEOUT
        )
        if timed_out and self.cancel_on_timeout:
            ref = recall(context)
            if ref is not None:
                self.log.info("deferral timed out: cancelling %s", group_label(ref))  # type: ignore[attr-defined]
                if self.cancel(ref, on_failure="the task still fails as timed out"):
                    return self._finish_ended(context, ref, self._hook_for(ref))
        return super().resume_execution(next_method, next_kwargs, context)  # type: ignore[misc]

    def on_kill(self) -> None:
        """Killed while polling on the worker (non-deferrable): cancel the job (every created part of a group) if
        a user ended the task.

        A worker also kills a task that was cleared while it ran, or that it shuts down; its next try
        still waits on the job, so the task instance's state decides (see ``kill_reason``).
        """
        ref = self._polling_ref
        if ref is None or not self.cancel_on_kill:
            return
        label = group_label(ref)
        verdict = read_kill_reason(self._polling_ti)
        if not verdict.cancel:
            self.log.info("killed but %s: keeping %s", verdict.reason, label)  # type: ignore[attr-defined]
            return
        self.log.info("task killed (%s): cancelling %s", verdict.reason, label)  # type: ignore[attr-defined]
        self.cancel(ref)

    def cancel(self, ref: BatchJobRef, on_failure: str | None = None) -> bool:
        """Cancel the job (every created part of a group), logging what happened; a job already cancelling or
        ended is not an error. True when the cancel found the job (every part of a group) ended by itself.

        A cancel that fails is raised (for a group, once every part was tried), or, with ``on_failure`` (what
        the task does instead), logged as a warning.
        """
        if ref.is_group:
            return self._cancel_group(ref, on_failure)
        try:
            outcome = cancel_job(self._hook_for(ref), ref.job_name)
        except CANCEL_ERRORS as err:
            if on_failure is None:
                raise
            self.log.warning("cancelling %s failed (%s); %s", ref.job_name, err, on_failure)  # type: ignore[attr-defined]
            return False
        self.log.info("%s", outcome.describe())  # type: ignore[attr-defined]
        return _ended(outcome)

    def _cancel_group(self, ref: BatchJobRef, on_failure: str | None) -> bool:
        outcomes = cancel_jobs(self._hook_for(ref), ref.job_names())
        failures = [outcome for outcome in outcomes if outcome.failed is not None]
        for outcome in outcomes:
            if outcome.failed is None:
                self.log.info("%s", outcome.describe())  # type: ignore[attr-defined]
            elif on_failure is not None:
                self.log.warning("%s; %s", outcome.describe(), on_failure)  # type: ignore[attr-defined]
        if failures and on_failure is None:
            raise GenAIBatchError(
                f"cancelling {len(failures)} of the {len(outcomes)} jobs of {group_label(ref)} failed: "
                + "; ".join(outcome.describe() for outcome in failures)
            )
        return _all_ended(ref, outcomes)

    def _finish_ended(self, context: Any, ref: BatchJobRef, hook: BatchHook[Any]) -> dict[str, Any]:
        """Finish a job (every part of a group) that a cancel at its deadline found ended by itself: it finished
        after the last poll, so it is landed and judged as any ended job is, its results not left behind."""
        self.log.warning("%s ended as its deadline passed: landing it", group_label(ref))  # type: ignore[attr-defined]
        if ref.is_group:
            return self.finish_group(context, ref, hook)
        return self.finish(context, ref, hook.get_batch(ref.job_name), hook)

    def _timed_out(
        self, context: Any, ref: BatchJobRef, hook: BatchHook[Any], detail: str | None = None
    ) -> dict[str, Any]:
        """Raise JobTimeoutError naming the job (a group: its parts), after cancelling it (every created part)
        if asked to (a job already ending is fine).

        A cancel that finds the job (every part of a group) already ended by itself is finished instead
        (:meth:`_finish_ended`).
        """
        reason = f" ({detail})" if detail else ""
        if ref.is_group:
            cancelled = ""
            if self.cancel_on_timeout:
                outcomes = cancel_jobs(hook, ref.job_names())
                if _all_ended(ref, outcomes):
                    return self._finish_ended(context, ref, hook)
                cancelled = "; cancel_on_timeout=True: " + _cancelled(outcomes)
            raise JobTimeoutError(
                f"{ref.provider} {group_label(ref)} did not finish within {self._within()}{reason}{cancelled}"
            )
        cancelled = ""
        if self.cancel_on_timeout:
            try:
                outcome = cancel_job(hook, ref.job_name)
            except CANCEL_ERRORS as err:
                cancelled = f"; cancelling it failed: {err}"
            else:
                if _ended(outcome):
                    return self._finish_ended(context, ref, hook)
                if outcome.requested:
                    cancelled = "; the job was cancelled (cancel_on_timeout=True)"
                elif outcome.state in (JobState.CANCELLING, JobState.CANCELLED):  # an earlier cancel arrived
                    cancelled = f"; the job was cancelled (cancel_on_timeout=True; it is {outcome.state.value})"
                else:
                    cancelled = f"; {outcome.describe()}"
        raise JobTimeoutError(
            f"{ref.provider} job {ref.job_name} did not finish within {self._within()}{reason}{cancelled}"
        )

    def results_uri(self, ref: BatchJobRef) -> str:
        """Where ``ref``'s results land: this task's ``output_uri``, else the submit's; checked, so a task can
        refuse it before it waits (:func:`check_output_uri`)."""
        uri = self.output_uri or ref.output_uri
        if not uri:
            raise GenAIBatchError("no output_uri: set it on the sensor or on the submit operator")
        check_output_uri(uri)
        return uri

    def _results_dir(self, ref: BatchJobRef) -> ObjectStoragePath:
        return output_dir(self.results_uri(ref))

    def _landing_dir(self, ref: BatchJobRef) -> ObjectStoragePath:
        """The results directory, with results another job landed there moved aside (:func:`set_aside`): two runs
        or mapped task instances given one ``output_uri`` land one after the other, and nothing landed is lost.

        Keys another submit (or another task's follow-up round) replaced are refused first, with nothing moved; keys
        that are this job's stay in place.
        """
        directory = self._results_dir(ref)
        if landed_by_another(directory, ref.job_name):
            check_keys_file(ref)
            check_rounds_keys(ref)
            own_keys = ref.keys_uri == str(directory / KEYS_FILE)
            moved = set_aside(directory, keep_job=ref.job_name, keep_keys=own_keys)
            self.log.warning(  # type: ignore[attr-defined]
                "results another job landed in %s were moved to %s before %s lands there",
                directory,
                moved,
                ref.job_name,
            )
        return directory

    def finish(self, context: Any, ref: BatchJobRef, job: BatchJob, hook: BatchHook[Any]) -> dict[str, Any]:
        """Land the results, judge the job, emit Asset extras, and return the manifest (or, when :meth:`follow_up`
        sends a follow-up round, wait on it)."""
        directory = self._landing_dir(ref)
        job = redacted_job(job, hook.redact)
        prices = self._prices(ref, hook)
        if writes_table(job, ref) and not as_bool("land_table_results", self.land_table_results):
            manifest = land_counts(job, ref, directory)
        else:
            tally = UsageTally(ref.provider)
            redact = hook.redact  # once per landing: it reads the hook's secrets at each call
            rows = (row if row.error is None else redacted_row(row, redact) for row in hook.iter_results(job))
            with _reading_results():
                manifest = land_results(
                    tally.counted(rows),
                    job,
                    ref,
                    directory,
                    hook.dialect.provider_key,
                    account=lambda: usage_and_cost(job, tally, prices, hook.reported_usage(job), ref.model),
                )
        return self._landed(context, ref, manifest, job.create_time)

    def finish_group(
        self,
        context: Any,
        ref: BatchJobRef,
        hook: BatchHook[Any],
        jobs: Mapping[str, BatchJob] | None = None,
        deadline: float | None = None,
    ) -> dict[str, Any]:
        """Land a group whose parts all ended as one results file and manifest, then as :meth:`finish` does.

        ``jobs`` are the parts as the polls saw them end; without them every part is read again, and a part that
        reads as not ended (a state seen going back) has the group waited on again until ``deadline``, not landed.
        """
        if jobs is None:
            jobs = {name: hook.get_batch(name) for name in ref.job_names()}
            unended = {name: job.state.value for name, job in jobs.items() if not job.state.is_terminal}
            if unended:
                self.log.warning(  # type: ignore[attr-defined]
                    "%s: parts seen ended read as not ended now (%s): waiting on them again", group_label(ref), unended
                )
                return self.wait_for(context, ref, deadline, earlier=ref)
        directory = self._landing_dir(ref)
        self.show_part(ref, hook, {name: job.state for name, job in jobs.items()})
        with _reading_results():
            manifest = land_group(hook, ref, jobs, directory, self._prices(ref, hook))
        created = [job.create_time for job in jobs.values() if job.create_time is not None]
        return self._landed(context, ref, manifest, min(created, default=None))

    def _landed(
        self, context: Any, ref: BatchJobRef, manifest: ResultsManifest, created: datetime | None
    ) -> dict[str, Any]:
        """Log what landed; wait on a follow-up round if one is sent; else judge, announce once, return the manifest.

        ``created`` is when the first job was created (no Asset event for these results can be older).
        """
        subject = ref.job_name if ref.parts is None else group_label(ref)
        self.log.info(  # type: ignore[attr-defined]
            "%s %s: %s -> %s", ref.provider, subject, manifest.counts.model_dump(), _results_at(manifest)
        )
        spent = summary_line(manifest.usage, manifest.cost)
        if spent:
            self.log.info("%s %s: %s", ref.provider, subject, spent)  # type: ignore[attr-defined]
        unread = unreadable_line(manifest.usage)
        if unread:
            self.log.warning("%s %s: %s", ref.provider, subject, unread)  # type: ignore[attr-defined]
        follow = self.follow_up(context, ref, manifest)
        if follow is not None:
            return self.wait_for(context, follow, earlier=ref)
        _judge(manifest, self.max_failed_ratio)
        announce_once(self, context, manifest, created, self.log)  # type: ignore[attr-defined]
        return manifest.model_dump(mode="json")


def _first_gone(hook: BatchHook[Any], names: list[str], named: str | None) -> str | None:
    """The first of ``names`` the provider no longer has, asking of ``named`` first (where it is one of them) and of
    no job after the first found gone; None when every one still reads."""
    order = sorted(names, key=lambda name: name != named)  # stable: ``named`` first, then the others in plan order
    return next((name for name in order if gone_at(hook, name)), None)


def _says_gone(err: ProviderAPIError) -> bool:
    """Whether ``err`` may say that a job or its results are gone at the provider: a read answered 404 (or 403, as
    Gemini answers for a file that may not exist). A refused create, upload or cancel (a follow-up round's, a waiting
    part's) says nothing of the jobs waited on."""
    return err.http_status in GONE_STATUSES and err.method in (None, "GET")


@contextmanager
def _reading_results() -> Iterator[None]:
    """While a landing reads jobs' results: the provider answering that it no longer has them is raised as a
    :class:`ResultsGoneError` (what is gone is the results, the jobs having ended)."""
    try:
        yield
    except ProviderAPIError as answer:
        if answer.http_status not in GONE_STATUSES or isinstance(answer, ResultsGoneError):
            raise
        raise ResultsGoneError.of(answer) from answer


def _ended(outcome: CancelOutcome) -> bool:
    """Whether a cancel found its job ended by itself (not cancelled): results to land, or a failure to report."""
    return outcome.state is not None and outcome.state.is_terminal and outcome.state is not JobState.CANCELLED


def _all_ended(ref: BatchJobRef, outcomes: list[CancelOutcome]) -> bool:
    """Whether cancelling a group's parts found every part created and ended by itself."""
    return len(outcomes) == len(ref.parts or ()) and all(_ended(outcome) for outcome in outcomes)


def _cancelled(outcomes: list[CancelOutcome]) -> str:
    """What cancelling a group's parts did, in one clause per part."""
    return "; ".join(
        f"{outcome.job_name} was cancelled" if outcome.requested else outcome.describe() for outcome in outcomes
    )


def _judge(manifest: ResultsManifest, max_failed_ratio: float) -> None:
    counts = manifest.counts
    ref = manifest.job_ref
    subject = f"job {ref.job_name}" if ref.parts is None else group_label(ref)
    if not manifest.state.is_success:
        reason = manifest.error_message or manifest.provider_state or manifest.state.value
        raise JobFailedError(
            f"{ref.provider} {subject} ended {manifest.state.value}: {reason} (results so far: {_results_at(manifest)})"
        )
    if counts.failed_ratio > max_failed_ratio:
        raise JobFailedError(
            f"{ref.provider} {subject}: {counts.total - counts.succeeded} of {counts.total} rows did not "
            f"succeed ({counts.failed} failed, {counts.missing} missing, {counts.expired} expired, "
            f"{counts.cancelled} cancelled), over max_failed_ratio={max_failed_ratio}; see {_results_at(manifest)}"
        )


def _results_at(manifest: ResultsManifest) -> str | None:
    """Where the results are: the landed file, else where the provider wrote them (a table)."""
    return manifest.results_uri or manifest.output_location or manifest.job_ref.destination
