"""Raw-HTTP tests of the emulated GenAI gateway: the facade at /genai (v1beta and v1), x-model-provider
routing, the upload session, names, the field filter and the translation for OpenAI and Anthropic (as the
target received it), the two-step state mapping and the raw-states mode, and the native routes."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from airflow_provider_genai_batch.testing.emulator import EmulatorServer, create_app
from airflow_provider_genai_batch.testing.emulator.config import EmulatorConfig
from airflow_provider_genai_batch.testing.emulator.gateway import FORWARDED_HEADER
from airflow_provider_genai_batch.testing.emulator.gateway import routes as gateway

API_KEY = "gateway-test-key"
BATCH_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1beta.BatchPredictionJob"
VERSIONS = ["v1beta", "v1"]
GEMINI_LINE = {"key": "sky", "request": {"contents": [{"role": "user", "parts": [{"text": "Why is the sky blue?"}]}]}}
OPENAI_LINE = {
    "custom_id": "sky",
    "method": "POST",
    "url": "/v1/chat/completions",
    "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Why is the sky blue?"}]},
}
MODELS = {"gemini": "gemini-2.5-flash", "openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5"}
QUESTION = {"contents": [{"role": "user", "parts": [{"text": "Why is the sky blue?"}]}]}
WITH_MAX_TOKENS = {**QUESTION, "generationConfig": {"maxOutputTokens": 64}}
IMAGE = {"inlineData": {"mimeType": "image/png", "data": "iVBORw0KGgo="}}


@pytest.fixture
def genai(emulator: EmulatorServer) -> Iterator[Callable[..., httpx.Client]]:
    """``genai(provider, version)`` -> an httpx client on ``<emulator>/genai/<version>`` for that provider."""
    clients: list[httpx.Client] = []

    def make(provider: str, version: str = "v1beta") -> httpx.Client:
        client = httpx.Client(
            base_url=f"{emulator.base_url}/genai/{version}/",
            headers={"x-goog-api-key": API_KEY, "x-model-provider": provider},
            timeout=30.0,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def start_upload(emulator: EmulatorServer, provider: str, version: str = "v1beta") -> httpx.Response:
    return httpx.post(
        f"{emulator.base_url}/genai/upload/{version}/files",
        json={"file": {"displayName": "in.jsonl"}},
        headers={
            "x-goog-api-key": API_KEY,
            "x-model-provider": provider,
            "X-Goog-Upload-Protocol": "resumable",
            "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Type": "application/jsonl",
        },
    )


def send_bytes(url: str, data: bytes, command: str = "upload, finalize", offset: str = "0") -> httpx.Response:
    """The POST of the bytes, with no key (the session remembers it), as google-genai sends it."""
    return httpx.post(url, content=data, headers={"X-Goog-Upload-Command": command, "X-Goog-Upload-Offset": offset})


def upload(emulator: EmulatorServer, provider: str, line: dict[str, Any]) -> dict[str, Any]:
    start = start_upload(emulator, provider)
    final = send_bytes(start.headers["x-goog-upload-url"], (json.dumps(line) + "\n").encode())
    assert final.status_code == 200, final.text
    file: dict[str, Any] = final.json()["file"]
    return file


def create(client: httpx.Client, provider: str, input_config: dict[str, Any]) -> httpx.Response:
    return client.post(
        f"models/{MODELS[provider]}:batchGenerateContent",
        json={"batch": {"displayName": "nightly", "inputConfig": input_config}},
    )


def inline(*requests: dict[str, Any], keys: bool = True) -> dict[str, Any]:
    entries = [{"request": r, **({"metadata": {"key": f"k{i}"}} if keys else {})} for i, r in enumerate(requests)]
    return {"requests": {"requests": entries}}


def wait_state(client: httpx.Client, name: str, *states: str) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    while True:
        operation: dict[str, Any] = client.get(name).json()
        if operation["metadata"]["state"] in states or time.monotonic() > deadline:
            return operation
        time.sleep(0.1)


def forwarded(emulator: EmulatorServer, method: str, path: str) -> list[dict[str, Any]]:
    """The calls the gateway made to the emulator's own provider routes."""
    return [
        r
        for r in emulator.requests()
        if r["headers"].get(FORWARDED_HEADER) and r["method"] == method and r["path"] == path
    ]


