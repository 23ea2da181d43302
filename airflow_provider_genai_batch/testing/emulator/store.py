"""The emulator's in-memory registry of files, upload sessions and batch jobs, with file bytes on disk.

Nothing here knows a wire format: provider routers render records their own way and hand the store a
`Materialiser` that turns a finished job's input into results. Jobs advance lazily, from elapsed time;
results are produced once, on the first observation of completion, streaming line by line from disk
to disk so that memory does not grow with the input size.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import os
import shutil
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol, TypedDict, TypeVar

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from airflow_provider_genai_batch.testing.emulator import responses
from airflow_provider_genai_batch.testing.emulator.bigquery.tables import BigQueryTables
from airflow_provider_genai_batch.testing.emulator.common import random_token
from airflow_provider_genai_batch.testing.emulator.config import EmulatorConfig, JobOutcome

FILE_TTL_SECONDS = 48 * 3600
MATERIALISE_WAIT_SECONDS = 1.0
"""How long an observer waits for results before reporting the job as still running."""
REQUEST_LOG_LIMIT = 10_000

JobKind = Literal["generate", "embed"]
FileSource = Literal["UPLOADED", "GENERATED"]


class Phase(str, enum.Enum):
    """Provider-neutral job phase; routers map it onto their own state names."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"

    @property
    def is_terminal(self) -> bool:
        """True once the job can no longer change."""
        return self not in (Phase.PENDING, Phase.RUNNING)


OUTCOME_PHASES: dict[JobOutcome, Phase] = {
    "succeed": Phase.SUCCEEDED,
    "fail": Phase.FAILED,
    "expire": Phase.EXPIRED,
    "fail_rows": Phase.SUCCEEDED,  # every row fails: see responses.failing_rows
}


@dataclass
class StoredFile:
    """A file whose bytes live on disk; `file_id` is the part of the name after the provider prefix."""

    provider: str
    file_id: str
    display_name: str | None
    mime_type: str
    size_bytes: int
    sha256: bytes
    created: float
    source: FileSource
    path: Path
    seq: int = 0

    @property
    def expires(self) -> float:
        """Files are deleted 48 hours after creation (not enforced, only reported)."""
        return self.created + FILE_TTL_SECONDS


def generated_file(
    provider: str, file_id: str, path: Path, mime_type: str, size_bytes: int, sha256: bytes
) -> StoredFile:
    """The record of a results file a job has just written to `path` (unregistered: the store adds it)."""
    return StoredFile(
        provider=provider,
        file_id=file_id,
        display_name=None,
        mime_type=mime_type,
        size_bytes=size_bytes,
        sha256=sha256,
        created=time.time(),
        source="GENERATED",
        path=path,
    )


@dataclass
class UploadSession:
    """A resumable upload in progress: the declared size, the bytes received so far and their hash."""

    provider: str
    upload_id: str
    file_id: str | None
    display_name: str | None
    mime_type: str
    declared_size: int | None
    path: Path
    received: int = 0
    hasher: Any = field(default_factory=hashlib.sha256)
    in_flight: bool = False
    final_file: StoredFile | None = None


@dataclass
class JobResults:
    """What a finished job produced: counts, and either a generated file or provider-rendered inline rows."""

    succeeded: int
    failed: int
    file: StoredFile | None = None
    inline: list[dict[str, Any]] | None = None
    ready_at: float = 0.0


class Materialiser(Protocol):
    """Turns a job whose running time is over into its results (called once, off the event loop)."""

    def __call__(self, job: JobRecord, store: Store) -> JobResults:
        """Produce the job's results; a generated file is returned unregistered, the store registers it."""
        ...


