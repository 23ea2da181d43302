"""Uploading does not hold the file in memory: peak RSS is the same for a small and a 7x larger input."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_genai_batch.testing.emulator import EmulatorServer
from benchmarks._memory import measure_upload, write_jsonl

SMALL, LARGE = 16_000_000, 112_000_000
ALLOWED_GROWTH_MIB = 24  # three 8 MiB chunks of slack for allocator noise; the file is 96 MB larger


@pytest.fixture(scope="module")
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(api_key="memory-key") as server:
        yield server


def test_hook_upload_peak_memory_does_not_grow_with_the_file(emulator: EmulatorServer, tmp_path: Path) -> None:
    small = measure_upload("hook", write_jsonl(tmp_path / "small.jsonl", SMALL), emulator.base_url, "memory-key")
    large = measure_upload("hook", write_jsonl(tmp_path / "large.jsonl", LARGE), emulator.base_url, "memory-key")

    assert large["size"] >= LARGE
    growth_mib = (large["peak_kib"] - small["peak_kib"]) / 1024
    assert growth_mib < ALLOWED_GROWTH_MIB, f"peak RSS grew {growth_mib:.1f} MiB for a file {LARGE // SMALL}x larger"
