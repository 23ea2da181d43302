"""The typed fast path (``common_request``, ``common_translate``) changes no outcome, only the time it takes.

Differential: every line of the corpora below goes both ways. Where the fast path certifies a line, the general
check passes it too (with and without Vertex AI's fields); where it translates a line, the general translation
gives the same bytes; and ``prepare_input`` with the fast path gives the same fingerprint, keys, sent bytes and
errors, word for word, as with it switched off. The corpora: the benchmark's typical lines, the request corpus
of the unit tests (valid and refused), the generated corpus of ``translation_corpus`` (snake_case spellings,
nulls, numbers as text, enums as numbers, unknown and Gemini-only fields, broken base64, ...), the same edits
made to lines of the common shape, and the bad-input corpus.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from airflow_provider_genai_batch import inputs
from airflow_provider_genai_batch.errors import InputValidationError
from airflow_provider_genai_batch.formats import validate
from airflow_provider_genai_batch.formats.anthropic import AnthropicDialect
from airflow_provider_genai_batch.formats.bedrock import BedrockDialect
from airflow_provider_genai_batch.formats.common_request import certified, decode_common
from airflow_provider_genai_batch.formats.common_translate import Translator, common_translator
from airflow_provider_genai_batch.formats.dialect import Dialect
from airflow_provider_genai_batch.formats.gemini import GeminiDialect
from airflow_provider_genai_batch.formats.gemini_line import check_api_rules, check_line
from airflow_provider_genai_batch.formats.jsonl import decode_line
from airflow_provider_genai_batch.formats.openai import OpenAIDialect
from airflow_provider_genai_batch.formats.vertex import VertexDialect
from airflow_provider_genai_batch.inputs import PreparedInput, prepare_input
from benchmarks.validation_throughput import typical_request

from . import translation_corpus
from .gemini_requests import INVALID, PDF, PNG, VALID_GENERATE

_encode = msgspec.json.Encoder().encode
BAD_INPUTS = Path(__file__).parents[2] / "bad_inputs" / "corpus"
FUZZED = 4000

TARGETS: dict[str, tuple[Dialect, str]] = {
    "openai": (OpenAIDialect(), "gpt-4o-mini"),
    "anthropic": (AnthropicDialect(), "claude-sonnet-4-5"),
    "anthropic-no-default": (AnthropicDialect(default_max_tokens=0), "claude-sonnet-4-5"),
    "bedrock": (BedrockDialect(), "anthropic.claude-3-5-sonnet-20240620-v1:0"),
    "bedrock-converse": (BedrockDialect(invocation_type="Converse"), "anthropic.claude-3-5-sonnet-20240620-v1:0"),
    "bedrock-not-claude": (BedrockDialect(), "amazon.nova-pro-v1:0"),
}
PASSES: dict[str, tuple[Dialect, str]] = {
    "gemini": (GeminiDialect(), "gemini-2.5-flash"),
    "vertex": (VertexDialect(), "gemini-2.5-flash"),
}

_CALL = {"functionCall": {"name": "lookup_order", "args": {"order_id": "A-1", "n": 2.5, "ok": True, "x": None}}}
_ANSWER = {"functionResponse": {"name": "lookup_order", "response": {"état": "perdu", "list": [1, {"a": None}]}}}
COMMON_SEEDS: list[dict[str, Any]] = [
    {"contents": [{"parts": [{"text": "no role"}]}]},
    {"contents": [{"role": "user", "parts": [{"text": "one"}, {"text": "two ✓"}]}]},
    {
        "contents": [
            {"role": "user", "parts": [{"text": "hi"}]},
            {"role": "model", "parts": [{"text": "hello"}]},
            {"role": "user", "parts": [{"text": "again"}]},
        ],
        "systemInstruction": {"role": "user", "parts": [{"text": "a"}, {"text": "b"}]},
        "generationConfig": {
            "maxOutputTokens": 10,
            "temperature": 1,
            "topP": 0.5,
            "seed": -3,
            "candidateCount": 1,
            "presencePenalty": 0.1,
            "frequencyPenalty": -0.1,
            "stopSequences": ["a", "b"],
            "responseModalities": ["TEXT"],
        },
        "model": "models/gemini-2.5-flash",
    },
    {
        "contents": [
            {"role": "user", "parts": [{"text": "look"}, _CALL]},
            {"role": "model", "parts": [{"text": "calling"}, _CALL]},
            {"role": "user", "parts": [{"text": "here"}, _ANSWER]},
        ],
        "tools": [
            {
                "functionDeclarations": [
                    {
                        "name": "lookup_order",
                        "description": "",
                        "parameters": {
                            "type": "OBJECT",
                            "nullable": True,
                            "properties": {
                                "b": {"type": "STRING", "enum": ["x", "y"], "nullable": True},
                                "a": {"type": "ARRAY", "items": {"type": "INTEGER"}, "maxItems": 3, "minItems": 1},
                            },
                            "propertyOrdering": ["a", "b"],
                            "required": ["a"],
                        },
                    }
                ]
            }
        ],
        "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["lookup_order"]}},
    },
    {
        "contents": [
            {"role": "user", "parts": [{"text": "Answer in JSON"}]},
            {"role": "model", "parts": [{"functionCall": {"id": "c:1", "name": "f", "args": {}}}]},
            {"role": "user", "parts": [{"functionResponse": {"id": "c:1", "name": "f", "response": {}}}]},
        ],
        "generationConfig": {"responseMimeType": "application/json", "thinkingConfig": {"thinkingBudget": 0}},
        "tools": [{"functionDeclarations": [{"name": "f", "parametersJsonSchema": {"type": "object"}}]}],
        "toolConfig": {"functionCallingConfig": {"mode": "NONE"}},
    },
    {
        "contents": [
            {
                "parts": [
                    {"inlineData": {"mimeType": "image/gif", "data": PNG}},
                    {"inlineData": {"mimeType": "application/pdf", "data": PDF}},
                    {"inlineData": {"mimeType": "image/png", "data": PNG.rstrip("=")}},
                    {"text": "what are these?"},
                ]
            }
        ],
        "generationConfig": {
            "responseMimeType": "application/json",
            "responseSchema": {"type": "OBJECT", "properties": {"n": {"type": "NUMBER", "minimum": 0, "example": 1}}},
            "responseLogprobs": True,
            "logprobs": 3,
        },
    },
]
"""Lines of the common shape beside the request corpus: turns of several parts, ids, schemas, settings."""

GEMINI_ONLY_SEEDS: list[dict[str, Any]] = [
    {
        "contents": [{"parts": [{"text": "hi"}]}],
        "safetySettings": [
            {"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_NONE"},
            {"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "OFF"},
        ],
    },
    {"contents": [{"parts": [{"fileData": {"mimeType": "image/png", "fileUri": "gs://b/o.png"}}, {"text": "what?"}]}]},
    {"contents": [{"parts": [{"text": "search"}]}], "tools": [{"googleSearch": {}}, {"urlContext": {}}]},
    {"contents": [{"parts": [{"text": "run"}]}], "tools": [{"codeExecution": {}}], "labels": {"team": "a"}},
    {"contents": [{"parts": [{"text": "cached"}]}], "cachedContent": "cachedContents/abc"},
]
"""Lines of the common shape the Gemini API reads and the translations refuse."""


def _typical() -> list[dict[str, Any]]:
    return [{"key": f"k{i}", "request": typical_request(i)} for i in range(8)]


def _unit_lines() -> list[dict[str, Any]]:
    requests = [
        *VALID_GENERATE.values(),
        *(bad.request for bad in INVALID if not bad.embed),
        *COMMON_SEEDS,
        *GEMINI_ONLY_SEEDS,
    ]
    return [{"key": f"u{i}", "request": copy.deepcopy(request)} for i, request in enumerate(requests)]


def _fuzzed(count: int, seed: int) -> Iterator[dict[str, Any]]:
    """Lines of the common shape with up to four of the corpus's random edits each."""
    rng = random.Random(seed)
    seeds = [line["request"] for line in (*_typical(), *_unit_lines())]
    for index in range(count):
        request = copy.deepcopy(seeds[index % len(seeds)])
        for _ in range(rng.randrange(5)):
            translation_corpus._edit(request, rng)
        yield {"key": f"f{index}", "request": request}


