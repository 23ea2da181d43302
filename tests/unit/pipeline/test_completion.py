"""Finishing a job (BatchCompletionMixin): land results, judge the job, emit Asset extras, cancel on timeout/kill."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from airflow.sdk import Asset, Connection
from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR, TriggerFailureReason
from airflow.sdk.definitions.asset import Model
from airflow.sdk.exceptions import AirflowNotFoundException, TaskDeferralError, TaskDeferralTimeout, TaskDeferred

from airflow_provider_genai_batch.errors import GenAIBatchError, JobFailedError, JobTimeoutError, ProviderAPIError
from airflow_provider_genai_batch.job_ref import BatchJobRef
from airflow_provider_genai_batch.landing import MANIFEST_FILE, RESULTS_FILE
from airflow_provider_genai_batch.models import JobState
from airflow_provider_genai_batch.operators.submit import GenAIBatchSubmitOperator
from airflow_provider_genai_batch.sensors.batch_results import GenAIBatchSensor

from .fakes import (
    FAKE_CONN_ID,
    FAKE_SECRET,
    FakeBatchHook,
    FakeSupervisor,
    FakeTI,
    capture_log,
    failed,
    group_ref,
    log_messages,
    make_context,
    outlet_events,
    part_ref,
    succeeded,
)

JOB = "batches/job-1"
ASSET = Asset("genai://batches/nightly")


@pytest.fixture
def ref(tmp_path: Path) -> BatchJobRef:
    """A job submitted with three input keys a, b, c (their keys file written at submit)."""
    keys = tmp_path / "submitted" / "input_keys.jsonl"
    keys.parent.mkdir()
    keys.write_text('"a"\n"b"\n"c"\n')
    return BatchJobRef(
        provider="gemini",
        conn_id=FAKE_CONN_ID,
        job_name=JOB,
        idempotency_key="gbk-0123456789abcdef0123",
        request_count=3,
        keys_uri=str(keys),
        output_uri=str(tmp_path / "submitted"),
    )


def sensor(ref: BatchJobRef, output_uri: str, **kwargs: Any) -> GenAIBatchSensor:
    kwargs.setdefault("outlets", [ASSET])
    return GenAIBatchSensor(task_id="wait", job_ref=ref.to_xcom(), output_uri=output_uri, **kwargs)


def terminal(ref: BatchJobRef, state: JobState = JobState.SUCCEEDED) -> dict[str, Any]:
    """The event the trigger yields for a finished job."""
    return {"status": "terminal", "job_ref": ref.to_xcom(), "message": None, "state": state.value, "stats": {}}


def read_rows(output_uri: str) -> dict[str, dict[str, Any]]:
    lines = (Path(output_uri) / RESULTS_FILE).read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    assert len({row["key"] for row in rows}) == len(rows), "a key was written twice"
    return {row["key"]: row for row in rows}


# --- landing on success -----------------------------------------------------------------------------------


def test_execute_complete_lands_one_row_per_key_and_returns_the_manifest(
    fake_hook: FakeBatchHook, ref: BatchJobRef, output_uri: str
):
    fake_hook.add_job(JOB, JobState.SUCCEEDED, total=3, succeeded=3, results=[succeeded(k) for k in "cab"])

    manifest = sensor(ref, output_uri).execute_complete(make_context(), event=terminal(ref))

    assert sorted(read_rows(output_uri)) == ["a", "b", "c"]
    assert manifest["counts"] == {
        "total": 3,
        "succeeded": 3,
        "failed": 0,
        "cancelled": 0,
        "expired": 0,
        "missing": 0,
        "unmatched": 0,
        "duplicates": 0,
        "unparseable": 0,
    }
    assert manifest["state"] == "JOB_STATE_SUCCEEDED"
    assert manifest["results_uri"] == str(Path(output_uri) / RESULTS_FILE)
    assert manifest["manifest_uri"] == str(Path(output_uri) / MANIFEST_FILE)
    assert json.loads((Path(output_uri) / MANIFEST_FILE).read_text()) == json.loads(json.dumps(manifest))


def test_the_manifest_counts_add_up_to_the_input_count(fake_hook: FakeBatchHook, ref: BatchJobRef, output_uri: str):
    fake_hook.add_job(JOB, JobState.SUCCEEDED, results=[succeeded("a"), failed("b")])

    manifest = sensor(ref, output_uri, max_failed_ratio=1.0).execute_complete(make_context(), event=terminal(ref))

    counts = manifest["counts"]
    assert counts["total"] == ref.request_count
    assert sum(v for k, v in counts.items() if k != "total") == ref.request_count
    assert (counts["succeeded"], counts["failed"], counts["missing"]) == (1, 1, 1)
    assert read_rows(output_uri)["c"]["status"] == "missing"


def test_execute_complete_sets_the_extra_of_outlet_assets(fake_hook: FakeBatchHook, ref: BatchJobRef, output_uri: str):
    fake_hook.add_job(JOB, JobState.SUCCEEDED, results=[succeeded(k) for k in "abc"])
    events = outlet_events()

    manifest = sensor(ref, output_uri).execute_complete(make_context(events=events), event=terminal(ref))

    assert events[ASSET].extra == manifest
    json.dumps(events[ASSET].extra)


def test_the_job_is_read_again_rather_than_trusting_the_event(
    fake_hook: FakeBatchHook, ref: BatchJobRef, output_uri: str
):
    fake_hook.add_job(JOB, JobState.SUCCEEDED, results=[succeeded(k) for k in "abc"])

    sensor(ref, output_uri).execute_complete(make_context(), event=terminal(ref))

    assert fake_hook.names("get_batch") == [JOB]
    assert fake_hook.names("iter_results") == [JOB]


def test_a_job_seen_ended_that_reads_as_running_again_is_waited_on_again_not_landed(
    fake_hook: FakeBatchHook, ref: BatchJobRef, output_uri: str
):
    fake_hook.add_job(JOB, JobState.RUNNING, total=3, pending=3)  # the trigger saw it succeeded; it reads as running
    deadline = time.time() + 3600

    with pytest.raises(TaskDeferred) as deferred:
        sensor(ref, output_uri).execute_complete(make_context(), event={**terminal(ref), "deadline": deadline})

    assert deferred.value.trigger.job_ref == ref
    assert deferred.value.trigger.deadline == deadline  # the wait keeps its deadline
    assert fake_hook.names("iter_results") == []
    assert not (Path(output_uri) / MANIFEST_FILE).exists()


# --- judging ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("state", "unanswered"),
    [(JobState.FAILED, "missing"), (JobState.EXPIRED, "expired"), (JobState.CANCELLED, "cancelled")],
)
def test_a_job_that_ended_badly_fails_with_the_providers_message_and_still_lands_rows(
    fake_hook: FakeBatchHook, ref: BatchJobRef, output_uri: str, state: JobState, unanswered: str
):
    fake_hook.add_job(JOB, state, error_message="Quota exceeded for batch jobs", results=[succeeded("a")])

    with pytest.raises(JobFailedError) as err:
        sensor(ref, output_uri).execute_complete(make_context(), event=terminal(ref, state))

    assert state.value in str(err.value)
    assert "Quota exceeded for batch jobs" in str(err.value)
    assert JOB in str(err.value)
    rows = read_rows(output_uri)
    assert rows["a"]["status"] == "succeeded"
    assert rows["b"]["status"] == rows["c"]["status"] == unanswered
    assert rows["b"]["error"]["message"]
    written = json.loads((Path(output_uri) / MANIFEST_FILE).read_text())
    assert written["state"] == state.value
    assert written["counts"][unanswered] == 2


def test_a_failed_row_fails_the_task_when_max_failed_ratio_is_zero(
    fake_hook: FakeBatchHook, ref: BatchJobRef, output_uri: str
):
    fake_hook.add_job(JOB, JobState.SUCCEEDED, results=[succeeded("a"), failed("b"), succeeded("c")])

    with pytest.raises(JobFailedError, match=r"1 of 3 rows did not succeed \(1 failed"):
        sensor(ref, output_uri, max_failed_ratio=0.0).execute_complete(make_context(), event=terminal(ref))

    assert read_rows(output_uri)["b"]["status"] == "failed"  # landed before judging, for inspection


def test_a_failed_row_passes_under_a_max_failed_ratio_of_one_half(
    fake_hook: FakeBatchHook, ref: BatchJobRef, output_uri: str
):
    fake_hook.add_job(JOB, JobState.SUCCEEDED, results=[succeeded("a"), failed("b"), succeeded("c")])

    manifest = sensor(ref, output_uri, max_failed_ratio=0.5).execute_complete(make_context(), event=terminal(ref))

    assert manifest["counts"]["failed"] == 1
    assert manifest["counts"]["succeeded"] == 2


def test_missing_rows_count_against_max_failed_ratio(fake_hook: FakeBatchHook, ref: BatchJobRef, output_uri: str):
    fake_hook.add_job(JOB, JobState.SUCCEEDED, results=[succeeded("a"), succeeded("b")])

    with pytest.raises(JobFailedError, match="1 missing"):
        sensor(ref, output_uri).execute_complete(make_context(), event=terminal(ref))


# --- other trigger events ---------------------------------------------------------------------------------


def test_a_timeout_event_cancels_the_job_when_cancel_on_timeout(
    fake_hook: FakeBatchHook, ref: BatchJobRef, output_uri: str
):
    fake_hook.add_job(JOB, JobState.RUNNING)
    event = {"status": "timeout", "job_ref": ref.to_xcom(), "message": "did not finish"}

    with pytest.raises(JobTimeoutError, match="cancelled"):
        sensor(ref, output_uri, cancel_on_timeout=True).execute_complete(make_context(), event=event)

    assert fake_hook.names("cancel_batch") == [JOB]
    assert not (Path(output_uri) / MANIFEST_FILE).exists()


def test_a_timeout_event_leaves_the_job_running_when_not_cancel_on_timeout(
    fake_hook: FakeBatchHook, ref: BatchJobRef, output_uri: str
):
    fake_hook.add_job(JOB, JobState.RUNNING)
    event = {"status": "timeout", "job_ref": ref.to_xcom(), "message": "did not finish"}

    with pytest.raises(JobTimeoutError) as err:
        sensor(ref, output_uri, cancel_on_timeout=False).execute_complete(make_context(), event=event)

    assert "cancelled" not in str(err.value)
    assert fake_hook.names("cancel_batch") == []


def test_a_timeout_whose_cancel_finds_the_job_succeeded_meanwhile_lands_its_results(
    fake_hook: FakeBatchHook, ref: BatchJobRef, output_uri: str
):
    fake_hook.add_job(JOB, JobState.RUNNING, results=[succeeded("a"), succeeded("b"), succeeded("c")])
    fake_hook.script(JOB, JobState.SUCCEEDED)  # it finished between the trigger's last poll and the cancel
    fake_hook.refuse_cancels(ProviderAPIError(f"Batch {JOB} has already ended", http_status=400, provider="gemini"))
    event = {"status": "timeout", "job_ref": ref.to_xcom(), "message": "did not finish"}

    manifest = sensor(ref, output_uri, cancel_on_timeout=True).execute_complete(make_context(), event=event)

    assert manifest["state"] == JobState.SUCCEEDED.value
    assert manifest["counts"]["succeeded"] == 3
    assert {key: row["status"] for key, row in read_rows(output_uri).items()} == dict.fromkeys("abc", "succeeded")


def test_a_timeout_whose_cancel_finds_the_job_failed_meanwhile_fails_with_the_providers_message(
    fake_hook: FakeBatchHook, ref: BatchJobRef, output_uri: str
):
    fake_hook.add_job(JOB, JobState.RUNNING, results=[succeeded("a")])
    fake_hook.script(JOB, {"state": JobState.FAILED, "error_message": "quota exhausted"})
    fake_hook.refuse_cancels(ProviderAPIError(f"Batch {JOB} has already ended", http_status=400, provider="gemini"))
    event = {"status": "timeout", "job_ref": ref.to_xcom(), "message": "did not finish"}

    with pytest.raises(JobFailedError, match="ended JOB_STATE_FAILED: quota exhausted"):
        sensor(ref, output_uri, cancel_on_timeout=True).execute_complete(make_context(), event=event)

    assert read_rows(output_uri)["a"]["status"] == "succeeded"


def test_a_timeout_whose_cancel_finds_the_job_cancelled_by_someone_else_still_fails_as_timed_out(
    fake_hook: FakeBatchHook, ref: BatchJobRef, output_uri: str
):
    fake_hook.add_job(JOB, JobState.RUNNING)
    fake_hook.script(JOB, JobState.CANCELLED)
    fake_hook.refuse_cancels(ProviderAPIError(f"Batch {JOB} has already ended", http_status=400, provider="gemini"))
    event = {"status": "timeout", "job_ref": ref.to_xcom(), "message": "did not finish"}

    with pytest.raises(JobTimeoutError, match="it is JOB_STATE_CANCELLED"):
        sensor(ref, output_uri, cancel_on_timeout=True).execute_complete(make_context(), event=event)

    assert not (Path(output_uri) / MANIFEST_FILE).exists()


def test_an_error_event_fails_the_task_with_its_message(fake_hook: FakeBatchHook, ref: BatchJobRef, output_uri: str):
    fake_hook.add_job(JOB, JobState.RUNNING)
    event = {"status": "error", "job_ref": ref.to_xcom(), "message": "gemini API error (403): permission denied"}

    with pytest.raises(GenAIBatchError, match="permission denied"):
        sensor(ref, output_uri).execute_complete(make_context(), event=event)

    assert fake_hook.names("cancel_batch") == []
    assert not (Path(output_uri) / RESULTS_FILE).exists()


# --- waiting on the worker (non-deferrable) ---------------------------------------------------------------


def waiting_submit(input_jsonl: Path, output_uri: str, **kwargs: Any) -> GenAIBatchSubmitOperator:
    kwargs.setdefault("poll_interval", 0.001)
    return GenAIBatchSubmitOperator(
        task_id="submit",
        conn_id=FAKE_CONN_ID,
        model="gemini-2.5-flash",
        input=str(input_jsonl),
        output_uri=output_uri,
        wait_for_completion=True,
        deferrable=False,
        **kwargs,
    )


def test_non_deferrable_mode_polls_to_completion(fake_hook: FakeBatchHook, input_jsonl: Path, output_uri: str):
    fake_hook.next_job_script = [JobState.PENDING, JobState.RUNNING, JobState.RUNNING, JobState.SUCCEEDED]
    fake_hook.next_job_results = [succeeded(k) for k in "abc"]

    manifest = waiting_submit(input_jsonl, output_uri).execute(make_context())

    job = fake_hook.created[0]["job_name"]
    assert fake_hook.names("get_batch") == [job] * 4
    assert manifest["counts"]["succeeded"] == 3
    assert manifest["job_ref"]["job_name"] == job
    assert sorted(read_rows(output_uri)) == ["a", "b", "c"]


def test_non_deferrable_mode_cancels_at_job_timeout_and_names_the_job(
    fake_hook: FakeBatchHook, input_jsonl: Path, output_uri: str
):
    with pytest.raises(JobTimeoutError) as err:
        waiting_submit(input_jsonl, output_uri, job_timeout=timedelta(milliseconds=50)).execute(make_context())

    job = fake_hook.created[0]["job_name"]
    assert fake_hook.names("cancel_batch") == [job]
    assert f"gemini job {job} did not finish within 0:00:00.050000" in str(err.value)
    assert str(err.value).endswith("the job was cancelled (cancel_on_timeout=True)")


def unavailable() -> ProviderAPIError:
    return ProviderAPIError("backend unavailable", http_status=503, provider="gemini")


def test_non_deferrable_mode_polls_through_transient_errors_to_completion(
    fake_hook: FakeBatchHook, input_jsonl: Path, output_uri: str
):
    fake_hook.next_job_script = [unavailable(), httpx.ConnectError("connection refused"), JobState.SUCCEEDED]
    fake_hook.next_job_results = [succeeded(k) for k in "abc"]

    manifest = waiting_submit(input_jsonl, output_uri, max_poll_failures=3).execute(make_context())

    assert fake_hook.names("get_batch") == [fake_hook.created[0]["job_name"]] * 3
    assert manifest["counts"]["succeeded"] == 3
    assert sorted(read_rows(output_uri)) == ["a", "b", "c"]


def test_non_deferrable_mode_fails_after_max_poll_failures_transient_errors_in_a_row(
    fake_hook: FakeBatchHook, input_jsonl: Path, output_uri: str
):
    fake_hook.next_job_script = [unavailable(), unavailable(), unavailable(), JobState.SUCCEEDED]

    with pytest.raises(GenAIBatchError) as err:
        waiting_submit(input_jsonl, output_uri, max_poll_failures=3).execute(make_context())

    job = fake_hook.created[0]["job_name"]
    assert not isinstance(err.value, JobTimeoutError)
    assert job in str(err.value)
    assert "3 times in a row" in str(err.value)
    assert "backend unavailable" in str(err.value)
    assert fake_hook.names("get_batch") == [job] * 3
    assert fake_hook.names("cancel_batch") == []
    assert not (Path(output_uri) / MANIFEST_FILE).exists()


def test_non_deferrable_mode_raises_a_permanent_poll_error_as_it_is(
    fake_hook: FakeBatchHook, input_jsonl: Path, output_uri: str
):
    forbidden = ProviderAPIError("permission denied", http_status=403, provider="gemini")
    fake_hook.next_job_script = [JobState.RUNNING, forbidden]

    with pytest.raises(ProviderAPIError) as err:
        waiting_submit(input_jsonl, output_uri).execute(make_context())

    assert err.value is forbidden
    assert len(fake_hook.names("get_batch")) == 3  # two polls, not retried; then one read asking whether it is gone
    assert fake_hook.names("cancel_batch") == []


def connection_reads(hook: FakeBatchHook, monkeypatch: pytest.MonkeyPatch, *answers: Any) -> list[str]:
    """``hook`` reads its connection afresh on the worker, each read answered by the next of ``answers`` (an exception
    to raise, or the API key the connection holds then; the last answers every later read); returns the conn ids
    read."""
    hook.__dict__.pop("settings", None)
    reads: list[str] = []
    queue = list(answers)

    def get_connection(conn_id: str) -> Connection:
        reads.append(conn_id)
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, BaseException):
            raise answer
        return Connection(conn_id=conn_id, conn_type="genaigemini", host="http://fake.invalid", password=answer)

    monkeypatch.setattr(hook, "get_connection", get_connection)
    return reads


def test_non_deferrable_mode_polls_on_with_a_key_rotated_in_the_connection_while_it_waits(
    fake_hook: FakeBatchHook, input_jsonl: Path, output_uri: str, monkeypatch: pytest.MonkeyPatch
):
    rotated = "sk-rotated-key-9876543210"
    revoked = ProviderAPIError("API key not valid", http_status=401, provider="gemini")
    fake_hook.next_job_script = [JobState.RUNNING, revoked, JobState.SUCCEEDED]
    fake_hook.next_job_results = [succeeded(k) for k in "abc"]
    reads = connection_reads(fake_hook, monkeypatch, FAKE_SECRET, rotated)

    manifest = waiting_submit(input_jsonl, output_uri).execute(make_context())

    job = fake_hook.created[0]["job_name"]
    assert manifest["counts"]["succeeded"] == 3
    assert fake_hook.names("get_batch") == [job] * 3  # polled again at once with the new key
    assert len(reads) == 2
    assert fake_hook.settings.api_key is not None and fake_hook.settings.api_key.get_secret_value() == rotated


def test_non_deferrable_mode_raises_the_refusal_of_a_key_the_connection_still_holds(
    fake_hook: FakeBatchHook, input_jsonl: Path, output_uri: str, monkeypatch: pytest.MonkeyPatch
):
    revoked = ProviderAPIError("API key not valid", http_status=401, provider="gemini")
    fake_hook.next_job_script = [JobState.RUNNING, revoked]
    connection_reads(fake_hook, monkeypatch, FAKE_SECRET)

    with pytest.raises(ProviderAPIError) as err:
        waiting_submit(input_jsonl, output_uri).execute(make_context())

    assert err.value is revoked
    assert len(fake_hook.names("get_batch")) == 2


@pytest.mark.parametrize("group", [False, True], ids=["one-job", "group"])
def test_pokes_poll_through_a_connection_that_cannot_be_read_for_a_while(
    fake_hook: FakeBatchHook, output_uri: str, monkeypatch: pytest.MonkeyPatch, group: bool
):
    names = [JOB, "batches/job-2"] if group else [JOB]
    ref = (
        group_ref(part_ref(0, JOB), part_ref(1, "batches/job-2"))
        if group
        else BatchJobRef(provider="gemini", conn_id=FAKE_CONN_ID, job_name=JOB, request_count=3)
    )
    for name in names:
        fake_hook.add_job(name, JobState.RUNNING)
    unreadable = AirflowNotFoundException(f"The conn_id `{FAKE_CONN_ID}` isn't defined")  # the API server is away
    connection_reads(fake_hook, monkeypatch, unreadable)
    op = GenAIBatchSensor(task_id="wait", job_ref=ref.to_xcom(), output_uri=output_uri, deferrable=False)

    assert [op.poke(make_context()) for _ in range(2)] == [False] * 2
    connection_reads(fake_hook, monkeypatch, FAKE_SECRET)  # it is back
    assert op.poke(make_context()) is False

    assert fake_hook.names("get_batch") == names  # only the third poke could read the connection, and polled


def test_a_connection_that_stays_unreadable_ends_the_pokes_after_max_poll_failures_naming_it(
    fake_hook: FakeBatchHook, output_uri: str, monkeypatch: pytest.MonkeyPatch
):
    fake_hook.add_job(JOB, JobState.RUNNING)
    connection_reads(fake_hook, monkeypatch, AirflowNotFoundException(f"The conn_id `{FAKE_CONN_ID}` isn't defined"))
    ref = BatchJobRef(provider="gemini", conn_id=FAKE_CONN_ID, job_name=JOB, request_count=3)
    op = GenAIBatchSensor(
        task_id="wait", job_ref=ref.to_xcom(), output_uri=output_uri, deferrable=False, max_poll_failures=2
    )

    assert op.poke(make_context()) is False
    with pytest.raises(GenAIBatchError) as err:
        op.poke(make_context())

    assert f"failed 2 times in a row; last: CredentialsUnavailableError: the connection {FAKE_CONN_ID!r}" in str(
        err.value
    )
    assert fake_hook.names("get_batch") == []


def test_a_non_deferrable_timeout_after_a_failed_poll_names_the_job_and_the_error(
    fake_hook: FakeBatchHook, input_jsonl: Path, output_uri: str
):
    fake_hook.next_job_script = [httpx.ConnectError("connection refused")]

    with pytest.raises(JobTimeoutError) as err:
        waiting_submit(input_jsonl, output_uri, job_timeout=timedelta(0)).execute(make_context())

    job = fake_hook.created[0]["job_name"]
    assert job in str(err.value)
    assert "connection refused" in str(err.value)
    assert fake_hook.names("cancel_batch") == [job]


def test_a_cancel_at_timeout_that_fails_with_a_network_error_still_raises_job_timeout_error(
    fake_hook: FakeBatchHook, input_jsonl: Path, output_uri: str, monkeypatch: pytest.MonkeyPatch
):
    def cancel_batch(name: str) -> None:
        fake_hook.calls.append(("cancel_batch", name))
        raise httpx.ConnectError("connection reset by peer")

    monkeypatch.setattr(fake_hook, "cancel_batch", cancel_batch)
    fake_hook.next_job_script = [JobState.RUNNING]

    with pytest.raises(JobTimeoutError) as err:
        waiting_submit(input_jsonl, output_uri, job_timeout=timedelta(0)).execute(make_context())

    job = fake_hook.created[0]["job_name"]
    assert fake_hook.names("cancel_batch") == [job]
    assert "cancelling it failed: connection reset by peer" in str(err.value)
    assert "the job was cancelled" not in str(err.value)


@pytest.mark.parametrize("state", ["failed", "success"])
def test_on_kill_while_polling_on_the_worker_cancels_the_job_of_a_task_a_user_ended(
    fake_hook: FakeBatchHook, supervisor: FakeSupervisor, input_jsonl: Path, output_uri: str, state: str
):
    ti = FakeTI()
    supervisor.task_states = {ti.run_id: {ti.task_id: state}}
    op = waiting_submit(input_jsonl, output_uri, cancel_on_kill=True)

    def killed() -> JobState:  # SIGTERM arrives while the task sleeps between polls
        op.on_kill()
        return JobState.RUNNING

    fake_hook.next_job_script = [JobState.RUNNING, killed, JobState.CANCELLED]
    with pytest.raises(JobFailedError):
        op.execute(make_context(ti))

    assert fake_hook.names("cancel_batch") == [fake_hook.created[0]["job_name"]]


@pytest.mark.parametrize("state", ["restarting", "running", "up_for_retry"])
def test_on_kill_while_polling_on_the_worker_keeps_the_job_of_a_cleared_or_stopped_task(
    fake_hook: FakeBatchHook, supervisor: FakeSupervisor, input_jsonl: Path, output_uri: str, state: str, caplog
):
    ti = FakeTI()
    supervisor.task_states = {ti.run_id: {ti.task_id: state}}  # cleared while running; a worker shutting down
    op = waiting_submit(input_jsonl, output_uri, cancel_on_kill=True)
    capture_log(op, caplog)
    fake_hook.next_job_script = [JobState.RUNNING, lambda: op.on_kill() or JobState.SUCCEEDED]
    fake_hook.next_job_results = [succeeded(k) for k in "abc"]

    op.execute(make_context(ti))

    assert fake_hook.names("cancel_batch") == []
    job = fake_hook.created[0]["job_name"]
    assert (
        f"killed but the task instance is {state} (cleared, rescheduled or moved) and still waits on the job: "
        f"keeping {job}" in log_messages(caplog)
    )


def test_on_kill_while_polling_leaves_the_job_alone_when_not_cancel_on_kill(
    fake_hook: FakeBatchHook, input_jsonl: Path, output_uri: str
):
    op = waiting_submit(input_jsonl, output_uri, cancel_on_kill=False)
    fake_hook.next_job_script = [JobState.RUNNING, lambda: op.on_kill() or JobState.SUCCEEDED]
    fake_hook.next_job_results = [succeeded(k) for k in "abc"]

    op.execute(make_context())

    assert fake_hook.names("cancel_batch") == []


def test_on_kill_after_the_job_finished_cancels_nothing(fake_hook: FakeBatchHook, input_jsonl: Path, output_uri: str):
    op = waiting_submit(input_jsonl, output_uri)
    fake_hook.next_job_script = [JobState.RUNNING, JobState.SUCCEEDED]
    fake_hook.next_job_results = [succeeded(k) for k in "abc"]
    op.execute(make_context())

    op.on_kill()

    assert fake_hook.names("cancel_batch") == []


# --- Airflow's own deferral timeout (resume_execution with __fail__) --------------------------------------


def resumed_context(ref: BatchJobRef, task_id: str) -> dict[str, Any]:
    """A fresh worker run: the only thing left from the deferring run is the job_ref XCom."""
    ti = FakeTI(task_id=task_id)
    ti.xcom_push(key="job_ref", value=ref.to_xcom())
    ti.pushes.clear()
    return make_context(ti)


def submit_for_resume(**kwargs: Any) -> GenAIBatchSubmitOperator:
    return GenAIBatchSubmitOperator(
        task_id="submit",
        conn_id=FAKE_CONN_ID,
        model="gemini-2.5-flash",
        input="in.jsonl",
        output_uri=kwargs.pop("output_uri"),
        wait_for_completion=True,
        **kwargs,
    )


def test_a_trigger_timeout_cancels_the_job_from_the_xcom_ref_and_reraises(
    fake_hook: FakeBatchHook, ref: BatchJobRef, output_uri: str
):
    fake_hook.add_job(JOB, JobState.RUNNING)
    op = submit_for_resume(output_uri=output_uri, cancel_on_timeout=True)

    with pytest.raises(TaskDeferralTimeout):
        op.resume_execution(
            TRIGGER_FAIL_REPR, {"error": TriggerFailureReason.TRIGGER_TIMEOUT}, resumed_context(ref, "submit")
        )

    assert fake_hook.names("cancel_batch") == [JOB]


def test_a_trigger_timeout_whose_cancel_finds_the_job_succeeded_lands_it_instead_of_failing(
    fake_hook: FakeBatchHook, ref: BatchJobRef, output_uri: str
):
    """No triggerer reported before Airflow's deferral timeout; the job finished meanwhile."""
    fake_hook.add_job(JOB, JobState.SUCCEEDED, results=[succeeded("a"), succeeded("b"), succeeded("c")])
    fake_hook.refuse_cancels(ProviderAPIError(f"Batch {JOB} has already ended", http_status=400, provider="gemini"))
    op = submit_for_resume(output_uri=output_uri, cancel_on_timeout=True)

    manifest = op.resume_execution(
        TRIGGER_FAIL_REPR, {"error": TriggerFailureReason.TRIGGER_TIMEOUT}, resumed_context(ref, "submit")
    )

    assert (manifest["state"], manifest["counts"]["succeeded"]) == (JobState.SUCCEEDED.value, 3)
    assert {key: row["status"] for key, row in read_rows(output_uri).items()} == dict.fromkeys("abc", "succeeded")


