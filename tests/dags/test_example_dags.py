"""Every example DAG runs green against the emulator and lands real results: as a run with a logical date
(`airflow dags test`) and as a run without one (`airflow dags trigger`, the REST API's ``logical_date: null``)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from airflow_provider_genai_batch.testing.emulator import EmulatorServer
from airflow_provider_genai_batch.testing.gcs import GcsServer
from airflow_provider_genai_batch.testing.s3 import MotoS3Server
from tests.dags.conftest import (
    BEDROCK_BUCKET,
    GATEWAY_TARGETS,
    REPO,
    VERTEX_BUCKET,
    VERTEX_DATASET,
    VERTEX_PROJECT,
    DagRunner,
)

EXAMPLE_DAG_FILES = sorted(p.name for p in (REPO / "dags_examples").glob("*.py") if not p.name.startswith("_"))
# Each example DAG that writes files, and the folder (under the examples' data dir) its runs write to.
OUTPUT_FOLDERS = {
    "genai_batch_gemini_nightly": "gemini_nightly",
    "genai_batch_gemini_inline": "gemini_inline",
    "genai_batch_gemini_embeddings": "gemini_embeddings",
    "genai_batch_gateway": "gateway",
    "genai_batch_cross_provider": "cross_provider",
    "genai_batch_bedrock": "bedrock",
    "genai_batch_vertex": "vertex",
    "genai_batch_vertex_gcs": "vertex_gcs",
}


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """A JSONL file's objects; lines end at b"\\n" only, as JSONL's do (U+2028 inside a string is no line end)."""
    return [json.loads(line) for line in path.read_bytes().split(b"\n") if line.strip()]


def outcomes(manifest: dict[str, Any]) -> dict[str, int]:
    """The manifest's row outcome counts (which add up to ``total``), without its other counters."""
    names = ("total", "succeeded", "failed", "cancelled", "expired", "missing")
    return {name: manifest["counts"][name] for name in names}


def run_dirs(root: Path) -> set[Path]:
    """Every run folder (``<run day>/<run id>``) the examples wrote under ``root``."""
    return {path for path in root.glob("*/*") if path.is_dir()}


def new_run_dir(root: Path, before: set[Path]) -> Path:
    """The one run folder that appeared under ``root`` since ``before``."""
    new = run_dirs(root) - before
    assert len(new) == 1, sorted(new)
    return new.pop()


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
        "split_and_retry.py",
        "vertex_batch.py",
    ]


def test_nightly_gemini_dag_lands_one_row_per_input_key(dag_runner: DagRunner, dag_emulator: EmulatorServer) -> None:
    jobs_before = len(dag_emulator.jobs())
    root = dag_runner.data_dir / "gemini_nightly"
    before = run_dirs(root)

    _assert_green(dag_runner.run("genai_batch_gemini_nightly", "2026-11-20"))

    run = new_run_dir(root, before)
    assert run.parent.name == "2026-11-20"
    input_keys = [line["key"] for line in read_jsonl(run / "input.jsonl")]
    assert input_keys == [f"2026-11-20-product-{n}" for n in range(5)]
    manifest = json.loads((run / "results" / "manifest.json").read_text())
    rows = read_jsonl(run / "results" / "results.jsonl")
    assert sorted(row["key"] for row in rows) == sorted(input_keys)
    assert all(row["status"] == "succeeded" and row["text"].startswith("Answer to:") for row in rows)
    assert manifest["state"] == "JOB_STATE_SUCCEEDED"
    assert outcomes(manifest) == {"total": 5, "succeeded": 5, "failed": 0, "cancelled": 0, "expired": 0, "missing": 0}
    assert manifest["results_uri"] == str(run / "results" / "results.jsonl")
    assert len(dag_emulator.jobs()) == jobs_before + 1
    assert dag_emulator.jobs()[-1]["display_name"].startswith("nightly-ads-2026-11-20 [gbk-")


def test_inline_gemini_dag_sends_sdk_style_config_as_rest(dag_runner: DagRunner, dag_emulator: EmulatorServer) -> None:
    root = dag_runner.data_dir / "gemini_inline"
    before = run_dirs(root)

    _assert_green(dag_runner.run("genai_batch_gemini_inline"))

    results = new_run_dir(root, before)
    assert {row["key"] for row in read_jsonl(results / "results.jsonl")} == {"sky", "tides", "seasons"}
    creates = [r for r in dag_emulator.requests() if r["path"].endswith(":batchGenerateContent")]
    request = creates[-1]["json"]["batch"]["inputConfig"]["requests"]["requests"][0]
    assert request["request"]["systemInstruction"] == {"parts": [{"text": "Answer in one sentence."}], "role": "user"}
    assert request["request"]["generationConfig"] == {"temperature": 0.2}
    assert request["metadata"] == {"key": "sky"}


