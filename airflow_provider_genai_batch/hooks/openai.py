"""OpenAI Files + Batches, in REST over httpx: streamed multipart upload, cursor pages, two result files."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import IO, Any, ClassVar

from airflow_provider_genai_batch.formats import openai as wire
from airflow_provider_genai_batch.formats.detect import InputFormat
from airflow_provider_genai_batch.formats.jsonl import iter_json_objects
from airflow_provider_genai_batch.formats.keys import portable_id
from airflow_provider_genai_batch.formats.results import ResultRow
from airflow_provider_genai_batch.hooks.base import (
    BatchHook,
    ConnectionSettings,
    ProviderCapabilities,
    ProviderLimits,
)
from airflow_provider_genai_batch.hooks.http import ApiRequest, Operation, Page
from airflow_provider_genai_batch.models import BatchJob, FileInfo

DEFAULT_BASE_URL = "https://api.openai.com/v1"
IDEMPOTENCY_METADATA_KEY = "idempotency_key"


class OpenAISettings(ConnectionSettings):
    """An OpenAI connection: key, optional organization and project, base URL, completion window."""

    organization: str | None = None
    project: str | None = None
    completion_window: str = "24h"


class OpenAIBatchHook(BatchHook[OpenAISettings]):
    """Files and batches on the OpenAI API (``Authorization: Bearer``); batches cannot be deleted there."""

    default_conn_name = "openai_batch_default"
    conn_type = "genai_openai"
    hook_name = "GenAI Batch: OpenAI"

    provider: ClassVar[str] = wire.PROVIDER
    settings_model: ClassVar[type[ConnectionSettings]] = OpenAISettings
    default_base_url: ClassVar[str] = DEFAULT_BASE_URL
    native_format: ClassVar[InputFormat] = InputFormat.OPENAI
    limits: ClassVar[ProviderLimits] = ProviderLimits(max_requests=50_000, max_file_bytes=200_000_000)
    capabilities: ClassVar[ProviderCapabilities] = ProviderCapabilities(
        file_input=True, inline_input=False, embeddings=True, delete=False
    )

    def auth_headers(self, settings: OpenAISettings) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {settings.api_key_value()}"}
        if settings.organization:
            headers["OpenAI-Organization"] = settings.organization
        if settings.project:
            headers["OpenAI-Project"] = settings.project
        return headers

    def to_native(self, line: Mapping[str, Any], *, model: str, embeddings: bool) -> dict[str, Any]:
        return wire.from_gemini(line, model=model, embeddings=embeddings)

    def check_native(self, line: Mapping[str, Any], *, model: str) -> str | None:
        endpoint = wire.check_native(line)
        line_model = line["body"].get("model")
        if line_model != model:
            raise ValueError(f"body.model {line_model!r} differs from the batch model {model!r}")
        return endpoint

    provider_key = staticmethod(portable_id)

    # --- files ----------------------------------------------------------------------------------------

    def _op_upload_file(
        self, stream: IO[bytes], size: int, display_name: str | None, mime_type: str
    ) -> Operation[FileInfo]:
        """One multipart POST; httpx streams the file object in chunks, so memory stays flat."""
        response = yield ApiRequest(
            "POST",
            "files",
            files={"file": (display_name or "batch-input.jsonl", stream, mime_type)},
            data={"purpose": "batch"},
            retry=True,  # httpx re-reads the file from the start; a repeat can only leave an unused file
        )
        return wire.parse_file(response.json())

    def _op_get_file(self, name: str) -> Operation[FileInfo]:
        response = yield ApiRequest("GET", f"files/{name}")
        return wire.parse_file(response.json())

    def _op_list_files(self, page_token: str | None) -> Operation[Page[FileInfo]]:
        response = yield ApiRequest("GET", "files", params=_cursor(page_token, limit=1000))
        return _page(response.json(), wire.parse_file)

    def _op_delete_file(self, name: str) -> Operation[None]:
        yield ApiRequest("DELETE", f"files/{name}")

    def _download_request(self, name: str) -> ApiRequest:
        return ApiRequest("GET", f"files/{name}/content")

    # --- batches --------------------------------------------------------------------------------------

    def _op_create_batch(
        self,
        model: str,
        *,
        file_name: str | None,
        requests: Iterable[Mapping[str, Any]] | None,
        display_name: str,
        idempotency_key: str | None,
        embeddings: bool,
        endpoint: str | None,
    ) -> Operation[BatchJob]:
        if file_name is None:
            raise self._unsupported("inline batch input (upload a file)")
        metadata = {"display_name": display_name[:512]}
        if idempotency_key:
            metadata[IDEMPOTENCY_METADATA_KEY] = idempotency_key
        response = yield ApiRequest(
            "POST",
            "batches",
            json={
                "input_file_id": file_name,
                "endpoint": endpoint or (wire.EMBEDDINGS_URL if embeddings else wire.CHAT_URL),
                "completion_window": self.settings.completion_window,
                "metadata": metadata,
            },
        )
        return wire.parse_batch(response.json())

    def _op_get_batch(self, name: str) -> Operation[BatchJob]:
        response = yield ApiRequest("GET", f"batches/{name}")
        return wire.parse_batch(response.json())

    def _op_list_batches(self, page_token: str | None) -> Operation[Page[BatchJob]]:
        response = yield ApiRequest("GET", "batches", params=_cursor(page_token, limit=100))
        return _page(response.json(), wire.parse_batch)

    def _op_cancel_batch(self, name: str) -> Operation[None]:
        """The batch then sits in ``cancelling`` (not terminal) until its partial output is final."""
        yield ApiRequest("POST", f"batches/{name}/cancel", retry=True)

    def iter_results(self, job: BatchJob) -> Iterator[ResultRow]:
        """Rows from the output file, then the error file (failed, expired and cancelled requests)."""
        for file_id in (job.output_file, job.error_file):
            if file_id:
                for _, line, _ in iter_json_objects(self.iter_file_lines(file_id), source=file_id):
                    yield wire.result_row(line)

    @classmethod
    def console_url(cls, job_name: str) -> str:
        return f"https://platform.openai.com/batches/{job_name}"

    def idempotency_key_of(self, job: BatchJob) -> str | None:
        return (job.raw.get("metadata") or {}).get(IDEMPOTENCY_METADATA_KEY)


def _cursor(token: str | None, *, limit: int) -> dict[str, str | int]:
    return {"limit": limit, **({"after": token} if token else {})}


def _page(body: Mapping[str, Any], parse: Any) -> Page[Any]:
    items = [parse(item) for item in body.get("data", [])]
    more = body.get("has_more") and items
    return Page(items, body["data"][-1]["id"] if more else None)
