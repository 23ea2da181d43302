"""Streaming JSONL reading with line numbers: BOM, CRLF and blank lines handled, errors located."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import msgspec

from airflow_provider_genai_batch.errors import InputValidationError

_decoder = msgspec.json.Decoder()
UTF8_BOM = b"\xef\xbb\xbf"


def iter_json_objects(lines: Iterable[bytes], source: str) -> Iterator[tuple[int, dict[str, Any], int]]:
    """Yield ``(line number, object, byte length)`` for each non-blank line; raise on the first bad one."""
    for number, raw in enumerate(lines, start=1):
        line = raw[len(UTF8_BOM) :] if number == 1 and raw.startswith(UTF8_BOM) else raw
        line = line.rstrip(b"\r\n")
        if not line.strip():
            continue
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as err:
            raise InputValidationError(f"not valid UTF-8 (byte {err.start})", source=source, line=number) from None
        try:
            obj = _decoder.decode(line)
        except msgspec.DecodeError as err:
            raise InputValidationError(f"invalid JSON: {err}", source=source, line=number) from None
        except RecursionError:
            raise InputValidationError("JSON nested too deeply", source=source, line=number) from None
        if not isinstance(obj, dict):
            raise InputValidationError(
                f"each line must be a JSON object, got {type(obj).__name__}", source=source, line=number
            )
        yield number, obj, len(raw)
