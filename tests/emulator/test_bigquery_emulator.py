"""Raw-HTTP tests of the BigQuery stand-in: the REST calls it serves, their bodies and their errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from airflow_provider_genai_batch.testing.emulator import create_app
from airflow_provider_genai_batch.testing.emulator.bigquery import BigQueryTables, Column, InvalidRows, parse_table_uri
from airflow_provider_genai_batch.testing.emulator.config import EmulatorConfig
from airflow_provider_genai_batch.testing.emulator.vertex.auth import mint_token

BASE = "/bigquery/v2/projects/proj"
TABLE = f"{BASE}/datasets/ds/tables/t"
SCHEMA = [
    {"name": "key", "type": "STRING", "mode": "REQUIRED"},
    {"name": "request", "type": "JSON"},
    {"name": "n", "type": "INT64"},
    {"name": "score", "type": "FLOAT"},
    {"name": "ok", "type": "BOOL"},
    {"name": "at", "type": "TIMESTAMP"},
    {"name": "meta", "type": "STRUCT", "fields": [{"name": "a", "type": "STRING"}, {"name": "b", "type": "INTEGER"}]},
    {"name": "tags", "type": "STRING", "mode": "REPEATED"},
]
FULL_ROW = {
    "key": "k1",
    "request": '{"contents": [{"parts": [{"text": "hi"}]}]}',
    "n": 42,
    "score": 0.5,
    "ok": True,
    "at": "2026-01-02T03:04:05.123456Z",
    "meta": {"a": "x", "b": "7"},
    "tags": ["p", "q"],
}


@pytest.fixture(scope="module")
def app_client() -> Iterator[TestClient]:
    """The emulator app in-process, for the module."""
    with TestClient(create_app(EmulatorConfig())) as client:
        yield client


@pytest.fixture
def http(app_client: TestClient) -> TestClient:
    """The emulator reset to empty, with a token it minted on every request."""
    app_client.app.state.emulator.reset()  # type: ignore[attr-defined]
    app_client.headers["Authorization"] = f"Bearer {mint_token(3600)}"
    return app_client


@pytest.fixture
def table(http: TestClient) -> str:
    """Dataset `proj:ds` holding the empty table `t` with SCHEMA; returns the table's path."""
    assert http.post(f"{BASE}/datasets", json={"datasetReference": {"datasetId": "ds"}}).status_code == 200
    created = http.post(
        f"{BASE}/datasets/ds/tables", json={"tableReference": table_ref("t"), "schema": {"fields": SCHEMA}}
    )
    assert created.status_code == 200, created.text
    return TABLE


def table_ref(table_id: str) -> dict[str, str]:
    return {"projectId": "proj", "datasetId": "ds", "tableId": table_id}


def insert(http: TestClient, rows: list[dict[str, Any]], **options: Any) -> dict[str, Any]:
    response = http.post(f"{TABLE}/insertAll", json={"rows": [{"json": row} for row in rows], **options})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def error_of(response: Any) -> dict[str, Any]:
    error: dict[str, Any] = response.json()["error"]
    return error


# Auth


def test_a_request_without_a_bearer_token_is_unauthenticated(http: TestClient) -> None:
    del http.headers["Authorization"]
    response = http.get(TABLE)

    assert response.status_code == 401
    error = error_of(response)
    assert error["status"] == "UNAUTHENTICATED"
    assert error["errors"][0] == {
        "message": error["message"],
        "domain": "global",
        "reason": "required",
        "location": "Authorization",
        "locationType": "header",
    }


