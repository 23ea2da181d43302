"""BigQuery REST as sans-IO operations: a table's metadata and schema check, and its rows, paged and decoded.

``tabledata.list`` gives each row as ``{"f": [{"v": ...}]}`` in schema order, every scalar as text (an
INTEGER as a decimal string, a TIMESTAMP as epoch seconds, a JSON value as its JSON text); rows are
decoded here into plain dicts keyed by column name.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from airflow_provider_genai_batch.errors import GenAIBatchError
from airflow_provider_genai_batch.hooks.http import ApiRequest, Operation, Page

DEFAULT_ENDPOINT = "https://bigquery.googleapis.com"
LIST_PAGE_SIZE = 1000
REQUEST_COLUMN_TYPES = {"request": ("JSON", "STRING"), "content": ("STRING",)}
"""The types a table's request column may have: a request as JSON (or its text), a text-embedding instance's text."""


@dataclass(frozen=True)
class TableRef:
    """A table: project (which may hold ``.`` and ``:``, as domain-scoped ones do), dataset and table id."""

    project: str
    dataset: str
    table: str

    @classmethod
    def parse(cls, uri: str) -> TableRef:
        """``bq://project.dataset.table`` as a TableRef; ValueError for anything else."""
        if not uri.startswith("bq://"):
            raise ValueError(f"not a bq:// URI: {uri!r}")
        project, _, rest = uri[5:].rpartition(".")
        project, _, dataset = project.rpartition(".")
        if not project or not dataset or not rest:
            raise ValueError(f"{uri!r} is not a bq://project.dataset.table URI")
        return cls(project, dataset, rest)

    @property
    def uri(self) -> str:
        """The ``bq://`` URI."""
        return f"bq://{self.project}.{self.dataset}.{self.table}"


@dataclass(frozen=True)
class Column:
    """One column of a table schema (``fields`` for a RECORD)."""

    name: str
    type: str
    mode: str = "NULLABLE"
    fields: tuple[Column, ...] = ()

    @classmethod
    def from_schema(cls, field: Mapping[str, Any]) -> Column:
        """A column from a ``TableFieldSchema``."""
        return cls(
            name=str(field["name"]),
            type=str(field.get("type", "STRING")).upper(),
            mode=str(field.get("mode") or "NULLABLE").upper(),
            fields=tuple(cls.from_schema(sub) for sub in field.get("fields") or ()),
        )


@dataclass(frozen=True)
class TableInfo:
    """What ``tables.get`` says about a table: its columns, row count and what changes when its data does."""

    ref: TableRef
    columns: tuple[Column, ...]
    rows: int
    """``numRows``: the rows committed, those still in the streaming buffer left out."""
    etag: str
    last_modified: str
    streaming_rows: int = 0
    """``streamingBuffer.estimatedRows``: an estimate of the rows recently streamed and not committed yet."""

    def column(self, name: str) -> Column | None:
        """The top-level column ``name``, if the table has it."""
        return next((column for column in self.columns if column.name == name), None)

    @property
    def version(self) -> str:
        """Changes whenever the table's data changes: its etag, modification time and row count."""
        return f"{self.etag}/{self.last_modified}/{self.rows}"


@dataclass(frozen=True)
class BigQueryEndpoint:
    """Where BigQuery requests go: ``https://bigquery.googleapis.com`` or an emulator's root."""

    url: str = DEFAULT_ENDPOINT

    def dataset_url(self, ref: TableRef) -> str:
        """The REST URL of a table's dataset."""
        root = self.url.rstrip("/")
        return f"{root}/bigquery/v2/projects/{quote(ref.project, safe='')}/datasets/{quote(ref.dataset, safe='')}"

    def table_url(self, ref: TableRef) -> str:
        """The REST URL of a table."""
        return f"{self.dataset_url(ref)}/tables/{quote(ref.table, safe='')}"


def get_table(endpoint: BigQueryEndpoint, ref: TableRef) -> Operation[TableInfo]:
    """``tables.get``: a table's schema, row count, etag, modification time and streaming buffer."""
    response = yield ApiRequest("GET", endpoint.table_url(ref))
    body = response.json()
    buffer = body.get("streamingBuffer") or {}
    return TableInfo(
        ref=ref,
        columns=tuple(Column.from_schema(field) for field in (body.get("schema") or {}).get("fields") or ()),
        rows=int(body.get("numRows") or 0),
        etag=str(body.get("etag") or ""),
        last_modified=str(body.get("lastModifiedTime") or ""),
        streaming_rows=int(buffer.get("estimatedRows") or 0),
    )


