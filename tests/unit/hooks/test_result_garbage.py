"""Every provider's results with garbage between good lines: every good row is read, every bad line is a row.

Each hook is driven over ``httpx.MockTransport`` with the provider's own output format (Gemini responses
file and inline responses, OpenAI output and error files, Anthropic results stream, Bedrock ``.out``
objects, the gateway's result files and items). A line that is not JSON, not an object, not UTF-8 or not
readable by the provider's dialect becomes a failed row (``error.code == "unparseable_result"``) naming
the file and line, instead of aborting the results; then landing files and counts every one of them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from airflow_provider_genai_batch.errors import GenAIBatchError
from airflow_provider_genai_batch.formats.keys import portable_id
from airflow_provider_genai_batch.formats.openai import parse_batch
from airflow_provider_genai_batch.formats.results import UNPARSEABLE, ResultRow, RowStatus
from airflow_provider_genai_batch.hooks.bedrock import BedrockBatchHook
from airflow_provider_genai_batch.hooks.gateway import GatewayBatchHook
from airflow_provider_genai_batch.job_ref import BatchJobRef
from airflow_provider_genai_batch.landing import (
    DUPLICATES_FILE,
    RESULTS_FILE,
    UNMATCHED_FILE,
    land_results,
    output_dir,
    write_keys,
)
from airflow_provider_genai_batch.models import BatchJob, BatchStats, JobState

from ._wire import mock_hooks

GARBAGE = (b'{"key": "half a line', b'["an", "array"]', b'{"key": "caf\xe9"}', b'"a bare string"')
"""Lines no provider can mean: invalid JSON, not an object, not UTF-8, not an object."""

OK, FAILED, EXPIRED = RowStatus.SUCCEEDED, RowStatus.FAILED, RowStatus.EXPIRED
BAD = [(None, FAILED, True)] * len(GARBAGE)
"""What each garbage line reads as: a failed row without a key, marked unparseable."""


def jsonl(*lines: bytes | dict[str, Any]) -> bytes:
    return b"".join((line if isinstance(line, bytes) else json.dumps(line).encode()) + b"\n" for line in lines)


def outcome(rows: list[ResultRow]) -> list[tuple[str | None, RowStatus, bool]]:
    return [(row.key, row.status, row.unparseable) for row in rows]


def assert_located(row: ResultRow, source: str, line: int) -> None:
    assert row.error is not None
    assert row.error.code == UNPARSEABLE
    assert row.error.message.startswith(f"unparseable result ({source}, line {line}): ")


# --- Gemini ------------------------------------------------------------------------------------------------


def gemini_ok(key: str, text: str = "fine") -> dict[str, Any]:
    return {"key": key, "response": {"candidates": [{"content": {"parts": [{"text": text}]}}]}}


def test_gemini_responses_file_with_garbage_lines_gives_every_good_row_and_a_row_per_bad_line(gemini):
    content = jsonl(
        gemini_ok("a", "A"),
        *GARBAGE,
        {"key": "b", "response": ["not", "an", "object"]},
        {"key": "c", "error": {"code": 3, "message": "Invalid argument"}},
        gemini_ok("d", "D"),
    )
    hook, _ = gemini(lambda request: httpx.Response(200, content=content))
    job = BatchJob(name="batches/b1", provider="gemini", output_file="files/batch-b1")

    rows = list(hook.iter_results(job))

    assert outcome(rows) == [("a", OK, False), *BAD, ("b", FAILED, True), ("c", FAILED, False), ("d", OK, False)]
    assert (rows[0].text, rows[-1].text) == ("A", "D")
    for line, row in enumerate(rows[1:6], start=2):
        assert_located(row, "files/batch-b1", line)
    assert "invalid JSON" in rows[1].error.message
    assert rows[1].error.raw == GARBAGE[0].decode()
    assert "not valid UTF-8" in rows[3].error.message
    assert rows[3].error.raw == '{"key": "caf\\xe9"}'


def test_gemini_inline_responses_that_cannot_be_read_are_failed_rows(gemini):
    responses = [
        {"metadata": {"key": "e1"}, "response": {"embedding": {"values": [0.5]}}},
        "not an object",
        {"metadata": {"key": "e2"}, "response": {"embedding": "no values"}},
        {"metadata": {"key": "e3"}, "error": {"code": 3, "message": "empty content"}},
    ]
    op = {"name": "batches/i1", "metadata": {"state": "BATCH_STATE_SUCCEEDED", "output": {}}}
    op["metadata"]["output"] = {"inlinedResponses": {"inlinedResponses": responses}}
    hook, wire = gemini(lambda request: pytest.fail("inline output needs no request"))
    job = BatchJob(name="batches/i1", provider="gemini", has_inline_output=True, raw=op)

    rows = list(hook.iter_results(job))

    assert outcome(rows) == [("e1", OK, False), (None, FAILED, True), ("e2", FAILED, True), ("e3", FAILED, False)]
    assert rows[1].error.message == (
        "unparseable result (batches/i1, inline response 2): a result must be a JSON object, got a string"
    )
    assert rows[1].error.raw == '"not an object"'
    assert rows[2].error.message == (
        "unparseable result (batches/i1, inline response 3): ValueError: embedding must be an object holding values"
    )
    assert wire.requests == []


# --- OpenAI ------------------------------------------------------------------------------------------------


def openai_ok(custom_id: str, text: str = "fine") -> dict[str, Any]:
    body = {"choices": [{"message": {"role": "assistant", "content": text}}], "usage": {"prompt_tokens": 1}}
    return {"id": f"r-{custom_id}", "custom_id": custom_id, "response": {"status_code": 200, "body": body}}


def openai_error(custom_id: str, code: str = "batch_expired") -> dict[str, Any]:
    return {"id": f"r-{custom_id}", "custom_id": custom_id, "response": None, "error": {"code": code, "message": "x"}}


def openai_batch(**files: str) -> BatchJob:
    return parse_batch({"id": "batch_abc", "object": "batch", "status": "completed", "metadata": {}, **files})


def test_openai_output_and_error_files_with_garbage_lines_give_every_good_row(openai):
    files = {
        "/v1/files/file-out/content": jsonl(openai_ok("a"), *GARBAGE, {"custom_id": "b", "response": "x"}),
        "/v1/files/file-err/content": jsonl(GARBAGE[0], openai_error("c")),
    }
    hook, wire = openai(lambda request: httpx.Response(200, content=files[request.url.path]))

    rows = list(hook.iter_results(openai_batch(output_file_id="file-out", error_file_id="file-err")))

    assert wire.paths() == [("GET", "/v1/files/file-out/content"), ("GET", "/v1/files/file-err/content")]
    assert outcome(rows) == [("a", OK, False), *BAD, ("b", FAILED, True), (None, FAILED, True), ("c", EXPIRED, False)]
    assert_located(rows[1], "file-out", 2)
    assert_located(rows[5], "file-out", 6)
    assert_located(rows[6], "file-err", 1)


# --- Anthropic ---------------------------------------------------------------------------------------------


def test_anthropic_results_with_garbage_lines_give_every_good_row(anthropic):
    message = {"content": [{"type": "text", "text": "Hi"}], "usage": {"input_tokens": 1, "output_tokens": 1}}
    content = jsonl(
        {"custom_id": "a", "result": {"type": "succeeded", "message": message}},
        *GARBAGE,
        {"custom_id": "b", "result": "errored"},
        {"custom_id": "c", "result": {"type": "expired"}},
    )
    results_url = "http://anthropic.test/v1/messages/batches/msgbatch_01/results"
    hook, _ = anthropic(lambda request: httpx.Response(200, content=content))
    job = BatchJob(name="msgbatch_01", provider="anthropic", state=JobState.SUCCEEDED, output_file=results_url)

    rows = list(hook.iter_results(job))

    assert outcome(rows) == [("a", OK, False), *BAD, ("b", FAILED, True), ("c", EXPIRED, False)]
    assert_located(rows[5], results_url, 6)
    assert rows[0].text == "Hi"


# --- Bedrock -----------------------------------------------------------------------------------------------

REGION = "us-west-2"
ARN = f"arn:aws:bedrock:{REGION}:123456789012:model-invocation-job/abcdefghijkl"
S3_HOST = f"bkt.s3.{REGION}.amazonaws.com"
BEDROCK_EXTRA = {
    "region": REGION,
    "role_arn": "arn:aws:iam::123456789012:role/BedrockBatch",
    "input_s3_uri": "s3://bkt/in",
    "output_s3_uri": "s3://bkt/out/",
}


def bedrock_ok(record_id: str) -> dict[str, Any]:
    return {"recordId": record_id, "modelInput": {}, "modelOutput": {"content": [{"type": "text", "text": "ok"}]}}


def s3_serving(objects: dict[str, bytes]):
    """GET of an object's bytes, and a one-page ListObjectsV2, for the objects given (bucket ``bkt``)."""

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.host == S3_HOST, request.url
        if request.url.params.get("list-type") == "2":
            prefix = request.url.params["prefix"]
            contents = "".join(
                f"<Contents><Key>{key}</Key><Size>{len(data)}</Size></Contents>"
                for key, data in sorted(objects.items())
                if key.startswith(prefix)
            )
            ns = "http://s3.amazonaws.com/doc/2006-03-01/"
            listing = f"<ListBucketResult xmlns='{ns}'>{contents}<IsTruncated>false</IsTruncated></ListBucketResult>"
            return httpx.Response(200, content=listing.encode())
        return httpx.Response(200, content=objects[request.url.path.lstrip("/")])

    return handler


