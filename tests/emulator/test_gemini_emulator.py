"""Raw-HTTP tests of the Gemini emulator: the wire behaviour, byte for byte, without any SDK in between."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from airflow_provider_genai_batch.testing.emulator import FAIL_MARKER, EmulatorServer
from airflow_provider_genai_batch.testing.emulator.gemini.results import embed_response

API_KEY = "emulator-test-key"
AUTH = {"x-goog-api-key": API_KEY}
TYPE_PREFIX = "type.googleapis.com/google.ai.generativelanguage.v1main."


@pytest.fixture
def http(emulator: EmulatorServer) -> Iterator[httpx.Client]:
    """A plain httpx client on the emulator's base URL."""
    with httpx.Client(base_url=emulator.base_url, timeout=30.0) as client:
        yield client


def start_upload(http: httpx.Client, size: int, name: str | None = None, version: str = "v1beta") -> str:
    """Open a resumable upload session and return its session URL."""
    file_obj: dict[str, Any] = {"display_name": "input"}
    if name:
        file_obj["name"] = name
    response = http.post(
        f"/upload/{version}/files",
        headers={
            **AUTH,
            "X-Goog-Upload-Protocol": "resumable",
            "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Length": str(size),
            "X-Goog-Upload-Header-Content-Type": "application/jsonl",
        },
        json={"file": file_obj},
    )
    assert response.status_code == 200, response.text
    return response.headers["x-goog-upload-url"]


def send_chunk(http: httpx.Client, url: str, data: bytes, offset: int, command: str) -> httpx.Response:
    """POST bytes to a session URL, without an API key, as the SDK does."""
    return http.post(url, content=data, headers={"X-Goog-Upload-Command": command, "X-Goog-Upload-Offset": str(offset)})


def upload(http: httpx.Client, data: bytes) -> dict[str, Any]:
    """Upload bytes in one finalizing chunk and return the File resource."""
    url = start_upload(http, len(data))
    response = send_chunk(http, url, data, 0, "upload, finalize")
    assert response.status_code == 200, response.text
    return response.json()["file"]


def jsonl(rows: list[dict[str, Any]]) -> bytes:
    """Rows as JSONL bytes."""
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def generate_line(key: str, text: str) -> dict[str, Any]:
    """One batch input line asking the model about text."""
    return {"key": key, "request": {"contents": [{"role": "user", "parts": [{"text": text}]}]}}


def create_batch(
    http: httpx.Client, body: dict[str, Any], model: str = "gemini-2.5-flash", version: str = "v1beta"
) -> dict[str, Any]:
    """Create a generate-content batch and return its Operation."""
    response = http.post(f"/{version}/models/{model}:batchGenerateContent", headers=AUTH, json=body)
    assert response.status_code == 200, response.text
    return response.json()


def file_batch(http: httpx.Client, rows: list[dict[str, Any]], display_name: str = "job") -> dict[str, Any]:
    """Upload rows and create a batch over them."""
    input_file = upload(http, jsonl(rows))
    return create_batch(http, {"batch": {"displayName": display_name, "inputConfig": {"fileName": input_file["name"]}}})


def get_batch(http: httpx.Client, name: str) -> dict[str, Any]:
    """GET a batch Operation."""
    response = http.get(f"/v1beta/{name}", headers=AUTH)
    assert response.status_code == 200, response.text
    return response.json()


def wait_done(http: httpx.Client, name: str, timeout: float = 15.0) -> dict[str, Any]:
    """Poll a batch until its Operation is done, within a time bound."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        operation = get_batch(http, name)
        if operation.get("done"):
            return operation
        time.sleep(0.05)
    raise AssertionError(f"{name} not done within {timeout} s")


def download(http: httpx.Client, file_name: str) -> list[dict[str, Any]]:
    """Download a result file through `:download?alt=media` and parse its lines."""
    response = http.get(f"/v1beta/{file_name}:download", params={"alt": "media"}, headers=AUTH)
    assert response.status_code == 200, response.text
    return [json.loads(line) for line in response.text.splitlines()]


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The `error` object of a Google error envelope."""
    body = response.json()
    assert set(body) == {"error"}
    return body["error"]


# Resumable upload protocol


def test_upload_start_answers_with_session_url_status_and_granularity(
    http: httpx.Client, emulator: EmulatorServer
) -> None:
    response = http.post(
        "/upload/v1beta/files",
        headers={
            **AUTH,
            "X-Goog-Upload-Protocol": "resumable",
            "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Length": "10",
            "X-Goog-Upload-Header-Content-Type": "application/jsonl",
        },
        json={"file": {"display_name": "d"}},
    )
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["x-goog-upload-status"] == "active"
    assert response.headers["x-goog-upload-chunk-granularity"] == "8388608"
    url = response.headers["x-goog-upload-url"]
    assert url.startswith(f"{emulator.base_url}/upload/v1beta/files?upload_id=")
    assert url.endswith("&upload_protocol=resumable")


def test_a_lower_configured_granularity_is_the_one_announced(http: httpx.Client, emulator: EmulatorServer) -> None:
    emulator.config(gemini_upload_chunk_granularity=256 * 1024)
    response = http.post(
        "/upload/v1beta/files",
        headers={**AUTH, "X-Goog-Upload-Protocol": "resumable", "X-Goog-Upload-Command": "start"},
        json={"file": {}},
    )
    assert response.headers["x-goog-upload-chunk-granularity"] == "262144"


def test_an_upload_declaring_more_than_2_gb_is_refused_and_one_of_2_gb_is_opened(http: httpx.Client) -> None:
    limit = 2 * 1024**3
    assert start_upload(http, limit)
    response = http.post(
        "/upload/v1beta/files",
        headers={
            **AUTH,
            "X-Goog-Upload-Protocol": "resumable",
            "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Length": str(limit + 1),
            "X-Goog-Upload-Header-Content-Type": "application/jsonl",
        },
        json={"file": {"display_name": "input"}},
    )
    assert response.status_code == 400
    assert error_of(response) == {
        "code": 400,
        "status": "INVALID_ARGUMENT",
        "message": f"The file would hold {limit + 1} bytes, over the {limit}-byte (2 GB) limit of a file.",
    }


