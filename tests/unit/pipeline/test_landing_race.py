"""Two landings of different jobs into one output directory at the same moment (two DAG runs or tasks given one
fixed output_uri): neither deletes the other's files while they are written, and the directory never ends with one
job's manifest naming the other's rows: the landing that would have mixed them is refused, the other left whole."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from airflow.sdk import ObjectStoragePath
from airflow.sdk.execution_time.context import set_current_context

from airflow_provider_genai_batch import landing
from airflow_provider_genai_batch.errors import GenAIBatchError
from airflow_provider_genai_batch.formats.results import ResultRow
from airflow_provider_genai_batch.group_landing import land_group
from airflow_provider_genai_batch.job_ref import BatchJobRef
from airflow_provider_genai_batch.landing import (
    KEYS_FILE,
    MANIFEST_FILE,
    RESULTS_FILE,
    land_results,
    output_dir,
    partial_tag,
    remove_partials,
    write_keys,
)
from airflow_provider_genai_batch.models import BatchJob, CostEstimate, JobState, ResultsManifest, UsageSummary
from airflow_provider_genai_batch.prices import price_table
from airflow_provider_genai_batch.testing.s3 import MotoS3Server

from .fakes import FAKE_CONN_ID, S3_CONN_ID, FakeBatchHook, failed, part_ref, succeeded

KEYS = ["a", "b", "c"]
FIRST, SECOND = "batches/run-1", "batches/run-2"


@pytest.fixture(params=["local", "s3"])
def directory(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStoragePath:
    """An output directory holding the keys both jobs were submitted with (one input, two runs)."""
    if request.param == "local":
        return output_dir(str(tmp_path / "results"))
    moto_s3: MotoS3Server = request.getfixturevalue("s3")
    bucket = moto_s3.create_bucket(f"race-{uuid.uuid4().hex[:12]}")
    return output_dir(f"s3://{S3_CONN_ID}@{bucket}/results")


def land(
    directory: ObjectStoragePath,
    job_name: str,
    rows: Iterator[ResultRow],
    account: Callable[[], tuple[UsageSummary, CostEstimate]] | None = None,
) -> ResultsManifest:
    keys = write_keys(directory, KEYS)
    ref = BatchJobRef(
        provider="gemini",
        conn_id=FAKE_CONN_ID,
        job_name=job_name,
        request_count=len(KEYS),
        keys_uri=keys.uri,
        keys_digest=keys.digest,
    )
    job = BatchJob(name=job_name, provider="gemini", state=JobState.SUCCEEDED, provider_state="SUCCEEDED")
    return land_results(rows, job, ref, directory, account=account)


def rows_of(job_name: str, meanwhile: Callable[[], object] = lambda: None) -> Iterator[ResultRow]:
    """A success for every key, its text the job's name; ``meanwhile`` runs after the first row is read."""
    yield succeeded(KEYS[0], job_name)
    meanwhile()
    for key in KEYS[1:]:
        yield succeeded(key, job_name)


def crashing(job_name: str) -> Iterator[ResultRow]:
    yield succeeded(KEYS[0], job_name)
    raise ConnectionResetError("download interrupted")


def landed(directory: ObjectStoragePath) -> tuple[str, list[str]]:
    """The job the manifest names and the text of every row of the results file."""
    manifest = ResultsManifest.model_validate_json((directory / MANIFEST_FILE).read_text())
    lines = (directory / RESULTS_FILE).read_text().splitlines()
    return manifest.job_ref.job_name, [json.loads(line)["text"] for line in lines]


def test_a_landing_started_while_another_runs_leaves_the_others_unfinished_files_alone(directory: ObjectStoragePath):
    def second_lands_and_breaks() -> None:
        with pytest.raises(ConnectionResetError):
            land(directory, SECOND, crashing(SECOND))

    manifest = land(directory, FIRST, rows_of(FIRST, second_lands_and_breaks))

    assert manifest.counts.succeeded == 3
    assert landed(directory) == (FIRST, [FIRST] * 3)


def test_a_landing_another_job_finished_during_is_refused_and_leaves_the_others_results_whole(
    directory: ObjectStoragePath,
):
    def second_lands() -> None:
        land(directory, SECOND, rows_of(SECOND))

    with pytest.raises(GenAIBatchError, match=f"{SECOND} landed its results in {directory} while {FIRST}"):
        land(directory, FIRST, rows_of(FIRST, second_lands))

    assert landed(directory) == (SECOND, [SECOND] * 3)


def test_a_landing_whose_files_another_job_replaced_before_its_manifest_is_refused_leaving_the_others_whole(
    directory: ObjectStoragePath,
):
    def second_lands_then_count() -> tuple[UsageSummary, CostEstimate]:
        land(directory, SECOND, rows_of(SECOND))
        return UsageSummary(), CostEstimate()

    with pytest.raises(GenAIBatchError, match=f"{SECOND} landed its results in {directory} while {FIRST}"):
        land(directory, FIRST, rows_of(FIRST), account=second_lands_then_count)

    assert landed(directory) == (SECOND, [SECOND] * 3)


def test_a_landing_removes_the_unfinished_files_its_own_jobs_killed_landing_left_and_no_other_jobs(
    directory: ObjectStoragePath,
):
    own = directory / f".{RESULTS_FILE}.{partial_tag(FIRST)}-{'1' * 32}.partial"
    others = directory / f".{RESULTS_FILE}.{partial_tag(SECOND)}-{'2' * 32}.partial"
    for left in (own, others):
        left.write_bytes(b'{"key":"a"}\n')

    land(directory, FIRST, rows_of(FIRST))

    assert not own.exists()
    assert others.read_bytes() == b'{"key":"a"}\n'


