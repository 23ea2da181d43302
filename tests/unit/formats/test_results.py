"""Result rows: Gemini result lines and inlined responses normalised to one row shape, one JSON line each.

The success line is the real one quoted in shared/reference/gemini.md §3.7 and the embedding response
the real inline capture of §3.3.
"""

from __future__ import annotations

import json

import msgspec
import pytest

from airflow_provider_genai_batch.formats.gemini import inline_responses, result_row
from airflow_provider_genai_batch.formats.results import (
    CONTENT_BLOCKED,
    NO_ANSWER,
    ResultRow,
    RowError,
    RowStatus,
    Usage,
    encode_row,
    placed_by_order,
)

REAL_SUCCESS_LINE = (
    '{"response":{"candidates":[{"content":{"parts":[{"text":"Company: ACME Corp. Total due: 1,250.00 EUR."},'
    '{"thoughtSignature":"El4KXAHIiAlV9bq1g7d0jT3xZt+ZNs0r2DN1"}],"role":"model"},"finishReason":"STOP","index":0}],'
    '"usageMetadata":{"promptTokenCount":1427,"candidatesTokenCount":144,"totalTokenCount":1571},'
    '"modelVersion":"gemini-2.5-flash","responseId":"Y2sRaO3hL5qNz7IPu9-x8QE"},"key":"00_COM.png"}'
)
REAL_EMBEDDING_RESPONSE = {
    "response": {"embedding": {"values": [0.0123, -0.0456, 0.0789]}, "usageMetadata": {"promptTokenCount": 81}},
    "metadata": {"key": "chunk-0007"},
}


def candidate(*parts: dict) -> dict:
    return {"candidates": [{"content": {"parts": list(parts), "role": "model"}, "finishReason": "STOP"}]}


# --- Gemini result lines -----------------------------------------------------------------------------


def test_real_success_line_gives_key_text_and_usage():
    line = json.loads(REAL_SUCCESS_LINE)
    row = result_row(line)
    assert row.key == "00_COM.png"
    assert row.status is RowStatus.SUCCEEDED
    assert row.text == "Company: ACME Corp. Total due: 1,250.00 EUR."
    assert row.usage == Usage(input_tokens=1427, output_tokens=144, total_tokens=1571)
    assert row.error is None
    assert row.embedding is None
    assert row.response == line["response"]


def test_a_rows_output_tokens_hold_its_thoughts_and_its_input_the_tool_use_prompt():
    meta = {
        "promptTokenCount": 100,
        "cachedContentTokenCount": 60,
        "toolUsePromptTokenCount": 20,
        "candidatesTokenCount": 30,
        "thoughtsTokenCount": 250,
        "totalTokenCount": 400,
    }
    row = result_row({"key": "k", "response": {**candidate({"text": "ok"}), "usageMetadata": meta}})
    assert row.usage == Usage(input_tokens=120, output_tokens=280, total_tokens=400)


def test_thought_parts_are_left_out_of_the_text():
    row = result_row(
        {
            "key": "k",
            "response": candidate(
                {"text": "Let me think about the invoice...", "thought": True},
                {"text": "Total: 3"},
            ),
        }
    )
    assert row.text == "Total: 3"


def test_text_parts_of_the_first_candidate_are_joined():
    response = candidate({"text": "Hello, "}, {"functionCall": {"name": "f", "args": {}}}, {"text": "world"})
    response["candidates"].append({"content": {"parts": [{"text": "second candidate"}]}})
    assert result_row({"key": "k", "response": response}).text == "Hello, world"


def test_a_candidate_of_thoughts_only_that_stopped_is_a_no_answer_row():
    row = result_row({"key": "k", "response": candidate({"text": "hmm", "thought": True})})
    assert (row.status, row.text, row.error.code, row.error.status) == (RowStatus.FAILED, None, NO_ANSWER, "STOP")


def test_a_blocked_prompt_is_a_failed_row_naming_the_block_reason_and_keeping_the_response():
    response = {
        "promptFeedback": {"blockReason": "PROHIBITED_CONTENT", "blockReasonMessage": "The prompt was blocked."},
        "usageMetadata": {"promptTokenCount": 9, "totalTokenCount": 9},
    }
    row = result_row({"key": "k", "response": response})

    assert (row.key, row.status, row.text) == ("k", RowStatus.FAILED, None)
    assert row.error == RowError(
        message="the prompt was blocked: promptFeedback.blockReason PROHIBITED_CONTENT (The prompt was blocked.)",
        code=CONTENT_BLOCKED,
        status="PROHIBITED_CONTENT",
    )
    assert (row.response, row.usage) == (response, Usage(input_tokens=9, total_tokens=9))


