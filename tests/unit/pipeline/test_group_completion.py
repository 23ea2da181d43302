"""Waiting on a group of jobs (BatchCompletionMixin): parts created as slots free, one landing per group end,
follow-up rounds waited on, and timeout, kill and cancel acting on every created part.

The landing itself (``land_group``) is replaced by a recorder: what is checked here is when it is called
and with what, and what the task does with the manifest it returns.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import Asset
from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR, TriggerFailureReason
from airflow.sdk.exceptions import AirflowSensorTimeout, TaskDeferred

from airflow_provider_genai_batch import completion
from airflow_provider_genai_batch.consoles import job_page
from airflow_provider_genai_batch.errors import GenAIBatchError, JobFailedError, JobTimeoutError, ProviderAPIError
from airflow_provider_genai_batch.job_ref import BatchJobRef
from airflow_provider_genai_batch.models import JobState, ResultCounts, ResultsManifest
from airflow_provider_genai_batch.operators.jobs import GenAIBatchCancelJobOperator
from airflow_provider_genai_batch.prices import PriceTable
from airflow_provider_genai_batch.sensors.batch_results import GenAIBatchSensor
from airflow_provider_genai_batch.triggers.batch_job import GenAIBatchJobTrigger

from .fakes import (
    FAKE_CONN_ID,
    FakeBatchHook,
    FakeSupervisor,
    FakeTI,
    capture_log,
    group_ref,
    log_messages,
    make_context,
    outlet_events,
    part_ref,
    succeeded,
)

ASSET = Asset("genai://batches/split")


THREE = group_ref(part_ref(0, "batches/a"), part_ref(1, "batches/b"), part_ref(2, "batches/c"))
CAPPED = group_ref(part_ref(0, "batches/a"), part_ref(1, "batches/b"), part_ref(2, None), max_concurrent_jobs=2)
CAPPED_ALL_CREATED = group_ref(
    part_ref(0, "batches/a"), part_ref(1, "batches/b"), part_ref(2, "batches/c"), max_concurrent_jobs=2
)
ROUND_1 = group_ref(
    part_ref(0, "batches/a"),
    part_ref(1, "batches/b"),
    part_ref(2, "batches/c"),
    part_ref(3, "batches/r1", requests=2, round=1),
)


@dataclass
class Landings:
    """Every ``land_group`` call, and the counts the next manifest reports (all succeeded unless told)."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    counts: ResultCounts | None = None
    state: JobState = JobState.SUCCEEDED


@pytest.fixture
def landings(monkeypatch: pytest.MonkeyPatch) -> Landings:
    record = Landings()

    def land_group(hook: Any, ref: BatchJobRef, jobs: Any, directory: Any, prices: PriceTable) -> ResultsManifest:
        record.calls.append({"hook": hook, "ref": ref, "jobs": dict(jobs), "directory": directory, "prices": prices})
        total = ref.request_count or 0
        return ResultsManifest(
            job_ref=ref,
            state=record.state,
            counts=record.counts or ResultCounts(total=total, succeeded=total),
            results_uri=str(directory / "results.jsonl"),
            manifest_uri=str(directory / "manifest.json"),
            written_at=datetime(2026, 1, 2, tzinfo=timezone.utc),
        )

    monkeypatch.setattr(completion, "land_group", land_group)
    return record


class SubmitStandIn(GenAIBatchSensor):
    """What the submit operator does through the two hooks the mixin leaves to it: it creates waiting parts
    (``created``: the refs it returns, in turn; the fake provider gets their new jobs, running) and sends
    follow-up rounds (``follow_ups``: the refs it returns, in turn, then None)."""

    def __init__(
        self, *, created: list[BatchJobRef] | None = None, follow_ups: list[BatchJobRef] | None = None, **kw: Any
    ):
        kw.setdefault("task_id", "submit")
        kw.setdefault("poll_interval", 0.001)
        kw.setdefault("outlets", [ASSET])
        super().__init__(job_ref=None, **kw)
        self.created = list(created or [])
        self.follow_ups = list(follow_ups or [])
        self.asked_to_create: list[BatchJobRef] = []
        self.followed: list[tuple[BatchJobRef, ResultsManifest]] = []
        self.hook: FakeBatchHook | None = None

    def create_waiting_parts(self, context: Any, ref: BatchJobRef) -> BatchJobRef:
        self.asked_to_create.append(ref)
        return self.created.pop(0)

    def follow_up(self, context: Any, ref: BatchJobRef, manifest: ResultsManifest) -> BatchJobRef | None:
        self.followed.append((ref, manifest))
        return self.follow_ups.pop(0) if self.follow_ups else None


