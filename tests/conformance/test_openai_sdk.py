"""The official openai SDK driven against the emulator: proof that it speaks OpenAI's Files + Batch wire format.

Assertions are on what the SDK parsed. Output lines are validated with the SDK's own pydantic types
(`BatchRequestOutput` when the SDK has one, else the endpoint response types inside it).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from openai.types import Batch, Completion, CreateEmbeddingResponse, FileObject, ModerationCreateResponse
from openai.types.chat import ChatCompletion
from openai.types.responses import Response
from openai.types.shared import ErrorObject

from airflow_provider_genai_batch.testing.emulator import FAIL_MARKER, EmulatorServer

MODEL = "gpt-4o-mini"
CHAT = "/v1/chat/completions"
TERMINAL = ("completed", "failed", "expired", "cancelled")


@pytest.fixture
def client(emulator: EmulatorServer) -> Iterator[openai.OpenAI]:
    """An OpenAI client on the emulator's /openai/v1 base URL (no retries: errors must surface)."""
    sdk = openai.OpenAI(
        api_key=emulator.config_at_start.api_key, base_url=f"{emulator.base_url}/openai/v1", max_retries=0
    )
    yield sdk
    sdk.close()


def jsonl(rows: list[dict[str, Any]]) -> bytes:
    """Rows as JSONL bytes."""
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def chat_line(custom_id: str, text: str) -> dict[str, Any]:
    """One chat-completions input line."""
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": CHAT,
        "body": {"model": MODEL, "messages": [{"role": "user", "content": text}]},
    }


def upload(client: openai.OpenAI, rows: list[dict[str, Any]], name: str = "input.jsonl") -> FileObject:
    """Upload rows as a batch input file through the SDK."""
    return client.files.create(file=(name, jsonl(rows)), purpose="batch")


def wait_terminal(client: openai.OpenAI, batch_id: str, timeout: float = 15.0) -> Batch:
    """Poll through the SDK until the batch reaches a terminal status."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = client.batches.retrieve(batch_id)
        if batch.status in TERMINAL:
            return batch
        time.sleep(0.05)
    raise AssertionError(f"{batch_id} not terminal within {timeout} s")


def parse_output_line(line: str) -> tuple[str, int | None, dict[str, Any] | None, dict[str, Any] | None]:
    """Parse one output/error line; with the SDK's BatchRequestOutput type when it exists."""
    raw = json.loads(line)
    output_type = getattr(openai.types, "BatchRequestOutput", None)
    if output_type is not None:
        parsed = output_type.model_validate(raw)
        response = parsed.response
        return (
            parsed.custom_id,
            None if response is None else response.status_code,
            None if response is None else response.body,
            None if parsed.error is None else parsed.error.model_dump(),
        )
    assert set(raw) == {"id", "custom_id", "response", "error"}
    response = raw["response"]
    return (
        raw["custom_id"],
        None if response is None else response["status_code"],
        None if response is None else response["body"],
        raw["error"],
    )


def read_lines(client: openai.OpenAI, file_id: str) -> list[str]:
    """Download a file with files.content() and split it into lines."""
    return client.files.content(file_id).text.splitlines()


# Files


def test_files_create_retrieve_content_delete(client: openai.OpenAI) -> None:
    data = jsonl([chat_line("a", "hello")])
    created = client.files.create(file=("input.jsonl", data), purpose="batch")
    assert isinstance(created, FileObject)
    assert created.id.startswith("file-")
    assert created.bytes == len(data)
    assert created.filename == "input.jsonl"
    assert created.purpose == "batch"
    assert created.status == "processed"
    assert created.expires_at is not None and created.expires_at > created.created_at
    assert client.files.retrieve(created.id) == created
    assert client.files.content(created.id).read() == data
    deleted = client.files.delete(created.id)
    assert deleted.deleted is True and deleted.id == created.id and deleted.object == "file"
    with pytest.raises(openai.NotFoundError) as info:
        client.files.retrieve(created.id)
    assert info.value.status_code == 404


