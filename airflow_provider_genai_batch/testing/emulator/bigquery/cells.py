"""BigQuery cell values: what tabledata.insertAll accepts for each column type, and how tabledata.list encodes it.

A row is held as a dict of canonical values: str for STRING, BYTES (base64), NUMERIC, DATE, TIME, DATETIME and
GEOGRAPHY; int for INTEGER; float for FLOAT; bool for BOOLEAN; int microseconds since the epoch for TIMESTAMP;
compact JSON text for JSON; a dict for RECORD; a list for REPEATED; None for NULL.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from airflow_provider_genai_batch.testing.emulator.bigquery.tables import Column

TimestampFormat = Literal["FLOAT64", "INT64", "ISO8601_STRING"]

_TIMESTAMP = re.compile(
    r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[T ](\d{1,2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?)?"
    r"\s*(?:Z|UTC|([+-])(\d{1,2})(?::?(\d{2}))?)?"
)
_DATE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}")
_TIME = re.compile(r"\d{1,2}:\d{2}(:\d{2}(\.\d{1,6})?)?")
_DATETIME = re.compile(r"\d{4}-\d{1,2}-\d{1,2}([T ]\d{1,2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?")
_INTEGER = re.compile(r"[+-]?\d+")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class CellError(ValueError):
    """A value that does not fit its column: `location` is the dotted field path, the message BigQuery's."""

    def __init__(self, location: str, message: str) -> None:
        """Remember where and why."""
        super().__init__(message)
        self.location = location
        self.message = message


def _bad(kind: str, value: Any, location: str) -> CellError:
    text = value if isinstance(value, str) else json.dumps(value)
    return CellError(location, f"Cannot convert value to {kind} (bad value): {text}")


