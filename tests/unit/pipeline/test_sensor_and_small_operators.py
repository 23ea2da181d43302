"""GenAIBatchSensor, the console link, and the thin file/job operators."""

from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from airflow.sdk import PokeReturnValue
from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR, TriggerFailureReason
from airflow.sdk.exceptions import AirflowSensorTimeout, AirflowSkipException, AirflowTaskTimeout, TaskDeferred

from airflow_provider_genai_batch import links as links_module
from airflow_provider_genai_batch.completion import DEFER_GRACE
from airflow_provider_genai_batch.errors import GenAIBatchError, JobFailedError, JobTimeoutError, ProviderAPIError
from airflow_provider_genai_batch.hooks.gemini import GeminiBatchHook
from airflow_provider_genai_batch.job_ref import BatchJobRef
from airflow_provider_genai_batch.landing import MANIFEST_FILE
from airflow_provider_genai_batch.links import GenAIBatchJobLink
from airflow_provider_genai_batch.models import BatchStats, JobState
from airflow_provider_genai_batch.operators.files import GenAIBatchDeleteFileOperator, GenAIBatchUploadFileOperator
from airflow_provider_genai_batch.operators.jobs import (
    GenAIBatchCancelJobOperator,
    GenAIBatchDeleteJobOperator,
    GenAIBatchListJobsOperator,
)
from airflow_provider_genai_batch.sensors.batch_results import GenAIBatchSensor
from airflow_provider_genai_batch.triggers.batch_job import GenAIBatchJobTrigger

from .fakes import (
    FAKE_CONN_ID,
    DictStateStore,
    FakeBatchHook,
    FakeSupervisor,
    FakeTI,
    failed,
    group_ref,
    make_context,
    part_ref,
    succeeded,
)

JOB = "batches/job-1"
REF = BatchJobRef(provider="gemini", conn_id=FAKE_CONN_ID, job_name=JOB, request_count=3)


def sensor(job_ref: Any = None, **kwargs: Any) -> GenAIBatchSensor:
    kwargs.setdefault("task_id", "wait")
    return GenAIBatchSensor(job_ref=REF.to_xcom() if job_ref is None else job_ref, **kwargs)


def finished_job(fake_hook: FakeBatchHook) -> None:
    fake_hook.add_job(JOB, JobState.SUCCEEDED, total=3, succeeded=3, results=[succeeded(k) for k in "abc"])


# --- the sensor -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "job_ref",
    [REF.to_xcom(), json.dumps(REF.to_xcom()), str(REF.to_xcom())],
    ids=["dict", "json-string", "python-literal-string"],
)
def test_the_sensor_accepts_a_job_ref_as_dict_json_or_rendered_literal(
    fake_hook: FakeBatchHook, output_uri: str, job_ref: Any
):
    finished_job(fake_hook)

    manifest = sensor(job_ref, output_uri=output_uri).execute(make_context())

    assert manifest["job_ref"] == REF.to_xcom()
    assert manifest["counts"]["total"] == 3


def test_a_sensor_given_a_mapped_submits_output_says_to_map_it_too(fake_hook: FakeBatchHook, output_uri: str):
    mapped_output = [REF.to_xcom(), REF.model_copy(update={"job_name": "batches/job-2"}).to_xcom()]

    with pytest.raises(GenAIBatchError, match=r"job_ref holds 2 job references .*\.expand\(job_ref=submit\.output\)"):
        sensor(mapped_output, output_uri=output_uri).execute(make_context())

    assert fake_hook.calls == []


def test_a_sensor_given_a_landed_manifest_says_its_submit_already_waited(fake_hook: FakeBatchHook, output_uri: str):
    finished_job(fake_hook)
    manifest = sensor(output_uri=output_uri).execute(make_context())  # what a submit that waited returns
    fake_hook.calls.clear()

    with pytest.raises(GenAIBatchError) as refused:
        sensor(manifest, output_uri=output_uri).execute(make_context())

    assert str(refused.value) == (
        f"job_ref is the results manifest of {JOB}, whose results already landed at {manifest['results_uri']}: the "
        "task that returned it waited for the job and landed it (a submit with wait_for_completion=True). Give the "
        "sensor the output of a submit with wait_for_completion=False, or read the results where they landed"
    )
    assert fake_hook.calls == []


