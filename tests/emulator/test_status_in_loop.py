"""A pending or running batch's status, read in the event loop, is the one the worker-thread path gives."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_genai_batch.testing.emulator.anthropic import lifecycle as anthropic
from airflow_provider_genai_batch.testing.emulator.config import JobOutcome
from airflow_provider_genai_batch.testing.emulator.openai import lifecycle as openai
from airflow_provider_genai_batch.testing.emulator.store import JobRecord, Phase, Store, current_phase

HOUR = 3600.0


@pytest.fixture
def store() -> Iterator[Store]:
    store = Store()
    yield store
    store.close()


def job(provider: str, *, age: float, outcome: JobOutcome = "succeed", **extra: Any) -> JobRecord:
    """A job created ``age`` seconds ago that waits an hour, then runs for an hour."""

    def never(*_: object) -> Any:
        raise AssertionError("a live job produces no results")

    return JobRecord(
        provider=provider,
        job_id="j1",
        name="j1",
        kind="generate",
        model="m",
        display_name=None,
        input_file=None,
        input_path=None,
        inline_requests=None,
        request_count=1,
        created=time.time() - age,
        pending_seconds=HOUR,
        running_seconds=HOUR,
        outcome=outcome,
        materialiser=never,
        state_name=lambda _job, phase: phase.value,
        extra=extra,
    )


LIVE = [
    pytest.param(0.0, "succeed", id="pending"),
    pytest.param(HOUR + 60, "succeed", id="running"),
    pytest.param(2 * HOUR - 60, "succeed", id="finalizing"),
    pytest.param(2 * HOUR - 60, "expire", id="running-until-it-expires"),
    pytest.param(3 * HOUR, "stuck", id="stuck"),
]


@pytest.mark.parametrize(("age", "outcome"), LIVE)
async def test_an_openai_batch_status_read_in_the_loop_is_the_threads(store, age, outcome):
    record = job("openai", age=age, outcome=outcome)
    assert await openai.observe_now(store, record) == openai.observe(store, record)


@pytest.mark.parametrize(("age", "outcome"), LIVE)
async def test_an_anthropic_batch_status_read_in_the_loop_is_the_threads(store, age, outcome):
    record = job("anthropic", age=age, outcome=outcome)
    assert await anthropic.observe_now(store, record) == anthropic.observe(store, record)


@pytest.mark.parametrize(("age", "outcome"), LIVE)
async def test_a_phase_read_in_the_loop_is_the_stores(store, age, outcome):
    record = job("gemini", age=age, outcome=outcome)
    assert await current_phase(store, record) == store.observe(record)


async def test_a_cancelled_batch_is_still_observed_the_blocking_way(store, monkeypatch):
    record = job("openai", age=HOUR + 60)
    record.cancelled_at = time.time()
    observed: list[JobRecord] = []
    monkeypatch.setattr(openai, "observe", lambda _store, job: observed.append(job) or (Phase.CANCELLED, "cancelling"))

    assert await openai.observe_now(store, record) == (Phase.CANCELLED, "cancelling")
    assert observed == [record]
