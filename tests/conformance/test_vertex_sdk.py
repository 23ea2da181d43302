"""google-genai in Vertex mode (`vertexai=True`) against the Vertex emulator: real OAuth through a test
service-account key, batch jobs from Cloud Storage and BigQuery, and what the SDK parses from every answer."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from google import genai
from google.genai import errors, types
from google.oauth2 import service_account

from airflow_provider_genai_batch.testing.emulator import EmulatorServer
from airflow_provider_genai_batch.testing.gcp_auth import service_account_info
from airflow_provider_genai_batch.testing.gcs import GcsServer

PROJECT = "genai-batch-test"
LOCATION = "us-central1"
SCOPE = "https://www.googleapis.com/auth/cloud-platform"
ENDED = {
    types.JobState.JOB_STATE_SUCCEEDED,
    types.JobState.JOB_STATE_FAILED,
    types.JobState.JOB_STATE_CANCELLED,
}


@pytest.fixture(scope="module")
def credentials(vertex_emulator: EmulatorServer) -> service_account.Credentials:
    """Service-account credentials whose tokens come from the emulator's OAuth endpoint."""
    info = service_account_info(f"{vertex_emulator.base_url}/vertex/token")
    return service_account.Credentials.from_service_account_info(info, scopes=[SCOPE])


def make_client(emulator: EmulatorServer, credentials: Any, api_version: str | None) -> genai.Client:
    options: dict[str, Any] = {"base_url": f"{emulator.base_url}/vertex/"}
    if api_version is not None:
        options["api_version"] = api_version
    return genai.Client(
        vertexai=True, project=PROJECT, location=LOCATION, credentials=credentials, http_options=options
    )


@pytest.fixture(params=["v1", "v1beta1"])
def client(
    request: pytest.FixtureRequest, vertex_emulator: EmulatorServer, vertex_bucket: str, credentials: Any
) -> Iterator[genai.Client]:
    """A Vertex-mode client on the emulator, for each REST version."""
    sdk = make_client(vertex_emulator, credentials, request.param)
    yield sdk
    sdk.close()


@pytest.fixture
def client_v1(vertex_emulator: EmulatorServer, vertex_bucket: str, credentials: Any) -> Iterator[genai.Client]:
    """A Vertex-mode client on the emulator, on v1 (what the hook uses by default)."""
    sdk = make_client(vertex_emulator, credentials, "v1")
    yield sdk
    sdk.close()


@pytest.fixture
def input_uri(gcs_server: GcsServer, vertex_bucket: str) -> str:
    """Two Gemini lines in Cloud Storage."""
    lines = [
        {"key": f"k{i}", "request": {"contents": [{"role": "user", "parts": [{"text": f"q{i}"}]}]}} for i in range(2)
    ]
    body = "".join(json.dumps(line) + "\n" for line in lines).encode()
    return gcs_server.put(f"gs://{vertex_bucket}/in/input.jsonl", body)


def wait(client: genai.Client, name: str) -> types.BatchJob:
    deadline = time.monotonic() + 20
    while True:
        job = client.batches.get(name=name)
        if job.state in ENDED or time.monotonic() > deadline:
            return job
        time.sleep(0.1)


def test_vertex_mode_defaults_to_v1beta1(vertex_emulator: EmulatorServer, vertex_bucket: str, credentials: Any) -> None:
    sdk = make_client(vertex_emulator, credentials, None)
    list(sdk.batches.list())
    sdk.close()
    paths = [entry["path"] for entry in vertex_emulator.requests() if entry["method"] == "GET"]
    assert paths == [f"/vertex/v1beta1/projects/{PROJECT}/locations/{LOCATION}/batchPredictionJobs"]


def test_the_sdk_sends_the_oauth_token_it_got_from_the_service_account(
    client_v1: genai.Client, vertex_emulator: EmulatorServer, input_uri: str
) -> None:
    list(client_v1.batches.list())
    [entry] = [entry for entry in vertex_emulator.requests() if entry["path"].endswith("/batchPredictionJobs")]
    assert entry["headers"]["authorization"].startswith("Bearer ya29.")


