"""The extra link: the page the submitting worker recorded in the job ref, else the provider's public console.

The API server renders it from the XCom'd ref alone, without the connection.
"""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_genai_batch import links as links_module
from airflow_provider_genai_batch.hooks.gemini import GeminiBatchHook
from airflow_provider_genai_batch.job_ref import BatchJobRef, PartRef
from airflow_provider_genai_batch.links import GenAIBatchJobLink, job_to_show
from airflow_provider_genai_batch.models import JobState

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


# --- which part of a group the link shows ---------------------------------------------------------------------------

GROUP = BatchJobRef(
    provider="gemini",
    conn_id="genai_gemini_default",
    job_name="batches/a",
    parts=tuple(
        PartRef(
            index=i,
            round=r,
            idempotency_key=f"k{i}",
            input_fingerprint=f"f{i}",
            request_count=1,
            byte_count=1,
            job_name=f"batches/{name}",
        )
        for i, (name, r) in enumerate([("a", 0), ("b", 0), ("r1", 1)])
    ),
)


@pytest.mark.parametrize(
    ("seen", "shown"),
    [
        ({"batches/a": JobState.SUCCEEDED, "batches/b": JobState.RUNNING}, "batches/b"),
        ({"batches/a": JobState.SUCCEEDED, "batches/b": JobState.SUCCEEDED}, "batches/r1"),
        ({"batches/a": JobState.FAILED, "batches/b": JobState.RUNNING, "batches/r1": JobState.RUNNING}, "batches/b"),
        ({"batches/a": JobState.FAILED, "batches/b": JobState.SUCCEEDED, "batches/r1": JobState.EXPIRED}, "batches/r1"),
        (
            {"batches/a": JobState.FAILED, "batches/b": JobState.SUCCEEDED, "batches/r1": JobState.SUCCEEDED},
            "batches/a",
        ),
        ({name: JobState.SUCCEEDED for name in GROUP.job_names()}, "batches/a"),
        ({}, "batches/a"),
    ],
    ids=[
        "a-part-still-running",
        "a-part-not-seen-yet",
        "running-before-failed",
        "a-later-rounds-failure",
        "the-failure-left",
        "all-succeeded",
        "nothing-seen",
    ],
)
def test_a_group_shows_the_part_worth_looking_at(seen: dict[str, JobState], shown: str):
    assert job_to_show(GROUP, seen) == shown


def test_one_job_shows_that_job():
    assert job_to_show(BatchJobRef.parse(EARLIER_REF), {JOB: JobState.FAILED}) == JOB
