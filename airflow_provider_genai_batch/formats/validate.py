"""Line-by-line input validation: everything that can be known wrong is reported before upload.

One pass, constant memory apart from the set of keys (needed to find duplicates): bad JSON, wrong or
mixed formats, missing, empty or duplicate keys, malformed requests, and the provider's count and
size limits, each reported with the source, the line number and the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from airflow_provider_genai_batch.errors import InputValidationError
from airflow_provider_genai_batch.formats.detect import InputFormat, detect_format

GEMINI_LINE_FIELDS = frozenset({"key", "request", "metadata"})
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
) -> InputSummary:
    """Validate parsed lines (from :func:`..jsonl.iter_json_objects`); raise on the first problem.

    ``on_line`` is handed each valid line, its format and its size, and returns the bytes it will cost at
    the provider (after any translation); a ``ValueError`` it raises is reported against the line.
    ``provider_key`` is how the provider will rename keys; two keys that end up as one id are refused.
    """
    seen: dict[str, int] = {}
    renamed: dict[str, int] = {}
    fmt: InputFormat | None = None
    total = 0
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
        if key in seen:
            raise InputValidationError(
                f"duplicate key {key!r} (first used on line {seen[key]})", source=source, line=number
            )
        seen[key] = number
        if provider_key is not None:
            _check_renamed(key, provider_key(key), number, seen, renamed, source)
        if fmt is InputFormat.GEMINI:
            _check_gemini_line(obj, embeddings, source, number)
        if on_line is not None:
            try:
                size = on_line(obj, fmt, size)
            except ValueError as err:
                raise InputValidationError(str(err), source=source, line=number) from None
        total += size
        if limits.max_requests is not None and len(seen) > limits.max_requests:
            raise InputValidationError(
                f"more than {limits.max_requests:,} requests: over the {limits.max_requests:,}-request limit "
                f"of one {limits.provider} batch",
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
    if fmt is None:
        raise InputValidationError("input is empty: no requests", source=source)
    if len(seen) < limits.min_requests:
        raise InputValidationError(
            f"{len(seen)} requests, fewer than the {limits.min_requests:,} a {limits.provider} batch needs",
            source=source,
        )
    return InputSummary(format=fmt, count=len(seen), total_bytes=total)


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


def _check_gemini_line(obj: dict[str, Any], embeddings: bool, source: str, number: int) -> None:
    unknown = sorted(set(obj) - GEMINI_LINE_FIELDS)
    if unknown:
        raise InputValidationError(f"unknown field(s) {', '.join(unknown)}", source=source, line=number)
    request = obj["request"]
    if not isinstance(request, dict):
        raise InputValidationError("'request' must be a JSON object", source=source, line=number)
    if embeddings:
        if not isinstance(request.get("content"), dict):
            raise InputValidationError(
                "an embeddings request needs 'content' (an object with 'parts')", source=source, line=number
            )
        return
    contents = request.get("contents")
    if not isinstance(contents, list) or not contents:
        raise InputValidationError(
            "a generation request needs 'contents' (a non-empty list)", source=source, line=number
        )
    if "config" in request:
        raise InputValidationError(
            "JSONL requests use the REST shape: put generation parameters under 'generationConfig', "
            "not an SDK-style 'config'",
            source=source,
            line=number,
        )


def _check_renamed(
    key: str, provider_id: str, number: int, seen: dict[str, int], renamed: dict[str, int], source: str
) -> None:
    """Refuse a key whose provider id is another key's (only renamed keys are tracked, so this is cheap)."""
    clash = renamed.get(key)
    if provider_id != key:
        clash = clash or seen.get(provider_id) or renamed.get(provider_id)
        renamed[provider_id] = number
    if clash:
        raise InputValidationError(
            f"duplicate provider id: key {key!r} would reach the provider under the same id as the key on line {clash}",
            source=source,
            line=number,
        )
