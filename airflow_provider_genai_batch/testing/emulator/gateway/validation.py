"""What the emulated gateway reads from a request, and what it refuses: keys, target provider, paging, batches.

The gateway is lenient where Bifrost is (a bad page size falls back to the default) and passes bodies
on to the target provider, whose own rules then apply.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from airflow_provider_genai_batch.testing.emulator.common import rejects_key
from airflow_provider_genai_batch.testing.emulator.gateway.targets import TARGETS
from airflow_provider_genai_batch.testing.emulator.gateway.wire import gateway_error
from airflow_provider_genai_batch.testing.emulator.gemini.wire import get_field
from airflow_provider_genai_batch.testing.emulator.store import EmulatorState

PROVIDER_HEADER = "x-model-provider"
DEFAULT_PAGE_SIZE = 10
DROPPED_FIELDS = frozenset({"tools", "toolConfig", "tool_config", "cachedContent", "cached_content"})
"""Request fields the inline converter does not carry."""


def caller_key(request: Request, state: EmulatorState) -> str:
    """The caller's key (``x-goog-api-key`` or Bearer); checked only when the emulator is given one."""
    key = request.headers.get("x-goog-api-key") or request.headers.get("authorization", "").removeprefix("Bearer ")
    if rejects_key(state.config.api_key, key):
        raise gateway_error(401, "invalid or missing API key")
    return key or "gateway-key"


def target_name(request: Request) -> str:
    """The ``x-model-provider`` header (or a ``provider`` query parameter); empty means gemini."""
    name = (request.headers.get(PROVIDER_HEADER) or request.query_params.get("provider") or "gemini").lower()
    if name not in TARGETS:
        raise gateway_error(400, f"unsupported provider {name!r}; this gateway routes to {', '.join(TARGETS)}")
    return name


def page_request(request: Request) -> tuple[int, str | None]:
    """``pageSize`` and ``pageToken`` from the query string (a size that is not a positive integer: 10)."""
    raw = request.query_params.get("pageSize") or request.query_params.get("page_size")
    size = int(raw) if raw and raw.isdigit() and int(raw) > 0 else DEFAULT_PAGE_SIZE
    return size, request.query_params.get("pageToken") or request.query_params.get("page_token") or None


def batch_id(ref: str, target: str) -> str:
    """The provider id of a path's batch id; Gemini's names keep their ``batches/`` collection."""
    return f"batches/{ref}" if target == "gemini" and not ref.startswith("batches/") else ref


def create_input_config(body: dict[str, Any]) -> dict[str, Any]:
    """The ``batch.inputConfig`` of a batch create body, which the gateway requires."""
    batch = body.get("batch")
    input_config = get_field(batch, "inputConfig") if isinstance(batch, dict) else None
    if not isinstance(input_config, dict):
        raise gateway_error(400, "batch.inputConfig is required")
    return input_config


def inline_items(input_config: dict[str, Any]) -> list[dict[str, Any]]:
    """Inline requests as Bifrost items: ``metadata.key`` as the custom id, the request minus what is dropped."""
    requests = get_field(input_config, "requests")
    if requests is None:
        return []
    entries = requests.get("requests") if isinstance(requests, dict) else None
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise gateway_error(400, 'batch.inputConfig.requests must be {"requests": [{"request", "metadata"}]}')
    return [
        {
            "custom_id": (entry.get("metadata") or {}).get("key", ""),
            "body": {k: v for k, v in (entry.get("request") or {}).items() if k not in DROPPED_FIELDS},
        }
        for entry in entries
    ]
