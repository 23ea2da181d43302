"""GenAIBatchJobTrigger: JSON-safe kwargs, one event per run, transient errors tolerated up to a bound, on_kill."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import weakref
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from airflow._shared.module_loading import import_string  # what the triggerer uses to load a trigger
from airflow.sdk import Connection
from airflow.sdk.exceptions import AirflowNotFoundException
from airflow.sdk.execution_time.comms import GetTaskStates
from airflow.triggers.base import TriggerEvent

from airflow_provider_genai_batch.errors import NotFoundError, ProviderAPIError
from airflow_provider_genai_batch.job_ref import BatchJobRef
from airflow_provider_genai_batch.models import BatchJob, BatchStats, JobState
from airflow_provider_genai_batch.triggers import batch_job as batch_job_module
from airflow_provider_genai_batch.triggers.batch_job import GenAIBatchJobTrigger

from .fakes import FAKE_CONN_ID, FAKE_SECRET, FakeBatchHook, FakeSupervisor, capture_log, log_messages

JOB = "batches/job-1"
DAG_ID, RUN_ID, TASK_ID = "genai_dag", "manual__2026-01-02T00:00:00+00:00", "wait"
REF = BatchJobRef(provider="gemini", conn_id=FAKE_CONN_ID, job_name=JOB, idempotency_key="gbk-0123456789abcdef0123")


def trigger(**kwargs: Any) -> GenAIBatchJobTrigger:
    kwargs.setdefault("poll_interval", 0.001)
    return GenAIBatchJobTrigger(job_ref=REF.to_xcom(), **kwargs)


async def all_events(trig: GenAIBatchJobTrigger, timeout: float = 5.0) -> list[TriggerEvent]:
    """Drain ``run()``: a trigger must stop by itself after its one event."""

    async def drain() -> list[TriggerEvent]:
        return [event async for event in trig.run()]

    return await asyncio.wait_for(drain(), timeout)


def test_serialize_round_trips_through_its_classpath():
    original = trigger(poll_interval=30.0, deadline=1_900_000_000.5, cancel_on_kill=False, max_poll_failures=3)

    classpath, kwargs = original.serialize()
    rebuilt = import_string(classpath)(**kwargs)

    assert classpath == "airflow_provider_genai_batch.triggers.batch_job.GenAIBatchJobTrigger"
    assert rebuilt.serialize() == (classpath, kwargs)
    assert rebuilt.job_ref == REF
    assert (rebuilt.poll_interval, rebuilt.deadline, rebuilt.cancel_on_kill) == (30.0, 1_900_000_000.5, False)
    assert rebuilt.max_poll_failures == 3


def test_serialized_kwargs_are_json_and_carry_no_secret(monkeypatch):
    conn = Connection(conn_id=FAKE_CONN_ID, conn_type="genaigemini", host="http://fake.invalid", password=FAKE_SECRET)
    monkeypatch.setenv(f"AIRFLOW_CONN_{FAKE_CONN_ID.upper()}", conn.as_json())

    _, kwargs = trigger(deadline=time.time() + 60).serialize()
    text = json.dumps(kwargs)

    assert json.loads(text) == kwargs
    assert set(kwargs) == {"job_ref", "poll_interval", "deadline", "cancel_on_kill", "max_poll_failures"}
    assert kwargs["job_ref"]["conn_id"] == FAKE_CONN_ID
    assert FAKE_SECRET not in text


async def test_run_yields_exactly_one_terminal_event_when_the_job_succeeds(fake_hook: FakeBatchHook):
    fake_hook.add_job(JOB, JobState.PENDING, total=3, pending=3)
    fake_hook.script(
        JOB,
        JobState.PENDING,
        {"state": JobState.RUNNING, "stats": BatchStats(total=3, succeeded=1, pending=2)},
        {"state": JobState.SUCCEEDED, "stats": BatchStats(total=3, succeeded=3)},
    )

    events = await all_events(trigger())

    assert len(events) == 1
    payload = events[0].payload
    assert payload["status"] == "terminal"
    assert payload["state"] == "JOB_STATE_SUCCEEDED"
    assert payload["stats"] == {"total": 3, "succeeded": 3, "failed": 0, "pending": 0}
    assert payload["job_ref"] == REF.to_xcom()
    assert fake_hook.names("aget_batch") == [JOB, JOB, JOB]
    json.dumps(payload)


@pytest.mark.parametrize(
    "failure",
    [
        ProviderAPIError("backend unavailable", http_status=503, provider="gemini"),
        ProviderAPIError("slow down", http_status=429, provider="gemini"),
        httpx.ConnectError("connection refused"),
        httpx.ReadTimeout("read timed out"),
    ],
    ids=["503", "429", "connect-error", "read-timeout"],
)
async def test_transient_poll_errors_below_max_poll_failures_are_tolerated_and_polling_goes_on(
    fake_hook: FakeBatchHook, failure: Exception
):
    fake_hook.add_job(JOB, JobState.RUNNING, total=2)
    fake_hook.script(JOB, failure, failure, {"state": JobState.SUCCEEDED, "stats": BatchStats(total=2, succeeded=2)})

    events = await all_events(trigger(max_poll_failures=3))

    assert [e.payload["status"] for e in events] == ["terminal"]
    assert events[0].payload["state"] == "JOB_STATE_SUCCEEDED"
    assert len(fake_hook.names("aget_batch")) == 3


@pytest.mark.parametrize(
    "failure",
    [
        ProviderAPIError("backend unavailable", http_status=503, provider="gemini"),
        httpx.ConnectError("connection refused"),
    ],
    ids=["503", "connect-error"],
)
async def test_max_poll_failures_transient_errors_in_a_row_yield_one_error_event(
    fake_hook: FakeBatchHook, failure: Exception
):
    fake_hook.add_job(JOB, JobState.RUNNING)
    fake_hook.script(JOB, *[failure] * 3, JobState.SUCCEEDED)  # the job would have ended: too late

    events = await all_events(trigger(max_poll_failures=3))

    assert len(events) == 1
    payload = events[0].payload
    assert payload["status"] == "error"
    assert "3 times in a row" in payload["message"]
    assert str(failure) in payload["message"]
    assert JOB in payload["message"]
    assert payload["job_ref"] == REF.to_xcom()
    assert len(fake_hook.names("aget_batch")) == 3


async def test_a_successful_poll_resets_the_run_of_transient_errors(fake_hook: FakeBatchHook):
    unavailable = ProviderAPIError("backend unavailable", http_status=503, provider="gemini")
    fake_hook.add_job(JOB, JobState.RUNNING)
    fake_hook.script(JOB, unavailable, unavailable, JobState.RUNNING, unavailable, unavailable, JobState.SUCCEEDED)

    events = await all_events(trigger(max_poll_failures=3))

    assert [e.payload["status"] for e in events] == ["terminal"]
    assert len(fake_hook.names("aget_batch")) == 6


@pytest.mark.parametrize(
    "failure",
    [
        NotFoundError("batch not found", http_status=404, provider="gemini"),
        ProviderAPIError("invalid batch name", http_status=400, provider="gemini"),
        ProviderAPIError("permission denied", http_status=403, provider="gemini"),
    ],
    ids=["404", "400", "403"],
)
async def test_a_fatal_provider_error_yields_one_error_event(fake_hook: FakeBatchHook, failure: ProviderAPIError):
    fake_hook.add_job(JOB, JobState.RUNNING)
    fake_hook.script(JOB, failure)

    events = await all_events(trigger())

    assert len(events) == 1
    assert events[0].payload["status"] == "error"
    assert failure.message in events[0].payload["message"]
    assert events[0].payload["job_ref"] == REF.to_xcom()
    assert len(fake_hook.names("aget_batch")) == 1


async def test_any_other_exception_while_polling_yields_one_error_event_instead_of_escaping(fake_hook: FakeBatchHook):
    fake_hook.add_job(JOB, JobState.RUNNING)
    fake_hook.script(JOB, ValueError("unexpected answer shape"))

    events = await all_events(trigger())

    assert len(events) == 1
    assert events[0].payload["status"] == "error"
    assert "unexpected answer shape" in events[0].payload["message"]
    assert len(fake_hook.names("aget_batch")) == 1


async def test_a_transient_error_at_the_deadline_yields_a_timeout_naming_the_error(fake_hook: FakeBatchHook):
    fake_hook.add_job(JOB, JobState.RUNNING)
    fake_hook.script(JOB, httpx.ConnectError("connection refused"))

    events = await all_events(trigger(poll_interval=3600.0, deadline=time.time() - 1))

    assert [e.payload["status"] for e in events] == ["timeout"]
    assert JOB in events[0].payload["message"]
    assert "connection refused" in events[0].payload["message"]


async def test_a_deadline_in_the_past_yields_one_timeout_event_without_sleeping(fake_hook: FakeBatchHook):
    fake_hook.add_job(JOB, JobState.RUNNING)

    started = time.monotonic()
    events = await all_events(trigger(poll_interval=3600.0, deadline=time.time() - 1))

    assert time.monotonic() - started < 1.0
    assert len(events) == 1
    assert events[0].payload["status"] == "timeout"
    assert JOB in events[0].payload["message"]


async def test_the_last_sleep_is_cut_to_the_deadline_not_the_poll_interval(fake_hook: FakeBatchHook):
    fake_hook.add_job(JOB, JobState.RUNNING)

    started = time.monotonic()
    events = await all_events(trigger(poll_interval=3600.0, deadline=time.time() + 0.2), timeout=3.0)

    assert 0.15 <= time.monotonic() - started < 2.0
    assert [e.payload["status"] for e in events] == ["timeout"]
    # one poll at the start, one at the deadline (a third if the loop's clock wakes a hair early)
    assert 2 <= len(fake_hook.names("aget_batch")) <= 3


async def test_a_job_that_ends_before_the_deadline_gives_terminal_not_timeout(fake_hook: FakeBatchHook):
    fake_hook.add_job(JOB, JobState.RUNNING)
    fake_hook.script(JOB, JobState.RUNNING, JobState.FAILED)

    events = await all_events(trigger(deadline=time.time() + 60))

    assert [e.payload["status"] for e in events] == ["terminal"]
    assert events[0].payload["state"] == "JOB_STATE_FAILED"


async def test_a_waiting_trigger_holds_no_job_it_read_across_its_sleep(fake_hook: FakeBatchHook, monkeypatch):
    """A thousand sleeping triggers must not keep their last reads alive: objects that outlive a sleep reach the
    garbage collector's oldest generation and make its full collections (loop stalls) more frequent."""
    fake_hook.add_job(JOB, JobState.RUNNING)
    reads: list[weakref.ref[BatchJob]] = []

    async def fresh_read(name: str) -> BatchJob:
        job = fake_hook.jobs[name].model_copy()
        reads.append(weakref.ref(job))
        return job

    monkeypatch.setattr(fake_hook, "aget_batch", fresh_read)
    waiting = asyncio.create_task(all_events(trigger(poll_interval=3600.0)))
    await until_read(reads)
    await asyncio.sleep(0)

    assert [read() for read in reads] == [None]
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting


