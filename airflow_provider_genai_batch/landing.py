"""Landing a finished job's results on storage: one normalised row per input key, in input order, then a manifest.

Providers mostly return rows in input order, so rows are first streamed straight into the results while
each one answers the next input key (read from the keys file in step, under its provider id). The first
row that does not (out of order, unknown, repeated, without a key, past the last key), or input keys that
turn out not to be distinct, ends that: everything is landed again by the join below, the rows already
written read back from the partial results file, so the files are exactly what the join alone writes.

The join runs on disk, so memory stays flat whatever the row count (see :mod:`~.landing_join`): each result
row's line is spooled to a file in the temporary directory as it streams in, the rows and the input keys (and
the provider ids of keys a provider renamed) are matched bucket by bucket of their hashes, and the rows are
read back by input position, range by range. A row without a key that carries its index in output
following the input order (Gemini's inline responses, see ``ResultRow.position``) is placed at the input
key of that index, with one warning saying how many were. Rows that join no input key (a key never
submitted, or neither key nor index) are written to ``unmatched.jsonl``, so the results hold exactly one
row per input key. The join's scratch space is about the size of the results plus the keys file and about
30 bytes per key and per row (streaming in order needs 8 to 16 bytes per key); it is removed at the end, and
the scratch space of a landing whose process was killed outright is removed by the next landing.

Duplicate rule, for two or more rows with one key: a success beats any other outcome, any readable
outcome beats a line that could not be read, and otherwise the row the provider returned first wins. The
winner is chosen only once every row is staged, so a success that arrives last still wins. The rows that
lost go to ``duplicates.jsonl``.

The manifest is written last and only ever names complete files: every file is written under a temporary
name, an earlier manifest is removed only once they are complete (so a landing that fails while it reads the
results, say because the provider no longer has them, leaves the earlier landing whole), then they are renamed
into place, and the manifest itself is written under a temporary name and renamed.

A key no row answered lands as cancelled or expired when its job was, else missing; a landing of several jobs
into one file gives that outcome per input position instead (``unanswered``: each key gets its own job's).

A job whose output went to a table (:func:`writes_table`) is not landed row by row unless asked:
:func:`land_counts` writes only the manifest, naming the table and the counts the provider reported.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from itertools import chain, islice
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

import msgspec
from airflow.sdk import ObjectStoragePath, get_current_context
from airflow.sdk.lineage import get_hook_lineage_collector

from airflow_provider_genai_batch.errors import GenAIBatchError
from airflow_provider_genai_batch.filesystems import OBJECT_STORE_SCHEMES
from airflow_provider_genai_batch.formats.keys import key_line, read_key_line
from airflow_provider_genai_batch.formats.results import (
    UNPARSEABLE,
    ResultRow,
    RowError,
    RowStatus,
    append_line,
    encode_key,
    encode_row,
    rekeyed,
)
from airflow_provider_genai_batch.job_ref import BatchJobRef
from airflow_provider_genai_batch.key_index import DistinctCheck
from airflow_provider_genai_batch.landing_join import STATUS_CODES, WRITE_CHUNK, DiskJoin, Entry
from airflow_provider_genai_batch.models import (
    BatchJob,
    CostEstimate,
    JobState,
    ResultCounts,
    ResultsManifest,
    UsageSummary,
)
from airflow_provider_genai_batch.object_files import files_matching, move_file, remove_file
from airflow_provider_genai_batch.spec import is_table_uri

log = logging.getLogger(__name__)

RESULTS_FILE = "results.jsonl"
MANIFEST_FILE = "manifest.json"
KEYS_FILE = "input_keys.jsonl"
UNMATCHED_FILE = "unmatched.jsonl"
DUPLICATES_FILE = "duplicates.jsonl"

SCRATCH_PREFIX = "genai-batch-landing-"
"""Scratch directories in the temporary directory are named ``<prefix><pid>-<random>``."""

KEYS_BLOCK = 1 << 16
"""Bytes of a keys file read and decoded at once."""

_UNANSWERED_STATUS = {JobState.CANCELLED: RowStatus.CANCELLED, JobState.EXPIRED: RowStatus.EXPIRED}

Unanswered = Callable[[int], tuple[RowStatus, str]]
"""The status and reason a key no row answered lands with, by the key's position (from 1) in the keys file."""


@dataclass(frozen=True)
class LandedFiles:
    """What :func:`land_files` wrote: the counts and the URIs of the files (None for a file not written)."""

    counts: ResultCounts
    results_uri: str
    unmatched_uri: str | None
    duplicates_uri: str | None


S3_SCHEMES = frozenset({"s3", "s3a", "s3n"})
"""The schemes whose paths the S3 filesystem (s3fs) reads."""
S3_VERSION_MARK = "?versionId="
"""What s3fs reads, anywhere in a key, as the start of an object version: the key is cut there."""


