"""A results sensor cleared by the user after its job is gone at the provider (deleted, or aged out), or its results
file expired there: the results it landed before are all that is left of them."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_genai_batch.errors import GenAIBatchError, JobFailedError, NotFoundError, ProviderAPIError
from airflow_provider_genai_batch.formats.results import ResultRow
from airflow_provider_genai_batch.job_ref import BatchJobRef
from airflow_provider_genai_batch.landing import MANIFEST_FILE, RESULTS_FILE
from airflow_provider_genai_batch.models import JobState
from airflow_provider_genai_batch.sensors.batch_results import GenAIBatchSensor

from .fakes import (
    FAKE_CONN_ID,
    FakeBatchHook,
    FakeTI,
    capture_log,
    failed,
    group_ref,
    log_messages,
    make_context,
    part_ref,
    succeeded,
)

JOB = "batches/job-1"
REF = BatchJobRef(provider="gemini", conn_id=FAKE_CONN_ID, job_name=JOB, request_count=3)
MODES = pytest.mark.parametrize("deferrable", [True, False], ids=["deferred", "poking"])


def sensor(ref: BatchJobRef = REF, **kwargs: Any) -> GenAIBatchSensor:
    kwargs.setdefault("poll_interval", 0.01)
    return GenAIBatchSensor(task_id="wait", job_ref=ref.to_xcom(), **kwargs)


def run(op: GenAIBatchSensor) -> Any:
    return op.execute(make_context(FakeTI(task_id="wait")))


def landed_then_gone(fake_hook: FakeBatchHook, output_uri: str, *names: str) -> dict[str, Any]:
    """The sensor waited on ``REF`` and landed its results; then the job(s) ``names`` went away at the provider."""
    fake_hook.add_job(JOB, JobState.SUCCEEDED, total=3, succeeded=3, results=[succeeded(k) for k in "abc"])
    manifest = run(sensor(output_uri=output_uri))
    for name in names:
        del fake_hook.jobs[name]
    fake_hook.calls.clear()
    return manifest


@MODES
def test_a_sensor_cleared_after_its_job_is_gone_returns_the_results_it_landed(
    fake_hook: FakeBatchHook, output_uri: str, deferrable: bool
):
    landed = landed_then_gone(fake_hook, output_uri, JOB)
    results = (Path(output_uri) / RESULTS_FILE).read_bytes()

    manifest = run(sensor(output_uri=output_uri, deferrable=deferrable))

    assert manifest == landed
    assert (Path(output_uri) / RESULTS_FILE).read_bytes() == results
    assert fake_hook.names("iter_results") == []  # nothing read again, nothing landed twice


@MODES
def test_a_sensor_cleared_after_its_job_is_gone_judges_the_results_it_landed_again(
    fake_hook: FakeBatchHook, output_uri: str, deferrable: bool
):
    fake_hook.add_job(JOB, JobState.SUCCEEDED, total=3, succeeded=2, failed=1)
    fake_hook.results[JOB] = [succeeded("a"), succeeded("b"), failed("c")]
    with pytest.raises(JobFailedError):
        run(sensor(output_uri=output_uri))
    del fake_hook.jobs[JOB]

    with pytest.raises(JobFailedError, match=r"1 of 3 rows did not succeed .* over max_failed_ratio=0.0"):
        run(sensor(output_uri=output_uri, deferrable=deferrable))


@MODES
def test_a_sensor_whose_job_is_gone_with_nothing_landed_says_to_clear_the_submit(
    fake_hook: FakeBatchHook, output_uri: str, deferrable: bool
):
    with pytest.raises(GenAIBatchError) as err:
        run(sensor(output_uri=output_uri, deferrable=deferrable))

    assert str(err.value) == (
        f"gemini job {JOB} is gone at the provider (deleted, or aged out), and no results of it landed in "
        f"{output_uri}: there is nothing left to wait on or land. Clear the submit task with this one: it submits the "
        "input again (or reads back the answers it finds landed), and this task waits on what it hands over"
    )


def test_a_sensor_whose_job_is_gone_does_not_return_results_another_job_landed(
    fake_hook: FakeBatchHook, output_uri: str
):
    landed_then_gone(fake_hook, output_uri, JOB)
    other = REF.model_copy(update={"job_name": "batches/job-2"})

    with pytest.raises(GenAIBatchError, match="batches/job-2 is gone at the provider"):
        run(sensor(other, output_uri=output_uri))


def test_a_sensor_whose_job_is_gone_does_not_return_a_manifest_whose_results_file_is_gone(
    fake_hook: FakeBatchHook, output_uri: str
):
    landed_then_gone(fake_hook, output_uri, JOB)
    (Path(output_uri) / RESULTS_FILE).unlink()

    with pytest.raises(GenAIBatchError, match=f"{JOB} is gone at the provider"):
        run(sensor(output_uri=output_uri))


def test_a_group_sensor_cleared_after_a_part_is_gone_returns_the_results_it_landed(
    fake_hook: FakeBatchHook, output_uri: str, tmp_path: Path
):
    keys = tmp_path / "input_keys.jsonl"
    keys.write_text('"a"\n"b"\n')
    parts = group_ref(part_ref(0, "batches/a", requests=1), part_ref(1, "batches/b", requests=1))
    ref = parts.model_copy(update={"keys_uri": str(keys)})
    fake_hook.add_job("batches/a", JobState.SUCCEEDED, total=1, succeeded=1, results=[succeeded("a")])
    fake_hook.add_job("batches/b", JobState.SUCCEEDED, total=1, succeeded=1, results=[succeeded("b")])
    landed = run(sensor(ref, output_uri=output_uri))
    del fake_hook.jobs["batches/a"]

    assert run(sensor(ref, output_uri=output_uri)) == landed
    assert json.loads((Path(output_uri) / MANIFEST_FILE).read_text()) == landed


def test_a_sensor_given_another_not_found_error_raises_it_as_it_came(fake_hook: FakeBatchHook, output_uri: str):
    fake_hook.add_job(JOB, JobState.RUNNING)
    refused = ProviderAPIError("Requested entity was not found.", http_status=404, provider="gemini")
    fake_hook.script(JOB, refused)

    with pytest.raises(ProviderAPIError) as err:
        run(sensor(output_uri=output_uri, deferrable=False, timeout=1))

    assert err.value is refused


def test_a_sensor_returning_the_results_it_landed_before_says_why(
    fake_hook: FakeBatchHook, output_uri: str, caplog: pytest.LogCaptureFixture
):
    landed_then_gone(fake_hook, output_uri, JOB)
    op = sensor(output_uri=output_uri)
    capture_log(op, caplog)

    run(op)

    assert (
        f"gemini job {JOB} is gone at the provider (deleted, or aged out), and its results landed in {output_uri} "
        "before: returning them as they are"
    ) in log_messages(caplog, logging.WARNING)


EXPIRED = {
    "openai": NotFoundError("No such File object: file-out", http_status=404, provider="gemini"),
    "gemini": ProviderAPIError(
        "You do not have permission to access the File files/out or it may not exist.",
        http_status=403,
        provider_status="PERMISSION_DENIED",
        provider="gemini",
    ),
}
"""What reading a job's results answers once its output file expired at the provider: OpenAI's 404 (after 30 days
by default), Gemini's 403 for a file that may not exist (after 48 hours)."""


