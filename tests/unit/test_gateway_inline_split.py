"""A list sent inline through a GenAI gateway to an OpenAI or Anthropic target, over the gateway's inline limit,
goes as several inline batches: each one a request body within the limit, every request in exactly one of them, in
input order.

The gateway's limit (``GATEWAY_BODY_BYTES``, 100 MB) is lowered here so that a dozen requests cross it.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_genai_batch.formats import gateway
from airflow_provider_genai_batch.formats.anthropic import AnthropicDialect
from airflow_provider_genai_batch.formats.openai import OpenAIDialect
from airflow_provider_genai_batch.inputs import prepare_input
from airflow_provider_genai_batch.operators.submit import GenAIBatchSubmitOperator
from airflow_provider_genai_batch.parts import SplitLimits
from airflow_provider_genai_batch.testing.emulator.history import InProcessEmulator
from tests.unit.pipeline.fakes import DictStateStore, FakeTI, make_context

LIMIT = 2_000
TARGETS = ("openai", "anthropic")
MODELS = {"openai": "gpt-4o-mini", "anthropic": "claude-sonnet-4-5"}
KEYS = [f"ticket-{i:02d}" for i in range(12)]


def request(key: str) -> dict[str, Any]:
    text = f"Summarise {key} in one sentence: my order has not arrived and nobody answers my emails."
    return {"key": key, "request": {"contents": [{"role": "user", "parts": [{"text": text}]}]}}


REQUESTS = [request(key) for key in KEYS]


@pytest.fixture
def small_gateway_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each target's inline limit through the gateway lowered to :data:`LIMIT` bytes."""
    for target in TARGETS:
        lowered = gateway.INLINE_LIMITS[target].model_copy(update={"max_inline_bytes": LIMIT})
        monkeypatch.setitem(gateway.INLINE_LIMITS, target, lowered)


@pytest.fixture(scope="module")
def emulator() -> Iterator[InProcessEmulator]:
    with InProcessEmulator(pending_seconds=0, running_seconds=0) as server:
        yield server


@pytest.fixture
def gateway_conn(emulator: InProcessEmulator, monkeypatch: pytest.MonkeyPatch) -> InProcessEmulator:
    """An emptied emulator with a gateway connection per target (``gateway_openai``, ``gateway_anthropic``)."""
    emulator.state.reset()
    for target in TARGETS:
        conn = {
            "conn_type": "genaigateway",
            "host": f"{emulator.base_url}/genai",
            "password": "k",
            "extra": {"model_provider": target, "retry_max_wait": 0.1},
        }
        monkeypatch.setenv(f"AIRFLOW_CONN_GATEWAY_{target.upper()}", json.dumps(conn))
    return emulator


def gateway_dialect(target: str) -> gateway.GatewayDialect:
    return gateway.GatewayDialect(OpenAIDialect() if target == "openai" else AnthropicDialect())


def line_bytes(line: dict[str, Any]) -> int:
    """A prepared line's size: compact JSON and its newline."""
    return len(json.dumps(line, separators=(",", ":")).encode()) + 1


def body_bytes(lines: list[dict[str, Any]]) -> int:
    """The most a create body carrying ``lines`` may take, as a part is held to the limit: each line as an
    inline request (its newline standing for the comma after it), and the envelope."""
    limits = gateway.INLINE_LIMITS["openai"]
    return sum(line_bytes(line) + limits.inline_request_overhead for line in lines) + limits.inline_envelope_bytes


def creates(emulator: InProcessEmulator) -> list[dict[str, Any]]:
    return [
        entry
        for entry in emulator.state.request_log
        if entry["path"].startswith("/genai/") and entry["path"].endswith(":batchGenerateContent")
    ]


@pytest.mark.parametrize("target", TARGETS)
def test_a_list_over_the_gateways_inline_limit_is_cut_into_inline_parts_within_it(target, small_gateway_limit):
    prepared = prepare_input(
        REQUESTS, gateway_dialect(target), model=MODELS[target], embeddings=False, split=SplitLimits()
    )

    sent = [list(part.inline or []) for part in prepared.parts]
    prepared.cleanup()
    assert len(sent) > 1
    assert all(part.inline is not None for part in prepared.parts)
    assert [part.byte_count for part in prepared.parts] == [sum(map(line_bytes, lines)) for lines in sent]
    assert all(body_bytes(lines) <= LIMIT for lines in sent)
    # A part is cut only where its next request would take its body over the limit.
    assert all(body_bytes([*lines, after[0]]) > LIMIT for lines, after in itertools.pairwise(sent))
    assert [line["key"] for lines in sent for line in lines] == KEYS
    assert [line["request"]["contents"] for lines in sent for line in lines] == [
        r["request"]["contents"] for r in REQUESTS
    ]


@pytest.mark.parametrize("target", TARGETS)
def test_a_list_over_the_gateways_inline_limit_is_submitted_as_several_inline_batches_each_request_once_in_order(
    target, small_gateway_limit, gateway_conn
):
    expected = prepare_input(
        REQUESTS, gateway_dialect(target), model=MODELS[target], embeddings=False, split=SplitLimits()
    )
    counts = [part.request_count for part in expected.parts]
    expected.cleanup()
    operator = GenAIBatchSubmitOperator(
        task_id="submit", conn_id=f"gateway_{target}", model=MODELS[target], input=REQUESTS, deferrable=False
    )

    ref = operator.execute(make_context(FakeTI(), store=DictStateStore()))

    bodies = [entry["json"]["batch"]["inputConfig"]["requests"]["requests"] for entry in creates(gateway_conn)]
    assert [len(body) for body in bodies] == counts
    assert len(bodies) > 1
    assert [item["metadata"]["key"] for body in bodies for item in body] == KEYS
    assert [item["request"]["contents"] for body in bodies for item in body] == [
        r["request"]["contents"] for r in REQUESTS
    ]
    assert [part["request_count"] for part in ref["parts"]] == counts
    assert len({part["job_name"] for part in ref["parts"]}) == len(counts)
    assert not [entry for entry in gateway_conn.state.request_log if "upload" in entry["path"]]


def test_each_inline_batch_through_the_gateway_is_a_request_body_within_its_limit(small_gateway_limit, gateway_conn):
    operator = GenAIBatchSubmitOperator(
        task_id="submit", conn_id="gateway_openai", model=MODELS["openai"], input=REQUESTS, deferrable=False
    )

    operator.execute(make_context(FakeTI(), store=DictStateStore()))

    body_sizes = [int(entry["headers"]["content-length"]) for entry in creates(gateway_conn)]
    assert len(body_sizes) > 1
    assert all(size <= LIMIT for size in body_sizes)
