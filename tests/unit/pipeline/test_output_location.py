"""An output_uri that cannot hold the results directory is refused by the submit before anything is uploaded or
paid for, naming it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from airflow_provider_genai_batch.errors import GenAIBatchError

from .fakes import FakeBatchHook, FakeTI, canonical_line, make_context, submit_op, write_jsonl


def test_a_submit_whose_output_uri_is_a_file_fails_naming_it_before_anything_is_uploaded(
    tmp_path: Path, fake_hook: FakeBatchHook, ti: FakeTI, input_jsonl: Path
):
    (tmp_path / "results").write_text("an earlier export")

    with pytest.raises(GenAIBatchError, match=f"output_uri '{tmp_path}/results' names the file"):
        submit_op(str(input_jsonl), output_uri=str(tmp_path / "results")).execute(make_context(ti))

    assert fake_hook.uploads == [] and fake_hook.created == []
    assert (tmp_path / "results").read_text() == "an earlier export"


@pytest.mark.parametrize(
    "name", ["input_keys.jsonl", "results.jsonl", "manifest.json", "unmatched.jsonl", "input_keys.round-1.jsonl"]
)
def test_an_input_named_as_a_file_the_task_writes_in_its_output_uri_is_refused_and_left_as_it_is(
    tmp_path: Path, fake_hook: FakeBatchHook, ti: FakeTI, name: str
):
    source = write_jsonl(tmp_path / name, [canonical_line(key) for key in "abc"])
    written = source.read_bytes()

    with pytest.raises(GenAIBatchError, match=re.escape(f"input '{source}' is the file {name} this task writes")):
        submit_op(str(source), output_uri=str(tmp_path)).execute(make_context(ti))

    assert fake_hook.uploads == [] and fake_hook.created == []
    assert source.read_bytes() == written
    assert sorted(path.name for path in tmp_path.iterdir()) == [name]


def test_an_input_reached_through_another_spelling_of_the_output_directory_is_refused(
    tmp_path: Path, fake_hook: FakeBatchHook, ti: FakeTI
):
    (tmp_path / "out").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "out")
    source = write_jsonl(tmp_path / "out" / "results.jsonl", [canonical_line("a")])

    with pytest.raises(GenAIBatchError, match=re.escape("is the file results.jsonl this task writes")):
        submit_op(f"file://{source}", output_uri=str(tmp_path / "link")).execute(make_context(ti))

    assert fake_hook.uploads == []


def test_an_input_in_the_output_directory_under_a_name_of_its_own_is_submitted(
    tmp_path: Path, fake_hook: FakeBatchHook, ti: FakeTI
):
    source = write_jsonl(tmp_path / "requests.jsonl", [canonical_line("a")])

    submit_op(str(source), output_uri=str(tmp_path)).execute(make_context(ti))

    assert len(fake_hook.created) == 1
    assert (tmp_path / "requests.jsonl").exists()


@pytest.mark.parametrize(
    ("source", "output_uri"),
    [
        ("s3a://bucket/run-1/results.jsonl", "s3://bucket/run-1"),
        ("s3://bucket/results.jsonl", "s3://aws_default@bucket/"),
        ("gcs://bucket/run-1/manifest.json", "gs://bucket/run-1/"),
    ],
)
def test_an_input_object_named_as_a_file_the_task_writes_is_refused_however_the_bucket_is_spelled(
    fake_hook: FakeBatchHook, ti: FakeTI, source: str, output_uri: str
):
    with pytest.raises(GenAIBatchError, match=re.escape(f"input {source!r} is the file")):
        submit_op(source, output_uri=output_uri).execute(make_context(ti))

    assert fake_hook.uploads == [] and fake_hook.created == []
