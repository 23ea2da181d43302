"""Bedrock's wire format: AWS REST-JSON errors, job statuses, and GetModelInvocationJob bodies with ISO-8601 times.

Pending time is shown as Submitted → Validating → Scheduled; a stopped job is Stopping, then Stopped.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.responses import JSONResponse, Response

from airflow_provider_genai_batch.testing.emulator import progress
from airflow_provider_genai_batch.testing.emulator.common import EmulatorError, aws_error_body, optional_rfc3339
from airflow_provider_genai_batch.testing.emulator.store import JobRecord, Phase

PROVIDER = "bedrock"
ACCOUNT_ID = "123456789012"
JOB_ID_LENGTH = 12
PENDING_STATUSES = ("Submitted", "Validating", "Scheduled")
PHASE_STATUSES = {
    Phase.SUCCEEDED: "Completed",
    Phase.FAILED: "Failed",
    Phase.EXPIRED: "Expired",
    Phase.RUNNING: "InProgress",
}
FAILED_JOB_MESSAGE = "The batch inference job failed (emulated failure: job_outcome is 'fail')."

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
        body, headers = aws_error_body(self.error_type, self.message)
        return JSONResponse(body, status_code=self.status_code, headers=headers)


def validation_error(message: str) -> BedrockError:
    """A 400 ValidationException."""
    return BedrockError(400, "ValidationException", message)


def constraint_error(member: str, value: Any, rule: str) -> BedrockError:
    """A ValidationException worded as AWS words a failed member constraint."""
    shown = "null" if value is None else f"'{value}'"
    return validation_error(
        f"1 validation error detected: Value {shown} at '{member}' failed to satisfy constraint: {rule}"
    )


def iso(moment: float | None) -> str | None:
    """Epoch seconds as an ISO-8601 UTC timestamp with milliseconds, or None."""
    return optional_rfc3339(moment, "milliseconds")


def job_arn(region: str, job_id: str) -> str:
    """The ARN of a model invocation job."""
    return f"arn:aws:bedrock:{region}:{ACCOUNT_ID}:model-invocation-job/{job_id}"


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
