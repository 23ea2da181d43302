"""Emulates the OpenAI Files and Batch REST API, mounted at /openai (clients use `<emulator>/openai/v1`).

FileObject and Batch bodies with unix-int timestamps, cursor pages (`after` = an object id),
`{"error": {message, type, param, code}}` envelopes, multipart uploads streamed to disk, and JSONL
input validated while the batch is `validating` (a bad file ends `failed` with `errors.data`).
Results come as two files, output and error, in a shuffled order: clients must join on custom_id.

Modules: `wire` (bodies and errors), `validation` (what is rejected), `answers` (each batchable
endpoint's answer from the fake model), `transient` (rows that fail once with a retryable server error),
`results` (the output and error files), `lifecycle` (statuses over time) and `routes` (the endpoints).
"""

from __future__ import annotations

from airflow_provider_genai_batch.testing.emulator.openai.routes import router
from airflow_provider_genai_batch.testing.emulator.openai.wire import PROVIDER, OpenAIError

__all__ = ["PROVIDER", "OpenAIError", "router"]
