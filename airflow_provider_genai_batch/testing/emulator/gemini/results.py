"""A finished Gemini batch's results: each request answered by the fake model, as a results file or inline.

File input becomes the results file `files/batch-<id>` (over 40 characters: it can be fetched and
downloaded but not deleted); inline input, of generation and embedding batches alike, becomes
`inlinedResponses`, in request order with each metadata (left out in `gemini_drop_inline_metadata` mode).
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

import msgspec

from airflow_provider_genai_batch.testing.emulator import responses
from airflow_provider_genai_batch.testing.emulator.gemini.validation import api_rule_problem, request_field_problem
from airflow_provider_genai_batch.testing.emulator.gemini.wire import (
    PROVIDER,
    RESULT_FILE_PREFIX,
    RESULT_MIME_TYPE,
    get_field,
    without_zeros,
)
from airflow_provider_genai_batch.testing.emulator.store import (
    JobRecord,
    JobResults,
    Store,
    generated_file,
    materialise_lines,
)


def part_texts(content: Any) -> list[str]:
    """The text parts of a Content object (anything else yields nothing)."""
    if not isinstance(content, dict):
        return []
    parts = content.get("parts")
    if not isinstance(parts, list):
        return []
    return [part["text"] for part in parts if isinstance(part, dict) and isinstance(part.get("text"), str)]


def row_error(message: str, code: int = 400, status: str = "INVALID_ARGUMENT") -> dict[str, Any]:
    """A per-row error object."""
    return {"code": code, "message": message, "status": status}


def to_row_error(error: responses.RowError) -> dict[str, Any]:
    """The fake model's row error on the wire."""
    return row_error(error.message, error.code, error.status)


def response_id(seed: str) -> str:
    """A stable, realistic-looking responseId."""
    return base64.urlsafe_b64encode(hashlib.sha256(seed.encode()).digest()[:16]).decode().rstrip("=")


def thinking_budget(request: dict[str, Any]) -> int | None:
    """``generationConfig.thinkingConfig.thinkingBudget`` when the request sets it to an integer."""
    config = get_field(request, "generationConfig")
    thinking = get_field(config, "thinkingConfig") if isinstance(config, dict) else None
    budget = get_field(thinking, "thinkingBudget") if isinstance(thinking, dict) else None
    return budget if isinstance(budget, int) and not isinstance(budget, bool) else None


def generate_response(request: dict[str, Any], model: str, seed: str) -> dict[str, Any]:
    """Answer a GenerateContentRequest: {"response": GenerateContentResponse} or {"error": ...}.

    Thoughts the request asked for (a thinking budget) are counted in ``thoughtsTokenCount`` and in the total,
    not in ``candidatesTokenCount``, as the service counts them.
    """
    contents = get_field(request, "contents")
    if not isinstance(contents, list) or not contents:
        return {"error": row_error("* GenerateContentRequest.contents: contents is not specified")}
    problem = api_rule_problem(request)
    if problem is not None:
        return {"error": row_error(problem)}
    user_contents = [c for c in contents if isinstance(c, dict) and c.get("role", "user") == "user"]
    prompt = "".join(part_texts(user_contents[-1])) if user_contents else ""
    context = [text for content in contents for text in part_texts(content)]
    context += part_texts(get_field(request, "systemInstruction"))
    outcome = responses.generate(prompt, context)
    if isinstance(outcome, responses.RowError):
        return {"error": to_row_error(outcome)}
    thoughts = responses.thinking_tokens(outcome, thinking_budget(request))
    usage = without_zeros(
        {
            "promptTokenCount": outcome.prompt_tokens,
            "candidatesTokenCount": outcome.completion_tokens,
            "totalTokenCount": outcome.total_tokens + thoughts,
            "thoughtsTokenCount": thoughts,
        }
    )
    return {
        "response": {
            "candidates": [
                {
                    "content": {"parts": [{"text": outcome.text}], "role": "model"},
                    "finishReason": "STOP",
                    "index": 0,
                }
            ],
            "usageMetadata": usage,
            "modelVersion": model.removeprefix("models/").removeprefix("tunedModels/"),
            "responseId": response_id(seed),
        }
    }


MAX_EMBEDDING_DIMENSIONS = 3072
"""The largest embedding any Gemini embedding model returns (gemini-embedding-001's); a larger size is refused."""