def test_create_from_gcs_parses_a_pending_job(client: genai.Client, vertex_bucket: str, input_uri: str) -> None:
    job = client.batches.create(model="gemini-2.5-flash", src=input_uri, config={"dest": f"gs://{vertex_bucket}/out"})
    assert job.state == types.JobState.JOB_STATE_PENDING
    assert job.name is not None and job.name.rsplit("/", 1)[1].isdigit()
    assert job.model == "publishers/google/models/gemini-2.5-flash"
    assert job.src is not None and job.src.gcs_uri == [input_uri]
    assert job.dest is not None and job.dest.gcs_uri == f"gs://{vertex_bucket}/out"
    assert job.completion_stats is None


def test_a_finished_job_parses_completion_stats_and_output_info(
    client: genai.Client, vertex_bucket: str, input_uri: str, gcs_server: GcsServer
) -> None:
    created = client.batches.create(model="gemini-2.5-flash", src=input_uri)
    assert created.name is not None
    job = wait(client, created.name)
    assert job.state == types.JobState.JOB_STATE_SUCCEEDED
    assert job.done
    assert job.completion_stats is not None and job.completion_stats.successful_count == 2
    assert job.output_info is not None and job.output_info.gcs_output_directory is not None
    assert job.output_info.gcs_output_directory.startswith(f"gs://{vertex_bucket}/in/input/dest/prediction-model-")
    assert gcs_server.list(job.output_info.gcs_output_directory) == [
        f"{job.output_info.gcs_output_directory}/predictions.jsonl"
    ]


def test_get_by_numeric_id_finds_the_job(client_v1: genai.Client, input_uri: str) -> None:
    created = client_v1.batches.create(model="gemini-2.5-flash", src=input_uri)
    assert created.name is not None
    assert client_v1.batches.get(name=created.name.rsplit("/", 1)[1]).name == created.name


def test_get_of_an_unknown_job_raises_not_found(client_v1: genai.Client) -> None:
    with pytest.raises(errors.ClientError) as caught:
        client_v1.batches.get(name="1234567890")
    assert caught.value.code == 404
    assert caught.value.status == "NOT_FOUND"


def test_list_filters_and_pages_through_every_job(client_v1: genai.Client, input_uri: str) -> None:
    names = [
        client_v1.batches.create(model="gemini-2.5-flash", src=input_uri, config={"display_name": f"job-{i}"}).name
        for i in range(3)
    ]
    listed = [job.name for job in client_v1.batches.list(config={"page_size": 1})]
    assert listed == list(reversed(names))
    found = list(client_v1.batches.list(config={"filter": 'display_name="job-1"'}))
    assert [job.name for job in found] == [names[1]]


def test_the_sdk_pages_a_filtered_listing_with_the_filter_on_every_page(
    client_v1: genai.Client, input_uri: str
) -> None:
    names = [
        client_v1.batches.create(model="gemini-2.5-flash", src=input_uri, config={"display_name": f"job-{i}"}).name
        for i in range(3)
    ]
    config = {"page_size": 1, "filter": 'create_time>="2000-01-01T00:00:00Z"'}
    assert [job.name for job in client_v1.batches.list(config=config)] == list(reversed(names))


def test_cancel_ends_the_job_cancelled(client: genai.Client, input_uri: str) -> None:
    created = client.batches.create(model="gemini-2.5-flash", src=input_uri)
    assert created.name is not None
    client.batches.cancel(name=created.name)
    job = wait(client, created.name)
    assert job.state == types.JobState.JOB_STATE_CANCELLED
    assert job.error is not None and job.error.code == 1


def test_delete_parses_a_done_operation(client: genai.Client, input_uri: str) -> None:
    created = client.batches.create(model="gemini-2.5-flash", src=input_uri)
    assert created.name is not None
    wait(client, created.name)
    deleted = client.batches.delete(name=created.name)
    assert deleted.done is True
    assert deleted.name is not None and "/operations/" in deleted.name
    with pytest.raises(errors.ClientError):
        client.batches.get(name=created.name)


