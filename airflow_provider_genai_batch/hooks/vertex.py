"""Vertex AI batch prediction (``batchPredictionJobs``) over REST with Google OAuth: Cloud Storage or BigQuery
in, Cloud Storage or BigQuery out.

Vertex, Cloud Storage and BigQuery are all called through the hook's one httpx client, each request carrying
an OAuth access token from :mod:`.google_auth`. Inputs are streamed to the connection's staging prefix with
a resumable upload (or read in place when already in Cloud Storage); results are read from the exact place
the job names in ``outputInfo``.
"""

from __future__ import annotations

import hashlib
import io
import ipaddress
import json
import os
import re
import threading
import unicodedata
import uuid
from collections.abc import Iterator, Mapping
from datetime import datetime
from functools import partial
from typing import IO, Any, ClassVar, Literal

import httpx
from airflow.sdk.log import mask_secret
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator

from airflow_provider_genai_batch.errors import GenAIBatchError, InputValidationError, NotFoundError, ProviderAPIError
from airflow_provider_genai_batch.formats import vertex as wire
from airflow_provider_genai_batch.formats.dialect import Dialect
from airflow_provider_genai_batch.formats.results import ResultRow, iter_result_rows, key_field, read_result_item
from airflow_provider_genai_batch.hooks import bigquery, gcs
from airflow_provider_genai_batch.hooks.base import BatchHook, ConnectionSettings
from airflow_provider_genai_batch.hooks.google_auth import (
    BearerAuth,
    CredentialSource,
    GoogleTokens,
    default_source,
    key_file_source,
    parse_key_json,
    require_google_auth,
    service_account_source,
)
from airflow_provider_genai_batch.hooks.http import ApiRequest, ForeignHostGuard, Operation, Page, origin_of
from airflow_provider_genai_batch.hooks.settings import base_url, extras_for, invalid_connection, without_version
from airflow_provider_genai_batch.idempotency import JobIdentity, identity_in_file_name
from airflow_provider_genai_batch.models import BatchJob, FileInfo, JobState
from airflow_provider_genai_batch.spec import BatchSpec, FileSource, StoredObject, TableInput

DEFAULT_LOCATION = "us-central1"
LIST_PAGE_SIZE = 100
DISPLAY_NAME_MAX = 128
CONSOLE_URL = "https://console.cloud.google.com/vertex-ai/locations/{location}/batch-predictions/{id}?project={project}"
_JOB_NAME = re.compile(r"projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/batchPredictionJobs/(?P<id>[^/]+)")
_PREDICTIONS = re.compile(r"predictions[^/]*\.jsonl")
_KEYFILE_EXTRA = "keyfile_dict"
_SHARED_TOKENS: dict[str, GoogleTokens] = {}
_SHARED_TOKENS_LOCK = threading.Lock()


def key_secrets(info: Mapping[str, Any]) -> tuple[str, ...]:
    """The secrets of a service-account key: its private key, each line of its body (so that the key is
    redacted from text that escapes its line breaks, as a repr or JSON does), and the key's id."""
    private_key = str(info.get("private_key") or "")
    lines = [line for line in private_key.splitlines() if line and not line.startswith("-----")]
    key_id = str(info.get("private_key_id") or "")
    return tuple(secret for secret in (private_key, *lines, key_id) if secret)


MULTI_REGIONS = frozenset({"us", "eu"})
"""Multi-regional locations, served at ``aiplatform.<location>.rep.googleapis.com`` rather than a regional host."""


def vertex_base_url(location: str) -> str:
    """The REST host of a location: the global endpoint, a multi-region's, or the regional one (as google-genai
    picks it; ``us-aiplatform.googleapis.com`` does not exist)."""
    if location == "global":
        return "https://aiplatform.googleapis.com"
    if location in MULTI_REGIONS:
        return f"https://aiplatform.{location}.rep.googleapis.com"
    return f"https://{location}-aiplatform.googleapis.com"


