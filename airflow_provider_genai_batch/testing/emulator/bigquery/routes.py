"""The BigQuery REST calls the stand-in serves, at their real paths under /bigquery/v2.

datasets.insert / get, tables.insert / get / delete, tabledata.insertAll and tabledata.list; every call needs
a bearer token the emulator minted. Jobs and queries are not served.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.responses import JSONResponse, Response

from airflow_provider_genai_batch.testing.emulator.bigquery.cells import CellError, to_cell
from airflow_provider_genai_batch.testing.emulator.bigquery.tables import Dataset, Table
from airflow_provider_genai_batch.testing.emulator.bigquery.validation import (
    DATASET_FIELDS_SERVED,
    INSERT_ALL_FIELDS,
    MAX_PAGE_ROWS,
    TABLE_FIELDS_NOT_EMULATED,
    TABLE_FIELDS_SERVED,
    check_dataset_id,
    check_fields,
    check_labels,
    check_query,
    check_reference,
    check_table_id,
    decode_page_token,
    encode_page_token,
    parse_schema,
    read_body,
    select_columns,
    timestamp_format,
    uint_param,
)
from airflow_provider_genai_batch.testing.emulator.bigquery.wire import (
    BigQueryError,
    already_exists,
    bad_request,
    invalid,
    not_found,
    render_dataset,
    render_table,
    unauthenticated,
)
from airflow_provider_genai_batch.testing.emulator.common import bearer_token
from airflow_provider_genai_batch.testing.emulator.store import EmulatorState, StateDep
from airflow_provider_genai_batch.testing.emulator.vertex.auth import token_valid


def require_token(request: Request) -> None:
    """A live bearer token minted by the emulator (its OAuth endpoint or control plane), else 401."""
    token = bearer_token(request)
    if token is None:
        raise unauthenticated(missing=True)
    if not token_valid(token):
        raise unauthenticated(missing=False)


SERVED = "datasets.insert, datasets.get, tables.insert, tables.get, tables.delete, tabledata.insertAll, tabledata.list"
router = APIRouter(prefix="/bigquery/v2/projects/{project}", dependencies=[Depends(require_token)])


def base_url(request: Request) -> str:
    """The scheme and host the client called, for selfLinks."""
    return str(request.base_url).rstrip("/")


def lookup_dataset(state: EmulatorState, project: str, dataset: str) -> Dataset:
    """The dataset, or 404 `Not found: Dataset p:d`."""
    record = state.bigquery.get_dataset(project, dataset)
    if record is None:
        raise not_found(f"Dataset {project}:{dataset}")
    return record


def lookup_table(state: EmulatorState, project: str, dataset: str, table: str) -> tuple[Dataset, Table]:
    """The table and its dataset, or 404 naming whichever is missing."""
    record = state.bigquery.get(project, dataset, table)
    if record is None:
        lookup_dataset(state, project, dataset)
        raise not_found(f"Table {project}:{dataset}.{table}")
    return lookup_dataset(state, project, dataset), record


def descriptive(body: dict[str, Any]) -> dict[str, Any]:
    """The descriptive fields a resource body sets and the API echoes: labels, friendlyName, description."""
    details: dict[str, Any] = {"labels": check_labels(body)} if "labels" in body else {}
    for name in ("friendlyName", "description"):
        if name in body:
            if not isinstance(body[name], str):
                raise invalid(f"Invalid value for {name}: a string is required.")
            details[name] = body[name]
    return details


# Datasets


@router.post("/datasets")
async def insert_dataset(request: Request, project: str, state: StateDep) -> dict[str, Any]:
    """datasets.insert: the body's datasetReference names the dataset."""
    check_query(request, ())
    body = await read_body(request)
    check_fields(body, DATASET_FIELDS_SERVED, "dataset", frozenset())
    reference = body.get("datasetReference")
    dataset_id = reference.get("datasetId") if isinstance(reference, dict) else None
    check_reference(body, "datasetReference", {"projectId": project, "datasetId": str(dataset_id)}, ["datasetId"])
    check_dataset_id(str(dataset_id))
    location = body.get("location", "US")
    if not isinstance(location, str) or not location:
        raise invalid("Invalid value for location: a location name is required.")
    try:
        record = state.bigquery.create_dataset(project, str(dataset_id), location=location, details=descriptive(body))
    except KeyError:
        raise already_exists(f"Dataset {project}:{dataset_id}") from None
    return render_dataset(base_url(request), project, str(dataset_id), record)


