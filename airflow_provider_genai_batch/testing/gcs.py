"""A real Cloud Storage server for tests: gcp-storage-emulator, in memory, in a subprocess on a free loopback port.

Vertex batch jobs read their input from Cloud Storage and write their predictions there; tests run the
hook, google-cloud-storage and the Vertex emulator against this server. It serves the JSON API at
`{endpoint_url}/storage/v1`, uploads at `/upload/storage/v1` (media, multipart and resumable) and media
downloads. Requests are served by a thread each, so a client may hold a download open while it makes other
calls. Patched in here to behave as Cloud Storage does: a resumable chunk that does not finish its upload keeps the
256 KiB granularity (under 256 KiB it is refused with Cloud Storage's 400; of a longer one off the granularity only
the whole granules are kept, which the 308's Range says), a 308 for a session that holds nothing has no Range (the
server answered bytes=0-0), and a listing comes in pages of `maxResults` entries (1,000 at most) with a
`nextPageToken`, leaving out empty `items` and `prefixes`; a download's `Range` starting at or past the end is
answered 416 (it sent an empty 206) and a suffix range (`bytes=-N`) the last N bytes (it sent the whole object); a
404 carries Cloud Storage's JSON error (`No such object: <bucket>/<name>`, `The specified bucket does not exist.`),
where it had an empty body. Known differences from Cloud Storage (not patched here): it accepts any credentials,
any bucket name and `ifGenerationMatch` on an existing object; it holds whole objects in memory; and it parses a
media upload whose Content-Type starts with application/json (`application/jsonl` too) as JSON, dropping the
connection when the body is not one JSON document. Test tooling only.
"""

from __future__ import annotations

import subprocess
import sys
import time
from urllib.parse import quote

import httpx

from airflow_provider_genai_batch.testing.emulator.server import (
    HOST,
    STARTUP_TIMEOUT_SECONDS,
    LoopbackService,
    free_port,
    stop_process,
)

TIMEOUT = 30.0


def split_gs_uri(uri: str) -> tuple[str, str]:
    """`gs://bucket/name` as (bucket, name); the name may be empty for a bucket or a prefix."""
    if not uri.startswith("gs://"):
        raise ValueError(f"not a gs:// URI: {uri!r}")
    bucket, _, name = uri.removeprefix("gs://").partition("/")
    if not bucket:
        raise ValueError(f"a gs:// URI needs a bucket: {uri!r}")
    return bucket, name


SERVE_SCRIPT = """
import base64, json, logging, re, sys
from functools import partial
from http import HTTPStatus
from http.server import ThreadingHTTPServer
from gcp_storage_emulator import server
from gcp_storage_emulator.handlers import objects
from gcp_storage_emulator.server import RequestHandler
from gcp_storage_emulator.storage import Storage

GRANULE = 256 * 1024
TOO_SMALL = (
    "Invalid request.  The number of bytes uploaded is required to be equal or greater than 262144, except for the "
    "final request (it's recommended to be the exact multiple of 262144).  The received request contained {} bytes, "
    "which does not meet this requirement."
)

def granular_upload_partial(request, response, storage, *args, **kwargs):
    parsed = objects._parse_resumable_content_range(request.get_header("Content-Range", "") or "")
    if parsed is not None and parsed["kind"] != "status":
        chunk = request.data or b""
        total = parsed["total"]
        if total is None or parsed["start"] + len(chunk) < total:
            if len(chunk) < GRANULE:
                response.status = HTTPStatus.BAD_REQUEST
                response.write_file(TOO_SMALL.format(len(chunk)).encode(), "text/plain; charset=utf-8")
                return None
            request._data = chunk[: len(chunk) - len(chunk) % GRANULE]  # kept: whole 256 KiB granules only
    objects.upload_partial(request, response, storage, *args, **kwargs)
    if response.status.value == 308 and storage.get_resumable_byte_count(request.query["upload_id"][0]) == 0:
        response._headers.pop("Range", None)  # nothing kept: no Range at all, not bytes=0-0

MAX_PAGE = 1000

def paged_ls(request, response, storage, *args, **kwargs):
    objects.ls(request, response, storage, *args, **kwargs)
    if response.status != HTTPStatus.OK:
        return None
    listed = json.loads(response._content)
    entries = sorted(
        [(item["name"], "items", item) for item in listed.get("items") or ()]
        + [(prefix, "prefixes", prefix) for prefix in listed.get("prefixes") or ()],
        key=lambda entry: entry[0],
    )
    token = (request.query.get("pageToken") or [""])[0]
    if token:
        after = base64.urlsafe_b64decode(token.encode()).decode()
        entries = [entry for entry in entries if entry[0] > after]
    asked = (request.query.get("maxResults") or [""])[0]
    size = min(int(asked), MAX_PAGE) if asked.isdigit() and int(asked) > 0 else MAX_PAGE
    page = entries[:size]
    answer = {"kind": "storage#objects"}
    for name, field, value in page:
        answer.setdefault(field, []).append(value)
    if len(entries) > size:
        answer["nextPageToken"] = base64.urlsafe_b64encode(page[-1][0].encode()).decode()
    response.json(answer)

UNSATISFIABLE = {"error": {"code": 416, "message": "Request range not satisfiable", "errors": [
    {"domain": "global", "reason": "requestedRangeNotSatisfiable", "message": "Request range not satisfiable"}]}}
whole_download = objects.download

def ranged_download(request, response, storage, *args, **kwargs):
    asked = request.get_header("range", None)
    if asked:
        try:
            size = len(storage.get_file(request.params["bucket_name"], request.params["object_id"]))
        except Exception:
            return whole_download(request, response, storage, *args, **kwargs)
        start = re.fullmatch(r"\\s*bytes=([0-9]+)-[0-9]*\\s*", asked)
        suffix = re.fullmatch(r"\\s*bytes=-([0-9]+)\\s*", asked)
        if (start and int(start.group(1)) >= size) or (suffix and int(suffix.group(1)) == 0):
            response.status = HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE
            response["Content-Range"] = "bytes */{}".format(size)
            response.json(UNSATISFIABLE)
            return None
        if suffix:
            last = "bytes={}-".format(max(size - int(suffix.group(1)), 0))
            request._request_handler.headers.replace_header("Range", last)
    return whole_download(request, response, storage, *args, **kwargs)

objects.download = ranged_download

def not_found_body(request, storage):
    params = request.params or {}
    bucket, name = params.get("bucket_name"), params.get("object_id")
    if bucket is not None and bucket not in storage.buckets:
        message = "The specified bucket does not exist."
    elif bucket is not None and name is not None:
        message = "No such object: {}/{}".format(bucket, name)
    else:
        message = "Not Found"
    error = {"message": message, "domain": "global", "reason": "notFound"}
    return {"error": {"code": 404, "message": message, "errors": [error]}}

def explained(handler):
    def handle(request, response, storage, *args, **kwargs):
        handler(request, response, storage, *args, **kwargs)
        if response.status == HTTPStatus.NOT_FOUND and not response._content:
            response.json(not_found_body(request, storage))
    return handle

for _, methods in server.HANDLERS:
    if methods.get("GET") is whole_download:
        methods["GET"] = ranged_download
    if methods.get("PUT") is objects.upload_partial:
        methods["PUT"] = granular_upload_partial
    if methods.get("GET") is objects.ls:
        methods["GET"] = paged_ls
    for method, handler in list(methods.items()):
        methods[method] = explained(handler)
logging.getLogger("gcp_storage_emulator").setLevel(logging.ERROR)
httpd = ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), partial(RequestHandler, Storage(use_memory_fs=True)))
httpd.daemon_threads = True
httpd.serve_forever()
"""
"""The subprocess's program: an empty in-memory store served a thread per request, with the patches the module
describes. It imports only the server package, so it starts in a fraction of the time importing this package (and
the emulator) takes."""


