"""Router emulating the Amazon Bedrock batch-inference control plane, mounted at /bedrock (clients use
`endpoint_url=<emulator>/bedrock`).

The wire format follows shared/reference/bedrock_gateway.md §1 (botocore's service-2.json, 2023-04-20):
REST-JSON, ISO-8601 times, errors as `{"message"}` with the type in `x-amzn-ErrorType`. The four job
operations are served; a SigV4 `Authorization` header scoped to `<region>/bedrock/aws4_request` must be
present (its scope is checked, not its signature). Statuses go Submitted → Validating → Scheduled →
InProgress → Completed over the configured durations; Stop goes Stopping → Stopped; the same
`clientRequestToken` returns the same job. Input and output live in a real S3-compatible server (moto in
the tests) reached with boto3 at `EmulatorConfig.s3_endpoint_url`: the input is copied when the job is
created (and validated: `.jsonl`, at least 100 records), and a job that completes writes
`<out>/<job-id>/<input basename>.out`, its lines in a deterministic shuffled order, and
`manifest.json.out`. The service's patterns are written out here on purpose, apart from the provider's
own: the emulator is an independent check of what the hook sends.
"""

from __future__ import annotations

import json
import re
import string
import time
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

import msgspec
from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from airflow_provider_genai_batch.testing.emulator import progress, responses
from airflow_provider_genai_batch.testing.emulator.store import (
    EmulatorError,
    EmulatorState,
    JobRecord,
    JobResults,
    LineWriter,
    Phase,
    StateDep,
    Store,
    count_lines,
    decode_page_token,
    encode_page_token,
    new_id,
)

PROVIDER = "bedrock"
ACCOUNT_ID = "123456789012"
JOB_ID_LENGTH = 12
MIN_RECORDS = 100
DEFAULT_TIMEOUT_HOURS = 168
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
S3_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
"""The local S3 server accepts any keys; the emulator is test tooling and never talks to AWS."""
PENDING_STATUSES = ("Submitted", "Validating", "Scheduled")
PHASE_STATUSES = {
    Phase.SUCCEEDED: "Completed",
    Phase.FAILED: "Failed",
    Phase.EXPIRED: "Expired",
    Phase.RUNNING: "InProgress",
}
ALL_STATUSES = frozenset(
    {"Submitted", "InProgress", "Completed", "Failed", "Stopping", "Stopped", "PartiallyCompleted", "Expired"}
    | {"Validating", "Scheduled"}
)
INVOCATION_TYPES = frozenset({"InvokeModel", "Converse"})
ANTHROPIC_VERSION = "bedrock-2023-05-31"
ANTHROPIC_KEYS = frozenset(
    {
        "anthropic_version",
        "anthropic_beta",
        "max_tokens",
        "messages",
        "system",
        "temperature",
        "top_p",
        "top_k",
        "stop_sequences",
        "tools",
        "tool_choice",
        "thinking",
        "metadata",
    }
)
CONVERSE_KEYS = frozenset(
    {
        "messages",
        "system",
        "inferenceConfig",
        "toolConfig",
        "additionalModelRequestFields",
        "additionalModelResponseFieldPaths",
        "guardrailConfig",
        "promptVariables",
        "requestMetadata",
        "performanceConfig",
    }
)
RECORD_ID_ALPHABET = string.ascii_uppercase + string.digits
FAILED_JOB_MESSAGE = "The batch inference job failed (emulated failure: job_outcome is 'fail')."

JOB_NAME = re.compile(r"[a-zA-Z0-9]{1,63}(-*[a-zA-Z0-9\+\-\.]){0,63}")
ROLE_ARN = re.compile(r"arn:aws(-[^:]+)?:iam::([0-9]{12})?:role/.+")
TOKEN = re.compile(r"[a-zA-Z0-9]{1,256}(-*[a-zA-Z0-9]){0,256}")
S3_URI = re.compile(r"s3://[a-z0-9][-.a-z0-9]{1,61}[a-z0-9](?:/[-!_*'().a-z0-9A-Z]+(?:/[-!_*'().a-z0-9A-Z]+)*)?/?")
JOB_IDENTIFIER = re.compile(
    r"((arn:aws(-[^:]+)?:bedrock:[a-z0-9-]{1,20}:[0-9]{12}:model-invocation-job/)?[a-z0-9]{12})"
)
AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=([^/,\s]+)/(\d{8})/([^/,\s]+)/([^/,\s]+)/aws4_request,\s*"
    r"SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})"
)

