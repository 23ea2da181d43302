"""Landing a group of jobs (an input split into parts, and follow-up rounds) as one results file and one manifest.

Round 0 sent the input, cut into parts in plan order, each part a contiguous run of input positions. The
rows of every round-0 part are chained in plan order and landed by :func:`~.landing.land_files` against the
whole input's keys file, so the results hold one row per input key, in input order, joined on key. A key no
row answered gets its own part's outcome: cancelled or expired when that part's job was, missing otherwise,
and missing with its own reason when the part was never created.

Each later round sent again some keys of the input, in input order (its keys file is a subsequence of the
input's). Its parts' rows are landed the same way against that round's keys file into a scratch directory,
then every round is merged into ``results.jsonl`` in one streaming pass over the files: a later round's row
replaces the earlier one and the replaced row goes to ``replaced.jsonl``. The counts are taken over the
whole input in that pass, so memory stays flat whatever the row count; each part's counts are those of the
positions it answered for, before any later round replaced them.

Like a one-job landing: every file is written under a temporary name; once they are complete the earlier
manifest is removed and they are renamed into place; the manifest is written last.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timezone
from itertools import chain
from pathlib import Path
from typing import IO, Any

import msgspec
from airflow.sdk import ObjectStoragePath

from airflow_provider_genai_batch.consoles import job_page
from airflow_provider_genai_batch.errors import GenAIBatchError
from airflow_provider_genai_batch.formats.keys import read_key_line
from airflow_provider_genai_batch.formats.results import UNPARSEABLE, ResultRow, RowStatus
from airflow_provider_genai_batch.hooks.base import BatchHook
from airflow_provider_genai_batch.job_ref import BatchJobRef, PartRef
from airflow_provider_genai_batch.key_index import KeyFilter
from airflow_provider_genai_batch.landing import (
    DUPLICATES_FILE,
    MANIFEST_FILE,
    RESULTS_FILE,
    UNMATCHED_FILE,
    KeysProblem,
    LandedFiles,
    OutputFile,
    Unanswered,
    job_unanswered,
    keys_problem,
    land_files,
    manifest_seen,
    partial_tag,
    redacted_job,
    redacted_row,
    remove_partials,
    retire_manifest,
    scratch_dir,
    write_keys,
    write_manifest,
)
from airflow_provider_genai_batch.landing_join import WRITE_CHUNK
from airflow_provider_genai_batch.models import (
    BatchJob,
    JobState,
    PartOutcome,
    ResultCounts,
    ResultsManifest,
    RoundOutcome,
)
from airflow_provider_genai_batch.prices import PriceTable
from airflow_provider_genai_batch.usage import UsageTally, part_usage, priced_parts

REPLACED_FILE = "replaced.jsonl"
GONE = "gone at the provider (deleted, or aged out); a follow-up round sent every row of it again"
"""Why a part's job is not in the manifest (``PartRef.gone``)."""
READ_BACK = "gone at the provider (deleted, or aged out); its answers were read back from the results landed before"
"""What became of a part's job when its rows were read back (``PartRef.landed``): the part counts as succeeded, as
every row of it had."""


