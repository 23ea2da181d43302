"""A real Cloud Storage server for tests: gcp-storage-emulator, in memory, in a subprocess on a free loopback port.

Vertex batch jobs read their input from Cloud Storage and write their predictions there; tests run the
hook, google-cloud-storage and the Vertex emulator against this server. It serves the JSON API at
`{endpoint_url}/storage/v1`, uploads at `/upload/storage/v1` (media, multipart and resumable) and media
downloads. Requests are served by a thread each, so a client may hold a download open while it makes other
calls. Known differences from Cloud Storage (not patched here): it accepts any credentials, resumable chunks
of any size, any bucket name and `ifGenerationMatch` on an existing object; it ignores `maxResults` (one page
of everything) and suffix ranges; it holds whole objects in memory; and it parses a media upload whose
Content-Type starts with application/json (`application/jsonl` too) as JSON, dropping the connection when
the body is not one JSON document. Test tooling only.
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
import logging, sys
from functools import partial
from http.server import ThreadingHTTPServer
from gcp_storage_emulator.server import RequestHandler
from gcp_storage_emulator.storage import Storage

logging.getLogger("gcp_storage_emulator").setLevel(logging.ERROR)
httpd = ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), partial(RequestHandler, Storage(use_memory_fs=True)))
httpd.daemon_threads = True
httpd.serve_forever()
"""
"""The subprocess's program: an empty in-memory store served a thread per request. It imports only the
server package, so it starts in a fraction of the time importing this package (and the emulator) takes."""


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
        response = self.http.get(f"/storage/v1/b/{quote(bucket, safe='')}/o", params={"prefix": prefix})
        response.raise_for_status()
        return sorted(f"gs://{bucket}/{item['name']}" for item in response.json().get("items", []))