class VertexSettings(ConnectionSettings):
    """A Vertex AI connection: project, location, Cloud Storage prefixes, endpoints and Google credentials."""

    connection_fields: ClassVar[frozenset[str]] = frozenset({"api_key", "base_url", _KEYFILE_EXTRA})

    project: str | None = Field(
        default=None,
        title="Project ID",
        description="Google Cloud project of the jobs (default: the service-account key's project, else "
        "GOOGLE_CLOUD_PROJECT).",
    )
    location: str = Field(
        default=DEFAULT_LOCATION,
        title="Location",
        description="Region of the jobs, e.g. us-central1, or 'global'.",
        json_schema_extra={"pattern": "^[a-z][a-z0-9-]*$"},
    )
    api_version: Literal["v1", "v1beta1"] = Field(
        default="v1", title="API version", description="Pinned REST API version of Vertex AI."
    )
    staging_gcs_uri: str | None = Field(
        default=None,
        title="Staging prefix (gs://)",
        description="gs://bucket/prefix where local inputs are uploaded (inputs already in Cloud Storage are "
        "read in place).",
        json_schema_extra={"pattern": "^gs://"},
    )
    output_gcs_uri: str | None = Field(
        default=None,
        title="Output prefix (gs://)",
        description="Default gs://bucket/prefix where jobs write their predictions (a task's destination "
        "overrides it).",
        json_schema_extra={"pattern": "^gs://"},
    )
    key_path: str | None = Field(
        default=None,
        title="Service-account key file (optional)",
        description="Path of a service-account key JSON on the workers; empty: the key in the password "
        "field, else Application Default Credentials.",
    )
    gcs_endpoint_url: str | None = Field(
        default=None,
        title="Cloud Storage endpoint (optional)",
        description="Default https://storage.googleapis.com.",
    )
    bigquery_endpoint_url: str | None = Field(
        default=None,
        title="BigQuery endpoint (optional)",
        description="Default https://bigquery.googleapis.com.",
    )
    upload_chunk_size: int = Field(
        default=8 * 1024 * 1024,
        ge=gcs.CHUNK_GRANULE,
        multiple_of=gcs.CHUNK_GRANULE,
        title="Upload chunk size (bytes)",
        description="Size of one resumable-upload chunk to Cloud Storage; a multiple of 256 KiB.",
    )
    keyfile_dict: SecretStr | None = None

    @field_validator("staging_gcs_uri", "output_gcs_uri")
    @classmethod
    def _gcs_uri(cls, value: str | None) -> str | None:
        return wire.check_gcs_uri(value, "prefix") if value is not None else None

    @field_validator("staging_gcs_uri")
    @classmethod
    def _staging_uri(cls, value: str | None) -> str | None:
        if value is not None and not wire.names_one_object(value):
            raise ValueError(
                f"{value!r} holds '*', '?' or '[', which Vertex reads as wildcards in the URI of an input staged there"
            )
        return value

    @model_validator(mode="before")
    @classmethod
    def _version_off_host(cls, data: Any) -> Any:
        return without_version(data, ("v1", "v1beta1"), "api_version")

    @field_validator("location")
    @classmethod
    def _location(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9-]*", value):
            raise ValueError(f"{value!r} is not a Google Cloud location such as us-central1 or global")
        return value

    def key_info(self) -> dict[str, Any] | None:
        """The service-account key held in the connection, if any (parsed when the settings were read)."""
        if self.keyfile_dict is None:
            return None
        return parse_key_json(self.keyfile_dict.get_secret_value(), "the connection's service-account key")


class _MaskedTokens(GoogleTokens):
    """Access tokens that Airflow's log masker learns as they are minted; a failure to mint one is raised afresh,
    without google-auth's error as its context (that error may quote the key the token endpoint echoed)."""

    def token(self, *, stale: str | None = None) -> str:
        try:
            token = super().token(stale=stale)
        except GenAIBatchError as err:
            failure = str(err)  # already redacted
        else:
            mask_secret(token)
            return token
        raise GenAIBatchError(failure)


class _GoogleHostsGuard(ForeignHostGuard):
    """Keeps the token to the Google hosts this connection talks to (Vertex, Cloud Storage, BigQuery)."""

    def __init__(self, urls: tuple[str, ...]) -> None:
        super().__init__(urls[0], ("Authorization",))
        self.origins = frozenset(origin_of(url) for url in urls)


