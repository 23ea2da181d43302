"""Raw-HTTP tests of the Anthropic Message Batches emulator: the wire behaviour without any SDK in between."""

from __future__ import annotations

import io
import json
import re
import socket
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from airflow_provider_genai_batch.testing.emulator import FAIL_MARKER, EmulatorServer
from airflow_provider_genai_batch.testing.emulator.anthropic import JsonStream
from airflow_provider_genai_batch.testing.emulator.anthropic.validation import params_problem

API_KEY = "emulator-test-key"
VERSION = "2026-10-21"
AUTH = {"x-api-key": API_KEY, "anthropic-version": VERSION}
MODEL = "claude-sonnet-4-5"
BATCH_KEYS = {
    "id",
    "type",
    "processing_status",
    "request_counts",
    "ended_at",
    "created_at",
    "expires_at",
    "cancel_initiated_at",
    "archived_at",
    "results_url",
}
BASE58 = "[1-9A-HJ-NP-Za-km-z]"


@pytest.fixture
def http(emulator: EmulatorServer) -> Iterator[httpx.Client]:
    """A plain httpx client on the emulator's Anthropic base URL."""
    with httpx.Client(base_url=f"{emulator.base_url}/anthropic", timeout=60.0) as client:
        yield client


def request(custom_id: str, text: str, **params: Any) -> dict[str, Any]:
    """One batch request asking the model about text."""
    return {
        "custom_id": custom_id,
        "params": {"model": MODEL, "max_tokens": 256, "messages": [{"role": "user", "content": text}], **params},
    }


def create(http: httpx.Client, requests: list[dict[str, Any]], headers: dict[str, str] | None = None) -> dict:
    """Create a batch and return it."""
    response = http.post("/v1/messages/batches", headers=headers or AUTH, json={"requests": requests})
    assert response.status_code == 200, response.text
    return response.json()