@dataclass
class JobRecord:
    """A batch job as the store knows it; its phase is computed from the time elapsed since creation."""

    provider: str
    job_id: str
    name: str
    kind: JobKind
    model: str
    display_name: str | None
    input_file: str | None
    input_path: Path | None
    inline_requests: list[dict[str, Any]] | None
    request_count: int
    created: float
    pending_seconds: float
    running_seconds: float
    outcome: JobOutcome
    materialiser: Materialiser
    state_name: Callable[[JobRecord, Phase], str]
    """The job's state in its provider's words, for /_emulator/jobs (it may depend on more than the phase)."""
    extra: dict[str, Any] = field(default_factory=dict)
    seq: int = 0
    cancelled_at: float | None = None
    deleted: bool = False
    results: JobResults | None = None
    failure: str | None = None
    worker: threading.Thread | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def running_at(self) -> float:
        """When the job leaves PENDING."""
        return self.created + self.pending_seconds

    @property
    def timer_end(self) -> float:
        """When the job's running time is over."""
        return self.running_at + self.running_seconds

    def timer_phase(self, now: float) -> Phase:
        """The phase implied by the clock alone, before results are known to exist."""
        if self.cancelled_at is not None:
            return Phase.CANCELLED
        if self.outcome == "stuck":
            return Phase.PENDING
        if now < self.running_at:
            return Phase.PENDING
        if now < self.timer_end:
            return Phase.RUNNING
        return OUTCOME_PHASES[self.outcome]

    def end_time(self, phase: Phase) -> float | None:
        """When the job reached its terminal phase, or None while it is still going."""
        if phase is Phase.CANCELLED:
            return self.cancelled_at
        if phase is Phase.SUCCEEDED and self.results is not None:
            return max(self.timer_end, self.results.ready_at)
        if phase.is_terminal:
            return self.timer_end
        return None

    def update_time(self, phase: Phase) -> float:
        """When the job last changed phase."""
        end = self.end_time(phase)
        if end is not None:
            return end
        return self.running_at if phase is Phase.RUNNING else self.created


class JobClock(TypedDict):
    """The timing fields of a new JobRecord, taken from the config in force when it is created."""

    created: float
    pending_seconds: float
    running_seconds: float
    outcome: JobOutcome


def job_clock(config: EmulatorConfig, *, invalid: bool = False) -> JobClock:
    """Start a job's clock now; an `invalid` job (its input failed validation) fails as soon as it leaves PENDING."""
    return JobClock(
        created=time.time(),
        pending_seconds=config.pending_seconds,
        running_seconds=0.0 if invalid else config.running_seconds,
        outcome="fail" if invalid else config.job_outcome,
    )


def produce_results(job: JobRecord, produce: Callable[[], JobResults]) -> JobResults | None:
    """Run `produce` for a job, failing every row of a "fail_rows" job; a crash becomes the job's failure (None)."""
    try:
        with responses.failing_rows(job.outcome == "fail_rows"):
            results = produce()
    except Exception as exc:
        with job.lock:
            job.failure = f"The emulator failed to produce results: {exc!r}"
        return None
    results.ready_at = time.time()
    return results


T = TypeVar("T", StoredFile, JobRecord)


@dataclass(frozen=True)
class Page:
    """One page of a listing, newest first, with the token of the next page when there is one."""

    items: list[Any]
    next_token: str | None


def encode_page_token(seq: int, listing: str) -> str:
    """Make an opaque token that resumes ``listing`` (a collection and the filters it was asked with) after the
    item with this sequence number."""
    return base64.urlsafe_b64encode(f"{listing}\n{seq}".encode()).decode().rstrip("=")


def decode_page_token(token: str, listing: str) -> int:
    """Read a page token back; raise ValueError when it was not made by `encode_page_token` for this same listing
    (a token from another collection, or from the same one asked with other filters, resumes nothing here)."""
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError(f"Invalid page token: {token!r}") from exc
    made_for, _, number = text.rpartition("\n")
    if made_for != listing or not number.isdigit():
        raise ValueError(f"Invalid page token: {token!r}")
    return int(number)


def paginate(items: Sequence[T], page_size: int, page_token: str | None, listing: str) -> Page:
    """Slice items (sorted newest first) into a page; never hands out a token for an empty next page."""
    start = 0
    if page_token:
        after = decode_page_token(page_token, listing)
        start = next((i for i, item in enumerate(items) if item.seq < after), len(items))
    chunk = list(items[start : start + page_size])
    more = start + page_size < len(items)
    return Page(items=chunk, next_token=encode_page_token(chunk[-1].seq, listing) if more and chunk else None)


