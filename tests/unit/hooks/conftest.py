"""Hooks wired to ``httpx.MockTransport``, their connections given as ``AIRFLOW_CONN_*`` env vars."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_provider_genai_batch.hooks.anthropic import AnthropicBatchHook
from airflow_provider_genai_batch.hooks.gemini import GeminiBatchHook
from airflow_provider_genai_batch.hooks.openai import OpenAIBatchHook

from ._wire import BASE_URL, CONN_ID, Wire, mock_hooks

OPENAI_BASE_URL = "http://openai.test/v1"
OPENAI_CONN_ID = "openai_unit"
ANTHROPIC_BASE_URL = "http://anthropic.test"
ANTHROPIC_CONN_ID = "anthropic_unit"


@pytest.fixture
def gemini(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., tuple[GeminiBatchHook, Wire]]]:
    """``gemini(handler, **extra)`` -> a Gemini hook whose sync and async clients both talk to ``handler``."""
    with mock_hooks(
        monkeypatch,
        GeminiBatchHook,
        conn_id=CONN_ID,
        conn_type="genaigemini",
        base_url=BASE_URL,
        default_extra={"upload_chunk_size": 262144},
    ) as make:
        yield make


@pytest.fixture
def openai(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., tuple[Any, Wire]]]:
    """``openai(handler, **extra)`` -> an OpenAI hook (base URL ``http://openai.test/v1``) talking to ``handler``."""
    with mock_hooks(
        monkeypatch, OpenAIBatchHook, conn_id=OPENAI_CONN_ID, conn_type="genaiopenai", base_url=OPENAI_BASE_URL
    ) as make:
        yield make


@pytest.fixture
def anthropic(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., tuple[Any, Wire]]]:
    """``anthropic(handler, **extra)`` -> an Anthropic hook (``http://anthropic.test``) talking to ``handler``."""
    with mock_hooks(
        monkeypatch,
        AnthropicBatchHook,
        conn_id=ANTHROPIC_CONN_ID,
        conn_type="genaianthropic",
        base_url=ANTHROPIC_BASE_URL,
    ) as make:
        yield make