def check_output_uri(uri: str | None) -> None:
    """``uri`` as rendered, refused before anything is uploaded or waited on unless it names one place every
    worker reaches: empty (a template that rendered nothing), surrounded by whitespace, a relative local path
    (or ``~``, which is not expanded: each worker would resolve it against its own working directory, so the
    results land where no later task finds them), a ``file://`` URI with a host (``file://tmp/x`` is read as
    ``tmp/x``, relative, and so is ``file://localhost/x``), or another URI without a bucket (``s3://``,
    ``s3:///prefix``: the first is read as bucket ``s3:``, the second refused only once the job ended). Any other
    ``?`` or ``#`` is part of the path as written; an S3 path holding ``?versionId=`` is refused, as s3fs cuts the
    key there."""
    text = uri or ""
    problem = None
    if not text.strip():
        problem = "is empty (a template that rendered nothing?)"
    elif text != text.strip():
        problem = "begins or ends with whitespace (a template's newline?), which would be part of the path"
    else:
        parts = urlsplit(text)
        scheme = parts.scheme.lower() if "://" in text else ""
        if scheme == "file" and parts.netloc:
            problem = f"names the host {parts.netloc!r}: a local file URI has three slashes (file:///path)"
        elif not scheme and text.startswith("~"):
            problem = "starts with '~', which is not expanded"
        elif scheme in ("", "file") and not (parts.path if scheme else text).startswith("/"):
            problem = "is a relative path, which each worker resolves against its own working directory"
        elif scheme not in ("", "file") and not parts.hostname:
            problem = f"names no bucket or host after {scheme}://"
    if problem is not None:
        raise GenAIBatchError(
            f"output_uri {uri!r} {problem}; give an absolute path or a URI (file:///..., s3://..., gs://...)"
        )
    if text.partition("://")[0].lower() in S3_SCHEMES and S3_VERSION_MARK in text:
        raise GenAIBatchError(
            f"output_uri {uri!r} holds {S3_VERSION_MARK!r}, which the S3 filesystem reads as an object version and "
            "cuts from the key with all that follows: the results would not land under the path as written; name "
            "the directory without it"
        )


def output_dir(uri: str) -> ObjectStoragePath:
    """The results directory for a URI or local path, created if needed.

    On an object store (:data:`~.filesystems.OBJECT_STORE_SCHEMES`) nothing is created: a prefix needs no creating,
    and a bucket that does not exist (a typo) must fail the first write, not be made by it. A plain local path is
    made absolute as the filesystem resolves it for reads and writes (``~`` the home directory, which ``mkdir`` alone
    took literally; a relative path against the working directory), so the URIs the job ref and the manifest record
    name the files for whoever reads them, from whatever directory. One that names a file, or lies under one, or
    cannot be created, is refused naming ``uri`` (the submit makes it before anything is uploaded).
    """
    path = ObjectStoragePath(uri)
    if path.protocol in OBJECT_STORE_SCHEMES:
        return path
    if not path.protocol:
        path = ObjectStoragePath(os.path.abspath(os.path.expanduser(path.path)))
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        if isinstance(err, FileExistsError):
            problem = f"names the file {path}, not a directory"
        elif isinstance(err, NotADirectoryError):
            problem = f"lies under a file, not a directory ({path})"
        else:
            problem = f"cannot be created as a directory ({type(err).__name__}: {err})"
        raise GenAIBatchError(f"output_uri {uri!r} {problem}: results land in a directory there") from err
    return path


@dataclass(frozen=True)
class KeysFile:
    """A keys file :func:`write_keys` wrote: its URI and the sha256 of its bytes, which the job ref keeps
    (``keys_digest``) so that landing can tell it from keys another submit wrote there since."""

    uri: str
    digest: str


def write_keys(
    directory: ObjectStoragePath, keys: Iterable[str], name: str = KEYS_FILE, owner: str = "submit"
) -> KeysFile:
    """Write the input keys (or a follow-up round's, under its own ``name``), one per line, so a later join can
    name every key that got no result.

    They are written under a temporary name and moved into place as landing moves its files (:class:`OutputFile`):
    at submit, before anything is uploaded, this asks of the results directory all that landing will (on object
    storage: to write, read, copy and delete objects there), so a place results could not land in fails first. The
    temporary name holds ``owner`` (the submit task's :func:`partial_tag`): the temporaries an earlier try of that
    task left when it was killed are removed first (:func:`remove_partials`).
    """
    remove_partials(directory, name, owner)
    output = OutputFile(directory / name, owner)
    digest = hashlib.sha256()
    try:
        output.open()
        for key in keys:
            line = key_line(key)
            digest.update(line)
            output.write(line)
        if output.vanished():
            raise GenAIBatchError(
                f"another try of this task removed the unfinished {output.path} while this one wrote it (a task "
                "cleared while a zombie of it still ran, say): that try writes the keys, and nothing was submitted here"
            )
        output.commit()
    except BaseException as err:
        with suppress(OSError):  # the store that refused the file may refuse removing it too
            output.discard()
        if isinstance(err, OSError):
            raise GenAIBatchError(
                f"cannot write {output.path} ({type(err).__name__}: {err}): the results directory must exist (its "
                "bucket, on object storage) and the connection must be allowed to write, read and delete files "
                "there, as landing moves its files into place"
            ) from err
        raise
    return KeysFile(str(output.path), digest.hexdigest())


