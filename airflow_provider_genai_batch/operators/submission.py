"""Submitting the parts of a split input (or of a follow-up round), each exactly once.

Each part is found again by its own idempotency key (:func:`~airflow_provider_genai_batch.idempotency.part_key`)
and fingerprint: from the task's stored reference, else by a look-up at the provider. A part whose earlier job
is usable is re-attached to; every other part is uploaded, and created while fewer than ``max_concurrent_jobs``
parts are unfinished; the rest wait with their upload named in their :class:`PartRef`, for
:meth:`GroupSubmission.create_waiting` to create when a slot frees. The caller's ``remember`` runs after every
create, so a try that dies mid-way re-attaches to what exists and creates only the rest. Where jobs carry no key to be
found by (Anthropic, a gateway), it also runs just before each create, marking the part as being created
(:class:`~airflow_provider_genai_batch.job_ref.PartCreate`): a try that dies between the create and the next
``remember`` leaves a job nothing names, which a later try must not pay for again.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import partial
from io import SEEK_END
from typing import IO, Any, Protocol

import httpx

from airflow_provider_genai_batch.errors import GenAIBatchError, NotFoundError
from airflow_provider_genai_batch.hooks.base import BatchHook
from airflow_provider_genai_batch.hooks.retry import is_refused_post
from airflow_provider_genai_batch.idempotency import part_key, tag_file_name, titled_display_name
from airflow_provider_genai_batch.job_ref import BatchJobRef, PartCreate, PartRef
from airflow_provider_genai_batch.models import BatchJob, FileInfo, JobState
from airflow_provider_genai_batch.parts import PreparedPart
from airflow_provider_genai_batch.spec import BatchKind, BatchSpec, FileSource, InlineSource

RESUBMIT_STATES = frozenset({JobState.FAILED, JobState.CANCELLED, JobState.EXPIRED, JobState.CANCELLING})
"""An earlier job that ended in one of these, or is being cancelled (a timed-out try cancelled it, a user did), is
not re-attached to: its requests are submitted again. A cancelling job only ends cancelled, failing the try that
waits on it."""
ROUNDS_RESEND_STATES = frozenset({JobState.FAILED, JobState.EXPIRED})
"""A job that ended in one of these left its rows retryable (missing, expired): a follow-up round sends them again.
A cancelled job's rows are not sent again."""
RESENT = ": the follow-up rounds sent its rows again"
"""Why a part whose job failed or expired is re-attached to, as the log says it."""
REUSE_MARGIN = timedelta(hours=24)
"""An earlier try's upload the provider deletes sooner than this is not used for a new job, which may read it as
long as it waits and runs (a batch's target turnaround is 24 hours): the input is uploaded again."""
FINGERPRINT_SHOWN = 12
"""How many characters of an input fingerprint a log line shows."""


class Log(Protocol):
    """The operator's logger, as used here."""

    def info(self, message: str, /, *args: Any) -> Any: ...

    def warning(self, message: str, /, *args: Any) -> Any: ...


class Remember(Protocol):
    """The caller's store of the parts so far, with the part whose job is about to be created (``creating``), if any."""

    def __call__(self, parts: list[PartRef], creating: PartCreate | None = None, /) -> None: ...


class CreateOnce(Protocol):
    """The submit operator's retry-safe create (``GenAIBatchSubmitOperator._create_once``)."""

    def __call__(
        self,
        hook: BatchHook[Any],
        spec: BatchSpec,
        superseded: str | None,
        create: Callable[[], BatchJob],
        not_before: datetime | None = None,
        uploaded: str | None = None,
    ) -> BatchJob: ...


