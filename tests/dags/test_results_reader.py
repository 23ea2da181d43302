"""The example DAGs read landed results as JSONL: a row whose text holds U+2028 or U+2029 stays one row.

The landing writes rows with msgspec, which leaves those characters raw (valid JSON); ``str.splitlines``
takes them for line ends, so a reader built on it breaks such a row in two. Each reading task of the
examples is called here as Airflow would call it, on a results file written by the landing's own encoder.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from airflow_provider_genai_batch.formats.results import ResultRow, RowStatus, encode_row
from tests.dags.conftest import REPO

LINE_SEPARATOR, PARAGRAPH_SEPARATOR = "\u2028", "\u2029"
TRICKY_TEXT = f"first line{LINE_SEPARATOR}second line{PARAGRAPH_SEPARATOR}third{LINE_SEPARATOR}"


@pytest.fixture
def examples(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], ModuleType]:
    """``examples(name)`` -> an example DAG module (or helper) imported as the DAG processor imports it."""
    monkeypatch.syspath_prepend(str(REPO / "dags_examples"))
    return importlib.import_module


def write_results(path: Path, rows: list[ResultRow]) -> dict[str, Any]:
    """A results.jsonl written as the landing writes it, and a manifest naming it."""
    path.write_bytes(b"".join(encode_row(row) for row in rows))
    succeeded = sum(row.status is RowStatus.SUCCEEDED for row in rows)
    counts = {"total": len(rows), "succeeded": succeeded, "failed": len(rows) - succeeded}
    return {"results_uri": str(path), "counts": counts}


def tricky_rows(count: int, prefix: str = "k") -> list[ResultRow]:
    """``count`` succeeded rows, every third one's text holding U+2028 and U+2029."""
    return [
        ResultRow(key=f"{prefix}{i:03d}", status=RowStatus.SUCCEEDED, text=TRICKY_TEXT if i % 3 == 0 else f"answer {i}")
        for i in range(count)
    ]


def test_the_landed_file_really_holds_the_raw_separators(tmp_path):
    write_results(tmp_path / "results.jsonl", tricky_rows(3))
    data = (tmp_path / "results.jsonl").read_bytes()
    assert LINE_SEPARATOR.encode() in data and PARAGRAPH_SEPARATOR.encode() in data
    assert len(data.decode().splitlines()) > 3  # what a splitlines reader would take for rows


def test_the_reader_keeps_each_row_whole(examples, tmp_path):
    manifest = write_results(tmp_path / "results.jsonl", tricky_rows(7))
    rows = list(examples("_runs").iter_result_rows(manifest["results_uri"]))
    assert [row["key"] for row in rows] == [f"k{i:03d}" for i in range(7)]
    assert [row["text"] for row in rows if row["key"] in ("k000", "k003", "k006")] == [TRICKY_TEXT] * 3


def test_the_reader_takes_crlf_line_ends_and_skips_blank_lines(examples, tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_bytes(b'{"key":"a","text":"x\xe2\x80\xa8y"}\r\n\n{"key":"b","text":null}\n')
    assert list(examples("_runs").iter_result_rows(str(path))) == [
        {"key": "a", "text": f"x{LINE_SEPARATOR}y"},
        {"key": "b", "text": None},
    ]


def test_the_reader_names_the_line_that_is_not_a_json_object(examples, tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_bytes(b'{"key":"a"}\n[1, 2]\n')
    with pytest.raises(ValueError, match=r"results.jsonl, line 2: expected a JSON object, got list"):
        list(examples("_runs").iter_result_rows(str(path)))


def test_the_reader_streams_rows_without_reading_the_file_whole(examples, tmp_path):
    path = tmp_path / "results.jsonl"
    write_results(path, tricky_rows(3))
    with path.open("ab") as sink:
        sink.write(b"{broken\n")
    rows = examples("_runs").iter_result_rows(str(path))
    assert [next(rows)["key"] for _ in range(3)] == ["k000", "k001", "k002"]  # read before the bad line
    with pytest.raises(ValueError):
        next(rows)


def test_nightly_report_counts_every_row(examples, tmp_path):
    manifest = write_results(tmp_path / "results.jsonl", tricky_rows(5))
    assert examples("gemini_nightly").report.function(manifest) == {"rows": 5, "succeeded": 5}


def test_bedrock_report_counts_every_row(examples, tmp_path):
    manifest = write_results(tmp_path / "results.jsonl", tricky_rows(120))
    assert examples("bedrock_batch").report.function(manifest) == {"rows": 120, "succeeded": 120}


def test_gateway_report_counts_every_row_of_every_target(examples, tmp_path):
    manifests = {}
    for target in ("gemini", "openai", "anthropic"):
        (tmp_path / target).mkdir()
        manifests[target] = write_results(tmp_path / target / "results.jsonl", tricky_rows(3))
    summary = examples("gateway_batch").report.function(**manifests)
    assert summary == {target: {"rows": 3, "succeeded": 3} for target in manifests}


def test_cross_provider_comparison_joins_rows_holding_separators(examples, tmp_path):
    manifests = {}
    for provider in ("gemini", "openai", "anthropic"):
        (tmp_path / provider).mkdir()
        manifests[provider] = write_results(tmp_path / provider / "results.jsonl", tricky_rows(4))
    summary = examples("cross_provider").compare.function(**manifests)
    assert summary == {"keys": 4, "answered_by_all": 4, "identical_answers": 4}


class Run:
    """The parts of a DagRun the run-folder helpers read."""

    def __init__(self, run_id: str, logical_date: Any, run_after: Any) -> None:
        self.run_id, self.logical_date, self.run_after = run_id, logical_date, run_after


def test_a_run_without_a_logical_date_gets_its_day_from_run_after(examples):
    runs = examples("_runs")
    after = datetime(2026, 11, 21, 3, 4, 5, tzinfo=timezone.utc)
    run = Run("manual__2026-11-21T03:04:05+00:00_AbC123", None, after)
    assert runs.run_day(run) == "2026-11-21"
    assert runs.run_folder(run).startswith("2026-11-21/manual__2026-11-21T03_04_05_00_00_AbC123-")


def test_a_scheduled_run_gets_its_day_from_its_logical_date(examples):
    runs = examples("_runs")
    logical = datetime(2026, 11, 20, tzinfo=timezone.utc)
    run = Run("scheduled__2026-11-20T00:00:00+00:00", logical, datetime(2026, 11, 21, tzinfo=timezone.utc))
    assert runs.run_day(run) == "2026-11-20"
    assert runs.run_folder(run).startswith("2026-11-20/scheduled__2026-11-20T00_00_00_00_00-")


def test_run_ids_that_differ_only_in_unsafe_characters_get_different_folders(examples):
    runs = examples("_runs")
    after = datetime(2026, 11, 21, tzinfo=timezone.utc)
    folders = {runs.run_folder(Run(run_id, None, after)) for run_id in ("a:b", "a+b", "a_b", "a/b", "a b")}
    assert len(folders) == 5
    assert runs.run_folder(Run("plain-run.1", None, after)) == "2026-11-21/plain-run.1"
