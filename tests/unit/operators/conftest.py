"""The submit operator against the emulator served in this process (OpenAI and Gemini), for split inputs,
waiting parts, follow-up rounds and dry runs: its request log shows every call a submit made."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_genai_batch.idempotency import idempotency_key
from airflow_provider_genai_batch.operators.submit import GenAIBatchSubmitOperator
from airflow_provider_genai_batch.testing.emulator.history import InProcessEmulator
from tests.unit.pipeline.fakes import DictStateStore, FakeTI, canonical_line, write_jsonl

OPENAI_CONN = "split_openai"
GEMINI_CONN = "split_gemini"
OPENAI_MODEL = "gpt-4o-mini"
GEMINI_MODEL = "gemini-2.5-flash"
RUN_ID = "manual__2026-01-02T00:00:00+00:00"
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@pytest.fixture(scope="module")
def emulator() -> Iterator[InProcessEmulator]:
    """Jobs end the moment they are looked at: a part's slot frees as soon as it is polled."""
    with InProcessEmulator(pending_seconds=0, running_seconds=0) as server:
        yield server


@pytest.fixture
def provider(emulator: InProcessEmulator, monkeypatch: pytest.MonkeyPatch) -> InProcessEmulator:
    """An emptied emulator, with an OpenAI and a Gemini connection on it."""
    emulator.state.reset()
    connections = {
        OPENAI_CONN: {
            "conn_type": "genaiopenai",
            "host": f"{emulator.base_url}/openai/v1",
            "password": "k",
            "extra": {"retry_max_wait": 0.1},
        },
        GEMINI_CONN: {"conn_type": "genaigemini", "host": emulator.base_url, "password": "k"},
    }
    for conn_id, conn in connections.items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return emulator


class Task:
    """One task instance across tries: its key, its task state store (or none) and its XCom."""

    def __init__(self, *, use_store: bool = True) -> None:
        self.store = DictStateStore() if use_store else None
        self.xcom: dict[tuple[str, int, str], Any] = {}
        self.key = idempotency_key("genai_dag", "submit", RUN_ID, -1)

    def try_context(self) -> dict[str, Any]:
        ti = FakeTI(run_id=RUN_ID, xcom=self.xcom)
        context: dict[str, Any] = {"ti": ti, "dag_run": SimpleNamespace(run_id=RUN_ID, run_after=None)}
        if self.store is not None:
            context["task_state_store"] = self.store
        return context


def lines(count: int, *, text: str = "hello") -> list[dict[str, Any]]:
    return [canonical_line(f"k{i}", f"{text} {i}") for i in range(count)]


def write_input(path: Path, rows: list[dict[str, Any]] | list[Any]) -> str:
    return str(write_jsonl(path, rows))


def submit(
    input: Any, *, conn_id: str = OPENAI_CONN, model: str = OPENAI_MODEL, **kwargs: Any
) -> GenAIBatchSubmitOperator:
    return GenAIBatchSubmitOperator(
        task_id="submit", conn_id=conn_id, model=model, input=input, display_name="nightly", **kwargs
    )


def requests(emulator: InProcessEmulator, method: str | None = None, path_end: str = "") -> list[dict[str, Any]]:
    """Logged API requests, those with ``method`` and a path ending in ``path_end`` when given."""
    return [
        entry
        for entry in emulator.state.request_log
        if (method is None or entry["method"] == method) and entry["path"].endswith(path_end)
    ]


def creates(emulator: InProcessEmulator) -> list[dict[str, Any]]:
    """The bodies of every OpenAI batch create, in order."""
    return [entry["json"] for entry in requests(emulator, "POST", "/openai/v1/batches")]


def uploads(emulator: InProcessEmulator) -> list[dict[str, Any]]:
    return requests(emulator, "POST", "/openai/v1/files")


def writes(emulator: InProcessEmulator) -> list[dict[str, Any]]:
    return [entry for entry in emulator.state.request_log if entry["method"] in WRITES]