def event(status: str, ref: BatchJobRef, message: str | None = None, deadline: float | None = None) -> dict[str, Any]:
    return {"status": status, "job_ref": ref.to_xcom(), "message": message, "states": {}, "deadline": deadline}


def jobs_in(hook: FakeBatchHook, state: JobState, *names: str) -> None:
    for name in names:
        hook.add_job(name, state, total=10, succeeded=10 if state is JobState.SUCCEEDED else 0)


# --- READY: the task creates waiting parts and waits again -------------------------------------------------


def test_a_ready_event_has_the_submit_create_the_waiting_parts_and_defer_again_with_the_same_deadline(
    fake_hook: FakeBatchHook, output_uri: str, landings: Landings
):
    jobs_in(fake_hook, JobState.SUCCEEDED, "batches/a")
    jobs_in(fake_hook, JobState.RUNNING, "batches/b", "batches/c")
    op = SubmitStandIn(output_uri=output_uri, created=[CAPPED_ALL_CREATED])

    with pytest.raises(TaskDeferred) as deferred:
        op.execute_complete(make_context(), event("ready", CAPPED, deadline=1_900_000_000.0))

    assert op.asked_to_create == [CAPPED]
    trigger = deferred.value.trigger
    assert isinstance(trigger, GenAIBatchJobTrigger)
    assert trigger.job_ref == CAPPED_ALL_CREATED
    assert trigger.deadline == 1_900_000_000.0
    assert deferred.value.method_name == "execute_complete"
    assert landings.calls == []


def test_a_submit_resumed_to_create_waiting_parts_logs_only_the_new_parts_console_pages(
    fake_hook: FakeBatchHook, output_uri: str, landings: Landings, caplog: pytest.LogCaptureFixture
):
    jobs_in(fake_hook, JobState.SUCCEEDED, "batches/a")
    jobs_in(fake_hook, JobState.RUNNING, "batches/b", "batches/c")
    op = SubmitStandIn(output_uri=output_uri, created=[CAPPED_ALL_CREATED])  # a resumed run: a fresh operator
    capture_log(op, caplog)

    with pytest.raises(TaskDeferred):
        op.execute_complete(make_context(), event("ready", CAPPED))

    pages = [message for message in log_messages(caplog) if message.startswith("part ")]
    assert pages == [f"part 2, job batches/c: {job_page(fake_hook, 'batches/c')}"]  # a and b were logged before


def test_parts_created_after_a_ready_event_that_ended_at_once_land_without_deferring(
    fake_hook: FakeBatchHook, output_uri: str, landings: Landings
):
    jobs_in(fake_hook, JobState.SUCCEEDED, "batches/a", "batches/b", "batches/c")
    op = SubmitStandIn(output_uri=output_uri, created=[CAPPED_ALL_CREATED])

    manifest = op.execute_complete(make_context(), event("ready", CAPPED))

    assert [call["ref"] for call in landings.calls] == [CAPPED_ALL_CREATED]
    assert manifest["job_ref"] == CAPPED_ALL_CREATED.to_xcom()


def test_a_ready_event_for_which_no_part_was_created_fails_instead_of_coming_back_at_once(
    fake_hook: FakeBatchHook, output_uri: str, landings: Landings
):
    op = SubmitStandIn(output_uri=output_uri, created=[CAPPED])

    with pytest.raises(GenAIBatchError, match="a slot was free for a waiting part but none was created"):
        op.execute_complete(make_context(), event("ready", CAPPED))


def test_only_the_submit_creates_parts_a_sensor_given_a_ready_event_fails_clearly(
    fake_hook: FakeBatchHook, output_uri: str
):
    op = GenAIBatchSensor(task_id="wait", job_ref=CAPPED.to_xcom(), output_uri=output_uri)

    with pytest.raises(GenAIBatchError, match=r"parts \[2\] wait to be created, and only the submit operator"):
        op.execute_complete(make_context(), event("ready", CAPPED))