def test_a_trigger_timeout_leaves_the_job_alone_when_not_cancel_on_timeout(
    fake_hook: FakeBatchHook, ref: BatchJobRef, output_uri: str
):
    fake_hook.add_job(JOB, JobState.RUNNING)
    op = submit_for_resume(output_uri=output_uri, cancel_on_timeout=False)

    with pytest.raises(TaskDeferralTimeout):
        op.resume_execution(
            TRIGGER_FAIL_REPR, {"error": TriggerFailureReason.TRIGGER_TIMEOUT}, resumed_context(ref, "submit")
        )

    assert fake_hook.names("cancel_batch") == []


def test_a_trigger_failure_that_is_not_a_timeout_is_reraised_without_cancelling(
    fake_hook: FakeBatchHook, ref: BatchJobRef, output_uri: str
):
    fake_hook.add_job(JOB, JobState.RUNNING)
    op = submit_for_resume(output_uri=output_uri)

    with pytest.raises(TaskDeferralError):
        op.resume_execution(
            TRIGGER_FAIL_REPR, {"error": TriggerFailureReason.TRIGGER_FAILURE}, resumed_context(ref, "submit")
        )

    assert fake_hook.names("cancel_batch") == []


def test_a_normal_resume_runs_execute_complete(fake_hook: FakeBatchHook, ref: BatchJobRef, output_uri: str):
    fake_hook.add_job(JOB, JobState.SUCCEEDED, results=[succeeded(k) for k in "abc"])
    op = submit_for_resume(output_uri=output_uri)

    manifest = op.resume_execution("execute_complete", {"event": terminal(ref)}, resumed_context(ref, "submit"))

    assert manifest["counts"]["succeeded"] == 3
    assert fake_hook.names("cancel_batch") == []