@router.get("/datasets/{dataset}")
async def get_dataset(request: Request, project: str, dataset: str, state: StateDep) -> dict[str, Any]:
    """datasets.get."""
    check_query(request, ("datasetView", "accessPolicyVersion"))
    return render_dataset(base_url(request), project, dataset, lookup_dataset(state, project, dataset))


# Tables


@router.post("/datasets/{dataset}/tables")
async def insert_table(request: Request, project: str, dataset: str, state: StateDep) -> dict[str, Any]:
    """tables.insert: an empty table with the body's schema."""
    check_query(request, ())
    body = await read_body(request)
    check_fields(body, TABLE_FIELDS_SERVED, "table", TABLE_FIELDS_NOT_EMULATED)
    reference = body.get("tableReference")
    table_id = str(reference.get("tableId")) if isinstance(reference, dict) else ""
    expected = {"projectId": project, "datasetId": dataset, "tableId": table_id}
    check_reference(body, "tableReference", expected, ["projectId", "datasetId", "tableId"])
    check_table_id(table_id)
    if body.get("type", "TABLE") != "TABLE":
        raise bad_request(f"The BigQuery emulator serves only tables of type TABLE, not {body['type']}.")
    columns = parse_schema(body)
    details = descriptive(body)
    dataset_record = lookup_dataset(state, project, dataset)
    try:
        record = state.bigquery.create(project, dataset, table_id, columns, details=details)
    except KeyError:
        raise already_exists(f"Table {project}:{dataset}.{table_id}") from None
    return render_table(base_url(request), project, dataset, table_id, record, dataset_record.location)


@router.get("/datasets/{dataset}/tables/{table}")
async def get_table(request: Request, project: str, dataset: str, table: str, state: StateDep) -> dict[str, Any]:
    """tables.get (the whole resource: `selectedFields` and `view` are accepted and have no effect)."""
    check_query(request, ("selectedFields", "view"))
    dataset_record, record = lookup_table(state, project, dataset, table)
    with state.bigquery.lock:
        return render_table(base_url(request), project, dataset, table, record, dataset_record.location)


@router.delete("/datasets/{dataset}/tables/{table}")
async def delete_table(request: Request, project: str, dataset: str, table: str, state: StateDep) -> Response:
    """tables.delete: 204 with an empty body."""
    check_query(request, ())
    lookup_table(state, project, dataset, table)
    if not state.bigquery.delete(project, dataset, table):
        raise not_found(f"Table {project}:{dataset}.{table}")
    return Response(status_code=204)


# Table data


