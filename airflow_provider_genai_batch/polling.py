"""The one decision about a status poll: keep waiting, the job ended, the deadline passed, or give up.

Sans-IO: the trigger (async), the blocking wait on a worker and the sensor's ``poke`` each fetch the
job their own way and hand the outcome here; what a terminal state, a transient error, too many
failures in a row or a deadline means is decided in this one place. A group of jobs (a split input,
follow-up rounds) is judged by :class:`GroupPollState`, one :class:`PollState` per part, which can also
say that parts wait to be created and a slot is free for them (``READY``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from airflow_provider_genai_batch.hooks.retry import is_transient_error
from airflow_provider_genai_batch.job_ref import BatchJobRef, PartRef
from airflow_provider_genai_batch.models import BatchJob
from airflow_provider_genai_batch.prices import PriceTable, estimate_cost
from airflow_provider_genai_batch.usage import reported_usage, running_cost

DEFAULT_MAX_POLL_FAILURES = 10
"""Consecutive failed polls (each already retried by the hook) before a wait gives up."""


class Verdict(str, enum.Enum):
    """What the poller should do next."""

    WAIT = "wait"
    TERMINAL = "terminal"
    TIMEOUT = "timeout"
    ERROR = "error"
    READY = "ready"
    """Groups only: parts wait to be created and fewer than ``max_concurrent_jobs`` created parts run."""


@dataclass(frozen=True)
class Decision:
    """The verdict on one poll; ``delay`` is how long to sleep before the next (WAIT only); ``error`` is the permanent
    error that ended the wait, when one did."""

    verdict: Verdict
    delay: float = 0.0
    message: str | None = None
    job: BatchJob | None = None
    progress: str | None = None
    error: BaseException | None = None


class PollState:
    """One wait on one job: its deadline, its run of consecutive failures, the last progress it logged."""

    def __init__(
        self,
        job_name: str,
        *,
        interval: float,
        deadline: float | None = None,
        max_failures: int = DEFAULT_MAX_POLL_FAILURES,
        prices: PriceTable | None = None,
    ) -> None:
        self.job_name = job_name
        self.prices = prices
        self.interval = interval
        self.deadline = deadline
        self.max_failures = max_failures
        self.failures = 0
        self.last_failure: str | None = None
        self._last_progress: tuple[str, int, int, int] | None = None

    def observed(self, job: BatchJob, now: float) -> Decision:
        """A poll that answered: terminal ends the wait; otherwise wait again, unless the deadline passed."""
        self.failures = 0
        self.last_failure = None
        progress = self._progress(job)
        if job.state.is_terminal:
            return Decision(Verdict.TERMINAL, job=job, progress=progress)
        if self._past_deadline(now):
            return Decision(Verdict.TIMEOUT, job=job, message=f"{self.job_name} did not finish before its deadline")
        return Decision(Verdict.WAIT, delay=self._delay(now), job=job, progress=progress)

    def failed(self, error: BaseException, now: float) -> Decision:
        """A poll that raised: a permanent error, or too many transient ones in a row, ends the wait."""
        if not is_transient_error(error):
            return Decision(Verdict.ERROR, message=f"polling {self.job_name} failed: {error}", error=error)
        self.failures += 1
        reason = f"{type(error).__name__}: {error}"
        self.last_failure = reason
        if self.failures >= self.max_failures:
            return Decision(
                Verdict.ERROR,
                message=f"polling {self.job_name} failed {self.failures} times in a row; last: {reason}",
            )
        if self._past_deadline(now):
            return Decision(
                Verdict.TIMEOUT,
                message=f"{self.job_name} did not finish before its deadline (the last poll failed: {reason})",
            )
        asked = _asked_to_wait(error)
        return Decision(
            Verdict.WAIT,
            delay=self._delay(now, asked),
            message=f"transient error polling {self.job_name}: {reason}"
            + (f" (the provider asked to wait {asked:g} s)" if asked > self.interval else ""),
        )

    def _past_deadline(self, now: float) -> bool:
        return self.deadline is not None and now >= self.deadline

    def _delay(self, now: float, asked: float = 0.0) -> float:
        """The interval, or what the provider asked to wait when longer; never past the deadline."""
        return _until(max(self.interval, asked), self.deadline, now)

    def _progress(self, job: BatchJob) -> str | None:
        """A line for the log when the job's state or counts changed since the last one, else None: counts, % done,
        and the tokens and cost so far where the job's status reports them (with ``prices``)."""
        key = (job.state.value, job.stats.succeeded, job.stats.failed, job.stats.pending)
        if key == self._last_progress:
            return None
        self._last_progress = key
        stats = job.stats
        answered = stats.succeeded + stats.failed
        done = 100 * answered // stats.total if stats.total else (100 if job.state.is_terminal else 0)
        line = (
            f"{self.job_name} is {job.provider_state or job.state.value}: {stats.succeeded}/{stats.total} "
            f"succeeded, {stats.failed} failed, {stats.pending} pending ({done}% done)"
        )
        cost = running_cost(job, self.prices) if self.prices is not None else None
        return f"{line}; {cost}" if cost else line