@pytest.mark.parametrize("reason", ["SAFETY", "RECITATION", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII"])
def test_a_candidate_a_filter_emptied_is_a_failed_row_naming_its_finish_reason(reason):
    response = {"candidates": [{"finishReason": reason, "index": 0, "safetyRatings": []}]}
    row = result_row({"metadata": {"key": "k"}, "response": response})

    assert (row.key, row.status, row.response) == ("k", RowStatus.FAILED, response)
    assert row.error == RowError(
        message=f"the answer was blocked: finishReason {reason}, and the candidate holds no content",
        code=CONTENT_BLOCKED,
        status=reason,
    )


def test_a_filtered_candidate_that_kept_its_text_is_a_success_with_that_text():
    response = {"candidates": [{"content": {"parts": [{"text": "The first verse"}]}, "finishReason": "RECITATION"}]}
    row = result_row({"key": "k", "response": response})
    assert (row.status, row.text) == (RowStatus.SUCCEEDED, "The first verse")


def test_a_filtered_candidate_holding_a_function_call_is_a_success():
    response = candidate({"functionCall": {"name": "f", "args": {}}})
    response["candidates"][0]["finishReason"] = "SAFETY"
    assert result_row({"key": "k", "response": response}).status is RowStatus.SUCCEEDED


def test_a_candidate_without_content_that_stopped_normally_is_a_no_answer_row_keeping_the_response():
    response = {"candidates": [{"finishReason": "STOP"}], "usageMetadata": {"promptTokenCount": 3}}
    row = result_row({"key": "k", "response": response})

    assert (row.status, row.text, row.response) == (RowStatus.FAILED, None, response)
    assert row.error == RowError(
        message="the answer holds nothing: finishReason STOP, and the candidate holds no text, call or other content",
        code=NO_ANSWER,
        status="STOP",
    )
    assert row.usage == Usage(input_tokens=3)


def test_a_candidate_holding_only_a_function_call_is_a_success_without_text():
    row = result_row({"key": "k", "response": candidate({"functionCall": {"name": "f", "args": {}}})})
    assert (row.status, row.text, row.error) == (RowStatus.SUCCEEDED, None, None)


def test_error_line_is_a_failed_row_with_code_and_message():
    line = {
        "key": "req-2",
        "error": {
            "code": 3,
            "message": "Request contains an invalid argument.",
            "status": "INVALID_ARGUMENT",
            "details": [],
        },
    }
    row = result_row(line)
    assert row.key == "req-2"
    assert row.status is RowStatus.FAILED
    assert row.error == RowError(message="Request contains an invalid argument.", code=3, status="INVALID_ARGUMENT")
    assert row.text is None
    assert row.usage is None


def test_status_spelling_of_a_failed_line_is_read_as_the_error():
    row = result_row({"status": {"code": 8, "message": "Resource exhausted."}, "key": "req-3"})
    assert row.status is RowStatus.FAILED
    assert row.error == RowError(message="Resource exhausted.", code=8)


def test_an_error_whose_message_is_null_has_an_empty_message_not_the_word_none():
    row = result_row({"key": "req-5", "error": {"code": 13, "message": None, "status": "INTERNAL"}})
    assert row.error == RowError(message="", code=13, status="INTERNAL")


def test_a_plain_string_status_is_the_error_message():
    row = result_row({"key": "req-4", "status": "Bad Request: model output was not valid JSON"})
    assert row.error == RowError(message="Bad Request: model output was not valid JSON")


@pytest.mark.parametrize(
    "line",
    [{"key": "k"}, {"key": "k", "response": None}, {"key": "k", "response": {}}, {"metadata": {"key": "k"}}],
    ids=["no-response", "null-response", "empty-response", "inline-without-response"],
)
def test_a_line_with_neither_a_response_nor_an_error_is_a_failed_row_not_a_success(line):
    row = result_row(line)

    assert (row.key, row.status) == ("k", RowStatus.FAILED)
    assert row.error == RowError(message="the result holds neither a response nor an error")


def test_inlined_response_key_comes_from_metadata():
    row = result_row({"metadata": {"key": "k7"}, "response": candidate({"text": "ok"})})
    assert (row.key, row.text) == ("k7", "ok")


def test_inlined_error_key_comes_from_metadata():
    row = result_row({"metadata": {"key": "k8"}, "error": {"code": 13, "message": "internal"}})
    assert (row.key, row.status, row.error.code) == ("k8", RowStatus.FAILED, 13)


def test_real_inline_embedding_response_gives_the_vector_and_prompt_tokens():
    row = result_row(REAL_EMBEDDING_RESPONSE)
    assert row.key == "chunk-0007"
    assert row.status is RowStatus.SUCCEEDED
    assert row.embedding == [0.0123, -0.0456, 0.0789]
    assert row.text is None
    assert row.usage == Usage(input_tokens=81)


def test_file_embedding_line_with_an_embeddings_list_takes_the_first_vector():
    row = result_row({"key": "e1", "response": {"embeddings": [{"values": [1.0, 2.0]}, {"values": [3.0]}]}})
    assert row.embedding == [1.0, 2.0]


def test_inline_rows_of_an_operation_come_in_input_order():
    op = {
        "name": "batches/i",
        "metadata": {
            "state": "BATCH_STATE_SUCCEEDED",
            "output": {
                "inlinedResponses": {
                    "inlinedResponses": [
                        {"metadata": {"key": "a"}, "response": candidate({"text": "A"})},
                        {"metadata": {"key": "b"}, "error": {"code": 3, "message": "bad"}},
                        REAL_EMBEDDING_RESPONSE,
                    ]
                }
            },
        },
    }
    rows = [result_row(item) for item in inline_responses(op)]
    assert [(r.key, r.status) for r in rows] == [
        ("a", RowStatus.SUCCEEDED),
        ("b", RowStatus.FAILED),
        ("chunk-0007", RowStatus.SUCCEEDED),
    ]


def test_inline_embedding_responses_are_read_under_either_output_field():
    for field in ("inlinedResponses", "inlinedEmbedContentResponses"):
        op = {"name": "batches/e", "metadata": {"output": {field: {"inlinedResponses": [REAL_EMBEDDING_RESPONSE]}}}}
        assert inline_responses(op) == [REAL_EMBEDDING_RESPONSE]


def test_rows_without_a_key_get_their_index_in_order_and_keyed_rows_none():
    rows = [ResultRow(key=None, status=RowStatus.SUCCEEDED), ResultRow(key="k", status=RowStatus.SUCCEEDED)]
    rows.append(ResultRow(key=None, status=RowStatus.FAILED))
    assert [row.position for row in placed_by_order(rows, 3, 3)] == [0, None, 2]


def test_rows_without_a_key_get_no_index_in_output_shorter_or_longer_than_the_requests():
    for requests in (2, 4):
        rows = [ResultRow(key="a", status=RowStatus.SUCCEEDED), ResultRow(key=None, status=RowStatus.SUCCEEDED)]
        rows.append(ResultRow(key=None, status=RowStatus.SUCCEEDED))
        assert [row.position for row in placed_by_order(rows, 3, requests)] == [None, None, None]


def test_operation_without_inline_output_has_no_inline_responses():
    assert inline_responses({"name": "batches/f", "metadata": {"output": {"responsesFile": "files/x"}}}) == []


# --- encoding ----------------------------------------------------------------------------------------


def test_encode_row_is_exactly_one_json_line():
    row = result_row(json.loads(REAL_SUCCESS_LINE))
    row.text = "line one\nline two"
    encoded = encode_row(row)
    assert encoded.endswith(b"\n")
    assert encoded.count(b"\n") == 1
    decoded = json.loads(encoded)
    assert decoded["key"] == "00_COM.png"
    assert decoded["status"] == "succeeded"
    assert decoded["text"] == "line one\nline two"
    assert decoded["usage"] == {"input_tokens": 1427, "output_tokens": 144, "total_tokens": 1571}
    assert decoded["response"]["usageMetadata"]["totalTokenCount"] == 1571


def test_encoded_usage_and_error_omit_unset_fields():
    embedding = json.loads(encode_row(result_row(REAL_EMBEDDING_RESPONSE)))
    failed = json.loads(encode_row(result_row({"key": "x", "error": {"message": "boom"}})))
    assert embedding["usage"] == {"input_tokens": 81}
    assert failed["error"] == {"message": "boom"}
    assert failed["status"] == "failed"


def test_an_encoded_row_leaves_its_position_out():
    row = ResultRow(key=None, position=3, status=RowStatus.SUCCEEDED, text="t")
    assert encode_row(row) == (
        b'{"key":null,"status":"succeeded","text":"t","embedding":null,"response":null,"error":null,"usage":null}\n'
    )


def test_encoded_row_decodes_back_to_the_same_row():
    row = result_row(json.loads(REAL_SUCCESS_LINE))
    assert msgspec.json.decode(encode_row(row), type=ResultRow) == row


@pytest.mark.parametrize("status", list(RowStatus))
def test_row_status_values_are_lower_case_words(status):
    assert status.value == status.name.lower()