@pytest.mark.parametrize("token", ["not-minted-here", mint_token(-1)], ids=["foreign", "expired"])
def test_a_token_the_emulator_did_not_mint_or_that_expired_is_refused(http: TestClient, token: str) -> None:
    response = http.get(TABLE, headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 401
    assert error_of(response)["errors"][0]["reason"] == "authError"


# Datasets


def test_datasets_insert_returns_the_dataset_resource(http: TestClient) -> None:
    response = http.post(f"{BASE}/datasets", json={"datasetReference": {"projectId": "proj", "datasetId": "ds"}})

    body = response.json()
    assert response.status_code == 200
    assert body["kind"] == "bigquery#dataset"
    assert body["id"] == "proj:ds"
    assert body["datasetReference"] == {"datasetId": "ds", "projectId": "proj"}
    assert body["location"] == "US"
    assert body["creationTime"].isdigit()
    assert http.get(f"{BASE}/datasets/ds").json() == body


def test_a_second_dataset_with_the_same_id_is_a_conflict(http: TestClient, table: str) -> None:
    response = http.post(f"{BASE}/datasets", json={"datasetReference": {"datasetId": "ds"}})

    assert response.status_code == 409
    assert error_of(response)["message"] == "Already Exists: Dataset proj:ds"
    assert error_of(response)["errors"][0]["reason"] == "duplicate"


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ({"datasetId": "bad-id"}, 'Invalid dataset ID "bad-id"'),
        ({"projectId": "other", "datasetId": "ds"}, "does not match the request path"),
        ({}, "Required parameter is missing: datasetReference.datasetId"),
    ],
)
def test_a_bad_dataset_reference_is_invalid(http: TestClient, reference: dict[str, str], message: str) -> None:
    response = http.post(f"{BASE}/datasets", json={"datasetReference": reference})

    assert response.status_code == 400
    assert message in error_of(response)["message"]


def test_getting_a_missing_dataset_is_not_found(http: TestClient) -> None:
    response = http.get(f"{BASE}/datasets/nope")

    assert response.status_code == 404
    assert error_of(response)["message"] == "Not found: Dataset proj:nope"


# Tables


def test_tables_insert_returns_the_table_with_legacy_type_names(http: TestClient, table: str) -> None:
    body = http.get(table).json()

    assert body["kind"] == "bigquery#table"
    assert body["id"] == "proj:ds.t"
    assert body["type"] == "TABLE"
    assert body["tableReference"] == table_ref("t")
    assert body["selfLink"].endswith("/bigquery/v2/projects/proj/datasets/ds/tables/t")
    assert body["numRows"] == "0"
    assert body["creationTime"].isdigit() and body["lastModifiedTime"].isdigit()
    assert [(f["name"], f["type"], f["mode"]) for f in body["schema"]["fields"]] == [
        ("key", "STRING", "REQUIRED"),
        ("request", "JSON", "NULLABLE"),
        ("n", "INTEGER", "NULLABLE"),
        ("score", "FLOAT", "NULLABLE"),
        ("ok", "BOOLEAN", "NULLABLE"),
        ("at", "TIMESTAMP", "NULLABLE"),
        ("meta", "RECORD", "NULLABLE"),
        ("tags", "STRING", "REPEATED"),
    ]
    assert body["schema"]["fields"][6]["fields"][1] == {"name": "b", "type": "INTEGER", "mode": "NULLABLE"}


def test_a_table_in_a_missing_dataset_is_not_found(http: TestClient) -> None:
    response = http.post(f"{BASE}/datasets/ds/tables", json={"tableReference": table_ref("t")})

    assert response.status_code == 404
    assert error_of(response)["message"] == "Not found: Dataset proj:ds"


def test_a_second_table_with_the_same_id_is_a_conflict(http: TestClient, table: str) -> None:
    response = http.post(f"{BASE}/datasets/ds/tables", json={"tableReference": table_ref("t")})

    assert response.status_code == 409
    assert error_of(response)["message"] == "Already Exists: Table proj:ds.t"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ([{"name": "x", "type": "TEXT"}], "Invalid value for type: TEXT is not a valid value"),
        ([{"name": "r", "type": "RECORD"}], "Field r is type RECORD but has no schema"),
        ([{"name": "x", "type": "STRING"}, {"name": "X", "type": "STRING"}], "Field X already exists in schema"),
        ([{"name": "1x", "type": "STRING"}], 'Invalid field name "1x"'),
        ([{"name": "x", "type": "STRING", "mode": "OPTIONAL"}], "Invalid value for mode: OPTIONAL"),
    ],
)
def test_a_bad_schema_is_invalid(http: TestClient, table: str, fields: list[dict[str, str]], message: str) -> None:
    body = {"tableReference": table_ref("u"), "schema": {"fields": fields}}
    response = http.post(f"{BASE}/datasets/ds/tables", json=body)

    assert response.status_code == 400
    assert message in error_of(response)["message"]


