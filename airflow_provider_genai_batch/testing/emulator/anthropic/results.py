"""A batch's results: one JSONL stream at `results_url`, each request succeeded, errored, canceled or expired.

Lines come in a shuffled order (clients must join on custom_id); each succeeded line carries a Message
from the fake model.
"""

from __future__ import annotations

import secrets
from typing import Any

import msgspec

from airflow_provider_genai_batch.testing.emulator import progress, responses
from airflow_provider_genai_batch.testing.emulator.anthropic.validation import STRICT_BATCH_VERSION, params_problem
from airflow_provider_genai_batch.testing.emulator.anthropic.wire import ID_ALPHABET, PROVIDER, AnthropicResults
from airflow_provider_genai_batch.testing.emulator.common import anthropic_error_body, stable_token
from airflow_provider_genai_batch.testing.emulator.store import JobRecord, LineWriter, Store, generated_file

RESULTS_MIME_TYPE = "application/x-jsonl"


def errored(custom_id: str, seed: str, error_type: str, message: str) -> dict[str, Any]:
    """An `errored` result line."""
    error = {
        **anthropic_error_body(error_type, message),
        "request_id": "req_01" + stable_token("req:" + seed, 22, ID_ALPHABET),
    }
    return {"custom_id": custom_id, "result": {"type": "errored", "error": error}}


def answer(custom_id: str, params: dict[str, Any], seed: str, version: str) -> dict[str, Any]:
    """One request's result line: `succeeded` with a Message, or `errored`."""
    problem = params_problem(params, version)
    if problem is not None:
        return errored(custom_id, seed, "invalid_request_error", problem)
    turns = [(str(m.get("role")), responses.content_text(m.get("content"))) for m in params["messages"]]
    outcome = responses.generate_from_turns(turns, context=[responses.content_text(params.get("system"))])
    if isinstance(outcome, responses.RowError):
        error_type = "api_error" if outcome.code >= 500 else "invalid_request_error"
        return errored(custom_id, seed, error_type, outcome.message)
    outcome, cut = responses.limit_tokens(outcome, params["max_tokens"])
    message = {
        "id": "msg_01" + stable_token("msg:" + seed, 22, ID_ALPHABET),
        "type": "message",
        "role": "assistant",
        "model": params["model"],
        "content": [{"type": "text", "text": outcome.text}],
        "stop_reason": "max_tokens" if cut else "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": outcome.prompt_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
            "output_tokens": outcome.completion_tokens,
            "service_tier": "batch",
        },
    }
    return {"custom_id": custom_id, "result": {"type": "succeeded", "message": message}}


def materialise(
    job: JobRecord,
    store: Store,
    *,
    done: int | None = None,
    stop_type: str | None = None,
    fail_message: str | None = None,
) -> AnthropicResults:
    """Write a batch's results in processing order.

    The first `done` requests (all when None) are answered, the others end `stop_type` (canceled or
    expired); with `fail_message`, every request ends errored with an api_error.
    """
    if job.input_path is None:
        raise ValueError(f"batch {job.job_id} has no input")
    # A fresh name per run: a success run discarded by a late cancel deletes only its own file.
    file_id = f"{job.job_id}-results-{secrets.token_hex(4)}"
    path = store.file_path(PROVIDER, file_id)
    writer = LineWriter(path)
    counts = {"succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
    version = str(job.extra.get("version", STRICT_BATCH_VERSION))
    try:
        for position, (_, line) in enumerate(progress.shuffled_lines(job.input_path, job.job_id)):
            entry = msgspec.json.decode(line)
            custom_id = entry["custom_id"]
            seed = f"{job.job_id}:{custom_id}"
            if fail_message is not None:
                row = errored(custom_id, seed, "api_error", fail_message)
            elif done is not None and position >= done and stop_type is not None:
                row = {"custom_id": custom_id, "result": {"type": stop_type}}
            else:
                row = answer(custom_id, entry["params"], seed, version)
            counts[row["result"]["type"]] += 1
            writer.write(msgspec.json.encode(row))
    finally:
        digest = writer.close()
    return AnthropicResults(
        succeeded=counts["succeeded"],
        failed=counts["errored"],
        file=generated_file(PROVIDER, file_id, path, RESULTS_MIME_TYPE, writer.size, digest),
        canceled=counts["canceled"],
        expired=counts["expired"],
    )
