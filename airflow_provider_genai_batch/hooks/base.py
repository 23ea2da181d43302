"""The provider-neutral batch hook: one interface, in a sync and an async flavour, for every provider.

A provider hook supplies its connection settings, auth headers and one *operation* per call (see
:mod:`.http`); this base class drives those operations over pooled httpx clients, walks pages, maps
errors and keeps secrets out of everything it raises. Operators talk only to this interface.
"""

from __future__ import annotations

import hashlib
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import IO, Any, ClassVar, Generic, TypeVar, cast

import httpx
from airflow.sdk import BaseHook
from pydantic import BaseModel, ConfigDict, Field, SecretBytes, SecretStr, ValidationError, field_validator

from airflow_provider_genai_batch.errors import GenAIBatchError, ProviderAPIError
from airflow_provider_genai_batch.formats.dialect import Dialect, ProviderCapabilities
from airflow_provider_genai_batch.formats.results import ResultRow
from airflow_provider_genai_batch.hooks.http import (
    ASYNC_CLIENTS,
    ApiRequest,
    ForeignHostGuard,
    Operation,
    Page,
    PooledAsyncClient,
    Redactor,
    Resumes,
    Transport,
    environment_proxy_mounts,
    error_from_response,
    iter_byte_lines,
    pooled_transport,
    run_async,
    run_sync,
    send_sync,
    shown_url,
    unreadable_answer,
)
from airflow_provider_genai_batch.hooks.retry import RetryPolicy, policy_for_now
from airflow_provider_genai_batch.hooks.settings import (
    base_url,
    credential,
    earlier_conn_type,
    extras_for,
    invalid_connection,
)
from airflow_provider_genai_batch.idempotency import JobIdentity
from airflow_provider_genai_batch.models import BatchJob, FileInfo, TokenUsage
from airflow_provider_genai_batch.prices import PriceOverride, parse_overrides
from airflow_provider_genai_batch.spec import BatchSpec, FileSource, InlineSource, StoredObject, TableInput
from airflow_provider_genai_batch.usage import reported_usage

T = TypeVar("T")


class ConnectionSettings(BaseModel):
    """What every provider connection holds; provider hooks extend it with their own extras."""

    model_config = ConfigDict(frozen=True, extra="ignore", str_strip_whitespace=True)
    """Whitespace around a text setting (a pasted ``organization`` ending in a line break) is dropped: several are
    sent as header values, which cannot hold it."""

    connection_fields: ClassVar[frozenset[str]] = frozenset({"api_key", "base_url"})
    """Fields read from the connection's own fields (password, host), never from its extras or form."""
    form_omits: ClassVar[frozenset[str]] = frozenset()
    """Inherited fields this connection type does not use, kept off its form."""
    extra_only: ClassVar[frozenset[str]] = frozenset({"batch_prices"})
    """Structured fields read from the extra JSON only: no form field can hold them."""

    api_key: SecretStr | None = None
    base_url: str
    timeout: float = Field(
        default=60.0, ge=1, title="HTTP timeout (s)", description="Timeout of one HTTP request, in seconds."
    )
    max_retries: int = Field(
        default=5,
        ge=0,
        title="Max retries",
        description="Retries of a transient failure (connection error, timeout, 408/429/5xx) of a safe call.",
    )
    retry_max_wait: float = Field(default=30.0, ge=0, title="Max wait between retries (s)")
    retry_deadline: float = Field(
        default=300.0, ge=0, title="Retry deadline (s)", description="Total time one call may spend retrying."
    )
    batch_prices: dict[str, PriceOverride] | None = Field(default=None, title="Batch prices (USD per million tokens)")

    @field_validator("batch_prices", mode="before")
    @classmethod
    def _check_prices(cls, value: Any) -> dict[str, PriceOverride] | None:
        return parse_overrides(value, "the connection extra") or None

    @property
    def retry_policy(self) -> RetryPolicy:
        """The retry policy this connection asks for."""
        return RetryPolicy(
            max_attempts=self.max_retries + 1, max_backoff=self.retry_max_wait, max_elapsed=self.retry_deadline
        )

    def digest(self) -> str:
        """A sha256 over every setting, secret values included: what tells these settings from any others (a key
        rotated in the connection, say) without showing them."""
        text = json.dumps(self.model_dump(), sort_keys=True, default=_revealed)
        return hashlib.sha256(text.encode()).hexdigest()

    def api_key_value(self) -> str:
        """The API key, for auth headers only."""
        if self.api_key is None:
            raise GenAIBatchError("this connection has no API key (put it in the password field)")
        return self.api_key.get_secret_value()


