"""A GenAI-compatible gateway (Bifrost and its forks, GenAI facade at ``/genai``) in front of any provider.

The gateway speaks the Gemini Files/Batch REST surface (``v1beta`` or ``v1``) and routes every call to the
provider named in its ``x-model-provider`` header. This hook is the Gemini hook with the differences the
gateway's documentation shows:

* the target travels in ``x-model-provider`` on every request;
* an uploaded file holds the target's own batch lines (Gemini and OpenAI targets); inline requests are
  Gemini requests for every target, which the gateway translates for OpenAI and Anthropic itself (what it
  would drop or cannot translate was refused while the input was validated: ``GatewayDialect.inline``);
* batches are ``batches/<id>`` and files ``files/<id>``; the id is percent-encoded as one path segment,
  and a bare id (an older reference) is taken as it is;
* an upload is one POST of the whole stream to the gateway's session URL (it has no chunked protocol);
* results come from the gateway's native routes at its root: result items for Gemini and Anthropic targets,
  the output and error files for OpenAI (its results route returns only the output file);
* a state the gateway does not document is an error where the job is waited on, never an endless wait;
* Bedrock cannot be reached through the facade (no ``role_arn`` / ``output_s3_uri``), nor embeddings.

The gateway keeps no display name, so a job cannot be found again by its idempotency key: a retried task
re-attaches through Airflow 3.3's task state store.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime, timezone
from typing import IO, Any, ClassVar, Literal, cast
from urllib.parse import quote, urlsplit

from pydantic import AliasChoices, ConfigDict, Field

from airflow_provider_genai_batch.errors import GenAIBatchError, InputValidationError
from airflow_provider_genai_batch.formats import gateway as wire
from airflow_provider_genai_batch.formats import gemini as gemini_wire
from airflow_provider_genai_batch.formats import openai as openai_wire
from airflow_provider_genai_batch.formats.anthropic import DEFAULT_MAX_TOKENS
from airflow_provider_genai_batch.formats.gateway import GatewayDialect
from airflow_provider_genai_batch.formats.results import (
    ResultRow,
    iter_result_rows,
    key_field,
    placed_by_order,
    read_result_item,
)
from airflow_provider_genai_batch.formats.validate import INLINE_SOURCE
from airflow_provider_genai_batch.hooks.base import ConnectionSettings
from airflow_provider_genai_batch.hooks.gemini import GeminiBatchHook, GeminiSettings, upload_session_url
from airflow_provider_genai_batch.hooks.http import ApiRequest, Operation, StreamSlice
from airflow_provider_genai_batch.hooks.openai import result_files
from airflow_provider_genai_batch.hooks.retry import TransientFailure
from airflow_provider_genai_batch.hooks.settings import OUTPUT_LIMIT_NAMES
from airflow_provider_genai_batch.idempotency import LOOKUP_CLOCK_SKEW, identity_in_file_name
from airflow_provider_genai_batch.models import BatchJob, FileInfo
from airflow_provider_genai_batch.spec import FileSource, InlineSource

DEFAULT_BASE_URL = "http://localhost:8080/genai"
FACADE_PREFIX = "/genai"
MODEL_PROVIDER_HEADER = "x-model-provider"

ModelProvider = Literal["gemini", "openai", "anthropic", "bedrock"]
MODEL_PROVIDER_NAMES = AliasChoices("model_provider", MODEL_PROVIDER_HEADER)
"""The extra names of the target: ours, and the header's own, which a gateway's users know it by. Read only as a
warned unknown extra, the header's name left the target at gemini, and the batch was made and billed there."""


class GatewaySettings(GeminiSettings):
    """A gateway connection: key, the facade's base URL (``.../genai``), API version, the target provider."""

    model_config = ConfigDict(validate_by_name=True)  # fields with alias choices are also set by their names

    form_omits: ClassVar[frozenset[str]] = frozenset({"upload_chunk_size"})  # one POST per upload

    api_version: Literal["v1beta", "v1"] = Field(
        default="v1beta", title="API version", description="REST version of the gateway's GenAI facade."
    )
    model_provider: ModelProvider = Field(
        default="gemini",
        validation_alias=MODEL_PROVIDER_NAMES,
        title="Model provider",
        description="The provider the gateway routes to (sent as the x-model-provider header).",
    )
    default_output_limit: int = Field(
        default=DEFAULT_MAX_TOKENS,
        ge=1,
        validation_alias=OUTPUT_LIMIT_NAMES,
        title="Default max_tokens",
        description="maxOutputTokens of a request for an Anthropic target that sets none (Anthropic requires one).",
    )

    @property
    def root_url(self) -> str:
        """The gateway's root, where its native ``/v1/...`` routes live: the base URL without ``/genai``."""
        url = self.base_url.rstrip("/")
        return url.removesuffix(FACADE_PREFIX)


