"""The join lands the same bytes whatever its code does: random mixes of renamed keys, keys listed twice, rows
repeated with every status, strays and rows placed by position give the files recorded in ``join_golden.txt``
(regenerate it only for a change meant to alter the landed files:
``python -m tests.unit.pipeline.join_corpus tests/unit/pipeline/join_golden.txt``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_genai_batch import landing_join

from .join_corpus import outcomes
from .landing_corpus import outcomes as provider_outcomes

GOLDEN = Path(__file__).with_name("join_golden.txt")
PROVIDER_GOLDEN = Path(__file__).with_name("landing_golden.txt")


@pytest.fixture
def few_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Buckets, ranges, spills and unmatched runs of a few records, and spool and landed writes of a few lines,
    so every case crosses their edges."""
    monkeypatch.setattr(landing_join, "BUCKETS", 2)
    monkeypatch.setattr(landing_join, "BUCKET_KEYS", 4)
    monkeypatch.setattr(landing_join, "RANGE", 3)
    monkeypatch.setattr(landing_join, "SPILL", 5)
    monkeypatch.setattr(landing_join, "RUN_CHUNK", 2)
    monkeypatch.setattr(landing_join, "SPOOL_BUFFER", 300)
    monkeypatch.setattr(landing_join, "WRITE_CHUNK", 300)


def test_random_mixes_of_what_the_join_decides_land_the_recorded_files(tmp_path: Path) -> None:
    assert list(outcomes(tmp_path)) == GOLDEN.read_text().splitlines()


@pytest.mark.usefixtures("few_at_a_time")
def test_the_join_in_partitions_of_a_few_records_lands_the_recorded_files(tmp_path: Path) -> None:
    assert list(outcomes(tmp_path)) == GOLDEN.read_text().splitlines()


@pytest.mark.usefixtures("few_at_a_time")
def test_every_provider_format_joined_in_partitions_of_a_few_records_lands_the_recorded_files(tmp_path: Path) -> None:
    assert list(provider_outcomes(tmp_path)) == PROVIDER_GOLDEN.read_text().splitlines()
