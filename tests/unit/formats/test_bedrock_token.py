"""Bedrock's clientRequestToken: the key, the input fingerprint and, for a resubmission, the job it replaces."""

from __future__ import annotations

from airflow_provider_genai_batch.formats.bedrock import client_request_token, identity_in_client_request_token
from airflow_provider_genai_batch.idempotency import JobIdentity

KEY = "gbk-0123456789abcdef0123"
FINGERPRINT = "f" * 64
OLD_JOB = "arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/abcdefghijkl"


def test_a_first_submission_token_is_the_key_and_the_fingerprint():
    assert client_request_token(KEY, FINGERPRINT) == f"{KEY}-{FINGERPRINT}"


def test_a_resubmission_token_differs_from_the_token_of_the_job_it_replaces():
    first = client_request_token(KEY, FINGERPRINT)
    second = client_request_token(KEY, FINGERPRINT, replaces=OLD_JOB)
    third = client_request_token(KEY, FINGERPRINT, replaces=OLD_JOB.replace("abcdefghijkl", "zyxwvutsrqpo"))

    assert len({first, second, third}) == 3
    assert second.startswith(f"{KEY}-{FINGERPRINT}-r") and len(second) <= 256


def test_a_resubmission_token_is_the_same_on_every_retry_of_the_same_create():
    assert client_request_token(KEY, FINGERPRINT, replaces=OLD_JOB) == client_request_token(
        KEY, FINGERPRINT, replaces=OLD_JOB
    )


def test_a_resubmission_token_still_names_the_task_and_its_input():
    token = client_request_token(KEY, FINGERPRINT, replaces=OLD_JOB)
    assert identity_in_client_request_token(token) == JobIdentity(KEY, FINGERPRINT)
