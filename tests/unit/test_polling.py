"""PollState, the one poll decision; and the three pollers (trigger, blocking wait, sensor poke) agreeing on it.

PollState is sans-IO: each test hands it a job or an error and an explicit ``now``; nothing sleeps.
The agreement tests play one scripted sequence of poll outcomes to each poller through the fake provider.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from airflow.sdk import PokeReturnValue

from airflow_provider_genai_batch import completion
from airflow_provider_genai_batch.errors import GenAIBatchError, NotFoundError, ProviderAPIError
from airflow_provider_genai_batch.job_ref import BatchJobRef
from airflow_provider_genai_batch.models import BatchJob, BatchStats, JobState
from airflow_provider_genai_batch.operators.submit import GenAIBatchSubmitOperator
from airflow_provider_genai_batch.polling import DEFAULT_MAX_POLL_FAILURES, PollState, Verdict
from airflow_provider_genai_batch.prices import shipped_table
from airflow_provider_genai_batch.sensors.batch_results import GenAIBatchSensor
from airflow_provider_genai_batch.triggers import batch_job as trigger_module
from airflow_provider_genai_batch.triggers.batch_job import GenAIBatchJobTrigger
from tests.unit.pipeline.fakes import FAKE_CONN_ID, FakeBatchHook, make_context, succeeded

JOB = "batches/job-1"
START = 1_000_000.0


def job(state: JobState = JobState.RUNNING, *, succeeded: int = 0, failed: int = 0, pending: int = 4) -> BatchJob:
    stats = BatchStats(total=succeeded + failed + pending, succeeded=succeeded, failed=failed, pending=pending)
    return BatchJob(name=JOB, provider="gemini", state=state, provider_state=state.value, stats=stats)


def api_error(status: int) -> ProviderAPIError:
    error_class = NotFoundError if status == 404 else ProviderAPIError
    return error_class(f"answered {status}", http_status=status, provider="gemini")


# --- an answered poll ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("state", [JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.EXPIRED])
def test_a_terminal_state_ends_the_wait(state: JobState):
    poll = PollState(JOB, interval=60.0, deadline=START + 3600)
    answered = job(state, pending=0)

    decision = poll.observed(answered, START)

    assert decision.verdict is Verdict.TERMINAL
    assert decision.job is answered


def test_a_terminal_state_ends_the_wait_even_past_the_deadline():
    poll = PollState(JOB, interval=60.0, deadline=START)

    assert poll.observed(job(JobState.SUCCEEDED, pending=0), START + 10).verdict is Verdict.TERMINAL


@pytest.mark.parametrize("state", [JobState.PENDING, JobState.RUNNING, JobState.CANCELLING])
def test_a_running_job_far_from_the_deadline_waits_the_poll_interval(state: JobState):
    poll = PollState(JOB, interval=60.0, deadline=START + 3600)

    decision = poll.observed(job(state), START)

    assert decision.verdict is Verdict.WAIT
    assert decision.delay == 60.0
    assert decision.message is None


def test_a_running_job_near_the_deadline_waits_only_until_the_deadline():
    poll = PollState(JOB, interval=60.0, deadline=START + 25)

    decision = poll.observed(job(), START)

    assert decision.verdict is Verdict.WAIT
    assert decision.delay == 25.0


def test_without_a_deadline_a_running_job_always_waits_the_poll_interval():
    poll = PollState(JOB, interval=60.0)

    decisions = [poll.observed(job(), START + hours * 3600) for hours in (0, 1000, 100_000)]

    assert [(d.verdict, d.delay) for d in decisions] == [(Verdict.WAIT, 60.0)] * 3


@pytest.mark.parametrize("late", [0.0, 0.5, 3600.0], ids=["at", "just-after", "long-after"])
def test_a_running_job_at_or_past_the_deadline_times_out_naming_the_job(late: float):
    poll = PollState(JOB, interval=60.0, deadline=START)

    decision = poll.observed(job(), START + late)

    assert decision.verdict is Verdict.TIMEOUT
    assert JOB in decision.message
    assert "deadline" in decision.message


# --- a failed poll ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_a_permanent_provider_error_ends_the_wait_at_once(status: int):
    poll = PollState(JOB, interval=60.0, max_failures=5)
    error = api_error(status)

    decision = poll.failed(error, START)

    assert decision.verdict is Verdict.ERROR
    assert JOB in decision.message
    assert f"answered {status}" in decision.message


def test_an_unexpected_exception_is_permanent_too():
    decision = PollState(JOB, interval=60.0).failed(ValueError("unexpected answer shape"), START)

    assert decision.verdict is Verdict.ERROR
    assert "unexpected answer shape" in decision.message


@pytest.mark.parametrize(
    "error",
    [api_error(429), api_error(500), api_error(502), api_error(503), httpx.ConnectError("connection refused")],
    ids=["429", "500", "502", "503", "connect-error"],
)
def test_a_transient_error_waits_and_says_why(error: Exception):
    poll = PollState(JOB, interval=60.0, deadline=START + 3600, max_failures=5)

    decision = poll.failed(error, START)

    assert decision.verdict is Verdict.WAIT
    assert decision.delay == 60.0
    assert JOB in decision.message
    assert str(error) in decision.message
    assert poll.failures == 1


def test_a_transient_error_near_the_deadline_waits_only_until_the_deadline():
    poll = PollState(JOB, interval=60.0, deadline=START + 10)

    decision = poll.failed(api_error(503), START)

    assert (decision.verdict, decision.delay) == (Verdict.WAIT, 10.0)


def test_the_max_failures_th_transient_error_in_a_row_ends_the_wait_naming_the_count_and_last_error():
    poll = PollState(JOB, interval=60.0, max_failures=3)

    first = poll.failed(api_error(503), START)
    second = poll.failed(api_error(429), START + 60)
    third = poll.failed(httpx.ConnectError("connection refused"), START + 120)

    assert [first.verdict, second.verdict] == [Verdict.WAIT, Verdict.WAIT]
    assert third.verdict is Verdict.ERROR
    assert JOB in third.message
    assert "3 times in a row" in third.message
    assert "ConnectError: connection refused" in third.message
    assert "answered 503" not in third.message  # the last error, not the first


def test_the_default_bound_is_ten_failures_in_a_row():
    poll = PollState(JOB, interval=1.0)

    verdicts = [poll.failed(api_error(503), START + i).verdict for i in range(DEFAULT_MAX_POLL_FAILURES)]

    assert DEFAULT_MAX_POLL_FAILURES == 10
    assert verdicts == [Verdict.WAIT] * 9 + [Verdict.ERROR]


def test_an_answered_poll_resets_the_run_of_failures():
    poll = PollState(JOB, interval=60.0, max_failures=3)
    poll.failed(api_error(503), START)
    poll.failed(api_error(503), START + 1)

    assert poll.observed(job(), START + 2).verdict is Verdict.WAIT
    assert poll.failures == 0
    assert poll.failed(api_error(503), START + 3).verdict is Verdict.WAIT
    assert poll.failed(api_error(503), START + 4).verdict is Verdict.WAIT
    assert poll.failed(api_error(503), START + 5).verdict is Verdict.ERROR


def test_a_transient_error_past_the_deadline_times_out_naming_the_error():
    poll = PollState(JOB, interval=60.0, deadline=START, max_failures=5)

    decision = poll.failed(httpx.ConnectError("connection refused"), START + 1)

    assert decision.verdict is Verdict.TIMEOUT
    assert JOB in decision.message
    assert "the last poll failed" in decision.message
    assert "connection refused" in decision.message


# --- progress -----------------------------------------------------------------------------------------------


def test_progress_is_reported_only_when_the_state_or_counts_change():
    poll = PollState(JOB, interval=60.0)

    progress = [
        poll.observed(job(JobState.PENDING, pending=4), START).progress,
        poll.observed(job(JobState.PENDING, pending=4), START + 60).progress,  # unchanged
        poll.observed(job(JobState.RUNNING, pending=4), START + 120).progress,  # state changed
        poll.observed(job(JobState.RUNNING, succeeded=1, pending=3), START + 180).progress,  # counts changed
        poll.observed(job(JobState.RUNNING, succeeded=1, pending=3), START + 240).progress,  # unchanged
        poll.observed(job(JobState.SUCCEEDED, succeeded=3, failed=1, pending=0), START + 300).progress,
    ]

    assert progress == [
        f"{JOB} is JOB_STATE_PENDING: 0/4 succeeded, 0 failed, 4 pending (0% done)",
        None,
        f"{JOB} is JOB_STATE_RUNNING: 0/4 succeeded, 0 failed, 4 pending (0% done)",
        f"{JOB} is JOB_STATE_RUNNING: 1/4 succeeded, 0 failed, 3 pending (25% done)",
        None,
        f"{JOB} is JOB_STATE_SUCCEEDED: 3/4 succeeded, 1 failed, 0 pending (100% done)",
    ]


def test_progress_of_a_job_whose_status_reports_tokens_shows_the_running_cost():
    poll = PollState(JOB, interval=60.0, prices=shipped_table())
    running = BatchJob(
        name=JOB,
        provider="openai",
        model="gpt-4o-mini",
        state=JobState.RUNNING,
        provider_state="in_progress",
        stats=BatchStats(total=4, succeeded=2, pending=2),
        raw={
            "request_counts": {"total": 4, "completed": 2, "failed": 0},
            "usage": {"input_tokens": 2_000_000, "output_tokens": 1_000_000},
        },
    )

    progress = poll.observed(running, START).progress

    assert progress == (
        f"{JOB} is in_progress: 2/4 succeeded, 0 failed, 2 pending (50% done); "
        "tokens so far: 2000000 in, 1000000 out (est. $0.4500)"
    )


def test_a_failed_poll_reports_no_progress_and_does_not_forget_the_last_one():
    poll = PollState(JOB, interval=60.0)
    poll.observed(job(), START)

    assert poll.failed(api_error(503), START + 60).progress is None
    assert poll.observed(job(), START + 120).progress is None  # the same as before the failure


def test_progress_names_the_providers_own_state():
    answered = job().model_copy(update={"provider_state": "in_progress"})

    assert PollState(JOB, interval=60.0).observed(answered, START).progress.startswith(f"{JOB} is in_progress:")


# --- the trigger, the blocking wait and the sensor agree ---------------------------------------------------

MAX_FAILURES = 3
REF = BatchJobRef(provider="gemini", conn_id=FAKE_CONN_ID, job_name=JOB, request_count=2)


def unavailable() -> ProviderAPIError:
    return api_error(503)


def refused() -> httpx.ConnectError:
    return httpx.ConnectError("connection refused")


SCENARIOS: dict[str, tuple[Callable[[], list[Any]], str]] = {
    "503-503-running-succeeded": (
        lambda: [unavailable(), unavailable(), JobState.RUNNING, JobState.SUCCEEDED],
        "terminal",
    ),
    "connect-error-x-max": (lambda: [refused() for _ in range(MAX_FAILURES)], "error"),
    "running-then-404": (lambda: [JobState.RUNNING, api_error(404)], "error"),
    "failures-reset-by-an-answer": (
        lambda: [unavailable(), unavailable(), JobState.RUNNING, refused(), refused(), JobState.SUCCEEDED],
        "terminal",
    ),
}


@pytest.fixture
def fake_hook(monkeypatch: pytest.MonkeyPatch) -> FakeBatchHook:
    """One fake provider, returned by the hook lookups of the waiting code."""
    hook = FakeBatchHook()

    def by_provider(provider: str) -> Callable[..., FakeBatchHook]:
        assert provider == hook.provider
        return lambda conn_id=None, **_: hook

    monkeypatch.setattr(completion, "hook_class_for_provider", by_provider)
    monkeypatch.setattr(trigger_module, "hook_class_for_provider", by_provider)
    return hook


@pytest.fixture
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """time.sleep and the trigger's asyncio.sleep return at once; the delays asked for are recorded."""
    delays: list[float] = []
    real_async_sleep = asyncio.sleep

    async def async_sleep(delay: float, *args: Any) -> None:
        delays.append(delay)
        await real_async_sleep(0)

    monkeypatch.setattr(time, "sleep", delays.append)
    monkeypatch.setattr(trigger_module.asyncio, "sleep", async_sleep)
    return delays


