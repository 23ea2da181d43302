"""Crashes and restarts against the emulator, with the real hooks, operators, sensor and trigger.

Each test acts out one way a deployment loses a process, the way Airflow would then carry on (a new try
of the same task instance, a triggerer re-creating the trigger from its serialized kwargs, a kill while
deferred, a deadline), and checks what the provider saw: how many jobs exist, whether one was cancelled,
and what landed on storage.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from airflow.sdk.bases.operator import TRIGGER_FAIL_REPR, TriggerFailureReason
from airflow.sdk.exceptions import AirflowSensorTimeout, TaskDeferralTimeout, TaskDeferred
from airflow.sdk.execution_time import task_runner
from airflow.triggers.base import TriggerEvent

from airflow_provider_genai_batch.cancel import CancelOutcome, acancel_job, cancel_job
from airflow_provider_genai_batch.errors import GenAIBatchError, JobFailedError, JobTimeoutError
from airflow_provider_genai_batch.hooks.base import BatchHook
from airflow_provider_genai_batch.hooks.registry import hook_class_for_provider
from airflow_provider_genai_batch.job_ref import JOB_REF_XCOM_KEY
from airflow_provider_genai_batch.landing import RESULTS_FILE
from airflow_provider_genai_batch.mapped_outputs import OUTPUT_DIR_XCOM_KEY
from airflow_provider_genai_batch.models import JobState
from airflow_provider_genai_batch.testing.emulator import EmulatorServer
from tests.unit.pipeline.fakes import FakeSupervisor, FakeTI

from .harness import (
    DAG_ID,
    PROVIDER_CASES,
    ProviderCase,
    TaskRun,
    WorkerDied,
    cancel_requests,
    close_pooled_clients,
    conn_env_var,
    conn_id_for,
    emulated_name,
    job_requests,
    lost_keys,
    manifest,
    partial_files,
    phase_of,
    read_rows,
    rebuild,
    requests_to,
    results_drop,
    resume,
    run_deferred,
    sensor,
    submit_operator,
    wait_until,
    write_input,
)

REPO = Path(__file__).resolve().parents[2]
CANNOT_BE_FOUND = (
    "LIMITATION: Anthropic message batches carry no metadata, and a GenAI gateway keeps no display name, so a "
    "job whose creator died before recording it (no task state store, or a death between create and the state "
    "store write) cannot be found again; the retry is refused, naming it, rather than re-attached to"
)
S3_RESULTS = (
    "Bedrock's results are S3 objects on moto, which the emulator's fault injection does not reach: what holds "
    "is that no emulator fault touches a results read and the landing takes one try"
)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return tmp_path


def submit_once(case: ProviderCase, workdir: Path, run: TaskRun, requests: int = 12) -> dict[str, Any]:
    """One successful try of the submit task; the input has ``case.records(requests)`` lines."""
    input_path = workdir / "input.jsonl"
    if not input_path.exists():
        write_input(input_path, case.records(requests))
    return submit_operator(case, input_path, workdir / "out").execute(run.new_try())


def keys_of(workdir: Path) -> list[str]:
    return [json.loads(line)["key"] for line in (workdir / "input.jsonl").read_text().splitlines()]


# --- the worker dies after the job was created --------------------------------------------------------


class DyingTI(FakeTI):
    """A TI whose worker dies when the job reference is about to go to XCom."""

    def xcom_push(self, key: str, value: Any) -> None:
        if key == JOB_REF_XCOM_KEY:
            raise WorkerDied("the worker died before XCom was written")
        super().xcom_push(key, value)


@contextlib.contextmanager
def dying_after_create(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The worker dies the moment the provider has answered the create: nothing about the job is recorded."""
    original = BatchHook.create_batch

    def create_then_die(self: BatchHook, *args: Any, **kwargs: Any) -> Any:
        original(self, *args, **kwargs)
        raise WorkerDied("the worker died right after the job was created")

    monkeypatch.setattr(BatchHook, "create_batch", create_then_die)
    yield
    monkeypatch.setattr(BatchHook, "create_batch", original)


