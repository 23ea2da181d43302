"""What the BigQuery stand-in accepts in a request: ids, query parameters and resource bodies, strictly."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from fastapi import Request

from airflow_provider_genai_batch.testing.emulator.bigquery.cells import TimestampFormat
from airflow_provider_genai_batch.testing.emulator.bigquery.tables import MODES, TYPE_ALIASES, TYPES, Column
from airflow_provider_genai_batch.testing.emulator.bigquery.wire import BigQueryError, bad_request, invalid

SYSTEM_PARAMETERS = frozenset({"prettyPrint", "alt", "quotaUser", "userIp", "$.xgafv", "access_token"})
"""Query parameters every Google REST method takes (partial responses, `fields=`, are not emulated)."""
DATASET_ID = re.compile(r"\w{1,1024}", re.ASCII)
TABLE_ID = re.compile(r"[\w\- ]{1,1024}")
FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,299}")
MAX_PAGE_ROWS = 100_000
"""Rows in a tabledata.list page when maxResults does not say (the service bounds pages by size instead)."""
TIMESTAMP_FORMATS: dict[str, TimestampFormat] = {
    "TIMESTAMP_OUTPUT_FORMAT_UNSPECIFIED": "FLOAT64",
    "FLOAT64": "FLOAT64",
    "INT64": "INT64",
    "ISO8601_STRING": "ISO8601_STRING",
}
DATASET_FIELDS = frozenset({"kind", "etag", "id", "selfLink", "datasetReference", "friendlyName", "description"})
DATASET_FIELDS_SERVED = DATASET_FIELDS | {"labels", "location"}
TABLE_FIELDS = frozenset({"kind", "etag", "id", "selfLink", "tableReference", "friendlyName", "description"})
TABLE_FIELDS_SERVED = TABLE_FIELDS | {"labels", "schema", "type"}
TABLE_FIELDS_NOT_EMULATED = frozenset(
    {
        "timePartitioning",
        "rangePartitioning",
        "clustering",
        "requirePartitionFilter",
        "expirationTime",
        "view",
        "materializedView",
        "externalDataConfiguration",
        "encryptionConfiguration",
        "snapshotDefinition",
        "cloneDefinition",
        "defaultCollation",
        "defaultRoundingMode",
        "resourceTags",
        "tableConstraints",
        "biglakeConfiguration",
        "maxStaleness",
        "partitionDefinition",
    }
)
INSERT_ALL_FIELDS = frozenset({"kind", "skipInvalidRows", "ignoreUnknownValues", "templateSuffix", "rows", "traceId"})


def check_query(request: Request, allowed: Iterable[str]) -> None:
    """Refuse query parameters the method does not define, as Google's front end does."""
    known = SYSTEM_PARAMETERS | set(allowed)
    for name in request.query_params:
        if name == "fields":
            raise bad_request("The BigQuery emulator does not serve partial responses (the fields parameter).")
        if name not in known:
            raise invalid(
                f'Invalid JSON payload received. Unknown name "{name}": Cannot bind query parameter. '
                f"Field '{name}' could not be found in request message."
            )
    if request.query_params.get("alt", "json") != "json":
        raise bad_request("The BigQuery API answers only in JSON (alt=json).")


def check_dataset_id(dataset: str) -> None:
    """Dataset ids: letters, digits and underscores, at most 1024 characters."""
    if not DATASET_ID.fullmatch(dataset):
        raise invalid(
            f'Invalid dataset ID "{dataset}". Dataset IDs must be alphanumeric (plus underscores) and must be at '
            "most 1024 characters long."
        )


def check_table_id(table: str) -> None:
    """Table ids: letters, marks, digits, underscores, dashes and spaces, at most 1024 characters."""
    if not TABLE_ID.fullmatch(table):
        raise invalid(
            f'Invalid table ID "{table}". Table IDs must be alphanumeric (plus underscores) and must be at most '
            "1024 characters long. Also, Table decorators cannot be used."
        )


async def read_body(request: Request) -> dict[str, Any]:
    """The request body as a JSON object; 400 `parseError` otherwise."""
    raw = await request.body()
    try:
        body = json.loads(raw) if raw.strip() else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        raise BigQueryError(400, "INVALID_ARGUMENT", "parseError", "Parse Error")
    return body


def check_fields(body: Mapping[str, Any], served: frozenset[str], resource: str, not_emulated: frozenset[str]) -> None:
    """Unknown resource fields are refused (the API's words); known ones the stand-in cannot honour are named."""
    for name in body:
        if name in not_emulated:
            raise bad_request(f"The BigQuery emulator does not emulate {resource}.{name}.")
        if name not in served:
            raise invalid(f"Invalid JSON payload received. Unknown name \"{name}\" at '{resource}': Cannot find field.")


def check_reference(body: Mapping[str, Any], key: str, expected: Mapping[str, str], required: Sequence[str]) -> None:
    """A datasetReference / tableReference must name what the path names (project may be left out)."""
    reference = body.get(key)
    if not isinstance(reference, dict):
        raise invalid(f"Required parameter is missing: {key}")
    for name in required:
        if not reference.get(name):
            raise invalid(f"Required parameter is missing: {key}.{name}")
    for name, value in reference.items():
        if name not in expected:
            raise invalid(f"Invalid JSON payload received. Unknown name \"{name}\" at '{key}': Cannot find field.")
        if value != expected[name]:
            raise invalid(f"Invalid {key}.{name}: {value!r} does not match the request path ({expected[name]!r}).")