class GatewayBatchHook(GeminiBatchHook):
    """Batches at any provider behind a GenAI gateway; the connection names the target provider."""

    default_conn_name = "genai_gateway_default"
    conn_type = "genaigateway"
    hook_name = "GenAI Batch: GenAI gateway"

    provider: ClassVar[str] = wire.PROVIDER
    settings_model: ClassVar[type[ConnectionSettings]] = GatewaySettings
    default_base_url: ClassVar[str] = DEFAULT_BASE_URL

    @property
    def target(self) -> str:
        """The provider the gateway routes this connection's calls to."""
        return cast(GatewaySettings, self.settings).model_provider

    def auth_headers(self, settings: GeminiSettings) -> dict[str, str]:
        target = cast(GatewaySettings, settings).model_provider
        return {**super().auth_headers(settings), MODEL_PROVIDER_HEADER: target}

    def build_dialect(self) -> GatewayDialect:
        """The target's dialect as the facade carries it; Bedrock batches cannot be made through it."""
        settings = cast(GatewaySettings, self.settings)
        return wire.target_dialect(settings.model_provider, default_max_tokens=settings.default_output_limit)

    # --- paths: batches/<id> and files/<id>, the id one percent-encoded segment ----------------------

    def _file_path(self, name: str) -> str:
        return f"{self._ver}/files/{_segment(wire.file_id(name))}"

    def _batch_path(self, name: str) -> str:
        return f"{self._ver}/batches/{_segment(wire.batch_id(name))}"

    def _native_url(self, path: str) -> str:
        return f"{cast(GatewaySettings, self.settings).root_url}/{path}"

    # --- files ------------------------------------------------------------------------------------------

    def _op_upload_file(
        self, stream: IO[bytes], size: int, display_name: str | None, mime_type: str
    ) -> Operation[FileInfo]:
        """Open a session, then POST the whole stream to it at once (streamed, never held in memory).

        The session lasts one minute and takes exactly one POST, so a failed upload starts over; a file larger than
        the gateway's request body (or the target's file) is refused before the session is opened. A POST whose
        answer is lost may have stored the file: where the name carries a job's identity
        (:func:`~airflow_provider_genai_batch.idempotency.tag_file_name`), the files made since the upload began are
        read for it (its name and size) before it starts over, so no unused copy is left stored.
        """
        if not self.capabilities.file_input:
            raise self._unsupported(f"file input for {self.target} batches (requests go inline)")
        self._check_upload_size(size, display_name)
        origin = stream.tell() if stream.seekable() else None
        since = datetime.now(timezone.utc) - LOOKUP_CLOCK_SKEW
        attempts = 0
        while True:
            upload_url = self._session_url(
                upload_session_url((yield self._upload_start(size, display_name, mime_type)))
            )
            body = StreamSlice(stream, size)
            try:
                response = yield ApiRequest(
                    "POST",
                    upload_url,
                    content=body,
                    headers={
                        "X-Goog-Upload-Command": "upload, finalize",
                        "X-Goog-Upload-Offset": "0",
                        "Content-Length": str(size),
                        MODEL_PROVIDER_HEADER: self.target,
                    },
                    authenticated=False,
                    resumable=True,
                )
            except TransientFailure as failure:
                attempts += 1
                if body.exhausted:
                    raise GenAIBatchError(f"the stream ended at byte {body.sent} of {size}") from None
                if display_name is not None and identity_in_file_name(display_name) is not None:
                    stored = yield from self._op_find_upload(display_name, since)
                    if stored is not None and self.stored_size(stored) == size:
                        self.log.warning(
                            "the upload's answer was lost (%s), but it stored %s: using it", failure, stored.name
                        )
                        return stored
                if origin is None or attempts > self.settings.max_retries:
                    raise GenAIBatchError(f"upload through the gateway failed: {failure}") from failure
                self.retries += 1
                self.log.warning("upload through the gateway failed (%s); starting over in a new session", failure)
                stream.seek(origin)
                continue
            break
        return gemini_wire.parse_file(response.json()["file"])

    def _session_url(self, given: str) -> str:
        """Where the bytes of an upload session go: a session on the facade's upload route (``.../upload/<version>/
        files?upload_id=...``) through this connection's own base URL, any other URL as given.

        The gateway builds the session URL from what it sees itself: ``http`` unless TLS ends at it (or a proxy says
        ``X-Forwarded-Proto: https``), and its own ``/genai`` without the path a reverse proxy serves it under. Taken
        as given, the input's bytes went over plain HTTP, or to a path the proxy does not serve.
        """
        parts = urlsplit(given)
        route = _UPLOAD_ROUTE.search(parts.path)
        if route is None or not parts.query:
            return given
        return f"{self.settings.base_url.rstrip('/')}{route.group(0)}?{parts.query}"

    def _download_request(self, name: str) -> ApiRequest:
        """A file's bytes through the gateway's native files route (the facade has no ``:download``).

        The gateway refuses to download a Gemini file: a Gemini target's results come from its results route.
        """
        if self.target == gemini_wire.PROVIDER:
            raise GenAIBatchError(
                f"the gateway does not download Gemini files ({name}); a Gemini target's results are read "
                "through the gateway's results route (iter_results)"
            )
        return ApiRequest(
            "GET", self._native_url(f"v1/files/{_segment(wire.file_id(name))}/content"), params=self._target_param
        )

    @property
    def _target_param(self) -> dict[str, str]:
        return {"provider": self.target}

    # --- batches ----------------------------------------------------------------------------------------

    def _input_config(self, source: FileSource | InlineSource) -> dict[str, Any]:
        """The uploaded file (``files/<id>``), or the inline Gemini requests in their envelope."""
        if isinstance(source, FileSource):
            return {"fileName": wire.file_name(source.file_name)}
        return {"requests": {"requests": list(_envelopes(source.requests))}}

    def _parse_operation(self, operation: Mapping[str, Any]) -> BatchJob:
        return wire.parse_operation(operation)

    def _op_get_batch(self, name: str) -> Operation[BatchJob]:
        """The batch, when its state is one the gateway documents (an unknown state is never waited on)."""
        job = yield from super()._op_get_batch(name)
        return wire.known_state(job)

    def _result_rows(self, job: BatchJob) -> Iterator[ResultRow]:
        """Every row of a finished job, read the way the gateway serves the target's results.

        OpenAI: the output file and the error file (failed rows are only there), each streamed line by line.
        Gemini and Anthropic: the gateway's result items; an inline Gemini response whose key the backend lost
        is placed by its order when there is one item per request the job counts. A line or item that cannot be
        read is a failed row. No result at all for a batch that counts successful requests is refused: every row
        would land missing, and be paid for again by a follow-up round.
        """
        if self.target == openai_wire.PROVIDER:
            for file_id in self.run(self._op_result_files(job.name)):
                yield from iter_result_rows(
                    self.iter_file_lines(file_id), file_id, self.dialect.result_row, key_field("custom_id")
                )
            return
        items = self.run(self._op_result_items(job.name))
        if not items and job.stats.succeeded:
            raise GenAIBatchError(
                f"the gateway returned no result for {job.name}, which counts {job.stats.succeeded} successful "
                "requests, so their answers cannot be read; nothing was landed. Land it again later (clear the "
                "task), or read the results at the target provider"
            )
        rows: Iterator[ResultRow] = (
            read_result_item(item, f"{job.name}, result item {number}", self.dialect.result_row, key_field("custom_id"))
            for number, item in enumerate(items, start=1)
        )
        if self.target == gemini_wire.PROVIDER and job.input_file is None:
            # inline responses come in request order: placed by it when there is one per request
            rows = placed_by_order(wire.without_stand_in_keys(rows), len(items), job.stats.total)
        yield from rows

    def _op_result_files(self, name: str) -> Operation[list[str]]:
        """``GET /v1/batches/{id}?provider=`` at the gateway root: the output and error file ids it names (refused
        when it counts completed requests but names no output file)."""
        response = yield ApiRequest(
            "GET", self._native_url(f"v1/batches/{_segment(wire.batch_id(name))}"), params=self._target_param
        )
        return result_files(openai_wire.parse_batch(response.json()))

    def _op_result_items(self, name: str) -> Operation[list[dict[str, Any]]]:
        """``GET /v1/batches/{id}/results?provider=`` at the gateway root: one JSON document of items; an error body
        sent with HTTP 200 is an unreadable answer naming it, never an empty result (every row would land missing)."""
        response = yield ApiRequest(
            "GET", self._native_url(f"v1/batches/{_segment(wire.batch_id(name))}/results"), params=self._target_param
        )
        body = response.json()
        if "results" not in body and body.get("error"):  # an error sent with HTTP 200 holds no results: not "none"
            raise LookupError(f"the answer is the gateway's error, not results: {body['error']}")
        if body.get("has_more"):
            raise GenAIBatchError(f"the gateway paginated the results of {name}, which this hook cannot follow")
        results = body.get("results") or []
        if not isinstance(results, list):  # a text or an object would be read as items one character or key each
            raise TypeError(f"'results' is a {type(results).__name__}, not a list of result items")
        return results

    @classmethod
    def console_url(cls, job_name: str) -> str:
        """A gateway has no console page per job."""
        return ""


def _envelopes(requests: Iterable[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
    """Each prepared line (``{"key", "request"}``) as an inline request. A line holding anything the gateway
    would drop (an input not prepared for it) fails with its line number rather than losing that silently."""
    for number, line in enumerate(requests, start=1):
        request = line.get("request")
        extra = [f"request.{name}" for name in request or {} if name not in wire.KEPT_FIELDS]
        extra += [name for name in line if name not in ("key", "request")]
        if extra or not isinstance(line.get("key"), str) or not isinstance(request, Mapping):
            raise InputValidationError(
                f"{extra[0] if extra else 'the line'} cannot go inline through the gateway: it takes "
                f"{{'key', 'request'}} lines whose request holds only {', '.join(wire.KEPT_FIELDS)}",
                source=INLINE_SOURCE,
                line=number,
            )
        yield {"request": request, "metadata": {"key": line["key"]}}


_UPLOAD_ROUTE = re.compile(r"/upload/v1(?:beta)?/files\Z")
"""The facade's upload route at the end of a session URL's path."""


def _segment(value: str) -> str:
    """One path segment: ``/`` and ``:`` of a Bedrock ARN are percent-encoded, not path syntax."""
    return quote(value, safe="")
