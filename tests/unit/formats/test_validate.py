"""Input validation: every problem that can be known before upload is reported with its line and reason."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_genai_batch.errors import InputValidationError
from airflow_provider_genai_batch.formats.detect import InputFormat
from airflow_provider_genai_batch.formats.jsonl import iter_json_objects
from airflow_provider_genai_batch.formats.validate import ErrorCollector, InputLimits, InputSummary, validate_lines
from airflow_provider_genai_batch.key_index import KeyLog

SOURCE = "in.jsonl"
GEMINI_ONLY = frozenset({InputFormat.GEMINI})
ALL_FORMATS = frozenset(InputFormat)
GEMINI_LIMITS = InputLimits(provider="gemini")

OPENAI_LINE = {
    "custom_id": "r1",
    "method": "POST",
    "url": "/v1/chat/completions",
    "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
}
ANTHROPIC_LINE = {
    "custom_id": "r1",
    "params": {"model": "claude-sonnet-4", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]},
}
BEDROCK_LINE = {"recordId": "r1", "modelInput": {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}}


def gemini_line(key: Any, text: str = "hello", **extra: Any) -> dict[str, Any]:
    return {"key": key, "request": {"contents": [{"role": "user", "parts": [{"text": text}]}]}, **extra}


def embed_line(key: str, text: str = "hello") -> dict[str, Any]:
    return {"key": key, "request": {"content": {"parts": [{"text": text}]}, "taskType": "RETRIEVAL_DOCUMENT"}}


def encode(*objs: Any) -> list[bytes]:
    return [json.dumps(obj).encode() + b"\n" for obj in objs]


def validate(
    *objs: Any,
    accepted: frozenset[InputFormat] = GEMINI_ONLY,
    limits: InputLimits = GEMINI_LIMITS,
    **kwargs: Any,
) -> InputSummary:
    records = iter_json_objects(encode(*objs), source=SOURCE)
    return validate_lines(records, source=SOURCE, accepted=accepted, limits=limits, **kwargs)


def validation_error(*objs: Any, **kwargs: Any) -> InputValidationError:
    with pytest.raises(InputValidationError) as info:
        validate(*objs, **kwargs)
    return info.value


# --- valid input -------------------------------------------------------------------------------------


def test_valid_gemini_input_is_summarised_with_count_and_bytes():
    lines = [gemini_line("a"), gemini_line("b")]
    summary = validate(*lines)
    assert summary == InputSummary(
        format=InputFormat.GEMINI, count=2, total_bytes=sum(len(raw) for raw in encode(*lines))
    )


def test_rest_shaped_generation_config_and_metadata_are_accepted():
    line = gemini_line("a", metadata={"source": "crm"})
    line["request"]["generationConfig"] = {"temperature": 0.2, "thinkingConfig": {"thinkingBudget": 0}}
    assert validate(line).count == 1


def test_on_key_receives_every_key_in_input_order():
    seen: list[str] = []
    validate(gemini_line("z"), gemini_line("a"), gemini_line("m"), on_key=seen.append)
    assert seen == ["z", "a", "m"]


def test_on_key_is_not_called_for_the_line_that_fails():
    seen: list[str] = []
    with pytest.raises(InputValidationError):
        validate(gemini_line("a"), gemini_line("b"), {"key": "c"}, on_key=seen.append)
    assert seen == ["a", "b"]


# --- keys --------------------------------------------------------------------------------------------


def test_missing_key_is_refused():
    error = validation_error(gemini_line("a"), {"request": gemini_line("x")["request"]})
    assert (error.line, error.reason) == (2, "missing key field 'key'")


@pytest.mark.parametrize(
    ("key", "written"), [("", '""'), (7, "7"), (None, "null"), (["a"], '["a"]')], ids=["empty", "int", "null", "list"]
)
def test_key_must_be_a_non_empty_string_and_the_error_shows_it_as_written(key, written):
    error = validation_error(gemini_line(key))
    assert (error.line, error.reason) == (1, f"'key' must be a non-empty string, got {written}")


@pytest.mark.parametrize(
    ("line", "accepted", "reason"),
    [
        (
            {"Key": "a", "request": gemini_line("x")["request"]},
            None,
            "missing key field 'key': the line has 'Key', and key fields are read exactly as spelled",
        ),
        (
            {"customId": "a", **{k: v for k, v in OPENAI_LINE.items() if k != "custom_id"}},
            ALL_FORMATS,
            "missing key field 'custom_id': the line has 'customId', and key fields are read exactly as spelled",
        ),
        (
            {"metadata": {"key": "a"}, "request": gemini_line("x")["request"]},
            None,
            "missing key field 'key': metadata.key is given, but the key is read from the top level of the line only",
        ),
        (
            {"params": {**ANTHROPIC_LINE["params"], "custom_id": "a"}},
            ALL_FORMATS,
            "missing key field 'custom_id': params.custom_id is given, but the key is read from the top level of the "
            "line only",
        ),
        (
            {"modelInput": {**BEDROCK_LINE["modelInput"], "recordId": "a"}},
            ALL_FORMATS,
            "missing key field 'recordId': modelInput.recordId is given, but the key is read from the top level of "
            "the line only",
        ),
        (
            {"custom_id": "a", "request": gemini_line("x")["request"]},
            None,
            "missing key field 'key': the line has 'custom_id', the key field of another format, which this format "
            "does not read",
        ),
    ],
    ids=["capitalised", "camel-case", "in-metadata", "in-params", "in-model-input", "another-formats-field"],
)
def test_a_key_in_an_odd_place_is_refused_saying_where_it_is_and_where_it_is_read(line, accepted, reason):
    error = validation_error(line) if accepted is None else validation_error(line, accepted=accepted)
    assert (error.line, error.reason) == (1, reason)


def test_duplicate_key_names_the_line_it_was_first_used_on():
    error = validation_error(gemini_line("a"), gemini_line("b"), gemini_line("c"), gemini_line("b"))
    assert error.line == 4
    assert error.reason == "duplicate key 'b' (first used on line 2)"


def test_a_duplicate_key_is_reported_before_a_later_error_in_line_order():
    # Duplicates are found by one sort when the pass ends or another error comes up: the earlier line wins.
    error = validation_error(gemini_line("a"), gemini_line("b"), gemini_line("a"), gemini_line("c"), {"key": "d"})
    assert (error.line, error.reason) == (3, "duplicate key 'a' (first used on line 1)")


def test_a_later_error_is_reported_when_no_earlier_key_repeats():
    error = validation_error(gemini_line("a"), gemini_line("b"), {"key": "c"}, gemini_line("a"))
    assert (error.line, error.reason) == (
        3,
        'unrecognised line: expected {"key": ..., "request": {...}} '
        "(Gemini batch format) or a provider's native batch format",
    )


def test_the_earliest_of_several_duplicates_is_reported():
    lines = [gemini_line(k) for k in ("a", "b", "c", "d", "c", "b", "a")]
    error = validation_error(*lines)
    assert (error.line, error.reason) == (5, "duplicate key 'c' (first used on line 3)")


def test_a_duplicate_far_apart_in_a_large_input_is_found():
    count = 3 * KeyLog.BATCH + 5
    keys = [f"k{n}" for n in range(1, count)] + ["k1"]  # the last line repeats the first, batches apart
    records = ((n, gemini_line(key), 10) for n, key in enumerate(keys, 1))
    with pytest.raises(InputValidationError) as info:
        validate_lines(records, source=SOURCE, accepted=GEMINI_ONLY, limits=GEMINI_LIMITS)
    assert (info.value.line, info.value.reason) == (count, "duplicate key 'k1' (first used on line 1)")


def test_a_duplicate_is_reported_before_the_request_count_limit_it_pushed_past():
    limits = InputLimits(provider="gemini", max_requests=3)
    error = validation_error(gemini_line("a"), gemini_line("b"), gemini_line("a"), gemini_line("c"), limits=limits)
    assert (error.line, error.reason) == (3, "duplicate key 'a' (first used on line 1)")


def renamed(key: str) -> str:
    """A provider id scheme like OpenAI's: keys with a space become ``k-`` + the key without spaces."""
    return "k-" + key.replace(" ", "") if " " in key else key


