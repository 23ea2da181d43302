"""A faithful local emulator of LLM providers' Files and Batch REST APIs, for tests only.

Production code must never import this package.
"""

from __future__ import annotations

from airflow_provider_genai_batch.testing.emulator.app import create_app
from airflow_provider_genai_batch.testing.emulator.config import EmulatorConfig
from airflow_provider_genai_batch.testing.emulator.responses import FAIL_MARKER
from airflow_provider_genai_batch.testing.emulator.server import EmulatorServer

__all__ = ["FAIL_MARKER", "EmulatorConfig", "EmulatorServer", "create_app"]
