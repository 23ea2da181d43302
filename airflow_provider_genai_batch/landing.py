"""Landing a finished job's results on storage: one normalised row per input key, then a manifest.

Rows stream from the provider to an ``ObjectStoragePath``; memory holds only the set of keys seen.
The manifest is written last and only ever names a complete results file: an earlier manifest is
removed before its results are rewritten, results go to a temporary name first, and the manifest
itself is written under a temporary name and renamed into place.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime, timezone

from airflow.sdk import ObjectStoragePath

from airflow_provider_genai_batch.formats.keys import key_line, read_key_line
from airflow_provider_genai_batch.formats.results import ResultRow, RowError, RowStatus, encode_row
from airflow_provider_genai_batch.job_ref import BatchJobRef
from airflow_provider_genai_batch.models import BatchJob, JobState, ResultCounts, ResultsManifest

RESULTS_FILE = "results.jsonl"
MANIFEST_FILE = "manifest.json"
KEYS_FILE = "input_keys.jsonl"

_UNANSWERED_STATUS = {JobState.CANCELLED: RowStatus.CANCELLED, JobState.EXPIRED: RowStatus.EXPIRED}


def output_dir(uri: str) -> ObjectStoragePath:
    """The results directory for a URI or local path, created if needed."""
    path = ObjectStoragePath(uri)
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_keys(directory: ObjectStoragePath, keys: Iterable[str]) -> ObjectStoragePath:
    """Write the input keys, one per line, so a later join can name every key that got no result."""
    target = directory / KEYS_FILE
    with target.open("wb") as sink:
        for key in keys:
            sink.write(key_line(key))
    return target


def iter_keys(uri: str) -> Iterator[str]:
    """Input keys written by :func:`write_keys`, streamed."""
    with ObjectStoragePath(uri).open("rb") as source:
        for line in source:
            if line.strip():
                yield read_key_line(line)


def original_keys(keys_uri: str, provider_key: Callable[[str], str]) -> dict[str, str]:
    """Provider id -> input key, for the keys a provider could not carry as they were."""
    return {provider_key(key): key for key in iter_keys(keys_uri) if provider_key(key) != key}


def join_rows(
    rows: Iterable[ResultRow],
    job: BatchJob,
    input_keys: Iterable[str] | None,
    expected: int,
    counts: ResultCounts,
    renamed: Mapping[str, str] | None = None,
) -> Iterator[ResultRow]:
    """Rows joined on key: each input key once, unanswered keys added (``missing``, or cancelled/expired).

    ``renamed`` maps provider ids back to input keys. ``counts`` is filled in as rows pass. Without
    ``input_keys``, rows the provider never returned can only be counted (up to ``expected``, the input
    count), not written.
    """
    seen: set[str] = set()
    for row in rows:
        if renamed and row.key is not None and row.key in renamed:
            row.key = renamed[row.key]
        if row.key is not None:
            if row.key in seen:
                continue
            seen.add(row.key)
        _count(counts, row.status)
        yield row
    unanswered = _UNANSWERED_STATUS.get(job.state, RowStatus.MISSING)
    if input_keys is not None:
        for key in input_keys:
            if key not in seen:
                seen.add(key)
                _count(counts, unanswered)
                yield ResultRow(key=key, status=unanswered, error=RowError(message=_unanswered_reason(job)))
    rows_total = counts.succeeded + counts.failed + counts.cancelled + counts.expired + counts.missing
    if expected > rows_total:
        setattr(counts, unanswered.value, getattr(counts, unanswered.value) + expected - rows_total)
    counts.total = counts.succeeded + counts.failed + counts.cancelled + counts.expired + counts.missing


def land_results(
    rows: Iterable[ResultRow],
    job: BatchJob,
    ref: BatchJobRef,
    directory: ObjectStoragePath,
    provider_key: Callable[[str], str] = str,
) -> ResultsManifest:
    """Stream joined rows to ``results.jsonl`` under ``directory`` and write ``manifest.json`` after it.

    ``provider_key`` is how the provider renamed keys (see ``BatchHook.provider_key``); rows get their
    input keys back.
    """
    manifest_path = directory / MANIFEST_FILE
    results_path = directory / RESULTS_FILE
    if manifest_path.exists():
        manifest_path.unlink()
    for stale in (*directory.glob(f".{RESULTS_FILE}.*.partial"), *directory.glob(f".{MANIFEST_FILE}.*.partial")):
        stale.unlink()  # left by an attempt that was killed outright
    counts = ResultCounts()
    input_keys = iter_keys(ref.keys_uri) if ref.keys_uri else None
    renamed = original_keys(ref.keys_uri, provider_key) if ref.keys_uri else None
    partial = directory / f".{RESULTS_FILE}.{uuid.uuid4().hex}.partial"
    try:
        with partial.open("wb") as sink:
            for row in join_rows(rows, job, input_keys, ref.request_count or job.stats.total, counts, renamed):
                sink.write(encode_row(row))
        partial.rename(results_path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    manifest = ResultsManifest(
        job_ref=ref,
        state=job.state,
        provider_state=job.provider_state,
        error_message=job.error_message,
        counts=counts,
        results_uri=str(results_path),
        manifest_uri=str(manifest_path),
        written_at=datetime.now(timezone.utc),
    )
    staged = directory / f".{MANIFEST_FILE}.{uuid.uuid4().hex}.partial"
    staged.write_text(manifest.model_dump_json(indent=2))
    staged.rename(manifest_path)
    return manifest


def redacted_job(job: BatchJob, redact: Callable[[str], str]) -> BatchJob:
    """The job with any secret removed from the provider's error message (it lands in the manifest)."""
    if job.error_message is None:
        return job
    return job.model_copy(update={"error_message": redact(job.error_message)})


def redacted_row(row: ResultRow, redact: Callable[[str], str]) -> ResultRow:
    """The row with any secret removed from its error message."""
    if row.error is not None:
        row.error.message = redact(row.error.message)
    return row


def _count(counts: ResultCounts, status: RowStatus) -> None:
    setattr(counts, status.value, getattr(counts, status.value) + 1)


def _unanswered_reason(job: BatchJob) -> str:
    if job.state is JobState.CANCELLED:
        return "the job was cancelled before this request ran"
    if job.state is JobState.EXPIRED:
        return "the job expired before this request ran"
    return "no result returned for this key"