def test_a_mapped_task_instance_cancels_its_own_job_on_a_trigger_timeout(fake_hook: FakeBatchHook, output_uri: str):
    shared_xcom: dict[tuple[str, int, str], Any] = {}
    for index in (0, 1, 2):  # three mapped submits, each pushed its ref before deferring
        fake_hook.add_job(f"batches/job-{index}", JobState.RUNNING)
        pushed = BatchJobRef(provider="gemini", conn_id=FAKE_CONN_ID, job_name=f"batches/job-{index}")
        FakeTI(map_index=index, xcom=shared_xcom).xcom_push(key="job_ref", value=pushed.to_xcom())
    timed_out = make_context(FakeTI(map_index=1, xcom=shared_xcom))
    op = submit_for_resume(output_uri=output_uri, cancel_on_timeout=True)

    with pytest.raises(TaskDeferralTimeout):
        op.resume_execution(TRIGGER_FAIL_REPR, {"error": TriggerFailureReason.TRIGGER_TIMEOUT}, timed_out)

    assert fake_hook.names("cancel_batch") == ["batches/job-1"]


def test_execute_complete_sets_the_extra_of_asset_subclasses_too(
    fake_hook: FakeBatchHook, ref: BatchJobRef, output_uri: str
):
    fake_hook.add_job(JOB, JobState.SUCCEEDED, results=[succeeded(k) for k in "abc"])
    model = Model("genai://models/nightly-embeddings")
    events = outlet_events()

    manifest = sensor(ref, output_uri, outlets=[model]).execute_complete(
        make_context(events=events), event=terminal(ref)
    )

    assert events[model].extra["manifest_uri"] == manifest["manifest_uri"]
