"""The emulated gateway's providers: each target calls the emulator's own provider routes, in process.

A real gateway holds provider keys and calls provider APIs over HTTP; here each target sends the same
calls to the emulator's Gemini, OpenAI and Anthropic routers through ``httpx.ASGITransport``, so the jobs
live in their stores and follow their rules, and every forwarded call shows in the request log (with
the ``x-emulator-forwarded-by`` header). A target turns what its provider answers into the gateway's
provider-neutral view (Bifrost's batch and file responses, step 1 of its state mapping); the router in
:mod:`.gateway` renders that view in the Gemini wire format.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import msgspec

from airflow_provider_genai_batch.testing.emulator.gemini import GeminiError

FORWARDED_HEADER = "x-emulator-forwarded-by"
INTERNAL_BASE_URL = "http://emulator.internal"
ASSUMED_OPENAI_ENDPOINT = "/v1/chat/completions"
"""ASSUMPTION: the GenAI converter sets no endpoint and Bifrost's OpenAI create then fails ("endpoint is
required"); the reference could not find the gateway-side handling that makes OpenAI work, so this
emulator assumes chat completions (and fills each inline line's method and url with it)."""
ANTHROPIC_VERSION = "2023-06-01"
READ_CHUNK = 1024 * 1024
HTTP_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
}


def gateway_error(code: int, message: str) -> GeminiError:
    """An error as the gateway renders one (``ToGeminiError``): Google's envelope, the provider's message."""
    return GeminiError(code, HTTP_STATUS_NAMES.get(code, "INTERNAL" if code >= 500 else "FAILED_PRECONDITION"), message)


@dataclass(frozen=True)
class GatewayFile:
    """A provider file as the gateway describes it."""

    name: str
    display_name: str | None
    size_bytes: int
    created: float


@dataclass(frozen=True)
class GatewayBatch:
    """A provider batch as the gateway describes it: Bifrost's status and counts, before rendering."""

    id: str
    status: str
    created: float
    ended: float | None = None
    total: int = 0
    succeeded: int = 0
    failed: int = 0
    pending: int = 0
    input_file: str | None = None
    output_file: str | None = None


@dataclass(frozen=True)
class Listing:
    """One page of a listing and the token of the next page, if any."""

    items: list[Any]
    next_token: str | None


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
        return (await self.call(method, url, **kwargs)).json()


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


def unix(value: str | None) -> float | None:
    """An RFC 3339 timestamp as epoch seconds."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def jsonl_items(content: bytes) -> list[dict[str, Any]]:
    """The JSON objects of a JSONL document."""
    return [msgspec.json.decode(line) for line in content.splitlines() if line.strip()]


class Target:
    """One provider behind the gateway; operations it cannot do answer as the gateway does."""

    name: str

    def __init__(self, forward: Forwarder) -> None:
        """Send this target's calls through ``forward``."""
        self.forward = forward

    def unsupported(self, what: str) -> GeminiError:
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

    async def file_content(self, file_id: str) -> bytes:
        """A file's bytes."""
        raise self.unsupported("file content")

    async def create(self, model: str, file_id: str | None, items: list[dict[str, Any]]) -> GatewayBatch:
        """Create a batch from a file id or from Bifrost items (``custom_id`` + ``body``)."""
        raise self.unsupported("batch create")

    async def get(self, batch_id: str) -> GatewayBatch:
        """One batch."""
        raise self.unsupported("batch retrieval")

    async def list(self, page_size: int, token: str | None) -> Listing:
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


# --- Gemini ------------------------------------------------------------------------------------------

GEMINI_STATUSES = {
    "BATCH_STATE_PENDING": "in_progress",
    "BATCH_STATE_RUNNING": "in_progress",
    "BATCH_STATE_SUCCEEDED": "completed",
    "BATCH_STATE_FAILED": "failed",
    "BATCH_STATE_CANCELLING": "cancelling",
    "BATCH_STATE_CANCELLED": "cancelled",
    "BATCH_STATE_EXPIRED": "expired",
}


