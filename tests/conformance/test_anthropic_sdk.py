"""The official anthropic SDK driven against the emulator: proof that it speaks the Message Batches wire format.

Assertions are on what the SDK parsed: MessageBatch, its request counts and datetimes, and the
MessageBatchIndividualResponse objects its results() iterator yields. The raw result lines are also
validated strictly with the SDK's pydantic types.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import anthropic
import httpx
import pytest
from anthropic.types.messages import (
    DeletedMessageBatch,
    MessageBatch,
    MessageBatchIndividualResponse,
)

from airflow_provider_genai_batch.testing.emulator import FAIL_MARKER, EmulatorServer

MODEL = "claude-sonnet-4-5"


@pytest.fixture
def client(emulator: EmulatorServer) -> Iterator[anthropic.Anthropic]:
    """An Anthropic client on the emulator's /anthropic base URL (no retries: errors must surface)."""
    sdk = anthropic.Anthropic(
        api_key=emulator.config_at_start.api_key, base_url=f"{emulator.base_url}/anthropic", max_retries=0
    )
    yield sdk
    sdk.close()


def request(custom_id: str, text: str, **params: Any) -> dict[str, Any]:
    """One batch request."""
    return {
        "custom_id": custom_id,
        "params": {"model": MODEL, "max_tokens": 256, "messages": [{"role": "user", "content": text}], **params},
    }


