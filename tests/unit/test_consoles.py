"""Where the extra link sends a person: the public console for a public API, the configured host otherwise.

Each hook is built from an ``AIRFLOW_CONN_*`` connection exactly as a worker builds it; nothing is sent.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_genai_batch.consoles import is_public, job_page
from airflow_provider_genai_batch.hooks.registry import hook_class_for_conn_type

CONN_ID = "console_unit"
ARN = "arn:aws:bedrock:us-west-2:123456789012:model-invocation-job/abcdefghijkl"
ENCODED_ARN = "arn%3Aaws%3Abedrock%3Aus-west-2%3A123456789012%3Amodel-invocation-job%2Fabcdefghijkl"
VERTEX_JOB = "projects/proj-1/locations/europe-west4/batchPredictionJobs/4242"


def hook_on(monkeypatch: pytest.MonkeyPatch, conn_type: str, **fields: Any) -> Any:
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", json.dumps({"conn_type": conn_type, **fields}))
    return hook_class_for_conn_type(conn_type)(conn_id=CONN_ID)


@pytest.mark.parametrize(
    ("conn_type", "fields", "job_name", "page"),
    [
        ("genaigemini", {"password": "k"}, "batches/abc", "https://aistudio.google.com/batches"),
        ("genaiopenai", {"password": "k"}, "batch_abc", "https://platform.openai.com/batches/batch_abc"),
        (
            "genaianthropic",
            {"password": "k"},
            "msgbatch_01",
            "https://console.anthropic.com/workspaces/default/batches/msgbatch_01",
        ),
        (
            "genaibedrock",
            {"extra": {"region": "us-west-2"}},
            ARN,
            "https://us-west-2.console.aws.amazon.com/bedrock/home?region=us-west-2#/batch-inference",
        ),
        (
            "genaivertex",
            {"extra": {"project": "proj-1", "location": "europe-west4"}},
            VERTEX_JOB,
            "https://console.cloud.google.com/vertex-ai/locations/europe-west4/batch-predictions/4242?project=proj-1",
        ),
    ],
    ids=["gemini", "openai", "anthropic", "bedrock", "vertex"],
)
def test_a_connection_on_the_public_api_links_to_the_public_console(monkeypatch, conn_type, fields, job_name, page):
    assert job_page(hook_on(monkeypatch, conn_type, **fields), job_name) == page


@pytest.mark.parametrize(
    ("conn_type", "fields", "job_name", "page"),
    [
        (
            "genaigemini",
            {"host": "http://127.0.0.1:8765", "password": "k"},
            "batches/abc",
            "http://127.0.0.1:8765/v1beta/batches/abc",
        ),
        (
            "genaiopenai",
            {"host": "https://my-resource.openai.azure.com/openai/v1", "password": "k"},
            "batch_abc",
            "https://my-resource.openai.azure.com/openai/v1/batches/batch_abc",
        ),
        (
            "genaianthropic",
            {"host": "https://llm-proxy.example.internal/anthropic", "password": "k"},
            "msgbatch_01",
            "https://llm-proxy.example.internal/anthropic/v1/messages/batches/msgbatch_01",
        ),
        (
            "genaigateway",
            {"host": "http://gateway.example.internal:8080/genai", "password": "k"},
            "batches/abc",
            "http://gateway.example.internal:8080/genai/v1beta/batches/abc",
        ),
        (
            "genaibedrock",
            {
                "extra": {
                    "region": "us-west-2",
                    "endpoint_url": "https://vpce-0abc.bedrock.us-west-2.vpce.amazonaws.com",
                }
            },
            ARN,
            f"https://vpce-0abc.bedrock.us-west-2.vpce.amazonaws.com/model-invocation-job/{ENCODED_ARN}",
        ),
        (
            "genaivertex",
            {
                "host": "https://vertex-proxy.example.internal",
                "extra": {"project": "proj-1", "location": "europe-west4"},
            },
            VERTEX_JOB,
            f"https://vertex-proxy.example.internal/v1/{VERTEX_JOB}",
        ),
    ],
    ids=["gemini-emulator", "openai-azure", "anthropic-proxy", "gateway", "bedrock-endpoint", "vertex-endpoint"],
)
def test_a_connection_on_another_host_links_to_the_job_on_that_host(monkeypatch, conn_type, fields, job_name, page):
    assert job_page(hook_on(monkeypatch, conn_type, **fields), job_name) == page


@pytest.mark.parametrize(
    ("conn_type", "fields", "job_name", "page"),
    [
        (
            "genaigateway",
            {
                "host": "https://svc:hunter2@gw.example.com/genai",
                "password": "k",
                "extra": {"model_provider": "openai"},
            },
            "batches/abc",
            "https://gw.example.com/genai/v1beta/batches/abc",
        ),
        (
            "genaiopenai",
            {"host": "https://svc:hunter2@proxy.example.com/v1", "password": "k"},
            "batch_abc",
            "https://proxy.example.com/v1/batches/batch_abc",
        ),
    ],
    ids=["gateway", "openai-proxy"],
)
def test_the_link_to_a_host_leaves_out_the_user_and_password_its_base_url_carries(
    monkeypatch, conn_type, fields, job_name, page
):
    link = job_page(hook_on(monkeypatch, conn_type, **fields), job_name)

    assert link == page
    assert "hunter2" not in link


def test_a_host_that_only_contains_a_public_name_is_not_public():
    assert not is_public("openai", "https://api.openai.com.example.internal/v1")
    assert is_public("openai", "https://api.openai.com/v1")


def test_a_provider_without_a_public_api_is_never_public():
    assert not is_public("gateway", "http://localhost:8080/genai")
