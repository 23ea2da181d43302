"""The emulator the raw-HTTP emulator tests talk to: one subprocess per module, reset before each test; and the
Bedrock connection the Bedrock tests among them use, on the session's Bedrock emulator and moto S3."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest

from airflow_provider_genai_batch.testing.emulator import EmulatorServer
from airflow_provider_genai_batch.testing.s3 import MotoS3Server

BEDROCK_CONN_ID = "bedrock_emulated"


@pytest.fixture(scope="module")
def emulator(request: pytest.FixtureRequest) -> Iterator[EmulatorServer]:
    """Short job timings, and the module's own ``API_KEY`` required on every call."""
    with EmulatorServer(pending_seconds=0.2, running_seconds=0.3, api_key=request.module.API_KEY) as server:
        yield server


@pytest.fixture(autouse=True)
def _reset(request: pytest.FixtureRequest) -> None:
    """Each test that uses ``emulator`` starts from an empty one with the launch config (Bedrock tests reset
    theirs through ``bedrock_bucket``)."""
    if "emulator" in request.fixturenames:
        request.getfixturevalue("emulator").reset()


@pytest.fixture
def bedrock_connection(
    monkeypatch: pytest.MonkeyPatch, bedrock_emulator: EmulatorServer, moto_s3: MotoS3Server, bedrock_bucket: str
) -> Callable[..., str]:
    """Makes the genaibedrock connection ``bedrock_emulated`` on the emulator and moto (credentials from botocore's
    default chain, the environment), with the given extras (retry settings, part size) on top; returns its id."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")

    def make(**extras: float | int) -> str:
        extra = {
            "region": "us-east-1",
            "role_arn": "arn:aws:iam::123456789012:role/BedrockBatch",
            "input_s3_uri": f"s3://{bedrock_bucket}/input",
            "output_s3_uri": f"s3://{bedrock_bucket}/output",
            "endpoint_url": f"{bedrock_emulator.base_url}/bedrock",
            "s3_endpoint_url": moto_s3.endpoint_url,
            **extras,
        }
        conn = {"conn_type": "genaibedrock", "extra": extra}
        monkeypatch.setenv(f"AIRFLOW_CONN_{BEDROCK_CONN_ID.upper()}", json.dumps(conn))
        return BEDROCK_CONN_ID

    return make