def proto_int(value: Any) -> int | None:
    """An int32 field as proto-JSON reads it, a JSON integer (100.0 included) or its decimal text ("256"), or None
    when unset; ValueError for anything else."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value):
        return int(value)
    raise ValueError(value)


def embed_response(request: dict[str, Any]) -> dict[str, Any]:
    """Answer an EmbedContentRequest as a SingleEmbedContentResponse, ``{"response": {"embedding": {"values"},
    "tokenCount"}}`` (its input tokens; it has no usageMetadata), or ``{"error": ...}``."""
    content = get_field(request, "content")
    if not isinstance(content, dict):
        return {"error": row_error("* EmbedContentRequest.content: content is not specified")}
    try:
        dimensions = proto_int(get_field(request, "outputDimensionality"))
    except ValueError:
        return {"error": row_error("outputDimensionality must be an integer.")}
    if dimensions is not None and dimensions > MAX_EMBEDDING_DIMENSIONS:
        return {"error": row_error(f"outputDimensionality must be at most {MAX_EMBEDDING_DIMENSIONS}.")}
    outcome = responses.embed("".join(part_texts(content)), dimensions)
    if isinstance(outcome, responses.RowError):
        return {"error": to_row_error(outcome)}
    response: dict[str, Any] = {"embedding": {"values": outcome.values}}
    if outcome.prompt_tokens:
        response["tokenCount"] = str(outcome.prompt_tokens)  # int64: a decimal string in proto JSON
    return {"response": response}


def answer(request: dict[str, Any], job: JobRecord, position: int) -> dict[str, Any]:
    """One well-formed request's outcome from the fake model, in the job's kind."""
    if job.kind == "embed":
        return embed_response(request)
    return generate_response(request, job.model, f"{job.job_id}:{position}")


def result_line(job: JobRecord, number: int, line: bytes) -> tuple[bytes, bool]:
    """Turn one input JSONL line into its result line; unparseable lines become error rows."""
    try:
        entry = msgspec.json.decode(line)
    except msgspec.DecodeError as exc:
        error = row_error(f"Error on line {number}: invalid JSON: {exc}")
        return msgspec.json.encode({"key": None, "error": error}), False
    if not isinstance(entry, dict):
        error = row_error(f"Error on line {number}: a line must be a JSON object.")
        return msgspec.json.encode({"key": None, "error": error}), False
    key = entry.get("key")
    if "request" in entry:
        request = entry["request"]
    elif "key" not in entry and ("contents" in entry or "content" in entry):
        request = entry
    else:
        error = row_error(f"Error on line {number}: 'request' is not specified.")
        return msgspec.json.encode({"key": key, "error": error}), False
    problem = request_field_problem(request, job.kind)
    if problem is not None:
        error = row_error(f"Error on line {number}: invalid JSON: {problem}")
        return msgspec.json.encode({"key": key, "error": error}), False
    outcome = answer(request, job, number)
    return msgspec.json.encode({"key": key, **outcome}), "response" in outcome


def materialise_file_job(job: JobRecord, store: Store) -> JobResults:
    """Stream a file-input job's lines into its results file `files/batch-<id>`."""
    file_id = RESULT_FILE_PREFIX + job.job_id
    path = store.file_path(PROVIDER, file_id)
    succeeded, failed, size, digest = materialise_lines(job, path, lambda number, line: result_line(job, number, line))
    record = generated_file(PROVIDER, file_id, path, RESULT_MIME_TYPE, size, digest)
    return JobResults(succeeded=succeeded, failed=failed, file=record)


def inline_row(job: JobRecord, position: int, entry: dict[str, Any]) -> dict[str, Any]:
    """One inline request's response (or error), echoing the request's metadata unless the job drops it."""
    # Creation already rejected malformed inline requests, as the proto parser would.
    row = answer(get_field(entry, "request"), job, position)
    if "metadata" in entry and not job.extra.get("drop_inline_metadata"):
        row["metadata"] = entry["metadata"]
    return row


def materialise_inline_job(job: JobRecord, store: Store) -> JobResults:
    """Answer an inline job's requests in order, echoing each request's metadata."""
    rows = [inline_row(job, position, entry) for position, entry in enumerate(job.inline_requests or [])]
    succeeded = sum("response" in row for row in rows)
    return JobResults(succeeded=succeeded, failed=len(rows) - succeeded, inline=rows)