def expired_results(answer: ProviderAPIError) -> Callable[[], Iterator[ResultRow]]:
    """The job's results as read once its output file expired at the provider, answered ``answer``."""

    def rows() -> Iterator[ResultRow]:
        yield succeeded("a")
        raise answer

    return rows


@MODES
@pytest.mark.parametrize("expired", EXPIRED.values(), ids=EXPIRED.keys())
def test_a_sensor_cleared_after_its_jobs_results_expired_returns_the_results_it_landed(
    fake_hook: FakeBatchHook,
    output_uri: str,
    deferrable: bool,
    expired: ProviderAPIError,
    caplog: pytest.LogCaptureFixture,
):
    landed = landed_then_gone(fake_hook, output_uri)  # the job is still there; its results file is not
    results = (Path(output_uri) / RESULTS_FILE).read_bytes()
    fake_hook.results[JOB] = expired_results(expired)
    op = sensor(output_uri=output_uri, deferrable=deferrable)
    capture_log(op, caplog)

    manifest = run(op)

    assert manifest == landed
    assert (Path(output_uri) / RESULTS_FILE).read_bytes() == results
    assert (
        f"gemini job {JOB}: its results can no longer be read at the provider ({expired}), and those it landed in "
        f"{output_uri} before are returned as they are"
    ) in log_messages(caplog, logging.WARNING)


@pytest.mark.parametrize("expired", EXPIRED.values(), ids=EXPIRED.keys())
def test_a_sensor_whose_jobs_results_expired_with_nothing_landed_says_so_caused_by_the_providers_answer(
    fake_hook: FakeBatchHook, output_uri: str, expired: ProviderAPIError
):
    fake_hook.add_job(JOB, JobState.SUCCEEDED, total=3, succeeded=3, results=expired_results(expired))

    with pytest.raises(GenAIBatchError, match="its results can no longer be read at the provider") as err:
        run(sensor(output_uri=output_uri))

    assert err.value.__cause__ is expired


def test_a_sensor_whose_key_is_refused_does_not_return_the_results_it_landed(fake_hook: FakeBatchHook, output_uri: str):
    landed_then_gone(fake_hook, output_uri)
    refused = ProviderAPIError("Method doesn't allow unregistered callers", http_status=403, provider="gemini")
    fake_hook.script(JOB, refused, refused)  # the poll, and the read of the job that asks whether it is gone

    with pytest.raises(ProviderAPIError) as err:
        run(sensor(output_uri=output_uri))

    assert err.value is refused
