"""google-cloud-storage driven against the Cloud Storage test server (gcp-storage-emulator): proof that the
server the Vertex emulator and hook use speaks the Cloud Storage JSON API the official client expects.

Covered: every call the hook makes (resumable upload in 256 KiB-multiple chunks, resume status, object
metadata, listing under a prefix, media download with a byte range, delete). The server's known leniency
(any credentials) is named where a test meets it; its chunks keep Cloud Storage's 256 KiB granularity and its
listings come in pages.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import requests
from google.api_core import exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from airflow_provider_genai_batch.testing.gcs import GcsServer

BUCKET = "genai-batch-gcs-conformance"
CHUNK = 256 * 1024
DATA = bytes(range(256)) * (4 * CHUNK // 256) + b"tail of the object"
"""Four full 256 KiB chunks and a short fifth one."""


class RecordingSession(requests.Session):
    """A requests session that keeps (method, url, headers) of every request the client sends."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, str, dict[str, str]]] = []

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        self.sent.append((str(method), str(url), dict(kwargs.get("headers") or {})))
        return super().request(method, url, *args, **kwargs)


@pytest.fixture
def http_session() -> Iterator[RecordingSession]:
    with RecordingSession() as session:
        yield session


@pytest.fixture
def bucket(gcs_server: GcsServer, http_session: RecordingSession) -> Iterator[storage.Bucket]:
    """An empty bucket on a freshly wiped server, seen through a client that records its requests."""
    gcs_server.reset()
    gcs_server.create_bucket(BUCKET)
    client = storage.Client(
        project="genai-batch-test",
        credentials=AnonymousCredentials(),
        client_options={"api_endpoint": gcs_server.endpoint_url},
        _http=http_session,
    )
    yield client.bucket(BUCKET)
    client.close()


def test_a_resumable_upload_sends_256_kib_multiple_chunks_and_the_object_arrives_whole(
    bucket: storage.Bucket, gcs_server: GcsServer, http_session: RecordingSession
) -> None:
    blob = bucket.blob("inputs/batch.jsonl", chunk_size=CHUNK)

    blob.upload_from_file(io.BytesIO(DATA), content_type="application/jsonl")

    starts = [url for method, url, _ in http_session.sent if method == "POST" and "uploadType=resumable" in url]
    ranges = [headers["content-range"] for method, _, headers in http_session.sent if method == "PUT"]
    assert len(starts) == 1
    assert ranges == [f"bytes {i * CHUNK}-{(i + 1) * CHUNK - 1}/*" for i in range(4)] + [
        f"bytes {4 * CHUNK}-{len(DATA) - 1}/{len(DATA)}"
    ]
    assert gcs_server.get(f"gs://{BUCKET}/inputs/batch.jsonl") == DATA
    assert blob.size == len(DATA)


def test_object_metadata_is_what_the_client_parses(bucket: storage.Bucket, gcs_server: GcsServer) -> None:
    gcs_server.put(f"gs://{BUCKET}/inputs/batch.jsonl", DATA)

    blob = bucket.get_blob("inputs/batch.jsonl")

    assert blob is not None
    assert blob.name == "inputs/batch.jsonl"
    assert blob.size == len(DATA)
    assert blob.md5_hash is not None
    assert blob.generation is not None
    assert blob.updated is not None


def test_metadata_of_a_missing_object_is_not_found(bucket: storage.Bucket) -> None:
    assert bucket.get_blob("inputs/nope.jsonl") is None
    with pytest.raises(exceptions.NotFound):
        bucket.blob("inputs/nope.jsonl").reload()


def test_a_ranged_download_returns_exactly_those_bytes(bucket: storage.Bucket, gcs_server: GcsServer) -> None:
    gcs_server.put(f"gs://{BUCKET}/out/predictions.jsonl", DATA)

    part = bucket.blob("out/predictions.jsonl").download_as_bytes(start=CHUNK - 5, end=CHUNK + 4)

    assert part == DATA[CHUNK - 5 : CHUNK + 5]


def test_a_whole_download_is_checksummed_by_the_client(bucket: storage.Bucket, gcs_server: GcsServer) -> None:
    gcs_server.put(f"gs://{BUCKET}/out/predictions.jsonl", DATA)

    data = bucket.blob("out/predictions.jsonl").download_as_bytes(checksum="md5")

    assert hashlib.sha256(data).digest() == hashlib.sha256(DATA).digest()