def test_a_sensor_refuses_a_group_with_parts_never_created_before_waiting(fake_hook: FakeBatchHook, output_uri: str):
    op = GenAIBatchSensor(task_id="wait", job_ref=CAPPED.to_xcom(), output_uri=output_uri)

    with pytest.raises(GenAIBatchError, match=r"parts \[2\] were never created, and a sensor cannot create them"):
        op.execute(make_context())

    assert fake_hook.calls == []


def test_waiting_on_the_worker_creates_waiting_parts_as_slots_free_then_lands_once(
    fake_hook: FakeBatchHook, output_uri: str, landings: Landings
):
    jobs_in(fake_hook, JobState.RUNNING, "batches/a", "batches/b")
    fake_hook.script("batches/a", JobState.RUNNING, JobState.SUCCEEDED)
    fake_hook.script("batches/b", JobState.RUNNING, JobState.RUNNING, JobState.SUCCEEDED)
    fake_hook.add_job("batches/c", JobState.SUCCEEDED, total=10, succeeded=10)
    op = SubmitStandIn(output_uri=output_uri, deferrable=False, created=[CAPPED_ALL_CREATED])

    manifest = op.wait_for(make_context(), CAPPED)

    assert op.asked_to_create == [CAPPED]
    assert [call["ref"] for call in landings.calls] == [CAPPED_ALL_CREATED]
    assert manifest["counts"]["succeeded"] == 30
    assert fake_hook.names("get_batch").count("batches/c") == 1  # one poll: it lands as the poll saw it end


# --- TERMINAL: one landing, then follow_up ------------------------------------------------------------------


def test_a_terminal_event_reads_every_part_again_and_lands_the_group_once(
    fake_hook: FakeBatchHook, output_uri: str, landings: Landings
):
    jobs_in(fake_hook, JobState.SUCCEEDED, "batches/a", "batches/b", "batches/c")
    events = outlet_events()
    op = SubmitStandIn(output_uri=output_uri)

    manifest = op.execute_complete(make_context(events=events), event("terminal", THREE))

    (call,) = landings.calls
    assert call["hook"] is fake_hook
    assert call["ref"] == THREE
    assert call["jobs"] == {name: fake_hook.jobs[name] for name in ("batches/a", "batches/b", "batches/c")}
    assert str(call["directory"]) == output_uri
    assert isinstance(call["prices"], PriceTable)
    assert fake_hook.names("get_batch") == ["batches/a", "batches/b", "batches/c"]
    assert [ref for ref, _ in op.followed] == [THREE]
    assert manifest["manifest_uri"] == str(Path(output_uri) / "manifest.json")
    assert events[ASSET].extra["manifest_uri"] == manifest["manifest_uri"]


def test_a_part_seen_ended_that_reads_as_running_again_is_waited_on_again_not_landed(
    fake_hook: FakeBatchHook, output_uri: str, landings: Landings
):
    jobs_in(fake_hook, JobState.SUCCEEDED, "batches/a", "batches/c")
    jobs_in(fake_hook, JobState.RUNNING, "batches/b")  # the trigger saw it succeeded; it reads as running
    op = SubmitStandIn(output_uri=output_uri)

    with pytest.raises(TaskDeferred) as deferred:
        op.execute_complete(make_context(), event("terminal", THREE, deadline=1_900_000_000.0))

    assert deferred.value.trigger.job_ref == THREE
    assert deferred.value.trigger.deadline == 1_900_000_000.0
    assert landings.calls == []


def test_a_poked_group_lands_the_parts_as_the_polls_saw_them_end(
    fake_hook: FakeBatchHook, output_uri: str, landings: Landings
):
    jobs_in(fake_hook, JobState.SUCCEEDED, "batches/a", "batches/b", "batches/c")
    fake_hook.script("batches/b", JobState.SUCCEEDED, JobState.RUNNING)  # a read after the poll says running
    op = GenAIBatchSensor(task_id="wait", job_ref=THREE.to_xcom(), output_uri=output_uri, deferrable=False)

    done = op.poke(make_context())

    assert done is not False
    (call,) = landings.calls
    assert {name: job.state for name, job in call["jobs"].items()} == dict.fromkeys(
        ("batches/a", "batches/b", "batches/c"), JobState.SUCCEEDED
    )


