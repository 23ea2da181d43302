"""Fixtures for pipeline tests: the fake provider wired into every hook lookup, a TI, paths."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from airflow.sdk.execution_time import task_runner

from airflow_provider_genai_batch import completion
from airflow_provider_genai_batch.operators import files as files_module
from airflow_provider_genai_batch.operators import jobs as jobs_module
from airflow_provider_genai_batch.operators import submit as submit_module
from airflow_provider_genai_batch.testing.s3 import MotoS3Server
from airflow_provider_genai_batch.triggers import batch_job as trigger_module

from .fakes import S3_CONN_ID, FakeBatchHook, FakeSupervisor, FakeTI, canonical_line, write_jsonl


@pytest.fixture
def fake_hook(monkeypatch: pytest.MonkeyPatch) -> FakeBatchHook:
    """One fake provider, returned by every hook lookup the pipeline code does."""
    hook = FakeBatchHook()

    def by_provider(provider: str) -> Callable[..., FakeBatchHook]:
        assert provider == hook.provider
        return lambda conn_id=None, **_: hook

    def by_conn(conn_id: str) -> FakeBatchHook:
        hook.calls.append(("get_hook", conn_id))
        return hook

    monkeypatch.setattr(completion, "hook_class_for_provider", by_provider)
    monkeypatch.setattr(trigger_module, "hook_class_for_provider", by_provider)
    for module in (submit_module, files_module, jobs_module):
        monkeypatch.setattr(module, "get_hook", by_conn)
    return hook


@pytest.fixture
def ti() -> FakeTI:
    return FakeTI()


@pytest.fixture
def output_uri(tmp_path: Path) -> str:
    return str(tmp_path / "out")


@pytest.fixture
def input_jsonl(tmp_path: Path) -> Path:
    """Three valid canonical lines, keys a, b, c."""
    return write_jsonl(tmp_path / "input.jsonl", [canonical_line(k) for k in ("a", "b", "c")])


@pytest.fixture
def supervisor(monkeypatch: pytest.MonkeyPatch) -> FakeSupervisor:
    """A fake Task SDK supervisor channel, installed where the SDK looks for it (``task_runner.SUPERVISOR_COMMS``)."""
    fake = FakeSupervisor()
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", fake, raising=False)
    return fake


@pytest.fixture
def s3(moto_s3: MotoS3Server, monkeypatch: pytest.MonkeyPatch) -> MotoS3Server:
    """moto's S3, reached through the connection :data:`.fakes.S3_CONN_ID` (its endpoint in the connection's extra)."""
    connection = {
        "conn_type": "aws",
        "login": "test-key",
        "password": "test-secret",
        "extra": {"endpoint_url": moto_s3.endpoint_url, "region_name": moto_s3.region},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{S3_CONN_ID.upper()}", json.dumps(connection))
    return moto_s3
