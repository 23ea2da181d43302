"""Provider result lines to rows: every line becomes a row, and a line that cannot be read is a failed row.

One bad line (not JSON, not an object, not UTF-8, a shape the dialect cannot read) never ends the stream:
it becomes a failed row carrying the line itself (cut to 2 KiB, marked) and an error naming where it was.
"""

from __future__ import annotations

import json

import msgspec
import pytest

from airflow_provider_genai_batch.formats import anthropic, bedrock, gateway, gemini, openai, vertex
from airflow_provider_genai_batch.formats.results import (
    RAW_LIMIT,
    UNPARSEABLE,
    ResultRow,
    RowError,
    RowStatus,
    append_line,
    bounded_text,
    encode_row,
    iter_result_rows,
    key_field,
    read_result_item,
    rekeyed,
)

SOURCE = "files/batch-1"
GEMINI_KEY = key_field("key", "metadata.key")


def gemini_ok(key: str, text: str = "fine") -> bytes:
    line = {"key": key, "response": {"candidates": [{"content": {"parts": [{"text": text}]}}]}}
    return json.dumps(line).encode()


def gemini_rows(*lines: bytes) -> list[ResultRow]:
    return list(iter_result_rows(lines, SOURCE, gemini.result_row, GEMINI_KEY))


def only(rows: list[ResultRow]) -> ResultRow:
    assert len(rows) == 1
    return rows[0]


# --- every kind of bad line -------------------------------------------------------------------------------


def test_good_rows_on_both_sides_of_bad_lines_are_all_read_in_order():
    rows = gemini_rows(gemini_ok("a", "A"), b"{broken", b"[1, 2]", b"\xff\xfe", gemini_ok("b", "B"))

    assert [(r.key, r.status, r.text) for r in rows] == [
        ("a", RowStatus.SUCCEEDED, "A"),
        (None, RowStatus.FAILED, None),
        (None, RowStatus.FAILED, None),
        (None, RowStatus.FAILED, None),
        ("b", RowStatus.SUCCEEDED, "B"),
    ]
    assert [r.unparseable for r in rows] == [False, True, True, True, False]


def test_invalid_json_is_a_failed_row_naming_the_file_line_and_reason():
    row = gemini_rows(gemini_ok("a"), b'{"response": ')[1]

    assert row.key is None
    assert row.status is RowStatus.FAILED
    assert row.error.code == UNPARSEABLE
    assert row.error.message.startswith(f"unparseable result ({SOURCE}, line 2): invalid JSON")
    assert row.error.raw == '{"response": '


@pytest.mark.parametrize(
    ("line", "kind"),
    [(b"[1, 2]", "an array"), (b'"text"', "a string"), (b"42", "a number"), (b"null", "null"), (b"true", "a boolean")],
)
def test_json_that_is_not_an_object_is_a_failed_row_saying_what_it_was(line: bytes, kind: str):
    row = only(gemini_rows(line))

    assert row.error.message == f"unparseable result ({SOURCE}, line 1): a result must be a JSON object, got {kind}"
    assert row.error.raw == line.decode()


def test_bytes_that_are_not_utf8_are_a_failed_row_showing_the_bytes_escaped():
    row = only(gemini_rows(b'{"key": "caf\xe9"}'))

    assert row.error.message == f"unparseable result ({SOURCE}, line 1): not valid UTF-8 (byte 12)"
    assert row.error.raw == '{"key": "caf\\xe9"}'


def test_a_line_with_bytes_that_are_not_utf8_keeps_its_key_so_its_request_is_not_missing():
    line = b'{"key": "b", "response": {"candidates": [{"content": {"parts": [{"text": "caf\xe9"}]}}]}}'

    row = only(gemini_rows(line))

    assert (row.key, row.status, row.error.code) == ("b", RowStatus.FAILED, UNPARSEABLE)
    assert row.error.message == f"unparseable result ({SOURCE}, line 1): not valid UTF-8 (byte 77)"
    assert row.error.raw.endswith('"caf\\xe9"}]}}]}}')


@pytest.mark.parametrize(
    "text",
    [b'"cut inside an emoji \\ud83d"', b'"fine", "logprob": 1e400'],
    ids=["lone-surrogate", "number-out-of-range"],
)
def test_a_line_the_strict_decoder_refuses_keeps_a_key_a_lenient_one_reads(text: bytes):
    line = b'{"key": "b", "response": {"candidates": [{"content": {"parts": [{"text": ' + text + b"}]}}]}}"

    row = only(gemini_rows(line))

    assert (row.key, row.status, row.error.code) == ("b", RowStatus.FAILED, UNPARSEABLE)
    assert row.error.message.startswith(f"unparseable result ({SOURCE}, line 1): invalid JSON: ")
    assert row.error.raw == line.decode()