class GeminiTarget(Target):
    """The emulator's Gemini API (root routes, ``x-goog-api-key``); batch ids are names (``batches/<id>``)."""

    name = "gemini"

    @property
    def headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self.forward.key}

    async def upload(self, path: Path, display_name: str | None, mime_type: str) -> GatewayFile:
        start = await self.forward.call(
            "POST",
            "/upload/v1beta/files",
            json={"file": {"displayName": display_name} if display_name else {}},
            headers={
                **self.headers,
                "X-Goog-Upload-Protocol": "resumable",
                "X-Goog-Upload-Command": "start",
                "X-Goog-Upload-Header-Content-Length": str(path.stat().st_size),
                "X-Goog-Upload-Header-Content-Type": mime_type,
            },
        )
        final = await self.forward.json(
            "POST",
            start.headers["x-goog-upload-url"],
            content=file_chunks(path),
            headers={"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "0"},
        )
        return gemini_file(final["file"])

    async def list_files(self, page_size: int, token: str | None) -> Listing:
        body = await self.forward.json(
            "GET", "/v1beta/files", params=gemini_page(page_size, token), headers=self.headers
        )
        return Listing([gemini_file(f) for f in body.get("files", [])], body.get("nextPageToken"))

    async def get_file(self, file_id: str) -> GatewayFile:
        return gemini_file(await self.forward.json("GET", f"/v1beta/files/{file_id}", headers=self.headers))

    async def delete_file(self, file_id: str) -> None:
        await self.forward.call("DELETE", f"/v1beta/files/{file_id}", headers=self.headers)

    async def file_content(self, file_id: str) -> bytes:
        url = f"/v1beta/files/{file_id.removeprefix('files/')}:download"
        return (await self.forward.call("GET", url, params={"alt": "media"}, headers=self.headers)).content

    async def create(self, model: str, file_id: str | None, items: list[dict[str, Any]]) -> GatewayBatch:
        if file_id is not None:
            input_config: dict[str, Any] = {"fileName": file_id if file_id.startswith("files/") else f"files/{file_id}"}
        else:
            requests = [{"request": item["body"], "metadata": {"key": item["custom_id"]}} for item in items]
            input_config = {"requests": {"requests": requests}}
        body = {"batch": {"inputConfig": input_config}}
        url = f"/v1beta/models/{model}:batchGenerateContent"
        return gemini_batch(await self.forward.json("POST", url, json=body, headers=self.headers))

    async def operation(self, batch_id: str) -> dict[str, Any]:
        return await self.forward.json("GET", f"/v1beta/{batch_id}", headers=self.headers)

    async def get(self, batch_id: str) -> GatewayBatch:
        return gemini_batch(await self.operation(batch_id))

    async def list(self, page_size: int, token: str | None) -> Listing:
        body = await self.forward.json(
            "GET", "/v1beta/batches", params=gemini_page(page_size, token), headers=self.headers
        )
        return Listing([gemini_batch(op) for op in body.get("operations", [])], body.get("nextPageToken"))

    async def cancel(self, batch_id: str) -> None:
        await self.forward.call("POST", f"/v1beta/{batch_id}:cancel", headers=self.headers)

    async def delete(self, batch_id: str) -> None:
        await self.forward.call("DELETE", f"/v1beta/{batch_id}", headers=self.headers)

    async def results(self, batch_id: str) -> list[dict[str, Any]]:
        """Lines of the responses file, or the inline responses, flattened as Bifrost flattens them."""
        operation = await self.operation(batch_id)
        output = (operation.get("metadata") or {}).get("output") or operation.get("response") or {}
        if output.get("responsesFile"):
            entries = jsonl_items(await self.file_content(output["responsesFile"]))
        else:
            entries = list((output.get("inlinedResponses") or {}).get("inlinedResponses") or [])
        return [gemini_result_item(entry, f"request-{index}") for index, entry in enumerate(entries)]


def gemini_page(page_size: int, token: str | None) -> dict[str, Any]:
    return {"pageSize": page_size, **({"pageToken": token} if token else {})}


def gemini_file(data: Mapping[str, Any]) -> GatewayFile:
    return GatewayFile(
        name=data["name"],
        display_name=data.get("displayName"),
        size_bytes=int(data.get("sizeBytes") or 0),
        created=unix(data.get("createTime")) or 0.0,
    )


def gemini_batch(operation: Mapping[str, Any]) -> GatewayBatch:
    """A Gemini Operation in the gateway's terms (``BATCH_STATE_PENDING`` becomes in_progress)."""
    meta = operation.get("metadata") or {}
    stats = meta.get("batchStats") or {}
    output = meta.get("output") or {}
    return GatewayBatch(
        id=operation["name"],
        status=GEMINI_STATUSES.get(meta.get("state", ""), meta.get("state", "")),
        created=unix(meta.get("createTime")) or 0.0,
        ended=unix(meta.get("endTime")),
        total=int(stats.get("requestCount", 0)),
        succeeded=int(stats.get("successfulRequestCount", 0)),
        failed=int(stats.get("failedRequestCount", 0)),
        pending=int(stats.get("pendingRequestCount", 0)),
        input_file=(meta.get("inputConfig") or {}).get("fileName"),
        output_file=output.get("responsesFile"),
    )


def gemini_result_item(entry: Mapping[str, Any], fallback_id: str) -> dict[str, Any]:
    """A Gemini result line or inline response as Bifrost's item: the response flattened to text and usage."""
    custom_id = entry.get("key") or (entry.get("metadata") or {}).get("key") or fallback_id
    error = entry.get("error")
    if error:
        return {"custom_id": custom_id, "error": {"code": str(error.get("code", "")), "message": error.get("message")}}
    response = entry.get("response") or {}
    body: dict[str, Any] = {}
    candidates = response.get("candidates") or []
    if candidates:
        parts = (candidates[0].get("content") or {}).get("parts") or []
        text = "".join(part["text"] for part in parts if part.get("text"))
        if text:
            body["text"] = text
        body["finish_reason"] = candidates[0].get("finishReason", "")
    usage = response.get("usageMetadata")
    if usage:
        body["usage"] = {
            "prompt_tokens": usage.get("promptTokenCount", 0),
            "completion_tokens": usage.get("candidatesTokenCount", 0),
            "total_tokens": usage.get("totalTokenCount", 0),
        }
    return {"custom_id": custom_id, "response": {"status_code": 200, "body": body}}


# --- OpenAI ------------------------------------------------------------------------------------------

OPENAI_END_TIMES = ("completed_at", "failed_at", "expired_at", "cancelled_at")


class OpenAITarget(Target):
    """The emulator's OpenAI API under ``/openai`` (Bearer auth); its statuses pass through unchanged."""

    name = "openai"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.forward.key}"}

    async def upload(self, path: Path, display_name: str | None, mime_type: str) -> GatewayFile:
        with path.open("rb") as handle:
            body = await self.forward.json(
                "POST",
                "/openai/v1/files",
                files={"file": (display_name or "upload", handle, mime_type or "application/octet-stream")},
                data={"purpose": "batch"},
                headers=self.headers,
            )
        return openai_file(body)

    async def list_files(self, page_size: int, token: str | None) -> Listing:
        body = await self.forward.json(
            "GET", "/openai/v1/files", params=openai_page(page_size, token), headers=self.headers
        )
        return Listing([openai_file(f) for f in body["data"]], body["last_id"] if body.get("has_more") else None)

    async def get_file(self, file_id: str) -> GatewayFile:
        return openai_file(await self.forward.json("GET", f"/openai/v1/files/{file_id}", headers=self.headers))

    async def delete_file(self, file_id: str) -> None:
        await self.forward.call("DELETE", f"/openai/v1/files/{file_id}", headers=self.headers)

    async def file_content(self, file_id: str) -> bytes:
        return (await self.forward.call("GET", f"/openai/v1/files/{file_id}/content", headers=self.headers)).content

    async def create(self, model: str, file_id: str | None, items: list[dict[str, Any]]) -> GatewayBatch:
        """Inline items are written as JSONL (as Bifrost does), uploaded with purpose batch, then batched."""
        if file_id is None:
            lines = [
                {"custom_id": item["custom_id"], "method": "POST", "url": ASSUMED_OPENAI_ENDPOINT, "body": item["body"]}
                for item in items
            ]
            content = b"".join(msgspec.json.encode(line) + b"\n" for line in lines)
            uploaded = await self.forward.json(
                "POST",
                "/openai/v1/files",
                files={"file": ("batch_requests.jsonl", content, "application/jsonl")},
                data={"purpose": "batch"},
                headers=self.headers,
            )
            file_id = uploaded["id"]
        body = {"input_file_id": file_id, "endpoint": ASSUMED_OPENAI_ENDPOINT, "completion_window": "24h"}
        return openai_batch(await self.forward.json("POST", "/openai/v1/batches", json=body, headers=self.headers))

    async def batch(self, batch_id: str) -> dict[str, Any]:
        return await self.forward.json("GET", f"/openai/v1/batches/{batch_id}", headers=self.headers)

    async def get(self, batch_id: str) -> GatewayBatch:
        return openai_batch(await self.batch(batch_id))

    async def list(self, page_size: int, token: str | None) -> Listing:
        body = await self.forward.json(
            "GET", "/openai/v1/batches", params=openai_page(page_size, token), headers=self.headers
        )
        return Listing([openai_batch(b) for b in body["data"]], body["last_id"] if body.get("has_more") else None)

    async def cancel(self, batch_id: str) -> None:
        await self.forward.call("POST", f"/openai/v1/batches/{batch_id}/cancel", headers=self.headers)

    async def results(self, batch_id: str) -> list[dict[str, Any]]:
        """The output file's lines, then the error file's, as Bifrost items."""
        batch = await self.batch(batch_id)
        items = []
        for file_id in (batch.get("output_file_id"), batch.get("error_file_id")):
            if file_id:
                for line in jsonl_items(await self.file_content(file_id)):
                    item = {"custom_id": line.get("custom_id")}
                    if line.get("response"):
                        item["response"] = line["response"]
                    if line.get("error"):
                        item["error"] = {"code": line["error"].get("code"), "message": line["error"].get("message")}
                    items.append(item)
        return items


