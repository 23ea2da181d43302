"""BigQuery's wire format: its error envelope (Google's, with the legacy `errors` list) and resource bodies.

int64 values (numRows, times in epoch milliseconds) travel as strings; type names are the legacy ones.
"""

from __future__ import annotations

import time
from typing import Any

from starlette.responses import JSONResponse, Response

from airflow_provider_genai_batch.testing.emulator.bigquery.tables import Column, Dataset, Table
from airflow_provider_genai_batch.testing.emulator.common import EmulatorError


class BigQueryError(EmulatorError):
    """{"error": {"code", "message", "errors": [{"message", "domain", "reason"[, "location", ...]}], "status"}}."""

    def __init__(self, code: int, status: str, reason: str, message: str, **extra: str) -> None:
        """The HTTP code, canonical status, legacy reason, message and extra `errors[0]` fields."""
        super().__init__(message)
        self.code = code
        self.body: dict[str, Any] = {
            "error": {
                "code": code,
                "message": message,
                "errors": [{"message": message, "domain": "global", "reason": reason, **extra}],
                "status": status,
            }
        }

    def response(self) -> Response:
        """The JSON error response."""
        return JSONResponse(self.body, status_code=self.code)


def invalid(message: str) -> BigQueryError:
    """400 INVALID_ARGUMENT, reason `invalid`."""
    return BigQueryError(400, "INVALID_ARGUMENT", "invalid", message)


def bad_request(message: str) -> BigQueryError:
    """400 INVALID_ARGUMENT, reason `badRequest` (malformed requests rather than bad values)."""
    return BigQueryError(400, "INVALID_ARGUMENT", "badRequest", message)


def not_found(what: str) -> BigQueryError:
    """404 `Not found: <what>` (e.g. `Table p:d.t`)."""
    return BigQueryError(404, "NOT_FOUND", "notFound", f"Not found: {what}")


def already_exists(what: str) -> BigQueryError:
    """409 `Already Exists: <what>`."""
    return BigQueryError(409, "ALREADY_EXISTS", "duplicate", f"Already Exists: {what}")


def unauthenticated(missing: bool) -> BigQueryError:
    """401 for a missing, unknown or expired OAuth access token."""
    if missing:
        message = (
            "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie "
            "or other valid authentication credential."
        )
        return BigQueryError(
            401, "UNAUTHENTICATED", "required", message, location="Authorization", locationType="header"
        )
    message = (
        "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other "
        "valid authentication credential."
    )
    return BigQueryError(401, "UNAUTHENTICATED", "authError", message, location="Authorization", locationType="header")


def render_field(column: Column) -> dict[str, Any]:
    """A schema field: name, type, mode and (for RECORD) its fields."""
    body: dict[str, Any] = {"name": column.name, "type": column.type, "mode": column.mode}
    if column.fields:
        body["fields"] = [render_field(sub) for sub in column.fields]
    return body


def render_dataset(base_url: str, project: str, dataset_id: str, dataset: Dataset) -> dict[str, Any]:
    """A Dataset resource."""
    return {
        "kind": "bigquery#dataset",
        "etag": f"{dataset.creation_ms:x}",
        "id": f"{project}:{dataset_id}",
        "selfLink": f"{base_url}/bigquery/v2/projects/{project}/datasets/{dataset_id}",
        "datasetReference": {"datasetId": dataset_id, "projectId": project},
        **dataset.details,
        "creationTime": str(dataset.creation_ms),
        "lastModifiedTime": str(dataset.creation_ms),
        "location": dataset.location,
        "type": "DEFAULT",
    }


def render_table(
    base_url: str, project: str, dataset_id: str, table_id: str, table: Table, location: str
) -> dict[str, Any]:
    """A Table resource (a plain TABLE; no partitioning or clustering): ``numRows`` leaves out the rows still in the
    streaming buffer, which ``streamingBuffer`` estimates."""
    buffer = table.streaming_buffer(time.time())
    resource: dict[str, Any] = {
        "kind": "bigquery#table",
        "etag": table.etag,
        "id": f"{project}:{dataset_id}.{table_id}",
        "selfLink": f"{base_url}/bigquery/v2/projects/{project}/datasets/{dataset_id}/tables/{table_id}",
        "tableReference": {"projectId": project, "datasetId": dataset_id, "tableId": table_id},
        **table.details,
        "schema": {"fields": [render_field(column) for column in table.columns]},
        "numBytes": str(sum(len(repr(row)) for row in table.data)),
        "numLongTermBytes": "0",
        "numRows": str(table.num_rows - (buffer[0] if buffer else 0)),
        "creationTime": str(table.creation_ms),
        "lastModifiedTime": str(table.last_modified_ms),
        "type": "TABLE",
        "location": location,
    }
    if buffer is not None:
        rows, oldest = buffer
        resource["streamingBuffer"] = {
            "estimatedRows": str(rows),
            "estimatedBytes": str(sum(len(repr(row)) for row in table.data[-rows:])),
            "oldestEntryTime": str(int(oldest * 1000)),
        }
    return resource
