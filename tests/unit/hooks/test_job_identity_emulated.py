"""A task finds again only its own job, made for its own input: hooks against the emulator (and moto's S3).

Each "try" is what a submit try does with a hook: look the job up by the task's key and input
fingerprint, and create one only when none is found. The reports behind these tests: a task whose display
name held another task's key re-attached to that task's job; a display name holding any ``gbk-`` token made
one job per try; an edited input was answered with the job made for the old one.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_genai_batch.hooks.base import BatchHook
from airflow_provider_genai_batch.hooks.bedrock import BedrockBatchHook
from airflow_provider_genai_batch.hooks.gemini import GeminiBatchHook
from airflow_provider_genai_batch.hooks.openai import OpenAIBatchHook
from airflow_provider_genai_batch.idempotency import idempotency_key
from airflow_provider_genai_batch.models import BatchJob
from airflow_provider_genai_batch.spec import BatchSpec, FileSource, InlineSource
from airflow_provider_genai_batch.testing.emulator import EmulatorServer
from airflow_provider_genai_batch.testing.s3 import MotoS3Server

RUN_ID = "scheduled__2026-11-20T00:00:00+00:00"
X_KEY = idempotency_key("reports", "submit_x", RUN_ID, None)
Y_KEY = idempotency_key("reports", "submit_y", RUN_ID, None)
INPUT = "1f" * 32
EDITED_INPUT = "2e" * 32
USER_TOKENS = f"weekly gbk-0123456789abcdef0123 [gbk-{'f' * 20}/{'0' * 16}]"
MODELS = {"gemini": "gemini-2.5-flash", "openai": "gpt-4o-mini", "bedrock": "anthropic.claude-3-haiku-20240307-v1:0"}


def one_try(hook: BatchHook[Any], spec: BatchSpec) -> BatchJob:
    """One submit try: re-attach to the job this key and input name, else create it."""
    assert spec.idempotency_key is not None
    found = hook.find_batch(spec.idempotency_key, input_fingerprint=spec.input_fingerprint)
    return found if found is not None else hook.create_batch(spec)


# --- each provider's job, made from requests of its own format ------------------------------------------

Submitter = Callable[..., BatchSpec]


def gemini_spec(hook: BatchHook[Any], display_name: str, key: str, fingerprint: str, requests: int) -> BatchSpec:
    lines = [
        {"key": f"k{i}", "request": {"contents": [{"role": "user", "parts": [{"text": f"q{i}"}]}]}}
        for i in range(requests)
    ]
    return BatchSpec(
        model=MODELS["gemini"],
        display_name=display_name,
        source=InlineSource(lines),
        idempotency_key=key,
        input_fingerprint=fingerprint,
    )


def uploaded(hook: BatchHook[Any], lines: list[dict[str, Any]]) -> FileSource:
    data = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    return FileSource(hook.upload_file(io.BytesIO(data), display_name="input.jsonl").name)


def openai_spec(hook: BatchHook[Any], display_name: str, key: str, fingerprint: str, requests: int) -> BatchSpec:
    lines = [
        {
            "custom_id": f"k{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": MODELS["openai"], "messages": [{"role": "user", "content": f"q{i}"}]},
        }
        for i in range(requests)
    ]
    return BatchSpec(
        model=MODELS["openai"],
        display_name=display_name,
        source=uploaded(hook, lines),
        idempotency_key=key,
        input_fingerprint=fingerprint,
    )


def bedrock_spec(hook: BatchHook[Any], display_name: str, key: str, fingerprint: str, requests: int) -> BatchSpec:
    records = max(requests, 100)  # Bedrock takes no fewer than 100 records
    lines = [
        {
            "recordId": f"k{i}",
            "modelInput": {
                "anthropic_version": "bedrock-2023-05-31",
                "max_tokens": 16,
                "messages": [{"role": "user", "content": [{"type": "text", "text": f"q{i}"}]}],
            },
        }
        for i in range(records)
    ]
    return BatchSpec(
        model=MODELS["bedrock"],
        display_name=display_name,
        source=uploaded(hook, lines),
        idempotency_key=key,
        input_fingerprint=fingerprint,
    )


SPECS: dict[str, Submitter] = {"gemini": gemini_spec, "openai": openai_spec, "bedrock": bedrock_spec}


@pytest.fixture
def hook_for(
    monkeypatch: pytest.MonkeyPatch, bedrock_emulator: EmulatorServer, moto_s3: MotoS3Server, bedrock_bucket: str
) -> Callable[[str], BatchHook[Any]]:
    """``hook_for(provider)`` -> a new hook (a new try) on the emulator, reset for this test."""
    base = bedrock_emulator.base_url
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    connections = {
        "gemini": {"conn_type": "genaigemini", "host": base, "password": "k"},
        "openai": {"conn_type": "genaiopenai", "host": f"{base}/openai/v1", "password": "k"},
        "bedrock": {
            "conn_type": "genaibedrock",
            "extra": {
                "region": "us-east-1",
                "role_arn": "arn:aws:iam::123456789012:role/BedrockBatch",
                "input_s3_uri": f"s3://{bedrock_bucket}/input",
                "output_s3_uri": f"s3://{bedrock_bucket}/output",
                "endpoint_url": f"{base}/bedrock",
                "s3_endpoint_url": moto_s3.endpoint_url,
            },
        },
    }
    classes: dict[str, type[BatchHook[Any]]] = {
        "gemini": GeminiBatchHook,
        "openai": OpenAIBatchHook,
        "bedrock": BedrockBatchHook,
    }
    for provider, conn in connections.items():
        monkeypatch.setenv(f"AIRFLOW_CONN_IDENTITY_{provider.upper()}", json.dumps(conn))
    return lambda provider: classes[provider](conn_id=f"identity_{provider}")


def jobs_at(emulator: EmulatorServer, provider: str) -> list[dict[str, Any]]:
    return [job for job in emulator.jobs() if job["provider"] == provider]


PROVIDERS = pytest.mark.parametrize("provider", list(SPECS))


@PROVIDERS
def test_three_tries_of_a_task_whose_display_name_holds_gbk_tokens_make_one_job(provider, hook_for, bedrock_emulator):
    jobs = [
        one_try(hook, SPECS[provider](hook, USER_TOKENS, X_KEY, INPUT, 3)) for hook in map(hook_for, [provider] * 3)
    ]

    assert len({job.name for job in jobs}) == 1
    assert len(jobs_at(bedrock_emulator, provider)) == 1


@PROVIDERS
def test_a_task_whose_display_name_holds_another_tasks_key_never_adopts_its_job(provider, hook_for, bedrock_emulator):
    y_job = one_try(hook_for(provider), SPECS[provider](hook_for(provider), "scoring", Y_KEY, INPUT, 7))
    x_name = f"copy of scoring [{Y_KEY}/{INPUT[:16]}] {Y_KEY}-{INPUT}"

    x_tries = []
    for _ in range(2):
        hook = hook_for(provider)
        x_tries.append(one_try(hook, SPECS[provider](hook, x_name, X_KEY, INPUT, 3)))

    assert x_tries[0].name == x_tries[1].name != y_job.name
    assert len(jobs_at(bedrock_emulator, provider)) == 2
    assert hook_for(provider).find_batch(Y_KEY, input_fingerprint=INPUT).name == y_job.name
    assert hook_for(provider).find_batch(X_KEY, input_fingerprint=INPUT).name == x_tries[0].name


@PROVIDERS
def test_an_edited_input_is_not_answered_with_the_job_made_for_the_old_one(provider, hook_for, bedrock_emulator):
    hook = hook_for(provider)
    old = one_try(hook, SPECS[provider](hook, "nightly", X_KEY, INPUT, 5))

    hook = hook_for(provider)
    assert hook.find_batch(X_KEY, input_fingerprint=EDITED_INPUT) is None
    edited = one_try(hook, SPECS[provider](hook, "nightly", X_KEY, EDITED_INPUT, 6))

    assert edited.name != old.name
    assert len(jobs_at(bedrock_emulator, provider)) == 2
    assert hook_for(provider).find_batch(X_KEY, input_fingerprint=INPUT).name == old.name
    assert hook_for(provider).find_batch(X_KEY, input_fingerprint=EDITED_INPUT).name == edited.name


def test_bedrock_answers_a_repeated_token_with_its_job_but_an_edited_input_gets_a_new_one(hook_for, bedrock_emulator):
    """Even when the lookup misses (a listing that lags), the token makes the create itself safe."""
    hook = hook_for("bedrock")
    first = hook.create_batch(bedrock_spec(hook, "nightly", X_KEY, INPUT, 100))
    again = hook.create_batch(bedrock_spec(hook, "nightly", X_KEY, INPUT, 100))
    edited = hook.create_batch(bedrock_spec(hook, "nightly", X_KEY, EDITED_INPUT, 100))

    assert again.name == first.name != edited.name
    creates = [
        r["json"]
        for r in bedrock_emulator.requests()
        if (r["method"], r["path"]) == ("POST", "/bedrock/model-invocation-job")
    ]
    assert [c["clientRequestToken"] for c in creates] == [f"{X_KEY}-{INPUT}"] * 2 + [f"{X_KEY}-{EDITED_INPUT}"]
    assert {c["jobName"] for c in creates} == {f"nightly-{X_KEY}"}


def test_the_emulated_gemini_job_keeps_the_suffix_the_hook_wrote(hook_for, bedrock_emulator):
    hook = hook_for("gemini")
    job = hook.create_batch(gemini_spec(hook, USER_TOKENS, X_KEY, INPUT, 2))

    [create] = [r for r in bedrock_emulator.requests() if r["path"].endswith(":batchGenerateContent")]
    assert create["json"]["batch"]["displayName"] == f"{USER_TOKENS} [{X_KEY}/{INPUT[:16]}]"
    assert hook.get_batch(job.name).display_name == f"{USER_TOKENS} [{X_KEY}/{INPUT[:16]}]"


def test_the_emulated_openai_batch_keeps_key_and_fingerprint_in_its_metadata(hook_for, bedrock_emulator):
    hook = hook_for("openai")
    job = hook.create_batch(openai_spec(hook, USER_TOKENS, X_KEY, INPUT, 2))

    expected = {"display_name": USER_TOKENS, "idempotency_key": X_KEY, "input_fingerprint": INPUT}
    [create] = [r for r in bedrock_emulator.requests() if (r["method"], r["path"]) == ("POST", "/openai/v1/batches")]
    assert create["json"]["metadata"] == expected
    assert hook.get_batch(job.name).raw["metadata"] == expected
