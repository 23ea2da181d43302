"""Issue checks: the example DAGs, unchanged, run green on a distributed deployment (PostgreSQL, Celery with
two workers whose temp directories differ, two triggerers), and a submit task and its sensor run on
different workers.
"""

from __future__ import annotations

import pytest

from ..airflow_e2e.conftest import wait_until
from . import dags
from .conftest import DistributedDeployment

pytestmark = pytest.mark.airflow_deployment

SUCCEEDED = "BATCH_STATE_SUCCEEDED"


def run_to_success(dep: DistributedDeployment, dag_id: str, timeout: float = 240) -> str:
    dep.ready(dag_id)
    run_id = dep.trigger(dag_id)
    dep.wait_for_run(dag_id, run_id, "success", timeout=timeout)
    return run_id


def test_the_nightly_example_runs_green_with_submit_and_sensor_on_different_workers(
    dep: DistributedDeployment,
) -> None:
    dep.ready(dags.NIGHTLY_CONSUMER)
    run_id = run_to_success(dep, dags.NIGHTLY)

    tis = {
        ti["task_id"]: ti
        for ti in dep.request("GET", f"/dags/{dags.NIGHTLY}/dagRuns/{run_id}/taskInstances")["task_instances"]
    }
    assert {task: ti["state"] for task, ti in tis.items()} == dict.fromkeys(
        ("export_prompts", "submit", "wait_for_results", "report"), "success"
    )
    assert (tis["submit"]["queue"], tis["submit"]["hostname"]) == (dags.SUBMIT_QUEUE, "worker-a")
    assert (tis["wait_for_results"]["queue"], tis["wait_for_results"]["hostname"]) == (dags.SENSOR_QUEUE, "worker-b")
    manifest = dep.request(
        "GET", f"/dags/{dags.NIGHTLY}/dagRuns/{run_id}/taskInstances/wait_for_results/xcomEntries/return_value"
    )["value"]
    (job,) = [job for job in dep.emulator.jobs() if job["name"] == manifest["job_ref"]["job_name"]]
    assert job["state"] == SUCCEEDED
    assert manifest["counts"]["total"] == manifest["counts"]["succeeded"] == 5
    report = dep.request("GET", f"/dags/{dags.NIGHTLY}/dagRuns/{run_id}/taskInstances/report/xcomEntries/return_value")[
        "value"
    ]
    assert report == {"rows": 5, "succeeded": 5}
    # Unpausing the @daily DAG also started today's scheduled run: each run announces its results once, and
    # the consumer DAG runs on them (events arriving together are consumed by one run).
    wait_until(
        lambda: {run["state"] for run in dep.dag_runs(dags.NIGHTLY)} == {"success"},
        240,
        "every run of the nightly DAG to succeed",
    )
    wait_until(
        lambda: (
            (states := [run["state"] for run in dep.dag_runs(dags.NIGHTLY_CONSUMER)]) and set(states) == {"success"}
        ),
        120,
        "the Asset events to run the consumer DAG",
    )
    assert len(dep.asset_events(dags.NIGHTLY)) == len(dep.dag_runs(dags.NIGHTLY))


def test_the_cross_provider_example_runs_green_on_three_providers(dep: DistributedDeployment) -> None:
    run_id = run_to_success(dep, dags.CROSS_PROVIDER, timeout=300)

    states = {job["provider"]: job["state"] for job in dep.emulator.jobs()}
    assert states == {"gemini": SUCCEEDED, "openai": "completed", "anthropic": "ended"}
    compared = dep.request(
        "GET", f"/dags/{dags.CROSS_PROVIDER}/dagRuns/{run_id}/taskInstances/compare/xcomEntries/return_value"
    )["value"]
    assert compared["keys"] == compared["answered_by_all"] == 4
