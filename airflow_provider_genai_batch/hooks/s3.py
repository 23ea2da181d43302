"""S3 over signed httpx, as sans-IO operations: streamed uploads (PutObject or multipart), HEAD, list, delete, GET.

Objects are named by ``s3://bucket/key`` URIs. Every request carries the sign-as-``s3`` marker, so one
client (the Bedrock hook's) signs its S3 calls for the right service. Upload parts stream from the
source in slices; memory holds each part's ETag, never its bytes.
"""

from __future__ import annotations

import contextlib
import email.utils
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO
from urllib.parse import quote
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from airflow_provider_genai_batch.errors import GenAIBatchError, NotFoundError, ProviderAPIError, UnreadableAnswerError
from airflow_provider_genai_batch.formats.times import parse_rfc3339
from airflow_provider_genai_batch.hooks.aws import SIGN_AS_HEADER, aws_query
from airflow_provider_genai_batch.hooks.http import ApiRequest, Operation, Page, StreamSlice
from airflow_provider_genai_batch.hooks.retry import TransientFailure
from airflow_provider_genai_batch.models import FileInfo

S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
MIN_PART_SIZE = 5 * 1024 * 1024
MAX_PART_SIZE = 5 * 1024**3
"""S3's largest part of a multipart upload, and largest PutObject."""
MAX_PARTS = 10_000
"""The most parts one multipart upload may have."""
LIST_PAGE_SIZE = 1000
_SIGN_AS_S3 = {SIGN_AS_HEADER: "s3"}


@dataclass(frozen=True)
class S3Object:
    """A bucket and a key (or key prefix)."""

    bucket: str
    key: str

    @classmethod
    def parse(cls, uri: str) -> S3Object:
        """``s3://bucket/key`` as an S3Object; ValueError for anything else."""
        if not uri.startswith("s3://"):
            raise ValueError(f"not an s3:// URI: {uri!r}")
        bucket, _, key = uri[5:].partition("/")
        if not bucket:
            raise ValueError(f"no bucket in {uri!r}")
        return cls(bucket, key)

    @property
    def uri(self) -> str:
        """The ``s3://`` URI."""
        return f"s3://{self.bucket}/{self.key}"

    def child(self, name: str) -> S3Object:
        """The object ``name`` under this key taken as a folder."""
        return S3Object(self.bucket, f"{self.key.rstrip('/')}/{name}" if self.key else name)


@dataclass(frozen=True)
class S3Endpoint:
    """Where S3 requests go: a custom endpoint (path-style), else the region's virtual-hosted endpoint."""

    region: str
    endpoint_url: str | None = None

    def url(self, obj: S3Object, query: list[tuple[str, str | int]] | None = None) -> str:
        """The request URL of an object (or of its bucket, when the key is empty), with a canonical query."""
        path = quote(obj.key, safe="/~")  # every character but the unreserved ones, as SigV4 canonicalises
        if self.endpoint_url:
            base = f"{self.endpoint_url.rstrip('/')}/{obj.bucket}/{path}"
        elif "." in obj.bucket:
            base = f"https://s3.{self.region}.amazonaws.com/{obj.bucket}/{path}"
        else:
            base = f"https://{obj.bucket}.s3.{self.region}.amazonaws.com/{path}"
        return f"{base}?{aws_query(query)}" if query else base

    def request(
        self,
        method: str,
        obj: S3Object,
        query: list[tuple[str, str | int]] | None = None,
        *,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        retry: bool | None = None,
    ) -> ApiRequest:
        """An ApiRequest for ``obj``, marked to be signed for S3."""
        return ApiRequest(
            method, self.url(obj, query), content=content, headers={**_SIGN_AS_S3, **(headers or {})}, retry=retry
        )


