"""GenAIBatchJobTrigger on a group of jobs: one trigger polls every unfinished part, yields one event, and
cancels every created part on kill."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from types import SimpleNamespace
from typing import Any

from airflow._shared.module_loading import import_string
from airflow.sdk import Connection
from airflow.sdk.exceptions import AirflowNotFoundException
from airflow.triggers.base import TriggerEvent
from pydantic import SecretStr

from airflow_provider_genai_batch.errors import NotFoundError, ProviderAPIError
from airflow_provider_genai_batch.hooks.gemini import GeminiSettings
from airflow_provider_genai_batch.job_ref import BatchJobRef
from airflow_provider_genai_batch.models import BatchStats, JobState
from airflow_provider_genai_batch.triggers.batch_job import GenAIBatchJobTrigger

from .fakes import (
    FAKE_SECRET,
    FakeBatchHook,
    FakeSupervisor,
    capture_log,
    group_ref,
    log_messages,
    part_ref,
)

DAG_ID, RUN_ID, TASK_ID = "genai_dag", "manual__2026-01-02T00:00:00+00:00", "submit"


GROUP = group_ref(part_ref(0, "batches/a"), part_ref(1, "batches/b"), part_ref(2, "batches/c"))


def trigger(ref: BatchJobRef = GROUP, **kwargs: Any) -> GenAIBatchJobTrigger:
    kwargs.setdefault("poll_interval", 0.001)
    return GenAIBatchJobTrigger(job_ref=ref.to_xcom(), **kwargs)


async def all_events(trig: GenAIBatchJobTrigger, timeout: float = 5.0) -> list[TriggerEvent]:
    async def drain() -> list[TriggerEvent]:
        return [event async for event in trig.run()]

    return await asyncio.wait_for(drain(), timeout)


def running(hook: FakeBatchHook, *names: str) -> None:
    for name in names:
        hook.add_job(name, JobState.RUNNING, total=10, pending=10)


def done(succeeded: int = 10) -> dict[str, Any]:
    return {"state": JobState.SUCCEEDED, "stats": BatchStats(total=10, succeeded=succeeded, failed=10 - succeeded)}


def test_batch_prices_travel_in_the_serialized_kwargs_as_json():
    prices = {"gemini-2.5-flash": {"input": 0.1, "output": 0.4}}
    original = trigger(deadline=1_900_000_000.0, batch_prices=prices)

    classpath, kwargs = original.serialize()
    rebuilt = import_string(classpath)(**kwargs)

    assert kwargs["batch_prices"] == prices
    assert json.loads(json.dumps(kwargs)) == kwargs
    assert rebuilt.serialize() == (classpath, kwargs)
    assert rebuilt.job_ref == GROUP
    assert FAKE_SECRET not in json.dumps(kwargs)


async def test_a_group_yields_one_terminal_event_with_every_parts_state(fake_hook: FakeBatchHook):
    running(fake_hook, "batches/a", "batches/b", "batches/c")
    fake_hook.script("batches/a", done())
    fake_hook.script("batches/b", JobState.RUNNING, {"state": JobState.FAILED})
    fake_hook.script("batches/c", JobState.RUNNING, JobState.RUNNING, done(9))

    events = await all_events(trigger(deadline=1_900_000_000.0))

    assert len(events) == 1
    assert events[0].payload == {
        "status": "terminal",
        "job_ref": GROUP.to_xcom(),
        "message": None,
        "states": {
            "batches/a": "JOB_STATE_SUCCEEDED",
            "batches/b": "JOB_STATE_FAILED",
            "batches/c": "JOB_STATE_SUCCEEDED",
        },
        "deadline": 1_900_000_000.0,
    }
    json.dumps(events[0].payload)


async def test_a_part_that_ended_is_not_polled_again(fake_hook: FakeBatchHook):
    running(fake_hook, "batches/a", "batches/b", "batches/c")
    fake_hook.script("batches/a", done())
    fake_hook.script("batches/b", JobState.RUNNING, done())
    fake_hook.script("batches/c", JobState.RUNNING, JobState.RUNNING, done())

    await all_events(trigger())

    polls = fake_hook.names("aget_batch")
    assert (polls.count("batches/a"), polls.count("batches/b"), polls.count("batches/c")) == (1, 2, 3)


async def test_a_free_slot_with_parts_waiting_yields_ready(fake_hook: FakeBatchHook):
    ref = group_ref(part_ref(0, "batches/a"), part_ref(1, "batches/b"), part_ref(2, None), max_concurrent_jobs=2)
    running(fake_hook, "batches/a", "batches/b")
    fake_hook.script("batches/a", JobState.RUNNING, done())

    events = await all_events(trigger(ref))

    assert [e.payload["status"] for e in events] == ["ready"]
    assert events[0].payload["states"] == {"batches/a": "JOB_STATE_SUCCEEDED", "batches/b": "JOB_STATE_RUNNING"}
    assert events[0].payload["job_ref"] == ref.to_xcom()


async def test_the_deadline_yields_one_timeout_event_naming_the_group_and_its_unfinished_parts(
    fake_hook: FakeBatchHook,
):
    running(fake_hook, "batches/a", "batches/b", "batches/c")
    fake_hook.script("batches/a", done())

    events = await all_events(trigger(poll_interval=3600.0, deadline=time.time() - 1))

    assert [e.payload["status"] for e in events] == ["timeout"]
    assert events[0].payload["message"] == (
        "group of 3 parts (batches/a, batches/b, batches/c) did not finish before its deadline: "
        "2 still running (batches/b, batches/c)"
    )


async def test_a_permanent_error_on_one_part_yields_one_error_event_naming_it(fake_hook: FakeBatchHook):
    running(fake_hook, "batches/a", "batches/b", "batches/c")
    fake_hook.script("batches/b", NotFoundError("batch batches/b not found", http_status=404, provider="gemini"))

    events = await all_events(trigger())

    assert [e.payload["status"] for e in events] == ["error"]
    assert "polling batches/b failed: " in events[0].payload["message"]
    assert events[0].payload["message"].startswith("group of 3 parts (")


async def test_transient_errors_on_a_part_are_tolerated_below_max_poll_failures(fake_hook: FakeBatchHook):
    unavailable = ProviderAPIError("backend unavailable", http_status=503, provider="gemini")
    running(fake_hook, "batches/a", "batches/b", "batches/c")
    fake_hook.script("batches/a", unavailable, unavailable, done())
    fake_hook.script("batches/b", done())
    fake_hook.script("batches/c", done())

    events = await all_events(trigger(max_poll_failures=3))

    assert [e.payload["status"] for e in events] == ["terminal"]


async def test_the_group_progress_is_logged_once_per_change(fake_hook: FakeBatchHook, caplog):
    ref = group_ref(part_ref(0, "batches/a"), part_ref(1, "batches/b"))
    running(fake_hook, "batches/a", "batches/b")
    fake_hook.script("batches/a", done())
    fake_hook.script("batches/b", JobState.RUNNING, done(8))
    trig = trigger(ref)
    capture_log(trig, caplog)

    await all_events(trig)

    assert log_messages(caplog, logging.INFO) == [
        "group of 2 parts (batches/a, batches/b): 1/2 parts ended, 10/20 rows succeeded, 0 failed, 10 pending "
        "(50% done)",
        "group of 2 parts (batches/a, batches/b): 2/2 parts ended, 18/20 rows succeeded, 2 failed, 0 pending "
        "(100% done)",
    ]


def reporting_usage(prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    """An OpenAI batch that ended and reports its token totals on the batch object."""
    return {
        "state": JobState.SUCCEEDED,
        "model": "gpt-4o-mini",
        "stats": BatchStats(total=10, succeeded=10),
        "raw": {"usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}},
    }


def as_openai(hook: FakeBatchHook, connection_prices: dict[str, Any] | None) -> BatchJobRef:
    """The fake speaks for OpenAI (whose batches report their tokens), with ``connection_prices`` in its extra."""
    hook.provider = "openai"  # type: ignore[misc]
    hook.__dict__["settings"] = GeminiSettings(
        api_key=SecretStr(FAKE_SECRET), base_url="http://fake.invalid", batch_prices=connection_prices
    )
    running(hook, "batch_a", "batch_b")
    hook.script("batch_a", reporting_usage(1_000_000, 0))
    hook.script("batch_b", reporting_usage(0, 1_000_000))
    return group_ref(part_ref(0, "batch_a"), part_ref(1, "batch_b"), provider="openai")


async def test_the_running_cost_is_priced_with_the_connections_batch_prices(fake_hook: FakeBatchHook, caplog):
    ref = as_openai(fake_hook, {"gpt-4o-mini": {"input": 1.0, "output": 2.0}})
    trig = trigger(ref)
    capture_log(trig, caplog)

    await all_events(trig)

    (line,) = log_messages(caplog, logging.INFO)
    assert line.endswith("; tokens so far: 1000000 in, 1000000 out over 2 parts (est. $3.0000)")


async def test_the_operators_batch_prices_win_over_the_connections(fake_hook: FakeBatchHook, caplog):
    ref = as_openai(fake_hook, {"gpt-4o-mini": {"input": 1.0, "output": 2.0}})
    trig = trigger(ref, batch_prices={"gpt-4o-mini": {"input": 10.0, "output": 20.0}})
    capture_log(trig, caplog)

    await all_events(trig)

    (line,) = log_messages(caplog, logging.INFO)
    assert line.endswith("(est. $30.0000)")


# --- on_kill ------------------------------------------------------------------------------------------------


def attached(trig: GenAIBatchJobTrigger) -> GenAIBatchJobTrigger:
    trig.task_instance = SimpleNamespace(dag_id=DAG_ID, run_id=RUN_ID, task_id=TASK_ID, map_index=-1)
    return trig


async def test_on_kill_cancels_every_created_part_of_a_group_a_user_ended(
    fake_hook: FakeBatchHook, supervisor: FakeSupervisor, caplog
):
    ref = group_ref(part_ref(0, "batches/a"), part_ref(1, "batches/b"), part_ref(2, None), max_concurrent_jobs=2)
    running(fake_hook, "batches/a", "batches/b")
    supervisor.task_states = {RUN_ID: {TASK_ID: "failed"}}
    trig = attached(trigger(ref))
    capture_log(trig, caplog)

    await trig.on_kill()

    assert sorted(fake_hook.names("acancel_batch")) == ["batches/a", "batches/b"]
    assert log_messages(caplog) == [
        "task killed (the task instance was set to failed): cancelling group of 3 parts (batches/a, batches/b; "
        "1 not created yet)",
        "cancellation of batches/a requested",
        "cancellation of batches/b requested",
    ]


async def test_on_kill_keeps_every_part_of_a_group_whose_task_was_cleared(
    fake_hook: FakeBatchHook, supervisor: FakeSupervisor
):
    running(fake_hook, "batches/a", "batches/b", "batches/c")
    supervisor.task_states = {RUN_ID: {TASK_ID: "restarting"}}

    await attached(trigger()).on_kill()

    assert fake_hook.names("acancel_batch") == []


async def test_on_kill_of_a_group_cancels_the_other_parts_when_one_cancel_fails(
    fake_hook: FakeBatchHook, supervisor: FakeSupervisor, caplog
):
    running(fake_hook, "batches/a", "batches/b", "batches/c")
    supervisor.task_states = {RUN_ID: {TASK_ID: "failed"}}
    fake_hook.refuse_cancels(ProviderAPIError("permission denied", http_status=403, provider="gemini"))
    trig = attached(trigger())
    capture_log(trig, caplog)

    await trig.on_kill()

    assert sorted(fake_hook.names("acancel_batch")) == ["batches/a", "batches/b", "batches/c"]
    errors = log_messages(caplog, logging.ERROR)
    assert len(errors) == 1
    assert errors[0].startswith("cancelling batches/")
    assert "permission denied" in errors[0]
    assert sum(message.startswith("cancellation of ") for message in log_messages(caplog)) == 2


async def test_a_connection_that_cannot_be_read_for_a_while_is_polled_through_for_every_part(
    fake_hook: FakeBatchHook, monkeypatch
):
    running(fake_hook, "batches/a", "batches/b", "batches/c")
    for name in ("batches/a", "batches/b", "batches/c"):
        fake_hook.script(name, done())
    fake_hook.__dict__.pop("settings")
    reads: list[str] = []

    async def aget_connection(conn_id: str) -> Connection:
        reads.append(conn_id)
        if len(reads) <= 4:  # the running cost's read, then one round of three parts: the API server is away
            raise AirflowNotFoundException(f"The conn_id `{conn_id}` isn't defined")
        return Connection(conn_id=conn_id, conn_type="genaigemini", host="http://fake.invalid", password=FAKE_SECRET)

    monkeypatch.setattr(fake_hook, "aget_connection", aget_connection)

    events = await all_events(trigger(max_poll_failures=3))

    assert [e.payload["status"] for e in events] == ["terminal"]
    assert sorted(fake_hook.names("aget_batch")) == ["batches/a", "batches/b", "batches/c"]


async def test_a_trigger_re_created_mid_wait_from_its_stored_kwargs_finishes_the_group(fake_hook: FakeBatchHook):
    from airflow.serialization.serialized_objects import BaseSerialization  # how the triggerer stores trigger kwargs

    running(fake_hook, "batches/a", "batches/b", "batches/c")
    fake_hook.script("batches/a", done())  # part a ends before the triggerer restarts
    first = trigger(deadline=time.time() + 3600, max_poll_failures=3)
    events = first.run()
    polled = asyncio.ensure_future(anext(events))
    while len(fake_hook.names("aget_batch")) < 6:  # two rounds: a ended, b and c still run
        await asyncio.sleep(0.001)
    polled.cancel()  # the triggerer stops ...
    with contextlib.suppress(asyncio.CancelledError):
        await polled
    classpath, kwargs = first.serialize()
    stored = BaseSerialization.deserialize(BaseSerialization.serialize(kwargs))
    fake_hook.script("batches/b", done())
    fake_hook.script("batches/c", done(succeeded=8))

    (event,) = await all_events(import_string(classpath)(**stored))  # ... and another one runs the trigger again

    assert event.payload["status"] == "terminal"
    assert event.payload["states"] == dict.fromkeys(("batches/a", "batches/b", "batches/c"), "JOB_STATE_SUCCEEDED")
    assert event.payload["deadline"] == kwargs["deadline"]