@pytest.mark.parametrize(
    "line",
    [
        b'{"key": "b", "response": {"candidates": [{"content": {"parts": [{"text": "an answer cut sho',
        b'{"key": "b", "response": ',
        b'{"key": "b"',
    ],
    ids=["inside-the-text", "before-the-response", "after-the-key"],
)
def test_a_line_cut_short_after_its_key_keeps_its_key_so_its_request_is_not_missing(line: bytes):
    row = gemini_rows(gemini_ok("a"), line)[1]

    assert (row.key, row.status, row.error.code) == ("b", RowStatus.FAILED, UNPARSEABLE)
    assert row.error.message.startswith(f"unparseable result ({SOURCE}, line 2): invalid JSON: ")
    assert row.error.raw == line.decode()


@pytest.mark.parametrize(
    "line",
    [b'{"key": "b', b'{"key": "b\\', b'{"key', b'{"response": {"key": "b"}, "ke', b'{"key": 7, "response": '],
    ids=["inside-the-key", "inside-an-escape", "inside-the-name", "key-nested-only", "key-not-a-string"],
)
def test_a_line_cut_short_before_its_key_ends_has_no_key(line: bytes):
    assert only(gemini_rows(line)).key is None


def test_a_key_holding_a_lone_surrogate_is_not_read():
    assert only(gemini_rows(b'{"key": "k\\udc00", "response": {}}')).key is None


def test_a_key_holding_bytes_that_are_not_utf8_is_not_read():
    assert only(gemini_rows(b'{"key": "caf\xe9", "response": {}}')).key is None


def test_json_nested_too_deeply_is_a_failed_row():
    row = only(gemini_rows(b"[" * 100_000 + b"]" * 100_000))

    assert row.error.message == f"unparseable result ({SOURCE}, line 1): JSON nested too deeply"
    assert row.error.raw.endswith(f"…[cut: first {RAW_LIMIT} of 200000 bytes]")


def test_an_object_the_dialect_cannot_read_keeps_its_key_when_the_key_is_readable():
    line = b'{"key": "b", "response": ["not", "an", "object"]}'

    row = only(gemini_rows(line))

    assert (row.key, row.status, row.error.code) == ("b", RowStatus.FAILED, UNPARSEABLE)
    assert row.error.message.startswith(f"unparseable result ({SOURCE}, line 1): AttributeError: ")
    assert row.error.raw == line.decode()


def test_a_key_that_is_not_a_string_leaves_the_row_without_a_key():
    row = only(gemini_rows(b'{"key": 7, "response": {}}'))

    assert row.key is None
    assert row.error.message == f"unparseable result ({SOURCE}, line 1): its key is a number 7, not a string"


def test_an_unreadable_object_with_a_non_string_key_has_no_key():
    row = only(
        list(
            iter_result_rows(
                [b'{"custom_id": ["x"], "result": 1}'], SOURCE, anthropic.result_row, key_field("custom_id")
            )
        )
    )

    assert row.key is None
    assert row.unparseable


def test_bom_crlf_and_blank_lines_are_not_rows_and_do_not_shift_line_numbers():
    rows = gemini_rows(b"\xef\xbb\xbf" + gemini_ok("a"), b"", b"   ", gemini_ok("b") + b"\r", b"{bad\r")

    assert [r.key for r in rows] == ["a", "b", None]
    assert rows[2].error.message.startswith(f"unparseable result ({SOURCE}, line 5): invalid JSON")
    assert rows[2].error.raw == "{bad"


# --- every dialect: a shape it does not expect is a row, never an exception -------------------------------


@pytest.mark.parametrize(
    ("read", "key_of", "line", "key"),
    [
        (gemini.result_row, GEMINI_KEY, {"metadata": {"key": "g"}, "response": {"candidates": ["x"]}}, "g"),
        (openai.result_row, key_field("custom_id"), {"custom_id": "o", "response": "x"}, "o"),
        (
            openai.result_row,
            key_field("custom_id"),
            {"custom_id": "o", "response": {"status_code": 200, "body": {"choices": [1]}}},
            "o",
        ),
        (anthropic.result_row, key_field("custom_id"), {"custom_id": "a", "result": "x"}, "a"),
        (
            bedrock.result_row,
            key_field("recordId"),
            {"recordId": "b", "modelOutput": {"output": {"message": "x"}}},
            "b",
        ),
    ],
    ids=["gemini", "openai-response", "openai-choices", "anthropic", "bedrock"],
)
def test_every_dialect_reader_failure_becomes_a_failed_row_under_its_key(read, key_of, line, key):
    row = read_result_item(line, "where", read, key_of)

    assert (row.key, row.status, row.error.code) == (key, RowStatus.FAILED, UNPARSEABLE)
    assert json.loads(row.error.raw) == line