def test_embeddings_dag_lands_vectors_of_the_requested_dimension(dag_runner: DagRunner) -> None:
    root = dag_runner.data_dir / "gemini_embeddings"
    before = run_dirs(root)

    _assert_green(dag_runner.run("genai_batch_gemini_embeddings"))

    rows = read_jsonl(new_run_dir(root, before) / "results.jsonl")
    assert {row["key"] for row in rows} == {"doc-1", "doc-2", "doc-3"}
    assert all(len(row["embedding"]) == 16 for row in rows)


TICKET_101 = "The app logs me out every time I switch networks."


def test_gateway_dag_lands_one_row_per_input_key_from_each_target(
    dag_runner: DagRunner, dag_emulator: EmulatorServer
) -> None:
    jobs_before = len(dag_emulator.jobs())
    requests_before = len(dag_emulator.requests())
    root = dag_runner.data_dir / "gateway"
    before = run_dirs(root)

    _assert_green(dag_runner.run("genai_batch_gateway", "2026-11-20"))

    run = new_run_dir(root, before)
    assert run.parent.name == "2026-11-20"
    input_keys = sorted(line["key"] for line in read_jsonl(run / "input.jsonl"))
    for target in GATEWAY_TARGETS:
        manifest = json.loads((run / target / "manifest.json").read_text())
        rows = read_jsonl(run / target / "results.jsonl")
        assert sorted(row["key"] for row in rows) == input_keys, target
        assert all(row["status"] == "succeeded" and row["text"] for row in rows), target
        assert manifest["job_ref"]["provider"] == "gateway"
        assert manifest["counts"]["total"] == manifest["counts"]["succeeded"] == len(input_keys)
    assert sorted(job["provider"] for job in dag_emulator.jobs()[jobs_before:]) == sorted(GATEWAY_TARGETS)
    creates = [
        r
        for r in dag_emulator.requests()[requests_before:]
        if r["path"].startswith("/genai/") and r["path"].endswith(":batchGenerateContent")
    ]
    by_target = {r["headers"].get("x-model-provider"): r["json"]["batch"]["inputConfig"] for r in creates}
    assert set(by_target) == set(GATEWAY_TARGETS)
    assert by_target["gemini"]["fileName"].startswith("files/")  # the Gemini file workflow
    for target in ("openai", "anthropic"):  # the inline workflows: Gemini requests, keys in metadata
        inline = by_target[target]["requests"]["requests"]
        assert [item["metadata"]["key"] for item in inline][:2] == ["ticket-101", "ticket-102"]
        assert inline[0]["request"]["contents"] == [{"parts": [{"text": TICKET_101}], "role": "user"}]
        assert all(set(item["request"]) <= {"contents", "generationConfig", "systemInstruction"} for item in inline)


@pytest.mark.parametrize("dag_id", ["genai_batch_results_consumer"])
def test_asset_consumer_dag_parses_and_runs(dag_runner: DagRunner, dag_id: str) -> None:
    _assert_green(dag_runner.run(dag_id))


def test_cross_provider_dag_gets_every_key_answered_by_all_three_providers(
    dag_runner: DagRunner, dag_emulator: EmulatorServer
) -> None:
    jobs_before = {p: sum(j["provider"] == p for j in dag_emulator.jobs()) for p in ("gemini", "openai", "anthropic")}
    root = dag_runner.data_dir / "cross_provider"
    before = run_dirs(root)

    _assert_green(dag_runner.run("genai_batch_cross_provider", "2026-11-19"))

    run = new_run_dir(root, before)
    assert run.parent.name == "2026-11-19"
    input_keys = sorted(line["key"] for line in read_jsonl(run / "input.jsonl"))
    for provider in ("gemini", "openai", "anthropic"):
        rows = read_jsonl(run / provider / "results.jsonl")
        assert sorted(row["key"] for row in rows) == input_keys, provider
        assert all(row["status"] == "succeeded" for row in rows), provider
        manifest = json.loads((run / provider / "manifest.json").read_text())
        assert manifest["counts"]["total"] == manifest["counts"]["succeeded"] == len(input_keys)
        assert sum(j["provider"] == provider for j in dag_emulator.jobs()) == jobs_before[provider] + 1
    openai_lines = [r for r in dag_emulator.requests() if r["path"] == "/openai/v1/batches" and r["method"] == "POST"]
    assert openai_lines[-1]["json"]["endpoint"] == "/v1/chat/completions"


