"""Amazon Bedrock batch inference (model invocation jobs) over SigV4-signed httpx: S3 in, S3 out.

The control plane (``bedrock.<region>.amazonaws.com``) and S3 are both called through the hook's one
httpx client; each request is signed for its service by :class:`.aws.SigV4Auth`. Input files are
streamed to the connection's S3 input prefix; results are read from ``<output prefix>/<job-id>/``.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from functools import partial
from typing import IO, Any, ClassVar
from urllib.parse import quote

import httpx
from pydantic import ConfigDict, Field, SecretStr, ValidationError, field_validator

from airflow_provider_genai_batch.errors import GenAIBatchError, NotFoundError, ProviderAPIError
from airflow_provider_genai_batch.formats import bedrock as wire
from airflow_provider_genai_batch.formats.dialect import Dialect
from airflow_provider_genai_batch.formats.results import ResultRow, iter_result_rows, key_field
from airflow_provider_genai_batch.hooks import s3
from airflow_provider_genai_batch.hooks.aws import (
    SigV4Auth,
    aws_error,
    aws_query,
    require_botocore,
    resolve_credentials,
)
from airflow_provider_genai_batch.hooks.base import BatchHook, ConnectionSettings
from airflow_provider_genai_batch.hooks.http import ApiRequest, Operation, Page
from airflow_provider_genai_batch.hooks.settings import (
    OUTPUT_LIMIT_NAMES,
    credential,
    extras_for,
    invalid_connection,
)
from airflow_provider_genai_batch.idempotency import JobIdentity, identity_in_file_name
from airflow_provider_genai_batch.models import BatchJob, FileInfo, TokenUsage
from airflow_provider_genai_batch.spec import BatchSpec, FileSource
from airflow_provider_genai_batch.usage import bedrock_manifest_usage

LIST_PAGE_SIZE = 100
CONSOLE_URL = "https://{region}.console.aws.amazon.com/bedrock/home?region={region}#/batch-inference"
_CREDENTIAL_EXTRAS = {
    name: "AWS credentials go in the login and password fields (or in the connection aws_conn_id names)"
    for name in ("aws_access_key_id", "aws_secret_access_key")
}
"""Settings read from the connection's login and password, never from its extras."""


