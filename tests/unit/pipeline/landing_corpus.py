"""A generated corpus of provider result files, and what landing makes of each: digests of the landed files.

Seeds are result lines of every provider's format (successes with text, thoughts and usage, embeddings, failed,
errored, cancelled and expired rows, keyless rows, text with escapes and non-ASCII, numbers in every spelling,
lines spaced as Python's ``json.dumps`` writes them, lines that cannot be read); each seed also comes with up to
three random edits at random places (a field dropped, set to null or to a value of another type, a field added),
so the dialects' row readers meet shapes they do not expect. :func:`outcomes` lands every provider's file twice,
in input order (streamed) and reversed (the join), through the hook's row reader and ``land_results`` with the
usage tally observing, so two versions of the code can be compared file by file.
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from airflow_provider_genai_batch.formats import anthropic, bedrock, gateway, gemini, openai, vertex
from airflow_provider_genai_batch.formats.keys import portable_id
from airflow_provider_genai_batch.formats.results import KeyOf, ReadRow, iter_result_rows, key_field
from airflow_provider_genai_batch.job_ref import BatchJobRef
from airflow_provider_genai_batch.landing import MANIFEST_FILE, land_results, output_dir
from airflow_provider_genai_batch.models import BatchJob, JobState
from airflow_provider_genai_batch.usage import UsageTally

SEED = 20261201
EDITED = 12
"""Randomly edited copies of every seed."""
ORDERS = ("streamed", "in-order", "reversed")

TEXT = 'line one\nline "two"\t\\ tab — déjà vu ✓ \U0001f600 </tag> \x07'
KEY_FIELDS = frozenset({"key", "custom_id", "recordId", "metadata", "instance"})
"""Fields (and fields holding them) the random edits leave alone, so an edited row still answers its key."""
_ODD_VALUES: tuple[Any, ...] = (None, "", "x", 0, 1.5, -0.0, True, [], {}, [None], [{}], {"text": 1}, [1, "a"])


@dataclass(frozen=True)
class Case:
    """One provider's result format: its seeds (by the provider id they answer), row reader, key reader, ids."""

    name: str
    provider: str
    read: ReadRow
    key_of: KeyOf
    provider_key: Callable[[str], str]
    seeds: Callable[[str], list[dict[str, Any]]]


def _gemini_response(text: str) -> dict[str, Any]:
    return {
        "candidates": [
            {
                "content": {"parts": [{"text": "thinking…", "thought": True}, {"text": text}], "role": "model"},
                "finishReason": "STOP",
                "avgLogprobs": -0.125,
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 12,
            "candidatesTokenCount": 7,
            "thoughtsTokenCount": 3,
            "cachedContentTokenCount": 2,
            "totalTokenCount": 22,
        },
        "modelVersion": "gemini-2.5-flash",
    }


def _gemini(key: str) -> list[dict[str, Any]]:
    single = {"candidates": [{"content": {"parts": [{"text": TEXT}]}}], "usageMetadata": {"promptTokenCount": 4}}
    return [
        {"key": key, "response": _gemini_response(TEXT)},
        {"key": key, "response": single},
        {"metadata": {"key": key}, "response": {"candidates": [{"finishReason": "SAFETY"}]}},
        {"key": key, "response": {"promptFeedback": {"blockReason": "OTHER"}}},
        {"key": key, "response": {"embedding": {"values": [0.25, -1.5, 3, 1e-07]}}},
        {"key": key, "response": {"embeddings": [{"values": [0.5, 2]}, {"values": [1]}]}},
        {"key": key, "error": {"code": 400, "message": "Invalid argument", "status": "INVALID_ARGUMENT"}},
        {"key": key, "status": {"code": 8, "message": "quota"}},
        {"key": key, "error": "plain text error"},
        {"key": key, "response": {}},
    ]


def _openai(key: str) -> list[dict[str, Any]]:
    chat = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": TEXT}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": 9,
            "completion_tokens": 4,
            "total_tokens": 13,
            "prompt_tokens_details": {"cached_tokens": 2},
            "completion_tokens_details": {"reasoning_tokens": 1},
        },
    }
    responses = {
        "object": "response",
        "output": [{"type": "message", "content": [{"type": "output_text", "text": TEXT}, {"type": "refusal"}]}],
        "usage": {"input_tokens": 5, "output_tokens": 6, "total_tokens": 11},
    }
    embedding = {"object": "list", "data": [{"embedding": [0.1, -0.2, 3e-05]}], "usage": {"prompt_tokens": 3}}
    packed = {"data": [{"embedding": "AACAPwAAAEAAAEBA"}], "usage": {"prompt_tokens": 3, "total_tokens": 3}}

    def ok(body: dict[str, Any], status: int = 200) -> dict[str, Any]:
        return {"id": "batch_req_1", "custom_id": key, "response": {"status_code": status, "body": body}, "error": None}

    return [
        ok(chat),
        ok(responses),
        ok(embedding),
        ok(packed),
        ok({"choices": [{"text": "legacy completion"}]}),
        ok({"error": {"message": "bad model", "type": "invalid_request_error", "code": "model_not_found"}}, 400),
        {"custom_id": key, "response": None, "error": {"code": "batch_expired", "message": "expired"}},
        {"custom_id": key, "response": None, "error": {"code": "batch_cancelled", "message": "cancelled"}},
        {"custom_id": key, "response": {"status_code": 500}, "error": None},
        {"custom_id": key, "error": "a string"},
    ]


