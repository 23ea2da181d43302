"""The content of a native Bedrock Converse record, checked as Converse checks it.

A record whose content Converse refuses fails on its own line once the job runs; these checks refuse it up front,
naming the block and why. A message's content is a non-empty list of blocks, each a union that sets exactly one
member (botocore's ``ContentBlock``; a system prompt's, ``SystemContentBlock``); a text may not be blank, an image
names one of its formats, a document a name of 1 to 200 characters, and each one source.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_genai_batch.formats.gemini_schema import json_type

CONTENT_BLOCK_MEMBERS = (
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
)
"""The members of a message's content block."""
SYSTEM_BLOCK_MEMBERS = ("text", "guardContent", "cachePoint")
"""The members of a system prompt's block."""
IMAGE_FORMATS = ("png", "jpeg", "gif", "webp")
DOCUMENT_FORMATS = ("pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md")
IMAGE_SOURCES = ("bytes", "s3Location")
DOCUMENT_SOURCES = ("bytes", "s3Location", "text", "content")
DOCUMENT_NAME_MAX = 200


def check_message_content(content: Any, path: str) -> None:
    """A message's ``content`` at ``path``: a non-empty list of content blocks Converse takes."""
    if not isinstance(content, list):
        raise ValueError(f"'{path}' must be a list of content blocks, got {json_type(content)}")
    if not content:
        raise ValueError(f"'{path}' is empty: Converse refuses a message without a content block")
    for index, block in enumerate(content):
        _check_block(block, f"{path}[{index}]", CONTENT_BLOCK_MEMBERS)


def check_system(system: Any, path: str) -> None:
    """A record's ``system`` prompt (absent or null being unset): a list of system blocks Converse takes."""
    if system is None:
        return
    if not isinstance(system, list):
        raise ValueError(f"'{path}' must be a list of system content blocks, got {json_type(system)}")
    for index, block in enumerate(system):
        _check_block(block, f"{path}[{index}]", SYSTEM_BLOCK_MEMBERS)


def _check_block(block: Any, path: str, members: tuple[str, ...]) -> None:
    if not isinstance(block, Mapping):
        raise ValueError(f"'{path}' must be a content block (a JSON object), got {json_type(block)}")
    unknown = sorted(block.keys() - set(members))
    if unknown:
        raise ValueError(f"'{path}' has {', '.join(unknown)}: a content block sets one of {', '.join(members)}")
    if len(block) != 1:
        raise ValueError(f"'{path}' sets {len(block)} members: a content block sets exactly one")
    ((member, value),) = block.items()
    if member == "text":
        if not isinstance(value, str):
            raise ValueError(f"'{path}.text' must be a string, got {json_type(value)}")
        if not value.strip():
            raise ValueError(f"'{path}.text' is blank: Converse refuses a text without other characters than spaces")
    elif member == "image":
        _check_media(value, f"{path}.image", IMAGE_FORMATS, IMAGE_SOURCES, named=False)
    elif member == "document":
        _check_media(value, f"{path}.document", DOCUMENT_FORMATS, DOCUMENT_SOURCES, named=True)


def _check_media(value: Any, path: str, formats: tuple[str, ...], sources: tuple[str, ...], *, named: bool) -> None:
    """An image (its ``format`` required) or a document (its ``name`` required): a format of ``formats`` and a
    ``source`` setting exactly one of ``sources``."""
    if not isinstance(value, Mapping):
        raise ValueError(f"'{path}' must be a JSON object, got {json_type(value)}")
    fmt = value.get("format")
    if fmt is None and not named:
        raise ValueError(f"'{path}.format' is missing: an image block requires it")
    if fmt is not None and fmt not in formats:
        raise ValueError(f"'{path}.format' {fmt!r} is not one of {', '.join(formats)}")
    if named:
        name = value.get("name")
        if not isinstance(name, str) or not 1 <= len(name) <= DOCUMENT_NAME_MAX:
            raise ValueError(f"'{path}.name' must be a string of 1 to {DOCUMENT_NAME_MAX} characters")
    source = value.get("source")
    if not isinstance(source, Mapping) or len(source) != 1 or not source.keys() <= set(sources):
        raise ValueError(f"'{path}.source' must set exactly one of {', '.join(sources)}")
