"""A batch's results: each request answered by its endpoint (see `answers`), into two files.

Answers go to the output file and failures to the error file, each line a BatchRequestOutput, in a
shuffled order (clients must join on custom_id). Requests a cancelled or expired batch never reached
end in the error file with batch_cancelled or batch_expired.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from airflow_provider_genai_batch.testing.emulator import progress
from airflow_provider_genai_batch.testing.emulator.openai.answers import Answer, answer_request
from airflow_provider_genai_batch.testing.emulator.openai.transient import TransientFailures
from airflow_provider_genai_batch.testing.emulator.openai.validation import BATCH_FILE_TTL_SECONDS
from airflow_provider_genai_batch.testing.emulator.openai.wire import (
    PROVIDER,
    OpenAIFile,
    OpenAIResults,
    new_file_id,
    row_token,
)
from airflow_provider_genai_batch.testing.emulator.store import JobRecord, LineWriter, Store

EXPIRED_ROW_MESSAGE = "This request could not be executed before the completion window expired."
CANCELLED_ROW_MESSAGE = "This request was not executed because the batch was cancelled."


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
            "request_id": "req_" + row_token("req:" + seed, 32),
            "body": answer.body,
        }
    row = {
        "id": "batch_req_" + row_token("batch_req:" + seed, 32),
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
    `stop_code` (batch_cancelled or batch_expired). Rows of the batch's retryable share fail once (see
    `transient`). Empty files are not kept.
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
    transient = TransientFailures(store, job)
    try:
        for position, (_, line) in enumerate(progress.shuffled_lines(job.input_path, job.job_id)):
            entry = decode_entry(line)
            custom_id = entry.get("custom_id")
            if done is not None and position >= done:
                err_writer.write(request_output(job, custom_id, None, {"code": stop_code, "message": stop_message}))
                continue
            seed = f"{job.job_id}:{custom_id}"
            answer = transient.apply(custom_id, answer_request(job.extra["endpoint"], entry.get("body"), seed, created))
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
    transient.record(job)
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