def upload(
    endpoint: S3Endpoint,
    obj: S3Object,
    stream: IO[bytes],
    size: int,
    *,
    part_size: int,
    content_type: str,
    max_resends: int,
) -> Operation[FileInfo]:
    """Stream ``size`` bytes to ``obj``: one PutObject up to ``part_size``, else a multipart upload (of at most
    :data:`MAX_PARTS` parts: a larger upload is refused before any request).

    A part lost to a transient fault is sent again from its start (the stream must be seekable). A
    multipart upload that fails, however (a part or the completion refused, a connection that stays
    down, a completion failed in a 200), is aborted, so no parts are left stored and billed. The object made
    is described as S3 stores it (see :func:`_stored`), so its size can be checked against the bytes sent.
    """
    if size > part_size * MAX_PARTS:
        raise GenAIBatchError(
            f"an upload of {size} bytes to {obj.uri} takes more than the {MAX_PARTS} parts S3 allows a multipart "
            f"upload at {part_size} bytes a part: raise the connection's upload_part_size (at most {MAX_PART_SIZE})"
        )
    origin = stream.tell() if stream.seekable() else None
    if size <= part_size:
        yield from _send_part(endpoint.request("PUT", obj), stream, origin, 0, size, max_resends, content_type)
        return (yield from _stored(endpoint, obj))
    created = yield endpoint.request("POST", obj, [("uploads", "")], headers={"Content-Type": content_type}, retry=True)
    upload_id = _xml_text(_answer_root(created.content, "InitiateMultipartUploadResult"), "UploadId")
    etags: list[str] = []
    try:
        for number, offset in enumerate(range(0, size, part_size), start=1):
            request = endpoint.request("PUT", obj, [("partNumber", number), ("uploadId", upload_id)])
            length = min(part_size, size - offset)
            etags.append((yield from _send_part(request, stream, origin, offset, length, max_resends, None)))
        try:
            yield from _complete(endpoint, obj, upload_id, etags, max_resends)
        except NotFoundError:  # NoSuchUpload: a completion sent again after its answer was lost may find it done
            if not (yield from _exists(endpoint, obj)):
                raise
    except Exception:
        yield from _abort(endpoint, obj, upload_id)
        raise
    return (yield from _stored(endpoint, obj))


def _exists(endpoint: S3Endpoint, obj: S3Object) -> Operation[bool]:
    """Whether S3 holds ``obj``: after a completion answered NoSuchUpload, whether an earlier one whose answer was
    lost made it (S3-compatible stores such as MinIO answer a repeated completion so; the object's name is this
    upload's own, and its size is checked next). Credentials that may not read it (a 403) cannot tell: False."""
    try:
        yield from head(endpoint, obj)
    except ProviderAPIError:
        return False
    return True


def _stored(endpoint: S3Endpoint, obj: S3Object) -> Operation[FileInfo]:
    """The object an upload made, as S3 describes it (HEAD): neither a PutObject's nor a completion's answer says how
    many bytes the object holds. Credentials that may write the object but not read it (a 403) leave its size
    unknown; an object S3 does not have after its upload was answered as done is an error."""
    try:
        return (yield from head(endpoint, obj))
    except NotFoundError:
        raise GenAIBatchError(f"S3 has no object at {obj.uri} after its upload was answered as done") from None
    except ProviderAPIError as err:
        if err.http_status != 403:
            raise
    return FileInfo(name=obj.uri, display_name=obj.key.rsplit("/", 1)[-1], uri=obj.uri)


COMPLETION_RETRIED = frozenset({"InternalError", "ServiceUnavailable", "SlowDown"})
"""Codes of a completion failed in a 200 that are worth sending it again, as S3 asks (botocore reads such an answer
as a 500 and retries it)."""


def _complete(
    endpoint: S3Endpoint, obj: S3Object, upload_id: str, etags: list[str], max_resends: int
) -> Operation[None]:
    """CompleteMultipartUpload, sent again while it fails in a 200 with a transient code (at most ``max_resends``
    times); any other failure in a 200 is raised."""
    resends = 0
    while True:
        done = yield endpoint.request(
            "POST",
            obj,
            [("uploadId", upload_id)],
            content=_complete_body(etags),
            headers={"Content-Type": "application/xml"},
            retry=True,
        )
        try:
            root = _answer_root(done.content, "CompleteMultipartUploadResult", "Error")
        except (ElementTree.ParseError, LookupError) as err:  # raised here, before the abort sends its own request
            raise UnreadableAnswerError(
                f"CompleteMultipartUpload answered HTTP {done.status_code} with a body that is not S3's answer "
                f"({type(err).__name__}: {err})",
                http_status=done.status_code,
                provider="s3",
            ) from err
        if _local(root.tag) != "Error":  # S3 can fail a completion with a 200 and an error body
            return
        code = root.findtext("Code")
        if code in COMPLETION_RETRIED and resends < max_resends:
            resends += 1
            continue
        raise ProviderAPIError(
            root.findtext("Message") or "CompleteMultipartUpload failed",
            http_status=200,
            provider_status=code,
            provider="s3",
        )


def _abort(endpoint: S3Endpoint, obj: S3Object, upload_id: str) -> Operation[None]:
    """AbortMultipartUpload, after a failure: one that fails too is left to the bucket's lifecycle rule, and the
    failure that made the upload stop is the one raised."""
    with contextlib.suppress(Exception):
        yield endpoint.request("DELETE", obj, [("uploadId", upload_id)])


