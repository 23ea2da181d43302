"""prepare_input: validation, translation, spooling and limits (OpenAI, Anthropic), and where input comes from.

Validation takes a dialect, never a hook: no Airflow connection is defined or read here (any lookup
fails the test), and a dialect has no client, so nothing can reach the network.
"""

from __future__ import annotations

import gzip
import json
import re
from collections import OrderedDict, defaultdict
from collections.abc import Iterator
from datetime import date, datetime, time, timezone
from decimal import Decimal
from enum import Enum, IntEnum, StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar
from uuid import UUID

import pytest
from airflow.sdk import BaseHook
from airflow.sdk.io import has_fs
from google.genai import types as genai_types

from airflow_provider_genai_batch import filesystems, inputs
from airflow_provider_genai_batch.errors import InputValidationError
from airflow_provider_genai_batch.filesystems import FILESYSTEM_EXTRAS, filesystem_registered
from airflow_provider_genai_batch.formats.anthropic import AnthropicDialect
from airflow_provider_genai_batch.formats.bedrock import BedrockDialect
from airflow_provider_genai_batch.formats.detect import InputFormat
from airflow_provider_genai_batch.formats.dialect import ProviderLimits
from airflow_provider_genai_batch.formats.gateway import target_dialect
from airflow_provider_genai_batch.formats.gemini import GeminiDialect
from airflow_provider_genai_batch.formats.jsonl import UTF8_BOM
from airflow_provider_genai_batch.formats.keys import key_line, portable_id
from airflow_provider_genai_batch.formats.openai import OpenAIDialect
from airflow_provider_genai_batch.formats.vertex import VertexDialect
from airflow_provider_genai_batch.input_file import InputFile, check_unchanged
from airflow_provider_genai_batch.inputs import JsonlSpool, PreparedInput, prepare_input

OPENAI_MODEL = "gpt-4o-mini"
GEMINI_MODEL = "gemini-2.5-flash"
ANTHROPIC_MODEL = "claude-sonnet-4-5"
BEDROCK_MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"


