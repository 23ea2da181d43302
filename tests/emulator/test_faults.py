"""The emulator's fault injection, over raw HTTP: each fault kind, its provider-shaped body, its counters.

Faults are switched per test through the control plane (``EmulatorServer.config(faults=...)``); the
module's emulator starts without any, and every test starts from a reset.
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from airflow_provider_genai_batch.testing.emulator import EmulatorServer, control, faults
from airflow_provider_genai_batch.testing.emulator import __main__ as cli
from airflow_provider_genai_batch.testing.emulator.config import EmulatorConfig
from airflow_provider_genai_batch.testing.emulator.gateway import forwarding as gateway_targets

API_KEY = "fault-test-key"
GEMINI = {"x-goog-api-key": API_KEY}
ANTHROPIC = {"x-api-key": API_KEY, "anthropic-version": "2023-06-01"}
OPENAI = {"Authorization": f"Bearer {API_KEY}"}


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(pending_seconds=0.05, running_seconds=0.05, api_key=API_KEY) as server:
        yield server


@pytest.fixture
def http(emulator: EmulatorServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.base_url, timeout=30.0) as client:
        yield client


def gemini_batch(http: httpx.Client, *texts: str) -> httpx.Response:
    """Create a Gemini batch with inline requests."""
    requests = [{"request": {"contents": [{"parts": [{"text": t}]}]}, "metadata": {"key": t}} for t in texts or ("hi",)]
    body = {"batch": {"displayName": "faults", "inputConfig": {"requests": {"requests": requests}}}}
    return http.post("/v1beta/models/gemini-2.5-flash:batchGenerateContent", headers=GEMINI, json=body)


def anthropic_batch(http: httpx.Client) -> httpx.Response:
    params = {"model": "claude-sonnet-4-5", "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
    return http.post(
        "/anthropic/v1/messages/batches", headers=ANTHROPIC, json={"requests": [{"custom_id": "a", "params": params}]}
    )


def openai_upload(http: httpx.Client, data: bytes) -> httpx.Response:
    return http.post(
        "/openai/v1/files",
        headers=OPENAI,
        files={"file": ("input.jsonl", data, "application/jsonl")},
        data={"purpose": "batch"},
    )


def start_upload(http: httpx.Client, size: int) -> str:
    response = http.post(
        "/upload/v1beta/files",
        headers={
            **GEMINI,
            "X-Goog-Upload-Protocol": "resumable",
            "X-Goog-Upload-Command": "start",
            "X-Goog-Upload-Header-Content-Length": str(size),
            "X-Goog-Upload-Header-Content-Type": "application/jsonl",
        },
        json={"file": {"displayName": "input"}},
    )
    assert response.status_code == 200, response.text
    return response.headers["x-goog-upload-url"]


def chunk(http: httpx.Client, url: str, data: bytes, offset: int, command: str) -> httpx.Response:
    return http.post(url, content=data, headers={"X-Goog-Upload-Command": command, "X-Goog-Upload-Offset": str(offset)})


def wait_done(http: httpx.Client, name: str, timeout: float = 15.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        operation = http.get(f"/v1beta/{name}", headers=GEMINI).json()
        if operation.get("done") or time.monotonic() > deadline:
            return operation
        time.sleep(0.05)


def jsonl_input(count: int, padding: int = 200) -> bytes:
    lines = [
        json.dumps({"key": f"k{i}", "request": {"contents": [{"parts": [{"text": f"q{i} " + "x" * padding}]}]}})
        for i in range(count)
    ]
    return ("\n".join(lines) + "\n").encode()


def file_job_output(http: httpx.Client, data: bytes) -> str:
    """Upload, create a file batch, wait for it, and return its responses file name."""
    url = start_upload(http, len(data))
    uploaded = chunk(http, url, data, 0, "upload, finalize").json()["file"]
    body = {"batch": {"displayName": "dl", "inputConfig": {"fileName": uploaded["name"]}}}
    created = http.post("/v1beta/models/gemini-2.5-flash:batchGenerateContent", headers=GEMINI, json=body).json()
    return wait_done(http, created["name"])["response"]["responsesFile"]


# --- configuration ------------------------------------------------------------------------------------


def test_faults_are_off_by_default_and_set_through_the_control_plane(emulator: EmulatorServer):
    assert emulator.config()["faults"]["error_rate"] == 0.0
    assert emulator.faults() == {
        "counts": dict.fromkeys(faults.FAULT_KINDS, 0),
        "total": 0,
        "statuses": {},
        "events": [],
    }

    applied = emulator.config(faults={"error_rate": 0.25, "seed": 3})["faults"]

    assert (applied["error_rate"], applied["seed"], applied["lost_rate"]) == (0.25, 3, 0.0)
    assert emulator.config(faults={})["faults"]["error_rate"] == 0.0  # {} turns every fault off


@pytest.mark.parametrize(
    "bad",
    [{"error_rate": 1.5}, {"error_statuses": [200]}, {"paths": "("}, {"cut_fraction": 1}, {"surprise": 1}],
)
def test_invalid_fault_configs_are_refused(http: httpx.Client, bad: dict[str, Any]):
    response = http.post("/_emulator/config", json={"faults": bad})

    assert response.status_code == 422, response.text
    assert http.get("/_emulator/config").json()["faults"]["error_rate"] == 0.0


def test_the_control_plane_is_never_faulted(emulator: EmulatorServer, http: httpx.Client):
    emulator.config(faults={"error_rate": 1.0, "lost_rate": 1.0, "slow_rate": 1.0, "latency_seconds": 5})

    for path in ("/_emulator/health", "/_emulator/config", "/_emulator/jobs", "/_emulator/requests"):
        assert http.get(path, timeout=2.0).status_code == 200
    assert faults.CONTROL_PREFIX == control.CONTROL_PREFIX
    assert faults.FORWARDED_HEADER == gateway_targets.FORWARDED_HEADER
    assert emulator.faults()["total"] == 0


# --- errors before the handler ------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 500, 503])
def test_an_injected_gemini_error_has_google_s_envelope_and_nothing_happens(
    emulator: EmulatorServer, http: httpx.Client, status: int
):
    emulator.config(faults={"error_rate": 1.0, "error_statuses": [status], "retry_after": 2})

    response = gemini_batch(http)

    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == status
    assert error["status"] == {429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}[status]
    assert "injected" in error["message"]
    assert response.headers.get("retry-after") == ("2" if status in (429, 503) else None)
    assert emulator.jobs() == []  # the handler never ran
    assert emulator.faults()["counts"]["error"] == 1
    assert emulator.faults()["statuses"] == {str(status): 1}


def test_an_injected_openai_error_has_openai_s_envelope(emulator: EmulatorServer, http: httpx.Client):
    emulator.config(faults={"error_rate": 1.0, "error_statuses": [429]})

    response = http.get("/openai/v1/batches", headers=OPENAI)

    assert response.status_code == 429
    assert response.json() == {
        "error": {
            "message": response.json()["error"]["message"],
            "type": "requests",
            "param": None,
            "code": "rate_limit_exceeded",
        }
    }
    assert response.headers["retry-after"] == "1"


def test_an_injected_anthropic_error_has_anthropic_s_envelope_and_nothing_happens(
    emulator: EmulatorServer, http: httpx.Client
):
    emulator.config(faults={"error_rate": 1.0, "error_statuses": [429]})

    response = anthropic_batch(http)

    assert response.status_code == 429
    body = response.json()
    assert body["type"] == "error"
    assert body["error"]["type"] == "rate_limit_error"
    assert "injected" in body["error"]["message"]
    assert emulator.jobs() == []


def test_error_bodies_follow_the_path_prefix():
    assert faults.error_body("/openai/v1/files", 500)[0]["error"]["type"] == "server_error"
    assert faults.error_body("/anthropic/v1/messages/batches", 500)[0]["error"]["type"] == "api_error"
    body, headers = faults.error_body("/bedrock/model-invocation-jobs", 429)
    assert set(body) == {"message"} and headers == {"x-amzn-ErrorType": "ThrottlingException"}
    assert faults.error_body("/openaiish/v1", 503)[0]["error"]["status"] == "UNAVAILABLE"  # a prefix, not a substring
    assert faults.error_body("/v1beta/batches", 503)[0]["error"]["status"] == "UNAVAILABLE"


# --- answers lost after the handler ran ---------------------------------------------------------------


@pytest.mark.parametrize("create", [gemini_batch, anthropic_batch], ids=["gemini", "anthropic"])
def test_a_lost_answer_comes_back_as_a_503_after_the_job_was_created(
    emulator: EmulatorServer, http: httpx.Client, create: Any
):
    emulator.config(faults={"lost_rate": 1.0, "lost_mode": "error"})

    response = create(http)

    assert response.status_code == 503
    assert "lost" in json.dumps(response.json())
    assert len(emulator.jobs()) == 1  # the effect happened; only the answer is gone
    assert emulator.faults()["events"][0] | {"time": 0} == {
        "time": 0,
        "kind": "lost",
        "method": "POST",
        "path": emulator.requests()[0]["path"],
        "query": "",
        "mode": "error",
        "handled_status": 200,
    }


def test_a_lost_answer_can_be_a_dropped_connection(emulator: EmulatorServer, http: httpx.Client):
    emulator.config(faults={"lost_rate": 1.0, "lost_mode": "drop"})

    with pytest.raises(httpx.TransportError):
        gemini_batch(http)

    assert len(emulator.jobs()) == 1
    assert emulator.faults()["counts"]["lost"] == 1
    assert "Traceback" not in emulator.stderr_text()  # drops made on purpose are not logged as crashes


# --- dropped uploads and downloads --------------------------------------------------------------------


def test_a_dropped_gemini_chunk_keeps_the_bytes_that_arrived(emulator: EmulatorServer, http: httpx.Client):
    data = jsonl_input(400)
    url = start_upload(http, len(data))
    emulator.config(faults={"upload_drop_rate": 1.0, "cut_fraction": 0.25, "max_faults": 1})

    with pytest.raises(httpx.TransportError):
        chunk(http, url, data, 0, "upload, finalize")

    status = chunk(http, url, b"", 0, "query")
    committed = int(status.headers["x-goog-upload-size-received"])
    assert status.headers["x-goog-upload-status"] == "active"
    assert committed == int(len(data) * 0.25)
    assert emulator.faults()["events"][-1]["delivered"] == committed
    finished = chunk(http, url, data[committed:], committed, "upload, finalize")
    assert finished.status_code == 200, finished.text
    stored = finished.json()["file"]
    assert int(stored["sizeBytes"]) == len(data)
    assert stored["sha256Hash"] == base64.b64encode(hashlib.sha256(data).digest()).decode()


def test_a_dropped_openai_upload_stores_no_file(emulator: EmulatorServer, http: httpx.Client):
    emulator.config(faults={"upload_drop_rate": 1.0})

    with pytest.raises(httpx.TransportError):
        openai_upload(http, jsonl_input(200))

    emulator.config(faults={})
    assert http.get("/openai/v1/files", headers=OPENAI).json()["data"] == []
    assert emulator.faults()["counts"]["upload_drop"] == 1


def sha256_hash(data: bytes) -> str:
    """A file's ``sha256Hash`` as the Files API renders it."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def test_a_gemini_upload_stored_short_reports_the_size_and_hash_it_kept(emulator: EmulatorServer, http: httpx.Client):
    data = jsonl_input(400)
    emulator.config(gemini_upload_chunk_granularity=65536)
    url = start_upload(http, len(data))
    emulator.config(faults={"short_store_rate": 1.0, "short_store_bytes": 7})

    first = chunk(http, url, data[:65536], 0, "upload")
    stored = chunk(http, url, data[65536:], 65536, "upload, finalize").json()["file"]

    assert first.headers["x-goog-upload-status"] == "active"  # a chunk before the last finishes no file: kept whole
    assert (stored["sizeBytes"], stored["sha256Hash"]) == (str(len(data) - 7), sha256_hash(data[:-7]))
    assert http.get(f"/v1beta/{stored['name']}", headers=GEMINI).json()["sizeBytes"] == str(len(data) - 7)
    assert emulator.faults()["counts"]["short_store"] == 1
    assert emulator.faults()["events"][-1]["stored"] == len(data) - 7


