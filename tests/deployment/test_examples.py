"""Issue checks: the example DAGs, unchanged, run green on a distributed deployment (PostgreSQL, Celery with
two workers whose temp directories differ, two triggerers), a submit task and its sensor run on different
workers, and the results land on ``s3://`` (moto's server), read back here with boto3.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from ..airflow_e2e.conftest import wait_until
from . import dags
from .conftest import EXAMPLES_URI, S3_CONN_ID, DistributedDeployment

pytestmark = pytest.mark.airflow_deployment

SUCCEEDED = "BATCH_STATE_SUCCEEDED"


def run_to_success(dep: DistributedDeployment, dag_id: str, timeout: float = 240) -> str:
    dep.ready(dag_id)
    run_id = dep.trigger(dag_id)
    dep.wait_for_run(dag_id, run_id, "success", timeout=timeout)
    return run_id


def s3_object(dep: DistributedDeployment, uri: str) -> bytes:
    """An object a task wrote under the examples' S3 prefix, read straight from the S3 server with boto3."""
    assert uri.startswith(f"{EXAMPLES_URI}/"), uri
    assert dep.s3 is not None
    return bytes(dep.s3.read(uri.replace(f"{S3_CONN_ID}@", "", 1)))


def jsonl_keys(data: bytes) -> list[str]:
    return sorted(json.loads(line)["key"] for line in data.splitlines() if line.strip())


def assert_landed_on_s3(dep: DistributedDeployment, manifest: dict[str, Any], input_uri: str) -> None:
    """results.jsonl holds one row per input key, and manifest.json is the manifest the sensor returned."""
    input_keys = jsonl_keys(s3_object(dep, input_uri))
    assert jsonl_keys(s3_object(dep, manifest["results_uri"])) == input_keys
    assert json.loads(s3_object(dep, manifest["manifest_uri"]))["counts"] == manifest["counts"]
    assert manifest["counts"]["total"] == len(input_keys)


def xcom(dep: DistributedDeployment, dag_id: str, run_id: str, task_id: str) -> Any:
    return dep.request("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value")[
        "value"
    ]


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
    manifest = xcom(dep, dags.NIGHTLY, run_id, "wait_for_results")
    (job,) = [job for job in dep.emulator.jobs() if job["name"] == manifest["job_ref"]["job_name"]]
    assert job["state"] == SUCCEEDED
    assert manifest["counts"]["total"] == manifest["counts"]["succeeded"] == 5
    run_dir = xcom(dep, dags.NIGHTLY, run_id, "export_prompts").removesuffix("/input.jsonl")
    assert manifest["results_uri"] == f"{run_dir}/results/results.jsonl"
    assert_landed_on_s3(dep, manifest, f"{run_dir}/input.jsonl")
    assert xcom(dep, dags.NIGHTLY, run_id, "report") == {"rows": 5, "succeeded": 5}
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
    compared = xcom(dep, dags.CROSS_PROVIDER, run_id, "compare")
    assert compared["keys"] == compared["answered_by_all"] == 4
    input_uri = xcom(dep, dags.CROSS_PROVIDER, run_id, "export_questions")
    for provider in states:
        assert_landed_on_s3(dep, xcom(dep, dags.CROSS_PROVIDER, run_id, f"wait_{provider}"), input_uri)
