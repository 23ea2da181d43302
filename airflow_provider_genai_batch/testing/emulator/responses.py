"""A deterministic fake model shared by every provider router: same input, same answer, same vector.

Routers extract the prompt text in their own wire format, call `generate` or `embed`, and render the
outcome back in their own format. Nothing here knows a provider.
"""

from __future__ import annotations

import hashlib
import math
import struct
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

FAIL_MARKER = "[[emulator:fail]]"
"""Any request whose text contains this marker fails on its own row instead of being answered."""

DEFAULT_EMBEDDING_DIMENSIONS = 8
ANSWER_PREFIX = "Answer to: "


@dataclass(frozen=True)
class RowError:
    """A per-request failure, described the way HTTP APIs describe one (code, message, status)."""

    code: int
    message: str
    status: str


@dataclass(frozen=True)
class Generation:
    """A generated answer with its token usage, counted in whitespace-separated words."""

    text: str
    prompt_tokens: int
    completion_tokens: int

    @property
    def total_tokens(self) -> int:
        """Prompt plus completion tokens, as every provider reports them."""
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Embedding:
    """A unit-length embedding vector and the token count of the text it embeds."""

    values: list[float]
    prompt_tokens: int


def count_tokens(text: str) -> int:
    """Count words as tokens: crude, but deterministic and easy to assert on."""
    return len(text.split())


FAILED_ROW_MESSAGE = "The model failed on this request (emulated: the job outcome is 'fail_rows')."
_forced_failure = threading.local()


@contextmanager
def failing_rows(active: bool = True) -> Iterator[None]:
    """While active, every request answered on this thread fails on its own row (job outcome "fail_rows")."""
    previous = getattr(_forced_failure, "active", False)
    _forced_failure.active = active
    try:
        yield
    finally:
        _forced_failure.active = previous


def fail_marker_error(texts: Iterable[str]) -> RowError | None:
    """Return the marker's row error when any of the texts carries the fail marker, else None."""
    if getattr(_forced_failure, "active", False):
        return RowError(code=500, message=FAILED_ROW_MESSAGE, status="INTERNAL")
    if any(FAIL_MARKER in text for text in texts):
        return RowError(
            code=400,
            message=f"Request rejected by the emulator: the text contains the fail marker {FAIL_MARKER}.",
            status="INVALID_ARGUMENT",
        )
    return None


def generate(prompt: str, context: Iterable[str] = ()) -> Generation | RowError:
    """Answer a prompt with "Answer to: <prompt>", or fail when the prompt or its context has the marker."""
    error = fail_marker_error([prompt, *context])
    if error is not None:
        return error
    text = ANSWER_PREFIX + prompt
    return Generation(text=text, prompt_tokens=count_tokens(prompt), completion_tokens=count_tokens(text))


def generate_from_turns(
    turns: Sequence[tuple[str, str]], *, user_role: str = "user", context: Iterable[str] = ()
) -> Generation | RowError:
    """Answer a conversation given as (role, text) turns: the prompt is the last user turn's text.

    Every turn's text and the extra context (a system prompt, say) are checked for the fail marker.
    """
    user_texts = [text for role, text in turns if role == user_role]
    prompt = user_texts[-1] if user_texts else ""
    return generate(prompt, [*(text for _, text in turns), *context])


def limit_tokens(generation: Generation, max_tokens: int | None) -> tuple[Generation, bool]:
    """Cut an answer to at most max_tokens words; the flag tells whether it was cut."""
    if max_tokens is None or generation.completion_tokens <= max_tokens:
        return generation, False
    text = " ".join(generation.text.split()[: max(max_tokens, 0)])
    return replace(generation, text=text, completion_tokens=count_tokens(text)), True


def thinking_tokens(generation: Generation, budget: int | None) -> int:
    """Tokens the fake model thinks before answering when a request asks it to: one per prompt word, within
    a positive budget (-1 sets none); a request that sets no budget, or 0, gets no thinking."""
    if not budget:
        return 0
    return generation.prompt_tokens if budget < 0 else min(generation.prompt_tokens, budget)


def embed(text: str, dimensions: int | None = None) -> Embedding | RowError:
    """Embed a text as a unit vector derived from its sha256, or fail when the text has the marker."""
    error = fail_marker_error([text])
    if error is not None:
        return error
    size = DEFAULT_EMBEDDING_DIMENSIONS if dimensions is None else dimensions
    if size <= 0:
        return RowError(code=400, message="outputDimensionality must be positive.", status="INVALID_ARGUMENT")
    return Embedding(values=unit_vector(text, size), prompt_tokens=count_tokens(text))


def unit_vector(text: str, dimensions: int) -> list[float]:
    """Expand sha256(text) into `dimensions` floats in [-1, 1] and scale them to length 1."""
    raw: list[float] = []
    counter = 0
    while len(raw) < dimensions:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        raw.extend(value / 2**31 - 1.0 for value in struct.unpack(">8I", digest))
        counter += 1
    vector = raw[:dimensions]
    norm = math.sqrt(sum(value * value for value in vector)) or 1.0
    return [value / norm for value in vector]


def content_text(content: Any) -> str:
    """The text of OpenAI or Anthropic message content: a string, or its ``{"type": "text"}`` blocks joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            block["text"]
            for block in content
            if isinstance(block, dict) and block.get("type") == "text" and isinstance(block.get("text"), str)
        )
    return ""
