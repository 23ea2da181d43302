"""A dry run's plan is what the submit then does: the same parts, each with the same requests, bytes and input
lines as the file the submit uploads for it, whatever limits cut the input."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from airflow_provider_genai_batch.job_ref import BatchJobRef
from airflow_provider_genai_batch.testing.emulator.history import InProcessEmulator

from .conftest import GEMINI_CONN, GEMINI_MODEL, OPENAI_CONN, OPENAI_MODEL, Task, requests, submit, write_input

TARGETS = {"openai": (OPENAI_CONN, OPENAI_MODEL), "gemini": (GEMINI_CONN, GEMINI_MODEL)}
ANTHROPIC_CONN = "split_anthropic"


def random_input(rng: random.Random) -> list[dict[str, Any]]:
    """Requests of very different sizes, so that every limit cuts somewhere."""
    return [
        {"key": f"k{i}", "request": {"contents": [{"role": "user", "parts": [{"text": "w " * rng.randrange(1, 400)}]}]}}
        for i in range(rng.randrange(1, 40))
    ]


def random_limits(rng: random.Random) -> dict[str, Any]:
    limits = {
        "max_requests_per_job": rng.choice([None, 1, 3, 7, 50]),
        "max_bytes_per_job": rng.choice([None, 2_000, 5_000, 20_000]),
        "max_input_tokens_per_job": rng.choice([None, 300, 600, 5_000]),
    }
    return {name: value for name, value in limits.items() if value is not None}


def uploaded_parts(emulator: InProcessEmulator, provider: str) -> list[tuple[int, list[str]]]:
    """Each uploaded file's bytes and the keys of its lines, in the order they were uploaded."""
    found = []
    for stored in sorted(emulator.state.store.list_files(provider), key=lambda f: f.seq):
        data = stored.path.read_bytes()
        rows = [json.loads(line) for line in data.splitlines()]
        found.append((len(data), [row.get("custom_id") or row.get("key") for row in rows]))
    return found


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_the_dry_runs_parts_are_the_parts_the_submit_uploads(provider, tmp_path, monkeypatch, target, seed):
    rng = random.Random(f"{target}-{seed}")
    rows = random_input(rng)
    limits = random_limits(rng)
    conn_id, model = TARGETS[target]
    path = write_input(tmp_path / "in.jsonl", rows)
    if rng.random() < 0.5:
        limits |= {"max_concurrent_jobs": rng.choice([1, 2]), "wait_for_completion": True}

    output = str(tmp_path / "out")
    plan = submit(path, conn_id=conn_id, model=model, output_uri=output, dry_run=True, **limits).execute(
        Task().try_context()
    )

    assert requests(provider) == []
    operator = submit(path, conn_id=conn_id, model=model, output_uri=output, **limits)
    monkeypatch.setattr(operator, "wait_for", lambda context, ref: ref)
    ref = BatchJobRef.parse(operator.execute(Task().try_context()))
    uploaded = uploaded_parts(provider, target)
    planned = [
        (part["bytes"], [row["key"] for row in rows[part["first_line"] - 1 : part["last_line"]]])
        for part in plan["parts"]
    ]
    assert uploaded == planned, limits
    counts = [p.request_count for p in ref.parts] if ref.parts else [ref.request_count]
    assert counts == [part["requests"] for part in plan["parts"]]


@pytest.fixture
def anthropic(provider: InProcessEmulator, monkeypatch: pytest.MonkeyPatch) -> InProcessEmulator:
    """The emulator with an Anthropic connection on it too."""
    conn = {"conn_type": "genaianthropic", "host": f"{provider.base_url}/anthropic", "password": "k"}
    monkeypatch.setenv(f"AIRFLOW_CONN_{ANTHROPIC_CONN.upper()}", json.dumps(conn))
    return provider


@pytest.mark.parametrize("seed", range(8))
def test_the_dry_runs_parts_are_the_inline_batches_the_anthropic_submit_creates(anthropic, tmp_path, seed):
    rng = random.Random(f"anthropic-{seed}")
    rows = [
        {**row, "request": {**row["request"], "generationConfig": {"maxOutputTokens": 16}}} for row in random_input(rng)
    ]
    limits = random_limits(rng)
    path = write_input(tmp_path / "in.jsonl", rows)
    model = "claude-3-haiku-20240307"

    plan = submit(path, conn_id=ANTHROPIC_CONN, model=model, dry_run=True, **limits).execute(Task().try_context())

    assert requests(anthropic) == []
    submit(path, conn_id=ANTHROPIC_CONN, model=model, **limits).execute(Task().try_context())
    made = [entry["json"]["requests"] for entry in requests(anthropic, "POST", "/v1/messages/batches")]
    planned = [[row["key"] for row in rows[part["first_line"] - 1 : part["last_line"]]] for part in plan["parts"]]
    assert [[request["custom_id"] for request in batch] for batch in made] == planned, limits
    assert [len(batch) for batch in made] == [part["requests"] for part in plan["parts"]]
    sent = [sum(len(json.dumps(request, separators=(",", ":")).encode()) + 1 for request in batch) for batch in made]
    assert sent == [part["bytes"] for part in plan["parts"]]