@pytest.fixture(autouse=True)
def no_airflow_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    """Validation needs no Airflow connection: reading one fails the test."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"prepare_input read an Airflow connection {args!r}")

    monkeypatch.setattr(BaseHook, "get_connection", refuse)
    monkeypatch.setattr(BaseHook, "aget_connection", refuse)


@pytest.fixture
def openai_dialect(spool_dir: Path) -> OpenAIDialect:
    return OpenAIDialect()


@pytest.fixture
def anthropic_dialect(spool_dir: Path) -> AnthropicDialect:
    return AnthropicDialect()


@pytest.fixture
def prepared_inputs() -> Iterator[list[PreparedInput]]:
    """PreparedInputs to clean up after the test."""
    made: list[PreparedInput] = []
    yield made
    for prepared in made:
        prepared.cleanup()


def gemini_line(key: str, text: str = "hello", **request: Any) -> dict[str, Any]:
    return {"key": key, "request": {"contents": [{"role": "user", "parts": [{"text": text}]}], **request}}


def openai_line(custom_id: str, url: str = "/v1/chat/completions", model: str = OPENAI_MODEL) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model}
    if url == "/v1/embeddings":
        body["input"] = custom_id
    else:
        body["messages"] = [{"role": "user", "content": custom_id}]
    return {"custom_id": custom_id, "method": "POST", "url": url, "body": body}


def anthropic_request(custom_id: str, text: str, max_tokens: int) -> dict[str, Any]:
    messages = [{"role": "user", "content": text}]
    return {
        "custom_id": custom_id,
        "params": {"model": ANTHROPIC_MODEL, "max_tokens": max_tokens, "messages": messages},
    }


def write_jsonl(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(json.dumps(line).encode() + b"\n" for line in lines))
    return path


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def test_the_keys_file_holds_each_key_as_its_key_line_in_input_order_across_blocks(
    openai_dialect, tmp_path, monkeypatch, prepared_inputs
):
    monkeypatch.setattr(inputs._KeySpool, "BLOCK", 3)
    # Eight keys: two blocks and a rest.
    keys = [f"k{i}" for i in range(4)] + ['line\nbreak "quoted"', "caf\u00e9 \u2603", "x" * 70, "k9"]
    path = write_jsonl(tmp_path / "in.jsonl", [gemini_line(key) for key in keys])
    prepared = prepare_input(str(path), openai_dialect, model=OPENAI_MODEL, embeddings=False)
    prepared_inputs.append(prepared)
    assert prepared.keys_file.read_bytes() == b"".join(key_line(key) for key in keys)
    assert list(prepared.iter_keys()) == keys


# --- OpenAI ----------------------------------------------------------------------------------------------


def test_gemini_jsonl_for_openai_is_translated_into_a_local_spool_of_batch_lines(
    openai_dialect, tmp_path, spool_dir, prepared_inputs
):
    long_key = "documents/2026/report.pdf#page=1"
    source = write_jsonl(
        tmp_path / "in.jsonl",
        [gemini_line("a", "one"), gemini_line(long_key, "two", generationConfig={"maxOutputTokens": 9})],
    )
    prepared = prepare_input(str(source), openai_dialect, model=OPENAI_MODEL, embeddings=False)
    prepared_inputs.append(prepared)

    assert (prepared.summary.format, prepared.summary.count) == (InputFormat.GEMINI, 2)
    assert prepared.inline is None
    assert prepared.endpoint is None  # the create call picks chat from the embeddings flag
    assert isinstance(prepared.upload_source, Path)
    assert prepared.upload_source != source
    assert prepared.upload_source.parent == spool_dir
    assert read_jsonl(prepared.upload_source) == [
        {
            "custom_id": "a",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": OPENAI_MODEL, "messages": [{"role": "user", "content": "one"}]},
        },
        {
            "custom_id": portable_id(long_key),
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {
                "model": OPENAI_MODEL,
                "messages": [{"role": "user", "content": "two"}],
                "max_completion_tokens": 9,
            },
        },
    ]
    assert list(prepared.iter_keys()) == ["a", long_key]  # the original keys, for the join
    assert prepared.summary.total_bytes == prepared.upload_source.stat().st_size  # limits see translated bytes
    with prepared.open_upload() as stream:
        assert stream.read() == prepared.upload_source.read_bytes()

    prepared.cleanup()
    assert list(spool_dir.iterdir()) == []


def test_gemini_embeddings_for_openai_translate_to_embeddings_lines(openai_dialect, tmp_path, prepared_inputs):
    source = write_jsonl(tmp_path / "in.jsonl", [{"key": "e1", "request": {"content": {"parts": [{"text": "x"}]}}}])
    prepared = prepare_input(str(source), openai_dialect, model="text-embedding-3-small", embeddings=True)
    prepared_inputs.append(prepared)
    [line] = read_jsonl(prepared.upload_source)
    assert (line["url"], line["body"]["input"], line["body"]["model"]) == (
        "/v1/embeddings",
        "x",
        "text-embedding-3-small",
    )


def test_inline_gemini_requests_for_openai_are_spooled_for_upload(openai_dialect, spool_dir, prepared_inputs):
    prepared = prepare_input([gemini_line("a"), gemini_line("b")], openai_dialect, model=OPENAI_MODEL, embeddings=False)
    prepared_inputs.append(prepared)
    assert prepared.inline is None  # OpenAI takes no inline batch
    assert prepared.upload_source.parent == spool_dir
    assert [line["custom_id"] for line in read_jsonl(prepared.upload_source)] == ["a", "b"]


@pytest.mark.parametrize("url", ["/v1/chat/completions", "/v1/responses", "/v1/embeddings"])
def test_native_openai_jsonl_is_uploaded_as_it_is_and_its_endpoint_returned(
    openai_dialect, tmp_path, spool_dir, prepared_inputs, url
):
    source = write_jsonl(tmp_path / "native.jsonl", [openai_line("r1", url), openai_line("r2", url)])
    prepared = prepare_input(str(source), openai_dialect, model=OPENAI_MODEL, embeddings=False)
    prepared_inputs.append(prepared)

    assert prepared.summary.format is InputFormat.OPENAI
    assert prepared.endpoint == url
    assert prepared.upload_source == source  # the original path: no copy
    assert prepared.summary.total_bytes == source.stat().st_size
    translation_spools = [p for p in spool_dir.iterdir() if p.name.startswith("genai-batch-input-")]
    assert [p.stat().st_size for p in translation_spools] == [0]  # nothing was copied
    assert list(prepared.iter_keys()) == ["r1", "r2"]


def test_a_file_under_the_home_directory_is_uploaded_from_there(openai_dialect, tmp_path, monkeypatch, prepared_inputs):
    monkeypatch.setenv("HOME", str(tmp_path))
    source = write_jsonl(tmp_path / "native.jsonl", [openai_line("r1"), openai_line("r2")])
    prepared = prepare_input("~/native.jsonl", openai_dialect, model=OPENAI_MODEL, embeddings=False)
    prepared_inputs.append(prepared)

    with prepared.open_upload() as stream:
        assert stream.read() == source.read_bytes()


def test_native_openai_lines_with_mixed_endpoints_are_refused_naming_the_line(openai_dialect, tmp_path):
    source = write_jsonl(
        tmp_path / "mixed.jsonl",
        [
            openai_line("r1", "/v1/chat/completions"),
            openai_line("r2", "/v1/chat/completions"),
            openai_line("r3", "/v1/embeddings"),
        ],
    )
    with pytest.raises(InputValidationError) as info:
        prepare_input(str(source), openai_dialect, model=OPENAI_MODEL, embeddings=False)
    assert info.value.line == 3
    assert info.value.source == str(source)
    assert "every line must target one endpoint" in info.value.reason
    assert "/v1/embeddings" in info.value.reason and "/v1/chat/completions" in info.value.reason


def test_a_native_embeddings_line_holding_messages_and_no_input_is_refused_before_upload(openai_dialect, tmp_path):
    chat_body = openai_line("r2")["body"]
    lines = [openai_line("r1", "/v1/embeddings"), {**openai_line("r2", "/v1/embeddings"), "body": chat_body}]
    source = write_jsonl(tmp_path / "n.jsonl", lines)
    with pytest.raises(InputValidationError) as info:
        prepare_input(str(source), openai_dialect, model=OPENAI_MODEL, embeddings=False)
    assert info.value.line == 2
    assert info.value.reason == "'body.input' is missing: /v1/embeddings requires it"


def test_native_openai_line_for_another_model_is_refused(openai_dialect, tmp_path):
    source = write_jsonl(tmp_path / "n.jsonl", [openai_line("r1"), openai_line("r2", model="gpt-4.1")])
    with pytest.raises(
        InputValidationError, match=re.escape("line 2: body.model 'gpt-4.1' differs from the batch model")
    ):
        prepare_input(str(source), openai_dialect, model=OPENAI_MODEL, embeddings=False)


def test_an_anthropic_native_jsonl_is_refused_for_openai(openai_dialect, tmp_path):
    line = {"custom_id": "a", "params": {"model": "c", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}]}}
    source = write_jsonl(tmp_path / "a.jsonl", [line])
    with pytest.raises(InputValidationError, match="line 1: anthropic native format cannot be sent to openai"):
        prepare_input(str(source), openai_dialect, model=OPENAI_MODEL, embeddings=False)


def test_60000_gemini_lines_for_openai_fail_on_the_50000_request_limit_before_any_upload(openai_dialect, tmp_path):
    source = tmp_path / "big.jsonl"
    template = '{"key":"k%d","request":{"contents":[{"parts":[{"text":"q"}]}]}}\n'
    source.write_text("".join(template % i for i in range(60_000)))

    with pytest.raises(InputValidationError) as info:
        prepare_input(str(source), openai_dialect, model=OPENAI_MODEL, embeddings=False)
    assert info.value.line == 50_001
    assert "50,000-request limit of one openai batch" in str(info.value)
    # prepare_input only validates and spools: a dialect has no client, so nothing can have been uploaded.


def test_the_byte_limit_applies_to_the_translated_output(openai_dialect, tmp_path):
    lines = [gemini_line(f"k{i}") for i in range(10)]
    source = write_jsonl(tmp_path / "in.jsonl", lines)
    translated = sum(
        len(json.dumps(openai_dialect.to_native(line, model=OPENAI_MODEL, embeddings=False))) for line in lines
    )
    assert source.stat().st_size < translated  # OpenAI lines are bigger than the Gemini ones
    limit = source.stat().st_size + 10  # the source fits, its translation does not

    class SmallOpenAIDialect(OpenAIDialect):
        limits: ClassVar[ProviderLimits] = ProviderLimits(max_requests=50_000, max_file_bytes=limit)

    with pytest.raises(
        InputValidationError, match=f"input exceeds {limit:,} bytes, the size limit of one openai batch"
    ):
        prepare_input(str(source), SmallOpenAIDialect(), model=OPENAI_MODEL, embeddings=False)


def test_a_failed_validation_leaves_no_spool_files_behind(openai_dialect, tmp_path, spool_dir):
    source = write_jsonl(tmp_path / "in.jsonl", [gemini_line("a"), {"key": "b"}])
    with pytest.raises(InputValidationError):
        prepare_input(str(source), openai_dialect, model=OPENAI_MODEL, embeddings=False)
    assert list(spool_dir.iterdir()) == []


# --- Anthropic -------------------------------------------------------------------------------------------


def test_gemini_jsonl_for_anthropic_becomes_a_re_iterable_inline_spool(anthropic_dialect, tmp_path, prepared_inputs):
    source = write_jsonl(tmp_path / "in.jsonl", [gemini_line("a", "one"), gemini_line("b", "two")])
    prepared = prepare_input(str(source), anthropic_dialect, model=ANTHROPIC_MODEL, embeddings=False)
    prepared_inputs.append(prepared)

    assert prepared.upload_source is None
    assert isinstance(prepared.inline, JsonlSpool)
    first, second = list(prepared.inline), list(prepared.inline)
    assert first == second
    assert first == [anthropic_request("a", "one", 4096), anthropic_request("b", "two", 4096)]
    assert list(prepared.iter_keys()) == ["a", "b"]
    with pytest.raises(ValueError, match="goes inline"):
        prepared.open_upload()


def test_inline_list_for_anthropic_is_spooled_inline_too(spool_dir, prepared_inputs):
    dialect = AnthropicDialect(default_max_tokens=256)
    prepared = prepare_input([gemini_line("x"), gemini_line("y")], dialect, model=ANTHROPIC_MODEL, embeddings=False)
    prepared_inputs.append(prepared)
    assert [r["params"]["max_tokens"] for r in prepared.inline] == [256, 256]
    assert [r["custom_id"] for r in prepared.inline] == ["x", "y"]


def test_native_anthropic_jsonl_is_copied_into_the_inline_spool_unchanged(anthropic_dialect, tmp_path, prepared_inputs):
    lines = [anthropic_request("p", "p", 5), anthropic_request("q", "q", 5)]
    source = write_jsonl(tmp_path / "native.jsonl", lines)
    prepared = prepare_input(str(source), anthropic_dialect, model=ANTHROPIC_MODEL, embeddings=False)
    prepared_inputs.append(prepared)
    assert prepared.summary.format is InputFormat.ANTHROPIC
    assert list(prepared.inline) == lines == list(prepared.inline)


def test_an_inline_anthropic_request_without_custom_id_is_refused_for_it(anthropic_dialect, spool_dir):
    keyless = {"params": anthropic_request("unused", "q", 5)["params"]}
    with pytest.raises(InputValidationError) as info:
        prepare_input(
            [anthropic_request("p", "p", 5), keyless], anthropic_dialect, model=ANTHROPIC_MODEL, embeddings=False
        )
    assert (info.value.line, info.value.reason) == (2, "missing key field 'custom_id'")
    assert list(spool_dir.iterdir()) == []


def nested_lists(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


def nested_schema(depth: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "STRING"}
    for _ in range(depth):
        schema = {"type": "OBJECT", "properties": {"a": schema}}
    return schema


def test_an_inline_request_nested_10000_levels_deep_is_refused_naming_it_not_a_recursion_error(spool_dir):
    deep = gemini_line("b", "deep")
    deep["request"]["generationConfig"] = {"responseJsonSchema": {"default": nested_lists(10_000)}}
    with pytest.raises(InputValidationError) as info:
        prepare_input([gemini_line("a"), deep], GeminiDialect(), model=GEMINI_MODEL, embeddings=False)
    assert (info.value.source, info.value.line, info.value.reason) == ("inline requests", 2, "JSON nested too deeply")
    assert list(spool_dir.iterdir()) == []


def test_an_inline_request_holding_itself_is_refused_as_nested_too_deeply(spool_dir):
    args: dict[str, Any] = {"id": 1}
    args["again"] = args
    with pytest.raises(InputValidationError) as info:
        prepare_input([with_function_call("a", args)], GeminiDialect(), model=GEMINI_MODEL, embeddings=False)
    assert (info.value.line, info.value.reason) == (1, "JSON nested too deeply")


def test_an_inline_request_too_deep_for_its_translation_is_refused_naming_it(spool_dir):
    # Encoded and checked, but the gateway's translation for OpenAI follows the schema one call a level deeper.
    deep = gemini_line("b", "deep")
    deep["request"]["generationConfig"] = {"responseMimeType": "application/json", "responseSchema": nested_schema(450)}
    with pytest.raises(InputValidationError) as info:
        prepare_input([gemini_line("a"), deep], target_dialect("openai"), model=OPENAI_MODEL, embeddings=False)
    assert (info.value.line, info.value.reason) == (2, "JSON nested too deeply")
    assert list(spool_dir.iterdir()) == []


def test_the_json_text_of_a_list_nested_10000_levels_deep_is_refused_not_a_recursion_error(spool_dir):
    text = '[{"key": "a", "contents": "hi", "config": {"x": ' + "[" * 10_000 + "]" * 10_000 + "}}]"
    with pytest.raises(InputValidationError) as info:
        prepare_input(text, GeminiDialect(), model=GEMINI_MODEL, embeddings=False)
    assert str(info.value) == "inline requests: input is JSON text that cannot be read: JSON nested too deeply"


def with_function_call(key: str, args: dict[str, Any]) -> dict[str, Any]:
    return {
        "key": key,
        "request": {
            "contents": [
                {"role": "user", "parts": [{"text": "look it up"}]},
                {"role": "model", "parts": [{"functionCall": {"name": "lookup", "args": args}}]},
                {"role": "user", "parts": [{"functionResponse": {"name": "lookup", "response": {"rows": 1}}}]},
            ],
            "tools": [{"functionDeclarations": [{"name": "lookup"}]}],
        },
    }


@pytest.mark.parametrize(
    ("dialect", "model"), [(GeminiDialect(), GEMINI_MODEL), (OpenAIDialect(), OPENAI_MODEL)], ids=["gemini", "openai"]
)
@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")], ids=["nan", "inf", "-inf"])
def test_an_inline_float_json_cannot_hold_is_refused_naming_its_field_not_sent_as_null(
    spool_dir, dialect, model, value
):
    items = [with_function_call("a", {"id": 1}), with_function_call("b", {"filters": [1, {"score": value}]})]
    with pytest.raises(InputValidationError) as info:
        prepare_input(items, dialect, model=model, embeddings=False)
    assert (info.value.line, info.value.reason) == (
        2,
        f"request.contents[1].parts[0].functionCall.args.filters[1].score: {value!r} is not a number JSON can hold, "
        "so it would not be sent as written: give null, or a number",
    )
    assert list(spool_dir.iterdir()) == []


class Opaque:
    """A Python object with no JSON form, as an item built from application objects may hold."""


class Color(Enum):
    """An enum that is neither text nor a number: msgspec writes its value, the standard library refuses it."""

    RED = "red"


class Shade(StrEnum):
    """Text: written as its value by every JSON encoder."""

    DARK = "dark"


class Rank(IntEnum):
    """A number: written as its value by every JSON encoder."""

    FIRST = 1


class Role(StrEnum):
    """The role of a turn, as an application may name it."""

    USER = "user"


class Turns(list[Any]):
    """A list of a type of its own, as an application may build a conversation."""


@pytest.mark.parametrize(
    ("dialect", "model"),
    [(GeminiDialect(), GEMINI_MODEL), (OpenAIDialect(), OPENAI_MODEL), (AnthropicDialect(), ANTHROPIC_MODEL)],
    ids=["gemini", "openai", "anthropic"],
)
def test_an_inline_value_with_no_json_form_is_refused_naming_its_field_not_a_type_error(spool_dir, dialect, model):
    items = [with_function_call("a", {"id": 1}), with_function_call("b", {"filters": [1, Opaque()]})]
    with pytest.raises(InputValidationError) as info:
        prepare_input(items, dialect, model=model, embeddings=False)
    assert (info.value.line, info.value.reason) == (
        2,
        "request.contents[1].parts[0].functionCall.args.filters[1]: a value of type Opaque has no JSON form: give "
        "numbers, strings, lists and dicts",
    )
    assert list(spool_dir.iterdir()) == []


WRITTEN_AS_TEXT = [
    Decimal("1.50"),
    datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
    date(2026, 1, 2),
    time(3, 4),
    UUID(int=7),
    b"\x00\x01",
    bytearray(b"ab"),
    {1, 2},
    frozenset({"x"}),
    Color.RED,
]
"""Python values msgspec writes as JSON of another type (text, a list), not as written; the standard library's
encoder refuses them."""


@pytest.mark.parametrize(
    ("dialect", "model"),
    [
        (GeminiDialect(), GEMINI_MODEL),
        (VertexDialect(), GEMINI_MODEL),
        (OpenAIDialect(), OPENAI_MODEL),
        (AnthropicDialect(), ANTHROPIC_MODEL),
    ],
    ids=["gemini", "vertex", "openai", "anthropic"],
)
@pytest.mark.parametrize("value", WRITTEN_AS_TEXT, ids=lambda value: type(value).__name__)
def test_an_inline_value_json_would_carry_as_another_type_is_refused_naming_its_field(spool_dir, dialect, model, value):
    items = [with_function_call("a", {"id": 1}), with_function_call("b", {"filters": [1, {"price": value}]})]
    with pytest.raises(InputValidationError) as info:
        prepare_input(items, dialect, model=model, embeddings=False)
    assert (info.value.line, info.value.reason) == (
        2,
        f"request.contents[1].parts[0].functionCall.args.filters[1].price: a value of type {type(value).__name__} has "
        "no JSON form: give numbers, strings, lists and dicts",
    )
    assert list(spool_dir.iterdir()) == []


@pytest.mark.parametrize("key", [None, True, (1, 2), b"id", Color.RED], ids=lambda key: type(key).__name__)
def test_an_inline_dict_key_json_has_no_form_for_is_refused_naming_its_path(spool_dir, key):
    items = [with_function_call("a", {"id": 1}), with_function_call("b", {"filters": [{key: 1}]})]
    with pytest.raises(InputValidationError) as info:
        prepare_input(items, OpenAIDialect(), model=OPENAI_MODEL, embeddings=False)
    assert (info.value.line, info.value.reason) == (
        2,
        f"request.contents[1].parts[0].functionCall.args.filters[0]: a key of type {type(key).__name__} ({key!r}) has "
        "no JSON form: JSON keys are text (a number is written as its text)",
    )
    assert list(spool_dir.iterdir()) == []


def test_an_inline_mapping_that_is_no_dict_is_refused_naming_its_path(spool_dir):
    item = gemini_line("a", generationConfig=MappingProxyType({"temperature": 0.5}))
    with pytest.raises(InputValidationError) as info:
        prepare_input([item], GeminiDialect(), model=GEMINI_MODEL, embeddings=False)
    assert (info.value.line, info.value.reason) == (
        1,
        "request.generationConfig: a value of type mappingproxy has no JSON form: give numbers, strings, lists and "
        "dicts",
    )


@pytest.mark.parametrize("embeddings", [False, True], ids=["generate", "embed"])
@pytest.mark.parametrize("name", [None, 1, b"temperature"], ids=lambda name: type(name).__name__)
def test_an_sdk_style_config_field_whose_name_is_no_text_is_refused_naming_the_item(spool_dir, name, embeddings):
    item = {"key": "a", "content" if embeddings else "contents": "hi", "config": {name: 1}}
    model = "gemini-embedding-001" if embeddings else GEMINI_MODEL
    with pytest.raises(InputValidationError) as info:
        prepare_input([item], GeminiDialect(), model=model, embeddings=embeddings)
    assert (info.value.line, info.value.reason) == (1, f"config field names are text, not {name!r}")
    assert list(spool_dir.iterdir()) == []


def test_inline_metadata_holding_a_datetime_is_refused_for_gemini_naming_it(spool_dir):
    items = [{"key": "a", "contents": "hi", "metadata": {"asked_at": datetime(2026, 1, 2, tzinfo=timezone.utc)}}]
    with pytest.raises(InputValidationError) as info:
        prepare_input(items, GeminiDialect(), model=GEMINI_MODEL, embeddings=False)
    assert (info.value.line, info.value.reason) == (
        1,
        "metadata.asked_at: a value of type datetime has no JSON form: give numbers, strings, lists and dicts",
    )


def test_inline_values_of_json_types_subclassed_are_sent_as_their_json(spool_dir, prepared_inputs):
    items = [with_function_call("a", {"shade": Shade.DARK, "rank": Rank.FIRST, "pair": (1, 2.5)})]
    prepared = prepare_input(items, VertexDialect(), model=GEMINI_MODEL, embeddings=False)
    prepared_inputs.append(prepared)
    with prepared.open_upload() as stream:
        args = json.loads(stream.read())["request"]["contents"][1]["parts"][0]["functionCall"]["args"]
    assert args == {"shade": "dark", "rank": 1, "pair": [1, 2.5]}


def _sent_requests(prepared: PreparedInput) -> list[dict[str, Any]]:
    """The requests a prepared input sends, decoded: from its upload, or inline."""
    if prepared.inline is not None:
        return list(prepared.inline)
    with prepared.open_upload() as stream:
        return [json.loads(line) for line in stream.read().splitlines()]


def test_inline_enum_members_in_checked_request_fields_are_sent_as_their_json(spool_dir, prepared_inputs):
    item = {
        "key": "a",
        "request": {
            "contents": [{"role": Role.USER, "parts": [{"text": Shade.DARK}]}],
            "generationConfig": {"maxOutputTokens": Rank.FIRST},
        },
    }
    prepared = prepare_input([item], VertexDialect(), model=GEMINI_MODEL, embeddings=False)
    prepared_inputs.append(prepared)
    assert _sent_requests(prepared) == [
        {
            "key": "a",
            "request": {
                "contents": [{"role": "user", "parts": [{"text": "dark"}]}],
                "generationConfig": {"maxOutputTokens": 1},
            },
        }
    ]


def test_an_sdk_style_item_with_google_genais_own_enum_is_converted_to_its_json(spool_dir, prepared_inputs):
    item = {"key": "a", "contents": "hi", "config": {"response_modalities": [genai_types.Modality.TEXT]}}
    prepared = prepare_input([item], VertexDialect(), model=GEMINI_MODEL, embeddings=False)
    prepared_inputs.append(prepared)
    (sent,) = _sent_requests(prepared)
    assert sent["request"]["generationConfig"] == {"responseModalities": ["TEXT"]}


def test_inline_dict_and_list_subclasses_and_tuples_in_a_request_are_sent_as_their_json(spool_dir, prepared_inputs):
    settings: defaultdict[str, Any] = defaultdict(list, {"temperature": 0.5, "stopSequences": ("END",)})
    item = {
        "key": "a",
        "request": OrderedDict(
            contents=Turns([{"role": "user", "parts": ({"text": "hi"},)}]), generationConfig=settings
        ),
    }
    prepared = prepare_input([item], OpenAIDialect(), model=OPENAI_MODEL, embeddings=False)
    prepared_inputs.append(prepared)
    (sent,) = _sent_requests(prepared)
    assert sent["body"]["messages"] == [{"role": "user", "content": "hi"}]
    assert (sent["body"]["temperature"], sent["body"]["stop"]) == (0.5, ["END"])


class Label(str):
    """Text of a class of its own (no enum), as an application may tag its strings."""

    __slots__ = ()


class Count(int):
    """A number of a class of its own (no enum)."""


class Ratio(float):
    """A float of a class of its own (no enum)."""


def test_inline_values_of_str_int_and_float_subclasses_are_sent_as_their_json(spool_dir, prepared_inputs):
    item = with_function_call("a", {"label": Label("tagged"), "count": Count(3), "ratio": Ratio(0.25)})
    item["request"]["contents"][0]["parts"][0]["text"] = Label("look it up")
    item["request"]["generationConfig"] = {"maxOutputTokens": Count(64), "temperature": Ratio(0.5)}
    prepared = prepare_input([item], VertexDialect(), model=GEMINI_MODEL, embeddings=False)
    prepared_inputs.append(prepared)
    (sent,) = _sent_requests(prepared)
    contents = sent["request"]["contents"]
    assert contents[0]["parts"][0]["text"] == "look it up"
    assert contents[1]["parts"][0]["functionCall"]["args"] == {"label": "tagged", "count": 3, "ratio": 0.25}
    assert sent["request"]["generationConfig"] == {"maxOutputTokens": 64, "temperature": 0.5}


def test_an_inline_null_is_sent_as_null(spool_dir, prepared_inputs):
    prepared = prepare_input(
        [with_function_call("a", {"filter": None})], GeminiDialect(), model=GEMINI_MODEL, embeddings=False
    )
    prepared_inputs.append(prepared)
    assert prepared.summary.count == 1


def test_embeddings_for_anthropic_are_refused_up_front(anthropic_dialect, tmp_path, spool_dir):
    source = write_jsonl(tmp_path / "emb.jsonl", [{"key": "e", "request": {"content": {"parts": [{"text": "x"}]}}}])
    with pytest.raises(InputValidationError, match="anthropic has no embeddings batch API") as info:
        prepare_input(str(source), anthropic_dialect, model=ANTHROPIC_MODEL, embeddings=True)
    assert info.value.line is None
    assert list(spool_dir.iterdir()) == []  # refused before anything was read or spooled


def test_sampling_params_under_2026_10_21_fail_naming_the_line(tmp_path, spool_dir):
    dialect = AnthropicDialect(anthropic_version="2026-10-21")
    source = write_jsonl(
        tmp_path / "in.jsonl", [gemini_line("a"), gemini_line("b", generationConfig={"temperature": 0.2})]
    )
    with pytest.raises(InputValidationError) as info:
        prepare_input(str(source), dialect, model=ANTHROPIC_MODEL, embeddings=False)
    assert info.value.line == 2
    assert "rejects temperature" in info.value.reason


# --- Gemini-only features --------------------------------------------------------------------------------


DIALECTS = [("openai_dialect", OPENAI_MODEL), ("anthropic_dialect", ANTHROPIC_MODEL)]


@pytest.mark.parametrize(("dialect_fixture", "model"), DIALECTS)
def test_a_gemini_only_tool_on_line_2_fails_naming_the_line_and_the_field(request, tmp_path, dialect_fixture, model):
    dialect = request.getfixturevalue(dialect_fixture)
    source = write_jsonl(tmp_path / "in.jsonl", [gemini_line("a"), gemini_line("b", tools=[{"googleSearch": {}}])])
    with pytest.raises(InputValidationError) as info:
        prepare_input(str(source), dialect, model=model, embeddings=False)
    assert info.value.line == 2
    assert info.value.source == str(source)
    assert "googleSearch" in info.value.reason
    assert dialect.provider in info.value.reason
    assert f"{source}, line 2: " in str(info.value)


@pytest.mark.parametrize(
    ("dialect", "model"),
    [
        (OpenAIDialect(), OPENAI_MODEL),
        (AnthropicDialect(), ANTHROPIC_MODEL),
        (BedrockDialect(), BEDROCK_MODEL),
        (BedrockDialect(invocation_type="Converse"), BEDROCK_MODEL),
    ],
)
def test_metadata_besides_the_key_is_refused_for_a_translated_target_naming_it_not_dropped(
    dialect, model, tmp_path, spool_dir
):
    lines = [gemini_line("a"), {**gemini_line("b"), "metadata": {"key": "b", "batch": "nightly"}}]
    source = write_jsonl(tmp_path / "in.jsonl", lines)
    with pytest.raises(InputValidationError) as info:
        prepare_input(str(source), dialect, model=model, embeddings=False)
    assert str(info.value) == (
        f"{source}, line 2: metadata.batch cannot be sent to {dialect.provider}: only Gemini and Vertex AI carry a "
        "line's metadata besides its key (they echo it with the result)"
    )


@pytest.mark.parametrize("dialect", [BedrockDialect(), BedrockDialect(invocation_type="Converse")])
def test_a_line_bedrock_cannot_take_is_refused_naming_bedrock_not_the_anthropic_translation_it_shares(
    dialect, tmp_path, spool_dir
):
    source = write_jsonl(tmp_path / "in.jsonl", [gemini_line("a"), gemini_line("b", generationConfig={"seed": 7})])
    with pytest.raises(InputValidationError) as info:
        prepare_input(str(source), dialect, model=BEDROCK_MODEL, embeddings=False)
    assert str(info.value) == (
        f"{source}, line 2: generationConfig.seed cannot be sent to bedrock: bedrock has no sampling seed"
    )


def test_metadata_holding_only_the_key_is_the_key_for_a_translated_target(openai_dialect, tmp_path, prepared_inputs):
    source = write_jsonl(tmp_path / "in.jsonl", [{**gemini_line("a"), "metadata": {"key": "a"}}])
    prepared = prepare_input(str(source), openai_dialect, model=OPENAI_MODEL, embeddings=False)
    prepared_inputs.append(prepared)
    assert [line["custom_id"] for line in read_jsonl(prepared.upload_source)] == ["a"]


def test_a_gemini_line_breaking_the_apis_function_calling_turns_is_refused_naming_the_line(gemini_dialect, tmp_path):
    call = {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]}
    source = write_jsonl(tmp_path / "in.jsonl", [gemini_line("a"), gemini_line("b", contents=[call])])
    with pytest.raises(InputValidationError) as info:
        prepare_input(str(source), gemini_dialect, model="gemini-2.5-flash", embeddings=False)
    assert info.value.line == 2
    assert info.value.reason.startswith("request.contents[0] has functionCall parts but is the first turn")


def test_a_gemini_line_setting_both_thinking_settings_is_refused_naming_the_line(gemini_dialect, tmp_path):
    thinking = {"generationConfig": {"thinkingConfig": {"thinkingBudget": 128, "thinkingLevel": "LOW"}}}
    source = write_jsonl(tmp_path / "in.jsonl", [gemini_line("a"), gemini_line("b", **thinking)])
    with pytest.raises(InputValidationError) as info:
        prepare_input(str(source), gemini_dialect, model="gemini-2.5-flash", embeddings=False)
    assert info.value.line == 2
    assert info.value.reason.startswith("request.generationConfig.thinkingConfig sets both thinkingBudget and")


# --- the input fingerprint -------------------------------------------------------------------------------


def test_the_fingerprint_is_the_same_for_the_same_requests_from_a_file_or_a_list(openai_dialect, tmp_path):
    lines = [gemini_line("a", "one"), gemini_line("b", "two")]
    from_file = prepare_input(
        str(write_jsonl(tmp_path / "in.jsonl", lines)), openai_dialect, model=OPENAI_MODEL, embeddings=False
    )
    from_list = prepare_input(lines, openai_dialect, model=OPENAI_MODEL, embeddings=False)
    try:
        assert re.fullmatch(r"[0-9a-f]{64}", from_file.fingerprint)
        assert from_file.fingerprint == from_list.fingerprint
    finally:
        from_file.cleanup()
        from_list.cleanup()


LINES = [gemini_line("a", "one"), gemini_line("b", "two")]
OPENAI_BATCH: dict[str, Any] = {"source": LINES, "dialect": OpenAIDialect(), "model": OPENAI_MODEL}
ANTHROPIC_BATCH: dict[str, Any] = {"source": LINES, "dialect": AnthropicDialect(), "model": ANTHROPIC_MODEL}


def fingerprint_of(source: Any, dialect: Any, model: str, embeddings: bool = False) -> str:
    prepared = prepare_input(source, dialect, model=model, embeddings=embeddings)
    prepared.cleanup()
    return prepared.fingerprint


@pytest.mark.parametrize(
    ("batch", "other"),
    [
        (OPENAI_BATCH, {**OPENAI_BATCH, "source": [gemini_line("a", "one"), gemini_line("b", "TWO")]}),
        (OPENAI_BATCH, {**OPENAI_BATCH, "source": LINES[::-1]}),
        (OPENAI_BATCH, {**OPENAI_BATCH, "model": "gpt-4.1-mini"}),
        (OPENAI_BATCH, ANTHROPIC_BATCH),
        (ANTHROPIC_BATCH, {**ANTHROPIC_BATCH, "dialect": AnthropicDialect(default_max_tokens=256)}),
    ],
    ids=["edited-request", "reordered", "other-model", "other-provider", "other-translation"],
)
def test_the_fingerprint_changes_with_any_request_as_sent_the_model_or_the_provider(spool_dir, batch, other):
    assert fingerprint_of(**batch) == fingerprint_of(**batch)
    assert fingerprint_of(**other) != fingerprint_of(**batch)


def test_the_fingerprint_covers_the_batch_kind_not_only_the_lines(openai_dialect):
    lines = [openai_line("e1", "/v1/embeddings"), openai_line("e2", "/v1/embeddings")]  # the same lines either way
    embed = fingerprint_of(lines, openai_dialect, OPENAI_MODEL, embeddings=True)
    generate = fingerprint_of(lines, openai_dialect, OPENAI_MODEL, embeddings=False)
    assert embed != generate


# --- where the input comes from: paths, JSON text, compression, line endings, size --------------------------


@pytest.fixture
def gemini_dialect(spool_dir: Path) -> GeminiDialect:
    return GeminiDialect()


def jsonl_bytes(lines: list[dict[str, Any]], end: bytes = b"\n") -> bytes:
    return b"".join(json.dumps(line).encode() + end for line in lines)


def uploaded(prepared: PreparedInput) -> bytes:
    with prepared.open_upload() as stream:
        return stream.read()


def refusal(source: Any, dialect: Any, model: str = GEMINI_MODEL) -> InputValidationError:
    with pytest.raises(InputValidationError) as info:
        prepare_input(source, dialect, model=model, embeddings=False)
    return info.value


def test_a_file_sent_as_it_is_that_changed_after_validation_is_refused_when_its_upload_opens(
    gemini_dialect, tmp_path, prepared_inputs
):
    source = write_jsonl(tmp_path / "in.jsonl", [gemini_line("a"), gemini_line("b")])
    prepared = prepare_input(str(source), gemini_dialect, model=GEMINI_MODEL, embeddings=False)
    prepared_inputs.append(prepared)
    assert prepared.upload_source == source  # sent from where it is, so read a second time to upload it
    write_jsonl(source, [gemini_line("a"), gemini_line("b"), gemini_line("never validated")])

    with pytest.raises(InputValidationError) as refused:
        prepared.open_upload()

    assert refused.value.source == str(source)
    assert refused.value.reason.startswith("the input file changed after it was validated")


def test_a_file_written_while_its_upload_read_it_is_refused_when_the_upload_closes_it(
    gemini_dialect, tmp_path, prepared_inputs
):
    source = write_jsonl(tmp_path / "in.jsonl", [gemini_line("a"), gemini_line("b")])
    prepared = prepare_input(str(source), gemini_dialect, model=GEMINI_MODEL, embeddings=False)
    prepared_inputs.append(prepared)

    stream = prepared.open_upload()
    stream.read()
    write_jsonl(source, [gemini_line("a"), gemini_line("b", "a longer question")])

    with pytest.raises(InputValidationError, match="changed after it was validated"):
        stream.close()


def test_a_fact_the_store_no_longer_reports_is_no_sign_of_a_change(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"12345")
    seen = InputFile(uri=str(source), size=5, gzip=False, bom=False, version=(("size", 5), ("ETag", '"abc"')))

    check_unchanged(seen)  # a local stat reports no ETag: the size alone is compared, and it holds


def test_a_file_removed_after_validation_is_refused(tmp_path):
    seen = InputFile(uri=str(tmp_path / "gone.jsonl"), size=5, gzip=False, bom=False, version=(("size", 5),))

    with pytest.raises(InputValidationError, match="changed after it was validated"):
        check_unchanged(seen)


def test_an_unchanged_file_sent_as_it_is_uploads_its_bytes_after_its_bom(gemini_dialect, tmp_path, prepared_inputs):
    lines = jsonl_bytes([gemini_line("a"), gemini_line("b")])
    source = tmp_path / "in.jsonl"
    source.write_bytes(UTF8_BOM + lines)
    prepared = prepare_input(str(source), gemini_dialect, model=GEMINI_MODEL, embeddings=False)
    prepared_inputs.append(prepared)

    assert uploaded(prepared) == lines


def test_a_directory_is_refused_naming_it(gemini_dialect, tmp_path):
    error = refusal(str(tmp_path), gemini_dialect)
    assert error.source == str(tmp_path)
    assert error.reason == "input is a directory, not a JSONL file: name the file itself"


@pytest.mark.parametrize("path", ["", "   ", "\n\t"])
def test_an_empty_path_is_refused_without_reading_the_working_directory(gemini_dialect, path, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    write_jsonl(tmp_path / "in.jsonl", [gemini_line("a")])  # something a read of "." could have found
    error = refusal(path, gemini_dialect)
    assert error.reason.startswith(f"input is an empty path ({path!r})")


def test_a_missing_file_is_refused(gemini_dialect, tmp_path):
    assert refusal(str(tmp_path / "nope.jsonl"), gemini_dialect).reason == "input file does not exist"


@pytest.mark.parametrize("name", ["*.jsonl", "part-?.jsonl", "part-[0-9].jsonl"])
def test_a_pattern_matching_files_is_refused_saying_patterns_are_not_expanded(gemini_dialect, tmp_path, name):
    write_jsonl(tmp_path / "part-1.jsonl", [gemini_line("a")])

    reason = refusal(str(tmp_path / name), gemini_dialect).reason

    assert reason == (
        "input file does not exist: a pattern in its name (*, ? or [...]) is not expanded; name one file, or map "
        "the task over the files (.expand(input=[...]))"
    )


@pytest.mark.parametrize(
    ("uri", "extra", "what"),
    [
        ("s3://bucket/in.jsonl", "s3", "the Amazon provider with s3fs"),
        ("gs://bucket/in.jsonl", "gcs", "the Google provider with gcsfs"),
        ("abfs://container/in.jsonl", "azure", "the Microsoft Azure provider with adlfs"),
    ],
)
def test_a_remote_uri_without_its_filesystem_names_the_extra_to_install(gemini_dialect, uri, extra, what, monkeypatch):
    scheme = uri.partition("://")[0]
    # Airflow's filesystem registry as in an install without this extra (the test extra installs s3's).
    monkeypatch.setattr(filesystems, "has_fs", lambda name: name != scheme and has_fs(name))
    assert not filesystem_registered(scheme)
    error = refusal(uri, gemini_dialect)
    assert error.source == uri
    assert (
        error.reason == f"reading {scheme}:// paths needs {what}: pip install 'airflow-provider-genai-batch[{extra}]'"
    )


def test_every_scheme_with_an_extra_names_an_extra_declared_in_pyproject():
    pyproject = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    section = pyproject.split("[project.optional-dependencies]", 1)[1].split("\n[", 1)[0]
    declared = set(re.findall(r"^([a-z0-9-]+) = \[", section, flags=re.MULTILINE))
    assert {"s3", "gcs", "azure"} <= declared
    assert {extra for extra, _ in FILESYSTEM_EXTRAS.values()} <= declared


def test_an_unknown_scheme_is_refused_as_such(gemini_dialect):
    error = refusal("nosuchfs://bucket/in.jsonl", gemini_dialect)
    assert error.reason.startswith("no filesystem reads nosuchfs:// paths")


@pytest.mark.parametrize(
    ("source", "scheme"),
    [("Summarize: the report", "summarize"), ("C:\\data\\in.jsonl", "c"), ("note: see s3://bucket/in.jsonl", "note")],
)
def test_text_whose_colon_reads_as_a_scheme_is_refused_naming_that_scheme(gemini_dialect, source, scheme):
    error = refusal(source, gemini_dialect)

    assert error.reason == (
        f"input is neither a path nor a URI a filesystem reads: the text before its first ':' reads as the URI "
        f"scheme {scheme!r}; give an absolute path (/data/in.jsonl), a URI (s3://bucket/in.jsonl) or a list of "
        "request dicts"
    )


@pytest.mark.parametrize("name", ["x" * 300, "in\x00.jsonl", "in.jsonl/in.jsonl"])
def test_a_path_no_file_can_have_is_refused_as_unreadable(gemini_dialect, tmp_path, name):
    write_jsonl(tmp_path / "in.jsonl", [gemini_line("a")])
    source = f"{tmp_path}/{name}"

    error = refusal(source, gemini_dialect)

    assert error.source == source
    assert error.reason.startswith("input file cannot be read: ")


def test_the_json_text_of_a_list_is_the_inline_list(gemini_dialect, prepared_inputs):
    items = [{"key": "sky", "contents": "Why is the sky blue?"}, {"key": "sea", "contents": "And the sea?"}]
    from_text = prepare_input(json.dumps(items), gemini_dialect, model=GEMINI_MODEL, embeddings=False)
    from_list = prepare_input(items, gemini_dialect, model=GEMINI_MODEL, embeddings=False)
    prepared_inputs.extend([from_text, from_list])

    assert from_text.inline is not None and from_text.upload_source is None
    assert list(from_text.inline) == list(from_list.inline or [])
    assert from_text.fingerprint == from_list.fingerprint
    assert list(from_text.iter_keys()) == ["sky", "sea"]


def test_the_json_text_of_a_list_after_a_byte_order_mark_is_the_inline_list(gemini_dialect, prepared_inputs):
    # Text read from a file saved with a BOM (and not decoded as utf-8-sig) keeps it in front of the list.
    items = [{"key": "sky", "contents": "Why is the sky blue?"}]
    from_text = prepare_input("\ufeff" + json.dumps(items), gemini_dialect, model=GEMINI_MODEL, embeddings=False)
    from_list = prepare_input(items, gemini_dialect, model=GEMINI_MODEL, embeddings=False)
    prepared_inputs.extend([from_text, from_list])

    assert from_text.inline is not None
    assert list(from_text.inline) == list(from_list.inline or [])
    assert from_text.fingerprint == from_list.fingerprint


def test_a_python_repr_of_a_list_is_refused_saying_how_to_render_json(gemini_dialect):
    error = refusal(str([{"key": "sky", "contents": "Why?"}]), gemini_dialect)
    assert error.source == "inline requests"
    assert "neither a JSONL path nor the JSON text of a list of requests" in error.reason
    assert "tojson" in error.reason and "input=task.output" in error.reason


def test_json_text_holding_nan_as_tojson_renders_it_is_refused_for_the_nan(gemini_dialect):
    # Jinja's tojson writes a float that is not a number as NaN, as json.dumps does: the text is a list all the same.
    text = json.dumps([{"key": "a", "contents": "x", "config": {"temperature": float("nan")}}])
    error = refusal(text, gemini_dialect)
    assert (error.source, error.line) == ("inline requests", None)
    assert error.reason == (
        "input is the JSON text of a list of requests, and it holds NaN is not JSON (Python's json.dumps writes it "
        "for a float that is not a number unless allow_nan=False): write null or a number (byte 57)"
    )


def test_json_text_holding_half_a_surrogate_pair_is_refused_for_the_escape(gemini_dialect):
    # json.dumps (and Jinja's tojson) writes a text cut inside a character as the escape of its lone half.
    text = json.dumps([{"key": "a", "contents": "cut \ud83d"}])
    error = refusal(text, gemini_dialect)
    assert (error.source, error.line) == ("inline requests", None)
    assert error.reason == (
        "input is the JSON text of a list of requests, and it holds the escape \\ud83d (byte 31) is half of a UTF-16 "
        "surrogate pair (a character cut in two), which is no character: write the whole character"
    )


def test_json_text_holding_a_lone_surrogate_character_is_refused_naming_it(gemini_dialect):
    # A text decoded with surrogateescape and rendered without tojson keeps the undecodable byte as a lone surrogate.
    text = '[{"key": "a", "contents": "caf\udce9"}]'
    error = refusal(text, gemini_dialect)
    assert (error.source, error.line) == ("inline requests", None)
    assert error.reason == (
        "input is text holding a lone surrogate ('\\udce9', character 30), which is not Unicode text and cannot be "
        "sent as UTF-8 (bytes that are not UTF-8, decoded with errors='surrogateescape'?)"
    )


def test_the_json_text_of_an_object_is_refused(gemini_dialect):
    error = refusal('{"key": "sky", "contents": "Why?"}', gemini_dialect)
    assert error.reason == "input is the JSON text of an object, not of a list of request dicts"


def test_a_repeated_field_in_json_text_names_the_request(gemini_dialect):
    error = refusal('[{"key": "a", "contents": "x"}, {"key": "b", "key": "c", "contents": "y"}]', gemini_dialect)
    assert (error.line, error.reason) == (
        2,
        "duplicate field 'key': JSON keeps only one of its values, so the other would be dropped silently",
    )


def test_a_file_whose_name_looks_like_json_is_read_as_a_file(gemini_dialect, tmp_path, monkeypatch, prepared_inputs):
    monkeypatch.chdir(tmp_path)
    write_jsonl(tmp_path / "[draft] prompts.jsonl", [gemini_line("a")])
    prepared = prepare_input("[draft] prompts.jsonl", gemini_dialect, model=GEMINI_MODEL, embeddings=False)
    prepared_inputs.append(prepared)
    assert list(prepared.iter_keys()) == ["a"]


@pytest.mark.parametrize("name", ["in.jsonl.gz", "in.jsonl"], ids=["gz-suffix", "no-suffix"])
def test_a_gzip_file_in_the_providers_own_format_is_uploaded_decompressed(
    gemini_dialect, tmp_path, spool_dir, prepared_inputs, name
):
    plain = jsonl_bytes([gemini_line("a"), gemini_line("b")])
    source = tmp_path / name
    source.write_bytes(gzip.compress(plain))
    prepared = prepare_input(str(source), gemini_dialect, model=GEMINI_MODEL, embeddings=False)
    prepared_inputs.append(prepared)

    assert prepared.upload_source != source
    sent = uploaded(prepared)
    assert not sent.startswith(b"\x1f\x8b")
    assert [json.loads(line) for line in sent.splitlines()] == [gemini_line("a"), gemini_line("b")]
    assert prepared.summary.total_bytes == len(sent)


def test_a_gzip_file_for_openai_is_translated_as_it_streams(openai_dialect, tmp_path, prepared_inputs):
    source = tmp_path / "in.jsonl.gz"
    source.write_bytes(gzip.compress(jsonl_bytes([gemini_line("a"), gemini_line("b")])))
    prepared = prepare_input(str(source), openai_dialect, model=OPENAI_MODEL, embeddings=False)
    prepared_inputs.append(prepared)
    assert [line["custom_id"] for line in map(json.loads, uploaded(prepared).splitlines())] == ["a", "b"]


@pytest.mark.parametrize("compressed", [b"BZh91AY&SY", b"\xfd7zXZ\x00\x00", b"PK\x03\x04rest"])
def test_other_compressions_are_refused_naming_them(gemini_dialect, tmp_path, compressed):
    source = tmp_path / "in.jsonl"
    source.write_bytes(compressed)
    assert "-compressed: only gzip is read as it is" in refusal(str(source), gemini_dialect).reason


def test_a_cr_only_file_goes_up_as_it_is_with_lf_line_endings(gemini_dialect, tmp_path, spool_dir, prepared_inputs):
    source = tmp_path / "mac.jsonl"
    source.write_bytes(jsonl_bytes([gemini_line("a"), gemini_line("b"), gemini_line("c")], end=b"\r"))
    prepared = prepare_input(str(source), gemini_dialect, model=GEMINI_MODEL, embeddings=False)
    prepared_inputs.append(prepared)

    assert prepared.upload_source == source  # no copy
    sent = uploaded(prepared)
    assert sent == source.read_bytes().replace(b"\r", b"\n")
    assert list(prepared.iter_keys()) == ["a", "b", "c"]


def test_a_mixed_line_ending_file_keeps_its_crlf_and_lf_and_sends_lf_for_a_lone_cr(
    gemini_dialect, tmp_path, prepared_inputs
):
    a, b, c = (json.dumps(gemini_line(k)).encode() for k in "abc")
    source = tmp_path / "mixed.jsonl"
    source.write_bytes(a + b"\r\n" + b + b"\r" + c + b"\n")
    prepared = prepare_input(str(source), gemini_dialect, model=GEMINI_MODEL, embeddings=False)
    prepared_inputs.append(prepared)
    assert uploaded(prepared) == a + b"\r\n" + b + b"\n" + c + b"\n"
    assert prepared.summary.total_bytes == source.stat().st_size


def test_a_file_with_a_bom_goes_up_as_it_is_from_after_the_bom(gemini_dialect, tmp_path, prepared_inputs):
    source = tmp_path / "bom.jsonl"
    source.write_bytes(UTF8_BOM + jsonl_bytes([gemini_line("a")]))
    prepared = prepare_input(str(source), gemini_dialect, model=GEMINI_MODEL, embeddings=False)
    prepared_inputs.append(prepared)
    assert prepared.upload_source == source
    assert uploaded(prepared) == jsonl_bytes([gemini_line("a")])
    assert prepared.summary.total_bytes == source.stat().st_size - len(UTF8_BOM)


def test_a_utf16_file_is_refused_as_not_utf8(gemini_dialect, tmp_path):
    source = tmp_path / "u16.jsonl"
    source.write_bytes(jsonl_bytes([gemini_line("a")]).decode().encode("utf-16"))
    error = refusal(str(source), gemini_dialect)
    assert (error.line, error.reason.split(":")[0]) == (1, "not UTF-8")


class TinyGeminiDialect(GeminiDialect):
    limits: ClassVar[ProviderLimits] = ProviderLimits(max_file_bytes=1_000, max_inline_bytes=1_000)


def test_a_file_over_the_limit_that_goes_up_as_it_is_is_refused_before_any_line_is_read(spool_dir, tmp_path):
    source = tmp_path / "big.jsonl"
    source.write_bytes(b"{not even json\n" + b" " * 2_000)  # a read would fail on line 1
    error = refusal(str(source), TinyGeminiDialect())
    assert error.line is None
    assert error.reason.startswith(f"input is {source.stat().st_size:,} bytes, over 1,000 bytes, the size limit")


def test_a_native_openai_file_over_the_limit_is_refused_once_its_first_line_shows_its_format(spool_dir, tmp_path):
    class TinyOpenAIDialect(OpenAIDialect):
        limits: ClassVar[ProviderLimits] = ProviderLimits(max_file_bytes=1_000)

    source = tmp_path / "native.jsonl"
    source.write_bytes(jsonl_bytes([openai_line("r1")]) + b"{broken\n" + b" " * 2_000)
    error = refusal(str(source), TinyOpenAIDialect(), OPENAI_MODEL)
    assert error.line is None
    assert "over 1,000 bytes, the size limit of one openai batch" in error.reason


def test_a_line_longer_than_any_request_is_refused_on_its_line(gemini_dialect, tmp_path, monkeypatch):
    monkeypatch.setattr(inputs, "MAX_LINE_BYTES", 2_000)
    source = tmp_path / "long.jsonl"
    source.write_bytes(jsonl_bytes([gemini_line("a"), gemini_line("b", "x" * 3_000), gemini_line("c")]))
    error = refusal(str(source), gemini_dialect)
    assert error.line == 2
    assert error.reason == "line is longer than 2,000 bytes, more than any provider takes for one request"


def test_a_line_uploaded_as_it_is_is_bounded_by_a_lower_batch_limit(spool_dir, tmp_path):
    # Gemini files go up as they are, so one line over the batch limit can never fit: refused while streaming.
    class SmallGeminiDialect(GeminiDialect):
        limits: ClassVar[ProviderLimits] = ProviderLimits(max_file_bytes=1_500)

    source = tmp_path / "long.jsonl.gz"
    source.write_bytes(gzip.compress(jsonl_bytes([gemini_line("a"), gemini_line("b", "x" * 3_000)])))
    error = refusal(str(source), SmallGeminiDialect())
    assert error.line == 2
    assert "1,500 bytes" in error.reason
