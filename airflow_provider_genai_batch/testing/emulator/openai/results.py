"""A batch's results: each request answered by the fake model, as the endpoint would, into two files.

Answers go to the output file and failures to the error file, each line a BatchRequestOutput, in a
shuffled order (clients must join on custom_id). Requests a cancelled or expired batch never reached
end in the error file with batch_cancelled or batch_expired.
"""

from __future__ import annotations

import base64
import struct
import time
from dataclasses import dataclass
from typing import Any

import msgspec

from airflow_provider_genai_batch.testing.emulator import progress, responses
from airflow_provider_genai_batch.testing.emulator.common import openai_error_body, stable_token
from airflow_provider_genai_batch.testing.emulator.openai.validation import BATCH_FILE_TTL_SECONDS, embedding_texts
from airflow_provider_genai_batch.testing.emulator.openai.wire import (
    ALPHANUMERIC,
    PROVIDER,
    OpenAIFile,
    OpenAIResults,
    new_file_id,
)
from airflow_provider_genai_batch.testing.emulator.store import JobRecord, LineWriter, Store

EXPIRED_ROW_MESSAGE = "This request could not be executed before the completion window expired."
CANCELLED_ROW_MESSAGE = "This request was not executed because the batch was cancelled."


@dataclass(frozen=True)
class Answer:
    """One request's outcome: the HTTP status and body the endpoint answered, and the tokens it used."""

    status_code: int
    body: dict[str, Any]
    input_tokens: int = 0
    output_tokens: int = 0


def row_error_answer(error: responses.RowError) -> Answer:
    """The fake model's row error as the endpoint's answer (a 5xx is a server_error)."""
    error_type = "server_error" if error.code >= 500 else "invalid_request_error"
    return Answer(error.code, openai_error_body(error.message, error_type))


def missing_model() -> Answer:
    """The endpoint's answer to a request without a model."""
    return Answer(400, openai_error_body("you must provide a model parameter"))


def answer_chat(body: dict[str, Any], seed: str, created: int) -> Answer:
    """Answer a chat completion request with the fake model."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return missing_model()
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return Answer(
            400,
            openai_error_body(
                "Missing required parameter: 'messages'.", param="messages", code="missing_required_parameter"
            ),
        )
    turns = [
        (str(message.get("role", "")), responses.content_text(message.get("content")))
        for message in messages
        if isinstance(message, dict)
    ]
    outcome = responses.generate_from_turns(turns)
    if isinstance(outcome, responses.RowError):
        return row_error_answer(outcome)
    limit = body.get("max_completion_tokens", body.get("max_tokens"))
    outcome, cut = responses.limit_tokens(outcome, limit if isinstance(limit, int) else None)
    completion = {
        "id": "chatcmpl-" + stable_token("chatcmpl:" + seed, 29, ALPHANUMERIC),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": outcome.text, "refusal": None, "annotations": []},
                "logprobs": None,
                "finish_reason": "length" if cut else "stop",
            }
        ],
        "usage": {
            "prompt_tokens": outcome.prompt_tokens,
            "completion_tokens": outcome.completion_tokens,
            "total_tokens": outcome.total_tokens,
        },
        "service_tier": "default",
        "system_fingerprint": None,
    }
    return Answer(200, completion, outcome.prompt_tokens, outcome.completion_tokens)


def pack_embedding(values: list[float]) -> str:
    """A vector as the API's base64 encoding: little-endian float32."""
    return base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()