def test_bedrock_dag_lands_one_row_per_input_key_from_s3(
    dag_runner: DagRunner, dag_emulator: EmulatorServer, dag_s3: MotoS3Server
) -> None:
    jobs_before = [job["name"] for job in dag_emulator.jobs() if job["provider"] == "bedrock"]
    root = dag_runner.data_dir / "bedrock"
    before = run_dirs(root)

    _assert_green(dag_runner.run("genai_batch_bedrock", "2026-11-20"))

    run = new_run_dir(root, before)
    assert run.parent.name == "2026-11-20"
    input_keys = [line["key"] for line in read_jsonl(run / "input.jsonl")]
    rows = read_jsonl(run / "results" / "results.jsonl")
    manifest = json.loads((run / "results" / "manifest.json").read_text())
    assert len(input_keys) == 120
    assert sorted(row["key"] for row in rows) == sorted(input_keys)  # recordIds mapped back to the input keys
    assert all(row["status"] == "succeeded" and row["text"].startswith("Answer to:") for row in rows)
    assert manifest["state"] == "JOB_STATE_SUCCEEDED"
    assert manifest["provider_state"] == "Completed"
    counts = outcomes(manifest)
    assert counts == {"total": 120, "succeeded": 120, "failed": 0, "cancelled": 0, "expired": 0, "missing": 0}
    [job] = [job for job in dag_emulator.jobs() if job["provider"] == "bedrock" and job["name"] not in jobs_before]
    job_id = job["name"].rsplit("/", 1)[-1]
    keys = dag_s3.keys(BEDROCK_BUCKET, "bedrock/")
    assert f"bedrock/output/{job_id}/manifest.json.out" in keys
    # the input is stored under the run's name, tagged with the task's key (found again by a retry, never copied twice)
    assert any(k.startswith("bedrock/input/reviews-2026-11-20.gbk-") and k.endswith(".jsonl") for k in keys)


# --- runs without a logical date ----------------------------------------------------------------------


def assert_run_landed_without_a_logical_date(dag_runner: DagRunner, folder: str, before: set[Path], run: dict) -> None:
    """The run had no logical date, wrote to a ``<run_after day>/<run id>`` folder, and nothing to ``None``."""
    assert run["logical_date"] is None and run["state"] == "success"
    assert run["run_id"].startswith("manual__")
    root = dag_runner.data_dir / folder
    run_dir = new_run_dir(root, before)
    assert run_dir.parent.name == run["run_after"][:10]  # the run's day comes from run_after
    assert run_dir.name.startswith("manual__")
    manifests = [json.loads(path.read_text()) for path in run_dir.rglob("manifest.json")]
    assert manifests
    for manifest in manifests:
        assert manifest["state"] == "JOB_STATE_SUCCEEDED"
        assert manifest["counts"]["total"] == manifest["counts"]["succeeded"] > 0
        if manifest["results_uri"] is None:  # the predictions stayed in the provider's table
            assert manifest["output_location"].startswith("bq://")
        else:
            assert Path(manifest["results_uri"]).is_relative_to(run_dir)
    written = [str(path.relative_to(dag_runner.data_dir)) for path in root.rglob("*")]
    assert written and not [path for path in written if "None" in path]


RUN_WITHOUT_LOGICAL_DATE = ("genai_batch_gemini_nightly", "genai_batch_cross_provider", "genai_batch_vertex")
"""The examples run again without a logical date: one per way a run names what it writes (a folder of files, a
folder per provider, a BigQuery table). Every other example names its output through the same ``_runs`` macros,
which the test below holds them to."""
RUN_DATE_NAMES = re.compile(r"\b(logical_date|execution_date|data_interval_(start|end)|ds|ds_nodash|ts|ts_nodash)\b")


@pytest.mark.parametrize("dag_file", EXAMPLE_DAG_FILES)
def test_an_example_dag_names_its_runs_only_through_the_run_macros(dag_file: str) -> None:
    source = (REPO / "dags_examples" / dag_file).read_text()

    assert not RUN_DATE_NAMES.findall(source), "a run without a logical date has none of these: use _runs' macros"
    assert "run_folder" in source or "run_day" in source


@pytest.mark.parametrize(
    ("dag_id", "folder"),
    [(dag_id, OUTPUT_FOLDERS[dag_id]) for dag_id in RUN_WITHOUT_LOGICAL_DATE],
    ids=list(RUN_WITHOUT_LOGICAL_DATE),
)
def test_an_example_dag_run_without_a_logical_date_lands_its_results_in_a_folder_of_its_own(
    dag_runner: DagRunner, dag_id: str, folder: str
) -> None:
    before = run_dirs(dag_runner.data_dir / folder)

    result, run = dag_runner.run_without_logical_date(dag_id)

    _assert_green(result)
    assert_run_landed_without_a_logical_date(dag_runner, folder, before, run)


