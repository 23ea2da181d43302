"""Cloud Storage JSON API as sans-IO operations: resumable uploads, streamed downloads, metadata, listing, delete.

Objects are named by ``gs://bucket/name`` URIs. Uploads stream from the source in chunks (a multiple of
256 KiB) and resume after a transient failure from the offset the upload session says it committed;
memory never holds more than one slice of a chunk.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import quote

import httpx

from airflow_provider_genai_batch.errors import GenAIBatchError, ProviderAPIError
from airflow_provider_genai_batch.formats.times import parse_rfc3339
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
from airflow_provider_genai_batch.models import FileInfo

DEFAULT_ENDPOINT = "https://storage.googleapis.com"
CHUNK_GRANULE = 256 * 1024
"""Every chunk of a resumable upload but the last is a multiple of this many bytes."""
LIST_PAGE_SIZE = 1000
RESUME_INCOMPLETE = 308
_COMMITTED = re.compile(r"bytes=0-(\d+)")


@dataclass(frozen=True)
class GcsObject:
    """A bucket and an object name (or name prefix)."""

    bucket: str
    name: str

    @classmethod
    def parse(cls, uri: str) -> GcsObject:
        """``gs://bucket/name`` as a GcsObject; ValueError for anything else."""
        if not uri.startswith("gs://"):
            raise ValueError(f"not a gs:// URI: {uri!r}")
        bucket, _, name = uri[5:].partition("/")
        if not bucket:
            raise ValueError(f"no bucket in {uri!r}")
        return cls(bucket, name)

    @property
    def uri(self) -> str:
        """The ``gs://`` URI."""
        return f"gs://{self.bucket}/{self.name}"

    def child(self, name: str) -> GcsObject:
        """The object ``name`` under this name taken as a folder."""
        return GcsObject(self.bucket, f"{self.name.rstrip('/')}/{name}" if self.name else name)


@dataclass(frozen=True)
class GcsEndpoint:
    """Where Cloud Storage requests go: the JSON API root (``https://storage.googleapis.com`` or an emulator)."""

    url: str = DEFAULT_ENDPOINT

    def object_url(self, obj: GcsObject) -> str:
        """The JSON API URL of one object (its name percent-encoded whole, slashes included)."""
        return f"{self._root}/storage/v1/b/{quote(obj.bucket, safe='')}/o/{quote(obj.name, safe='')}"

    def bucket_url(self, bucket: str) -> str:
        """The JSON API URL of a bucket's object collection."""
        return f"{self._root}/storage/v1/b/{quote(bucket, safe='')}/o"

    def upload_url(self, bucket: str) -> str:
        """The URL that starts an upload into ``bucket``."""
        return f"{self._root}/upload/storage/v1/b/{quote(bucket, safe='')}/o"

    @property
    def _root(self) -> str:
        return self.url.rstrip("/")


def check_chunk_size(chunk_size: int) -> int:
    """``chunk_size`` if it is a positive multiple of 256 KiB; ValueError otherwise."""
    if chunk_size <= 0 or chunk_size % CHUNK_GRANULE:
        raise ValueError(f"upload chunk size {chunk_size} is not a positive multiple of {CHUNK_GRANULE} (256 KiB)")
    return chunk_size