def test_text_embedding_batches_run_through_the_same_create(
    client_v1: genai.Client, gcs_server: GcsServer, vertex_bucket: str
) -> None:
    src = gcs_server.put(f"gs://{vertex_bucket}/emb/input.jsonl", b'{"content": "banana bread"}\n')
    created = client_v1.batches.create(model="text-embedding-005", src=src)
    assert created.name is not None
    job = wait(client_v1, created.name)
    assert job.state == types.JobState.JOB_STATE_SUCCEEDED
    assert job.completion_stats is not None and job.completion_stats.successful_count == 1


# BigQuery


@pytest.fixture
def request_table(vertex_emulator: EmulatorServer, vertex_bucket: str) -> str:
    """Table ds.requests (key STRING, request JSON) with one row, made through the BigQuery stand-in."""
    token = vertex_emulator.client.post("/_emulator/vertex/tokens", json={"ttl": 600}).json()["token"]
    base = f"{vertex_emulator.base_url}/bigquery/v2/projects/{PROJECT}"
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as bq:
        bq.post("/datasets", json={"datasetReference": {"datasetId": "ds"}}).raise_for_status()
        table = {
            "tableReference": {"projectId": PROJECT, "datasetId": "ds", "tableId": "requests"},
            "schema": {"fields": [{"name": "key", "type": "STRING"}, {"name": "request", "type": "JSON"}]},
        }
        bq.post("/datasets/ds/tables", json=table).raise_for_status()
        request = json.dumps({"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
        rows = {"rows": [{"json": {"key": "r0", "request": request}}]}
        bq.post("/datasets/ds/tables/requests/insertAll", json=rows).raise_for_status()
    return f"bq://{PROJECT}.ds.requests"


def test_create_from_bigquery_to_a_bigquery_table(client: genai.Client, request_table: str) -> None:
    dest = f"bq://{PROJECT}.ds.answers"
    created = client.batches.create(model="gemini-2.5-flash", src=request_table, config={"dest": dest})
    assert created.src is not None and created.src.bigquery_uri == request_table
    assert created.dest is not None and created.dest.bigquery_uri == dest
    assert created.name is not None
    job = wait(client, created.name)
    assert job.state == types.JobState.JOB_STATE_SUCCEEDED
    assert job.output_info is not None and job.output_info.bigquery_output_table == "answers"
    assert job.completion_stats is not None and job.completion_stats.successful_count == 1


def test_the_sdk_default_bigquery_destination_is_accepted(client_v1: genai.Client, request_table: str) -> None:
    created = client_v1.batches.create(model="gemini-2.5-flash", src=request_table)
    assert created.dest is not None and created.dest.bigquery_uri is not None
    assert created.dest.bigquery_uri.startswith(f"{request_table}_dest_")
    assert created.name is not None
    assert wait(client_v1, created.name).state == types.JobState.JOB_STATE_SUCCEEDED


def test_express_mode_cannot_create_batch_jobs(vertex_emulator: EmulatorServer, vertex_bucket: str) -> None:
    """With an API key and no project, the SDK posts to a project-less `v1/batchPredictionJobs`, which does not
    exist: batch prediction needs a project, so OAuth credentials."""
    sdk = genai.Client(
        vertexai=True, api_key="AIza-express", http_options={"base_url": f"{vertex_emulator.base_url}/vertex/"}
    )
    with pytest.raises(errors.ClientError) as caught:
        sdk.batches.create(model="gemini-2.5-flash", src=f"gs://{vertex_bucket}/in/input.jsonl")
    sdk.close()
    assert caught.value.code == 404
    [entry] = vertex_emulator.requests()
    assert entry["path"] == "/vertex/v1beta1/batchPredictionJobs"
    assert entry["headers"]["x-goog-api-key"] == "AIza-express"
