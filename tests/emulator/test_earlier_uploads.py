"""A retry uses the input file an earlier try uploaded for the same job (the same task instance and input), rather
than leaving that file stored (and billed, on S3 and Cloud Storage; counted against Gemini's and OpenAI's storage)
beside another copy.

The upload is named for the task instance's idempotency key and the input's fingerprint, so a try that died after the
upload and before the create was answered (a worker killed) and a retry after the job failed or was cancelled find it
again, and an OpenAI upload whose answer was lost after the file was stored is found before it is sent again. Files
are counted in the emulator's store (and moto's S3) after the retry.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_genai_batch.hooks.bedrock import BedrockBatchHook
from airflow_provider_genai_batch.hooks.gateway import GatewayBatchHook
from airflow_provider_genai_batch.hooks.gemini import GeminiBatchHook
from airflow_provider_genai_batch.hooks.openai import OpenAIBatchHook
from airflow_provider_genai_batch.operators.submit import GenAIBatchSubmitOperator
from airflow_provider_genai_batch.testing.emulator import EmulatorServer
from tests.emulator.uploads import uploaded_files, wait_until_ended
from tests.unit.pipeline.fakes import FakeTI, make_context, write_jsonl

API_KEY = "earlier-uploads-key"
CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"


class Killed(BaseException):
    """The worker dies (SIGKILL): nothing of the try runs after this, no except clause catches it."""


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(pending_seconds=0.1, running_seconds=0.2, api_key=API_KEY) as server:
        yield server


@pytest.fixture(autouse=True)
def _connections(monkeypatch: pytest.MonkeyPatch, emulator: EmulatorServer) -> None:
    extra = {"retry_max_wait": 0.05, "max_retries": 2}
    gemini = {"conn_type": "genaigemini", "host": emulator.base_url, "password": API_KEY, "extra": extra}
    openai = {"conn_type": "genaiopenai", "host": f"{emulator.base_url}/openai/v1", "password": API_KEY, "extra": extra}
    monkeypatch.setenv("AIRFLOW_CONN_GEMINI_EMULATED", json.dumps(gemini))
    monkeypatch.setenv("AIRFLOW_CONN_OPENAI_EMULATED", json.dumps(openai))
    for target in ("openai", "gemini"):
        gateway = {
            "conn_type": "genaigateway",
            "host": f"{emulator.base_url}/genai",
            "password": API_KEY,
            "extra": {**extra, "model_provider": target},
        }
        monkeypatch.setenv(f"AIRFLOW_CONN_GATEWAY_{target.upper()}", json.dumps(gateway))


def lines(count: int) -> list[dict[str, Any]]:
    return [
        {"key": f"k{i}", "request": {"contents": [{"role": "user", "parts": [{"text": f"q{i}"}]}]}}
        for i in range(count)
    ]


def submit(conn_id: str, model: str, source: Path, **kwargs: Any) -> GenAIBatchSubmitOperator:
    return GenAIBatchSubmitOperator(
        task_id="submit", conn_id=conn_id, model=model, input=str(source), deferrable=False, **kwargs
    )


def killed_at_first_create(monkeypatch: pytest.MonkeyPatch, hook_class: type[Any]) -> None:
    """The first create request is never sent: the worker dies once the input is uploaded."""
    real_create = hook_class.create_batch
    calls = []

    def create(self: Any, spec: Any) -> Any:
        calls.append(spec)
        if len(calls) == 1:
            raise Killed
        return real_create(self, spec)

    monkeypatch.setattr(hook_class, "create_batch", create)


def killed_then_retried(operator: GenAIBatchSubmitOperator) -> dict[str, Any]:
    """Try 1 dies after its upload; try 2 of the same task instance runs to its job ref."""
    ti = FakeTI()
    with pytest.raises(Killed):
        operator.execute(make_context(ti))
    ti.try_number = 2
    return operator.execute(make_context(ti))


@pytest.mark.parametrize("parts", [1, 2])
def test_a_gemini_retry_after_a_death_between_upload_and_create_uses_the_earlier_upload(
    emulator, tmp_path, monkeypatch, parts
):
    hook = GeminiBatchHook(conn_id="gemini_emulated")
    killed_at_first_create(monkeypatch, GeminiBatchHook)
    source = write_jsonl(tmp_path / "in.jsonl", lines(4))

    killed_then_retried(submit("gemini_emulated", "gemini-2.5-flash", source, max_requests_per_job=4 // parts))

    read = sorted(wait_until_ended(hook, job["name"]).input_file for job in emulator.jobs())
    stored = sorted(uploaded_files(hook))
    assert len(stored) == parts  # one upload per part, none left beside a copy
    assert read == stored


def test_an_openai_retry_after_a_death_between_upload_and_create_uses_the_earlier_upload(
    emulator, tmp_path, monkeypatch
):
    hook = OpenAIBatchHook(conn_id="openai_emulated")
    killed_at_first_create(monkeypatch, OpenAIBatchHook)
    source = write_jsonl(tmp_path / "in.jsonl", lines(3))

    killed_then_retried(submit("openai_emulated", "gpt-4o-mini", source))

    uploads = [r for r in emulator.requests() if r["method"] == "POST" and r["path"] == "/openai/v1/files"]
    (job,) = emulator.jobs()
    assert len(uploads) == 1
    read = wait_until_ended(hook, job["name"]).input_file
    assert uploaded_files(hook) == [read]


@pytest.mark.parametrize("lost_mode", ["error", "drop"])
def test_an_openai_upload_whose_answer_is_lost_is_found_not_sent_again(emulator, tmp_path, lost_mode):
    hook = OpenAIBatchHook(conn_id="openai_emulated")
    emulator.config(
        faults={
            "lost_rate": 1.0,
            "lost_mode": lost_mode,
            "paths": r"^/openai/v1/files$",
            "methods": ["POST"],
            "max_faults": 1,
        }
    )
    source = write_jsonl(tmp_path / "in.jsonl", lines(3))

    submit("openai_emulated", "gpt-4o-mini", source).execute(make_context(FakeTI()))

    assert emulator.faults()["counts"]["lost"] == 1
    (job,) = emulator.jobs()
    read = wait_until_ended(hook, job["name"]).input_file
    assert uploaded_files(hook) == [read]


def test_an_openai_upload_refused_before_it_was_stored_is_sent_again_once(emulator, tmp_path):
    hook = OpenAIBatchHook(conn_id="openai_emulated")
    emulator.config(
        faults={
            "error_rate": 1.0,
            "error_statuses": [503],
            "retry_after": 0,
            "paths": r"^/openai/v1/files$",
            "methods": ["POST"],
            "max_faults": 1,
        }
    )
    source = write_jsonl(tmp_path / "in.jsonl", lines(3))

    submit("openai_emulated", "gpt-4o-mini", source).execute(make_context(FakeTI()))

    uploads = [r for r in emulator.requests() if r["method"] == "POST" and r["path"] == "/openai/v1/files"]
    (job,) = emulator.jobs()
    assert len(uploads) == 2  # the refused one, and the one sent again
    read = wait_until_ended(hook, job["name"]).input_file
    assert uploaded_files(hook) == [read]


@pytest.mark.parametrize(("target", "model"), [("openai", "gpt-4o-mini"), ("gemini", "gemini-2.5-flash")])
def test_a_gateway_upload_whose_answer_is_lost_is_found_not_sent_again(emulator, tmp_path, target, model):
    hook = GatewayBatchHook(conn_id=f"gateway_{target}")
    emulator.config(faults={"lost_rate": 1.0, "uploads_only": True, "paths": r"^/genai/upload/", "max_faults": 1})
    source = write_jsonl(tmp_path / "in.jsonl", lines(3))

    ref = submit(f"gateway_{target}", model, source).execute(make_context(FakeTI()))

    assert emulator.faults()["counts"]["lost"] == 1  # the request that sent the bytes and finished the file
    assert [f.name for f in hook.list_files()] == [hook.get_batch(ref["job_name"]).input_file]


def test_a_retry_after_the_job_was_cancelled_uses_its_input_file(emulator, tmp_path):
    hook = OpenAIBatchHook(conn_id="openai_emulated")
    source = write_jsonl(tmp_path / "in.jsonl", lines(3))
    operator = submit("openai_emulated", "gpt-4o-mini", source)
    ti = FakeTI()
    running = emulator.config()["running_seconds"]
    emulator.config(running_seconds=600)  # still running when it is cancelled, however busy the machine
    try:
        first = operator.execute(make_context(ti))
    finally:
        emulator.config(running_seconds=running)
    hook.cancel_batch(first["job_name"])
    ti.try_number = 2

    second = operator.execute(make_context(ti))

    assert second["job_name"] != first["job_name"]
    wait_until_ended(hook, first["job_name"])  # its (partial) results files are stored too
    (stored,) = uploaded_files(hook)  # the cancelled job's input, not a second copy of it
    assert hook.get_batch(second["job_name"]).input_file == stored


def test_a_first_try_reads_no_file_listing(emulator, tmp_path):
    source = write_jsonl(tmp_path / "in.jsonl", lines(3))

    submit("gemini_emulated", "gemini-2.5-flash", source).execute(make_context(FakeTI()))

    listings = [r for r in emulator.requests() if r["method"] == "GET" and r["path"].endswith("/files")]
    assert listings == []  # no earlier try can have uploaded it: nothing is looked for


# --- Bedrock: S3 objects ----------------------------------------------------------------------------------


@pytest.fixture
def bedrock(bedrock_connection: Callable[..., str]) -> str:
    return bedrock_connection(retry_max_wait=0.05, max_retries=1)


def test_a_bedrock_retry_after_a_death_between_upload_and_create_uses_the_earlier_object(
    bedrock, bedrock_emulator, moto_s3, bedrock_bucket, tmp_path, monkeypatch
):
    killed_at_first_create(monkeypatch, BedrockBatchHook)
    source = write_jsonl(tmp_path / "in.jsonl", lines(100))

    ref = killed_then_retried(submit(bedrock, CLAUDE, source))

    hook = BedrockBatchHook(conn_id=bedrock)
    (key,) = moto_s3.keys(bedrock_bucket, "input/")
    assert hook.get_batch(ref["job_name"]).input_file == f"s3://{bedrock_bucket}/{key}"