async def until_read(reads: list[Any]) -> None:
    for _ in range(1000):
        if reads:
            return
        await asyncio.sleep(0)
    raise AssertionError("the trigger never polled")


# --- on_kill: cancel only for a task a user ended --------------------------------------------------------


def attached(trig: GenAIBatchJobTrigger, map_index: int = -1) -> GenAIBatchJobTrigger:
    """The trigger as the triggerer runs it: with the task instance it serves attached."""
    trig.task_instance = SimpleNamespace(dag_id=DAG_ID, run_id=RUN_ID, task_id=TASK_ID, map_index=map_index)
    return trig


@pytest.mark.parametrize("state", ["failed", "success", "skipped", "upstream_failed", "removed"])
async def test_on_kill_cancels_the_job_of_a_task_instance_a_user_ended(
    fake_hook: FakeBatchHook, supervisor: FakeSupervisor, state: str, caplog
):
    fake_hook.add_job(JOB, JobState.RUNNING)
    supervisor.task_states = {RUN_ID: {TASK_ID: state}}
    trig = attached(trigger(cancel_on_kill=True))
    capture_log(trig, caplog)

    await trig.on_kill()

    assert fake_hook.names("acancel_batch") == [JOB]
    assert fake_hook.names("cancel_batch") == []
    assert log_messages(caplog) == [
        f"task killed (the task instance was set to {state}): cancelling {JOB}",
        f"cancellation of {JOB} requested",
    ]


