"""A seeded differential fuzz of the validation and translation pass against the emulator's own checks.

Seeds are valid lines of every input format the provider accepts (Gemini requests for the Developer API and Vertex
AI, OpenAI batch lines for chat, responses and embeddings, Anthropic batch requests, Bedrock records of InvokeModel
and Converse, Gemini requests translated for OpenAI, Anthropic and Bedrock, and files and inline requests through the
gateway to its Gemini, OpenAI and Anthropic targets). Each fuzzed line is a seed with a few
random edits, made to its JSON text as well as to its values: a wrong type, null, a member dropped or added, an
enum or a number out of its range, deep nesting, a huge string, escapes, a lone surrogate, a member given twice, an
empty array or object, a member moved to another object. :func:`run` prepares a file of such lines as a dry run
does and judges every line: a refused line must be refused by its file and line number and name a field (one on a
path that was edited, or one a rule ties to it; a line that is not JSON is named by its byte); an accepted line's
sent bytes must pass the emulator's validation for that provider and endpoint, which is
as strict as the service (a refusal there is a request we would have uploaded and paid for).
"""

from __future__ import annotations

import copy
import json
import random
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import msgspec

from airflow_provider_genai_batch.errors import InputValidationError
from airflow_provider_genai_batch.formats.anthropic import PINNED_VERSION, AnthropicDialect
from airflow_provider_genai_batch.formats.bedrock import BedrockDialect
from airflow_provider_genai_batch.formats.dialect import Dialect
from airflow_provider_genai_batch.formats.gateway import target_dialect
from airflow_provider_genai_batch.formats.gemini import GeminiDialect
from airflow_provider_genai_batch.formats.openai import OpenAIDialect
from airflow_provider_genai_batch.formats.vertex import VertexDialect
from airflow_provider_genai_batch.inputs import prepare_input
from airflow_provider_genai_batch.testing.emulator.anthropic.validation import params_problem, read_requests
from airflow_provider_genai_batch.testing.emulator.anthropic.wire import AnthropicError
from airflow_provider_genai_batch.testing.emulator.bedrock.results import output_line
from airflow_provider_genai_batch.testing.emulator.bedrock.storage import record_problem
from airflow_provider_genai_batch.testing.emulator.gateway.translation import anthropic_params
from airflow_provider_genai_batch.testing.emulator.gateway.validation import inline_items
from airflow_provider_genai_batch.testing.emulator.gateway.wire import GatewayError
from airflow_provider_genai_batch.testing.emulator.gemini.results import result_line
from airflow_provider_genai_batch.testing.emulator.openai.answers import answer_request
from airflow_provider_genai_batch.testing.emulator.openai.validation import Validation, check_input_line
from airflow_provider_genai_batch.testing.emulator.vertex.results import answer_generate

from .gemini_requests import VALID_EMBED, VALID_GENERATE

FUZZ_LINES_ENV = "GENAI_BATCH_FUZZ_LINES"
"""Lines fuzzed per target when set (CI fuzzes :data:`CI_LINES`): ``GENAI_BATCH_FUZZ_LINES=200000 pytest ...``."""
FUZZ_SEED_ENV = "GENAI_BATCH_FUZZ_SEED"
"""The seed of the fuzz when set (CI uses :data:`CI_SEED`), to explore other lines or replay a run."""
CI_LINES = 400
EDITS = (1, 1, 1, 2, 2, 3, 4)
"""How many edits a fuzzed line gets, drawn from these: mostly one, so that many lines are still sent."""
CI_SEED = 20261202


# --- JSON text the encoders will not write: members given twice, raw tokens ------------------------------


class Twice(dict[str, Any]):
    """An object written with one of its members given twice (the first value, then the second)."""

    def __init__(self, items: dict[str, Any], name: str, first: Any) -> None:
        super().__init__(items)
        self.name, self.first = name, first


@dataclass(frozen=True)
class Raw:
    """A JSON token written as it is (a lone surrogate escape, an escaped member name)."""

    text: str


