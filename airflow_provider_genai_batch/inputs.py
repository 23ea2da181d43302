"""Reading, validating and translating a batch input, before anything is uploaded or billed.

One streaming pass over a JSONL file (any ``ObjectStoragePath``) or an inline list: every line is
validated, its key spooled for the later join, and — when the provider speaks another format — its
translation spooled to a local JSONL file. A JSONL already in the provider's own format is uploaded
as it is, from where it is.
"""

from __future__ import annotations

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
from airflow_provider_genai_batch.formats.jsonl import UTF8_BOM, iter_json_objects
from airflow_provider_genai_batch.formats.keys import key_line, read_key_line
from airflow_provider_genai_batch.formats.validate import InputLimits, InputSummary, validate_lines
from airflow_provider_genai_batch.hooks.base import BatchHook

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode
INLINE_SOURCE = "inline requests"


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
    source: str | Sequence[Mapping[str, Any]], hook: BatchHook, *, model: str, embeddings: bool
) -> PreparedInput:
    """Validate ``source`` for ``hook``'s provider and put it in that provider's format."""
    if embeddings and not hook.capabilities.embeddings:
        raise InputValidationError(f"{hook.provider} has no embeddings batch API", source=_label(source))
    caps, limits = hook.capabilities, hook.limits
    byte_limit = limits.max_file_bytes if caps.file_input else limits.max_inline_bytes
    caps_inline_only = caps.inline_input and not caps.file_input
    is_file = isinstance(source, str)
    # A native file goes up as it is, unless it starts with a BOM that providers would read as bad JSON.
    passthrough = is_file and not caps_inline_only and not _starts_with_bom(source)
    keys_file, native_file = _spool_path("keys"), _spool_path("input")
    spools = [native_file]
    endpoints: set[str] = set()
    rewritten = False

    try:
        with keys_file.open("wb") as keys, native_file.open("wb") as native:

            def on_line(line: dict[str, Any], fmt: InputFormat, size: int) -> int:
                nonlocal rewritten
                if fmt is hook.native_format:
                    endpoint = hook.check_native(line, model=model)
                    if endpoint:
                        endpoints.add(endpoint)
                        if len(endpoints) > 1:
                            raise ValueError(f"every line must target one endpoint; found {sorted(endpoints)}")
                    if passthrough:
                        return size  # uploaded as it is: no copy
                    out = line
                else:
                    out = hook.to_native(line, model=model, embeddings=embeddings)
                    rewritten = True
                encoded = _encode(out) + b"\n"
                native.write(encoded)
                return len(encoded)

            summary = validate_lines(
                _records(source, embeddings),
                source=_label(source),
                accepted=frozenset({InputFormat.GEMINI, hook.native_format}),
                limits=InputLimits(
                    provider=hook.provider,
                    max_requests=limits.max_requests,
                    min_requests=limits.min_requests,
                    max_bytes=byte_limit,
                ),
                embeddings=embeddings,
                on_key=lambda key: keys.write(key_line(key)),
                on_line=on_line,
                provider_key=hook.provider_key,
            )
    except BaseException:
        for path in (keys_file, *spools):
            path.unlink(missing_ok=True)
        raise
    prepared = PreparedInput(summary=summary, keys_file=keys_file, endpoint=next(iter(endpoints), None), _spools=spools)
    fits_inline = limits.max_inline_bytes is None or summary.total_bytes <= limits.max_inline_bytes
    if caps.inline_input and (not caps.file_input or (not is_file and fits_inline)):
        prepared.inline = JsonlSpool(native_file)
    elif passthrough and not rewritten:
        prepared.upload_source = _local_or_remote(ObjectStoragePath(source))
    else:
        prepared.upload_source = native_file
    return prepared


def _records(source: str | Sequence[Mapping[str, Any]], embeddings: bool) -> Iterable[tuple[int, dict[str, Any], int]]:
    if isinstance(source, str):
        return _file_records(source)
    if isinstance(source, (bytes, Mapping)) or not isinstance(source, Sequence):
        raise InputValidationError("inline input must be a list of request dicts", source=INLINE_SOURCE)
    return _inline_records(source, embeddings)


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
        return head.read(len(UTF8_BOM)) == UTF8_BOM


def _label(source: str | Sequence[Mapping[str, Any]]) -> str:
    return source if isinstance(source, str) else INLINE_SOURCE


def _local_or_remote(path: ObjectStoragePath) -> ObjectStoragePath | Path:
    return Path(path.path) if path.protocol in ("", "file", "local") else path


def _spool_path(kind: str) -> Path:
    descriptor, name = tempfile.mkstemp(prefix=f"genai-batch-{kind}-", suffix=".jsonl")
    os.close(descriptor)
    return Path(name)
