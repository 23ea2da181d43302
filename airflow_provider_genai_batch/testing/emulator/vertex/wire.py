"""Vertex AI's wire format: Google error envelopes, BatchPredictionJob bodies and the delete operation.

Resources render camelCase with int64 counts as strings, zero counts left out (proto3 JSON), RFC 3339
times with microseconds and a Z, and names carrying the project *number*, as the real service answers
even when the request named the project by its id.
"""

from __future__ import annotations

import time
from typing import Any

from airflow_provider_genai_batch.testing.emulator import progress
from airflow_provider_genai_batch.testing.emulator.common import optional_rfc3339, rfc3339, stable_token
from airflow_provider_genai_batch.testing.emulator.gemini.wire import GeminiError
from airflow_provider_genai_batch.testing.emulator.store import JobRecord, Phase

PROVIDER = "vertex"
JOB_ID_DIGITS = 19
OPERATION_TYPE = "type.googleapis.com/google.cloud.aiplatform.{version}.DeleteOperationMetadata"
EMPTY_TYPE = "type.googleapis.com/google.protobuf.Empty"
FAILED_JOB_MESSAGE = "Internal error occurred. The batch prediction job failed (emulated: job_outcome is 'fail')."

# job.extra keys
REQUEST_KEY = "request"
PROBLEM_KEY = "import_problem"
OUTPUT_KEY = "output"
HOLD_KEY = "hold_state"
FAILED_ROWS_KEY = "failed_rows"
SERVICE_FAILURES_KEY = "service_failures"
OPERATION_KEY = "delete_operation"


class VertexError(GeminiError):
    """An error in Google's envelope: {"error": {"code", "message", "status"[, "details"]}}."""


def invalid_argument(message: str) -> VertexError:
    """A 400 INVALID_ARGUMENT."""
    return VertexError(400, "INVALID_ARGUMENT", message)


def field_errors(*violations: tuple[str, str]) -> VertexError:
    """Vertex's request-validation error: every (field, message) listed, with a BadRequest detail."""
    listed = "".join(f"{n}.Field: {field}; Message: {text}\t" for n, (field, text) in enumerate(violations, 1))
    details = [
        {
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [{"field": field, "description": text} for field, text in violations],
        }
    ]
    return VertexError(400, "INVALID_ARGUMENT", f"List of found errors:\t{listed}", details)


def failed_precondition(message: str) -> VertexError:
    """A 400 FAILED_PRECONDITION (an operation the job's state does not allow)."""
    return VertexError(400, "FAILED_PRECONDITION", message)


def not_found(message: str) -> VertexError:
    """A 404 NOT_FOUND."""
    return VertexError(404, "NOT_FOUND", message)


def unauthenticated(message: str) -> VertexError:
    """A 401 UNAUTHENTICATED."""
    return VertexError(401, "UNAUTHENTICATED", message)


def project_number(project: str) -> str:
    """The 12-digit number the emulator gives a project id (a number stays itself), stable across runs."""
    if project.isdigit():
        return project
    return "1" + stable_token(f"project:{project}", 11, "0123456789")


def job_name(project: str, location: str, job_id: str) -> str:
    """The full resource name of a job, with the project number."""
    return f"projects/{project_number(project)}/locations/{location}/batchPredictionJobs/{job_id}"


def int64(value: int) -> str:
    """int64 values travel as JSON strings."""
    return str(value)


def timestamp(moment: float | None) -> str | None:
    """An RFC 3339 UTC time with microseconds and a Z, as Vertex writes them."""
    return optional_rfc3339(moment, "microseconds")


# States


def wire_state(job: JobRecord, phase: Phase, now: float | None = None) -> str:
    """The JOB_STATE_* of a job: a held job shows its hold state, a cancelled one CANCELLING for a while,
    and a succeeded job with rows lost to service errors PARTIALLY_SUCCEEDED."""
    now = time.time() if now is None else now
    if phase is Phase.RUNNING and job.extra.get(HOLD_KEY):
        return f"JOB_STATE_{job.extra[HOLD_KEY]}"
    if phase is Phase.CANCELLED:
        end = progress.cancel_end(job)
        return "JOB_STATE_CANCELLING" if end is not None and now < end else "JOB_STATE_CANCELLED"
    if phase is Phase.SUCCEEDED and job.extra.get(SERVICE_FAILURES_KEY):
        return "JOB_STATE_PARTIALLY_SUCCEEDED"
    return f"JOB_STATE_{phase.value}"