def test_an_unknown_table_field_is_invalid(http: TestClient, table: str) -> None:
    response = http.post(f"{BASE}/datasets/ds/tables", json={"tableReference": table_ref("u"), "colour": "red"})

    assert response.status_code == 400
    assert error_of(response)["message"].startswith('Invalid JSON payload received. Unknown name "colour"')


def test_a_table_feature_the_stand_in_does_not_emulate_is_refused_by_name(http: TestClient, table: str) -> None:
    body = {"tableReference": table_ref("u"), "timePartitioning": {"type": "DAY"}}
    response = http.post(f"{BASE}/datasets/ds/tables", json=body)

    assert response.status_code == 400
    assert "timePartitioning" in error_of(response)["message"]


def test_getting_a_missing_table_is_not_found_in_bigquerys_envelope(http: TestClient, table: str) -> None:
    response = http.get(f"{BASE}/datasets/ds/tables/nope")

    assert response.status_code == 404
    assert response.json() == {
        "error": {
            "code": 404,
            "message": "Not found: Table proj:ds.nope",
            "errors": [{"message": "Not found: Table proj:ds.nope", "domain": "global", "reason": "notFound"}],
            "status": "NOT_FOUND",
        }
    }


def test_deleting_a_table_answers_204_and_the_table_is_gone(http: TestClient, table: str) -> None:
    deleted = http.delete(table)

    assert deleted.status_code == 204
    assert deleted.content == b""
    assert http.get(table).status_code == 404
    assert http.delete(table).status_code == 404


def test_an_unknown_query_parameter_is_invalid(http: TestClient, table: str) -> None:
    response = http.get(table, params={"colour": "red"})

    assert response.status_code == 400
    assert 'Unknown name "colour": Cannot bind query parameter' in error_of(response)["message"]


# tabledata.insertAll


def test_insert_all_appends_rows_and_changes_the_tables_version(http: TestClient, table: str) -> None:
    before = http.get(table).json()
    answer = insert(http, [FULL_ROW, {"key": "k2"}])

    after = http.get(table).json()
    assert answer == {"kind": "bigquery#tableDataInsertAllResponse"}
    assert after["numRows"] == "2"
    assert after["etag"] != before["etag"]
    assert int(after["lastModifiedTime"]) > int(before["lastModifiedTime"])


def test_a_row_that_misfits_is_invalid_and_stops_the_others(http: TestClient, table: str) -> None:
    answer = insert(http, [{"key": "k1"}, {"key": "k2", "n": "many"}])

    assert answer["insertErrors"] == [
        {"index": 0, "errors": [{"reason": "stopped", "location": "", "debugInfo": "", "message": ""}]},
        {
            "index": 1,
            "errors": [
                {
                    "reason": "invalid",
                    "location": "n",
                    "debugInfo": "",
                    "message": "Cannot convert value to integer (bad value): many",
                }
            ],
        },
    ]
    assert http.get(table).json()["numRows"] == "0"


def test_skip_invalid_rows_inserts_the_rows_that_fit(http: TestClient, table: str) -> None:
    answer = insert(http, [{"key": "k1"}, {"key": "k2", "ok": "maybe"}], skipInvalidRows=True)

    assert [error["index"] for error in answer["insertErrors"]] == [1]
    assert http.get(table).json()["numRows"] == "1"


