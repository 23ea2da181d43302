"""The official google-genai SDK driven against the emulator: proof that the emulator speaks the real wire format."""

from __future__ import annotations

import io
import json
import time
import warnings
from typing import Any

import httpx
import pytest
from google import genai
from google.genai import errors, types

from airflow_provider_genai_batch.testing.emulator import FAIL_MARKER, EmulatorServer
from tests.conformance.conftest import API_KEY

CHUNK = 8 * 1024 * 1024
MODEL = "gemini-2.5-flash"
EMBED_MODEL = "gemini-embedding-001"


@pytest.fixture
def client(genai_client: genai.Client) -> genai.Client:
    """Short name for the SDK client the conftest provides."""
    return genai_client


def jsonl(rows: list[dict[str, Any]]) -> bytes:
    """Rows as JSONL bytes."""
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def generate_line(key: str, text: str) -> dict[str, Any]:
    """One batch input line in REST shape."""
    return {"key": key, "request": {"contents": [{"role": "user", "parts": [{"text": text}]}]}}


def upload_rows(client: genai.Client, rows: list[dict[str, Any]], mime_type: str = "application/jsonl") -> types.File:
    """Upload JSONL rows through the SDK."""
    return client.files.upload(
        file=io.BytesIO(jsonl(rows)), config=types.UploadFileConfig(mime_type=mime_type, display_name="rows")
    )


def wait_done(client: genai.Client, name: str, timeout: float = 15.0) -> types.BatchJob:
    """Poll through the SDK until the job is done, within a time bound."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.batches.get(name=name)
        if job.done:
            return job
        time.sleep(0.05)
    raise AssertionError(f"{name} not done within {timeout} s")


def create_embeddings(client: genai.Client, **kwargs: Any) -> types.BatchJob:
    """batches.create_embeddings without its ExperimentalWarning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return client.batches.create_embeddings(**kwargs)


# Files


@pytest.mark.parametrize("mime_type", ["application/jsonl", "jsonl"])
def test_upload_returns_parsed_file(client: genai.Client, mime_type: str) -> None:
    data = jsonl([generate_line("a", "x")])
    uploaded = client.files.upload(
        file=io.BytesIO(data), config=types.UploadFileConfig(mime_type=mime_type, display_name="in")
    )
    assert uploaded.name is not None
    assert uploaded.name.startswith("files/")
    assert uploaded.display_name == "in"
    assert uploaded.mime_type == mime_type
    assert uploaded.size_bytes == len(data)
    assert uploaded.state == types.FileState.ACTIVE
    assert uploaded.source == types.FileSource.UPLOADED
    assert uploaded.expiration_time is not None
    assert uploaded.create_time is not None
    assert uploaded.expiration_time > uploaded.create_time


def test_upload_over_8_mib_is_sent_in_8_mib_chunks(client: genai.Client, emulator: EmulatorServer) -> None:
    size = 20_000_000
    uploaded = client.files.upload(
        file=io.BytesIO(b"x" * (size - 1) + b"\n"), config=types.UploadFileConfig(mime_type="application/jsonl")
    )
    assert uploaded.size_bytes == size
    chunks = [r for r in emulator.requests() if "upload_id=" in r["query"]]
    assert [int(r["headers"]["x-goog-upload-offset"]) for r in chunks] == [0, CHUNK, 2 * CHUNK]
    assert [r["headers"]["x-goog-upload-command"] for r in chunks] == ["upload", "upload", "upload, finalize"]
    assert [int(r["headers"]["content-length"]) for r in chunks] == [CHUNK, CHUNK, size - 2 * CHUNK]
    assert all("x-goog-api-key" not in r["headers"] for r in chunks)


def test_files_get_returns_uploaded_file(client: genai.Client) -> None:
    uploaded = upload_rows(client, [generate_line("a", "x")])
    assert uploaded.name is not None
    fetched = client.files.get(name=uploaded.name)
    assert fetched.name == uploaded.name
    assert fetched.size_bytes == uploaded.size_bytes
    assert fetched.sha256_hash == uploaded.sha256_hash