def check_keys_file(ref: BatchJobRef) -> None:
    """Raise, before anything is landed, when the keys file is no longer the one ``ref``'s job was submitted with.

    The keys file sits at a fixed name under ``output_uri``, so a submit of another job into the same directory
    (another DAG run's, while this job still ran) writes its own keys there; joined against those, this job's
    rows would land as unmatched and its keys as missing. A ref without ``keys_digest`` (made before it was
    recorded) is not checked.
    """
    if ref.keys_uri is None or ref.keys_digest is None:
        return
    problem = keys_problem(ref.keys_uri, ref.keys_digest)
    if problem is KeysProblem.GONE:
        raise GenAIBatchError(
            f"the keys file {ref.keys_uri} that {ref.job_name} was submitted with is gone (moved aside or deleted "
            f"since): its results cannot be joined on key, so nothing was landed{_OWN_OUTPUT_URI}"
        )
    if problem is KeysProblem.CHANGED:
        raise GenAIBatchError(
            f"the keys file {ref.keys_uri} no longer holds the keys {ref.job_name} was submitted with: another job's "
            "submit into the same output_uri (another DAG run's, say) wrote its own there since, so nothing was "
            f"landed{_OWN_OUTPUT_URI}"
        )


class KeysProblem(Enum):
    """What is wrong with a keys file a job was sent with: gone, or holding other keys."""

    GONE = "gone"
    CHANGED = "changed"


def keys_problem(uri: str, digest: str) -> KeysProblem | None:
    """Whether the keys file at ``uri`` is gone or no longer has the sha256 ``digest`` it was written with."""
    found = file_digest(uri)
    if found is None:
        return KeysProblem.GONE
    return None if found == digest else KeysProblem.CHANGED


def file_digest(uri: str) -> str | None:
    """The sha256 of the file at ``uri``, read in blocks; None when there is no such file."""
    path = ObjectStoragePath(uri)
    found = hashlib.sha256()
    try:
        with path.fs.open(path.path, "rb") as source:
            while block := source.read(KEYS_BLOCK):
                found.update(block)
    except FileNotFoundError:
        return None
    return found.hexdigest()


_OWN_OUTPUT_URI = (
    "; give each run an output_uri of its own (e.g. templated with {{ run_id }}), then clear this run's submit task: "
    "it re-attaches to the job, paying nothing again, and writes its keys there"
)


def iter_keys(uri: str) -> Iterator[str]:
    """Input keys written by :func:`write_keys`, streamed."""
    with ObjectStoragePath(uri).open("rb") as source:
        yield from _read_keys(source)


def land_results(
    rows: Iterable[ResultRow],
    job: BatchJob,
    ref: BatchJobRef,
    directory: ObjectStoragePath,
    provider_key: Callable[[str], str] = str,
    account: Callable[[], tuple[UsageSummary, CostEstimate]] | None = None,
    unanswered: Unanswered | None = None,
) -> ResultsManifest:
    """Join ``rows`` on the input keys into ``results.jsonl`` under ``directory``, then write ``manifest.json``.

    ``provider_key`` is how the provider renamed keys (see ``Dialect.provider_key``); rows get their input
    keys back. Unmatched and duplicate rows land next to the results (see the module docstring); a file
    that would be empty is not written, and one left by an earlier landing is removed. Every row is read, in
    every path, so a stream such as :meth:`~.usage.UsageTally.counted` has ended before ``account`` is called
    for the manifest's ``usage`` and ``cost``. ``unanswered`` gives the outcome of a key no row answered by
    its position in the keys file; by default every such key gets ``job``'s (:func:`job_unanswered`).
    """
    manifest_path = directory / MANIFEST_FILE
    landed = land_files(rows, job, ref, directory, provider_key, unanswered)
    usage, cost = account() if account is not None else (None, None)
    manifest = ResultsManifest(
        job_ref=ref,
        state=job.state,
        provider_state=job.provider_state,
        error_message=job.error_message,
        counts=landed.counts,
        results_uri=landed.results_uri,
        manifest_uri=str(manifest_path),
        written_at=datetime.now(timezone.utc),
        unmatched_uri=landed.unmatched_uri,
        duplicates_uri=landed.duplicates_uri,
        output_location=job.output_location,
        usage=usage,
        cost=cost,
    )
    write_manifest(manifest, directory)
    return manifest


