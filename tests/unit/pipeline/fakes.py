"""An in-memory provider for pipeline tests: a fake Gemini hook, a fake TI, a fake task state store.

``FakeSupervisor`` stands in for the Task SDK's supervisor channel (``SUPERVISOR_COMMS``): it answers the
asset-event and task-state lookups a task or a trigger sends, from dicts, and records every message.

The fake hook keeps jobs in a dict and records every call. A test scripts what successive status
polls return (a state, a dict of field updates, or an exception to raise) with ``script``, and what
successive cancels raise with ``refuse_cancels``. Every create goes through the real capability check
and Gemini wire translation (``_op_create_batch(spec)``) so a test can assert the REST body the real
hook would send, without any HTTP; the job gets the display name that body carries, so lookups by key
and fingerprint read it back as the real hook does. ``use_dialect`` gives the fake other limits or
capabilities.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import IO, Any

import pytest
from airflow.sdk.api.datamodels._generated import AssetEventResponse, AssetResponse
from airflow.sdk.execution_time.comms import (
    AssetEventsResult,
    ErrorResponse,
    GetAssetEventByAsset,
    GetTaskStates,
    TaskStatesResult,
)
from airflow.triggers.base import BaseTrigger
from pydantic import SecretStr

from airflow_provider_genai_batch.errors import NotFoundError
from airflow_provider_genai_batch.formats.dialect import ProviderCapabilities, ProviderLimits
from airflow_provider_genai_batch.formats.gemini import GeminiDialect
from airflow_provider_genai_batch.formats.results import ResultRow, RowError, RowStatus
from airflow_provider_genai_batch.hooks.gemini import GeminiBatchHook, GeminiSettings
from airflow_provider_genai_batch.job_ref import BatchJobRef, PartRef
from airflow_provider_genai_batch.models import BatchJob, BatchStats, FileInfo, JobState
from airflow_provider_genai_batch.operators.submit import GenAIBatchSubmitOperator
from airflow_provider_genai_batch.spec import BatchSpec, FileSource, InlineSource

FAKE_CONN_ID = "genai_fake"
S3_CONN_ID = "genai_results_s3"
"""The connection the ``s3`` fixture (conftest.py) puts moto's S3 behind."""
FAKE_SECRET = "sk-super-secret-fake-key-0123456789"


def part_ref(
    index: int, job_name: str | None, *, requests: int = 10, round: int = 0, keys_uri: str | None = None
) -> PartRef:
    """Part ``index`` of ``round`` of a split input: created as ``job_name``, or waiting with its upload named."""
    return PartRef(
        index=index,
        round=round,
        idempotency_key=f"gbk-part-{round}-{index}",
        input_fingerprint=f"fp-{round}-{index}",
        request_count=requests,
        byte_count=requests * 100,
        job_name=job_name,
        upload=None if job_name else f"files/part-{index}",
        keys_uri=keys_uri,
    )


def group_ref(*parts: PartRef, max_concurrent_jobs: int | None = None, provider: str = "gemini") -> BatchJobRef:
    """The reference of a group of ``parts`` on the fake connection; its request count is round 0's."""
    return BatchJobRef(
        provider=provider,
        conn_id=FAKE_CONN_ID,
        job_name=parts[0].job_name or "unset",
        request_count=sum(p.request_count for p in parts if p.round == 0),
        parts=parts,
        max_concurrent_jobs=max_concurrent_jobs,
    )


