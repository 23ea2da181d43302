"""Anthropic Message Batches, in REST over httpx: inline requests only, results streamed from results_url."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit

import httpx
import msgspec
from pydantic import ConfigDict, Field, model_validator

from airflow_provider_genai_batch.errors import GenAIBatchError
from airflow_provider_genai_batch.formats import anthropic as wire
from airflow_provider_genai_batch.formats.dialect import Dialect
from airflow_provider_genai_batch.formats.results import ResultRow, iter_result_rows, key_field
from airflow_provider_genai_batch.hooks.base import BatchHook, ConnectionSettings
from airflow_provider_genai_batch.hooks.http import ApiRequest, Operation, Page, origin_of
from airflow_provider_genai_batch.hooks.settings import OUTPUT_LIMIT_NAMES, without_version
from airflow_provider_genai_batch.idempotency import JobIdentity
from airflow_provider_genai_batch.models import BatchJob
from airflow_provider_genai_batch.spec import BatchSpec, InlineSource

DEFAULT_BASE_URL = "https://api.anthropic.com"
RESULTS_PATH = "v1/messages/batches/{}/results"
"""The results of a batch, below the API's base URL (the path its ``results_url`` names)."""
_encode = msgspec.json.Encoder().encode


class AnthropicSettings(ConnectionSettings):
    """An Anthropic connection: key, pinned ``anthropic-version``, and the max_tokens used when a line has none."""

    model_config = ConfigDict(validate_by_name=True)  # fields with alias choices are also set by their names

    anthropic_version: str = Field(
        default=wire.PINNED_VERSION,
        title="anthropic-version",
        description="Pinned API version header. 2026-10-21 rejects sampling parameters in batches.",
    )
    default_output_limit: int = Field(
        default=wire.DEFAULT_MAX_TOKENS,
        ge=1,
        validation_alias=OUTPUT_LIMIT_NAMES,
        title="Default max_tokens",
        description="max_tokens for requests that set no maxOutputTokens (Anthropic requires one).",
    )

    @model_validator(mode="before")
    @classmethod
    def _version_off_host(cls, data: Any) -> Any:
        return without_version(data, ("v1",))


class AnthropicBatchHook(BatchHook[AnthropicSettings]):
    """Message batches on the Anthropic API (``x-api-key``, pinned version); there is no file input.

    Message batches carry no metadata, so a job cannot be found again by its idempotency key: retries
    re-attach through Airflow 3.3's task state store.
    """

    default_conn_name = "anthropic_batch_default"
    conn_type = "genaianthropic"
    hook_name = "GenAI Batch: Anthropic"

    provider: ClassVar[str] = wire.PROVIDER
    settings_model: ClassVar[type[ConnectionSettings]] = AnthropicSettings
    default_base_url: ClassVar[str] = DEFAULT_BASE_URL
    lists_newest_first: ClassVar[bool] = True  # GET /v1/messages/batches: most recently created first

    def auth_headers(self, settings: AnthropicSettings) -> dict[str, str]:
        return {"x-api-key": settings.api_key_value(), "anthropic-version": settings.anthropic_version}

    def build_dialect(self) -> Dialect:
        settings = self.settings
        return wire.AnthropicDialect(
            anthropic_version=settings.anthropic_version, default_max_tokens=settings.default_output_limit
        )

    def _download_request(self, name: str) -> ApiRequest:
        """``name`` is the batch's ``results_url``; the key goes only to the connection's own origin
        (scheme, host and port), never to another port or scheme of the same host."""
        parts = urlsplit(name)
        if (parts.scheme or parts.netloc) and not _same_origin(name, self.settings.base_url):
            raise GenAIBatchError(
                f"results_url {name!r} is not on the connection's origin {self.settings.base_url!r}; "
                "the key is not sent there"
            )
        return ApiRequest("GET", name)

    def _op_create_batch(self, spec: BatchSpec) -> Operation[BatchJob]:
        """The requests stream out as the body; the job carries no name, key or metadata."""
        assert isinstance(spec.source, InlineSource)  # the dialect allows inline input only
        response = yield ApiRequest(
            "POST",
            "v1/messages/batches",
            content=RequestsBody(spec.source.requests),
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

    def _result_rows(self, job: BatchJob) -> Iterator[ResultRow]:
        """Rows of the results stream; a line that cannot be read is a failed row, never the end of the stream.

        Lines are located in the ``results_url`` the API gave, wherever they were read from (:func:`results_location`).
        """
        if job.output_file:
            location = results_location(job.output_file, job.name, self.settings.base_url)
            yield from iter_result_rows(
                self.iter_file_lines(location), job.output_file, self.dialect.result_row, key_field("custom_id")
            )

    @classmethod
    def console_url(cls, job_name: str) -> str:
        return f"https://console.anthropic.com/workspaces/default/batches/{job_name}"

    def identity_of(self, job: BatchJob) -> JobIdentity | None:
        """Message batches carry no name or metadata: nothing to read an identity from."""
        return None


BATCH_ID = re.compile(r"[A-Za-z0-9_-]+")
"""A batch id that is one plain path segment (``msgbatch_...``)."""


def results_location(results_url: str, batch_id: str, base_url: str) -> str:
    """Where the results of batch ``batch_id`` are read: its ``results_url``, or that same path on the connection
    when the connection points elsewhere than the public API (a gateway in front of it) and ``results_url`` is
    exactly the public API's results path of this batch, which the API gives whatever route the call came by.

    Nothing else is rewritten: another batch's results, another path, a query, a fragment or user info, another
    scheme or port, stay as given, and :meth:`AnthropicBatchHook._download_request` refuses what is not on the
    connection's origin, so the key never goes to another host.
    """
    parts = urlsplit(results_url)
    if (
        not _same_origin(results_url, DEFAULT_BASE_URL)
        or _same_origin(base_url, DEFAULT_BASE_URL)
        or not BATCH_ID.fullmatch(batch_id)
        or parts.path != f"/{RESULTS_PATH.format(batch_id)}"
        or parts.query
        or parts.fragment
        or "@" in parts.netloc
    ):
        return results_url
    return RESULTS_PATH.format(batch_id)


def _same_origin(url: str, base_url: str) -> bool:
    try:
        return origin_of(url) == origin_of(base_url)
    except httpx.InvalidURL:
        return False


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