def check_dataset(endpoint: BigQueryEndpoint, ref: TableRef) -> Operation[None]:
    """``datasets.get`` of a table's dataset: NotFoundError where it does not exist."""
    yield ApiRequest("GET", endpoint.dataset_url(ref))


def check_input_table(table: TableInfo, column: str) -> None:
    """A request table needs the column the model reads (``request``, JSON or STRING; or a text-embedding
    instance's ``content``, STRING), a ``key`` column (STRING) for the join, and no rows still in its streaming
    buffer (their count is an estimate, and committing them changes the table's version)."""
    types = " or ".join(REQUEST_COLUMN_TYPES[column])
    request = table.column(column)
    if request is None:
        raise GenAIBatchError(f"input table {table.ref.uri} has no '{column}' column ({types})")
    if request.type not in REQUEST_COLUMN_TYPES[column] or request.mode == "REPEATED":
        raise GenAIBatchError(
            f"input table {table.ref.uri}: column '{column}' is {request.mode} {request.type}, not {types}"
        )
    key = table.column("key")
    if key is None:
        raise GenAIBatchError(
            f"input table {table.ref.uri} has no 'key' column (STRING): results are joined to requests on it"
        )
    if key.type != "STRING" or key.mode == "REPEATED":
        raise GenAIBatchError(f"input table {table.ref.uri}: column 'key' is {key.mode} {key.type}, not STRING")
    if table.streaming_rows:
        raise GenAIBatchError(
            f"input table {table.ref.uri} has about {table.streaming_rows:,} rows in BigQuery's streaming buffer "
            f"(streamed, not committed yet), which its row count ({table.rows:,}) leaves out: the table's rows and "
            "version are not settled, so a job could not be matched to this input again. Submit once BigQuery has "
            "committed them (usually within minutes, at most 90), or write the table with a load job or DML, "
            "which commit at once"
        )


def list_rows(
    endpoint: BigQueryEndpoint, ref: TableRef, columns: Sequence[Column], page_token: str | None
) -> Operation[Page[dict[str, Any]]]:
    """One page of ``tabledata.list`` for ``columns`` (all of the table's, or a selection), rows decoded."""
    params: dict[str, str | int] = {"maxResults": LIST_PAGE_SIZE, "selectedFields": ",".join(c.name for c in columns)}
    if page_token:
        params["pageToken"] = page_token
    response = yield ApiRequest("GET", f"{endpoint.table_url(ref)}/data", params=params)
    body = response.json()
    rows = [decode_row(row, columns) for row in body.get("rows") or ()]
    return Page(rows, body.get("pageToken"))


def decode_row(row: Mapping[str, Any], columns: Sequence[Column]) -> dict[str, Any]:
    """One ``{"f": [{"v": ...}]}`` row as ``{column: value}``, each value decoded by its column's type."""
    cells = row.get("f") or []
    return {column.name: decode_value(cell.get("v"), column) for column, cell in zip(columns, cells, strict=False)}


def decode_value(value: Any, column: Column) -> Any:
    """A cell value from BigQuery's JSON encoding: repeated cells are ``[{"v": ...}]``, records ``{"f": [...]}``."""
    if value is None:
        return None
    if column.mode == "REPEATED":
        single = Column(column.name, column.type, "NULLABLE", column.fields)
        return [decode_value(item.get("v"), single) for item in value]
    kind = column.type
    if kind in ("RECORD", "STRUCT"):
        return decode_row(value, column.fields)
    if kind in ("INTEGER", "INT64"):
        return int(value)
    if kind in ("FLOAT", "FLOAT64"):
        return float(value)
    if kind in ("BOOLEAN", "BOOL"):
        return value is True or str(value).lower() == "true"
    if kind == "TIMESTAMP":
        seconds = float(value)
        return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat().replace("+00:00", "Z")
    if kind == "JSON":
        return json.loads(value) if isinstance(value, str) else value
    return value
