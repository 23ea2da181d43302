"""VertexDialect and the Vertex wire format: lines, labels, model names, create bodies, jobs and result rows."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from airflow_provider_genai_batch.formats import vertex
from airflow_provider_genai_batch.formats.detect import InputFormat
from airflow_provider_genai_batch.formats.results import UNPARSEABLE, RowError, RowStatus, key_field, read_result_item
from airflow_provider_genai_batch.idempotency import JobIdentity
from airflow_provider_genai_batch.models import JobState

KEY = "gbk-0123456789abcdef0123"
FINGERPRINT = "ab" * 32
DIALECT = vertex.VertexDialect()
LINE = {"key": "q1", "request": {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}}


def embed_line(**request: Any) -> dict[str, Any]:
    return {"key": "e1", "request": {"content": {"parts": [{"text": "a cat"}]}, **request}}


# --- policy ------------------------------------------------------------------------------------------


def test_canonical_gemini_lines_are_the_native_format() -> None:
    assert DIALECT.provider == "vertex"
    assert DIALECT.native_format is InputFormat.GEMINI
    assert DIALECT.to_native(LINE, model="gemini-2.5-flash", embeddings=False) == LINE


def test_capabilities_take_files_labels_and_both_destinations_but_no_inline_input() -> None:
    caps = DIALECT.capabilities
    assert (caps.file_input, caps.inline_input, caps.embeddings, caps.labels, caps.find_by_key) == (
        True,
        False,
        True,
        True,
        True,
    )
    assert caps.destinations == frozenset({"gs", "bq"})


def test_limits_are_200000_requests_and_1_gb_per_file() -> None:
    assert DIALECT.limits.max_requests == 200_000
    assert DIALECT.limits.max_file_bytes == 1_000_000_000


def test_keys_travel_unchanged() -> None:
    assert DIALECT.provider_key("any key / with spaces") == "any key / with spaces"


def test_generation_and_gemini_embedding_lines_pass_through_and_text_embedding_lines_are_rewritten() -> None:
    assert DIALECT.passes_through(model="gemini-2.5-flash", embeddings=False)
    assert DIALECT.passes_through(model="gemini-embedding-001", embeddings=True)
    assert DIALECT.passes_through(model="publishers/google/models/gemini-embedding-001", embeddings=True)
    assert not DIALECT.passes_through(model="text-embedding-005", embeddings=True)


def test_a_gemini_embedding_line_keeps_its_embed_content_request() -> None:
    line = embed_line(outputDimensionality=64)
    assert DIALECT.to_native(line, model="gemini-embedding-001", embeddings=True) == line


def test_a_cloud_storage_file_part_is_accepted() -> None:
    part = {"fileData": {"fileUri": "gs://bkt/cat.png", "mimeType": "image/png"}}
    line = {"key": "q", "request": {"contents": [{"role": "user", "parts": [part]}]}}
    assert DIALECT.check_native(line, model="gemini-2.5-flash") is None


def test_a_turn_answering_fewer_calls_than_the_turn_before_made_is_refused_as_on_the_gemini_api() -> None:
    call, answer = {"functionCall": {"name": "f", "args": {}}}, {"functionResponse": {"name": "f", "response": {}}}
    contents = [
        {"role": "user", "parts": [{"text": "x"}]},
        {"role": "model", "parts": [call, call]},
        {"role": "user", "parts": [answer]},
    ]
    with pytest.raises(ValueError, match=r"request\.contents\[2\] has 1 functionResponse parts for the 2 functionCall"):
        DIALECT.check_native({"key": "q", "request": {"contents": contents}}, model="gemini-2.5-flash")


@pytest.mark.parametrize("uri", ["files/abc-123", "https://generativelanguage.googleapis.com/v1beta/files/abc"])
def test_a_gemini_api_file_part_is_refused_naming_its_path(uri: str) -> None:
    part = {"fileData": {"fileUri": uri, "mimeType": "image/png"}}
    line = {"key": "q", "request": {"contents": [{"role": "user", "parts": [{"text": "x"}, part]}]}}
    with pytest.raises(ValueError, match=r"request\.contents\[0\]\.parts\[1\]\.fileData\.fileUri .* give a gs:// URI"):
        DIALECT.check_native(line, model="gemini-2.5-flash")


@pytest.mark.parametrize("field", ["cachedContent", "cached_content"])
@pytest.mark.parametrize("name", ["cachedContents/abc", "abc", "locations/us-central1/cachedContents/abc"])
def test_a_cache_not_named_as_vertex_names_caches_is_refused_naming_the_field(field: str, name: str) -> None:
    line = {"key": "q", "request": {**LINE["request"], field: name}}
    with pytest.raises(
        ValueError, match=rf"request\.cachedContent '{name}' is not a Vertex context cache: .*projects/<p"
    ):
        DIALECT.check_native(line, model="gemini-2.5-flash")


def test_a_cache_named_with_its_project_and_location_goes_as_written() -> None:
    name = "projects/my-project/locations/us-central1/cachedContents/8812"
    line = {"key": "q", "request": {**LINE["request"], "cachedContent": name}}
    assert DIALECT.check_native(line, model="gemini-2.5-flash") is None
    assert DIALECT.to_native(line, model="gemini-2.5-flash", embeddings=False) == line


# --- embeddings lines --------------------------------------------------------------------------------


def test_an_embeddings_line_becomes_a_text_embedding_instance_with_its_key() -> None:
    line = embed_line(taskType="RETRIEVAL_DOCUMENT", title="Cats")
    assert DIALECT.to_native(line, model="text-embedding-005", embeddings=True) == {
        "key": "e1",
        "content": "a cat",
        "task_type": "RETRIEVAL_DOCUMENT",
        "title": "Cats",
    }


def test_the_text_parts_of_an_embeddings_line_are_joined_by_newlines() -> None:
    line = {"key": "e1", "request": {"content": {"parts": [{"text": "one"}, {"text": "two"}]}}}
    assert DIALECT.to_native(line, model="text-embedding-005", embeddings=True)["content"] == "one\ntwo"


def test_an_embeddings_output_dimensionality_is_refused_as_a_job_setting() -> None:
    with pytest.raises(ValueError, match=r"request\.outputDimensionality cannot be sent to vertex: .*whole job"):
        DIALECT.to_native(embed_line(outputDimensionality=64), model="text-embedding-005", embeddings=True)


def test_an_image_in_an_embeddings_line_is_refused() -> None:
    line = {"key": "e1", "request": {"content": {"parts": [{"inlineData": {"mimeType": "image/png", "data": "AA=="}}]}}}
    with pytest.raises(ValueError, match=r"request\.content\.parts\[0\]\.inlineData .*text only"):
        DIALECT.to_native(line, model="text-embedding-005", embeddings=True)


# --- labels ------------------------------------------------------------------------------------------


def test_identity_labels_hold_the_key_and_63_characters_of_the_fingerprint() -> None:
    labels = vertex.identity_labels(KEY, FINGERPRINT)
    assert labels == {"genai_batch_key": KEY, "genai_batch_input": FINGERPRINT[:63]}


def test_identity_is_read_back_from_the_labels() -> None:
    identity = vertex.identity_in_labels(vertex.identity_labels(KEY, FINGERPRINT))
    assert identity == JobIdentity(KEY, FINGERPRINT[:63])
    assert identity is not None and identity.matches(KEY, FINGERPRINT)
    assert not identity.matches(KEY, "cd" * 32)


@pytest.mark.parametrize("labels", [None, {}, {"genai_batch_key": "someone-else"}, {"team": "x"}])
def test_labels_without_our_key_carry_no_identity(labels: dict[str, str] | None) -> None:
    assert vertex.identity_in_labels(labels) is None


def test_the_key_filter_selects_the_key_label() -> None:
    assert vertex.key_filter(KEY) == f'labels.genai_batch_key="{KEY}"'


def test_a_key_filter_refuses_anything_but_a_key() -> None:
    with pytest.raises(ValueError, match="not 'gbk-'"):
        vertex.key_filter('gbk-x" OR labels.a:*')


@pytest.mark.parametrize(
    "labels",
    [{"team": "search"}, {"cost-center": ""}, {"é_quipe": "données"}, {f"k{i}": "v" for i in range(62)}],
)
def test_user_labels_within_the_google_cloud_rules_pass(labels: dict[str, str]) -> None:
    vertex.check_labels(labels)


@pytest.mark.parametrize(
    ("labels", "reason"),
    [
        ({"genai_batch_key": "x"}, "'genai_batch_key' is reserved"),
        ({"genai_batch_input": "x"}, "'genai_batch_input' is reserved"),
        ({"Team": "x"}, "starting with a lowercase letter"),
        ({"1team": "x"}, "starting with a lowercase letter"),
        ({"": "x"}, "1-63 characters"),
        ({"k" * 64: "x"}, "1-63 characters"),
        ({"team": "Search"}, r"holds 'S'"),
        ({"team": "a.b"}, r"holds '\.'"),
        ({"team": "v" * 64}, "at most 63"),
        ({f"k{i}": "v" for i in range(63)}, "at most 64"),
    ],
)
def test_user_labels_google_cloud_refuses_are_refused_with_the_reason(labels: dict[str, str], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        vertex.check_labels(labels)


# --- models and create bodies ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "resource"),
    [
        ("gemini-2.5-flash", "publishers/google/models/gemini-2.5-flash"),
        ("publishers/google/models/gemini-2.5-pro", "publishers/google/models/gemini-2.5-pro"),
        ("projects/p/locations/us-central1/models/123", "projects/p/locations/us-central1/models/123"),
        ("projects/p/locations/us-central1/models/123@2", "projects/p/locations/us-central1/models/123@2"),
        (
            "projects/p/locations/us-central1/publishers/google/models/gemini-2.5-flash",
            "projects/p/locations/us-central1/publishers/google/models/gemini-2.5-flash",
        ),
        ("meta/llama-3.1", "publishers/meta/models/llama-3.1"),
    ],
)
def test_model_names_become_resource_names(model: str, resource: str) -> None:
    assert vertex.model_resource(model, "us-central1") == resource


@pytest.mark.parametrize(
    "model",
    [
        "projects/p/locations/us-central1/endpoints/4567",
        "projects/p/locations/us-central1/tuningJobs/89",
        "projects/p/models/123",
        "publishers/google/gemini-2.5-flash",
    ],
)
def test_a_resource_name_that_is_not_a_model_is_refused(model: str) -> None:
    with pytest.raises(ValueError, match=rf"model '{model}' is not a"):
        vertex.model_resource(model, "us-central1")


@pytest.mark.parametrize(
    "model",
    [
        "gemini-2.5-flash",
        "google/gemini-2.5-flash",
        "text-embedding-005",
        "projects/p/locations/us-central1/models/123@2",
        "projects/p/locations/us-central1/publishers/google/models/gemini-2.5-pro",
    ],
)
def test_google_and_tuned_models_can_run_a_job(model: str) -> None:
    assert vertex.check_model(model, "us-central1") is None


@pytest.mark.parametrize(
    "model",
    [
        "anthropic/claude-sonnet-4-5",
        "publishers/meta/models/llama-3.1",
        "projects/p/locations/us-central1/publishers/mistralai/models/m",
    ],
)
def test_another_publishers_model_is_refused_for_it_reads_another_request_format(model: str) -> None:
    with pytest.raises(ValueError, match=r"reads \w+'s own request format; Vertex batch jobs here send Gemini"):
        vertex.check_model(model, "us-central1")


def test_a_model_in_another_location_than_the_job_is_refused() -> None:
    with pytest.raises(ValueError, match="is in location 'europe-west4', and a job's model must be in the job's"):
        vertex.model_resource("projects/p/locations/europe-west4/models/123", "us-central1")


def test_a_gemini_api_model_name_is_refused() -> None:
    with pytest.raises(ValueError, match="Gemini API name"):
        vertex.model_resource("models/gemini-2.5-flash")


def test_the_create_body_from_cloud_storage_to_cloud_storage() -> None:
    body = vertex.create_body(
        display_name="nightly",
        model="gemini-2.5-flash",
        input_uri="gs://bkt/in/x.jsonl",
        output_uri="gs://bkt/out",
        labels={"team": "search", **vertex.identity_labels(KEY, FINGERPRINT)},
    )
    assert body == {
        "displayName": "nightly",
        "model": "publishers/google/models/gemini-2.5-flash",
        "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": ["gs://bkt/in/x.jsonl"]}},
        "outputConfig": {"predictionsFormat": "jsonl", "gcsDestination": {"outputUriPrefix": "gs://bkt/out"}},
        "labels": {"team": "search", "genai_batch_key": KEY, "genai_batch_input": FINGERPRINT[:63]},
    }


def test_the_create_body_from_bigquery_to_bigquery() -> None:
    body = vertex.create_body(
        display_name="n", model="gemini-2.5-flash", input_uri="bq://p.d.in", output_uri="bq://p.d.out", labels={}
    )
    assert body["inputConfig"] == {"instancesFormat": "bigquery", "bigquerySource": {"inputUri": "bq://p.d.in"}}
    assert body["outputConfig"] == {
        "predictionsFormat": "bigquery",
        "bigqueryDestination": {"outputUri": "bq://p.d.out"},
    }
    assert "labels" not in body


@pytest.mark.parametrize("uri", ["s3://b/x", "gs://", "bq://just-a-project", "/tmp/x.jsonl"])
def test_an_input_that_is_neither_a_gcs_object_nor_a_table_is_refused(uri: str) -> None:
    with pytest.raises(ValueError, match="is not a"):
        vertex.input_config(uri)


# --- jobs --------------------------------------------------------------------------------------------

JOB = {
    "name": "projects/p/locations/us-central1/batchPredictionJobs/123",
    "displayName": "nightly",
    "model": "publishers/google/models/gemini-2.5-flash",
    "state": "JOB_STATE_PARTIALLY_SUCCEEDED",
    "createTime": "2026-11-20T10:00:00.123456Z",
    "endTime": "2026-11-20T11:00:00Z",
    "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": ["gs://bkt/in.jsonl"]}},
    "outputInfo": {"gcsOutputDirectory": "gs://bkt/out/prediction-model-2026-11-20T10:00:00.000000Z"},
    "completionStats": {"successfulCount": "7", "failedCount": "2", "incompleteCount": "1"},
    "labels": {"genai_batch_key": KEY},
}


def test_a_job_resource_maps_state_counts_input_and_output_location() -> None:
    job = vertex.parse_job(JOB)
    assert job.state is JobState.PARTIALLY_SUCCEEDED and job.state.is_terminal
    assert (job.stats.total, job.stats.succeeded, job.stats.failed, job.stats.pending) == (10, 7, 2, 1)
    assert job.input_file == "gs://bkt/in.jsonl"
    assert job.output_location == "gs://bkt/out/prediction-model-2026-11-20T10:00:00.000000Z"
    assert job.provider == "vertex"


@pytest.mark.parametrize("state", ["JOB_STATE_PAUSED", "JOB_STATE_UPDATING", "JOB_STATE_QUEUED"])
def test_paused_updating_and_queued_jobs_are_not_terminal(state: str) -> None:
    assert not vertex.parse_job({**JOB, "state": state}).state.is_terminal


def test_a_bigquery_output_table_is_named_as_a_bq_uri() -> None:
    data = {**JOB, "outputInfo": {"bigqueryOutputDataset": "bq://p.d", "bigqueryOutputTable": "predictions_1"}}
    assert vertex.parse_job(data).output_location == "bq://p.d.predictions_1"


@pytest.mark.parametrize("count", ["seven", "-7", 7.5, True])
def test_a_completion_count_that_is_not_an_int64_is_an_unreadable_answer_not_a_guess(count: Any) -> None:
    data = {**JOB, "completionStats": {**JOB["completionStats"], "successfulCount": count}}
    with pytest.raises(TypeError, match=f"the count 'successfulCount' is {re.escape(repr(count))}, not an integer"):
        vertex.parse_job(data)


def test_a_failed_job_carries_its_error_message() -> None:
    job = vertex.parse_job({**JOB, "state": "JOB_STATE_FAILED", "error": {"code": 3, "message": "bad input"}})
    assert (job.state, job.error_message) == (JobState.FAILED, "bad input")


# --- result rows -------------------------------------------------------------------------------------

RESPONSE = {
    "candidates": [{"content": {"role": "model", "parts": [{"text": "hello"}]}, "finishReason": "STOP"}],
    "usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 1, "totalTokenCount": 4},
}


def test_a_succeeded_generation_line_is_joined_on_its_echoed_key() -> None:
    line = {**LINE, "status": "", "processed_time": "2026-11-20T10:05:00Z", "response": RESPONSE}
    row = DIALECT.result_row(line)
    assert (row.key, row.status, row.text) == ("q1", RowStatus.SUCCEEDED, "hello")
    assert row.usage is not None and row.usage.total_tokens == 4


def test_a_non_empty_status_is_a_failed_row_with_that_message() -> None:
    row = DIALECT.result_row(
        {**LINE, "status": "Bad Request: invalid argument", "processed_time": "2026-11-20T10:05:00Z"}
    )
    assert (row.key, row.status) == ("q1", RowStatus.FAILED)
    assert row.error is not None and row.error.message == "Bad Request: invalid argument"


def test_a_status_object_whose_message_is_null_is_the_error_as_it_came() -> None:
    row = DIALECT.result_row({**LINE, "status": {"code": 3, "message": None}})
    assert row.error == RowError(message="{'code': 3, 'message': None}", code=3)


def test_a_line_with_neither_response_nor_status_is_failed() -> None:
    row = DIALECT.result_row({**LINE, "status": ""})
    assert row.status is RowStatus.FAILED
    assert row.error is not None and "neither a response nor a status" in row.error.message


def test_an_embeddings_result_reads_the_key_from_the_echoed_instance() -> None:
    line = {
        "instance": {"key": "e1", "content": "a cat"},
        "predictions": [{"embeddings": {"statistics": {"token_count": 3, "truncated": False}, "values": [0.5, -1]}}],
        "status": "",
    }
    row = DIALECT.result_row(line)
    assert (row.key, row.status, row.embedding) == ("e1", RowStatus.SUCCEEDED, [0.5, -1.0])
    assert row.usage is not None and row.usage.input_tokens == 3


def test_an_embeddings_result_of_several_predictions_for_one_instance_is_unparseable_under_its_key() -> None:
    predictions = [{"embeddings": {"values": [0.5]}}, {"embeddings": {"values": [0.25]}}]
    line = {"instance": {"key": "e1", "content": "a cat"}, "predictions": predictions, "status": ""}
    row = read_result_item(line, "predictions.jsonl, line 1", DIALECT.result_row, key_field("key", "instance.key"))
    assert (row.key, row.status, row.embedding) == ("e1", RowStatus.FAILED, None)
    assert row.error is not None and row.error.code == UNPARSEABLE
    assert row.error.message == (
        "unparseable result (predictions.jsonl, line 1): ValueError: predictions holds 2 predictions, "
        "where an instance has one"
    )


def test_a_gemini_embedding_result_reads_the_embedding_from_its_response() -> None:
    response = {"embedding": {"values": [0.25, 0.5]}, "usageMetadata": {"promptTokenCount": 2}}
    row = DIALECT.result_row({**embed_line(), "status": "", "response": response})
    assert (row.key, row.status, row.embedding) == ("e1", RowStatus.SUCCEEDED, [0.25, 0.5])


def test_results_from_string_columns_of_an_output_table_are_decoded() -> None:
    predictions = json.dumps([{"embeddings": {"values": [1.0]}}])
    row = DIALECT.result_row({"key": "e1", "content": "x", "predictions": predictions, "status": ""})
    assert (row.key, row.embedding) == ("e1", [1.0])
    generated = DIALECT.result_row({**LINE, "status": "", "response": json.dumps(RESPONSE)})
    assert generated.text == "hello"


def test_a_failed_embeddings_result_keeps_its_key() -> None:
    row = DIALECT.result_row({"instance": {"key": "e1", "content": "x"}, "status": "quota exceeded"})
    assert (row.key, row.status) == ("e1", RowStatus.FAILED)
