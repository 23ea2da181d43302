"""A submit's look-up by key reads back only to its run's floor, and still re-attaches exactly once.

The submit operator against the emulator (in this process, 2,000 batches another task made a day before the
run) with the OpenAI hook; each try's context holds the dag run, as the Task SDK gives it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from airflow_provider_genai_batch.hooks.openai import OpenAIBatchHook
from airflow_provider_genai_batch.idempotency import idempotency_key
from airflow_provider_genai_batch.operators.submit import GenAIBatchSubmitOperator
from airflow_provider_genai_batch.spec import BatchSpec, FileSource
from airflow_provider_genai_batch.testing.emulator.history import InProcessEmulator, seed_history

from .fakes import DictStateStore, FakeTI, canonical_line, write_jsonl

CONN_ID = "lookup_floor_openai"
MODEL = "gpt-4o-mini"
DAY = 86_400.0
LIST_PATH = "/openai/v1/batches"


@pytest.fixture(scope="module")
def emulator() -> Iterator[InProcessEmulator]:
    with InProcessEmulator(pending_seconds=0, running_seconds=0) as server:
        yield server


@pytest.fixture
def history(emulator: InProcessEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An emptied emulator holding 2,000 batches another task made a day ago (20 pages); the connection on it."""
    emulator.state.reset()
    conn = {"conn_type": "genaiopenai", "host": f"{emulator.base_url}/openai/v1", "password": "k"}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))
    hook = OpenAIBatchHook(conn_id=CONN_ID)
    line = {"custom_id": "k0", "method": "POST", "url": "/v1/chat/completions", "body": {"model": MODEL}}
    uploaded = hook.upload_file(write_jsonl(tmp_path / "other.jsonl", [line]).open("rb"), display_name="o.jsonl")
    other = idempotency_key("reports", "another_task", "scheduled__2026-01-01T00:00:00+00:00", None)
    made = hook.create_batch(
        BatchSpec(model=MODEL, display_name="other", source=FileSource(uploaded.name), idempotency_key=other)
    )
    record = emulator.state.store.get_job(made.name)
    assert record is not None
    seed_history(emulator.state.store, record, 2_000, newest=datetime.now(timezone.utc).timestamp() - DAY)
    emulator.state.store.delete_job(record)
    emulator.state.request_log.clear()


def a_try(run_id: str, run_after: datetime, try_number: int, store: DictStateStore) -> dict[str, Any]:
    """The context of one try: its TI, the dag run (id and run_after) and the task state store."""
    ti = FakeTI(dag_id="reports", task_id="submit", run_id=run_id, try_number=try_number)
    return {"ti": ti, "dag_run": SimpleNamespace(run_id=run_id, run_after=run_after), "task_state_store": store}


def submit(tmp_path: Path) -> GenAIBatchSubmitOperator:
    lines = [canonical_line(key) for key in "abc"]
    return GenAIBatchSubmitOperator(
        task_id="submit", conn_id=CONN_ID, model=MODEL, input=str(write_jsonl(tmp_path / "input.jsonl", lines))
    )


def openai_jobs(emulator: InProcessEmulator) -> list[str]:
    return [job.name for job in emulator.state.store.list_jobs("openai")]


def listings(emulator: InProcessEmulator) -> int:
    return sum(1 for e in emulator.state.request_log if e["method"] == "GET" and e["path"] == LIST_PATH)


def test_a_rerun_whose_state_store_was_cleared_reattaches_reading_one_page(history, emulator, tmp_path):
    run_after = datetime.now(timezone.utc)
    run_id = f"manual__{run_after.isoformat()}"
    first = submit(tmp_path).execute(a_try(run_id, run_after, 1, DictStateStore()))
    jobs = openai_jobs(emulator)
    emulator.state.request_log.clear()

    again = submit(tmp_path).execute(a_try(run_id, run_after, 2, DictStateStore()))  # clear_on_success emptied it

    assert again["job_name"] == first["job_name"]
    assert openai_jobs(emulator) == jobs
    assert listings(emulator) == 1


def test_a_create_whose_answer_was_lost_is_found_within_the_try_reading_one_page(history, emulator, tmp_path):
    run_after = datetime.now(timezone.utc)
    run_id = f"manual__{run_after.isoformat()}"
    lost = {"lost_rate": 1.0, "lost_mode": "error", "methods": ["POST"], "paths": "batches$", "max_faults": 1}
    before = set(openai_jobs(emulator))
    httpx.post(f"{emulator.base_url}/_emulator/config", json={"faults": lost}).raise_for_status()

    ref = submit(tmp_path).execute(a_try(run_id, run_after, 1, DictStateStore()))

    assert [name for name in openai_jobs(emulator) if name not in before] == [ref["job_name"]]
    assert listings(emulator) == 2  # the first submit's look-up, then the one after the lost answer


def test_a_run_id_chosen_by_hand_reads_the_whole_listing(history, emulator, tmp_path):
    submit(tmp_path).execute(a_try("nightly-rebuild", datetime.now(timezone.utc), 1, DictStateStore()))

    assert listings(emulator) == 20  # every page of the 2,000 batches
