"""Reading, validating and translating a batch input, before anything is uploaded or billed.

One streaming pass over a JSONL file (any ``ObjectStoragePath``) or an inline list: every line is
validated, its key spooled for the later join, and — when the provider speaks another format — its
translation spooled to a local JSONL file. A JSONL already in the provider's own format is uploaded
as it is, from where it is.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import msgspec
from airflow.sdk import ObjectStoragePath

from airflow_provider_genai_batch.errors import InputValidationError
from airflow_provider_genai_batch.formats import gemini
from airflow_provider_genai_batch.formats.detect import InputFormat
from airflow_provider_genai_batch.formats.dialect import Dialect
from airflow_provider_genai_batch.formats.jsonl import UTF8_BOM, iter_json_objects
from airflow_provider_genai_batch.formats.keys import key_line, read_key_line
from airflow_provider_genai_batch.formats.validate import INLINE_SOURCE, InputLimits, InputSummary, validate_lines

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


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

    def open_upload(self) -> IO[bytes]:
        """The bytes to upload, as a binary stream."""
        if self.upload_source is None:
            raise ValueError("this input goes inline; there is nothing to upload")
        return self.upload_source.open("rb")

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

    The same pass computes the input's fingerprint: a sha256 over the provider, model and kind and
    every request as the provider will receive it.
    """
    if embeddings and not dialect.capabilities.embeddings:
        raise InputValidationError(f"{dialect.provider} has no embeddings batch API", source=_label(source))
    caps, limits = dialect.capabilities, dialect.limits
    fingerprint = hashlib.sha256(_encode([dialect.provider, model, embeddings]) + b"\n")
    byte_limit = limits.max_file_bytes if caps.file_input else limits.max_inline_bytes
    caps_inline_only = caps.inline_input and not caps.file_input
    file_uri = source if isinstance(source, str) else None
    is_file = file_uri is not None
    # A native file goes up as it is, unless it starts with a BOM that providers would read as bad JSON.
    passthrough = file_uri is not None and not caps_inline_only and not _starts_with_bom(file_uri)
    keys_file, native_file = _spool_path("keys"), _spool_path("input")
    spools = [native_file]
    endpoints: set[str] = set()
    rewritten = False

    try:
        with keys_file.open("wb") as keys, native_file.open("wb") as native:

            def on_line(line: dict[str, Any], fmt: InputFormat, size: int) -> int:
                nonlocal rewritten
                if fmt is dialect.native_format:
                    endpoint = dialect.check_native(line, model=model)
                    if endpoint:
                        endpoints.add(endpoint)
                        if len(endpoints) > 1:
                            raise ValueError(f"every line must target one endpoint; found {sorted(endpoints)}")
                    out = line
                else:
                    out = dialect.to_native(line, model=model, embeddings=embeddings)
                    rewritten = True
                encoded = _encode(out) + b"\n"
                fingerprint.update(encoded)
                if passthrough and not rewritten:
                    return size  # uploaded as it is: no copy
                native.write(encoded)
                return len(encoded)

            summary = validate_lines(
                _records(source, embeddings),
                source=_label(source),
                accepted=frozenset({InputFormat.GEMINI, dialect.native_format}),
                limits=InputLimits(
                    provider=dialect.provider,
                    max_requests=limits.max_requests,
                    min_requests=limits.min_requests,
                    max_bytes=byte_limit,
                ),
                embeddings=embeddings,
                on_key=lambda key: keys.write(key_line(key)),
                on_line=on_line,
                provider_key=dialect.provider_key,
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
    if caps.inline_input and (not caps.file_input or (not is_file and fits_inline)):
        prepared.inline = JsonlSpool(native_file)
    elif file_uri is not None and passthrough and not rewritten:
        prepared.upload_source = _local_or_remote(ObjectStoragePath(file_uri))
    else:
        prepared.upload_source = native_file
    return prepared


def _records(source: str | Sequence[Mapping[str, Any]], embeddings: bool) -> Iterable[tuple[int, dict[str, Any], int]]:
    if isinstance(source, str):
        return _file_records(source)
    items: object = source
    if isinstance(items, (bytes, Mapping)) or not isinstance(items, Sequence):
        raise InputValidationError("inline input must be a list of request dicts", source=INLINE_SOURCE)
    return _inline_records(items, embeddings)


def _file_records(uri: str) -> Iterator[tuple[int, dict[str, Any], int]]:
    path = ObjectStoragePath(uri)
    if not path.exists():
        raise InputValidationError("input file does not exist", source=uri)
    with path.open("rb") as lines:
        yield from iter_json_objects(lines, source=uri)


def _inline_records(items: Sequence[Mapping[str, Any]], embeddings: bool) -> Iterator[tuple[int, dict[str, Any], int]]:
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise InputValidationError("each inline request must be a dict", source=INLINE_SOURCE, line=index + 1)
        line = item if _is_native(item) else gemini.canonical_line(item, index, embeddings=embeddings)
        yield index + 1, dict(line), len(_encode(line)) + 1


def _is_native(item: Mapping[str, Any]) -> bool:
    return "custom_id" in item or "recordId" in item


def _starts_with_bom(uri: str) -> bool:
    path = ObjectStoragePath(uri)
    if not path.exists():
        return False
    with path.open("rb") as head:
        start: bytes = head.read(len(UTF8_BOM))
    return start == UTF8_BOM


def _label(source: str | Sequence[Mapping[str, Any]]) -> str:
    return source if isinstance(source, str) else INLINE_SOURCE


def _local_or_remote(path: ObjectStoragePath) -> ObjectStoragePath | Path:
    return Path(path.path) if path.protocol in ("", "file", "local") else path


def _spool_path(kind: str) -> Path:
    descriptor, name = tempfile.mkstemp(prefix=f"genai-batch-{kind}-", suffix=".jsonl")
    os.close(descriptor)
    return Path(name)