def native(emulator: EmulatorServer, path: str, provider: str) -> httpx.Response:
    return httpx.get(
        f"{emulator.base_url}{path}", params={"provider": provider}, headers={"x-goog-api-key": API_KEY}, timeout=30
    )


def bare(name: str) -> str:
    return name.split("/", 1)[1]


def openai_input_lines(emulator: EmulatorServer, operation: dict[str, Any]) -> list[dict[str, Any]]:
    """The JSONL the gateway uploaded to OpenAI for an inline batch, read back through the content route."""
    input_file = bare(operation["metadata"]["inputConfig"]["fileName"])
    content = native(emulator, f"/v1/files/{input_file}/content", "openai")
    return [json.loads(line) for line in content.content.splitlines()]


def anthropic_requests(emulator: EmulatorServer) -> list[dict[str, Any]]:
    [call] = forwarded(emulator, "POST", "/anthropic/v1/messages/batches")
    requests: list[dict[str, Any]] = call["json"]["requests"]
    return requests


# --- the upload session --------------------------------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
def test_an_upload_is_a_session_url_for_its_version_then_one_post(emulator, version):
    start = start_upload(emulator, "gemini", version)

    url = start.headers["x-goog-upload-url"]
    data = (json.dumps(GEMINI_LINE) + "\n").encode()
    final = send_bytes(url, data)

    assert start.json() == {}
    assert start.headers["x-goog-upload-status"] == "active"
    pattern = rf"^http://127\.0\.0\.1:\d+/genai/upload/{version}/files\?upload_id=genai_upload_session:\w+$"
    assert re.match(pattern, url)
    assert final.headers["x-goog-upload-status"] == "final"
    file = final.json()["file"]
    assert re.fullmatch(r"files/\w+", file["name"])
    assert file["uri"] == file["name"]
    assert (file["displayName"], file["mimeType"], file["sizeBytes"], file["state"]) == (
        "in.jsonl",
        "application/octet-stream",
        str(len(data)),
        "ACTIVE",
    )


def test_the_bytes_reach_gemini_in_one_final_chunk(emulator):
    upload(emulator, "gemini", GEMINI_LINE)

    [chunk] = [r for r in forwarded(emulator, "POST", "/upload/v1beta/files") if "upload_id" in r["query"]]
    assert chunk["headers"]["x-goog-upload-command"] == "upload, finalize"
    assert chunk["headers"]["x-goog-upload-offset"] == "0"


@pytest.mark.parametrize(("command", "offset"), [("upload", "0"), ("upload, finalize", "8388608"), ("", "0")])
def test_the_bytes_must_come_in_one_final_post_at_offset_zero(emulator, command, offset):
    start = start_upload(emulator, "gemini")

    response = send_bytes(start.headers["x-goog-upload-url"], b"{}\n", command, offset)

    assert response.status_code == 400
    assert "send the whole file in one request" in response.json()["error"]["message"]


def test_an_openai_upload_is_a_jsonl_file_named_files_slash_its_id(emulator, genai):
    file = upload(emulator, "openai", OPENAI_LINE)

    assert re.fullmatch(r"files/file-\w+", file["name"])
    assert file["displayName"] == "in.jsonl"
    assert genai("openai").get(file["name"]).json()["name"] == file["name"]
    assert [f["name"] for f in genai("openai", "v1").get("files").json()["files"]] == [file["name"]]
    assert genai("gemini").get("files").json() == {"files": []}


def test_a_session_takes_exactly_one_post(emulator):
    url = start_upload(emulator, "gemini").headers["x-goog-upload-url"]

    assert send_bytes(url, b"{}\n").status_code == 200
    again = send_bytes(url, b"{}\n")

    assert again.status_code == 400
    assert "upload session not found" in again.json()["error"]["message"]


