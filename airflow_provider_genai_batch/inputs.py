"""Reading and validating a batch input (JSONL at any ``ObjectStoragePath``, or inline request dicts).

Everything is checked in one streaming pass before anything is uploaded or billed; the input keys
are spooled to a local file for the later join. What needs no rewriting (a JSONL already in the
provider's own format) is uploaded as it is, from where it is.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import msgspec
from airflow.sdk import ObjectStoragePath

from airflow_provider_genai_batch.errors import InputValidationError
from airflow_provider_genai_batch.formats import gemini
from airflow_provider_genai_batch.formats.detect import InputFormat
from airflow_provider_genai_batch.formats.jsonl import iter_json_objects
from airflow_provider_genai_batch.formats.validate import InputLimits, InputSummary, validate_lines
from airflow_provider_genai_batch.hooks.base import BatchHook

_encode = msgspec.json.Encoder().encode


@dataclass
class PreparedInput:
    """A validated input, ready to submit: a file to upload or inline requests, plus its keys."""

    summary: InputSummary
    keys_file: Path
    upload_source: ObjectStoragePath | Path | None = None
    inline_lines: list[dict[str, Any]] | None = None
    _tmp: list[Path] = field(default_factory=list)

    def open_upload(self) -> IO[bytes]:
        """The bytes to upload, as a binary stream."""
        assert self.upload_source is not None
        return self.upload_source.open("rb")

    def iter_keys(self) -> Iterator[str]:
        """The validated input keys, in input order."""
        with self.keys_file.open("rb") as keys:
            for line in keys:
                yield line.rstrip(b"\n").decode()

    def cleanup(self) -> None:
        """Remove local spool files."""
        for path in (self.keys_file, *self._tmp):
            path.unlink(missing_ok=True)


def limits_of(hook_cls: type[BatchHook], *, max_bytes: int | None = None) -> InputLimits:
    """A hook's declared limits as the validator's limits."""
    limits = hook_cls.limits
    return InputLimits(
        provider=hook_cls.provider,
        max_requests=limits.max_requests,
        min_requests=limits.min_requests,
        max_bytes=max_bytes if max_bytes is not None else limits.max_file_bytes,
    )


def prepare_jsonl(uri: str, hook_cls: type[BatchHook], *, embeddings: bool) -> PreparedInput:
    """Validate a JSONL input in place; it is uploaded as it is."""
    source = ObjectStoragePath(uri)
    if not source.exists():
        raise_missing(uri)
    keys_file = _spool_path("keys")
    with source.open("rb") as lines, keys_file.open("wb") as keys:
        summary = validate_lines(
            iter_json_objects(lines, source=uri),
            source=uri,
            accepted=frozenset({InputFormat.GEMINI}),
            limits=limits_of(hook_cls),
            embeddings=embeddings,
            on_key=lambda key: keys.write(key.encode() + b"\n"),
        )
    upload: ObjectStoragePath | Path = Path(source.path) if source.protocol in ("", "file", "local") else source
    return PreparedInput(summary=summary, keys_file=keys_file, upload_source=upload)


def prepare_inline(items: Sequence[Mapping[str, Any]], hook_cls: type[BatchHook], *, embeddings: bool) -> PreparedInput:
    """Convert SDK-style or canonical request dicts to canonical lines and validate them.

    They are sent inline when the provider takes inline input and they fit its inline size limit;
    otherwise they are spooled to a JSONL file and uploaded.
    """
    if isinstance(items, (str, bytes)) or not isinstance(items, Sequence):
        raise InputValidationError("inline input must be a list of request dicts", source="inline requests")
    lines = [gemini.canonical_line(item, i, embeddings=embeddings) for i, item in enumerate(items)]
    keys_file = _spool_path("keys")
    with keys_file.open("wb") as keys:
        summary = validate_lines(
            ((i + 1, line, len(_encode(line)) + 1) for i, line in enumerate(lines)),
            source="inline requests",
            accepted=frozenset({InputFormat.GEMINI}),
            limits=limits_of(hook_cls),
            embeddings=embeddings,
            on_key=lambda key: keys.write(key.encode() + b"\n"),
        )
    limits = hook_cls.limits
    fits_inline = limits.max_inline_bytes is None or summary.total_bytes <= limits.max_inline_bytes
    if hook_cls.capabilities.inline_input and (fits_inline or not hook_cls.capabilities.file_input):
        return PreparedInput(summary=summary, keys_file=keys_file, inline_lines=lines)
    spooled = _spool_path("input")
    with spooled.open("wb") as sink:
        for line in lines:
            sink.write(_encode(line) + b"\n")
    return PreparedInput(summary=summary, keys_file=keys_file, upload_source=spooled, _tmp=[spooled])


def raise_missing(uri: str) -> None:
    """Fail clearly on an input that is not there."""
    raise InputValidationError("input file does not exist", source=uri)


def _spool_path(kind: str) -> Path:
    descriptor, name = tempfile.mkstemp(prefix=f"genai-batch-{kind}-", suffix=".tmp")
    os.close(descriptor)
    return Path(name)