def _bad_input_lines() -> Iterator[dict[str, Any]]:
    for path in sorted(BAD_INPUTS.glob("*.jsonl")):
        for number, raw in enumerate(path.read_bytes().splitlines(), start=1):
            try:
                line, _ = decode_line(raw, path.name, number)
            except InputValidationError:
                continue
            if "request" in line:
                yield line


def _corpus() -> list[dict[str, Any]]:
    generated = [line for line, embed in translation_corpus.lines() if not embed]
    return [*_typical(), *_unit_lines(), *generated, *_fuzzed(FUZZED, seed=11), *_bad_input_lines()]


CORPUS = _corpus()


def _outcome(run: Callable[[], Any]) -> str:
    try:
        return _encode(run()).decode()
    except ValueError as err:
        return f"{type(err).__name__}: {err}"


def _certified(line: dict[str, Any]) -> bool:
    typed = decode_common(_encode(line))
    return typed is not None and certified(typed)


def _fast_translator(target: str) -> Translator:
    """The translation of certified lines for ``target`` (one of :data:`TARGETS`), which every target has."""
    dialect, model = TARGETS[target]
    translate = common_translator(dialect, model=model)
    assert translate is not None
    return translate


def test_a_certified_line_passes_the_general_check_with_and_without_vertex_fields() -> None:
    taken = 0
    for line in CORPUS:
        if _certified(line):
            check_line(line, embeddings=False)
            check_line(line, embeddings=False, vertex=True)
            taken += 1
    assert taken > len(CORPUS) // 20


