"""Issue check: a deferred task marked failed in Airflow 3.3 leaves its job CANCELLED on the emulator.

Real components, no mocks: the scheduler queues the task, a LocalExecutor worker runs
``GenAIBatchSubmitOperator.execute`` (it submits to the emulator and defers), the triggerer polls
the job, and marking the task failed through the REST API makes the triggerer cancel the trigger
with "user action", which runs ``GenAIBatchJobTrigger.on_kill`` and so cancels the remote job.
"""

from __future__ import annotations

import textwrap
import time
from typing import Any

import pytest

from .conftest import AirflowDeployment, wait_until

pytestmark = pytest.mark.airflow_e2e

DAG_ID = "e2e_kill_while_deferred"
TASK_ID = "submit"
CANCELLED = "BATCH_STATE_CANCELLED"


def dag_file(output_uri: str) -> str:
    return textwrap.dedent(
        f"""\
        from airflow.sdk import DAG

        from airflow_provider_genai_batch.operators.submit import GenAIBatchSubmitOperator

        with DAG(dag_id={DAG_ID!r}, schedule=None, catchup=False):
            GenAIBatchSubmitOperator(
                task_id={TASK_ID!r},
                conn_id="gemini_batch_default",
                model="gemini-2.5-flash",
                input=[{{"key": "a", "contents": "hello"}}],
                output_uri={output_uri!r},
                wait_for_completion=True,
                poll_interval=1,
            )
        """
    )


def test_marking_a_deferred_task_failed_cancels_its_job(airflow_deployment: AirflowDeployment) -> None:
    af = airflow_deployment
    emulator = af.emulator
    (af.dags_dir / f"{DAG_ID}.py").write_text(dag_file(str(af.output_dir / "run")))
    started = time.monotonic()

    def dag_parsed() -> bool:
        af.assert_alive()
        errors = af.request("GET", "/importErrors")["import_errors"]
        assert not errors, f"the DAG file did not import: {errors}"
        return af.api.get(f"/dags/{DAG_ID}").status_code == 200

    wait_until(dag_parsed, 90, f"the dag-processor to serialize {DAG_ID}")
    af.request("PATCH", f"/dags/{DAG_ID}", json={"is_paused": False})
    run_id = af.request("POST", f"/dags/{DAG_ID}/dagRuns", json={"logical_date": None})["dag_run_id"]
    ti_path = f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{TASK_ID}"

    def ti_state() -> str | None:
        af.assert_alive()
        response = af.api.get(ti_path)
        if response.status_code == 404:  # the scheduler has not created the task instance yet
            return None
        assert response.is_success, f"GET {ti_path} -> {response.status_code}: {response.text[:2000]}"
        state: str | None = response.json()["state"]
        assert state not in ("failed", "success", "upstream_failed", "skipped"), f"the task ended early: {state}"
        return state

    wait_until(lambda: ti_state() == "deferred", 120, f"{TASK_ID} to be deferred")
    jobs = emulator.jobs()
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
        (only,) = emulator.jobs()
        return only["state"] if only["state"] == CANCELLED else None

    wait_until(job_state, 90, f"the emulator to show {job['name']} {CANCELLED} (the trigger's on_kill)")
    cancelled_after = time.monotonic() - deferred_at

    # It was the trigger's on_kill, called by the triggerer for the user's action, that cancelled it.
    def trigger_log() -> str:
        return "\n".join(path.read_text(errors="replace") for path in (af.home / "logs").rglob("*.log.trigger.*"))

    wait_until(
        lambda: "invoking on_kill" in (text := trigger_log()) and f"task killed: cancelling {job['name']}" in text,
        30,
        "the trigger log to show on_kill cancelling the job",
    )
    final = emulator.jobs()
    assert [j["state"] for j in final] == [CANCELLED], final
    assert af.request("GET", ti_path)["state"] == "failed"
    cancels = [r for r in emulator.requests() if r["method"] == "POST" and r["path"].endswith(f"{job['name']}:cancel")]
    assert len(cancels) == 1, cancels
    print(
        f"\n{DAG_ID}: deferred {deferred_at - started:.1f} s after the DAG file was written; "
        f"job cancelled {cancelled_after:.1f} s after the task was marked failed"
    )