def test_a_sensor_given_a_dry_runs_plan_says_no_job_was_created(fake_hook: FakeBatchHook, output_uri: str):
    plan = {"provider": "gemini", "model": "gemini-2.5-flash", "parts": [], "requests": 3, "bytes": 300}
    plan |= {"errors": [], "errors_total": 0}

    with pytest.raises(GenAIBatchError) as refused:
        sensor(plan, output_uri=output_uri).execute(make_context())

    assert str(refused.value) == (
        "job_ref is the plan of a dry run (a submit with dry_run=True), which created no job to wait on: turn "
        "dry_run off to submit the input"
    )
    assert fake_hook.calls == []


def test_the_sensor_lands_into_an_output_uri_given_as_a_path(fake_hook: FakeBatchHook, tmp_path: Path):
    finished_job(fake_hook)

    manifest = sensor(output_uri=tmp_path / "landed").execute(make_context())

    assert manifest["manifest_uri"] == str(tmp_path / "landed" / MANIFEST_FILE)
    assert (tmp_path / "landed" / MANIFEST_FILE).exists()


def test_the_python_literal_job_ref_is_what_jinja_renders():
    assert str(REF.to_xcom()).startswith("{'provider': 'gemini'")  # not JSON: None/False, single quotes
    with pytest.raises(ValueError):
        json.loads(str(REF.to_xcom()))


def test_a_sensor_job_timeout_in_seconds_bounds_the_wait_and_the_poke_loop():
    op = sensor(job_timeout=600, poll_interval=timedelta(seconds=30))

    assert op.job_timeout == timedelta(minutes=10)
    assert op.timeout == 600
    assert op.poll_interval == 30.0


def test_a_deferred_sensor_given_only_poke_interval_polls_at_it(fake_hook: FakeBatchHook, output_uri: str):
    fake_hook.add_job(JOB, JobState.RUNNING)

    with pytest.raises(TaskDeferred) as deferred:
        sensor(output_uri=output_uri, poke_interval=timedelta(minutes=10)).execute(make_context(FakeTI(task_id="wait")))

    assert deferred.value.trigger.poll_interval == 600.0


def test_a_sensor_given_a_poll_interval_and_another_poke_interval_is_refused_when_built():
    with pytest.raises(ValueError, match=r"poll_interval \(30 s\) and poke_interval \(600 s\) differ"):
        sensor(poll_interval=30, poke_interval=600)


@pytest.mark.parametrize(
    "intervals", [{"poll_interval": 0}, {"poll_interval": timedelta(0)}, {"poke_interval": 0}], ids=str
)
def test_a_sensor_that_would_poll_without_a_pause_is_refused_when_built(intervals: dict[str, Any]):
    with pytest.raises(ValueError, match=r"_interval must be more than 0 seconds \(0 polls the provider without"):
        sensor(**intervals)


def test_a_sensor_max_failed_ratio_given_as_a_percentage_is_refused_when_the_task_is_built():
    with pytest.raises(ValueError, match="max_failed_ratio must be a number from 0 to 1"):
        sensor(max_failed_ratio=5)


@pytest.mark.parametrize("deferrable", [True, False])
def test_a_sensor_with_no_output_uri_anywhere_fails_before_it_waits(fake_hook: FakeBatchHook, deferrable: bool):
    fake_hook.add_job(JOB, JobState.RUNNING)

    with pytest.raises(GenAIBatchError, match="no output_uri: set it on the sensor or on the submit operator"):
        sensor(deferrable=deferrable, poll_interval=0.01, timeout=0.05).execute(make_context())

    assert fake_hook.names("get_batch") == []


def test_a_sensor_given_an_output_uri_without_a_bucket_fails_before_it_waits(fake_hook: FakeBatchHook):
    fake_hook.add_job(JOB, JobState.RUNNING)

    with pytest.raises(GenAIBatchError, match="output_uri 's3:///results' names no bucket or host after s3://"):
        sensor(output_uri="s3:///results").execute(make_context())

    assert fake_hook.names("get_batch") == []


def test_a_sensor_given_a_relative_output_uri_fails_before_it_waits(fake_hook: FakeBatchHook):
    fake_hook.add_job(JOB, JobState.RUNNING)

    with pytest.raises(GenAIBatchError, match="output_uri 'results' is a relative path"):
        sensor(output_uri="results").execute(make_context())

    assert fake_hook.names("get_batch") == []


@pytest.mark.parametrize("nothing", [None, "None", "", "  "], ids=["none", "rendered-none", "empty", "blank"])
def test_a_job_ref_the_upstream_task_never_returned_says_so_before_polling(
    fake_hook: FakeBatchHook, output_uri: str, nothing: Any
):
    with pytest.raises(GenAIBatchError) as err:  # the submit was marked success before it returned its ref
        GenAIBatchSensor(task_id="wait", job_ref=nothing, output_uri=output_uri).execute(make_context())

    assert str(err.value).startswith(f"job_ref is {nothing!r}: the task it comes from returned no job reference")
    assert "clear that task" in str(err.value)
    assert fake_hook.names("get_batch") == []


