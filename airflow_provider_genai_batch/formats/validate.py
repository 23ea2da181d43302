"""Line-by-line input validation: everything that can be known wrong is reported before upload.

One pass at constant memory: bad JSON, wrong or mixed formats, missing, empty or duplicate keys,
malformed requests, and the provider's count and size limits, each reported with the source, the line
number and the reason. Keys go to an on-disk :class:`KeyLog`; duplicates are found by one sort when the
pass ends, or before any other error is reported, so the error is always the first problem in line order.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from airflow_provider_genai_batch.errors import InputValidationError
from airflow_provider_genai_batch.formats.detect import InputFormat, detect_format
from airflow_provider_genai_batch.formats.gemini_line import check_line
from airflow_provider_genai_batch.formats.jsonl import NESTED_TOO_DEEPLY
from airflow_provider_genai_batch.key_index import Duplicate, KeyLog

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


class ErrorCollector:
    """Per-line problems gathered instead of raised (a dry run): the first ``limit`` in line order, and a count."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"collect at least one error, not {limit!r}")
        self.limit = limit
        self.errors: list[InputValidationError] = []
        self.total = 0

    def add(self, error: InputValidationError) -> None:
        """Record ``error`` (errors come in line order, so the first ``limit`` are kept)."""
        self.total += 1
        if len(self.errors) < self.limit:
            self.errors.append(error)

    def merge(self, found: list[InputValidationError], total: int) -> None:
        """Add errors found after the pass (duplicates, in line order): the kept ones stay the first in line order."""
        self.total += total
        self.errors = sorted([*self.errors, *found], key=_line_order)[: self.limit]


def _line_order(error: InputValidationError) -> tuple[bool, int]:
    return error.line is None, error.line or 0


def validate_lines(
    records: Iterable[tuple[int, dict[str, Any], int]],
    *,
    source: str,
    accepted: frozenset[InputFormat],
    limits: InputLimits,
    embeddings: bool = False,
    on_key: Callable[[str], object] | None = None,
    on_line: Callable[[dict[str, Any], InputFormat, int, int], int | None] | None = None,
    provider_key: Callable[[str], str] | None = None,
    vertex_fields: bool = False,
    errors: ErrorCollector | None = None,
    checked: Callable[[dict[str, Any]], bool] | None = None,
    positional: Container[int] = frozenset(),
) -> InputSummary:
    """Validate parsed lines (from :class:`..jsonl.JsonlReader`); raise on the first problem.

    ``on_line`` is handed each valid line, its format, its size and its line number, and returns the bytes
    it will cost at the provider (after any translation), or None when the line is not sent (it is then
    neither counted nor handed to ``on_key``); a ``ValueError`` it raises is reported against the line.
    ``provider_key`` is how the provider will rename keys; two keys that end up as one id are refused.
    ``vertex_fields``: Gemini-format requests go to Vertex AI, so its own request fields are allowed.
    ``checked`` says of a Gemini-format line whether it is known to pass the request check (a typed fast path
    certified it), which then is not run again. ``positional`` holds the lines whose key is their position (inline
    items without a key of their own), so a duplicate involving one says so.
    A duplicate is known only once the lines after it are read, so ``on_key`` and ``on_line`` may have
    seen a few more lines when the error is raised. With ``errors``, a line's problem is recorded there and
    the line skipped (every duplicate is recorded when the pass ends, though its lines were sent on); the
    request-count and size limits, and an empty input, still raise.
    """
    fmt: InputFormat | None = None
    allowed: InputFormat | None = None  # ``fmt`` once it is known to be accepted, and its key field:
    key_field = ""
    total = count = 0
    max_key_length = limits.max_key_length
    with KeyLog() as ids:
        add_id = ids.add
        try:
            for number, obj, size in records:
                try:
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
                    if line_format is not fmt:
                        raise InputValidationError(
                            f"line is in {line_format.value} format but the input started in {fmt.value} format",
                            source=source,
                            line=number,
                        )
                    if fmt is not allowed:
                        if fmt not in accepted:
                            names = ", ".join(sorted(f.value for f in accepted))
                            raise InputValidationError(
                                f"{fmt.value} native format cannot be sent to {limits.provider} (accepted: {names})",
                                source=source,
                                line=number,
                            )
                        allowed, key_field = fmt, fmt.key_field
                    key = obj.get(key_field)
                    if type(key) is not str or not key or (max_key_length is not None and len(key) > max_key_length):
                        key = _check_key(obj, fmt, limits, source, number)  # words the error
                    provider_id = key if provider_key is None else provider_key(key)
                    add_id(number, provider_id, None if provider_id == key else key)
                    if fmt is InputFormat.GEMINI and (checked is None or not checked(obj)):
                        _check_gemini_line(obj, embeddings, vertex_fields, source, number)
                    if on_line is not None:
                        try:
                            sent = on_line(obj, fmt, size, number)
                        except ValueError as err:
                            raise InputValidationError(str(err), source=source, line=number) from None
                        if sent is None:
                            continue
                        size = sent
                except InputValidationError as err:
                    if errors is None:
                        raise
                    errors.add(err)
                    continue
                except RecursionError:  # a request nested deeper than a check or translation can follow
                    nested = InputValidationError(NESTED_TOO_DEEPLY, source=source, line=number)
                    if errors is None:
                        raise nested from None
                    errors.add(nested)
                    continue
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
            duplicate = _first_duplicate(ids, source, positional)
            if duplicate is not None:
                raise duplicate from None
            raise
        if errors is not None:
            found, duplicates = ids.duplicates(errors.limit)
            errors.merge([_duplicate_error(one, source, positional) for one in found], duplicates)
        else:
            duplicate = _first_duplicate(ids, source, positional)
            if duplicate is not None:
                raise duplicate
    if fmt is None:
        if errors is not None and errors.total:
            return InputSummary(format=min(accepted, key=lambda f: f.value), count=0, total_bytes=0)
        raise InputValidationError("input is empty: no requests", source=source)
    if count < limits.min_requests:
        under = InputValidationError(
            f"{count} requests, fewer than the {limits.min_requests:,} a {limits.provider} batch needs",
            source=source,
        )
        if errors is None or not errors.total:
            raise under
        errors.merge([under], 1)
    return InputSummary(format=fmt, count=count, total_bytes=total)