@pytest.mark.parametrize(
    "state",
    [None, "scheduled", "queued", "running", "deferred", "up_for_retry", "up_for_reschedule", "restarting"],
)
async def test_on_kill_keeps_the_job_of_a_task_instance_that_was_cleared_or_moved(
    fake_hook: FakeBatchHook, supervisor: FakeSupervisor, state: str | None, caplog
):
    fake_hook.add_job(JOB, JobState.RUNNING)
    supervisor.task_states = {RUN_ID: {TASK_ID: state}}
    trig = attached(trigger(cancel_on_kill=True))
    capture_log(trig, caplog)

    await trig.on_kill()

    assert fake_hook.names("acancel_batch") == []
    shown = "none" if state is None else state
    assert log_messages(caplog) == [
        f"trigger stopped but the task instance is {shown} (cleared, rescheduled or moved) and still waits on "
        f"the job: keeping {JOB}"
    ]


async def test_on_kill_cancels_the_job_of_a_task_instance_that_no_longer_exists(
    fake_hook: FakeBatchHook, supervisor: FakeSupervisor
):
    fake_hook.add_job(JOB, JobState.RUNNING)
    supervisor.task_states = {}  # its DAG run was deleted

    await attached(trigger()).on_kill()

    assert fake_hook.names("acancel_batch") == [JOB]