def test_non_deferrable_poke_returns_false_while_the_job_runs(fake_hook: FakeBatchHook, output_uri: str):
    fake_hook.add_job(JOB, JobState.RUNNING)

    assert sensor(output_uri=output_uri, deferrable=False).poke(make_context()) is False
    assert not (Path(output_uri) / MANIFEST_FILE).exists()


def test_non_deferrable_poke_returns_the_manifest_when_the_job_is_done(fake_hook: FakeBatchHook, output_uri: str):
    finished_job(fake_hook)

    result = sensor(output_uri=output_uri, deferrable=False).poke(make_context())

    assert isinstance(result, PokeReturnValue)
    assert result.is_done is True
    assert result.xcom_value["counts"]["succeeded"] == 3
    assert result.xcom_value["manifest_uri"] == str(Path(output_uri) / MANIFEST_FILE)


def test_non_deferrable_poke_returns_false_on_a_transient_poll_error(fake_hook: FakeBatchHook, output_uri: str):
    fake_hook.add_job(JOB, JobState.RUNNING)
    fake_hook.script(JOB, ProviderAPIError("backend unavailable", http_status=503, provider="gemini"))

    assert sensor(output_uri=output_uri, deferrable=False).poke(make_context()) is False
    assert not (Path(output_uri) / MANIFEST_FILE).exists()


def test_non_deferrable_pokes_fail_after_max_poll_failures_transient_errors_in_a_row(
    fake_hook: FakeBatchHook, output_uri: str
):
    fake_hook.add_job(JOB, JobState.RUNNING)
    fake_hook.script(JOB, *[httpx.ConnectError("connection refused")] * 3)
    op = sensor(output_uri=output_uri, deferrable=False, max_poll_failures=3)

    assert op.poke(make_context()) is False
    assert op.poke(make_context()) is False
    with pytest.raises(GenAIBatchError) as err:
        op.poke(make_context())

    assert JOB in str(err.value)
    assert "3 times in a row" in str(err.value)
    assert "connection refused" in str(err.value)
    assert fake_hook.names("cancel_batch") == []


@pytest.mark.parametrize("group", [False, True], ids=["one-job", "group"])
def test_rescheduled_pokes_fail_after_max_poll_failures_transient_errors_in_a_row(
    fake_hook: FakeBatchHook, output_uri: str, group: bool
):
    ref = group_ref(part_ref(0, JOB), part_ref(1, "batches/job-2")) if group else REF
    fake_hook.add_job(JOB, JobState.RUNNING)
    fake_hook.add_job("batches/job-2", JobState.RUNNING)
    fake_hook.script(JOB, *[httpx.ConnectError("connection refused")] * 3)
    store = DictStateStore()

    def poke() -> Any:  # each reschedule runs a new instance of the task
        op = sensor(ref.to_xcom(), output_uri=output_uri, deferrable=False, mode="reschedule", max_poll_failures=3)
        return op.poke(make_context(FakeTI(task_id="wait"), store=store))

    assert poke() is False
    assert poke() is False
    with pytest.raises(GenAIBatchError, match=f"polling {JOB} failed 3 times in a row; last: ConnectError"):
        poke()


def test_a_successful_poke_resets_the_run_of_failed_polls(fake_hook: FakeBatchHook, output_uri: str):
    finished_job(fake_hook)
    unavailable = ProviderAPIError("backend unavailable", http_status=503, provider="gemini")
    fake_hook.script(JOB, unavailable, unavailable, JobState.RUNNING, unavailable, unavailable, JobState.SUCCEEDED)
    op = sensor(output_uri=output_uri, deferrable=False, max_poll_failures=3)

    results = [op.poke(make_context()) for _ in range(6)]

    assert results[:5] == [False] * 5
    assert isinstance(results[5], PokeReturnValue) and results[5].is_done is True


def test_non_deferrable_poke_raises_a_permanent_poll_error_as_it_is(fake_hook: FakeBatchHook, output_uri: str):
    fake_hook.add_job(JOB, JobState.RUNNING)
    forbidden = ProviderAPIError("permission denied", http_status=403, provider="gemini")
    fake_hook.script(JOB, forbidden)

    with pytest.raises(ProviderAPIError) as err:
        sensor(output_uri=output_uri, deferrable=False).poke(make_context())

    assert err.value is forbidden