@dataclass(frozen=True)
class JobSettings:
    """What every part's job is, besides its requests: model, kind, name, labels, output and endpoint."""

    model: str
    embeddings: bool
    display_name: str
    labels: Mapping[str, str]
    destination: str | None
    endpoint: str | None

    def spec(self, source: FileSource | InlineSource, part: PartRef, title: str, replaces: str | None) -> BatchSpec:
        """The job of ``part``, named ``display_name`` and ``title`` (`` part 2/5``)."""
        return BatchSpec(
            model=self.model,
            display_name=titled_display_name(self.display_name, title),
            source=source,
            kind=BatchKind.EMBED if self.embeddings else BatchKind.GENERATE,
            idempotency_key=part.idempotency_key,
            input_fingerprint=part.input_fingerprint,
            replaces=replaces,
            endpoint=self.endpoint,
            labels=self.labels,
            destination=self.destination,
        )


@dataclass
class PlannedPart:
    """One part of a round being submitted: its prepared requests, its ref so far and the earlier job found."""

    prepared: PreparedPart
    ref: PartRef
    title: str
    earlier: BatchJob | None = None
    reusable: bool = False
    gone: str | None = None
    """The job an earlier try made for the part, which the provider no longer has, when follow-up rounds sent every
    row of it again: the part is not sent again (see ``PartRef.gone``)."""
    landed: str | None = None
    """With ``gone``: the landed results its answers are read back from (see ``PartRef.landed``)."""
    upload: str | None = None
    """The file an earlier try uploaded for this same part (key and fingerprint) while it waited for a slot, as the
    stored ref names it: used again when it still holds the part's bytes, rather than left stored beside a copy."""


def title(round: int, position: int, count: int) -> str:
    """What a part's display name ends in: `` part 2/5``, in a follow-up round `` round 1 part 2/5``; nothing for
    an input that goes as one job."""
    return f"{f' round {round}' if round else ''}{f' part {position + 1}/{count}' if count > 1 else ''}"


def resubmit_reason(state: JobState) -> str:
    """What became of an earlier job in one of :data:`RESUBMIT_STATES`, as the log line that submits again says."""
    if state is JobState.CANCELLING:
        return f"is being cancelled ({state.value})"
    return f"ended {state.value}"


def part_label(named: str) -> str:
    """How log lines name a part: its title, or "the input" for an input that goes as one job."""
    return named.strip() or "the input"


