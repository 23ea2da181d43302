"""A batch through a GenAI gateway: Gemini-format JSONL -> gateway -> whichever provider the connection names.

The connection ``genai_gateway_default`` points at the gateway's GenAI facade (``http://<gateway>/genai``)
and names the target in its ``model_provider`` extra (sent as ``x-model-provider``). The submit task
translates the Gemini-format lines into the target's own format (the gateway forwards bodies untranslated),
uploads or inlines them, and creates the job once; the sensor waits in the triggerer and lands one row per
input key from the gateway's native results route; the last task reads them. Set ``model`` to a model of
the target provider.
"""

from __future__ import annotations

import json
from datetime import datetime

from _runs import RUN_MACROS, iter_result_rows, run_folder
from _settings import DATA_DIR, GATEWAY_CONN_ID, POLL_INTERVAL
from airflow.sdk import DAG, ObjectStoragePath, task

from airflow_provider_genai_batch.operators.submit import GenAIBatchSubmitOperator
from airflow_provider_genai_batch.sensors.batch_results import GenAIBatchSensor

RUN_DIR = DATA_DIR + "/gateway/{{ run_folder(dag_run) }}"

with DAG(
    dag_id="genai_batch_gateway",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"model": "gpt-4o-mini"},
    user_defined_macros=RUN_MACROS,
    tags=["genai-batch", "example"],
):

    @task
    def export_requests(dag_run=None) -> str:
        """Write Gemini batch JSONL: one request per support ticket to summarise."""
        path = ObjectStoragePath(f"{DATA_DIR}/gateway/{run_folder(dag_run)}/input.jsonl")
        path.parent.mkdir(parents=True, exist_ok=True)
        tickets = {
            "ticket-101": "The app logs me out every time I switch networks.",
            "ticket-102": "Invoices from March show the wrong VAT rate.",
            "ticket 103/escalated": "Export to CSV drops every row after the first thousand.",
        }
        with path.open("w") as sink:
            for key, text in tickets.items():
                request = {
                    "systemInstruction": {"parts": [{"text": "Summarise the ticket in five words."}]},
                    "contents": [{"role": "user", "parts": [{"text": text}]}],
                    "generationConfig": {"maxOutputTokens": 32},
                }
                sink.write(json.dumps({"key": key, "request": request}) + "\n")
        return str(path)

    submit = GenAIBatchSubmitOperator(
        task_id="submit",
        conn_id=GATEWAY_CONN_ID,
        model="{{ params.model }}",
        input=RUN_DIR + "/input.jsonl",
        display_name="gateway-tickets-{{ run_day(dag_run) }}",
        output_uri=RUN_DIR + "/results",
    )

    wait = GenAIBatchSensor(task_id="wait_for_results", job_ref=submit.output, poll_interval=POLL_INTERVAL)

    @task
    def report(manifest: dict) -> dict:
        """Read the landed rows: one per input key, whatever provider answered."""
        rows = list(iter_result_rows(manifest["results_uri"]))
        for row in rows:
            print(f"{row['key']}: {row['status']} {row['text']!r}")
        assert len(rows) == manifest["counts"]["total"]
        return {"rows": len(rows), "succeeded": manifest["counts"]["succeeded"]}

    export_requests() >> submit
    report(wait.output)