def land_files(
    rows: Iterable[ResultRow],
    job: BatchJob,
    ref: BatchJobRef,
    directory: ObjectStoragePath,
    provider_key: Callable[[str], str] = str,
    unanswered: Unanswered | None = None,
    *,
    lineage: bool = True,
) -> LandedFiles:
    """What :func:`land_results` does but the manifest: the results, unmatched and duplicate files, and counts.

    An earlier manifest is removed once these files are complete, just before they are renamed into place
    (:func:`retire_manifest`); the caller writes its own once they are in place. Without
    ``lineage`` the files are not recorded as the task's output assets (scratch files another pass reads).
    Nothing is written when the keys file is no longer the one the job was submitted with (:func:`check_keys_file`).
    """
    check_keys_file(ref)
    owner = partial_tag(ref.job_name)
    for name in (RESULTS_FILE, UNMATCHED_FILE, DUPLICATES_FILE, MANIFEST_FILE):
        remove_partials(directory, name, owner)
    seen = manifest_seen(directory)
    results = OutputFile(directory / RESULTS_FILE, owner, lineage)
    unmatched = OutputFile(directory / UNMATCHED_FILE, owner, lineage)
    duplicates = OutputFile(directory / DUPLICATES_FILE, owner, lineage)
    outputs = (results, unmatched, duplicates)
    if unanswered is None:
        unanswered = _everywhere(job_unanswered(job))
    try:
        results.open()  # before anything is downloaded: a destination that cannot be written fails first
        with scratch_dir() as scratch:
            tally = _land(iter(rows), ref, provider_key, unanswered, outputs, Path(scratch))
        counts = _counts(tally, job, None if ref.keys_uri else ref.request_count or job.stats.total)
        retire_manifest(directory, ref.job_name, seen, outputs)
        results.commit()
        unmatched_uri, duplicates_uri = unmatched.commit(), duplicates.commit()
    except BaseException:
        for output in outputs:
            output.discard()
        raise
    return LandedFiles(counts, str(results.path), unmatched_uri, duplicates_uri)


def job_unanswered(job: BatchJob) -> tuple[RowStatus, str]:
    """The outcome of a key none of ``job``'s rows answered: cancelled or expired when the job was, else missing."""
    return _UNANSWERED_STATUS.get(job.state, RowStatus.MISSING), _unanswered_reason(job)


def _everywhere(outcome: tuple[RowStatus, str]) -> Unanswered:
    """The same outcome at every position."""

    def at(_position: int) -> tuple[RowStatus, str]:
        return outcome

    return at


def retire_manifest(directory: ObjectStoragePath, job_name: str, seen: bytes | None, own: Iterable[OutputFile]) -> None:
    """Remove the manifest an earlier landing left, once this landing's files (``own``) are complete and about to be
    renamed into place: until then it names that landing's files, whole; from then on no manifest names a file of
    either.

    ``seen`` is the manifest as this landing found it when it began (:func:`manifest_seen`): one another job wrote
    since is refused instead (:func:`check_no_other_landing`), with this landing's files not renamed into place. So
    is a landing whose unfinished files were removed under it (:meth:`OutputFile.vanished`): another landing of the
    same job, begun since, took them for a killed landing's, and its landing (the manifest) is left whole.
    """
    check_no_other_landing(directory, job_name, seen)
    if any(output.vanished() for output in own):
        raise GenAIBatchError(
            f"another landing of {job_name} into {directory} (a task cleared while a zombie of it still ran, say) "
            f"removed this landing's unfinished files while it ran: nothing of this landing was put in place, and "
            f"what that one landed is left whole"
        )
    remove_file(directory / MANIFEST_FILE)


def partial_tag(job_name: str) -> str:
    """What names a job's landing in its temporary files (a digest of the job's name; of a submit task's idempotency
    key for the keys it writes): a landing removes those its own job's killed landings left, never another job's,
    which may be one being written into the same directory."""
    return hashlib.sha256(job_name.encode()).hexdigest()[:16]


def current_try() -> int | None:
    """The try number of the task instance this runs in; None outside a task (a landing called directly)."""
    try:
        attempt = getattr(get_current_context()["ti"], "try_number", None)
    except (RuntimeError, KeyError):
        return None
    return attempt if type(attempt) is int else None


def partial_name(name: str, owner: str) -> str:
    """A temporary name of the file ``name`` written for ``owner`` (:func:`partial_tag`) by the current try
    (:func:`current_try`): ``.<name>.<owner>-t<try>-<random>.partial``, without ``t<try>-`` outside a task."""
    attempt = current_try()
    written = "" if attempt is None else f"t{attempt}-"
    return f".{name}.{owner}-{written}{uuid.uuid4().hex}.partial"


_WRITTEN_BY = re.compile(r"t(\d+)-")


