"""Raw-HTTP tests of the Bedrock emulator: SigV4-signed httpx calls, input and output in a real S3 (moto)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from botocore.credentials import Credentials

from airflow_provider_genai_batch.formats import bedrock as wire
from airflow_provider_genai_batch.formats.results import RowStatus
from airflow_provider_genai_batch.hooks.aws import SigV4Auth
from airflow_provider_genai_batch.testing.emulator import FAIL_MARKER, EmulatorServer
from airflow_provider_genai_batch.testing.emulator.bedrock.validation import input_problem
from airflow_provider_genai_batch.testing.s3 import MotoS3Server

CLAUDE = "anthropic.claude-3-haiku-20240307-v1:0"
ROLE = "arn:aws:iam::123456789012:role/BedrockBatch"
TOKEN = "gbk-0123456789abcdef0123"
ARN = re.compile(r"arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/([a-z0-9]{12})")
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def signer(region: str = "us-east-1", service: str = "bedrock") -> SigV4Auth:
    return SigV4Auth(lambda: Credentials("testing", "testing"), region, service)


@pytest.fixture
def http(bedrock_emulator: EmulatorServer, bedrock_bucket: str) -> Iterator[httpx.Client]:
    """A SigV4-signing httpx client on the emulator's Bedrock endpoint, with an empty bucket behind it."""
    with httpx.Client(base_url=f"{bedrock_emulator.base_url}/bedrock", auth=signer(), timeout=30.0) as client:
        yield client


def anthropic_record(i: int, text: str | None = None) -> dict[str, Any]:
    body = {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": text or f"Question {i}?"}],
    }
    return {"recordId": f"REC{i:08d}", "modelInput": body}


def put_input(moto_s3: MotoS3Server, bucket: str, records: list[dict[str, Any]], name: str = "in.jsonl") -> str:
    data = "".join(json.dumps(record) + "\n" for record in records).encode()
    return moto_s3.put(f"s3://{bucket}/input/{name}", data)


def create_body(input_uri: str, bucket: str, **changes: Any) -> dict[str, Any]:
    return {
        "jobName": "nightly-run",
        "roleArn": ROLE,
        "modelId": CLAUDE,
        "inputDataConfig": {"s3InputDataConfig": {"s3Uri": input_uri}},
        "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": f"s3://{bucket}/output/"}},
        "timeoutDurationInHours": 24,
        **changes,
    }


def create(http: httpx.Client, body: dict[str, Any]) -> str:
    response = http.post("/model-invocation-job", json=body)
    assert response.status_code == 200, response.text
    return response.json()["jobArn"]


def get(http: httpx.Client, arn: str) -> dict[str, Any]:
    response = http.get(f"/model-invocation-job/{quote(arn, safe='')}")
    assert response.status_code == 200, response.text
    return response.json()


def wait_until(http: httpx.Client, arn: str, statuses: set[str], timeout: float = 15.0) -> tuple[dict, list[str]]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = get(http, arn)
        if not seen or seen[-1] != job["status"]:
            seen.append(job["status"])
        if job["status"] in statuses:
            return job, seen
        time.sleep(0.03)
    raise AssertionError(f"{arn} still {seen[-1]} after {timeout} s")


def assert_aws_error(response: httpx.Response, status: int, error_type: str, message: str = "") -> None:
    assert response.status_code == status, response.text
    assert response.headers["x-amzn-errortype"] == error_type
    assert set(response.json()) == {"message"}
    assert message in response.json()["message"]


@pytest.fixture
def input_uri(moto_s3: MotoS3Server, bedrock_bucket: str) -> str:
    records = [anthropic_record(i) for i in range(119)] + [anthropic_record(119, f"Please {FAIL_MARKER} fail")]
    return put_input(moto_s3, bedrock_bucket, records)


# --- auth ----------------------------------------------------------------------------------------------


def test_a_request_without_sigv4_is_refused(bedrock_emulator, bedrock_bucket):
    response = httpx.get(f"{bedrock_emulator.base_url}/bedrock/model-invocation-jobs")
    assert_aws_error(response, 403, "MissingAuthenticationTokenException")
    bad = httpx.get(
        f"{bedrock_emulator.base_url}/bedrock/model-invocation-jobs",
        headers={"Authorization": "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/bedrock/aws4_request"},
    )
    assert_aws_error(bad, 403, "IncompleteSignatureException")


@pytest.mark.parametrize(
    ("region", "service", "message"),
    [("eu-west-1", "bedrock", "valid region"), ("us-east-1", "s3", "correct service")],
)
def test_a_signature_for_another_region_or_service_is_refused(
    bedrock_emulator, bedrock_bucket, region, service, message
):
    with httpx.Client(base_url=f"{bedrock_emulator.base_url}/bedrock", auth=signer(region, service)) as client:
        assert_aws_error(client.get("/model-invocation-jobs"), 403, "InvalidSignatureException", message)


