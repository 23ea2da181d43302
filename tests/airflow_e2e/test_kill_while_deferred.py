"""Issue check: a deferred task marked failed in Airflow 3.3 leaves its job CANCELLED on the emulator.

Real components, no mocks: the scheduler queues the task, a LocalExecutor worker runs
``GenAIBatchSubmitOperator.execute`` (it submits to the emulator and defers), the triggerer polls
the job, and marking the task failed through the REST API makes the triggerer cancel the trigger
with "user action", which runs ``GenAIBatchJobTrigger.on_kill``: it reads the task instance's state
(failed), and so cancels the remote job.

The scenario runs on the distributed deployment (``tests/deployment/test_cancel_and_clear.py``: Celery
workers, two triggerers), which covers it more strictly than this single-machine one would, so it is not
run here a second time.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from .conftest import AirflowDeployment, wait_until
from .dags import KILL_WHILE_DEFERRED

pytestmark = pytest.mark.airflow_e2e

DAG_ID = KILL_WHILE_DEFERRED.dag_id
TASK_ID = "submit"
CANCELLED = "BATCH_STATE_CANCELLED"


def marking_a_deferred_task_failed_cancels_its_job(af: AirflowDeployment) -> None:
    emulator = af.emulator
    emulator.config(job_outcome="stuck")  # only a cancel can end the job
    af.ready(DAG_ID)
    started = time.monotonic()
    run_id = af.trigger(DAG_ID)
    ti_path = f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{TASK_ID}"

    af.wait_for_state(DAG_ID, run_id, TASK_ID, "deferred")
    jobs = af.jobs_of(DAG_ID)
    assert len(jobs) == 1, jobs
    job: dict[str, Any] = jobs[0]
    assert job["provider"] == "gemini", job
    assert job["state"] == "BATCH_STATE_PENDING", job
    # The worker read the job once before deferring; more reads mean the trigger is polling it.
    wait_until(
        lambda: sum(r["method"] == "GET" and r["path"].endswith(job["name"]) for r in emulator.requests()) >= 2,
        60,
        "the triggerer to poll the job",
    )
    deferred_at = time.monotonic()

    patched = af.request("PATCH", ti_path, json={"new_state": "failed"})
    assert [ti["state"] for ti in patched["task_instances"]] == ["failed"], patched

    def job_state() -> str | None:
        (only,) = af.jobs_of(DAG_ID)
        return only["state"] if only["state"] == CANCELLED else None

    wait_until(job_state, 90, f"the emulator to show {job['name']} {CANCELLED} (the trigger's on_kill)")
    cancelled_after = time.monotonic() - deferred_at

    # It was the trigger's on_kill, called by the triggerer for the user's action, that cancelled it.
    wait_until(
        lambda: (
            "invoking on_kill" in (text := af.trigger_log(DAG_ID))
            and f"task killed (the task instance was set to failed): cancelling {job['name']}" in text
        ),
        30,
        "the trigger log to show on_kill cancelling the job",
    )
    assert [j["state"] for j in af.jobs_of(DAG_ID)] == [CANCELLED]
    assert af.request("GET", ti_path)["state"] == "failed"
    cancels = [r for r in emulator.requests() if r["method"] == "POST" and r["path"].endswith(f"{job['name']}:cancel")]
    assert len(cancels) == 1, cancels
    print(
        f"\n{DAG_ID}: deferred {deferred_at - started:.1f} s after the run was triggered; "
        f"job cancelled {cancelled_after:.1f} s after the task was marked failed"
    )
