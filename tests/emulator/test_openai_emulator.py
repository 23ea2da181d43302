"""Raw-HTTP tests of the OpenAI emulator (Files + Batch): the wire behaviour without any SDK in between."""

from __future__ import annotations

import base64
import json
import re
import struct
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from airflow_provider_genai_batch.testing.emulator import FAIL_MARKER, EmulatorServer
from airflow_provider_genai_batch.testing.emulator.openai.answers import answer_chat, answer_embeddings

API_KEY = "emulator-test-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
MODEL = "gpt-4o-mini"
CHAT = "/v1/chat/completions"
EMBEDDINGS = "/v1/embeddings"
RESPONSES = "/v1/responses"
COMPLETIONS = "/v1/completions"
MODERATIONS = "/v1/moderations"
TERMINAL = ("completed", "failed", "expired", "cancelled")
FILE_KEYS = {"id", "bytes", "created_at", "filename", "object", "purpose", "status", "expires_at", "status_details"}
BATCH_KEYS = {
    "id",
    "object",
    "endpoint",
    "errors",
    "input_file_id",
    "completion_window",
    "status",
    "output_file_id",
    "error_file_id",
    "created_at",
    "in_progress_at",
    "expires_at",
    "finalizing_at",
    "completed_at",
    "failed_at",
    "expired_at",
    "cancelling_at",
    "cancelled_at",
    "request_counts",
    "metadata",
    "model",
    "usage",
}
THIRTY_DAYS = 30 * 24 * 3600


@pytest.fixture
def http(emulator: EmulatorServer) -> Iterator[httpx.Client]:
    """A plain httpx client on the emulator's OpenAI base URL."""
    with httpx.Client(base_url=f"{emulator.base_url}/openai", timeout=30.0) as client:
        yield client


def jsonl(rows: list[dict[str, Any]]) -> bytes:
    """Rows as JSONL bytes."""
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def chat_line(custom_id: str, text: str, model: str = MODEL, **body: Any) -> dict[str, Any]:
    """One chat-completions input line."""
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": CHAT,
        "body": {"model": model, "messages": [{"role": "user", "content": text}], **body},
    }


def upload(
    http: httpx.Client, data: bytes, purpose: str = "batch", filename: str = "input.jsonl", **fields: str
) -> dict[str, Any]:
    """Upload bytes through the multipart endpoint and return the FileObject."""
    response = http.post(
        "/v1/files",
        headers=AUTH,
        files={"file": (filename, data, "application/jsonl")},
        data={"purpose": purpose, **fields},
    )
    assert response.status_code == 200, response.text
    return response.json()


def create_batch(http: httpx.Client, file_id: str, endpoint: str = CHAT, **extra: Any) -> dict[str, Any]:
    """Create a batch and return it."""
    body = {"input_file_id": file_id, "endpoint": endpoint, "completion_window": "24h", **extra}
    response = http.post("/v1/batches", headers=AUTH, json=body)
    assert response.status_code == 200, response.text
    return response.json()


def batch_of(http: httpx.Client, rows: list[dict[str, Any]], endpoint: str = CHAT, **extra: Any) -> dict[str, Any]:
    """Upload rows and create a batch over them."""
    return create_batch(http, upload(http, jsonl(rows))["id"], endpoint, **extra)


