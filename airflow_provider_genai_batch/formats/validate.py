"""Line-by-line input validation: everything that can be known wrong is reported before upload.

One pass at constant memory: bad JSON, wrong or mixed formats, missing, empty or duplicate keys,
malformed requests, and the provider's count and size limits, each reported with the source, the line
number and the reason. Keys go to an on-disk :class:`KeyLog`; duplicates are found by one sort when the
pass ends, or before any other error is reported, so the error is always the first problem in line order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from airflow_provider_genai_batch.errors import InputValidationError
from airflow_provider_genai_batch.formats.detect import InputFormat, detect_format
from airflow_provider_genai_batch.formats.gemini_line import check_line
from airflow_provider_genai_batch.key_index import KeyLog

INLINE_SOURCE = "inline requests"
"""How errors name an input given as a list of request dicts rather than a file."""


@dataclass(frozen=True)
class InputLimits:
    """The limits a provider puts on one batch input."""

    provider: str
    max_requests: int | None = None
    min_requests: int = 1
    max_bytes: int | None = None
    max_key_length: int | None = None


@dataclass(frozen=True)
class InputSummary:
    """What validation learnt about a valid input."""

    format: InputFormat
    count: int
    total_bytes: int


def validate_lines(
    records: Iterable[tuple[int, dict[str, Any], int]],
    *,
    source: str,
    accepted: frozenset[InputFormat],
    limits: InputLimits,
    embeddings: bool = False,
    on_key: Callable[[str], object] | None = None,
    on_line: Callable[[dict[str, Any], InputFormat, int], int] | None = None,
    provider_key: Callable[[str], str] | None = None,
    vertex_fields: bool = False,
) -> InputSummary:
    """Validate parsed lines (from :class:`..jsonl.JsonlReader`); raise on the first problem.

    ``on_line`` is handed each valid line, its format and its size, and returns the bytes it will cost at
    the provider (after any translation); a ``ValueError`` it raises is reported against the line.
    ``provider_key`` is how the provider will rename keys; two keys that end up as one id are refused.
    ``vertex_fields``: Gemini-format requests go to Vertex AI, so its own request fields are allowed.
    A duplicate is known only once the lines after it are read, so ``on_key`` and ``on_line`` may have
    seen a few more lines when the error is raised.
    """
    fmt: InputFormat | None = None
    total = count = 0
    with KeyLog() as ids:
        try:
            for number, obj, size in records:
                line_format = detect_format(obj)
                if line_format is None:
                    raise InputValidationError(
                        'unrecognised line: expected {"key": ..., "request": {...}} (Gemini batch format) '
                        "or a provider's native batch format",
                        source=source,
                        line=number,
                    )
                if fmt is None:
                    fmt = line_format
                    if fmt not in accepted:
                        names = ", ".join(sorted(f.value for f in accepted))
                        raise InputValidationError(
                            f"{fmt.value} native format cannot be sent to {limits.provider} (accepted: {names})",
                            source=source,
                            line=number,
                        )
                elif line_format is not fmt:
                    raise InputValidationError(
                        f"line is in {line_format.value} format but the input started in {fmt.value} format",
                        source=source,
                        line=number,
                    )
                key = _check_key(obj, fmt, limits, source, number)
                provider_id = key if provider_key is None else provider_key(key)
                ids.add(number, provider_id, None if provider_id == key else key)
                if fmt is InputFormat.GEMINI:
                    _check_gemini_line(obj, embeddings, vertex_fields, source, number)
                if on_line is not None:
                    try:
                        size = on_line(obj, fmt, size)
                    except ValueError as err:
                        raise InputValidationError(str(err), source=source, line=number) from None
                total += size
                count += 1
                if limits.max_requests is not None and count > limits.max_requests:
                    raise InputValidationError(
                        f"more than {limits.max_requests:,} requests: over the {limits.max_requests:,}-request "
                        f"limit of one {limits.provider} batch",
                        source=source,
                        line=number,
                    )
                if limits.max_bytes is not None and total > limits.max_bytes:
                    raise InputValidationError(
                        f"input exceeds {limits.max_bytes:,} bytes, the size limit of one {limits.provider} batch",
                        source=source,
                        line=number,
                    )
                if on_key is not None:
                    on_key(key)
        except InputValidationError:
            duplicate = _first_duplicate(ids, source)
            if duplicate is not None:
                raise duplicate from None
            raise
        duplicate = _first_duplicate(ids, source)
        if duplicate is not None:
            raise duplicate
    if fmt is None:
        raise InputValidationError("input is empty: no requests", source=source)
    if count < limits.min_requests:
        raise InputValidationError(
            f"{count} requests, fewer than the {limits.min_requests:,} a {limits.provider} batch needs",
            source=source,
        )
    return InputSummary(format=fmt, count=count, total_bytes=total)


def _first_duplicate(ids: KeyLog, source: str) -> InputValidationError | None:
    """The error for the earliest line whose key (or the id the provider would see) an earlier line had."""
    duplicate = ids.first_duplicate()
    if duplicate is None:
        return None
    if duplicate.key == duplicate.first_key:
        reason = f"duplicate key {duplicate.key!r} (first used on line {duplicate.first_line})"
    else:
        reason = (
            f"duplicate provider id: key {duplicate.key!r} would reach the provider under the same id as the key "
            f"on line {duplicate.first_line}"
        )
    return InputValidationError(reason, source=source, line=duplicate.line)


def _check_key(obj: dict[str, Any], fmt: InputFormat, limits: InputLimits, source: str, number: int) -> str:
    field = fmt.key_field
    if field not in obj:
        raise InputValidationError(f"missing key field {field!r}", source=source, line=number)
    key = obj[field]
    if not isinstance(key, str) or not key:
        raise InputValidationError(f"{field!r} must be a non-empty string", source=source, line=number)
    if limits.max_key_length is not None and len(key) > limits.max_key_length:
        raise InputValidationError(
            f"{field!r} is {len(key)} characters, over the {limits.max_key_length} allowed",
            source=source,
            line=number,
        )
    return key


def _check_gemini_line(obj: dict[str, Any], embeddings: bool, vertex: bool, source: str, number: int) -> None:
    try:
        check_line(obj, embeddings=embeddings, vertex=vertex)
    except ValueError as err:
        raise InputValidationError(str(err), source=source, line=number) from None