def test_a_follow_up_ref_is_waited_on_deferring_again(fake_hook: FakeBatchHook, output_uri: str, landings: Landings):
    jobs_in(fake_hook, JobState.SUCCEEDED, "batches/a", "batches/b", "batches/c")
    jobs_in(fake_hook, JobState.RUNNING, "batches/r1")
    events = outlet_events()
    op = SubmitStandIn(output_uri=output_uri, follow_ups=[ROUND_1])

    with pytest.raises(TaskDeferred) as deferred:
        op.execute_complete(make_context(events=events), event("terminal", THREE))

    assert deferred.value.trigger.job_ref == ROUND_1
    assert len(landings.calls) == 1
    assert ASSET not in events  # nothing announced before the last round landed


def test_a_follow_up_round_that_ended_lands_the_whole_group_again_and_then_finishes(
    fake_hook: FakeBatchHook, output_uri: str, landings: Landings
):
    jobs_in(fake_hook, JobState.SUCCEEDED, "batches/a", "batches/b", "batches/c", "batches/r1")
    op = SubmitStandIn(output_uri=output_uri, follow_ups=[ROUND_1])

    manifest = op.execute_complete(make_context(), event("terminal", THREE))

    assert [call["ref"] for call in landings.calls] == [THREE, ROUND_1]
    assert [ref for ref, _ in op.followed] == [THREE, ROUND_1]
    assert set(landings.calls[1]["jobs"]) == {"batches/a", "batches/b", "batches/c", "batches/r1"}
    assert manifest["job_ref"] == ROUND_1.to_xcom()


def test_a_group_is_judged_over_the_whole_input_and_the_failure_names_the_group(
    fake_hook: FakeBatchHook, output_uri: str, landings: Landings
):
    jobs_in(fake_hook, JobState.SUCCEEDED, "batches/a", "batches/b", "batches/c")
    landings.counts = ResultCounts(total=30, succeeded=27, failed=3)
    op = SubmitStandIn(output_uri=output_uri, max_failed_ratio=0.05)

    with pytest.raises(JobFailedError) as err:
        op.execute_complete(make_context(), event("terminal", THREE))

    assert str(err.value).startswith(
        "gemini group of 3 parts (batches/a, batches/b, batches/c): 3 of 30 rows did not succeed (3 failed"
    )


def test_a_group_within_max_failed_ratio_over_the_whole_input_passes(
    fake_hook: FakeBatchHook, output_uri: str, landings: Landings
):
    jobs_in(fake_hook, JobState.SUCCEEDED, "batches/a", "batches/b", "batches/c")
    landings.counts = ResultCounts(total=30, succeeded=27, failed=3)

    manifest = SubmitStandIn(output_uri=output_uri, max_failed_ratio=0.1).execute_complete(
        make_context(), event("terminal", THREE)
    )

    assert manifest["counts"]["failed"] == 3


def test_a_group_whose_parts_all_failed_fails_naming_the_group(
    fake_hook: FakeBatchHook, output_uri: str, landings: Landings
):
    jobs_in(fake_hook, JobState.FAILED, "batches/a", "batches/b", "batches/c")
    landings.state = JobState.FAILED

    with pytest.raises(JobFailedError, match=r"gemini group of 3 parts \(.*\) ended JOB_STATE_FAILED"):
        SubmitStandIn(output_uri=output_uri).execute_complete(make_context(), event("terminal", THREE))


def test_an_error_event_fails_naming_the_group(fake_hook: FakeBatchHook, output_uri: str, landings: Landings):
    message = "group of 3 parts (...): polling batches/b failed: permission denied"

    with pytest.raises(GenAIBatchError) as err:
        SubmitStandIn(output_uri=output_uri).execute_complete(make_context(), event("error", THREE, message))

    assert str(err.value) == f"waiting for group of 3 parts (batches/a, batches/b, batches/c) failed: {message}"
    assert landings.calls == []
    assert fake_hook.names("cancel_batch") == []


