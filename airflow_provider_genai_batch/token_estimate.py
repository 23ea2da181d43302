"""An estimate of a request's input tokens from its text, for dry runs and enqueued-token budgets.

It is a heuristic, not a tokenizer: the characters of every text value of the request divided by a
per-provider ratio (about 4 characters a token for English with OpenAI's and Gemini's tokenizers, 3.5 for
Anthropic's denser one), rounded up, plus :data:`MEDIA_TOKENS` for each inline or referenced media part.
Names, ids, roles, MIME types and other fields the model does not read as prompt text are not counted.
Real counts differ (other languages and code tokenize denser; images vary with size): it is labelled an
estimate wherever it is shown, and the landed manifest holds the provider's own counts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

CHARS_PER_TOKEN: dict[str, float] = {
    "gemini": 4.0,
    "vertex": 4.0,
    "openai": 4.0,
    "gateway": 4.0,
    "anthropic": 3.5,
    "bedrock": 3.5,
}
"""Characters per token assumed for each provider's tokenizer."""

MEDIA_TOKENS = 258
"""Tokens counted for one image, audio or file part (Gemini's figure for an image up to 384 pixels a side)."""

NOT_PROMPT = frozenset(
    {
        "key",
        "custom_id",
        "recordId",
        "method",
        "url",
        "model",
        "modelId",
        "role",
        "type",
        "mimeType",
        "mime_type",
        "media_type",
        "anthropic_version",
        "metadata",
        "cachedContent",
        "id",
        "tool_use_id",
        "signature",
        "thoughtSignature",
        "stop",
        "stopSequences",
        "stop_sequences",
        "responseMimeType",
        "response_format",
        "encoding_format",
    }
)
"""Keys whose values the model does not read as prompt text."""

MEDIA = frozenset({"inlineData", "inline_data", "fileData", "file_data", "image_url", "input_image", "source", "image"})
"""Keys of a media part: counted as :data:`MEDIA_TOKENS` each, whatever their size."""


def estimate_input_tokens(request: Any, provider: str) -> int:
    """Estimated input tokens of one request body (any provider's shape), by the heuristic above."""
    try:
        ratio = CHARS_PER_TOKEN[provider]
    except KeyError:
        raise ValueError(f"no token estimate for provider {provider!r}; known: {', '.join(CHARS_PER_TOKEN)}") from None
    chars, media = _measure(request)
    return math.ceil(chars / ratio) + media * MEDIA_TOKENS


def _measure(value: Any) -> tuple[int, int]:
    """Characters of prompt text and the number of media parts in ``value``."""
    if isinstance(value, str):
        return len(value), 0
    chars = media = 0
    if isinstance(value, Mapping):
        for name, item in value.items():
            if name in NOT_PROMPT:
                continue
            if name in MEDIA and isinstance(item, Mapping | str):
                media += 1
                continue
            more, found = _measure(item)
            chars += more
            media += found
    elif isinstance(value, list):
        for item in value:
            more, found = _measure(item)
            chars += more
            media += found
    return chars, media


class InputEstimate:
    """Estimated input tokens over many requests: :meth:`add` each request body as it is validated."""

    __slots__ = ("provider", "requests", "tokens")

    def __init__(self, provider: str) -> None:
        estimate_input_tokens({}, provider)  # an unknown provider fails here, before any request
        self.provider = provider
        self.requests = 0
        self.tokens = 0

    def add(self, request: Any) -> int:
        """Count one request; its estimate is returned too (for a per-part budget)."""
        tokens = estimate_input_tokens(request, self.provider)
        self.requests += 1
        self.tokens += tokens
        return tokens
