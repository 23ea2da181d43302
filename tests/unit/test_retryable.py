"""Which landed rows a follow-up round sends again (issue 14): each provider's failed rows, read by its dialect."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_genai_batch.errors import GenAIBatchError
from airflow_provider_genai_batch.formats import anthropic, bedrock, gateway, gemini, openai, vertex
from airflow_provider_genai_batch.formats.results import (
    CONTENT_BLOCKED,
    ResultRow,
    RowError,
    RowStatus,
    encode_row,
    unparseable_row,
)
from airflow_provider_genai_batch.retryable import follow_up_keys, is_retryable
from airflow_provider_genai_batch.testing.emulator.anthropic.results import errored
from airflow_provider_genai_batch.testing.emulator.common import openai_error_body
from airflow_provider_genai_batch.testing.emulator.faults import openai_error
from airflow_provider_genai_batch.testing.emulator.gateway.targets import gemini_result_item
from airflow_provider_genai_batch.testing.emulator.vertex.results import status_text


def google_error(code: int, status: str, message: str = "the model failed") -> dict[str, Any]:
    return {"code": code, "message": message, "status": status}


# --- the rows' own status ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (RowStatus.EXPIRED, True),
        (RowStatus.MISSING, True),
        (RowStatus.CANCELLED, False),
        (RowStatus.SUCCEEDED, False),
    ],
)
def test_a_row_that_never_ran_is_retryable_unless_it_was_cancelled(status: RowStatus, retryable: bool):
    assert is_retryable(ResultRow(key="a", status=status, error=RowError(message="not run"))) is retryable


def test_a_provider_line_that_could_not_be_read_is_not_retryable():
    assert not is_retryable(unparseable_row("a", "files/out, line 3", "invalid JSON", b'{"key": "a", "resp'))


def test_a_failure_that_names_no_condition_is_not_retryable():
    assert not is_retryable(ResultRow(key="a", status=RowStatus.FAILED, error=RowError(message="something broke")))


# --- Gemini ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (google_error(429, "RESOURCE_EXHAUSTED"), True),
        (google_error(500, "INTERNAL"), True),
        (google_error(503, "UNAVAILABLE"), True),
        (google_error(504, "DEADLINE_EXCEEDED"), True),
        (google_error(409, "ABORTED"), True),
        (google_error(409, "ALREADY_EXISTS"), False),
        (google_error(400, "FAILED_PRECONDITION"), False),
        ({"code": 8, "message": "Resource has been exhausted (e.g. check quota)."}, True),
        ({"code": 13, "message": "Internal error encountered."}, True),
        ({"code": 14, "message": "The service is currently unavailable."}, True),
        ({"code": 4, "message": "Deadline expired before operation could complete."}, True),
        ({"code": 10, "message": "Aborted."}, True),
        (google_error(400, "INVALID_ARGUMENT"), False),
        (google_error(404, "NOT_FOUND"), False),
        (google_error(403, "PERMISSION_DENIED"), False),
        ({"code": 3, "message": "Request contains an invalid argument."}, False),
    ],
)
def test_gemini_rows_are_retryable_on_transient_http_and_grpc_errors(error: dict[str, Any], retryable: bool):
    row = gemini.result_row({"key": "a", "error": error})
    assert row.status is RowStatus.FAILED
    assert is_retryable(row) is retryable


def test_a_gemini_inline_response_error_is_read_the_same_way():
    row = gemini.result_row({"metadata": {"key": "a"}, "error": {"code": 14, "message": "unavailable"}})
    assert is_retryable(row)


def test_a_gemini_response_blocked_for_safety_is_not_retryable():
    blocked = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 7}}
    assert not is_retryable(gemini.result_row({"key": "a", "response": blocked}))


# --- Vertex ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (status_text(429, "Quota exceeded for aiplatform.googleapis.com.", "RESOURCE_EXHAUSTED"), True),
        (status_text(500, "Internal error occurred while processing this request.", "INTERNAL"), True),
        (status_text(400, "Invalid JSON payload received.", "INVALID_ARGUMENT"), False),
        ('{"error": {"code": 503, "message": "unavailable", "status": "UNAVAILABLE"}}', True),
        ('{"error": {"message": "deadline", "status": "DEADLINE_EXCEEDED"}}', True),
        ("Service Unavailable: the model is overloaded", True),
        ("quota exceeded", False),
    ],
)
def test_vertex_rows_are_read_from_their_status_text(status: str, retryable: bool):
    line = {"key": "a", "request": {"contents": []}, "status": status, "processed_time": "2026-11-20T10:05:00Z"}
    row = vertex.result_row(line)
    assert row.status is RowStatus.FAILED
    assert is_retryable(row) is retryable


# --- OpenAI ------------------------------------------------------------------------------------------------


def openai_http(status_code: int, body: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "batch_req_1",
        "custom_id": "a",
        "response": {"status_code": status_code, "request_id": "req_1", "body": body},
        "error": None,
    }


@pytest.mark.parametrize(
    ("status_code", "body", "retryable"),
    [
        (500, openai_error_body("The server had an error.", "server_error"), True),
        (429, openai_error(429, "Rate limit reached")[0], True),
        (503, openai_error(503, "The engine is currently overloaded")[0], True),
        (504, openai_error_body("Request timed out.", "timeout", code="timeout"), True),
        (429, openai_error_body("Rate limit reached for requests", "requests"), True),
        (
            429,
            openai_error_body("You exceeded your current quota", "insufficient_quota", code="insufficient_quota"),
            False,
        ),
        (400, openai_error_body("'messages' is required", param="messages"), False),
        (400, openai_error_body("too long", code="context_length_exceeded", param="messages"), False),
        (400, openai_error_body("rejected by the safety system", code="content_policy_violation"), False),
        (404, openai_error_body("The model does not exist", code="model_not_found"), False),
        (502, {}, True),
        (422, {}, False),
    ],
)
def test_openai_http_failures_are_retryable_on_server_errors_rate_limits_and_timeouts(
    status_code: int, body: dict[str, Any], retryable: bool
):
    row = openai.result_row(openai_http(status_code, body))
    assert row.status is RowStatus.FAILED
    assert is_retryable(row) is retryable


@pytest.mark.parametrize(("code", "retryable"), [("batch_expired", True), ("batch_cancelled", False)])
def test_openai_rows_the_batch_never_ran_follow_the_batch(code: str, retryable: bool):
    line = {"id": "batch_req_1", "custom_id": "a", "response": None, "error": {"code": code, "message": "not run"}}
    assert is_retryable(openai.result_row(line)) is retryable


# --- Anthropic ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error_type", "retryable"),
    [
        ("overloaded_error", True),
        ("api_error", True),
        ("rate_limit_error", True),
        ("timeout_error", True),
        ("invalid_request_error", False),
        ("not_found_error", False),
        ("billing_error", False),
        ("permission_error", False),
    ],
)
def test_anthropic_errored_results_are_retryable_by_their_error_type(error_type: str, retryable: bool):
    row = anthropic.result_row(errored("a", "seed", error_type, "the request failed"))
    assert row.status is RowStatus.FAILED
    assert is_retryable(row) is retryable


@pytest.mark.parametrize(("kind", "retryable"), [("expired", True), ("canceled", False)])
def test_anthropic_results_the_batch_never_ran_follow_the_batch(kind: str, retryable: bool):
    assert is_retryable(anthropic.result_row({"custom_id": "a", "result": {"type": kind}})) is retryable


# --- Bedrock -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "retryable"),
    [
        (429, True),
        (500, True),
        (503, True),
        ("ThrottlingException", True),
        ("ModelTimeoutException", True),
        ("ServiceUnavailableException", True),
        (400, False),
        ("ValidationException", False),
        ("AccessDeniedException", False),
    ],
)
def test_bedrock_records_are_retryable_by_their_error_code(code: int | str, retryable: bool):
    line = {"recordId": "a", "modelInput": {"messages": []}, "error": {"errorCode": code, "errorMessage": "failed"}}
    row = bedrock.result_row(line)
    assert row.status is RowStatus.FAILED
    assert is_retryable(row) is retryable


# --- the gateway -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (google_error(503, "UNAVAILABLE"), True),
        (google_error(500, "INTERNAL"), True),
        (google_error(400, "INVALID_ARGUMENT"), False),
    ],
)
def test_gateway_gemini_items_are_retryable_by_their_code_given_as_text(error: dict[str, Any], retryable: bool):
    item = gemini_result_item({"key": "a", "error": error}, "request-0")
    assert is_retryable(gateway.result_row(item, "gemini")) is retryable


@pytest.mark.parametrize(("status_code", "retryable"), [(503, True), (400, False)])
def test_gateway_gemini_items_without_an_error_are_read_by_their_http_status(status_code: int, retryable: bool):
    item = {"custom_id": "a", "response": {"status_code": status_code, "body": {}}}
    assert is_retryable(gateway.result_row(item, "gemini")) is retryable


@pytest.mark.parametrize(("error_type", "retryable"), [("overloaded_error", True), ("invalid_request_error", False)])
def test_gateway_anthropic_items_are_retryable_by_their_error_type(error_type: str, retryable: bool):
    item = {"custom_id": "a", "result": {"type": "errored"}, "error": {"code": error_type, "message": "failed"}}
    assert is_retryable(gateway.result_row(item, "anthropic")) is retryable


def test_gateway_openai_lines_are_read_as_openai_lines():
    line = openai_http(500, openai_error_body("The server had an error.", "server_error"))
    assert is_retryable(gateway.result_row(line, "openai"))


# --- blocks and refusals ------------------------------------------------------------------------------------

BLOCKED_ROWS = {
    "gemini-prompt": gemini.result_row({"key": "a", "response": {"promptFeedback": {"blockReason": "OTHER"}}}),
    "gemini-answer": gemini.result_row({"key": "a", "response": {"candidates": [{"finishReason": "SAFETY"}]}}),
    "vertex": vertex.result_row({"key": "a", "response": {"candidates": [{"finishReason": "SPII"}]}, "status": ""}),
    "openai": openai.result_row(
        {"custom_id": "a", "response": {"status_code": 200, "body": {"choices": [{"finish_reason": "content_filter"}]}}}
    ),
    "anthropic": anthropic.result_row(
        {"custom_id": "a", "result": {"type": "succeeded", "message": {"content": [], "stop_reason": "refusal"}}}
    ),
    "bedrock": bedrock.result_row(
        {"recordId": "a", "modelOutput": {"output": {"message": {"content": []}}, "stopReason": "content_filtered"}}
    ),
    "gateway-gemini": gateway.result_row(
        gemini_result_item({"key": "a", "response": {"candidates": [{"finishReason": "PROHIBITED_CONTENT"}]}}, "r-0"),
        "gemini",
    ),
}


@pytest.mark.parametrize("row", BLOCKED_ROWS.values(), ids=BLOCKED_ROWS.keys())
def test_a_row_the_provider_blocked_is_failed_and_never_sent_again(row: ResultRow):
    assert (row.status, row.error.code) == (RowStatus.FAILED, CONTENT_BLOCKED)
    assert not is_retryable(row)


def test_a_blocked_row_is_not_sent_again_whatever_reason_it_names():
    row = ResultRow(key="a", status=RowStatus.FAILED, error=RowError("blocked", code=CONTENT_BLOCKED, status="503"))
    assert not is_retryable(row)


# --- follow-up keys ----------------------------------------------------------------------------------------


def test_follow_up_keys_are_the_retryable_rows_keys_in_the_results_order(tmp_path: Path):
    rows = [
        ResultRow(key="a", status=RowStatus.SUCCEEDED, text="ok", response={"candidates": []}),
        gemini.result_row({"key": "b", "error": google_error(503, "UNAVAILABLE")}),
        gemini.result_row({"key": "c", "error": google_error(400, "INVALID_ARGUMENT")}),
        ResultRow(key="d", status=RowStatus.EXPIRED, error=RowError(message="the job expired")),
        ResultRow(key="e", status=RowStatus.CANCELLED, error=RowError(message="the job was cancelled")),
        ResultRow(key="f", status=RowStatus.MISSING, error=RowError(message="no result returned for this key")),
    ]
    results = tmp_path / "results.jsonl"
    results.write_bytes(b"".join(encode_row(row) for row in rows))

    assert list(follow_up_keys(str(results))) == ["b", "d", "f"]


def test_follow_up_keys_name_the_line_of_a_results_file_that_is_not_landed_rows(tmp_path: Path):
    results = tmp_path / "results.jsonl"
    results.write_text(json.dumps({"key": "a", "status": "missing"}) + "\n" + '{"key": "b"}\n')

    with pytest.raises(GenAIBatchError, match=r"results.jsonl, line 2: not a landed result row"):
        list(follow_up_keys(str(results)))


ODD_CODES = pytest.mark.parametrize(
    "row",
    [
        gemini.result_row({"key": "k", "error": {"code": 429.5, "message": "a fraction"}}),
        gemini.result_row({"key": "k", "error": {"code": True, "message": "a boolean"}}),
        gemini.result_row({"key": "k", "error": {"code": {"http": 503}, "message": "x", "status": ["UNAVAILABLE"]}}),
        openai.result_row({"custom_id": "k", "response": {"status_code": 500, "body": {"error": {"code": [1]}}}}),
        bedrock.result_row({"recordId": "k", "error": {"errorCode": {"name": "Throttling"}, "errorMessage": "m"}}),
        gemini.result_row({"key": "k", "error": {"code": "²", "message": "a digit int() does not read"}}),
    ],
    ids=["fraction", "boolean", "object-and-list", "array", "bedrock-object", "superscript-digit"],
)


@ODD_CODES
def test_a_row_whose_error_code_is_no_integer_or_text_names_no_condition_to_send_again(row: ResultRow):
    assert not is_retryable(row)


@ODD_CODES
def test_follow_up_keys_read_a_landed_row_whose_error_code_is_of_any_type(tmp_path: Path, row: ResultRow):
    results = tmp_path / "results.jsonl"
    results.write_bytes(
        encode_row(row) + encode_row(gemini.result_row({"key": "b", "error": google_error(503, "UNAVAILABLE")}))
    )

    assert list(follow_up_keys(str(results))) == ["b"]


def test_a_code_written_as_a_whole_number_with_a_fraction_part_is_that_number():
    assert is_retryable(gemini.result_row({"key": "k", "error": {"code": 429.0, "message": "too many requests"}}))
