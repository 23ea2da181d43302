"""Streaming JSONL reading: every non-blank line is one JSON object, and every error names its line.

``iter_json_objects`` reads lines already split (a provider's results); ``JsonlReader`` reads a batch input
as it streams: any line ending, a bound on line length, no repeated object members.
"""

from __future__ import annotations

import gzip
import io
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_genai_batch.errors import InputValidationError
from airflow_provider_genai_batch.formats import jsonl
from airflow_provider_genai_batch.formats.jsonl import (
    UTF8_BOM,
    JsonlReader,
    LoneCRToLF,
    decode_line,
    duplicate_field,
    iter_json_objects,
)

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


# --- JsonlReader: a batch input read as it streams -----------------------------------------------------------

LINE_A, LINE_B, LINE_C = b'{"key": "a"}', b'{"key": "b"}', b'{"key": "c"}'
BOUND = 1_000


def reader(data: bytes, *, max_line_bytes: int = BOUND) -> JsonlReader:
    return JsonlReader(io.BytesIO(data), source=SOURCE, max_line_bytes=max_line_bytes, too_long="the test's bound")


def read_all(data: bytes, **kwargs: Any) -> list[tuple[int, dict, int]]:
    return list(reader(data, **kwargs))


def reader_error(data: bytes, **kwargs: Any) -> InputValidationError:
    with pytest.raises(InputValidationError) as info:
        read_all(data, **kwargs)
    return info.value


def test_reader_yields_number_object_and_byte_length_of_each_line():
    assert read_all(LINE_A + b"\n" + LINE_B + b"\n") == [(1, {"key": "a"}, 13), (2, {"key": "b"}, 13)]


def test_cr_only_line_endings_are_lines():
    source = reader(LINE_A + b"\r" + LINE_B + b"\r" + LINE_C + b"\r")
    assert list(source) == [(1, {"key": "a"}, 13), (2, {"key": "b"}, 13), (3, {"key": "c"}, 13)]
    assert source.lone_cr


def test_mixed_crlf_lf_and_cr_line_endings_are_lines_with_their_own_lengths():
    source = reader(LINE_A + b"\r\n" + LINE_B + b"\n" + LINE_C + b"\r" + LINE_A.replace(b"a", b"d"))
    assert [(number, obj["key"], size) for number, obj, size in source] == [
        (1, "a", 14),
        (2, "b", 13),
        (3, "c", 13),
        (4, "d", 12),
    ]
    assert source.lone_cr


def test_crlf_and_lf_files_have_no_lone_cr():
    source = reader(LINE_A + b"\r\n" + LINE_B + b"\n")
    assert len(list(source)) == 2
    assert not source.lone_cr


def test_blank_cr_lines_are_skipped_but_counted():
    assert [number for number, _, _ in read_all(LINE_A + b"\r\r  \r" + LINE_B + b"\r")] == [1, 4]


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7, 13, 64])
def test_lines_are_the_same_wherever_the_reads_split_them(monkeypatch, chunk):
    # A CRLF split between two reads is one line ending, not a CR line and an empty LF line.
    data = LINE_A + b"\r\n" + LINE_B + b"\r" + LINE_C + b"\n\r\n" + LINE_A + b"\r\n"
    expected = read_all(data)
    monkeypatch.setattr(jsonl, "READ_BYTES", chunk)
    assert read_all(data) == expected
    assert [number for number, _, _ in expected] == [1, 2, 3, 5]


def test_a_last_line_ending_in_a_lone_cr_is_read():
    assert read_all(LINE_A + b"\n" + LINE_B + b"\r") == [(1, {"key": "a"}, 13), (2, {"key": "b"}, 13)]


def test_utf8_bom_is_skipped_and_left_out_of_the_byte_length():
    source = reader(UTF8_BOM + LINE_A + b"\n")
    assert list(source) == [(1, {"key": "a"}, 13)]
    assert source.bom


@pytest.mark.parametrize(
    ("encoding", "name"),
    [("utf-16", "UTF-16"), ("utf-16-be", "UTF-16"), ("utf-32", "UTF-32")],
    ids=["utf-16-le", "utf-16-be", "utf-32"],
)
def test_a_utf16_or_utf32_file_is_refused_as_not_utf8(encoding, name):
    text = (LINE_A + b"\n").decode()
    data = ("\ufeff" + text).encode(encoding) if encoding.endswith("-be") else text.encode(encoding)
    error = reader_error(data)
    assert error.line == 1
    assert error.reason.startswith(f"not UTF-8: the input is {name}")