def test_listing_under_a_prefix_names_only_those_objects(bucket: storage.Bucket, gcs_server: GcsServer) -> None:
    for name in ["out/a/predictions.jsonl", "out/a/predictions_00002.jsonl", "out/b.jsonl", "other/x.jsonl"]:
        gcs_server.put(f"gs://{BUCKET}/{name}", b"{}\n")

    names = [blob.name for blob in bucket.client.list_blobs(BUCKET, prefix="out/a/")]

    assert names == ["out/a/predictions.jsonl", "out/a/predictions_00002.jsonl"]


def test_listing_pages_by_max_results(bucket: storage.Bucket, gcs_server: GcsServer) -> None:
    for i in range(5):
        gcs_server.put(f"gs://{BUCKET}/out/{i}.jsonl", b"{}\n")

    pages = [
        [blob.name for blob in page] for page in bucket.client.list_blobs(BUCKET, prefix="out/", page_size=2).pages
    ]

    assert [len(page) for page in pages] == [2, 2, 1]


def test_delete_removes_the_object(bucket: storage.Bucket, gcs_server: GcsServer) -> None:
    gcs_server.put(f"gs://{BUCKET}/out/x.jsonl", b"{}\n")
    blob = bucket.blob("out/x.jsonl")

    blob.delete()

    assert not blob.exists()
    with pytest.raises(exceptions.NotFound):
        blob.delete()


# The raw calls of the hook that the client does not make in the same form


def test_a_json_api_media_download_honours_a_range_header(gcs_server: GcsServer, bucket: storage.Bucket) -> None:
    gcs_server.put(f"gs://{BUCKET}/out/predictions.jsonl", DATA)
    url = f"{gcs_server.endpoint_url}/storage/v1/b/{BUCKET}/o/{quote('out/predictions.jsonl', safe='')}"

    response = httpx.get(url, params={"alt": "media"}, headers={"Range": f"bytes={CHUNK}-"}, timeout=30.0)

    assert response.status_code == 206
    assert response.content == DATA[CHUNK:]


def test_a_resumable_session_reports_the_bytes_it_committed(gcs_server: GcsServer, bucket: storage.Bucket) -> None:
    start = httpx.post(
        f"{gcs_server.endpoint_url}/upload/storage/v1/b/{BUCKET}/o",
        params={"uploadType": "resumable", "name": "inputs/resumed.jsonl"},
        json={},
        timeout=30.0,
    )
    session = start.headers["location"]
    first = httpx.put(session, content=DATA[:CHUNK], headers={"Content-Range": f"bytes 0-{CHUNK - 1}/*"}, timeout=30.0)

    status = httpx.put(session, content=b"", headers={"Content-Range": f"bytes */{len(DATA)}"}, timeout=30.0)
    rest = httpx.put(
        session,
        content=DATA[CHUNK:],
        headers={"Content-Range": f"bytes {CHUNK}-{len(DATA) - 1}/{len(DATA)}"},
        timeout=30.0,
    )

    assert first.status_code == 308
    assert status.status_code == 308
    assert status.headers["range"] == f"bytes=0-{CHUNK - 1}"
    assert rest.status_code == 200
    assert rest.json()["size"] == str(len(DATA))
    assert gcs_server.get(f"gs://{BUCKET}/inputs/resumed.jsonl") == DATA


def open_session(gcs_server: GcsServer, name: str) -> str:
    start = httpx.post(
        f"{gcs_server.endpoint_url}/upload/storage/v1/b/{BUCKET}/o",
        params={"uploadType": "resumable", "name": name},
        json={},
        timeout=30.0,
    )
    return start.headers["location"]


def test_a_chunk_under_256_kib_that_does_not_finish_the_upload_is_refused(
    gcs_server: GcsServer, bucket: storage.Bucket
) -> None:
    session = open_session(gcs_server, "inputs/small.jsonl")

    refused = httpx.put(session, content=DATA[:1000], headers={"Content-Range": f"bytes 0-999/{len(DATA)}"})
    status = httpx.put(session, content=b"", headers={"Content-Range": f"bytes */{len(DATA)}"})

    assert refused.status_code == 400
    assert refused.text == (
        "Invalid request.  The number of bytes uploaded is required to be equal or greater than 262144, except for "
        "the final request (it's recommended to be the exact multiple of 262144).  The received request contained "
        "1000 bytes, which does not meet this requirement."
    )
    assert status.status_code == 308 and "range" not in status.headers  # nothing was kept