def test_a_key_equal_to_an_earlier_keys_provider_id_is_refused():
    error = validation_error(gemini_line("order 1"), gemini_line("k-order1"), provider_key=renamed)
    assert error.line == 2
    assert error.reason == (
        "duplicate provider id: key 'k-order1' would reach the provider under the same id as the key on line 1"
    )


def test_a_key_whose_provider_id_an_earlier_key_already_is_is_refused():
    error = validation_error(gemini_line("k-order1"), gemini_line("order 1"), provider_key=renamed)
    assert error.line == 2
    assert "key 'order 1' would reach the provider under the same id as the key on line 1" in error.reason


def test_a_repeated_renamed_key_is_a_duplicate_key_named_as_written():
    error = validation_error(
        gemini_line("order 1"), gemini_line("order 2"), gemini_line("order 1"), provider_key=renamed
    )
    assert (error.line, error.reason) == (3, "duplicate key 'order 1' (first used on line 1)")


def test_renamed_keys_with_distinct_ids_are_accepted():
    assert validate(gemini_line("order 1"), gemini_line("order 2"), gemini_line("k-x"), provider_key=renamed).count == 3


def test_key_longer_than_the_provider_allows_is_refused():
    limits = InputLimits(provider="openai", max_key_length=8)
    error = validation_error(gemini_line("12345678"), gemini_line("123456789"), limits=limits)
    assert error.line == 2
    assert "9 characters, over the 8 allowed" in error.reason


