"""The emulated gateway's providers: each turns its provider's answers into the gateway's neutral view.

The view is Bifrost's batch and file responses, step one of its state mapping, with bare provider ids;
the gateway's routes render it (see :mod:`.wire`). Inline requests reach OpenAI and Anthropic translated
(see :mod:`.translation`), Gemini as kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import msgspec

from airflow_provider_genai_batch.testing.emulator.common import parse_rfc3339
from airflow_provider_genai_batch.testing.emulator.gateway.forwarding import Relayed, Target, file_chunks, jsonl_items
from airflow_provider_genai_batch.testing.emulator.gateway.translation import anthropic_params, openai_body
from airflow_provider_genai_batch.testing.emulator.gateway.validation import InlineItem
from airflow_provider_genai_batch.testing.emulator.gateway.wire import (
    BATCHES,
    FILES,
    GatewayBatch,
    GatewayError,
    GatewayFile,
    Listing,
    gateway_error,
)

ASSUMED_OPENAI_ENDPOINT = "/v1/chat/completions"
"""ASSUMPTION: Bifrost's GenAI converter sets no endpoint (and its OpenAI create then fails); the
documented OpenAI workflows are chat completions, so this gateway creates every OpenAI batch for that
endpoint and gives each inline line that method and url."""
ANTHROPIC_VERSION = "2023-06-01"
GEMINI_API = "/v1beta"
"""The Gemini API version the gateway calls, whatever version the facade was called with."""


def epoch(value: str | None) -> float | None:
    """An RFC 3339 timestamp as epoch seconds (None when absent)."""
    if not value:
        return None
    return parse_rfc3339(value)


def unix(value: str | None) -> int | None:
    """An RFC 3339 timestamp as unix seconds (None when absent)."""
    moment = epoch(value)
    return int(moment) if moment else None


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
    """The emulator's Gemini API (root routes, ``x-goog-api-key``); its names lose their collection."""

    name = "gemini"

    @property
    def headers(self) -> dict[str, str]:
        return {"x-goog-api-key": self.forward.key}

    async def upload(self, path: Path, display_name: str | None, mime_type: str) -> GatewayFile:
        """A resumable upload whose bytes go in one final chunk (valid whatever the chunk granularity)."""
        size = path.stat().st_size
        start = await self.forward.call(
            "POST",
            f"/upload{GEMINI_API}/files",
            json={"file": {"displayName": display_name} if display_name else {}},
            headers={
                **self.headers,
                "X-Goog-Upload-Protocol": "resumable",
                "X-Goog-Upload-Command": "start",
                "X-Goog-Upload-Header-Content-Length": str(size),
                "X-Goog-Upload-Header-Content-Type": mime_type or "application/octet-stream",
            },
        )
        final = await self.forward.json(
            "POST",
            start.headers["x-goog-upload-url"],
            content=file_chunks(path),
            headers={
                "X-Goog-Upload-Command": "upload, finalize",
                "X-Goog-Upload-Offset": "0",
                "Content-Length": str(size),
            },
        )
        return gemini_file(final["file"])

    async def list_files(self, page_size: int, token: str | None) -> Listing:
        params = gemini_page(page_size, token)
        body = await self.forward.json("GET", f"{GEMINI_API}/files", params=params, headers=self.headers)
        return Listing([gemini_file(f) for f in body.get("files", [])], body.get("nextPageToken"))

    async def get_file(self, file_id: str) -> GatewayFile:
        return gemini_file(await self.forward.json("GET", f"{GEMINI_API}/files/{file_id}", headers=self.headers))

    async def delete_file(self, file_id: str) -> None:
        await self.forward.call("DELETE", f"{GEMINI_API}/files/{file_id}", headers=self.headers)

    async def file_content(self, file_id: str) -> Relayed:
        raise gateway_error(
            400,
            "file content download is not supported for gemini: the gateway does not download Gemini files; "
            "read the batch's results through /v1/batches/{id}/results",
        )

    async def create(self, model: str, file_id: str | None, items: list[InlineItem]) -> GatewayBatch:
        if file_id is not None:
            input_config: dict[str, Any] = {"fileName": FILES + file_id}
        else:
            requests = [{"request": item.request, "metadata": {"key": item.custom_id}} for item in items]
            input_config = {"requests": {"requests": requests}}
        url = f"{GEMINI_API}/models/{model}:batchGenerateContent"
        body = {"batch": {"inputConfig": input_config}}
        return gemini_batch(await self.forward.json("POST", url, json=body, headers=self.headers))

    async def operation(self, batch_id: str) -> dict[str, Any]:
        return await self.forward.json("GET", f"{GEMINI_API}/batches/{batch_id}", headers=self.headers)

    async def get(self, batch_id: str) -> GatewayBatch:
        return gemini_batch(await self.operation(batch_id))

    async def list_batches(self, page_size: int, token: str | None) -> Listing:
        params = gemini_page(page_size, token)
        body = await self.forward.json("GET", f"{GEMINI_API}/batches", params=params, headers=self.headers)
        return Listing([gemini_batch(op) for op in body.get("operations", [])], body.get("nextPageToken"))

    async def cancel(self, batch_id: str) -> None:
        await self.forward.call("POST", f"{GEMINI_API}/batches/{batch_id}:cancel", headers=self.headers)

    async def delete(self, batch_id: str) -> None:
        await self.forward.call("DELETE", f"{GEMINI_API}/batches/{batch_id}", headers=self.headers)

    async def results(self, batch_id: str) -> list[dict[str, Any]]:
        """Lines of the responses file, or the inline responses, flattened as Bifrost flattens them."""
        operation = await self.operation(batch_id)
        output = (operation.get("metadata") or {}).get("output") or operation.get("response") or {}
        if output.get("responsesFile"):
            file_id = str(output["responsesFile"]).removeprefix(FILES)
            url = f"/download{GEMINI_API}/files/{file_id}:download"
            download = await self.forward.call("GET", url, params={"alt": "media"}, headers=self.headers)
            entries = jsonl_items(download.content)
        else:
            entries = list((output.get("inlinedResponses") or {}).get("inlinedResponses") or [])
        return [gemini_result_item(entry, f"request-{index}") for index, entry in enumerate(entries)]