def openai_page(page_size: int, token: str | None) -> dict[str, Any]:
    return {"limit": page_size, **({"after": token} if token else {})}


def openai_file(data: Mapping[str, Any]) -> GatewayFile:
    return GatewayFile(
        name=data["id"],
        display_name=data.get("filename"),
        size_bytes=data.get("bytes") or 0,
        created=data["created_at"],
    )


def openai_batch(data: Mapping[str, Any]) -> GatewayBatch:
    counts = data.get("request_counts") or {}
    return GatewayBatch(
        id=data["id"],
        status=data["status"],
        created=data["created_at"],
        ended=next((data[name] for name in OPENAI_END_TIMES if data.get(name)), None),
        total=counts.get("total", 0),
        succeeded=counts.get("completed", 0),
        failed=counts.get("failed", 0),
        input_file=data.get("input_file_id"),
        output_file=data.get("output_file_id"),
    )


# --- Anthropic ---------------------------------------------------------------------------------------

ANTHROPIC_STATUSES = {"in_progress": "in_progress", "canceling": "cancelling", "ended": "ended"}


class AnthropicTarget(Target):
    """The emulator's Message Batches API under ``/anthropic``: inline requests only, no files."""

    name = "anthropic"

    @property
    def headers(self) -> dict[str, str]:
        return {"x-api-key": self.forward.key, "anthropic-version": ANTHROPIC_VERSION}

    def unsupported(self, what: str) -> GeminiError:
        return gateway_error(
            400, f"{what} is not supported for anthropic: Anthropic batch operations use inline requests"
        )

    async def create(self, model: str, file_id: str | None, items: list[dict[str, Any]]) -> GatewayBatch:
        if file_id is not None:
            raise gateway_error(400, "Anthropic batch API does not support input_file_id, use inline requests instead")
        if not items:
            raise gateway_error(400, "requests array is required for Anthropic batch API")
        requests = [{"custom_id": item["custom_id"], "params": item["body"]} for item in items]
        body = await self.forward.json(
            "POST", "/anthropic/v1/messages/batches", json={"requests": requests}, headers=self.headers
        )
        return anthropic_batch(body)

    async def batch(self, batch_id: str) -> dict[str, Any]:
        return await self.forward.json("GET", f"/anthropic/v1/messages/batches/{batch_id}", headers=self.headers)

    async def get(self, batch_id: str) -> GatewayBatch:
        return anthropic_batch(await self.batch(batch_id))

    async def list(self, page_size: int, token: str | None) -> Listing:
        params = {"limit": page_size, **({"after_id": token} if token else {})}
        body = await self.forward.json("GET", "/anthropic/v1/messages/batches", params=params, headers=self.headers)
        return Listing([anthropic_batch(b) for b in body["data"]], body["last_id"] if body.get("has_more") else None)

    async def cancel(self, batch_id: str) -> None:
        await self.forward.call("POST", f"/anthropic/v1/messages/batches/{batch_id}/cancel", headers=self.headers)

    async def delete(self, batch_id: str) -> None:
        await self.forward.call("DELETE", f"/anthropic/v1/messages/batches/{batch_id}", headers=self.headers)

    async def results(self, batch_id: str) -> list[dict[str, Any]]:
        """The results stream as Bifrost items: ``result`` keeps type and message, errors move to ``error``."""
        results_url = (await self.batch(batch_id)).get("results_url")
        if not results_url:
            raise gateway_error(400, f"Message batch {batch_id} has not ended yet; its results are not available.")
        items = []
        for line in jsonl_items((await self.forward.call("GET", results_url, headers=self.headers)).content):
            result = line.get("result") or {}
            item: dict[str, Any] = {"custom_id": line.get("custom_id"), "result": {"type": result.get("type")}}
            if result.get("message"):
                item["result"]["message"] = result["message"]
            error = (result.get("error") or {}).get("error")
            if error:
                item["error"] = {"code": error.get("type"), "message": error.get("message")}
            items.append(item)
        return items


