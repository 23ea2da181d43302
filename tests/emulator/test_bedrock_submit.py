"""The Bedrock hook and the submit operator against the emulator and a real S3 (moto), end to end.

Covers what the issue asks to be checked: a 99-record input fails before anything reaches S3, and a
retried submit sends the same clientRequestToken and creates no second job.
"""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_genai_batch.errors import GenAIBatchError, InputValidationError, NotFoundError, ProviderAPIError
from airflow_provider_genai_batch.formats import bedrock as wire
from airflow_provider_genai_batch.formats.results import RowStatus
from airflow_provider_genai_batch.hooks import s3 as s3_api
from airflow_provider_genai_batch.hooks.bedrock import BedrockBatchHook
from airflow_provider_genai_batch.hooks.status_poll import gone_at
from airflow_provider_genai_batch.idempotency import idempotency_key
from airflow_provider_genai_batch.models import BatchJob, JobState
from airflow_provider_genai_batch.operators.submit import GenAIBatchSubmitOperator
from airflow_provider_genai_batch.spec import BatchSpec, FileSource
from airflow_provider_genai_batch.testing.emulator import FAIL_MARKER, EmulatorServer
from airflow_provider_genai_batch.testing.s3 import split_s3_uri
from tests.unit.pipeline.fakes import FakeTI, make_context

CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
MIB = 1024 * 1024


@pytest.fixture
def connection(bedrock_connection: Callable[..., str]) -> str:
    """The Bedrock connection, with 5 MiB upload parts (the smallest S3 takes) so that a multipart upload is cheap."""
    return bedrock_connection(upload_part_size=5 * MIB, retry_max_wait=0.1)


def gemini_lines(count: int, *, fail: set[int] = frozenset(), pad: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "key": f"doc-{i}",
            "request": {
                "contents": [{"role": "user", "parts": [{"text": f"Summarise {i}{FAIL_MARKER if i in fail else ''}"}]}],
                "generationConfig": {"maxOutputTokens": 16, **({"stopSequences": ["x" * pad]} if pad else {})},
            },
        }
        for i in range(count)
    ]


def write_input(path: Path, lines: list[dict[str, Any]]) -> str:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return str(path)


def wait(hook: BedrockBatchHook, name: str, timeout: float = 20.0) -> BatchJob:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = hook.get_batch(name)
        if job.state.is_terminal:
            return job
        time.sleep(0.05)
    raise AssertionError(f"{name} did not end within {timeout} s")


def bedrock_jobs(emulator: EmulatorServer) -> list[dict[str, Any]]:
    return [job for job in emulator.jobs() if job["provider"] == "bedrock"]


# --- the hook alone ------------------------------------------------------------------------------------


def test_the_hook_runs_a_job_from_a_multipart_upload_to_normalised_rows(connection, moto_s3, bedrock_bucket):
    hook = BedrockBatchHook(conn_id=connection)
    lines = [
        hook.dialect.to_native(line, model=CLAUDE, embeddings=False) for line in gemini_lines(110, fail={4}, pad=60_000)
    ]
    data = "".join(json.dumps(line) + "\n" for line in lines).encode()
    assert len(data) > 6 * MIB  # two parts at least: moto enforces S3's 5 MiB minimum part size

    uploaded = hook.upload_file(io.BytesIO(data), display_name="nightly.jsonl")
    assert moto_s3.read(uploaded.name) == data
    created = hook.create_batch(
        BatchSpec(
            model=CLAUDE,
            display_name="nightly",
            source=FileSource(uploaded.name),
            idempotency_key="gbk-0123456789abcdef0123",
        )
    )
    job = wait(hook, created.name)

    assert job.state is JobState.SUCCEEDED
    assert (job.stats.total, job.stats.succeeded, job.stats.failed) == (110, 109, 1)
    rows = list(hook.iter_results(job))
    assert sorted(row.key for row in rows) == sorted(hook.dialect.provider_key(f"doc-{i}") for i in range(110))
    failed = [row for row in rows if row.status is RowStatus.FAILED]
    assert [row.key for row in failed] == [hook.dialect.provider_key("doc-4")]
    ok = next(row for row in rows if row.key == hook.dialect.provider_key("doc-7"))
    assert ok.text == "Answer to: Summarise 7"


