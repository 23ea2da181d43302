"""Recording hooks for the bad-input tests: the real provider hook classes with only their I/O replaced.

Validation and translation come from the provider's real dialect (``formats.<provider>``), handed to
the hook directly: no Airflow connection is defined or read (reading one fails the test). Capabilities,
native-format checks, the create call's capability check and translation are the real ones (nothing is
overridden but listing, upload and create), so the submit operator validates exactly as it would in
production; the recording shows whether anything was uploaded or created.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import pytest
from airflow.sdk import BaseHook

from airflow_provider_genai_batch.formats.anthropic import AnthropicDialect
from airflow_provider_genai_batch.formats.dialect import Dialect
from airflow_provider_genai_batch.formats.gemini import GeminiDialect
from airflow_provider_genai_batch.formats.openai import OpenAIDialect
from airflow_provider_genai_batch.hooks.anthropic import AnthropicBatchHook
from airflow_provider_genai_batch.hooks.base import BatchHook
from airflow_provider_genai_batch.hooks.gemini import GeminiBatchHook
from airflow_provider_genai_batch.hooks.openai import OpenAIBatchHook
from airflow_provider_genai_batch.models import BatchJob, FileInfo, JobState
from airflow_provider_genai_batch.operators import submit as submit_module
from airflow_provider_genai_batch.operators.submit import GenAIBatchSubmitOperator
from airflow_provider_genai_batch.spec import BatchSpec, InlineSource
from tests.unit.pipeline.fakes import FakeTI, make_context

from .cases import EMBEDDING_MODELS, MODELS

CONN_ID = "genai_bad_inputs"
HOOK_CLASSES: dict[str, type[BatchHook[Any]]] = {
    "gemini": GeminiBatchHook,
    "openai": OpenAIBatchHook,
    "anthropic": AnthropicBatchHook,
}
DIALECT_CLASSES: dict[str, type[Any]] = {
    "gemini": GeminiDialect,
    "openai": OpenAIDialect,
    "anthropic": AnthropicDialect,
}


class RecordingMixin:
    """Listing finds nothing; upload and create are recorded, never sent. The dialect is given, not read."""

    provider: str
    settings_model: Any
    _checked: Any

    def __init__(self, dialect: Dialect, conn_id: str | None = CONN_ID, **kwargs: Any) -> None:
        super().__init__(conn_id=conn_id, **kwargs)
        self.__dict__["dialect"] = dialect  # the hook's format policy, with no connection behind it
        # The create path reads the retry policy; these settings are built here, never read from Airflow.
        self.__dict__["settings"] = self.settings_model(base_url="http://fake.invalid")
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

    def find_upload(self, name: str, not_before: datetime | None = None) -> FileInfo | None:
        return None  # no earlier try uploaded anything

    def create_batch(self, spec: BatchSpec) -> BatchJob:
        spec = self._checked(spec)  # the real capability check of the one create call
        self.calls.append("create_batch")
        inline = [dict(r) for r in spec.source.requests] if isinstance(spec.source, InlineSource) else None
        self.created.append(
            {"model": spec.model, "embeddings": spec.embeddings, "requests": inline, "source": spec.source}
        )
        return BatchJob(name=f"batch-{len(self.created)}", provider=self.provider, state=JobState.PENDING)

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


def dialect_for(provider: str, **limits: Any) -> Dialect:
    """The provider's real dialect; with ``limits``, a subclass of it whose limits are changed only there."""
    cls = DIALECT_CLASSES[provider]
    if limits:
        cls = type(f"Limited{cls.__name__}", (cls,), {"limits": cls.limits.model_copy(update=limits)})
    return cls()


@pytest.fixture
def spool_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where this test's temporary spool files go (``tempfile`` default dir), to check they are removed."""
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    return spool


@pytest.fixture
def no_airflow_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    """Validating an input needs no Airflow connection: reading one fails the test."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"an Airflow connection was read {args!r}")

    monkeypatch.setattr(BaseHook, "get_connection", refuse)
    monkeypatch.setattr(BaseHook, "aget_connection", refuse)


@pytest.fixture
def recording(monkeypatch: pytest.MonkeyPatch, spool_dir: Path, no_airflow_connection: None) -> Callable[..., Any]:
    """``recording(provider, **limits)`` -> a recording hook that the submit operator will get."""

    def make(provider: str, **limits: Any) -> Any:
        hook = recording_hook_class(provider)(dialect_for(provider, **limits))
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
