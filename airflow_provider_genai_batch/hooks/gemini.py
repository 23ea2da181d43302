"""Gemini Developer API Files + Batch, in REST over httpx (no SDK), with a pinned API version."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import IO, Any, ClassVar, Literal

import httpx
from pydantic import Field, model_validator

from airflow_provider_genai_batch.errors import GenAIBatchError, ProviderAPIError
from airflow_provider_genai_batch.formats import gemini as wire
from airflow_provider_genai_batch.formats.dialect import Dialect
from airflow_provider_genai_batch.formats.results import (
    ResultRow,
    iter_result_rows,
    key_field,
    placed_by_order,
    read_result_item,
)
from airflow_provider_genai_batch.hooks.base import BatchHook, ConnectionSettings
from airflow_provider_genai_batch.hooks.http import (
    SESSION_GONE,
    ApiRequest,
    Operation,
    Page,
    Resumes,
    SessionGone,
    StreamSlice,
)
from airflow_provider_genai_batch.hooks.retry import TransientFailure
from airflow_provider_genai_batch.hooks.settings import without_version
from airflow_provider_genai_batch.idempotency import JobIdentity, identity_in_display_name, tag_display_name
from airflow_provider_genai_batch.models import BatchJob, FileInfo
from airflow_provider_genai_batch.spec import BatchSpec, FileSource, InlineSource

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
GRANULARITY_HEADER = "x-goog-upload-chunk-granularity"


class GeminiSettings(ConnectionSettings):
    """A Gemini API connection: key, base URL, pinned API version and preferred upload chunk size."""

    api_version: Literal["v1beta", "v1"] = Field(
        default="v1beta", title="API version", description="Pinned REST API version of the Gemini API."
    )
    upload_chunk_size: int = Field(
        default=8 * 1024 * 1024,
        ge=1,
        title="Upload chunk size (bytes)",
        description=(
            "Preferred size of one resumable-upload chunk. Every chunk but the last is a multiple of the "
            "granularity the upload server announces (8 MiB at Google): this size rounded down to one, "
            "and never less than one granule."
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _version_off_host(cls, data: Any) -> Any:
        return without_version(data, ("v1beta", "v1"), "api_version")


class GeminiBatchHook(BatchHook[GeminiSettings]):
    """Files and batch jobs on the Gemini Developer API (key sent as ``x-goog-api-key``, never in a URL)."""

    conn_name_attr = "conn_id"
    default_conn_name = "gemini_batch_default"
    conn_type = "genaigemini"
    hook_name = "GenAI Batch: Gemini API"

    provider: ClassVar[str] = wire.PROVIDER
    settings_model: ClassVar[type[ConnectionSettings]] = GeminiSettings
    default_base_url: ClassVar[str] = DEFAULT_BASE_URL
    lists_newest_first: ClassVar[bool] = True
    """batches.list has no filter here (google-genai refuses ``filter`` outside Vertex); its first page is the
    recent jobs, as Google's batch guide lists them, and a look-up checks that order as it reads."""

    def build_dialect(self) -> Dialect:
        return wire.GeminiDialect()

    def auth_headers(self, settings: GeminiSettings) -> dict[str, str]:
        return {"x-goog-api-key": settings.api_key_value()}

    @property
    def _ver(self) -> str:
        return self.settings.api_version

    # --- files ----------------------------------------------------------------------------------------

    def _op_upload_file(
        self, stream: IO[bytes], size: int, display_name: str | None, mime_type: str
    ) -> Operation[FileInfo]:
        """The resumable protocol: start, then ``upload`` chunks and a final ``upload, finalize``.

        Every chunk but the last is a multiple of the granularity the start response announces, as the
        server refuses any other size. A chunk lost to a transient fault, or answered without the upload
        server's ``X-Goog-Upload-Status`` (``active`` for a chunk, ``final`` and the file for the last; the
        google-genai SDK sends such a chunk again), is not simply re-sent: the session is asked for the offset
        it committed (``X-Goog-Upload-Command: query``) and the upload resumes there, or ends with the file
        the session made; ``max_retries`` bounds the resumes since the session last committed more bytes, so a
        long upload through many faults still ends. A session the server no longer knows (404 or 410: it expired)
        holds nothing that can be finished, so the upload starts over from the first byte in a new one, at most
        ``max_retries`` times.
        """
        origin = stream.tell() if stream.seekable() else None
        restarts = 0
        while True:
            start = yield self._upload_start(size, display_name, mime_type)
            chunk_size = aligned_chunk_size(self.settings.upload_chunk_size, chunk_granularity(start))
            session = upload_session_url(start)
            try:
                return (yield from self._send_chunks(session, chunk_size, stream, origin, size))
            except SessionGone as gone:
                restarts += 1
                self.retries += 1
                if origin is None or restarts > self.settings.max_retries:
                    raise GenAIBatchError(
                        f"upload failed: its session ended (HTTP {gone.status}) after {gone.offset} of {size} bytes"
                    ) from None
                stream.seek(origin)
                self.log.warning("the upload session ended (HTTP %s); starting over in a new one", gone.status)

    def _send_chunks(
        self, upload_url: str, chunk_size: int, stream: IO[bytes], origin: int | None, size: int
    ) -> Operation[FileInfo]:
        """Send the stream into an open session from its first byte; SessionGone when the session is no longer
        known."""
        offset, resumes = 0, Resumes(self.settings.max_retries)
        while True:
            chunk = StreamSlice(stream, min(chunk_size, size - offset))
            last = offset + chunk.length >= size
            try:
                try:
                    response = yield ApiRequest(
                        "POST",
                        upload_url,
                        content=chunk,
                        headers={
                            "Content-Length": str(chunk.length),
                            "X-Goog-Upload-Command": "upload, finalize" if last else "upload",
                            "X-Goog-Upload-Offset": str(offset),
                        },
                        authenticated=False,
                        resumable=True,
                    )
                except TransientFailure as failure:
                    if chunk.exhausted:
                        raise GenAIBatchError(f"the stream ended at byte {offset + chunk.sent} of {size}") from None
                    problem: Exception = failure
                else:
                    answered = _chunk_answer(response, last)
                    if isinstance(answered, FileInfo):
                        return answered
                    if answered is None:
                        offset += chunk.length
                        continue
                    problem = answered
                self.retries += 1
                if not resumes.another(offset):
                    raise GenAIBatchError(f"upload failed at byte {offset} of {size}: {problem}") from problem
                status = yield ApiRequest(
                    "POST", upload_url, headers={"X-Goog-Upload-Command": "query"}, authenticated=False, retry=True
                )
            except ProviderAPIError as err:
                if err.http_status in SESSION_GONE:
                    raise SessionGone(err.http_status, offset) from err
                raise
            if status.headers.get("x-goog-upload-status") == "final":
                return wire.parse_file(status.json()["file"])
            sent_to, offset = offset + chunk.sent, int(status.headers["x-goog-upload-size-received"])
            if offset > sent_to:
                raise GenAIBatchError(
                    f"the upload session holds {offset} bytes, but only {sent_to} of {size} were sent"
                )
            if offset != sent_to:
                if origin is None:
                    raise GenAIBatchError(
                        f"upload failed at byte {offset} of {size}: {problem} (the stream cannot go back)"
                    ) from problem
                stream.seek(origin + offset)
            self.log.info("resuming upload at committed byte %d of %d after %s", offset, size, problem)

    def stored_size(self, info: FileInfo) -> int:
        """A file's ``sizeBytes``: proto3 JSON leaves a zero int64 out, so a file that names none holds 0 bytes."""
        return info.size_bytes or 0

    def _upload_start(self, size: int, display_name: str | None, mime_type: str) -> ApiRequest:
        """The request that opens a resumable upload session (its URL comes back in a header).

        A display name longer than the Files API takes is cut to that length (it only describes the file).
        """
        if display_name and len(display_name) > wire.FILE_DISPLAY_NAME_MAX:
            cut = display_name[: wire.FILE_DISPLAY_NAME_MAX]
            self.log.warning("file display name %r cut to %r, the most a file's display name holds", display_name, cut)
            display_name = cut
        return ApiRequest(
            "POST",
            f"upload/{self._ver}/files",
            json={"file": {"displayName": display_name} if display_name else {}},
            headers={
                "X-Goog-Upload-Protocol": "resumable",
                "X-Goog-Upload-Command": "start",
                "X-Goog-Upload-Header-Content-Length": str(size),
                "X-Goog-Upload-Header-Content-Type": mime_type,
            },
            retry=True,  # only opens an upload session: nothing is stored or billed until finalize
        )

    def _file_path(self, name: str) -> str:
        """The REST path of a file resource."""
        return f"{self._ver}/{_file_name(name)}"

    def _op_get_file(self, name: str) -> Operation[FileInfo]:
        response = yield ApiRequest("GET", self._file_path(name))
        return wire.parse_file(response.json())

    def _op_list_files(self, page_token: str | None) -> Operation[Page[FileInfo]]:
        response = yield ApiRequest("GET", f"{self._ver}/files", params=_page_params(page_token))
        body = response.json()
        return Page([wire.parse_file(f) for f in body.get("files", [])], body.get("nextPageToken"))

    def _op_delete_file(self, name: str) -> Operation[None]:
        yield ApiRequest("DELETE", self._file_path(name))

    def _download_request(self, name: str) -> ApiRequest:
        """Result files (``files/batch-...``) can only be read through ``:download``, not a plain GET."""
        return ApiRequest("GET", f"{self._file_path(name)}:download", params={"alt": "media"})

    # --- batches --------------------------------------------------------------------------------------

    def _op_create_batch(self, spec: BatchSpec) -> Operation[BatchJob]:
        """``batchGenerateContent`` or ``asyncBatchEmbedContent``; key and fingerprint end the display name."""
        batch = {"displayName": self._display_name(spec), "inputConfig": self._input_config(spec.source)}
        method = "asyncBatchEmbedContent" if spec.embeddings else "batchGenerateContent"
        response = yield ApiRequest("POST", f"{self._ver}/{_model_name(spec.model)}:{method}", json={"batch": batch})
        return self._parse_operation(response.json())

    def _display_name(self, spec: BatchSpec) -> str:
        """The display name, ending in `` [<key>/<fingerprint start>]`` when the spec has a key.

        The Gemini batch keeps no labels or metadata, so the display name is the only place for them.
        """
        key = spec.idempotency_key
        if key is None:
            return spec.display_name
        try:
            tagged = tag_display_name(spec.display_name, key, spec.input_fingerprint)
        except ValueError as err:
            raise GenAIBatchError(str(err)) from None
        if not tagged.startswith(spec.display_name):
            self.log.warning("display name %r cut to %r to carry the key", spec.display_name, tagged)
        return tagged

    def _input_config(self, source: FileSource | InlineSource) -> dict[str, Any]:
        """The batch's ``inputConfig``: an uploaded file, or the inline requests in their envelope."""
        if isinstance(source, FileSource):
            return {"fileName": _file_name(source.file_name)}
        return {"requests": {"requests": [wire.inline_request(line) for line in source.requests]}}

    def _parse_operation(self, operation: Mapping[str, Any]) -> BatchJob:
        """A batch Operation as a BatchJob."""
        return wire.parse_operation(operation)

    def _batch_path(self, name: str) -> str:
        """The REST path of a batch (``batches/<id>``), relative to the base URL."""
        return f"{self._ver}/{_batch_name(name)}"

    def _op_get_batch(self, name: str) -> Operation[BatchJob]:
        response = yield ApiRequest("GET", self._batch_path(name))
        return self._parse_operation(response.json())

    def _op_list_batches(self, page_token: str | None) -> Operation[Page[BatchJob]]:
        response = yield ApiRequest("GET", f"{self._ver}/batches", params=_page_params(page_token))
        body = response.json()
        return Page([self._parse_operation(op) for op in body.get("operations", [])], body.get("nextPageToken"))

    def _op_cancel_batch(self, name: str) -> Operation[None]:
        yield ApiRequest("POST", f"{self._batch_path(name)}:cancel", retry=True)

    def _op_delete_batch(self, name: str) -> Operation[None]:
        """Delete does not cancel a running job at Gemini: cancel first."""
        yield ApiRequest("DELETE", self._batch_path(name))

    def _result_rows(self, job: BatchJob) -> Iterator[ResultRow]:
        """Rows of the responses file, or of the inline responses; a line that cannot be read is a failed row.

        Inline responses come in request order, so one whose ``metadata.key`` is missing is placed by its
        index when there is one response per request the job counts (see :func:`placed_by_order`).
        """
        key_of = key_field("key", "metadata.key")
        if job.output_file:
            yield from iter_result_rows(
                self.iter_file_lines(job.output_file), job.output_file, self.dialect.result_row, key_of
            )
        elif job.has_inline_output:
            responses = wire.inline_responses(job.raw)
            yield from placed_by_order(
                (
                    read_result_item(item, f"{job.name}, inline response {number}", self.dialect.result_row, key_of)
                    for number, item in enumerate(responses, start=1)
                ),
                len(responses),
                job.stats.total,
            )

    @classmethod
    def console_url(cls, job_name: str) -> str:
        """AI Studio lists a project's batch jobs; it has no documented per-job page."""
        return "https://aistudio.google.com/batches"

    def identity_of(self, job: BatchJob) -> JobIdentity | None:
        """Read only from the suffix at the very end of the display name, never from a key elsewhere in it."""
        return identity_in_display_name(job.display_name)