def test_files_list_walks_every_page(client: genai.Client, emulator: EmulatorServer) -> None:
    names = {upload_rows(client, [generate_line(str(i), "x")]).name for i in range(5)}
    listed = [f.name for f in client.files.list(config=types.ListFilesConfig(page_size=2))]
    assert set(listed) == names
    assert len(listed) == 5
    list_calls = [r for r in emulator.requests() if r["path"] == "/v1beta/files" and r["method"] == "GET"]
    assert len(list_calls) == 3
    assert "pageToken=" in list_calls[-1]["query"]


def test_files_delete_removes_the_file(client: genai.Client) -> None:
    uploaded = upload_rows(client, [generate_line("a", "x")])
    assert uploaded.name is not None
    client.files.delete(name=uploaded.name)
    with pytest.raises(errors.ClientError) as raised:
        client.files.get(name=uploaded.name)
    assert raised.value.code == 403


def test_files_download_of_result_file_by_name(client: genai.Client) -> None:
    uploaded = upload_rows(client, [generate_line("k1", "first"), generate_line("k2", "second")])
    assert uploaded.name is not None
    job = wait_done(client, client.batches.create(model=MODEL, src=uploaded.name).name or "")
    assert job.dest is not None
    assert job.dest.file_name is not None
    lines = [json.loads(line) for line in client.files.download(file=job.dest.file_name).splitlines()]
    assert [line["key"] for line in lines] == ["k1", "k2"]
    parsed = types.GenerateContentResponse.model_validate(lines[1]["response"])
    assert parsed.text == "Answer to: second"


def test_files_get_and_delete_of_result_file_fail_as_the_real_api_does(client: genai.Client) -> None:
    uploaded = upload_rows(client, [generate_line("a", "x")])
    job = wait_done(client, client.batches.create(model=MODEL, src=uploaded.name or "").name or "")
    assert job.dest is not None
    result_name = job.dest.file_name
    assert result_name is not None
    for call, request in ((client.files.get, "GetFileRequest"), (client.files.delete, "DeleteFileRequest")):
        with pytest.raises(errors.ClientError) as raised:
            call(name=result_name)
        assert raised.value.code == 400
        assert raised.value.status == "INVALID_ARGUMENT"
        assert raised.value.message is not None
        assert raised.value.message.startswith(f"* {request}.name: File ID (name excluding 'files/')")


# Batches


def test_batch_from_file_succeeds_with_result_file(client: genai.Client) -> None:
    uploaded = upload_rows(client, [generate_line("a", "x")])
    created = client.batches.create(
        model=MODEL, src=uploaded.name or "", config=types.CreateBatchJobConfig(display_name="from-file")
    )
    assert created.state == types.JobState.JOB_STATE_PENDING
    assert created.display_name == "from-file"
    assert created.model == f"models/{MODEL}"
    job = wait_done(client, created.name or "")
    assert job.state == types.JobState.JOB_STATE_SUCCEEDED
    assert job.dest is not None
    assert job.dest.file_name == f"files/batch-{(created.name or '').removeprefix('batches/')}"
    assert job.end_time is not None


def test_batch_from_inline_requests_with_sdk_config(client: genai.Client, emulator: EmulatorServer) -> None:
    src: list[types.InlinedRequestOrDict] = [
        {
            "contents": "What is two plus two?",
            "metadata": {"key": "q1"},
            "config": {"system_instruction": "Be terse.", "temperature": 0.2, "response_mime_type": "application/json"},
        },
        {"contents": f"Break {FAIL_MARKER}", "metadata": {"key": "q2"}},
    ]
    created = client.batches.create(model=MODEL, src=src, config={"display_name": "inline"})
    job = wait_done(client, created.name or "")
    assert job.state == types.JobState.JOB_STATE_SUCCEEDED
    assert job.dest is not None
    assert job.dest.inlined_responses is not None
    first, second = job.dest.inlined_responses
    assert first.metadata == {"key": "q1"}
    assert first.response is not None
    assert first.response.text == "Answer to: What is two plus two?"
    assert first.response.usage_metadata is not None
    assert first.response.usage_metadata.total_token_count == 5 + 7
    assert second.response is None
    assert second.error is not None
    assert second.error.code == 400
    sent = next(r["json"] for r in emulator.requests() if r["path"].endswith(":batchGenerateContent"))
    request = sent["batch"]["inputConfig"]["requests"]["requests"][0]["request"]
    assert request["generationConfig"] == {"temperature": 0.2, "responseMimeType": "application/json"}
    assert request["systemInstruction"]["parts"] == [{"text": "Be terse."}]