def _asked_to_wait(error: BaseException) -> float:
    """Seconds the provider asked to wait before the next call in a transient answer (``Retry-After``), else 0."""
    asked = getattr(error, "retry_after", None)
    return asked if isinstance(asked, int | float) else 0.0


def _until(delay: float, deadline: float | None, now: float) -> float:
    """``delay``, cut to end at ``deadline`` (None: no deadline)."""
    return delay if deadline is None else max(0.0, min(delay, deadline - now))


LABEL_NAMES = 10
"""How many of a group's job names a log line or an error lists before it says how many more there are."""


def group_label(ref: BatchJobRef) -> str:
    """How a log line or an error names a group: its size, its created jobs, and how many parts wait to be created
    or have a job gone at the provider (``PartRef.gone``) (``ref.job_name`` for one job)."""
    if ref.parts is None:
        return ref.job_name
    names = ref.job_names()
    shown = ", ".join(names[:LABEL_NAMES]) if names else "none created"
    more = f" and {len(names) - LABEL_NAMES} more" if len(names) > LABEL_NAMES else ""
    waiting = sum(1 for part in ref.parts if part.waiting)
    gone = sum(1 for part in ref.parts if part.gone is not None)
    later = f"; {waiting} not created yet" if waiting else ""
    lost = f"; {gone} gone at the provider" if gone else ""
    return f"group of {len(ref.parts)} parts ({shown}{more}{later}{lost})"


@dataclass(frozen=True)
class GroupDecision:
    """The verdict on one poll of a group's unfinished parts.

    ``jobs`` is every created part's job as last seen (what the wait lands, or acts on); ``error`` is the
    permanent error that ended the wait, when one did (a worker raises it as it came).
    """

    verdict: Verdict
    delay: float = 0.0
    message: str | None = None
    progress: str | None = None
    jobs: Mapping[str, BatchJob] = field(default_factory=dict)
    error: BaseException | None = None

    @property
    def states(self) -> dict[str, str]:
        """Each created part's last seen state, by job name (the trigger event's ``states``)."""
        return {name: job.state.value for name, job in self.jobs.items()}


