"""Raw-HTTP tests of the Vertex AI batchPredictionJobs emulator: auth, validation, lifecycle, listing,
cancel and delete, and the predictions it writes to Cloud Storage and BigQuery."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from google.auth.transport.requests import Request as AuthRequest
from google.oauth2 import service_account

from airflow_provider_genai_batch.testing.emulator import EmulatorServer
from airflow_provider_genai_batch.testing.emulator.vertex.wire import project_number
from airflow_provider_genai_batch.testing.gcp_auth import service_account_info
from airflow_provider_genai_batch.testing.gcs import GcsServer

PROJECT = "genai-batch-test"
LOCATION = "us-central1"
MODEL = "publishers/google/models/gemini-2.5-flash"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
TERMINAL = {
    "JOB_STATE_SUCCEEDED",
    "JOB_STATE_PARTIALLY_SUCCEEDED",
    "JOB_STATE_FAILED",
    "JOB_STATE_CANCELLED",
    "JOB_STATE_EXPIRED",
}


def mint(emulator: EmulatorServer, ttl: float = 3600) -> str:
    """A token from the emulator's control plane."""
    response = emulator.client.post("/_emulator/vertex/tokens", json={"ttl": ttl})
    response.raise_for_status()
    token: str = response.json()["token"]
    return token


@pytest.fixture(scope="module")
def vertex_http(vertex_emulator: EmulatorServer) -> Iterator[httpx.Client]:
    """One authenticated client on the project's location collection (v1) for the module (tokens survive
    resets)."""
    base = f"{vertex_emulator.base_url}/vertex/v1/projects/{PROJECT}/locations/{LOCATION}"
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {mint(vertex_emulator)}"}) as client:
        yield client


@pytest.fixture(scope="module")
def bigquery_http(vertex_emulator: EmulatorServer) -> Iterator[httpx.Client]:
    """One authenticated client on the BigQuery stand-in's project for the module."""
    base = f"{vertex_emulator.base_url}/bigquery/v2/projects/{PROJECT}"
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {mint(vertex_emulator)}"}) as client:
        yield client


@pytest.fixture
def api(vertex_http: httpx.Client, vertex_bucket: str) -> httpx.Client:
    """The Vertex client, on an emulator and a bucket reset for this test."""
    return vertex_http


@pytest.fixture
def bq(bigquery_http: httpx.Client, vertex_bucket: str) -> httpx.Client:
    """The BigQuery client, on an emulator reset for this test."""
    return bigquery_http


def gemini_line(key: str, text: str) -> dict[str, Any]:
    return {"key": key, "request": {"contents": [{"role": "user", "parts": [{"text": text}]}]}}


def put_lines(gcs: GcsServer, uri: str, lines: list[dict[str, Any]]) -> str:
    return gcs.put(uri, "".join(json.dumps(line) + "\n" for line in lines).encode())


def job_body(bucket: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "displayName": "nightly",
        "model": MODEL,
        "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": [f"gs://{bucket}/in/input.jsonl"]}},
        "outputConfig": {"predictionsFormat": "jsonl", "gcsDestination": {"outputUriPrefix": f"gs://{bucket}/out"}},
    }
    body.update(overrides)
    return body


