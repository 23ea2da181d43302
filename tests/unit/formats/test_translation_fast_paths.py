"""The fast paths of request reading change nothing: every line translates to the same bytes, or fails with the
same error, as before they existed.

The reference is ``translation_golden.txt``: one digest per line of :mod:`.translation_corpus` (the schema
check's verdict and every target's bytes or error), made with the code before the fast paths. A translated
line that changed would change the input fingerprint, and a re-run would not re-attach to its job.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_genai_batch.formats import translate
from airflow_provider_genai_batch.formats.translate import Part, fields, read_part, read_parts, text_turn

from .translation_corpus import digest, lines, outcomes

GOLDEN = Path(__file__).with_name("translation_golden.txt")


def _objects(value: Any) -> Iterator[Any]:
    """Every JSON object below ``value`` (itself included)."""
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from _objects(item)
    elif isinstance(value, list):
        for item in value:
            yield from _objects(item)


def _result(read: Any, *args: Any) -> Any:
    try:
        return read(*args)
    except ValueError as err:
        return f"ValueError: {err}"


def test_every_corpus_line_checks_and_translates_as_the_reference_code_did() -> None:
    expected = GOLDEN.read_text().split()
    differing = [
        (number, outcomes(line, embed))
        for number, ((line, embed), want) in enumerate(zip(lines(), expected, strict=True))
        if digest(line, embed) != want
    ]
    assert not differing, f"{len(differing)} lines differ from the reference, the first: {differing[0]}"


def test_fields_reads_every_corpus_object_as_the_rebuilt_copy_does() -> None:
    for line, _ in lines():
        for obj in _objects(line):
            assert _result(fields, obj, "request") == _result(translate._rebuilt_fields, obj, "request")


def test_text_turn_reads_every_corpus_object_it_takes_as_read_parts_does() -> None:
    taken = 0
    for line, _ in lines():
        for obj in _objects(line):
            turn = text_turn(obj)
            if turn is not None:
                role, parts = read_parts(obj, "c", "openai")
                assert turn == (role, [part.value for part in parts])
                taken += 1
    assert taken


def test_text_turn_leaves_any_other_form_to_the_general_reader() -> None:
    others = [
        {"role": "user", "parts": [{"text": "hi"}], "extra": 1},
        {"role": "system", "parts": [{"text": "hi"}]},
        {"role": None, "parts": [{"text": "hi"}]},
        {"parts": [{"text": "hi", "thought": False}]},
        {"parts": [{"text": ""}]},
        {"parts": []},
        {"parts": [{"inlineData": {"mimeType": "image/png", "data": "AAAA"}}]},
    ]

    assert [text_turn(content) for content in others] == [None] * len(others)


def test_an_object_without_snake_case_names_or_nulls_is_read_in_place() -> None:
    config = {"temperature": 0.2, "maxOutputTokens": 64}

    assert fields(config, "generationConfig") is config


def test_a_snake_case_name_is_read_under_its_camel_case_name() -> None:
    assert fields({"max_output_tokens": 64, "topP": 1}, "generationConfig") == {"maxOutputTokens": 64, "topP": 1}


def test_a_null_field_is_read_as_unset() -> None:
    assert fields({"temperature": None, "topP": 1}, "generationConfig") == {"topP": 1}


def test_both_spellings_of_one_field_are_refused() -> None:
    with pytest.raises(ValueError, match="generationConfig sets 'topP' and 'top_p', one field twice"):
        fields({"topP": 1, "top_p": 1}, "generationConfig")


_NO_DATA = (
    "ValueError: p must hold exactly one of text, inlineData, functionCall, functionResponse (an empty text is none)"
)


@pytest.mark.parametrize(
    ("part", "expected"),
    [
        ({"text": "hi"}, Part("text", "hi", "p")),
        ({"text": ""}, _NO_DATA),
        ({"text": None}, _NO_DATA),
        ({"text": 5}, "ValueError: p.text must be a string"),
    ],
    ids=["text", "empty_text", "null", "number"],
)
def test_a_one_field_text_part_is_read_as_the_general_reader_reads_it(part: dict[str, Any], expected: Any) -> None:
    assert _result(read_part, part, "p", "openai") == expected


COMPACT_VALUES = [
    {"order_id": "A-1", "note": 'déjà vu ✓ \u2028 \x7f \x00 \x1f " \\ /', "n": [1, -2, 2**63, -(2**64), True, None]},
    {"nested": {"deeper": [{"a": []}, {}]}, "": "empty name"},
    {"float": 2.5, "big": 1e16, "small": 1e-05},
    [0.1, 3],
    "a\ud800b",
    {1: "int key"},
    ("a", "tuple"),
    {"emoji": "😀", "cjk": "漢字", "rtl": "مرحبا"},
]


@pytest.mark.parametrize("value", COMPACT_VALUES, ids=range(len(COMPACT_VALUES)))
def test_compact_json_writes_what_the_standard_library_encoder_writes(value: Any) -> None:
    reference = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode(value)
    assert translate.compact_json(value, "contents[0].parts[0]", "functionCall.args") == reference


def test_compact_json_writes_every_character_as_the_standard_library_encoder_does() -> None:
    reference = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    text = "".join(chr(c) for c in range(0x3000)) + "".join(chr(c) for c in range(0xE000, 0x10000))
    assert translate.compact_json({"text": text}, "contents[0].parts[0]", "functionCall.args") == reference(
        {"text": text}
    )