def iter_lines(path: Path) -> Iterator[bytes]:
    """Yield the non-blank lines of a file one at a time, without their line endings."""
    with path.open("rb") as handle:
        for line in handle:
            stripped = line.strip()
            if stripped:
                yield stripped


def cut_short(path: Path, lost: int) -> tuple[int, Any]:
    """Drop the last ``lost`` bytes of the file at ``path`` (an upload stored short, a fault); its size after and a
    sha256 hasher over the bytes it keeps."""
    hasher = hashlib.sha256()
    with path.open("r+b") as handle:
        size = max(handle.seek(0, os.SEEK_END) - lost, 0)
        handle.truncate(size)
        handle.seek(0)
        while piece := handle.read(1 << 20):
            hasher.update(piece)
    return size, hasher


def count_lines(path: Path) -> int:
    """Count the non-blank lines of a file by streaming it."""
    return sum(1 for _ in iter_lines(path))


class LineWriter:
    """Writes JSON lines to a file while tracking their size and sha256, for a generated file record."""

    def __init__(self, path: Path) -> None:
        """Open the destination for writing."""
        self.path = path
        self._handle = path.open("wb")
        self._hasher = hashlib.sha256()
        self.size = 0

    def write(self, line: bytes) -> None:
        """Append one line (a newline is added)."""
        data = line + b"\n"
        self._handle.write(data)
        self._hasher.update(data)
        self.size += len(data)

    def close(self) -> bytes:
        """Close the file and return its sha256 digest."""
        self._handle.close()
        return self._hasher.digest()

    def __enter__(self) -> LineWriter:
        """Return the open writer."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Close the file."""
        self.close()