def test_a_chunk_off_the_256_kib_granularity_keeps_only_its_whole_granules(
    gcs_server: GcsServer, bucket: storage.Bucket
) -> None:
    session = open_session(gcs_server, "inputs/uneven.jsonl")
    sent = CHUNK + 1000

    first = httpx.put(session, content=DATA[:sent], headers={"Content-Range": f"bytes 0-{sent - 1}/*"})
    rest = httpx.put(
        session, content=DATA[CHUNK:], headers={"Content-Range": f"bytes {CHUNK}-{len(DATA) - 1}/{len(DATA)}"}
    )

    assert first.status_code == 308
    assert first.headers["range"] == f"bytes=0-{CHUNK - 1}"  # the client sends the rest again from there
    assert rest.status_code == 200
    assert gcs_server.get(f"gs://{BUCKET}/inputs/uneven.jsonl") == DATA


def test_a_last_chunk_of_any_size_finishes_the_upload(gcs_server: GcsServer, bucket: storage.Bucket) -> None:
    session = open_session(gcs_server, "inputs/tiny.jsonl")

    done = httpx.put(session, content=b"{}\n", headers={"Content-Range": "bytes 0-2/3"})

    assert done.status_code == 200
    assert gcs_server.get(f"gs://{BUCKET}/inputs/tiny.jsonl") == b"{}\n"


def test_a_listing_names_no_empty_items_or_prefixes(gcs_server: GcsServer, bucket: storage.Bucket) -> None:
    response = httpx.get(f"{gcs_server.endpoint_url}/storage/v1/b/{BUCKET}/o", params={"prefix": "none/"})

    assert response.json() == {"kind": "storage#objects"}


def test_a_listing_pages_objects_and_prefixes_together_in_name_order(
    gcs_server: GcsServer, bucket: storage.Bucket
) -> None:
    for name in ("out/a.jsonl", "out/b/1.jsonl", "out/c.jsonl", "out/d/2.jsonl"):
        gcs_server.put(f"gs://{BUCKET}/{name}", b"{}\n")
    url = f"{gcs_server.endpoint_url}/storage/v1/b/{BUCKET}/o"
    params = {"prefix": "out/", "delimiter": "/", "maxResults": "3"}

    first = httpx.get(url, params=params).json()
    second = httpx.get(url, params={**params, "pageToken": first["nextPageToken"]}).json()

    assert [item["name"] for item in first["items"]] == ["out/a.jsonl", "out/c.jsonl"]
    assert first["prefixes"] == ["out/b/"]
    assert second == {"kind": "storage#objects", "prefixes": ["out/d/"]}


def test_a_range_starting_at_or_past_the_end_is_not_satisfiable(gcs_server: GcsServer, bucket: storage.Bucket) -> None:
    gcs_server.put(f"gs://{BUCKET}/out/predictions.jsonl", DATA)
    url = f"{gcs_server.endpoint_url}/storage/v1/b/{BUCKET}/o/{quote('out/predictions.jsonl', safe='')}"

    response = httpx.get(url, params={"alt": "media"}, headers={"Range": f"bytes={len(DATA)}-"}, timeout=30.0)

    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{len(DATA)}"
    assert response.json()["error"]["code"] == 416


def test_a_suffix_range_returns_the_last_bytes(gcs_server: GcsServer, bucket: storage.Bucket) -> None:
    gcs_server.put(f"gs://{BUCKET}/out/predictions.jsonl", DATA)
    url = f"{gcs_server.endpoint_url}/download/storage/v1/b/{BUCKET}/o/{quote('out/predictions.jsonl', safe='')}"

    response = httpx.get(url, params={"alt": "media"}, headers={"Range": "bytes=-10"}, timeout=30.0)

    assert response.status_code == 206
    assert response.content == DATA[-10:]
    assert response.headers["content-range"] == f"bytes {len(DATA) - 10}-{len(DATA) - 1}/{len(DATA)}"


def test_a_missing_object_or_bucket_is_a_404_with_cloud_storages_json_error(
    gcs_server: GcsServer, bucket: storage.Bucket
) -> None:
    missing_object = httpx.get(f"{gcs_server.endpoint_url}/storage/v1/b/{BUCKET}/o/nope.jsonl", timeout=30.0)
    missing_bucket = httpx.get(f"{gcs_server.endpoint_url}/storage/v1/b/no-such-bucket-here/o", timeout=30.0)

    assert missing_object.status_code == missing_bucket.status_code == 404
    assert missing_object.json()["error"]["message"] == f"No such object: {BUCKET}/nope.jsonl"
    assert missing_object.json()["error"]["errors"][0]["reason"] == "notFound"
    assert missing_bucket.json()["error"]["message"] == "The specified bucket does not exist."
