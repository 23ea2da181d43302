"""250,000 OpenAI requests from one submit task: a dry run prices them, the submit splits them into five jobs, waits
on the group, sends the rows that failed for a retryable reason again once, and lands one results file.

OpenAI takes at most 50,000 requests per batch, so the input is split in any case; ``max_requests_per_job``
says so explicitly (a lower figure cuts more, smaller jobs). Each part is its own job, created exactly once.
At most three run at once (``max_concurrent_jobs``): the other two are uploaded with them and created as
slots free. ``retry_failed_rows=1`` sends the rows that failed with a retryable error (a server error, expired, missing)
again as one follow-up round once every part has ended; their new rows replace the old ones in
``results.jsonl`` (the old ones move to ``replaced.jsonl``), and the manifest lists every part, every round,
the tokens used and the estimated cost.
Rows the service refuses (an invalid request) are not sent again: they stay failed.

The first step is a dry run of the same input (``dry_run=True``): the parts, their sizes, the estimated input
tokens and input cost, without uploading anything; the budget check stops the run when the estimate is over
``params.budget_usd``.

On the bundled emulator, ``--openai-retryable-row-share`` (``openai_retryable_row_share``) makes a share of
rows fail once with a server error, and a request whose text carries its refusal marker always fails as an
invalid request; on the real service the marker is just text.
"""

from __future__ import annotations

import json
from datetime import datetime

from _runs import RUN_MACROS, iter_result_rows, run_folder
from _settings import DATA_DIR, OPENAI_CONN_ID, POLL_INTERVAL
from airflow.sdk import DAG, ObjectStoragePath, task
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_genai_batch.operators.submit import GenAIBatchSubmitOperator
from airflow_provider_genai_batch.plan import SubmitPlan

REQUESTS = 250_000
REQUESTS_PER_JOB = 50_000
REFUSED_EVERY = 50_000
"""One request in this many (number 12,345 of each 50,000) carries the refusal marker."""
REFUSED_MARKER = "[[emulator:fail]]"
"""The bundled emulator refuses a request whose text holds this as an invalid request (a 400 on its row)."""
WRITE_BLOCK = 10_000
RUN_DIR = DATA_DIR + "/split_and_retry/{{ run_folder(dag_run) }}"
SPLIT = {"max_requests_per_job": REQUESTS_PER_JOB}


def request_line(number: int, model: str) -> dict:
    """One OpenAI batch line: a chat completion asking for a one-line description of a catalogue item."""
    prompt = f"Write a one-line description of catalogue item {number:06d}."
    if number % REFUSED_EVERY == 12_345:
        prompt += f" {REFUSED_MARKER}"
    return {
        "custom_id": f"item-{number:06d}",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {
            "model": model,
            "messages": [{"role": "user", "content": prompt}],
            "max_completion_tokens": 32,
        },
    }


with DAG(
    dag_id="genai_batch_split_and_retry",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    params={"model": "gpt-4o-mini", "budget_usd": 5.0},
    user_defined_macros=RUN_MACROS,
    tags=["genai-batch", "example"],
):

    @task
    def export_requests(params=None, dag_run=None) -> str:
        """Write the run's requests as OpenAI batch JSONL, one line per catalogue item."""
        path = ObjectStoragePath(f"{DATA_DIR}/split_and_retry/{run_folder(dag_run)}/input.jsonl")
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w") as sink:  # a block of lines per write: one call per line would take longer
            for start in range(0, REQUESTS, WRITE_BLOCK):
                block = range(start, min(start + WRITE_BLOCK, REQUESTS))
                sink.write("".join(json.dumps(request_line(number, params["model"])) + "\n" for number in block))
        return str(path)

    plan = GenAIBatchSubmitOperator(
        task_id="plan",
        conn_id=OPENAI_CONN_ID,
        model="{{ params.model }}",
        input=RUN_DIR + "/input.jsonl",
        dry_run=True,
        **SPLIT,
    )

    @task
    def check_budget(plan: dict, params=None, dag_run=None) -> None:
        """Log the plan, keep it beside the input (``plan.txt``), and stop when its input cost is over budget."""
        summary = SubmitPlan.model_validate(plan)
        table = summary.table()
        print(table)
        path = ObjectStoragePath(f"{DATA_DIR}/split_and_retry/{run_folder(dag_run)}/plan.txt")
        path.write_text(table + "\n")
        if summary.input_cost is not None and summary.input_cost > params["budget_usd"]:
            raise AirflowFailException(
                f"the estimated input cost, {summary.input_cost:.2f} USD, is over the budget of "
                f"{params['budget_usd']:.2f} USD"
            )

    submit = GenAIBatchSubmitOperator(
        task_id="submit",
        conn_id=OPENAI_CONN_ID,
        model="{{ params.model }}",
        input=RUN_DIR + "/input.jsonl",
        display_name="catalogue-{{ run_day(dag_run) }}",
        output_uri=RUN_DIR + "/results",
        wait_for_completion=True,
        poll_interval=POLL_INTERVAL,
        max_concurrent_jobs=3,  # parts 4 and 5 are uploaded at once, and created as the first ones end
        retry_failed_rows=1,
        max_failed_ratio=0.0001,  # the five refused rows are expected; more than 25 failed rows fail the task
        **SPLIT,
    )

    @task
    def report(manifest: dict) -> dict:
        """Print the parts, the rounds, the row counts and the cost; check one row per input key came back."""
        for part in manifest["parts"]:
            print(
                f"round {part['round']} part {part['index'] + 1}: {part['job_name']} {part['state']}, "
                f"{part['request_count']:,} requests"
            )
        for outcome in manifest["rounds"]:
            print(
                f"round {outcome['round']}: sent {outcome['sent']:,}, succeeded {outcome['recovered']:,}, "
                f"still failing {outcome['still_failing']:,}"
            )
        counts = manifest["counts"]
        cost = manifest["cost"] or {}
        print(f"rows: {counts['succeeded']:,} succeeded, {counts['failed']:,} failed of {counts['total']:,}")
        print(f"estimated cost: {cost.get('amount')} {cost.get('currency', 'USD')} {cost.get('reason') or ''}")
        rows = sum(1 for _ in iter_result_rows(manifest["results_uri"]))
        assert rows == counts["total"], (rows, counts["total"])
        return {"parts": len(manifest["parts"]), "rounds": len(manifest["rounds"]), **counts}

    requests = export_requests()
    budget = check_budget(plan.output)
    requests >> plan
    budget >> submit
    report(submit.output)
