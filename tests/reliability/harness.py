"""Driving the real submit operator, sensor and trigger against the emulator, the way Airflow would, without its DB.

A task instance is a :class:`TaskRun`: the same dag/task/run/map_index on every try, a fresh operator
instance and a fresh (fake) TI per try, one XCom table and, optionally, one task state store that outlive
the tries, as Airflow's do. A deferral is acted out as a triggerer does it: the trigger is serialized,
rebuilt from its classpath and kwargs, run until its first event, and the task resumes on a fresh operator
through ``resume_execution``. Shared by ``tests/reliability`` and ``benchmarks/reliability.py``.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

from airflow._shared.module_loading import import_string
from airflow.sdk.exceptions import TaskDeferred
from airflow.triggers.base import BaseTrigger

from airflow_provider_genai_batch.hooks.base import BatchHook
from airflow_provider_genai_batch.hooks.http import ASYNC_CLIENTS
from airflow_provider_genai_batch.landing import MANIFEST_FILE, RESULTS_FILE
from airflow_provider_genai_batch.operators.submit import GenAIBatchSubmitOperator
from airflow_provider_genai_batch.sensors.batch_results import GenAIBatchSensor
from airflow_provider_genai_batch.testing.emulator import EmulatorServer
from airflow_provider_genai_batch.testing.emulator import app as emulator_app
from airflow_provider_genai_batch.testing.emulator.faults import FORWARDED_HEADER
from airflow_provider_genai_batch.testing.s3 import MotoS3Server
from tests.unit.pipeline.fakes import DictStateStore, FakeTI

T = TypeVar("T")
API_KEY = "reliability-key"
DAG_ID = "reliability"


# --- providers ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProviderCase:
    """How to reach one emulated provider: its connection type, base URL suffix, and a model name."""

    provider: str
    """The case's name (its connection id is ``reliability_<provider>``): a provider, or ``gateway-<target>``."""
    conn_type: str
    path: str
    model: str
    create_path: str
    """A regex matching the path of the POST that creates a batch."""
    upload_path: str | None = None
    """A regex matching the path of the POST that uploads an input file to the emulator (None: inline input
    only, or the input goes to S3, where the emulator's faults do not reach)."""
    extras: dict[str, Any] = field(default_factory=dict)
    """Connection extras this provider needs besides CONNECTION_EXTRAS (a gateway's target, a region, ...).
    String values may name ``{emulator}`` (the emulator's base URL) and ``{s3}`` (the S3 server's URL)."""
    hook: str | None = None
    """The hook's provider name (``BatchJobRef["provider"]``), when it is not ``provider``."""
    router: str | None = None
    """The PROVIDER of the emulator router that serves this case, when it is not the hook's."""
    min_records: int = 1
    """The fewest requests a job may have (Bedrock: 100): every input a test writes has at least this many."""
    cancel_path: str = "cancel"
    """A regex matching the path of the POST that cancels a job (Bedrock: ``/stop``)."""
    aws: bool = False
    """Signed with SigV4 (fake keys as login/password) instead of the API key."""
    findable: bool = True
    """Whether a job can be found again by its idempotency key (Anthropic's and a gateway's jobs carry none)."""
    idempotent_create: bool = False
    """The create itself is idempotent (Bedrock's ``clientRequestToken``): a failed create is simply re-sent."""
    results_via: Literal["download", "json", "s3"] = "download"
    """How results are read: a file download from the emulator (droppable mid-body, resumed with Range; a
    gateway's OpenAI output and error files too), one JSON document (a gateway's result items, for its Gemini
    and Anthropic targets), or S3 (Bedrock: moto, which the emulator's faults do not reach)."""

    @property
    def hook_provider(self) -> str:
        return self.hook or self.provider

    @property
    def emulated_by(self) -> str:
        return self.router or self.hook_provider

    def records(self, wanted: int) -> int:
        """How many requests an input meant to have ``wanted`` gets for this provider."""
        return max(wanted, self.min_records)

    def connection(self, base_url: str, s3_url: str | None = None, **extras: Any) -> str:
        """The connection JSON (for an ``AIRFLOW_CONN_*`` variable) pointing at the emulator (and S3)."""
        settings = {**CONNECTION_EXTRAS, **self.extras, **extras}
        settings = {
            key: value.format(emulator=base_url, s3=s3_url or "") if isinstance(value, str) else value
            for key, value in settings.items()
        }
        conn: dict[str, Any] = {"conn_type": self.conn_type, "host": base_url + self.path, "password": API_KEY}
        if self.aws:
            conn.update(host="", login=AWS_CREDENTIALS[0], password=AWS_CREDENTIALS[1])
        return json.dumps({**conn, "extra": settings})


