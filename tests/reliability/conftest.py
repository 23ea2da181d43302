"""One emulator for the reliability tests, reset before each test; connections for every emulated provider."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_genai_batch.testing.emulator import EmulatorServer

from .harness import API_KEY, PROVIDER_CASES, ProviderCase, conn_env_var, conn_id_for, emulated_providers

PENDING_SECONDS = 0.2
RUNNING_SECONDS = 0.3


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorServer]:
    """Jobs finish about half a second after they are created; every call needs the test key."""
    with EmulatorServer(pending_seconds=PENDING_SECONDS, running_seconds=RUNNING_SECONDS, api_key=API_KEY) as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_emulator(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts from an empty emulator, no faults, and connections to every provider."""
    emulator.reset()
    for name, case in PROVIDER_CASES.items():
        monkeypatch.setenv(conn_env_var(conn_id_for(name)), case.connection(emulator.base_url))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``provider`` runs a test once per provider the emulator mounts (see harness.emulated_providers)."""
    if "provider" in metafunc.fixturenames:
        metafunc.parametrize("provider", emulated_providers())
    elif "file_provider" in metafunc.fixturenames:  # the providers that take an uploaded input file
        names = [name for name in emulated_providers() if PROVIDER_CASES[name].upload_path is not None]
        metafunc.parametrize("file_provider", names)


@pytest.fixture
def case(provider: str) -> ProviderCase:
    return PROVIDER_CASES[provider]