def test_a_certified_line_passes_the_gemini_apis_own_rules() -> None:
    for line in CORPUS:
        if _certified(line):
            check_api_rules(line["request"])


_USER = {"role": "user", "parts": [{"text": "look it up"}]}
_MODEL = {"role": "model", "parts": [{"text": "sure"}]}
_CALL = {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}]}
_TWO_CALLS = {"role": "model", "parts": [{"functionCall": {"name": "f"}}, {"functionCall": {"name": "g"}}]}
_ANSWER = {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {}}}]}


@pytest.mark.parametrize(
    "request_",
    [
        {"contents": [_CALL, _ANSWER]},
        {"contents": [_USER, _MODEL, _CALL, _ANSWER]},
        {"contents": [_USER, _TWO_CALLS, _ANSWER]},
        {"contents": [_USER, _ANSWER]},
        {"contents": [_USER], "generationConfig": {"thinkingConfig": {"thinkingBudget": 64, "thinkingLevel": "HIGH"}}},
    ],
    ids=["call-first", "call-after-model", "fewer-answers", "answer-without-call", "both-thinking-settings"],
)
def test_a_line_breaking_the_gemini_apis_own_rules_is_not_certified(request_: dict[str, Any]) -> None:
    line = {"key": "a", "request": request_}
    check_line(line, embeddings=False)
    with pytest.raises(ValueError):
        check_api_rules(request_)
    assert not _certified(line)


def test_a_conversation_keeping_the_gemini_apis_own_rules_is_certified() -> None:
    two_answers = {**_ANSWER, "parts": _ANSWER["parts"] * 2}
    request = {"contents": [_USER, _CALL, _ANSWER, _MODEL, _USER, _TWO_CALLS, two_answers]}
    assert _certified({"key": "a", "request": request})