def test_a_chunk_before_the_last_that_is_not_a_multiple_of_the_granularity_is_refused_as_google_refuses_it(
    http: httpx.Client,
) -> None:
    url = start_upload(http, 9 * 1024 * 1024)
    response = send_chunk(http, url, b"x" * 821333, 0, "upload")
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/plain")
    assert (
        response.text == "The client sent 821333 bytes, which is not a multiple of the 8388608 byte chunk granularity."
    )
    query = http.post(url, headers={"X-Goog-Upload-Command": "query"})
    assert query.headers["x-goog-upload-size-received"] == "0"


def test_chunks_of_whole_granules_then_a_shorter_last_one_are_accepted(
    http: httpx.Client, emulator: EmulatorServer
) -> None:
    emulator.config(gemini_upload_chunk_granularity=1024)
    data = bytes(range(256)) * 12
    url = start_upload(http, len(data))
    assert send_chunk(http, url, data[:2048], 0, "upload").status_code == 200
    final = send_chunk(http, url, data[2048:], 2048, "upload, finalize")
    assert final.status_code == 200, final.text
    assert final.json()["file"]["sizeBytes"] == str(len(data))


def test_a_streamed_chunk_that_is_not_a_multiple_of_the_granularity_is_refused_and_rolled_back(
    http: httpx.Client, emulator: EmulatorServer
) -> None:
    emulator.config(gemini_upload_chunk_granularity=1024)
    url = start_upload(http, 4096)
    pieces = iter([b"a" * 1000, b"b" * 500])
    response = http.post(url, content=pieces, headers={"X-Goog-Upload-Command": "upload", "X-Goog-Upload-Offset": "0"})
    assert response.status_code == 400
    assert response.text == "The client sent 1500 bytes, which is not a multiple of the 1024 byte chunk granularity."
    query = http.post(url, headers={"X-Goog-Upload-Command": "query"})
    assert query.headers["x-goog-upload-size-received"] == "0"


def test_upload_chunk_at_wrong_offset_is_rejected(http: httpx.Client, emulator: EmulatorServer) -> None:
    emulator.config(gemini_upload_chunk_granularity=4)
    url = start_upload(http, 8)
    assert send_chunk(http, url, b"abcd", 0, "upload").status_code == 200
    response = send_chunk(http, url, b"efgh", 2, "upload, finalize")
    assert response.status_code == 400
    assert error_of(response)["status"] == "INVALID_ARGUMENT"
    assert "4 bytes have been received" in error_of(response)["message"]


def test_upload_query_reports_bytes_received(http: httpx.Client, emulator: EmulatorServer) -> None:
    emulator.config(gemini_upload_chunk_granularity=5)
    url = start_upload(http, 10)
    send_chunk(http, url, b"12345", 0, "upload")
    response = http.post(url, headers={"X-Goog-Upload-Command": "query"})
    assert response.status_code == 200
    assert response.headers["x-goog-upload-status"] == "active"
    assert response.headers["x-goog-upload-size-received"] == "5"


def test_upload_finalize_with_wrong_total_size_is_rejected_and_rolled_back(
    http: httpx.Client, emulator: EmulatorServer
) -> None:
    emulator.config(gemini_upload_chunk_granularity=5)
    url = start_upload(http, 10)
    send_chunk(http, url, b"12345", 0, "upload")
    response = send_chunk(http, url, b"678", 5, "upload, finalize")
    assert response.status_code == 400
    assert error_of(response)["status"] == "INVALID_ARGUMENT"
    query = http.post(url, headers={"X-Goog-Upload-Command": "query"})
    assert query.headers["x-goog-upload-size-received"] == "5"
    final = send_chunk(http, url, b"67890", 5, "upload, finalize")
    assert final.status_code == 200
    assert final.json()["file"]["sizeBytes"] == "10"


def test_a_chosen_file_id_ending_in_a_line_break_is_refused(http: httpx.Client) -> None:
    response = http.post(
        "/upload/v1beta/files",
        headers={**AUTH, "X-Goog-Upload-Protocol": "resumable", "X-Goog-Upload-Command": "start"},
        json={"file": {"name": "files/my-input-1\n"}},
    )
    assert response.status_code == 400
    assert error_of(response)["status"] == "INVALID_ARGUMENT"
    assert "x-goog-upload-url" not in response.headers


def start_named(http: httpx.Client, display_name: str) -> httpx.Response:
    """Open an upload session for a file of this display name."""
    return http.post(
        "/upload/v1beta/files",
        headers={**AUTH, "X-Goog-Upload-Protocol": "resumable", "X-Goog-Upload-Command": "start"},
        json={"file": {"display_name": display_name}},
    )


def test_a_file_display_name_of_512_characters_is_taken_and_one_of_513_refused(http: httpx.Client) -> None:
    assert start_named(http, "é" * 512).status_code == 200
    response = start_named(http, "é" * 513)
    assert response.status_code == 400
    assert error_of(response)["status"] == "INVALID_ARGUMENT"
    assert "no more than 512 characters" in error_of(response)["message"]


def test_upload_in_chunks_yields_file_resource_with_string_size_and_base64_sha256(
    http: httpx.Client, emulator: EmulatorServer
) -> None:
    emulator.config(gemini_upload_chunk_granularity=100)
    data = b'{"key": "a"}\n' * 100
    url = start_upload(http, len(data), name="files/my-input-1")
    intermediate = send_chunk(http, url, data[:500], 0, "upload")
    assert intermediate.headers["x-goog-upload-status"] == "active"
    assert intermediate.content == b""
    final = send_chunk(http, url, data[500:], 500, "upload, finalize")
    assert final.headers["x-goog-upload-status"] == "final"
    file_obj = final.json()["file"]
    assert file_obj["name"] == "files/my-input-1"
    assert file_obj["displayName"] == "input"
    assert file_obj["mimeType"] == "application/jsonl"
    assert file_obj["sizeBytes"] == str(len(data))
    assert file_obj["sha256Hash"] == base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert file_obj["uri"] == f"{emulator.base_url}/v1beta/files/my-input-1"
    assert file_obj["state"] == "ACTIVE"
    assert file_obj["source"] == "UPLOADED"
    assert "downloadUri" not in file_obj
    assert file_obj["createTime"].endswith("Z")
    assert file_obj["expirationTime"] > file_obj["createTime"]