class _ChunkReader(io.RawIOBase):
    """A readable binary stream over an iterator of byte chunks (a streamed download)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = chunk
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count


class VertexBatchHook(BatchHook[VertexSettings]):
    """Batch prediction jobs on Vertex AI, with inputs and outputs in Cloud Storage or BigQuery.

    Credentials: a service-account key JSON (the password field, or the ``keyfile_dict`` extra), else a key
    file (``key_path``), else Application Default Credentials (workload identity included).
    """

    default_conn_name = "genai_vertex_default"
    conn_type = "genaivertex"
    hook_name = "GenAI Batch: Vertex AI"

    provider: ClassVar[str] = wire.PROVIDER
    settings_model: ClassVar[type[ConnectionSettings]] = VertexSettings
    default_base_url: ClassVar[str] = vertex_base_url(DEFAULT_LOCATION)

    def __init__(self, conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(conn_id, **kwargs)
        self._google_tokens: GoogleTokens | None = None

    @classmethod
    def settings_from_connection(cls, conn: Any) -> VertexSettings:
        extras = extras_for(VertexSettings, conn)
        key = cls._connection_key(conn, extras.pop(_KEYFILE_EXTRA, None))
        for name in ("private_key", "private_key_id"):  # Airflow masks the password whole; these in any log too
            if key is not None and key.get(name):
                mask_secret(str(key[name]))
        if not extras.get("project"):
            extras["project"] = (key or {}).get("project_id") or os.environ.get("GOOGLE_CLOUD_PROJECT")
        if not extras["project"]:
            raise GenAIBatchError(
                f"connection {conn.conn_id!r} names no Google Cloud project: set the 'project' extra (or use a "
                "service-account key, which names its project, or set GOOGLE_CLOUD_PROJECT)"
            )
        location = extras.get("location") or DEFAULT_LOCATION
        try:
            return VertexSettings(
                base_url=base_url(conn) or vertex_base_url(str(location)),
                keyfile_dict=SecretStr(json.dumps(key)) if key is not None else None,
                **extras,
            )
        except ValidationError as err:
            raise invalid_connection(conn.conn_id, cls.provider, err) from None

    @staticmethod
    def _connection_key(conn: Any, extra: Any) -> dict[str, Any] | None:
        """The service-account key of the ``keyfile_dict`` extra (``extra``, under either of its names) or the
        password field (not both)."""
        if extra and conn.password:
            raise GenAIBatchError(
                f"connection {conn.conn_id!r} holds a service-account key in both the password field and the "
                f"{_KEYFILE_EXTRA} extra; keep one"
            )
        if extra:
            return parse_key_json(extra, f"the {_KEYFILE_EXTRA} extra of connection {conn.conn_id!r}")
        if conn.password:
            return parse_key_json(conn.password, f"the password field of connection {conn.conn_id!r}")
        return None

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """The key JSON in the password (optional); the endpoint comes from the location unless given."""
        return {
            "hidden-fields": ["schema", "login", "port"],
            "relabeling": {
                "password": "Service-account key JSON (optional)",
                "host": "Vertex AI endpoint (optional)",
            },
            "placeholders": {
                "password": "empty: key_path, else Application Default Credentials",
                "host": "https://<location>-aiplatform.googleapis.com",
            },
        }

    def build_dialect(self) -> Dialect:
        return wire.VertexDialect()

    # --- auth --------------------------------------------------------------------------------------------

    def auth_headers(self, settings: VertexSettings) -> dict[str, str]:
        return {}

    def http_auth(self, settings: VertexSettings) -> httpx.Auth:
        """A bearer token from Google credentials, refreshed before it expires."""
        require_google_auth()
        return BearerAuth(self._tokens_for(settings))

    def _tokens_for(self, settings: VertexSettings) -> GoogleTokens:
        """The token holder of this connection's credentials, shared by every hook of the process that uses
        them (so a triggerer's pooled client and each trigger's hook know the same token, and redact it)."""
        if self._google_tokens is None:
            identity = hashlib.sha256(
                json.dumps([self.conn_id, settings.key_info(), settings.key_path], sort_keys=True).encode()
            ).hexdigest()
            with _SHARED_TOKENS_LOCK:
                tokens = _SHARED_TOKENS.get(identity)
                if tokens is None:
                    tokens = _SHARED_TOKENS[identity] = _MaskedTokens(
                        self._credential_source(settings), settings.timeout, self._key_secrets(settings)
                    )
            self._google_tokens = tokens
        return self._google_tokens

    @staticmethod
    def _credential_source(settings: VertexSettings) -> CredentialSource:
        info = settings.key_info()
        if info is not None:
            return service_account_source(info)
        if settings.key_path:
            return key_file_source(settings.key_path)
        return default_source()

    @staticmethod
    def _key_secrets(settings: VertexSettings) -> tuple[str, ...]:
        return key_secrets(settings.key_info() or {})

    def secrets(self) -> tuple[str, ...]:
        """The key's private parts and the access token held now."""
        token = self._tokens_for(self.settings).current
        return (*self._key_secrets(self.settings), *((token,) if token else ()))

    def _guard(self, settings: VertexSettings) -> ForeignHostGuard:
        return _GoogleHostsGuard((settings.base_url, _gcs(settings).url, _bigquery(settings).url))

    # --- paths -------------------------------------------------------------------------------------------

    @property
    def _parent(self) -> str:
        settings = self.settings
        assert settings.project is not None  # settings_from_connection always sets it
        return f"{settings.api_version}/projects/{settings.project}/locations/{settings.location}"

    def _job_path(self, name: str) -> str:
        """A job's REST path from its full resource name or its numeric id.

        A job of another location is refused, naming both: the call would go to the connection's location's endpoint,
        which answers only for its own location's resources.
        """
        if name.startswith("projects/"):
            match = _JOB_NAME.fullmatch(name)
            if match is None:
                raise GenAIBatchError(f"{name!r} is not a Vertex batch prediction job name")
            location = self.settings.location
            if match["location"] != location:
                raise GenAIBatchError(
                    f"job {name} is in location {match['location']!r}, and connection {self.conn_id!r} calls Vertex "
                    f"AI in {location!r}, whose endpoint serves only that location's jobs: use a connection whose "
                    f"location is {match['location']!r}"
                )
            return f"{self.settings.api_version}/{name}"
        if not name.isdigit():
            raise GenAIBatchError(f"{name!r} is neither a batch prediction job name nor a numeric job id")
        return f"{self._parent}/batchPredictionJobs/{name}"

    @property
    def _gcs(self) -> gcs.GcsEndpoint:
        return _gcs(self.settings)

    @property
    def _bigquery(self) -> bigquery.BigQueryEndpoint:
        return _bigquery(self.settings)

    # --- files (Cloud Storage objects, named by gs:// URIs) ----------------------------------------------

    @staticmethod
    def _object(uri: str) -> gcs.GcsObject:
        try:
            return gcs.GcsObject.parse(uri)
        except ValueError as err:
            raise GenAIBatchError(f"vertex files are Cloud Storage objects: {err}") from None

    def check_submittable(self) -> None:
        """Read the settings (a connection without a project fails here, before any input is read)."""
        self.settings  # noqa: B018

    def _op_upload_file(
        self, stream: IO[bytes], size: int, display_name: str | None, mime_type: str
    ) -> Operation[FileInfo]:
        """Stream the input under the staging prefix as ``<name>-<random>.jsonl`` with a resumable upload."""
        settings = self.settings
        target = self._upload_target(display_name)
        return (
            yield from gcs.upload(
                self._gcs,
                target,
                stream,
                size,
                chunk_size=settings.upload_chunk_size,
                content_type=mime_type,
                max_resumes=settings.max_retries,
            )
        )

    def _upload_target(self, display_name: str | None) -> gcs.GcsObject:
        """The object an upload named ``display_name`` writes, under the staging prefix."""
        settings = self.settings
        if not settings.staging_gcs_uri:
            raise GenAIBatchError(
                f"connection {self.conn_id!r} has no staging_gcs_uri: set it to upload inputs to Cloud Storage"
            )
        return self._object(settings.staging_gcs_uri).child(_object_name(display_name))

    def _op_find_upload(self, name: str, not_before: datetime | None) -> Operation[FileInfo | None]:
        """The object an upload named ``name`` wrote (its name is the same on every try), read from its metadata."""
        try:
            return (yield from gcs.metadata(self._gcs, self._upload_target(name)))
        except NotFoundError:
            return None

    def _op_get_file(self, name: str) -> Operation[FileInfo]:
        return (yield from gcs.metadata(self._gcs, self._object(name)))

    def _op_list_files(self, page_token: str | None) -> Operation[Page[FileInfo]]:
        """The objects under the staging prefix."""
        prefix = self.settings.staging_gcs_uri
        if not prefix:
            raise GenAIBatchError(f"connection {self.conn_id!r} has no staging_gcs_uri to list")
        return (yield from gcs.list_objects(self._gcs, self._object(prefix.rstrip("/") + "/"), page_token))

    def _op_delete_file(self, name: str) -> Operation[None]:
        yield from gcs.delete(self._gcs, self._object(name))

    def _download_request(self, name: str) -> ApiRequest:
        return gcs.download(self._gcs, self._object(name))

    def open_stored(self, uri: str) -> StoredObject | None:
        """A ``gs://`` object, streamed through the Cloud Storage API (a job can read it in place).

        A URI naming an Airflow connection (``gs://<conn_id>@bucket/name``, as ``ObjectStoragePath`` reads them) is
        not: the user chose how it is read, so it is read through that connection as any path, and uploaded.
        """
        if not uri.startswith("gs://") or "@" in uri[5:].partition("/")[0]:
            return None
        info = self.get_file(uri)
        return StoredObject(
            uri=uri,
            size=info.size_bytes or 0,
            open=partial(self._open_object, uri),
            named_exactly=wire.names_one_object(uri),
        )

    def _open_object(self, uri: str) -> IO[bytes]:
        return io.BufferedReader(_ChunkReader(self.iter_file_bytes(uri)), 1 << 20)

    # --- BigQuery tables -----------------------------------------------------------------------------------

    @staticmethod
    def _table(uri: str) -> bigquery.TableRef:
        try:
            return bigquery.TableRef.parse(uri)
        except ValueError as err:
            raise GenAIBatchError(str(err)) from None

    def table_input(self, uri: str, *, model: str, embeddings: bool) -> TableInput | None:
        """A ``bq://`` request table, its ``key`` column and the column ``model`` reads (``request``, or a
        text-embedding model's ``content``) checked."""
        if not uri.startswith("bq://"):
            return None
        try:
            column = wire.table_column(model, embeddings=embeddings)
        except ValueError as err:
            raise GenAIBatchError(str(err)) from None
        table = self.run(bigquery.get_table(self._bigquery, self._table(uri)))
        bigquery.check_input_table(table, column)
        most = self.max_requests_per_job(model, embeddings=embeddings)
        if most is not None and table.rows > most:
            raise InputValidationError(
                f"the table has {table.rows:,} rows, over the {most:,} prompts one Vertex batch job of {model} takes; "
                f"a table is not cut into several jobs: split it into tables of at most {most:,} rows",
                source=table.ref.uri,
            )
        return TableInput(uri=table.ref.uri, rows=table.rows, version=table.version)

    def max_requests_per_job(self, model: str, *, embeddings: bool) -> int | None:
        """A text-embedding model's 30,000 prompts per job."""
        return wire.max_requests(model, embeddings=embeddings)

    def iter_table_keys(self, uri: str) -> Iterator[str]:
        """The ``key`` column of a request table, page by page; a row without a key is an error."""
        ref = self._table(uri)
        column = bigquery.Column("key", "STRING")
        rows = self._iter_pages(partial(bigquery.list_rows, self._bigquery, ref, [column]))
        for number, row in enumerate(rows, start=1):
            key = row.get("key")
            if not isinstance(key, str) or not key:
                raise GenAIBatchError(f"input table {ref.uri}, row {number}: 'key' is empty; every request needs one")
            yield key

    def _iter_table_rows(self, uri: str) -> Iterator[dict[str, Any]]:
        ref = self._table(uri)
        table = self.run(bigquery.get_table(self._bigquery, ref))
        return self._iter_pages(partial(bigquery.list_rows, self._bigquery, ref, table.columns))

    # --- batch prediction jobs ---------------------------------------------------------------------------

    def check_labels(self, labels: Mapping[str, str]) -> None:
        """Google Cloud's label rules, and the two labels this provider keeps for itself."""
        try:
            wire.check_labels(labels)
        except ValueError as err:
            raise GenAIBatchError(f"vertex job labels: {err}") from None

    def check_model(self, model: str) -> None:
        """A Google or tuned model Vertex takes as a job's model, in the connection's location (a tuned model's endpoint
        is not one, and another publisher's models read another request format)."""
        try:
            wire.check_model(model, self.settings.location)
        except ValueError as err:
            raise GenAIBatchError(f"vertex model: {err}") from None

    def check_destination(self, destination: str | None) -> None:
        """Where the output goes: the destination, else the connection's ``output_gcs_uri`` (one of them is
        needed), as a Cloud Storage prefix or BigQuery table Google would take; checked before any input is read."""
        super().check_destination(destination)
        output = destination or self.settings.output_gcs_uri
        if output is None:
            raise GenAIBatchError(
                f"no destination for the job's output: give the task a destination (gs://bucket/prefix or "
                f"bq://project.dataset.table) or set output_gcs_uri on connection {self.conn_id!r}"
            )
        problem = output_problem(output)
        if problem is not None:
            what = "destination" if destination else f"output_gcs_uri of connection {self.conn_id!r}"
            raise GenAIBatchError(f"{what} {output!r}: {problem}")

    def _op_create_batch(self, spec: BatchSpec) -> Operation[BatchJob]:
        """Create the job with the key and fingerprint in its labels (a create is not idempotent: the caller
        looks the job up by label before it retries)."""
        assert isinstance(spec.source, FileSource)  # the dialect allows file input only
        output = spec.destination or self.settings.output_gcs_uri
        assert output is not None  # check_destination refuses a job with nowhere to write
        labels = {**spec.labels, **wire.identity_labels(spec.idempotency_key, spec.input_fingerprint)}
        try:
            body = wire.create_body(
                display_name=spec.display_name[:DISPLAY_NAME_MAX],
                model=spec.model,
                input_uri=spec.source.file_name,
                output_uri=output,
                labels=labels,
            )
        except ValueError as err:
            raise GenAIBatchError(str(err)) from None
        problem = yield from self._op_new_output_problem(output)
        if problem is not None:
            raise GenAIBatchError(problem)
        response = yield ApiRequest("POST", f"{self._parent}/batchPredictionJobs", json=body, retry=False)
        return wire.parse_job(response.json())

    def new_output_problem(self, destination: str | None) -> str | None:
        """A ``bq://`` output table that exists (see :meth:`_op_new_output_problem`)."""
        output = destination or self.settings.output_gcs_uri
        return self.run(self._op_new_output_problem(output)) if output is not None else None

    def _op_new_output_problem(self, output: str) -> Operation[str | None]:
        """Vertex creates a job's output table itself, in a dataset that must exist, and fails the job when that table
        exists or that dataset does not, so either is refused before a job is made to fail on it (and, by the submit,
        before its input is staged); so is a Cloud Storage output whose bucket does not exist."""
        if output.startswith("gs://"):
            return (yield from self._op_bucket_problem(output))
        if not output.startswith("bq://"):
            return None
        table = self._table(output)
        try:
            yield from bigquery.get_table(self._bigquery, table)
        except NotFoundError:
            try:
                yield from bigquery.check_dataset(self._bigquery, table)
            except NotFoundError:
                return (
                    f"destination dataset {table.project}.{table.dataset} does not exist: a Vertex job writes its "
                    "output table into a dataset that exists; create the dataset first"
                )
            return None
        return (
            f"destination table {output} already exists: a Vertex job creates its output table and fails when the "
            "table exists; name a table that does not exist yet, or drop this one"
        )

    def _op_bucket_problem(self, output: str) -> Operation[str | None]:
        """A job writing under ``output`` fails when its bucket does not exist, and its predictions are listed and read
        back under that folder with this connection's credentials (the job writes them as Vertex's service agent),
        so credentials that may not would find out only once the job was billed. Asked with a listing of at most one
        object in the folder (404: no bucket; 403: no ``storage.objects.list``) and a metadata GET of an object there
        that need not exist (Cloud Storage answers 404 where reading is allowed, 403 where ``storage.objects.get`` is
        missing); nothing is written, and an answer other than these leaves the question to the job or the landing."""
        folder = self._object(output.rstrip("/") + "/")
        try:
            params: dict[str, str | int] = {"prefix": folder.name, "maxResults": 1}
            yield ApiRequest("GET", self._gcs.bucket_url(folder.bucket), params=params)
        except NotFoundError:
            return (
                f"output bucket {folder.bucket!r} of {output} does not exist: a Vertex job writes its predictions into "
                "a bucket that exists; create it first"
            )
        except ProviderAPIError as err:
            if err.http_status != 403:
                raise
            return self._unreadable_output(output, f"a listing of {folder.uri}")
        probe = folder.child(READ_CHECK_NAME)
        try:
            yield from gcs.probe(self._gcs, probe)
        except NotFoundError:
            return None
        except ProviderAPIError as err:
            if err.http_status == 403:
                return self._unreadable_output(output, f"a metadata GET of {probe.uri}")
        return None

    def _unreadable_output(self, output: str, refused: str) -> str:
        return (
            f"connection {self.conn_id!r} cannot read the job's predictions back from {output}: Cloud Storage answered "
            f"403 to {refused}; its credentials need storage.objects.list and storage.objects.get there (Storage "
            "Object Viewer on the bucket): the job writes the predictions as Vertex AI's service agent, this "
            "connection lists and reads them"
        )

    def _op_get_batch(self, name: str) -> Operation[BatchJob]:
        response = yield ApiRequest("GET", self._job_path(name))
        return wire.parse_job(response.json())

    def _op_list_batches(self, page_token: str | None, filter: str | None = None) -> Operation[Page[BatchJob]]:
        params: dict[str, str | int] = {"pageSize": LIST_PAGE_SIZE}
        if filter:
            params["filter"] = filter
        if page_token:
            params["pageToken"] = page_token
        response = yield ApiRequest("GET", f"{self._parent}/batchPredictionJobs", params=params)
        body = response.json()
        jobs = [wire.parse_job(item) for item in body.get("batchPredictionJobs") or []]
        return Page(jobs, body.get("nextPageToken"))

    def _op_cancel_batch(self, name: str) -> Operation[None]:
        """Cancellation is asynchronous: the job goes CANCELLING, then CANCELLED."""
        yield ApiRequest("POST", f"{self._job_path(name)}:cancel", json={}, retry=True)

    def _op_delete_batch(self, name: str) -> Operation[None]:
        """The delete answers a long-running operation; an accepted delete is taken as done."""
        yield ApiRequest("DELETE", self._job_path(name))

    def _jobs_that_may_carry(self, idempotency_key: str) -> Iterator[BatchJob]:
        """One listing filtered on the key label (its pages only), never a walk over the project's jobs."""
        return self._iter_pages(partial(self._op_list_batches, filter=wire.key_filter(idempotency_key)))

    def identity_of(self, job: BatchJob) -> JobIdentity | None:
        """Read from the two labels only."""
        return wire.identity_in_labels(job.raw.get("labels"))

    # --- results -----------------------------------------------------------------------------------------

    def _result_rows(self, job: BatchJob) -> Iterator[ResultRow]:
        """Rows of every ``predictions*.jsonl`` under ``outputInfo.gcsOutputDirectory``, or of the output table.

        A job that wrote nothing (failed, cancelled early) has no rows. A line or row that cannot be read is a
        failed row, never the end of the stream.
        """
        location = job.output_location
        if not location:
            return
        if location.startswith("bq://"):
            for number, row in enumerate(self._iter_table_rows(location), start=1):
                yield read_result_item(row, f"{location}, row {number}", self.dialect.result_row, _KEY_OF)
            return
        for uri in self._prediction_files(location):
            try:
                yield from iter_result_rows(self.iter_file_lines(uri), uri, self.dialect.result_row, _KEY_OF)
            except NotFoundError:
                if job.state is JobState.SUCCEEDED:
                    raise
                self.log.info("no output at %s for the %s job %s", uri, job.provider_state, job.name)

    def _prediction_files(self, directory: str) -> list[str]:
        folder = self._object(directory.rstrip("/") + "/")
        listing = self._iter_pages(partial(gcs.list_objects, self._gcs, folder))
        names = [item.name for item in listing if _PREDICTIONS.fullmatch(item.name.rsplit("/", 1)[-1])]
        return sorted(names)

    @classmethod
    def console_url(cls, job_name: str) -> str:
        """The job's page in the Google Cloud console."""
        match = _JOB_NAME.fullmatch(job_name)
        if match is None:
            return "https://console.cloud.google.com/vertex-ai/batch-predictions"
        return CONSOLE_URL.format(**match.groupdict())