def test_pokes_log_progress_only_when_the_state_or_counts_change(fake_hook: FakeBatchHook, output_uri: str, caplog):
    fake_hook.add_job(JOB, JobState.RUNNING, total=3, succeeded=1, pending=2)
    fake_hook.script(
        JOB,
        JobState.RUNNING,
        JobState.RUNNING,
        {"state": JobState.RUNNING, "stats": BatchStats(total=3, succeeded=2, pending=1)},
    )
    op = sensor(output_uri=output_uri, deferrable=False)
    # The task logger is structlog's, straight to stdout; a stdlib logger lets caplog see the lines.
    op._cached_logger = logging.getLogger("genai_batch.tests.sensor")

    with caplog.at_level(logging.INFO, logger="genai_batch.tests.sensor"):
        for _ in range(3):
            assert op.poke(make_context()) is False

    progress = [r.getMessage() for r in caplog.records if r.getMessage().startswith(f"{JOB} is ")]
    assert progress == [
        f"{JOB} is JOB_STATE_RUNNING: 1/3 succeeded, 0 failed, 2 pending (33% done)",
        f"{JOB} is JOB_STATE_RUNNING: 2/3 succeeded, 0 failed, 1 pending (66% done)",
    ]


def test_non_deferrable_execute_pokes_until_done_and_returns_the_manifest(fake_hook: FakeBatchHook, output_uri: str):
    finished_job(fake_hook)
    fake_hook.script(JOB, JobState.RUNNING, JobState.RUNNING, JobState.SUCCEEDED)

    manifest = sensor(output_uri=output_uri, deferrable=False, poll_interval=0.001).execute(make_context())

    assert fake_hook.names("get_batch") == [JOB, JOB, JOB]
    assert manifest["counts"]["succeeded"] == 3


def test_the_sensor_pushes_the_job_ref_for_the_extra_link(fake_hook: FakeBatchHook, output_uri: str):
    finished_job(fake_hook)
    ti = FakeTI(task_id="wait")

    sensor(json.dumps(REF.to_xcom()), output_uri=output_uri).execute(make_context(ti))

    assert ti.pushes[0] == ("job_ref", REF.to_xcom())


def test_a_deferrable_sensor_defers_with_its_timeout_as_the_job_deadline(fake_hook: FakeBatchHook, output_uri: str):
    fake_hook.add_job(JOB, JobState.RUNNING)
    ti = FakeTI(task_id="wait")

    before = time.time()
    with pytest.raises(TaskDeferred) as deferred:
        sensor(output_uri=output_uri, timeout=3600, poll_interval=30.0).execute(make_context(ti))

    assert isinstance(deferred.value.trigger, GenAIBatchJobTrigger)
    assert deferred.value.method_name == "execute_complete"
    assert deferred.value.trigger.job_ref == REF
    assert deferred.value.trigger.poll_interval == 30.0
    assert deferred.value.trigger.max_poll_failures == 10
    assert deferred.value.trigger.deadline == pytest.approx(before + 3600, abs=5)
    assert deferred.value.timeout == pytest.approx(timedelta(hours=1) + DEFER_GRACE, abs=timedelta(seconds=5))
    assert ti.pushes == [("job_ref", REF.to_xcom())]  # pushed before deferring, so the link works meanwhile


def test_a_wait_cut_short_by_execution_timeout_names_that_budget_when_it_times_out(
    fake_hook: FakeBatchHook, output_uri: str
):
    fake_hook.add_job(JOB, JobState.RUNNING)
    ti = FakeTI(task_id="wait")
    op = sensor(output_uri=output_uri, job_timeout=timedelta(days=1), execution_timeout=timedelta(hours=2))
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(make_context(ti))
    assert deferred.value.trigger.deadline == pytest.approx(time.time() + 2 * 3600, abs=5)
    event = {"status": "timeout", "job_ref": REF.to_xcom(), "message": f"{JOB} did not finish before its deadline"}

    with pytest.raises(
        JobTimeoutError, match=rf"gemini job {JOB} did not finish within 2:00:00 \(its execution_timeout"
    ):
        op.execute_complete(make_context(ti), event)