def get(http: httpx.Client, batch_id: str) -> dict[str, Any]:
    """GET a batch."""
    response = http.get(f"/v1/messages/batches/{batch_id}", headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()


def wait_ended(http: httpx.Client, batch_id: str, timeout: float = 15.0) -> dict[str, Any]:
    """Poll a batch until it has ended, within a time bound."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = get(http, batch_id)
        if batch["processing_status"] == "ended":
            return batch
        time.sleep(0.05)
    raise AssertionError(f"{batch_id} did not end within {timeout} s")


def results(http: httpx.Client, batch: dict[str, Any]) -> list[dict[str, Any]]:
    """GET the results_url of an ended batch and parse its JSONL."""
    response = http.get(batch["results_url"], headers={**AUTH, "Accept": "application/binary"})
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in response.text.splitlines()]


def error_of(response: httpx.Response, status: int, error_type: str) -> str:
    """Check an error response's status and envelope; return its message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"type", "error", "request_id"}
    assert body["type"] == "error"
    assert set(body["error"]) == {"type", "message"}
    assert body["error"]["type"] == error_type
    assert body["request_id"].startswith("req_")
    assert response.headers["request-id"] == body["request_id"]
    return body["error"]["message"]


def rfc3339(value: str) -> datetime:
    """Parse an RFC 3339 timestamp with a Z suffix."""
    assert value.endswith("Z")
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# Auth and headers


def test_missing_key_is_authentication_error(http: httpx.Client) -> None:
    response = http.get("/v1/messages/batches", headers={"anthropic-version": VERSION})
    assert error_of(response, 401, "authentication_error") == "x-api-key header is required"


def test_wrong_key_is_authentication_error(http: httpx.Client) -> None:
    response = http.get("/v1/messages/batches", headers={**AUTH, "x-api-key": "nope"})
    assert error_of(response, 401, "authentication_error") == "invalid x-api-key"
    response = http.get("/v1/messages/batches", headers={"Authorization": "Bearer nope", "anthropic-version": VERSION})
    error_of(response, 401, "authentication_error")


def test_bearer_token_is_accepted_as_sdk_2_sends_it(http: httpx.Client) -> None:
    response = http.get(
        "/v1/messages/batches", headers={"Authorization": f"Bearer {API_KEY}", "anthropic-version": VERSION}
    )
    assert response.status_code == 200


def test_anthropic_version_header_is_required_and_checked(http: httpx.Client) -> None:
    response = http.get("/v1/messages/batches", headers={"x-api-key": API_KEY})
    assert error_of(response, 400, "invalid_request_error") == "anthropic-version: header is required"
    response = http.get("/v1/messages/batches", headers={**AUTH, "anthropic-version": "1999-01-01"})
    error_of(response, 400, "invalid_request_error")
    response = http.get("/v1/messages/batches", headers={**AUTH, "anthropic-version": "2023-06-01"})
    assert response.status_code == 200


def test_a_known_beta_header_is_accepted(http: httpx.Client) -> None:
    headers = {**AUTH, "anthropic-beta": "message-batches-2024-09-24, files-api-2025-04-14"}
    assert http.get("/v1/messages/batches", headers=headers).status_code == 200


@pytest.mark.parametrize(
    ("beta", "named"),
    [("message-batches-2024-09-24,not-a-beta-2020-01-01", "`not-a-beta-2020-01-01`"), ("", "``")],
)
def test_an_unknown_or_empty_beta_header_is_refused_naming_the_value(http: httpx.Client, beta: str, named: str) -> None:
    response = http.get("/v1/messages/batches", headers={**AUTH, "anthropic-beta": beta})
    message = error_of(response, 400, "invalid_request_error")
    assert message.startswith(f"Unexpected value(s) {named} for the `anthropic-beta` header.")


def test_unknown_route_is_not_found(http: httpx.Client) -> None:
    error_of(http.get("/v1/nothing", headers=AUTH), 404, "not_found_error")


# Creation


def test_new_batch_is_in_progress_with_exact_shape(http: httpx.Client) -> None:
    batch = create(http, [request("a", "hi"), request("b", "there")])
    assert set(batch) == BATCH_KEYS
    assert re.fullmatch(f"msgbatch_01{BASE58}{{22}}", batch["id"])
    assert batch["type"] == "message_batch"
    assert batch["processing_status"] == "in_progress"
    assert batch["request_counts"] == {"processing": 2, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
    assert batch["ended_at"] is None
    assert batch["cancel_initiated_at"] is None
    assert batch["archived_at"] is None
    assert batch["results_url"] is None
    window = rfc3339(batch["expires_at"]) - rfc3339(batch["created_at"])
    assert window.total_seconds() == 24 * 3600


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"requests": []}, "at least 1 item"),
        ({}, "requests: Field required"),
        ({"requests": [request("a", "x")], "extra": 1}, "extra: Extra inputs are not permitted"),
        ({"requests": [request("bad id!", "x")]}, "requests.0.custom_id: String should match pattern"),
        ({"requests": [request("x" * 65, "x")]}, "requests.0.custom_id"),
        ({"requests": [request("a", "x"), request("a", "y")]}, "requests.1.custom_id: Duplicate custom_id"),
        ({"requests": [{"custom_id": "a", "params": "text"}]}, "requests.0.params: Input should be a valid dictionary"),
        ({"requests": [{"custom_id": "a"}]}, "requests.0.params: Field required"),
        ({"requests": [{**request("a", "x"), "more": 1}]}, "requests.0.more: Extra inputs are not permitted"),
        ({"requests": "nope"}, "requests: Input should be a valid list"),
    ],
)
def test_create_rejects_bad_bodies(http: httpx.Client, body: dict[str, Any], fragment: str) -> None:
    response = http.post("/v1/messages/batches", headers=AUTH, json=body)
    assert fragment in error_of(response, 400, "invalid_request_error")


def test_a_custom_id_ending_in_a_line_break_does_not_match_the_pattern(http: httpx.Client) -> None:
    response = http.post("/v1/messages/batches", headers=AUTH, json={"requests": [request("row-1\n", "x")]})
    message = error_of(response, 400, "invalid_request_error")
    assert message == "requests.0.custom_id: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'"


def test_create_rejects_malformed_json(http: httpx.Client) -> None:
    response = http.post(
        "/v1/messages/batches", headers={**AUTH, "content-type": "application/json"}, content=b'{"requests": [{'
    )
    error_of(response, 400, "invalid_request_error")


def test_create_accepts_100000_requests_and_rejects_one_more(http: httpx.Client) -> None:
    params = json.dumps({"model": MODEL, "max_tokens": 1, "messages": []})

    def item(custom_id: str) -> str:
        return f'{{"custom_id": "{custom_id}", "params": {params}}}'

    body = ('{"requests": [' + ",".join(item(f"r{i}") for i in range(100_000)) + "]}").encode()
    response = http.post("/v1/messages/batches", headers={**AUTH, "content-type": "application/json"}, content=body)
    assert response.status_code == 200, response.text
    assert response.json()["request_counts"]["processing"] == 100_000
    body = body[:-2] + b"," + item("extra").encode() + b"]}"
    response = http.post("/v1/messages/batches", headers={**AUTH, "content-type": "application/json"}, content=body)
    assert "at most 100000 items" in error_of(response, 400, "invalid_request_error")