def test_an_openai_file_stored_short_reports_the_bytes_it_kept(emulator: EmulatorServer, http: httpx.Client):
    data = jsonl_input(50)
    emulator.config(faults={"short_store_rate": 1.0, "short_store_bytes": 3})

    stored = openai_upload(http, data).json()

    assert stored["bytes"] == len(data) - 3
    assert http.get(f"/openai/v1/files/{stored['id']}/content", headers=OPENAI).content == data[:-3]
    assert emulator.faults()["counts"]["short_store"] == 1


def test_a_gateway_upload_stored_short_reports_the_size_it_kept(emulator: EmulatorServer, http: httpx.Client):
    data = jsonl_input(50)
    started = http.post(
        "/genai/upload/v1beta/files",
        headers={**GEMINI, "x-goog-upload-header-content-type": "application/jsonl"},
        json={"file": {"displayName": "input"}},
    )
    emulator.config(faults={"short_store_rate": 1.0, "short_store_bytes": 5})

    stored = chunk(http, started.headers["x-goog-upload-url"], data, 0, "upload, finalize").json()["file"]

    assert stored["sizeBytes"] == str(len(data) - 5)
    assert emulator.faults()["counts"]["short_store"] == 1


def test_a_file_stored_short_of_every_byte_reports_no_size(emulator: EmulatorServer, http: httpx.Client):
    data = b'{"key": "a"}\n'
    url = start_upload(http, len(data))
    emulator.config(faults={"short_store_rate": 1.0, "short_store_bytes": 1000})

    stored = chunk(http, url, data, 0, "upload, finalize").json()["file"]

    assert "sizeBytes" not in stored  # proto3 JSON leaves a zero int64 out
    assert stored["sha256Hash"] == sha256_hash(b"")