async def test_on_kill_keeps_the_job_when_the_state_cannot_be_read(
    fake_hook: FakeBatchHook, supervisor: FakeSupervisor, caplog
):
    fake_hook.add_job(JOB, JobState.RUNNING)
    supervisor.fail = True
    trig = attached(trigger())
    capture_log(trig, caplog)

    await trig.on_kill()

    assert fake_hook.names("acancel_batch") == []
    (message,) = log_messages(caplog)
    assert message.startswith("trigger stopped but the task instance's state could not be read (")
    assert message.endswith(f": keeping {JOB}")


async def test_on_kill_keeps_the_job_without_a_supervisor_to_ask(fake_hook: FakeBatchHook, caplog):
    fake_hook.add_job(JOB, JobState.RUNNING)
    trig = attached(trigger())
    capture_log(trig, caplog)

    await trig.on_kill()

    assert fake_hook.names("acancel_batch") == []
    assert "could not be read" in log_messages(caplog)[0]


async def test_on_kill_keeps_the_job_when_no_task_instance_is_attached(
    fake_hook: FakeBatchHook, supervisor: FakeSupervisor
):
    fake_hook.add_job(JOB, JobState.RUNNING)
    supervisor.task_states = {RUN_ID: {TASK_ID: "failed"}}

    await trigger().on_kill()

    assert supervisor.sent == []
    assert fake_hook.names("acancel_batch") == []


async def test_on_kill_reads_the_state_of_exactly_its_task_instance(
    fake_hook: FakeBatchHook, supervisor: FakeSupervisor
):
    fake_hook.add_job(JOB, JobState.RUNNING)
    supervisor.task_states = {RUN_ID: {TASK_ID: "failed"}}

    await attached(trigger()).on_kill()

    (sent,) = supervisor.sent
    assert isinstance(sent, GetTaskStates)
    assert (sent.dag_id, sent.task_ids, sent.run_ids, sent.map_index) == (DAG_ID, [TASK_ID], [RUN_ID], None)


async def test_on_kill_of_a_mapped_task_instance_judges_its_own_map_index(
    fake_hook: FakeBatchHook, supervisor: FakeSupervisor
):
    fake_hook.add_job(JOB, JobState.RUNNING)
    # The lookup is filtered by map index; a sibling's state in the answer must not be taken for this one.
    supervisor.task_states = {RUN_ID: {f"{TASK_ID}_2": "failed", f"{TASK_ID}_3": "queued"}}

    await attached(trigger(), map_index=3).on_kill()

    assert supervisor.sent[0].map_index == 3
    assert fake_hook.names("acancel_batch") == []