def test_a_job_with_an_output_kms_key_and_a_vpc_is_taken_and_keeps_them(
    connection, monkeypatch, moto_s3, bedrock_bucket
):
    conn = json.loads(os.environ[f"AIRFLOW_CONN_{connection.upper()}"])
    vpc = {"subnet_ids": ["subnet-0a1b2c3d"], "security_group_ids": ["sg-0123456789abcdef0"]}
    conn["extra"].update(output_kms_key_id="alias/bedrock-batch-output", vpc_config=vpc)
    monkeypatch.setenv(f"AIRFLOW_CONN_{connection.upper()}", json.dumps(conn))
    hook = BedrockBatchHook(conn_id=connection)
    lines = [hook.dialect.to_native(line, model=CLAUDE, embeddings=False) for line in gemini_lines(100)]
    uploaded = hook.upload_file(io.BytesIO("".join(json.dumps(line) + "\n" for line in lines).encode()))
    spec = BatchSpec(model=CLAUDE, display_name="nightly", source=FileSource(uploaded.name))
    job = wait(hook, hook.create_batch(spec).name)

    assert job.state is JobState.SUCCEEDED
    output = job.raw["outputDataConfig"]["s3OutputDataConfig"]
    assert output["s3EncryptionKeyId"] == "alias/bedrock-batch-output"
    assert job.raw["vpcConfig"] == {"subnetIds": ["subnet-0a1b2c3d"], "securityGroupIds": ["sg-0123456789abcdef0"]}


def test_the_hook_reads_a_finished_jobs_token_totals_from_its_manifest(connection, moto_s3, bedrock_bucket):
    hook = BedrockBatchHook(conn_id=connection)
    lines = [hook.dialect.to_native(line, model=CLAUDE, embeddings=False) for line in gemini_lines(100, fail={3})]
    uploaded = hook.upload_file(io.BytesIO("".join(json.dumps(x) + "\n" for x in lines).encode()), display_name="u")
    spec = BatchSpec(model=CLAUDE, display_name="usage", source=FileSource(uploaded.name))
    job = wait(hook, hook.create_batch(spec).name)

    reported = hook.reported_usage(job)

    manifest = json.loads(moto_s3.read(f"{wire.job_output_dir(job.raw)}manifest.json.out"))
    assert reported is not None
    assert (reported.input_tokens, reported.output_tokens, reported.rows) == (
        manifest["inputTokenCount"],
        manifest["outputTokenCount"],
        99,
    )
    assert reported.input_tokens > 0


def test_a_job_without_a_manifest_reports_no_token_totals(connection, moto_s3, bedrock_bucket):
    hook = BedrockBatchHook(conn_id=connection)
    lines = [hook.dialect.to_native(line, model=CLAUDE, embeddings=False) for line in gemini_lines(100)]
    uploaded = hook.upload_file(io.BytesIO("".join(json.dumps(x) + "\n" for x in lines).encode()), display_name="u")
    job = wait(
        hook, hook.create_batch(BatchSpec(model=CLAUDE, display_name="u", source=FileSource(uploaded.name))).name
    )
    bucket, key = split_s3_uri(f"{wire.job_output_dir(job.raw)}manifest.json.out")
    moto_s3.client.delete_object(Bucket=bucket, Key=key)

    assert hook.reported_usage(job) is None


async def test_the_async_side_polls_and_cancels_the_job(connection, moto_s3, bedrock_bucket, bedrock_emulator):
    hook = BedrockBatchHook(conn_id=connection)
    lines = [hook.dialect.to_native(line, model=CLAUDE, embeddings=False) for line in gemini_lines(100)]
    uploaded = hook.upload_file(io.BytesIO("".join(json.dumps(x) + "\n" for x in lines).encode()), display_name="a")
    key = "gbk-00000000000000000001"
    running = bedrock_emulator.config()["running_seconds"]
    bedrock_emulator.config(running_seconds=600)  # still running when it is cancelled, however busy the machine
    try:
        created = hook.create_batch(
            BatchSpec(model=CLAUDE, display_name="async", source=FileSource(uploaded.name), idempotency_key=key)
        )
    finally:
        bedrock_emulator.config(running_seconds=running)
    assert (await hook.aget_batch(created.name)).name == created.name
    await hook.acancel_batch(created.name)
    assert (await hook.aget_batch(created.name)).provider_state in {"Stopping", "Stopped"}


