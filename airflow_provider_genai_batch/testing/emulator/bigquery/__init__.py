"""A stand-in for the BigQuery REST API: datasets, tables, streaming inserts and row listing, in memory.

Modules: `tables` (the store, shared with the Vertex emulator), `cells` (values in and out), `wire` (bodies
and errors), `validation` (what is accepted) and `routes` (the endpoints; imported by the app, not here, so
that the store can hold a `BigQueryTables` without importing the routes).
"""

from __future__ import annotations

from airflow_provider_genai_batch.testing.emulator.bigquery.tables import (
    BigQueryTables,
    Column,
    InvalidRows,
    Table,
    parse_table_uri,
)

__all__ = ["BigQueryTables", "Column", "InvalidRows", "Table", "parse_table_uri"]
