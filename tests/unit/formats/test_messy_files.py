"""Messy input files: what a file's bytes hold around its requests changes nothing sent, and loses nothing written.

A seeded fuzz over files of the benchmark's typical lines and the unit tests' request corpus, each file written
with some of what editors, exports and joins leave: a byte-order mark at the start or in the middle, CRLF or lone
CR line endings, blank and whitespace-only lines in the middle and at the end, no final newline, trailing garbage,
a NUL byte, bytes that are not UTF-8, a line cut short. For every target, with the typed fast path and without it:
the same fingerprint, keys, sent bytes and errors; every error names its line; each line that is not messed up is
sent, and the requests sent from the messy file are those sent from the same lines written cleanly; and every text
and every generation setting of a line sent in another format is found in what is sent.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
import pytest

from airflow_provider_genai_batch import inputs
from airflow_provider_genai_batch.errors import InputValidationError
from airflow_provider_genai_batch.formats.anthropic import AnthropicDialect
from airflow_provider_genai_batch.formats.bedrock import BedrockDialect
from airflow_provider_genai_batch.formats.dialect import Dialect
from airflow_provider_genai_batch.formats.gateway import target_dialect
from airflow_provider_genai_batch.formats.gemini import GeminiDialect
from airflow_provider_genai_batch.formats.openai import OpenAIDialect
from airflow_provider_genai_batch.inputs import prepare_input
from benchmarks.validation_throughput import typical_request

from .gemini_requests import VALID_GENERATE

SEED = 20261202
FILES = 3
LINES = 110
"""Lines per file: over Bedrock's least batch of 100, with some refused."""

CLAUDE = "anthropic.claude-3-5-sonnet-20240620-v1:0"
TARGETS: dict[str, tuple[Dialect, str]] = {
    "gemini": (GeminiDialect(), "gemini-2.5-flash"),
    "openai": (OpenAIDialect(), "gpt-4o-mini"),
    "anthropic": (AnthropicDialect(), "claude-sonnet-4-5"),
    "bedrock": (BedrockDialect(), CLAUDE),
    "bedrock-converse": (BedrockDialect(invocation_type="Converse"), CLAUDE),
    "gateway-anthropic": (target_dialect("anthropic"), "claude-sonnet-4-5"),
}
TRANSLATED = {"openai", "anthropic", "bedrock", "bedrock-converse"}