@pytest.mark.parametrize("fault", ["upload_drop_rate", "short_store_rate"])
def test_json_bodies_are_not_uploads(emulator: EmulatorServer, http: httpx.Client, fault: str):
    emulator.config(faults={fault: 1.0})

    assert gemini_batch(http).status_code == 200
    assert emulator.faults()["total"] == 0


def test_a_dropped_download_sends_part_of_the_body_and_a_range_request_gets_the_rest(
    emulator: EmulatorServer, http: httpx.Client
):
    output = file_job_output(http, jsonl_input(50))
    path = f"/download/v1beta/{output}:download"
    whole = http.get(path, headers=GEMINI, params={"alt": "media"}).content
    emulator.config(faults={"download_drop_rate": 1.0, "cut_fraction": 0.5, "max_faults": 1})

    received = bytearray()
    with pytest.raises(httpx.TransportError), http.stream("GET", path, headers=GEMINI, params={"alt": "media"}) as r:
        assert r.status_code == 200
        for piece in r.iter_bytes():
            received.extend(piece)

    assert len(received) == len(whole) // 2
    assert bytes(received) == whole[: len(received)]
    rest = http.get(path, headers={**GEMINI, "Range": f"bytes={len(received)}-"}, params={"alt": "media"})
    assert rest.status_code == 206
    assert bytes(received) + rest.content == whole
    assert emulator.faults()["counts"]["download_drop"] == 1


