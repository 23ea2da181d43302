"""What a submit leaves in the provider's storage when the create of its job is refused.

A create answered with a refusal (a 400 for a model the service does not know, a 429 every try) made no job, and the
task fails: the file this try uploaded for that job alone is deleted, so that it is not left stored (and billed, on S3)
while the next try uploads another copy. Nothing a job reads is deleted: a part created before the refused one keeps
its file, and a create that may have made its job (a lost answer) keeps the upload; an object a job was to read in
place, the user's own, is never deleted (tests/unit/pipeline/test_stored_input.py). Files are counted in the
emulator's store (and moto's S3) before and after.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_genai_batch.errors import ProviderAPIError
from airflow_provider_genai_batch.hooks.gateway import GatewayBatchHook
from airflow_provider_genai_batch.hooks.gemini import GeminiBatchHook
from airflow_provider_genai_batch.hooks.openai import OpenAIBatchHook
from airflow_provider_genai_batch.operators.submit import GenAIBatchSubmitOperator
from airflow_provider_genai_batch.testing.emulator import EmulatorServer
from tests.emulator.uploads import uploaded_files, wait_until_ended
from tests.unit.pipeline.fakes import FakeTI, capture_log, make_context, write_jsonl

API_KEY = "refused-create-key"
GEMINI_CREATE = r":batchGenerateContent$"
OPENAI_CREATE = r"^/openai/v1/batches$"
BEDROCK_CREATE = r"^/bedrock/model-invocation-job$"
CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"


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
    gateway = {
        "conn_type": "genaigateway",
        "host": f"{emulator.base_url}/genai",
        "password": API_KEY,
        "extra": {**extra, "model_provider": "openai"},
    }
    monkeypatch.setenv("AIRFLOW_CONN_OPENAI_EMULATED", json.dumps(openai))
    monkeypatch.setenv("AIRFLOW_CONN_GATEWAY_EMULATED", json.dumps(gateway))


def refuse_creates(emulator: EmulatorServer, path: str, status: int = 400, **faults: Any) -> None:
    """Every create (a POST to ``path``) is answered ``status`` before the handler runs: no job is made."""
    emulator.config(
        faults={"error_rate": 1.0, "error_statuses": [status], "paths": path, "methods": ["POST"], **faults}
    )


def lines(count: int) -> list[dict[str, Any]]:
    return [
        {"key": f"k{i}", "request": {"contents": [{"role": "user", "parts": [{"text": f"q{i}"}]}]}}
        for i in range(count)
    ]


def submit(conn_id: str, model: str, source: Path | str, **kwargs: Any) -> GenAIBatchSubmitOperator:
    return GenAIBatchSubmitOperator(
        task_id="submit", conn_id=conn_id, model=model, input=str(source), deferrable=False, **kwargs
    )


def stored_files(hook: GeminiBatchHook | OpenAIBatchHook) -> list[str]:
    """The files the emulator stores for ``hook``'s provider, as its Files API lists them."""
    return [f.name for f in hook.list_files()]


@pytest.mark.parametrize("status", [400, 404])
def test_a_gemini_upload_whose_create_is_refused_is_deleted(emulator, tmp_path, status, caplog):
    hook = GeminiBatchHook(conn_id="gemini_emulated")
    refuse_creates(emulator, GEMINI_CREATE, status)
    source = write_jsonl(tmp_path / "in.jsonl", lines(3))

    operator = submit("gemini_emulated", "gemini-2.5-flash", source)
    capture_log(operator, caplog)

    with pytest.raises(ProviderAPIError) as refused:
        operator.execute(make_context(FakeTI()))

    assert refused.value.http_status == status
    sessions = [r for r in emulator.requests() if r["path"].endswith("/files") and not r["query"]]
    assert len(sessions) == 1  # an upload was made ...
    assert stored_files(hook) == []  # ... and is gone
    assert emulator.jobs() == []
    assert "the create was refused: deleted files/" in caplog.text


