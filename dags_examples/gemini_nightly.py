"""Nightly Gemini batch from a JSONL file: export -> submit -> wait and land results -> read results.

The day's input is written by the first task (in production, an export from your warehouse) into the
run's own folder, ``<day>/<run id>`` (``_runs.run_folder``), which exists for scheduled runs and for runs
triggered without a logical date alike; the submit task validates and uploads it and creates the job
exactly once; the sensor waits in the triggerer, writes ``results.jsonl`` + ``manifest.json`` and emits an
Asset event that schedules ``genai_batch_results_consumer``.
"""

from __future__ import annotations

import json
from datetime import datetime

from _runs import RUN_MACROS, iter_result_rows, run_day, run_folder
from _settings import DATA_DIR, GEMINI_CONN_ID, POLL_INTERVAL
from airflow.sdk import DAG, Asset, ObjectStoragePath, task

from airflow_provider_genai_batch.operators.submit import GenAIBatchSubmitOperator
from airflow_provider_genai_batch.sensors.batch_results import GenAIBatchSensor

NIGHTLY_RESULTS = Asset("genai-batch://examples/gemini-nightly-results")
RUN_DIR = DATA_DIR + "/gemini_nightly/{{ run_folder(dag_run) }}"

with DAG(
    dag_id="genai_batch_gemini_nightly",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"model": "gemini-2.5-flash"},
    user_defined_macros=RUN_MACROS,
    tags=["genai-batch", "example"],
):

    @task
    def export_prompts(dag_run=None) -> str:
        """Write the day's requests as Gemini batch JSONL (one line per product to describe)."""
        day = run_day(dag_run)
        path = ObjectStoragePath(f"{DATA_DIR}/gemini_nightly/{run_folder(dag_run)}/input.jsonl")
        path.parent.mkdir(parents=True, exist_ok=True)
        products = ["kettle", "bicycle", "desk lamp", "rain jacket", "chess set"]
        with path.open("w") as sink:
            for number, product in enumerate(products):
                request = {
                    "contents": [{"role": "user", "parts": [{"text": f"Write a one-line ad for a {product}."}]}],
                    "generationConfig": {"temperature": 0.4, "maxOutputTokens": 64},
                }
                sink.write(json.dumps({"key": f"{day}-product-{number}", "request": request}) + "\n")
        return str(path)

    submit = GenAIBatchSubmitOperator(
        task_id="submit",
        conn_id=GEMINI_CONN_ID,
        model="{{ params.model }}",
        input=RUN_DIR + "/input.jsonl",
        display_name="nightly-ads-{{ run_day(dag_run) }}",
        output_uri=RUN_DIR + "/results",
    )

    wait = GenAIBatchSensor(
        task_id="wait_for_results",
        job_ref=submit.output,
        poll_interval=POLL_INTERVAL,
        outlets=[NIGHTLY_RESULTS],
    )

    @task
    def report(manifest: dict) -> dict:
        """Read the results file the sensor wrote and check one row per input key came back."""
        rows = list(iter_result_rows(manifest["results_uri"]))
        succeeded = [row for row in rows if row["status"] == "succeeded"]
        print(f"{len(succeeded)}/{len(rows)} ads written; first: {succeeded[0]['text']!r}")
        assert len(rows) == manifest["counts"]["total"]
        return {"rows": len(rows), "succeeded": len(succeeded)}

    export_prompts() >> submit
    report(wait.output)


with DAG(
    dag_id="genai_batch_results_consumer",
    schedule=[NIGHTLY_RESULTS],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["genai-batch", "example"],
):

    @task(inlets=[NIGHTLY_RESULTS])
    def load_results(triggering_asset_events: dict | None = None) -> None:
        """Scheduled by the Asset event: the event's extra names the results file and its counts."""
        for event in (triggering_asset_events or {}).get(NIGHTLY_RESULTS, []):
            print(f"new results at {event.extra['results_uri']}: {event.extra['counts']}")

    load_results()