# --- the submit operator -----------------------------------------------------------------------------------


def test_a_job_taken_away_at_bedrock_is_answered_resource_not_found_and_read_as_gone(
    connection, bedrock_emulator, bedrock_bucket
):
    hook = BedrockBatchHook(conn_id=connection)
    lines = [hook.dialect.to_native(line, model=CLAUDE, embeddings=False) for line in gemini_lines(100)]
    uploaded = hook.upload_file(io.BytesIO("".join(json.dumps(line) + "\n" for line in lines).encode()))
    created = hook.create_batch(
        BatchSpec(
            model=CLAUDE,
            display_name="gone",
            source=FileSource(uploaded.name),
            idempotency_key="gbk-00000000000000000001",
        )
    )

    bedrock_emulator.delete_job(bedrock_jobs(bedrock_emulator)[0]["name"])

    with pytest.raises(NotFoundError) as err:
        hook.get_batch(created.name)
    assert (err.value.http_status, err.value.provider_status) == (404, "ResourceNotFoundException")
    assert gone_at(hook, created.name)


def native_claude_lines(count: int = 100) -> list[dict[str, Any]]:
    """``count`` native Bedrock records of Claude InvokeModel bodies, ids ``REC0``, ``REC1``, ..."""
    return [
        {"recordId": f"REC{i}", "modelInput": {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 16,
                                              "messages": [{"role": "user", "content": f"Question {i}?"}]}}
        for i in range(count)
    ]  # fmt: skip


def with_record_id(lines: list[dict[str, Any]], index: int, record_id: str) -> list[dict[str, Any]]:
    """``lines`` with the record at ``index`` given ``record_id``."""
    lines[index]["recordId"] = record_id
    return lines


LLAMA = "meta.llama3-1-70b-instruct-v1:0"
NOT_CLAUDE_ONLY = (
    "{source}, line 1: request cannot be sent to bedrock: InvokeModel bodies are translated for Anthropic Claude "
    "models only, not {model!r}; use model_invocation_type=Converse or native Bedrock lines"
)


@pytest.mark.parametrize(
    ("lines", "model", "error", "message"),
    [
        pytest.param(
            gemini_lines(99),
            CLAUDE,
            InputValidationError,
            "{source}: 99 requests, fewer than the 100 a bedrock batch needs",
            id="99-records",
        ),
        pytest.param(
            # Bedrock documents record ids as alphanumeric: its Validating fails the job
            with_record_id(native_claude_lines(), 6, "req-6"),
            CLAUDE,
            InputValidationError,
            "{source}, line 7: 'recordId' 'req-6' is not an alphanumeric string: Bedrock fails a job holding such a "
            "record",
            id="record-id-not-alphanumeric",
        ),
        pytest.param(
            gemini_lines(100),
            "arn:aws:bedrock:us-east-1:123456789012:provisioned-model/abcdefghijkl",
            GenAIBatchError,
            "bedrock model: {model!r} is a provisioned throughput model, and batch inference does not run on "
            "provisioned models: give the foundation model's id or an inference profile",
            id="provisioned-model",
        ),
        pytest.param(gemini_lines(100), LLAMA, InputValidationError, NOT_CLAUDE_ONLY, id="canonical-on-model-id"),
        pytest.param(
            gemini_lines(100), f"us.{LLAMA}", InputValidationError, NOT_CLAUDE_ONLY, id="canonical-on-profile-id"
        ),
        pytest.param(
            gemini_lines(100),
            f"arn:aws:bedrock:us-east-1::foundation-model/{LLAMA}",
            InputValidationError,
            NOT_CLAUDE_ONLY,
            id="canonical-on-model-arn",
        ),
        pytest.param(
            gemini_lines(100),
            f"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.{LLAMA}",
            InputValidationError,
            NOT_CLAUDE_ONLY,
            id="canonical-on-profile-arn",
        ),
        pytest.param(
            native_claude_lines(),
            LLAMA,
            InputValidationError,
            "{source}, line 1: 'modelInput' is a Claude body (it sets anthropic_version), but the job runs {model!r}, "
            "whose model fails every such record: give a Claude model, or records in that model's own body",
            id="native-claude-on-llama",
        ),
    ],
)
def test_an_input_bedrock_would_fail_fails_before_anything_is_written_to_s3(
    connection, tmp_path, moto_s3, bedrock_bucket, bedrock_emulator, lines, model, error, message
):
    source = write_input(tmp_path / "input.jsonl", lines)
    op = GenAIBatchSubmitOperator(task_id="submit", conn_id=connection, model=model, input=source)
    with pytest.raises(error) as raised:
        op.execute(make_context(FakeTI()))
    assert str(raised.value) == message.format(source=source, model=model)
    assert moto_s3.keys(bedrock_bucket) == []
    assert bedrock_jobs(bedrock_emulator) == []


