"""An Anthropic Message that is not one (content not a list of typed blocks, a text block without its text) is an
unparseable row under its key, as the Message Batches results and Bedrock InvokeModel bodies read it: never a success
with its text left out."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_genai_batch.formats import anthropic, bedrock
from airflow_provider_genai_batch.formats.results import ReadRow, ResultRow, RowStatus, key_field, read_result_item

MESSAGE = {
    "id": "msg_01",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5",
    "stop_reason": "end_turn",
    "usage": {"input_tokens": 3, "output_tokens": 2},
}


def batch_line(content: Any) -> dict[str, Any]:
    return {"custom_id": "k", "result": {"type": "succeeded", "message": {**MESSAGE, "content": content}}}


def bedrock_line(content: Any) -> dict[str, Any]:
    return {"recordId": "k", "modelInput": {}, "modelOutput": {**MESSAGE, "content": content}}


READERS = {
    "anthropic": (anthropic.result_row, batch_line, "custom_id"),
    "bedrock-invoke-model": (bedrock.result_row, bedrock_line, "recordId"),
}
by_reader = pytest.mark.parametrize(("read", "line", "key"), READERS.values(), ids=READERS.keys())


def row_of(read: ReadRow, item: dict[str, Any], key: str) -> ResultRow:
    return read_result_item(item, "results, line 1", read, key_field(key))


NOT_LISTED = "message.content must be a list of content blocks, got"
UNTYPED = "message.content[0] is not a content block: it has no type"
GARBAGE = {
    "content-a-string": ("Hi", f"{NOT_LISTED} string"),
    "content-an-object": ({"type": "text", "text": "Hi"}, f"{NOT_LISTED} object"),
    "content-null": (None, f"{NOT_LISTED} null"),
    "block-without-type": ([{"text": "Hi"}], UNTYPED),
    "block-type-not-a-string": ([{"type": 1, "text": "Hi"}], UNTYPED),
    "block-not-an-object": (["Hi"], UNTYPED),
    "text-block-without-text": (
        [{"type": "text", "text": "Hi"}, {"type": "text"}],
        "message.content[1].text must be a string, got null",
    ),
    "text-not-a-string": ([{"type": "text", "text": 7}], "message.content[0].text must be a string, got number"),
}


@by_reader
@pytest.mark.parametrize(("content", "reason"), GARBAGE.values(), ids=GARBAGE.keys())
def test_a_message_whose_content_is_not_typed_blocks_is_an_unparseable_row_under_its_key(
    read: ReadRow, line: Any, key: str, content: Any, reason: str
) -> None:
    row = row_of(read, line(content), key)
    assert (row.key, row.status, row.unparseable) == ("k", RowStatus.FAILED, True)
    assert row.error is not None
    assert row.error.message == f"unparseable result (results, line 1): ValueError: {reason}"


@by_reader
def test_a_message_of_text_thinking_and_tool_blocks_is_read_as_before(read: ReadRow, line: Any, key: str) -> None:
    content = [
        {"type": "thinking", "thinking": "hm", "signature": "s"},
        {"type": "text", "text": "Hi"},
        {"type": "tool_use", "id": "t", "name": "f", "input": {}},
        {"type": "text", "text": "!"},
    ]
    row = row_of(read, line(content), key)
    assert (row.key, row.status, row.text, row.unparseable) == ("k", RowStatus.SUCCEEDED, "Hi!", False)