def dumps(value: Any) -> str:
    """``value`` as JSON text, :class:`Twice` and :class:`Raw` included; non-ASCII written as it is."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        members = [f"{json.dumps(str(name), ensure_ascii=False)}: {dumps(item)}" for name, item in value.items()]
        if isinstance(value, Twice):
            members.insert(0, f"{json.dumps(value.name, ensure_ascii=False)}: {dumps(value.first)}")
        return "{" + ", ".join(members) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(dumps(item) for item in value) + "]"
    return json.dumps(value, ensure_ascii=False)


# --- the edits ---------------------------------------------------------------------------------------------

Path_ = tuple[Any, ...]


def places(value: Any, path: Path_ = ()) -> Iterator[Path_]:
    """Every path to an object member or list item below ``value``, down to 30 levels."""
    if len(path) >= 30:
        return
    if isinstance(value, dict):
        for name, item in value.items():
            yield (*path, name)
            yield from places(item, (*path, name))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield (*path, index)
            yield from places(item, (*path, index))


def _odd(value: Any, rng: random.Random) -> Any:
    """A value the service may refuse where ``value`` stood: another type, null, out of range, empty, odd text."""
    common: list[Any] = [None, [], {}, "", True, 0, -1, "x", [value], {"value": value}]
    if isinstance(value, bool):
        return rng.choice([*common, "true", 1, 0])
    if isinstance(value, int):
        return rng.choice([*common, str(value), -value, 0, 2**31, 2**63, -(2**63) - 1, value + 0.5, 1e308, -1e-9])
    if isinstance(value, float):
        return rng.choice([*common, str(value), -value, 1e308, 100.0, -100.0, 2.5, int(value)])
    if isinstance(value, str):
        return rng.choice(
            [
                *common,
                value.lower(),
                value.upper(),
                value + "_BOGUS",
                " " + value,
                value + "\n",
                value * 3,
                "x" * rng.choice([1000, 70_000]),
                value + "\x00",
                value + '"\\',
                value + "\u2028",
                Raw(json.dumps(value[:10])[:-1] + '\\ud800"'),
                Raw('"\\udc00"'),
                "é" + value,
            ]
        )
    if isinstance(value, list):
        return rng.choice([*common, value * 2, value[:1], [None], [[]], [{}], [*value, value[0]] if value else [1]])
    if isinstance(value, dict):
        return rng.choice([*common, {"": 1}, {**value, "unknown_member": 1}])
    return rng.choice(common)


def _nested(value: Any, depth: int, rng: random.Random) -> Raw:
    """``value`` inside ``depth`` arrays or objects, written out as text (deeper than a recursive writer goes)."""
    opening, closing = rng.choice([("[", "]"), ('{"a": ', "}")])
    return Raw(opening * depth + dumps(value) + closing * depth)


ODD_NAMES = ("extra", "role", "text", "type", "model", "key", "custom_id", "id", "name", "content", "messages")


def edit(line: dict[str, Any], rng: random.Random, protected: frozenset[str]) -> Path_ | None:
    """Make one random edit somewhere in ``line`` (never to a top-level member in ``protected``): the path edited."""
    spots = [path for path in places(line) if path[0] not in protected]
    if not spots:
        return None
    path = rng.choice(spots)
    *parents, last = path
    holder: Any = line
    for step in parents:
        holder = holder[step]
    value = holder[last]
    kind = rng.randrange(12)
    if kind < 2:  # a member or an item dropped
        del holder[last]
    elif kind == 2 and isinstance(holder, dict):
        added = rng.choice(ODD_NAMES) if rng.random() < 0.5 else "unknown_" + str(last)
        holder[added] = copy.deepcopy(value)
        return (*parents, added)
    elif kind == 3 and parents and isinstance(holder, dict) and not isinstance(holder, Twice):
        _replace(line, tuple(parents), Twice(holder, str(last), _odd(value, rng)))
    elif kind == 4:
        holder[last] = _nested(value, rng.choice([3, 60, 300, 1100]), rng)
    elif kind == 5 and isinstance(value, dict) and value:
        moved = rng.choice(list(value))  # a member moved up into the object holding this one
        if isinstance(holder, dict):
            holder[moved] = value.pop(moved)
            return (*parents, moved)
        added = rng.choice(ODD_NAMES)
        value[added] = value[moved]
        return (*path, added)
    elif kind == 6 and isinstance(holder, list) and holder:
        holder.insert(0, copy.deepcopy(holder[last]))
    else:
        holder[last] = _odd(value, rng)
    return tuple(path)


def _replace(line: dict[str, Any], path: Path_, value: Any) -> None:
    holder: Any = line
    for step in path[:-1]:
        holder = holder[step]
    holder[path[-1]] = value


def line_text(line: dict[str, Any]) -> bytes:
    """The JSON text of a fuzzed line, as one line."""
    return dumps(line).encode("utf-8", "surrogatepass")


# --- what the emulator says of the bytes we send ----------------------------------------------------------

Refusal = Callable[[bytes, int], str | None]
"""The emulator's refusal of one sent line (its number in the sent file), or None."""


