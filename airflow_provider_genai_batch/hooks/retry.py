"""Retrying transient HTTP faults: which failures are transient, how long to wait, when to stop.

Transient means a connection error, a timeout, or HTTP 408 / 429 / 500 / 502 / 503 / 504 / 529 (Anthropic's
overload). Waits grow exponentially with
full jitter, a ``Retry-After`` header is honoured, and a request stops after ``max_attempts`` tries or
``max_elapsed`` seconds, whichever comes first. Only requests that are safe to repeat are retried.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import timezone

import httpx
from pydantic import BaseModel, ConfigDict, Field

from airflow_provider_genai_batch.errors import CredentialsUnavailableError, ProviderAPIError, UnreadableAnswerError

RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504, 529})
"""Statuses of a condition that passes: a request timeout, a rate limit, a server error or overload (Anthropic answers
529 ``overloaded_error`` while its API is overloaded)."""
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


class RetryPolicy(BaseModel):
    """How hard to retry; configurable per connection (extras ``max_retries``, ``retry_max_wait``, ...)."""

    model_config = ConfigDict(frozen=True)

    max_attempts: int = Field(default=6, ge=1)
    initial_backoff: float = Field(default=0.5, ge=0)
    max_backoff: float = Field(default=30.0, ge=0)
    max_elapsed: float = Field(default=300.0, ge=0)

    def backoff(self, attempt: int) -> float:
        """Full-jitter exponential wait before try ``attempt + 1`` (``attempt`` counts from 1)."""
        return random.uniform(0, min(self.max_backoff, self.initial_backoff * 2 ** (attempt - 1)))


NO_RETRY = RetryPolicy(max_attempts=1)

_RETRY_UNTIL: ContextVar[float | None] = ContextVar("genai_batch_retry_until", default=None)
"""The unix time the calls made now stop retrying at (:func:`retrying_until`), if any."""


@contextmanager
def retrying_until(deadline: float | None) -> Iterator[None]:
    """Within, a call stops retrying at ``deadline`` (unix seconds; None: no bound) where its policy would go on longer:
    a wait's status poll is not retried past the end of the wait, which then times out as it should."""
    token = _RETRY_UNTIL.set(deadline)
    try:
        yield
    finally:
        _RETRY_UNTIL.reset(token)


def policy_for_now(policy: RetryPolicy) -> RetryPolicy:
    """``policy`` for a call starting now: its ``max_elapsed`` cut to end at the deadline :func:`retrying_until` set."""
    deadline = _RETRY_UNTIL.get()
    if deadline is None:
        return policy
    left = max(0.0, deadline - time.time())
    return policy if left >= policy.max_elapsed else policy.model_copy(update={"max_elapsed": left})


class TransientFailure(Exception):
    """A transient failure handed to an operation that recovers by itself (e.g. a resumable upload)."""

    def __init__(self, response: httpx.Response | None, error: httpx.TransportError | None) -> None:
        self.response = response
        self.error = error
        super().__init__(f"HTTP {response.status_code}" if response is not None else type(error).__name__)


def is_transient(response: httpx.Response) -> bool:
    """Whether an error response is worth another try."""
    return response.status_code in RETRYABLE_STATUS


def retry_after(response: httpx.Response | None) -> float | None:
    """Seconds the server asked us to wait (``Retry-After`` as seconds or an HTTP date), if it did.

    A number of seconds that is negative or not finite (``-1``, ``nan``) says nothing readable, as text that is no
    date does not: the normal backoff is used, not a retry at once into a server that is refusing calls.
    """
    value = response.headers.get("retry-after") if response is not None else None
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if 0 <= seconds < math.inf else None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None  # unreadable: fall back to the normal backoff
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)  # HTTP dates are GMT
    return max(0.0, parsed.timestamp() - time.time())


@dataclass
class Attempts:
    """The tries of one request so far, deciding whether and how long to wait before the next."""

    policy: RetryPolicy
    started: float = field(default_factory=lambda: time.monotonic())  # looked up when made, as next_wait reads it
    made: int = 0

    def next_wait(self, response: httpx.Response | None) -> float | None:
        """Seconds to wait before trying again, or None when the request has used up its tries or time."""
        self.made += 1
        if self.made >= self.policy.max_attempts:
            return None
        wait = retry_after(response)
        wait = self.policy.backoff(self.made) if wait is None else min(wait, self.policy.max_backoff)
        if time.monotonic() - self.started + wait > self.policy.max_elapsed:
            return None
        return wait


def is_transient_error(error: BaseException) -> bool:
    """True for a failure worth trying again later: a network error, a provider answer of 408/429/5xx, a success
    answered with a body that is not the API's (:class:`UnreadableAnswerError`), or credentials whose server could
    not give them for the moment (:class:`CredentialsUnavailableError`)."""
    if isinstance(error, (httpx.TransportError, UnreadableAnswerError, CredentialsUnavailableError)):
        return True
    return isinstance(error, ProviderAPIError) and error.http_status in RETRYABLE_STATUS


def is_refused_post(error: BaseException) -> bool:
    """True for a POST answered with a status saying it was not acted on: a 4xx other than 408 (a 429 among them).
    A create so answered made no job; a read that failed after it (Bedrock's, of the job made) is not a POST."""
    return (
        isinstance(error, ProviderAPIError)
        and error.method == "POST"
        and error.http_status is not None
        and 400 <= error.http_status < 500
        and error.http_status != 408
    )