@pytest.fixture
def bedrock(monkeypatch: pytest.MonkeyPatch):
    with mock_hooks(
        monkeypatch,
        BedrockBatchHook,
        conn_id="bedrock_garbage",
        conn_type="genaibedrock",
        base_url=f"https://bedrock.{REGION}.amazonaws.com",
        default_extra=BEDROCK_EXTRA,
    ) as make:
        yield make


def test_bedrock_out_file_with_garbage_lines_gives_every_good_row(bedrock):
    out = "out/abcdefghijkl/x.jsonl.out"
    content = jsonl(
        bedrock_ok("req1"),
        *GARBAGE,
        {"recordId": "req2", "modelInput": {}, "modelOutput": {"output": {"message": "not an object"}}},
        {"recordId": "req3", "modelInput": {}, "error": {"errorCode": 400, "errorMessage": "bad"}},
    )
    hook, _ = bedrock(s3_serving({out: content}))
    job = BatchJob(name=ARN, provider="bedrock", state=JobState.SUCCEEDED, output_file=f"s3://bkt/{out}")

    rows = list(hook.iter_results(job))

    assert outcome(rows) == [("req1", OK, False), *BAD, ("req2", FAILED, True), ("req3", FAILED, False)]
    assert_located(rows[2], f"s3://bkt/{out}", 3)


