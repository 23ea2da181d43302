"""OpenAI Files + Batches, in REST over httpx: streamed multipart upload, cursor pages, two result files."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from typing import IO, Any, ClassVar, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, field_validator

from airflow_provider_genai_batch.errors import GenAIBatchError
from airflow_provider_genai_batch.formats import openai as wire
from airflow_provider_genai_batch.formats.dialect import Dialect
from airflow_provider_genai_batch.formats.results import ResultRow, iter_result_rows, key_field
from airflow_provider_genai_batch.hooks.base import BatchHook, ConnectionSettings
from airflow_provider_genai_batch.hooks.http import ApiRequest, Operation, Page, StreamWindow
from airflow_provider_genai_batch.hooks.retry import TransientFailure
from airflow_provider_genai_batch.idempotency import LOOKUP_CLOCK_SKEW, JobIdentity, identity_in_file_name
from airflow_provider_genai_batch.models import BatchJob, FileInfo
from airflow_provider_genai_batch.spec import BatchSpec, FileSource

DEFAULT_BASE_URL = "https://api.openai.com/v1"
FILE_PAGE = 1000
"""Files asked for in one page of the listing."""


class OpenAISettings(ConnectionSettings):
    """An OpenAI connection: key, optional organization and project, base URL, completion window."""

    organization: str | None = Field(default=None, title="Organization")
    project: str | None = Field(default=None, title="Project")
    completion_window: Literal["24h"] = Field(default="24h", title="Completion window")

    @field_validator("base_url")
    @classmethod
    def _versioned(cls, value: str) -> str:
        """The public API's host without a path (``https://api.openai.com``) is its ``/v1``: every path here is
        relative to the version, and the API serves nothing at its root."""
        parts = urlsplit(value)
        if parts.hostname == urlsplit(DEFAULT_BASE_URL).hostname and not parts.path.strip("/"):
            return urlunsplit((parts.scheme, parts.netloc, "/v1", parts.query, parts.fragment))
        return value


class OpenAIBatchHook(BatchHook[OpenAISettings]):
    """Files and batches on the OpenAI API (``Authorization: Bearer``); batches cannot be deleted there."""

    default_conn_name = "openai_batch_default"
    conn_type = "genaiopenai"
    hook_name = "GenAI Batch: OpenAI"

    provider: ClassVar[str] = wire.PROVIDER
    settings_model: ClassVar[type[ConnectionSettings]] = OpenAISettings
    default_base_url: ClassVar[str] = DEFAULT_BASE_URL
    lists_newest_first: ClassVar[bool] = True  # GET /v1/batches: newest first, cursor pages, no filter

    def auth_headers(self, settings: OpenAISettings) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {settings.api_key_value()}"}
        if settings.organization:
            headers["OpenAI-Organization"] = settings.organization
        if settings.project:
            headers["OpenAI-Project"] = settings.project
        return headers

    def build_dialect(self) -> Dialect:
        return wire.OpenAIDialect()

    def check_labels(self, labels: Mapping[str, str]) -> None:
        """Labels travel in the batch ``metadata``: reserved names, count and lengths are checked up front."""
        try:
            wire.batch_metadata("", None, None, labels)
        except ValueError as err:
            raise GenAIBatchError(str(err)) from None

    # --- files ----------------------------------------------------------------------------------------

    def _op_upload_file(
        self, stream: IO[bytes], size: int, display_name: str | None, mime_type: str
    ) -> Operation[FileInfo]:
        """One multipart POST; httpx streams the file object in chunks, so memory stays flat.

        The Batch API takes only ``.jsonl`` files of at most 200 MB, so any other name or a larger file is refused
        here, before any byte is sent. A POST whose answer is lost may have stored the file: where the name carries a
        job's identity (:func:`~airflow_provider_genai_batch.idempotency.tag_file_name`), the batch files made since
        the upload began are read for it (its name and size) before it is sent again, so no unused copy is left
        stored; any other name is simply sent again.
        """
        filename = display_name or "batch-input.jsonl"
        if not filename.endswith(".jsonl"):
            raise GenAIBatchError(
                f"openai batch input files must have a .jsonl name (the Batch API refuses others), got {filename!r}"
            )
        self._check_upload_size(size, filename)
        window = StreamWindow(stream, size)
        findable = window.seekable() and identity_in_file_name(filename) is not None
        since = datetime.now(timezone.utc) - LOOKUP_CLOCK_SKEW
        resends = 0
        while True:
            try:
                response = yield ApiRequest(
                    "POST",
                    "files",
                    files={"file": (filename, window, mime_type)},
                    data={"purpose": "batch"},
                    retry=window.seekable(),  # httpx reads the window again from its start
                    resumable=findable,
                )
            except TransientFailure as failure:
                stored = yield from self._op_find_upload(filename, since)
                if stored is not None and stored.size_bytes == size:
                    self.log.warning(
                        "the upload's answer was lost (%s), but it stored %s: using it", failure, stored.name
                    )
                    return stored
                resends += 1
                if resends > self.settings.max_retries:
                    raise GenAIBatchError(f"upload of {filename} failed: {failure}") from failure
                self.retries += 1
                self.log.warning("upload of %s failed (%s) and stored no file; sending it again", filename, failure)
                continue
            return wire.parse_file(response.json())

    def _op_find_upload(self, name: str, not_before: datetime | None) -> Operation[FileInfo | None]:
        """The newest ``batch`` file named ``name``: the listing of that purpose is read newest first, down to the
        first file created before ``not_before``."""
        token: str | None = None
        while True:
            params = {**_cursor(token, limit=FILE_PAGE), "purpose": "batch", "order": "desc"}
            response = yield ApiRequest("GET", "files", params=params)
            page: Page[FileInfo] = _page(response.json(), wire.parse_file)
            for info in page.items:
                if not_before is not None and info.create_time is not None and info.create_time < not_before:
                    return None
                if info.display_name == name:
                    return info
            if page.next_token is None:
                return None
            token = page.next_token

    def _op_get_file(self, name: str) -> Operation[FileInfo]:
        response = yield ApiRequest("GET", f"files/{name}")
        return wire.parse_file(response.json())

    def _op_list_files(self, page_token: str | None) -> Operation[Page[FileInfo]]:
        response = yield ApiRequest("GET", "files", params=_cursor(page_token, limit=FILE_PAGE))
        return _page(response.json(), wire.parse_file)

    def _op_delete_file(self, name: str) -> Operation[None]:
        yield ApiRequest("DELETE", f"files/{name}")

    def _download_request(self, name: str) -> ApiRequest:
        return ApiRequest("GET", f"files/{name}/content")

    # --- batches --------------------------------------------------------------------------------------

    def _op_create_batch(self, spec: BatchSpec) -> Operation[BatchJob]:
        """Key, fingerprint and the user's labels travel in ``metadata``, where a lookup reads them back."""
        assert isinstance(spec.source, FileSource)  # the dialect allows file input only
        try:
            metadata = wire.batch_metadata(spec.display_name, spec.idempotency_key, spec.input_fingerprint, spec.labels)
        except ValueError as err:
            raise GenAIBatchError(str(err)) from None
        response = yield ApiRequest(
            "POST",
            "batches",
            json={
                "input_file_id": spec.source.file_name,
                "endpoint": spec.endpoint or (wire.EMBEDDINGS_URL if spec.embeddings else wire.CHAT_URL),
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

    def _result_rows(self, job: BatchJob) -> Iterator[ResultRow]:
        """Rows from the output file, then the error file (failed, expired and cancelled requests).

        A line that cannot be read is a failed row, never the end of the stream. A batch that counts completed
        requests but names no output file is refused: its answers were paid for, and rows landed missing (or
        expired, or cancelled) would be sent again by a follow-up round.
        """
        for file_id in result_files(job):
            yield from iter_result_rows(
                self.iter_file_lines(file_id), file_id, self.dialect.result_row, key_field("custom_id")
            )

    @classmethod
    def console_url(cls, job_name: str) -> str:
        return f"https://platform.openai.com/batches/{job_name}"

    def identity_of(self, job: BatchJob) -> JobIdentity | None:
        """The ``idempotency_key`` and ``input_fingerprint`` metadata values, exactly as stored."""
        metadata = job.raw.get("metadata")
        if not isinstance(metadata, Mapping):
            return None
        key, fingerprint = metadata.get(wire.IDEMPOTENCY_METADATA_KEY), metadata.get(wire.FINGERPRINT_METADATA_KEY)
        if not isinstance(key, str):
            return None
        return JobIdentity(key, fingerprint if isinstance(fingerprint, str) else None)


def result_files(job: BatchJob) -> list[str]:
    """The ids of a batch's output file and error file, those it names; GenAIBatchError for a batch that counts
    completed requests but names no output file (their answers cannot be read, and were paid for)."""
    if job.stats.succeeded and not job.output_file:
        raise GenAIBatchError(
            f"batch {job.name} ({job.provider_state}) counts {job.stats.succeeded} completed requests but names "
            "no output file (output_file_id is null), so their answers cannot be read; nothing was landed. "
            "Land it again later (clear the task) once the batch names its output file"
        )
    return [file_id for file_id in (job.output_file, job.error_file) if file_id]


def _cursor(token: str | None, *, limit: int) -> dict[str, str | int]:
    return {"limit": limit, **({"after": token} if token else {})}


def _page(body: Mapping[str, Any], parse: Any) -> Page[Any]:
    items = [parse(item) for item in body.get("data", [])]
    more = body.get("has_more") and items
    return Page(items, body["data"][-1]["id"] if more else None)