class BedrockSettings(ConnectionSettings):
    """A Bedrock connection: region, service role, S3 prefixes, job timeout, invocation type, credentials."""

    model_config = ConfigDict(validate_by_name=True)  # fields with alias choices are also set by their names

    connection_fields: ClassVar[frozenset[str]] = frozenset(
        {"api_key", "base_url", "aws_access_key_id", "aws_secret_access_key"}
    )
    extra_only: ClassVar[frozenset[str]] = ConnectionSettings.extra_only | {"vpc_config"}

    region: str | None = Field(
        default=None,
        title="AWS region",
        description="Region of the Bedrock jobs and their buckets (default: AWS_REGION).",
    )
    role_arn: str | None = Field(
        default=None,
        title="Service role ARN",
        description="The role Bedrock assumes to read the input and write the output in S3.",
        json_schema_extra={"pattern": "^arn:aws(-[^:]+)?:iam::"},
    )
    input_s3_uri: str | None = Field(
        default=None,
        title="S3 input prefix",
        description="s3://bucket/prefix where input files are uploaded.",
        json_schema_extra={"pattern": "^s3://"},
    )
    output_s3_uri: str | None = Field(
        default=None,
        title="S3 output prefix",
        description="s3://bucket/prefix where Bedrock writes <job-id>/<input>.out.",
        json_schema_extra={"pattern": "^s3://"},
    )
    output_kms_key_id: str | None = Field(
        default=None,
        title="Output KMS key (optional)",
        description="KMS key Bedrock encrypts the job output with (s3EncryptionKeyId): a key id, key ARN, alias or "
        "alias ARN; empty: the output bucket's default encryption.",
    )
    vpc_config: wire.VpcConfig | None = Field(
        default=None,
        description='The VPC through which jobs reach S3 (vpcConfig), given in the extra only: {"subnet_ids": [...], '
        '"security_group_ids": [...]}.',
    )
    timeout_hours: int = Field(
        default=24, ge=wire.MIN_TIMEOUT_HOURS, le=wire.MAX_TIMEOUT_HOURS, title="Job timeout (hours)"
    )
    model_invocation_type: wire.InvocationType = Field(
        default=wire.INVOKE_MODEL,
        title="Model invocation type",
        description="Shape of modelInput: the model's InvokeModel body, or a Converse request.",
    )
    aws_conn_id: str | None = Field(
        default=None,
        title="Amazon connection (optional)",
        description="Take credentials from this Amazon Web Services connection (needs the amazon provider); "
        "empty: login/password, else botocore's default chain.",
    )
    endpoint_url: str | None = Field(
        default=None,
        title="Bedrock endpoint URL (optional)",
        description="Default https://bedrock.<region>.amazonaws.com.",
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        title="S3 endpoint URL (optional)",
        description="An S3-compatible endpoint (path-style); default: AWS S3 in the region.",
    )
    upload_part_size: int = Field(
        default=8 * 1024 * 1024,
        ge=s3.MIN_PART_SIZE,
        le=s3.MAX_PART_SIZE,
        title="Upload part size (bytes)",
        description="S3 multipart upload part size; 5 MiB to 5 GiB.",
    )
    default_output_limit: int = Field(
        default=4096,
        ge=1,
        validation_alias=OUTPUT_LIMIT_NAMES,
        title="Default max tokens",
        description="max_tokens of a translated request that sets no maxOutputTokens.",
    )
    aws_access_key_id: str | None = None
    aws_secret_access_key: SecretStr | None = None

    @field_validator("role_arn")
    @classmethod
    def _role_arn(cls, value: str | None) -> str | None:
        if value is not None and not wire.ROLE_ARN.fullmatch(value):
            raise ValueError(f"{value!r} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)")
        return value

    @field_validator("output_kms_key_id")
    @classmethod
    def _kms_key_id(cls, value: str | None) -> str | None:
        if value is not None:
            wire.check_kms_key_id(value)
        return value

    @field_validator("input_s3_uri", "output_s3_uri")
    @classmethod
    def _s3_uri(cls, value: str | None) -> str | None:
        if value is not None and not wire.S3_URI.fullmatch(value):
            raise ValueError(f"{value!r} is not an s3://bucket/prefix URI Bedrock accepts")
        return value


