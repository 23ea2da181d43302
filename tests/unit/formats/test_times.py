"""Provider timestamps: one RFC 3339 reader (Gemini, Anthropic, Bedrock, gateway), one Unix-seconds reader (OpenAI)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from airflow_provider_genai_batch.formats.times import parse_rfc3339, parse_unix


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-08-20T20:08:31Z", utc(2026, 8, 20, 20, 8, 31)),
        ("2026-08-20T20:08:31.5Z", utc(2026, 8, 20, 20, 8, 31, 500000)),
        ("2026-08-20T20:08:31.123456789Z", utc(2026, 8, 20, 20, 8, 31, 123456)),
        (None, None),
        ("", None),
    ],
)
def test_parse_rfc3339_reads_rfc3339_at_any_fraction_precision(text, expected):
    assert parse_rfc3339(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-08-20T18:37:24.100435Z", utc(2024, 8, 20, 18, 37, 24, 100435)),
        ("2024-08-20T18:37:24Z", utc(2024, 8, 20, 18, 37, 24)),
        ("2024-08-20T18:37:24.1234567891Z", utc(2024, 8, 20, 18, 37, 24, 123456)),
        ("2024-08-20T20:37:24.5+02:00", utc(2024, 8, 20, 18, 37, 24, 500000)),
        (None, None),
    ],
)
def test_parse_rfc3339_reads_any_precision_and_offset_into_utc(text, expected):
    parsed = parse_rfc3339(text)
    assert parsed == expected
    if parsed is not None:
        assert parsed.utcoffset() is not None and parsed.utcoffset().total_seconds() == 0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1_724_178_644, utc(2024, 8, 20, 18, 30, 44)),
        (1_724_178_644.5, utc(2024, 8, 20, 18, 30, 44, 500000)),
        (None, None),
    ],
)
def test_parse_unix_reads_seconds_as_aware_utc(value, expected):
    parsed = parse_unix(value)
    assert parsed == expected
    if parsed is not None:
        assert parsed.tzinfo is timezone.utc