def test_large_body_streamed_in_chunks_is_read_whole(http: httpx.Client) -> None:
    long_text = "ünïcode " * 2000
    requests = [request(f"r{i}", f"{i} {long_text}", max_tokens=100_000) for i in range(300)]
    data = json.dumps({"requests": requests}).encode()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(data), 7777):
            yield data[start : start + 7777]

    response = http.post("/v1/messages/batches", headers={**AUTH, "content-type": "application/json"}, content=chunks())
    assert response.status_code == 200, response.text
    batch = wait_ended(http, response.json()["id"])
    rows = {row["custom_id"]: row for row in results(http, batch)}
    assert len(rows) == 300
    text = rows["r17"]["result"]["message"]["content"][0]["text"]
    assert text == f"Answer to: 17 {long_text}"


def test_json_stream_reads_values_across_tiny_chunks() -> None:
    data = json.dumps({"requests": [{"k": "é" * 5, "n": 12345}, [1, 2.5, None, True]]}).encode()
    stream = JsonStream(io.BytesIO(data), chunk_size=3)
    stream.take("{")
    assert stream.value() == "requests"
    stream.take(":")
    stream.take("[")
    assert stream.value() == {"k": "é" * 5, "n": 12345}
    stream.take(",")
    assert stream.value() == [1, 2.5, None, True]
    stream.take("]")
    stream.take("}")
    assert stream.peek() == ""


def test_json_stream_does_not_cut_numbers_at_chunk_edges() -> None:
    stream = JsonStream(io.BytesIO(b"[123456789]"), chunk_size=4)
    stream.take("[")
    assert stream.value() == 123456789


# Progress and results


def test_batch_ends_with_counts_results_url_and_succeeded_lines(http: httpx.Client, emulator: EmulatorServer) -> None:
    batch = create(http, [request(f"r{i}", f"question {i}") for i in range(6)])
    ended = wait_ended(http, batch["id"])
    assert ended["request_counts"] == {"processing": 0, "succeeded": 6, "errored": 0, "canceled": 0, "expired": 0}
    assert rfc3339(ended["ended_at"]) >= rfc3339(ended["created_at"])
    assert ended["results_url"] == f"{emulator.base_url}/anthropic/v1/messages/batches/{batch['id']}/results"
    rows = results(http, ended)
    by_id = {row["custom_id"]: row for row in rows}
    row = by_id["r4"]
    assert set(row) == {"custom_id", "result"}
    assert row["result"]["type"] == "succeeded"
    message = row["result"]["message"]
    assert re.fullmatch(f"msg_01{BASE58}{{22}}", message["id"])
    assert message["type"] == "message"
    assert message["role"] == "assistant"
    assert message["model"] == MODEL
    assert message["content"] == [{"type": "text", "text": "Answer to: question 4"}]
    assert message["stop_reason"] == "end_turn"
    assert message["stop_sequence"] is None
    assert message["usage"]["input_tokens"] == 2
    assert message["usage"]["output_tokens"] == 4


def test_results_are_not_in_request_order(http: httpx.Client) -> None:
    ids = [f"r{i}" for i in range(10)]
    batch = wait_ended(http, create(http, [request(i, "x") for i in ids])["id"])
    got = [row["custom_id"] for row in results(http, batch)]
    assert got != ids
    assert sorted(got) == sorted(ids)


def test_results_before_the_end_are_refused(http: httpx.Client, emulator: EmulatorServer) -> None:
    emulator.config(pending_seconds=5)
    batch = create(http, [request("a", "x")])
    response = http.get(f"/v1/messages/batches/{batch['id']}/results", headers=AUTH)
    error_of(response, 400, "invalid_request_error")


