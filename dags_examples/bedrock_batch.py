"""Amazon Bedrock batch inference: Gemini-format JSONL -> S3 -> a Claude model invocation job -> results.

The connection ``bedrock_batch_default`` (type ``genaibedrock``) names the region, the service role Bedrock
assumes, and the S3 input and output prefixes. The submit task validates the 120 prompts (Bedrock needs at
least 100), translates them to ``{"recordId", "modelInput"}`` records (the Anthropic-on-Bedrock InvokeModel
body), streams them to the input prefix and creates the job once, with the task's idempotency key as its
``clientRequestToken``. The sensor waits in the triggerer, reads ``<output prefix>/<job-id>/<input>.out``
and lands one row per input key; the last task reads them.
"""

from __future__ import annotations

import json
from datetime import datetime

from _runs import RUN_MACROS, iter_result_rows, run_folder
from _settings import BEDROCK_CONN_ID, DATA_DIR, POLL_INTERVAL
from airflow.sdk import DAG, ObjectStoragePath, task

from airflow_provider_genai_batch.operators.submit import GenAIBatchSubmitOperator
from airflow_provider_genai_batch.sensors.batch_results import GenAIBatchSensor

RUN_DIR = DATA_DIR + "/bedrock/{{ run_folder(dag_run) }}"
PROMPTS = 120

with DAG(
    dag_id="genai_batch_bedrock",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"model": "anthropic.claude-3-haiku-20240307-v1:0"},
    user_defined_macros=RUN_MACROS,
    tags=["genai-batch", "example"],
):

    @task
    def export_prompts(dag_run=None) -> str:
        """Write one Gemini-format request per product review to classify."""
        path = ObjectStoragePath(f"{DATA_DIR}/bedrock/{run_folder(dag_run)}/input.jsonl")
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w") as sink:
            for number in range(PROMPTS):
                request = {
                    "systemInstruction": {"parts": [{"text": "Answer positive, negative or mixed."}]},
                    "contents": [{"role": "user", "parts": [{"text": f"Classify review #{number}: works well."}]}],
                    "generationConfig": {"maxOutputTokens": 16, "temperature": 0.0},
                }
                sink.write(json.dumps({"key": f"review-{number:03d}", "request": request}) + "\n")
        return str(path)

    submit = GenAIBatchSubmitOperator(
        task_id="submit",
        conn_id=BEDROCK_CONN_ID,
        model="{{ params.model }}",
        input=RUN_DIR + "/input.jsonl",
        display_name="reviews-{{ run_day(dag_run) }}",
        output_uri=RUN_DIR + "/results",
    )

    wait = GenAIBatchSensor(task_id="wait_for_results", job_ref=submit.output, poll_interval=POLL_INTERVAL)

    @task
    def report(manifest: dict) -> dict:
        """Read the landed rows: one per input key, counts adding up to the input."""
        rows = list(iter_result_rows(manifest["results_uri"]))
        succeeded = [row for row in rows if row["status"] == "succeeded"]
        print(f"{len(succeeded)}/{len(rows)} reviews classified; first: {succeeded[0]['text']!r}")
        assert len(rows) == manifest["counts"]["total"] == PROMPTS
        return {"rows": len(rows), "succeeded": len(succeeded)}

    export_prompts() >> submit
    report(wait.output)
