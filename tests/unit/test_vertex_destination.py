"""Where a Vertex AI job writes: a destination or the connection's output_gcs_uri, its shape checked before any
input is read."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_genai_batch.errors import GenAIBatchError
from airflow_provider_genai_batch.hooks.vertex import VertexBatchHook
from airflow_provider_genai_batch.operators.submit import GenAIBatchSubmitOperator
from tests.unit.pipeline.fakes import FakeTI, make_context

CONN_ID = "vertex_destination"
EXTRA = {"project": "proj-1", "staging_gcs_uri": "gs://bkt/staging", "output_gcs_uri": "gs://bkt/out"}


def hook(monkeypatch: pytest.MonkeyPatch, **extra: Any) -> VertexBatchHook:
    conn = {"conn_type": "genaivertex", "host": "http://vertex.test", "extra": {**EXTRA, **extra}}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))
    return VertexBatchHook(conn_id=CONN_ID)


def test_no_destination_writes_to_the_connections_output_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    hook(monkeypatch).check_destination(None)


def test_no_destination_and_no_output_prefix_is_refused_naming_both_ways_to_fix_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(GenAIBatchError) as raised:
        hook(monkeypatch, output_gcs_uri=None).check_destination(None)

    message = str(raised.value)
    assert "no destination for the job's output" in message
    assert "give the task a destination" in message
    assert f"set output_gcs_uri on connection {CONN_ID!r}" in message


@pytest.mark.parametrize(
    "destination",
    [
        "gs://bkt",
        "gs://bkt/out/run-1/",
        "gs://my_bucket-2/x",
        "gs://results.example.com/out",
        "bq://proj-1.ds.results",
        "bq://proj-1.my_dataset.t-2",
        "bq://example.com:proj-1.ds.results",
    ],
)
def test_a_well_formed_destination_is_taken_without_an_output_prefix(
    monkeypatch: pytest.MonkeyPatch, destination: str
) -> None:
    hook(monkeypatch, output_gcs_uri=None).check_destination(destination)


@pytest.mark.parametrize(
    ("destination", "reason"),
    [
        ("gs://ab/out", "bucket 'ab' must be 3-63 characters"),
        ("gs://" + "b" * 64 + "/out", "must be 3-63 characters"),
        ("gs://a..b/out", "1-63 between two dots"),
        ("gs://Results/out", "bucket 'Results' must hold only lowercase letters"),
        ("gs://-bucket/out", "start and end with a letter or digit"),
        ("gs://bucket-/out", "start and end with a letter or digit"),
        ("gs://buc ket/out", "must hold only lowercase letters"),
        ("gs://192.168.0.1/out", "is an IP address"),
        ("gs://goog-results/out", "starts with 'goog'"),
        ("gs://my-google-bucket/out", "holds 'google'"),
        ("gs://my-g00gle-bucket/out", "holds 'google'"),
        ("gs://bkt/a\nb", "no line breaks"),
        ("gs://bkt/" + "x" * 1025, "over 1024 bytes"),
        ("bq://proj-1.ds", "name the output table too"),
        ("bq://proj-1", "not bq://project.dataset.table"),
        ("bq://proj-1.ds.t.x", "not bq://project.dataset.table"),
        ("bq://p.ds.t", "project 'p' is not a Google Cloud project id"),
        ("bq://Proj-123.ds.t", "is not a Google Cloud project id"),
        ("bq://1proj-1.ds.t", "is not a Google Cloud project id"),
        ("bq://proj-1.my-dataset.t", "dataset 'my-dataset' must be 1-1024 letters, digits and '_'"),
        ("bq://proj-1.ds.my table", "table 'my table' must be"),
        ("bq://proj-1.ds.", "table '' must be"),
    ],
)
def test_a_malformed_destination_is_refused_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, destination: str, reason: str
) -> None:
    with pytest.raises(GenAIBatchError, match=r"^destination ") as raised:
        hook(monkeypatch).check_destination(destination)

    assert reason in str(raised.value)


def test_a_destination_outside_storage_and_bigquery_is_refused_by_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(GenAIBatchError, match=r"only to bq://\.\.\., gs://\.\.\.; got destination 's3://bkt/out'"):
        hook(monkeypatch).check_destination("s3://bkt/out")


def test_the_submit_operator_refuses_a_bad_destination_before_reading_the_input(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hook(monkeypatch)
    op = GenAIBatchSubmitOperator(
        task_id="submit",
        conn_id=CONN_ID,
        model="gemini-2.5-flash",
        input="/no/such/input.jsonl",
        output_uri="/tmp/never-written",
        destination="gs://Results/out",
    )

    with pytest.raises(GenAIBatchError, match="bucket 'Results'"):
        op.execute(make_context(FakeTI()))


def test_the_submit_operator_refuses_a_job_with_nowhere_to_write_before_reading_the_input(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hook(monkeypatch, output_gcs_uri=None)
    op = GenAIBatchSubmitOperator(
        task_id="submit",
        conn_id=CONN_ID,
        model="gemini-2.5-flash",
        input="/no/such/input.jsonl",
        output_uri="/tmp/never-written",
    )

    with pytest.raises(GenAIBatchError, match="no destination for the job's output"):
        op.execute(make_context(FakeTI()))
