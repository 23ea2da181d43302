"""The content of a native Anthropic message or system prompt, checked as the Messages API checks it.

A batch request whose content the API refuses ends errored once the batch runs; these checks refuse it up
front, naming the block and why. Blocks are the anthropic SDK's ``ContentBlockParam`` union: an object tagged by
``type`` with the fields its type requires. Text must hold something other than whitespace, and only the last
message, an assistant one, may be empty.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_genai_batch.formats.gemini_schema import json_type

BLOCK_FIELDS: dict[str, tuple[str, ...]] = {
    "text": ("text",),
    "image": ("source",),
    "document": ("source",),
    "search_result": ("content", "source", "title"),
    "thinking": ("signature", "thinking"),
    "redacted_thinking": ("data",),
    "tool_use": ("id", "input", "name"),
    "tool_result": ("tool_use_id",),
    "server_tool_use": ("id", "input", "name"),
    "web_search_tool_result": ("content", "tool_use_id"),
    "web_fetch_tool_result": ("content", "tool_use_id"),
    "code_execution_tool_result": ("content", "tool_use_id"),
    "bash_code_execution_tool_result": ("content", "tool_use_id"),
    "text_editor_code_execution_tool_result": ("content", "tool_use_id"),
    "tool_search_tool_result": ("content", "tool_use_id"),
    "container_upload": ("file_id",),
}
"""The types of a message's content block, each with the fields it requires."""
TOOL_RESULT_FIELDS: dict[str, tuple[str, ...]] = {
    "text": ("text",),
    "image": ("source",),
    "search_result": ("content", "source", "title"),
    "document": ("source",),
    "tool_reference": ("tool_name",),
    "browser_state": ("tabs",),
}
"""The blocks a ``tool_result`` may hold, each with the fields it requires."""
TEXT_ONLY: dict[str, tuple[str, ...]] = {"text": ("text",)}
"""A system prompt, or a system turn, holds text blocks only."""
SOURCES: dict[str, dict[str, dict[str, tuple[str, ...] | None]]] = {
    "image": {
        "base64": {"media_type": ("image/jpeg", "image/png", "image/gif", "image/webp"), "data": None},
        "url": {"url": None},
        "file": {"file_id": None},
    },
    "document": {
        "base64": {"media_type": ("application/pdf",), "data": None},
        "text": {"media_type": ("text/plain",), "data": None},
        "content": {"content": None},
        "url": {"url": None},
        "file": {"file_id": None},
    },
}
"""The sources of an image and of a document: each type's required fields, with their values where they are fixed
(a ``content`` source holds a text or a list of blocks)."""


def check_message_content(content: Any, path: str, role: str, *, final: bool) -> None:
    """A message's ``content`` at ``path``: a non-empty text or list of blocks (empty only for a ``final`` assistant
    message); ValueError naming the block and why the Messages API refuses it."""
    if not isinstance(content, str | list):
        raise ValueError(f"'{path}' must be a string or a list of content blocks, got {json_type(content)}")
    if not content:
        if final and role == "assistant":
            return
        raise ValueError(f"'{path}' is empty: the Messages API takes empty content only in a final assistant message")
    if isinstance(content, str):
        _check_text(content, path)
        return
    allowed = TEXT_ONLY if role == "system" else BLOCK_FIELDS
    for index, block in enumerate(content):
        _check_block(block, f"{path}[{index}]", allowed)


def check_system(system: Any, path: str) -> None:
    """A top-level ``system`` prompt: a text or a list of text blocks (null and "" being unset)."""
    if system is None or system == "":
        return
    if isinstance(system, str):
        _check_text(system, path)
        return
    if not isinstance(system, list):
        raise ValueError(f"'{path}' must be a string or a list of text blocks, got {json_type(system)}")
    for index, block in enumerate(system):
        _check_block(block, f"{path}[{index}]", TEXT_ONLY)


def _check_text(text: str, path: str) -> None:
    if not text.strip():
        said = "empty" if not text else "only whitespace"
        raise ValueError(f"'{path}' is {said}: the Messages API refuses a text block without other characters")


def _check_block(block: Any, path: str, allowed: Mapping[str, tuple[str, ...]]) -> None:
    if not isinstance(block, Mapping):
        raise ValueError(f"'{path}' must be a content block (a JSON object), got {json_type(block)}")
    kind = block.get("type")
    if not isinstance(kind, str) or kind not in allowed:
        found = "has no type" if kind is None else f"type {kind!r} is not one of {', '.join(allowed)}"
        raise ValueError(f"'{path}' {found}")
    for name in allowed[kind]:
        if block.get(name) is None:
            raise ValueError(f"'{path}.{name}' is missing: a {kind} block requires it")
    if kind == "text":
        if not isinstance(block["text"], str):
            raise ValueError(f"'{path}.text' must be a string, got {json_type(block['text'])}")
        _check_text(block["text"], f"{path}.text")
    elif kind in SOURCES:
        _check_source(block["source"], f"{path}.source", kind)
    elif kind in ("tool_use", "server_tool_use"):
        for name in ("id", "name"):
            if not isinstance(block[name], str):
                raise ValueError(f"'{path}.{name}' must be a string, got {json_type(block[name])}")
        if not isinstance(block["input"], Mapping):
            raise ValueError(f"'{path}.input' must be a JSON object, got {json_type(block['input'])}")
    elif kind == "tool_result":
        _check_tool_result(block, path)


def _check_source(source: Any, path: str, kind: str) -> None:
    sources = SOURCES[kind]
    if not isinstance(source, Mapping) or source.get("type") not in sources:
        raise ValueError(f"'{path}' must be an object whose type is one of {', '.join(sources)}")
    for name, values in sources[source["type"]].items():
        value = source.get(name)
        if name == "content" and isinstance(value, list):
            continue
        if not isinstance(value, str):
            raise ValueError(f"'{path}.{name}' must be a string, got {json_type(value)}")
        if values is not None and value not in values:
            raise ValueError(f"'{path}.{name}' {value!r} is not one of {', '.join(values)}")


def _check_tool_result(block: Mapping[str, Any], path: str) -> None:
    if not isinstance(block["tool_use_id"], str):
        raise ValueError(f"'{path}.tool_use_id' must be a string, got {json_type(block['tool_use_id'])}")
    content = block.get("content")
    if content is None or isinstance(content, str):
        return
    if not isinstance(content, list):
        raise ValueError(f"'{path}.content' must be a string or a list of content blocks, got {json_type(content)}")
    for index, item in enumerate(content):
        _check_block(item, f"{path}.content[{index}]", TOOL_RESULT_FIELDS)
