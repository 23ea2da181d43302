"""How the emulated gateway reaches its providers: the emulator's own routes, called in process.

A real gateway holds provider keys and calls provider APIs over HTTP; here each call goes to the
emulator's Gemini, OpenAI and Anthropic routers through ``httpx.ASGITransport``, so the jobs live in
their stores and follow their rules, and every forwarded call shows in the request log (with the
``x-emulator-forwarded-by`` header, which also keeps faults off these internal hops).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import msgspec

from airflow_provider_genai_batch.testing.emulator.common import FORWARDED_HEADER
from airflow_provider_genai_batch.testing.emulator.gateway.validation import InlineItem
from airflow_provider_genai_batch.testing.emulator.gateway.wire import (
    GatewayBatch,
    GatewayError,
    GatewayFile,
    Listing,
    gateway_error,
)

INTERNAL_BASE_URL = "http://emulator.internal"
READ_CHUNK = 1024 * 1024

__all__ = ["FORWARDED_HEADER", "Forwarder", "Target", "file_chunks", "jsonl_items", "provider_message"]


class Forwarder:
    """Sends the gateway's calls to the emulator's provider routes, in process, with the caller's key."""

    def __init__(self, app: Any, key: str) -> None:
        """Talk to ``app`` (the emulator itself); ``key`` is the key each provider call carries."""
        self.key = key
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url=INTERNAL_BASE_URL,
            headers={FORWARDED_HEADER: "genai-gateway"},
            timeout=60.0,
        )

    async def close(self) -> None:
        """Release the in-process client."""
        await self.client.aclose()

    async def call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """One provider call; a provider error becomes the gateway's error, with the provider's message."""
        response = await self.client.request(method, url, **kwargs)
        if response.is_error:
            raise gateway_error(response.status_code, provider_message(response))
        return response

    async def json(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        """One provider call answered with a JSON object."""
        body: dict[str, Any] = (await self.call(method, url, **kwargs)).json()
        return body

    async def stream(self, url: str, **kwargs: Any) -> Relayed:
        """A provider GET whose body is passed on in chunks; its status is checked before the first one."""
        response = await self.client.send(self.client.build_request("GET", url, **kwargs), stream=True)
        if response.is_error:
            await response.aread()
            await response.aclose()
            raise gateway_error(response.status_code, provider_message(response))
        return Relayed(relay(response), response.headers.get("content-length"))


@dataclass(frozen=True)
class Relayed:
    """A provider's body on its way through the gateway, and its length when the provider gave one."""

    chunks: AsyncIterator[bytes]
    content_length: str | None


async def relay(response: httpx.Response) -> AsyncIterator[bytes]:
    """A streamed response's bytes, closing it at the end."""
    try:
        async for chunk in response.aiter_bytes(READ_CHUNK):
            yield chunk
    finally:
        await response.aclose()


def provider_message(response: httpx.Response) -> str:
    """The message of a provider's error body (every emulated provider puts it at ``error.message``)."""
    try:
        error = response.json().get("error")
    except ValueError:
        return response.text or response.reason_phrase
    if isinstance(error, dict) and error.get("message"):
        return str(error["message"])
    return response.reason_phrase


async def file_chunks(path: Path) -> AsyncIterator[bytes]:
    """A file's bytes, read in chunks, as the async body of a forwarded upload."""
    with path.open("rb") as handle:
        while chunk := handle.read(READ_CHUNK):
            yield chunk


def jsonl_items(content: bytes) -> list[dict[str, Any]]:
    """The JSON objects of a JSONL document."""
    return [msgspec.json.decode(line) for line in content.splitlines() if line.strip()]


class Target:
    """One provider behind the gateway; operations it cannot do answer as the gateway does."""

    name: str

    def __init__(self, forward: Forwarder) -> None:
        """Send this target's calls through ``forward``."""
        self.forward = forward

    def unsupported(self, what: str) -> GatewayError:
        """The gateway's answer to an operation this provider does not offer."""
        return gateway_error(400, f"{what} is not supported by the {self.name} provider")

    async def upload(self, path: Path, display_name: str | None, mime_type: str) -> GatewayFile:
        """Store a file at the provider (always for batch use)."""
        raise self.unsupported("file upload")

    async def list_files(self, page_size: int, token: str | None) -> Listing:
        """One page of the provider's files."""
        raise self.unsupported("file listing")

    async def get_file(self, file_id: str) -> GatewayFile:
        """One file."""
        raise self.unsupported("file retrieval")

    async def delete_file(self, file_id: str) -> None:
        """Delete one file."""
        raise self.unsupported("file deletion")

    async def file_content(self, file_id: str) -> Relayed:
        """A file's bytes, streamed (the native content route)."""
        raise self.unsupported("file content")

    async def create(self, model: str, file_id: str | None, items: list[InlineItem]) -> GatewayBatch:
        """Create a batch from a bare file id or from the converter's inline items."""
        raise self.unsupported("batch create")

    async def get(self, batch_id: str) -> GatewayBatch:
        """One batch."""
        raise self.unsupported("batch retrieval")

    async def list_batches(self, page_size: int, token: str | None) -> Listing:
        """One page of the provider's batches."""
        raise self.unsupported("batch listing")

    async def cancel(self, batch_id: str) -> None:
        """Ask the provider to cancel a batch."""
        raise self.unsupported("batch cancel")

    async def delete(self, batch_id: str) -> None:
        """Delete a batch."""
        raise self.unsupported("batch delete")

    async def results(self, batch_id: str) -> list[dict[str, Any]]:
        """A finished batch's results as Bifrost result items."""
        raise self.unsupported("batch results")
