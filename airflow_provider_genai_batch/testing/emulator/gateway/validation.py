"""What the emulated gateway reads from a request, and what it refuses: keys, target, paging, names, batches.

The gateway is lenient where Bifrost is (a bad page size falls back to the default; request fields
outside the four it keeps are dropped without a word) and strict where its documentation is (names
are ``batches/<id>`` and ``files/<id>``, a target it does not route to is a 400).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import Request

from airflow_provider_genai_batch.testing.emulator.common import rejects_key
from airflow_provider_genai_batch.testing.emulator.gateway.translation import kept_fields
from airflow_provider_genai_batch.testing.emulator.gateway.wire import FILES, gateway_error

PROVIDER_HEADER = "x-model-provider"
TARGET_NAMES = ("gemini", "openai", "anthropic", "bedrock")
DEFAULT_PAGE_SIZE = 10


@dataclass(frozen=True)
class InlineItem:
    """One inline request as the converter hands it on: the custom id and the kept Gemini request."""

    custom_id: str
    request: dict[str, Any]


@dataclass(frozen=True)
class CreateInput:
    """A batch create's input: a bare provider file id, or inline items (exactly one of them)."""

    file_id: str | None
    items: list[InlineItem]


def caller_key(request: Request, key_required: str | None) -> str:
    """The caller's key (``x-goog-api-key`` or Bearer); checked only when the emulator is given one."""
    key = request.headers.get("x-goog-api-key") or request.headers.get("authorization", "").removeprefix("Bearer ")
    if rejects_key(key_required, key):
        raise gateway_error(401, "invalid or missing API key")
    return key or "gateway-key"


def facade_target(request: Request) -> str:
    """The ``x-model-provider`` header; absent or empty means gemini."""
    return checked_target(request.headers.get(PROVIDER_HEADER) or "gemini")


def native_target(request: Request) -> str:
    """The ``provider`` query parameter of a native route (which the route only matches when present)."""
    return checked_target(request.query_params.get("provider", ""))


def checked_target(name: str) -> str:
    """A target the gateway routes to, spelled exactly (the gateway reads the value as given), or its 400."""
    if name not in TARGET_NAMES:
        raise gateway_error(400, f"unsupported provider {name!r}; this gateway routes to {', '.join(TARGET_NAMES)}")
    return name


def page_request(request: Request) -> tuple[int, str | None]:
    """``pageSize`` and ``pageToken`` from the query string (a size that is not a positive integer: 10)."""
    raw = request.query_params.get("pageSize")
    size = int(raw) if raw and raw.isdigit() and int(raw) > 0 else DEFAULT_PAGE_SIZE
    return size, request.query_params.get("pageToken") or None


def resource_id(ref: str, kind: str) -> str:
    """The provider id of a path's ``<id>`` segment (the collection is in the route; a slash would end it)."""
    if not ref or "/" in ref:
        raise gateway_error(404, f"{kind} {ref!r} is not a valid name: use {kind}/<id>")
    return ref


def file_name_id(name: Any) -> str:
    """The provider id of a ``files/<id>`` file name."""
    if not isinstance(name, str) or not name.startswith(FILES) or not name.removeprefix(FILES):
        raise gateway_error(400, f"batch.inputConfig.fileName must be files/<id>, got {name!r}")
    return resource_id(name.removeprefix(FILES), "files")


def create_input(body: dict[str, Any]) -> CreateInput:
    """``batch.inputConfig`` of a create body: ``fileName`` or ``requests.requests``, never both."""
    batch = body.get("batch")
    input_config = batch.get("inputConfig") if isinstance(batch, dict) else None
    if not isinstance(input_config, dict):
        raise gateway_error(400, "batch.inputConfig is required")
    has_file, has_requests = "fileName" in input_config, "requests" in input_config
    if has_file == has_requests:
        raise gateway_error(400, "batch.inputConfig needs exactly one of fileName and requests")
    if has_file:
        return CreateInput(file_name_id(input_config["fileName"]), [])
    return CreateInput(None, inline_items(input_config["requests"]))


def inline_items(requests: Any) -> list[InlineItem]:
    """Inline requests as the converter's items: ``metadata.key`` (else ``request-<index>``), the kept fields."""
    entries = requests.get("requests") if isinstance(requests, dict) else None
    if not isinstance(entries, list) or not all(isinstance(entry, dict) for entry in entries):
        raise gateway_error(400, 'batch.inputConfig.requests must be {"requests": [{"request", "metadata"}]}')
    if not entries:
        raise gateway_error(400, "batch.inputConfig.requests.requests is empty")
    items = []
    for index, entry in enumerate(entries):
        request = entry.get("request")
        if not isinstance(request, dict):
            raise gateway_error(400, f"request {index}: request must be an object")
        metadata = entry.get("metadata")
        key = metadata.get("key") if isinstance(metadata, dict) else None
        if key is not None and (not isinstance(key, str) or not key):
            raise gateway_error(400, f"request {index}: metadata.key must be a non-empty string")
        items.append(InlineItem(key or f"request-{index}", kept_fields(request)))
    return items
