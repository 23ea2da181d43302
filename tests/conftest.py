"""Test-wide set-up: an isolated AIRFLOW_HOME (set before Airflow is imported) and CI's no-skip rule."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_HOME = Path(tempfile.mkdtemp(prefix="genai-batch-airflow-home-"))
os.environ["AIRFLOW_HOME"] = str(_HOME)
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).resolve().parents[1] / "dags_examples")
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO")

import pytest  # noqa: E402


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, exitstatus: int) -> None:
    """In CI nothing may be skipped silently: any skipped test fails the run."""
    skipped = terminalreporter.stats.get("skipped", [])
    if os.environ.get("CI") == "true" and skipped:
        terminalreporter.write_line(f"CI=true: {len(skipped)} test(s) skipped; skips are not allowed in CI", red=True)
        terminalreporter._session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def airflow_home() -> Path:
    """The AIRFLOW_HOME this test session uses."""
    return _HOME
