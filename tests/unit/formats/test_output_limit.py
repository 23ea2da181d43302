"""An answer that reached the output token limit before it gave any text is a failed ``output_limit`` row, kept with
its response and usage and never sent again; one that gave text, or made a call, before the limit is a success."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_genai_batch.formats import anthropic, bedrock, gateway, gemini, openai, vertex
from airflow_provider_genai_batch.formats.results import OUTPUT_LIMIT, ResultRow, RowStatus, Usage
from airflow_provider_genai_batch.retryable import is_retryable
from airflow_provider_genai_batch.testing.emulator.gateway.targets import gemini_result_item

THOUGHTS_ONLY = {
    "candidates": [
        {"content": {"role": "model", "parts": [{"text": "planning", "thought": True}]}, "finishReason": "MAX_TOKENS"}
    ],
    "usageMetadata": {"promptTokenCount": 9, "thoughtsTokenCount": 64, "totalTokenCount": 73},
}
CHAT_CUT = {
    "object": "chat.completion",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": ""}, "finish_reason": "length"}],
    "usage": {"prompt_tokens": 9, "completion_tokens": 64, "total_tokens": 73},
}
RESPONSES_CUT = {
    "object": "response",
    "status": "incomplete",
    "incomplete_details": {"reason": "max_output_tokens"},
    "output": [{"type": "reasoning", "summary": []}],
    "usage": {"input_tokens": 9, "output_tokens": 64, "total_tokens": 73},
}
MESSAGE_CUT = {
    "type": "message",
    "content": [{"type": "thinking", "thinking": "planning", "signature": "s"}],
    "stop_reason": "max_tokens",
    "usage": {"input_tokens": 9, "output_tokens": 64},
}
CONVERSE_CUT = {
    "output": {"message": {"role": "assistant", "content": [{"reasoningContent": {"reasoningText": {"text": "p"}}}]}},
    "stopReason": "max_tokens",
    "usage": {"inputTokens": 9, "outputTokens": 64, "totalTokens": 73},
}


def succeeded(message: dict[str, Any]) -> dict[str, Any]:
    return {"custom_id": "k", "result": {"type": "succeeded", "message": message}}


def answered(body: dict[str, Any]) -> dict[str, Any]:
    return {"custom_id": "k", "response": {"status_code": 200, "body": body}}


CUT_ROWS = {
    "gemini": lambda: gemini.result_row({"key": "k", "response": THOUGHTS_ONLY}),
    "vertex": lambda: vertex.result_row({"key": "k", "response": THOUGHTS_ONLY, "status": ""}),
    "openai-chat": lambda: openai.result_row(answered(CHAT_CUT)),
    "openai-responses": lambda: openai.result_row(answered(RESPONSES_CUT)),
    "anthropic": lambda: anthropic.result_row(succeeded(MESSAGE_CUT)),
    "bedrock-invoke-model": lambda: bedrock.result_row({"recordId": "k", "modelOutput": MESSAGE_CUT}),
    "bedrock-converse": lambda: bedrock.result_row({"recordId": "k", "modelOutput": CONVERSE_CUT}),
    "bedrock-llama": lambda: bedrock.result_row(
        {"recordId": "k", "modelOutput": {"generation": "", "prompt_token_count": 9, "stop_reason": "length"}}
    ),
    "gateway-gemini": lambda: gateway.result_row(
        gemini_result_item({"key": "k", "response": {"candidates": [{"finishReason": "MAX_TOKENS"}]}}, "request-0"),
        "gemini",
    ),
    "gateway-openai": lambda: gateway.result_row(answered(CHAT_CUT), "openai"),
    "gateway-anthropic": lambda: gateway.result_row(succeeded(MESSAGE_CUT), "anthropic"),
}


@pytest.mark.parametrize("make", CUT_ROWS.values(), ids=CUT_ROWS.keys())
def test_an_answer_cut_off_by_the_output_limit_before_any_text_is_a_failed_output_limit_row(make: Any) -> None:
    row: ResultRow = make()
    assert (row.key, row.status, row.text, row.error.code) == ("k", RowStatus.FAILED, None, OUTPUT_LIMIT)
    assert "reached the output token limit" in row.error.message
    assert "larger output token limit" in row.error.message
    assert row.response is not None


@pytest.mark.parametrize("make", CUT_ROWS.values(), ids=CUT_ROWS.keys())
def test_an_output_limit_row_is_never_sent_again(make: Any) -> None:
    assert not is_retryable(make())


def test_an_output_limit_row_names_the_providers_reason_and_keeps_the_billed_usage() -> None:
    row = gemini.result_row({"key": "k", "response": THOUGHTS_ONLY})
    assert row.error.status == "MAX_TOKENS"
    assert row.error.message.startswith("the answer reached the output token limit: finishReason MAX_TOKENS")
    assert row.usage == Usage(input_tokens=9, output_tokens=64, total_tokens=73)


def test_an_answer_cut_off_after_some_text_is_a_success_with_that_text() -> None:
    response = {"candidates": [{"content": {"parts": [{"text": "Par"}]}, "finishReason": "MAX_TOKENS"}]}
    row = gemini.result_row({"key": "k", "response": response})
    assert (row.status, row.text) == (RowStatus.SUCCEEDED, "Par")


def test_a_tool_call_cut_off_by_the_output_limit_is_a_success() -> None:
    message = {**MESSAGE_CUT, "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}]}
    assert anthropic.result_row(succeeded(message)).status is RowStatus.SUCCEEDED


def test_an_openai_tool_call_cut_off_by_the_output_limit_is_a_success() -> None:
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{"}}
    body = {**CHAT_CUT, "choices": [{"message": {"content": None, "tool_calls": [call]}, "finish_reason": "length"}]}
    assert openai.result_row(answered(body)).status is RowStatus.SUCCEEDED


CONTEXT_CUT = {**MESSAGE_CUT, "stop_reason": "model_context_window_exceeded"}
CONVERSE_CONTEXT_CUT = {**CONVERSE_CUT, "stopReason": "model_context_window_exceeded"}
CONTEXT_ROWS = {
    "anthropic": lambda: anthropic.result_row(succeeded(CONTEXT_CUT)),
    "bedrock-invoke-model": lambda: bedrock.result_row({"recordId": "k", "modelOutput": CONTEXT_CUT}),
    "bedrock-converse": lambda: bedrock.result_row({"recordId": "k", "modelOutput": CONVERSE_CONTEXT_CUT}),
    "gateway-anthropic": lambda: gateway.result_row(succeeded(CONTEXT_CUT), "anthropic"),
}


@pytest.mark.parametrize("make", CONTEXT_ROWS.values(), ids=CONTEXT_ROWS.keys())
def test_an_answer_cut_off_by_the_context_window_before_any_text_is_a_failed_output_limit_row(make: Any) -> None:
    row: ResultRow = make()
    assert (row.key, row.status, row.text) == ("k", RowStatus.FAILED, None)
    assert (row.error.code, row.error.status) == (OUTPUT_LIMIT, "model_context_window_exceeded")
    assert row.response is not None
    assert row.usage == Usage(input_tokens=9, output_tokens=64, total_tokens=73)
    assert not is_retryable(row)


def test_a_context_window_row_says_a_shorter_prompt_not_a_larger_limit_is_what_helps() -> None:
    row = anthropic.result_row(succeeded(CONTEXT_CUT))
    assert row.error.message == (
        "the answer reached the model's context window: stop_reason model_context_window_exceeded, and it holds no "
        "text; send it again with a shorter prompt (or a smaller thinking budget)"
    )


def test_an_answer_cut_off_by_the_context_window_after_some_text_is_a_success_with_that_text() -> None:
    message = {**CONTEXT_CUT, "content": [{"type": "text", "text": "Par"}]}
    row = anthropic.result_row(succeeded(message))
    assert (row.status, row.text) == (RowStatus.SUCCEEDED, "Par")