def _first_duplicate(ids: KeyLog, source: str, positional: Container[int]) -> InputValidationError | None:
    """The error for the earliest line whose key (or the id the provider would see) an earlier line had."""
    duplicate = ids.first_duplicate()
    return None if duplicate is None else _duplicate_error(duplicate, source, positional)


def _duplicate_error(duplicate: Duplicate, source: str, positional: Container[int]) -> InputValidationError:
    if duplicate.line in positional:
        reason = (
            f"duplicate key {duplicate.key!r}: item {duplicate.line} has no key, so it is keyed by its position "
            f"counted from 0, and item {duplicate.first_line} gives {duplicate.key!r} as its own key: give every item "
            "a key, or none"
        )
    elif duplicate.first_line in positional:
        reason = (
            f"duplicate key {duplicate.key!r}: item {duplicate.first_line} has no key, so it is keyed by its position "
            "counted from 0, the key this item gives: give every item a key, or none"
        )
    elif duplicate.key == duplicate.first_key:
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
        raise InputValidationError(_missing_key(obj, field), source=source, line=number)
    key = obj[field]
    if not isinstance(key, str) or not key:
        raise InputValidationError(
            f"{field!r} must be a non-empty string, got {_as_written(key)}", source=source, line=number
        )
    if limits.max_key_length is not None and len(key) > limits.max_key_length:
        raise InputValidationError(
            f"{field!r} is {len(key)} characters, over the {limits.max_key_length} allowed",
            source=source,
            line=number,
        )
    return key


def _as_written(value: Any) -> str:
    """A JSON value as the line wrote it, cut at 80 characters."""
    text = msgspec.json.encode(value).decode()
    return text if len(text) <= 80 else f"{text[:80]}..."


def _missing_key(obj: Mapping[str, Any], field: str) -> str:
    """Why a line has no key, saying where a key it seems to hold is and where the join reads it: a key spelled
    another way at the top level (``Key``, ``customId``), one inside the request or its metadata, or another
    format's key field."""
    reason = f"missing key field {field!r}"
    wanted = _spelling(field)
    for name in obj:
        if isinstance(name, str) and name != field and _spelling(name) == wanted:
            return f"{reason}: the line has {name!r}, and key fields are read exactly as spelled"
    for name, value in obj.items():
        if isinstance(value, Mapping) and field in value:
            return f"{reason}: {name}.{field} is given, but the key is read from the top level of the line only"
    for other in _KEY_FIELD_NAMES - {field}:
        if other in obj:
            return f"{reason}: the line has {other!r}, the key field of another format, which this format does not read"
    return reason


_KEY_FIELD_NAMES = frozenset(fmt.key_field for fmt in InputFormat)


def _spelling(name: str) -> str:
    """A field name without case, ``_`` or ``-``: ``customId``, ``custom-id`` and ``Custom_ID`` read alike."""
    return name.replace("_", "").replace("-", "").casefold()


def _check_gemini_line(obj: dict[str, Any], embeddings: bool, vertex: bool, source: str, number: int) -> None:
    try:
        check_line(obj, embeddings=embeddings, vertex=vertex)
    except ValueError as err:
        raise InputValidationError(str(err), source=source, line=number) from None