def anthropic_batch(data: Mapping[str, Any]) -> GatewayBatch:
    counts = data.get("request_counts") or {}
    status = data["processing_status"]
    return GatewayBatch(
        id=data["id"],
        status=ANTHROPIC_STATUSES.get(status, status),
        created=unix(data.get("created_at")) or 0.0,
        ended=unix(data.get("ended_at")),
        total=sum(int(counts.get(name) or 0) for name in ("processing", "succeeded", "errored", "canceled", "expired")),
        succeeded=int(counts.get("succeeded") or 0),
        failed=int(counts.get("errored") or 0),
        pending=int(counts.get("processing") or 0),
    )


# --- Bedrock -----------------------------------------------------------------------------------------


class BedrockTarget(Target):
    """Bedrock through the GenAI facade: a batch needs role_arn and output_s3_uri, which it cannot pass."""

    name = "bedrock"

    async def create(self, model: str, file_id: str | None, items: list[dict[str, Any]]) -> GatewayBatch:
        raise gateway_error(
            400,
            "role_arn and output_s3_uri are required for Bedrock batch API; the GenAI integration cannot set "
            "them: use the Bedrock SDK against the gateway's /bedrock route",
        )


TARGETS: dict[str, type[Target]] = {
    "gemini": GeminiTarget,
    "openai": OpenAITarget,
    "anthropic": AnthropicTarget,
    "bedrock": BedrockTarget,
}