def test_upload_chunk_sent_without_content_length_is_streamed(http: httpx.Client) -> None:
    data = b"0123456789" * 1000
    url = start_upload(http, len(data))
    pieces = iter([data[:4000], data[4000:]])
    response = http.post(
        url, content=pieces, headers={"X-Goog-Upload-Command": "upload, finalize", "X-Goog-Upload-Offset": "0"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["file"]["sizeBytes"] == str(len(data))


def test_generated_file_id_is_twelve_lowercase_alphanumerics(http: httpx.Client) -> None:
    file_obj = upload(http, b"x\n")
    file_id = file_obj["name"].removeprefix("files/")
    assert len(file_id) == 12
    assert file_id.isalnum()
    assert file_id == file_id.lower()


# Auth


def test_missing_api_key_is_permission_denied(http: httpx.Client) -> None:
    response = http.get("/v1beta/files")
    assert response.status_code == 403
    error = error_of(response)
    assert error["status"] == "PERMISSION_DENIED"
    assert error["message"].startswith("Method doesn't allow unregistered callers")


def test_wrong_api_key_is_invalid_argument(http: httpx.Client) -> None:
    response = http.get("/v1beta/batches", headers={"x-goog-api-key": "nope"})
    assert response.status_code == 400
    error = error_of(response)
    assert error["status"] == "INVALID_ARGUMENT"
    assert error["message"] == "API key not valid. Please pass a valid API key."


def test_api_key_in_query_string_is_accepted_and_logged(http: httpx.Client, emulator: EmulatorServer) -> None:
    response = http.get("/v1beta/files", params={"key": API_KEY})
    assert response.status_code == 200
    assert response.json() == {}
    assert emulator.requests()[-1]["query"] == f"key={API_KEY}"


def test_upload_chunks_need_no_api_key_but_start_does(http: httpx.Client) -> None:
    response = http.post(
        "/upload/v1beta/files",
        headers={"X-Goog-Upload-Protocol": "resumable", "X-Goog-Upload-Command": "start"},
        json={"file": {}},
    )
    assert response.status_code == 403
    url = start_upload(http, 3)
    assert send_chunk(http, url, b"abc", 0, "upload, finalize").status_code == 200


# Files


def test_get_of_unknown_file_is_permission_denied(http: httpx.Client) -> None:
    response = http.get("/v1beta/files/doesnotexist", headers=AUTH)
    assert response.status_code == 403
    assert error_of(response)["status"] == "PERMISSION_DENIED"


def test_empty_file_list_is_an_empty_object(http: httpx.Client) -> None:
    response = http.get("/v1beta/files", headers=AUTH)
    assert response.json() == {}


def test_file_list_pages_end_without_token_and_never_empty(http: httpx.Client) -> None:
    names = [upload(http, f"{i}\n".encode())["name"] for i in range(5)]
    seen: list[str] = []
    pages = 0
    token = None
    while True:
        params = {"pageSize": 2} | ({"pageToken": token} if token else {})
        body = http.get("/v1beta/files", params=params, headers=AUTH).json()
        pages += 1
        assert body["files"], "a page must never be empty"
        seen += [f["name"] for f in body["files"]]
        token = body.get("nextPageToken")
        if token is None:
            break
    assert pages == 3
    assert seen == list(reversed(names))


def test_a_file_listing_page_token_does_not_resume_the_batch_listing(http: httpx.Client) -> None:
    for i in range(2):
        upload(http, f"{i}\n".encode())
    token = http.get("/v1beta/files", params={"pageSize": 1}, headers=AUTH).json()["nextPageToken"]
    response = http.get("/v1beta/batches", params={"pageToken": token}, headers=AUTH)
    assert response.status_code == 400
    assert error_of(response) == {
        "code": 400,
        "message": f"Invalid page token: {token}",
        "status": "INVALID_ARGUMENT",
    }


def test_a_file_listing_page_token_resumes_under_another_page_size(http: httpx.Client) -> None:
    names = [upload(http, f"{i}\n".encode())["name"] for i in range(3)]
    token = http.get("/v1beta/files", params={"pageSize": 1}, headers=AUTH).json()["nextPageToken"]
    rest = http.get("/v1beta/files", params={"pageSize": 5, "pageToken": token}, headers=AUTH).json()
    assert [f["name"] for f in rest["files"]] == names[1::-1]


@pytest.mark.parametrize("path", ["/v1beta/files", "/v1beta/batches", "/v1beta/files/abc", "/v1beta/batches/abc"])
def test_a_query_parameter_the_method_does_not_define_is_refused(http: httpx.Client, path: str) -> None:
    response = http.get(path, params={"pagesize": "5"}, headers=AUTH)
    assert response.status_code == 400
    assert error_of(response) == {
        "code": 400,
        "message": 'Invalid JSON payload received. Unknown name "pagesize": Cannot bind query parameter. '
        "Field 'pagesize' could not be found in request message.",
        "status": "INVALID_ARGUMENT",
    }


def test_list_fields_bind_under_either_spelling_beside_the_system_parameters(http: httpx.Client) -> None:
    for params in ({"page_size": "5", "prettyPrint": "false"}, {"pageSize": "5", "page_token": ""}):
        assert http.get("/v1beta/files", params=params, headers=AUTH).status_code == 200
    assert http.get("/v1beta/batches", params={"filter": "", "pageSize": "5"}, headers=AUTH).status_code == 200


def test_delete_file_returns_empty_object_and_file_is_gone(http: httpx.Client) -> None:
    name = upload(http, b"a\n")["name"]
    response = http.delete(f"/v1beta/{name}", headers=AUTH)
    assert response.status_code == 200
    assert response.json() == {}
    assert http.get(f"/v1beta/{name}", headers=AUTH).status_code == 403


def test_download_of_uploaded_file_is_refused(http: httpx.Client) -> None:
    name = upload(http, b"a\n")["name"]
    response = http.get(f"/v1beta/{name}:download", params={"alt": "media"}, headers=AUTH)
    assert response.status_code == 400
    assert error_of(response)["status"] == "INVALID_ARGUMENT"


# Batch Operations


def test_new_batch_is_a_pending_operation_with_string_stats_and_zeros_omitted(http: httpx.Client) -> None:
    rows = [generate_line(f"k{i}", f"question {i}") for i in range(3)]
    input_file = upload(http, jsonl(rows))
    operation = create_batch(http, {"batch": {"displayName": "shape", "inputConfig": {"fileName": input_file["name"]}}})
    assert set(operation) == {"name", "metadata"}
    batch_id = operation["name"].removeprefix("batches/")
    assert len(batch_id) == 36
    assert batch_id.isalnum()
    assert batch_id == batch_id.lower()
    metadata = operation["metadata"]
    assert metadata["@type"] == TYPE_PREFIX + "GenerateContentBatch"
    assert metadata["model"] == "models/gemini-2.5-flash"
    assert metadata["displayName"] == "shape"
    assert metadata["name"] == operation["name"]
    assert metadata["inputConfig"] == {"fileName": input_file["name"]}
    assert metadata["batchStats"] == {"requestCount": "3", "pendingRequestCount": "3"}
    assert metadata["state"] == "BATCH_STATE_PENDING"
    assert metadata["createTime"].endswith("Z")
    assert "output" not in metadata
    assert "endTime" not in metadata


def test_batch_state_progresses_pending_running_succeeded(http: httpx.Client) -> None:
    operation = file_batch(http, [generate_line("a", "hi")])
    states = [operation["metadata"]["state"]]
    deadline = time.monotonic() + 15
    while states[-1] != "BATCH_STATE_SUCCEEDED" and time.monotonic() < deadline:
        state = get_batch(http, operation["name"])["metadata"]["state"]
        if state != states[-1]:
            states.append(state)
        time.sleep(0.02)
    assert states == ["BATCH_STATE_PENDING", "BATCH_STATE_RUNNING", "BATCH_STATE_SUCCEEDED"]


def test_succeeded_file_batch_operation_carries_output_response_and_counts(http: httpx.Client) -> None:
    rows = [generate_line("ok", "fine"), generate_line("bad", f"please {FAIL_MARKER}")]
    operation = wait_done(http, file_batch(http, rows)["name"])
    batch_id = operation["name"].removeprefix("batches/")
    result_name = f"files/batch-{batch_id}"
    metadata = operation["metadata"]
    assert operation["done"] is True
    assert "error" not in operation
    assert metadata["state"] == "BATCH_STATE_SUCCEEDED"
    assert metadata["output"] == {"responsesFile": result_name}
    assert operation["response"] == {
        "@type": TYPE_PREFIX + "GenerateContentBatchOutput",
        "responsesFile": result_name,
    }
    assert metadata["batchStats"] == {
        "requestCount": "2",
        "successfulRequestCount": "1",
        "failedRequestCount": "1",
    }
    assert metadata["endTime"] >= metadata["createTime"]


def test_all_rows_succeeding_omits_failed_count(http: httpx.Client) -> None:
    operation = wait_done(http, file_batch(http, [generate_line("a", "x"), generate_line("b", "y")])["name"])
    assert operation["metadata"]["batchStats"] == {"requestCount": "2", "successfulRequestCount": "2"}


def test_result_file_name_is_over_40_chars_so_get_and_delete_fail_but_download_works(
    http: httpx.Client,
) -> None:
    operation = wait_done(http, file_batch(http, [generate_line("a", "x")])["name"])
    result_name = operation["response"]["responsesFile"]
    assert len(result_name.removeprefix("files/")) > 40
    for method, request in (("DELETE", "DeleteFileRequest"), ("GET", "GetFileRequest")):
        refused = http.request(method, f"/v1beta/{result_name}", headers=AUTH)
        assert refused.status_code == 400
        assert error_of(refused) == {
            "code": 400,
            "message": f"* {request}.name: File ID (name excluding 'files/') cannot be more than 40 characters.\n",
            "status": "INVALID_ARGUMENT",
        }
    assert download(http, result_name)[0]["key"] == "a"
    documented = http.get(f"/download/v1beta/{result_name}:download", params={"alt": "media"}, headers=AUTH)
    assert documented.status_code == 200
    assert json.loads(documented.text.splitlines()[0])["key"] == "a"


def test_result_file_is_listed_as_generated_with_download_uri(http: httpx.Client, emulator: EmulatorServer) -> None:
    operation = wait_done(http, file_batch(http, [generate_line("a", "x")])["name"])
    result_name = operation["response"]["responsesFile"]
    listed = {f["name"]: f for f in http.get("/v1beta/files", headers=AUTH).json()["files"]}
    result = listed[result_name]
    assert result["source"] == "GENERATED"
    assert result["downloadUri"] == f"{emulator.base_url}/download/v1beta/{result_name}:download?alt=media"


def test_result_lines_follow_input_order_with_keys_text_and_usage(http: httpx.Client) -> None:
    rows = [generate_line(f"key-{i}", f"what is {i} plus {i}") for i in range(5)]
    operation = wait_done(http, file_batch(http, rows)["name"])
    lines = download(http, operation["response"]["responsesFile"])
    assert [line["key"] for line in lines] == [f"key-{i}" for i in range(5)]
    first = lines[0]["response"]
    candidate = first["candidates"][0]
    assert candidate["content"] == {"parts": [{"text": "Answer to: what is 0 plus 0"}], "role": "model"}
    assert candidate["finishReason"] == "STOP"
    assert candidate["index"] == 0
    assert first["usageMetadata"] == {"promptTokenCount": 5, "candidatesTokenCount": 7, "totalTokenCount": 12}
    assert first["modelVersion"] == "gemini-2.5-flash"
    assert first["responseId"]


def test_fail_marker_turns_its_row_into_an_error(http: httpx.Client) -> None:
    rows = [generate_line("good", "hello"), generate_line("bad", f"hello {FAIL_MARKER}")]
    operation = wait_done(http, file_batch(http, rows)["name"])
    good, bad = download(http, operation["response"]["responsesFile"])
    assert "response" in good
    assert bad["key"] == "bad"
    assert "response" not in bad
    assert bad["error"]["code"] == 400
    assert bad["error"]["status"] == "INVALID_ARGUMENT"


def test_unparseable_line_becomes_error_row_with_null_key(http: httpx.Client) -> None:
    data = jsonl([generate_line("a", "x")]) + b"{not json\n" + jsonl([generate_line("c", "z")])
    input_file = upload(http, data)
    operation = wait_done(
        http, create_batch(http, {"batch": {"inputConfig": {"fileName": input_file["name"]}}})["name"]
    )
    lines = download(http, operation["response"]["responsesFile"])
    assert [line["key"] for line in lines] == ["a", None, "c"]
    assert lines[1]["error"]["code"] == 400
    assert "line 2" in lines[1]["error"]["message"]
    assert operation["metadata"]["batchStats"]["failedRequestCount"] == "1"


def test_request_with_unknown_field_in_file_becomes_error_row(http: httpx.Client) -> None:
    row = {"key": "flat", "request": {"contents": [{"parts": [{"text": "x"}]}], "thinking_config": {}}}
    operation = wait_done(http, file_batch(http, [row])["name"])
    (line,) = download(http, operation["response"]["responsesFile"])
    assert line["key"] == "flat"
    assert "no such field: 'thinking_config'" in line["error"]["message"]


CALL = {"functionCall": {"name": "weather", "args": {"city": "Paris"}}}
ANSWER = {"functionResponse": {"name": "weather", "response": {"temp": 21}}}
QUESTION = {"role": "user", "parts": [{"text": "Weather in Paris?"}]}


@pytest.mark.parametrize(
    ("contents", "message"),
    [
        (
            [{"role": "model", "parts": [CALL]}],
            "Please ensure that function call turn comes immediately after a user turn or after a function response "
            "turn.",
        ),
        (
            [QUESTION, {"role": "model", "parts": [CALL, CALL]}, {"role": "user", "parts": [ANSWER]}],
            "Please ensure that the number of function response parts is equal to the number of function call parts "
            "of the function call turn.",
        ),
        (
            [QUESTION, {"role": "user", "parts": [ANSWER]}],
            "Please ensure that function response turn comes immediately after a function call turn.",
        ),
    ],
)
def test_a_request_breaking_the_function_calling_turn_rules_fails_alone_with_the_apis_400(
    http: httpx.Client, contents: list[dict[str, Any]], message: str
) -> None:
    rows = [generate_line("good", "hello"), {"key": "turns", "request": {"contents": contents}}]
    operation = wait_done(http, file_batch(http, rows)["name"])
    good, bad = download(http, operation["response"]["responsesFile"])
    assert "response" in good
    assert bad == {"key": "turns", "error": {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}}


def test_a_conversation_answering_each_call_in_the_next_turn_is_answered(http: httpx.Client) -> None:
    contents = [QUESTION, {"role": "model", "parts": [CALL]}, {"role": "user", "parts": [ANSWER]}]
    operation = wait_done(http, file_batch(http, [{"key": "turns", "request": {"contents": contents}}])["name"])
    (row,) = download(http, operation["response"]["responsesFile"])
    assert "response" in row


def test_an_inline_request_setting_a_thinking_budget_and_level_fails_alone_with_the_apis_400(
    http: httpx.Client,
) -> None:
    thinking = {"thinkingConfig": {"thinkingBudget": 128, "thinkingLevel": "LOW"}}
    requests = [
        {"request": {"contents": [QUESTION]}},
        {"request": {"contents": [QUESTION], "generationConfig": thinking}},
    ]
    created = create_batch(http, {"batch": {"inputConfig": {"requests": {"requests": requests}}}})
    rows = wait_done(http, created["name"])["metadata"]["output"]["inlinedResponses"]["inlinedResponses"]
    assert "response" in rows[0]
    assert rows[1]["error"] == {
        "code": 400,
        "message": "You can only set only one of thinking budget and thinking level.",
        "status": "INVALID_ARGUMENT",
    }


def test_inline_batch_output_is_doubly_nested_and_echoes_metadata(http: httpx.Client) -> None:
    requests = [
        {"request": {"contents": [{"parts": [{"text": "one"}], "role": "user"}]}, "metadata": {"key": "r1"}},
        {"request": {"contents": [{"parts": [{"text": FAIL_MARKER}]}]}, "metadata": {"key": "r2"}},
    ]
    created = create_batch(
        http, {"batch": {"display_name": "inline", "input_config": {"requests": {"requests": requests}}}}
    )
    operation = wait_done(http, created["name"])
    rows = operation["metadata"]["output"]["inlinedResponses"]["inlinedResponses"]
    assert operation["response"]["inlinedResponses"]["inlinedResponses"] == rows
    assert operation["response"]["@type"] == TYPE_PREFIX + "GenerateContentBatchOutput"
    assert rows[0]["metadata"] == {"key": "r1"}
    assert rows[0]["response"]["candidates"][0]["content"]["parts"][0]["text"] == "Answer to: one"
    assert rows[1]["metadata"] == {"key": "r2"}
    assert rows[1]["error"]["code"] == 400
    assert operation["metadata"]["displayName"] == "inline"


def test_inline_responses_leave_out_their_metadata_in_drop_metadata_mode(
    http: httpx.Client, emulator: EmulatorServer
) -> None:
    emulator.config(gemini_drop_inline_metadata=True)
    requests = [
        {"request": {"contents": [{"parts": [{"text": "one"}]}]}, "metadata": {"key": "r1"}},
        {"request": {"contents": [{"parts": [{"text": FAIL_MARKER}]}]}, "metadata": {"key": "r2"}},
    ]
    created = create_batch(http, {"batch": {"inputConfig": {"requests": {"requests": requests}}}})
    rows = wait_done(http, created["name"])["metadata"]["output"]["inlinedResponses"]["inlinedResponses"]
    assert [sorted(row) for row in rows] == [["response"], ["error"]]
    assert rows[0]["response"]["candidates"][0]["content"]["parts"][0]["text"] == "Answer to: one"


def test_inline_store_and_continuation_token_are_top_level_request_fields(http: httpx.Client) -> None:
    request = {"contents": [{"parts": [{"text": "x"}]}], "store": True, "continuation_token": "Y29udGludWU-X18"}
    created = create_batch(http, {"batch": {"inputConfig": {"requests": {"requests": [{"request": request}]}}}})
    rows = wait_done(http, created["name"])["metadata"]["output"]["inlinedResponses"]["inlinedResponses"]
    assert "response" in rows[0]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "store",
            "yes",
            "Invalid value at 'batch.input_config.requests.requests[0].request.store' (TYPE_BOOL), \"yes\"",
        ),
        (
            "continuationToken",
            "not base64!",
            "Invalid value at 'batch.input_config.requests.requests[0].request.continuation_token' (TYPE_BYTES), "
            'Base64 decoding failed for "not base64!"',
        ),
    ],
)
def test_an_inline_store_or_continuation_token_of_the_wrong_type_is_rejected_at_creation(
    http: httpx.Client, field: str, value: Any, message: str
) -> None:
    request = {"contents": [{"parts": [{"text": "x"}]}], field: value}
    response = http.post(
        "/v1beta/models/gemini-2.5-flash:batchGenerateContent",
        headers=AUTH,
        json={"batch": {"inputConfig": {"requests": {"requests": [{"request": request}]}}}},
    )
    assert response.status_code == 400
    assert error_of(response) == {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}