def _gemini(line: bytes, number: int) -> str | None:
    job = SimpleNamespace(kind="generate", model="models/gemini-2.5-flash", job_id="fuzz", extra={})
    out, ok = result_line(job, number, line)  # type: ignore[arg-type]
    return None if ok else out.decode()


def _gemini_embed(line: bytes, number: int) -> str | None:
    job = SimpleNamespace(kind="embed", model="models/gemini-embedding-001", job_id="fuzz", extra={})
    out, ok = result_line(job, number, line)  # type: ignore[arg-type]
    return None if ok else out.decode()


def _vertex(line: bytes, number: int) -> str | None:
    job = SimpleNamespace(kind="generate", job_id="fuzz", extra={"model_id": "gemini-2.5-flash"})
    outcome = answer_generate(json.loads(line), job, number)  # type: ignore[arg-type]
    return None if "response" in outcome.fields else json.dumps(outcome.fields)


def _openai(endpoint: str, kind: str) -> Refusal:
    def refusal(line: bytes, number: int) -> str | None:
        out = Validation()
        check_input_line(line, number, endpoint, kind, set(), out)  # type: ignore[arg-type]
        if out.errors:
            return json.dumps(out.errors)
        answer = answer_request(endpoint, msgspec.json.decode(line)["body"], "fuzz", 0)
        return None if answer.status_code == 200 else json.dumps(answer.body)

    return refusal


def _anthropic(line: bytes, number: int) -> str | None:
    with tempfile.TemporaryDirectory() as scratch:
        body, requests = Path(scratch, "body.json"), Path(scratch, "requests.jsonl")
        body.write_bytes(b'{"requests": [' + line + b"]}")
        try:
            read_requests(body, requests)
        except AnthropicError as err:
            return str(err.detail if hasattr(err, "detail") else err)
        params = msgspec.json.decode(requests.read_bytes().splitlines()[0])["params"]
    return params_problem(params, PINNED_VERSION)


def _gateway_anthropic(line: bytes, number: int) -> str | None:
    """The gateway's translation of one inline Gemini request to Anthropic params, then Anthropic's checks."""
    sent = msgspec.json.decode(line)
    try:
        (item,) = inline_items({"requests": [{"request": sent["request"], "metadata": {"key": sent["key"]}}]})
        params = anthropic_params(0, CLAUDE, item.request)
    except GatewayError as err:
        return str(err)
    return _anthropic(msgspec.json.encode({"custom_id": item.custom_id, "params": params}), number)


def _bedrock(invocation_type: str, model: str) -> Refusal:
    def refusal(line: bytes, number: int) -> str | None:
        problem = record_problem(line)
        if problem is not None:
            return problem
        job = SimpleNamespace(job_id="fuzz", model=model, extra={"request": {"modelInvocationType": invocation_type}})
        out, usage = output_line(job, number, line)  # type: ignore[arg-type]
        return None if usage is not None else json.dumps(out.get("error"))

    return refusal


# --- the seeds ---------------------------------------------------------------------------------------------


def _gemini_seeds() -> list[dict[str, Any]]:
    return [{"key": "k", "request": copy.deepcopy(request)} for request in VALID_GENERATE.values()]


def _embed_seeds() -> list[dict[str, Any]]:
    plain: list[dict[str, Any]] = [
        {"content": {"parts": [{"text": "The sea is wide."}]}},
        {"model": "models/text-embedding-3-small", "content": {"parts": [{"text": "a"}]}, "outputDimensionality": 64},
    ]
    return [{"key": "k", "request": copy.deepcopy(request)} for request in (*VALID_EMBED.values(), *plain)]