def test_non_utf8_bytes_name_their_line_and_offset():
    error = reader_error(LINE_A + b'\n{"a": "caf\xe9"}\n')
    assert str(error) == f"{SOURCE}, line 2: not valid UTF-8 (byte 10)"


def test_a_line_over_the_bound_is_refused_on_its_line():
    error = reader_error(LINE_A + b"\n" + b'{"key": "' + b"x" * BOUND + b'"}\n' + LINE_B + b"\n")
    assert error.line == 2
    assert error.reason == f"line is longer than {BOUND:,} bytes, the test's bound"


def test_a_line_at_the_bound_is_read():
    line = b'{"key": "' + b"x" * (BOUND - 11) + b'"}'
    assert len(line) == BOUND
    assert read_all(line + b"\n")[0][2] == BOUND + 1


def test_an_endless_line_is_refused_after_at_most_the_bound_plus_one_read(monkeypatch):
    # The stream never ends: the reader must give up on the line while it streams, not wait for its end.
    monkeypatch.setattr(jsonl, "READ_BYTES", 64)
    served = 0

    class Endless(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer: Any) -> int:
            nonlocal served
            data = (LINE_A + b"\n" + b'{"key": "') if served == 0 else b"x" * len(buffer)
            data = data[: len(buffer)]
            buffer[: len(data)] = data
            served += len(data)
            return len(data)

    with pytest.raises(InputValidationError) as info:
        list(JsonlReader(Endless(), source=SOURCE, max_line_bytes=BOUND, too_long="the test's bound"))
    assert info.value.line == 2
    assert served <= BOUND + 2 * 64 + len(LINE_A) + 1


def test_a_line_longer_than_the_spill_size_is_read_back_whole(monkeypatch, tmp_path):
    # Past SPILL_BYTES a line goes on in an anonymous temporary file; within the bound it is returned whole.
    monkeypatch.setattr(jsonl, "READ_BYTES", 16)
    monkeypatch.setattr(jsonl, "SPILL_BYTES", 40)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    text = "y" * 500
    records = read_all(LINE_A + b'\n{"key": "long", "text": "' + text.encode() + b'"}\r\n' + LINE_B)
    assert [obj.get("text", obj["key"]) for _, obj, _ in records] == ["a", text, "b"]
    assert list(tmp_path.iterdir()) == []


def test_an_endless_last_line_without_newline_is_refused_at_its_line():
    error = reader_error(LINE_A + b"\n" + b"x" * (BOUND + 1))
    assert error.line == 2