S3_BUCKET = "genai-batch-reliability"
AWS_CREDENTIALS = ("testing", "testing")
"""moto accepts any keys; the Bedrock emulator only checks the SigV4 scope (service and region)."""

_GATEWAY_CREATE = r"^/genai/v1beta/models/.+:batchGenerateContent$"
_GATEWAY_UPLOAD = r"^/genai/upload/v1beta/files$"

_CASES = (
    ProviderCase("gemini", "genaigemini", "", "gemini-2.5-flash", r":batchGenerateContent$", r"^/upload/"),
    ProviderCase("openai", "genaiopenai", "/openai/v1", "gpt-4o-mini", r"^/openai/v1/batches$", r"^/openai/v1/files$"),
    ProviderCase(
        "anthropic",
        "genaianthropic",
        "/anthropic",
        "claude-sonnet-4-5",
        r"^/anthropic/v1/messages/batches$",
        findable=False,
    ),
    ProviderCase(
        "bedrock",
        "genaibedrock",
        "/bedrock",
        "anthropic.claude-3-haiku-20240307-v1:0",
        r"^/bedrock/model-invocation-job$",
        None,  # the input goes to S3 (moto), outside the emulator's fault injection
        extras={
            "region": "us-east-1",
            "role_arn": "arn:aws:iam::123456789012:role/BedrockBatch",
            "input_s3_uri": f"s3://{S3_BUCKET}/input",
            "output_s3_uri": f"s3://{S3_BUCKET}/output",
            "endpoint_url": "{emulator}/bedrock",
            "s3_endpoint_url": "{s3}",
        },
        min_records=100,
        cancel_path=r"/stop$",
        aws=True,
        idempotent_create=True,
        results_via="s3",
    ),
    ProviderCase(
        "gateway",
        "genaigateway",
        "/genai",
        "gemini-2.5-flash",
        _GATEWAY_CREATE,
        _GATEWAY_UPLOAD,
        extras={"model_provider": "gemini"},
        router="gateway",
        findable=False,
        results_via="json",
    ),
    ProviderCase(
        "gateway-openai",
        "genaigateway",
        "/genai",
        "gpt-4o-mini",
        _GATEWAY_CREATE,
        _GATEWAY_UPLOAD,
        extras={"model_provider": "openai"},
        hook="gateway",
        router="gateway",
        findable=False,
    ),
)
PROVIDER_CASES: dict[str, ProviderCase] = {case.provider: case for case in _CASES}
"""Every provider these tests know how to drive, in table order."""

CONNECTION_EXTRAS: dict[str, Any] = {
    "max_retries": 8,
    "retry_max_wait": 0.05,  # Retry-After is honoured but capped here, so tests stay fast
    "retry_deadline": 60.0,
    "timeout": 30.0,
    "upload_chunk_size": 256 * 1024,  # Gemini: preferred; a test lowers the granularity to it for several chunks
}


def provider_of(router: Any) -> str | None:
    """The PROVIDER a router module declares (else its module's name: ``gateway``), found through its endpoints."""
    for route in getattr(router, "routes", ()):
        module = sys.modules.get(getattr(getattr(route, "endpoint", None), "__module__", ""), None)
        if module is not None:
            declared = getattr(module, "PROVIDER", None)
            return declared if isinstance(declared, str) else module.__name__.rsplit(".", 1)[-1]
    return None


def emulated_providers() -> list[str]:
    """The providers of PROVIDER_CASES that the emulator mounts right now (``app.PROVIDER_ROUTERS``)."""
    mounted = {provider_of(router) for _, router in emulator_app.PROVIDER_ROUTERS}
    return [name for name, case in PROVIDER_CASES.items() if case.emulated_by in mounted]


def connections(emulator: EmulatorServer, s3: MotoS3Server) -> dict[str, str]:
    """``AIRFLOW_CONN_*`` variable → connection JSON, for every case (the AWS keys Bedrock signs with included)."""
    return {
        conn_env_var(conn_id_for(name)): case.connection(emulator.base_url, s3.endpoint_url)
        for name, case in PROVIDER_CASES.items()
    }


