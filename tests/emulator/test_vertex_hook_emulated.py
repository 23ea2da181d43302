"""VertexBatchHook against the Vertex emulator, its BigQuery stand-in and a real Cloud Storage server, with real
OAuth tokens minted from a generated service-account key: upload, create, poll, find by label, read results."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from airflow_provider_genai_batch.errors import GenAIBatchError, InputValidationError, NotFoundError, ProviderAPIError
from airflow_provider_genai_batch.formats.results import RowStatus
from airflow_provider_genai_batch.hooks import gcs as gcs_api
from airflow_provider_genai_batch.hooks.status_poll import gone_at
from airflow_provider_genai_batch.hooks.vertex import VertexBatchHook
from airflow_provider_genai_batch.idempotency import idempotency_key
from airflow_provider_genai_batch.inputs import prepare_input
from airflow_provider_genai_batch.models import BatchJob
from airflow_provider_genai_batch.operators.submit import GenAIBatchSubmitOperator
from airflow_provider_genai_batch.spec import BatchKind, BatchSpec, FileSource
from airflow_provider_genai_batch.testing.emulator import EmulatorServer
from airflow_provider_genai_batch.testing.gcp_auth import TEST_PROJECT, service_account_info
from airflow_provider_genai_batch.testing.gcs import GcsServer
from tests.unit.pipeline.fakes import FakeTI, capture_log, make_context

CONN_ID = "vertex_emulated"
KEY = idempotency_key("nightly", "submit", "scheduled__2026-11-20T00:00:00+00:00", None)
FINGERPRINT = "5e" * 32
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def key_info(vertex_emulator: EmulatorServer) -> dict[str, Any]:
    """A service-account key whose tokens come from the emulator's OAuth endpoint."""
    return service_account_info(f"{vertex_emulator.base_url}/vertex/token")


@pytest.fixture
def vertex_hook(
    monkeypatch: pytest.MonkeyPatch,
    vertex_emulator: EmulatorServer,
    gcs_server: GcsServer,
    vertex_bucket: str,
    key_info: dict[str, Any],
) -> Iterator[Callable[..., VertexBatchHook]]:
    """``vertex_hook(key=None, **extra)`` -> a hook on a connection to the emulators, the (module's) key in its
    password field. Hooks of one key share its tokens, as hooks of one connection do in a process."""
    hooks: list[VertexBatchHook] = []

    def make(key: dict[str, Any] | None = None, **extra: Any) -> VertexBatchHook:
        conn = {
            "conn_type": "genaivertex",
            "host": f"{vertex_emulator.base_url}/vertex",
            "password": json.dumps(key or key_info),
            "extra": {
                "location": "us-central1",
                "staging_gcs_uri": f"gs://{vertex_bucket}/staging",
                "output_gcs_uri": f"gs://{vertex_bucket}/out",
                "gcs_endpoint_url": gcs_server.endpoint_url,
                "bigquery_endpoint_url": vertex_emulator.base_url,
                "upload_chunk_size": 262144,
                "retry_max_wait": 0,
                **extra,
            },
        }
        monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))
        hook = VertexBatchHook(conn_id=CONN_ID)
        hooks.append(hook)
        return hook

    yield make
    for hook in hooks:
        hook.close()


def lines(*keys: str) -> bytes:
    return b"".join(
        json.dumps(
            {"key": key, "request": {"contents": [{"role": "user", "parts": [{"text": f"say {key}"}]}]}}
        ).encode()
        + b"\n"
        for key in keys
    )


def spec(source: str, **fields: Any) -> BatchSpec:
    base: dict[str, Any] = {
        "model": "gemini-2.5-flash",
        "display_name": "nightly",
        "source": FileSource(source),
        "idempotency_key": KEY,
        "input_fingerprint": FINGERPRINT,
    }
    return BatchSpec(**{**base, **fields})


def finished(
    hook: VertexBatchHook, name: str, until: Callable[[BatchJob], bool] | None = None, deadline: float = 60.0
) -> BatchJob:
    """Poll until the job ends, or ``until`` holds (the emulator's jobs take well under a second)."""
    stop = time.monotonic() + deadline
    while True:
        job = hook.get_batch(name)
        if (until(job) if until is not None else job.state.is_terminal) or time.monotonic() > stop:
            return job
        time.sleep(0.1)


