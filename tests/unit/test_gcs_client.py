"""The Cloud Storage JSON API operations on the wire: resumable uploads chunk by chunk (and resumed from what the
session committed), listings page by page, object URLs, downloads."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import IO, Any, TypeVar
from urllib.parse import parse_qs

import httpx
import pytest

from airflow_provider_genai_batch.errors import GenAIBatchError
from airflow_provider_genai_batch.hooks import gcs
from airflow_provider_genai_batch.hooks.http import Operation, Redactor, Transport, error_from_response, run_sync
from airflow_provider_genai_batch.hooks.retry import RetryPolicy
from airflow_provider_genai_batch.testing.gcs import GcsServer

T = TypeVar("T")
ENDPOINT = gcs.GcsEndpoint("http://gcs.test")
KIB = 1024
CHUNK = 256 * KIB
SESSION = "http://gcs.test/upload/storage/v1/b/bkt/o?uploadType=resumable&upload_id=s"


class FakeResumableGcs:
    """One bucket's resumable uploads as Cloud Storage answers them; ``drop`` makes the n-th chunk PUT fail in
    transit (``keep`` bytes of it committed first), ``keep_short`` commits only part of a chunk that arrives,
    ``expire`` makes the session expire as the n-th chunk PUT arrives (a 404, as for any session it does not know),
    ``proxy_ok`` has a proxy answer the n-th chunk PUT ``200 OK`` (plain text) after the session took it."""

    def __init__(
        self,
        drop: int | None = None,
        keep: int = 0,
        keep_short: int | None = None,
        expire: int | None = None,
        proxy_ok: int | None = None,
    ) -> None:
        self.drop, self.keep, self.keep_short, self.expire = drop, keep, keep_short, expire
        self.proxy_ok = proxy_ok
        self.sessions = 0
        self.data = bytearray()
        self.total: int | None = None
        self.requests: list[httpx.Request] = []
        self.chunk_puts = 0
        self.objects: dict[str, bytes] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.method == "POST":
            self.sessions += 1
            self.data = bytearray()
            return httpx.Response(200, headers={"Location": f"{SESSION}{self.sessions}"}, json={})
        if str(request.url) != f"{SESSION}{self.sessions}":
            return httpx.Response(404, json={"error": {"code": 404, "message": "No such upload session."}})
        content_range = request.headers["content-range"]
        if content_range.startswith("bytes */"):
            return self._status(int(content_range.removeprefix("bytes */")))
        span, _, total = content_range.removeprefix("bytes ").partition("/")
        start, end = (int(n) for n in span.split("-"))
        self.total = int(total)
        body = request.read()
        assert start == len(self.data), f"chunk starts at {start}, session holds {len(self.data)}"
        assert len(body) == end - start + 1
        self.chunk_puts += 1
        if self.chunk_puts == self.expire:
            self.sessions += 1  # no session answers at the old URI any more
            return httpx.Response(404, json={"error": {"code": 404, "message": "No such upload session."}})
        if self.chunk_puts == self.drop:
            self.data += body[: self.keep]
            raise httpx.ReadError("connection reset", request=request)
        if self.chunk_puts == self.keep_short:
            body = body[: len(body) // 2]
        self.data += body
        answer = self._status(self.total)
        return httpx.Response(200, text="OK") if self.chunk_puts == self.proxy_ok else answer

    def _status(self, total: int) -> httpx.Response:
        if len(self.data) >= total:
            self.objects["in/x.jsonl"] = bytes(self.data)
            return httpx.Response(
                200,
                json={"bucket": "bkt", "name": "in/x.jsonl", "size": str(total), "contentType": "application/jsonl"},
            )
        headers = {"Range": f"bytes=0-{len(self.data) - 1}"} if self.data else {}
        return httpx.Response(308, headers=headers)

    def ranges(self) -> list[str]:
        return [r.headers["content-range"] for r in self.requests if r.method == "PUT"]


def run(handler: Callable[[httpx.Request], httpx.Response], operation: Operation[T]) -> T:
    transport = Transport({}, lambda r: error_from_response(r, "gcs", Redactor()), RetryPolicy(max_backoff=0))
    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        return run_sync(client, operation, transport)


def upload(server: FakeResumableGcs, data: bytes, stream: IO[bytes] | None = None, chunk: int = CHUNK) -> Any:
    source = stream if stream is not None else io.BytesIO(data)
    target = gcs.GcsObject("bkt", "in/x.jsonl")
    op = gcs.upload(
        ENDPOINT, target, source, len(data), chunk_size=chunk, content_type="application/jsonl", max_resumes=3
    )
    return run(server, op)


DATA = bytes(range(256)) * (CHUNK * 5 // 2 // 256)  # 2.5 chunks


def test_an_upload_opens_a_resumable_session_for_the_object() -> None:
    server = FakeResumableGcs()
    upload(server, DATA)
    start = server.requests[0]
    assert (start.method, start.url.path) == ("POST", "/upload/storage/v1/b/bkt/o")
    assert parse_qs(start.url.query.decode()) == {"uploadType": ["resumable"], "name": ["in/x.jsonl"]}
    assert start.headers["x-upload-content-length"] == str(len(DATA))
    assert start.headers["x-upload-content-type"] == "application/jsonl"
    assert json.loads(start.content) == {"name": "in/x.jsonl", "contentType": "application/jsonl"}


def test_a_multi_chunk_upload_sends_each_chunk_with_its_content_range() -> None:
    server = FakeResumableGcs()
    info = upload(server, DATA)
    assert server.ranges() == ["bytes 0-262143/655360", "bytes 262144-524287/655360", "bytes 524288-655359/655360"]
    assert all(str(r.url) == f"{SESSION}1" for r in server.requests[1:])
    assert server.objects["in/x.jsonl"] == DATA
    assert (info.name, info.size_bytes) == ("gs://bkt/in/x.jsonl", len(DATA))


def test_a_dropped_chunk_resumes_from_what_the_session_committed() -> None:
    server = FakeResumableGcs(drop=2)
    upload(server, DATA)
    assert server.ranges() == [
        "bytes 0-262143/655360",
        "bytes 262144-524287/655360",
        "bytes */655360",
        "bytes 262144-524287/655360",
        "bytes 524288-655359/655360",
    ]
    assert server.objects["in/x.jsonl"] == DATA


def test_a_chunk_dropped_after_part_of_it_was_committed_resumes_mid_chunk() -> None:
    server = FakeResumableGcs(drop=2, keep=1000)
    upload(server, DATA)
    assert server.ranges()[2:4] == ["bytes */655360", "bytes 263144-525287/655360"]
    assert server.objects["in/x.jsonl"] == DATA


def test_a_first_chunk_dropped_before_anything_was_committed_starts_over() -> None:
    server = FakeResumableGcs(drop=1)
    upload(server, DATA)
    assert server.ranges()[:3] == ["bytes 0-262143/655360", "bytes */655360", "bytes 0-262143/655360"]
    assert server.objects["in/x.jsonl"] == DATA


def test_a_chunk_the_session_kept_only_part_of_is_completed_from_there() -> None:
    server = FakeResumableGcs(keep_short=1)
    upload(server, DATA)
    assert server.ranges()[:2] == ["bytes 0-262143/655360", "bytes 131072-393215/655360"]
    assert server.objects["in/x.jsonl"] == DATA


def test_a_last_chunk_dropped_after_the_object_was_finished_is_not_sent_again() -> None:
    server = FakeResumableGcs(drop=3, keep=CHUNK // 2)
    info = upload(server, DATA)
    assert server.ranges()[-1] == "bytes */655360"
    assert info.size_bytes == len(DATA)


def test_a_session_that_expired_mid_upload_starts_over_from_the_first_byte_in_a_new_one() -> None:
    server = FakeResumableGcs(expire=2)
    info = upload(server, DATA)
    assert [(r.method, r.headers.get("content-range")) for r in server.requests] == [
        ("POST", None),
        ("PUT", "bytes 0-262143/655360"),
        ("PUT", "bytes 262144-524287/655360"),
        ("POST", None),
        ("PUT", "bytes 0-262143/655360"),
        ("PUT", "bytes 262144-524287/655360"),
        ("PUT", "bytes 524288-655359/655360"),
    ]
    assert server.objects["in/x.jsonl"] == DATA
    assert info.size_bytes == len(DATA)


def test_a_session_that_keeps_expiring_stops_the_upload_naming_it() -> None:
    class Expiring(FakeResumableGcs):
        def __call__(self, request: httpx.Request) -> httpx.Response:
            self.expire = self.chunk_puts + 1
            return super().__call__(request)

    server = Expiring()
    with pytest.raises(GenAIBatchError, match="its session ended \\(HTTP 404\\) after 0 of 655360 bytes"):
        upload(server, DATA)
    assert [r.method for r in server.requests].count("POST") == 4  # the first session and three more


def test_an_upload_through_more_faults_than_max_resumes_ends_while_each_is_followed_by_progress() -> None:
    class DropsEachChunkOnce(FakeResumableGcs):
        def __call__(self, request: httpx.Request) -> httpx.Response:
            self.drop = self.chunk_puts + 1 if self.chunk_puts % 2 == 0 else None
            return super().__call__(request)

    server = DropsEachChunkOnce()
    op = gcs.upload(
        ENDPOINT,
        gcs.GcsObject("bkt", "in/x.jsonl"),
        io.BytesIO(DATA),
        len(DATA),
        chunk_size=CHUNK,
        content_type="application/jsonl",
        max_resumes=1,
    )
    run(server, op)
    assert server.ranges().count("bytes */655360") == 3  # each of the three chunks dropped once
    assert server.objects["in/x.jsonl"] == DATA


def test_a_session_saying_it_holds_bytes_never_sent_stops_the_upload() -> None:
    class Boasting(FakeResumableGcs):
        def _status(self, total: int) -> httpx.Response:
            if len(self.data) >= total:
                return super()._status(total)
            return httpx.Response(308, headers={"Range": f"bytes=0-{len(self.data) + 999}"})

    with pytest.raises(GenAIBatchError, match="holds 263144 of 655360 bytes, but 262144 were sent"):
        upload(Boasting(), DATA)


def test_a_chunk_a_proxy_answered_200_before_the_last_byte_is_checked_with_the_session_and_the_upload_goes_on():
    server = FakeResumableGcs(proxy_ok=1)
    info = upload(server, DATA)
    assert server.ranges() == [
        "bytes 0-262143/655360",
        "bytes */655360",
        "bytes 262144-524287/655360",
        "bytes 524288-655359/655360",
    ]
    assert server.objects["in/x.jsonl"] == DATA
    assert info.size_bytes == len(DATA)


def test_a_last_chunk_a_proxy_answered_200_without_the_object_is_checked_with_the_session() -> None:
    server = FakeResumableGcs(proxy_ok=3)
    info = upload(server, DATA)
    assert server.ranges()[-2:] == ["bytes 524288-655359/655360", "bytes */655360"]
    assert (info.name, info.size_bytes) == ("gs://bkt/in/x.jsonl", len(DATA))


def test_a_session_a_proxy_keeps_answering_200_for_fails_the_upload_saying_no_object_came() -> None:
    class Proxied(FakeResumableGcs):
        def _status(self, total: int) -> httpx.Response:
            return httpx.Response(200, text="OK")

    with pytest.raises(
        GenAIBatchError, match=r"upload of gs://bkt/in/x.jsonl was answered HTTP 200 without the object"
    ):
        upload(Proxied(), DATA)


def test_an_upload_finished_as_an_object_of_another_size_returns_it_as_stored() -> None:
    # The hook compares the size with the bytes sent, and deletes the object (one place for every provider).
    class Short(FakeResumableGcs):
        def _status(self, total: int) -> httpx.Response:
            if len(self.data) < total:
                return super()._status(total)
            return httpx.Response(200, json={"bucket": "bkt", "name": "in/x.jsonl", "size": str(total - 1)})

    server = Short()
    assert upload(server, DATA).size_bytes == len(DATA) - 1
    assert [r.headers["content-range"] for r in server.requests[1:]][-1].startswith("bytes 524288-")  # not asked again


def test_an_empty_object_is_one_final_request() -> None:
    server = FakeResumableGcs()
    upload(server, b"")
    assert server.ranges() == ["bytes */0"]


def test_a_stream_that_cannot_seek_is_not_resumed() -> None:
    class OneWay(io.BytesIO):
        def seekable(self) -> bool:
            return False

    with pytest.raises(GenAIBatchError, match="failed at byte 262144 of 655360"):
        upload(FakeResumableGcs(drop=2), DATA, stream=OneWay(DATA))


def test_a_chunk_size_off_the_256_kib_grid_is_refused() -> None:
    with pytest.raises(ValueError, match="not a positive multiple of 262144"):
        upload(FakeResumableGcs(), DATA, chunk=CHUNK + 1)


@pytest.mark.parametrize(("headers", "held"), [({}, 0), ({"range": "bytes=0-0"}, 1), ({"range": "bytes=0-99"}, 100)])
def test_committed_bytes_are_read_from_the_range_header(headers: dict[str, str], held: int) -> None:
    assert gcs.committed(headers) == held


def test_object_urls_encode_the_whole_name() -> None:
    obj = gcs.GcsObject.parse("gs://bkt/a dir/x#1.jsonl")
    assert ENDPOINT.object_url(obj) == "http://gcs.test/storage/v1/b/bkt/o/a%20dir%2Fx%231.jsonl"
    request = gcs.download(ENDPOINT, obj)
    assert (request.method, request.params) == ("GET", {"alt": "media"})


def test_a_listing_follows_page_tokens() -> None:
    pages = {
        None: {"items": [{"bucket": "bkt", "name": "out/predictions_1.jsonl", "size": "5"}], "nextPageToken": "p2"},
        "p2": {"items": [{"bucket": "bkt", "name": "out/predictions_2.jsonl", "size": "7"}]},
    }
    seen: list[dict[str, list[str]]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        query = parse_qs(request.url.query.decode())
        seen.append(query)
        return httpx.Response(200, json=pages[query.get("pageToken", [None])[0]])

    prefix = gcs.GcsObject("bkt", "out/")
    first = run(handler, gcs.list_objects(ENDPOINT, prefix, None))
    second = run(handler, gcs.list_objects(ENDPOINT, prefix, first.next_token))
    assert [i.name for i in first.items + second.items] == [
        "gs://bkt/out/predictions_1.jsonl",
        "gs://bkt/out/predictions_2.jsonl",
    ]
    assert (first.next_token, second.next_token) == ("p2", None)
    assert seen[0] == {"prefix": ["out/"], "maxResults": ["1000"]}
    assert seen[1]["pageToken"] == ["p2"]


def test_a_uri_outside_cloud_storage_is_refused() -> None:
    with pytest.raises(ValueError, match="not a gs:// URI"):
        gcs.GcsObject.parse("s3://bkt/x")


class ProxyAnsweringOk(httpx.HTTPTransport):
    """The way to a real Cloud Storage server through a proxy that answers the first chunk PUT ``200 OK`` itself,
    after the server took the chunk."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks = 0
        self.ranges: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.method != "PUT":
            return response
        self.ranges.append(request.headers["content-range"])
        if request.headers["content-range"].startswith("bytes */"):
            return response
        self.chunks += 1
        if self.chunks != 1:
            return response
        response.read()
        response.close()
        return httpx.Response(200, text="OK", request=request)


def test_a_chunk_a_proxy_answered_200_is_resumed_against_the_cloud_storage_stand_in(gcs_server: GcsServer) -> None:
    bucket = gcs_server.create_bucket("proxied")
    proxy = ProxyAnsweringOk()
    op = gcs.upload(
        gcs.GcsEndpoint(gcs_server.endpoint_url),
        gcs.GcsObject(bucket, "in/x.jsonl"),
        io.BytesIO(DATA),
        len(DATA),
        chunk_size=CHUNK,
        content_type="application/octet-stream",
        max_resumes=3,
    )
    transport = Transport({}, lambda r: error_from_response(r, "gcs", Redactor()), RetryPolicy(max_backoff=0))
    with httpx.Client(transport=proxy) as client:
        info = run_sync(client, op, transport)

    assert proxy.ranges[:3] == ["bytes 0-262143/655360", "bytes */655360", "bytes 262144-524287/655360"]
    assert gcs_server.get(f"gs://{bucket}/in/x.jsonl") == DATA
    assert info.size_bytes == len(DATA)
