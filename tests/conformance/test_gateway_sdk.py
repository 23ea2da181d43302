"""google-genai 3.4 driven against the emulated GenAI gateway, as the gateway's docs tell users to use it.

``genai.Client(api_key=..., http_options=HttpOptions(base_url=<emulator>/genai, api_version="v1beta",
headers={"x-model-provider": p}))`` for p in gemini, openai, anthropic: upload, create from a file and
inline, get, list, cancel, delete; every assertion is on what the SDK parsed. The SDK gotchas of
shared/reference/bedrock_gateway.md §3.1 show up as they do against a real gateway: bare ids need a
``batches/`` prefix for get/cancel/delete, an OpenAI file id is no ``src`` string, and
``BATCH_STATE_CANCELLING`` is not a JobState the SDK knows.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterator

import pytest
from google import genai
from google.genai import errors, types

from airflow_provider_genai_batch.testing.emulator import EmulatorServer

OPENAI_LINE = {
    "custom_id": "sky",
    "method": "POST",
    "url": "/v1/chat/completions",
    "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Why is the sky blue?"}]},
}
GEMINI_LINE = {"key": "sky", "request": {"contents": [{"role": "user", "parts": [{"text": "Why is the sky blue?"}]}]}}
MODELS = {"gemini": "gemini-2.5-flash", "openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5"}
INLINE = [{"contents": "Why is the sky blue?", "metadata": {"key": "sky"}, "config": {"temperature": 0.2}}]
PROVIDERS = ["gemini", "openai", "anthropic"]


@pytest.fixture
def gateway(emulator: EmulatorServer) -> Iterator[Callable[[str], genai.Client]]:
    """``gateway(provider)`` -> a client on ``<emulator>/genai`` that routes to ``provider``."""
    clients: list[genai.Client] = []

    def make(provider: str) -> genai.Client:
        client = genai.Client(
            api_key=emulator.config_at_start.api_key,
            http_options=types.HttpOptions(
                base_url=f"{emulator.base_url}/genai",
                api_version="v1beta",
                headers={"x-model-provider": provider},
            ),
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def upload(client: genai.Client, line: dict) -> types.File:
    data = io.BytesIO((json.dumps(line) + "\n").encode())
    return client.files.upload(
        file=data, config=types.UploadFileConfig(mime_type="application/jsonl", display_name="in.jsonl")
    )


def sdk_name(name: str) -> str:
    """The name get/cancel/delete accept (``batches/[^/]+``): a bare provider id needs the prefix."""
    return name if name.startswith("batches/") else f"batches/{name}"


def wait_for(client: genai.Client, name: str, *states: str) -> types.BatchJob:
    deadline = time.monotonic() + 15
    while True:
        job = client.batches.get(name=sdk_name(name))
        if job.state in states or time.monotonic() > deadline:
            return job
        time.sleep(0.1)


# --- files --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "line", "prefix"), [("gemini", GEMINI_LINE, "files/"), ("openai", OPENAI_LINE, "file-")]
)
def test_an_upload_returns_the_providers_file(gateway, emulator, provider, line, prefix):
    client = gateway(provider)

    file = upload(client, line)

    assert file.name.startswith(prefix)
    assert file.display_name == "in.jsonl"
    assert file.size_bytes == len(json.dumps(line)) + 1
    assert file.mime_type == "application/octet-stream"
    assert client.files.get(name=file.name).name == file.name
    assert [f.name for f in client.files.list()] == [file.name]
    bytes_post = [r for r in emulator.requests() if "upload_id=genai_upload_session" in r["query"]]
    assert len(bytes_post) == 1
    assert "x-model-provider" not in bytes_post[0]["headers"]  # the SDK drops it; the session remembers


def test_an_anthropic_upload_fails_and_the_sdk_resends_to_a_spent_session(gateway, monkeypatch):
    monkeypatch.setattr("google.genai._api_client.time.sleep", lambda seconds: None)
    with pytest.raises(errors.ClientError) as raised:
        upload(gateway("anthropic"), GEMINI_LINE)
    assert raised.value.code == 400
    assert "upload session not found" in raised.value.message


# --- create ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_inline_batch_comes_back_running_under_its_bare_provider_id(gateway, provider):
    job = gateway(provider).batches.create(model=MODELS[provider], src=INLINE, config={"display_name": "nightly"})

    prefix = {"gemini": "batches/", "openai": "batch_", "anthropic": "msgbatch_"}[provider]
    assert job.name.startswith(prefix)
    assert job.state == types.JobState.JOB_STATE_RUNNING
    assert job.display_name is None
    assert job.create_time is not None


def test_a_gemini_file_batch_takes_the_file_name_as_src(gateway):
    client = gateway("gemini")
    job = client.batches.create(model=MODELS["gemini"], src=upload(client, GEMINI_LINE).name)
    assert job.state == types.JobState.JOB_STATE_RUNNING


def test_an_openai_file_id_is_no_src_string_and_is_forwarded_unchanged(gateway):
    client = gateway("openai")
    file = upload(client, OPENAI_LINE)

    with pytest.raises(ValueError, match="Unsupported source"):
        client.batches.create(model=MODELS["openai"], src=file.name)
    with pytest.raises(errors.ClientError, match=f"No such File object: files/{file.name}"):
        client.batches.create(model=MODELS["openai"], src=f"files/{file.name}")
    job = client.batches.create(model=MODELS["openai"], src=types.BatchJobSource(file_name=file.name))

    assert job.state == types.JobState.JOB_STATE_RUNNING
    finished = wait_for(client, job.name, types.JobState.JOB_STATE_SUCCEEDED)
    assert finished.state == types.JobState.JOB_STATE_SUCCEEDED
    assert finished.dest.file_name.startswith("file-")
    assert finished.end_time is not None


@pytest.mark.parametrize(
    ("provider", "src", "message"),
    [
        ("anthropic", types.BatchJobSource(file_name="file-abc"), "does not support input_file_id"),
        ("bedrock", INLINE, "role_arn and output_s3_uri are required"),
    ],
)
def test_what_the_facade_cannot_create_is_a_client_error(gateway, provider, src, message):
    with pytest.raises(errors.ClientError, match=message) as raised:
        gateway(provider).batches.create(model="m", src=src)
    assert raised.value.code == 400


# --- get, list, cancel, delete --------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_get_needs_the_batches_prefix_on_a_bare_id(gateway, provider):
    client = gateway(provider)
    job = client.batches.create(model=MODELS[provider], src=INLINE)

    with pytest.raises(ValueError, match="Invalid batch job name"):
        client.batches.get(name=job.name)
    assert client.batches.get(name=f"batches/{job.name}").name == job.name


@pytest.mark.parametrize("provider", PROVIDERS)
def test_list_shows_the_batches_of_the_routed_provider(gateway, provider):
    client = gateway(provider)
    names = {client.batches.create(model=MODELS[provider], src=INLINE).name for _ in range(2)}
    assert {job.name for job in client.batches.list()} == names


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_a_cancel_shows_the_unmapped_cancelling_state(gateway, provider):
    client = gateway(provider)
    job = client.batches.create(model=MODELS[provider], src=INLINE)

    client.batches.cancel(name=sdk_name(job.name))
    with pytest.warns(UserWarning, match="BATCH_STATE_CANCELLING"):
        cancelling = client.batches.get(name=sdk_name(job.name))

    assert cancelling.state.name == "BATCH_STATE_CANCELLING"
    assert not cancelling.done


def test_a_gemini_cancel_is_final_and_the_batch_can_be_deleted(gateway):
    client = gateway("gemini")
    job = client.batches.create(model=MODELS["gemini"], src=INLINE)

    client.batches.cancel(name=job.name)
    assert client.batches.get(name=job.name).state == types.JobState.JOB_STATE_CANCELLED
    client.batches.delete(name=job.name)

    with pytest.raises(errors.ClientError) as raised:
        client.batches.get(name=job.name)
    assert raised.value.code == 404


def test_an_ended_anthropic_batch_reads_succeeded_and_can_be_deleted(gateway):
    client = gateway("anthropic")
    job = client.batches.create(model=MODELS["anthropic"], src=INLINE)

    ended = wait_for(client, job.name, types.JobState.JOB_STATE_SUCCEEDED)
    client.batches.delete(name=sdk_name(job.name))

    assert ended.state == types.JobState.JOB_STATE_SUCCEEDED
    assert [b.name for b in client.batches.list()] == []


def test_openai_batches_cannot_be_deleted_through_the_gateway(gateway):
    client = gateway("openai")
    job = client.batches.create(model=MODELS["openai"], src=INLINE)
    with pytest.raises(errors.ClientError, match="not supported by the openai provider"):
        client.batches.delete(name=sdk_name(job.name))