def upload_session_url(start: httpx.Response) -> str:
    """The session URL a resumable-upload start answered with."""
    upload_url: str | None = start.headers.get("x-goog-upload-url")
    if not upload_url:
        raise GenAIBatchError("the upload start response carried no x-goog-upload-url header")
    return upload_url


def _chunk_answer(response: httpx.Response, last: bool) -> FileInfo | GenAIBatchError | None:
    """What a chunk's success answer says: the file a last chunk made, None for a chunk the session took, or the
    problem with an answer that is not the upload server's (no ``X-Goog-Upload-Status``, or a last chunk's
    without its file), after which the session is asked where it stands."""
    status = response.headers.get("x-goog-upload-status")
    if last and status == "final":
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("file"), dict):
            return wire.parse_file(body["file"])
        return GenAIBatchError("the last chunk was answered 'final' without the file")
    if not last and status == "active":
        return None
    return GenAIBatchError(f"a chunk was answered HTTP {response.status_code} with X-Goog-Upload-Status {status!r}")


def chunk_granularity(start: httpx.Response) -> int | None:
    """The chunk granularity a resumable-upload start announced, or None when it announced none."""
    raw: str | None = start.headers.get(GRANULARITY_HEADER)
    if raw is None:
        return None
    if not raw.strip().isdigit() or int(raw) == 0:
        raise GenAIBatchError(f"the upload start response announced an invalid {GRANULARITY_HEADER}: {raw!r}")
    return int(raw)


def aligned_chunk_size(preferred: int, granularity: int | None) -> int:
    """The preferred chunk size rounded down to a multiple of ``granularity``, and at least one granule."""
    if granularity is None:
        return preferred
    return max(granularity, preferred - preferred % granularity)


def _page_params(token: str | None) -> dict[str, str | int]:
    return {"pageSize": 100, **({"pageToken": token} if token else {})}


def _file_name(name: str) -> str:
    return name if name.startswith("files/") else f"files/{name}"


def _batch_name(name: str) -> str:
    return name if name.startswith("batches/") else f"batches/{name}"


def _model_name(model: str) -> str:
    return model if model.startswith(("models/", "tunedModels/")) else f"models/{model}"
