"""The extra link: the page the submitting worker recorded in the job ref, else the provider's public console.

The API server renders it from the XCom'd ref alone, without the connection.
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_genai_batch import links as links_module
from airflow_provider_genai_batch.hooks.gemini import GeminiBatchHook
from airflow_provider_genai_batch.job_ref import BatchJobRef
from airflow_provider_genai_batch.links import GenAIBatchJobLink

JOB = "batches/abc"
RECORDED = "http://127.0.0.1:8765/v1beta/batches/abc"
EARLIER_REF = {
    "provider": "gemini",
    "conn_id": "genai_gemini_default",
    "job_name": JOB,
    "idempotency_key": "gbk-0123456789abcdef0123",
    "request_count": 3,
    "output_uri": "/tmp/out",
    "embeddings": False,
    "destination": None,
}
"""A ref as refs were stored before they recorded where to look at the job."""


def link_of(monkeypatch: pytest.MonkeyPatch, stored: Any) -> str:
    monkeypatch.setattr(links_module.XCom, "get_value", staticmethod(lambda *, ti_key, key: stored))
    return GenAIBatchJobLink().get_link(object(), ti_key="ti-key-1")


def test_the_link_is_the_page_recorded_in_the_ref(monkeypatch):
    assert link_of(monkeypatch, {**EARLIER_REF, "console_url": RECORDED}) == RECORDED


def test_a_ref_recorded_without_a_page_still_parses():
    assert BatchJobRef.parse(EARLIER_REF).console_url is None


def test_a_ref_recorded_without_a_page_links_to_the_public_console(monkeypatch):
    assert link_of(monkeypatch, EARLIER_REF) == GeminiBatchHook.console_url(JOB)


def test_the_recorded_page_travels_through_xcom_unchanged():
    ref = BatchJobRef.parse({**EARLIER_REF, "console_url": RECORDED})
    assert BatchJobRef.parse(ref.to_xcom()).console_url == RECORDED