def test_a_deferred_sensor_waits_no_longer_than_its_timeout_as_a_poking_one(fake_hook: FakeBatchHook, output_uri: str):
    fake_hook.add_job(JOB, JobState.RUNNING)
    ti = FakeTI(task_id="wait")
    op = sensor(output_uri=output_uri, timeout=3600, job_timeout=timedelta(hours=3), cancel_on_timeout=False)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(make_context(ti))
    assert deferred.value.trigger.deadline == pytest.approx(time.time() + 3600, abs=5)
    event = {"status": "timeout", "job_ref": REF.to_xcom(), "message": f"{JOB} did not finish before its deadline"}

    with pytest.raises(
        JobTimeoutError, match=r"did not finish within 1:00:00 \(its timeout, shorter than job_timeout 3:00"
    ):
        op.execute_complete(make_context(ti), event)


def test_the_sensor_falls_back_to_the_output_uri_given_at_submit(fake_hook: FakeBatchHook, tmp_path: Path):
    finished_job(fake_hook)
    submitted = REF.model_copy(update={"output_uri": str(tmp_path / "from_submit")})

    manifest = sensor(submitted.to_xcom()).execute(make_context())

    assert manifest["manifest_uri"] == str(tmp_path / "from_submit" / MANIFEST_FILE)


def test_the_sensor_without_any_output_uri_fails_clearly(fake_hook: FakeBatchHook):
    finished_job(fake_hook)

    with pytest.raises(GenAIBatchError, match="output_uri"):
        sensor().execute(make_context())


def test_the_sensor_template_fields_cover_job_ref_and_output_uri():
    assert {"job_ref", "output_uri"} <= set(GenAIBatchSensor.template_fields)


def test_on_kill_while_a_non_deferrable_sensor_pokes_cancels_the_job_of_a_task_marked_failed(
    fake_hook: FakeBatchHook, supervisor: FakeSupervisor, output_uri: str
):
    fake_hook.add_job(JOB, JobState.RUNNING)
    ti = FakeTI(task_id="wait", map_index=4)
    supervisor.task_states = {ti.run_id: {"wait_4": "failed"}}
    op = sensor(output_uri=output_uri, deferrable=False, cancel_on_kill=True)
    op.poke(make_context(ti))

    op.on_kill()

    assert fake_hook.names("cancel_batch") == [JOB]
    assert supervisor.sent[0].map_index == 4


def test_on_kill_while_a_non_deferrable_sensor_pokes_keeps_the_job_when_the_state_cannot_be_read(
    fake_hook: FakeBatchHook, output_uri: str
):
    fake_hook.add_job(JOB, JobState.RUNNING)
    op = sensor(output_uri=output_uri, deferrable=False, cancel_on_kill=True)
    op.poke(make_context())

    op.on_kill()  # no Task SDK supervisor to ask

    assert fake_hook.names("cancel_batch") == []


def test_a_non_deferrable_sensor_timeout_cancels_the_job(fake_hook: FakeBatchHook, output_uri: str):
    fake_hook.add_job(JOB, JobState.RUNNING)
    op = sensor(output_uri=output_uri, deferrable=False, poll_interval=0.01, timeout=0.05, cancel_on_timeout=True)

    with pytest.raises((AirflowSensorTimeout, GenAIBatchError)):
        op.execute(make_context())

    assert fake_hook.names("cancel_batch") == [JOB]


def test_a_non_deferrable_sensor_timeout_whose_cancel_finds_the_job_ended_lands_it(
    fake_hook: FakeBatchHook, output_uri: str, monkeypatch: pytest.MonkeyPatch
):
    fake_hook.add_job(JOB, JobState.RUNNING)

    def refused_for_it_just_ended(name: str) -> None:
        finished_job(fake_hook)
        raise ProviderAPIError(f"Batch {name} has already ended", http_status=400, provider="gemini")

    monkeypatch.setattr(fake_hook, "cancel_batch", refused_for_it_just_ended)
    op = sensor(output_uri=output_uri, deferrable=False, poll_interval=0.01, timeout=0.05, cancel_on_timeout=True)

    manifest = op.execute(make_context())

    assert (manifest["state"], manifest["counts"]["succeeded"]) == (JobState.SUCCEEDED.value, 3)


def test_a_sensor_deferral_timeout_cancels_the_job(fake_hook: FakeBatchHook, output_uri: str):
    fake_hook.add_job(JOB, JobState.RUNNING)
    ti = FakeTI(task_id="wait")
    ti.xcom_push(key="job_ref", value=REF.to_xcom())
    op = sensor(output_uri=output_uri, cancel_on_timeout=True)

    with pytest.raises(AirflowSensorTimeout):
        op.resume_execution(TRIGGER_FAIL_REPR, {"error": TriggerFailureReason.TRIGGER_TIMEOUT}, make_context(ti))

    assert fake_hook.names("cancel_batch") == [JOB]