def land_group(
    hook: BatchHook[Any],
    ref: BatchJobRef,
    jobs: Mapping[str, BatchJob],
    directory: ObjectStoragePath,
    prices: PriceTable,
) -> ResultsManifest:
    """Land every part of ``ref`` (a group) into one ``results.jsonl`` under ``directory``; return its manifest.

    ``jobs`` holds the finished job of every created part, by name. Rows and job errors are redacted with
    the hook's secrets; usage is counted per part and priced with ``prices``.
    """
    rounds = _rounds(ref)
    redact = hook.redact
    finished = {part.index: redacted_job(_job_of(part, jobs), redact) for part in ref.parts or () if part.job_name}
    read_back = {part.index: part for part in ref.parts or () if part.landed is not None and part.gone is not None}
    tallies = {index: UsageTally(ref.provider) for index in (*finished, *read_back)}
    owner = partial_tag(ref.job_name)
    for name in (RESULTS_FILE, UNMATCHED_FILE, DUPLICATES_FILE, REPLACED_FILE, MANIFEST_FILE):
        remove_partials(directory, name, owner)  # left by a landing of this group that was killed outright
    seen = manifest_seen(directory)
    units = _units(rounds)
    first, *later = units
    with scratch_dir() as scratch_name:
        scratch = Path(scratch_name)
        target = directory if not later else _local_dir(scratch / "round-0")
        landed = [_land_round(hook, ref, first, finished, tallies, target, not later)]
        for parts in later:
            space = _local_dir(scratch / f"round-{parts[0].round}-{parts[0].index}")
            if parts[0].carried:
                landed.append(_land_carried(hook, ref, parts[0], finished, tallies, space))
            else:
                landed.append(_land_round(hook, ref, parts, finished, tallies, space, False))
        merged = _merge(units, landed, directory, bool(later), (ref.job_name, seen))
    outcomes = [_part_outcome(hook, part, finished.get(part.index), merged.part_counts) for part in ref.parts or ()]
    stand_ins = {
        index: BatchJob(name=part.gone or "", provider=ref.provider, state=JobState.SUCCEEDED)
        for index, part in read_back.items()
    }
    usage, cost = priced_parts(
        (
            *(part_usage(job, tallies[index], hook.reported_usage(job), ref.model) for index, job in finished.items()),
            *(part_usage(job, tallies[index], None, ref.model) for index, job in stand_ins.items()),
        ),
        ref.provider,
        prices,
    )
    state, error_message = _group_state(outcomes)
    manifest = ResultsManifest(
        job_ref=ref,
        state=state,
        error_message=error_message,
        counts=merged.files.counts,
        results_uri=merged.files.results_uri,
        manifest_uri=str(directory / MANIFEST_FILE),
        written_at=datetime.now(timezone.utc),
        unmatched_uri=merged.files.unmatched_uri,
        duplicates_uri=merged.files.duplicates_uri,
        replaced_uri=merged.replaced_uri,
        usage=usage,
        cost=cost,
        parts=outcomes,
        rounds=_round_outcomes(units, landed),
    )
    write_manifest(manifest, directory)
    return manifest


def _rounds(ref: BatchJobRef) -> list[list[PartRef]]:
    """The ref's parts by round, rounds in order and parts in plan order; checked for what landing relies on."""
    if not ref.parts:
        raise GenAIBatchError(f"{ref.job_name} is one job, not a group: land it with land_results")
    if ref.keys_uri is None:
        raise GenAIBatchError(f"group {ref.job_name} has no keys file: its rows cannot be joined on key")
    if len({part.index for part in ref.parts}) != len(ref.parts):
        raise GenAIBatchError(f"group {ref.job_name}: two of its parts have the same index")
    by_round: dict[int, list[PartRef]] = {}
    for part in ref.parts:
        by_round.setdefault(part.round, []).append(part)
    if 0 not in by_round:
        raise GenAIBatchError(f"group {ref.job_name} has no round-0 parts")
    sent = sum(part.request_count for part in by_round[0])
    if ref.request_count is not None and sent != ref.request_count:
        raise GenAIBatchError(
            f"group {ref.job_name}: its round-0 parts hold {sent} requests, the input {ref.request_count}"
        )
    for number, parts in by_round.items():
        sent_parts = [part for part in parts if not part.carried]
        if number and (
            (sent_parts and sent_parts[0].keys_uri is None)
            or any(
                (part.keys_uri, part.keys_digest) != (sent_parts[0].keys_uri, sent_parts[0].keys_digest)
                for part in sent_parts
            )
        ):
            raise GenAIBatchError(f"group {ref.job_name}: the parts of round {number} do not name one keys file")
    check_rounds_keys(ref)
    return [by_round[number] for number in sorted(by_round)]


def _units(rounds: Sequence[Sequence[PartRef]]) -> list[list[PartRef]]:
    """What is landed apart, in order: each round's parts that it sent (joined on its keys file), then each part it
    carried from an earlier try's round (``PartRef.carried``) on its own, joined by its rows' keys."""
    units: list[list[PartRef]] = []
    for parts in rounds:
        sent = [part for part in parts if not part.carried]
        if sent:
            units.append(sent)
        units.extend([part] for part in parts if part.carried)
    return units


def check_rounds_keys(ref: BatchJobRef) -> None:
    """Raise when the keys file of any of ``ref``'s follow-up rounds is not the one the round wrote
    (:func:`check_round_keys`)."""
    first: dict[int, PartRef] = {}
    for part in ref.parts or ():
        if part.round and not part.carried:
            first.setdefault(part.round, part)
    for number in sorted(first):
        check_round_keys(ref, first[number])


