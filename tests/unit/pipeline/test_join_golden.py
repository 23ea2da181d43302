"""The join lands the same bytes whatever its code does: random mixes of renamed keys, keys listed twice, rows
repeated with every status, strays and rows placed by position give the files recorded in ``join_golden.txt``
(regenerate it only for a change meant to alter the landed files:
``python -m tests.unit.pipeline.join_corpus tests/unit/pipeline/join_golden.txt``)."""

from __future__ import annotations

from pathlib import Path

from .join_corpus import outcomes

GOLDEN = Path(__file__).with_name("join_golden.txt")


def test_random_mixes_of_what_the_join_decides_land_the_recorded_files(tmp_path: Path) -> None:
    assert list(outcomes(tmp_path)) == GOLDEN.read_text().splitlines()
