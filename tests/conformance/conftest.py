"""Fixtures for driving official SDKs against the emulator subprocess."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from google import genai
from google.genai import types

from airflow_provider_genai_batch.testing.emulator import EmulatorServer

API_KEY = "test-key"


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorServer]:
    """One emulator subprocess for the session, with short job timings and a required API key."""
    with EmulatorServer(pending_seconds=0.2, running_seconds=0.3, api_key=API_KEY) as server:
        yield server


@pytest.fixture(autouse=True)
def _reset_emulator(emulator: EmulatorServer) -> None:
    """Every test starts from an empty emulator with the launch config."""
    emulator.reset()


@pytest.fixture
def genai_client(emulator: EmulatorServer) -> Iterator[genai.Client]:
    """A google-genai client pointed at the emulator, with the API version pinned to v1beta."""
    sdk = genai.Client(
        api_key=API_KEY,
        http_options=types.HttpOptions(base_url=emulator.base_url, api_version="v1beta"),
    )
    yield sdk
    sdk.close()


# --- Amazon Bedrock: boto3 against the emulator, input and output in moto's S3 ---------------------------


@pytest.fixture
def bedrock_client(bedrock_emulator: EmulatorServer, bedrock_bucket: str) -> Any:
    """boto3's ``bedrock`` client on the emulator's /bedrock endpoint."""
    import boto3

    return boto3.client(
        "bedrock",
        region_name="us-east-1",
        endpoint_url=f"{bedrock_emulator.base_url}/bedrock",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