def remove_partials(directory: ObjectStoragePath, name: str, owner: str) -> None:
    """Remove the temporary files of ``name`` that ``owner`` (:func:`partial_tag`) left when it was killed outright:
    those an earlier try wrote, or one outside a task. Those of this try or a later one are being written: a task
    cleared while a zombie of it still runs lands twice at once, and the newer try's files are the zombie's to leave
    (the newer try removes the zombie's). Outside a task every one is removed."""
    attempt = current_try()
    prefix = f".{name}.{owner}-"
    for stale in files_matching(directory, f"{prefix}*.partial"):
        written = _WRITTEN_BY.match(stale.name, len(prefix))
        if attempt is None or written is None or int(written.group(1)) < attempt:
            remove_file(stale)


def manifest_seen(directory: ObjectStoragePath) -> bytes | None:
    """The manifest in ``directory`` as it is now, None when there is none: what :func:`check_no_other_landing`
    compares with."""
    path = directory / MANIFEST_FILE
    try:
        with path.fs.open(path.path, "rb") as source:
            seen: bytes = source.read()
    except FileNotFoundError:
        return None
    return seen


class _Owner(msgspec.Struct):
    job_name: str | None = None


class _LandedBy(msgspec.Struct):
    """What names the job in a manifest: ``job_ref.job_name``."""

    job_ref: _Owner = msgspec.field(default_factory=_Owner)


_landed_by = msgspec.json.Decoder(_LandedBy).decode


def check_no_other_landing(directory: ObjectStoragePath, job_name: str, seen: bytes | None) -> None:
    """Raise when ``directory`` now holds a manifest other than ``seen`` that is not ``job_name``'s: another job's
    landing (another run's or task's, given the same output_uri) finished while this one ran. Going on would
    replace its complete results with this job's, or name its rows in this job's manifest."""
    found = manifest_seen(directory)
    if found is None or found == seen:
        return
    try:
        other = _landed_by(found).job_ref.job_name
    except msgspec.DecodeError:
        other = None
    if other == job_name:
        return
    other = other or "another job"
    raise GenAIBatchError(
        f"{other} landed its results in {directory} while {job_name}'s landing ran (another run or task given the "
        f"same output_uri): nothing of {job_name} was landed and {other}'s results are left whole; give each run an "
        f"output_uri of its own (e.g. templated with {{{{ run_id }}}}), or clear this task to land {job_name} again "
        f"(results another job landed are moved to {directory}/superseded/ first)"
    )


def _land(
    rows: Iterator[ResultRow],
    ref: BatchJobRef,
    provider_key: Callable[[str], str],
    unanswered: Unanswered,
    outputs: tuple[OutputFile, OutputFile, OutputFile],
    scratch: Path,
) -> Counter[str]:
    """Land the rows in input order while they come that way, else by the join; returns the tally."""
    tally: Counter[str] = Counter()
    if ref.keys_uri is None:
        _join(_entries(rows), ref, provider_key, unanswered, outputs, tally, scratch)
        return tally
    results = outputs[0]
    in_order = _land_in_order(rows, ref.keys_uri, provider_key, unanswered, results, scratch)
    if in_order.rest is None:
        return in_order.tally
    results.close()
    landed = _landed_entries(results, in_order.written, ref.keys_uri, provider_key)
    _join(chain(landed, _entries(in_order.rest)), ref, provider_key, unanswered, outputs, tally, scratch)
    return tally


def writes_table(job: BatchJob, ref: BatchJobRef) -> bool:
    """Whether the job's output went to a table: the place the provider reports (else the destination it was
    given) has a table scheme (:data:`~airflow_provider_genai_batch.spec.TABLE_SCHEMES`, ``bq://``)."""
    return is_table_uri(job.output_location or ref.destination)


def land_counts(job: BatchJob, ref: BatchJobRef, directory: ObjectStoragePath) -> ResultsManifest:
    """Write only ``manifest.json`` for a job whose results stay where the provider wrote them (a table).

    The counts are the provider's: succeeded and failed as it reports them, and every other input row
    (still pending, or never reported) missing — cancelled or expired when the job was. ``total`` is the
    submitted request count, else the provider's total. Files landed here earlier are removed, so the
    directory never pairs this manifest with another landing's rows.
    """
    for name in (MANIFEST_FILE, RESULTS_FILE, UNMATCHED_FILE, DUPLICATES_FILE):
        remove_file(directory / name)
    stats = job.stats
    total = ref.request_count or stats.total
    succeeded, failed = min(stats.succeeded, total), min(stats.failed, max(total - stats.succeeded, 0))
    unanswered = _UNANSWERED_STATUS.get(job.state, RowStatus.MISSING)
    counts = ResultCounts.model_validate(
        {"total": total, "succeeded": succeeded, "failed": failed, unanswered.value: total - succeeded - failed}
    )
    manifest = ResultsManifest(
        job_ref=ref,
        state=job.state,
        provider_state=job.provider_state,
        error_message=job.error_message,
        counts=counts,
        results_uri=None,
        manifest_uri=str(directory / MANIFEST_FILE),
        written_at=datetime.now(timezone.utc),
        output_location=job.output_location,
    )
    write_manifest(manifest, directory)
    return manifest