def test_a_session_lasts_one_minute(monkeypatch):
    monkeypatch.setattr(gateway, "SESSION_TTL_SECONDS", 0.0)
    with TestClient(create_app(EmulatorConfig(api_key=API_KEY))) as client:
        start = client.post("/genai/upload/v1beta/files", json={"file": {}}, headers={"x-goog-api-key": API_KEY})
        late = client.post(
            start.headers["x-goog-upload-url"],
            content=b"{}\n",
            headers={"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "0"},
        )

    assert late.status_code == 400
    assert "upload session not found" in late.json()["error"]["message"]


@pytest.mark.parametrize(("provider", "message"), [("anthropic", "inline requests only"), ("bedrock", "Bedrock SDK")])
def test_anthropic_and_bedrock_refuse_an_upload_at_its_start(emulator, provider, message):
    response = start_upload(emulator, provider)

    assert response.status_code == 400
    assert message in response.json()["error"]["message"]
    assert "x-goog-upload-url" not in response.headers


# --- create: names, the field filter, the translation ---------------------------------------------------------


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    ("provider", "name"),
    [("gemini", r"batches/\w+"), ("openai", r"batches/batch_\w+"), ("anthropic", r"batches/msgbatch_\w+")],
)
def test_a_created_batch_is_a_batch_prediction_job_named_batches_slash_its_id(genai, emulator, version, provider, name):
    response = create(genai(provider, version), provider, inline(WITH_MAX_TOKENS))

    assert response.status_code == 200, response.text
    operation = response.json()
    metadata = operation["metadata"]
    assert re.fullmatch(name, operation["name"])
    assert metadata["@type"] == BATCH_TYPE
    assert metadata["name"] == operation["name"]
    assert metadata["state"] == "BATCH_STATE_RUNNING"
    assert all(isinstance(count, str) for count in metadata["batchStats"].values())
    assert "displayName" not in metadata
    assert operation["done"] is False
    assert [job["provider"] for job in emulator.jobs()] == [provider]


def test_gemini_gets_the_four_kept_fields_and_assigned_keys(genai, emulator):
    dropped = {"tools": [{"googleSearch": {}}], "toolConfig": {}, "cachedContent": "cachedContents/x", "labels": {}}
    kept = {
        **QUESTION,
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {"topK": 3},
        "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
    }

    response = create(genai("gemini"), "gemini", inline({**kept, **dropped}, QUESTION, keys=False))

    assert response.status_code == 200, response.text
    [call] = forwarded(emulator, "POST", "/v1beta/models/gemini-2.5-flash:batchGenerateContent")
    assert call["json"] == {
        "batch": {
            "inputConfig": {
                "requests": {
                    "requests": [
                        {"request": kept, "metadata": {"key": "request-0"}},
                        {"request": QUESTION, "metadata": {"key": "request-1"}},
                    ]
                }
            }
        }
    }


def test_openai_inline_requests_are_translated_into_chat_completion_lines(genai, emulator):
    request = {
        "contents": [
            {"role": "user", "parts": [{"text": "What is on this picture?"}, IMAGE]},
            {"role": "model", "parts": [{"text": "A cat."}]},
            {"parts": [{"text": "And its colour?"}]},
        ],
        "systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "Be kind."}]},
        "generationConfig": {
            "temperature": 0.2,
            "topP": 0.9,
            "maxOutputTokens": 64,
            "stopSequences": ["END"],
            "candidateCount": 1,
            "presencePenalty": 0.1,
            "frequencyPenalty": 0.3,
            "seed": 7,
            "responseMimeType": "application/json",
            "responseJsonSchema": {"type": "object"},
            "responseModalities": ["TEXT"],
        },
        "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
        "tools": [{"functionDeclarations": []}],
    }

    operation = create(genai("openai"), "openai", inline(request, QUESTION, keys=False)).json()

    assert openai_input_lines(emulator, operation) == [
        {
            "custom_id": "request-0",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {
                "model": "gpt-4o-mini",
                "messages": [
                    {"role": "system", "content": "Be brief.\nBe kind."},
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "What is on this picture?"},
                            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                        ],
                    },
                    {"role": "assistant", "content": "A cat."},
                    {"role": "user", "content": "And its colour?"},
                ],
                "temperature": 0.2,
                "top_p": 0.9,
                "max_completion_tokens": 64,
                "stop": ["END"],
                "n": 1,
                "presence_penalty": 0.1,
                "frequency_penalty": 0.3,
                "seed": 7,
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "response", "schema": {"type": "object"}},
                },
            },
        },
        {
            "custom_id": "request-1",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Why is the sky blue?"}]},
        },
    ]