@pytest.mark.parametrize(
    ("row", "location", "message"),
    [
        ({"key": "k", "colour": "red"}, "colour", "no such field: colour."),
        ({"n": 1}, "key", "Missing required field: key."),
        ({"key": "k", "meta": {"c": 1}}, "meta.c", "no such field: meta.c."),
        ({"key": "k", "tags": "p"}, "tags", "This field: tags is repeated, but the value is not an array."),
        ({"key": ["k"]}, "key", "Array specified for non-repeated field: key."),
        ({"key": "k", "at": "yesterday"}, "at", "Couldn't convert value to timestamp"),
        ({"key": "k", "n": 2**63}, "n", "Cannot convert value to integer"),
    ],
)
def test_insert_errors_name_the_field_and_reason(
    http: TestClient, table: str, row: dict[str, Any], location: str, message: str
) -> None:
    (error,) = insert(http, [row])["insertErrors"][0]["errors"]

    assert error["reason"] == "invalid"
    assert error["location"] == location
    assert error["message"].startswith(message)


@pytest.mark.parametrize("value", ['{"a": ', {"a": 1}], ids=["malformed-text", "object-not-text"])
def test_a_json_column_takes_only_valid_json_text(http: TestClient, table: str, value: Any) -> None:
    (error,) = insert(http, [{"key": "k", "request": value}])["insertErrors"][0]["errors"]

    assert error["reason"] == "invalid"
    assert error["location"] == "request"


def test_ignore_unknown_values_drops_unknown_fields(http: TestClient, table: str) -> None:
    answer = insert(http, [{"key": "k", "colour": "red"}], ignoreUnknownValues=True)

    assert "insertErrors" not in answer
    assert http.get(f"{table}/data").json()["rows"][0]["f"][0] == {"v": "k"}


def test_a_repeated_insert_id_is_inserted_once(http: TestClient, table: str) -> None:
    for _ in range(2):
        response = http.post(f"{table}/insertAll", json={"rows": [{"insertId": "once", "json": {"key": "k"}}]})
        assert response.status_code == 200

    assert http.get(table).json()["numRows"] == "1"


def test_insert_all_without_rows_is_invalid(http: TestClient, table: str) -> None:
    response = http.post(f"{table}/insertAll", json={"rows": []})

    assert response.status_code == 400
    assert error_of(response)["message"] == "No rows present in the request."


def test_insert_all_into_a_missing_table_is_not_found(http: TestClient, table: str) -> None:
    response = http.post(f"{BASE}/datasets/ds/tables/nope/insertAll", json={"rows": [{"json": {"key": "k"}}]})

    assert response.status_code == 404
    assert error_of(response)["message"] == "Not found: Table proj:ds.nope"


# tabledata.list


def test_list_encodes_every_value_as_the_json_api_does(http: TestClient, table: str) -> None:
    insert(http, [FULL_ROW])

    body = http.get(f"{table}/data").json()

    assert body["kind"] == "bigquery#tableDataList"
    assert body["totalRows"] == "1"
    assert body["etag"] == http.get(table).json()["etag"]
    assert "pageToken" not in body
    assert body["rows"] == [
        {
            "f": [
                {"v": "k1"},
                {"v": '{"contents":[{"parts":[{"text":"hi"}]}]}'},
                {"v": "42"},
                {"v": "0.5"},
                {"v": "true"},
                {"v": "1.767323045123456E9"},
                {"v": {"f": [{"v": "x"}, {"v": "7"}]}},
                {"v": [{"v": "p"}, {"v": "q"}]},
            ]
        }
    ]


def test_nulls_are_null_cells_and_a_missing_repeated_field_is_empty(http: TestClient, table: str) -> None:
    insert(http, [{"key": "k"}])

    cells = http.get(f"{table}/data").json()["rows"][0]["f"]

    assert cells[1:] == [{"v": None}] * 6 + [{"v": []}]


