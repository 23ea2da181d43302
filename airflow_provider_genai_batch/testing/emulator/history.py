"""A provider's listing filled with old jobs, for tests and benchmarks of look-ups that must not grow with history.

:func:`seed_history` copies one job the emulator made through its own API into many older ones with new ids,
written straight into the store (10,000 in well under a second); :class:`InProcessEmulator` serves the app in
this process, on loopback, so that its store can be reached.
"""

from __future__ import annotations

import dataclasses
import io
import json
import threading
import time
from types import TracebackType
from typing import Any

import uvicorn

from airflow_provider_genai_batch.spec import BatchSpec, FileSource, InlineSource
from airflow_provider_genai_batch.testing.emulator.app import create_app
from airflow_provider_genai_batch.testing.emulator.config import EmulatorConfig
from airflow_provider_genai_batch.testing.emulator.server import HOST, free_port
from airflow_provider_genai_batch.testing.emulator.store import EmulatorState, JobRecord, Store


def history_connections(emulator_url: str, s3_url: str, bucket: str, api_key: str) -> dict[str, dict[str, Any]]:
    """The Airflow connection of each provider whose listing the look-up tests fill (OpenAI, Gemini, Bedrock with
    its input and output under ``bucket`` on the S3 server at ``s3_url``), all on the emulator."""
    return {
        "openai": {"conn_type": "genaiopenai", "host": f"{emulator_url}/openai/v1", "password": api_key},
        "gemini": {"conn_type": "genaigemini", "host": emulator_url, "password": api_key},
        "bedrock": {
            "conn_type": "genaibedrock",
            "extra": {
                "region": "us-east-1",
                "role_arn": "arn:aws:iam::123456789012:role/BedrockBatch",
                "input_s3_uri": f"s3://{bucket}/input",
                "output_s3_uri": f"s3://{bucket}/output",
                "endpoint_url": f"{emulator_url}/bedrock",
                "s3_endpoint_url": s3_url,
            },
        },
    }


def one_job_spec(provider: str, hook: Any, key: str, fingerprint: str, display_name: str) -> BatchSpec:
    """A one-request job (Bedrock: its minimum of 100 records) in ``provider``'s own line format, uploaded
    through ``hook`` where the provider takes a file: the template :func:`seed_history` copies."""
    if provider == "gemini":
        line = {"key": "k0", "request": {"contents": [{"role": "user", "parts": [{"text": "q"}]}]}}
        return BatchSpec(
            model="gemini-2.5-flash",
            display_name=display_name,
            source=InlineSource([line]),
            idempotency_key=key,
            input_fingerprint=fingerprint,
        )
    lines: list[dict[str, Any]]
    if provider == "openai":
        model = "gpt-4o-mini"
        lines = [
            {
                "custom_id": "k0",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {"model": model, "messages": [{"role": "user", "content": "q"}]},
            }
        ]
    else:
        model = "anthropic.claude-3-haiku-20240307-v1:0"
        message = {"role": "user", "content": [{"type": "text", "text": "q"}]}
        lines = [
            {
                "recordId": f"k{i}",
                "modelInput": {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 16, "messages": [message]},
            }
            for i in range(100)
        ]
    data = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    uploaded = hook.upload_file(io.BytesIO(data), display_name=f"{display_name}.jsonl")
    return BatchSpec(
        model=model,
        display_name=display_name,
        source=FileSource(uploaded.name),
        idempotency_key=key,
        input_fingerprint=fingerprint,
    )


NEVER_STARTS = 10.0**9
"""Seconds a seeded job stays PENDING: listing it never produces results."""


def seed_history(store: Store, template: JobRecord, count: int, *, newest: float, spacing: float = 1.0) -> list[str]:
    """Register ``count`` copies of ``template``, created ``spacing`` seconds apart up to ``newest`` (epoch
    seconds), oldest first so the listing order and the creation times agree; returns their names."""
    names = []
    for index in range(count):
        job_id = f"{template.job_id[:8]}h{index:07d}"
        copy = dataclasses.replace(
            template,
            job_id=job_id,
            name=template.name.replace(template.job_id, job_id),
            created=newest - (count - 1 - index) * spacing,
            pending_seconds=NEVER_STARTS,
            extra=dict(template.extra),
            seq=0,
            cancelled_at=None,
            deleted=False,
            results=None,
            failure=None,
            worker=None,
            lock=threading.Lock(),
        )
        names.append(store.add_job(copy).name)
    return names


class InProcessEmulator:
    """Context manager: the emulator app served by uvicorn in a thread of this process, its state at hand."""

    def __init__(self, **config: object) -> None:
        self.port = free_port(HOST)
        app = create_app(EmulatorConfig.model_validate(config))
        self.state: EmulatorState = app.state.emulator
        self._server = uvicorn.Server(uvicorn.Config(app, host=HOST, port=self.port, log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, name="in-process-emulator", daemon=True)

    @property
    def base_url(self) -> str:
        """The root URL clients use, e.g. http://127.0.0.1:8123."""
        return f"http://{HOST}:{self.port}"

    def __enter__(self) -> InProcessEmulator:
        self._thread.start()
        deadline = time.monotonic() + 10.0
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the in-process emulator did not start")
            time.sleep(0.01)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10.0)
        self.state.store.close()