def test_json_output_without_a_schema_is_a_json_object_for_openai(genai, emulator):
    request = {**QUESTION, "generationConfig": {"responseMimeType": "application/json"}}

    operation = create(genai("openai"), "openai", inline(request)).json()

    [line] = openai_input_lines(emulator, operation)
    assert line["custom_id"] == "k0"
    assert line["body"]["response_format"] == {"type": "json_object"}


def test_anthropic_inline_requests_are_translated_into_message_params(genai, emulator):
    request = {
        "contents": [{"role": "user", "parts": [{"text": "Describe it."}, IMAGE]}],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {
            "maxOutputTokens": 64,
            "temperature": 0.2,
            "topP": 0.9,
            "topK": 5,
            "stopSequences": ["END"],
            "responseMimeType": "text/plain",
            "responseModalities": ["TEXT"],
        },
        "safetySettings": [{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"}],
    }

    assert create(genai("anthropic"), "anthropic", inline(request, keys=False)).status_code == 200

    assert anthropic_requests(emulator) == [
        {
            "custom_id": "request-0",
            "params": {
                "model": "claude-haiku-4-5",
                "system": "Be brief.",
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "Describe it."},
                            {
                                "type": "image",
                                "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
                            },
                        ],
                    }
                ],
                "max_tokens": 64,
                "temperature": 0.2,
                "top_p": 0.9,
                "top_k": 5,
                "stop_sequences": ["END"],
            },
        }
    ]


def test_an_anthropic_request_without_max_output_tokens_goes_without_max_tokens(genai, emulator):
    client = genai("anthropic")
    name = create(client, "anthropic", inline(QUESTION)).json()["name"]
    wait_state(client, name, "BATCH_STATE_SUCCEEDED")

    [row] = native(emulator, f"/v1/batches/{bare(name)}/results", "anthropic").json()["results"]

    assert "max_tokens" not in anthropic_requests(emulator)[0]["params"]
    assert row["error"] == {"code": "invalid_request_error", "message": "max_tokens: Field required"}


@pytest.mark.parametrize(
    ("provider", "request_", "where"),
    [
        ("openai", {"contents": [{"parts": [{"fileData": {"fileUri": "gs://b/x"}}]}]}, "contents[0].parts[0].fileData"),
        ("anthropic", {"contents": [{"parts": [{"text": "x", "thought": True}]}]}, "contents[0].parts[0].thought"),
        (
            "openai",
            {"contents": [{"parts": [{"inlineData": {"mimeType": "application/pdf", "data": "JVBE"}}]}]},
            "contents[0].parts[0].inlineData",
        ),
        ("openai", {**QUESTION, "generationConfig": {"topK": 3}}, "generationConfig.topK"),
        ("anthropic", {**QUESTION, "generationConfig": {"thinkingConfig": {}}}, "generationConfig.thinkingConfig"),
        ("openai", {**QUESTION, "generationConfig": {"responseSchema": {}}}, "generationConfig.responseSchema"),
        (
            "anthropic",
            {**QUESTION, "generationConfig": {"responseModalities": ["IMAGE"]}},
            "generationConfig.responseModalities",
        ),
        ("openai", {"contents": [{"role": "function", "parts": [{"text": "x"}]}]}, "contents[0].role"),
        ("anthropic", {**QUESTION, "systemInstruction": {"parts": [IMAGE]}}, "systemInstruction.parts[0].inlineData"),
    ],
)
def test_what_cannot_be_translated_is_refused_naming_request_and_field(genai, emulator, provider, request_, where):
    response = create(genai(provider), provider, inline(WITH_MAX_TOKENS, request_))

    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(f"request 1: {where}: ")
    assert emulator.jobs() == []


