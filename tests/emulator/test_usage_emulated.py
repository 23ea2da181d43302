"""Token totals from small batches run on the emulator: the tally over the parsed result rows equals the sum of
the usage the emulator put on each row, and the job's own totals where the provider reports them."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from botocore.credentials import Credentials

from airflow_provider_genai_batch.formats import anthropic, bedrock, gateway, gemini, openai, vertex
from airflow_provider_genai_batch.formats.results import ResultRow
from airflow_provider_genai_batch.hooks.aws import SigV4Auth
from airflow_provider_genai_batch.models import TokenUsage
from airflow_provider_genai_batch.testing.emulator import FAIL_MARKER, EmulatorServer
from airflow_provider_genai_batch.testing.gcs import GcsServer
from airflow_provider_genai_batch.testing.s3 import MotoS3Server
from airflow_provider_genai_batch.usage import UsageTally, bedrock_manifest_usage, openai_batch_usage

API_KEY = "usage-emulated-key"


@pytest.fixture
def client(emulator: EmulatorServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.base_url, timeout=30.0) as http:
        yield http


def poll(fetch: Callable[[], dict[str, Any]], done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    deadline = time.monotonic() + 15.0
    while not done(current := fetch()):
        assert time.monotonic() < deadline, f"not done: {current}"
        time.sleep(0.05)
    return current


def ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def tally_of(provider: str, rows: list[ResultRow]) -> TokenUsage:
    tally = UsageTally(provider)
    list(tally.counted(rows))
    assert tally.unreadable == 0
    return tally.usage()


# --- Gemini ---------------------------------------------------------------------------------------------

GEMINI = {"x-goog-api-key": API_KEY}


def test_gemini_totals_equal_the_usage_metadata_of_every_row_thoughts_included(client: httpx.Client) -> None:
    thinking = {"thinkingConfig": {"thinkingBudget": 2}}
    requests = [
        {"request": {"contents": [{"role": "user", "parts": [{"text": "one two three"}]}]}, "metadata": {"key": "a"}},
        {
            "request": {"contents": [{"role": "user", "parts": [{"text": "four five"}]}], "generationConfig": thinking},
            "metadata": {"key": "b"},
        },
        {"request": {"contents": [{"role": "user", "parts": [{"text": FAIL_MARKER}]}]}, "metadata": {"key": "c"}},
    ]
    body = {"batch": {"displayName": "usage", "inputConfig": {"requests": {"requests": requests}}}}
    name = ok(client.post("/v1beta/models/gemini-2.5-flash:batchGenerateContent", headers=GEMINI, json=body))["name"]
    operation = poll(lambda: ok(client.get(f"/v1beta/{name}", headers=GEMINI)), lambda op: bool(op.get("done")))
    items = gemini.inline_responses(operation)
    metas = [item["response"]["usageMetadata"] for item in items if "response" in item]
    assert metas[1]["thoughtsTokenCount"] == 2
    usage = tally_of("gemini", [gemini.result_row(item) for item in items])
    assert usage == TokenUsage(
        input_tokens=sum(meta["promptTokenCount"] for meta in metas),
        output_tokens=sum(meta["candidatesTokenCount"] + meta.get("thoughtsTokenCount", 0) for meta in metas),
        thinking_tokens=2,
        rows=2,
    )
    assert usage.input_tokens + usage.output_tokens == sum(meta["totalTokenCount"] for meta in metas)


# --- OpenAI ---------------------------------------------------------------------------------------------

OPENAI = {"Authorization": f"Bearer {API_KEY}"}


def test_openai_totals_equal_the_rows_usage_and_the_batch_objects_usage(client: httpx.Client) -> None:
    lines = [
        {
            "custom_id": f"r{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]},
        }
        for i, text in enumerate(["alpha", "beta gamma", "delta epsilon zeta", FAIL_MARKER])
    ]
    data = "".join(json.dumps(line) + "\n" for line in lines).encode()
    upload = client.post(
        "/openai/v1/files",
        headers=OPENAI,
        files={"file": ("in.jsonl", data, "application/jsonl")},
        data={"purpose": "batch"},
    )
    create = {"input_file_id": ok(upload)["id"], "endpoint": "/v1/chat/completions", "completion_window": "24h"}
    batch_id = ok(client.post("/openai/v1/batches", headers=OPENAI, json=create))["id"]
    batch = poll(
        lambda: ok(client.get(f"/openai/v1/batches/{batch_id}", headers=OPENAI)),
        lambda b: b["status"] == "completed",
    )
    rows = []
    for file_id in (batch["output_file_id"], batch["error_file_id"]):
        content = client.get(f"/openai/v1/files/{file_id}/content", headers=OPENAI)
        assert content.status_code == 200
        rows += [json.loads(line) for line in content.text.splitlines()]
    usages = [row["response"]["body"]["usage"] for row in rows if row["response"]["status_code"] == 200]
    usage = tally_of("openai", [openai.result_row(row) for row in rows])
    assert usage == TokenUsage(
        input_tokens=sum(u["prompt_tokens"] for u in usages),
        output_tokens=sum(u["completion_tokens"] for u in usages),
        rows=3,
    )
    assert openai_batch_usage(batch) == usage


# --- Anthropic ------------------------------------------------------------------------------------------

ANTHROPIC = {"x-api-key": API_KEY, "anthropic-version": "2023-06-01"}


def test_anthropic_totals_equal_the_usage_of_every_succeeded_message(client: httpx.Client) -> None:
    requests = [
        {
            "custom_id": f"m{i}",
            "params": {"model": "claude-haiku-4-5", "max_tokens": 64, "messages": [{"role": "user", "content": text}]},
        }
        for i, text in enumerate(["why is the sky blue", "and the sea", FAIL_MARKER])
    ]
    batch_id = ok(client.post("/anthropic/v1/messages/batches", headers=ANTHROPIC, json={"requests": requests}))["id"]
    batch = poll(
        lambda: ok(client.get(f"/anthropic/v1/messages/batches/{batch_id}", headers=ANTHROPIC)),
        lambda b: b["processing_status"] == "ended",
    )
    results = client.get(batch["results_url"], headers=ANTHROPIC)
    assert results.status_code == 200
    lines = [json.loads(line) for line in results.text.splitlines()]
    usages = [line["result"]["message"]["usage"] for line in lines if line["result"]["type"] == "succeeded"]
    usage = tally_of("anthropic", [anthropic.result_row(line) for line in lines])
    assert usage == TokenUsage(
        input_tokens=sum(
            u["input_tokens"] + u["cache_creation_input_tokens"] + u["cache_read_input_tokens"] for u in usages
        ),
        output_tokens=sum(u["output_tokens"] for u in usages),
        rows=2,
    )


# --- Bedrock --------------------------------------------------------------------------------------------

CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"


def test_bedrock_totals_equal_the_records_usage_and_the_jobs_manifest(
    bedrock_emulator: EmulatorServer, bedrock_bucket: str, moto_s3: MotoS3Server
) -> None:
    texts = [f"Question number {i}?" for i in range(100)] + [f"Please {FAIL_MARKER} fail"]
    records = [
        {
            "recordId": f"REC{i:08d}",
            "modelInput": {
                "anthropic_version": "bedrock-2023-05-31",
                "max_tokens": 64,
                "messages": [{"role": "user", "content": text}],
            },
        }
        for i, text in enumerate(texts)
    ]
    data = "".join(json.dumps(record) + "\n" for record in records).encode()
    input_uri = moto_s3.put(f"s3://{bedrock_bucket}/input/in.jsonl", data)
    body = {
        "jobName": "usage",
        "roleArn": "arn:aws:iam::123456789012:role/batch",
        "modelId": CLAUDE,
        "inputDataConfig": {"s3InputDataConfig": {"s3Uri": input_uri}},
        "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": f"s3://{bedrock_bucket}/output/"}},
    }
    auth = SigV4Auth(lambda: Credentials("testing", "testing"), "us-east-1", "bedrock")
    with httpx.Client(base_url=f"{bedrock_emulator.base_url}/bedrock", auth=auth, timeout=30.0) as http:
        arn = ok(http.post("/model-invocation-job", json=body))["jobArn"]
        poll(lambda: ok(http.get(f"/model-invocation-job/{quote(arn, safe='')}")), lambda j: j["status"] == "Completed")
    job_id = arn.rsplit("/", 1)[-1]
    out = moto_s3.read(f"s3://{bedrock_bucket}/output/{job_id}/in.jsonl.out")
    lines = [json.loads(line) for line in out.splitlines()]
    usages = [line["modelOutput"]["usage"] for line in lines if "modelOutput" in line]
    usage = tally_of("bedrock", [bedrock.result_row(line) for line in lines])
    assert usage == TokenUsage(
        input_tokens=sum(u["input_tokens"] for u in usages),
        output_tokens=sum(u["output_tokens"] for u in usages),
        rows=100,
    )
    manifest = json.loads(moto_s3.read(f"s3://{bedrock_bucket}/output/{job_id}/manifest.json.out"))
    assert bedrock_manifest_usage(manifest) == usage


# --- Vertex ---------------------------------------------------------------------------------------------

VERTEX_PROJECT = "genai-batch-test"


def test_vertex_totals_equal_the_usage_metadata_of_every_prediction(
    vertex_emulator: EmulatorServer, vertex_bucket: str, gcs_server: GcsServer
) -> None:
    texts = ["what is one", "what is two plus two", FAIL_MARKER]
    lines = [
        {"key": f"k{i}", "request": {"contents": [{"role": "user", "parts": [{"text": t}]}]}}
        for i, t in enumerate(texts)
    ]
    data = "".join(json.dumps(line) + "\n" for line in lines).encode()
    gcs_server.put(f"gs://{vertex_bucket}/in/input.jsonl", data)
    body = {
        "displayName": "usage",
        "model": "publishers/google/models/gemini-2.5-flash",
        "inputConfig": {"instancesFormat": "jsonl", "gcsSource": {"uris": [f"gs://{vertex_bucket}/in/input.jsonl"]}},
        "outputConfig": {
            "predictionsFormat": "jsonl",
            "gcsDestination": {"outputUriPrefix": f"gs://{vertex_bucket}/out"},
        },
    }
    token = ok(vertex_emulator.client.post("/_emulator/vertex/tokens", json={"ttl": 3600}))["token"]
    base = f"{vertex_emulator.base_url}/vertex/v1/projects/{VERTEX_PROJECT}/locations/us-central1"
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30.0) as http:
        job_id = ok(http.post("/batchPredictionJobs", json=body))["name"].rsplit("/", 1)[1]
        job = poll(
            lambda: ok(http.get(f"/batchPredictionJobs/{job_id}")), lambda j: j["state"] == "JOB_STATE_SUCCEEDED"
        )
    out = gcs_server.get(f"{job['outputInfo']['gcsOutputDirectory']}/predictions.jsonl").decode()
    predictions = [json.loads(line) for line in out.splitlines()]
    metas = [line["response"]["usageMetadata"] for line in predictions if line.get("response")]
    usage = tally_of("vertex", [vertex.result_row(line) for line in predictions])
    assert usage == TokenUsage(
        input_tokens=sum(meta["promptTokenCount"] for meta in metas),
        output_tokens=sum(meta["candidatesTokenCount"] for meta in metas),
        rows=2,
    )


# --- the gateway ----------------------------------------------------------------------------------------

GATEWAY_MODELS = {"gemini": "gemini-2.5-flash", "anthropic": "claude-haiku-4-5"}


@pytest.mark.parametrize("target", ["gemini", "anthropic"])
def test_gateway_totals_equal_the_usage_of_every_result_item(client: httpx.Client, target: str) -> None:
    headers = {"x-goog-api-key": API_KEY, "x-model-provider": target}
    texts = ["why is the sky blue", "and the sea too", FAIL_MARKER]
    requests = [
        {
            "request": {
                "contents": [{"role": "user", "parts": [{"text": t}]}],
                "generationConfig": {"maxOutputTokens": 64},
            },
            "metadata": {"key": f"k{i}"},
        }
        for i, t in enumerate(texts)
    ]
    body = {"batch": {"displayName": "usage", "inputConfig": {"requests": {"requests": requests}}}}
    create = client.post(
        f"/genai/v1beta/models/{GATEWAY_MODELS[target]}:batchGenerateContent", headers=headers, json=body
    )
    name = ok(create)["name"]
    poll(
        lambda: ok(client.get(f"/genai/v1beta/{name}", headers=headers)),
        lambda op: op["metadata"]["state"] == "BATCH_STATE_SUCCEEDED",
    )
    items = ok(client.get(f"/v1/batches/{name.split('/', 1)[1]}/results", params={"provider": target}, headers=headers))
    items = items["results"]
    if target == "gemini":
        usages = [item["response"]["body"]["usage"] for item in items if "response" in item]
        expected = (sum(u["prompt_tokens"] for u in usages), sum(u["completion_tokens"] for u in usages))
    else:
        usages = [item["result"]["message"]["usage"] for item in items if item["result"]["type"] == "succeeded"]
        expected = (sum(u["input_tokens"] for u in usages), sum(u["output_tokens"] for u in usages))
    usage = tally_of("gateway", [gateway.result_row(item, target) for item in items])
    assert (usage.input_tokens, usage.output_tokens, usage.rows) == (*expected, 2)