def test_bedrock_folder_output_reads_every_out_file_past_a_garbage_line_in_one(bedrock):
    objects = {
        "out/abcdefghijkl/a.jsonl.out": jsonl(bedrock_ok("reqA1"), GARBAGE[1], bedrock_ok("reqA2")),
        "out/abcdefghijkl/b.jsonl.out": jsonl(bedrock_ok("reqB1")),
        "out/abcdefghijkl/manifest.json.out": b'{"totalRecordCount": 3}',
    }
    hook, _ = bedrock(s3_serving(objects))
    raw = {
        "jobArn": ARN,
        "inputDataConfig": {"s3InputDataConfig": {"s3Uri": "s3://bkt/in/"}},
        "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "s3://bkt/out/"}},
    }
    job = BatchJob(name=ARN, provider="bedrock", state=JobState.SUCCEEDED, raw=raw)

    rows = list(hook.iter_results(job))

    assert outcome(rows) == [("reqA1", OK, False), (None, FAILED, True), ("reqA2", OK, False), ("reqB1", OK, False)]
    assert_located(rows[1], "s3://bkt/out/abcdefghijkl/a.jsonl.out", 2)


# --- the gateway -------------------------------------------------------------------------------------------


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch):
    with mock_hooks(
        monkeypatch,
        GatewayBatchHook,
        conn_id="gateway_garbage",
        conn_type="genaigateway",
        base_url="http://gateway.test/genai",
    ) as make:
        yield make