def test_a_soft_fail_sensor_deferral_timeout_still_cancels_the_job(fake_hook: FakeBatchHook, output_uri: str):
    fake_hook.add_job(JOB, JobState.RUNNING)
    ti = FakeTI(task_id="wait")
    ti.xcom_push(key="job_ref", value=REF.to_xcom())
    op = sensor(output_uri=output_uri, cancel_on_timeout=True, soft_fail=True)

    with pytest.raises(AirflowSkipException):
        op.resume_execution(TRIGGER_FAIL_REPR, {"error": TriggerFailureReason.TRIGGER_TIMEOUT}, make_context(ti))

    assert fake_hook.names("cancel_batch") == [JOB]


def test_a_soft_fail_non_deferrable_sensor_timeout_still_cancels_the_job(fake_hook: FakeBatchHook, output_uri: str):
    fake_hook.add_job(JOB, JobState.RUNNING)
    op = sensor(
        output_uri=output_uri,
        deferrable=False,
        poll_interval=0.01,
        timeout=0.05,
        cancel_on_timeout=True,
        soft_fail=True,
    )

    with pytest.raises(AirflowSkipException):
        op.execute(make_context())

    assert fake_hook.names("cancel_batch") == [JOB]


@pytest.mark.parametrize("soft_fail", [False, True], ids=["fails", "soft_fail"])
def test_execution_timeout_during_a_poke_cancels_the_job(fake_hook: FakeBatchHook, output_uri: str, soft_fail: bool):
    fake_hook.add_job(JOB, JobState.RUNNING)
    fake_hook.script(JOB, JobState.RUNNING, AirflowTaskTimeout("Timeout, PID: 1234"))  # goes off while a poll reads
    op = sensor(output_uri=output_uri, deferrable=False, poll_interval=0.001, soft_fail=soft_fail)

    with pytest.raises(AirflowSkipException if soft_fail else AirflowTaskTimeout):
        op.execute(make_context())

    assert fake_hook.names("cancel_batch") == [JOB]


class RescheduledTI(FakeTI):
    """The task instance of a ``reschedule`` sensor whose first poke was at ``first_poke``."""

    def __init__(self, first_poke: datetime) -> None:
        super().__init__(task_id="wait")
        self.first_poke = first_poke

    def get_first_reschedule_date(self, context: Any) -> datetime:
        return self.first_poke


def test_a_soft_fail_reschedule_sensor_timeout_still_cancels_the_job(fake_hook: FakeBatchHook, output_uri: str):
    fake_hook.add_job(JOB, JobState.RUNNING)
    op = sensor(
        output_uri=output_uri, deferrable=False, mode="reschedule", timeout=60, cancel_on_timeout=True, soft_fail=True
    )
    ti = RescheduledTI(first_poke=datetime.now(timezone.utc) - timedelta(minutes=2))

    with pytest.raises(AirflowSkipException, match="Sensor has timed out"):
        op.execute(make_context(ti))  # this try began just now; the sensor has waited two minutes

    assert fake_hook.names("cancel_batch") == [JOB]


def test_execution_timeout_during_a_rescheduled_poke_keeps_the_job(fake_hook: FakeBatchHook, output_uri: str):
    fake_hook.add_job(JOB, JobState.RUNNING)
    fake_hook.script(JOB, AirflowTaskTimeout("Timeout, PID: 1234"))  # one poke ran over its execution_timeout
    op = sensor(
        output_uri=output_uri,
        deferrable=False,
        mode="reschedule",
        execution_timeout=timedelta(minutes=2),
        timeout=timedelta(days=1),
    )
    ti = RescheduledTI(first_poke=datetime.now(timezone.utc) - timedelta(hours=1))

    with pytest.raises(AirflowTaskTimeout):
        op.execute(make_context(ti))

    assert fake_hook.names("cancel_batch") == []  # each poke has its own execution_timeout; the wait goes on


def test_a_reschedule_sensors_timeout_is_not_said_to_be_its_execution_timeout(
    fake_hook: FakeBatchHook, output_uri: str
):
    fake_hook.add_job(JOB, JobState.RUNNING)
    op = sensor(
        output_uri=output_uri,
        deferrable=False,
        mode="reschedule",
        execution_timeout=timedelta(minutes=2),
        timeout=timedelta(days=1),
    )
    ti = RescheduledTI(first_poke=datetime.now(timezone.utc) - timedelta(days=2))

    with pytest.raises(JobTimeoutError) as err:
        op.execute(make_context(ti))

    assert f"gemini job {JOB} did not finish within 1 day, 0:00:00" in str(err.value)
    assert "execution_timeout" not in str(err.value)