def test_the_sensor_lands_a_group_submitted_without_waiting(
    fake_hook: FakeBatchHook, output_uri: str, landings: Landings
):
    jobs_in(fake_hook, JobState.SUCCEEDED, "batches/a", "batches/b", "batches/c")
    op = GenAIBatchSensor(task_id="wait", job_ref=THREE.to_xcom(), output_uri=output_uri, deferrable=False)

    manifest = op.execute(make_context())

    assert [call["ref"] for call in landings.calls] == [THREE]
    assert manifest["counts"]["total"] == 30


def test_a_deferrable_sensor_defers_once_for_the_whole_group(fake_hook: FakeBatchHook, output_uri: str):
    jobs_in(fake_hook, JobState.RUNNING, "batches/a", "batches/b", "batches/c")
    op = GenAIBatchSensor(
        task_id="wait", job_ref=THREE.to_xcom(), output_uri=output_uri, batch_prices={"m": {"input": 1, "output": 2}}
    )

    with pytest.raises(TaskDeferred) as deferred:
        op.execute(make_context(FakeTI(task_id="wait")))

    trigger = deferred.value.trigger
    assert trigger.job_ref == THREE
    assert trigger.batch_prices == {"m": {"input": 1.0, "output": 2.0}}


# --- timeout, kill, cancel: every created part --------------------------------------------------------------


def test_a_timeout_event_cancels_every_created_part_and_names_them(
    fake_hook: FakeBatchHook, output_uri: str, landings: Landings
):
    jobs_in(fake_hook, JobState.RUNNING, "batches/a", "batches/b")
    message = "group of 3 parts did not finish before its deadline"
    op = SubmitStandIn(output_uri=output_uri, job_timeout=timedelta(hours=1))

    with pytest.raises(JobTimeoutError) as err:
        op.execute_complete(make_context(), event("timeout", CAPPED, message))

    assert fake_hook.names("cancel_batch") == ["batches/a", "batches/b"]
    assert str(err.value) == (
        "gemini group of 3 parts (batches/a, batches/b; 1 not created yet) did not finish within 1:00:00 "
        f"({message}); cancel_on_timeout=True: batches/a was cancelled; batches/b was cancelled"
    )
    assert landings.calls == []


def test_a_timeout_cancel_finding_a_part_already_ended_is_fine_and_the_other_parts_are_still_cancelled(
    fake_hook: FakeBatchHook, output_uri: str
):
    jobs_in(fake_hook, JobState.SUCCEEDED, "batches/a")
    jobs_in(fake_hook, JobState.RUNNING, "batches/b", "batches/c")
    fake_hook.refuse_cancels(ProviderAPIError("Batch batches/a has already ended", http_status=400, provider="gemini"))

    with pytest.raises(JobTimeoutError) as err:
        SubmitStandIn(output_uri=output_uri).execute_complete(make_context(), event("timeout", THREE, "late"))

    assert fake_hook.names("cancel_batch") == ["batches/a", "batches/b", "batches/c"]
    assert str(err.value).endswith(
        "batches/a is already JOB_STATE_SUCCEEDED: nothing left to cancel; batches/b was cancelled; "
        "batches/c was cancelled"
    )


def test_a_timeout_whose_cancels_find_every_part_ended_lands_the_group(
    fake_hook: FakeBatchHook, output_uri: str, landings: Landings
):
    jobs_in(fake_hook, JobState.SUCCEEDED, "batches/a", "batches/b", "batches/c")  # the last ended after the last poll
    fake_hook.refuse_cancels(
        *(ProviderAPIError(f"Batch {name} has already ended", http_status=400, provider="gemini") for name in "abc")
    )

    manifest = SubmitStandIn(output_uri=output_uri).execute_complete(make_context(), event("timeout", THREE, "late"))

    assert fake_hook.names("cancel_batch") == ["batches/a", "batches/b", "batches/c"]
    assert [call["ref"] for call in landings.calls] == [THREE]
    assert manifest["state"] == JobState.SUCCEEDED.value


def test_a_timeout_event_leaves_every_part_running_when_not_cancel_on_timeout(
    fake_hook: FakeBatchHook, output_uri: str
):
    with pytest.raises(JobTimeoutError):
        SubmitStandIn(output_uri=output_uri, cancel_on_timeout=False).execute_complete(
            make_context(), event("timeout", THREE, "late")
        )

    assert fake_hook.names("cancel_batch") == []