@pytest.mark.parametrize("use_store", [True, False], ids=["task-state-store", "no-state-store"])
@pytest.mark.parametrize("dies", ["before-xcom", "right-after-create"])
def test_a_retry_after_the_worker_died_reattaches_to_the_job_it_created(
    request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
    emulator: EmulatorServer,
    case: ProviderCase,
    workdir: Path,
    use_store: bool,
    dies: str,
):
    if not case.findable and (not use_store or dies == "right-after-create"):
        request.applymarker(pytest.mark.xfail(strict=True, reason=CANNOT_BE_FOUND))
    run = TaskRun("submit", "manual__crash", map_index=2, use_state_store=use_store)
    input_path = workdir / "input.jsonl"
    keys = write_input(input_path, case.records(12))

    if dies == "before-xcom":
        with pytest.raises(WorkerDied):
            submit_operator(case, input_path, workdir / "out").execute(run.new_try(DyingTI))
    else:
        with dying_after_create(monkeypatch), pytest.raises(WorkerDied):
            submit_operator(case, input_path, workdir / "out").execute(run.new_try())
    [created] = emulator.jobs()
    assert list(run.xcom) == [("submit", 2, OUTPUT_DIR_XCOM_KEY)]  # nothing about the job reached XCom

    ref = submit_operator(case, input_path, workdir / "out").execute(run.new_try())  # try 2, same task instance

    assert emulated_name(ref["job_name"]) == created["name"]
    assert [job["name"] for job in emulator.jobs()] == [created["name"]]  # exactly one job at the provider
    assert len(requests_to(emulator, "POST", case.create_path)) == 1  # the retry never sent a create
    assert emulated_name(run.xcom[("submit", 2, JOB_REF_XCOM_KEY)]["job_name"]) == created["name"]
    wait = TaskRun("wait", "manual__crash", map_index=2)
    result = run_deferred(lambda: sensor(ref, workdir / "out"), wait.new_try())
    assert result["counts"]["succeeded"] == len(keys)
    assert lost_keys(keys, workdir / "out") == []


@pytest.mark.parametrize(
    ("use_store", "dies"),
    [(True, "right-after-create"), (False, "before-xcom"), (False, "right-after-create")],
    ids=["task-state-store-right-after-create", "no-state-store-before-xcom", "no-state-store-right-after-create"],
)
def test_a_retry_after_the_worker_died_whose_job_cannot_be_found_is_refused_naming_it_not_paid_twice(
    monkeypatch: pytest.MonkeyPatch,
    emulator: EmulatorServer,
    keyless_provider: str,
    workdir: Path,
    use_store: bool,
    dies: str,
):
    """The cases the test above marks as the limitation (a store that holds the ref finds it: not here)."""
    case = PROVIDER_CASES[keyless_provider]
    run = TaskRun("submit", "manual__crash", map_index=2, use_state_store=use_store)
    input_path = workdir / "input.jsonl"
    write_input(input_path, case.records(12))
    if dies == "before-xcom":
        with pytest.raises(WorkerDied):
            submit_operator(case, input_path, workdir / "out").execute(run.new_try(DyingTI))
    else:
        with dying_after_create(monkeypatch), pytest.raises(WorkerDied):
            submit_operator(case, input_path, workdir / "out").execute(run.new_try())
    [created] = emulator.jobs()

    with pytest.raises(GenAIBatchError, match="force_resubmit=True") as refused:
        submit_operator(case, input_path, workdir / "out").execute(run.new_try())  # try 2, same task instance

    assert created["name"].rpartition("/")[2] in str(refused.value)
    assert [job["name"] for job in emulator.jobs()] == [created["name"]]  # nothing created again
    assert len(requests_to(emulator, "POST", case.create_path)) == 1


# --- the triggerer restarts mid-poll ------------------------------------------------------------------