# job.extra keys
TOKEN_KEY = "clientRequestToken"
REQUEST_KEY = "request"
VALIDATION_ERROR_KEY = "validation_error"
S3_KEY = "s3"


class BedrockError(EmulatorError):
    """An AWS REST-JSON error: `{"message"}` with the error type in the `x-amzn-ErrorType` header."""

    def __init__(self, status_code: int, error_type: str, message: str) -> None:
        """Remember the HTTP status, the error type and the message."""
        super().__init__(message)
        self.status_code = status_code
        self.error_type = error_type
        self.message = message

    def response(self) -> Response:
        """The error as AWS sends it."""
        return JSONResponse(
            {"message": self.message}, status_code=self.status_code, headers={"x-amzn-ErrorType": self.error_type}
        )


def validation_error(message: str) -> BedrockError:
    """A 400 ValidationException."""
    return BedrockError(400, "ValidationException", message)


def constraint_error(member: str, value: Any, rule: str) -> BedrockError:
    """A ValidationException worded as AWS words a failed member constraint."""
    shown = "null" if value is None else f"'{value}'"
    return validation_error(
        f"1 validation error detected: Value {shown} at '{member}' failed to satisfy constraint: {rule}"
    )


def malformed(problem: str) -> str:
    """A per-record error as Bedrock words a model input the model rejects."""
    return f"Malformed input request: #: {problem}, please reformat your input and try again."


