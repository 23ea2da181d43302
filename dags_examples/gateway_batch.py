"""One set of support tickets summarised through a GenAI gateway by each provider it fronts: Gemini, OpenAI, Anthropic.

Each target has a connection of its own to the gateway's GenAI facade (``http://<gateway>/genai``), naming
it in the ``model_provider`` extra (sent as ``x-model-provider``). As the gateway's documentation shows:

* Gemini: the Gemini-format JSONL file is uploaded as it is and the batch made from it;
* OpenAI: the requests go inline as google-genai style dicts (the gateway translates them to OpenAI chat
  requests); a JSONL file would instead be translated here and uploaded as OpenAI batch lines;
* Anthropic: the same requests go inline (Anthropic takes no file through the gateway), and the connection's
  ``default_output_limit`` is written into a request that sets no ``max_output_tokens``.

Each sensor waits in the triggerer and lands one row per input key; the last task reads all three. Set the
models to models of each provider.
"""

from __future__ import annotations

import json
from datetime import datetime

from _runs import RUN_MACROS, iter_result_rows, run_folder
from _settings import DATA_DIR, POLL_INTERVAL
from airflow.sdk import DAG, ObjectStoragePath, task

from airflow_provider_genai_batch.operators.submit import GenAIBatchSubmitOperator
from airflow_provider_genai_batch.sensors.batch_results import GenAIBatchSensor

GATEWAY_CONN_IDS = {
    "gemini": "genai_gateway_gemini",
    "openai": "genai_gateway_openai",
    "anthropic": "genai_gateway_anthropic",
}
"""One gateway connection per target provider (each names its target in ``model_provider``)."""
RUN_DIR = DATA_DIR + "/gateway/{{ run_folder(dag_run) }}"
TICKETS = {
    "ticket-101": "The app logs me out every time I switch networks.",
    "ticket-102": "Invoices from March show the wrong VAT rate.",
    "ticket 103/escalated": "Export to CSV drops every row after the first thousand.",
}
INSTRUCTION = "Summarise the ticket in five words."

with DAG(
    dag_id="genai_batch_gateway",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"gemini_model": "gemini-2.5-flash", "openai_model": "gpt-4o-mini", "anthropic_model": "claude-sonnet-4-5"},
    user_defined_macros=RUN_MACROS,
    tags=["genai-batch", "example"],
):

    @task
    def export_requests(dag_run=None) -> str:
        """Write Gemini batch JSONL: one request per support ticket to summarise."""
        path = ObjectStoragePath(f"{DATA_DIR}/gateway/{run_folder(dag_run)}/input.jsonl")
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w") as sink:
            for key, text in TICKETS.items():
                request = {
                    "systemInstruction": {"parts": [{"text": INSTRUCTION}]},
                    "contents": [{"role": "user", "parts": [{"text": text}]}],
                    "generationConfig": {"maxOutputTokens": 32},
                }
                sink.write(json.dumps({"key": key, "request": request}) + "\n")
        return str(path)

    @task
    def inline_requests() -> list[dict]:
        """The same tickets as google-genai style requests, to send inline."""
        return [
            {"key": key, "contents": text, "config": {"system_instruction": INSTRUCTION, "max_output_tokens": 32}}
            for key, text in TICKETS.items()
        ]

    exported, inline = export_requests(), inline_requests()
    manifests = {}
    for target, conn_id in GATEWAY_CONN_IDS.items():
        submit = GenAIBatchSubmitOperator(
            task_id=f"submit_{target}",
            conn_id=conn_id,
            model=f"{{{{ params.{target}_model }}}}",
            input=exported if target == "gemini" else inline,
            display_name=f"gateway-{target}-tickets-{{{{ run_day(dag_run) }}}}",
            output_uri=f"{RUN_DIR}/{target}",
        )
        wait = GenAIBatchSensor(task_id=f"wait_{target}", job_ref=submit.output, poll_interval=POLL_INTERVAL)
        manifests[target] = wait.output

    @task
    def report(gemini: dict, openai: dict, anthropic: dict) -> dict:
        """Read the landed rows of every target: one per input key, whatever provider answered."""
        summary = {}
        for target, manifest in {"gemini": gemini, "openai": openai, "anthropic": anthropic}.items():
            rows = list(iter_result_rows(manifest["results_uri"]))
            for row in rows:
                print(f"{target} {row['key']}: {row['status']} {row['text']!r}")
            assert len(rows) == manifest["counts"]["total"]
            summary[target] = {"rows": len(rows), "succeeded": manifest["counts"]["succeeded"]}
        return summary

    report(**manifests)
