"""Seeded, randomized scenarios ("chaos") against the emulator, with the real submit operator and trigger.

Each seed draws, for one provider case of the harness, a scenario: the input's size and how it is cut
(``max_requests_per_job``, ``max_concurrent_jobs``), follow-up rounds (``retry_failed_rows``), emulator faults
(429/5xx, answers lost after the provider acted, cut uploads and downloads, latency), how jobs end, worker
deaths (right after a create, before the job ref reaches XCom, while results land), triggerer restarts (the
trigger rebuilt from its serialized kwargs mid-poll) and what the user does between tries (a retry, a clear
with or without the task state store, a clear after the task succeeded, a clear after ``retry_failed_rows`` was
turned off). Once the task has succeeded, or
failed for a documented reason (a job whose rows failed or that expired, ``JobFailedError``), what the
provider saw and what landed is checked: no (idempotency key, fingerprint) paid twice, every input key once
in ``results.jsonl`` in input order, manifest counts adding up, no partial file, no manifest naming a missing
file, and the API key nowhere in logs, exceptions or landed files.

The default run is a fixed list of seeds; ``GENAI_BATCH_CHAOS_SEEDS=500`` runs seeds 0-499 (``=500-1000``
seeds 500-999), and
``GENAI_BATCH_CHAOS_SEED=17`` replays seed 17 alone. Scenarios a documented limitation rules out are not
drawn: Anthropic and a gateway cannot find a job by key, so they get no lost create answer, no death right
after a create and no clear without the task state store; Anthropic's parts go inline and cannot wait for a
slot, so it gets no ``max_concurrent_jobs``.

A second test plays the same seeds for Anthropic and the gateway without a task state store (Airflow before 3.3,
from the first try or from a clear on, or a store emptied on success): there a retry re-attaches through the landed
manifest, or refuses to create when an earlier try may have made a job it cannot find (keyless_jobs.py). Where
retries alone follow the first run, it also draws worker deaths right after a create, for a part of a split input
or a follow-up round too, where only the mark the try stored before that create shows the job. Its scenarios are
drawn apart, so the first test's seeds keep theirs; it checks the same, and takes a refusal that names the job for a
documented end.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import random
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk.exceptions import TaskDeferred
from airflow.triggers.base import BaseTrigger

from airflow_provider_genai_batch.errors import GenAIBatchError, JobFailedError
from airflow_provider_genai_batch.hooks.base import BatchHook
from airflow_provider_genai_batch.hooks.registry import get_hook, hook_class_for_provider
from airflow_provider_genai_batch.job_ref import JOB_REF_XCOM_KEY
from airflow_provider_genai_batch.landing import RESULTS_FILE
from airflow_provider_genai_batch.models import JobState
from airflow_provider_genai_batch.spec import BatchSpec
from airflow_provider_genai_batch.testing.emulator import EmulatorServer
from airflow_provider_genai_batch.testing.emulator.responses import ANSWER_PREFIX as ANSWER
from tests.unit.pipeline.fakes import DictStateStore, FakeTI

from .harness import (
    API_KEY,
    PROVIDER_CASES,
    TaskRun,
    WorkerDied,
    close_pooled_clients,
    conn_id_for,
    emulated_name,
    emulated_providers,
    manifest,
    read_rows,
    rebuild,
    submit_operator,
    write_input,
)

DEFAULT_SEEDS = tuple(range(12))
TRIES = 6
"""Tries of the task per user action, as Airflow's retries would give it."""
BAD_ENDS = frozenset({JobState.FAILED, JobState.EXPIRED, JobState.CANCELLED})
"""How a job may have ended for a second one to be made for the same key and fingerprint."""
DEATHS = ("right-after-create", "before-xcom", "while-landing")
ACTIONS = (
    "retry",
    "clear",
    "clear-without-store",
    "clear-emptied-store",
    "clear-fewer-rounds",
    "clear-more-rounds",
    "edit-clear",
    "reorder-clear",
    "revert-clear",
)
UNFINDABLE_ACTIONS = ("retry", "clear", "clear-fewer-rounds", "clear-more-rounds", "edit-clear", "reorder-clear")
"""What a user does where jobs cannot be found by key: no clear without the task state store, and no edit undone
(the job made for the content before the edit is found again by key alone)."""
EDITS = frozenset({"edit-clear", "reorder-clear", "revert-clear"})
"""Actions that change the input before the clear: jobs made before are no longer all landed, as documented."""