def play(hook: FakeBatchHook, steps: list[Any]) -> None:
    """A fresh running job whose next polls go through ``steps``; it has two succeeded rows to land."""
    hook.add_job(JOB, JobState.PENDING, total=2, pending=2, results=[succeeded("a"), succeeded("b")])
    hook.script(JOB, *steps)


async def via_trigger(hook: FakeBatchHook, steps: list[Any]) -> tuple[str, str | None]:
    play(hook, steps)
    trigger = GenAIBatchJobTrigger(job_ref=REF.to_xcom(), poll_interval=60.0, max_poll_failures=MAX_FAILURES)
    events = await asyncio.wait_for(_drain(trigger), 5.0)
    assert len(events) == 1
    return events[0].payload["status"], events[0].payload.get("state")


async def _drain(trigger: GenAIBatchJobTrigger) -> list[Any]:
    return [event async for event in trigger.run()]


def via_blocking_wait(hook: FakeBatchHook, steps: list[Any], output_uri: Path) -> tuple[str, str | None]:
    play(hook, steps)
    op = GenAIBatchSubmitOperator(
        task_id="submit",
        conn_id=FAKE_CONN_ID,
        model="gemini-2.5-flash",
        input="unused.jsonl",
        output_uri=str(output_uri),
        wait_for_completion=True,
        deferrable=False,
        poll_interval=60.0,
        max_poll_failures=MAX_FAILURES,
    )
    try:
        manifest = op.wait_for(make_context(), REF)
    except GenAIBatchError:
        return "error", None
    return "terminal", manifest["state"]


