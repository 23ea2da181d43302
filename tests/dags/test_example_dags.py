"""Every example DAG runs green with `airflow dags test` against the emulator, and lands real results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_genai_batch.testing.emulator import EmulatorServer
from tests.dags.conftest import REPO, DagRunner

EXAMPLE_DAG_FILES = sorted(p.name for p in (REPO / "dags_examples").glob("*.py") if not p.name.startswith("_"))


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _only_results_dir(root: Path) -> Path:
    manifests = list(root.rglob("manifest.json"))
    assert len(manifests) == 1, manifests
    return manifests[0].parent


def _assert_green(result) -> None:
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]


def test_every_example_dag_file_is_covered_by_a_test() -> None:
    assert EXAMPLE_DAG_FILES == ["gemini_embeddings.py", "gemini_inline.py", "gemini_nightly.py"]


def test_nightly_gemini_dag_lands_one_row_per_input_key(dag_runner: DagRunner, dag_emulator: EmulatorServer) -> None:
    jobs_before = len(dag_emulator.jobs())

    _assert_green(dag_runner.run("genai_batch_gemini_nightly", "2026-11-20"))

    day = dag_runner.data_dir / "gemini_nightly" / "2026-11-20"
    input_keys = [json.loads(line)["key"] for line in (day / "input.jsonl").read_text().splitlines()]
    manifest = json.loads((day / "results" / "manifest.json").read_text())
    rows = _rows(day / "results" / "results.jsonl")
    assert sorted(row["key"] for row in rows) == sorted(input_keys)
    assert all(row["status"] == "succeeded" and row["text"].startswith("Answer to:") for row in rows)
    assert manifest["state"] == "JOB_STATE_SUCCEEDED"
    assert manifest["counts"] == {
        "total": 5, "succeeded": 5, "failed": 0, "cancelled": 0, "expired": 0, "missing": 0,
    }
    assert manifest["results_uri"].endswith("results/results.jsonl")
    assert len(dag_emulator.jobs()) == jobs_before + 1


def test_inline_gemini_dag_sends_sdk_style_config_as_rest(dag_runner: DagRunner, dag_emulator: EmulatorServer) -> None:
    _assert_green(dag_runner.run("genai_batch_gemini_inline"))

    results = _only_results_dir(dag_runner.data_dir / "gemini_inline")
    assert {row["key"] for row in _rows(results / "results.jsonl")} == {"sky", "tides", "seasons"}
    creates = [r for r in dag_emulator.requests() if r["path"].endswith(":batchGenerateContent")]
    request = creates[-1]["json"]["batch"]["inputConfig"]["requests"]["requests"][0]
    assert request["request"]["systemInstruction"] == {"parts": [{"text": "Answer in one sentence."}], "role": "user"}
    assert request["request"]["generationConfig"] == {"temperature": 0.2}
    assert request["metadata"] == {"key": "sky"}


def test_embeddings_dag_lands_vectors_of_the_requested_dimension(dag_runner: DagRunner) -> None:
    _assert_green(dag_runner.run("genai_batch_gemini_embeddings"))

    rows = _rows(_only_results_dir(dag_runner.data_dir / "gemini_embeddings") / "results.jsonl")
    assert {row["key"] for row in rows} == {"doc-1", "doc-2", "doc-3"}
    assert all(len(row["embedding"]) == 16 for row in rows)


@pytest.mark.parametrize("dag_id", ["genai_batch_results_consumer"])
def test_asset_consumer_dag_parses_and_runs(dag_runner: DagRunner, dag_id: str) -> None:
    _assert_green(dag_runner.run(dag_id))