ANSWERS_WITH_ODD_USAGE = {
    "gemini": (
        gemini.result_row,
        {"key": "k", "response": {"candidates": [{"content": {"parts": [{"text": "paid"}]}}], "usageMetadata": [12]}},
    ),
    "vertex-embedding": (
        vertex.result_row,
        {
            "instance": {"key": "k"},
            "predictions": [{"embeddings": {"values": [1], "statistics": {"token_count": "?"}}}],
        },
    ),
    "openai": (
        openai.result_row,
        {"custom_id": "k", "response": {"status_code": 200, "body": {"choices": [{"text": "paid"}], "usage": [3]}}},
    ),
    "anthropic": (
        anthropic.result_row,
        {
            "custom_id": "k",
            "result": {
                "type": "succeeded",
                "message": {"content": [{"type": "text", "text": "paid"}], "usage": {"input_tokens": "n/a"}},
            },
        },
    ),
    "bedrock-invoke": (
        bedrock.result_row,
        {
            "recordId": "k",
            "modelOutput": {"content": [{"type": "text", "text": "paid"}], "usage": {"input_tokens": [1]}},
        },
    ),
    "bedrock-converse": (
        bedrock.result_row,
        {"recordId": "k", "modelOutput": {"output": {"message": {"content": [{"text": "paid"}]}}, "usage": "3"}},
    ),
    "gateway-gemini": (
        lambda line: gateway.result_row(line, "gemini"),
        {"custom_id": "k", "response": {"status_code": 200, "body": {"text": "paid", "usage": [5, 7]}}},
    ),
}


@pytest.mark.parametrize(("read", "line"), ANSWERS_WITH_ODD_USAGE.values(), ids=ANSWERS_WITH_ODD_USAGE.keys())
def test_an_answer_whose_usage_cannot_be_read_is_still_a_success_without_usage(read, line):
    row = read_result_item(line, "where", read, key_field("key", "custom_id", "recordId", "instance.key"))

    assert (row.key, row.status, row.error, row.usage) == ("k", RowStatus.SUCCEEDED, None, None)
    assert row.text == "paid" or row.embedding == [1.0]


def answers_counting(count: object) -> dict[str, tuple[object, dict[str, object]]]:
    """An answer of each provider whose usage holds ``count`` as one of its token counts."""
    message = {"content": [{"type": "text", "text": "paid"}], "usage": {"input_tokens": count, "output_tokens": 2}}
    return {
        "gemini": (
            gemini.result_row,
            {
                "key": "k",
                "response": {
                    "candidates": [{"content": {"parts": [{"text": "paid"}]}}],
                    "usageMetadata": {"promptTokenCount": count, "candidatesTokenCount": 2},
                },
            },
        ),
        "vertex-embedding": (
            vertex.result_row,
            {
                "instance": {"key": "k"},
                "predictions": [{"embeddings": {"values": [1], "statistics": {"token_count": count}}}],
            },
        ),
        "openai": (
            openai.result_row,
            {
                "custom_id": "k",
                "response": {
                    "status_code": 200,
                    "body": {"choices": [{"text": "paid"}], "usage": {"prompt_tokens": count, "completion_tokens": 2}},
                },
            },
        ),
        "anthropic": (
            anthropic.result_row,
            {"custom_id": "k", "result": {"type": "succeeded", "message": message}},
        ),
        "bedrock-invoke": (bedrock.result_row, {"recordId": "k", "modelOutput": message}),
        "bedrock-converse": (
            bedrock.result_row,
            {
                "recordId": "k",
                "modelOutput": {
                    "output": {"message": {"content": [{"text": "paid"}]}},
                    "usage": {"inputTokens": count, "outputTokens": 2},
                },
            },
        ),
        "gateway-gemini": (
            lambda line: gateway.result_row(line, "gemini"),
            {
                "custom_id": "k",
                "response": {
                    "status_code": 200,
                    "body": {"text": "paid", "usage": {"prompt_tokens": count, "completion_tokens": 2}},
                },
            },
        ),
    }