def check_round_keys(ref: BatchJobRef, part: PartRef) -> None:
    """Raise when the keys file of ``part``'s follow-up round is gone or no longer holds the keys the round sent.

    A round's keys file sits at a fixed name under ``output_uri`` (``input_keys.round-<r>.jsonl``), so another task's
    round r into the same directory (another DAG run's, or another mapped task instance's) replaces it, and a
    landing by another job moves it aside with that job's results. Joined against other keys, the round's rows
    would land as unmatched and replace rows of other keys with missing ones. A part without ``keys_digest``
    (made before it was recorded) is not checked.
    """
    if part.keys_uri is None or part.keys_digest is None:
        return
    problem = keys_problem(part.keys_uri, part.keys_digest)
    if problem is None:
        return
    what = (
        "is gone (moved aside with another job's results, or deleted)"
        if problem is KeysProblem.GONE
        else "no longer holds the keys that round sent again: another task's follow-up round into the same "
        "output_uri (another DAG run's, say) wrote its own there since"
    )
    raise GenAIBatchError(
        f"the keys file {part.keys_uri} of round {part.round} of group {ref.job_name} {what}, so nothing was landed; "
        "give each run an output_uri of its own (e.g. templated with {{ run_id }}), then clear this run's submit "
        "task: it re-attaches to the jobs whose keys it still has and sends that round's rows again from the "
        "results it lands (where the provider can look jobs up by key, re-attaching to the round's jobs)"
    )


def _job_of(part: PartRef, jobs: Mapping[str, BatchJob]) -> BatchJob:
    job = jobs.get(part.job_name or "")
    if job is None:
        raise GenAIBatchError(f"part {part.index} (round {part.round}): no finished job {part.job_name} was given")
    return job


def _local_dir(path: Path) -> ObjectStoragePath:
    path.mkdir(parents=True)
    return ObjectStoragePath(str(path))


# --- one round ----------------------------------------------------------------------------------------------


def _land_round(
    hook: BatchHook[Any],
    ref: BatchJobRef,
    parts: Sequence[PartRef],
    jobs: Mapping[int, BatchJob],
    tallies: Mapping[int, UsageTally],
    target: ObjectStoragePath,
    final: bool,
) -> LandedFiles:
    """Land one round's parts: their rows chained in plan order, joined on the round's keys file.

    ``final``: ``target`` is the results directory, not scratch space the merge reads.
    """
    first_round = parts[0].round == 0
    keys_uri, keys_digest = (ref.keys_uri, ref.keys_digest) if first_round else (parts[0].keys_uri, None)
    # a later round's keys file was checked, with every other, before anything was landed (_rounds)
    sent = sum(part.request_count for part in parts)
    round_ref = ref.model_copy(
        update={"keys_uri": keys_uri, "keys_digest": keys_digest, "request_count": sent, "parts": None}
    )
    stand_in = BatchJob(name=ref.job_name, provider=ref.provider)
    starts = _starts(parts)
    rows = chain.from_iterable(
        _part_rows(hook, jobs[part.index], tallies[part.index], start)
        if part.index in jobs
        else _read_back_rows(hook, part, tallies[part.index], start, keys_uri)
        for part, start in zip(parts, starts, strict=True)
        if part.index in jobs or (part.landed is not None and part.gone is not None)
    )
    unanswered = _by_part(parts, jobs)
    return land_files(rows, stand_in, round_ref, target, hook.dialect.provider_key, unanswered, lineage=final)


def _land_carried(
    hook: BatchHook[Any],
    ref: BatchJobRef,
    part: PartRef,
    jobs: Mapping[int, BatchJob],
    tallies: Mapping[int, UsageTally],
    target: ObjectStoragePath,
) -> LandedFiles:
    """Land a part carried from an earlier try's round: its rows, joined on the input keys it answered (in input
    order, taken from the input's keys file), into scratch space the merge reads."""
    job = jobs[part.index]
    provider_key = hook.dialect.provider_key
    assert ref.keys_uri is not None  # checked by _rounds
    with KeyFilter(row.key for row in hook.iter_results(job) if row.key is not None) as answered:
        keys = write_keys(
            _local_dir(Path(target.path) / "keys"),
            (key for key in _keys_of(ref.keys_uri) if provider_key(key) in answered),
            owner=partial_tag(ref.job_name),
        )
    round_ref = ref.model_copy(
        update={"keys_uri": keys.uri, "keys_digest": None, "request_count": part.request_count, "parts": None}
    )
    stand_in = BatchJob(name=ref.job_name, provider=ref.provider)
    rows = _part_rows(hook, job, tallies[part.index], 0)
    return land_files(rows, stand_in, round_ref, target, provider_key, _by_part([part], jobs), lineage=False)