def finish_by_mode(op: GenAIBatchSensor, deferrable: bool, event: dict[str, Any]) -> Any:
    """Run ``op`` to its end: poking (the job already ended), or resumed with the trigger's ``event``."""
    context = make_context(FakeTI(task_id="wait"))
    if deferrable:
        return op.resume_execution("execute_complete", {"event": event}, context)
    return op.execute(context)


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferred", "poking"])
def test_a_soft_fail_sensor_whose_job_failed_fails_in_every_mode(
    fake_hook: FakeBatchHook, output_uri: str, deferrable: bool
):
    fake_hook.add_job(JOB, JobState.FAILED, total=3, failed=3, error_message="quota exhausted")
    op = sensor(output_uri=output_uri, soft_fail=True, deferrable=deferrable)
    event = {"status": "terminal", "job_ref": REF.to_xcom(), "message": None, "state": JobState.FAILED.value}

    with pytest.raises(JobFailedError, match="ended JOB_STATE_FAILED: quota exhausted"):
        finish_by_mode(op, deferrable, event)


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferred", "poking"])
def test_a_soft_fail_sensor_over_max_failed_ratio_fails_in_every_mode(
    fake_hook: FakeBatchHook, output_uri: str, deferrable: bool
):
    fake_hook.add_job(
        JOB, JobState.SUCCEEDED, total=3, succeeded=2, failed=1, results=[*map(succeeded, "ab"), failed("c")]
    )
    op = sensor(output_uri=output_uri, soft_fail=True, deferrable=deferrable)
    event = {"status": "terminal", "job_ref": REF.to_xcom(), "message": None, "state": JobState.SUCCEEDED.value}

    with pytest.raises(JobFailedError, match="over max_failed_ratio"):
        finish_by_mode(op, deferrable, event)


def test_a_soft_fail_deferred_sensor_whose_wait_timed_out_is_skipped(fake_hook: FakeBatchHook, output_uri: str):
    fake_hook.add_job(JOB, JobState.RUNNING)
    op = sensor(output_uri=output_uri, soft_fail=True, cancel_on_timeout=False)
    event = {"status": "timeout", "job_ref": REF.to_xcom(), "message": f"{JOB} did not finish before its deadline"}

    with pytest.raises(AirflowSkipException):
        finish_by_mode(op, True, event)


# --- the console link ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("stored", [REF.to_xcom(), json.dumps(REF.to_xcom())], ids=["dict", "json-string"])
def test_the_link_is_the_provider_console_url_of_the_xcomd_ref(monkeypatch, stored: Any):
    asked: list[dict[str, Any]] = []

    def get_value(*, ti_key: Any, key: str) -> Any:
        asked.append({"ti_key": ti_key, "key": key})
        return stored

    monkeypatch.setattr(links_module.XCom, "get_value", staticmethod(get_value))

    url = GenAIBatchJobLink().get_link(sensor(), ti_key="ti-key-1")

    assert url == GeminiBatchHook.console_url(JOB)
    assert url.startswith("https://")
    assert asked == [{"ti_key": "ti-key-1", "key": "job_ref"}]


def test_the_link_is_empty_when_no_job_ref_was_pushed(monkeypatch):
    monkeypatch.setattr(links_module.XCom, "get_value", staticmethod(lambda *, ti_key, key: None))

    assert GenAIBatchJobLink().get_link(sensor(), ti_key="ti-key-1") == ""


# --- the thin operators -------------------------------------------------------------------------------------


def test_upload_file_operator_uploads_the_file_and_returns_its_info(fake_hook: FakeBatchHook, tmp_path: Path):
    source = tmp_path / "requests.jsonl"
    source.write_bytes(b'{"key": "a"}\n' * 10)

    info = GenAIBatchUploadFileOperator(task_id="up", conn_id=FAKE_CONN_ID, source=str(source)).execute(make_context())

    assert fake_hook.names("get_hook") == [FAKE_CONN_ID]
    assert len(fake_hook.uploads) == 1
    upload = fake_hook.uploads[0]
    assert upload["data"] == source.read_bytes()
    assert upload["display_name"] == "requests.jsonl"
    assert upload["mime_type"] == "application/jsonl"
    assert info["name"] == upload["name"]
    assert info["size_bytes"] == source.stat().st_size
    assert "raw" not in info
    json.dumps(info)


