"""Every stop, finish and block reason each provider's SDK lists lands as a user expects when the answer holds nothing
to use: a block or refusal is ``content_blocked``, the output limit ``output_limit``, an answer the model wrote
unparseably ``malformed_output`` (sent again by a follow-up round), any other ``no_answer``; never ``succeeded``. The
reasons are read from the SDKs installed, so one they add later fails here instead of landing unnoticed."""

from __future__ import annotations

import typing
from typing import Any

import botocore.loaders
import pytest
from anthropic.types import StopReason
from anthropic.types.beta import BetaStopReason
from google.genai import types as genai_types
from openai.types import completion_choice
from openai.types.chat import chat_completion
from openai.types.responses import response as responses_types
from openai.types.responses.response_status import ResponseStatus

from airflow_provider_genai_batch.formats import anthropic, bedrock, gateway, gemini, openai, vertex
from airflow_provider_genai_batch.formats.results import (
    CONTENT_BLOCKED,
    MALFORMED_OUTPUT,
    NO_ANSWER,
    OUTPUT_LIMIT,
    ResultRow,
    RowStatus,
)
from airflow_provider_genai_batch.retryable import is_retryable


def literal_values(annotation: Any) -> list[str]:
    """The strings of a ``Literal`` (inside an ``Optional`` too), as an SDK types a field."""
    values: list[str] = []
    for arg in typing.get_args(annotation):
        if isinstance(arg, str):
            values.append(arg)
        elif arg is not type(None):
            values.extend(literal_values(arg))
    return values


GEMINI_FINISH = [reason.value for reason in genai_types.FinishReason]
GEMINI_BLOCKED = [reason.value for reason in genai_types.BlockedReason]
CHAT_FINISH = literal_values(chat_completion.Choice.model_fields["finish_reason"].annotation)
COMPLETION_FINISH = literal_values(completion_choice.CompletionChoice.model_fields["finish_reason"].annotation)
RESPONSES_INCOMPLETE = literal_values(responses_types.IncompleteDetails.model_fields["reason"].annotation)
RESPONSES_STATUS = literal_values(ResponseStatus)
ANTHROPIC_STOP = sorted({*literal_values(StopReason), *literal_values(BetaStopReason)})
CONVERSE_STOP = botocore.loaders.Loader().load_service_model("bedrock-runtime", "service-2")["shapes"]["StopReason"][
    "enum"
]

RETRIED = {CONTENT_BLOCKED: False, OUTPUT_LIMIT: False, NO_ANSWER: False, MALFORMED_OUTPUT: True}
"""Whether a follow-up round sends a row of each kind again."""


def gemini_kind(reason: str) -> str:
    if reason in ("MAX_TOKENS", "CONTINUATION"):
        return OUTPUT_LIMIT
    if reason in ("MALFORMED_FUNCTION_CALL", "MALFORMED_RESPONSE", "UNEXPECTED_TOOL_CALL"):
        return MALFORMED_OUTPUT
    if reason in (
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
        "LANGUAGE",
        "ESCALATION",
        "PUP_LIMITED_DISABLED",
        "MODEL_ARMOR",
    ):
        return CONTENT_BLOCKED
    return NO_ANSWER


def openai_kind(reason: str) -> str:
    return {"length": OUTPUT_LIMIT, "max_output_tokens": OUTPUT_LIMIT, "content_filter": CONTENT_BLOCKED}.get(
        reason, NO_ANSWER
    )


def anthropic_kind(reason: str) -> str:
    return {
        "refusal": CONTENT_BLOCKED,
        "max_tokens": OUTPUT_LIMIT,
        "model_context_window_exceeded": OUTPUT_LIMIT,
    }.get(reason, NO_ANSWER)


def converse_kind(reason: str) -> str:
    return {
        "content_filtered": CONTENT_BLOCKED,
        "guardrail_intervened": CONTENT_BLOCKED,
        "max_tokens": OUTPUT_LIMIT,
        "model_context_window_exceeded": OUTPUT_LIMIT,
        "malformed_model_output": MALFORMED_OUTPUT,
        "malformed_tool_use": MALFORMED_OUTPUT,
    }.get(reason, NO_ANSWER)


