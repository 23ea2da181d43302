"""The BigQuery stand-in's in-memory datasets and tables, shared by its REST routes and the Vertex emulator.

Rows go in as BigQuery's JSON API gives them (tabledata.insertAll `json` objects, JSON columns as JSON text)
and come out of `rows()` in a form `insert()` accepts again (TIMESTAMP as RFC 3339 text), so a job can copy
input columns into an output table. Every change advances the table's etag and last-modified time.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_genai_batch.testing.emulator.bigquery.cells import CellError, parse_row, to_api_value
from airflow_provider_genai_batch.testing.emulator.common import random_token

TYPE_ALIASES = {"INT64": "INTEGER", "FLOAT64": "FLOAT", "BOOL": "BOOLEAN", "STRUCT": "RECORD"}
"""Standard SQL type names the API accepts and reports under their legacy names."""
TYPES = frozenset(
    {"STRING", "BYTES", "INTEGER", "FLOAT", "NUMERIC", "BIGNUMERIC", "BOOLEAN", "TIMESTAMP", "DATE", "TIME"}
    | {"DATETIME", "GEOGRAPHY", "JSON", "RECORD"}
)
MODES = frozenset({"NULLABLE", "REQUIRED", "REPEATED"})
_URI = re.compile(r"bq://((?:[a-z][a-z0-9.-]*[a-z0-9]:)?[a-z][a-z0-9-]*[a-z0-9])\.(\w+)\.([\w\- ]+)")
"""Project ids are lower-case (optionally domain-scoped, `example.com:proj`); dataset and table ids as the API's."""


@dataclass(frozen=True)
class Column:
    """One schema field; `fields` holds a RECORD's sub-fields."""

    name: str
    type: str
    mode: str = "NULLABLE"
    fields: tuple[Column, ...] = ()


def parse_table_uri(uri: str) -> tuple[str, str, str]:
    """`bq://project.dataset.table` as (project, dataset, table); ValueError for anything else."""
    match = _URI.fullmatch(uri)
    if match is None:
        raise ValueError(f"not a BigQuery table URI (bq://project.dataset.table): {uri!r}")
    return match.group(1), match.group(2), match.group(3)


class InvalidRows(ValueError):
    """Rows that do not fit the schema, by index in the batch; nothing of the batch was inserted."""

    def __init__(self, errors: dict[int, CellError]) -> None:
        """Remember each bad row's first error."""
        first = next(iter(errors.items()))
        super().__init__(f"row {first[0]}: {first[1].location}: {first[1].message}")
        self.errors = errors


@dataclass(frozen=True)
class Dataset:
    """A dataset's creation time, location and descriptive fields (labels, friendlyName, description)."""

    creation_ms: int
    location: str = "US"
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Table:
    """A table's schema, rows (canonical cell values, see `cells`), change markers and the insertIds seen."""

    columns: list[Column]
    creation_ms: int
    last_modified_ms: int
    etag: str = field(default_factory=lambda: random_token(22))
    data: list[dict[str, Any]] = field(default_factory=list)
    details: Mapping[str, Any] = field(default_factory=dict)
    insert_ids: set[str] = field(default_factory=set)
    streams: list[tuple[int, float, float]] = field(default_factory=list)
    """Each insertAll that went through the streaming buffer: (rows, epoch seconds streamed, committed)."""

    @property
    def num_rows(self) -> int:
        """Rows in the table, those in the streaming buffer included (as tabledata.list and jobs read them)."""
        return len(self.data)

    def streaming_buffer(self, now: float) -> tuple[int, float] | None:
        """The rows still in the streaming buffer at ``now`` and when the oldest of them was streamed; None when
        every streamed row is committed."""
        pending = [(rows, streamed) for rows, streamed, committed in self.streams if committed > now]
        if not pending:
            return None
        return sum(rows for rows, _ in pending), min(streamed for _, streamed in pending)

    def touch(self) -> None:
        """Mark a change: a new etag and a later last-modified time."""
        self.etag = random_token(22)
        self.last_modified_ms = max(now_ms(), self.last_modified_ms + 1)


def now_ms() -> int:
    """The current time in epoch milliseconds."""
    return int(time.time() * 1000)


