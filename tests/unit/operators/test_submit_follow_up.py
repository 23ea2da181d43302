"""retry_failed_rows: the rows whose landed result is retryable go again as the next round's parts."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_genai_batch.errors import GenAIBatchError
from airflow_provider_genai_batch.hooks.openai import OpenAIBatchHook
from airflow_provider_genai_batch.idempotency import part_key
from airflow_provider_genai_batch.job_ref import BatchJobRef
from airflow_provider_genai_batch.models import JobState, ResultCounts, ResultsManifest
from airflow_provider_genai_batch.operators.submit import GenAIBatchSubmitOperator
from tests.unit.pipeline.fakes import capture_log, log_messages

from .conftest import OPENAI_CONN, Task, creates, lines, submit, write_input, writes

LANDED = [
    {"key": "k0", "status": "succeeded", "text": "ok"},
    {"key": "k1", "status": "failed", "error": {"message": "Rate limit reached", "code": "rate_limit_exceeded"}},
    {"key": "k2", "status": "failed", "error": {"message": "bad request", "code": "invalid_request_error"}},
    {"key": "k3", "status": "expired"},
    {"key": "k4", "status": "missing"},
]
"""A landed results file: k1 (rate limited), k3 (expired) and k4 (missing) are worth sending again; k2 is not."""


def retrying(path: str, output: Path, monkeypatch: pytest.MonkeyPatch) -> GenAIBatchSubmitOperator:
    """A submit with one follow-up round whose waiting is left out: ``execute`` returns the group's ref."""
    operator = submit(
        path, max_requests_per_job=2, retry_failed_rows=1, wait_for_completion=True, output_uri=str(output)
    )
    monkeypatch.setattr(operator, "wait_for", lambda context, ref: ref)
    return operator


def landed(ref: BatchJobRef, output: Path, rows: list[dict[str, Any]]) -> ResultsManifest:
    results = output / "results.jsonl"
    results.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return ResultsManifest(
        job_ref=ref,
        state=JobState.PARTIALLY_SUCCEEDED,
        counts=ResultCounts(total=len(rows)),
        results_uri=str(results),
        manifest_uri=str(output / "manifest.json"),
        written_at=datetime.now(timezone.utc),
    )


def sent_ids(file_id: str) -> list[str]:
    hook = OpenAIBatchHook(conn_id=OPENAI_CONN)
    return [json.loads(line)["custom_id"] for line in hook.iter_file_lines(file_id)]


def test_a_follow_up_round_sends_only_the_retryable_rows_as_its_own_parts(provider, tmp_path, monkeypatch, caplog):
    task, output = Task(), tmp_path / "out"
    operator = retrying(write_input(tmp_path / "in.jsonl", lines(5)), output, monkeypatch)
    context = task.try_context()
    ref = operator.execute(context)
    capture_log(operator, caplog)

    follow = operator.follow_up(context, ref, landed(ref, output, LANDED))

    assert follow is not None and follow.parts is not None and ref.parts is not None
    assert follow.parts[:3] == ref.parts
    round_one = follow.parts[3:]
    assert [(p.index, p.round, p.request_count) for p in round_one] == [(3, 1, 2), (4, 1, 1)]
    assert [p.idempotency_key for p in round_one] == [part_key(task.key, 1, 0), part_key(task.key, 1, 1)]
    keys_file = output / "input_keys.round-1.jsonl"
    assert [p.keys_uri for p in round_one] == [str(keys_file), str(keys_file)]
    assert keys_file.read_text() == '"k1"\n"k3"\n"k4"\n'
    made = creates(provider)[3:]
    assert [body["metadata"]["display_name"] for body in made] == [
        "nightly round 1 part 1/2",
        "nightly round 1 part 2/2",
    ]
    assert [sent_ids(body["input_file_id"]) for body in made] == [["k1", "k3"], ["k4"]]
    assert follow.input_fingerprint == ref.input_fingerprint and follow.keys_uri == ref.keys_uri
    assert any("round 1 of 1: sending again 3 row(s)" in m for m in log_messages(caplog, logging.WARNING))