def write_manifest(manifest: ResultsManifest, directory: ObjectStoragePath) -> None:
    """Write the manifest under a temporary name and rename it into place: a reader never sees half of it.

    Refused when another job's manifest was written there since this landing removed the earlier one
    (:func:`check_no_other_landing`): that job's files replaced this one's, and this manifest would name them.
    """
    job_name = manifest.job_ref.job_name
    check_no_other_landing(directory, job_name, None)
    staged = directory / partial_name(MANIFEST_FILE, partial_tag(job_name))
    staged.write_text(manifest.model_dump_json(indent=2))
    move_file(staged, directory / MANIFEST_FILE)


def redacted_job(job: BatchJob, redact: Callable[[str], str]) -> BatchJob:
    """The job with any secret removed from the provider's error message (it lands in the manifest)."""
    if job.error_message is None:
        return job
    return job.model_copy(update={"error_message": redact(job.error_message)})


def redacted_row(row: ResultRow, redact: Callable[[str], str]) -> ResultRow:
    """The row with any secret removed from its error message and from the raw text of an unparseable line."""
    if row.error is not None:
        row.error.message = redact(row.error.message)
        if row.error.raw is not None:
            row.error.raw = redact(row.error.raw)
    return row


# --- rows in input order ---------------------------------------------------------------------------------------


@dataclass
class _InOrder:
    """How far streaming rows in input order got: ``written`` rows are the first lines of the partial results.

    ``rest`` is None when every row was landed that way (``tally`` then holds the counts); otherwise it holds
    the rows not read yet, the one that broke the order first, and the join lands everything again.
    """

    written: int
    rest: Iterator[ResultRow] | None
    tally: Counter[str]


def _land_in_order(
    rows: Iterable[ResultRow],
    keys_uri: str,
    provider_key: Callable[[str], str],
    unanswered: Unanswered,
    results: OutputFile,
    scratch: Path,
) -> _InOrder:
    """Write each row straight to the results while it carries the provider id of the next input key.

    This is the one loop every row of an in-order landing passes through, so it does per row only what the
    results need: one look at the key, one encoding straight into the chunk written, one count. The keys come a
    block at a time, and each block's keys and provider ids go to a :class:`DistinctCheck` at once: only if no
    two are alike is the streamed file the join's (a key listed twice keeps its first place there).
    """
    rows = iter(rows)
    others: Counter[str] = Counter()
    succeeded = unparseable = written = before = 0
    success = RowStatus.SUCCEEDED
    chunk = bytearray()
    answering = True
    with ObjectStoragePath(keys_uri).open("rb") as source, DistinctCheck(scratch) as seen:
        for keys in _key_blocks(source):
            ids = _checked_ids(keys, provider_key, seen)
            answered = 0
            if answering:
                for key, provider_id, row in zip(keys, ids, rows, strict=False):  # keys first: no row read past them
                    if row.key != provider_id:
                        results.write_chunk(chunk)
                        return _InOrder(written + answered, chain((row,), rows), Counter())
                    append_line(chunk, row, None if provider_id is key else key)
                    if len(chunk) >= WRITE_CHUNK:
                        results.write_chunk(chunk)
                        chunk = bytearray()
                    if row.status is success:
                        succeeded += 1
                    else:
                        others[row.status.value] += 1
                        unparseable += row.unparseable
                    answered += 1
                written += answered
                answering = answered == len(keys)
                if not answering:
                    results.write_chunk(chunk)
                    chunk = bytearray()
            for position, key in enumerate(keys[answered:], start=before + answered + 1):
                status, reason = unanswered(position)
                results.write_row(ResultRow(key=key, status=status, error=RowError(message=reason)))
                others[status.value] += 1
            before += len(keys)
        results.write_chunk(chunk)
        if answering and (extra := next(rows, None)) is not None:
            return _InOrder(written, chain((extra,), rows), Counter())
        if not seen.distinct():
            return _InOrder(written, iter(()), Counter())
    others.update({success.value: succeeded, "unparseable": unparseable})
    return _InOrder(written, None, others)


def _checked_ids(keys: list[str], provider_key: Callable[[str], str], seen: DistinctCheck) -> list[str]:
    """The provider id of each key; the keys, and the ids that differ from their keys, added to ``seen``."""
    ids = list(map(provider_key, keys))
    seen.add_all(keys)
    if ids != keys:
        seen.add_all(
            [
                provider_id
                for provider_id, key in zip(ids, keys, strict=True)
                if provider_id is not key and provider_id != key
            ]
        )
    return ids