class BigQueryTables:
    """Datasets and tables by (project, dataset[, table]); every method is thread-safe."""

    def __init__(self) -> None:
        """Start empty."""
        self._lock = threading.RLock()
        self._datasets: dict[tuple[str, str], Dataset] = {}
        self._tables: dict[tuple[str, str, str], Table] = {}

    @property
    def lock(self) -> threading.RLock:
        """Held by callers that read a table's rows across several calls."""
        return self._lock

    def clear(self) -> None:
        """Forget every dataset and table."""
        with self._lock:
            self._datasets.clear()
            self._tables.clear()

    def create_dataset(
        self, project: str, dataset: str, *, location: str = "US", details: Mapping[str, Any] | None = None
    ) -> Dataset:
        """Create a dataset; KeyError if it exists."""
        with self._lock:
            if (project, dataset) in self._datasets:
                raise KeyError(f"{project}:{dataset}")
            record = Dataset(creation_ms=now_ms(), location=location, details=dict(details or {}))
            self._datasets[(project, dataset)] = record
            return record

    def has_dataset(self, project: str, dataset: str) -> bool:
        """Whether the dataset exists."""
        with self._lock:
            return (project, dataset) in self._datasets

    def get_dataset(self, project: str, dataset: str) -> Dataset | None:
        """The dataset, or None."""
        with self._lock:
            return self._datasets.get((project, dataset))

    def get(self, project: str, dataset: str, table: str) -> Table | None:
        """The table, or None."""
        with self._lock:
            return self._tables.get((project, dataset, table))

    def create(
        self,
        project: str,
        dataset: str,
        table: str,
        columns: Sequence[Column],
        *,
        details: Mapping[str, Any] | None = None,
    ) -> Table:
        """Create an empty table; KeyError if it exists, LookupError (not KeyError) without its dataset."""
        with self._lock:
            if (project, dataset) not in self._datasets:
                raise LookupError(f"Not found: Dataset {project}:{dataset}")
            if (project, dataset, table) in self._tables:
                raise KeyError(f"{project}:{dataset}.{table}")
            created = now_ms()
            record = Table(
                columns=[normalise(column) for column in columns],
                creation_ms=created,
                last_modified_ms=created,
                details=dict(details or {}),
            )
            self._tables[(project, dataset, table)] = record
            return record

    def delete(self, project: str, dataset: str, table: str) -> bool:
        """Drop a table; False if there was none."""
        with self._lock:
            return self._tables.pop((project, dataset, table), None) is not None

    def insert(self, project: str, dataset: str, table: str, rows: Iterable[Mapping[str, Any]]) -> None:
        """Append rows given as insertAll `json` objects, all or none; InvalidRows naming each row that misfits."""
        errors = self.insert_checked(project, dataset, table, list(rows), ignore_unknown=False, skip_invalid=False)
        if errors:
            raise InvalidRows(errors)

    def insert_checked(
        self,
        project: str,
        dataset: str,
        table: str,
        rows: Sequence[Any],
        *,
        ignore_unknown: bool,
        skip_invalid: bool,
        insert_ids: Sequence[str | None] = (),
        buffer_seconds: float = 0.0,
    ) -> dict[int, CellError]:
        """insertAll's semantics: the first error of each row that misfits, by index; the valid rows are appended
        only when every row fits or `skip_invalid` is set. A row whose insertId (`insert_ids[i]`) the table has
        already seen is dropped as a duplicate (BigQuery's best-effort de-duplication, without its time window).
        The rows stay ``buffer_seconds`` in the streaming buffer. LookupError when the table does not exist."""
        with self._lock:
            record = self._tables.get((project, dataset, table))
            if record is None:
                raise LookupError(f"Not found: Table {project}:{dataset}.{table}")
            parsed: list[dict[str, Any]] = []
            errors: dict[int, CellError] = {}
            fresh_ids: set[str] = set()
            for index, row in enumerate(rows):
                try:
                    value = parse_row(record.columns, row, ignore_unknown=ignore_unknown)
                except CellError as exc:
                    errors[index] = exc
                    continue
                insert_id = insert_ids[index] if index < len(insert_ids) else None
                if insert_id is None:
                    parsed.append(value)
                elif insert_id not in record.insert_ids and insert_id not in fresh_ids:
                    fresh_ids.add(insert_id)
                    parsed.append(value)
            if errors and not skip_invalid:
                return errors
            if parsed:
                record.data.extend(parsed)
                record.insert_ids.update(fresh_ids)
                if buffer_seconds:
                    streamed = time.time()
                    record.streams.append((len(parsed), streamed, streamed + buffer_seconds))
                record.touch()
            return errors

    def rows(self, project: str, dataset: str, table: str) -> Iterator[dict[str, Any]]:
        """A snapshot of the table's rows in insertion order, as `insert()` accepts them; KeyError if absent."""
        with self._lock:
            record = self._tables.get((project, dataset, table))
            if record is None:
                raise KeyError(f"{project}:{dataset}.{table}")
            columns, data = list(record.columns), list(record.data)
        for row in data:
            yield {column.name: to_api_value(column, row[column.name]) for column in columns}


def normalise(column: Column) -> Column:
    """A column with legacy type names, upper-case mode and normalised sub-fields; ValueError for a column the
    API would refuse (unknown type or mode, a RECORD without fields or a scalar with them)."""
    kind = TYPE_ALIASES.get(column.type.upper(), column.type.upper())
    mode = column.mode.upper()
    if kind not in TYPES or mode not in MODES or (kind == "RECORD") != bool(column.fields):
        raise ValueError(f"invalid BigQuery column {column.name!r}: {column.mode} {column.type} {column.fields}")
    return Column(name=column.name, type=kind, mode=mode, fields=tuple(normalise(sub) for sub in column.fields))
