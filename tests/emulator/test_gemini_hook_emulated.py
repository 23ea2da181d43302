"""GeminiBatchHook against the Gemini emulator, end to end: the upload's chunk granularity, and inline
results whose metadata the service left out, placed by order when landed."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
from pathlib import Path

import pytest

from airflow_provider_genai_batch.formats.gemini import INLINE_REQUEST_OVERHEAD, GeminiDialect
from airflow_provider_genai_batch.hooks.gemini import GeminiBatchHook
from airflow_provider_genai_batch.hooks.status_poll import poll_job
from airflow_provider_genai_batch.inputs import prepare_input
from airflow_provider_genai_batch.job_ref import BatchJobRef
from airflow_provider_genai_batch.landing import RESULTS_FILE, land_results, output_dir, write_keys
from airflow_provider_genai_batch.models import BatchJob
from airflow_provider_genai_batch.parts import SplitLimits
from airflow_provider_genai_batch.spec import BatchKind, BatchSpec, InlineSource
from airflow_provider_genai_batch.testing.emulator import FAIL_MARKER, EmulatorServer
from airflow_provider_genai_batch.triggers.batch_job import GenAIBatchJobTrigger

API_KEY = "gemini-hook-emulated-key"
CONN_ID = "gemini_emulated"
MIB = 1024 * 1024


@pytest.fixture
def hook(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> GeminiBatchHook:
    """A Gemini hook on the emulator that prefers 256 KiB upload chunks."""
    conn = {
        "conn_type": "genaigemini",
        "host": emulator.base_url,
        "password": API_KEY,
        "extra": {"upload_chunk_size": 256 * 1024},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))
    return GeminiBatchHook(conn_id=CONN_ID)


def chunks_received(emulator: EmulatorServer) -> list[tuple[str, str, str]]:
    """``(offset, command, length)`` of every chunk the emulator's upload sessions received, in order."""
    return [
        (r["headers"]["x-goog-upload-offset"], r["headers"]["x-goog-upload-command"], r["headers"]["content-length"])
        for r in emulator.requests()
        if "upload_id=" in r["query"]
    ]


def finished(hook: GeminiBatchHook, name: str, timeout: float = 15.0) -> BatchJob:
    deadline = time.monotonic() + timeout
    while not (job := hook.get_batch(name)).state.is_terminal:
        assert time.monotonic() < deadline, f"{name} is still {job.provider_state}"
        time.sleep(0.05)
    return job


def inline_spec(keys: list[str], texts: list[str], *, embeddings: bool = False) -> BatchSpec:
    pairs = zip(keys, texts, strict=True)
    if embeddings:
        lines = [{"key": k, "request": {"content": {"parts": [{"text": t}]}}} for k, t in pairs]
    else:
        lines = [{"key": k, "request": {"contents": [{"parts": [{"text": t}]}]}} for k, t in pairs]
    return BatchSpec(
        model="gemini-embedding-001" if embeddings else "gemini-2.5-flash",
        display_name="inline",
        source=InlineSource(lines),
        kind=BatchKind.EMBED if embeddings else BatchKind.GENERATE,
    )


def landed(hook: GeminiBatchHook, job: BatchJob, keys: list[str], directory: Path) -> list[dict]:
    out = output_dir(str(directory))
    keys_uri = write_keys(out, keys).uri
    ref = BatchJobRef(provider="gemini", conn_id=CONN_ID, job_name=job.name, request_count=len(keys), keys_uri=keys_uri)
    land_results(hook.iter_results(job), job, ref, out)
    return [json.loads(line) for line in (out / RESULTS_FILE).read_text().splitlines()]


# --- upload -------------------------------------------------------------------------------------------------