_KEY_OF = key_field("key", "instance.key")
READ_CHECK_NAME = "genai-batch-read-check"
"""The object under a Cloud Storage output folder whose metadata GET asks whether the connection can read there (it
need not exist)."""


def _gcs(settings: VertexSettings) -> gcs.GcsEndpoint:
    return gcs.GcsEndpoint(settings.gcs_endpoint_url or gcs.DEFAULT_ENDPOINT)


def _bigquery(settings: VertexSettings) -> bigquery.BigQueryEndpoint:
    return bigquery.BigQueryEndpoint(settings.bigquery_endpoint_url or bigquery.DEFAULT_ENDPOINT)


_BUCKET_CHARS = re.compile(r"[a-z0-9](?:[-_.a-z0-9]*[a-z0-9])?")
_GOOGLE_LOOKALIKE = re.compile(r"g[o0]{2}g[l1]e")
_PROJECT_ID = re.compile(r"(?:[a-z0-9][-a-z0-9.]*[a-z0-9]:)?[a-z][-a-z0-9]{4,28}[a-z0-9]")
_DATASET_ID = re.compile(r"[A-Za-z0-9_]{1,1024}")
_TABLE_ID_MAX_BYTES = 1024
_OBJECT_NAME_MAX_BYTES = 1024


def output_problem(uri: str) -> str | None:
    """Why Google would refuse ``uri`` as a job's output (a ``gs://bucket/prefix`` or a
    ``bq://project.dataset.table``), or None."""
    if uri.startswith("gs://"):
        bucket, _, prefix = uri[5:].partition("/")
        problem = bucket_problem(bucket) or _prefix_problem(prefix)
    elif uri.startswith("bq://"):
        problem = table_problem(uri[5:])
        if problem is None and len(_table_parts(uri[5:])) == 2:
            problem = "name the output table too: bq://project.dataset.table"
    else:
        problem = None
    if problem is not None:
        return problem
    try:
        wire.output_config(uri)
    except ValueError as err:
        return str(err)
    return None


