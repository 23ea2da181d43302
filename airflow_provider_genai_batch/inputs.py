"""Reading, validating and translating a batch input, before anything is uploaded or billed.

One streaming pass over a JSONL file (any ``ObjectStoragePath``; gzip is decompressed as it streams) or
an inline list (or the JSON text of one, as a template rendering an XCom gives it): every line is
validated, its key spooled for the later join, and — when the provider speaks another format, or the
file cannot go up as it is — its lines spooled to a local JSONL file. A JSONL already in the provider's
own format is uploaded as it is, from where it is. Memory does not grow with the input: lines stream
with a bound on their length, keys go to disk.

A provider with storage of its own (Vertex: Cloud Storage, BigQuery) reads some inputs where they are: an
object its hook can open (:meth:`InputStorage.open_stored`) is read through the hook and, when it needs no
rewriting, used in place (nothing uploaded); a table its hook recognises (:meth:`InputStorage.table_input`)
has no lines to validate here: its row count is checked against the limits and its keys are spooled.
"""

from __future__ import annotations

import enum
import hashlib
import io
import math
import os
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, Protocol

import msgspec
from airflow.sdk import ObjectStoragePath

from airflow_provider_genai_batch.errors import InputValidationError, NotFoundError, ProviderAPIError
from airflow_provider_genai_batch.filesystems import LOCAL_SCHEMES
from airflow_provider_genai_batch.formats import gemini, openai
from airflow_provider_genai_batch.formats.common_request import CommonLines, certifies_native
from airflow_provider_genai_batch.formats.common_translate import common_translator
from airflow_provider_genai_batch.formats.detect import InputFormat, detect_format
from airflow_provider_genai_batch.formats.dialect import Dialect, ProviderLimits
from airflow_provider_genai_batch.formats.jsonl import (
    NESTED_TOO_DEEPLY,
    READ_BYTES,
    UTF8_BOM,
    JsonlReader,
    LoneCRToLF,
    duplicate_field,
    not_json_value,
)
from airflow_provider_genai_batch.formats.keys import key_line, key_lines, read_key_line
from airflow_provider_genai_batch.formats.validate import (
    INLINE_SOURCE,
    ErrorCollector,
    InputLimits,
    InputSummary,
    validate_lines,
)
from airflow_provider_genai_batch.input_file import (
    CheckedOnClose,
    InputFile,
    changed_after_validation,
    check_unchanged,
    open_input,
    open_stored_input,
)
from airflow_provider_genai_batch.key_index import KeyFilter, KeyLog
from airflow_provider_genai_batch.parts import PartWriter, PreparedPart, SplitLimits, SpooledPart
from airflow_provider_genai_batch.spec import StoredObject, TableInput, is_table_uri
from airflow_provider_genai_batch.token_estimate import InputEstimate, estimate_input_tokens

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode

MAX_LINE_BYTES = 128 * 1024**2
"""The longest input line read (lower only where the line is uploaded as it is and the batch limit is lower).

More than any provider takes for one request (the largest documented, Gemini's inline data, is 100 MB),
so no line a provider would accept is refused; a longer line is refused while it streams, never held.
"""


class InputStorage(Protocol):
    """The provider's own storage, as input preparation reads it (a :class:`BatchHook` is one)."""

    def open_stored(self, uri: str) -> StoredObject | None:
        """The object at ``uri`` when it is in storage the provider reads in place; None otherwise."""

    def table_input(self, uri: str, *, model: str, embeddings: bool) -> TableInput | None:
        """The table at ``uri`` as the input of a ``model`` job, its schema checked; None where the provider reads
        no such table."""

    def iter_table_keys(self, uri: str) -> Iterator[str]:
        """The key of every row of the input table, in its order."""


class _KeySpool:
    """The keys file of a pass, written a block of keys at a time (:func:`.keys.key_lines`)."""

    BLOCK = 4096

    def __init__(self, sink: IO[bytes]) -> None:
        self._sink = sink
        self._keys: list[str] = []

    def add(self, key: str) -> None:
        keys = self._keys
        keys.append(key)
        if len(keys) >= self.BLOCK:
            self.flush()

    def flush(self) -> None:
        """Write the keys added since the last block."""
        if self._keys:
            self._sink.write(key_lines(self._keys))
            self._keys = []