@contextmanager
def reliability_servers(**config: Any) -> Iterator[tuple[EmulatorServer, MotoS3Server]]:
    """moto's S3 (with the bucket the Bedrock case names) and an emulator whose Bedrock jobs use it."""
    with MotoS3Server() as s3:
        s3.create_bucket(S3_BUCKET)
        with EmulatorServer(api_key=API_KEY, s3_endpoint_url=s3.endpoint_url, **config) as emulator:
            yield emulator, s3


def reset_servers(emulator: EmulatorServer, s3: MotoS3Server) -> None:
    """An empty emulator without faults, and an S3 holding only the (empty) Bedrock bucket."""
    emulator.reset()
    s3.reset()
    s3.create_bucket(S3_BUCKET)


def conn_id_for(provider: str) -> str:
    return f"reliability_{provider}"


def conn_env_var(conn_id: str) -> str:
    return f"AIRFLOW_CONN_{conn_id.upper()}"


def results_drop(case: ProviderCase) -> tuple[dict[str, Any], str] | None:
    """Faults that drop every read of a job's results mid-answer, and the fault kind they count as.

    A results file is cut mid-body (``download_drop``); a gateway's JSON result items lose their answer
    after the handler ran (``lost``, dropped connection). None for Bedrock: its results are S3 objects on
    moto, which the emulator's fault injection does not reach.
    """
    if case.results_via == "download":
        return {"download_drop_rate": 1.0}, "download_drop"
    if case.results_via == "json":
        return {"lost_rate": 1.0, "lost_mode": "drop", "paths": r"^/v1/batches/.+/results$", "methods": ["GET"]}, "lost"
    return None


# --- inputs and results -------------------------------------------------------------------------------


def input_keys(count: int) -> list[str]:
    """The keys :func:`write_input` gives ``count`` requests, in order."""
    return [f"req-{index:05d}" for index in range(count)]


def write_input(path: Path, count: int, *, padding: int = 0) -> list[str]:
    """A canonical (Gemini-format) JSONL input of ``count`` requests; returns its keys in order."""
    keys = input_keys(count)
    pad = " " + "x" * padding if padding else ""
    with path.open("w") as sink:
        for index, key in enumerate(keys):
            text = f"question {index}{pad}"
            sink.write(json.dumps({"key": key, "request": {"contents": [{"role": "user", "parts": [{"text": text}]}]}}))
            sink.write("\n")
    return keys


def read_rows(output_dir: Path) -> list[dict[str, Any]]:
    """The landed result rows."""
    with (output_dir / RESULTS_FILE).open() as source:
        return [json.loads(line) for line in source if line.strip()]


def lost_keys(keys: list[str], output_dir: Path) -> list[str]:
    """Input keys without a succeeded row in the landed results."""
    if not (output_dir / RESULTS_FILE).exists():
        return list(keys)
    good = {row["key"] for row in read_rows(output_dir) if row["status"] == "succeeded"}
    return [key for key in keys if key not in good]


def partial_files(output_dir: Path) -> list[str]:
    """Temporary files landing leaves only while it writes."""
    return sorted(p.name for p in output_dir.glob("*.partial")) if output_dir.exists() else []


def manifest(output_dir: Path) -> dict[str, Any] | None:
    path = output_dir / MANIFEST_FILE
    return json.loads(path.read_text()) if path.exists() else None


# --- task instances, tries, deferral ------------------------------------------------------------------


class WorkerDied(BaseException):
    """The worker process is gone at this point: nothing after it runs, no ``except Exception`` sees it."""


@dataclass
class TaskRun:
    """One task instance across its tries (Airflow keeps XCom and the task state store between tries)."""

    task_id: str
    run_id: str
    dag_id: str = DAG_ID
    map_index: int = -1
    use_state_store: bool = True
    tries: int = 0
    xcom: dict[tuple[str, int, str], Any] = field(default_factory=dict)
    store: DictStateStore = field(default_factory=DictStateStore)

    def new_try(self, ti_class: type[FakeTI] = FakeTI) -> dict[str, Any]:
        """The context of the next try: a fresh TI with the next try number, the same XCom and store."""
        self.tries += 1
        ti = ti_class(
            dag_id=self.dag_id,
            task_id=self.task_id,
            run_id=self.run_id,
            map_index=self.map_index,
            try_number=self.tries,
            xcom=self.xcom,
        )
        context: dict[str, Any] = {"ti": ti}
        if self.use_state_store:
            context["task_state_store"] = self.store
        return context