class GroupSubmission:
    """Submits one round's parts for one task instance, exactly once each (see the module docstring)."""

    def __init__(
        self,
        hook: BatchHook[Any],
        settings: JobSettings,
        create_once: CreateOnce,
        log: Log,
        *,
        task_key: str,
        not_before: datetime | None,
        max_concurrent_jobs: int | None,
        force: bool = False,
        retried: bool = True,
    ) -> None:
        self.hook = hook
        self.settings = settings
        self.create_once = create_once
        self.log = log
        self.task_key = task_key
        self.not_before = not_before
        self.max_concurrent_jobs = max_concurrent_jobs
        self.force = force
        self.retried = retried

    def look_up(
        self,
        parts: Sequence[PreparedPart],
        *,
        round: int,
        first_index: int,
        stored: Iterable[PartRef] = (),
        kept: Collection[str] = (),
        as_sent: bool = False,
    ) -> list[PlannedPart]:
        """Each part's earlier job (stored ref, else a look-up by its key and fingerprint) and whether to reuse it.

        A job named in ``kept`` that failed or expired is reused: follow-up rounds already sent its rows again. With
        ``as_sent`` (a follow-up round an earlier try sent, past the rounds this task sends now) every earlier job is
        reused whatever its state, as the earlier try left it.
        """
        stored = tuple(stored)
        known = {(p.idempotency_key, p.input_fingerprint): p for p in stored if p.job_name is not None}
        uploads = {(p.idempotency_key, p.input_fingerprint): p.upload for p in stored if p.waiting}
        planned: list[PlannedPart] = []
        for position, part in enumerate(parts):
            ref = PartRef(
                index=first_index + position,
                round=round,
                idempotency_key=part_key(self.task_key, round, position),
                input_fingerprint=part.fingerprint,
                request_count=part.request_count,
                byte_count=part.byte_count,
            )
            item = PlannedPart(part, ref, title(round, position, len(parts)))
            item.upload = uploads.get((ref.idempotency_key, ref.input_fingerprint))
            item.earlier = self._earlier(ref, item.title, known.get((ref.idempotency_key, ref.input_fingerprint)))
            if item.earlier is not None and as_sent:
                self._keep(item, " as an earlier try sent it")
            elif item.earlier is not None and item.earlier.name in kept and item.earlier.state in ROUNDS_RESEND_STATES:
                self._keep(item, RESENT)
            else:
                item.reusable = item.earlier is not None and self._reusable(item.earlier, item.title)
            planned.append(item)
        return planned

    def keep_resent(self, planned: Sequence[PlannedPart], round_sent: Callable[[], bool]) -> None:
        """Keep the planned parts whose earlier job failed or expired when ``round_sent()`` finds a follow-up round
        this task sent (asked only for such a part, and never with ``force``): a try that remembers no earlier
        ref learns from the provider what :meth:`look_up`'s ``kept`` tells it."""
        resent = [
            item
            for item in planned
            if not item.reusable and item.earlier is not None and item.earlier.state in ROUNDS_RESEND_STATES
        ]
        if resent and not self.force and round_sent():
            for item in resent:
                self._keep(item, RESENT)

    def _keep(self, item: PlannedPart, why: str) -> None:
        """Re-attach to ``item``'s earlier job whatever its state, logging ``why``."""
        assert item.earlier is not None
        self.log.info("%s: keeping %s (%s)%s", part_label(item.title), item.earlier.name, item.earlier.state.value, why)
        item.reusable = True

    def send(self, planned: Sequence[PlannedPart], remember: Remember) -> list[PartRef]:
        """Re-attach, or upload and create within the cap, every planned part; ``remember`` the parts after each create.

        Every part not re-attached is uploaded, the waiting ones too, before this returns. Earlier rounds have
        ended before a round is sent, so only this round's parts count against the cap. What is remembered after a
        create names the earlier jobs of the parts not reached yet too (see :func:`_known_later`).
        """
        done: list[PartRef] = []
        running = 0
        for position, item in enumerate(planned):
            if item.gone is not None:
                self.log.info(
                    "%s: its job %s is gone at the provider, and %s: not sending it again",
                    part_label(item.title),
                    item.gone,
                    f"its {item.ref.request_count} answers are read back from {item.landed}"
                    if item.landed is not None
                    else f"follow-up rounds sent every one of its {item.ref.request_count} rows again",
                )
                done.append(item.ref.model_copy(update={"gone": item.gone, "landed": item.landed}))
                continue
            if item.reusable and item.earlier is not None:
                job = item.earlier
                self.log.info(
                    "%s: re-attaching to %s (%s): it was made for this same part",
                    part_label(item.title),
                    job.name,
                    job.state.value,
                )
                done.append(item.ref.model_copy(update={"job_name": job.name}))
                running += 0 if job.state.is_terminal else 1
                continue
            source, uploaded = self._source(item)
            if self.max_concurrent_jobs is not None and running >= self.max_concurrent_jobs:
                if not isinstance(source, FileSource):
                    raise GenAIBatchError(f"{part_label(item.title)}: requests sent inline cannot wait for a free slot")
                self.log.info(
                    "%s: waiting for a free slot (max_concurrent_jobs=%d), its %d requests uploaded as %s",
                    part_label(item.title),
                    self.max_concurrent_jobs,
                    item.ref.request_count,
                    source.file_name,
                )
                done.append(item.ref.model_copy(update={"upload": source.file_name}))
                continue
            before = [*done, *_known_later(planned[position:])]
            # only the file this try uploaded for the part alone may be deleted: not one read in place, nor an earlier
            # try's upload, which a job that try made and died before remembering may read
            with self._marked(item.ref, partial(remember, before)):
                made = self._create(item.ref, item.title, source, item.earlier, uploaded)
            done.append(made)
            running += 1
            remember([*done, *_known_later(planned[position + 1 :])])
        return done

    def create_waiting(self, ref: BatchJobRef, states: Mapping[str, JobState], remember: Remember) -> list[PartRef]:
        """``ref``'s parts with the waiting ones that fit under the cap created (or found again), in plan order.

        ``states`` holds the state of every created part. A waiting part's earlier job (made by a try that died
        before remembering it) is found by its key and fingerprint and re-attached to; ``remember`` gets the
        parts after every create.
        """
        parts = list(ref.parts or ())
        running = sum(1 for p in parts if p.job_name is not None and not states[p.job_name].is_terminal)
        first: dict[int, int] = {}
        counts: dict[int, int] = {}
        for part in parts:
            first.setdefault(part.round, part.index)
            counts[part.round] = counts.get(part.round, 0) + 1
        for number, part in enumerate(parts):
            if part.job_name is not None or part.upload is None:
                continue
            if self.max_concurrent_jobs is not None and running >= self.max_concurrent_jobs:
                break
            named = title(part.round, part.index - first[part.round], counts[part.round])
            earlier = self._earlier(part, named, None)
            if earlier is not None and self._reusable(earlier, named):
                self.log.info(
                    "%s: re-attaching to %s (%s), created by an earlier try",
                    part_label(named),
                    earlier.name,
                    earlier.state.value,
                )
                parts[number] = part.model_copy(update={"job_name": earlier.name, "upload": None})
                running += 0 if earlier.state.is_terminal else 1
                remember(parts)
                continue
            before = list(parts)
            with self._marked(part, partial(remember, before)):
                made = self._create(part, named, FileSource(part.upload), earlier)
            parts[number] = made
            running += 1
            remember(parts)
        return parts

    def _marked(self, part: PartRef, store: Callable[[PartCreate | None], None]) -> AbstractContextManager[None]:
        """Around ``part``'s create: see :func:`marked_create`."""
        creating = PartCreate(
            round=part.round,
            idempotency_key=part.idempotency_key,
            input_fingerprint=part.input_fingerprint,
            request_count=part.request_count,
            since=datetime.now(timezone.utc),
        )
        return marked_create(self.hook, creating, store)

    def _earlier(self, ref: PartRef, named: str, stored: PartRef | None) -> BatchJob | None:
        """The job an earlier try made for this part: the stored one, else one found by key and fingerprint."""
        label = part_label(named)
        if stored is not None and stored.job_name is not None:
            try:
                job = self.hook.get_batch(stored.job_name)
            except NotFoundError:
                self.log.warning("%s: stored job %s no longer exists; looking for another", label, stored.job_name)
            else:
                self.log.info("%s: found %s (%s) in the task state store", label, job.name, job.state.value)
                return job
        found = self.hook.find_batch(
            ref.idempotency_key, input_fingerprint=ref.input_fingerprint, not_before=self.not_before
        )
        if found is not None:
            self.log.info(
                "%s: found %s (%s) by idempotency key %s and fingerprint %s",
                label,
                found.name,
                found.state.value,
                ref.idempotency_key,
                ref.input_fingerprint[:FINGERPRINT_SHOWN],
            )
        return found

    def _reusable(self, job: BatchJob, named: str) -> bool:
        if self.force:
            self.log.warning(
                "%s: force_resubmit is set: not re-attaching to %s (%s), submitting it again",
                part_label(named),
                job.name,
                job.state.value,
            )
            return False
        if job.state in RESUBMIT_STATES:
            self.log.warning(
                "%s: the earlier job %s %s; submitting a new one",
                part_label(named),
                job.name,
                resubmit_reason(job.state),
            )
            return False
        return True

    def _source(self, item: PlannedPart) -> tuple[FileSource | InlineSource, str | None]:
        """The part's requests inline, or as a file of their own: an earlier try's upload of it where one is still
        stored whole, else uploaded now; with the file this try uploaded for the part alone (else None)."""
        inline = item.prepared.inline
        if inline is not None:
            return InlineSource(inline), None
        if item.prepared.in_place_uri is not None:
            return FileSource(item.prepared.in_place_uri), None
        stem = f"{self.settings.display_name}{item.title.replace(' ', '.').replace('/', '-of-')}"
        name = tag_file_name(stem, item.ref.idempotency_key, item.ref.input_fingerprint)
        with item.prepared.open_upload() as stream:
            if item.upload is not None and self._holds(item, item.upload, stream):
                return FileSource(item.upload), None
            file_name, uploaded = upload_once(
                self.hook, stream, name, self.not_before, self.log, item.title, look=self.retried
            )
        return FileSource(file_name), file_name if uploaded else None

    def _holds(self, item: PlannedPart, upload: str, stream: IO[bytes]) -> bool:
        """Whether ``upload``, an earlier try's upload of this part, is still stored with as many bytes as ``stream``
        holds from where it stands. One that cannot be read (a Gemini file is gone 48 hours after its upload), or whose
        size is not reported or another, is not used: the part is uploaded again, and that file left as it is."""
        label = part_label(item.title)
        try:
            stored = self.hook.stored_size(self.hook.get_file(upload))
        except GenAIBatchError as err:  # gone: a 404, or Gemini's 403 for a file that is not there
            self.log.info(
                "%s: %s, uploaded by an earlier try while it waited, cannot be read (%s); uploading it again",
                label,
                upload,
                err,
            )
            return False
        size = _remaining(stream)
        if stored != size:
            self.log.warning(
                "%s: %s, uploaded by an earlier try while it waited, holds %s bytes, not the %d of the part; uploading "
                "it again (that file is left as it is)",
                label,
                upload,
                "an unknown number of" if stored is None else stored,
                size,
            )
            return False
        self.log.info("%s: using %s, uploaded by an earlier try while it waited (%d bytes)", label, upload, size)
        return True

    def _create(
        self,
        part: PartRef,
        named: str,
        source: FileSource | InlineSource,
        earlier: BatchJob | None,
        uploaded: str | None = None,
    ) -> PartRef:
        """Create ``part``'s job; ``uploaded`` is the file this try uploaded for it alone (none for a part that
        waited: its upload is named in the stored ref, where a job an earlier try made may read it)."""
        superseded = earlier.name if earlier is not None else None
        spec = self.settings.spec(source, part, named, superseded)
        job = self.create_once(
            self.hook,
            spec,
            superseded,
            lambda: self.hook.create_batch(spec),
            not_before=self.not_before,
            uploaded=uploaded,
        )
        self.log.info(
            "%s: created %s job %s with %d requests (%d bytes), fingerprint %s",
            part_label(named),
            self.hook.provider,
            job.name,
            part.request_count,
            part.byte_count,
            part.input_fingerprint[:FINGERPRINT_SHOWN],
        )
        return part.model_copy(update={"job_name": job.name, "upload": None})


