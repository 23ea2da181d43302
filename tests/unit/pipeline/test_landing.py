"""Landing results: joined on key, each key once, unanswered keys named; a manifest only ever names a full file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_genai_batch.formats.results import ResultRow
from airflow_provider_genai_batch.job_ref import BatchJobRef
from airflow_provider_genai_batch.landing import MANIFEST_FILE, RESULTS_FILE, land_results, output_dir
from airflow_provider_genai_batch.models import BatchJob, BatchStats, JobState, ResultsManifest

from .fakes import FAKE_CONN_ID, failed, succeeded

JOB = "batches/job-1"
KEYS = ("a", "b", "c", "d")


def job(state: JobState = JobState.SUCCEEDED, total: int = 0) -> BatchJob:
    return BatchJob(name=JOB, provider="gemini", state=state, provider_state=state.value, stats=BatchStats(total=total))


def ref_with_keys(tmp_path: Path, keys: tuple[str, ...] = KEYS) -> BatchJobRef:
    keys_file = tmp_path / "input_keys.jsonl"
    keys_file.write_text("".join(json.dumps(k) + "\n" for k in keys))
    return BatchJobRef(
        provider="gemini", conn_id=FAKE_CONN_ID, job_name=JOB, request_count=len(keys), keys_uri=str(keys_file)
    )


def ref_without_keys(request_count: int | None) -> BatchJobRef:
    return BatchJobRef(provider="gemini", conn_id=FAKE_CONN_ID, job_name=JOB, request_count=request_count)


@pytest.fixture
def out(tmp_path: Path) -> ObjectStoragePath:
    return output_dir(str(tmp_path / "results"))


def written(out: ObjectStoragePath) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / RESULTS_FILE).read_text().splitlines()]


def by_key(out: ObjectStoragePath) -> dict[str, dict[str, Any]]:
    rows = written(out)
    return {row["key"]: row for row in rows}


def total_of(manifest: ResultsManifest) -> int:
    c = manifest.counts
    return c.succeeded + c.failed + c.cancelled + c.expired + c.missing


# --- the join ---------------------------------------------------------------------------------------------


def test_rows_that_come_out_of_order_are_joined_on_key(tmp_path: Path, out: ObjectStoragePath):
    rows = [succeeded("d", "D"), failed("b"), succeeded("a", "A"), succeeded("c", "C")]

    manifest = land_results(rows, job(), ref_with_keys(tmp_path), out)

    joined = by_key(out)
    assert sorted(joined) == list(KEYS)
    assert [joined[k]["text"] for k in ("a", "c", "d")] == ["A", "C", "D"]
    assert joined["b"]["status"] == "failed"
    assert joined["b"]["error"]["message"] == "bad request"
    assert (manifest.counts.succeeded, manifest.counts.failed, manifest.counts.total) == (3, 1, 4)


def test_duplicate_result_rows_for_a_key_are_written_once(tmp_path: Path, out: ObjectStoragePath):
    rows = [succeeded("a", "first"), succeeded("b"), succeeded("a", "again"), succeeded("c"), succeeded("d")]

    manifest = land_results(rows, job(), ref_with_keys(tmp_path), out)

    keys = [row["key"] for row in written(out)]
    assert sorted(keys) == list(KEYS)
    assert by_key(out)["a"]["text"] == "first"
    assert manifest.counts.succeeded == manifest.counts.total == 4


@pytest.mark.parametrize(
    ("state", "status", "reason"),
    [
        (JobState.SUCCEEDED, "missing", "no result returned for this key"),
        (JobState.FAILED, "missing", "no result returned for this key"),
        (JobState.CANCELLED, "cancelled", "cancelled"),
        (JobState.EXPIRED, "expired", "expired"),
    ],
)
def test_keys_with_no_row_are_written_as_unanswered_with_a_reason(
    tmp_path: Path, out: ObjectStoragePath, state: JobState, status: str, reason: str
):
    manifest = land_results([succeeded("c")], job(state), ref_with_keys(tmp_path), out)

    joined = by_key(out)
    assert joined["c"]["status"] == "succeeded"
    for key in ("a", "b", "d"):
        assert joined[key]["status"] == status
        assert reason in joined[key]["error"]["message"]
    assert getattr(manifest.counts, status) == 3
    assert manifest.counts.total == 4


def test_unanswered_keys_follow_input_order(tmp_path: Path, out: ObjectStoragePath):
    land_results([succeeded("c")], job(), ref_with_keys(tmp_path), out)

    assert [row["key"] for row in written(out)] == ["c", "a", "b", "d"]


@pytest.mark.parametrize(
    ("state", "field"),
    [(JobState.SUCCEEDED, "missing"), (JobState.CANCELLED, "cancelled"), (JobState.EXPIRED, "expired")],
)
def test_without_a_keys_file_counts_still_add_up_to_the_request_count(
    out: ObjectStoragePath, state: JobState, field: str
):
    manifest = land_results([succeeded("a"), failed("b")], job(state), ref_without_keys(5), out)

    assert manifest.counts.total == 5
    assert total_of(manifest) == 5
    assert (manifest.counts.succeeded, manifest.counts.failed, getattr(manifest.counts, field)) == (1, 1, 3)
    assert [row["key"] for row in written(out)] == ["a", "b"]  # unanswered keys cannot be named


def test_without_a_request_count_the_jobs_own_total_is_used(out: ObjectStoragePath):
    manifest = land_results([succeeded("a")], job(total=3), ref_without_keys(None), out)

    assert manifest.counts.total == 3
    assert manifest.counts.missing == 2


def test_keys_a_provider_renamed_are_mapped_back_to_the_input_keys(tmp_path: Path, out: ObjectStoragePath):
    ref = ref_with_keys(tmp_path, ("doc.1", "doc/2", "plain"))

    def provider_key(key: str) -> str:  # a provider that allows only [A-Za-z0-9_-] in ids
        return key.replace(".", "_").replace("/", "_")

    rows = [succeeded("doc_2"), succeeded("plain"), succeeded("doc_1")]
    manifest = land_results(rows, job(), ref, out, provider_key)

    assert sorted(by_key(out)) == ["doc.1", "doc/2", "plain"]
    assert manifest.counts.succeeded == manifest.counts.total == 3


# --- the manifest and crashes -----------------------------------------------------------------------------


def test_the_manifest_names_the_results_and_matches_what_is_returned(tmp_path: Path, out: ObjectStoragePath):
    manifest = land_results([succeeded(k) for k in KEYS], job(), ref_with_keys(tmp_path), out)

    on_disk = ResultsManifest.model_validate_json((out / MANIFEST_FILE).read_text())
    assert on_disk == manifest
    assert manifest.results_uri == str(out / RESULTS_FILE)
    assert manifest.manifest_uri == str(out / MANIFEST_FILE)
    assert manifest.job_ref.job_name == JOB


def crashing_after(n: int, keys: tuple[str, ...] = KEYS) -> Iterator[ResultRow]:
    """A provider download that breaks after ``n`` rows."""
    for i, key in enumerate(keys):
        if i == n:
            raise ConnectionResetError("download interrupted")
        yield succeeded(key)


def test_a_crash_mid_write_leaves_no_manifest(tmp_path: Path, out: ObjectStoragePath):
    with pytest.raises(ConnectionResetError):
        land_results(crashing_after(2), job(), ref_with_keys(tmp_path), out)

    assert not (out / MANIFEST_FILE).exists()
    assert not (out / RESULTS_FILE).exists()  # the partial rows never took the final name


def test_a_crash_removes_the_manifest_of_an_earlier_run_first(tmp_path: Path, out: ObjectStoragePath):
    ref = ref_with_keys(tmp_path)
    land_results([succeeded(k, "old") for k in KEYS], job(), ref, out)
    assert (out / MANIFEST_FILE).exists()

    with pytest.raises(ConnectionResetError):
        land_results(crashing_after(2), job(), ref, out)

    assert not (out / MANIFEST_FILE).exists()
    assert [row["text"] for row in written(out)] == ["old"] * 4  # the earlier file was not half overwritten


def test_the_rewrite_after_a_crash_produces_the_full_file_and_manifest(tmp_path: Path, out: ObjectStoragePath):
    ref = ref_with_keys(tmp_path)
    with pytest.raises(ConnectionResetError):
        land_results(crashing_after(2), job(), ref, out)

    manifest = land_results([succeeded(k, "new") for k in KEYS], job(), ref, out)

    assert sorted(by_key(out)) == list(KEYS)
    assert {row["text"] for row in written(out)} == {"new"}
    assert manifest.counts.succeeded == manifest.counts.total == 4
    assert ResultsManifest.model_validate_json((out / MANIFEST_FILE).read_text()) == manifest


def test_a_crash_leaves_no_partial_file_behind(tmp_path: Path, out: ObjectStoragePath):
    with pytest.raises(ConnectionResetError):
        land_results(crashing_after(2), job(), ref_with_keys(tmp_path), out)

    assert sorted(p.name for p in out.iterdir()) == []