def test_a_submit_whose_credentials_may_not_read_the_output_prefix_fails_before_anything_is_written_to_s3(
    connection, tmp_path, moto_s3, bedrock_bucket, bedrock_emulator, monkeypatch
):
    real_head = s3_api.head

    def head(endpoint: s3_api.S3Endpoint, obj: s3_api.S3Object) -> Any:
        if obj.key.startswith("output/"):  # S3's answer to credentials without s3:GetObject there
            raise ProviderAPIError("Forbidden", http_status=403, provider="bedrock")
        return (yield from real_head(endpoint, obj))

    monkeypatch.setattr(s3_api, "head", head)
    source = write_input(tmp_path / "input.jsonl", gemini_lines(100))
    op = GenAIBatchSubmitOperator(
        task_id="submit", conn_id=connection, model=CLAUDE, input=source, output_uri=str(tmp_path / "results")
    )
    with pytest.raises(GenAIBatchError, match="cannot read the job's results back from output_s3_uri"):
        op.execute(make_context(FakeTI()))
    assert moto_s3.keys(bedrock_bucket) == []
    assert bedrock_jobs(bedrock_emulator) == []
    assert not (tmp_path / "results" / "input_keys.jsonl").exists()


def test_a_retried_submit_creates_no_second_job(connection, tmp_path, bedrock_emulator, monkeypatch):
    source = write_input(tmp_path / "input.jsonl", gemini_lines(100))
    ti = FakeTI(dag_id="bedrock_dag", task_id="submit")
    key = idempotency_key(ti.dag_id, ti.task_id, ti.run_id, ti.map_index)

    def submit(try_number: int) -> dict[str, Any]:
        # A new try of the same task instance: Airflow clears its XCom, so only the provider can tell.
        retry = FakeTI(dag_id=ti.dag_id, task_id=ti.task_id, run_id=ti.run_id, try_number=try_number)
        op = GenAIBatchSubmitOperator(task_id="submit", conn_id=connection, model=CLAUDE, input=source)
        return op.execute(make_context(retry))

    first = submit(1)
    second = submit(2)  # found again by its key (nameContains), not created again
    monkeypatch.setattr(BedrockBatchHook, "find_batch", lambda self, key, input_fingerprint=None, not_before=None: None)
    third = submit(3)  # the lookup misses (say, listing lags): the create repeats the same token

    assert first["job_name"] == second["job_name"] == third["job_name"]
    assert len(bedrock_jobs(bedrock_emulator)) == 1
    creates = [
        r["json"]
        for r in bedrock_emulator.requests()
        if r["method"] == "POST" and r["path"] == "/bedrock/model-invocation-job"
    ]
    assert len(creates) == 2
    fingerprint = first["input_fingerprint"]
    assert creates[0]["clientRequestToken"] == creates[1]["clientRequestToken"] == f"{key}-{fingerprint}"
    assert creates[0]["jobName"] == creates[1]["jobName"]


