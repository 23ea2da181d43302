"""Recording hooks for the bad-input tests: the real provider hook classes with only their I/O replaced.

Limits, capabilities, native-format checks and translation are the real ones (nothing is overridden but
listing, upload and create), so the submit operator validates exactly as it would in production; the
recording shows whether anything was uploaded or created.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import pytest
from airflow.sdk import Connection

from airflow_provider_genai_batch.hooks.anthropic import AnthropicBatchHook
from airflow_provider_genai_batch.hooks.base import BatchHook
from airflow_provider_genai_batch.hooks.gemini import GeminiBatchHook
from airflow_provider_genai_batch.hooks.openai import OpenAIBatchHook
from airflow_provider_genai_batch.models import BatchJob, FileInfo, JobState
from airflow_provider_genai_batch.operators import submit as submit_module
from airflow_provider_genai_batch.operators.submit import GenAIBatchSubmitOperator
from tests.unit.pipeline.fakes import FakeTI, make_context

from .cases import EMBEDDING_MODELS, MODELS

CONN_ID = "genai_bad_inputs"
HOOK_CLASSES: dict[str, type[BatchHook]] = {
    "gemini": GeminiBatchHook,
    "openai": OpenAIBatchHook,
    "anthropic": AnthropicBatchHook,
}


class RecordingMixin:
    """Listing finds nothing; upload and create are recorded, never sent."""

    provider: str
    conn_type: str
    settings_from_connection: Any

    def __init__(self, conn_id: str | None = CONN_ID, **kwargs: Any) -> None:
        super().__init__(conn_id=conn_id, **kwargs)
        conn = Connection(conn_id=CONN_ID, conn_type=self.conn_type, host="http://fake.invalid", password="sk-test")
        self.__dict__["settings"] = self.settings_from_connection(conn)  # never reads an Airflow connection
        self.calls: list[str] = []
        self.uploads: list[bytes] = []
        self.created: list[dict[str, Any]] = []

    def list_batches(self) -> Iterator[BatchJob]:
        self.calls.append("list_batches")
        return iter(())

    def upload_file(
        self, source: str | Path | IO[bytes], *, display_name: str | None = None, mime_type: str = "application/jsonl"
    ) -> FileInfo:
        self.calls.append("upload_file")
        data = Path(source).read_bytes() if isinstance(source, (str, Path)) else source.read()
        self.uploads.append(data)
        return FileInfo(name=f"files/upload-{len(self.uploads)}", size_bytes=len(data))

    def _record_create(
        self, model: str, embeddings: bool, requests: Iterable[Mapping[str, Any]] | None, **kwargs: Any
    ) -> BatchJob:
        self.calls.append("create_embeddings_batch" if embeddings else "create_batch")
        inline = None if requests is None else [dict(r) for r in requests]
        self.created.append({"model": model, "embeddings": embeddings, "requests": inline, **kwargs})
        return BatchJob(name=f"batch-{len(self.created)}", provider=self.provider, state=JobState.PENDING)

    def create_batch(self, model: str, *, requests: Any = None, **kwargs: Any) -> BatchJob:
        return self._record_create(model, False, requests, **kwargs)

    def create_embeddings_batch(self, model: str, *, requests: Any = None, **kwargs: Any) -> BatchJob:
        return self._record_create(model, True, requests, **kwargs)

    def get_batch(self, name: str) -> BatchJob:
        raise AssertionError("the bad-input tests never wait for a job")

    def sent_lines(self) -> list[dict[str, Any]]:
        """Every request line that would have reached the provider: uploaded JSONL lines or inline requests."""
        lines: list[dict[str, Any]] = []
        for data in self.uploads:
            lines.extend(json.loads(raw) for raw in data.splitlines() if raw.strip())
        for created in self.created:
            lines.extend(created["requests"] or [])
        return lines


def recording_hook_class(provider: str) -> type[Any]:
    base = HOOK_CLASSES[provider]
    return type(f"Recording{base.__name__}", (RecordingMixin, base), {})


@pytest.fixture
def spool_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where this test's temporary spool files go (``tempfile`` default dir), to check they are removed."""
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    return spool


@pytest.fixture
def recording(monkeypatch: pytest.MonkeyPatch, spool_dir: Path) -> Callable[..., Any]:
    """``recording(provider, **limits)`` -> a recording hook that the submit operator will get."""

    def make(provider: str, **limits: Any) -> Any:
        cls = recording_hook_class(provider)
        if limits:
            cls.limits = cls.limits.model_copy(update=limits)
        hook = cls()
        monkeypatch.setattr(submit_module, "get_hook", lambda conn_id: hook)
        return hook

    return make


def submit(provider: str, source: str, *, output_uri: str, embeddings: bool = False) -> dict[str, Any]:
    """Run the submit operator's ``execute`` for ``provider`` (its hook comes from ``recording``)."""
    model = (EMBEDDING_MODELS if embeddings else MODELS)[provider]
    op = GenAIBatchSubmitOperator(
        task_id="submit", conn_id=CONN_ID, model=model, input=source, embeddings=embeddings, output_uri=output_uri
    )
    return op.execute(make_context(FakeTI()))