def _read_back_rows(
    hook: BatchHook[Any], part: PartRef, tally: UsageTally, start: int, keys_uri: str | None
) -> Iterator[ResultRow]:
    """The answers of a part whose job is gone, read back from the results landed before (``PartRef.landed``),
    counted for usage."""
    return tally.counted(_landed_rows(part, start, keys_uri, hook.dialect.provider_key))


def _landed_rows(part: PartRef, start: int, keys_uri: str | None, key_of: Callable[[str], str]) -> Iterator[ResultRow]:
    """The landed lines at the part's positions, each under the key the provider gave it (the join maps it back). A
    line whose key is not the one at its position in the keys file is left out, so that key lands as unanswered."""
    assert part.landed is not None and keys_uri is not None
    if not ObjectStoragePath(part.landed).exists():
        raise GenAIBatchError(
            f"the results {part.landed} that the answers of part {part.index} (its job {part.gone} gone at the "
            "provider) were to be read back from are gone (moved aside by another job's landing, or deleted), so "
            "nothing was landed; clear the submit task: it sends that part again"
        )
    with _read(part.landed) as lines, _read(keys_uri) as keys:
        for _ in range(start):
            if not lines.readline() or not keys.readline():
                return
        for _ in range(part.request_count):
            line, key = lines.readline(), keys.readline()
            if not line or not key:
                return
            row = _read_row(line)
            expected = read_key_line(key)
            if row.key == expected:
                row.key = key_of(expected)
                yield row


_read_row = msgspec.json.Decoder(ResultRow).decode


def _keys_of(uri: str) -> Iterator[str]:
    """The keys a keys file holds, in order."""
    with _read(uri) as lines:
        for line in lines:
            yield read_key_line(line)


def _part_rows(hook: BatchHook[Any], job: BatchJob, tally: UsageTally, start: int) -> Iterator[ResultRow]:
    """One part's rows, redacted and counted for usage as they pass.

    A row without its key carries its index in the part's output (``ResultRow.position``); ``start``, the
    part's first position in the round's keys, makes it an index there.
    """
    redact = hook.redact
    for row in tally.counted(hook.iter_results(job)):
        if row.error is not None:
            redacted_row(row, redact)
        if row.position is not None:
            row.position += start
        yield row


def _starts(parts: Sequence[PartRef]) -> list[int]:
    """The 0-based position, in its round's keys, of each part's first request (parts in plan order)."""
    starts, start = [], 0
    for part in parts:
        starts.append(start)
        start += part.request_count
    return starts


def _by_part(parts: Sequence[PartRef], jobs: Mapping[int, BatchJob]) -> Unanswered:
    """The outcome of an unanswered key: that of the part whose run of positions holds it."""
    ends = list(_ends(parts))
    outcomes = [
        job_unanswered(jobs[part.index])
        if part.index in jobs
        else (
            RowStatus.MISSING,
            f"part {part.index} of round {part.round} was never created, so this request was never sent"
            if part.gone is None
            else f"the job {part.gone} of part {part.index} of round {part.round} is gone at the provider (deleted, or "
            "aged out); a follow-up round sent this request again",
        )
        for part in parts
    ]
    last = len(parts) - 1

    def at(position: int) -> tuple[RowStatus, str]:
        return outcomes[min(bisect_left(ends, position), last)]

    return at


def _ends(parts: Iterable[PartRef]) -> Iterator[int]:
    """The last position (from 1) of each part's run, in plan order."""
    end = 0
    for part in parts:
        end += part.request_count
        yield end


# --- the merge ----------------------------------------------------------------------------------------------


class _Landed(msgspec.Struct):
    """What the merge reads of a landed row: its key, status and error code."""

    key: str | None
    status: RowStatus
    error: _Code | None = None


class _Code(msgspec.Struct):
    code: Any = None
    """Any JSON: landing keeps a provider's code whatever its type."""


_read_landed = msgspec.json.Decoder(_Landed).decode


@dataclass
class _Merged:
    files: LandedFiles
    replaced_uri: str | None
    part_counts: dict[int, ResultCounts]


