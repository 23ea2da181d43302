"""A job already ending is a successful cancel, at every place that cancels.

The refusals are the providers' own words for a cancel that came too late: Gemini and gateways answer
400 FAILED_PRECONDITION "already ended", Bedrock a ValidationException "State was: Stopping", OpenAI
"Cannot cancel a batch with status 'cancelled'", Anthropic "has already ended". One status read decides.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR, TriggerFailureReason
from airflow.sdk.exceptions import AirflowSkipException, TaskDeferralTimeout

from airflow_provider_genai_batch.cancel import CancelOutcome, acancel_job, cancel_job, judge_refusal
from airflow_provider_genai_batch.errors import JobTimeoutError, NotFoundError, ProviderAPIError
from airflow_provider_genai_batch.job_ref import BatchJobRef
from airflow_provider_genai_batch.models import BatchJob, JobState
from airflow_provider_genai_batch.operators.jobs import GenAIBatchCancelJobOperator
from airflow_provider_genai_batch.operators.submit import GenAIBatchSubmitOperator
from airflow_provider_genai_batch.sensors.batch_results import GenAIBatchSensor

from .fakes import FAKE_CONN_ID, FakeBatchHook, FakeSupervisor, FakeTI, capture_log, log_messages, make_context

JOB = "batches/job-1"
REF = BatchJobRef(provider="gemini", conn_id=FAKE_CONN_ID, job_name=JOB, request_count=3)


def already_ended() -> ProviderAPIError:
    return ProviderAPIError(
        f"Batch {JOB} has already ended and cannot be cancelled.",
        http_status=400,
        provider_status="FAILED_PRECONDITION",
        provider="gemini",
    )


def stopping() -> ProviderAPIError:
    return ProviderAPIError(
        f"Unable to stop the model invocation job {JOB}. State was: Stopping",
        http_status=400,
        provider_status="ValidationException",
        provider="bedrock",
    )


def run_cancel(flavour: str, hook: FakeBatchHook, name: str = JOB) -> CancelOutcome:
    return cancel_job(hook, name) if flavour == "sync" else asyncio.run(acancel_job(hook, name))


def reads(hook: FakeBatchHook) -> list[Any]:
    return hook.names("get_batch") + hook.names("aget_batch")


def cancels(hook: FakeBatchHook) -> list[Any]:
    return hook.names("cancel_batch") + hook.names("acancel_batch")


flavours = pytest.mark.parametrize("flavour", ["sync", "async"])


# --- the one decision -----------------------------------------------------------------------------------


@flavours
def test_an_accepted_cancel_is_requested_without_reading_the_job(fake_hook: FakeBatchHook, flavour: str):
    fake_hook.add_job(JOB, JobState.RUNNING)

    outcome = run_cancel(flavour, fake_hook)

    assert outcome == CancelOutcome(JOB)
    assert outcome.requested
    assert outcome.describe() == f"cancellation of {JOB} requested"
    assert cancels(fake_hook) == [JOB]
    assert reads(fake_hook) == []


@flavours
@pytest.mark.parametrize(
    ("refusal", "state"),
    [
        (already_ended(), JobState.CANCELLED),
        (stopping(), JobState.CANCELLING),
        (ProviderAPIError("Cannot cancel a batch with status 'cancelled'.", http_status=400), JobState.CANCELLED),
        (already_ended(), JobState.SUCCEEDED),
        (already_ended(), JobState.FAILED),
        (httpx.ReadTimeout("the answer to the cancel was lost"), JobState.CANCELLING),
    ],
    ids=["gemini-already-ended", "bedrock-stopping", "openai-cancelled", "ended-succeeded", "ended-failed", "lost"],
)
def test_a_cancel_refused_for_a_job_already_ending_is_a_success(
    fake_hook: FakeBatchHook, flavour: str, refusal: Exception, state: JobState
):
    fake_hook.add_job(JOB, state)
    fake_hook.refuse_cancels(refusal)

    outcome = run_cancel(flavour, fake_hook)

    assert outcome == CancelOutcome(JOB, state)
    assert not outcome.requested
    assert outcome.describe() == f"{JOB} is already {state.value}: nothing left to cancel"
    assert reads(fake_hook) == [JOB]  # one status read decides


@flavours
@pytest.mark.parametrize("state", [JobState.PENDING, JobState.RUNNING])
def test_a_cancel_refused_for_a_job_still_running_raises_the_refusal(
    fake_hook: FakeBatchHook, flavour: str, state: JobState
):
    fake_hook.add_job(JOB, state)
    refusal = ProviderAPIError("permission denied", http_status=403, provider="gemini")
    fake_hook.refuse_cancels(refusal)

    with pytest.raises(ProviderAPIError) as err:
        run_cancel(flavour, fake_hook)

    assert err.value is refusal
    assert reads(fake_hook) == [JOB]


@flavours
def test_a_refusal_is_raised_as_it_came_when_the_job_cannot_be_read(fake_hook: FakeBatchHook, flavour: str):
    refusal = httpx.ConnectError("connection refused")
    fake_hook.refuse_cancels(refusal)  # and no such job: the read answers 404

    with pytest.raises(httpx.ConnectError) as err:
        run_cancel(flavour, fake_hook)

    assert err.value is refusal
    assert reads(fake_hook) == [JOB]


@flavours
def test_an_error_that_is_no_refusal_propagates_without_a_read(fake_hook: FakeBatchHook, flavour: str):
    fake_hook.add_job(JOB, JobState.CANCELLED)
    fake_hook.refuse_cancels(ValueError("a bug, not an answer"))

    with pytest.raises(ValueError, match="a bug"):
        run_cancel(flavour, fake_hook)

    assert reads(fake_hook) == []


def test_judge_refusal_treats_every_terminal_state_and_cancelling_as_ending():
    refusal = already_ended()
    for state in JobState:
        job = BatchJob(name=JOB, provider="gemini", state=state)
        if state.is_terminal or state is JobState.CANCELLING:
            assert judge_refusal(JOB, refusal, job) == CancelOutcome(JOB, state)
        else:
            with pytest.raises(ProviderAPIError):
                judge_refusal(JOB, refusal, job)


# --- where it is used -------------------------------------------------------------------------------------


def test_the_cancel_job_operator_logs_a_job_already_ended_instead_of_failing(fake_hook: FakeBatchHook, caplog):
    fake_hook.add_job(JOB, JobState.CANCELLED)
    fake_hook.refuse_cancels(already_ended())
    op = GenAIBatchCancelJobOperator(task_id="cancel", conn_id=FAKE_CONN_ID, job=JOB)
    capture_log(op, caplog)

    op.execute(make_context())

    assert log_messages(caplog) == [f"{JOB} is already JOB_STATE_CANCELLED: nothing left to cancel"]


def test_the_cancel_job_operator_still_fails_on_a_real_refusal(fake_hook: FakeBatchHook):
    fake_hook.refuse_cancels(NotFoundError(f"batch {JOB} not found", http_status=404, provider="gemini"))

    with pytest.raises(NotFoundError):
        GenAIBatchCancelJobOperator(task_id="cancel", conn_id=FAKE_CONN_ID, job=JOB).execute(make_context())


def test_a_timeout_whose_cancel_finds_the_job_already_cancelling_says_so(
    fake_hook: FakeBatchHook, tmp_path: Path, caplog
):
    fake_hook.add_job(JOB, JobState.CANCELLING)
    fake_hook.refuse_cancels(stopping())
    event = {"status": "timeout", "job_ref": REF.to_xcom(), "message": f"{JOB} did not finish before its deadline"}
    op = GenAIBatchSensor(task_id="wait", job_ref=REF.to_xcom(), output_uri=str(tmp_path), timeout=60)

    with pytest.raises(JobTimeoutError) as err:
        op.execute_complete(make_context(), event=event)

    assert str(err.value).endswith("; the job was cancelled (cancel_on_timeout=True; it is JOB_STATE_CANCELLING)")
    assert "cancelling it failed" not in str(err.value)


def test_on_kill_on_the_worker_after_a_lost_cancel_does_not_raise(
    fake_hook: FakeBatchHook, supervisor: FakeSupervisor, caplog
):
    fake_hook.add_job(JOB, JobState.CANCELLED)
    fake_hook.refuse_cancels(already_ended())
    ti = FakeTI(task_id="wait")
    supervisor.task_states = {ti.run_id: {"wait": "failed"}}
    op = GenAIBatchSensor(task_id="wait", job_ref=REF.to_xcom(), deferrable=False, cancel_on_kill=True)
    capture_log(op, caplog)
    op.watch(make_context(ti), REF)

    op.on_kill()

    assert fake_hook.names("cancel_batch") == [JOB]
    assert f"{JOB} is already JOB_STATE_CANCELLED: nothing left to cancel" in log_messages(caplog)


def test_a_deferral_timeout_whose_cancel_was_refused_still_fails_as_a_timeout(fake_hook: FakeBatchHook, tmp_path: Path):
    fake_hook.add_job(JOB, JobState.CANCELLED)  # an earlier cancel arrived (one ended by itself is landed instead)
    fake_hook.refuse_cancels(already_ended())
    ti = FakeTI(task_id="submit")
    ti.xcom_push(key="job_ref", value=REF.to_xcom())
    op = GenAIBatchSubmitOperator(
        task_id="submit",
        conn_id=FAKE_CONN_ID,
        model="m",
        input="in.jsonl",
        output_uri=str(tmp_path),
        wait_for_completion=True,
    )

    with pytest.raises(TaskDeferralTimeout):
        op.resume_execution(TRIGGER_FAIL_REPR, {"error": TriggerFailureReason.TRIGGER_TIMEOUT}, make_context(ti))

    assert fake_hook.names("cancel_batch") == [JOB]


def test_a_soft_fail_sensor_timeout_whose_cancel_was_refused_still_skips(
    fake_hook: FakeBatchHook, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    fake_hook.add_job(JOB, JobState.RUNNING)

    def ended_just_before_the_cancel(name: str) -> None:
        fake_hook.calls.append(("cancel_batch", name))
        fake_hook.jobs[JOB] = fake_hook.jobs[JOB].model_copy(update={"state": JobState.SUCCEEDED})
        raise already_ended()

    monkeypatch.setattr(fake_hook, "cancel_batch", ended_just_before_the_cancel)
    op = GenAIBatchSensor(
        task_id="wait",
        job_ref=REF.to_xcom(),
        output_uri=str(tmp_path),
        deferrable=False,
        poll_interval=0.01,
        timeout=0.05,
        soft_fail=True,
        cancel_on_timeout=True,
    )

    with pytest.raises(AirflowSkipException):
        op.execute(make_context())

    assert fake_hook.names("cancel_batch") == [JOB]


def test_the_cancel_outcome_is_logged_at_info(fake_hook: FakeBatchHook, caplog):
    fake_hook.add_job(JOB, JobState.RUNNING)
    op = GenAIBatchCancelJobOperator(task_id="cancel", conn_id=FAKE_CONN_ID, job=REF.to_xcom())
    capture_log(op, caplog)

    op.execute(make_context())

    assert log_messages(caplog, logging.INFO) == [f"cancellation of {JOB} requested"]


def test_a_deferral_timeout_whose_cancel_really_fails_still_fails_as_a_timeout_and_says_so(
    fake_hook: FakeBatchHook, tmp_path: Path, caplog
):
    fake_hook.add_job(JOB, JobState.RUNNING)
    fake_hook.refuse_cancels(ProviderAPIError("permission denied", http_status=403, provider="gemini"))
    ti = FakeTI(task_id="submit")
    ti.xcom_push(key="job_ref", value=REF.to_xcom())
    op = GenAIBatchSubmitOperator(
        task_id="submit",
        conn_id=FAKE_CONN_ID,
        model="m",
        input="in.jsonl",
        output_uri=str(tmp_path),
        wait_for_completion=True,
    )
    capture_log(op, caplog)

    with pytest.raises(TaskDeferralTimeout):
        op.resume_execution(TRIGGER_FAIL_REPR, {"error": TriggerFailureReason.TRIGGER_TIMEOUT}, make_context(ti))

    assert (
        f"cancelling {JOB} failed (gemini API error (403): permission denied); the task still fails as timed out"
        in log_messages(caplog, logging.WARNING)
    )
