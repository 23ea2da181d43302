"""Issue check: with two triggerers, SIGKILLing the one that holds ten deferred sensors hands every trigger to
the other, which lands each sensor's results from the job its submit created: exactly one job per sensor.

The recovery times (kill -> every trigger reassigned, kill -> every job polled again, kill -> every sensor
succeeded) are printed for the README.
"""

from __future__ import annotations

import os
import signal
import time
from datetime import datetime
from typing import Any

import pytest

from ..airflow_e2e.conftest import wait_until
from ..airflow_e2e.test_clear_and_rerun import write_input
from . import dags
from .conftest import TRIGGERER_HEALTH_CHECK_THRESHOLD, TRIGGERERS, DistributedDeployment, announce

pytestmark = pytest.mark.airflow_deployment

WAIT = "wait"
SUCCEEDED = "BATCH_STATE_SUCCEEDED"
PENDING_SECONDS = 45
"""Long enough that every job is still pending when the triggerer dies, wherever the test is on a slow host."""
HELD_TRIGGERS = """
    SELECT job.hostname, count(*)
    FROM task_instance ti JOIN trigger t ON ti.trigger_id = t.id LEFT JOIN job ON t.triggerer_id = job.id
    WHERE ti.dag_id LIKE 'deploy_takeover_%%' GROUP BY job.hostname
"""


def holders(dep: DistributedDeployment) -> dict[str | None, int]:
    """How many of the ten sensors' triggers each triggerer holds (None: not assigned to a live one yet)."""
    return {None if host is None else str(host): int(str(count)) for host, count in dep.query(HELD_TRIGGERS)}


def all_held(dep: DistributedDeployment, count: int) -> dict[str, int] | None:
    """Who holds the sensors' triggers, once all ``count`` are held by a live triggerer; else None."""
    now = holders(dep)
    if None in now or sum(now.values()) != count:
        return None
    return {str(host): held for host, held in now.items()}


def sensor_manifest(dep: DistributedDeployment, dag_id: str, run_id: str) -> dict[str, Any]:
    path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{WAIT}/xcomEntries/return_value"
    manifest: dict[str, Any] = dep.request("GET", path)["value"]
    return manifest


def polls(dep: DistributedDeployment, job_name: str) -> list[dict[str, Any]]:
    return [r for r in dep.emulator.requests() if r["method"] == "GET" and r["path"].endswith(job_name)]


def test_killing_a_triggerer_hands_its_deferred_sensors_to_the_other_with_one_job_each(
    dep: DistributedDeployment, pytestconfig: pytest.Config
) -> None:
    dep.emulator.config(pending_seconds=PENDING_SECONDS, running_seconds=0.5, job_outcome="succeed")
    for pipeline in dags.TAKEOVER:
        write_input(pipeline.input_path(dep.inputs_dir), [f"{pipeline.dag_id}-k{i}" for i in range(3)])
        dep.ready(pipeline.dag_id)
    runs = {pipeline.dag_id: dep.trigger(pipeline.dag_id) for pipeline in dags.TAKEOVER}
    for dag_id, run_id in runs.items():
        dep.wait_for_state(dag_id, run_id, WAIT, "deferred", timeout=180)
    jobs = {dag_id: dep.jobs_of(dag_id) for dag_id in runs}
    assert all(len(found) == 1 for found in jobs.values()), jobs
    held = wait_until(lambda: all_held(dep, len(runs)), 60, "every sensor's trigger to be held by a triggerer")
    names = [job["name"] for (job,) in jobs.values()]
    for name in names:
        wait_until(lambda name=name: len(polls(dep, name)) >= 2, 60, f"a triggerer to poll {name}")
    assert {job["state"] for (job,) in jobs.values()} == {"BATCH_STATE_PENDING"}, "jobs ended before the kill"

    victim = max(held, key=lambda host: held[host])
    assert victim in TRIGGERERS, held
    (survivor,) = set(TRIGGERERS) - {victim}
    killed_at, killed_clock = time.time(), time.monotonic()
    killed = dep.processes.pop(victim)  # no longer one of the components that must stay alive
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait()
    try:
        wait_until(
            lambda: holders(dep) == {survivor: len(runs)},
            TRIGGERER_HEALTH_CHECK_THRESHOLD + 90,
            f"{survivor} to take over every trigger {victim} held",
        )
        reassigned = time.monotonic() - killed_clock

        def polled_again(job_name: str) -> float | None:
            after = [
                stamp
                for r in polls(dep, job_name)
                if (stamp := datetime.fromisoformat(r["time"]).timestamp()) > killed_at
            ]
            return min(after) - killed_at if after else None

        repolled = max(
            wait_until(lambda name=name: polled_again(name), 120, f"{name} to be polled again") for name in names
        )
        for dag_id, run_id in runs.items():
            dep.wait_for_state(dag_id, run_id, WAIT, "success", timeout=PENDING_SECONDS + 120)
        landed = time.monotonic() - killed_clock
    finally:
        dep.start(victim)  # the next tests find both triggerers again

    for pipeline in dags.TAKEOVER:
        (job,) = dep.jobs_of(pipeline.dag_id)
        assert job["name"] == jobs[pipeline.dag_id][0]["name"]
        assert job["state"] == SUCCEEDED
        manifest = sensor_manifest(dep, pipeline.dag_id, runs[pipeline.dag_id])
        assert manifest["job_ref"]["job_name"] == job["name"]
        assert manifest["counts"]["total"] == manifest["counts"]["succeeded"] == 3
    announce(
        pytestconfig,
        f"\ntriggerer takeover: {len(runs)} deferred sensors, {len(runs)} jobs, {3 * len(runs)} results; "
        f"{victim} SIGKILLed holding {held[victim]} triggers; {survivor} held them all {reassigned:.1f} s later "
        f"(health check threshold {TRIGGERER_HEALTH_CHECK_THRESHOLD} s), polled every job again within "
        f"{repolled:.1f} s; every sensor succeeded {landed:.1f} s after the kill "
        f"(jobs pending {PENDING_SECONDS} s from submission)",
    )