def test_a_gemini_upload_for_a_model_the_batch_api_does_not_have_is_deleted_and_the_error_names_the_model(
    emulator, tmp_path
):
    hook = GeminiBatchHook(conn_id="gemini_emulated")
    source = write_jsonl(tmp_path / "in.jsonl", lines(3))

    with pytest.raises(ProviderAPIError) as refused:
        submit("gemini_emulated", "gemini-1.5-flash", source).execute(make_context(FakeTI()))

    assert refused.value.http_status == 404
    assert "models/gemini-1.5-flash is not found for API version" in str(refused.value)
    assert stored_files(hook) == []
    assert emulator.jobs() == []


def test_an_openai_upload_whose_create_is_refused_every_try_with_429_is_deleted(emulator, tmp_path):
    hook = OpenAIBatchHook(conn_id="openai_emulated")
    refuse_creates(emulator, OPENAI_CREATE, 429, retry_after=0)
    source = write_jsonl(tmp_path / "in.jsonl", lines(3))

    with pytest.raises(ProviderAPIError, match="429"):
        submit("openai_emulated", "gpt-4o-mini", source).execute(make_context(FakeTI()))

    assert emulator.faults()["counts"]["error"] > 1  # the create was tried again, and refused each time
    assert stored_files(hook) == []
    assert emulator.jobs() == []


def test_a_gateway_upload_whose_create_is_refused_is_deleted(emulator, tmp_path):
    hook = GatewayBatchHook(conn_id="gateway_emulated")
    refuse_creates(emulator, r"^/genai/.*:batchGenerateContent$", 400)
    source = write_jsonl(tmp_path / "in.jsonl", lines(3))

    with pytest.raises(ProviderAPIError, match="400"):
        submit("gateway_emulated", "gpt-4o-mini", source).execute(make_context(FakeTI()))

    assert [r for r in emulator.requests() if r["method"] == "DELETE"]  # the upload was made, then deleted
    assert stored_files(hook) == []


def test_an_upload_whose_create_may_have_made_its_job_is_kept(emulator, tmp_path):
    hook = OpenAIBatchHook(conn_id="openai_emulated")
    refuse_creates(emulator, OPENAI_CREATE, 503, retry_after=0)  # a 503 may answer a create that made the job
    source = write_jsonl(tmp_path / "in.jsonl", lines(3))

    with pytest.raises(ProviderAPIError, match="503"):
        submit("openai_emulated", "gpt-4o-mini", source).execute(make_context(FakeTI()))

    assert len(stored_files(hook)) == 1


def test_a_refused_part_loses_its_upload_and_the_parts_created_before_it_keep_theirs(emulator, tmp_path):
    hook = GeminiBatchHook(conn_id="gemini_emulated")
    source = write_jsonl(tmp_path / "in.jsonl", lines(6))
    real_create = GeminiBatchHook.create_batch
    creates = []

    def third_refused(self: GeminiBatchHook, spec: Any) -> Any:
        creates.append(spec.display_name)
        if len(creates) == 3:
            refuse_creates(emulator, GEMINI_CREATE, 400)
        return real_create(self, spec)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(GeminiBatchHook, "create_batch", third_refused)
        with pytest.raises(ProviderAPIError, match="400"):
            submit("gemini_emulated", "gemini-2.5-flash", source, max_requests_per_job=2).execute(
                make_context(FakeTI())
            )

    read = {wait_until_ended(hook, job["name"]).input_file for job in emulator.jobs()}
    assert len(read) == 2
    assert set(uploaded_files(hook)) == read  # the two created parts' files stay; the third part's is gone


# --- Bedrock: S3 objects ----------------------------------------------------------------------------------


@pytest.fixture
def bedrock(bedrock_connection: Callable[..., str]) -> str:
    return bedrock_connection(retry_max_wait=0.05, max_retries=1)


def test_a_bedrock_input_object_whose_create_is_refused_is_deleted(
    bedrock, bedrock_emulator, moto_s3, bedrock_bucket, tmp_path
):
    refuse_creates(bedrock_emulator, BEDROCK_CREATE, 400)
    source = write_jsonl(tmp_path / "in.jsonl", lines(100))

    with pytest.raises(ProviderAPIError, match="400"):
        submit(bedrock, CLAUDE, source).execute(make_context(FakeTI()))

    puts = [r for r in bedrock_emulator.requests() if r["method"] == "POST" and "model-invocation-job" in r["path"]]
    assert puts  # the create was reached: the object was uploaded before it
    assert moto_s3.keys(bedrock_bucket, "input/") == []
