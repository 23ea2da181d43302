"""The input-token estimate of a request from its text: characters over a per-provider ratio, media at a flat count."""

from __future__ import annotations

import pytest

from airflow_provider_genai_batch.token_estimate import MEDIA_TOKENS, InputEstimate, estimate_input_tokens


def test_a_gemini_line_counts_its_prompt_text_at_four_characters_a_token() -> None:
    line = {"key": "request-1", "request": {"contents": [{"role": "user", "parts": [{"text": "x" * 40}]}]}}
    assert estimate_input_tokens(line, "gemini") == 10


def test_an_openai_line_counts_messages_and_not_its_id_method_url_or_model() -> None:
    line = {
        "custom_id": "a-very-long-custom-id-that-is-not-prompt",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {
            "model": "gpt-4o-mini",
            "messages": [{"role": "system", "content": "abcd"}, {"role": "user", "content": "efghi"}],
        },
    }
    assert estimate_input_tokens(line, "openai") == 3


def test_anthropic_text_is_counted_at_three_and_a_half_characters_a_token() -> None:
    params = {
        "model": "claude-haiku-4-5",
        "max_tokens": 64,
        "system": "s" * 7,
        "messages": [{"role": "user", "content": "u" * 7}],
    }
    assert estimate_input_tokens(params, "anthropic") == 4


def test_an_inline_image_counts_as_one_media_part_whatever_its_size() -> None:
    parts = [{"text": "describe"}, {"inlineData": {"mimeType": "image/png", "data": "A" * 100_000}}]
    line = {"key": "k", "request": {"contents": [{"role": "user", "parts": parts}]}}
    assert estimate_input_tokens(line, "gemini") == 2 + MEDIA_TOKENS


def test_an_unknown_provider_is_refused_before_any_request() -> None:
    with pytest.raises(ValueError, match="'mistral'"):
        InputEstimate("mistral")


def test_the_running_estimate_adds_up_requests_and_tokens() -> None:
    estimate = InputEstimate("gemini")
    assert estimate.add({"request": {"contents": [{"parts": [{"text": "abcdefgh"}]}]}}) == 2
    estimate.add({"request": {"contents": [{"parts": [{"text": "abcd"}]}]}})
    assert (estimate.requests, estimate.tokens) == (2, 3)