def test_gateway_openai_result_file_with_garbage_lines_gives_every_good_row(gateway):
    body = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}]}
    output = {"custom_id": "a", "response": {"status_code": 200, "body": body}}
    content = jsonl(output, *GARBAGE, {**output, "custom_id": "b"})

    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/batches/batch_abc":  # the gateway's native retrieve names the files
            return httpx.Response(200, json={"id": "batch_abc", "status": "completed", "output_file_id": "file-out"})
        return httpx.Response(200, content=content)

    hook, _ = gateway(answer, model_provider="openai")
    job = BatchJob(name="batches/batch_abc", provider="gateway", state=JobState.SUCCEEDED)

    rows = list(hook.iter_results(job))

    assert outcome(rows) == [("a", OK, False), *BAD, ("b", OK, False)]
    assert_located(rows[4], "file-out", 5)


@pytest.mark.parametrize(
    ("target", "good", "unreadable"),
    [
        ("anthropic", {"custom_id": "a", "result": {"type": "expired"}}, {"result": ["x"]}),
        ("gemini", {"custom_id": "a", "response": {"status_code": 200, "body": {"text": "t"}}}, {"response": "x"}),
    ],
)
def test_gateway_result_items_that_cannot_be_read_are_failed_rows(gateway, target, good, unreadable):
    items = [good, "not an object", {"custom_id": "b", **unreadable}]
    hook, _ = gateway(lambda request: httpx.Response(200, json={"results": items}), model_provider=target)
    job = BatchJob(name="batches/batch_abc", provider="gateway", state=JobState.SUCCEEDED)

    rows = list(hook.iter_results(job))

    assert [(row.key, row.unparseable) for row in rows] == [("a", False), (None, True), ("b", True)]
    assert rows[1].error.message == (
        "unparseable result (batches/batch_abc, result item 2): a result must be a JSON object, got a string"
    )
    assert rows[2].status is FAILED


# --- landed: every line is filed and counted ------------------------------------------------------------------


def test_landing_openai_output_with_garbage_unknown_and_duplicate_rows_keeps_totals_true(openai, tmp_path: Path):
    keys = ["doc/1", "doc/2", "doc/3", "plain"]  # "doc/…" travel as k-<sha> ids, mapped back on landing
    out = output_dir(str(tmp_path / "out"))
    keys_uri = write_keys(output_dir(str(tmp_path / "in")), keys).uri
    files = {
        "/v1/files/file-out/content": jsonl(
            openai_ok(portable_id("doc/1"), "one"),
            GARBAGE[0],
            {"custom_id": portable_id("doc/2"), "response": "x"},
            openai_ok("ghost"),
            openai_ok(portable_id("never/submitted")),
        ),
        "/v1/files/file-err/content": jsonl(openai_error("plain"), openai_error(portable_id("doc/1"), "server_error")),
    }
    hook, _ = openai(lambda request: httpx.Response(200, content=files[request.url.path]))
    job = openai_batch(output_file_id="file-out", error_file_id="file-err").model_copy(
        update={"state": JobState.SUCCEEDED}
    )
    ref = BatchJobRef(provider="openai", conn_id="c", job_name="batch_abc", request_count=4, keys_uri=keys_uri)

    manifest = land_results(hook.iter_results(job), job, ref, out, hook.dialect.provider_key)

    counts = manifest.counts
    assert (counts.total, counts.succeeded, counts.failed, counts.expired, counts.missing) == (4, 1, 1, 1, 1)
    assert (counts.unmatched, counts.duplicates, counts.unparseable) == (3, 1, 2)
    results = [json.loads(line) for line in (out / RESULTS_FILE).read_text().splitlines()]
    assert [(row["key"], row["status"]) for row in results] == [
        ("doc/1", "succeeded"),
        ("doc/2", "failed"),
        ("doc/3", "missing"),
        ("plain", "expired"),
    ]
    assert results[1]["error"]["raw"] == json.dumps({"custom_id": portable_id("doc/2"), "response": "x"})
    unmatched = [json.loads(line) for line in (out / UNMATCHED_FILE).read_text().splitlines()]
    assert [row["key"] for row in unmatched] == [None, "ghost", portable_id("never/submitted")]
    duplicates = [json.loads(line) for line in (out / DUPLICATES_FILE).read_text().splitlines()]
    assert [(row["key"], row["status"], row["error"]["code"]) for row in duplicates] == [
        ("doc/1", "failed", "server_error")
    ]


