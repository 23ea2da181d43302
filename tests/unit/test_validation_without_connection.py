"""Validating and translating an input needs a provider's dialect only, never an Airflow connection.

For every provider dialect (Gemini, OpenAI, Anthropic, Bedrock, and a gateway in front of Gemini,
OpenAI or Anthropic) a real JSONL file is validated with ``prepare_input`` while no ``AIRFLOW_CONN_*``
variable is set and any Airflow connection lookup fails the test. The requests come out as the exact
wire payloads the provider receives, the count is right, and a bad line fails naming its line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import BaseHook

from airflow_provider_genai_batch.errors import GenAIBatchError, InputValidationError
from airflow_provider_genai_batch.formats.anthropic import AnthropicDialect
from airflow_provider_genai_batch.formats.bedrock import BedrockDialect, record_id
from airflow_provider_genai_batch.formats.detect import InputFormat
from airflow_provider_genai_batch.formats.dialect import Dialect
from airflow_provider_genai_batch.formats.gateway import target_dialect
from airflow_provider_genai_batch.formats.gemini import GeminiDialect
from airflow_provider_genai_batch.formats.keys import portable_id
from airflow_provider_genai_batch.formats.openai import OpenAIDialect
from airflow_provider_genai_batch.inputs import PreparedInput, prepare_input

GEMINI_MODEL = "gemini-2.5-flash"
OPENAI_MODEL = "gpt-4o-mini"
ANTHROPIC_MODEL = "claude-sonnet-4-5"
BEDROCK_MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"
BEDROCK_MIN_REQUESTS = 100

SPACED_KEY = "invoice 7.pdf"  # neither a portable id nor a Bedrock record id: it travels hashed there


# --- no Airflow connection anywhere -------------------------------------------------------------------


@pytest.fixture(autouse=True)
def no_airflow_connection(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[Any, ...]]]:
    """No ``AIRFLOW_CONN_*`` variable is set; reading any connection raises, and fails the test even if caught."""
    for name in list(os.environ):
        if name.startswith("AIRFLOW_CONN_"):
            monkeypatch.delenv(name)
    reads: list[tuple[Any, ...]] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        reads.append(args)
        raise AssertionError(f"validation read an Airflow connection: {args!r}")

    monkeypatch.setattr(BaseHook, "get_connection", refuse)
    monkeypatch.setattr(BaseHook, "aget_connection", refuse)
    yield reads
    assert reads == [], "an Airflow connection was read"


pytestmark = pytest.mark.usefixtures("spool_dir")


@pytest.fixture
def prepared_inputs(spool_dir: Path) -> Iterator[list[PreparedInput]]:
    """PreparedInputs to clean up after the test; afterwards no spool file is left."""
    made: list[PreparedInput] = []
    yield made
    for prepared in made:
        prepared.cleanup()
    assert list(spool_dir.iterdir()) == []


def test_the_guard_refuses_every_connection_lookup(no_airflow_connection):
    assert not [name for name in os.environ if name.startswith("AIRFLOW_CONN_")]
    with pytest.raises(AssertionError, match="validation read an Airflow connection"):
        BaseHook.get_connection("genai_default")
    assert no_airflow_connection == [("genai_default",)]
    no_airflow_connection.clear()


# --- inputs and what the provider receives ------------------------------------------------------------


def gemini_line(key: str, text: str, **request: Any) -> dict[str, Any]:
    return {"key": key, "request": {"contents": [{"role": "user", "parts": [{"text": text}]}], **request}}


LINES = [
    gemini_line("doc1", "Summarise report 1."),
    gemini_line(SPACED_KEY, "Total of invoice 7?", generationConfig={"maxOutputTokens": 64}),
]


def write_jsonl(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def sent(prepared: PreparedInput) -> list[dict[str, Any]]:
    """The request lines as the provider receives them: the inline requests, or the file to upload."""
    if prepared.inline is not None:
        return list(prepared.inline)
    assert prepared.upload_source is not None
    return [json.loads(raw) for raw in Path(prepared.upload_source).read_bytes().splitlines()]


def openai_line(custom_id: str, text: str, **body: Any) -> dict[str, Any]:
    messages = [{"role": "user", "content": text}]
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": OPENAI_MODEL, "messages": messages, **body},
    }


def anthropic_request(custom_id: str, text: str, max_tokens: int) -> dict[str, Any]:
    messages = [{"role": "user", "content": text}]
    return {
        "custom_id": custom_id,
        "params": {"model": ANTHROPIC_MODEL, "max_tokens": max_tokens, "messages": messages},
    }


OPENAI_LINES = [
    openai_line("doc1", "Summarise report 1."),
    openai_line(portable_id(SPACED_KEY), "Total of invoice 7?", max_completion_tokens=64),
]
ANTHROPIC_REQUESTS = [
    anthropic_request("doc1", "Summarise report 1.", 4096),
    anthropic_request(portable_id(SPACED_KEY), "Total of invoice 7?", 64),
]


# --- Gemini ---------------------------------------------------------------------------------------------


def test_gemini_validates_a_file_and_uploads_it_as_it_is(tmp_path, prepared_inputs):
    source = write_jsonl(tmp_path / "in.jsonl", LINES)
    prepared = prepare_input(str(source), GeminiDialect(), model=GEMINI_MODEL, embeddings=False)
    prepared_inputs.append(prepared)

    assert (prepared.summary.format, prepared.summary.count) == (InputFormat.GEMINI, 2)
    assert prepared.upload_source == source  # the canonical format is Gemini's own: no copy
    assert sent(prepared) == LINES  # {"key", "request"} lines, keys as they are
    assert list(prepared.iter_keys()) == ["doc1", SPACED_KEY]


# --- OpenAI ---------------------------------------------------------------------------------------------


def test_openai_validates_a_file_into_batch_lines_to_upload(tmp_path, prepared_inputs):
    source = write_jsonl(tmp_path / "in.jsonl", LINES)
    prepared = prepare_input(str(source), OpenAIDialect(), model=OPENAI_MODEL, embeddings=False)
    prepared_inputs.append(prepared)

    assert (prepared.summary.format, prepared.summary.count) == (InputFormat.GEMINI, 2)
    assert prepared.inline is None
    assert sent(prepared) == OPENAI_LINES
    assert list(prepared.iter_keys()) == ["doc1", SPACED_KEY]  # the original keys, for the results join


# --- Anthropic ------------------------------------------------------------------------------------------


def test_anthropic_validates_a_file_into_inline_message_batch_requests(tmp_path, prepared_inputs):
    source = write_jsonl(tmp_path / "in.jsonl", LINES)
    prepared = prepare_input(str(source), AnthropicDialect(), model=ANTHROPIC_MODEL, embeddings=False)
    prepared_inputs.append(prepared)

    assert (prepared.summary.format, prepared.summary.count) == (InputFormat.GEMINI, 2)
    assert prepared.upload_source is None  # Message Batches take their requests inline
    assert sent(prepared) == ANTHROPIC_REQUESTS
    assert list(prepared.iter_keys()) == ["doc1", SPACED_KEY]


def test_anthropic_options_come_from_the_dialect_not_a_connection(tmp_path, prepared_inputs):
    source = write_jsonl(tmp_path / "in.jsonl", LINES[:1])
    prepared = prepare_input(
        str(source), AnthropicDialect(default_max_tokens=256), model=ANTHROPIC_MODEL, embeddings=False
    )
    prepared_inputs.append(prepared)
    assert sent(prepared) == [anthropic_request("doc1", "Summarise report 1.", 256)]


# --- Bedrock --------------------------------------------------------------------------------------------


def bedrock_lines(count: int) -> list[dict[str, Any]]:
    return LINES + [gemini_line(f"row{i:03d}", f"Question {i}.") for i in range(len(LINES), count)]


@pytest.mark.parametrize(
    ("invocation_type", "first_input"),
    [
        (
            "InvokeModel",
            {
                "anthropic_version": "bedrock-2023-05-31",
                "max_tokens": 4096,
                "messages": [{"role": "user", "content": "Summarise report 1."}],
            },
        ),
        (
            "Converse",
            {
                "messages": [{"role": "user", "content": [{"text": "Summarise report 1."}]}],
                "inferenceConfig": {"maxTokens": 4096},
            },
        ),
    ],
)
def test_bedrock_validates_a_file_of_100_lines_into_s3_records(tmp_path, prepared_inputs, invocation_type, first_input):
    source = write_jsonl(tmp_path / "in.jsonl", bedrock_lines(BEDROCK_MIN_REQUESTS))
    dialect = BedrockDialect(invocation_type=invocation_type)
    prepared = prepare_input(str(source), dialect, model=BEDROCK_MODEL, embeddings=False)
    prepared_inputs.append(prepared)

    assert (prepared.summary.format, prepared.summary.count) == (InputFormat.GEMINI, BEDROCK_MIN_REQUESTS)
    assert prepared.inline is None  # records go to S3 as a file
    records = sent(prepared)
    assert len(records) == BEDROCK_MIN_REQUESTS
    assert records[0] == {"recordId": "doc1", "modelInput": first_input}
    assert records[1]["recordId"] == record_id(SPACED_KEY) != SPACED_KEY  # hashed: record ids are alphanumeric
    assert records[1]["recordId"].isalnum()
    assert [r["recordId"] for r in records[2:]] == [f"row{i:03d}" for i in range(2, BEDROCK_MIN_REQUESTS)]
    assert list(prepared.iter_keys())[:2] == ["doc1", SPACED_KEY]


def test_bedrock_refuses_a_file_of_99_lines_before_anything_is_uploaded(tmp_path, spool_dir):
    source = write_jsonl(tmp_path / "in.jsonl", bedrock_lines(BEDROCK_MIN_REQUESTS - 1))
    with pytest.raises(InputValidationError) as info:
        prepare_input(str(source), BedrockDialect(), model=BEDROCK_MODEL, embeddings=False)
    assert info.value.line is None  # the input as a whole
    assert "99 requests, fewer than the 100 a bedrock batch needs" in info.value.reason
    assert list(spool_dir.iterdir()) == []


def test_bedrock_translation_needs_no_role_arn_or_s3_prefix(tmp_path, prepared_inputs):
    # Those are checked by the hook before a submit (check_submittable), not by validation.
    source = write_jsonl(tmp_path / "in.jsonl", bedrock_lines(BEDROCK_MIN_REQUESTS))
    prepared = prepare_input(str(source), BedrockDialect(), model=BEDROCK_MODEL, embeddings=False)
    prepared_inputs.append(prepared)
    assert prepared.summary.count == BEDROCK_MIN_REQUESTS


# --- a gateway in front of Gemini, OpenAI or Anthropic ---------------------------------------------------


GATEWAY_ANTHROPIC_LINES = [
    gemini_line("doc1", "Summarise report 1.", generationConfig={"maxOutputTokens": 4096}),
    gemini_line(portable_id(SPACED_KEY), "Total of invoice 7?", generationConfig={"maxOutputTokens": 64}),
]
"""What a gateway in front of Anthropic receives: Gemini requests (it translates them), keys as custom ids,
the default max_tokens written in."""


@pytest.mark.parametrize(
    ("target", "model", "expected", "inline"),
    [
        ("gemini", GEMINI_MODEL, LINES, False),
        ("openai", OPENAI_MODEL, OPENAI_LINES, False),
        ("anthropic", ANTHROPIC_MODEL, GATEWAY_ANTHROPIC_LINES, True),
    ],
)
def test_a_gateway_validates_a_file_into_its_targets_own_lines(
    tmp_path, prepared_inputs, target, model, expected, inline
):
    source = write_jsonl(tmp_path / "in.jsonl", LINES)
    dialect = target_dialect(target)
    prepared = prepare_input(str(source), dialect, model=model, embeddings=False)
    prepared_inputs.append(prepared)

    assert dialect.provider == "gateway"
    assert (prepared.summary.format, prepared.summary.count) == (InputFormat.GEMINI, 2)
    assert (prepared.inline is not None) is inline
    assert sent(prepared) == expected  # a file in the target's format; inline, Gemini requests the gateway translates
    assert list(prepared.iter_keys()) == ["doc1", SPACED_KEY]


def test_a_gateway_cannot_target_bedrock():
    with pytest.raises(GenAIBatchError, match="bedrock batches cannot be created through a gateway"):
        target_dialect("bedrock")


def test_a_gateway_to_openai_refuses_a_native_line_for_another_endpoint_naming_it(tmp_path):
    embeddings = {
        "custom_id": "e1",
        "method": "POST",
        "url": "/v1/embeddings",
        "body": {"model": OPENAI_MODEL, "input": "x"},
    }
    source = write_jsonl(tmp_path / "in.jsonl", [OPENAI_LINES[0], embeddings])
    with pytest.raises(InputValidationError) as info:
        prepare_input(str(source), target_dialect("openai"), model=OPENAI_MODEL, embeddings=False)
    assert info.value.line == 2
    assert "cannot go through the gateway" in info.value.reason


# --- a bad line, for every dialect -----------------------------------------------------------------------

TEXT = {"text": "x"}


def late(*, metadata: Any = None, **request: Any) -> str:
    """A line keyed ``late`` with a one-text-part request, its fields replaced or added by ``request``."""
    line: dict[str, Any] = {"key": "late", "request": {"contents": [{"parts": [TEXT]}], **request}}
    if metadata is not None:
        line["metadata"] = metadata
    return json.dumps(line)


DIALECTS: list[tuple[str, Callable[[], Dialect], str, int]] = [
    ("gemini", GeminiDialect, GEMINI_MODEL, 2),
    ("openai", OpenAIDialect, OPENAI_MODEL, 2),
    ("anthropic", AnthropicDialect, ANTHROPIC_MODEL, 2),
    ("bedrock", BedrockDialect, BEDROCK_MODEL, BEDROCK_MIN_REQUESTS),
    ("gateway-gemini", lambda: target_dialect("gemini"), GEMINI_MODEL, 2),
    ("gateway-openai", lambda: target_dialect("openai"), OPENAI_MODEL, 2),
    ("gateway-anthropic", lambda: target_dialect("anthropic"), ANTHROPIC_MODEL, 2),
]


@pytest.mark.parametrize(("name", "make", "model", "count"), DIALECTS, ids=[d[0] for d in DIALECTS])
@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ('{"key": "late", "request": {"contents": []}}', "needs 'contents' (a non-empty list)"),
        ('{"key": "late", "request": ', "invalid JSON"),
        ('{"request": {"contents": [{"parts": [{"text": "no key"}]}]}}', "missing key field 'key'"),
        (
            late(contents=[{"role": "system", "parts": [TEXT]}]),
            "request.contents[0].role: 'system' is not allowed here",
        ),
        (
            late(generationConfig={"temperature": 3.5}),
            "request.generationConfig.temperature: 3.5 is out of range: must be between 0 and 2",
        ),
        (
            late(contents=[{"parts": [{"inlineData": {"mimeType": "image/png", "data": "%%"}}]}]),
            "request.contents[0].parts[0].inlineData.data: is not valid base64",
        ),
        (
            late(generationConfig={}, generation_config={}),
            "request: generationConfig and generation_config are one field",
        ),
        (late(metadata="crm"), "'metadata' must be a JSON object, got string"),
    ],
    ids=[
        "empty-contents",
        "invalid-json",
        "missing-key",
        "system-role",
        "temperature",
        "base64",
        "spellings",
        "metadata",
    ],
)
def test_a_bad_line_fails_naming_the_file_and_its_line(tmp_path, spool_dir, name, make, model, count, bad, reason):
    lines = [json.dumps(line) for line in bedrock_lines(count)]
    bad_line = len(lines) // 2 + 1
    lines.insert(bad_line - 1, bad)
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")

    with pytest.raises(InputValidationError) as info:
        prepare_input(str(source), make(), model=model, embeddings=False)

    assert info.value.line == bad_line
    assert info.value.source == str(source)
    assert reason in info.value.reason
    assert f"{source}, line {bad_line}: " in str(info.value)
    assert list(spool_dir.iterdir()) == []  # nothing half-translated is left behind


TRANSLATING = [d for d in DIALECTS if d[0] not in ("gemini", "gateway-gemini")]


@pytest.mark.parametrize(("name", "make", "model", "count"), TRANSLATING, ids=[d[0] for d in TRANSLATING])
def test_a_gemini_only_tool_fails_naming_its_line_wherever_requests_are_translated(tmp_path, name, make, model, count):
    lines = bedrock_lines(count)
    lines[1] = gemini_line(SPACED_KEY, "Search the web.", tools=[{"googleSearch": {}}])
    source = write_jsonl(tmp_path / "in.jsonl", lines)

    with pytest.raises(InputValidationError) as info:
        prepare_input(str(source), make(), model=model, embeddings=False)

    assert info.value.line == 2
    if name == "gateway-anthropic":  # inline through the gateway: its converter would drop the tools
        assert "request.tools would be dropped by the gateway" in info.value.reason
    else:
        assert "googleSearch" in info.value.reason


def test_an_anthropic_native_line_for_another_model_fails_naming_its_line(tmp_path, spool_dir):
    other = anthropic_request("doc2", "hi", 64)
    other["params"]["model"] = "claude-opus-4-1"
    source = write_jsonl(tmp_path / "in.jsonl", [ANTHROPIC_REQUESTS[0], other])

    with pytest.raises(InputValidationError) as info:
        prepare_input(str(source), AnthropicDialect(), model=ANTHROPIC_MODEL, embeddings=False)

    assert info.value.line == 2
    assert info.value.reason.startswith(
        "params.model 'claude-opus-4-1' differs from the batch model 'claude-sonnet-4-5'"
    )


@pytest.mark.parametrize(("name", "make", "model", "count"), TRANSLATING, ids=[d[0] for d in TRANSLATING])
def test_a_value_the_target_refuses_fails_naming_its_line_and_field(tmp_path, name, make, model, count):
    lines = bedrock_lines(count)
    lines[1] = gemini_line(SPACED_KEY, "Say hi.", generationConfig={"temperature": 1.5, "presencePenalty": 2.5})
    source = write_jsonl(tmp_path / "in.jsonl", lines)

    dialect = make()
    with pytest.raises(InputValidationError) as info:
        prepare_input(str(source), dialect, model=model, embeddings=False)

    assert info.value.line == 2
    assert "generationConfig." in info.value.reason
    assert (
        "is outside its range" in info.value.reason
        or f"{dialect.provider} has no presence penalty" in info.value.reason
        or "presencePenalty cannot go through the gateway to anthropic" in info.value.reason
    )


def test_an_inline_item_with_a_numeric_key_fails_naming_its_position(spool_dir):
    items = [{"key": "a", "contents": "hi"}, {"key": 0, "contents": "hi"}]

    with pytest.raises(InputValidationError) as info:
        prepare_input(items, GeminiDialect(), model=GEMINI_MODEL, embeddings=False)

    assert str(info.value) == "inline requests, line 2: 'key' must be a non-empty string, got 0"
    assert list(spool_dir.iterdir()) == []