def create(api: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    response = api.post("/batchPredictionJobs", json=body)
    assert response.status_code == 200, response.text
    job: dict[str, Any] = response.json()
    return job


def job_id(job: dict[str, Any]) -> str:
    return str(job["name"]).rsplit("/", 1)[1]


def wait_for(api: httpx.Client, job: dict[str, Any], states: set[str] = TERMINAL) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while True:
        current: dict[str, Any] = api.get(f"/batchPredictionJobs/{job_id(job)}").json()
        if current["state"] in states or time.monotonic() > deadline:
            return current
        time.sleep(0.1)


def error_of(response: httpx.Response) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


@pytest.fixture
def input_uri(gcs_server: GcsServer, vertex_bucket: str) -> str:
    """Three Gemini lines at gs://<bucket>/in/input.jsonl."""
    lines = [gemini_line(f"k{i}", f"question {i}") for i in range(3)]
    return put_lines(gcs_server, f"gs://{vertex_bucket}/in/input.jsonl", lines)


def predictions(gcs: GcsServer, job: dict[str, Any]) -> list[dict[str, Any]]:
    uri = f"{job['outputInfo']['gcsOutputDirectory']}/predictions.jsonl"
    return [json.loads(line) for line in gcs.get(uri).decode().splitlines()]


# Auth


def test_a_request_without_credentials_is_unauthenticated(api: httpx.Client) -> None:
    response = api.get("/batchPredictionJobs", headers={"Authorization": ""})
    assert response.status_code == 401
    assert error_of(response)["status"] == "UNAUTHENTICATED"


def test_a_token_the_emulator_did_not_mint_is_unauthenticated(api: httpx.Client) -> None:
    response = api.get("/batchPredictionJobs", headers={"Authorization": "Bearer ya29.made-up"})
    assert response.status_code == 401
    assert error_of(response)["message"].startswith("Request had invalid authentication credentials.")


def test_an_expired_token_is_unauthenticated(api: httpx.Client, vertex_emulator: EmulatorServer) -> None:
    expired = mint(vertex_emulator, ttl=-1)
    response = api.get("/batchPredictionJobs", headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401


def test_an_api_key_is_refused_for_batch_prediction(api: httpx.Client) -> None:
    response = api.get("/batchPredictionJobs", headers={"Authorization": "", "x-goog-api-key": "AIza-test"})
    assert response.status_code == 401
    assert error_of(response)["message"].startswith("API keys are not supported by this API.")


def test_a_service_account_assertion_is_exchanged_for_a_working_token(
    api: httpx.Client, vertex_emulator: EmulatorServer
) -> None:
    info = service_account_info(f"{vertex_emulator.base_url}/vertex/token")
    credentials = service_account.Credentials.from_service_account_info(info, scopes=[SCOPE])
    credentials.refresh(AuthRequest())
    response = api.get("/batchPredictionJobs", headers={"Authorization": f"Bearer {credentials.token}"})
    assert response.status_code == 200
    assert credentials.expiry is not None


def test_the_token_endpoint_refuses_a_malformed_assertion(vertex_emulator: EmulatorServer) -> None:
    response = vertex_emulator.client.post(
        "/vertex/token",
        data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": "not-a-jwt"},
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_the_token_endpoint_refuses_another_grant_type(vertex_emulator: EmulatorServer) -> None:
    response = vertex_emulator.client.post("/vertex/token", data={"grant_type": "password", "assertion": "x"})
    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


# Validation at create


def field_violation(response: httpx.Response) -> str:
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert error["status"] == "INVALID_ARGUMENT"
    field: str = error["details"][0]["fieldViolations"][0]["field"]
    return field


def test_a_job_without_display_name_is_refused(api: httpx.Client, vertex_bucket: str) -> None:
    body = job_body(vertex_bucket)
    del body["displayName"]
    assert field_violation(api.post("/batchPredictionJobs", json=body)) == "batch_prediction_job.display_name"


def test_a_bare_model_id_is_refused(api: httpx.Client, vertex_bucket: str) -> None:
    response = api.post("/batchPredictionJobs", json=job_body(vertex_bucket, model="gemini-2.5-flash"))
    assert field_violation(response) == "batch_prediction_job.model"


def test_an_unknown_publisher_model_is_not_found(api: httpx.Client, vertex_bucket: str) -> None:
    body = job_body(vertex_bucket, model="publishers/google/models/no-such-model")
    response = api.post("/batchPredictionJobs", json=body)
    assert response.status_code == 404
    assert "Publisher Model" in error_of(response)["message"]


def test_a_live_api_model_cannot_run_batch_prediction(api: httpx.Client, vertex_bucket: str) -> None:
    body = job_body(vertex_bucket, model="publishers/google/models/gemini-2.0-flash-live-001")
    response = api.post("/batchPredictionJobs", json=body)
    assert response.status_code == 400
    assert "does not support batch prediction" in error_of(response)["message"]


def test_an_unknown_body_field_is_refused(api: httpx.Client, vertex_bucket: str) -> None:
    response = api.post("/batchPredictionJobs", json=job_body(vertex_bucket, priority=3))
    assert response.status_code == 400
    assert 'Unknown name "priority"' in error_of(response)["message"]


def test_an_unsupported_instances_format_is_refused(api: httpx.Client, vertex_bucket: str) -> None:
    body = job_body(vertex_bucket)
    body["inputConfig"]["instancesFormat"] = "csv"
    assert field_violation(api.post("/batchPredictionJobs", json=body)).endswith("instances_format")


def test_a_jsonl_input_must_come_from_cloud_storage(api: httpx.Client, vertex_bucket: str) -> None:
    body = job_body(vertex_bucket)
    body["inputConfig"] = {"instancesFormat": "jsonl", "bigquerySource": {"inputUri": "bq://proj-x.ds.t"}}
    assert field_violation(api.post("/batchPredictionJobs", json=body)) == "batch_prediction_job.input_config"


def test_a_gcs_input_uri_without_an_object_is_refused(api: httpx.Client, vertex_bucket: str) -> None:
    body = job_body(vertex_bucket)
    body["inputConfig"]["gcsSource"]["uris"] = [f"gs://{vertex_bucket}"]
    assert field_violation(api.post("/batchPredictionJobs", json=body)).endswith("gcs_source.uris")


def test_a_bigquery_input_uri_without_a_table_is_refused(api: httpx.Client, vertex_bucket: str) -> None:
    body = job_body(vertex_bucket)
    body["inputConfig"] = {"instancesFormat": "bigquery", "bigquerySource": {"inputUri": f"bq://{PROJECT}.ds"}}
    assert field_violation(api.post("/batchPredictionJobs", json=body)).endswith("bigquery_source.input_uri")


def test_an_output_prefix_must_be_a_gs_uri(api: httpx.Client, vertex_bucket: str) -> None:
    body = job_body(vertex_bucket)
    body["outputConfig"]["gcsDestination"]["outputUriPrefix"] = "s3://elsewhere/out"
    assert field_violation(api.post("/batchPredictionJobs", json=body)).endswith("output_uri_prefix")


def test_a_label_key_with_capitals_is_refused(api: httpx.Client, vertex_bucket: str) -> None:
    response = api.post("/batchPredictionJobs", json=job_body(vertex_bucket, labels={"Team": "ml"}))
    assert field_violation(response) == "batch_prediction_job.labels"


def test_a_label_value_over_63_characters_is_refused(api: httpx.Client, vertex_bucket: str) -> None:
    response = api.post("/batchPredictionJobs", json=job_body(vertex_bucket, labels={"team": "a" * 64}))
    assert field_violation(response) == "batch_prediction_job.labels"


def test_more_than_64_labels_are_refused(api: httpx.Client, vertex_bucket: str) -> None:
    labels = {f"k{i}": "v" for i in range(65)}
    assert field_violation(api.post("/batchPredictionJobs", json=job_body(vertex_bucket, labels=labels)))


def test_gemini_embedding_models_do_not_take_bigquery_input(api: httpx.Client, vertex_bucket: str) -> None:
    body = job_body(vertex_bucket, model="publishers/google/models/gemini-embedding-001")
    body["inputConfig"] = {"instancesFormat": "bigquery", "bigquerySource": {"inputUri": f"bq://{PROJECT}.ds.t"}}
    response = api.post("/batchPredictionJobs", json=body)
    assert response.status_code == 400
    assert "BigQuery input is not supported" in error_of(response)["message"]


# Import failures: the job is created, then fails


def test_a_missing_input_object_fails_the_job(api: httpx.Client, vertex_bucket: str) -> None:
    job = wait_for(api, create(api, job_body(vertex_bucket)))
    assert job["state"] == "JOB_STATE_FAILED"
    assert job["error"]["code"] == 3
    assert job["error"]["message"].startswith("Failed to import data. Not found:")
    assert "outputInfo" not in job


def test_an_input_line_that_is_not_json_fails_the_job(
    api: httpx.Client, gcs_server: GcsServer, vertex_bucket: str
) -> None:
    gcs_server.put(f"gs://{vertex_bucket}/in/input.jsonl", b'{"key": "a", "request": {}}\nnot json\n')
    job = wait_for(api, create(api, job_body(vertex_bucket)))
    assert job["state"] == "JOB_STATE_FAILED"
    assert "Line 2" in job["error"]["message"]


def test_a_missing_output_bucket_fails_the_job(api: httpx.Client, vertex_bucket: str, input_uri: str) -> None:
    body = job_body(vertex_bucket)
    body["outputConfig"]["gcsDestination"]["outputUriPrefix"] = "gs://no-such-bucket/out"
    job = wait_for(api, create(api, body))
    assert job["state"] == "JOB_STATE_FAILED"
    assert "no-such-bucket" in job["error"]["message"]


def test_an_input_uri_with_wildcards_reads_every_object_it_matches(
    api: httpx.Client, gcs_server: GcsServer, vertex_bucket: str
) -> None:
    put_lines(gcs_server, f"gs://{vertex_bucket}/in/part-1.jsonl", [gemini_line("a", "one")])
    put_lines(gcs_server, f"gs://{vertex_bucket}/in/part-2.jsonl", [gemini_line("b", "two")])
    put_lines(gcs_server, f"gs://{vertex_bucket}/in/part-[1].jsonl", [gemini_line("literal", "three")])
    put_lines(gcs_server, f"gs://{vertex_bucket}/in/sub/part-3.jsonl", [gemini_line("deeper", "four")])
    body = job_body(vertex_bucket)
    body["inputConfig"]["gcsSource"]["uris"] = [f"gs://{vertex_bucket}/in/part-?.jsonl"]
    job = wait_for(api, create(api, body))
    assert job["state"] == "JOB_STATE_SUCCEEDED"
    assert sorted(line["key"] for line in predictions(gcs_server, job)) == ["a", "b"]


def test_a_character_class_in_an_input_uri_is_a_wildcard_not_the_object_named_with_it(
    api: httpx.Client, gcs_server: GcsServer, vertex_bucket: str
) -> None:
    put_lines(gcs_server, f"gs://{vertex_bucket}/in/data[1].jsonl", [gemini_line("named", "one")])
    put_lines(gcs_server, f"gs://{vertex_bucket}/in/data1.jsonl", [gemini_line("matched", "two")])
    body = job_body(vertex_bucket)
    body["inputConfig"]["gcsSource"]["uris"] = [f"gs://{vertex_bucket}/in/data[1].jsonl"]
    job = wait_for(api, create(api, body))
    assert [line["key"] for line in predictions(gcs_server, job)] == ["matched"]


def test_an_input_uri_whose_wildcards_match_nothing_fails_the_job(api: httpx.Client, vertex_bucket: str) -> None:
    body = job_body(vertex_bucket)
    body["inputConfig"]["gcsSource"]["uris"] = [f"gs://{vertex_bucket}/in/*.jsonl"]
    job = wait_for(api, create(api, body))
    assert job["state"] == "JOB_STATE_FAILED"
    assert job["error"]["message"] == (
        f"Failed to import data. Not found: no object matches gs://{vertex_bucket}/in/*.jsonl."
    )


# Lifecycle and output


def test_a_new_job_is_pending_under_the_project_number(api: httpx.Client, vertex_bucket: str, input_uri: str) -> None:
    job = create(api, job_body(vertex_bucket, labels={"team": "ml"}))
    prefix = f"projects/{project_number(PROJECT)}/locations/{LOCATION}/batchPredictionJobs/"
    assert job["name"].startswith(prefix)
    assert job_id(job).isdigit()
    assert job["state"] == "JOB_STATE_PENDING"
    assert job["labels"] == {"team": "ml"}
    assert job["createTime"].endswith("Z")
    assert "completionStats" not in job
    assert "startTime" not in job


def test_a_finished_job_reports_completion_stats_and_its_output_directory(
    api: httpx.Client, vertex_bucket: str, input_uri: str
) -> None:
    job = wait_for(api, create(api, job_body(vertex_bucket)))
    assert job["state"] == "JOB_STATE_SUCCEEDED"
    assert job["completionStats"] == {"successfulCount": "3"}
    directory = job["outputInfo"]["gcsOutputDirectory"]
    assert directory.startswith(f"gs://{vertex_bucket}/out/prediction-model-")
    assert directory.endswith("Z")
    assert {"startTime", "endTime", "updateTime"} <= job.keys()


def test_prediction_lines_echo_the_key_and_request_with_status_and_response(
    api: httpx.Client, gcs_server: GcsServer, vertex_bucket: str, input_uri: str
) -> None:
    job = wait_for(api, create(api, job_body(vertex_bucket)))
    lines = predictions(gcs_server, job)
    assert sorted(line["key"] for line in lines) == ["k0", "k1", "k2"]
    line = next(line for line in lines if line["key"] == "k1")
    assert list(line) == ["status", "processed_time", "key", "request", "response"]
    assert line["status"] == ""
    assert line["processed_time"].endswith("+00:00")
    assert line["request"] == gemini_line("k1", "question 1")["request"]
    assert line["response"]["candidates"][0]["content"]["parts"][0]["text"] == "Answer to: question 1"
    assert line["response"]["modelVersion"] == "gemini-2.5-flash"


def test_an_invalid_request_fails_its_row_and_the_job_succeeds(
    api: httpx.Client, gcs_server: GcsServer, vertex_bucket: str
) -> None:
    lines = [gemini_line("good", "hi"), {"key": "bad", "request": {"contents": [], "bogus": 1}}]
    put_lines(gcs_server, f"gs://{vertex_bucket}/in/input.jsonl", lines)
    job = wait_for(api, create(api, job_body(vertex_bucket)))
    assert job["state"] == "JOB_STATE_SUCCEEDED"
    assert job["completionStats"] == {"successfulCount": "1", "failedCount": "1"}
    bad = next(line for line in predictions(gcs_server, job) if line["key"] == "bad")
    assert bad["status"].startswith("Bad Request: ")
    assert "response" not in bad


@pytest.mark.parametrize(
    ("cache", "status"),
    [
        ("cachedContents/abc", "Bad Request: "),  # a Gemini API name: Vertex names caches by project and location
        (f"projects/{PROJECT}/locations/{LOCATION}/cachedContents/abc", "Not Found: "),  # the emulator holds no caches
    ],
)
def test_a_request_naming_a_context_cache_fails_its_row(
    api: httpx.Client, gcs_server: GcsServer, vertex_bucket: str, cache: str, status: str
) -> None:
    cached = {"key": "cached", "request": {**gemini_line("cached", "hi")["request"], "cachedContent": cache}}
    put_lines(gcs_server, f"gs://{vertex_bucket}/in/input.jsonl", [gemini_line("good", "hi"), cached])
    job = wait_for(api, create(api, job_body(vertex_bucket)))
    assert job["completionStats"] == {"successfulCount": "1", "failedCount": "1"}
    row = next(line for line in predictions(gcs_server, job) if line["key"] == "cached")
    assert row["status"].startswith(status)
    assert "response" not in row


def test_rows_lost_to_service_errors_make_the_job_partially_succeeded(
    api: httpx.Client, vertex_emulator: EmulatorServer, vertex_bucket: str, input_uri: str
) -> None:
    vertex_emulator.config(vertex_failed_rows=2)
    job = wait_for(api, create(api, job_body(vertex_bucket)))
    assert job["state"] == "JOB_STATE_PARTIALLY_SUCCEEDED"
    assert job["completionStats"] == {"successfulCount": "1", "failedCount": "2"}


def test_a_held_job_shows_paused_once_it_leaves_pending(
    api: httpx.Client, vertex_emulator: EmulatorServer, vertex_bucket: str, input_uri: str
) -> None:
    vertex_emulator.config(vertex_hold_state="PAUSED")
    job = wait_for(api, create(api, job_body(vertex_bucket)), {"JOB_STATE_PAUSED"})
    assert job["state"] == "JOB_STATE_PAUSED"
    assert "endTime" not in job


def test_a_held_job_can_show_updating(
    api: httpx.Client, vertex_emulator: EmulatorServer, vertex_bucket: str, input_uri: str
) -> None:
    vertex_emulator.config(vertex_hold_state="UPDATING")
    job = wait_for(api, create(api, job_body(vertex_bucket)), {"JOB_STATE_UPDATING"})
    assert job["state"] == "JOB_STATE_UPDATING"


def test_text_embedding_lines_echo_the_instance_with_predictions(
    api: httpx.Client, gcs_server: GcsServer, vertex_bucket: str
) -> None:
    put_lines(gcs_server, f"gs://{vertex_bucket}/in/input.jsonl", [{"key": "e1", "content": "banana bread"}])
    body = job_body(vertex_bucket, model="publishers/google/models/text-embedding-005")
    [line] = predictions(gcs_server, wait_for(api, create(api, body)))
    assert line["instance"] == {"key": "e1", "content": "banana bread"}
    assert line["status"] == ""
    embedding = line["predictions"][0]["embeddings"]
    assert embedding["statistics"] == {"token_count": 2, "truncated": False}
    assert len(embedding["values"]) > 0


def test_a_text_embedding_job_over_30000_prompts_fails_on_import(
    api: httpx.Client, gcs_server: GcsServer, vertex_bucket: str
) -> None:
    lines = [{"key": f"e{number}", "content": "x"} for number in range(30_001)]
    put_lines(gcs_server, f"gs://{vertex_bucket}/in/input.jsonl", lines)
    body = job_body(vertex_bucket, model="publishers/google/models/text-embedding-005")
    job = wait_for(api, create(api, body))
    assert job["state"] == "JOB_STATE_FAILED"
    assert job["error"]["message"] == (
        "Failed to import data. The input holds 30001 instances; a batch prediction job of "
        "publishers/google/models/text-embedding-005 takes at most 30000."
    )


def test_gemini_embedding_lines_answer_the_request_with_an_embedding(
    api: httpx.Client, gcs_server: GcsServer, vertex_bucket: str
) -> None:
    line_in = {
        "key": "e1",
        "request": {"content": {"parts": [{"text": "hello"}]}, "embed_content_config": {"output_dimensionality": 4}},
    }
    put_lines(gcs_server, f"gs://{vertex_bucket}/in/input.jsonl", [line_in])
    body = job_body(vertex_bucket, model="publishers/google/models/gemini-embedding-001")
    [line] = predictions(gcs_server, wait_for(api, create(api, body)))
    assert line["key"] == "e1"
    assert line["request"] == line_in["request"]
    assert len(line["response"]["embedding"]["values"]) == 4


def test_v1beta1_serves_the_same_job(
    api: httpx.Client, vertex_emulator: EmulatorServer, vertex_bucket: str, input_uri: str
) -> None:
    job = create(api, job_body(vertex_bucket))
    path = f"/vertex/v1beta1/projects/{PROJECT}/locations/{LOCATION}/batchPredictionJobs/{job_id(job)}"
    response = vertex_emulator.client.get(path, headers=dict(api.headers))
    assert response.json()["name"] == job["name"]


def test_a_job_is_not_found_under_another_location(
    api: httpx.Client, vertex_emulator: EmulatorServer, vertex_bucket: str, input_uri: str
) -> None:
    job = create(api, job_body(vertex_bucket))
    path = f"/vertex/v1/projects/{PROJECT}/locations/europe-west4/batchPredictionJobs/{job_id(job)}"
    response = vertex_emulator.client.get(path, headers=dict(api.headers))
    assert response.status_code == 404


def test_a_job_is_found_by_project_number_too(
    api: httpx.Client, vertex_emulator: EmulatorServer, vertex_bucket: str, input_uri: str
) -> None:
    job = create(api, job_body(vertex_bucket))
    response = vertex_emulator.client.get(f"/vertex/v1/{job['name']}", headers=dict(api.headers))
    assert response.json()["name"] == job["name"]


def test_a_non_numeric_job_id_is_invalid(api: httpx.Client) -> None:
    response = api.get("/batchPredictionJobs/abc")
    assert response.status_code == 400


# Listing


def three_jobs(api: httpx.Client, bucket: str) -> list[dict[str, Any]]:
    return [
        create(api, job_body(bucket, displayName=f"job-{i}", labels={"genai_batch_key": f"gbk-{i}"})) for i in range(3)
    ]


def test_a_label_filter_finds_one_job(api: httpx.Client, vertex_bucket: str, input_uri: str) -> None:
    jobs = three_jobs(api, vertex_bucket)
    found = api.get("/batchPredictionJobs", params={"filter": 'labels.genai_batch_key="gbk-1"'}).json()
    assert [job["name"] for job in found["batchPredictionJobs"]] == [jobs[1]["name"]]


def test_a_label_existence_filter_matches_labelled_jobs(api: httpx.Client, vertex_bucket: str, input_uri: str) -> None:
    three_jobs(api, vertex_bucket)
    create(api, job_body(vertex_bucket))
    found = api.get("/batchPredictionJobs", params={"filter": "labels.genai_batch_key:*"}).json()
    assert len(found["batchPredictionJobs"]) == 3


def test_filter_terms_combine_with_and(api: httpx.Client, vertex_bucket: str, input_uri: str) -> None:
    jobs = three_jobs(api, vertex_bucket)
    text = 'display_name="job-2" AND state=JOB_STATE_PENDING AND create_time>"2000-01-01T00:00:00Z"'
    found = api.get("/batchPredictionJobs", params={"filter": text}).json()
    assert [job["name"] for job in found["batchPredictionJobs"]] == [jobs[2]["name"]]


def test_an_unsupported_filter_is_refused(api: httpx.Client) -> None:
    response = api.get("/batchPredictionJobs", params={"filter": 'NOT display_name="x"'})
    assert response.status_code == 400
    assert error_of(response)["status"] == "INVALID_ARGUMENT"


def test_pages_follow_next_page_token_newest_first(api: httpx.Client, vertex_bucket: str, input_uri: str) -> None:
    jobs = three_jobs(api, vertex_bucket)
    first = api.get("/batchPredictionJobs", params={"pageSize": 2}).json()
    second = api.get("/batchPredictionJobs", params={"pageSize": 2, "pageToken": first["nextPageToken"]}).json()
    names = [job["name"] for job in first["batchPredictionJobs"] + second["batchPredictionJobs"]]
    assert names == [job["name"] for job in reversed(jobs)]
    assert "nextPageToken" not in second


def test_a_page_token_does_not_resume_a_listing_with_another_filter(
    api: httpx.Client, vertex_bucket: str, input_uri: str
) -> None:
    three_jobs(api, vertex_bucket)
    token = api.get("/batchPredictionJobs", params={"pageSize": 2}).json()["nextPageToken"]
    response = api.get("/batchPredictionJobs", params={"pageToken": token, "filter": "state=JOB_STATE_PENDING"})
    assert response.status_code == 400
    assert error_of(response)["status"] == "INVALID_ARGUMENT"
    assert error_of(response)["message"] == f"Invalid page token: {token}"


def test_a_page_token_resumes_its_filtered_listing_under_another_page_size(
    api: httpx.Client, vertex_bucket: str, input_uri: str
) -> None:
    jobs = three_jobs(api, vertex_bucket)
    everything = 'create_time>="2000-01-01T00:00:00Z"'
    first = api.get("/batchPredictionJobs", params={"pageSize": 1, "filter": everything}).json()
    rest = api.get(
        "/batchPredictionJobs", params={"pageSize": 5, "filter": everything, "pageToken": first["nextPageToken"]}
    ).json()
    assert [job["name"] for job in rest["batchPredictionJobs"]] == [job["name"] for job in jobs[1::-1]]


def test_an_empty_listing_has_no_keys(api: httpx.Client) -> None:
    assert api.get("/batchPredictionJobs").json() == {}


def test_an_unknown_query_parameter_is_refused(api: httpx.Client) -> None:
    response = api.get("/batchPredictionJobs", params={"orderBy": "create_time"})
    assert response.status_code == 400


# Cancel, delete and operations


def test_cancel_goes_through_cancelling_to_cancelled(api: httpx.Client, vertex_bucket: str, input_uri: str) -> None:
    job = create(api, job_body(vertex_bucket))
    assert api.post(f"/batchPredictionJobs/{job_id(job)}:cancel").json() == {}
    assert api.get(f"/batchPredictionJobs/{job_id(job)}").json()["state"] == "JOB_STATE_CANCELLING"
    cancelled = wait_for(api, job)
    assert cancelled["state"] == "JOB_STATE_CANCELLED"
    assert cancelled["error"] == {"code": 1, "message": "CANCELED"}


def test_cancelling_a_finished_job_is_a_failed_precondition(
    api: httpx.Client, vertex_bucket: str, input_uri: str
) -> None:
    job = wait_for(api, create(api, job_body(vertex_bucket)))
    response = api.post(f"/batchPredictionJobs/{job_id(job)}:cancel")
    assert response.status_code == 400
    assert error_of(response)["status"] == "FAILED_PRECONDITION"


def test_deleting_a_job_that_has_not_finished_is_a_failed_precondition(
    api: httpx.Client, vertex_bucket: str, input_uri: str
) -> None:
    job = create(api, job_body(vertex_bucket))
    response = api.delete(f"/batchPredictionJobs/{job_id(job)}")
    assert response.status_code == 400
    assert error_of(response)["status"] == "FAILED_PRECONDITION"


def test_delete_returns_a_done_operation_and_the_job_is_gone(
    api: httpx.Client, vertex_bucket: str, input_uri: str
) -> None:
    job = wait_for(api, create(api, job_body(vertex_bucket)))
    operation = api.delete(f"/batchPredictionJobs/{job_id(job)}").json()
    assert operation["name"].startswith(f"projects/{project_number(PROJECT)}/locations/{LOCATION}/operations/")
    assert operation["metadata"]["@type"] == "type.googleapis.com/google.cloud.aiplatform.v1.DeleteOperationMetadata"
    assert operation["done"] is True
    assert api.get(f"/batchPredictionJobs/{job_id(job)}").status_code == 404


def test_the_delete_operation_can_be_fetched(
    api: httpx.Client, vertex_emulator: EmulatorServer, vertex_bucket: str, input_uri: str
) -> None:
    job = wait_for(api, create(api, job_body(vertex_bucket)))
    operation = api.delete(f"/batchPredictionJobs/{job_id(job)}").json()
    fetched = vertex_emulator.client.get(f"/vertex/v1/{operation['name']}", headers=dict(api.headers))
    assert fetched.json() == operation


# BigQuery


def make_table(bq: httpx.Client, dataset: str, table: str, fields: list[dict[str, str]], rows: list[Any]) -> None:
    if bq.get(f"/datasets/{dataset}").status_code == 404:
        bq.post("/datasets", json={"datasetReference": {"datasetId": dataset}}).raise_for_status()
    reference = {"projectId": PROJECT, "datasetId": dataset, "tableId": table}
    bq.post(
        f"/datasets/{dataset}/tables", json={"tableReference": reference, "schema": {"fields": fields}}
    ).raise_for_status()
    if rows:
        inserted = bq.post(f"/datasets/{dataset}/tables/{table}/insertAll", json={"rows": [{"json": r} for r in rows]})
        assert "insertErrors" not in inserted.json(), inserted.text


def bq_body(bucket: str, output_uri: str) -> dict[str, Any]:
    return job_body(
        bucket,
        inputConfig={"instancesFormat": "bigquery", "bigquerySource": {"inputUri": f"bq://{PROJECT}.ds.requests"}},
        outputConfig={"predictionsFormat": "bigquery", "bigqueryDestination": {"outputUri": output_uri}},
    )


@pytest.fixture
def request_table(bq: httpx.Client) -> None:
    """Table ds.requests: key STRING, request JSON, two rows."""
    fields = [{"name": "key", "type": "STRING"}, {"name": "request", "type": "JSON"}]
    rows = [{"key": f"r{i}", "request": json.dumps(gemini_line("x", f"row {i}")["request"])} for i in range(2)]
    make_table(bq, "ds", "requests", fields, rows)


def table_rows(bq: httpx.Client, dataset: str, table: str) -> list[dict[str, Any]]:
    schema = bq.get(f"/datasets/{dataset}/tables/{table}").json()["schema"]["fields"]
    data = bq.get(f"/datasets/{dataset}/tables/{table}/data").json()
    names = [field["name"] for field in schema]
    return [dict(zip(names, [cell["v"] for cell in row["f"]], strict=True)) for row in data.get("rows", [])]


def test_bigquery_input_lands_in_a_bigquery_output_table(
    api: httpx.Client, bq: httpx.Client, vertex_bucket: str, request_table: None
) -> None:
    job = wait_for(api, create(api, bq_body(vertex_bucket, f"bq://{PROJECT}.ds.answers")))
    assert job["state"] == "JOB_STATE_SUCCEEDED"
    rows = sorted(table_rows(bq, "ds", "answers"), key=lambda row: row["key"])
    assert list(rows[0]) == ["key", "request", "response", "status", "processed_time"]
    assert [row["key"] for row in rows] == ["r0", "r1"]
    assert rows[0]["status"] == ""
    response = json.loads(rows[0]["response"])
    assert response["candidates"][0]["content"]["parts"][0]["text"] == "Answer to: row 0"


def test_bigquery_output_info_names_the_dataset_and_the_table(
    api: httpx.Client, vertex_bucket: str, request_table: None
) -> None:
    job = wait_for(api, create(api, bq_body(vertex_bucket, f"bq://{PROJECT}.ds.answers")))
    assert job["outputInfo"] == {"bigqueryOutputDataset": f"bq://{PROJECT}.ds", "bigqueryOutputTable": "answers"}


def test_a_missing_input_table_fails_the_job(api: httpx.Client, bq: httpx.Client, vertex_bucket: str) -> None:
    job = wait_for(api, create(api, bq_body(vertex_bucket, f"bq://{PROJECT}.ds.answers")))
    assert job["state"] == "JOB_STATE_FAILED"
    assert "Not found: Table" in job["error"]["message"]


def test_an_existing_output_table_fails_the_job(
    api: httpx.Client, bq: httpx.Client, vertex_bucket: str, request_table: None
) -> None:
    make_table(bq, "ds", "answers", [{"name": "key", "type": "STRING"}], [])
    job = wait_for(api, create(api, bq_body(vertex_bucket, f"bq://{PROJECT}.ds.answers")))
    assert job["state"] == "JOB_STATE_FAILED"
    assert "Already Exists" in job["error"]["message"]


# The emulator's own failures


def test_an_emulated_job_failure_is_an_internal_error(
    api: httpx.Client, vertex_emulator: EmulatorServer, vertex_bucket: str, input_uri: str
) -> None:
    vertex_emulator.config(job_outcome="fail")
    job = wait_for(api, create(api, job_body(vertex_bucket)))
    assert job["state"] == "JOB_STATE_FAILED"
    assert job["error"]["code"] == 13


# The Cloud Storage server the Vertex emulator reads and writes, driven by google-cloud-storage


@pytest.fixture
def storage_bucket(gcs_server: GcsServer, vertex_bucket: str) -> Any:
    """google-cloud-storage's handle on the test bucket, anonymous, on the GCS server."""
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    client = storage.Client(
        project=PROJECT, credentials=AnonymousCredentials(), client_options={"api_endpoint": gcs_server.endpoint_url}
    )
    return client.bucket(vertex_bucket)


def test_the_gcs_server_takes_a_chunked_resumable_upload(storage_bucket: Any) -> None:
    data = bytes(range(256)) * 4096 + b"tail"
    storage_bucket.blob("big.bin", chunk_size=256 * 1024).upload_from_string(data)
    assert storage_bucket.blob("big.bin").download_as_bytes() == data


def test_the_gcs_server_serves_byte_ranges(storage_bucket: Any) -> None:
    storage_bucket.blob("r.txt").upload_from_string(b"0123456789")
    assert storage_bucket.blob("r.txt").download_as_bytes(start=2, end=5) == b"2345"


def test_the_gcs_server_lists_objects_under_a_prefix(gcs_server: GcsServer, vertex_bucket: str) -> None:
    for name in ("out/a.jsonl", "out/b.jsonl", "other/c.jsonl"):
        gcs_server.put(f"gs://{vertex_bucket}/{name}", b"{}\n")
    assert gcs_server.list(f"gs://{vertex_bucket}/out/") == [
        f"gs://{vertex_bucket}/out/a.jsonl",
        f"gs://{vertex_bucket}/out/b.jsonl",
    ]


def test_resetting_the_gcs_server_removes_every_bucket(gcs_server: GcsServer, vertex_bucket: str) -> None:
    gcs_server.put(f"gs://{vertex_bucket}/x", b"1")
    gcs_server.reset()
    assert gcs_server.http.get(f"/storage/v1/b/{vertex_bucket}").status_code == 404