def control_state_name(job: JobRecord, phase: Phase) -> str:
    """The state shown by /_emulator/jobs."""
    return wire_state(job, phase)


def job_error(job: JobRecord, phase: Phase, state: str) -> dict[str, Any] | None:
    """The job's `error` (a google.rpc.Status), set once it failed, expired or was cancelled."""
    if phase is Phase.FAILED:
        problem = job.extra.get(PROBLEM_KEY)
        if problem:
            return {"code": 3, "message": problem}
        return {"code": 13, "message": job.failure or FAILED_JOB_MESSAGE}
    if phase is Phase.EXPIRED:
        return {"code": 4, "message": "The batch prediction job did not finish within its time limit and expired."}
    if state == "JOB_STATE_CANCELLED":
        return {"code": 1, "message": "CANCELED"}
    return None


def completion_stats(job: JobRecord, phase: Phase, state: str) -> dict[str, str] | None:
    """completionStats once the job has ended: int64 strings, zero counts left out."""
    if phase is Phase.SUCCEEDED and job.results is not None:
        counts = {"successfulCount": job.results.succeeded, "failedCount": job.results.failed}
    elif state == "JOB_STATE_CANCELLED":
        counts = {"incompleteCount": job.request_count}
    else:
        return None
    return {key: int64(value) for key, value in counts.items() if value}


def started(job: JobRecord, phase: Phase) -> bool:
    """Whether the job ever ran: it left PENDING before any cancel."""
    if phase is Phase.PENDING:
        return False
    return job.cancelled_at is None or job.cancelled_at > job.running_at


def output_info(job: JobRecord, phase: Phase) -> dict[str, str] | None:
    """outputInfo, known once the job has started (and could read its input): where its predictions go."""
    if not started(job, phase) or job.extra.get(PROBLEM_KEY):
        return None
    output = job.extra[OUTPUT_KEY]
    if output["kind"] == "gcs":
        return {"gcsOutputDirectory": output["directory"]}
    return {
        "bigqueryOutputDataset": f"bq://{output['project']}.{output['dataset']}",
        "bigqueryOutputTable": output["table"],
    }


def render_job(job: JobRecord, phase: Phase, now: float | None = None) -> dict[str, Any]:
    """A BatchPredictionJob resource, as get, list and create return it."""
    now = time.time() if now is None else now
    request = job.extra[REQUEST_KEY]
    state = wire_state(job, phase, now)
    body: dict[str, Any] = {"name": job.name, "displayName": job.display_name, "model": job.model}
    body["inputConfig"] = request["inputConfig"]
    body["outputConfig"] = request["outputConfig"]
    info = output_info(job, phase)
    if info is not None:
        body["outputInfo"] = info
    body["state"] = state
    error = job_error(job, phase, state)
    if error is not None:
        body["error"] = error
    stats = completion_stats(job, phase, state)
    if stats is not None:
        body["completionStats"] = stats
    body["createTime"] = rfc3339(job.created)
    if started(job, phase):
        body["startTime"] = rfc3339(job.running_at)
    if state == "JOB_STATE_CANCELLING":
        end, updated = None, job.cancelled_at
    elif state == "JOB_STATE_CANCELLED":
        end = updated = progress.cancel_end(job)
    else:
        end, updated = job.end_time(phase), job.update_time(phase)
    if end is not None:
        body["endTime"] = rfc3339(end)
    body["updateTime"] = timestamp(updated)
    if request.get("labels"):
        body["labels"] = request["labels"]
    body["modelVersionId"] = "1"
    return body


def render_delete_operation(job: JobRecord, operation_id: str, version: str, deleted_at: float) -> dict[str, Any]:
    """The long-running operation a delete returns (and GET on the operation answers): done at once."""
    project_location = job.name.split("/batchPredictionJobs/")[0]
    return {
        "name": f"{project_location}/operations/{operation_id}",
        "metadata": {
            "@type": OPERATION_TYPE.format(version=version),
            "genericMetadata": {"createTime": rfc3339(deleted_at), "updateTime": rfc3339(deleted_at)},
        },
        "done": True,
        "response": {"@type": EMPTY_TYPE},
    }