def test_files_create_with_expires_after(client: openai.OpenAI) -> None:
    created = client.files.create(
        file=("input.jsonl", b"{}\n"), purpose="batch", expires_after={"anchor": "created_at", "seconds": 7200}
    )
    assert created.expires_at is not None
    assert created.expires_at - created.created_at in (7200, 7201)


def test_streaming_content_is_read_line_by_line(client: openai.OpenAI) -> None:
    rows = [chat_line(f"r{i}", "x" * 500) for i in range(200)]
    created = upload(client, rows)
    with client.files.with_streaming_response.content(created.id) as response:
        assert response.http_request.headers["accept"] == "application/binary"
        got = [json.loads(line) for line in response.iter_lines() if line]
    assert got == rows


def test_files_list_auto_paginates_over_several_pages(client: openai.OpenAI, emulator: EmulatorServer) -> None:
    ids = [upload(client, [chat_line("a", "x")], name=f"f{i}.jsonl").id for i in range(5)]
    first_page = client.files.list(limit=2)
    assert [f.id for f in first_page.data] == [ids[4], ids[3]]
    assert first_page.has_next_page()
    listed = [f.id for f in client.files.list(limit=2)]
    assert listed == list(reversed(ids))
    pages = [r for r in emulator.requests() if r["method"] == "GET" and r["path"] == "/openai/v1/files"]
    assert len(pages) >= 4
    assert any("after=" in r["query"] for r in pages)
    assert [f.id for f in client.files.list(order="asc", purpose="batch")] == ids


