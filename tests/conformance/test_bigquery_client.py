"""google-cloud-bigquery driven against the emulator's BigQuery stand-in: proof that it speaks BigQuery's REST.

Every call the Vertex hook and emulator rely on (datasets and tables created, read and deleted, rows streamed
in and listed, by page and by column) goes through the official client's own request building and parsing;
the assertions are on what the client parsed. Credentials are bearer tokens the emulator minted.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timezone

import httpx
import pytest
from google.api_core import exceptions
from google.auth.exceptions import RefreshError
from google.cloud import bigquery
from google.oauth2 import service_account
from google.oauth2.credentials import Credentials

from airflow_provider_genai_batch.testing.emulator import EmulatorServer
from airflow_provider_genai_batch.testing.gcp_auth import service_account_info

PROJECT = "genai-batch-test"
SCHEMA = [
    bigquery.SchemaField("key", "STRING", mode="REQUIRED"),
    bigquery.SchemaField("request", "JSON"),
    bigquery.SchemaField("tokens", "INT64"),
    bigquery.SchemaField("score", "FLOAT64"),
    bigquery.SchemaField("ok", "BOOL"),
    bigquery.SchemaField("processed_time", "TIMESTAMP"),
    bigquery.SchemaField(
        "meta", "RECORD", fields=[bigquery.SchemaField("model", "STRING"), bigquery.SchemaField("n", "INTEGER")]
    ),
    bigquery.SchemaField("tags", "STRING", mode="REPEATED"),
]
AT = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=timezone.utc)


def mint(emulator: EmulatorServer, ttl: float = 3600) -> str:
    """A bearer token from the emulator's control plane."""
    response = httpx.post(f"{emulator.base_url}/_emulator/vertex/tokens", json={"ttl": ttl}, timeout=30.0)
    response.raise_for_status()
    token: str = response.json()["token"]
    return token


def client_for(emulator: EmulatorServer, token: str) -> bigquery.Client:
    return bigquery.Client(
        project=PROJECT, credentials=Credentials(token), client_options={"api_endpoint": emulator.base_url}
    )


@pytest.fixture
def bq(emulator: EmulatorServer) -> Iterator[bigquery.Client]:
    """A BigQuery client on the emulator, with a freshly minted token."""
    client = client_for(emulator, mint(emulator))
    yield client
    client.close()


@pytest.fixture
def table(bq: bigquery.Client) -> bigquery.Table:
    """An empty table `<project>.results.t` with SCHEMA."""
    bq.create_dataset("results")
    return bq.create_table(bigquery.Table(f"{PROJECT}.results.t", schema=SCHEMA))


def row(key: str, **values: object) -> dict[str, object]:
    return {"key": key, **values}


# Datasets and tables


def test_create_dataset_returns_the_parsed_dataset(bq: bigquery.Client) -> None:
    dataset = bq.create_dataset("results")

    assert dataset.project == PROJECT
    assert dataset.dataset_id == "results"
    assert dataset.full_dataset_id == f"{PROJECT}:results"
    assert dataset.location == "US"
    assert isinstance(dataset.created, datetime)


def test_create_dataset_with_exists_ok_reads_the_existing_one(bq: bigquery.Client) -> None:
    first = bq.create_dataset("results")

    again = bq.create_dataset("results", exists_ok=True)

    assert again.created == first.created
    with pytest.raises(exceptions.Conflict, match=f"Already Exists: Dataset {PROJECT}:results"):
        bq.create_dataset("results")


def test_create_table_returns_the_schema_and_metadata_the_client_parses(table: bigquery.Table) -> None:
    assert table.full_table_id == f"{PROJECT}:results.t"
    assert table.reference == bigquery.TableReference.from_string(f"{PROJECT}.results.t")
    assert table.table_type == "TABLE"
    assert table.num_rows == 0
    assert table.etag
    assert table.created is not None and table.modified is not None
    assert [(f.name, f.field_type, f.mode) for f in table.schema] == [
        ("key", "STRING", "REQUIRED"),
        ("request", "JSON", "NULLABLE"),
        ("tokens", "INTEGER", "NULLABLE"),
        ("score", "FLOAT", "NULLABLE"),
        ("ok", "BOOLEAN", "NULLABLE"),
        ("processed_time", "TIMESTAMP", "NULLABLE"),
        ("meta", "RECORD", "NULLABLE"),
        ("tags", "STRING", "REPEATED"),
    ]
    assert [f.name for f in table.schema[6].fields] == ["model", "n"]