class FakeBatchHook(GeminiBatchHook):
    """A Gemini hook whose provider is a dict: no connection, no HTTP, every call recorded."""

    def __init__(self, conn_id: str | None = FAKE_CONN_ID, **kwargs: Any) -> None:
        super().__init__(conn_id=conn_id, **kwargs)
        # Pre-seed the cached settings so nothing ever reads an Airflow connection.
        self.__dict__["settings"] = GeminiSettings(api_key=SecretStr(FAKE_SECRET), base_url="http://fake.invalid")
        self.calls: list[tuple[str, Any]] = []
        self.jobs: dict[str, BatchJob] = {}
        self.uploads: list[dict[str, Any]] = []
        self.created: list[dict[str, Any]] = []
        self.results: dict[str, Callable[[], Iterator[ResultRow]] | list[ResultRow]] = {}
        self._script: dict[str, list[Any]] = defaultdict(list)
        self._cancel_refusals: list[BaseException] = []
        # What the next job this fake creates will go through, and the rows it will return.
        self.next_job_script: list[Any] = []
        self.next_job_results: list[ResultRow] | Callable[[], Iterator[ResultRow]] | None = None
        self._ids = itertools.count(1)

    # --- test-side helpers ---------------------------------------------------------------------------

    def add_job(
        self,
        name: str = "batches/job-1",
        state: JobState = JobState.PENDING,
        *,
        display_name: str | None = None,
        total: int = 0,
        succeeded: int = 0,
        failed: int = 0,
        pending: int = 0,
        error_message: str | None = None,
        results: list[ResultRow] | Callable[[], Iterator[ResultRow]] | None = None,
    ) -> BatchJob:
        job = BatchJob(
            name=name,
            provider=self.provider,
            display_name=display_name,
            state=state,
            provider_state=state.value,
            stats=BatchStats(total=total, succeeded=succeeded, failed=failed, pending=pending),
            error_message=error_message,
        )
        self.jobs[name] = job
        if results is not None:
            self.results[name] = results
        return job

    def script(self, name: str, *steps: Any) -> None:
        """What the next polls of ``name`` see, one step per poll.

        A step is a JobState, a dict of field updates, an exception to raise, or a callable run at
        poll time (to act in the middle of polling, e.g. kill the task) that returns one of those.
        """
        self._script[name].extend(steps)

    def refuse_cancels(self, *errors: BaseException) -> None:
        """The next cancels (sync or async) raise these, one per call, before later ones are accepted."""
        self._cancel_refusals.extend(errors)

    def names(self, method: str) -> list[Any]:
        """The arguments of every recorded call to ``method``."""
        return [args for called, args in self.calls if called == method]

    def use_dialect(
        self, *, limits: ProviderLimits | None = None, capabilities: ProviderCapabilities | None = None
    ) -> None:
        """From now on this fake's dialect (and so ``hook.dialect.limits``, ``hook.capabilities``) has these."""
        overrides = {"limits": limits, "capabilities": capabilities}
        changed = {name: value for name, value in overrides.items() if value is not None}
        self.__dict__["dialect"] = type("TestGeminiDialect", (GeminiDialect,), changed)()

    # --- the provider --------------------------------------------------------------------------------

    def _poll(self, name: str) -> BatchJob:
        if self._script.get(name):
            step = self._script[name].pop(0)
            if callable(step):
                step = step()
            if isinstance(step, BaseException):
                raise step
            updates = {"state": step, "provider_state": step.value} if isinstance(step, JobState) else dict(step)
            if "state" in updates and "provider_state" not in updates:
                updates["provider_state"] = updates["state"].value
            self.jobs[name] = self.jobs[name].model_copy(update=updates)
        if name not in self.jobs:
            raise NotFoundError(f"batch {name} not found", http_status=404, provider=self.provider)
        return self.jobs[name]

    def upload_file(
        self, source: str | Path | IO[bytes], *, display_name: str | None = None, mime_type: str = "application/jsonl"
    ) -> FileInfo:
        data = Path(source).read_bytes() if isinstance(source, (str, Path)) else source.read()
        info = FileInfo(name=f"files/upload-{next(self._ids)}", display_name=display_name, size_bytes=len(data))
        self.calls.append(("upload_file", display_name))
        self.uploads.append({"name": info.name, "display_name": display_name, "mime_type": mime_type, "data": data})
        return info

    def find_upload(self, name: str, not_before: datetime | None = None) -> FileInfo | None:
        """The newest upload named ``name`` not deleted since, as a provider's listing finds it."""
        self.calls.append(("find_upload", name))
        deleted = set(self.names("delete_file"))
        for upload in reversed(self.uploads):
            if upload["display_name"] == name and upload["name"] not in deleted:
                return FileInfo(name=upload["name"], display_name=name, size_bytes=len(upload["data"]))
        return None

    def create_batch(self, spec: BatchSpec) -> BatchJob:
        """The real capability check and wire request, then a job in the dict; recorded as ``create_batch``."""
        spec = self._checked(spec)
        requests = list(spec.source.requests) if isinstance(spec.source, InlineSource) else None
        file_name = spec.source.file_name if isinstance(spec.source, FileSource) else None
        operation = self._op_create_batch(spec)
        wire_request = next(operation)  # the real Gemini REST request, built but never sent
        operation.close()
        total = len(requests) if requests is not None else self._line_count(file_name)
        key = spec.idempotency_key
        job = self.add_job(
            f"batches/fake-{next(self._ids)}",
            JobState.PENDING,
            display_name=wire_request.json["batch"]["displayName"],
            total=total,
            pending=total,
            results=self.next_job_results,
        )
        self.script(job.name, *self.next_job_script)
        self.next_job_script, self.next_job_results = [], None
        self.calls.append(("create_batch", job.name))
        self.created.append(
            {
                "spec": spec,
                "model": spec.model,
                "display_name": spec.display_name,
                "file_name": file_name,
                "requests": requests,
                "idempotency_key": key,
                "input_fingerprint": spec.input_fingerprint,
                "embeddings": spec.embeddings,
                "endpoint": spec.endpoint,
                "labels": dict(spec.labels),
                "wire_url": wire_request.url,
                "wire_body": wire_request.json,
                "job_name": job.name,
            }
        )
        return job

    def _line_count(self, file_name: str | None) -> int:
        data = next((u["data"] for u in self.uploads if u["name"] == file_name), b"")
        return sum(1 for line in data.splitlines() if line.strip())

    def get_batch(self, name: str) -> BatchJob:
        self.calls.append(("get_batch", name))
        self.settings  # noqa: B018  # as the real hook's call does, reading the connection unless it was read already
        return self._poll(name)

    async def aget_batch(self, name: str) -> BatchJob:
        self.calls.append(("aget_batch", name))
        await self.asettings()  # as the real hook's call does, reading the connection unless it was read already
        return self._poll(name)

    def list_batches(self) -> Iterator[BatchJob]:
        """Newest first, as every provider lists its batches."""
        self.calls.append(("list_batches", None))
        return iter(list(reversed(self.jobs.values())))

    def find_batch(
        self, idempotency_key: str, input_fingerprint: str | None = None, *, not_before: datetime | None = None
    ) -> BatchJob | None:
        """Recorded as ``("find_batch", (key, fingerprint))``; matched by the real hook's lookup over the listing
        (the whole of it: a context without a dag run gives no ``not_before``)."""
        self.calls.append(("find_batch", (idempotency_key, input_fingerprint)))
        return super().find_batch(idempotency_key, input_fingerprint=input_fingerprint, not_before=not_before)

    def cancel_batch(self, name: str) -> None:
        self.calls.append(("cancel_batch", name))
        if self._cancel_refusals:
            raise self._cancel_refusals.pop(0)

    async def acancel_batch(self, name: str) -> None:
        self.calls.append(("acancel_batch", name))
        if self._cancel_refusals:
            raise self._cancel_refusals.pop(0)

    def delete_batch(self, name: str) -> None:
        self.calls.append(("delete_batch", name))

    def delete_file(self, name: str) -> None:
        self.calls.append(("delete_file", name))

    def iter_results(self, job: BatchJob) -> Iterator[ResultRow]:
        self.calls.append(("iter_results", job.name))
        rows = self.results.get(job.name, [])
        yield from (rows() if callable(rows) else rows)


