"""Emulates Amazon Bedrock's batch-inference control plane, mounted at /bedrock.

Clients use `endpoint_url=<emulator>/bedrock`. REST-JSON with ISO-8601 times and errors as
`{"message"}` with the type in `x-amzn-ErrorType`; statuses go Submitted → Validating → Scheduled →
InProgress → Completed over the configured durations, and Stop goes Stopping → Stopped. Input and
output live in a real S3-compatible server (moto in the tests) at `EmulatorConfig.s3_endpoint_url`;
output lines come in a deterministic shuffled order.

Modules: `wire` (bodies, statuses and errors), `validation` (what is rejected), `content` (a record's
messages), `storage` (S3 input and output), `results` (answers from the fake model), `families` (the
InvokeModel answers of the model families other than Anthropic's) and `routes` (the endpoints).
"""

from __future__ import annotations

from airflow_provider_genai_batch.testing.emulator.bedrock.routes import router
from airflow_provider_genai_batch.testing.emulator.bedrock.wire import PROVIDER, BedrockError

__all__ = ["PROVIDER", "BedrockError", "router"]