def iso(moment: float | None) -> str | None:
    """Epoch seconds as an ISO-8601 UTC timestamp with milliseconds, or None."""
    if moment is None:
        return None
    return datetime.fromtimestamp(moment, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# Auth


def require_sigv4(request: Request, state: StateDep) -> None:
    """A SigV4 header for service `bedrock` in the configured region, and `X-Amz-Date`: 403 otherwise."""
    header = request.headers.get("authorization")
    if not header:
        raise BedrockError(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
    match = AUTHORIZATION.fullmatch(header.strip())
    if match is None or not request.headers.get("x-amz-date"):
        raise BedrockError(
            403,
            "IncompleteSignatureException",
            "Authorization header requires 'Credential', 'Signature', 'SignedHeaders' and an 'X-Amz-Date' header.",
        )
    region, service = match.group(3), match.group(4)
    if service != "bedrock":
        raise BedrockError(
            403, "InvalidSignatureException", "Credential should be scoped to correct service: 'bedrock'."
        )
    if region != state.config.aws_region:
        raise BedrockError(403, "InvalidSignatureException", "Credential should be scoped to a valid region.")


# S3 (boto3 against the local S3 server; imported lazily: only Bedrock jobs need it)


def s3_client(endpoint_url: str, region: str) -> Any:
    """A boto3 S3 client on the configured S3-compatible endpoint."""
    import boto3

    return boto3.client("s3", endpoint_url=endpoint_url, region_name=region, **S3_CREDENTIALS)


def split_uri(uri: str) -> tuple[str, str]:
    """`s3://bucket/key` as (bucket, key)."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def snapshot_input(s3: dict[str, str], uri: str, target: Path) -> tuple[int, str | None]:
    """Copy the job's input from S3 to `target`; (record count, validation problem or None)."""
    from botocore.exceptions import BotoCoreError, ClientError

    if not uri.endswith(".jsonl"):
        return 0, f"The input {uri} must be a single .jsonl file (the emulator does not read folders)."
    bucket, key = split_uri(uri)
    try:
        s3_client(s3["endpoint_url"], s3["region"]).download_file(bucket, key, str(target))
    except (BotoCoreError, ClientError) as exc:
        return 0, f"Unable to read the input file {uri}: {exc}"
    count = count_lines(target)
    if count < MIN_RECORDS:
        return count, (
            f"The input has {count} records, fewer than the minimum of {MIN_RECORDS} records per batch inference job."
        )
    return count, None


# Job status


def wire_status(job: JobRecord, phase: Phase, now: float | None = None) -> str:
    """The Bedrock status of a job: pending time is split into Submitted / Validating / Scheduled."""
    now = time.time() if now is None else now
    if phase is Phase.PENDING:
        steps = PENDING_STATUSES[:2] if job.extra.get(VALIDATION_ERROR_KEY) else PENDING_STATUSES
        if job.pending_seconds <= 0:
            return steps[-1]
        index = int((now - job.created) / job.pending_seconds * len(steps))
        return steps[min(max(index, 0), len(steps) - 1)]
    if phase is Phase.CANCELLED:
        end = progress.cancel_end(job)
        return "Stopping" if end is not None and now < end else "Stopped"
    return PHASE_STATUSES[phase]


def control_state_name(job: JobRecord, phase: Phase) -> str:
    """The status shown by /_emulator/jobs."""
    return wire_status(job, phase)


def job_message(job: JobRecord, phase: Phase) -> str | None:
    """The job's `message`: why it failed or expired."""
    if phase is Phase.FAILED:
        return job.extra.get(VALIDATION_ERROR_KEY) or job.failure or FAILED_JOB_MESSAGE
    if phase is Phase.EXPIRED:
        hours = job.extra[REQUEST_KEY]["timeoutDurationInHours"]
        return f"The job did not complete within its timeout of {hours} hours."
    return None


def record_counts(job: JobRecord, phase: Phase, status: str) -> dict[str, int]:
    """The four record counts, known once the input has been validated."""
    if status in PENDING_STATUSES[:2] or job.extra.get(VALIDATION_ERROR_KEY):
        return {}
    results = job.results if phase is Phase.SUCCEEDED else None
    succeeded = results.succeeded if results else 0
    failed = results.failed if results else 0
    return {
        "totalRecordCount": job.request_count,
        "processedRecordCount": succeeded + failed,
        "successRecordCount": succeeded,
        "errorRecordCount": failed,
    }


def render_job(job: JobRecord, phase: Phase, now: float | None = None) -> dict[str, Any]:
    """A GetModelInvocationJob response (list summaries have the same members)."""
    now = time.time() if now is None else now
    status = wire_status(job, phase, now)
    request = job.extra[REQUEST_KEY]
    body: dict[str, Any] = {"jobArn": job.name, "jobName": job.display_name, "modelId": job.model}
    if job.extra.get(TOKEN_KEY):
        body["clientRequestToken"] = job.extra[TOKEN_KEY]
    body["roleArn"] = request["roleArn"]
    body["status"] = status
    message = job_message(job, phase)
    if message:
        body["message"] = message
    body["submitTime"] = iso(job.created)
    if status == "Stopping":
        end, modified = None, job.cancelled_at
    elif status == "Stopped":
        end = modified = progress.cancel_end(job)
    else:
        end, modified = job.end_time(phase), job.update_time(phase)
    body["lastModifiedTime"] = iso(modified)
    if end is not None:
        body["endTime"] = iso(end)
    body["inputDataConfig"] = request["inputDataConfig"]
    body["outputDataConfig"] = request["outputDataConfig"]
    if "vpcConfig" in request:
        body["vpcConfig"] = request["vpcConfig"]
    body["timeoutDurationInHours"] = request["timeoutDurationInHours"]
    body["jobExpirationTime"] = iso(job.created + request["timeoutDurationInHours"] * 3600)
    body["modelInvocationType"] = request["modelInvocationType"]
    body.update(record_counts(job, phase, status))
    return body


# Create-request validation


def check_create(body: dict[str, Any]) -> dict[str, Any]:
    """Validate a CreateModelInvocationJob body as the service does; return it with defaults filled in."""
    for member in ("jobName", "roleArn", "modelId", "inputDataConfig", "outputDataConfig"):
        if body.get(member) is None:
            raise constraint_error(member, None, "Member must not be null")
    name = body["jobName"]
    if not isinstance(name, str) or not 1 <= len(name) <= 63 or not JOB_NAME.fullmatch(name):
        raise constraint_error("jobName", name, f"Member must satisfy regular expression pattern: {JOB_NAME.pattern}")
    if not isinstance(body["roleArn"], str) or not ROLE_ARN.fullmatch(body["roleArn"]):
        raise constraint_error(
            "roleArn", body["roleArn"], f"Member must satisfy regular expression pattern: {ROLE_ARN.pattern}"
        )
    if not isinstance(body["modelId"], str) or not 1 <= len(body["modelId"]) <= 2048:
        raise constraint_error("modelId", body["modelId"], "Member must have length between 1 and 2048")
    token = body.get("clientRequestToken")
    if token is not None and (not isinstance(token, str) or len(token) > 256 or not TOKEN.fullmatch(token)):
        raise constraint_error(
            "clientRequestToken", token, f"Member must satisfy regular expression pattern: {TOKEN.pattern}"
        )
    timeout = body.setdefault("timeoutDurationInHours", DEFAULT_TIMEOUT_HOURS)
    if isinstance(timeout, bool) or not isinstance(timeout, int) or not 24 <= timeout <= 168:
        raise constraint_error(
            "timeoutDurationInHours",
            timeout,
            "Member must have value less than or equal to 168 and greater than or equal to 24",
        )
    invocation = body.setdefault("modelInvocationType", "InvokeModel")
    if invocation not in INVOCATION_TYPES:
        raise constraint_error(
            "modelInvocationType",
            invocation,
            f"Member must satisfy enum value set: [{', '.join(sorted(INVOCATION_TYPES))}]",
        )
    check_s3_config(body["inputDataConfig"], "inputDataConfig", "s3InputDataConfig")
    check_s3_config(body["outputDataConfig"], "outputDataConfig", "s3OutputDataConfig")
    input_format = body["inputDataConfig"]["s3InputDataConfig"].get("s3InputFormat")
    if input_format not in (None, "JSONL"):
        raise constraint_error(
            "inputDataConfig.s3InputDataConfig.s3InputFormat",
            input_format,
            "Member must satisfy enum value set: [JSONL]",
        )
    return body


def check_s3_config(config: Any, member: str, union_member: str) -> None:
    """A data-config union must hold exactly its S3 member, whose s3Uri matches the S3 URI pattern."""
    if not isinstance(config, dict) or set(config) != {union_member} or not isinstance(config[union_member], dict):
        raise validation_error(f"{member} must set exactly one member: {union_member}.")
    uri = config[union_member].get("s3Uri")
    if not isinstance(uri, str) or not S3_URI.fullmatch(uri):
        raise constraint_error(
            f"{member}.{union_member}.s3Uri", uri, f"Member must satisfy regular expression pattern: {S3_URI.pattern}"
        )


async def read_json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object (an empty body counts as {})."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BedrockError(400, "SerializationException", f"Could not parse the request body: {exc}") from exc
    if not isinstance(value, dict):
        raise BedrockError(400, "SerializationException", "The request body must be a JSON object.")
    return value


# The fake model, on Bedrock records


def text_of(content: Any) -> str:
    """The text of an Anthropic content (a string or blocks) or a Converse content list."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    return "".join(block["text"] for block in content if isinstance(block, dict) and isinstance(block.get("text"), str))


def input_problem(model_input: Any, invocation_type: str, model: str) -> str | None:
    """Why the model would reject this `modelInput`, as Bedrock words it, or None."""
    if not isinstance(model_input, dict):
        return malformed("expected type: JSONObject")
    if invocation_type == "Converse":
        allowed = CONVERSE_KEYS
    elif "anthropic" in model:
        allowed = ANTHROPIC_KEYS
        if model_input.get("anthropic_version") != ANTHROPIC_VERSION:
            return malformed("required key [anthropic_version] not found")
        max_tokens = model_input.get("max_tokens")
        if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
            return malformed("required key [max_tokens] not found")
    else:
        return f"The emulator answers Anthropic InvokeModel bodies and Converse requests only, not {model}."
    for key in model_input:
        if key not in allowed:
            return malformed(f"extraneous key [{key}] is not permitted")
    messages = model_input.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        return "Malformed input request: #/messages: expected a non-empty array of messages."
    return None


def answer(model_input: dict[str, Any], invocation_type: str, model: str, seed: str) -> dict[str, Any]:
    """`{"modelOutput": ...}` or `{"error": {"errorCode", "errorMessage"}}` for one valid `modelInput`."""
    turns = [(str(m.get("role")), text_of(m.get("content"))) for m in model_input["messages"]]
    system = text_of(model_input.get("system"))
    outcome = responses.generate_from_turns(turns, context=[system] if system else [])
    if isinstance(outcome, responses.RowError):
        return {"error": {"errorCode": outcome.code, "errorMessage": outcome.message}}
    if invocation_type == "Converse":
        max_tokens = (model_input.get("inferenceConfig") or {}).get("maxTokens")
        generation, cut = responses.limit_tokens(outcome, max_tokens)
        return {
            "modelOutput": {
                "output": {"message": {"role": "assistant", "content": [{"text": generation.text}]}},
                "stopReason": "max_tokens" if cut else "end_turn",
                "usage": {
                    "inputTokens": generation.prompt_tokens,
                    "outputTokens": generation.completion_tokens,
                    "totalTokens": generation.total_tokens,
                },
                "metrics": {"latencyMs": 100},
            }
        }
    generation, cut = responses.limit_tokens(outcome, model_input["max_tokens"])
    return {
        "modelOutput": {
            "id": "msg_bdrk_" + responses.stable_token(seed, 24, responses.BASE62_ALPHABET),
            "type": "message",
            "role": "assistant",
            "model": model.split(".", 1)[-1].split(":", 1)[0],
            "content": [{"type": "text", "text": generation.text}],
            "stop_reason": "max_tokens" if cut else "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": generation.prompt_tokens, "output_tokens": generation.completion_tokens},
        }
    }


def output_line(job: JobRecord, number: int, raw: bytes) -> tuple[dict[str, Any], dict[str, int] | None]:
    """One output record for an input line, and its token usage when it succeeded."""
    seed = f"{job.job_id}:{number}"
    try:
        entry = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        entry = None
    if not isinstance(entry, dict):
        record_id = responses.stable_token(seed, 11, RECORD_ID_ALPHABET)
        return {
            "recordId": record_id,
            "error": {"errorCode": 400, "errorMessage": "The record is not a JSON object."},
        }, None
    record_id = entry.get("recordId") or responses.stable_token(seed, 11, RECORD_ID_ALPHABET)
    model_input = entry.get("modelInput")
    invocation_type = job.extra[REQUEST_KEY]["modelInvocationType"]
    head = {"recordId": record_id, "modelInput": model_input}
    problem = input_problem(model_input, invocation_type, job.model)
    if problem is not None:
        return {**head, "error": {"errorCode": 400, "errorMessage": problem}}, None
    outcome = answer(model_input, invocation_type, job.model, seed)
    if "error" in outcome:
        return {**head, **outcome}, None
    usage = outcome["modelOutput"]["usage"]
    tokens = {
        "input": usage.get("input_tokens", usage.get("inputTokens", 0)),
        "output": usage.get("output_tokens", usage.get("outputTokens", 0)),
    }
    return {**head, **outcome}, tokens


def materialise(job: JobRecord, store: Store) -> JobResults:
    """Write the job's `.out` file (shuffled) and `manifest.json.out` to its S3 output folder."""
    assert job.input_path is not None
    out_path = store.job_path(job.job_id, "out")
    writer = LineWriter(out_path)
    succeeded = failed = input_tokens = output_tokens = 0
    try:
        for number, raw in progress.shuffled_lines(job.input_path, job.job_id):
            record, tokens = output_line(job, number, raw)
            writer.write(msgspec.json.encode(record))
            if tokens is None:
                failed += 1
            else:
                succeeded += 1
                input_tokens += tokens["input"]
                output_tokens += tokens["output"]
    finally:
        writer.close()
    request = job.extra[REQUEST_KEY]
    output = request["outputDataConfig"]["s3OutputDataConfig"]["s3Uri"].rstrip("/")
    basename = request["inputDataConfig"]["s3InputDataConfig"]["s3Uri"].rsplit("/", 1)[-1]
    bucket, prefix = split_uri(f"{output}/{job.job_id}")
    client = s3_client(job.extra[S3_KEY]["endpoint_url"], job.extra[S3_KEY]["region"])
    try:
        client.upload_file(str(out_path), bucket, f"{prefix}/{basename}.out")
    finally:
        out_path.unlink(missing_ok=True)
    manifest = {
        "totalRecordCount": job.request_count,
        "processedRecordCount": succeeded + failed,
        "successRecordCount": succeeded,
        "errorRecordCount": failed,
        "inputTokenCount": input_tokens,
        "outputTokenCount": output_tokens,
    }
    client.put_object(Bucket=bucket, Key=f"{prefix}/manifest.json.out", Body=json.dumps(manifest).encode())
    return JobResults(succeeded=succeeded, failed=failed)


# Lookup and listing


def find_by_token(store: Store, token: str) -> JobRecord | None:
    """The job created earlier with this clientRequestToken, if any."""
    return next((job for job in store.list_jobs(PROVIDER) if job.extra.get(TOKEN_KEY) == token), None)


def lookup_job(store: Store, identifier: str) -> JobRecord:
    """A job by ARN or 12-character id; ValidationException for a malformed one, else ResourceNotFound."""
    if not JOB_IDENTIFIER.fullmatch(identifier):
        raise constraint_error(
            "jobIdentifier", identifier, f"Member must satisfy regular expression pattern: {JOB_IDENTIFIER.pattern}"
        )
    job_id = identifier.rsplit("/", 1)[-1]
    for job in store.list_jobs(PROVIDER):
        if job.job_id == job_id and (identifier == job_id or identifier == job.name):
            return job
    raise BedrockError(404, "ResourceNotFoundException", f"The model invocation job {identifier} does not exist.")


def parse_max_results(raw: str | None) -> int:
    """maxResults: 1 to 1000 (default 100)."""
    if raw is None:
        return DEFAULT_PAGE_SIZE
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE_SIZE:
        raise constraint_error(
            "maxResults", raw, "Member must have value less than or equal to 1000 and greater than or equal to 1"
        )
    return int(raw)


def parse_time_filter(raw: str | None, member: str) -> float | None:
    """An ISO-8601 query timestamp as epoch seconds."""
    if raw is None:
        return None
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
    except ValueError as exc:
        raise validation_error(f"Invalid value for {member}: {raw}") from exc


def listing_start(jobs: list[JobRecord], token: str | None) -> int:
    """Where a page starts in the ordered listing: just after the job a nextToken names."""
    if not token:
        return 0
    try:
        after = decode_page_token(token)
    except ValueError as exc:
        raise validation_error("Invalid nextToken.") from exc
    for index, job in enumerate(jobs):
        if job.seq == after:
            return index + 1
    raise validation_error("Invalid nextToken.")


# Routes

router = APIRouter(tags=["bedrock"], dependencies=[Depends(require_sigv4)])


@router.post("/model-invocation-job")
async def create_job(request: Request, state: StateDep) -> dict[str, Any]:
    """CreateModelInvocationJob: validate, return the existing job for a known token, else register a new one."""
    body = check_create(await read_json_object(request))
    token = body.get("clientRequestToken")
    if token and (existing := find_by_token(state.store, token)) is not None:
        return {"jobArn": existing.name}
    config = state.config
    if not config.s3_endpoint_url:
        raise BedrockError(500, "InternalServerException", "The emulator has no S3 endpoint (--s3-endpoint-url).")
    job_id = new_id(JOB_ID_LENGTH)
    s3 = {"endpoint_url": config.s3_endpoint_url, "region": config.aws_region}
    input_path = state.store.job_path(job_id, "input")
    input_uri = body["inputDataConfig"]["s3InputDataConfig"]["s3Uri"]
    count, problem = await run_in_threadpool(snapshot_input, s3, input_uri, input_path)
    if token and (existing := find_by_token(state.store, token)) is not None:
        input_path.unlink(missing_ok=True)  # a twin request registered the job while this one read S3
        return {"jobArn": existing.name}
    job = register_job(state, body, job_id, input_path, count, problem, s3)
    return {"jobArn": job.name}


def register_job(
    state: EmulatorState,
    body: dict[str, Any],
    job_id: str,
    input_path: Path,
    count: int,
    problem: str | None,
    s3: dict[str, str],
) -> JobRecord:
    """Add a job to the store; a job whose input failed validation fails right after Validating."""
    config = state.config
    job = JobRecord(
        provider=PROVIDER,
        job_id=job_id,
        name=f"arn:aws:bedrock:{config.aws_region}:{ACCOUNT_ID}:model-invocation-job/{job_id}",
        kind="generate",
        model=body["modelId"],
        display_name=body["jobName"],
        input_file=body["inputDataConfig"]["s3InputDataConfig"]["s3Uri"],
        input_path=input_path,
        inline_requests=None,
        request_count=count,
        created=time.time(),
        pending_seconds=config.pending_seconds,
        running_seconds=0.0 if problem else config.running_seconds,
        outcome="fail" if problem else config.job_outcome,
        materialiser=materialise,
        state_name=lambda phase: phase.value,
        extra={
            TOKEN_KEY: body.get("clientRequestToken"),
            REQUEST_KEY: body,
            VALIDATION_ERROR_KEY: problem,
            S3_KEY: s3,
            progress.CANCEL_SECONDS_KEY: progress.cancel_seconds(config),
        },
    )
    job.state_name = partial(control_state_name, job)
    return state.store.add_job(job)


@router.get("/model-invocation-jobs")
async def list_jobs(request: Request, state: StateDep) -> dict[str, Any]:
    """ListModelInvocationJobs: filters, CreationTime order, nextToken pages."""
    query = request.query_params
    max_results = parse_max_results(query.get("maxResults"))
    order = query.get("sortOrder", "Descending")
    if order not in ("Ascending", "Descending"):
        raise constraint_error("sortOrder", order, "Member must satisfy enum value set: [Ascending, Descending]")
    if query.get("sortBy", "CreationTime") != "CreationTime":
        raise constraint_error("sortBy", query.get("sortBy"), "Member must satisfy enum value set: [CreationTime]")
    status_equals = query.get("statusEquals")
    if status_equals is not None and status_equals not in ALL_STATUSES:
        raise constraint_error(
            "statusEquals", status_equals, f"Member must satisfy enum value set: [{', '.join(sorted(ALL_STATUSES))}]"
        )
    after = parse_time_filter(query.get("submitTimeAfter"), "submitTimeAfter")
    before = parse_time_filter(query.get("submitTimeBefore"), "submitTimeBefore")
    name_contains = query.get("nameContains")
    jobs = state.store.list_jobs(PROVIDER)
    if order == "Ascending":
        jobs.reverse()
    summaries: list[dict[str, Any]] = []
    last_seq: int | None = None
    more = False
    for job in jobs[listing_start(jobs, query.get("nextToken")) :]:
        if name_contains and name_contains not in (job.display_name or ""):
            continue
        if (after is not None and job.created <= after) or (before is not None and job.created >= before):
            continue
        phase = await run_in_threadpool(state.store.observe, job)
        rendered = render_job(job, phase)
        if status_equals and rendered["status"] != status_equals:
            continue
        if len(summaries) == max_results:
            more = True
            break
        summaries.append(rendered)
        last_seq = job.seq
    result: dict[str, Any] = {"invocationJobSummaries": summaries}
    if more and last_seq is not None:
        result["nextToken"] = encode_page_token(last_seq)
    return result


@router.get("/model-invocation-job/{job_identifier:path}")
async def get_job(job_identifier: str, state: StateDep) -> dict[str, Any]:
    """GetModelInvocationJob by ARN (percent-encoded in the path) or id."""
    job = lookup_job(state.store, job_identifier)
    phase = await run_in_threadpool(state.store.observe, job)
    return render_job(job, phase)


@router.post("/model-invocation-job/{job_identifier:path}/stop")
async def stop_job(job_identifier: str, state: StateDep) -> dict[str, Any]:
    """StopModelInvocationJob: Stopping, then Stopped; a job that has ended says which state it was in."""
    job = lookup_job(state.store, job_identifier)
    if not await run_in_threadpool(state.store.cancel_job, job):
        status = wire_status(job, await run_in_threadpool(state.store.observe, job))
        raise validation_error(f"Unable to stop the model invocation job {job.name}. State was: {status}")
    return {}
