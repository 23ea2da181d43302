"""Emulates Anthropic's Message Batches API, mounted at /anthropic (clients use `<emulator>/anthropic`).

Requests travel inline in the create body (read from a stream, never whole), MessageBatch objects
carry RFC 3339 timestamps and counts that stay in `processing` until the batch ends, errors use
`{"type": "error", "error": {type, message}}`, listings page with after_id/before_id, and results are
one JSONL stream at `results_url`, in a shuffled order: clients must join on custom_id.

Modules: `wire` (bodies and errors), `jsonstream` (the streaming body reader), `validation` (what is
rejected), `blocks` (message content), `results` (answers from the fake model), `lifecycle` (statuses
over time), `routes`.
"""

from __future__ import annotations

from airflow_provider_genai_batch.testing.emulator.anthropic.jsonstream import JsonStream
from airflow_provider_genai_batch.testing.emulator.anthropic.routes import router
from airflow_provider_genai_batch.testing.emulator.anthropic.wire import PROVIDER, AnthropicError

__all__ = ["PROVIDER", "AnthropicError", "JsonStream", "router"]