def test_a_corrupt_gzip_stream_names_the_line_it_broke_on():
    compressed = gzip.compress(LINE_A + b"\n" + LINE_B + b"\n" + b"z" * 200_000)
    stream = gzip.GzipFile(fileobj=io.BytesIO(compressed[: len(compressed) // 2]))
    with pytest.raises(InputValidationError) as info:
        list(JsonlReader(stream, source=SOURCE, max_line_bytes=10**6, too_long="x"))  # type: ignore[arg-type]
    assert "compressed input is corrupt or cut short" in info.value.reason


# --- what a line that is not JSON holds, named -----------------------------------------------------------------

PRETTY_OBJECT = b'{\n  "key": "a",\n  "request": {\n    "contents": []\n  }\n}\n'


@pytest.mark.parametrize(
    "data",
    [b'[\n  {"key": "a"},\n  {"key": "b"}\n]\n', b'[{"key": "a"},\n{"key": "b"}]\n'],
    ids=["pretty-printed", "one-object-a-line"],
)
def test_a_json_array_spread_over_lines_is_named_as_json_not_jsonl(data):
    error = reader_error(data)
    assert error.line == 1
    assert error.reason.startswith("invalid JSON: the line opens a JSON array that it does not close")
    assert "the file is JSON (an array spread over lines), not JSONL" in error.reason


def test_a_pretty_printed_object_is_named_as_json_not_jsonl():
    error = reader_error(PRETTY_OBJECT)
    assert error.line == 1
    assert "the file is JSON (an object spread over lines, as pretty-printing writes it), not JSONL" in error.reason


@pytest.mark.parametrize(
    "cut", [b'{"key": "b", "request": {"contents": [{"par', b'{"key": "b",'], ids=["in-a-name", "after-a-member"]
)
def test_a_line_cut_short_inside_its_object_is_not_taken_for_pretty_printed_json(cut):
    error = reader_error(LINE_A + b"\n" + cut)
    assert error.line == 2
    assert error.reason == "invalid JSON: Input data was truncated"


def test_a_json_array_of_requests_on_one_line_says_jsonl_has_no_array():
    error = reader_error(b'[{"key": "a"}, {"key": "b"}]\n')
    assert error.reason == (
        "each line must be a JSON object, got list: this is a JSON array of requests, but JSONL holds one request "
        "object a line, with no array"
    )


@pytest.mark.parametrize(("literal", "at"), [(b"NaN", 22), (b"Infinity", 22), (b"-Infinity", 22)])
def test_a_nan_or_infinity_literal_is_named(literal, at):
    error = reader_error(LINE_A + b'\n{"key": "b", "score": ' + literal + b"}\n")
    assert error.line == 2
    assert error.reason == (
        f"invalid JSON: {literal.decode()} is not JSON (Python's json.dumps writes it for a float that is not a "
        f"number unless allow_nan=False): write null or a number (byte {at})"
    )


@pytest.mark.parametrize("number", ["1e400", "-2.5E+999"])
def test_a_number_no_float_holds_is_named(number):
    line = b'{"key": "b", "request": {"args": [1, {"x": ' + number.encode() + b"}]}}"
    error = reader_error(LINE_A + b"\n" + line + b"\n")
    assert error.line == 2
    assert error.reason == f"invalid JSON: the number {number} is out of range: no 64-bit float holds it"


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-32-le"])
def test_a_utf16_or_utf32_file_without_a_byte_order_mark_is_named(encoding):
    error = reader_error((LINE_A.decode() + "\n" + LINE_B.decode() + "\n").encode(encoding))
    assert error.line == 1
    assert "NUL bytes between the characters: the input is UTF-16 or UTF-32 without a byte-order mark" in error.reason


def test_two_objects_on_one_line_are_named_as_a_lost_line_break():
    error = reader_error(LINE_A + b"\n" + LINE_B + b"  " + LINE_C + b"\n")
    assert error.line == 2
    assert error.reason == (
        "invalid JSON: a second JSON object starts at byte 14, after the first one ended: JSONL holds one request "
        "object a line (was a line break lost?)"
    )


@pytest.mark.parametrize("after", [b",", b" , ", b"," + LINE_C], ids=["comma", "spaced-comma", "comma-then-object"])
def test_an_object_followed_by_a_comma_is_named_as_a_comma_between_lines(after):
    error = reader_error(LINE_A + b"\n" + LINE_B + after + b"\n")
    assert error.line == 2
    comma = len(LINE_B) + after.index(b",")
    assert error.reason == (
        f"invalid JSON: a comma follows the object (byte {comma}): JSONL holds one request object a line, with "
        "nothing between them (the lines of a JSON array, without its brackets?)"
    )


def test_other_trailing_characters_are_left_as_the_parser_words_them():
    error = reader_error(LINE_A + b"}\n")
    assert error.reason == "invalid JSON: JSON is malformed: trailing characters (byte 13)"


def test_a_byte_order_mark_in_the_middle_of_the_file_is_named():
    error = reader_error(LINE_A + b"\n" + UTF8_BOM + LINE_B + b"\n")
    assert error.line == 2
    assert error.reason == (
        "invalid JSON: a UTF-8 byte-order mark in the middle of the file (files joined, each saved with one) (byte 0)"
    )


@pytest.mark.parametrize(
    ("line", "what"),
    [(b"\x0c", "a form feed (\\f, a page break)"), (b"  \x0b", "a vertical tab (\\v)")],
)
def test_a_line_of_a_form_feed_or_vertical_tab_is_not_blank_and_is_named(line, what):
    error = reader_error(LINE_A + b"\n" + line + b"\n" + LINE_B + b"\n")
    assert error.line == 2
    assert error.reason == f"invalid JSON: {what}, which JSON does not read as whitespace (byte {len(line) - 1})"


def test_a_nul_byte_is_named():
    error = reader_error(LINE_A + b"\n" + b"\x00" * 8 + b"\n")
    assert error.line == 2
    assert error.reason == "invalid JSON: a NUL byte (binary data, or a file padded with zeros) (byte 0)"


# --- duplicate object members --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "field"),
    [
        (b'{"key": "a", "key": "b", "request": {}}', "key"),
        (
            b'{"key": "a", "request": {"generationConfig": {"topK": 1}, "generationConfig": {"topP": 1}}}',
            "request.generationConfig",
        ),
        (
            b'{"key": "a", "request": {"generationConfig": {"temperature": 1, "temperature": 2}}}',
            "request.generationConfig.temperature",
        ),
        (
            b'{"key": "a", "request": {"contents": [{"parts": [{"text": "x", "text": "y"}]}]}}',
            "request.contents[0].parts[0].text",
        ),
        (b'{"key": "a", "k\\u0065y": "b"}', "key"),
    ],
    ids=["top-level", "object", "number", "in-a-list", "escaped-name"],
)
def test_a_repeated_object_member_is_refused_naming_it(line, field):
    error = reader_error(LINE_A + b"\n" + line + b"\n")
    assert error.line == 2
    assert error.reason == (
        f"duplicate field {field!r}: JSON keeps only one of its values, so the other would be dropped silently"
    )


@pytest.mark.parametrize(
    "line",
    [
        b'{"key": "a", "request": {"contents": [{"role": "user", "parts": [{"text": "1"}]}, '
        b'{"role": "model", "parts": [{"text": "2"}]}]}}',
        b'{"key": "a:b", "request": {"contents": [{"parts": [{"text": "time: 12:30, ratio 1:2 \\"q\\": x"}]}]}}',
        b'{"key": "a", "request": {"contents": [{"parts": [{"text": "escaped colon \\u003a and \\u003A"}]}]}}',
        b'{"key": "\\u00e9t\\u00e9", "note": "caf\\u00e9"}',
    ],
    ids=["same-name-in-sibling-objects", "colons-in-strings", "escaped-colons", "unicode-escapes"],
)
def test_lines_without_repeated_members_are_accepted(line):
    assert len(read_all(line + b"\n")) == 1


def test_duplicate_field_is_none_for_a_clean_object_and_the_path_otherwise():
    assert duplicate_field(b'{"a": {"b": 1, "c": [1, {"d": 2}]}}', b'{"a":{"b":1,"c":[1,{"d":2}]}}') is None
    assert duplicate_field(b'[{"k": 1}, {"k": 1, "k": 2}]', b'[{"k":1},{"k":2}]') == "[1].k"


def test_the_reader_keeps_the_last_object_as_compact_json():
    source = reader(b'{"key": "a",  "n": [1, 2.5]}\n')
    assert next(iter(source))[1] == {"key": "a", "n": [1, 2.5]}
    assert source.canonical == b'{"key":"a","n":[1,2.5]}'


# --- LoneCRToLF: what is uploaded for a file with lone CRs ---------------------------------------------------


def test_lone_crs_are_read_as_lf_and_crlf_is_kept():
    data = LINE_A + b"\r" + LINE_B + b"\r\n" + LINE_C + b"\r"
    assert LoneCRToLF(io.BytesIO(data)).read() == LINE_A + b"\n" + LINE_B + b"\r\n" + LINE_C + b"\n"


@pytest.mark.parametrize("size", [1, 2, 3, 13, 14, 15])
def test_a_crlf_split_between_two_reads_stays_crlf(size):
    data = LINE_A + b"\r\n" + LINE_B + b"\r" + LINE_C
    stream = io.BufferedReader(LoneCRToLF(io.BytesIO(data)), buffer_size=size)
    pieces = iter(lambda: stream.read(size), b"")
    assert b"".join(pieces) == data.replace(b"}\r{", b"}\n{")


def test_the_converted_stream_keeps_sizes_and_offsets():
    data = b"xx" + LINE_A + b"\r" + LINE_B + b"\r"
    stream = LoneCRToLF(io.BytesIO(data))
    stream.seek(2)
    assert stream.tell() == 2
    assert stream.seek(0, io.SEEK_END) == len(data)
    stream.seek(2)
    assert stream.read() == LINE_A + b"\n" + LINE_B + b"\n"


@pytest.mark.parametrize(
    ("line", "escape", "byte"),
    [
        (rb'{"key": "a", "request": {"text": "cut\ud800"}}', r"\ud800", 37),
        (rb'{"key": "a", "request": {"text": "\udc00 low"}}', r"\udc00", 34),
        (rb'{"key": "a", "request": {"text": "\ud83d\ude00 then \ud83d"}}', r"\ud83d", 52),
    ],
    ids=["high-before-quote", "low-alone", "after-a-whole-pair"],
)
def test_a_lone_surrogate_escape_is_named_with_its_byte(line: bytes, escape: str, byte: int) -> None:
    with pytest.raises(InputValidationError) as raised:
        decode_line(line, SOURCE, 1)
    assert str(raised.value) == (
        f"{SOURCE}, line 1: invalid JSON: the escape {escape} (byte {byte}) is half of a UTF-16 surrogate pair "
        "(a character cut in two), which is no character: write the whole character"
    )


def test_a_whole_surrogate_pair_escape_is_one_character() -> None:
    line, _ = decode_line(rb'{"key": "a", "request": {"text": "\ud83d\ude00"}}', SOURCE, 1)
    assert line["request"]["text"] == "\U0001f600"
