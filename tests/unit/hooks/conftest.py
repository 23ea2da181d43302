"""A Gemini hook wired to ``httpx.MockTransport``, its connection given as an ``AIRFLOW_CONN_*`` env var."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from airflow_provider_genai_batch.hooks.gemini import GeminiBatchHook

from ._wire import BASE_URL, Handler, Wire, set_connection


@pytest.fixture
def gemini(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., tuple[GeminiBatchHook, Wire]]]:
    """``gemini(handler, **extra)`` -> a hook whose sync and async clients both talk to ``handler``."""
    clients: list[httpx.Client] = []

    def make(handler: Handler, **extra: Any) -> tuple[GeminiBatchHook, Wire]:
        conn_id = set_connection(monkeypatch, extra={"upload_chunk_size": 262144, **extra})
        wire = Wire(handler)
        hook = GeminiBatchHook(conn_id=conn_id)
        client = httpx.Client(transport=httpx.MockTransport(wire), base_url=BASE_URL)
        clients.append(client)
        async_client = httpx.AsyncClient(transport=httpx.MockTransport(wire), base_url=BASE_URL)

        async def aget_conn() -> httpx.AsyncClient:
            return async_client

        monkeypatch.setattr(hook, "get_conn", lambda: client)
        monkeypatch.setattr(hook, "aget_conn", aget_conn)
        return hook, wire

    yield make
    for client in clients:
        client.close()


# --- OpenAI and Anthropic hooks on MockTransport (same pattern as ``gemini``) ----------------------------

OPENAI_BASE_URL = "http://openai.test/v1"
OPENAI_CONN_ID = "openai_unit"
ANTHROPIC_BASE_URL = "http://anthropic.test"
ANTHROPIC_CONN_ID = "anthropic_unit"


def _mock_hook_factory(
    monkeypatch: pytest.MonkeyPatch,
    clients: list[httpx.Client],
    hook_class: type,
    *,
    conn_id: str,
    conn_type: str,
    base_url: str,
) -> Callable[..., tuple[Any, Wire]]:
    def make(handler: Handler, **extra: Any) -> tuple[Any, Wire]:
        set_connection(monkeypatch, conn_id, conn_type=conn_type, host=base_url, extra=extra)
        wire = Wire(handler)
        hook = hook_class(conn_id=conn_id)
        # The connection's base URL, as the real get_conn() uses it (OpenAI's carries the /v1 prefix).
        client = httpx.Client(transport=httpx.MockTransport(wire), base_url=hook.settings.base_url)
        clients.append(client)
        async_client = httpx.AsyncClient(transport=httpx.MockTransport(wire), base_url=hook.settings.base_url)

        async def aget_conn() -> httpx.AsyncClient:
            return async_client

        monkeypatch.setattr(hook, "get_conn", lambda: client)
        monkeypatch.setattr(hook, "aget_conn", aget_conn)
        return hook, wire

    return make


@pytest.fixture
def openai(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., tuple[Any, Wire]]]:
    """``openai(handler, **extra)`` -> an OpenAI hook (base URL ``http://openai.test/v1``) talking to ``handler``."""
    from airflow_provider_genai_batch.hooks.openai import OpenAIBatchHook

    clients: list[httpx.Client] = []
    yield _mock_hook_factory(
        monkeypatch,
        clients,
        OpenAIBatchHook,
        conn_id=OPENAI_CONN_ID,
        conn_type="genai_openai",
        base_url=OPENAI_BASE_URL,
    )
    for client in clients:
        client.close()


@pytest.fixture
def anthropic(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., tuple[Any, Wire]]]:
    """``anthropic(handler, **extra)`` -> an Anthropic hook (``http://anthropic.test``) talking to ``handler``."""
    from airflow_provider_genai_batch.hooks.anthropic import AnthropicBatchHook

    clients: list[httpx.Client] = []
    yield _mock_hook_factory(
        monkeypatch,
        clients,
        AnthropicBatchHook,
        conn_id=ANTHROPIC_CONN_ID,
        conn_type="genai_anthropic",
        base_url=ANTHROPIC_BASE_URL,
    )
    for client in clients:
        client.close()
