"""Results landed on, and keys written to, object storage: an ``s3://`` output_uri (moto's S3 on loopback) through
an Amazon connection named in the URI, as a deployment writes to S3 or an S3-compatible store."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from airflow_provider_genai_batch.errors import GenAIBatchError
from airflow_provider_genai_batch.landing import KEYS_FILE, output_dir
from airflow_provider_genai_batch.testing.s3 import MotoS3Server

from .fakes import FakeBatchHook, FakeTI, make_context, submit_op

S3_CONN_ID = "genai_results_s3"
"""A connection of this module's own: Airflow keeps one filesystem per connection id for the whole process."""


@pytest.fixture
def s3(moto_s3: MotoS3Server, monkeypatch: pytest.MonkeyPatch) -> MotoS3Server:
    """moto's S3, reached through the connection :data:`S3_CONN_ID` (its endpoint in the connection's extra)."""
    connection = {
        "conn_type": "aws",
        "login": "test-key",
        "password": "test-secret",
        "extra": {"endpoint_url": moto_s3.endpoint_url, "region_name": moto_s3.region},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{S3_CONN_ID.upper()}", json.dumps(connection))
    return moto_s3


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


def test_a_submit_writes_the_input_keys_under_an_s3_output_uri(
    s3: MotoS3Server, bucket: str, fake_hook: FakeBatchHook, ti: FakeTI, input_jsonl: Path
):
    ref = submit_op(str(input_jsonl), output_uri=f"s3://{S3_CONN_ID}@{bucket}/results").execute(make_context(ti))

    assert ref["keys_uri"] == f"s3://{S3_CONN_ID}@{bucket}/results/{KEYS_FILE}"
    assert s3.read(f"s3://{bucket}/results/{KEYS_FILE}") == b'"a"\n"b"\n"c"\n'
