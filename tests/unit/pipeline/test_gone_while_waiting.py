"""A job deleted (or aged out) at the provider while a task waits on it, deferred or on its worker, and results that
are gone between the trigger's terminal event and the landing: the task says what is gone, what landed, what to do,
and returns what it landed before for that job where that is proven to be the job's own."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_provider_genai_batch.completion import BatchCompletionMixin
from airflow_provider_genai_batch.errors import GenAIBatchError, NotFoundError, ProviderAPIError
from airflow_provider_genai_batch.formats.results import ResultRow
from airflow_provider_genai_batch.job_ref import BatchJobRef
from airflow_provider_genai_batch.landing import RESULTS_FILE
from airflow_provider_genai_batch.models import JobState
from airflow_provider_genai_batch.sensors.batch_results import GenAIBatchSensor

from .fakes import (
    FAKE_CONN_ID,
    DictStateStore,
    FakeBatchHook,
    FakeTI,
    group_ref,
    make_context,
    part_ref,
    submit_op,
    succeeded,
)

JOB = "batches/job-1"
REF = BatchJobRef(provider="gemini", conn_id=FAKE_CONN_ID, job_name=JOB, request_count=3)
SENSOR_ADVICE = (
    "there is nothing left to wait on or land. Clear the submit task with this one: it submits the input again (or "
    "reads back the answers it finds landed), and this task waits on what it hands over"
)
SUBMIT_ADVICE = (
    "there is nothing left to wait on or land. Clear this task: it submits the input again (or reads back the "
    "answers it finds landed)"
)


def sensor(ref: BatchJobRef = REF, **kwargs: Any) -> GenAIBatchSensor:
    kwargs.setdefault("poll_interval", 0.01)
    return GenAIBatchSensor(task_id="wait", job_ref=ref.to_xcom(), **kwargs)


def deferred_until_gone(op: BatchCompletionMixin, context: dict[str, Any], hook: FakeBatchHook, *gone: str) -> Any:
    """Execute ``op`` until it defers; then ``gone`` are deleted at the provider, the trigger (made again from its
    row, as the triggerer makes it) runs to its event, and the task resumes with it."""
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)  # type: ignore[attr-defined]
    for name in gone:
        del hook.jobs[name]
    _, kwargs = deferred.value.trigger.serialize()
    event = asyncio.run(first_event(type(deferred.value.trigger)(**kwargs)))
    return getattr(op, deferred.value.method_name)(context, event.payload)


async def first_event(trigger: Any) -> Any:
    async for event in trigger.run():
        return event
    raise AssertionError("the trigger ended without an event")


def test_a_deferred_sensor_whose_job_is_deleted_while_it_waits_says_it_is_gone_and_what_to_clear(
    fake_hook: FakeBatchHook, output_uri: str
):
    fake_hook.add_job(JOB, JobState.RUNNING, total=3, pending=3)

    with pytest.raises(GenAIBatchError) as err:
        deferred_until_gone(sensor(output_uri=output_uri), make_context(FakeTI(task_id="wait")), fake_hook, JOB)

    assert str(err.value) == (
        f"gemini job {JOB} is gone at the provider (deleted, or aged out), and no results of it landed in "
        f"{output_uri}: {SENSOR_ADVICE}"
    )


def test_a_deferred_sensor_whose_key_is_refused_while_it_waits_fails_as_before(
    fake_hook: FakeBatchHook, output_uri: str
):
    fake_hook.add_job(JOB, JobState.RUNNING, total=3, pending=3)
    refused = ProviderAPIError("Method doesn't allow unregistered callers", http_status=403, provider="gemini")
    fake_hook.script(JOB, JobState.RUNNING, refused, refused)  # the worker's poll; the trigger's; the gone check

    with pytest.raises(GenAIBatchError, match=f"^waiting for {JOB} failed: polling {JOB} failed: .*403"):
        deferred_until_gone(sensor(output_uri=output_uri), make_context(FakeTI(task_id="wait")), fake_hook)


def test_a_deferred_group_sensor_with_a_part_deleted_while_it_waits_names_that_part(
    fake_hook: FakeBatchHook, output_uri: str
):
    ref = group_ref(part_ref(0, "batches/a", requests=1), part_ref(1, "batches/b", requests=1))
    fake_hook.add_job("batches/a", JobState.RUNNING, total=1, pending=1)
    fake_hook.add_job("batches/b", JobState.RUNNING, total=1, pending=1)

    with pytest.raises(GenAIBatchError) as err:
        deferred_until_gone(
            sensor(ref, output_uri=output_uri), make_context(FakeTI(task_id="wait")), fake_hook, "batches/a"
        )

    assert str(err.value).endswith(
        f"batches/a is gone at the provider (deleted, or aged out), and no results of it landed in {output_uri}: "
        f"{SENSOR_ADVICE}"
    )


def test_a_deferred_submit_whose_job_is_deleted_while_it_waits_says_it_is_gone_and_to_clear_it(
    fake_hook: FakeBatchHook, input_jsonl: Path, output_uri: str
):
    fake_hook.next_job_script = [JobState.RUNNING]
    op = submit_op(str(input_jsonl), output_uri=output_uri, wait_for_completion=True, poll_interval=0.01)

    with pytest.raises(GenAIBatchError) as err:
        deferred_until_gone(op, make_context(), fake_hook, "batches/fake-2")

    assert str(err.value) == (
        "gemini job batches/fake-2 is gone at the provider (deleted, or aged out), and no results of it landed in "
        f"{output_uri}: {SUBMIT_ADVICE}"
    )


def deleted(hook: FakeBatchHook, name: str) -> NotFoundError:
    """A poll step: the job ``name`` deleted at the provider between two polls, which is answered as for any name it
    lacks."""
    del hook.jobs[name]
    return NotFoundError(f"batch {name} not found", http_status=404, provider="gemini")


def test_a_submit_waiting_on_its_worker_whose_job_is_deleted_says_it_is_gone_and_to_clear_it(
    fake_hook: FakeBatchHook, input_jsonl: Path, output_uri: str
):
    fake_hook.next_job_script = [JobState.RUNNING, partial(deleted, fake_hook, "batches/fake-2")]
    op = submit_op(
        str(input_jsonl), output_uri=output_uri, wait_for_completion=True, deferrable=False, poll_interval=0.01
    )

    with pytest.raises(GenAIBatchError) as err:
        op.execute(make_context())

    assert str(err.value) == (
        "gemini job batches/fake-2 is gone at the provider (deleted, or aged out), and no results of it landed in "
        f"{output_uri}: {SUBMIT_ADVICE}"
    )


def test_a_job_deleted_between_the_terminal_event_and_the_landing_says_it_is_gone(
    fake_hook: FakeBatchHook, output_uri: str
):
    event = {"status": "terminal", "job_ref": REF.to_xcom(), "message": None, "state": "succeeded", "stats": {}}

    with pytest.raises(GenAIBatchError) as err:
        sensor(output_uri=output_uri).execute_complete(make_context(FakeTI(task_id="wait")), event=event)

    assert str(err.value) == (
        f"gemini job {JOB} is gone at the provider (deleted, or aged out), and no results of it landed in "
        f"{output_uri}: {SENSOR_ADVICE}"
    )


EXPIRED = ProviderAPIError(
    "You do not have permission to access the File files/out or it may not exist.",
    http_status=403,
    provider_status="PERMISSION_DENIED",
    provider="gemini",
)


def test_results_gone_between_the_terminal_event_and_the_landing_return_the_earlier_landing_untouched(
    fake_hook: FakeBatchHook, output_uri: str
):
    fake_hook.add_job(JOB, JobState.SUCCEEDED, total=3, succeeded=3, results=[succeeded(k) for k in "abc"])
    landed = sensor(output_uri=output_uri).execute(make_context(FakeTI(task_id="wait")))
    results = (Path(output_uri) / RESULTS_FILE).read_bytes()

    def expired() -> Any:
        yield succeeded("a")
        raise EXPIRED

    fake_hook.results[JOB] = expired
    event = {"status": "terminal", "job_ref": REF.to_xcom(), "message": None, "state": "succeeded", "stats": {}}

    manifest = sensor(output_uri=output_uri).execute_complete(make_context(FakeTI(task_id="wait")), event=event)

    assert manifest == landed
    assert (Path(output_uri) / RESULTS_FILE).read_bytes() == results


def expired_after(*keys: str) -> Callable[[], Iterator[ResultRow]]:
    """The job's results as read once its output file expired at the provider: ``keys`` read, then Gemini's 403."""

    def rows() -> Iterator[ResultRow]:
        yield from (succeeded(key) for key in keys)
        raise EXPIRED

    return rows


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferred", "poking"])
def test_a_sensor_whose_jobs_results_expired_with_nothing_landed_says_they_are_lost_and_how_to_run_again(
    fake_hook: FakeBatchHook, output_uri: str, deferrable: bool
):
    fake_hook.add_job(JOB, JobState.SUCCEEDED, total=3, succeeded=3, results=expired_after("a"))

    with pytest.raises(GenAIBatchError) as err:
        sensor(output_uri=output_uri, deferrable=deferrable).execute(make_context(FakeTI(task_id="wait")))

    assert str(err.value) == (
        f"gemini job {JOB} ended, and its results can no longer be read at the provider ({EXPIRED}): they "
        f"expired or were deleted there, and none of them landed in {output_uri}. They cannot be read again: set "
        "force_resubmit=True on the submit task and clear it with this one: it runs the input again as a new job "
        "(billed again), and this task waits on it"
    )
    assert err.value.__cause__ is EXPIRED
    assert not Path(output_uri, RESULTS_FILE).exists()


def test_a_submit_whose_jobs_results_expired_with_nothing_landed_says_how_to_run_again(
    fake_hook: FakeBatchHook, input_jsonl: Path, output_uri: str
):
    fake_hook.next_job_script = [JobState.SUCCEEDED]
    fake_hook.next_job_results = expired_after()
    op = submit_op(str(input_jsonl), output_uri=output_uri, wait_for_completion=True, deferrable=False)

    with pytest.raises(GenAIBatchError) as err:
        op.execute(make_context())

    assert str(err.value).endswith(
        f"none of them landed in {output_uri}. They cannot be read again: set force_resubmit=True on this task and "
        "clear it: it runs the input again as a new job (billed again)"
    )


def group_of_two(tmp_path: Path) -> BatchJobRef:
    """A group of two one-row parts, ``batches/a`` (key a) and ``batches/b`` (key b), both running."""
    keys = tmp_path / "input_keys.jsonl"
    keys.write_text('"a"\n"b"\n')
    parts = group_ref(part_ref(0, "batches/a", requests=1), part_ref(1, "batches/b", requests=1))
    return parts.model_copy(update={"keys_uri": str(keys)})


def test_a_group_waited_on_by_a_worker_with_a_part_deleted_names_that_part(
    fake_hook: FakeBatchHook, output_uri: str, tmp_path: Path
):
    ref = group_of_two(tmp_path)
    fake_hook.add_job("batches/a", JobState.RUNNING, total=1, pending=1)
    fake_hook.add_job("batches/b", JobState.RUNNING, total=1, pending=1)
    fake_hook.script("batches/a", JobState.RUNNING, partial(deleted, fake_hook, "batches/a"))

    with pytest.raises(GenAIBatchError) as err:
        submit_op("unused.jsonl", output_uri=output_uri, deferrable=False, poll_interval=0.01).wait_for(
            make_context(), ref
        )

    assert str(err.value) == (
        "gemini group of 2 parts (batches/a, batches/b): batches/a is gone at the provider (deleted, or aged out), and "
        f"no results of it landed in {output_uri}: {SUBMIT_ADVICE}"
    )


def test_a_group_whose_part_results_expired_after_it_landed_returns_the_earlier_landing_untouched(
    fake_hook: FakeBatchHook, output_uri: str, tmp_path: Path
):
    ref = group_of_two(tmp_path)
    fake_hook.add_job("batches/a", JobState.SUCCEEDED, total=1, succeeded=1, results=[succeeded("a")])
    fake_hook.add_job("batches/b", JobState.SUCCEEDED, total=1, succeeded=1, results=[succeeded("b")])
    landed = sensor(ref, output_uri=output_uri).execute(make_context(FakeTI(task_id="wait")))
    results = (Path(output_uri) / RESULTS_FILE).read_bytes()
    fake_hook.results["batches/b"] = expired_after()
    event = {"status": "terminal", "job_ref": ref.to_xcom(), "message": None, "states": {}}

    manifest = sensor(ref, output_uri=output_uri).execute_complete(make_context(FakeTI(task_id="wait")), event=event)

    assert manifest == landed
    assert (Path(output_uri) / RESULTS_FILE).read_bytes() == results


def test_a_cleared_waiting_submit_whose_jobs_results_expired_returns_what_it_landed_untouched(
    fake_hook: FakeBatchHook, input_jsonl: Path, output_uri: str
):
    fake_hook.next_job_script = [JobState.SUCCEEDED]
    fake_hook.next_job_results = [succeeded(k) for k in "abc"]
    store = DictStateStore()
    op = submit_op(str(input_jsonl), output_uri=output_uri, wait_for_completion=True, deferrable=False)
    landed = op.execute(make_context(store=store))
    results = (Path(output_uri) / RESULTS_FILE).read_bytes()
    fake_hook.results[landed["job_ref"]["job_name"]] = expired_after("a")

    again = submit_op(str(input_jsonl), output_uri=output_uri, wait_for_completion=True, deferrable=False).execute(
        make_context(FakeTI(try_number=2), store=store)
    )

    assert again == landed
    assert (Path(output_uri) / RESULTS_FILE).read_bytes() == results
    assert len(fake_hook.created) == 1


def test_a_create_refused_404_while_waiting_is_raised_as_it_came_over_the_results_landed(
    fake_hook: FakeBatchHook, output_uri: str
):
    fake_hook.add_job(JOB, JobState.SUCCEEDED, total=3, succeeded=3, results=[succeeded(k) for k in "abc"])
    op = sensor(output_uri=output_uri)
    op.execute(make_context(FakeTI(task_id="wait")))
    refused = NotFoundError(
        "models/gemini-1.5-flash is not found for API version v1beta, or is not supported for batchGenerateContent.",
        http_status=404,
        provider="gemini",
    )
    refused.method = "POST"  # a follow-up round's create, or a waiting part's, refused: nothing of the job is gone

    def creating() -> dict[str, Any]:
        raise refused

    with pytest.raises(NotFoundError) as err:
        op.or_landed_before(make_context(FakeTI(task_id="wait")), REF, creating)

    assert err.value is refused
    assert fake_hook.names("get_batch") == [JOB]  # the one poll of the wait; no read asking whether it is gone


def test_a_group_part_deleted_before_the_landing_is_found_reading_the_parts_up_to_it_and_no_further(
    fake_hook: FakeBatchHook, output_uri: str, tmp_path: Path
):
    keys = tmp_path / "input_keys.jsonl"
    keys.write_text('"a"\n"b"\n"c"\n"d"\n')
    names = [f"batches/{key}" for key in "abcd"]
    ref = group_ref(*(part_ref(i, name, requests=1) for i, name in enumerate(names)))
    ref = ref.model_copy(update={"keys_uri": str(keys)})
    for key, name in zip("abcd", names, strict=True):
        fake_hook.add_job(name, JobState.SUCCEEDED, total=1, succeeded=1, results=[succeeded(key)])
    event = {"status": "terminal", "job_ref": ref.to_xcom(), "message": None, "states": {}}
    del fake_hook.jobs["batches/c"]  # after the trigger saw every part end, before the task lands them
    fake_hook.calls.clear()

    with pytest.raises(GenAIBatchError) as err:
        sensor(ref, output_uri=output_uri).execute_complete(make_context(FakeTI(task_id="wait")), event=event)

    assert str(err.value).endswith(
        f"batches/c is gone at the provider (deleted, or aged out), and no results of it landed in {output_uri}: "
        f"{SENSOR_ADVICE}"
    )
    # the landing reads the parts up to the one gone; no poll named it, so asking which part is gone reads them again
    # in plan order up to the first gone, and not batches/d
    assert fake_hook.names("get_batch") == ["batches/a", "batches/b", "batches/c"] * 2