def gemini_page(page_size: int, token: str | None) -> dict[str, Any]:
    return {"pageSize": page_size, **({"pageToken": token} if token else {})}


def gemini_file(data: Mapping[str, Any]) -> GatewayFile:
    return GatewayFile(
        id=str(data["name"]).removeprefix(FILES),
        display_name=data.get("displayName"),
        size_bytes=int(data.get("sizeBytes") or 0),
        created=epoch(data.get("createTime")) or 0.0,
    )


def gemini_batch(operation: Mapping[str, Any]) -> GatewayBatch:
    """A Gemini Operation in the gateway's terms (``BATCH_STATE_PENDING`` becomes in_progress)."""
    meta = operation.get("metadata") or {}
    stats = meta.get("batchStats") or {}
    output = meta.get("output") or {}
    raw_status = meta.get("state", "")
    batch_id = str(operation["name"]).removeprefix(BATCHES)
    input_file = (meta.get("inputConfig") or {}).get("fileName")
    output_file = output.get("responsesFile")
    return GatewayBatch(
        id=batch_id,
        status=GEMINI_STATUSES.get(raw_status, raw_status),
        raw_status=raw_status,
        created=epoch(meta.get("createTime")) or 0.0,
        ended=epoch(meta.get("endTime")),
        total=int(stats.get("requestCount", 0)),
        succeeded=int(stats.get("successfulRequestCount", 0)),
        failed=int(stats.get("failedRequestCount", 0)),
        pending=int(stats.get("pendingRequestCount", 0)),
        input_file=str(input_file).removeprefix(FILES) if input_file else None,
        output_file=str(output_file).removeprefix(FILES) if output_file else None,
        native={
            "operation_name": BATCHES + batch_id,
            "done": bool(operation.get("done")),
            "input_file_id": input_file,
            "output_file_id": output_file,
        },
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
OPENAI_RETRIEVE_FIELDS = (
    "endpoint",
    "input_file_id",
    "completion_window",
    "metadata",
    "expires_at",
    "in_progress_at",
    "finalizing_at",
    "completed_at",
    "failed_at",
    "expired_at",
    "cancelling_at",
    "cancelled_at",
    "output_file_id",
    "error_file_id",
    "errors",
)
"""The OpenAI batch fields Bifrost's retrieve response carries over (beside id, status and counts)."""


class OpenAITarget(Target):
    """The emulator's OpenAI API under ``/openai`` (Bearer auth); its statuses pass through unchanged."""

    name = "openai"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.forward.key}"}

    async def upload(self, path: Path, display_name: str | None, mime_type: str) -> GatewayFile:
        """Stored under the display name, with the ``.jsonl`` suffix OpenAI requires of a batch file."""
        filename = display_name or "file.jsonl"
        if not filename.endswith(".jsonl"):
            filename += ".jsonl"
        with path.open("rb") as handle:
            body = await self.forward.json(
                "POST",
                "/openai/v1/files",
                files={"file": (filename, handle, mime_type or "application/octet-stream")},
                data={"purpose": "batch"},
                headers=self.headers,
            )
        return openai_file(body)

    async def list_files(self, page_size: int, token: str | None) -> Listing:
        params = openai_page(page_size, token)
        body = await self.forward.json("GET", "/openai/v1/files", params=params, headers=self.headers)
        return Listing([openai_file(f) for f in body["data"]], body["last_id"] if body.get("has_more") else None)

    async def get_file(self, file_id: str) -> GatewayFile:
        return openai_file(await self.forward.json("GET", f"/openai/v1/files/{file_id}", headers=self.headers))

    async def delete_file(self, file_id: str) -> None:
        await self.forward.call("DELETE", f"/openai/v1/files/{file_id}", headers=self.headers)

    async def file_content(self, file_id: str) -> Relayed:
        return await self.forward.stream(f"/openai/v1/files/{file_id}/content", headers=self.headers)

    async def create(self, model: str, file_id: str | None, items: list[InlineItem]) -> GatewayBatch:
        """Inline items are translated, written as JSONL, uploaded with purpose batch, then batched."""
        if file_id is None:
            lines = [
                {
                    "custom_id": item.custom_id,
                    "method": "POST",
                    "url": ASSUMED_OPENAI_ENDPOINT,
                    "body": openai_body(index, model, item.request),
                }
                for index, item in enumerate(items)
            ]
            content = b"".join(msgspec.json.encode(line) + b"\n" for line in lines)
            uploaded = await self.forward.json(
                "POST",
                "/openai/v1/files",
                files={"file": ("batch_requests.jsonl", content, "application/jsonl")},
                data={"purpose": "batch"},
                headers=self.headers,
            )
            file_id = str(uploaded["id"])
        body = {"input_file_id": file_id, "endpoint": ASSUMED_OPENAI_ENDPOINT, "completion_window": "24h"}
        return openai_batch(await self.forward.json("POST", "/openai/v1/batches", json=body, headers=self.headers))

    async def batch(self, batch_id: str) -> dict[str, Any]:
        return await self.forward.json("GET", f"/openai/v1/batches/{batch_id}", headers=self.headers)

    async def get(self, batch_id: str) -> GatewayBatch:
        return openai_batch(await self.batch(batch_id))

    async def list_batches(self, page_size: int, token: str | None) -> Listing:
        params = openai_page(page_size, token)
        body = await self.forward.json("GET", "/openai/v1/batches", params=params, headers=self.headers)
        return Listing([openai_batch(b) for b in body["data"]], body["last_id"] if body.get("has_more") else None)

    async def cancel(self, batch_id: str) -> None:
        await self.forward.call("POST", f"/openai/v1/batches/{batch_id}/cancel", headers=self.headers)

    async def results(self, batch_id: str) -> list[dict[str, Any]]:
        """The output file's lines only (failed rows are in the error file, which this route never reads)."""
        output_file_id = (await self.batch(batch_id)).get("output_file_id")
        if not output_file_id:
            raise gateway_error(400, "batch results not available: output_file_id is empty")
        download = await self.forward.call("GET", f"/openai/v1/files/{output_file_id}/content", headers=self.headers)
        items = []
        for line in jsonl_items(download.content):
            item: dict[str, Any] = {"custom_id": line.get("custom_id")}
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
        id=str(data["id"]),
        display_name=data.get("filename"),
        size_bytes=data.get("bytes") or 0,
        created=data["created_at"],
    )


