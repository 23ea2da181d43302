"""Raw-HTTP tests of the emulated GenAI gateway: the facade at /genai, x-model-provider routing to the
emulator's own providers, the upload session, the two-step state mapping, and the native results routes."""

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
SESSION_URL = re.compile(r"^http://127\.0\.0\.1:\d+/genai/upload/v1beta/files\?upload_id=genai_upload_session:\w+$")
GEMINI_LINE = {"key": "sky", "request": {"contents": [{"role": "user", "parts": [{"text": "Why is the sky blue?"}]}]}}
OPENAI_LINE = {
    "custom_id": "sky",
    "method": "POST",
    "url": "/v1/chat/completions",
    "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Why is the sky blue?"}]},
}
BODIES = {
    "gemini": GEMINI_LINE["request"],
    "openai": OPENAI_LINE["body"],
    "anthropic": {
        "model": "claude-haiku-4-5",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "Why is the sky blue?"}],
    },
}
MODELS = {"gemini": "gemini-2.5-flash", "openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5"}


@pytest.fixture
def genai(emulator: EmulatorServer) -> Iterator[Callable[[str], httpx.Client]]:
    """``genai(provider)`` -> an httpx client on ``<emulator>/genai`` sending that x-model-provider."""
    clients: list[httpx.Client] = []

    def make(provider: str) -> httpx.Client:
        client = httpx.Client(
            base_url=f"{emulator.base_url}/genai",
            headers={"x-goog-api-key": API_KEY, "x-model-provider": provider},
            timeout=30.0,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def upload(client: httpx.Client, data: bytes, display_name: str = "in.jsonl") -> httpx.Response:
    """The two-step session upload: start, then one POST of the raw bytes (with no key, as the SDK sends it)."""
    start = client.post(
        "upload/v1beta/files",
        json={"file": {"displayName": display_name}},
        headers={"x-goog-upload-header-content-type": "application/jsonl"},
    )
    assert start.status_code == 200, start.text
    return httpx.post(start.headers["x-goog-upload-url"], content=data, timeout=30.0)


def create(client: httpx.Client, provider: str, **input_config: Any) -> httpx.Response:
    return client.post(
        f"v1beta/models/{MODELS[provider]}:batchGenerateContent",
        json={"batch": {"displayName": "nightly [gbk-1]", "inputConfig": input_config}},
    )


def inline(provider: str, *extra: tuple[str, Any]) -> dict[str, Any]:
    request = {**BODIES[provider], **dict(extra)}
    return {"requests": {"requests": [{"request": request, "metadata": {"key": "sky"}}]}}


def bare(name: str) -> str:
    return name.removeprefix("batches/")


def wait_state(client: httpx.Client, name: str, *states: str) -> dict[str, Any]:
    deadline = time.monotonic() + 15
    while True:
        operation = client.get(f"v1beta/batches/{bare(name)}").json()
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


# --- the upload session --------------------------------------------------------------------------------


def test_an_upload_is_a_session_url_then_one_post_of_the_bytes(genai):
    client = genai("gemini")
    start = client.post(
        "upload/v1beta/files",
        json={"file": {"display_name": "in.jsonl"}},
        headers={"x-goog-upload-header-content-type": "application/jsonl"},
    )

    assert start.json() == {}
    assert start.headers["x-goog-upload-status"] == "active"
    assert SESSION_URL.match(start.headers["x-goog-upload-url"])

    data = (json.dumps(GEMINI_LINE) + "\n").encode()
    final = httpx.post(start.headers["x-goog-upload-url"], content=data)
    assert final.status_code == 200, final.text
    assert final.headers["x-goog-upload-status"] == "final"
    file = final.json()["file"]
    assert file["name"].startswith("files/")
    assert (file["displayName"], file["mimeType"], file["sizeBytes"]) == (
        "in.jsonl",
        "application/octet-stream",
        str(len(data)),
    )


def test_an_upload_lands_at_the_provider_the_header_names(genai):
    file = upload(genai("openai"), (json.dumps(OPENAI_LINE) + "\n").encode()).json()["file"]

    assert file["name"].startswith("file-")
    assert genai("openai").get(f"v1beta/files/{file['name']}").json()["name"] == file["name"]
    assert [f["name"] for f in genai("openai").get("v1beta/files").json()["files"]] == [file["name"]]
    assert genai("gemini").get("v1beta/files").json()["files"] == []


def test_a_session_takes_exactly_one_post(genai):
    client = genai("gemini")
    start = client.post("upload/v1beta/files", json={"file": {}})
    url = start.headers["x-goog-upload-url"]

    assert httpx.post(url, content=b"{}\n").status_code == 200
    again = httpx.post(url, content=b"{}\n")

    assert again.status_code == 400
    assert "upload session not found" in again.json()["error"]["message"]


def test_a_session_lasts_one_minute(monkeypatch):
    monkeypatch.setattr(gateway, "SESSION_TTL_SECONDS", 0.0)
    with TestClient(create_app(EmulatorConfig(api_key=API_KEY))) as client:
        start = client.post("/genai/upload/v1beta/files", json={"file": {}}, headers={"x-goog-api-key": API_KEY})
        late = client.post(start.headers["x-goog-upload-url"], content=b"{}\n")

    assert gateway.SESSION_TTL_SECONDS == 0.0
    assert late.status_code == 400
    assert "upload session not found" in late.json()["error"]["message"]


def test_anthropic_takes_no_uploads(genai):
    response = upload(genai("anthropic"), b"{}\n")
    assert response.status_code == 400
    assert "Anthropic batch operations use inline requests" in response.json()["error"]["message"]
    assert "x-goog-upload-status" not in response.headers


# --- create: the envelope is translated, the bodies are not ---------------------------------------------


@pytest.mark.parametrize("provider", ["gemini", "openai", "anthropic"])
def test_a_created_batch_is_a_v1beta_batch_prediction_job_with_a_bare_id(genai, emulator, provider):
    response = create(genai(provider), provider, **inline(provider))

    assert response.status_code == 200, response.text
    operation = response.json()
    metadata = operation["metadata"]
    assert metadata["@type"] == BATCH_TYPE
    assert metadata["name"] == operation["name"]
    assert metadata["state"] == "BATCH_STATE_RUNNING"
    assert all(isinstance(count, str) for count in metadata["batchStats"].values())
    assert "displayName" not in metadata
    assert operation["done"] is False
    prefix = {"gemini": "batches/", "openai": "batch_", "anthropic": "msgbatch_"}[provider]
    assert operation["name"].startswith(prefix)
    assert [job["provider"] for job in emulator.jobs()] == [provider]


def test_anthropic_params_arrive_as_sent_minus_the_dropped_fields(genai, emulator):
    response = create(
        genai("anthropic"),
        "anthropic",
        **inline("anthropic", ("tools", [{"name": "lookup", "input_schema": {"type": "object"}}]), ("temperature", 0)),
    )
    assert response.status_code == 200, response.text

    [call] = forwarded(emulator, "POST", "/anthropic/v1/messages/batches")
    assert call["json"] == {"requests": [{"custom_id": "sky", "params": {**BODIES["anthropic"], "temperature": 0}}]}
    assert call["headers"]["x-api-key"] == API_KEY


def test_gemini_requests_lose_tools_tool_config_and_cached_content(genai, emulator):
    extra = (("tools", [{"googleSearch": {}}]), ("toolConfig", {}), ("cachedContent", "cachedContents/x"))
    assert create(genai("gemini"), "gemini", **inline("gemini", *extra)).status_code == 200

    [call] = forwarded(emulator, "POST", "/v1beta/models/gemini-2.5-flash:batchGenerateContent")
    assert call["json"] == {
        "batch": {
            "inputConfig": {"requests": {"requests": [{"request": BODIES["gemini"], "metadata": {"key": "sky"}}]}}
        }
    }


def test_openai_inline_requests_become_an_uploaded_jsonl_file(genai, emulator):
    operation = create(genai("openai"), "openai", **inline("openai")).json()

    [batch_call] = forwarded(emulator, "POST", "/openai/v1/batches")
    assert batch_call["json"]["endpoint"] == "/v1/chat/completions"
    assert operation["metadata"]["inputConfig"] == {"fileName": batch_call["json"]["input_file_id"]}


def test_a_file_id_is_passed_on_unchanged(genai):
    client = genai("openai")
    file_id = upload(client, (json.dumps(OPENAI_LINE) + "\n").encode()).json()["file"]["name"]

    assert create(client, "openai", fileName=file_id).status_code == 200
    prefixed = create(client, "openai", fileName=f"files/{file_id}")

    assert prefixed.status_code == 400
    assert prefixed.json()["error"]["message"] == f"No such File object: files/{file_id}"


@pytest.mark.parametrize(
    ("provider", "input_config", "message"),
    [
        ("anthropic", {"fileName": "file-abc"}, "does not support input_file_id"),
        ("bedrock", inline("anthropic"), "role_arn and output_s3_uri are required"),
    ],
)
def test_what_the_facade_cannot_create_is_refused(genai, provider, input_config, message):
    response = genai(provider).post(
        "v1beta/models/m:batchGenerateContent", json={"batch": {"inputConfig": input_config}}
    )
    assert response.status_code == 400
    assert message in response.json()["error"]["message"]


def test_an_unknown_provider_and_a_missing_key_are_refused(genai, emulator):
    assert genai("vertex").get("v1beta/batches").status_code == 400
    anonymous = httpx.get(f"{emulator.base_url}/genai/v1beta/batches", headers={"x-model-provider": "gemini"})
    assert anonymous.status_code == 401


def test_no_embeddings_batches_and_no_download_route(genai):
    client = genai("gemini")
    assert client.post("v1beta/models/gemini-embedding-001:asyncBatchEmbedContent", json={}).status_code == 404
    assert client.get("v1beta/files/batch-abc:download", params={"alt": "media"}).status_code == 404


# --- states ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["gemini", "openai", "anthropic"])
def test_a_finished_batch_reads_succeeded_and_is_listed_under_its_provider_only(genai, provider):
    client = genai(provider)
    name = create(client, provider, **inline(provider)).json()["name"]

    operation = wait_state(client, name, "BATCH_STATE_SUCCEEDED")

    assert operation["done"] is True
    assert operation["metadata"]["batchStats"]["successfulRequestCount"] == "1"
    assert operation["metadata"]["endTime"].endswith("Z")
    assert [op["name"] for op in client.get("v1beta/batches").json()["operations"]] == [name]
    other = "openai" if provider != "openai" else "gemini"
    assert genai(other).get("v1beta/batches").json()["operations"] == []


def test_an_openai_cancel_reads_cancelling_then_cancelled(genai):
    client = genai("openai")
    name = create(client, "openai", **inline("openai")).json()["name"]

    assert client.post(f"v1beta/batches/{name}:cancel").json() == {}
    assert client.get(f"v1beta/batches/{name}").json()["metadata"]["state"] == "BATCH_STATE_CANCELLING"
    assert wait_state(client, name, "BATCH_STATE_CANCELLED")["done"] is True


def test_a_cancelled_anthropic_batch_ends_and_so_reads_succeeded(genai):
    client = genai("anthropic")
    name = create(client, "anthropic", **inline("anthropic")).json()["name"]

    client.post(f"v1beta/batches/{name}:cancel")

    assert client.get(f"v1beta/batches/{name}").json()["metadata"]["state"] == "BATCH_STATE_CANCELLING"
    assert wait_state(client, name, "BATCH_STATE_SUCCEEDED")["metadata"]["state"] == "BATCH_STATE_SUCCEEDED"
    assert client.delete(f"v1beta/batches/{name}").json() == {}
    assert client.get(f"v1beta/batches/{name}").status_code == 404


def test_a_gemini_cancel_is_final_at_once_and_deletes_work(genai):
    client = genai("gemini")
    name = create(client, "gemini", **inline("gemini")).json()["name"]

    client.post(f"v1beta/batches/{bare(name)}:cancel")

    assert client.get(f"v1beta/batches/{bare(name)}").json()["metadata"]["state"] == "BATCH_STATE_CANCELLED"
    assert client.delete(f"v1beta/batches/{bare(name)}").json() == {}


@pytest.mark.parametrize(("outcome", "state"), [("fail", "BATCH_STATE_FAILED"), ("expire", "BATCH_STATE_EXPIRED")])
def test_failed_and_expired_batches_keep_their_state(genai, emulator, outcome, state):
    emulator.config(job_outcome=outcome)
    client = genai("openai")
    name = create(client, "openai", **inline("openai")).json()["name"]
    assert wait_state(client, name, state)["metadata"]["state"] == state


def test_openai_batches_cannot_be_deleted(genai):
    client = genai("openai")
    name = create(client, "openai", **inline("openai")).json()["name"]
    response = client.delete(f"v1beta/batches/{name}")
    assert response.status_code == 400
    assert "not supported by the openai provider" in response.json()["error"]["message"]


# --- results through the native routes --------------------------------------------------------------------


def native(emulator: EmulatorServer, path: str, provider: str) -> httpx.Response:
    return httpx.get(
        f"{emulator.base_url}{path}", params={"provider": provider}, headers={"x-goog-api-key": API_KEY}, timeout=30
    )


def test_openai_results_are_bifrost_items_with_the_openai_response(genai, emulator):
    client = genai("openai")
    name = create(client, "openai", **inline("openai")).json()["name"]
    operation = wait_state(client, name, "BATCH_STATE_SUCCEEDED")

    body = native(emulator, f"/v1/batches/{name}/results", "openai").json()

    assert operation["dest"] == {"fileName": operation["metadata"]["output"]["responsesFile"]}
    [item] = body["results"]
    assert body["batch_id"] == name
    assert item["custom_id"] == "sky"
    assert item["response"]["status_code"] == 200
    assert item["response"]["body"]["choices"][0]["message"]["content"] == "Answer to: Why is the sky blue?"


def test_anthropic_results_keep_the_result_and_move_errors_out(genai, emulator):
    client = genai("anthropic")
    bad = {"requests": {"requests": [{"request": {"contents": []}, "metadata": {"key": "bad"}}]}}
    good_name = create(client, "anthropic", **inline("anthropic")).json()["name"]
    bad_name = create(client, "anthropic", **bad).json()["name"]
    wait_state(client, good_name, "BATCH_STATE_SUCCEEDED")
    wait_state(client, bad_name, "BATCH_STATE_SUCCEEDED")

    [good] = native(emulator, f"/v1/batches/{good_name}/results", "anthropic").json()["results"]
    [failed] = native(emulator, f"/v1/batches/{bad_name}/results", "anthropic").json()["results"]

    assert good["result"]["type"] == "succeeded"
    assert good["result"]["message"]["content"][0]["text"] == "Answer to: Why is the sky blue?"
    assert failed["result"] == {"type": "errored"}
    assert failed["error"]["code"] == "invalid_request_error"


def test_gemini_results_are_flattened_and_result_files_stream_from_the_files_route(genai, emulator):
    client = genai("gemini")
    file_name = upload(client, (json.dumps(GEMINI_LINE) + "\n").encode()).json()["file"]["name"]
    name = create(client, "gemini", fileName=file_name).json()["name"]
    operation = wait_state(client, name, "BATCH_STATE_SUCCEEDED")
    responses_file = operation["metadata"]["output"]["responsesFile"]

    [item] = native(emulator, f"/v1/batches/{name.replace('/', '%2F')}/results", "gemini").json()["results"]
    content = native(emulator, f"/v1/files/{responses_file.removeprefix('files/')}/content", "gemini")

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
    [line] = [json.loads(raw) for raw in content.content.splitlines()]
    assert line["key"] == "sky"
    assert line["response"]["candidates"][0]["content"]["parts"][0]["text"] == "Answer to: Why is the sky blue?"