def test_create_table_with_exists_ok_reads_the_existing_one(bq: bigquery.Client, table: bigquery.Table) -> None:
    again = bq.create_table(bigquery.Table(f"{PROJECT}.results.t", schema=SCHEMA), exists_ok=True)

    assert again.etag == table.etag
    assert again.created == table.created


def test_a_table_in_a_missing_dataset_is_not_found(bq: bigquery.Client) -> None:
    with pytest.raises(exceptions.NotFound, match=f"Not found: Dataset {PROJECT}:nowhere"):
        bq.create_table(bigquery.Table(f"{PROJECT}.nowhere.t", schema=SCHEMA))


def test_get_table_of_a_missing_table_raises_not_found(bq: bigquery.Client, table: bigquery.Table) -> None:
    with pytest.raises(exceptions.NotFound) as caught:
        bq.get_table(f"{PROJECT}.results.nope")

    assert caught.value.message.endswith(f": Not found: Table {PROJECT}:results.nope")
    assert caught.value.errors[0]["reason"] == "notFound"


def test_delete_table_removes_it(bq: bigquery.Client, table: bigquery.Table) -> None:
    bq.delete_table(table)

    with pytest.raises(exceptions.NotFound):
        bq.get_table(table.reference)
    with pytest.raises(exceptions.NotFound):
        bq.delete_table(table.reference)
    bq.delete_table(table.reference, not_found_ok=True)


# Streaming inserts


def test_insert_rows_json_appends_rows_and_moves_the_tables_version(bq: bigquery.Client, table: bigquery.Table) -> None:
    errors = bq.insert_rows_json(table, [row("a"), row("b")])

    after = bq.get_table(table.reference)
    assert errors == []
    assert after.num_rows == 2
    assert after.etag != table.etag
    assert after.modified is not None and table.modified is not None and after.modified > table.modified


def test_streamed_rows_are_listed_at_once_but_counted_in_the_streaming_buffer_until_committed(
    bq: bigquery.Client, table: bigquery.Table, emulator: EmulatorServer
) -> None:
    emulator.config(bigquery_streaming_seconds=3600)
    bq.insert_rows_json(table, [row("a"), row("b")])

    after = bq.get_table(table.reference)
    listed = [item["key"] for item in bq.list_rows(table.reference, selected_fields=[SCHEMA[0]])]
    assert after.num_rows == 0
    assert after.streaming_buffer is not None and after.streaming_buffer.estimated_rows == 2
    assert after.streaming_buffer.oldest_entry_time is not None
    assert listed == ["a", "b"]


def test_committed_rows_leave_no_streaming_buffer(bq: bigquery.Client, table: bigquery.Table) -> None:
    bq.insert_rows_json(table, [row("a")])

    after = bq.get_table(table.reference)
    assert (after.num_rows, after.streaming_buffer) == (1, None)


def test_insert_rows_json_reports_the_rows_that_do_not_fit(bq: bigquery.Client, table: bigquery.Table) -> None:
    errors = bq.insert_rows_json(table, [row("a"), row("b", tokens="many"), {"tokens": 1}])

    assert errors == [
        {"index": 0, "errors": [{"reason": "stopped", "location": "", "debugInfo": "", "message": ""}]},
        {
            "index": 1,
            "errors": [
                {
                    "reason": "invalid",
                    "location": "tokens",
                    "debugInfo": "",
                    "message": "Cannot convert value to integer (bad value): many",
                }
            ],
        },
        {
            "index": 2,
            "errors": [
                {"reason": "invalid", "location": "key", "debugInfo": "", "message": "Missing required field: key."}
            ],
        },
    ]
    assert bq.get_table(table.reference).num_rows == 0


def test_insert_rows_json_with_skip_invalid_rows_keeps_the_good_ones(
    bq: bigquery.Client, table: bigquery.Table
) -> None:
    errors = bq.insert_rows_json(table, [row("a"), row("b", request="{not json")], skip_invalid_rows=True)

    assert [(e["index"], e["errors"][0]["reason"], e["errors"][0]["location"]) for e in errors] == [
        (1, "invalid", "request")
    ]
    assert bq.get_table(table.reference).num_rows == 1