# --- results that hold nothing -------------------------------------------------------------------------------

NOTHING = (b"", b"\n\r\n  \n")
"""A results file with no line, and one of blank lines only."""
SUCCEEDED_3 = BatchStats(total=3, succeeded=3)


def refused_as_holding_nothing(rows: Any, job: BatchJob) -> None:
    with pytest.raises(GenAIBatchError) as raised:
        list(rows)
    assert str(raised.value).startswith(
        f"{job.provider} job {job.name} counts 3 succeeded requests, but its results hold no line: nothing was landed"
    )


@pytest.mark.parametrize("content", NOTHING, ids=["empty", "blank"])
def test_a_gemini_responses_file_without_a_line_for_a_job_counting_successes_is_refused(gemini, content: bytes):
    hook, _ = gemini(lambda request: httpx.Response(200, content=content))
    job = BatchJob(
        name="batches/b1", provider="gemini", state=JobState.SUCCEEDED, output_file="files/b1", stats=SUCCEEDED_3
    )

    refused_as_holding_nothing(hook.iter_results(job), job)


@pytest.mark.parametrize("content", NOTHING, ids=["empty", "blank"])
def test_an_openai_output_file_without_a_line_for_a_batch_counting_successes_is_refused(openai, content: bytes):
    hook, _ = openai(lambda request: httpx.Response(200, content=content))
    job = openai_batch(output_file_id="file-out").model_copy(update={"state": JobState.SUCCEEDED, "stats": SUCCEEDED_3})

    refused_as_holding_nothing(hook.iter_results(job), job)


@pytest.mark.parametrize("content", NOTHING, ids=["empty", "blank"])
def test_anthropic_results_without_a_line_for_a_batch_counting_successes_are_refused(anthropic, content: bytes):
    results_url = "http://anthropic.test/v1/messages/batches/msgbatch_01/results"
    hook, _ = anthropic(lambda request: httpx.Response(200, content=content))
    job = BatchJob(
        name="msgbatch_01", provider="anthropic", state=JobState.SUCCEEDED, output_file=results_url, stats=SUCCEEDED_3
    )

    refused_as_holding_nothing(hook.iter_results(job), job)


@pytest.mark.parametrize("content", NOTHING, ids=["empty", "blank"])
def test_a_bedrock_out_file_without_a_line_for_a_job_counting_successes_is_refused(bedrock, content: bytes):
    out = "out/abcdefghijkl/x.jsonl.out"
    hook, _ = bedrock(s3_serving({out: content}))
    job = BatchJob(
        name=ARN, provider="bedrock", state=JobState.SUCCEEDED, output_file=f"s3://bkt/{out}", stats=SUCCEEDED_3
    )

    refused_as_holding_nothing(hook.iter_results(job), job)


def test_a_job_without_successes_whose_results_hold_no_line_gives_no_rows(openai):
    hook, _ = openai(lambda request: httpx.Response(200, content=b""))
    stats = BatchStats(total=3, failed=3)
    job = openai_batch(output_file_id="file-out").model_copy(update={"state": JobState.SUCCEEDED, "stats": stats})

    assert list(hook.iter_results(job)) == []
