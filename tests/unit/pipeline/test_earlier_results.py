"""Moving an earlier job's landed results aside, whole, before another job's land in the same directory."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_genai_batch.earlier_results import SUPERSEDED_DIR, landed_manifest, set_aside
from airflow_provider_genai_batch.job_ref import BatchJobRef
from airflow_provider_genai_batch.landing import KEYS_FILE, MANIFEST_FILE, RESULTS_FILE
from airflow_provider_genai_batch.models import JobState, ResultCounts, ResultsManifest

WRITTEN = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.utc)


def landed(directory: Path, job_name: str = "batches/old-job", **uris: str) -> ResultsManifest:
    """A complete landing in ``directory``: keys, results and a manifest naming them (and any extra ``uris``)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / KEYS_FILE).write_text('"a"\n"b"\n')
    (directory / RESULTS_FILE).write_text('{"key": "a"}\n{"key": "b"}\n')
    manifest = ResultsManifest(
        job_ref=BatchJobRef(provider="gemini", conn_id="c", job_name=job_name),
        state=JobState.SUCCEEDED,
        counts=ResultCounts(total=2, succeeded=2),
        results_uri=str(directory / RESULTS_FILE),
        manifest_uri=str(directory / MANIFEST_FILE),
        written_at=WRITTEN,
        **uris,
    )
    (directory / MANIFEST_FILE).write_text(manifest.model_dump_json())
    return manifest


@pytest.fixture
def out(tmp_path: Path) -> Path:
    path = tmp_path / "out"
    path.mkdir()
    return path


def test_an_empty_directory_has_nothing_to_set_aside(out: Path):
    assert set_aside(ObjectStoragePath(str(out))) is None
    assert list(out.iterdir()) == []


def test_input_keys_with_nothing_landed_are_left_for_the_new_keys_to_replace(out: Path):
    (out / KEYS_FILE).write_text('"a"\n')

    assert set_aside(ObjectStoragePath(str(out))) is None
    assert [p.name for p in out.iterdir()] == [KEYS_FILE]


def test_a_landing_is_moved_whole_under_its_write_time_and_job(out: Path):
    landed(out)

    target = set_aside(ObjectStoragePath(str(out)))

    assert target is not None
    kept = out / SUPERSEDED_DIR / "20260102T030405678901Z-old-job"
    assert Path(target.path) == kept
    assert sorted(p.name for p in kept.iterdir()) == sorted([KEYS_FILE, RESULTS_FILE, MANIFEST_FILE])
    assert sorted(p.name for p in out.iterdir()) == [SUPERSEDED_DIR]


def test_the_moved_manifest_names_the_moved_files(out: Path):
    original = landed(out)

    set_aside(ObjectStoragePath(str(out)))

    kept = out / SUPERSEDED_DIR / "20260102T030405678901Z-old-job"
    moved = ResultsManifest.model_validate_json((kept / MANIFEST_FILE).read_text())
    assert moved.results_uri == str(kept / RESULTS_FILE)
    assert moved.manifest_uri == str(kept / MANIFEST_FILE)
    assert moved.model_dump(exclude={"results_uri", "manifest_uri"}) == original.model_dump(
        exclude={"results_uri", "manifest_uri"}
    )


def test_other_files_the_manifest_names_move_with_it(out: Path):
    landed(out, unmatched_uri=str(out / "unmatched.jsonl"))
    (out / "unmatched.jsonl").write_text('{"key": "zz"}\n')

    set_aside(ObjectStoragePath(str(out)))

    kept = out / SUPERSEDED_DIR / "20260102T030405678901Z-old-job"
    assert (kept / "unmatched.jsonl").read_text() == '{"key": "zz"}\n'
    assert json.loads((kept / MANIFEST_FILE).read_text())["unmatched_uri"] == str(kept / "unmatched.jsonl")


def test_files_of_the_user_in_the_directory_stay_where_they_are(out: Path):
    landed(out)
    (out / "input.jsonl").write_text("{}\n")

    set_aside(ObjectStoragePath(str(out)))

    assert (out / "input.jsonl").read_text() == "{}\n"


def test_the_landing_of_the_job_being_reattached_to_stays(out: Path):
    landed(out, job_name="batches/same-job")

    assert set_aside(ObjectStoragePath(str(out)), keep_job="batches/same-job") is None
    assert (out / MANIFEST_FILE).exists()
    assert not (out / SUPERSEDED_DIR).exists()


def test_another_jobs_landing_is_moved_when_reattaching(out: Path):
    landed(out, job_name="batches/other-job")

    target = set_aside(ObjectStoragePath(str(out)), keep_job="batches/same-job")

    assert target is not None and Path(target.path).name.endswith("-other-job")
    assert not (out / MANIFEST_FILE).exists()


def test_results_left_without_a_manifest_are_moved_before_a_new_job(out: Path):
    (out / RESULTS_FILE).write_text('{"key": "a"}\n')
    (out / KEYS_FILE).write_text('"a"\n')

    target = set_aside(ObjectStoragePath(str(out)))

    assert target is not None
    assert Path(target.path).name.endswith("-unknown-job")
    assert (Path(target.path) / RESULTS_FILE).read_text() == '{"key": "a"}\n'
    assert not (out / RESULTS_FILE).exists()


def test_results_left_without_a_manifest_stay_for_the_job_being_reattached_to_to_replace(out: Path):
    (out / RESULTS_FILE).write_text('{"key": "a"}\n')

    assert set_aside(ObjectStoragePath(str(out)), keep_job="batches/same-job") is None
    assert (out / RESULTS_FILE).exists()


def test_an_unreadable_manifest_is_moved_as_it_is(out: Path):
    (out / RESULTS_FILE).write_text('{"key": "a"}\n')
    (out / MANIFEST_FILE).write_text("{ this is not a manifest")

    target = set_aside(ObjectStoragePath(str(out)), keep_job="batches/same-job")

    assert target is not None
    assert (Path(target.path) / MANIFEST_FILE).read_text() == "{ this is not a manifest"
    assert landed_manifest(ObjectStoragePath(str(out))) is None


@pytest.mark.parametrize(
    ("job_name", "segment"),
    [
        ("batches/abc123", "abc123"),
        ("batch_69a1b2", "batch_69a1b2"),
        ("arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/x1y2", "x1y2"),
        ("msgbatch_01 with spaces", "msgbatch_01_with_spaces"),
    ],
)
def test_the_directory_is_named_by_the_last_segment_of_the_job_name(out: Path, job_name: str, segment: str):
    landed(out, job_name=job_name)

    target = set_aside(ObjectStoragePath(str(out)))

    assert target is not None and Path(target.path).name == f"20260102T030405678901Z-{segment}"