_NOTSET: Any = object()


class FakeTI:
    """Just what the operators read from ``context["ti"]``.

    XCom lives in a dict keyed by (task_id, map_index, key), which several TIs of one run may share
    (``xcom=``); ``xcom_pull`` follows the Airflow 3.3 task SDK's rules (``RuntimeTaskInstance.xcom_pull``):
    without ``map_indexes`` it reads *every* map index of the task, and returns a list when there are
    several.
    """

    def __init__(
        self,
        *,
        dag_id: str = "genai_dag",
        task_id: str = "submit",
        run_id: str = "manual__2026-01-02T00:00:00+00:00",
        map_index: int = -1,
        try_number: int = 1,
        xcom: dict[tuple[str, int, str], Any] | None = None,
    ) -> None:
        self.dag_id = dag_id
        self.task_id = task_id
        self.run_id = run_id
        self.map_index = map_index
        self.try_number = try_number
        self.xcom: dict[tuple[str, int, str], Any] = {} if xcom is None else xcom
        self.pushes: list[tuple[str, Any]] = []

    def xcom_push(self, key: str, value: Any) -> None:
        json.dumps(value)  # XCom values must be JSON-serialisable
        self.pushes.append((key, value))
        self.xcom[(self.task_id, self.map_index, key)] = value

    def xcom_pull(
        self,
        task_ids: str | Iterable[str] | None = None,
        key: str = "return_value",
        map_indexes: int | Iterable[int] | None = _NOTSET,
        default: Any = None,
        **_: Any,
    ) -> Any:
        single_task = isinstance(task_ids, (str, type(None)))
        tids = [self.task_id] if task_ids is None else [task_ids] if isinstance(task_ids, str) else list(task_ids)
        if map_indexes is _NOTSET:  # every map index, as XCom.get_all does
            values: list[Any] = []
            for tid in tids:
                found = [
                    v for (t, _m, k), v in sorted(self.xcom.items(), key=lambda i: i[0][1]) if (t, k) == (tid, key)
                ]
                values.extend(found or [None])
            return values[0] if single_task and len(values) == 1 else values
        single_index = isinstance(map_indexes, int) or map_indexes is None
        indexes = [map_indexes] if single_index else list(map_indexes)
        values = [self.xcom.get((t, -1 if m is None else m, key), default) for t in tids for m in indexes]
        return values[0] if single_task and single_index else values


