"""Reading, validating and translating a batch input, before anything is uploaded or billed.

One streaming pass over a JSONL file (any ``ObjectStoragePath``; gzip is decompressed as it streams) or
an inline list (or the JSON text of one, as a template rendering an XCom gives it): every line is
validated, its key spooled for the later join, and — when the provider speaks another format, or the
file cannot go up as it is — its lines spooled to a local JSONL file. A JSONL already in the provider's
own format is uploaded as it is, from where it is. Memory does not grow with the input: lines stream
with a bound on their length, keys go to disk.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import msgspec
from airflow.sdk import ObjectStoragePath

from airflow_provider_genai_batch.errors import InputValidationError
from airflow_provider_genai_batch.formats import gemini
from airflow_provider_genai_batch.formats.detect import InputFormat, detect_format
from airflow_provider_genai_batch.formats.dialect import Dialect
from airflow_provider_genai_batch.formats.jsonl import READ_BYTES, UTF8_BOM, JsonlReader, LoneCRToLF, duplicate_field
from airflow_provider_genai_batch.formats.keys import key_line, read_key_line
from airflow_provider_genai_batch.formats.validate import INLINE_SOURCE, InputLimits, InputSummary, validate_lines
from airflow_provider_genai_batch.input_file import InputFile, open_input

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode

MAX_LINE_BYTES = 128 * 1024**2
"""The longest input line read (lower only where the line is uploaded as it is and the batch limit is lower).

More than any provider takes for one request (the largest documented, Gemini's inline data, is 100 MB),
so no line a provider would accept is refused; a longer line is refused while it streams, never held.
"""


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
    """A validated input in the provider's format: a file to upload, or inline requests; plus its keys."""

    summary: InputSummary
    keys_file: Path
    fingerprint: str
    upload_source: ObjectStoragePath | Path | None = None
    inline: JsonlSpool | None = None
    endpoint: str | None = None
    _spools: list[Path] = field(default_factory=list)
    _upload_offset: int = 0
    """Bytes at the start of ``upload_source`` that are not sent (a UTF-8 BOM)."""
    _lone_cr: bool = False
    """``upload_source`` has lines ending in a lone CR: they are sent ending in LF."""

    def open_upload(self) -> IO[bytes]:
        """The bytes to upload, as a seekable binary stream positioned at the first byte to send."""
        if self.upload_source is None:
            raise ValueError("this input goes inline; there is nothing to upload")
        stream: IO[bytes] = self.upload_source.open("rb")
        if self._upload_offset:
            stream.seek(self._upload_offset)
        if self._lone_cr:
            return io.BufferedReader(LoneCRToLF(stream), READ_BYTES)
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
    source: str | Sequence[Mapping[str, Any]], dialect: Dialect, *, model: str, embeddings: bool
) -> PreparedInput:
    """Validate ``source`` for ``dialect``'s provider and put it in that provider's format.

    ``source`` is a JSONL path or URI, a list of request dicts, or the JSON text of such a list. Requests
    that go inline (a list, where the provider takes inline input; anything, where it takes nothing else)
    are validated and translated with ``dialect.inline``; when that is a format of its own (a gateway's
    Gemini requests), every line goes through its translation. The same pass computes the input's
    fingerprint: a sha256 over the provider, model and kind and every request as the provider will receive it.
    """
    requests = _resolve(source)
    label = requests if isinstance(requests, str) else INLINE_SOURCE
    caps = dialect.capabilities
    if embeddings and not caps.embeddings:
        raise InputValidationError(f"{dialect.provider} has no embeddings batch API", source=label)
    goes_inline = caps.inline_input and (not isinstance(requests, str) or not caps.file_input)
    request_dialect = dialect.inline if goes_inline else dialect
    translates_all = request_dialect is not dialect
    limits = request_dialect.limits
    fingerprint = hashlib.sha256(_encode([dialect.provider, model, embeddings]) + b"\n")
    byte_limit = limits.max_file_bytes if caps.file_input else limits.max_inline_bytes
    keys_file, native_file = _spool_path("keys"), _spool_path("input")
    spools = [native_file]
    endpoints: set[str] = set()
    file: InputFile | None = None
    reader: JsonlReader | None = None
    # A file in the provider's own format is uploaded as it is, so its stored size is what the limit sees:
    # checked before reading where the provider accepts nothing else, otherwise once the first line shows it.
    passthrough = rewritten = size_checked = False

    try:
        with ExitStack() as opened, keys_file.open("wb") as keys, native_file.open("wb") as native:
            records: Iterable[tuple[int, dict[str, Any], int]]
            if isinstance(requests, str):
                file, stream = opened.enter_context(open_input(requests))
                passthrough = caps.file_input and not file.gzip
                as_it_is = passthrough and dialect.native_format is InputFormat.GEMINI
                if as_it_is:
                    _check_stored_size(file, byte_limit, dialect.provider)
                    size_checked = True
                reader = JsonlReader(
                    stream, source=requests, **_line_bound(byte_limit if as_it_is else None, dialect.provider)
                )
                records = reader
            else:
                records = _inline_records(requests, embeddings)
            if translates_all:
                records = _gemini_only(records, label, dialect)

            def on_line(line: dict[str, Any], fmt: InputFormat, size: int) -> int:
                nonlocal rewritten, size_checked
                if fmt is request_dialect.native_format and not translates_all:
                    endpoint = request_dialect.check_native(line, model=model)
                    if endpoint:
                        endpoints.add(endpoint)
                        if len(endpoints) > 1:
                            raise ValueError(f"every line must target one endpoint; found {sorted(endpoints)}")
                    out = line
                else:
                    out = request_dialect.to_native(line, model=model, embeddings=embeddings)
                    rewritten = True
                canonical = reader.canonical if reader is not None and out is line else _encode(out)
                encoded = canonical + b"\n"
                fingerprint.update(encoded)
                if passthrough and not rewritten:
                    if not size_checked and file is not None:
                        _check_stored_size(file, byte_limit, dialect.provider)
                        size_checked = True
                    return size  # uploaded as it is: no copy
                native.write(encoded)
                return len(encoded)

            summary = validate_lines(
                records,
                source=label,
                accepted=frozenset({InputFormat.GEMINI, request_dialect.native_format}),
                limits=InputLimits(
                    provider=dialect.provider,
                    max_requests=limits.max_requests,
                    min_requests=limits.min_requests,
                    max_bytes=byte_limit,
                ),
                embeddings=embeddings,
                on_key=lambda key: keys.write(key_line(key)),
                on_line=on_line,
                provider_key=request_dialect.provider_key,
            )
    except BaseException:
        for path in (keys_file, *spools):
            path.unlink(missing_ok=True)
        raise
    prepared = PreparedInput(
        summary=summary,
        keys_file=keys_file,
        fingerprint=fingerprint.hexdigest(),
        endpoint=next(iter(endpoints), None),
        _spools=spools,
    )
    fits_inline = limits.max_inline_bytes is None or summary.total_bytes <= limits.max_inline_bytes
    if goes_inline and (not caps.file_input or fits_inline):
        prepared.inline = JsonlSpool(native_file)
    elif goes_inline and request_dialect.native_format is not dialect.native_format:
        prepared.cleanup()
        raise InputValidationError(
            f"the requests are {summary.total_bytes:,} bytes, over the {limits.max_inline_bytes:,} bytes one "
            f"{dialect.provider} batch takes inline, and its files are in another format "
            f"({dialect.native_format.value}): give the requests as a JSONL file instead",
            source=label,
        )
    elif file is not None and reader is not None and passthrough and not rewritten:
        prepared.upload_source = _local_or_remote(ObjectStoragePath(file.uri))
        prepared._upload_offset = len(UTF8_BOM) if file.bom else 0
        prepared._lone_cr = reader.lone_cr
    else:
        prepared.upload_source = native_file
    return prepared