def test_fail_marker_and_invalid_params_end_errored(http: httpx.Client) -> None:
    requests = [
        request("ok", "fine"),
        request("marked", f"break {FAIL_MARKER}"),
        {"custom_id": "no-max", "params": {"model": MODEL, "messages": [{"role": "user", "content": "x"}]}},
        request("sampling", "x", temperature=0.5),
    ]
    ended = wait_ended(http, create(http, requests)["id"])
    assert ended["request_counts"] == {"processing": 0, "succeeded": 1, "errored": 3, "canceled": 0, "expired": 0}
    rows = {row["custom_id"]: row["result"] for row in results(http, ended)}
    marked = rows["marked"]
    assert marked["type"] == "errored"
    assert set(marked["error"]) == {"type", "error", "request_id"}
    assert marked["error"]["type"] == "error"
    assert marked["error"]["error"] == {
        "type": "invalid_request_error",
        "message": f"Request rejected by the emulator: the text contains the fail marker {FAIL_MARKER}.",
    }
    assert re.fullmatch(f"req_01{BASE58}{{22}}", marked["error"]["request_id"])
    assert rows["no-max"]["error"]["error"]["message"] == "max_tokens: Field required"
    assert rows["sampling"]["error"]["error"]["message"].startswith("temperature:")


def test_sampling_params_are_fine_under_the_older_version(http: httpx.Client) -> None:
    headers = {**AUTH, "anthropic-version": "2023-06-01"}
    batch = create(http, [request("t", "x", temperature=0.2, top_p=0.9)], headers=headers)
    ended = wait_ended(http, batch["id"])
    assert ended["request_counts"]["succeeded"] == 1


def ended_results(http: httpx.Client, requests: list[dict[str, Any]], version: str = VERSION) -> dict[str, Any]:
    """Run a batch to its end and return each request's result by custom_id."""
    batch = create(http, requests, headers={**AUTH, "anthropic-version": version})
    return {row["custom_id"]: row["result"] for row in results(http, wait_ended(http, batch["id"]))}


def error_message(result: dict[str, Any]) -> str:
    """The message of an errored result."""
    assert result["type"] == "errored", result
    assert result["error"]["error"]["type"] == "invalid_request_error"
    message: str = result["error"]["error"]["message"]
    return message


def test_params_fields_the_messages_api_does_not_take_end_the_request_errored(http: httpx.Client) -> None:
    rows = ended_results(
        http,
        [
            request("format", "x", response_format={"type": "json_object"}),
            request("ok", "x", metadata={"user_id": "u1"}, stop_sequences=["END"]),
        ],
    )
    assert error_message(rows["format"]) == "response_format: Extra inputs are not permitted"
    assert rows["ok"]["type"] == "succeeded"


WEATHER_SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}}


def test_a_custom_tool_whose_name_is_not_1_to_128_of_the_tool_name_characters_ends_errored(http: httpx.Client) -> None:
    rows = ended_results(
        http,
        [
            request("dotted", "x", tools=[{"name": "weather.lookup", "input_schema": WEATHER_SCHEMA}]),
            request("long", "x", tools=[{"name": "w" * 129, "input_schema": WEATHER_SCHEMA}]),
            request("ok", "x", tools=[{"name": "w" * 128, "input_schema": WEATHER_SCHEMA, "type": "custom"}]),
        ],
    )
    pattern = "tools.0.custom.name: String should match pattern '^[a-zA-Z0-9_-]{1,128}$'"
    assert error_message(rows["dotted"]) == pattern
    assert error_message(rows["long"]) == pattern
    assert rows["ok"]["type"] == "succeeded"


def test_a_custom_tool_needs_an_object_input_schema(http: httpx.Client) -> None:
    rows = ended_results(
        http,
        [
            request("none", "x", tools=[{"name": "weather"}]),
            request("array", "x", tools=[{"name": "weather", "input_schema": {"type": "array"}}]),
        ],
    )
    assert error_message(rows["none"]) == "tools.0.custom.input_schema: Field required"
    assert error_message(rows["array"]) == "tools.0.custom.input_schema.type: Input should be 'object'"


def test_a_tool_choice_of_another_type_or_a_tool_choice_without_its_name_ends_errored(http: httpx.Client) -> None:
    tools = [{"name": "weather", "input_schema": WEATHER_SCHEMA}]
    rows = ended_results(
        http,
        [
            request("required", "x", tools=tools, tool_choice={"type": "required"}),
            request("nameless", "x", tools=tools, tool_choice={"type": "tool"}),
            request("named", "x", tools=tools, tool_choice={"type": "tool", "name": "weather"}),
        ],
    )
    assert error_message(rows["required"]) == (
        "tool_choice: Input tag 'required' found using 'type' does not match any of the expected tags: "
        "'auto', 'any', 'tool', 'none'"
    )
    assert error_message(rows["nameless"]) == "tool_choice.tool.name: Field required"
    assert rows["named"]["type"] == "succeeded"


