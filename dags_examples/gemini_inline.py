"""Inline Gemini batch: SDK-style request dicts in the DAG, one task that submits and waits (deferred)."""

from __future__ import annotations

from datetime import datetime

from _runs import RUN_MACROS
from _settings import DATA_DIR, GEMINI_CONN_ID, POLL_INTERVAL
from airflow.sdk import DAG

from airflow_provider_genai_batch.operators.submit import GenAIBatchSubmitOperator

QUESTIONS = {
    "sky": "Why is the sky blue?",
    "tides": "What causes tides?",
    "seasons": "Why do we have seasons?",
}

with DAG(
    dag_id="genai_batch_gemini_inline",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    user_defined_macros=RUN_MACROS,
    tags=["genai-batch", "example"],
):
    GenAIBatchSubmitOperator(
        task_id="answer_questions",
        conn_id=GEMINI_CONN_ID,
        model="gemini-2.5-flash",
        input=[
            {
                "key": key,
                "contents": question,
                "config": {"system_instruction": "Answer in one sentence.", "temperature": 0.2},
            }
            for key, question in QUESTIONS.items()
        ],
        output_uri=DATA_DIR + "/gemini_inline/{{ run_folder(dag_run) }}",
        wait_for_completion=True,
        poll_interval=POLL_INTERVAL,
    )