def _resolve(source: str | Sequence[Mapping[str, Any]]) -> str | Sequence[Mapping[str, Any]]:
    """A path stays a path; the JSON text of a list (a template rendering an XCom list) becomes the list."""
    if not isinstance(source, str):
        return source
    text = source.strip()
    if not text:
        raise InputValidationError(
            f"input is an empty path ({source!r}): give the path or URI of a JSONL file, or a list of request dicts"
        )
    if text[0] not in "[{" or _is_file(source):
        return source
    raw = text.encode("utf-8", "surrogatepass")
    try:
        value = _decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError) as err:
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
    field = duplicate_field(raw, _encode(value))
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
    size = file.size - (len(UTF8_BOM) if file.bom else 0)
    if byte_limit is not None and size > byte_limit:
        raise InputValidationError(
            f"input is {size:,} bytes, over {byte_limit:,} bytes, the size limit of one {provider} batch "
            "(a file in the provider's own format is uploaded as it is)",
            source=file.uri,
        )


def _inline_records(items: object, embeddings: bool) -> Iterator[tuple[int, dict[str, Any], int]]:
    if isinstance(items, (bytes, Mapping)) or not isinstance(items, Sequence):
        raise InputValidationError("inline input must be a list of request dicts", source=INLINE_SOURCE)
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise InputValidationError("each inline request must be a dict", source=INLINE_SOURCE, line=index + 1)
        line = item if _is_native(item) else gemini.canonical_line(item, index, embeddings=embeddings)
        yield index + 1, dict(line), len(_encode(line)) + 1


def _gemini_only(
    records: Iterable[tuple[int, dict[str, Any], int]], source: str, dialect: Dialect
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
            raise InputValidationError(
                f"the line is in the {fmt.value} batch format, but requests sent inline to a {dialect.provider} are "
                "Gemini requests, which it translates for its target: give {'key': ..., 'request': {'contents': "
                f"[...]}}}} lines or google-genai style dicts{hint}",
                source=source,
                line=number,
            )
        yield number, line, size


def _is_native(item: Mapping[str, Any]) -> bool:
    return "custom_id" in item or "recordId" in item


def _local_or_remote(path: ObjectStoragePath) -> ObjectStoragePath | Path:
    return Path(path.path) if path.protocol in ("", "file", "local") else path


def _spool_path(kind: str) -> Path:
    descriptor, name = tempfile.mkstemp(prefix=f"genai-batch-{kind}-", suffix=".jsonl")
    os.close(descriptor)
    return Path(name)
