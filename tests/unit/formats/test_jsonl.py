"""Streaming JSONL reading: every non-blank line is one JSON object, and every error names its line."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_genai_batch.errors import InputValidationError
from airflow_provider_genai_batch.formats.jsonl import UTF8_BOM, iter_json_objects

SOURCE = "s3://bucket/in.jsonl"


def read(*lines: bytes) -> list[tuple[int, dict, int]]:
    return list(iter_json_objects(lines, source=SOURCE))


def read_error(*lines: bytes) -> InputValidationError:
    with pytest.raises(InputValidationError) as info:
        read(*lines)
    return info.value


def test_each_line_yields_its_number_object_and_raw_byte_length():
    assert read(b'{"a": 1}\n', b'{"b": [2, 3]}\n') == [(1, {"a": 1}, 9), (2, {"b": [2, 3]}, 14)]


def test_utf8_bom_on_the_first_line_is_skipped():
    [(number, obj, size)] = read(UTF8_BOM + b'{"key": "a"}\n')
    assert (number, obj) == (1, {"key": "a"})
    assert size == len(UTF8_BOM) + len(b'{"key": "a"}\n')


def test_utf8_bom_after_the_first_line_is_invalid_json():
    error = read_error(b'{"a": 1}\n', UTF8_BOM + b'{"a": 2}\n')
    assert error.line == 2
    assert "invalid JSON" in error.reason


def test_crlf_line_endings_are_accepted():
    assert read(b'{"a": 1}\r\n', b'{"a": 2}\r\n') == [(1, {"a": 1}, 10), (2, {"a": 2}, 10)]


def test_last_line_without_newline_is_read():
    assert read(b'{"a": 1}\n', b'{"a": 2}') == [(1, {"a": 1}, 9), (2, {"a": 2}, 8)]


def test_blank_lines_are_skipped_but_still_counted():
    records = read(b'{"a": 1}\n', b"\n", b"   \r\n", b'{"a": 2}\n')
    assert [(number, obj) for number, obj, _ in records] == [(1, {"a": 1}), (4, {"a": 2})]


def test_error_after_blank_lines_names_the_physical_line():
    error = read_error(b"\n", b"\n", b"{oops}\n")
    assert error.line == 3


def test_non_utf8_bytes_are_refused_with_the_line_number():
    error = read_error(b'{"a": "ok"}\n', b'{"a": "caf\xe9"}\n')
    assert error.line == 2
    assert error.source == SOURCE
    assert "not valid UTF-8" in error.reason
    assert str(error) == f"{SOURCE}, line 2: not valid UTF-8 (byte 10)"  # 0-based offset of \xe9


def test_invalid_json_is_refused_with_the_line_number():
    error = read_error(b'{"a": 1}\n', b'{"a": 2}\n', b'{"a": \n')
    assert error.line == 3
    assert error.reason.startswith("invalid JSON")
    assert str(error).startswith(f"{SOURCE}, line 3: invalid JSON")


@pytest.mark.parametrize(
    ("line", "type_name"),
    [(b"[1, 2]\n", "list"), (b'"text"\n', "str"), (b"42\n", "int"), (b"null\n", "NoneType")],
)
def test_a_line_that_is_not_a_json_object_is_refused(line, type_name):
    error = read_error(b'{"a": 1}\n', line)
    assert error.line == 2
    assert error.reason == f"each line must be a JSON object, got {type_name}"


def test_lines_are_read_lazily_so_a_stream_is_never_held_whole():
    consumed: list[int] = []

    def lines() -> Iterator[bytes]:
        for number in range(1, 1_000_001):
            consumed.append(number)
            yield b'{"n": %d}\n' % number

    records = iter_json_objects(lines(), source=SOURCE)
    assert next(records) == (1, {"n": 1}, 9)
    assert next(records)[0] == 2
    assert consumed == [1, 2]


def test_earlier_lines_are_yielded_before_a_later_bad_line_raises():
    records = iter_json_objects([b'{"a": 1}\n', b"not json\n"], source=SOURCE)
    assert next(records)[1] == {"a": 1}
    with pytest.raises(InputValidationError, match="line 2"):
        next(records)