class GcsServer(LoopbackService):
    """Context manager: start gcp-storage-emulator in a subprocess on loopback, expose its URL and object
    helpers, stop it. A subprocess keeps the objects it holds out of the test process's memory."""

    def __init__(self, port: int | None = None, *, host: str = HOST) -> None:
        """Remember where to listen; nothing starts before :meth:`start`."""
        self.host = host
        self.port = port if port is not None else free_port(host)
        self._process: subprocess.Popen[bytes] | None = None
        self._http: httpx.Client | None = None

    @property
    def endpoint_url(self) -> str:
        """The URL Cloud Storage clients use, e.g. http://127.0.0.1:8125 (the JSON API is under /storage/v1)."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> GcsServer:
        """Launch the server and wait until it answers."""
        if self._process is not None:
            raise RuntimeError("The GCS server is already running.")
        command = [sys.executable, "-c", SERVE_SCRIPT, self.host, str(self.port)]
        self._process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._http = httpx.Client(base_url=self.endpoint_url, timeout=TIMEOUT)
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while True:
            if self._process.poll() is not None:
                self.stop()
                raise RuntimeError("The GCS server exited during startup.")
            try:
                if self.http.get("/", timeout=1.0).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"The GCS server did not answer within {STARTUP_TIMEOUT_SECONDS} s.")
            time.sleep(0.05)

    @property
    def http(self) -> httpx.Client:
        """An HTTP client bound to the server (only while it runs)."""
        if self._http is None:
            raise RuntimeError("The GCS server is not running.")
        return self._http

    def stop(self) -> None:
        """Stop the server (kill it if it lingers) and forget everything it held."""
        if self._http is not None:
            self._http.close()
            self._http = None
        if self._process is not None:
            stop_process(self._process)
            self._process = None

    def reset(self) -> None:
        """Delete every bucket and object."""
        self.http.get("/wipe").raise_for_status()

    def create_bucket(self, name: str) -> str:
        """Create a bucket and return its name."""
        response = self.http.post("/storage/v1/b", json={"name": name})
        response.raise_for_status()
        return name

    def put(self, uri: str, data: bytes) -> str:
        """Write an object named by a gs:// URI (a media upload); returns the URI."""
        bucket, name = split_gs_uri(uri)
        response = self.http.post(
            f"/upload/storage/v1/b/{quote(bucket, safe='')}/o",
            params={"uploadType": "media", "name": name},
            content=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        response.raise_for_status()
        return uri

    def get(self, uri: str) -> bytes:
        """The bytes of an object named by a gs:// URI (KeyError when it does not exist)."""
        bucket, name = split_gs_uri(uri)
        response = self.http.get(
            f"/download/storage/v1/b/{quote(bucket, safe='')}/o/{quote(name, safe='')}", params={"alt": "media"}
        )
        if response.status_code == 404:
            raise KeyError(uri)
        response.raise_for_status()
        return response.content

    def list(self, prefix_uri: str) -> list[str]:
        """The gs:// URIs of every object under a prefix, sorted."""
        bucket, prefix = split_gs_uri(prefix_uri)
        params = {"prefix": prefix}
        names: list[str] = []
        while True:
            response = self.http.get(f"/storage/v1/b/{quote(bucket, safe='')}/o", params=params)
            response.raise_for_status()
            body = response.json()
            names += [f"gs://{bucket}/{item['name']}" for item in body.get("items", [])]
            if not body.get("nextPageToken"):
                return sorted(names)
            params["pageToken"] = body["nextPageToken"]
