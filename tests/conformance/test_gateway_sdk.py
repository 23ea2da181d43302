"""The GenAI gateway's documented google-genai workflows, run against the emulated gateway.

Each client is the documented one, ``genai.Client(api_key=..., http_options=HttpOptions(base_url=
<emulator>/genai, headers={"x-model-provider": p}))``, with only the base URL changed; every test runs
with the SDK's default API version (``v1`` in google-genai 3.x) and with ``api_version="v1beta"``.
Every assertion is on what the SDK parsed. Where a documented snippet cannot run as printed, the test
says why next to the one change it makes.
"""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from google import genai
from google.genai import errors, types

from airflow_provider_genai_batch.testing.emulator import EmulatorServer

TERMINAL = ["JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"]
MODELS = {"gemini": "gemini-2.5-flash", "openai": "gpt-4o-mini", "anthropic": "claude-3-sonnet-20240229"}
DOCUMENTED_INLINE = [
    {"contents": [{"parts": [{"text": "What is 2+2?"}], "role": "user"}], "config": {"response_modalities": ["TEXT"]}},
    {
        "contents": [{"parts": [{"text": "What is the capital of France?"}], "role": "user"}],
        "config": {"response_modalities": ["TEXT"]},
    },
]
WITH_MAX_TOKENS = [
    {**request, "config": {**request["config"], "max_output_tokens": 64}} for request in DOCUMENTED_INLINE
]
Client = Callable[[str], genai.Client]


@pytest.fixture(params=[None, "v1beta"], ids=["sdk-default-version", "v1beta"])
def gateway(request: pytest.FixtureRequest, emulator: EmulatorServer) -> Iterator[Client]:
    """``gateway(provider)``: the documented client on ``<emulator>/genai``, default or pinned API version."""
    clients: list[genai.Client] = []

    def make(provider: str) -> genai.Client:
        options = types.HttpOptions(base_url=f"{emulator.base_url}/genai", headers={"x-model-provider": provider})
        if request.param:
            options.api_version = request.param
        client = genai.Client(api_key=emulator.config_at_start.api_key, http_options=options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def poll(client: genai.Client, name: str, terminal: list[str]) -> types.BatchJob:
    """The documented poll loop (a shorter sleep; the emulator's jobs take a fraction of a second)."""
    deadline = time.monotonic() + 20
    while True:
        job = client.batches.get(name=name)
        if job.state in terminal or time.monotonic() > deadline:
            return job
        time.sleep(0.1)


def native(emulator: EmulatorServer, path: str, provider: str) -> httpx.Response:
    """A call to the gateway's native routes at its root."""
    headers = {"x-goog-api-key": emulator.config_at_start.api_key or ""}
    return httpx.get(f"{emulator.base_url}{path}", params={"provider": provider}, headers=headers, timeout=30)


# --- files and batches from a file -----------------------------------------------------------------------


def test_the_gemini_file_workflow(gateway: Client, tmp_path: Path) -> None:
    client = gateway("gemini")
    lines = [
        {
            "key": f"request_{i + 1}",
            "request": {"contents": [{"parts": [{"text": f"What is {i + 1} + {i + 1}?"}], "role": "user"}]},
        }
        for i in range(3)
    ]
    path = tmp_path / "batch.json"
    path.write_text("\n".join(json.dumps(line) for line in lines))

    uploaded = client.files.upload(file=str(path), config=types.UploadFileConfig(display_name="batch_e2e_gemini"))
    job = client.batches.create(model=MODELS["gemini"], src=uploaded.name)
    finished = poll(client, job.name, TERMINAL)
    listed = [listed.name for listed in client.batches.list(config=types.ListBatchJobsConfig(page_size=20))]
    client.files.delete(name=uploaded.name)
    client.batches.delete(name=job.name)

    assert uploaded.name.startswith("files/")
    assert uploaded.display_name == "batch_e2e_gemini"
    assert job.name.startswith("batches/")
    assert job.state == types.JobState.JOB_STATE_RUNNING
    assert finished.state == types.JobState.JOB_STATE_SUCCEEDED
    assert finished.dest.file_name.startswith("files/")
    assert job.name in listed
    with pytest.raises(errors.ClientError) as gone:
        client.batches.get(name=job.name)
    assert gone.value.code == 404


def test_the_openai_file_workflow(gateway: Client, tmp_path: Path) -> None:
    client = gateway("openai")
    line = {
        "custom_id": "request-1",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "Hello! Say hi back briefly."}],
            "max_tokens": 100,
        },
    }
    path = tmp_path / "batch.jsonl"
    path.write_text(json.dumps(line))

    # The documented call names no mime type, and Python's mimetypes knows no ".jsonl": the SDK would
    # refuse the file before sending anything, so this one setting is added.
    config = types.UploadFileConfig(display_name="batch_input_openai", mime_type="application/jsonl")
    uploaded = client.files.upload(file=str(path), config=config)
    job = client.batches.create(model=MODELS["openai"], src=uploaded.name)
    finished = poll(client, job.name, TERMINAL)

    assert uploaded.name.startswith("files/file-")
    assert uploaded.display_name == "batch_input_openai.jsonl"
    assert job.name.startswith("batches/batch_")
    assert finished.state == types.JobState.JOB_STATE_SUCCEEDED
    assert finished.dest.file_name.startswith("files/file-")
    assert finished.end_time is not None


# --- inline batches ----------------------------------------------------------------------------------------