class DictStateStore:
    """The ``task_state_store`` accessor's get/set, over a dict (values must be JSON)."""

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        self.data: dict[str, Any] = dict(data or {})

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def set(self, key: str, value: Any, *, retention: Any = None) -> None:
        self.data[key] = json.loads(json.dumps(value))


def outlet_events() -> defaultdict[Any, SimpleNamespace]:
    """A stand-in for ``context["outlet_events"]``: every asset gets an object with an ``extra``."""
    return defaultdict(lambda: SimpleNamespace(extra={}))


def make_context(
    ti: FakeTI | None = None,
    *,
    store: DictStateStore | None = None,
    events: defaultdict[Any, SimpleNamespace] | None = None,
) -> dict[str, Any]:
    context: dict[str, Any] = {"ti": ti or FakeTI()}
    if store is not None:
        context["task_state_store"] = store
    if events is not None:
        context["outlet_events"] = events
    return context


def succeeded(key: str, text: str = "ok") -> ResultRow:
    return ResultRow(key=key, status=RowStatus.SUCCEEDED, text=text, response={"candidates": []})


def failed(key: str, message: str = "bad request") -> ResultRow:
    return ResultRow(key=key, status=RowStatus.FAILED, error=RowError(message=message, code=400))


def canonical_line(key: str, text: str = "hello") -> dict[str, Any]:
    return {"key": key, "request": {"contents": [{"role": "user", "parts": [{"text": text}]}]}}


def write_jsonl(path: Path, lines: Sequence[Mapping[str, Any] | str]) -> Path:
    """Write objects (JSON-encoded) or raw strings, one per line."""
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def capture_log(obj: Any, caplog: pytest.LogCaptureFixture) -> None:
    """Send the log of ``obj`` (an operator or a trigger) to a stdlib logger that caplog sees, from DEBUG up.

    Airflow's task and trigger loggers are structlog's, straight to stdout; caplog cannot see those.
    """
    name = f"genai_batch.tests.{type(obj).__name__}.{id(obj)}"
    setattr(obj, "_log" if isinstance(obj, BaseTrigger) else "_cached_logger", logging.getLogger(name))
    caplog.set_level(logging.DEBUG, logger=name)


def log_messages(caplog: pytest.LogCaptureFixture, level: int = logging.DEBUG) -> list[str]:
    """Every message captured at ``level`` or above, in order."""
    return [record.getMessage() for record in caplog.records if record.levelno >= level]


class FakeSupervisor:
    """Answers the Task SDK's asset-event and task-state lookups from dicts; every message is kept in ``sent``.

    ``asset_events`` maps an asset's (name, uri) to its events as (timestamp, extra), oldest first;
    ``task_states`` is the lookup's answer, ``{run_id: {task_id or task_id_mapindex: state}}``; ``fail``
    makes every lookup answer with an error.
    """

    def __init__(self) -> None:
        self.sent: list[Any] = []
        self.asset_events: dict[tuple[str, str], list[tuple[datetime, dict[str, Any]]]] = defaultdict(list)
        self.task_states: dict[str, dict[str, Any]] = {}
        self.fail = False

    def send(self, msg: Any) -> Any:
        self.sent.append(msg)
        if self.fail:
            return ErrorResponse(detail={"message": "the API server is unavailable"})
        if isinstance(msg, GetAssetEventByAsset):
            return self._asset_events(msg)
        if isinstance(msg, GetTaskStates):
            return TaskStatesResult(task_states=self.task_states)
        raise AssertionError(f"unexpected message to the supervisor: {msg!r}")

    def _asset_events(self, msg: GetAssetEventByAsset) -> AssetEventsResult:
        assert msg.name is not None and msg.uri is not None
        events = [
            AssetEventResponse(
                id=index,
                timestamp=timestamp,
                extra=extra,
                asset=AssetResponse(name=msg.name, uri=msg.uri, group="asset"),
                created_dagruns=[],
            )
            for index, (timestamp, extra) in enumerate(self.asset_events[(msg.name, msg.uri)])
            if msg.after is None or timestamp >= msg.after
        ]
        return AssetEventsResult(asset_events=events if msg.ascending else events[::-1])


MODEL = "gemini-2.5-flash"


def submit_op(input: Any, **kwargs: Any) -> GenAIBatchSubmitOperator:
    """A submit operator on the fake connection, for ``input``, with the test model unless told otherwise."""
    kwargs.setdefault("task_id", "submit")
    kwargs.setdefault("model", MODEL)
    return GenAIBatchSubmitOperator(conn_id=FAKE_CONN_ID, input=input, **kwargs)