def test_a_file_line_whose_store_is_not_a_boolean_becomes_an_error_row(http: httpx.Client) -> None:
    row = {"key": "s", "request": {"contents": [{"parts": [{"text": "x"}]}], "store": 1}}
    operation = wait_done(http, file_batch(http, [row])["name"])
    (line,) = download(http, operation["response"]["responsesFile"])
    assert line["key"] == "s"
    assert "Invalid value at 'request.store' (TYPE_BOOL), 1" in line["error"]["message"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("displayName", 5, "Invalid value at 'batch.display_name' (TYPE_STRING), 5"),
        ("displayName", ["job"], "Invalid value at 'batch.display_name' (TYPE_STRING), [\"job\"]"),
        ("priority", True, "Invalid value at 'batch.priority' (TYPE_INT64), true"),
        ("priority", 1.5, "Invalid value at 'batch.priority' (TYPE_INT64), 1.5"),
        ("priority", "1_000", "Invalid value at 'batch.priority' (TYPE_INT64), \"1_000\""),
        ("priority", " 7", "Invalid value at 'batch.priority' (TYPE_INT64), \" 7\""),
        ("priority", str(2**63), f"Invalid value at 'batch.priority' (TYPE_INT64), \"{2**63}\""),
    ],
)
def test_a_batch_display_name_or_priority_of_the_wrong_type_is_refused(
    http: httpx.Client, field: str, value: Any, message: str
) -> None:
    requests = [{"request": {"contents": [{"parts": [{"text": "x"}]}]}}]
    response = http.post(
        "/v1beta/models/gemini-2.5-flash:batchGenerateContent",
        headers=AUTH,
        json={"batch": {"inputConfig": {"requests": {"requests": requests}}, field: value}},
    )
    assert response.status_code == 400
    assert error_of(response) == {"code": 400, "message": message, "status": "INVALID_ARGUMENT"}


