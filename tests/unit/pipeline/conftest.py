"""Fixtures for pipeline tests: the fake provider wired into every hook lookup, a TI, paths."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from airflow.sdk.execution_time import task_runner

from airflow_provider_genai_batch import completion
from airflow_provider_genai_batch.operators import files as files_module
from airflow_provider_genai_batch.operators import jobs as jobs_module
from airflow_provider_genai_batch.operators import submit as submit_module
from airflow_provider_genai_batch.triggers import batch_job as trigger_module

from .fakes import FakeBatchHook, FakeSupervisor, FakeTI, canonical_line, write_jsonl


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
