"""The emulated gateway refuses a request body over its size limit (``max_request_body_size_mb``) as its HTTP
server does: 413, ``Request Entity Too Large`` in plain text, before any handler reads it. The limit is
lowered here so that a small body crosses it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient

from airflow_provider_genai_batch.testing.emulator import create_app
from airflow_provider_genai_batch.testing.emulator.config import EmulatorConfig
from airflow_provider_genai_batch.testing.emulator.gateway import wire

API_KEY = "gateway-test-key"
HEADERS = {"x-goog-api-key": API_KEY, "x-model-provider": "openai", "content-type": "application/json"}
CREATE = "/genai/v1beta/models/gpt-4o-mini:batchGenerateContent"
QUESTION = {"contents": [{"role": "user", "parts": [{"text": "Why is the sky blue?"}]}]}
BODY = json.dumps(
    {"batch": {"displayName": "nightly", "inputConfig": {"requests": {"requests": [{"request": QUESTION}]}}}}
).encode()


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app(EmulatorConfig(api_key=API_KEY))) as client:
        yield client


def batches(client: TestClient) -> list[object]:
    listed: list[object] = client.get("/genai/v1beta/batches", headers=HEADERS).json().get("operations", [])
    return listed


def refused(response: httpx.Response) -> bool:
    return (response.status_code, response.text, response.headers["content-type"].split(";")[0]) == (
        413,
        "Request Entity Too Large",
        "text/plain",
    )


def test_a_create_body_at_the_limit_is_taken(client, monkeypatch):
    monkeypatch.setattr(wire, "MAX_BODY_BYTES", len(BODY))

    response = client.post(CREATE, content=BODY, headers=HEADERS)

    assert response.status_code == 200, response.text
    assert len(batches(client)) == 1


def test_a_create_body_one_byte_over_the_limit_is_refused_and_creates_nothing(client, monkeypatch):
    monkeypatch.setattr(wire, "MAX_BODY_BYTES", len(BODY) - 1)

    response = client.post(CREATE, content=BODY, headers=HEADERS)

    assert refused(response)
    assert batches(client) == []


def test_a_create_body_sent_without_a_length_is_refused_once_it_crosses_the_limit(client, monkeypatch):
    monkeypatch.setattr(wire, "MAX_BODY_BYTES", len(BODY) - 1)

    response = client.post(CREATE, content=iter([BODY[:10], BODY[10:]]), headers=HEADERS)

    assert refused(response)
    assert batches(client) == []


def test_uploaded_bytes_over_the_limit_are_refused(client, monkeypatch):
    line = json.dumps({"custom_id": "sky", "method": "POST", "url": "/v1/chat/completions", "body": {}}).encode()
    start = client.post("/genai/upload/v1beta/files", json={"file": {}}, headers=HEADERS)
    monkeypatch.setattr(wire, "MAX_BODY_BYTES", len(line))

    response = client.post(
        start.headers["x-goog-upload-url"],
        content=line + b"\n",
        headers={"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "0"},
    )

    assert refused(response)
    assert client.get("/genai/v1beta/files", headers=HEADERS).json().get("files", []) == []
