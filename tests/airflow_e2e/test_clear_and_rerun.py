"""Issue checks: clearing and re-running tasks in a real Airflow 3.3 deployment never lands stale results,
never pays twice by accident, never announces the same results twice, and never destroys a job still awaited.

Each test runs a submit -> deferrable sensor pipeline against the emulator once to success, then acts as a
user would in the UI (edit the input, clear a task, clear a deferred task) and checks what the provider
saw (jobs, cancels), what landed (manifest, the earlier results kept aside), what the task logs say, and
which Asset events exist, through the public REST API.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from . import dags
from .conftest import AirflowDeployment, wait_until

pytestmark = pytest.mark.airflow_e2e

SUBMIT, WAIT = "submit", "wait"
SUCCEEDED, CANCELLED = "BATCH_STATE_SUCCEEDED", "BATCH_STATE_CANCELLED"


def write_input(path: Path, keys: list[str]) -> None:
    lines = [{"key": key, "request": {"contents": [{"role": "user", "parts": [{"text": f"q {key}"}]}]}} for key in keys]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def manifest_of(af: AirflowDeployment, pipeline: dags.Pipeline) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((pipeline.output_dir(af.output_dir) / "manifest.json").read_text())
    return manifest


def fast_jobs(af: AirflowDeployment) -> None:
    """Jobs pend half a second, run half a second, and succeed."""
    af.emulator.config(pending_seconds=0.5, running_seconds=0.5, job_outcome="succeed")


def first_run(
    af: AirflowDeployment, pipeline: dags.Pipeline, keys: list[str], conf: dict[str, Any] | None = None
) -> tuple[str, dict[str, Any]]:
    """Run the pipeline once to success on ``keys``; returns the run id and the manifest it landed."""
    write_input(pipeline.input_path(af.inputs_dir), keys)
    af.ready(pipeline.dag_id)
    run_id = af.trigger(pipeline.dag_id, conf)
    af.wait_for_state(pipeline.dag_id, run_id, WAIT, "success")
    af.wait_for_run(pipeline.dag_id, run_id, "success")  # a clear before that races the scheduler's own update
    manifest = manifest_of(af, pipeline)
    assert manifest["counts"]["total"] == manifest["counts"]["succeeded"] == len(keys), manifest
    return run_id, manifest


def cancels_of(af: AirflowDeployment, job_name: str) -> list[dict[str, Any]]:
    return [r for r in af.emulator.requests() if r["method"] == "POST" and r["path"].endswith(f"{job_name}:cancel")]


def test_clearing_a_succeeded_sensor_relands_without_a_second_asset_event(af: AirflowDeployment) -> None:
    pipeline = dags.RELANDED
    fast_jobs(af)
    af.ready(pipeline.consumer_dag_id)
    run_id, first = first_run(af, pipeline, [f"k{i}" for i in range(5)])
    job_name = first["job_ref"]["job_name"]
    # Until the consumer's run has started, Airflow 3.3.2's /assets/events answers 500 (a created run's
    # start_date is None), so wait for it to finish first.
    wait_until(
        lambda: [run["state"] for run in af.dag_runs(pipeline.consumer_dag_id)] == ["success"],
        90,
        "the consumer DAG to run once",
    )
    (event,) = af.asset_events(pipeline.dag_id)
    assert event["extra"]["job_ref"]["job_name"] == job_name

    af.clear(pipeline.dag_id, run_id, [WAIT], downstream=False)
    af.wait_for_state(pipeline.dag_id, run_id, WAIT, "success", try_number=2)

    relanded = manifest_of(af, pipeline)
    assert relanded["written_at"] != first["written_at"]  # it did land again
    assert relanded["job_ref"]["job_name"] == job_name
    assert relanded["counts"] == first["counts"]
    assert "already has an event for" in af.task_log(pipeline.dag_id, run_id, WAIT, 2)
    assert [e["id"] for e in af.asset_events(pipeline.dag_id)] == [event["id"]]
    assert len(af.dag_runs(pipeline.consumer_dag_id)) == 1
    assert af.request("GET", f"/dags/{pipeline.consumer_dag_id}/assets/queuedEvents")["queued_events"] == []
    assert [job["name"] for job in af.jobs_of(pipeline.dag_id)] == [job_name]


def test_clearing_submit_with_the_input_unchanged_reattaches_to_its_job(af: AirflowDeployment) -> None:
    pipeline = dags.INPUT_UNCHANGED
    fast_jobs(af)
    run_id, first = first_run(af, pipeline, [f"k{i}" for i in range(5)])
    job_name = first["job_ref"]["job_name"]

    af.clear(pipeline.dag_id, run_id, [SUBMIT], downstream=True)
    af.wait_for_state(pipeline.dag_id, run_id, WAIT, "success", try_number=2)

    assert [job["name"] for job in af.jobs_of(pipeline.dag_id)] == [job_name]
    assert f"re-attaching to {job_name}" in af.task_log(pipeline.dag_id, run_id, SUBMIT, 2)
    again = manifest_of(af, pipeline)
    assert again["job_ref"] == first["job_ref"]
    assert not (pipeline.output_dir(af.output_dir) / "superseded").exists()


def test_clearing_submit_after_the_input_grew_submits_a_second_job_and_says_why(af: AirflowDeployment) -> None:
    pipeline = dags.INPUT_GREW
    fast_jobs(af)
    run_id, first = first_run(af, pipeline, [f"k{i}" for i in range(5)])
    old_job, old_fingerprint = first["job_ref"]["job_name"], first["job_ref"]["input_fingerprint"]

    write_input(pipeline.input_path(af.inputs_dir), [f"k{i}" for i in range(6)])
    af.clear(pipeline.dag_id, run_id, [SUBMIT], downstream=True)
    af.wait_for_state(pipeline.dag_id, run_id, WAIT, "success", try_number=2)

    jobs = af.jobs_of(pipeline.dag_id)
    assert len(jobs) == 2, jobs
    assert jobs[0]["name"] == old_job
    second = manifest_of(af, pipeline)
    assert second["job_ref"]["job_name"] == jobs[1]["name"]
    assert second["counts"]["total"] == second["counts"]["succeeded"] == 6
    new_fingerprint = second["job_ref"]["input_fingerprint"]
    assert new_fingerprint != old_fingerprint
    assert (
        f"the input changed since job {old_job} was submitted "
        f"(fingerprint {old_fingerprint[:12]} -> {new_fingerprint[:12]}; 5 -> 6 requests)"
    ) in af.task_log(pipeline.dag_id, run_id, SUBMIT, 2)
    # The first job's results were kept, whole, next to the new ones.
    (kept,) = (pipeline.output_dir(af.output_dir) / "superseded").iterdir()
    kept_manifest = json.loads((kept / "manifest.json").read_text())
    assert kept_manifest["job_ref"]["job_name"] == old_job
    assert kept_manifest["counts"]["total"] == 5
    assert len((kept / "results.jsonl").read_text().splitlines()) == 5


def test_clearing_submit_after_the_input_became_invalid_fails_naming_the_line_without_a_new_job(
    af: AirflowDeployment,
) -> None:
    pipeline = dags.INPUT_BROKE
    fast_jobs(af)
    run_id, first = first_run(af, pipeline, [f"k{i}" for i in range(5)])
    input_path = pipeline.input_path(af.inputs_dir)
    valid = input_path.read_text().splitlines()
    input_path.write_text("\n".join([*valid[:2], '{"key": "k2", "request": {"contents": [', *valid[3:]]) + "\n")

    af.clear(pipeline.dag_id, run_id, [SUBMIT], downstream=True)
    af.wait_for_state(pipeline.dag_id, run_id, SUBMIT, "failed", try_number=2)

    assert f"{input_path}, line 3: invalid JSON" in af.task_log(pipeline.dag_id, run_id, SUBMIT, 2)
    assert [job["name"] for job in af.jobs_of(pipeline.dag_id)] == [first["job_ref"]["job_name"]]
    af.wait_for_state(pipeline.dag_id, run_id, WAIT, "upstream_failed", try_number=1)
    assert manifest_of(af, pipeline) == first  # what had landed is untouched


def test_force_resubmit_on_a_clear_pays_again_for_the_same_input(af: AirflowDeployment) -> None:
    pipeline = dags.FORCED
    fast_jobs(af)
    run_id, first = first_run(af, pipeline, [f"k{i}" for i in range(5)], conf={"force_resubmit": True})
    old_job = first["job_ref"]["job_name"]

    af.clear(pipeline.dag_id, run_id, [SUBMIT], downstream=True)
    af.wait_for_state(pipeline.dag_id, run_id, WAIT, "success", try_number=2)

    jobs = af.jobs_of(pipeline.dag_id)
    assert len(jobs) == 2, jobs
    assert jobs[0]["display_name"] == jobs[1]["display_name"]  # same task, same input fingerprint
    second = manifest_of(af, pipeline)
    assert second["job_ref"]["job_name"] == jobs[1]["name"] != old_job
    assert second["job_ref"]["input_fingerprint"] == first["job_ref"]["input_fingerprint"]
    assert f"force_resubmit is set: not re-attaching to {old_job}" in af.task_log(pipeline.dag_id, run_id, SUBMIT, 2)


def clearing_a_deferred_sensor_keeps_its_job_and_the_rerun_lands_it(af: AirflowDeployment) -> None:
    """Run on the distributed deployment (``tests/deployment/test_cancel_and_clear.py``), not here a second time."""
    pipeline = dags.CLEARED_WHILE_DEFERRED
    af.emulator.config(pending_seconds=30, running_seconds=0.5, job_outcome="succeed")
    write_input(pipeline.input_path(af.inputs_dir), [f"k{i}" for i in range(5)])
    af.ready(pipeline.dag_id)
    run_id = af.trigger(pipeline.dag_id)
    af.wait_for_state(pipeline.dag_id, run_id, WAIT, "deferred")
    (job,) = af.jobs_of(pipeline.dag_id)
    wait_until(
        lambda: sum(r["method"] == "GET" and r["path"].endswith(job["name"]) for r in af.emulator.requests()) >= 2,
        60,
        "the triggerer to poll the job",
    )
    (pending,) = af.jobs_of(pipeline.dag_id)
    assert pending["state"] == "BATCH_STATE_PENDING", pending

    holder = dags.TRIGGER_ID_HOLDER  # a later trigger row, so the sensor's trigger id is not handed out again
    af.ready(holder.dag_id)
    af.wait_for_state(holder.dag_id, af.trigger(holder.dag_id), "hold", "deferred")

    af.clear(pipeline.dag_id, run_id, [WAIT], downstream=False)
    # The triggerer drops the trigger once the scheduler has picked the cleared task up again, and calls
    # on_kill; the first Task SDK call of a fresh triggerer can take tens of seconds on a busy machine.
    wait_until(
        lambda: f"still waits on the job: keeping {job['name']}" in af.trigger_log(pipeline.dag_id),
        120,
        "the trigger's on_kill to keep the job",
    )
    assert "Trigger cancelled by user action, invoking on_kill" in af.trigger_log(pipeline.dag_id)
    af.wait_for_state(pipeline.dag_id, run_id, WAIT, "success", try_number=2)

    assert [(j["name"], j["state"]) for j in af.jobs_of(pipeline.dag_id)] == [(job["name"], SUCCEEDED)]
    assert cancels_of(af, job["name"]) == []
    landed = manifest_of(af, pipeline)
    assert landed["job_ref"]["job_name"] == job["name"]
    assert landed["counts"]["total"] == landed["counts"]["succeeded"] == 5


def test_clearing_a_sensor_polling_on_a_worker_keeps_its_job_and_the_rerun_lands_it(af: AirflowDeployment) -> None:
    pipeline = dags.CLEARED_WHILE_POKING
    af.emulator.config(pending_seconds=20, running_seconds=0.5, job_outcome="succeed")
    write_input(pipeline.input_path(af.inputs_dir), [f"k{i}" for i in range(5)])
    af.ready(pipeline.dag_id)
    run_id = af.trigger(pipeline.dag_id)
    af.wait_for_state(pipeline.dag_id, run_id, WAIT, "running")
    (job,) = af.jobs_of(pipeline.dag_id)
    wait_until(
        lambda: sum(r["method"] == "GET" and r["path"].endswith(job["name"]) for r in af.emulator.requests()) >= 2,
        60,
        "the sensor to poke the job",
    )
    (pending,) = af.jobs_of(pipeline.dag_id)
    assert pending["state"] == "BATCH_STATE_PENDING", pending

    af.clear(pipeline.dag_id, run_id, [WAIT], downstream=False)  # the worker terminates the running try
    af.wait_for_state(pipeline.dag_id, run_id, WAIT, "success", try_number=2)

    assert [(j["name"], j["state"]) for j in af.jobs_of(pipeline.dag_id)] == [(job["name"], SUCCEEDED)]
    assert cancels_of(af, job["name"]) == []
    assert f"still waits on the job: keeping {job['name']}" in af.task_log(pipeline.dag_id, run_id, WAIT, 1)
    landed = manifest_of(af, pipeline)
    assert landed["job_ref"]["job_name"] == job["name"]
    assert landed["counts"]["total"] == landed["counts"]["succeeded"] == 5
