"""A job taken away at the provider (deleted, or aged out) while a task waits on it, and a results file expired there
before the landing, against the emulator: each provider's answer for what it no longer has, and what the task makes
of it."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import TaskDeferred

from airflow_provider_genai_batch.errors import GenAIBatchError, NotFoundError
from airflow_provider_genai_batch.hooks.registry import hook_class_for_provider
from airflow_provider_genai_batch.hooks.status_poll import gone_at
from airflow_provider_genai_batch.landing import RESULTS_FILE
from airflow_provider_genai_batch.operators.submit import GenAIBatchSubmitOperator
from airflow_provider_genai_batch.sensors.batch_results import GenAIBatchSensor
from airflow_provider_genai_batch.testing.emulator import EmulatorServer
from tests.unit.pipeline.fakes import FakeTI, make_context

API_KEY = "gone-at-the-provider-key"
REQUESTS = [
    {"key": "sky", "request": {"contents": [{"role": "user", "parts": [{"text": "Why is the sky blue?"}]}]}},
    {"key": "tides", "request": {"contents": [{"role": "user", "parts": [{"text": "What makes tides?"}]}]}},
]
PROVIDERS = {
    "gemini": ("genaigemini", "", "gemini-2.5-flash"),
    "openai": ("genaiopenai", "/openai/v1", "gpt-4o-mini"),
    "anthropic": ("genaianthropic", "/anthropic", "claude-sonnet-4-5"),
    "gateway": ("genaigateway", "/genai", "gemini-2.5-flash"),
}
"""Per connection: its type, its path under the emulator, and a model its batches run."""


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(pending_seconds=0.1, running_seconds=0.2, api_key=API_KEY) as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    emulator.reset()
    for conn_id, (conn_type, path, _) in PROVIDERS.items():
        extra = {"model_provider": "gemini"} if conn_type == "genaigateway" else {}
        conn = {"conn_type": conn_type, "host": f"{emulator.base_url}{path}", "password": API_KEY, "extra": extra}
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


def submitted(conn_id: str, output: Path) -> dict[str, Any]:
    """The job reference of a submit of :data:`REQUESTS` on ``conn_id`` that does not wait."""
    op = GenAIBatchSubmitOperator(
        task_id="submit", conn_id=conn_id, model=PROVIDERS[conn_id][2], input=REQUESTS, output_uri=str(output)
    )
    ref: dict[str, Any] = op.execute(make_context(FakeTI()))
    return ref


def sensor(ref: dict[str, Any], **kwargs: Any) -> GenAIBatchSensor:
    return GenAIBatchSensor(task_id="wait", job_ref=ref, poll_interval=0.05, **kwargs)


async def first_event(trigger: Any) -> Any:
    async for event in trigger.run():
        return event
    raise AssertionError("the trigger ended without an event")


def emulated_name(emulator: EmulatorServer, ref: dict[str, Any]) -> str:
    """The name the emulator lists the job of ``ref`` under (the gateway's job is its target's)."""
    names = [job["name"] for job in emulator.jobs() if not job["deleted"]]
    assert len(names) == 1, names
    return str(names[0])


@pytest.mark.parametrize("conn_id", list(PROVIDERS))
def test_a_job_taken_away_is_answered_as_gone_by_every_provider(emulator: EmulatorServer, conn_id: str, tmp_path):
    ref = submitted(conn_id, tmp_path / "out")
    hook = hook_class_for_provider(ref["provider"])(conn_id=conn_id)

    emulator.delete_job(emulated_name(emulator, ref))

    with pytest.raises(NotFoundError) as err:
        hook.get_batch(ref["job_name"])
    assert err.value.http_status == 404
    assert gone_at(hook, ref["job_name"])


@pytest.mark.parametrize("conn_id", list(PROVIDERS))
def test_a_deferred_sensor_whose_job_is_taken_away_says_it_is_gone_and_what_to_clear(
    emulator: EmulatorServer, conn_id: str, tmp_path: Path
):
    emulator.config(pending_seconds=60.0)  # still pending when the sensor defers
    output = tmp_path / "out"
    ref = submitted(conn_id, output)
    op = sensor(ref)
    context = make_context(FakeTI(task_id="wait"))
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)

    emulator.delete_job(emulated_name(emulator, ref))
    _, kwargs = deferred.value.trigger.serialize()
    event = asyncio.run(first_event(type(deferred.value.trigger)(**kwargs)))

    with pytest.raises(GenAIBatchError) as err:
        op.execute_complete(context, event.payload)
    assert str(err.value).startswith(
        f"{ref['provider']} job {ref['job_name']} is gone at the provider (deleted, or aged out), and no results of it "
        f"landed in {output}: there is nothing left to wait on or land. Clear the submit task with this one"
    )


def test_a_cleared_sensor_whose_openai_output_file_expired_returns_what_it_landed_untouched(
    emulator: EmulatorServer, tmp_path: Path
):
    output = tmp_path / "out"
    ref = submitted("openai", output)
    landed = sensor(ref, deferrable=False).execute(make_context(FakeTI(task_id="wait")))
    results = (output / RESULTS_FILE).read_bytes()

    emulator.expire_output(emulated_name(emulator, ref))
    again = sensor(ref).execute_complete(
        make_context(FakeTI(task_id="wait", try_number=2)), {"status": "terminal", "job_ref": ref}
    )

    assert again == landed
    assert (output / RESULTS_FILE).read_bytes() == results


def test_a_sensor_whose_openai_output_file_expired_with_nothing_landed_says_how_to_run_again(
    emulator: EmulatorServer, tmp_path: Path
):
    output = tmp_path / "out"
    ref = submitted("openai", output)
    hook = hook_class_for_provider("openai")(conn_id="openai")
    while not hook.get_batch(ref["job_name"]).state.is_terminal:
        time.sleep(0.05)

    emulator.expire_output(emulated_name(emulator, ref))
    with pytest.raises(GenAIBatchError) as err:
        sensor(ref, deferrable=False).execute(make_context(FakeTI(task_id="wait")))

    assert "its results can no longer be read at the provider (openai API error (404" in str(err.value)
    assert "No such File object" in str(err.value)
    assert str(err.value).endswith(
        f"none of them landed in {output}. They cannot be read again: set force_resubmit=True on the submit task and "
        "clear it with this one: it runs the input again as a new job (billed again), and this task waits on it"
    )
    assert not (output / RESULTS_FILE).exists()


def pending_group(emulator: EmulatorServer, output: Path, parts: int) -> tuple[dict[str, Any], list[str]]:
    """The job reference of a Gemini submit of ``parts`` one-request parts that does not wait, every part held pending
    while the test runs, and the parts' job names in plan order."""
    emulator.config(pending_seconds=60.0)
    requests = [
        {"key": f"q{i}", "request": {"contents": [{"role": "user", "parts": [{"text": f"Question {i}?"}]}]}}
        for i in range(parts)
    ]
    op = GenAIBatchSubmitOperator(
        task_id="submit",
        conn_id="gemini",
        model=PROVIDERS["gemini"][2],
        input=requests,
        output_uri=str(output),
        max_requests_per_job=1,
    )
    ref: dict[str, Any] = op.execute(make_context(FakeTI()))
    names = [part["job_name"] for part in ref["parts"]]
    assert len(names) == parts
    return ref, names


