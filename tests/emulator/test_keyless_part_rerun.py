"""Retrying a split submit, one sending follow-up rounds, or one replacing a job that ended badly, to Anthropic after
its worker died between creating a job and storing the job ref that names it: Message Batches carry no key to find
that job by, and the stored ref names the task's other jobs, so the part (or the input) is marked in the ref as being
created before its create. A later try that finds the mark lists the jobs made since, of its size, that nothing names,
and refuses to create it again while one is listed; a part with no mark, or whose create was refused, is created as
usual."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_genai_batch.errors import GenAIBatchError
from airflow_provider_genai_batch.hooks.base import BatchHook
from airflow_provider_genai_batch.hooks.registry import get_hook
from airflow_provider_genai_batch.job_ref import STATE_STORE_KEY
from airflow_provider_genai_batch.models import BatchJob
from airflow_provider_genai_batch.operators.submit import GenAIBatchSubmitOperator
from airflow_provider_genai_batch.spec import BatchSpec
from airflow_provider_genai_batch.testing.emulator import EmulatorServer
from tests.unit.pipeline.fakes import DictStateStore, FakeTI, make_context

API_KEY = "anthropic-part-rerun-key"
CONN_ID = "anthropic_part_rerun"
REFUSED = "Not creating another job, which could pay for the same requests twice"
BATCHES = "/messages/batches$"


def request(key: str, text: str) -> dict[str, Any]:
    return {"key": key, "request": {"contents": [{"role": "user", "parts": [{"text": text}]}]}}


REQUESTS = [request("sky", "Why?"), request("tides", "Tides?")]


class WorkerDied(BaseException):
    """The worker process is gone at this point: nothing after it runs."""


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(pending_seconds=0.1, running_seconds=0.2, api_key=API_KEY) as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    emulator.reset()
    conn = {
        "conn_type": "genaianthropic",
        "host": f"{emulator.base_url}/anthropic",
        "password": API_KEY,
        "extra": {"max_retries": 0},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps(conn))


@pytest.fixture
def made(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The jobs every create made, in order (a create a test makes fail made none)."""
    names: list[str] = []
    real = BatchHook.create_batch

    def create(hook: BatchHook[Any], spec: BatchSpec) -> BatchJob:
        job = real(hook, spec)
        names.append(job.name)
        return job

    monkeypatch.setattr(BatchHook, "create_batch", create)
    return names


def submit(task_id: str = "submit", **kwargs: Any) -> GenAIBatchSubmitOperator:
    return GenAIBatchSubmitOperator(
        task_id=task_id,
        conn_id=CONN_ID,
        model="claude-sonnet-4-5",
        input=REQUESTS,
        deferrable=False,
        poll_interval=0.05,
        **{"max_requests_per_job": 1, **kwargs},
    )


def dying_at(monkeypatch: pytest.MonkeyPatch, create: int, before: Callable[[], object] = lambda: None) -> None:
    """The worker dies right after the ``create``-th create from now made its job (counted from 1); ``before`` runs
    just before that create (to set how the emulator runs the job it makes)."""
    real = BatchHook.create_batch
    count = 0

    def dying(hook: BatchHook[Any], spec: BatchSpec) -> BatchJob:
        nonlocal count
        count += 1
        if count != create:
            return real(hook, spec)
        before()
        job = real(hook, spec)
        monkeypatch.setattr(BatchHook, "create_batch", real)
        raise WorkerDied(f"the worker died right after {job.name} was created")

    monkeypatch.setattr(BatchHook, "create_batch", dying)