def test_bad_purpose_is_a_bad_request(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as info:
        client.files.create(file=("input.jsonl", b"{}\n"), purpose="nonsense")  # type: ignore[arg-type]
    assert info.value.param == "purpose"
    assert info.value.code == "invalid_value"


def test_user_data_content_is_refused_and_batch_input_content_is_not(client: openai.OpenAI) -> None:
    notes = client.files.create(file=("notes.txt", b"private"), purpose="user_data")
    with pytest.raises(openai.BadRequestError) as info:
        client.files.content(notes.id)
    assert info.value.message.endswith("Not allowed to download files of purpose: user_data")
    batch_input = upload(client, [chat_line("a", "x")])
    assert client.files.content(batch_input.id).read() == jsonl([chat_line("a", "x")])


def test_partial_output_expires_after_is_a_bad_request(client: openai.OpenAI) -> None:
    file_id = upload(client, [chat_line("a", "x")]).id
    with pytest.raises(openai.BadRequestError) as info:
        client.batches.create(
            input_file_id=file_id,
            endpoint=CHAT,
            completion_window="24h",
            output_expires_after={"anchor": "created_at"},  # type: ignore[typeddict-item]
        )
    assert info.value.param == "output_expires_after.seconds"


def test_wrong_key_is_authentication_error(emulator: EmulatorServer) -> None:
    wrong = openai.OpenAI(api_key="wrong", base_url=f"{emulator.base_url}/openai/v1", max_retries=0)
    with wrong as sdk, pytest.raises(openai.AuthenticationError) as info:
        sdk.files.list()
    assert info.value.code == "invalid_api_key"


# Batches


def test_batch_lifecycle_and_results(client: openai.OpenAI) -> None:
    rows = [chat_line(f"q{i}", f"question {i}") for i in range(8)]
    rows.append(chat_line("bad", f"fail please {FAIL_MARKER}"))
    input_file = upload(client, rows)
    batch = client.batches.create(
        input_file_id=input_file.id, endpoint=CHAT, completion_window="24h", metadata={"owner": "tests"}
    )
    assert isinstance(batch, Batch)
    assert batch.status == "validating"
    assert batch.metadata == {"owner": "tests"}
    assert batch.input_file_id == input_file.id
    done = wait_terminal(client, batch.id)
    assert done.status == "completed"
    assert done.request_counts is not None
    assert (done.request_counts.total, done.request_counts.completed, done.request_counts.failed) == (9, 8, 1)
    assert done.errors is None
    assert done.model == MODEL
    assert done.usage is not None and done.usage.total_tokens == done.usage.input_tokens + done.usage.output_tokens
    assert done.in_progress_at is not None and done.finalizing_at is not None and done.completed_at is not None
    assert done.output_file_id is not None and done.error_file_id is not None
    output = [parse_output_line(line) for line in read_lines(client, done.output_file_id)]
    assert [custom_id for custom_id, *_ in output] != [row["custom_id"] for row in rows[:8]]
    answers = {}
    for custom_id, status, body, error in output:
        assert status == 200 and error is None and body is not None
        completion = ChatCompletion.model_validate(body)
        answers[custom_id] = completion.choices[0].message.content
        assert completion.usage is not None
    assert answers == {f"q{i}": f"Answer to: question {i}" for i in range(8)}
    (failure,) = [parse_output_line(line) for line in read_lines(client, done.error_file_id)]
    custom_id, status, body, error = failure
    assert (custom_id, status, error) == ("bad", 400, None)
    assert body is not None and body["error"]["type"] == "invalid_request_error"
    output_file = client.files.retrieve(done.output_file_id)
    assert output_file.purpose == "batch_output"


def test_embeddings_batch_bodies_parse_as_embedding_responses(client: openai.OpenAI) -> None:
    rows = [
        {
            "custom_id": f"e{i}",
            "method": "POST",
            "url": "/v1/embeddings",
            "body": {"model": "text-embedding-3-small", "input": f"text {i}", "dimensions": 16},
        }
        for i in range(3)
    ]
    batch = client.batches.create(
        input_file_id=upload(client, rows).id, endpoint="/v1/embeddings", completion_window="24h"
    )
    done = wait_terminal(client, batch.id)
    assert done.status == "completed"
    assert done.output_file_id is not None
    for line in read_lines(client, done.output_file_id):
        _, status, body, _ = parse_output_line(line)
        assert status == 200
        response = CreateEmbeddingResponse.model_validate(body)
        assert len(response.data[0].embedding) == 16
        assert response.usage.prompt_tokens == 2


def test_responses_batch_bodies_parse_as_responses(client: openai.OpenAI) -> None:
    row = {"custom_id": "r", "method": "POST", "url": "/v1/responses", "body": {"model": MODEL, "input": "hi you"}}
    batch = client.batches.create(
        input_file_id=upload(client, [row]).id, endpoint="/v1/responses", completion_window="24h"
    )
    done = wait_terminal(client, batch.id)
    assert done.output_file_id is not None
    (line,) = read_lines(client, done.output_file_id)
    response = Response.model_validate(parse_output_line(line)[2])
    assert response.output_text == "Answer to: hi you"
    assert response.usage is not None and response.usage.total_tokens == 6


def test_completions_batch_bodies_parse_as_completions(client: openai.OpenAI) -> None:
    row = {"custom_id": "c", "method": "POST", "url": "/v1/completions", "body": {"model": MODEL, "prompt": "hi"}}
    batch = client.batches.create(
        input_file_id=upload(client, [row]).id, endpoint="/v1/completions", completion_window="24h"
    )
    done = wait_terminal(client, batch.id)
    assert done.output_file_id is not None
    (line,) = read_lines(client, done.output_file_id)
    completion = Completion.model_validate(parse_output_line(line)[2])
    assert [choice.text for choice in completion.choices] == ["Answer to: hi"]


def test_moderations_batch_bodies_parse_as_moderation_responses(client: openai.OpenAI) -> None:
    row = {"custom_id": "m", "method": "POST", "url": "/v1/moderations", "body": {"input": ["a", "b"]}}
    batch = client.batches.create(
        input_file_id=upload(client, [row]).id, endpoint="/v1/moderations", completion_window="24h"
    )
    done = wait_terminal(client, batch.id)
    assert done.output_file_id is not None
    (line,) = read_lines(client, done.output_file_id)
    moderation = ModerationCreateResponse.model_validate(parse_output_line(line)[2])
    assert [result.flagged for result in moderation.results] == [False, False]
    assert moderation.results[0].categories.self_harm_intent is False


def test_invalid_input_fails_with_parsed_errors(client: openai.OpenAI) -> None:
    rows = [chat_line("a", "x"), {**chat_line("b", "y"), "url": "/v1/embeddings"}, chat_line("a", "z")]
    batch = client.batches.create(input_file_id=upload(client, rows).id, endpoint=CHAT, completion_window="24h")
    failed = wait_terminal(client, batch.id)
    assert failed.status == "failed"
    assert failed.errors is not None and failed.errors.data is not None
    assert [(e.code, e.line, e.param) for e in failed.errors.data] == [
        ("url_mismatch", 2, "url"),
        ("duplicate_custom_id", 3, "custom_id"),
    ]
    assert failed.failed_at is not None
    assert failed.output_file_id is None


def test_batches_list_auto_paginates(client: openai.OpenAI) -> None:
    file_id = upload(client, [chat_line("a", "x")]).id
    ids = [client.batches.create(input_file_id=file_id, endpoint=CHAT, completion_window="24h").id for _ in range(5)]
    page = client.batches.list(limit=2)
    assert len(page.data) == 2 and page.has_next_page()
    assert [b.id for b in client.batches.list(limit=2)] == list(reversed(ids))


def test_cancel_goes_cancelling_then_cancelled(client: openai.OpenAI, emulator: EmulatorServer) -> None:
    emulator.config(pending_seconds=5)
    batch = client.batches.create(
        input_file_id=upload(client, [chat_line(f"r{i}", "x") for i in range(3)]).id,
        endpoint=CHAT,
        completion_window="24h",
    )
    cancelling = client.batches.cancel(batch.id)
    assert cancelling.status == "cancelling"
    assert cancelling.cancelling_at is not None
    cancelled = wait_terminal(client, batch.id)
    assert cancelled.status == "cancelled"
    assert cancelled.cancelled_at is not None
    assert cancelled.request_counts is not None and cancelled.request_counts.completed == 0
    assert cancelled.error_file_id is not None
    errors = [parse_output_line(line)[3] for line in read_lines(client, cancelled.error_file_id)]
    assert [error["code"] for error in errors if error] == ["batch_cancelled"] * 3


def test_expired_batch_reports_batch_expired_lines(client: openai.OpenAI, emulator: EmulatorServer) -> None:
    emulator.config(job_outcome="expire")
    batch = client.batches.create(
        input_file_id=upload(client, [chat_line(f"r{i}", "x") for i in range(4)]).id,
        endpoint=CHAT,
        completion_window="24h",
    )
    expired = wait_terminal(client, batch.id)
    assert expired.status == "expired"
    assert expired.expired_at is not None
    assert expired.request_counts is not None and expired.request_counts.completed == 2
    assert expired.error_file_id is not None
    codes = [parse_output_line(line)[3]["code"] for line in read_lines(client, expired.error_file_id)]  # type: ignore[index]
    assert codes == ["batch_expired"] * 2


def run_chat_batch(client: openai.OpenAI, rows: list[dict[str, Any]]) -> Batch:
    """Upload rows, create a chat batch over them and wait until it ends."""
    batch = client.batches.create(input_file_id=upload(client, rows).id, endpoint=CHAT, completion_window="24h")
    return wait_terminal(client, batch.id)


def error_rows(client: openai.OpenAI, batch: Batch) -> dict[str, tuple[int | None, ErrorObject]]:
    """custom_id -> (HTTP status, the error the SDK parsed from the body) for each row of the error file."""
    if batch.error_file_id is None:
        return {}
    rows = {}
    for custom_id, status, body, error in map(parse_output_line, read_lines(client, batch.error_file_id)):
        assert error is None and body is not None
        rows[custom_id] = (status, ErrorObject.model_validate(body["error"]))
    return rows


def test_retryable_share_fails_rows_once_with_a_server_error_and_invalid_rows_every_time(
    client: openai.OpenAI, emulator: EmulatorServer
) -> None:
    emulator.config(openai_retryable_row_share=0.5)
    rows = [chat_line(f"q{i}", f"question {i}") for i in range(20)]
    rows.append(chat_line("bad", f"refuse me {FAIL_MARKER}"))

    first = run_chat_batch(client, rows)

    assert first.status == "completed"
    errors = error_rows(client, first)
    retryable = {custom_id for custom_id, (status, _) in errors.items() if status == 500}
    assert 0 < len(retryable) < 20
    assert first.request_counts is not None and first.request_counts.failed == len(retryable) + 1
    for custom_id in retryable:
        assert errors[custom_id][1].type == "server_error"
    status, invalid = errors["bad"]
    assert (status, invalid.type) == (400, "invalid_request_error")

    second = run_chat_batch(client, [row for row in rows if row["custom_id"] in retryable | {"bad"}])

    assert second.request_counts is not None
    assert (second.request_counts.completed, second.request_counts.failed) == (len(retryable), 1)
    assert {custom_id: status for custom_id, (status, _) in error_rows(client, second).items()} == {"bad": 400}
    assert second.output_file_id is not None
    answered = {parse_output_line(line)[0] for line in read_lines(client, second.output_file_id)}
    assert answered == retryable


def test_the_share_is_chosen_by_custom_id_so_a_reset_emulator_fails_the_same_rows(
    client: openai.OpenAI, emulator: EmulatorServer
) -> None:
    rows = [chat_line(f"q{i}", f"question {i}") for i in range(20)]
    failed = []
    for _ in range(2):
        emulator.reset()
        emulator.config(openai_retryable_row_share=0.5)
        failed.append(set(error_rows(client, run_chat_batch(client, rows))))

    assert failed[0] == failed[1]


def test_bad_metadata_and_unknown_batch_raise_typed_errors(client: openai.OpenAI) -> None:
    file_id = upload(client, [chat_line("a", "x")]).id
    with pytest.raises(openai.BadRequestError) as info:
        client.batches.create(
            input_file_id=file_id, endpoint=CHAT, completion_window="24h", metadata={f"k{i}": "v" for i in range(17)}
        )
    assert info.value.param == "metadata"
    with pytest.raises(openai.NotFoundError):
        client.batches.retrieve("batch_doesnotexist")


async def test_async_client_reads_batches_and_files(emulator: EmulatorServer) -> None:
    async with openai.AsyncOpenAI(
        api_key=emulator.config_at_start.api_key, base_url=f"{emulator.base_url}/openai/v1", max_retries=0
    ) as sdk:
        created = await sdk.files.create(file=("input.jsonl", jsonl([chat_line("a", "hi")])), purpose="batch")
        batch = await sdk.batches.create(input_file_id=created.id, endpoint=CHAT, completion_window="24h")
        seen = [b.id async for b in sdk.batches.list(limit=1)]
        assert seen == [batch.id]
        content = await sdk.files.content(created.id)
        assert content.read() == jsonl([chat_line("a", "hi")])


@pytest.mark.parametrize(
    ("endpoint", "body", "field"),
    [
        ("/v1/embeddings", {"model": "text-embedding-3-small", "input": "hi", "encoding": "float"}, "encoding"),
        ("/v1/completions", {"model": MODEL, "prompt": "hi", "max_output_tokens": 5}, "max_output_tokens"),
        ("/v1/moderations", {"input": "hi", "dimensions": 8}, "dimensions"),
    ],
)
def test_a_request_with_an_argument_its_endpoint_does_not_take_fails_alone_with_a_400(
    client: openai.OpenAI, endpoint: str, body: dict[str, Any], field: str
) -> None:
    rows = [
        {"custom_id": "bad", "method": "POST", "url": endpoint, "body": body},
        {"custom_id": "good", "method": "POST", "url": endpoint, "body": {k: v for k, v in body.items() if k != field}},
    ]
    batch = client.batches.create(input_file_id=upload(client, rows).id, endpoint=endpoint, completion_window="24h")
    done = wait_terminal(client, batch.id)
    assert done.request_counts is not None
    assert (done.request_counts.completed, done.request_counts.failed) == (1, 1)
    assert done.error_file_id is not None
    (line,) = read_lines(client, done.error_file_id)
    custom_id, status, answer, error = parse_output_line(line)
    assert (custom_id, status, error) == ("bad", 400, None)
    assert answer is not None
    assert answer["error"]["message"] == f"Unrecognized request argument supplied: {field}"