def assert_failed_as(row: ResultRow, kind: str, reason: str, response: Any) -> None:
    """The row is a failed one of ``kind``, naming ``reason``, keeping the response, retried only as ``kind`` is."""
    assert (row.key, row.status, row.text) == ("k", RowStatus.FAILED, None)
    assert row.error is not None
    assert (row.error.code, row.error.status) == (kind, reason)
    assert reason in row.error.message
    assert row.response == response
    assert is_retryable(row) is RETRIED[kind]


# --- every reason is one the code knows -------------------------------------------------------------------------


def test_every_gemini_finish_reason_is_classed_by_the_reader():
    known = (
        gemini.BLOCK_FINISH_REASONS
        | gemini.LIMIT_FINISH_REASONS
        | gemini.MALFORMED_FINISH_REASONS
        | gemini.UNANSWERED_FINISH_REASONS
    )
    assert set(GEMINI_FINISH) == known


def test_every_openai_finish_and_incomplete_reason_is_classed_by_the_reader():
    assert set(CHAT_FINISH) | set(COMPLETION_FINISH) == openai.FINISH_REASONS
    assert set(RESPONSES_INCOMPLETE) == openai.INCOMPLETE_REASONS


def test_every_anthropic_stop_reason_is_classed_by_the_reader():
    assert set(ANTHROPIC_STOP) == anthropic.STOP_REASONS


def test_every_converse_stop_reason_is_classed_by_the_reader():
    assert set(CONVERSE_STOP) == bedrock.CONVERSE_STOP_REASONS


# --- Gemini and Vertex AI ---------------------------------------------------------------------------------------


def thought_only(reason: str) -> dict[str, Any]:
    parts = [{"text": "thinking", "thought": True}]
    return {"candidates": [{"content": {"parts": parts, "role": "model"}, "finishReason": reason}]}


@pytest.mark.parametrize("reason", GEMINI_FINISH)
def test_a_gemini_candidate_of_nothing_but_thoughts_fails_by_its_finish_reason(reason: str):
    response = thought_only(reason)
    assert_failed_as(gemini.result_row({"key": "k", "response": response}), gemini_kind(reason), reason, response)


@pytest.mark.parametrize("reason", GEMINI_FINISH)
def test_a_vertex_candidate_of_nothing_but_thoughts_fails_by_its_finish_reason(reason: str):
    response = thought_only(reason)
    assert_failed_as(vertex.result_row({"key": "k", "response": response}), gemini_kind(reason), reason, response)


@pytest.mark.parametrize("reason", GEMINI_FINISH)
def test_a_gemini_candidate_with_text_is_a_success_whatever_its_finish_reason(reason: str):
    response = {"candidates": [{"content": {"parts": [{"text": "some"}]}, "finishReason": reason}]}
    row = gemini.result_row({"key": "k", "response": response})
    assert (row.status, row.text, row.error) == (RowStatus.SUCCEEDED, "some", None)


@pytest.mark.parametrize("reason", GEMINI_FINISH)
def test_a_gemini_function_call_is_a_success_without_text_whatever_its_finish_reason(reason: str):
    call = {"functionCall": {"name": "f", "args": {}}}
    response = {"candidates": [{"content": {"parts": [call]}, "finishReason": reason}]}
    row = gemini.result_row({"key": "k", "response": response})
    assert (row.status, row.text, row.error) == (RowStatus.SUCCEEDED, None, None)


@pytest.mark.parametrize("reason", GEMINI_BLOCKED)
def test_a_gemini_prompt_blocked_for_any_reason_is_a_blocked_row(reason: str):
    response = {"promptFeedback": {"blockReason": reason}}
    assert_failed_as(gemini.result_row({"key": "k", "response": response}), CONTENT_BLOCKED, reason, response)


def test_a_gemini_response_without_candidates_or_block_reason_is_a_no_answer_row():
    response = {"usageMetadata": {"promptTokenCount": 4}, "modelVersion": "gemini-2.5-flash"}
    row = gemini.result_row({"key": "k", "response": response})

    assert (row.status, row.response, row.error.code, row.error.status) == (RowStatus.FAILED, response, NO_ANSWER, None)
    assert row.error.message == "the response holds no candidate and no block reason"