@contextmanager
def marked_create(
    hook: BatchHook[Any], creating: PartCreate, store: Callable[[PartCreate | None], None]
) -> Iterator[None]:
    """Around the create of the job ``creating`` describes, where jobs carry no key: ``store`` the ref marking it as
    being created first, and unmarked again when the create was refused (no job was made, so the next try creates it as
    usual). A create that failed otherwise (a server error, a lost answer) may have made the job: the mark stays."""
    if hook.capabilities.find_by_key:
        yield
        return
    store(creating)
    try:
        yield
    except Exception as err:
        if is_refused_post(err):
            store(None)
        raise


def drop_refused_upload(
    hook: BatchHook[Any],
    spec: BatchSpec,
    uploaded: str,
    superseded: str | None,
    not_before: datetime | None,
    log: Log,
) -> None:
    """Delete ``uploaded``, the file this try uploaded for ``spec``'s job alone, once its create was refused.

    Every attempt was answered with a refusal (:func:`~airflow_provider_genai_batch.hooks.retry.is_refused_post`),
    so no job reads the file, and the task fails: left, it stays stored (and billed, on S3 and Cloud Storage) while
    the next try uploads it again. Where jobs can be looked up by key, a job found with this key and fingerprint
    (other than ``superseded``, which reads an upload of its own) keeps the file: a create retried after a lost
    answer (Bedrock's, with its request token) may have made it. A failed look-up or delete is logged, never raised
    over the create's own error.
    """
    key = spec.idempotency_key
    try:
        if hook.capabilities.find_by_key and key is not None:
            job = hook.find_batch(key, input_fingerprint=spec.input_fingerprint, not_before=not_before)
            if job is not None and job.name != superseded:
                log.warning(
                    "the create failed, but job %s exists and may read %s: the upload is kept", job.name, uploaded
                )
                return
        hook.delete_file(uploaded)
    except Exception as err:
        log.warning(
            "the create was refused, and %s, uploaded for it, could not be deleted (%s): delete it by hand",
            uploaded,
            hook.redact(str(err))[:300],
        )
        return
    log.warning("the create was refused: deleted %s, the upload made for it (the next try uploads it again)", uploaded)