def upload(
    endpoint: GcsEndpoint,
    obj: GcsObject,
    stream: IO[bytes],
    size: int,
    *,
    chunk_size: int,
    content_type: str,
    max_resumes: int,
) -> Operation[FileInfo]:
    """Stream ``size`` bytes to ``obj`` with a resumable upload, in chunks of ``chunk_size`` bytes.

    A chunk lost to a transient fault is not simply sent again: the session is asked what it committed
    (``Content-Range: bytes */<size>``), and the upload goes on from there (the stream must be seekable);
    ``max_resumes`` bounds the resumes since the session last committed more bytes, so a long upload through
    many faults still ends. A session Cloud Storage no longer knows (404 or 410: it expired) holds nothing that
    can be finished, so the upload starts over from the first byte in a new one, at most ``max_resumes`` times.
    """
    check_chunk_size(chunk_size)
    origin = stream.tell() if stream.seekable() else None
    restarts = 0
    while True:
        session = yield from _open_session(endpoint, obj, size, content_type)
        try:
            return (yield from _send_chunks(session, obj, stream, origin, size, chunk_size, max_resumes))
        except SessionGone as gone:
            restarts += 1
            if origin is None or restarts > max_resumes:
                raise GenAIBatchError(
                    f"upload to {obj.uri} failed: its session ended (HTTP {gone.status}) after {gone.offset} of "
                    f"{size} bytes"
                ) from None
            stream.seek(origin)


def _open_session(endpoint: GcsEndpoint, obj: GcsObject, size: int, content_type: str) -> Operation[str]:
    """Open a resumable upload session; its URI."""
    started = yield ApiRequest(
        "POST",
        endpoint.upload_url(obj.bucket),
        params={"uploadType": "resumable", "name": obj.name},
        json={"name": obj.name, "contentType": content_type},
        headers={"X-Upload-Content-Type": content_type, "X-Upload-Content-Length": str(size)},
        retry=True,  # only opens a session: nothing is stored until its last byte arrives
    )
    session: str | None = started.headers.get("location")
    if not session:
        raise GenAIBatchError("Cloud Storage opened an upload without a session URI (no Location header)")
    return session


def _send_chunks(
    session: str, obj: GcsObject, stream: IO[bytes], origin: int | None, size: int, chunk_size: int, max_resumes: int
) -> Operation[FileInfo]:
    """Send the stream into an open session from its first byte; SessionGone when the session is no longer known.

    A chunk answered other than Cloud Storage answers it (a success before the last byte, or a last chunk's
    success without the object: a proxy's answer, not the session's) is treated as lost: the session is asked."""
    offset, resumes = 0, Resumes(max_resumes)
    while True:
        length = min(chunk_size, size - offset)
        chunk = StreamSlice(stream, length)
        content_range = f"bytes {offset}-{offset + length - 1}/{size}" if length else f"bytes */{size}"
        try:
            problem: Exception | None
            try:
                response = yield ApiRequest(
                    "PUT",
                    session,
                    content=chunk,
                    headers={"Content-Length": str(length), "Content-Range": content_range},
                    resumable=True,
                    answers=frozenset({RESUME_INCOMPLETE}),
                )
                problem = _chunk_problem(response, obj, size, offset + length)
            except TransientFailure as failure:
                if chunk.exhausted:
                    raise GenAIBatchError(f"the stream ended at byte {offset + chunk.sent} of {size}") from None
                problem = failure
            if problem is not None:
                if origin is None or not resumes.another(offset):
                    raise GenAIBatchError(
                        f"upload to {obj.uri} failed at byte {offset} of {size}: {problem}"
                    ) from problem
                response = yield ApiRequest(
                    "PUT",
                    session,
                    headers={"Content-Length": "0", "Content-Range": f"bytes */{size}"},
                    retry=True,
                    answers=frozenset({RESUME_INCOMPLETE}),
                )
        except ProviderAPIError as err:
            if err.http_status in SESSION_GONE:
                raise SessionGone(err.http_status, offset) from err
            raise
        if response.status_code != RESUME_INCOMPLETE:
            return _finished(response, obj)
        sent_to, offset = offset + chunk.sent, committed(response.headers)
        if offset > sent_to or offset >= size:
            raise GenAIBatchError(
                f"Cloud Storage says the session for {obj.uri} holds {offset} of {size} bytes, but {sent_to} were sent "
                "and the upload is not finished"
            )
        if offset != sent_to:  # the session kept only part of what was sent: send the rest again
            if origin is None:
                raise GenAIBatchError(f"Cloud Storage kept {offset} of {sent_to} bytes of {obj.uri} from a stream")
            stream.seek(origin + offset)


