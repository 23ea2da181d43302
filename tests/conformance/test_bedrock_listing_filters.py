"""boto3's ListModelInvocationJobs time filter against the emulator: the one a look-up by key sends beside
``nameContains``, serialized by botocore itself, keeps only jobs submitted after the time it names."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import Any

from airflow_provider_genai_batch.testing.s3 import MotoS3Server

CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
ROLE = "arn:aws:iam::123456789012:role/BedrockBatch"


def create(client: Any, input_uri: str, bucket: str, name: str) -> str:
    response = client.create_model_invocation_job(
        jobName=name,
        roleArn=ROLE,
        modelId=CLAUDE,
        inputDataConfig={"s3InputDataConfig": {"s3Uri": input_uri, "s3InputFormat": "JSONL"}},
        outputDataConfig={"s3OutputDataConfig": {"s3Uri": f"s3://{bucket}/output/"}},
        timeoutDurationInHours=24,
    )
    return str(response["jobArn"])


def test_submit_time_after_keeps_only_the_jobs_submitted_after_it(
    bedrock_client, moto_s3: MotoS3Server, bedrock_bucket
):
    record = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 8,
        "messages": [{"role": "user", "content": "q"}],
    }
    lines = "".join(json.dumps({"recordId": f"R{i:03d}", "modelInput": record}) + "\n" for i in range(100))
    input_uri = moto_s3.put(f"s3://{bedrock_bucket}/input/batch.jsonl", lines.encode())
    create(bedrock_client, input_uri, bedrock_bucket, "nightly-gbk-0123456789abcdef0123")
    time.sleep(0.05)
    between = datetime.now(timezone.utc)
    time.sleep(0.05)
    later = create(bedrock_client, input_uri, bedrock_bucket, "nightly-gbk-0123456789abcdef0123-again")

    listed = bedrock_client.list_model_invocation_jobs(
        nameContains="gbk-0123456789abcdef0123", submitTimeAfter=between, sortBy="CreationTime", sortOrder="Descending"
    )["invocationJobSummaries"]

    assert [summary["jobArn"] for summary in listed] == [later]
    assert all(summary["submitTime"] > between for summary in listed)