class GroupPollState:
    """One wait on a group of jobs: a :class:`PollState` per created part, the group's deadline and progress.

    Each round the poller fetches the parts :meth:`to_poll` names (created, not ended: a part that ended
    is never polled again) and hands every outcome, a job or an exception, to :meth:`observed`. A permanent
    error or too many transient ones in a row on any part ends the wait (``ERROR``); every part created and
    ended ends it (``TERMINAL``); the deadline ends it (``TIMEOUT``); parts waiting to be created with a
    slot free under ``max_concurrent_jobs`` hand it back to the task to create them (``READY``).
    """

    def __init__(
        self,
        ref: BatchJobRef,
        *,
        interval: float,
        deadline: float | None = None,
        max_failures: int = DEFAULT_MAX_POLL_FAILURES,
        prices: PriceTable | None = None,
    ) -> None:
        if ref.parts is None:
            raise ValueError(f"{ref.job_name} is one job, not a group: wait on it with PollState")
        self.ref = ref
        self.parts: tuple[PartRef, ...] = ref.parts
        self.interval = interval
        self.deadline = deadline
        self.prices = prices
        self.polls = {
            part.job_name: PollState(part.job_name, interval=interval, max_failures=max_failures)
            for part in self.parts
            if part.job_name is not None
        }
        self.jobs: dict[str, BatchJob] = {}
        self._last_progress: tuple[object, ...] | None = None

    def to_poll(self) -> list[str]:
        """The created parts not seen ended yet, in plan order."""
        return [name for name in self.polls if not self._ended(name)]

    @property
    def last_failure(self) -> str | None:
        """The failures of the last polls that failed, per part, for a timeout message; None when none did."""
        failures = [f"{name}: {poll.last_failure}" for name, poll in self.polls.items() if poll.last_failure]
        return "; ".join(failures) or None

    def observed(self, outcomes: Mapping[str, BatchJob | BaseException], now: float) -> GroupDecision:
        """Judge one round of polls: ``outcomes`` holds, per part polled, its job or the exception its poll raised."""
        transient: list[str] = []
        asked = 0.0
        for name, outcome in outcomes.items():
            poll = self.polls[name]
            if isinstance(outcome, BaseException):
                asked = max(asked, _asked_to_wait(outcome))
                decision = poll.failed(outcome, now)
                if decision.verdict is Verdict.ERROR:
                    return GroupDecision(
                        Verdict.ERROR,
                        message=f"{group_label(self.ref)}: {decision.message}",
                        jobs=dict(self.jobs),
                        error=None if is_transient_error(outcome) else outcome,
                    )
                if decision.message:
                    transient.append(decision.message)
            else:
                poll.observed(outcome, now)
                self.jobs[name] = outcome
        progress = self._progress()
        running = self.to_poll()
        waiting = [part for part in self.parts if part.waiting]
        if not running and not waiting:
            return GroupDecision(Verdict.TERMINAL, progress=progress, jobs=dict(self.jobs))
        if self.deadline is not None and now >= self.deadline:
            return GroupDecision(
                Verdict.TIMEOUT,
                message=self._timeout_message(running, waiting),
                progress=progress,
                jobs=dict(self.jobs),
            )
        cap = self.ref.max_concurrent_jobs
        if waiting and (cap is None or len(running) < cap):
            return GroupDecision(Verdict.READY, progress=progress, jobs=dict(self.jobs))
        delay = _until(max(self.interval, asked), self.deadline, now)  # a rate limit holds for the whole connection
        return GroupDecision(
            Verdict.WAIT, delay=delay, message="; ".join(transient) or None, progress=progress, jobs=dict(self.jobs)
        )

    def _ended(self, name: str) -> bool:
        job = self.jobs.get(name)
        return job is not None and job.state.is_terminal

    def _timeout_message(self, running: list[str], waiting: list[PartRef]) -> str:
        parts = []
        if running:
            parts.append(f"{len(running)} still running ({', '.join(running)})")
        if waiting:
            parts.append(f"{len(waiting)} not created (parts {', '.join(str(p.index) for p in waiting)})")
        failed = self.last_failure
        last = f" (the last polls failed: {failed})" if failed else ""
        return f"{group_label(self.ref)} did not finish before its deadline: {', '.join(parts)}{last}"

    def _progress(self) -> str | None:
        """The group's line for the log when any part's state or counts changed since the last one, else None.

        Rows are counted over the whole input (the round-0 parts): a row answered in a later round counts
        once, as its latest answer; ``failed`` is every row answered without success.
        """
        key: tuple[object, ...] = tuple((name, job.state, job.stats) for name, job in self.jobs.items())
        if key == self._last_progress:
            return None
        self._last_progress = key
        total = sum(part.request_count for part in self.parts if part.round == 0)
        succeeded = pending = 0
        for part in self.parts:
            if part.gone is not None:
                # every row of a part read back from the landed results succeeded; those of any other gone part are
                # counted as the follow-up rounds that sent them again answer them
                succeeded += part.request_count if part.landed is not None else 0
                continue
            job = self.jobs.get(part.job_name) if part.job_name is not None else None
            if job is None:
                pending += part.request_count
            elif not job.state.is_terminal:
                succeeded += job.stats.succeeded
                pending += max(part.request_count - job.stats.succeeded - job.stats.failed, 0)
            else:
                succeeded += job.stats.succeeded
        failed = max(total - succeeded - pending, 0)
        gone = sum(1 for part in self.parts if part.gone is not None)  # their jobs ended before they went
        ended = sum(1 for name in self.polls if self._ended(name)) + gone
        done = 100 * (total - pending) // total if total else 100
        line = (
            f"{group_label(self.ref)}: {ended}/{len(self.parts)} parts ended, {succeeded}/{total} rows succeeded, "
            f"{failed} failed, {pending} pending ({done}% done)"
        )
        cost = self._running_cost()
        return f"{line}; {cost}" if cost else line

    def _running_cost(self) -> str | None:
        """Tokens and cost so far over the parts whose status reports their tokens; None when none does."""
        given = made = 0
        amount: float | None = 0.0
        reporting = 0
        for job in self.jobs.values():
            usage = reported_usage(job)
            if usage is None or not (usage.input_tokens or usage.output_tokens):
                continue
            reporting += 1
            given += usage.input_tokens
            made += usage.output_tokens
            if self.prices is None or amount is None:
                amount = None
                continue
            price, reason = self.prices.lookup(job.provider, job.model)
            cost = estimate_cost(usage, price, reason).amount
            amount = None if cost is None else amount + cost
        if not reporting:
            return None
        money = f"est. ${amount:.4f}" if amount is not None else "cost unknown"
        return f"tokens so far: {given} in, {made} out over {reporting} parts ({money})"