@pytest.mark.parametrize("priority", [7, "-3", 2.0, str(2**63 - 1)])
def test_a_batch_priority_as_an_int64_number_or_string_is_taken(http: httpx.Client, priority: Any) -> None:
    requests = [{"request": {"contents": [{"parts": [{"text": "x"}]}]}}]
    created = create_batch(http, {"batch": {"inputConfig": {"requests": {"requests": requests}}, "priority": priority}})
    assert created["metadata"]["state"] == "BATCH_STATE_PENDING"


def test_inline_request_metadata_that_is_not_an_object_is_rejected_at_creation(http: httpx.Client) -> None:
    entry = {"request": {"contents": [{"parts": [{"text": "x"}]}]}, "metadata": "k1"}
    response = http.post(
        "/v1beta/models/gemini-2.5-flash:batchGenerateContent",
        headers=AUTH,
        json={"batch": {"inputConfig": {"requests": {"requests": [entry]}}}},
    )
    assert response.status_code == 400
    assert error_of(response)["message"] == (
        "Invalid value at 'batch.input_config.requests.requests[0].metadata' "
        '(type.googleapis.com/google.protobuf.Struct), "k1"'
    )


def test_inline_request_with_unknown_field_is_rejected_at_creation(http: httpx.Client) -> None:
    bad = {"request": {"contents": [{"parts": [{"text": "x"}]}], "temperature": 0.5}}
    response = http.post(
        "/v1beta/models/gemini-2.5-flash:batchGenerateContent",
        headers=AUTH,
        json={"batch": {"inputConfig": {"requests": {"requests": [bad]}}}},
    )
    assert response.status_code == 400
    error = error_of(response)
    assert error["status"] == "INVALID_ARGUMENT"
    assert 'Unknown name "temperature"' in error["message"]


