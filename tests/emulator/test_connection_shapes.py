"""Connections as users write them by hand (a pasted key, the API's version already in the host, ...): each
reaches the emulator at the path the provider serves, with the key as the provider issued it."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_genai_batch.errors import GenAIBatchError
from airflow_provider_genai_batch.hooks.registry import get_hook
from airflow_provider_genai_batch.testing.emulator import EmulatorServer

API_KEY = "sk-connection-shapes-key"
CONN_ID = "by_hand"

KEY_HEADER = {
    "genaigemini": ("x-goog-api-key", "{}"),
    "genaiopenai": ("authorization", "Bearer {}"),
    "genaianthropic": ("x-api-key", "{}"),
    "genaigateway": ("x-goog-api-key", "{}"),
}
"""Where each connection type sends its key."""

HOST = {"genaigemini": "", "genaiopenai": "/openai/v1", "genaianthropic": "/anthropic", "genaigateway": "/genai"}
"""Each connection type's base URL on the emulator, after its root."""

LISTING = {
    "genaigemini": "/v1beta/batches",
    "genaiopenai": "/openai/v1/batches",
    "genaianthropic": "/anthropic/v1/messages/batches",
    "genaigateway": "/genai/v1beta/batches",
}
"""The path each connection type's batch listing is served at."""

by_type = pytest.mark.parametrize("conn_type", list(KEY_HEADER))


def connect(monkeypatch: pytest.MonkeyPatch, conn: dict[str, Any]) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))


def received(emulator: EmulatorServer) -> list[dict[str, Any]]:
    """The requests the emulator received from the hook (not those its gateway forwarded to its providers)."""
    return [r for r in emulator.requests() if "x-emulator-forwarded-by" not in r["headers"]]


def listings(emulator: EmulatorServer, conn_type: str) -> list[dict[str, Any]]:
    """The batch listings the hook sent to the path the connection type's provider serves them at."""
    return [r for r in received(emulator) if r["method"] == "GET" and r["path"] == LISTING[conn_type]]


@by_type
@pytest.mark.parametrize("pasted", [f"{API_KEY}\n", f"  {API_KEY} ", f"\t{API_KEY}\r\n"])
def test_a_key_pasted_with_whitespace_around_it_is_sent_without_it(conn_type, pasted, emulator, monkeypatch):
    connect(monkeypatch, {"conn_type": conn_type, "host": emulator.base_url + HOST[conn_type], "password": pasted})

    list(get_hook(CONN_ID).list_batches())

    header, value = KEY_HEADER[conn_type]
    [request] = listings(emulator, conn_type)
    assert request["headers"][header] == value.format(API_KEY)


@pytest.mark.parametrize(
    ("conn_type", "host", "listed_at"),
    [
        ("genaigemini", "/v1beta", "/v1beta/batches"),
        ("genaigemini", "/v1/", "/v1/batches"),
        ("genaianthropic", "/anthropic/v1", "/anthropic/v1/messages/batches"),
        ("genaianthropic", "/anthropic/v1/", "/anthropic/v1/messages/batches"),
        ("genaigateway", "/genai/v1beta", "/genai/v1beta/batches"),
        ("genaigateway", "/genai/v1", "/genai/v1/batches"),
    ],
)
def test_a_host_that_ends_in_the_api_version_is_called_with_it_once(conn_type, host, listed_at, emulator, monkeypatch):
    connect(monkeypatch, {"conn_type": conn_type, "host": emulator.base_url + host, "password": API_KEY})

    list(get_hook(CONN_ID).list_batches())

    assert [r["path"] for r in received(emulator) if r["path"].endswith("/batches")] == [listed_at]


def test_a_host_with_a_query_is_refused_before_any_request_without_showing_it(emulator, monkeypatch):
    host = f"{emulator.base_url}/openai/v1?api-version=2024&key={API_KEY}"
    connect(monkeypatch, {"conn_type": "genaiopenai", "host": host, "password": API_KEY})

    with pytest.raises(GenAIBatchError) as raised:
        list(get_hook(CONN_ID).list_batches())

    assert str(raised.value) == (
        "connection 'by_hand': the host has a query (a '?' and what follows), which a base URL cannot carry (each "
        "call's path goes after it); give the host without it"
    )
    assert received(emulator) == []


def test_a_fragment_at_the_end_of_a_host_is_dropped(emulator, monkeypatch):
    connect(
        monkeypatch, {"conn_type": "genaiopenai", "host": f"{emulator.base_url}/openai/v1#top", "password": API_KEY}
    )

    list(get_hook(CONN_ID).list_batches())

    assert [r["path"] for r in received(emulator)] == ["/openai/v1/batches"]