def answer_embeddings(body: dict[str, Any]) -> Answer:
    """Answer an embeddings request with the fake model (`dimensions` and `encoding_format` honoured)."""
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return missing_model()
    if "input" not in body:
        return Answer(
            400,
            openai_error_body("Missing required parameter: 'input'.", param="input", code="missing_required_parameter"),
        )
    texts = embedding_texts(body["input"])
    if texts is None:
        return Answer(400, openai_error_body("'$.input' is invalid. Please check the API reference.", param="input"))
    dimensions = body.get("dimensions")
    if dimensions is not None and (not isinstance(dimensions, int) or isinstance(dimensions, bool) or dimensions < 1):
        return Answer(400, openai_error_body("Invalid 'dimensions': expected a positive integer.", param="dimensions"))
    encoding = body.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        return Answer(
            400,
            openai_error_body(
                f"Invalid value: '{encoding}'. Supported values are: 'float' and 'base64'.", param="encoding_format"
            ),
        )
    data = []
    tokens = 0
    for index, text in enumerate(texts):
        outcome = responses.embed(text, dimensions)
        if isinstance(outcome, responses.RowError):
            return row_error_answer(outcome)
        tokens += outcome.prompt_tokens
        vector: Any = pack_embedding(outcome.values) if encoding == "base64" else outcome.values
        data.append({"object": "embedding", "index": index, "embedding": vector})
    body_out = {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    return Answer(200, body_out, tokens, 0)


def answer_line(job: JobRecord, custom_id: Any, body: Any, created: int) -> Answer:
    """The endpoint's answer to one request of a batch."""
    if not isinstance(body, dict):
        return Answer(
            400,
            openai_error_body("Missing required parameter: 'body'.", param="body", code="missing_required_parameter"),
        )
    if job.kind == "embed":
        return answer_embeddings(body)
    return answer_chat(body, f"{job.job_id}:{custom_id}", created)


def decode_entry(line: bytes) -> dict[str, Any]:
    """An input line as an object ({} when it is not one: only a batch that never ran can have such lines)."""
    try:
        entry = msgspec.json.decode(line)
    except msgspec.DecodeError:
        return {}
    return entry if isinstance(entry, dict) else {}


def request_output(job: JobRecord, custom_id: Any, answer: Answer | None, error: dict[str, Any] | None) -> bytes:
    """One BatchRequestOutput line."""
    seed = f"{job.job_id}:{custom_id}"
    response = None
    if answer is not None:
        response = {
            "status_code": answer.status_code,
            "request_id": "req_" + stable_token("req:" + seed, 32),
            "body": answer.body,
        }
    row = {
        "id": "batch_req_" + stable_token("batch_req:" + seed, 32),
        "custom_id": custom_id,
        "response": response,
        "error": error,
    }
    return msgspec.json.encode(row)


def result_file(store: Store, job: JobRecord, suffix: str) -> OpenAIFile:
    """An (unregistered) output or error file record for a job, its bytes still to be written."""
    file_id = new_file_id()
    return OpenAIFile(
        provider=PROVIDER,
        file_id=file_id,
        display_name=f"{job.job_id}_{suffix}.jsonl",
        mime_type="application/jsonl",
        size_bytes=0,
        sha256=b"",
        created=0.0,
        source="GENERATED",
        path=store.file_path(PROVIDER, file_id),
        purpose="batch_output",
    )


def materialise(
    job: JobRecord, store: Store, *, done: int | None = None, stop_code: str | None = None
) -> OpenAIResults:
    """Answer a batch's requests in processing order into an output and an error file.

    The first `done` requests (all when None) are answered; the others end in the error file with
    `stop_code` (batch_cancelled or batch_expired). Empty files are not kept.
    """
    if job.input_path is None:
        raise ValueError(f"batch {job.job_id} has no input")
    output = result_file(store, job, "output")
    errors = result_file(store, job, "error")
    out_writer = LineWriter(output.path)
    err_writer = LineWriter(errors.path)
    succeeded = failed = 0
    input_tokens = output_tokens = 0
    created = int(time.time())
    stop_message = CANCELLED_ROW_MESSAGE if stop_code == "batch_cancelled" else EXPIRED_ROW_MESSAGE
    try:
        for position, (_, line) in enumerate(progress.shuffled_lines(job.input_path, job.job_id)):
            entry = decode_entry(line)
            custom_id = entry.get("custom_id")
            if done is not None and position >= done:
                err_writer.write(request_output(job, custom_id, None, {"code": stop_code, "message": stop_message}))
                continue
            answer = answer_line(job, custom_id, entry.get("body"), created)
            if answer.status_code == 200:
                out_writer.write(request_output(job, custom_id, answer, None))
                succeeded += 1
                input_tokens += answer.input_tokens
                output_tokens += answer.output_tokens
            else:
                err_writer.write(request_output(job, custom_id, answer, None))
                failed += 1
    finally:
        out_digest = out_writer.close()
        err_digest = err_writer.close()
    now = time.time()
    ttl = job.extra.get("output_expires_after") or BATCH_FILE_TTL_SECONDS
    kept: list[OpenAIFile | None] = []
    for record, writer, digest in ((output, out_writer, out_digest), (errors, err_writer, err_digest)):
        if writer.size == 0:
            record.path.unlink(missing_ok=True)
            kept.append(None)
            continue
        record.size_bytes = writer.size
        record.sha256 = digest
        record.created = now
        record.expires_at = now + ttl
        kept.append(record)
    return OpenAIResults(
        succeeded=succeeded,
        failed=failed,
        output=kept[0],
        errors=kept[1],
        input_tokens=input_tokens,
        output_tokens=output_tokens,
    )