def test_json_answers_to_a_get_are_not_downloads(emulator: EmulatorServer, http: httpx.Client):
    emulator.config(faults={"download_drop_rate": 1.0})

    assert http.get("/v1beta/batches", headers=GEMINI).status_code == 200
    assert emulator.faults()["total"] == 0


# --- slow answers, filters, determinism ---------------------------------------------------------------


def test_slow_answers_are_delayed_and_counted_apart(emulator: EmulatorServer, http: httpx.Client):
    emulator.config(faults={"slow_rate": 1.0, "latency_seconds": 0.3})

    started = time.monotonic()
    assert http.get("/v1beta/batches", headers=GEMINI).status_code == 200

    assert time.monotonic() - started >= 0.3
    report = emulator.faults()
    assert report["counts"]["slow"] == 1
    assert report["total"] == 0  # slowness is not a failure


def test_paths_methods_and_max_faults_narrow_the_faults(emulator: EmulatorServer, http: httpx.Client):
    emulator.config(faults={"error_rate": 1.0, "paths": r"/batches$", "methods": ["get"], "max_faults": 2})

    assert gemini_batch(http).status_code == 200  # POST: not a listed method
    assert http.get("/v1beta/files", headers=GEMINI).status_code == 200  # another path
    statuses = [http.get("/v1beta/batches", headers=GEMINI).status_code for _ in range(4)]

    assert [s == 200 for s in statuses] == [False, False, True, True]
    assert emulator.faults()["total"] == 2


def test_uploads_only_hits_the_requests_that_carry_bytes_not_the_one_that_opens_the_session(
    emulator: EmulatorServer, http: httpx.Client
):
    emulator.config(faults={"error_rate": 1.0, "error_statuses": [500], "uploads_only": True})
    data = b'{"key": "a"}\n'

    url = start_upload(http, len(data))  # a JSON body: not an upload, answered
    refused = chunk(http, url, data, 0, "upload, finalize")

    assert refused.status_code == 500
    assert gemini_batch(http).status_code == 200  # a JSON create: not hit
    assert emulator.faults()["total"] == 1