# --- create ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "member"),
    [
        ({"jobName": "bad_name"}, "jobName"),
        ({"jobName": "x" * 64}, "jobName"),
        ({"roleArn": "arn:aws:iam::123456789012:user/me"}, "roleArn"),
        ({"timeoutDurationInHours": 23}, "timeoutDurationInHours"),
        ({"timeoutDurationInHours": 169}, "timeoutDurationInHours"),
        ({"modelId": None}, "modelId"),
        ({"modelInvocationType": "Chat"}, "modelInvocationType"),
        ({"clientRequestToken": "not_valid"}, "clientRequestToken"),
        (
            {"outputDataConfig": {"s3OutputDataConfig": {"s3Uri": "https://b/o"}}},
            "outputDataConfig.s3OutputDataConfig.s3Uri",
        ),
        ({"modelId": "not a model!"}, "modelId"),
        ({"roleArn": ROLE + "x" * 2048}, "roleArn"),
        (
            {"inputDataConfig": {"s3InputDataConfig": {"s3Uri": "s3://in-bucket/in.jsonl", "s3BucketOwner": "123"}}},
            "inputDataConfig.s3InputDataConfig.s3BucketOwner",
        ),
        (
            {
                "outputDataConfig": {
                    "s3OutputDataConfig": {"s3Uri": "s3://out-bucket/o/", "s3EncryptionKeyId": "my key"}
                }
            },
            "outputDataConfig.s3OutputDataConfig.s3EncryptionKeyId",
        ),
        ({"vpcConfig": {"subnetIds": [], "securityGroupIds": ["sg-1"]}}, "vpcConfig.subnetIds"),
        ({"vpcConfig": {"subnetIds": ["subnet-1"]}}, "vpcConfig.securityGroupIds"),
        ({"vpcConfig": {"subnetIds": ["subnet_1"], "securityGroupIds": ["sg-1"]}}, "vpcConfig.subnetIds.member"),
        ({"tags": [{"key": "k", "value": "v"}] * 201}, "tags"),
        ({"tags": [{"key": "", "value": "v"}]}, "tags.member.key"),
        ({"tags": [{"key": "team", "value": "50%"}]}, "tags.member.value"),
    ],
)
def test_create_validates_as_the_service_does(http, input_uri, bedrock_bucket, change, member):
    response = http.post("/model-invocation-job", json=create_body(input_uri, bedrock_bucket, **change))
    assert_aws_error(response, 400, "ValidationException", f"at '{member}")


def test_a_job_moves_through_every_status_and_has_the_real_shape(http, bedrock_emulator, input_uri, bedrock_bucket):
    bedrock_emulator.config(pending_seconds=0.9, running_seconds=0.3)
    arn = create(http, create_body(input_uri, bedrock_bucket, clientRequestToken=TOKEN))
    job_id = ARN.fullmatch(arn).group(1)
    job, seen = wait_until(http, arn, {"Completed"})
    assert seen == ["Submitted", "Validating", "Scheduled", "InProgress", "Completed"]
    assert job["jobArn"] == arn
    assert job["jobName"] == "nightly-run"
    assert job["clientRequestToken"] == TOKEN
    assert job["modelInvocationType"] == "InvokeModel"
    assert job["timeoutDurationInHours"] == 24
    for member in ("submitTime", "lastModifiedTime", "endTime", "jobExpirationTime"):
        assert ISO.fullmatch(job[member]), member
    assert (job["totalRecordCount"], job["processedRecordCount"]) == (120, 120)
    assert (job["successRecordCount"], job["errorRecordCount"]) == (119, 1)
    assert "message" not in job
    assert get(http, job_id)["jobArn"] == arn  # the 12-character id works too


def test_a_completed_job_writes_shuffled_output_and_a_manifest_to_s3(http, moto_s3, input_uri, bedrock_bucket):
    arn = create(http, create_body(input_uri, bedrock_bucket))
    job_id = ARN.fullmatch(arn).group(1)
    wait_until(http, arn, {"Completed"})
    assert moto_s3.keys(bedrock_bucket, "output/") == [
        f"output/{job_id}/in.jsonl.out",
        f"output/{job_id}/manifest.json.out",
    ]
    lines = [
        json.loads(line) for line in moto_s3.read(f"s3://{bedrock_bucket}/output/{job_id}/in.jsonl.out").splitlines()
    ]
    ids = [line["recordId"] for line in lines]
    assert sorted(ids) == [f"REC{i:08d}" for i in range(120)]
    assert ids != sorted(ids)  # order is not kept: clients must join on recordId
    ok = next(line for line in lines if line["recordId"] == "REC00000007")
    assert ok["modelInput"] == anthropic_record(7)["modelInput"]
    assert ok["modelOutput"]["type"] == "message"
    assert ok["modelOutput"]["content"] == [{"type": "text", "text": "Answer to: Question 7?"}]
    assert ok["modelOutput"]["usage"] == {"input_tokens": 2, "output_tokens": 4}
    failed = next(line for line in lines if line["recordId"] == "REC00000119")
    assert set(failed) == {"recordId", "modelInput", "error"}
    assert failed["error"]["errorCode"] == 400 and FAIL_MARKER in failed["error"]["errorMessage"]
    manifest = json.loads(moto_s3.read(f"s3://{bedrock_bucket}/output/{job_id}/manifest.json.out"))
    assert manifest == {
        "totalRecordCount": 120,
        "processedRecordCount": 120,
        "successRecordCount": 119,
        "errorRecordCount": 1,
        "inputTokenCount": 238,
        "outputTokenCount": 476,
    }


