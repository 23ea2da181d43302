"""Results landed on, and keys written to, object storage: an ``s3://`` output_uri (moto's S3 on loopback) through
an Amazon connection named in the URI, as a deployment writes to S3 or an S3-compatible store."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import ObjectStoragePath

from airflow_provider_genai_batch.earlier_results import set_aside
from airflow_provider_genai_batch.errors import GenAIBatchError
from airflow_provider_genai_batch.formats.results import ResultRow
from airflow_provider_genai_batch.job_ref import BatchJobRef
from airflow_provider_genai_batch.landing import (
    KEYS_FILE,
    MANIFEST_FILE,
    RESULTS_FILE,
    land_results,
    output_dir,
    write_keys,
)
from airflow_provider_genai_batch.models import BatchJob, JobState, ResultsManifest
from airflow_provider_genai_batch.testing.s3 import MotoS3Server

from .fakes import FAKE_CONN_ID, S3_CONN_ID, FakeBatchHook, FakeTI, make_context, submit_op, succeeded

JOB = "batches/job-1"


@pytest.fixture
def bucket(s3: MotoS3Server) -> str:
    """A new, empty bucket for each test (the filesystem caches listings, so no bucket is reused)."""
    return s3.create_bucket(f"results-{uuid.uuid4().hex[:12]}")


def buckets(s3: MotoS3Server) -> set[str]:
    return {item["Name"] for item in s3.client.list_buckets()["Buckets"]}


def test_an_output_uri_in_a_bucket_that_does_not_exist_does_not_create_the_bucket(s3: MotoS3Server):
    missing = f"typo-{uuid.uuid4().hex[:12]}"

    output_dir(f"s3://{S3_CONN_ID}@{missing}/results/run-1")

    assert missing not in buckets(s3)


def test_a_submit_into_a_bucket_that_does_not_exist_fails_naming_it_before_anything_is_uploaded(
    s3: MotoS3Server, fake_hook: FakeBatchHook, ti: FakeTI, input_jsonl: Path
):
    missing = f"typo-{uuid.uuid4().hex[:12]}"
    uri = f"s3://{S3_CONN_ID}@{missing}/results/run-1"

    with pytest.raises(GenAIBatchError, match=f"cannot write {uri}/{KEYS_FILE} .*bucket does not exist"):
        submit_op(str(input_jsonl), output_uri=uri).execute(make_context(ti))

    assert fake_hook.uploads == [] and fake_hook.created == []
    assert missing not in buckets(s3)


def test_a_submit_into_a_bucket_where_objects_cannot_be_deleted_fails_before_anything_is_uploaded(
    s3: MotoS3Server,
    bucket: str,
    fake_hook: FakeBatchHook,
    ti: FakeTI,
    input_jsonl: Path,
    monkeypatch: pytest.MonkeyPatch,
):
    uri = f"s3://{S3_CONN_ID}@{bucket}/results"

    def refuse(path: str, **kwargs: Any) -> None:
        raise PermissionError("Access Denied")  # a policy granting s3:PutObject but not s3:DeleteObject

    monkeypatch.setattr(ObjectStoragePath(uri).fs, "rm_file", refuse)

    with pytest.raises(GenAIBatchError, match=f"cannot write {uri}/{KEYS_FILE} \\(PermissionError: Access Denied\\)"):
        submit_op(str(input_jsonl), output_uri=uri).execute(make_context(ti))

    assert fake_hook.uploads == [] and fake_hook.created == []


def test_a_submit_writes_the_input_keys_under_an_s3_output_uri(
    s3: MotoS3Server, bucket: str, fake_hook: FakeBatchHook, ti: FakeTI, input_jsonl: Path
):
    ref = submit_op(str(input_jsonl), output_uri=f"s3://{S3_CONN_ID}@{bucket}/results").execute(make_context(ti))

    assert ref["keys_uri"] == f"s3://{S3_CONN_ID}@{bucket}/results/{KEYS_FILE}"
    assert s3.read(f"s3://{bucket}/results/{KEYS_FILE}") == b'"a"\n"b"\n"c"\n'


# --- landing on S3 ------------------------------------------------------------------------------------------


def crashing(keys: str, text: str) -> Iterator[ResultRow]:
    """A provider download that breaks after its first row."""
    yield succeeded(keys[0], text)
    raise ConnectionResetError("download interrupted")


def land(directory: ObjectStoragePath, rows: Iterable[ResultRow], job_name: str = JOB) -> ResultsManifest:
    """Land ``rows`` as ``job_name``'s against keys a, b, c written in ``directory``."""
    keys = write_keys(directory, ["a", "b", "c"])
    ref = BatchJobRef(
        provider="gemini",
        conn_id=FAKE_CONN_ID,
        job_name=job_name,
        request_count=3,
        keys_uri=keys.uri,
        keys_digest=keys.digest,
    )
    job = BatchJob(name=job_name, provider="gemini", state=JobState.SUCCEEDED, provider_state="SUCCEEDED")
    return land_results(rows, job, ref, directory)