def test_batch_from_inline_requests_with_store_and_continuation_token(
    client: genai.Client, emulator: EmulatorServer
) -> None:
    src: list[types.InlinedRequestOrDict] = [
        {"contents": "Go on.", "metadata": {"key": "c1"}, "config": {"store": True, "continuation_token": b"cont"}}
    ]
    job = wait_done(client, client.batches.create(model=MODEL, src=src).name or "")
    assert job.state == types.JobState.JOB_STATE_SUCCEEDED
    sent = next(r["json"] for r in emulator.requests() if r["path"].endswith(":batchGenerateContent"))
    request = sent["batch"]["inputConfig"]["requests"]["requests"][0]["request"]
    assert (request["store"], request["continuationToken"]) == (True, "Y29udA==")


def test_create_embeddings_inline(client: genai.Client) -> None:
    created = create_embeddings(
        client,
        model=EMBED_MODEL,
        src={"inlined_requests": {"contents": ["alpha", "beta"], "config": {"output_dimensionality": 4}}},
    )
    job = wait_done(client, created.name or "")
    assert job.state == types.JobState.JOB_STATE_SUCCEEDED
    assert job.dest is not None
    responses = job.dest.inlined_embed_content_responses
    assert responses is not None
    assert len(responses) == 2
    values = [r.response.embedding.values for r in responses if r.response and r.response.embedding]
    assert [len(v or []) for v in values] == [4, 4]
    assert values[0] != values[1]


def raw_operation(emulator: EmulatorServer, name: str) -> dict[str, Any]:
    """A batch's Operation as the REST API answers it, before the SDK maps (and drops) any of it."""
    answer = httpx.get(f"{emulator.base_url}/v1beta/{name}", headers={"x-goog-api-key": API_KEY})
    answer.raise_for_status()
    body: dict[str, Any] = answer.json()
    return body


def test_an_inline_embedding_response_is_the_sdks_single_embed_content_response_with_its_token_count(
    client: genai.Client, emulator: EmulatorServer
) -> None:
    created = create_embeddings(client, model=EMBED_MODEL, src={"inlined_requests": {"contents": ["alpha beta"]}})
    wait_done(client, created.name or "")
    output = raw_operation(emulator, created.name or "")["metadata"]["output"]
    [raw] = output["inlinedResponses"]["inlinedResponses"]
    parsed = types.InlinedEmbedContentResponse.model_validate(raw)  # the SDK's model refuses fields it does not have
    assert parsed.response is not None and parsed.response.embedding is not None
    assert parsed.response.token_count is not None and parsed.response.token_count > 0


def test_an_embedding_file_line_holds_the_sdks_single_embed_content_response(client: genai.Client) -> None:
    uploaded = upload_rows(client, [{"key": "e0", "request": {"content": {"parts": [{"text": "alpha beta"}]}}}])
    created = create_embeddings(client, model=EMBED_MODEL, src={"file_name": uploaded.name})
    job = wait_done(client, created.name or "")
    assert job.dest is not None and job.dest.file_name is not None
    [line] = [json.loads(line) for line in client.files.download(file=job.dest.file_name).splitlines()]
    parsed = types.SingleEmbedContentResponse.model_validate(line["response"])
    assert parsed.token_count is not None and parsed.token_count > 0


def test_create_embeddings_from_file(client: genai.Client) -> None:
    rows = [{"key": f"e{i}", "request": {"content": {"parts": [{"text": f"text {i}"}]}}} for i in range(3)]
    uploaded = upload_rows(client, rows)
    created = create_embeddings(client, model=EMBED_MODEL, src={"file_name": uploaded.name})
    job = wait_done(client, created.name or "")
    assert job.dest is not None
    assert job.dest.file_name is not None
    lines = [json.loads(line) for line in client.files.download(file=job.dest.file_name).splitlines()]
    assert [line["key"] for line in lines] == ["e0", "e1", "e2"]
    assert all(len(line["response"]["embedding"]["values"]) == 8 for line in lines)