def failing_at(monkeypatch: pytest.MonkeyPatch, emulator: EmulatorServer, create: int, status: int) -> None:
    """The ``create``-th create from now is answered ``status`` (before the emulator acts on it)."""
    real = BatchHook.create_batch
    count = 0

    def failing(hook: BatchHook[Any], spec: BatchSpec) -> BatchJob:
        nonlocal count
        count += 1
        if count == create:
            monkeypatch.setattr(BatchHook, "create_batch", real)
            faults = {"error_rate": 1.0, "error_statuses": [status], "paths": BATCHES, "methods": ["POST"]}
            emulator.config(faults=faults)
            try:
                return real(hook, spec)
            finally:
                emulator.config(faults={})
        return real(hook, spec)

    monkeypatch.setattr(BatchHook, "create_batch", failing)


def test_a_retry_after_a_death_between_a_parts_create_and_its_ref_is_refused_naming_that_job(
    emulator, monkeypatch, made
):
    store = DictStateStore()
    dying_at(monkeypatch, create=2)
    with pytest.raises(WorkerDied):
        submit().execute(make_context(FakeTI(), store=store))
    first, lost = made

    with pytest.raises(GenAIBatchError, match=REFUSED) as err:
        submit().execute(make_context(FakeTI(try_number=2), store=store))

    assert lost in str(err.value)
    assert first not in str(err.value)  # the stored ref names it
    assert len(emulator.jobs()) == 2


def test_without_a_task_state_store_the_mark_kept_in_xcom_refuses_the_retry(emulator, monkeypatch, made):
    xcom: dict[tuple[str, int, str], Any] = {}  # a retry keeps the task's XCom
    dying_at(monkeypatch, create=2)
    with pytest.raises(WorkerDied):
        submit().execute(make_context(FakeTI(xcom=xcom)))

    with pytest.raises(GenAIBatchError, match=REFUSED) as err:
        submit().execute(make_context(FakeTI(try_number=2, xcom=xcom)))

    assert made[1] in str(err.value)
    assert len(emulator.jobs()) == 2


def test_a_retry_after_a_death_between_a_follow_up_rounds_create_and_its_ref_is_refused(
    tmp_path: Path, emulator, monkeypatch, made
):
    store = DictStateStore()
    out = tmp_path / "out"
    rounds = {"output_uri": str(out), "wait_for_completion": True, "retry_failed_rows": 1}
    emulator.config(job_outcome="fail_rows")  # round 0's rows fail retryably: round 1 sends them again
    # round 1's first part, made to succeed: a lost job that failed is not listed (see the test below)
    dying_at(monkeypatch, create=3, before=lambda: emulator.config(job_outcome="succeed"))
    with pytest.raises(WorkerDied):
        submit(**rounds).execute(make_context(FakeTI(), store=store))

    with pytest.raises(GenAIBatchError, match=REFUSED) as err:
        submit(**rounds).execute(make_context(FakeTI(try_number=2), store=store))

    assert made[2] in str(err.value)
    assert len(emulator.jobs()) == 3
    assert (out / "results.jsonl").exists()  # round 0's results landed, and stay


def test_a_mapped_retry_names_its_own_lost_part_not_another_map_indexs_parts_of_the_same_size(
    emulator, monkeypatch, made
):
    xcom: dict[tuple[str, int, str], Any] = {}
    store = DictStateStore()
    dying_at(monkeypatch, create=2)
    with pytest.raises(WorkerDied):
        submit().execute(make_context(FakeTI(map_index=0, xcom=xcom), store=store))
    lost = made[1]
    other = submit().execute(make_context(FakeTI(map_index=1, xcom=xcom), store=DictStateStore()))

    with pytest.raises(GenAIBatchError, match=REFUSED) as err:
        submit().execute(make_context(FakeTI(map_index=0, try_number=2, xcom=xcom), store=store))

    assert lost in str(err.value)
    assert not any(part["job_name"] in str(err.value) for part in other["parts"])
    assert "lists 1 job" in str(err.value)