def via_sensor_pokes(hook: FakeBatchHook, steps: list[Any], output_uri: Path) -> tuple[str, str | None]:
    play(hook, steps)
    op = GenAIBatchSensor(
        task_id="wait",
        job_ref=REF.to_xcom(),
        output_uri=str(output_uri),
        deferrable=False,
        poll_interval=60.0,
        max_poll_failures=MAX_FAILURES,
    )
    for _ in range(len(steps) + 1):
        try:
            result = op.poke(make_context())
        except GenAIBatchError:
            return "error", None
        if isinstance(result, PokeReturnValue):
            assert result.is_done
            return "terminal", result.xcom_value["state"]
    raise AssertionError("the sensor was still poking after every scripted step")


ENDED_NOT_FOUND = {"running-then-404"}
"""The scenarios a 404 ends."""


@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_the_trigger_the_blocking_wait_and_the_sensor_reach_the_same_outcome(
    fake_hook: FakeBatchHook, no_waiting: list[float], tmp_path: Path, scenario: str
):
    steps, expected = SCENARIOS[scenario]

    by_trigger = await via_trigger(fake_hook, steps())
    trigger_polls = len(fake_hook.names("aget_batch"))
    by_wait = via_blocking_wait(fake_hook, steps(), tmp_path / "wait")
    wait_polls = len(fake_hook.names("get_batch"))
    by_sensor = via_sensor_pokes(fake_hook, steps(), tmp_path / "sensor")
    sensor_polls = len(fake_hook.names("get_batch")) - wait_polls

    assert by_trigger[0] == expected
    assert by_trigger == by_wait == by_sensor
    if expected == "terminal":
        assert by_trigger[1] == JobState.SUCCEEDED.value
    assert trigger_polls == sensor_polls == len(steps())
    # a blocking wait ended by a 404 reads the job once more, asking whether it is gone (the sensor does in execute)
    assert wait_polls == len(steps()) + (scenario in ENDED_NOT_FOUND)
    assert fake_hook.names("cancel_batch") == fake_hook.names("acancel_batch") == []


async def test_the_trigger_and_the_blocking_wait_sleep_the_same_delays(
    fake_hook: FakeBatchHook, no_waiting: list[float], tmp_path: Path
):
    steps = [unavailable(), JobState.RUNNING, JobState.SUCCEEDED]

    await via_trigger(fake_hook, list(steps))
    by_trigger = list(no_waiting)
    no_waiting.clear()
    via_blocking_wait(fake_hook, list(steps), tmp_path)

    assert by_trigger == no_waiting == [60.0, 60.0]
