"""The emulated gateway's providers: each turns its provider's answers into the gateway's neutral view.

The view is Bifrost's batch and file responses, step one of its state mapping; the gateway's routes
render it in the Gemini wire format (see :mod:`.wire`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from airflow_provider_genai_batch.testing.emulator.common import parse_rfc3339
from airflow_provider_genai_batch.testing.emulator.gateway.forwarding import Target, file_chunks, jsonl_items
from airflow_provider_genai_batch.testing.emulator.gateway.wire import GatewayBatch, GatewayFile, Listing, gateway_error
from airflow_provider_genai_batch.testing.emulator.gemini.wire import GeminiError

ASSUMED_OPENAI_ENDPOINT = "/v1/chat/completions"
"""ASSUMPTION: the GenAI converter sets no endpoint and Bifrost's OpenAI create then fails ("endpoint is
required"); the gateway-side handling that makes OpenAI work is unknown, so this emulator assumes chat
completions (and fills each inline line's method and url with it)."""
ANTHROPIC_VERSION = "2023-06-01"


def epoch(value: str | None) -> float | None:
    """An RFC 3339 timestamp as epoch seconds (None when absent)."""
    if not value:
        return None
    return parse_rfc3339(value)


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

    async def list_batches(self, page_size: int, token: str | None) -> Listing:
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
        created=epoch(data.get("createTime")) or 0.0,
    )


def gemini_batch(operation: Mapping[str, Any]) -> GatewayBatch:
    """A Gemini Operation in the gateway's terms (``BATCH_STATE_PENDING`` becomes in_progress)."""
    meta = operation.get("metadata") or {}
    stats = meta.get("batchStats") or {}
    output = meta.get("output") or {}
    return GatewayBatch(
        id=operation["name"],
        status=GEMINI_STATUSES.get(meta.get("state", ""), meta.get("state", "")),
        created=epoch(meta.get("createTime")) or 0.0,
        ended=epoch(meta.get("endTime")),
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

    async def list_batches(self, page_size: int, token: str | None) -> Listing:
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

    async def list_batches(self, page_size: int, token: str | None) -> Listing:
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
        created=epoch(data.get("created_at")) or 0.0,
        ended=epoch(data.get("ended_at")),
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