OPENAI_MODEL = "gpt-4o-mini"
CLAUDE = "claude-sonnet-4-5"
BEDROCK_CLAUDE = "anthropic.claude-3-5-sonnet-20240620-v1:0"


def _openai_chat() -> list[dict[str, Any]]:
    body: dict[str, Any] = {
        "model": OPENAI_MODEL,
        "messages": [
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": [{"type": "text", "text": "Say hi."}]},
            {
                "role": "assistant",
                "content": "hi",
                "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "done"},
        ],
        "temperature": 0.5,
        "top_p": 0.9,
        "n": 1,
        "max_completion_tokens": 64,
        "stop": ["END"],
        "seed": 3,
        "presence_penalty": 0.1,
        "frequency_penalty": 0.1,
        "logprobs": True,
        "top_logprobs": 2,
        "response_format": {"type": "json_object"},
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        "tool_choice": "auto",
        "metadata": {"a": "b"},
        "reasoning_effort": "low",
        "service_tier": "auto",
    }
    plain = {"model": OPENAI_MODEL, "messages": [{"role": "user", "content": "Say hi."}]}
    return [
        {"custom_id": "k", "method": "POST", "url": "/v1/chat/completions", "body": body},
        {"custom_id": "k", "method": "POST", "url": "/v1/chat/completions", "body": plain},
    ]


def _openai_responses() -> list[dict[str, Any]]:
    bodies: list[dict[str, Any]] = [
        {"model": OPENAI_MODEL, "input": "Say hi.", "instructions": "Be terse.", "max_output_tokens": 64},
        {
            "model": OPENAI_MODEL,
            "input": [{"role": "user", "content": [{"type": "input_text", "text": "Say hi."}]}],
            "temperature": 0.3,
        },
    ]
    return [{"custom_id": "k", "method": "POST", "url": "/v1/responses", "body": body} for body in bodies]


def _openai_embeddings() -> list[dict[str, Any]]:
    bodies: list[dict[str, Any]] = [
        {"model": "text-embedding-3-small", "input": "Say hi."},
        {"model": "text-embedding-3-small", "input": ["a", "b"], "dimensions": 64, "encoding_format": "float"},
        {"model": "text-embedding-3-small", "input": [[1, 2, 3]], "user": "u"},
    ]
    return [{"custom_id": "k", "method": "POST", "url": "/v1/embeddings", "body": body} for body in bodies]


def _anthropic_native() -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"model": CLAUDE, "max_tokens": 64, "messages": [{"role": "user", "content": "Say hi."}]},
        {
            "model": CLAUDE,
            "max_tokens": 64,
            "system": [{"type": "text", "text": "Be terse."}],
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "Weather?"}]},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "w", "input": {}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "sun"}]},
            ],
            "temperature": 0.5,
            "top_k": 5,
            "stop_sequences": ["END"],
            "tools": [{"name": "w", "description": "weather", "input_schema": {"type": "object"}}],
            "tool_choice": {"type": "auto"},
            "metadata": {"user_id": "u"},
        },
    ]
    return [{"custom_id": "k", "params": one} for one in params]


def _bedrock_invoke() -> list[dict[str, Any]]:
    inputs: list[dict[str, Any]] = [
        {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 64,
            "messages": [{"role": "user", "content": "Say hi."}],
        },
        {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 64,
            "system": "Be terse.",
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "hi"}]},
                {"role": "assistant", "content": "hello"},
                {"role": "user", "content": "again"},
            ],
            "temperature": 0.2,
            "stop_sequences": ["END"],
        },
    ]
    return [{"recordId": "k", "modelInput": one} for one in inputs]


def _bedrock_converse() -> list[dict[str, Any]]:
    inputs: list[dict[str, Any]] = [
        {"messages": [{"role": "user", "content": [{"text": "Say hi."}]}]},
        {
            "messages": [
                {"role": "user", "content": [{"text": "hi"}]},
                {"role": "assistant", "content": [{"text": "hello"}]},
                {"role": "user", "content": [{"text": "again"}]},
            ],
            "system": [{"text": "Be terse."}],
            "inferenceConfig": {"maxTokens": 64, "temperature": 0.2, "topP": 0.9, "stopSequences": ["END"]},
        },
    ]
    return [{"recordId": "k", "modelInput": one} for one in inputs]