def _send_part(
    request: ApiRequest,
    stream: IO[bytes],
    origin: int | None,
    offset: int,
    length: int,
    max_resends: int,
    content_type: str | None,
) -> Operation[str]:
    """PUT ``length`` bytes of the stream from ``offset``, resending from the start after a transient fault."""
    resends = 0
    while True:
        piece = StreamSlice(stream, length)
        headers = {**request.headers, "Content-Length": str(length)}
        if content_type:
            headers["Content-Type"] = content_type
        try:
            response = yield ApiRequest(request.method, request.url, content=piece, headers=headers, resumable=True)
        except TransientFailure as failure:
            if piece.exhausted:
                raise GenAIBatchError(f"the stream ended at byte {offset + piece.sent}") from None
            resends += 1
            if origin is None or resends > max_resends:
                raise GenAIBatchError(f"upload failed at byte {offset}: {failure}") from failure
            stream.seek(origin + offset)
            continue
        etag: str | None = response.headers.get("etag")
        if not etag:
            raise GenAIBatchError("S3 answered an upload without an ETag")
        return etag


def _complete_body(etags: list[str]) -> bytes:
    parts = "".join(
        f"<Part><PartNumber>{number}</PartNumber><ETag>{escape(etag)}</ETag></Part>"
        for number, etag in enumerate(etags, start=1)
    )
    return f'<CompleteMultipartUpload xmlns="{S3_NS[1:-1]}">{parts}</CompleteMultipartUpload>'.encode()


def head(endpoint: S3Endpoint, obj: S3Object) -> Operation[FileInfo]:
    """An object's size, type and modification time (HEAD)."""
    response = yield endpoint.request("HEAD", obj)
    modified = response.headers.get("last-modified")
    return FileInfo(
        name=obj.uri,
        display_name=obj.key.rsplit("/", 1)[-1],
        mime_type=response.headers.get("content-type"),
        size_bytes=int(response.headers.get("content-length") or 0),
        create_time=email.utils.parsedate_to_datetime(modified) if modified else None,
        uri=obj.uri,
    )


def list_objects(endpoint: S3Endpoint, prefix: S3Object, page_token: str | None) -> Operation[Page[FileInfo]]:
    """One ListObjectsV2 page of the objects under ``prefix``."""
    query: list[tuple[str, str | int]] = [("list-type", 2), ("max-keys", LIST_PAGE_SIZE), ("prefix", prefix.key)]
    if page_token:
        query.append(("continuation-token", page_token))
    response = yield endpoint.request("GET", S3Object(prefix.bucket, ""), query)
    root = _answer_root(response.content, "ListBucketResult")
    items = [
        FileInfo(
            name=f"s3://{prefix.bucket}/{item.findtext(f'{S3_NS}Key')}",
            display_name=(item.findtext(f"{S3_NS}Key") or "").rsplit("/", 1)[-1],
            size_bytes=int(item.findtext(f"{S3_NS}Size") or 0),
            create_time=parse_rfc3339(item.findtext(f"{S3_NS}LastModified")),
            uri=f"s3://{prefix.bucket}/{item.findtext(f'{S3_NS}Key')}",
        )
        for item in root.iter(f"{S3_NS}Contents")
    ]
    truncated = root.findtext(f"{S3_NS}IsTruncated") == "true"
    return Page(items, root.findtext(f"{S3_NS}NextContinuationToken") if truncated else None)


def delete(endpoint: S3Endpoint, obj: S3Object) -> Operation[None]:
    """Delete an object."""
    yield endpoint.request("DELETE", obj)


def get(endpoint: S3Endpoint, obj: S3Object) -> ApiRequest:
    """The GET of an object's bytes (streamed by the caller)."""
    return endpoint.request("GET", obj)


def _answer_root(content: bytes, *names: str) -> ElementTree.Element:
    """The root element of an S3 answer, which must be one of ``names``: a body that is not XML, or is another
    document (a proxy's HTML page parses as XML too), raises ParseError or LookupError, which the driver reports as
    an answer that is not the API's."""
    root = ElementTree.fromstring(content)
    if _local(root.tag) not in names:
        raise LookupError(f"the body's root element is <{_local(root.tag)}>, not S3's <{'> or <'.join(names)}>")
    return root


def _local(tag: str) -> str:
    """An element's name without S3's namespace."""
    return tag.removeprefix(S3_NS)


def _xml_text(root: ElementTree.Element, name: str) -> str:
    text = root.findtext(f"{S3_NS}{name}") or root.findtext(name)
    if not text:
        raise GenAIBatchError(f"S3 answered without {name}")
    return text