class Store:
    """Thread-safe registry of files, upload sessions and jobs; file bytes live under a data directory."""

    def __init__(self, data_dir: Path | None = None) -> None:
        """Use data_dir for file bytes, or a private temporary directory removed by `close`."""
        self._tmp = None if data_dir is not None else tempfile.TemporaryDirectory(prefix="genai-emulator-")
        self.root = Path(data_dir) if data_dir is not None else Path(self._tmp.name)  # type: ignore[union-attr]
        self._lock = threading.RLock()
        self._seq = 0
        self.files: dict[tuple[str, str], StoredFile] = {}
        self.uploads: dict[str, UploadSession] = {}
        self.jobs: dict[str, JobRecord] = {}
        self._make_dirs()

    def _make_dirs(self) -> None:
        """Create the sub-directories for uploads, stored files and job inputs/outputs."""
        for sub in ("uploads", "files", "jobs"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    def next_seq(self) -> int:
        """A strictly increasing number used to order records and page through them."""
        with self._lock:
            self._seq += 1
            return self._seq

    def reset(self) -> None:
        """Forget every record and delete every byte written so far."""
        with self._lock:
            self.files.clear()
            self.uploads.clear()
            self.jobs.clear()
            for sub in ("uploads", "files", "jobs"):
                shutil.rmtree(self.root / sub, ignore_errors=True)
            self._make_dirs()

    def close(self) -> None:
        """Remove the temporary data directory, if the store created one."""
        if self._tmp is not None:
            self._tmp.cleanup()

    # Files and uploads

    def open_upload(
        self,
        provider: str,
        file_id: str | None,
        display_name: str | None,
        mime_type: str,
        declared_size: int | None,
    ) -> UploadSession:
        """Start a resumable upload session whose bytes accumulate in a fresh file on disk."""
        upload_id = random_token(32)
        path = self.root / "uploads" / upload_id
        path.touch()
        session = UploadSession(
            provider=provider,
            upload_id=upload_id,
            file_id=file_id,
            display_name=display_name,
            mime_type=mime_type,
            declared_size=declared_size,
            path=path,
        )
        with self._lock:
            self.uploads[upload_id] = session
        return session

    def get_upload(self, upload_id: str) -> UploadSession | None:
        """Look an upload session up by id."""
        with self._lock:
            return self.uploads.get(upload_id)

    def file_exists(self, provider: str, file_id: str) -> bool:
        """True when a live file with this id exists."""
        with self._lock:
            return (provider, file_id) in self.files

    def finish_upload(self, session: UploadSession, file_id: str) -> StoredFile:
        """Turn a complete upload into a stored file; raise KeyError if the id was taken meanwhile."""
        path = self.file_path(session.provider, file_id)
        record = StoredFile(
            provider=session.provider,
            file_id=file_id,
            display_name=session.display_name,
            mime_type=session.mime_type,
            size_bytes=session.received,
            sha256=session.hasher.digest(),
            created=time.time(),
            source="UPLOADED",
            path=path,
        )
        with self._lock:
            if (session.provider, file_id) in self.files:
                raise KeyError(file_id)
            os.replace(session.path, path)
            record.seq = self.next_seq()
            self.files[(session.provider, file_id)] = record
            session.final_file = record
        return record

    def add_file(self, record: StoredFile) -> StoredFile:
        """Register a file whose bytes are already at `record.path` (generated results)."""
        with self._lock:
            record.seq = self.next_seq()
            self.files[(record.provider, record.file_id)] = record
        return record

    def get_file(self, provider: str, file_id: str) -> StoredFile | None:
        """Look a file up by provider and id."""
        with self._lock:
            return self.files.get((provider, file_id))

    def list_files(self, provider: str) -> list[StoredFile]:
        """All of a provider's files, newest first."""
        with self._lock:
            records = [f for (p, _), f in self.files.items() if p == provider]
        return sorted(records, key=lambda f: f.seq, reverse=True)

    def delete_file(self, provider: str, file_id: str) -> bool:
        """Forget a file and delete its bytes; False when there was no such file."""
        with self._lock:
            record = self.files.pop((provider, file_id), None)
        if record is None:
            return False
        record.path.unlink(missing_ok=True)
        return True

    def file_path(self, provider: str, file_id: str) -> Path:
        """Where the bytes of a stored file live."""
        return self.root / "files" / f"{provider}-{file_id}"

    def job_path(self, job_id: str, suffix: str) -> Path:
        """Where a job keeps its private files (its input snapshot, its output)."""
        return self.root / "jobs" / f"{job_id}.{suffix}"

    def snapshot_input(self, source: StoredFile, job_id: str) -> Path:
        """Pin a job's input bytes (hard link, else copy) so deleting the input file later is harmless."""
        target = self.job_path(job_id, "input")
        try:
            os.link(source.path, target)
        except OSError:
            shutil.copyfile(source.path, target)
        return target

    # Jobs

    def add_job(self, job: JobRecord) -> JobRecord:
        """Register a new job."""
        with self._lock:
            job.seq = self.next_seq()
            self.jobs[job.name] = job
        return job

    def get_job(self, name: str, provider: str | None = None) -> JobRecord | None:
        """A job that has not been deleted, by its provider-rendered name (and of that provider, when given)."""
        with self._lock:
            job = self.jobs.get(name)
        if job is None or job.deleted or (provider is not None and job.provider != provider):
            return None
        return job

    def list_jobs(self, provider: str | None = None, *, include_deleted: bool = False) -> list[JobRecord]:
        """Jobs, newest first, optionally of one provider only."""
        with self._lock:
            records = [
                j
                for j in self.jobs.values()
                if (provider is None or j.provider == provider) and (include_deleted or not j.deleted)
            ]
        return sorted(records, key=lambda j: j.seq, reverse=True)

    def observe(self, job: JobRecord, now: float | None = None) -> Phase:
        """The job's phase now; on the first sight of success, produce its results (waiting briefly)."""
        now = time.time() if now is None else now
        phase = job.timer_phase(now)
        if phase is not Phase.SUCCEEDED:
            return phase
        with job.lock:
            if job.failure is not None:
                return Phase.FAILED
            if job.results is not None:
                return Phase.SUCCEEDED
            if job.worker is None:
                job.worker = threading.Thread(
                    target=self._materialise, args=(job,), name=f"materialise-{job.job_id}", daemon=True
                )
                job.worker.start()
            worker = job.worker
        worker.join(timeout=MATERIALISE_WAIT_SECONDS)
        with job.lock:
            if job.cancelled_at is not None:
                return Phase.CANCELLED
            if job.failure is not None:
                return Phase.FAILED
            return Phase.SUCCEEDED if job.results is not None else Phase.RUNNING

    def _materialise(self, job: JobRecord) -> None:
        """Run the job's materialiser once and record its results (or the failure that stopped it)."""
        results = produce_results(job, lambda: job.materialiser(job, self))
        if results is None:
            return
        with job.lock:
            if job.cancelled_at is not None:
                if results.file is not None:
                    results.file.path.unlink(missing_ok=True)
                return
            if results.file is not None:
                self.add_file(results.file)
            job.results = results

    def cancel_job(self, job: JobRecord) -> bool:
        """Cancel a job still pending or running; False when it had already ended."""
        phase = self.observe(job)
        with job.lock:
            if phase.is_terminal or job.results is not None:
                return False
            job.cancelled_at = time.time()
        return True

    def delete_job(self, job: JobRecord) -> None:
        """Hide a job from the API (it stays in the control-plane history)."""
        with job.lock:
            job.deleted = True


@dataclass
class EmulatorState:
    """Everything the routers share: the live config, the launch config, the store, the BigQuery stand-in's
    tables and the request log."""

    config: EmulatorConfig
    initial_config: EmulatorConfig
    store: Store
    request_log: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=REQUEST_LOG_LIMIT))
    bigquery: BigQueryTables = field(default_factory=BigQueryTables)

    @classmethod
    def create(cls, config: EmulatorConfig) -> EmulatorState:
        """Build the shared state for a freshly configured emulator."""
        return cls(config=config, initial_config=config.model_copy(), store=Store(config.data_dir))

    def reset(self) -> None:
        """Back to launch conditions: launch config, no files, no jobs, no BigQuery tables, empty request log."""
        self.config = self.initial_config.model_copy()
        self.store.reset()
        self.bigquery.clear()
        self.request_log.clear()


