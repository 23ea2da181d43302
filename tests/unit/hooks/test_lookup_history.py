"""A look-up by key reads only what is newer than its floor: its requests do not grow with the provider's history.

The emulator runs in this process so that 10,000 old batches (copies of one job another task made) can be put
straight into its store; every request a hook sends is in its request log.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Any

import httpx
import pytest

from airflow_provider_genai_batch.errors import GenAIBatchError
from airflow_provider_genai_batch.hooks.base import BatchHook, newer_than
from airflow_provider_genai_batch.hooks.bedrock import BedrockBatchHook
from airflow_provider_genai_batch.hooks.gemini import GeminiBatchHook
from airflow_provider_genai_batch.hooks.openai import OpenAIBatchHook
from airflow_provider_genai_batch.idempotency import idempotency_key, lookup_floor
from airflow_provider_genai_batch.models import BatchJob, JobState
from airflow_provider_genai_batch.spec import BatchSpec
from airflow_provider_genai_batch.testing.emulator.history import (
    InProcessEmulator,
    history_connections,
    one_job_spec,
    seed_history,
)
from airflow_provider_genai_batch.testing.s3 import MotoS3Server

RUN_AFTER = datetime.now(timezone.utc).replace(microsecond=0)
RUN_ID = f"scheduled__{RUN_AFTER.isoformat()}"
FLOOR = lookup_floor({"dag_run": SimpleNamespace(run_id=RUN_ID, run_after=RUN_AFTER)})
MY_KEY = idempotency_key("reports", "submit", RUN_ID, None)
OTHER_KEY = idempotency_key("reports", "another_task", "scheduled__2026-01-01T00:00:00+00:00", None)
INPUT = "1f" * 32
DAY = 86_400.0
BUCKET = "lookup-history"
LIST_PATHS = {"openai": "/openai/v1/batches", "gemini": "/v1beta/batches"}
HOOKS: dict[str, type[BatchHook[Any]]] = {
    "openai": OpenAIBatchHook,
    "gemini": GeminiBatchHook,
    "bedrock": BedrockBatchHook,
}


@pytest.fixture(scope="module")
def emulator(moto_s3: MotoS3Server) -> Iterator[InProcessEmulator]:
    """Jobs stay PENDING a day: listing thousands of them never produces results."""
    with InProcessEmulator(pending_seconds=DAY, s3_endpoint_url=moto_s3.endpoint_url) as server:
        yield server


@pytest.fixture
def hook_for(
    emulator: InProcessEmulator, moto_s3: MotoS3Server, monkeypatch: pytest.MonkeyPatch
) -> Callable[[str], BatchHook[Any]]:
    """``hook_for(provider)`` -> a new hook (a new try) on an emptied emulator."""
    emulator.state.reset()
    moto_s3.reset()
    moto_s3.create_bucket(BUCKET)
    base = emulator.base_url
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    connections = history_connections(base, moto_s3.endpoint_url, BUCKET, "k")
    for provider, conn in connections.items():
        monkeypatch.setenv(f"AIRFLOW_CONN_HISTORY_{provider.upper()}", json.dumps(conn))
    return lambda provider: HOOKS[provider](conn_id=f"history_{provider}")


def spec(provider: str, hook: BatchHook[Any], key: str) -> BatchSpec:
    return one_job_spec(provider, hook, key, INPUT, "nightly")


def add_history(
    emulator: InProcessEmulator, hook: BatchHook[Any], provider: str, count: int, newest: float
) -> set[str]:
    """``count`` batches of another task, created up to ``newest`` (epoch seconds); their names."""
    made = hook.create_batch(spec(provider, hook, OTHER_KEY))
    record = emulator.state.store.get_job(made.name)
    assert record is not None
    names = seed_history(emulator.state.store, record, count, newest=newest)
    emulator.state.store.delete_job(record)
    return set(names)


def configure(emulator: InProcessEmulator, **changes: Any) -> None:
    httpx.post(f"{emulator.base_url}/_emulator/config", json=changes).raise_for_status()


def listings(emulator: InProcessEmulator, provider: str) -> list[dict[str, Any]]:
    return [
        entry
        for entry in emulator.state.request_log
        if entry["method"] == "GET" and entry["path"] == LIST_PATHS[provider]
    ]


NEWEST_FIRST = pytest.mark.parametrize("provider", ["openai", "gemini"])


@NEWEST_FIRST
def test_a_first_submit_reads_one_page_whatever_the_history(provider, hook_for, emulator):
    add_history(emulator, hook_for(provider), provider, 10_000, newest=RUN_AFTER.timestamp() - DAY)
    emulator.state.request_log.clear()

    assert hook_for(provider).find_batch(MY_KEY, input_fingerprint=INPUT, not_before=FLOOR) is None

    assert len(listings(emulator, provider)) == 1


@NEWEST_FIRST
def test_a_job_made_after_the_floor_is_found_behind_two_pages_of_newer_jobs(provider, hook_for, emulator):
    hook = hook_for(provider)
    add_history(emulator, hook, provider, 10_000, newest=RUN_AFTER.timestamp() - DAY)
    mine = hook.create_batch(spec(provider, hook, MY_KEY))
    add_history(emulator, hook, provider, 250, newest=time.time() + 300)
    emulator.state.request_log.clear()

    found = hook_for(provider).find_batch(MY_KEY, input_fingerprint=INPUT, not_before=FLOOR)

    assert found is not None and found.name == mine.name
    assert len(listings(emulator, provider)) == 3


@NEWEST_FIRST
def test_a_rerun_after_success_reattaches_to_the_job_of_the_first_run(provider, hook_for, emulator):
    configure(emulator, pending_seconds=0, running_seconds=0)
    hook = hook_for(provider)
    add_history(emulator, hook, provider, 1_000, newest=RUN_AFTER.timestamp() - DAY)
    first = hook.find_batch(MY_KEY, input_fingerprint=INPUT, not_before=FLOOR) or hook.create_batch(
        spec(provider, hook, MY_KEY)
    )
    assert hook.get_batch(first.name).state is JobState.SUCCEEDED

    rerun = hook_for(provider).find_batch(MY_KEY, input_fingerprint=INPUT, not_before=FLOOR)

    assert rerun is not None and rerun.name == first.name


@NEWEST_FIRST
def test_a_create_whose_answer_was_lost_is_found_by_the_lookup_that_follows(provider, hook_for, emulator):
    hook = hook_for(provider)
    history = add_history(emulator, hook, provider, 1_000, newest=RUN_AFTER.timestamp() - DAY)
    job_spec = spec(provider, hook, MY_KEY)
    lost = {"lost_rate": 1.0, "lost_mode": "error", "methods": ["POST"], "paths": "(batches|Content)$"}
    configure(emulator, faults={**lost, "max_faults": 1})

    with pytest.raises(GenAIBatchError):
        hook.create_batch(job_spec)
    found = hook.find_batch(MY_KEY, input_fingerprint=INPUT, not_before=FLOOR)

    made = [job.name for job in emulator.state.store.list_jobs(provider) if job.name not in history]
    assert found is not None and [found.name] == made


def test_bedrock_asks_the_service_for_jobs_of_the_key_submitted_after_the_floor(hook_for, emulator):
    hook = hook_for("bedrock")
    made = hook.create_batch(spec("bedrock", hook, MY_KEY))
    assert made.create_time is not None
    emulator.state.request_log.clear()

    later = hook.find_batch(MY_KEY, input_fingerprint=INPUT, not_before=made.create_time + timedelta(seconds=1))
    earlier = hook.find_batch(MY_KEY, input_fingerprint=INPUT, not_before=made.create_time - timedelta(seconds=1))

    assert later is None
    assert earlier is not None and earlier.name == made.name
    queries = [
        entry["query"] for entry in emulator.state.request_log if entry["path"] == "/bedrock/model-invocation-jobs"
    ]
    assert len(queries) == 2
    assert all(f"nameContains={MY_KEY}" in query and "submitTimeAfter=" in query for query in queries)
    assert all("sortBy=CreationTime&sortOrder=Descending" in query for query in queries)


# --- where a newest-first walk stops --------------------------------------------------------------------


def job(name: str, created: datetime | None) -> BatchJob:
    return BatchJob(name=name, provider="openai", create_time=created)


HOUR_AGO = RUN_AFTER - timedelta(hours=1)
NEW, OLD, OLDER = (
    job("new", RUN_AFTER),
    job("old", RUN_AFTER - timedelta(days=1)),
    job("older", RUN_AFTER - timedelta(days=2)),
)


def asked(pages: list[list[BatchJob]], asked_for: list[int]) -> Iterator[list[BatchJob]]:
    for number, page in enumerate(pages, start=1):
        asked_for.append(number)
        yield page


def test_the_walk_ends_with_the_page_that_reaches_back_past_the_floor():
    asked_for: list[int] = []

    kept = [each.name for each in newer_than(asked([[NEW, OLD], [OLDER]], asked_for), HOUR_AGO)]

    assert kept == ["new"]
    assert asked_for == [1]


def test_a_page_in_ascending_order_is_read_with_every_page_after_it():
    asked_for: list[int] = []

    kept = [each.name for each in newer_than(asked([[OLDER, OLD, NEW], [OLDER]], asked_for), HOUR_AGO)]

    assert kept == ["older", "old", "new", "older"]
    assert asked_for == [1, 2]


def test_a_job_without_a_creation_time_is_read_and_never_ends_the_walk():
    unknown = job("unknown", None)

    kept = [each.name for each in newer_than(iter([[unknown, NEW], [unknown, OLD]]), HOUR_AGO)]

    assert kept == ["unknown", "new", "unknown"]
