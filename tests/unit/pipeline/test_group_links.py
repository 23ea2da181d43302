"""The extra link of a task waiting on a group of jobs: the part worth looking at (one still running, else one that
failed), while deferred, while poking and after; every created part's console page in the task log."""

from __future__ import annotations

from typing import Any

import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_provider_genai_batch import completion
from airflow_provider_genai_batch import links as links_module
from airflow_provider_genai_batch.consoles import job_page
from airflow_provider_genai_batch.errors import JobFailedError, JobTimeoutError
from airflow_provider_genai_batch.job_ref import BatchJobRef
from airflow_provider_genai_batch.links import GenAIBatchJobLink
from airflow_provider_genai_batch.models import JobState, ResultCounts, ResultsManifest
from airflow_provider_genai_batch.prices import PriceTable
from airflow_provider_genai_batch.sensors.batch_results import GenAIBatchSensor

from .fakes import FakeBatchHook, capture_log, group_ref, log_messages, make_context, part_ref

THREE = group_ref(part_ref(0, "batches/a"), part_ref(1, "batches/b"), part_ref(2, "batches/c"))


@pytest.fixture
def stored_ref(monkeypatch: pytest.MonkeyPatch) -> None:
    """The XCom the link falls back to holds the group's ref (its recorded page is the first part's)."""
    stored = THREE.model_copy(update={"console_url": "http://fake.invalid/v1beta/batches/a"}).to_xcom()
    monkeypatch.setattr(links_module.XCom, "get_value", staticmethod(lambda *, ti_key, key: stored))


@pytest.fixture
def landing(monkeypatch: pytest.MonkeyPatch) -> dict[str, JobState]:
    """``land_group`` replaced: its manifest ends in the state the test puts under ``"state"``."""
    outcome = {"state": JobState.SUCCEEDED}

    def land_group(hook: Any, ref: BatchJobRef, jobs: Any, directory: Any, prices: PriceTable) -> ResultsManifest:
        return ResultsManifest(
            job_ref=ref,
            state=outcome["state"],
            counts=ResultCounts(total=30, succeeded=30),
            results_uri=str(directory / "results.jsonl"),
            manifest_uri=str(directory / "manifest.json"),
            written_at="2026-01-02T00:00:00Z",
        )

    monkeypatch.setattr(completion, "land_group", land_group)
    return outcome


def states(hook: FakeBatchHook, **by_job: JobState) -> None:
    for job, state in by_job.items():
        hook.add_job(f"batches/{job}", state, total=10)


def link(op: GenAIBatchSensor) -> str:
    return GenAIBatchJobLink().get_link(op, ti_key="ti-key-1")


def sensor(output_uri: str, **kwargs: Any) -> GenAIBatchSensor:
    return GenAIBatchSensor(task_id="wait", job_ref=THREE.to_xcom(), output_uri=output_uri, **kwargs)


def test_a_deferred_groups_link_shows_a_part_still_running_not_one_that_finished(
    fake_hook: FakeBatchHook, output_uri: str, stored_ref: None
):
    states(fake_hook, a=JobState.SUCCEEDED, b=JobState.RUNNING, c=JobState.RUNNING)
    op = sensor(output_uri)

    with pytest.raises(TaskDeferred):
        op.execute(make_context())

    assert link(op) == job_page(fake_hook, "batches/b")


def test_a_resumed_groups_link_shows_the_part_that_failed_the_task(
    fake_hook: FakeBatchHook, output_uri: str, stored_ref: None, landing: dict[str, JobState]
):
    states(fake_hook, a=JobState.SUCCEEDED, b=JobState.FAILED, c=JobState.SUCCEEDED)
    landing["state"] = JobState.FAILED
    op = sensor(output_uri)  # a resumed run starts from a fresh operator
    event = {"status": "terminal", "job_ref": THREE.to_xcom(), "message": None, "states": {}, "deadline": None}

    with pytest.raises(JobFailedError):
        op.execute_complete(make_context(), event)

    assert link(op) == job_page(fake_hook, "batches/b")