def test_a_resubmit_after_a_failed_job_makes_a_new_job_not_the_failed_one_again(connection, tmp_path, bedrock_emulator):
    source = write_input(tmp_path / "input.jsonl", gemini_lines(100))
    ti = FakeTI(dag_id="bedrock_dag", task_id="submit")

    def submit(try_number: int) -> dict[str, Any]:
        retry = FakeTI(dag_id=ti.dag_id, task_id=ti.task_id, run_id=ti.run_id, try_number=try_number)
        op = GenAIBatchSubmitOperator(task_id="submit", conn_id=connection, model=CLAUDE, input=source)
        return op.execute(make_context(retry))

    bedrock_emulator.config(job_outcome="fail")
    first = submit(1)
    assert wait(BedrockBatchHook(conn_id=connection), first["job_name"]).state is JobState.FAILED
    bedrock_emulator.config(job_outcome="succeed")
    second = submit(2)  # same key, same input: Bedrock would answer a repeated token with the failed job

    assert second["job_name"] != first["job_name"]
    assert len(bedrock_jobs(bedrock_emulator)) == 2
    tokens = [
        r["json"]["clientRequestToken"]
        for r in bedrock_emulator.requests()
        if r["method"] == "POST" and r["path"] == "/bedrock/model-invocation-job"
    ]
    assert len(set(tokens)) == 2 and tokens[1].startswith(tokens[0] + "-r")


def test_submit_and_wait_lands_one_row_per_input_key(connection, tmp_path):
    source = write_input(tmp_path / "input.jsonl", gemini_lines(100, fail={10, 20}))
    output = tmp_path / "results"
    op = GenAIBatchSubmitOperator(
        task_id="submit",
        conn_id=connection,
        model=CLAUDE,
        input=source,
        output_uri=str(output),
        wait_for_completion=True,
        deferrable=False,
        poll_interval=0.1,
        max_failed_ratio=0.05,
    )
    manifest = op.execute(make_context(FakeTI()))

    rows = [json.loads(line) for line in (output / "results.jsonl").read_text().splitlines()]
    assert sorted(row["key"] for row in rows) == sorted(f"doc-{i}" for i in range(100))
    assert {row["key"] for row in rows if row["status"] == "failed"} == {"doc-10", "doc-20"}
    assert manifest["state"] == "JOB_STATE_SUCCEEDED"
    assert manifest["provider_state"] == "Completed"
    assert manifest["counts"] == {
        "total": 100, "succeeded": 98, "failed": 2, "cancelled": 0, "expired": 0, "missing": 0,
        "unmatched": 0, "unparseable": 0, "duplicates": 0,
    }  # fmt: skip


def test_native_lines_for_a_gpt_oss_job_land_their_answers_and_usage(connection, tmp_path):
    lines = [
        {"recordId": f"Q{i}", "modelInput": {"messages": [{"role": "user", "content": f"Question {i}?"}],
                                             "max_completion_tokens": 64}}
        for i in range(100)
    ]  # fmt: skip
    source = write_input(tmp_path / "input.jsonl", lines)
    output = tmp_path / "results"
    op = GenAIBatchSubmitOperator(
        task_id="submit",
        conn_id=connection,
        model="openai.gpt-oss-20b-1:0",
        input=source,
        output_uri=str(output),
        wait_for_completion=True,
        deferrable=False,
        poll_interval=0.1,
    )
    manifest = op.execute(make_context(FakeTI()))

    rows = {row["key"]: row for row in map(json.loads, (output / "results.jsonl").read_text().splitlines())}
    assert (rows["Q7"]["status"], rows["Q7"]["text"]) == ("succeeded", "Answer to: Question 7?")
    assert rows["Q7"]["usage"] == {"input_tokens": 2, "output_tokens": 4, "total_tokens": 6}
    from_rows = manifest["usage"]["parts"][0]["from_rows"]
    assert (from_rows["input_tokens"], from_rows["output_tokens"], from_rows["rows"]) == (200, 400, 100)