def test_a_deadline_reached_while_waiting_on_the_worker_cancels_every_created_part(
    fake_hook: FakeBatchHook, output_uri: str
):
    jobs_in(fake_hook, JobState.RUNNING, "batches/a", "batches/b", "batches/c")
    op = SubmitStandIn(output_uri=output_uri, deferrable=False, job_timeout=timedelta(milliseconds=1))

    with pytest.raises(JobTimeoutError) as err:
        op.wait_for(make_context(), THREE)

    assert fake_hook.names("cancel_batch") == ["batches/a", "batches/b", "batches/c"]
    assert "3 still running (batches/a, batches/b, batches/c)" in str(err.value)


def test_airflows_deferral_timeout_cancels_every_part_of_the_remembered_group(
    fake_hook: FakeBatchHook, output_uri: str
):
    jobs_in(fake_hook, JobState.RUNNING, "batches/a", "batches/b", "batches/c")
    ti = FakeTI(task_id="submit")
    ti.xcom_push(key="job_ref", value=THREE.to_xcom())
    op = SubmitStandIn(output_uri=output_uri, cancel_on_timeout=True)

    with pytest.raises(AirflowSensorTimeout):  # the stand-in is a sensor: its deferral timeout is a sensor timeout
        op.resume_execution(TRIGGER_FAIL_REPR, {"error": TriggerFailureReason.TRIGGER_TIMEOUT}, make_context(ti))

    assert fake_hook.names("cancel_batch") == ["batches/a", "batches/b", "batches/c"]


def test_airflows_deferral_timeout_whose_cancels_find_every_part_ended_lands_the_group(
    fake_hook: FakeBatchHook, output_uri: str, landings: Landings
):
    jobs_in(fake_hook, JobState.SUCCEEDED, "batches/a", "batches/b", "batches/c")
    fake_hook.refuse_cancels(
        *(ProviderAPIError(f"Batch {name} has already ended", http_status=400, provider="gemini") for name in "abc")
    )
    ti = FakeTI(task_id="submit")
    ti.xcom_push(key="job_ref", value=THREE.to_xcom())
    op = SubmitStandIn(output_uri=output_uri, cancel_on_timeout=True)

    manifest = op.resume_execution(TRIGGER_FAIL_REPR, {"error": TriggerFailureReason.TRIGGER_TIMEOUT}, make_context(ti))

    assert [call["ref"] for call in landings.calls] == [THREE]
    assert manifest["state"] == JobState.SUCCEEDED.value


def test_on_kill_while_waiting_on_the_worker_cancels_every_created_part(
    fake_hook: FakeBatchHook, supervisor: FakeSupervisor, output_uri: str, landings: Landings, caplog
):
    ti = FakeTI()
    supervisor.task_states = {ti.run_id: {ti.task_id: "failed"}}
    jobs_in(fake_hook, JobState.RUNNING, "batches/a", "batches/b", "batches/c")
    landings.state = JobState.CANCELLED
    op = SubmitStandIn(output_uri=output_uri, deferrable=False)
    capture_log(op, caplog)

    def killed() -> JobState:  # SIGTERM arrives while the task sleeps between polls
        op.on_kill()
        return JobState.CANCELLED

    fake_hook.script("batches/a", JobState.RUNNING, killed)
    fake_hook.script("batches/b", JobState.RUNNING, JobState.CANCELLED)
    fake_hook.script("batches/c", JobState.RUNNING, JobState.CANCELLED)
    with pytest.raises(JobFailedError):
        op.wait_for(make_context(ti), THREE)

    assert fake_hook.names("cancel_batch") == ["batches/a", "batches/b", "batches/c"]
    assert (
        "task killed (the task instance was set to failed): cancelling group of 3 parts (batches/a, batches/b, "
        "batches/c)" in log_messages(caplog)
    )


def test_a_cancel_that_fails_for_one_part_still_cancels_the_others_then_raises_naming_it(
    fake_hook: FakeBatchHook, output_uri: str
):
    jobs_in(fake_hook, JobState.RUNNING, "batches/a", "batches/b", "batches/c")
    fake_hook.refuse_cancels(ProviderAPIError("permission denied", http_status=403, provider="gemini"))

    with pytest.raises(GenAIBatchError) as err:
        SubmitStandIn(output_uri=output_uri).cancel(THREE)

    assert fake_hook.names("cancel_batch") == ["batches/a", "batches/b", "batches/c"]
    assert str(err.value).startswith("cancelling 1 of the 3 jobs of group of 3 parts (")
    assert "cancelling batches/a failed: " in str(err.value)