def api_calls(emulator: EmulatorServer, method: str, suffix: str) -> list[dict[str, Any]]:
    return [r for r in emulator.requests() if r["method"] == method and r["path"].endswith(suffix)]


def test_a_local_input_is_uploaded_run_and_its_results_read_by_key(
    vertex_hook: Callable[..., VertexBatchHook], vertex_emulator: EmulatorServer, vertex_bucket: str
) -> None:
    hook = vertex_hook()
    uploaded = hook.upload_file(io.BytesIO(lines("a", "b", "c")), display_name="nightly.jsonl")
    assert uploaded.name.startswith(f"gs://{vertex_bucket}/staging/nightly-")
    job = finished(hook, hook.create_batch(spec(uploaded.name, labels={"team": "search"})).name)
    assert job.state.is_success and job.stats.succeeded == 3
    assert job.output_location is not None and job.output_location.startswith(f"gs://{vertex_bucket}/out/")
    rows = sorted(hook.iter_results(job), key=lambda row: row.key or "")
    assert [(row.key, row.status) for row in rows] == [(k, RowStatus.SUCCEEDED) for k in "abc"]
    assert all(row.text for row in rows)
    created = api_calls(vertex_emulator, "POST", "/batchPredictionJobs")[0]
    assert created["json"]["labels"] == {
        "team": "search",
        "genai_batch_key": KEY,
        "genai_batch_input": FINGERPRINT[:63],
    }
    assert created["headers"]["authorization"].startswith("Bearer ")


def test_a_retried_submit_finds_its_job_by_label_in_one_list_request(
    vertex_hook: Callable[..., VertexBatchHook],
    vertex_emulator: EmulatorServer,
    gcs_server: GcsServer,
    vertex_bucket: str,
) -> None:
    source = gcs_server.put(f"gs://{vertex_bucket}/in/x.jsonl", lines("a"))
    other = idempotency_key("nightly", "other_task", "scheduled__2026-11-20T00:00:00+00:00", None)
    first = vertex_hook()
    made = first.create_batch(spec(source))
    first.create_batch(spec(source, idempotency_key=other))
    retried = vertex_hook()  # a new attempt: a fresh hook, as a retried task makes
    found = retried.find_batch(KEY, FINGERPRINT)
    assert found is not None and found.name == made.name
    listings = api_calls(vertex_emulator, "GET", "/batchPredictionJobs")
    assert len(listings) == 1
    assert parse_qs(listings[0]["query"])["filter"] == [f'labels.genai_batch_key="{KEY}"']


def test_a_job_made_for_an_edited_input_is_not_taken_for_this_one(
    vertex_hook: Callable[..., VertexBatchHook], gcs_server: GcsServer, vertex_bucket: str
) -> None:
    source = gcs_server.put(f"gs://{vertex_bucket}/in/x.jsonl", lines("a"))
    hook = vertex_hook()
    hook.create_batch(spec(source))
    assert hook.find_batch(KEY, "0d" * 32) is None


def test_a_stored_input_is_read_in_place_through_the_storage_api(
    vertex_hook: Callable[..., VertexBatchHook], gcs_server: GcsServer, vertex_bucket: str
) -> None:
    data = lines(*(f"k{i}" for i in range(2000)))
    uri = gcs_server.put(f"gs://{vertex_bucket}/in/big.jsonl", data)
    stored = vertex_hook().open_stored(uri)
    assert stored is not None and stored.size == len(data)
    with stored.open() as stream:
        assert hashlib.sha256(stream.read()).digest() == hashlib.sha256(data).digest()


def test_a_canonical_input_in_cloud_storage_is_validated_by_streaming_and_used_in_place(
    vertex_hook: Callable[..., VertexBatchHook], gcs_server: GcsServer, vertex_bucket: str
) -> None:
    uri = gcs_server.put(f"gs://{vertex_bucket}/in/x.jsonl", lines("a", "b"))
    hook = vertex_hook()
    prepared = prepare_input(uri, hook.dialect, model="gemini-2.5-flash", embeddings=False, storage=hook)
    try:
        assert (prepared.in_place_uri, prepared.summary.count) == (uri, 2)
        assert list(prepared.iter_keys()) == ["a", "b"]
    finally:
        prepared.cleanup()
    assert gcs_server.list(f"gs://{vertex_bucket}/staging/") == []


