"""An input over a job's limits goes as several jobs, each submitted exactly once, under one job reference."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from airflow_provider_genai_batch.errors import InputValidationError
from airflow_provider_genai_batch.hooks.base import BatchHook
from airflow_provider_genai_batch.idempotency import part_key
from airflow_provider_genai_batch.job_ref import STATE_STORE_KEY, BatchJobRef
from airflow_provider_genai_batch.landing import KEYS_FILE
from airflow_provider_genai_batch.operators.submit import GenAIBatchSubmitOperator
from tests.unit.pipeline.fakes import capture_log, log_messages

from .conftest import GEMINI_CONN, GEMINI_MODEL, Task, creates, lines, requests, submit, uploads, write_input, writes


class WorkerDied(Exception):
    """The worker went away in the middle of a try."""


def split_submit(input: str, **kwargs: Any) -> GenAIBatchSubmitOperator:
    return submit(input, max_requests_per_job=2, **kwargs)


def test_an_input_over_max_requests_per_job_goes_as_one_job_per_part_under_one_ref(provider, tmp_path):
    task = Task()
    output = tmp_path / "out"

    ref = BatchJobRef.parse(
        split_submit(write_input(tmp_path / "in.jsonl", lines(5)), output_uri=str(output)).execute(task.try_context())
    )

    made = creates(provider)
    assert [body["metadata"]["idempotency_key"] for body in made] == [part_key(task.key, 0, i) for i in range(3)]
    assert [body["metadata"]["display_name"] for body in made] == [f"nightly part {i}/3" for i in (1, 2, 3)]
    assert len(uploads(provider)) == 3
    assert ref.parts is not None
    assert [(p.index, p.round, p.request_count) for p in ref.parts] == [(0, 0, 2), (1, 0, 2), (2, 0, 1)]
    assert [p.idempotency_key for p in ref.parts] == [part_key(task.key, 0, i) for i in range(3)]
    assert [body["metadata"]["input_fingerprint"] for body in made] == [p.input_fingerprint for p in ref.parts]
    assert len({p.input_fingerprint for p in ref.parts}) == 3
    assert [p.upload for p in ref.parts] == [None, None, None]
    assert sorted(ref.job_names()) == sorted(job.name for job in provider.state.store.list_jobs("openai"))
    assert ref.job_name == ref.parts[0].job_name
    assert (ref.idempotency_key, ref.request_count) == (task.key, 5)
    assert ref.keys_uri == str(output / KEYS_FILE)
    assert (output / KEYS_FILE).read_text() == "".join(f'"k{i}"\n' for i in range(5))
    assert BatchJobRef.parse(task.store.data[STATE_STORE_KEY]) == ref


def test_an_input_that_fits_one_job_keeps_a_ref_without_parts(provider, tmp_path):
    ref = split_submit(write_input(tmp_path / "in.jsonl", lines(2))).execute(Task().try_context())

    assert ref["parts"] is None
    assert [body["metadata"]["display_name"] for body in creates(provider)] == ["nightly"]


def test_a_retry_reattaches_to_every_part_and_creates_none(provider, tmp_path):
    task = Task()
    path = write_input(tmp_path / "in.jsonl", lines(5))
    first = split_submit(path).execute(task.try_context())
    provider.state.request_log.clear()

    again = split_submit(path).execute(task.try_context())

    assert again == first
    assert writes(provider) == []


def test_a_retry_after_a_crash_mid_group_creates_only_the_missing_parts(provider, tmp_path, monkeypatch):
    task = Task()
    path = write_input(tmp_path / "in.jsonl", lines(5))
    real_create = BatchHook.create_batch
    calls = []

    def die_after_the_second_create(hook: BatchHook[Any], spec: Any) -> Any:
        job = real_create(hook, spec)
        calls.append(job.name)
        if len(calls) == 2:
            raise WorkerDied("the worker died right after part 2 was created, before it was remembered")
        return job

    monkeypatch.setattr(BatchHook, "create_batch", die_after_the_second_create)
    with pytest.raises(WorkerDied):
        split_submit(path).execute(task.try_context())
    monkeypatch.setattr(BatchHook, "create_batch", real_create)
    assert len(BatchJobRef.parse(task.store.data[STATE_STORE_KEY]).job_names()) == 1  # only part 1 remembered

    ref = BatchJobRef.parse(split_submit(path).execute(task.try_context()))

    made = creates(provider)
    assert [body["metadata"]["idempotency_key"] for body in made] == [
        part_key(task.key, 0, i) for i in range(3)
    ]  # parts 1 and 2 once each (found again from the store and by look-up), then only part 3
    assert ref.job_names()[:2] == calls
    assert sorted(ref.job_names()) == sorted(job.name for job in provider.state.store.list_jobs("openai"))


def test_max_concurrent_jobs_leaves_parts_waiting_uploaded_until_slots_free(provider, tmp_path, monkeypatch):
    task = Task()
    operator = split_submit(
        write_input(tmp_path / "in.jsonl", lines(5)),
        output_uri=str(tmp_path / "out"),
        wait_for_completion=True,
        max_concurrent_jobs=1,
    )
    monkeypatch.setattr(operator, "wait_for", lambda context, ref: ref)
    context = task.try_context()

    ref = operator.execute(context)

    assert len(uploads(provider)) == 3  # every part is uploaded before the task waits
    assert ref.parts is not None and ref.max_concurrent_jobs == 1
    assert [p.job_name is not None for p in ref.parts] == [True, False, False]
    uploaded = [p.upload for p in ref.parts[1:]]
    assert all(uploaded) and len(creates(provider)) == 1

    ref = operator.create_waiting_parts(context, ref)  # part 1 ended: one slot

    assert [p.job_name is not None for p in ref.parts] == [True, True, False]
    assert creates(provider)[1]["input_file_id"] == uploaded[0]
    assert BatchJobRef.parse(task.store.data[STATE_STORE_KEY]) == ref

    ref = operator.create_waiting_parts(context, ref)

    made = creates(provider)
    assert [body["input_file_id"] for body in made[1:]] == uploaded
    assert [body["metadata"]["idempotency_key"] for body in made] == [part_key(task.key, 0, i) for i in range(3)]
    assert all(p.job_name is not None and p.upload is None for p in ref.parts)


def test_an_edited_input_sends_its_changed_parts_again_and_says_why(provider, tmp_path, caplog):
    task = Task()
    rows = lines(5)
    path = tmp_path / "in.jsonl"
    first = BatchJobRef.parse(split_submit(write_input(path, rows)).execute(task.try_context()))
    rows[4] = lines(5, text="edited")[4]
    operator = split_submit(write_input(path, rows))
    capture_log(operator, caplog)

    ref = BatchJobRef.parse(operator.execute(task.try_context()))

    assert ref.input_fingerprint != first.input_fingerprint
    assert ref.parts is not None and first.parts is not None
    assert ref.job_names()[:2] == first.job_names()[:2]  # unchanged parts are the same jobs
    assert ref.job_names()[2] != first.job_names()[2]
    assert len(creates(provider)) == 4
    warnings = log_messages(caplog, logging.WARNING)
    assert any("the input changed since the 3 jobs from" in message for message in warnings)


def test_inline_requests_that_would_wait_for_a_slot_are_refused_before_anything_is_sent(provider, tmp_path):
    operator = submit(
        lines(3),
        conn_id=GEMINI_CONN,
        model=GEMINI_MODEL,
        max_requests_per_job=1,
        max_concurrent_jobs=2,
        wait_for_completion=True,
        output_uri=str(tmp_path / "out"),
    )

    with pytest.raises(
        InputValidationError, match="inline requests cannot wait for a free slot: raise max_concurrent_jobs"
    ):
        operator.execute(Task().try_context())

    assert requests(provider) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_requests_per_job": 0}, "max_requests_per_job must be a positive whole number"),
        ({"max_bytes_per_job": -5}, "max_bytes_per_job must be a positive whole number"),
        ({"max_input_tokens_per_job": "many"}, "max_input_tokens_per_job must be a positive whole number"),
        ({"max_concurrent_jobs": 2}, "max_concurrent_jobs needs wait_for_completion=True"),
        (
            {"max_concurrent_jobs": 0, "wait_for_completion": True, "output_uri": "out"},
            "max_concurrent_jobs must be a positive whole number",
        ),
        ({"retry_failed_rows": 1}, "retry_failed_rows needs wait_for_completion=True"),
        ({"retry_failed_rows": -1}, "retry_failed_rows must be a whole number of rounds"),
    ],
)
def test_bad_split_settings_are_refused_when_the_dag_is_parsed(kwargs, message):
    with pytest.raises(ValueError, match=message):
        submit("in.jsonl", **kwargs)


def test_a_templated_limit_is_checked_once_rendered(provider, tmp_path):
    operator = submit(write_input(tmp_path / "in.jsonl", lines(3)), max_requests_per_job="{{ params.n }}")
    operator.max_requests_per_job = "0"

    with pytest.raises(ValueError, match="max_requests_per_job must be a positive whole number, got '0'"):
        operator.execute(Task().try_context())

    assert requests(provider) == []


def test_a_split_input_waited_on_lands_one_results_file_for_every_key(provider, tmp_path):
    output = tmp_path / "out"
    operator = split_submit(
        write_input(tmp_path / "in.jsonl", lines(5)),
        output_uri=str(output),
        wait_for_completion=True,
        deferrable=False,
        poll_interval=0.01,
        max_concurrent_jobs=1,
    )

    manifest = operator.execute(Task().try_context())

    landed = [json.loads(line) for line in (output / "results.jsonl").read_text().splitlines()]
    assert [row["key"] for row in landed] == [f"k{i}" for i in range(5)]
    assert {row["status"] for row in landed} == {"succeeded"}
    assert [part["request_count"] for part in manifest["parts"]] == [2, 2, 1]
    assert len(creates(provider)) == 3


def test_the_same_input_cut_differently_is_sent_as_the_new_parts_and_says_why(provider, tmp_path, caplog):
    task = Task()
    path = write_input(tmp_path / "in.jsonl", lines(5))
    split_submit(path).execute(task.try_context())
    operator = submit(path, max_requests_per_job=3)
    capture_log(operator, caplog)

    ref = BatchJobRef.parse(operator.execute(task.try_context()))

    assert [p.request_count for p in ref.parts or ()] == [3, 2]
    assert len(creates(provider)) == 5
    assert any("is now cut into 2 part(s), not into 3" in m for m in log_messages(caplog, logging.WARNING))
