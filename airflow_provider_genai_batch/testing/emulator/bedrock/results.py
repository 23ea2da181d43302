"""A completed Bedrock job's output: one record per input line, answered by the fake model, in a shuffled order.

Anthropic InvokeModel bodies get an Anthropic Message, another family's InvokeModel body that family's own answer
(see `families`), Converse requests a Converse response; a record the model rejects carries an `error` instead of a
`modelOutput`.
"""

from __future__ import annotations

import string
from typing import Any

import msgspec

from airflow_provider_genai_batch.testing.emulator import progress, responses
from airflow_provider_genai_batch.testing.emulator.bedrock import families
from airflow_provider_genai_batch.testing.emulator.bedrock.storage import write_output
from airflow_provider_genai_batch.testing.emulator.bedrock.validation import input_problem
from airflow_provider_genai_batch.testing.emulator.bedrock.wire import REQUEST_KEY, S3_KEY
from airflow_provider_genai_batch.testing.emulator.common import BASE62_ALPHABET, stable_token
from airflow_provider_genai_batch.testing.emulator.store import JobRecord, JobResults, LineWriter, Store

RECORD_ID_ALPHABET = string.ascii_uppercase + string.digits


def text_of(content: Any) -> str:
    """The text of an Anthropic content (a string or blocks) or a Converse content list."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    return "".join(block["text"] for block in content if isinstance(block, dict) and isinstance(block.get("text"), str))


def answer(model_input: dict[str, Any], invocation_type: str, model: str, seed: str) -> dict[str, Any]:
    """`{"modelOutput": ...}` or `{"error": {"errorCode", "errorMessage"}}` for one valid `modelInput`."""
    turns = [(str(m.get("role")), text_of(m.get("content"))) for m in model_input["messages"]]
    system = text_of(model_input.get("system"))
    outcome = responses.generate_from_turns(turns, context=[system] if system else [])
    if isinstance(outcome, responses.RowError):
        return {"error": {"errorCode": outcome.code, "errorMessage": outcome.message}}
    if invocation_type == "Converse":
        max_tokens = (model_input.get("inferenceConfig") or {}).get("maxTokens")
        generation, cut = responses.limit_tokens(outcome, max_tokens)
        return {
            "modelOutput": {
                "output": {"message": {"role": "assistant", "content": [{"text": generation.text}]}},
                "stopReason": "max_tokens" if cut else "end_turn",
                "usage": {
                    "inputTokens": generation.prompt_tokens,
                    "outputTokens": generation.completion_tokens,
                    "totalTokens": generation.total_tokens,
                },
                "metrics": {"latencyMs": 100},
            }
        }
    generation, cut = responses.limit_tokens(outcome, model_input["max_tokens"])
    return {
        "modelOutput": {
            "id": "msg_bdrk_" + stable_token(seed, 24, BASE62_ALPHABET),
            "type": "message",
            "role": "assistant",
            "model": model.split(".", 1)[-1].split(":", 1)[0],
            "content": [{"type": "text", "text": generation.text}],
            "stop_reason": "max_tokens" if cut else "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": generation.prompt_tokens, "output_tokens": generation.completion_tokens},
        }
    }


def output_line(job: JobRecord, number: int, raw: bytes) -> tuple[dict[str, Any], dict[str, int] | None]:
    """One output record for an input line, and its token usage when it succeeded."""
    seed = f"{job.job_id}:{number}"
    entry = msgspec.json.decode(raw)  # validated as a JSON object with a modelInput object when the job was made
    record_id = entry.get("recordId") or stable_token(seed, 11, RECORD_ID_ALPHABET)
    model_input: Any = entry.get("modelInput")
    invocation_type = job.extra[REQUEST_KEY]["modelInvocationType"]
    head = {"recordId": record_id, "modelInput": model_input}
    family = _other_family(model_input, invocation_type, job.model)
    if family is not None:
        outcome, tokens = families.answer(model_input, family, seed, job.model)
        return {**head, **outcome}, tokens
    problem = input_problem(model_input, invocation_type, job.model)
    if problem is not None:
        return {**head, "error": {"errorCode": 400, "errorMessage": problem}}, None
    outcome = answer(model_input, invocation_type, job.model, seed)
    if "error" in outcome:
        return {**head, **outcome}, None
    usage = outcome["modelOutput"]["usage"]
    tokens = {
        "input": usage.get("input_tokens", usage.get("inputTokens", 0)),
        "output": usage.get("output_tokens", usage.get("outputTokens", 0)),
    }
    return {**head, **outcome}, tokens


def _other_family(
    model_input: Any, invocation_type: str, model: str
) -> families.TextFamily | families.EmbeddingFamily | None:
    """The family answering an InvokeModel record of a model not Anthropic's, when the emulator knows it."""
    if invocation_type != "InvokeModel" or "anthropic" in model or not isinstance(model_input, dict):
        return None
    return families.family_of(model, model_input)


def materialise(job: JobRecord, store: Store) -> JobResults:
    """Write the job's `.out` file (shuffled) and `manifest.json.out` to its S3 output folder."""
    assert job.input_path is not None
    out_path = store.job_path(job.job_id, "out")
    writer = LineWriter(out_path)
    succeeded = failed = input_tokens = output_tokens = 0
    try:
        for number, raw in progress.shuffled_lines(job.input_path, job.job_id):
            record, tokens = output_line(job, number, raw)
            writer.write(msgspec.json.encode(record))
            if tokens is None:
                failed += 1
            else:
                succeeded += 1
                input_tokens += tokens["input"]
                output_tokens += tokens["output"]
    finally:
        writer.close()
    manifest = {
        "totalRecordCount": job.request_count,
        "processedRecordCount": succeeded + failed,
        "successRecordCount": succeeded,
        "errorRecordCount": failed,
        "inputTokenCount": input_tokens,
        "outputTokenCount": output_tokens,
    }
    write_output(job.extra[S3_KEY], job.extra[REQUEST_KEY], job.job_id, out_path, manifest)
    return JobResults(succeeded=succeeded, failed=failed)