def job_reads(emulator: EmulatorServer, names: list[str], since: int) -> Counter[str]:
    """How many times each job of ``names`` was read (a GET of it) in the requests after the first ``since``."""
    return Counter(
        name
        for request in emulator.requests()[since:]
        if request["method"] == "GET"
        for name in names
        if request["path"].endswith(f"/{name}")
    )


def part_gone(taken: str, output: Path) -> str:
    """How a sensor's error ends when the part ``taken`` of its group is gone with nothing landed in ``output``."""
    return (
        f"{taken} is gone at the provider (deleted, or aged out), and no results of it landed in {output}: there is "
        "nothing left to wait on or land. Clear the submit task with this one: it submits the input again (or reads "
        "back the answers it finds landed), and this task waits on what it hands over"
    )


def test_a_group_waited_on_by_a_worker_with_a_part_taken_away_reads_no_other_part_to_say_so(
    emulator: EmulatorServer, tmp_path: Path
):
    output = tmp_path / "out"
    ref, names = pending_group(emulator, output, parts=12)
    emulator.delete_job(names[7])
    since = len(emulator.requests())

    with pytest.raises(GenAIBatchError) as err:
        sensor(ref, deferrable=False).execute(make_context(FakeTI(task_id="wait")))

    assert str(err.value).endswith(part_gone(names[7], output))
    # the one poll reads every part; only the part it found gone is read again, to say it is gone
    assert job_reads(emulator, names, since) == {name: 2 if name == names[7] else 1 for name in names}


def test_a_deferred_group_with_a_part_taken_away_reads_no_other_part_to_say_so(
    emulator: EmulatorServer, tmp_path: Path
):
    output = tmp_path / "out"
    ref, names = pending_group(emulator, output, parts=12)
    op = sensor(ref)
    context = make_context(FakeTI(task_id="wait"))
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    emulator.delete_job(names[7])
    _, kwargs = deferred.value.trigger.serialize()
    event = asyncio.run(first_event(type(deferred.value.trigger)(**kwargs)))
    since = len(emulator.requests())

    with pytest.raises(GenAIBatchError) as err:
        op.execute_complete(context, event.payload)

    assert str(err.value).endswith(part_gone(names[7], output))
    assert job_reads(emulator, names, since) == {names[7]: 1}  # the event named it: no other part is read