@dataclass(frozen=True)
class Target:
    """One format sent to one provider: the dialect and model it is prepared with, its seeds, where its key is,
    and the emulator's check of what is sent."""

    name: str
    dialect: Dialect
    model: str
    seeds: Callable[[], list[dict[str, Any]]]
    key_field: str
    refusal: Refusal
    embeddings: bool = False


TARGETS: dict[str, Target] = {
    target.name: target
    for target in (
        Target("gemini", GeminiDialect(), "gemini-2.5-flash", _gemini_seeds, "key", _gemini),
        Target("gemini-embed", GeminiDialect(), "gemini-embedding-001", _embed_seeds, "key", _gemini_embed, True),
        Target("vertex", VertexDialect(), "gemini-2.5-flash", _gemini_seeds, "key", _vertex),
        Target(
            "openai-chat",
            OpenAIDialect(),
            OPENAI_MODEL,
            _openai_chat,
            "custom_id",
            _openai("/v1/chat/completions", "generate"),
        ),
        Target(
            "openai-responses",
            OpenAIDialect(),
            OPENAI_MODEL,
            _openai_responses,
            "custom_id",
            _openai("/v1/responses", "generate"),
        ),
        Target(
            "openai-embeddings",
            OpenAIDialect(),
            "text-embedding-3-small",
            _openai_embeddings,
            "custom_id",
            _openai("/v1/embeddings", "embed"),
            True,
        ),
        Target("anthropic", AnthropicDialect(), CLAUDE, _anthropic_native, "custom_id", _anthropic),
        Target(
            "bedrock-invoke",
            BedrockDialect(),
            BEDROCK_CLAUDE,
            _bedrock_invoke,
            "recordId",
            _bedrock("InvokeModel", BEDROCK_CLAUDE),
        ),
        Target(
            "bedrock-converse",
            BedrockDialect(invocation_type="Converse"),
            BEDROCK_CLAUDE,
            _bedrock_converse,
            "recordId",
            _bedrock("Converse", BEDROCK_CLAUDE),
        ),
        Target(
            "gemini-to-openai",
            OpenAIDialect(),
            OPENAI_MODEL,
            _gemini_seeds,
            "key",
            _openai("/v1/chat/completions", "generate"),
        ),
        Target(
            "gemini-to-openai-embeddings",
            OpenAIDialect(),
            "text-embedding-3-small",
            _embed_seeds,
            "key",
            _openai("/v1/embeddings", "embed"),
            True,
        ),
        Target("gemini-to-anthropic", AnthropicDialect(), CLAUDE, _gemini_seeds, "key", _anthropic),
        Target("gateway-gemini", target_dialect("gemini"), "gemini-2.5-flash", _gemini_seeds, "key", _gemini),
        Target(
            "gateway-openai",
            target_dialect("openai"),
            OPENAI_MODEL,
            _openai_chat,
            "custom_id",
            _openai("/v1/chat/completions", "generate"),
        ),
        Target("gateway-anthropic", target_dialect("anthropic"), CLAUDE, _gemini_seeds, "key", _gateway_anthropic),
        Target(
            "gemini-to-bedrock",
            BedrockDialect(),
            BEDROCK_CLAUDE,
            _gemini_seeds,
            "key",
            _bedrock("InvokeModel", BEDROCK_CLAUDE),
        ),
        Target(
            "gemini-to-converse",
            BedrockDialect(invocation_type="Converse"),
            BEDROCK_CLAUDE,
            _gemini_seeds,
            "key",
            _bedrock("Converse", BEDROCK_CLAUDE),
        ),
    )
}


# --- the run -----------------------------------------------------------------------------------------------


@dataclass
class Finding:
    """A line the pass got wrong: its text, what was edited, and why it is wrong."""

    number: int
    text: bytes
    edited: list[Path_]
    problem: str


@dataclass
class Report:
    """What a run judged: how many lines were refused and accepted, and the lines it got wrong."""

    refused: int = 0
    accepted: int = 0
    findings: list[Finding] = field(default_factory=list)