def test_a_group_landing_another_job_finished_during_is_refused_and_leaves_the_others_results_whole(
    tmp_path: Path,
):
    directory = output_dir(str(tmp_path / "results"))
    hook = FakeBatchHook()
    keys = write_keys(directory, KEYS)
    for index, rows in enumerate(([succeeded("a", FIRST), failed("b", "overloaded")], [succeeded("c", FIRST)])):
        hook.add_job(f"batches/part-{index}", JobState.SUCCEEDED, results=rows)
    round_keys = write_keys(directory, ["b"], "input_keys.round-1.jsonl")

    def round_one_while_second_lands() -> Iterator[ResultRow]:
        land(directory, SECOND, rows_of(SECOND))
        yield succeeded("b", FIRST)

    hook.add_job("batches/part-2", JobState.SUCCEEDED, results=round_one_while_second_lands)
    ref = BatchJobRef(
        provider="gemini",
        conn_id=FAKE_CONN_ID,
        job_name=FIRST,
        request_count=len(KEYS),
        keys_uri=keys.uri,
        keys_digest=keys.digest,
        parts=(
            part_ref(0, "batches/part-0", requests=2),
            part_ref(1, "batches/part-1", requests=1),
            part_ref(2, "batches/part-2", requests=1, round=1, keys_uri=round_keys.uri),
        ),
    )

    with pytest.raises(GenAIBatchError, match=f"{SECOND} landed its results in {directory} while {FIRST}"):
        land_group(hook, ref, hook.jobs, directory, price_table("gemini", {}))

    assert landed(directory) == (SECOND, [SECOND] * 3)


def test_a_landing_whose_unfinished_files_a_landing_of_the_same_job_removed_leaves_that_ones_landing_whole(
    tmp_path: Path,
):
    """On a filesystem, where a file is seen while it is written (an object appears only once whole)."""
    directory = output_dir(str(tmp_path / "results"))

    def the_same_job_lands_again() -> None:  # a cleared task's landing while a zombie of it still lands
        land(directory, FIRST, rows_of(FIRST))

    with pytest.raises(GenAIBatchError, match=f"another landing of {FIRST} .* removed this landing's unfinished files"):
        land(directory, FIRST, rows_of(FIRST, the_same_job_lands_again))

    assert landed(directory) == (FIRST, [FIRST] * 3)


def test_a_landing_of_a_zombie_try_begun_during_the_newer_tries_landing_leaves_its_files_alone(
    directory: ObjectStoragePath, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(landing, "current_try", lambda: 2)

    def the_zombie_of_try_1_lands() -> None:
        monkeypatch.setattr(landing, "current_try", lambda: 1)
        land(directory, FIRST, rows_of(FIRST))
        monkeypatch.setattr(landing, "current_try", lambda: 2)

    manifest = land(directory, FIRST, rows_of(FIRST, the_zombie_of_try_1_lands))

    assert manifest.counts.succeeded == 3
    assert landed(directory) == (FIRST, [FIRST] * 3)
    assert [path.name for path in directory.iterdir() if path.name.endswith(".partial")] == []


@pytest.mark.parametrize("name", [RESULTS_FILE, MANIFEST_FILE, KEYS_FILE])
def test_only_the_temporary_files_of_an_earlier_try_or_of_no_try_are_removed_as_a_killed_ones(
    directory: ObjectStoragePath, monkeypatch: pytest.MonkeyPatch, name: str
):
    owner = partial_tag(FIRST)
    files = {
        written: directory / f".{name}.{owner}-{written}{uuid.uuid4().hex}.partial"
        for written in ("t1-", "t9-", "t10-", "t11-", "")
    }
    for path in files.values():
        path.write_bytes(b"{}\n")
    monkeypatch.setattr(landing, "current_try", lambda: 10)

    remove_partials(directory, name, owner)

    assert {written for written, path in files.items() if path.exists()} == {"t10-", "t11-"}


def test_a_landing_names_its_temporary_files_for_the_try_writing_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """On a filesystem, where a file is seen while it is written."""
    directory = output_dir(str(tmp_path / "results"))
    monkeypatch.setattr(landing, "current_try", lambda: 4)
    seen: list[str] = []

    def look() -> None:
        seen.extend(path.name for path in directory.iterdir() if path.name.endswith(".partial"))

    land(directory, FIRST, rows_of(FIRST, look))

    assert seen == [seen[0]]
    assert seen[0].startswith(f".{RESULTS_FILE}.{partial_tag(FIRST)}-t4-")


def test_a_submit_removes_the_keys_temporary_its_own_tasks_killed_submit_left_and_no_other_tasks(
    directory: ObjectStoragePath, monkeypatch: pytest.MonkeyPatch
):
    own, other = partial_tag("task-key"), partial_tag("another-task-key")
    left = directory / f".{KEYS_FILE}.{own}-t1-{'1' * 32}.partial"
    others = directory / f".{KEYS_FILE}.{other}-t1-{'2' * 32}.partial"
    for path in (left, others):
        path.write_bytes(b'"a"\n')
    monkeypatch.setattr(landing, "current_try", lambda: 2)

    write_keys(directory, KEYS, owner=own)

    assert not left.exists()
    assert others.read_bytes() == b'"a"\n'
    assert [path.name for path in directory.iterdir() if path.name.endswith(".partial")] == [others.name]


def test_the_current_try_is_the_running_task_instances_and_none_outside_a_task():
    assert landing.current_try() is None
    with set_current_context({"ti": SimpleNamespace(try_number=3)}):  # type: ignore[arg-type]
        assert landing.current_try() == 3