def test_the_cancel_job_operator_cancels_every_part_of_a_group_ref(fake_hook: FakeBatchHook, caplog):
    jobs_in(fake_hook, JobState.RUNNING, "batches/a", "batches/b")
    op = GenAIBatchCancelJobOperator(task_id="cancel", conn_id=FAKE_CONN_ID, job=CAPPED.to_xcom())
    capture_log(op, caplog)

    op.execute(make_context())

    assert fake_hook.names("cancel_batch") == ["batches/a", "batches/b"]
    assert log_messages(caplog) == ["cancellation of batches/a requested", "cancellation of batches/b requested"]


def test_the_cancel_job_operator_fails_after_trying_every_part_when_one_cancel_failed(fake_hook: FakeBatchHook):
    jobs_in(fake_hook, JobState.RUNNING, "batches/a", "batches/b", "batches/c")
    fake_hook.refuse_cancels(ProviderAPIError("permission denied", http_status=403, provider="gemini"))
    op = GenAIBatchCancelJobOperator(task_id="cancel", conn_id=FAKE_CONN_ID, job=THREE.to_xcom())

    with pytest.raises(GenAIBatchError, match="1 of the 3 cancels failed: cancelling batches/a failed: "):
        op.execute(make_context())

    assert fake_hook.names("cancel_batch") == ["batches/a", "batches/b", "batches/c"]


# --- one job: follow_up is asked there too ------------------------------------------------------------------


def test_a_one_job_ref_that_landed_may_be_followed_up_with_a_group(
    fake_hook: FakeBatchHook, output_uri: str, landings: Landings
):
    one = BatchJobRef(provider="gemini", conn_id=FAKE_CONN_ID, job_name="batches/a", request_count=3)
    fake_hook.add_job("batches/a", JobState.SUCCEEDED, total=3, succeeded=3, results=[])
    jobs_in(fake_hook, JobState.RUNNING, "batches/r1")
    follow = group_ref(part_ref(0, "batches/a", requests=3), part_ref(1, "batches/r1", requests=3, round=1))
    op = SubmitStandIn(output_uri=output_uri, max_failed_ratio=1.0, follow_ups=[follow])

    with pytest.raises(TaskDeferred) as deferred:
        op.execute_complete(make_context(), {"status": "terminal", "job_ref": one.to_xcom(), "message": None})

    assert [ref for ref, _ in op.followed] == [one]
    assert op.followed[0][1].counts.missing == 3  # the one job's manifest, landed before it was asked
    assert deferred.value.trigger.job_ref == follow


# --- with the real landing ----------------------------------------------------------------------------------


def test_the_sensor_lands_a_split_input_as_one_results_file_joined_on_key(fake_hook: FakeBatchHook, tmp_path: Path):
    keys = tmp_path / "input_keys.jsonl"
    keys.write_text('"a"\n"b"\n"c"\n"d"\n')
    ref = group_ref(part_ref(0, "batches/a", requests=2), part_ref(1, "batches/b", requests=2)).model_copy(
        update={"keys_uri": str(keys)}
    )
    fake_hook.add_job("batches/a", JobState.SUCCEEDED, total=2, succeeded=2, results=[succeeded("b"), succeeded("a")])
    fake_hook.add_job("batches/b", JobState.SUCCEEDED, total=2, succeeded=1, results=[succeeded("c")])
    out = tmp_path / "out"
    op = GenAIBatchSensor(task_id="wait", job_ref=ref.to_xcom(), output_uri=str(out), max_failed_ratio=0.5)

    manifest = op.execute_complete(make_context(), event("terminal", ref))

    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [(row["key"], row["status"]) for row in rows] == [
        ("a", "succeeded"),
        ("b", "succeeded"),
        ("c", "succeeded"),
        ("d", "missing"),
    ]
    assert manifest["counts"]["total"] == 4
    assert manifest["counts"]["missing"] == 1