class _Outcome(msgspec.Struct):
    """What the duplicate rule needs of a landed line: its status and its error's code."""

    status: RowStatus
    error: _ErrorCode | None = None


class _ErrorCode(msgspec.Struct):
    code: Any = None
    """Any JSON: a provider's code lands as it came, whatever its type."""


_read_outcome = msgspec.json.Decoder(_Outcome).decode
_decode_keys = msgspec.json.Decoder(list[str]).decode


def _entries(rows: Iterable[ResultRow]) -> Iterator[Entry]:
    """Each row as the join stages it. The rank is the duplicate rule's order: a success, then any other
    readable outcome, then an unparseable line."""
    success, codes = RowStatus.SUCCEEDED, STATUS_CODES
    for row in rows:
        status = row.status
        if status is success:
            yield row.key, row.position, 0, 0, encode_row(row)
        else:
            yield row.key, row.position, 2 if row.unparseable else 1, codes[status], encode_row(row)


_SUCCEEDED = b'"status":"succeeded"'


def _landed_entries(
    results: OutputFile, count: int, keys_uri: str, provider_key: Callable[[str], str]
) -> Iterator[Entry]:
    """The first ``count`` rows streamed into the partial results, as the join stages them.

    Line ``i`` answered input key ``i`` and came with that key's provider id, so it is staged under that id
    (the line then starts with that id instead of the key). Only a line that is not a success is decoded, for
    its status and whether it could be read.
    """
    codes = STATUS_CODES
    with results.read() as landed, ObjectStoragePath(keys_uri).open("rb") as source:
        for key, line in zip(islice(_read_keys(source), count), islice(landed, count), strict=True):
            provider_id = provider_key(key)
            if provider_id != key:
                line = rekeyed(line, provider_id)
            start = len(encode_key(provider_id)) + 8
            if line.startswith(_SUCCEEDED, start):
                yield provider_id, None, 0, 0, line
                continue
            outcome = _read_outcome(line)
            error = outcome.error
            rank = 2 if error and error.code == UNPARSEABLE else 1
            yield provider_id, None, rank, codes[outcome.status], line


# --- the join ----------------------------------------------------------------------------------------------