def test_a_line_the_general_check_refuses_is_never_certified() -> None:
    refused = 0
    for line in CORPUS:
        try:
            check_line(line, embeddings=False)
        except ValueError:
            refused += 1
            assert not _certified(line), line
    assert refused > len(CORPUS) // 4


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_a_line_translated_the_fast_way_is_byte_for_byte_the_general_translation(target: str) -> None:
    dialect, model = TARGETS[target]
    translate = common_translator(dialect, model=model)
    assert translate is not None
    fast_taken = 0
    for line in CORPUS:
        if not _certified(line):
            continue
        general = _outcome(lambda line=line: dialect.to_native(line, model=model, embeddings=False))
        fast = translate(line)
        if fast is not None:
            assert _encode(fast).decode() == general, line
            fast_taken += 1
        else:
            assert general.startswith("ValueError"), (line, general)
    assert fast_taken or target == "bedrock-not-claude" or target == "anthropic-no-default"


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_the_fast_translation_leaves_the_line_as_it_was(target: str) -> None:
    translate = _fast_translator(target)
    for line in CORPUS:
        if _certified(line):
            written = _encode(line)
            translate(line)
            assert _encode(line) == written


@pytest.mark.parametrize("target", ["openai", "anthropic", "bedrock"])
def test_every_typical_benchmark_line_takes_the_fast_way(target: str) -> None:
    translate = _fast_translator(target)
    for line in _typical():
        assert _certified(line)
        assert translate(line) is not None


def test_every_typical_benchmark_line_without_tools_takes_the_fast_way_to_converse() -> None:
    translate = _fast_translator("bedrock-converse")
    for line in _typical():
        if "tools" not in line["request"]:
            assert _certified(line)
            assert translate(line) is not None


def test_a_typical_benchmark_line_with_tools_is_left_to_the_general_translation_to_refuse_for_converse() -> None:
    dialect, model = TARGETS["bedrock-converse"]
    translate = common_translator(dialect, model=model)
    assert translate is not None
    line = next(line for line in _typical() if "tools" in line["request"])
    assert translate(line) is None
    with pytest.raises(ValueError, match=r"^tools cannot be sent to bedrock: batch inference fails a Converse record"):
        dialect.to_native(line, model=model, embeddings=False)


@pytest.mark.parametrize("target", sorted(TARGETS))
@pytest.mark.parametrize("request_", GEMINI_ONLY_SEEDS, ids=range(len(GEMINI_ONLY_SEEDS)))
def test_a_gemini_only_line_is_certified_but_left_to_the_general_translation_to_refuse(
    request_: dict[str, Any], target: str
) -> None:
    line = {"key": "k", "request": request_}
    dialect, model = TARGETS[target]
    translate = common_translator(dialect, model=model)
    assert translate is not None
    assert _certified(line)
    assert translate(line) is None
    with pytest.raises(ValueError):
        dialect.to_native(line, model=model, embeddings=False)


def test_dialects_whose_translation_the_fast_path_does_not_mirror_get_none() -> None:
    assert common_translator(GeminiDialect(), model="gemini-2.5-flash") is None
    assert common_translator(VertexDialect(), model="gemini-2.5-flash") is None
    assert common_translator(AnthropicDialect(anthropic_version="2026-10-21"), model="claude-sonnet-4-5") is None

    class Reworded(OpenAIDialect):
        def to_native(self, line: Any, *, model: str, embeddings: bool) -> dict[str, Any]:
            return {}

    assert common_translator(Reworded(), model="gpt-4o-mini") is None

    class Stricter(AnthropicDialect):
        def _check_version_allows(self, params: Any) -> None:
            raise ValueError("no")

    assert common_translator(Stricter(), model="claude-sonnet-4-5") is None


# --- the whole pass, fast path on and off ----------------------------------------------------------------


class _Never:
    """The fast path switched off: no line is certified."""

    def __init__(self, reader: Any) -> None:
        pass

    def check(self, line: dict[str, Any]) -> bool:
        return False

    def certified(self, line: dict[str, Any]) -> bool:
        return False