LINE_ENDINGS = [b"\n", b"\r\n", b"\r"]
"""One to a file, in turn."""
BROKEN = [
    lambda line: b"\xef\xbb\xbf" + line,  # a BOM in the middle: files joined
    lambda line: line + b" x",  # trailing garbage
    lambda line: line + b",",  # the lines of an array without its brackets
    lambda line: line.replace(b'"text": "', b'"text": "\x00', 1),  # a raw NUL byte
    lambda line: line.replace(b'"text": "', b'"text": "\xff', 1),  # not UTF-8
    lambda line: line[: len(line) // 2],  # cut short
    lambda line: line + line,  # a line break lost
]
"""What breaks a line: each is refused on its line."""
BLANK = [b"", b"   ", b"\t", b" \t "]


def _requests() -> list[dict[str, Any]]:
    chosen = ("plain_text_without_role", "chat_turns", "system_and_all_sampling")
    return [typical_request(index) for index in range(4)] + [copy.deepcopy(VALID_GENERATE[name]) for name in chosen]


def _line(key: str, request: dict[str, Any]) -> bytes:
    return json.dumps({"key": key, "request": request}, ensure_ascii=False).encode()


@dataclass
class MessyFile:
    """A messy file; its requests' lines written cleanly, the broken ones left out; where each of them is in the
    messy file; and the lines of the messy file that are broken."""

    text: bytes
    clean: list[bytes] = field(default_factory=list)
    numbers: list[int] = field(default_factory=list)
    broken: set[int] = field(default_factory=set)


def _messy_file(rng: random.Random, end: bytes) -> MessyFile:
    requests = _requests()
    physical: list[bytes] = []
    messy = MessyFile(b"")
    for index in range(LINES):
        if rng.random() < 0.05:
            physical.append(rng.choice(BLANK))
        line = _line(f"k{index}", requests[index % len(requests)])
        if rng.random() < 0.06:
            physical.append(rng.choice(BROKEN)(line))
            messy.broken.add(len(physical))
        else:
            physical.append(line)
            messy.clean.append(line)
            messy.numbers.append(len(physical))
    text = end.join(physical)
    text = (b"\xef\xbb\xbf" if rng.random() < 0.5 else b"") + text
    messy.text = text + rng.choice([b"", end, end * 3, end + b"  " + end])
    return messy


def _files() -> Iterator[MessyFile]:
    rng = random.Random(SEED)
    for index in range(FILES):
        yield _messy_file(rng, LINE_ENDINGS[index % len(LINE_ENDINGS)])


FILES_ = list(_files())


class _Never:
    """The fast path switched off: no line is certified."""

    def __init__(self, reader: Any) -> None:
        pass

    def check(self, line: dict[str, Any]) -> bool:
        return False

    def certified(self, line: dict[str, Any]) -> bool:
        return False


def _prepared(path: Path, dialect: Dialect, model: str) -> Any:
    """Fingerprint, keys, sent lines and errors of preparing ``path`` as a dry run does, or the error raised."""
    try:
        prepared = prepare_input(str(path), dialect, model=model, embeddings=False, collect_errors=LINES)
    except InputValidationError as err:
        return str(err)
    try:
        sent: list[bytes] = []
        for part in prepared.parts:
            if part.inline is not None:
                sent.extend(msgspec.json.encode(request) for request in part.inline)
            else:
                with part.open_upload() as stream:
                    sent.extend(line for line in stream.read().splitlines() if line.strip())
        errors = [(error.line, error.reason) for error in prepared.errors]
        return prepared.fingerprint, list(prepared.iter_keys()), sent, errors
    finally:
        prepared.cleanup()


def _texts_and_settings(request: dict[str, Any]) -> Iterator[Any]:
    """Every text of a request's turns and system instruction, and every generation setting's value."""
    for content in [*request.get("contents", []), request.get("systemInstruction", {})]:
        for part in content.get("parts", []):
            if "text" in part:
                yield part["text"]
    for value in request.get("generationConfig", {}).values():
        yield from value if isinstance(value, list) else [value]


def _found(value: Any, sent: Any) -> bool:
    """Whether ``value`` is in ``sent`` as it was written: a text within a text, a number as a number."""
    if isinstance(sent, dict):
        return any(_found(value, item) for item in sent.values())
    if isinstance(sent, list):
        return any(_found(value, item) for item in sent)
    if isinstance(value, str):
        return isinstance(sent, str) and value in sent
    return (type(sent) is type(value) and sent == value) or (isinstance(sent, float) and sent == value)


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_a_messy_file_sends_what_its_clean_lines_send_with_the_fast_path_on_and_off(
    target: str, tmp_path: Path, spool_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dialect, model = TARGETS[target]
    messy, clean_path = tmp_path / "messy.jsonl", tmp_path / "clean.jsonl"
    for messy_file in FILES_:
        messy.write_bytes(messy_file.text)
        clean_path.write_bytes(b"".join(line + b"\n" for line in messy_file.clean))
        fast = _prepared(messy, dialect, model)
        with monkeypatch.context() as off:
            off.setattr(inputs, "CommonLines", _Never)
            off.setattr(inputs, "common_translator", lambda dialect, model: None)
            assert _prepared(messy, dialect, model) == fast
        expected = _prepared(clean_path, dialect, model)
        assert isinstance(fast, tuple) and isinstance(expected, tuple), (fast, expected)
        _, keys, sent, errors = fast
        # what is not broken is sent as from a clean file (which may go as it is, not written compactly)
        assert (keys, [json.loads(line) for line in sent]) == (expected[1], [json.loads(line) for line in expected[2]])
        # each broken line is refused on its line; any other refusal is of a line the clean file refuses too
        refused_clean = {line for line, _ in expected[3] if line is not None}
        refused = {messy_file.numbers[line - 1] for line in refused_clean}
        assert {line for line, _ in errors if line is not None} == messy_file.broken | refused
        assert [(line, reason) for line, reason in errors if line not in messy_file.broken] == [
            (messy_file.numbers[line - 1] if line is not None else None, reason) for line, reason in expected[3]
        ]
        if target in TRANSLATED:
            kept = [line for number, line in enumerate(messy_file.clean, start=1) if number not in refused_clean]
            for line, out in zip(kept, sent, strict=True):
                request, body = json.loads(line)["request"], json.loads(out)
                lost = [value for value in _texts_and_settings(request) if not _found(value, body)]
                assert not lost, (lost, out)