def scratch_dir() -> tempfile.TemporaryDirectory[str]:
    """A scratch directory for one landing, named for this process; those of killed landings are removed first."""
    for orphan in Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}*-*"):
        pid = orphan.name.removeprefix(SCRATCH_PREFIX).split("-", 1)[0]
        if pid.isdigit() and not _running(int(pid)):
            shutil.rmtree(orphan, ignore_errors=True)
    return tempfile.TemporaryDirectory(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-")


def _running(pid: int) -> bool:
    """Whether a process with this id exists (it may belong to another user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _join(
    entries: Iterable[Entry],
    ref: BatchJobRef,
    provider_key: Callable[[str], str],
    unanswered: Unanswered,
    outputs: tuple[OutputFile, OutputFile, OutputFile],
    tally: Counter[str],
    scratch: Path,
) -> None:
    """Land every row by the join on disk (see :mod:`~.landing_join`); the results file is started afresh."""
    results, unmatched, duplicates = outputs
    with DiskJoin(scratch, _key_blocks, ref.request_count) as join:
        if ref.keys_uri is not None:
            with ObjectStoragePath(ref.keys_uri).open("rb") as source:
                join.load_keys(source, provider_key)
        tally["unparseable"] += join.stage(entries)
        results.restart()
        if ref.keys_uri is None:
            join.take_keys_from_rows()

        def unanswered_line(position: int, key: str) -> bytes:
            status, reason = unanswered(position)
            tally[status.value] += 1
            return encode_row(ResultRow(key=key, status=status, error=RowError(message=reason)))

        placed = join.write((results, duplicates, unmatched), unanswered_line, tally)
        if placed:
            log.warning("%d result rows carried no key and were placed by their order in the provider's output", placed)


def _counts(tally: Counter[str], job: BatchJob, expected: int | None) -> ResultCounts:
    """The manifest's counts from the tally; ``total`` is the sum of the five statuses.

    ``expected`` is the input count when there was no keys file: input rows that got no result could not
    be named then, only counted (up to ``expected``).
    """
    answered = sum(tally[status.value] for status in RowStatus)
    if expected is not None and expected > answered:
        tally[_UNANSWERED_STATUS.get(job.state, RowStatus.MISSING).value] += expected - answered
    counts = ResultCounts.model_validate(tally)
    counts.total = sum(tally[status.value] for status in RowStatus)
    return counts


class OutputFile:
    """One landed file, written under a temporary name and renamed into place; created on its first row.

    Lines are gathered and written about :data:`WRITE_CHUNK` bytes at a time in one ``join``, straight to the
    filesystem's own file object: the file ``ObjectStoragePath.open`` returns records lineage on every write,
    and under the temporary name. The landed file is recorded as an output asset once, under its own name,
    when it is renamed into place (unless ``lineage`` is false: a scratch file). Rows streamed in input order
    come as whole chunks instead (:meth:`write_chunk`): encoded straight into a ``bytearray``, a new one for
    each chunk, so no bytes object is made per row and no line is copied twice. The temporary name holds ``owner``
    (:func:`partial_tag`), so only a landing of the same job removes it as a killed landing's.
    """

    def __init__(self, path: ObjectStoragePath, owner: str, lineage: bool = True) -> None:
        self.path = path
        self._lineage = lineage
        self._partial = path.parent / partial_name(path.name, owner)
        self._sink: Any = None
        self._lines: list[bytes] = []
        self._size = 0

    def open(self) -> None:
        """Create the file now, so it exists even without rows."""
        if self._sink is None:
            self._sink = self._partial.fs.open(self._partial.path, "wb")

    def write(self, line: bytes) -> None:
        self.open()
        self._lines.append(line)
        self._size += len(line)
        if self._size >= WRITE_CHUNK:
            self._flush()

    def write_row(self, row: ResultRow) -> None:
        """Write the row's line (:func:`~airflow_provider_genai_batch.formats.results.encode_row`)."""
        self.write(encode_row(row))

    def write_lines(self, lines: list[bytes]) -> None:
        """Write ``lines`` (and any buffered before them) in one write."""
        self.open()
        self._lines += lines
        self._flush()

    def write_chunk(self, chunk: bytearray) -> None:
        """Write any lines buffered, then ``chunk`` as it is (the caller starts a new one: it is not copied)."""
        self.open()
        if self._lines:
            self._flush()
        self._sink.write(chunk)

    def _flush(self) -> None:
        self._sink.write(b"".join(self._lines))
        self._lines.clear()
        self._size = 0

    def close(self) -> None:
        """Write out what is buffered and close the file, keeping it under its temporary name to be read."""
        self._flush()
        self._sink.close()
        self._sink = None

    def read(self) -> IO[bytes]:
        """The file written so far (after :meth:`close`)."""
        opened: IO[bytes] = self._partial.fs.open(self._partial.path, "rb")
        return opened

    def restart(self) -> None:
        """Drop what was written and start the file again, empty."""
        self.discard()
        self.open()

    def commit(self) -> str | None:
        """Rename the file into place and return its URI; if it was never created, remove an earlier one."""
        if self._sink is None:
            remove_file(self.path)
            return None
        self.close()
        move_file(self._partial, self.path)
        if self._lineage:
            get_hook_lineage_collector().add_output_asset(context=self.path, uri=str(self.path))
        return str(self.path)

    def vanished(self) -> bool:
        """Whether the file was created and its temporary name is gone: removed while it was written, as a killed
        landing's, by another landing of the same job. Only a filesystem shows a file while it is written (an object
        appears once whole), so only there can it be removed under it."""
        partial = self._partial
        return self._sink is not None and partial.protocol not in OBJECT_STORE_SCHEMES and not partial.exists()

    def discard(self) -> None:
        """Drop what was written (a failed landing); an earlier complete file is left as it was."""
        self._lines.clear()
        self._size = 0
        if self._sink is not None:
            self._sink.close()
            self._sink = None
        remove_file(self._partial)


def _read_keys(source: IO[bytes]) -> Iterator[str]:
    """The keys of a keys file, one at a time (see :func:`_key_blocks`)."""
    return chain.from_iterable(_key_blocks(source))


def _key_blocks(source: IO[bytes]) -> Iterator[list[str]]:
    """The keys of a keys file, read :data:`KEYS_BLOCK` bytes at a time and decoded a block of whole lines at
    once (see :func:`_decoded_keys`); blank lines skipped."""
    rest = b""
    while chunk := source.read(KEYS_BLOCK):
        data = rest + chunk
        end = data.rfind(b"\n") + 1
        rest = data[end:]
        if end and (keys := _decoded_keys(data[:end])):
            yield keys
    if rest and (keys := _decoded_keys(rest + b"\n")):
        yield keys


def _decoded_keys(lines: bytes) -> list[str]:
    """The keys of whole lines (each ending in a line feed), decoded as one JSON array: the line feeds become
    commas. A blank line, or a line that is not one JSON string, sends them through one line at a time (to
    skip it, or to say which line is wrong)."""
    try:
        keys = _decode_keys(b"[" + lines[:-1].replace(b"\n", b",") + b"]")
    except msgspec.DecodeError:
        keys = []
    if len(keys) != lines.count(b"\n"):
        keys = [read_key_line(line) for line in lines.split(b"\n") if line.strip()]
    return keys


def _unanswered_reason(job: BatchJob) -> str:
    if job.state is JobState.CANCELLED:
        return "the job was cancelled before this request ran"
    if job.state is JobState.EXPIRED:
        return "the job expired before this request ran"
    return "no result returned for this key"