def _chunk_problem(response: httpx.Response, obj: GcsObject, size: int, end: int) -> GenAIBatchError | None:
    """What is wrong with a chunk's success answer, or None: a chunk ending before byte ``size`` is answered 308
    (resume incomplete), the last one with the object."""
    if response.status_code == RESUME_INCOMPLETE:
        return None
    if end < size:
        return GenAIBatchError(
            f"the chunk ending at byte {end} of {size} was answered HTTP {response.status_code}, not "
            f"{RESUME_INCOMPLETE} (resume incomplete): the answer is not the upload session's"
        )
    try:
        _finished(response, obj)
    except GenAIBatchError as err:
        return err
    return None


def _finished(response: httpx.Response, obj: GcsObject) -> FileInfo:
    """The object a finished upload answered with, as stored (its size is checked against the bytes sent by the
    hook, which deletes an object of another size); GenAIBatchError unless it is ``obj``."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or (body.get("bucket"), body.get("name")) != (obj.bucket, obj.name):
        raise GenAIBatchError(
            f"the upload of {obj.uri} was answered HTTP {response.status_code} without the object it made"
        )
    return parse_object(body)


def committed(headers: Mapping[str, str]) -> int:
    """The bytes an upload session holds, from a 308's ``Range: bytes=0-<last>`` (none without the header)."""
    value = headers.get("range")
    if not value:
        return 0
    match = _COMMITTED.fullmatch(value.strip())
    if match is None:
        raise GenAIBatchError(f"Cloud Storage answered an upload with an unreadable Range {value!r}")
    return int(match.group(1)) + 1


def parse_object(data: Mapping[str, Any]) -> FileInfo:
    """An object resource as a FileInfo named by its ``gs://`` URI."""
    uri = f"gs://{data['bucket']}/{data['name']}"
    size = data.get("size")
    return FileInfo(
        name=uri,
        display_name=str(data["name"]).rsplit("/", 1)[-1],
        mime_type=data.get("contentType"),
        size_bytes=int(size) if size is not None else None,
        create_time=parse_rfc3339(data.get("timeCreated")),
        uri=uri,
        raw=dict(data),
    )


def metadata(endpoint: GcsEndpoint, obj: GcsObject) -> Operation[FileInfo]:
    """An object's metadata (size, type, generation, ...)."""
    response = yield ApiRequest("GET", endpoint.object_url(obj))
    return parse_object(response.json())


def probe(endpoint: GcsEndpoint, obj: GcsObject) -> Operation[None]:
    """A GET of an object's metadata whose answer is not read: NotFoundError where the object does not exist and the
    caller may read it, a 403 ProviderAPIError where the caller lacks ``storage.objects.get`` there."""
    yield ApiRequest("GET", endpoint.object_url(obj))


def list_objects(endpoint: GcsEndpoint, prefix: GcsObject, page_token: str | None) -> Operation[Page[FileInfo]]:
    """One page of the objects whose names start with ``prefix.name``."""
    params: dict[str, str | int] = {"prefix": prefix.name, "maxResults": LIST_PAGE_SIZE}
    if page_token:
        params["pageToken"] = page_token
    response = yield ApiRequest("GET", endpoint.bucket_url(prefix.bucket), params=params)
    body = response.json()
    return Page([parse_object(item) for item in body.get("items") or []], body.get("nextPageToken"))


def delete(endpoint: GcsEndpoint, obj: GcsObject) -> Operation[None]:
    """Delete an object."""
    yield ApiRequest("DELETE", endpoint.object_url(obj))


def download(endpoint: GcsEndpoint, obj: GcsObject) -> ApiRequest:
    """The GET of an object's bytes (``alt=media``; streamed, and resumed with ``Range``, by the caller)."""
    return ApiRequest("GET", endpoint.object_url(obj), params={"alt": "media"})
