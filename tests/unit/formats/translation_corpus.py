"""A generated corpus of Gemini batch lines, valid and subtly invalid, and what every target makes of each.

Seeds are the request corpus of :mod:`.gemini_requests` (valid and refused requests of every kind); each line
is a seed with up to three random edits at random places: a field renamed to snake_case, given under both
spellings, set to null, an enum lowercased or numbered, a number as decimal text or out of range, a base64
value broken or made URL-safe, a field dropped, an unknown field added. :func:`outcomes` runs one line
through the schema check and every translation, as bytes or error text, so two versions of the code can be
compared line by line.
"""

from __future__ import annotations

import copy
import hashlib
import random
import re
from collections.abc import Callable, Iterator
from typing import Any

import msgspec

from airflow_provider_genai_batch.formats.anthropic import AnthropicDialect
from airflow_provider_genai_batch.formats.bedrock import BedrockDialect
from airflow_provider_genai_batch.formats.gemini_line import check_line
from airflow_provider_genai_batch.formats.openai import OpenAIDialect
from airflow_provider_genai_batch.formats.vertex import VertexDialect

from .gemini_requests import INVALID, VALID_EMBED, VALID_GENERATE

SEED = 20261201
LINES = 1500
_encode = msgspec.json.Encoder().encode
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")

TARGETS: dict[str, Callable[[dict[str, Any], bool], dict[str, Any]]] = {
    "openai": lambda line, embed: OpenAIDialect().to_native(line, model="gpt-4o-mini", embeddings=embed),
    "anthropic": lambda line, embed: AnthropicDialect().to_native(line, model="claude-sonnet-4-5", embeddings=embed),
    "bedrock": lambda line, embed: BedrockDialect().to_native(
        line, model="anthropic.claude-3-5-sonnet-20240620-v1:0", embeddings=embed
    ),
    "converse": lambda line, embed: BedrockDialect(invocation_type="Converse").to_native(
        line, model="anthropic.claude-3-5-sonnet-20240620-v1:0", embeddings=embed
    ),
    "vertex": lambda line, embed: VertexDialect().to_native(line, model="gemini-2.5-flash", embeddings=embed),
}
"""Every translation of a canonical line, by name: each takes the line and whether it is an embedding."""


_CALL = {"name": "lookup_order", "args": {"order_id": "A-1", "note": "déjà vu ✓", "count": 2, "ok": True}}
_EXTRA = (
    {
        "contents": [
            {"role": "user", "parts": [{"text": "Où est ma commande ? ✓"}]},
            {"role": "model", "parts": [{"text": "Je regarde."}, {"functionCall": _CALL}]},
            {
                "role": "user",
                "parts": [{"functionResponse": {"name": "lookup_order", "response": {"état": "perdu", "n": [1, 2.5]}}}],
            },
        ],
        "system_instruction": {"parts": [{"text": "Réponds en français."}, {"text": "Sois bref."}]},
        "generation_config": {"temperature": "0.5", "max_output_tokens": "64", "top_p": 0.9, "seed": 3},
        "tools": [{"function_declarations": [{"name": "lookup_order", "parameters": {"type": "OBJECT"}}]}],
        "tool_config": {"function_calling_config": {"mode": "ANY", "allowed_function_names": ["lookup_order"]}},
    },
)
"""Seeds beside the request corpus: non-ASCII text and arguments, and every name in snake_case."""