class _Round:
    """One round's landed results, read a row at a time, each row counted to the part whose position it is."""

    def __init__(self, parts: Sequence[PartRef], source: Iterable[bytes]) -> None:
        self.parts = parts
        self.ends = list(_ends(parts))
        self.tallies: list[Counter[str]] = [Counter() for _ in parts]
        self._source = iter(source)
        self._position = 0
        self._part = 0
        self.line: bytes | None = None
        self.row: _Landed | None = None
        self.advance()

    def advance(self) -> None:
        """Read the next row; ``line`` and ``row`` are None past the last."""
        self.line = next(self._source, None)
        self.row = None if self.line is None else _read_landed(self.line)

    def count(self, row: _Landed) -> None:
        """Count the current row to its part."""
        self._position += 1
        while self._part < len(self.parts) - 1 and self._position > self.ends[self._part]:
            self._part += 1
        tally = self.tallies[self._part]
        tally[row.status.value] += 1
        if row.error is not None and row.error.code == UNPARSEABLE:
            tally["unparseable"] += 1


def _merge(
    rounds: list[list[PartRef]],
    landed: list[LandedFiles],
    directory: ObjectStoragePath,
    rewrite: bool,
    landing: tuple[str, bytes | None],
) -> _Merged:
    """Merge the rounds into the results (``rewrite``: later rounds' rows replace earlier ones), counting.

    Without later rounds, round 0 was landed in place and is only read, to count each part's rows. ``landing`` is
    the group's name and the manifest it found in ``directory`` when it began (see :func:`~.landing.retire_manifest`).
    """
    job_name, seen = landing
    owner = partial_tag(job_name)
    first = landed[0]
    if not rewrite:
        OutputFile(directory / REPLACED_FILE, owner).commit()  # removes one an earlier landing left
        if len(rounds[0]) == 1:
            return _Merged(first, None, {rounds[0][0].index: first.counts})
        with ExitStack() as stack:
            readers = _readers(rounds, landed, stack)
            _walk(readers, None)
        return _Merged(first, None, _part_counts(readers))
    results, replaced = OutputFile(directory / RESULTS_FILE, owner), OutputFile(directory / REPLACED_FILE, owner)
    try:
        results.open()
        with ExitStack() as stack:
            readers = _readers(rounds, landed, stack)
            final = _walk(readers, (results, replaced))
        counts = _whole_counts(final, landed)
        retire_manifest(directory, job_name, seen, (results, replaced))
        results.commit()
        unmatched_uri = _concatenated(directory / UNMATCHED_FILE, (file.unmatched_uri for file in landed), owner)
        duplicates_uri = _concatenated(directory / DUPLICATES_FILE, (file.duplicates_uri for file in landed), owner)
        replaced_uri = replaced.commit()
    except BaseException:
        results.discard()
        replaced.discard()
        raise
    files = LandedFiles(counts, str(results.path), unmatched_uri, duplicates_uri)
    return _Merged(files, replaced_uri, _part_counts(readers))


def _readers(rounds: list[list[PartRef]], landed: list[LandedFiles], stack: ExitStack) -> list[_Round]:
    return [
        _Round(parts, stack.enter_context(_read(file.results_uri))) for parts, file in zip(rounds, landed, strict=True)
    ]


def _read(uri: str) -> IO[bytes]:
    """A landed file, opened on its filesystem (reading back what this landing wrote is no lineage input)."""
    path = ObjectStoragePath(uri)
    opened: IO[bytes] = path.fs.open(path.path, "rb")
    return opened


def _walk(readers: list[_Round], outputs: tuple[OutputFile, OutputFile] | None) -> Counter[str]:
    """One pass over every round's rows, in input order: each input key's row from the latest round that has
    one (written to ``outputs``' results, the rows it replaced to their second file); the final statuses."""
    base, later = readers[0], readers[1:]
    final: Counter[str] = Counter()
    while base.row is not None and base.line is not None:
        line, row = base.line, base.row
        base.count(row)
        for reader in later:
            if reader.row is not None and reader.line is not None and reader.row.key == row.key:
                reader.count(reader.row)
                if outputs is not None:
                    outputs[1].write(line)
                line, row = reader.line, reader.row
                reader.advance()
        final[row.status.value] += 1
        if outputs is not None:
            outputs[0].write(line)
        base.advance()
    for reader in later:
        if reader.row is not None:
            raise GenAIBatchError(
                f"round {reader.parts[0].round} answered key {reader.row.key!r} out of the input's order or not "
                "among the input's keys: a round's keys file must keep the input's order"
            )
    return final