def upload_once(
    hook: BatchHook[Any],
    stream: IO[bytes],
    name: str,
    not_before: datetime | None,
    log: Log,
    named: str = "",
    *,
    look: bool = True,
) -> tuple[str, bool]:
    """The file holding ``stream``'s bytes (from where it stands) for the job whose identity ``name`` carries
    (:func:`~airflow_provider_genai_batch.idempotency.tag_file_name`), and whether this try uploaded it.

    An earlier try's upload of that name still stored with as many bytes is used (a try killed between its upload and
    its create, a retry after the job failed or was cancelled), so no copy is left stored (billed on S3 and Cloud
    Storage, counted against Gemini's and OpenAI's storage) beside it; else the stream is uploaded. A look-up that
    fails is logged, and the stream uploaded. ``named`` is the part's title, for the log. With ``look`` False (a
    first try, which no earlier try preceded) nothing is looked for.
    """
    label = part_label(named)
    size = _remaining(stream)
    try:
        earlier = hook.find_upload(name, not_before) if look else None
    except (GenAIBatchError, httpx.TransportError) as err:
        log.warning(
            "%s: could not look for an earlier upload of it (%s); uploading it", label, hook.redact(str(err))[:300]
        )
        earlier = None
    if earlier is not None and _expires_soon(earlier):
        log.info(
            "%s: %s, uploaded by an earlier try, expires at %s, within %s: uploading it again",
            label,
            earlier.name,
            earlier.expiration_time,
            REUSE_MARGIN,
        )
    elif earlier is not None:
        stored = hook.stored_size(earlier)
        if stored == size:
            log.info(
                "%s: using %s, uploaded by an earlier try for this same input (%d bytes)", label, earlier.name, size
            )
            return earlier.name, False
        log.warning(
            "%s: %s, uploaded by an earlier try, holds %s bytes, not the %d of the input; uploading it again",
            label,
            earlier.name,
            "an unknown number of" if stored is None else stored,
            size,
        )
    uploaded = hook.upload_file(stream, display_name=name)
    log.info("%s: uploaded as %s (%s bytes)", label, uploaded.name, uploaded.size_bytes)
    return uploaded.name, True


def _expires_soon(info: FileInfo) -> bool:
    """Whether the provider deletes ``info`` within :data:`REUSE_MARGIN` (a Gemini file 48 hours after its upload)."""
    expires = info.expiration_time
    return expires is not None and expires - datetime.now(timezone.utc) < REUSE_MARGIN


def _remaining(stream: IO[bytes]) -> int:
    """How many bytes ``stream`` holds from where it stands (left there)."""
    start = stream.tell()
    size = stream.seek(0, SEEK_END) - start
    stream.seek(start)
    return size


def _known_later(planned: Sequence[PlannedPart]) -> list[PartRef]:
    """The parts of ``planned`` that an earlier try made a job for, each naming that job.

    A try that dies after a create, before it reached these parts, must leave them in the stored ref: it replaces
    the ref that named them, and a provider that cannot look jobs up by key (Anthropic, the gateway) would
    otherwise create them all again on the next try, paying for parts that had already succeeded.
    """
    known = []
    for item in planned:
        if item.gone is not None:
            known.append(item.ref.model_copy(update={"gone": item.gone, "landed": item.landed}))
        elif item.earlier is not None:
            known.append(item.ref.model_copy(update={"job_name": item.earlier.name}))
    return known
