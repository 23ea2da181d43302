"""Requests sent inline are held to the provider's inline limit as the create body that carries them: each
request as the hook wraps it, the separators, and the envelope (a display name of the longest length the
hooks send), not as the JSONL lines they are spooled as. The limits are lowered so that a few requests cross
them."""

from __future__ import annotations

import itertools
import json
from typing import Any, ClassVar

import pytest

from airflow_provider_genai_batch.errors import InputValidationError
from airflow_provider_genai_batch.formats import gemini
from airflow_provider_genai_batch.formats.anthropic import AnthropicDialect
from airflow_provider_genai_batch.formats.dialect import ProviderLimits
from airflow_provider_genai_batch.formats.gemini import GeminiDialect
from airflow_provider_genai_batch.hooks.anthropic import RequestsBody
from airflow_provider_genai_batch.idempotency import DISPLAY_NAME_MAX
from airflow_provider_genai_batch.inputs import PreparedInput, prepare_input
from airflow_provider_genai_batch.parts import SplitLimits

LIMIT = 3_000
KEYS = [f"ticket-{i:02d}" for i in range(12)]
REQUESTS = [
    {"key": key, "request": {"contents": [{"role": "user", "parts": [{"text": f"Summarise {key}: " + "é" * 80}]}]}}
    for key in KEYS
]


class SmallAnthropicDialect(AnthropicDialect):
    limits: ClassVar[ProviderLimits] = AnthropicDialect.limits.model_copy(update={"max_inline_bytes": LIMIT})


class SmallGeminiDialect(GeminiDialect):
    limits: ClassVar[ProviderLimits] = GeminiDialect.limits.model_copy(update={"max_inline_bytes": LIMIT})


def anthropic_body(requests: list[dict[str, Any]]) -> bytes:
    """The Message Batches create body, as the Anthropic hook streams it."""
    return b"".join(RequestsBody(requests))


def gemini_body(lines: list[dict[str, Any]]) -> bytes:
    """The ``batchGenerateContent`` body as the Gemini hook sends it (httpx's JSON), under the longest name."""
    batch = {
        "displayName": "n" * DISPLAY_NAME_MAX,
        "inputConfig": {"requests": {"requests": [gemini.inline_request(line) for line in lines]}},
    }
    return json.dumps({"batch": batch}, ensure_ascii=False, separators=(",", ":")).encode()


def inline_parts(prepared: PreparedInput) -> list[list[dict[str, Any]]]:
    parts = [list(part.inline or []) for part in prepared.parts]
    assert all(part.inline is not None for part in prepared.parts)
    prepared.cleanup()
    return parts


def test_anthropic_parts_are_cut_so_that_each_create_body_is_within_the_limit():
    prepared = prepare_input(
        REQUESTS, SmallAnthropicDialect(), model="claude-sonnet-4-5", embeddings=False, split=SplitLimits()
    )

    parts = inline_parts(prepared)

    assert len(parts) > 1
    assert all(len(anthropic_body(part)) <= LIMIT for part in parts)
    # Cut only where the next request would take the body to the limit (the envelope is counted as the 15 bytes
    # of an empty body, one more than a body of requests adds: the first request has no comma before it).
    assert all(len(anthropic_body([*part, after[0]])) >= LIMIT for part, after in itertools.pairwise(parts))
    assert [request["custom_id"] for part in parts for request in part] == KEYS


def test_gemini_inline_parts_are_cut_so_that_each_create_body_is_within_the_limit():
    class FileLessGemini(SmallGeminiDialect):
        capabilities = GeminiDialect.capabilities.model_copy(update={"file_input": False})

    prepared = prepare_input(
        REQUESTS, FileLessGemini(), model="gemini-2.5-flash", embeddings=False, split=SplitLimits()
    )

    parts = inline_parts(prepared)

    assert len(parts) > 1
    assert all(len(gemini_body(part)) <= LIMIT for part in parts)
    assert [line["key"] for part in parts for line in part] == KEYS


def test_a_gemini_list_whose_lines_fit_the_inline_limit_but_whose_body_does_not_is_uploaded_as_a_file():
    lines = REQUESTS[:11]
    line_bytes = sum(len(json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode()) + 1 for line in lines)
    assert line_bytes <= LIMIT < len(gemini_body(lines))

    prepared = prepare_input(lines, SmallGeminiDialect(), model="gemini-2.5-flash", embeddings=False)

    assert prepared.inline is None
    assert prepared.upload_source is not None
    prepared.cleanup()


def test_an_anthropic_input_whose_body_would_be_over_the_limit_is_refused_without_split():
    class ExactAnthropic(AnthropicDialect):
        limits: ClassVar[ProviderLimits] = AnthropicDialect.limits.model_copy(update={"max_inline_bytes": 10**6})

    measured = prepare_input(REQUESTS, ExactAnthropic(), model="claude-sonnet-4-5", embeddings=False)
    line_bytes = measured.summary.total_bytes
    measured.cleanup()

    class TightAnthropic(AnthropicDialect):
        limits: ClassVar[ProviderLimits] = AnthropicDialect.limits.model_copy(update={"max_inline_bytes": line_bytes})

    with pytest.raises(InputValidationError, match=r"over the [\d,]+ bytes one anthropic batch takes inline"):
        prepare_input(REQUESTS, TightAnthropic(), model="claude-sonnet-4-5", embeddings=False)