# --- formats -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "name"),
    [(OPENAI_LINE, "openai"), (ANTHROPIC_LINE, "anthropic"), (BEDROCK_LINE, "bedrock")],
)
def test_native_line_of_another_provider_is_refused_for_gemini(line, name):
    error = validation_error(line)
    assert error.line == 1
    assert error.reason == f"{name} native format cannot be sent to gemini (accepted: gemini)"


@pytest.mark.parametrize(
    ("line", "fmt"),
    [(OPENAI_LINE, InputFormat.OPENAI), (ANTHROPIC_LINE, InputFormat.ANTHROPIC), (BEDROCK_LINE, InputFormat.BEDROCK)],
)
def test_native_line_is_accepted_where_its_format_is(line, fmt):
    second = {**line, fmt.key_field: "r2"}
    summary = validate(line, second, accepted=frozenset({fmt}))
    assert (summary.format, summary.count) == (fmt, 2)


def test_collected_errors_refuse_every_line_of_a_format_not_accepted_and_keep_the_first_lines_format():
    errors = ErrorCollector(10)
    second = {**OPENAI_LINE, "custom_id": "r2"}
    validate(OPENAI_LINE, second, gemini_line("a"), gemini_line("b"), errors=errors)
    refused = "openai native format cannot be sent to gemini (accepted: gemini)"
    mixed = "line is in gemini format but the input started in openai format"
    none_sent = "0 requests, fewer than the 1 a gemini batch needs"
    found = [(error.line, error.reason) for error in errors.errors]
    assert found == [(1, refused), (2, refused), (3, mixed), (4, mixed), (None, none_sent)]


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("", "'key' must be a non-empty string, got \"\""),
        (None, "'key' must be a non-empty string, got null"),
        (7, "'key' must be a non-empty string, got 7"),
        ({"id": "a" * 90}, f'\'key\' must be a non-empty string, got {{"id":"{"a" * 73}...'),
        ("123456789", "'key' is 9 characters, over the 8 allowed"),
    ],
)
def test_a_bad_key_after_good_lines_is_refused_in_the_same_words(key, reason):
    limits = InputLimits(provider="gemini", max_key_length=8)
    error = validation_error(gemini_line("a"), gemini_line("12345678"), gemini_line(key), limits=limits)
    assert (error.line, error.reason) == (3, reason)


def test_mixed_formats_are_refused_at_the_first_line_that_differs():
    error = validation_error(gemini_line("a"), gemini_line("b"), OPENAI_LINE, accepted=ALL_FORMATS)
    assert error.line == 3
    assert error.reason == "line is in openai format but the input started in gemini format"


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ({key: value for key, value in OPENAI_LINE.items() if key != "custom_id"}, "custom_id"),
        ({"params": ANTHROPIC_LINE["params"]}, "custom_id"),
        ({"modelInput": BEDROCK_LINE["modelInput"]}, "recordId"),
    ],
    ids=["openai", "anthropic", "bedrock"],
)
def test_a_native_line_missing_its_key_is_refused_for_its_key_not_as_unrecognised(line, field):
    error = validation_error(line, accepted=ALL_FORMATS)
    assert (error.line, error.reason) == (1, f"missing key field {field!r}")


def test_a_gemini_line_with_body_for_request_is_unrecognised_not_taken_for_openai():
    error = validation_error(gemini_line("a"), {"key": "b", "body": gemini_line("b")["request"]})
    assert error.line == 2
    assert error.reason.startswith("unrecognised line")


def test_an_openai_line_missing_its_body_is_an_openai_line_in_a_mixed_input():
    error = validation_error(gemini_line("a"), {"custom_id": "b", "method": "POST", "url": "/v1/chat/completions"})
    assert (error.line, error.reason) == (2, "line is in openai format but the input started in gemini format")


def test_unrecognised_line_is_refused_with_the_expected_shape():
    error = validation_error(gemini_line("a"), {"contents": [{"parts": [{"text": "bare request"}]}]})
    assert error.line == 2
    assert error.reason.startswith("unrecognised line")
    assert '{"key": ..., "request": {...}}' in error.reason


# --- Gemini lines ------------------------------------------------------------------------------------


def test_unknown_top_level_field_is_refused():
    error = validation_error(gemini_line("a", customId="x", extra=1))
    assert (error.line, error.reason) == (1, "unknown field(s) customId, extra")


