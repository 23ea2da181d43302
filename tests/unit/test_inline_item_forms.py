"""Inline requests are sent as their JSON, whatever Python types hold it, and a value or key with no JSON form is
refused by its item.

A seeded differential: the same inline requests (the benchmark's typical lines, the request corpus of the unit tests,
SDK-style items), once written with plain dicts, lists, strings and numbers, and once with the other Python forms
of the same JSON that applications hand over (an ``OrderedDict`` or ``defaultdict``, a dict or list of a class of
its own, a tuple, a ``StrEnum`` or ``IntEnum`` member, a str, int or float subclass), prepare for every target to the
same fingerprint, the same sent bytes and the same errors. And a seeded fuzz: the same requests, one in three with
an odd value put in place of one of its values, or an odd key added to one of its dicts (None, bytes, a Decimal, a
NaN, a lone surrogate, a set, an object, ...), prepare with every problem an input error naming its item.
"""

from __future__ import annotations

import copy
import enum
import random
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec
import pytest

from airflow_provider_genai_batch.errors import InputValidationError
from airflow_provider_genai_batch.formats.anthropic import AnthropicDialect
from airflow_provider_genai_batch.formats.bedrock import BedrockDialect
from airflow_provider_genai_batch.formats.dialect import Dialect
from airflow_provider_genai_batch.formats.gateway import target_dialect
from airflow_provider_genai_batch.formats.gemini import GeminiDialect
from airflow_provider_genai_batch.formats.openai import OpenAIDialect
from airflow_provider_genai_batch.formats.vertex import VertexDialect
from airflow_provider_genai_batch.inputs import prepare_input
from benchmarks.validation_throughput import typical_request

from .formats.gemini_requests import VALID_GENERATE

SEED = 20261202
ITEMS = 120
"""Requests per input: over Bedrock's least batch of 100."""

CLAUDE = "anthropic.claude-3-5-sonnet-20240620-v1:0"
TARGETS: dict[str, tuple[Dialect, str]] = {
    "gemini": (GeminiDialect(), "gemini-2.5-flash"),
    "vertex": (VertexDialect(), "gemini-2.5-flash"),
    "openai": (OpenAIDialect(), "gpt-4o-mini"),
    "anthropic": (AnthropicDialect(), "claude-sonnet-4-5"),
    "bedrock": (BedrockDialect(), CLAUDE),
    "bedrock-converse": (BedrockDialect(invocation_type="Converse"), CLAUDE),
    "gateway-gemini": (target_dialect("gemini"), "gemini-2.5-flash"),
    "gateway-openai": (target_dialect("openai"), "gpt-4o-mini"),
    "gateway-anthropic": (target_dialect("anthropic"), "claude-sonnet-4-5"),
}

SDK_ITEMS: list[dict[str, Any]] = [
    {
        "contents": "Say hi.",
        "config": {"temperature": 0.5, "max_output_tokens": 64, "stop_sequences": ["END"], "top_p": 0.9},
    },
    {"contents": ["one", "two"], "config": {"system_instruction": "Be terse.", "response_modalities": ["TEXT"]}},
]


class Text(str):
    """Text of a class of its own."""

    __slots__ = ()


class Whole(int):
    """An integer of a class of its own."""


class Real(float):
    """A float of a class of its own."""


class Members(dict[str, Any]):
    """A dict of a class of its own."""


class Items(list[Any]):
    """A list of a class of its own."""


def _enum_member(value: str | int) -> enum.Enum:
    """``value`` as the member of an enum made for it, text or a number as ``value`` is."""
    kind: Any = enum.StrEnum if isinstance(value, str) else enum.IntEnum
    named: type[enum.Enum] = kind("Named", {"MEMBER": value})
    return named["MEMBER"]


def _disguised(value: Any, rng: random.Random, *, sdk_contents: bool = False) -> Any:
    """``value`` with some of its dicts, lists, strings and numbers given as other Python forms of the same JSON
    (not a tuple for an SDK item's ``contents``, which google-genai reads as one content, not as a list)."""
    if isinstance(value, dict):
        members = {
            name: _disguised(item, rng, sdk_contents=name == "contents" and "request" not in value)
            for name, item in value.items()
        }
        return rng.choice([members, members, OrderedDict(members), Members(members), defaultdict(list, members)])
    if isinstance(value, list):
        items = [_disguised(item, rng) for item in value]
        return rng.choice([items, items, Items(items), items if sdk_contents else tuple(items)])
    if type(value) is str:
        return rng.choice([value, value, Text(value), _enum_member(value)])
    if type(value) is int:
        return rng.choice([value, value, Whole(value), _enum_member(value)])
    if type(value) is float:
        return rng.choice([value, Real(value)])
    return value


