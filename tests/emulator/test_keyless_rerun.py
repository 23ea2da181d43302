"""Clearing or retrying a submit to Anthropic with no task state store (Airflow before 3.3, or a store emptied on
success): Message Batches carry no key to find a job by, so the job is found from the manifest this task landed, and
a try that cannot show whether its earlier try made a job is refused before anything is created."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from airflow_provider_genai_batch.errors import GenAIBatchError
from airflow_provider_genai_batch.operators.submit import GenAIBatchSubmitOperator
from airflow_provider_genai_batch.sensors.batch_results import GenAIBatchSensor
from airflow_provider_genai_batch.testing.emulator import EmulatorServer
from tests.unit.pipeline.fakes import DictStateStore, FakeTI, make_context

API_KEY = "anthropic-rerun-key"
CONN_ID = "anthropic_rerun"
REQUESTS = [
    {"key": "sky", "request": {"contents": [{"role": "user", "parts": [{"text": "Why?"}]}]}},
    {"key": "tides", "request": {"contents": [{"role": "user", "parts": [{"text": "Tides?"}]}]}},
]


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(pending_seconds=0.1, running_seconds=0.2, api_key=API_KEY) as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    emulator.reset()
    conn = {"conn_type": "genaianthropic", "host": f"{emulator.base_url}/anthropic", "password": API_KEY}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))


def submit(**kwargs: Any) -> GenAIBatchSubmitOperator:
    return GenAIBatchSubmitOperator(
        task_id="submit",
        conn_id=CONN_ID,
        model="claude-sonnet-4-5",
        input=REQUESTS,
        deferrable=False,
        poll_interval=0.05,
        **kwargs,
    )


def creates(emulator: EmulatorServer) -> list[dict[str, Any]]:
    return [r for r in emulator.requests() if r["method"] == "POST" and r["path"] == "/anthropic/v1/messages/batches"]


def in_run(ti: FakeTI, run_after: datetime) -> dict[str, Any]:
    """The context of ``ti`` in a run Airflow named after ``run_after`` (what bounds a look-up)."""
    context = make_context(ti)
    context["dag_run"] = SimpleNamespace(run_id=ti.run_id, run_after=run_after)
    return context


def test_clearing_a_landed_submit_reattaches_to_the_job_the_manifest_names(tmp_path: Path, emulator):
    out = tmp_path / "out"
    first = submit(output_uri=str(out), wait_for_completion=True).execute(make_context(FakeTI()))

    again = submit(output_uri=str(out), wait_for_completion=True).execute(make_context(FakeTI(try_number=2)))

    assert again["job_ref"]["job_name"] == first["job_ref"]["job_name"]
    assert len(creates(emulator)) == 1


def test_clearing_a_submit_whose_sensor_landed_reattaches_to_its_job(tmp_path: Path, emulator):
    out = tmp_path / "out"
    ref = submit(output_uri=str(out)).execute(make_context(FakeTI()))
    GenAIBatchSensor(task_id="wait", job_ref=ref, deferrable=False, poke_interval=0.05).execute(
        make_context(FakeTI(task_id="wait"))
    )

    again = submit(output_uri=str(out)).execute(make_context(FakeTI(try_number=2)))

    assert again["job_name"] == ref["job_name"]
    assert len(creates(emulator)) == 1


def test_a_retry_whose_earlier_job_is_listed_is_refused_naming_it(emulator):
    first = submit().execute(make_context(FakeTI()))

    with pytest.raises(GenAIBatchError, match="force_resubmit=True") as err:
        submit().execute(make_context(FakeTI(try_number=2)))

    assert first["job_name"] in str(err.value)
    assert len(creates(emulator)) == 1


def test_a_job_listed_from_before_the_run_could_start_is_not_taken_for_an_earlier_trys(emulator):
    submit().execute(make_context(FakeTI(task_id="other")))  # made now, long before the run below could start
    later = datetime.fromisoformat("2099-01-01T00:00:00+00:00")
    ti = FakeTI(try_number=2, run_id=f"scheduled__{later.isoformat()}")

    again = submit().execute(in_run(ti, later))

    assert again["request_count"] == 2
    assert len(creates(emulator)) == 2


def test_clearing_a_landed_split_submit_reattaches_to_every_part(tmp_path: Path, emulator):
    out = tmp_path / "out"
    split = {"output_uri": str(out), "wait_for_completion": True, "max_requests_per_job": 1}
    first = submit(**split).execute(make_context(FakeTI()))

    again = submit(**split).execute(make_context(FakeTI(try_number=2)))

    assert [p["job_name"] for p in again["job_ref"]["parts"]] == [p["job_name"] for p in first["job_ref"]["parts"]]
    assert len(creates(emulator)) == 2
    assert again["counts"]["succeeded"] == 2


def test_a_retry_of_a_split_submit_whose_parts_are_listed_is_refused(emulator):
    submit(max_requests_per_job=1).execute(make_context(FakeTI()))

    with pytest.raises(GenAIBatchError, match="lists 2 job"):
        submit(max_requests_per_job=1).execute(make_context(FakeTI(try_number=2)))

    assert len(creates(emulator)) == 2


def test_a_retry_of_a_mapped_instance_does_not_take_another_map_indexs_job_for_its_own(emulator):
    xcom: dict[tuple[str, int, str], Any] = {}
    other = submit().execute(make_context(FakeTI(map_index=1, xcom=xcom)))  # as big as map index 0's input

    again = submit().execute(make_context(FakeTI(map_index=0, try_number=2, xcom=xcom)))

    assert again["job_name"] != other["job_name"]
    assert len(creates(emulator)) == 2


def test_a_retry_whose_look_up_listing_fails_is_refused_saying_so(emulator, monkeypatch):
    submit().execute(make_context(FakeTI()))
    conn = {"conn_type": "genaianthropic", "host": f"{emulator.base_url}/anthropic", "password": API_KEY}
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps({**conn, "extra": {"max_retries": 0}}))
    emulator.config(
        faults={"error_rate": 1.0, "error_statuses": [500], "paths": "/messages/batches$", "methods": ["GET"]}
    )

    with pytest.raises(GenAIBatchError, match="jobs could not be listed") as err:
        submit().execute(make_context(FakeTI(try_number=2)))

    assert "force_resubmit=True" in str(err.value)
    assert len(creates(emulator)) == 1


def test_a_clear_after_an_edit_is_undone_makes_a_job_not_a_refusal_over_the_job_before_the_stored_one(emulator):
    store = DictStateStore()
    edited = [REQUESTS[0], {**REQUESTS[1], "request": {"contents": [{"role": "user", "parts": [{"text": "Moon?"}]}]}}]
    original = submit().execute(make_context(FakeTI(), store=store))
    submit_edited = GenAIBatchSubmitOperator(
        task_id="submit", conn_id=CONN_ID, model="claude-sonnet-4-5", input=edited, deferrable=False
    )
    stored = submit_edited.execute(make_context(FakeTI(try_number=2), store=store))  # the store now names this one

    again = submit().execute(make_context(FakeTI(try_number=3), store=store))  # the edit undone

    assert again["job_name"] not in (original["job_name"], stored["job_name"])  # made before the stored job
    assert len(creates(emulator)) == 3


def test_a_job_listed_after_the_stored_one_still_refuses_a_retry(emulator):
    store = DictStateStore()
    edited = [REQUESTS[0], {**REQUESTS[1], "request": {"contents": [{"role": "user", "parts": [{"text": "Moon?"}]}]}}]
    GenAIBatchSubmitOperator(
        task_id="submit", conn_id=CONN_ID, model="claude-sonnet-4-5", input=edited, deferrable=False
    ).execute(make_context(FakeTI(), store=store))
    # try 2, on the input as it is again, made a job whose ref never reached the store (its worker died)
    unfound = submit(force_resubmit=True).execute(make_context(FakeTI(try_number=2)))

    with pytest.raises(GenAIBatchError, match="force_resubmit=True") as err:
        submit().execute(make_context(FakeTI(try_number=3), store=store))

    assert unfound["job_name"] in str(err.value)
    assert len(creates(emulator)) == 2


def test_a_retry_after_a_try_that_never_went_on_to_create_is_not_refused_over_another_tasks_job(emulator):
    other = submit().execute(make_context(FakeTI(task_id="other")))  # as big as this input, made in this run
    store = DictStateStore()  # try 1 of this task failed before it created (its store holds no record of a create)

    again = submit().execute(make_context(FakeTI(try_number=2), store=store))

    assert again["job_name"] != other["job_name"]
    assert len(creates(emulator)) == 2


def test_a_store_emptied_on_success_still_refuses_a_clear_over_a_listed_job(emulator, monkeypatch):
    monkeypatch.setenv("AIRFLOW__STATE_STORE__CLEAR_ON_SUCCESS", "True")
    first = submit().execute(make_context(FakeTI(), store=DictStateStore()))

    with pytest.raises(GenAIBatchError, match="force_resubmit=True") as err:  # the store was emptied on success
        submit().execute(make_context(FakeTI(try_number=2), store=DictStateStore()))

    assert first["job_name"] in str(err.value)
    assert len(creates(emulator)) == 1
