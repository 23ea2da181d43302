"""Landing writes the same bytes whatever its code does per row: every provider's result format, landed as it
streams and by the join, gives the files recorded in ``landing_golden.txt`` (regenerate it only for a change
meant to alter the landed files: ``python -m tests.unit.pipeline.landing_corpus > landing_golden.txt``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from airflow_provider_genai_batch import landing

from .landing_corpus import CASES, land_case, outcomes

GOLDEN = Path(__file__).with_name("landing_golden.txt")


def test_every_provider_format_lands_the_recorded_files_in_every_order(tmp_path: Path):
    assert list(outcomes(tmp_path)) == GOLDEN.read_text().splitlines()


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_rows_answering_the_keys_in_order_are_landed_without_the_join(
    case: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    def no_join(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the join ran")

    monkeypatch.setattr(landing, "_join", no_join)

    landed = land_case(case, "streamed", tmp_path / case.name)

    assert "results.jsonl" in landed