def rebuild(trigger: BaseTrigger) -> BaseTrigger:
    """The trigger as a triggerer gets it: serialized, stored as JSON, re-created from its classpath."""
    classpath, kwargs = trigger.serialize()
    return import_string(classpath)(**json.loads(json.dumps(kwargs)))


async def close_pooled_clients() -> None:
    """Close the async clients pooled for the running loop (a triggerer closes them when it stops)."""
    clients = ASYNC_CLIENTS._clients.pop(asyncio.get_running_loop(), {})
    for client in clients.values():
        await client.aclose()


async def first_event(trigger: BaseTrigger, timeout: float = 60.0) -> dict[str, Any]:
    """Run a trigger until its first event, as the triggerer does, and return the event payload."""
    events = trigger.run()
    try:
        event = await asyncio.wait_for(anext(events), timeout)
    finally:
        await events.aclose()
        await trigger.cleanup()
    return event.payload


def resume(operator: Any, context: dict[str, Any], event: dict[str, Any]) -> Any:
    """Resume a deferred task on a fresh operator instance, through the path the task runner takes."""
    return operator.resume_execution("execute_complete", {"event": event}, context)


def run_deferred(make_operator: Callable[[], Any], context: dict[str, Any]) -> Any:
    """One try of a deferrable task, deferral included: execute, then (if deferred) trigger, then resume."""
    try:
        return make_operator().execute(context)
    except TaskDeferred as deferred:
        trigger = rebuild(deferred.trigger)

    async def wait() -> dict[str, Any]:
        try:
            return await first_event(trigger)
        finally:
            await close_pooled_clients()

    event = asyncio.run(wait())
    return resume(make_operator(), context, event)


class TaskFailed(Exception):
    """Every try of a task failed; ``errors`` holds what each try raised."""

    def __init__(self, task_id: str, errors: list[Exception]) -> None:
        self.task_id = task_id
        self.errors = errors
        super().__init__(f"{task_id} failed {len(errors)} tries; last: {type(errors[-1]).__name__}: {errors[-1]}")


def with_retries(attempt: Callable[[], T], tries: int, task_id: str = "task") -> tuple[T, list[Exception]]:
    """Call ``attempt`` up to ``tries`` times, as Airflow retries a failed task; returns (result, errors)."""
    errors: list[Exception] = []
    for _ in range(tries):
        try:
            return attempt(), errors
        except Exception as err:
            errors.append(err)
    raise TaskFailed(task_id, errors)


# --- the pipeline -------------------------------------------------------------------------------------


def submit_operator(case: ProviderCase, input_path: Path, output_dir: Path, **kwargs: Any) -> GenAIBatchSubmitOperator:
    kwargs.setdefault("task_id", "submit")
    return GenAIBatchSubmitOperator(
        conn_id=conn_id_for(case.provider),
        model=case.model,
        input=str(input_path),
        output_uri=str(output_dir),
        display_name=f"reliability-{case.provider}",
        **kwargs,
    )


def sensor(ref: dict[str, Any], output_dir: Path, **kwargs: Any) -> GenAIBatchSensor:
    kwargs.setdefault("task_id", "wait")
    kwargs.setdefault("poll_interval", 0.1)
    kwargs.setdefault("job_timeout", timedelta(minutes=5))
    return GenAIBatchSensor(job_ref=ref, output_uri=str(output_dir), **kwargs)


@dataclass
class PipelineResult:
    """What one pipeline run produced and what it took."""

    job_name: str
    manifest: dict[str, Any]
    submit_tries: int
    wait_tries: int
    lost: list[str]
    errors: list[tuple[str, Exception]] = field(default_factory=list)
    """(task id, what it raised) for every failed try, in order."""


