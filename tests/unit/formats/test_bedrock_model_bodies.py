"""Bedrock InvokeModel output bodies of the model families batch inference runs, as AWS documents each one: the
row lands the family's text (or embedding), its token counts where the body carries them, and the failure code
of an answer cut off, filtered or empty."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_genai_batch.formats.bedrock import result_row
from airflow_provider_genai_batch.formats.results import (
    CONTENT_BLOCKED,
    NO_ANSWER,
    OUTPUT_LIMIT,
    ResultRow,
    RowStatus,
    Usage,
)


def landed(output: dict[str, Any]) -> ResultRow:
    return result_row({"recordId": "r1", "modelInput": {}, "modelOutput": output})


COHERE_COMMAND_R = {
    "response_id": "3f7a4b53-3a4c-4b6c-b4f4-0b5a6c5e0b1d",
    "text": "Paris is the capital of France.",
    "generation_id": "c6a4d7e0-7c07-4b1e-9d24-2a1f0e0b2a55",
    "chat_history": [
        {"role": "USER", "message": "What is the capital of France?"},
        {"role": "CHATBOT", "message": "Paris is the capital of France."},
    ],
    "finish_reason": "COMPLETE",
    "meta": {"api_version": {"version": "1"}, "billed_units": {"input_tokens": 7, "output_tokens": 8}},
}
JAMBA = {
    "id": "chatcmpl-8b2f0c2e-0f0d-4a36-9b7e-1e3e9e0b6e51",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Paris.", "tool_calls": None},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 16, "completion_tokens": 3, "total_tokens": 19},
    "meta": {"requestDurationMillis": 212},
    "model": "jamba-1.5-mini",
}
DEEPSEEK_R1 = {"choices": [{"text": "<think>France.</think>\n\nParis.", "stop_reason": "stop"}]}
GPT_OSS = {
    "choices": [
        {
            "finish_reason": "stop",
            "index": 0,
            "message": {"content": "<reasoning>France.</reasoning>Paris.", "role": "assistant"},
        }
    ],
    "created": 1754423962,
    "id": "chatcmpl-6a01b0bd0d1a4b0c8e0f1d2a3b4c5d6e",
    "model": "openai.gpt-oss-20b-1:0",
    "object": "chat.completion",
    "service_tier": "default",
    "system_fingerprint": "fp",
    "usage": {"completion_tokens": 12, "prompt_tokens": 20, "total_tokens": 32},
}
MISTRAL_CHAT = {
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Paris.", "tool_calls": None},
            "stop_reason": "stop",
        }
    ]
}


def test_a_cohere_command_r_body_lands_its_text_and_billed_units():
    row = landed(COHERE_COMMAND_R)
    assert (row.status, row.text) == (RowStatus.SUCCEEDED, "Paris is the capital of France.")
    assert row.usage == Usage(input_tokens=7, output_tokens=8, total_tokens=15)


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        ("MAX_TOKENS", OUTPUT_LIMIT),
        ("ERROR_LIMIT", OUTPUT_LIMIT),
        ("ERROR_TOXIC", CONTENT_BLOCKED),
        ("ERROR", NO_ANSWER),
    ],
)
def test_a_cohere_command_r_body_without_text_fails_with_its_finish_reason(reason, code):
    row = landed({**COHERE_COMMAND_R, "text": "", "finish_reason": reason})
    assert (row.status, row.error.code, row.error.status) == (RowStatus.FAILED, code, reason)
    assert row.usage == Usage(input_tokens=7, output_tokens=8, total_tokens=15)


def test_a_cohere_command_r_body_that_calls_a_tool_lands_without_text():
    call = [{"name": "weather", "parameters": {"city": "Paris"}}]
    row = landed({**COHERE_COMMAND_R, "text": "", "finish_reason": "COMPLETE", "tool_calls": call})
    assert (row.status, row.text) == (RowStatus.SUCCEEDED, "")


def test_an_ai21_jamba_body_lands_its_message_content_and_usage():
    row = landed(JAMBA)
    assert (row.status, row.text) == (RowStatus.SUCCEEDED, "Paris.")
    assert row.usage == Usage(input_tokens=16, output_tokens=3, total_tokens=19)


def test_an_ai21_jamba_body_cut_off_before_any_text_is_an_output_limit_row():
    choice = {"index": 0, "message": {"role": "assistant", "content": None}, "finish_reason": "length"}
    row = landed({**JAMBA, "choices": [choice]})
    assert (row.status, row.error.code, row.error.status) == (RowStatus.FAILED, OUTPUT_LIMIT, "length")


def test_a_deepseek_r1_body_lands_its_choice_text_without_usage():
    row = landed(DEEPSEEK_R1)
    assert (row.status, row.text, row.usage) == (RowStatus.SUCCEEDED, "<think>France.</think>\n\nParis.", None)


def test_a_deepseek_r1_body_cut_off_before_any_text_is_an_output_limit_row():
    row = landed({"choices": [{"text": "", "stop_reason": "length"}]})
    assert (row.status, row.error.code, row.error.status) == (RowStatus.FAILED, OUTPUT_LIMIT, "length")


def test_an_openai_gpt_oss_body_lands_its_message_content_and_usage():
    row = landed(GPT_OSS)
    assert (row.status, row.text) == (RowStatus.SUCCEEDED, "<reasoning>France.</reasoning>Paris.")
    assert row.usage == Usage(input_tokens=20, output_tokens=12, total_tokens=32)


def test_an_openai_gpt_oss_body_whose_answer_was_filtered_is_a_blocked_row():
    choice = {"finish_reason": "content_filter", "index": 0, "message": {"content": None, "role": "assistant"}}
    row = landed({**GPT_OSS, "choices": [choice]})
    assert (row.status, row.error.code, row.error.status) == (RowStatus.FAILED, CONTENT_BLOCKED, "content_filter")
    assert row.usage == Usage(input_tokens=20, output_tokens=12, total_tokens=32)


def test_a_mistral_chat_completion_body_lands_its_message_content():
    row = landed(MISTRAL_CHAT)
    assert (row.status, row.text, row.usage) == (RowStatus.SUCCEEDED, "Paris.", None)


def test_a_mistral_chat_completion_body_that_calls_a_tool_lands_without_text():
    call = {"id": "abc123XYZ", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}
    choice = {
        "index": 0,
        "message": {"role": "assistant", "content": "", "tool_calls": [call]},
        "stop_reason": "tool_calls",
    }
    row = landed({"choices": [choice]})
    assert (row.status, row.text) == (RowStatus.SUCCEEDED, "")


def test_a_chat_completion_body_with_no_choice_is_a_no_answer_row():
    row = landed({"choices": []})
    assert (row.status, row.error.code) == (RowStatus.FAILED, NO_ANSWER)


def test_a_cohere_embed_body_lands_its_one_embedding():
    output = {
        "embeddings": [[0.0186, -0.0322, 0.5]],
        "id": "0b8f8b1c-6bd3-4f4e-93b1-1c1b5f0c9a70",
        "response_type": "embeddings_floats",
        "texts": ["hello world"],
    }
    row = landed(output)
    assert (row.status, row.text, row.embedding) == (RowStatus.SUCCEEDED, None, [0.0186, -0.0322, 0.5])


def test_a_cohere_embed_body_by_type_lands_its_float_embedding():
    output = {
        "embeddings": {"float": [[0.25, -1]], "int8": [[12, -100]]},
        "id": "0b8f8b1c-6bd3-4f4e-93b1-1c1b5f0c9a70",
        "response_type": "embeddings_by_type",
        "texts": ["hello world"],
    }
    assert landed(output).embedding == [0.25, -1]


def test_a_nova_multimodal_embeddings_body_lands_its_embedding():
    output = {"embeddings": [{"embeddingType": "TEXT", "embedding": [0.5, -0.125]}]}
    row = landed(output)
    assert (row.status, row.embedding) == (RowStatus.SUCCEEDED, [0.5, -0.125])


def test_an_embeddings_body_of_several_vectors_is_unreadable_naming_the_count():
    with pytest.raises(ValueError, match="holds 2 embeddings"):
        landed({"embeddings": [[0.5], [0.25]], "response_type": "embeddings_floats"})


def test_an_embeddings_body_by_type_whose_floats_are_no_list_is_unreadable():
    with pytest.raises(ValueError, match=r"modelOutput.embeddings.float must be a list of embeddings, got string"):
        landed({"embeddings": {"float": "0.5"}, "response_type": "embeddings_by_type"})
