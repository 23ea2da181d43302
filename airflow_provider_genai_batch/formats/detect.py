"""Which batch format a JSONL line is in: the canonical Gemini format or a provider's own native one."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any


class InputFormat(str, enum.Enum):
    """A batch input line format, named for the provider that defines it."""

    GEMINI = "gemini"
    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    BEDROCK = "bedrock"

    @property
    def key_field(self) -> str:
        """The field that holds the per-request key in this format."""
        return _KEY_FIELDS[self]


_KEY_FIELDS = {
    InputFormat.GEMINI: "key",
    InputFormat.OPENAI: "custom_id",
    InputFormat.ANTHROPIC: "custom_id",
    InputFormat.BEDROCK: "recordId",
}


def detect_format(line: Mapping[str, Any]) -> InputFormat | None:
    """The format of one parsed line, or None when it matches none."""
    if "custom_id" in line and "body" in line and ("url" in line or "method" in line):
        return InputFormat.OPENAI
    if "custom_id" in line and "params" in line:
        return InputFormat.ANTHROPIC
    if "recordId" in line and "modelInput" in line:
        return InputFormat.BEDROCK
    if "request" in line:
        return InputFormat.GEMINI
    return _without_key(line)


def _without_key(line: Mapping[str, Any]) -> InputFormat | None:
    """The native format a line is in by the fields besides its key, so that a line missing its key (or an OpenAI
    line missing its body) is refused for that, not as a line in no format."""
    if "modelInput" in line:
        return InputFormat.BEDROCK
    if "params" in line:
        return InputFormat.ANTHROPIC
    if sum(name in line for name in _OPENAI_FIELDS) >= 2:
        return InputFormat.OPENAI
    return None


_OPENAI_FIELDS = ("custom_id", "method", "url", "body")
"""An OpenAI line's fields: two of them make a line OpenAI's (one alone, a ``body`` say, may be a typo for another)."""