BAD_COUNTS = {"text": "7", "fraction": 1.5, "negative": -3, "too large": 2**53, "huge float": 1e308, "object": {"n": 1}}


@pytest.mark.parametrize("provider", answers_counting(0).keys())
@pytest.mark.parametrize("count", BAD_COUNTS.values(), ids=BAD_COUNTS.keys())
def test_a_count_that_is_not_an_integer_from_0_to_2_53_leaves_the_rows_usage_null(provider, count):
    read, line = answers_counting(count)[provider]
    row = read_result_item(line, "where", read, key_field("key", "custom_id", "recordId", "instance.key"))

    assert (row.key, row.status, row.error, row.usage) == ("k", RowStatus.SUCCEEDED, None, None)
    assert b'"usage":null' in encode_row(row)


@pytest.mark.parametrize("provider", answers_counting(0).keys())
def test_integer_counts_land_as_the_rows_usage(provider):
    read, line = answers_counting(7)[provider]
    row = read_result_item(line, "where", read, key_field("key", "custom_id", "recordId", "instance.key"))

    assert row.usage is not None and row.usage.input_tokens == 7


def test_a_vertex_embedding_count_written_as_a_whole_float_lands_as_its_integer():
    read, line = answers_counting(7.0)["vertex-embedding"]
    row = read_result_item(line, "where", read, key_field("instance.key"))

    assert b'"usage":{"input_tokens":7,"total_tokens":7}' in encode_row(row)


def test_an_item_that_is_not_an_object_is_a_failed_row_with_its_json():
    row = read_result_item(["a", 1], "batches/x, inline response 2", gemini.result_row, GEMINI_KEY)

    assert row.key is None
    assert (
        row.error.message
        == "unparseable result (batches/x, inline response 2): a result must be a JSON object, got an array"
    )
    assert row.error.raw == '["a",1]'


# --- the raw text is bounded ---------------------------------------------------------------------------------


def test_a_line_within_the_limit_is_kept_whole():
    line = b"x" * RAW_LIMIT
    assert bounded_text(line) == line.decode()


def test_a_longer_line_is_cut_at_the_limit_with_a_marker_giving_both_sizes():
    text = bounded_text(b"y" * 10_000)

    assert text == "y" * RAW_LIMIT + f"…[cut: first {RAW_LIMIT} of 10000 bytes]"


def test_the_cut_never_splits_a_utf8_character():
    data = "é".encode() * 3000  # two bytes each: the limit falls inside a character when it is odd

    text = bounded_text(data, limit=2047)

    assert text == "é" * 1023 + "…[cut: first 2046 of 6000 bytes]"


def test_a_huge_unparseable_line_keeps_only_the_bounded_text():
    row = only(gemini_rows(b'{"key": "a", "pad": "' + b"z" * 5_000_000))

    assert len(row.error.raw.encode()) < RAW_LIMIT + 100
    assert row.error.raw.endswith("…[cut: first 2048 of 5000021 bytes]")


# --- keys ------------------------------------------------------------------------------------------------------


def test_key_field_reads_the_first_path_present_and_follows_dots():
    key_of = key_field("key", "metadata.key")

    assert key_of({"key": "top", "metadata": {"key": "nested"}}) == "top"
    assert key_of({"metadata": {"key": "nested"}}) == "nested"
    assert key_of({"metadata": "not an object"}) is None
    assert key_of({}) is None


KEYS = ["plain", 'with "quotes"', "ünï\u2028côdé", "line\nbreak", ""]


@pytest.mark.parametrize("position", [None, 7])
@pytest.mark.parametrize("key", KEYS)
def test_a_rows_line_rekeyed_under_any_key_is_the_line_of_the_row_with_that_key(key: str, position: int | None):
    row = ResultRow(key='k "1"', position=position, status=RowStatus.SUCCEEDED, text=',"position":1', response={})

    line = rekeyed(encode_row(row), key)

    assert line == encode_row(msgspec.structs.replace(row, key=key))
    assert json.loads(line)["key"] == key


@pytest.mark.parametrize("position", [None, 7])
@pytest.mark.parametrize("key", [None, *KEYS])
def test_append_line_appends_the_rows_line_under_the_key_given(key: str | None, position: int | None):
    row = ResultRow(key="provider-id", position=position, status=RowStatus.FAILED, error=RowError(message="m"))
    chunk = bytearray(b"before\n")

    append_line(chunk, row, key)

    expected = encode_row(row if key is None else msgspec.structs.replace(row, key=key))
    assert chunk == b"before\n" + expected