def _anthropic_message(text: str) -> dict[str, Any]:
    return {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "content": [{"type": "thinking", "thinking": "…"}, {"type": "text", "text": text}, {"type": "tool_use"}],
        "usage": {
            "input_tokens": 10,
            "cache_creation_input_tokens": 2,
            "cache_read_input_tokens": 3,
            "output_tokens": 5,
        },
    }


def _anthropic(key: str) -> list[dict[str, Any]]:
    return [
        {"custom_id": key, "result": {"type": "succeeded", "message": _anthropic_message(TEXT)}},
        {"custom_id": key, "result": {"type": "succeeded", "message": {"content": []}}},
        {
            "custom_id": key,
            "result": {"type": "errored", "error": {"error": {"type": "overloaded", "message": "busy"}}},
        },
        {"custom_id": key, "result": {"type": "canceled"}},
        {"custom_id": key, "result": {"type": "expired"}},
        {"custom_id": key, "result": {"type": "mystery"}},
    ]


def _bedrock(key: str) -> list[dict[str, Any]]:
    converse = {
        "output": {"message": {"role": "assistant", "content": [{"text": TEXT}, {"toolUse": {}}]}},
        "usage": {"inputTokens": 8, "outputTokens": 3, "totalTokens": 11},
        "stopReason": "end_turn",
    }
    return [
        {"recordId": key, "modelInput": {"messages": []}, "modelOutput": _anthropic_message(TEXT)},
        {"recordId": key, "modelInput": {}, "modelOutput": converse},
        {"recordId": key, "modelOutput": {"embedding": [0.5, 1.25]}},
        {"recordId": key, "error": {"errorCode": 400, "errorMessage": "Malformed input"}},
        {"recordId": key, "error": "throttled"},
        {"recordId": key, "modelOutput": "not an object"},
    ]


def _gateway_openai(key: str) -> list[dict[str, Any]]:
    return _openai(key)


def _gateway_anthropic(key: str) -> list[dict[str, Any]]:
    return [
        {"custom_id": key, "result": {"type": "succeeded", "message": _anthropic_message(TEXT)}},
        {"custom_id": key, "result": {"type": "errored"}, "error": {"code": "overloaded", "message": "busy"}},
        {"custom_id": key, "error": {"message": "no result"}},
        {"custom_id": key, "result": {"type": "canceled"}},
    ]


