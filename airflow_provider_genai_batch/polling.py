"""The one decision about a status poll: keep waiting, the job ended, the deadline passed, or give up.

Sans-IO: the trigger (async), the blocking wait on a worker and the sensor's ``poke`` each fetch the
job their own way and hand the outcome here; what a terminal state, a transient error, too many
failures in a row or a deadline means is decided in this one place.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from airflow_provider_genai_batch.hooks.retry import is_transient_error
from airflow_provider_genai_batch.models import BatchJob

DEFAULT_MAX_POLL_FAILURES = 10
"""Consecutive failed polls (each already retried by the hook) before a wait gives up."""


class Verdict(str, enum.Enum):
    """What the poller should do next."""

    WAIT = "wait"
    TERMINAL = "terminal"
    TIMEOUT = "timeout"
    ERROR = "error"


@dataclass(frozen=True)
class Decision:
    """The verdict on one poll; ``delay`` is how long to sleep before the next (WAIT only)."""

    verdict: Verdict
    delay: float = 0.0
    message: str | None = None
    job: BatchJob | None = None
    progress: str | None = None


class PollState:
    """One wait on one job: its deadline, its run of consecutive failures, the last progress it logged."""

    def __init__(
        self,
        job_name: str,
        *,
        interval: float,
        deadline: float | None = None,
        max_failures: int = DEFAULT_MAX_POLL_FAILURES,
    ) -> None:
        self.job_name = job_name
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
            return Decision(Verdict.ERROR, message=f"polling {self.job_name} failed: {error}")
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
        return Decision(
            Verdict.WAIT, delay=self._delay(now), message=f"transient error polling {self.job_name}: {reason}"
        )

    def _past_deadline(self, now: float) -> bool:
        return self.deadline is not None and now >= self.deadline

    def _delay(self, now: float) -> float:
        return self.interval if self.deadline is None else max(0.0, min(self.interval, self.deadline - now))

    def _progress(self, job: BatchJob) -> str | None:
        """A line for the log when the job's state or counts changed since the last one, else None."""
        key = (job.state.value, job.stats.succeeded, job.stats.failed, job.stats.pending)
        if key == self._last_progress:
            return None
        self._last_progress = key
        stats = job.stats
        return (
            f"{self.job_name} is {job.provider_state or job.state.value}: {stats.succeeded}/{stats.total} "
            f"succeeded, {stats.failed} failed, {stats.pending} pending"
        )