def test_a_group_that_succeeded_links_to_its_first_part(
    fake_hook: FakeBatchHook, output_uri: str, stored_ref: None, landing: dict[str, JobState]
):
    states(fake_hook, a=JobState.SUCCEEDED, b=JobState.SUCCEEDED, c=JobState.SUCCEEDED)
    op = sensor(output_uri)
    event = {"status": "terminal", "job_ref": THREE.to_xcom(), "message": None, "states": {}, "deadline": None}

    op.execute_complete(make_context(), event)

    assert link(op) == job_page(fake_hook, "batches/a")


def test_a_poking_groups_link_follows_the_part_still_running(fake_hook: FakeBatchHook, output_uri: str):
    states(fake_hook, a=JobState.RUNNING, b=JobState.RUNNING, c=JobState.RUNNING)
    fake_hook.script("batches/a", JobState.RUNNING, JobState.SUCCEEDED)
    op = sensor(output_uri, deferrable=False)

    assert op.poke(make_context()) is False
    first = link(op)
    assert op.poke(make_context()) is False

    assert (first, link(op)) == (job_page(fake_hook, "batches/a"), job_page(fake_hook, "batches/b"))


def test_a_run_that_saw_no_part_links_to_the_refs_recorded_page(stored_ref: None):
    assert link(sensor("/tmp/out")) == "http://fake.invalid/v1beta/batches/a"


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferred", "poking"])
def test_every_created_parts_console_page_is_logged_when_the_wait_starts(
    fake_hook: FakeBatchHook, output_uri: str, caplog: pytest.LogCaptureFixture, deferrable: bool
):
    ref = group_ref(part_ref(0, "batches/a"), part_ref(1, "batches/b"), part_ref(2, "batches/r1", round=1))
    states(fake_hook, a=JobState.SUCCEEDED, b=JobState.RUNNING, r1=JobState.RUNNING)
    op = GenAIBatchSensor(
        task_id="wait",
        job_ref=ref.to_xcom(),
        output_uri=output_uri,
        deferrable=deferrable,
        poll_interval=0.01,
        timeout=0.05,
        cancel_on_timeout=False,
    )
    capture_log(op, caplog)

    with pytest.raises((TaskDeferred, JobTimeoutError)):  # only the log is looked at here
        op.execute(make_context())

    pages = [message for message in log_messages(caplog) if message.startswith("part ")]
    assert pages == [
        f"part 0, job batches/a: {job_page(fake_hook, 'batches/a')}",
        f"part 1, job batches/b: {job_page(fake_hook, 'batches/b')}",
        f"part 2 of round 1, job batches/r1: {job_page(fake_hook, 'batches/r1')}",
    ]


def test_a_resumed_deferred_sensor_waiting_again_does_not_log_the_parts_pages_again(
    fake_hook: FakeBatchHook, output_uri: str, caplog: pytest.LogCaptureFixture
):
    states(fake_hook, a=JobState.SUCCEEDED, b=JobState.RUNNING, c=JobState.SUCCEEDED)
    first = sensor(output_uri)
    capture_log(first, caplog)
    with pytest.raises(TaskDeferred):
        first.execute(make_context())
    resumed = sensor(output_uri)  # a resumed run starts from a fresh operator
    capture_log(resumed, caplog)
    event = {"status": "terminal", "job_ref": THREE.to_xcom(), "message": None, "states": {}, "deadline": None}

    with pytest.raises(TaskDeferred):  # the trigger saw every part end, but batches/b reads as running now
        resumed.execute_complete(make_context(), event)

    pages = [message for message in log_messages(caplog) if message.startswith("part ")]
    assert pages == [
        f"part {index}, job batches/{job}: {job_page(fake_hook, f'batches/{job}')}" for index, job in enumerate("abc")
    ]