@pytest.mark.parametrize("reason", GEMINI_FINISH)
def test_a_gateway_gemini_result_without_text_fails_by_its_finish_reason(reason: str):
    body = {"finish_reason": reason}
    row = gateway.result_row({"custom_id": "k", "response": {"status_code": 200, "body": body}}, "gemini")
    assert_failed_as(row, gemini_kind(reason), reason, body)


# --- OpenAI ------------------------------------------------------------------------------------------------------


def openai_line(body: dict[str, Any]) -> dict[str, Any]:
    return {"custom_id": "k", "response": {"status_code": 200, "body": body}, "error": None}


@pytest.mark.parametrize("reason", CHAT_FINISH)
def test_a_chat_choice_without_content_or_call_fails_by_its_finish_reason(reason: str):
    body = {
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": None}, "finish_reason": reason}],
    }
    assert_failed_as(openai.result_row(openai_line(body)), openai_kind(reason), reason, body)


@pytest.mark.parametrize("reason", CHAT_FINISH)
def test_a_chat_choice_with_an_empty_text_is_a_success_unless_filtered_or_cut_off(reason: str):
    body = {"choices": [{"index": 0, "message": {"role": "assistant", "content": ""}, "finish_reason": reason}]}
    row = openai.result_row(openai_line(body))
    if openai_kind(reason) == NO_ANSWER:
        assert (row.status, row.text) == (RowStatus.SUCCEEDED, "")
    else:
        assert_failed_as(row, openai_kind(reason), reason, body)


@pytest.mark.parametrize("reason", COMPLETION_FINISH)
def test_a_legacy_completion_without_text_fails_by_its_finish_reason(reason: str):
    body = {"object": "text_completion", "choices": [{"index": 0, "text": None, "finish_reason": reason}]}
    assert_failed_as(openai.result_row(openai_line(body)), openai_kind(reason), reason, body)


@pytest.mark.parametrize("reason", RESPONSES_INCOMPLETE)
def test_an_incomplete_responses_answer_without_output_fails_by_its_reason(reason: str):
    body = {"object": "response", "status": "incomplete", "incomplete_details": {"reason": reason}, "output": []}
    assert_failed_as(openai.result_row(openai_line(body)), openai_kind(reason), reason, body)


@pytest.mark.parametrize("status", [status for status in RESPONSES_STATUS if status != "failed"])
def test_a_responses_answer_without_output_fails_naming_its_status(status: str):
    body = {"object": "response", "status": status, "output": [{"type": "reasoning", "summary": []}]}
    assert_failed_as(openai.result_row(openai_line(body)), NO_ANSWER, status, body)


def test_a_responses_function_call_is_a_success_without_text():
    call = {"type": "function_call", "name": "f", "arguments": "{}", "call_id": "c"}
    body = {"object": "response", "status": "completed", "output": [call]}
    row = openai.result_row(openai_line(body))
    assert (row.status, row.text, row.error) == (RowStatus.SUCCEEDED, None, None)


@pytest.mark.parametrize(
    "body",
    [
        {"created": 1, "data": [{"b64_json": "aW1hZ2U="}]},
        {"id": "modr-1", "model": "omni-moderation-latest", "results": [{"flagged": False}]},
    ],
    ids=["image", "moderation"],
)
def test_an_answer_of_an_endpoint_that_gives_no_text_lands_as_it_came(body: dict[str, Any]):
    row = openai.result_row(openai_line(body))
    assert (row.status, row.text, row.embedding, row.response) == (RowStatus.SUCCEEDED, None, None, body)


# --- Anthropic and Bedrock InvokeModel (Anthropic) -------------------------------------------------------------


def anthropic_message(reason: str, *blocks: dict[str, Any]) -> dict[str, Any]:
    return {"type": "message", "role": "assistant", "content": list(blocks), "stop_reason": reason}


