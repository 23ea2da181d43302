"""AWS plumbing for httpx: SigV4 signing through botocore, credentials, query encoding, error bodies.

botocore is imported only when a request is signed or credentials are resolved, so the provider works
without it until an AWS connection is used; then a missing botocore names the ``bedrock`` extra.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncGenerator, Callable, Generator, Iterable
from typing import Protocol
from urllib.parse import quote
from xml.etree import ElementTree

import httpx

from airflow_provider_genai_batch.errors import (
    CredentialsUnavailableError,
    GenAIBatchError,
    NotFoundError,
    ProviderAPIError,
)
from airflow_provider_genai_batch.hooks.http import Redactor, error_text

log = logging.getLogger(__name__)

SIGN_AS_HEADER = "x-genai-batch-sign-as"
"""Set on a request to sign it for another AWS service than the client's (S3 calls on the Bedrock client);
the signer removes it before the request is sent."""
BOTOCORE_MISSING = "Amazon Bedrock support needs botocore: pip install 'airflow-provider-genai-batch[bedrock]'"


class FrozenCredentials(Protocol):
    """A snapshot of AWS credentials, as botocore's ``ReadOnlyCredentials`` (what its signers read)."""

    @property
    def access_key(self) -> str: ...

    @property
    def secret_key(self) -> str: ...

    @property
    def token(self) -> str | None: ...


class AwsCredentials(Protocol):
    """botocore ``Credentials``, static or refreshable: what a signer freezes before each signature."""

    def get_frozen_credentials(self) -> FrozenCredentials: ...


CredentialSource = Callable[[], AwsCredentials]
"""Returns botocore ``Credentials`` (refreshable or static); called once, on the first signed request."""


def require_botocore() -> None:
    """Raise a clear error naming the ``bedrock`` extra when botocore is not installed."""
    try:
        import botocore  # noqa: F401
    except ImportError as err:
        raise GenAIBatchError(BOTOCORE_MISSING) from err


class SigV4Auth(httpx.Auth):
    """Signs each request with AWS Signature V4 (botocore's signers) just before it is sent.

    Only ``Content-Type`` and ``host`` are signed besides the ``X-Amz-*`` headers botocore adds. A body
    that streams (an S3 upload part) is signed as ``UNSIGNED-PAYLOAD`` so it is never held in memory;
    credentials are resolved lazily, off the event loop for async clients.
    """

    def __init__(self, credentials: CredentialSource, region: str, service: str) -> None:
        self._source = credentials
        self._credentials: AwsCredentials | None = None
        self._lock = threading.Lock()
        self.region = region
        self.service = service

    def frozen_credentials(self) -> FrozenCredentials:
        """The current access key, secret and token (refreshed by botocore when they expire).

        A refresh that fails for a passing reason (see :func:`passing_credential_failure`) raises
        :class:`CredentialsUnavailableError`, which a wait polls through; any other failure (a role that may not be
        assumed, say) a GenAIBatchError, which a cancel reports and a wait ends on.
        """
        try:
            with self._lock:
                if self._credentials is None:
                    self._credentials = self._source()
                credentials = self._credentials
            return credentials.get_frozen_credentials()
        except GenAIBatchError:
            raise
        except Exception as err:
            if passing_credential_failure(err):
                raise CredentialsUnavailableError(f"could not get AWS credentials: {err}") from err
            raise GenAIBatchError(f"could not get AWS credentials: {err}") from err

    def sign(self, request: httpx.Request, credentials: FrozenCredentials) -> None:
        """Add ``Authorization``, ``X-Amz-Date`` (and token, content hash) headers to ``request``."""
        require_botocore()
        from botocore.auth import S3SigV4Auth
        from botocore.auth import SigV4Auth as BotoSigV4Auth
        from botocore.awsrequest import AWSRequest
        from botocore.config import Config

        service = request.headers.pop(SIGN_AS_HEADER, None) or self.service
        try:
            body: bytes | None = request.content
        except httpx.RequestNotRead:
            body = None
        headers = {"Content-Type": request.headers["content-type"]} if "content-type" in request.headers else {}
        aws = AWSRequest(method=request.method, url=str(request.url), data=body or None, headers=headers)
        if service == "s3":
            if body is None:
                aws.context["client_config"] = Config(s3={"payload_signing_enabled": False})
            S3SigV4Auth(credentials, service, self.region).add_auth(aws)
        else:
            if body is None:
                raise GenAIBatchError(f"a streamed body cannot be signed for {service}")
            BotoSigV4Auth(credentials, service, self.region).add_auth(aws)
        request.headers.update(dict(aws.headers.items()))

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self.sign(request, self.frozen_credentials())
        yield request

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        credentials = await asyncio.to_thread(self.frozen_credentials)
        self.sign(request, credentials)
        yield request