def run_pipeline(
    case: ProviderCase, workdir: Path, run_id: str, *, requests: int = 20, padding: int = 0, tries: int = 4
) -> PipelineResult:
    """validate → upload → create (submit task), then wait → land results (sensor task), each with retries.

    The input has ``case.records(requests)`` lines (Bedrock takes no fewer than 100).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    input_path, output_dir = workdir / "input.jsonl", workdir / "out"
    keys = write_input(input_path, case.records(requests), padding=padding)
    submit = TaskRun("submit", run_id)
    ref, submit_errors = with_retries(
        lambda: submit_operator(case, input_path, output_dir).execute(submit.new_try()), tries, "submit"
    )
    wait = TaskRun("wait", run_id)
    result, wait_errors = with_retries(
        lambda: run_deferred(lambda: sensor(ref, output_dir), wait.new_try()), tries, "wait"
    )
    return PipelineResult(
        job_name=ref["job_name"],
        manifest=result,
        submit_tries=submit.tries,
        wait_tries=wait.tries,
        lost=lost_keys(keys, output_dir),
        errors=[*(("submit", e) for e in submit_errors), *(("wait", e) for e in wait_errors)],
    )


# --- counting retries ---------------------------------------------------------------------------------

_in_create = contextvars.ContextVar("in_create", default=False)


@dataclass
class RetryMeter:
    """Counts, while active, the retries every hook made (``hook.retries``) and the lookups after failed creates."""

    hooks: list[BatchHook] = field(default_factory=list)
    create_lookups: int = 0

    @property
    def hook_retries(self) -> int:
        return sum(hook.retries for hook in self.hooks)

    @property
    def total(self) -> int:
        return self.hook_retries + self.create_lookups

    @contextmanager
    def active(self) -> Iterator[RetryMeter]:
        meter = self
        original_init = BatchHook.__init__
        original_find = BatchHook.find_batch
        original_create_once = GenAIBatchSubmitOperator._create_once

        def init(hook: BatchHook, *args: Any, **kwargs: Any) -> None:
            original_init(hook, *args, **kwargs)
            meter.hooks.append(hook)

        def find_batch(
            hook: BatchHook, key: str, input_fingerprint: str | None = None, *, not_before: Any = None
        ) -> Any:
            if _in_create.get():
                meter.create_lookups += 1
            return original_find(hook, key, input_fingerprint=input_fingerprint, not_before=not_before)

        def create_once(operator: Any, *args: Any, **kwargs: Any) -> Any:
            token = _in_create.set(True)
            try:
                return original_create_once(operator, *args, **kwargs)
            finally:
                _in_create.reset(token)

        BatchHook.__init__ = init  # type: ignore[method-assign]
        BatchHook.find_batch = find_batch  # type: ignore[method-assign]
        GenAIBatchSubmitOperator._create_once = create_once  # type: ignore[method-assign]
        try:
            yield self
        finally:
            BatchHook.__init__ = original_init  # type: ignore[method-assign]
            BatchHook.find_batch = original_find  # type: ignore[method-assign]
            GenAIBatchSubmitOperator._create_once = original_create_once  # type: ignore[method-assign]


# --- reading the emulator -----------------------------------------------------------------------------


def client_requests(emulator: Any) -> list[dict[str, Any]]:
    """The logged API requests a client sent: not the gateway's in-process calls to the provider it fronts."""
    return [r for r in emulator.requests() if FORWARDED_HEADER not in r["headers"]]


def requests_to(emulator: Any, method: str, path_pattern: str) -> list[dict[str, Any]]:
    """The logged client requests with this method whose path matches the regex."""
    return [r for r in client_requests(emulator) if r["method"] == method and re.search(path_pattern, r["path"])]


def job_requests(emulator: Any, job_name: str, method: str = "GET") -> list[dict[str, Any]]:
    """The logged client requests about one job (its id appears in the path)."""
    job_id = job_name.rsplit("/", 1)[-1]
    return [r for r in client_requests(emulator) if r["method"] == method and job_id in r["path"]]


CANCEL_PATHS = "|".join(dict.fromkeys(case.cancel_path for case in _CASES))


def cancel_requests(emulator: Any, job_name: str) -> list[dict[str, Any]]:
    """The cancels (Bedrock: stops) sent for one job."""
    return [r for r in job_requests(emulator, job_name, "POST") if re.search(CANCEL_PATHS, r["path"])]


_GATEWAY_PREFIXED = re.compile(r"^batches/(batch_|msgbatch_)")


def emulated_name(job_name: str) -> str:
    """The name the emulator lists a job under: a gateway's ``batches/<id>`` at OpenAI or Anthropic is the
    target's own id (``batch_...``, ``msgbatch_...``); every other name is the same."""
    return job_name.removeprefix("batches/") if _GATEWAY_PREFIXED.match(job_name) else job_name


def phase_of(emulator: Any, job_name: str) -> str:
    """The provider-neutral phase (PENDING, RUNNING, SUCCEEDED, CANCELLED, ...) the emulator reports."""
    return next(job["phase"] for job in emulator.jobs() if job["name"] == emulated_name(job_name))


def wait_until(condition: Callable[[], bool], timeout: float = 15.0, interval: float = 0.05) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` passes; returns whether it held."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True
