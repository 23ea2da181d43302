"""Gemini on Vertex AI: nightly prompts exported to Cloud Storage, predictions written to BigQuery.

Two DAGs share the connection ``genai_vertex_default`` (type ``genaivertex``): a project, a location, a
service-account key (or Application Default Credentials), and the Cloud Storage prefixes for staged inputs
and default outputs.

``genai_batch_vertex``: the first task exports the night's prompts to Cloud Storage; the submit task reads
that object in place (validated by streaming it, nothing uploaded again) and creates the job once, its
idempotency key in a job label, with ``destination`` a BigQuery table of its own per run. The sensor waits in
the triggerer and writes a manifest naming the table and the job's counts (the rows stay in BigQuery); the last
task reads the counts.

``genai_batch_vertex_gcs``: a local JSONL is staged to Cloud Storage, predictions go to a ``gs://`` prefix, and
the sensor lands them into ``results.jsonl`` joined on key, like every provider.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from _runs import RUN_MACROS, iter_result_rows, run_day, run_folder
from _settings import DATA_DIR, POLL_INTERVAL, VERTEX_BIGQUERY_DATASET, VERTEX_CONN_ID
from airflow.sdk import DAG, ObjectStoragePath, task

from airflow_provider_genai_batch.hooks.vertex import VertexBatchHook
from airflow_provider_genai_batch.operators.submit import GenAIBatchSubmitOperator
from airflow_provider_genai_batch.sensors.batch_results import GenAIBatchSensor

PROMPTS = 40
MODEL = "gemini-2.5-flash"


def product_lines(day: str) -> list[str]:
    """One canonical request per product to describe: ``{"key", "request"}``, which Vertex reads as it is."""
    lines = []
    for number in range(PROMPTS):
        request = {
            "contents": [{"role": "user", "parts": [{"text": f"Describe product {number} in one sentence."}]}],
            "generationConfig": {"maxOutputTokens": 64, "temperature": 0.2},
        }
        lines.append(json.dumps({"key": f"{day}-product-{number:03d}", "request": request}))
    return lines


def table_name(dag_run: Any) -> str:
    """A BigQuery table of this run's own (letters, digits and underscores only)."""
    return "predictions_" + "".join(c if c.isalnum() else "_" for c in run_folder(dag_run))


with DAG(
    dag_id="genai_batch_vertex",
    schedule="0 2 * * *",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    user_defined_macros={**RUN_MACROS, "table_name": table_name},
    tags=["genai-batch", "example", "vertex"],
):

    @task
    def export_prompts(dag_run=None) -> str:
        """Write the night's prompts to a local file and stage them in Cloud Storage; returns the gs:// URI."""
        local = Path(DATA_DIR) / "vertex" / run_folder(dag_run) / "input.jsonl"
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_text("\n".join(product_lines(run_day(dag_run))) + "\n")
        hook = VertexBatchHook(conn_id=VERTEX_CONN_ID)
        try:
            uploaded = hook.upload_file(local, display_name=f"products-{local.parent.name}.jsonl")
        finally:
            hook.close()
        return uploaded.name

    exported = export_prompts()

    submit = GenAIBatchSubmitOperator(
        task_id="submit",
        conn_id=VERTEX_CONN_ID,
        model=MODEL,
        input=exported,
        display_name="products-{{ run_day(dag_run) }}",
        destination="bq://{{ conn."
        + VERTEX_CONN_ID
        + ".extra_dejson.project }}."
        + VERTEX_BIGQUERY_DATASET
        + ".{{ table_name(dag_run) }}",
        output_uri=DATA_DIR + "/vertex/{{ run_folder(dag_run) }}/results",
    )

    wait = GenAIBatchSensor(task_id="wait_for_predictions", job_ref=submit.output, poll_interval=POLL_INTERVAL)

    @task
    def report_counts(manifest: dict) -> dict:
        """Read the counts the manifest carries; the predictions themselves stay in BigQuery."""
        counts = manifest["counts"]
        print(f"{counts['succeeded']}/{counts['total']} predictions in {manifest['output_location']}")
        assert manifest["results_uri"] is None and manifest["output_location"].startswith("bq://")
        assert counts["total"] == PROMPTS
        return {"table": manifest["output_location"], **counts}

    report_counts(wait.output)


with DAG(
    dag_id="genai_batch_vertex_gcs",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    user_defined_macros=RUN_MACROS,
    tags=["genai-batch", "example", "vertex"],
):
    run_dir = DATA_DIR + "/vertex_gcs/{{ run_folder(dag_run) }}"

    @task
    def write_prompts(dag_run=None) -> str:
        """Write the prompts as a local JSONL; the submit task stages it in Cloud Storage."""
        path = ObjectStoragePath(f"{DATA_DIR}/vertex_gcs/{run_folder(dag_run)}/input.jsonl")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(product_lines(run_day(dag_run))) + "\n")
        return str(path)

    submit_gcs = GenAIBatchSubmitOperator(
        task_id="submit",
        conn_id=VERTEX_CONN_ID,
        model=MODEL,
        input=run_dir + "/input.jsonl",
        display_name="products-gcs-{{ run_day(dag_run) }}",
        output_uri=run_dir + "/results",
    )

    wait_gcs = GenAIBatchSensor(task_id="wait_for_results", job_ref=submit_gcs.output, poll_interval=POLL_INTERVAL)

    @task
    def report_rows(manifest: dict) -> dict:
        """Read the landed rows: one per input key."""
        rows = list(iter_result_rows(manifest["results_uri"]))
        succeeded = [row for row in rows if row["status"] == "succeeded"]
        print(f"{len(succeeded)}/{len(rows)} products described; output was {manifest['output_location']}")
        assert len(rows) == manifest["counts"]["total"] == PROMPTS
        return {"rows": len(rows), "succeeded": len(succeeded)}

    write_prompts() >> submit_gcs
    report_rows(wait_gcs.output)
