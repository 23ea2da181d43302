"""Timestamps as providers send them, read into aware UTC datetimes."""

from __future__ import annotations

from datetime import datetime, timezone


def parse_rfc3339(value: str | None) -> datetime | None:
    """An RFC 3339 timestamp (``Z`` or an offset, any fraction precision) as an aware UTC datetime."""
    if not value:
        return None
    text = value[:-1] + "+00:00" if value[-1] in "Zz" else value
    head, dot, rest = text.partition(".")
    if dot:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[:digits][:6].ljust(6, '0')}{rest[digits:]}"
    parsed = datetime.fromisoformat(text)
    return parsed.astimezone(timezone.utc) if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def parse_unix(value: int | float | None) -> datetime | None:
    """Unix seconds as an aware UTC datetime."""
    return datetime.fromtimestamp(value, tz=timezone.utc) if value is not None else None
