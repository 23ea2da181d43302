"""A table of requests as the input (``bq://``): its row count against the limits, its keys checked, read in place."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from airflow_provider_genai_batch.errors import InputValidationError
from airflow_provider_genai_batch.formats.dialect import ProviderLimits
from airflow_provider_genai_batch.inputs import prepare_input

from .fakes import MODEL, FakeBatchHook, FakeTI, make_context, submit_op
from .storage_fakes import FakeStorage, attach_storage

TABLE = "bq://project.dataset.requests"
VERSION = "etag-1/1767225600000/3"


@pytest.fixture
def storage(fake_hook: FakeBatchHook, monkeypatch: pytest.MonkeyPatch) -> FakeStorage:
    return attach_storage(fake_hook, monkeypatch)


def prepared_fingerprint(hook: FakeBatchHook, destination: str | None = None) -> str:
    prepared = prepare_input(TABLE, hook.dialect, model=MODEL, embeddings=False, storage=hook, destination=destination)
    prepared.cleanup()
    return prepared.fingerprint


def test_a_table_input_is_read_in_place_with_its_keys_written_for_the_join(
    fake_hook: FakeBatchHook, storage: FakeStorage, ti: FakeTI, output_uri: str
):
    storage.tables[TABLE] = (["a", "b", "c"], VERSION)

    ref = submit_op(TABLE, output_uri=output_uri).execute(make_context(ti))

    assert fake_hook.uploads == []
    assert fake_hook.created[0]["file_name"] == TABLE
    assert ref["request_count"] == 3
    assert (Path(output_uri) / "input_keys.jsonl").read_text() == '"a"\n"b"\n"c"\n'


def test_the_fingerprint_of_a_table_is_a_hash_of_provider_model_kind_uri_and_data_version(
    fake_hook: FakeBatchHook, storage: FakeStorage
):
    storage.tables[TABLE] = (["a", "b", "c"], VERSION)
    job = json.dumps(["gemini", MODEL, False], separators=(",", ":"))
    table = json.dumps({"table": TABLE, "version": VERSION}, separators=(",", ":"))

    assert prepared_fingerprint(fake_hook) == hashlib.sha256(f"{job}\n{table}\n".encode()).hexdigest()


def test_a_table_whose_data_changed_has_another_fingerprint(fake_hook: FakeBatchHook, storage: FakeStorage):
    storage.tables[TABLE] = (["a", "b", "c"], VERSION)
    before = prepared_fingerprint(fake_hook)
    storage.tables[TABLE] = (["a", "b", "c"], "etag-2/1767229200000/3")

    assert prepared_fingerprint(fake_hook) != before


def test_a_table_with_a_destination_has_another_fingerprint(fake_hook: FakeBatchHook, storage: FakeStorage):
    storage.tables[TABLE] = (["a", "b", "c"], VERSION)

    assert prepared_fingerprint(fake_hook, "bq://project.dataset.out") != prepared_fingerprint(fake_hook)


def test_a_table_over_the_request_limit_is_refused_before_its_keys_are_read(
    fake_hook: FakeBatchHook, storage: FakeStorage, ti: FakeTI
):
    storage.tables[TABLE] = (["a", "b", "c"], VERSION)
    fake_hook.use_dialect(limits=ProviderLimits(max_requests=2))

    with pytest.raises(InputValidationError, match="the table has 3 rows, over the 2-request limit") as err:
        submit_op(TABLE).execute(make_context(ti))

    assert err.value.source == TABLE
    assert storage.keys_read == []
    assert fake_hook.created == []


def test_a_table_under_the_minimum_request_count_is_refused(fake_hook: FakeBatchHook, storage: FakeStorage, ti: FakeTI):
    storage.tables[TABLE] = (["a", "b", "c"], VERSION)
    fake_hook.use_dialect(limits=ProviderLimits(min_requests=25))

    with pytest.raises(InputValidationError, match="the table has 3 rows, fewer than the 25"):
        submit_op(TABLE).execute(make_context(ti))

    assert fake_hook.created == []


def test_an_empty_table_is_refused(fake_hook: FakeBatchHook, storage: FakeStorage, ti: FakeTI):
    storage.tables[TABLE] = ([], VERSION)

    with pytest.raises(InputValidationError, match="the table has 0 rows, fewer than the 1"):
        submit_op(TABLE).execute(make_context(ti))

    assert fake_hook.created == []


def test_a_duplicate_key_in_a_table_is_refused_naming_both_rows(
    fake_hook: FakeBatchHook, storage: FakeStorage, ti: FakeTI
):
    storage.tables[TABLE] = (["a", "b", "c", "b"], VERSION)

    with pytest.raises(InputValidationError) as err:
        submit_op(TABLE).execute(make_context(ti))

    assert str(err.value) == f"{TABLE}: row 4: duplicate key 'b' (first used on row 2)"
    assert fake_hook.created == []


@pytest.mark.parametrize("key", ["", None])
def test_an_empty_key_in_a_table_is_refused_naming_its_row(
    fake_hook: FakeBatchHook, storage: FakeStorage, ti: FakeTI, key: str | None
):
    storage.tables[TABLE] = (["a", key, "c"], VERSION)

    with pytest.raises(InputValidationError, match="row 2: 'key' must be a non-empty string") as err:
        submit_op(TABLE).execute(make_context(ti))

    assert err.value.source == TABLE
    assert fake_hook.created == []


def test_a_table_that_lists_other_rows_than_it_counts_is_refused(
    fake_hook: FakeBatchHook, storage: FakeStorage, ti: FakeTI
):
    storage.tables[TABLE] = (["a", "b", "c"], VERSION)
    storage.table_rows[TABLE] = 4

    with pytest.raises(InputValidationError, match="listed 3 keys but has 4 rows: it changed while it was read"):
        submit_op(TABLE).execute(make_context(ti))

    assert fake_hook.created == []


def test_a_table_input_is_refused_where_the_provider_reads_no_tables(fake_hook: FakeBatchHook, ti: FakeTI):
    with pytest.raises(InputValidationError, match="gemini batch jobs cannot read tables") as err:
        submit_op(TABLE).execute(make_context(ti))

    assert err.value.source == TABLE
    assert fake_hook.created == []


def test_a_missing_table_is_refused_as_a_missing_input(fake_hook: FakeBatchHook, storage: FakeStorage, ti: FakeTI):
    with pytest.raises(InputValidationError, match="input table does not exist"):
        submit_op(TABLE).execute(make_context(ti))

    assert fake_hook.created == []
