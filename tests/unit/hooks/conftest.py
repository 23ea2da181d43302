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
