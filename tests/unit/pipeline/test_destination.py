"""Where a job writes its output (``destination``): checked before anything is read, kept in spec, ref, fingerprint."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from airflow_provider_genai_batch.errors import GenAIBatchError, InputValidationError
from airflow_provider_genai_batch.inputs import prepare_input
from airflow_provider_genai_batch.job_ref import BatchJobRef
from airflow_provider_genai_batch.operators.submit import GenAIBatchSubmitOperator

from .fakes import MODEL, DictStateStore, FakeBatchHook, FakeTI, canonical_line, make_context, submit_op
from .storage_fakes import FakeStorage, attach_storage

DESTINATION = "gs://results-bucket/nightly/"


@pytest.fixture
def storage(fake_hook: FakeBatchHook, monkeypatch: pytest.MonkeyPatch) -> FakeStorage:
    return attach_storage(fake_hook, monkeypatch)


def test_a_destination_is_refused_before_anything_is_read_where_the_provider_takes_none(
    fake_hook: FakeBatchHook, ti: FakeTI, tmp_path: Path
):
    unread = tmp_path / "does-not-exist.jsonl"  # a read would fail on this first

    with pytest.raises(GenAIBatchError, match="writes a job's output where its service or connection says") as err:
        submit_op(str(unread), destination=DESTINATION).execute(make_context(ti))

    assert DESTINATION in str(err.value)
    assert fake_hook.uploads == []
    assert fake_hook.created == []
    assert ti.pushes == []


def test_a_destination_in_a_scheme_the_provider_does_not_write_is_refused_naming_the_ones_it_does(
    fake_hook: FakeBatchHook, storage: FakeStorage, ti: FakeTI, tmp_path: Path
):
    with pytest.raises(GenAIBatchError) as err:
        submit_op(str(tmp_path / "unread.jsonl"), destination="s3://bucket/out/").execute(make_context(ti))

    assert str(err.value) == (
        "gemini writes a job's output only to bq://..., gs://...; got destination 's3://bucket/out/'"
    )
    assert fake_hook.created == []


def test_the_destination_goes_into_the_spec_and_the_job_ref(
    fake_hook: FakeBatchHook, storage: FakeStorage, ti: FakeTI, input_jsonl: Path
):
    ref = submit_op(str(input_jsonl), destination=DESTINATION).execute(make_context(ti))

    assert fake_hook.created[0]["spec"].destination == DESTINATION
    assert ref["destination"] == DESTINATION
    assert BatchJobRef.parse(ref).destination == DESTINATION


def test_without_a_destination_the_spec_and_ref_carry_none(
    fake_hook: FakeBatchHook, storage: FakeStorage, ti: FakeTI, input_jsonl: Path
):
    ref = submit_op(str(input_jsonl)).execute(make_context(ti))

    assert fake_hook.created[0]["spec"].destination is None
    assert ref["destination"] is None


def test_a_destination_rendered_empty_is_no_destination(fake_hook: FakeBatchHook, ti: FakeTI, input_jsonl: Path):
    ref = submit_op(str(input_jsonl), destination="  ").execute(make_context(ti))

    assert fake_hook.created[0]["spec"].destination is None
    assert ref["destination"] is None


def test_a_changed_destination_changes_the_input_fingerprint(fake_hook: FakeBatchHook, input_jsonl: Path):
    def fingerprint(destination: str | None) -> str:
        prepared = prepare_input(
            str(input_jsonl), fake_hook.dialect, model=MODEL, embeddings=False, destination=destination
        )
        prepared.cleanup()
        return prepared.fingerprint

    fingerprints = {
        fingerprint(None),
        fingerprint("gs://a/out/"),
        fingerprint("gs://b/out/"),
        fingerprint("bq://p.d.t"),
    }

    assert len(fingerprints) == 4
    assert fingerprint("gs://a/out/") == fingerprint("gs://a/out/")


def test_without_a_destination_the_fingerprint_is_the_one_earlier_versions_computed(
    fake_hook: FakeBatchHook, input_jsonl: Path
):
    lines = [json.dumps(canonical_line(key), separators=(",", ":")).encode() + b"\n" for key in "abc"]
    earlier = hashlib.sha256(b'["gemini","' + MODEL.encode() + b'",false]\n' + b"".join(lines)).hexdigest()

    prepared = prepare_input(str(input_jsonl), fake_hook.dialect, model=MODEL, embeddings=False)
    prepared.cleanup()

    assert prepared.fingerprint == earlier


def test_an_edited_destination_submits_a_new_job_instead_of_reattaching(
    fake_hook: FakeBatchHook, storage: FakeStorage, input_jsonl: Path
):
    store = DictStateStore()
    first = submit_op(str(input_jsonl), destination="gs://a/out/").execute(make_context(FakeTI(), store=store))

    second = submit_op(str(input_jsonl), destination="gs://b/out/").execute(
        make_context(FakeTI(try_number=2), store=store)
    )

    assert len(fake_hook.created) == 2
    assert second["job_name"] != first["job_name"]
    assert second["input_fingerprint"] != first["input_fingerprint"]


def test_a_job_ref_written_before_destinations_existed_still_parses():
    earlier = {
        "provider": "gemini",
        "conn_id": "genai_gemini_default",
        "job_name": "batches/abc",
        "idempotency_key": "gbk-0123456789abcdef0123",
        "input_fingerprint": "f" * 64,
        "request_count": 3,
        "keys_uri": "/tmp/out/input_keys.jsonl",
        "output_uri": "/tmp/out",
        "embeddings": False,
    }

    ref = BatchJobRef.parse(json.dumps(earlier))

    assert ref.destination is None
    assert ref.job_name == "batches/abc"


def test_destination_and_land_table_results_are_templated():
    assert {"destination", "land_table_results"} <= set(GenAIBatchSubmitOperator.template_fields)


def test_an_input_split_into_several_jobs_is_refused_before_upload_when_they_would_write_to_one_table(
    fake_hook: FakeBatchHook, storage: FakeStorage, ti: FakeTI, input_jsonl: Path
):
    operator = submit_op(str(input_jsonl), destination="bq://project.dataset.predictions", max_requests_per_job=2)

    with pytest.raises(InputValidationError, match="the input goes as 2 jobs, but the destination") as err:
        operator.execute(make_context(ti))

    assert "bq://project.dataset.predictions is one table" in str(err.value)
    assert fake_hook.uploads == []
    assert fake_hook.created == []


def test_follow_up_rounds_are_refused_before_the_input_is_read_when_they_would_write_to_the_same_table(
    fake_hook: FakeBatchHook, storage: FakeStorage, ti: FakeTI, tmp_path: Path
):
    operator = submit_op(
        str(tmp_path / "unread.jsonl"),
        destination="bq://project.dataset.predictions",
        retry_failed_rows=1,
        wait_for_completion=True,
        output_uri=str(tmp_path / "out"),
    )

    with pytest.raises(InputValidationError, match="retry_failed_rows sends failed rows again as more jobs"):
        operator.execute(make_context(ti))

    assert fake_hook.created == []


def test_an_input_split_into_several_jobs_may_write_under_one_storage_destination(
    fake_hook: FakeBatchHook, storage: FakeStorage, ti: FakeTI, input_jsonl: Path
):
    ref = submit_op(str(input_jsonl), destination=DESTINATION, max_requests_per_job=2).execute(make_context(ti))

    assert [created["spec"].destination for created in fake_hook.created] == [DESTINATION, DESTINATION]
    assert len(BatchJobRef.parse(ref).job_names()) == 2