SERVER_TOOL_TURN = (
    {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "q"}},
    {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
)
"""What a turn paused by a server tool's loop holds: a search and its results, no text."""


@pytest.mark.parametrize("reason", ANTHROPIC_STOP)
def test_an_anthropic_message_without_text_or_tool_call_fails_by_its_stop_reason(reason: str):
    message = anthropic_message(reason, {"type": "thinking", "thinking": "…", "signature": "s"}, *SERVER_TOOL_TURN)
    row = anthropic.result_row({"custom_id": "k", "result": {"type": "succeeded", "message": message}})
    assert_failed_as(row, anthropic_kind(reason), reason, message)


@pytest.mark.parametrize("reason", ANTHROPIC_STOP)
def test_a_bedrock_anthropic_body_without_text_or_tool_call_fails_by_its_stop_reason(reason: str):
    message = anthropic_message(reason, *SERVER_TOOL_TURN)
    assert_failed_as(
        bedrock.result_row({"recordId": "k", "modelOutput": message}), anthropic_kind(reason), reason, message
    )


@pytest.mark.parametrize("reason", [reason for reason in ANTHROPIC_STOP if reason != "refusal"])
def test_an_anthropic_tool_call_is_a_success_without_text_whatever_its_stop_reason(reason: str):
    message = anthropic_message(reason, {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}})
    row = anthropic.result_row({"custom_id": "k", "result": {"type": "succeeded", "message": message}})
    assert (row.status, row.text, row.error) == (RowStatus.SUCCEEDED, None, None)


def test_a_paused_turn_says_a_batch_cannot_send_it_back_and_is_not_sent_again():
    message = anthropic_message("pause_turn", *SERVER_TOOL_TURN)
    row = anthropic.result_row({"custom_id": "k", "result": {"type": "succeeded", "message": message}})

    assert row.error is not None
    assert row.error.message == (
        "the turn was paused: stop_reason pause_turn (a server tool's loop stopped before an answer), and it holds no "
        "text and no tool call; a batch cannot send it back to go on"
    )
    assert not is_retryable(row)


# --- Bedrock Converse --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("reason", CONVERSE_STOP)
def test_a_converse_answer_without_text_or_tool_call_fails_by_its_stop_reason(reason: str):
    output = {
        "output": {
            "message": {"role": "assistant", "content": [{"reasoningContent": {"reasoningText": {"text": "…"}}}]}
        },
        "stopReason": reason,
        "usage": {"inputTokens": 5, "outputTokens": 9, "totalTokens": 14},
    }
    assert_failed_as(
        bedrock.result_row({"recordId": "k", "modelOutput": output}), converse_kind(reason), reason, output
    )


@pytest.mark.parametrize("reason", ["malformed_model_output", "malformed_tool_use"])
def test_a_malformed_converse_answer_is_sent_again_by_a_follow_up_round(reason: str):
    output = {"output": {"message": {"role": "assistant", "content": []}}, "stopReason": reason}
    row = bedrock.result_row({"recordId": "k", "modelOutput": output})

    assert row.error is not None
    assert row.error.message == (
        f"the model wrote an answer Bedrock could not parse: stopReason {reason}, and it holds no text"
    )
    assert is_retryable(row)


@pytest.mark.parametrize(
    ("body", "kind", "reason"),
    [
        (
            {"inputTextTokenCount": 3, "results": [{"tokenCount": 0, "completionReason": "CONTENT_FILTERED"}]},
            CONTENT_BLOCKED,
            "CONTENT_FILTERED",
        ),
        (
            {"inputTextTokenCount": 3, "results": [{"tokenCount": 0, "completionReason": "FINISHED"}]},
            NO_ANSWER,
            "FINISHED",
        ),
        ({"outputs": [{"stop_reason": "stop"}]}, NO_ANSWER, "stop"),
    ],
    ids=["titan-filtered", "titan-finished", "mistral-stop"],
)
def test_a_titan_or_mistral_body_without_text_fails_by_its_reason(body: dict[str, Any], kind: str, reason: str):
    assert_failed_as(bedrock.result_row({"recordId": "k", "modelOutput": body}), kind, reason, body)