def _string(value: Any, location: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    raise _bad("string", value, location)


def _integer(value: Any, location: str) -> int:
    if isinstance(value, bool):
        raise _bad("integer", value, location)
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
        number = int(value.strip())
    else:
        raise _bad("integer", value, location)
    if not INT64_MIN <= number <= INT64_MAX:
        raise _bad("integer", value, location)
    return number


def _float(value: Any, location: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _bad("floating point", value, location)
    if isinstance(value, str) and value.strip().lower() not in ("nan", "infinity", "-infinity", "inf", "-inf"):
        try:
            Decimal(value.strip())
        except InvalidOperation:
            raise _bad("floating point", value, location) from None
    text = value.strip().replace("Infinity", "inf") if isinstance(value, str) else value
    return float(text)


def _boolean(value: Any, location: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise _bad("boolean", value, location)


def _numeric(value: Any, location: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _bad("numeric", value, location)
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise _bad("numeric", value, location) from None
    if not number.is_finite():
        raise _bad("numeric", value, location)
    return format(number.normalize(), "f")


def _timestamp(value: Any, location: str) -> int:
    """TIMESTAMP: epoch seconds as a number, or a date-time string with an optional zone (UTC by default)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise _bad("timestamp", value, location)
        return round(Decimal(str(value)) * 1_000_000)
    match = _TIMESTAMP.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise CellError(
            location,
            f"Couldn't convert value to timestamp: Could not parse '{value}' as a timestamp. Required format is "
            "YYYY-MM-DD HH:MM[:SS[.SSSSSS]] or YYYY/MM/DD HH:MM[:SS[.SSSSSS]]",
        )
    year, month, day, hour, minute, second, fraction, sign, zone_hours, zone_minutes = match.groups()
    try:
        moment = datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0))
    except ValueError:
        raise CellError(location, f"Couldn't convert value to timestamp: Invalid timestamp: '{value}'") from None
    offset_minutes = 0
    if sign is not None:
        offset_minutes = (int(zone_hours) * 60 + int(zone_minutes or 0)) * (1 if sign == "+" else -1)
    delta = moment.replace(tzinfo=timezone.utc) - _EPOCH
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + int((fraction or "0").ljust(6, "0"))
    return micros - offset_minutes * 60_000_000


def _pattern(kind: str, pattern: re.Pattern[str]) -> Callable[[Any, str], str]:
    def parse(value: Any, location: str) -> str:
        if isinstance(value, str) and pattern.fullmatch(value.strip()):
            return value.strip()
        raise CellError(location, f'Invalid {kind} string "{value}"')

    return parse


def _bytes(value: Any, location: str) -> str:
    if isinstance(value, str):
        try:
            base64.b64decode(value, validate=True)
        except binascii.Error:
            raise CellError(location, "Could not decode base64 string to bytes.") from None
        return value
    raise CellError(location, "Could not decode base64 string to bytes.")


def _json(value: Any, location: str) -> str:
    """JSON columns take their value as JSON text, which is checked and kept in compact form."""
    if not isinstance(value, str):
        raise CellError(location, f"This field: {location} is not a JSON string.")
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise CellError(location, f"Invalid JSON: {exc.msg} at position {exc.pos}") from None
    return json.dumps(parsed, separators=(",", ":"), ensure_ascii=False)


def _geography(value: Any, location: str) -> str:
    if isinstance(value, str):
        return value
    raise _bad("geography", value, location)


SCALAR_PARSERS: dict[str, Callable[[Any, str], Any]] = {
    "STRING": _string,
    "INTEGER": _integer,
    "FLOAT": _float,
    "BOOLEAN": _boolean,
    "NUMERIC": _numeric,
    "BIGNUMERIC": _numeric,
    "TIMESTAMP": _timestamp,
    "DATE": _pattern("date", _DATE),
    "TIME": _pattern("time", _TIME),
    "DATETIME": _pattern("datetime", _DATETIME),
    "BYTES": _bytes,
    "JSON": _json,
    "GEOGRAPHY": _geography,
}


def parse_row(columns: Sequence[Column], row: Any, *, ignore_unknown: bool, prefix: str = "") -> dict[str, Any]:
    """One insertAll `json` object as a canonical row; CellError for the first value that does not fit."""
    if not isinstance(row, Mapping):
        raise CellError(prefix.rstrip("."), f"This field: {prefix.rstrip('.')} is not a record.")
    by_name = {column.name.lower(): column for column in columns}
    for name in row:
        if name.lower() not in by_name and not ignore_unknown:
            raise CellError(f"{prefix}{name}", f"no such field: {prefix}{name}.")
    given = {name.lower(): value for name, value in row.items()}
    return {
        column.name: _parse_column(column, given.get(column.name.lower()), f"{prefix}{column.name}", ignore_unknown)
        for column in columns
    }


def _parse_column(column: Column, value: Any, location: str, ignore_unknown: bool) -> Any:
    if column.mode == "REPEATED":
        if value is None:
            return []
        if not isinstance(value, list):
            raise CellError(location, f"This field: {location} is repeated, but the value is not an array.")
        return [_parse_single(column, item, location, ignore_unknown) for item in value]
    if isinstance(value, list):
        raise CellError(location, f"Array specified for non-repeated field: {location}.")
    if value is None:
        if column.mode == "REQUIRED":
            raise CellError(location, f"Missing required field: {location}.")
        return None
    return _parse_single(column, value, location, ignore_unknown)


def _parse_single(column: Column, value: Any, location: str, ignore_unknown: bool) -> Any:
    if value is None:
        raise CellError(location, f"Array specified for field {location} contains a null element.")
    if column.type == "RECORD":
        return parse_row(column.fields, value, ignore_unknown=ignore_unknown, prefix=f"{location}.")
    return SCALAR_PARSERS[column.type](value, location)


# Rendering


def to_api_value(column: Column, value: Any) -> Any:
    """A canonical value back in a form insertAll accepts (the store's `rows()` view)."""
    if value is None:
        return None
    if column.mode == "REPEATED":
        return [_api_single(column, item) for item in value]
    return _api_single(column, value)


def _api_single(column: Column, value: Any) -> Any:
    if column.type == "RECORD":
        return {field.name: to_api_value(field, value[field.name]) for field in column.fields}
    if column.type == "TIMESTAMP":
        return iso_timestamp(value)
    return value


def iso_timestamp(micros: int) -> str:
    """Microseconds since the epoch as an RFC 3339 UTC timestamp with microseconds."""
    seconds, fraction = divmod(micros, 1_000_000)
    moment = datetime.fromtimestamp(seconds, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{fraction:06d}Z"


def to_cell(column: Column, value: Any, timestamps: TimestampFormat) -> Any:
    """The `v` of a tabledata.list cell: scalars as strings, records as {"f": [...]}, arrays as [{"v": ...}]."""
    if value is None:
        return None
    if column.mode == "REPEATED":
        return [{"v": _cell_single(column, item, timestamps)} for item in value]
    return _cell_single(column, value, timestamps)


def _cell_single(column: Column, value: Any, timestamps: TimestampFormat) -> Any:
    if column.type == "RECORD":
        return {"f": [{"v": to_cell(field, value[field.name], timestamps)} for field in column.fields]}
    if column.type == "TIMESTAMP":
        return _timestamp_cell(value, timestamps)
    if column.type == "BOOLEAN":
        return "true" if value else "false"
    if column.type == "FLOAT":
        return _float_text(value)
    return str(value)


def _timestamp_cell(micros: int, timestamps: TimestampFormat) -> str:
    if timestamps == "INT64":
        return str(micros)
    if timestamps == "ISO8601_STRING":
        return iso_timestamp(micros)
    if micros == 0:
        return "0.0"
    return format(Decimal(micros).scaleb(-6).normalize(), "E").replace("E+", "E")


def _float_text(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(value)