def test_the_openai_inline_workflow(gateway: Client) -> None:
    client = gateway("openai")

    job = client.batches.create(model=MODELS["openai"], src=DOCUMENTED_INLINE)
    finished = poll(client, job.name, TERMINAL)

    assert job.name.startswith("batches/batch_")
    assert job.state == types.JobState.JOB_STATE_RUNNING
    assert finished.state == types.JobState.JOB_STATE_SUCCEEDED
    with pytest.raises(errors.ClientError, match="batch delete is not supported") as cleanup:
        client.batches.delete(name=job.name)
    assert cleanup.value.code == 400


def test_the_documented_anthropic_workflow_ends_but_every_row_lacks_max_tokens(
    gateway: Client, emulator: EmulatorServer
) -> None:
    client = gateway("anthropic")

    job = client.batches.create(model=MODELS["anthropic"], src=DOCUMENTED_INLINE)
    finished = poll(client, job.name, [*TERMINAL, "ended"])
    rows = native(emulator, f"/v1/batches/{job.name.removeprefix('batches/')}/results", "anthropic").json()

    assert job.name.startswith("batches/msgbatch_")
    assert finished.state == types.JobState.JOB_STATE_SUCCEEDED
    assert sorted((row["custom_id"], row["error"]["message"]) for row in rows["results"]) == [
        ("request-0", "max_tokens: Field required"),
        ("request-1", "max_tokens: Field required"),
    ]


def test_the_anthropic_workflow_with_max_output_tokens_succeeds(gateway: Client, emulator: EmulatorServer) -> None:
    client = gateway("anthropic")

    job = client.batches.create(model=MODELS["anthropic"], src=WITH_MAX_TOKENS)
    finished = poll(client, job.name, [*TERMINAL, "ended"])
    rows = native(emulator, f"/v1/batches/{job.name.removeprefix('batches/')}/results", "anthropic").json()

    assert finished.state == types.JobState.JOB_STATE_SUCCEEDED
    assert [row["result"]["type"] for row in rows["results"]] == ["succeeded", "succeeded"]


def test_the_anthropic_workflow_stops_on_a_raw_ended(gateway: Client, emulator: EmulatorServer) -> None:
    emulator.config(gateway_raw_states=True)
    client = gateway("anthropic")

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".* is not a valid JobState")
        job = client.batches.create(model=MODELS["anthropic"], src=WITH_MAX_TOKENS)
        finished = poll(client, job.name, [*TERMINAL, "ended"])

    assert job.state == "in_progress"
    assert finished.state == "ended"


# --- list, get, cancel, delete -----------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["gemini", "openai", "anthropic"])
def test_list_get_and_cancel_take_the_name_create_returned(gateway: Client, provider: str) -> None:
    client = gateway(provider)
    src = WITH_MAX_TOKENS if provider == "anthropic" else DOCUMENTED_INLINE
    job = client.batches.create(model=MODELS[provider], src=src)

    listed = [listed.name for listed in client.batches.list(config=types.ListBatchJobsConfig(page_size=10))]
    got = client.batches.get(name=job.name)
    client.batches.cancel(name=job.name)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="BATCH_STATE_CANCELLING is not a valid JobState")
        cancelled = client.batches.get(name=job.name)

    assert listed == [job.name]
    assert got.name == job.name
    assert cancelled.state.name in {"BATCH_STATE_CANCELLING", "JOB_STATE_CANCELLED"}


@pytest.mark.parametrize("provider", ["gemini", "anthropic"])
def test_a_batch_is_deleted_by_its_name(gateway: Client, provider: str) -> None:
    client = gateway(provider)
    src = WITH_MAX_TOKENS if provider == "anthropic" else DOCUMENTED_INLINE
    job = client.batches.create(model=MODELS[provider], src=src)
    poll(client, job.name, TERMINAL)

    client.batches.delete(name=job.name)

    assert list(client.batches.list()) == []


@pytest.mark.parametrize("provider", ["anthropic", "bedrock"])
def test_what_the_facade_cannot_do_is_a_client_error(gateway: Client, tmp_path: Path, provider: str) -> None:
    path = tmp_path / "batch.json"
    path.write_text("{}")
    with pytest.raises(errors.ClientError) as upload:
        gateway(provider).files.upload(file=str(path))
    with pytest.raises(errors.ClientError) as create:
        gateway(provider).batches.create(model="m", src="files/abc")

    assert upload.value.code == 400
    assert "not supported" in upload.value.message
    assert create.value.code == 400


# --- files list, get, delete ---------------------------------------------------------------------------------


FILE_LINES = {
    "gemini": {"key": "k", "request": {"contents": [{"parts": [{"text": "hi"}]}]}},
    "openai": {
        "custom_id": "k",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
    },
}


@pytest.mark.parametrize("provider", ["gemini", "openai"])
def test_files_are_listed_got_and_deleted_by_their_name(gateway: Client, tmp_path: Path, provider: str) -> None:
    client = gateway(provider)
    path = tmp_path / "batch.json"
    path.write_text(json.dumps(FILE_LINES[provider]))
    uploaded = client.files.upload(file=str(path), config=types.UploadFileConfig(display_name="input.jsonl"))

    listed = [file.name for file in client.files.list(config={"page_size": 50})]
    got = client.files.get(name=uploaded.name)
    client.files.delete(name=uploaded.name)

    assert listed == [uploaded.name]
    assert (got.name, got.display_name, got.size_bytes) == (uploaded.name, "input.jsonl", path.stat().st_size)
    assert list(client.files.list()) == []