def _plain_items(rng: random.Random) -> list[dict[str, Any]]:
    requests = [typical_request(index) for index in range(4)] + list(VALID_GENERATE.values())
    items: list[dict[str, Any]] = []
    for index in range(ITEMS):
        if rng.random() < 0.2:
            items.append({"key": f"k{index}", **copy.deepcopy(rng.choice(SDK_ITEMS))})
        else:
            items.append({"key": f"k{index}", "request": copy.deepcopy(rng.choice(requests))})
    return items


def _outcome(items: list[Any], dialect: Dialect, model: str) -> Any:
    """The fingerprint, sent bytes and errors of preparing ``items``, or the error that refused them all."""
    try:
        prepared = prepare_input(items, dialect, model=model, embeddings=False, collect_errors=ITEMS)
    except InputValidationError as err:
        return str(err)
    try:
        sent: list[bytes] = []
        for part in prepared.parts:
            if part.inline is not None:
                sent.extend(msgspec.json.encode(request) for request in part.inline)
            else:
                with part.open_upload() as stream:
                    sent.extend(stream.read().splitlines())
        return prepared.fingerprint, sent, [(error.line, error.reason) for error in prepared.errors]
    finally:
        prepared.cleanup()


def _inputs() -> Iterator[tuple[list[dict[str, Any]], list[Any]]]:
    rng = random.Random(SEED)
    for _ in range(3):
        plain = _plain_items(rng)
        yield plain, [_disguised(copy.deepcopy(item), rng) for item in plain]


INPUTS = list(_inputs())


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_inline_requests_in_other_python_forms_of_the_same_json_prepare_as_written_plainly(
    target: str, spool_dir: Path
) -> None:
    dialect, model = TARGETS[target]
    for plain, disguised in INPUTS:
        expected = _outcome(plain, dialect, model)
        assert isinstance(expected, tuple) and expected[1], expected  # requests were sent, not all refused
        assert _outcome(disguised, dialect, model) == expected


ODD_VALUES: list[Callable[[], Any]] = [
    lambda: None,
    lambda: b"x",
    lambda: Decimal("1.5"),
    lambda: float("nan"),
    lambda: "cut \ud83d",
    lambda: {1, 2},
    lambda: object(),
    lambda: date(2026, 1, 2),
    lambda: 2**80,
    lambda: "",
    lambda: {},
    lambda: [None],
    lambda: {None: 1},
    lambda: {b"k": 1},
    lambda: {1: 1, "1": 2},
    lambda: {"parts": None},
    lambda: 5,
]
ODD_KEYS: list[Any] = [None, 1, b"x", 2.5, True, (1,), "", "unknown"]


def _containers(value: Any) -> Iterator[Any]:
    """Every dict and list in ``value``, itself first."""
    if isinstance(value, (dict, list)):
        yield value
        for item in value.values() if isinstance(value, dict) else value:
            yield from _containers(item)


def _with_an_odd_value(item: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """``item`` with one odd value put in place of one of its values (not its key), or one odd key added to a dict."""
    holder = rng.choice([one for one in _containers(item) if one])
    if rng.random() < 0.3 and isinstance(holder, dict):
        holder[rng.choice(ODD_KEYS)] = rng.choice([1, "x", None, {}])
        return item
    places = [name for name in holder if name != "key"] if isinstance(holder, dict) else list(range(len(holder)))
    if places:
        holder[rng.choice(places)] = rng.choice(ODD_VALUES)()
    return item


def _odd_inputs() -> Iterator[list[dict[str, Any]]]:
    rng = random.Random(SEED + 1)
    for _ in range(3):
        yield [
            _with_an_odd_value(item, rng) if index % 3 == 1 else item for index, item in enumerate(_plain_items(rng))
        ]


ODD_INPUTS = list(_odd_inputs())
WHOLE_INPUT = ("requests, fewer than the",)
"""Errors about the input as a whole, which name no item."""


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_inline_requests_with_odd_values_and_keys_are_refused_by_their_item_never_raised(
    target: str, spool_dir: Path
) -> None:
    dialect, model = TARGETS[target]
    for items in ODD_INPUTS:
        outcome = _outcome(items, dialect, model)
        assert isinstance(outcome, tuple), outcome  # the odd items are refused one by one, not the whole input
        _, sent, errors = outcome
        assert sent
        for line, reason in errors:
            assert line is not None or any(whole in reason for whole in WHOLE_INPUT), reason
            assert "the request holds a value that is not JSON" not in reason  # the value is named by its path