def test_a_file_name_is_files_slash_the_id_and_openai_gets_the_bare_id(genai, emulator):
    client = genai("openai")
    file = upload(emulator, "openai", OPENAI_LINE)

    response = create(client, "openai", {"fileName": file["name"]})
    bare_name = create(client, "openai", {"fileName": bare(file["name"])})

    assert response.status_code == 200, response.text
    assert response.json()["metadata"]["inputConfig"] == {"fileName": file["name"]}
    [call] = forwarded(emulator, "POST", "/openai/v1/batches")
    assert call["json"]["input_file_id"] == bare(file["name"])
    assert bare_name.status_code == 400
    assert "fileName must be files/<id>" in bare_name.json()["error"]["message"]


@pytest.mark.parametrize(
    ("provider", "input_config", "message"),
    [
        ("anthropic", {"fileName": "files/file-abc"}, "does not support input_file_id"),
        ("bedrock", inline(QUESTION), "role_arn and output_s3_uri are required"),
        ("openai", {"fileName": "files/a", "requests": {"requests": []}}, "exactly one of fileName and requests"),
        ("openai", {"requests": {"requests": []}}, "is empty"),
    ],
)
def test_what_the_facade_cannot_create_is_refused(genai, provider, input_config, message):
    response = genai(provider).post("models/m:batchGenerateContent", json={"batch": {"inputConfig": input_config}})

    assert response.status_code == 400
    assert message in response.json()["error"]["message"]


def test_the_bedrock_refusal_points_to_the_bedrock_sdk(genai):
    response = genai("bedrock").post("models/m:batchGenerateContent", json={"batch": {"inputConfig": inline(QUESTION)}})
    assert "use the Bedrock SDK" in response.json()["error"]["message"]


def test_an_unknown_provider_and_a_missing_key_are_refused(genai, emulator):
    assert genai("vertex").get("batches").status_code == 400
    anonymous = httpx.get(f"{emulator.base_url}/genai/v1/batches", headers={"x-model-provider": "gemini"})
    assert anonymous.status_code == 401


@pytest.mark.parametrize("provider", ["OpenAI", "GEMINI"])
def test_a_provider_name_is_taken_only_as_spelled_in_lowercase(genai, provider):
    response = genai(provider).get("batches")
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith(f"unsupported provider {provider!r}")