def test_a_server_tool_is_taken_by_its_versioned_type(http: httpx.Client) -> None:
    tool = {"type": "web_search_20250305", "name": "web_search", "max_uses": 1}
    rows = ended_results(http, [request("search", "x", tools=[tool])])
    assert rows["search"]["type"] == "succeeded"


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ({"role": "user", "content": "x", "name": "me"}, "messages.0.name: Extra inputs are not permitted"),
        ({"role": "user"}, "messages.0.content: Field required"),
        ({"role": "tool", "content": "x"}, "messages.0.role: Input should be 'user', 'assistant' or 'system'"),
    ],
)
def test_a_message_with_other_fields_or_roles_ends_errored(
    http: httpx.Client, message: dict[str, Any], expected: str
) -> None:
    params = {"model": MODEL, "max_tokens": 16, "messages": [message]}
    rows = ended_results(http, [{"custom_id": "m", "params": params}])
    assert error_message(rows["m"]) == expected


def test_a_system_turn_is_taken_under_the_new_version_only(http: httpx.Client) -> None:
    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}]
    item = {"custom_id": "s", "params": {"model": MODEL, "max_tokens": 16, "messages": messages}}
    assert ended_results(http, [item])["s"]["type"] == "succeeded"
    old = ended_results(http, [item], version="2023-06-01")
    assert error_message(old["s"]) == "messages.0.role: Input should be 'user' or 'assistant'"


def test_the_new_version_refuses_assistant_documents_and_user_text_citations(http: httpx.Client) -> None:
    pdf = {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}}
    cited = {"type": "text", "text": "hello", "citations": []}
    document_turns = [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": [pdf]},
        {"role": "user", "content": "r"},
    ]
    requests = [
        {"custom_id": "doc", "params": {"model": MODEL, "max_tokens": 16, "messages": document_turns}},
        {
            "custom_id": "cite",
            "params": {"model": MODEL, "max_tokens": 16, "messages": [{"role": "user", "content": [cited]}]},
        },
    ]
    rows = ended_results(http, requests)
    assert error_message(rows["doc"]) == "messages.1.content.0: document blocks are not permitted in assistant messages"
    assert error_message(rows["cite"]) == "messages.0.content.0.text.citations: Extra inputs are not permitted"
    old = ended_results(http, requests, version="2023-06-01")
    assert {result["type"] for result in old.values()} == {"succeeded"}


def test_more_than_100000_messages_in_one_request_end_errored(http: httpx.Client) -> None:
    turns = [{"role": "user", "content": "x"}] * 100_001
    rows = ended_results(http, [{"custom_id": "long", "params": {"model": MODEL, "max_tokens": 16, "messages": turns}}])
    assert error_message(rows["long"]) == "messages: at most 100000 messages are allowed in a single request"


