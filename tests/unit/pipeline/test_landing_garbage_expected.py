"""Landing a provider's garbage against an expectation computed apart: every provider's result format (landing_corpus's
seeds) is written as a result file with, drawn at random (seeded) per input key, an answer, a failure, no line, two
lines (the same outcome, or a success and a failure in either order), a line cut inside a UTF-8 character or cut
short after its key, an answer whose usage holds a count that is no count or no usage at all, or whose text is of
another type; then lines for keys never submitted, an HTML page, blank lines, CRLF line ends, a BOM, a last line
without its line end. Input keys differ only by case, trailing whitespace or unicode normalisation, and most are
renamed by the provider (a hashed ``custom_id``). The lines are landed in order (streamed) and shuffled (the join on
disk), a few thousand rows, and 10,000+ for two formats. Each key must land with the status the draw gave it (a
success with its text), the unmatched and duplicate files must hold exactly the strays and the extra lines, and the
manifest's usage must be the sum of the counts written, the unreadable ones set aside."""

from __future__ import annotations

import copy
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_genai_batch.formats.results import UNPARSEABLE, iter_result_rows
from airflow_provider_genai_batch.job_ref import BatchJobRef
from airflow_provider_genai_batch.landing import DUPLICATES_FILE, RESULTS_FILE, UNMATCHED_FILE, land_results, output_dir
from airflow_provider_genai_batch.models import BatchJob, JobState, ResultsManifest
from airflow_provider_genai_batch.prices import shipped_table
from airflow_provider_genai_batch.usage import UsageTally, usage_and_cost

from .landing_corpus import CASES, TEXT, Case

ANSWER_USAGE = {
    "gemini": (12, 10),
    "vertex": (12, 10),
    "openai": (9, 4),
    "anthropic": (15, 5),
    "bedrock": (15, 5),
    "gateway-openai": (9, 4),
    "gateway-anthropic": (15, 5),
    "gateway-gemini": (3, 4),
}
"""Input and output tokens of each format's first seed (an answer with text), as the manifest's meanings count them:
Gemini's prompt, and candidates plus thoughts; Anthropic's input with its cache reads and writes."""
FAILURE_SEED = {
    "gemini": 6,
    "vertex": 6,
    "openai": 5,
    "anthropic": 2,
    "bedrock": 3,
    "gateway-openai": 5,
    "gateway-anthropic": 1,
    "gateway-gemini": 2,
}
"""The index of each format's seed for a failure the provider reported, with no usage."""
USAGE_FIELDS = frozenset({"usageMetadata", "usage"})
COUNT_FIELDS = frozenset({"promptTokenCount", "prompt_tokens", "input_tokens", "completion_tokens"})
NOT_COUNTS: tuple[Any, ...] = (-1, 1.5, "12", 2**64, True, [3], {"n": 3})
"""Counts that are no count: each makes a row's usage unreadable."""
KEY_SHAPES = ("k{}", "K{}", "k{} ", "\u00e9{}", "e\u0301{}", "doc/{}.txt", "x-{}_y")
"""Keys alike but for case, trailing whitespace or normalisation (NFC, NFD); most are hashed by the provider."""
SIZES = [(case.name, 600) for case in CASES] + [("gemini", 10_500), ("openai", 10_500)]


@dataclass
class Expected:
    """What landing must make of the drawn lines."""

    status: dict[str, str] = field(default_factory=dict)
    """By input key: ``succeeded``, ``failed``, ``unparseable`` (a failed row that could not be read) or ``missing``."""
    input_tokens: int = 0
    output_tokens: int = 0
    unreadable: int = 0
    duplicates: int = 0
    unmatched: int = 0


def _places(item: Any, names: frozenset[str]) -> list[tuple[dict[str, Any], str]]:
    """Every (object, field) in ``item`` whose field is one of ``names``."""
    found: list[tuple[dict[str, Any], str]] = []
    stack = [item]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            found += [(value, name) for name in value if name in names]
            stack += value.values()
        elif isinstance(value, list):
            stack += value
    return found


def _text_places(item: Any) -> list[tuple[Any, Any]]:
    """Every (container, index or field) holding the seeds' text."""
    found: list[tuple[Any, Any]] = []
    stack = [item]
    while stack:
        value = stack.pop()
        pairs = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for name, inner in pairs:
            if inner == TEXT:
                found.append((value, name))
            else:
                stack.append(inner)
    return found