@pytest.mark.parametrize(
    ("params", "encoded"),
    [
        ({}, "1.767323045123456E9"),
        ({"formatOptions.useInt64Timestamp": "True"}, "1767323045123456"),
        ({"formatOptions.timestampOutputFormat": "ISO8601_STRING"}, "2026-01-02T03:04:05.123456Z"),
    ],
)
def test_timestamps_are_encoded_as_the_format_options_ask(
    http: TestClient, table: str, params: dict[str, str], encoded: str
) -> None:
    insert(http, [FULL_ROW])

    body = http.get(f"{table}/data", params={"selectedFields": "at", **params}).json()

    assert body["rows"] == [{"f": [{"v": encoded}]}]


def test_asking_for_two_timestamp_formats_is_invalid(http: TestClient, table: str) -> None:
    params = {"formatOptions.useInt64Timestamp": "true", "formatOptions.timestampOutputFormat": "INT64"}
    response = http.get(f"{table}/data", params=params)

    assert response.status_code == 400


@pytest.mark.parametrize(
    ("text", "micros"),
    [
        ("2026-01-02 03:04:05", 1767323045000000),
        ("2026-01-02T05:04:05.5+02:00", 1767323045500000),
        ("2026/01/02 03:04 UTC", 1767323040000000),
        (1767323045.25, 1767323045250000),
    ],
)
def test_insert_all_accepts_bigquerys_timestamp_spellings(http: TestClient, table: str, text: Any, micros: int) -> None:
    insert(http, [{"key": "k", "at": text}])

    body = http.get(f"{table}/data", params={"selectedFields": "at", "formatOptions.useInt64Timestamp": "true"})

    assert body.json()["rows"] == [{"f": [{"v": str(micros)}]}]


def test_list_pages_by_max_results_and_page_token(http: TestClient, table: str) -> None:
    insert(http, [{"key": f"k{i}"} for i in range(5)])
    keys: list[str] = []
    pages = 0
    params: dict[str, str] = {"maxResults": "2", "selectedFields": "key"}
    while True:
        body = http.get(f"{table}/data", params=params).json()
        pages += 1
        assert body["totalRows"] == "5"
        keys += [row["f"][0]["v"] for row in body["rows"]]
        if "pageToken" not in body:
            break
        params["pageToken"] = body["pageToken"]

    assert keys == [f"k{i}" for i in range(5)]
    assert pages == 3


def test_a_page_token_wins_over_start_index(http: TestClient, table: str) -> None:
    insert(http, [{"key": f"k{i}"} for i in range(5)])
    first = http.get(f"{table}/data", params={"startIndex": "1", "maxResults": "2", "selectedFields": "key"}).json()
    params = {"startIndex": "1", "maxResults": "2", "selectedFields": "key", "pageToken": first["pageToken"]}

    second = http.get(f"{table}/data", params=params).json()

    assert [row["f"][0]["v"] for row in first["rows"]] == ["k1", "k2"]
    assert [row["f"][0]["v"] for row in second["rows"]] == ["k3", "k4"]


def test_selected_fields_come_back_in_schema_order_and_select_into_records(http: TestClient, table: str) -> None:
    insert(http, [FULL_ROW])

    body = http.get(f"{table}/data", params={"selectedFields": "meta.b,key"}).json()

    assert body["rows"] == [{"f": [{"v": "k1"}, {"v": {"f": [{"v": "7"}]}}]}]


@pytest.mark.parametrize(
    "params",
    [{"selectedFields": "nope"}, {"pageToken": "forged"}, {"maxResults": "-1"}],
    ids=["unknown-field", "forged-token", "negative-max"],
)
def test_bad_list_parameters_are_invalid(http: TestClient, table: str, params: dict[str, str]) -> None:
    response = http.get(f"{table}/data", params=params)

    assert response.status_code == 400
    assert error_of(response)["errors"][0]["reason"] == "invalid"


def test_an_empty_table_lists_no_rows(http: TestClient, table: str) -> None:
    assert http.get(f"{table}/data").json() == {
        "kind": "bigquery#tableDataList",
        "etag": http.get(table).json()["etag"],
        "totalRows": "0",
    }


# The store the Vertex emulator shares