def test_system_prompt_and_content_blocks_are_read(http: httpx.Client) -> None:
    params = {
        "model": MODEL,
        "max_tokens": 50,
        "system": [{"type": "text", "text": f"sys {FAIL_MARKER}"}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hello"}]}],
    }
    clean = {**params, "system": "be brief"}
    ended = wait_ended(
        http, create(http, [{"custom_id": "s", "params": params}, {"custom_id": "c", "params": clean}])["id"]
    )
    rows = {row["custom_id"]: row["result"] for row in results(http, ended)}
    assert rows["s"]["type"] == "errored"
    assert rows["c"]["message"]["content"][0]["text"] == "Answer to: hello"


def test_max_tokens_cuts_the_answer(http: httpx.Client) -> None:
    ended = wait_ended(http, create(http, [request("m", "one two three", max_tokens=2)])["id"])
    (row,) = results(http, ended)
    message = row["result"]["message"]
    assert message["stop_reason"] == "max_tokens"
    assert message["content"][0]["text"] == "Answer to:"
    assert message["usage"]["output_tokens"] == 2


# Cancel, expiry, forced failure


def test_cancel_goes_canceling_then_ended_with_canceled_requests(http: httpx.Client, emulator: EmulatorServer) -> None:
    emulator.config(pending_seconds=5)
    batch = create(http, [request(f"r{i}", "x") for i in range(4)])
    response = http.post(f"/v1/messages/batches/{batch['id']}/cancel", headers=AUTH)
    assert response.status_code == 200, response.text
    canceling = response.json()
    assert canceling["processing_status"] == "canceling"
    assert canceling["cancel_initiated_at"] is not None
    assert canceling["request_counts"]["processing"] == 4
    again = http.post(f"/v1/messages/batches/{batch['id']}/cancel", headers=AUTH)
    assert again.json()["processing_status"] == "canceling"
    ended = wait_ended(http, batch["id"])
    assert ended["request_counts"] == {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 4, "expired": 0}
    assert rfc3339(ended["ended_at"]) >= rfc3339(ended["cancel_initiated_at"])
    rows = results(http, ended)
    assert [row["result"] for row in rows] == [{"type": "canceled"}] * 4


def test_cancel_while_running_keeps_what_was_done(http: httpx.Client, emulator: EmulatorServer) -> None:
    emulator.config(pending_seconds=0, running_seconds=4)
    batch = create(http, [request(f"r{i}", "x") for i in range(20)])
    time.sleep(0.1)
    http.post(f"/v1/messages/batches/{batch['id']}/cancel", headers=AUTH)
    ended = wait_ended(http, batch["id"])
    counts = ended["request_counts"]
    assert 0 < counts["succeeded"] < 20
    assert counts["succeeded"] + counts["canceled"] == 20
    kinds = [row["result"]["type"] for row in results(http, ended)]
    assert kinds.count("canceled") == counts["canceled"]


def test_cancel_of_an_ended_batch_is_refused(http: httpx.Client) -> None:
    ended = wait_ended(http, create(http, [request("a", "x")])["id"])
    response = http.post(f"/v1/messages/batches/{ended['id']}/cancel", headers=AUTH)
    error_of(response, 400, "invalid_request_error")


def test_expiry_ends_with_unprocessed_requests_expired(http: httpx.Client, emulator: EmulatorServer) -> None:
    emulator.config(job_outcome="expire")
    ended = wait_ended(http, create(http, [request(f"r{i}", "x") for i in range(8)])["id"])
    assert ended["request_counts"] == {"processing": 0, "succeeded": 4, "errored": 0, "canceled": 0, "expired": 4}
    kinds = sorted(row["result"]["type"] for row in results(http, ended))
    assert kinds == ["expired"] * 4 + ["succeeded"] * 4
    assert ended["cancel_initiated_at"] is None


def test_forced_failure_ends_with_every_request_errored(http: httpx.Client, emulator: EmulatorServer) -> None:
    emulator.config(job_outcome="fail")
    ended = wait_ended(http, create(http, [request("a", "x"), request("b", "y")])["id"])
    assert ended["request_counts"]["errored"] == 2
    for row in results(http, ended):
        assert row["result"]["error"]["error"]["type"] == "api_error"


# Delete, list, control plane


def test_delete_needs_an_ended_batch(http: httpx.Client, emulator: EmulatorServer) -> None:
    emulator.config(pending_seconds=5)
    batch = create(http, [request("a", "x")])
    response = http.delete(f"/v1/messages/batches/{batch['id']}", headers=AUTH)
    error_of(response, 400, "invalid_request_error")
    http.post(f"/v1/messages/batches/{batch['id']}/cancel", headers=AUTH)
    wait_ended(http, batch["id"])
    response = http.delete(f"/v1/messages/batches/{batch['id']}", headers=AUTH)
    assert response.json() == {"id": batch["id"], "type": "message_batch_deleted"}
    error_of(http.get(f"/v1/messages/batches/{batch['id']}", headers=AUTH), 404, "not_found_error")
    error_of(http.get(f"/v1/messages/batches/{batch['id']}/results", headers=AUTH), 404, "not_found_error")
    assert [job["deleted"] for job in emulator.jobs()] == [True]


def test_list_is_newest_first_with_after_id_and_before_id(http: httpx.Client) -> None:
    ids = [create(http, [request("a", "x")])["id"] for _ in range(5)]
    newest_first = list(reversed(ids))
    page = http.get("/v1/messages/batches", headers=AUTH, params={"limit": 2}).json()
    assert set(page) == {"data", "has_more", "first_id", "last_id"}
    assert [b["id"] for b in page["data"]] == newest_first[:2]
    assert (page["first_id"], page["last_id"], page["has_more"]) == (newest_first[0], newest_first[1], True)
    seen = [b["id"] for b in page["data"]]
    while page["has_more"]:
        page = http.get("/v1/messages/batches", headers=AUTH, params={"limit": 2, "after_id": page["last_id"]}).json()
        seen += [b["id"] for b in page["data"]]
    assert seen == newest_first
    back = http.get("/v1/messages/batches", headers=AUTH, params={"limit": 2, "before_id": ids[0]}).json()
    assert [b["id"] for b in back["data"]] == [ids[2], ids[1]]
    assert back["has_more"] is True
    error_of(http.get("/v1/messages/batches", headers=AUTH, params={"limit": 1001}), 400, "invalid_request_error")


def test_unknown_batch_is_not_found(http: httpx.Client) -> None:
    error_of(http.get("/v1/messages/batches/msgbatch_01nothing", headers=AUTH), 404, "not_found_error")
    error_of(http.post("/v1/messages/batches/msgbatch_01nothing/cancel", headers=AUTH), 404, "not_found_error")


def test_control_plane_lists_anthropic_jobs(http: httpx.Client, emulator: EmulatorServer) -> None:
    batch = wait_ended(http, create(http, [request("a", "x")])["id"])
    (job,) = emulator.jobs()
    assert job["provider"] == "anthropic"
    assert job["name"] == batch["id"]
    assert job["state"] == "ended"
    assert job["model"] == MODEL


def test_fail_rows_outcome_errors_every_request_as_api_error(http: httpx.Client, emulator: EmulatorServer) -> None:
    emulator.config(job_outcome="fail_rows")
    ended = wait_ended(http, create(http, [request("a", "x"), request("b", "y")])["id"])
    assert ended["request_counts"]["errored"] == 2
    assert {row["result"]["error"]["error"]["type"] for row in results(http, ended)} == {"api_error"}


def test_stuck_outcome_stays_in_progress(http: httpx.Client, emulator: EmulatorServer) -> None:
    emulator.config(job_outcome="stuck")
    batch = create(http, [request("a", "x")])
    time.sleep(0.8)
    assert get(http, batch["id"])["processing_status"] == "in_progress"


def test_body_over_256_mb_is_refused_before_it_is_read(emulator: EmulatorServer) -> None:
    head = (
        "POST /anthropic/v1/messages/batches HTTP/1.1\r\n"
        f"Host: {emulator.host}\r\nx-api-key: {API_KEY}\r\nanthropic-version: {VERSION}\r\n"
        f"content-type: application/json\r\ncontent-length: {300 * 1024 * 1024}\r\nconnection: close\r\n\r\n"
    )
    with socket.create_connection((emulator.host, emulator.port), timeout=10) as sock:
        sock.sendall(head.encode() + b'{"requests": [')
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    status_line, _, rest = reply.partition(b"\r\n")
    assert status_line.split()[1] == b"413"
    body = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert body["error"] == {
        "type": "request_too_large",
        "message": "Request exceeds the maximum allowed number of bytes.",
    }


@pytest.mark.parametrize(
    ("sampling", "problem"),
    [
        ({"temperature": "0.5"}, "temperature: Input should be a valid number"),
        ({"temperature": 1.5}, "temperature: Input should be less than or equal to 1"),
        ({"top_p": -0.1}, "top_p: Input should be greater than or equal to 0"),
        ({"top_k": 2.5}, "top_k: Input should be a valid integer"),
        ({"stop_sequences": "END"}, "stop_sequences: Input should be a valid list of strings"),
    ],
)
def test_a_request_with_sampling_params_the_api_refuses_errors(sampling: dict[str, Any], problem: str) -> None:
    params = {"model": "claude-sonnet-4-5", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    assert params_problem({**params, **sampling}, "2023-06-01") == problem


def test_sampling_params_set_to_null_are_unset() -> None:
    params = {"model": "claude-sonnet-4-5", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}
    assert params_problem({**params, "temperature": None, "top_k": None}, "2023-06-01") is None


def one_turn(content: Any, **params: Any) -> dict[str, Any]:
    """Params of one user turn holding `content`."""
    return {"model": MODEL, "max_tokens": 5, "messages": [{"role": "user", "content": content}], **params}


PNG = {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("", "messages.0: all messages must have non-empty content except for the optional final assistant message"),
        ([], "messages.0: all messages must have non-empty content except for the optional final assistant message"),
        ([{"type": "text", "text": ""}], "messages: text content blocks must be non-empty"),
        (" \n", "messages: text content blocks must contain non-whitespace text"),
        ([{"type": "text", "text": "\t"}], "messages: text content blocks must contain non-whitespace text"),
        ([{"type": "text"}], "messages.0.content.0.text.text: Field required"),
        ([{"type": "text", "text": 5}], "messages.0.content.0.text.text: Input should be a valid string"),
        ([{"text": "hi"}], "messages.0.content.0: Unable to extract tag using discriminator 'type'"),
        (["hi"], "messages.0.content.0: Input should be a valid dictionary or object to extract fields from"),
        ([{"type": "image"}], "messages.0.content.0.image.source: Field required"),
        (
            [{"type": "image", "source": {**PNG, "media_type": "image/tiff"}}],
            "messages.0.content.0.image.source.base64.media_type: "
            "Input should be 'image/jpeg' or 'image/png' or 'image/gif' or 'image/webp'",
        ),
        (
            [{"type": "image", "source": {"type": "path", "path": "/x.png"}}],
            "messages.0.content.0.image.source: Input tag 'path' found using 'type' does not match any of the "
            "expected tags: 'base64', 'url', 'file'",
        ),
        (
            [{"type": "image", "source": {"type": "base64", "media_type": "image/png"}}],
            "messages.0.content.0.image.source.base64.data: Field required",
        ),
        (
            [{"type": "document", "source": {"type": "base64", "media_type": "image/png", "data": "x"}}],
            "messages.0.content.0.document.source.base64.media_type: Input should be 'application/pdf'",
        ),
        ([{"type": "tool_result", "content": "42"}], "messages.0.content.0.tool_result.tool_use_id: Field required"),
        (
            [{"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": ""}]}],
            "messages: text content blocks must be non-empty",
        ),
        (
            [{"type": "tool_result", "tool_use_id": "t", "content": [{"type": "tool_use"}]}],
            "messages.0.content.0.tool_result.content.0: Input tag 'tool_use' found using 'type' does not match any "
            "of the expected tags: 'text', 'image', 'search_result', 'document', 'tool_reference', 'browser_state'",
        ),
        ([{"type": "tool_use", "id": "t", "name": "f"}], "messages.0.content.0.tool_use.input: Field required"),
        (
            [{"type": "tool_use", "id": "t", "name": "f", "input": "{}"}],
            "messages.0.content.0.tool_use.input: Input should be a valid dictionary",
        ),
    ],
)
def test_content_the_messages_api_refuses_ends_the_request_errored(content: Any, problem: str) -> None:
    assert params_problem(one_turn(content), "2023-06-01") == problem


