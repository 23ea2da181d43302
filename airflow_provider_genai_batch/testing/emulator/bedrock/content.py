"""The messages of a Bedrock record, refused as the model refuses them (a record fails on its own line).

Claude's InvokeModel bodies are checked as the Messages API checks content (`anthropic.blocks`), and Bedrock
refuses two turns of one role in a row. A Converse message holds a non-empty list of content blocks, each a union
of exactly one member (botocore's `ContentBlock`), whose text may not be blank; its images and documents name a
format and one source.
"""

from __future__ import annotations

import itertools
from typing import Any

from airflow_provider_genai_batch.testing.emulator.anthropic.blocks import message_content_problem, system_problem

CLAUDE_ROLES = ("user", "assistant")
CONVERSE_BLOCKS = frozenset(
    {
        "text",
        "image",
        "document",
        "video",
        "audio",
        "toolUse",
        "toolResult",
        "guardContent",
        "cachePoint",
        "reasoningContent",
        "citationsContent",
        "searchResult",
        "toolAddition",
        "toolRemoval",
    }
)
"""The members of a Converse `ContentBlock` union."""
CONVERSE_SYSTEM_BLOCKS = frozenset({"text", "guardContent", "cachePoint"})
"""The members of a Converse `SystemContentBlock` union."""
BLANK_ADVICE = "Add text to the text field, and try again."
IMAGE_FORMATS = ("png", "jpeg", "gif", "webp")
DOCUMENT_FORMATS = ("pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md")
IMAGE_SOURCES = frozenset({"bytes", "s3Location"})
DOCUMENT_SOURCES = frozenset({"bytes", "s3Location", "text", "content"})


def malformed(problem: str, pointer: str = "#") -> str:
    """A per-record error as Bedrock words a model input the model rejects, at ``pointer`` in it."""
    return f"Malformed input request: {pointer}: {problem}, please reformat your input and try again."


def claude_messages_problem(model_input: dict[str, Any]) -> str | None:
    """Why Claude refuses an InvokeModel body's messages and system prompt, or None."""
    messages = model_input["messages"]
    for index, message in enumerate(messages):
        role = message.get("role")
        if role not in CLAUDE_ROLES:
            return malformed(f"{role} is not a valid enum value", f"#/messages/{index}/role")
        if "content" not in message:
            return malformed("required key [content] not found", f"#/messages/{index}")
        final = index == len(messages) - 1
        problem = message_content_problem(message["content"], f"messages.{index}", role, final)
        if problem is not None:
            return problem
    for before, message in itertools.pairwise(messages):
        if message["role"] == before["role"]:
            return (
                f'messages: roles must alternate between "user" and "assistant", but found multiple '
                f'"{message["role"]}" roles in a row'
            )
    return system_problem(model_input.get("system"))


def converse_content_problem(model_input: dict[str, Any]) -> str | None:
    """Why Converse refuses a record's message contents or system blocks, or None."""
    for index, message in enumerate(model_input["messages"]):
        content = message.get("content")
        if not isinstance(content, list):
            return malformed("expected type: JSONArray", f"#/messages/{index}/content")
        if not content:
            return (
                f"The content field in the Message object at messages.{index} is empty. "
                "Add a ContentBlock object to the content field and try again."
            )
        for number, block in enumerate(content):
            problem = block_problem(block, f"messages.{index}.content.{number}", CONVERSE_BLOCKS, "ContentBlock")
            if problem is not None:
                return problem
    system = model_input.get("system")
    if system is None:
        return None
    if not isinstance(system, list):
        return malformed("expected type: JSONArray", "#/system")
    for number, block in enumerate(system):
        problem = block_problem(block, f"system.{number}", CONVERSE_SYSTEM_BLOCKS, "SystemContentBlock")
        if problem is not None:
            return problem
    return None


def block_problem(block: Any, path: str, members: frozenset[str], shape: str) -> str | None:
    """Why one Converse content block is refused, or None: exactly one member of the union, a text not blank, an
    image or a document with its format and one source."""
    pointer = "#/" + path.replace(".", "/")
    if not isinstance(block, dict):
        return malformed("expected type: JSONObject", pointer)
    for key in block:
        if key not in members:
            return malformed(f"extraneous key [{key}] is not permitted", pointer)
    if len(block) != 1:
        return malformed(f"a {shape} must set exactly one member, found {len(block)}", pointer)
    ((member, value),) = block.items()
    if member == "text":
        if not isinstance(value, str):
            return malformed("expected type: String", f"{pointer}/text")
        if not value.strip():
            return f"The text field in the {shape} object at {path} is blank. {BLANK_ADVICE}"
    elif member == "image":
        return media_problem(value, f"{pointer}/image", IMAGE_FORMATS, IMAGE_SOURCES, named=False)
    elif member == "document":
        return media_problem(value, f"{pointer}/document", DOCUMENT_FORMATS, DOCUMENT_SOURCES, named=True)
    return None


def media_problem(
    value: Any, pointer: str, formats: tuple[str, ...], sources: frozenset[str], *, named: bool
) -> str | None:
    """Why an image or a document block is refused, or None: a `format` of `formats` (required for an image), a
    `name` of 1 to 200 characters for a document, and a `source` of exactly one of `sources`."""
    if not isinstance(value, dict):
        return malformed("expected type: JSONObject", pointer)
    fmt = value.get("format")
    if fmt is None and not named:
        return malformed("required key [format] not found", pointer)
    if fmt is not None and fmt not in formats:
        return malformed(f"{fmt} is not a valid enum value", f"{pointer}/format")
    if named:
        name = value.get("name")
        if name is None:
            return malformed("required key [name] not found", pointer)
        if not isinstance(name, str) or not 1 <= len(name) <= 200:
            return malformed("expected a string of 1 to 200 characters", f"{pointer}/name")
    source = value.get("source")
    if source is None:
        return malformed("required key [source] not found", pointer)
    if not isinstance(source, dict) or len(source) != 1 or not source.keys() <= sources:
        return malformed(f"a source must set exactly one of {', '.join(sorted(sources))}", f"{pointer}/source")
    return None