def _revealed(value: Any) -> Any:
    """A setting's value as a digest reads it: a secret's own value (not its mask), anything else as text."""
    if isinstance(value, (SecretStr, SecretBytes)):
        return str(value.get_secret_value())
    return str(value)


SettingsT = TypeVar("SettingsT", bound=ConnectionSettings)


class BatchHook(BaseHook, ABC, Generic[SettingsT]):
    """Files and batch jobs at one provider, reached through an Airflow connection."""

    conn_name_attr = "conn_id"
    default_conn_name: ClassVar[str]
    conn_type: ClassVar[str]
    hook_name: ClassVar[str]
    provider: ClassVar[str]

    def __init__(self, conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id or self.default_conn_name
        self._client: httpx.Client | None = None
        self.retries = 0

    # --- what a provider supplies -------------------------------------------------------------------

    settings_model: ClassVar[type[ConnectionSettings]]
    default_base_url: ClassVar[str]
    lists_newest_first: ClassVar[bool] = False
    """The batch listing is in descending creation order, so a look-up may stop at the first job too old."""

    @classmethod
    def settings_from_connection(cls, conn: Any) -> SettingsT:
        """This provider's settings from an Airflow connection: key in the password, base URL in the host,
        declared extras; providers with other credentials override this."""
        key = credential(conn, conn.password, "API key (password field)")
        if key is None:
            raise GenAIBatchError(f"connection {conn.conn_id!r} has no API key (put it in the password field)")
        try:
            settings = cls.settings_model(
                api_key=SecretStr(key),
                base_url=base_url(conn) or cls.default_base_url,
                **extras_for(cls.settings_model, conn),
            )
        except ValidationError as err:
            raise invalid_connection(conn.conn_id, cls.provider, err) from None
        return cast(SettingsT, settings)

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """How the connection form shows the standard fields: the key in the password, the base URL in the host."""
        return {
            "hidden-fields": ["schema", "login", "port"],
            "relabeling": {"password": "API Key", "host": "Base URL (optional)"},
            "placeholders": {"host": cls.default_base_url, "password": "API key"},
        }

    @abstractmethod
    def build_dialect(self) -> Dialect:
        """This provider's format policy, with the options this connection sets."""

    def check_submittable(self) -> None:
        """Raise if this connection lacks what creating a job needs; checked before any input is read."""

    @abstractmethod
    def auth_headers(self, settings: SettingsT) -> dict[str, str]:
        """Headers that authenticate a request; never logged."""

    def http_auth(self, settings: SettingsT) -> httpx.Auth | None:
        """An ``httpx.Auth`` for schemes that sign each request (AWS SigV4); None for header auth."""
        return None

    def _op_upload_file(
        self, stream: IO[bytes], size: int, display_name: str | None, mime_type: str
    ) -> Operation[FileInfo]:
        raise self._unsupported("file upload")

    def _op_get_file(self, name: str) -> Operation[FileInfo]:
        raise self._unsupported("file get")

    def _op_list_files(self, page_token: str | None) -> Operation[Page[FileInfo]]:
        raise self._unsupported("file listing")

    def _op_delete_file(self, name: str) -> Operation[None]:
        raise self._unsupported("file delete")

    def _download_request(self, name: str) -> ApiRequest:
        raise self._unsupported("file download")

    @abstractmethod
    def _op_create_batch(self, spec: BatchSpec) -> Operation[BatchJob]:
        """Create the job ``spec`` describes (its source and kind already checked against the capabilities)."""

    @abstractmethod
    def _op_get_batch(self, name: str) -> Operation[BatchJob]: ...

    @abstractmethod
    def _op_list_batches(self, page_token: str | None) -> Operation[Page[BatchJob]]: ...

    @abstractmethod
    def _op_cancel_batch(self, name: str) -> Operation[None]: ...

    def _op_delete_batch(self, name: str) -> Operation[None]:
        raise self._unsupported("batch delete")

    def open_stored(self, uri: str) -> StoredObject | None:
        """The object at ``uri`` in this provider's own storage, for a job to read in place; None where
        ``uri`` is not in storage this hook reads (then it is read as any other path and uploaded).

        Raises ``FileNotFoundError`` for a missing object and ``PermissionError`` for one it may not read
        (both reported as input errors); ``StoredObject.open`` streams the bytes, with no need to seek.
        """
        return None

    def table_input(self, uri: str, *, model: str, embeddings: bool) -> TableInput | None:
        """The table at ``uri`` as the input of a ``model`` job, its schema checked for what that model reads;
        None where ``uri`` is no table this provider reads (a ``bq://`` URI then is refused as an input error).

        Raises ``FileNotFoundError`` for a missing table, ``PermissionError`` for one it may not read, and
        an ``InputValidationError`` naming the table and the column for a schema it cannot submit.
        """
        return None

    def iter_table_keys(self, uri: str) -> Iterator[str]:
        """The key of every row of the input table at ``uri``, streamed, in the table's order."""
        raise self._unsupported("table input")

    def reported_usage(self, job: BatchJob) -> TokenUsage | None:
        """The job's token totals as the provider reports them for the whole job, where it does; else None."""
        return reported_usage(job)

    def iter_results(self, job: BatchJob) -> Iterator[ResultRow]:
        """Every result row of a finished job, normalised, streamed (never the whole output in memory); none at all
        for a job counting succeeded requests is refused (:func:`answered_rows`)."""
        return answered_rows(job, self._result_rows(job))

    @abstractmethod
    def _result_rows(self, job: BatchJob) -> Iterator[ResultRow]:
        """The result rows the provider's output holds, as :meth:`iter_results` streams them."""

    @classmethod
    @abstractmethod
    def console_url(cls, job_name: str) -> str:
        """Where a person looks at this job in the provider's console."""

    @abstractmethod
    def identity_of(self, job: BatchJob) -> JobIdentity | None:
        """The idempotency key and input fingerprint this provider's job carries (metadata, client token,
        display-name suffix), read back exactly; None for a job that carries none."""

    # --- connection and clients -----------------------------------------------------------------------

    @cached_property
    def dialect(self) -> Dialect:
        """This provider's format policy, shaped by this connection's settings."""
        return self.build_dialect()

    @property
    def capabilities(self) -> ProviderCapabilities:
        """What this provider's batch API can do."""
        return self.dialect.capabilities

    @classmethod
    def _settings_of(cls, conn: Any) -> SettingsT:
        """The settings of ``conn``, which must be of this hook's type: another type's key would be sent to this
        provider's host (an Anthropic key to OpenAI's default base URL, say)."""
        if conn.conn_type not in (cls.conn_type, earlier_conn_type(cls.conn_type)):
            raise GenAIBatchError(
                f"connection {conn.conn_id!r} is of type {conn.conn_type!r}, not {cls.conn_type!r}: "
                f"{cls.__name__} reads only {cls.conn_type} connections"
            )
        return cls.settings_from_connection(conn)

    @cached_property
    def settings(self) -> SettingsT:
        """This hook's settings, read once from its Airflow connection."""
        return self._settings_of(self.get_connection(self.conn_id))

    async def asettings(self) -> SettingsT:
        """Settings, read with the async connection API (safe inside the triggerer's event loop)."""
        if "settings" not in self.__dict__:
            self.__dict__["settings"] = self._settings_of(await self.aget_connection(self.conn_id))
        settings: SettingsT = self.__dict__["settings"]
        return settings

    def reload_settings(self) -> SettingsT:
        """Read the connection again and use it from now on when it changed (a key rotated while a task polls on its
        worker, which its first read would otherwise keep using); returns the settings in use."""
        fresh = self._settings_of(self.get_connection(self.conn_id))
        if fresh.digest() != self.settings.digest():
            self._use_settings(fresh)
        return self.settings

    async def areload_settings(self) -> SettingsT:
        """Read the connection again and use it from now on when it changed (a key rotated while a trigger waits,
        which its first read would otherwise keep using); returns the settings in use."""
        fresh = self._settings_of(await self.aget_connection(self.conn_id))
        if fresh.digest() != (await self.asettings()).digest():
            self._use_settings(fresh)
        return await self.asettings()

    def _use_settings(self, fresh: SettingsT) -> None:
        """Use ``fresh`` from now on: what was made from the settings before (the dialect, the pool key, the sync
        client with its auth) is made again from them."""
        self.__dict__["settings"] = fresh
        for built in ("dialect", "_pool_key"):
            self.__dict__.pop(built, None)
        self.close()

    def get_conn(self) -> httpx.Client:
        """The hook's sync client (one per hook instance, closed by :meth:`close`)."""
        if self._client is None or self._client.is_closed:
            guard = self._guard(self.settings)
            self._client = httpx.Client(
                base_url=self.settings.base_url,
                timeout=self.settings.timeout,
                auth=self.http_auth(self.settings),
                follow_redirects=True,
                event_hooks={"request": [guard]},
            )
        return self._client

    async def aget_conn(self) -> httpx.AsyncClient:
        """The pooled async client for this connection, as its settings are now, on the running event loop."""
        settings = await self.asettings()
        return ASYNC_CLIENTS.get(
            self._pool_key,
            lambda: PooledAsyncClient(
                base_url=settings.base_url,
                timeout=settings.timeout,
                transport=pooled_transport(),
                mounts=environment_proxy_mounts(),
                auth=self.http_auth(settings),
                follow_redirects=True,
                event_hooks={"request": [self._guard(settings).on_async_request]},
            ),
        )

    @cached_property
    def _pool_key(self) -> str:
        """What this hook's pooled async client is shared under: the connection and a digest of its settings.

        The client holds what it was built from (the signing credentials of Bedrock and Vertex AI, the timeout),
        so a connection edited while the triggerer runs (a rotated key) gets a client of its own; the old
        credentials would be refused on every poll of every later trigger until the triggerer restarted.
        Worked out once per hook, whose settings are read once.
        """
        return f"{self.provider}:{self.conn_id}:{self.settings.digest()}"

    def _guard(self, settings: SettingsT) -> ForeignHostGuard:
        return ForeignHostGuard(settings.base_url, self.auth_headers(settings))

    def close(self) -> None:
        """Close the sync client; async clients are pooled per triggerer and outlive one hook."""
        if self._client is not None:
            self._client.close()
            self._client = None

    @property
    def redact(self) -> Redactor:
        """Removes this connection's secrets, as they are at each call, from text (a landing takes it once and
        may meet a token the hook fetched after that)."""
        return Redactor.live(self.secrets)

    def secrets(self) -> tuple[str, ...]:
        """Every secret of this connection, to be kept out of logs and exceptions."""
        key = self.settings.api_key
        return (key.get_secret_value(),) if key is not None else ()

    def _to_error(self, response: httpx.Response) -> ProviderAPIError:
        return error_from_response(response, self.provider, self.redact)

    def _unsupported(self, what: str) -> GenAIBatchError:
        return GenAIBatchError(f"{self.provider} does not support {what}")

    def _transport(self, settings: SettingsT) -> Transport:
        return Transport(
            self.auth_headers(settings),
            self._to_error,
            policy_for_now(settings.retry_policy),
            self._on_retry,
            self._unreadable,
        )

    def _unreadable(self, response: httpx.Response, error: Exception) -> ProviderAPIError:
        return unreadable_answer(response, error, self.provider, self.redact)

    def _on_retry(self, request: ApiRequest, reason: str, wait: float) -> None:
        self.retries += 1
        self.log.warning("%s %s failed (%s); retrying in %.1f s", request.method, shown_url(request.url), reason, wait)

    def run(self, operation: Operation[T]) -> T:
        """Run one operation over the sync client."""
        return run_sync(self.get_conn(), operation, self._transport(self.settings))

    async def arun(self, operation: Operation[T]) -> T:
        """Run one operation over the pooled async client."""
        client = await self.aget_conn()
        return await run_async(client, operation, self._transport(await self.asettings()))

    def _iter_pages(self, page_op: Callable[[str | None], Operation[Page[T]]]) -> Iterator[T]:
        for items in self._pages(page_op):
            yield from items

    def _pages(self, page_op: Callable[[str | None], Operation[Page[T]]]) -> Iterator[list[T]]:
        """Each page's items, the next page asked for only once the caller wants it (an empty page ends it)."""
        token: str | None = None
        while True:
            page = self.run(page_op(token))
            yield page.items
            if not page.next_token or not page.items:
                return
            token = page.next_token

    # --- files ----------------------------------------------------------------------------------------

    def upload_file(
        self, source: str | Path | IO[bytes], *, display_name: str | None = None, mime_type: str = "application/jsonl"
    ) -> FileInfo:
        """Upload a local path or a binary stream in chunks; memory does not grow with the file. The file made must
        hold every byte sent (see :meth:`_whole_upload`)."""
        if isinstance(source, (str, Path)):
            path = Path(source)
            with path.open("rb") as stream:
                size, name = path.stat().st_size, display_name or path.name
                return self._whole_upload(self.run(self._op_upload_file(stream, size, name, mime_type)), size, name)
        size = _stream_size(source)
        return self._whole_upload(
            self.run(self._op_upload_file(source, size, display_name, mime_type)), size, display_name
        )

    def _check_upload_size(self, size: int, display_name: str | None) -> None:
        """Refuse an upload of ``size`` bytes over the size of a batch input file here, before any byte is sent: an
        upload that goes as one request body is read whole before the provider refuses it."""
        limit = self.dialect.limits.max_file_bytes
        if limit is not None and size > limit:
            raise GenAIBatchError(
                f"{display_name or 'the upload'} is {size} bytes, over the {limit} bytes a batch input file may "
                f"hold at {self.provider}: nothing was uploaded"
            )

    def _whole_upload(self, info: FileInfo, sent: int, display_name: str | None) -> FileInfo:
        """``info``, the file an upload of ``sent`` bytes made, once its size as the provider reports it is ``sent``.

        A file stored at another size (by a proxy that cut the body and fixed its length, say) holds other requests
        than those validated: it is deleted, and the upload refused before any job is made from it. A provider that
        reports no size leaves the check undone, which a warning says."""
        stored = self.stored_size(info)
        if stored is None:
            self.log.warning(
                "the size of %s as stored is unknown (%s reported none, or these credentials may not read it): the %d "
                "bytes sent could not be checked",
                info.name,
                self.provider,
                sent,
            )
            return info
        if stored == sent:
            return info
        try:
            self.delete_file(info.name)
        except Exception as err:
            fate = f"deleting it failed too ({self.redact(str(err))[:300]}): delete it by hand"
        else:
            fate = "it was deleted"
        of = f" of {display_name}" if display_name else ""
        raise GenAIBatchError(
            f"the upload{of} was stored as {info.name} with {stored} bytes, but {sent} bytes were sent (something "
            f"between here and the {self.provider} API, a proxy say, cut it): {fate}, and no job was created from it"
        )

    def stored_size(self, info: FileInfo) -> int | None:
        """The bytes an uploaded file holds as the provider reports them; None when it reports none."""
        return info.size_bytes

    def get_file(self, name: str) -> FileInfo:
        return self.run(self._op_get_file(name))

    def list_files(self) -> Iterator[FileInfo]:
        """Every file, across all pages."""
        return self._iter_pages(self._op_list_files)

    def delete_file(self, name: str) -> None:
        self.run(self._op_delete_file(name))

    def find_upload(self, name: str, not_before: datetime | None = None) -> FileInfo | None:
        """The stored file an upload named ``name`` made (a name that carries a job's identity:
        :func:`~airflow_provider_genai_batch.idempotency.tag_file_name`), created no earlier than ``not_before``
        where the provider says when; None if there is none."""
        return self.run(self._op_find_upload(name, not_before))

    def _op_find_upload(self, name: str, not_before: datetime | None) -> Operation[FileInfo | None]:
        """Read the file listing, page by page, for the newest file named ``name``."""
        token: str | None = None
        found: FileInfo | None = None
        while True:
            page = yield from self._op_list_files(token)
            for info in page.items:
                if info.display_name != name or not _created_since(info, not_before):
                    continue
                if found is None or _newer(info, found):
                    found = info
            if not page.next_token or not page.items:
                return found
            token = page.next_token

    def download_file(self, name: str, sink: IO[bytes], chunk_size: int = 1 << 20) -> int:
        """Stream a file's bytes into ``sink``; returns the byte count."""
        written = 0
        for chunk in self.iter_file_bytes(name, chunk_size):
            sink.write(chunk)
            written += len(chunk)
        return written

    def iter_file_bytes(self, name: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """A file's bytes as a stream of chunks; a connection lost mid-stream resumes where it broke.

        The resumed request asks for ``Range: bytes=<received>-`` of the file as it is (``Accept-Encoding:
        identity``); a server that ignores it answers with the whole file again, and the bytes already delivered
        are skipped, as are those of a slice that starts before the offset asked for. A range counts the bytes of
        the body as sent, so after an answer that came compressed (``Content-Encoding``: the bytes delivered are
        the file's own, decoded) the whole file is asked for again instead, and so it is when a resume is answered
        with a compressed slice, which cannot be decoded from its middle. A body in a coding the client does not
        decode (one it did not ask for) fails the read rather than pass as the file. A file whose ``ETag`` (or,
        without one, ``Last-Modified``) changes between answers is another file: its bytes would not continue those
        delivered, so the read fails saying so. Breaks are counted against ``max_retries`` since the last one that
        delivered new bytes, so a long download through many breaks still ends. A slice that ends before the end its
        ``Content-Range`` names is a break too; a body that only the connection's close ends (no ``Content-Length``,
        not chunked) cannot tell its end from a drop, so what follows it is asked for until an answer adds nothing.
        """
        client, transport = self.get_conn(), self._transport(self.settings)
        request = self._download_request(name)
        received, resumes = 0, Resumes(self.settings.max_retries)
        ranged = True
        versions: dict[tuple[bool, str], str] = {}
        checked_end: int | None = None
        while True:
            resume = {"Range": f"bytes={received}-", "Accept-Encoding": "identity"} if received and ranged else {}
            try:
                response = send_sync(
                    client, replace(request, headers={**request.headers, **resume}), transport, stream=True
                )
            except ProviderAPIError as err:
                if resume and err.http_status == 416:
                    return  # the break came after the last byte: nothing is left to read
                raise
            ranged = not _content_coded(response)
            if response.status_code == 206 and not ranged:
                response.close()
                continue
            try:
                _check_not_a_page(response, name, self.redact)
                _check_coding(response, client.headers.get("accept-encoding", ""), name)
                _check_version(versions, response, name, received)
                skip = received - _range_start(response, received)
            except GenAIBatchError:
                response.close()
                raise
            try:
                for chunk in response.iter_bytes(chunk_size):
                    if skip:
                        dropped = min(skip, len(chunk))
                        chunk, skip = chunk[dropped:], skip - dropped
                    if chunk:
                        received += len(chunk)
                        yield chunk
                end = _range_end(response)
                if end is not None and received < end:
                    raise httpx.RemoteProtocolError(
                        f"the slice ended at byte {received} of the {end} its Content-Range names",
                        request=response.request,
                    )
                if not _close_delimited(response) or received == checked_end:
                    return
                checked_end = received  # a dropped connection ends such a body too: ask what follows
                continue
            except httpx.TransportError as err:
                if not resumes.another(received):
                    raise
                self._on_retry(request, f"{type(err).__name__} after {received} bytes", 0.0)
            finally:
                response.close()

    def iter_file_lines(self, name: str) -> Iterator[bytes]:
        """A file's lines, streamed."""
        return iter_byte_lines(self.iter_file_bytes(name))

    # --- batches --------------------------------------------------------------------------------------

    def create_batch(self, spec: BatchSpec) -> BatchJob:
        """Create the batch job ``spec`` describes, after checking the provider can make it."""
        return self.run(self._op_create_batch(self._checked(spec)))

    def _checked(self, spec: BatchSpec) -> BatchSpec:
        caps = self.capabilities
        if spec.embeddings and not caps.embeddings:
            raise self._unsupported("embeddings batches")
        if isinstance(spec.source, InlineSource) and not caps.inline_input:
            raise self._unsupported("inline batch input (upload a file)")
        if isinstance(spec.source, FileSource) and not caps.file_input:
            raise self._unsupported("file batch input (requests go inline)")
        self.check_model(spec.model)
        self.check_labels(spec.labels)
        self.check_destination(spec.destination)
        return spec

    def check_model(self, model: str) -> None:
        """Raise where this provider would refuse ``model`` as it is named (checked before any input is read)."""

    def check_labels(self, labels: Mapping[str, str]) -> None:
        """Raise unless this provider can keep ``labels`` on a job (checked before any input is read)."""
        if labels and not self.capabilities.labels:
            raise self._unsupported(f"job labels (got {', '.join(sorted(labels))})")

    def check_destination(self, destination: str | None) -> None:
        """Raise unless this provider can write a job's output to ``destination`` (checked before any input is read)."""
        if destination is None:
            return
        scheme, sep, _ = destination.partition("://")
        allowed = self.capabilities.destinations
        if sep and scheme.lower() in allowed:
            return
        if not allowed:
            raise GenAIBatchError(
                f"{self.provider} writes a job's output where its service or connection says; it takes no "
                f"destination (got {destination!r})"
            )
        takes = ", ".join(f"{s}://..." for s in sorted(allowed))
        raise GenAIBatchError(f"{self.provider} writes a job's output only to {takes}; got destination {destination!r}")

    def max_requests_per_job(self, model: str, *, embeddings: bool) -> int | None:
        """The most requests one job of ``model`` holds where the model takes fewer than the provider's limit, else
        None; an input over it is cut into several jobs (checked before any input is read)."""
        return None

    def new_output_problem(self, destination: str | None) -> str | None:
        """Why a job created now could not write its output to ``destination`` (an output place that must not exist
        yet, and does), or this connection could not read it back, or None; asked before a new job's input is
        uploaded, as the place may be taken since the last run."""
        return None

    def get_batch(self, name: str) -> BatchJob:
        return self.run(self._op_get_batch(name))

    def list_batches(self) -> Iterator[BatchJob]:
        """Every batch job, across all pages (an empty later page ends the listing)."""
        return self._iter_pages(self._op_list_batches)

    def cancel_batch(self, name: str) -> None:
        """Ask the provider to cancel; cancellation is asynchronous, poll for the final state."""
        self.run(self._op_cancel_batch(name))

    def delete_batch(self, name: str) -> None:
        self.run(self._op_delete_batch(name))

    def find_batch(
        self, idempotency_key: str, input_fingerprint: str | None = None, *, not_before: datetime | None = None
    ) -> BatchJob | None:
        """The job created earlier with exactly this idempotency key, if the provider still lists it.

        With ``input_fingerprint``, only a job made for that same input matches: a job of the same task
        made for an edited input (or one that carries no fingerprint) is not this one. With ``not_before``
        (see :func:`~airflow_provider_genai_batch.idempotency.lookup_floor`), jobs created before it are not
        read, so the look-up does not grow with the provider's history.
        """
        if not self.capabilities.find_by_key:
            return None
        jobs = (
            self._jobs_that_may_carry(idempotency_key)
            if not_before is None
            else self._jobs_since(idempotency_key, not_before)
        )
        for job in jobs:
            identity = self.identity_of(job)
            if identity is not None and identity.matches(idempotency_key, input_fingerprint):
                return job
        return None

    def _jobs_that_may_carry(self, idempotency_key: str) -> Iterator[BatchJob]:
        """The jobs a lookup by key reads: every listed job, unless the provider can narrow the listing."""
        return self.list_batches()

    def _jobs_since(self, idempotency_key: str, not_before: datetime) -> Iterator[BatchJob]:
        """The jobs a lookup by key reads when none can predate ``not_before``: where the provider lists
        newest first, the listing ends with the page that reaches back past it (see :func:`newer_than`)."""
        if not self.lists_newest_first:
            return self._jobs_that_may_carry(idempotency_key)
        return newer_than(self._pages(self._op_list_batches), not_before)

    def recent_batches(self, not_before: datetime | None) -> Iterator[BatchJob]:
        """The jobs created at or after ``not_before`` (every job without it): where the provider lists newest first,
        the listing ends with the page that reaches back past it (see :func:`newer_than`)."""
        if not_before is None:
            return self.list_batches()
        if not self.lists_newest_first:
            return (job for job in self.list_batches() if job.create_time is None or job.create_time >= not_before)
        return newer_than(self._pages(self._op_list_batches), not_before)

    async def aget_batch(self, name: str) -> BatchJob:
        return await self.arun(self._op_get_batch(name))

    async def acancel_batch(self, name: str) -> None:
        await self.arun(self._op_cancel_batch(name))

    def test_connection(self) -> tuple[bool, str]:
        """Airflow's "Test connection": one cheap authenticated listing call."""
        try:
            self.run(self._op_list_batches(None))
        except Exception as err:
            return False, self.redact(str(err))
        return True, "Connection successfully tested"


def answered_rows(job: BatchJob, rows: Iterable[ResultRow]) -> Iterator[ResultRow]:
    """``rows`` as they come; once they end, GenAIBatchError when there was none while ``job`` ended with results and
    counts requests that succeeded: their results were not there to read (an empty results file, a results location
    holding nothing), and keys landed missing would be sent, and paid for, again by a follow-up round. Raised before
    anything is landed, so an earlier landing stays whole."""
    read = False
    for row in rows:
        read = True
        yield row
    if not read and job.state.is_success and job.stats.succeeded:
        raise GenAIBatchError(
            f"{job.provider} job {job.name} counts {job.stats.succeeded} succeeded requests, but its results hold no "
            "line: nothing was landed (every key would land missing, and be paid for again by a follow-up round). "
            "Land it again later (clear the task), once the provider serves its results"
        )


def newer_than(pages: Iterator[list[BatchJob]], not_before: datetime) -> Iterator[BatchJob]:
    """The jobs of a newest-first listing created at or after ``not_before``; no page after the one that
    reaches back past it is asked for.

    The listing has to show that order: once a job is newer than one read before it (a page in ascending
    order, say), every job of every page is read. A job that shows no creation time is always read.
    """
    oldest: datetime | None = None
    ordered = True
    for page in pages:
        reached_back = False
        for job in page:
            created = job.create_time
            if created is None:
                continue
            if oldest is not None and created > oldest:
                ordered = False
            oldest = created if oldest is None else min(oldest, created)
            reached_back = reached_back or created < not_before
        if not ordered:
            yield from page
            continue
        yield from (job for job in page if job.create_time is None or job.create_time >= not_before)
        if reached_back:
            return


def _check_not_a_page(response: httpx.Response, name: str, redact: Callable[[str], str]) -> None:
    """Raise if a file's bytes are answered with an HTML page (``Content-Type: text/html``): a login, error or
    portal page of a proxy or gateway in front of the API, never a batch file, whose every line would otherwise land
    as an unreadable row and every key as missing."""
    kind = response.headers.get("content-type", "")
    if kind.split(";", 1)[0].strip().lower() != "text/html":
        return
    start = redact(next(response.iter_bytes(200), b"")[:200].decode("utf-8", "replace"))
    raise GenAIBatchError(
        f"{name} was answered with an HTML page (HTTP {response.status_code}, {kind}, starting {start!r}), not the "
        "file: a proxy, gateway or login page in front of the API answers like this; nothing of it was landed"
    )


def _content_coded(response: httpx.Response) -> bool:
    """Whether the body comes compressed (``Content-Encoding`` other than identity), so its bytes as sent are not
    the file's."""
    return response.headers.get("content-encoding", "identity").strip().lower() not in ("", "identity")


def _check_coding(response: httpx.Response, accepted: str, name: str) -> None:
    """Raise if the body comes in a coding the client does not decode: one outside ``accepted``, the client's
    ``Accept-Encoding`` (gzip and deflate, and br or zstd only where their packages are installed). httpx passes the
    bytes of such a coding through as they came, and they would land as the file's."""
    said = response.headers.get("content-encoding", "")
    decoded = {coding.strip().lower() for coding in accepted.split(",")} | {"identity"}
    if any(coding.strip().lower() not in decoded for coding in said.split(",") if coding.strip()):
        raise GenAIBatchError(
            f"{name} was answered with Content-Encoding {said!r}, which this client does not decode (it asks for "
            f"{accepted or 'identity'}), so its bytes are not the file's; a proxy in front of the API may be coding it"
        )


_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(?:\d+|\*)")


def _range_start(response: httpx.Response, received: int) -> int:
    """Where in the file an answer's body starts: 0 for a whole file, a 206's ``Content-Range`` start (``received``,
    as asked, when it names none). A slice that starts after ``received`` would leave a hole: GenAIBatchError."""
    if response.status_code != 206:
        return 0
    match = _CONTENT_RANGE.fullmatch(response.headers.get("content-range", "").strip())
    start = int(match.group(1)) if match else received
    if start > received:
        raise GenAIBatchError(
            f"{response.request.url.path} was asked for its bytes from {received} and answered bytes from {start} "
            f"(Content-Range {response.headers['content-range']!r}); the bytes between would be missing"
        )
    return start


def _range_end(response: httpx.Response) -> int | None:
    """Where in the file a 206's body ends, by its ``Content-Range`` (its ``Content-Length`` may end it sooner)."""
    if response.status_code != 206:
        return None
    match = _CONTENT_RANGE.fullmatch(response.headers.get("content-range", "").strip())
    return int(match.group(2)) + 1 if match else None


def _close_delimited(response: httpx.Response) -> bool:
    """Whether an HTTP/1 body has no ``Content-Length`` and is not chunked: it ends when the connection closes, so a
    dropped connection ends it as cleanly as the last byte does. Only a response off a connection says its HTTP
    version; one made up in process has no wire to be cut."""
    framing = response.headers.get("transfer-encoding", "").lower()
    return (
        response.extensions.get("http_version") in (b"HTTP/1.0", b"HTTP/1.1")
        and "content-length" not in response.headers
        and "chunked" not in framing
    )


def _check_version(versions: dict[tuple[bool, str], str], response: httpx.Response, name: str, received: int) -> None:
    """Raise if ``response`` is of another version of the file than an earlier answer of the same coding: another
    ``ETag`` (or, without one, ``Last-Modified``) or another whole size (a 206's ``Content-Range`` total, a 200's
    ``Content-Length``); remember what it says otherwise. Answers are compared within a coding, as a server may tag
    and measure a compressed answer apart from the file as it is."""
    coded = _content_coded(response)
    said = {
        "version": response.headers.get("etag") or response.headers.get("last-modified"),
        "size": _size_of(response),
    }
    for what, value in said.items():
        if value is None:
            continue
        known = versions.setdefault((coded, what), value)
        if known != value:
            raise GenAIBatchError(
                f"{name} changed while it was read: its {what} was {known} and is {value} after {received} bytes "
                "were delivered, which the rest of the new file would not continue; read it again"
            )


def _size_of(response: httpx.Response) -> str | None:
    """The whole file's size an answer states: a 206's ``Content-Range`` total, a 200's ``Content-Length``."""
    if response.status_code == 206:
        total = response.headers.get("content-range", "").rpartition("/")[2].strip()
    else:
        total = response.headers.get("content-length", "").strip()
    return total if total.isdigit() else None


def _stream_size(stream: IO[bytes]) -> int:
    position = stream.tell()
    stream.seek(0, 2)
    size = stream.tell() - position
    stream.seek(position)
    return size


def _created_since(info: FileInfo, not_before: datetime | None) -> bool:
    """Whether ``info`` was created at ``not_before`` or later (or either time is unknown)."""
    return not_before is None or info.create_time is None or info.create_time >= not_before


def _newer(info: FileInfo, than: FileInfo) -> bool:
    """Whether ``info`` was created after ``than`` (where both times are known)."""
    return info.create_time is not None and than.create_time is not None and info.create_time > than.create_time