def _seeds() -> list[tuple[dict[str, Any], bool]]:
    seeds = [(request, False) for request in (*VALID_GENERATE.values(), *_EXTRA)]
    seeds += [(request, True) for request in VALID_EMBED.values()]
    seeds += [(bad.request, bad.embed) for bad in INVALID]
    return seeds


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def _places(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path to an object member or list item below ``value``."""
    if isinstance(value, dict):
        for name, item in value.items():
            yield (*path, name)
            yield from _places(item, (*path, name))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield (*path, index)
            yield from _places(item, (*path, index))


def _odd_value(value: Any, rng: random.Random) -> Any:
    """A value near ``value`` that the API may read differently or refuse."""
    if isinstance(value, bool):
        return rng.choice([not value, "true", 1])
    if isinstance(value, int):
        return rng.choice([str(value), -value - 1, 2**31, 2**63, float(value) + 0.5, f"{value}.0", None])
    if isinstance(value, float):
        return rng.choice([str(value), value * 100, -value - 1, 1e39, "NaN", "Infinity", int(value)])
    if isinstance(value, str):
        if value.isupper():
            return rng.choice([value.lower(), value.capitalize(), 0, 1, 99, ""])
        if len(value) >= 8 and _BASE64.fullmatch(value):
            return rng.choice([value + "=", value[:-1], value.replace("/", "_").replace("+", "-").rstrip("="), "!!"])
        return rng.choice(["", " ", value + "_", 5, None, [value], {"text": value}])
    if isinstance(value, list):
        return rng.choice([[], [None], value * 2, value[:1], {"0": value}])
    if isinstance(value, dict):
        return rng.choice([{}, [value], "text", None])
    return rng.choice([0, "", [], {}])


def _edit(request: dict[str, Any], rng: random.Random) -> None:
    places = list(_places(request))
    if not places:
        return
    *parents, last = rng.choice(places)
    holder: Any = request
    for step in parents:
        holder = holder[step]
    kind = rng.randrange(8)
    if isinstance(holder, list):
        if kind < 2:
            holder.insert(int(last), copy.deepcopy(holder[int(last)]))
        elif kind < 3:
            del holder[int(last)]
        else:
            holder[int(last)] = _odd_value(holder[int(last)], rng)
        return
    name = str(last)
    value = holder[name]
    if kind == 0 and _snake(name) != name:
        items = [(_snake(key) if key == name else key, item) for key, item in holder.items()]
        holder.clear()
        holder.update(items)
    elif kind == 1 and _snake(name) != name:
        holder[_snake(name)] = copy.deepcopy(value)
    elif kind == 2:
        holder[name] = None
    elif kind == 3:
        del holder[name]
    elif kind == 4:
        holder[rng.choice(["extra", "thought", "fileData", "role", "id", "nullable", "example"])] = rng.choice(
            [True, "x", None, {"mimeType": "image/png", "fileUri": "gs://b/o"}]
        )
    else:
        holder[name] = _odd_value(value, rng)


def lines(count: int = LINES, seed: int = SEED) -> Iterator[tuple[dict[str, Any], bool]]:
    """``count`` canonical lines and whether each is an embedding request, the same ones for the same seed."""
    rng = random.Random(seed)
    seeds = _seeds()
    for index in range(count):
        request, embed = seeds[index % len(seeds)]
        request = copy.deepcopy(request)
        for _ in range(rng.randrange(4) if index >= len(seeds) else 0):
            _edit(request, rng)
        yield {"key": f"k{index}", "request": request}, embed


def outcomes(line: dict[str, Any], embed: bool) -> dict[str, str]:
    """What the schema check and every target make of ``line``: ``ok`` or the error, and each translation's bytes
    or error (``ValueError: ...``)."""
    results: dict[str, str] = {}
    try:
        check_line(line, embeddings=embed)
        results["check"] = "ok"
    except ValueError as err:
        results["check"] = f"{type(err).__name__}: {err}"
    written = _encode(line)
    for name, translate in TARGETS.items():
        try:
            results[name] = _encode(translate(line, embed)).decode()
        except (ValueError, KeyError, TypeError, AttributeError, IndexError) as err:
            results[name] = f"{type(err).__name__}: {err}"
        if _encode(line) != written:
            results[name] += " (and the input line was changed)"
    return results


def digest(line: dict[str, Any], embed: bool) -> str:
    """A short digest of everything :func:`outcomes` says about ``line``, as the golden file keeps it."""
    return hashlib.sha256(_encode(outcomes(line, embed))).hexdigest()[:12]


if __name__ == "__main__":
    # The golden file, from the code whose outputs are the reference (unpacked with git archive, first on the path):
    # python -m tests.unit.formats.translation_corpus > tests/unit/formats/translation_golden.txt
    for line, embed in lines():
        print(digest(line, embed))