def bucket_problem(bucket: str) -> str | None:
    """Why ``bucket`` breaks Cloud Storage's bucket naming rules, or None."""
    if not bucket:
        return "no bucket name"
    parts = bucket.split(".")
    if not 3 <= len(bucket) <= (222 if len(parts) > 1 else 63) or any(not 1 <= len(part) <= 63 for part in parts):
        return f"bucket {bucket!r} must be 3-63 characters (up to 222 with dots, 1-63 between two dots)"
    if not _BUCKET_CHARS.fullmatch(bucket):
        return (
            f"bucket {bucket!r} must hold only lowercase letters, digits, '-', '_' and '.', and start and end "
            "with a letter or digit"
        )
    try:
        ipaddress.IPv4Address(bucket)
    except ValueError:
        pass
    else:
        return f"bucket {bucket!r} is an IP address"
    if bucket.startswith("goog") or _GOOGLE_LOOKALIKE.search(bucket):
        return f"bucket {bucket!r} starts with 'goog' or holds 'google' (or a lookalike), which Google refuses"
    return None


def _prefix_problem(prefix: str) -> str | None:
    if "\r" in prefix or "\n" in prefix:
        return "an object name holds no line breaks"
    if len(prefix.encode("utf-8")) > _OBJECT_NAME_MAX_BYTES:
        return f"the prefix is over {_OBJECT_NAME_MAX_BYTES} bytes, the longest object name"
    return None


