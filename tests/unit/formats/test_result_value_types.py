"""A result's text and embedding land as the types they are, or the line is an unparseable row under its key: an
embedding of something other than numbers (a boolean, a numeric string, null, nothing at all) or a text that is not a
string is never landed as it came, nor changed to fit (``True`` as ``1.0``, ``"1.5"`` as ``1.5``), nor left out with
the row counted a success."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from airflow_provider_genai_batch.formats import bedrock, gateway, gemini, openai, vertex
from airflow_provider_genai_batch.formats.results import (
    UNPARSEABLE,
    ResultRow,
    RowStatus,
    iter_result_rows,
    key_field,
)

ReadRow = Callable[[Mapping[str, Any]], ResultRow]


def read_line(item: dict[str, Any], read: ReadRow, *key_paths: str) -> ResultRow:
    (row,) = iter_result_rows([json.dumps(item).encode()], "files/out", read, key_field(*key_paths))
    return row


def assert_unparseable(row: ResultRow, reason: str) -> None:
    assert (row.key, row.status, row.text, row.embedding) == ("k", RowStatus.FAILED, None, None)
    assert row.error is not None and row.error.code == UNPARSEABLE
    assert row.error.message == f"unparseable result (files/out, line 1): ValueError: {reason}"


BAD_VECTORS = [
    ([0.5, True], "[1] must be a number, got a boolean"),
    ([0.5, "1.5"], "[1] must be a number, got a string"),
    ([None, 2], "[0] must be a number, got null"),
    ([0.5, [1]], "[1] must be a number, got an array"),
    ([], " must be a non-empty list of numbers, got an array"),
    ({"0": 1.0}, " must be a non-empty list of numbers, got an object"),
]


@pytest.mark.parametrize(("vector", "reason"), BAD_VECTORS)
def test_a_gemini_embedding_of_other_values_than_numbers_is_unparseable(vector: Any, reason: str):
    row = read_line({"key": "k", "response": {"embedding": {"values": vector}}}, gemini.result_row, "key")
    assert_unparseable(row, f"embedding.values{reason}")


@pytest.mark.parametrize("embeddings", [[], [True], [{"values": None}]])
def test_a_gemini_embeddings_list_without_a_first_vector_is_unparseable(embeddings: Any):
    row = read_line({"key": "k", "response": {"embeddings": embeddings}}, gemini.result_row, "key")
    assert row.error is not None and row.error.code == UNPARSEABLE
    assert row.status is RowStatus.FAILED


@pytest.mark.parametrize(("vector", "reason"), BAD_VECTORS)
def test_an_openai_embedding_of_other_values_than_numbers_is_unparseable(vector: Any, reason: str):
    body = {"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": vector}]}
    item = {"custom_id": "k", "response": {"status_code": 200, "body": body}, "error": None}
    assert_unparseable(read_line(item, openai.result_row, "custom_id"), f"data[0].embedding{reason}")


@pytest.mark.parametrize(
    ("packed", "reason"),
    [
        ("", "data[0].embedding holds 0 bytes, not a whole number of float32 values"),
        ("AACAPwAA", "data[0].embedding holds 6 bytes, not a whole number of float32 values"),
    ],
)
def test_an_openai_base64_embedding_of_no_whole_floats_is_unparseable(packed: str, reason: str):
    body = {"object": "list", "data": [{"object": "embedding", "index": 0, "embedding": packed}]}
    item = {"custom_id": "k", "response": {"status_code": 200, "body": body}, "error": None}
    assert_unparseable(read_line(item, openai.result_row, "custom_id"), reason)


def test_an_openai_embeddings_answer_whose_data_holds_no_embedding_is_unparseable():
    body = {"object": "list", "data": [{"object": "embedding", "index": 0}]}
    item = {"custom_id": "k", "response": {"status_code": 200, "body": body}, "error": None}
    assert_unparseable(read_line(item, openai.result_row, "custom_id"), "data[0] holds no embedding")


def test_an_openai_image_answer_lands_as_it_came_without_an_embedding():
    body = {"created": 1, "data": [{"b64_json": "aW1hZ2U="}]}
    item = {"custom_id": "k", "response": {"status_code": 200, "body": body}, "error": None}
    row = read_line(item, openai.result_row, "custom_id")
    assert (row.status, row.text, row.embedding, row.response) == (RowStatus.SUCCEEDED, None, None, body)


@pytest.mark.parametrize(
    ("choice", "reason"),
    [
        (
            {"message": {"role": "assistant", "content": 1.5}},
            "choices[0].message.content must be a string or null, got number",
        ),
        (
            {"message": {"role": "assistant", "content": ["a"]}},
            "choices[0].message.content must be a string or null, got array",
        ),
        ({"text": {"value": "a"}}, "choices[0].text must be a string or null, got object"),
    ],
    ids=["chat-number", "chat-array", "legacy-object"],
)
def test_an_openai_choice_whose_text_is_not_a_string_is_unparseable(choice: dict[str, Any], reason: str):
    body = {"choices": [{"index": 0, "finish_reason": "stop", **choice}]}
    item = {"custom_id": "k", "response": {"status_code": 200, "body": body}, "error": None}
    assert_unparseable(read_line(item, openai.result_row, "custom_id"), reason)


@pytest.mark.parametrize(("vector", "reason"), BAD_VECTORS)
def test_a_titan_embedding_of_other_values_than_numbers_is_unparseable(vector: Any, reason: str):
    row = read_line({"recordId": "k", "modelOutput": {"embedding": vector}}, bedrock.result_row, "recordId")
    assert_unparseable(row, f"modelOutput.embedding{reason}")


@pytest.mark.parametrize(
    ("block", "kind"), [({}, "nothing"), ({"text": None}, "null"), ({"text": 5}, "number"), ({"text": ["a"]}, "array")]
)
def test_a_responses_output_text_block_whose_text_is_not_a_string_is_unparseable(block: dict[str, Any], kind: str):
    content = [{"type": "output_text", "text": "fine"}, {"type": "output_text", "annotations": [], **block}]
    body = {"object": "response", "status": "completed", "output": [{"type": "message", "content": content}]}
    item = {"custom_id": "k", "response": {"status_code": 200, "body": body}, "error": None}
    reason = f"output[0].content[1].text must be a string, got {kind}"
    assert_unparseable(read_line(item, openai.result_row, "custom_id"), reason)


@pytest.mark.parametrize("text", [1, None, ["a"]])
def test_a_converse_text_block_whose_text_is_not_a_string_is_unparseable(text: Any):
    content = [{"text": text}, {"toolUse": {"toolUseId": "t", "name": "f", "input": {}}}]
    output = {"output": {"message": {"role": "assistant", "content": content}}, "stopReason": "tool_use"}
    row = read_line({"recordId": "k", "modelOutput": output}, bedrock.result_row, "recordId")
    kind = {int: "number", type(None): "null", list: "array"}[type(text)]
    assert_unparseable(row, f"output.message.content[0].text must be a string, got {kind}")


@pytest.mark.parametrize("text", [42, ["a"], {"text": "a"}])
def test_a_gateway_gemini_text_that_is_not_a_string_is_unparseable(text: Any):
    item = {"custom_id": "k", "response": {"status_code": 200, "body": {"text": text, "finish_reason": "STOP"}}}
    row = read_line(item, lambda line: gateway.result_row(line, "gemini"), "custom_id")
    kind = {int: "number", list: "array", dict: "object"}[type(text)]
    assert_unparseable(row, f"the result's text must be a string, got {kind}")


@pytest.mark.parametrize(("vector", "reason"), BAD_VECTORS)
def test_a_vertex_embedding_of_other_values_than_numbers_is_unparseable(vector: Any, reason: str):
    item = {"instance": {"key": "k"}, "predictions": [{"embeddings": {"values": vector}}], "status": ""}
    row = read_line(item, vertex.result_row, "key", "instance.key")
    assert_unparseable(row, f"predictions[0].embeddings.values{reason}")