def check_labels(body: Mapping[str, Any]) -> dict[str, str]:
    """Resource labels: a map of strings."""
    labels = body.get("labels", {})
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        raise invalid("Invalid value for labels: a map of strings is required.")
    return dict(labels)


def parse_schema(body: Mapping[str, Any]) -> list[Column]:
    """The `schema.fields` of a table body as columns (an absent schema is an empty table)."""
    schema = body.get("schema", {})
    if not isinstance(schema, dict) or not isinstance(schema.get("fields", []), list):
        raise invalid("Invalid value for schema: an object with a fields list is required.")
    return _parse_fields(schema.get("fields", []), "")


def _parse_fields(fields: list[Any], prefix: str) -> list[Column]:
    columns: list[Column] = []
    seen: set[str] = set()
    for item in fields:
        if not isinstance(item, dict):
            raise invalid("Invalid value for schema.fields: each field must be an object.")
        name, kind, mode = item.get("name"), str(item.get("type", "")).upper(), str(item.get("mode", "NULLABLE"))
        if not isinstance(name, str) or not FIELD_NAME.fullmatch(name):
            raise invalid(
                f'Invalid field name "{name}". Fields must contain only letters, numbers, and underscores, start '
                "with a letter or underscore, and be at most 300 characters long."
            )
        if name.lower() in seen:
            raise invalid(f"Field {prefix}{name} already exists in schema")
        seen.add(name.lower())
        kind = TYPE_ALIASES.get(kind, kind)
        if kind not in TYPES:
            raise invalid(f"Invalid value for type: {item.get('type')} is not a valid value")
        if mode.upper() not in MODES:
            raise invalid(f"Invalid value for mode: {mode} is not a valid value")
        sub = item.get("fields", [])
        if kind == "RECORD" and not sub:
            raise invalid(f"Field {prefix}{name} is type RECORD but has no schema")
        if kind != "RECORD" and sub:
            raise invalid(f"Field {prefix}{name} is type {kind} and cannot have sub-fields")
        nested = tuple(_parse_fields(sub, f"{prefix}{name}.")) if kind == "RECORD" else ()
        columns.append(Column(name=name, type=kind, mode=mode.upper(), fields=nested))
    return columns


# tabledata.list


def uint_param(request: Request, name: str, proto_name: str, kind: str = "TYPE_UINT32") -> int | None:
    """An unsigned integer query parameter, or None when absent."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if not raw.isdigit():
        raise invalid(f"Invalid value at '{proto_name}' ({kind}), \"{raw}\"")
    return int(raw)


def bool_param(request: Request, name: str, proto_name: str) -> bool:
    """A boolean query parameter (`true`/`false` in any case), False when absent."""
    raw = request.query_params.get(name)
    if raw is None:
        return False
    if raw.lower() not in ("true", "false"):
        raise invalid(f"Invalid value at '{proto_name}' (TYPE_BOOL), \"{raw}\"")
    return raw.lower() == "true"


def timestamp_format(request: Request) -> TimestampFormat:
    """How TIMESTAMP cells are encoded: FLOAT64 seconds by default, INT64 microseconds, or ISO 8601 text."""
    use_int64 = bool_param(request, "formatOptions.useInt64Timestamp", "format_options.use_int64_timestamp")
    raw = request.query_params.get("formatOptions.timestampOutputFormat")
    if raw is None:
        return "INT64" if use_int64 else "FLOAT64"
    if raw not in TIMESTAMP_FORMATS:
        raise invalid(f"Invalid value at 'format_options.timestamp_output_format' (TYPE_ENUM), \"{raw}\"")
    if use_int64:
        raise invalid("Cannot specify both use_int64_timestamp and timestamp_output_format.")
    return TIMESTAMP_FORMATS[raw]


def encode_page_token(index: int) -> str:
    """An opaque token for the row where the next page starts."""
    return base64.urlsafe_b64encode(f"row:{index}".encode()).decode().rstrip("=")


def decode_page_token(token: str) -> int:
    """The row index a page token stands for; 400 for a token the stand-in did not issue."""
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError):
        text = ""
    kind, _, index = text.partition(":")
    if kind != "row" or not index.isdigit():
        raise invalid("Invalid page token")
    return int(index)


def select_columns(columns: Sequence[Column], selected: str | None) -> list[Column]:
    """The columns `selectedFields` names (dotted paths select inside RECORDs), in schema order."""
    if selected is None:
        return list(columns)
    paths = [tuple(part.strip() for part in name.split(".")) for name in selected.split(",") if name.strip()]
    for path in paths:
        _check_path(columns, path, ".".join(path))
    return _prune(columns, paths)


def _check_path(columns: Sequence[Column], path: tuple[str, ...], full: str) -> None:
    by_name = {column.name.lower(): column for column in columns}
    column = by_name.get(path[0].lower())
    if column is None or (len(path) > 1 and column.type != "RECORD"):
        raise invalid(f"Invalid field selection {full}")
    if len(path) > 1:
        _check_path(column.fields, path[1:], full)


def _prune(columns: Sequence[Column], paths: list[tuple[str, ...]]) -> list[Column]:
    kept: list[Column] = []
    for column in columns:
        mine = [path[1:] for path in paths if path[0].lower() == column.name.lower()]
        if not mine:
            continue
        if any(not rest for rest in mine):
            kept.append(column)
        else:
            fields = tuple(_prune(column.fields, mine))
            kept.append(Column(name=column.name, type=column.type, mode=column.mode, fields=fields))
    return kept
