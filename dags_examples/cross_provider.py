"""One Gemini-format JSONL, three providers in parallel, one comparison: only the connection changes.

The same input goes to Gemini, OpenAI and Anthropic (each translated to the provider's own format and
checked before upload); each branch lands one normalised row per key; the last task joins the three
result files on key and reports where they agree.
"""

from __future__ import annotations

import json
from datetime import datetime

from _runs import RUN_MACROS, iter_result_rows, run_folder
from _settings import ANTHROPIC_CONN_ID, DATA_DIR, GEMINI_CONN_ID, OPENAI_CONN_ID, POLL_INTERVAL
from airflow.sdk import DAG, ObjectStoragePath, task

from airflow_provider_genai_batch.operators.submit import GenAIBatchSubmitOperator
from airflow_provider_genai_batch.sensors.batch_results import GenAIBatchSensor

RUN_DIR = DATA_DIR + "/cross_provider/{{ run_folder(dag_run) }}"
PROVIDERS = {
    "gemini": (GEMINI_CONN_ID, "gemini-2.5-flash"),
    "openai": (OPENAI_CONN_ID, "gpt-4o-mini"),
    "anthropic": (ANTHROPIC_CONN_ID, "claude-haiku-4-5"),
}

with DAG(
    dag_id="genai_batch_cross_provider",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    user_defined_macros=RUN_MACROS,
    tags=["genai-batch", "example"],
):

    @task
    def export_questions(dag_run=None) -> str:
        """Gemini batch JSONL with a system instruction and generation settings every provider can express."""
        path = ObjectStoragePath(f"{DATA_DIR}/cross_provider/{run_folder(dag_run)}/input.jsonl")
        path.parent.mkdir(parents=True, exist_ok=True)
        questions = {
            "capital-fr": "What is the capital of France?",
            "boiling-point": "At what temperature does water boil at sea level?",
            "largest-planet": "Which planet is the largest in the solar system?",
            "a key with spaces/and slashes that is longer than sixty-four characters, which OpenAI refuses": (
                "Name a prime number greater than ten."
            ),
        }
        with path.open("w") as sink:
            for key, question in questions.items():
                request = {
                    "systemInstruction": {"parts": [{"text": "Answer in one short sentence."}]},
                    "contents": [{"role": "user", "parts": [{"text": question}]}],
                    "generationConfig": {"temperature": 0.0, "maxOutputTokens": 100},
                }
                sink.write(json.dumps({"key": key, "request": request}) + "\n")
        return str(path)

    exported = export_questions()
    manifests = {}
    for name, (conn_id, model) in PROVIDERS.items():
        submit = GenAIBatchSubmitOperator(
            task_id=f"submit_{name}",
            conn_id=conn_id,
            model=model,
            input=RUN_DIR + "/input.jsonl",
            output_uri=f"{RUN_DIR}/{name}",
        )
        wait = GenAIBatchSensor(task_id=f"wait_{name}", job_ref=submit.output, poll_interval=POLL_INTERVAL)
        exported >> submit
        manifests[name] = wait.output

    @task
    def compare(gemini: dict, openai: dict, anthropic: dict) -> dict:
        """Join the three result files on key: every key answered by every provider, texts side by side."""
        answers: dict[str, dict[str, str | None]] = {}
        for provider, manifest in {"gemini": gemini, "openai": openai, "anthropic": anthropic}.items():
            for row in iter_result_rows(manifest["results_uri"]):
                assert row["status"] == "succeeded", (provider, row)
                answers.setdefault(row["key"], {})[provider] = row["text"]
        for key, texts in sorted(answers.items()):
            print(f"{key}:")
            for provider, text in texts.items():
                print(f"  {provider:>9}: {text}")
        complete = sum(len(texts) == 3 for texts in answers.values())
        agreeing = sum(len(set(texts.values())) == 1 for texts in answers.values())
        return {"keys": len(answers), "answered_by_all": complete, "identical_answers": agreeing}

    compare(**manifests)