def _gateway_gemini(key: str) -> list[dict[str, Any]]:
    body = {"text": TEXT, "finish_reason": "STOP", "usage": {"prompt_tokens": 3, "completion_tokens": 4}}
    return [
        {"custom_id": key, "response": {"status_code": 200, "body": body}},
        {"custom_id": key, "response": {"status_code": 429, "body": {}}},
        {"custom_id": key, "error": {"message": "lost", "code": "internal"}},
        {"custom_id": key, "response": {}},
    ]


def _vertex(key: str) -> list[dict[str, Any]]:
    prediction = {"embeddings": {"values": [0.5, -0.25, 1], "statistics": {"token_count": 4, "truncated": False}}}
    return [
        {"key": key, "request": {"contents": []}, "response": _gemini_response(TEXT), "status": ""},
        {"key": key, "response": json.dumps(_gemini_response("as a JSON cell")), "status": ""},
        {"instance": {"key": key, "content": "text"}, "predictions": [prediction], "status": ""},
        {"instance": {"key": key}, "predictions": json.dumps([prediction]), "status": ""},
        {"instance": {"key": key}, "predictions": [{"embeddings": {}}], "status": ""},
        {"key": key, "status": "Bad request: unsupported field"},
        {"key": key, "status": {"code": 3, "message": "invalid", "status": "INVALID_ARGUMENT"}},
        {"key": key, "status": ""},
    ]


def _gateway(target: str) -> ReadRow:
    return lambda line: gateway.result_row(line, target)


CASES = (
    Case("gemini", "gemini", gemini.result_row, key_field("key", "metadata.key"), str, _gemini),
    Case("openai", "openai", openai.result_row, key_field("custom_id"), portable_id, _openai),
    Case("anthropic", "anthropic", anthropic.result_row, key_field("custom_id"), portable_id, _anthropic),
    Case("bedrock", "bedrock", bedrock.result_row, key_field("recordId"), bedrock.record_id, _bedrock),
    Case("gateway-openai", "gateway", _gateway("openai"), key_field("custom_id"), portable_id, _gateway_openai),
    Case(
        "gateway-anthropic", "gateway", _gateway("anthropic"), key_field("custom_id"), portable_id, _gateway_anthropic
    ),
    Case("gateway-gemini", "gateway", _gateway("gemini"), key_field("custom_id"), str, _gateway_gemini),
    Case("vertex", "vertex", vertex.result_row, key_field("key", "instance.key"), str, _vertex),
)


def edited(item: Any, rng: random.Random, values: Sequence[Any] = _ODD_VALUES) -> Any:
    """``item`` with one random edit at a random place (never a key field): a field dropped, set to one of
    ``values``, or one added holding one."""
    item = copy.deepcopy(item)
    places: list[tuple[Any, Any]] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for name in value:
                places.append((value, name))
                walk(value[name])
        elif isinstance(value, list):
            for index, element in enumerate(value):
                places.append((value, index))
                walk(element)

    walk(item)
    places = [(container, name) for container, name in places if name not in KEY_FIELDS]
    if not places:
        return item
    container, name = rng.choice(places)
    edit = rng.randrange(3)
    if edit == 0 and isinstance(container, dict):
        del container[name]
    elif edit == 1 and isinstance(container, dict):
        container[f"extra_{rng.randrange(100)}"] = copy.deepcopy(rng.choice(values))
    else:
        container[name] = copy.deepcopy(rng.choice(values))
    return item


def _spelled(item: Any, rng: random.Random) -> bytes:
    """One line: compact, or spaced as ``json.dumps`` writes it, ASCII-escaped or not, ``/`` escaped or not."""
    spaced = rng.random() < 0.5
    text = json.dumps(item, ensure_ascii=rng.random() < 0.5, separators=(", ", ": ") if spaced else (",", ":"))
    if rng.random() < 0.2:
        text = text.replace("/", "\\/")
    return text.encode()