def wait_ended(client: anthropic.Anthropic, batch_id: str, timeout: float = 15.0) -> MessageBatch:
    """Poll through the SDK until the batch has ended."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = client.messages.batches.retrieve(batch_id)
        if batch.processing_status == "ended":
            return batch
        time.sleep(0.05)
    raise AssertionError(f"{batch_id} not ended within {timeout} s")


def test_create_sends_bearer_auth_and_the_sdk_version(client: anthropic.Anthropic, emulator: EmulatorServer) -> None:
    batch = client.messages.batches.create(requests=[request("a", "hi")])
    assert isinstance(batch, MessageBatch)
    assert batch.id.startswith("msgbatch_")
    assert batch.processing_status == "in_progress"
    assert batch.request_counts.processing == 1
    assert batch.request_counts.succeeded == 0
    assert batch.results_url is None and batch.ended_at is None and batch.cancel_initiated_at is None
    assert batch.expires_at - batch.created_at == timedelta(hours=24)
    (logged,) = [r for r in emulator.requests() if r["method"] == "POST"]
    assert logged["headers"]["authorization"] == f"Bearer {emulator.config_at_start.api_key}"
    assert logged["headers"]["anthropic-version"] == anthropic._constants.ANTHROPIC_API_VERSION
    assert logged["json"] == {"requests": [request("a", "hi")]}


def test_results_iterator_yields_parsed_results(client: anthropic.Anthropic) -> None:
    requests = [request(f"q{i}", f"question {i}") for i in range(6)]
    requests.append(request("bad", f"no {FAIL_MARKER}"))
    batch = client.messages.batches.create(requests=requests)
    ended = wait_ended(client, batch.id)
    counts = ended.request_counts
    assert (counts.processing, counts.succeeded, counts.errored, counts.canceled, counts.expired) == (0, 6, 1, 0, 0)
    assert ended.ended_at is not None and ended.results_url is not None
    results = list(client.messages.batches.results(batch.id))
    assert all(isinstance(item, MessageBatchIndividualResponse) for item in results)
    assert [item.custom_id for item in results] != [r["custom_id"] for r in requests]
    by_id = {item.custom_id: item.result for item in results}
    for i in range(6):
        result = by_id[f"q{i}"]
        assert result.type == "succeeded"
        assert result.message.content[0].type == "text"
        assert result.message.content[0].text == f"Answer to: question {i}"
        assert result.message.stop_reason == "end_turn"
        assert result.message.model == MODEL
        assert result.message.usage.output_tokens == 4
    bad = by_id["bad"]
    assert bad.type == "errored"
    assert bad.error.type == "error"
    assert bad.error.error.type == "invalid_request_error"
    assert FAIL_MARKER in bad.error.error.message
    assert bad.error.request_id is not None


def test_raw_result_lines_validate_strictly(client: anthropic.Anthropic, emulator: EmulatorServer) -> None:
    ended = wait_ended(
        client, client.messages.batches.create(requests=[request("a", "x"), request("b", FAIL_MARKER)]).id
    )
    assert ended.results_url is not None
    headers = {"x-api-key": emulator.config_at_start.api_key or "", "anthropic-version": "2023-06-01"}
    raw = httpx.get(ended.results_url, headers=headers)
    assert raw.status_code == 200
    parsed = [MessageBatchIndividualResponse.model_validate(json.loads(line)) for line in raw.text.splitlines()]
    assert sorted(item.result.type for item in parsed) == ["errored", "succeeded"]


def test_results_before_the_end_raise_in_the_sdk(client: anthropic.Anthropic, emulator: EmulatorServer) -> None:
    emulator.config(pending_seconds=5)
    batch = client.messages.batches.create(requests=[request("a", "x")])
    with pytest.raises(anthropic.AnthropicError, match="results_url"):
        client.messages.batches.results(batch.id)


def test_list_auto_paginates_newest_first(client: anthropic.Anthropic, emulator: EmulatorServer) -> None:
    ids = [client.messages.batches.create(requests=[request("a", "x")]).id for _ in range(5)]
    page = client.messages.batches.list(limit=2)
    assert [b.id for b in page.data] == [ids[4], ids[3]]
    assert page.has_more is True and page.first_id == ids[4] and page.last_id == ids[3]
    assert [b.id for b in client.messages.batches.list(limit=2)] == list(reversed(ids))
    queries = [r["query"] for r in emulator.requests() if r["method"] == "GET"]
    assert any("after_id=" in q for q in queries)
    newer = client.messages.batches.list(limit=2, before_id=ids[0])
    assert [b.id for b in newer.data] == [ids[2], ids[1]]


def test_cancel_then_ended_with_canceled_results(client: anthropic.Anthropic, emulator: EmulatorServer) -> None:
    emulator.config(pending_seconds=5)
    batch = client.messages.batches.create(requests=[request(f"r{i}", "x") for i in range(3)])
    canceling = client.messages.batches.cancel(batch.id)
    assert canceling.processing_status == "canceling"
    assert canceling.cancel_initiated_at is not None
    ended = wait_ended(client, batch.id)
    assert ended.request_counts.canceled == 3
    assert ended.cancel_initiated_at == canceling.cancel_initiated_at
    assert [item.result.type for item in client.messages.batches.results(batch.id)] == ["canceled"] * 3


def test_delete_only_after_the_end(client: anthropic.Anthropic) -> None:
    batch = client.messages.batches.create(requests=[request("a", "x")])
    with pytest.raises(anthropic.BadRequestError):
        client.messages.batches.delete(batch.id)
    wait_ended(client, batch.id)
    deleted = client.messages.batches.delete(batch.id)
    assert isinstance(deleted, DeletedMessageBatch)
    assert deleted.id == batch.id and deleted.type == "message_batch_deleted"
    with pytest.raises(anthropic.NotFoundError) as info:
        client.messages.batches.retrieve(batch.id)
    assert info.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]


def test_expiry_yields_expired_results(client: anthropic.Anthropic, emulator: EmulatorServer) -> None:
    emulator.config(job_outcome="expire")
    batch = client.messages.batches.create(requests=[request(f"r{i}", "x") for i in range(4)])
    ended = wait_ended(client, batch.id)
    assert (ended.request_counts.succeeded, ended.request_counts.expired) == (2, 2)
    types = sorted(item.result.type for item in client.messages.batches.results(batch.id))
    assert types == ["expired", "expired", "succeeded", "succeeded"]


def test_bad_requests_raise_typed_errors(client: anthropic.Anthropic, emulator: EmulatorServer) -> None:
    with pytest.raises(anthropic.BadRequestError) as info:
        client.messages.batches.create(requests=[request("not valid!", "x")])
    assert info.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]
    wrong = anthropic.Anthropic(api_key="wrong", base_url=f"{emulator.base_url}/anthropic", max_retries=0)
    with wrong as sdk, pytest.raises(anthropic.AuthenticationError):
        sdk.messages.batches.list()


async def test_async_client_creates_and_reads_results(emulator: EmulatorServer) -> None:
    async with anthropic.AsyncAnthropic(
        api_key=emulator.config_at_start.api_key, base_url=f"{emulator.base_url}/anthropic", max_retries=0
    ) as sdk:
        batch = await sdk.messages.batches.create(requests=[request("a", "hello")])
        deadline = time.monotonic() + 15
        while (await sdk.messages.batches.retrieve(batch.id)).processing_status != "ended":
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        texts = [item.result.message.content[0].text async for item in await sdk.messages.batches.results(batch.id)]  # type: ignore[union-attr]
        assert texts == ["Answer to: hello"]


def test_beta_batches_with_a_known_beta_work_and_an_unknown_one_is_refused(client: anthropic.Anthropic) -> None:
    batch = client.messages.batches.create(requests=[request("a", "x")])
    listed = client.beta.messages.batches.list(betas=["message-batches-2024-09-24"])
    assert [item.id for item in listed.data] == [batch.id]
    with pytest.raises(anthropic.BadRequestError) as info:
        client.beta.messages.batches.list(betas=["no-such-beta-2020-01-01"])
    assert info.value.type == "invalid_request_error"
    assert info.value.api_message is not None
    assert "`no-such-beta-2020-01-01`" in info.value.api_message


def test_a_system_turn_the_sdk_types_allow_succeeds(client: anthropic.Anthropic) -> None:
    messages: list[Any] = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}]
    batch = client.messages.batches.create(
        requests=[{"custom_id": "s", "params": {"model": MODEL, "max_tokens": 16, "messages": messages}}]
    )
    wait_ended(client, batch.id)
    [item] = list(client.messages.batches.results(batch.id))
    assert item.result.type == "succeeded"