def draw(case: Case, count: int, seed: int) -> tuple[list[str], list[bytes], Expected]:
    """Input keys, the provider's lines and what landing must make of them."""
    rng = random.Random(f"garbage-{seed}-{case.name}-{count}")
    keys = [rng.choice(KEY_SHAPES).format(number) for number in range(count)]
    expected = Expected()
    answered, failed = ANSWER_USAGE[case.name], (0, 0)
    lines: list[bytes] = []

    def line(item: Any) -> bytes:
        return json.dumps(item, ensure_ascii=rng.random() < 0.5).encode() + rng.choice((b"\n", b"\r\n"))

    def paid(tokens: tuple[int, int]) -> None:
        expected.input_tokens += tokens[0]
        expected.output_tokens += tokens[1]

    for key in keys:
        seeds = case.seeds(case.provider_key(key))
        answer, failure = seeds[0], seeds[FAILURE_SEED[case.name]]
        roll = rng.random()
        if roll < 0.4:
            lines.append(line(answer))
            expected.status[key] = "succeeded"
            paid(answered)
        elif roll < 0.52:
            lines.append(line(failure))
            expected.status[key] = "failed"
            paid(failed)
        elif roll < 0.6:
            expected.status[key] = "missing"
        elif roll < 0.7:
            pair = [answer, failure]
            rng.shuffle(pair)
            lines += map(line, pair)
            expected.status[key], expected.duplicates = "succeeded", expected.duplicates + 1
            paid(answered)
        elif roll < 0.75:
            lines += [line(answer), line(answer)]
            expected.status[key], expected.duplicates = "succeeded", expected.duplicates + 1
            paid(answered)
            paid(answered)
        elif roll < 0.8:
            raw = json.dumps(answer, ensure_ascii=False).encode()
            cut = raw.index("✓".encode()) + 1  # inside the three bytes of one character
            lines.append(raw[:cut] + raw[cut + 2 :] + b"\n")
            expected.status[key] = "unparseable"
        elif roll < 0.88:
            spoilt = copy.deepcopy(answer)
            target, name = rng.choice(_places(spoilt, COUNT_FIELDS))
            target[name] = rng.choice(NOT_COUNTS)
            lines.append(line(spoilt))
            expected.status[key], expected.unreadable = "succeeded", expected.unreadable + 1
        elif roll < 0.94:
            bare = copy.deepcopy(answer)
            for target, name in _places(bare, USAGE_FIELDS):
                del target[name]
            lines.append(line(bare))
            expected.status[key] = "succeeded"
        elif roll < 0.97:
            raw = json.dumps(answer).encode()
            after_key = raw.index(json.dumps(case.provider_key(key)).encode()) + len(json.dumps(case.provider_key(key)))
            lines.append(raw[: rng.randrange(after_key, len(raw) - 1)] + b"\n")
            expected.status[key] = "unparseable"
        else:
            mistyped = copy.deepcopy(answer)
            for target, name in _text_places(mistyped):
                target[name] = rng.choice((5, ["a"], {"text": "a"}))
            lines.append(line(mistyped))
            expected.status[key] = "unparseable"
    for number in range(5):
        lines.append(line(case.seeds(case.provider_key(f"never-submitted-{number}"))[0]))
        paid(answered)
    lines += [b"<html><body><h1>502 Bad Gateway</h1></body></html>\n", b"\n", b"  \r\n"]
    expected.unmatched = 6
    return keys, lines, expected


def land(case: Case, keys: list[str], lines: list[bytes], base: Path) -> tuple[ResultsManifest, Path]:
    """Land ``lines`` as the operator does: the row reader, the usage tally and ``land_results``."""
    keys_file = base / "input_keys.jsonl"
    keys_file.write_bytes(b"".join(json.dumps(key).encode() + b"\n" for key in keys))
    ref = BatchJobRef(
        provider=case.provider, conn_id="garbage", job_name="job-1", request_count=len(keys), keys_uri=str(keys_file)
    )
    job = BatchJob(name="job-1", provider=case.provider, state=JobState.SUCCEEDED, provider_state="SUCCEEDED")
    tally = UsageTally(case.provider)
    out = output_dir(str(base / "results"))
    rows = iter_result_rows(lines, "files/out", case.read, case.key_of)
    table = shipped_table()
    manifest = land_results(
        tally.counted(rows), job, ref, out, case.provider_key, account=lambda: usage_and_cost(job, tally, table)
    )
    return manifest, Path(str(out))


def landed(directory: Path, name: str) -> list[dict[str, Any]]:
    path = directory / name
    return [json.loads(text) for text in path.read_text().splitlines()] if path.exists() else []


def outcome(row: dict[str, Any]) -> str:
    unreadable = row["status"] == "failed" and (row.get("error") or {}).get("code") == UNPARSEABLE
    return "unparseable" if unreadable else row["status"]


CASE_BY_NAME = {case.name: case for case in CASES}


@pytest.mark.parametrize("order", ["in-order", "shuffled"])
@pytest.mark.parametrize(("name", "count"), SIZES, ids=[f"{name}-{count}" for name, count in SIZES])
def test_garbage_results_land_each_key_with_its_drawn_outcome_and_the_usage_written(
    name: str, count: int, order: str, tmp_path: Path
) -> None:
    case = CASE_BY_NAME[name]
    keys, lines, expected = draw(case, count, seed=1)
    if order == "shuffled":
        random.Random(count).shuffle(lines)
    lines[0] = b"\xef\xbb\xbf" + lines[0]
    lines[-1] = lines[-1].rstrip(b"\r\n")

    manifest, out = land(case, keys, lines, tmp_path)

    results = landed(out, RESULTS_FILE)
    assert [row["key"] for row in results] == keys
    assert {row["key"]: outcome(row) for row in results} == expected.status
    assert {row["text"] for row in results if row["status"] == "succeeded"} == {TEXT}
    counts = manifest.counts
    assert (counts.duplicates, len(landed(out, DUPLICATES_FILE))) == (expected.duplicates, expected.duplicates)
    assert (counts.unmatched, len(landed(out, UNMATCHED_FILE))) == (expected.unmatched, expected.unmatched)
    assert counts.total == len(keys)
    usage = manifest.usage
    assert usage is not None
    assert (usage.total.input_tokens, usage.total.output_tokens) == (expected.input_tokens, expected.output_tokens)
    assert usage.unreadable_rows == expected.unreadable
