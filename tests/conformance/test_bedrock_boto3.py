"""boto3's ``bedrock`` client driven against the emulator: proof that it speaks the real Bedrock wire format.

Every call the hook makes (create, get, list, stop) goes through botocore's own serializer, signer and
parser; the assertions are on what boto3 parsed, including its typed errors and its paginator.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

import pytest
from botocore.exceptions import ClientError

from airflow_provider_genai_batch.testing.emulator import FAIL_MARKER, EmulatorServer
from airflow_provider_genai_batch.testing.s3 import MotoS3Server

CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
ROLE = "arn:aws:iam::123456789012:role/BedrockBatch"
TOKEN = "gbk-0123456789abcdef0123"


@pytest.fixture
def input_uri(moto_s3: MotoS3Server, bedrock_bucket: str) -> str:
    """100 Claude records, the last one failing on purpose."""
    lines = []
    for i in range(100):
        text = f"Question {i}?" + (FAIL_MARKER if i == 99 else "")
        body = {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 32,
            "messages": [{"role": "user", "content": text}],
        }
        lines.append(json.dumps({"recordId": f"REC{i:08d}", "modelInput": body}))
    return moto_s3.put(f"s3://{bedrock_bucket}/input/batch.jsonl", ("\n".join(lines) + "\n").encode())


def create(client: Any, input_uri: str, bucket: str, **kwargs: Any) -> str:
    response = client.create_model_invocation_job(
        jobName=kwargs.pop("jobName", "conformance-run"),
        roleArn=ROLE,
        modelId=CLAUDE,
        inputDataConfig={"s3InputDataConfig": {"s3Uri": input_uri, "s3InputFormat": "JSONL"}},
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": f"s3://{bucket}/output/"}},
        timeoutDurationInHours=24,
        **kwargs,
    )
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    return response["jobArn"]


def wait_for(client: Any, arn: str, statuses: set[str], timeout: float = 15.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get_model_invocation_job(jobIdentifier=arn)
        if job["status"] in statuses:
            return job
        time.sleep(0.05)
    raise AssertionError(f"{arn} not in {statuses} after {timeout} s")


def test_create_with_a_repeated_client_request_token_returns_the_same_job(
    bedrock_client, bedrock_emulator: EmulatorServer, input_uri, bedrock_bucket
):
    first = create(bedrock_client, input_uri, bedrock_bucket, clientRequestToken=TOKEN)
    again = create(bedrock_client, input_uri, bedrock_bucket, clientRequestToken=TOKEN)
    assert first == again
    assert first.startswith("arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/")
    assert len(bedrock_emulator.jobs()) == 1
    # boto3 fills in a fresh uuid4 token when none is given: every such create is a new job
    create(bedrock_client, input_uri, bedrock_bucket)
    create(bedrock_client, input_uri, bedrock_bucket)
    assert len(bedrock_emulator.jobs()) == 3


def test_get_parses_into_the_documented_shape(bedrock_client, input_uri, bedrock_bucket):
    arn = create(bedrock_client, input_uri, bedrock_bucket, clientRequestToken=TOKEN, modelInvocationType="InvokeModel")
    job = wait_for(bedrock_client, arn, {"Completed"})
    assert job["jobArn"] == arn
    assert job["jobName"] == "conformance-run"
    assert job["clientRequestToken"] == TOKEN
    assert job["roleArn"] == ROLE
    assert job["modelId"] == CLAUDE
    assert job["inputDataConfig"] == {"s3InputDataConfig": {"s3Uri": input_uri, "s3InputFormat": "JSONL"}}
    assert job["outputDataConfig"] == {"s3OutputDataConfig": {"s3Uri": f"s3://{bedrock_bucket}/output/"}}
    assert job["modelInvocationType"] == "InvokeModel"
    for member in ("submitTime", "lastModifiedTime", "endTime", "jobExpirationTime"):
        assert isinstance(job[member], datetime) and job[member].tzinfo is not None, member
    assert job["endTime"] >= job["submitTime"]
    assert (job["totalRecordCount"], job["processedRecordCount"]) == (100, 100)
    assert (job["successRecordCount"], job["errorRecordCount"]) == (99, 1)
    by_id = bedrock_client.get_model_invocation_job(jobIdentifier=arn.rsplit("/", 1)[-1])
    assert by_id["jobArn"] == arn


def test_list_pages_through_the_paginator(bedrock_client, input_uri, bedrock_bucket):
    arns = [create(bedrock_client, input_uri, bedrock_bucket, jobName=f"paged-{i}") for i in range(5)]
    paginator = bedrock_client.get_paginator("list_model_invocation_jobs")
    pages = list(paginator.paginate(sortOrder="Descending", PaginationConfig={"PageSize": 2}))
    assert [len(page["invocationJobSummaries"]) for page in pages] == [2, 2, 1]
    listed = [summary["jobArn"] for page in pages for summary in page["invocationJobSummaries"]]
    assert listed == arns[::-1]
    assert all(isinstance(s["submitTime"], datetime) for page in pages for s in page["invocationJobSummaries"])
    named = bedrock_client.list_model_invocation_jobs(nameContains="paged-3")["invocationJobSummaries"]
    assert [s["jobName"] for s in named] == ["paged-3"]
    limited = list(paginator.paginate(PaginationConfig={"PageSize": 2, "MaxItems": 3}).search("invocationJobSummaries"))
    assert len(limited) == 3


def test_stop_then_stopping_and_stopped(bedrock_client, input_uri, bedrock_bucket):
    arn = create(bedrock_client, input_uri, bedrock_bucket)
    response = bedrock_client.stop_model_invocation_job(jobIdentifier=arn)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert bedrock_client.get_model_invocation_job(jobIdentifier=arn)["status"] == "Stopping"
    assert wait_for(bedrock_client, arn, {"Stopped"})["status"] == "Stopped"
    stopping = bedrock_client.list_model_invocation_jobs(statusEquals="Stopped")["invocationJobSummaries"]
    assert [s["jobArn"] for s in stopping] == [arn]


def test_stopping_a_finished_job_is_a_validation_exception_naming_the_state(bedrock_client, input_uri, bedrock_bucket):
    arn = create(bedrock_client, input_uri, bedrock_bucket)
    wait_for(bedrock_client, arn, {"Completed"})
    with pytest.raises(bedrock_client.exceptions.ValidationException) as caught:
        bedrock_client.stop_model_invocation_job(jobIdentifier=arn)
    assert "State was: Completed" in caught.value.response["Error"]["Message"]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"jobName": "has_underscore"}, "ValidationException"),
        ({"timeoutDurationInHours": 200}, "ValidationException"),
        ({"modelId": "not a model!"}, "ValidationException"),
        ({"vpcConfig": {"subnetIds": ["subnet_1"], "securityGroupIds": ["sg-1"]}}, "ValidationException"),
        ({"tags": [{"key": "team", "value": "50%"}]}, "ValidationException"),
    ],
)
def test_invalid_creates_raise_typed_errors(bedrock_client, input_uri, bedrock_bucket, kwargs, error):
    args = {
        "jobName": "ok",
        "roleArn": ROLE,
        "modelId": CLAUDE,
        "inputDataConfig": {"s3InputDataConfig": {"s3Uri": input_uri}},
        "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": f"s3://{bedrock_bucket}/out/"}},
        **kwargs,
    }
    # botocore validates only types client-side; the service (here the emulator) checks patterns and ranges
    with pytest.raises(ClientError) as caught:
        bedrock_client.create_model_invocation_job(**args)
    assert caught.value.response["Error"]["Code"] == error
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_unknown_jobs_raise_resource_not_found(bedrock_client, bedrock_bucket):
    unknown = "arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/zzzzzzzzzzzz"
    with pytest.raises(bedrock_client.exceptions.ResourceNotFoundException):
        bedrock_client.get_model_invocation_job(jobIdentifier=unknown)
    with pytest.raises(bedrock_client.exceptions.ResourceNotFoundException):
        bedrock_client.stop_model_invocation_job(jobIdentifier="zzzzzzzzzzzz")


def test_a_client_in_another_region_is_refused(bedrock_emulator, bedrock_bucket):
    import boto3

    client = boto3.client(
        "bedrock",
        region_name="eu-west-1",
        endpoint_url=f"{bedrock_emulator.base_url}/bedrock",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    with pytest.raises(ClientError) as caught:
        client.list_model_invocation_jobs()
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert caught.value.response["Error"]["Code"] == "InvalidSignatureException"


def test_the_output_boto3_s3_reads_follows_the_documented_layout(bedrock_client, moto_s3, input_uri, bedrock_bucket):
    arn = create(bedrock_client, input_uri, bedrock_bucket)
    wait_for(bedrock_client, arn, {"Completed"})
    job_id = arn.rsplit("/", 1)[-1]
    assert moto_s3.keys(bedrock_bucket, "output/") == [
        f"output/{job_id}/batch.jsonl.out",
        f"output/{job_id}/manifest.json.out",
    ]
    manifest = json.loads(moto_s3.read(f"s3://{bedrock_bucket}/output/{job_id}/manifest.json.out"))
    assert {k: manifest[k] for k in ("totalRecordCount", "successRecordCount", "errorRecordCount")} == {
        "totalRecordCount": 100,
        "successRecordCount": 99,
        "errorRecordCount": 1,
    }