def get_batch(http: httpx.Client, batch_id: str) -> dict[str, Any]:
    """GET a batch."""
    response = http.get(f"/v1/batches/{batch_id}", headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()


def wait_for(http: httpx.Client, batch_id: str, statuses: tuple[str, ...] = TERMINAL, timeout: float = 15.0) -> dict:
    """Poll a batch until its status is one of `statuses`, within a time bound."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = get_batch(http, batch_id)
        if batch["status"] in statuses:
            return batch
        time.sleep(0.05)
    raise AssertionError(f"{batch_id} did not reach {statuses} within {timeout} s")


def content(http: httpx.Client, file_id: str) -> bytes:
    """Download a file's bytes."""
    response = http.get(f"/v1/files/{file_id}/content", headers=AUTH)
    assert response.status_code == 200, response.text
    return response.content


def lines(http: httpx.Client, file_id: str) -> list[dict[str, Any]]:
    """Download a JSONL file and parse its lines."""
    return [json.loads(line) for line in content(http, file_id).decode().splitlines()]


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    """Check an error response's status and envelope, and return its `error` object."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    return body["error"]


# Auth


def test_missing_key_is_401_without_code(http: httpx.Client) -> None:
    error = error_of(http.get("/v1/files"), 401)
    assert error["type"] == "invalid_request_error"
    assert error["code"] is None
    assert error["message"].startswith("You didn't provide an API key.")


def test_wrong_key_is_401_invalid_api_key_with_masked_key(http: httpx.Client) -> None:
    error = error_of(http.get("/v1/batches", headers={"Authorization": "Bearer sk-wrong-key-1234"}), 401)
    assert error["code"] == "invalid_api_key"
    assert error["message"].startswith("Incorrect API key provided: sk-")
    assert "wrong-key" not in error["message"]
    assert "Incorrect API key provided: sk-**********1234. " in error["message"]


def test_unknown_route_answers_invalid_url(http: httpx.Client) -> None:
    error = error_of(http.get("/v1/nothing-here", headers=AUTH), 404)
    assert error["message"] == "Invalid URL (GET /v1/nothing-here)"


# Files


def test_upload_returns_file_object_with_thirty_day_expiry_for_batch_files(http: httpx.Client) -> None:
    data = jsonl([chat_line("a", "hello")])
    file_obj = upload(http, data)
    assert set(file_obj) == FILE_KEYS
    assert re.fullmatch(r"file-[A-Za-z0-9]{22}", file_obj["id"])
    assert file_obj["object"] == "file"
    assert file_obj["bytes"] == len(data)
    assert file_obj["filename"] == "input.jsonl"
    assert file_obj["purpose"] == "batch"
    assert file_obj["status"] == "processed"
    assert isinstance(file_obj["created_at"], int)
    assert file_obj["expires_at"] - file_obj["created_at"] in (THIRTY_DAYS, THIRTY_DAYS + 1)


def test_upload_honours_expires_after_and_other_purposes_do_not_expire(http: httpx.Client) -> None:
    file_obj = upload(http, b"x", **{"expires_after[anchor]": "created_at", "expires_after[seconds]": "3600"})
    assert file_obj["expires_at"] - file_obj["created_at"] in (3600, 3601)
    other = upload(http, b"notes", purpose="user_data", filename="notes.txt")
    assert other["purpose"] == "user_data"
    assert other["expires_at"] is None


@pytest.mark.parametrize(
    ("fields", "param", "code"),
    [
        ({"purpose": "nonsense"}, "purpose", "invalid_value"),
        ({}, "purpose", "missing_required_parameter"),
        ({"purpose": "batch", "expires_after[anchor]": "created_at", "expires_after[seconds]": "10"}, None, None),
        (
            {"purpose": "batch", "expires_after[anchor]": "created_at"},
            "expires_after.seconds",
            "missing_required_parameter",
        ),
        ({"purpose": "batch", "expires_after[seconds]": "3600"}, "expires_after.anchor", "missing_required_parameter"),
        (
            {"purpose": "batch", "expires_after[anchor]": "created_at", "expires_after[seconds]": "1h"},
            "expires_after.seconds",
            None,
        ),
        ({"purpose": "batch", "expires_after": "3600"}, "expires_after", "invalid_type"),
    ],
)
def test_upload_rejects_bad_fields(http: httpx.Client, fields: dict[str, str], param: str | None, code: str) -> None:
    response = http.post("/v1/files", headers=AUTH, files={"file": ("in.jsonl", b"{}\n")}, data=fields)
    error = error_of(response, 400)
    if param is not None:
        assert error["param"] == param
        assert error["code"] == code


def test_upload_rejects_fields_the_create_file_request_does_not_have(http: httpx.Client) -> None:
    response = http.post(
        "/v1/files", headers=AUTH, files={"file": ("in.jsonl", b"{}\n")}, data={"purpose": "batch", "name": "x"}
    )
    assert error_of(response, 400)["message"] == "Additional properties are not allowed ('name' was unexpected)"


def test_batch_upload_must_be_jsonl(http: httpx.Client) -> None:
    response = http.post("/v1/files", headers=AUTH, files={"file": ("in.csv", b"a,b\n")}, data={"purpose": "batch"})
    assert error_of(response, 400)["message"] == "Invalid file format for Batch API. Must be .jsonl"


def test_upload_without_file_is_rejected(http: httpx.Client) -> None:
    response = http.post("/v1/files", headers=AUTH, files={"purpose": (None, "batch")})
    assert error_of(response, 400)["param"] == "file"


def test_large_upload_is_stored_byte_for_byte(http: httpx.Client) -> None:
    line = json.dumps(chat_line("x", "y" * 1000)).encode() + b"\n"
    data = line * 20_000
    file_obj = upload(http, data)
    assert file_obj["bytes"] == len(data)
    assert content(http, file_obj["id"]) == data


def test_retrieve_content_and_delete(http: httpx.Client) -> None:
    data = jsonl([chat_line("a", "hello")])
    file_obj = upload(http, data)
    response = http.get(f"/v1/files/{file_obj['id']}", headers=AUTH)
    assert response.json() == file_obj
    raw = http.get(f"/v1/files/{file_obj['id']}/content", headers={**AUTH, "Accept": "application/binary"})
    assert raw.content == data
    assert raw.headers["content-type"] == "application/octet-stream"
    deleted = http.delete(f"/v1/files/{file_obj['id']}", headers=AUTH)
    assert deleted.json() == {"id": file_obj["id"], "object": "file", "deleted": True}
    error = error_of(http.get(f"/v1/files/{file_obj['id']}", headers=AUTH), 404)
    assert error["message"] == f"No such File object: {file_obj['id']}"
    error_of(http.get(f"/v1/files/{file_obj['id']}/content", headers=AUTH), 404)
    error_of(http.delete(f"/v1/files/{file_obj['id']}", headers=AUTH), 404)


@pytest.mark.parametrize("purpose", ["assistants", "user_data"])
def test_assistants_and_user_data_files_cannot_be_downloaded(http: httpx.Client, purpose: str) -> None:
    file_obj = upload(http, b"doc", purpose=purpose, filename="doc.txt")
    error = error_of(http.get(f"/v1/files/{file_obj['id']}/content", headers=AUTH), 400)
    assert error == {
        "message": f"Not allowed to download files of purpose: {purpose}",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }


def test_file_list_is_a_cursor_page_newest_first(http: httpx.Client) -> None:
    ids = [upload(http, b"{}\n", filename=f"f{i}.jsonl")["id"] for i in range(5)]
    response = http.get("/v1/files", headers=AUTH, params={"limit": 2})
    page = response.json()
    assert set(page) == {"object", "data", "first_id", "last_id", "has_more"}
    assert page["object"] == "list"
    assert [f["id"] for f in page["data"]] == [ids[4], ids[3]]
    assert (page["first_id"], page["last_id"], page["has_more"]) == (ids[4], ids[3], True)
    seen = [f["id"] for f in page["data"]]
    while page["has_more"]:
        page = http.get("/v1/files", headers=AUTH, params={"limit": 2, "after": page["last_id"]}).json()
        seen += [f["id"] for f in page["data"]]
    assert seen == list(reversed(ids))
    ascending = http.get("/v1/files", headers=AUTH, params={"order": "asc"}).json()
    assert [f["id"] for f in ascending["data"]] == ids
    assert ascending["has_more"] is False


def test_file_list_filters_by_purpose_and_resumes_after_a_deleted_file(http: httpx.Client) -> None:
    batch_ids = [upload(http, b"{}\n")["id"] for _ in range(3)]
    upload(http, b"x", purpose="user_data", filename="x.txt")
    page = http.get("/v1/files", headers=AUTH, params={"purpose": "batch", "limit": 1}).json()
    assert [f["id"] for f in page["data"]] == [batch_ids[2]]
    http.delete(f"/v1/files/{batch_ids[2]}", headers=AUTH)
    rest = http.get("/v1/files", headers=AUTH, params={"purpose": "batch", "after": batch_ids[2]}).json()
    assert [f["id"] for f in rest["data"]] == [batch_ids[1], batch_ids[0]]


def test_empty_file_list(http: httpx.Client) -> None:
    page = http.get("/v1/files", headers=AUTH).json()
    assert page == {"object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False}


# Batch creation


def test_new_batch_is_validating_with_exact_shape(http: httpx.Client) -> None:
    file_obj = upload(http, jsonl([chat_line("a", "hi")]))
    batch = create_batch(http, file_obj["id"], metadata={"run": "nightly"})
    assert set(batch) == BATCH_KEYS
    assert re.fullmatch(r"batch_[0-9a-f]{32}", batch["id"])
    assert batch["object"] == "batch"
    assert batch["status"] == "validating"
    assert batch["endpoint"] == CHAT
    assert batch["input_file_id"] == file_obj["id"]
    assert batch["completion_window"] == "24h"
    assert batch["metadata"] == {"run": "nightly"}
    assert batch["model"] == MODEL
    assert batch["errors"] is None
    assert batch["output_file_id"] is None and batch["error_file_id"] is None
    assert batch["expires_at"] - batch["created_at"] == 24 * 3600
    for name in ("in_progress_at", "finalizing_at", "completed_at", "failed_at", "expired_at"):
        assert batch[name] is None
    assert batch["cancelling_at"] is None and batch["cancelled_at"] is None
    assert batch["request_counts"] == {"total": 0, "completed": 0, "failed": 0}
    assert batch["usage"]["total_tokens"] == 0


@pytest.mark.parametrize(
    ("change", "param", "code"),
    [
        ({"completion_window": "1h"}, "completion_window", "invalid_value"),
        ({"endpoint": "/v1/nope"}, "endpoint", "invalid_value"),
        ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata", "object_above_max_properties"),
        ({"metadata": {"k" * 65: "v"}}, "metadata", "string_above_max_length"),
        ({"metadata": {"k": "v" * 513}}, "metadata.k", "string_above_max_length"),
        ({"completion_window": None}, "completion_window", "missing_required_parameter"),
        ({"output_expires_after": {"anchor": "created_at", "seconds": 60}}, "output_expires_after.seconds", None),
        ({"input_file_id": 123}, "input_file_id", "invalid_type"),
        ({"output_expires_after": "1h"}, "output_expires_after", "invalid_type"),
        ({"output_expires_after": {}}, "output_expires_after.anchor", "missing_required_parameter"),
        (
            {"output_expires_after": {"anchor": "created_at"}},
            "output_expires_after.seconds",
            "missing_required_parameter",
        ),
        (
            {"output_expires_after": {"anchor": "created_at", "seconds": "3600"}},
            "output_expires_after.seconds",
            "invalid_type",
        ),
        (
            {"output_expires_after": {"anchor": "created_at", "seconds": 3600.5}},
            "output_expires_after.seconds",
            "invalid_type",
        ),
        (
            {"output_expires_after": {"anchor": "created_at", "seconds": True}},
            "output_expires_after.seconds",
            "invalid_type",
        ),
    ],
)
def test_batch_create_rejects_bad_parameters(
    http: httpx.Client, change: dict[str, Any], param: str, code: str | None
) -> None:
    file_obj = upload(http, jsonl([chat_line("a", "hi")]))
    body = {"input_file_id": file_obj["id"], "endpoint": CHAT, "completion_window": "24h", **change}
    body = {key: value for key, value in body.items() if value is not None}
    error = error_of(http.post("/v1/batches", headers=AUTH, json=body), 400)
    assert error["param"] == param
    if code is not None:
        assert error["code"] == code


def test_metadata_at_the_limits_is_accepted(http: httpx.Client) -> None:
    metadata = {f"{i:02d}" + "k" * 62: "v" * 512 for i in range(16)}
    file_obj = upload(http, jsonl([chat_line("a", "hi")]))
    assert create_batch(http, file_obj["id"], metadata=metadata)["metadata"] == metadata


def test_batch_create_rejects_unknown_argument_unknown_file_and_wrong_purpose(http: httpx.Client) -> None:
    file_obj = upload(http, jsonl([chat_line("a", "hi")]))
    body = {"input_file_id": file_obj["id"], "endpoint": CHAT, "completion_window": "24h", "colour": "red"}
    error = error_of(http.post("/v1/batches", headers=AUTH, json=body), 400)
    assert error["message"] == "Unrecognized request argument supplied: colour"
    body = {"input_file_id": "file-doesnotexist", "endpoint": CHAT, "completion_window": "24h"}
    assert error_of(http.post("/v1/batches", headers=AUTH, json=body), 400)["param"] == "input_file_id"
    other = upload(http, b"x", purpose="user_data", filename="x.jsonl")
    body = {"input_file_id": other["id"], "endpoint": CHAT, "completion_window": "24h"}
    assert error_of(http.post("/v1/batches", headers=AUTH, json=body), 400)["param"] == "input_file_id"


def test_unemulated_endpoint_is_refused_explicitly(http: httpx.Client) -> None:
    file_obj = upload(http, jsonl([chat_line("a", "hi")]))
    body = {"input_file_id": file_obj["id"], "endpoint": "/v1/images/generations", "completion_window": "24h"}
    error = error_of(http.post("/v1/batches", headers=AUTH, json=body), 400)
    assert "emulator does not implement" in error["message"]


# Progression and results


def test_status_progresses_validating_in_progress_finalizing_completed(
    http: httpx.Client, emulator: EmulatorServer
) -> None:
    emulator.config(pending_seconds=0.4, running_seconds=0.8)
    batch = batch_of(http, [chat_line("a", "hi")])
    seen = [batch["status"]]
    while seen[-1] not in TERMINAL:
        time.sleep(0.03)
        status = get_batch(http, batch["id"])["status"]
        if status != seen[-1]:
            seen.append(status)
    assert seen == ["validating", "in_progress", "finalizing", "completed"]
    done = get_batch(http, batch["id"])
    assert done["created_at"] <= done["in_progress_at"] <= done["finalizing_at"] <= done["completed_at"]
    assert done["failed_at"] is None and done["cancelled_at"] is None and done["errors"] is None


def test_completed_batch_output_lines_carry_chat_completions(http: httpx.Client) -> None:
    rows = [chat_line(f"req-{i}", f"question number {i}") for i in range(12)]
    batch = wait_for(http, batch_of(http, rows)["id"])
    assert batch["status"] == "completed"
    assert batch["request_counts"] == {"total": 12, "completed": 12, "failed": 0}
    assert batch["error_file_id"] is None
    output = lines(http, batch["output_file_id"])
    assert [line["custom_id"] for line in output] != [row["custom_id"] for row in rows]
    assert sorted(line["custom_id"] for line in output) == sorted(row["custom_id"] for row in rows)
    by_id = {line["custom_id"]: line for line in output}
    line = by_id["req-3"]
    assert set(line) == {"id", "custom_id", "response", "error"}
    assert re.fullmatch(r"batch_req_[0-9a-f]{32}", line["id"])
    assert line["error"] is None
    assert line["response"]["status_code"] == 200
    assert re.fullmatch(r"req_[0-9a-f]{32}", line["response"]["request_id"])
    body = line["response"]["body"]
    assert body["object"] == "chat.completion"
    assert body["model"] == MODEL
    assert body["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Answer to: question number 3",
        "refusal": None,
        "annotations": [],
    }
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"] == {"prompt_tokens": 3, "completion_tokens": 5, "total_tokens": 8}
    assert batch["usage"]["input_tokens"] == 36
    assert batch["usage"]["output_tokens"] == 60
    assert batch["usage"]["total_tokens"] == 96


def test_output_order_is_deterministic_per_batch(http: httpx.Client) -> None:
    rows = [chat_line(f"r{i}", "x") for i in range(2)]
    batch = wait_for(http, batch_of(http, rows)["id"])
    assert [line["custom_id"] for line in lines(http, batch["output_file_id"])] == ["r1", "r0"]


def test_output_and_error_files_are_batch_output_files(http: httpx.Client) -> None:
    rows = [chat_line("ok", "fine"), chat_line("bad", f"boom {FAIL_MARKER}")]
    batch = wait_for(http, batch_of(http, rows)["id"])
    for file_id, suffix in ((batch["output_file_id"], "output"), (batch["error_file_id"], "error")):
        file_obj = http.get(f"/v1/files/{file_id}", headers=AUTH).json()
        assert file_obj["purpose"] == "batch_output"
        assert file_obj["filename"] == f"{batch['id']}_{suffix}.jsonl"
        assert file_obj["bytes"] == len(content(http, file_id))
    listed = {f["id"] for f in http.get("/v1/files", headers=AUTH, params={"purpose": "batch_output"}).json()["data"]}
    assert listed == {batch["output_file_id"], batch["error_file_id"]}


def test_fail_marker_rows_go_to_the_error_file_as_400_responses(http: httpx.Client) -> None:
    rows = [chat_line("good", "fine"), chat_line("bad", f"please fail {FAIL_MARKER}")]
    batch = wait_for(http, batch_of(http, rows)["id"])
    assert batch["status"] == "completed"
    assert batch["request_counts"] == {"total": 2, "completed": 1, "failed": 1}
    assert [line["custom_id"] for line in lines(http, batch["output_file_id"])] == ["good"]
    (error_line,) = lines(http, batch["error_file_id"])
    assert error_line["custom_id"] == "bad"
    assert error_line["error"] is None
    assert error_line["response"]["status_code"] == 400
    assert error_line["response"]["body"] == {
        "error": {
            "message": f"Request rejected by the emulator: the text contains the fail marker {FAIL_MARKER}.",
            "type": "invalid_request_error",
            "param": None,
            "code": None,
        }
    }


def test_all_rows_failing_leaves_no_output_file(http: httpx.Client) -> None:
    batch = wait_for(http, batch_of(http, [chat_line("bad", FAIL_MARKER)])["id"])
    assert batch["status"] == "completed"
    assert batch["output_file_id"] is None
    assert batch["error_file_id"] is not None


def test_row_level_body_problems_become_400_rows(http: httpx.Client) -> None:
    rows = [
        {"custom_id": "no-messages", "method": "POST", "url": CHAT, "body": {"model": MODEL}},
        {
            "custom_id": "no-model",
            "method": "POST",
            "url": CHAT,
            "body": {"messages": [{"role": "user", "content": "x"}]},
        },
    ]
    batch = wait_for(http, batch_of(http, rows)["id"])
    errors = {line["custom_id"]: line["response"]["body"]["error"] for line in lines(http, batch["error_file_id"])}
    assert errors["no-messages"]["code"] == "missing_required_parameter"
    assert errors["no-model"]["message"] == "you must provide a model parameter"


def test_max_tokens_cuts_the_answer_with_finish_reason_length(http: httpx.Client) -> None:
    rows = [chat_line("short", "one two three four", max_completion_tokens=2)]
    batch = wait_for(http, batch_of(http, rows)["id"])
    (line,) = lines(http, batch["output_file_id"])
    choice = line["response"]["body"]["choices"][0]
    assert choice["finish_reason"] == "length"
    assert choice["message"]["content"] == "Answer to:"


def test_embeddings_batch_honours_dimensions_and_base64(http: httpx.Client) -> None:
    rows = [
        {"custom_id": "e1", "method": "POST", "url": EMBEDDINGS, "body": {"model": "te3", "input": "hello world"}},
        {
            "custom_id": "e2",
            "method": "POST",
            "url": EMBEDDINGS,
            "body": {"model": "te3", "input": ["a", "b"], "dimensions": 4},
        },
        {
            "custom_id": "e3",
            "method": "POST",
            "url": EMBEDDINGS,
            "body": {"model": "te3", "input": "x", "dimensions": 3, "encoding_format": "base64"},
        },
    ]
    batch = wait_for(http, batch_of(http, rows, EMBEDDINGS)["id"])
    assert batch["request_counts"] == {"total": 3, "completed": 3, "failed": 0}
    bodies = {line["custom_id"]: line["response"]["body"] for line in lines(http, batch["output_file_id"])}
    first = bodies["e1"]
    assert first["object"] == "list" and first["model"] == "te3"
    assert first["usage"] == {"prompt_tokens": 2, "total_tokens": 2}
    (item,) = first["data"]
    assert item["object"] == "embedding" and item["index"] == 0 and len(item["embedding"]) == 8
    assert abs(sum(v * v for v in item["embedding"]) - 1.0) < 1e-9
    assert [(d["index"], len(d["embedding"])) for d in bodies["e2"]["data"]] == [(0, 4), (1, 4)]
    packed = bodies["e3"]["data"][0]["embedding"]
    assert len(struct.unpack("<3f", base64.b64decode(packed))) == 3


def test_a_chat_request_for_n_choices_is_answered_with_n_choices(http: httpx.Client) -> None:
    batch = wait_for(http, batch_of(http, [chat_line("three", "hello", n=3), chat_line("one", "hello")])["id"])
    bodies = {line["custom_id"]: line["response"]["body"] for line in lines(http, batch["output_file_id"])}
    assert [choice["index"] for choice in bodies["three"]["choices"]] == [0, 1, 2]
    assert bodies["three"]["usage"]["completion_tokens"] == 3 * bodies["one"]["usage"]["completion_tokens"]


def test_a_chat_request_with_an_argument_or_a_bound_the_endpoint_refuses_fails_alone(http: httpx.Client) -> None:
    rows = [
        chat_line("unknown", "x", temperature_scale=1),
        chat_line("hot", "x", temperature=2.5),
        chat_line("penalty", "x", presence_penalty=-3),
        chat_line("logprobs", "x", logprobs=True, top_logprobs=21),
        chat_line("stops", "x", stop=["a", "b", "c", "d", "e"]),
        chat_line("edges", "x", temperature=2, frequency_penalty=-2, top_logprobs=20, logprobs=True, stop=["a"] * 4),
    ]
    batch = wait_for(http, batch_of(http, rows)["id"])
    assert batch["request_counts"] == {"total": 6, "completed": 1, "failed": 5}
    errors = {line["custom_id"]: line["response"]["body"]["error"] for line in lines(http, batch["error_file_id"])}
    assert {name: (error["param"], error["code"]) for name, error in errors.items()} == {
        "unknown": (None, None),
        "hot": ("temperature", "decimal_above_max_value"),
        "penalty": ("presence_penalty", "integer_below_min_value"),
        "logprobs": ("top_logprobs", "integer_above_max_value"),
        "stops": ("stop", "array_above_max_length"),
    }
    assert errors["unknown"]["message"] == "Unrecognized request argument supplied: temperature_scale"
    assert errors["hot"]["message"] == (
        "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got 2.5 instead."
    )


def test_an_embeddings_request_with_an_empty_input_or_more_than_2048_inputs_fails_alone(http: httpx.Client) -> None:
    rows = [
        {"custom_id": "empty", "method": "POST", "url": EMBEDDINGS, "body": {"model": "te3", "input": ""}},
        {"custom_id": "blank", "method": "POST", "url": EMBEDDINGS, "body": {"model": "te3", "input": ["a", ""]}},
        {"custom_id": "many", "method": "POST", "url": EMBEDDINGS, "body": {"model": "te3", "input": ["a"] * 2049}},
        {"custom_id": "most", "method": "POST", "url": EMBEDDINGS, "body": {"model": "te3", "input": ["a"] * 2048}},
    ]
    batch = wait_for(http, batch_of(http, rows, EMBEDDINGS)["id"])
    assert batch["request_counts"] == {"total": 4, "completed": 1, "failed": 3}
    failed = {line["custom_id"]: line["response"] for line in lines(http, batch["error_file_id"])}
    assert set(failed) == {"empty", "blank", "many"}
    for response in failed.values():
        assert response["status_code"] == 400
        assert response["body"]["error"]["message"] == "'$.input' is invalid. Please check the API reference."


def line_for(url: str, custom_id: str, body: dict[str, Any]) -> dict[str, Any]:
    """One input line for any endpoint."""
    return {"custom_id": custom_id, "method": "POST", "url": url, "body": body}


def test_responses_batch_answers_with_response_objects(http: httpx.Client) -> None:
    rows = [
        line_for(RESPONSES, "plain", {"model": MODEL, "input": "hello there"}),
        line_for(
            RESPONSES,
            "items",
            {
                "model": MODEL,
                "instructions": "be brief",
                "input": [{"role": "user", "content": [{"type": "input_text", "text": "one two three"}]}],
                "max_output_tokens": 2,
            },
        ),
    ]
    batch = wait_for(http, batch_of(http, rows, RESPONSES)["id"])
    assert (batch["status"], batch["endpoint"], batch["model"]) == ("completed", RESPONSES, MODEL)
    bodies = {line["custom_id"]: line["response"]["body"] for line in lines(http, batch["output_file_id"])}
    plain = bodies["plain"]
    assert (plain["object"], plain["status"], plain["model"]) == ("response", "completed", MODEL)
    (message,) = plain["output"]
    assert (message["type"], message["role"]) == ("message", "assistant")
    assert message["content"][0]["type"] == "output_text"
    assert message["content"][0]["text"] == "Answer to: hello there"
    assert plain["usage"]["input_tokens"] == 2 and plain["usage"]["output_tokens"] == 4
    cut = bodies["items"]
    assert (cut["status"], cut["incomplete_details"]) == ("incomplete", {"reason": "max_output_tokens"})
    assert cut["output"][0]["content"][0]["text"] == "Answer to:"
    assert cut["instructions"] == "be brief"


def test_completions_batch_answers_in_choice_text_one_choice_per_prompt(http: httpx.Client) -> None:
    rows = [line_for(COMPLETIONS, "c", {"model": "gpt-3.5-turbo-instruct", "prompt": ["say a", "say b"]})]
    batch = wait_for(http, batch_of(http, rows, COMPLETIONS)["id"])
    (line,) = lines(http, batch["output_file_id"])
    body = line["response"]["body"]
    assert body["object"] == "text_completion"
    assert [(c["index"], c["text"], c["finish_reason"]) for c in body["choices"]] == [
        (0, "Answer to: say a", "stop"),
        (1, "Answer to: say b", "stop"),
    ]
    assert body["usage"] == {"prompt_tokens": 4, "completion_tokens": 8, "total_tokens": 12}


def test_moderations_batch_answers_one_result_per_input(http: httpx.Client) -> None:
    rows = [line_for(MODERATIONS, "m", {"model": "omni-moderation-latest", "input": ["fine", "also fine"]})]
    batch = wait_for(http, batch_of(http, rows, MODERATIONS)["id"])
    (line,) = lines(http, batch["output_file_id"])
    body = line["response"]["body"]
    assert body["model"] == "omni-moderation-latest" and len(body["results"]) == 2
    result = body["results"][0]
    assert result["flagged"] is False
    assert set(result["categories"]) == set(result["category_scores"]) == set(result["category_applied_input_types"])
    assert result["categories"]["self-harm/intent"] is False


@pytest.mark.parametrize(
    ("url", "body", "message"),
    [
        (RESPONSES, {"input": "x"}, "you must provide a model parameter"),
        (COMPLETIONS, {"model": "m"}, "Missing required parameter: 'prompt'."),
        (MODERATIONS, {"model": "m"}, "Missing required parameter: 'input'."),
        (RESPONSES, {"model": "m", "input": f"x {FAIL_MARKER}"}, None),
    ],
)
def test_new_endpoints_answer_bad_rows_with_400_error_lines(
    http: httpx.Client, url: str, body: dict[str, Any], message: str | None
) -> None:
    batch = wait_for(http, batch_of(http, [line_for(url, "bad", body)], url)["id"])
    assert batch["status"] == "completed" and batch["output_file_id"] is None
    (line,) = lines(http, batch["error_file_id"])
    assert line["response"]["status_code"] == 400
    if message is not None:
        assert line["response"]["body"]["error"]["message"] == message


# Validation failure


def test_invalid_input_fails_with_errors_list(http: httpx.Client) -> None:
    good = chat_line("a", "hi")
    data = b"\n".join(
        [
            json.dumps(good).encode(),
            json.dumps({**chat_line("b", "hi"), "url": EMBEDDINGS}).encode(),
            json.dumps({**chat_line("c", "hi"), "method": "GET"}).encode(),
            b"{not json",
            json.dumps(chat_line("a", "again")).encode(),
            json.dumps(chat_line("d", "hi", model="gpt-4o")).encode(),
        ]
    )
    batch = create_batch(http, upload(http, data)["id"])
    assert batch["status"] == "validating"
    assert batch["errors"] is None
    failed = wait_for(http, batch["id"])
    assert failed["status"] == "failed"
    assert failed["errors"]["object"] == "list"
    found = [(e["code"], e["line"], e["param"]) for e in failed["errors"]["data"]]
    assert found == [
        ("url_mismatch", 2, "url"),
        ("invalid_value", 3, "method"),
        ("invalid_json_line", 4, None),
        ("duplicate_custom_id", 5, "custom_id"),
        ("model_mismatch", 6, "body.model"),
    ]
    assert all(set(e) == {"code", "line", "message", "param"} for e in failed["errors"]["data"])
    assert failed["failed_at"] is not None
    assert failed["in_progress_at"] is None
    assert failed["output_file_id"] is None and failed["error_file_id"] is None
    assert failed["request_counts"] == {"total": 0, "completed": 0, "failed": 0}


def test_empty_input_file_fails_with_empty_file(http: httpx.Client) -> None:
    failed = wait_for(http, create_batch(http, upload(http, b"\n")["id"])["id"])
    assert failed["status"] == "failed"
    assert [e["code"] for e in failed["errors"]["data"]] == ["empty_file"]


def test_forced_failure_fails_after_validating(http: httpx.Client, emulator: EmulatorServer) -> None:
    emulator.config(job_outcome="fail")
    failed = wait_for(http, batch_of(http, [chat_line("a", "hi")])["id"])
    assert failed["status"] == "failed"
    assert failed["errors"]["data"][0]["code"] == "emulated_failure"
    assert failed["in_progress_at"] is None


def test_deleting_the_input_file_does_not_affect_the_batch(http: httpx.Client) -> None:
    file_obj = upload(http, jsonl([chat_line("a", "hi")]))
    batch = create_batch(http, file_obj["id"])
    http.delete(f"/v1/files/{file_obj['id']}", headers=AUTH)
    assert wait_for(http, batch["id"])["status"] == "completed"


# Cancel and expiry


def test_cancel_while_validating_cancels_every_request(http: httpx.Client, emulator: EmulatorServer) -> None:
    emulator.config(pending_seconds=5)
    batch = batch_of(http, [chat_line(f"r{i}", "hi") for i in range(3)])
    response = http.post(f"/v1/batches/{batch['id']}/cancel", headers=AUTH)
    assert response.status_code == 200, response.text
    cancelling = response.json()
    assert cancelling["status"] == "cancelling"
    assert cancelling["cancelling_at"] is not None and cancelling["cancelled_at"] is None
    again = http.post(f"/v1/batches/{batch['id']}/cancel", headers=AUTH)
    assert again.status_code == 200 and again.json()["status"] == "cancelling"
    cancelled = wait_for(http, batch["id"])
    assert cancelled["status"] == "cancelled"
    assert cancelled["cancelled_at"] >= cancelled["cancelling_at"]
    assert cancelled["in_progress_at"] is None
    assert cancelled["output_file_id"] is None
    assert cancelled["request_counts"] == {"total": 3, "completed": 0, "failed": 0}
    rows = lines(http, cancelled["error_file_id"])
    assert sorted(row["custom_id"] for row in rows) == ["r0", "r1", "r2"]
    for row in rows:
        assert row["response"] is None
        assert row["error"]["code"] == "batch_cancelled"
        assert row["error"]["message"]


def test_cancel_while_running_keeps_partial_output(http: httpx.Client, emulator: EmulatorServer) -> None:
    emulator.config(pending_seconds=0, running_seconds=4)
    rows = [chat_line(f"r{i}", f"q {i}") for i in range(20)]
    batch = wait_for(http, batch_of(http, rows)["id"], ("in_progress",))
    assert http.post(f"/v1/batches/{batch['id']}/cancel", headers=AUTH).json()["status"] == "cancelling"
    cancelled = wait_for(http, batch["id"])
    assert cancelled["status"] == "cancelled"
    done = lines(http, cancelled["output_file_id"])
    stopped = lines(http, cancelled["error_file_id"])
    assert 0 < len(done) < 20
    assert cancelled["request_counts"] == {"total": 20, "completed": len(done), "failed": 0}
    assert sorted(r["custom_id"] for r in done + stopped) == sorted(r["custom_id"] for r in rows)
    assert all(r["error"]["code"] == "batch_cancelled" for r in stopped)
    assert cancelled["in_progress_at"] is not None


def test_cancel_of_a_completed_batch_is_refused(http: httpx.Client) -> None:
    batch = wait_for(http, batch_of(http, [chat_line("a", "hi")])["id"])
    error = error_of(http.post(f"/v1/batches/{batch['id']}/cancel", headers=AUTH), 400)
    assert "completed" in error["message"]


def test_expired_batch_keeps_finished_requests_and_lists_the_rest_as_expired(
    http: httpx.Client, emulator: EmulatorServer
) -> None:
    emulator.config(job_outcome="expire")
    rows = [chat_line(f"r{i}", "hi") for i in range(10)]
    expired = wait_for(http, batch_of(http, rows)["id"])
    assert expired["status"] == "expired"
    assert expired["expired_at"] is not None and expired["completed_at"] is None
    assert expired["request_counts"] == {"total": 10, "completed": 5, "failed": 0}
    done = lines(http, expired["output_file_id"])
    unfinished = lines(http, expired["error_file_id"])
    assert len(done) == 5 and len(unfinished) == 5
    for row in unfinished:
        assert row["response"] is None
        assert row["error"]["code"] == "batch_expired"


# Listing and control plane


def test_batch_list_is_newest_first_and_pages_with_after(http: httpx.Client) -> None:
    file_id = upload(http, jsonl([chat_line("a", "hi")]))["id"]
    ids = [create_batch(http, file_id)["id"] for _ in range(3)]
    first = http.get("/v1/batches", headers=AUTH, params={"limit": 2}).json()
    assert [b["id"] for b in first["data"]] == [ids[2], ids[1]]
    assert first["has_more"] is True and first["object"] == "list"
    assert (first["first_id"], first["last_id"]) == (ids[2], ids[1])
    second = http.get("/v1/batches", headers=AUTH, params={"limit": 2, "after": first["last_id"]}).json()
    assert [b["id"] for b in second["data"]] == [ids[0]]
    assert second["has_more"] is False
    error = error_of(http.get("/v1/batches", headers=AUTH, params={"limit": 101}), 400)
    assert error["code"] == "integer_above_max_value"


def test_unknown_batch_is_404(http: httpx.Client) -> None:
    error = error_of(http.get("/v1/batches/batch_missing", headers=AUTH), 404)
    assert error["type"] == "invalid_request_error"
    error_of(http.post("/v1/batches/batch_missing/cancel", headers=AUTH), 404)


def test_control_plane_lists_openai_jobs_with_native_status(http: httpx.Client, emulator: EmulatorServer) -> None:
    batch = wait_for(http, batch_of(http, [chat_line("a", "hi")])["id"])
    (job,) = [job for job in emulator.jobs() if job["provider"] == "openai"]
    assert job["name"] == batch["id"]
    assert job["state"] == "completed"
    assert job["model"] == MODEL
    assert job["request_count"] == 1


def test_fail_rows_outcome_fails_every_row_as_server_error(http: httpx.Client, emulator: EmulatorServer) -> None:
    emulator.config(job_outcome="fail_rows")
    batch = wait_for(http, batch_of(http, [chat_line("a", "x"), chat_line("b", "y")])["id"])
    assert batch["status"] == "completed"
    assert batch["request_counts"] == {"total": 2, "completed": 0, "failed": 2}
    assert batch["output_file_id"] is None
    for row in lines(http, batch["error_file_id"]):
        assert row["response"]["status_code"] == 500
        assert row["response"]["body"]["error"]["type"] == "server_error"


def test_fail_rows_outcome_also_fails_the_rows_done_before_a_cancel(
    http: httpx.Client, emulator: EmulatorServer
) -> None:
    emulator.config(job_outcome="fail_rows", pending_seconds=0, running_seconds=4)
    batch = wait_for(http, batch_of(http, [chat_line(f"r{i}", "x") for i in range(20)])["id"], ("in_progress",))
    http.post(f"/v1/batches/{batch['id']}/cancel", headers=AUTH)
    cancelled = wait_for(http, batch["id"])
    assert cancelled["output_file_id"] is None
    assert cancelled["request_counts"]["failed"] > 0
    statuses = {
        row["response"]["status_code"] if row["response"] else None for row in lines(http, cancelled["error_file_id"])
    }
    assert statuses == {500, None}


def test_stuck_outcome_stays_validating(http: httpx.Client, emulator: EmulatorServer) -> None:
    emulator.config(job_outcome="stuck")
    batch = batch_of(http, [chat_line("a", "x")])
    time.sleep(0.8)
    assert get_batch(http, batch["id"])["status"] == "validating"


# Rows that fail once with a retryable server error (openai_retryable_row_share)


def test_a_row_of_the_retryable_share_fails_with_the_services_server_error_row(
    http: httpx.Client, emulator: EmulatorServer
) -> None:
    emulator.config(openai_retryable_row_share=1.0)
    done = wait_for(http, batch_of(http, [chat_line("a", "hi")])["id"])

    assert done["output_file_id"] is None
    assert done["request_counts"] == {"total": 1, "completed": 0, "failed": 1}
    [row] = lines(http, done["error_file_id"])
    assert row["custom_id"] == "a" and row["error"] is None
    assert row["response"]["status_code"] == 500
    assert row["response"]["request_id"].startswith("req_")
    assert row["response"]["body"] == {
        "error": {
            "message": "The server had an error while processing your request. Sorry about that!",
            "type": "server_error",
            "param": None,
            "code": None,
        }
    }


def test_the_retryable_share_holds_for_batches_created_while_it_is_set(
    http: httpx.Client, emulator: EmulatorServer
) -> None:
    emulator.config(pending_seconds=0.5, openai_retryable_row_share=1.0)
    before = batch_of(http, [chat_line("a", "hi")])
    emulator.config(openai_retryable_row_share=0.0)
    after = batch_of(http, [chat_line("b", "hi")])

    assert wait_for(http, before["id"])["request_counts"]["failed"] == 1
    assert wait_for(http, after["id"])["request_counts"]["failed"] == 0


def test_a_row_a_cancelled_batch_never_answered_still_fails_once_later(
    http: httpx.Client, emulator: EmulatorServer
) -> None:
    emulator.config(pending_seconds=5, openai_retryable_row_share=1.0)
    cancelled = batch_of(http, [chat_line("a", "hi")])
    http.post(f"/v1/batches/{cancelled['id']}/cancel", headers=AUTH)
    assert wait_for(http, cancelled["id"])["status"] == "cancelled"
    emulator.config(pending_seconds=0)

    first = wait_for(http, batch_of(http, [chat_line("a", "hi")])["id"])
    second = wait_for(http, batch_of(http, [chat_line("a", "hi")])["id"])

    assert first["request_counts"] == {"total": 1, "completed": 0, "failed": 1}
    assert second["request_counts"] == {"total": 1, "completed": 1, "failed": 0}


def test_embeddings_larger_than_any_model_returns_fail_the_request_without_being_made() -> None:
    body = {"model": "text-embedding-3-small", "input": "hi", "dimensions": 2**31 - 1}
    answer = answer_embeddings(body, "seed", 0)
    assert answer.status_code == 400
    assert answer.body["error"]["message"] == "This model does not support specifying dimensions above 3072."


@pytest.mark.parametrize(
    ("param", "message"),
    [
        ({"temperature": "0.5"}, "Invalid type for 'temperature': expected a decimal, but got a string instead."),
        ({"max_tokens": 1.5}, "Invalid type for 'max_tokens': expected an integer, but got a decimal instead."),
        ({"n": True}, "Invalid type for 'n': expected an integer, but got a boolean instead."),
    ],
)
def test_a_chat_number_of_another_json_type_fails_the_request(param: dict[str, Any], message: str) -> None:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], **param}
    answer = answer_chat(body, "seed", 0)
    assert answer.status_code == 400
    assert (answer.body["error"]["message"], answer.body["error"]["code"]) == (message, "invalid_type")


def test_a_chat_number_set_to_null_is_unset() -> None:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "temperature": None, "n": 2.0}
    assert answer_chat(body, "seed", 0).status_code == 200
