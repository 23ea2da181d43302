"""Landing does not hold keys or rows in memory: peak RSS growth is the same for 20,000 and 250,000 rows, whether
the rows stream in input order or are joined on disk (renamed keys, scrambled order)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.landing_memory import REPO, measure_landing, write_keys_file

SMALL, LARGE = 20_000, 250_000
# The join's records waiting to be spilled (16,384 of each kind) and one range of rows fill up by then; the
# in-memory key set and renamed-key map of an earlier join grew 20 MiB (plain keys) and 54 MiB (renamed keys)
# between these two sizes.
ALLOWED_GROWTH_MIB = 12


@pytest.mark.parametrize("shape", ["gemini-in-order", "openai-mapped"])
def test_landing_peak_memory_does_not_grow_with_the_row_count(tmp_path: Path, shape: str) -> None:
    growth = {}
    for n in (SMALL, LARGE):
        keys_file = write_keys_file(tmp_path / f"keys-{n}.jsonl", shape, n)
        measured = measure_landing(REPO, shape, keys_file, tmp_path / f"out-{n}", n)
        assert measured["counts"]["total"] == n
        growth[n] = (measured["peak_kib"] - measured["baseline_kib"]) / 1024

    extra = growth[LARGE] - growth[SMALL]
    assert extra < ALLOWED_GROWTH_MIB, f"landing {LARGE:,} rows grew {extra:.1f} MiB more than {SMALL:,}"