def openai_batch(data: Mapping[str, Any]) -> GatewayBatch:
    counts = data.get("request_counts") or {}
    return GatewayBatch(
        id=data["id"],
        status=data["status"],
        raw_status=data["status"],
        created=data["created_at"],
        ended=next((data[name] for name in OPENAI_END_TIMES if data.get(name)), None),
        total=counts.get("total", 0),
        succeeded=counts.get("completed", 0),
        failed=counts.get("failed", 0),
        input_file=data.get("input_file_id"),
        output_file=data.get("output_file_id"),
        native={name: data.get(name) for name in OPENAI_RETRIEVE_FIELDS},
    )


# --- Anthropic ---------------------------------------------------------------------------------------

ANTHROPIC_STATUSES = {"in_progress": "in_progress", "canceling": "cancelling", "ended": "ended"}


class AnthropicTarget(Target):
    """The emulator's Message Batches API under ``/anthropic``: inline requests only, no files."""

    name = "anthropic"

    @property
    def headers(self) -> dict[str, str]:
        return {"x-api-key": self.forward.key, "anthropic-version": ANTHROPIC_VERSION}

    def unsupported(self, what: str) -> GatewayError:
        return gateway_error(
            400, f"{what} is not supported for anthropic: Anthropic batch operations use inline requests only"
        )

    async def create(self, model: str, file_id: str | None, items: list[InlineItem]) -> GatewayBatch:
        if file_id is not None:
            raise gateway_error(400, "Anthropic batch API does not support input_file_id, use inline requests instead")
        requests = [
            {"custom_id": item.custom_id, "params": anthropic_params(index, model, item.request)}
            for index, item in enumerate(items)
        ]
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
    created = epoch(data.get("created_at")) or 0.0
    processing, succeeded, errored, canceled, expired = (
        int(counts.get(name) or 0) for name in ("processing", "succeeded", "errored", "canceled", "expired")
    )
    return GatewayBatch(
        id=data["id"],
        status=ANTHROPIC_STATUSES.get(status, status),
        raw_status=status,
        created=created,
        ended=epoch(data.get("ended_at")),
        total=processing + succeeded + errored + canceled + expired,
        succeeded=succeeded,
        failed=errored,
        pending=processing,
        native={
            "processing_status": status,
            "results_url": data.get("results_url"),
            "expires_at": unix(data.get("expires_at")),
            "completed_at": unix(data.get("ended_at")),
            "archived_at": unix(data.get("archived_at")),
            "cancelling_at": unix(data.get("cancel_initiated_at")),
            "request_counts": {
                name: count
                for name, count in (
                    ("succeeded", succeeded),
                    ("expired", expired),
                    ("canceled", canceled),
                    ("pending", processing),
                )
                if count
            },
        },
    )


# --- Bedrock -----------------------------------------------------------------------------------------


class BedrockTarget(Target):
    """Bedrock through the GenAI facade: nothing works (a batch needs role_arn and output_s3_uri)."""

    name = "bedrock"

    def unsupported(self, what: str) -> GatewayError:
        return gateway_error(
            400,
            f"{what} is not supported for bedrock through the GenAI integration: role_arn and output_s3_uri are "
            "required for Bedrock batch API and cannot be set here; use the Bedrock SDK against the /bedrock route",
        )


TARGETS: dict[str, type[Target]] = {
    "gemini": GeminiTarget,
    "openai": OpenAITarget,
    "anthropic": AnthropicTarget,
    "bedrock": BedrockTarget,
}