PAYLOAD_LIMIT = 20 * 1024 * 1024


def inline_body_of_size(size: int) -> bytes:
    """An inline batch create body of exactly ``size`` bytes (one request whose text pads it out)."""

    def body_with(text: str) -> bytes:
        request = {"request": generate_line("k", text)["request"], "metadata": {"key": "k"}}
        return json.dumps({"batch": {"inputConfig": {"requests": {"requests": [request]}}}}).encode()

    body = body_with("x" * (size - len(body_with(""))))
    assert len(body) == size
    return body


def post_inline(http: httpx.Client, content: Any) -> httpx.Response:
    """POST a raw inline batch create body."""
    return http.post(
        "/v1beta/models/gemini-2.5-flash:batchGenerateContent",
        headers={**AUTH, "content-type": "application/json"},
        content=content,
    )


def test_an_inline_batch_body_of_20_mib_is_accepted(http: httpx.Client) -> None:
    response = post_inline(http, inline_body_of_size(PAYLOAD_LIMIT))
    assert response.status_code == 200, response.text[:200]


def test_an_inline_batch_body_over_20_mib_is_refused_as_googles_front_end_refuses_it(http: httpx.Client) -> None:
    response = post_inline(http, inline_body_of_size(PAYLOAD_LIMIT + 1))
    assert response.status_code == 400
    assert error_of(response) == {
        "code": 400,
        "message": "Request payload size exceeds the limit: 20971520 bytes.",
        "status": "INVALID_ARGUMENT",
    }


