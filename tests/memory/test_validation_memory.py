"""Validation holds neither the keys nor a huge line: peak memory does not grow with the input.

Each run is a fresh interpreter (``benchmarks.validation_memory``), so peaks do not mix. The figures for
2,000,000 lines and a 2 GiB line, next to the code before this change, are in the README.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.validation_memory import REPO, measure_validation, write_huge_line, write_requests

ALLOWED_GROWTH_MIB = 16  # the code that held keys in dicts grew about 30 MiB more here (35 MiB renamed)


def test_validation_memory_does_not_grow_with_the_number_of_lines(tmp_path: Path) -> None:
    small_count, large_count = 50_000, 250_000
    small = measure_validation(REPO, write_requests(tmp_path / "s.jsonl", small_count, renamed_keys=False), "gemini")
    large = measure_validation(REPO, write_requests(tmp_path / "l.jsonl", large_count, renamed_keys=False), "gemini")

    assert large["outcome"] == f"valid: {large_count:,} requests"
    growth = large["growth_mib"] - small["growth_mib"]
    assert growth < ALLOWED_GROWTH_MIB, f"peak RSS grew {growth:.1f} MiB more for 5x the lines"


def test_renamed_keys_do_not_make_memory_grow_with_the_number_of_lines(tmp_path: Path) -> None:
    # OpenAI cannot carry keys with spaces: every key travels as an id, and both are checked for clashes.
    small_count, large_count = 40_000, 160_000
    small = measure_validation(
        REPO, write_requests(tmp_path / "s.jsonl", small_count, renamed_keys=True), "openai", lifted=True
    )
    large = measure_validation(
        REPO, write_requests(tmp_path / "l.jsonl", large_count, renamed_keys=True), "openai", lifted=True
    )

    assert large["outcome"] == f"valid: {large_count:,} requests"
    growth = large["growth_mib"] - small["growth_mib"]
    assert growth < ALLOWED_GROWTH_MIB, f"peak RSS grew {growth:.1f} MiB more for 4x the lines"


def test_a_line_longer_than_any_request_is_refused_while_it_streams(tmp_path: Path) -> None:
    # 160 MiB of one line that never ends: refused at line 2 holding a few MiB of it, not the whole line.
    huge = write_huge_line(tmp_path / "huge.jsonl", 160 * 1024**2)

    result = measure_validation(REPO, huge, "openai")

    assert result["outcome"].startswith("refused at line 2: line is longer than 134,217,728 bytes")
    assert result["growth_mib"] < 24, f"peak RSS grew {result['growth_mib']:.1f} MiB to refuse the line"
