"""Results an earlier job landed in an output directory, moved aside before another job's land there.

A submit that makes a new job writes that job's input keys into its output directory, and the job's
results land there later. When the directory holds another job's landed results (a clear and re-run
after the input changed, ``force_resubmit``, a retry after a failed job, a fixed ``output_uri`` shared by
runs), they are moved whole into ``superseded/<written at>-<job>/`` first. So the directory never pairs
one job's keys with another job's results or manifest, and nothing already produced is lost.
"""

from __future__ import annotations

import re
import shutil
from datetime import datetime, timezone

from airflow.sdk import ObjectStoragePath
from pydantic import ValidationError

from airflow_provider_genai_batch.job_ref import BatchJobRef
from airflow_provider_genai_batch.landing import KEYS_FILE, MANIFEST_FILE, RESULTS_FILE
from airflow_provider_genai_batch.models import ResultsManifest
from airflow_provider_genai_batch.object_files import move_file, remove_file

SUPERSEDED_DIR = "superseded"
"""Where, under an output directory, earlier jobs' landed results are kept."""

COPY_CHUNK = 1 << 20
"""Bytes of a file copied at once."""

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def landed_manifest(directory: ObjectStoragePath) -> ResultsManifest | None:
    """The manifest landed in ``directory``, or None when there is none or it cannot be read."""
    path = directory / MANIFEST_FILE
    if not path.exists():
        return None
    try:
        return ResultsManifest.model_validate_json(path.read_text())
    except (ValidationError, ValueError, OSError):
        return None


def holds_results_of(landed: ResultsManifest, ref: BatchJobRef, directory: ObjectStoragePath) -> bool:
    """Whether ``landed``, the manifest in ``directory``, is of ``ref``'s jobs, with their results still there (or, for
    a job that wrote to a table, named in it)."""
    if landed.job_ref.provider != ref.provider or landed.job_ref.job_names() != ref.job_names():
        return False
    if landed.results_uri is None:
        return landed.output_location is not None
    results = directory / RESULTS_FILE
    return landed.results_uri == str(results) and results.exists()


def landed_by_another(directory: ObjectStoragePath, job_name: str) -> bool:
    """Whether ``directory`` holds a manifest that is not ``job_name``'s (or cannot be read): results another job
    landed there, which :func:`set_aside` moves before this job's results land."""
    if not (directory / MANIFEST_FILE).exists():
        return False
    manifest = landed_manifest(directory)
    return manifest is None or manifest.job_ref.job_name != job_name


def set_aside(
    directory: ObjectStoragePath, keep_job: str | None = None, *, keep_keys: bool = False
) -> ObjectStoragePath | None:
    """Move earlier landed results out of ``directory`` unless they are ``keep_job``'s; returns where they went.

    Landed results are a manifest, or a results file left without one (an interrupted landing). With
    ``keep_job`` (re-attaching to a job, or landing it), a manifest of that job stays, and so does a results
    file without a manifest: that job's landing replaces it. Keys with nothing landed next to them are left for
    the caller to overwrite. With ``keep_keys`` (a landing about to join on the keys file, which is its own and
    the same as the earlier job's) the keys file stays and a copy of it goes with the results.
    """
    manifest_path, results_path = directory / MANIFEST_FILE, directory / RESULTS_FILE
    has_manifest, has_results = manifest_path.exists(), results_path.exists()
    if not has_manifest and (not has_results or keep_job is not None):
        return None
    manifest = landed_manifest(directory) if has_manifest else None
    if manifest is not None and manifest.job_ref.job_name == keep_job:
        return None
    job = manifest.job_ref.job_name if manifest is not None else "unknown-job"
    written = manifest.written_at if manifest is not None else datetime.now(timezone.utc)
    target = directory / SUPERSEDED_DIR / f"{written.strftime('%Y%m%dT%H%M%S%fZ')}-{_path_part(job)}"
    target.mkdir(parents=True, exist_ok=True)
    if manifest is not None:
        moved = {
            field: str(target / value.rsplit("/", 1)[-1])
            for field, value in manifest.model_dump(include=_uri_fields(manifest)).items()
            if _in(directory, value)
        }
        (target / MANIFEST_FILE).write_text(manifest.model_copy(update=moved).model_dump_json(indent=2))
        remove_file(manifest_path)  # before its files move: a manifest in the directory never names a missing file
    elif has_manifest:
        move_file(manifest_path, target / MANIFEST_FILE)
    for name in sorted({RESULTS_FILE, KEYS_FILE, *_files_named_by(manifest, directory)}):
        source = directory / name
        if not source.exists():
            continue
        if name == KEYS_FILE and keep_keys:
            _copy(source, target / name)
        else:
            move_file(source, target / name)
    return target


def _copy(source: ObjectStoragePath, target: ObjectStoragePath) -> None:
    """Copy a file, streamed, on the filesystems of both paths (no lineage: it stays this task's own file)."""
    with source.fs.open(source.path, "rb") as reader, target.fs.open(target.path, "wb") as writer:
        shutil.copyfileobj(reader, writer, COPY_CHUNK)


def _uri_fields(manifest: ResultsManifest) -> set[str]:
    """The manifest's fields that name a landed file (``results_uri``, ``manifest_uri``, ...)."""
    return {name for name in type(manifest).model_fields if name.endswith("_uri")}


def _files_named_by(manifest: ResultsManifest | None, directory: ObjectStoragePath) -> set[str]:
    """The names of the files in ``directory`` that ``manifest`` points at, its own name aside: the landed files it
    names, and the keys files of a group's follow-up rounds (``input_keys.round-<r>.jsonl``)."""
    if manifest is None:
        return set()
    rounds = [part.keys_uri for part in manifest.job_ref.parts or () if part.round > 0]
    values = [*manifest.model_dump(include=_uri_fields(manifest)).values(), *rounds]
    return {value.rsplit("/", 1)[-1] for value in values if _in(directory, value)} - {MANIFEST_FILE}


def _in(directory: ObjectStoragePath, value: object) -> bool:
    """Whether ``value`` is the URI of a file directly in ``directory``."""
    return isinstance(value, str) and "/" in value and value.rsplit("/", 1)[0] == str(directory).rstrip("/")


def _path_part(job_name: str) -> str:
    """A job name as one safe path segment: its last segment (``batches/abc`` -> ``abc``), unsafe runs as ``_``."""
    return _UNSAFE.sub("_", job_name.rstrip("/").rsplit("/", 1)[-1]) or "job"