def test_rows_come_out_in_a_form_insert_takes_back() -> None:
    tables = BigQueryTables()
    tables.create_dataset("proj", "ds")
    columns = [Column("key", "STRING"), Column("request", "JSON"), Column("at", "TIMESTAMP"), Column("n", "INT64")]
    tables.create("proj", "ds", "src", columns)
    tables.create("proj", "ds", "dst", columns)
    tables.insert("proj", "ds", "src", [{"key": "k", "request": '{"a": [1]}', "at": "2026-01-02 03:04:05", "n": "3"}])

    tables.insert("proj", "ds", "dst", tables.rows("proj", "ds", "src"))

    assert list(tables.rows("proj", "ds", "dst")) == [
        {"key": "k", "request": '{"a":[1]}', "at": "2026-01-02T03:04:05.000000Z", "n": 3}
    ]


def test_store_insert_is_all_or_nothing() -> None:
    tables = BigQueryTables()
    tables.create_dataset("proj", "ds")
    tables.create("proj", "ds", "t", [Column("key", "STRING", "REQUIRED")])

    with pytest.raises(InvalidRows) as caught:
        tables.insert("proj", "ds", "t", [{"key": "ok"}, {}])

    assert list(caught.value.errors) == [1]
    assert tables.get("proj", "ds", "t").num_rows == 0  # type: ignore[union-attr]


def test_creating_an_existing_table_in_the_store_is_a_key_error() -> None:
    tables = BigQueryTables()
    tables.create_dataset("proj", "ds")
    tables.create("proj", "ds", "t", [])

    with pytest.raises(KeyError):
        tables.create("proj", "ds", "t", [])


def test_a_reset_emulator_has_no_tables(http: TestClient, table: str) -> None:
    http.app.state.emulator.reset()  # type: ignore[attr-defined]

    assert http.get(table).status_code == 404


@pytest.mark.parametrize(
    ("uri", "parts"),
    [
        ("bq://my-project.my_dataset.my_table", ("my-project", "my_dataset", "my_table")),
        ("bq://example.com:proj.ds.t", ("example.com:proj", "ds", "t")),
    ],
)
def test_a_table_uri_names_project_dataset_and_table(uri: str, parts: tuple[str, str, str]) -> None:
    assert parse_table_uri(uri) == parts


@pytest.mark.parametrize("uri", ["bq://proj.ds", "gs://b/o", "bq://proj.ds.t.x", "proj.ds.t"])
def test_anything_else_is_not_a_table_uri(uri: str) -> None:
    with pytest.raises(ValueError, match="not a BigQuery table URI"):
        parse_table_uri(uri)


def test_json_text_is_kept_compact() -> None:
    tables = BigQueryTables()
    tables.create_dataset("proj", "ds")
    tables.create("proj", "ds", "t", [Column("doc", "JSON")])
    tables.insert("proj", "ds", "t", [{"doc": json.dumps({"b": 1, "a": "é"}, indent=2)}])

    assert list(tables.rows("proj", "ds", "t")) == [{"doc": '{"b":1,"a":"é"}'}]


@pytest.mark.parametrize(("method", "path"), [("POST", f"{BASE}/queries"), ("PATCH", TABLE), ("GET", f"{BASE}/jobs")])
def test_a_method_the_stand_in_does_not_serve_is_501_naming_what_it_serves(
    http: TestClient, table: str, method: str, path: str
) -> None:
    response = http.request(method, path, json={})

    assert response.status_code == 501
    assert "tabledata.insertAll" in error_of(response)["message"]


@pytest.mark.parametrize(
    "column",
    [
        Column("x", "TEXT"),
        Column("x", "STRING", "OPTIONAL"),
        Column("r", "RECORD"),
        Column("s", "STRING", fields=(Column("a", "STRING"),)),
    ],
    ids=["type", "mode", "record-without-fields", "scalar-with-fields"],
)
def test_the_store_refuses_a_column_the_api_would(column: Column) -> None:
    tables = BigQueryTables()
    tables.create_dataset("proj", "ds")

    with pytest.raises(ValueError, match="invalid BigQuery column"):
        tables.create("proj", "ds", "t", [column])