def test_a_block_of_a_type_the_messages_api_does_not_know_ends_errored() -> None:
    problem = params_problem(one_turn([{"type": "video", "source": PNG}]), "2023-06-01")
    assert problem is not None
    assert problem.startswith(
        "messages.0.content.0: Input tag 'video' found using 'type' does not match any of the expected tags: 'text',"
    )


@pytest.mark.parametrize(
    ("system", "problem"),
    [
        ([{"type": "text", "text": ""}], "system: text content blocks must be non-empty"),
        (" ", "system: text content blocks must contain non-whitespace text"),
        (
            [{"type": "image", "source": PNG}],
            "system.0: Input tag 'image' found using 'type' does not match any of the expected tags: 'text'",
        ),
    ],
)
def test_a_system_prompt_the_messages_api_refuses_ends_errored(system: Any, problem: str) -> None:
    assert params_problem(one_turn("hi", system=system), "2023-06-01") == problem


def test_every_block_the_messages_api_takes_is_accepted() -> None:
    blocks = [
        {"type": "text", "text": "look"},
        {"type": "image", "source": PNG},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}},
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "notes"}},
        {"type": "document", "source": {"type": "content", "content": [{"type": "text", "text": "a"}]}},
        {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "42"}], "is_error": False},
    ]
    call = {"type": "tool_use", "id": "t1", "name": "f", "input": {"x": 1}}
    messages = [{"role": "assistant", "content": [call]}, {"role": "user", "content": blocks}]
    params = {"model": MODEL, "max_tokens": 5, "messages": messages, "system": [{"type": "text", "text": "s"}]}
    assert params_problem(params, "2023-06-01") is None


def test_only_the_final_assistant_message_may_be_empty() -> None:
    turns = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": ""}]
    assert params_problem({"model": MODEL, "max_tokens": 5, "messages": turns}, "2023-06-01") is None


def test_consecutive_turns_of_one_role_are_taken_as_the_messages_api_combines_them() -> None:
    turns = [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]
    assert params_problem({"model": MODEL, "max_tokens": 5, "messages": turns}, "2023-06-01") is None


def test_a_request_with_an_empty_text_block_ends_errored_in_the_batch(http: httpx.Client) -> None:
    rows = ended_results(http, [{"custom_id": "e", "params": one_turn([{"type": "text", "text": ""}])}])
    assert rows["e"]["type"] == "errored"
    assert error_message(rows["e"]) == "messages: text content blocks must be non-empty"