def test_an_inline_batch_body_over_20_mib_sent_without_a_length_is_refused(http: httpx.Client) -> None:
    body = inline_body_of_size(PAYLOAD_LIMIT + 1)
    response = post_inline(http, iter([body[: len(body) // 2], body[len(body) // 2 :]]))
    assert response.status_code == 400
    assert error_of(response)["message"] == "Request payload size exceeds the limit: 20971520 bytes."


def test_embedding_batch_returns_unit_vectors_of_requested_size(http: httpx.Client) -> None:
    requests = [
        {"request": {"content": {"parts": [{"text": "alpha"}]}, "outputDimensionality": 4}, "metadata": {"k": 1}},
        {"request": {"content": {"parts": [{"text": "beta"}]}}},
    ]
    response = http.post(
        "/v1beta/models/gemini-embedding-001:asyncBatchEmbedContent",
        headers=AUTH,
        json={"batch": {"inputConfig": {"requests": {"requests": requests}}}},
    )
    assert response.status_code == 200
    assert response.json()["metadata"]["@type"] == TYPE_PREFIX + "EmbedContentBatch"
    operation = wait_done(http, response.json()["name"])
    assert operation["response"]["@type"] == TYPE_PREFIX + "EmbedContentBatchOutput"
    assert set(operation["metadata"]["output"]) == {"inlinedResponses"}  # as for generation; the SDK renames it
    first, second = operation["response"]["inlinedResponses"]["inlinedResponses"]
    assert first["metadata"] == {"k": 1}
    values = first["response"]["embedding"]["values"]
    assert len(values) == 4
    assert abs(sum(v * v for v in values) - 1.0) < 1e-9
    assert len(second["response"]["embedding"]["values"]) == 8


def test_embedding_file_batch_writes_embedding_lines(http: httpx.Client) -> None:
    rows = [{"key": "e1", "request": {"content": {"parts": [{"text": "alpha"}]}}}]
    input_file = upload(http, jsonl(rows))
    response = http.post(
        "/v1beta/models/gemini-embedding-001:asyncBatchEmbedContent",
        headers=AUTH,
        json={"batch": {"inputConfig": {"file_name": input_file["name"]}}},
    )
    operation = wait_done(http, response.json()["name"])
    (line,) = download(http, operation["response"]["responsesFile"])
    assert line["key"] == "e1"
    assert len(line["response"]["embedding"]["values"]) == 8


def test_unknown_input_file_is_not_found(http: httpx.Client) -> None:
    response = http.post(
        "/v1beta/models/gemini-2.5-flash:batchGenerateContent",
        headers=AUTH,
        json={"batch": {"inputConfig": {"fileName": "files/missing"}}},
    )
    assert response.status_code == 404
    assert error_of(response)["status"] == "NOT_FOUND"


def test_cancel_pending_batch_ends_cancelled_with_code_1(http: httpx.Client, emulator: EmulatorServer) -> None:
    emulator.config(pending_seconds=30)
    name = file_batch(http, [generate_line("a", "x")])["name"]
    response = http.post(f"/v1beta/{name}:cancel", headers=AUTH)
    assert response.status_code == 200
    assert response.json() == {}
    operation = get_batch(http, name)
    assert operation["done"] is True
    assert operation["metadata"]["state"] == "BATCH_STATE_CANCELLED"
    assert operation["error"]["code"] == 1
    assert "output" not in operation["metadata"]
    assert "response" not in operation


def test_cancel_of_finished_batch_is_failed_precondition(http: httpx.Client) -> None:
    name = wait_done(http, file_batch(http, [generate_line("a", "x")])["name"])["name"]
    response = http.post(f"/v1beta/{name}:cancel", headers=AUTH)
    assert response.status_code == 400
    assert error_of(response)["status"] == "FAILED_PRECONDITION"


def test_forced_failure_ends_failed_with_error_and_no_output(http: httpx.Client, emulator: EmulatorServer) -> None:
    emulator.config(job_outcome="fail")
    operation = wait_done(http, file_batch(http, [generate_line("a", "x")])["name"])
    assert operation["metadata"]["state"] == "BATCH_STATE_FAILED"
    assert set(operation["error"]) == {"code", "message"}
    assert "output" not in operation["metadata"]
    assert "response" not in operation


def test_forced_expiry_ends_expired_without_results(http: httpx.Client, emulator: EmulatorServer) -> None:
    emulator.config(job_outcome="expire")
    operation = wait_done(http, file_batch(http, [generate_line("a", "x")])["name"])
    assert operation["metadata"]["state"] == "BATCH_STATE_EXPIRED"
    assert "error" in operation
    assert "response" not in operation
    files = http.get("/v1beta/files", headers=AUTH).json()["files"]
    assert [f["source"] for f in files] == ["UPLOADED"]


def test_batch_list_is_newest_first_and_omits_outputs(http: httpx.Client) -> None:
    first = wait_done(http, file_batch(http, [generate_line("a", "x")], display_name="first")["name"])
    second = file_batch(http, [generate_line("b", "y")], display_name="second")
    page = http.get("/v1beta/batches", params={"pageSize": 1}, headers=AUTH).json()
    assert [op["name"] for op in page["operations"]] == [second["name"]]
    last = http.get("/v1beta/batches", params={"pageSize": 1, "pageToken": page["nextPageToken"]}, headers=AUTH).json()
    assert [op["name"] for op in last["operations"]] == [first["name"]]
    assert "nextPageToken" not in last
    listed = last["operations"][0]
    assert listed["metadata"]["state"] == "BATCH_STATE_SUCCEEDED"
    assert "output" not in listed["metadata"]
    assert "response" not in listed


def test_deleted_batch_is_gone_from_api_but_kept_in_control_history(
    http: httpx.Client, emulator: EmulatorServer
) -> None:
    name = file_batch(http, [generate_line("a", "x")])["name"]
    response = http.delete(f"/v1beta/{name}", headers=AUTH)
    assert response.status_code == 200
    assert response.json() == {}
    missing = http.get(f"/v1beta/{name}", headers=AUTH)
    assert missing.status_code == 404
    assert error_of(missing)["status"] == "NOT_FOUND"
    (job,) = emulator.jobs()
    assert job["name"] == name
    assert job["deleted"] is True
    assert job["provider"] == "gemini"


def test_v1_paths_serve_the_same_api(http: httpx.Client) -> None:
    input_file = upload(http, jsonl([generate_line("a", "x")]))
    operation = create_batch(http, {"batch": {"inputConfig": {"fileName": input_file["name"]}}}, version="v1")
    assert http.get(f"/v1/{operation['name']}", headers=AUTH).status_code == 200
    assert http.get(f"/v1/{input_file['name']}", headers=AUTH).json()["uri"].endswith(f"/v1/{input_file['name']}")


# Control plane


def test_request_log_keeps_json_bodies_but_not_chunk_bytes(http: httpx.Client, emulator: EmulatorServer) -> None:
    upload(http, b'{"secret": "chunk"}\n')
    start, chunk = emulator.requests()
    assert start["json"] == {"file": {"display_name": "input"}}
    assert start["headers"]["x-goog-upload-command"] == "start"
    assert "upload_id=" in chunk["query"]
    assert chunk["json"] is None
    assert chunk["headers"]["x-goog-upload-offset"] == "0"


def test_jobs_endpoint_reports_native_state_and_request_count(http: httpx.Client, emulator: EmulatorServer) -> None:
    emulator.config(job_outcome="stuck")  # still pending however long the listing takes
    name = file_batch(http, [generate_line("a", "x"), generate_line("b", "y")], display_name="tracked")["name"]
    (job,) = emulator.jobs()
    assert job["name"] == name
    assert job["display_name"] == "tracked"
    assert job["state"] == "BATCH_STATE_PENDING"
    assert job["request_count"] == 2


def test_config_update_is_partial_and_reset_restores_launch_config(emulator: EmulatorServer) -> None:
    changed = emulator.config(running_seconds=5, job_outcome="fail")
    assert changed["running_seconds"] == 5
    assert changed["pending_seconds"] == 0.2
    assert changed["job_outcome"] == "fail"
    emulator.reset()
    assert emulator.config()["job_outcome"] == "succeed"
    assert emulator.config()["running_seconds"] == 0.3


@pytest.mark.parametrize(("written", "size"), [(8, 8), ("8", 8), (8.0, 8)])
def test_an_embedding_size_is_read_as_proto_json_reads_an_int32(written: Any, size: int) -> None:
    request = {"content": {"parts": [{"text": "The sea is wide."}]}, "outputDimensionality": written}
    assert len(embed_response(request)["response"]["embedding"]["values"]) == size


@pytest.mark.parametrize("written", ["8.5", "eight", True, [8]])
def test_an_embedding_size_proto_json_cannot_read_fails_its_request(written: Any) -> None:
    request = {"content": {"parts": [{"text": "The sea is wide."}]}, "outputDimensionality": written}
    assert embed_response(request)["error"]["message"] == "outputDimensionality must be an integer."


def test_an_embedding_size_over_the_largest_a_model_returns_fails_its_request() -> None:
    request = {"content": {"parts": [{"text": "The sea is wide."}]}, "outputDimensionality": "256256256"}
    assert embed_response(request)["error"]["message"] == "outputDimensionality must be at most 3072."


INLINE_BATCH = {
    "batch": {"inputConfig": {"requests": {"requests": [{"request": {"contents": [{"parts": [{"text": "x"}]}]}}]}}}
}


@pytest.mark.parametrize(
    ("version", "model", "method"),
    [
        ("v1beta", "gemini-9.9-ultra", "batchGenerateContent"),
        ("v1", "gemini-2.5-flash-preview-tts", "batchGenerateContent"),
        ("v1beta", "gemini-embedding-001", "batchGenerateContent"),
        ("v1beta", "gemini-2.5-flash", "asyncBatchEmbedContent"),
    ],
    ids=["unknown", "speech-only", "embedding-model-generating", "generating-model-embedding"],
)
def test_a_model_the_api_does_not_batch_for_the_method_is_not_found(
    http: httpx.Client, version: str, model: str, method: str
) -> None:
    response = http.post(f"/{version}/models/{model}:{method}", headers=AUTH, json=INLINE_BATCH)
    assert response.status_code == 404
    assert error_of(response) == {
        "code": 404,
        "message": f"models/{model} is not found for API version {version}, or is not supported for {method}. "
        "Call ListModels to see the list of available models and their supported methods.",
        "status": "NOT_FOUND",
    }


@pytest.mark.parametrize("model", ["gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite"])
def test_each_batch_model_creates_a_generate_batch(http: httpx.Client, model: str) -> None:
    response = http.post(f"/v1beta/models/{model}:batchGenerateContent", headers=AUTH, json=INLINE_BATCH)
    assert response.status_code == 200, response.text
    assert response.json()["metadata"]["model"] == f"models/{model}"


def test_a_tuned_model_is_the_users_own_and_is_not_checked(http: httpx.Client) -> None:
    response = http.post("/v1beta/tunedModels/my-tuned-7:batchGenerateContent", headers=AUTH, json=INLINE_BATCH)
    assert response.status_code == 200, response.text
    assert response.json()["metadata"]["model"] == "tunedModels/my-tuned-7"
