"""A re-run that submits a new job instead of re-attaching says why exactly once, naming the earlier job.

Two reasons lead there: ``force_resubmit`` is set, or the earlier job ended FAILED, CANCELLED or EXPIRED (or is
being cancelled); when both hold, the one warning names ``force_resubmit``. A re-run that re-attaches warns nothing.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_genai_batch.models import JobState
from airflow_provider_genai_batch.operators import submit as submit_module
from tests.unit.pipeline.fakes import (
    DictStateStore,
    FakeBatchHook,
    FakeTI,
    canonical_line,
    capture_log,
    log_messages,
    make_context,
    submit_op,
    write_jsonl,
)

ENDED_BADLY = (JobState.FAILED, JobState.CANCELLED, JobState.EXPIRED)


@pytest.fixture
def fake_hook(monkeypatch: pytest.MonkeyPatch) -> FakeBatchHook:
    """One fake provider, behind every connection the submit operator looks up."""
    hook = FakeBatchHook()
    monkeypatch.setattr(submit_module, "get_hook", lambda conn_id: hook)
    return hook


def rerun_warnings(
    fake_hook: FakeBatchHook, tmp_path: Path, caplog: pytest.LogCaptureFixture, earlier_state: JobState, **rerun: Any
) -> tuple[str, list[str]]:
    """Submit, let the job reach ``earlier_state``, submit again as the next try; the first job's name and
    every warning of the second try that names it."""
    source = write_jsonl(tmp_path / "input.jsonl", [canonical_line(k) for k in "abc"])
    store = DictStateStore()
    output_uri = str(tmp_path / "out")
    first = submit_op(str(source), output_uri=output_uri).execute(make_context(FakeTI(), store=store))
    name = first["job_name"]
    fake_hook.jobs[name] = fake_hook.jobs[name].model_copy(update={"state": earlier_state})
    again = submit_op(str(source), output_uri=output_uri, **rerun)
    capture_log(again, caplog)
    again.execute(make_context(FakeTI(try_number=2), store=store))
    return name, [m for m in log_messages(caplog, logging.WARNING) if name in m]


@pytest.mark.parametrize("state", ENDED_BADLY, ids=lambda s: s.value)
def test_an_earlier_job_that_ended_badly_is_named_once(fake_hook, tmp_path, caplog, state):
    name, warnings = rerun_warnings(fake_hook, tmp_path, caplog, state)

    assert warnings == [f"the earlier job {name} ended {state.value}; submitting a new one"]
    assert len(fake_hook.created) == 2


@pytest.mark.parametrize("state", [JobState.PENDING, JobState.SUCCEEDED, *ENDED_BADLY], ids=lambda s: s.value)
def test_force_resubmit_is_named_once_whatever_the_earlier_job_became(fake_hook, tmp_path, caplog, state):
    name, warnings = rerun_warnings(fake_hook, tmp_path, caplog, state, force_resubmit=True)

    assert warnings == [
        f"force_resubmit is set: not re-attaching to {name} ({state.value}), submitting a new job for the same input"
    ]
    assert len(fake_hook.created) == 2


@pytest.mark.parametrize("state", [JobState.PENDING, JobState.SUCCEEDED], ids=lambda s: s.value)
def test_a_rerun_that_reattaches_warns_nothing(fake_hook, tmp_path, caplog, state):
    _, warnings = rerun_warnings(fake_hook, tmp_path, caplog, state)

    assert warnings == []
    assert len(fake_hook.created) == 1


def test_an_earlier_job_being_cancelled_is_not_reattached_to(fake_hook, tmp_path, caplog):
    name, warnings = rerun_warnings(fake_hook, tmp_path, caplog, JobState.CANCELLING)

    assert warnings == [f"the earlier job {name} is being cancelled (JOB_STATE_CANCELLING); submitting a new one"]
    assert len(fake_hook.created) == 2


def test_a_part_being_cancelled_is_sent_again_and_the_other_part_reattached_to(fake_hook, tmp_path, caplog):
    source = write_jsonl(tmp_path / "input.jsonl", [canonical_line(k) for k in "abc"])
    store = DictStateStore()
    first = submit_op(str(source), max_requests_per_job=2).execute(make_context(FakeTI(), store=store))
    cancelling, kept = (part["job_name"] for part in first["parts"])
    fake_hook.jobs[cancelling] = fake_hook.jobs[cancelling].model_copy(update={"state": JobState.CANCELLING})
    again = submit_op(str(source), max_requests_per_job=2)
    capture_log(again, caplog)

    ref = again.execute(make_context(FakeTI(try_number=2), store=store))

    assert [m for m in log_messages(caplog, logging.WARNING) if cancelling in m] == [
        f"part 1/2: the earlier job {cancelling} is being cancelled (JOB_STATE_CANCELLING); submitting a new one"
    ]
    assert len(fake_hook.created) == 3
    assert [part["job_name"] for part in ref["parts"]] == [fake_hook.created[2]["job_name"], kept]