@pytest.mark.parametrize("order", ["abc", "cab"])
def test_a_landing_on_s3_that_breaks_leaves_the_earlier_landing_whole_and_no_partial_object(
    s3: MotoS3Server, bucket: str, order: str
):
    directory = output_dir(f"s3://{S3_CONN_ID}@{bucket}/results")
    earlier = land(directory, [succeeded(key, "old") for key in "abc"])

    with pytest.raises(ConnectionResetError):
        land(directory, crashing(order, "new"))

    assert s3.keys(bucket) == [f"results/{KEYS_FILE}", f"results/{MANIFEST_FILE}", f"results/{RESULTS_FILE}"]
    assert ResultsManifest.model_validate_json(s3.read(f"s3://{bucket}/results/{MANIFEST_FILE}")) == earlier
    landed = [json.loads(line) for line in s3.read(f"s3://{bucket}/results/{RESULTS_FILE}").splitlines()]
    assert [row["text"] for row in landed] == ["old"] * 3


def test_a_landing_on_s3_after_one_that_broke_lands_every_row(s3: MotoS3Server, bucket: str):
    directory = output_dir(f"s3://{S3_CONN_ID}@{bucket}/results")
    with pytest.raises(ConnectionResetError):
        land(directory, crashing("cab", "new"))

    manifest = land(directory, [succeeded(key, "new") for key in "cab"])

    assert manifest.counts.succeeded == manifest.counts.total == 3
    landed = [json.loads(line) for line in s3.read(f"s3://{bucket}/results/{RESULTS_FILE}").splitlines()]
    assert [(row["key"], row["text"]) for row in landed] == [("a", "new"), ("b", "new"), ("c", "new")]


# --- names that read as glob patterns -----------------------------------------------------------------------


def land_abc(directory: ObjectStoragePath, job_name: str = JOB, order: str = "abc") -> ResultsManifest:
    """Land a success for each of keys a, b, c (in ``order``: any other than abc goes by the join)."""
    return land(directory, [succeeded(key, job_name) for key in order], job_name)


@pytest.mark.parametrize("name", ["run?x=1", "run#part-2", "a?b#c/d"])
def test_results_land_under_an_output_uri_holding_a_question_mark_or_a_hash_as_written(
    s3: MotoS3Server, bucket: str, name: str
):
    directory = output_dir(f"s3://{S3_CONN_ID}@{bucket}/{name}")

    manifest = land_abc(directory)

    assert s3.keys(bucket) == [f"{name}/{KEYS_FILE}", f"{name}/{MANIFEST_FILE}", f"{name}/{RESULTS_FILE}"]
    assert manifest.results_uri == f"s3://{S3_CONN_ID}@{bucket}/{name}/{RESULTS_FILE}"