THROTTLING_CODES = frozenset({"Throttling", "ThrottlingException", "RequestLimitExceeded", "TooManyRequestsException"})
"""Error codes AWS services (STS among them) answer a caller that asks too often with."""


def passing_credential_failure(error: BaseException) -> bool:
    """Whether credentials failed to arrive for a passing reason: their endpoint (STS, the instance or container
    metadata service) unreachable or timing out, a provider that could not answer, or an answer of throttling or
    a server error."""
    require_botocore()
    from botocore.exceptions import ClientError, ConnectionError, CredentialRetrievalError, HTTPClientError

    if isinstance(error, (ConnectionError, HTTPClientError, CredentialRetrievalError)):
        return True
    if not isinstance(error, ClientError):
        return False
    code = error.response.get("Error", {}).get("Code")
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
    return code in THROTTLING_CODES or status >= 500


def resolve_credentials(
    *,
    access_key_id: str | None,
    secret_access_key: str | None,
    aws_conn_id: str | None,
    region: str,
) -> AwsCredentials:
    """botocore credentials: the connection's own keys, else an Amazon connection, else botocore's default chain.

    ``aws_conn_id`` is read through apache-airflow-providers-amazon's ``AwsBaseHook`` session when that
    provider is installed; without it the default chain (environment, shared files, instance roles) is used.
    """
    require_botocore()
    import botocore.session
    from botocore.credentials import Credentials

    if access_key_id and secret_access_key:
        static: AwsCredentials = Credentials(access_key_id, secret_access_key)  # botocore has no type hints
        return static
    if aws_conn_id:
        try:
            from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
        except ImportError:
            log.warning(
                "aws_conn_id=%r is set but apache-airflow-providers-amazon is not installed; "
                "using botocore's default credential chain",
                aws_conn_id,
            )
        else:
            hook = AwsBaseHook(aws_conn_id=aws_conn_id, client_type="bedrock", region_name=region)
            return _required(hook.get_session().get_credentials(), f"the Amazon connection {aws_conn_id!r}")
    return _required(botocore.session.get_session().get_credentials(), "botocore's default chain")


def _required(credentials: AwsCredentials | None, where: str) -> AwsCredentials:
    if credentials is None:
        raise GenAIBatchError(
            f"no AWS credentials found in {where}: set the connection's login/password, "
            "aws_conn_id, or the usual AWS environment variables"
        )
    return credentials


def aws_query(params: Iterable[tuple[str, str | int]]) -> str:
    """A query string encoded as SigV4 canonicalises it (RFC 3986, only ``-_.~`` left bare)."""
    return "&".join(f"{quote(name, safe='-_.~')}={quote(str(value), safe='-_.~')}" for name, value in params)


def aws_error(response: httpx.Response, provider: str, redact: Redactor) -> ProviderAPIError:
    """An AWS error answer as a typed exception: REST-JSON (``x-amzn-ErrorType`` + ``{"message"}``) or S3 XML."""
    error_type = (response.headers.get("x-amzn-errortype") or "").split(":", 1)[0] or None
    message: str | None = None
    content_type = response.headers.get("content-type", "")
    if "json" in content_type:
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            message = body.get("message") or body.get("Message")
            error_type = error_type or (str(body.get("__type", "")).rsplit("#", 1)[-1] or None)
    elif response.content.lstrip().startswith(b"<"):
        error_type, message = _xml_error(response.content, error_type)
    cls = NotFoundError if response.status_code == 404 else ProviderAPIError
    return cls(
        error_text(response, message or response.text, redact),
        http_status=response.status_code,
        provider_status=error_type,
        provider=provider,
    )


def _xml_error(content: bytes, error_type: str | None) -> tuple[str | None, str | None]:
    try:
        root = ElementTree.fromstring(content)
    except ElementTree.ParseError:
        return error_type, None
    return root.findtext("Code") or error_type, root.findtext("Message")