def run_converse(
    http: httpx.Client, moto_s3: MotoS3Server, bucket: str, records: list[dict[str, Any]], name: str
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """A Converse job over ``records`` run to completion: the job, and its output lines by record id."""
    uri = put_input(moto_s3, bucket, records, name)
    arn = create(http, create_body(uri, bucket, modelInvocationType="Converse"))
    job, _ = wait_until(http, arn, {"Completed"})
    out = moto_s3.read(f"s3://{bucket}/output/{ARN.fullmatch(arn).group(1)}/{name}.out")
    return job, {line["recordId"]: line for line in map(json.loads, out.splitlines())}


def test_converse_jobs_answer_in_the_converse_shape_and_bad_records_fail_alone(http, moto_s3, bedrock_bucket):
    records = [
        {"recordId": f"C{i}", "modelInput": {"messages": [{"role": "user", "content": [{"text": f"q{i}"}]}]}}
        for i in range(99)
    ]
    records.append({"recordId": "BAD", "modelInput": {"modelId": CLAUDE, "messages": [{"role": "user"}]}})
    _, lines = run_converse(http, moto_s3, bedrock_bucket, records, "converse.jsonl")
    assert lines["C3"]["modelOutput"]["output"] == {
        "message": {"role": "assistant", "content": [{"text": "Answer to: q3"}]}
    }
    assert lines["C3"]["modelOutput"]["usage"] == {"inputTokens": 1, "outputTokens": 3, "totalTokens": 4}
    assert "extraneous key [modelId]" in lines["BAD"]["error"]["errorMessage"]


@dataclass(frozen=True)
class Starts:
    """A refused record's error is a 400 whose message starts with ``text`` (the rest is detail not pinned here)."""

    text: str


@dataclass(frozen=True)
class Holds:
    """A refused record's error is a 400 whose message names ``text`` (the emulator's own wording around it)."""

    text: str


_QUESTION = {"role": "user", "content": [{"text": "Weather in Paris?"}]}
_REPLY = {"role": "assistant", "content": [{"text": "Sunny."}]}
_STRUCTURED = {
    "textFormat": {
        "type": "json_schema",
        "structure": {"jsonSchema": {"schema": '{"type": "object"}', "name": "weather"}},
    },
    "effort": "low",
}
_PASSING_MEMBERS = {
    "requestMetadata": {"team": "search", "run": "2026-11-20 #3"},
    "additionalModelResponseFieldPaths": ["/stop_sequence"],
    "promptVariables": {"city": {"text": "Paris"}},
}
_TOOL = {"toolSpec": {"name": "weather", "inputSchema": {"json": {"type": "object"}}}}
_TOOL_CALL = {"role": "assistant", "content": [{"toolUse": {"toolUseId": "t1", "name": "weather", "input": {}}}]}
_TOOL_ANSWER = {"role": "user", "content": [{"toolResult": {"toolUseId": "t1", "content": [{"text": "21 C"}]}}]}
_TOOL_CHANGE = "The toolConfig field must be defined when using toolAddition and toolRemoval content blocks."


def _asking(**members: Any) -> dict[str, Any]:
    """A Converse modelInput of the one question, with ``members`` beside its messages."""
    return {"messages": [_QUESTION], **members}


@pytest.mark.parametrize(
    ("filler", "answered", "refused"),
    [
        pytest.param(
            {"messages": [_QUESTION, _REPLY, _QUESTION]},
            {},
            {
                "FIRST": (
                    {"messages": [_REPLY, _QUESTION]},
                    "A conversation must start with a user message. Try again with a conversation that starts with a "
                    "user message.",
                ),
                "TWICE": (
                    {"messages": [_QUESTION, _QUESTION]},
                    "A conversation must alternate between user and assistant roles. Make sure the conversation "
                    "alternates between user and assistant roles and try again.",
                ),
            },
            id="turn-rules",
        ),
        pytest.param(
            _asking(),
            {},
            {
                "TEXT": (
                    _asking(inferenceConfig={"maxTokens": "64"}),
                    "Malformed input request: #/inferenceConfig/maxTokens: expected an integer of at least 1, please "
                    "reformat your input and try again.",
                ),
                "HOT": (
                    _asking(inferenceConfig={"temperature": 2}),
                    Starts("Malformed input request: #/inferenceConfig/temperature: expected a number from 0 to 1"),
                ),
            },
            id="inference-config",
        ),
        pytest.param(
            _asking(serviceTier={"type": "flex"}),
            {"SHAPED": _asking(outputConfig=_STRUCTURED)},
            {
                "FAST": (
                    _asking(performanceConfig={"latency": "fast"}),
                    Starts("Malformed input request: #/performanceConfig/latency:"),
                ),
                "TIER": (
                    _asking(serviceTier={"type": "turbo"}),
                    Starts("Malformed input request: #/serviceTier/type:"),
                ),
                "FORMAT": (
                    _asking(outputConfig={"format": {}}),
                    "Malformed input request: #/outputConfig: extraneous key [format] is not permitted, please "
                    "reformat your input and try again.",
                ),
            },
            id="service-tier-latency-output-config",
        ),
        pytest.param(
            _asking(**_PASSING_MEMBERS),
            {},
            {
                "EMPTYMETA": (
                    _asking(requestMetadata={}),
                    "Malformed input request: #/requestMetadata: expected minimum item count: 1, maximum: 16, please "
                    "reformat your input and try again.",
                ),
                "METACHAR": (
                    _asking(requestMetadata={"team": "a|b"}),
                    Starts("Malformed input request: #/requestMetadata/team:"),
                ),
                "POINTER": (
                    _asking(additionalModelResponseFieldPaths=["stop_sequence"]),
                    Starts(
                        "Malformed input request: #/additionalModelResponseFieldPaths/0: 'stop_sequence' is not a "
                        "valid JSON Pointer"
                    ),
                ),
                "VARIABLE": (
                    _asking(promptVariables={"city": "Paris"}),
                    Starts("Malformed input request: #/promptVariables/city: expected type: JSONObject"),
                ),
            },
            id="metadata-response-paths-prompt-variables",
        ),
        pytest.param(
            _asking(),
            {},
            {
                "ADD": (
                    {
                        "messages": [
                            _QUESTION,
                            _REPLY,
                            {
                                "role": "user",
                                "content": [{"text": "And now?"}, {"toolAddition": {"tool": {"name": "weather"}}}],
                            },
                        ]
                    },
                    _TOOL_CHANGE,
                ),
                "REMOVE": (
                    {
                        "messages": [
                            _QUESTION,
                            {"role": "system", "content": [{"toolRemoval": {"tool": {"name": "weather"}}}]},
                        ]
                    },
                    _TOOL_CHANGE,
                ),
                "HUMAN": (
                    {"messages": [_QUESTION, _REPLY, {"role": "human", "content": [{"text": "Thanks"}]}]},
                    "Malformed input request: #/messages/2/role: human is not a valid enum value, please reformat "
                    "your input and try again.",
                ),
            },
            id="tool-changes-unknown-role",
        ),
        pytest.param(
            _asking(),
            {},
            {
                "TOOLS": (_asking(toolConfig={"tools": [_TOOL]}), Holds("toolConfig")),
                "TURNS": (
                    {"messages": [_QUESTION, _TOOL_CALL, _TOOL_ANSWER]},
                    "The toolConfig field must be defined when using toolUse and toolResult content blocks.",
                ),
            },
            id="tool-calls",
        ),
        pytest.param(
            _asking(),
            {},
            {
                "BLANK": (
                    {"messages": [{"role": "user", "content": [{"text": "Weather?"}, {"text": " "}]}]},
                    "The text field in the ContentBlock object at messages.0.content.1 is blank. Add text to the text "
                    "field, and try again.",
                ),
                "EMPTY": (
                    {"messages": [{"role": "user", "content": []}]},
                    "The content field in the Message object at messages.0 is empty. Add a ContentBlock object to the "
                    "content field and try again.",
                ),
            },
            id="blank-text-empty-content",
        ),
    ],
)
def test_converse_records_converse_refuses_fail_alone_with_its_400(
    http, moto_s3, bedrock_bucket, filler, answered, refused
):
    records = [{"recordId": f"C{i}", "modelInput": filler} for i in range(100 - len(answered) - len(refused))]
    records += [{"recordId": name, "modelInput": model_input} for name, model_input in answered.items()]
    records += [{"recordId": name, "modelInput": model_input} for name, (model_input, _) in refused.items()]
    job, lines = run_converse(http, moto_s3, bedrock_bucket, records, "converse-refused.jsonl")
    assert (job["successRecordCount"], job["errorRecordCount"]) == (100 - len(refused), len(refused))
    assert "modelOutput" in lines["C0"]
    assert all("modelOutput" in lines[name] for name in answered)
    for name, (_, expected) in refused.items():
        error = lines[name]["error"]
        assert error["errorCode"] == 400, name
        if isinstance(expected, Starts):
            assert error["errorMessage"].startswith(expected.text), name
        elif isinstance(expected, Holds):
            assert expected.text in error["errorMessage"], name
        else:
            assert error["errorMessage"] == expected, name


def test_an_anthropic_body_asking_for_structured_output_is_answered(http, moto_s3, bedrock_bucket):
    records = [anthropic_record(i) for i in range(100)]
    records[5]["modelInput"]["output_config"] = {"format": {"type": "json_schema", "schema": {"type": "object"}}}
    arn = create(http, create_body(put_input(moto_s3, bedrock_bucket, records), bedrock_bucket))
    job, _ = wait_until(http, arn, {"Completed"})
    assert (job["successRecordCount"], job["errorRecordCount"]) == (100, 0)


def test_claude_records_with_two_turns_of_one_role_in_a_row_fail_alone(http, moto_s3, bedrock_bucket):
    records = [anthropic_record(i) for i in range(100)]
    records[7]["modelInput"]["messages"].append({"role": "user", "content": "And tomorrow?"})
    arn = create(http, create_body(put_input(moto_s3, bedrock_bucket, records), bedrock_bucket))
    job, _ = wait_until(http, arn, {"Completed"})
    assert (job["successRecordCount"], job["errorRecordCount"]) == (99, 1)
    out = moto_s3.read(f"s3://{bedrock_bucket}/output/{ARN.fullmatch(arn).group(1)}/in.jsonl.out")
    failed = [line for line in map(json.loads, out.splitlines()) if "error" in line]
    assert failed == [
        {
            "recordId": "REC00000007",
            "modelInput": records[7]["modelInput"],
            "error": {
                "errorCode": 400,
                "errorMessage": 'messages: roles must alternate between "user" and "assistant", but found multiple '
                '"user" roles in a row',
            },
        }
    ]


def claude_body(*messages: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A Claude InvokeModel body of ``messages``."""
    return {"anthropic_version": "bedrock-2023-05-31", "max_tokens": 16, "messages": list(messages), **fields}


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (claude_body({"role": "user", "content": ""}), "messages.0: all messages must have non-empty content"),
        (
            claude_body({"role": "user", "content": [{"type": "text", "text": ""}]}),
            "messages: text content blocks must be non-empty",
        ),
        (
            claude_body({"role": "user", "content": [{"type": "image", "source": {"type": "base64"}}]}),
            "messages.0.content.0.image.source.base64.media_type: Field required",
        ),
        (claude_body({"role": "user", "content": "hi"}, system=" "), "system: text content blocks must contain"),
        (claude_body({"role": "human", "content": "hi"}), "Malformed input request: #/messages/0/role: human is"),
        (
            claude_body(
                {"role": "user", "content": "a"},
                {"role": "assistant", "content": "b"},
                {"role": "assistant", "content": "c"},
            ),
            'messages: roles must alternate between "user" and "assistant", but found multiple "assistant" roles',
        ),
    ],
    ids=["empty-content", "empty-text", "bad-image-source", "blank-system", "unknown-role", "two-assistant-turns"],
)
def test_a_claude_body_claude_refuses_fails_its_record(body, problem):
    assert (input_problem(body, "InvokeModel", CLAUDE) or "").startswith(problem)


_ASK = {"role": "user", "content": [{"text": "Weather?"}]}


@pytest.mark.parametrize(
    ("model_input", "problem"),
    [
        (
            {"messages": [{"role": "user", "content": [{"txt": "hi"}]}]},
            "Malformed input request: #/messages/0/content/0: extraneous key [txt]",
        ),
        (
            {"messages": [{"role": "user", "content": [{}]}]},
            "Malformed input request: #/messages/0/content/0: a ContentBlock must set exactly one member, found 0",
        ),
        (
            {"messages": [{"role": "user", "content": [{"text": "a", "image": {}}]}]},
            "Malformed input request: #/messages/0/content/0: a ContentBlock must set exactly one member, found 2",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"text": "q"}, {"image": {"format": "tiff", "source": {"bytes": "eA=="}}}],
                    }
                ]
            },
            "Malformed input request: #/messages/0/content/1/image/format: tiff is not a valid enum value",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"text": "q"}, {"document": {"format": "pdf", "source": {"bytes": "eA=="}}}],
                    }
                ]
            },
            "Malformed input request: #/messages/0/content/1/document: required key [name] not found",
        ),
        (
            {"messages": [_ASK], "system": [{"text": ""}]},
            "The text field in the SystemContentBlock object at system.0 is blank.",
        ),
        (
            {"messages": [_ASK], "system": [{"image": {}}]},
            "Malformed input request: #/system/0: extraneous key [image]",
        ),
    ],
    ids=[
        "unknown-member",
        "no-member",
        "two-members",
        "image-format",
        "unnamed-document",
        "blank-system",
        "system-image",
    ],
)
def test_a_converse_record_converse_refuses_fails_its_record(model_input, problem):
    assert (input_problem(model_input, "Converse", CLAUDE) or "").startswith(problem)


def test_converse_content_blocks_of_the_service_model_are_accepted():
    image = {"image": {"format": "png", "source": {"bytes": "iVBORw0KGgo="}}}
    document = {"document": {"format": "pdf", "name": "report", "source": {"s3Location": {"uri": "s3://b/r.pdf"}}}}
    turn = {"role": "user", "content": [{"text": "Compare."}, image, document, {"cachePoint": {"type": "default"}}]}
    model_input = {"messages": [turn], "system": [{"text": "Be brief."}, {"cachePoint": {"type": "default"}}]}
    assert input_problem(model_input, "Converse", CLAUDE) is None


def test_an_anthropic_body_with_a_model_field_fails_its_record(http, moto_s3, bedrock_bucket):
    records = [anthropic_record(i) for i in range(100)]
    records[5]["modelInput"]["model"] = CLAUDE
    arn = create(http, create_body(put_input(moto_s3, bedrock_bucket, records), bedrock_bucket))
    job, _ = wait_until(http, arn, {"Completed"})
    assert (job["successRecordCount"], job["errorRecordCount"]) == (99, 1)


def test_every_optional_member_in_its_bounds_is_accepted(http, input_uri, bedrock_bucket):
    profile = f"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.{CLAUDE}"
    vpc = {"subnetIds": ["subnet-0abc"], "securityGroupIds": ["sg-0abc"]}
    body = create_body(
        input_uri,
        bedrock_bucket,
        modelId=profile,
        inputDataConfig={"s3InputDataConfig": {"s3Uri": input_uri, "s3BucketOwner": "123456789012"}},
        outputDataConfig={
            "s3OutputDataConfig": {"s3Uri": f"s3://{bedrock_bucket}/output/", "s3EncryptionKeyId": "alias/batch-key"}
        },
        vpcConfig=vpc,
        tags=[{"key": "team", "value": "data platform"}, {"key": "empty", "value": ""}],
    )
    job = get(http, create(http, body))
    assert job["modelId"] == profile
    assert job["vpcConfig"] == vpc


# --- idempotency ---------------------------------------------------------------------------------------


def test_the_same_client_request_token_returns_the_same_job(http, bedrock_emulator, input_uri, bedrock_bucket):
    body = create_body(input_uri, bedrock_bucket, clientRequestToken=TOKEN)
    first, second = create(http, body), create(http, body)
    assert first == second
    other = create(http, create_body(input_uri, bedrock_bucket, clientRequestToken="gbk-another-token"))
    assert other != first
    assert [j["name"] for j in bedrock_emulator.jobs() if j["provider"] == "bedrock"] == [first, other]


def test_without_a_token_every_create_is_a_new_job(http, bedrock_emulator, input_uri, bedrock_bucket):
    body = create_body(input_uri, bedrock_bucket)
    assert create(http, body) != create(http, body)
    assert len(bedrock_emulator.jobs()) == 2


# --- validation, failure and expiry ------------------------------------------------------------------------


def test_an_input_under_100_records_fails_validation_with_a_message(http, moto_s3, bedrock_bucket):
    uri = put_input(moto_s3, bedrock_bucket, [anthropic_record(i) for i in range(99)])
    job, seen = wait_until(http, create(http, create_body(uri, bedrock_bucket)), {"Failed"})
    assert seen[-1] == "Failed" and "InProgress" not in seen and "Scheduled" not in seen
    assert "99 records" in job["message"] and "100" in job["message"]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (b"{not json", "is not valid JSON"),
        (b'["REC", {}]', "is not a JSON object"),
        (b'{"recordId": "REC5", "prompt": "hi"}', "has no modelInput object"),
        (b'{"recordId": "rec-5", "modelInput": {}}', 'has a recordId that is not an alphanumeric string ("rec-5")'),
        (b'{"recordId": "", "modelInput": {}}', 'has a recordId that is not an alphanumeric string ("")'),
        (b'{"recordId": 5, "modelInput": {}}', "has a recordId that is not an alphanumeric string (5)"),
    ],
)
def test_a_record_not_in_the_batch_format_fails_validation_naming_its_line(
    http, moto_s3, bedrock_bucket, line, problem
):
    lines = [json.dumps(anthropic_record(i)).encode() for i in range(120)]
    lines[4] = line
    uri = moto_s3.put(f"s3://{bedrock_bucket}/input/in.jsonl", b"\n".join(lines) + b"\n")
    job, seen = wait_until(http, create(http, create_body(uri, bedrock_bucket)), {"Failed"})
    assert "InProgress" not in seen and "Scheduled" not in seen
    assert f"The record on line 5 of {uri} {problem}" in job["message"]


def test_records_without_a_record_id_or_with_a_long_alphanumeric_one_are_run(http, moto_s3, bedrock_bucket):
    records = [anthropic_record(i) for i in range(100)]
    records[3]["recordId"] = "k" + "0123456789abcdef" * 2 + "01234567"  # 41 characters, as the hook hashes keys
    del records[4]["recordId"]
    uri = put_input(moto_s3, bedrock_bucket, records)
    arn = create(http, create_body(uri, bedrock_bucket))
    wait_until(http, arn, {"Completed"})
    out = moto_s3.read(f"s3://{bedrock_bucket}/output/{ARN.fullmatch(arn).group(1)}/in.jsonl.out")
    ids = {line["recordId"] for line in map(json.loads, out.splitlines())}
    assert records[3]["recordId"] in ids
    added = ids - {record.get("recordId") for record in records}
    assert len(added) == 1 and re.fullmatch(r"[A-Za-z0-9]{11}", added.pop())  # Bedrock adds one in the output


def test_a_missing_input_fails_validation(http, bedrock_bucket):
    job, _ = wait_until(
        http, create(http, create_body(f"s3://{bedrock_bucket}/nope.jsonl", bedrock_bucket)), {"Failed"}
    )
    assert "Unable to read the input file" in job["message"]


@pytest.mark.parametrize(
    ("outcome", "status", "message"), [("fail", "Failed", "failed"), ("expire", "Expired", "timeout")]
)
def test_forced_outcomes_end_with_a_message(
    http, bedrock_emulator, input_uri, bedrock_bucket, outcome, status, message
):
    bedrock_emulator.config(job_outcome=outcome)
    job, _ = wait_until(http, create(http, create_body(input_uri, bedrock_bucket)), {status})
    assert message in job["message"]
    assert "endTime" in job


# --- stop ----------------------------------------------------------------------------------------------


def test_stop_goes_stopping_then_stopped(http, input_uri, bedrock_bucket):
    arn = create(http, create_body(input_uri, bedrock_bucket))
    response = http.post(f"/model-invocation-job/{quote(arn, safe='')}/stop")
    assert (response.status_code, response.json()) == (200, {})
    assert get(http, arn)["status"] == "Stopping"
    job, _ = wait_until(http, arn, {"Stopped"})
    assert "endTime" in job
    again = http.post(f"/model-invocation-job/{quote(arn, safe='')}/stop")
    assert_aws_error(again, 400, "ValidationException", "State was: Stopped")


def test_stopping_a_completed_job_says_state_was_completed(http, input_uri, bedrock_bucket):
    arn = create(http, create_body(input_uri, bedrock_bucket))
    wait_until(http, arn, {"Completed"})
    response = http.post(f"/model-invocation-job/{quote(arn, safe='')}/stop")
    assert_aws_error(response, 400, "ValidationException", "State was: Completed")


def test_unknown_and_malformed_jobs(http, bedrock_bucket):
    unknown = "arn:aws:bedrock:us-east-1:123456789012:model-invocation-job/zzzzzzzzzzzz"
    assert_aws_error(http.get(f"/model-invocation-job/{quote(unknown, safe='')}"), 404, "ResourceNotFoundException")
    assert_aws_error(http.post("/model-invocation-job/zzzzzzzzzzzz/stop"), 404, "ResourceNotFoundException")
    assert_aws_error(http.get("/model-invocation-job/NOT-AN-ID"), 400, "ValidationException", "jobIdentifier")


# --- list ----------------------------------------------------------------------------------------------


def test_listing_pages_filters_and_sorts(http, bedrock_emulator, input_uri, bedrock_bucket):
    bedrock_emulator.config(pending_seconds=60)  # every job is still stoppable when the listing is done
    arns = [create(http, create_body(input_uri, bedrock_bucket, jobName=f"job-{i}")) for i in range(5)]
    pages, token = [], None
    while True:
        params = {"maxResults": 2, **({"nextToken": token} if token else {})}
        body = http.get("/model-invocation-jobs", params=params).json()
        pages.append([s["jobArn"] for s in body["invocationJobSummaries"]])
        token = body.get("nextToken")
        if not token:
            break
    assert pages == [arns[4:2:-1], arns[2:0:-1], arns[:1]]
    ascending = http.get("/model-invocation-jobs", params={"sortOrder": "Ascending"}).json()
    assert [s["jobArn"] for s in ascending["invocationJobSummaries"]] == arns
    named = http.get("/model-invocation-jobs", params={"nameContains": "job-3"}).json()
    assert [s["jobName"] for s in named["invocationJobSummaries"]] == ["job-3"]
    summary = named["invocationJobSummaries"][0]
    assert {"jobArn", "jobName", "modelId", "roleArn", "submitTime", "inputDataConfig", "outputDataConfig"} <= set(
        summary
    )
    http.post(f"/model-invocation-job/{quote(arns[0], safe='')}/stop")
    stopping = http.get("/model-invocation-jobs", params={"statusEquals": "Stopping"}).json()
    assert [s["jobArn"] for s in stopping["invocationJobSummaries"]] == [arns[0]]
    assert_aws_error(http.get("/model-invocation-jobs", params={"nextToken": "garbage"}), 400, "ValidationException")
    assert_aws_error(http.get("/model-invocation-jobs", params={"maxResults": 0}), 400, "ValidationException")


@pytest.mark.parametrize("name", ["gbk_key", "x" * 64])
def test_a_name_filter_that_is_not_a_job_name_is_refused(http, name):
    response = http.get("/model-invocation-jobs", params={"nameContains": name})
    assert_aws_error(response, 400, "ValidationException", "at 'nameContains'")


def test_an_empty_next_token_is_refused_as_shorter_than_one_character(http):
    response = http.get("/model-invocation-jobs", params={"nextToken": ""})
    assert_aws_error(response, 400, "ValidationException", "Value '' at 'nextToken' failed to satisfy constraint")


def test_the_control_plane_lists_bedrock_jobs_in_bedrock_status_names(
    http, bedrock_emulator, input_uri, bedrock_bucket
):
    bedrock_emulator.config(job_outcome="stuck")  # still in its first status however long the listing takes
    arn = create(http, create_body(input_uri, bedrock_bucket))
    [listed] = bedrock_emulator.jobs()
    assert (listed["provider"], listed["name"], listed["display_name"], listed["model"]) == (
        "bedrock",
        arn,
        "nightly-run",
        CLAUDE,
    )
    assert listed["state"] in {"Submitted", "Validating", "Scheduled"}
    assert listed["request_count"] == 120


def run_invoke_model(
    http: httpx.Client, moto_s3: MotoS3Server, bucket: str, model: str, records: list[dict[str, Any]], name: str
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """An InvokeModel job of ``model`` over ``records`` run to completion: the job, and its output lines by id."""
    uri = put_input(moto_s3, bucket, records, name)
    arn = create(http, create_body(uri, bucket, modelId=model))
    job, _ = wait_until(http, arn, {"Completed"})
    out = moto_s3.read(f"s3://{bucket}/output/{ARN.fullmatch(arn).group(1)}/{name}.out")
    return job, {line["recordId"]: line for line in map(json.loads, out.splitlines())}


CHAT = {"messages": [{"role": "user", "content": "Question 7?"}], "max_tokens": 64}
FAMILY_BODIES = [
    ("meta.llama3-1-70b-instruct-v1:0", {"prompt": "Question 7?", "max_gen_len": 64}, "generation"),
    ("mistral.mistral-7b-instruct-v0:2", {"prompt": "Question 7?", "max_tokens": 64}, "outputs"),
    ("mistral.mistral-large-2407-v1:0", CHAT, "choices"),
    ("amazon.titan-text-express-v1", {"inputText": "Question 7?"}, "results"),
    ("cohere.command-r-plus-v1:0", {"message": "Question 7?", "max_tokens": 64}, "finish_reason"),
    ("ai21.jamba-1-5-mini-v1:0", CHAT, "choices"),
    ("us.deepseek.r1-v1:0", {"prompt": "Question 7?", "max_tokens": 64}, "choices"),
    ("openai.gpt-oss-20b-1:0", CHAT, "choices"),
    ("us.amazon.nova-lite-v1:0", {"messages": [{"role": "user", "content": [{"text": "Question 7?"}]}]}, "output"),
]


@pytest.mark.parametrize(("model", "body", "member"), FAMILY_BODIES, ids=[model for model, _, _ in FAMILY_BODIES])
def test_an_invoke_model_job_of_another_family_answers_in_that_familys_body(
    http, moto_s3, bedrock_bucket, model, body, member
):
    records = [{"recordId": f"R{i}", "modelInput": body} for i in range(100)]
    job, lines = run_invoke_model(http, moto_s3, bedrock_bucket, model, records, "family.jsonl")
    assert (job["successRecordCount"], job["errorRecordCount"]) == (100, 0)
    output = lines["R7"]["modelOutput"]
    assert member in output and "content" not in output  # the family's own body, not an Anthropic Message
    row = wire.result_row(lines["R7"])
    assert (row.status, row.text) == (RowStatus.SUCCEEDED, "Answer to: Question 7?")


@pytest.mark.parametrize(
    ("model", "body", "expected"),
    [
        ("amazon.titan-embed-text-v2:0", {"inputText": "hello world"}, 2),
        ("cohere.embed-english-v3", {"texts": ["hello world"], "input_type": "search_document"}, None),
    ],
    ids=["titan", "cohere"],
)
def test_an_invoke_model_job_of_an_embeddings_model_answers_with_its_embedding(
    http, moto_s3, bedrock_bucket, model, body, expected
):
    records = [{"recordId": f"E{i}", "modelInput": body} for i in range(100)]
    job, lines = run_invoke_model(http, moto_s3, bedrock_bucket, model, records, "embed.jsonl")
    assert job["successRecordCount"] == 100
    row = wire.result_row(lines["E3"])
    assert (row.status, row.text, len(row.embedding)) == (RowStatus.SUCCEEDED, None, 8)
    assert (row.usage.input_tokens if row.usage else None) == expected


def test_a_record_without_the_member_its_model_requires_fails_alone_with_the_models_400(http, moto_s3, bedrock_bucket):
    records = [{"recordId": f"L{i}", "modelInput": {"prompt": f"Question {i}?"}} for i in range(100)]
    records[4]["modelInput"] = {"messages": [{"role": "user", "content": "Question 4?"}]}
    job, lines = run_invoke_model(
        http, moto_s3, bedrock_bucket, "meta.llama3-1-70b-instruct-v1:0", records, "llama.jsonl"
    )
    assert (job["successRecordCount"], job["errorRecordCount"]) == (99, 1)
    assert lines["L4"]["error"] == {
        "errorCode": 400,
        "errorMessage": "Malformed input request: #: required key [prompt] not found, please reformat your input and "
        "try again.",
    }