def test_a_retry_after_a_refused_part_create_creates_it_beside_other_tasks_parts_of_the_same_size(
    emulator, monkeypatch, made
):
    store = DictStateStore()
    failing_at(monkeypatch, emulator, create=2, status=400)
    with pytest.raises(GenAIBatchError, match="400"):
        submit().execute(make_context(FakeTI(), store=store))
    submit(task_id="other").execute(make_context(FakeTI(task_id="other"), store=DictStateStore()))

    again = submit().execute(make_context(FakeTI(try_number=2), store=store))

    assert [part["job_name"] for part in again["parts"]] == [made[0], made[-1]]
    assert len(emulator.jobs()) == 4


def test_a_retry_after_a_server_error_on_a_part_create_creates_it_when_nothing_was_made_since(
    emulator, monkeypatch, made
):
    submit(task_id="other").execute(make_context(FakeTI(task_id="other"), store=DictStateStore()))
    store = DictStateStore()
    failing_at(monkeypatch, emulator, create=2, status=500)
    with pytest.raises(GenAIBatchError, match="500"):
        submit().execute(make_context(FakeTI(), store=store))

    again = submit().execute(make_context(FakeTI(try_number=2), store=store))

    assert [part["job_name"] for part in again["parts"]] == [made[2], made[3]]
    assert len(emulator.jobs()) == 4


def test_a_retry_of_a_split_submit_whose_parts_are_all_named_is_not_refused_over_other_tasks_parts(emulator, made):
    store = DictStateStore()
    first = submit().execute(make_context(FakeTI(), store=store))  # then the worker died while it waited
    submit(task_id="other").execute(make_context(FakeTI(task_id="other"), store=DictStateStore()))

    again = submit().execute(make_context(FakeTI(try_number=2), store=store))

    assert again["parts"] == first["parts"]
    assert len(emulator.jobs()) == 4


def test_the_mark_is_gone_from_the_stored_ref_once_the_part_is_created(emulator, made):
    store = DictStateStore()

    submit().execute(make_context(FakeTI(), store=store))

    assert store.get(STATE_STORE_KEY)["creating"] is None


def test_a_retry_after_a_death_between_the_create_replacing_a_cancelled_job_and_its_ref_is_refused(
    emulator, monkeypatch, made
):
    store = DictStateStore()
    one = {"max_requests_per_job": None}
    cancelled = submit(**one).execute(make_context(FakeTI(), store=store))["job_name"]
    get_hook(CONN_ID).cancel_batch(cancelled)
    dying_at(monkeypatch, create=1)  # the job replacing the cancelled one
    with pytest.raises(WorkerDied):
        submit(**one).execute(make_context(FakeTI(try_number=2), store=store))
    lost = made[-1]

    with pytest.raises(GenAIBatchError, match=REFUSED) as err:
        submit(**one).execute(make_context(FakeTI(try_number=3), store=store))

    assert lost in str(err.value)
    assert cancelled not in str(err.value)
    assert len(emulator.jobs()) == 2


def test_a_clear_after_retry_failed_rows_was_turned_off_is_refused_before_sending_the_lost_rounds_rows_again(
    tmp_path: Path, emulator, monkeypatch, made
):
    store = DictStateStore()
    common = {"output_uri": str(tmp_path / "out"), "wait_for_completion": True}
    emulator.config(job_outcome="fail_rows")  # round 0's parts fail: a clear without rounds creates them again
    # round 1's first part, sending part 1's row again, made to succeed: a lost job that failed is not listed (its rows
    # are sent again anyway), and one made under fail_rows may have failed by the time the clear lists
    dying_at(monkeypatch, create=3, before=lambda: emulator.config(job_outcome="succeed"))
    with pytest.raises(WorkerDied):
        submit(retry_failed_rows=1, **common).execute(make_context(FakeTI(), store=store))

    with pytest.raises(GenAIBatchError, match=REFUSED) as err:
        submit(retry_failed_rows=0, **common).execute(make_context(FakeTI(try_number=2), store=store))

    assert made[2] in str(err.value)
    assert len(emulator.jobs()) == 3