def test_insert_rows_converts_python_values_the_stand_in_accepts(bq: bigquery.Client, table: bigquery.Table) -> None:
    errors = bq.insert_rows(table, [{"key": "a", "request": {"contents": []}, "processed_time": AT, "tokens": 3}])

    assert errors == []
    (only,) = bq.list_rows(table)
    assert only["request"] == {"contents": []}
    assert only["processed_time"] == AT


# Listing rows


def test_list_rows_parses_every_type(bq: bigquery.Client, table: bigquery.Table) -> None:
    request = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}]}
    bq.insert_rows_json(
        table,
        [
            row(
                "a",
                request=json.dumps(request),
                tokens=7,
                score=0.25,
                ok=True,
                processed_time="2026-01-02T03:04:05.123456Z",
                meta={"model": "gemini-2.5-flash", "n": "2"},
                tags=["x", "y"],
            ),
            row("b"),
        ],
    )

    rows = list(bq.list_rows(table))

    assert [dict(r) for r in rows] == [
        {
            "key": "a",
            "request": request,
            "tokens": 7,
            "score": 0.25,
            "ok": True,
            "processed_time": AT,
            "meta": {"model": "gemini-2.5-flash", "n": 2},
            "tags": ["x", "y"],
        },
        {
            "key": "b",
            "request": None,
            "tokens": None,
            "score": None,
            "ok": None,
            "processed_time": None,
            "meta": None,
            "tags": [],
        },
    ]


def test_list_rows_pages_through_selected_fields(bq: bigquery.Client, table: bigquery.Table) -> None:
    bq.insert_rows_json(table, [row(f"k{i:02d}", tokens=i) for i in range(7)])

    iterator = bq.list_rows(table, selected_fields=[bigquery.SchemaField("key", "STRING")], page_size=3)
    pages = [[dict(r) for r in page] for page in iterator.pages]

    assert iterator.total_rows == 7
    assert [len(page) for page in pages] == [3, 3, 1]
    assert [r for page in pages for r in page] == [{"key": f"k{i:02d}"} for i in range(7)]


def test_list_rows_honours_start_index_and_max_results(bq: bigquery.Client, table: bigquery.Table) -> None:
    bq.insert_rows_json(table, [row(f"k{i}") for i in range(6)])

    rows = bq.list_rows(table, start_index=2, max_results=3, page_size=2)

    assert [r["key"] for r in rows] == ["k2", "k3", "k4"]


def test_list_rows_of_a_table_reference_fetches_the_schema_first(bq: bigquery.Client, table: bigquery.Table) -> None:
    bq.insert_rows_json(table, [row("a", tokens=1)])

    (only,) = bq.list_rows(f"{PROJECT}.results.t")

    assert only["key"] == "a"
    assert only["tokens"] == 1


# Auth


def test_a_service_account_key_gets_its_tokens_from_the_emulator(emulator: EmulatorServer) -> None:
    info = service_account_info(f"{emulator.base_url}/vertex/token", project_id=PROJECT)
    credentials = service_account.Credentials.from_service_account_info(
        info, scopes=["https://www.googleapis.com/auth/cloud-platform"]
    )
    client = bigquery.Client(
        project=PROJECT, credentials=credentials, client_options={"api_endpoint": emulator.base_url}
    )

    dataset = client.create_dataset("results")

    assert dataset.dataset_id == "results"
    assert credentials.valid
    client.close()


@pytest.mark.parametrize("expired", [False, True], ids=["foreign", "expired"])
def test_a_token_the_emulator_does_not_accept_is_answered_401(emulator: EmulatorServer, expired: bool) -> None:
    """The client's authorized session meets a 401 by refreshing the token (bare tokens cannot: RefreshError)."""
    client = client_for(emulator, mint(emulator, ttl=-1) if expired else "ya29.not-minted-here")

    with pytest.raises(RefreshError):
        client.get_table(f"{PROJECT}.results.t")

    assert [entry["method"] for entry in emulator.requests() if "/bigquery/" in entry["path"]] == ["GET"]