def test_a_retried_follow_up_reattaches_to_the_rounds_parts(provider, tmp_path, monkeypatch):
    task, output = Task(), tmp_path / "out"
    operator = retrying(write_input(tmp_path / "in.jsonl", lines(5)), output, monkeypatch)
    ref = operator.execute(task.try_context())
    manifest = landed(ref, output, LANDED)
    first = operator.follow_up(task.try_context(), ref, manifest)
    count = len(writes(provider))

    again = operator.follow_up(task.try_context(), ref, manifest)

    assert again == first
    assert len(writes(provider)) == count


def test_no_round_is_made_when_no_row_is_retryable(provider, tmp_path, monkeypatch):
    task, output = Task(), tmp_path / "out"
    operator = retrying(write_input(tmp_path / "in.jsonl", lines(5)), output, monkeypatch)
    ref = operator.execute(task.try_context())
    count = len(writes(provider))
    rows = [LANDED[0], LANDED[2]]

    assert operator.follow_up(task.try_context(), ref, landed(ref, output, rows)) is None
    assert len(writes(provider)) == count


def test_no_round_is_made_past_retry_failed_rows(provider, tmp_path, monkeypatch):
    task, output = Task(), tmp_path / "out"
    operator = retrying(write_input(tmp_path / "in.jsonl", lines(5)), output, monkeypatch)
    ref = operator.execute(task.try_context())
    follow = operator.follow_up(task.try_context(), ref, landed(ref, output, LANDED))
    assert follow is not None
    count = len(writes(provider))

    assert operator.follow_up(task.try_context(), follow, landed(follow, output, LANDED)) is None
    assert len(writes(provider)) == count


def test_a_follow_up_refuses_an_input_changed_since_the_jobs_were_made(provider, tmp_path, monkeypatch):
    task, output = Task(), tmp_path / "out"
    path = tmp_path / "in.jsonl"
    operator = retrying(write_input(path, lines(5)), output, monkeypatch)
    ref = operator.execute(task.try_context())
    count = len(writes(provider))
    write_input(path, lines(5, text="edited"))

    with pytest.raises(GenAIBatchError, match=r"the input changed since .* its failed rows cannot be sent again"):
        operator.follow_up(task.try_context(), ref, landed(ref, output, LANDED))

    assert len(writes(provider)) == count
    assert not (output / "input_keys.round-1.jsonl").exists()


def test_a_one_job_input_with_follow_up_rounds_goes_as_a_group_of_one(provider, tmp_path, monkeypatch):
    task = Task()
    operator = retrying(write_input(tmp_path / "in.jsonl", lines(2)), tmp_path / "out", monkeypatch)

    ref = operator.execute(task.try_context())

    assert ref.parts is not None and len(ref.parts) == 1
    assert (ref.parts[0].idempotency_key, ref.parts[0].input_fingerprint) == (task.key, ref.input_fingerprint)
    assert [body["metadata"]["display_name"] for body in creates(provider)] == ["nightly"]


def test_a_retried_task_waits_on_the_follow_up_parts_its_earlier_try_sent(provider, tmp_path, monkeypatch):
    task, output = Task(), tmp_path / "out"
    path = write_input(tmp_path / "in.jsonl", lines(5))
    operator = retrying(path, output, monkeypatch)
    ref = operator.execute(task.try_context())
    follow = operator.follow_up(task.try_context(), ref, landed(ref, output, LANDED))
    count = len(writes(provider))

    again = retrying(path, output, monkeypatch).execute(task.try_context())  # the next try of the task

    assert again == follow
    assert len(writes(provider)) == count


def test_rows_landed_missing_are_not_sent_again_when_the_job_returned_answers_under_keys_it_was_not_sent(
    provider, tmp_path, monkeypatch, caplog
):
    task, output = Task(), tmp_path / "out"
    operator = retrying(write_input(tmp_path / "in.jsonl", lines(5)), output, monkeypatch)
    ref = operator.execute(task.try_context())
    manifest = landed(ref, output, LANDED)
    manifest = manifest.model_copy(update={"counts": ResultCounts(total=5, unmatched=1)})  # k4's answer, key renamed
    capture_log(operator, caplog)

    operator.follow_up(task.try_context(), ref, manifest)

    assert (output / "input_keys.round-1.jsonl").read_text() == '"k1"\n"k3"\n'
    assert any("1 answer(s) matched no key" in m for m in log_messages(caplog, logging.WARNING))
