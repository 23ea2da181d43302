"""The emulator the raw-HTTP emulator tests talk to: one subprocess per module, reset before each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_genai_batch.testing.emulator import EmulatorServer


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