def table_problem(path: str) -> str | None:
    """Why ``project.dataset[.table]`` (a ``bq://`` URI without its scheme) names no valid BigQuery dataset or
    table, or None. A project may be domain-scoped (``example.com:my-project``)."""
    parts = _table_parts(path)
    if len(parts) not in (2, 3):
        return "not bq://project.dataset.table"
    project, dataset, *table = parts
    if not _PROJECT_ID.fullmatch(project):
        return (
            f"project {project!r} is not a Google Cloud project id (6-30 lowercase letters, digits and '-', "
            "starting with a letter)"
        )
    if not _DATASET_ID.fullmatch(dataset):
        return f"dataset {dataset!r} must be 1-1024 letters, digits and '_'"
    if table and not _table_id(table[0]):
        return (
            f"table {table[0]!r} must be 1-{_TABLE_ID_MAX_BYTES} bytes of letters, marks, digits, '_' and '-' "
            "(no dots or spaces)"
        )
    return None


def _table_parts(path: str) -> list[str]:
    """Project, dataset and (if named) table; a domain-scoped project keeps its dots."""
    domain, colon, rest = path.rpartition(":")
    parts = rest.split(".")
    parts[0] = domain + colon + parts[0]
    return parts


def _table_id(table: str) -> bool:
    return 0 < len(table.encode("utf-8")) <= _TABLE_ID_MAX_BYTES and all(
        unicodedata.category(char)[0] in "LMN" or unicodedata.category(char) in ("Pc", "Pd") for char in table
    )


def _object_name(display_name: str | None) -> str:
    """A ``.jsonl`` object name from a display name."""
    stem = (display_name or "").removesuffix(".jsonl")
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-.")[:100] or "batch-input"
    if identity_in_file_name(display_name) is not None:
        return f"{stem}.jsonl"  # the same on every try: a later one finds the upload (find_upload)
    return f"{stem}-{uuid.uuid4().hex[:12]}.jsonl"