def chaos_seeds() -> list[int]:
    """The seeds this run plays: one to replay, a count to run, or the default list."""
    if (one := os.environ.get("GENAI_BATCH_CHAOS_SEED")) is not None:
        return [int(one)]
    if (count := os.environ.get("GENAI_BATCH_CHAOS_SEEDS")) is not None:
        first, _, last = count.rpartition("-")
        return list(range(int(first or 0), int(last)))
    return list(DEFAULT_SEEDS)


# --- the scenario -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """Everything one seed decides, printed with a failure so it can be read and replayed."""

    seed: int
    provider: str
    requests: int
    max_requests_per_job: int | None
    max_concurrent_jobs: int | None
    retry_failed_rows: int
    faults: dict[str, Any]
    outcome: str
    outcome_jobs: int
    """How many creates the outcome holds for; later jobs succeed (a provider that recovered)."""
    deaths: tuple[tuple[int, str, int], ...]
    """(try, where the worker dies, at which create or landed row)."""
    restarts: tuple[int, ...]
    """Tries whose first deferral's trigger is stopped mid-poll and rebuilt from its serialized kwargs."""
    use_state_store: bool
    actions: tuple[str, ...]
    """What the user does after the task first succeeded (or failed for good): each starts a new round of tries."""

    @property
    def replay(self) -> str:
        return f"GENAI_BATCH_CHAOS_SEED={self.seed} pytest -p no:cacheprovider tests/reliability/test_chaos.py"

    def describe(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def draw(seed: int, providers: list[str]) -> Scenario:
    """The scenario of ``seed``: the same providers give the same scenario on every machine."""
    rng = random.Random(seed)
    case = PROVIDER_CASES[rng.choice(providers)]
    findable = case.findable
    base = rng.randint(4, 30)
    requests = case.records(base) if case.min_records == 1 else rng.randint(100, 260)
    max_per_job = None
    if rng.random() < 0.4:  # every part must hold the provider's minimum (Bedrock: 100 records)
        parts = rng.randint(2, max(2, requests // case.min_records)) if requests >= 2 * case.min_records else 1
        max_per_job = -(-requests // parts) if case.min_records > 1 else rng.randint(2, requests // 2 + 1)
    max_concurrent = None
    if max_per_job is not None and case.provider != "anthropic" and rng.random() < 0.5:
        max_concurrent = rng.randint(1, 2)
    retry_rows = 1 if rng.random() < 0.3 else 0
    faults: dict[str, Any] = {"seed": rng.randint(0, 10_000)}
    if rng.random() < 0.6:
        faults.update(error_rate=rng.choice([0.05, 0.1, 0.2]), error_statuses=[429, 500, 503])
    if findable and rng.random() < 0.4:
        faults.update(lost_rate=rng.choice([0.05, 0.1]), lost_mode="mixed")
    if rng.random() < 0.3:
        faults.update(upload_drop_rate=0.2)
    if rng.random() < 0.3:
        faults.update(download_drop_rate=0.2)
    if rng.random() < 0.3:
        faults.update(slow_rate=0.1, latency_seconds=0.05)
    outcome = rng.choices(["succeed", "fail_rows", "expire"], weights=[6, 2, 2])[0]
    outcome_jobs = rng.randint(1, 2)
    deaths: list[tuple[int, str, int]] = []
    for attempt in range(1, 4):
        if rng.random() < 0.3:
            where = rng.choice(DEATHS if findable else DEATHS[1:])
            deaths.append((attempt, where, rng.randint(0, 3) if where != "while-landing" else rng.randint(0, 5)))
    restarts = tuple(attempt for attempt in range(1, 4) if rng.random() < 0.3)
    use_store = True if not findable else rng.random() < 0.7
    choices = ACTIONS if findable else UNFINDABLE_ACTIONS
    actions = tuple(rng.choice(choices) for _ in range(rng.choice([0, 0, 1, 2])))
    return Scenario(
        seed=seed,
        provider=case.provider,
        requests=requests,
        max_requests_per_job=max_per_job,
        max_concurrent_jobs=max_concurrent,
        retry_failed_rows=retry_rows,
        faults=faults,
        outcome=outcome,
        outcome_jobs=outcome_jobs,
        deaths=tuple(deaths),
        restarts=restarts,
        use_state_store=use_store,
        actions=actions,
    )


STOREFREE_ACTIONS = frozenset({"clear-without-store", "clear-emptied-store"})
"""Clears after which the task state store names no job an earlier try made."""
STORELESS = ("from-the-first-try", "clear-without-store", "clear-emptied-store")
"""How a task to a provider without look-up by key comes to have no task state store (or an emptied one)."""
REFUSED = "Not creating another job, which could pay for the same requests twice"
"""What a try refused for a job an earlier try may have made, and nothing names, says."""


def draw_keyless(seed: int, providers: list[str]) -> Scenario:
    """The scenario of ``seed`` for a provider without look-up by key (Anthropic, a gateway) and without a task state
    store from some point on (the rest as :func:`draw` draws it for such a provider); drawn apart from :func:`draw`.

    Where the user does nothing after the task first ends (its retries alone follow), tries that :func:`draw` lets
    live may also die right after a create (of the input's job, a part's or a follow-up round's), before anything
    names the job: the mark stored before the create is what a later try finds it by. A clear with no task state
    store wipes that mark with the task's XCom (a documented limit), so no such death comes before one.
    """
    keyless = [name for name in providers if not PROVIDER_CASES[name].findable]
    scenario = draw(seed, keyless)
    rng = random.Random(seed * 15_485_863 + 3)
    storeless = rng.choice(STORELESS)
    actions = [rng.choice(UNFINDABLE_ACTIONS) for _ in range(rng.choice([0, 1, 2]))]
    if storeless != "from-the-first-try":
        actions.insert(rng.randint(0, len(actions)), storeless)
    dying = {attempt for attempt, _, _ in scenario.deaths}
    deaths = [*scenario.deaths]
    for attempt in range(1, 4):
        if rng.random() < 0.3 and attempt not in dying and not actions:
            deaths.append((attempt, "right-after-create", rng.randint(0, 3)))
    return dataclasses.replace(
        scenario,
        deaths=tuple(sorted(deaths)),
        use_state_store=storeless != "from-the-first-try",
        actions=tuple(actions),
    )


# --- acting it out ------------------------------------------------------------------------------------


@dataclass
class Observed:
    """What the play saw: every create the hooks made, every error a try raised."""

    creates: list[tuple[str | None, str | None, str | None, str]] = field(default_factory=list)
    """(idempotency key, fingerprint, the job it replaces, the job made) per create that returned."""
    before_edit: set[str] = field(default_factory=set)
    """The jobs made before the input was last edited (their rows may no longer be the input's)."""
    errors: list[BaseException] = field(default_factory=list)
    outcome: Any = None
    landed: list[tuple[str, str]] | None = None
    """The input's (key, question text) lines as they were when a try last landed results (None before any did)."""


class DyingTI(FakeTI):
    """A TI whose worker dies when the job ref is about to go to XCom (armed for one push)."""

    armed = False

    def xcom_push(self, key: str, value: Any) -> None:
        if key == JOB_REF_XCOM_KEY and DyingTI.armed:
            DyingTI.armed = False
            raise WorkerDied("the worker died before XCom was written")
        super().xcom_push(key, value)


@contextlib.contextmanager
def instrumented(scenario: Scenario, emulator: EmulatorServer, observed: Observed) -> Iterator[dict[str, Any]]:
    """Record every create, switch the job outcome off after ``outcome_jobs`` creates, and act out armed deaths.

    Yields the arming switches: ``after_create`` (the create count at which the worker dies) and ``landing``
    (the row at which it dies while landing).
    """
    armed: dict[str, Any] = {"after_create": None, "landing": None}
    original_create = BatchHook.create_batch
    case = PROVIDER_CASES[scenario.provider]
    hook_class = hook_class_for_provider(case.hook_provider)
    original_rows = hook_class.iter_results

    def create(hook: BatchHook, spec: BatchSpec) -> Any:
        job = original_create(hook, spec)
        observed.creates.append((spec.idempotency_key, spec.input_fingerprint, spec.replaces, job.name))
        if len(observed.creates) == scenario.outcome_jobs:
            emulator.config(job_outcome="succeed")
        if armed["after_create"] is not None:
            if armed["after_create"] <= 0:
                armed["after_create"] = None
                raise WorkerDied("the worker died right after the job was created")
            armed["after_create"] -= 1
        return job

    def rows(hook: BatchHook, job: Any) -> Iterator[Any]:
        for index, row in enumerate(original_rows(hook, job)):
            if armed["landing"] is not None and index == armed["landing"]:
                armed["landing"] = None
                raise WorkerDied("the worker died while landing the results")
            yield row

    BatchHook.create_batch = create  # type: ignore[method-assign]
    hook_class.iter_results = rows  # type: ignore[method-assign]
    try:
        yield armed
    finally:
        BatchHook.create_batch = original_create  # type: ignore[method-assign]
        hook_class.iter_results = original_rows  # type: ignore[method-assign]


async def event_of(trigger: BaseTrigger, restart_after: float | None) -> dict[str, Any]:
    """Run a trigger to its first event; with ``restart_after``, stop it that soon and run a rebuilt one."""
    try:
        if restart_after is not None:
            events = trigger.run()
            try:
                return (await asyncio.wait_for(anext(events), restart_after)).payload
            except TimeoutError:
                pass
            finally:
                await events.aclose()
                await trigger.cleanup()
                await close_pooled_clients()
            trigger = rebuild(trigger)
        events = trigger.run()
        try:
            return (await asyncio.wait_for(anext(events), 120)).payload
        finally:
            await events.aclose()
            await trigger.cleanup()
    finally:
        await close_pooled_clients()


def one_try(make: Callable[[], Any], context: dict[str, Any], restart_after: float | None) -> Any:
    """One try of the task, every deferral acted out as a triggerer and a resuming worker would."""
    try:
        return make().execute(context)
    except TaskDeferred as deferred:
        pending = deferred
    while True:
        trigger = rebuild(pending.trigger)
        event = asyncio.run(event_of(trigger, restart_after))
        restart_after = None
        try:
            return make().resume_execution(pending.method_name, {**(pending.kwargs or {}), "event": event}, context)
        except TaskDeferred as deferred:
            pending = deferred


def write_lines(path: Path, lines: list[tuple[str, str]]) -> None:
    """The input as (key, question text) lines, in order."""
    with path.open("w") as sink:
        for key, text in lines:
            sink.write(json.dumps({"key": key, "request": {"contents": [{"role": "user", "parts": [{"text": text}]}]}}))
            sink.write("\n")


def edited(action: str, lines: list[tuple[str, str]], original: list[tuple[str, str]], rng: random.Random) -> None:
    """Change ``lines`` as a user who does ``action`` changes the input: one line's text, two lines swapped, or
    every change undone."""
    if action == "edit-clear":
        at = rng.randrange(len(lines))
        key, text = lines[at]
        lines[at] = (key, f"{text} edited {rng.randint(0, 10**6)}")
    elif action == "reorder-clear":
        first, second = rng.sample(range(len(lines)), 2)
        lines[first], lines[second] = lines[second], lines[first]
    else:
        lines[:] = original


def play(scenario: Scenario, emulator: EmulatorServer, workdir: Path, observed: Observed) -> list[tuple[str, str]]:
    """Act the scenario out; returns the input's (key, question text) lines in order, as it last was."""
    case = PROVIDER_CASES[scenario.provider]
    input_path, out = workdir / "input.jsonl", workdir / "out"
    keys = write_input(input_path, scenario.requests)
    original = [(key, f"question {index}") for index, key in enumerate(keys)]
    lines = list(original)
    edits = random.Random(scenario.seed * 104_729 + 1)
    emulator.config(job_outcome=scenario.outcome, faults=scenario.faults)
    run = TaskRun("submit", f"manual__chaos-{scenario.seed}", use_state_store=scenario.use_state_store)
    deaths = {attempt: (where, at) for attempt, where, at in scenario.deaths}
    rng = random.Random(scenario.seed * 7919)
    rounds = {"retry_failed_rows": scenario.retry_failed_rows}

    def make() -> Any:
        return submit_operator(
            case,
            input_path,
            out,
            wait_for_completion=True,
            poll_interval=0.1,
            job_timeout=timedelta(minutes=2),
            max_requests_per_job=scenario.max_requests_per_job,
            max_concurrent_jobs=scenario.max_concurrent_jobs,
            **rounds,
        )

    with instrumented(scenario, emulator, observed) as armed:
        for action in ("first", *scenario.actions):
            if action.startswith("clear"):
                run.xcom.clear()  # a clear removes the task's XCom; a retry keeps it
            if action == "clear-without-store":
                run.use_state_store = False  # Airflow before 3.3
            elif action == "clear-emptied-store":
                run.use_state_store, run.store = True, DictStateStore()  # [state_store] clear_on_success
            elif action == "clear-fewer-rounds":
                rounds["retry_failed_rows"] = 0  # the DAG edited: no follow-up round any more
            elif action == "clear-more-rounds":
                rounds["retry_failed_rows"] += 1  # the DAG edited: one follow-up round more
            elif action in EDITS:
                observed.before_edit |= {job["name"] for job in emulator.jobs()}
                edited(action, lines, original, edits)
                write_lines(input_path, lines)
            for _ in range(TRIES):
                where, at = deaths.pop(run.tries + 1, (None, 0))
                DyingTI.armed = where == "before-xcom"
                armed["after_create"] = at if where == "right-after-create" else None
                armed["landing"] = at if where == "while-landing" else None
                restart = rng.uniform(0.05, 0.6) if run.tries + 1 in scenario.restarts else None
                context = run.new_try(DyingTI)
                try:
                    observed.outcome = one_try(make, context, restart)
                    observed.landed = list(lines)
                    break
                except (Exception, WorkerDied) as err:
                    observed.errors.append(err)
                    observed.outcome = err
                    if isinstance(err, JobFailedError):
                        observed.landed = list(lines)
                        break  # a job that ended badly: the task fails for a documented reason
            DyingTI.armed = False
            armed["after_create"] = armed["landing"] = None
    emulator.config(faults={})
    return lines


# --- what must hold -----------------------------------------------------------------------------------


def check_jobs(scenario: Scenario, emulator: EmulatorServer, observed: Observed) -> None:
    """No (idempotency key, fingerprint) paid twice: a second job for one only after the first ended badly."""
    case = PROVIDER_CASES[scenario.provider]
    created = [job["name"] for job in emulator.jobs()]  # oldest first
    hook = get_hook(conn_id_for(case.provider))
    jobs = list(hook.list_batches())
    if isinstance(observed.outcome, dict):  # every job that did not end badly is one the landed manifest names
        ref = observed.outcome["job_ref"]
        named = {ref["job_name"], *(part["job_name"] for part in ref.get("parts") or ())}
        named |= {part["job_name"] for part in observed.outcome.get("parts") or ()}
        used = {emulated_name(name) for name in named if name}
        unused = [
            job.name
            for job in jobs
            if emulated_name(job.name) not in used | observed.before_edit and job.state not in BAD_ENDS
        ]
        assert not unused, f"jobs paid for and not landed: {unused}"
    if case.findable:
        groups: dict[tuple[str, str], list[Any]] = defaultdict(list)
        for job in jobs:
            identity = hook.identity_of(job)
            assert identity is not None, f"{job.name} carries no idempotency key"
            groups[(identity.key, identity.fingerprint)].append(job)
        for pair, same in groups.items():
            same.sort(key=lambda job: created.index(emulated_name(job.name)))  # a listing's times are whole seconds
            paid_twice = [job.name for job in same[:-1] if job.state not in BAD_ENDS]
            assert not paid_twice, f"{pair} has {len(same)} jobs, {paid_twice} not ended badly before the next"
        return
    made = {emulated_name(name) for *_, name in observed.creates}
    assert len(jobs) == len(made), f"{len(jobs)} jobs at the provider, {len(made)} creates returned"
    states = {emulated_name(job.name): job.state for job in jobs}
    always_stored = scenario.use_state_store and not STOREFREE_ACTIONS & set(scenario.actions)
    seen: dict[tuple[str | None, str | None], list[str]] = defaultdict(list)
    for key, fingerprint, replaces, name in observed.creates:
        earlier = seen[(key, fingerprint)]
        if earlier:
            if always_stored:  # the job it replaces is the one the store names
                assert replaces is not None, f"{name}: a second job for {key} {fingerprint} that replaces none"
            still = [job for job in earlier if states[emulated_name(job)] not in BAD_ENDS]
            assert not still, f"{name}: a second job for {key} {fingerprint}, after {still}, which did not end badly"
        earlier.append(name)


def check_landing(lines: list[tuple[str, str]], out: Path, succeeded: bool) -> None:
    """Every key once in input order, each answer the one to its line as it is now, counts adding up, no partial
    file, every named file there."""
    keys = [key for key, _ in lines]
    assert sorted(p.name for p in out.rglob("*.partial")) == []
    found = manifest(out)
    if found is None:
        assert not succeeded, "the task succeeded without a manifest"
        return
    rows = read_rows(out)
    assert [row["key"] for row in rows] == keys
    asked = dict(lines)
    stale = [row["key"] for row in rows if row["status"] == "succeeded" and row["text"] != ANSWER + asked[row["key"]]]
    assert not stale, f"answers to lines since edited: {stale}"
    counts = found["counts"]
    assert counts["total"] == len(keys)
    assert sum(value for name, value in counts.items() if name != "total" and isinstance(value, int)) == len(keys), (
        counts
    )
    for name, value in found.items():
        if name.endswith("_uri") and isinstance(value, str) and value and name != "output_uri":
            assert Path(value).exists(), f"the manifest's {name} names {value}, which is not there"
    assert Path(found["results_uri"]).name == RESULTS_FILE
    if succeeded:
        assert counts["succeeded"] == len(keys)


def check_secrets(observed: Observed, caplog: pytest.LogCaptureFixture, out: Path) -> None:
    assert API_KEY not in caplog.text
    for err in observed.errors:
        assert API_KEY not in f"{err!r} {err}"
    for path in out.rglob("*"):
        if path.is_file():
            assert API_KEY.encode() not in path.read_bytes(), path


def documented_end(outcome: Any, refusal_allowed: bool) -> bool:
    """Whether the task ended as documented: it succeeded, a job's rows failed or it expired, or (where allowed) a
    try refused to create a job an earlier try may have made."""
    if isinstance(outcome, dict | JobFailedError):
        return True
    return refusal_allowed and isinstance(outcome, GenAIBatchError) and REFUSED in str(outcome)


def check_scenario(
    scenario: Scenario,
    emulator: EmulatorServer,
    workdir: Path,
    caplog: pytest.LogCaptureFixture,
    *,
    refusal_allowed: bool,
) -> None:
    """Play ``scenario`` and check what must hold; a failure names the scenario and how to replay it."""
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.DEBUG, logger="airflow_provider_genai_batch")
    observed = Observed()
    try:
        lines = play(scenario, emulator, workdir, observed)
        outcome = observed.outcome
        assert documented_end(outcome, refusal_allowed), f"the task ended with {outcome!r}"
        check_jobs(scenario, emulator, observed)
        if isinstance(outcome, GenAIBatchError) and not isinstance(outcome, JobFailedError):
            lines = observed.landed or lines  # a refused try lands nothing: the results are the last landed
        check_landing(lines, workdir / "out", isinstance(outcome, dict))
        check_secrets(observed, caplog, workdir / "out")
    except BaseException as err:
        errors = "\n".join(f"  try error: {type(e).__name__}: {str(e)[:400]}" for e in observed.errors)
        raise AssertionError(
            f"chaos seed {scenario.seed} failed: {err}\nscenario: {scenario.describe()}\n{errors}\n"
            f"replay: {scenario.replay}"
        ) from err


@pytest.mark.parametrize("seed", chaos_seeds(), ids=lambda seed: f"seed-{seed}")
def test_a_chaos_scenario_pays_once_and_lands_every_key_once(
    emulator: EmulatorServer, tmp_path: Path, caplog: pytest.LogCaptureFixture, seed: int
):
    check_scenario(draw(seed, emulated_providers()), emulator, tmp_path, caplog, refusal_allowed=False)


@pytest.mark.parametrize("seed", chaos_seeds(), ids=lambda seed: f"seed-{seed}")
def test_a_chaos_scenario_without_a_task_state_store_where_jobs_carry_no_key_pays_once_or_refuses(
    emulator: EmulatorServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    seed: int,
):
    scenario = draw_keyless(seed, emulated_providers())
    if "clear-emptied-store" in scenario.actions:  # the deployment empties the store when the task succeeds
        monkeypatch.setenv("AIRFLOW__STATE_STORE__CLEAR_ON_SUCCESS", "True")
    check_scenario(scenario, emulator, tmp_path, caplog, refusal_allowed=True)


def test_a_seed_draws_the_same_scenario_every_time():
    providers = emulated_providers()
    assert [draw(seed, providers) for seed in range(50)] == [draw(seed, providers) for seed in range(50)]


def test_no_scenario_asks_a_provider_without_look_up_by_key_for_one():
    providers = emulated_providers()
    for seed in range(500):
        scenario = draw(seed, providers)
        if not PROVIDER_CASES[scenario.provider].findable:
            assert "lost_rate" not in scenario.faults
            assert all(where != "right-after-create" for _, where, _ in scenario.deaths)
            assert scenario.use_state_store and set(scenario.actions) <= set(UNFINDABLE_ACTIONS)


def test_every_scenario_without_a_task_state_store_is_for_a_provider_without_look_up_by_key():
    providers = emulated_providers()
    for seed in range(500):
        scenario = draw_keyless(seed, providers)
        assert not PROVIDER_CASES[scenario.provider].findable
        assert "lost_rate" not in scenario.faults  # the checks count the jobs of the creates that returned
        assert not scenario.use_state_store or STOREFREE_ACTIONS & set(scenario.actions)
        assert "revert-clear" not in scenario.actions


def test_the_draw_without_a_task_state_store_kills_workers_right_after_a_parts_create():
    providers = emulated_providers()
    scenarios = [draw_keyless(seed, providers) for seed in range(500)]
    split = [s for s in scenarios if s.max_requests_per_job is not None or s.retry_failed_rows]
    assert any(where == "right-after-create" for s in split for _, where, _ in s.deaths)
    assert all(not s.actions for s in scenarios if any(where == "right-after-create" for _, where, _ in s.deaths))
    assert any(where == "before-xcom" for s in split for _, where, _ in s.deaths)
    assert all(len({attempt for attempt, _, _ in s.deaths}) == len(s.deaths) for s in scenarios)