def test_upload_file_operator_passes_display_name_and_mime_type(fake_hook: FakeBatchHook, tmp_path: Path):
    source = tmp_path / "r.jsonl"
    source.write_bytes(b"{}\n")

    GenAIBatchUploadFileOperator(
        task_id="up", conn_id=FAKE_CONN_ID, source=str(source), display_name="nightly input", mime_type="text/plain"
    ).execute(make_context())

    assert fake_hook.uploads[0]["display_name"] == "nightly input"
    assert fake_hook.uploads[0]["mime_type"] == "text/plain"


def test_delete_file_operator_deletes_the_named_file(fake_hook: FakeBatchHook):
    GenAIBatchDeleteFileOperator(task_id="rm", conn_id=FAKE_CONN_ID, file_name="files/abc").execute(make_context())

    assert fake_hook.names("delete_file") == ["files/abc"]


@pytest.mark.parametrize(
    "job",
    [JOB, REF.to_xcom(), json.dumps(REF.to_xcom()), str(REF.to_xcom()), REF],
    ids=["name", "ref-dict", "ref-json", "ref-python-literal", "ref-model"],
)
def test_cancel_job_operator_accepts_a_job_name_or_a_ref(fake_hook: FakeBatchHook, job: Any):
    GenAIBatchCancelJobOperator(task_id="cancel", conn_id=FAKE_CONN_ID, job=job).execute(make_context())

    assert fake_hook.names("cancel_batch") == [JOB]


def test_cancel_job_operator_given_a_mapped_tasks_output_cancels_the_job_of_every_map_index(fake_hook: FakeBatchHook):
    other = REF.model_copy(update={"job_name": "batches/job-2"})
    mapped_output = (REF.to_xcom(), None, str(other.to_xcom()))  # one map index returned nothing

    GenAIBatchCancelJobOperator(task_id="cancel", conn_id=FAKE_CONN_ID, job=mapped_output).execute(make_context())

    assert fake_hook.names("cancel_batch") == [JOB, "batches/job-2"]


@pytest.mark.parametrize("job", [JOB, REF.to_xcom()], ids=["name", "ref-dict"])
def test_delete_job_operator_deletes_the_job(fake_hook: FakeBatchHook, job: Any):
    GenAIBatchDeleteJobOperator(task_id="delete", conn_id=FAKE_CONN_ID, job=job).execute(make_context())

    assert fake_hook.names("delete_batch") == [JOB]
    assert fake_hook.names("cancel_batch") == []


@pytest.mark.parametrize("as_text", [False, True], ids=["dict", "python-literal"])
def test_delete_job_operator_given_the_landed_manifest_deletes_its_job(
    fake_hook: FakeBatchHook, output_uri: str, as_text: bool
):
    finished_job(fake_hook)
    manifest = sensor(output_uri=output_uri).execute(make_context())  # what job=wait.output passes on

    GenAIBatchDeleteJobOperator(
        task_id="delete", conn_id=FAKE_CONN_ID, job=str(manifest) if as_text else manifest
    ).execute(make_context())

    assert fake_hook.names("delete_batch") == [JOB]


@pytest.mark.parametrize("limit", [0, -1, "10", True])
def test_list_jobs_operator_refuses_a_limit_that_is_no_positive_count_when_built(limit: Any):
    with pytest.raises(ValueError, match="limit must be a positive whole number or None"):
        GenAIBatchListJobsOperator(task_id="ls", conn_id=FAKE_CONN_ID, limit=limit)


def test_list_jobs_operator_returns_summaries_of_every_job(fake_hook: FakeBatchHook):
    fake_hook.add_job("batches/1", JobState.RUNNING, display_name="one", total=2, pending=2)
    fake_hook.add_job("batches/2", JobState.SUCCEEDED, display_name="two", total=1, succeeded=1)

    jobs = GenAIBatchListJobsOperator(task_id="ls", conn_id=FAKE_CONN_ID).execute(make_context())

    assert [j["name"] for j in jobs] == ["batches/2", "batches/1"]  # as listed: newest first
    assert jobs[1] == {
        "name": "batches/1",
        "display_name": "one",
        "model": None,
        "state": "JOB_STATE_RUNNING",
        "stats": {"total": 2, "succeeded": 0, "failed": 0, "pending": 2},
    }
    json.dumps(jobs)


def test_list_jobs_operator_stops_at_its_limit(fake_hook: FakeBatchHook):
    for i in range(5):
        fake_hook.add_job(f"batches/{i}", JobState.SUCCEEDED)

    jobs = GenAIBatchListJobsOperator(task_id="ls", conn_id=FAKE_CONN_ID, limit=2).execute(make_context())

    assert [j["name"] for j in jobs] == ["batches/4", "batches/3"]