async def test_on_kill_leaves_the_job_alone_when_not_cancel_on_kill(
    fake_hook: FakeBatchHook, supervisor: FakeSupervisor
):
    fake_hook.add_job(JOB, JobState.RUNNING)
    supervisor.task_states = {RUN_ID: {TASK_ID: "failed"}}

    await attached(trigger(cancel_on_kill=False)).on_kill()

    assert supervisor.sent == []
    assert fake_hook.names("acancel_batch") == []
    assert fake_hook.names("cancel_batch") == []


async def test_on_kill_after_a_cancel_whose_answer_was_lost_logs_the_job_already_ended(
    fake_hook: FakeBatchHook, supervisor: FakeSupervisor, caplog
):
    fake_hook.add_job(JOB, JobState.CANCELLED)
    supervisor.task_states = {RUN_ID: {TASK_ID: "failed"}}
    fake_hook.refuse_cancels(
        ProviderAPIError(f"Batch {JOB} has already ended and cannot be cancelled.", http_status=400, provider="gemini")
    )
    trig = attached(trigger())
    capture_log(trig, caplog)

    await trig.on_kill()

    assert log_messages(caplog)[-1] == f"{JOB} is already JOB_STATE_CANCELLED: nothing left to cancel"


async def test_on_kill_logs_a_cancel_that_really_failed_without_raising(
    fake_hook: FakeBatchHook, supervisor: FakeSupervisor, caplog
):
    fake_hook.add_job(JOB, JobState.RUNNING)
    supervisor.task_states = {RUN_ID: {TASK_ID: "failed"}}
    fake_hook.refuse_cancels(ProviderAPIError("permission denied", http_status=403, provider="gemini"))
    trig = attached(trigger())
    capture_log(trig, caplog)

    await trig.on_kill()

    failure = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in failure] == [f"cancelling {JOB} on kill failed"]
    assert "permission denied" in str(failure[0].exc_info[1])


async def test_on_kill_finishes_its_cancel_when_the_triggerer_cancels_on_kill_again(
    fake_hook: FakeBatchHook, supervisor: FakeSupervisor, monkeypatch: pytest.MonkeyPatch
):
    fake_hook.add_job(JOB, JobState.RUNNING)
    supervisor.task_states = {RUN_ID: {TASK_ID: "failed"}}
    sent, answer = asyncio.Event(), asyncio.Event()

    async def slow_cancel(name: str) -> None:
        sent.set()
        await answer.wait()
        fake_hook.calls.append(("acancel_batch", name))

    monkeypatch.setattr(fake_hook, "acancel_batch", slow_cancel)
    on_kill = asyncio.create_task(attached(trigger()).on_kill())
    await asyncio.wait_for(sent.wait(), 5)

    on_kill.cancel("__airflow_user_action__")  # what the triggerer does on its next loop, about a second later
    with pytest.raises(asyncio.CancelledError):
        await on_kill
    answer.set()
    await asyncio.wait_for(asyncio.gather(*batch_job_module._ON_KILL_WORK), 5)

    assert fake_hook.names("acancel_batch") == [JOB]
    assert not batch_job_module._ON_KILL_WORK


async def test_progress_is_logged_as_counts_once_per_change(fake_hook: FakeBatchHook, caplog):
    fake_hook.add_job(JOB, JobState.RUNNING, total=10, succeeded=4, failed=1, pending=5)
    fake_hook.script(
        JOB,
        JobState.RUNNING,
        JobState.RUNNING,  # no change: not logged again
        {"state": JobState.SUCCEEDED, "stats": BatchStats(total=10, succeeded=9, failed=1)},
    )

    trig = trigger()
    # Airflow's LoggingMixin logs through structlog straight to stdout; a stdlib logger lets caplog see it.
    trig._log = logging.getLogger("genai_batch.tests.trigger")
    with caplog.at_level(logging.INFO, logger="genai_batch.tests.trigger"):
        await all_events(trig)

    progress = [r.getMessage() for r in caplog.records if r.getMessage().startswith(f"{JOB} is ")]
    assert progress == [
        f"{JOB} is JOB_STATE_RUNNING: 4/10 succeeded, 1 failed, 5 pending (50% done)",
        f"{JOB} is JOB_STATE_SUCCEEDED: 9/10 succeeded, 1 failed, 0 pending (100% done)",
    ]