def _concatenated(target: ObjectStoragePath, uris: Iterable[str | None], owner: str) -> str | None:
    """Every file of ``uris`` (None: not written) one after the other into ``target`` (written as ``owner``'s, see
    :func:`~.landing.partial_tag`); None when none was written."""
    output = OutputFile(target, owner)
    try:
        for uri in uris:
            if uri is not None:
                with _read(uri) as source:
                    while block := source.read(WRITE_CHUNK):
                        output.write(block)
        return output.commit()
    except BaseException:
        output.discard()
        raise


def _whole_counts(final: Counter[str], landed: list[LandedFiles]) -> ResultCounts:
    """The five statuses over the merged results; unmatched, duplicate and unreadable rows of every round."""
    counts = ResultCounts.model_validate({status.value: final[status.value] for status in RowStatus})
    counts.total = sum(final[status.value] for status in RowStatus)
    counts.unmatched = sum(file.counts.unmatched for file in landed)
    counts.duplicates = sum(file.counts.duplicates for file in landed)
    counts.unparseable = sum(file.counts.unparseable for file in landed)
    return counts


def _part_counts(readers: Sequence[_Round]) -> dict[int, ResultCounts]:
    counts: dict[int, ResultCounts] = {}
    for reader in readers:
        for part, tally in zip(reader.parts, reader.tallies, strict=True):
            part_counts = ResultCounts.model_validate(tally)
            part_counts.total = sum(tally[status.value] for status in RowStatus)
            counts[part.index] = part_counts
    return counts


# --- the manifest -------------------------------------------------------------------------------------------


def _part_outcome(
    hook: BatchHook[Any], part: PartRef, job: BatchJob | None, counts: Mapping[int, ResultCounts]
) -> PartOutcome:
    if job is None:
        return PartOutcome(
            index=part.index,
            round=part.round,
            job_name=part.gone,
            state=JobState.UNSPECIFIED if part.landed is None else JobState.SUCCEEDED,
            request_count=part.request_count,
            counts=counts.get(part.index),
            error_message="never created" if part.gone is None else GONE if part.landed is None else READ_BACK,
        )
    return PartOutcome(
        index=part.index,
        round=part.round,
        job_name=job.name,
        state=job.state,
        provider_state=job.provider_state,
        request_count=part.request_count,
        counts=counts.get(part.index),
        error_message=job.error_message,
        console_url=job_page(hook, job.name),
    )


def _round_outcomes(units: Sequence[Sequence[PartRef]], landed: Sequence[LandedFiles]) -> list[RoundOutcome]:
    """Per round, its parts and rows: those it sent and those it carried from an earlier try's round together."""
    outcomes: dict[int, RoundOutcome] = {}
    for parts, files in zip(units, landed, strict=True):
        counts = files.counts
        number = parts[0].round
        outcome = outcomes.setdefault(
            number, RoundOutcome(round=number, parts=[], sent=0, recovered=0, still_failing=0)
        )
        outcome.parts.extend(part.index for part in parts)
        outcome.sent += counts.total
        outcome.recovered += counts.succeeded
        outcome.still_failing += counts.total - counts.succeeded
    for outcome in outcomes.values():
        outcome.parts.sort()
    return [outcomes[number] for number in sorted(outcomes)]


def _group_state(parts: Sequence[PartOutcome]) -> tuple[JobState, str | None]:
    """SUCCEEDED when every part did; else PARTIALLY_SUCCEEDED when any did; else the first part's end state.

    The error message names every part that did not succeed, and why.
    """
    failing = [part for part in parts if part.state is not JobState.SUCCEEDED]
    if not failing:
        return JobState.SUCCEEDED, None
    message = "; ".join(_failure(part) for part in failing)
    if any(part.state.is_success for part in parts):
        return JobState.PARTIALLY_SUCCEEDED, message
    ended = [part.state for part in parts if part.state.is_terminal]
    return (ended[0] if ended else JobState.FAILED), message


def _failure(part: PartOutcome) -> str:
    named = f"part {part.index} (round {part.round}"
    if part.job_name is None:
        return f"{named}) was never created"
    if part.error_message == GONE and part.state is JobState.UNSPECIFIED:
        return f"{named}, {part.job_name}) is {GONE}"
    reason = f": {part.error_message}" if part.error_message else ""
    return f"{named}, {part.job_name}) ended {part.state.value}{reason}"
