"""The fake Gemini server side of hook tests: a recording MockTransport handler and wire payloads."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest

API_KEY = "sk-secret-123"
BASE_URL = "http://gemini.test"
CONN_ID = "gemini_unit"

Handler = Callable[[httpx.Request], httpx.Response]


class Wire:
    """The fake server side: answers with ``handler`` and keeps every request it saw, in order."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)

    @property
    def last(self) -> httpx.Request:
        return self.requests[-1]

    def paths(self) -> list[tuple[str, str]]:
        return [(r.method, r.url.path) for r in self.requests]

    def calls(self) -> list[tuple[str, str, str]]:
        """Every request as (method, host, path): for hooks that reach several hosts."""
        return [(r.method, r.url.host, r.url.path) for r in self.requests]


def serve_hook(monkeypatch: pytest.MonkeyPatch, hook: Any, wire: Wire) -> httpx.Client:
    """Point a hook's sync and async clients, with the hook's own auth, at ``wire``; returns the sync client
    (the caller closes it)."""
    auth = hook.http_auth(hook.settings)
    client = httpx.Client(transport=httpx.MockTransport(wire), base_url=hook.settings.base_url, auth=auth)
    async_client = httpx.AsyncClient(transport=httpx.MockTransport(wire), base_url=hook.settings.base_url, auth=auth)

    async def aget_conn() -> httpx.AsyncClient:
        return async_client

    monkeypatch.setattr(hook, "get_conn", lambda: client)
    monkeypatch.setattr(hook, "aget_conn", aget_conn)
    return client


def set_connection(monkeypatch: pytest.MonkeyPatch, conn_id: str = CONN_ID, **fields: Any) -> str:
    conn = {
        "conn_type": "genaigemini",
        "password": API_KEY,
        "host": BASE_URL,
        "extra": {"upload_chunk_size": 262144},
        **fields,
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return conn_id


def body(request: httpx.Request) -> Any:
    return json.loads(request.content)


def operation(name: str, state: str = "BATCH_STATE_PENDING", **metadata: Any) -> dict[str, Any]:
    """A batch Operation as the Gemini API returns it."""
    return {
        "name": name,
        "metadata": {
            "@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch",
            "name": name,
            "state": state,
            **metadata,
        },
    }


def file_resource(name: str = "files/abc-123", size: int = 20) -> dict[str, Any]:
    return {
        "name": name,
        "displayName": "in.jsonl",
        "mimeType": "application/jsonl",
        "sizeBytes": str(size),
        "createTime": "2026-08-20T20:08:31.015405Z",
        "expirationTime": "2026-08-22T20:08:31.015405Z",
        "state": "ACTIVE",
        "uri": f"https://generativelanguage.googleapis.com/v1beta/{name}",
    }


@contextmanager
def mock_hooks(
    monkeypatch: pytest.MonkeyPatch,
    hook_class: type,
    *,
    conn_id: str,
    conn_type: str,
    base_url: str,
    default_extra: dict[str, Any] | None = None,
) -> Iterator[Callable[..., tuple[Any, Wire]]]:
    """``make(handler, **extra)`` -> a hook whose sync and async clients both talk to ``handler``.

    The connection is an ``AIRFLOW_CONN_*`` env var; the clients use the connection's base URL, as the real
    ``get_conn()`` does. Sync clients are closed on exit.
    """
    clients: list[httpx.Client] = []

    def make(handler: Handler, **extra: Any) -> tuple[Any, Wire]:
        set_connection(
            monkeypatch, conn_id, conn_type=conn_type, host=base_url, extra={**(default_extra or {}), **extra}
        )
        wire = Wire(handler)
        hook = hook_class(conn_id=conn_id)
        client = httpx.Client(transport=httpx.MockTransport(wire), base_url=hook.settings.base_url)
        clients.append(client)
        async_client = httpx.AsyncClient(transport=httpx.MockTransport(wire), base_url=hook.settings.base_url)

        async def aget_conn() -> httpx.AsyncClient:
            return async_client

        monkeypatch.setattr(hook, "get_conn", lambda: client)
        monkeypatch.setattr(hook, "aget_conn", aget_conn)
        return hook, wire

    yield make
    for client in clients:
        client.close()
