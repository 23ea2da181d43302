"""prepare_input with ``collect_errors`` and ``estimate_tokens``: what a dry run shows before anything is sent.

Every bad line is reported (bounded) with its line number and skipped, and the valid lines still make parts.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from airflow_provider_genai_batch.errors import InputValidationError
from airflow_provider_genai_batch.formats import jsonl
from airflow_provider_genai_batch.formats.anthropic import AnthropicDialect
from airflow_provider_genai_batch.formats.openai import OpenAIDialect
from airflow_provider_genai_batch.inputs import prepare_input
from airflow_provider_genai_batch.parts import SplitLimits

MODEL = "gpt-4o-mini"


pytestmark = pytest.mark.usefixtures("spool_dir")


def gemini_line(key: str, text: str = "hello") -> bytes:
    line = {"key": key, "request": {"contents": [{"role": "user", "parts": [{"text": text}]}]}}
    return json.dumps(line).encode()


def where(errors: list[InputValidationError]) -> list[tuple[int | None, str]]:
    return [(error.line, error.reason) for error in errors]


def test_every_bad_line_is_reported_with_its_number_and_the_valid_lines_still_make_parts(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_bytes(
        b"\n".join(
            [
                gemini_line("k1"),
                b"{not json",
                gemini_line("k3"),
                b'{"key": "k4", "request": {"contents": "\xff"}}',
                b'{"request": {"contents": []}}',
                gemini_line("k1"),
                gemini_line("k7"),
                b"[1, 2]",
                gemini_line("k9"),
            ]
        )
        + b"\n"
    )

    prepared = prepare_input(
        str(source),
        OpenAIDialect(),
        model=MODEL,
        embeddings=False,
        split=SplitLimits(max_requests=2),
        collect_errors=10,
    )
    try:
        lines = [error.line for error in prepared.errors]
        assert lines == [2, 4, 5, 6, 8]
        assert prepared.errors_total == 5
        assert prepared.errors[0].reason.startswith("invalid JSON")
        assert prepared.errors[1].reason == "not valid UTF-8 (byte 39)"
        assert prepared.errors[3].reason == "duplicate key 'k1' (first used on line 1)"
        assert all(error.source == str(source) for error in prepared.errors)
        assert [(part.first_line, part.last_line) for part in prepared.parts] == [(1, 3), (6, 7), (9, 9)]
    finally:
        prepared.cleanup()


def test_collected_errors_are_bounded_but_all_counted(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"".join(b"{bad\n" if i % 2 else gemini_line(f"k{i}") + b"\n" for i in range(40)))

    prepared = prepare_input(str(source), OpenAIDialect(), model=MODEL, embeddings=False, collect_errors=3)
    try:
        assert [error.line for error in prepared.errors] == [2, 4, 6]
        assert prepared.errors_total == 20
        assert prepared.summary.count == 20
    finally:
        prepared.cleanup()


def test_a_line_over_the_longest_read_is_reported_and_the_lines_after_it_are_read(tmp_path, monkeypatch):
    monkeypatch.setattr("airflow_provider_genai_batch.inputs.MAX_LINE_BYTES", 200)
    source = tmp_path / "in.jsonl"
    source.write_bytes(gemini_line("a") + b"\n" + gemini_line("long", "x" * 5000) + b"\n" + gemini_line("c") + b"\n")

    prepared = prepare_input(str(source), OpenAIDialect(), model=MODEL, embeddings=False, collect_errors=5)
    try:
        assert [error.line for error in prepared.errors] == [2]
        assert "longer than 200 bytes" in prepared.errors[0].reason
        assert list(prepared.iter_keys()) == ["a", "c"]
    finally:
        prepared.cleanup()


def test_bad_inline_requests_are_collected_too():
    items: list[Any] = [json.loads(gemini_line("a")), "not a dict", json.loads(gemini_line("c"))]

    prepared = prepare_input(items, AnthropicDialect(), model="claude-sonnet-4-5", embeddings=False, collect_errors=5)
    try:
        assert where(prepared.errors) == [(2, "each inline request must be a dict")]
        assert [line["custom_id"] for line in prepared.parts[0].inline or []] == ["a", "c"]
    finally:
        prepared.cleanup()


def test_an_inline_request_whose_key_holds_a_lone_surrogate_is_refused_naming_it():
    items = [json.loads(gemini_line("a")), json.loads(gemini_line("b\udcff"))]

    with pytest.raises(InputValidationError) as raised:
        prepare_input(items, OpenAIDialect(), model=MODEL, embeddings=False)

    assert raised.value.line == 2
    assert raised.value.reason == (
        "text 'b\\udcff' holds a lone surrogate ('\\udcff'), which is not Unicode text and cannot be sent as UTF-8"
    )


def schema_request(key: str, properties: dict[Any, Any]) -> dict[str, Any]:
    line = json.loads(gemini_line(key))
    line["request"]["generationConfig"] = {
        "responseMimeType": "application/json",
        "responseSchema": {"type": "OBJECT", "properties": properties},
    }
    return line


def test_an_inline_request_holding_keys_1_and_text_1_in_one_dict_is_refused_naming_the_request_and_the_key():
    items = [json.loads(gemini_line("a")), schema_request("b", {1: {"type": "STRING"}, "1": {"type": "INTEGER"}})]

    with pytest.raises(InputValidationError) as raised:
        prepare_input(items, OpenAIDialect(), model=MODEL, embeddings=False)

    assert raised.value.line == 2
    assert raised.value.reason == (
        "field 'request.generationConfig.responseSchema.properties.1' is given twice: a dict holds keys JSON writes "
        "alike (a key that is not a string, such as 1, is written as the string '1'), so one of their values would "
        "be dropped silently"
    )


class OddlyHashedText(str):
    """A str subclass whose hash is not its text's: a dict holds it beside the same text as two keys."""

    def __hash__(self) -> int:
        return 7


