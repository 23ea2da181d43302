"""Fixtures shared by the emulator tests: a real S3-compatible server (moto) and a Bedrock emulator on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_genai_batch.testing.emulator import EmulatorServer
from airflow_provider_genai_batch.testing.s3 import MotoS3Server

BEDROCK_BUCKET = "genai-batch-test"


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3Server]:
    """moto's S3 in server mode on a free loopback port, for the whole session."""
    with MotoS3Server() as server:
        yield server


@pytest.fixture(scope="module")
def bedrock_emulator(moto_s3: MotoS3Server) -> Iterator[EmulatorServer]:
    """An emulator whose Bedrock jobs read and write the moto S3 server; short job timings."""
    with EmulatorServer(pending_seconds=0.3, running_seconds=0.3, s3_endpoint_url=moto_s3.endpoint_url) as server:
        yield server


@pytest.fixture
def bedrock_bucket(moto_s3: MotoS3Server, bedrock_emulator: EmulatorServer) -> str:
    """An empty bucket and an emulator reset to its launch config, for each test."""
    bedrock_emulator.reset()
    moto_s3.reset()
    return moto_s3.create_bucket(BEDROCK_BUCKET)
