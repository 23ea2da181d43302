"""Fixtures for driving official SDKs against the emulator subprocess."""

from __future__ import annotations

from collections.abc import Iterator

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
