"""Test-wide set-up: an isolated AIRFLOW_HOME (set before Airflow is imported) and CI's no-skip rule."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

_HOME = Path(tempfile.mkdtemp(prefix="genai-batch-airflow-home-"))
atexit.register(shutil.rmtree, _HOME, ignore_errors=True)  # at exit: Airflow's log handlers may write until then
os.environ["AIRFLOW_HOME"] = str(_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).resolve().parents[1] / "dags_examples")
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO")

from collections.abc import Iterator  # noqa: E402

import pytest  # noqa: E402

from airflow_provider_genai_batch.testing.emulator import EmulatorServer  # noqa: E402
from airflow_provider_genai_batch.testing.gcs import GcsServer  # noqa: E402
from airflow_provider_genai_batch.testing.s3 import MotoS3Server  # noqa: E402

BEDROCK_BUCKET = "genai-batch-test"
VERTEX_BUCKET = "genai-batch-vertex-test"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int) -> None:
    """In CI nothing may be skipped silently: any skipped test fails the run."""
    skipped = terminalreporter.stats.get("skipped", [])
    if os.environ.get("CI") == "true" and skipped:
        terminalreporter.write_line(f"CI=true: {len(skipped)} test(s) skipped; skips are not allowed in CI", red=True)
        terminalreporter._session.exitstatus = pytest.ExitCode.TESTS_FAILED


LONGEST_FIRST = ("tests/dags/test_example_dags.py", "tests/dags/test_split_and_retry_example.py")
"""The test files that run longest (each example DAG run is a subprocess of its own). pytest-xdist hands whole files
to its workers in the order they were collected, so these go first: collected last, one worker ran them alone for
minutes after the other had finished everything else."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Move the tests of :data:`LONGEST_FIRST` to the front, each file's tests in their own order."""
    items.sort(key=lambda item: not item.nodeid.startswith(LONGEST_FIRST))


@pytest.fixture
def airflow_home() -> Path:
    """The AIRFLOW_HOME this test session uses."""
    return _HOME


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[MotoS3Server]:
    """moto's S3 in server mode on a free loopback port, for the whole session."""
    with MotoS3Server() as server:
        yield server


@pytest.fixture(scope="session")
def bedrock_emulator(moto_s3: MotoS3Server) -> Iterator[EmulatorServer]:
    """An emulator whose Bedrock jobs read and write the moto S3 server; short job timings."""
    with EmulatorServer(pending_seconds=0.2, running_seconds=0.3, s3_endpoint_url=moto_s3.endpoint_url) as server:
        yield server


@pytest.fixture
def bedrock_bucket(moto_s3: MotoS3Server, bedrock_emulator: EmulatorServer) -> str:
    """An empty bucket and an emulator reset to its launch config, for each test."""
    bedrock_emulator.reset()
    moto_s3.reset()
    return moto_s3.create_bucket(BEDROCK_BUCKET)


@pytest.fixture(scope="session")
def gcs_server() -> Iterator[GcsServer]:
    """gcp-storage-emulator (in memory) on a free loopback port, for the whole session."""
    with GcsServer() as server:
        yield server


@pytest.fixture(scope="session")
def vertex_emulator(gcs_server: GcsServer) -> Iterator[EmulatorServer]:
    """An emulator whose Vertex jobs read and write the GCS server (and its BigQuery store); short job timings."""
    with EmulatorServer(pending_seconds=0.2, running_seconds=0.3, gcs_endpoint_url=gcs_server.endpoint_url) as server:
        yield server


@pytest.fixture
def vertex_bucket(gcs_server: GcsServer, vertex_emulator: EmulatorServer) -> str:
    """An empty bucket and an emulator reset to its launch config, for each test."""
    vertex_emulator.reset()
    gcs_server.reset()
    return gcs_server.create_bucket(VERTEX_BUCKET)
