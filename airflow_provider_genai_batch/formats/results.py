"""The one result row shape every provider's output is normalised to, and its fast JSON encoding."""

from __future__ import annotations

import enum
from typing import Any

import msgspec


class RowStatus(str, enum.Enum):
    """Outcome of one input request."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    MISSING = "missing"


class Usage(msgspec.Struct, omit_defaults=True):
    """Token usage of one request, in provider-neutral names."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None


class RowError(msgspec.Struct, omit_defaults=True):
    """Why one request failed, as the provider said it."""

    message: str
    code: int | str | None = None
    status: str | None = None


class ResultRow(msgspec.Struct):
    """One line of the results JSONL: one per input key."""

    key: str | None
    status: RowStatus
    text: str | None = None
    embedding: list[float] | None = None
    response: Any = None
    error: RowError | None = None
    usage: Usage | None = None


_encoder = msgspec.json.Encoder()


def encode_row(row: ResultRow) -> bytes:
    """One JSONL line, newline included."""
    return _encoder.encode(row) + b"\n"