async def emulator_state(request: Request) -> EmulatorState:
    """FastAPI dependency returning the shared emulator state of the app serving the request (async: a plain
    function dependency would be run in a worker thread on every request)."""
    state: EmulatorState = request.app.state.emulator
    return state


def materialise_lines(
    job: JobRecord,
    out_path: Path,
    transform: Callable[[int, bytes], tuple[bytes, bool]],
) -> tuple[int, int, int, bytes]:
    """Stream a job's input lines (numbered from 1) through `transform` into out_path.

    Returns (succeeded rows, failed rows, bytes written, sha256 digest).
    """
    if job.input_path is None:
        raise ValueError(f"job {job.name} has no input file")
    writer = LineWriter(out_path)
    succeeded = failed = 0
    try:
        for number, line in enumerate(iter_lines(job.input_path), start=1):
            rendered, ok = transform(number, line)
            writer.write(rendered)
            if ok:
                succeeded += 1
            else:
                failed += 1
    finally:
        digest = writer.close()
    return succeeded, failed, writer.size, digest


async def current_phase(store: Store, job: JobRecord) -> Phase:
    """``store.observe(job)``, read in the event loop while the job's clock says pending or running (observing then
    neither produces results nor waits for them), in a worker thread otherwise, where it may wait for results."""
    phase = job.timer_phase(time.time())
    if phase is Phase.PENDING or phase is Phase.RUNNING:
        return phase
    return await run_in_threadpool(store.observe, job)


StateDep = Annotated[EmulatorState, Depends(emulator_state)]
"""Handler parameter type that injects the shared emulator state."""