async def test_a_triggerer_restart_resumes_polling_and_yields_one_event_without_cancelling(
    emulator: EmulatorServer, case: ProviderCase, workdir: Path
):
    emulator.config(pending_seconds=2.0, running_seconds=0.3)  # long enough to restart while it polls
    ref = submit_once(case, workdir, TaskRun("submit", "manual__restart"))
    wait = TaskRun("wait", "manual__restart")
    context = wait.new_try()
    with pytest.raises(TaskDeferred) as deferred:
        sensor(ref, workdir / "out").execute(context)
    first = rebuild(deferred.value.trigger)
    events: list[TriggerEvent] = []

    async def consume(trigger: Any) -> None:
        async for event in trigger.run():
            events.append(event)

    running = asyncio.create_task(consume(first))
    polled = await asyncio.to_thread(wait_until, lambda: len(job_requests(emulator, ref["job_name"])) >= 3)
    running.cancel()  # the triggerer process stops: its trigger tasks are cancelled, then cleaned up
    with contextlib.suppress(asyncio.CancelledError):
        await running
    await first.cleanup()
    await close_pooled_clients()

    assert polled and events == []
    assert phase_of(emulator, ref["job_name"]) == "PENDING"
    assert cancel_requests(emulator, ref["job_name"]) == []  # a restart must never cancel the job

    restarted = rebuild(first)  # another triggerer picks the trigger up from its stored kwargs
    await consume(restarted)  # runs until the trigger stops by itself
    await restarted.cleanup()
    await close_pooled_clients()

    assert len(events) == 1
    assert events[0].payload["status"] == "terminal"
    assert events[0].payload["state"] == "JOB_STATE_SUCCEEDED"
    assert cancel_requests(emulator, ref["job_name"]) == []
    result = await asyncio.to_thread(resume, sensor(ref, workdir / "out"), context, events[0].payload)
    assert result["counts"]["succeeded"] == case.records(12)
    assert lost_keys(keys_of(workdir), workdir / "out") == []
    assert [job["name"] for job in emulator.jobs()] == [emulated_name(ref["job_name"])]


# --- the sensor dies while it lands the results -------------------------------------------------------


@contextlib.contextmanager
def watched_results(provider: str, output_dir: Path, die_after: int | None = None) -> Iterator[list[int]]:
    """While rows stream, check that any manifest names a complete results file; optionally die mid-way.

    Yields the list of row counts seen at each check, so a test can see the watch really ran.
    """
    hook_class = hook_class_for_provider(provider)
    original = hook_class.iter_results
    checks: list[int] = []

    def check() -> None:
        found = manifest(output_dir)
        if found is not None:
            named = Path(found["results_uri"])
            assert named.name == RESULTS_FILE, f"the manifest names {named.name}"
            assert sum(1 for _ in named.open()) == found["counts"]["total"], "the manifest names a partial file"

    def watching(self: BatchHook, job: Any) -> Iterator[Any]:
        for index, row in enumerate(original(self, job)):
            check()
            checks.append(index)
            if die_after is not None and index == die_after:
                raise WorkerDied("the sensor died while landing the results")
            yield row
        check()

    hook_class.iter_results = watching  # type: ignore[method-assign]
    try:
        yield checks
    finally:
        hook_class.iter_results = original  # type: ignore[method-assign]


def land(ref: dict[str, Any], output_dir: Path, run: TaskRun) -> dict[str, Any]:
    return run_deferred(lambda: sensor(ref, output_dir), run.new_try())