def taken_seeds(target: Target) -> list[dict[str, Any]]:
    """``target``'s seeds that it takes as they are (a Gemini-only request is no seed for a translation)."""
    seeds = target.seeds()
    copies = [seeds[index % len(seeds)] for index in range(max(len(seeds), 100))]  # Bedrock's least batch
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch, "seeds.jsonl")
        path.write_bytes(
            b"".join(
                dumps({**seed, target.key_field: f"s{index}"}).encode() + b"\n" for index, seed in enumerate(copies)
            )
        )
        prepared = prepare_input(
            str(path), target.dialect, model=target.model, embeddings=target.embeddings, collect_errors=10**6
        )
        prepared.cleanup()
    refused = {error.line for error in prepared.errors}
    return [seed for number, seed in enumerate(seeds, start=1) if number not in refused]


def fuzzed_lines(target: Target, count: int, seed: int) -> Iterator[tuple[bytes, list[Path_]]]:
    """``count`` lines of ``target``'s seeds, each with up to four edits (the first of each seed with none)."""
    rng = random.Random(f"{seed}:{target.name}")
    seeds = taken_seeds(target)
    for index in range(count):
        line = copy.deepcopy(seeds[index % len(seeds)])
        line[target.key_field] = f"k{index}"
        edited = []
        for _ in range(rng.choice(EDITS) if index >= len(seeds) else 0):
            path = edit(line, rng, frozenset({target.key_field}))
            if path is not None:
                edited.append(path)
            line[target.key_field] = f"k{index}"  # each line keeps a key of its own, wherever a member was put
        yield line_text(line), edited


def run(target: Target, count: int, seed: int, scratch: Path) -> Report:
    """Prepare ``count`` fuzzed lines for ``target`` as a dry run does, and judge each line."""
    lines = list(fuzzed_lines(target, count, seed))
    path = scratch / f"{target.name}.jsonl"
    path.write_bytes(b"".join(text + b"\n" for text, _ in lines))
    prepared = prepare_input(
        str(path), target.dialect, model=target.model, embeddings=target.embeddings, collect_errors=10**9
    )
    report = Report()
    try:
        refused: dict[int, InputValidationError] = {}
        for error in prepared.errors:
            if error.line is None:
                continue
            refused[error.line] = error
        sent: list[bytes] = []
        for part in prepared.parts:
            if part.inline is not None:
                sent.extend(msgspec.json.encode(request) for request in part.inline)
            else:
                with part.open_upload() as stream:
                    sent.extend(stream.read().splitlines())
        accepted = [number for number in range(1, len(lines) + 1) if number not in refused]
        assert len(accepted) == len(sent), (len(accepted), len(sent))
        report.refused, report.accepted = len(refused), len(accepted)
        for number, error in refused.items():
            text, edited = lines[number - 1]
            problem = _naming_problem(error, path.name, number, edited, text)
            if problem is not None:
                report.findings.append(Finding(number, text, edited, problem))
        for position, (number, out) in enumerate(zip(accepted, sent, strict=True), start=1):
            text, edited = lines[number - 1]
            try:
                problem = target.refusal(out, position)
            except Exception as err:  # the emulator could not even answer it
                problem = f"the emulator failed: {type(err).__name__}: {err}"
            if problem is not None:
                report.findings.append(Finding(number, text, edited, f"sent {out[:600]!r}, emulator: {problem}"))
    finally:
        prepared.cleanup()
    return report


def _members(value: Any) -> set[str]:
    """The names of every object member in ``value``, at any depth, but the line's key."""
    names: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            names.update(name for name in item if name not in ("key", "custom_id", "recordId"))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return names


WHOLE_LINE_REASONS = ("invalid JSON: ", "JSON nested too deeply", "unrecognised line: ")
"""Errors about the line as a whole, which name its byte or its shape rather than a field."""


def _naming_problem(
    error: InputValidationError, source: str, number: int, edited: list[Path_], text: bytes
) -> str | None:
    """Why an error does not name the line and a field on an edited path, or None."""
    message = str(error)
    if error.line != number or source not in message:
        return f"error not for line {number} of {source}: {message}"
    if any(reason in message for reason in WHOLE_LINE_REASONS):
        return None
    names = {str(step) for path in edited for step in path if isinstance(step, str)}
    names |= {f"[{step}]" for path in edited for step in path if isinstance(step, int)}
    if not edited or any(name in message for name in names):
        return None
    if any(name in message for name in _members(json.loads(text))):  # a rule tying the edited field to another
        return None
    return f"error names no field ({sorted(names)}): {message}"
