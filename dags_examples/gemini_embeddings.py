"""Gemini embeddings batch from inline texts, keyed, with the vectors landed as result rows."""

from __future__ import annotations

from datetime import datetime

from _runs import RUN_MACROS
from _settings import DATA_DIR, GEMINI_CONN_ID, POLL_INTERVAL
from airflow.sdk import DAG

from airflow_provider_genai_batch.operators.submit import GenAIBatchSubmitOperator

DOCUMENTS = {
    "doc-1": "Airflow schedules and monitors workflows.",
    "doc-2": "Batch inference costs half as much as interactive calls.",
    "doc-3": "Results land on object storage, one row per key.",
}

with DAG(
    dag_id="genai_batch_gemini_embeddings",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    user_defined_macros=RUN_MACROS,
    tags=["genai-batch", "example"],
):
    GenAIBatchSubmitOperator(
        task_id="embed_documents",
        conn_id=GEMINI_CONN_ID,
        model="gemini-embedding-001",
        embeddings=True,
        input=[
            {"key": key, "content": text, "config": {"task_type": "RETRIEVAL_DOCUMENT", "output_dimensionality": 16}}
            for key, text in DOCUMENTS.items()
        ],
        output_uri=DATA_DIR + "/gemini_embeddings/{{ run_folder(dag_run) }}",
        wait_for_completion=True,
        poll_interval=POLL_INTERVAL,
    )