def test_a_native_route_takes_its_provider_query_only_as_spelled_in_lowercase(emulator):
    response = httpx.get(
        f"{emulator.base_url}/v1/batches/batch_abc", params={"provider": "OpenAI"}, headers={"x-goog-api-key": API_KEY}
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("unsupported provider 'OpenAI'")


def test_no_embeddings_batches_and_no_download_route(genai):
    client = genai("gemini")
    assert client.post("models/gemini-embedding-001:asyncBatchEmbedContent", json={}).status_code == 404
    assert client.get("files/abc:download", params={"alt": "media"}).status_code == 404


# --- states ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["gemini", "openai", "anthropic"])
def test_a_finished_batch_reads_succeeded_and_is_listed_under_its_provider_only(genai, provider):
    client = genai(provider, "v1")
    name = create(client, provider, inline(WITH_MAX_TOKENS)).json()["name"]

    operation = wait_state(client, name, "BATCH_STATE_SUCCEEDED")

    assert operation["done"] is True
    assert operation["metadata"]["batchStats"]["successfulRequestCount"] == "1"
    assert operation["metadata"]["endTime"].endswith("Z")
    assert [op["name"] for op in client.get("batches").json()["operations"]] == [name]
    other = "openai" if provider != "openai" else "gemini"
    assert genai(other).get("batches").json() == {"operations": []}


def test_an_openai_result_file_is_named_files_slash_its_id(genai):
    client = genai("openai")
    operation = wait_state(client, create(client, "openai", inline(QUESTION)).json()["name"], "BATCH_STATE_SUCCEEDED")

    assert re.fullmatch(r"files/file-\w+", operation["metadata"]["output"]["responsesFile"])
    assert operation["dest"] == {"fileName": operation["metadata"]["output"]["responsesFile"]}


def test_an_openai_cancel_reads_cancelling_then_cancelled(genai):
    client = genai("openai")
    name = create(client, "openai", inline(QUESTION)).json()["name"]

    assert client.post(f"{name}:cancel").json() == {}
    assert client.get(name).json()["metadata"]["state"] == "BATCH_STATE_CANCELLING"
    assert wait_state(client, name, "BATCH_STATE_CANCELLED")["done"] is True


def test_a_cancelled_anthropic_batch_ends_and_so_reads_succeeded(genai):
    client = genai("anthropic")
    name = create(client, "anthropic", inline(WITH_MAX_TOKENS)).json()["name"]

    client.post(f"{name}:cancel")

    assert client.get(name).json()["metadata"]["state"] == "BATCH_STATE_CANCELLING"
    assert wait_state(client, name, "BATCH_STATE_SUCCEEDED")["metadata"]["state"] == "BATCH_STATE_SUCCEEDED"
    assert client.delete(name).json() == {}
    assert client.get(name).status_code == 404


def test_a_gemini_cancel_is_final_at_once_and_deletes_work(genai):
    client = genai("gemini")
    name = create(client, "gemini", inline(QUESTION)).json()["name"]

    client.post(f"{name}:cancel")

    assert client.get(name).json()["metadata"]["state"] == "BATCH_STATE_CANCELLED"
    assert client.delete(name).json() == {}


@pytest.mark.parametrize(("outcome", "state"), [("fail", "BATCH_STATE_FAILED"), ("expire", "BATCH_STATE_EXPIRED")])
def test_failed_and_expired_batches_keep_their_state(genai, emulator, outcome, state):
    emulator.config(job_outcome=outcome)
    client = genai("openai")
    name = create(client, "openai", inline(QUESTION)).json()["name"]
    assert wait_state(client, name, state)["metadata"]["state"] == state


def test_openai_batches_cannot_be_deleted(genai):
    client = genai("openai")
    name = create(client, "openai", inline(QUESTION)).json()["name"]
    response = client.delete(name)
    assert response.status_code == 400
    assert "batch delete is not supported by the openai provider" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("provider", "first", "last"),
    [
        ("gemini", "BATCH_STATE_PENDING", "BATCH_STATE_SUCCEEDED"),
        ("openai", "validating", "completed"),
        ("anthropic", "in_progress", "ended"),
    ],
)
def test_in_raw_states_mode_the_providers_status_is_passed_through(genai, emulator, provider, first, last):
    emulator.config(gateway_raw_states=True)
    client = genai(provider)

    operation = create(client, provider, inline(WITH_MAX_TOKENS)).json()

    assert operation["metadata"]["state"] == first
    assert wait_state(client, operation["name"], last)["done"] is True


# --- the native routes at the root ---------------------------------------------------------------------------


def test_the_native_retrieve_is_bifrosts_batch_json(genai, emulator):
    client = genai("openai")
    name = create(client, "openai", inline(QUESTION)).json()["name"]
    wait_state(client, name, "BATCH_STATE_SUCCEEDED")

    body = native(emulator, f"/v1/batches/{bare(name)}", "openai").json()

    assert body["id"] == bare(name)
    assert (body["object"], body["status"], body["endpoint"]) == ("batch", "completed", "/v1/chat/completions")
    assert body["request_counts"] == {"total": 1, "completed": 1, "failed": 0}
    assert body["output_file_id"].startswith("file-")
    assert isinstance(body["created_at"], int)
    assert body["extra_fields"]["request_type"] == "batch_retrieve"
    assert body["extra_fields"]["provider"] == "openai"