class JsonlSpool:
    """The lines of a local JSONL file as dicts; iterable any number of times, one line in memory."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __iter__(self) -> Iterator[dict[str, Any]]:
        with self.path.open("rb") as lines:
            for line in lines:
                yield _decode(line)


@dataclass
class PreparedInput:
    """A validated input in the provider's format: a file to upload, or inline requests; plus its keys.

    ``parts`` are the jobs it is sent as. When it is one part, that part is sent from the sources the fields
    below name (``upload_source``, ``inline``, ``in_place_uri``); when it is cut into several, each part has
    its own spool and those fields are unset.
    """

    summary: InputSummary
    keys_file: Path
    fingerprint: str
    upload_source: ObjectStoragePath | Path | None = None
    inline: JsonlSpool | None = None
    in_place_uri: str | None = None
    """The provider reads the input where it is (an object in its storage, a table): nothing is uploaded."""
    endpoint: str | None = None
    parts: list[PreparedPart] = field(default_factory=list)
    input_tokens: int | None = None
    """Estimated input tokens of every part, when an estimate was asked for."""
    errors: list[InputValidationError] = field(default_factory=list)
    """The first problems found, in line order, when they were collected rather than raised."""
    errors_total: int = 0
    _spools: list[Path] = field(default_factory=list)
    _upload_offset: int = 0
    """Bytes at the start of ``upload_source`` that are not sent (a UTF-8 BOM)."""
    _lone_cr: bool = False
    """``upload_source`` has lines ending in a lone CR: they are sent ending in LF."""
    _validated: InputFile | None = None
    """``upload_source`` is this file as it was validated: it must still be so when it is opened and once read."""

    def open_upload(self) -> IO[bytes]:
        """The bytes to upload, as a seekable binary stream positioned at the first byte to send.

        A file sent from where it is must be unchanged since it was validated, when it is opened and again when
        the stream is closed (after its upload, before any job is created); :func:`.check_unchanged` refuses it.
        """
        if self.upload_source is None:
            raise ValueError("this input goes inline or is read in place; there is nothing to upload")
        validated = self._validated
        if validated is not None:
            check_unchanged(validated)
        stream: IO[bytes] = self.upload_source.open("rb")
        if self._upload_offset:
            stream.seek(self._upload_offset)
        if self._lone_cr:
            stream = io.BufferedReader(LoneCRToLF(stream), READ_BYTES)
        if validated is not None:
            return io.BufferedReader(CheckedOnClose(stream, lambda: check_unchanged(validated)), READ_BYTES)
        return stream

    def iter_keys(self) -> Iterator[str]:
        """The validated input keys, in input order."""
        with self.keys_file.open("rb") as keys:
            for line in keys:
                yield read_key_line(line)

    def cleanup(self) -> None:
        """Remove the local spool files."""
        for path in (self.keys_file, *self._spools):
            path.unlink(missing_ok=True)


def prepare_input(
    source: str | Sequence[Mapping[str, Any]],
    dialect: Dialect,
    *,
    model: str,
    embeddings: bool,
    storage: InputStorage | None = None,
    destination: str | None = None,
    split: SplitLimits | None = None,
    only_keys: KeyFilter | None = None,
    estimate_tokens: bool = False,
    collect_errors: int | None = None,
) -> PreparedInput:
    """Validate ``source`` for ``dialect``'s provider and put it in that provider's format.

    ``source`` is a JSONL path or URI, a list of request dicts, or the JSON text of such a list; with
    ``storage`` (the provider's hook), also an object or a table in the provider's own storage (see the
    module docstring). Requests that go inline (a list, where the provider takes inline input; anything,
    where it takes nothing else) are validated and translated with ``dialect.inline``; when that is a
    format of its own (a gateway's Gemini requests), every line goes through its translation. The same
    pass computes the input's fingerprint: a sha256 over the provider, model, kind and ``destination``
    (where the job writes its output; left out when None, so fingerprints made before it existed still
    match) and every request as the provider will receive it (for a table: its URI and data version).

    ``split``: the input is cut into parts (:mod:`..parts`) wherever the next request would take a part over
    these limits or the provider's (the lower wins), instead of being refused; a table is never cut.
    ``only_keys``: only the lines with these keys are sent (a follow-up round); the fingerprint is still the
    whole input's, and a key the input lacks is an error. ``estimate_tokens``: each part's input tokens are
    estimated (they are whenever ``split`` limits them). ``collect_errors``: up to that many line problems
    are collected in ``errors`` (the lines skipped) instead of the first being raised.
    """
    requests = _resolve(source)
    label = requests if isinstance(requests, str) else INLINE_SOURCE
    caps = dialect.capabilities
    if embeddings and not caps.embeddings:
        raise InputValidationError(f"{dialect.provider} has no embeddings batch API", source=label)
    header = _fingerprint_header(dialect.provider, model, embeddings, destination)
    stored: StoredObject | None = None
    if isinstance(requests, str) and storage is not None:
        table = _table_input(storage, requests, dialect.provider, model=model, embeddings=embeddings)
        if table is not None:
            if only_keys is not None:
                raise InputValidationError(
                    "rows of a table cannot be sent again on their own: give the input as a JSONL file",
                    source=table.uri,
                )
            return _prepare_table(table, storage, dialect, header)
        stored = _stored(storage, requests)
    elif isinstance(requests, str) and is_table_uri(requests):
        raise _no_tables(requests, dialect.provider)
    goes_inline = caps.inline_input and (not isinstance(requests, str) or not caps.file_input)
    request_dialect = dialect.inline if goes_inline else dialect
    translates_all = request_dialect is not dialect
    # A canonical line goes as it is where the provider reads Gemini lines, unless the model reads another shape.
    canonical_passes = request_dialect.passes_through(model=model, embeddings=embeddings)
    limits = request_dialect.limits
    fingerprint = hashlib.sha256(header)
    byte_limit = limits.max_file_bytes if caps.file_input else limits.max_inline_bytes
    # Parts that cannot go up as files (the provider takes none, or none in this format) are cut to go inline.
    inline_parts = goes_inline and (not caps.file_input or request_dialect.native_format is not dialect.native_format)
    part_byte_limit = limits.max_inline_bytes if inline_parts else byte_limit
    part_limits = _part_limits(split, limits, part_byte_limit, label)
    collector = ErrorCollector(collect_errors) if collect_errors is not None else None
    on_error = collector.add if collector is not None else None
    count_tokens = estimate_tokens or part_limits.max_input_tokens is not None
    if count_tokens:
        InputEstimate(dialect.provider)  # an unknown provider fails here, before any line
    inputs_of = openai.embedding_inputs if part_limits.max_embedding_inputs is not None else None
    keys_file = _spool_path("keys")
    writer = PartWriter(
        header,
        part_limits,
        provider=dialect.provider,
        count_tokens=count_tokens,
        whole=fingerprint if only_keys is None else None,
        byte_limit_name=(
            f"the size limit of one {dialect.provider} batch"
            if part_limits.max_bytes == part_byte_limit
            else "the most one part may hold (max_bytes_per_job)"
        ),
        # Parts that go inline are held to the limit as the create body that carries them.
        per_request=limits.inline_request_overhead if inline_parts else 0,
        reserve=limits.inline_envelope_bytes if inline_parts else 0,
        inputs_of=inputs_of,
    )
    endpoints: set[str] = set()
    positional: set[int] = set()  # the inline items keyed by their position
    file: InputFile | None = None
    reader: JsonlReader | None = None
    # A file in the provider's own format is uploaded as it is, so its stored size is what the limit sees:
    # checked before reading where the provider accepts nothing else, otherwise once the first line shows it.
    # When it may be cut into parts its lines are spooled too, for the parts to be sent from.
    passthrough = rewritten = size_checked = False
    # A line of the common shape is decoded typed once more, which checks it in C; its translation then skips the
    # general reading. Any other line, and every error, goes the general way.
    common: CommonLines | None = None
    checked: Callable[[dict[str, Any]], bool] | None = None
    translate_common = None if embeddings else common_translator(request_dialect, model=model)
    # Some lines may be left out (not selected, or bad): what is sent is a spool, never the file as it is.
    selects = only_keys is not None or collector is not None
    spool_all = split is not None or selects

    try:
        with ExitStack() as opened, keys_file.open("wb") as keys:
            records: Iterable[tuple[int, dict[str, Any], int]]
            if isinstance(requests, str):
                file, stream = opened.enter_context(
                    open_stored_input(stored) if stored is not None else open_input(requests)
                )
                passthrough = caps.file_input and not file.gzip
                # Lines sent as they are need no spool where the file is too small for any limit to cut it.
                spool_all = spool_all and (selects or not _never_cut(file, part_limits))
                as_it_is = passthrough and dialect.native_format is InputFormat.GEMINI and canonical_passes
                if as_it_is and split is None:
                    _check_stored_size(file, byte_limit, dialect.provider)
                    size_checked = True
                reader = JsonlReader(
                    stream,
                    source=requests,
                    on_error=on_error,
                    **_line_bound(byte_limit if as_it_is else None, dialect.provider),
                )
                records = reader
                if not embeddings:
                    common = CommonLines(reader)
                    checked = common.check
            else:
                records = _inline_records(requests, embeddings, request_dialect.vertex_fields, on_error, positional)
            if translates_all:
                records = _gemini_only(records, label, dialect, on_error)

            native_format = None if translates_all else request_dialect.native_format
            certified_line = None if common is None else common.certified
            # a certified line needs no check_native where the certification makes its checks too
            native_certified = certified_line if certifies_native(request_dialect) else None
            add_line, hash_line = writer.add, fingerprint.update

            def on_line(line: dict[str, Any], fmt: InputFormat, size: int, number: int) -> int | None:
                nonlocal rewritten, size_checked
                if fmt is native_format and (canonical_passes or fmt is not InputFormat.GEMINI):
                    endpoint = (
                        None
                        if native_certified is not None and native_certified(line)
                        else request_dialect.check_native(line, model=model)
                    )
                    if endpoint and endpoint not in endpoints:
                        if endpoints:
                            found = sorted({*endpoints, endpoint})
                            raise ValueError(f"every line must target one endpoint; found {found}")
                        endpoints.add(endpoint)
                    out = line
                else:
                    out = None
                    if translate_common is not None and certified_line is not None and certified_line(line):
                        out = translate_common(line)  # None where the general translation must word an error
                    if out is None:
                        out = request_dialect.to_native(line, model=model, embeddings=embeddings)
                    rewritten = True
                canonical = reader.canonical if reader is not None and out is line else _encode(out)
                encoded = canonical + b"\n"
                if only_keys is not None and line[fmt.key_field] not in only_keys:
                    fingerprint.update(encoded)
                    return None
                as_sent = passthrough and not rewritten
                if as_sent and not spool_all:
                    if not size_checked and file is not None:
                        _check_stored_size(file, byte_limit, dialect.provider)
                        size_checked = True
                    writer.note(number, estimate_input_tokens(out, dialect.provider) if count_tokens else 0)
                    hash_line(encoded)
                    return size  # uploaded as it is: no copy
                add_line(
                    encoded,
                    number,
                    estimate_input_tokens(out, dialect.provider) if count_tokens else 0,
                    inputs_of(out) if inputs_of is not None and out is not None else 0,
                )
                hash_line(encoded)
                return size if as_sent else len(encoded)

            key_spool = _KeySpool(keys)
            summary = validate_lines(
                records,
                source=label,
                accepted=frozenset({InputFormat.GEMINI, request_dialect.native_format}),
                limits=InputLimits(
                    provider=dialect.provider,
                    max_requests=limits.max_requests if split is None else None,
                    min_requests=max(limits.min_requests, part_limits.min_requests),
                    max_bytes=byte_limit if split is None else None,
                ),
                embeddings=embeddings,
                on_key=key_spool.add,
                on_line=on_line,
                provider_key=request_dialect.provider_key,
                vertex_fields=request_dialect.vertex_fields,
                errors=collector,
                checked=checked,
                positional=positional,
            )
            key_spool.flush()
        try:
            spooled = writer.finish()
        except ValueError as err:  # the last parts cannot be rebalanced
            if collector is None:
                raise InputValidationError(str(err), source=label) from None
            collector.add(InputValidationError(str(err), source=label))  # a dry run lists it with the rest
            spooled = writer.parts  # as cut, before the rebalance that cannot be made
        if only_keys is not None and summary.count != len(only_keys):
            _refuse_missing_key(only_keys, keys_file, label)
    except BaseException:
        writer.discard()
        keys_file.unlink(missing_ok=True)
        raise
    prepared = PreparedInput(
        summary=summary,
        keys_file=keys_file,
        fingerprint=fingerprint.hexdigest(),
        endpoint=next(iter(endpoints), None),
        _spools=[part.path for part in spooled],
    )
    if collector is not None:
        prepared.errors, prepared.errors_total = collector.errors, collector.total
    if count_tokens:
        prepared.input_tokens = sum(part.input_tokens or 0 for part in spooled)
    if len(spooled) > 1:
        prepared.summary = replace(summary, total_bytes=sum(part.byte_count for part in spooled))  # as sent
        for index, part in enumerate(spooled):
            fits_inline = _fits_inline(limits, part.byte_count, part.request_count)
            inline = goes_inline and (inline_parts or fits_inline)
            prepared.parts.append(_part(index, part, inline=JsonlSpool(part.path) if inline else None))
        return prepared
    if not spooled:
        return prepared  # no line could be sent: the errors say why
    native_file = spooled[0].path
    one = _part(0, spooled[0])
    prepared.parts.append(one)
    fits_inline = _fits_inline(limits, summary.total_bytes, summary.count)
    # Cut or not, a file sent as it is must fit: when only its compact spool does, the spool goes. Nor is it
    # sent as it is when some of its lines are left out.
    whole_file_goes = (
        part_limits.max_bytes is None or (file is not None and _stored_size(file) <= part_limits.max_bytes)
    ) and not (only_keys is not None or (collector is not None and collector.total))
    if goes_inline and fits_inline:
        prepared.inline = one.inline = JsonlSpool(native_file)
    elif goes_inline and (not caps.file_input or request_dialect.native_format is not dialect.native_format):
        prepared.cleanup()
        body = limits.inline_body_bytes(summary.total_bytes, summary.count)
        files = (
            f"and its files are in another format ({dialect.native_format.value}): give the requests as a JSONL "
            "file instead"
            if caps.file_input
            else "and it takes no files"
        )
        raise InputValidationError(
            f"the requests are {summary.total_bytes:,} bytes, up to {body:,} in the request body that carries "
            f"them, over the {limits.max_inline_bytes:,} bytes one {dialect.provider} batch takes inline, {files}",
            source=label,
        )
    elif stored is not None and reader is not None and passthrough and not rewritten and whole_file_goes:
        if file is not None and (file.bom or reader.lone_cr or not stored.named_exactly):
            try:
                _copy_as_sent(stored, native_file, skip_bom=file.bom)
            except InputValidationError:
                prepared.cleanup()
                raise
            prepared.upload_source = native_file
            one.byte_count = native_file.stat().st_size
        else:
            prepared.in_place_uri = one.in_place_uri = stored.uri
    elif file is not None and reader is not None and passthrough and not rewritten and whole_file_goes:
        prepared.upload_source = _local_or_remote(ObjectStoragePath(file.uri))
        prepared._upload_offset = len(UTF8_BOM) if file.bom else 0
        prepared._lone_cr = reader.lone_cr
        prepared._validated = file
    else:
        prepared.upload_source = native_file
    if prepared.upload_source is not None:
        one._open = prepared.open_upload
    if prepared.upload_source is native_file or prepared.inline is not None:
        prepared.summary = replace(summary, total_bytes=one.byte_count)  # the spool is sent, not the stored lines
    if prepared.upload_source is not native_file and prepared.inline is None:
        one.byte_count = summary.total_bytes  # sent from where it is
        if spool_all:
            native_file.write_bytes(b"")  # the lines spooled in case of a cut are not needed
    return prepared


def _part_limits(split: SplitLimits | None, limits: ProviderLimits, byte_limit: int | None, label: str) -> SplitLimits:
    """What one part may hold: nothing (the input is not cut) without ``split``; else ``split`` within the
    provider's limits."""
    if split is None:
        return SplitLimits()
    try:
        provider = SplitLimits(
            max_requests=limits.max_requests,
            max_bytes=byte_limit,
            min_requests=max(limits.min_requests, 1),
            max_embedding_inputs=limits.max_embedding_inputs,
        )
        return split.within(provider)
    except ValueError as err:
        raise InputValidationError(f"cannot cut the input into parts: {err}", source=label) from None


def _fits_inline(limits: ProviderLimits, line_bytes: int, requests: int) -> bool:
    """Whether requests of ``line_bytes`` (their JSONL lines) fit one inline create body, envelope and all."""
    return limits.max_inline_bytes is None or limits.inline_body_bytes(line_bytes, requests) <= limits.max_inline_bytes


def _part(index: int, part: SpooledPart, *, inline: JsonlSpool | None = None) -> PreparedPart:
    """A spooled part as it is sent: inline, or its spool uploaded."""
    path = part.path
    return PreparedPart(
        index=index,
        request_count=part.request_count,
        byte_count=part.byte_count,
        fingerprint=part.fingerprint,
        input_tokens=part.input_tokens,
        first_line=part.first_line,
        last_line=part.last_line,
        inline=inline,
        _open=None if inline is not None else lambda: path.open("rb"),
    )


def _refuse_missing_key(only_keys: KeyFilter, keys_file: Path, label: str) -> None:
    """Raise for a key of ``only_keys`` the input no longer has (the input changed since the keys were taken)."""
    with keys_file.open("rb") as lines:
        missing = only_keys.first_missing(read_key_line(line) for line in lines)
    if missing is not None:
        raise InputValidationError(
            f"the input changed since its rows were last sent: key {missing!r} is no longer in it", source=label
        )


def _never_cut(file: InputFile, limits: SplitLimits) -> bool:
    """Whether a file sent as it is fits one part whatever its lines: only its size is limited, and it fits."""
    if limits.max_requests is not None or limits.max_input_tokens is not None or limits.max_embedding_inputs:
        return False
    return limits.max_bytes is None or _stored_size(file) <= limits.max_bytes


def _stored_size(file: InputFile) -> int:
    """The bytes of a file sent as it is: its stored size without a BOM."""
    return file.size - (len(UTF8_BOM) if file.bom else 0)


def _fingerprint_header(provider: str, model: str, embeddings: bool, destination: str | None) -> bytes:
    """The first line hashed into a fingerprint: what the job is, besides its requests."""
    job: list[Any] = [provider, model, embeddings]
    if destination is not None:
        job.append(destination)
    return _encode(job) + b"\n"


def _stored(storage: InputStorage, uri: str) -> StoredObject | None:
    """The object at ``uri`` in the provider's storage, or None; a missing or unreadable one is refused here."""
    with _access_errors(uri, "file"):
        return storage.open_stored(uri)


def _table_input(storage: InputStorage, uri: str, provider: str, *, model: str, embeddings: bool) -> TableInput | None:
    """The table ``uri`` names when the provider reads it for ``model``; a table URI it cannot read is refused."""
    with _access_errors(uri, "table"):
        table = storage.table_input(uri, model=model, embeddings=embeddings)
    if table is None and is_table_uri(uri):
        raise _no_tables(uri, provider)
    return table


@contextmanager
def _access_errors(uri: str, what: str) -> Iterator[None]:
    """Report an input the provider's storage says is missing (404) or forbidden (403) as an input error."""
    try:
        yield
    except (FileNotFoundError, NotFoundError):
        raise InputValidationError(f"input {what} does not exist", source=uri) from None
    except PermissionError as err:
        raise InputValidationError(f"input {what} cannot be read: {err.strerror or err}", source=uri) from None
    except ProviderAPIError as err:
        if err.http_status != 403:
            raise
        raise InputValidationError(f"input {what} cannot be read: {err.message}", source=uri) from None


def _no_tables(uri: str, provider: str) -> InputValidationError:
    return InputValidationError(
        f"input is a table, and {provider} batch jobs cannot read tables: export it to a JSONL file", source=uri
    )


def _prepare_table(table: TableInput, storage: InputStorage, dialect: Dialect, header: bytes) -> PreparedInput:
    """A table input: its row count checked against the limits, its keys spooled and checked, nothing to upload.

    The table's rows are read by the provider, not here; its data version stands in for them in the fingerprint.
    A table is never cut into parts (its rows cannot be split without copying them): over a limit is an error.
    """
    limits = dialect.limits
    if table.rows < max(limits.min_requests, 1):
        raise InputValidationError(
            f"the table has {table.rows:,} rows, fewer than the {max(limits.min_requests, 1):,} a "
            f"{dialect.provider} batch needs",
            source=table.uri,
        )
    if limits.max_requests is not None and table.rows > limits.max_requests:
        raise InputValidationError(
            f"the table has {table.rows:,} rows, over the {limits.max_requests:,}-request limit of one "
            f"{dialect.provider} batch",
            source=table.uri,
        )
    fingerprint = hashlib.sha256(header + _encode({"table": table.uri, "version": table.version}) + b"\n")
    keys_file = _spool_path("keys")
    try:
        _spool_table_keys(table, storage.iter_table_keys(table.uri), keys_file, dialect.provider_key)
    except BaseException:
        keys_file.unlink(missing_ok=True)
        raise
    digest = fingerprint.hexdigest()
    whole = PreparedPart(
        index=0,
        request_count=table.rows,
        byte_count=0,
        fingerprint=digest,
        input_tokens=None,
        first_line=1,
        last_line=table.rows,
        in_place_uri=table.uri,
    )
    return PreparedInput(
        summary=InputSummary(format=dialect.native_format, count=table.rows, total_bytes=0),
        keys_file=keys_file,
        fingerprint=digest,
        in_place_uri=table.uri,
        parts=[whole],
    )


def _spool_table_keys(table: TableInput, keys: Iterable[str], target: Path, provider_key: Callable[[str], str]) -> None:
    """Write the table's keys to ``target``, refusing an empty, non-string or duplicate key as file inputs do.

    Errors name the row (from 1, in the order the table lists them); the count must be the table's row count,
    or the table changed while it was read.
    """
    count = 0
    with KeyLog() as ids, target.open("wb") as sink:
        for count, key in enumerate(keys, start=1):
            if not isinstance(key, str) or not key:
                raise InputValidationError(
                    f"row {count}: 'key' must be a non-empty string, got {key!r}", source=table.uri
                )
            provider_id = provider_key(key)
            ids.add(count, provider_id, None if provider_id == key else key)
            sink.write(key_line(key))
        duplicate = ids.first_duplicate()
    if duplicate is not None:
        if duplicate.key == duplicate.first_key:
            reason = f"duplicate key {duplicate.key!r} (first used on row {duplicate.first_line})"
        else:
            reason = (
                f"duplicate provider id: key {duplicate.key!r} would reach the provider under the same id as "
                f"the key on row {duplicate.first_line}"
            )
        raise InputValidationError(f"row {duplicate.line}: {reason}", source=table.uri)
    if count != table.rows:
        raise InputValidationError(
            f"the table listed {count:,} keys but has {table.rows:,} rows: it changed while it was read; try again",
            source=table.uri,
        )


def _copy_as_sent(stored: StoredObject, target: Path, *, skip_bom: bool) -> None:
    """Copy a stored object to ``target`` as the provider must receive it: without its BOM, lone CRs as LF.

    The object is read a second time here, after the pass that validated it: one whose size is no longer the
    size it had then was written in between, and is refused rather than copied unvalidated.
    """
    read = 0
    with stored.open() as raw, target.open("wb") as sink:
        skip = len(UTF8_BOM) if skip_bom else 0
        carry = b""
        while chunk := raw.read(READ_BYTES):
            read += len(chunk)
            if skip:
                dropped = min(skip, len(chunk))
                chunk, skip = chunk[dropped:], skip - dropped
            data = carry + chunk
            carry = b"\r" if data.endswith(b"\r") else b""
            sink.write(_LONE_CR.sub(b"\n", data[: len(data) - len(carry)]))
        if carry:
            sink.write(b"\n")
    if read != stored.size:
        raise changed_after_validation(stored.uri)


_LONE_CR = re.compile(rb"\r(?!\n)")


_TEXT_BOM = UTF8_BOM.decode("utf-8")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _resolve(source: str | Sequence[Mapping[str, Any]]) -> str | Sequence[Mapping[str, Any]]:
    """A path stays a path; the JSON text of a list (a template rendering an XCom list) becomes the list, a byte-order
    mark in front of it (text read from a file saved with one) skipped, as it is in front of a file's first line."""
    if not isinstance(source, str):
        return source
    text = source.strip().removeprefix(_TEXT_BOM).lstrip()
    if not text:
        raise InputValidationError(
            f"input is an empty path ({source!r}): give the path or URI of a JSONL file, or a list of request dicts"
        )
    if text[0] not in "[{" or _is_file(source):
        return source
    lone = _LONE_SURROGATE.search(text)
    if lone is not None:
        raise InputValidationError(
            f"input is text holding a lone surrogate ({lone.group()!r}, character {lone.start()}), which is not "
            "Unicode text and cannot be sent as UTF-8 (bytes that are not UTF-8, decoded with "
            "errors='surrogateescape'?)",
            source=INLINE_SOURCE,
        )
    raw = text.encode()
    try:
        value = _decode(raw)
    except RecursionError:
        raise InputValidationError(
            f"input is JSON text that cannot be read: {NESTED_TOO_DEEPLY}", source=INLINE_SOURCE
        ) from None
    except msgspec.DecodeError as err:
        value_error = not_json_value(raw, err)
        if value_error is not None:  # JSON text as a template's tojson renders a float that is not a number
            raise InputValidationError(
                f"input is the JSON text of a list of requests, and it holds {value_error}", source=INLINE_SOURCE
            ) from None
        raise InputValidationError(
            f"input is neither a JSONL path nor the JSON text of a list of requests ({err}): a template must "
            "render a list as JSON (its tojson filter), or pass the XComArg itself (input=task.output)",
            source=INLINE_SOURCE,
        ) from None
    if not isinstance(value, list):
        kind = "an object" if isinstance(value, dict) else "null" if value is None else f"a {type(value).__name__}"
        raise InputValidationError(
            f"input is the JSON text of {kind}, not of a list of request dicts", source=INLINE_SOURCE
        )
    try:
        field = duplicate_field(raw, _encode(value))
    except RecursionError:
        raise InputValidationError(
            f"input is JSON text that cannot be read: {NESTED_TOO_DEEPLY}", source=INLINE_SOURCE
        ) from None
    if field is not None:
        index, _, inner = field[1:].partition("]")
        raise InputValidationError(
            f"duplicate field {inner.lstrip('.')!r}: JSON keeps only one of its values, so the other would be "
            "dropped silently",
            source=INLINE_SOURCE,
            line=int(index) + 1,
        )
    return value


def _is_file(uri: str) -> bool:
    """Whether a path that looks like JSON text names an existing file after all."""
    try:
        return bool(ObjectStoragePath(uri).is_file())
    except Exception:
        return False


def _line_bound(byte_limit: int | None, provider: str) -> dict[str, Any]:
    """The longest line to read, and why: the batch size limit when lower than :data:`MAX_LINE_BYTES`.

    ``byte_limit`` is given only where every line goes up as it is; a line to be translated is limited
    by what it costs once translated (indentation dropped, say), not by its length as written.
    """
    if byte_limit is not None and byte_limit <= MAX_LINE_BYTES:
        return {"max_line_bytes": byte_limit, "too_long": f"the size limit of one {provider} batch"}
    return {"max_line_bytes": MAX_LINE_BYTES, "too_long": "more than any provider takes for one request"}


def _check_stored_size(file: InputFile, byte_limit: int | None, provider: str) -> None:
    """Refuse a file uploaded as it is whose size is over the limit, before its lines are read."""
    size = _stored_size(file)
    if byte_limit is not None and size > byte_limit:
        raise InputValidationError(
            f"input is {size:,} bytes, over {byte_limit:,} bytes, the size limit of one {provider} batch "
            "(a file in the provider's own format is uploaded as it is)",
            source=file.uri,
        )


def _inline_records(
    items: object,
    embeddings: bool,
    vertex: bool,
    on_error: Callable[[InputValidationError], object] | None,
    positional: set[int],
) -> Iterator[tuple[int, dict[str, Any], int]]:
    """The inline items as canonical (or native) lines; the numbers of those keyed by their position go to
    ``positional``. Each line is the JSON it is sent as, read back: an enum member, a tuple, a dict or list of a
    type of its own is checked and translated as the text, number, array or object the provider receives."""
    if isinstance(items, (bytes, Mapping)) or not isinstance(items, Sequence):
        raise InputValidationError("inline input must be a list of request dicts", source=INLINE_SOURCE)
    for index, item in enumerate(items):
        try:
            if not isinstance(item, Mapping):
                raise InputValidationError("each inline request must be a dict", source=INLINE_SOURCE, line=index + 1)
            if _is_native(item):
                line = item
            else:
                line = gemini.canonical_line(item, index, embeddings=embeddings, vertex=vertex)
                if gemini.keyed_by_position(item):
                    positional.add(index + 1)
            encoded = _encode_item(line, index + 1)
        except InputValidationError as err:
            if on_error is None:
                raise
            on_error(err)
            continue
        except RecursionError:  # dicts and lists nested deeper than they can be read or encoded
            nested = InputValidationError(NESTED_TOO_DEEPLY, source=INLINE_SOURCE, line=index + 1)
            if on_error is None:
                raise nested from None
            on_error(nested)
            continue
        yield index + 1, _decode(encoded), len(encoded) + 1


def _encode_item(line: Mapping[str, Any], number: int) -> bytes:
    """An inline request as JSON; a value that is not one of JSON's (which msgspec writes as another type: a Decimal
    or a datetime as text, bytes as base64, a set as a list) or a text in it that UTF-8 cannot encode (a lone
    surrogate, as bytes decoded with ``surrogateescape`` or a text cut inside a character leave) is refused naming the
    request, not raised as is, and so is a float JSON has no number for (encoded as null, which only then is looked
    for), and a dict whose keys JSON writes alike (``1`` and ``"1"``), found by decoding the JSON again when a key is
    not a string (only then can two keys be written alike): a member it dropped leaves a colon fewer."""
    keys = _json_keys(line)
    if keys is None:
        raise InputValidationError(_not_json(line), source=INLINE_SOURCE, line=number)
    try:
        encoded = _encode_item_json(line)
    except TypeError:  # a value of a type JSON has no form for
        raise InputValidationError(_not_json(line), source=INLINE_SOURCE, line=number) from None
    except UnicodeEncodeError as err:
        text = err.object if isinstance(err.object, str) else ""
        raise InputValidationError(
            f"text {text[:80]!r} holds a lone surrogate ({text[err.start : err.end]!r}), which is not Unicode text "
            "and cannot be sent as UTF-8",
            source=INLINE_SOURCE,
            line=number,
        ) from None
    if b"null" in encoded:
        _refuse_non_finite(line, number)
    field = duplicate_field(encoded, _encode(_decode(encoded))) if keys is _Keys.OTHER else None
    if field is not None:
        raise InputValidationError(
            f"field {field!r} is given twice: a dict holds keys JSON writes alike (a key that is not a string, such "
            "as 1, is written as the string '1'), so one of their values would be dropped silently",
            source=INLINE_SOURCE,
            line=number,
        )
    return encoded


def _plain_value(value: Any) -> Any:
    """A str, int or float of a class of its own (not an enum, which msgspec writes as its value) as the plain value
    it holds, read without its class's own conversions; anything else stays a type msgspec cannot encode."""
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int.__index__(value)
    if isinstance(value, float):
        return float.__float__(value)
    raise TypeError(f"{type(value).__name__} has no JSON form")


_encode_item_json = msgspec.json.Encoder(enc_hook=_plain_value).encode


_JSON_LEAVES = frozenset({str, int, float, bool, type(None)})
"""The exact types of JSON's scalar values (subclasses of str, int and float are written as their value too)."""


def _json_value(value: Any) -> bool:
    """Whether ``value`` is a JSON scalar, a str, int (an IntEnum, a bool) or float of any subclass, or null."""
    return type(value) in _JSON_LEAVES or isinstance(value, (str, int, float))


_STR_TYPE = frozenset({str})
_NUMBER_KEYS = frozenset({int, float})


def _json_key(key: Any) -> bool:
    """Whether a dict key has a JSON form: text (a str of any class, a StrEnum), or a number written as its text (an
    int or float, an IntEnum). Not bytes (written as base64), None, a bool, a tuple, nor another enum."""
    return (
        isinstance(key, str)
        or type(key) in _NUMBER_KEYS
        or (isinstance(key, enum.Enum) and isinstance(key, (int, float)))
    )


class _Keys(enum.Enum):
    """What the dicts of a request that is all JSON values hold as keys."""

    TEXT = "every key a str"
    OTHER = "a key that is not a str, which JSON writes as text, so it may be written like another key"


def _json_keys(line: Mapping[str, Any]) -> _Keys | None:
    """None unless ``line`` holds only dicts (keyed as :func:`_json_key` allows), lists (tuples) and JSON scalars,
    which every JSON encoder writes as they are; else what its dicts hold as keys. Each container is read once: one
    that holds itself is left to the encoder, which refuses it as nested too deeply."""
    stack: list[Any] = [line]
    seen: set[int] = set()
    keys = _Keys.TEXT
    while stack:
        value = stack.pop()
        if type(value) in _JSON_LEAVES:
            continue
        if isinstance(value, (dict, list, tuple)):
            if id(value) not in seen:
                seen.add(id(value))
                if isinstance(value, dict):
                    if not _STR_TYPE.issuperset(map(type, value)):
                        if not all(map(_json_key, value)):
                            return None
                        keys = _Keys.OTHER
                    stack.extend(value.values())
                else:
                    stack.extend(value)
        elif not _json_value(value):
            return None
    return keys


_NO_KEY = object()


def _not_json(line: Mapping[str, Any]) -> str:
    """Why an inline request cannot be sent as written: the path and type of its first value that is no JSON value, or
    of the first key that has no JSON form."""
    stack: list[tuple[Any, str]] = [(line, "")]
    seen: set[int] = set()
    while stack:
        value, path = stack.pop()
        if isinstance(value, (dict, list, tuple)):
            if id(value) in seen:
                continue
            seen.add(id(value))
        if isinstance(value, dict):
            key = next((key for key in value if not _json_key(key)), _NO_KEY)
            if key is not _NO_KEY:
                return (
                    f"{path or 'the item'}: a key of type {type(key).__name__} ({key!r:.80}) has no JSON form: JSON "
                    "keys are text (a number is written as its text)"
                )
            stack.extend(
                (item, f"{path}.{name}" if path else str(name)) for name, item in reversed(list(value.items()))
            )
        elif isinstance(value, (list, tuple)):
            stack.extend((item, f"{path}[{index}]") for index, item in reversed(list(enumerate(value))))
        elif not _json_value(value):
            kind = type(value).__name__
            return f"{path}: a value of type {kind} has no JSON form: give numbers, strings, lists and dicts"
    return "the request holds a value that is not JSON: give numbers, strings, lists and dicts"


def _refuse_non_finite(line: Mapping[str, Any], number: int) -> None:
    """Refuse an inline request holding NaN or an infinity (pandas' missing value, say): JSON has no such number, so
    it would be sent as null, or as text no JSON parser reads inside a translated function call's arguments."""
    stack: list[tuple[Any, str]] = [(line, "")]
    while stack:
        value, path = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            raise InputValidationError(
                f"{path}: {value!r} is not a number JSON can hold, so it would not be sent as written: "
                "give null, or a number",
                source=INLINE_SOURCE,
                line=number,
            )
        if isinstance(value, Mapping):
            stack.extend(
                (item, f"{path}.{name}" if path else str(name)) for name, item in reversed(list(value.items()))
            )
        elif isinstance(value, (list, tuple)):
            stack.extend((item, f"{path}[{index}]") for index, item in reversed(list(enumerate(value))))


def _gemini_only(
    records: Iterable[tuple[int, dict[str, Any], int]],
    source: str,
    dialect: Dialect,
    on_error: Callable[[InputValidationError], object] | None,
) -> Iterator[tuple[int, dict[str, Any], int]]:
    """The records, refusing a line in a provider's native format: these requests go inline in Gemini's."""
    for number, line, size in records:
        fmt = detect_format(line)
        if fmt is not None and fmt is not InputFormat.GEMINI:
            hint = (
                f"; {fmt.value} lines can go up as a JSONL file"
                if fmt is dialect.native_format and dialect.capabilities.file_input
                else ""
            )
            error = InputValidationError(
                f"the line is in the {fmt.value} batch format, but requests sent inline to a {dialect.provider} are "
                "Gemini requests, which it translates for its target: give {'key': ..., 'request': {'contents': "
                f"[...]}}}} lines or google-genai style dicts{hint}",
                source=source,
                line=number,
            )
            if on_error is None:
                raise error
            on_error(error)
            continue
        yield number, line, size


def _is_native(item: Mapping[str, Any]) -> bool:
    """Whether an inline item is a line in a provider's native format (by its key field, or its other fields)."""
    return "custom_id" in item or "recordId" in item or detect_format(item) not in (None, InputFormat.GEMINI)


def _local_or_remote(path: ObjectStoragePath) -> ObjectStoragePath | Path:
    """A local file as a ``Path`` (a leading ``~`` expanded, as the validation pass read it), else the path."""
    return Path(path.path).expanduser() if path.protocol in LOCAL_SCHEMES else path


def _spool_path(kind: str) -> Path:
    descriptor, name = tempfile.mkstemp(prefix=f"genai-batch-{kind}-", suffix=".jsonl")
    os.close(descriptor)
    return Path(name)
