"""One status poll of a job with its connection as it is now, the same on a worker and in a trigger.

A connection that cannot be read is a transient failure (:class:`CredentialsUnavailableError`), polled through up to
``max_poll_failures``: the Task SDK answers "not defined" while the API server is away (a deployment restarting it).
A poll the provider refuses for good (a key it no longer takes: 400 at Gemini, 401 or 403 elsewhere) reads the
connection again; when it changed (a key rotated while the task waits), the job is polled again at once with it, and
the hook keeps it for every later poll. The rule is written once, sans-IO (:func:`_steps`); :func:`poll_job` runs it
with the hook's blocking calls, :func:`apoll_job` with its async ones.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Generator, Mapping
from typing import TYPE_CHECKING, Any, cast

from airflow_provider_genai_batch.errors import CredentialsUnavailableError, NotFoundError, ProviderAPIError
from airflow_provider_genai_batch.hooks.retry import is_transient_error, retrying_until
from airflow_provider_genai_batch.models import BatchJob

if TYPE_CHECKING:
    from airflow_provider_genai_batch.hooks.base import BatchHook, ConnectionSettings


class Step(enum.Enum):
    """What the poll asks for next."""

    SETTINGS = "the connection's settings, as the hook holds them (read once)"
    JOB = "the job, as the provider has it now"
    SETTINGS_AGAIN = "the connection's settings read again (the hook keeps them when they changed)"


Steps = Generator[Step, Any, BatchJob]


def _steps(hook: BatchHook[Any], name: str) -> Steps:
    """The poll of ``name`` as the steps it takes, each answered (or raised into it) by the runner."""
    try:
        used = yield Step.SETTINGS
    except Exception as err:
        raise CredentialsUnavailableError(
            f"the connection {hook.conn_id!r} could not be read ({type(err).__name__}: {err})"
        ) from err
    try:
        return (yield from _read(name))
    except ProviderAPIError as refusal:
        if is_transient_error(refusal) or not (yield from _edited_since(hook, used)):
            raise
        hook.log.warning(
            "polling %s was refused (%s); the connection %r was edited since it was read: polling with it",
            name,
            refusal,
            hook.conn_id,
        )
    return (yield from _read(name))


def _read(name: str) -> Steps:
    """The read of job ``name``; the provider's refusal of it is raised naming the job (``job_name``), so that a 404
    says which job it is of."""
    try:
        job: BatchJob = yield Step.JOB
    except ProviderAPIError as refusal:
        refusal.job_name = name
        raise
    return job


def _edited_since(hook: BatchHook[Any], used: ConnectionSettings) -> Generator[Step, Any, bool]:
    """Whether the connection, read again, holds other settings than ``used``; one that cannot be read again is taken
    as unchanged."""
    try:
        current: ConnectionSettings = yield Step.SETTINGS_AGAIN
    except Exception as err:
        hook.log.warning("the connection %r could not be read again: %s", hook.conn_id, err)
        return False
    return current.digest() != used.digest()


def poll_job(hook: BatchHook[Any], name: str, deadline: float | None = None) -> BatchJob:
    """One status poll of ``name`` on a worker, with the connection as it is now, retried up to ``deadline`` (unix
    seconds) at most."""
    calls: Mapping[Step, Callable[[], Any]] = {
        Step.SETTINGS: lambda: hook.settings,
        Step.JOB: lambda: hook.get_batch(name),
        Step.SETTINGS_AGAIN: hook.reload_settings,
    }
    steps = _steps(hook, name)
    answer: Any = None
    failure: Exception | None = None
    with retrying_until(deadline):
        while True:
            try:
                step = steps.send(answer) if failure is None else steps.throw(failure)
            except StopIteration as done:
                return cast(BatchJob, done.value)
            try:
                answer, failure = calls[step](), None
            except Exception as err:
                answer, failure = None, err


async def apoll_job(hook: BatchHook[Any], name: str, deadline: float | None = None) -> BatchJob:
    """One status poll of ``name`` in a trigger (never blocking the event loop), with the connection as it is now,
    retried up to ``deadline`` (unix seconds) at most."""
    calls: Mapping[Step, Callable[[], Awaitable[Any]]] = {
        Step.SETTINGS: hook.asettings,
        Step.JOB: lambda: hook.aget_batch(name),
        Step.SETTINGS_AGAIN: hook.areload_settings,
    }
    steps = _steps(hook, name)
    answer: Any = None
    failure: Exception | None = None
    with retrying_until(deadline):
        while True:
            try:
                step = steps.send(answer) if failure is None else steps.throw(failure)
            except StopIteration as done:
                return cast(BatchJob, done.value)
            try:
                answer, failure = await calls[step](), None
            except Exception as err:
                answer, failure = None, err


def gone_at(hook: BatchHook[Any], name: str) -> bool:
    """Whether the provider no longer has job ``name`` (deleted, or aged out): a read of it answered 404."""
    try:
        hook.get_batch(name)
    except NotFoundError:
        return True
    return False