def test_the_same_seed_replays_the_same_faults(emulator: EmulatorServer, http: httpx.Client):
    def sequence(seed: int) -> list[int]:
        emulator.config(faults={"error_rate": 0.3, "lost_rate": 0.2, "lost_mode": "error", "seed": seed})
        return [http.get("/v1beta/batches", headers=GEMINI).status_code for _ in range(30)]

    first = sequence(7)

    assert first == sequence(7)  # posting the config again re-seeds
    assert first != sequence(8)
    assert 3 <= sum(status != 200 for status in first) <= 27


# --- job behaviours -----------------------------------------------------------------------------------


def test_a_stuck_job_stays_pending(emulator: EmulatorServer, http: httpx.Client):
    emulator.config(job_outcome="stuck")
    name = gemini_batch(http).json()["name"]

    time.sleep(0.3)  # well past its pending and running time

    operation = http.get(f"/v1beta/{name}", headers=GEMINI).json()
    assert operation["metadata"]["state"] == "BATCH_STATE_PENDING"
    assert "done" not in operation
    assert http.post(f"/v1beta/{name}:cancel", headers=GEMINI).status_code == 200  # and can still be cancelled
    assert wait_done(http, name)["metadata"]["state"] == "BATCH_STATE_CANCELLED"


def test_an_expiring_job_ends_expired(emulator: EmulatorServer, http: httpx.Client):
    emulator.config(job_outcome="expire")

    operation = wait_done(http, gemini_batch(http).json()["name"])

    assert operation["metadata"]["state"] == "BATCH_STATE_EXPIRED"


def test_a_fail_rows_job_succeeds_with_every_row_failed(emulator: EmulatorServer, http: httpx.Client):
    emulator.config(job_outcome="fail_rows")

    operation = wait_done(http, gemini_batch(http, "a", "b", "c").json()["name"])

    assert operation["metadata"]["state"] == "BATCH_STATE_SUCCEEDED"
    assert operation["metadata"]["batchStats"] == {"requestCount": "3", "failedRequestCount": "3"}
    rows = operation["response"]["inlinedResponses"]["inlinedResponses"]
    assert [row["error"]["status"] for row in rows] == ["INTERNAL"] * 3
    emulator.config(job_outcome="succeed")
    later = wait_done(http, gemini_batch(http, "d").json()["name"])
    assert later["metadata"]["batchStats"]["successfulRequestCount"] == "1"  # only that job's rows failed


# --- reset, launch config, command line ---------------------------------------------------------------


def test_reset_clears_the_counters_and_restores_the_launch_faults(emulator: EmulatorServer, http: httpx.Client):
    emulator.config(faults={"error_rate": 1.0})
    http.get("/v1beta/batches", headers=GEMINI)
    assert emulator.faults()["total"] == 1

    emulator.reset()

    assert emulator.faults()["total"] == 0
    assert emulator.config()["faults"]["error_rate"] == 0.0
    assert http.get("/v1beta/batches", headers=GEMINI).status_code == 200


def test_the_command_line_carries_faults_and_the_new_outcomes():
    server = EmulatorServer(port=1, faults={"error_rate": 0.2, "seed": 5}, job_outcome="stuck")
    args = cli.parse_args(server.command()[3:])

    config = EmulatorConfig(job_outcome=args.job_outcome, faults=args.faults)

    assert config.faults == faults.FaultConfig(error_rate=0.2, seed=5)
    assert config.job_outcome == "stuck"
    assert "--faults" not in EmulatorServer(port=1).command()
    assert cli.parse_args(["--port", "1", "--job-outcome", "fail_rows"]).faults == {}


def test_faults_given_at_launch_are_active_from_the_first_request():
    with EmulatorServer(api_key=API_KEY, faults={"error_rate": 1.0, "error_statuses": [503]}) as server:
        response = httpx.get(f"{server.base_url}/v1beta/batches", headers=GEMINI)
        server.reset()  # back to the launch config: the faults stay on
        again = httpx.get(f"{server.base_url}/v1beta/batches", headers=GEMINI)

    assert (response.status_code, again.status_code) == (503, 503)