def test_an_inline_request_holding_a_str_subclass_key_and_the_same_text_is_refused_naming_the_key():
    properties = {OddlyHashedText("name"): {"type": "STRING"}, "name": {"type": "INTEGER"}}
    assert len(properties) == 2
    items = [schema_request("a", properties)]

    with pytest.raises(InputValidationError) as raised:
        prepare_input(items, OpenAIDialect(), model=MODEL, embeddings=False)

    assert raised.value.line == 1
    assert raised.value.reason.startswith(
        "field 'request.generationConfig.responseSchema.properties.name' is given twice"
    )


def test_an_inline_request_with_a_number_key_no_other_key_is_written_as_is_sent_with_the_key_as_text():
    items = [schema_request("a", {1: {"type": "STRING"}, "2": {"type": "INTEGER"}})]

    prepared = prepare_input(items, OpenAIDialect(), model=MODEL, embeddings=False)
    try:
        with prepared.parts[0].open_upload() as sent:
            body = json.loads(sent.read())["body"]
        assert list(body["response_format"]["json_schema"]["schema"]["properties"]) == ["1", "2"]
    finally:
        prepared.cleanup()


def test_an_inline_request_whose_text_holds_a_lone_surrogate_is_collected_and_skipped():
    items = [json.loads(gemini_line("a", "cut \ud83d")), json.loads(gemini_line("b"))]

    prepared = prepare_input(items, AnthropicDialect(), model="claude-sonnet-4-5", embeddings=False, collect_errors=5)
    try:
        assert [error.line for error in prepared.errors] == [1]
        assert [line["custom_id"] for line in prepared.parts[0].inline or []] == ["b"]
    finally:
        prepared.cleanup()


def test_without_collect_errors_the_first_bad_line_raises(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_bytes(gemini_line("a") + b"\n{bad\n{worse\n")

    with pytest.raises(InputValidationError) as raised:
        prepare_input(str(source), OpenAIDialect(), model=MODEL, embeddings=False, split=SplitLimits())

    assert raised.value.line == 2


def test_estimated_input_tokens_are_given_per_part_and_in_total(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"".join(gemini_line(f"k{i}", "x" * 40 * (i + 1)) + b"\n" for i in range(3)))

    prepared = prepare_input(
        str(source),
        OpenAIDialect(),
        model=MODEL,
        embeddings=False,
        split=SplitLimits(max_requests=2),
        estimate_tokens=True,
    )
    try:
        assert [part.input_tokens for part in prepared.parts] == [10 + 20, 30]
        assert prepared.input_tokens == 60
    finally:
        prepared.cleanup()


def test_without_an_estimate_asked_for_parts_have_no_token_count(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_bytes(gemini_line("a") + b"\n")

    prepared = prepare_input(str(source), OpenAIDialect(), model=MODEL, embeddings=False, split=SplitLimits())
    try:
        assert prepared.parts[0].input_tokens is None
        assert prepared.input_tokens is None
    finally:
        prepared.cleanup()


def test_a_bad_line_of_a_native_file_is_left_out_of_what_would_be_sent(tmp_path):
    source = tmp_path / "native.jsonl"
    good = [
        json.dumps(
            {"custom_id": f"r{i}", "method": "POST", "url": "/v1/embeddings", "body": {"model": MODEL, "input": "x"}}
        )
        for i in range(2)
    ]
    source.write_bytes(f"{good[0]}\n{{oops\n{good[1]}\n".encode())

    prepared = prepare_input(str(source), OpenAIDialect(), model=MODEL, embeddings=False, collect_errors=5)
    try:
        assert [error.line for error in prepared.errors] == [2]
        with prepared.parts[0].open_upload() as stream:
            assert [json.loads(line)["custom_id"] for line in stream] == ["r0", "r1"]
    finally:
        prepared.cleanup()


def test_the_reader_passes_over_a_line_too_long_to_hold_as_it_streams_and_reads_on(monkeypatch):
    monkeypatch.setattr(jsonl, "READ_BYTES", 16)
    data = b'{"a": 1}\n' + b'{"b": "' + b"x" * 500 + b'"}\n{"c": 3}\n'
    errors: list[InputValidationError] = []

    reader = jsonl.JsonlReader(
        io.BytesIO(data), source="in.jsonl", max_line_bytes=100, too_long="too long", on_error=errors.append
    )

    assert [(number, obj) for number, obj, _ in reader] == [(1, {"a": 1}), (3, {"c": 3})]
    assert where(errors) == [(2, "line is longer than 100 bytes, too long")]