def test_a_sensor_that_dies_mid_landing_leaves_the_earlier_landing_whole_and_its_retry_lands_everything(
    emulator: EmulatorServer, case: ProviderCase, workdir: Path
):
    ref = submit_once(case, workdir, TaskRun("submit", "manual__land"))
    out = workdir / "out"
    land(ref, out, TaskRun("wait", "manual__earlier"))  # an earlier, complete landing (a cleared task re-runs)
    earlier = manifest(out)
    wait = TaskRun("wait", "manual__land")

    with watched_results(case.hook_provider, out, die_after=5) as checks, pytest.raises(WorkerDied):
        land(ref, out, wait)

    assert checks == list(range(6))
    assert manifest(out) == earlier  # it goes only once the new files are whole, as they are renamed into place
    assert partial_files(out) == []
    assert len(read_rows(out)) == case.records(12)  # the earlier results file is untouched until the new one is whole

    with watched_results(case.hook_provider, out) as checks:
        result = land(ref, out, wait)

    total = case.records(12)
    assert len(checks) >= total
    assert result["counts"] == {**result["counts"], "total": total, "succeeded": total}
    assert manifest(out) == result and result["written_at"] != earlier["written_at"]
    assert Path(result["results_uri"]) == out / RESULTS_FILE
    assert lost_keys(keys_of(workdir), out) == []
    assert partial_files(out) == []


def test_a_sensor_whose_download_keeps_dropping_fails_cleanly_and_its_retry_lands_everything(
    emulator: EmulatorServer, case: ProviderCase, workdir: Path
):
    ref = submit_once(case, workdir, TaskRun("submit", "manual__drop"), requests=40)
    out = workdir / "out"
    assert wait_until(lambda: phase_of(emulator, ref["job_name"]) == "SUCCEEDED")
    drops = results_drop(case)
    wait = TaskRun("wait", "manual__drop")
    if drops is None:  # Bedrock: see S3_RESULTS
        emulator.config(faults={"download_drop_rate": 1.0})
        result = land(ref, out, wait)
        assert emulator.faults()["counts"]["download_drop"] == 0, S3_RESULTS
        assert wait.tries == 1
        assert result["counts"]["succeeded"] == case.records(40)
        assert lost_keys(keys_of(workdir), out) == []
        return
    faults, kind = drops
    emulator.config(faults=faults)  # every download (or results page), and every resume, is cut

    with watched_results(case.hook_provider, out), pytest.raises(Exception) as failed:
        land(ref, out, wait)

    assert isinstance(failed.value, httpx.TransportError)  # the dropped connection, after the resumes gave up
    assert emulator.faults()["counts"][kind] >= 2  # it did resume (or re-read) before giving up
    assert manifest(out) is None
    assert partial_files(out) == []
    assert not (out / RESULTS_FILE).exists()

    emulator.config(faults={})
    with watched_results(case.hook_provider, out):
        result = land(ref, out, wait)

    assert wait.tries == 2
    assert result["counts"]["succeeded"] == case.records(40)
    assert lost_keys(keys_of(workdir), out) == []
    assert partial_files(out) == []


KILL_SCRIPT = """
import json, pathlib, sys, time
from airflow_provider_genai_batch.hooks.registry import hook_class_for_provider
from tests.reliability import harness

ref, out = json.loads(sys.argv[1]), pathlib.Path(sys.argv[2])
hook_class = hook_class_for_provider(ref["provider"])
original = hook_class.iter_results

def stalling(self, job):
    for index, row in enumerate(original(self, job)):
        if index == 5:
            print("LANDING", flush=True)
            time.sleep(600)
        yield row

hook_class.iter_results = stalling
harness.sensor(ref, out).execute(harness.TaskRun("wait", "manual__sigkill").new_try())
"""