_ODD_LINES = (
    b"{broken",
    b"[1, 2]",
    b'"just a string"',
    b"\xff\xfe not utf-8",
    b"",
    b"   ",
    b'{"key": 42, "custom_id": 42, "recordId": 42, "response": {}}',
    b'{"numbers": [1.0, 1e5, 1E-3, -0.0, -0, 0.1000000000000000055511, 12345678901234567890123]}',
    b"{" + b'"pad": "' + b"x" * 3000 + b'"',
)


def corpus(case: Case) -> tuple[list[str], list[bytes], int]:
    """The input keys and the provider's result lines for ``case``, and how many lines answer the keys in order:
    each seed and edited copy answering its own key (one key, the last, never), then a key answered twice, a
    line answering no input key, one without a key, and the odd lines that cannot be read."""
    rng = random.Random(f"{SEED}-{case.name}")
    keys: list[str] = []
    lines: list[bytes] = [b"\xef\xbb\xbf" + _spelled(case.seeds(case.provider_key("bom"))[0], rng)]
    keys.append("bom")
    number = 0
    for seed in range(len(case.seeds("x"))):
        for copy_number in range(EDITED + 1):
            key = ("doc/" if number % 4 == 1 else "req-") + f"{number}.{'é' if number % 7 == 3 else ''}txt"
            number += 1
            keys.append(key)
            item = case.seeds(case.provider_key(key))[seed]
            for _ in range(copy_number and rng.randrange(1, 4)):
                item = edited(item, rng)
            lines.append(_spelled(item, rng) + (b"\r\n" if rng.random() < 0.1 else b"\n"))
    keys.append("never-answered")
    streamed = len(lines)
    lines.append(lines[3])  # a key answered twice
    lines.append(_spelled(case.seeds("not-an-input-key")[0], rng))
    keyless = {name: value for name, value in case.seeds("gone")[0].items() if name not in {"key", "custom_id"}}
    lines.append(_spelled(keyless, rng))
    lines.extend(line + b"\n" for line in _ODD_LINES)
    return keys, lines, streamed


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def land_case(case: Case, order: str, base: Path) -> dict[str, str]:
    """Land ``case``'s file under ``base``: a digest of each landed file, the manifest's counts and the usage the
    tally summed. ``streamed``: only the lines answering keys in order (landed as they stream); ``in-order``: every
    line (streamed until the key answered twice, then the join); ``reversed``: every line, the first kept first
    (the join)."""
    keys, lines, streamed = corpus(case)
    if order == "streamed":
        lines = lines[:streamed]
    if order == "reversed":
        lines = [lines[0], *reversed(lines[1:])]
    base.mkdir(parents=True)
    keys_file = base / "input_keys.jsonl"
    keys_file.write_bytes(b"".join(json.dumps(key).encode() + b"\n" for key in keys))
    ref = BatchJobRef(
        provider=case.provider, conn_id="corpus", job_name="job-1", request_count=len(keys), keys_uri=str(keys_file)
    )
    job = BatchJob(name="job-1", provider=case.provider, state=JobState.SUCCEEDED, provider_state="SUCCEEDED")
    tally = UsageTally(case.provider)
    out = output_dir(str(base / "results"))
    rows = iter_result_rows(lines, "files/out", case.read, case.key_of)
    manifest = land_results(tally.counted(rows), job, ref, out, case.provider_key)
    landed = {path.name: _digest(path.read_bytes()) for path in out.iterdir() if path.name != MANIFEST_FILE}
    landed["counts"] = json.dumps(manifest.counts.model_dump(), sort_keys=True)
    landed["usage"] = json.dumps(tally.usage().model_dump(), sort_keys=True)
    return landed


def outcomes(base: Path) -> Iterator[str]:
    """One line per case, order and landed file: ``<case> <order> <file> <digest or figures>``."""
    for case in CASES:
        for order in ORDERS:
            landed = land_case(case, order, base / case.name / order)
            for name in sorted(landed):
                yield f"{case.name} {order} {name} {landed[name]}"


if __name__ == "__main__":
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as scratch:
        sys.stdout.write("".join(f"{line}\n" for line in outcomes(Path(scratch))))