def test_a_bedrock_run_without_a_logical_date_lands_its_results_and_names_its_input_by_the_run_day(
    dag_runner: DagRunner, dag_s3: MotoS3Server
) -> None:
    before = run_dirs(dag_runner.data_dir / "bedrock")
    keys_before = set(dag_s3.keys(BEDROCK_BUCKET, "bedrock/input/"))

    result, run = dag_runner.run_without_logical_date("genai_batch_bedrock")

    _assert_green(result)
    assert_run_landed_without_a_logical_date(dag_runner, "bedrock", before, run)
    [uploaded] = set(dag_s3.keys(BEDROCK_BUCKET, "bedrock/input/")) - keys_before
    assert uploaded.startswith(f"bedrock/input/reviews-{run['run_after'][:10]}.gbk-")
    assert "None" not in uploaded


def test_the_asset_consumer_runs_without_a_logical_date(dag_runner: DagRunner) -> None:
    result, run = dag_runner.run_without_logical_date("genai_batch_results_consumer")
    _assert_green(result)
    assert run["logical_date"] is None


def _bigquery_rows(emulator: EmulatorServer, table_uri: str) -> list[dict[str, Any]]:
    """The rows of an emulated BigQuery table, read with a token the emulator mints."""
    project, dataset, table = table_uri.removeprefix("bq://").split(".")
    token = httpx.post(f"{emulator.base_url}/_emulator/vertex/tokens", json={"ttl": 600}).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    base = f"{emulator.base_url}/bigquery/v2/projects/{project}/datasets/{dataset}/tables/{table}"
    schema = httpx.get(base, headers=headers).json()["schema"]["fields"]
    body = httpx.get(f"{base}/data", headers=headers).json()
    return [
        {field["name"]: cell["v"] for field, cell in zip(schema, row["f"], strict=True)} for row in body.get("rows", [])
    ]


def test_vertex_nightly_dag_reads_its_export_in_place_and_writes_predictions_to_bigquery(
    dag_runner: DagRunner, dag_emulator: EmulatorServer, dag_gcs: GcsServer
) -> None:
    jobs_before = len(dag_emulator.jobs())
    staged_before = dag_gcs.list(f"gs://{VERTEX_BUCKET}/vertex/input/")
    root = dag_runner.data_dir / "vertex"
    before = run_dirs(root)

    _assert_green(dag_runner.run("genai_batch_vertex", "2026-11-20"))

    run = new_run_dir(root, before)
    staged = sorted(set(dag_gcs.list(f"gs://{VERTEX_BUCKET}/vertex/input/")) - set(staged_before))
    assert len(staged) == 1  # exported once; the submit read it in place instead of uploading a copy
    jobs = dag_emulator.jobs()[jobs_before:]
    assert len(jobs) == 1
    creates = [
        r for r in dag_emulator.requests() if r["method"] == "POST" and r["path"].endswith("/batchPredictionJobs")
    ]
    body = creates[-1]["json"]
    assert body["inputConfig"] == {"instancesFormat": "jsonl", "gcsSource": {"uris": staged}}
    table = f"bq://{VERTEX_PROJECT}.{VERTEX_DATASET}."
    assert body["outputConfig"]["predictionsFormat"] == "bigquery"
    assert body["outputConfig"]["bigqueryDestination"]["outputUri"].startswith(table + "predictions_2026_11_20_")
    assert body["labels"]["genai_batch_key"].startswith("gbk-")
    manifest = json.loads((run / "results" / "manifest.json").read_text())
    assert manifest["results_uri"] is None and not (run / "results" / "results.jsonl").exists()
    assert manifest["output_location"] == body["outputConfig"]["bigqueryDestination"]["outputUri"]
    assert outcomes(manifest) == {"total": 40, "succeeded": 40, "failed": 0, "cancelled": 0, "expired": 0, "missing": 0}
    rows = _bigquery_rows(dag_emulator, manifest["output_location"])
    assert sorted(row["key"] for row in rows) == [f"2026-11-20-product-{n:03d}" for n in range(40)]
    assert all(row["status"] == "" and json.loads(row["response"])["candidates"] for row in rows)


def test_vertex_gcs_dag_lands_one_row_per_input_key_from_the_prediction_files(
    dag_runner: DagRunner, dag_emulator: EmulatorServer
) -> None:
    jobs_before = len(dag_emulator.jobs())
    root = dag_runner.data_dir / "vertex_gcs"
    before = run_dirs(root)

    _assert_green(dag_runner.run("genai_batch_vertex_gcs", "2026-11-20"))

    run = new_run_dir(root, before)
    input_keys = [line["key"] for line in read_jsonl(run / "input.jsonl")]
    rows = read_jsonl(run / "results" / "results.jsonl")
    assert sorted(row["key"] for row in rows) == sorted(input_keys)
    assert all(row["status"] == "succeeded" and row["text"] for row in rows)
    manifest = json.loads((run / "results" / "manifest.json").read_text())
    assert manifest["output_location"].startswith(f"gs://{VERTEX_BUCKET}/vertex/output/prediction-model-")
    assert manifest["job_ref"]["provider"] == "vertex"
    assert len(dag_emulator.jobs()) == jobs_before + 1
