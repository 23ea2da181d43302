"""One emulator (and moto's S3, for Bedrock) for the reliability tests, reset before each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airflow_provider_genai_batch.testing.emulator import EmulatorServer
from airflow_provider_genai_batch.testing.s3 import MotoS3Server

from .harness import PROVIDER_CASES, ProviderCase, connections, emulated_providers, reliability_servers, reset_servers

PENDING_SECONDS = 0.2
RUNNING_SECONDS = 0.3


@pytest.fixture(scope="session")
def servers() -> Iterator[tuple[EmulatorServer, MotoS3Server]]:
    """Jobs finish about half a second after they are created; every call needs the test key."""
    with reliability_servers(pending_seconds=PENDING_SECONDS, running_seconds=RUNNING_SECONDS) as both:
        yield both


@pytest.fixture(scope="session")
def emulator(servers: tuple[EmulatorServer, MotoS3Server]) -> EmulatorServer:
    return servers[0]


@pytest.fixture(scope="session")
def s3(servers: tuple[EmulatorServer, MotoS3Server]) -> MotoS3Server:
    return servers[1]


@pytest.fixture(autouse=True)
def _fresh_emulator(emulator: EmulatorServer, s3: MotoS3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts from an empty emulator and S3, no faults, and connections to every provider."""
    reset_servers(emulator, s3)
    for env_var, conn in connections(emulator, s3).items():
        monkeypatch.setenv(env_var, conn)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``provider`` runs a test once per provider the emulator mounts (see harness.emulated_providers);
    ``file_provider`` once per such provider that uploads an input file, ``keyless_provider`` once per such provider
    whose jobs carry no key to be found by."""
    if "provider" in metafunc.fixturenames:
        metafunc.parametrize("provider", emulated_providers())
    elif "file_provider" in metafunc.fixturenames:  # the providers that upload an input file to the emulator
        names = [name for name in emulated_providers() if PROVIDER_CASES[name].upload_path is not None]
        metafunc.parametrize("file_provider", names)
    elif "keyless_provider" in metafunc.fixturenames:  # the providers whose jobs cannot be looked up by key
        metafunc.parametrize(
            "keyless_provider", [name for name in emulated_providers() if not PROVIDER_CASES[name].findable]
        )


@pytest.fixture
def case(provider: str) -> ProviderCase:
    return PROVIDER_CASES[provider]
