"""An input in the provider's own storage: read through its hook, validated as any file, used in place if it can be."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_genai_batch.errors import InputValidationError, ProviderAPIError
from airflow_provider_genai_batch.formats.dialect import ProviderLimits
from airflow_provider_genai_batch.inputs import prepare_input

from .fakes import MODEL, FakeBatchHook, FakeTI, canonical_line, make_context, submit_op
from .storage_fakes import FakeStorage, attach_storage

URI = "gs://inputs/nightly/requests.jsonl"
LINES = [json.dumps(canonical_line(key)).encode() for key in ("a", "b", "c")]
CANONICAL = b"".join(line + b"\n" for line in LINES)
COMPACT = [json.dumps(canonical_line(key), separators=(",", ":")).encode() + b"\n" for key in ("a", "b", "c")]
"""The lines as the provider receives them when they are not sent as stored: compact JSON."""


@pytest.fixture
def storage(fake_hook: FakeBatchHook, monkeypatch: pytest.MonkeyPatch) -> FakeStorage:
    return attach_storage(fake_hook, monkeypatch)


def test_a_stored_input_is_read_through_the_hook_and_used_in_place(
    fake_hook: FakeBatchHook, storage: FakeStorage, ti: FakeTI, output_uri: str
):
    storage.objects[URI] = CANONICAL

    ref = submit_op(URI, output_uri=output_uri).execute(make_context(ti))

    assert storage.opened == [URI]
    assert fake_hook.names("upload_file") == []
    assert fake_hook.created[0]["file_name"] == URI
    assert ref["request_count"] == 3
    assert (Path(output_uri) / "input_keys.jsonl").read_text() == '"a"\n"b"\n"c"\n'


def test_a_stored_input_is_validated_like_any_file_before_a_job_is_made(
    fake_hook: FakeBatchHook, storage: FakeStorage, ti: FakeTI
):
    storage.objects[URI] = LINES[0] + b"\n" + b'{"key": "b", "request": {"contents": "hi"}\n' + LINES[2] + b"\n"

    with pytest.raises(InputValidationError) as err:
        submit_op(URI).execute(make_context(ti))

    assert err.value.source == URI
    assert err.value.line == 2
    assert fake_hook.uploads == []
    assert fake_hook.created == []


def test_a_missing_stored_object_is_refused_as_a_missing_input(
    fake_hook: FakeBatchHook, storage: FakeStorage, ti: FakeTI
):
    with pytest.raises(InputValidationError, match="input file does not exist") as err:
        submit_op(URI).execute(make_context(ti))

    assert err.value.source == URI
    assert fake_hook.created == []


def test_a_stored_object_the_provider_may_not_read_is_refused_as_an_unreadable_input(
    fake_hook: FakeBatchHook, storage: FakeStorage, ti: FakeTI
):
    storage.forbidden.add(URI)

    with pytest.raises(InputValidationError, match="input file cannot be read: caller does not have") as err:
        submit_op(URI).execute(make_context(ti))

    assert err.value.source == URI
    assert fake_hook.created == []


def test_a_stored_input_with_a_byte_order_mark_is_uploaded_without_it(
    fake_hook: FakeBatchHook, storage: FakeStorage, ti: FakeTI
):
    storage.objects[URI] = b"\xef\xbb\xbf" + CANONICAL

    submit_op(URI).execute(make_context(ti))

    assert [upload["data"] for upload in fake_hook.uploads] == [CANONICAL]
    assert fake_hook.created[0]["file_name"] == fake_hook.uploads[0]["name"]


def test_a_stored_input_overwritten_between_its_validation_and_its_copy_fails_and_nothing_is_uploaded(
    fake_hook: FakeBatchHook, storage: FakeStorage, ti: FakeTI
):
    storage.objects[URI] = b"\xef\xbb\xbf" + CANONICAL  # a BOM: the object is copied to be sent without it
    storage.rewritten[URI] = CANONICAL + json.dumps(canonical_line("never validated")).encode() + b"\n"

    with pytest.raises(InputValidationError) as refused:
        submit_op(URI).execute(make_context(ti))

    assert refused.value.source == URI
    assert refused.value.reason.startswith("the input file changed after it was validated")
    assert storage.opened == [URI, URI]
    assert fake_hook.uploads == []
    assert fake_hook.created == []


def test_a_stored_input_with_lone_carriage_returns_is_uploaded_with_line_feeds(
    fake_hook: FakeBatchHook, storage: FakeStorage, ti: FakeTI
):
    storage.objects[URI] = b"\r".join(LINES) + b"\r"

    submit_op(URI).execute(make_context(ti))

    assert [upload["data"] for upload in fake_hook.uploads] == [CANONICAL]
    assert fake_hook.created[0]["file_name"] == fake_hook.uploads[0]["name"]


def test_a_gzipped_stored_input_is_uploaded_decompressed(fake_hook: FakeBatchHook, storage: FakeStorage, ti: FakeTI):
    storage.objects[URI] = gzip.compress(CANONICAL)

    submit_op(URI).execute(make_context(ti))

    uploaded = fake_hook.uploads[0]["data"]
    assert [json.loads(line) for line in uploaded.splitlines()] == [json.loads(line) for line in LINES]
    assert fake_hook.created[0]["file_name"] == fake_hook.uploads[0]["name"]


def test_a_stored_input_and_the_same_local_file_have_one_fingerprint(
    fake_hook: FakeBatchHook, storage: FakeStorage, tmp_path: Path
):
    storage.objects[URI] = CANONICAL
    local = tmp_path / "requests.jsonl"
    local.write_bytes(CANONICAL)

    stored = prepare_input(URI, fake_hook.dialect, model=MODEL, embeddings=False, storage=fake_hook)
    copied = prepare_input(str(local), fake_hook.dialect, model=MODEL, embeddings=False, storage=fake_hook)
    stored.cleanup()
    copied.cleanup()

    assert stored.fingerprint == copied.fingerprint
    assert (stored.in_place_uri, copied.in_place_uri) == (URI, None)


def test_a_stored_input_over_the_size_limit_is_cut_into_uploaded_parts_each_within_it(
    fake_hook: FakeBatchHook, storage: FakeStorage, ti: FakeTI
):
    storage.objects[URI] = CANONICAL
    fake_hook.use_dialect(limits=ProviderLimits(max_file_bytes=2 * len(COMPACT[0])))

    ref = submit_op(URI).execute(make_context(ti))

    assert storage.opened == [URI]  # read once, while validated
    assert [upload["data"] for upload in fake_hook.uploads] == [COMPACT[0] + COMPACT[1], COMPACT[2]]
    assert [created["file_name"] for created in fake_hook.created] == [upload["name"] for upload in fake_hook.uploads]
    assert URI not in [created["file_name"] for created in fake_hook.created]  # no job reads the object in place
    assert [part["request_count"] for part in ref["parts"]] == [2, 1]
    assert [part["byte_count"] for part in ref["parts"]] == [2 * len(COMPACT[0]), len(COMPACT[2])]


def test_a_stored_input_over_the_size_limit_only_as_stored_is_uploaded_compact_as_one_job(
    fake_hook: FakeBatchHook, storage: FakeStorage, ti: FakeTI
):
    # The limit counts what the provider receives: the object's lines, spooled compact, fit one job.
    storage.objects[URI] = CANONICAL
    fake_hook.use_dialect(limits=ProviderLimits(max_file_bytes=len(CANONICAL) - 1))

    ref = submit_op(URI).execute(make_context(ti))

    assert [upload["data"] for upload in fake_hook.uploads] == [b"".join(COMPACT)]
    assert [created["file_name"] for created in fake_hook.created] == [fake_hook.uploads[0]["name"]]
    assert ref["parts"] is None
    assert ref["request_count"] == 3


def test_without_storage_of_its_own_a_provider_uploads_the_file_as_before(
    fake_hook: FakeBatchHook, ti: FakeTI, input_jsonl: Path
):
    submit_op(str(input_jsonl)).execute(make_context(ti))

    assert [upload["data"] for upload in fake_hook.uploads] == [input_jsonl.read_bytes()]
    assert fake_hook.created[0]["file_name"] == fake_hook.uploads[0]["name"]


def test_a_stored_input_read_in_place_is_never_deleted_when_the_create_is_refused(
    fake_hook: FakeBatchHook, storage: FakeStorage, ti: FakeTI
):
    storage.objects[URI] = CANONICAL
    refusal = ProviderAPIError("Invalid model", http_status=400, provider="gemini")
    refusal.method = "POST"

    def refuse(spec: Any) -> Any:
        raise refusal

    fake_hook.create_batch = refuse  # type: ignore[method-assign]
    with pytest.raises(ProviderAPIError):
        submit_op(URI).execute(make_context(ti))

    assert fake_hook.names("upload_file") == []
    assert fake_hook.names("delete_file") == []
    assert storage.objects[URI] == CANONICAL