class BedrockBatchHook(BatchHook[BedrockSettings]):
    """Model invocation jobs on Amazon Bedrock, with the input and output in S3.

    Credentials: the connection's login/password (access key id / secret), else ``aws_conn_id`` (an
    Amazon connection, through apache-airflow-providers-amazon), else botocore's default chain.
    """

    default_conn_name = "bedrock_batch_default"
    conn_type = "genaibedrock"
    hook_name = "GenAI Batch: Amazon Bedrock"

    provider: ClassVar[str] = wire.PROVIDER
    settings_model: ClassVar[type[ConnectionSettings]] = BedrockSettings

    @classmethod
    def settings_from_connection(cls, conn: Any) -> BedrockSettings:
        extras = extras_for(BedrockSettings, conn, elsewhere=_CREDENTIAL_EXTRAS)
        region = extras.pop("region", None) or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if not region:
            raise GenAIBatchError(f"connection {conn.conn_id!r} has no region (set the 'region' extra)")
        endpoint = extras.get("endpoint_url") or f"https://bedrock.{region}.amazonaws.com"
        access_key_id = credential(conn, conn.login, "AWS access key ID (login field)")
        secret_access_key = credential(conn, conn.password, "AWS secret access key (password field)")
        try:
            return BedrockSettings(
                base_url=endpoint,
                region=region,
                aws_access_key_id=access_key_id,
                aws_secret_access_key=SecretStr(secret_access_key) if secret_access_key else None,
                **extras,
            )
        except ValidationError as err:
            raise invalid_connection(conn.conn_id, cls.provider, err) from None

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """AWS credentials in login/password (both optional); the endpoint comes from the region."""
        return {
            "hidden-fields": ["schema", "port", "host"],
            "relabeling": {"login": "AWS access key ID (optional)", "password": "AWS secret access key (optional)"},
            "placeholders": {"login": "empty: aws_conn_id or the default credential chain"},
        }

    def auth_headers(self, settings: BedrockSettings) -> dict[str, str]:
        return {}

    def http_auth(self, settings: BedrockSettings) -> httpx.Auth:
        """SigV4 for service ``bedrock`` (S3 requests ask to be signed for ``s3``)."""
        require_botocore()
        secret = settings.aws_secret_access_key
        source = partial(
            resolve_credentials,
            access_key_id=settings.aws_access_key_id,
            secret_access_key=secret.get_secret_value() if secret else None,
            aws_conn_id=settings.aws_conn_id,
            region=self._region(settings),
        )
        return SigV4Auth(source, self._region(settings), "bedrock")

    def secrets(self) -> tuple[str, ...]:
        secret = self.settings.aws_secret_access_key
        return (secret.get_secret_value(),) if secret else ()

    def _to_error(self, response: httpx.Response) -> ProviderAPIError:
        return aws_error(response, self.provider, self.redact)

    @staticmethod
    def _region(settings: BedrockSettings) -> str:
        assert settings.region is not None  # settings_from_connection always sets it
        return settings.region

    def _submission_settings(self) -> BedrockSettings:
        """The settings, checked to hold what submitting a job needs (before anything is written to S3)."""
        settings = self.settings
        missing = [name for name in ("role_arn", "input_s3_uri", "output_s3_uri") if not getattr(settings, name)]
        if missing:
            raise GenAIBatchError(f"connection {self.conn_id!r} needs {', '.join(missing)} to submit Bedrock jobs")
        return settings

    def build_dialect(self) -> Dialect:
        settings = self.settings
        return wire.BedrockDialect(
            invocation_type=settings.model_invocation_type, default_max_tokens=settings.default_output_limit
        )

    def check_submittable(self) -> None:
        self._submission_settings()

    def check_model(self, model: str) -> None:
        """A ``modelId`` a batch job in the connection's region takes, checked before the input is written to S3 (the
        create refuses any other, and would leave the uploaded input behind)."""
        try:
            wire.check_model_id(model, self._region(self.settings))
        except ValueError as err:
            raise GenAIBatchError(f"bedrock model: {err}") from None

    def new_output_problem(self, destination: str | None) -> str | None:
        """Why a job's results could not be read back from the connection's ``output_s3_uri``: the job's role writes
        them there, and this connection reads them, so credentials that cannot would find out only once the job was
        billed. Asked by a HEAD of an object under the prefix (S3 answers 404 for a missing one where reading is
        allowed, 403 where the caller lacks ``s3:GetObject`` or ``s3:ListBucket`` there); an answer other than a
        refusal leaves the question to the landing."""
        output = self.settings.output_s3_uri
        if not output:
            return None
        probe = self._object(output).child(READ_CHECK_NAME)
        try:
            self.run(s3.head(self._s3, probe))
        except NotFoundError:
            return None
        except ProviderAPIError as err:
            if err.http_status not in (401, 403):
                return None
            return (
                f"connection {self.conn_id!r} cannot read the job's results back from output_s3_uri {output}: S3 "
                f"answered {err.http_status} to a HEAD of {probe.uri}; its credentials need s3:GetObject and "
                "s3:ListBucket there (the job's role writes the results, this connection reads them)"
            )
        return None

    # --- files (S3 objects, named by s3:// URIs) -----------------------------------------------------------

    @property
    def _s3(self) -> s3.S3Endpoint:
        return s3.S3Endpoint(self._region(self.settings), self.settings.s3_endpoint_url)

    @staticmethod
    def _object(uri: str) -> s3.S3Object:
        try:
            return s3.S3Object.parse(uri)
        except ValueError as err:
            raise GenAIBatchError(f"bedrock files are S3 objects: {err}") from None

    def _op_upload_file(
        self, stream: IO[bytes], size: int, display_name: str | None, mime_type: str
    ) -> Operation[FileInfo]:
        """Stream the input under the input prefix as ``<name>-<random>.jsonl`` (PutObject or multipart)."""
        settings = self._submission_settings()
        target = self._upload_target(display_name)
        return (
            yield from s3.upload(
                self._s3,
                target,
                stream,
                size,
                part_size=settings.upload_part_size,
                content_type=mime_type,
                max_resends=settings.max_retries,
            )
        )

    def _upload_target(self, display_name: str | None) -> s3.S3Object:
        """The object an upload named ``display_name`` writes, under the connection's input prefix."""
        settings = self._submission_settings()
        assert settings.input_s3_uri is not None
        return self._object(settings.input_s3_uri).child(_object_name(display_name))

    def _op_find_upload(self, name: str, not_before: datetime | None) -> Operation[FileInfo | None]:
        """The object an upload named ``name`` wrote (its name is the same on every try), read with a HEAD."""
        try:
            return (yield from s3.head(self._s3, self._upload_target(name)))
        except NotFoundError:
            return None

    def _op_get_file(self, name: str) -> Operation[FileInfo]:
        return (yield from s3.head(self._s3, self._object(name)))

    def _op_list_files(self, page_token: str | None) -> Operation[Page[FileInfo]]:
        """The objects under the connection's input prefix."""
        prefix = self.settings.input_s3_uri
        if not prefix:
            raise GenAIBatchError(f"connection {self.conn_id!r} has no input_s3_uri to list")
        return (yield from s3.list_objects(self._s3, self._object(prefix.rstrip("/") + "/"), page_token))

    def _op_delete_file(self, name: str) -> Operation[None]:
        yield from s3.delete(self._s3, self._object(name))

    def _download_request(self, name: str) -> ApiRequest:
        return s3.get(self._s3, self._object(name))

    # --- model invocation jobs ---------------------------------------------------------------------------

    def _op_create_batch(self, spec: BatchSpec) -> Operation[BatchJob]:
        """CreateModelInvocationJob with ``clientRequestToken`` = key and fingerprint, then the job itself.

        With a token the create is idempotent at Bedrock (the same token returns the same job), so a
        transient failure is simply retried; the job name ends in the key, for ``nameContains`` lookups.
        """
        assert isinstance(spec.source, FileSource)  # the dialect allows file input only
        settings = self._submission_settings()
        key = spec.idempotency_key
        try:
            token = wire.client_request_token(key, spec.input_fingerprint, spec.replaces) if key is not None else None
            body = wire.create_job_body(
                name=wire.job_name(spec.display_name, key),
                role_arn=settings.role_arn or "",
                model=spec.model,
                input_uri=spec.source.file_name,
                output_uri=settings.output_s3_uri or "",
                timeout_hours=settings.timeout_hours,
                invocation_type=settings.model_invocation_type,
                client_request_token=token,
                output_kms_key_id=settings.output_kms_key_id,
                vpc=settings.vpc_config,
            )
        except ValueError as err:
            raise GenAIBatchError(str(err)) from None
        response = yield ApiRequest("POST", "model-invocation-job", json=body, retry=token is not None)
        return (yield from self._op_get_batch(response.json()["jobArn"]))

    def _op_get_batch(self, name: str) -> Operation[BatchJob]:
        """``name`` is the job ARN (percent-encoded whole into the path) or its 12-character id."""
        response = yield ApiRequest("GET", f"model-invocation-job/{quote(name, safe='')}")
        return wire.parse_job(response.json())

    def _op_list_batches(
        self, page_token: str | None, name_contains: str | None = None, submitted_after: datetime | None = None
    ) -> Operation[Page[BatchJob]]:
        params: list[tuple[str, str | int]] = [
            ("maxResults", LIST_PAGE_SIZE),
            ("sortBy", "CreationTime"),
            ("sortOrder", "Descending"),
        ]
        if name_contains:
            params.append(("nameContains", name_contains))
        if submitted_after is not None:
            params.append(("submitTimeAfter", _iso8601(submitted_after)))
        if page_token:
            params.append(("nextToken", page_token))
        response = yield ApiRequest("GET", f"model-invocation-jobs?{aws_query(params)}")
        body = response.json()
        return Page([wire.parse_job(item) for item in body.get("invocationJobSummaries") or []], body.get("nextToken"))

    def _op_cancel_batch(self, name: str) -> Operation[None]:
        """StopModelInvocationJob: the job goes Stopping, then Stopped."""
        yield ApiRequest("POST", f"model-invocation-job/{quote(name, safe='')}/stop", retry=True)

    def _jobs_that_may_carry(self, idempotency_key: str) -> Iterator[BatchJob]:
        """Only the jobs whose name contains the key (ours end in it), newest first."""
        return self._iter_pages(partial(self._op_list_batches, name_contains=idempotency_key))

    def _jobs_since(self, idempotency_key: str, not_before: datetime) -> Iterator[BatchJob]:
        """Only the jobs whose name contains the key, submitted after ``not_before``: the service filters both."""
        return self._iter_pages(
            partial(self._op_list_batches, name_contains=idempotency_key, submitted_after=not_before)
        )

    # --- results -----------------------------------------------------------------------------------------

    def _result_rows(self, job: BatchJob) -> Iterator[ResultRow]:
        """Rows of ``<out>/<job-id>/<input>.out`` (every ``.out`` there for a folder input), joined later on recordId.

        A job that failed, expired or was stopped may have written nothing: then there are no rows. One that
        completed, even partially, wrote its output: that output missing is an error, not every row missing (which
        a follow-up round would pay for again). A line that cannot be read is a failed row, never the end of the
        stream.
        """
        for uri in self._result_files(job):
            try:
                yield from iter_result_rows(
                    self.iter_file_lines(uri), uri, self.dialect.result_row, key_field("recordId")
                )
            except NotFoundError:
                if job.state.is_success:
                    raise
                self.log.info("no output at %s for the %s job %s", uri, job.provider_state, job.name)

    def reported_usage(self, job: BatchJob) -> TokenUsage | None:
        """The totals of the job's ``manifest.json.out`` next to its output; None where it wrote none (yet)."""
        directory = wire.job_output_dir(job.raw)
        if directory is None:
            return None
        try:
            text = b"".join(self.iter_file_bytes(directory + wire.MANIFEST_NAME))
        except NotFoundError:
            return None
        except ProviderAPIError as err:
            self.log.warning(
                "could not read the %s of %s (%s); its token totals are not used", wire.MANIFEST_NAME, job.name, err
            )
            return None
        try:
            manifest = json.loads(text)
        except ValueError:
            self.log.warning("the %s of %s is not JSON; its token totals are not used", wire.MANIFEST_NAME, job.name)
            return None
        return bedrock_manifest_usage(manifest) if isinstance(manifest, dict) else None

    def _result_files(self, job: BatchJob) -> list[str]:
        if job.output_file:
            return [job.output_file]
        directory = wire.job_output_dir(job.raw)
        if directory is None:
            return []
        listing = self._iter_pages(partial(s3.list_objects, self._s3, self._object(directory)))
        return [
            item.name
            for item in listing
            if item.name.endswith(wire.OUTPUT_SUFFIX) and not item.name.endswith("/" + wire.MANIFEST_NAME)
        ]

    @classmethod
    def console_url(cls, job_name: str) -> str:
        """The Bedrock console's batch inference page in the job's region (read from its ARN)."""
        parts = job_name.split(":")
        region = parts[3] if job_name.startswith("arn:") and len(parts) > 3 else "us-east-1"
        return CONSOLE_URL.format(region=region)

    def identity_of(self, job: BatchJob) -> JobIdentity | None:
        """Read from the whole ``clientRequestToken`` only: a key merely contained in a name or token is not ours."""
        return wire.identity_in_client_request_token(job.raw.get("clientRequestToken"))


READ_CHECK_NAME = "genai-batch-read-check"
"""The object under ``output_s3_uri`` whose HEAD asks whether the connection can read there (it need not exist)."""


def _iso8601(moment: datetime) -> str:
    """A query timestamp as botocore writes one (UTC, ``Z``, microseconds only when there are some)."""
    utc = moment.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if utc.microsecond else "%Y-%m-%dT%H:%M:%SZ")


def _object_name(display_name: str | None) -> str:
    """A ``.jsonl`` object name from a display name, in the characters Bedrock's S3 URIs allow."""
    stem = (display_name or "").removesuffix(".jsonl")
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-.")[:100] or "batch-input"
    if identity_in_file_name(display_name) is not None:
        return f"{stem}.jsonl"  # the same on every try: a later one finds the upload (find_upload)
    return f"{stem}-{uuid.uuid4().hex[:12]}.jsonl"
