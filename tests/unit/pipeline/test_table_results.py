"""Results a job wrote to a table: a manifest with the provider's counts, and rows only with ``land_table_results``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_genai_batch.errors import GenAIBatchError, JobFailedError
from airflow_provider_genai_batch.job_ref import BatchJobRef
from airflow_provider_genai_batch.landing import MANIFEST_FILE, RESULTS_FILE
from airflow_provider_genai_batch.models import JobState
from airflow_provider_genai_batch.operators.submit import GenAIBatchSubmitOperator
from airflow_provider_genai_batch.sensors.batch_results import GenAIBatchSensor

from .fakes import FAKE_CONN_ID, FakeBatchHook, failed, make_context, outlet_events, succeeded
from .storage_fakes import FakeStorage, attach_storage

JOB = "batches/job-1"
TABLE = "bq://project.dataset.predictions"


@pytest.fixture
def storage(fake_hook: FakeBatchHook, monkeypatch: pytest.MonkeyPatch) -> FakeStorage:
    return attach_storage(fake_hook, monkeypatch)


def submitted(tmp_path: Path, destination: str | None = "bq://project.dataset") -> BatchJobRef:
    """A job submitted with four input keys, a..d (their keys file written at submit)."""
    keys = tmp_path / "submitted" / "input_keys.jsonl"
    keys.parent.mkdir(exist_ok=True)
    keys.write_text('"a"\n"b"\n"c"\n"d"\n')
    return BatchJobRef(
        provider="gemini",
        conn_id=FAKE_CONN_ID,
        job_name=JOB,
        request_count=4,
        keys_uri=str(keys),
        output_uri=str(tmp_path / "submitted"),
        destination=destination,
    )


def finish(ref: BatchJobRef, output_uri: str, **kwargs: Any) -> dict[str, Any]:
    sensor = GenAIBatchSensor(task_id="wait", job_ref=ref.to_xcom(), output_uri=output_uri, **kwargs)
    event = {"status": "terminal", "job_ref": ref.to_xcom(), "message": None, "state": "", "stats": {}}
    return sensor.execute_complete(make_context(events=outlet_events()), event=event)


def test_a_table_destination_lands_a_manifest_with_the_providers_counts_and_no_results_file(
    fake_hook: FakeBatchHook, storage: FakeStorage, tmp_path: Path, output_uri: str
):
    ref = submitted(tmp_path)
    job = fake_hook.add_job(JOB, JobState.SUCCEEDED, total=4, succeeded=3, failed=1)
    fake_hook.jobs[JOB] = job.model_copy(update={"output_location": TABLE})

    manifest = finish(ref, output_uri, max_failed_ratio=0.5)

    assert manifest["results_uri"] is None
    assert manifest["output_location"] == TABLE
    assert manifest["counts"] == {
        "total": 4,
        "succeeded": 3,
        "failed": 1,
        "cancelled": 0,
        "expired": 0,
        "missing": 0,
        "unmatched": 0,
        "duplicates": 0,
        "unparseable": 0,
    }
    assert sorted(path.name for path in Path(output_uri).iterdir()) == [MANIFEST_FILE]
    assert json.loads((Path(output_uri) / MANIFEST_FILE).read_text()) == manifest
    assert fake_hook.names("iter_results") == []


def test_rows_the_provider_never_counted_are_missing_from_the_submitted_total(
    fake_hook: FakeBatchHook, storage: FakeStorage, tmp_path: Path, output_uri: str
):
    fake_hook.add_job(JOB, JobState.PARTIALLY_SUCCEEDED, total=3, succeeded=2, failed=0, pending=1)

    manifest = finish(submitted(tmp_path), output_uri, max_failed_ratio=1.0)

    counts = manifest["counts"]
    assert (counts["total"], counts["succeeded"], counts["failed"], counts["missing"]) == (4, 2, 0, 2)


def test_rows_of_a_cancelled_table_job_that_never_ran_are_counted_cancelled(
    fake_hook: FakeBatchHook, storage: FakeStorage, tmp_path: Path, output_uri: str
):
    fake_hook.add_job(JOB, JobState.CANCELLED, total=4, succeeded=1, pending=3)

    with pytest.raises(JobFailedError, match=r"ended JOB_STATE_CANCELLED.*results so far: bq://project\.dataset\)"):
        finish(submitted(tmp_path), output_uri)

    manifest = json.loads((Path(output_uri) / MANIFEST_FILE).read_text())
    assert (manifest["counts"]["succeeded"], manifest["counts"]["cancelled"]) == (1, 3)
    assert manifest["results_uri"] is None


def test_max_failed_ratio_is_judged_on_the_providers_counts(
    fake_hook: FakeBatchHook, storage: FakeStorage, tmp_path: Path, output_uri: str
):
    job = fake_hook.add_job(JOB, JobState.SUCCEEDED, total=4, succeeded=2, failed=2)
    fake_hook.jobs[JOB] = job.model_copy(update={"output_location": TABLE})

    with pytest.raises(JobFailedError, match=f"2 of 4 rows did not succeed .* see {TABLE}"):
        finish(submitted(tmp_path), output_uri, max_failed_ratio=0.25)


def test_land_table_results_lands_the_rows_read_back_from_the_table(
    fake_hook: FakeBatchHook, storage: FakeStorage, tmp_path: Path, output_uri: str
):
    job = fake_hook.add_job(
        JOB,
        JobState.SUCCEEDED,
        total=4,
        succeeded=3,
        failed=1,
        results=[succeeded("b"), failed("d"), *map(succeeded, "ac")],
    )
    fake_hook.jobs[JOB] = job.model_copy(update={"output_location": TABLE})

    manifest = finish(submitted(tmp_path), output_uri, max_failed_ratio=0.5, land_table_results="true")

    rows = [json.loads(line) for line in (Path(output_uri) / RESULTS_FILE).read_text().splitlines()]
    assert [(row["key"], row["status"]) for row in rows] == [
        ("a", "succeeded"),
        ("b", "succeeded"),
        ("c", "succeeded"),
        ("d", "failed"),
    ]
    assert manifest["results_uri"] == str(Path(output_uri) / RESULTS_FILE)
    assert manifest["output_location"] == TABLE
    assert fake_hook.names("iter_results") == [JOB]


def test_a_table_is_known_from_the_destination_when_the_provider_reports_no_output_location(
    fake_hook: FakeBatchHook, storage: FakeStorage, tmp_path: Path, output_uri: str
):
    fake_hook.add_job(JOB, JobState.SUCCEEDED, total=4, succeeded=4)

    manifest = finish(submitted(tmp_path, destination=TABLE), output_uri)

    assert manifest["results_uri"] is None
    assert manifest["output_location"] is None
    assert fake_hook.names("iter_results") == []


def test_a_file_destination_lands_rows_and_names_the_output_location_in_the_manifest(
    fake_hook: FakeBatchHook, storage: FakeStorage, tmp_path: Path, output_uri: str
):
    location = "gs://results/prediction-model-2026-01-02T00:00:00.000000Z"
    job = fake_hook.add_job(JOB, JobState.SUCCEEDED, results=[succeeded(key) for key in "abcd"])
    fake_hook.jobs[JOB] = job.model_copy(update={"output_location": location})

    manifest = finish(submitted(tmp_path, destination="gs://results/"), output_uri)

    assert manifest["output_location"] == location
    assert manifest["results_uri"] == str(Path(output_uri) / RESULTS_FILE)
    assert manifest["counts"]["succeeded"] == 4


def test_a_provider_without_an_output_location_lands_a_manifest_naming_none(
    fake_hook: FakeBatchHook, tmp_path: Path, output_uri: str
):
    fake_hook.add_job(JOB, JobState.SUCCEEDED, results=[succeeded(key) for key in "abcd"])

    manifest = finish(submitted(tmp_path, destination=None), output_uri)

    assert manifest["output_location"] is None
    assert manifest["counts"]["succeeded"] == 4


def test_a_table_landing_removes_the_rows_an_earlier_landing_left(
    fake_hook: FakeBatchHook, storage: FakeStorage, tmp_path: Path, output_uri: str
):
    ref = submitted(tmp_path)
    job = fake_hook.add_job(JOB, JobState.SUCCEEDED, total=4, succeeded=4, results=[succeeded(k) for k in "abcd"])
    fake_hook.jobs[JOB] = job.model_copy(update={"output_location": TABLE})
    finish(ref, output_uri, land_table_results=True)

    manifest = finish(ref, output_uri)

    assert manifest["results_uri"] is None
    assert not (Path(output_uri) / RESULTS_FILE).exists()


def test_a_land_table_results_that_is_no_switch_fails_the_submit_before_anything_is_read(
    fake_hook: FakeBatchHook, storage: FakeStorage, tmp_path: Path
):
    operator = GenAIBatchSubmitOperator(
        task_id="submit",
        conn_id=FAKE_CONN_ID,
        model="m",
        input=str(tmp_path / "unread.jsonl"),
        land_table_results="maybe",
    )

    with pytest.raises(GenAIBatchError, match="land_table_results must be true or false, got 'maybe'"):
        operator.execute(make_context())

    assert fake_hook.created == []


def test_a_land_table_results_that_is_no_switch_fails_the_sensor_before_it_waits(
    fake_hook: FakeBatchHook, storage: FakeStorage, tmp_path: Path, output_uri: str
):
    sensor = GenAIBatchSensor(
        task_id="wait", job_ref=submitted(tmp_path).to_xcom(), output_uri=output_uri, land_table_results="maybe"
    )

    with pytest.raises(GenAIBatchError, match="land_table_results must be true or false"):
        sensor.execute(make_context())

    assert fake_hook.names("get_batch") == []


def test_land_table_results_is_templated_on_the_sensor_and_the_submit_operator():
    assert "land_table_results" in GenAIBatchSensor.template_fields
    assert "land_table_results" in GenAIBatchSubmitOperator.template_fields
