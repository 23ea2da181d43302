"""VertexBatchHook on the wire: settings from the connection, create bodies, the one filtered lookup by label,
Cloud Storage and BigQuery reads, and secrets kept out of errors. The fake Google APIs are MockTransports."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, quote

import httpx
import pytest
from google import genai
from google.oauth2.credentials import Credentials as TokenCredentials

from airflow_provider_genai_batch.errors import GenAIBatchError, InputValidationError, ProviderAPIError
from airflow_provider_genai_batch.formats.results import RowStatus
from airflow_provider_genai_batch.formats.vertex import parse_job
from airflow_provider_genai_batch.hooks.google_auth import GoogleTokens
from airflow_provider_genai_batch.hooks.vertex import VertexBatchHook
from airflow_provider_genai_batch.models import JobState
from airflow_provider_genai_batch.spec import BatchKind, BatchSpec, FileSource
from tests.unit.hooks._wire import Handler, Wire, serve_hook

CONN_ID = "vertex_unit"
TOKEN = "ya29.unit-test-token"
KEY = "gbk-0123456789abcdef0123"
FINGERPRINT = "ab" * 32
PARENT = "/v1/projects/proj-1/locations/us-central1"
JOB_NAME = "projects/proj-1/locations/us-central1/batchPredictionJobs/4242"
EXTRA = {
    "project": "proj-1",
    "location": "us-central1",
    "staging_gcs_uri": "gs://bkt/staging",
    "output_gcs_uri": "gs://bkt/out",
    "gcs_endpoint_url": "http://gcs.test",
    "bigquery_endpoint_url": "http://bq.test",
    "upload_chunk_size": 262144,
    "retry_max_wait": 0,
}


def set_connection(monkeypatch: pytest.MonkeyPatch, **fields: Any) -> None:
    conn = {"conn_type": "genaivertex", "host": "http://vertex.test", "extra": EXTRA, **fields}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))


@pytest.fixture
def vertex(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., tuple[VertexBatchHook, Wire]]]:
    """``vertex(handler, **conn)`` -> a hook whose clients (bearer-authenticated) talk to ``handler``."""
    clients: list[httpx.Client] = []

    def make(handler: Handler, **conn: Any) -> tuple[VertexBatchHook, Wire]:
        set_connection(monkeypatch, **conn)
        wire = Wire(handler)
        hook = VertexBatchHook(conn_id=CONN_ID)
        hook._google_tokens = GoogleTokens(lambda request: TokenCredentials(token=TOKEN), 10.0)
        clients.append(serve_hook(monkeypatch, hook, wire))
        return hook, wire

    yield make
    for client in clients:
        client.close()


def job(state: str = "JOB_STATE_PENDING", **fields: Any) -> dict[str, Any]:
    return {
        "name": JOB_NAME,
        "displayName": "nightly",
        "model": "publishers/google/models/gemini-2.5-flash",
        "state": state,
        "createTime": "2026-11-20T10:00:00Z",
        "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": ["gs://bkt/staging/in.jsonl"]}},
        "outputConfig": {"predictionsFormat": "jsonl", "gcsDestination": {"outputUriPrefix": "gs://bkt/out"}},
        "labels": {"genai_batch_key": KEY, "genai_batch_input": FINGERPRINT[:63]},
        **fields,
    }


def spec(**fields: Any) -> BatchSpec:
    base: dict[str, Any] = {
        "model": "gemini-2.5-flash",
        "display_name": "nightly",
        "source": FileSource("gs://bkt/staging/in.jsonl"),
        "idempotency_key": KEY,
        "input_fingerprint": FINGERPRINT,
    }
    return BatchSpec(**{**base, **fields})


def query(request: httpx.Request) -> dict[str, list[str]]:
    return parse_qs(request.url.query.decode())


# --- settings ----------------------------------------------------------------------------------------


def settings_of(monkeypatch: pytest.MonkeyPatch, **conn: Any) -> Any:
    set_connection(monkeypatch, **conn)
    return VertexBatchHook(conn_id=CONN_ID).settings


@pytest.mark.parametrize(
    ("location", "url"),
    [
        ("us-central1", "https://us-central1-aiplatform.googleapis.com"),
        ("global", "https://aiplatform.googleapis.com"),
        ("us", "https://aiplatform.us.rep.googleapis.com"),
        ("eu", "https://aiplatform.eu.rep.googleapis.com"),
    ],
)
def test_the_endpoint_follows_the_location(monkeypatch: pytest.MonkeyPatch, location: str, url: str) -> None:
    settings = settings_of(monkeypatch, host=None, extra={"project": "p", "location": location})
    assert settings.base_url == url


@pytest.mark.parametrize("location", ["us-central1", "europe-west4", "global", "us", "eu"])
def test_the_endpoint_is_the_one_google_genai_picks_for_the_location(
    monkeypatch: pytest.MonkeyPatch, location: str
) -> None:
    client = genai.Client(vertexai=True, project="p", location=location, credentials=TokenCredentials(token=TOKEN))
    settings = settings_of(monkeypatch, host=None, extra={"project": "p", "location": location})
    assert settings.base_url + "/" == client._api_client._http_options.base_url


def test_the_project_defaults_to_the_service_account_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    key = {
        "type": "service_account",
        "project_id": "from-key",
        "client_email": "a@b",
        "private_key": "k",
        "token_uri": "t",
    }
    settings = settings_of(monkeypatch, password=json.dumps(key), extra={})
    assert settings.project == "from-key"
    assert settings.key_info() == key


def test_a_key_in_airflow_2s_prefixed_keyfile_dict_extra_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    key = {"type": "service_account", "project_id": "p", "client_email": "a@b", "private_key": "k", "token_uri": "t"}
    settings = settings_of(monkeypatch, extra={"extra__genaivertex__keyfile_dict": key})
    assert settings.key_info() == key


def test_a_key_in_both_the_password_and_the_extra_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    key = {"type": "service_account", "project_id": "p", "client_email": "a@b", "private_key": "k", "token_uri": "t"}
    with pytest.raises(GenAIBatchError, match="both the password field and the keyfile_dict extra"):
        settings_of(monkeypatch, password=json.dumps(key), extra={**EXTRA, "keyfile_dict": key})


def test_an_api_key_in_the_password_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(GenAIBatchError, match="not an API key"):
        settings_of(monkeypatch, password="AIzaSyExample")


def test_hooks_of_one_connection_share_their_token_holder_and_another_key_gets_its_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = {"type": "service_account", "project_id": "p", "client_email": "a@b", "private_key": "k1", "token_uri": "t"}
    set_connection(monkeypatch, password=json.dumps(key))
    first, second = VertexBatchHook(conn_id=CONN_ID), VertexBatchHook(conn_id=CONN_ID)
    shared = first._tokens_for(first.settings)
    assert second._tokens_for(second.settings) is shared
    set_connection(monkeypatch, password=json.dumps({**key, "private_key": "k2"}))
    rotated = VertexBatchHook(conn_id=CONN_ID)
    assert rotated._tokens_for(rotated.settings) is not shared


def test_a_chunk_size_off_the_256_kib_grid_is_an_invalid_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(GenAIBatchError, match="upload_chunk_size: Input should be a multiple of 262144"):
        settings_of(monkeypatch, extra={**EXTRA, "upload_chunk_size": 300000})


def test_a_connection_without_a_project_is_invalid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    with pytest.raises(GenAIBatchError, match="names no Google Cloud project: set the 'project' extra"):
        settings_of(monkeypatch, extra={"location": "us-central1"})


def test_a_connection_without_a_project_takes_google_cloud_project(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "from-env")
    assert settings_of(monkeypatch, extra={"location": "us-central1"}).project == "from-env"


# --- jobs --------------------------------------------------------------------------------------------


def test_create_posts_the_job_with_the_identity_and_user_labels(vertex: Callable[..., Any]) -> None:
    hook, wire = vertex(lambda r: httpx.Response(200, json=job()))
    created = hook.create_batch(spec(labels={"team": "search"}))
    request = wire.requests[-1]
    assert (request.method, request.url.path) == ("POST", f"{PARENT}/batchPredictionJobs")
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert json.loads(request.content) == {
        "displayName": "nightly",
        "model": "publishers/google/models/gemini-2.5-flash",
        "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": ["gs://bkt/staging/in.jsonl"]}},
        "outputConfig": {"predictionsFormat": "jsonl", "gcsDestination": {"outputUriPrefix": "gs://bkt/out"}},
        "labels": {"team": "search", "genai_batch_key": KEY, "genai_batch_input": FINGERPRINT[:63]},
    }
    assert (created.name, created.state) == (JOB_NAME, JobState.PENDING)


def output_bucket_answers(status: int, object_status: int = 404) -> Callable[[httpx.Request], httpx.Response]:
    """Cloud Storage answers the output bucket's listing with ``status`` and an object's metadata GET with
    ``object_status``; Vertex answers with the job."""

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.host == "gcs.test":
            code = object_status if "/o/" in request.url.path else status
            error = {"error": {"code": code, "message": "refused", "errors": [{"reason": "x"}]}}
            return httpx.Response(code, json=error if code >= 400 else {"kind": "storage#objects"})
        return httpx.Response(200, json=job())

    return answer


def test_the_output_folder_is_listed_and_an_object_in_it_asked_for_before_the_create(
    vertex: Callable[..., Any],
) -> None:
    hook, wire = vertex(output_bucket_answers(200))
    hook.create_batch(spec())
    listing, probe, create = wire.requests
    assert (listing.method, listing.url.path, dict(listing.url.params)) == (
        "GET",
        "/storage/v1/b/bkt/o",
        {"prefix": "out/", "maxResults": "1"},
    )
    assert (probe.method, probe.url.raw_path) == ("GET", b"/storage/v1/b/bkt/o/out%2Fgenai-batch-read-check")
    assert (create.method, create.url.path) == ("POST", f"{PARENT}/batchPredictionJobs")


def test_a_missing_output_bucket_is_refused_before_the_create(vertex: Callable[..., Any]) -> None:
    hook, wire = vertex(output_bucket_answers(404))
    with pytest.raises(GenAIBatchError, match=r"output bucket 'bkt' of gs://bkt/out does not exist"):
        hook.create_batch(spec())
    assert [request.method for request in wire.requests] == ["GET"]


def test_an_output_folder_the_connection_may_not_list_is_refused_before_the_create(
    vertex: Callable[..., Any],
) -> None:
    hook, wire = vertex(output_bucket_answers(403))
    with pytest.raises(GenAIBatchError) as raised:
        hook.create_batch(spec())
    assert str(raised.value) == (
        f"connection {CONN_ID!r} cannot read the job's predictions back from gs://bkt/out: Cloud Storage answered 403 "
        "to a listing of gs://bkt/out/; its credentials need storage.objects.list and storage.objects.get there "
        "(Storage Object Viewer on the bucket): the job writes the predictions as Vertex AI's service agent, this "
        "connection lists and reads them"
    )
    assert [request.method for request in wire.requests] == ["GET"]


def test_an_output_folder_whose_objects_the_connection_may_not_read_is_refused_before_the_create(
    vertex: Callable[..., Any],
) -> None:
    hook, wire = vertex(output_bucket_answers(200, object_status=403))
    with pytest.raises(
        GenAIBatchError,
        match=r"Cloud Storage answered 403 to a metadata GET of "
        r"gs://bkt/out/genai-batch-read-check; its credentials need storage\.objects\.list",
    ):
        hook.create_batch(spec())
    assert [request.method for request in wire.requests] == ["GET", "GET"]


def test_an_output_folder_whose_probe_meets_another_error_leaves_the_question_to_the_landing(
    vertex: Callable[..., Any],
) -> None:
    hook, wire = vertex(output_bucket_answers(200, object_status=400))
    assert hook.create_batch(spec()).name == JOB_NAME
    assert [request.method for request in wire.requests] == ["GET", "GET", "POST"]


def no_table_yet(request: httpx.Request) -> httpx.Response:
    """BigQuery has the dataset but no such table (its 404); any other call is answered with the job."""
    if request.url.path.startswith("/bigquery/") and "/tables/" in request.url.path:
        return httpx.Response(404, json={"error": {"code": 404, "message": "Not found: Table", "status": "NOT_FOUND"}})
    if request.url.path.startswith("/bigquery/"):
        return httpx.Response(200, json={"kind": "bigquery#dataset"})
    return httpx.Response(200, json=job())


def test_a_table_to_table_embeddings_job_names_both_tables(vertex: Callable[..., Any]) -> None:
    hook, wire = vertex(no_table_yet)
    hook.create_batch(
        spec(
            model="text-embedding-005",
            kind=BatchKind.EMBED,
            source=FileSource("bq://proj-1.ds.requests"),
            destination="bq://proj-1.ds.results",
        )
    )
    body = json.loads(wire.requests[-1].content)
    assert body["model"] == "publishers/google/models/text-embedding-005"
    assert body["inputConfig"] == {
        "instancesFormat": "bigquery",
        "bigquerySource": {"inputUri": "bq://proj-1.ds.requests"},
    }
    assert body["outputConfig"] == {
        "predictionsFormat": "bigquery",
        "bigqueryDestination": {"outputUri": "bq://proj-1.ds.results"},
    }


def test_a_create_without_any_destination_is_refused_before_a_request(vertex: Callable[..., Any]) -> None:
    hook, wire = vertex(lambda r: httpx.Response(200, json=job()), extra={**EXTRA, "output_gcs_uri": None})
    with pytest.raises(GenAIBatchError, match="no destination for the job's output"):
        hook.create_batch(spec())
    assert wire.requests == []


def test_a_reserved_label_is_refused_before_a_request(vertex: Callable[..., Any]) -> None:
    hook, wire = vertex(lambda r: httpx.Response(200, json=job()))
    with pytest.raises(GenAIBatchError, match="'genai_batch_key' is reserved"):
        hook.create_batch(spec(labels={"genai_batch_key": "mine"}))
    assert wire.requests == []


def test_a_destination_outside_storage_and_bigquery_is_refused(vertex: Callable[..., Any]) -> None:
    hook, _ = vertex(lambda r: httpx.Response(200, json=job()))
    with pytest.raises(GenAIBatchError, match=r"only to bq://\.\.\., gs://\.\.\."):
        hook.create_batch(spec(destination="s3://bkt/out"))


def test_a_job_is_found_again_by_one_listing_filtered_on_its_key_label(vertex: Callable[..., Any]) -> None:
    edited = job(labels={"genai_batch_key": KEY, "genai_batch_input": "cd" * 31 + "c"}, name=JOB_NAME + "0")
    hook, wire = vertex(lambda r: httpx.Response(200, json={"batchPredictionJobs": [edited, job()]}))
    found = hook.find_batch(KEY, FINGERPRINT)
    assert found is not None and found.name == JOB_NAME
    assert len(wire.requests) == 1
    assert wire.requests[0].url.path == f"{PARENT}/batchPredictionJobs"
    assert query(wire.requests[0]) == {"pageSize": ["100"], "filter": [f'labels.genai_batch_key="{KEY}"']}


def test_a_lookup_pages_through_the_filtered_listing_only(vertex: Callable[..., Any]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if "pageToken" not in query(request):
            return httpx.Response(200, json={"batchPredictionJobs": [job(labels={})], "nextPageToken": "t2"})
        return httpx.Response(200, json={"batchPredictionJobs": [job()]})

    hook, wire = vertex(handler)
    assert hook.find_batch(KEY, FINGERPRINT) is not None
    assert [query(r).get("pageToken") for r in wire.requests] == [None, ["t2"]]
    assert all(query(r)["filter"] == [f'labels.genai_batch_key="{KEY}"'] for r in wire.requests)


def test_no_labelled_job_means_none_found(vertex: Callable[..., Any]) -> None:
    hook, _ = vertex(lambda r: httpx.Response(200, json={}))
    assert hook.find_batch(KEY, FINGERPRINT) is None


@pytest.mark.parametrize("name", [JOB_NAME, "4242"])
def test_a_job_is_read_by_its_name_or_numeric_id(vertex: Callable[..., Any], name: str) -> None:
    hook, wire = vertex(lambda r: httpx.Response(200, json=job("JOB_STATE_RUNNING")))
    assert hook.get_batch(name).state is JobState.RUNNING
    assert wire.requests[0].url.path == f"{PARENT}/batchPredictionJobs/4242"


def test_a_job_of_another_location_is_refused_naming_both_locations_before_any_call(
    vertex: Callable[..., Any],
) -> None:
    hook, wire = vertex(lambda r: httpx.Response(200, json=job("JOB_STATE_RUNNING")))
    other = JOB_NAME.replace(f"/locations/{hook.settings.location}/", "/locations/europe-west4/")
    with pytest.raises(GenAIBatchError, match=r"is in location 'europe-west4', and connection .* in 'us-central1'"):
        hook.get_batch(other)
    with pytest.raises(GenAIBatchError, match="is in location 'europe-west4'"):
        hook.cancel_batch(other)
    assert wire.requests == []


def test_cancel_and_delete_use_the_job_path(vertex: Callable[..., Any]) -> None:
    operation = {"name": f"{JOB_NAME}/operations/77", "done": False}
    hook, wire = vertex(lambda r: httpx.Response(200, json=operation if r.method == "DELETE" else {}))
    hook.cancel_batch(JOB_NAME)
    hook.delete_batch(JOB_NAME)
    assert wire.calls() == [
        ("POST", "vertex.test", f"{PARENT}/batchPredictionJobs/4242:cancel"),
        ("DELETE", "vertex.test", f"{PARENT}/batchPredictionJobs/4242"),
    ]


async def test_the_async_client_reads_a_job_with_the_bearer_token(vertex: Callable[..., Any]) -> None:
    hook, wire = vertex(lambda r: httpx.Response(200, json=job("JOB_STATE_SUCCEEDED")))
    assert (await hook.aget_batch(JOB_NAME)).state is JobState.SUCCEEDED
    assert wire.requests[0].headers["authorization"] == f"Bearer {TOKEN}"


def test_the_console_url_names_location_job_and_project() -> None:
    assert VertexBatchHook.console_url(JOB_NAME) == (
        "https://console.cloud.google.com/vertex-ai/locations/us-central1/batch-predictions/4242?project=proj-1"
    )


# --- secrets -----------------------------------------------------------------------------------------


def test_an_error_echoing_the_token_is_redacted(vertex: Callable[..., Any]) -> None:
    body = {"error": {"code": 403, "status": "PERMISSION_DENIED", "message": f"token {TOKEN} lacks aiplatform.jobs"}}
    hook, _ = vertex(lambda r: httpx.Response(403, json=body))
    with pytest.raises(ProviderAPIError) as caught:
        hook.get_batch(JOB_NAME)
    assert TOKEN not in str(caught.value)
    assert "token *** lacks" in str(caught.value)


def test_the_token_goes_only_to_the_connections_google_hosts(vertex: Callable[..., Any]) -> None:
    hook, _ = vertex(lambda r: httpx.Response(200))
    guard = hook._guard(hook.settings)
    for url, kept in [
        ("http://vertex.test/v1/x", True),
        ("http://gcs.test/storage/v1/b/bkt/o", True),
        ("http://bq.test/bigquery/v2/projects/p", True),
        ("http://elsewhere.test/x", False),
        ("https://vertex.test/v1/x", False),
    ]:
        request = httpx.Request("GET", url, headers={"Authorization": f"Bearer {TOKEN}"})
        guard(request)
        assert ("authorization" in request.headers) is kept, url


# --- Cloud Storage -----------------------------------------------------------------------------------


def test_an_upload_goes_under_the_staging_prefix_with_the_token(vertex: Callable[..., Any]) -> None:
    session = "http://gcs.test/upload/storage/v1/b/bkt/o?uploadType=resumable&upload_id=u1"
    stored: dict[str, Any] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            stored["name"] = query(request)["name"][0]
            return httpx.Response(200, headers={"Location": session})
        return httpx.Response(200, json={"bucket": "bkt", "name": stored["name"], "size": "12"})

    hook, wire = vertex(handler)
    info = hook.upload_file(io.BytesIO(b'{"key":"a"}\n'), display_name="nightly.jsonl")
    assert info.name.startswith("gs://bkt/staging/nightly-") and info.name.endswith(".jsonl")
    assert [(m, h) for m, h, _ in wire.calls()] == [("POST", "gcs.test"), ("PUT", "gcs.test")]
    assert wire.requests[1].headers["content-range"] == "bytes 0-11/12"
    assert all(r.headers["authorization"] == f"Bearer {TOKEN}" for r in wire.requests)


def test_an_upload_stored_as_an_object_of_another_size_is_deleted_and_refused(vertex: Callable[..., Any]) -> None:
    session = "http://gcs.test/upload/storage/v1/b/bkt/o?uploadType=resumable&upload_id=u1"
    stored: dict[str, Any] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            stored["name"] = query(request)["name"][0]
            return httpx.Response(200, headers={"Location": session})
        if request.method == "DELETE":
            return httpx.Response(204)
        return httpx.Response(200, json={"bucket": "bkt", "name": stored["name"], "size": "11"})

    hook, wire = vertex(handler)
    with pytest.raises(GenAIBatchError, match=r"stored as gs://bkt/staging/nightly-\w+\.jsonl with 11 bytes, but 12"):
        hook.upload_file(io.BytesIO(b'{"key":"a"}\n'), display_name="nightly.jsonl")
    delete = wire.requests[-1]
    assert (delete.method, delete.url.raw_path.decode()) == (
        "DELETE",
        f"/storage/v1/b/bkt/o/{quote(stored['name'], safe='')}",
    )


def test_an_upload_without_a_staging_prefix_is_refused(vertex: Callable[..., Any]) -> None:
    hook, wire = vertex(lambda r: httpx.Response(200), extra={**EXTRA, "staging_gcs_uri": None})
    with pytest.raises(GenAIBatchError, match="has no staging_gcs_uri"):
        hook.upload_file(io.BytesIO(b"x"), display_name="x.jsonl")
    assert wire.requests == []


def test_a_stored_object_is_opened_as_a_stream(vertex: Callable[..., Any]) -> None:
    data = b'{"key":"a","request":{}}\n' * 1000

    def handler(request: httpx.Request) -> httpx.Response:
        if query(request).get("alt") == ["media"]:
            return httpx.Response(200, content=data)
        return httpx.Response(200, json={"bucket": "bkt", "name": "in/x.jsonl", "size": str(len(data))})

    hook, wire = vertex(handler)
    stored = hook.open_stored("gs://bkt/in/x.jsonl")
    assert stored is not None and (stored.uri, stored.size) == ("gs://bkt/in/x.jsonl", len(data))
    with stored.open() as stream:
        assert stream.read() == data
    assert [r.url.raw_path for r in wire.requests] == [
        b"/storage/v1/b/bkt/o/in%2Fx.jsonl",
        b"/storage/v1/b/bkt/o/in%2Fx.jsonl?alt=media",
    ]


@pytest.mark.parametrize(
    ("name", "exact"),
    [("in/x.jsonl", True), ("in/x#1 (copy).jsonl", True), ("in/x*.jsonl", False), ("in/x?.jsonl", False),
     ("in/x[1].jsonl", False)],
)  # fmt: skip
def test_a_stored_object_whose_name_vertex_reads_as_a_wildcard_is_not_named_exactly(
    vertex: Callable[..., Any], name: str, exact: bool
) -> None:
    hook, _ = vertex(lambda r: httpx.Response(200, json={"bucket": "bkt", "name": name, "size": "1"}))
    stored = hook.open_stored(f"gs://bkt/{name}")
    assert stored is not None and stored.named_exactly is exact


def test_a_staging_prefix_vertex_would_read_as_a_wildcard_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    extra = {**EXTRA, "staging_gcs_uri": "gs://bkt/staging[1]"}
    with pytest.raises(GenAIBatchError, match=r"holds '\*', '\?' or '\[', which Vertex reads as wildcards"):
        settings_of(monkeypatch, extra=extra)


def test_a_cloud_storage_uri_naming_an_airflow_connection_is_not_a_stored_object(vertex: Callable[..., Any]) -> None:
    hook, wire = vertex(lambda r: httpx.Response(200))
    assert hook.open_stored("gs://google_cloud_default@bkt/in/x.jsonl") is None
    assert wire.requests == []


def test_a_path_outside_cloud_storage_is_not_a_stored_object(vertex: Callable[..., Any]) -> None:
    hook, wire = vertex(lambda r: httpx.Response(200))
    assert hook.open_stored("/tmp/x.jsonl") is None
    assert hook.open_stored("s3://bkt/x.jsonl") is None
    assert wire.requests == []


def test_results_are_read_from_every_predictions_file_in_the_output_directory(vertex: Callable[..., Any]) -> None:
    out = "out/prediction-model-2026"
    response = {"candidates": [{"content": {"parts": [{"text": "ok"}]}}]}
    files = {
        f"{out}/predictions_00001.jsonl": json.dumps({"key": "a", "status": "", "response": response}) + "\n",
        f"{out}/predictions_00002.jsonl": json.dumps({"key": "b", "status": "Bad Request: x"}) + "\n",
        f"{out}/incremental_predictions/state.json": "{}",
    }

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/storage/v1/b/bkt/o":
            assert query(request)["prefix"] == [f"{out}/"]
            return httpx.Response(200, json={"items": [{"bucket": "bkt", "name": n} for n in files]})
        name = request.url.path.removeprefix("/storage/v1/b/bkt/o/")
        return httpx.Response(200, content=files[name].encode())

    hook, _ = vertex(handler)
    finished = parse_job(job("JOB_STATE_SUCCEEDED", outputInfo={"gcsOutputDirectory": f"gs://bkt/{out}"}))
    rows = list(hook.iter_results(finished))
    assert [(r.key, r.status, r.text) for r in rows] == [
        ("a", RowStatus.SUCCEEDED, "ok"),
        ("b", RowStatus.FAILED, None),
    ]


# --- BigQuery ----------------------------------------------------------------------------------------

TABLE_PATH = "/bigquery/v2/projects/proj-1/datasets/ds/tables/requests"


def table(fields: list[dict[str, str]], rows: int = 2) -> dict[str, Any]:
    return {"schema": {"fields": fields}, "numRows": str(rows), "etag": "e1", "lastModifiedTime": "1700000000000"}


def test_a_request_table_is_checked_and_versioned(vertex: Callable[..., Any]) -> None:
    schema = [{"name": "key", "type": "STRING"}, {"name": "request", "type": "JSON"}]
    hook, wire = vertex(lambda r: httpx.Response(200, json=table(schema)))
    found = hook.table_input("bq://proj-1.ds.requests", model="gemini-2.5-flash", embeddings=False)
    assert found is not None and (found.uri, found.rows, found.version) == (
        "bq://proj-1.ds.requests",
        2,
        "e1/1700000000000/2",
    )
    assert wire.calls() == [("GET", "bq.test", TABLE_PATH)]


@pytest.mark.parametrize(
    ("schema", "reason"),
    [
        ([{"name": "key", "type": "STRING"}], r"bq://proj-1\.ds\.requests has no 'request' column"),
        ([{"name": "request", "type": "JSON"}], r"bq://proj-1\.ds\.requests has no 'key' column"),
        ([{"name": "key", "type": "STRING"}, {"name": "request", "type": "INTEGER"}], "'request' is NULLABLE INTEGER"),
        ([{"name": "key", "type": "INTEGER"}, {"name": "request", "type": "STRING"}], "'key' is NULLABLE INTEGER"),
    ],
)
def test_a_request_table_without_the_right_columns_is_refused(
    vertex: Callable[..., Any], schema: list[dict[str, str]], reason: str
) -> None:
    hook, _ = vertex(lambda r: httpx.Response(200, json=table(schema)))
    with pytest.raises(GenAIBatchError, match=reason):
        hook.table_input("bq://proj-1.ds.requests", model="gemini-2.5-flash", embeddings=False)


def test_a_table_with_rows_in_its_streaming_buffer_is_refused_until_they_are_committed(
    vertex: Callable[..., Any],
) -> None:
    schema = [{"name": "key", "type": "STRING"}, {"name": "request", "type": "JSON"}]
    streamed = {**table(schema, rows=0), "streamingBuffer": {"estimatedRows": "2", "oldestEntryTime": "1700000000000"}}
    hook, _ = vertex(lambda r: httpx.Response(200, json=streamed))
    with pytest.raises(GenAIBatchError, match=r"has about 2 rows in BigQuery's streaming buffer .* row count \(0\)"):
        hook.table_input("bq://proj-1.ds.requests", model="gemini-2.5-flash", embeddings=False)


def test_a_text_embedding_table_is_read_from_its_content_column(vertex: Callable[..., Any]) -> None:
    schema = [{"name": "key", "type": "STRING"}, {"name": "content", "type": "STRING"}]
    hook, _ = vertex(lambda r: httpx.Response(200, json=table(schema)))
    found = hook.table_input("bq://proj-1.ds.requests", model="text-embedding-005", embeddings=True)
    assert found is not None and found.rows == 2


def test_a_text_embedding_table_over_30000_rows_is_refused_naming_the_limit(vertex: Callable[..., Any]) -> None:
    schema = [{"name": "key", "type": "STRING"}, {"name": "content", "type": "STRING"}]
    hook, _ = vertex(lambda r: httpx.Response(200, json=table(schema, rows=30_001)))
    with pytest.raises(InputValidationError) as raised:
        hook.table_input("bq://proj-1.ds.requests", model="text-embedding-005", embeddings=True)
    assert str(raised.value) == (
        "bq://proj-1.ds.requests: the table has 30,001 rows, over the 30,000 prompts one Vertex batch job of "
        "text-embedding-005 takes; a table is not cut into several jobs: split it into tables of at most 30,000 rows"
    )


def test_a_text_embedding_table_of_30000_rows_is_taken(vertex: Callable[..., Any]) -> None:
    schema = [{"name": "key", "type": "STRING"}, {"name": "content", "type": "STRING"}]
    hook, _ = vertex(lambda r: httpx.Response(200, json=table(schema, rows=30_000)))
    found = hook.table_input("bq://proj-1.ds.requests", model="text-embedding-005", embeddings=True)
    assert found is not None and found.rows == 30_000


def test_a_job_of_a_text_embedding_model_holds_at_most_30000_requests(vertex: Callable[..., Any]) -> None:
    hook, _ = vertex(lambda r: httpx.Response(500))
    assert hook.max_requests_per_job("text-embedding-005", embeddings=True) == 30_000
    assert hook.max_requests_per_job("publishers/google/models/text-multilingual-embedding-002", embeddings=True) == (
        30_000
    )
    assert hook.max_requests_per_job("gemini-embedding-001", embeddings=True) is None
    assert hook.max_requests_per_job("gemini-2.5-flash", embeddings=False) is None


def test_a_text_embedding_table_without_a_content_column_is_refused(vertex: Callable[..., Any]) -> None:
    schema = [{"name": "key", "type": "STRING"}, {"name": "request", "type": "JSON"}]
    hook, _ = vertex(lambda r: httpx.Response(200, json=table(schema)))
    with pytest.raises(GenAIBatchError, match=r"bq://proj-1\.ds\.requests has no 'content' column \(STRING\)"):
        hook.table_input("bq://proj-1.ds.requests", model="text-embedding-005", embeddings=True)


def test_a_gemini_embedding_batch_is_refused_a_table_before_any_request(vertex: Callable[..., Any]) -> None:
    hook, wire = vertex(lambda r: httpx.Response(500))
    with pytest.raises(GenAIBatchError, match="from JSONL in Cloud Storage only, not from a table"):
        hook.table_input("bq://proj-1.ds.requests", model="gemini-embedding-001", embeddings=True)
    assert wire.calls() == []


def test_table_keys_are_listed_page_by_page_with_only_the_key_column(vertex: Callable[..., Any]) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if "pageToken" not in query(request):
            return httpx.Response(200, json={"rows": [{"f": [{"v": "k1"}]}, {"f": [{"v": "k2"}]}], "pageToken": "p2"})
        return httpx.Response(200, json={"rows": [{"f": [{"v": "k3"}]}]})

    hook, wire = vertex(handler)
    assert list(hook.iter_table_keys("bq://proj-1.ds.requests")) == ["k1", "k2", "k3"]
    assert wire.requests[0].url.path == f"{TABLE_PATH}/data"
    assert query(wire.requests[0]) == {"maxResults": ["1000"], "selectedFields": ["key"]}
    assert query(wire.requests[1])["pageToken"] == ["p2"]


def test_a_table_row_without_a_key_is_an_error_naming_the_row(vertex: Callable[..., Any]) -> None:
    hook, _ = vertex(lambda r: httpx.Response(200, json={"rows": [{"f": [{"v": "k1"}]}, {"f": [{"v": None}]}]}))
    with pytest.raises(GenAIBatchError, match=r"bq://proj-1\.ds\.requests, row 2: 'key' is empty"):
        list(hook.iter_table_keys("bq://proj-1.ds.requests"))


def test_results_are_read_from_the_output_table_with_json_cells_decoded(vertex: Callable[..., Any]) -> None:
    schema = [
        {"name": "key", "type": "STRING"},
        {"name": "request", "type": "JSON"},
        {"name": "response", "type": "JSON"},
        {"name": "status", "type": "STRING"},
        {"name": "processed_time", "type": "TIMESTAMP"},
    ]
    response = json.dumps({"candidates": [{"content": {"parts": [{"text": "hi"}]}}]})
    rows = [
        {"f": [{"v": "a"}, {"v": "{}"}, {"v": response}, {"v": ""}, {"v": "1.7E9"}]},
        {"f": [{"v": "b"}, {"v": "{}"}, {"v": None}, {"v": "quota"}, {"v": "1.7E9"}]},
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/data"):
            assert query(request)["selectedFields"] == ["key,request,response,status,processed_time"]
            return httpx.Response(200, json={"rows": rows})
        return httpx.Response(200, json=table(schema))

    hook, _ = vertex(handler)
    finished = parse_job(
        job("JOB_STATE_SUCCEEDED", outputInfo={"bigqueryOutputDataset": "bq://proj-1.ds", "bigqueryOutputTable": "out"})
    )
    assert finished.output_location == "bq://proj-1.ds.out"
    result = list(hook.iter_results(finished))
    assert [(r.key, r.status, r.text) for r in result] == [
        ("a", RowStatus.SUCCEEDED, "hi"),
        ("b", RowStatus.FAILED, None),
    ]
    assert result[1].error is not None and result[1].error.message == "quota"