def test_the_native_retrieve_of_an_anthropic_batch_keeps_its_processing_status(genai, emulator):
    client = genai("anthropic")
    name = create(client, "anthropic", inline(WITH_MAX_TOKENS)).json()["name"]
    wait_state(client, name, "BATCH_STATE_SUCCEEDED")

    body = native(emulator, f"/v1/batches/{bare(name)}", "anthropic").json()

    assert (body["status"], body["processing_status"]) == ("ended", "ended")
    assert body["request_counts"] == {"total": 1, "completed": 1, "failed": 0, "succeeded": 1}
    assert body["results_url"].endswith("/results")


def test_openai_results_are_the_output_files_lines_only(genai, emulator):
    client = genai("openai")
    name = create(client, "openai", inline(QUESTION)).json()["name"]
    wait_state(client, name, "BATCH_STATE_SUCCEEDED")

    body = native(emulator, f"/v1/batches/{bare(name)}/results", "openai").json()

    [item] = body["results"]
    assert (body["batch_id"], body["has_more"]) == (bare(name), False)
    assert item["custom_id"] == "k0"
    assert item["response"]["status_code"] == 200
    assert item["response"]["body"]["choices"][0]["message"]["content"] == "Answer to: Why is the sky blue?"


def test_openai_results_without_an_output_file_are_refused_and_the_error_file_streams(genai, emulator):
    emulator.config(job_outcome="fail_rows")
    client = genai("openai")
    name = create(client, "openai", inline(QUESTION)).json()["name"]
    wait_state(client, name, "BATCH_STATE_SUCCEEDED")
    retrieved = native(emulator, f"/v1/batches/{bare(name)}", "openai").json()

    results = native(emulator, f"/v1/batches/{bare(name)}/results", "openai")
    error_file = native(emulator, f"/v1/files/{retrieved['error_file_id']}/content", "openai")

    assert "output_file_id" not in retrieved
    assert results.status_code == 400
    assert results.json()["error"]["message"] == "batch results not available: output_file_id is empty"
    assert results.json()["is_bifrost_error"] is False
    assert error_file.headers["content-length"] == str(len(error_file.content))
    [line] = [json.loads(raw) for raw in error_file.content.splitlines()]
    assert line["custom_id"] == "k0"


def test_anthropic_results_keep_the_result_and_move_errors_out(genai, emulator):
    client = genai("anthropic")
    name = create(client, "anthropic", inline(WITH_MAX_TOKENS, QUESTION)).json()["name"]
    wait_state(client, name, "BATCH_STATE_SUCCEEDED")

    items = native(emulator, f"/v1/batches/{bare(name)}/results", "anthropic").json()["results"]

    good, failed = sorted(items, key=lambda item: item["custom_id"])
    assert good["result"]["type"] == "succeeded"
    assert good["result"]["message"]["content"][0]["text"] == "Answer to: Why is the sky blue?"
    assert failed["result"] == {"type": "errored"}
    assert failed["error"]["code"] == "invalid_request_error"


def test_gemini_results_are_flattened_and_its_files_are_not_downloaded(genai, emulator):
    client = genai("gemini")
    file_name = upload(emulator, "gemini", GEMINI_LINE)["name"]
    name = create(client, "gemini", {"fileName": file_name}).json()["name"]
    operation = wait_state(client, name, "BATCH_STATE_SUCCEEDED")
    responses_file = operation["metadata"]["output"]["responsesFile"]

    [item] = native(emulator, f"/v1/batches/{bare(name)}/results", "gemini").json()["results"]
    content = native(emulator, f"/v1/files/{bare(responses_file)}/content", "gemini")

    assert item == {
        "custom_id": "sky",
        "response": {
            "status_code": 200,
            "body": {
                "text": "Answer to: Why is the sky blue?",
                "finish_reason": "STOP",
                "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
            },
        },
    }
    assert content.status_code == 400
    assert "does not download Gemini files" in content.json()["error"]["message"]


def test_a_native_route_without_a_provider_is_not_the_gateways(emulator):
    response = httpx.get(f"{emulator.base_url}/v1/files/file-abc/content", headers={"x-goog-api-key": API_KEY})
    assert response.status_code == 404