@pytest.fixture(scope="module")
def killed_landing(emulator: EmulatorServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A sensor process SIGKILLed in the middle of landing results over an earlier landing, then retried."""
    case = PROVIDER_CASES["gemini"]
    workdir = tmp_path_factory.mktemp("killed")
    env_var = conn_env_var(conn_id_for(case.provider))
    previous = os.environ.get(env_var)
    os.environ[env_var] = case.connection(emulator.base_url)
    emulator.reset()
    try:
        ref = submit_once(case, workdir, TaskRun("submit", "manual__sigkill"))
        out = workdir / "out"
        earlier = land(ref, out, TaskRun("wait", "manual__earlier"))
        stderr = (workdir / "sensor.stderr").open("w")
        process = subprocess.Popen(
            [sys.executable, "-c", KILL_SCRIPT, json.dumps(ref), str(out)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        reached = False
        deadline = time.monotonic() + 120
        while not reached and time.monotonic() < deadline:  # task logs go to stdout too: look for the marker
            ready, _, _ = select.select([process.stdout], [], [], 1.0)
            line = process.stdout.readline() if ready else ""  # type: ignore[union-attr]
            reached = line.strip() == "LANDING"
            if ready and not line:
                break  # the process ended without reaching the landing
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        stderr.close()
        after_kill = {"manifest": manifest(out), "partials": partial_files(out), "rows": len(read_rows(out))}
        result = land(ref, out, TaskRun("wait", "manual__sigkill", tries=1))
        return {
            "landing_reached": reached,
            "stderr": (workdir / "sensor.stderr").read_text()[-3000:],
            "earlier": earlier,
            "after_kill": after_kill,
            "result": result,
            "lost": lost_keys(keys_of(workdir), out),
            "partials_after_retry": partial_files(out),
        }
    finally:
        if previous is None:
            os.environ.pop(env_var, None)
        else:
            os.environ[env_var] = previous


def test_a_sensor_killed_mid_landing_never_leaves_a_manifest_naming_a_partial_file(killed_landing: dict[str, Any]):
    assert killed_landing["landing_reached"], killed_landing["stderr"]
    assert killed_landing["after_kill"]["manifest"] == killed_landing["earlier"]  # naming the earlier, whole file
    assert killed_landing["after_kill"]["rows"] == 12  # results.jsonl is still the earlier, whole file
    result = killed_landing["result"]
    assert Path(result["results_uri"]).name == RESULTS_FILE
    assert result["counts"]["succeeded"] == 12
    assert killed_landing["lost"] == []


def test_a_sensor_killed_mid_landing_leaves_no_partial_file_once_retried(killed_landing: dict[str, Any]):
    assert killed_landing["after_kill"]["partials"] != []  # the kill did leave one
    assert killed_landing["partials_after_retry"] == []


# --- the task is killed while deferred ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("cancel_on_kill", "user_action", "cancelled"),
    [(True, "failed", True), (True, "success", True), (False, "failed", False), (True, None, False)],
    ids=["marked-failed", "marked-success", "marked-failed-no-cancel_on_kill", "cleared"],
)
async def test_the_trigger_on_kill_cancels_the_job_only_for_a_task_a_user_ended(
    monkeypatch: pytest.MonkeyPatch,
    emulator: EmulatorServer,
    case: ProviderCase,
    workdir: Path,
    cancel_on_kill: bool,
    user_action: str | None,
    cancelled: bool,
):
    emulator.config(job_outcome="stuck")
    ref = submit_once(case, workdir, TaskRun("submit", "manual__kill"))
    with pytest.raises(TaskDeferred) as deferred:
        sensor(ref, workdir / "out", cancel_on_kill=cancel_on_kill).execute(TaskRun("wait", "manual__kill").new_try())
    trigger = rebuild(deferred.value.trigger)
    trigger.task_instance = SimpleNamespace(dag_id=DAG_ID, run_id="manual__kill", task_id="wait", map_index=-1)
    supervisor = FakeSupervisor()  # what the triggerer's supervisor answers: the state the user left the task in
    supervisor.task_states = {"manual__kill": {"wait": user_action}}
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", supervisor, raising=False)
    events: list[TriggerEvent] = []

    async def consume() -> None:
        async for event in trigger.run():
            events.append(event)

    running = asyncio.create_task(consume())
    assert await asyncio.to_thread(wait_until, lambda: len(job_requests(emulator, ref["job_name"])) >= 2)
    # The user acts on the deferred task: the triggerer cancels the trigger, then on_kill, then cleanup.
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
    await trigger.on_kill()
    await trigger.cleanup()
    await close_pooled_clients()

    assert events == []
    if cancelled:
        assert len(cancel_requests(emulator, ref["job_name"])) == 1
        assert await asyncio.to_thread(wait_until, lambda: phase_of(emulator, ref["job_name"]) == "CANCELLED")
    else:
        assert cancel_requests(emulator, ref["job_name"]) == []
        assert phase_of(emulator, ref["job_name"]) == "PENDING"


ACCEPTS_CANCEL_OF_A_CANCELLED_JOB = frozenset({"anthropic"})
"""Anthropic answers a cancel of a batch that ended cancelled with the batch; the others refuse it."""


async def test_cancelling_a_job_already_cancelled_is_a_success_sync_and_async(
    emulator: EmulatorServer, case: ProviderCase, workdir: Path
):
    emulator.config(job_outcome="stuck")
    ref = submit_once(case, workdir, TaskRun("submit", "manual__cancel-twice"))
    hook = hook_class_for_provider(ref["provider"])(conn_id=ref["conn_id"])
    assert cancel_job(hook, ref["job_name"]).requested

    def cancelled() -> bool:  # as the provider reports it (the emulator's phase can run ahead of its wire state)
        return hook.get_batch(ref["job_name"]).state is JobState.CANCELLED

    assert await asyncio.to_thread(wait_until, cancelled)

    # A cancel sent again (its first answer was lost, or a timeout follows a kill) must not fail the task.
    again = cancel_job(hook, ref["job_name"])
    from_a_trigger = await acancel_job(hook, ref["job_name"])
    await close_pooled_clients()

    if case.provider in ACCEPTS_CANCEL_OF_A_CANCELLED_JOB:
        assert again.requested and from_a_trigger.requested
    else:
        assert again == from_a_trigger == CancelOutcome(ref["job_name"], JobState.CANCELLED)
    assert len(cancel_requests(emulator, ref["job_name"])) == 3


# --- the deadline passes ------------------------------------------------------------------------------


def waiting_task(kind: str, case: ProviderCase, workdir: Path, ref: dict[str, Any] | None, **kwargs: Any) -> Any:
    """The task that waits: the results sensor (deferred), or the submit operator waiting for completion."""
    if kind == "sensor":
        assert ref is not None
        return sensor(ref, workdir / "out", **kwargs)
    return submit_operator(
        case,
        workdir / "input.jsonl",
        workdir / "out",
        wait_for_completion=True,
        deferrable=kind == "submit-deferred",
        poll_interval=0.1,
        **kwargs,
    )


@pytest.mark.parametrize("kind", ["sensor", "submit-deferred", "submit-polling"])
@pytest.mark.parametrize("cancel_on_timeout", [True, False])
def test_a_passed_deadline_fails_the_task_and_cancels_the_job_only_when_asked_to(
    emulator: EmulatorServer, case: ProviderCase, workdir: Path, kind: str, cancel_on_timeout: bool
):
    emulator.config(job_outcome="stuck")
    write_input(workdir / "input.jsonl", case.records(12))
    ref = submit_once(case, workdir, TaskRun("submit", "manual__deadline")) if kind == "sensor" else None
    run = TaskRun("wait" if kind == "sensor" else "submit-and-wait", "manual__deadline")
    timeout = {"job_timeout": timedelta(seconds=0.5), "cancel_on_timeout": cancel_on_timeout}

    with pytest.raises(JobTimeoutError) as timed_out:
        run_deferred(lambda: waiting_task(kind, case, workdir, ref, **timeout), run.new_try())

    [job] = emulator.jobs()
    message = str(timed_out.value)
    reported = re.search(rf"{case.hook_provider} job (\S+) did not finish within 0:00:00\.500000", message)
    assert reported is not None and emulated_name(reported[1]) == job["name"]
    if cancel_on_timeout:
        assert message.endswith("the job was cancelled (cancel_on_timeout=True)")
        assert len(cancel_requests(emulator, job["name"])) == 1
        assert wait_until(lambda: phase_of(emulator, job["name"]) == "CANCELLED")
    else:
        assert "cancelled" not in message
        assert cancel_requests(emulator, job["name"]) == []
        assert phase_of(emulator, job["name"]) == "PENDING"  # left running


def test_a_timeout_for_a_job_that_finished_before_its_cancel_lands_the_results(
    emulator: EmulatorServer, case: ProviderCase, workdir: Path
):
    """The trigger's last poll saw the job running and its deadline passed; by the time the task resumed on a worker
    and sent the cancel, the job had finished: the provider refuses the cancel, and the results are landed."""
    ref = submit_once(case, workdir, TaskRun("submit", "manual__late"))
    assert wait_until(lambda: phase_of(emulator, ref["job_name"]) == "SUCCEEDED")
    event = {"status": "timeout", "job_ref": ref, "message": f"{ref['job_name']} did not finish before its deadline"}

    landed = sensor(ref, workdir / "out", cancel_on_timeout=True).execute_complete(
        TaskRun("wait", "manual__late").new_try(), event=event
    )

    assert len(cancel_requests(emulator, ref["job_name"])) == 1
    assert landed["counts"]["succeeded"] == len(keys_of(workdir))
    assert lost_keys(keys_of(workdir), workdir / "out") == []


def test_a_polling_sensor_honours_its_job_timeout(emulator: EmulatorServer, workdir: Path):
    case = PROVIDER_CASES["gemini"]
    emulator.config(job_outcome="stuck")
    ref = submit_once(case, workdir, TaskRun("submit", "manual__poke"))
    waiting = sensor(ref, workdir / "out", deferrable=False, job_timeout=timedelta(seconds=0.5), timeout=2)

    with pytest.raises(JobTimeoutError):
        waiting.execute(TaskRun("wait", "manual__poke").new_try())


def test_airflow_s_own_deferral_timeout_cancels_the_job_too(
    emulator: EmulatorServer, case: ProviderCase, workdir: Path
):
    emulator.config(job_outcome="stuck")
    ref = submit_once(case, workdir, TaskRun("submit", "manual__backstop"))
    wait = TaskRun("wait", "manual__backstop")
    context = wait.new_try()
    with pytest.raises(TaskDeferred):
        sensor(ref, workdir / "out").execute(context)

    # The scheduler's trigger timeout fired first: the task resumes on a fresh instance with __fail__.
    with pytest.raises((TaskDeferralTimeout, AirflowSensorTimeout)):
        sensor(ref, workdir / "out").resume_execution(
            TRIGGER_FAIL_REPR, {"error": TriggerFailureReason.TRIGGER_TIMEOUT}, context
        )

    assert len(cancel_requests(emulator, ref["job_name"])) == 1
    assert wait_until(lambda: phase_of(emulator, ref["job_name"]) == "CANCELLED")


# --- jobs that end badly ------------------------------------------------------------------------------


@pytest.mark.parametrize("outcome", ["fail_rows", "expire"])
def test_a_job_that_ends_badly_fails_the_task_with_its_results_landed(
    emulator: EmulatorServer, case: ProviderCase, workdir: Path, outcome: str
):
    emulator.config(job_outcome=outcome)
    ref = submit_once(case, workdir, TaskRun("submit", f"manual__{outcome}"))

    with pytest.raises(JobFailedError) as failed:
        run_deferred(lambda: sensor(ref, workdir / "out"), TaskRun("wait", f"manual__{outcome}").new_try())

    landed = manifest(workdir / "out")
    total = case.records(12)
    assert landed is not None and landed["counts"]["total"] == total
    assert partial_files(workdir / "out") == []
    assert ref["job_name"] in str(failed.value)
    if outcome == "fail_rows":  # Anthropic judges an all-errored batch FAILED, the others SUCCEEDED with bad rows
        assert landed["state"] in ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED")
        assert landed["counts"]["failed"] == total
    else:  # Gemini reports the job EXPIRED; OpenAI and Anthropic deliver what ran before the window lapsed
        assert landed["counts"]["expired"] > 0
        assert landed["counts"]["succeeded"] + landed["counts"]["expired"] == total