def _prepared(prepared: PreparedInput) -> dict[str, Any]:
    """Everything a prepared input sends and says: fingerprint, keys, summary, each part's bytes, errors."""
    sent = []
    for part in prepared.parts:
        if part.inline is not None:
            sent.append(b"".join(_encode(request) + b"\n" for request in part.inline))
        elif part.in_place_uri is None:
            with part.open_upload() as stream:
                sent.append(stream.read())
    return {
        "fingerprint": prepared.fingerprint,
        "keys": list(prepared.iter_keys()),
        "summary": prepared.summary,
        "sent": sent,
        "errors": [(str(error), error.line) for error in prepared.errors],
        "errors_total": prepared.errors_total,
    }


def _prepare(path: Path, dialect: Dialect, model: str, *, collect: bool) -> Any:
    try:
        prepared = prepare_input(
            str(path), dialect, model=model, embeddings=False, collect_errors=10**6 if collect else None
        )
    except InputValidationError as err:
        return f"InputValidationError: {err}"
    try:
        return _prepared(prepared)
    finally:
        prepared.cleanup()


def _both_ways(path: Path, dialect: Dialect, model: str, monkeypatch: pytest.MonkeyPatch, *, collect: bool) -> None:
    fast = _prepare(path, dialect, model, collect=collect)
    with monkeypatch.context() as off:
        off.setattr(inputs, "CommonLines", _Never)
        off.setattr(inputs, "common_translator", lambda dialect, model: None)
        general = _prepare(path, dialect, model, collect=collect)
    assert fast == general


ALL_TARGETS = {**TARGETS, **PASSES}
DUPLICATES = [
    b'{"key": "d1", "request": {"contents": [{"parts": [{"text": "a"}], "parts": [{"text": "b"}]}]}}',
    b'{"key": "d2", "request": {"contents": [{"parts": [{"text": "a", "text": "b"}]}]}}',
    b'{"key": "d3", "key": "d4", "request": {"contents": [{"parts": [{"text": "a"}]}]}}',
    b'{"key": "d5", "request": {"contents": [{"parts": [{"text": "a\\u003a", "text": "b"}]}]}}',
]


