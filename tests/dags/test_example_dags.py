"""Every example DAG runs green with `airflow dags test` against the emulator, and lands real results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airflow_provider_genai_batch.testing.emulator import EmulatorServer
from airflow_provider_genai_batch.testing.s3 import MotoS3Server
from tests.dags.conftest import BEDROCK_BUCKET, REPO, DagRunner

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
    assert EXAMPLE_DAG_FILES == [
        "bedrock_batch.py",
        "cross_provider.py",
        "gateway_batch.py",
        "gemini_embeddings.py",
        "gemini_inline.py",
        "gemini_nightly.py",
    ]


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
        "total": 5,
        "succeeded": 5,
        "failed": 0,
        "cancelled": 0,
        "expired": 0,
        "missing": 0,
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


def test_gateway_dag_lands_one_row_per_input_key(dag_runner: DagRunner, dag_emulator: EmulatorServer) -> None:
    jobs_before = len(dag_emulator.jobs())

    _assert_green(dag_runner.run("genai_batch_gateway", "2026-11-20"))

    day = dag_runner.data_dir / "gateway" / "2026-11-20"
    input_keys = [json.loads(line)["key"] for line in (day / "input.jsonl").read_text().splitlines()]
    manifest = json.loads((day / "results" / "manifest.json").read_text())
    rows = _rows(day / "results" / "results.jsonl")
    assert sorted(row["key"] for row in rows) == sorted(input_keys)
    assert all(row["status"] == "succeeded" and row["text"].startswith("Answer to:") for row in rows)
    assert manifest["job_ref"]["provider"] == "gateway"
    assert manifest["counts"]["total"] == manifest["counts"]["succeeded"] == len(input_keys)
    new_jobs = dag_emulator.jobs()[jobs_before:]
    assert [job["provider"] for job in new_jobs] == ["openai"]
    gateway_calls = [r for r in dag_emulator.requests() if r["path"].startswith("/genai/")]
    assert gateway_calls and all(r["headers"].get("x-model-provider") == "openai" for r in gateway_calls)


@pytest.mark.parametrize("dag_id", ["genai_batch_results_consumer"])
def test_asset_consumer_dag_parses_and_runs(dag_runner: DagRunner, dag_id: str) -> None:
    _assert_green(dag_runner.run(dag_id))


def test_cross_provider_dag_gets_every_key_answered_by_all_three_providers(
    dag_runner: DagRunner, dag_emulator: EmulatorServer
) -> None:
    jobs_before = {p: sum(j["provider"] == p for j in dag_emulator.jobs()) for p in ("gemini", "openai", "anthropic")}

    _assert_green(dag_runner.run("genai_batch_cross_provider", "2026-11-19"))

    day = dag_runner.data_dir / "cross_provider" / "2026-11-19"
    input_keys = sorted(json.loads(line)["key"] for line in (day / "input.jsonl").read_text().splitlines())
    for provider in ("gemini", "openai", "anthropic"):
        rows = _rows(day / provider / "results.jsonl")
        assert sorted(row["key"] for row in rows) == input_keys, provider
        assert all(row["status"] == "succeeded" for row in rows), provider
        manifest = json.loads((day / provider / "manifest.json").read_text())
        assert manifest["counts"]["total"] == manifest["counts"]["succeeded"] == len(input_keys)
        assert sum(j["provider"] == provider for j in dag_emulator.jobs()) == jobs_before[provider] + 1
    openai_lines = [r for r in dag_emulator.requests() if r["path"] == "/openai/v1/batches" and r["method"] == "POST"]
    assert openai_lines[-1]["json"]["endpoint"] == "/v1/chat/completions"


def test_bedrock_dag_lands_one_row_per_input_key_from_s3(
    dag_runner: DagRunner, dag_emulator: EmulatorServer, dag_s3: MotoS3Server
) -> None:
    jobs_before = [job["name"] for job in dag_emulator.jobs() if job["provider"] == "bedrock"]

    _assert_green(dag_runner.run("genai_batch_bedrock", "2026-11-20"))

    day = dag_runner.data_dir / "bedrock" / "2026-11-20"
    input_keys = [json.loads(line)["key"] for line in (day / "input.jsonl").read_text().splitlines()]
    rows = _rows(day / "results" / "results.jsonl")
    manifest = json.loads((day / "results" / "manifest.json").read_text())
    assert len(input_keys) == 120
    assert sorted(row["key"] for row in rows) == sorted(input_keys)  # recordIds mapped back to the input keys
    assert all(row["status"] == "succeeded" and row["text"].startswith("Answer to:") for row in rows)
    assert manifest["state"] == "JOB_STATE_SUCCEEDED"
    assert manifest["provider_state"] == "Completed"
    counts = manifest["counts"]
    assert counts == {"total": 120, "succeeded": 120, "failed": 0, "cancelled": 0, "expired": 0, "missing": 0}
    assert counts["total"] == sum(v for k, v in counts.items() if k != "total")
    [job] = [job for job in dag_emulator.jobs() if job["provider"] == "bedrock" and job["name"] not in jobs_before]
    job_id = job["name"].rsplit("/", 1)[-1]
    keys = dag_s3.keys(BEDROCK_BUCKET, "bedrock/")
    assert f"bedrock/output/{job_id}/manifest.json.out" in keys
    assert any(k.startswith("bedrock/input/reviews-2026-11-20-") and k.endswith(".jsonl") for k in keys)