@pytest.mark.parametrize("request_value", ["hello", ["a"], 3, None])
def test_request_must_be_an_object(request_value):
    error = validation_error({"key": "a", "request": request_value})
    assert error.reason == "'request' must be a JSON object"


@pytest.mark.parametrize("contents", [[], None, "hello", {"parts": [{"text": "x"}]}])
def test_generation_request_needs_a_non_empty_contents_list(contents):
    request = {"generationConfig": {"temperature": 0}}
    if contents is not None:
        request["contents"] = contents
    error = validation_error({"key": "a", "request": request})
    assert error.reason == "a generation request needs 'contents' (a non-empty list)"


def test_sdk_style_config_in_a_jsonl_line_is_refused_with_the_rest_spelling():
    line = gemini_line("a")
    line["request"]["config"] = {"temperature": 0.2}
    error = validation_error(line)
    assert error.line == 1
    assert "'generationConfig'" in error.reason
    assert "'config'" in error.reason


def test_embeddings_request_needs_content():
    error = validation_error(gemini_line("a"), embeddings=True)
    assert error.reason == "an embeddings request needs 'content' (an object with 'parts')"


def test_valid_embeddings_input_is_accepted():
    assert validate(embed_line("a"), embed_line("b"), embeddings=True).count == 2


def test_a_line_checked_already_skips_the_request_check():
    bad = {"key": "a", "request": {"contents": [{"role": "system", "parts": [{"text": "hi"}]}]}}
    seen: list[Any] = []

    def checked(obj: dict[str, Any]) -> bool:
        seen.append(obj)
        return True

    assert validate(bad, checked=checked).count == 1
    assert seen == [bad]


def test_a_line_not_checked_already_goes_through_the_request_check():
    bad = {"key": "a", "request": {"contents": [{"role": "system", "parts": [{"text": "hi"}]}]}}
    error = validation_error(bad, checked=lambda obj: False)
    assert error.line == 1
    assert error.reason.startswith("request.contents[0].role: 'system' is not allowed here")


def test_native_lines_are_never_offered_as_checked_already():
    seen: list[Any] = []
    validate(OPENAI_LINE, accepted=ALL_FORMATS, checked=lambda obj: seen.append(obj) or True)
    assert seen == []


# --- limits ------------------------------------------------------------------------------------------


def test_request_count_over_the_limit_names_the_limit_and_the_line():
    limits = InputLimits(provider="gemini", max_requests=3)
    error = validation_error(*(gemini_line(str(i)) for i in range(4)), limits=limits)
    assert error.line == 4
    assert "3-request limit" in error.reason
    assert "gemini" in error.reason


def test_request_count_at_the_limit_is_accepted():
    limits = InputLimits(provider="gemini", max_requests=3)
    assert validate(*(gemini_line(str(i)) for i in range(3)), limits=limits).count == 3


def test_large_limits_are_written_with_thousands_separators():
    limits = InputLimits(provider="openai", max_requests=50000)
    records = ((n, gemini_line(str(n)), 10) for n in range(1, 50_002))
    with pytest.raises(InputValidationError) as info:
        validate_lines(records, source=SOURCE, accepted=GEMINI_ONLY, limits=limits)
    assert info.value.line == 50_001
    assert "50,000-request limit" in info.value.reason


def test_byte_limit_is_checked_on_the_running_total_including_newlines():
    lines = [gemini_line("a"), gemini_line("b"), gemini_line("c")]
    two_lines = sum(len(raw) for raw in encode(*lines[:2]))
    error = validation_error(*lines, limits=InputLimits(provider="gemini", max_bytes=two_lines))
    assert error.line == 3
    assert f"exceeds {two_lines:,} bytes" in error.reason


def test_input_exactly_at_the_byte_limit_is_accepted():
    lines = [gemini_line("a"), gemini_line("b")]
    size = sum(len(raw) for raw in encode(*lines))
    assert validate(*lines, limits=InputLimits(provider="gemini", max_bytes=size)).total_bytes == size


def test_fewer_requests_than_the_minimum_is_refused_without_a_line():
    error = validation_error(gemini_line("a"), limits=InputLimits(provider="bedrock", min_requests=100))
    assert error.line is None
    assert error.reason == "1 requests, fewer than the 100 a bedrock batch needs"
    assert str(error) == f"{SOURCE}: 1 requests, fewer than the 100 a bedrock batch needs"


def test_empty_input_is_refused():
    with pytest.raises(InputValidationError) as info:
        validate_lines(
            iter_json_objects([b"\n", b"  \n"], source=SOURCE),
            source=SOURCE,
            accepted=GEMINI_ONLY,
            limits=GEMINI_LIMITS,
        )
    assert info.value.reason == "input is empty: no requests"
    assert info.value.line is None
