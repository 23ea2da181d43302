"""A real S3-compatible server for tests: moto's server mode on a free loopback port, with bucket helpers.

Bedrock batch jobs read their input from S3 and write their output there; tests run both the hook and
the Bedrock emulator against this server instead of a hand-written fake. Test tooling only.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from airflow_provider_genai_batch.testing.emulator.common import S3_TEST_CREDENTIALS, s3_client, split_s3_uri
from airflow_provider_genai_batch.testing.emulator.server import HOST, LoopbackService, free_port

REGION = "us-east-1"
CREDENTIALS = S3_TEST_CREDENTIALS
"""moto accepts any keys; these are the conventional fake ones."""


class MotoS3Server(LoopbackService):
    """Context manager: start moto's threaded server on loopback, expose its URL and an S3 client, stop it."""

    def __init__(self, port: int | None = None, *, host: str = HOST, region: str = REGION) -> None:
        """Remember where to listen; nothing starts before :meth:`start`."""
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.region = region
        self._server: Any = None
        self._client: Any = None

    @property
    def endpoint_url(self) -> str:
        """The URL S3 clients use, e.g. http://127.0.0.1:8124."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> MotoS3Server:
        """Start the server (moto waits until it accepts connections)."""
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        self._server.start()
        return self

    def stop(self) -> None:
        """Stop the server and forget its state."""
        if self._server is not None:
            self._server.stop()
            self._server = None
        self._client = None

    @property
    def client(self) -> Any:
        """A boto3 S3 client on this server."""
        if self._client is None:
            self._client = s3_client(self.endpoint_url, self.region)
        return self._client

    def reset(self) -> None:
        """Forget every bucket and object (moto's reset endpoint)."""
        httpx.post(f"{self.endpoint_url}/moto-api/reset", timeout=30.0).raise_for_status()

    def create_bucket(self, name: str) -> str:
        """Create a bucket (in us-east-1 no location constraint is sent) and return its name."""
        if self.region == "us-east-1":
            self.client.create_bucket(Bucket=name)
        else:
            self.client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": self.region})
        return name

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every key under a prefix, sorted."""
        paginator = self.client.get_paginator("list_objects_v2")
        return sorted(
            item["Key"]
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
            for item in page.get("Contents", [])
        )

    def read(self, uri: str) -> bytes:
        """The bytes of an object named by an s3:// URI."""
        bucket, key = split_s3_uri(uri)
        body: bytes = self.client.get_object(Bucket=bucket, Key=key)["Body"].read()
        return body

    def put(self, uri: str, data: bytes) -> str:
        """Write an object named by an s3:// URI; returns the URI."""
        bucket, key = split_s3_uri(uri)
        self.client.put_object(Bucket=bucket, Key=key, Body=data)
        return uri