@pytest.mark.parametrize("target", sorted(ALL_TARGETS))
def test_the_whole_corpus_prepares_the_same_with_the_fast_path_on_and_off(
    target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dialect, model = ALL_TARGETS[target]
    path = tmp_path / "corpus.jsonl"
    lines = [json.dumps(line, ensure_ascii=False).encode() for line in CORPUS]
    path.write_bytes(b"\n".join([*lines, *DUPLICATES]) + b"\n")
    _both_ways(path, dialect, model, monkeypatch, collect=True)


@pytest.mark.parametrize("target", ["gemini", "openai", "anthropic", "bedrock"])
@pytest.mark.parametrize("name", sorted(path.name for path in BAD_INPUTS.iterdir() if path.is_file()))
def test_every_bad_input_file_prepares_the_same_with_the_fast_path_on_and_off(
    name: str, target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    dialect, model = ALL_TARGETS[target]
    _both_ways(BAD_INPUTS / name, dialect, model, monkeypatch, collect=False)


@pytest.mark.parametrize("target", ["openai", "anthropic", "bedrock"])
def test_typical_lines_go_the_fast_way_through_prepare_input(
    target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the general check and translation made to fail, the typical lines still prepare, to the same bytes."""
    dialect, model = TARGETS[target]
    path = tmp_path / "typical.jsonl"
    path.write_bytes(b"".join(_encode(line) + b"\n" for line in _typical()))
    expected = _prepare(path, dialect, model, collect=False)

    def general(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the general path was taken")

    monkeypatch.setattr(validate, "check_line", general)
    monkeypatch.setattr(type(dialect), "to_native", general)
    assert _prepare(path, dialect, model, collect=False) == expected


def _with_tool(parameters: bytes) -> dict[str, Any]:
    text = b'{"key": "k", "request": {"contents": [{"parts": [{"text": "hi"}]}], "tools": [{"functionDeclarations": '
    return msgspec.json.decode(text + b'[{"name": "f", "parameters": ' + parameters + b"}]}]}}")


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_tools_remembered_from_the_line_before_are_reused_only_when_written_the_same(target: str) -> None:
    dialect, model = TARGETS[target]
    translate = common_translator(dialect, model=model)
    assert translate is not None
    alike = [
        b'{"type": "OBJECT", "properties": {"a": {"type": "NUMBER", "minimum": 1}}}',
        b'{"type": "OBJECT", "properties": {"a": {"type": "NUMBER", "minimum": 1.0}}}',
        b'{"type": "OBJECT", "properties": {"a": {"type": "NUMBER", "minimum": 1}}}',
        b'{"properties": {"a": {"minimum": 1, "type": "NUMBER"}}, "type": "OBJECT"}',
        b'{"type": "OBJECT", "properties": {"a": {"type": "NUMBER", "default": null}}}',
        b'{"type": "OBJECT", "properties": {"a": {"type": "NUMBER", "default": null}}}',
        b'{"type": "OBJECT", "properties": {"a": {"type": "NUMBER", "default": 0}}}',
        b'{"type": "OBJECT", "properties": {"a": {"type": "NUMBER", "default": -0.0}}}',
        b'{"type": "OBJECT", "properties": {"a": {"type": "NUMBER", "default": 0.0}}}',
        b'{"type": "STRING"}',
        b'{"type": "STRING"}',
    ]
    for parameters in alike:
        line = _with_tool(parameters)
        assert _certified(line)
        general = _outcome(lambda line=line: dialect.to_native(line, model=model, embeddings=False))
        fast = translate(line) if _certified(line) else None
        if fast is not None:
            assert _encode(fast).decode() == general


def _with_settings(settings: bytes) -> dict[str, Any]:
    text = b'{"key": "k", "request": {"contents": [{"parts": [{"text": "a JSON answer"}]}], "generationConfig": '
    return msgspec.json.decode(text + settings + b"}}")


SETTINGS_ALIKE = [
    b'{"temperature": 1, "maxOutputTokens": 5}',
    b'{"temperature": 1.0, "maxOutputTokens": 5}',
    b'{"maxOutputTokens": 5, "temperature": 1}',
    b'{"temperature": 1, "maxOutputTokens": 5}',
    b'{"responseMimeType": "application/json", "responseSchema": {"type": "OBJECT", "nullable": true}}',
    b'{"responseMimeType": "application/json", "responseSchema": {"nullable": true, "type": "OBJECT"}}',
    b'{"responseMimeType": "application/json", "responseSchema": {"type": "OBJECT", "nullable": true}}',
    b'{"responseMimeType": "application/json", "responseSchema": {"type": "TYPE_UNSPECIFIED"}}',
    b'{"responseMimeType": "application/json", "responseSchema": {"type": "TYPE_UNSPECIFIED"}}',
    b'{"stopSequences": ["a", "b", "c", "d", "e"]}',
    b'{"stopSequences": ["a", "b", "c", "d", "e"]}',
    *(b'{"seed": %d}' % seed for seed in range(40)),
    b'{"temperature": 1, "maxOutputTokens": 5}',
    b'{"seed": 0}',
]
"""Settings in a row: repeated, written another way (1 and 1.0, member order), refused by a target, and more of
them than are remembered, then the first again."""


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_settings_remembered_from_lines_before_are_reused_only_when_written_the_same(target: str) -> None:
    dialect, model = TARGETS[target]
    translate = common_translator(dialect, model=model)
    assert translate is not None
    for settings in SETTINGS_ALIKE:
        line = _with_settings(settings)
        assert _certified(line)
        general = _outcome(lambda line=line: dialect.to_native(line, model=model, embeddings=False))
        fast = translate(line)
        if fast is None:
            assert general.startswith("ValueError"), general
        else:
            assert _encode(fast).decode() == general