def test_an_upload_is_cut_into_chunks_of_the_announced_granularity_not_the_smaller_preference(
    hook: GeminiBatchHook, emulator: EmulatorServer
):
    data = bytes(range(256)) * (9 * MIB // 256)

    info = hook.upload_file(io.BytesIO(data))

    assert info.size_bytes == len(data)
    assert chunks_received(emulator) == [
        ("0", "upload", str(8 * MIB)),
        (str(8 * MIB), "upload, finalize", str(MIB)),
    ]


def test_an_upload_follows_a_lower_announced_granularity(hook: GeminiBatchHook, emulator: EmulatorServer):
    emulator.config(gemini_upload_chunk_granularity=128 * 1024)
    data = b"r" * (600 * 1024)

    info = hook.upload_file(io.BytesIO(data))

    assert info.size_bytes == len(data)
    assert chunks_received(emulator) == [
        ("0", "upload", str(256 * 1024)),
        (str(256 * 1024), "upload", str(256 * 1024)),
        (str(512 * 1024), "upload, finalize", str(88 * 1024)),
    ]


# --- inline results without metadata -----------------------------------------------------------------------


def test_inline_results_without_metadata_land_at_their_keys_by_order(
    hook: GeminiBatchHook, emulator: EmulatorServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    emulator.config(gemini_drop_inline_metadata=True)
    keys = ["first", "second", "third"]
    job = finished(hook, hook.create_batch(inline_spec(keys, ["one", FAIL_MARKER, "three"])).name)

    with caplog.at_level(logging.WARNING, logger="airflow_provider_genai_batch.landing"):
        rows = landed(hook, job, keys, tmp_path / "out")

    assert [(row["key"], row["status"], row["text"]) for row in rows] == [
        ("first", "succeeded", "Answer to: one"),
        ("second", "failed", None),
        ("third", "succeeded", "Answer to: three"),
    ]
    assert not (tmp_path / "out" / "unmatched.jsonl").exists()
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        "3 result rows carried no key and were placed by their order in the provider's output"
    ]


def test_inline_embedding_results_without_metadata_land_at_their_keys_by_order(
    hook: GeminiBatchHook, emulator: EmulatorServer, tmp_path: Path
):
    emulator.config(gemini_drop_inline_metadata=True)
    keys = ["doc-a", "doc-b"]
    job = finished(hook, hook.create_batch(inline_spec(keys, ["alpha", "beta"], embeddings=True)).name)

    rows = landed(hook, job, keys, tmp_path / "out")

    assert [(row["key"], row["status"], len(row["embedding"])) for row in rows] == [
        ("doc-a", "succeeded", 8),
        ("doc-b", "succeeded", 8),
    ]


# --- inline bodies at the 20 MiB limit -------------------------------------------------------------------------


def test_inline_parts_cut_at_the_20_mib_limit_are_each_accepted(hook: GeminiBatchHook):
    class FileLessGemini(GeminiDialect):
        capabilities = GeminiDialect.capabilities.model_copy(update={"file_input": False})

    budget = GeminiDialect.limits.inline_request_bytes
    assert budget is not None
    empty_line = len(json.dumps(inline_spec(["k0"], [""]).source.requests[0], separators=(",", ":")).encode())
    text = "x" * (budget // 3 - empty_line - 1 - INLINE_REQUEST_OVERHEAD)
    keys = ["k0", "k1", "k2", "k3"]
    prepared = prepare_input(
        list(inline_spec(keys, [text] * 4).source.requests),
        FileLessGemini(),
        model="gemini-2.5-flash",
        embeddings=False,
        split=SplitLimits(),
    )
    try:
        parts = [list(part.inline or []) for part in prepared.parts]
        assert [[line["key"] for line in part] for part in parts] == [["k0", "k1", "k2"], ["k3"]]
        specs = [BatchSpec(model="gemini-2.5-flash", display_name="inline", source=InlineSource(p)) for p in parts]
        names = [hook.create_batch(spec).name for spec in specs]
    finally:
        prepared.cleanup()

    assert [hook.get_batch(name).stats.total for name in names] == [3, 1]


# --- a key rotated while a trigger waits ----------------------------------------------------------------------------


async def test_a_trigger_polls_on_with_a_key_rotated_in_its_connection_while_it_waits(
    hook: GeminiBatchHook, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
):
    job = hook.create_batch(inline_spec(["a"], ["one"]))
    ref = BatchJobRef(provider="gemini", conn_id=CONN_ID, job_name=job.name)
    trigger = GenAIBatchJobTrigger(job_ref=ref.to_xcom(), poll_interval=0.2)
    events = trigger.run()
    first = asyncio.ensure_future(anext(events))
    while not any(r["path"].endswith(job.name) and r["method"] == "GET" for r in emulator.requests()):
        await asyncio.sleep(0.01)  # the trigger has read the connection and polled once with the old key

    emulator.config(api_key="gemini-rotated-key")  # the old key is revoked ...
    rotated = {"conn_type": "genaigemini", "host": emulator.base_url, "password": "gemini-rotated-key"}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(rotated))  # ... and the connection holds the new
    event = await asyncio.wait_for(first, 15)
    await events.aclose()

    assert event.payload["status"] == "terminal", event.payload["message"]
    assert event.payload["state"] == "JOB_STATE_SUCCEEDED"


def test_a_poll_on_the_worker_goes_on_with_a_key_rotated_in_its_connection_while_it_waits(
    hook: GeminiBatchHook, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
):
    job = hook.create_batch(inline_spec(["a"], ["one"]))
    assert poll_job(hook, job.name).name == job.name  # the connection read, the job polled with the old key

    emulator.config(api_key="gemini-rotated-key")  # the old key is revoked ...
    rotated = {"conn_type": "genaigemini", "host": emulator.base_url, "password": "gemini-rotated-key"}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(rotated))  # ... and the connection holds the new

    assert poll_job(hook, job.name).name == job.name
    assert hook.get_batch(job.name).name == job.name  # every later call uses the new key
