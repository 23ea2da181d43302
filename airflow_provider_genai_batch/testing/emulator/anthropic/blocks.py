"""The content of a Messages API message and system prompt, refused as the API refuses it.

Shared by Anthropic's Message Batches and Bedrock's Anthropic InvokeModel bodies. A block is an object
tagged by `type` with the fields its type requires (the SDK's `ContentBlockParam` union); text must hold
something other than whitespace, and only the last message, an assistant one, may be empty.
"""

from __future__ import annotations

from typing import Any

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
"""Each tag of a message's content block, with the fields it requires."""
TOOL_RESULT_FIELDS: dict[str, tuple[str, ...]] = {
    "text": ("text",),
    "image": ("source",),
    "search_result": ("content", "source", "title"),
    "document": ("source",),
    "tool_reference": ("tool_name",),
    "browser_state": ("tabs",),
}
"""The blocks a `tool_result` may hold, with the fields each requires."""
SYSTEM_FIELDS: dict[str, tuple[str, ...]] = {"text": ("text",)}
"""A system prompt holds text blocks only."""
IMAGE_MEDIA_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
IMAGE_SOURCES: dict[str, dict[str, tuple[str, ...] | None]] = {
    "base64": {"media_type": IMAGE_MEDIA_TYPES, "data": None},
    "url": {"url": None},
    "file": {"file_id": None},
}
"""An image's source tags, each with its required string fields (and their allowed values, where fixed)."""
DOCUMENT_SOURCES: dict[str, dict[str, tuple[str, ...] | None]] = {
    "base64": {"media_type": ("application/pdf",), "data": None},
    "text": {"media_type": ("text/plain",), "data": None},
    "content": {},
    "url": {"url": None},
    "file": {"file_id": None},
}
"""A document's source tags, each with its required string fields (a `content` source holds text or blocks)."""
EMPTY_MESSAGE = "all messages must have non-empty content except for the optional final assistant message"
EMPTY_TEXT = "text content blocks must be non-empty"
BLANK_TEXT = "text content blocks must contain non-whitespace text"


def tags(names: dict[str, Any]) -> str:
    """The expected tags, as the API lists them."""
    return ", ".join(f"'{name}'" for name in names)


def text_problem(text: str, where: str) -> str | None:
    """Why a text (a block's or a content string) is refused: empty, or only whitespace."""
    if not text:
        return f"{where}: {EMPTY_TEXT}"
    if not text.strip():
        return f"{where}: {BLANK_TEXT}"
    return None


def message_content_problem(content: Any, path: str, role: str, final: bool) -> str | None:
    """Why one message's `content` (a text or a list of blocks) is refused, or None; `final` for the last message."""
    if not isinstance(content, str | list):
        return f"{path}.content: Input should be a valid string or a list of content blocks"
    if not content:
        return None if final and role == "assistant" else f"{path}: {EMPTY_MESSAGE}"
    if isinstance(content, str):
        return text_problem(content, "messages")
    allowed = SYSTEM_FIELDS if role == "system" else BLOCK_FIELDS
    for number, block in enumerate(content):
        problem = block_problem(block, f"{path}.content.{number}", allowed, "messages")
        if problem is not None:
            return problem
    return None


def system_problem(system: Any) -> str | None:
    """Why the top-level `system` prompt (a text or a list of text blocks) is refused, or None; null is unset."""
    if system is None:
        return None
    if isinstance(system, str):
        return text_problem(system, "system") if system else None
    if not isinstance(system, list):
        return "system: Input should be a valid string or a list of text blocks"
    for number, block in enumerate(system):
        problem = block_problem(block, f"system.{number}", SYSTEM_FIELDS, "system")
        if problem is not None:
            return problem
    return None


def block_problem(block: Any, path: str, allowed: dict[str, tuple[str, ...]], where: str) -> str | None:
    """Why one content block is refused, or None: an object of a tag in `allowed` with the fields it requires,
    checked further for the blocks the API looks into (text, image, document, tool use and tool result)."""
    if not isinstance(block, dict):
        return f"{path}: Input should be a valid dictionary or object to extract fields from"
    if "type" not in block:
        return f"{path}: Unable to extract tag using discriminator 'type'"
    tag = block["type"]
    if not isinstance(tag, str) or tag not in allowed:
        return f"{path}: Input tag '{tag}' found using 'type' does not match any of the expected tags: {tags(allowed)}"
    for field in allowed[tag]:
        if block.get(field) is None:
            return f"{path}.{tag}.{field}: Field required"
    if tag == "text":
        if not isinstance(block["text"], str):
            return f"{path}.text.text: Input should be a valid string"
        return text_problem(block["text"], where)
    if tag == "image":
        return source_problem(block["source"], f"{path}.image.source", IMAGE_SOURCES)
    if tag == "document":
        return source_problem(block["source"], f"{path}.document.source", DOCUMENT_SOURCES)
    if tag in ("tool_use", "server_tool_use"):
        return tool_use_problem(block, f"{path}.{tag}")
    if tag == "tool_result":
        return tool_result_problem(block, f"{path}.tool_result")
    return None


def source_problem(source: Any, path: str, sources: dict[str, dict[str, tuple[str, ...] | None]]) -> str | None:
    """Why an image's or a document's `source` is refused, or None: one of `sources`, with its fields."""
    if not isinstance(source, dict):
        return f"{path}: Input should be a valid dictionary or object to extract fields from"
    tag = source.get("type")
    if tag not in sources:
        return f"{path}: Input tag '{tag}' found using 'type' does not match any of the expected tags: {tags(sources)}"
    for field, values in sources[tag].items():
        value = source.get(field)
        if value is None:
            return f"{path}.{tag}.{field}: Field required"
        if not isinstance(value, str):
            return f"{path}.{tag}.{field}: Input should be a valid string"
        if values is not None and value not in values:
            expected = " or ".join(f"'{name}'" for name in values)
            return f"{path}.{tag}.{field}: Input should be {expected}"
    if tag == "content" and not isinstance(source.get("content"), str | list):
        return f"{path}.content.content: Field required"
    return None


def tool_use_problem(block: dict[str, Any], path: str) -> str | None:
    """Why a tool call is refused, or None: a string `id` and `name`, and an object `input`."""
    for field in ("id", "name"):
        if not isinstance(block[field], str):
            return f"{path}.{field}: Input should be a valid string"
    if not isinstance(block["input"], dict):
        return f"{path}.input: Input should be a valid dictionary"
    return None


def tool_result_problem(block: dict[str, Any], path: str) -> str | None:
    """Why a tool result is refused, or None: a string `tool_use_id`, and content (if any) a text or the blocks a
    tool result may hold."""
    if not isinstance(block["tool_use_id"], str):
        return f"{path}.tool_use_id: Input should be a valid string"
    content = block.get("content")
    if content is None or isinstance(content, str):
        return None
    if not isinstance(content, list):
        return f"{path}.content: Input should be a valid string or a list of content blocks"
    for number, item in enumerate(content):
        problem = block_problem(item, f"{path}.content.{number}", TOOL_RESULT_FIELDS, "messages")
        if problem is not None:
            return problem
    return None