def test_batches_get_reports_job_states(client: genai.Client) -> None:
    uploaded = upload_rows(client, [generate_line("a", "x")])
    name = client.batches.create(model=MODEL, src=uploaded.name or "").name or ""
    seen = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        state = client.batches.get(name=name).state
        if not seen or seen[-1] != state:
            seen.append(state)
        if state == types.JobState.JOB_STATE_SUCCEEDED:
            break
        time.sleep(0.02)
    assert seen == [
        types.JobState.JOB_STATE_PENDING,
        types.JobState.JOB_STATE_RUNNING,
        types.JobState.JOB_STATE_SUCCEEDED,
    ]


def test_batches_list_walks_every_page(client: genai.Client) -> None:
    uploaded = upload_rows(client, [generate_line("a", "x")])
    names = [client.batches.create(model=MODEL, src=uploaded.name or "").name for _ in range(5)]
    listed = [job.name for job in client.batches.list(config=types.ListBatchJobsConfig(page_size=2))]
    assert listed == list(reversed(names))


def test_batches_cancel_ends_job_cancelled(client: genai.Client, emulator: EmulatorServer) -> None:
    emulator.config(pending_seconds=30)
    uploaded = upload_rows(client, [generate_line("a", "x")])
    name = client.batches.create(model=MODEL, src=uploaded.name or "").name or ""
    client.batches.cancel(name=name)
    job = client.batches.get(name=name)
    assert job.state == types.JobState.JOB_STATE_CANCELLED
    assert job.done


def test_batches_cancel_of_finished_job_raises_client_error(client: genai.Client) -> None:
    uploaded = upload_rows(client, [generate_line("a", "x")])
    job = wait_done(client, client.batches.create(model=MODEL, src=uploaded.name or "").name or "")
    with pytest.raises(errors.ClientError) as raised:
        client.batches.cancel(name=job.name or "")
    assert raised.value.status == "FAILED_PRECONDITION"


def test_batches_delete_then_get_is_not_found(client: genai.Client) -> None:
    uploaded = upload_rows(client, [generate_line("a", "x")])
    name = client.batches.create(model=MODEL, src=uploaded.name or "").name or ""
    deleted = client.batches.delete(name=name)
    assert deleted.error is None
    with pytest.raises(errors.ClientError) as raised:
        client.batches.get(name=name)
    assert raised.value.code == 404


def test_forced_failure_is_seen_as_job_state_failed(client: genai.Client, emulator: EmulatorServer) -> None:
    emulator.config(job_outcome="fail")
    uploaded = upload_rows(client, [generate_line("a", "x")])
    job = wait_done(client, client.batches.create(model=MODEL, src=uploaded.name or "").name or "")
    assert job.state == types.JobState.JOB_STATE_FAILED
    assert job.dest is None


def test_wrong_api_key_raises_client_error(emulator: EmulatorServer) -> None:
    sdk = genai.Client(
        api_key="wrong", http_options=types.HttpOptions(base_url=emulator.base_url, api_version="v1beta")
    )
    with pytest.raises(errors.ClientError) as raised:
        list(sdk.batches.list())
    assert raised.value.code == 400
    assert raised.value.message == "API key not valid. Please pass a valid API key."


async def test_async_client_uploads_creates_and_polls(client: genai.Client) -> None:
    uploaded = await client.aio.files.upload(
        file=io.BytesIO(jsonl([generate_line("a", "async")])),
        config=types.UploadFileConfig(mime_type="application/jsonl"),
    )
    assert uploaded.name is not None
    created = await client.aio.batches.create(model=MODEL, src=uploaded.name)
    deadline = time.monotonic() + 15
    job = created
    while not job.done and time.monotonic() < deadline:
        job = await client.aio.batches.get(name=created.name or "")
    assert job.state == types.JobState.JOB_STATE_SUCCEEDED
    assert job.dest is not None
    assert job.dest.file_name is not None
    data = await client.aio.files.download(file=job.dest.file_name)
    assert json.loads(data.splitlines()[0])["key"] == "a"