def test_an_s3_output_uri_holding_a_version_id_query_is_refused_before_anything_is_uploaded(
    s3: MotoS3Server, bucket: str, fake_hook: FakeBatchHook, ti: FakeTI, input_jsonl: Path
):
    uri = f"s3://{S3_CONN_ID}@{bucket}/run?versionId=7/"

    with pytest.raises(GenAIBatchError) as refused:
        submit_op(str(input_jsonl), output_uri=uri).execute(make_context(ti))

    assert str(refused.value) == (
        f"output_uri {uri!r} holds '?versionId=', which the S3 filesystem reads as an object version and cuts from "
        "the key with all that follows: the results would not land under the path as written; name the directory "
        "without it"
    )
    assert fake_hook.uploads == [] and fake_hook.created == []
    assert s3.keys(bucket) == []


@pytest.mark.parametrize("name", ["run[1]", "run*x", "run-[a-z]"])
def test_results_land_under_their_own_names_when_the_output_uri_reads_as_a_glob_pattern(
    s3: MotoS3Server, bucket: str, name: str
):
    directory = output_dir(f"s3://{S3_CONN_ID}@{bucket}/{name}")

    land_abc(directory)
    manifest = land_abc(directory, order="cab")  # landed again, by the join: the earlier files are replaced

    assert s3.keys(bucket) == [f"{name}/{KEYS_FILE}", f"{name}/{MANIFEST_FILE}", f"{name}/{RESULTS_FILE}"]
    assert manifest.results_uri == f"s3://{S3_CONN_ID}@{bucket}/{name}/{RESULTS_FILE}"
    assert [json.loads(line)["key"] for line in s3.read(f"s3://{bucket}/{name}/{RESULTS_FILE}").splitlines()] == [
        "a",
        "b",
        "c",
    ]


def test_landing_under_an_output_uri_that_reads_as_a_pattern_leaves_the_directories_it_matches_alone(
    s3: MotoS3Server, bucket: str
):
    other = output_dir(f"s3://{S3_CONN_ID}@{bucket}/run-2x")
    land_abc(other, "batches/other")
    before = {key: s3.read(f"s3://{bucket}/{key}") for key in s3.keys(bucket)}

    directory = output_dir(f"s3://{S3_CONN_ID}@{bucket}/run*x")
    land_abc(directory)
    land_abc(directory, order="cab")

    assert {key: s3.read(f"s3://{bucket}/{key}") for key in s3.keys(bucket, "run-2x/")} == before


def test_results_another_job_landed_are_moved_aside_under_an_output_uri_that_reads_as_a_pattern(
    s3: MotoS3Server, bucket: str
):
    directory = output_dir(f"s3://{S3_CONN_ID}@{bucket}/run[1]")
    earlier = land_abc(directory, "batches/earlier")

    moved = set_aside(directory)

    assert moved is not None
    assert s3.keys(bucket, "run[1]/superseded/") == [
        f"{moved.key}/{KEYS_FILE}",
        f"{moved.key}/{MANIFEST_FILE}",
        f"{moved.key}/{RESULTS_FILE}",
    ]
    assert [key for key in s3.keys(bucket) if not key.startswith("run[1]/superseded/")] == []
    kept = ResultsManifest.model_validate_json(s3.read(f"s3://{bucket}/{moved.key}/{MANIFEST_FILE}"))
    assert kept.results_uri == f"{moved}/{RESULTS_FILE}"
    assert kept.counts == earlier.counts


def test_an_input_object_that_is_the_keys_file_of_its_output_uri_is_refused_and_left_as_it_is(
    s3: MotoS3Server, bucket: str, fake_hook: FakeBatchHook, ti: FakeTI
):
    written = b'{"key": "a", "request": {"contents": [{"parts": [{"text": "hi"}]}]}}\n'
    s3.client.put_object(Bucket=bucket, Key=f"run-1/{KEYS_FILE}", Body=written)

    with pytest.raises(GenAIBatchError, match=re.escape(f"is the file {KEYS_FILE} this task writes")):
        submit_op(f"s3://{bucket}/run-1/{KEYS_FILE}", output_uri=f"s3://{S3_CONN_ID}@{bucket}/run-1/").execute(
            make_context(ti)
        )

    assert fake_hook.uploads == [] and fake_hook.created == []
    assert s3.keys(bucket) == [f"run-1/{KEYS_FILE}"]
    assert s3.read(f"s3://{bucket}/run-1/{KEYS_FILE}") == written
