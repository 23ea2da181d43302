"""Anthropic Message Batches, in REST over httpx: inline requests only, results streamed from results_url."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit

import msgspec

from airflow_provider_genai_batch.errors import GenAIBatchError
from airflow_provider_genai_batch.formats import anthropic as wire
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
from airflow_provider_genai_batch.models import BatchJob

DEFAULT_BASE_URL = "https://api.anthropic.com"
PINNED_VERSION = "2023-06-01"
SAMPLING_REJECTED_FROM = "2026-10-21"
SAMPLING_PARAMS = frozenset({"temperature", "top_p", "top_k"})
_encode = msgspec.json.Encoder().encode


class AnthropicSettings(ConnectionSettings):
    """An Anthropic connection: key, pinned ``anthropic-version``, and the max_tokens used when a line has none."""

    anthropic_version: str = PINNED_VERSION
    default_max_tokens: int = wire.DEFAULT_MAX_TOKENS


class AnthropicBatchHook(BatchHook[AnthropicSettings]):
    """Message batches on the Anthropic API (``x-api-key``, pinned version); there is no file input.

    Message batches carry no metadata, so a job cannot be found again by its idempotency key: retries
    re-attach through Airflow 3.3's task state store.
    """

    default_conn_name = "anthropic_batch_default"
    conn_type = "genai_anthropic"
    hook_name = "GenAI Batch: Anthropic"

    provider: ClassVar[str] = wire.PROVIDER
    settings_model: ClassVar[type[ConnectionSettings]] = AnthropicSettings
    default_base_url: ClassVar[str] = DEFAULT_BASE_URL
    native_format: ClassVar[InputFormat] = InputFormat.ANTHROPIC
    limits: ClassVar[ProviderLimits] = ProviderLimits(max_requests=100_000, max_inline_bytes=256_000_000)
    capabilities: ClassVar[ProviderCapabilities] = ProviderCapabilities(
        file_input=False, inline_input=True, embeddings=False, find_by_key=False
    )

    def auth_headers(self, settings: AnthropicSettings) -> dict[str, str]:
        return {"x-api-key": settings.api_key_value(), "anthropic-version": settings.anthropic_version}

    def to_native(self, line: Mapping[str, Any], *, model: str, embeddings: bool) -> dict[str, Any]:
        if embeddings:
            raise ValueError(wire.EMBEDDINGS_UNSUPPORTED)
        params = wire.from_gemini(line, model=model, max_tokens=self.settings.default_max_tokens)
        self._check_version_allows(params["params"])
        return params

    def check_native(self, line: Mapping[str, Any], *, model: str) -> str | None:
        wire.check_native(line)
        self._check_version_allows(line["params"])
        return None

    def _check_version_allows(self, params: Mapping[str, Any]) -> None:
        """API version 2026-10-21 and later reject sampling parameters inside a batch: say so up front."""
        if self.settings.anthropic_version >= SAMPLING_REJECTED_FROM:
            sampling = sorted(SAMPLING_PARAMS & params.keys())
            if sampling:
                raise ValueError(
                    f"anthropic-version {self.settings.anthropic_version} rejects {', '.join(sampling)} in batch "
                    f"requests; remove them or pin {PINNED_VERSION}"
                )

    provider_key = staticmethod(portable_id)

    def _download_request(self, name: str) -> ApiRequest:
        """``name`` is the batch's ``results_url``; the key goes only to the connection's own host."""
        if urlsplit(name).netloc and urlsplit(name).netloc != urlsplit(self.settings.base_url).netloc:
            raise GenAIBatchError(f"results_url {name!r} is not on the connection's host; the key is not sent there")
        return ApiRequest("GET", name)

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
        if requests is None:
            raise self._unsupported("file batch input (requests go inline)")
        response = yield ApiRequest(
            "POST",
            "v1/messages/batches",
            content=RequestsBody(requests),
            headers={"content-type": "application/json"},
        )
        return wire.parse_batch(response.json())

    def _op_get_batch(self, name: str) -> Operation[BatchJob]:
        response = yield ApiRequest("GET", f"v1/messages/batches/{name}")
        return wire.parse_batch(response.json())

    def _op_list_batches(self, page_token: str | None) -> Operation[Page[BatchJob]]:
        params: dict[str, str | int] = {"limit": 100, **({"after_id": page_token} if page_token else {})}
        response = yield ApiRequest("GET", "v1/messages/batches", params=params)
        body = response.json()
        items = [wire.parse_batch(item) for item in body.get("data", [])]
        return Page(items, body.get("last_id") if body.get("has_more") else None)

    def _op_cancel_batch(self, name: str) -> Operation[None]:
        yield ApiRequest("POST", f"v1/messages/batches/{name}/cancel", retry=True)

    def _op_delete_batch(self, name: str) -> Operation[None]:
        """Only an ended batch can be deleted: cancel first."""
        yield ApiRequest("DELETE", f"v1/messages/batches/{name}")

    def iter_results(self, job: BatchJob) -> Iterator[ResultRow]:
        if job.output_file:
            for _, line, _ in iter_json_objects(self.iter_file_lines(job.output_file), source=job.output_file):
                yield wire.result_row(line)

    @classmethod
    def console_url(cls, job_name: str) -> str:
        return f"https://console.anthropic.com/workspaces/default/batches/{job_name}"

    def idempotency_key_of(self, job: BatchJob) -> str | None:
        return None


class RequestsBody:
    """``{"requests": [...]}`` encoded line by line as it is sent: up to 256 MB, never held whole.

    Iterable again from the start, so a retried send (after a 429) sends the whole body again.
    """

    def __init__(self, requests: Iterable[Mapping[str, Any]]) -> None:
        self.requests = requests

    def __iter__(self) -> Iterator[bytes]:
        yield b'{"requests":['
        for index, request in enumerate(self.requests):
            yield (b"," if index else b"") + _encode(request)
        yield b"]}"
