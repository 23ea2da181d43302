"""The join reads each landed line back from its spool, and reads lines that follow one another there as they
do in the results (rows that came in input order) in one read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from .test_landing_in_order import KEYS, land, ok


@pytest.fixture
def line_reads(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """What each read of result lines returned (the join's other scratch files hold no ``"status":``)."""
    reads: list[bytes] = []
    pread = os.pread

    def counted(descriptor: int, size: int, offset: int) -> bytes:
        data = pread(descriptor, size, offset)
        if b'"status":' in data:
            reads.append(data)
        return data

    monkeypatch.setattr(os, "pread", counted)
    return reads


def test_rows_streamed_before_a_late_break_of_the_order_are_read_back_in_one_read(
    tmp_path: Path, line_reads: list[bytes]
) -> None:
    rows = [ok(key) for key in KEYS[:6]] + [ok(KEYS[7]), ok(KEYS[6])]
    files, _ = land(rows, tmp_path, "late-break")
    assert [read.count(b"\n") for read in line_reads] == [6, 1, 1]
    assert b"".join(line_reads) == files["results.jsonl"]


def test_rows_out_of_order_are_read_back_one_line_a_read(tmp_path: Path, line_reads: list[bytes]) -> None:
    files, _ = land([ok(key) for key in reversed(KEYS)], tmp_path, "reversed")
    assert [read.count(b"\n") for read in line_reads] == [1] * len(KEYS)
    assert b"".join(line_reads) == files["results.jsonl"]