def test_a_stored_input_whose_name_vertex_reads_as_a_wildcard_is_copied_and_its_own_rows_land(
    vertex_hook: Callable[..., VertexBatchHook], gcs_server: GcsServer, vertex_bucket: str
) -> None:
    uri = gcs_server.put(f"gs://{vertex_bucket}/in/data[1].jsonl", lines("a", "b"))
    gcs_server.put(f"gs://{vertex_bucket}/in/data1.jsonl", lines("z"))  # what Vertex would read for that name
    hook = vertex_hook()
    prepared = prepare_input(uri, hook.dialect, model="gemini-2.5-flash", embeddings=False, storage=hook)
    try:
        assert prepared.in_place_uri is None
        with prepared.open_upload() as stream:
            staged = hook.upload_file(stream, display_name="data[1].jsonl")
    finally:
        prepared.cleanup()
    assert staged.name.startswith(f"gs://{vertex_bucket}/staging/data-1-")
    job = finished(hook, hook.create_batch(spec(staged.name)).name)
    assert sorted((row.key, row.status) for row in hook.iter_results(job)) == [
        ("a", RowStatus.SUCCEEDED),
        ("b", RowStatus.SUCCEEDED),
    ]


def test_a_50_mb_input_goes_up_in_several_chunks_read_a_slice_at_a_time(
    vertex_hook: Callable[..., VertexBatchHook], gcs_server: GcsServer, tmp_path: Path
) -> None:
    path = tmp_path / "big.jsonl"
    digest = hashlib.md5()
    with path.open("wb") as out:
        line = lines("x" * 40)
        for _ in range(50 * MIB // len(line)):
            out.write(line)
            digest.update(line)
    size = path.stat().st_size
    hook = vertex_hook(upload_chunk_size=8 * MIB)
    ranges: list[str] = []
    hook.get_conn().event_hooks["request"].append(
        lambda request: ranges.append(request.headers["content-range"]) if "content-range" in request.headers else None
    )
    with path.open("rb") as raw:
        source = ReadRecorder(raw)
        uploaded = hook.upload_file(source, display_name="big.jsonl")
    assert len(ranges) == -(-size // (8 * MIB)) == 7
    assert ranges[0] == f"bytes 0-{8 * MIB - 1}/{size}" and ranges[-1] == f"bytes {48 * MIB}-{size - 1}/{size}"
    assert source.largest_read <= MIB  # the stream is read a slice at a time, never a chunk or the file at once
    stored = hook.get_file(uploaded.name)
    assert stored.size_bytes == size
    assert stored.raw["md5Hash"] == base64.b64encode(digest.digest()).decode()


class ReadRecorder(io.RawIOBase):
    """A seekable binary stream over a file that remembers the largest single read asked of it."""

    def __init__(self, raw: io.BufferedReader) -> None:
        self.raw = raw
        self.largest_read = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.raw.seek(offset, whence)

    def tell(self) -> int:
        return self.raw.tell()

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.largest_read = max(self.largest_read, len(data))
        return data


def bigquery_client(emulator: EmulatorServer) -> httpx.Client:
    token = emulator.client.post("/_emulator/vertex/tokens", json={"ttl": 3600}).json()["token"]
    base = f"{emulator.base_url}/bigquery/v2/projects/{TEST_PROJECT}"
    return httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"})


def make_request_table(emulator: EmulatorServer, keys: list[str]) -> str:
    with bigquery_client(emulator) as bq:
        bq.post("/datasets", json={"datasetReference": {"projectId": TEST_PROJECT, "datasetId": "batch"}})
        schema = {"fields": [{"name": "key", "type": "STRING"}, {"name": "request", "type": "JSON"}]}
        reference = {"projectId": TEST_PROJECT, "datasetId": "batch", "tableId": "requests"}
        bq.post("/datasets/batch/tables", json={"tableReference": reference, "schema": schema}).raise_for_status()
        rows = [
            {"json": {"key": key, "request": json.dumps({"contents": [{"role": "user", "parts": [{"text": key}]}]})}}
            for key in keys
        ]
        bq.post("/datasets/batch/tables/requests/insertAll", json={"rows": rows}).raise_for_status()
    return f"bq://{TEST_PROJECT}.batch.requests"


def test_a_table_input_writes_a_table_whose_rows_are_read_as_results(
    vertex_hook: Callable[..., VertexBatchHook], vertex_emulator: EmulatorServer
) -> None:
    table = make_request_table(vertex_emulator, ["r1", "r2"])
    hook = vertex_hook()
    found = hook.table_input(table, model="gemini-2.5-flash", embeddings=False)
    assert found is not None and found.rows == 2
    assert list(hook.iter_table_keys(table)) == ["r1", "r2"]
    job = finished(hook, hook.create_batch(spec(table, destination=f"bq://{TEST_PROJECT}.batch.results")).name)
    assert job.state.is_success and job.output_location == f"bq://{TEST_PROJECT}.batch.results"
    rows = sorted(hook.iter_results(job), key=lambda row: row.key or "")
    assert [(row.key, row.status) for row in rows] == [("r1", RowStatus.SUCCEEDED), ("r2", RowStatus.SUCCEEDED)]


def test_a_destination_table_that_already_exists_is_refused_before_a_job_is_made(
    vertex_hook: Callable[..., VertexBatchHook], vertex_emulator: EmulatorServer
) -> None:
    table = make_request_table(vertex_emulator, ["r1", "r2"])
    hook = vertex_hook()
    with pytest.raises(GenAIBatchError, match=r"destination table bq://.*\.batch\.requests already exists"):
        hook.create_batch(spec(table, destination=table))
    assert vertex_emulator.jobs() == []


def submit_to(input_path: Path, destination: str, **options: Any) -> GenAIBatchSubmitOperator:
    return GenAIBatchSubmitOperator(
        task_id="submit",
        conn_id=CONN_ID,
        model="gemini-2.5-flash",
        input=str(input_path),
        destination=destination,
        **options,
    )


def test_a_submit_to_a_destination_table_that_exists_is_refused_before_its_input_is_staged(
    vertex_hook: Callable[..., VertexBatchHook],
    vertex_emulator: EmulatorServer,
    gcs_server: GcsServer,
    vertex_bucket: str,
    tmp_path: Path,
) -> None:
    table = make_request_table(vertex_emulator, ["r1"])
    vertex_hook()
    path = tmp_path / "in.jsonl"
    path.write_bytes(lines("a", "b"))
    with pytest.raises(GenAIBatchError, match=r"destination table bq://.*\.batch\.requests already exists: a Vertex"):
        submit_to(path, table).execute(make_context(FakeTI()))
    assert gcs_server.list(f"gs://{vertex_bucket}/staging/") == []
    assert vertex_emulator.jobs() == []


def test_a_dry_run_to_a_destination_table_that_exists_fails_naming_the_table(
    vertex_hook: Callable[..., VertexBatchHook],
    vertex_emulator: EmulatorServer,
    gcs_server: GcsServer,
    vertex_bucket: str,
    tmp_path: Path,
) -> None:
    table = make_request_table(vertex_emulator, ["r1"])
    vertex_hook()
    path = tmp_path / "in.jsonl"
    path.write_bytes(lines("a", "b"))
    ti = FakeTI()
    with pytest.raises(InputValidationError, match=r"destination table bq://.*\.batch\.requests already exists"):
        submit_to(path, table, dry_run=True).execute(make_context(ti))
    assert gcs_server.list(f"gs://{vertex_bucket}/staging/") == []
    assert vertex_emulator.jobs() == []


MISSING_OUTPUT_PLACES = {
    "a table in a dataset that does not exist": (
        f"bq://{TEST_PROJECT}.missing.answers",
        f"destination dataset {TEST_PROJECT}.missing does not exist: a Vertex job writes its output table into a "
        "dataset that exists; create the dataset first",
    ),
    "a bucket that does not exist": (
        "gs://no-such-results-bucket/out",
        "output bucket 'no-such-results-bucket' of gs://no-such-results-bucket/out does not exist: a Vertex job writes "
        "its predictions into a bucket that exists; create it first",
    ),
}


@pytest.mark.parametrize("place", list(MISSING_OUTPUT_PLACES))
def test_a_submit_to_an_output_place_that_does_not_exist_is_refused_before_its_input_is_staged(
    vertex_hook: Callable[..., VertexBatchHook],
    vertex_emulator: EmulatorServer,
    gcs_server: GcsServer,
    vertex_bucket: str,
    tmp_path: Path,
    place: str,
) -> None:
    destination, refusal = MISSING_OUTPUT_PLACES[place]
    vertex_hook()
    path = tmp_path / "in.jsonl"
    path.write_bytes(lines("a", "b"))
    with pytest.raises(GenAIBatchError) as raised:
        submit_to(path, destination).execute(make_context(FakeTI()))
    assert str(raised.value) == refusal
    assert gcs_server.list(f"gs://{vertex_bucket}/staging/") == []
    assert vertex_emulator.jobs() == []


def refuse_reads_under(monkeypatch: pytest.MonkeyPatch, folder: str) -> None:
    """Cloud Storage answers 403 to a metadata GET under ``folder``: credentials without storage.objects.get there
    (the emulator takes any credentials)."""
    real_probe = gcs_api.probe

    def probe(endpoint: gcs_api.GcsEndpoint, obj: gcs_api.GcsObject) -> Any:
        if obj.uri.startswith(folder):
            raise ProviderAPIError("Forbidden", http_status=403, provider="vertex")
        return (yield from real_probe(endpoint, obj))

    monkeypatch.setattr(gcs_api, "probe", probe)


def test_a_submit_whose_credentials_may_not_read_the_output_folder_is_refused_before_its_input_is_staged(
    vertex_hook: Callable[..., VertexBatchHook],
    vertex_emulator: EmulatorServer,
    gcs_server: GcsServer,
    vertex_bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vertex_hook()
    refuse_reads_under(monkeypatch, f"gs://{vertex_bucket}/results/")
    path = tmp_path / "in.jsonl"
    path.write_bytes(lines("a", "b"))
    with pytest.raises(GenAIBatchError) as raised:
        submit_to(path, f"gs://{vertex_bucket}/results").execute(make_context(FakeTI()))
    assert str(raised.value).startswith(
        f"connection {CONN_ID!r} cannot read the job's predictions back from gs://{vertex_bucket}/results: Cloud "
        f"Storage answered 403 to a metadata GET of gs://{vertex_bucket}/results/genai-batch-read-check"
    )
    assert gcs_server.list(f"gs://{vertex_bucket}/") == []
    assert vertex_emulator.jobs() == []


def test_a_dry_run_whose_credentials_may_not_read_the_output_folder_fails_naming_it(
    vertex_hook: Callable[..., VertexBatchHook],
    vertex_emulator: EmulatorServer,
    gcs_server: GcsServer,
    vertex_bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    vertex_hook()
    refuse_reads_under(monkeypatch, f"gs://{vertex_bucket}/results/")
    path = tmp_path / "in.jsonl"
    path.write_bytes(lines("a", "b"))
    with pytest.raises(InputValidationError, match=r"cannot read the job's predictions back from gs://"):
        submit_to(path, f"gs://{vertex_bucket}/results", dry_run=True).execute(make_context(FakeTI()))
    assert gcs_server.list(f"gs://{vertex_bucket}/") == []
    assert vertex_emulator.jobs() == []


def test_the_read_check_of_an_output_folder_is_answered_404_by_cloud_storage_where_reading_is_allowed(
    vertex_hook: Callable[..., VertexBatchHook], vertex_bucket: str
) -> None:
    hook = vertex_hook()
    assert hook.new_output_problem(f"gs://{vertex_bucket}/results") is None


def test_a_text_embedding_input_over_30000_prompts_is_planned_as_jobs_of_at_most_30000(
    vertex_hook: Callable[..., VertexBatchHook], vertex_bucket: str, tmp_path: Path
) -> None:
    vertex_hook()
    path = tmp_path / "embed.jsonl"
    with path.open("wb") as out:
        for number in range(30_001):
            line = {"key": f"e{number}", "request": {"content": {"parts": [{"text": f"text {number}"}]}}}
            out.write(json.dumps(line).encode() + b"\n")
    op = GenAIBatchSubmitOperator(
        task_id="submit",
        conn_id=CONN_ID,
        model="text-embedding-005",
        input=str(path),
        embeddings=True,
        destination=f"gs://{vertex_bucket}/out",
        dry_run=True,
    )
    plan = op.execute(make_context(FakeTI()))
    assert [part["requests"] for part in plan["parts"]] == [30_000, 1]


def test_a_clear_re_attaches_to_the_job_that_made_its_destination_table(
    vertex_hook: Callable[..., VertexBatchHook], vertex_emulator: EmulatorServer, tmp_path: Path
) -> None:
    make_request_table(vertex_emulator, ["r1"])  # the dataset
    hook = vertex_hook()
    path = tmp_path / "in.jsonl"
    path.write_bytes(lines("a", "b"))
    destination = f"bq://{TEST_PROJECT}.batch.answers"
    first = submit_to(path, destination).execute(make_context(FakeTI()))
    assert finished(hook, first["job_name"]).output_location == destination  # the job made the table
    again = submit_to(path, destination).execute(make_context(FakeTI()))
    assert again["job_name"] == first["job_name"]
    assert len(vertex_emulator.jobs()) == 1


def test_a_table_just_streamed_into_is_refused_with_why_until_bigquery_commits_its_rows(
    vertex_hook: Callable[..., VertexBatchHook], vertex_emulator: EmulatorServer
) -> None:
    vertex_emulator.config(bigquery_streaming_seconds=3600)
    table = make_request_table(vertex_emulator, ["r1", "r2"])
    hook = vertex_hook()
    with pytest.raises(GenAIBatchError, match=r"has about 2 rows in BigQuery's streaming buffer \(streamed, not"):
        prepare_input(table, hook.dialect, model="gemini-2.5-flash", embeddings=False, storage=hook)
    assert vertex_emulator.jobs() == []


def test_a_text_embedding_batch_reads_a_table_of_content_and_lands_its_vectors_by_key(
    vertex_hook: Callable[..., VertexBatchHook], vertex_emulator: EmulatorServer, vertex_bucket: str
) -> None:
    with bigquery_client(vertex_emulator) as bq:
        bq.post("/datasets", json={"datasetReference": {"projectId": TEST_PROJECT, "datasetId": "batch"}})
        schema = {"fields": [{"name": "key", "type": "STRING"}, {"name": "content", "type": "STRING"}]}
        reference = {"projectId": TEST_PROJECT, "datasetId": "batch", "tableId": "texts"}
        bq.post("/datasets/batch/tables", json={"tableReference": reference, "schema": schema}).raise_for_status()
        rows = [{"json": {"key": key, "content": f"text of {key}"}} for key in ("t1", "t2")]
        bq.post("/datasets/batch/tables/texts/insertAll", json={"rows": rows}).raise_for_status()
    table = f"bq://{TEST_PROJECT}.batch.texts"
    hook = vertex_hook()
    prepared = prepare_input(table, hook.dialect, model="text-embedding-005", embeddings=True, storage=hook)
    try:
        assert list(prepared.iter_keys()) == ["t1", "t2"]
    finally:
        prepared.cleanup()
    job = finished(hook, hook.create_batch(spec(table, model="text-embedding-005", kind=BatchKind.EMBED)).name)
    rows = sorted(hook.iter_results(job), key=lambda row: row.key or "")
    assert [(row.key, row.status) for row in rows] == [("t1", RowStatus.SUCCEEDED), ("t2", RowStatus.SUCCEEDED)]
    assert all(row.embedding for row in rows)


def test_a_text_embedding_batch_reads_its_vectors_by_key(
    vertex_hook: Callable[..., VertexBatchHook], gcs_server: GcsServer, vertex_bucket: str
) -> None:
    hook = vertex_hook()
    instances = [
        hook.dialect.to_native(
            {"key": key, "request": {"content": {"parts": [{"text": key}]}}},
            model="text-embedding-005",
            embeddings=True,
        )
        for key in ("e1", "e2")
    ]
    source = gcs_server.put(
        f"gs://{vertex_bucket}/in/embed.jsonl", b"".join(json.dumps(i).encode() + b"\n" for i in instances)
    )
    job = finished(hook, hook.create_batch(spec(source, model="text-embedding-005", kind=BatchKind.EMBED)).name)
    rows = sorted(hook.iter_results(job), key=lambda row: row.key or "")
    assert [(row.key, row.status) for row in rows] == [("e1", RowStatus.SUCCEEDED), ("e2", RowStatus.SUCCEEDED)]
    assert all(row.embedding for row in rows)


def test_a_paused_job_is_still_running_and_is_cancelled_then_deleted(
    vertex_hook: Callable[..., VertexBatchHook],
    gcs_server: GcsServer,
    vertex_bucket: str,
    vertex_emulator: EmulatorServer,
) -> None:
    vertex_emulator.config(vertex_hold_state="PAUSED")
    source = gcs_server.put(f"gs://{vertex_bucket}/in/x.jsonl", lines("a"))
    hook = vertex_hook()
    job = hook.create_batch(spec(source))
    paused = finished(hook, job.name, until=lambda seen: seen.provider_state != "JOB_STATE_PENDING")
    assert paused.provider_state == "JOB_STATE_PAUSED" and not paused.state.is_terminal
    hook.cancel_batch(job.name)
    assert finished(hook, job.name).provider_state == "JOB_STATE_CANCELLED"
    hook.delete_batch(job.name)
    assert api_calls(vertex_emulator, "DELETE", "/batchPredictionJobs/" + job.name.rsplit("/", 1)[-1])


def test_a_deleted_job_is_answered_not_found_and_read_as_gone(
    vertex_hook: Callable[..., VertexBatchHook], gcs_server: GcsServer, vertex_bucket: str
) -> None:
    source = gcs_server.put(f"gs://{vertex_bucket}/in/x.jsonl", lines("a"))
    hook = vertex_hook()
    job = finished(hook, hook.create_batch(spec(source)).name)

    hook.delete_batch(job.name)

    with pytest.raises(NotFoundError) as err:
        hook.get_batch(job.name)
    assert err.value.http_status == 404
    assert gone_at(hook, job.name)


def test_rows_lost_to_the_service_make_a_partially_succeeded_job_with_failed_rows(
    vertex_hook: Callable[..., VertexBatchHook],
    gcs_server: GcsServer,
    vertex_bucket: str,
    vertex_emulator: EmulatorServer,
) -> None:
    vertex_emulator.config(vertex_failed_rows=1)
    source = gcs_server.put(f"gs://{vertex_bucket}/in/x.jsonl", lines("a", "b", "c"))
    hook = vertex_hook()
    job = finished(hook, hook.create_batch(spec(source)).name)
    assert job.provider_state == "JOB_STATE_PARTIALLY_SUCCEEDED" and job.state.is_success
    statuses = sorted(row.status.value for row in hook.iter_results(job))
    assert statuses == ["failed", "succeeded", "succeeded"]


def test_the_connection_test_lists_jobs_with_a_minted_token(vertex_hook: Callable[..., VertexBatchHook]) -> None:
    assert vertex_hook().test_connection() == (True, "Connection successfully tested")


def test_a_token_about_to_expire_is_replaced_before_the_next_call(
    vertex_hook: Callable[..., VertexBatchHook], vertex_emulator: EmulatorServer
) -> None:
    vertex_emulator.config(vertex_token_ttl=60)  # inside google-auth's refresh margin from the moment it is minted
    hook = vertex_hook(key=service_account_info(f"{vertex_emulator.base_url}/vertex/token"))
    assert hook.test_connection()[0] and hook.test_connection()[0]
    listings = api_calls(vertex_emulator, "GET", "/batchPredictionJobs")
    tokens = [entry["headers"]["authorization"] for entry in listings]
    assert len(tokens) == 2 and tokens[0] != tokens[1]


def test_the_token_never_appears_in_the_hooks_errors(
    vertex_hook: Callable[..., VertexBatchHook], vertex_emulator: EmulatorServer
) -> None:
    hook = vertex_hook()
    with pytest.raises(Exception) as caught:
        hook.get_batch("999999999")
    token = hook._google_tokens.current if hook._google_tokens is not None else None
    assert token and token not in str(caught.value)


def test_listing_the_staging_files_follows_every_page_cloud_storage_answers(
    vertex_hook: Callable[..., VertexBatchHook],
    gcs_server: GcsServer,
    vertex_bucket: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("airflow_provider_genai_batch.hooks.gcs.LIST_PAGE_SIZE", 2)
    names = [f"staging/part-{i}.jsonl" for i in range(5)]
    for name in names:
        gcs_server.put(f"gs://{vertex_bucket}/{name}", b"{}\n")

    listed = sorted(info.name for info in vertex_hook().list_files())

    assert listed == [f"gs://{vertex_bucket}/{name}" for name in names]


def test_a_missing_staged_object_fails_naming_it_as_cloud_storage_does(
    vertex_hook: Callable[..., VertexBatchHook], vertex_bucket: str
) -> None:
    with pytest.raises(GenAIBatchError) as raised:
        vertex_hook().get_file(f"gs://{vertex_bucket}/staging/gone.jsonl")

    assert f"No such object: {vertex_bucket}/staging/gone.jsonl" in str(raised.value)


def test_a_staged_input_whose_create_is_refused_is_deleted_from_the_staging_bucket(
    vertex_hook: Callable[..., VertexBatchHook],
    vertex_emulator: EmulatorServer,
    gcs_server: GcsServer,
    vertex_bucket: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    vertex_hook()
    path = tmp_path / "in.jsonl"
    path.write_bytes(lines("a", "b"))
    faults = {"error_rate": 1.0, "error_statuses": [400], "paths": r"/batchPredictionJobs$", "methods": ["POST"]}
    vertex_emulator.config(faults=faults)  # a model or quota the service refuses: no job is made
    op = GenAIBatchSubmitOperator(task_id="submit", conn_id=CONN_ID, model="gemini-2.5-flash", input=str(path))
    capture_log(op, caplog)
    try:
        with pytest.raises(ProviderAPIError, match="400"):
            op.execute(make_context(FakeTI()))
    finally:
        vertex_emulator.config(faults={})
    assert f"the create was refused: deleted gs://{vertex_bucket}/staging/" in caplog.text  # staged, then deleted
    assert gcs_server.list(f"gs://{vertex_bucket}/staging/") == []
    assert vertex_emulator.jobs() == []


class Killed(BaseException):
    """The worker dies (SIGKILL): nothing of the try runs after this, no except clause catches it."""


def test_a_retry_after_a_death_between_staging_and_create_uses_the_staged_object(
    vertex_hook: Callable[..., VertexBatchHook],
    vertex_emulator: EmulatorServer,
    gcs_server: GcsServer,
    vertex_bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hook = vertex_hook()
    path = tmp_path / "in.jsonl"
    path.write_bytes(lines("a", "b"))
    real_create = VertexBatchHook.create_batch
    creates: list[BatchSpec] = []

    def killed_at_first(self: VertexBatchHook, spec: BatchSpec) -> BatchJob:
        creates.append(spec)
        if len(creates) == 1:
            raise Killed
        return real_create(self, spec)

    monkeypatch.setattr(VertexBatchHook, "create_batch", killed_at_first)
    op = GenAIBatchSubmitOperator(task_id="submit", conn_id=CONN_ID, model="gemini-2.5-flash", input=str(path))
    ti = FakeTI()
    with pytest.raises(Killed):
        op.execute(make_context(ti))

    ref = op.execute(make_context(ti))

    (staged,) = gcs_server.list(f"gs://{vertex_bucket}/staging/")  # the one upload, not a copy beside it
    assert hook.get_batch(ref["job_name"]).input_file == staged
