"""A poking sensor's polls within the provider's and the task's limits: the wait a throttled poll was asked for
(``Retry-After``) and the sensor's ``timeout``, which also ends the retries of a poll that keeps failing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from airflow.sdk.exceptions import AirflowRescheduleException

from airflow_provider_genai_batch import completion
from airflow_provider_genai_batch.errors import JobTimeoutError, ProviderAPIError
from airflow_provider_genai_batch.hooks.openai import OpenAIBatchHook
from airflow_provider_genai_batch.hooks.status_poll import apoll_job, poll_job
from airflow_provider_genai_batch.job_ref import BatchJobRef
from airflow_provider_genai_batch.models import JobState
from airflow_provider_genai_batch.sensors.batch_results import GenAIBatchSensor
from airflow_provider_genai_batch.triggers import batch_job as trigger_module
from airflow_provider_genai_batch.triggers.batch_job import GenAIBatchJobTrigger

from ..hooks._wire import Wire, mock_hooks
from .fakes import FakeBatchHook, FakeTI, group_ref, make_context, part_ref, succeeded

JOB = "batches/job-1"
REF = BatchJobRef(provider="gemini", conn_id="genai_fake", job_name=JOB, request_count=3)
BUSY = {"error": {"message": "The server is overloaded", "type": "server_error"}}


def throttled(seconds: float) -> ProviderAPIError:
    """A poll the hook gave up on, answered 429 with ``Retry-After: seconds``, as the transport raises it."""
    error = ProviderAPIError("Rate limit reached", http_status=429, provider="gemini")
    error.retry_after = seconds
    return error


def poking(ref: BatchJobRef = REF, **kwargs: Any) -> GenAIBatchSensor:
    kwargs.setdefault("poll_interval", 60)
    return GenAIBatchSensor(task_id="wait", job_ref=ref.to_xcom(), deferrable=False, **kwargs)


class RescheduledTI(FakeTI):
    """A task instance whose sensor first poked at ``first_poke`` (each reschedule is a new try of the task)."""

    def __init__(self, first_poke: datetime | None = None) -> None:
        super().__init__(task_id="wait")
        self.first_poke = first_poke

    def get_first_reschedule_date(self, context: Any) -> datetime | None:
        return self.first_poke


# --- Retry-After --------------------------------------------------------------------------------------------


def test_a_poking_sensor_waits_as_long_as_a_throttled_poll_was_asked_to(
    fake_hook: FakeBatchHook, output_uri: str, monkeypatch: pytest.MonkeyPatch
):
    fake_hook.add_job(JOB, JobState.SUCCEEDED, total=3, succeeded=3, results=[succeeded(k) for k in "abc"])
    fake_hook.script(JOB, throttled(300), JobState.SUCCEEDED)
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)

    poking(output_uri=output_uri).execute(make_context(FakeTI(task_id="wait")))

    assert slept == [300.0]


def test_a_poking_sensor_asked_to_wait_less_than_its_interval_keeps_its_interval(
    fake_hook: FakeBatchHook, output_uri: str, monkeypatch: pytest.MonkeyPatch
):
    fake_hook.add_job(JOB, JobState.SUCCEEDED, total=3, succeeded=3, results=[succeeded(k) for k in "abc"])
    fake_hook.script(JOB, throttled(5), JobState.SUCCEEDED)
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)

    poking(output_uri=output_uri).execute(make_context(FakeTI(task_id="wait")))

    assert slept == [60.0]


@pytest.mark.parametrize("group", [False, True], ids=["one-job", "group"])
def test_a_rescheduled_sensor_comes_back_no_sooner_than_a_throttled_poll_was_asked_to(
    fake_hook: FakeBatchHook, output_uri: str, group: bool
):
    ref = group_ref(part_ref(0, JOB), part_ref(1, "batches/job-2")) if group else REF
    fake_hook.add_job(JOB, JobState.RUNNING)
    fake_hook.add_job("batches/job-2", JobState.RUNNING)
    fake_hook.script(JOB, throttled(900))

    before = datetime.now(timezone.utc)
    with pytest.raises(AirflowRescheduleException) as rescheduled:
        poking(ref, output_uri=output_uri, mode="reschedule", timeout=3600).execute(make_context(RescheduledTI()))

    assert rescheduled.value.reschedule_date >= before + timedelta(seconds=900)


# --- the sensor's timeout bounds a failing poll's retries -----------------------------------------------------


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """A clock that only moves when something sleeps: ``time.time``, ``time.monotonic`` and both sleeps."""
    now = [1_800_000_000.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    async def asleep(seconds: float) -> None:
        now[0] += seconds

    monkeypatch.setattr(time, "time", lambda: now[0])
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    monkeypatch.setattr(time, "sleep", sleep)
    monkeypatch.setattr("asyncio.sleep", asleep)
    return now


@pytest.fixture
def overloaded(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[OpenAIBatchHook, Wire]]:
    """An OpenAI hook (up to 50 retries within its default 300 s) whose every call is answered 503, Retry-After 20."""
    with mock_hooks(
        monkeypatch, OpenAIBatchHook, conn_id="openai_unit", conn_type="genaiopenai", base_url="http://openai.test/v1"
    ) as make:
        yield make(lambda request: httpx.Response(503, json=BUSY, headers={"Retry-After": "20"}), max_retries=50)


def test_a_poll_stops_retrying_at_the_deadline_it_is_given(clock: list[float], overloaded: Any):
    hook, wire = overloaded
    started = clock[0]

    with pytest.raises(ProviderAPIError):
        poll_job(hook, "batch_1", deadline=started + 60)

    assert clock[0] - started == 60.0  # tries at 0, 20, 40 and 60 s; not on for the 300 s the connection allows
    assert len(wire.requests) == 4


async def test_a_triggers_poll_stops_retrying_at_the_deadline_it_is_given(clock: list[float], overloaded: Any):
    hook, wire = overloaded
    started = clock[0]

    with pytest.raises(ProviderAPIError):
        await apoll_job(hook, "batch_1", deadline=started + 60)

    assert clock[0] - started == 60.0
    assert len(wire.requests) == 4


async def test_a_deferred_waits_failing_poll_is_not_retried_past_its_deadline(
    clock: list[float], overloaded: Any, monkeypatch: pytest.MonkeyPatch
):
    hook, _ = overloaded
    monkeypatch.setattr(trigger_module, "hook_class_for_provider", lambda provider: lambda conn_id=None, **_: hook)
    ref = BatchJobRef(provider="openai", conn_id="openai_unit", job_name="batch_1", request_count=3)
    started = clock[0]
    trigger = GenAIBatchJobTrigger(ref.to_xcom(), poll_interval=60, deadline=started + 90)

    event = await anext(trigger.run())

    assert event.payload["status"] == "timeout"
    assert clock[0] - started == 90.0


def test_a_poll_given_no_deadline_retries_as_long_as_its_connection_allows(clock: list[float], overloaded: Any):
    hook, _ = overloaded
    started = clock[0]

    with pytest.raises(ProviderAPIError):
        poll_job(hook, "batch_1")

    assert clock[0] - started == 300.0


def test_a_poking_sensors_failing_poll_is_not_retried_past_its_timeout(
    clock: list[float], overloaded: Any, output_uri: str, monkeypatch: pytest.MonkeyPatch
):
    hook, _ = overloaded
    monkeypatch.setattr(completion, "hook_class_for_provider", lambda provider: lambda conn_id=None, **_: hook)
    ref = BatchJobRef(provider="openai", conn_id="openai_unit", job_name="batch_1", request_count=3)
    started = clock[0]

    with pytest.raises(JobTimeoutError, match="did not finish within 0:01:30"):
        poking(ref, output_uri=output_uri, timeout=90, cancel_on_timeout=False).execute(make_context(FakeTI()))

    assert clock[0] - started == 90.0