# --- the connection, as it is while the trigger waits ----------------------------------------------------------------


def connection_reads(hook: FakeBatchHook, monkeypatch: pytest.MonkeyPatch, *answers: Any) -> list[str]:
    """``hook`` reads its connection afresh, each read answered by the next of ``answers`` (an exception to raise,
    or the API key the connection holds then); returns the conn ids read."""
    hook.__dict__.pop("settings")
    reads: list[str] = []
    queue = list(answers)

    async def aget_connection(conn_id: str) -> Connection:
        reads.append(conn_id)
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, BaseException):
            raise answer
        return Connection(conn_id=conn_id, conn_type="genaigemini", host="http://fake.invalid", password=answer)

    monkeypatch.setattr(hook, "aget_connection", aget_connection)
    return reads


async def test_a_connection_that_cannot_be_read_for_a_while_is_polled_through(
    fake_hook: FakeBatchHook, monkeypatch: pytest.MonkeyPatch
):
    fake_hook.add_job(JOB, JobState.SUCCEEDED, total=1, succeeded=1)
    unreadable = AirflowNotFoundException(f"The conn_id `{FAKE_CONN_ID}` isn't defined")  # the API server was away
    reads = connection_reads(fake_hook, monkeypatch, unreadable, unreadable, unreadable, FAKE_SECRET)

    events = await all_events(trigger(max_poll_failures=5))

    assert [e.payload["status"] for e in events] == ["terminal"]
    assert reads == [FAKE_CONN_ID] * 4  # the running cost's read, two polls through, then the one that polled
    assert fake_hook.names("aget_batch") == [JOB]


async def test_a_connection_that_stays_unreadable_ends_the_wait_after_max_poll_failures_naming_it(
    fake_hook: FakeBatchHook, monkeypatch: pytest.MonkeyPatch
):
    fake_hook.add_job(JOB, JobState.RUNNING)
    connection_reads(fake_hook, monkeypatch, AirflowNotFoundException(f"The conn_id `{FAKE_CONN_ID}` isn't defined"))

    events = await all_events(trigger(max_poll_failures=3))

    assert [e.payload["status"] for e in events] == ["error"]
    assert (
        f"failed 3 times in a row; last: CredentialsUnavailableError: the connection {FAKE_CONN_ID!r}"
        in (events[0].payload["message"])
    )
    assert f"The conn_id `{FAKE_CONN_ID}` isn't defined" in events[0].payload["message"]
    assert fake_hook.names("aget_batch") == []


async def test_a_key_rotated_while_the_trigger_waits_is_read_again_when_the_old_one_is_refused(
    fake_hook: FakeBatchHook, monkeypatch: pytest.MonkeyPatch
):
    rotated = "sk-rotated-key-9876543210"
    fake_hook.add_job(JOB, JobState.RUNNING)
    revoked = ProviderAPIError("API key not valid", http_status=401, provider="gemini")
    fake_hook.script(JOB, JobState.RUNNING, revoked, JobState.SUCCEEDED)
    reads = connection_reads(fake_hook, monkeypatch, FAKE_SECRET, rotated)

    events = await all_events(trigger())

    assert [e.payload["status"] for e in events] == ["terminal"]
    assert fake_hook.names("aget_batch") == [JOB, JOB, JOB]  # polled again at once with the new key
    assert len(reads) == 2
    assert fake_hook.settings.api_key is not None and fake_hook.settings.api_key.get_secret_value() == rotated


@pytest.mark.parametrize("status", [400, 401, 403])
async def test_a_refused_key_the_connection_still_holds_ends_the_wait(
    fake_hook: FakeBatchHook, monkeypatch: pytest.MonkeyPatch, status: int
):
    fake_hook.add_job(JOB, JobState.RUNNING)
    fake_hook.script(JOB, ProviderAPIError("API key not valid", http_status=status, provider="gemini"))
    connection_reads(fake_hook, monkeypatch, FAKE_SECRET)

    events = await all_events(trigger())

    assert [e.payload["status"] for e in events] == ["error"]
    assert "API key not valid" in events[0].payload["message"]
    assert fake_hook.names("aget_batch") == [JOB]