@router.post("/datasets/{dataset}/tables/{table}/insertAll")
async def insert_all(request: Request, project: str, dataset: str, table: str, state: StateDep) -> dict[str, Any]:
    """tabledata.insertAll: rows that misfit come back in insertErrors; unless skipInvalidRows is set, the
    others are then `stopped` and nothing is inserted."""
    check_query(request, ())
    body = await read_body(request)
    check_fields(body, INSERT_ALL_FIELDS, "tabledata_insert_all_request", frozenset())
    if "templateSuffix" in body:
        raise bad_request("The BigQuery emulator does not emulate templateSuffix (template tables).")
    skip_invalid, ignore_unknown = body.get("skipInvalidRows", False), body.get("ignoreUnknownValues", False)
    if not isinstance(skip_invalid, bool) or not isinstance(ignore_unknown, bool):
        raise invalid("Invalid value for skipInvalidRows / ignoreUnknownValues: a boolean is required.")
    rows = body.get("rows")
    if not isinstance(rows, list) or not rows:
        raise invalid("No rows present in the request.")
    values: list[Any] = []
    insert_ids: list[str | None] = []
    for index, row in enumerate(rows):
        if not isinstance(row, dict) or set(row) - {"insertId", "json"}:
            raise invalid(f"Invalid value for rows[{index}]: an object with insertId and json is required.")
        insert_id = row.get("insertId")
        if insert_id is not None and not isinstance(insert_id, str):
            raise invalid(f"Invalid value for rows[{index}].insertId: a string is required.")
        values.append(row.get("json", {}))
        insert_ids.append(insert_id or None)
    lookup_table(state, project, dataset, table)
    try:
        errors = state.bigquery.insert_checked(
            project,
            dataset,
            table,
            values,
            ignore_unknown=ignore_unknown,
            skip_invalid=skip_invalid,
            insert_ids=insert_ids,
            buffer_seconds=state.config.bigquery_streaming_seconds,
        )
    except LookupError:
        raise not_found(f"Table {project}:{dataset}.{table}") from None
    answer: dict[str, Any] = {"kind": "bigquery#tableDataInsertAllResponse"}
    if errors:
        answer["insertErrors"] = insert_errors(errors, len(values), stopped=not skip_invalid)
    return answer


def insert_errors(errors: dict[int, CellError], count: int, *, stopped: bool) -> list[dict[str, Any]]:
    """insertErrors: `invalid` for each misfit row, and `stopped` for the valid rows that were not inserted."""
    answer: list[dict[str, Any]] = []
    for index in range(count):
        error = errors.get(index)
        if error is not None:
            detail = {"reason": "invalid", "location": error.location, "debugInfo": "", "message": error.message}
        elif stopped:
            detail = {"reason": "stopped", "location": "", "debugInfo": "", "message": ""}
        else:
            continue
        answer.append({"index": index, "errors": [detail]})
    return answer


@router.get("/datasets/{dataset}/tables/{table}/data")
async def list_rows(request: Request, project: str, dataset: str, table: str, state: StateDep) -> JSONResponse:
    """tabledata.list: rows as f/v cells, paged by maxResults and pageToken (which wins over startIndex)."""
    check_query(
        request,
        (
            "maxResults",
            "pageToken",
            "startIndex",
            "selectedFields",
            "formatOptions.useInt64Timestamp",
            "formatOptions.timestampOutputFormat",
        ),
    )
    page_size = uint_param(request, "maxResults", "max_results") or MAX_PAGE_ROWS
    start = uint_param(request, "startIndex", "start_index", "TYPE_UINT64") or 0
    token = request.query_params.get("pageToken")
    if token:
        start = decode_page_token(token)
    timestamps = timestamp_format(request)
    _, record = lookup_table(state, project, dataset, table)
    with state.bigquery.lock:
        columns = select_columns(record.columns, request.query_params.get("selectedFields"))
        total, etag = record.num_rows, record.etag
        page = record.data[start : start + min(page_size, MAX_PAGE_ROWS)]
    body: dict[str, Any] = {"kind": "bigquery#tableDataList", "etag": etag, "totalRows": str(total)}
    if start + len(page) < total:
        body["pageToken"] = encode_page_token(start + len(page))
    if page:
        body["rows"] = [{"f": [{"v": to_cell(c, row[c.name], timestamps)} for c in columns]} for row in page]
    return JSONResponse(body)


@router.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
async def not_served(request: Request) -> None:
    """Any other BigQuery method (jobs, queries, patches, listings): 501, naming what the stand-in serves."""
    raise BigQueryError(
        501,
        "UNIMPLEMENTED",
        "notImplemented",
        f"The BigQuery emulator does not serve {request.method} {request.url.path}. It serves {SERVED}.",
    )
